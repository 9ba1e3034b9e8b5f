/* test_vmath.c — the forward's vector exp and erf: accuracy against double precision over
 * the ranges the softmax and the GELU see, the edge values (masked scores, overflow,
 * infinities, NaN), and that an element's result does not depend on its position or on
 * the length of the array (a row's bits must not depend on its batch). */
#include "vmath.h"
#include "zl_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* distance in units in the last place of want (as a float) */
static double ulps(float got, double want)
{
    float w = (float)fabs(want);
    double u = (double)nextafterf(w, INFINITY) - (double)w;
    return fabs((double)got - want) / u;
}

/* libmvec's double lanes round once: 0.5 ulp; the libm fallback (erff) is within 1 */
static double bound(void)
{
    return strncmp(zl_vmath_backend(), "libmvec", 7) == 0 ? 0.501 : 1.0;
}

/* The worst error in ulp of f at N points spread over [lo, hi], against ref in double;
 * results below `denormal` are checked within 1e-44 instead (denormal results). */
static double worst_ulps(void (*f)(float *, const float *, int64_t), double (*ref)(double),
                         float lo, float hi, float denormal)
{
    enum { N = 200001 };
    static float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = lo + (hi - lo) * (float)i / (N - 1);
    f(y, x, N);
    double worst = 0.0;
    int far = 0;
    for (int i = 0; i < N; i++) {
        if (x[i] < denormal) {
            far += fabs(y[i] - ref((double)x[i])) >= 1e-44;
            continue;
        }
        double u = ulps(y[i], ref((double)x[i]));
        if (u > worst) worst = u;
    }
    CHECK(far == 0);
    return worst;
}

static void test_exp(void)
{
    /* the softmax's arguments: score - max, in [-100, 0]; a little above 0 too */
    double worst = worst_ulps(zl_vmath_exp, exp, -100.0f, 10.0f, -87.0f);
    printf("exp (%s): worst %.2f ulp over [-87, 10]\n", zl_vmath_backend(), worst);
    CHECK(worst <= bound());
    /* masked scores give exactly 0, as libm's expf does */
    float e[] = {-10000.0f, -104.5f, -1e30f, -INFINITY, 0.0f, 89.0f, INFINITY, NAN, -100.0f, 1.0f};
    float r[10];
    zl_vmath_exp(r, e, 10);
    for (int i = 0; i < 4; i++) CHECK(r[i] == 0.0f && !signbit(r[i]));
    CHECK(r[4] == 1.0f);
    CHECK(isinf(r[5]) && r[5] > 0 && isinf(r[6]));
    CHECK(isnan(r[7]));
    CHECK(r[8] > 0.0f && r[8] == expf(-100.0f)); /* a denormal, as libm rounds it */
    CHECK(fabs(r[9] - 2.718281828) < 3e-7);
    /* in place */
    float inplace[3] = {0.0f, -1.0f, 2.0f};
    zl_vmath_exp(inplace, inplace, 3);
    CHECK(inplace[0] == 1.0f && fabs(inplace[1] - 0.36787944) < 1e-7 && fabs(inplace[2] - 7.3890561) < 1e-6);
}

static void test_erf(void)
{
    /* the GELU's arguments x / sqrt(2), and the tails where erf is +-1 */
    double worst = worst_ulps(zl_vmath_erf, erf, -6.0f, 6.0f, -INFINITY);
    printf("erf (%s): worst %.2f ulp over [-6, 6]\n", zl_vmath_backend(), worst);
    CHECK(worst <= bound());
    float e[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 10.0f, 1e-20f};
    float r[7];
    zl_vmath_erf(r, e, 7);
    CHECK(r[0] == 0.0f && !signbit(r[0]));
    CHECK(r[1] == 0.0f && signbit(r[1]));
    CHECK(r[2] == 1.0f && r[3] == -1.0f);
    CHECK(isnan(r[4]));
    CHECK(r[5] == 1.0f);
    CHECK(fabs(r[6] - 1.1283791670955126e-20) < 1e-26);
}

/* the same value at every position of arrays of every length up to 9: the same bits */
static void test_positions(void)
{
    const float vals[] = {-3.7f, -0.25f, 0.0f, 0.8f, 2.9f, -95.0f, -10000.0f};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        float one_e, one_f, v = vals[k];
        zl_vmath_exp(&one_e, &v, 1);
        zl_vmath_erf(&one_f, &v, 1);
        int same = 1;
        for (int n = 1; n <= 9; n++)
            for (int p = 0; p < n; p++) {
                float a[9], ye[9], yf[9];
                for (int i = 0; i < n; i++) a[i] = i == p ? v : 0.37f * (float)(i + 1) - 1.5f;
                a[(p + 1) % n] = n > 1 ? -200.0f : a[(p + 1) % n]; /* an odd lane beside it */
                zl_vmath_exp(ye, a, n);
                zl_vmath_erf(yf, a, n);
                if (memcmp(&ye[p], &one_e, sizeof(float)) || memcmp(&yf[p], &one_f, sizeof(float)))
                    same = 0;
            }
        CHECK(same);
    }
}

int main(void)
{
    test_exp();
    test_erf();
    test_positions();
    return zl_test_summary("test_vmath");
}
