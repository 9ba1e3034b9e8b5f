/* lsweep.c — zonelab.sweep: the batch-major decode engine of core/sweep.h. The recipes
 * decode.lua and sweep.lua drive it through stdlib/zonelab/qa.lua.
 *
 *   local s = zl.sweep.new(model, ds, feats, {{zone = "none"}, {zone = "q2", layer = 1},
 *       {zone = "p2", layer = "all"}, {mask = fn_or_tensor, heads = {3}, layers = {2}}}, {batch = 32, padding = "max" | "dynamic", keep_pad = 20,
 *       spill = dir_or_nil, spill_keep = false, precision = "fp32" | "bf16"})
 *   for b = 1, s:batches() do s:step(b) end        -- s:batch_cost(b): tokens, for an ETA
 *   local offsets = s:sync()    -- spilling: checkpoint after some batches (sizes of the files)
 *   s:resume(offsets)           -- after new{..., spill_keep = true}: continue from there
 *   local preds = s:write(2, "pred.json", "nbest.json", {n_best_size = 20,
 *       max_answer_length = 30, lower = true})  -- decodes config 2, writes nbest then
 *                                                -- predictions (atomic), frees its logits
 *   s:close()
 * A configuration takes m:forward's masking options (lopts.c): layers and heads 1-based,
 * "all" masks every layer; a mask is one [max_seq_length]^2 pattern (a function gets
 * batch = nil) and runs as a full pass of its own.
 * The sweep keeps the model, the data set and the features alive while it lives. */
#include "zl_lua.h"
#include "bert.h"
#include "error.h"
#include "squad.h"
#include "sweep.h"

#include <stdio.h>
#include <string.h>

#define SWEEP_MT "zonelab.sweep"
typedef struct { zl_lua_box box; int n_cfg; } sweep_box; /* box.obj: the zl_sweep */

enum { UV_MODEL = 1, UV_DS, UV_FEATS, UV_KEEP, UV_COUNT = UV_KEEP };

static void sweep_free(void *s) { zl_sweep_free(s); }

static void sweep_describe(lua_State *L, zl_lua_box *b)
{
    lua_pushfstring(L, "sweep: %d configurations, %d batches", ((sweep_box *)b)->n_cfg,
                    zl_sweep_batches(b->obj));
}

/* borrows the model, the data set and the features (uservalues 1-3) */
static const zl_lua_class SWEEP = {SWEEP_MT, "sweep has been closed", "sweep (closed)", sweep_free,
                                   0, UV_FEATS, sweep_describe};

/* lsquad.c's checks: the data set, and features whose tokenizer is still open. */
#define check_ds zl_lua_checksquad
#define check_feats zl_lua_checkfeatures

static sweep_box *check_sweep(lua_State *L, int idx)
{
    sweep_box *b = (sweep_box *)zl_lua_class_check(L, idx, &SWEEP);
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

/* A configuration's masking options and the copies they point to, owned by the sweep
 * (its UV_KEEP table holds this userdata and the mask tensors). */
typedef struct {
    zl_lua_mask_spec spec;
    zl_bert_mask mk;
} config_box;

/* Reads configuration k (1-based) of the table at idx: m:forward's masking options
 * (lopts.c), a mask being one [max_seq_length]^2 pattern for every feature. Whatever it
 * must keep goes into the table at keep. */
static zl_sweep_config read_config(lua_State *L, int idx, int k, const zl_bert_config *mc, int S,
                                   int keep)
{
    static const char *const known[] = {ZL_LUA_MASK_KEYS, NULL};
    char fn[48];
    snprintf(fn, sizeof fn, "sweep.new: configuration %d", k);
    zl_sweep_config c;
    memset(&c, 0, sizeof c);
    lua_geti(L, idx, k);
    if (!lua_istable(L, -1)) luaL_error(L, "%s must be a table", fn);
    zl_lua_opts_check(L, -1, fn, known);
    config_box *cb = lua_newuserdatauv(L, sizeof *cb, 0);
    lua_rawseti(L, keep, luaL_len(L, keep) + 1);
    zl_lua_mask_read(L, -1, fn, mc, &cb->spec);
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    int top = lua_gettop(L);
    zl_lua_mask_apply(L, &cb->spec, 0, S, fn, &cb->mk, &o);
    for (int t = lua_gettop(L); t > top; t--) lua_rawseti(L, keep, luaL_len(L, keep) + 1);
    lua_pop(L, 1);
    c.zone = (zl_zone)cb->spec.zone;
    c.layer = c.zone == ZL_ZONE_NONE ? -1 : cb->spec.layer;
    c.mask = o.masks;
    c.head_mask = o.head_mask;
    return c;
}

/* zl.sweep.new(model, ds, feats, configs, opts) */
static int l_new(lua_State *L)
{
    zl_bert *m = zl_lua_checkbert(L, 1);
    check_ds(L, 2);
    zl_squad_features *f = check_feats(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    static const char *const known[] = {"batch", "padding", "keep_pad", "spill", "spill_keep",
                                        "precision", NULL};
    zl_lua_opts_check(L, 5, "sweep.new", known);
    lua_settop(L, 5);
    int n = (int)luaL_len(L, 4);
    if (n < 1) return luaL_argerror(L, 4, "at least one configuration");
    zl_sweep_opts o = zl_sweep_defaults();
    o.batch = zl_lua_opt_int(L, 5, "sweep.new", "batch", o.batch, 1, 1000000000);
    o.keep_pad = zl_lua_opt_int(L, 5, "sweep.new", "keep_pad", o.keep_pad, 0, 1000000000);
    const char *p = zl_lua_opt_string(L, 5, "sweep.new", "padding", "max");
    if (strcmp(p, "max") == 0) o.padding = ZL_SWEEP_PAD_MAX;
    else if (strcmp(p, "dynamic") == 0) o.padding = ZL_SWEEP_PAD_DYNAMIC;
    else return luaL_error(L, "sweep.new: option 'padding' must be \"max\" or \"dynamic\" (got %s)", p);
    o.spill_dir = zl_lua_opt_string(L, 5, "sweep.new", "spill", NULL); /* the table keeps it */
    o.spill_keep = zl_lua_opt_bool(L, 5, "sweep.new", "spill_keep", 0);
    o.precision = zl_lua_opt_precision(L, 5, "sweep.new");
    /* userdata first; the configuration array lives in a scratch userdata (GC-owned), what
       configurations point to in the keep table (the sweep's uservalue) */
    zl_sweep_config *cfg = lua_newuserdatauv(L, (size_t)n * sizeof *cfg, 0);
    lua_createtable(L, n, 0);
    int keep = lua_gettop(L);
    for (int k = 1; k <= n; k++)
        cfg[k - 1] = read_config(L, 4, k, &m->config, f->opts.max_seq_length, keep);
    sweep_box *b = zl_lua_class_new(L, &SWEEP, sizeof *b, UV_COUNT, (const int[]){1, 2, 3, keep});
    b->n_cfg = n;
    /* reading the options and configurations may have run metamethods that closed the
     * model, data set or features: take the pointers again now */
    m = zl_lua_checkbert(L, 1);
    check_ds(L, 2);
    f = check_feats(L, 3);
    /* the model and the features (read by the sweep's collectors) are freed after it (lpin.c) */
    return zl_lua_class_set(L, &SWEEP, zl_sweep_new(m, f, cfg, n, &o));
}

static int check_batch(lua_State *L, sweep_box *b, int idx)
{
    lua_Integer k = luaL_checkinteger(L, idx);
    int n = zl_sweep_batches(b->box.obj);
    if (k < 1 || k > n) luaL_argerror(L, idx, "batch index out of range");
    return (int)k - 1;
}

static int s_batches(lua_State *L)
{
    lua_pushinteger(L, zl_sweep_batches(check_sweep(L, 1)->box.obj));
    return 1;
}

static int s_batch_cost(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    lua_pushnumber(L, zl_sweep_batch_cost(b->box.obj, check_batch(L, b, 2)));
    return 1;
}

static int s_step(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    if (zl_sweep_step(b->box.obj, check_batch(L, b, 2)) != 0) return zl_lua_fail(L);
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
    static const char *const known[] = {"n_best_size", "max_answer_length", "lower", NULL};
    zl_lua_opts_check(L, 5, "write", known);
    lua_settop(L, 5);
    lua_getiuservalue(L, 1, UV_DS);   /* 6 */
    lua_getiuservalue(L, 1, UV_FEATS); /* 7 */
    zl_squad_decode_opts o = zl_squad_decode_defaults();
    o.lower = zl_tokenizer_get_opts(check_feats(L, 7)->tok).lower;
    o.n_best_size = zl_lua_opt_int(L, 5, "write", "n_best_size", o.n_best_size, 1, 1000000000);
    o.max_answer_length =
        zl_lua_opt_int(L, 5, "write", "max_answer_length", o.max_answer_length, 1, 1000000000);
    o.lower = zl_lua_opt_bool(L, 5, "write", "lower", o.lower);
    /* the options' metamethods may have closed anything: take the pointers now */
    b = check_sweep(L, 1);
    zl_squad *ds = check_ds(L, 6);
    check_feats(L, 7);
    /* the result table first: nothing can raise between decode and free but pushes */
    lua_createtable(L, 0, ds->n_examples);
    zl_squad_predictions *p = zl_sweep_decode(b->box.obj, (int)i - 1, ds, &o);
    if (!p) return zl_lua_fail(L);
    int rc = 0;
    if (nbest_path) rc = zl_squad_write_nbest(nbest_path, p);
    if (rc == 0 && pred_path) rc = zl_squad_write_predictions(pred_path, p);
    if (rc == 0) {
        zl_sweep_release(b->box.obj, (int)i - 1);
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
    zl_sweep_release(b->box.obj, (int)i - 1);
    return 0;
}

/* s:sync() -> {offsets} (bytes of each spill file; -1 once written/released) */
static int s_sync(lua_State *L)
{
    sweep_box *b = check_sweep(L, 1);
    int64_t *off = lua_newuserdatauv(L, (size_t)b->n_cfg * sizeof *off, 0);
    if (zl_sweep_sync(b->box.obj, off) != 0) return zl_lua_fail(L);
    lua_createtable(L, b->n_cfg, 0);
    for (int i = 0; i < b->n_cfg; i++) {
        lua_pushinteger(L, (lua_Integer)off[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* s:resume({offsets}) -> true; nil, message (nothing changed) when a file's records up to
 * its offset do not verify: the caller discards the partial state and starts over. */
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
    if (zl_sweep_verify(b->box.obj, off) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, zl_error_get());
        return 2;
    }
    if (zl_sweep_resume(b->box.obj, off) != 0) return zl_lua_fail(L);
    lua_pushboolean(L, 1);
    return 1;
}

int zl_lua_open_sweep(lua_State *L)
{
    static const luaL_Reg methods[] = {{"batches", s_batches}, {"batch_cost", s_batch_cost},
                                       {"step", s_step}, {"write", s_write}, {"sync", s_sync},
                                       {"resume", s_resume}, {"release", s_release},
                                       {NULL, NULL}};
    zl_lua_class_open(L, &SWEEP, methods, NULL);
    static const luaL_Reg fns[] = {{"new", l_new}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
