/* json.h — zonelab's strict JSON reading. Owns the checks cJSON leaves out, so every
 * JSON file the core reads is judged as Python's json.load judges it: valid UTF-8,
 * no byte-order mark, no raw control characters inside strings, nothing but
 * whitespace after the value; errors name the file, the line and the byte.
 * A key repeated in an object takes its last value (in the first key's place), as
 * json.load's dict does, for every reader. Refused although Python reads them, each
 * with its own message: NaN, Infinity, -Infinity, \u0000 and lone UTF-16 surrogates.
 *
 *     cJSON *root = zl_json_parse("dev.json", buf, len);
 *     if (!root) return -1;          // zl_error_get(): "dev.json: invalid JSON at line 3 (byte 41)"
 *     ...
 *     cJSON_Delete(root);
 */
#ifndef ZL_JSON_H
#define ZL_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Parses buf[0..len) strictly; NULL with the error set (naming `what`) on failure. */
cJSON *zl_json_parse(const char *what, const char *buf, size_t len);

/* The same, but a repeated key stays as two members (for formats that refuse
 * duplicates, such as the safetensors header: they look for them themselves). */
cJSON *zl_json_parse_keep_duplicates(const char *what, const char *buf, size_t len);

#endif
