/* json.h — zonelab's strict JSON reading. Owns the checks cJSON leaves out, so every
 * JSON file the core reads is judged as Python's json.load judges it: valid UTF-8,
 * no byte-order mark, no raw control characters inside strings, nothing but
 * whitespace after the value; errors name the file, the line and the byte.
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

#endif
