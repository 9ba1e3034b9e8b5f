/* test_bf16.c — the bf16 products (core/bf16.h): precision names, round-to-nearest-even,
 * zl_bf16_linear against a double-precision product of the rounded operands, a row's bits
 * independent of the rows around it (what a sweep's row subsets rely on), and the bf16
 * forward near the fp32 one, refused for training. Where bf16 cannot run (no oneDNN, no
 * native bf16, or DNNL_MAX_CPU_ISA=AVX2: the ctest core_test_bf16_noisa) the refusal is
 * checked instead. */
#include "bert.h"
#include "bf16.h"
#include "error.h"
#include "tensor.h"
#include "zl_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static float frand(unsigned *x)
{
    *x = *x * 1664525u + 1013904223u;
    return (float)((*x >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void check_names_and_rounding(void)
{
    CHECK(zl_precision_parse("fp32") == ZL_PRECISION_FP32);
    CHECK(zl_precision_parse("bf16") == ZL_PRECISION_BF16);
    CHECK(zl_precision_parse("fp16") == -1);
    CHECK(strstr(zl_error_get(), "unknown precision 'fp16'") != NULL);
    CHECK(strcmp(zl_precision_name(ZL_PRECISION_BF16), "bf16") == 0);
    CHECK(zl_bf16_round(1.0f) == 0x3f80);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even one, 1 */
    CHECK(zl_bf16_round(1.0f + 1.0f / 256) == 0x3f80);
    /* 1 + 3 * 2^-8: halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up */
    CHECK(zl_bf16_round(1.0f + 3.0f / 256) == 0x3f82);
    CHECK(zl_bf16_round(1.0f + 1.0f / 256 + 1.0f / 65536) == 0x3f81); /* above halfway: up */
    CHECK(zl_bf16_round(-2.0f) == 0xc000);
    CHECK(zl_bf16_to_float(zl_bf16_round(3.0f)) == 3.0f);
    float nan = zl_bf16_to_float(zl_bf16_round(NAN));
    CHECK(nan != nan);
}

enum { M = 50, K = 200, N = 72 };

static void check_linear(void)
{
    static float A[M * K], W[N * K], bias[N], out[M * N], sub[M * N];
    unsigned x = 7;
    for (int i = 0; i < M * K; i++) A[i] = frand(&x);
    for (int i = 0; i < N * K; i++) W[i] = frand(&x) * 0.1f;
    for (int i = 0; i < N; i++) bias[i] = frand(&x);
    const float *src[1] = {W};
    int64_t cnt[1] = {N * K};
    zl_bf16_weights *w = zl_bf16_weights_new(1, src, cnt);
    CHECK(w != NULL);
    if (!w) return;
    CHECK(zl_bf16_weights_find(w, W + 5 * K) == zl_bf16_weights_find(w, W) + 5 * K);
    CHECK(zl_bf16_weights_find(w, A) == NULL);
    CHECK(zl_bf16_linear(out, A, zl_bf16_weights_find(w, W), bias, M, K, N) == 0);
    /* the exact product of the rounded operands (each bf16 x bf16 product is exact in fp32;
       only the order of the fp32 sums differs) */
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = bias[j], mag = fabs(bias[j]);
            for (int k = 0; k < K; k++) {
                double p = (double)zl_bf16_to_float(zl_bf16_round(A[i * K + k])) *
                           zl_bf16_to_float(zl_bf16_round(W[j * K + k]));
                s += p;
                mag += fabs(p);
            }
            double e = fabs(out[i * N + j] - s) / mag;
            if (e > worst) worst = e;
        }
    CHECK(worst < 1e-5); /* fp32 accumulation over K = 200: a few ulps of the magnitude */
    /* a row's bits do not depend on how many rows the call has or where it starts */
    static const int starts[] = {0, 3, 17, 49}, counts[] = {1, 7, 13, 1};
    for (int t = 0; t < 4; t++) {
        CHECK(zl_bf16_linear(sub, A + starts[t] * K, zl_bf16_weights_find(w, W), bias,
                             counts[t], K, N) == 0);
        CHECK(memcmp(sub, out + starts[t] * N, (size_t)counts[t] * N * sizeof(float)) == 0);
    }
    /* without a bias: the same products */
    CHECK(zl_bf16_linear(sub, A, zl_bf16_weights_find(w, W), NULL, M, K, N) == 0);
    CHECK_NEAR(sub[5 * N + 3] + bias[3], out[5 * N + 3], 1e-5);
    zl_bf16_weights_free(w);
}

static void check_forward(int native)
{
    zl_bert_config c;
    CHECK(zl_bert_config_parse(&c, "test", "{\"vocab_size\": 50, \"hidden_size\": 64, "
                               "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                               "\"intermediate_size\": 128, \"max_position_embeddings\": 32}") == 0);
    zl_bert *m = zl_bert_new(&c);
    CHECK(m && zl_bert_init_random(m, 3) == 0);
    if (!m) return;
    enum { B = 3, S = 20 };
    int32_t ids[B * S];
    for (int i = 0; i < B * S; i++) ids[i] = (i * 7) % 50;
    zl_bert_inputs in = {B, S, ids, NULL, NULL, NULL, NULL};
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &c, B, S, 0) == 0);
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    CHECK(zl_bert_forward(m, &a, &in, &o) == 0);
    float ref[B * S];
    memcpy(ref, a.start_logits, sizeof ref);
    o.precision = ZL_PRECISION_BF16;
    int rc = zl_bert_forward(m, &a, &in, &o);
    if (native) {
        CHECK(rc == 0);
        CHECK(m->bf16 != NULL); /* made once, kept beside the fp32 weights */
        double worst = 0, scale = 0;
        for (int i = 0; i < B * S; i++) {
            double e = fabs(a.start_logits[i] - ref[i]);
            worst = e > worst ? e : worst;
            scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
        }
        CHECK(worst > 0);               /* it did run in bf16 */
        CHECK(worst < 0.02 * scale);    /* and near fp32 */
        float first[B * S];
        memcpy(first, a.start_logits, sizeof first);
        CHECK(zl_bert_forward(m, &a, &in, &o) == 0);
        CHECK(memcmp(first, a.start_logits, sizeof first) == 0);
        /* two threads run products at once (two row chunks): the same bits as one thread
           (each call has its own scratchpad; oneDNN's library one is shared by threads) */
        zl_set_threads(2);
        CHECK(zl_bert_forward(m, &a, &in, &o) == 0);
        CHECK(memcmp(first, a.start_logits, sizeof first) == 0);
        zl_set_threads(1);
        /* the cache follows the parameters when told: init_random drops it */
        CHECK(zl_bert_init_random(m, 4) == 0 && m->bf16 == NULL);
        /* an uncached model converts per call: the same bits as a cached conversion */
        CHECK(zl_bert_forward(m, &a, &in, &o) == 0);
        memcpy(first, a.start_logits, sizeof first);
        zl_bert_bf16_reset(m);
        m->bf16_uncached = 1;
        CHECK(zl_bert_forward(m, &a, &in, &o) == 0 && m->bf16 == NULL);
        CHECK(memcmp(first, a.start_logits, sizeof first) == 0);
    } else {
        CHECK(rc == -1);
        CHECK(strstr(zl_error_get(), "precision bf16: ") != NULL);
    }
    zl_bert_acts_free(&a);
    /* training stays fp32 */
    CHECK(zl_bert_acts_alloc(&a, &c, B, S, ZL_BERT_ACTS_BACKWARD) == 0);
    CHECK(zl_bert_forward(m, &a, &in, &o) == -1);
    CHECK(strstr(zl_error_get(), "inference only") != NULL);
    zl_bert_acts_free(&a);
    zl_bert_free(m);
}

int main(void)
{
    zl_set_threads(1);
    check_names_and_rounding();
    const char *isa = getenv("DNNL_MAX_CPU_ISA");
    int native = zl_bf16_check() == 0;
    if (!native) {
        printf("bf16 not native here: %s\n", zl_error_get());
        CHECK(strncmp(zl_error_get(), "precision bf16: ", 16) == 0);
    }
    if (isa && strcmp(isa, "AVX2") == 0) {
        CHECK(!native); /* the forced refusal */
        CHECK(strstr(zl_error_get(), "no native bf16") != NULL || strstr(zl_error_get(), "without oneDNN"));
    }
    if (native) check_linear();
    check_forward(native);
    return zl_test_summary("test_bf16");
}
