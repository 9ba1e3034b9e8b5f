/* fuzz_json.c — libFuzzer target: any bytes through zonelab's strict JSON reader
 * (core/json.h: UTF-8 validation, control characters, byte-order mark, text after the
 * value, on top of cJSON), which every JSON file the core reads goes through. Oracle: an
 * accepted text is valid UTF-8 with no raw control character other than tab, LF and CR
 * (checked here independently), and what cJSON prints of it reads back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "json.h"

/* 1 when buf is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF)
 * without control characters other than tab, LF and CR. */
static int clean_text(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return 0;
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        if (!k || c > 0xF4 || i + k > n) return 0;
        uint32_t cp = c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = zl_json_parse("fuzz.json", (const char *)data, size);
    if (!root) return 0;
    if (!clean_text(data, size)) abort(); /* accepted bytes Python's json.load refuses */
    char *text = cJSON_PrintUnformatted(root);
    if (text) {
        cJSON *back = cJSON_Parse(text);
        if (!back) abort(); /* cJSON's own output must read back */
        cJSON_Delete(back);
        free(text);
    }
    cJSON_Delete(root);
    return 0;
}
