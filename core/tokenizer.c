/* tokenizer.c — WordPiece tokenizer equal to google-research/bert tokenization.py
 * (and run_cmrc2018.py's customize_tokenizer). Works on code points (Python str
 * semantics); core/text decodes UTF-8 and lower-cases as str.lower(), utf8proc gives
 * categories and decompositions. */
#include "tokenizer.h"

#include "error.h"
#include "io.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define MAX_WORD_CHARS 200 /* WordpieceTokenizer.max_input_chars_per_word */
#define VOCAB_MAX_BYTES ((size_t)256 << 20)

struct zl_tokenizer {
    zl_tokenizer_opts opts;
    int n;               /* vocabulary lines */
    char *text;          /* pieces, NUL-separated */
    size_t *off;         /* piece i = text + off[i] */
    uint32_t *plen;      /* piece byte lengths */
    uint32_t *slots;     /* open addressing: id + 1, 0 = empty */
    uint32_t mask;
    size_t max_piece;    /* longest piece in bytes (bounds the WordPiece search) */
    int cls, sep, unk, pad;
};

/* ---- small growable vectors ---- */
typedef struct { int32_t *v; size_t n, cap; } cpvec;

static int cp_reserve(cpvec *c, size_t extra)
{
    if (c->n + extra <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 64;
    while (cap < c->n + extra) cap *= 2;
    int32_t *v = realloc(c->v, cap * sizeof *v);
    if (!v) return zl_error_set("tokenizer: out of memory");
    c->v = v;
    c->cap = cap;
    return 0;
}

static int cp_push(cpvec *c, int32_t x)
{
    if (c->n == c->cap && cp_reserve(c, 1)) return -1;
    c->v[c->n++] = x;
    return 0;
}

int zl_ids_push(zl_ids *ids, int32_t v)
{
    if (ids->n == ids->cap) {
        int cap = ids->cap ? ids->cap * 2 : 64;
        int32_t *p = realloc(ids->v, (size_t)cap * sizeof *p);
        if (!p) return zl_error_set("tokenizer: out of memory");
        ids->v = p;
        ids->cap = cap;
    }
    ids->v[ids->n++] = v;
    return 0;
}

void zl_ids_free(zl_ids *ids)
{
    if (!ids) return;
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

void zl_words_free(zl_words *w)
{
    if (!w) return;
    free(w->buf);
    free(w->off);
    memset(w, 0, sizeof *w);
}

/* Decodes UTF-8, dropping invalid bytes (Python's decode("utf-8", "ignore")). */
static int utf8_decode(const char *s, size_t len, cpvec *out)
{
    if (cp_reserve(out, len)) return -1;
    out->n += zl_utf8_decode(out->v + out->n, s, len, ZL_UTF8_DROP);
    return 0;
}

/* ---- character classes (tokenization.py) ---- */
static int is_bert_whitespace(int32_t c)
{
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return 1;
    return utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

static int is_control(int32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

static int is_punct(int32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126))
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

static int is_cjk(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Python's str.lower() of s[0..n) appended to out. */
static int py_lower(const int32_t *s, size_t n, cpvec *out)
{
    if (cp_reserve(out, 2 * n)) return -1;
    out->n += zl_text_lower(out->v + out->n, s, n);
    return 0;
}

/* NFD (canonical decomposition + canonical ordering), then removal of Mn marks:
 * _run_strip_accents. */
static int strip_accents(const int32_t *s, size_t n, cpvec *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t c = s[i];
        if (c < 0xC0) { /* nothing below U+00C0 decomposes or is Mn */
            if (cp_push(out, c)) return -1;
            continue;
        }
        utf8proc_int32_t buf[32];
        int last = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(c, buf, 32, UTF8PROC_DECOMPOSE, &last);
        if (k < 0 || k > 32) {
            buf[0] = c;
            k = 1;
        }
        for (utf8proc_ssize_t j = 0; j < k; j++)
            if (cp_push(out, buf[j])) return -1;
    }
    /* canonical ordering: stable sort of runs of non-starters by combining class */
    for (size_t i = 1; i < out->n; i++) {
        int32_t c = out->v[i];
        int cc = utf8proc_get_property(c)->combining_class;
        if (!cc) continue;
        size_t j = i;
        while (j > 0) {
            int pc = utf8proc_get_property(out->v[j - 1])->combining_class;
            if (pc <= cc) break;
            out->v[j] = out->v[j - 1];
            j--;
        }
        out->v[j] = c;
    }
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++)
        if (utf8proc_category(out->v[i]) != UTF8PROC_CATEGORY_MN) out->v[w++] = out->v[i];
    out->n = w;
    return 0;
}

/* Word list as code points: word i = chars[b[i] .. b[i+1]). */
typedef struct { cpvec chars; cpvec b; } wordlist;

static int word_end(wordlist *wl, size_t start)
{
    if (wl->chars.n == start) return 0; /* empty words vanish (str.split) */
    if (wl->b.n == 0 && cp_push(&wl->b, 0)) return -1;
    return cp_push(&wl->b, (int32_t)wl->chars.n);
}

/* Receives one whitespace-free chunk of text and appends its words to wl. */
typedef int (*word_fn)(const int32_t *w, size_t n, int lower, cpvec *tmp, cpvec *tmp2,
                       wordlist *wl);

static int emit_bert(const int32_t *w, size_t n, int lower, cpvec *tmp, cpvec *tmp2,
                     wordlist *wl)
{
    const int32_t *s = w;
    if (lower) {
        tmp->n = tmp2->n = 0;
        if (py_lower(w, n, tmp) || strip_accents(tmp->v, tmp->n, tmp2)) return -1;
        s = tmp2->v;
        n = tmp2->n;
    }
    /* _run_split_on_punc: punctuation characters become words of their own */
    size_t start = wl->chars.n;
    for (size_t i = 0; i < n; i++) {
        if (is_punct(s[i])) {
            if (word_end(wl, start)) return -1;
            if (cp_push(&wl->chars, s[i])) return -1;
            if (word_end(wl, wl->chars.n - 1)) return -1;
            start = wl->chars.n;
        } else if (zl_text_isspace(s[i])) { /* final whitespace_tokenize */
            if (word_end(wl, start)) return -1;
            start = wl->chars.n;
        } else if (cp_push(&wl->chars, s[i])) {
            return -1;
        }
    }
    return word_end(wl, start);
}

/* str.split(): passes each run of non-whitespace to fn. */
static int split_py(const int32_t *s, size_t n, int lower, cpvec *tmp, cpvec *tmp2,
                    wordlist *wl, word_fn fn)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && zl_text_isspace(s[i])) i++;
        size_t j = i;
        while (j < n && !zl_text_isspace(s[j])) j++;
        if (j > i && fn(s + i, j - i, lower, tmp, tmp2, wl)) return -1;
        i = j;
    }
    return 0;
}

/* The pass before the split, one code point at a time into clean: BasicTokenizer's
 * (_clean_text drops NUL, U+FFFD and control characters and makes whitespace a space;
 * _tokenize_chinese_chars puts spaces around CJK) or, cmrc, run_cmrc2018.py
 * customize_tokenizer's (" c " around CJK, punctuation, whitespace and control characters). */
static int clean_text(const int32_t *s, size_t n, int cmrc, cpvec *clean)
{
    clean->n = 0;
    if (cp_reserve(clean, n * 3)) return -1;
    for (size_t i = 0; i < n; i++) {
        int32_t c = s[i];
        if (is_cjk(c) || (cmrc && (is_punct(c) || is_bert_whitespace(c) || is_control(c)))) {
            clean->v[clean->n++] = ' ';
            clean->v[clean->n++] = c;
            clean->v[clean->n++] = ' ';
        } else if (cmrc) {
            clean->v[clean->n++] = c;
        } else if (!(c == 0 || c == 0xFFFD || is_control(c))) {
            clean->v[clean->n++] = is_bert_whitespace(c) ? ' ' : c;
        }
    }
    return 0;
}

/* BasicTokenizer.tokenize on code points. */
static int basic_bert(const int32_t *s, size_t n, int lower, wordlist *wl, cpvec *tmp,
                      cpvec *tmp2, cpvec *clean)
{
    if (clean_text(s, n, 0, clean)) return -1;
    return split_py(clean->v, clean->n, lower, tmp, tmp2, wl, emit_bert);
}

static int emit_plain(const int32_t *w, size_t n, int lower, cpvec *tmp, cpvec *tmp2,
                      wordlist *wl)
{
    (void)lower; (void)tmp; (void)tmp2;
    size_t start = wl->chars.n;
    if (cp_reserve(&wl->chars, n)) return -1;
    memcpy(wl->chars.v + wl->chars.n, w, n * sizeof *w);
    wl->chars.n += n;
    return word_end(wl, start);
}

/* run_cmrc2018.py customize_tokenizer: " c " around CJK, punctuation, whitespace and
 * control characters, then str.lower() of the whole text, then str.split(). */
static int basic_cmrc(const int32_t *s, size_t n, int lower, wordlist *wl, cpvec *tmp,
                      cpvec *tmp2, cpvec *clean)
{
    if (clean_text(s, n, 1, clean)) return -1;
    const int32_t *p = clean->v;
    size_t m = clean->n;
    if (lower) {
        tmp->n = 0;
        if (py_lower(clean->v, clean->n, tmp)) return -1;
        p = tmp->v;
        m = tmp->n;
    }
    return split_py(p, m, 0, tmp2, tmp2, wl, emit_plain);
}

/* ---- vocabulary ---- */
static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

int zl_tokenizer_id(const zl_tokenizer *t, const char *piece, size_t len)
{
    uint32_t i = hash_bytes(piece, len) & t->mask;
    for (;;) {
        uint32_t s = t->slots[i];
        if (!s) return -1;
        int id = (int)s - 1;
        if (t->plen[id] == len && memcmp(t->text + t->off[id], piece, len) == 0) return id;
        i = (i + 1) & t->mask;
    }
}

/* Bytes of the Python space (str.isspace) at s[0..avail), 0 when there is none. */
static int space_len(const char *s, size_t avail)
{
    int k = zl_utf8_len((const unsigned char *)s, avail);
    int32_t cp;
    return k && zl_utf8_decode(&cp, s, (size_t)k, ZL_UTF8_DROP) == 1 && zl_text_isspace(cp) ? k : 0;
}

/* Python str.strip() on a UTF-8 line: bounds of the stripped part. */
static void strip_line(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t i = 0, j = n;
    for (int k; i < j && (k = space_len(s + i, j - i)) > 0;) i += (size_t)k;
    while (j > i) {
        size_t k = j - 1;
        while (k > i && ((unsigned char)s[k] & 0xC0) == 0x80 && j - k < 4) k--;
        if ((size_t)space_len(s + k, j - k) != j - k) break;
        j = k;
    }
    *a = i;
    *b = j;
}

zl_tokenizer *zl_tokenizer_from_buffer(const char *what, const char *data, size_t len,
                                       const zl_tokenizer_opts *opts)
{
    zl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) { zl_error_set("%s: out of memory", what); return NULL; }
    if (opts) t->opts = *opts;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += data[i] == '\n';
    if (len && data[len - 1] != '\n') lines++;
    if (lines > 0x7ffffff0u) { zl_error_set("%s: too many lines", what); goto fail; }
    t->text = malloc(len + lines + 1);
    t->off = malloc((lines + 1) * sizeof *t->off);
    t->plen = malloc((lines + 1) * sizeof *t->plen);
    uint32_t cap = 16;
    while (cap < lines * 2 + 2) cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    t->mask = cap - 1;
    if (!t->text || !t->off || !t->plen || !t->slots) {
        zl_error_set("%s: out of memory", what);
        goto fail;
    }
    size_t pos = 0, w = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        /* invalid bytes dropped as convert_to_unicode(..., "ignore") */
        size_t a, b;
        strip_line(data + pos, end - pos, &a, &b);
        size_t start = w;
        size_t i = pos + a;
        while (i < pos + b) {
            int k = zl_utf8_len((const unsigned char *)data + i, pos + b - i);
            if (!k) { i++; continue; }
            memcpy(t->text + w, data + i, (size_t)k);
            w += (size_t)k;
            i += (size_t)k;
        }
        t->text[w++] = '\0';
        int id = t->n++;
        t->off[id] = start;
        t->plen[id] = (uint32_t)(w - 1 - start);
        if (t->plen[id] > t->max_piece) t->max_piece = t->plen[id];
        pos = end + 1;
    }
    for (int id = 0; id < t->n; id++) {
        const char *p = t->text + t->off[id];
        uint32_t i = hash_bytes(p, t->plen[id]) & t->mask;
        for (;;) {
            uint32_t s = t->slots[i];
            if (!s) { t->slots[i] = (uint32_t)id + 1; break; }
            int o = (int)s - 1;
            if (t->plen[o] == t->plen[id] && memcmp(t->text + t->off[o], p, t->plen[id]) == 0) {
                t->slots[i] = (uint32_t)id + 1; /* a repeated piece maps to its last line */
                break;
            }
            i = (i + 1) & t->mask;
        }
    }
    static const char *const names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]"};
    int *dst[] = {&t->pad, &t->unk, &t->cls, &t->sep};
    for (int k = 0; k < 4; k++) {
        *dst[k] = zl_tokenizer_id(t, names[k], strlen(names[k]));
        if (*dst[k] < 0) {
            zl_error_set("%s: vocabulary has no %s token", what, names[k]);
            goto fail;
        }
    }
    return t;
fail:
    zl_tokenizer_free(t);
    return NULL;
}

static void *parse_vocab(const char *path, const char *data, size_t len, const void *opts)
{
    return zl_tokenizer_from_buffer(path, data, len, opts);
}

zl_tokenizer *zl_tokenizer_load(const char *vocab_path, const zl_tokenizer_opts *opts)
{
    return zl_io_load(vocab_path, VOCAB_MAX_BYTES, parse_vocab, opts);
}

void zl_tokenizer_free(zl_tokenizer *t)
{
    if (!t) return;
    free(t->text);
    free(t->off);
    free(t->plen);
    free(t->slots);
    free(t);
}

zl_tokenizer_opts zl_tokenizer_get_opts(const zl_tokenizer *t) { return t->opts; }
int zl_tokenizer_size(const zl_tokenizer *t) { return t->n; }
int zl_tokenizer_cls(const zl_tokenizer *t) { return t->cls; }
int zl_tokenizer_sep(const zl_tokenizer *t) { return t->sep; }
int zl_tokenizer_unk(const zl_tokenizer *t) { return t->unk; }
int zl_tokenizer_pad(const zl_tokenizer *t) { return t->pad; }

const char *zl_tokenizer_piece(const zl_tokenizer *t, int id)
{
    if (id < 0 || id >= t->n) return NULL;
    return t->text + t->off[id];
}

/* ---- WordPiece ---- */
/* Greedy longest-match-first on one word; bytes = word in UTF-8, cpoff[i] = byte
 * offset of code point i (cpoff[n] = total). key is scratch of >= bytes + 3. */
static int wordpiece(const zl_tokenizer *t, const char *bytes, const size_t *cpoff, size_t n,
                     char *key, zl_ids *out)
{
    if (n > MAX_WORD_CHARS) return zl_ids_push(out, t->unk);
    int first = out->n;
    size_t start = 0;
    while (start < n) {
        size_t pre = start > 0 ? 2 : 0;
        int found = -1;
        size_t end = n;
        while (end > start) {
            size_t blen = cpoff[end] - cpoff[start];
            if (blen + pre <= t->max_piece) {
                key[0] = '#';
                key[1] = '#';
                memcpy(key + pre, bytes + cpoff[start], blen);
                found = zl_tokenizer_id(t, key, blen + pre);
                if (found >= 0) break;
            }
            end--;
        }
        if (found < 0) {
            out->n = first;
            return zl_ids_push(out, t->unk);
        }
        if (zl_ids_push(out, found)) return -1;
        start = end;
    }
    return 0;
}

typedef struct {
    cpvec text, tmp, tmp2, clean;
    wordlist wl;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->text.v);
    free(s->tmp.v);
    free(s->tmp2.v);
    free(s->clean.v);
    free(s->wl.chars.v);
    free(s->wl.b.v);
}

static int words_of(const char *text, size_t len, int lower, int cmrc, scratch *s)
{
    if (utf8_decode(text, len, &s->text)) return -1;
    if (cmrc) return basic_cmrc(s->text.v, s->text.n, lower, &s->wl, &s->tmp, &s->tmp2, &s->clean);
    return basic_bert(s->text.v, s->text.n, lower, &s->wl, &s->tmp, &s->tmp2, &s->clean);
}

int zl_tokenizer_encode(const zl_tokenizer *t, const char *text, size_t len, zl_ids *out)
{
    scratch s;
    memset(&s, 0, sizeof s);
    int rc = words_of(text, len, t->opts.lower, t->opts.cmrc, &s);
    char *bytes = NULL, *key = NULL;
    size_t *cpoff = NULL;
    size_t nw = s.wl.b.n ? s.wl.b.n - 1 : 0;
    size_t maxw = 0;
    for (size_t i = 0; i < nw; i++) {
        size_t m = (size_t)(s.wl.b.v[i + 1] - s.wl.b.v[i]);
        if (m > maxw) maxw = m;
    }
    if (!rc && nw) {
        bytes = malloc(maxw * 4 + 1);
        key = malloc(maxw * 4 + 4);
        cpoff = malloc((maxw + 1) * sizeof *cpoff);
        if (!bytes || !key || !cpoff) rc = zl_error_set("tokenizer: out of memory");
    }
    for (size_t i = 0; !rc && i < nw; i++) {
        const int32_t *w = s.wl.chars.v + s.wl.b.v[i];
        size_t m = (size_t)(s.wl.b.v[i + 1] - s.wl.b.v[i]);
        if (m > MAX_WORD_CHARS) {
            rc = zl_ids_push(out, t->unk);
            continue;
        }
        size_t o = 0;
        for (size_t k = 0; k < m; k++) {
            cpoff[k] = o;
            o += zl_utf8_put(bytes + o, w[k]);
        }
        cpoff[m] = o;
        rc = wordpiece(t, bytes, cpoff, m, key, out);
    }
    free(bytes);
    free(key);
    free(cpoff);
    scratch_free(&s);
    return rc;
}

static int words_push(zl_words *w, const int32_t *s, size_t n)
{
    if (w->n == w->ncap) {
        int cap = w->ncap ? w->ncap * 2 : 32;
        size_t *o = realloc(w->off, (size_t)cap * sizeof *o);
        if (!o) return zl_error_set("tokenizer: out of memory");
        w->off = o;
        w->ncap = cap;
    }
    if (w->len + n * 4 + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n * 4 + 1) cap *= 2;
        char *b = realloc(w->buf, cap);
        if (!b) return zl_error_set("tokenizer: out of memory");
        w->buf = b;
        w->cap = cap;
    }
    w->off[w->n++] = w->len;
    for (size_t i = 0; i < n; i++) w->len += zl_utf8_put(w->buf + w->len, s[i]);
    w->buf[w->len++] = '\0';
    return 0;
}

int zl_tokenizer_basic(const char *text, size_t len, int lower, zl_words *out)
{
    scratch s;
    memset(&s, 0, sizeof s);
    int rc = words_of(text, len, lower, 0, &s);
    size_t nw = s.wl.b.n ? s.wl.b.n - 1 : 0;
    for (size_t i = 0; !rc && i < nw; i++)
        rc = words_push(out, s.wl.chars.v + s.wl.b.v[i], (size_t)(s.wl.b.v[i + 1] - s.wl.b.v[i]));
    scratch_free(&s);
    return rc;
}
