/* tfckpt.c — TensorFlow 1.x tensor bundles (see tfckpt.h).
 *
 * The .index file is a LevelDB table: data blocks of prefix-compressed (key, value)
 * entries with restart points, a metaindex block (empty here), an index block mapping
 * each data block's last key to its BlockHandle, and a 48-byte footer (two handles and
 * a magic number). Every block is followed by a 5-byte trailer: a compression type and
 * the masked crc32c of block + type. Key "" holds the BundleHeaderProto; every other
 * key is a tensor name whose value is a BundleEntryProto pointing into a data shard.
 */
#define _POSIX_C_SOURCE 200809L
#include "tfckpt.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <nmmintrin.h>
#define TF_HW_CRC 1
#endif

#define TF_MAGIC 0xdb4775248b80fb57ull
#define TF_FOOTER 48
#define TF_TRAILER 5
#define TF_INDEX_MAX ((size_t)1 << 30)
#define TF_MAX_SHARDS 100000

/* TensorFlow's DataType enum values used here. */
enum {
    DT_FLOAT = 1, DT_DOUBLE = 2, DT_INT32 = 3, DT_UINT8 = 4, DT_INT16 = 5, DT_INT8 = 6,
    DT_STRING = 7, DT_INT64 = 9, DT_BOOL = 10, DT_BFLOAT16 = 14, DT_UINT16 = 17,
    DT_HALF = 19, DT_UINT32 = 22, DT_UINT64 = 23
};

/* ---- crc32c ---- */
/* The byte table is built by the preprocessor so it is a constant, not a global that
 * needs thread-safe initialisation. */
#define CRC_P 0x82F63B78u
#define CRC_S1(c) (((c) >> 1) ^ (CRC_P & (0u - ((c) & 1u))))
#define CRC_S8(c) CRC_S1(CRC_S1(CRC_S1(CRC_S1(CRC_S1(CRC_S1(CRC_S1(CRC_S1((uint32_t)(c)))))))))
#define CRC_R4(n) CRC_S8(n), CRC_S8((n) + 1), CRC_S8((n) + 2), CRC_S8((n) + 3)
#define CRC_R16(n) CRC_R4(n), CRC_R4((n) + 4), CRC_R4((n) + 8), CRC_R4((n) + 12)
#define CRC_R64(n) CRC_R16(n), CRC_R16((n) + 16), CRC_R16((n) + 32), CRC_R16((n) + 48)
static const uint32_t crc_table[256] = {CRC_R64(0), CRC_R64(64), CRC_R64(128), CRC_R64(192)};

static uint32_t crc_bytes(uint32_t c, const unsigned char *p, size_t n)
{
    while (n--) c = crc_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
    return c;
}

#ifdef TF_HW_CRC
/* SSE4.2's crc32 instruction computes exactly crc32c: ~20x the table's speed, which
 * matters for a 400 MB BERT data file. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const unsigned char *p,
                                                         size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--) c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t zl_tfckpt_crc32c(uint32_t crc, const void *data, size_t len)
{
    uint32_t c = ~crc;
#ifdef TF_HW_CRC
    if (__builtin_cpu_supports("sse4.2")) return ~crc_hw(c, data, len);
#endif
    return ~crc_bytes(c, data, len);
}

uint32_t zl_tfckpt_crc_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static uint32_t crc_unmask(uint32_t m)
{
    uint32_t r = m - 0xa282ead8u;
    return (r >> 17) | (r << 15);
}

/* ---- little helpers ---- */
static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Reads a varint (up to 64 bits) from [*p, end); -1 when truncated or too long. */
static int get_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) { *v = r; return 0; }
    }
    return -1;
}

static const char *dtype_short(int dt)
{
    switch (dt) {
    case DT_FLOAT: return "F32";
    case DT_HALF: return "F16";
    case DT_BFLOAT16: return "BF16";
    case DT_DOUBLE: return "F64";
    case DT_INT32: return "I32";
    case DT_INT64: return "I64";
    case DT_INT16: return "I16";
    case DT_INT8: return "I8";
    case DT_UINT8: return "U8";
    case DT_UINT16: return "U16";
    case DT_UINT32: return "U32";
    case DT_UINT64: return "U64";
    case DT_BOOL: return "BOOL";
    case DT_STRING: return "STRING";
    case 8: return "C64";
    case 18: return "C128";
    case 11: return "QI8";
    case 12: return "QU8";
    case 13: return "QI32";
    case 15: return "QI16";
    case 16: return "QU16";
    case 20: return "RESRC";
    case 21: return "VARIANT";
    default: return NULL;
    }
}

/* Element size of the dtypes we convert (0: not converted, tensor stays NULL). */
static int dtype_size(int dt)
{
    switch (dt) {
    case DT_FLOAT: case DT_INT32: case DT_UINT32: return 4;
    case DT_DOUBLE: case DT_INT64: case DT_UINT64: return 8;
    case DT_HALF: case DT_BFLOAT16: case DT_INT16: case DT_UINT16: return 2;
    case DT_INT8: case DT_UINT8: case DT_BOOL: return 1;
    default: return 0;
    }
}

static int dtype_is_float(int dt)
{
    return dt == DT_FLOAT || dt == DT_HALF || dt == DT_BFLOAT16 || dt == DT_DOUBLE;
}

/* ---- protobuf decoding: just the wire format, for the handful of fields we need ---- */
typedef struct pb_field {
    uint32_t num;
    int wt;                   /* 0 varint, 1 fixed64, 2 bytes, 5 fixed32 */
    uint64_t v;               /* value of wire types 0, 1, 5 */
    const unsigned char *sub; /* wire type 2 */
    size_t sublen;
} pb_field;

/* Next field of [*p, end): 1 = got one, 0 = end, -1 = malformed. */
static int pb_next(const unsigned char **p, const unsigned char *end, pb_field *f)
{
    if (*p >= end) return 0;
    uint64_t tag;
    if (get_varint(p, end, &tag) != 0 || tag >> 3 == 0 || tag >> 3 > UINT32_MAX) return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (int)(tag & 7);
    switch (f->wt) {
    case 0: return get_varint(p, end, &f->v) == 0 ? 1 : -1;
    case 1:
        if (end - *p < 8) return -1;
        f->v = le64(*p);
        *p += 8;
        return 1;
    case 5:
        if (end - *p < 4) return -1;
        f->v = le32(*p);
        *p += 4;
        return 1;
    case 2: {
        uint64_t n;
        if (get_varint(p, end, &n) != 0 || n > (uint64_t)(end - *p)) return -1;
        f->sub = *p;
        f->sublen = (size_t)n;
        *p += n;
        return 1;
    }
    default: return -1; /* groups (3, 4) never appear in these messages */
    }
}

/* What the index says about one tensor beyond the map's name/dtype/shape. */
typedef struct tf_meta {
    int dtype;     /* TF DataType */
    int shard;
    uint32_t crc;  /* masked, as stored */
    int sliced;    /* partitioned variable: data lives under slice keys */
} tf_meta;

typedef struct tf_index {
    zl_tensor_map *map;
    tf_meta *meta; /* parallel to map->items */
    int meta_cap;
    int num_shards;
    int have_header;
    uint64_t name_bytes, name_budget; /* see parse_data_block */
} tf_index;

static void tf_index_free(tf_index *ix)
{
    zl_tensor_map_free(ix->map);
    free(ix->meta);
    ix->map = NULL;
    ix->meta = NULL;
}

/* Appends an entry with no tensor (zl_tensor_map_add needs one). */
static zl_named_tensor *index_push(const char *what, tf_index *ix, const char *name, size_t nlen)
{
    zl_tensor_map *m = ix->map;
    if (m->count == m->cap || m->count == ix->meta_cap) {
        int cap = m->cap > ix->meta_cap ? m->cap : ix->meta_cap;
        cap = cap ? cap * 2 : 64;
        zl_named_tensor *it = realloc(m->items, (size_t)cap * sizeof *it);
        if (it) m->items = it;
        tf_meta *mt = it ? realloc(ix->meta, (size_t)cap * sizeof *mt) : NULL;
        if (mt) ix->meta = mt;
        if (!it || !mt) { zl_error_set("%s: out of memory", what); return NULL; }
        m->cap = ix->meta_cap = cap;
    }
    zl_named_tensor *e = &m->items[m->count];
    memset(e, 0, sizeof *e);
    memset(&ix->meta[m->count], 0, sizeof ix->meta[m->count]);
    e->name = malloc(nlen + 1);
    if (!e->name) { zl_error_set("%s: out of memory", what); return NULL; }
    memcpy(e->name, name, nlen);
    e->name[nlen] = '\0';
    m->count++;
    return e;
}

static int parse_shape(const char *what, const char *name, const unsigned char *p, size_t len,
                       zl_named_tensor *e)
{
    const unsigned char *end = p + len;
    pb_field f;
    int r;
    while ((r = pb_next(&p, end, &f)) == 1) {
        if (f.num == 3 && f.wt == 0 && f.v)
            return zl_error_set("%s: tensor %s has an unknown rank", what, name);
        if (f.num != 2) continue;
        if (f.wt != 2) return zl_error_set("%s: tensor %s: malformed shape", what, name);
        if (e->ndim == ZL_MAX_DIMS)
            return zl_error_set("%s: tensor %s has more than %d dimensions (not supported)",
                                what, name, ZL_MAX_DIMS);
        const unsigned char *q = f.sub, *qend = f.sub + f.sublen;
        pb_field d;
        int64_t size = 0;
        while ((r = pb_next(&q, qend, &d)) == 1)
            if (d.num == 1) {
                if (d.wt != 0) return zl_error_set("%s: tensor %s: malformed dimension", what, name);
                size = (int64_t)d.v;
            }
        if (r < 0) return zl_error_set("%s: tensor %s: malformed dimension", what, name);
        if (size < 0)
            return zl_error_set("%s: tensor %s: dimension %d is unknown (%lld)", what, name,
                                e->ndim, (long long)size);
        e->shape[e->ndim++] = size;
    }
    if (r < 0) return zl_error_set("%s: tensor %s: malformed shape", what, name);
    return 0;
}

static int parse_entry(const char *what, const char *name, const unsigned char *p, size_t len,
                       zl_named_tensor *e, tf_meta *mt)
{
    const unsigned char *end = p + len;
    pb_field f;
    int r, have_dtype = 0;
    while ((r = pb_next(&p, end, &f)) == 1) {
        int want = f.num == 2 || f.num == 7 ? 2 : f.num == 6 ? 5 : 0;
        if (f.num <= 7 && f.wt != want)
            return zl_error_set("%s: tensor %s: field %u has wire type %d, expected %d", what,
                                name, f.num, f.wt, want);
        switch (f.num) {
        case 1:
            if (f.v > 1000) return zl_error_set("%s: tensor %s: bad dtype %llu", what, name,
                                                (unsigned long long)f.v);
            mt->dtype = (int)f.v;
            have_dtype = 1;
            break;
        case 2:
            e->ndim = 0;
            if (parse_shape(what, name, f.sub, f.sublen, e) != 0) return -1;
            break;
        case 3:
            if (f.v > INT_MAX) return zl_error_set("%s: tensor %s: bad shard_id", what, name);
            mt->shard = (int)f.v;
            break;
        case 4: e->offset = f.v; break;
        case 5: e->nbytes = f.v; break;
        case 6: mt->crc = (uint32_t)f.v; break;
        case 7: mt->sliced = 1; break;
        default: break; /* fields added by later TF versions */
        }
    }
    if (r < 0) return zl_error_set("%s: tensor %s: malformed BundleEntryProto", what, name);
    if (!have_dtype || mt->dtype == 0)
        return zl_error_set("%s: tensor %s: entry has no dtype", what, name);
    const char *s = dtype_short(mt->dtype);
    if (s) snprintf(e->dtype, sizeof e->dtype, "%s", s);
    else snprintf(e->dtype, sizeof e->dtype, "DT_%d", mt->dtype);
    int esize = dtype_size(mt->dtype);
    if (esize && !mt->sliced) {
        int64_t n = zl_shape_numel(e->ndim, e->shape);
        if (n < 0 || (uint64_t)n > UINT64_MAX / (uint64_t)esize)
            return zl_error_set("%s: tensor %s: shape too large", what, name);
        if ((uint64_t)n * (uint64_t)esize != e->nbytes)
            return zl_error_set("%s: tensor %s: %s shape of %lld elements needs %llu bytes, "
                                "entry says %llu", what, name, e->dtype, (long long)n,
                                (unsigned long long)n * (unsigned long long)esize,
                                (unsigned long long)e->nbytes);
    }
    if (e->offset > UINT64_MAX - e->nbytes)
        return zl_error_set("%s: tensor %s: offset + size overflows", what, name);
    return 0;
}

static int parse_header(const char *what, const unsigned char *p, size_t len, tf_index *ix)
{
    const unsigned char *end = p + len;
    pb_field f;
    int r;
    uint64_t shards = 0, endian = 0, min_consumer = 0;
    while ((r = pb_next(&p, end, &f)) == 1) {
        if (f.num == 1 && f.wt == 0) shards = f.v;
        else if (f.num == 2 && f.wt == 0) endian = f.v;
        else if (f.num == 3 && f.wt == 2) {
            const unsigned char *q = f.sub, *qend = f.sub + f.sublen;
            pb_field v;
            while ((r = pb_next(&q, qend, &v)) == 1)
                if (v.num == 2 && v.wt == 0) min_consumer = v.v;
            if (r < 0) break;
        } else if (f.num <= 3) r = -1;
        if (r < 0) break;
    }
    if (r < 0) return zl_error_set("%s: malformed bundle header (BundleHeaderProto)", what);
    if (endian != 0)
        return zl_error_set("%s: big-endian bundle (not supported)", what);
    if (shards < 1 || shards > TF_MAX_SHARDS)
        return zl_error_set("%s: bundle header says %llu shards", what, (unsigned long long)shards);
    if (min_consumer > 1)
        return zl_error_set("%s: bundle needs a reader of version >= %llu (this reads version 1)",
                            what, (unsigned long long)min_consumer);
    ix->num_shards = (int)shards;
    ix->have_header = 1;
    return 0;
}

/* ---- LevelDB table ---- */
/* The contents of the block at handle (offset, size), after checking its trailer. */
static int read_block(const char *what, const unsigned char *buf, size_t len, uint64_t off,
                      uint64_t size, const char *kind, const unsigned char **out)
{
    uint64_t limit = len - TF_FOOTER;
    if (size > limit || off > limit - size || limit - size - off < TF_TRAILER)
        return zl_error_set("%s: %s block (offset %llu, size %llu) runs past the end of the "
                            "file (%zu bytes): truncated?", what, kind, (unsigned long long)off,
                            (unsigned long long)size, len);
    const unsigned char *b = buf + off, *t = b + size;
    uint32_t want = crc_unmask(le32(t + 1));
    uint32_t got = zl_tfckpt_crc32c(zl_tfckpt_crc32c(0, b, (size_t)size), t, 1);
    if (want != got)
        return zl_error_set("%s: %s block at offset %llu: bad crc32c (stored %08x, computed "
                            "%08x): the file is corrupt", what, kind, (unsigned long long)off,
                            want, got);
    if (t[0] == 1)
        return zl_error_set("%s: %s block at offset %llu is snappy-compressed (not supported; "
                            "TensorFlow writes bundle indexes uncompressed)", what, kind,
                            (unsigned long long)off);
    if (t[0] != 0)
        return zl_error_set("%s: %s block at offset %llu: unknown compression type %d", what,
                            kind, (unsigned long long)off, t[0]);
    *out = b;
    return 0;
}

typedef struct blk_iter {
    const unsigned char *p, *limit; /* entries end where the restart array starts */
    char *key;
    size_t klen, kcap;
} blk_iter;

static int blk_init(const char *what, const char *kind, const unsigned char *b, size_t size,
                    blk_iter *it)
{
    memset(it, 0, sizeof *it);
    if (size < 4) return zl_error_set("%s: %s block too short (%zu bytes)", what, kind, size);
    uint32_t nr = le32(b + size - 4);
    if (nr > (size - 4) / 4)
        return zl_error_set("%s: %s block: %u restart points do not fit in %zu bytes", what,
                            kind, nr, size);
    it->p = b;
    it->limit = b + size - 4 - 4 * (size_t)nr;
    return 0;
}

/* Next entry: 1 = got one (key in it->key/klen), 0 = end, -1 = error. */
static int blk_next(const char *what, const char *kind, blk_iter *it, const unsigned char **val,
                    size_t *vlen)
{
    if (it->p >= it->limit) return 0;
    uint64_t shared, fresh, vl;
    if (get_varint(&it->p, it->limit, &shared) || get_varint(&it->p, it->limit, &fresh) ||
        get_varint(&it->p, it->limit, &vl) || shared > it->klen ||
        fresh > (uint64_t)(it->limit - it->p) || vl > (uint64_t)(it->limit - it->p) - fresh)
        return zl_error_set("%s: %s block: malformed entry", what, kind);
    size_t need = (size_t)shared + (size_t)fresh + 1;
    if (need > it->kcap) {
        size_t cap = need * 2;
        char *k = realloc(it->key, cap);
        if (!k) return zl_error_set("%s: out of memory", what);
        it->key = k;
        it->kcap = cap;
    }
    memcpy(it->key + shared, it->p, (size_t)fresh);
    it->klen = (size_t)(shared + fresh);
    it->key[it->klen] = '\0';
    it->p += fresh;
    *val = it->p;
    *vlen = (size_t)vl;
    it->p += vl;
    return 1;
}

static int key_less(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c < 0 || (c == 0 && alen < blen);
}

/* Walks one data block, adding its entries to ix. prev/prevlen: the last key seen. */
static int parse_data_block(const char *what, const unsigned char *b, size_t size, tf_index *ix,
                            char **prev, size_t *prevlen, int *seen_any)
{
    blk_iter it;
    if (blk_init(what, "data", b, size, &it) != 0) return -1;
    const unsigned char *val;
    size_t vlen;
    int r;
    while ((r = blk_next(what, "data", &it, &val, &vlen)) == 1) {
        if (*seen_any && !key_less(*prev, *prevlen, it.key, it.klen)) {
            r = zl_error_set("%s: keys out of order at \"%.200s\": the index is corrupt", what,
                             it.key);
            break;
        }
        char *pk = realloc(*prev, it.klen + 1);
        if (!pk) { r = zl_error_set("%s: out of memory", what); break; }
        memcpy(pk, it.key, it.klen + 1);
        *prev = pk;
        *prevlen = it.klen;
        *seen_any = 1;
        if (it.klen == 0) {
            if (parse_header(what, val, vlen, ix) != 0) { r = -1; break; }
            continue;
        }
        /* Prefix compression lets a small file describe huge keys ("a", "aa", "aaa", ...);
         * real names are short, so total name bytes are capped relative to the file. */
        ix->name_bytes += it.klen + 1;
        if (it.klen > 65536 || ix->name_bytes > ix->name_budget) {
            r = zl_error_set("%s: implausibly long tensor names (%zu bytes): the index is "
                             "corrupt", what, it.klen);
            break;
        }
        if (memchr(it.key, '\0', it.klen)) {
            r = zl_error_set("%s: a tensor name contains a NUL byte", what);
            break;
        }
        zl_named_tensor *e = index_push(what, ix, it.key, it.klen);
        if (!e) { r = -1; break; }
        if (parse_entry(what, e->name, val, vlen, e, &ix->meta[ix->map->count - 1]) != 0) {
            r = -1;
            break;
        }
    }
    free(it.key);
    return r < 0 ? -1 : 0;
}

static int parse_table(const char *what, const unsigned char *buf, size_t len, tf_index *ix)
{
    memset(ix, 0, sizeof *ix);
    if (len < TF_FOOTER)
        return zl_error_set("%s: too short for a TensorFlow checkpoint index (%zu bytes, a "
                            "footer alone is %d)", what, len, TF_FOOTER);
    const unsigned char *foot = buf + len - TF_FOOTER;
    if (le64(foot + 40) != TF_MAGIC)
        return zl_error_set("%s: bad magic number: not a TensorFlow checkpoint index "
                            "(LevelDB table)", what);
    const unsigned char *p = foot, *fend = foot + 40;
    uint64_t moff, msize, ioff, isize;
    if (get_varint(&p, fend, &moff) || get_varint(&p, fend, &msize) ||
        get_varint(&p, fend, &ioff) || get_varint(&p, fend, &isize))
        return zl_error_set("%s: malformed footer", what);
    const unsigned char *iblock, *mblock;
    if (read_block(what, buf, len, moff, msize, "metaindex", &mblock) != 0 ||
        read_block(what, buf, len, ioff, isize, "index", &iblock) != 0)
        return -1;
    ix->map = zl_tensor_map_new();
    if (!ix->map) return -1;
    ix->name_budget = 64 * (uint64_t)len + ((uint64_t)1 << 20);
    blk_iter it;
    if (blk_init(what, "index", iblock, (size_t)isize, &it) != 0) { tf_index_free(ix); return -1; }
    char *prev = NULL;
    size_t prevlen = 0;
    int seen = 0, r;
    const unsigned char *val;
    size_t vlen;
    while ((r = blk_next(what, "index", &it, &val, &vlen)) == 1) {
        const unsigned char *q = val, *qend = val + vlen;
        uint64_t boff, bsize;
        const unsigned char *b;
        if (get_varint(&q, qend, &boff) || get_varint(&q, qend, &bsize)) {
            r = zl_error_set("%s: index block: malformed block handle", what);
            break;
        }
        if (read_block(what, buf, len, boff, bsize, "data", &b) != 0 ||
            parse_data_block(what, b, (size_t)bsize, ix, &prev, &prevlen, &seen) != 0) {
            r = -1;
            break;
        }
    }
    free(it.key);
    free(prev);
    if (r == 0 && !ix->have_header)
        r = zl_error_set("%s: no bundle header (the entry with the empty key)", what);
    for (int i = 0; r == 0 && i < ix->map->count; i++)
        if (ix->meta[i].shard >= ix->num_shards)
            r = zl_error_set("%s: tensor %s is in shard %d but the bundle has %d shard(s)", what,
                             ix->map->items[i].name, ix->meta[i].shard, ix->num_shards);
    if (r < 0) { tf_index_free(ix); return -1; }
    return 0;
}

zl_tensor_map *zl_tfckpt_parse_index(const char *what, const unsigned char *buf, size_t len)
{
    tf_index ix;
    if (parse_table(what, buf, len, &ix) != 0) return NULL;
    free(ix.meta);
    return ix.map;
}

/* ---- paths ---- */
static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static char *join(const char *dir, const char *name, size_t name_len)
{
    size_t d = strlen(dir);
    size_t slash = d > 0 && dir[d - 1] != '/' ? 1 : 0;
    char *s = malloc(d + slash + name_len + 1);
    if (!s) { zl_error_set("%s: out of memory", dir); return NULL; }
    memcpy(s, dir, d);
    if (slash) s[d] = '/';
    memcpy(s + d + slash, name, name_len);
    s[d + slash + name_len] = '\0';
    return s;
}

/* The checkpoint in a directory: bert_model.ckpt, model.ckpt, else the only *.index. */
static char *prefix_in_dir(const char *dir)
{
    static const char *const preferred[] = {"bert_model.ckpt.index", "model.ckpt.index"};
    struct stat st;
    for (size_t i = 0; i < sizeof preferred / sizeof preferred[0]; i++) {
        char *p = join(dir, preferred[i], strlen(preferred[i]));
        if (!p) return NULL;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            p[strlen(p) - 6] = '\0';
            return p;
        }
        free(p);
    }
    DIR *d = opendir(dir);
    if (!d) { zl_error_set("%s: cannot open directory (%s)", dir, strerror(errno)); return NULL; }
    char first[256] = "", second[256] = "";
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".index") || strlen(de->d_name) == 6) continue;
        if (n == 0) snprintf(first, sizeof first, "%s", de->d_name);
        else if (n == 1) snprintf(second, sizeof second, "%s", de->d_name);
        n++;
    }
    closedir(d);
    if (n == 0) {
        zl_error_set("%s: no TensorFlow checkpoint (*.ckpt.index) in this directory", dir);
        return NULL;
    }
    if (n > 1) {
        zl_error_set("%s: %d checkpoints in this directory (%s, %s%s): name one", dir, n,
                     first, second, n > 2 ? ", ..." : "");
        return NULL;
    }
    return join(dir, first, strlen(first) - 6);
}

char *zl_tfckpt_find_prefix(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return prefix_in_dir(path);
    size_t n = strlen(path);
    if (ends_with(path, ".index")) n -= 6;
    else {
        /* ".data-00000-of-00001": accept a data shard's name too */
        const char *dash = strstr(path, ".data-");
        unsigned a, b;
        char tail;
        if (dash && sscanf(dash, ".data-%5u-of-%5u%c", &a, &b, &tail) == 2 &&
            strlen(dash) == strlen(".data-00000-of-00001"))
            n = (size_t)(dash - path);
    }
    char *p = malloc(n + 1);
    if (!p) { zl_error_set("%s: out of memory", path); return NULL; }
    memcpy(p, path, n);
    p[n] = '\0';
    return p;
}

/* ---- tensor data ---- */
static zl_tensor *convert(const char *what, const zl_named_tensor *e, int dt, unsigned char *raw)
{
    zl_tensor *t = zl_tensor_new(dtype_is_float(dt) ? ZL_F32 : ZL_I32, e->ndim, e->shape);
    if (!t) { zl_error_prefix("%s: tensor %s: ", what, e->name); return NULL; }
    int64_t n = t->numel;
    float *f = ZL_F32P(t);
    int32_t *o = ZL_I32P(t);
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = raw + i * dtype_size(dt);
        uint64_t u;
        int64_t s;
        double d;
        switch (dt) {
        case DT_FLOAT: { uint32_t w = le32(p); memcpy(&f[i], &w, 4); break; }
        case DT_HALF: f[i] = zl_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); break;
        case DT_BFLOAT16: f[i] = zl_bf16_to_f32((uint16_t)(p[0] | p[1] << 8)); break;
        case DT_DOUBLE: u = le64(p); memcpy(&d, &u, 8); f[i] = (float)d; break;
        case DT_INT32: o[i] = (int32_t)le32(p); break;
        case DT_BOOL: case DT_UINT8: o[i] = p[0]; break;
        case DT_INT8: o[i] = (int8_t)p[0]; break;
        case DT_INT16: o[i] = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
        case DT_UINT16: o[i] = p[0] | p[1] << 8; break;
        default: /* I64, U32, U64: range-checked narrowing to i32 */
            u = dtype_size(dt) == 4 ? le32(p) : le64(p);
            s = (int64_t)u;
            if ((dt != DT_INT64 && u > INT32_MAX) || (dt == DT_INT64 && (s < INT32_MIN || s > INT32_MAX))) {
                zl_error_set("%s: tensor %s: element %lld = %s%llu does not fit in int32", what,
                             e->name, (long long)i, dt == DT_INT64 && s < 0 ? "-" : "",
                             dt == DT_INT64 && s < 0 ? 0ull - (unsigned long long)u
                                                     : (unsigned long long)u);
                zl_tensor_free(t);
                return NULL;
            }
            o[i] = (int32_t)s;
        }
    }
    return t;
}

typedef struct shard_file {
    FILE *f;
    char *path;
    uint64_t size;
} shard_file;

static shard_file *open_shard(const char *prefix, shard_file *sh, int s, int n)
{
    if (sh[s].f) return &sh[s];
    size_t len = strlen(prefix) + 32;
    sh[s].path = malloc(len);
    if (!sh[s].path) { zl_error_set("%s: out of memory", prefix); return NULL; }
    snprintf(sh[s].path, len, "%s.data-%05d-of-%05d", prefix, s, n);
    sh[s].f = fopen(sh[s].path, "rb");
    if (!sh[s].f) {
        zl_error_set("%s: cannot open data shard %d of %d (%s)", sh[s].path, s, n, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(sh[s].f), &st) != 0 || !S_ISREG(st.st_mode)) {
        zl_error_set("%s: not a regular file", sh[s].path);
        return NULL;
    }
    sh[s].size = (uint64_t)st.st_size;
    return &sh[s];
}

static int load_data(const char *prefix, tf_index *ix)
{
    shard_file *sh = calloc((size_t)ix->num_shards, sizeof *sh);
    if (!sh) return zl_error_set("%s: out of memory", prefix);
    unsigned char *raw = NULL;
    size_t rawcap = 0;
    int rc = 0;
    for (int i = 0; i < ix->map->count && rc == 0; i++) {
        zl_named_tensor *e = &ix->map->items[i];
        tf_meta *mt = &ix->meta[i];
        if (!dtype_size(mt->dtype)) continue; /* strings, resources, ...: listed only */
        if (mt->sliced) {
            rc = zl_error_set("%s.index: tensor %s is partitioned into slices (not supported)",
                              prefix, e->name);
            break;
        }
        shard_file *s = open_shard(prefix, sh, mt->shard, ix->num_shards);
        if (!s) { rc = -1; break; }
        if (e->offset > s->size || e->nbytes > s->size - e->offset) {
            rc = zl_error_set("%s: tensor %s needs bytes [%llu, %llu) but the file has %llu: "
                              "truncated?", s->path, e->name, (unsigned long long)e->offset,
                              (unsigned long long)(e->offset + e->nbytes),
                              (unsigned long long)s->size);
            break;
        }
        if (e->nbytes > SIZE_MAX - 1) { rc = zl_error_set("%s: tensor %s too large", s->path, e->name); break; }
        if ((size_t)e->nbytes > rawcap) {
            free(raw);
            rawcap = (size_t)e->nbytes;
            raw = malloc(rawcap);
            if (!raw) { rawcap = 0; rc = zl_error_set("%s: out of memory for tensor %s", s->path, e->name); break; }
        }
        if (e->nbytes && (fseeko(s->f, (off_t)e->offset, SEEK_SET) != 0 ||
                          fread(raw, 1, (size_t)e->nbytes, s->f) != e->nbytes)) {
            rc = zl_error_set("%s: tensor %s: read error", s->path, e->name);
            break;
        }
        if (e->nbytes) { /* an empty tensor has nothing to corrupt */
            uint32_t got = zl_tfckpt_crc32c(0, raw, (size_t)e->nbytes), want = crc_unmask(mt->crc);
            if (got != want) {
                rc = zl_error_set("%s: tensor %s: bad crc32c of data (stored %08x, computed %08x): "
                                  "the file is corrupt", s->path, e->name, want, got);
                break;
            }
        }
        e->tensor = convert(s->path, e, mt->dtype, raw);
        if (!e->tensor) rc = -1;
    }
    for (int i = 0; i < ix->num_shards; i++) {
        if (sh[i].f) fclose(sh[i].f);
        free(sh[i].path);
    }
    free(sh);
    free(raw);
    return rc;
}

zl_tensor_map *zl_tfckpt_load(const char *path, int with_data)
{
    char *prefix = zl_tfckpt_find_prefix(path);
    if (!prefix) return NULL;
    size_t n = strlen(prefix) + 7;
    char *ipath = malloc(n);
    char *buf = NULL;
    size_t len = 0;
    tf_index ix = {0};
    if (!ipath) { zl_error_set("%s: out of memory", path); goto fail; }
    snprintf(ipath, n, "%s.index", prefix);
    if (zl_io_read_file(ipath, TF_INDEX_MAX, &buf, &len) != 0) goto fail;
    if (parse_table(ipath, (const unsigned char *)buf, len, &ix) != 0) goto fail;
    if (with_data && load_data(prefix, &ix) != 0) { tf_index_free(&ix); goto fail; }
    free(ix.meta);
    free(buf);
    free(ipath);
    free(prefix);
    return ix.map;
fail:
    free(buf);
    free(ipath);
    free(prefix);
    return NULL;
}

/* ---- writing ---- */
typedef struct bytes {
    unsigned char *p;
    size_t n, cap;
    int oom;
} bytes;

static void put(bytes *b, const void *data, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void put_varint(bytes *b, uint64_t v)
{
    unsigned char t[10];
    int k = 0;
    do {
        t[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) t[k] |= 0x80;
        k++;
    } while (v);
    put(b, t, (size_t)k);
}

static void put_le32(bytes *b, uint32_t v)
{
    unsigned char t[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, t, 4);
}

/* LevelDB block builder: prefix compression restarting every `interval` entries. */
typedef struct blk_builder {
    bytes data, restarts;
    int nrestarts, since_restart, interval, count;
    const char *last;
    size_t lastlen;
} blk_builder;

static void bb_add(blk_builder *bb, const char *key, size_t klen, const bytes *val)
{
    size_t shared = 0;
    if (bb->since_restart == bb->interval || bb->count == 0) {
        put_le32(&bb->restarts, (uint32_t)bb->data.n);
        bb->nrestarts++;
        bb->since_restart = 0;
    } else {
        while (shared < klen && shared < bb->lastlen && key[shared] == bb->last[shared]) shared++;
    }
    put_varint(&bb->data, shared);
    put_varint(&bb->data, klen - shared);
    put_varint(&bb->data, val->n);
    put(&bb->data, key + shared, klen - shared);
    put(&bb->data, val->p, val->n);
    bb->since_restart++;
    bb->count++;
    bb->last = key;
    bb->lastlen = klen;
}

/* Appends the finished block (restart array, trailer) to out and resets bb; the
 * block's handle goes to handle. */
static void bb_finish(blk_builder *bb, bytes *out, bytes *handle)
{
    if (bb->nrestarts == 0) { put_le32(&bb->restarts, 0); bb->nrestarts = 1; }
    put(&bb->data, bb->restarts.p, bb->restarts.n);
    put_le32(&bb->data, (uint32_t)bb->nrestarts);
    if (bb->data.oom || bb->restarts.oom) out->oom = 1;
    handle->n = 0;
    put_varint(handle, out->n);
    put_varint(handle, bb->data.n);
    put(out, bb->data.p, bb->data.n);
    unsigned char type = 0;
    uint32_t crc = zl_tfckpt_crc32c(zl_tfckpt_crc32c(0, bb->data.p, bb->data.n), &type, 1);
    put(out, &type, 1);
    put_le32(out, zl_tfckpt_crc_mask(crc));
    bb->data.n = bb->restarts.n = 0;
    bb->nrestarts = bb->since_restart = bb->count = 0;
}

static int cmp_items(const void *a, const void *b)
{
    return strcmp((*(const zl_named_tensor *const *)a)->name,
                  (*(const zl_named_tensor *const *)b)->name);
}

static void encode_entry(bytes *v, const zl_tensor *t, uint64_t offset, uint64_t size, uint32_t crc)
{
    bytes shape = {0}, dim = {0};
    for (int d = 0; d < t->ndim; d++) {
        dim.n = 0;
        if (t->shape[d]) { put_varint(&dim, 0x08); put_varint(&dim, (uint64_t)t->shape[d]); }
        put_varint(&shape, 0x12);
        put_varint(&shape, dim.n);
        put(&shape, dim.p, dim.n);
    }
    v->n = 0;
    put_varint(v, 0x08);
    put_varint(v, t->dtype == ZL_F32 ? DT_FLOAT : DT_INT32);
    put_varint(v, 0x12);
    put_varint(v, shape.n);
    put(v, shape.p, shape.n);
    if (offset) { put_varint(v, 0x20); put_varint(v, offset); }
    if (size) { put_varint(v, 0x28); put_varint(v, size); }
    put_varint(v, 0x35);
    put_le32(v, crc);
    if (shape.oom || dim.oom) v->oom = 1;
    free(shape.p);
    free(dim.p);
}

int zl_tfckpt_save(const char *prefix, const zl_tensor_map *m)
{
    const uint16_t one = 1;
    if (*(const unsigned char *)&one != 1)
        return zl_error_set("%s: writing TF checkpoints needs a little-endian host", prefix);
    int n = m->count;
    const zl_named_tensor **order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return zl_error_set("%s: out of memory", prefix);
    for (int i = 0; i < n; i++) order[i] = &m->items[i];
    qsort(order, (size_t)n, sizeof *order, cmp_items);
    for (int i = 0; i < n; i++) {
        int bad = !order[i]->tensor ? zl_error_set("%s: tensor %s has no data", prefix,
                                                    order[i]->name)
                  : !order[i]->name[0] || (i && strcmp(order[i - 1]->name, order[i]->name) == 0)
                      ? zl_error_set("%s: tensor name \"%s\" is empty or repeated", prefix,
                                     order[i]->name)
                      : 0;
        if (bad) {
            free(order);
            return -1;
        }
    }
    size_t plen = strlen(prefix) + 32;
    char *path = malloc(plen);
    uint32_t *crcs = malloc((size_t)(n ? n : 1) * sizeof *crcs);
    uint64_t *offs = malloc((size_t)(n ? n : 1) * sizeof *offs);
    bytes out = {0}, val = {0}, handle = {0};
    blk_builder bb = {.interval = 16}, ib = {.interval = 1};
    int rc = -1;
    if (!path || !crcs || !offs) { zl_error_set("%s: out of memory", prefix); goto done; }

    snprintf(path, plen, "%s.data-00000-of-00001", prefix);
    zl_atomic_file *af = zl_io_atomic_begin(path);
    if (!af) goto done;
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const zl_tensor *t = order[i]->tensor;
        size_t nb = (size_t)t->numel * zl_dtype_size(t->dtype);
        offs[i] = off;
        crcs[i] = zl_tfckpt_crc_mask(zl_tfckpt_crc32c(0, t->data, nb));
        if (nb && zl_io_atomic_write(af, t->data, nb) != 0) { zl_io_atomic_abort(af); goto done; }
        off += nb;
    }
    if (zl_io_atomic_commit(af) != 0) goto done;

    /* Header, then tensors in name order; a data block is cut after ~4 KiB as LevelDB
     * does, and the index block maps each block's last key to its handle. */
    static const unsigned char header[] = {0x08, 0x01, 0x1a, 0x02, 0x08, 0x01};
    bytes hv = {0};
    put(&hv, header, sizeof header);
    bb_add(&bb, "", 0, &hv);
    free(hv.p);
    const char *prev = "";
    size_t prevlen = 0;
    for (int i = 0; i < n; i++) {
        const zl_tensor *t = order[i]->tensor;
        encode_entry(&val, t, offs[i], (uint64_t)t->numel * zl_dtype_size(t->dtype), crcs[i]);
        if (val.oom) { out.oom = 1; break; }
        bb_add(&bb, order[i]->name, strlen(order[i]->name), &val);
        prev = order[i]->name;
        prevlen = strlen(prev);
        if (bb.data.n >= 4096 && i + 1 < n) {
            bb_finish(&bb, &out, &handle);
            bb_add(&ib, prev, prevlen, &handle);
        }
    }
    bb_finish(&bb, &out, &handle);
    bb_add(&ib, prev, prevlen, &handle);
    blk_builder mb = {.interval = 16};
    bytes mhandle = {0}, ihandle = {0};
    bb_finish(&mb, &out, &mhandle);
    bb_finish(&ib, &out, &ihandle);
    bytes foot = {0};
    put(&foot, mhandle.p, mhandle.n);
    put(&foot, ihandle.p, ihandle.n);
    while (foot.n < 40) put(&foot, "", 1);
    put_le32(&foot, (uint32_t)TF_MAGIC);
    put_le32(&foot, (uint32_t)(TF_MAGIC >> 32));
    put(&out, foot.p, foot.n);
    if (foot.oom) out.oom = 1;
    free(foot.p);
    free(mhandle.p);
    free(ihandle.p);
    free(mb.data.p);
    free(mb.restarts.p);
    if (out.oom) { zl_error_set("%s: out of memory", prefix); goto done; }
    snprintf(path, plen, "%s.index", prefix);
    rc = zl_io_write_atomic(path, out.p, out.n);
done:
    free(out.p);
    free(val.p);
    free(handle.p);
    free(bb.data.p);
    free(bb.restarts.p);
    free(ib.data.p);
    free(ib.restarts.p);
    free(offs);
    free(crcs);
    free(path);
    free(order);
    return rc;
}
