/* lsweep.c — zonelab.sweep: the batch-major decode engine of core/sweep.h. The recipes
 * decode.lua and sweep.lua drive it through stdlib/zonelab/qa.lua.
 *
 *   local s = zl.sweep.new(model, ds, feats, {{zone = "none"}, {zone = "q2", layer = 0},
 *       {zone = "p2", layer = "all"}}, {batch = 32, padding = "max" | "dynamic", keep_pad = 20,
 *       spill = dir_or_nil, spill_keep = false})
 *   for b = 1, s:batches() do s:step(b) end        -- s:batch_cost(b): tokens, for an ETA
 *   local offsets = s:sync()    -- spilling: checkpoint after some batches (sizes of the files)
 *   s:resume(offsets)           -- after new{..., spill_keep = true}: continue from there
 *   local preds = s:write(2, "pred.json", "nbest.json", {n_best_size = 20,
 *       max_answer_length = 30, lower = true})  -- decodes config 2, writes nbest then
 *                                                -- predictions (atomic), frees its logits
 *   s:close()
 * Layers are 0-based (as the reference's --mask_layer); "all" (or -1) masks every layer.
 * The sweep keeps the model, the data set and the features alive while it lives. */
#include "zl_lua.h"
#include "bert.h"
#include "error.h"
#include "squad.h"
#include "sweep.h"

#include <string.h>

#define SWEEP_MT "zonelab.sweep"
typedef struct { zl_sweep *s; int n_cfg; } sweep_box;

enum { UV_MODEL = 1, UV_DS, UV_FEATS, UV_COUNT = UV_FEATS };

/* lsquad.c's checks: the data set, and features whose tokenizer is still open. */
#define check_ds zl_lua_checksquad
#define check_feats zl_lua_checkfeatures

static sweep_box *check_sweep(lua_State *L, int idx)
{
    sweep_box *b = luaL_checkudata(L, idx, SWEEP_MT);
    if (!b->s) luaL_argerror(L, idx, "sweep has been closed");
    /* what it borrows must still be open (closing them early is a usage error) */
    lua_getiuservalue(L, idx, UV_MODEL);
    zl_lua_checkbert(L, -1);
    lua_getiuservalue(L, idx, UV_DS);
    check_ds(L, -1);
    lua_getiuservalue(L, idx, UV_FEATS);
    check_feats(L, -1);
    lua_pop(L, 3);
    return b;
}

static int opt_int(lua_State *L, int idx, const char *key, int def, int lo)
{
    if (lua_isnoneornil(L, idx)) return def;
    lua_getfield(L, idx, key);
    int v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok || x < lo || x > 1000000000)
            luaL_error(L, "option %s must be an integer >= %d", key, lo);
        v = (int)x;
    }
    lua_pop(L, 1);
    return v;
}

/* Reads configuration k (1-based) of the table at idx. */
static zl_sweep_config read_config(lua_State *L, int idx, int k, int nlayers)
{
    zl_sweep_config c = {ZL_ZONE_NONE, -1};
    lua_geti(L, idx, k);
    if (!lua_istable(L, -1)) luaL_error(L, "sweep.new: configuration %d must be a table", k);
    lua_getfield(L, -1, "zone");
    if (!lua_isnil(L, -1)) {
        const char *z = lua_tostring(L, -1);
        int zone = z ? zl_zone_parse(z) : -1;
        if (zone < 0)
            luaL_error(L, "sweep.new: configuration %d: zone must be one of none, q2, q2p, p2q, "
                          "p2, all, all_strict", k);
        c.zone = (zl_zone)zone;
    }
    lua_pop(L, 1);
    lua_getfield(L, -1, "layer");
    if (!lua_isnil(L, -1) && !(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "all") == 0)) {
        int ok;
        lua_Integer l = lua_tointegerx(L, -1, &ok);
        if (!ok || l < -1 || l >= nlayers)
            luaL_error(L, "sweep.new: configuration %d: layer must be \"all\" or a 0-based layer "
                          "0..%d", k, nlayers - 1);
        c.layer = (int)l;
    }
    lua_pop(L, 2);
    if (c.zone == ZL_ZONE_NONE) c.layer = -1;
    return c;
}

/* zl.sweep.new(model, ds, feats, configs, opts) */
static int l_new(lua_State *L)
{
    zl_bert *m = zl_lua_checkbert(L, 1);
    check_ds(L, 2);
    zl_squad_features *f = check_feats(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
    lua_settop(L, 5);
    int n = (int)luaL_len(L, 4);
    if (n < 1) return luaL_argerror(L, 4, "at least one configuration");
    zl_sweep_opts o = zl_sweep_defaults();
    o.batch = opt_int(L, 5, "batch", o.batch, 1);
    o.keep_pad = opt_int(L, 5, "keep_pad", o.keep_pad, 0);
    if (!lua_isnil(L, 5)) {
        lua_getfield(L, 5, "padding");
        if (!lua_isnil(L, -1)) {
            const char *p = lua_tostring(L, -1);
            if (p && strcmp(p, "max") == 0) o.padding = ZL_SWEEP_PAD_MAX;
            else if (p && strcmp(p, "dynamic") == 0) o.padding = ZL_SWEEP_PAD_DYNAMIC;
            else return luaL_error(L, "sweep.new: padding must be \"max\" or \"dynamic\"");
        }
        lua_pop(L, 1);
    }
    if (!lua_isnil(L, 5)) {
        lua_getfield(L, 5, "spill");
        if (!lua_isnil(L, -1)) o.spill_dir = luaL_checkstring(L, -1); /* kept on the stack */
        lua_getfield(L, 5, "spill_keep");
        o.spill_keep = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* userdata first; the configuration array lives in a scratch userdata (GC-owned) */
    zl_sweep_config *cfg = lua_newuserdatauv(L, (size_t)n * sizeof *cfg, 0);
    for (int k = 1; k <= n; k++) cfg[k - 1] = read_config(L, 4, k, m->config.num_hidden_layers);
    sweep_box *b = lua_newuserdatauv(L, sizeof *b, UV_COUNT);
    b->s = NULL;
    b->n_cfg = n;
    luaL_setmetatable(L, SWEEP_MT);
    for (int k = 1; k <= UV_COUNT; k++) {
        lua_pushvalue(L, k);
        lua_setiuservalue(L, -2, k);
    }
    /* reading the options and configurations may have run metamethods that closed the
     * model, data set or features: take the pointers again now */
    m = zl_lua_checkbert(L, 1);
    check_ds(L, 2);
    f = check_feats(L, 3);
    if (!(b->s = zl_sweep_new(m, f, cfg, n, &o))) return zl_lua_fail(L);
    /* the model and the features (read by the sweep's collectors) are freed after it (lpin.c) */
    zl_lua_borrow(L, -1, UV_MODEL);
    zl_lua_borrow(L, -1, UV_DS);
    zl_lua_borrow(L, -1, UV_FEATS);
    return 1;
}

static int check_batch(lua_State *L, sweep_box *b, int idx)
{
    lua_Integer k = luaL_checkinteger(L, idx);
    int n = zl_sweep_batches(b->s);
    if (k < 1 || k > n) luaL_argerror(L, idx, "batch index out of range");
    return (int)k - 1;
}

static int s_batches(lua_State *L)
{
    lua_pushinteger(L, zl_sweep_batches(check_sweep(L, 1)->s));
    return 1;
}

static int s_batch_cost(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    lua_pushnumber(L, zl_sweep_batch_cost(b->s, check_batch(L, b, 2)));
    return 1;
}

static int s_step(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    if (zl_sweep_step(b->s, check_batch(L, b, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

/* s:write(i, predictions_path, nbest_path_or_nil, opts) -> {qid = text} */
static int s_write(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > b->n_cfg) return luaL_argerror(L, 2, "configuration index out of range");
    const char *pred_path = luaL_optstring(L, 3, NULL);
    const char *nbest_path = luaL_optstring(L, 4, NULL);
    if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
    lua_settop(L, 5);
    lua_getiuservalue(L, 1, UV_DS);   /* 6 */
    lua_getiuservalue(L, 1, UV_FEATS); /* 7 */
    zl_squad_decode_opts o = zl_squad_decode_defaults();
    o.lower = zl_tokenizer_get_opts(check_feats(L, 7)->tok).lower;
    o.n_best_size = opt_int(L, 5, "n_best_size", o.n_best_size, 1);
    o.max_answer_length = opt_int(L, 5, "max_answer_length", o.max_answer_length, 1);
    if (!lua_isnil(L, 5)) {
        lua_getfield(L, 5, "lower");
        if (!lua_isnil(L, -1)) o.lower = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    /* the options' metamethods may have closed anything: take the pointers now */
    b = check_sweep(L, 1);
    zl_squad *ds = check_ds(L, 6);
    check_feats(L, 7);
    /* the result table first: nothing can raise between decode and free but pushes */
    lua_createtable(L, 0, ds->n_examples);
    zl_squad_predictions *p = zl_sweep_decode(b->s, (int)i - 1, ds, &o);
    if (!p) return zl_lua_fail(L);
    int rc = 0;
    if (nbest_path) rc = zl_squad_write_nbest(nbest_path, p);
    if (rc == 0 && pred_path) rc = zl_squad_write_predictions(pred_path, p);
    if (rc == 0) {
        zl_sweep_release(b->s, (int)i - 1);
        for (int k = 0; k < p->count; k++) {
            lua_pushstring(L, p->items[k].text);
            lua_setfield(L, -2, p->items[k].qid);
        }
    }
    zl_squad_predictions_free(p);
    if (rc != 0) return zl_lua_fail(L);
    return 1;
}

/* s:release(i): frees configuration i's logits (and spill file) without decoding */
static int s_release(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > b->n_cfg) return luaL_argerror(L, 2, "configuration index out of range");
    zl_sweep_release(b->s, (int)i - 1);
    return 0;
}

/* s:sync() -> {offsets} (bytes of each spill file; -1 once written/released) */
static int s_sync(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    int64_t *off = lua_newuserdatauv(L, (size_t)b->n_cfg * sizeof *off, 0);
    if (zl_sweep_sync(b->s, off) != 0) return zl_lua_fail(L);
    lua_createtable(L, b->n_cfg, 0);
    for (int i = 0; i < b->n_cfg; i++) {
        lua_pushinteger(L, (lua_Integer)off[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* s:resume({offsets}) */
static int s_resume(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (luaL_len(L, 2) != b->n_cfg) return luaL_argerror(L, 2, "one offset per configuration");
    int64_t *off = lua_newuserdatauv(L, (size_t)b->n_cfg * sizeof *off, 0);
    for (int i = 0; i < b->n_cfg; i++) {
        lua_geti(L, 2, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok) return luaL_argerror(L, 2, "offsets must be integers");
        off[i] = (int64_t)v;
        lua_pop(L, 1);
    }
    b = check_sweep(L, 1); /* the table's metamethods may have closed it */
    if (zl_sweep_resume(b->s, off) != 0) return zl_lua_fail(L);
    return 0;
}

static int s_gc(lua_State *L)
{
    sweep_box *b = luaL_checkudata(L, 1, SWEEP_MT);
    if (!b->s) return 0;
    zl_sweep_free(b->s);
    b->s = NULL;
    zl_lua_unborrow(L, 1, UV_MODEL);
    zl_lua_unborrow(L, 1, UV_DS);
    zl_lua_unborrow(L, 1, UV_FEATS);
    return 0;
}

static int s_tostring(lua_State *L)
{
    sweep_box *b = luaL_checkudata(L, 1, SWEEP_MT);
    if (!b->s) lua_pushstring(L, "sweep (closed)");
    else lua_pushfstring(L, "sweep: %d configurations, %d batches", b->n_cfg, zl_sweep_batches(b->s));
    return 1;
}

int zl_lua_open_sweep(lua_State *L)
{
    static const luaL_Reg methods[] = {{"batches", s_batches}, {"batch_cost", s_batch_cost},
                                       {"step", s_step}, {"write", s_write}, {"sync", s_sync},
                                       {"resume", s_resume}, {"release", s_release},
                                       {"close", s_gc},
                                       {NULL, NULL}};
    if (luaL_newmetatable(L, SWEEP_MT)) {
        static const luaL_Reg meta[] = {{"__gc", s_gc}, {"__close", s_gc},
                                        {"__tostring", s_tostring}, {NULL, NULL}};
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"new", l_new}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
