/* test_mlm.c — the masked-LM head (core/mlm.c): the golden PyTorch fixture of
 * tests/fixtures/mlm (logits, loss, every gradient), finite differences of the head and of
 * the whole model through it, the loss at initialisation against ln(V), the masking rules,
 * loading the head from Hugging Face and Google TF checkpoints, and a pretraining step. */
#include "checkpoint.h"
#include "io.h"
#include "mlm.h"
#include "tensor.h"
#include "tfckpt.h"
#include "tokenizer.h"
#include "train.h"
#include "trainer.h"
#include "zl_test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX "tests/fixtures/mlm/tiny_mlm"
enum { B = 3, S = 24, P = 5, V = 100, H = 32 };

static void *read_bin(const char *rel, size_t bytes)
{
    char path[512];
    snprintf(path, sizeof path, FIX "/%s", rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = malloc(bytes);
    size_t got = buf ? fread(buf, 1, bytes, f) : 0;
    fclose(f);
    if (got != bytes) {
        free(buf);
        return NULL;
    }
    return buf;
}

static double max_abs_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* the fixture's gradient rule: |got - want| <= 1e-3 |want| + 1e-5 elementwise */
static int grads_ok(const float *got, const float *want, int64_t n, const char *name)
{
    for (int64_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= 1e-3 * fabs((double)want[i]) + 1e-5)) {
            fprintf(stderr, "gradient %s[%lld] = %.9g, expected %.9g\n", name, (long long)i,
                    (double)got[i], (double)want[i]);
            return 0;
        }
    return 1;
}

static void test_golden(void)
{
    zl_bert *m = zl_bert_load_mlm(FIX);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(m->config.mlm_head == 1 && m->fresh_mlm_head == 0);
    CHECK(m->config.gelu == ZL_GELU_ERF);
    int32_t *ids = read_bin("inputs/input_ids.i32.bin", B * S * 4);
    int32_t *types = read_bin("inputs/token_type_ids.i32.bin", B * S * 4);
    int32_t *mask = read_bin("inputs/input_mask.i32.bin", B * S * 4);
    int32_t *pos = read_bin("inputs/masked_lm_positions.i32.bin", B * P * 4);
    int32_t *lab = read_bin("inputs/masked_lm_ids.i32.bin", B * P * 4);
    float *w = read_bin("inputs/masked_lm_weights.f32.bin", B * P * 4);
    float *want_logits = read_bin("cases/mlm/mlm_logits.f32.bin", B * P * V * 4);
    float *want_seq = read_bin("cases/mlm/sequence_output.f32.bin", B * S * H * 4);
    float *want_tr = read_bin("cases/mlm/mlm_transform.f32.bin", B * P * H * 4);
    float *want_pel = read_bin("cases/mlm/per_example_loss.f32.bin", B * P * 4);
    float *want_loss = read_bin("cases/mlm/loss.f32.bin", 4);
    CHECK(ids && types && mask && pos && lab && w && want_logits && want_seq && want_tr &&
          want_pel && want_loss);
    if (!(ids && types && mask && pos && lab && w && want_logits && want_seq && want_tr &&
          want_pel && want_loss))
        goto out;
    zl_bert_inputs in = {B, S, ids, types, mask, NULL, NULL};
    zl_bert_acts a;
    zl_bert_backward_ws bws;
    zl_mlm_ws ws;
    zl_bert_params g;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, ZL_BERT_ACTS_BACKWARD) == 0);
    CHECK(zl_bert_backward_ws_alloc(&bws, &m->config, B, S) == 0);
    CHECK(zl_mlm_ws_alloc(&ws, &m->config, B * P) == 0);
    CHECK(zl_bert_params_alloc(&g, &m->config) == 0);
    zl_mlm_batch mb = {P, pos, lab, w};
    double loss = 0;
    CHECK(zl_mlm_loss_and_grads(m, &a, &bws, &ws, &in, NULL, &mb, &g, &loss) == 0);
    CHECK(max_abs_diff(a.hidden + (size_t)2 * B * S * H, want_seq, B * S * H) <= 1e-4);
    CHECK(max_abs_diff(ws.h, want_tr, B * P * H) <= 1e-4);
    CHECK(max_abs_diff(ws.logits, want_logits, B * P * V) <= 1e-4);
    CHECK_NEAR(loss, want_loss[0], 1e-4);
    CHECK_NEAR(loss, 4.725474417, 1e-4);
    float pel[B * P];
    double l2;
    CHECK(zl_mlm_loss(&l2, pel, NULL, ws.logits, lab, w, B * P, V) == 0);
    CHECK(max_abs_diff(pel, want_pel, B * P) <= 1e-4);
    /* every parameter's gradient, from grads.safetensors (the tied table: both parts) */
    zl_tensor_map *gm = zl_safetensors_load(FIX "/cases/mlm/grads.safetensors");
    CHECK(gm != NULL);
    int n = zl_bert_param_count(&m->config), matched = 0;
    CHECK(n == 42);
    for (int i = 0; gm && i < n; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&m->config, &g, i, &info);
        const zl_named_tensor *e = zl_tensor_map_find(gm, info.name);
        CHECK(e != NULL && e->tensor && e->tensor->numel == info.numel);
        if (!e || !e->tensor) continue;
        int ok = grads_ok(info.data, ZL_F32P(e->tensor), info.numel, info.name);
        CHECK(ok);
        matched += ok;
    }
    CHECK(matched == 42);
    zl_tensor_map_free(gm);
    /* the fixture's own mistake list: a head without the output bias moves the logits */
    float keep = m->params.mlm_bias[7];
    m->params.mlm_bias[7] += 0.01f;
    CHECK(zl_mlm_forward(m, &ws, a.hidden + (size_t)2 * B * S * H, B, S, &mb) == 0);
    CHECK(max_abs_diff(ws.logits, want_logits, B * P * V) > 1e-3);
    m->params.mlm_bias[7] = keep;
    /* bad slots are refused by name */
    int32_t badpos[B * P];
    memcpy(badpos, pos, sizeof badpos);
    badpos[3] = S;
    zl_mlm_batch bad = {P, badpos, lab, w};
    CHECK(zl_mlm_forward(m, &ws, a.hidden, B, S, &bad) == -1 &&
          strstr(zl_error_get(), "row 0, slot 3: position 24"));
    int32_t badlab[B * P];
    memcpy(badlab, lab, sizeof badlab);
    badlab[2] = V;
    CHECK(zl_mlm_loss(&l2, NULL, NULL, ws.logits, badlab, w, B * P, V) == -1 &&
          strstr(zl_error_get(), "label 100 outside"));
    zl_bert_params_free(&g);
    zl_mlm_ws_free(&ws);
    zl_bert_backward_ws_free(&bws);
    zl_bert_acts_free(&a);
out:
    free(ids); free(types); free(mask); free(pos); free(lab); free(w);
    free(want_logits); free(want_seq); free(want_tr); free(want_pel); free(want_loss);
    zl_bert_free(m);
}

/* A small random model with a fresh head, its inputs and one masked batch. */
static zl_bert *small_model(double std)
{
    zl_bert_config c;
    zl_bert_config_default(&c);
    c.vocab_size = 50; c.hidden_size = 16; c.num_hidden_layers = 2; c.num_attention_heads = 2;
    c.intermediate_size = 24; c.max_position_embeddings = 16; c.mlm_head = 1;
    c.initializer_range = (float)std;
    c.embedding_size = c.hidden_size;
    zl_bert *m = zl_bert_new(&c);
    if (m) zl_bert_init_random(m, 11);
    return m;
}

static double loss_of(zl_bert *m, const zl_bert_inputs *in, const zl_mlm_batch *mb)
{
    zl_bert_acts a;
    if (zl_bert_acts_alloc(&a, &m->config, in->B, in->S, ZL_BERT_ACTS_BACKWARD) != 0) return NAN;
    zl_mlm_ws ws;
    zl_mlm_ws_alloc(&ws, &m->config, in->B * mb->P);
    double l = NAN;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    if (zl_bert_forward(m, &a, in, &o) == 0 &&
        zl_mlm_forward(m, &ws, a.hidden + (size_t)m->config.num_hidden_layers * in->B * in->S *
                                                  m->config.hidden_size, in->B, in->S, mb) == 0)
        zl_mlm_loss(&l, NULL, NULL, ws.logits, mb->labels, mb->weights, in->B * mb->P,
                    m->config.vocab_size);
    zl_mlm_ws_free(&ws);
    zl_bert_acts_free(&a);
    return l;
}

/* central differences on a few entries of every tensor (head, tied table, encoder) */
static void test_gradcheck(void)
{
    zl_bert *m = small_model(0.3);
    CHECK(m != NULL);
    if (!m) return;
    /* the fresh head is zero-bias, LN 1/0: give it values so each term matters */
    for (int i = 0; i < 16; i++) m->params.mlm_b[i] = 0.1f * (float)((i % 5) - 2),
                                 m->params.mlm_ln_w[i] = 1.0f + 0.05f * (float)(i % 3),
                                 m->params.mlm_ln_b[i] = 0.02f * (float)(i % 4);
    for (int i = 0; i < 50; i++) m->params.mlm_bias[i] = 0.03f * (float)((i * 7) % 11 - 5);
    enum { b2 = 2, s2 = 10, p2 = 3 };
    int32_t ids[b2 * s2], mask[b2 * s2], types[b2 * s2];
    for (int i = 0; i < b2 * s2; i++) ids[i] = 5 + (i * 13) % 45, mask[i] = 1, types[i] = i % s2 >= 5;
    mask[s2 * 2 - 1] = mask[s2 * 2 - 2] = 0;
    int32_t pos[b2 * p2] = {1, 4, 7, 2, 3, 0}, lab[b2 * p2] = {9, 14, 40, 3, 22, 0};
    float w[b2 * p2] = {1, 1, 1, 1, 1, 0};
    zl_bert_inputs in = {b2, s2, ids, types, mask, NULL, NULL};
    zl_mlm_batch mb = {p2, pos, lab, w};
    zl_bert_acts a;
    zl_bert_backward_ws bws;
    zl_mlm_ws ws;
    zl_bert_params g;
    zl_bert_acts_alloc(&a, &m->config, b2, s2, ZL_BERT_ACTS_BACKWARD);
    zl_bert_backward_ws_alloc(&bws, &m->config, b2, s2);
    zl_mlm_ws_alloc(&ws, &m->config, b2 * p2);
    zl_bert_params_alloc(&g, &m->config);
    double loss;
    CHECK(zl_mlm_loss_and_grads(m, &a, &bws, &ws, &in, NULL, &mb, &g, &loss) == 0);
    int n = zl_bert_param_count(&m->config), checked = 0, bad = 0;
    for (int i = 0; i < n; i++) {
        zl_bert_param_info pi, gi;
        zl_bert_param_info_at(&m->config, &m->params, i, &pi);
        zl_bert_param_info_at(&m->config, &g, i, &gi);
        for (int k = 0; k < 3; k++) {
            int64_t j = (int64_t)((k * 7919 + i * 31) % pi.numel);
            if (i == 0 && k == 0) j = 2 * 16 + 3; /* a word row absent from ids: decoder part only */
            float keep = pi.data[j];
            double eps = 1e-2;
            pi.data[j] = keep + (float)eps;
            double lp = loss_of(m, &in, &mb);
            pi.data[j] = keep - (float)eps;
            double lm = loss_of(m, &in, &mb);
            pi.data[j] = keep;
            double fd = (lp - lm) / (2 * eps);
            double an = gi.data[j];
            checked++;
            if (!(fabs(fd - an) <= 2e-2 * fabs(an) + 2e-4)) {
                bad++;
                fprintf(stderr, "gradcheck %s[%lld]: analytic %.6g, finite difference %.6g\n",
                        pi.name, (long long)j, an, fd);
            }
        }
    }
    CHECK(checked == 3 * n && bad == 0);
    zl_bert_params_free(&g);
    zl_mlm_ws_free(&ws);
    zl_bert_backward_ws_free(&bws);
    zl_bert_acts_free(&a);
    zl_bert_free(m);
}

/* BERT's initialisation (std 0.02): the loss is close to ln(V) */
static void test_init_loss(void)
{
    zl_bert *m = small_model(0.02);
    CHECK(m != NULL);
    if (!m) return;
    enum { b2 = 4, s2 = 12, p2 = 4 };
    int32_t ids[b2 * s2], pos[b2 * p2], lab[b2 * p2];
    float w[b2 * p2];
    for (int i = 0; i < b2 * s2; i++) ids[i] = 5 + (i * 17) % 45;
    for (int i = 0; i < b2 * p2; i++) pos[i] = 1 + (i * 3) % 10, lab[i] = (i * 11) % 50, w[i] = 1;
    zl_bert_inputs in = {b2, s2, ids, NULL, NULL, NULL, NULL};
    zl_mlm_batch mb = {p2, pos, lab, w};
    double l = loss_of(m, &in, &mb);
    CHECK(fabs(l - log(50.0)) < 0.05);
    zl_bert_free(m);
}

static void test_mask(void)
{
    zl_mlm_mask_opts o = {0.15f, 20, 0, 4, 100};
    /* proportions over many rows: 15% chosen, of those 80/10/10 */
    int64_t chosen = 0, masked = 0, kept = 0, randomised = 0, candidates = 0;
    for (int r = 0; r < 400; r++) {
        int32_t ids[100], orig[100], pos[20], lab[20];
        float w[20];
        int len = 100;
        for (int i = 0; i < len; i++) orig[i] = ids[i] = 5 + (i * 7 + r) % 95;
        orig[0] = ids[0] = 2;
        orig[len - 1] = ids[len - 1] = 3;
        int n = zl_mlm_mask(ids, len, NULL, &o, (uint64_t)r, pos, lab, w);
        CHECK(n == 15); /* round(100 * 0.15) */
        for (int k = 0; k < n; k++) {
            CHECK(pos[k] >= 1 && pos[k] <= len - 2 && lab[k] == orig[pos[k]] && w[k] == 1.0f);
            if (k) CHECK(pos[k] > pos[k - 1]);
            if (ids[pos[k]] == 4) masked++;
            else if (ids[pos[k]] == orig[pos[k]]) kept++;
            else randomised++;
        }
        CHECK(w[n] == 0.0f && pos[n] == 0 && lab[n] == 0);
        chosen += n;
        candidates += len - 2;
        int changed = 0;
        for (int i = 0; i < len; i++) changed += ids[i] != orig[i];
        CHECK(changed <= n && ids[0] == 2 && ids[len - 1] == 3);
    }
    CHECK(fabs((double)masked / chosen - 0.8) < 0.03);
    CHECK(fabs((double)kept / chosen - 0.1) < 0.025); /* a random draw may equal the original */
    CHECK(fabs((double)randomised / chosen - 0.1) < 0.025);
    /* the same seed masks the same way */
    int32_t a1[30], a2[30], p1[20], p2[20], l1[20], l2[20];
    float w1[20], w2[20];
    for (int i = 0; i < 30; i++) a1[i] = a2[i] = 10 + i;
    zl_mlm_mask(a1, 30, NULL, &o, 99, p1, l1, w1);
    zl_mlm_mask(a2, 30, NULL, &o, 99, p2, l2, w2);
    CHECK(memcmp(a1, a2, sizeof a1) == 0 && memcmp(p1, p2, sizeof p1) == 0);
    /* whole words: a chosen word is masked with all its pieces */
    unsigned char ws[39];
    for (int i = 0; i < 39; i++) ws[i] = i % 3 == 0; /* 13 words of 3 pieces */
    o.whole_word = 1;
    o.prob = 0.3f; /* round(41 * 0.3) = 12 = 4 whole words */
    for (int r = 0; r < 50; r++) {
        int32_t ids[41], pos[20], lab[20];
        float w[20];
        for (int i = 0; i < 41; i++) ids[i] = 10 + i;
        int n = zl_mlm_mask(ids, 41, ws, &o, (uint64_t)r, pos, lab, w);
        CHECK(n == 12);
        for (int k = 0; k < n; k += 3)
            CHECK((pos[k] - 1) % 3 == 0 && pos[k + 1] == pos[k] + 1 && pos[k + 2] == pos[k] + 2);
    }
    /* at least one prediction in a short row; none in [CLS] [SEP] */
    int32_t tiny[3] = {2, 50, 3}, tp[20], tl[20];
    float tw[20];
    o.whole_word = 0;
    CHECK(zl_mlm_mask(tiny, 3, NULL, &o, 1, tp, tl, tw) == 1 && tp[0] == 1 && tl[0] == 50);
    int32_t two[2] = {2, 3};
    CHECK(zl_mlm_mask(two, 2, NULL, &o, 1, tp, tl, tw) == 0);
}

static const char *tmpdir(void)
{
    static char d[256];
    if (!d[0]) {
        snprintf(d, sizeof d, "/tmp/zl_test_mlm_%d", (int)getpid());
        mkdir(d, 0777);
    }
    return d;
}

/* The head from a Hugging Face safetensors file and a Google TF checkpoint of the same
 * synthetic model; a QA fine-tuning load ignores it; a partial head is refused. */
static void test_load_formats(void)
{
    zl_bert *m = zl_bert_load_mlm(FIX);
    CHECK(m != NULL);
    if (!m) return;
    char path[512];
    /* TF: the names of Google's run_pretraining.py checkpoints */
    zl_tensor_map *tf = zl_checkpoint_to_map(m, 1);
    CHECK(tf && zl_tensor_map_find(tf, "cls/predictions/output_bias") &&
          zl_tensor_map_find(tf, "cls/predictions/transform/dense/kernel") &&
          zl_tensor_map_find(tf, "cls/predictions/transform/LayerNorm/gamma") &&
          zl_tensor_map_find(tf, "cls/predictions/transform/LayerNorm/beta") &&
          zl_tensor_map_find(tf, "cls/predictions/transform/dense/bias"));
    snprintf(path, sizeof path, "%s/tf", tmpdir());
    mkdir(path, 0777);
    char prefix[600], cfg[600], src[600];
    snprintf(prefix, sizeof prefix, "%s/bert_model.ckpt", path);
    CHECK(zl_tfckpt_save(prefix, tf) == 0);
    snprintf(cfg, sizeof cfg, "%s/bert_config.json", path);
    snprintf(src, sizeof src, FIX "/bert_config.json");
    char *json = NULL;
    size_t jl = 0;
    CHECK(zl_io_read_file(src, 1 << 20, &json, &jl) == 0);
    CHECK(zl_io_write_atomic(cfg, json, jl) == 0);
    free(json);
    zl_bert *t = zl_bert_load_mlm(path);
    CHECK(t != NULL && !t->fresh_mlm_head);
    if (t) {
        CHECK(memcmp(t->params.mlm_w, m->params.mlm_w, (size_t)H * H * 4) == 0);
        CHECK(memcmp(t->params.mlm_bias, m->params.mlm_bias, (size_t)V * 4) == 0);
        CHECK(memcmp(t->params.mlm_ln_w, m->params.mlm_ln_w, (size_t)H * 4) == 0);
        CHECK(t->config.gelu == ZL_GELU_TANH); /* Google's modeling.py, as for the encoder */
    }
    zl_bert_free(t);
    /* fine-tuning from it: the head ignored, a fresh QA head as run_squad.py */
    zl_bert *q = zl_bert_load(path);
    CHECK(q != NULL && q->fresh_qa_head && !q->config.mlm_head && q->params.mlm_w == NULL);
    if (q) {
        double s = 0, s2 = 0, mx = 0;
        for (int i = 0; i < 2 * H; i++) {
            double x = q->params.qa_w[i];
            s += x; s2 += x * x;
            if (fabs(x) > mx) mx = fabs(x);
        }
        CHECK(q->params.qa_b[0] == 0.0f && q->params.qa_b[1] == 0.0f);
        CHECK(mx <= 2 * 0.02 + 1e-7 && mx > 0); /* truncated at 2 std */
        CHECK(fabs(sqrt(s2 / (2 * H)) - 0.02) < 0.008);
        CHECK(memcmp(q->params.word_emb, m->params.word_emb, (size_t)V * H * 4) == 0);
    }
    zl_bert_free(q);
    zl_tensor_map_free(tf);
    /* HF: a BertForMaskedLM safetensors round trip; a missing head is fresh (Google init) */
    snprintf(path, sizeof path, "%s/hf", tmpdir());
    CHECK(zl_bert_save(m, path) == 0);
    zl_bert *h = zl_bert_load_mlm(path);
    CHECK(h != NULL && !h->fresh_mlm_head &&
          memcmp(h->params.memory, m->params.memory, (size_t)m->params.count * 4) == 0);
    zl_bert_free(h);
    zl_bert *plain = zl_bert_load(FIX); /* no QA head and no MLM head asked */
    CHECK(plain != NULL && plain->fresh_qa_head);
    snprintf(path, sizeof path, "%s/qa", tmpdir());
    CHECK(plain && zl_bert_save(plain, path) == 0);
    zl_bert *f = zl_bert_load_mlm(path);
    CHECK(f != NULL && f->fresh_mlm_head);
    if (f) {
        CHECK(f->params.mlm_ln_w[0] == 1.0f && f->params.mlm_ln_b[0] == 0.0f &&
              f->params.mlm_b[3] == 0.0f && f->params.mlm_bias[9] == 0.0f);
        double mx = 0;
        for (int i = 0; i < H * H; i++) mx = fmax(mx, fabs(f->params.mlm_w[i]));
        CHECK(mx > 0 && mx <= 0.04 + 1e-7);
    }
    zl_bert_free(f);
    zl_bert_free(plain);
    /* run_squad.py writes stddev=0.02 for the QA head, whatever initializer_range (the
     * demo's models use 0.1) */
    snprintf(path, sizeof path, "%s/wide", tmpdir());
    zl_bert_config wc = m->config;
    wc.initializer_range = 0.1f;
    wc.mlm_head = 0;
    zl_bert *wide = zl_bert_new(&wc);
    CHECK(wide && zl_bert_init_random(wide, 5) == 0 && zl_bert_save(wide, path) == 0);
    zl_tensor_map *wm = wide ? zl_checkpoint_to_map(wide, 0) : NULL, *noqa = zl_tensor_map_new();
    for (int i = 0; wide && i < zl_bert_param_count(&wc); i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&wc, &wide->params, i, &info);
        if (strncmp(info.name, "qa_outputs.", 11) == 0) continue;
        zl_tensor_map_add(noqa, info.name, zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data));
    }
    char wpath[700];
    snprintf(wpath, sizeof wpath, "%s/model.safetensors", path);
    CHECK(zl_safetensors_save(wpath, noqa, NULL) == 0);
    zl_bert *wq = zl_bert_load(path);
    CHECK(wq && wq->fresh_qa_head);
    if (wq) {
        double s2 = 0, mx = 0;
        for (int i = 0; i < 2 * H; i++) {
            s2 += (double)wq->params.qa_w[i] * wq->params.qa_w[i];
            mx = fmax(mx, fabs(wq->params.qa_w[i]));
        }
        CHECK(mx <= 0.04 + 1e-7 && fabs(sqrt(s2 / (2 * H)) - 0.02) < 0.008);
    }
    zl_bert_free(wq);
    zl_tensor_map_free(wm);
    zl_tensor_map_free(noqa);
    zl_bert_free(wide);
    /* a head with a tensor missing is refused by name */
    zl_tensor_map *hm = zl_checkpoint_to_map(m, 0), *part = zl_tensor_map_new();
    for (int i = 0; hm && i < zl_bert_param_count(&m->config); i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&m->config, &m->params, i, &info);
        if (strcmp(info.name, "cls.predictions.bias") == 0) continue;
        zl_tensor_map_add(part, info.name, zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data));
    }
    snprintf(path, sizeof path, "%s/hf/model.safetensors", tmpdir());
    CHECK(zl_safetensors_save(path, part, NULL) == 0);
    snprintf(path, sizeof path, "%s/hf", tmpdir());
    CHECK(zl_bert_load_mlm(path) == NULL && strstr(zl_error_get(), "masked-LM head is incomplete"));
    zl_tensor_map_free(hm);
    zl_tensor_map_free(part);
    zl_bert_free(m);
}

/* Google's real Chinese BERT-base checkpoint (its index: names and shapes, no weights):
 * every tensor of a pretraining model, the five cls/predictions tensors included, is found with
 * the shape zonelab expects. */
static void test_real_tf_head(void)
{
    char real[512], path[700];
    if (!zl_test_real(real, sizeof real, "real TF head", "tf_chinese_bert/bert_model.ckpt.index"))
        return;
    zl_bert_config c;
    snprintf(path, sizeof path, "%s/tf_chinese_bert/bert_config.json", real);
    CHECK(zl_bert_config_load(&c, path) == 0);
    c.mlm_head = 1;
    snprintf(path, sizeof path, "%s/tf_chinese_bert/bert_model.ckpt.index", real);
    zl_tensor_map *map = zl_tfckpt_load(path, 0);
    CHECK(map != NULL);
    if (!map) return;
    int has_head = 0;
    CHECK(zl_checkpoint_verify(&c, map, 1, path, &has_head) == 0);
    CHECK(has_head == 1);
    const zl_named_tensor *e = zl_tensor_map_find(map, "cls/predictions/output_bias");
    CHECK(e && e->ndim == 1 && e->shape[0] == 21128);
    zl_tensor_map_free(map);
}

/* Pretraining steps through the trainer: the loss goes down on a repeated batch; a
 * checkpoint reloads the head. */
static void test_trainer(void)
{
    zl_bert *m = small_model(0.02);
    CHECK(m != NULL);
    if (!m) return;
    zl_trainer_config c;
    zl_trainer_config_default(&c);
    c.micro_batch = 2; c.max_seq_length = 16; c.max_predictions = 4;
    c.dropout = 0; c.attn_dropout = 0;
    c.optim.lr = 1e-2f; c.optim.total_steps = 30; c.optim.warmup_steps = 0;
    zl_trainer *t = zl_trainer_new(m, &c);
    CHECK(t != NULL);
    if (!t) {
        zl_bert_free(m);
        return;
    }
    int32_t ids[4 * 12], mask[4 * 12], pos[4 * 4], lab[4 * 4];
    float w[4 * 4];
    for (int i = 0; i < 48; i++) ids[i] = 5 + (i * 7) % 45, mask[i] = 1;
    for (int i = 0; i < 16; i++) pos[i] = 1 + (i * 5) % 10, lab[i] = 5 + (i * 3) % 45, w[i] = 1;
    zl_bert_inputs in1 = {2, 12, ids, NULL, mask, NULL, NULL};
    zl_bert_inputs in2 = {2, 12, ids + 24, NULL, mask, NULL, NULL};
    double first = 0, last = 0;
    for (int s = 0; s < 30; s++) {
        double l1, l2;
        CHECK(zl_trainer_micro_step_mlm(t, &in1, 4, pos, lab, w, &l1) == 0);
        CHECK(zl_trainer_micro_step_mlm(t, &in2, 4, pos + 8, lab + 8, w + 8, &l2) == 0);
        zl_trainer_result r;
        CHECK(zl_trainer_apply(t, &r) == 0);
        if (s == 0) first = r.loss;
        last = r.loss;
    }
    CHECK(first > 3.5 && last < first - 1.0);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ckpt", tmpdir());
    CHECK(zl_trainer_save(t, dir, NULL) == 0);
    zl_bert *back = zl_bert_load_mlm(dir);
    CHECK(back && !back->fresh_mlm_head &&
          memcmp(back->params.memory, m->params.memory, (size_t)m->params.count * 4) == 0);
    zl_bert_free(back);
    /* the corpus: instances of max_seq_length - 2 pieces, words marked */
    zl_mlm_data d;
    CHECK(zl_mlm_data_init(&d, 6) == 0);
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\nplay\n##ing\non\n";
    zl_tokenizer *tok = zl_tokenizer_from_buffer("vocab", vocab, strlen(vocab), NULL);
    CHECK(tok != NULL);
    if (tok) {
        const char *doc = "the cat sat playing on the cat";
        CHECK(zl_mlm_data_add(&d, tok, doc, strlen(doc)) == 0);
        CHECK(d.count == 2 && d.n_tokens == 8 && d.offset[1] == 4 && d.offset[2] == 8);
        CHECK(d.word_start[3] == 1 && d.word_start[4] == 0 && d.tokens[4] == 9);
        CHECK(zl_mlm_data_add(&d, tok, "", 0) == 0 && d.count == 2);
    }
    zl_tokenizer_free(tok);
    zl_mlm_data_free(&d);
    zl_trainer_free(t);
    zl_bert_free(m);
}

/* `test_mlm golden`: the fixture alone (ctest's golden_mlm, beside golden_tiny) */
int main(int argc, char **argv)
{
    test_golden();
    if (argc > 1 && strcmp(argv[1], "golden") == 0) return zl_test_summary("golden_mlm");
    test_gradcheck();
    test_init_loss();
    test_mask();
    test_load_formats();
    test_real_tf_head();
    test_trainer();
    return zl_test_summary("test_mlm");
}
