/* io.c — file reading, atomic writing and safetensors (see io.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* flock */
#include "io.h"
#include "error.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- renames and unlinks, with the fault hook ---- */
/* Counts of renames / unlinks so far (process-wide: the hook numbers them in the order
 * the process makes them; saves and commits run on the main thread). */
static atomic_long fault_renames, fault_unlinks;

static void fault_point(const char *op, atomic_long *count, const char *path)
{
    const char *spec = getenv("ZONELAB_FAULT");
    long n = atomic_fetch_add(count, 1) + 1;
    if (spec) {
        size_t k = strlen(op);
        char *end;
        long want = strncmp(spec, op, k) == 0 && spec[k] == ':' ? strtol(spec + k + 1, &end, 10) : 0;
        if (want == n && *end == '\0') raise(SIGKILL);
    }
    /* the tests' map of the kill points: one line per operation made */
    const char *trace = getenv("ZONELAB_FAULT_TRACE");
    FILE *f = trace ? fopen(trace, "a") : NULL;
    if (f) {
        fprintf(f, "%s %ld %s\n", op, n, path);
        fclose(f);
    }
}

int zl_io_rename(const char *from, const char *to)
{
    fault_point("rename", &fault_renames, to);
    return rename(from, to);
}

int zl_io_unlink(const char *path)
{
    fault_point("unlink", &fault_unlinks, path);
    return unlink(path);
}

/* ---- outputs opened without following symlinks ---- */
char *zl_io_join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);
    if (!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

int zl_io_open_output(const char *path, char mode)
{
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    if (mode == 'x') flags |= O_EXCL;
    else if (mode == 'a') flags |= O_APPEND;
    else if (mode != 'w') return zl_error_set("%s: bad output mode '%c' (w, a or x)", path, mode);
    int fd = open(path, flags, 0644);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if (e == ELOOP || (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)))
            return zl_error_set("%s: is a symbolic link; zonelab never writes an output through "
                                "one (remove it)", path);
        return zl_error_set("%s: cannot open for writing (%s)", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return zl_error_set("%s: not a regular file", path);
    }
    /* truncate only once it is known to be our regular file (O_TRUNC would act first) */
    if ((mode == 'w' && ftruncate(fd, 0) != 0) || fcntl(fd, F_SETFL, flags & O_APPEND) != 0) {
        int e = errno;
        close(fd);
        return zl_error_set("%s: cannot open for writing (%s)", path, strerror(e));
    }
    return fd;
}

int zl_io_lock_dir(const char *dir, const char *name, int shared)
{
    if (!name) name = ".lock";
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return zl_error_set("%s: bad lock file name '%s' (a plain file name)", dir, name);
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) return zl_error_set("%s: out of memory", dir);
    snprintf(path, n, "%s/%s", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) {
        int e = errno;
        zl_error_set("%s: cannot open the run folder's lock (%s)", path,
                     e == ELOOP ? "it is a symbolic link" : strerror(e));
        free(path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        zl_error_set("%s: not a regular file", path);
        free(path);
        return -1;
    }
    free(path);
    if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = {0};
        ssize_t got = e == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK) return zl_error_set("%s: cannot lock the run folder (%s)", dir, strerror(e));
        while (got > 0 && (pid[got - 1] == '\n' || pid[got - 1] == ' ')) pid[--got] = 0;
        if (got > 0 && strspn(pid, "0123456789") == (size_t)got)
            return zl_error_set("%s is in use by process %s", dir, pid);
        return zl_error_set("%s is in use by another process", dir);
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        /* the lock holds all the same; the pid only makes the message helpful */
    }
    return fd;
}

int zl_io_read_file(const char *path, size_t max_bytes, char **data, size_t *len)
{
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return zl_error_set("%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return zl_error_set("%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max_bytes) {
        fclose(f);
        return zl_error_set("%s: file of %lld bytes is larger than the limit of %zu bytes",
                            path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return zl_error_set("%s: out of memory reading %zu bytes", path, n);
    }
    size_t got = n ? fread(buf, 1, n, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return zl_error_set("%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return 0;
}

void *zl_io_load(const char *path, size_t max_bytes,
                 void *(*parse)(const char *path, const char *data, size_t len, const void *arg),
                 const void *arg)
{
    char *data;
    size_t len;
    if (zl_io_read_file(path, max_bytes, &data, &len) != 0) return NULL;
    void *r = parse(path, data, len, arg);
    free(data);
    return r;
}

/* ---- atomic writing ---- */
struct zl_atomic_file {
    char *path;
    char *tmp;
    FILE *f;
};

zl_atomic_file *zl_io_atomic_begin(const char *path)
{
    zl_atomic_file *a = calloc(1, sizeof *a);
    if (!a) { zl_error_set("%s: out of memory", path); return NULL; }
    size_t n = strlen(path);
    a->path = malloc(n + 1);
    a->tmp = malloc(n + 32);
    if (!a->path || !a->tmp) {
        free(a->path); free(a->tmp); free(a);
        zl_error_set("%s: out of memory", path);
        return NULL;
    }
    memcpy(a->path, path, n + 1);
    snprintf(a->tmp, n + 32, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        zl_error_set("%s: cannot create a temporary file beside it (%s)", path, strerror(errno));
        free(a->path); free(a->tmp); free(a);
        return NULL;
    }
    fchmod(fd, 0644);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        close(fd);
        zl_io_unlink(a->tmp);
        zl_error_set("%s: cannot open temporary file", path);
        free(a->path); free(a->tmp); free(a);
        return NULL;
    }
    return a;
}

int zl_io_atomic_write(zl_atomic_file *a, const void *data, size_t len)
{
    if (len && fwrite(data, 1, len, a->f) != len)
        return zl_error_set("%s: write error (%s)", a->path, strerror(errno));
    return 0;
}

FILE *zl_io_atomic_stream(zl_atomic_file *a) { return a->f; }

static void atomic_release(zl_atomic_file *a)
{
    free(a->path);
    free(a->tmp);
    free(a);
}

void zl_io_atomic_abort(zl_atomic_file *a)
{
    if (!a) return;
    if (a->f) fclose(a->f);
    zl_io_unlink(a->tmp);
    atomic_release(a);
}

int zl_io_atomic_commit(zl_atomic_file *a)
{
    int bad = fflush(a->f) != 0 || ferror(a->f);
    int e = errno;
    if (!bad && fsync(fileno(a->f)) != 0) { bad = 1; e = errno; }
    if (fclose(a->f) != 0 && !bad) { bad = 1; e = errno; }
    a->f = NULL;
    if (bad) {
        zl_error_set("%s: write error (%s)", a->path, strerror(e));
        zl_io_atomic_abort(a);
        return -1;
    }
    if (zl_io_rename(a->tmp, a->path) != 0) {
        zl_error_set("%s: cannot rename the finished file into place (%s)", a->path,
                     strerror(errno));
        zl_io_atomic_abort(a);
        return -1;
    }
    atomic_release(a);
    return 0;
}

int zl_io_write_atomic(const char *path, const void *data, size_t len)
{
    zl_atomic_file *a = zl_io_atomic_begin(path);
    if (!a) return -1;
    if (zl_io_atomic_write(a, data, len) != 0) {
        zl_io_atomic_abort(a);
        return -1;
    }
    return zl_io_atomic_commit(a);
}

/* ---- tensor maps ---- */
zl_tensor_map *zl_tensor_map_new(void)
{
    zl_tensor_map *m = calloc(1, sizeof *m);
    if (!m) zl_error_set("tensor map: out of memory");
    return m;
}

static zl_named_tensor *map_push(zl_tensor_map *m, const char *name)
{
    if (m->count == m->cap) {
        int cap = m->cap ? m->cap * 2 : 16;
        zl_named_tensor *it = realloc(m->items, (size_t)cap * sizeof *it);
        if (!it) { zl_error_set("tensor map: out of memory"); return NULL; }
        m->items = it;
        m->cap = cap;
    }
    zl_named_tensor *e = &m->items[m->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) { zl_error_set("tensor map: out of memory"); return NULL; }
    m->count++;
    return e;
}

int zl_tensor_map_add(zl_tensor_map *m, const char *name, zl_tensor *t)
{
    zl_named_tensor *e = map_push(m, name);
    if (!e) return -1;
    e->tensor = t;
    snprintf(e->dtype, sizeof e->dtype, "%s", t->dtype == ZL_F32 ? "F32" : "I32");
    e->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) e->shape[i] = t->shape[i];
    return 0;
}

const zl_named_tensor *zl_tensor_map_find(const zl_tensor_map *m, const char *name)
{
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->items[i].name, name) == 0) return &m->items[i];
    return NULL;
}

zl_tensor *zl_tensor_map_get(const zl_tensor_map *m, const char *name)
{
    const zl_named_tensor *e = zl_tensor_map_find(m, name);
    return e ? e->tensor : NULL;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(((const zl_named_tensor *)a)->name, ((const zl_named_tensor *)b)->name);
}

void zl_tensor_map_sort(zl_tensor_map *m)
{
    if (m->count > 1) qsort(m->items, (size_t)m->count, sizeof *m->items, cmp_name);
}

void zl_tensor_map_free(zl_tensor_map *m)
{
    if (!m) return;
    for (int i = 0; i < m->count; i++) {
        free(m->items[i].name);
        zl_tensor_free(m->items[i].tensor);
    }
    free(m->items);
    free(m);
}

/* ---- half precision ---- */
static float bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float zl_bf16_to_f32(uint16_t h) { return bits_to_f32((uint32_t)h << 16); }

uint16_t zl_f32_to_bf16(float f)
{
    uint32_t u = f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float zl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return bits_to_f32(sign);
        /* subnormal: value = man * 2^-24, exact in float32 */
        float v = (float)man * 0x1.0p-24f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_f32(sign | 0x7f800000u | (man << 13));
    return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t zl_f32_to_f16(float f)
{
    uint32_t u = f32_to_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00u;              /* NaN */
    if (a >= 0x477ff000u) return sign | 0x7c00u;             /* overflow to inf */
    if (a < 0x38800000u) {                                   /* subnormal or zero */
        float v = bits_to_f32(a) * 0x1.0p24f;                /* exact scaling */
        uint32_t q = (uint32_t)lrintf(v);                    /* ties to even */
        return sign | (uint16_t)q;
    }
    uint32_t mant = a + 0xfffu + ((a >> 13) & 1u);          /* round to nearest even */
    return sign | (uint16_t)((mant - 0x38000000u) >> 13);
}

/* ---- safetensors ---- */
typedef enum { ST_F32, ST_F16, ST_BF16, ST_I32, ST_I64, ST_BAD } st_dtype;

static st_dtype st_dtype_of(const char *s, int *size)
{
    static const struct { const char *n; st_dtype d; int sz; } tab[] = {
        {"F32", ST_F32, 4}, {"F16", ST_F16, 2}, {"BF16", ST_BF16, 2},
        {"I32", ST_I32, 4}, {"I64", ST_I64, 8}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(s, tab[i].n) == 0) { *size = tab[i].sz; return tab[i].d; }
    return ST_BAD;
}

static int cmp_offset(const void *a, const void *b)
{
    const zl_named_tensor *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : 0;
}

/* Parses and validates a header against a data section of data_len bytes. */
static zl_tensor_map *st_parse_header(const char *what, const char *hdr, size_t hlen,
                                      uint64_t data_len)
{
    cJSON *root = zl_json_parse_keep_duplicates(what, hdr, hlen); /* duplicates: below */
    if (!root) { zl_error_prefix("safetensors header: "); return NULL; }
    zl_tensor_map *m = NULL;
    if (!cJSON_IsObject(root)) {
        zl_error_set("%s: safetensors header is not a JSON object", what);
        goto fail;
    }
    m = zl_tensor_map_new();
    if (!m) goto fail;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *name = it->string ? it->string : "";
        if (strcmp(name, "__metadata__") == 0) continue;
        if (!cJSON_IsObject(it)) {
            zl_error_set("%s: tensor %s: entry is not an object", what, name);
            goto fail;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        cJSON *sh = cJSON_GetObjectItemCaseSensitive(it, "shape");
        cJSON *of = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) ||
            cJSON_GetArraySize(of) != 2) {
            zl_error_set("%s: tensor %s: needs dtype, shape and data_offsets [begin, end]",
                         what, name);
            goto fail;
        }
        int esize = 0;
        if (st_dtype_of(dt->valuestring, &esize) == ST_BAD) {
            zl_error_set("%s: tensor %s: unsupported dtype %s (F32, F16, BF16, I32, I64 are read)",
                         what, name, dt->valuestring);
            goto fail;
        }
        int nd = cJSON_GetArraySize(sh);
        if (nd > ZL_MAX_DIMS) {
            zl_error_set("%s: tensor %s: %d dimensions (at most %d)", what, name, nd, ZL_MAX_DIMS);
            goto fail;
        }
        zl_named_tensor *e = map_push(m, name);
        if (!e) goto fail;
        snprintf(e->dtype, sizeof e->dtype, "%s", dt->valuestring);
        e->ndim = nd;
        uint64_t numel = 1;
        int i = 0;
        for (cJSON *d = sh->child; d; d = d->next, i++) {
            double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
            if (v < 0 || v != floor(v) || v > 9007199254740992.0) {
                zl_error_set("%s: tensor %s: dimension %d is not a non-negative integer",
                             what, name, i);
                goto fail;
            }
            e->shape[i] = (int64_t)v;
            if (e->shape[i] && numel > (UINT64_MAX / 8) / (uint64_t)e->shape[i]) {
                zl_error_set("%s: tensor %s: shape product overflows", what, name);
                goto fail;
            }
            numel *= (uint64_t)e->shape[i];
        }
        double b = cJSON_IsNumber(of->child) ? of->child->valuedouble : -1;
        double en = cJSON_IsNumber(of->child->next) ? of->child->next->valuedouble : -1;
        if (b < 0 || en < 0 || b != floor(b) || en != floor(en) || b > en ||
            en > 18446744073709549568.0) {
            zl_error_set("%s: tensor %s: bad data_offsets", what, name);
            goto fail;
        }
        e->offset = (uint64_t)b;
        e->nbytes = (uint64_t)en - (uint64_t)b;
        if (e->nbytes != numel * (uint64_t)esize) {
            zl_error_set("%s: tensor %s: data_offsets cover %llu bytes, shape and dtype need %llu",
                         what, name, (unsigned long long)e->nbytes,
                         (unsigned long long)(numel * (uint64_t)esize));
            goto fail;
        }
        if ((uint64_t)en > data_len) {
            zl_error_set("%s: tensor %s: data_offsets end at %llu, beyond the %llu data bytes "
                         "in the file", what, name, (unsigned long long)en,
                         (unsigned long long)data_len);
            goto fail;
        }
        if (e->offset % (uint64_t)esize) {
            zl_error_set("%s: tensor %s: data offset %llu is not aligned to its %d-byte elements",
                         what, name, (unsigned long long)e->offset, esize);
            goto fail;
        }
    }
    /* Duplicate names: JSON allows them, the format does not (checked before the
       overlaps: two entries of one name would otherwise be reported as overlapping). */
    for (int i = 0; i < m->count; i++)
        for (int j = i + 1; j < m->count && m->count <= 4096; j++)
            if (strcmp(m->items[i].name, m->items[j].name) == 0) {
                zl_error_set("%s: tensor name %s appears twice in the header", what, m->items[i].name);
                goto fail;
            }
    if (m->count > 4096) {
        zl_tensor_map_sort(m);
        for (int i = 1; i < m->count; i++)
            if (strcmp(m->items[i - 1].name, m->items[i].name) == 0) {
                zl_error_set("%s: tensor name %s appears twice in the header", what, m->items[i].name);
                goto fail;
            }
    }
    /* Overlaps among the tensors that hold bytes (an empty one between two overlapping
       ones must not hide them): sort those by offset and check neighbours. */
    if (m->count > 1) {
        zl_named_tensor *cp = malloc((size_t)m->count * sizeof *cp);
        if (!cp) { zl_error_set("%s: out of memory", what); goto fail; }
        int n = 0;
        for (int i = 0; i < m->count; i++)
            if (m->items[i].nbytes) cp[n++] = m->items[i];
        qsort(cp, (size_t)n, sizeof *cp, cmp_offset);
        for (int i = 1; i < n; i++) {
            if (cp[i - 1].offset + cp[i - 1].nbytes > cp[i].offset) {
                zl_error_set("%s: tensors %s and %s overlap in the data section", what,
                             cp[i - 1].name, cp[i].name);
                free(cp);
                goto fail;
            }
        }
        free(cp);
    }
    cJSON_Delete(root);
    return m;
fail:
    cJSON_Delete(root);
    zl_tensor_map_free(m);
    return NULL;
}

/* Converts raw little-endian bytes of entry e into a new tensor. */
static zl_tensor *st_convert(const char *what, const zl_named_tensor *e, const unsigned char *raw)
{
    int esize = 0;
    st_dtype d = st_dtype_of(e->dtype, &esize);
    int is_int = d == ST_I32 || d == ST_I64;
    zl_tensor *t = zl_tensor_new(is_int ? ZL_I32 : ZL_F32, e->ndim, e->shape);
    if (!t) return NULL;
    int64_t n = t->numel;
    switch (d) {
    case ST_F32:
    case ST_I32:
        memcpy(t->data, raw, (size_t)n * 4);
        break;
    case ST_F16:
    case ST_BF16: {
        float *o = ZL_F32P(t);
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(raw[2 * i] | (raw[2 * i + 1] << 8));
            o[i] = d == ST_F16 ? zl_f16_to_f32(h) : zl_bf16_to_f32(h);
        }
        break;
    }
    case ST_I64: {
        int32_t *o = ZL_I32P(t);
        for (int64_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, raw + 8 * i, 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                zl_error_set("%s: tensor %s: I64 value %lld does not fit in 32 bits", what,
                             e->name, (long long)v);
                zl_tensor_free(t);
                return NULL;
            }
            o[i] = (int32_t)v;
        }
        break;
    }
    default:
        zl_tensor_free(t);
        zl_error_set("%s: tensor %s: unsupported dtype", what, e->name);
        return NULL;
    }
    return t;
}

static int st_header_len(const char *what, const unsigned char *b8, uint64_t total,
                         uint64_t *hlen)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b8[i];
    if (n > total - 8)
        return zl_error_set("%s: safetensors header length %llu is larger than the file (%llu bytes)",
                            what, (unsigned long long)n, (unsigned long long)total);
    if (n > (100u << 20))
        return zl_error_set("%s: safetensors header of %llu bytes is over the 100 MB limit", what,
                            (unsigned long long)n);
    *hlen = n;
    return 0;
}

zl_tensor_map *zl_safetensors_parse(const char *what, const unsigned char *buf, size_t len,
                                    int with_data)
{
    if (len < 8) {
        zl_error_set("%s: too short for a safetensors file (%zu bytes)", what, len);
        return NULL;
    }
    uint64_t hlen = 0;
    if (st_header_len(what, buf, len, &hlen) != 0) return NULL;
    zl_tensor_map *m = st_parse_header(what, (const char *)buf + 8, (size_t)hlen,
                                       len - 8 - hlen);
    if (!m || !with_data) return m;
    const unsigned char *data = buf + 8 + hlen;
    for (int i = 0; i < m->count; i++) {
        m->items[i].tensor = st_convert(what, &m->items[i], data + m->items[i].offset);
        if (!m->items[i].tensor) { zl_tensor_map_free(m); return NULL; }
    }
    return m;
}

static zl_tensor_map *st_load_file(const char *path, int with_data)
{
    FILE *f = fopen(path, "rb");
    if (!f) { zl_error_set("%s: cannot open (%s)", path, strerror(errno)); return NULL; }
    struct stat st;
    zl_tensor_map *m = NULL;
    char *hdr = NULL;
    unsigned char *raw = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        zl_error_set("%s: not a regular file", path);
        goto done;
    }
    uint64_t total = (uint64_t)st.st_size;
    unsigned char b8[8];
    if (total < 8 || fread(b8, 1, 8, f) != 8) {
        zl_error_set("%s: too short for a safetensors file (%llu bytes)", path,
                     (unsigned long long)total);
        goto done;
    }
    uint64_t hlen = 0;
    if (st_header_len(path, b8, total, &hlen) != 0) goto done;
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) { zl_error_set("%s: out of memory", path); goto done; }
    if (fread(hdr, 1, (size_t)hlen, f) != hlen) {
        zl_error_set("%s: truncated safetensors header", path);
        goto done;
    }
    m = st_parse_header(path, hdr, (size_t)hlen, total - 8 - hlen);
    if (!m || !with_data) goto done;
    uint64_t base = 8 + hlen;
    for (int i = 0; i < m->count; i++) {
        zl_named_tensor *e = &m->items[i];
        unsigned char *r = realloc(raw, e->nbytes ? (size_t)e->nbytes : 1);
        if (!r) { zl_error_set("%s: out of memory for tensor %s", path, e->name); goto bad; }
        raw = r;
        if (fseeko(f, (off_t)(base + e->offset), SEEK_SET) != 0 ||
            fread(raw, 1, (size_t)e->nbytes, f) != e->nbytes) {
            zl_error_set("%s: tensor %s: read error", path, e->name);
            goto bad;
        }
        e->tensor = st_convert(path, e, raw);
        if (!e->tensor) goto bad;
    }
    goto done;
bad:
    zl_tensor_map_free(m);
    m = NULL;
done:
    free(raw);
    free(hdr);
    fclose(f);
    return m;
}

zl_tensor_map *zl_safetensors_load(const char *path) { return st_load_file(path, 1); }

zl_tensor_map *zl_safetensors_list(const char *path) { return st_load_file(path, 0); }

int zl_safetensors_save(const char *path, const zl_tensor_map *m, const char *const *metadata)
{
    /* Entries sorted by name, data back to back in that order, header padded with
     * spaces to a multiple of 8 (as the reference library writes). */
    int n = m->count;
    int *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) return zl_error_set("%s: out of memory", path);
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort on names: n is small */
        int k = order[i], j = i - 1;
        while (j >= 0 && strcmp(m->items[order[j]].name, m->items[k].name) > 0) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = k;
    }
    cJSON *root = cJSON_CreateObject();
    int rc = -1;
    char *hdr = NULL;
    if (!root) { zl_error_set("%s: out of memory", path); goto out; }
    if (metadata && metadata[0]) {
        cJSON *md = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; metadata[i] && metadata[i + 1]; i += 2)
            cJSON_AddStringToObject(md, metadata[i], metadata[i + 1]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const zl_named_tensor *e = &m->items[order[i]];
        if (!e->tensor) { zl_error_set("%s: tensor %s has no data", path, e->name); goto out; }
        if (i && strcmp(e->name, m->items[order[i - 1]].name) == 0) {
            zl_error_set("%s: tensor name %s appears twice", path, e->name);
            goto out;
        }
        cJSON *ent = cJSON_AddObjectToObject(root, e->name);
        cJSON_AddStringToObject(ent, "dtype", e->tensor->dtype == ZL_F32 ? "F32" : "I32");
        cJSON *sh = cJSON_AddArrayToObject(ent, "shape");
        for (int d = 0; d < e->tensor->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)e->tensor->shape[d]));
        uint64_t nb = (uint64_t)e->tensor->numel * 4;
        cJSON *of = cJSON_AddArrayToObject(ent, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)(off + nb)));
        off += nb;
    }
    hdr = cJSON_PrintUnformatted(root);
    if (!hdr) { zl_error_set("%s: out of memory", path); goto out; }
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) / 8 * 8;
    zl_atomic_file *a = zl_io_atomic_begin(path);
    if (!a) goto out;
    unsigned char b8[8];
    for (int i = 0; i < 8; i++) b8[i] = (unsigned char)(((uint64_t)padded >> (8 * i)) & 0xff);
    int bad = zl_io_atomic_write(a, b8, 8) || zl_io_atomic_write(a, hdr, hl) ||
              zl_io_atomic_write(a, "        ", padded - hl);
    for (int i = 0; i < n && !bad; i++) {
        const zl_tensor *t = m->items[order[i]].tensor;
        bad = zl_io_atomic_write(a, t->data, (size_t)t->numel * 4);
    }
    if (bad) { zl_io_atomic_abort(a); goto out; }
    rc = zl_io_atomic_commit(a);
out:
    free(hdr);
    cJSON_Delete(root);
    free(order);
    return rc;
}
