/* json.c — strict JSON reading on top of cJSON (see json.h). */
#include "json.h"
#include "error.h"
#include "text.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <stdlib.h>

static pthread_mutex_t parse_lock = PTHREAD_MUTEX_INITIALIZER;

static int line_of(const char *buf, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++) line += buf[i] == '\n';
    return line;
}

static unsigned hex4(const unsigned char *h)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++)
        v = v * 16 + (unsigned)(isdigit(h[k]) ? h[k] - '0' : (tolower(h[k]) - 'a' + 10));
    return v;
}

typedef struct { cJSON *item; size_t index; } keyed;

static int cmp_keyed(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    int c = strcmp(x->item->string, y->item->string);
    if (c) return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* A repeated key keeps its first place and takes its last value, as a Python dict
 * built by json.load does; the earlier values are deleted. Sorting a copy of the
 * members keeps this n log n for objects with many keys. */
static int dedup(cJSON *node)
{
    for (cJSON *c = node->child; c; c = c->next)
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && dedup(c) != 0) return -1;
    if (!cJSON_IsObject(node) || !node->child || !node->child->next) return 0;
    size_t n = 0;
    for (cJSON *c = node->child; c; c = c->next) n++;
    keyed small[16], *k = n <= 16 ? small : malloc(n * sizeof *k);
    if (!k) return -1;
    n = 0;
    for (cJSON *c = node->child; c; c = c->next, n++) {
        k[n].item = c;
        k[n].index = n;
    }
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t g = 0; g < n;) {
        size_t e = g + 1;
        while (e < n && strcmp(k[e].item->string, k[g].item->string) == 0) e++;
        if (e - g > 1) {
            for (size_t j = g + 1; j + 1 < e; j++)
                cJSON_Delete(cJSON_DetachItemViaPointer(node, k[j].item));
            cJSON *last = cJSON_DetachItemViaPointer(node, k[e - 1].item);
            cJSON_ReplaceItemViaPointer(node, k[g].item, last); /* frees the first */
        }
        g = e;
    }
    if (k != small) free(k);
    return 0;
}

static cJSON *parse(const char *what, const char *buf, size_t len, int keep_duplicates)
{
    const unsigned char *u = (const unsigned char *)buf;
    if (len == 0) {
        zl_error_set("%s: empty file, expected JSON", what);
        return NULL;
    }
    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        zl_error_set("%s: starts with a UTF-8 byte-order mark, which JSON does not allow", what);
        return NULL;
    }
    /* One pass: UTF-8 validity everywhere, control characters inside strings. */
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = u[i];
        if (c >= 0x80) {
            int n = zl_utf8_len(u + i, len - i);
            if (!n) {
                zl_error_set("%s: invalid UTF-8 at line %d (byte %zu)", what, line_of(buf, i), i + 1);
                return NULL;
            }
            i += (size_t)n;
            continue;
        }
        if (in_string) {
            if (c < 0x20) {
                zl_error_set("%s: control character 0x%02x inside a string at line %d (byte %zu) "
                             "is not valid JSON", what, c, line_of(buf, i), i + 1);
                return NULL;
            }
            if (c == '\\') {
                /* Only JSON's escapes; cJSON reads a bad \u digit as 0 and cuts the string. */
                unsigned char e = i + 1 < len ? u[i + 1] : 0;
                int ok = e && strchr("\"\\/bfnrtu", e) != NULL;
                if (ok && e == 'u') {
                    for (size_t k = 2; k < 6; k++)
                        if (i + k >= len || !isxdigit(u[i + k])) ok = 0;
                }
                if (!ok) {
                    zl_error_set("%s: invalid escape in a string at line %d (byte %zu)", what,
                                 line_of(buf, i), i + 1);
                    return NULL;
                }
                if (e == 'u') {
                    /* Python accepts these; zonelab refuses them, saying which */
                    unsigned cu = hex4(u + i + 2);
                    if (cu == 0) {
                        zl_error_set("%s: \\u0000 (a NUL character) in a string at line %d "
                                     "(byte %zu) is refused: zonelab's strings cannot hold it",
                                     what, line_of(buf, i), i + 1);
                        return NULL;
                    }
                    int lone = cu >= 0xDC00 && cu <= 0xDFFF;
                    if (cu >= 0xD800 && cu <= 0xDBFF) {
                        size_t nx = i + 6;
                        lone = !(nx + 5 < len && u[nx] == '\\' && u[nx + 1] == 'u');
                        for (size_t k = 2; !lone && k < 6; k++) lone = !isxdigit(u[nx + k]);
                        if (!lone) {
                            unsigned lo = hex4(u + nx + 2);
                            lone = lo < 0xDC00 || lo > 0xDFFF;
                        }
                        if (!lone) i += 6; /* the pair's low half is read with it */
                    }
                    if (lone) {
                        zl_error_set("%s: lone surrogate \\u%.4s in a string at line %d (byte %zu) "
                                     "is refused: it is half of a UTF-16 pair, not a character",
                                     what, buf + i + 2,
                                     line_of(buf, i), i + 1);
                        return NULL;
                    }
                }
                i += e == 'u' ? 6 : 2;
                continue;
            }
            if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == 'N' || c == 'I' || (c == '-' && i + 1 < len && u[i + 1] == 'I')) {
            /* Python's json.dump writes these for non-finite floats; JSON has no such values */
            const char *word = c == 'N' ? "NaN" : c == 'I' ? "Infinity" : "-Infinity";
            size_t wl = strlen(word);
            if (len - i >= wl && memcmp(buf + i, word, wl) == 0) {
                zl_error_set("%s: %s at line %d (byte %zu) is not a JSON number (non-finite "
                             "values are refused)", what, word, line_of(buf, i), i + 1);
                return NULL;
            }
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            zl_error_set("%s: control character 0x%02x at line %d (byte %zu) is not valid JSON",
                         what, c, line_of(buf, i), i + 1);
            return NULL;
        }
        i++;
    }
    const char *end = NULL;
    /* cJSON's parser writes one process-wide error record on every call, failed or not:
       parses from two threads would race on it, so they take turns (parsing is not on any
       hot path) */
    pthread_mutex_lock(&parse_lock);
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    pthread_mutex_unlock(&parse_lock);
    if (!root) {
        /* cJSON's return_parse_end points at the error (not cJSON_GetErrorPtr: one global
           for the process, which another thread's parse may change meanwhile) */
        const char *err = end;
        size_t off = err && err >= buf && err <= buf + len ? (size_t)(err - buf) : 0;
        size_t rest = off;
        while (rest < len && (buf[rest] == ' ' || buf[rest] == '\t' || buf[rest] == '\n' ||
                              buf[rest] == '\r'))
            rest++;
        if (rest >= len)
            zl_error_set("%s: truncated JSON (the file ends inside a value)", what);
        else
            zl_error_set("%s: invalid JSON at line %d (byte %zu)", what, line_of(buf, off), off + 1);
        return NULL;
    }
    size_t off = end ? (size_t)(end - buf) : len;
    while (off < len && (buf[off] == ' ' || buf[off] == '\t' || buf[off] == '\n' || buf[off] == '\r'))
        off++;
    if (off < len) {
        cJSON_Delete(root);
        zl_error_set("%s: unexpected text after the JSON value at line %d (byte %zu)", what,
                     line_of(buf, off), off + 1);
        return NULL;
    }
    if (!keep_duplicates && dedup(root) != 0) {
        cJSON_Delete(root);
        zl_error_set("%s: out of memory", what);
        return NULL;
    }
    return root;
}

cJSON *zl_json_parse(const char *what, const char *buf, size_t len)
{
    return parse(what, buf, len, 0);
}

cJSON *zl_json_parse_keep_duplicates(const char *what, const char *buf, size_t len)
{
    return parse(what, buf, len, 1);
}
