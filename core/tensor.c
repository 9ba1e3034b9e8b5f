/* tensor.c — dense tensors, the seeded generator, sgemm and threads (see tensor.h). */
#define _DEFAULT_SOURCE /* mmap, madvise */
#include "tensor.h"
#include "error.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include "vmath.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* The team size of every parallel loop of the core (zl_set_threads; 0 until decided). An
 * atomic: any thread may read it while another sets it. */
static atomic_int zl_threads = 0;

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

/* ---- storage: one allocation, counted references (atomic: views may be taken
 * inside OpenMP loops) ----
 * Large storages (attention tensors of 85 MB are common in an analysis) are mapped
 * with transparent huge pages and, once freed, kept in a small cache (256 MB at most)
 * for the next allocation of a similar size: touching fresh memory costs a page fault
 * per 4 KB page (about 10 us in this project's VMs, 3 ms per 10 MB), which makes a
 * streaming kernel such as t + u several times slower. Sanitizer builds use plain
 * calloc/free so that AddressSanitizer still sees every use after free. */
struct zl_storage {
    void *base;
    _Atomic int64_t refs;
    void *map;       /* the mmap'd region holding base, or NULL (calloc) */
    size_t map_len;
};

#if defined(__SANITIZE_ADDRESS__)
#define ZL_BIG_STORAGE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ZL_BIG_STORAGE 0
#endif
#endif
#ifndef ZL_BIG_STORAGE
#define ZL_BIG_STORAGE 1
#endif

#define BIG_BYTES ((size_t)4 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
#define CACHE_SLOTS 16
#define CACHE_MAX_BYTES ((size_t)256 << 20)

static struct {
    atomic_flag lock;
    zl_storage *slot[CACHE_SLOTS];
    size_t bytes;
} cache = {ATOMIC_FLAG_INIT, {NULL}, 0};

static void cache_lock(void) { while (atomic_flag_test_and_set(&cache.lock)) {} }
static void cache_unlock(void) { atomic_flag_clear(&cache.lock); }

static size_t map_len_for(size_t bytes)
{
    return (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE; /* + room to align */
}

static void storage_release(zl_storage *s)
{
    if (s->map) munmap(s->map, s->map_len);
    else free(s->base);
    free(s);
}

/* zero: the caller needs zeros (a reused block is cleared); else every element will be
 * written by the caller. */
static zl_storage *storage_alloc(size_t bytes, int zero)
{
    if (ZL_BIG_STORAGE && bytes >= BIG_BYTES) {
        size_t len = map_len_for(bytes);
        zl_storage *s = NULL;
        cache_lock();
        int best = -1; /* the smallest block that fits without wasting half of it */
        for (int i = 0; i < CACHE_SLOTS; i++)
            if (cache.slot[i] && cache.slot[i]->map_len >= len &&
                cache.slot[i]->map_len <= 2 * len &&
                (best < 0 || cache.slot[i]->map_len < cache.slot[best]->map_len))
                best = i;
        if (best >= 0) {
            s = cache.slot[best];
            cache.slot[best] = NULL;
            cache.bytes -= s->map_len;
        }
        cache_unlock();
        if (s) {
            if (zero) memset(s->base, 0, bytes);
            atomic_init(&s->refs, 1);
            return s;
        }
        s = malloc(sizeof *s);
        if (!s) return NULL;
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) { /* anonymous mappings are zero-filled */
            uintptr_t a = ((uintptr_t)m + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
#ifdef MADV_HUGEPAGE
            madvise((void *)a, len - HUGE_PAGE, MADV_HUGEPAGE); /* advice only: may fail */
#endif
            s->base = (void *)a;
            s->map = m;
            s->map_len = len;
            atomic_init(&s->refs, 1);
            return s;
        }
        free(s);
    }
    zl_storage *s = malloc(sizeof *s);
    if (!s) return NULL;
    s->base = calloc(bytes ? bytes : 1, 1);
    if (!s->base) { free(s); return NULL; }
    s->map = NULL;
    s->map_len = 0;
    atomic_init(&s->refs, 1);
    return s;
}

static zl_storage *storage_ref(zl_storage *s)
{
    if (s) atomic_fetch_add(&s->refs, 1);
    return s;
}

static void storage_unref(zl_storage *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1) return;
    if (s->map && s->map_len <= CACHE_MAX_BYTES) {
        /* keep it for the next allocation of this size; the oldest entry makes room */
        zl_storage *out[CACHE_SLOTS + 1];
        int nout = 0;
        cache_lock();
        for (int i = 0; i < CACHE_SLOTS && cache.bytes + s->map_len > CACHE_MAX_BYTES; i++)
            if (cache.slot[i]) {
                cache.bytes -= cache.slot[i]->map_len;
                out[nout++] = cache.slot[i];
                cache.slot[i] = NULL;
            }
        int put = -1;
        for (int i = 0; i < CACHE_SLOTS && put < 0; i++)
            if (!cache.slot[i]) put = i;
        if (put < 0) {
            put = 0;
            cache.bytes -= cache.slot[0]->map_len;
            out[nout++] = cache.slot[0];
        }
        cache.slot[put] = s;
        cache.bytes += s->map_len;
        cache_unlock();
        for (int i = 0; i < nout; i++) storage_release(out[i]);
        return;
    }
    storage_release(s);
}

static void set_contiguous_strides(zl_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        t->stride[i] = st;
        st *= t->shape[i] ? t->shape[i] : 1;
    }
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
    set_contiguous_strides(t);
    return t;
}

/* A contiguous tensor with its own storage, zero-filled or (zero = 0) for a caller
 * that writes every element. */
static zl_tensor *tensor_alloc(zl_dtype dt, int ndim, const int64_t *shape, int zero)
{
    zl_tensor *t = tensor_header(dt, ndim, shape);
    if (!t) return NULL;
    t->storage = storage_alloc((size_t)t->numel * zl_dtype_size(dt), zero);
    if (!t->storage) {
        zl_error_set("tensor: out of memory for %lld elements", (long long)t->numel);
        free(t);
        return NULL;
    }
    t->data = t->storage->base;
    return t;
}

zl_tensor *zl_tensor_new(zl_dtype dt, int ndim, const int64_t *shape)
{
    return tensor_alloc(dt, ndim, shape, 1);
}

/* Uninitialised: for results whose every element the caller writes. */
static zl_tensor *tensor_empty(zl_dtype dt, int ndim, const int64_t *shape)
{
    return tensor_alloc(dt, ndim, shape, 0);
}

zl_tensor *zl_tensor_wrap(zl_dtype dt, int ndim, const int64_t *shape, void *data)
{
    zl_tensor *t = tensor_header(dt, ndim, shape);
    if (!t) return NULL;
    t->data = data;
    return t;
}

void zl_tensor_free(zl_tensor *t)
{
    if (!t) return;
    storage_unref(t->storage);
    free(t);
}

int zl_tensor_is_contiguous(const zl_tensor *t)
{
    int64_t st = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0) return 1;
        if (t->shape[i] != 1 && t->stride[i] != st) return 0;
        st *= t->shape[i];
    }
    return 1;
}

/* A header like t's (shape, strides, data) holding a new reference on its storage. */
static zl_tensor *header_like(const zl_tensor *t)
{
    zl_tensor *v = malloc(sizeof *v);
    if (!v) { zl_error_set("tensor: out of memory"); return NULL; }
    *v = *t;
    v->storage = storage_ref(t->storage);
    return v;
}

zl_tensor *zl_tensor_share(const zl_tensor *t) { return header_like(t); }

static void recount(zl_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    t->numel = n;
}

static int check_dim(const zl_tensor *t, int dim, int extra, const char *what)
{
    if (dim < 0 || dim >= t->ndim + extra)
        return zl_error_set("tensor: %s: dimension %d out of range for a %d-dimensional tensor",
                            what, dim + 1, t->ndim);
    return 0;
}

zl_tensor *zl_tensor_narrow(const zl_tensor *t, int dim, int64_t start, int64_t len)
{
    if (check_dim(t, dim, 0, "narrow") != 0) return NULL;
    int64_t n = t->shape[dim];
    /* written so that nothing overflows: start and len come from scripts */
    if (start < 0 || len < 0 || start > n || len > n - start) {
        zl_error_set("tensor: %lld elements from index %lld are outside dimension %d of size %lld",
                     (long long)len, (long long)start + (start < INT64_MAX), dim + 1,
                     (long long)n);
        return NULL;
    }
    zl_tensor *v = header_like(t);
    if (!v) return NULL;
    v->shape[dim] = len;
    if (len > 0)
        v->data = (char *)t->data + (size_t)(start * t->stride[dim]) * zl_dtype_size(t->dtype);
    recount(v);
    return v;
}

zl_tensor *zl_tensor_view(const zl_tensor *t, int64_t start, int64_t count)
{
    if (t->ndim < 1) { zl_error_set("tensor: cannot take a view of a scalar"); return NULL; }
    return zl_tensor_narrow(t, 0, start, count);
}

zl_tensor *zl_tensor_select(const zl_tensor *t, int dim, int64_t i)
{
    if (check_dim(t, dim, 0, "select") != 0) return NULL;
    if (i < 0 || i >= t->shape[dim]) {
        zl_error_set("tensor: index %lld out of range for dimension %d of size %lld",
                     (long long)i + (i < INT64_MAX), dim + 1, (long long)t->shape[dim]);
        return NULL;
    }
    zl_tensor *v = header_like(t);
    if (!v) return NULL;
    v->data = (char *)t->data + (size_t)(i * t->stride[dim]) * zl_dtype_size(t->dtype);
    for (int d = dim; d + 1 < t->ndim; d++) {
        v->shape[d] = t->shape[d + 1];
        v->stride[d] = t->stride[d + 1];
    }
    v->ndim = t->ndim - 1;
    recount(v);
    return v;
}

zl_tensor *zl_tensor_transpose(const zl_tensor *t, int d1, int d2)
{
    if (check_dim(t, d1, 0, "transpose") != 0 || check_dim(t, d2, 0, "transpose") != 0)
        return NULL;
    zl_tensor *v = header_like(t);
    if (!v) return NULL;
    v->shape[d1] = t->shape[d2]; v->stride[d1] = t->stride[d2];
    v->shape[d2] = t->shape[d1]; v->stride[d2] = t->stride[d1];
    return v;
}

zl_tensor *zl_tensor_squeeze(const zl_tensor *t, int dim)
{
    if (dim != -1 && check_dim(t, dim, 0, "squeeze") != 0) return NULL;
    if (dim >= 0 && t->shape[dim] != 1) {
        zl_error_set("tensor: squeeze: dimension %d has size %lld, not 1", dim + 1,
                     (long long)t->shape[dim]);
        return NULL;
    }
    zl_tensor *v = header_like(t);
    if (!v) return NULL;
    int nd = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (dim == -1 ? t->shape[d] == 1 : d == dim) continue;
        v->shape[nd] = t->shape[d];
        v->stride[nd] = t->stride[d];
        nd++;
    }
    v->ndim = nd;
    return v;
}

zl_tensor *zl_tensor_unsqueeze(const zl_tensor *t, int dim)
{
    if (check_dim(t, dim, 1, "unsqueeze") != 0) return NULL;
    if (t->ndim >= ZL_MAX_DIMS) {
        zl_error_set("tensor: unsqueeze: at most %d dimensions", ZL_MAX_DIMS);
        return NULL;
    }
    zl_tensor *v = header_like(t);
    if (!v) return NULL;
    for (int d = t->ndim; d > dim; d--) {
        v->shape[d] = t->shape[d - 1];
        v->stride[d] = t->stride[d - 1];
    }
    v->shape[dim] = 1;
    v->stride[dim] = dim < t->ndim ? t->stride[dim] * t->shape[dim] : 1; /* never read */
    v->ndim = t->ndim + 1;
    return v;
}

int zl_tensor_reshape(zl_tensor *t, int ndim, const int64_t *shape)
{
    int64_t n = zl_shape_numel(ndim, shape);
    if (n < 0) return -1;
    if (n != t->numel)
        return zl_error_set("tensor: cannot reshape %lld elements into %lld",
                            (long long)t->numel, (long long)n);
    if (!zl_tensor_is_contiguous(t))
        return zl_error_set("tensor is not contiguous; call :contiguous()");
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    set_contiguous_strides(t);
    return 0;
}

int zl_tensor_check_value(zl_dtype dt, double v)
{
    /* (int32_t)v is undefined unless trunc(v) is in range; NaN fails both tests */
    if (dt == ZL_I32 && !(v > -2147483649.0 && v < 2147483648.0))
        return zl_error_set("tensor: value %.17g does not fit in i32", v);
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
                         (long long)idx[i] + (idx[i] < INT64_MAX), i + 1, (long long)t->shape[i]);
            return -1;
        }
        off += idx[i] * t->stride[i];
    }
    return off;
}

int64_t zl_tensor_flat_offset(const zl_tensor *t, int64_t flat)
{
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        int64_t n = t->shape[i];
        off += (flat % n) * t->stride[i];
        flat /= n;
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

/* ---- strided iteration ----
 * Up to three operands over one shape, each with its own strides (0 for a broadcast
 * dimension). Dimensions that are contiguous in every operand are merged, so a
 * contiguous operation is a single row; rows are split into chunks so that OpenMP
 * has work to share either way. */
#define IT_MAXOP 3
#define IT_CHUNK 16384
typedef struct {
    int nd, nop;
    int64_t shape[ZL_MAX_DIMS];
    int64_t st[IT_MAXOP][ZL_MAX_DIMS];
    char *base[IT_MAXOP];
} nditer;

/* The kernel: n elements, p[k] the first element of operand k, s[k] its stride. */
typedef void (*row_fn)(void *ctx, int64_t n, char *const *p, const int64_t *s);

static void iter_coalesce(nditer *it)
{
    int nd = 0;
    for (int d = 0; d < it->nd; d++) {
        if (it->shape[d] == 1) continue; /* size 1: its strides never matter */
        if (nd > 0) {
            int merge = 1;
            for (int k = 0; k < it->nop; k++)
                if (it->st[k][nd - 1] != it->st[k][d] * it->shape[d]) merge = 0;
            if (merge) {
                it->shape[nd - 1] *= it->shape[d];
                for (int k = 0; k < it->nop; k++) it->st[k][nd - 1] = it->st[k][d];
                continue;
            }
        }
        it->shape[nd] = it->shape[d];
        for (int k = 0; k < it->nop; k++) it->st[k][nd] = it->st[k][d];
        nd++;
    }
    if (nd == 0) { /* a single element */
        it->shape[0] = 1;
        for (int k = 0; k < it->nop; k++) it->st[k][0] = 0;
        nd = 1;
    }
    it->nd = nd;
}

static void iter_run(nditer *it, size_t esize, row_fn fn, void *ctx)
{
    iter_coalesce(it);
    int nd = it->nd, nop = it->nop;
    int64_t inner = it->shape[nd - 1], rows = 1;
    for (int d = 0; d < nd - 1; d++) rows *= it->shape[d];
    if (inner == 0 || rows == 0) return;
    int64_t nchunk = (inner + IT_CHUNK - 1) / IT_CHUNK;
    int64_t items = rows * nchunk;
    int64_t s_in[IT_MAXOP];
    for (int k = 0; k < nop; k++) s_in[k] = it->st[k][nd - 1];
#pragma omp parallel for schedule(static) if (rows * inner > 65536) num_threads(zl_get_threads())
    for (int64_t w = 0; w < items; w++) {
        int64_t r = w / nchunk, c = w % nchunk;
        char *p[IT_MAXOP];
        int64_t off[IT_MAXOP] = {0, 0, 0};
        int64_t rr = r;
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = rr % it->shape[d];
            rr /= it->shape[d];
            for (int k = 0; k < nop; k++) off[k] += i * it->st[k][d];
        }
        int64_t first = c * IT_CHUNK;
        int64_t n = inner - first < IT_CHUNK ? inner - first : IT_CHUNK;
        for (int k = 0; k < nop; k++)
            p[k] = it->base[k] + (off[k] + first * s_in[k]) * (int64_t)esize;
        fn(ctx, n, p, s_in);
    }
}

static void iter_operand(nditer *it, int k, const zl_tensor *t)
{
    it->base[k] = t->data;
    /* aligned on the right (numpy): missing leading dimensions broadcast */
    int lead = it->nd - t->ndim;
    for (int d = 0; d < it->nd; d++) {
        int td = d - lead;
        it->st[k][d] = (td < 0 || t->shape[td] == 1) ? 0 : t->stride[td];
    }
}

static void row_copy32(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    (void)ctx;
    uint32_t *d = (uint32_t *)p[0];
    const uint32_t *a = (const uint32_t *)p[1];
    if (s[0] == 1 && s[1] == 1) { memcpy(d, a, (size_t)n * 4); return; }
    for (int64_t i = 0; i < n; i++) d[i * s[0]] = a[i * s[1]];
}

/* dst[...] = src[...] elementwise (4-byte elements), same shape. */
static void copy_strided(zl_tensor *dst, const zl_tensor *src)
{
    nditer it = {.nd = dst->ndim, .nop = 2};
    for (int d = 0; d < dst->ndim; d++) it.shape[d] = dst->shape[d];
    iter_operand(&it, 0, dst);
    iter_operand(&it, 1, src);
    iter_run(&it, 4, row_copy32, NULL);
}

zl_tensor *zl_tensor_clone(const zl_tensor *src)
{
    zl_tensor *t = tensor_empty(src->dtype, src->ndim, src->shape);
    if (!t) return NULL;
    if (zl_tensor_is_contiguous(src))
        memcpy(t->data, src->data, (size_t)src->numel * zl_dtype_size(src->dtype));
    else
        copy_strided(t, src);
    return t;
}

int zl_tensor_copy(zl_tensor *dst, const zl_tensor *src)
{
    if (dst->dtype != src->dtype)
        return zl_error_set("tensor: copy from %s to %s", zl_dtype_name(src->dtype),
                            zl_dtype_name(dst->dtype));
    if (dst->numel != src->numel)
        return zl_error_set("tensor: copy of %lld elements into %lld",
                            (long long)src->numel, (long long)dst->numel);
    if (zl_tensor_is_contiguous(dst) && zl_tensor_is_contiguous(src)) {
        memmove(dst->data, src->data, (size_t)src->numel * zl_dtype_size(src->dtype));
        return 0;
    }
    if (dst->ndim != src->ndim || memcmp(dst->shape, src->shape, sizeof(int64_t) * (size_t)dst->ndim))
        return zl_error_set("tensor: copy between different shapes needs contiguous tensors");
    copy_strided(dst, src);
    return 0;
}

static void row_fill(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    (void)ctx;
    uint32_t bits;
    memcpy(&bits, p[1], 4);
    uint32_t *d = (uint32_t *)p[0];
    for (int64_t i = 0; i < n; i++) d[i * s[0]] = bits;
}

int zl_tensor_fill(zl_tensor *t, double value)
{
    if (zl_tensor_check_value(t->dtype, value) != 0) return -1;
    union { float f; int32_t i; } v;
    if (t->dtype == ZL_F32) v.f = (float)value;
    else v.i = (int32_t)value;
    nditer it = {.nd = t->ndim, .nop = 2};
    for (int d = 0; d < t->ndim; d++) it.shape[d] = t->shape[d];
    iter_operand(&it, 0, t);
    it.base[1] = (char *)&v; /* strides stay 0: the one value */
    iter_run(&it, 4, row_fill, NULL);
    return 0;
}

typedef struct { int bad; double badv; } conv_ctx;

static void row_f2i(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    conv_ctx *c = ctx;
    int32_t *d = (int32_t *)p[0];
    const float *a = (const float *)p[1];
    for (int64_t i = 0; i < n; i++) {
        float x = a[i * s[1]];
        if (!(x > -2147483649.0f && x < 2147483648.0f)) {
#pragma omp critical(zl_tensor_conv)
            { c->bad = 1; c->badv = x; }
            d[i * s[0]] = 0;
        } else {
            d[i * s[0]] = (int32_t)x;
        }
    }
}

static void row_i2f(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    (void)ctx;
    float *d = (float *)p[0];
    const int32_t *a = (const int32_t *)p[1];
    for (int64_t i = 0; i < n; i++) d[i * s[0]] = (float)a[i * s[1]];
}

zl_tensor *zl_tensor_convert(const zl_tensor *t, zl_dtype dt)
{
    if (dt == t->dtype) return zl_tensor_clone(t);
    zl_tensor *o = tensor_empty(dt, t->ndim, t->shape);
    if (!o) return NULL;
    nditer it = {.nd = t->ndim, .nop = 2};
    for (int d = 0; d < t->ndim; d++) it.shape[d] = t->shape[d];
    iter_operand(&it, 0, o);
    iter_operand(&it, 1, t);
    conv_ctx c = {0, 0};
    iter_run(&it, 4, dt == ZL_I32 ? row_f2i : row_i2f, &c);
    if (c.bad) {
        zl_tensor_check_value(ZL_I32, c.badv);
        zl_tensor_free(o);
        return NULL;
    }
    return o;
}

/* f32 and contiguous: t itself (*owned = NULL) or a converted copy to free. */
static const zl_tensor *as_f32c(const zl_tensor *t, zl_tensor **owned)
{
    *owned = NULL;
    if (t->dtype == ZL_F32 && zl_tensor_is_contiguous(t)) return t;
    *owned = zl_tensor_convert(t, ZL_F32);
    return *owned;
}

static int threads_max(void) { return zl_get_threads(); }

/* ---- joining ---- */
zl_tensor *zl_tensor_cat(int n, const zl_tensor *const *ts, int dim)
{
    if (n < 1) { zl_error_set("tensor: cat of an empty list"); return NULL; }
    const zl_tensor *f = ts[0];
    if (check_dim(f, dim, 0, "cat") != 0) return NULL;
    int64_t shape[ZL_MAX_DIMS];
    memcpy(shape, f->shape, sizeof shape);
    shape[dim] = 0;
    for (int i = 0; i < n; i++) {
        const zl_tensor *t = ts[i];
        if (t->dtype != f->dtype || t->ndim != f->ndim) {
            zl_error_set("tensor: cat: tensor %d is %s with %d dimensions, tensor 1 %s with %d",
                         i + 1, zl_dtype_name(t->dtype), t->ndim, zl_dtype_name(f->dtype), f->ndim);
            return NULL;
        }
        for (int d = 0; d < f->ndim; d++)
            if (d != dim && t->shape[d] != f->shape[d]) {
                zl_error_set("tensor: cat: tensor %d has size %lld in dimension %d, tensor 1 %lld",
                             i + 1, (long long)t->shape[d], d + 1, (long long)f->shape[d]);
                return NULL;
            }
        shape[dim] += t->shape[dim];
    }
    zl_tensor *o = tensor_empty(f->dtype, f->ndim, shape);
    if (!o) return NULL;
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        zl_tensor *v = zl_tensor_narrow(o, dim, at, ts[i]->shape[dim]);
        if (!v) { zl_tensor_free(o); return NULL; }
        copy_strided(v, ts[i]);
        at += ts[i]->shape[dim];
        zl_tensor_free(v);
    }
    return o;
}

zl_tensor *zl_tensor_stack(int n, const zl_tensor *const *ts, int dim)
{
    if (n < 1) { zl_error_set("tensor: stack of an empty list"); return NULL; }
    for (int i = 1; i < n; i++)
        if (ts[i]->ndim != ts[0]->ndim ||
            memcmp(ts[i]->shape, ts[0]->shape, sizeof(int64_t) * (size_t)ts[0]->ndim)) {
            zl_error_set("tensor: stack: tensor %d's shape differs from tensor 1's", i + 1);
            return NULL;
        }
    zl_tensor **us = calloc((size_t)n, sizeof *us);
    if (!us) { zl_error_set("tensor: out of memory"); return NULL; }
    zl_tensor *o = NULL;
    int i;
    for (i = 0; i < n; i++)
        if (!(us[i] = zl_tensor_unsqueeze(ts[i], dim))) break;
    if (i == n) o = zl_tensor_cat(n, (const zl_tensor *const *)us, dim);
    for (i = 0; i < n; i++) zl_tensor_free(us[i]);
    free(us);
    return o;
}

/* ---- reductions ---- */
/* Sum (sq: of squares) of n contiguous floats: 16 float lanes (independent chains the
 * compiler vectorises), flushed into a double every 64 steps so that no lane adds more
 * than 64 terms in single precision. */
static double sum_f32(const float *p, int64_t n, int sq)
{
    double s = 0.0;
    int64_t i = 0;
    while (n - i >= 16) {
        float acc[16] = {0};
        int64_t end = i + 64 * 16 < n ? i + 64 * 16 : n - (n - i) % 16;
        if (sq)
            for (; i < end; i += 16)
                for (int k = 0; k < 16; k++) acc[k] += p[i + k] * p[i + k];
        else
            for (; i < end; i += 16)
                for (int k = 0; k < 16; k++) acc[k] += p[i + k];
        for (int k = 0; k < 16; k++) s += acc[k];
    }
    for (; i < n; i++) s += sq ? (double)p[i] * p[i] : (double)p[i];
    return s;
}

/* One row of n elements at stride st: sum (of squares), or the extreme and its index. */
static void reduce_row(zl_reduce op, const float *p, int64_t n, int64_t st, double *val,
                       int64_t *idx)
{
    if (op == ZL_RED_SUM || op == ZL_RED_MEAN || op == ZL_RED_SUMSQ) {
        double s = 0.0;
        if (st == 1) {
            s = sum_f32(p, n, op == ZL_RED_SUMSQ);
        } else {
            for (int64_t i = 0; i < n; i++) {
                double x = p[i * st];
                s += op == ZL_RED_SUMSQ ? x * x : x;
            }
        }
        *val = s;
        if (idx) *idx = 0;
        return;
    }
    int mx = op == ZL_RED_MAX;
    float best = p[0];
    int64_t bi = 0;
    if (best == best)
        for (int64_t i = 1; i < n; i++) {
            float x = p[i * st];
            if (x != x) { best = x; bi = i; break; }
            if (mx ? x > best : x < best) { best = x; bi = i; }
        }
    *val = best;
    if (idx) *idx = bi;
}

static const char *red_name(zl_reduce op)
{
    static const char *n[] = {"sum", "mean", "max", "min", "norm"};
    return n[op];
}

int zl_tensor_reduce_all(const zl_tensor *t, zl_reduce op, double *value, int64_t *index)
{
    if (t->numel == 0 && op != ZL_RED_SUM && op != ZL_RED_SUMSQ)
        return zl_error_set("tensor: %s of an empty tensor", red_name(op));
    zl_tensor *own;
    const zl_tensor *c = as_f32c(t, &own);
    if (!c) return -1;
    const float *p = ZL_F32P(c);
    int64_t n = c->numel, nch = (n + IT_CHUNK - 1) / IT_CHUNK;
    double *vals = malloc(sizeof(double) * (size_t)(nch ? nch : 1));
    int64_t *ids = malloc(sizeof(int64_t) * (size_t)(nch ? nch : 1));
    if (!vals || !ids) {
        free(vals); free(ids); zl_tensor_free(own);
        return zl_error_set("tensor: out of memory");
    }
#pragma omp parallel for schedule(static) if (n > 65536) num_threads(zl_get_threads())
    for (int64_t k = 0; k < nch; k++) {
        int64_t first = k * IT_CHUNK, m = n - first < IT_CHUNK ? n - first : IT_CHUNK;
        reduce_row(op, p + first, m, 1, &vals[k], &ids[k]);
        ids[k] += first;
    }
    double v = 0.0;
    int64_t bi = 0;
    if (op == ZL_RED_MAX || op == ZL_RED_MIN) {
        v = vals[0]; bi = ids[0];
        for (int64_t k = 1; k < nch && v == v; k++)
            if (vals[k] != vals[k] || (op == ZL_RED_MAX ? vals[k] > v : vals[k] < v)) {
                v = vals[k]; bi = ids[k];
            }
    } else {
        for (int64_t k = 0; k < nch; k++) v += vals[k];
        if (op == ZL_RED_MEAN) v /= (double)n;
    }
    free(vals); free(ids); zl_tensor_free(own);
    *value = v;
    if (index) *index = bi;
    return 0;
}

/* Sizes of a contiguous tensor seen as [outer, n, inner] around dim. */
static void split3(const zl_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1; *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= t->shape[d];
    for (int d = dim + 1; d < t->ndim; d++) *inner *= t->shape[d];
    *n = t->shape[dim];
}

#define RED_BLOCK 256

int zl_tensor_reduce_dim(const zl_tensor *t, zl_reduce op, int dim, zl_tensor **values,
                         zl_tensor **indices)
{
    *values = NULL;
    if (indices) *indices = NULL;
    if (check_dim(t, dim, 0, red_name(op)) != 0) return -1;
    int ext = op == ZL_RED_MAX || op == ZL_RED_MIN;
    if (t->shape[dim] == 0 && op != ZL_RED_SUM && op != ZL_RED_SUMSQ)
        return zl_error_set("tensor: %s over an empty dimension %d", red_name(op), dim + 1);
    zl_tensor *own;
    const zl_tensor *c = as_f32c(t, &own);
    if (!c) return -1;
    int64_t shape[ZL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = 1;
    zl_tensor *v = tensor_empty(ZL_F32, t->ndim, shape);
    zl_tensor *ix = ext && indices ? tensor_empty(ZL_I32, t->ndim, shape) : NULL;
    if (!v || (ext && indices && !ix)) {
        zl_tensor_free(v); zl_tensor_free(ix); zl_tensor_free(own);
        return -1;
    }
    int64_t outer, n, inner;
    split3(c, dim, &outer, &n, &inner);
    const float *p = ZL_F32P(c);
    float *out = ZL_F32P(v);
    int32_t *oi = ix ? ZL_I32P(ix) : NULL;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (outer * n > 65536) num_threads(zl_get_threads())
        for (int64_t o = 0; o < outer; o++) {
            double val;
            int64_t bi;
            reduce_row(op, p + o * n, n, 1, &val, &bi);
            if (op == ZL_RED_MEAN) val /= (double)n;
            out[o] = (float)val;
            if (oi) oi[o] = (int32_t)bi;
        }
    } else {
        /* rows of the inner block accumulate side by side: reads stay sequential */
        int64_t nb = (inner + RED_BLOCK - 1) / RED_BLOCK;
#pragma omp parallel for schedule(static) if (outer * n * inner > 65536) num_threads(zl_get_threads())
        for (int64_t w = 0; w < outer * nb; w++) {
            int64_t o = w / nb, i0 = (w % nb) * RED_BLOCK;
            int64_t m = inner - i0 < RED_BLOCK ? inner - i0 : RED_BLOCK;
            double acc[RED_BLOCK];
            int64_t bix[RED_BLOCK];
            const float *base = p + o * n * inner + i0;
            for (int64_t i = 0; i < m; i++) { acc[i] = ext ? base[i] : 0.0; bix[i] = 0; }
            for (int64_t k = ext ? 1 : 0; k < n; k++) {
                const float *row = base + k * inner;
                if (op == ZL_RED_SUMSQ)
                    for (int64_t i = 0; i < m; i++) acc[i] += (double)row[i] * row[i];
                else if (!ext)
                    for (int64_t i = 0; i < m; i++) acc[i] += row[i];
                else
                    for (int64_t i = 0; i < m; i++) {
                        double x = row[i];
                        if (acc[i] != acc[i]) continue;
                        if (x != x || (op == ZL_RED_MAX ? x > acc[i] : x < acc[i])) {
                            acc[i] = x; bix[i] = k;
                        }
                    }
            }
            float *dst = out + o * inner + i0;
            for (int64_t i = 0; i < m; i++)
                dst[i] = (float)(op == ZL_RED_MEAN ? acc[i] / (double)n : acc[i]);
            if (oi)
                for (int64_t i = 0; i < m; i++) oi[o * inner + i0 + i] = (int32_t)bix[i];
        }
    }
    zl_tensor_free(own);
    *values = v;
    if (indices) *indices = ix;
    return 0;
}

typedef struct { float v; int32_t i; } vi_pair;

/* Decreasing value, NaN first, then the lower index. */
static int vi_before(const vi_pair *a, const vi_pair *b)
{
    int an = a->v != a->v, bn = b->v != b->v;
    if (an != bn) return an;
    if (!an && a->v != b->v) return a->v > b->v;
    return a->i < b->i;
}

static int vi_cmp(const void *x, const void *y)
{
    const vi_pair *a = x, *b = y;
    return vi_before(a, b) ? -1 : vi_before(b, a) ? 1 : 0;
}

int zl_tensor_topk(const zl_tensor *t, int64_t k, int dim, zl_tensor **values,
                   zl_tensor **indices)
{
    *values = NULL; *indices = NULL;
    if (check_dim(t, dim, 0, "topk") != 0) return -1;
    if (k < 1 || k > t->shape[dim])
        return zl_error_set("tensor: topk: k = %lld is outside 1..%lld (dimension %d)",
                            (long long)k, (long long)t->shape[dim], dim + 1);
    if (t->shape[dim] > INT32_MAX) return zl_error_set("tensor: topk: dimension too large");
    zl_tensor *own;
    const zl_tensor *c = as_f32c(t, &own);
    if (!c) return -1;
    int64_t shape[ZL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[dim] = k;
    zl_tensor *v = tensor_empty(ZL_F32, t->ndim, shape);
    zl_tensor *ix = tensor_empty(ZL_I32, t->ndim, shape);
    int64_t outer, n, inner;
    split3(c, dim, &outer, &n, &inner);
    int nth = threads_max(); /* one read: the buffers and the team agree */
    vi_pair *buf = v && ix ? malloc(sizeof(vi_pair) * (size_t)n * (size_t)nth) : NULL;
    if (!buf) {
        zl_tensor_free(v); zl_tensor_free(ix); zl_tensor_free(own);
        return v && ix ? zl_error_set("tensor: out of memory") : -1;
    }
    const float *p = ZL_F32P(c);
    float *ov = ZL_F32P(v);
    int32_t *oi = ZL_I32P(ix);
#pragma omp parallel for schedule(static) if (outer * inner * n > 65536) num_threads(nth)
    for (int64_t w = 0; w < outer * inner; w++) {
#ifdef _OPENMP
        vi_pair *b = buf + (size_t)omp_get_thread_num() * (size_t)n;
#else
        vi_pair *b = buf;
#endif
        int64_t o = w / inner, i = w % inner;
        const float *src = p + o * n * inner + i;
        int64_t have = 0;
        for (int64_t j = 0; j < n; j++) {
            vi_pair x = {src[j * inner], (int32_t)j};
            if (k > 32) { b[have++] = x; continue; }
            /* small k: keep the best k sorted, insert by shifting */
            if (have == k && !vi_before(&x, &b[k - 1])) continue;
            int64_t at = have < k ? have++ : k - 1;
            while (at > 0 && vi_before(&x, &b[at - 1])) { b[at] = b[at - 1]; at--; }
            b[at] = x;
        }
        if (k > 32) qsort(b, (size_t)n, sizeof *b, vi_cmp);
        for (int64_t j = 0; j < k; j++) {
            ov[o * k * inner + j * inner + i] = b[j].v;
            oi[o * k * inner + j * inner + i] = b[j].i;
        }
    }
    free(buf);
    zl_tensor_free(own);
    *values = v;
    *indices = ix;
    return 0;
}

zl_tensor *zl_tensor_softmax(const zl_tensor *t, int dim)
{
    if (check_dim(t, dim, 0, "softmax") != 0) return NULL;
    zl_tensor *o = zl_tensor_convert(t, ZL_F32); /* contiguous f32 copy, then in place */
    if (!o) return NULL;
    int64_t outer, n, inner;
    split3(o, dim, &outer, &n, &inner);
    float *p = ZL_F32P(o);
    if (n == 0) return o;
#pragma omp parallel for schedule(static) if (outer * inner * n > 65536) num_threads(zl_get_threads())
    for (int64_t w = 0; w < outer * inner; w++) {
        int64_t oo = w / inner, i = w % inner;
        float *x = p + oo * n * inner + i;
        float mx = x[0];
        for (int64_t j = 1; j < n; j++) mx = x[j * inner] > mx ? x[j * inner] : mx;
        double s = 0.0;
        if (inner == 1) {
            for (int64_t j = 0; j < n; j++) x[j] -= mx;
            zl_vmath_exp(x, x, n);
            for (int64_t j = 0; j < n; j++) s += x[j];
        } else {
            for (int64_t j = 0; j < n; j++) {
                x[j * inner] = expf(x[j * inner] - mx);
                s += x[j * inner];
            }
        }
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < n; j++) x[j * inner] *= inv;
    }
    return o;
}

/* ---- elementwise ---- */
typedef struct { int op; float lo, hi; } ew_ctx;

#define EW_LOOP(EXPR)                                                              \
    do {                                                                           \
        if (sa == 1 && sb == 1)                                                    \
            for (int64_t i = 0; i < n; i++) { float x = a[i], y = b[i]; d[i] = (EXPR); } \
        else if (sa == 1 && sb == 0) {                                             \
            float y = b[0];                                                        \
            for (int64_t i = 0; i < n; i++) { float x = a[i]; d[i] = (EXPR); }     \
        } else if (sa == 0 && sb == 1) {                                           \
            float x = a[0];                                                        \
            for (int64_t i = 0; i < n; i++) { float y = b[i]; d[i] = (EXPR); }     \
        } else                                                                     \
            for (int64_t i = 0; i < n; i++) {                                      \
                float x = a[i * sa], y = b[i * sb];                                \
                d[i] = (EXPR);                                                     \
            }                                                                      \
    } while (0)

static void row_binop(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    const ew_ctx *c = ctx;
    float *d = (float *)p[0];
    const float *a = (const float *)p[1], *b = (const float *)p[2];
    int64_t sa = s[1], sb = s[2];
    switch ((zl_binop)c->op) {
    case ZL_OP_ADD: EW_LOOP(x + y); break;
    case ZL_OP_SUB: EW_LOOP(x - y); break;
    case ZL_OP_MUL: EW_LOOP(x * y); break;
    case ZL_OP_DIV: EW_LOOP(x / y); break;
    case ZL_OP_GT: EW_LOOP(x > y ? 1.0f : 0.0f); break;
    case ZL_OP_LT: EW_LOOP(x < y ? 1.0f : 0.0f); break;
    case ZL_OP_EQ: EW_LOOP(x == y ? 1.0f : 0.0f); break;
    }
}

zl_tensor *zl_tensor_binop(zl_binop op, const zl_tensor *a, const zl_tensor *b)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[ZL_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t x = da < 0 ? 1 : a->shape[da], y = db < 0 ? 1 : b->shape[db];
        if (x != y && x != 1 && y != 1) {
            char sa[96], sb[96];
            zl_tensor_describe(a, sa, sizeof sa);
            zl_tensor_describe(b, sb, sizeof sb);
            zl_error_set("tensor: shapes do not broadcast: %s and %s (dimension %d: %lld and %lld)",
                         sa + 11, sb + 11, d + 1, (long long)x, (long long)y);
            return NULL;
        }
        shape[d] = x == 1 ? y : x;
    }
    zl_tensor *oa, *ob;
    const zl_tensor *fa = a->dtype == ZL_F32 ? (oa = NULL, a) : (oa = zl_tensor_convert(a, ZL_F32));
    const zl_tensor *fb = b->dtype == ZL_F32 ? (ob = NULL, b) : (ob = zl_tensor_convert(b, ZL_F32));
    zl_tensor *o = fa && fb ? tensor_empty(ZL_F32, nd, shape) : NULL;
    if (o) {
        nditer it = {.nd = nd, .nop = 3};
        memcpy(it.shape, shape, sizeof shape);
        iter_operand(&it, 0, o);
        iter_operand(&it, 1, fa);
        iter_operand(&it, 2, fb);
        ew_ctx c = {(int)op, 0, 0};
        iter_run(&it, 4, row_binop, &c);
    }
    zl_tensor_free(oa);
    zl_tensor_free(ob);
    return o;
}

#define UN_LOOP(EXPR)                                                              \
    do {                                                                           \
        if (sa == 1)                                                               \
            for (int64_t i = 0; i < n; i++) { float x = a[i]; d[i] = (EXPR); }     \
        else                                                                       \
            for (int64_t i = 0; i < n; i++) { float x = a[i * sa]; d[i] = (EXPR); } \
    } while (0)

static void row_unop(void *ctx, int64_t n, char *const *p, const int64_t *s)
{
    const ew_ctx *c = ctx;
    float *d = (float *)p[0];
    const float *a = (const float *)p[1];
    int64_t sa = s[1];
    float lo = c->lo, hi = c->hi;
    switch ((zl_unop)c->op) {
    case ZL_OP_NEG: UN_LOOP(-x); break;
    case ZL_OP_EXP: UN_LOOP(expf(x)); break;
    case ZL_OP_LOG: UN_LOOP(logf(x)); break;
    case ZL_OP_SQRT: UN_LOOP(sqrtf(x)); break;
    case ZL_OP_ABS: UN_LOOP(fabsf(x)); break;
    case ZL_OP_CLAMP: UN_LOOP(x < lo ? lo : x > hi ? hi : x); break;
    }
}

zl_tensor *zl_tensor_unop(zl_unop op, const zl_tensor *a, double lo, double hi)
{
    if (op == ZL_OP_CLAMP && !(lo <= hi)) {
        zl_error_set("tensor: clamp bounds %g > %g", lo, hi);
        return NULL;
    }
    zl_tensor *oa = NULL;
    const zl_tensor *fa = a->dtype == ZL_F32 ? a : (oa = zl_tensor_convert(a, ZL_F32));
    zl_tensor *o = fa ? tensor_empty(ZL_F32, a->ndim, a->shape) : NULL;
    if (o) {
        nditer it = {.nd = a->ndim, .nop = 2};
        memcpy(it.shape, a->shape, sizeof it.shape);
        iter_operand(&it, 0, o);
        iter_operand(&it, 1, fa);
        ew_ctx c = {(int)op, (float)lo, (float)hi};
        iter_run(&it, 4, row_unop, &c);
    }
    zl_tensor_free(oa);
    return o;
}

/* ---- xoshiro256** seeded through splitmix64: integer-only, so portable ---- */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = zl_splitmix64(*x);
    *x += 0x9E3779B97F4A7C15ULL;
    return z;
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

/* OpenBLAS runs single-threaded, decided once for the process: every parallel product
 * runs on the core's OpenMP team (split here, or by the caller's own team), so no call
 * changes OpenBLAS's global thread count while another thread may be inside BLAS. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single(void) { openblas_set_num_threads(1); }

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
    pthread_once(&blas_once, blas_single);
    int nt = 1;
#ifdef _OPENMP
    /* outside any parallel region, a large product is split over the team by rows of C
       (inside one, the caller has already split the work) */
    if (omp_get_level() == 0 && M >= 64 && (double)M * N * K >= 1048576.0) nt = zl_get_threads();
#endif
    if (nt <= 1) {
        cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                    transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb,
                    beta, C, ldc);
        return;
    }
    int per = ((M + nt - 1) / nt + 15) / 16 * 16; /* whole 16-row blocks but the last */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int t = 0; t < nt; t++) {
        int r0 = t * per, r1 = r0 + per < M ? r0 + per : M;
        if (r1 <= r0) continue;
        cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans,
                    transb ? CblasTrans : CblasNoTrans, r1 - r0, N, K, alpha,
                    A + (transa ? (size_t)r0 : (size_t)r0 * lda), lda, B, ldb, beta,
                    C + (size_t)r0 * ldc, ldc);
    }
}

/* Do the element ranges of two contiguous f32 tensors share memory? */
static int overlaps(const zl_tensor *x, const zl_tensor *y)
{
    const float *x0 = ZL_F32P(x), *y0 = ZL_F32P(y);
    return x0 < y0 + y->numel && y0 < x0 + x->numel;
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
    if (out && out->dtype == ZL_F32 && out->ndim == 2 && out->shape[0] == M && out->shape[1] == N &&
        (overlaps(out, a) || overlaps(out, b))) {
        /* BLAS reads a and b while it writes out: a shared element would be garbage */
        zl_error_set("matmul: the output shares memory with an operand");
        return NULL;
    }
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
    pthread_once(&blas_once, blas_single);
    atomic_store(&zl_threads, n);
#ifdef _OPENMP
    omp_set_num_threads(n); /* the calling thread's own OpenMP default too */
#endif
    return 0;
}

/* Until zl_set_threads: OpenMP's default team (OMP_NUM_THREADS, else the cores), read once. */
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static void threads_default(void)
{
    int n = 1;
#ifdef _OPENMP
    n = omp_get_max_threads();
#endif
    int unset = 0;
    atomic_compare_exchange_strong(&zl_threads, &unset, n < 1 ? 1 : n);
}

int zl_get_threads(void)
{
    int n = atomic_load_explicit(&zl_threads, memory_order_relaxed);
    if (n > 0) return n;
    pthread_once(&threads_once, threads_default);
    return atomic_load(&zl_threads);
}
