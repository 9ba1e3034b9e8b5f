/* test_strict.c — no silent wrong results and no quadratic hang on bad input (issue 16,
 * sections 5 and 6): JSON duplicate keys and refused values, safetensors duplicates and
 * overlaps hidden by empty tensors, non-finite weights and logits, CMRC's longest common
 * substring against the reference's quadratic find_lcs, the max-context flags against
 * the reference's per-token rescan, and the epoch shuffle kept identical after its move
 * into core/trainer.c. */
#include "zl_test.h"

#include "bert.h"
#include "checkpoint.h"
#include "error.h"
#include "io.h"
#include "json.h"
#include "metrics.h"
#include "squad.h"
#include "tensor.h"
#include "tokenizer.h"
#include "trainer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int has(const char *msg, const char *part)
{
    if (strstr(msg, part)) return 1;
    fprintf(stderr, "  expected '%s' in: %s\n", part, msg);
    return 0;
}

/* ---- JSON ---- */

static cJSON *parse(const char *s)
{
    zl_error_clear();
    return zl_json_parse("t.json", s, strlen(s));
}

static void refused(const char *json, const char *part)
{
    cJSON *r = parse(json);
    CHECK(r == NULL);
    cJSON_Delete(r);
    CHECK(has(zl_error_get(), part));
}

static void test_json(void)
{
    /* a repeated key takes the last value, in the first one's place (Python's dict) */
    cJSON *r = parse("{\"x\": 1, \"a\": 2, \"y\": 3, \"a\": 4, \"a\": {\"b\": 1, \"b\": [5, 6]}}");
    CHECK(r != NULL);
    if (r) {
        CHECK(cJSON_GetArraySize(r) == 3);
        const char *order[] = {"x", "a", "y"};
        int i = 0;
        for (cJSON *c = r->child; c && i < 3; c = c->next, i++) CHECK(strcmp(c->string, order[i]) == 0);
        cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "a");
        CHECK(cJSON_IsObject(a) && cJSON_GetArraySize(a) == 1);
        cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "b");
        CHECK(cJSON_IsArray(b) && cJSON_GetArraySize(b) == 2);
        CHECK(r->child->prev == r->child->next->next); /* the list stays well formed */
    }
    cJSON_Delete(r);
    /* a second "context" is the one a SQuAD reader sees, as with json.load */
    r = parse("[{\"context\": \"first\", \"qas\": [], \"context\": \"second\"}]");
    CHECK(r && strcmp(cJSON_GetObjectItemCaseSensitive(r->child, "context")->valuestring, "second") == 0);
    cJSON_Delete(r);
    /* many keys, all repeated: n log n, the last values kept */
    {
        size_t n = 40000, cap = n * 24 + 16, o = 0;
        char *big = malloc(cap);
        o += (size_t)snprintf(big + o, cap - o, "{");
        for (size_t k = 0; k < n; k++)
            o += (size_t)snprintf(big + o, cap - o, "%s\"k%zu\": %zu", k ? "," : "", k % (n / 2), k);
        snprintf(big + o, cap - o, "}");
        double t0 = now();
        r = parse(big);
        CHECK(now() - t0 < 2.0);
        CHECK(r && cJSON_GetArraySize(r) == (int)(n / 2));
        CHECK(r && cJSON_GetObjectItemCaseSensitive(r, "k7")->valuedouble == n / 2 + 7);
        CHECK(r && strcmp(r->child->string, "k0") == 0);
        cJSON_Delete(r);
        free(big);
    }
    /* formats that refuse duplicates see both */
    r = zl_json_parse_keep_duplicates("h", "{\"a\": 1, \"a\": 2}", 16);
    CHECK(r && cJSON_GetArraySize(r) == 2);
    cJSON_Delete(r);

    /* refused, saying which */
    refused("{\"a\": NaN}", "NaN at line 1 (byte 7)");
    refused("[1,\n Infinity]", "Infinity at line 2 (byte 6)");
    refused("[-Infinity]", "-Infinity at line 1 (byte 2)");
    refused("{\"a\": \"x\\u0000y\"}", "\\u0000 (a NUL character) in a string at line 1 (byte 9)");
    refused("[\"\\ud800\"]", "lone surrogate \\ud800");
    refused("[\"\\uDC01 tail\"]", "lone surrogate \\uDC01");
    refused("[\"\\ud83d\\u0041\"]", "lone surrogate \\ud83d");
    refused("[\"\\ud83dx\"]", "lone surrogate");
    refused("[\"end \\ud83d\"]", "lone surrogate");
    /* the same words inside strings, and a valid pair, are fine */
    r = parse("{\"NaN\": \"Infinity -Infinity\", \"e\": \"\\ud83d\\ude00\", \"n\": null}");
    CHECK(r != NULL);
    if (r) CHECK(strcmp(cJSON_GetObjectItemCaseSensitive(r, "e")->valuestring, "\xf0\x9f\x98\x80") == 0);
    cJSON_Delete(r);
}

/* ---- safetensors ---- */

static zl_tensor_map *st(const char *hdr, size_t data_bytes)
{
    size_t hl = strlen(hdr), n = 8 + hl + data_bytes;
    unsigned char *buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    zl_error_clear();
    zl_tensor_map *m = zl_safetensors_parse("t.safetensors", buf, n, 1);
    free(buf);
    return m;
}

static void test_safetensors(void)
{
    /* an empty tensor between two overlapping ones does not hide the overlap */
    zl_tensor_map *m = st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12);
    CHECK(m == NULL);
    CHECK(has(zl_error_get(), "tensors a and b overlap"));
    zl_tensor_map_free(m);
    /* empty tensors anywhere are fine */
    m = st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12);
    CHECK(m != NULL && m->count == 4);
    zl_tensor_map_free(m);
    /* a duplicate name is a duplicate, even where its two entries overlap */
    m = st("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    CHECK(m == NULL);
    CHECK(has(zl_error_get(), "tensor name a appears twice"));
    zl_tensor_map_free(m);
}

/* ---- non-finite weights and logits ---- */

static zl_bert *tiny_model(void)
{
    zl_bert_config c;
    zl_bert_config_default(&c);
    c.vocab_size = 30;
    c.hidden_size = 16;
    c.num_hidden_layers = 3;
    c.num_attention_heads = 2;
    c.intermediate_size = 32;
    c.max_position_embeddings = 16;
    c.embedding_size = 16;
    zl_bert *m = zl_bert_new(&c);
    if (m) zl_bert_init_random(m, 7);
    return m;
}

static int forward(zl_bert *m)
{
    enum { B = 2, S = 8 };
    int32_t ids[B * S];
    for (int i = 0; i < B * S; i++) ids[i] = 1 + i % 20;
    zl_bert_acts a;
    if (zl_bert_acts_alloc(&a, &m->config, B, S, 0) != 0) return -2;
    zl_bert_inputs in = {B, S, ids, NULL, NULL, NULL, NULL};
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    zl_error_clear();
    int rc = zl_bert_forward(m, &a, &in, &o);
    zl_bert_acts_free(&a);
    return rc;
}

static void test_nonfinite(void)
{
    zl_bert *m = tiny_model(), *dst = tiny_model();
    CHECK(m && dst);
    if (!m || !dst) return;
    CHECK(forward(m) == 0);
    /* loading: the tensor and the count are named */
    int H = m->config.hidden_size;
    m->params.qw[(int64_t)H * H + 3] = NAN;          /* layer 1's query weight */
    m->params.qw[(int64_t)H * H + 5] = INFINITY;
    zl_tensor_map *map = zl_checkpoint_to_map(m, 0);
    CHECK(map != NULL);
    zl_error_clear();
    CHECK(zl_checkpoint_fill(dst, map, 0, "w.safetensors", 1) == -1);
    CHECK(has(zl_error_get(), "w.safetensors: tensor bert.encoder.layer.1.attention.self.query.weight "
                              "has 2 non-finite values"));
    zl_tensor_map_free(map);
    /* the same through a TF map (kernels transposed) */
    map = zl_checkpoint_to_map(m, 1);
    zl_error_clear();
    CHECK(zl_checkpoint_fill(dst, map, 1, "model.ckpt", 1) == -1);
    CHECK(has(zl_error_get(), "tensor bert/encoder/layer_1/attention/self/query/kernel has 2 non-finite"));
    zl_tensor_map_free(map);
    m->params.qw[(int64_t)H * H + 3] = 0.0f;
    m->params.qw[(int64_t)H * H + 5] = 0.0f;
    map = zl_checkpoint_to_map(m, 0);
    CHECK(zl_checkpoint_fill(dst, map, 0, "w.safetensors", 1) == 0);
    zl_tensor_map_free(map);

    /* the forward: a non-finite logit names the layer it came from */
    m->params.o2b[2 * H + 1] = INFINITY;             /* layer 2's output bias */
    CHECK(forward(m) == -1);
    CHECK(has(zl_error_get(), "not finite: layer 2 (0-based) of 3"));
    m->params.o2b[2 * H + 1] = 0.0f;
    m->params.ib[0] = NAN;                           /* layer 0's intermediate bias */
    CHECK(forward(m) == -1);
    CHECK(has(zl_error_get(), "layer 0 (0-based)"));
    m->params.ib[0] = 0.0f;
    m->params.word_emb[1 * m->config.embedding_size] = INFINITY;  /* token id 1 */
    CHECK(forward(m) == -1);
    CHECK(has(zl_error_get(), "the embeddings' output"));
    m->params.word_emb[1 * m->config.embedding_size] = 0.0f;
    m->params.qa_b[1] = NAN;
    CHECK(forward(m) == -1);
    CHECK(has(zl_error_get(), "the span head (qa_outputs)"));
    m->params.qa_b[1] = 0.0f;
    CHECK(forward(m) == 0);
    zl_bert_free(m);
    zl_bert_free(dst);
}

/* ---- CMRC's longest common substring ---- */

/* cmrc2018_evaluate.py's find_lcs, as the reference writes it (and zonelab did). */
static int lcs_reference(const int32_t *s1, int n1, const int32_t *s2, int n2, int *p)
{
    int *prev = calloc((size_t)n2 + 1, sizeof *prev), *cur = calloc((size_t)n2 + 1, sizeof *cur);
    int mmax = 0;
    *p = 0;
    for (int i = 0; i < n1; i++) {
        for (int j = 0; j < n2; j++) {
            cur[j + 1] = s1[i] == s2[j] ? prev[j] + 1 : 0;
            if (cur[j + 1] > mmax) {
                mmax = cur[j + 1];
                *p = i + 1;
            }
        }
        int *t = prev;
        prev = cur;
        cur = t;
    }
    free(prev);
    free(cur);
    return mmax;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_lcs(void)
{
    int32_t a[200], b[200];
    int mismatches = 0;
    for (int trial = 0; trial < 30000; trial++) {
        int alpha = 1 + (int)(rnd() % 4), na = (int)(rnd() % (trial < 20000 ? 24 : 200)),
            nb = (int)(rnd() % (trial < 20000 ? 24 : 200));
        for (int i = 0; i < na; i++) a[i] = (int32_t)(rnd() % (uint64_t)alpha) * 1000003;
        for (int i = 0; i < nb; i++) b[i] = (int32_t)(rnd() % (uint64_t)alpha) * 1000003;
        if (trial % 3 == 0 && na > 4 && nb > 4) /* plant a shared run */
            memcpy(b + rnd() % (uint64_t)(nb - 4), a + rnd() % (uint64_t)(na - 4), 4 * sizeof *a);
        int pe, fe;
        int want = lcs_reference(a, na, b, nb, &pe), got = zl_metrics_lcs(a, na, b, nb, &fe);
        if (want != got || pe != fe) {
            if (mismatches++ < 5)
                fprintf(stderr, "  lcs trial %d: reference %d ending at %d, got %d ending at %d\n",
                        trial, want, pe, got, fe);
        }
    }
    CHECK(mismatches == 0);

    /* 300k characters (one token each) score in well under a second: the reference's
       table would take minutes */
    int n = 300000, from = 1000, to = 200000;
    char *gold = malloc((size_t)n * 3 + 1), *pred = malloc((size_t)(to - from) * 3 + 1);
    for (int i = 0; i < n; i++) {
        int cp = 0x4E00 + (int)(rnd() % 50);
        gold[3 * i] = (char)(0xE0 | (cp >> 12));
        gold[3 * i + 1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        gold[3 * i + 2] = (char)(0x80 | (cp & 0x3F));
    }
    gold[3 * n] = '\0';
    memcpy(pred, gold + 3 * from, (size_t)(to - from) * 3);
    pred[(to - from) * 3] = '\0';
    const char *golds[1] = {gold};
    double t0 = now();
    double f1 = zl_metrics_f1(ZL_METRICS_CMRC, pred, golds, 1);
    double dt = now() - t0;
    double recall = (double)(to - from) / n;
    CHECK_NEAR(f1, 2 * recall / (1 + recall), 1e-12);
    CHECK(dt < 5.0);
    fprintf(stderr, "  CMRC F1 on %d characters: %.2f s\n", n, dt);
    free(gold);
    free(pred);
}

/* ---- max-context flags ---- */

static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\nb\nc\nd\nx\n";

/* The reference's _check_is_max_context for one position. */
static int is_max_reference(const int *start, const int *len, int ns, int cur, int pos)
{
    double best = 0;
    int best_i = -1;
    for (int i = 0; i < ns; i++) {
        int end = start[i] + len[i] - 1;
        if (pos < start[i] || pos > end) continue;
        int left = pos - start[i], right = end - pos;
        double score = (double)(left < right ? left : right) + 0.01 * len[i];
        if (best_i < 0 || score > best) {
            best = score;
            best_i = i;
        }
    }
    return cur == best_i;
}

/* A one-question dataset whose context is n single-token words. */
static zl_squad *long_context(int n)
{
    size_t cap = (size_t)n * 2 + 256, o = 0;
    char *json = malloc(cap);
    o += (size_t)snprintf(json + o, cap - o, "{\"data\":[{\"paragraphs\":[{\"context\":\"");
    for (int i = 0; i < n; i++) o += (size_t)snprintf(json + o, cap - o, "%s%c", i ? " " : "", "abcd"[rnd() % 4]);
    o += (size_t)snprintf(json + o, cap - o, "\",\"qas\":[{\"id\":\"q\",\"question\":\"x x\","
                          "\"answers\":[{\"text\":\"a\",\"answer_start\":0}]}]}]}]}");
    zl_squad *ds = zl_squad_parse("long.json", json, o, 0);
    free(json);
    return ds;
}

static void test_max_context(zl_tokenizer *tok)
{
    int mismatches = 0;
    int sizes[] = {1, 7, 40, 301};
    for (int si = 0; si < 4; si++) {
        zl_squad *ds = long_context(sizes[si]);
        CHECK(ds != NULL);
        for (int seq = 6; ds && seq <= 40; seq += 7)
            for (int stride = 1; stride <= 9; stride += 2) {
                zl_squad_feature_opts o = zl_squad_feature_defaults();
                o.max_seq_length = seq;
                o.doc_stride = stride;
                zl_squad_features *f = zl_squad_features_new(ds, tok, &o);
                CHECK(f != NULL);
                if (!f) continue;
                int ns = f->count, *start = malloc((size_t)ns * sizeof *start),
                    *len = malloc((size_t)ns * sizeof *len);
                for (int i = 0; i < ns; i++) { /* one token per word: orig is the position */
                    start[i] = f->items[i].orig[0];
                    len[i] = f->items[i].doc_len;
                }
                for (int i = 0; i < ns; i++)
                    for (int k = 0; k < len[i]; k++)
                        mismatches += f->items[i].max_ctx[k] !=
                                      is_max_reference(start, len, ns, i, start[i] + k);
                free(start);
                free(len);
                zl_squad_features_free(f);
            }
        zl_squad_free(ds);
    }
    CHECK(mismatches == 0);
    /* a 10k-word context with doc_stride 1: linear in the features' size */
    zl_squad *ds = long_context(10000);
    zl_squad_feature_opts o = zl_squad_feature_defaults();
    o.doc_stride = 1;
    double t0 = now();
    zl_squad_features *f = ds ? zl_squad_features_new(ds, tok, &o) : NULL;
    double dt = now() - t0;
    CHECK(f != NULL && f->count == 10000 - (384 - 2 - 3) + 1);
    CHECK(dt < 5.0);
    fprintf(stderr, "  features of a 10k-word context, doc_stride 1: %.2f s\n", dt);
    if (f) {
        /* a middle feature: only its centre token has the most context */
        const zl_squad_feature *ft = &f->items[5000];
        int ones = 0;
        for (int k = 0; k < ft->doc_len; k++) ones += ft->max_ctx[k];
        CHECK(ones == 1 && ft->max_ctx[ft->doc_len / 2] == 1);
    }
    zl_squad_features_free(f);
    zl_squad_free(ds);
}

/* ---- the epoch shuffle, moved from lua/ltrain.c ---- */

static void test_permutation(void)
{
    for (int64_t n = 1; n <= 300; n += 37)
        for (uint64_t seed = 0; seed < 3; seed++)
            for (uint64_t epoch = 0; epoch < 3; epoch++) {
                int32_t *want = malloc((size_t)n * sizeof *want), *got = malloc((size_t)n * sizeof *got);
                for (int64_t i = 0; i < n; i++) want[i] = (int32_t)(i + 1);
                zl_rng r; /* lua/ltrain.c's l_permutation before the move */
                zl_rng_seed(&r, (uint64_t)seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)epoch + 0x632BE59BD9B4E019ull));
                for (int64_t i = n - 1; i > 0; i--) {
                    uint64_t j = zl_rng_next(&r) % (uint64_t)(i + 1);
                    int32_t t = want[i];
                    want[i] = want[j];
                    want[j] = t;
                }
                CHECK(zl_trainer_permutation(got, n, seed, epoch) == 0);
                CHECK(memcmp(want, got, (size_t)n * sizeof *got) == 0);
                free(want);
                free(got);
            }
    int32_t one;
    CHECK(zl_trainer_permutation(&one, 0, 1, 0) == -1);
}

int main(void)
{
    test_json();
    test_safetensors();
    test_nonfinite();
    test_lcs();
    zl_tokenizer_opts o = {0};
    o.lower = 1;
    zl_tokenizer *tok = zl_tokenizer_from_buffer("vocab", VOCAB, sizeof VOCAB - 1, &o);
    CHECK(tok != NULL);
    if (tok) test_max_context(tok);
    zl_tokenizer_free(tok);
    test_permutation();
    return zl_test_summary("test_strict");
}
