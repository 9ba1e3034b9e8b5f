/* bf16.c — bf16 products on oneDNN (see bf16.h). */
#define _POSIX_C_SOURCE 200809L /* posix_memalign */
#include "bf16.h"
#include "error.h"
#include "tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef ZL_HAVE_DNNL
#include <dnnl.h>
#include <pthread.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

int zl_precision_parse(const char *name)
{
    if (name && strcmp(name, "fp32") == 0) return ZL_PRECISION_FP32;
    if (name && strcmp(name, "bf16") == 0) return ZL_PRECISION_BF16;
    return zl_error_set("unknown precision '%s' (fp32 or bf16)", name ? name : "(null)");
}

const char *zl_precision_name(int precision)
{
    return precision == ZL_PRECISION_BF16 ? "bf16" : "fp32";
}

uint16_t zl_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (isnan(x)) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN, sign kept */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float zl_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

struct zl_bf16_weights {
    int n;
    const float *src[16];
    int64_t count[16];
    uint16_t *dst[16];
};

zl_bf16_weights *zl_bf16_weights_new(int n, const float *const *src, const int64_t *count)
{
    if (n < 0 || n > 16) {
        zl_error_set("bf16: %d weight arrays (at most 16)", n);
        return NULL;
    }
    zl_bf16_weights *w = calloc(1, sizeof *w);
    if (!w) {
        zl_error_set("bf16: out of memory for the weights");
        return NULL;
    }
    w->n = n;
    for (int i = 0; i < n; i++) {
        w->src[i] = src[i];
        w->count[i] = count[i];
        if (!(w->dst[i] = malloc((size_t)count[i] * sizeof(uint16_t) + 1))) {
            zl_bf16_weights_free(w);
            zl_error_set("bf16: out of memory for the weights (%lld values)", (long long)count[i]);
            return NULL;
        }
        int64_t c = count[i], chunk = 1 << 16;
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
        for (int64_t j = 0; j < (c + chunk - 1) / chunk; j++) {
            int64_t a = j * chunk, b = a + chunk < c ? a + chunk : c;
            for (int64_t k = a; k < b; k++) w->dst[i][k] = zl_bf16_round(src[i][k]);
        }
    }
    return w;
}

void zl_bf16_weights_free(zl_bf16_weights *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->dst[i]);
    free(w);
}

const uint16_t *zl_bf16_weights_find(const zl_bf16_weights *w, const float *p)
{
    for (int i = 0; w && i < w->n; i++)
        if (p >= w->src[i] && p < w->src[i] + w->count[i]) return w->dst[i] + (p - w->src[i]);
    return NULL;
}

#ifndef ZL_HAVE_DNNL

int zl_bf16_check(void)
{
    return zl_error_set("precision bf16: zonelab was built without oneDNN (apt-get install "
                        "libdnnl-dev, then rebuild)");
}

int zl_bf16_linear(float *out, const float *inp, const uint16_t *w, const float *bias, int M,
                   int K, int N)
{
    (void)out, (void)inp, (void)w, (void)bias, (void)M, (void)K, (void)N;
    return zl_bf16_check();
}

#else

static void round_rows(uint16_t *dst, const float *src, int64_t n)
{
    /* the same rounding as zl_bf16_round, branch-free for the compiler to vectorise; a NaN
       cannot reach a product (inputs are finite or the forward reports them) */
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, sizeof u);
        u += 0x7fffu + ((u >> 16) & 1u);
        dst[i] = (uint16_t)(u >> 16);
    }
}

/* One CPU engine for the process, made once. */
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static dnnl_status_t engine_status;
static pthread_key_t scratch_key;
static void scratch_free(void *p);

static void engine_init(void)
{
    engine_status = dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (pthread_key_create(&scratch_key, scratch_free) != 0 && engine_status == dnnl_success)
        engine_status = dnnl_out_of_memory;
}

static int need_engine(void)
{
    pthread_once(&engine_once, engine_init);
    if (engine_status != dnnl_success)
        return zl_error_set("bf16: oneDNN could not create a CPU engine (status %d)", (int)engine_status);
    return 0;
}

int zl_bf16_check(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    /* the ISA values are nested bit sets: bf16's bits are in AMX's too */
    if (((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) != (unsigned)dnnl_cpu_isa_avx512_core_bf16)
        return zl_error_set("precision bf16: this CPU has no native bf16 products (no AVX512_BF16 "
                            "or AMX as oneDNN sees it); bf16 would be emulated and slower than fp32");
    return need_engine();
}

/* The primitive cache: creating a matmul primitive costs far more than a small product, and
 * a sweep's shapes repeat (batch widths, row chunks). Bounded; an entry in use is never
 * evicted (refs), the least recently used free one is. */
enum { CACHE_SIZE = 96 };
typedef struct {
    int M, K, N, bias;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t pad;     /* its scratchpad (ours: the library's is shared by threads) */
    size_t pad_bytes;
    int refs;
    uint64_t used;
} cache_entry;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_entry cache[CACHE_SIZE];
static uint64_t cache_clock;

static dnnl_status_t descs(dnnl_memory_desc_t *a, dnnl_memory_desc_t *b, dnnl_memory_desc_t *bi,
                           dnnl_memory_desc_t *c, int M, int K, int N)
{
    dnnl_dims_t da = {M, K}, db = {K, N}, sb = {1, K}, dbi = {1, N}, dc = {M, N};
    dnnl_status_t s;
    /* W [N, K] row-major is the K x N weights with strides (1, K): no transposed copy */
    if ((s = dnnl_memory_desc_init_by_tag(a, 2, da, dnnl_bf16, dnnl_ab)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_strides(b, 2, db, dnnl_bf16, sb)) != dnnl_success) return s;
    if ((s = dnnl_memory_desc_init_by_tag(bi, 2, dbi, dnnl_f32, dnnl_ab)) != dnnl_success) return s;
    return dnnl_memory_desc_init_by_tag(c, 2, dc, dnnl_f32, dnnl_ab);
}

static dnnl_status_t create_primitive(cache_entry *e, int M, int K, int N, int bias)
{
    dnnl_memory_desc_t a, b, bi, c;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr;
    dnnl_status_t s = descs(&a, &b, &bi, &c, M, K, N);
    if (s == dnnl_success) s = dnnl_matmul_desc_init(&md, &a, &b, bias ? &bi : NULL, &c);
    if (s != dnnl_success || (s = dnnl_primitive_attr_create(&attr)) != dnnl_success) return s;
    /* a scratchpad per call (the caller's thread's), not the library's: threads running
       products at once would share that one */
    s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL);
    dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) return s;
    e->pad = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    e->pad_bytes = dnnl_memory_desc_get_size(&e->pad);
    s = dnnl_primitive_create(&e->prim, pd);
    dnnl_primitive_desc_destroy(pd);
    return s;
}

static cache_entry *acquire(int M, int K, int N, int bias)
{
    pthread_mutex_lock(&cache_lock);
    cache_entry *hit = NULL, *victim = NULL;
    for (int i = 0; i < CACHE_SIZE && !hit; i++) {
        cache_entry *e = &cache[i];
        if (e->prim && e->M == M && e->K == K && e->N == N && e->bias == bias) hit = e;
        else if (!e->refs && (!victim || (victim->prim && (!e->prim || e->used < victim->used))))
            victim = e;
    }
    if (hit) {
        hit->refs++;
        hit->used = ++cache_clock;
        pthread_mutex_unlock(&cache_lock);
        return hit;
    }
    if (!victim) {
        pthread_mutex_unlock(&cache_lock);
        zl_error_set("bf16: every cached product is in use (%d threads at once)", CACHE_SIZE);
        return NULL;
    }
    /* created under the lock: two threads asking for one shape make it once */
    if (victim->prim) dnnl_primitive_destroy(victim->prim);
    victim->prim = NULL;
    dnnl_status_t s = create_primitive(victim, M, K, N, bias);
    if (s != dnnl_success) {
        victim->prim = NULL;
        pthread_mutex_unlock(&cache_lock);
        zl_error_set("bf16: oneDNN could not create the product %d x %d x %d (status %d)", M, K,
                     N, (int)s);
        return NULL;
    }
    victim->M = M, victim->K = K, victim->N = N, victim->bias = bias;
    victim->refs = 1;
    victim->used = ++cache_clock;
    pthread_mutex_unlock(&cache_lock);
    return victim;
}

static void release(cache_entry *e)
{
    pthread_mutex_lock(&cache_lock);
    e->refs--;
    pthread_mutex_unlock(&cache_lock);
}

/* This thread's buffer (the activations' bf16 copy, the product's scratchpad), n bytes on
 * a 64-byte boundary (oneDNN's blocks), grown on demand, freed with the thread. */
typedef struct {
    size_t n;
    void *buf;
} thread_scratch;

static void scratch_free(void *p)
{
    thread_scratch *t = p;
    free(t->buf);
    free(t);
}

static void *scratch(size_t n)
{
    thread_scratch *t = pthread_getspecific(scratch_key);
    if (!t) {
        if (!(t = calloc(1, sizeof *t))) return NULL;
        if (pthread_setspecific(scratch_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->n < n) {
        void *b = NULL;
        if (posix_memalign(&b, 64, n) != 0) return NULL;
        free(t->buf);
        t->buf = b;
        t->n = n;
    }
    return t->buf;
}

static int run(float *out, const float *inp, const uint16_t *w, const float *bias, int M, int K,
               int N)
{
    cache_entry *e = acquire(M, K, N, bias != NULL);
    if (!e) return -1;
    size_t in_bytes = ((size_t)M * K * sizeof(uint16_t) + 63) / 64 * 64;
    char *buf = scratch(in_bytes + e->pad_bytes);
    if (!buf) {
        release(e);
        return zl_error_set("bf16: out of memory for a %d x %d product's input", M, K);
    }
    uint16_t *a16 = (uint16_t *)buf;
    round_rows(a16, inp, (int64_t)M * K);
    dnnl_memory_desc_t a, b, bi, c;
    dnnl_memory_t ma = NULL, mb = NULL, mbi = NULL, mc = NULL, mpad = NULL;
    dnnl_stream_t st = NULL;
    dnnl_status_t s = descs(&a, &b, &bi, &c, M, K, N);
    if (s == dnnl_success) s = dnnl_memory_create(&mpad, &e->pad, engine, buf + in_bytes);
    if (s == dnnl_success) s = dnnl_memory_create(&ma, &a, engine, a16);
    if (s == dnnl_success) s = dnnl_memory_create(&mb, &b, engine, (void *)w);
    if (s == dnnl_success && bias) s = dnnl_memory_create(&mbi, &bi, engine, (void *)bias);
    if (s == dnnl_success) s = dnnl_memory_create(&mc, &c, engine, out);
    if (s == dnnl_success) s = dnnl_stream_create(&st, engine, dnnl_stream_default_flags);
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc},
                                   {DNNL_ARG_SCRATCHPAD, mpad}, {DNNL_ARG_BIAS, mbi}};
        s = dnnl_primitive_execute(e->prim, st, bias ? 5 : 4, args);
        if (s == dnnl_success) s = dnnl_stream_wait(st);
    }
    release(e);
    if (st) dnnl_stream_destroy(st);
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mbi) dnnl_memory_destroy(mbi);
    if (mc) dnnl_memory_destroy(mc);
    if (mpad) dnnl_memory_destroy(mpad);
    if (s != dnnl_success)
        return zl_error_set("bf16: oneDNN failed on a %d x %d x %d product (status %d)", M, K, N, (int)s);
    return 0;
}

int zl_bf16_linear(float *out, const float *inp, const uint16_t *w, const float *bias, int M,
                   int K, int N)
{
    if (M < 1 || K < 1 || N < 1) return 0;
    if (!w) return zl_error_set("bf16: a product without its bf16 weights");
    if (need_engine() != 0) return -1;
    int rc = 0;
#ifdef _OPENMP
    /* oneDNN (built with OpenMP) runs a primitive over omp_get_max_threads() threads when
       called outside an active parallel region. The products of zonelab are split over its
       own team already, so each call runs on its thread alone: an inactive region of one
       thread whose thread-count setting (one) ends with it, leaving the caller's alone. The
       primitive is made there too, so its work partition is for one thread. */
#pragma omp parallel num_threads(1)
    {
        omp_set_num_threads(1);
        rc = run(out, inp, w, bias, M, K, N);
    }
    if (rc != 0) {
        /* the message was set on the region's thread: the caller's thread, OpenMP's
           master of a one-thread region */
        return -1;
    }
#else
    rc = run(out, inp, w, bias, M, K, N);
#endif
    return rc;
}

#endif
