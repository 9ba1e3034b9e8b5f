/* squad.c — run_squad.py (google-research/bert, v1.1) in C: read_squad_examples,
 * convert_examples_to_features and write_predictions. Strings are UTF-8; every
 * character position follows Python's str indexing (code points). */
#include "squad.h"

#include "error.h"
#include "json.h"
#include "io.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SQUAD_MAX_BYTES ((size_t)2 << 30)

/* ---- helpers ---- */
static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

typedef struct { int32_t *v; size_t n, cap; } ivec;

static int iv_push(ivec *a, int32_t x)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return zl_error_set("squad: out of memory");
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* Decodes UTF-8 (dropping invalid bytes) into a new code point array. */
static int32_t *decode_cps(const char *s, size_t *n)
{
    size_t len = strlen(s);
    int32_t *v = malloc((len + 1) * sizeof *v);
    if (!v) return NULL;
    *n = zl_utf8_decode(v, s, len, ZL_UTF8_DROP);
    return v;
}

/* UTF-8 of cps[a..b) into a new string. */
static char *encode_cps(const int32_t *cps, size_t a, size_t b)
{
    char *s = malloc((b > a ? b - a : 0) * 4 + 1);
    if (!s) return NULL;
    s[b > a ? zl_utf8_encode(s, cps + a, b - a) : 0] = '\0';
    return s;
}

static size_t cp_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* " ".join(s.split()) with Python's whitespace (also does strip()). */
static char *py_split_join(const char *s)
{
    size_t n;
    int32_t *c = decode_cps(s, &n);
    if (!c) return NULL;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        while (i < n && zl_text_isspace(c[i])) i++;
        if (i == n) break;
        if (w) c[w++] = ' ';
        while (i < n && !zl_text_isspace(c[i])) c[w++] = c[i++];
    }
    char *r = encode_cps(c, 0, w);
    free(c);
    return r;
}

/* Python slice bounds of seq[a:b] for a sequence of n items. */
static void py_slice(long a, long b, long n, long *lo, long *hi)
{
    if (a < 0) a += n;
    if (b < 0) b += n;
    if (a < 0) a = 0;
    if (b < 0) b = 0;
    if (a > n) a = n;
    if (b > n) b = n;
    *lo = a;
    *hi = b < a ? a : b;
}

/* " ".join(words[a:b]) (Python slice). */
static char *join_words(char *const *words, long n, long a, long b)
{
    long lo, hi;
    py_slice(a, b, n, &lo, &hi);
    size_t len = 1;
    for (long i = lo; i < hi; i++) len += strlen(words[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    size_t o = 0;
    for (long i = lo; i < hi; i++) {
        if (i > lo) s[o++] = ' ';
        size_t k = strlen(words[i]);
        memcpy(s + o, words[i], k);
        o += k;
    }
    s[o] = '\0';
    return s;
}

/* ---- examples ---- */
void zl_squad_free(zl_squad *ds)
{
    if (!ds) return;
    for (int i = 0; i < ds->n_examples; i++) {
        zl_squad_example *e = &ds->examples[i];
        free(e->qid);
        free(e->question);
        for (int k = 0; k < e->n_answers; k++) free(e->answers[k].text);
        free(e->answers);
    }
    for (int i = 0; i < ds->n_paragraphs; i++) {
        free(ds->paragraphs[i].context);
        if (ds->paragraphs[i].words) free(ds->paragraphs[i].words[0]);
        free(ds->paragraphs[i].words);
    }
    for (int i = 0; i < ds->n_skipped; i++) free(ds->skipped[i]);
    free(ds->skipped);
    free(ds->examples);
    free(ds->paragraphs);
    free(ds->path);
    free(ds);
}

static int is_doc_space(int32_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x202F;
}

/* Splits a context into doc_tokens and char_to_word_offset (read_squad_examples). */
static int split_context(zl_squad_paragraph *p, const char *context, int32_t **c2w,
                         size_t *ncp)
{
    size_t n = 0;
    int32_t *cps = decode_cps(context, &n);
    *c2w = malloc((n + 1) * sizeof **c2w);
    p->context = cps ? encode_cps(cps, 0, n) : NULL;
    /* worst case every other character starts a word */
    size_t maxw = n / 2 + 2;
    char *buf = malloc(strlen(context) + maxw + 1);
    p->words = malloc(maxw * sizeof *p->words);
    if (!cps || !*c2w || !p->context || !buf || !p->words) {
        free(cps);
        free(buf);
        free(p->words);
        p->words = NULL;
        return zl_error_set("squad: out of memory");
    }
    int prev_space = 1;
    int nw = -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = cps[i];
        if (is_doc_space(c)) {
            prev_space = 1;
        } else {
            if (prev_space) {
                if (nw >= 0) buf[o++] = '\0';
                p->words[++nw] = (char *)(uintptr_t)o;
            }
            o += zl_utf8_put(buf + o, c);
            prev_space = 0;
        }
        (*c2w)[i] = nw;
    }
    buf[o] = '\0';
    p->n_words = nw + 1;
    for (int k = 0; k < p->n_words; k++) p->words[k] = buf + (uintptr_t)p->words[k];
    if (p->n_words == 0) { /* keep words[0] valid for free() */
        p->words[0] = buf;
    }
    free(cps);
    *ncp = n;
    return 0;
}

static int add_skipped(zl_squad *ds, const char *qid)
{
    char **s = realloc(ds->skipped, (size_t)(ds->n_skipped + 1) * sizeof *s);
    if (!s) return zl_error_set("squad: out of memory");
    ds->skipped = s;
    if (!(s[ds->n_skipped] = dupn(qid, strlen(qid)))) return zl_error_set("squad: out of memory");
    ds->n_skipped++;
    return 0;
}

/* Training: map the first answer to words as run_squad.py does. Returns 1 if the
 * example is kept, 0 if skipped, -1 on error. */
static int map_answer(zl_squad_example *e, const zl_squad_paragraph *p, const int32_t *c2w,
                      size_t ncp)
{
    const zl_squad_answer *a = &e->answers[0];
    long off = a->answer_start, len = (long)cp_count(a->text), n = (long)ncp;
    long s = off, t = off + len - 1;
    /* Python indexing: negatives count from the end; out of range raised IndexError
     * in the reference, here the example is skipped */
    if (s < 0) s += n;
    if (t < 0) t += n;
    if (s < 0 || s >= n || t < 0 || t >= n) return 0;
    e->start_word = c2w[s];
    e->end_word = c2w[t];
    char *actual = join_words(p->words, p->n_words, e->start_word, (long)e->end_word + 1);
    char *clean = py_split_join(a->text);
    if (!actual || !clean) {
        free(actual);
        free(clean);
        return zl_error_set("squad: out of memory");
    }
    int found = strstr(actual, clean) != NULL;
    free(actual);
    free(clean);
    return found;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- the SQuAD-format reader: one set of rules for examples, metrics and bindings ---- */
static const cJSON *get_field(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* Checks one qas[] entry; its id goes to *id. */
static int check_qa(const char *what, const zl_squad_reader *r, const cJSON *qa, int a, int p,
                    int q, const char **id)
{
    const cJSON *jid = get_field(qa, "id");
    if (cJSON_IsNumber(jid))
        /* SQuAD ids are strings; a number would be printed back as another text */
        return zl_error_set("%s: data[%d].paragraphs[%d].qas[%d]: \"id\" is a number; question "
                            "ids are strings", what, a, p, q);
    if (!cJSON_IsString(jid))
        return zl_error_set("%s: data[%d].paragraphs[%d].qas[%d]: \"id\" missing or not a string",
                            what, a, p, q);
    *id = jid->valuestring;
    const cJSON *text = get_field(qa, "question");
    if ((r->need & ZL_SQUAD_NEED_QUESTION) && !cJSON_IsString(text))
        return zl_error_set("%s: question %s: \"question\" missing or not a string", what, *id);
    const cJSON *ans = get_field(qa, "answers");
    if (!ans && (r->need & ZL_SQUAD_NEED_ANSWERS))
        return zl_error_set("%s: question %s has no \"answers\" (needed for %s)", what, *id,
                            r->answers_for ? r->answers_for : "this use");
    if (ans && !cJSON_IsArray(ans))
        return zl_error_set("%s: question %s: \"answers\" is not an array", what, *id);
    int k = 0;
    const cJSON *an;
    cJSON_ArrayForEach(an, ans) {
        if (!cJSON_IsString(get_field(an, "text")))
            return zl_error_set("%s: question %s: answers[%d] has no string \"text\"", what, *id,
                                k);
        const cJSON *st = get_field(an, "answer_start");
        if (r->need & ZL_SQUAD_NEED_ANSWER_START) {
            if (!cJSON_IsNumber(st))
                return zl_error_set("%s: question %s: answers[%d] has no number \"answer_start\"",
                                    what, *id, k);
            if (st->valuedouble != floor(st->valuedouble))
                return zl_error_set("%s: question %s: answers[%d].answer_start %g is not a whole "
                                    "number", what, *id, k, st->valuedouble);
        }
        k++;
    }
    return 0;
}

/* First pass: the layout, every field the reader needs, unique ids; counts. */
static int check_all(const char *what, const cJSON *root, const zl_squad_reader *r, int *np,
                     int *nq, int *max_answers)
{
    const cJSON *data = get_field(root, "data");
    if (!cJSON_IsArray(data))
        return zl_error_set("%s: \"data\" missing or not an array (not a SQuAD-style dataset)",
                            what);
    *np = *nq = *max_answers = 0;
    int a = 0;
    const cJSON *art, *par, *qa;
    cJSON_ArrayForEach(art, data) {
        const cJSON *ps = get_field(art, "paragraphs");
        if (!cJSON_IsArray(ps))
            return zl_error_set("%s: data[%d]: \"paragraphs\" missing or not an array", what, a);
        int p = 0;
        cJSON_ArrayForEach(par, ps) {
            if ((r->need & ZL_SQUAD_NEED_CONTEXT) && !cJSON_IsString(get_field(par, "context")))
                return zl_error_set("%s: data[%d].paragraphs[%d]: \"context\" missing or not a "
                                    "string", what, a, p);
            const cJSON *qas = get_field(par, "qas");
            if (!cJSON_IsArray(qas))
                return zl_error_set("%s: data[%d].paragraphs[%d]: \"qas\" missing or not an array",
                                    what, a, p);
            int n = cJSON_GetArraySize(qas);
            if (n > INT_MAX - *nq) return zl_error_set("%s: too many questions", what);
            *nq += n;
            (*np)++;
            p++;
        }
        a++;
    }
    const char **ids = malloc(((size_t)*nq + 1) * sizeof *ids);
    if (!ids) return zl_error_set("%s: out of memory", what);
    int k = 0, rc = 0;
    a = 0;
    cJSON_ArrayForEach(art, data) {
        int p = 0;
        cJSON_ArrayForEach(par, get_field(art, "paragraphs")) {
            int q = 0;
            cJSON_ArrayForEach(qa, get_field(par, "qas")) {
                if ((rc = check_qa(what, r, qa, a, p, q, &ids[k]))) goto out;
                int na = cJSON_GetArraySize(get_field(qa, "answers"));
                if (na > *max_answers) *max_answers = na;
                k++;
                q++;
            }
            p++;
        }
        a++;
    }
    /* question ids name predictions: two questions with one id would share one answer */
    qsort(ids, (size_t)k, sizeof *ids, cmp_str_ptr);
    for (int i = 1; i < k && !rc; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            rc = zl_error_set("%s: question id %s appears twice", what, ids[i]);
out:
    free(ids);
    return rc;
}

int zl_squad_read(const char *what, const cJSON *root, const zl_squad_reader *r)
{
    int np = 0, nq = 0, max_answers = 0;
    if (check_all(what, root, r, &np, &nq, &max_answers)) return -1;
    if (r->begin && r->begin(r->ud, np, nq)) return -1;
    const char **texts = malloc(((size_t)max_answers + 1) * sizeof *texts);
    double *starts = malloc(((size_t)max_answers + 1) * sizeof *starts);
    int rc = 0;
    if (!texts || !starts) {
        rc = zl_error_set("%s: out of memory", what);
        goto out;
    }
    zl_squad_qa x;
    memset(&x, 0, sizeof x);
    x.answers = texts;
    x.answer_starts = starts;
    const cJSON *art, *par, *qa;
    cJSON_ArrayForEach(art, get_field(root, "data")) {
        x.paragraph = 0;
        cJSON_ArrayForEach(par, get_field(art, "paragraphs")) {
            const cJSON *ctx = get_field(par, "context");
            x.context = cJSON_IsString(ctx) ? ctx->valuestring : NULL;
            if (r->paragraph && (rc = r->paragraph(r->ud, x.context))) goto out;
            x.index = 0;
            cJSON_ArrayForEach(qa, get_field(par, "qas")) {
                const cJSON *q = get_field(qa, "question"), *ans = get_field(qa, "answers"), *an;
                x.id = get_field(qa, "id")->valuestring;
                x.question = cJSON_IsString(q) ? q->valuestring : NULL;
                x.n_answers = ans ? 0 : -1;
                cJSON_ArrayForEach(an, ans) {
                    const cJSON *st = get_field(an, "answer_start");
                    texts[x.n_answers] = get_field(an, "text")->valuestring;
                    starts[x.n_answers++] = cJSON_IsNumber(st) ? st->valuedouble : 0;
                }
                if (r->question && (rc = r->question(r->ud, &x))) goto out;
                x.index++;
            }
            x.paragraph++;
        }
        x.article++;
    }
out:
    free(texts);
    free(starts);
    return rc ? -1 : 0;
}

/* Building a zl_squad (read_squad_examples) from the reader's calls. */
typedef struct {
    const char *what;
    zl_squad *ds;
    int32_t *c2w;   /* char_to_word_offset of the current paragraph */
    size_t ncp;
} squad_build;

static int build_begin(void *ud, int np, int nq)
{
    squad_build *b = ud;
    b->ds->paragraphs = calloc((size_t)np + 1, sizeof *b->ds->paragraphs);
    b->ds->examples = calloc((size_t)nq + 1, sizeof *b->ds->examples);
    if (!b->ds->paragraphs || !b->ds->examples) return zl_error_set("%s: out of memory", b->what);
    return 0;
}

static int build_paragraph(void *ud, const char *context)
{
    squad_build *b = ud;
    free(b->c2w);
    b->c2w = NULL;
    return split_context(&b->ds->paragraphs[b->ds->n_paragraphs++], context, &b->c2w, &b->ncp);
}

static int build_question(void *ud, const zl_squad_qa *qa)
{
    squad_build *b = ud;
    zl_squad *ds = b->ds;
    zl_squad_example *e = &ds->examples[ds->n_examples];
    memset(e, 0, sizeof *e);
    e->paragraph = ds->n_paragraphs - 1;
    e->start_word = e->end_word = -1;
    e->qid = dupn(qa->id, strlen(qa->id));
    e->question = dupn(qa->question, strlen(qa->question));
    int na = qa->n_answers > 0 ? qa->n_answers : 0;
    e->answers = calloc((size_t)na + 1, sizeof *e->answers);
    ds->n_examples++; /* owned from here (freed with ds) */
    if (!e->qid || !e->question || !e->answers) return zl_error_set("%s: out of memory", b->what);
    for (int k = 0; k < na; k++) {
        double v = qa->answer_starts[k];
        e->answers[k].answer_start = v > 2e9 ? 2000000000 : v < -2e9 ? -2000000000 : (int)v;
        if (!(e->answers[k].text = dupn(qa->answers[k], strlen(qa->answers[k]))))
            return zl_error_set("%s: out of memory", b->what);
        e->n_answers = k + 1;
    }
    if (!ds->training) return 0;
    int keep = 0;
    if (e->n_answers > 0) {
        keep = map_answer(e, &ds->paragraphs[e->paragraph], b->c2w, b->ncp);
        if (keep < 0) return -1;
    }
    if (!keep) {
        if (add_skipped(ds, e->qid)) return -1;
        ds->n_examples--;
        free(e->qid);
        free(e->question);
        for (int j = 0; j < e->n_answers; j++) free(e->answers[j].text);
        free(e->answers);
        memset(e, 0, sizeof *e);
    }
    return 0;
}

zl_squad *zl_squad_parse(const char *what, const char *json, size_t len, int training)
{
    cJSON *root = zl_json_parse(what, json, len);
    if (!root) return NULL;
    zl_squad *ds = calloc(1, sizeof *ds);
    if (!ds || !(ds->path = dupn(what, strlen(what)))) {
        zl_error_set("%s: out of memory", what);
        cJSON_Delete(root);
        zl_squad_free(ds);
        return NULL;
    }
    ds->training = training;
    squad_build b = {what, ds, NULL, 0};
    /* run_squad.py reads answers only in training (a KeyError there without them) */
    zl_squad_reader r = {ZL_SQUAD_NEED_CONTEXT | ZL_SQUAD_NEED_QUESTION | ZL_SQUAD_NEED_ANSWER_START |
                             (training ? ZL_SQUAD_NEED_ANSWERS : 0),
                         "training", &b, build_begin, build_paragraph, build_question};
    int rc = zl_squad_read(what, root, &r);
    free(b.c2w);
    cJSON_Delete(root);
    if (rc) {
        zl_squad_free(ds);
        return NULL;
    }
    return ds;
}

static void *parse_squad(const char *path, const char *data, size_t len, const void *training)
{
    return zl_squad_parse(path, data, len, *(const int *)training);
}

zl_squad *zl_squad_load(const char *path, int training)
{
    return zl_io_load(path, SQUAD_MAX_BYTES, parse_squad, &training);
}

/* ---- features ---- */
zl_squad_feature_opts zl_squad_feature_defaults(void)
{
    zl_squad_feature_opts o = {384, 128, 64, 0, 0};
    return o;
}

void zl_squad_features_free(zl_squad_features *f)
{
    if (!f) return;
    free(f->items);
    free(f->pool);
    free(f);
}

typedef struct { int start, length; } doc_span;

/* _check_is_max_context for every document token at once: best[pos] = the span where
 * pos has the most context (score min(left, right) + 0.01 * length; ties go to the
 * earliest span, strict > as in the reference). The reference rescans every span for
 * every token of every span, quadratic in the spans (minutes with doc_stride 1 on a
 * long context); one pass over the spans' tokens gives the same answers. */
static void max_context(const doc_span *spans, int ns, int *best_i, double *best, long ndoc)
{
    for (long pos = 0; pos < ndoc; pos++) best_i[pos] = -1;
    for (int i = 0; i < ns; i++) {
        int end = spans[i].start + spans[i].length - 1;
        for (int pos = spans[i].start; pos <= end; pos++) {
            int left = pos - spans[i].start, right = end - pos;
            double score = (double)(left < right ? left : right) + 0.01 * spans[i].length;
            if (best_i[pos] < 0 || score > best[pos]) {
                best[pos] = score;
                best_i[pos] = i;
            }
        }
    }
}

/* Python list indexing with negatives, clamped so that nothing reads out of range. */
static long py_index(long i, long n)
{
    if (i < 0) i += n;
    if (i < 0) i = 0;
    if (i >= n) i = n - 1;
    return i;
}

zl_squad_features *zl_squad_features_new(const zl_squad *ds, const zl_tokenizer *tok,
                                         const zl_squad_feature_opts *opts)
{
    zl_squad_feature_opts o = opts ? *opts : zl_squad_feature_defaults();
    if (o.max_seq_length < 4 || o.doc_stride < 1 || o.max_query_length < 0) {
        zl_error_set("squad features: need max_seq_length >= 4, doc_stride >= 1, "
                     "max_query_length >= 0 (got %d, %d, %d)", o.max_seq_length, o.doc_stride,
                     o.max_query_length);
        return NULL;
    }
    if (o.training && !ds->training) {
        zl_error_set("%s: training features need examples loaded for training", ds->path);
        return NULL;
    }
    zl_squad_features *f = calloc(1, sizeof *f);
    ivec pool = {0}, doc = {0}, t2o = {0}, o2t = {0}, q = {0};
    zl_ids ids = {0};
    doc_span *spans = NULL;
    int *best_span = NULL;   /* per document token: its max-context span */
    double *best_score = NULL;
    size_t *offs = NULL; /* per feature: pool offset of input_ids */
    int cap = 0, cached = -1;
    if (!f) { zl_error_set("squad features: out of memory"); return NULL; }
    f->opts = o;
    f->tok = tok;
    f->n_examples = ds->n_examples;
    for (int ei = 0; ei < ds->n_examples; ei++) {
        const zl_squad_example *e = &ds->examples[ei];
        const zl_squad_paragraph *p = &ds->paragraphs[e->paragraph];
        /* the paragraph's words are tokenized once for all of its questions */
        if (cached != e->paragraph) {
            doc.n = t2o.n = o2t.n = 0;
            for (int w = 0; w < p->n_words; w++) {
                if (iv_push(&o2t, (int32_t)doc.n)) goto fail;
                ids.n = 0;
                if (zl_tokenizer_encode(tok, p->words[w], strlen(p->words[w]), &ids)) goto fail;
                for (int k = 0; k < ids.n; k++)
                    if (iv_push(&doc, ids.v[k]) || iv_push(&t2o, w)) goto fail;
            }
            cached = e->paragraph;
        }
        ids.n = 0;
        if (zl_tokenizer_encode(tok, e->question, strlen(e->question), &ids)) goto fail;
        int qlen = ids.n < o.max_query_length ? ids.n : o.max_query_length;
        q.n = 0;
        for (int k = 0; k < qlen; k++)
            if (iv_push(&q, ids.v[k])) goto fail;
        long ndoc = (long)doc.n;
        long tok_start = 0, tok_end = 0;
        if (o.training && p->n_words > 0) {
            tok_start = o2t.v[py_index(e->start_word, p->n_words)];
            if (e->end_word < p->n_words - 1)
                tok_end = o2t.v[py_index((long)e->end_word + 1, p->n_words)] - 1;
            else
                tok_end = ndoc - 1;
            /* _improve_answer_span: first (start, longest end) whose pieces equal the
             * tokenized answer */
            ids.n = 0;
            const char *at = e->answers[0].text;
            if (zl_tokenizer_encode(tok, at, strlen(at), &ids)) goto fail;
            int found = 0;
            for (long s = tok_start; s <= tok_end && !found; s++) {
                for (long t = tok_end; t >= s; t--) {
                    if (t - s + 1 != ids.n || s < 0 || t >= ndoc) continue;
                    if (memcmp(doc.v + s, ids.v, (size_t)ids.n * sizeof *ids.v) == 0) {
                        tok_start = s;
                        tok_end = t;
                        found = 1;
                        break;
                    }
                }
            }
        }
        int max_doc = o.max_seq_length - qlen - 3;
        if (max_doc < 1 && ndoc > 0) { /* the reference loops forever here */
            zl_error_set("%s: question %s: %d question tokens leave no room for the passage "
                         "in max_seq_length %d (lower max_query_length)", ds->path, e->qid, qlen,
                         o.max_seq_length);
            goto fail;
        }
        int ns = 0;
        free(spans);
        spans = malloc(((size_t)ndoc / (size_t)(o.doc_stride < max_doc ? o.doc_stride : max_doc)
                        + 2) * sizeof *spans);
        if (!spans) { zl_error_set("squad features: out of memory"); goto fail; }
        for (long start = 0; start < ndoc;) {
            long length = ndoc - start;
            if (length > max_doc) length = max_doc;
            spans[ns].start = (int)start;
            spans[ns].length = (int)length;
            ns++;
            if (start + length == ndoc) break;
            start += length < o.doc_stride ? length : o.doc_stride;
        }
        free(best_span);
        free(best_score);
        best_span = malloc(((size_t)ndoc + 1) * sizeof *best_span);
        best_score = malloc(((size_t)ndoc + 1) * sizeof *best_score);
        if (!best_span || !best_score) { zl_error_set("squad features: out of memory"); goto fail; }
        max_context(spans, ns, best_span, best_score, ndoc);
        for (int si = 0; si < ns; si++) {
            if (f->count == cap) {
                cap = cap ? cap * 2 : 1024;
                zl_squad_feature *it = realloc(f->items, (size_t)cap * sizeof *it);
                size_t *of = realloc(offs, (size_t)cap * sizeof *of);
                if (it) f->items = it;
                if (of) offs = of;
                if (!it || !of) { zl_error_set("squad features: out of memory"); goto fail; }
            }
            zl_squad_feature *ft = &f->items[f->count];
            memset(ft, 0, sizeof *ft);
            offs[f->count] = pool.n;
            f->count++;
            ft->example_index = ei;
            ft->doc_span_index = si;
            ft->query_len = qlen;
            ft->doc_len = spans[si].length;
            ft->length = qlen + spans[si].length + 3;
            if (iv_push(&pool, zl_tokenizer_cls(tok))) goto fail;
            for (int k = 0; k < qlen; k++)
                if (iv_push(&pool, q.v[k])) goto fail;
            if (iv_push(&pool, zl_tokenizer_sep(tok))) goto fail;
            for (int k = 0; k < spans[si].length; k++)
                if (iv_push(&pool, doc.v[spans[si].start + k])) goto fail;
            if (iv_push(&pool, zl_tokenizer_sep(tok))) goto fail;
            for (int k = 0; k < spans[si].length; k++)
                if (iv_push(&pool, t2o.v[spans[si].start + k])) goto fail;
            for (int k = 0; k < spans[si].length; k++)
                if (iv_push(&pool, best_span[spans[si].start + k] == si)) goto fail;
            if (o.training) {
                long ds0 = spans[si].start, de = spans[si].start + spans[si].length - 1;
                if (tok_start >= ds0 && tok_end <= de) {
                    ft->start_position = (int)(tok_start - ds0 + qlen + 2);
                    ft->end_position = (int)(tok_end - ds0 + qlen + 2);
                }
            }
        }
    }
    f->pool = pool.v;
    pool.v = NULL;
    for (int i = 0; i < f->count; i++) {
        zl_squad_feature *ft = &f->items[i];
        ft->input_ids = f->pool + offs[i];
        ft->orig = ft->input_ids + ft->length;
        ft->max_ctx = ft->orig + ft->doc_len;
    }
    free(offs);
    free(spans);
    free(best_span);
    free(best_score);
    free(doc.v);
    free(t2o.v);
    free(o2t.v);
    free(q.v);
    zl_ids_free(&ids);
    return f;
fail:
    free(offs);
    free(spans);
    free(best_span);
    free(best_score);
    free(pool.v);
    free(doc.v);
    free(t2o.v);
    free(o2t.v);
    free(q.v);
    zl_ids_free(&ids);
    zl_squad_features_free(f);
    return NULL;
}

int zl_squad_features_batch(const zl_squad_features *f, const int32_t *idx, int first, int n,
                            int width, const zl_squad_batch *b)
{
    if (n < 0 || width < 0) return zl_error_set("squad batch: %d rows of width %d", n, width);
    for (int r = 0; r < n; r++) {
        int k = idx ? idx[r] : first + r;
        if (k < 0 || k >= f->count)
            return zl_error_set("squad batch: feature index %d outside 0..%d", k, f->count - 1);
        if (f->items[k].length > width)
            return zl_error_set("squad batch: feature %d has %d tokens, more than %d", k,
                                f->items[k].length, width);
    }
    int32_t *const rows[5] = {b->input_ids, b->token_type_ids, b->input_mask, b->qmask, b->pmask};
    for (int a = 0; a < 5; a++)
        if (rows[a]) memset(rows[a], 0, (size_t)n * (size_t)width * sizeof(int32_t));
    for (int r = 0; r < n; r++) {
        const zl_squad_feature *ft = &f->items[idx ? idx[r] : first + r];
        size_t row = (size_t)r * (size_t)width;
        int d0 = ft->query_len + 2;
        for (int t = 0; t < ft->length; t++) {
            if (b->input_ids) b->input_ids[row + t] = ft->input_ids[t];
            if (b->token_type_ids) b->token_type_ids[row + t] = t >= d0;
            if (b->input_mask) b->input_mask[row + t] = 1;
            if (b->qmask) b->qmask[row + t] = t >= 1 && t <= ft->query_len;
            if (b->pmask) b->pmask[row + t] = t >= d0 && t < d0 + ft->doc_len;
        }
        if (b->start_positions) b->start_positions[r] = ft->start_position;
        if (b->end_positions) b->end_positions[r] = ft->end_position;
    }
    return 0;
}

/* ---- collecting logits ---- */
struct zl_squad_collector {
    const zl_squad_features *f;
    int *width;    /* 0 = not filled */
    float **rows;  /* per feature: width start logits then width end logits */
    int filled;
};

zl_squad_collector *zl_squad_collector_new(const zl_squad_features *f)
{
    zl_squad_collector *c = calloc(1, sizeof *c);
    if (c) {
        c->f = f;
        c->width = calloc((size_t)f->count + 1, sizeof *c->width);
        c->rows = calloc((size_t)f->count + 1, sizeof *c->rows);
    }
    if (!c || !c->width || !c->rows) {
        zl_squad_collector_free(c);
        zl_error_set("squad collector: out of memory");
        return NULL;
    }
    return c;
}

void zl_squad_collector_free(zl_squad_collector *c)
{
    if (!c) return;
    if (c->rows)
        for (int i = 0; i < c->f->count; i++) free(c->rows[i]);
    free(c->rows);
    free(c->width);
    free(c);
}

int zl_squad_collector_filled(const zl_squad_collector *c) { return c->filled; }

int zl_squad_collector_add(zl_squad_collector *c, int first, int rows, int width,
                           const float *start_logits, const float *end_logits)
{
    if (first < 0 || rows < 0 || first > c->f->count - rows)
        return zl_error_set("squad collector: features %d..%d out of range (%d features)",
                            first + 1, first + rows, c->f->count);
    for (int r = 0; r < rows; r++) {
        const zl_squad_feature *ft = &c->f->items[first + r];
        if (width < ft->length)
            return zl_error_set("squad collector: feature %d has %d tokens but its logits "
                                "have %d positions", first + r + 1, ft->length, width);
    }
    for (int r = 0; r < rows; r++) {
        int i = first + r;
        float *row = malloc((size_t)width * 2 * sizeof *row);
        if (!row) return zl_error_set("squad collector: out of memory");
        memcpy(row, start_logits + (size_t)r * width, (size_t)width * sizeof *row);
        memcpy(row + width, end_logits + (size_t)r * width, (size_t)width * sizeof *row);
        if (!c->width[i]) c->filled++;
        free(c->rows[i]);
        c->rows[i] = row;
        c->width[i] = width;
    }
    return 0;
}

/* ---- decoding (write_predictions, v1.1) ---- */
zl_squad_decode_opts zl_squad_decode_defaults(void)
{
    zl_squad_decode_opts o = {20, 30, 1};
    return o;
}

void zl_squad_predictions_free(zl_squad_predictions *p)
{
    if (!p) return;
    for (int i = 0; i < p->count; i++) {
        zl_squad_prediction *q = &p->items[i];
        free(q->qid);
        for (int k = 0; k < q->n_nbest; k++) free(q->nbest[k].text);
        free(q->nbest);
    }
    free(p->items);
    free(p);
}

/* _get_best_indexes: the n largest (stable: ties keep index order). Returns count. */
static int best_indexes(const float *logits, int n, int k, int *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        float x = logits[i];
        if (m == k && !(x > logits[out[m - 1]])) continue;
        int p = m < k ? m : k - 1;
        while (p > 0 && logits[out[p - 1]] < x) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = i;
        if (m < k) m++;
    }
    return m;
}

typedef struct { int feature, start, end; double sl, el, score; int order; } prelim;

static int prelim_cmp(const void *a, const void *b)
{
    const prelim *x = a, *y = b;
    if (x->score > y->score) return -1;
    if (x->score < y->score) return 1;
    return (x->order > y->order) - (x->order < y->order);
}

/* Python's str.replace(old, "") */
static void remove_all(char *s, const char *old)
{
    size_t k = strlen(old), w = 0;
    for (size_t i = 0; s[i];) {
        if (strncmp(s + i, old, k) == 0) {
            i += k;
            continue;
        }
        s[w++] = s[i++];
    }
    s[w] = '\0';
}

char *zl_squad_final_text(const char *pred_text, const char *orig_text, int lower)
{
    zl_words w = {0};
    char *tok_text = NULL;
    int32_t *oc = NULL, *tc = NULL;
    long *o_ns = NULL, *t_s2ns = NULL;
    char *res = NULL;
    if (zl_tokenizer_basic(orig_text, strlen(orig_text), lower, &w)) goto out;
    tok_text = malloc(w.len + 1);
    if (!tok_text) goto oom;
    size_t o = 0;
    for (int i = 0; i < w.n; i++) {
        if (i) tok_text[o++] = ' ';
        size_t k = strlen(w.buf + w.off[i]);
        memcpy(tok_text + o, w.buf + w.off[i], k);
        o += k;
    }
    tok_text[o] = '\0';
    const char *hit = strstr(tok_text, pred_text);
    if (!hit) goto orig;
    size_t nt, no;
    tc = decode_cps(tok_text, &nt);
    oc = decode_cps(orig_text, &no);
    if (!tc || !oc) goto oom;
    long start = 0;
    for (const char *s = tok_text; s < hit; s++) start += ((unsigned char)*s & 0xC0) != 0x80;
    long end = start + (long)cp_count(pred_text) - 1;
    /* _strip_spaces: only U+0020 is removed */
    o_ns = malloc((no + 1) * sizeof *o_ns);
    t_s2ns = malloc((nt + 1) * sizeof *t_s2ns);
    if (!o_ns || !t_s2ns) goto oom;
    size_t n_ons = 0, n_tns = 0;
    for (size_t i = 0; i < no; i++)
        if (oc[i] != ' ') o_ns[n_ons++] = (long)i;
    for (size_t i = 0; i < nt; i++) t_s2ns[i] = tc[i] == ' ' ? -1 : (long)n_tns++;
    if (n_ons != n_tns) goto orig;
    if (start < 0 || start >= (long)nt || t_s2ns[start] < 0) goto orig;
    long os = o_ns[t_s2ns[start]];
    if (end < 0 || end >= (long)nt || t_s2ns[end] < 0) goto orig;
    long oe = o_ns[t_s2ns[end]];
    res = encode_cps(oc, (size_t)os, oe + 1 > os ? (size_t)oe + 1 : (size_t)os);
    if (!res) goto oom;
    goto out;
orig:
    res = dupn(orig_text, strlen(orig_text));
    if (!res) goto oom;
    goto out;
oom:
    zl_error_set("squad: out of memory");
out:
    zl_words_free(&w);
    free(tok_text);
    free(tc);
    free(oc);
    free(o_ns);
    free(t_s2ns);
    return res;
}

/* The answer text of one candidate span (the body of write_predictions' loop). */
static char *span_text(const zl_squad *ds, const zl_squad_features *f, const prelim *p,
                       int lower)
{
    const zl_squad_feature *ft = &f->items[p->feature];
    size_t len = 1;
    for (int i = p->start; i <= p->end; i++)
        len += strlen(zl_tokenizer_piece(f->tok, ft->input_ids[i])) + 1;
    char *tok = malloc(len);
    if (!tok) return NULL;
    size_t o = 0;
    for (int i = p->start; i <= p->end; i++) {
        const char *s = zl_tokenizer_piece(f->tok, ft->input_ids[i]);
        if (i > p->start) tok[o++] = ' ';
        memcpy(tok + o, s, strlen(s));
        o += strlen(s);
    }
    tok[o] = '\0';
    remove_all(tok, " ##");
    remove_all(tok, "##");
    char *clean = py_split_join(tok);
    free(tok);
    if (!clean) return NULL;
    const zl_squad_paragraph *par = &ds->paragraphs[ds->examples[ft->example_index].paragraph];
    int ds0 = ft->query_len + 2;
    long a = ft->orig[p->start - ds0], b = ft->orig[p->end - ds0];
    char *orig = join_words(par->words, par->n_words, a, b + 1);
    char *r = orig ? zl_squad_final_text(clean, orig, lower) : NULL;
    free(clean);
    free(orig);
    return r;
}

/* Appends to pre[np..] the candidate spans of feature fi (the inner loops of
 * write_predictions: the n-best starts and ends, both in the passage, the start where
 * this window has max context, start <= end, at most max_answer_length tokens), in the
 * reference's order. si, ei: scratch of n_best_size. -1 when out of memory. */
static int add_candidates(const zl_squad_features *f, int fi, const float *sl, const float *el,
                          int w, const zl_squad_decode_opts *o, int *si, int *ei, prelim **pre,
                          size_t *np, size_t *pcap)
{
    const zl_squad_feature *ft = &f->items[fi];
    int ns = best_indexes(sl, w, o->n_best_size, si);
    int ne = best_indexes(el, w, o->n_best_size, ei);
    int d0 = ft->query_len + 2, d1 = d0 + ft->doc_len;
    for (int a = 0; a < ns; a++) {
        for (int b = 0; b < ne; b++) {
            int s = si[a], e = ei[b];
            if (s >= ft->length || e >= ft->length) continue;
            if (s < d0 || s >= d1 || e < d0 || e >= d1) continue;
            if (!ft->max_ctx[s - d0]) continue;
            if (e < s || e - s + 1 > o->max_answer_length) continue;
            if (*np == *pcap) {
                size_t cap = *pcap ? *pcap * 2 : 512;
                prelim *q = realloc(*pre, cap * sizeof *q);
                if (!q) return -1;
                *pre = q;
                *pcap = cap;
            }
            prelim *q = &(*pre)[*np];
            q->feature = fi;
            q->start = s;
            q->end = e;
            q->sl = sl[s];
            q->el = el[e];
            q->score = q->sl + q->el;
            q->order = (int)(*np)++;
        }
    }
    return 0;
}

int zl_squad_best_span(const zl_squad_features *f, int feature, const float *start_logits,
                       const float *end_logits, int width, const zl_squad_decode_opts *opt,
                       int *start, int *end, double *score)
{
    zl_squad_decode_opts o = opt ? *opt : zl_squad_decode_defaults();
    if (o.n_best_size < 1 || o.max_answer_length < 1)
        return zl_error_set("squad best span: n_best_size and max_answer_length must be >= 1");
    if (feature < 0 || feature >= f->count)
        return zl_error_set("squad best span: feature %d outside 0..%d", feature, f->count - 1);
    if (width < 1) return zl_error_set("squad best span: no logits");
    int *si = malloc((size_t)o.n_best_size * sizeof *si);
    int *ei = malloc((size_t)o.n_best_size * sizeof *ei);
    prelim *pre = NULL;
    size_t np = 0, pcap = 0;
    int rc = si && ei ? add_candidates(f, feature, start_logits, end_logits, width, &o, si, ei,
                                       &pre, &np, &pcap)
                      : -1;
    if (rc != 0) {
        rc = zl_error_set("squad best span: out of memory");
    } else if (np > 0) {
        /* the first of the highest score: what the decoder's stable sort puts first */
        size_t best = 0;
        for (size_t k = 1; k < np; k++)
            if (pre[k].score > pre[best].score) best = k;
        *start = pre[best].start;
        *end = pre[best].end;
        *score = pre[best].score;
        rc = 1;
    }
    free(si);
    free(ei);
    free(pre);
    return rc;
}

char *zl_squad_span_text(const zl_squad *ds, const zl_squad_features *f, int feature, int start,
                         int end, int lower)
{
    if (feature < 0 || feature >= f->count || f->n_examples != ds->n_examples) {
        zl_error_set("squad span text: feature %d outside 0..%d of this data set", feature,
                     f->count - 1);
        return NULL;
    }
    const zl_squad_feature *ft = &f->items[feature];
    int d0 = ft->query_len + 2, d1 = d0 + ft->doc_len;
    if (start < d0 || end >= d1 || end < start) {
        zl_error_set("squad span text: span %d..%d is not inside the passage (%d..%d) of "
                     "feature %d", start, end, d0, d1 - 1, feature);
        return NULL;
    }
    prelim p = {feature, start, end, 0, 0, 0, 0};
    char *r = span_text(ds, f, &p, lower);
    if (!r) zl_error_set("squad span text: out of memory");
    return r;
}

zl_squad_predictions *zl_squad_decode(const zl_squad *ds, const zl_squad_features *f,
                                      const zl_squad_collector *c, const zl_squad_decode_opts *opt)
{
    zl_squad_decode_opts o = opt ? *opt : zl_squad_decode_defaults();
    if (o.n_best_size < 1 || o.max_answer_length < 1) {
        zl_error_set("squad decode: n_best_size and max_answer_length must be >= 1");
        return NULL;
    }
    if (f->n_examples != ds->n_examples || c->f != f) {
        zl_error_set("squad decode: features were built from %d examples, the data set has %d",
                     f->n_examples, ds->n_examples);
        return NULL;
    }
    if (c->filled != f->count) {
        zl_error_set("squad decode: logits given for %d of %d features", c->filled, f->count);
        return NULL;
    }
    zl_squad_predictions *P = calloc(1, sizeof *P);
    int *si = malloc((size_t)o.n_best_size * sizeof *si);
    int *ei = malloc((size_t)o.n_best_size * sizeof *ei);
    prelim *pre = NULL;
    size_t pcap = 0;
    char **seen = NULL;
    if (!P || !si || !ei || !(P->items = calloc((size_t)ds->n_examples + 1, sizeof *P->items)))
        goto oom;
    if (!(seen = malloc((size_t)o.n_best_size * sizeof *seen))) goto oom;
    int fi = 0;
    for (int ex = 0; ex < ds->n_examples; ex++) {
        zl_squad_prediction *pr = &P->items[ex];
        P->count = ex + 1;
        if (!(pr->qid = dupn(ds->examples[ex].qid, strlen(ds->examples[ex].qid)))) goto oom;
        size_t np = 0;
        while (fi < f->count && f->items[fi].example_index == ex) {
            int w = c->width[fi];
            if (add_candidates(f, fi, c->rows[fi], c->rows[fi] + w, w, &o, si, ei, &pre, &np,
                               &pcap) != 0)
                goto oom;
            fi++;
        }
        if (np) qsort(pre, np, sizeof *pre, prelim_cmp);
        pr->nbest = calloc((size_t)o.n_best_size, sizeof *pr->nbest);
        if (!pr->nbest) goto oom;
        int nb = 0;
        for (size_t k = 0; k < np && nb < o.n_best_size; k++) {
            char *t = span_text(ds, f, &pre[k], o.lower);
            if (!t) goto oom;
            int dup = 0;
            for (int j = 0; j < nb && !dup; j++) dup = strcmp(seen[j], t) == 0;
            if (dup) {
                free(t);
                continue;
            }
            seen[nb] = t;
            pr->nbest[nb].text = t;
            pr->nbest[nb].start_logit = pre[k].sl;
            pr->nbest[nb].end_logit = pre[k].el;
            pr->n_nbest = ++nb;
        }
        if (nb == 0) {
            if (!(pr->nbest[0].text = dupn("empty", 5))) goto oom;
            pr->n_nbest = nb = 1;
        }
        /* _compute_softmax */
        double mx = 0;
        for (int k = 0; k < nb; k++) {
            double s = pr->nbest[k].start_logit + pr->nbest[k].end_logit;
            if (k == 0 || s > mx) mx = s;
        }
        double tot = 0;
        for (int k = 0; k < nb; k++) {
            pr->nbest[k].probability =
                exp(pr->nbest[k].start_logit + pr->nbest[k].end_logit - mx);
            tot += pr->nbest[k].probability;
        }
        for (int k = 0; k < nb; k++) pr->nbest[k].probability /= tot;
        pr->text = pr->nbest[0].text;
    }
    free(si);
    free(ei);
    free(pre);
    free(seen);
    return P;
oom:
    zl_error_set("squad decode: out of memory");
    free(si);
    free(ei);
    free(pre);
    free(seen);
    zl_squad_predictions_free(P);
    return NULL;
}

/* ---- writing ---- */
static int qid_cmp(const void *a, const void *b)
{
    const zl_squad_prediction *x = *(const zl_squad_prediction *const *)a;
    const zl_squad_prediction *y = *(const zl_squad_prediction *const *)b;
    int c = strcmp(x->qid, y->qid);
    if (c) return c;
    return (x > y) - (x < y);
}

/* A number as Python's json writes it (repr: "1.0", "-2.5e-05"), the one number format of
 * zonelab's files; non-finite values stay cJSON's null. */
static cJSON *add_number(cJSON *o, const char *key, double v)
{
    char s[32];
    if (!isfinite(v)) return cJSON_AddNumberToObject(o, key, v);
    zl_text_repr_double(s, v);
    return cJSON_AddRawToObject(o, key, s);
}

static int write_json(const char *path, const zl_squad_predictions *p, int nbest)
{
    const zl_squad_prediction **v = malloc(((size_t)p->count + 1) * sizeof *v);
    cJSON *root = cJSON_CreateObject();
    if (!v || !root) goto oom;
    for (int i = 0; i < p->count; i++) v[i] = &p->items[i];
    qsort(v, (size_t)p->count, sizeof *v, qid_cmp);
    for (int i = 0; i < p->count; i++) {
        /* a repeated id keeps its last prediction, as a Python dict */
        if (i + 1 < p->count && strcmp(v[i]->qid, v[i + 1]->qid) == 0) continue;
        cJSON *item;
        if (!nbest) {
            item = cJSON_CreateString(v[i]->text);
        } else {
            item = cJSON_CreateArray();
            for (int k = 0; item && k < v[i]->n_nbest; k++) {
                const zl_squad_nbest *e = &v[i]->nbest[k];
                cJSON *o = cJSON_CreateObject();
                if (!o) goto oom;
                cJSON_AddItemToArray(item, o);
                if (!cJSON_AddStringToObject(o, "text", e->text) ||
                    !add_number(o, "probability", e->probability) ||
                    !add_number(o, "start_logit", e->start_logit) ||
                    !add_number(o, "end_logit", e->end_logit))
                    goto oom;
            }
        }
        if (!item) goto oom;
        cJSON_AddItemToObject(root, v[i]->qid, item);
    }
    char *s = nbest ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
    if (!s) goto oom;
    int rc = zl_io_write_atomic(path, s, strlen(s));
    free(s);
    free(v);
    cJSON_Delete(root);
    return rc;
oom:
    free(v);
    cJSON_Delete(root);
    return zl_error_set("%s: out of memory writing predictions", path);
}

int zl_squad_write_predictions(const char *path, const zl_squad_predictions *p)
{
    return write_json(path, p, 0);
}

int zl_squad_write_nbest(const char *path, const zl_squad_predictions *p)
{
    return write_json(path, p, 1);
}
