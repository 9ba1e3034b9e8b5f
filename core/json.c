/* json.c — strict JSON reading on top of cJSON (see json.h). */
#include "json.h"
#include "error.h"
#include "text.h"

#include <ctype.h>
#include <string.h>
#include <stdlib.h>

static int line_of(const char *buf, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++) line += buf[i] == '\n';
    return line;
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
