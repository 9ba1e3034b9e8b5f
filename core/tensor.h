/* tensor.h — zonelab's tensors. Owns dense float32/int32 arrays, the seeded
 * random generator, the BLAS-backed matrix product and the thread-count setting.
 *
 * A quick tour:
 *
 *     int64_t shape[2] = {2, 3};
 *     zl_tensor *a = zl_tensor_new(ZL_F32, 2, shape);      // zeros, owning storage
 *     zl_tensor_randn(a, 42, 1.0f);                        // N(0,1) from seed 42
 *     zl_tensor *v = zl_tensor_view(a, 1, 1);              // row 1, borrowing a's data
 *     float x = zl_tensor_getf(a, 4);                      // flat index
 *     zl_tensor_free(v); zl_tensor_free(a);
 *
 * Tensors are contiguous and row-major (C order). A view borrows its parent's
 * storage and must be freed before the parent. Functions that can fail return
 * NULL or -1 and set the message of error.h.
 */
#ifndef ZL_TENSOR_H
#define ZL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define ZL_MAX_DIMS 6

typedef enum { ZL_F32 = 0, ZL_I32 = 1 } zl_dtype;

typedef struct zl_tensor {
    zl_dtype dtype;
    int ndim;
    int64_t shape[ZL_MAX_DIMS];
    int64_t numel;
    void *data;      /* float* for ZL_F32, int32_t* for ZL_I32 */
    int owns;        /* 1: data is freed with the tensor */
} zl_tensor;

#define ZL_F32P(t) ((float *)(t)->data)
#define ZL_I32P(t) ((int32_t *)(t)->data)

/* "f32" / "i32" */
const char *zl_dtype_name(zl_dtype dt);
size_t zl_dtype_size(zl_dtype dt);

/* Number of elements of a shape; -1 (with error set) if a dimension is negative
 * or the product overflows. */
int64_t zl_shape_numel(int ndim, const int64_t *shape);

/* Zero-filled tensor with its own storage. */
zl_tensor *zl_tensor_new(zl_dtype dt, int ndim, const int64_t *shape);
/* Tensor borrowing caller-owned storage (not freed with the tensor). */
zl_tensor *zl_tensor_wrap(zl_dtype dt, int ndim, const int64_t *shape, void *data);
/* Deep copy with its own storage. */
zl_tensor *zl_tensor_clone(const zl_tensor *src);
void zl_tensor_free(zl_tensor *t);

/* Borrowing view of indices [start, start+count) along the first dimension. */
zl_tensor *zl_tensor_view(const zl_tensor *t, int64_t start, int64_t count);

/* Changes the shape in place; the element count must stay the same. */
int zl_tensor_reshape(zl_tensor *t, int ndim, const int64_t *shape);

int zl_tensor_fill(zl_tensor *t, double value);
/* Copies src into dst: same dtype and element count required. */
int zl_tensor_copy(zl_tensor *dst, const zl_tensor *src);

/* Flat element access (no bounds check: callers check). Works for both dtypes. */
double zl_tensor_getf(const zl_tensor *t, int64_t flat);
void zl_tensor_setf(zl_tensor *t, int64_t flat, double v);
/* Flat offset of a 0-based multi-index; -1 with error set when out of range. */
int64_t zl_tensor_offset(const zl_tensor *t, int nidx, const int64_t *idx);

/* "tensor f32 [2,3]" into buf. */
void zl_tensor_describe(const zl_tensor *t, char *buf, size_t len);

/* ---- seeded random numbers: the same seed gives the same stream everywhere ---- */
typedef struct zl_rng { uint64_t s[4]; } zl_rng;

void zl_rng_seed(zl_rng *r, uint64_t seed);
uint64_t zl_rng_next(zl_rng *r);          /* xoshiro256** */
double zl_rng_uniform(zl_rng *r);          /* [0, 1), 53 bits */
double zl_rng_normal(zl_rng *r);           /* N(0,1), Marsaglia polar method */

/* Fills t (f32) with N(0, std^2) drawn from a generator seeded with seed. */
int zl_tensor_randn(zl_tensor *t, uint64_t seed, double std);

/* ---- matrix products (OpenBLAS) ---- */
/* Row-major C = alpha * op(A) op(B) + beta * C; op(A) is M x K, op(B) is K x N. */
void zl_sgemm(int transa, int transb, int M, int N, int K, float alpha,
              const float *A, int lda, const float *B, int ldb, float beta,
              float *C, int ldc);

/* out = op(a) @ op(b) for 2-D f32 tensors; out must already have shape [M, N].
 * With out == NULL a new tensor is returned. */
zl_tensor *zl_tensor_matmul(zl_tensor *out, const zl_tensor *a, const zl_tensor *b,
                            int transa, int transb);

/* ---- threads ---- */
/* Sets the thread count of the core's own loops and of OpenBLAS (n >= 1). */
int zl_set_threads(int n);
int zl_get_threads(void);

#endif
