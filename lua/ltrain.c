/* ltrain.c — zonelab.train: the fine-tuning step of core/trainer.h as a full userdata.
 * See docs/training.md ("Training loop").
 *
 *   local tr = zl.train.new(m, {micro_batch = 8, max_seq_length = 384, seed = 1,
 *       dropout = 0.1, attention_dropout = 0.1,  -- defaults: the model config's
 *           hidden_dropout_prob / attention_probs_dropout_prob; dropout alone sets both
 *       lr = 3e-5, total_steps = N, warmup_proportion = 0.1 | warmup_steps = k,
 *       weight_decay = 0.01, clip = 1, beta1 = 0.9, beta2 = 0.999, eps = 1e-6,
 *       dist = <communicator of zl.dist.init(): the ranks sharing each step; default alone>})
 *   local order = zl.train.permutation(feats:count(), seed, epoch)  -- i32 tensor, 1-based
 *   local r = tr:step_features(feats, order, first, count, {pad_to = 384})
 *       -- one global step over order[first .. first+count-1] (1-based feature numbers)
 *       -- r = {loss =, grad_norm =, lr =, step = (after), tokens =}
 *   tr:micro_step(inputs) -> loss  -- inputs as feats:batch gives (start/end_positions too)
 *   tr:apply() -> r ; tr:discard()
 *   tr:step() ; tr:lr([step]) ; tr:bytes() ; tr:config()
 *   tr:phases([reset]) -> {forward =, backward =, dweight =, ...}  -- seconds (train.h's phases)
 *   tr:save(dir, {["trainer.json"] = text, ...}) ; tr:load(dir)
 *   zl.train.checkpoint_find(dir) -> folder or nil, message
 *   zl.train.estimate_bytes(m or config path, B, S) -> bytes training at micro-batch B x S needs
 * The trainer keeps its model alive (uservalue 1) and updates its weights in place. */
#include "zl_lua.h"
#include "bert.h"
#include "error.h"
#include "mlm.h"
#include "squad.h"
#include "train.h"
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TRAINER_MT "zonelab.train"

typedef struct {
    zl_lua_box box; /* the zl_trainer */
    zl_bert *m;     /* the model it was made for (checked still open on every call) */
} trainer_box;

#define MS_ARG "bad argument #1 to 'micro_step'"

static void trainer_free(void *t) { zl_trainer_free(t); }

static void trainer_describe(lua_State *L, zl_lua_box *b)
{
    zl_trainer *t = b->obj;
    const zl_trainer_config *c = zl_trainer_get_config(t);
    lua_pushfstring(L, "trainer: micro-batch %d x %d, step %d of %d, %f MB", c->micro_batch,
                    c->max_seq_length, (int)zl_trainer_get_step(t),
                    (int)zl_optim_get_config(zl_trainer_optim(t))->total_steps,
                    (lua_Number)zl_trainer_bytes(t) / 1e6);
}

/* uservalue 1: the model, borrowed */
static const zl_lua_class TRAINER = {TRAINER_MT, "trainer has been closed", "trainer (closed)",
                                     trainer_free, 0, 1, trainer_describe};

static trainer_box *checkbox(lua_State *L, int idx)
{
    trainer_box *b = (trainer_box *)zl_lua_class_check(L, idx, &TRAINER);
    lua_getiuservalue(L, idx, 1);
    if (zl_lua_checkbert(L, -1) != b->m) luaL_error(L, "train: the trainer's model was replaced");
    lua_pop(L, 1);
    return b;
}

static zl_trainer *checktrainer(lua_State *L, int idx) { return checkbox(L, idx)->box.obj; }


/* zonelab.train.new(m, opts) */
static int l_new(lua_State *L)
{
    static const char *const known[] = {"micro_batch", "max_seq_length", "dropout",
                                        "attention_dropout", "seed", "max_predictions",
                                        "dist", ZL_LUA_OPTIM_KEYS, NULL};
    zl_bert *m = zl_lua_checkbert(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_lua_opts_check(L, 2, "train.new", known);
    m->bf16_uncached = 1; /* its steps change the parameters: bf16 forwards convert afresh */
    zl_bert_bf16_reset(m);
    zl_trainer_config c;
    zl_trainer_config_default(&c);
    c.micro_batch = zl_lua_opt_int(L, 2, "train.new", "micro_batch", c.micro_batch, 1, 1000000000);
    c.max_seq_length = zl_lua_opt_int(L, 2, "train.new", "max_seq_length", c.max_seq_length, 2, 1000000000);
    /* run_squad.py trains with the model config's dropout probabilities; a given
     * `dropout` alone sets both (dropout = 0: no dropout at all) */
    lua_getfield(L, 2, "dropout");
    int given = !lua_isnil(L, -1);
    lua_pop(L, 1);
    c.dropout = (float)zl_lua_opt_number(L, 2, "train.new", "dropout", m->config.hidden_dropout_prob);
    c.attn_dropout = (float)zl_lua_opt_number(
        L, 2, "train.new", "attention_dropout", given ? c.dropout : m->config.attention_probs_dropout_prob);
    c.seed = (uint64_t)zl_lua_opt_int64(L, 2, "train.new", "seed", (lua_Integer)c.seed);
    c.max_predictions = zl_lua_opt_int(L, 2, "train.new", "max_predictions",
                                       c.max_predictions < c.max_seq_length ? c.max_predictions
                                                                            : c.max_seq_length,
                                       1, 1000000000);
    lua_getfield(L, 2, "dist");
    if (!lua_isnil(L, -1)) {
        if (!luaL_testudata(L, -1, "zonelab.dist"))
            return luaL_error(L, "train.new: option 'dist' must be a communicator from "
                                 "zl.dist.init() (got %s)", luaL_typename(L, -1));
        c.dist = zl_lua_checkdist(L, -1);
    }
    lua_pop(L, 1);
    /* the optimizer's options are read as zl.optim.new reads them (loptim.c) */
    if (zl_lua_optim_fields(L, 2, "train.new", &c.optim) != 0)
        return luaL_error(L, "train.new: option 'total_steps' is required");
    trainer_box *b = zl_lua_class_new(L, &TRAINER, sizeof *b, 1, (const int[]){1});
    b->m = m;
    return zl_lua_class_set(L, &TRAINER, zl_trainer_new(m, &c)); /* the model is freed after the trainer (lpin.c) */
}

static void push_result(lua_State *L, const zl_trainer_result *r)
{
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, r->loss);
    lua_setfield(L, -2, "loss");
    lua_pushnumber(L, r->grad_norm);
    lua_setfield(L, -2, "grad_norm");
    lua_pushnumber(L, r->lr);
    lua_setfield(L, -2, "lr");
    lua_pushinteger(L, (lua_Integer)r->step);
    lua_setfield(L, -2, "step");
    lua_pushinteger(L, (lua_Integer)r->tokens);
    lua_setfield(L, -2, "tokens");
}

/* Arguments 3-5 (order: an i32 tensor of 1-based numbers of `what`, first, count) as the
 * 0-based indexes order[first..first+count-1] - 1, in a GC'd scratch array. It allocates,
 * so a finalizer may run: callers take their other pointers after it. */
static int32_t *order_arg(lua_State *L, const char *what, int *n)
{
    char msg[96];
    snprintf(msg, sizeof msg, "order must be an i32 tensor of 1-based %s numbers", what);
    zl_tensor *order = zl_lua_checktensor(L, 3);
    if (order->dtype != ZL_I32 || !order->data) luaL_argerror(L, 3, msg);
    lua_Integer first = luaL_checkinteger(L, 4), count = luaL_checkinteger(L, 5);
    if (first < 1 || count < 1 || first > order->numel || count > order->numel - first + 1)
        luaL_error(L, "train: %I order entries from entry %I out of range (%I entries)", count,
                   first, (lua_Integer)order->numel);
    if (count > INT32_MAX) luaL_argerror(L, 5, "count must be below 2^31");
    int32_t *idx = lua_newuserdatauv(L, (size_t)count * sizeof(int32_t), 0);
    order = zl_lua_checktensor(L, 3); /* the allocation's finalizers may have closed it */
    if (order->dtype != ZL_I32 || !order->data || order->numel < first - 1 + count)
        luaL_argerror(L, 3, msg);
    const int32_t *src = ZL_I32P(order) + (first - 1);
    for (lua_Integer i = 0; i < count; i++) {
        if (src[i] < 1) {
            snprintf(msg, sizeof msg, "order entries are 1-based %s numbers", what);
            luaL_argerror(L, 3, msg);
        }
        idx[i] = src[i] - 1;
    }
    *n = (int)count;
    return idx;
}

/* tr:step_features(feats, order, first, count, {pad_to = N}) */
static int t_step_features(lua_State *L)
{
    /* the options first: their metamethods may close anything, so no pointer is taken before */
    int pad_to = 0;
    if (!lua_isnoneornil(L, 6)) {
        static const char *const known[] = {"pad_to", NULL};
        luaL_checktype(L, 6, LUA_TTABLE);
        zl_lua_opts_check(L, 6, "step_features", known);
        pad_to = zl_lua_opt_int(L, 6, "step_features", "pad_to", 0, 0, 1000000000);
    }
    checkbox(L, 1);
    zl_lua_checkfeatures(L, 2);
    int count;
    int32_t *idx = order_arg(L, "feature", &count);
    /* a finalizer run by its allocation may have closed an argument: take them now */
    zl_trainer *t = checktrainer(L, 1);
    zl_squad_features *f = zl_lua_checkfeatures(L, 2);
    zl_trainer_result r;
    if (zl_trainer_step_features(t, f, idx, count, pad_to, &r) != 0) return zl_lua_fail(L);
    push_result(L, &r);
    return 1;
}


/* tr:micro_step{input_ids=, token_type_ids=, input_mask=, qmask=, pmask=,
 *               start_positions=, end_positions=} -> loss */
static const char *const MS_KEYS[] = {"input_ids", "token_type_ids", "input_mask", "qmask",
                                      "pmask", "start_positions", "end_positions", NULL};

static int t_micro_step(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    /* the inputs' metamethods run now, once: reading the copy runs no Lua code */
    zl_lua_snapshot(L, 2, MS_KEYS);
    zl_lua_opts_check(L, 2, "micro_step", MS_KEYS);
    zl_trainer *t = checktrainer(L, 1);
    zl_bert_inputs in;
    const int32_t *sp, *ep;
    zl_lua_train_batch(L, 2, MS_ARG, 0, &in, &sp, &ep);
    double loss;
    if (zl_trainer_micro_step(t, &in, sp, ep, &loss) != 0) return zl_lua_fail(L);
    lua_pushnumber(L, loss);
    return 1;
}

static int t_apply(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    zl_trainer_result r;
    if (zl_trainer_apply(t, &r) != 0) return zl_lua_fail(L);
    push_result(L, &r);
    return 1;
}

static int t_discard(lua_State *L)
{
    zl_trainer_discard(checktrainer(L, 1));
    return 0;
}

static int t_step(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)zl_trainer_get_step(checktrainer(L, 1)));
    return 1;
}

static int t_lr(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    lua_Integer s = luaL_optinteger(L, 2, (lua_Integer)zl_trainer_get_step(t));
    lua_pushnumber(L, zl_optim_lr(zl_trainer_optim(t), (int64_t)s));
    return 1;
}

static int t_bytes(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)zl_trainer_bytes(checktrainer(L, 1)));
    return 1;
}

/* tr:phases([reset]): wall seconds per phase since the last reset (train.h, ZL_PHASE_*) */
static int t_phases(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    double s[ZL_PHASE_COUNT];
    zl_trainer_phases(t, s, lua_toboolean(L, 2));
    lua_createtable(L, 0, ZL_PHASE_COUNT);
    for (int i = 0; i < ZL_PHASE_COUNT; i++) {
        lua_pushnumber(L, s[i]);
        lua_setfield(L, -2, zl_phase_name(i));
    }
    return 1;
}

static int t_config(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    const zl_trainer_config *c = zl_trainer_get_config(t);
    lua_createtable(L, 0, 13);
    lua_pushinteger(L, c->micro_batch);
    lua_setfield(L, -2, "micro_batch");
    lua_pushinteger(L, c->max_seq_length);
    lua_setfield(L, -2, "max_seq_length");
    lua_pushnumber(L, c->dropout);
    lua_setfield(L, -2, "dropout");
    lua_pushnumber(L, c->attn_dropout);
    lua_setfield(L, -2, "attention_dropout");
    lua_pushinteger(L, (lua_Integer)c->seed);
    lua_setfield(L, -2, "seed");
    zl_lua_optim_push_config(L, zl_optim_get_config(zl_trainer_optim(t))); /* as opt:config() */
    return 1;
}

/* tr:save(dir, {name = content, ...}) */
static int t_save(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    const char *dir = luaL_checkstring(L, 2);
    int n = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_argerror(L, 3, "extra files must map names to strings");
            n++;
            lua_pop(L, 1);
        }
    }
    const char **extra = lua_newuserdatauv(L, (size_t)(2 * n + 2) * sizeof(char *), 0);
    int k = 0;
    if (n > 0) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            extra[k++] = lua_tostring(L, -2); /* strings stay alive in the table */
            extra[k++] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    extra[k] = extra[k + 1] = NULL;
    if (zl_trainer_save(t, dir, extra) != 0) return zl_lua_fail(L);
    return 0;
}

static int t_load(lua_State *L)
{
    zl_trainer *t = checktrainer(L, 1);
    if (zl_trainer_load(t, luaL_checkstring(L, 2)) != 0) return zl_lua_fail(L);
    return 0;
}

/* zonelab.train.checkpoint_find(dir) -> folder or nil, message */
static int l_checkpoint_find(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    size_t n = strlen(dir) + 8;
    char *out = lua_newuserdatauv(L, n, 0);
    if (zl_trainer_checkpoint_find(dir, out, n) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, zl_error_get());
        return 2;
    }
    lua_pushstring(L, out);
    return 1;
}

/* tr:step_mlm(corpus, order, first, count, {pad_to =, whole_word =, prob =}): one global
 * pretraining step over order[first .. first+count-1] (1-based instance numbers). */
static int t_step_mlm(lua_State *L)
{
    /* the options first: their metamethods may close anything, so no pointer is taken before */
    static const char *const known[] = {"pad_to", "whole_word", "prob", NULL};
    int pad_to = 0, whole = 0;
    double prob = 0.15;
    if (!lua_isnoneornil(L, 6)) {
        luaL_checktype(L, 6, LUA_TTABLE);
        zl_lua_opts_check(L, 6, "step_mlm", known);
        pad_to = zl_lua_opt_int(L, 6, "step_mlm", "pad_to", 0, 0, 1000000000);
        whole = zl_lua_opt_bool(L, 6, "step_mlm", "whole_word", 0);
        prob = zl_lua_opt_number(L, 6, "step_mlm", "prob", 0.15);
    }
    checkbox(L, 1);
    int ids[4];
    zl_lua_checkcorpus(L, 2, ids);
    int count;
    int32_t *idx = order_arg(L, "instance", &count);
    /* a finalizer run by its allocation may have closed an argument: take them now */
    trainer_box *b = checkbox(L, 1);
    const zl_mlm_data *d = zl_lua_checkcorpus(L, 2, ids);
    const zl_trainer_config *tc = zl_trainer_get_config(b->box.obj);
    int vocab = b->m->config.vocab_size < ids[3] ? b->m->config.vocab_size : ids[3];
    if (ids[2] >= b->m->config.vocab_size)
        return luaL_error(L, "train: [MASK] (id %d) is outside the model's vocabulary (%d)",
                          ids[2], b->m->config.vocab_size);
    zl_mlm_mask_opts mo = {(float)prob, tc->max_predictions, whole, ids[2], vocab};
    zl_trainer_result r;
    if (zl_trainer_step_mlm(b->box.obj, d, idx, count, pad_to, ids[0], ids[1], &mo, &r) != 0)
        return zl_lua_fail(L);
    push_result(L, &r);
    return 1;
}

/* zonelab.train.estimate_bytes(m or path of bert_config.json, B, S) */
static int l_estimate(lua_State *L)
{
    zl_bert_config cfg;
    if (lua_type(L, 1) == LUA_TSTRING) {
        if (zl_bert_config_load(&cfg, lua_tostring(L, 1)) != 0) return zl_lua_fail(L);
    } else {
        cfg = zl_lua_checkbert(L, 1)->config;
    }
    lua_Integer B = luaL_checkinteger(L, 2), S = luaL_checkinteger(L, 3);
    if (B < 1 || B > (1 << 20)) return luaL_argerror(L, 2, "batch must be in 1..2^20");
    if (S < 1 || S > (1 << 20)) return luaL_argerror(L, 3, "sequence length must be in 1..2^20");
    lua_pushinteger(L, (lua_Integer)zl_trainer_estimate_bytes(&cfg, (int)B, (int)S));
    return 1;
}

/* zonelab.train.permutation(n, seed, epoch) -> i32 tensor [n] of 1..n, shuffled
 * (zl_trainer_permutation): the data order of an epoch. */
static int l_permutation(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2), epoch = luaL_optinteger(L, 3, 0);
    if (n < 1 || n > INT32_MAX) return luaL_argerror(L, 1, "count must be in 1..2^31-1");
    int64_t shape[1] = {n};
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_new(ZL_I32, 1, shape))) return zl_lua_fail(L);
    if (zl_trainer_permutation(ZL_I32P(*slot), n, (uint64_t)seed, (uint64_t)epoch) != 0)
        return zl_lua_fail(L);
    return 1;
}

int zl_lua_open_train(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"step_features", t_step_features}, {"step_mlm", t_step_mlm},
        {"micro_step", t_micro_step}, {"apply", t_apply},
        {"discard", t_discard}, {"step", t_step}, {"lr", t_lr}, {"bytes", t_bytes},
        {"phases", t_phases}, {"config", t_config}, {"save", t_save}, {"load", t_load}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", l_new}, {"checkpoint_find", l_checkpoint_find}, {"estimate_bytes", l_estimate},
        {"permutation", l_permutation}, {NULL, NULL}};
    zl_lua_class_open(L, &TRAINER, methods, NULL);
    luaL_newlib(L, fns);
    return 1;
}
