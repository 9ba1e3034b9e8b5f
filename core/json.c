/* json.c — strict JSON reading on top of cJSON (see json.h). */
#include "json.h"
#include "error.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

static int line_of(const char *buf, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++) line += buf[i] == '\n';
    return line;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 when invalid (overlongs,
 * surrogates and code points above U+10FFFF are invalid, as in Python). */
static int utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    else return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

cJSON *zl_json_parse(const char *what, const char *buf, size_t len)
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
            int n = utf8_len(u + i, len - i);
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
                    /* \u0000 would cut zonelab's C strings short */
                    if (ok && memcmp(buf + i + 2, "0000", 4) == 0) ok = 0;
                }
                if (!ok) {
                    zl_error_set("%s: invalid escape in a string at line %d (byte %zu)", what,
                                 line_of(buf, i), i + 1);
                    return NULL;
                }
                i += e == 'u' ? 6 : 2;
                continue;
            }
            if (c == '"') in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            zl_error_set("%s: control character 0x%02x at line %d (byte %zu) is not valid JSON",
                         what, c, line_of(buf, i), i + 1);
            return NULL;
        }
        i++;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        const char *err = cJSON_GetErrorPtr();
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
    return root;
}
