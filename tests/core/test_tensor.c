/* test_tensor.c — tensors, the seeded generator, sgemm with transposes, threads. */
#include "error.h"
#include "tensor.h"
#include "zl_test.h"

#include <string.h>

static void test_basics(void)
{
    int64_t s23[2] = {2, 3};
    zl_tensor *a = zl_tensor_new(ZL_F32, 2, s23);
    CHECK(a && a->numel == 6 && a->owns);
    for (int i = 0; i < 6; i++) CHECK(ZL_F32P(a)[i] == 0.0f);
    zl_tensor_fill(a, 2.5);
    CHECK(zl_tensor_getf(a, 5) == 2.5);
    int64_t idx[2] = {1, 2};
    CHECK(zl_tensor_offset(a, 2, idx) == 5);
    int64_t bad[2] = {2, 0};
    CHECK(zl_tensor_offset(a, 2, bad) == -1);
    CHECK(strstr(zl_error_get(), "out of range") != NULL);
    zl_tensor_setf(a, 4, -1.0);
    zl_tensor *v = zl_tensor_view(a, 1, 1);
    CHECK(v && v->shape[0] == 1 && v->shape[1] == 3 && !v->owns);
    CHECK(ZL_F32P(v)[1] == -1.0f); /* element [1,1] is flat 4 */
    CHECK(zl_tensor_view(a, 1, 2) == NULL);
    int64_t s6[1] = {6}, s4[1] = {4};
    CHECK(zl_tensor_reshape(a, 1, s6) == 0 && a->ndim == 1);
    CHECK(zl_tensor_reshape(a, 1, s4) == -1);
    zl_tensor *c = zl_tensor_clone(a);
    CHECK(c && c->data != a->data && ZL_F32P(c)[4] == -1.0f);
    zl_tensor *i32 = zl_tensor_new(ZL_I32, 1, s6);
    CHECK(zl_tensor_copy(i32, a) == -1); /* dtype mismatch */
    zl_tensor_setf(i32, 0, 7);
    CHECK(ZL_I32P(i32)[0] == 7 && zl_tensor_getf(i32, 0) == 7.0);
    char desc[64];
    zl_tensor_describe(c, desc, sizeof desc);
    CHECK(strcmp(desc, "tensor f32 [6]") == 0);
    int64_t neg[2] = {2, -1};
    CHECK(zl_tensor_new(ZL_F32, 2, neg) == NULL);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    CHECK(zl_tensor_new(ZL_F32, 3, huge) == NULL);
    CHECK(strstr(zl_error_get(), "overflow") != NULL);
    zl_tensor_free(v);
    zl_tensor_free(a);
    zl_tensor_free(c);
    zl_tensor_free(i32);
}

static void test_rng(void)
{
    /* Pinned: the same seed gives these numbers on every machine. */
    zl_rng r;
    zl_rng_seed(&r, 42);
    CHECK(zl_rng_next(&r) == 1546998764402558742ULL);
    CHECK(zl_rng_next(&r) == 6990951692964543102ULL);
    CHECK(zl_rng_next(&r) == 12544586762248559009ULL);
    zl_rng_seed(&r, 1);
    CHECK_NEAR(zl_rng_normal(&r), 1.8843961047879769, 1e-15);
    CHECK_NEAR(zl_rng_normal(&r), 1.302090250702661, 1e-15);
    int64_t s[1] = {4};
    zl_tensor *t = zl_tensor_new(ZL_F32, 1, s);
    zl_tensor_randn(t, 7, 1.0);
    CHECK(ZL_F32P(t)[0] == 0.964361846f);
    CHECK(ZL_F32P(t)[3] == -1.70101905f);
    /* Moments of a large draw. */
    int64_t big[1] = {200000};
    zl_tensor *b = zl_tensor_new(ZL_F32, 1, big);
    zl_tensor_randn(b, 3, 2.0);
    double m = 0, v = 0;
    for (int i = 0; i < 200000; i++) m += ZL_F32P(b)[i];
    m /= 200000;
    for (int i = 0; i < 200000; i++) v += (ZL_F32P(b)[i] - m) * (ZL_F32P(b)[i] - m);
    v /= 200000;
    CHECK_NEAR(m, 0.0, 0.02);
    CHECK_NEAR(v, 4.0, 0.05);
    zl_tensor_free(t);
    zl_tensor_free(b);
}

static void test_sgemm(void)
{
    /* A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[1,1]] (3x2): A B = [[4,5],[10,11]] */
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, C[4];
    zl_sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    CHECK(C[0] == 4 && C[1] == 5 && C[2] == 10 && C[3] == 11);
    /* A^T A (3x3): [[17,22,27],[22,29,36],[27,36,45]] */
    float D[9];
    zl_sgemm(1, 0, 3, 3, 2, 1.0f, A, 3, A, 3, 0.0f, D, 3);
    CHECK(D[0] == 17 && D[1] == 22 && D[4] == 29 && D[8] == 45);
    /* A A^T (2x2): [[14,32],[32,77]], accumulated onto C with beta 1 */
    float E[4] = {1, 1, 1, 1};
    zl_sgemm(0, 1, 2, 2, 3, 1.0f, A, 3, A, 3, 1.0f, E, 2);
    CHECK(E[0] == 15 && E[1] == 33 && E[2] == 33 && E[3] == 78);
    /* B^T A^T = (A B)^T */
    float F[4];
    zl_sgemm(1, 1, 2, 2, 3, 1.0f, B, 2, A, 3, 0.0f, F, 2);
    CHECK(F[0] == 4 && F[1] == 10 && F[2] == 5 && F[3] == 11);
    /* K = 0 scales C by beta */
    float G[2] = {3, 4};
    zl_sgemm(0, 0, 1, 2, 0, 1.0f, A, 1, B, 2, 0.5f, G, 2);
    CHECK(G[0] == 1.5f && G[1] == 2.0f);
    /* tensor wrapper with transposes and shape errors */
    int64_t sa[2] = {2, 3}, sb[2] = {3, 2};
    zl_tensor *ta = zl_tensor_wrap(ZL_F32, 2, sa, A), *tb = zl_tensor_wrap(ZL_F32, 2, sb, B);
    zl_tensor *tc = zl_tensor_matmul(NULL, ta, tb, 0, 0);
    CHECK(tc && tc->shape[0] == 2 && tc->shape[1] == 2 && ZL_F32P(tc)[3] == 11);
    zl_tensor *tt = zl_tensor_matmul(NULL, ta, ta, 0, 1);
    CHECK(tt && ZL_F32P(tt)[1] == 32);
    CHECK(zl_tensor_matmul(NULL, ta, ta, 0, 0) == NULL);
    CHECK(strstr(zl_error_get(), "inner dimensions") != NULL);
    zl_tensor_free(ta); zl_tensor_free(tb); zl_tensor_free(tc); zl_tensor_free(tt);
}

static void test_threads(void)
{
    CHECK(zl_set_threads(0) == -1);
    CHECK(zl_set_threads(2) == 0 && zl_get_threads() == 2);
    /* A product large enough to be threaded gives the same result with 1 and 2 threads. */
    int64_t s[2] = {192, 256};
    zl_tensor *a = zl_tensor_new(ZL_F32, 2, s);
    zl_tensor_randn(a, 5, 1.0);
    zl_tensor *c2 = zl_tensor_matmul(NULL, a, a, 0, 1);
    zl_set_threads(1);
    zl_tensor *c1 = zl_tensor_matmul(NULL, a, a, 0, 1);
    double md = 0;
    for (int64_t i = 0; i < c1->numel; i++) {
        double d = fabs(ZL_F32P(c1)[i] - ZL_F32P(c2)[i]);
        if (d > md) md = d;
    }
    CHECK(md < 1e-3);
    zl_tensor_free(a); zl_tensor_free(c1); zl_tensor_free(c2);
}

int main(void)
{
    test_basics();
    test_rng();
    test_sgemm();
    test_threads();
    return zl_test_summary("test_tensor");
}
