/* lmetrics.c — zonelab.metrics: official SQuAD v1.1 / CMRC 2018 scores (see core/metrics.h).
 * Every score it returns is x100 (EM 0 or 100 per question, F1 0..100).
 *
 *   local ds = zl.metrics.load("dev-v1.1.json")           -- gold answers, loaded once
 *   local r = zl.metrics.squad(ds, "predictions.json")      -- or a {qid = text} table
 *   print(r.exact_match, r.f1, r.missing)                   -- r.per_question[qid].em/.f1
 *   zl.metrics.cmrc(ds, preds)  zl.metrics.normalize(s)  zl.metrics.em(pred, golds)
 */
#include "zl_lua.h"
#include "error.h"
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

#define DATASET_MT "zonelab.metrics.dataset"

static void dataset_free(void *p) { zl_metrics_dataset_free(p); }

static void dataset_describe(lua_State *L, zl_lua_box *b)
{
    lua_pushfstring(L, "metrics dataset: %d questions", zl_metrics_dataset_count(b->obj));
}

/* an owner (lpin.c): a score pins it while the predictions' metamethods run */
static const zl_lua_class DATASET = {DATASET_MT, "dataset has been closed",
                                     "metrics dataset (closed)", dataset_free, 1, 0,
                                     dataset_describe};

static zl_metrics_dataset *check_dataset(lua_State *L, int idx)
{
    return zl_lua_class_check(L, idx, &DATASET)->obj;
}

/* Pushes a dataset read from the path or the table at idx (a decoded SQuAD-style table
 * {data = {{paragraphs = {{qas = ...}}}}}: the core's SQuAD reader judges it as it judges
 * a file). */
static zl_metrics_dataset *new_dataset(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    zl_lua_class_new(L, &DATASET, sizeof(zl_lua_box), 0, NULL);
    zl_metrics_dataset *ds;
    if (lua_type(L, idx) == LUA_TSTRING) {
        ds = zl_metrics_dataset_load(lua_tostring(L, idx));
    } else {
        const struct cJSON *root = zl_lua_tojson(L, idx, "dataset table");
        ds = zl_metrics_dataset_from_json("dataset table", root);
        lua_pop(L, 1); /* the tree, freed by the collector */
    }
    zl_lua_class_set(L, &DATASET, ds);
    return ds;
}

/* zonelab.metrics.load(path) -> dataset */
static int m_load(lua_State *L)
{
    luaL_checkstring(L, 1);
    new_dataset(L, 1);
    return 1;
}

/* The dataset argument: a dataset, a path or a table. Leaves a dataset userdata at idx. */
static zl_metrics_dataset *arg_dataset(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TTABLE)
        return check_dataset(L, idx);
    zl_metrics_dataset *ds = new_dataset(L, idx);
    lua_replace(L, idx);
    return ds;
}

static void push_result(lua_State *L, const zl_metrics_dataset *ds, const zl_metrics_result *r,
                        int per_question)
{
    lua_createtable(L, 0, 8);
    lua_pushnumber(L, r->exact_match);
    lua_setfield(L, -2, "exact_match");
    lua_pushnumber(L, r->f1);
    lua_setfield(L, -2, "f1");
    lua_pushinteger(L, r->total);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, r->missing);
    lua_setfield(L, -2, "missing");
    lua_pushinteger(L, r->extra);
    lua_setfield(L, -2, "extra");
    lua_createtable(L, r->missing, 0);
    for (int i = 0, k = 1; i < r->total; i++)
        if (!r->answered[i]) {
            lua_pushstring(L, zl_metrics_dataset_id(ds, i));
            lua_rawseti(L, -2, k++);
        }
    lua_setfield(L, -2, "missing_ids");
    if (!per_question) return;
    lua_createtable(L, 0, r->total);
    lua_createtable(L, r->total, 0);
    for (int i = 0; i < r->total; i++) {
        const char *id = zl_metrics_dataset_id(ds, i);
        lua_createtable(L, 0, 2);
        lua_pushnumber(L, r->em[i]);
        lua_setfield(L, -2, "em");
        lua_pushnumber(L, r->f1q[i]);
        lua_setfield(L, -2, "f1");
        lua_setfield(L, -3, id);
        lua_pushstring(L, id);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -3, "ids"); /* question ids in dataset order */
    lua_setfield(L, -2, "per_question");
}

/* squad/cmrc(dataset|path|table, predictions (table or path), [{per_question = bool}]) */
static int score(lua_State *L, zl_metrics_kind kind)
{
    lua_settop(L, 3);
    zl_metrics_dataset *ds = arg_dataset(L, 1);
    /* the predictions' metamethods may close the data set: it stays allocated until
     * the call ends (lpin.c) */
    zl_lua_pin(L, 1);
    int per_question = 1;
    if (lua_istable(L, 3)) {
        static const char *const known[] = {"per_question", NULL};
        zl_lua_opts_check(L, 3, "metrics", known);
        per_question = zl_lua_opt_bool(L, 3, "metrics", "per_question", 1);
    } else if (!lua_isnil(L, 3)) {
        return luaL_typeerror(L, 3, "table or nil");
    }
    zl_metrics_result *r = NULL;
    if (lua_type(L, 2) == LUA_TSTRING) {
        r = zl_metrics_score_file(ds, kind, lua_tostring(L, 2));
        if (!r) return zl_lua_fail(L);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        int n = zl_metrics_dataset_count(ds);
        const char **preds = lua_newuserdatauv(L, sizeof(char *) * ((size_t)n + 1), 0);
        /* an answer given by __index lives only in this scratch table: it keeps it alive */
        lua_createtable(L, n, 0);
        int keep = lua_gettop(L);
        for (int i = 0; i < n; i++) {
            int t = lua_getfield(L, 2, zl_metrics_dataset_id(ds, i));
            if (t != LUA_TNIL && t != LUA_TSTRING)
                return luaL_error(L, "predictions: the answer to question %s is a %s, not a string",
                                  zl_metrics_dataset_id(ds, i), lua_typename(L, t));
            preds[i] = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            lua_rawseti(L, keep, i + 1);
        }
        int extra = 0;
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING ||
                zl_metrics_dataset_find(ds, lua_tostring(L, -1)) < 0)
                extra++;
        }
        r = zl_metrics_score(ds, kind, preds);
        if (!r) return zl_lua_fail(L);
        r->extra = extra;
    }
    push_result(L, ds, r, per_question);
    zl_metrics_result_free(r);
    return 1;
}

static int m_squad(lua_State *L) { return score(L, ZL_METRICS_SQUAD); }
static int m_cmrc(lua_State *L) { return score(L, ZL_METRICS_CMRC); }

static int m_normalize(lua_State *L)
{
    char *s = zl_metrics_normalize(luaL_checkstring(L, 1));
    if (!s) return zl_lua_fail(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* em/f1(pred, golds (string or list), [kind "squad"|"cmrc"]) -> x100 */
static int single(lua_State *L, int want_f1)
{
    const char *pred = luaL_checkstring(L, 1);
    static const char *const kinds[] = {"squad", "cmrc", NULL};
    zl_metrics_kind kind = (zl_metrics_kind)luaL_checkoption(L, 3, "squad", kinds);
    const char *golds[256];
    int n = 0;
    if (lua_type(L, 2) == LUA_TSTRING) {
        golds[n++] = lua_tostring(L, 2);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        for (lua_Integer k = 1; lua_geti(L, 2, k) != LUA_TNIL; k++) {
            if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, 2, "gold answers must be strings");
            if (n == 256) luaL_argerror(L, 2, "more than 256 gold answers");
            golds[n++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        if (n == 0) luaL_argerror(L, 2, "no gold answers");
    }
    double v = want_f1 ? zl_metrics_f1(kind, pred, golds, n) : zl_metrics_em(kind, pred, golds, n);
    if (v < 0) return zl_lua_fail(L);
    lua_pushnumber(L, 100.0 * v);
    return 1;
}

static int m_em(lua_State *L) { return single(L, 0); }
static int m_f1(lua_State *L) { return single(L, 1); }

/* segment(s, [rm_punc=false]) -> CMRC mixed_segmentation tokens */
static int m_segment(lua_State *L)
{
    const char *s = luaL_checkstring(L, 1);
    char *blk;
    int n = zl_metrics_cmrc_segment(s, lua_toboolean(L, 2), &blk);
    if (n < 0) return zl_lua_fail(L);
    lua_createtable(L, n, 0);
    const char *p = blk;
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, p);
        lua_rawseti(L, -2, i + 1);
        p += strlen(p) + 1;
    }
    free(blk);
    return 1;
}

static int m_remove_punctuation(lua_State *L)
{
    char *s = zl_metrics_cmrc_remove_punctuation(luaL_checkstring(L, 1));
    if (!s) return zl_lua_fail(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

/* ---- dataset methods ---- */
static int d_len(lua_State *L)
{
    lua_pushinteger(L, zl_metrics_dataset_count(check_dataset(L, 1)));
    return 1;
}

/* ds:ids() -> question ids in dataset order */
static int d_ids(lua_State *L)
{
    zl_metrics_dataset *ds = check_dataset(L, 1);
    int n = zl_metrics_dataset_count(ds);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, zl_metrics_dataset_id(ds, i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ds:golds(qid or 1-based index) -> list of gold answer texts, or nil */
static int d_golds(lua_State *L)
{
    zl_metrics_dataset *ds = check_dataset(L, 1);
    lua_Integer i = lua_type(L, 2) == LUA_TNUMBER ? luaL_checkinteger(L, 2)
                                                  : zl_metrics_dataset_find(ds, luaL_checkstring(L, 2)) + 1;
    if (i < 1 || i > zl_metrics_dataset_count(ds)) {
        lua_pushnil(L);
        return 1;
    }
    int n = zl_metrics_dataset_n_golds(ds, (int)i - 1);
    lua_createtable(L, n, 0);
    for (int k = 0; k < n; k++) {
        lua_pushstring(L, zl_metrics_dataset_gold(ds, (int)i - 1, k));
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

int zl_lua_open_metrics(lua_State *L)
{
    static const luaL_Reg methods[] = {{"ids", d_ids}, {"golds", d_golds}, {NULL, NULL}};
    zl_lua_class_open(L, &DATASET, methods, d_len);
    static const luaL_Reg fns[] = {{"load", m_load}, {"squad", m_squad}, {"cmrc", m_cmrc},
                                   {"normalize", m_normalize}, {"em", m_em}, {"f1", m_f1},
                                   {"segment", m_segment},
                                   {"remove_punctuation", m_remove_punctuation}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
