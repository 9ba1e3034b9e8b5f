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
    zl_mlm_data d;
    int open;
    int ids[4];                 /* [CLS], [SEP], [MASK], vocabulary size of the tokenizer */
} corpus_box;

static corpus_box *checkbox(lua_State *L, int idx)
{
    corpus_box *b = luaL_checkudata(L, idx, CORPUS_MT);
    if (!b->open) luaL_argerror(L, idx, "corpus has been closed");
    return b;
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
    corpus_box *b = lua_newuserdatauv(L, sizeof *b, 1);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, CORPUS_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    if (zl_mlm_data_init(&b->d, seq) != 0) return zl_lua_fail(L);
    b->open = 1;
    b->ids[0] = cls;
    b->ids[1] = sep;
    b->ids[2] = mask;
    b->ids[3] = zl_tokenizer_size(t);
    return 1;
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

static int c_gc(lua_State *L)
{
    corpus_box *b = luaL_checkudata(L, 1, CORPUS_MT);
    if (b->open) zl_mlm_data_free(&b->d);
    b->open = 0;
    return 0;
}

static int c_tostring(lua_State *L)
{
    corpus_box *b = luaL_checkudata(L, 1, CORPUS_MT);
    if (!b->open) lua_pushliteral(L, "mlm corpus (closed)");
    else lua_pushfstring(L, "mlm corpus: %d instances, %I wordpieces", b->d.count,
                         (lua_Integer)b->d.n_tokens);
    return 1;
}

int zl_lua_open_mlm(lua_State *L)
{
    static const luaL_Reg methods[] = {{"add", c_add}, {"count", c_count}, {"tokens", c_tokens},
                                       {"unk", c_unk}, {"close", c_gc}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", c_gc}, {"__close", c_gc}, {"__tostring", c_tostring}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"corpus", l_corpus}, {NULL, NULL}};
    luaL_newmetatable(L, CORPUS_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
