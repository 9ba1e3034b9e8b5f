/* tensor.c — dense tensors, the seeded generator, sgemm and threads (see tensor.h). */
#include "tensor.h"
#include "error.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int zl_threads = 0; /* 0: not set, OpenBLAS's own default */

const char *zl_dtype_name(zl_dtype dt) { return dt == ZL_F32 ? "f32" : "i32"; }

size_t zl_dtype_size(zl_dtype dt) { (void)dt; return 4; }

int64_t zl_shape_numel(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > ZL_MAX_DIMS) {
        zl_error_set("tensor: %d dimensions (at most %d)", ndim, ZL_MAX_DIMS);
        return -1;
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            zl_error_set("tensor: dimension %d is negative (%lld)", i, (long long)shape[i]);
            return -1;
        }
        if (shape[i] != 0 && n > INT64_MAX / 4 / shape[i]) {
            zl_error_set("tensor: shape product overflows");
            return -1;
        }
        n *= shape[i];
    }
    return n;
}

static zl_tensor *tensor_header(zl_dtype dt, int ndim, const int64_t *shape)
{
    if (dt != ZL_F32 && dt != ZL_I32) {
        zl_error_set("tensor: unknown dtype %d", (int)dt);
        return NULL;
    }
    int64_t n = zl_shape_numel(ndim, shape);
    if (n < 0) return NULL;
    zl_tensor *t = calloc(1, sizeof *t);
    if (!t) { zl_error_set("tensor: out of memory"); return NULL; }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = n;
    return t;
}

zl_tensor *zl_tensor_new(zl_dtype dt, int ndim, const int64_t *shape)
{
    zl_tensor *t = tensor_header(dt, ndim, shape);
    if (!t) return NULL;
    t->data = calloc((size_t)(t->numel ? t->numel : 1), zl_dtype_size(dt));
    if (!t->data) {
        zl_error_set("tensor: out of memory for %lld elements", (long long)t->numel);
        free(t);
        return NULL;
    }
    t->owns = 1;
    return t;
}

zl_tensor *zl_tensor_wrap(zl_dtype dt, int ndim, const int64_t *shape, void *data)
{
    zl_tensor *t = tensor_header(dt, ndim, shape);
    if (!t) return NULL;
    t->data = data;
    t->owns = 0;
    return t;
}

zl_tensor *zl_tensor_clone(const zl_tensor *src)
{
    zl_tensor *t = zl_tensor_new(src->dtype, src->ndim, src->shape);
    if (!t) return NULL;
    memcpy(t->data, src->data, (size_t)src->numel * zl_dtype_size(src->dtype));
    return t;
}

void zl_tensor_free(zl_tensor *t)
{
    if (!t) return;
    if (t->owns) free(t->data);
    free(t);
}

zl_tensor *zl_tensor_view(const zl_tensor *t, int64_t start, int64_t count)
{
    if (t->ndim < 1) { zl_error_set("tensor: cannot take a view of a scalar"); return NULL; }
    if (start < 0 || count < 0 || start + count > t->shape[0]) {
        zl_error_set("tensor: view [%lld, %lld) outside the first dimension of size %lld",
                     (long long)start, (long long)(start + count), (long long)t->shape[0]);
        return NULL;
    }
    int64_t shape[ZL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = count;
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    return zl_tensor_wrap(t->dtype, t->ndim, shape,
                          (char *)t->data + (size_t)(start * row) * zl_dtype_size(t->dtype));
}

int zl_tensor_reshape(zl_tensor *t, int ndim, const int64_t *shape)
{
    int64_t n = zl_shape_numel(ndim, shape);
    if (n < 0) return -1;
    if (n != t->numel)
        return zl_error_set("tensor: cannot reshape %lld elements into %lld",
                            (long long)t->numel, (long long)n);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return 0;
}

int zl_tensor_fill(zl_tensor *t, double value)
{
    if (t->dtype == ZL_F32) {
        float *p = ZL_F32P(t);
        for (int64_t i = 0; i < t->numel; i++) p[i] = (float)value;
    } else {
        int32_t *p = ZL_I32P(t);
        for (int64_t i = 0; i < t->numel; i++) p[i] = (int32_t)value;
    }
    return 0;
}

int zl_tensor_copy(zl_tensor *dst, const zl_tensor *src)
{
    if (dst->dtype != src->dtype)
        return zl_error_set("tensor: copy from %s to %s", zl_dtype_name(src->dtype),
                            zl_dtype_name(dst->dtype));
    if (dst->numel != src->numel)
        return zl_error_set("tensor: copy of %lld elements into %lld",
                            (long long)src->numel, (long long)dst->numel);
    memmove(dst->data, src->data, (size_t)src->numel * zl_dtype_size(src->dtype));
    return 0;
}

double zl_tensor_getf(const zl_tensor *t, int64_t flat)
{
    return t->dtype == ZL_F32 ? (double)ZL_F32P(t)[flat] : (double)ZL_I32P(t)[flat];
}

void zl_tensor_setf(zl_tensor *t, int64_t flat, double v)
{
    if (t->dtype == ZL_F32) ZL_F32P(t)[flat] = (float)v;
    else ZL_I32P(t)[flat] = (int32_t)v;
}

int64_t zl_tensor_offset(const zl_tensor *t, int nidx, const int64_t *idx)
{
    if (nidx != t->ndim) {
        zl_error_set("tensor: %d indices for a %d-dimensional tensor", nidx, t->ndim);
        return -1;
    }
    int64_t off = 0;
    for (int i = 0; i < nidx; i++) {
        if (idx[i] < 0 || idx[i] >= t->shape[i]) {
            zl_error_set("tensor: index %lld out of range for dimension %d of size %lld",
                         (long long)idx[i] + 1, i + 1, (long long)t->shape[i]);
            return -1;
        }
        off = off * t->shape[i] + idx[i];
    }
    return off;
}

void zl_tensor_describe(const zl_tensor *t, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "tensor %s [", zl_dtype_name(t->dtype));
    for (int i = 0; i < t->ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ",%lld" : "%lld", (long long)t->shape[i]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

/* ---- xoshiro256** seeded through splitmix64: integer-only, so portable ---- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void zl_rng_seed(zl_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t zl_rng_next(zl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double zl_rng_uniform(zl_rng *r) { return (double)(zl_rng_next(r) >> 11) * 0x1.0p-53; }

double zl_rng_normal(zl_rng *r)
{
    /* Polar method: only sqrt (exact in IEEE) and log, no trigonometry. */
    for (;;) {
        double u = 2.0 * zl_rng_uniform(r) - 1.0;
        double v = 2.0 * zl_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0.0 && s < 1.0) return u * sqrt(-2.0 * log(s) / s);
    }
}

int zl_tensor_randn(zl_tensor *t, uint64_t seed, double std)
{
    if (t->dtype != ZL_F32) return zl_error_set("tensor: randn needs an f32 tensor");
    zl_rng r;
    zl_rng_seed(&r, seed);
    float *p = ZL_F32P(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = (float)(std * zl_rng_normal(&r));
    return 0;
}

void zl_sgemm(int transa, int transb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        /* BLAS leaves C untouched for K = 0 only when beta = 1: make it explicit. */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
        return;
    }
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                beta, C, ldc);
}

zl_tensor *zl_tensor_matmul(zl_tensor *out, const zl_tensor *a, const zl_tensor *b,
                            int transa, int transb)
{
    if (a->dtype != ZL_F32 || b->dtype != ZL_F32 || a->ndim != 2 || b->ndim != 2) {
        zl_error_set("matmul: needs two 2-dimensional f32 tensors");
        return NULL;
    }
    int64_t M = transa ? a->shape[1] : a->shape[0];
    int64_t K = transa ? a->shape[0] : a->shape[1];
    int64_t Kb = transb ? b->shape[1] : b->shape[0];
    int64_t N = transb ? b->shape[0] : b->shape[1];
    if (K != Kb) {
        zl_error_set("matmul: inner dimensions differ (%lld and %lld)", (long long)K,
                     (long long)Kb);
        return NULL;
    }
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX) {
        zl_error_set("matmul: dimensions too large for BLAS");
        return NULL;
    }
    int64_t shape[2] = {M, N};
    zl_tensor *res = out;
    if (!res) {
        res = zl_tensor_new(ZL_F32, 2, shape);
        if (!res) return NULL;
    } else if (res->dtype != ZL_F32 || res->ndim != 2 || res->shape[0] != M ||
               res->shape[1] != N) {
        zl_error_set("matmul: output must be f32 [%lld,%lld]", (long long)M, (long long)N);
        return NULL;
    }
    zl_sgemm(transa, transb, (int)M, (int)N, (int)K, 1.0f, ZL_F32P(a), (int)a->shape[1],
             ZL_F32P(b), (int)b->shape[1], 0.0f, ZL_F32P(res), (int)N);
    return res;
}

int zl_set_threads(int n)
{
    if (n < 1) return zl_error_set("threads: %d is not a thread count (at least 1)", n);
    zl_threads = n;
    openblas_set_num_threads(n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return 0;
}

int zl_get_threads(void) { return zl_threads ? zl_threads : openblas_get_num_threads(); }
