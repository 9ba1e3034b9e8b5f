/* lmlm.c — zonelab.mlm: the pretraining corpus of core/mlm.h as a full userdata.
 * See docs/training.md ("Pretraining").
 *
 *   local c = zl.mlm.corpus(tok, {max_seq_length = 128})   -- needs [CLS], [SEP], [MASK]
 *   c:add(text)           -- one document: tokenized, cut into instances of 126 wordpieces
 *   c:count() ; c:tokens() ; c:unk()
 *   tr:step_mlm(c, order, first, count, {pad_to =, whole_word =, prob =})  (ltrain.c)
 * The corpus keeps its tokenizer alive (uservalue 1) and checks it is open on every add. */
#include "zl_lua.h"
#include "error.h"
#include "mlm.h"
#include "tokenizer.h"

#include <string.h>

#define CORPUS_MT "zonelab.mlm.corpus"

typedef struct {
    zl_lua_box box;             /* its object is d, in the box itself */
    zl_mlm_data d;
    int ids[4];                 /* [CLS], [SEP], [MASK], vocabulary size of the tokenizer */
} corpus_box;

static void corpus_free(void *d) { zl_mlm_data_free(d); }

static void corpus_describe(lua_State *L, zl_lua_box *b)
{
    const zl_mlm_data *d = b->obj;
    lua_pushfstring(L, "mlm corpus: %d instances, %I wordpieces", d->count, (lua_Integer)d->n_tokens);
}

/* uservalue 1: the tokenizer (kept, not borrowed: checked open on every add) */
static const zl_lua_class CORPUS = {CORPUS_MT, "corpus has been closed", "mlm corpus (closed)",
                                    corpus_free, 0, 0, corpus_describe};

static corpus_box *checkbox(lua_State *L, int idx)
{
    return (corpus_box *)zl_lua_class_check(L, idx, &CORPUS);
}

struct zl_mlm_data *zl_lua_checkcorpus(lua_State *L, int idx, int ids[4])
{
    corpus_box *b = checkbox(L, idx);
    memcpy(ids, b->ids, sizeof b->ids);
    return &b->d;
}

/* zonelab.mlm.corpus(tok, {max_seq_length = N}) */
static int l_corpus(lua_State *L)
{
    static const char *const known[] = {"max_seq_length", NULL};
    /* the options first: their metamethods may close the tokenizer (lpin.c) */
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_lua_opts_check(L, 2, "mlm.corpus", known);
    int seq = zl_lua_opt_int(L, 2, "mlm.corpus", "max_seq_length", 128, 3, 1 << 20);
    zl_tokenizer *t = zl_lua_checktokenizer(L, 1);
    int mask = zl_tokenizer_id(t, "[MASK]", 6);
    if (mask < 0) return luaL_error(L, "mlm.corpus: the vocabulary has no [MASK] piece");
    int cls = zl_tokenizer_cls(t), sep = zl_tokenizer_sep(t);
    if (cls < 0 || sep < 0) return luaL_error(L, "mlm.corpus: the vocabulary has no [CLS] or [SEP]");
    int size = zl_tokenizer_size(t);
    corpus_box *b = zl_lua_class_new(L, &CORPUS, sizeof *b, 1, (const int[]){1});
    b->ids[0] = cls;
    b->ids[1] = sep;
    b->ids[2] = mask;
    b->ids[3] = size;
    return zl_lua_class_set(L, &CORPUS, zl_mlm_data_init(&b->d, seq) == 0 ? &b->d : NULL);
}

static int c_add(lua_State *L)
{
    corpus_box *b = checkbox(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    lua_getiuservalue(L, 1, 1);
    zl_tokenizer *t = zl_lua_checktokenizer(L, -1);
    if (zl_mlm_data_add(&b->d, t, s, len) != 0) return zl_lua_fail(L);
    lua_pop(L, 1);
    return 0;
}

static int c_count(lua_State *L)
{
    lua_pushinteger(L, checkbox(L, 1)->d.count);
    return 1;
}

static int c_tokens(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)checkbox(L, 1)->d.n_tokens);
    return 1;
}

static int c_unk(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)checkbox(L, 1)->d.unk);
    return 1;
}

int zl_lua_open_mlm(lua_State *L)
{
    static const luaL_Reg methods[] = {{"add", c_add}, {"count", c_count}, {"tokens", c_tokens},
                                       {"unk", c_unk}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"corpus", l_corpus}, {NULL, NULL}};
    zl_lua_class_open(L, &CORPUS, methods, NULL);
    luaL_newlib(L, fns);
    return 1;
}
