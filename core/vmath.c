/* vmath.c — see vmath.h. */
#include "vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef ZL_HAVE_MVEC
#include <immintrin.h>
#include <stdatomic.h>
/* glibc's SSE variants (x86-64 vector ABI, 2 double lanes): callable on every x86-64 CPU;
   glibc picks its SSE4.1 or SSE2 code at load time. */
extern __m128d _ZGVbN2v_exp(__m128d);
extern __m128d _ZGVbN2v_erf(__m128d);
/* the AVX2 variants (4 double lanes), used when the CPU has AVX2 and FMA: twice as fast */
extern __m256d _ZGVdN4v_exp(__m256d);
extern __m256d _ZGVdN4v_erf(__m256d);

/* m <= 4 floats in the low lanes, zeros above */
static __m128 load(const float *x, int m)
{
    if (m == 4) return _mm_loadu_ps(x);
    float in[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(in, x, (size_t)m * sizeof(float));
    return _mm_loadu_ps(in);
}

static void store(float *y, __m128 v, int m)
{
    if (m == 4) {
        _mm_storeu_ps(y, v);
        return;
    }
    float out[4];
    _mm_storeu_ps(out, v);
    memcpy(y, out, (size_t)m * sizeof(float));
}

/* f of 4 float lanes through 2 + 2 double lanes, rounded once to float: 0.5 ulp, where
   libmvec's float variants are 2-3 ulp (libm's expf, erff: 0.5, 0.9). The GELU's gradient
   check (finite differences of the float forward, tests/core/test_backward.c) fails with
   the float variants' noise. */
static __m128 double_lanes(__m128d (*f)(__m128d), __m128 v)
{
    __m128d lo = f(_mm_cvtps_pd(v)), hi = f(_mm_cvtps_pd(_mm_movehl_ps(v, v)));
    return _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi));
}

__attribute__((target("avx2,fma"))) static __m128 avx2_exp(__m128 v)
{
    return _mm256_cvtpd_ps(_ZGVdN4v_exp(_mm256_cvtps_pd(v)));
}

__attribute__((target("avx2,fma"))) static __m128 avx2_erf(__m128 v)
{
    return _mm256_cvtpd_ps(_ZGVdN4v_erf(_mm256_cvtps_pd(v)));
}

static __m128 sse_exp(__m128 v) { return double_lanes(_ZGVbN2v_exp, v); }
static __m128 sse_erf(__m128 v) { return double_lanes(_ZGVbN2v_erf, v); }

static int use_avx2(void)
{
    /* decided by the first call of any thread (they all compute the same value); an atomic,
       as OpenMP threads read and write it concurrently */
    static atomic_int avx2 = -1;
    int v = atomic_load_explicit(&avx2, memory_order_relaxed);
    if (v < 0) {
        /* ZONELAB_VMATH=sse: the SSE variants on any CPU (their test; other machines' bits) */
        const char *e = getenv("ZONELAB_VMATH");
        __builtin_cpu_init();
        v = !(e && strcmp(e, "sse") == 0) && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma");
        atomic_store_explicit(&avx2, v, memory_order_relaxed);
    }
    return v;
}

/* Below -104 exp's float result is 0 (libm's too) and beyond 100 it overflows to inf
   either way: such lanes are clamped first, so the vector call never takes its slow path
   for masked scores (-10000). NaN compares false and goes through unchanged. */
/* inline: each caller below gets its own loop with a direct call to its variant */
static inline void exp_run(float *y, const float *x, int64_t n, __m128 (*f)(__m128))
{
    const __m128 lo = _mm_set1_ps(-104.0f), hi = _mm_set1_ps(100.0f);
    for (int64_t i = 0; i < n; i += 4) {
        int m = n - i < 4 ? (int)(n - i) : 4;
        __m128 v = load(x + i, m);
        __m128 under = _mm_cmplt_ps(v, lo), over = _mm_cmpgt_ps(v, hi);
        v = _mm_or_ps(_mm_and_ps(under, lo), _mm_andnot_ps(under, v));
        v = _mm_or_ps(_mm_and_ps(over, hi), _mm_andnot_ps(over, v));
        store(y + i, _mm_andnot_ps(under, f(v)), m);
    }
}

static inline void erf_run(float *y, const float *x, int64_t n, __m128 (*f)(__m128))
{
    for (int64_t i = 0; i < n; i += 4) {
        int m = n - i < 4 ? (int)(n - i) : 4;
        store(y + i, f(load(x + i, m)), m);
    }
}
#endif

void zl_vmath_exp(float *y, const float *x, int64_t n)
{
#ifdef ZL_HAVE_MVEC
    if (use_avx2()) exp_run(y, x, n, avx2_exp);
    else exp_run(y, x, n, sse_exp);
#else
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < -104.0f ? 0.0f : expf(x[i]);
#endif
}

void zl_vmath_erf(float *y, const float *x, int64_t n)
{
#ifdef ZL_HAVE_MVEC
    if (use_avx2()) erf_run(y, x, n, avx2_erf);
    else erf_run(y, x, n, sse_erf);
#else
    for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
#endif
}

const char *zl_vmath_backend(void)
{
#ifdef ZL_HAVE_MVEC
    return use_avx2() ? "libmvec avx2" : "libmvec sse";
#else
    return "libm";
#endif
}
