/* text.h — zonelab's one home for UTF-8 and for Python's string rules. Owns decoding,
 * encoding and validation of UTF-8 (valid = what Python's "utf-8" codec accepts: no
 * overlongs, no surrogates, nothing above U+10FFFF), the two ways the reference treats
 * invalid bytes, Python 3's str.lower() and str.isspace() (and Python 2's, for the CMRC
 * script), and Python's repr() of a float, the one number format of every score file.
 *
 *     int32_t *cps = malloc((len + 1) * sizeof *cps);
 *     size_t n = zl_utf8_decode(cps, s, len, ZL_UTF8_DROP);   // decode("utf-8", "ignore")
 *     size_t m = zl_text_lower(low, cps, n);                   // low holds 2 * n code points
 *     char *out = malloc(m * 4 + 1);
 *     out[zl_utf8_encode(out, low, m)] = '\0';
 *     char num[32];
 *     zl_text_repr_double(num, 91.66666666666667);             // "91.66666666666667", "75.0"
 *
 * Invalid bytes: the tokenizer and the SQuAD reader drop them (tokenization.py's
 * convert_to_unicode(text, "ignore")); the metrics keep each as U+DC80..U+DCFF
 * (Python's surrogateescape), and zl_utf8_encode writes those back as the same byte;
 * JSON refuses them (zl_utf8_valid gives the offset for the message).
 */
#ifndef ZL_TEXT_H
#define ZL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid UTF-8 sequence at s[0..avail), 0 when the bytes there are
 * not valid UTF-8 (then Python's decoder reports an error at this byte). */
int zl_utf8_len(const unsigned char *s, size_t avail);

/* Offset of the first invalid byte of s[0..len), or len when all of it is valid. */
size_t zl_utf8_valid(const char *s, size_t len);

typedef enum {
    ZL_UTF8_DROP = 0,  /* invalid bytes vanish: bytes.decode("utf-8", "ignore") */
    ZL_UTF8_ESCAPE = 1 /* each becomes U+DC00 + byte: bytes.decode("utf-8", "surrogateescape") */
} zl_utf8_invalid;

/* Decodes s[0..len) into out (room for len code points); returns the count. */
size_t zl_utf8_decode(int32_t *out, const char *s, size_t len, zl_utf8_invalid invalid);

/* UTF-8 of one code point into dst (room for 4 bytes); returns the bytes written.
 * U+DC80..U+DCFF (an escaped byte) is written back as that byte. */
size_t zl_utf8_put(char *dst, int32_t cp);
/* UTF-8 of cps[0..n) into dst (room for 4 * n bytes, not terminated); returns the bytes. */
size_t zl_utf8_encode(char *dst, const int32_t *cps, size_t n);

/* Python 3 str.isspace() of one code point (the set str.split() and strip() use). */
int zl_text_isspace(int32_t cp);
/* Python 2.7 unicode.isspace(), as the CMRC 2018 script runs: also U+180E. */
int zl_text_isspace_py2(int32_t cp);

/* Python 3 str.lower() of s[0..n) into out (room for 2 * n code points): the full
 * mapping (U+0130 -> "i\u0307") and the Final_Sigma rule for U+03A3. Returns the count. */
size_t zl_text_lower(int32_t *out, const int32_t *s, size_t n);
/* The simple lower-case mapping of one code point (Python 2 unicode.lower()); escaped
 * bytes (surrogates) are kept. */
int32_t zl_text_lower1(int32_t cp);

/* Python's repr() of a double, the shortest text that reads back to it: "75.0",
 * "0.0001", "1e-05", "1e+16", "-0.0"; non-finite values as Python's json writes them
 * ("NaN", "Infinity", "-Infinity"). buf needs 32 bytes; returns the length. */
int zl_text_repr_double(char *buf, double v);

#endif
