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

/* the AVX-512 variants (8 double lanes), when the CPU has AVX-512F: twice the AVX2 exp's
   throughput on this project's AMD EPYC (0.50 against 1.03 ns an element, erf 0.94
   against 1.09), the same bits on 10^6 random arguments */
extern __m512d _ZGVeN8v_exp(__m512d);
extern __m512d _ZGVeN8v_erf(__m512d);

static __m128 sse_exp(__m128 v) { return double_lanes(_ZGVbN2v_exp, v); }
static __m128 sse_erf(__m128 v) { return double_lanes(_ZGVbN2v_erf, v); }

enum { LANES_SSE = 0, LANES_AVX2 = 1, LANES_AVX512 = 2 };

static int lanes(void)
{
    /* decided by the first call of any thread (they all compute the same value); an atomic,
       as OpenMP threads read and write it concurrently */
    static atomic_int level = -1;
    int v = atomic_load_explicit(&level, memory_order_relaxed);
    if (v < 0) {
        /* ZONELAB_VMATH=sse or avx2: those variants on a CPU that has more (their tests;
           other machines' bits) */
        const char *e = getenv("ZONELAB_VMATH");
        __builtin_cpu_init();
        v = LANES_SSE;
        if (!(e && strcmp(e, "sse") == 0) && __builtin_cpu_supports("avx2") &&
            __builtin_cpu_supports("fma"))
            v = LANES_AVX2;
        if (v == LANES_AVX2 && !(e && strcmp(e, "avx2") == 0) &&
            __builtin_cpu_supports("avx512f"))
            v = LANES_AVX512;
        atomic_store_explicit(&level, v, memory_order_relaxed);
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

/* 8 lanes at a time; a partial tail goes through a zero-padded copy, so every element
   takes the same variant whatever its position. exp clamps as exp_run does. */
__attribute__((target("avx512f"))) static void avx512_run(float *y, const float *x, int64_t n,
                                                          int is_exp)
{
    const __m256 lo = _mm256_set1_ps(-104.0f), hi = _mm256_set1_ps(100.0f);
    for (int64_t i = 0; i < n; i += 8) {
        int m = n - i < 8 ? (int)(n - i) : 8;
        float buf[8] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
        if (m < 8) memcpy(buf, x + i, (size_t)m * sizeof(float));
        __m256 v = _mm256_loadu_ps(m < 8 ? buf : x + i), r;
        if (is_exp) {
            __m256 under = _mm256_cmp_ps(v, lo, _CMP_LT_OQ);
            /* operands in this order: max/min return the second one for a NaN, kept */
            v = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
            r = _mm256_andnot_ps(under, _mm512_cvtpd_ps(_ZGVeN8v_exp(_mm512_cvtps_pd(v))));
        } else {
            r = _mm512_cvtpd_ps(_ZGVeN8v_erf(_mm512_cvtps_pd(v)));
        }
        if (m == 8) {
            _mm256_storeu_ps(y + i, r);
        } else {
            _mm256_storeu_ps(buf, r);
            memcpy(y + i, buf, (size_t)m * sizeof(float));
        }
    }
}
#endif

#ifdef ZL_HAVE_MVEC
/* exp (is_exp) or erf of x[0..n) through the CPU's widest variant, each with its own loop */
static void mvec_run(float *y, const float *x, int64_t n, int is_exp)
{
    int v = lanes();
    if (v == LANES_AVX512) avx512_run(y, x, n, is_exp);
    else if (v == LANES_AVX2 && is_exp) exp_run(y, x, n, avx2_exp);
    else if (v == LANES_AVX2) erf_run(y, x, n, avx2_erf);
    else if (is_exp) exp_run(y, x, n, sse_exp);
    else erf_run(y, x, n, sse_erf);
}
#endif

void zl_vmath_exp(float *y, const float *x, int64_t n)
{
#ifdef ZL_HAVE_MVEC
    mvec_run(y, x, n, 1);
#else
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < -104.0f ? 0.0f : expf(x[i]);
#endif
}

void zl_vmath_erf(float *y, const float *x, int64_t n)
{
#ifdef ZL_HAVE_MVEC
    mvec_run(y, x, n, 0);
#else
    for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
#endif
}

const char *zl_vmath_backend(void)
{
#ifdef ZL_HAVE_MVEC
    static const char *const name[] = {"libmvec sse", "libmvec avx2", "libmvec avx512"};
    return name[lanes()];
#else
    return "libm";
#endif
}
