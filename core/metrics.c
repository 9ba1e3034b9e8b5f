/* metrics.c — official SQuAD v1.1 / CMRC 2018 metrics and the gold dataset (see metrics.h).
 *
 * Text is handled as arrays of code points so that Python's per-character semantics
 * (str.lower, re \b, str.split, `for char in s`) carry over one to one. Bytes that are
 * not valid UTF-8 become U+DC80..U+DCFF (Python's surrogateescape) and are written back
 * as the same bytes. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "metrics.h"
#include "error.h"
#include "json.h"
#include "io.h"
#include "squad.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- code point buffers and token lists ---- */
typedef struct { int32_t *v; int n, cap; } cpbuf;

static int cp_reserve(cpbuf *b, int extra)
{
    if (b->n + extra <= b->cap) return 0;
    int cap = b->cap ? b->cap : 16;
    while (cap < b->n + extra) cap *= 2;
    int32_t *v = realloc(b->v, (size_t)cap * sizeof *v);
    if (!v) return zl_error_set("metrics: out of memory");
    b->v = v;
    b->cap = cap;
    return 0;
}

static int cp_push(cpbuf *b, int32_t c)
{
    if (cp_reserve(b, 1)) return -1;
    b->v[b->n++] = c;
    return 0;
}

static int cp_append(cpbuf *b, const int32_t *v, int n)
{
    if (n <= 0) return 0;
    if (cp_reserve(b, n)) return -1;
    memcpy(b->v + b->n, v, (size_t)n * sizeof *v);
    b->n += n;
    return 0;
}

static int cp_puts(cpbuf *b, const char *ascii)
{
    for (; *ascii; ascii++)
        if (cp_push(b, (unsigned char)*ascii)) return -1;
    return 0;
}

static void cp_free(cpbuf *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}

/* Decodes s, invalid bytes kept as U+DC80..U+DCFF (surrogateescape). */
static int decode_utf8(const char *s, cpbuf *out)
{
    out->n = 0;
    size_t len = strlen(s);
    if (len > INT_MAX / 2) return zl_error_set("metrics: a text of %zu bytes is too long", len);
    if (cp_reserve(out, (int)len)) return -1;
    out->n = (int)zl_utf8_decode(out->v, s, len, ZL_UTF8_ESCAPE);
    return 0;
}

static char *encode_utf8(const int32_t *v, int n)
{
    char *s = malloc((size_t)n * 4 + 1);
    if (!s) { zl_error_set("metrics: out of memory"); return NULL; }
    s[zl_utf8_encode(s, v, (size_t)n)] = '\0';
    return s;
}

typedef struct { cpbuf chars; int *off, *len; int n, cap; } toklist;

static int tok_add(toklist *t, const int32_t *v, int n)
{
    if (t->n == t->cap) {
        int cap = t->cap ? t->cap * 2 : 16;
        int *off = realloc(t->off, (size_t)cap * sizeof *off);
        if (!off) return zl_error_set("metrics: out of memory");
        t->off = off;
        int *len = realloc(t->len, (size_t)cap * sizeof *len);
        if (!len) return zl_error_set("metrics: out of memory");
        t->len = len;
        t->cap = cap;
    }
    t->off[t->n] = t->chars.n;
    t->len[t->n] = n;
    t->n++;
    return cp_append(&t->chars, v, n);
}

static void tok_free(toklist *t)
{
    cp_free(&t->chars);
    free(t->off);
    free(t->len);
    memset(t, 0, sizeof *t);
}

static int tok_eq(const toklist *a, int i, const toklist *b, int j)
{
    return a->len[i] == b->len[j] &&
           memcmp(a->chars.v + a->off[i], b->chars.v + b->off[j],
                  (size_t)a->len[i] * sizeof(int32_t)) == 0;
}

/* ---- Python character classes ---- */

/* str.isspace() / str.split(), of Python 3 or (py2) of the CMRC script's Python 2. */
static int is_pyspace(int32_t c, int py2)
{
    return py2 ? zl_text_isspace_py2(c) : zl_text_isspace(c);
}

/* re's Unicode \w: str.isalnum() or '_' (letters and numbers; marks are not). */
static int is_word(int32_t c)
{
    if (c == '_') return 1;
    if (c < 128) return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z');
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int is_ascii_punct(int32_t c)
{
    return c > 32 && c < 127 && strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", (int)c) != NULL;
}

/* Python 3 str.lower() (full mapping, Final_Sigma). */
static int lower_full(const cpbuf *in, cpbuf *out)
{
    out->n = 0;
    if (cp_reserve(out, 2 * in->n)) return -1;
    out->n = (int)zl_text_lower(out->v, in->v, (size_t)in->n);
    return 0;
}

/* Python 2 unicode.lower(): simple mapping only. */
static void lower_simple(cpbuf *b)
{
    for (int i = 0; i < b->n; i++) b->v[i] = zl_text_lower1(b->v[i]);
}

/* Splits on Python whitespace (str.split()). */
static int split_ws(const int32_t *v, int n, toklist *out, int py2)
{
    int i = 0;
    while (i < n) {
        while (i < n && is_pyspace(v[i], py2)) i++;
        int j = i;
        while (j < n && !is_pyspace(v[j], py2)) j++;
        if (j > i && tok_add(out, v + i, j - i)) return -1;
        i = j;
    }
    return 0;
}

/* ---- SQuAD v1.1 ---- */

/* normalize_answer(s).split(): lower, remove ASCII punctuation, \b(a|an|the)\b -> ' ',
 * then whitespace split. (Because the pattern needs \b on both sides, a match is
 * exactly a maximal run of word characters equal to a, an or the.) */
static int squad_tokens(const char *s, toklist *out)
{
    cpbuf raw = {0}, low = {0}, noart = {0};
    int rc = -1;
    if (decode_utf8(s, &raw) || lower_full(&raw, &low)) goto done;
    int n = 0;
    for (int i = 0; i < low.n; i++)
        if (!is_ascii_punct(low.v[i])) low.v[n++] = low.v[i];
    low.n = n;
    for (int i = 0; i < low.n;) {
        if (!is_word(low.v[i])) {
            if (cp_push(&noart, low.v[i++])) goto done;
            continue;
        }
        int j = i;
        while (j < low.n && is_word(low.v[j])) j++;
        const int32_t *w = low.v + i;
        int len = j - i;
        int article = (len == 1 && w[0] == 'a') || (len == 2 && w[0] == 'a' && w[1] == 'n') ||
                      (len == 3 && w[0] == 't' && w[1] == 'h' && w[2] == 'e');
        if (article ? cp_push(&noart, ' ') : cp_append(&noart, w, len)) goto done;
        i = j;
    }
    rc = split_ws(noart.v, noart.n, out, 0);
done:
    cp_free(&raw);
    cp_free(&low);
    cp_free(&noart);
    return rc;
}

char *zl_metrics_normalize(const char *s)
{
    toklist t = {0};
    if (squad_tokens(s, &t)) { tok_free(&t); return NULL; }
    cpbuf j = {0};
    int bad = 0;
    for (int i = 0; i < t.n && !bad; i++)
        bad = (i && cp_push(&j, ' ')) || cp_append(&j, t.chars.v + t.off[i], t.len[i]);
    char *r = bad ? NULL : encode_utf8(j.v, j.n);
    cp_free(&j);
    tok_free(&t);
    return r;
}

static int squad_em_tok(const toklist *p, const toklist *g)
{
    if (p->n != g->n) return 0;
    for (int i = 0; i < p->n; i++)
        if (!tok_eq(p, i, g, i)) return 0;
    return 1;
}

/* f1_score: Counter(pred) & Counter(gold) is a multiset intersection; matching each
 * predicted token to an unused equal gold token counts it exactly. */
static double squad_f1_tok(const toklist *p, const toklist *g, unsigned char *used)
{
    memset(used, 0, (size_t)g->n);
    int same = 0;
    for (int i = 0; i < p->n; i++)
        for (int j = 0; j < g->n; j++)
            if (!used[j] && tok_eq(p, i, g, j)) {
                used[j] = 1;
                same++;
                break;
            }
    if (same == 0) return 0.0;
    double precision = 1.0 * same / p->n;
    double recall = 1.0 * same / g->n;
    return (2 * precision * recall) / (precision + recall);
}

/* Scores one question: *em in {0,1}, *f1 in [0,1] (max over golds). */
static int squad_score(const char *pred, const char *const *golds, int n, double *em, double *f1)
{
    toklist p = {0}, g = {0};
    unsigned char *used = NULL;
    int rc = -1;
    *em = 0;
    *f1 = 0;
    if (squad_tokens(pred, &p)) goto done;
    for (int k = 0; k < n; k++) {
        g.n = 0;
        g.chars.n = 0;
        if (squad_tokens(golds[k], &g)) goto done;
        unsigned char *u = realloc(used, (size_t)g.n + 1);
        if (!u) { zl_error_set("metrics: out of memory"); goto done; }
        used = u;
        double e = squad_em_tok(&p, &g), f = squad_f1_tok(&p, &g, used);
        if (k == 0 || e > *em) *em = e;
        if (k == 0 || f > *f1) *f1 = f;
    }
    rc = 0;
done:
    tok_free(&p);
    tok_free(&g);
    free(used);
    return rc;
}

/* ---- CMRC 2018 ---- */

/* The script's sp_char list. Its '……' entry is two characters long, so a single '…'
 * never equals it: '…' is kept, as in the script. */
static int is_cmrc_punct(int32_t c)
{
    static const int32_t sp[] = {'-', ':', '_', '*', '^', '/', '\\', '~', '`', '+', '=',
                                 0xFF0C, 0x3002, 0xFF1A, 0xFF1F, 0xFF01, 0x201C, 0x201D, 0xFF1B,
                                 0x2019, 0x300A, 0x300B, 0x00B7, 0x3001, 0x300C, 0x300D, 0xFF08,
                                 0xFF09, 0xFF0D, 0xFF5E, 0x300E, 0x300F};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++)
        if (sp[i] == c) return 1;
    return 0;
}

/* str(s).decode('utf-8').lower().strip() under Python 2. */
static int cmrc_prepare(const char *s, cpbuf *b)
{
    if (decode_utf8(s, b)) return -1;
    lower_simple(b);
    int a = 0, e = b->n;
    while (a < e && is_pyspace(b->v[a], 1)) a++;
    while (e > a && is_pyspace(b->v[e - 1], 1)) e--;
    if (a > 0 && e > a) memmove(b->v, b->v + a, (size_t)(e - a) * sizeof(int32_t));
    b->n = e - a;
    return 0;
}

/* -- NLTK word_tokenize, ported: Punkt sentence splitting (approximated, see
 * split_sentences) then the Treebank rules of NLTKWordTokenizer, pass by pass. Each pass
 * is one re.sub: leftmost, non-overlapping matches. -- */

static int is_re_space(int32_t c) { return is_pyspace(c, 0); }
static int is_digit(int32_t c) { return c >= '0' && c <= '9'; }
static int is_closer(int32_t c) { return c > 0 && c < 128 && strchr("])}>\"'", (int)c) != NULL; }
static int lc(int32_t c) { return c < 128 ? (int32_t)(c | ((c >= 'A' && c <= 'Z') ? 32 : 0)) : c; }

/* matches an ASCII literal case-insensitively at v[i..] */
static int lit(const cpbuf *s, int i, const char *w, int icase)
{
    int k = 0;
    for (; w[k]; k++) {
        if (i + k >= s->n) return 0;
        int32_t c = s->v[i + k];
        if (icase ? lc(c) != (unsigned char)w[k] : c != (unsigned char)w[k]) return 0;
    }
    return k;
}

static int at_boundary(const cpbuf *s, int i) /* \b between i-1 and i */
{
    int a = i > 0 && is_word(s->v[i - 1]), b = i < s->n && is_word(s->v[i]);
    return a != b;
}

/* replaces every char in `set` (or any code point listed in `wide`) by " c " */
static int pass_pad_chars(cpbuf *in, cpbuf *out, const char *set, const int32_t *wide, int nwide)
{
    out->n = 0;
    for (int i = 0; i < in->n; i++) {
        int32_t c = in->v[i];
        int hit = c < 128 && c > 0 && strchr(set, (int)c) != NULL;
        for (int k = 0; k < nwide && !hit; k++) hit = wide[k] == c;
        if (hit ? (cp_push(out, ' ') || cp_push(out, c) || cp_push(out, ' ')) : cp_push(out, c))
            return -1;
    }
    return 0;
}

/* final period. first = 1: ([^\.])(\.)([\]\)}>"\'»”’ ]*)\s*$ -> \1 \2 \3 ;
 * first = 0: ([^\.])(\.)([\]\)}>"\']*)\s*$ -> \1 \2\3 . The closers must all precede
 * the trailing spaces, so stripping spaces then closers from the end finds the one match. */
static int pass_final_period(cpbuf *in, cpbuf *out, int first)
{
    out->n = 0;
    int e = in->n;
    while (e > 0 && is_re_space(in->v[e - 1])) e--;
    int c = e;
    while (c > 0 && (is_closer(in->v[c - 1]) ||
                     (first && (in->v[c - 1] == ' ' || in->v[c - 1] == 0xBB ||
                                in->v[c - 1] == 0x201D || in->v[c - 1] == 0x2019))))
        c--;
    if (c >= 2 && in->v[c - 1] == '.' && in->v[c - 2] != '.') {
        if (cp_append(out, in->v, c - 1) || cp_puts(out, " .") ||
            (first && cp_push(out, ' ')) ||
            cp_append(out, in->v + c, e - c) || cp_push(out, ' '))
            return -1;
        return 0;
    }
    return cp_append(out, in->v, in->n);
}

static int treebank(cpbuf *a, toklist *out)
{
    cpbuf b = {0};
    int rc = -1;
#define SWAP() do { cpbuf t_ = *a; *a = b; b = t_; } while (0)
    /* STARTING_QUOTES */
    {
        b.n = 0; /* ([«“‘„]|[`]+) -> " \1 " */
        for (int i = 0; i < a->n;) {
            int32_t c = a->v[i];
            if (c == 0xAB || c == 0x201C || c == 0x2018 || c == 0x201E) {
                if (cp_push(&b, ' ') || cp_push(&b, c) || cp_push(&b, ' ')) goto done;
                i++;
            } else if (c == '`') {
                int j = i;
                while (j < a->n && a->v[j] == '`') j++;
                if (cp_push(&b, ' ') || cp_append(&b, a->v + i, j - i) || cp_push(&b, ' ')) goto done;
                i = j;
            } else {
                if (cp_push(&b, c)) goto done;
                i++;
            }
        }
        SWAP();
    }
    if (a->n && a->v[0] == '"') { /* ^\" -> `` */
        b.n = 0;
        if (cp_puts(&b, "``") || cp_append(&b, a->v + 1, a->n - 1)) goto done;
        SWAP();
    }
    b.n = 0; /* (``) -> " \1 " */
    for (int i = 0; i < a->n;) {
        if (lit(a, i, "``", 0)) {
            if (cp_puts(&b, " `` ")) goto done;
            i += 2;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    b.n = 0; /* ([ \(\[{<])(\"|\'{2}) -> "\1 `` " */
    for (int i = 0; i < a->n;) {
        int32_t c = a->v[i];
        int q = 0;
        if (c < 128 && c && strchr(" ([{<", (int)c) && i + 1 < a->n)
            q = a->v[i + 1] == '"' ? 1 : lit(a, i + 1, "''", 0) ? 2 : 0;
        if (q) {
            if (cp_push(&b, c) || cp_puts(&b, " `` ")) goto done;
            i += 1 + q;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    b.n = 0; /* (?i)(\')(?!re|ve|ll|m|t|s|d|n)(\w)\b -> "\1 \2" */
    for (int i = 0; i < a->n;) {
        int32_t n1 = i + 1 < a->n ? lc(a->v[i + 1]) : 0;
        int blocked = n1 > 0 && n1 < 128 && strchr("mtsdn", (int)n1) != NULL;
        if (a->v[i] == '\'' && n1 && is_word(n1) && at_boundary(a, i + 2) && !blocked) {
            if (cp_puts(&b, "' ") || cp_push(&b, a->v[i + 1])) goto done;
            i += 2;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    /* PUNCTUATION */
    if (pass_final_period(a, &b, 1)) goto done;
    SWAP();
    b.n = 0; /* ([:,])([^\d]) -> " \1 \2"  and  ([:,])$ -> " \1 " */
    for (int i = 0; i < a->n;) {
        int32_t c = a->v[i];
        if ((c == ':' || c == ',') && i + 1 < a->n && !is_digit(a->v[i + 1])) {
            if (cp_push(&b, ' ') || cp_push(&b, c) || cp_push(&b, ' ') || cp_push(&b, a->v[i + 1]))
                goto done;
            i += 2;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    if (a->n && (a->v[a->n - 1] == ':' || a->v[a->n - 1] == ',')) {
        int32_t c = a->v[--a->n];
        if (cp_push(a, ' ') || cp_push(a, c) || cp_push(a, ' ')) goto done;
    }
    b.n = 0; /* \.{2,} -> " \g<0> " */
    for (int i = 0; i < a->n;) {
        int j = i;
        while (j < a->n && a->v[j] == '.') j++;
        if (j - i >= 2) {
            if (cp_push(&b, ' ') || cp_append(&b, a->v + i, j - i) || cp_push(&b, ' ')) goto done;
            i = j;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    if (pass_pad_chars(a, &b, ";@#$%&", NULL, 0)) goto done;
    SWAP();
    if (pass_final_period(a, &b, 0)) goto done;
    SWAP();
    if (pass_pad_chars(a, &b, "?!", NULL, 0)) goto done;
    SWAP();
    b.n = 0; /* ([^'])' -> "\1 ' " */
    for (int i = 0; i < a->n;) {
        if (a->v[i] != '\'' && i + 2 < a->n && a->v[i + 1] == '\'' && a->v[i + 2] == ' ') {
            if (cp_push(&b, a->v[i]) || cp_puts(&b, " ' ")) goto done;
            i += 3;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    if (pass_pad_chars(a, &b, "*", NULL, 0)) goto done;
    SWAP();
    if (pass_pad_chars(a, &b, "][(){}<>", NULL, 0)) goto done; /* PARENS_BRACKETS */
    SWAP();
    b.n = 0; /* DOUBLE_DASHES, then the padding spaces */
    if (cp_push(&b, ' ')) goto done;
    for (int i = 0; i < a->n;) {
        if (lit(a, i, "--", 0)) {
            if (cp_puts(&b, " -- ")) goto done;
            i += 2;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    if (cp_push(&b, ' ')) goto done;
    SWAP();
    /* ENDING_QUOTES */
    {
        static const int32_t closeq[] = {0xBB, 0x201D, 0x2019};
        if (pass_pad_chars(a, &b, "", closeq, 3)) goto done;
        SWAP();
    }
    b.n = 0; /* '' -> " '' " */
    for (int i = 0; i < a->n;) {
        if (lit(a, i, "''", 0)) {
            if (cp_puts(&b, " '' ")) goto done;
            i += 2;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    b.n = 0; /* " -> " '' " */
    for (int i = 0; i < a->n; i++)
        if (a->v[i] == '"' ? cp_puts(&b, " '' ") : cp_push(&b, a->v[i])) goto done;
    SWAP();
    b.n = 0; /* ([^' ])('[sS]|'[mM]|'[dD]|') -> "\1 \2 " */
    for (int i = 0; i < a->n;) {
        int32_t c = a->v[i];
        int m = 0;
        if (c != '\'' && c != ' ' && i + 1 < a->n && a->v[i + 1] == '\'') {
            if (i + 3 < a->n && a->v[i + 2] > 0 && a->v[i + 2] < 128 &&
                strchr("sSmMdD", (int)a->v[i + 2]) && a->v[i + 3] == ' ')
                m = 2;
            else if (i + 2 < a->n && a->v[i + 2] == ' ')
                m = 1;
        }
        if (m) {
            if (cp_push(&b, c) || cp_push(&b, ' ') || cp_append(&b, a->v + i + 1, m) ||
                cp_push(&b, ' '))
                goto done;
            i += 2 + m;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    b.n = 0; /* ([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) -> "\1 \2 " */
    for (int i = 0; i < a->n;) {
        int32_t c = a->v[i];
        static const char *const g[] = {"'ll", "'LL", "'re", "'RE", "'ve", "'VE", "n't", "N'T"};
        int m = 0;
        if (c != '\'' && c != ' ' && i + 4 < a->n && a->v[i + 4] == ' ')
            for (int k = 0; k < 8 && !m; k++) m = lit(a, i + 1, g[k], 0);
        if (m) {
            if (cp_push(&b, c) || cp_push(&b, ' ') || cp_append(&b, a->v + i + 1, 3) ||
                cp_push(&b, ' '))
                goto done;
            i += 5;
        } else if (cp_push(&b, a->v[i++])) goto done;
    }
    SWAP();
    /* CONTRACTIONS2 / CONTRACTIONS3: (?i)\b(x)(y)\b -> " \1 \2 " */
    {
        static const char *const c2[][2] = {{"can", "not"}, {"d", "'ye"}, {"gim", "me"},
                                            {"gon", "na"}, {"got", "ta"}, {"lem", "me"},
                                            {"more", "'n"}, {"wan", "na"}};
        for (int r = 0; r < 8; r++) {
            b.n = 0;
            for (int i = 0; i < a->n;) {
                int l1 = 0, l2 = 0;
                if (at_boundary(a, i) && (l1 = lit(a, i, c2[r][0], 1)) &&
                    (l2 = lit(a, i + l1, c2[r][1], 1))) {
                    int e = i + l1 + l2;
                    int ok = r == 7 ? (e < a->n && is_re_space(a->v[e])) : at_boundary(a, e);
                    if (ok) {
                        if (cp_push(&b, ' ') || cp_append(&b, a->v + i, l1) || cp_push(&b, ' ') ||
                            cp_append(&b, a->v + i + l1, l2) || cp_push(&b, ' '))
                            goto done;
                        i = e;
                        continue;
                    }
                }
                if (cp_push(&b, a->v[i++])) goto done;
            }
            SWAP();
        }
        static const char *const c3[] = {"is", "was"};
        for (int r = 0; r < 2; r++) {
            b.n = 0;
            for (int i = 0; i < a->n;) {
                int l2 = 0;
                if (a->v[i] == ' ' && lit(a, i + 1, "'t", 1) && (l2 = lit(a, i + 3, c3[r], 1)) &&
                    at_boundary(a, i + 3 + l2)) {
                    if (cp_push(&b, ' ') || cp_append(&b, a->v + i + 1, 2) || cp_push(&b, ' ') ||
                        cp_append(&b, a->v + i + 3, l2) || cp_push(&b, ' '))
                        goto done;
                    i += 3 + l2;
                    continue;
                }
                if (cp_push(&b, a->v[i++])) goto done;
            }
            SWAP();
        }
    }
#undef SWAP
    rc = split_ws(a->v, a->n, out, 0);
done:
    cp_free(&b);
    return rc;
}

/* Punkt (english.pickle) is approximated: a sentence ends at whitespace after a token
 * ending in '.', '?' or '!' (possibly followed by closing quotes/brackets), except a
 * '.' that ends an abbreviation-like token: one letter ("j."), a token with an inner
 * period ("u.s."), a number ("1998."), or a common English abbreviation. */
static int is_abbrev(const int32_t *w, int n)
{
    static const char *const ab[] = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc",
                                     "inc", "ltd", "co", "corp", "no", "vol", "fig", "prof",
                                     "gen", "col", "lt", "sgt", "mt", "ft", "jan", "feb", "mar",
                                     "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
                                     "dec", "e.g", "i.e", "approx", "dept", "est", "u.s"};
    if (n == 1) return 1;
    for (int i = 0; i < n; i++)
        if (w[i] == '.') return 1;
    /* Punkt's ##number## tokens ("1998."): followed by a lower-case word (the script
     * lower-cases everything), its orthographic heuristic keeps them in the sentence */
    int i = 0;
    if (i < n && w[i] == '-') i++;
    if (i < n && (w[i] == '.' || w[i] == ',')) i++;
    if (i < n && is_digit(w[i])) {
        while (i < n && (is_digit(w[i]) || w[i] == ',' || w[i] == '.' || w[i] == '-')) i++;
        if (i == n) return 1;
    }
    for (size_t k = 0; k < sizeof ab / sizeof ab[0]; k++) {
        int l = (int)strlen(ab[k]);
        i = 0;
        if (l != n) continue;
        while (i < l && lc(w[i]) == (unsigned char)ab[k][i]) i++;
        if (i == l) return 1;
    }
    return 0;
}

static int word_tokenize(const int32_t *v, int n, toklist *out)
{
    cpbuf sent = {0};
    int start = 0, rc = -1;
    for (int i = 0; i <= n; i++) {
        int cut = i == n;
        if (!cut && is_re_space(v[i]) && i > start) {
            int e = i, ws = i;
            while (ws > start && !is_re_space(v[ws - 1])) ws--; /* token [ws, e) */
            while (e > ws && is_closer(v[e - 1])) e--;
            if (e > ws) {
                int32_t c = v[e - 1];
                cut = c == '?' || c == '!' || (c == '.' && !is_abbrev(v + ws, e - 1 - ws));
            }
        }
        if (cut) {
            sent.n = 0;
            if (cp_append(&sent, v + start, i - start) || treebank(&sent, out)) goto done;
            start = i;
        }
    }
    rc = 0;
done:
    cp_free(&sent);
    return rc;
}

/* mixed_segmentation(s, rm_punc) */
static int cmrc_segment(const char *s, int rm_punc, toklist *out)
{
    cpbuf in = {0}, temp = {0};
    int rc = -1;
    if (cmrc_prepare(s, &in)) goto done;
    for (int i = 0; i < in.n; i++) {
        int32_t c = in.v[i];
        int sp = is_cmrc_punct(c);
        if (rm_punc && sp) continue;
        if ((c >= 0x4E00 && c <= 0x9FA5) || sp) {
            if (temp.n && word_tokenize(temp.v, temp.n, out)) goto done;
            temp.n = 0;
            if (tok_add(out, &c, 1)) goto done;
        } else if (cp_push(&temp, c)) goto done;
    }
    if (temp.n && word_tokenize(temp.v, temp.n, out)) goto done;
    rc = 0;
done:
    cp_free(&in);
    cp_free(&temp);
    return rc;
}

int zl_metrics_cmrc_segment(const char *s, int rm_punc, char **tokens)
{
    *tokens = NULL;
    toklist t = {0};
    if (cmrc_segment(s, rm_punc, &t)) { tok_free(&t); return -1; }
    size_t cap = (size_t)t.chars.n * 4 + (size_t)t.n + 1, used = 0;
    char *blk = malloc(cap);
    if (!blk) { tok_free(&t); zl_error_set("metrics: out of memory"); return -1; }
    for (int i = 0; i < t.n; i++) {
        char *one = encode_utf8(t.chars.v + t.off[i], t.len[i]);
        if (!one) { free(blk); tok_free(&t); return -1; }
        size_t l = strlen(one) + 1;
        memcpy(blk + used, one, l);
        used += l;
        free(one);
    }
    blk[used] = '\0';
    int n = t.n;
    tok_free(&t);
    *tokens = blk;
    return n;
}

static int cmrc_strip_punct(const char *s, cpbuf *b)
{
    if (cmrc_prepare(s, b)) return -1;
    int n = 0;
    for (int i = 0; i < b->n; i++)
        if (!is_cmrc_punct(b->v[i])) b->v[n++] = b->v[i];
    b->n = n;
    return 0;
}

char *zl_metrics_cmrc_remove_punctuation(const char *s)
{
    cpbuf b = {0};
    char *r = cmrc_strip_punct(s, &b) ? NULL : encode_utf8(b.v, b.n);
    cp_free(&b);
    return r;
}

/* ---- find_lcs in linear time ----
 * The reference fills an |s1| x |s2| table (minutes at 300k characters). A suffix
 * automaton of s2, walked along s1, gives at each end position i of s1 the longest
 * substring ending there that occurs in s2: the table's row maximum. Keeping the first i
 * that beats the best so far is the reference's tie-breaking (its strict > in row-major
 * order), so length and position are the same. Transitions live in one hash table keyed
 * by (state, symbol); each state also chains its own edges (a clone copies its source's). */
typedef struct {
    int *len, *link, *first;           /* per state; first: its first edge or -1 */
    int *e_from, *e_sym, *e_to, *e_next; /* per edge */
    int *slot;                         /* hash slots: edge index, -1 = empty */
    size_t mask;
    int n_states, n_edges;
} sam;

/* The slot of (state, sym): its edge, or the empty slot where it would go. */
static size_t sam_slot(const sam *a, int state, int sym)
{
    uint64_t k = ((uint64_t)(uint32_t)state << 32) | (uint32_t)sym;
    size_t h = (size_t)((k * 0x9E3779B97F4A7C15ull) >> 24) & a->mask;
    while (a->slot[h] >= 0 && (a->e_from[a->slot[h]] != state || a->e_sym[a->slot[h]] != sym))
        h = (h + 1) & a->mask;
    return h;
}

static int sam_get(const sam *a, int state, int sym)
{
    int e = a->slot[sam_slot(a, state, sym)];
    return e < 0 ? -1 : a->e_to[e];
}

static void sam_set(sam *a, int state, int sym, int to)
{
    size_t h = sam_slot(a, state, sym);
    if (a->slot[h] >= 0) {
        a->e_to[a->slot[h]] = to;
        return;
    }
    int e = a->n_edges++;
    a->e_from[e] = state;
    a->e_sym[e] = sym;
    a->e_to[e] = to;
    a->e_next[e] = a->first[state];
    a->first[state] = e;
    a->slot[h] = e;
}

int zl_metrics_lcs(const int32_t *s1, int n1, const int32_t *s2, int n2, int *end)
{
    *end = 0;
    if (n1 <= 0 || n2 <= 0) return 0;
    sam a;
    memset(&a, 0, sizeof a);
    size_t ns = 2 * (size_t)n2 + 2, ne = 3 * (size_t)n2 + 8, cap = 16;
    while (cap < 2 * ne) cap *= 2;
    a.mask = cap - 1;
    a.len = malloc(ns * sizeof(int));
    a.link = malloc(ns * sizeof(int));
    a.first = malloc(ns * sizeof(int));
    a.e_from = malloc(ne * sizeof(int));
    a.e_sym = malloc(ne * sizeof(int));
    a.e_to = malloc(ne * sizeof(int));
    a.e_next = malloc(ne * sizeof(int));
    a.slot = malloc(cap * sizeof(int));
    int best = -1;
    if (!a.len || !a.link || !a.first || !a.e_from || !a.e_sym || !a.e_to || !a.e_next || !a.slot) {
        zl_error_set("metrics: out of memory");
        goto done;
    }
    memset(a.slot, 0xff, cap * sizeof(int));
    a.len[0] = 0;
    a.link[0] = -1;
    a.first[0] = -1;
    a.n_states = 1;
    int last = 0;
    for (int i = 0; i < n2; i++) {
        int c = s2[i], cur = a.n_states++, p = last;
        a.len[cur] = a.len[last] + 1;
        a.first[cur] = -1;
        while (p != -1 && sam_get(&a, p, c) < 0) {
            sam_set(&a, p, c, cur);
            p = a.link[p];
        }
        if (p == -1) {
            a.link[cur] = 0;
        } else {
            int q = sam_get(&a, p, c);
            if (a.len[p] + 1 == a.len[q]) {
                a.link[cur] = q;
            } else {
                int cl = a.n_states++;
                a.len[cl] = a.len[p] + 1;
                a.link[cl] = a.link[q];
                a.first[cl] = -1;
                for (int e = a.first[q]; e >= 0; e = a.e_next[e]) sam_set(&a, cl, a.e_sym[e], a.e_to[e]);
                while (p != -1 && sam_get(&a, p, c) == q) {
                    sam_set(&a, p, c, cl);
                    p = a.link[p];
                }
                a.link[q] = a.link[cur] = cl;
            }
        }
        last = cur;
    }
    best = 0;
    int v = 0, l = 0;
    for (int i = 0; i < n1; i++) {
        int c = s1[i], to;
        while (v != 0 && sam_get(&a, v, c) < 0) {
            v = a.link[v];
            l = a.len[v];
        }
        if ((to = sam_get(&a, v, c)) >= 0) {
            v = to;
            l++;
        } else {
            v = 0;
            l = 0;
        }
        if (l > best) {
            best = l;
            *end = i + 1;
        }
    }
done:
    free(a.len); free(a.link); free(a.first);
    free(a.e_from); free(a.e_sym); free(a.e_to); free(a.e_next);
    free(a.slot);
    return best;
}

static uint64_t tok_hash(const toklist *t, int i)
{
    uint64_t h = 1469598103934665603ull;
    for (int k = 0; k < t->len[i]; k++) h = (h ^ (uint32_t)t->chars.v[t->off[i] + k]) * 1099511628211ull;
    return h;
}

/* find_lcs(s1, s2)'s length for two token lists: equal tokens get equal ids (a hash
 * table over both lists), then zl_metrics_lcs. */
static int lcs_len(const toklist *a, const toklist *b)
{
    int n = a->n + b->n, best = -1, end;
    size_t cap = 16;
    while (cap < 2 * (size_t)n) cap *= 2;
    int32_t *ids = malloc(((size_t)n + 1) * sizeof *ids);
    int *slot = malloc(cap * sizeof *slot);
    if (!ids || !slot) {
        zl_error_set("metrics: out of memory");
        goto done;
    }
    memset(slot, 0xff, cap * sizeof *slot);
    for (int g = 0; g < n; g++) {
        const toklist *t = g < a->n ? a : b;
        int i = g < a->n ? g : g - a->n;
        size_t h = (size_t)tok_hash(t, i) & (cap - 1);
        for (;; h = (h + 1) & (cap - 1)) {
            int r = slot[h];
            if (r < 0) {
                slot[h] = g;
                ids[g] = g;
                break;
            }
            if (tok_eq(r < a->n ? a : b, r < a->n ? r : r - a->n, t, i)) {
                ids[g] = ids[r];
                break;
            }
        }
    }
    best = zl_metrics_lcs(ids, a->n, ids + a->n, b->n, &end);
done:
    free(ids);
    free(slot);
    return best;
}

static int cmrc_score(const char *pred, const char *const *golds, int n, double *em, double *f1)
{
    toklist p = {0}, g = {0};
    cpbuf pp = {0}, gp = {0};
    int rc = -1;
    *em = 0;
    *f1 = 0;
    if (cmrc_segment(pred, 1, &p) || cmrc_strip_punct(pred, &pp)) goto done;
    for (int k = 0; k < n; k++) {
        g.n = 0;
        g.chars.n = 0;
        if (cmrc_segment(golds[k], 1, &g)) goto done;
        int l = lcs_len(&g, &p);
        if (l < 0) goto done;
        double f = 0;
        if (l > 0) {
            double precision = 1.0 * l / p.n, recall = 1.0 * l / g.n;
            f = (2 * precision * recall) / (precision + recall);
        }
        if (k == 0 || f > *f1) *f1 = f;
        if (cmrc_strip_punct(golds[k], &gp)) goto done;
        if (*em == 0 && gp.n == pp.n &&
            (pp.n == 0 || memcmp(gp.v, pp.v, (size_t)pp.n * sizeof(int32_t)) == 0))
            *em = 1;
    }
    rc = 0;
done:
    tok_free(&p);
    tok_free(&g);
    cp_free(&pp);
    cp_free(&gp);
    return rc;
}

static int score_one(zl_metrics_kind kind, const char *pred, const char *const *golds, int n,
                     double *em, double *f1)
{
    if (n < 1) return zl_error_set("metrics: no gold answers to score against");
    if (!pred) return zl_error_set("metrics: prediction is NULL");
    return kind == ZL_METRICS_CMRC ? cmrc_score(pred, golds, n, em, f1)
                                   : squad_score(pred, golds, n, em, f1);
}

double zl_metrics_em(zl_metrics_kind kind, const char *pred, const char *const *golds, int n_golds)
{
    double em, f1;
    return score_one(kind, pred, golds, n_golds, &em, &f1) ? -1 : em;
}

double zl_metrics_f1(zl_metrics_kind kind, const char *pred, const char *const *golds, int n_golds)
{
    double em, f1;
    return score_one(kind, pred, golds, n_golds, &em, &f1) ? -1 : f1;
}

/* ---- the gold dataset ---- */
struct zl_metrics_dataset {
    int count, cap;
    char **ids;
    int *gold_off;        /* question i's golds: golds[gold_off[i] .. gold_off[i+1]) */
    char **golds;
    int n_golds, golds_cap;
    int *hash, hash_cap;  /* open addressing over question indices, -1 = empty */
};

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

zl_metrics_dataset *zl_metrics_dataset_new(void)
{
    zl_metrics_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) { zl_error_set("metrics: out of memory"); return NULL; }
    ds->gold_off = calloc(1, sizeof(int));
    if (!ds->gold_off) { free(ds); zl_error_set("metrics: out of memory"); return NULL; }
    return ds;
}

void zl_metrics_dataset_free(zl_metrics_dataset *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->count; i++) free(ds->ids[i]);
    for (int i = 0; i < ds->n_golds; i++) free(ds->golds[i]);
    free(ds->ids);
    free(ds->golds);
    free(ds->gold_off);
    free(ds->hash);
    free(ds);
}

static int rehash(zl_metrics_dataset *ds, int cap)
{
    int *h = malloc((size_t)cap * sizeof *h);
    if (!h) return zl_error_set("metrics: out of memory");
    for (int i = 0; i < cap; i++) h[i] = -1;
    for (int q = 0; q < ds->count; q++) { /* ids are unique */
        uint32_t k = hash_str(ds->ids[q]) & (uint32_t)(cap - 1);
        while (h[k] >= 0) k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = q;
    }
    free(ds->hash);
    ds->hash = h;
    ds->hash_cap = cap;
    return 0;
}

int zl_metrics_dataset_find(const zl_metrics_dataset *ds, const char *id)
{
    if (!ds->hash_cap) return -1;
    uint32_t k = hash_str(id) & (uint32_t)(ds->hash_cap - 1);
    while (ds->hash[k] >= 0) {
        if (strcmp(ds->ids[ds->hash[k]], id) == 0) return ds->hash[k];
        k = (k + 1) & (uint32_t)(ds->hash_cap - 1);
    }
    return -1;
}

int zl_metrics_dataset_add(zl_metrics_dataset *ds, const char *id, const char *const *golds,
                           int n_golds)
{
    if (n_golds < 0) return zl_error_set("metrics: question %s: negative answer count", id);
    /* one prediction per id: a repeated id would be scored twice */
    if (zl_metrics_dataset_find(ds, id) >= 0)
        return zl_error_set("metrics: question id %s appears twice", id);
    if (ds->count == ds->cap) {
        int cap = ds->cap ? ds->cap * 2 : 64;
        char **ids = realloc(ds->ids, (size_t)cap * sizeof *ids);
        if (!ids) return zl_error_set("metrics: out of memory");
        ds->ids = ids;
        int *off = realloc(ds->gold_off, (size_t)(cap + 1) * sizeof *off);
        if (!off) return zl_error_set("metrics: out of memory");
        ds->gold_off = off;
        ds->cap = cap;
    }
    while (ds->n_golds + n_golds > ds->golds_cap) {
        int cap = ds->golds_cap ? ds->golds_cap * 2 : 128;
        char **g = realloc(ds->golds, (size_t)cap * sizeof *g);
        if (!g) return zl_error_set("metrics: out of memory");
        ds->golds = g;
        ds->golds_cap = cap;
    }
    char *idc = strdup(id);
    if (!idc) return zl_error_set("metrics: out of memory");
    for (int k = 0; k < n_golds; k++) {
        ds->golds[ds->n_golds + k] = strdup(golds[k]);
        if (!ds->golds[ds->n_golds + k]) {
            while (k-- > 0) free(ds->golds[ds->n_golds + k]);
            free(idc);
            return zl_error_set("metrics: out of memory");
        }
    }
    int q = ds->count++;
    ds->ids[q] = idc;
    ds->n_golds += n_golds;
    ds->gold_off[q + 1] = ds->n_golds;
    if (2 * ds->count > ds->hash_cap) return rehash(ds, ds->hash_cap ? ds->hash_cap * 2 : 256);
    uint32_t k = hash_str(idc) & (uint32_t)(ds->hash_cap - 1);
    while (ds->hash[k] >= 0) k = (k + 1) & (uint32_t)(ds->hash_cap - 1);
    ds->hash[k] = q;
    return 0;
}

int zl_metrics_dataset_count(const zl_metrics_dataset *ds) { return ds->count; }
const char *zl_metrics_dataset_id(const zl_metrics_dataset *ds, int i)
{
    return i >= 0 && i < ds->count ? ds->ids[i] : NULL;
}
int zl_metrics_dataset_n_golds(const zl_metrics_dataset *ds, int i)
{
    return i >= 0 && i < ds->count ? ds->gold_off[i + 1] - ds->gold_off[i] : 0;
}
const char *zl_metrics_dataset_gold(const zl_metrics_dataset *ds, int i, int k)
{
    if (k < 0 || k >= zl_metrics_dataset_n_golds(ds, i)) return NULL;
    return ds->golds[ds->gold_off[i] + k];
}

/* The gold answers of each question, as the SQuAD reader hands them over. */
static int gold_question(void *ud, const zl_squad_qa *qa)
{
    return zl_metrics_dataset_add(ud, qa->id, qa->answers, qa->n_answers);
}

zl_metrics_dataset *zl_metrics_dataset_from_json(const char *what, const cJSON *root)
{
    zl_metrics_dataset *ds = zl_metrics_dataset_new();
    if (!ds) return NULL;
    /* evaluate-v1.1.py reads ids and answers[].text only */
    zl_squad_reader r = {ZL_SQUAD_NEED_ANSWERS, "scoring", ds, NULL, NULL, gold_question};
    if (zl_squad_read(what, root, &r)) {
        zl_metrics_dataset_free(ds);
        return NULL;
    }
    if (ds->count == 0) {
        zl_error_set("%s: no questions (nothing to score)", what);
        zl_metrics_dataset_free(ds);
        return NULL;
    }
    return ds;
}

zl_metrics_dataset *zl_metrics_dataset_parse(const char *what, const char *json, size_t len)
{
    cJSON *root = zl_json_parse(what, json, len);
    if (!root) return NULL;
    zl_metrics_dataset *ds = zl_metrics_dataset_from_json(what, root);
    cJSON_Delete(root);
    return ds;
}

static void *parse_dataset(const char *path, const char *data, size_t len, const void *arg)
{
    (void)arg;
    return zl_metrics_dataset_parse(path, data, len);
}

zl_metrics_dataset *zl_metrics_dataset_load(const char *path)
{
    return zl_io_load(path, (size_t)1 << 30, parse_dataset, NULL);
}

/* ---- whole prediction sets ---- */
void zl_metrics_result_free(zl_metrics_result *r)
{
    if (!r) return;
    free(r->em);
    free(r->f1q);
    free(r->answered);
    free(r);
}

zl_metrics_result *zl_metrics_score(const zl_metrics_dataset *ds, zl_metrics_kind kind,
                                    const char *const *preds)
{
    zl_metrics_result *r = calloc(1, sizeof *r);
    int n = ds->count;
    if (!r || !(r->em = calloc((size_t)n + 1, sizeof(double))) ||
        !(r->f1q = calloc((size_t)n + 1, sizeof(double))) || !(r->answered = calloc((size_t)n + 1, 1))) {
        zl_metrics_result_free(r);
        zl_error_set("metrics: out of memory");
        return NULL;
    }
    r->total = n;
    r->first_missing = -1;
    /* the official scripts sum per-question scores in dataset order, then scale */
    double em_sum = 0, f1_sum = 0;
    for (int i = 0; i < n; i++) {
        if (!preds[i]) {
            if (r->first_missing < 0) r->first_missing = i;
            r->missing++;
            continue;
        }
        double em, f1;
        int ng = zl_metrics_dataset_n_golds(ds, i);
        if (ng == 0) {
            zl_error_set("metrics: question %s has no gold answers", ds->ids[i]);
            zl_metrics_result_free(r);
            return NULL;
        }
        if (score_one(kind, preds[i], (const char *const *)ds->golds + ds->gold_off[i], ng, &em,
                      &f1)) {
            zl_error_prefix("question %s: ", ds->ids[i]);
            zl_metrics_result_free(r);
            return NULL;
        }
        r->answered[i] = 1;
        em_sum += em;
        f1_sum += f1;
        r->em[i] = 100.0 * em;
        r->f1q[i] = 100.0 * f1;
    }
    r->exact_match = n ? 100.0 * em_sum / n : 0.0;
    r->f1 = n ? 100.0 * f1_sum / n : 0.0;
    return r;
}

zl_metrics_result *zl_metrics_score_file(const zl_metrics_dataset *ds, zl_metrics_kind kind,
                                         const char *pred_path)
{
    char *buf;
    size_t len;
    if (zl_io_read_file(pred_path, (size_t)1 << 30, &buf, &len)) return NULL;
    cJSON *root = zl_json_parse(pred_path, buf, len);
    free(buf);
    if (!root) return NULL;
    if (!cJSON_IsObject(root)) {
        zl_error_set("%s: not a JSON object {question_id: answer}", pred_path);
        cJSON_Delete(root);
        return NULL;
    }
    const char **preds = calloc((size_t)ds->count + 1, sizeof *preds);
    if (!preds) {
        cJSON_Delete(root);
        zl_error_set("metrics: out of memory");
        return NULL;
    }
    int extra = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        if (!it->string) continue;
        int q = zl_metrics_dataset_find(ds, it->string);
        if (q < 0) { extra++; continue; }
        if (!cJSON_IsString(it)) {
            zl_error_set("%s: the prediction for question %s is not a string", pred_path,
                         it->string);
            free(preds);
            cJSON_Delete(root);
            return NULL;
        }
        preds[q] = it->valuestring;
    }
    zl_metrics_result *r = zl_metrics_score(ds, kind, preds);
    if (r) r->extra = extra;
    else zl_error_prefix("%s: ", pred_path);
    free(preds);
    cJSON_Delete(root);
    return r;
}
