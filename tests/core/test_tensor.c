/* test_tensor.c — tensors, the seeded generator, sgemm with transposes, threads. */
#include "error.h"
#include "tensor.h"
#include "zl_test.h"

#include <math.h>
#include <string.h>

static void test_basics(void)
{
    int64_t s23[2] = {2, 3};
    zl_tensor *a = zl_tensor_new(ZL_F32, 2, s23);
    CHECK(a && a->numel == 6 && a->storage && zl_tensor_is_contiguous(a));
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
    CHECK(v && v->shape[0] == 1 && v->shape[1] == 3 && v->storage == a->storage);
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

/* f32 tensor of the given shape holding 0, 1, 2, ... */
static zl_tensor *arange(int nd, const int64_t *shape)
{
    zl_tensor *t = zl_tensor_new(ZL_F32, nd, shape);
    for (int64_t i = 0; t && i < t->numel; i++) ZL_F32P(t)[i] = (float)i;
    return t;
}

static float at2(const zl_tensor *t, int64_t i, int64_t j)
{
    return ZL_F32P(t)[i * t->stride[0] + j * t->stride[1]];
}

static void test_ownership(void)
{
    /* a view keeps the storage alive after its parent is freed (ASan checks the read) */
    int64_t s4[1] = {4};
    zl_tensor *t = arange(1, s4);
    zl_tensor *v = zl_tensor_view(t, 1, 2);
    zl_tensor *w = zl_tensor_narrow(v, 0, 1, 1);
    zl_tensor_free(t);
    CHECK(v && ZL_F32P(v)[0] == 1.0f && ZL_F32P(v)[1] == 2.0f);
    zl_tensor_free(v);
    CHECK(w && ZL_F32P(w)[0] == 2.0f);
    zl_tensor_free(w);
    /* wrap of caller memory stays a borrower: nothing is freed with it */
    float buf[4] = {1, 2, 3, 4};
    zl_tensor *b = zl_tensor_wrap(ZL_F32, 1, s4, buf);
    zl_tensor *bv = zl_tensor_view(b, 2, 2);
    CHECK(b->storage == NULL && bv && bv->storage == NULL && ZL_F32P(bv)[0] == 3.0f);
    zl_tensor_free(b);
    zl_tensor_free(bv);
    CHECK(buf[3] == 4.0f);
    /* bounds without overflow */
    int64_t s23[2] = {2, 3};
    zl_tensor *a = arange(2, s23);
    CHECK(zl_tensor_view(a, INT64_MIN, 1) == NULL);
    CHECK(zl_tensor_view(a, 1, INT64_MAX) == NULL);
    CHECK(strstr(zl_error_get(), "outside dimension 1 of size 2") != NULL);
    zl_tensor *e = zl_tensor_narrow(a, 1, 3, 0);
    CHECK(e && e->numel == 0); /* empty at the end is fine */
    zl_tensor_free(e);
    zl_tensor_free(zl_tensor_narrow(a, 1, 3, 0));
    CHECK(zl_tensor_select(a, 0, INT64_MAX) == NULL && zl_tensor_select(a, 2, 0) == NULL);
    /* float -> int range checks */
    zl_tensor *i = zl_tensor_new(ZL_I32, 1, s4);
    CHECK(zl_tensor_fill(i, 1e300) == -1);
    CHECK(strstr(zl_error_get(), "1.0000000000000001e+300 does not fit in i32") != NULL);
    CHECK(zl_tensor_fill(i, NAN) == -1);
    CHECK(zl_tensor_fill(i, 2147483647.9) == 0 && ZL_I32P(i)[3] == 2147483647);
    CHECK(zl_tensor_fill(i, -2147483648.5) == 0 && ZL_I32P(i)[0] == INT32_MIN);
    CHECK(zl_tensor_check_value(ZL_I32, 2147483648.0) == -1);
    ZL_F32P(a)[4] = 3e9f;
    CHECK(zl_tensor_convert(a, ZL_I32) == NULL);
    CHECK(strstr(zl_error_get(), "does not fit in i32") != NULL);
    zl_tensor_free(i);
    zl_tensor_free(a);
}

static void test_views(void)
{
    int64_t s234[3] = {2, 3, 4};
    zl_tensor *a = arange(3, s234); /* a[i][j][k] = 12 i + 4 j + k */
    zl_tensor *tr = zl_tensor_transpose(a, 0, 2); /* [4, 3, 2] */
    CHECK(tr && tr->shape[0] == 4 && tr->shape[2] == 2 && !zl_tensor_is_contiguous(tr));
    int64_t idx[3] = {3, 1, 1};
    CHECK(ZL_F32P(tr)[zl_tensor_offset(tr, 3, idx)] == 12 + 4 + 3);
    CHECK(ZL_F32P(tr)[zl_tensor_flat_offset(tr, 1)] == 12); /* tr[0][0][1] = a[1][0][0] */
    zl_tensor *sel = zl_tensor_select(a, 1, 2); /* [2, 4]: a[:, 2, :] */
    CHECK(sel && sel->ndim == 2 && sel->shape[0] == 2 && sel->shape[1] == 4);
    CHECK(at2(sel, 1, 3) == 12 + 8 + 3 && !zl_tensor_is_contiguous(sel));
    zl_tensor *nar = zl_tensor_narrow(a, 2, 1, 2); /* [2, 3, 2]: k in 1..2 */
    zl_tensor *c = zl_tensor_clone(nar);
    CHECK(c && zl_tensor_is_contiguous(c) && c->numel == 12);
    float want[4] = {1, 2, 5, 6};
    for (int k = 0; k < 4; k++) CHECK(ZL_F32P(c)[k] == want[k]);
    CHECK(ZL_F32P(c)[11] == 12 + 8 + 2);
    CHECK(zl_tensor_reshape(nar, 1, (int64_t[]){12}) == -1);
    CHECK(strstr(zl_error_get(), "not contiguous") != NULL);
    /* writes through a strided view land in the parent */
    CHECK(zl_tensor_fill(sel, -1) == 0);
    CHECK(ZL_F32P(a)[8] == -1 && ZL_F32P(a)[12 + 11] == -1 && ZL_F32P(a)[7] == 7);
    zl_tensor *sq = zl_tensor_unsqueeze(sel, 1);
    CHECK(sq && sq->ndim == 3 && sq->shape[1] == 1);
    zl_tensor *sq2 = zl_tensor_squeeze(sq, -1);
    CHECK(sq2 && sq2->ndim == 2 && at2(sq2, 1, 0) == -1);
    CHECK(zl_tensor_squeeze(a, 0) == NULL);
    /* copy into a strided destination */
    zl_tensor *src = arange(2, (int64_t[]){2, 4});
    CHECK(zl_tensor_copy(sel, src) == 0 && ZL_F32P(a)[12 + 8 + 3] == 7);
    /* cat and stack */
    int64_t s22[2] = {2, 2};
    zl_tensor *x = arange(2, s22), *y = arange(2, s22);
    zl_tensor_fill(y, 9);
    const zl_tensor *xy[2] = {x, y};
    zl_tensor *c0 = zl_tensor_cat(2, xy, 0), *c1 = zl_tensor_cat(2, xy, 1);
    CHECK(c0 && c0->shape[0] == 4 && ZL_F32P(c0)[3] == 3 && ZL_F32P(c0)[4] == 9);
    CHECK(c1 && c1->shape[1] == 4 && ZL_F32P(c1)[1] == 1 && ZL_F32P(c1)[2] == 9 &&
          ZL_F32P(c1)[4] == 2);
    zl_tensor *st = zl_tensor_stack(2, xy, 2); /* [2, 2, 2]: st[i][j][k] = (x, y)[k][i][j] */
    CHECK(st && st->ndim == 3 && ZL_F32P(st)[6] == 3 && ZL_F32P(st)[7] == 9);
    const zl_tensor *bad[2] = {x, a};
    CHECK(zl_tensor_cat(2, bad, 0) == NULL);
    zl_tensor_free(a); zl_tensor_free(tr); zl_tensor_free(sel); zl_tensor_free(nar);
    zl_tensor_free(c); zl_tensor_free(sq); zl_tensor_free(sq2); zl_tensor_free(src);
    zl_tensor_free(x); zl_tensor_free(y); zl_tensor_free(c0); zl_tensor_free(c1);
    zl_tensor_free(st);
}

static void test_reductions(void)
{
    int64_t s23[2] = {2, 3};
    zl_tensor *a = arange(2, s23); /* [[0 1 2] [3 4 5]] */
    ZL_F32P(a)[1] = 7;              /* [[0 7 2] [3 4 5]] */
    double v;
    int64_t at;
    CHECK(zl_tensor_reduce_all(a, ZL_RED_SUM, &v, NULL) == 0 && v == 21);
    CHECK(zl_tensor_reduce_all(a, ZL_RED_MEAN, &v, NULL) == 0 && v == 3.5);
    CHECK(zl_tensor_reduce_all(a, ZL_RED_MAX, &v, &at) == 0 && v == 7 && at == 1);
    CHECK(zl_tensor_reduce_all(a, ZL_RED_MIN, &v, &at) == 0 && v == 0 && at == 0);
    CHECK(zl_tensor_reduce_all(a, ZL_RED_SUMSQ, &v, NULL) == 0 && v == 49 + 4 + 9 + 16 + 25);
    zl_tensor *vals, *ix;
    CHECK(zl_tensor_reduce_dim(a, ZL_RED_SUM, 0, &vals, NULL) == 0);
    CHECK(vals->ndim == 2 && vals->shape[0] == 1 && vals->shape[1] == 3);
    CHECK(ZL_F32P(vals)[0] == 3 && ZL_F32P(vals)[1] == 11 && ZL_F32P(vals)[2] == 7);
    zl_tensor_free(vals);
    CHECK(zl_tensor_reduce_dim(a, ZL_RED_MEAN, 1, &vals, NULL) == 0);
    CHECK(vals->shape[0] == 2 && vals->shape[1] == 1 && ZL_F32P(vals)[0] == 3 &&
          ZL_F32P(vals)[1] == 4);
    zl_tensor_free(vals);
    CHECK(zl_tensor_reduce_dim(a, ZL_RED_MAX, 0, &vals, &ix) == 0);
    CHECK(ZL_F32P(vals)[0] == 3 && ZL_F32P(vals)[1] == 7 && ZL_F32P(vals)[2] == 5);
    CHECK(ZL_I32P(ix)[0] == 1 && ZL_I32P(ix)[1] == 0 && ZL_I32P(ix)[2] == 1);
    zl_tensor_free(vals); zl_tensor_free(ix);
    CHECK(zl_tensor_reduce_dim(a, ZL_RED_MIN, 1, &vals, &ix) == 0);
    CHECK(ZL_F32P(vals)[0] == 0 && ZL_F32P(vals)[1] == 3 && ZL_I32P(ix)[0] == 0 &&
          ZL_I32P(ix)[1] == 0);
    zl_tensor_free(vals); zl_tensor_free(ix);
    /* along a strided view: the transpose's sums over dim 1 are the rows' */
    zl_tensor *tr = zl_tensor_transpose(a, 0, 1);
    CHECK(zl_tensor_reduce_dim(tr, ZL_RED_SUM, 0, &vals, NULL) == 0);
    CHECK(vals->shape[1] == 2 && ZL_F32P(vals)[0] == 9 && ZL_F32P(vals)[1] == 12);
    zl_tensor_free(vals);
    /* NaN wins max and min */
    ZL_F32P(a)[4] = NAN;
    CHECK(zl_tensor_reduce_all(a, ZL_RED_MAX, &v, &at) == 0 && isnan(v) && at == 4);
    CHECK(zl_tensor_reduce_dim(a, ZL_RED_MIN, 0, &vals, &ix) == 0 && isnan(ZL_F32P(vals)[1]) &&
          ZL_I32P(ix)[1] == 1);
    zl_tensor_free(vals); zl_tensor_free(ix);
    ZL_F32P(a)[4] = 4;
    /* topk: [[0 7 2] [3 4 5]] -> top 2 per row */
    CHECK(zl_tensor_topk(a, 2, 1, &vals, &ix) == 0);
    CHECK(vals->shape[1] == 2 && ZL_F32P(vals)[0] == 7 && ZL_F32P(vals)[1] == 2 &&
          ZL_F32P(vals)[2] == 5 && ZL_F32P(vals)[3] == 4);
    CHECK(ZL_I32P(ix)[0] == 1 && ZL_I32P(ix)[1] == 2 && ZL_I32P(ix)[2] == 2 && ZL_I32P(ix)[3] == 1);
    zl_tensor_free(vals); zl_tensor_free(ix);
    CHECK(zl_tensor_topk(a, 4, 1, &vals, &ix) == -1);
    /* large k goes through the sort path: same answer as the small-k path */
    int64_t s100[1] = {100};
    zl_tensor *r = zl_tensor_new(ZL_F32, 1, s100);
    zl_tensor_randn(r, 3, 1.0);
    zl_tensor *v40, *i40, *v5, *i5;
    CHECK(zl_tensor_topk(r, 40, 0, &v40, &i40) == 0 && zl_tensor_topk(r, 5, 0, &v5, &i5) == 0);
    for (int k = 0; k < 5; k++) CHECK(ZL_F32P(v40)[k] == ZL_F32P(v5)[k] && ZL_I32P(i40)[k] == ZL_I32P(i5)[k]);
    for (int k = 1; k < 40; k++) CHECK(ZL_F32P(v40)[k] <= ZL_F32P(v40)[k - 1]);
    zl_tensor_free(v40); zl_tensor_free(i40); zl_tensor_free(v5); zl_tensor_free(i5);
    zl_tensor_free(r);
    /* softmax of [[0 7 2] [3 4 5]] along dim 1 and along dim 0 */
    zl_tensor *sm = zl_tensor_softmax(a, 1);
    double z = exp(0) + exp(7) + exp(2);
    CHECK_NEAR(ZL_F32P(sm)[1], exp(7) / z, 1e-6);
    CHECK_NEAR(ZL_F32P(sm)[5], exp(5) / (exp(3) + exp(4) + exp(5)), 1e-6);
    zl_tensor_free(sm);
    sm = zl_tensor_softmax(a, 0);
    CHECK_NEAR(ZL_F32P(sm)[0], 1 / (1 + exp(3)), 1e-6);
    CHECK_NEAR(ZL_F32P(sm)[1] + ZL_F32P(sm)[4], 1, 1e-6);
    zl_tensor_free(sm);
    /* empty tensors: sum 0, max an error */
    zl_tensor *e = zl_tensor_new(ZL_F32, 1, (int64_t[]){0});
    CHECK(zl_tensor_reduce_all(e, ZL_RED_SUM, &v, NULL) == 0 && v == 0);
    CHECK(zl_tensor_reduce_all(e, ZL_RED_MAX, &v, NULL) == -1);
    CHECK(zl_tensor_reduce_all(e, ZL_RED_MEAN, &v, NULL) == -1);
    zl_tensor_free(e);
    /* a reduction large enough to run threaded and blocked matches a double loop */
    int64_t big[3] = {3, 500, 300};
    zl_tensor *b = zl_tensor_new(ZL_F32, 3, big);
    zl_tensor_randn(b, 11, 1.0);
    CHECK(zl_tensor_reduce_dim(b, ZL_RED_SUM, 1, &vals, NULL) == 0);
    double ref = 0;
    for (int k = 0; k < 500; k++) ref += ZL_F32P(b)[2 * 150000 + k * 300 + 299];
    CHECK_NEAR(ZL_F32P(vals)[2 * 300 + 299], ref, 1e-4);
    zl_tensor_free(vals);
    /* whole and last-dimension sums (the 16-lane path, odd lengths) match a double loop */
    int64_t s2[2] = {2, 50001};
    zl_tensor *w = zl_tensor_new(ZL_F32, 2, s2);
    zl_tensor_randn(w, 12, 1.0);
    double r0 = 0, r1 = 0, all = 0, sq = 0;
    for (int64_t k = 0; k < 50001; k++) {
        r0 += ZL_F32P(w)[k];
        r1 += ZL_F32P(w)[50001 + k];
    }
    for (int64_t k = 0; k < 100002; k++) sq += (double)ZL_F32P(w)[k] * ZL_F32P(w)[k];
    CHECK(zl_tensor_reduce_dim(w, ZL_RED_SUM, 1, &vals, NULL) == 0);
    CHECK_NEAR(ZL_F32P(vals)[0], r0, 1e-3);
    CHECK_NEAR(ZL_F32P(vals)[1], r1, 1e-3);
    zl_tensor_free(vals);
    CHECK(zl_tensor_reduce_all(w, ZL_RED_SUM, &all, NULL) == 0);
    CHECK_NEAR(all, r0 + r1, 1e-6 * 100002);
    CHECK(zl_tensor_reduce_all(w, ZL_RED_SUMSQ, &v, NULL) == 0);
    CHECK_NEAR(v, sq, 1e-6 * sq);
    zl_tensor_free(w);
    zl_tensor_free(b); zl_tensor_free(tr); zl_tensor_free(a);
}

static void test_elementwise(void)
{
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s21[2] = {2, 1};
    zl_tensor *a = arange(2, s23);  /* [[0 1 2] [3 4 5]] */
    zl_tensor *row = arange(1, s3); /* [0 1 2] */
    zl_tensor *col = arange(2, s21); /* [[0] [1]] */
    zl_tensor *r = zl_tensor_binop(ZL_OP_ADD, a, row);
    float want[6] = {0, 2, 4, 3, 5, 7};
    for (int i = 0; i < 6; i++) CHECK(ZL_F32P(r)[i] == want[i]);
    zl_tensor_free(r);
    r = zl_tensor_binop(ZL_OP_MUL, col, row); /* outer product [2, 3] */
    CHECK(r && r->shape[0] == 2 && r->shape[1] == 3 && ZL_F32P(r)[5] == 2 && ZL_F32P(r)[2] == 0);
    zl_tensor_free(r);
    r = zl_tensor_binop(ZL_OP_SUB, a, col);
    CHECK(ZL_F32P(r)[3] == 2 && ZL_F32P(r)[2] == 2);
    zl_tensor_free(r);
    /* scalar operands are 0-dimensional tensors, on either side */
    float two = 2;
    zl_tensor *sc = zl_tensor_wrap(ZL_F32, 0, NULL, &two);
    r = zl_tensor_binop(ZL_OP_DIV, sc, a);
    CHECK(isinf(ZL_F32P(r)[0]) && ZL_F32P(r)[4] == 0.5f);
    zl_tensor_free(r);
    r = zl_tensor_binop(ZL_OP_GT, a, sc);
    CHECK(ZL_F32P(r)[2] == 0 && ZL_F32P(r)[3] == 1);
    zl_tensor_free(r);
    r = zl_tensor_binop(ZL_OP_EQ, a, sc);
    CHECK(ZL_F32P(r)[2] == 1 && ZL_F32P(r)[1] == 0);
    zl_tensor_free(r);
    zl_tensor *bad = zl_tensor_new(ZL_F32, 1, (int64_t[]){2});
    CHECK(zl_tensor_binop(ZL_OP_ADD, a, bad) == NULL);
    CHECK(strstr(zl_error_get(), "do not broadcast") != NULL);
    /* strided operands: a^T + a^T */
    zl_tensor *t = zl_tensor_transpose(a, 0, 1);
    r = zl_tensor_binop(ZL_OP_ADD, t, t);
    CHECK(r->shape[0] == 3 && ZL_F32P(r)[1] == 6 && ZL_F32P(r)[2] == 2);
    zl_tensor_free(r);
    /* i32 operands are read as numbers */
    zl_tensor *ia = zl_tensor_convert(a, ZL_I32);
    r = zl_tensor_binop(ZL_OP_SUB, ia, a);
    CHECK(r && r->dtype == ZL_F32 && ZL_F32P(r)[5] == 0);
    zl_tensor_free(r);
    r = zl_tensor_unop(ZL_OP_CLAMP, a, 1, 3);
    CHECK(ZL_F32P(r)[0] == 1 && ZL_F32P(r)[2] == 2 && ZL_F32P(r)[5] == 3);
    zl_tensor_free(r);
    CHECK(zl_tensor_unop(ZL_OP_CLAMP, a, 3, 1) == NULL);
    r = zl_tensor_unop(ZL_OP_NEG, t, 0, 0);
    CHECK(ZL_F32P(r)[1] == -3);
    zl_tensor_free(r);
    r = zl_tensor_unop(ZL_OP_SQRT, a, 0, 0);
    CHECK_NEAR(ZL_F32P(r)[4], 2, 1e-7);
    zl_tensor_free(r);
    r = zl_tensor_unop(ZL_OP_LOG, a, 0, 0);
    CHECK(isinf(ZL_F32P(r)[0]) && ZL_F32P(r)[0] < 0);
    zl_tensor_free(r);
    /* a large broadcast runs threaded and chunked: spot-check */
    int64_t sb[3] = {4, 300, 200}, sr[1] = {200};
    zl_tensor *big = arange(3, sb), *br = arange(1, sr);
    r = zl_tensor_binop(ZL_OP_ADD, big, br);
    CHECK(ZL_F32P(r)[239999] == 239999 + 199 && ZL_F32P(r)[200] == 200);
    zl_tensor_free(r); zl_tensor_free(big); zl_tensor_free(br);
    zl_tensor_free(ia); zl_tensor_free(t); zl_tensor_free(bad); zl_tensor_free(sc);
    zl_tensor_free(a); zl_tensor_free(row); zl_tensor_free(col);
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
    test_ownership();
    test_views();
    test_reductions();
    test_elementwise();
    return zl_test_summary("test_tensor");
}
