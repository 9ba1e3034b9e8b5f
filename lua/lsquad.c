/* lsquad.c — zonelab.squad: SQuAD / CMRC 2018 examples, features, logits collection
 * and decoding (core/squad.h, run_squad.py v1.1).
 *
 *   local ds = zl.squad.load(path, {training = false})
 *   ds:count(), #ds, ds:example(i) -> {qid, question, context, doc_tokens, answers =
 *       {{text, answer_start}}, start_word, end_word (training, 0-based word indexes)}
 *   ds:skipped() -> count of dropped training examples, ds:skipped_ids() -> {qid...}
 *   local feats = zl.squad.features(ds, tok, {max_seq_length = 384, doc_stride = 128,
 *       max_query_length = 64, training = false, pad = false})
 *   feats:count(), #feats, feats:get(i) -> {qid, example_index (1-based), doc_span_index
 *       (0-based, as the reference), input_ids, segment_ids, input_mask_len, length,
 *       query_length, token_to_orig_map = {{position, word_index}...},
 *       token_is_max_context = {positions...}, start_position, end_position}
 *       (positions and word indexes are 0-based, as the model and run_squad.py see them)
 *   feats:batch(first, count, {pad_to = N}) -> {input_ids, token_type_ids, input_mask,
 *       qmask, pmask = i32 [count, L], start_positions, end_positions = i32 [count]}
 *   local acc = zl.squad.collector(feats)
 *   acc:add(first, start_logits [B, L] or [L], end_logits)   -- first is 1-based
 *   acc:filled(); local preds, nbest = acc:decode(ds, {n_best_size = 20,
 *       max_answer_length = 30, lower = <tokenizer's>})
 *   zl.squad.decode(ds, feats, results, opts) -- results: sequence (or function
 *       returning the next one, nil at the end) of {start_logits =, end_logits =}
 *       (tensors or tables), one per feature in order
 *   preds = {qid = text}; nbest = {qid = {{text, probability, start_logit, end_logit}...}}
 *   feats:best_span(i, start_logits, end_logits, {n_best_size, max_answer_length})
 *       -> start, end, score (0-based positions; nil when none): the decoder's rules
 *   feats:span_text(i, start, end, {lower}) -> the decoder's answer text of that span
 *   zl.squad.write_predictions(path, preds)   -- atomic JSON, keys sorted
 *   zl.squad.final_text(pred_text, orig_text, lower) -- get_final_text */
#include "zl_lua.h"
#include "error.h"
#include "squad.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define SQUAD_MT "zonelab.squad"
#define FEATS_MT "zonelab.squad.features"
#define COLL_MT "zonelab.squad.collector"

/* Ownership (lpin.c): features borrow their tokenizer (uservalue 1) and data set
 * (uservalue 2); a collector borrows its features (uservalue 1); a sweep borrows the
 * data set and the features. An owner closed while borrowed is freed by its last borrower. */
static void squad_free(void *p) { zl_squad_free(p); }
static void feats_free(void *p) { zl_squad_features_free(p); }
/* reads its features: they are still held when it is freed */
static void coll_free(void *p) { zl_squad_collector_free(p); }

static void squad_describe(lua_State *L, zl_lua_box *b)
{
    const zl_squad *ds = b->obj;
    lua_pushfstring(L, "squad data %s: %d questions, %d paragraphs%s", ds->path, ds->n_examples,
                    ds->n_paragraphs, ds->training ? " (training)" : "");
}

static void feats_describe(lua_State *L, zl_lua_box *b)
{
    const zl_squad_features *f = b->obj;
    lua_pushfstring(L, "squad features: %d features of %d examples (max_seq_length %d, "
                    "doc_stride %d, max_query_length %d)", f->count, f->n_examples,
                    f->opts.max_seq_length, f->opts.doc_stride, f->opts.max_query_length);
}

static void coll_describe(lua_State *L, zl_lua_box *b)
{
    lua_pushfstring(L, "squad collector: %d features filled", zl_squad_collector_filled(b->obj));
}

static const zl_lua_class SQUAD = {SQUAD_MT, "data set has been closed", "squad data (closed)",
                                   squad_free, 1, 0, squad_describe};
static const zl_lua_class FEATS = {FEATS_MT, "features have been closed",
                                   "squad features (closed)", feats_free, 1, 2, feats_describe};
static const zl_lua_class COLL = {COLL_MT, "collector has been closed", "squad collector (closed)",
                                  coll_free, 0, 1, coll_describe};

static zl_squad *check_squad(lua_State *L, int idx)
{
    return zl_lua_class_check(L, idx, &SQUAD)->obj;
}

/* Features, checking that the tokenizer they borrow (uservalue 1) is still open. */
static zl_squad_features *check_feats(lua_State *L, int idx)
{
    zl_squad_features *f = zl_lua_class_check(L, idx, &FEATS)->obj;
    lua_getiuservalue(L, idx, 1);
    zl_lua_checktokenizer(L, -1);
    lua_pop(L, 1);
    return f;
}

struct zl_squad *zl_lua_checksquad(lua_State *L, int idx) { return check_squad(L, idx); }

struct zl_squad_features *zl_lua_checkfeatures(lua_State *L, int idx)
{
    return check_feats(L, idx);
}

/* Typed option readers: lopts.c's (errors name the option and the type). */
static int opt_int(lua_State *L, int idx, const char *key, int def, int lo)
{
    return zl_lua_opt_int(L, idx, "squad", key, def, lo, 1000000000);
}

static int opt_bool(lua_State *L, int idx, const char *key, int def)
{
    return zl_lua_opt_bool(L, idx, "squad", key, def);
}

static const char *const FEATURE_KEYS[] = {"max_seq_length", "doc_stride", "max_query_length",
                                            "training", "pad", NULL};
static const char *const BATCH_KEYS[] = {"pad_to", NULL};
static const char *const DECODE_KEYS[] = {"n_best_size", "max_answer_length", "lower", NULL};

static void check_opts(lua_State *L, int idx, const char *fn, const char *const *known)
{
    if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
    zl_lua_opts_check(L, idx, fn, known);
}

/* ---- data set ---- */
static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {"training", NULL};
    check_opts(L, 2, "squad.load", known);
    int training = opt_bool(L, 2, "training", 0);
    zl_lua_class_new(L, &SQUAD, sizeof(zl_lua_box), 0, NULL);
    return zl_lua_class_set(L, &SQUAD, zl_squad_load(path, training));
}

static int s_count(lua_State *L)
{
    lua_pushinteger(L, check_squad(L, 1)->n_examples);
    return 1;
}

static int s_skipped(lua_State *L)
{
    lua_pushinteger(L, check_squad(L, 1)->n_skipped);
    return 1;
}

static int s_skipped_ids(lua_State *L)
{
    zl_squad *ds = check_squad(L, 1);
    lua_createtable(L, ds->n_skipped, 0);
    for (int i = 0; i < ds->n_skipped; i++) {
        lua_pushstring(L, ds->skipped[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int s_example(lua_State *L)
{
    zl_squad *ds = check_squad(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > ds->n_examples) return luaL_argerror(L, 2, "example index out of range");
    const zl_squad_example *e = &ds->examples[i - 1];
    const zl_squad_paragraph *p = &ds->paragraphs[e->paragraph];
    lua_createtable(L, 0, 8);
    lua_pushstring(L, e->qid);
    lua_setfield(L, -2, "qid");
    lua_pushstring(L, e->question);
    lua_setfield(L, -2, "question");
    lua_pushstring(L, p->context);
    lua_setfield(L, -2, "context");
    lua_createtable(L, p->n_words, 0);
    for (int k = 0; k < p->n_words; k++) {
        lua_pushstring(L, p->words[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "doc_tokens");
    lua_createtable(L, e->n_answers, 0);
    for (int k = 0; k < e->n_answers; k++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, e->answers[k].text);
        lua_setfield(L, -2, "text");
        lua_pushinteger(L, e->answers[k].answer_start);
        lua_setfield(L, -2, "answer_start");
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "answers");
    if (ds->training) {
        lua_pushinteger(L, e->start_word);
        lua_setfield(L, -2, "start_word");
        lua_pushinteger(L, e->end_word);
        lua_setfield(L, -2, "end_word");
    }
    return 1;
}

/* ---- features ---- */
static int l_features(lua_State *L)
{
    zl_squad *ds = check_squad(L, 1);
    zl_tokenizer *tok = zl_lua_checktokenizer(L, 2);
    check_opts(L, 3, "squad.features", FEATURE_KEYS);
    zl_squad_feature_opts o = zl_squad_feature_defaults();
    o.max_seq_length = opt_int(L, 3, "max_seq_length", o.max_seq_length, 4);
    o.doc_stride = opt_int(L, 3, "doc_stride", o.doc_stride, 1);
    o.max_query_length = opt_int(L, 3, "max_query_length", o.max_query_length, 0);
    o.training = opt_bool(L, 3, "training", 0);
    o.pad = opt_bool(L, 3, "pad", 0);
    zl_lua_class_new(L, &FEATS, sizeof(zl_lua_box), 2, (const int[]){2, 1});
    /* the options' metamethods (or the allocation's finalizers) may have closed them */
    ds = check_squad(L, 1);
    tok = zl_lua_checktokenizer(L, 2);
    return zl_lua_class_set(L, &FEATS, zl_squad_features_new(ds, tok, &o));
}

static int f_count(lua_State *L)
{
    lua_pushinteger(L, check_feats(L, 1)->count);
    return 1;
}

/* feats:unk_share() -> the fraction of question and passage wordpieces that are [UNK], and
 * their count: a high share means a casing mismatch (issue 17) or a wrong vocabulary. */
static int f_unk_share(lua_State *L)
{
    zl_squad_features *f = check_feats(L, 1);
    int unk = zl_tokenizer_unk(f->tok);
    int64_t n = 0, k = 0;
    for (int i = 0; i < f->count; i++) {
        const zl_squad_feature *ft = &f->items[i];
        for (int t = 1; t < ft->length; t++) {
            if (t == ft->query_len + 1 || t == ft->length - 1) continue; /* [SEP]s */
            n++;
            k += ft->input_ids[t] == unk;
        }
    }
    lua_pushnumber(L, n ? (double)k / (double)n : 0.0);
    lua_pushinteger(L, (lua_Integer)n);
    return 2;
}

static void push_int_list(lua_State *L, const int32_t *v, int n, int total)
{
    lua_createtable(L, total, 0);
    for (int i = 0; i < total; i++) {
        lua_pushinteger(L, i < n ? v[i] : 0);
        lua_rawseti(L, -2, i + 1);
    }
}

static int f_get(lua_State *L)
{
    zl_squad_features *f = check_feats(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > f->count) return luaL_argerror(L, 2, "feature index out of range");
    const zl_squad_feature *ft = &f->items[i - 1];
    int total = f->opts.pad && f->opts.max_seq_length > ft->length ? f->opts.max_seq_length
                                                                     : ft->length;
    lua_createtable(L, 0, 12);
    lua_getiuservalue(L, 1, 2);
    zl_lua_box *sb = luaL_testudata(L, -1, SQUAD_MT);
    lua_pop(L, 1);
    const zl_squad *ds = sb ? sb->obj : NULL;
    if (ds && ft->example_index < ds->n_examples) {
        lua_pushstring(L, ds->examples[ft->example_index].qid);
        lua_setfield(L, -2, "qid");
    }
    lua_pushinteger(L, ft->example_index + 1);
    lua_setfield(L, -2, "example_index");
    lua_pushinteger(L, ft->doc_span_index);
    lua_setfield(L, -2, "doc_span_index");
    push_int_list(L, ft->input_ids, ft->length, total);
    lua_setfield(L, -2, "input_ids");
    lua_createtable(L, total, 0);
    for (int k = 0; k < total; k++) {
        lua_pushinteger(L, k >= ft->query_len + 2 && k < ft->length);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "segment_ids");
    lua_pushinteger(L, ft->length);
    lua_setfield(L, -2, "input_mask_len");
    lua_pushinteger(L, ft->length);
    lua_setfield(L, -2, "length");
    lua_pushinteger(L, ft->query_len);
    lua_setfield(L, -2, "query_length");
    int d0 = ft->query_len + 2;
    lua_createtable(L, ft->doc_len, 0);
    for (int k = 0; k < ft->doc_len; k++) {
        lua_createtable(L, 2, 0);
        lua_pushinteger(L, d0 + k);
        lua_rawseti(L, -2, 1);
        lua_pushinteger(L, ft->orig[k]);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "token_to_orig_map");
    lua_createtable(L, ft->doc_len, 0);
    int n = 0;
    for (int k = 0; k < ft->doc_len; k++) {
        if (!ft->max_ctx[k]) continue;
        lua_pushinteger(L, d0 + k);
        lua_rawseti(L, -2, ++n);
    }
    lua_setfield(L, -2, "token_is_max_context");
    lua_pushinteger(L, ft->start_position);
    lua_setfield(L, -2, "start_position");
    lua_pushinteger(L, ft->end_position);
    lua_setfield(L, -2, "end_position");
    return 1;
}

static int32_t *new_i32(lua_State *L, int nd, int64_t a, int64_t b)
{
    int64_t shape[2] = {a, b};
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_new(ZL_I32, nd, shape))) zl_lua_fail(L);
    return ZL_I32P(*slot);
}

static int f_batch(lua_State *L)
{
    zl_squad_features *f = check_feats(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2);
    lua_Integer count = luaL_checkinteger(L, 3);
    check_opts(L, 4, "batch", BATCH_KEYS);
    if (first < 1 || count < 1 || first > f->count || count > f->count - first + 1)
        return luaL_error(L, "batch: %I features from feature %I out of range (%d features)",
                          count, first, f->count);
    int L0 = 0;
    for (lua_Integer i = 0; i < count; i++) {
        int n = f->items[first - 1 + i].length;
        if (n > L0) L0 = n;
    }
    int width = L0;
    if (f->opts.pad && f->opts.max_seq_length > width) width = f->opts.max_seq_length;
    int pad_to = opt_int(L, 4, "pad_to", 0, 0);
    if (pad_to) {
        if (pad_to < L0)
            return luaL_error(L, "batch: pad_to %d is shorter than the longest feature (%d)",
                              pad_to, L0);
        width = pad_to;
    }
    static const char *const names[] = {"input_ids", "token_type_ids", "input_mask", "qmask",
                                        "pmask"};
    lua_createtable(L, 0, 7);
    int32_t *arr[5];
    for (int k = 0; k < 5; k++) {
        arr[k] = new_i32(L, 2, count, width);
        lua_setfield(L, -2, names[k]);
    }
    int32_t *sp = new_i32(L, 1, count, 0);
    lua_setfield(L, -2, "start_positions");
    int32_t *ep = new_i32(L, 1, count, 0);
    lua_setfield(L, -2, "end_positions");
    zl_squad_batch bt = {arr[0], arr[1], arr[2], arr[3], arr[4], sp, ep};
    if (zl_squad_features_batch(f, NULL, (int)first - 1, (int)count, width, &bt) != 0)
        return zl_lua_fail(L);
    return 1;
}

static const float *logits_table(lua_State *L, int idx, int *width);
static const float *logits_tensor(lua_State *L, int idx, int *rows, int *width);

/* Feature index argument (1-based in Lua) as a 0-based index. */
static int feature_arg(lua_State *L, const zl_squad_features *f, int idx)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    if (i < 1 || i > f->count) luaL_argerror(L, idx, "feature index out of range");
    return (int)i - 1;
}

/* feats:best_span(i, start_logits, end_logits [, {n_best_size, max_answer_length}])
 * -> start, end (0-based positions), score; nil when no span is valid. Core's decoder
 * rules for one feature (zl_squad_best_span). */
static int f_best_span(lua_State *L)
{
    static const char *const known[] = {"n_best_size", "max_answer_length", NULL};
    check_feats(L, 1);
    lua_settop(L, 5);
    check_opts(L, 5, "best_span", known);
    zl_squad_decode_opts o = zl_squad_decode_defaults();
    o.n_best_size = opt_int(L, 5, "n_best_size", o.n_best_size, 1);
    o.max_answer_length = opt_int(L, 5, "max_answer_length", o.max_answer_length, 1);
    int r1 = 1, w1 = 0, r2 = 1, w2 = 0;
    const float *sl = logits_table(L, 3, &w1), *el = logits_table(L, 4, &w2);
    if (!sl) sl = logits_tensor(L, 3, &r1, &w1);
    if (!el) el = logits_tensor(L, 4, &r2, &w2);
    /* the options' and tables' metamethods may have closed the features: take them now */
    zl_squad_features *f = check_feats(L, 1);
    int fi = feature_arg(L, f, 2);
    if (!(r1 == 1 && r2 == 1 && w1 == w2))
        return luaL_error(L, "best_span: start and end logits must be one row of equal length");
    int s = 0, e = 0;
    double score = 0;
    int rc = zl_squad_best_span(f, fi, sl, el, w1, &o, &s, &e, &score);
    if (rc < 0) return zl_lua_fail(L);
    if (rc == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, s);
    lua_pushinteger(L, e);
    lua_pushnumber(L, score);
    return 3;
}

/* feats:span_text(i, start, end [, {lower = <tokenizer's>}]) -> the answer text of
 * positions start..end (0-based) as the decoder makes it (zl_squad_span_text). */
static int f_span_text(lua_State *L)
{
    static const char *const known[] = {"lower", NULL};
    zl_squad_features *f = check_feats(L, 1);
    int fi = feature_arg(L, f, 2);
    lua_Integer s = luaL_checkinteger(L, 3), e = luaL_checkinteger(L, 4);
    check_opts(L, 5, "span_text", known);
    int lower = opt_bool(L, 5, "lower", zl_tokenizer_get_opts(f->tok).lower);
    lua_getiuservalue(L, 1, 2);
    zl_squad *ds = check_squad(L, -1);
    if (s < 0 || e < 0 || s > 1000000000 || e > 1000000000)
        return luaL_error(L, "span_text: positions %d..%d out of range", (int)s, (int)e);
    char *t = zl_squad_span_text(ds, f, fi, (int)s, (int)e, lower);
    if (!t) return zl_lua_fail(L);
    lua_pushstring(L, t);
    free(t);
    return 1;
}

/* ---- collector and decoding ---- */
static int l_collector(lua_State *L)
{
    zl_squad_features *f = check_feats(L, 1);
    zl_lua_class_new(L, &COLL, sizeof(zl_lua_box), 1, (const int[]){1});
    f = check_feats(L, 1); /* the allocation's finalizers may have closed them */
    return zl_lua_class_set(L, &COLL, zl_squad_collector_new(f));
}

static zl_squad_collector *check_coll(lua_State *L, int idx)
{
    zl_squad_collector *c = zl_lua_class_check(L, idx, &COLL)->obj;
    lua_getiuservalue(L, idx, 1);
    check_feats(L, -1);
    lua_pop(L, 1);
    return c;
}

/* Logits at idx given as a table: copied into a scratch userdata pushed on the stack
 * (reading the table may run metamethods, so this comes before any tensor pointer is
 * taken). NULL (nothing pushed) for a tensor; raises for anything else. */
static const float *logits_table(lua_State *L, int idx, int *width)
{
    if (zl_lua_totensor(L, idx)) return NULL;
    if (!lua_istable(L, idx)) luaL_argerror(L, idx, "logits must be a tensor or a table");
    lua_Integer n = luaL_len(L, idx);
    if (n < 0 || n > (1 << 24)) luaL_argerror(L, idx, "logits table is longer than 2^24");
    float *v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *v, 0); /* GC-owned */
    int vi = lua_gettop(L);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        int ok;
        lua_Number x = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_argerror(L, idx, "logits table must hold numbers");
        v[i - 1] = (float)x;
        lua_settop(L, vi);
    }
    *width = (int)n;
    return v;
}

/* Logits at idx as a tensor (after every table was read: no Lua code runs from here to
 * the core call). */
static const float *logits_tensor(lua_State *L, int idx, int *rows, int *width)
{
    zl_tensor *t = zl_lua_totensor(L, idx);
    if (!t || !t->data) luaL_argerror(L, idx, "logits tensor has been closed");
    if (t->dtype != ZL_F32 || t->ndim < 1 || t->ndim > 2 || t->shape[0] > INT_MAX ||
        t->shape[t->ndim - 1] > INT_MAX)
        luaL_argerror(L, idx, "logits must be an f32 tensor [B, L] or [L]");
    *rows = t->ndim == 2 ? (int)t->shape[0] : 1;
    *width = (int)t->shape[t->ndim - 1];
    return ZL_F32P(t);
}

static zl_squad_collector *check_coll(lua_State *L, int idx);

/* Adds the logits at si, ei to the collector at ci (checked open again after reading
 * tables, whose metamethods may have closed it or its features). */
static int add_logits(lua_State *L, int ci, int first, int si, int ei)
{
    int r1 = 1, w1 = 0, r2 = 1, w2 = 0;
    const float *s = logits_table(L, si, &w1);
    const float *e = logits_table(L, ei, &w2);
    if (!s) s = logits_tensor(L, si, &r1, &w1);
    if (!e) e = logits_tensor(L, ei, &r2, &w2);
    zl_squad_collector *c = check_coll(L, ci);
    if (r1 != r2 || w1 != w2) return luaL_error(L, "start and end logits differ in shape");
    if (zl_squad_collector_add(c, first, r1, w1, s, e) != 0) return zl_lua_fail(L);
    return 0;
}

static int c_add(lua_State *L)
{
    check_coll(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2);
    if (first < 1 || first > 1000000000) return luaL_argerror(L, 2, "feature index out of range");
    lua_settop(L, 4);
    add_logits(L, 1, (int)first - 1, 3, 4);
    return 0;
}

static int c_filled(lua_State *L)
{
    lua_pushinteger(L, zl_squad_collector_filled(check_coll(L, 1)));
    return 1;
}

static int push_predictions(lua_State *L, zl_squad_predictions *p)
{
    lua_createtable(L, 0, p->count);
    for (int i = 0; i < p->count; i++) {
        lua_pushstring(L, p->items[i].text);
        lua_setfield(L, -2, p->items[i].qid);
    }
    lua_createtable(L, 0, p->count);
    for (int i = 0; i < p->count; i++) {
        const zl_squad_prediction *q = &p->items[i];
        lua_createtable(L, q->n_nbest, 0);
        for (int k = 0; k < q->n_nbest; k++) {
            lua_createtable(L, 0, 4);
            lua_pushstring(L, q->nbest[k].text);
            lua_setfield(L, -2, "text");
            lua_pushnumber(L, q->nbest[k].probability);
            lua_setfield(L, -2, "probability");
            lua_pushnumber(L, q->nbest[k].start_logit);
            lua_setfield(L, -2, "start_logit");
            lua_pushnumber(L, q->nbest[k].end_logit);
            lua_setfield(L, -2, "end_logit");
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, q->qid);
    }
    return 2;
}

/* Decodes with collector at cidx; features at fidx; data set at didx; opts at oidx. */
static int run_decode(lua_State *L, int cidx, int fidx, int didx, int oidx)
{
    check_squad(L, didx);
    check_feats(L, fidx);
    check_opts(L, oidx, "decode", DECODE_KEYS);
    zl_squad_decode_opts o = zl_squad_decode_defaults();
    o.lower = zl_tokenizer_get_opts(check_feats(L, fidx)->tok).lower;
    o.n_best_size = opt_int(L, oidx, "n_best_size", o.n_best_size, 1);
    o.max_answer_length = opt_int(L, oidx, "max_answer_length", o.max_answer_length, 1);
    o.lower = opt_bool(L, oidx, "lower", o.lower);
    /* the options' metamethods may have closed anything: every pointer is taken now */
    zl_squad_collector *c = check_coll(L, cidx);
    zl_squad *ds = check_squad(L, didx);
    zl_squad_features *f = check_feats(L, fidx);
    zl_squad_predictions *p = zl_squad_decode(ds, f, c, &o);
    if (!p) return zl_lua_fail(L);
    /* a Lua error while pushing would leak p: tables are small, memory errors only */
    int n = push_predictions(L, p);
    zl_squad_predictions_free(p);
    return n;
}

static int c_decode(lua_State *L)
{
    check_coll(L, 1);
    lua_settop(L, 3);
    lua_getiuservalue(L, 1, 1); /* features */
    return run_decode(L, 1, 4, 2, 3);
}

/* zl.squad.decode(ds, feats, results, opts) */
static int l_decode(lua_State *L)
{
    lua_settop(L, 4);
    check_squad(L, 1);
    zl_squad_features *f = check_feats(L, 2);
    check_opts(L, 4, "squad.decode", DECODE_KEYS);
    int is_fn = lua_isfunction(L, 3);
    if (!is_fn) luaL_checktype(L, 3, LUA_TTABLE);
    /* the collector lives in a userdata so an error while reading results frees it */
    lua_pushcfunction(L, l_collector);
    lua_pushvalue(L, 2);
    lua_call(L, 1, 1);
    int cidx = lua_gettop(L);
    check_coll(L, cidx);
    for (int i = 0; i < f->count; i++) {
        if (is_fn) {
            lua_pushvalue(L, 3);
            lua_call(L, 0, 1);
        } else {
            lua_geti(L, 3, i + 1);
        }
        if (!lua_istable(L, -1))
            return luaL_error(L, "decode: result %d missing (need one per feature, %d features)",
                              i + 1, f->count);
        int r = lua_gettop(L);
        lua_getfield(L, r, "start_logits");
        lua_getfield(L, r, "end_logits");
        if (lua_isnil(L, -1) || lua_isnil(L, -2))
            return luaL_error(L, "decode: result %d needs start_logits and end_logits", i + 1);
        add_logits(L, cidx, i, r + 1, r + 2);
        lua_settop(L, cidx);
    }
    return run_decode(L, cidx, 2, 1, 4);
}

/* zl.squad.write_predictions(path, {qid = text}): core's writer (zl_squad_write_predictions),
 * the strings borrowed from the table for the call. */
static int l_write_predictions(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_argerror(L, 2, "predictions must map question ids to strings");
        n++;
        lua_pop(L, 1);
    }
    if (n > (size_t)1 << 30) return luaL_argerror(L, 2, "too many predictions");
    zl_squad_prediction *items = lua_newuserdatauv(L, (n + 1) * sizeof *items, 0); /* GC-owned */
    memset(items, 0, (n + 1) * sizeof *items);
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        /* the table keeps both strings alive; the writer only reads them */
        items[k].qid = (char *)lua_tostring(L, -2);
        items[k].text = (char *)lua_tostring(L, -1);
        k++;
        lua_pop(L, 1);
    }
    zl_squad_predictions p = {(int)n, items};
    if (zl_squad_write_predictions(path, &p) != 0) return zl_lua_fail(L);
    return 0;
}

static int l_final_text(lua_State *L)
{
    const char *pred = luaL_checkstring(L, 1);
    const char *orig = luaL_checkstring(L, 2);
    int lower = lua_toboolean(L, 3);
    char *r = zl_squad_final_text(pred, orig, lower);
    if (!r) return zl_lua_fail(L);
    lua_pushstring(L, r);
    free(r);
    return 1;
}

int zl_lua_open_squad(lua_State *L)
{
    static const luaL_Reg sm[] = {{"count", s_count}, {"example", s_example},
                                  {"skipped", s_skipped}, {"skipped_ids", s_skipped_ids},
                                  {NULL, NULL}};
    static const luaL_Reg fm[] = {{"count", f_count}, {"get", f_get}, {"batch", f_batch},
                                  {"unk_share", f_unk_share}, {"best_span", f_best_span},
                                  {"span_text", f_span_text}, {NULL, NULL}};
    static const luaL_Reg cm[] = {{"add", c_add}, {"filled", c_filled}, {"decode", c_decode},
                                  {NULL, NULL}};
    zl_lua_class_open(L, &SQUAD, sm, s_count);
    zl_lua_class_open(L, &FEATS, fm, f_count);
    zl_lua_class_open(L, &COLL, cm, NULL);
    static const luaL_Reg fns[] = {{"load", l_load},
                                   {"features", l_features},
                                   {"collector", l_collector},
                                   {"decode", l_decode},
                                   {"write_predictions", l_write_predictions},
                                   {"final_text", l_final_text},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
