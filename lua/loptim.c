/* loptim.c — zonelab.optim: gradients of a bert model (loss_and_grads) and BERT's
 * AdamWeightDecay optimizer as a full userdata. See docs/training.md.
 *
 *     local loss, grads = zl.optim.loss_and_grads(m, {input_ids = ids, ...,
 *                             start_positions = sp, end_positions = ep, dropout = 0.1, seed = 7})
 *     local opt = zl.optim.new(m, {lr = 3e-5, total_steps = 1000, warmup_proportion = 0.1})
 *     local info = opt:step(grads)        -- {lr =, grad_norm =, step =}
 *
 * Coupling with lbert.c: models are reached only through zl_lua_checkbert (zl_lua.h)
 * and the metatable name ZL_BERT_MT. Each model gets one core training workspace
 * (zl_trainer_ws: the trainer's, activations kept for backward, backward scratch, one
 * gradient block), cached in a weak-keyed registry table: the grads table returned is a
 * set of views of that block, overwritten (or added to, with accumulate = true) by the
 * next call. The binding checks arguments, converts them and ties lifetimes. */
#include "zl_lua.h"
#include "bert.h"
#include "error.h"
#include "optim.h"
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define OPTIM_MT "zonelab.optim"
#define WS_MT "zonelab.optim.workspace"
#define WS_CACHE "zonelab.optim.workspaces" /* registry: model userdata -> workspace (weak keys) */
#define LG_ARG "bad argument #2 to 'loss_and_grads'"
#define LG "loss_and_grads"

/* ---- the model's training workspace (core/trainer.h's zl_trainer_ws): the binding
 * only ties its lifetime to the model's userdata ---- */
typedef struct {
    zl_trainer_ws *w;
} ws_box;

static int ws_gc(lua_State *L)
{
    ws_box *b = luaL_checkudata(L, 1, WS_MT);
    zl_trainer_ws_free(b->w);
    b->w = NULL;
    return 0;
}

/* Pushes the workspace of the model at index midx (created on first use). */
static zl_trainer_ws *get_ws(lua_State *L, int midx, const zl_bert *m)
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
        ws_box *b = lua_touserdata(L, -1);
        if (!b->w) luaL_error(L, LG ": the model's training workspace was closed");
        return b->w;
    }
    lua_pop(L, 1);
    ws_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->w = NULL;
    if (luaL_newmetatable(L, WS_MT)) {
        lua_pushcfunction(L, ws_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, ws_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_setmetatable(L, -2);
    if (!(b->w = zl_trainer_ws_new(&m->config))) zl_lua_fail(L);
    lua_pushvalue(L, midx);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_remove(L, -2);
    return b->w;
}


/* zonelab.optim.loss_and_grads(m, inputs) -> loss, {HF name = gradient tensor}
 * inputs: input_ids [B,S] (i32), token_type_ids, input_mask, qmask, pmask (optional,
 * [B,S]), start_positions, end_positions [B]; optional masking options as m:forward's
 * (zone, layer 1-based or "all", mask, heads, layers, head_mask: lopts.c), dropout (hidden and attention; default 0), attention_dropout (default = dropout),
 * seed (dropout seed, default 0), accumulate (add into the previous gradients). */

static const char *const LG_KEYS[] = {
    "input_ids", "token_type_ids", "input_mask", "qmask", "pmask", "start_positions",
    "end_positions", ZL_LUA_MASK_KEYS, "dropout", "attention_dropout", "seed", "accumulate", NULL};

void zl_lua_train_batch(lua_State *L, int t, const char *arg, int max_seq, zl_bert_inputs *in,
                        const int32_t **sp, const int32_t **ep)
{
    lua_getfield(L, t, "input_ids");
    zl_tensor *ids = zl_lua_totensor(L, -1);
    if (!ids || !ids->data || ids->dtype != ZL_I32 || ids->ndim != 2 || ids->numel < 1)
        luaL_error(L, "%s (input_ids must be an i32 tensor [batch, seq])", arg);
    lua_pop(L, 1); /* the (snapshot) table keeps it alive */
    if (max_seq > 0 && (ids->shape[0] > (1 << 20) || ids->shape[1] > max_seq))
        luaL_error(L, "%s (input_ids is [%d,%d]: the sequence exceeds max_position_embeddings %d)",
                   arg, (int)ids->shape[0], (int)ids->shape[1], max_seq);
    int B = (int)ids->shape[0], S = (int)ids->shape[1];
    int64_t BS = (int64_t)B * S;
    *in = (zl_bert_inputs){B, S, ZL_I32P(ids), zl_lua_field_i32(L, t, "token_type_ids", BS, 0, arg),
                           zl_lua_field_i32(L, t, "input_mask", BS, 0, arg),
                           zl_lua_field_i32(L, t, "qmask", BS, 0, arg),
                           zl_lua_field_i32(L, t, "pmask", BS, 0, arg)};
    *sp = zl_lua_field_i32(L, t, "start_positions", B, 1, arg);
    *ep = zl_lua_field_i32(L, t, "end_positions", B, 1, arg);
}

int zl_lua_optim_loss_and_grads(lua_State *L)
{
    zl_lua_checkbert(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    /* the batch table's metamethods run now, once: reading the copy runs no Lua code */
    zl_lua_snapshot(L, 2, LG_KEYS);
    zl_lua_opts_check(L, 2, LG, LG_KEYS);
    zl_bert *m = zl_lua_checkbert(L, 1);
    const zl_bert_config *c = &m->config;
    zl_bert_inputs in;
    const int32_t *sp, *ep;
    zl_lua_train_batch(L, 2, LG_ARG, c->max_position_embeddings, &in, &sp, &ep);
    int B = in.B, S = in.S;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    zl_lua_mask_spec spec;
    zl_bert_mask mk;
    zl_lua_mask_read(L, 2, LG, c, &spec);
    zl_lua_mask_apply(L, &spec, B, S, LG, &mk, &o); /* copies stay on the stack */
    double drop = zl_lua_opt_number(L, 2, LG, "dropout", 0);
    double adrop = zl_lua_opt_number(L, 2, LG, "attention_dropout", drop);
    if (!(drop >= 0 && drop < 1) || !(adrop >= 0 && adrop < 1))
        return luaL_error(L, LG ": options 'dropout' and 'attention_dropout' must be in [0, 1)");
    o.dropout_prob = (float)drop;
    o.attn_dropout_prob = (float)adrop;
    o.seed = (uint64_t)zl_lua_opt_int64(L, 2, LG, "seed", (lua_Integer)o.seed);
    int accumulate = zl_lua_opt_bool(L, 2, LG, "accumulate", 0);

    zl_trainer_ws *w = get_ws(L, 1, m); /* pushed: parent of the gradient views */
    int widx = lua_gettop(L);
    /* a finalizer run by the allocations above (or the mask function) may have closed an input: take the
     * pointers again after the last allocation (shapes never change) */
    m = zl_lua_checkbert(L, 1);
    zl_lua_train_batch(L, 2, LG_ARG, c->max_position_embeddings, &in, &sp, &ep);
    double loss;
    if (zl_trainer_ws_loss_and_grads(w, m, &in, &o, sp, ep, accumulate, &loss) != 0)
        return zl_lua_fail(L);
    lua_pushnumber(L, loss);
    int n = zl_bert_param_count(c);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(c, zl_trainer_ws_grads(w), i, &info) != 0) return zl_lua_fail(L);
        zl_lua_pushview(L, zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data), widx);
        lua_setfield(L, -2, info.name);
    }
    return 2;
}

/* ---- the optimizer userdata (uservalue 1: the model, borrowed) ---- */
static void optim_free(void *o) { zl_optim_free(o); }

static void optim_describe(lua_State *L, zl_lua_box *b)
{
    const zl_optim_config *c = zl_optim_get_config(b->obj);
    lua_pushfstring(L, "optim: AdamWeightDecay, %d tensors, step %d of %d, lr %f, warm-up %d",
                    zl_optim_count(b->obj), (int)zl_optim_get_step(b->obj), (int)c->total_steps,
                    c->lr, (int)c->warmup_steps);
}

static const zl_lua_class OPTIM = {OPTIM_MT, "optimizer has been closed", "optim: closed",
                                   optim_free, 0, 1, optim_describe};

static zl_optim *checkopt(lua_State *L, int idx) { return zl_lua_class_check(L, idx, &OPTIM)->obj; }

int zl_lua_optim_config(lua_State *L, int idx, const char *fn, zl_optim_config *cfg)
{
    static const char *const known[] = {ZL_LUA_OPTIM_KEYS, NULL};
    zl_lua_opts_check(L, idx, fn, known);
    return zl_lua_optim_fields(L, idx, fn, cfg);
}

int zl_lua_optim_fields(lua_State *L, int idx, const char *fn, zl_optim_config *cfg)
{
    cfg->lr = zl_lua_opt_number(L, idx, fn, "lr", cfg->lr);
    int total = zl_lua_opt_int(L, idx, fn, "total_steps", 0, 1, 2000000000);
    cfg->warmup_steps = zl_lua_opt_int(L, idx, fn, "warmup_steps", (int)cfg->warmup_steps, 0, 2000000000);
    cfg->warmup_proportion = zl_lua_opt_number(L, idx, fn, "warmup_proportion", cfg->warmup_proportion);
    cfg->weight_decay = zl_lua_opt_number(L, idx, fn, "weight_decay", cfg->weight_decay);
    cfg->clip = zl_lua_opt_number(L, idx, fn, "clip", cfg->clip);
    cfg->beta1 = zl_lua_opt_number(L, idx, fn, "beta1", cfg->beta1);
    cfg->beta2 = zl_lua_opt_number(L, idx, fn, "beta2", cfg->beta2);
    cfg->eps = zl_lua_opt_number(L, idx, fn, "eps", cfg->eps);
    if (total == 0) return -1;
    cfg->total_steps = total;
    return 0;
}

/* zonelab.optim.new(m, {lr=, total_steps=, warmup_proportion= | warmup_steps=,
 *                       weight_decay=, clip=, beta1=, beta2=, eps=}) */
static int o_new(lua_State *L)
{
    zl_bert *m = zl_lua_checkbert(L, 1);
    m->bf16_uncached = 1; /* its steps change the parameters: bf16 forwards convert afresh */
    zl_bert_bf16_reset(m);
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_optim_config cfg;
    zl_optim_config_default(&cfg);
    if (zl_lua_optim_config(L, 2, "optim.new", &cfg) != 0)
        return luaL_error(L, "optim.new: option 'total_steps' is required");

    zl_lua_class_new(L, &OPTIM, sizeof(zl_lua_box), 1, (const int[]){1});
    zl_optim *o = NULL;
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
        o = zl_optim_new(n, names, sizes, &cfg);
    } else {
        zl_error_set("optim: out of memory");
    }
    free(names);
    free(sizes);
    free(infos);
    return zl_lua_class_set(L, &OPTIM, o); /* the model is freed after the optimizer (lpin.c) */
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
    zl_optim *o = checkopt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    double scale = luaL_optnumber(L, 3, 1.0);
    if (!isfinite(scale)) return luaL_argerror(L, 3, "scale must be a finite number");
    zl_bert *m = opt_model(L, 1);
    int n = zl_optim_count(o);
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
    o = checkopt(L, 1);
    m = opt_model(L, 1);
    if (n != zl_bert_param_count(&m->config) || n != zl_optim_count(o))
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
    if (scale != 1.0) zl_optim_grads_scale(o, grads, (float)scale);
    double norm, lr;
    if (zl_optim_step(o, params, grads, &norm, &lr) != 0) return zl_lua_fail(L);
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, lr);
    lua_setfield(L, -2, "lr");
    lua_pushnumber(L, norm);
    lua_setfield(L, -2, "grad_norm");
    lua_pushinteger(L, (lua_Integer)zl_optim_get_step(o));
    lua_setfield(L, -2, "step");
    return 1;
}

/* opt:lr([step]) -> the learning rate of a global step (default: the next update's) */
static int opt_lr(lua_State *L)
{
    zl_optim *o = checkopt(L, 1);
    lua_Integer s = luaL_optinteger(L, 2, (lua_Integer)zl_optim_get_step(o));
    lua_pushnumber(L, zl_optim_lr(o, s));
    return 1;
}

/* opt:get_step() / opt:set_step(n): the global step (updates done so far) */
static int opt_get_step(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)zl_optim_get_step(checkopt(L, 1)));
    return 1;
}

static int opt_set_step(lua_State *L)
{
    zl_optim *o = checkopt(L, 1);
    if (zl_optim_set_step(o, luaL_checkinteger(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

void zl_lua_optim_push_config(lua_State *L, const zl_optim_config *c)
{
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
}

/* opt:config() -> the resolved settings (warmup_steps filled in) */
static int opt_config(lua_State *L)
{
    lua_createtable(L, 0, 8);
    zl_lua_optim_push_config(L, zl_optim_get_config(checkopt(L, 1)));
    return 1;
}

/* opt:save(path) / opt:load(path): m, v and the step as safetensors (for resume) */
static int opt_save(lua_State *L)
{
    zl_optim *o = checkopt(L, 1);
    if (zl_optim_save(o, luaL_checkstring(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

static int opt_load(lua_State *L)
{
    zl_optim *o = checkopt(L, 1);
    if (zl_optim_load(o, luaL_checkstring(L, 2)) != 0) return zl_lua_fail(L);
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
        {"load", opt_load}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", o_new}, {"loss_and_grads", zl_lua_optim_loss_and_grads}, {"decays", o_decays},
        {NULL, NULL}};
    zl_lua_class_open(L, &OPTIM, methods, NULL);
    luaL_newlib(L, fns);
    return 1;
}
