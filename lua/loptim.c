/* loptim.c — zonelab.optim: gradients of a bert model (loss_and_grads) and BERT's
 * AdamWeightDecay optimizer as a full userdata. See docs/training.md.
 *
 *     local loss, grads = zl.optim.loss_and_grads(m, {input_ids = ids, ...,
 *                             start_positions = sp, end_positions = ep, dropout = 0.1, seed = 7})
 *     local opt = zl.optim.new(m, {lr = 3e-5, total_steps = 1000, warmup_proportion = 0.1})
 *     local info = opt:step(grads)        -- {lr =, grad_norm =, step =}
 *
 * Coupling with lbert.c: models are reached only through zl_lua_checkbert (zl_lua.h)
 * and the metatable name ZL_BERT_MT. Each model gets one training workspace
 * (activations kept for backward, backward scratch, one gradient block), cached in a
 * weak-keyed registry table: the grads table returned is a set of views of that
 * block, overwritten (or added to, with accumulate = true) by the next call. */
#include "zl_lua.h"
#include "bert.h"
#include "error.h"
#include "optim.h"
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_MT "zonelab.optim"
#define WS_MT "zonelab.optim.workspace"
#define WS_CACHE "zonelab.optim.workspaces" /* registry: model userdata -> workspace (weak keys) */

/* ---- training workspace ---- */
typedef struct {
    int ready;                  /* grads allocated */
    zl_bert_acts acts;          /* with ZL_BERT_ACTS_BACKWARD (| DROPOUT once needed) */
    zl_bert_backward_ws ws;
    zl_bert_params grads;
} train_ws;

static int ws_gc(lua_State *L)
{
    train_ws *w = luaL_checkudata(L, 1, WS_MT);
    zl_bert_acts_free(&w->acts);
    zl_bert_backward_ws_free(&w->ws);
    zl_bert_params_free(&w->grads);
    w->ready = 0;
    return 0;
}

/* Pushes the workspace of the model at index midx (created on first use). */
static train_ws *get_ws(lua_State *L, int midx, const zl_bert *m)
{
    midx = lua_absindex(L, midx);
    if (luaL_getsubtable(L, LUA_REGISTRYINDEX, WS_CACHE) == 0) {
        lua_createtable(L, 0, 1);
        lua_pushliteral(L, "k");
        lua_setfield(L, -2, "__mode");
        lua_setmetatable(L, -2);
    }
    lua_pushvalue(L, midx);
    if (lua_rawget(L, -2) == LUA_TUSERDATA) {
        lua_remove(L, -2);
        return lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    train_ws *w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    if (luaL_newmetatable(L, WS_MT)) {
        lua_pushcfunction(L, ws_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ws_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    if (zl_bert_params_alloc(&w->grads, &m->config) != 0) zl_lua_fail(L);
    w->ready = 1;
    lua_pushvalue(L, midx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
    return w;
}

/* Grows the workspace to B x S (and dropout masks when needed). */
static void ws_ensure(lua_State *L, train_ws *w, const zl_bert_config *c, int B, int S, int drop)
{
    int flags = ZL_BERT_ACTS_BACKWARD | (drop ? ZL_BERT_ACTS_DROPOUT : 0);
    if (!w->acts.memory || w->acts.maxB < B || w->acts.maxS < S ||
        (drop && !(w->acts.flags & ZL_BERT_ACTS_DROPOUT))) {
        int nb = w->acts.memory && w->acts.maxB > B ? w->acts.maxB : B;
        int ns = w->acts.memory && w->acts.maxS > S ? w->acts.maxS : S;
        if (w->acts.memory) flags |= w->acts.flags;
        zl_bert_acts_free(&w->acts);
        if (zl_bert_acts_alloc(&w->acts, c, nb, ns, flags) != 0) zl_lua_fail(L);
    }
    if (!w->ws.memory || w->ws.maxB < B || w->ws.maxS < S) {
        int nb = w->ws.memory && w->ws.maxB > B ? w->ws.maxB : B;
        int ns = w->ws.memory && w->ws.maxS > S ? w->ws.maxS : S;
        zl_bert_backward_ws_free(&w->ws);
        if (zl_bert_backward_ws_alloc(&w->ws, c, nb, ns) != 0) zl_lua_fail(L);
    }
}

/* Field k of table t as an i32 tensor of numel n (NULL when absent and optional). */


/* zonelab.optim.loss_and_grads(m, inputs) -> loss, {HF name = gradient tensor}
 * inputs: input_ids [B,S] (i32), token_type_ids, input_mask, qmask, pmask (optional,
 * [B,S]), start_positions, end_positions [B]; optional zone, layer (0-based or "all"),
 * dropout (hidden and attention; default 0), attention_dropout (default = dropout),
 * seed (dropout seed, default 0), accumulate (add into the previous gradients). */
#define LG_ARG "bad argument #2 to 'loss_and_grads'"

static const char *const LG_KEYS[] = {
    "input_ids", "token_type_ids", "input_mask", "qmask", "pmask", "start_positions",
    "end_positions", "zone", "layer", "dropout", "attention_dropout", "seed", "accumulate", NULL};

int zl_lua_optim_loss_and_grads(lua_State *L)
{
    zl_lua_checkbert(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    /* the batch table's metamethods run now, once: reading the copy runs no Lua code */
    zl_lua_snapshot(L, 2, LG_KEYS);
    zl_bert *m = zl_lua_checkbert(L, 1);
    const zl_bert_config *c = &m->config;
    lua_getfield(L, 2, "input_ids");
    zl_tensor *ids = zl_lua_totensor(L, -1);
    if (!ids || !ids->data || ids->dtype != ZL_I32 || ids->ndim != 2 || ids->numel < 1)
        return luaL_error(L, "bad argument #2 to 'loss_and_grads' (input_ids must be an i32 "
                             "tensor [batch, seq])");
    lua_pop(L, 1);
    if (ids->shape[0] > (1 << 20) || ids->shape[1] > c->max_position_embeddings)
        return luaL_error(L, "bad argument #2 to 'loss_and_grads' (input_ids is [%d,%d]: the "
                             "sequence exceeds max_position_embeddings %d)",
                          (int)ids->shape[0], (int)ids->shape[1], c->max_position_embeddings);
    int B = (int)ids->shape[0], S = (int)ids->shape[1];
    int64_t BS = (int64_t)B * S;
    zl_bert_inputs in = {B, S, ZL_I32P(ids),
                         zl_lua_field_i32(L, 2, "token_type_ids", BS, 0, LG_ARG),
                         zl_lua_field_i32(L, 2, "input_mask", BS, 0, LG_ARG),
                         zl_lua_field_i32(L, 2, "qmask", BS, 0, LG_ARG),
                         zl_lua_field_i32(L, 2, "pmask", BS, 0, LG_ARG)};
    const int32_t *sp = zl_lua_field_i32(L, 2, "start_positions", B, 1, LG_ARG);
    const int32_t *ep = zl_lua_field_i32(L, 2, "end_positions", B, 1, LG_ARG);
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    lua_getfield(L, 2, "zone");
    if (!lua_isnil(L, -1)) {
        const char *zn = lua_tostring(L, -1);
        int z = zn ? zl_zone_parse(zn) : -1;
        if (z < 0) return luaL_error(L, "bad argument #2 to 'loss_and_grads' (%s)", zl_error_get());
        o.zone = (zl_zone)z;
    }
    lua_pop(L, 1);
    lua_getfield(L, 2, "layer");
    if (!lua_isnil(L, -1) &&
        !(lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), "all") == 0)) {
        int ok;
        lua_Integer l = lua_tointegerx(L, -1, &ok);
        if (!ok || l < 0 || l >= c->num_hidden_layers)
            return luaL_error(L, "bad argument #2 to 'loss_and_grads' (layer must be \"all\" or "
                                 "a 0-based layer 0..%d)", c->num_hidden_layers - 1);
        o.mask_layer = (int)l;
    }
    lua_pop(L, 1);
    double drop = zl_lua_field_number(L, 2, "dropout", 0, "field");
    double adrop = zl_lua_field_number(L, 2, "attention_dropout", drop, "field");
    if (!(drop >= 0 && drop < 1) || !(adrop >= 0 && adrop < 1))
        return luaL_error(L, "bad argument #2 to 'loss_and_grads' (dropout must be in [0, 1))");
    o.dropout_prob = (float)drop;
    o.attn_dropout_prob = (float)adrop;
    lua_getfield(L, 2, "seed");
    if (!lua_isnil(L, -1)) {
        int ok;
        lua_Integer s = lua_tointegerx(L, -1, &ok);
        if (!ok) return luaL_error(L, "bad argument #2 to 'loss_and_grads' (seed must be an integer)");
        o.seed = (uint64_t)s;
    }
    lua_pop(L, 1);
    lua_getfield(L, 2, "accumulate");
    int accumulate = lua_toboolean(L, -1);
    lua_pop(L, 1);

    train_ws *w = get_ws(L, 1, m); /* pushed: parent of the gradient views */
    int widx = lua_gettop(L);
    ws_ensure(L, w, c, B, S, drop > 0 || adrop > 0);
    /* a finalizer run by the allocations above may have closed an input: take the
     * pointers again after the last allocation (shapes never change) */
    m = zl_lua_checkbert(L, 1);
    lua_getfield(L, 2, "input_ids");
    ids = zl_lua_totensor(L, -1);
    if (!ids || !ids->data) return luaL_error(L, LG_ARG " (input_ids was closed)");
    lua_pop(L, 1);
    in.input_ids = ZL_I32P(ids);
    in.token_type_ids = zl_lua_field_i32(L, 2, "token_type_ids", BS, 0, LG_ARG);
    in.input_mask = zl_lua_field_i32(L, 2, "input_mask", BS, 0, LG_ARG);
    in.qmask = zl_lua_field_i32(L, 2, "qmask", BS, 0, LG_ARG);
    in.pmask = zl_lua_field_i32(L, 2, "pmask", BS, 0, LG_ARG);
    sp = zl_lua_field_i32(L, 2, "start_positions", B, 1, LG_ARG);
    ep = zl_lua_field_i32(L, 2, "end_positions", B, 1, LG_ARG);
    if (!accumulate) memset(w->grads.memory, 0, (size_t)w->grads.count * sizeof(float));
    double loss;
    if (zl_bert_loss_and_grads(m, &w->acts, &w->ws, &in, &o, sp, ep, &w->grads, &loss) != 0)
        return zl_lua_fail(L);
    lua_pushnumber(L, loss);
    int n = zl_bert_param_count(c);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(c, &w->grads, i, &info) != 0) return zl_lua_fail(L);
        zl_lua_pushview(L, zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data), widx);
        lua_setfield(L, -2, info.name);
    }
    return 2;
}

/* ---- the optimizer userdata (uservalue 1: the model) ---- */
typedef struct {
    zl_optim *o;
} optim_box;

static optim_box *checkopt(lua_State *L, int idx)
{
    optim_box *b = luaL_checkudata(L, idx, OPTIM_MT);
    if (!b->o) luaL_argerror(L, idx, "optimizer has been closed");
    return b;
}

static int opt_gc(lua_State *L)
{
    optim_box *b = luaL_checkudata(L, 1, OPTIM_MT);
    if (!b->o) return 0;
    zl_optim_free(b->o);
    b->o = NULL;
    zl_lua_unborrow(L, 1, 1);
    return 0;
}

static int opt_tostring(lua_State *L)
{
    optim_box *b = luaL_checkudata(L, 1, OPTIM_MT);
    if (!b->o) {
        lua_pushliteral(L, "optim: closed");
        return 1;
    }
    const zl_optim_config *c = zl_optim_get_config(b->o);
    lua_pushfstring(L, "optim: AdamWeightDecay, %d tensors, step %d of %d, lr %f, warm-up %d",
                    zl_optim_count(b->o), (int)zl_optim_get_step(b->o), (int)c->total_steps,
                    c->lr, (int)c->warmup_steps);
    return 1;
}

/* zonelab.optim.new(m, {lr=, total_steps=, warmup_proportion= | warmup_steps=,
 *                       weight_decay=, clip=, beta1=, beta2=, eps=}) */
static int o_new(lua_State *L)
{
    zl_bert *m = zl_lua_checkbert(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_optim_config cfg;
    zl_optim_config_default(&cfg);
    cfg.lr = zl_lua_field_number(L, 2, "lr", cfg.lr, "field");
    lua_getfield(L, 2, "total_steps");
    int ok;
    lua_Integer total = lua_tointegerx(L, -1, &ok);
    if (!ok || total < 1)
        return luaL_error(L, "bad argument #2 to 'new' (total_steps must be an integer >= 1)");
    lua_pop(L, 1);
    cfg.total_steps = total;
    lua_getfield(L, 2, "warmup_steps");
    if (!lua_isnil(L, -1)) {
        lua_Integer ws = lua_tointegerx(L, -1, &ok);
        if (!ok || ws < 0)
            return luaL_error(L, "bad argument #2 to 'new' (warmup_steps must be an integer >= 0)");
        cfg.warmup_steps = ws;
    }
    lua_pop(L, 1);
    cfg.warmup_proportion =
        zl_lua_field_number(L, 2, "warmup_proportion", cfg.warmup_proportion, "field");
    cfg.weight_decay = zl_lua_field_number(L, 2, "weight_decay", cfg.weight_decay, "field");
    cfg.clip = zl_lua_field_number(L, 2, "clip", cfg.clip, "field");
    cfg.beta1 = zl_lua_field_number(L, 2, "beta1", cfg.beta1, "field");
    cfg.beta2 = zl_lua_field_number(L, 2, "beta2", cfg.beta2, "field");
    cfg.eps = zl_lua_field_number(L, 2, "eps", cfg.eps, "field");

    optim_box *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->o = NULL;
    luaL_setmetatable(L, OPTIM_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    int n = zl_bert_param_count(&m->config);
    const char **names = malloc((size_t)n * sizeof *names);
    int64_t *sizes = malloc((size_t)n * sizeof *sizes);
    zl_bert_param_info *infos = malloc((size_t)n * sizeof *infos);
    if (names && sizes && infos) {
        for (int i = 0; i < n; i++) {
            zl_bert_param_info_at(&m->config, &m->params, i, &infos[i]);
            names[i] = infos[i].name;
            sizes[i] = infos[i].numel;
        }
        b->o = zl_optim_new(n, names, sizes, &cfg);
    } else {
        zl_error_set("optim: out of memory");
    }
    free(names);
    free(sizes);
    free(infos);
    if (!b->o) return zl_lua_fail(L);
    zl_lua_borrow(L, -1, 1); /* the model is freed after the optimizer (lpin.c) */
    return 1;
}

/* The model of the optimizer (raises if it was closed). */
static zl_bert *opt_model(lua_State *L, int idx)
{
    lua_getiuservalue(L, idx, 1);
    zl_bert *m = zl_lua_checkbert(L, -1);
    lua_pop(L, 1); /* the optimizer's uservalue keeps it alive */
    return m;
}

/* opt:step(grads [, scale]) -> {lr =, grad_norm =, step =}
 * grads: {HF name = f32 tensor} for every parameter (as loss_and_grads returns);
 * scaled by `scale` first (e.g. 1/n after summing n micro-batches), then clipped in
 * place. Updates the model's parameters; step is the global step after the update. */
static int opt_step(lua_State *L)
{
    optim_box *b = checkopt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double scale = luaL_optnumber(L, 3, 1.0);
    if (!isfinite(scale)) return luaL_argerror(L, 3, "scale must be a finite number");
    zl_bert *m = opt_model(L, 1);
    int n = zl_optim_count(b->o);
    if (n != zl_bert_param_count(&m->config))
        return luaL_error(L, "optim: the model no longer has %d parameter tensors", n);
    /* every gradient is read into a plain table first: the grads table's metamethods
     * run there, before any pointer is taken (then the optimizer and model again) */
    lua_createtable(L, 0, n);
    int gcopy = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&m->config, &m->params, i, &info);
        lua_getfield(L, 2, info.name);
        lua_setfield(L, gcopy, info.name);
    }
    lua_replace(L, 2);
    b = checkopt(L, 1);
    m = opt_model(L, 1);
    if (n != zl_bert_param_count(&m->config) || n != zl_optim_count(b->o))
        return luaL_error(L, "optim: the model no longer has %d parameter tensors", n);
    float **params = lua_newuserdatauv(L, 2 * (size_t)n * sizeof(float *), 0); /* GC'd scratch */
    float **grads = params + n;
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&m->config, &m->params, i, &info);
        params[i] = info.data;
        lua_getfield(L, 2, info.name);
        zl_tensor *g = zl_lua_totensor(L, -1);
        if (!g || !g->data)
            return luaL_error(L, "bad argument #1 to 'step' (no gradient tensor for %s)", info.name);
        if (g->dtype != ZL_F32 || g->numel != info.numel)
            return luaL_error(L, "bad argument #1 to 'step' (gradient %s must be f32 with %d "
                                 "elements)", info.name, (int)info.numel);
        grads[i] = ZL_F32P(g);
        lua_pop(L, 1); /* the grads table keeps it alive */
    }
    if (scale != 1.0) zl_optim_grads_scale(b->o, grads, (float)scale);
    double norm, lr;
    if (zl_optim_step(b->o, params, grads, &norm, &lr) != 0) return zl_lua_fail(L);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, lr);
    lua_setfield(L, -2, "lr");
    lua_pushnumber(L, norm);
    lua_setfield(L, -2, "grad_norm");
    lua_pushinteger(L, (lua_Integer)zl_optim_get_step(b->o));
    lua_setfield(L, -2, "step");
    return 1;
}

/* opt:lr([step]) -> the learning rate of a global step (default: the next update's) */
static int opt_lr(lua_State *L)
{
    optim_box *b = checkopt(L, 1);
    lua_Integer s = luaL_optinteger(L, 2, (lua_Integer)zl_optim_get_step(b->o));
    lua_pushnumber(L, zl_optim_lr(b->o, s));
    return 1;
}

/* opt:get_step() / opt:set_step(n): the global step (updates done so far) */
static int opt_get_step(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)zl_optim_get_step(checkopt(L, 1)->o));
    return 1;
}

static int opt_set_step(lua_State *L)
{
    optim_box *b = checkopt(L, 1);
    if (zl_optim_set_step(b->o, luaL_checkinteger(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

/* opt:config() -> the resolved settings (warmup_steps filled in) */
static int opt_config(lua_State *L)
{
    const zl_optim_config *c = zl_optim_get_config(checkopt(L, 1)->o);
    lua_createtable(L, 0, 9);
    lua_pushnumber(L, c->lr);
    lua_setfield(L, -2, "lr");
    lua_pushinteger(L, (lua_Integer)c->total_steps);
    lua_setfield(L, -2, "total_steps");
    lua_pushinteger(L, (lua_Integer)c->warmup_steps);
    lua_setfield(L, -2, "warmup_steps");
    lua_pushnumber(L, c->weight_decay);
    lua_setfield(L, -2, "weight_decay");
    lua_pushnumber(L, c->clip);
    lua_setfield(L, -2, "clip");
    lua_pushnumber(L, c->beta1);
    lua_setfield(L, -2, "beta1");
    lua_pushnumber(L, c->beta2);
    lua_setfield(L, -2, "beta2");
    lua_pushnumber(L, c->eps);
    lua_setfield(L, -2, "eps");
    return 1;
}

/* opt:save(path) / opt:load(path): m, v and the step as safetensors (for resume) */
static int opt_save(lua_State *L)
{
    optim_box *b = checkopt(L, 1);
    if (zl_optim_save(b->o, luaL_checkstring(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

static int opt_load(lua_State *L)
{
    optim_box *b = checkopt(L, 1);
    if (zl_optim_load(b->o, luaL_checkstring(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

/* zonelab.optim.decays(name) -> true when BERT's rule applies weight decay to it */
static int o_decays(lua_State *L)
{
    lua_pushboolean(L, zl_optim_name_decays(luaL_checkstring(L, 1)));
    return 1;
}

int zl_lua_open_optim(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"step", opt_step}, {"lr", opt_lr}, {"get_step", opt_get_step},
        {"set_step", opt_set_step}, {"config", opt_config}, {"save", opt_save},
        {"load", opt_load}, {"close", opt_gc}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", opt_gc}, {"__close", opt_gc}, {"__tostring", opt_tostring}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", o_new}, {"loss_and_grads", zl_lua_optim_loss_and_grads}, {"decays", o_decays},
        {NULL, NULL}};
    if (luaL_newmetatable(L, OPTIM_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
