/* test_tfckpt.c — TensorFlow tensor bundles: crc32c, the real Chinese BERT index,
 * write/read round trips, multi-shard reading, corrupted files, and a fuzz loop over
 * truncations and mutated blocks of a small index (must never crash). */
#define _POSIX_C_SOURCE 200809L
#include "error.h"
#include "io.h"
#include "tfckpt.h"
#include "zl_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[64];

static char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static int error_has(const char *needle)
{
    const char *e = zl_error_get();
    if (!strstr(e, needle)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", e, needle);
        return 0;
    }
    return 1;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    char *d = NULL;
    if (zl_io_read_file(path, (size_t)1 << 30, &d, len) != 0) return NULL;
    return (unsigned char *)d;
}

static void spit(const char *path, const unsigned char *d, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(d, 1, len, f);
        fclose(f);
    }
}

static uint64_t varint(const unsigned char **p)
{
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
}

/* For an index with one data block (at offset 0, right before the metaindex block):
 * its size, so tests can edit it and then fix its crc. */
static size_t first_block_size(const unsigned char *d, size_t len)
{
    const unsigned char *p = d + len - 48;
    return (size_t)varint(&p) - 5;
}

static void fix_block_crc(unsigned char *d, size_t size)
{
    uint32_t c = zl_tfckpt_crc32c(zl_tfckpt_crc32c(0, d, size), d + size, 1);
    c = zl_tfckpt_crc_mask(c);
    for (int i = 0; i < 4; i++) d[size + 1 + i] = (unsigned char)(c >> (8 * i));
}

static unsigned char *find_bytes(unsigned char *d, size_t len, const unsigned char *pat, size_t n)
{
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(d + i, pat, n) == 0) return d + i;
    return NULL;
}

static void test_crc32c(void)
{
    CHECK(zl_tfckpt_crc32c(0, "123456789", 9) == 0xE3069283u);
    CHECK(zl_tfckpt_crc32c(0, "", 0) == 0);
    CHECK(zl_tfckpt_crc_mask(0) == 0xa282ead8u);
    /* 32 zero bytes: a published crc32c test vector (RFC 3720). */
    unsigned char z[32] = {0};
    CHECK(zl_tfckpt_crc32c(0, z, 32) == 0x8A9136AAu);
    /* continuing over any split gives the whole-buffer crc (exercises the tail loops) */
    unsigned char buf[100];
    for (int i = 0; i < 100; i++) buf[i] = (unsigned char)(i * 37 + 11);
    uint32_t whole = zl_tfckpt_crc32c(0, buf, 100);
    int same = 1;
    for (size_t k = 0; k <= 100; k++)
        same &= zl_tfckpt_crc32c(zl_tfckpt_crc32c(0, buf, k), buf + k, 100 - k) == whole;
    CHECK(same);
}

/* ---- the real index of Google's Chinese BERT-base ---- */
static void check_shape(const zl_tensor_map *m, const char *name, int ndim, int64_t d0, int64_t d1,
                        int *bad)
{
    const zl_named_tensor *e = zl_tensor_map_find(m, name);
    int ok = e && e->ndim == ndim && strcmp(e->dtype, "F32") == 0 && e->shape[0] == d0 &&
             (ndim < 2 || e->shape[1] == d1) && e->tensor == NULL;
    if (!ok) {
        fprintf(stderr, "  real index: %s missing or wrong shape\n", name);
        (*bad)++;
    }
}

static void test_real_index(void)
{
    char real[512], dir[560], path[600];
    if (!zl_test_real(real, sizeof real, "real index", "tf_chinese_bert/bert_model.ckpt.index")) return;
    snprintf(dir, sizeof dir, "%s/tf_chinese_bert", real);
    snprintf(path, sizeof path, "%s/bert_model.ckpt.index", dir);
    zl_tensor_map *m = zl_tfckpt_load(path, 0);
    CHECK(m != NULL);
    if (!m) { fprintf(stderr, "  %s\n", zl_error_get()); return; }
    CHECK(m->count == 206);
    int bad = 0;
    check_shape(m, "bert/embeddings/word_embeddings", 2, 21128, 768, &bad);
    check_shape(m, "bert/embeddings/position_embeddings", 2, 512, 768, &bad);
    check_shape(m, "bert/embeddings/token_type_embeddings", 2, 2, 768, &bad);
    check_shape(m, "bert/embeddings/LayerNorm/gamma", 1, 768, 0, &bad);
    check_shape(m, "bert/embeddings/LayerNorm/beta", 1, 768, 0, &bad);
    for (int l = 0; l < 12; l++) {
        char n[128];
        static const char *const qkv[] = {"query", "key", "value"};
        for (int k = 0; k < 3; k++) {
            snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/self/%s/kernel", l, qkv[k]);
            check_shape(m, n, 2, 768, 768, &bad);
            snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/self/%s/bias", l, qkv[k]);
            check_shape(m, n, 1, 768, 0, &bad);
        }
        snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/output/dense/kernel", l);
        check_shape(m, n, 2, 768, 768, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/output/dense/bias", l);
        check_shape(m, n, 1, 768, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/output/LayerNorm/gamma", l);
        check_shape(m, n, 1, 768, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/attention/output/LayerNorm/beta", l);
        check_shape(m, n, 1, 768, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/intermediate/dense/kernel", l);
        check_shape(m, n, 2, 768, 3072, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/intermediate/dense/bias", l);
        check_shape(m, n, 1, 3072, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/output/dense/kernel", l);
        check_shape(m, n, 2, 3072, 768, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/output/dense/bias", l);
        check_shape(m, n, 1, 768, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/output/LayerNorm/gamma", l);
        check_shape(m, n, 1, 768, 0, &bad);
        snprintf(n, sizeof n, "bert/encoder/layer_%d/output/LayerNorm/beta", l);
        check_shape(m, n, 1, 768, 0, &bad);
    }
    check_shape(m, "bert/pooler/dense/kernel", 2, 768, 768, &bad);
    check_shape(m, "bert/pooler/dense/bias", 1, 768, 0, &bad);
    check_shape(m, "cls/predictions/output_bias", 1, 21128, 0, &bad);
    check_shape(m, "cls/predictions/transform/dense/kernel", 2, 768, 768, &bad);
    check_shape(m, "cls/seq_relationship/output_weights", 2, 2, 768, &bad);
    check_shape(m, "cls/seq_relationship/output_bias", 1, 2, 0, &bad);
    CHECK(bad == 0);
    CHECK(!zl_tensor_map_find(m, "bert/encoder/layer_12/output/dense/bias"));
    /* entries come sorted (byte order), and offsets/sizes are the stored ones */
    int sorted = 1;
    for (int i = 1; i < m->count; i++) sorted &= strcmp(m->items[i - 1].name, m->items[i].name) < 0;
    CHECK(sorted);
    const zl_named_tensor *w = zl_tensor_map_find(m, "bert/embeddings/word_embeddings");
    CHECK(w && w->nbytes == 21128ull * 768 * 4 && w->offset == 1585152);
    const zl_named_tensor *b = zl_tensor_map_find(m, "bert/embeddings/LayerNorm/beta");
    CHECK(b && b->offset == 0 && b->nbytes == 3072);
    uint64_t total = 0;
    for (int i = 0; i < m->count; i++) total += m->items[i].nbytes;
    /* BERT-base Chinese: 102,267,648 parameters, plus 614,794 in the pre-training heads */
    CHECK(total == (102267648ull + 614794ull) * 4);
    zl_tensor_map_free(m);

    /* the directory and the prefix name the same checkpoint */
    m = zl_tfckpt_load(dir, 0);
    CHECK(m && m->count == 206);
    zl_tensor_map_free(m);
    snprintf(path, sizeof path, "%s/bert_model.ckpt", dir);
    m = zl_tfckpt_load(path, 0);
    CHECK(m && m->count == 206);
    zl_tensor_map_free(m);
    /* the data file is not shipped: loading data names the missing shard */
    m = zl_tfckpt_load(path, 1);
    CHECK(m == NULL && error_has("bert_model.ckpt.data-00000-of-00001") &&
          error_has("cannot open data shard 0 of 1"));
    /* a fuzz pass over the real bytes: every truncation fails cleanly */
    size_t len;
    snprintf(path, sizeof path, "%s/bert_model.ckpt.index", dir);
    unsigned char *d = slurp(path, &len);
    CHECK(d != NULL);
    int all_fail = 1;
    for (size_t k = 0; d && k < len; k += 7) {
        zl_tensor_map *t = zl_tfckpt_parse_index("real", d, k);
        all_fail &= t == NULL;
        zl_tensor_map_free(t);
    }
    CHECK(all_fail);
    free(d);
}

/* ---- round trip ---- */
static zl_tensor *make(zl_dtype dt, int ndim, const int64_t *shape, int seed)
{
    zl_tensor *t = zl_tensor_new(dt, ndim, shape);
    for (int64_t i = 0; t && i < t->numel; i++)
        zl_tensor_setf(t, i, dt == ZL_F32 ? (double)((i * 7 + seed) % 23) * 0.37 - 3.5
                                          : (double)((i * 131 + seed) % 1000) - 500);
    return t;
}

static zl_tensor_map *sample_map(int many)
{
    zl_tensor_map *m = zl_tensor_map_new();
    int64_t s1[] = {3, 4}, s2[] = {5}, s3[] = {0, 3}, s4[] = {2, 0, 2}, s5[] = {1, 2, 1, 2, 1, 2};
    zl_tensor_map_add(m, "w/kernel", make(ZL_F32, 2, s1, 1));
    zl_tensor_map_add(m, "ids", make(ZL_I32, 1, s2, 2));
    zl_tensor_map_add(m, "scalar", make(ZL_F32, 0, NULL, 3));
    zl_tensor_map_add(m, "empty/f", make(ZL_F32, 2, s3, 4));
    zl_tensor_map_add(m, "empty/i", make(ZL_I32, 3, s4, 5));
    zl_tensor_map_add(m, "six_dims", make(ZL_F32, 6, s5, 6));
    int64_t s6[] = {7};
    for (int i = 0; i < many; i++) { /* enough entries for several data blocks */
        char n[64];
        snprintf(n, sizeof n, "bert/encoder/layer_%03d/attention/self/query/bias", i);
        zl_tensor_map_add(m, n, make(i % 2 ? ZL_I32 : ZL_F32, 1, s6, i));
    }
    return m;
}

static int maps_equal(const zl_tensor_map *a, const zl_tensor_map *b)
{
    if (a->count != b->count) return 0;
    for (int i = 0; i < a->count; i++) {
        const zl_named_tensor *x = &a->items[i];
        const zl_named_tensor *y = zl_tensor_map_find(b, x->name);
        if (!y || !y->tensor || strcmp(x->dtype, y->dtype) != 0 || x->ndim != y->ndim) return 0;
        const zl_tensor *s = x->tensor, *t = y->tensor;
        if (s->dtype != t->dtype || s->ndim != t->ndim || s->numel != t->numel) return 0;
        for (int d = 0; d < s->ndim; d++)
            if (s->shape[d] != t->shape[d] || y->shape[d] != s->shape[d]) return 0;
        if (s->numel && memcmp(s->data, t->data, (size_t)s->numel * zl_dtype_size(s->dtype)))
            return 0;
    }
    return 1;
}

static void test_round_trip(void)
{
    zl_tensor_map *m = sample_map(300);
    char *prefix = tmp_path("rt.ckpt");
    CHECK(zl_tfckpt_save(prefix, m) == 0);
    zl_tensor_map *r = zl_tfckpt_load(prefix, 1);
    CHECK(r != NULL);
    if (r) {
        CHECK(r->count == 306);
        CHECK(maps_equal(m, r));
        int sorted = 1;
        for (int i = 1; i < r->count; i++) sorted &= strcmp(r->items[i - 1].name, r->items[i].name) < 0;
        CHECK(sorted);
        const zl_named_tensor *s = zl_tensor_map_find(r, "scalar");
        CHECK(s && s->ndim == 0 && s->tensor->numel == 1 && s->nbytes == 4);
        const zl_named_tensor *e = zl_tensor_map_find(r, "empty/i");
        CHECK(e && strcmp(e->dtype, "I32") == 0 && e->ndim == 3 && e->shape[1] == 0 &&
              e->nbytes == 0);
    } else {
        fprintf(stderr, "  %s\n", zl_error_get());
    }
    zl_tensor_map_free(r);
    /* several data blocks were written: the index is bigger than one 4 KiB block */
    size_t len;
    unsigned char *d = slurp(tmp_path("rt.ckpt.index"), &len);
    CHECK(d && len > 3 * 4096);
    free(d);
    /* the other ways of naming it: .index, a data file, the directory */
    r = zl_tfckpt_load(tmp_path("rt.ckpt.index"), 0);
    CHECK(r && r->count == 306 && r->items[0].tensor == NULL);
    zl_tensor_map_free(r);
    r = zl_tfckpt_load(tmp_path("rt.ckpt.data-00000-of-00001"), 0);
    CHECK(r && r->count == 306);
    zl_tensor_map_free(r);
    r = zl_tfckpt_load(tmpdir, 1); /* the only *.index in the directory */
    CHECK(r && maps_equal(m, r));
    zl_tensor_map_free(r);
    /* a second checkpoint makes the directory ambiguous, model.ckpt wins over it */
    zl_tensor_map *small = sample_map(0);
    CHECK(zl_tfckpt_save(tmp_path("other.ckpt"), small) == 0);
    r = zl_tfckpt_load(tmpdir, 0);
    CHECK(r == NULL && error_has("2 checkpoints in this directory"));
    CHECK(zl_tfckpt_save(tmp_path("model.ckpt"), small) == 0);
    r = zl_tfckpt_load(tmpdir, 0);
    CHECK(r && r->count == 6);
    zl_tensor_map_free(r);
    /* an empty map is a valid bundle: the header alone */
    zl_tensor_map *none = zl_tensor_map_new();
    CHECK(zl_tfckpt_save(tmp_path("none.ckpt"), none) == 0);
    zl_tensor_map_free(none);
    none = zl_tfckpt_load(tmp_path("none.ckpt"), 1);
    CHECK(none && none->count == 0);
    zl_tensor_map_free(none);
    unlink(tmp_path("none.ckpt.index"));
    unlink(tmp_path("none.ckpt.data-00000-of-00001"));
    /* the saver refuses duplicates and tensor-less entries */
    zl_tensor_map *dup = sample_map(0);
    int64_t s[] = {2};
    zl_tensor_map_add(dup, "ids", make(ZL_I32, 1, s, 0));
    CHECK(zl_tfckpt_save(tmp_path("dup.ckpt"), dup) == -1 && error_has("repeated"));
    CHECK(access(tmp_path("dup.ckpt.index"), F_OK) != 0);
    zl_tensor_map_free(dup);
    zl_tensor_map *listing = zl_tfckpt_load(tmp_path("rt.ckpt"), 0);
    CHECK(listing && zl_tfckpt_save(tmp_path("dup.ckpt"), listing) == -1 &&
          error_has("has no data"));
    zl_tensor_map_free(listing);
    unlink(tmp_path("other.ckpt.index"));
    unlink(tmp_path("other.ckpt.data-00000-of-00001"));
    unlink(tmp_path("model.ckpt.index"));
    unlink(tmp_path("model.ckpt.data-00000-of-00001"));
    zl_tensor_map_free(small);
    zl_tensor_map_free(m);
}

/* ---- a two-shard bundle made by editing a one-shard one ---- */
static void test_two_shards(void)
{
    zl_tensor_map *m = zl_tensor_map_new();
    int64_t s4[] = {4}, s2[] = {2};
    zl_tensor_map_add(m, "a", make(ZL_F32, 1, s4, 1));
    zl_tensor_map_add(m, "b", make(ZL_F32, 1, s2, 2));
    CHECK(zl_tfckpt_save(tmp_path("sh.ckpt"), m) == 0);
    size_t len, dlen;
    unsigned char *d = slurp(tmp_path("sh.ckpt.index"), &len);
    unsigned char *data = slurp(tmp_path("sh.ckpt.data-00000-of-00001"), &dlen);
    CHECK(d && data && dlen == 24);
    if (!d || !data) { free(d); free(data); zl_tensor_map_free(m); return; }
    /* header num_shards 1 -> 2; b's "offset 16" -> "shard 1" (same length) */
    static const unsigned char hdr[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};
    static const unsigned char boff[] = {0x20, 0x10, 0x28, 0x08, 0x35};
    unsigned char *h = find_bytes(d, len, hdr, sizeof hdr), *o = find_bytes(d, len, boff, sizeof boff);
    CHECK(h && o);
    if (h && o) {
        h[1] = 0x02;
        o[0] = 0x18;
        o[1] = 0x01;
        fix_block_crc(d, first_block_size(d, len));
        spit(tmp_path("sh.ckpt.index"), d, len);
        unlink(tmp_path("sh.ckpt.data-00000-of-00001"));
        spit(tmp_path("sh.ckpt.data-00000-of-00002"), data, 16);
        /* shard 1 missing */
        zl_tensor_map *r = zl_tfckpt_load(tmp_path("sh.ckpt"), 1);
        CHECK(r == NULL && error_has("sh.ckpt.data-00001-of-00002") &&
              error_has("cannot open data shard 1 of 2"));
        /* the index alone still lists it */
        r = zl_tfckpt_load(tmp_path("sh.ckpt"), 0);
        CHECK(r && r->count == 2);
        zl_tensor_map_free(r);
        spit(tmp_path("sh.ckpt.data-00001-of-00002"), data + 16, 8);
        r = zl_tfckpt_load(tmp_path("sh.ckpt"), 1);
        CHECK(r && maps_equal(m, r));
        zl_tensor_map_free(r);
    }
    unlink(tmp_path("sh.ckpt.index"));
    unlink(tmp_path("sh.ckpt.data-00000-of-00002"));
    unlink(tmp_path("sh.ckpt.data-00001-of-00002"));
    free(d);
    free(data);
    zl_tensor_map_free(m);
}

/* ---- corrupted files: each one an error naming the problem, never a crash ---- */
static void test_corrupt(void)
{
    zl_tensor_map *m = sample_map(0);
    char *prefix = tmp_path("bad.ckpt");
    CHECK(zl_tfckpt_save(prefix, m) == 0);
    size_t len, dlen;
    unsigned char *good = slurp(tmp_path("bad.ckpt.index"), &len);
    unsigned char *data = slurp(tmp_path("bad.ckpt.data-00000-of-00001"), &dlen);
    CHECK(good && data);
    if (!good || !data) { free(good); free(data); zl_tensor_map_free(m); return; }
    unsigned char *d = malloc(len);
    const char *ipath = tmp_path("bad.ckpt.index");
    const char *dpath = tmp_path("bad.ckpt.data-00000-of-00001");
    zl_tensor_map *r;

    memcpy(d, good, len);
    d[len - 1] ^= 0x40;
    spit(ipath, d, len);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has(ipath) && error_has("bad magic"));

    spit(ipath, good, 20);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has(ipath) && error_has("too short"));

    /* a block cut short: the footer kept, but the blocks before it shortened */
    memcpy(d, good, len);
    spit(ipath, d + 30, len - 30);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has(ipath) && error_has("truncated?"));

    memcpy(d, good, len);
    d[3] ^= 0x01; /* inside the data block */
    spit(ipath, d, len);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has(ipath) && error_has("bad crc32c"));

    memcpy(d, good, len);
    size_t bs = first_block_size(d, len);
    d[bs] = 1; /* claim snappy compression (crc fixed so the type is what fails) */
    fix_block_crc(d, bs);
    spit(ipath, d, len);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has("snappy"));
    d[bs] = 7;
    fix_block_crc(d, bs);
    spit(ipath, d, len);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has("unknown compression type 7"));

    /* a big-endian bundle (header field 2 = 1) is refused */
    static const unsigned char hdr[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};
    memcpy(d, good, len);
    unsigned char *h = find_bytes(d, len, hdr, sizeof hdr);
    CHECK(h != NULL);
    if (h) {
        h[0] = 0x10; /* "num_shards = 1" becomes "endianness = BIG" */
        fix_block_crc(d, bs);
        spit(ipath, d, len);
        r = zl_tfckpt_load(prefix, 0);
        CHECK(r == NULL && error_has("big-endian"));
    }

    /* data file problems: the index is fine again */
    spit(ipath, good, len);
    r = zl_tfckpt_load(prefix, 1);
    CHECK(r && maps_equal(m, r));
    zl_tensor_map_free(r);

    spit(dpath, data, dlen - 4);
    r = zl_tfckpt_load(prefix, 1);
    CHECK(r == NULL && error_has(dpath) && error_has("truncated?"));
    r = zl_tfckpt_load(prefix, 0); /* listing does not need the data */
    CHECK(r && r->count == 6);
    zl_tensor_map_free(r);

    memcpy(d, data, dlen);
    d[dlen / 2] ^= 0x10;
    spit(dpath, d, dlen);
    r = zl_tfckpt_load(prefix, 1);
    CHECK(r == NULL && error_has(dpath) && error_has("bad crc32c of data"));

    unlink(dpath);
    r = zl_tfckpt_load(prefix, 1);
    CHECK(r == NULL && error_has(dpath) && error_has("cannot open data shard 0 of 1"));

    unlink(ipath);
    r = zl_tfckpt_load(prefix, 0);
    CHECK(r == NULL && error_has(ipath));
    r = zl_tfckpt_load(tmp_path("nothing"), 0);
    CHECK(r == NULL && error_has("nothing.index"));

    free(d);
    free(good);
    free(data);
    zl_tensor_map_free(m);
}


/* ---- hand-built bundles: dtypes and entries the writer never makes ---- */
typedef struct buf { unsigned char p[1 << 17]; size_t n; } buf;
static void b_put(buf *b, const void *d, size_t n) { memcpy(b->p + b->n, d, n); b->n += n; }
static void b_varint(buf *b, uint64_t v)
{
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        b_put(b, &c, 1);
    } while (v);
}
static void b_le32(buf *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    b_put(b, t, 4);
}
/* A block holding the given entries (no prefix sharing), with its trailer. */
static void b_block(buf *out, buf *blk)
{
    b_le32(blk, 0);
    b_le32(blk, 1);
    unsigned char type = 0;
    uint32_t c = zl_tfckpt_crc32c(zl_tfckpt_crc32c(0, blk->p, blk->n), &type, 1);
    b_put(out, blk->p, blk->n);
    b_put(out, &type, 1);
    b_le32(out, zl_tfckpt_crc_mask(c));
}
static void b_entry(buf *blk, size_t shared, const char *fresh, const buf *val)
{
    b_varint(blk, shared);
    b_varint(blk, strlen(fresh));
    b_varint(blk, val->n);
    b_put(blk, fresh, strlen(fresh));
    b_put(blk, val->p, val->n);
}
/* BundleEntryProto; dims[0] < 0 encodes -1 (unknown); sliced adds an empty slice. */
static void b_proto(buf *v, int dtype, int ndim, const int64_t *dims, uint64_t off, uint64_t size,
                    const unsigned char *data, int sliced)
{
    v->n = 0;
    b_varint(v, 0x08);
    b_varint(v, (uint64_t)dtype);
    buf *sh = calloc(1, sizeof *sh), *dm = calloc(1, sizeof *dm);
    for (int d = 0; d < ndim; d++) {
        dm->n = 0;
        b_varint(dm, 0x08);
        b_varint(dm, (uint64_t)dims[d]);
        b_varint(sh, 0x12);
        b_varint(sh, dm->n);
        b_put(sh, dm->p, dm->n);
    }
    b_varint(v, 0x12);
    b_varint(v, sh->n);
    b_put(v, sh->p, sh->n);
    if (off) { b_varint(v, 0x20); b_varint(v, off); }
    if (size) { b_varint(v, 0x28); b_varint(v, size); }
    b_varint(v, 0x35);
    b_le32(v, zl_tfckpt_crc_mask(zl_tfckpt_crc32c(0, data + off, (size_t)size)));
    if (sliced) { b_varint(v, 0x3a); b_varint(v, 0); }
    free(sh);
    free(dm);
}
/* Writes prefix.index from a finished data block and prefix.data-00000-of-00001. */
static void b_write(const char *prefix, buf *blk, const unsigned char *data, size_t dlen)
{
    buf *out = calloc(1, sizeof *out), *meta = calloc(1, sizeof *meta), *ib = calloc(1, sizeof *ib);
    buf *h = calloc(1, sizeof *h);
    size_t bsize = blk->n + 8;
    b_block(out, blk);
    size_t moff = out->n;
    b_block(out, meta);
    b_varint(h, 0);
    b_varint(h, bsize);
    b_entry(ib, 0, "\x7f", h); /* a separator after every key used here */
    size_t ioff = out->n, isize = ib->n + 8;
    b_block(out, ib);
    size_t foot = out->n;
    b_varint(out, moff);
    b_varint(out, 8);
    b_varint(out, ioff);
    b_varint(out, isize);
    while (out->n < foot + 40) b_put(out, "", 1);
    b_le32(out, 0x8b80fb57u);
    b_le32(out, 0xdb477524u);
    char path[512];
    snprintf(path, sizeof path, "%s.index", prefix);
    spit(path, out->p, out->n);
    snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
    spit(path, data, dlen);
    free(out); free(meta); free(ib); free(h);
}
static void b_header(buf *blk)
{
    static const unsigned char hdr[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};
    buf *v = calloc(1, sizeof *v);
    b_put(v, hdr, sizeof hdr);
    blk->n = 0;
    b_entry(blk, 0, "", v);
    free(v);
}
/* One bundle holding header + one tensor; returns the load result (with data). */
static zl_tensor_map *one_tensor(const char *name, int dtype, int ndim, const int64_t *dims,
                                 const unsigned char *data, size_t dlen, int sliced, int with_data)
{
    buf *blk = calloc(1, sizeof *blk), *v = calloc(1, sizeof *v);
    b_header(blk);
    b_proto(v, dtype, ndim, dims, 0, dlen, data, sliced);
    b_entry(blk, 0, name, v);
    b_write(tmp_path("hand.ckpt"), blk, data, dlen);
    free(blk);
    free(v);
    return zl_tfckpt_load(tmp_path("hand.ckpt"), with_data);
}

static void test_hand_built(void)
{
    /* F16, BF16, F64, I64, I8, U16, BOOL widen to f32 / i32 */
    unsigned char f16[] = {0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38};
    int64_t d3[] = {3}, d2[] = {2}, d1[] = {1};
    zl_tensor_map *m = one_tensor("h", 19, 1, d3, f16, 6, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "F16") == 0 && m->items[0].tensor->dtype == ZL_F32 &&
          ZL_F32P(m->items[0].tensor)[0] == 1.0f && ZL_F32P(m->items[0].tensor)[1] == -2.0f &&
          ZL_F32P(m->items[0].tensor)[2] == 0.5f);
    zl_tensor_map_free(m);
    unsigned char bf16[] = {0x80, 0x3f, 0x40, 0xc0};
    m = one_tensor("b", 14, 1, d2, bf16, 4, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "BF16") == 0 && ZL_F32P(m->items[0].tensor)[0] == 1.0f &&
          ZL_F32P(m->items[0].tensor)[1] == -3.0f);
    zl_tensor_map_free(m);
    unsigned char f64[] = {0, 0, 0, 0, 0, 0, 0xd0, 0x3f}; /* 0.25 */
    m = one_tensor("d", 2, 1, d1, f64, 8, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "F64") == 0 && ZL_F32P(m->items[0].tensor)[0] == 0.25f);
    zl_tensor_map_free(m);
    unsigned char i64[] = {5, 0, 0, 0, 0, 0, 0, 0, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    m = one_tensor("global_step", 9, 1, d2, i64, 16, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "I64") == 0 && m->items[0].tensor->dtype == ZL_I32 &&
          ZL_I32P(m->items[0].tensor)[0] == 5 && ZL_I32P(m->items[0].tensor)[1] == -7);
    zl_tensor_map_free(m);
    i64[13] = 0x01; /* the second element becomes a huge positive value */
    i64[15] = 0x00;
    i64[8] = 0x01;
    m = one_tensor("global_step", 9, 1, d2, i64, 16, 0, 1);
    CHECK(m == NULL && error_has("global_step") && error_has("does not fit in int32"));
    unsigned char mix[] = {0xff, 0x01, 0x00};
    m = one_tensor("i8", 6, 1, d3, mix, 3, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "I8") == 0 && ZL_I32P(m->items[0].tensor)[0] == -1 &&
          ZL_I32P(m->items[0].tensor)[1] == 1);
    zl_tensor_map_free(m);
    unsigned char u16[] = {0xff, 0xff};
    m = one_tensor("u16", 17, 1, d1, u16, 2, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "U16") == 0 && ZL_I32P(m->items[0].tensor)[0] == 65535);
    zl_tensor_map_free(m);
    /* strings: listed, no tensor */
    unsigned char str[] = {3, 'a', 'b', 'c'};
    m = one_tensor("_CHECKPOINTABLE_OBJECT_GRAPH", 7, 0, NULL, str, 4, 0, 1);
    CHECK(m && m->count == 1 && strcmp(m->items[0].dtype, "STRING") == 0 &&
          m->items[0].tensor == NULL);
    zl_tensor_map_free(m);
    m = one_tensor("q", 99, 0, NULL, str, 4, 0, 1);
    CHECK(m && strcmp(m->items[0].dtype, "DT_99") == 0 && m->items[0].tensor == NULL);
    zl_tensor_map_free(m);
    /* more than 6 dims, unknown dims, partitioned tensors, size not matching the shape */
    int64_t d7[] = {1, 1, 1, 1, 1, 1, 1}, dneg[] = {-1};
    unsigned char four[4] = {0};
    m = one_tensor("deep", 1, 7, d7, four, 4, 0, 0);
    CHECK(m == NULL && error_has("tensor deep has more than 6 dimensions"));
    m = one_tensor("unk", 1, 1, dneg, four, 4, 0, 0);
    CHECK(m == NULL && error_has("tensor unk: dimension 0 is unknown"));
    m = one_tensor("part", 1, 1, d1, four, 4, 1, 0);
    CHECK(m && m->count == 1);
    zl_tensor_map_free(m);
    m = one_tensor("part", 1, 1, d1, four, 4, 1, 1);
    CHECK(m == NULL && error_has("tensor part is partitioned into slices"));
    m = one_tensor("short", 1, 1, d2, four, 4, 0, 0);
    CHECK(m == NULL && error_has("tensor short: F32 shape of 2 elements needs 8 bytes, entry says 4"));

    /* keys growing by one byte each ("a", "aa", ...) would need O(n^2) memory */
    buf *blk = calloc(1, sizeof *blk), *v = calloc(1, sizeof *v);
    b_header(blk);
    b_proto(v, 1, 0, NULL, 0, 4, four, 0);
    int n = 0;
    while (blk->n < 120000) b_entry(blk, (size_t)n++, "a", v);
    b_write(tmp_path("hand.ckpt"), blk, four, 4);
    m = zl_tfckpt_load(tmp_path("hand.ckpt"), 0);
    CHECK(m == NULL && error_has("implausibly long tensor names"));
    free(blk);
    free(v);
    unlink(tmp_path("hand.ckpt.index"));
    unlink(tmp_path("hand.ckpt.data-00000-of-00001"));
}

/* ---- fuzz-style robustness ---- */
static void test_fuzz(void)
{
    zl_tensor_map *m = sample_map(2);
    CHECK(zl_tfckpt_save(tmp_path("fz.ckpt"), m) == 0);
    size_t len;
    unsigned char *good = slurp(tmp_path("fz.ckpt.index"), &len);
    CHECK(good != NULL);
    if (!good) { zl_tensor_map_free(m); return; }
    zl_tensor_map *r = zl_tfckpt_parse_index("fz", good, len);
    CHECK(r && r->count == 8);
    zl_tensor_map_free(r);

    /* every truncation length: an error, never a crash */
    int all_fail = 1;
    for (size_t k = 0; k < len; k++) {
        unsigned char *c = malloc(k ? k : 1); /* exact-size copies let ASan see overreads */
        memcpy(c, good, k);
        r = zl_tfckpt_parse_index("fz", c, k);
        all_fail &= r == NULL && zl_error_get()[0] != '\0';
        zl_tensor_map_free(r);
        free(c);
    }
    CHECK(all_fail);

    /* every byte of the data block set to several values, crc fixed so the block and
     * protobuf parsers see the garbage; and every byte of the file flipped as is */
    size_t bs = first_block_size(good, len);
    unsigned char *c = malloc(len);
    int parsed = 0, failed = 0;
    static const int vals[] = {0x00, 0xff, 0x80, 0x7f, 0x01, -1};
    for (size_t i = 0; i < bs; i++)
        for (int v = 0; v < 6; v++) {
            memcpy(c, good, len);
            c[i] = (unsigned char)(vals[v] < 0 ? good[i] ^ 0x55 : vals[v]);
            fix_block_crc(c, bs);
            r = zl_tfckpt_parse_index("fz", c, len);
            if (r) parsed++; else failed++;
            zl_tensor_map_free(r);
        }
    CHECK(parsed > 0 && failed > 0); /* some edits are harmless (data values), many are not */
    int flips_fail = 1;
    for (size_t i = 0; i < len; i++) {
        memcpy(c, good, len);
        c[i] ^= 0x01;
        r = zl_tfckpt_parse_index("fz", c, len);
        /* padding bytes of the footer are the only ones no check covers */
        if (r && !(i >= len - 48 && i < len - 8)) flips_fail = 0;
        zl_tensor_map_free(r);
    }
    CHECK(flips_fail);

    /* random bytes under a valid footer */
    uint64_t s = 0x9e3779b97f4a7c15ull;
    int random_failed = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(c, good, len);
        for (size_t i = 0; i < bs; i++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            if ((s & 7) == 0) c[i] = (unsigned char)(s >> 24);
        }
        fix_block_crc(c, bs);
        r = zl_tfckpt_parse_index("fz", c, len);
        random_failed += r == NULL;
        zl_tensor_map_free(r);
    }
    CHECK(random_failed > 1000);
    free(c);
    free(good);
    unlink(tmp_path("fz.ckpt.index"));
    unlink(tmp_path("fz.ckpt.data-00000-of-00001"));
    zl_tensor_map_free(m);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zl_tfckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_crc32c();
    test_real_index();
    test_round_trip();
    test_two_shards();
    test_corrupt();
    test_hand_built();
    test_fuzz();
    unlink(tmp_path("rt.ckpt.index"));
    unlink(tmp_path("rt.ckpt.data-00000-of-00001"));
    unlink(tmp_path("bad.ckpt.index"));
    unlink(tmp_path("bad.ckpt.data-00000-of-00001"));
    rmdir(tmpdir);
    return zl_test_summary("test_tfckpt");
}
