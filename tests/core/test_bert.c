/* test_bert.c — BERT forward against the golden fixtures (every zone case, attention
 * probabilities, hidden states, half-precision weights), zone-mask row effects, thread
 * independence, config validation, checkpoint shape errors, TF name mapping and
 * checkpoints, seeded init and save/load round trips. Run from the source dir. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bert.h"
#include "checkpoint.h"
#include "error.h"
#include "io.h"
#include "tensor.h"
#include "tfckpt.h"
#include "zl_test.h"


#define FIX "tests/fixtures/tiny"
enum { B = 3, S = 24 };

static void *read_bin(const char *path, size_t want)
{
    char *data = NULL;
    size_t len = 0;
    if (zl_io_read_file(path, (size_t)1 << 28, &data, &len) != 0) return NULL;
    if (len != want) {
        fprintf(stderr, "%s: %zu bytes, expected %zu\n", path, len, want);
        free(data);
        return NULL;
    }
    return data;
}

static int32_t *read_i32(const char *name, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, FIX "/inputs/%s.i32.bin", name);
    return read_bin(p, n * 4);
}

static float *read_case(const char *cas, const char *name, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, FIX "/cases/%s/%s.f32.bin", cas, name);
    return read_bin(p, n * 4);
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= m)) m = d; /* NaN propagates */
    }
    return m;
}

static int32_t *ids, *types, *imask, *qm, *pm, *spos, *epos;
static zl_bert_inputs inputs;

static int run(const zl_bert *m, zl_bert_acts *a, zl_zone z, int layer, float *att, float *hid)
{
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.zone = z;
    o.mask_layer = layer;
    o.attentions = att;
    o.hidden_states = hid;
    return zl_bert_forward(m, a, &inputs, &o);
}

static void test_golden(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    const char *zones[] = {"q2", "q2p", "p2q", "p2", "all", "all_strict"};
    char cas[64];
    for (int zi = -1; zi < 6; zi++)
        for (int layer = -1; layer < 2; layer++) {
            if (zi < 0 && layer >= 0) continue;
            if (zi < 0)
                snprintf(cas, sizeof cas, "none");
            else if (layer < 0)
                snprintf(cas, sizeof cas, "%s_all", zones[zi]);
            else
                snprintf(cas, sizeof cas, "%s_l%d", zones[zi], layer);
            zl_zone z = zi < 0 ? ZL_ZONE_NONE : (zl_zone)zl_zone_parse(zones[zi]);
            CHECK(run(m, &a, z, layer, NULL, NULL) == 0);
            float *st = read_case(cas, "start_logits", B * S);
            float *en = read_case(cas, "end_logits", B * S);
            float *lo = read_case(cas, "loss", 1);
            CHECK(st && en && lo);
            if (!st || !en || !lo) { free(st); free(en); free(lo); continue; }
            double e1 = max_abs_diff(st, a.start_logits, B * S);
            double e2 = max_abs_diff(en, a.end_logits, B * S);
            double loss;
            CHECK(zl_bert_span_loss(&loss, NULL, NULL, a.start_logits, a.end_logits, spos, epos, B, S) == 0);
            printf("case %-16s logits err %.2e loss err %.2e\n", cas, e1 > e2 ? e1 : e2,
                   fabs(loss - lo[0]));
            CHECK(e1 < 1e-4 && e2 < 1e-4);
            CHECK(fabs(loss - lo[0]) < 1e-4);
            free(st); free(en); free(lo);
        }
    /* attention probabilities and hidden states */
    const char *full[] = {"none", "p2q_l1"};
    size_t np = (size_t)2 * B * 4 * S * S, nh = (size_t)3 * B * S * 32;
    float *att = malloc(np * 4), *hid = malloc(nh * 4);
    for (int i = 0; i < 2; i++) {
        CHECK(run(m, &a, i ? ZL_ZONE_P2Q : ZL_ZONE_NONE, i ? 1 : -1, att, hid) == 0);
        float *wa = read_case(full[i], "attention_probs", np);
        float *wh = read_case(full[i], "hidden_states", nh);
        CHECK(wa && wh);
        if (wa && wh) {
            printf("case %-16s attention err %.2e hidden err %.2e\n", full[i],
                   max_abs_diff(wa, att, np), max_abs_diff(wh, hid, nh));
            CHECK(max_abs_diff(wa, att, np) < 1e-5);
            CHECK(max_abs_diff(wh, hid, nh) < 1e-4);
        }
        free(wa); free(wh);
    }
    free(att); free(hid);
    zl_bert_acts_free(&a);
}

static void test_half(void)
{
    const char *files[] = {FIX "/model.f16.safetensors", FIX "/model.bf16.safetensors"};
    const char *cases[] = {"none_f16", "none_bf16"};
    for (int i = 0; i < 2; i++) {
        zl_bert *m = zl_bert_load(files[i]);
        CHECK(m != NULL);
        if (!m) continue;
        zl_bert_acts a;
        CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
        CHECK(run(m, &a, ZL_ZONE_NONE, -1, NULL, NULL) == 0);
        float *st = read_case(cases[i], "start_logits", B * S);
        float *en = read_case(cases[i], "end_logits", B * S);
        CHECK(st && en);
        if (st && en) {
            CHECK(max_abs_diff(st, a.start_logits, B * S) < 1e-4);
            CHECK(max_abs_diff(en, a.end_logits, B * S) < 1e-4);
        }
        free(st); free(en);
        zl_bert_acts_free(&a);
        zl_bert_free(m);
    }
}

/* Zone at layer 1: layer-0 probabilities identical, layer-1 rows change exactly where
 * the zone has masked entries, and those entries become ~0. */
static void test_zone_rows(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    size_t per = (size_t)B * 4 * S * S, np = 2 * per;
    float *base = malloc(np * 4), *att = malloc(np * 4);
    CHECK(run(m, &a, ZL_ZONE_NONE, -1, base, NULL) == 0);
    zl_zone zs[] = {ZL_ZONE_Q2, ZL_ZONE_Q2P, ZL_ZONE_P2Q, ZL_ZONE_P2};
    for (int zi = 0; zi < 4; zi++) {
        zl_zone z = zs[zi];
        CHECK(run(m, &a, z, 1, att, NULL) == 0);
        CHECK(max_abs_diff(base, att, per) == 0.0); /* layer 0 untouched */
        int bad_rows = 0, bad_masked = 0, changed_rows = 0, masked_rows = 0;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < 4; h++)
                for (int f = 0; f < S; f++) {
                    int row_masked = 0;
                    double rowdiff = 0.0;
                    for (int t = 0; t < S; t++) {
                        int qf = qm[b * S + f], qt = qm[b * S + t];
                        int pf = pm[b * S + f], pt = pm[b * S + t];
                        int mk = z == ZL_ZONE_Q2 ? qf && qt : z == ZL_ZONE_P2 ? pf && pt
                                 : z == ZL_ZONE_P2Q ? !qf && qt : !pf && pt;
                        size_t idx = per + (((size_t)b * 4 + h) * S + f) * S + t;
                        if (mk) {
                            row_masked = 1;
                            if (att[idx] > 1e-6f) bad_masked++;
                        }
                        rowdiff = fmax(rowdiff, fabs(att[idx] - base[idx]));
                    }
                    if (row_masked) masked_rows++;
                    if (rowdiff > 0) changed_rows++;
                    if (!row_masked && rowdiff > 1e-7) bad_rows++;
                    if (row_masked && rowdiff < 1e-6) bad_rows++;
                }
        printf("zone %s at layer 1: %d masked rows, %d changed\n", zl_zone_name(z), masked_rows,
               changed_rows);
        CHECK(masked_rows > 0);
        CHECK(bad_rows == 0);
        CHECK(bad_masked == 0);
    }
    /* all_strict: the layer's probabilities are exported as zero */
    CHECK(run(m, &a, ZL_ZONE_ALL_STRICT, 1, att, NULL) == 0);
    double mx = 0;
    for (size_t i = per; i < np; i++) mx = fmax(mx, fabs(att[i]));
    CHECK(mx == 0.0);
    free(base); free(att);
    zl_bert_acts_free(&a);
}

/* `all` on the unpadded sequence (b = 1) equals the unmasked run; padded ones differ. */
static void test_all_unpadded(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    float base[B * S], got[B * S];
    CHECK(run(m, &a, ZL_ZONE_NONE, -1, NULL, NULL) == 0);
    memcpy(base, a.start_logits, sizeof base);
    for (int layer = -1; layer < 2; layer++) {
        CHECK(run(m, &a, ZL_ZONE_ALL, layer, NULL, NULL) == 0);
        memcpy(got, a.start_logits, sizeof got);
        CHECK(max_abs_diff(base + S, got + S, S) == 0.0);
        CHECK(max_abs_diff(base, got, S) > 1e-3);
    }
    zl_bert_acts_free(&a);
}

static void test_threads(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    int old = zl_get_threads();
    float r1[2 * B * S], r2[2 * B * S];
    zl_set_threads(1);
    CHECK(run(m, &a, ZL_ZONE_P2Q, 0, NULL, NULL) == 0);
    memcpy(r1, a.start_logits, sizeof r1 / 2);
    memcpy(r1 + B * S, a.end_logits, sizeof r1 / 2);
    zl_set_threads(2);
    CHECK(run(m, &a, ZL_ZONE_P2Q, 0, NULL, NULL) == 0);
    memcpy(r2, a.start_logits, sizeof r2 / 2);
    memcpy(r2 + B * S, a.end_logits, sizeof r2 / 2);
    CHECK(max_abs_diff(r1, r2, 2 * B * S) <= 1e-5);
    zl_set_threads(old);
    zl_bert_acts_free(&a);
}

/* Inference activations keep one attention block per thread (not per (b, h)) and run the
 * GELU in place: BERT-base at 32 x 512 needs 1.41 GB instead of 2.02 GB. Activations
 * allocated for fewer threads than later run still give the same logits and attentions. */
static void test_inference_layout(const zl_bert *m)
{
    int old = zl_get_threads();
    zl_set_threads(2);
    zl_bert_config base;
    zl_bert_config_default(&base);
    int64_t BS = 32 * 512, H = 768, I = 3072, L = 12, NH = 12, SS = 512 * 512;
    int64_t block = 3 * BS * H + 2 * SS + 4 * BS * H + BS * I + 4 * BS;
    CHECK(zl_bert_acts_numel(&base, 32, 512, 0) ==
          4 * BS * H + 2 * BS + (L + 1) * BS * H + block + 2 * BS + L * NH + L);
    CHECK(zl_bert_acts_numel(&base, 32, 512, 0) * 4 < 1.42e9);
    /* the backward keeps every layer's probabilities and intermediate */
    CHECK(zl_bert_acts_numel(&base, 32, 512, ZL_BERT_ACTS_BACKWARD) >
          L * (32 * NH * SS + 2 * BS * I));

    zl_bert_acts one, two;
    zl_set_threads(1);
    CHECK(zl_bert_acts_alloc(&one, &m->config, B, S, 0) == 0 && one.prob_slots == 1);
    zl_set_threads(2);
    CHECK(zl_bert_acts_alloc(&two, &m->config, B, S, 0) == 0 && two.prob_slots == 2);
    CHECK(one.inter_gelu == one.inter_pre);
    size_t per = (size_t)m->config.num_hidden_layers * B * m->config.num_attention_heads * S * S;
    float *a1 = malloc(per * sizeof(float)), *a2 = malloc(per * sizeof(float));
    CHECK(run(m, &one, ZL_ZONE_P2Q, 1, a1, NULL) == 0); /* 2 threads over 1 block */
    float l1[B * S];
    memcpy(l1, one.start_logits, sizeof l1);
    CHECK(run(m, &two, ZL_ZONE_P2Q, 1, a2, NULL) == 0);
    CHECK(max_abs_diff(l1, two.start_logits, B * S) == 0.0);
    CHECK(max_abs_diff(a1, a2, per) == 0.0);
    CHECK(run(m, &two, ZL_ZONE_P2Q, 1, NULL, NULL) == 0); /* scratch blocks, not the export */
    CHECK(max_abs_diff(l1, two.start_logits, B * S) == 0.0);
    free(a1);
    free(a2);
    zl_bert_acts_free(&one);
    zl_bert_acts_free(&two);
    zl_set_threads(old);
}

/* start_layer > 0 reuses the unmasked prefix: same result as a full masked pass. */
static void test_start_layer(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    zl_bert_forward_opts o0;
    zl_bert_forward_opts_init(&o0);
    o0.start_layer = 1;
    CHECK(zl_bert_forward(m, &a, &inputs, &o0) == -1); /* no previous pass to start from */
    float full[B * S];
    CHECK(run(m, &a, ZL_ZONE_Q2, 1, NULL, NULL) == 0);
    memcpy(full, a.start_logits, sizeof full);
    CHECK(run(m, &a, ZL_ZONE_NONE, -1, NULL, NULL) == 0);
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.zone = ZL_ZONE_Q2;
    o.mask_layer = 1;
    o.start_layer = 1;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == 0);
    CHECK(max_abs_diff(full, a.start_logits, B * S) == 0.0);
    zl_bert_acts_free(&a);
}

/* A general [S,S] mask equal to the p2q zone at layer 1 reproduces the zone; a head
 * mask of all zeros on a layer equals all_strict... only up to the value bias, so check
 * instead that zeroing one head changes the result and head_mask = 1 does not. */
static void test_general_mask(const zl_bert *m)
{
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    float want[B * S];
    CHECK(run(m, &a, ZL_ZONE_P2Q, 1, NULL, NULL) == 0);
    memcpy(want, a.start_logits, sizeof want);
    float *pat = calloc((size_t)B * S * S, sizeof(float));
    for (int b = 0; b < B; b++)
        for (int f = 0; f < S; f++)
            for (int t = 0; t < S; t++)
                pat[((size_t)b * S + f) * S + t] = (float)((1 - qm[b * S + f]) * qm[b * S + t]);
    int layer = 1;
    zl_bert_mask mk = {pat, 1, NULL, 0, &layer, 1};
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.masks = &mk;
    o.n_masks = 1;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == 0);
    CHECK(max_abs_diff(want, a.start_logits, B * S) == 0.0);
    /* restricted to head 2 only: differs from both the full zone and no mask */
    int head = 2;
    mk.heads = &head;
    mk.n_heads = 1;
    float base[B * S];
    CHECK(run(m, &a, ZL_ZONE_NONE, -1, NULL, NULL) == 0);
    memcpy(base, a.start_logits, sizeof base);
    size_t per = (size_t)B * 4 * S * S;
    float *att = malloc(2 * per * 4), *att0 = malloc(2 * per * 4);
    CHECK(run(m, &a, ZL_ZONE_NONE, -1, att0, NULL) == 0);
    o.attentions = att;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == 0);
    CHECK(max_abs_diff(base, a.start_logits, B * S) > 1e-4);
    CHECK(max_abs_diff(want, a.start_logits, B * S) > 1e-4);
    /* only head 2 of layer 1 changed */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < 4; h++) {
            size_t off = per + ((size_t)b * 4 + h) * S * S;
            double d = max_abs_diff(att + off, att0 + off, (size_t)S * S);
            if (h == 2) CHECK(d > 1e-4);
            else CHECK(d == 0.0);
        }
    /* head mask: ones change nothing, a zero head changes the logits */
    float hm[8];
    for (int i = 0; i < 8; i++) hm[i] = 1.0f;
    zl_bert_forward_opts_init(&o);
    o.head_mask = hm;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == 0);
    CHECK(max_abs_diff(base, a.start_logits, B * S) == 0.0);
    hm[5] = 0.0f;
    o.attentions = att;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == 0);
    CHECK(max_abs_diff(base, a.start_logits, B * S) > 1e-4);
    CHECK(att[per + 1 * S * S] == 0.0f); /* layer 1, batch 0, head 1 exported as zero */
    free(att); free(att0); free(pat);
    zl_bert_acts_free(&a);
}

static void test_errors(const zl_bert *m)
{
    zl_bert_config c;
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"vocab_size\": 10, \"hidden_size\": 30, "
                               "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8}") == -1);
    CHECK(strstr(zl_error_get(), "num_attention_heads") != NULL);
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"vocab_size\": 10, \"hidden_size\": 32, "
                               "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8, \"hidden_act\": \"relu\"}") == -1);
    CHECK(strstr(zl_error_get(), "relu") != NULL);
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"vocab_size\": 2000000000, \"hidden_size\": 32, "
                               "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8}") == -1);
    CHECK(strstr(zl_error_get(), "vocab_size") != NULL);
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"vocab_size\": 100000, \"hidden_size\": 65536, "
                               "\"num_hidden_layers\": 256, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8}") == -1);
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"hidden_size\": 32}") == -1);
    CHECK(strstr(zl_error_get(), "vocab_size") != NULL);
    CHECK(zl_bert_config_parse(&c, "x.json", "[1,2") == -1);
    /* HF config.json: architectures select ELECTRA; layer_norm_eps read; extra keys ignored */
    CHECK(zl_bert_config_parse(&c, "config.json", "{\"architectures\": [\"ElectraForQuestionAnswering\"], "
                               "\"vocab_size\": 30522, \"hidden_size\": 256, \"embedding_size\": 128, "
                               "\"num_hidden_layers\": 12, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 1024, \"layer_norm_eps\": 1e-5, "
                               "\"position_embedding_type\": \"absolute\", \"hidden_act\": \"gelu\"}") == 0);
    CHECK(strcmp(c.model_type, "electra") == 0 && c.embedding_size == 128 &&
          c.layer_norm_eps == 1e-5f && c.max_position_embeddings == 512);
    CHECK(zl_bert_config_parse(&c, "config.json", "{\"model_type\": \"roberta\", \"vocab_size\": 10, "
                               "\"hidden_size\": 32, \"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8}") == -1);
    CHECK(strstr(zl_error_get(), "roberta") != NULL);
    CHECK(zl_bert_config_parse(&c, "x.json", "{\"vocab_size\": 10.5, \"hidden_size\": 32, "
                               "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 8}") == -1);
    CHECK(strstr(zl_error_get(), "vocab_size") != NULL);
    /* out-of-range input ids name the row */
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    int32_t bad[B * S];
    memcpy(bad, ids, sizeof bad);
    bad[S + 3] = 99;
    zl_bert_inputs in = inputs;
    in.input_ids = bad;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    CHECK(zl_bert_forward(m, &a, &in, &o) == -1);
    CHECK(strstr(zl_error_get(), "input_ids[1][3]") != NULL);
    o.mask_layer = 2;
    o.zone = ZL_ZONE_Q2;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == -1);
    o.mask_layer = 0;
    in = inputs;
    in.qmask = NULL;
    CHECK(zl_bert_forward(m, &a, &in, &o) == -1);
    o.dropout_prob = 0.1f;
    o.zone = ZL_ZONE_NONE;
    CHECK(zl_bert_forward(m, &a, &inputs, &o) == -1); /* no dropout buffers */
    zl_bert_acts_free(&a);
}

static void test_param_names(const zl_bert *m)
{
    int n = zl_bert_param_count(&m->config);
    CHECK(n == 39);
    int64_t total = 0;
    zl_bert_param_info info;
    for (int i = 0; i < n; i++) {
        CHECK(zl_bert_param_info_at(&m->config, &m->params, i, &info) == 0);
        total += info.numel;
    }
    CHECK(total == 22498);
    CHECK(total == m->params.count);
    CHECK(zl_bert_param_find(&m->config, "bert.encoder.layer.1.attention.self.key.bias") >= 0);
    zl_bert_param_info_at(&m->config, &m->params, 5, &info);
    CHECK(strcmp(info.name, "bert.encoder.layer.0.attention.self.query.weight") == 0);
    CHECK(info.data == m->params.qw);
    char tf[256];
    int tr;
    CHECK(zl_checkpoint_tf_name("bert.encoder.layer.3.attention.self.query.weight", tf, sizeof tf, &tr) == 0);
    CHECK(strcmp(tf, "bert/encoder/layer_3/attention/self/query/kernel") == 0 && tr == 1);
    CHECK(zl_checkpoint_tf_name("bert.encoder.layer.11.output.LayerNorm.bias", tf, sizeof tf, &tr) == 0);
    CHECK(strcmp(tf, "bert/encoder/layer_11/output/LayerNorm/beta") == 0 && tr == 0);
    CHECK(zl_checkpoint_tf_name("bert.embeddings.word_embeddings.weight", tf, sizeof tf, &tr) == 0);
    CHECK(strcmp(tf, "bert/embeddings/word_embeddings") == 0 && tr == 0);
    CHECK(zl_checkpoint_tf_name("electra.embeddings_project.weight", tf, sizeof tf, &tr) == 0);
    CHECK(strcmp(tf, "electra/embeddings_project/kernel") == 0 && tr == 1);
    CHECK(zl_checkpoint_tf_name("qa_outputs.weight", tf, sizeof tf, &tr) == 0);
    CHECK(strcmp(tf, "cls/squad/output_weights") == 0 && tr == 0);
}

static int same_params(const zl_bert *a, const zl_bert *b)
{
    return a->params.count == b->params.count &&
           memcmp(a->params.memory, b->params.memory, (size_t)a->params.count * 4) == 0;
}

static void test_files(const zl_bert *m)
{
    char dir[] = "/tmp/zl_test_bert_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p[512], q[512];
    /* save / load round trip */
    snprintf(p, sizeof p, "%s/saved", dir);
    CHECK(zl_bert_save(m, p) == 0);
    zl_bert *m2 = zl_bert_load(p);
    CHECK(m2 && same_params(m, m2) && !m2->fresh_qa_head);
    /* bert.-named tensors, no model_type: BERT, nothing to say */
    CHECK(m2 && strcmp(m2->config.model_type, "bert") == 0 &&
          m2->config.model_type_origin == ZL_MODEL_TYPE_DEFAULT &&
          zl_bert_model_type_note(&m2->config) == NULL);
    zl_bert_free(m2);
    /* random init is reproducible by seed */
    zl_bert *r1 = zl_bert_new(&m->config), *r2 = zl_bert_new(&m->config);
    CHECK(zl_bert_init_random(r1, 7) == 0 && zl_bert_init_random(r2, 7) == 0);
    CHECK(same_params(r1, r2));
    CHECK(zl_bert_init_random(r2, 8) == 0);
    CHECK(!same_params(r1, r2));
    CHECK(r1->params.emb_ln_w[0] == 1.0f && r1->params.qb[0] == 0.0f);
    double mx = 0;
    for (int64_t i = 0; i < 99 * 32; i++) mx = fmax(mx, fabs(r1->params.word_emb[i]));
    CHECK(mx > 0.01 && mx <= 0.04 + 1e-7);
    /* wrong shape: the error names the tensor and both shapes */
    zl_tensor_map *map = zl_checkpoint_to_map(m, 0);
    CHECK(map != NULL);
    int64_t bad_shape[2] = {32, 16};
    zl_tensor *bad = zl_tensor_new(ZL_F32, 2, bad_shape);
    for (int i = 0; i < map->count; i++)
        if (strcmp(map->items[i].name, "bert.encoder.layer.1.attention.self.value.weight") == 0) {
            zl_tensor_free(map->items[i].tensor);
            map->items[i].tensor = bad;
            map->items[i].ndim = 2;
            map->items[i].shape[0] = 32;
            map->items[i].shape[1] = 16;
        }
    snprintf(p, sizeof p, "%s/bad", dir);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(q, sizeof q, "%s/bad/model.safetensors", dir);
    CHECK(zl_safetensors_save(q, map, NULL) == 0);
    zl_tensor_map_free(map);
    snprintf(q, sizeof q, "cp " FIX "/bert_config.json %s/bad/", dir);
    CHECK(system(q) == 0);
    CHECK(zl_bert_load(p) == NULL);
    CHECK(strstr(zl_error_get(), "bert.encoder.layer.1.attention.self.value.weight") != NULL);
    CHECK(strstr(zl_error_get(), "[32,16]") != NULL && strstr(zl_error_get(), "[32,32]") != NULL);
    /* TF checkpoint without a QA head: kernels transposed, fresh head flagged */
    map = zl_checkpoint_to_map(m, 1);
    CHECK(map != NULL);
    zl_tensor_map *noqa = zl_tensor_map_new();
    for (int i = 0; map && i < map->count; i++)
        if (strncmp(map->items[i].name, "cls/", 4) != 0) {
            zl_tensor_map_add(noqa, map->items[i].name, zl_tensor_clone(map->items[i].tensor));
        }
    int64_t one = 3;
    zl_tensor_map_add(noqa, "bert/encoder/layer_0/attention/self/query/kernel/adam_m",
                      zl_tensor_new(ZL_F32, 1, &one));
    snprintf(p, sizeof p, "%s/tf", dir);
    CHECK(mkdir(p, 0777) == 0);
    snprintf(q, sizeof q, "%s/tf/bert_model.ckpt", dir);
    CHECK(zl_tfckpt_save(q, noqa) == 0);
    snprintf(q, sizeof q, "cp " FIX "/bert_config.json %s/tf/", dir);
    CHECK(system(q) == 0);
    zl_bert *t = zl_bert_load(p);
    CHECK(t != NULL);
    if (t) {
        CHECK(t->fresh_qa_head == 1);
        CHECK(memcmp(t->params.memory, m->params.memory,
                     (size_t)(m->params.qa_w - m->params.memory) * 4) == 0);
        CHECK(t->params.qa_w[0] != 0.0f && t->params.qa_b[0] == 0.0f);
        zl_bert_free(t);
    }
    /* full TF checkpoint via the prefix: identical parameters */
    snprintf(q, sizeof q, "%s/tf/model.ckpt", dir);
    CHECK(zl_tfckpt_save(q, map) == 0);
    t = zl_bert_load(q);
    CHECK(t && same_params(t, m) && !t->fresh_qa_head);
    zl_bert_free(t);
    zl_tensor_map_free(map);
    zl_tensor_map_free(noqa);
    zl_bert_free(r1);
    zl_bert_free(r2);
    snprintf(q, sizeof q, "rm -rf %s", dir);
    CHECK(system(q) == 0);
}

/* Backward-mode activations keep every layer; dropout is seeded and thread-independent. */
static void test_training_acts(const zl_bert *m)
{
    zl_bert_acts inf, bw;
    CHECK(zl_bert_acts_alloc(&inf, &m->config, B, S, 0) == 0);
    CHECK(zl_bert_acts_alloc(&bw, &m->config, B, S, ZL_BERT_ACTS_BACKWARD | ZL_BERT_ACTS_DROPOUT) == 0);
    size_t per = (size_t)B * 4 * S * S;
    float *att = malloc(2 * per * 4);
    CHECK(run(m, &inf, ZL_ZONE_Q2, 0, att, NULL) == 0);
    CHECK(run(m, &bw, ZL_ZONE_Q2, 0, NULL, NULL) == 0);
    CHECK(max_abs_diff(inf.start_logits, bw.start_logits, B * S) == 0.0);
    zl_bert_layer_acts l0, l1;
    zl_bert_acts_layer(&bw, 0, &l0);
    zl_bert_acts_layer(&bw, 1, &l1);
    CHECK(l0.probs != l1.probs && l1.input == l0.output);
    CHECK(max_abs_diff(l0.probs, att, per) == 0.0 && max_abs_diff(l1.probs, att + per, per) == 0.0);
    CHECK(l1.probs_drop[0] == 1.0f && l1.att_drop[0] == 1.0f); /* eval: multipliers 1 */
    /* dropout: same seed -> same result, any thread count; other seed -> different */
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.dropout_prob = 0.1f;
    o.attn_dropout_prob = 0.1f;
    o.seed = 5;
    float r1[B * S], r2[B * S];
    int old = zl_get_threads();
    zl_set_threads(1);
    CHECK(zl_bert_forward(m, &bw, &inputs, &o) == 0);
    memcpy(r1, bw.start_logits, sizeof r1);
    zl_set_threads(2);
    CHECK(zl_bert_forward(m, &bw, &inputs, &o) == 0);
    memcpy(r2, bw.start_logits, sizeof r2);
    zl_set_threads(old);
    CHECK(max_abs_diff(r1, r2, B * S) <= 1e-5);
    CHECK(max_abs_diff(r1, inf.start_logits, B * S) > 1e-3);
    int64_t zeros = 0, n = (int64_t)B * S * 32;
    zl_bert_acts_layer(&bw, 1, &l1);
    for (int64_t i = 0; i < n; i++) {
        zeros += l1.out_drop[i] == 0.0f;
        CHECK(l1.out_drop[i] == 0.0f || fabsf(l1.out_drop[i] - 1.0f / 0.9f) < 1e-6f);
    }
    CHECK(zeros > n / 20 && zeros < n / 5);
    CHECK(bw.dropout_prob == 0.1f);
    o.seed = 6;
    CHECK(zl_bert_forward(m, &bw, &inputs, &o) == 0);
    CHECK(max_abs_diff(r1, bw.start_logits, B * S) > 1e-4);
    /* span loss gradient: finite differences on one logit */
    double l_0, l_1;
    float ds[B * S], de[B * S], lg[B * S];
    memcpy(lg, inf.start_logits, sizeof lg);
    CHECK(zl_bert_span_loss(&l_0, ds, de, lg, inf.end_logits, spos, epos, B, S) == 0);
    lg[S + spos[1]] += 1e-2f;
    CHECK(zl_bert_span_loss(&l_1, NULL, NULL, lg, inf.end_logits, spos, epos, B, S) == 0);
    CHECK(fabs((l_1 - l_0) / 1e-2 - ds[S + spos[1]]) < 1e-3);
    CHECK(ds[S + spos[1]] < 0.0f);
    int32_t badpos[B] = {0, 24, 0};
    CHECK(zl_bert_span_loss(&l_1, NULL, NULL, lg, inf.end_logits, badpos, epos, B, S) == -1);
    free(att);
    zl_bert_acts_free(&inf);
    zl_bert_acts_free(&bw);
}

/* The small ELECTRA of test_electra, with `model_type` in front (or no model_type). */
#define ELECTRA_KEYS "\"vocab_size\": 99, \"hidden_size\": 32, \"embedding_size\": 16, " \
    "\"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"intermediate_size\": 64, " \
    "\"max_position_embeddings\": 64, \"type_vocab_size\": 2}"

/* Writes dir/bert_config.json. */
static int write_config(const char *dir, const char *json)
{
    char p[512];
    snprintf(p, sizeof p, "%s/bert_config.json", dir);
    return zl_io_write_atomic(p, json, strlen(json));
}

/* A config without model_type over electra.-named (or electra/-named) tensors loads as
 * ELECTRA, with a note; an explicit "bert" is kept (and then the tensors are missing). */
static void check_electra_from_names(const char *dir, const zl_bert *m, const char *kind)
{
    CHECK(write_config(dir, "{" ELECTRA_KEYS) == 0);
    zl_bert *r = zl_bert_load(dir);
    CHECK(r != NULL);
    if (!r) {
        fprintf(stderr, "  %s: %s\n", kind, zl_error_get());
        return;
    }
    CHECK(strcmp(r->config.model_type, "electra") == 0);
    CHECK(r->config.model_type_origin == ZL_MODEL_TYPE_FROM_NAMES);
    const char *note = zl_bert_model_type_note(&r->config);
    CHECK(note && strstr(note, "no model_type") && strstr(note, "electra"));
    CHECK(r->params.count == m->params.count &&
          memcmp(r->params.memory, m->params.memory, (size_t)m->params.count * 4) == 0);
    zl_bert_free(r);
    CHECK(write_config(dir, "{\"model_type\": \"bert\", " ELECTRA_KEYS) == 0);
    r = zl_bert_load(dir);
    CHECK(r == NULL && strstr(zl_error_get(), "bert") && strstr(zl_error_get(), "is missing"));
    zl_bert_free(r);
    /* the config zl_bert_save wrote (model_type, and the GELU form) */
    char *json = zl_bert_config_to_json(&m->config);
    CHECK(json && write_config(dir, json) == 0);
    free(json);
    r = zl_bert_load(dir);
    CHECK(r && r->config.model_type_origin == ZL_MODEL_TYPE_FROM_CONFIG &&
          zl_bert_model_type_note(&r->config) == NULL);
    zl_bert_free(r);
}

/* ELECTRA: electra. prefix, embeddings_project [H, E], TF names, save/load, and the
 * prefix read from the names when the config has no model_type. */
static void test_electra(void)
{
    zl_bert_config c;
    CHECK(zl_bert_config_parse(&c, "electra.json", "{\"model_type\": \"electra\", " ELECTRA_KEYS) == 0);
    CHECK(zl_bert_config_has_projection(&c));
    zl_bert *m = zl_bert_new(&c);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(zl_bert_init_random(m, 11) == 0);
    for (int i = 0; i < 16; i++) m->params.emb_ln_b[i] = 0.01f * (float)i;
    for (int i = 0; i < 32; i++) m->params.proj_b[i] = 0.1f;
    int k = zl_bert_param_find(&c, "electra.embeddings_project.weight");
    zl_bert_param_info info;
    CHECK(k == 5 && zl_bert_param_info_at(&c, &m->params, k, &info) == 0);
    CHECK(info.shape[0] == 32 && info.shape[1] == 16 && info.data == m->params.proj_w);
    CHECK(zl_bert_param_count(&c) == 5 + 2 + 16 + 2);
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &c, B, S, 0) == 0);
    CHECK(run(m, &a, ZL_ZONE_P2Q, 0, NULL, NULL) == 0);
    /* hidden[0] of token (0, 0) by hand: LN(word + pos + type) Wproj^T + bproj */
    float e[16], y[16];
    int id = ids[0], tt = types[0];
    double mean = 0, var = 0;
    for (int i = 0; i < 16; i++) {
        e[i] = m->params.word_emb[id * 16 + i] + m->params.pos_emb[i] + m->params.type_emb[tt * 16 + i];
        mean += e[i];
    }
    mean /= 16;
    for (int i = 0; i < 16; i++) var += (e[i] - mean) * (e[i] - mean);
    var /= 16;
    for (int i = 0; i < 16; i++) y[i] = (float)((e[i] - mean) / sqrt(var + 1e-12)) + m->params.emb_ln_b[i];
    double err = 0;
    for (int o = 0; o < 32; o++) {
        double h = m->params.proj_b[o];
        for (int i = 0; i < 16; i++) h += (double)m->params.proj_w[o * 16 + i] * y[i];
        err = fmax(err, fabs(h - a.hidden[o]));
    }
    CHECK(err < 1e-5);
    float logits[B * S];
    memcpy(logits, a.start_logits, sizeof logits);
    char dir[] = "/tmp/zl_test_electra_XXXXXX", p[512];
    CHECK(mkdtemp(dir) != NULL);
    CHECK(zl_bert_save(m, dir) == 0);
    zl_bert *r = zl_bert_load(dir);
    CHECK(r && strcmp(r->config.model_type, "electra") == 0 && r->config.embedding_size == 16);
    CHECK(r && r->params.count == m->params.count &&
          memcmp(r->params.memory, m->params.memory, (size_t)m->params.count * 4) == 0);
    zl_bert_free(r);
    check_electra_from_names(dir, m, "safetensors");
    zl_tensor_map *tf = zl_checkpoint_to_map(m, 1);
    CHECK(tf && zl_tensor_map_find(tf, "electra/embeddings_project/kernel") != NULL);
    CHECK(tf && zl_tensor_map_find(tf, "electra/encoder/layer_0/output/LayerNorm/gamma") != NULL);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK(remove(p) == 0);
    snprintf(p, sizeof p, "%s/model.ckpt", dir);
    CHECK(zl_tfckpt_save(p, tf) == 0);
    zl_tensor_map_free(tf);
    r = zl_bert_load(dir);
    CHECK(r != NULL);
    if (r) {
        CHECK(memcmp(r->params.memory, m->params.memory, (size_t)m->params.count * 4) == 0);
        CHECK(run(r, &a, ZL_ZONE_P2Q, 0, NULL, NULL) == 0);
        CHECK(max_abs_diff(logits, a.start_logits, B * S) == 0.0);
    }
    zl_bert_free(r);
    check_electra_from_names(dir, m, "TF checkpoint");
    snprintf(p, sizeof p, "rm -rf %s", dir);
    CHECK(system(p) == 0);
    zl_bert_acts_free(&a);
    zl_bert_free(m);
}

/* The real Chinese BERT-base index (no data file): every TF name and shape we expect. */
static void test_real_index(void)
{
    char real[512], cfg[600], idx[600];
    if (!zl_test_real(real, sizeof real, "real TF index", "tf_chinese_bert/bert_config.json")) return;
    snprintf(cfg, sizeof cfg, "%s/tf_chinese_bert/bert_config.json", real);
    snprintf(idx, sizeof idx, "%s/tf_chinese_bert/bert_model.ckpt", real);
    zl_bert_config c;
    CHECK(zl_bert_config_load(&c, cfg) == 0);
    CHECK(c.vocab_size == 21128 && c.num_hidden_layers == 12 && c.embedding_size == 768);
    zl_tensor_map *map = zl_tfckpt_load(idx, 0);
    CHECK(map != NULL);
    if (!map) return;
    int has_qa = -1;
    CHECK(zl_checkpoint_verify(&c, map, 1, idx, &has_qa) == 0);
    CHECK(has_qa == 0); /* pre-trained: no SQuAD head */
    CHECK(zl_checkpoint_verify(&c, map, 0, idx, NULL) == -1); /* HF names are not there */
    c.intermediate_size = 3000;
    CHECK(zl_checkpoint_verify(&c, map, 1, idx, NULL) == -1);
    CHECK(strstr(zl_error_get(), "bert/encoder/layer_0/intermediate/dense/kernel has shape [768,3072], "
                                 "expected [768,3000]") != NULL);
    zl_tensor_map_free(map);
}

/* Masked keys (padding; a zone's columns) get probability exactly 0, and rows sum to 1:
 * softmax_row writes 0 where expf would underflow, without libm's slow path. */
static void test_masked_softmax(const zl_bert *m)
{
    int L = m->config.num_hidden_layers, NH = m->config.num_attention_heads;
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, B, S, 0) == 0);
    float *att = malloc((size_t)L * B * NH * S * S * sizeof(float));
    CHECK(att != NULL);
    if (!att) { zl_bert_acts_free(&a); return; }
    for (int zc = 0; zc < 2; zc++) {
        zl_zone z = zc ? ZL_ZONE_P2Q : ZL_ZONE_NONE;
        CHECK(run(m, &a, z, zc ? 0 : -1, att, NULL) == 0);
        long masked = 0, nonzero = 0, badsum = 0;
        for (int l = 0; l < L; l++)
            for (int b = 0; b < B; b++)
                for (int h = 0; h < NH; h++)
                    for (int f = 0; f < S; f++) {
                        const float *row = att + ((((size_t)l * B + b) * NH + h) * S + f) * S;
                        double sum = 0.0;
                        for (int t = 0; t < S; t++) {
                            int cut = !imask[b * S + t] ||
                                      (zc && l == 0 && !qm[b * S + f] && qm[b * S + t]);
                            if (cut) {
                                masked++;
                                nonzero += row[t] != 0.0f;
                            }
                            sum += row[t];
                        }
                        badsum += fabs(sum - 1.0) > 1e-5;
                    }
        CHECK(masked > 0);
        CHECK(nonzero == 0);
        CHECK(badsum == 0);
    }
    free(att);
    zl_bert_acts_free(&a);
}

int main(void)
{
    size_t n = (size_t)B * S;
    ids = read_i32("input_ids", n);
    types = read_i32("token_type_ids", n);
    imask = read_i32("input_mask", n);
    qm = read_i32("qmask", n);
    pm = read_i32("pmask", n);
    spos = read_i32("start_positions", B);
    epos = read_i32("end_positions", B);
    if (!ids || !types || !imask || !qm || !pm || !spos || !epos) {
        fprintf(stderr, "cannot read fixture inputs: %s\n", zl_error_get());
        return 1;
    }
    inputs = (zl_bert_inputs){B, S, ids, types, imask, qm, pm};
    zl_bert *m = zl_bert_load(FIX);
    CHECK(m != NULL);
    if (m) {
        test_golden(m);
        test_half();
        test_zone_rows(m);
        test_all_unpadded(m);
        test_threads(m);
        test_inference_layout(m);
        test_start_layer(m);
        test_general_mask(m);
        test_errors(m);
        test_param_names(m);
        test_files(m);
        test_electra();
        test_training_acts(m);
        test_real_index();
        test_masked_softmax(m);
        zl_bert_free(m);
    }
    free(ids); free(types); free(imask); free(qm); free(pm); free(spos); free(epos);
    return zl_test_summary("test_bert");
}
