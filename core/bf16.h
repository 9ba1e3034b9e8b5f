/* bf16.h — zonelab's bf16 products for inference, on oneDNN. Owns the precision names
 * ("fp32", "bf16"), the check that this build and CPU multiply bf16 natively, the bf16
 * copies of weight matrices (round-to-nearest-even, made once, found again from the fp32
 * pointer), and the product out[M, N] = bf16(inp[M, K]) bf16(W[N, K])^T (+ bias) with fp32
 * accumulation and an fp32 result (a oneDNN matmul primitive, cached per shape).
 *
 *     if (zl_bf16_check() != 0) ...                         // one line: why not here
 *     const float *src[1] = {W}; int64_t n[1] = {(int64_t)N * K};
 *     zl_bf16_weights *w = zl_bf16_weights_new(1, src, n);  // converted once
 *     zl_bf16_linear(out, inp, zl_bf16_weights_find(w, W), bias, M, K, N);
 *     zl_bf16_weights_free(w);
 *
 * Only the products are bf16: callers keep softmax, LayerNorm, GELU, residuals and logits
 * in fp32 (core/bert.c: the QKV, attention-output and feed-forward products of inference).
 *
 * Threads: zl_bf16_linear runs on the calling thread only (oneDNN's OpenMP threads stay
 * off): callers split rows over zonelab's own team (zl_set_threads), as zl_sgemm's callers
 * do. A row's result does not depend on how many rows the call has (oneDNN's brgemm
 * reduces K in the same order for every row block; tests/core/test_bf16.c checks it), so
 * a sweep's row subsets give the bits of whole passes. Primitives are cached per (M, K, N,
 * bias) in a bounded, locked cache shared by all threads; the activations' bf16 copy is a
 * per-thread buffer.
 *
 * Built without oneDNN (ZL_HAVE_DNNL undefined), everything but the names fails with one
 * line saying so. */
#ifndef ZL_BF16_H
#define ZL_BF16_H

#include <stdint.h>

enum { ZL_PRECISION_FP32 = 0, ZL_PRECISION_BF16 = 1 };

/* "fp32" | "bf16" -> ZL_PRECISION_*; -1 with an error naming the value otherwise. */
int zl_precision_parse(const char *name);
const char *zl_precision_name(int precision);

/* 0 when bf16 products run natively here (oneDNN built in, the CPU has AVX512_BF16 or AMX
 * as oneDNN sees it: DNNL_MAX_CPU_ISA=AVX2 hides them); -1 with the reason in one line. */
int zl_bf16_check(void);

/* bf16 copies of n fp32 arrays src[i] of count[i] elements. NULL with error. */
typedef struct zl_bf16_weights zl_bf16_weights;
zl_bf16_weights *zl_bf16_weights_new(int n, const float *const *src, const int64_t *count);
void zl_bf16_weights_free(zl_bf16_weights *w);
/* The bf16 copy of the element that p points at (p inside one of the src arrays), or NULL. */
const uint16_t *zl_bf16_weights_find(const zl_bf16_weights *w, const float *p);

/* fp32 -> bf16, round to nearest even (NaN stays NaN). */
uint16_t zl_bf16_round(float x);
float zl_bf16_to_float(uint16_t h);

/* out[M, N] = bf16(inp[M, K]) w[N, K]^T + bias[N] (bias may be NULL), fp32 accumulation;
 * inp rows are K apart, out rows N apart. -1 with error (a oneDNN failure, memory). */
int zl_bf16_linear(float *out, const float *inp, const uint16_t *w, const float *bias, int M,
                   int K, int N);

#endif
