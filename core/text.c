/* text.c — UTF-8 and Python's string rules (see text.h). Character properties come from
 * utf8proc; the few that utf8proc does not expose (Other_Lowercase/Other_Uppercase for
 * "cased", Word_Break for "case-ignorable") are listed here as Python 3.11 has them. */
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

int zl_utf8_len(const unsigned char *s, size_t avail)
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

size_t zl_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) { i++; continue; }
        int k = zl_utf8_len(u + i, len - i);
        if (!k) return i;
        i += (size_t)k;
    }
    return len;
}

size_t zl_utf8_decode(int32_t *out, const char *s, size_t len, zl_utf8_invalid invalid)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, n = 0;
    while (i < len) {
        unsigned c = u[i];
        if (c < 0x80) {
            out[n++] = (int32_t)c;
            i++;
            continue;
        }
        int k = zl_utf8_len(u + i, len - i);
        if (!k) { /* one byte at a time: the same result as Python's maximal error ranges */
            if (invalid == ZL_UTF8_ESCAPE) out[n++] = 0xDC00 + (int32_t)c;
            i++;
            continue;
        }
        int32_t cp = (int32_t)(c & (0xFF >> (k + 1)));
        for (int j = 1; j < k; j++) cp = (cp << 6) | (u[i + j] & 0x3F);
        out[n++] = cp;
        i += (size_t)k;
    }
    return n;
}

size_t zl_utf8_put(char *dst, int32_t cp)
{
    unsigned char *d = (unsigned char *)dst;
    if (cp >= 0xDC80 && cp <= 0xDCFF) { /* an escaped byte goes back as itself */
        d[0] = (unsigned char)(cp - 0xDC00);
        return 1;
    }
    if (cp < 0x80) { d[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | (cp >> 6));
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (unsigned char)(0xE0 | (cp >> 12));
        d[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | (cp >> 18));
    d[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t zl_utf8_encode(char *dst, const int32_t *cps, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) o += zl_utf8_put(dst + o, cps[i]);
    return o;
}

/* ---- Python's character classes ---- */

/* White_Space plus the bidi B/S/WS controls (Python's _PyUnicode_IsWhitespace). */
int zl_text_isspace(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Python 2.7's Unicode 5.2 still had U+180E MONGOLIAN VOWEL SEPARATOR as a space. */
int zl_text_isspace_py2(int32_t c) { return zl_text_isspace(c) || c == 0x180E; }

/* Unicode "Cased" = Lu, Ll, Lt, Other_Lowercase, Other_Uppercase. Only its value on
 * characters that are not case-ignorable matters (the Final_Sigma scan skips those):
 * the Other_* characters outside Lu/Ll/Lt and the case-ignorable set are these. */
static int is_cased(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT)
        return 1;
    return c == 0xAA || c == 0xBA || (c >= 0x2160 && c <= 0x217F) ||
           (c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
           (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189);
}

/* Unicode "Case_Ignorable": Mn Me Cf Lm Sk plus Word_Break MidLetter/MidNumLet/Single_Quote. */
static int is_case_ignorable(int32_t c)
{
    switch (c) {
    case 0x27: case 0x2E: case 0x3A: case 0xB7: case 0x387: case 0x55F: case 0x5F4:
    case 0x2018: case 0x2019: case 0x2024: case 0x2027: case 0xFE13: case 0xFE52:
    case 0xFE55: case 0xFF07: case 0xFF0E: case 0xFF1A:
        return 1;
    default: break;
    }
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
           k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

int32_t zl_text_lower1(int32_t c)
{
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xD800 && c <= 0xDFFF) return c;
    return utf8proc_tolower(c);
}

size_t zl_text_lower(int32_t *out, const int32_t *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = s[i];
        if (c == 0x130) { /* the one unconditional multi-character lower-case mapping */
            out[o++] = 'i';
            out[o++] = 0x307;
            continue;
        }
        if (c == 0x3A3) { /* Final_Sigma: a cased letter before, none after */
            size_t j = i;
            int fin = 0;
            while (j > 0) {
                int32_t b = s[--j];
                if (!is_case_ignorable(b)) { fin = is_cased(b); break; }
            }
            if (fin) {
                size_t k = i + 1;
                while (k < n && is_case_ignorable(s[k])) k++;
                fin = k == n || !is_cased(s[k]);
            }
            out[o++] = fin ? 0x3C2 : 0x3C3;
            continue;
        }
        out[o++] = zl_text_lower1(c);
    }
    return o;
}

/* ---- repr(float) ---- */
int zl_text_repr_double(char *buf, double v)
{
    if (isnan(v)) return sprintf(buf, "NaN");
    if (isinf(v)) return sprintf(buf, v < 0 ? "-Infinity" : "Infinity");
    /* the fewest significant digits that read back to v; with correct rounding this
     * is the string Python's repr picks */
    char e[40];
    int p;
    for (p = 1; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    const char *s = e;
    int neg = *s == '-';
    if (neg) s++;
    char digits[24];
    int nd = 0;
    for (; *s != 'e'; s++)
        if (*s != '.') digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = '\0';
    char *o = buf;
    if (neg) *o++ = '-';
    if (exp10 < -4 || exp10 >= 16) { /* 1e-05, 1.5e+300: at least two exponent digits */
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        o += sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) { /* 0.001 */
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -exp10 - 1; i++) *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    } else { /* 75.0, 91.66666666666667, 1234567890123456.0 */
        for (int i = 0; i <= exp10; i++) *o++ = i < nd ? digits[i] : '0';
        *o++ = '.';
        if (nd > exp10 + 1) {
            memcpy(o, digits + exp10 + 1, (size_t)(nd - exp10 - 1));
            o += nd - exp10 - 1;
        } else {
            *o++ = '0';
        }
    }
    *o = '\0';
    return (int)(o - buf);
}
