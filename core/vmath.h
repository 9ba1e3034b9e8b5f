/* vmath.h — elementwise exp and erf over float arrays for the forward's hot loops (the
 * attention softmax and the GELU). Owns the choice of implementation: glibc's vector math
 * library (libmvec: double lanes rounded once to float; its AVX-512 variants when the CPU
 * has AVX-512F, its AVX2 ones when it has AVX2 and FMA, its SSE ones otherwise) where the build found it, libm's expf/erff
 * otherwise.
 *
 * Accuracy, measured (tests/core/test_vmath.c): 0.5 ulp for both (libm's expf 0.5, erff
 * 0.9). An element's result depends only on its value, never on its neighbours or its
 * position in the array, so a row's bits do not depend on the batch it sits in.
 */
#ifndef ZL_VMATH_H
#define ZL_VMATH_H

#include <stdint.h>

/* y[i] = exp(x[i]) for i < n; y may equal x. Below -104 the result is exactly 0 (libm's
 * float result there), without libm's slow underflow path. */
void zl_vmath_exp(float *y, const float *x, int64_t n);

/* y[i] = erf(x[i]) for i < n; y may equal x. */
void zl_vmath_erf(float *y, const float *x, int64_t n);

/* "libmvec avx512", "libmvec avx2", "libmvec sse" or "libm": what this build uses on this
 * CPU. */
const char *zl_vmath_backend(void);

#endif
