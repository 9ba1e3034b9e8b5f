/* tensor.h — zonelab's tensors. Owns dense float32/int32 arrays (reference-counted
 * storage, strided views), the analysis kernels over them (views, reductions,
 * broadcasting elementwise math), the seeded random generator, the BLAS-backed
 * matrix product and the thread-count setting.
 *
 * A quick tour:
 *
 *     int64_t shape[2] = {2, 3};
 *     zl_tensor *a = zl_tensor_new(ZL_F32, 2, shape);      // zeros, owning storage
 *     zl_tensor_randn(a, 42, 1.0f);                        // N(0,1) from seed 42
 *     zl_tensor *v = zl_tensor_view(a, 1, 1);              // row 1, sharing a's storage
 *     float x = zl_tensor_getf(a, 4);                      // flat index (contiguous tensors)
 *     zl_tensor_free(a); zl_tensor_free(v);                // in any order
 *
 * Ownership: storage made by zl_tensor_new (and every function returning a new tensor)
 * is reference counted. Every view (zl_tensor_view, narrow, select, transpose, ...)
 * takes a reference, so a view stays valid after its parent is freed; the storage
 * goes with the last tensor using it. zl_tensor_wrap of caller-owned memory has no
 * storage: it and its views borrow that memory, which the caller keeps alive.
 *
 * Layout: t->data points at the first element; t->stride gives each dimension's step
 * in elements. Tensors from zl_tensor_new/wrap/clone are contiguous and row-major (C
 * order); narrow, select and transpose may give non-contiguous views. Code that reads
 * t->data as a flat array (most of the core) needs zl_tensor_is_contiguous(t): the Lua
 * binding refuses a non-contiguous tensor there ("call :contiguous()").
 *
 * Functions that can fail return NULL or -1 and set the message of error.h. Indices
 * and dimensions of the C API are 0-based (the Lua binding adds 1).
 */
#ifndef ZL_TENSOR_H
#define ZL_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define ZL_MAX_DIMS 6

typedef enum { ZL_F32 = 0, ZL_I32 = 1 } zl_dtype;

/* A reference-counted allocation shared by a tensor and its views (tensor.c). */
typedef struct zl_storage zl_storage;

typedef struct zl_tensor {
    zl_dtype dtype;
    int ndim;
    int64_t shape[ZL_MAX_DIMS];
    int64_t numel;
    void *data;      /* first element: float* for ZL_F32, int32_t* for ZL_I32 */
    int64_t stride[ZL_MAX_DIMS]; /* step of each dimension, in elements */
    zl_storage *storage; /* the reference this tensor holds; NULL: caller-owned memory */
} zl_tensor;

#define ZL_F32P(t) ((float *)(t)->data)
#define ZL_I32P(t) ((int32_t *)(t)->data)

/* "f32" / "i32" */
const char *zl_dtype_name(zl_dtype dt);
size_t zl_dtype_size(zl_dtype dt);

/* Number of elements of a shape; -1 (with error set) if a dimension is negative
 * or the product overflows. */
int64_t zl_shape_numel(int ndim, const int64_t *shape);

/* Zero-filled contiguous tensor with its own storage. */
zl_tensor *zl_tensor_new(zl_dtype dt, int ndim, const int64_t *shape);
/* Tensor borrowing caller-owned storage (not freed with the tensor). */
zl_tensor *zl_tensor_wrap(zl_dtype dt, int ndim, const int64_t *shape, void *data);
/* Deep copy with its own storage; contiguous even when src is not. */
zl_tensor *zl_tensor_clone(const zl_tensor *src);
/* Releases t's reference (the storage goes with its last tensor). NULL is fine. */
void zl_tensor_free(zl_tensor *t);

/* 1 when the elements are laid out row-major without gaps from t->data. */
int zl_tensor_is_contiguous(const zl_tensor *t);
/* A new tensor header sharing t's storage (same shape and strides): pins the data. */
zl_tensor *zl_tensor_share(const zl_tensor *t);

/* ---- views: share the storage (take a reference), never copy ---- */
/* Indices [start, start+count) along the first dimension. */
zl_tensor *zl_tensor_view(const zl_tensor *t, int64_t start, int64_t count);
/* Indices [start, start+len) along dimension dim. */
zl_tensor *zl_tensor_narrow(const zl_tensor *t, int dim, int64_t start, int64_t len);
/* Index i of dimension dim, that dimension removed. */
zl_tensor *zl_tensor_select(const zl_tensor *t, int dim, int64_t i);
/* Dimensions d1 and d2 swapped. */
zl_tensor *zl_tensor_transpose(const zl_tensor *t, int d1, int d2);
/* Dimension dim (of size 1) removed; dim = -1 removes every size-1 dimension. */
zl_tensor *zl_tensor_squeeze(const zl_tensor *t, int dim);
/* A size-1 dimension inserted at position dim (0..ndim). */
zl_tensor *zl_tensor_unsqueeze(const zl_tensor *t, int dim);

/* Changes the shape in place; the element count must stay the same and t must be
 * contiguous. */
int zl_tensor_reshape(zl_tensor *t, int ndim, const int64_t *shape);

/* Sets every element; for i32, value must be in range (error names it). */
int zl_tensor_fill(zl_tensor *t, double value);
/* Copies src into dst: same dtype and element count required (same shape when either
 * is not contiguous). */
int zl_tensor_copy(zl_tensor *dst, const zl_tensor *src);
/* 0 when v can be stored in dtype dt without undefined behaviour (i32: finite and in
 * range after truncation toward zero); -1 with an error naming v otherwise. */
int zl_tensor_check_value(zl_dtype dt, double v);
/* Contiguous copy converted to dt (f32 -> i32 truncates toward zero, range-checked). */
zl_tensor *zl_tensor_convert(const zl_tensor *t, zl_dtype dt);

/* Flat element access (no bounds check: callers check; the flat index is a memory
 * offset from t->data, i.e. the row-major index for contiguous tensors). For i32, v
 * must pass zl_tensor_check_value. */
double zl_tensor_getf(const zl_tensor *t, int64_t flat);
void zl_tensor_setf(zl_tensor *t, int64_t flat, double v);
/* Memory offset (from t->data, in elements) of a 0-based multi-index; -1 with error
 * set when out of range. */
int64_t zl_tensor_offset(const zl_tensor *t, int nidx, const int64_t *idx);
/* Memory offset of the element at row-major position flat (0 <= flat < numel). */
int64_t zl_tensor_flat_offset(const zl_tensor *t, int64_t flat);

/* ---- joining ---- */
/* Tensors of one dtype and equal shapes except along dim, joined along dim. */
zl_tensor *zl_tensor_cat(int n, const zl_tensor *const *ts, int dim);
/* Tensors of one dtype and shape, stacked along a new dimension dim (0..ndim). */
zl_tensor *zl_tensor_stack(int n, const zl_tensor *const *ts, int dim);

/* ---- reductions (in double; i32 inputs are read as numbers) ----
 * Along a dimension the result keeps it with size 1 (torch7's convention: a [B,S]
 * sum over dim 1 is [B,1], which broadcasts back against [B,S]). Max/min pick NaN
 * when there is one; indices are the first extreme element's, 0-based, i32. */
typedef enum { ZL_RED_SUM, ZL_RED_MEAN, ZL_RED_MAX, ZL_RED_MIN, ZL_RED_SUMSQ } zl_reduce;
/* Whole tensor: *value (and *index, a row-major position, for max/min; may be NULL).
 * Max, min and mean of an empty tensor are errors (no NaN result); its sum is 0. */
int zl_tensor_reduce_all(const zl_tensor *t, zl_reduce op, double *value, int64_t *index);
/* Along dim: *values f32; *indices (max/min, may be NULL) i32. */
int zl_tensor_reduce_dim(const zl_tensor *t, zl_reduce op, int dim, zl_tensor **values,
                         zl_tensor **indices);
/* The k largest along dim, in decreasing order (NaN first): values f32, indices i32. */
int zl_tensor_topk(const zl_tensor *t, int64_t k, int dim, zl_tensor **values,
                   zl_tensor **indices);
/* exp(x - max) / sum along dim, f32. */
zl_tensor *zl_tensor_softmax(const zl_tensor *t, int dim);

/* ---- elementwise (new contiguous f32 result; operands may be strided) ---- */
typedef enum {
    ZL_OP_ADD, ZL_OP_SUB, ZL_OP_MUL, ZL_OP_DIV, ZL_OP_GT, ZL_OP_LT, ZL_OP_EQ
} zl_binop;
/* a op b with numpy broadcasting (trailing dimensions aligned, size 1 stretches);
 * comparisons give 1 or 0. A 0-dimensional tensor acts as a scalar. */
zl_tensor *zl_tensor_binop(zl_binop op, const zl_tensor *a, const zl_tensor *b);
typedef enum {
    ZL_OP_NEG, ZL_OP_EXP, ZL_OP_LOG, ZL_OP_SQRT, ZL_OP_ABS, ZL_OP_CLAMP
} zl_unop;
/* op(a); clamp uses lo and hi (lo <= hi), the others ignore them. */
zl_tensor *zl_tensor_unop(zl_unop op, const zl_tensor *a, double lo, double hi);

/* "tensor f32 [2,3]" into buf. */
void zl_tensor_describe(const zl_tensor *t, char *buf, size_t len);

/* ---- seeded random numbers: the same seed gives the same stream everywhere ---- */
/* splitmix64's output function of x + its gamma: the one integer hash behind zonelab's
 * seeds (zl_rng_seed, the dropout masks, the trainer's per-step seeds). Inline: the
 * dropout mask calls it per element. */
static inline uint64_t zl_splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

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

/* ---- threads ----
 * One process-wide decision: every parallel loop of the core (products included: OpenBLAS
 * itself stays single-threaded, and zl_sgemm splits a large product over the team when it
 * is not already inside one) runs zl_get_threads() OpenMP threads, from whichever thread
 * calls it. Safe to call from any thread; until set, OpenMP's default (OMP_NUM_THREADS or
 * the cores), read once. */
int zl_set_threads(int n);  /* n >= 1 */
int zl_get_threads(void);

#endif
