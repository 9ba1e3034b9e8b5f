/* ltokenizer.c — zonelab.tokenizer: the WordPiece tokenizer of core/tokenizer.h.
 *
 *   local tok = zl.tokenizer.load(vocab_path, {lower = true, cmrc = false})
 *   tok:tokenize(text)   -> {pieces}      ("[UNK]" for unknown words)
 *   tok:encode(text)     -> {ids}         (vocabulary ids: line number - 1, as vocab.txt)
 *   tok:id(piece)        -> id or nil
 *   tok:piece(id)        -> piece or nil
 *   tok:basic(text, [lower]) -> {words}   (Google's BasicTokenizer alone)
 *   #tok                 -> vocabulary size (lines)
 *   tok:options()        -> {lower =, cmrc =}
 * Invalid UTF-8 bytes in text are dropped (as tokenization.convert_to_unicode). */
#include "zl_lua.h"
#include "error.h"
#include "tokenizer.h"

#include <string.h>

#define TOKENIZER_MT "zonelab.tokenizer"

static void tok_free(void *t) { zl_tokenizer_free(t); }

static void tok_describe(lua_State *L, zl_lua_box *b)
{
    zl_tokenizer_opts o = zl_tokenizer_get_opts(b->obj);
    lua_pushfstring(L, "tokenizer: %d pieces, %s%s", zl_tokenizer_size(b->obj),
                    o.lower ? "lower-cased" : "cased", o.cmrc ? ", CMRC variant" : "");
}

/* an owner (lpin.c): features borrow it */
static const zl_lua_class TOKENIZER = {TOKENIZER_MT, "tokenizer has been closed",
                                       "tokenizer (closed)", tok_free, 1, 0, tok_describe};

zl_tokenizer *zl_lua_checktokenizer(lua_State *L, int idx)
{
    return zl_lua_class_check(L, idx, &TOKENIZER)->obj;
}

static int opt_bool(lua_State *L, int idx, const char *key, int def)
{
    if (!lua_isnoneornil(L, idx)) luaL_checktype(L, idx, LUA_TTABLE);
    return zl_lua_opt_bool(L, idx, "tokenizer.load", key, def);
}

static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {"lower", "cmrc", NULL};
    zl_lua_opts_check(L, 2, "tokenizer.load", known);
    zl_tokenizer_opts o = {opt_bool(L, 2, "lower", 0), opt_bool(L, 2, "cmrc", 0)};
    zl_lua_class_new(L, &TOKENIZER, sizeof(zl_lua_box), 0, NULL);
    return zl_lua_class_set(L, &TOKENIZER, zl_tokenizer_load(path, &o));
}

static void encode(lua_State *L, zl_tokenizer *t, zl_ids *ids)
{
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (zl_tokenizer_encode(t, s, len, ids)) {
        zl_ids_free(ids);
        zl_lua_fail(L);
    }
}

/* tok:tokenize(text) -> {pieces}; tok:encode(text) -> {ids} */
static int push_encoded(lua_State *L, int pieces)
{
    zl_tokenizer *t = zl_lua_checktokenizer(L, 1);
    zl_ids ids = {0};
    encode(L, t, &ids);
    lua_createtable(L, ids.n, 0);
    for (int i = 0; i < ids.n; i++) {
        if (pieces) lua_pushstring(L, zl_tokenizer_piece(t, ids.v[i]));
        else lua_pushinteger(L, ids.v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    zl_ids_free(&ids);
    return 1;
}

static int m_tokenize(lua_State *L) { return push_encoded(L, 1); }
static int m_encode(lua_State *L) { return push_encoded(L, 0); }

static int m_basic(lua_State *L)
{
    zl_tokenizer *t = zl_lua_checktokenizer(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    int lower = lua_isnoneornil(L, 3) ? zl_tokenizer_get_opts(t).lower : lua_toboolean(L, 3);
    zl_words w = {0};
    if (zl_tokenizer_basic(s, len, lower, &w)) {
        zl_words_free(&w);
        return zl_lua_fail(L);
    }
    lua_createtable(L, w.n, 0);
    for (int i = 0; i < w.n; i++) {
        lua_pushstring(L, w.buf + w.off[i]);
        lua_rawseti(L, -2, i + 1);
    }
    zl_words_free(&w);
    return 1;
}

static int m_id(lua_State *L)
{
    zl_tokenizer *t = zl_lua_checktokenizer(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    int id = zl_tokenizer_id(t, s, len);
    if (id < 0) lua_pushnil(L);
    else lua_pushinteger(L, id);
    return 1;
}

static int m_piece(lua_State *L)
{
    zl_tokenizer *t = zl_lua_checktokenizer(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    const char *p = (id >= 0 && id < zl_tokenizer_size(t)) ? zl_tokenizer_piece(t, (int)id) : NULL;
    if (p) lua_pushstring(L, p);
    else lua_pushnil(L);
    return 1;
}

static int m_len(lua_State *L)
{
    lua_pushinteger(L, zl_tokenizer_size(zl_lua_checktokenizer(L, 1)));
    return 1;
}

static int m_options(lua_State *L)
{
    zl_tokenizer_opts o = zl_tokenizer_get_opts(zl_lua_checktokenizer(L, 1));
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, o.lower);
    lua_setfield(L, -2, "lower");
    lua_pushboolean(L, o.cmrc);
    lua_setfield(L, -2, "cmrc");
    return 1;
}

int zl_lua_open_tokenizer(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"tokenize", m_tokenize}, {"encode", m_encode}, {"basic", m_basic},
        {"id", m_id}, {"piece", m_piece}, {"options", m_options}, {NULL, NULL}};
    zl_lua_class_open(L, &TOKENIZER, methods, m_len);
    static const luaL_Reg fns[] = {{"load", l_load}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
