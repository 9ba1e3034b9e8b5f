/* lbert.c — zonelab.bert: BERT models as full userdata (load, new, forward with zone
 * masks, params views, save), the span loss and peak RSS. Layer and head numbers are
 * 1-based, as token and batch positions given to mask functions (as tensor:get).
 * See docs/model.md. */
#include "zl_lua.h"
#include "bert.h"
#include "bf16.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BERT_MT ZL_BERT_MT

/* An owner (lpin.c): the parameter views of m:params() borrow the model through a
 * holder userdata (their parent), so even a direct getmetatable(m).__gc(m) while views
 * live frees the parameters only when the last view is gone. */
typedef struct {
    zl_lua_owner own;
    zl_bert *m;
    zl_bert_acts acts;   /* inference activations, grown on demand */
    int closed;
} bert_box;

#define PARAMS_MT "zonelab.bert.params"
typedef struct { int held; } params_holder;

static void bert_free(void *m) { zl_bert_free(m); }

static bert_box *newbox(lua_State *L)
{
    bert_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BERT_MT);
    return b;
}

static bert_box *checkbox(lua_State *L, int idx)
{
    bert_box *b = luaL_checkudata(L, idx, BERT_MT);
    if (!b->m || b->closed) luaL_argerror(L, idx, "bert model has been closed");
    return b;
}

struct zl_bert *zl_lua_checkbert(lua_State *L, int idx)
{
    return checkbox(L, idx)->m;
}

/* opts.gelu ("erf" | "tanh") at stack index idx, or -1 when absent. */
static int opt_gelu(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return -1;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "gelu");
    int g = -1;
    if (!lua_isnil(L, -1)) {
        const char *s = lua_tostring(L, -1);
        if (!s || (strcmp(s, "erf") != 0 && strcmp(s, "tanh") != 0))
            luaL_argerror(L, idx, "gelu must be \"erf\" or \"tanh\"");
        g = strcmp(s, "tanh") == 0 ? ZL_GELU_TANH : ZL_GELU_ERF;
    }
    lua_pop(L, 1);
    return g;
}

/* zonelab.bert.load(path, [{gelu = "erf"|"tanh", mlm = true}]) */
static int b_load(lua_State *L)
{
    static const char *const known[] = {"gelu", "mlm", NULL};
    const char *path = luaL_checkstring(L, 1);
    zl_lua_opts_check(L, 2, "bert.load", known);
    int gelu = opt_gelu(L, 2);
    int mlm = lua_isnoneornil(L, 2) ? 0 : zl_lua_opt_bool(L, 2, "bert.load", "mlm", 0);
    bert_box *b = newbox(L);
    if (!(b->m = mlm ? zl_bert_load_mlm(path) : zl_bert_load(path))) return zl_lua_fail(L);
    if (gelu >= 0) b->m->config.gelu = gelu, b->m->config.gelu_origin = ZL_GELU_FROM_CALLER;
    return 1;
}

/* Lua table -> cJSON (numbers, strings, booleans, arrays of strings). */
static cJSON *table_to_json(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    cJSON *o = cJSON_CreateObject();
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -2);
            switch (lua_type(L, -1)) {
            case LUA_TNUMBER: cJSON_AddNumberToObject(o, k, lua_tonumber(L, -1)); break;
            case LUA_TSTRING: cJSON_AddStringToObject(o, k, lua_tostring(L, -1)); break;
            case LUA_TBOOLEAN: cJSON_AddBoolToObject(o, k, lua_toboolean(L, -1)); break;
            case LUA_TTABLE: {
                /* raw reads: a metamethod raising here would leak the cJSON tree */
                cJSON *arr = cJSON_AddArrayToObject(o, k);
                lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_rawgeti(L, -1, i);
                    if (lua_type(L, -1) == LUA_TSTRING)
                        cJSON_AddItemToArray(arr, cJSON_CreateString(lua_tostring(L, -1)));
                    lua_pop(L, 1);
                }
                break;
            }
            default: break;
            }
        }
        lua_pop(L, 1);
    }
    return o;
}

/* zonelab.bert.new(config_table_or_path, {seed = 1}) -> randomly initialised model */
static int b_new(lua_State *L)
{
    static const char *const known[] = {"seed", "gelu", "mlm", NULL};
    zl_lua_opts_check(L, 2, "bert.new", known);
    zl_bert_config c;
    if (lua_type(L, 1) == LUA_TSTRING) {
        if (zl_bert_config_load(&c, lua_tostring(L, 1)) != 0) return zl_lua_fail(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        cJSON *o = table_to_json(L, 1);
        if (!o) return luaL_error(L, "bert.new: out of memory");
        int rc = zl_bert_config_from_json(&c, "bert config table", o);
        cJSON_Delete(o);
        if (rc != 0) return zl_lua_fail(L);
    }
    lua_Integer seed = 1;
    int gelu = opt_gelu(L, 2);
    if (gelu >= 0) c.gelu = gelu, c.gelu_origin = ZL_GELU_FROM_CALLER;
    if (!lua_isnoneornil(L, 2)) {
        c.mlm_head = zl_lua_opt_bool(L, 2, "bert.new", "mlm", 0);
        seed = zl_lua_opt_int64(L, 2, "bert.new", "seed", 1);
    }
    bert_box *b = newbox(L);
    if (!(b->m = zl_bert_new(&c))) return zl_lua_fail(L);
    if (zl_bert_init_random(b->m, (uint64_t)seed) != 0) return zl_lua_fail(L);
    return 1;
}

static int m_gc(lua_State *L)
{
    bert_box *b = luaL_checkudata(L, 1, BERT_MT);
    zl_bert_acts_free(&b->acts);
    zl_lua_owner_close(L, &b->own, b->m, bert_free);
    b->m = NULL;
    b->closed = 1;
    return 0;
}

static int holder_gc(lua_State *L)
{
    params_holder *h = luaL_checkudata(L, 1, PARAMS_MT);
    if (h->held) {
        h->held = 0;
        zl_lua_unborrow(L, 1, 1);
    }
    return 0;
}

/* m:close() / __close: the model is unusable at once and its activations are freed; the
 * parameters are freed with the userdata (views from m:params() keep it alive, so a view
 * never points into freed memory). */
static int m_close(lua_State *L)
{
    bert_box *b = luaL_checkudata(L, 1, BERT_MT);
    zl_bert_acts_free(&b->acts);
    b->closed = 1;
    return 0;
}

static int m_tostring(lua_State *L)
{
    bert_box *b = luaL_checkudata(L, 1, BERT_MT);
    if (!b->m || b->closed) {
        lua_pushliteral(L, "bert (closed)");
        return 1;
    }
    const zl_bert_config *c = &b->m->config;
    lua_pushfstring(L, "%s: %d layers, %d hidden, %d heads", c->model_type, c->num_hidden_layers,
                    c->hidden_size, c->num_attention_heads);
    return 1;
}

static int m_config(lua_State *L)
{
    const zl_bert_config *c = &checkbox(L, 1)->m->config;
    lua_createtable(L, 0, 16);
#define SETI(k, v) (lua_pushinteger(L, (v)), lua_setfield(L, -2, k))
#define SETN(k, v) (lua_pushnumber(L, (double)(v)), lua_setfield(L, -2, k))
#define SETS(k, v) (lua_pushstring(L, (v)), lua_setfield(L, -2, k))
    SETS("model_type", c->model_type);
    SETI("vocab_size", c->vocab_size);
    SETI("hidden_size", c->hidden_size);
    SETI("num_hidden_layers", c->num_hidden_layers);
    SETI("num_attention_heads", c->num_attention_heads);
    SETI("intermediate_size", c->intermediate_size);
    SETI("max_position_embeddings", c->max_position_embeddings);
    SETI("type_vocab_size", c->type_vocab_size);
    SETI("embedding_size", c->embedding_size);
    SETS("hidden_act", c->hidden_act);
    SETS("gelu", zl_bert_gelu_name(c->gelu));
    SETS("gelu_note", zl_bert_gelu_note(c));
    static const char *const origins[] = {"hugging face default", "config", "tf checkpoint",
                                          "caller"};
    SETS("gelu_origin", origins[c->gelu_origin & 3]);
    if (zl_bert_model_type_note(c)) SETS("model_type_note", zl_bert_model_type_note(c));
    /* %g round trip so 0.1f reads back as 0.1 */
    char buf[32];
#define SETF(k, v) (snprintf(buf, sizeof buf, "%g", (double)(v)), SETN(k, strtod(buf, NULL)))
    SETF("layer_norm_eps", c->layer_norm_eps);
    SETF("initializer_range", c->initializer_range);
    SETF("hidden_dropout_prob", c->hidden_dropout_prob);
    SETF("attention_probs_dropout_prob", c->attention_probs_dropout_prob);
#undef SETI
#undef SETN
#undef SETS
#undef SETF
    return 1;
}

static int m_fresh_qa_head(lua_State *L)
{
    lua_pushboolean(L, checkbox(L, 1)->m->fresh_qa_head);
    return 1;
}

static int m_fresh_mlm_head(lua_State *L)
{
    zl_bert *m = checkbox(L, 1)->m;
    if (!m->config.mlm_head) return luaL_error(L, "fresh_mlm_head: the model was loaded without "
                                                  "its masked-LM head ({mlm = true})");
    lua_pushboolean(L, m->fresh_mlm_head);
    return 1;
}

static int m_num_params(lua_State *L)
{
    lua_pushinteger(L, checkbox(L, 1)->m->params.count);
    return 1;
}

static int m_init_random(lua_State *L)
{
    bert_box *b = checkbox(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    if (zl_bert_init_random(b->m, (uint64_t)seed) != 0) return zl_lua_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_save(lua_State *L)
{
    bert_box *b = checkbox(L, 1);
    const char *path = luaL_checkstring(L, 2);
    if (zl_bert_save(b->m, path) != 0) return zl_lua_fail(L);
    return 0;
}

/* m:params() -> {HF name = tensor view sharing the model's storage} */
static int m_params(lua_State *L)
{
    bert_box *b = checkbox(L, 1);
    int n = zl_bert_param_count(&b->m->config);
    /* the views can change the parameters at any time: bf16 forwards convert afresh */
    b->m->bf16_uncached = 1;
    zl_bert_bf16_reset(b->m);
    params_holder *h = lua_newuserdatauv(L, sizeof *h, 1); /* the views' parent */
    h->held = 0;
    if (luaL_newmetatable(L, PARAMS_MT)) {
        lua_pushcfunction(L, holder_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    zl_lua_borrow(L, -1, 1);
    h->held = 1;
    int hidx = lua_gettop(L);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(&b->m->config, &b->m->params, i, &info) != 0) return zl_lua_fail(L);
        zl_lua_pushview(L, zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data), hidx);
        lua_setfield(L, -2, info.name);
    }
    return 1;
}

/* m:param_names() -> the HF names in the fixed enumeration order */
static int m_param_names(lua_State *L)
{
    bert_box *b = checkbox(L, 1);
    int n = zl_bert_param_count(&b->m->config);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&b->m->config, &b->m->params, i, &info);
        lua_pushstring(L, info.name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* ---- forward ---- */

/* Field k of the options table as an i32 [B, S] tensor (NULL when absent). */
static const int32_t *opt_ints(lua_State *L, const char *k, int B, int S, int required)
{
    lua_getfield(L, 2, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "forward: option '%s' is required", k);
        return NULL;
    }
    zl_tensor *t = zl_lua_totensor(L, -1);
    if (!t || !t->data || t->dtype != ZL_I32)
        luaL_error(L, "forward: option '%s' must be an i32 tensor (got %s)", k,
                   t ? "a tensor of another dtype" : luaL_typename(L, -1));
    if (B > 0 && (t->ndim != 2 || t->shape[0] != B || t->shape[1] != S))
        luaL_error(L, "forward: option '%s' must have shape [%d,%d] like input_ids", k, B, S);
    lua_pop(L, 1); /* the options table keeps it alive */
    return ZL_I32P(t);
}

/* Grows the cached activations to hold B x S. */
static void ensure_acts(lua_State *L, bert_box *b, int B, int S)
{
    if (b->acts.memory && b->acts.maxB >= B && b->acts.maxS >= S) return;
    int nb = B, ns = S;
    if (b->acts.memory) {
        nb = B > b->acts.maxB ? B : b->acts.maxB;
        ns = S > b->acts.maxS ? S : b->acts.maxS;
    }
    zl_bert_acts_free(&b->acts);
    if (zl_bert_acts_alloc(&b->acts, &b->m->config, nb, ns, 0) != 0) zl_lua_fail(L);
}

/* m:forward{input_ids=, token_type_ids=, input_mask=, qmask=, pmask=, zone=, layer=,
 *           mask=, heads=, layers=, head_mask=, attentions=, hidden_states=,
 *           start_positions=, end_positions=, start_layer=, precision=}: the masking options are
 * lopts.c's (shared with the sweep and loss_and_grads); layers and heads are 1-based. */
static const char *const FORWARD_KEYS[] = {
    "input_ids", "token_type_ids", "input_mask", "qmask", "pmask", ZL_LUA_MASK_KEYS,
    "attentions", "hidden_states", "start_positions", "end_positions", "start_layer", "precision",
    NULL};

/* input_ids and the optional [B, S] inputs of the (snapshot) options table at 2. */
static zl_bert_inputs forward_inputs(lua_State *L, const zl_bert_config *c)
{
    lua_getfield(L, 2, "input_ids");
    zl_tensor *ids = zl_lua_totensor(L, -1);
    if (!ids || !ids->data || ids->dtype != ZL_I32 || ids->ndim != 2)
        luaL_error(L, "bad argument #1 to 'forward' (input_ids must be an i32 tensor [batch, seq])");
    lua_pop(L, 1); /* the snapshot keeps it alive */
    if (ids->shape[0] < 1 || ids->shape[1] < 1)
        luaL_error(L, "bad argument #1 to 'forward' (input_ids is empty)");
    if (ids->shape[1] > c->max_position_embeddings)
        luaL_error(L, "bad argument #1 to 'forward' (sequence length %I exceeds "
                      "max_position_embeddings %d)", (lua_Integer)ids->shape[1],
                   c->max_position_embeddings);
    if (ids->shape[0] > (1 << 20))
        luaL_error(L, "bad argument #1 to 'forward' (batch of %I exceeds 2^20)",
                   (lua_Integer)ids->shape[0]);
    int B = (int)ids->shape[0], S = (int)ids->shape[1];
    zl_bert_inputs in = {B, S, ZL_I32P(ids), opt_ints(L, "token_type_ids", B, S, 0),
                         opt_ints(L, "input_mask", B, S, 0), opt_ints(L, "qmask", B, S, 0),
                         opt_ints(L, "pmask", B, S, 0)};
    return in;
}

static int m_forward(lua_State *L)
{
    checkbox(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checkstack(L, 40, "forward");
    /* metamethods of the options run now, before any pointer is taken; the mask function
     * runs later, so every pointer is taken again after it (ownership, lpin.c) */
    zl_lua_snapshot(L, 2, FORWARD_KEYS);
    zl_lua_opts_check(L, 2, "forward", FORWARD_KEYS);
    bert_box *b = checkbox(L, 1);
    const zl_bert_config *c = &b->m->config;
    int L_ = c->num_hidden_layers, NH = c->num_attention_heads, H = c->hidden_size;

    zl_bert_inputs in = forward_inputs(L, c);
    int B = in.B, S = in.S;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);

    zl_lua_mask_spec spec;
    zl_bert_mask mk;
    zl_lua_mask_read(L, 2, "forward", c, &spec);
    zl_lua_mask_apply(L, &spec, B, S, "forward", &mk, &o); /* copies stay on the stack */
    /* start_layer = k (1-based): layers before k are those of the previous call */
    o.start_layer = zl_lua_opt_int(L, 2, "forward", "start_layer", 1, 1, L_) - 1;
    int want_att = zl_lua_opt_bool(L, 2, "forward", "attentions", 0);
    int want_hid = zl_lua_opt_bool(L, 2, "forward", "hidden_states", 0);
    o.precision = zl_lua_opt_precision(L, 2, "forward");
    const int32_t *sp = opt_ints(L, "start_positions", 0, 0, 0);
    const int32_t *ep = opt_ints(L, "end_positions", 0, 0, 0);
    if (sp || ep) {
        lua_getfield(L, 2, "start_positions");
        lua_getfield(L, 2, "end_positions");
        zl_tensor *ts = zl_lua_totensor(L, -2), *te = zl_lua_totensor(L, -1);
        if (!ts || !te || ts->numel != B || te->numel != B)
            return luaL_error(L, "forward: options 'start_positions' and 'end_positions' must both "
                                 "be i32 tensors of %d elements", B);
        lua_pop(L, 2);
    }

    b = checkbox(L, 1); /* the mask function or a list's metamethod may have closed it */
    ensure_acts(L, b, B, S);
    /* result table and output tensors first (userdata before the core call) */
    lua_createtable(L, 0, 5);
    int res = lua_gettop(L);
    int64_t s2[2] = {B, S};
    zl_tensor **st = zl_lua_newtensor(L);
    if (!(*st = zl_tensor_new(ZL_F32, 2, s2))) return zl_lua_fail(L);
    lua_setfield(L, res, "start_logits");
    zl_tensor **en = zl_lua_newtensor(L);
    if (!(*en = zl_tensor_new(ZL_F32, 2, s2))) return zl_lua_fail(L);
    lua_setfield(L, res, "end_logits");
    if (want_att) {
        int64_t s5[5] = {L_, B, NH, S, S};
        zl_tensor **t = zl_lua_newtensor(L);
        if (!(*t = zl_tensor_new(ZL_F32, 5, s5))) return zl_lua_fail(L);
        o.attentions = ZL_F32P(*t);
        lua_setfield(L, res, "attentions");
    }
    if (want_hid) {
        int64_t s4[4] = {L_ + 1, B, S, H};
        zl_tensor **t = zl_lua_newtensor(L);
        if (!(*t = zl_tensor_new(ZL_F32, 4, s4))) return zl_lua_fail(L);
        o.hidden_states = ZL_F32P(*t);
        lua_setfield(L, res, "hidden_states");
    }
    /* the mask function, the lists' metamethods or a finalizer run by the allocations above
     * may have closed the model or any input: every pointer is taken again, after the last
     * allocation (a tensor's shape never changes, so B and S still hold) */
    b = checkbox(L, 1);
    in = forward_inputs(L, c); /* the mask and head mask are copies (zl_lua_mask_apply) */
    sp = opt_ints(L, "start_positions", 0, 0, 0);
    ep = opt_ints(L, "end_positions", 0, 0, 0);
    if (zl_bert_forward(b->m, &b->acts, &in, &o) != 0) return zl_lua_fail(L);
    memcpy((*st)->data, b->acts.start_logits, (size_t)B * S * sizeof(float));
    memcpy((*en)->data, b->acts.end_logits, (size_t)B * S * sizeof(float));
    if (sp && ep) {
        double loss;
        if (zl_bert_span_loss(&loss, NULL, NULL, b->acts.start_logits, b->acts.end_logits, sp, ep,
                              B, S) != 0)
            return zl_lua_fail(L);
        lua_pushnumber(L, loss);
        lua_setfield(L, res, "loss");
    }
    lua_pushvalue(L, res);
    return 1;
}

/* zonelab.bert.span_loss(start_logits, end_logits, start_positions, end_positions) */
static int b_span_loss(lua_State *L)
{
    zl_tensor *s = zl_lua_checktensor(L, 1), *e = zl_lua_checktensor(L, 2);
    zl_tensor *sp = zl_lua_checktensor(L, 3), *ep = zl_lua_checktensor(L, 4);
    if (s->dtype != ZL_F32 || e->dtype != ZL_F32 || s->ndim != 2 || e->numel != s->numel)
        return luaL_argerror(L, 1, "logits must be two f32 tensors [batch, seq]");
    int B = (int)s->shape[0], S = (int)s->shape[1];
    if (sp->dtype != ZL_I32 || ep->dtype != ZL_I32 || sp->numel != B || ep->numel != B)
        return luaL_argerror(L, 3, "positions must be i32 tensors of batch elements");
    double loss;
    if (zl_bert_span_loss(&loss, NULL, NULL, ZL_F32P(s), ZL_F32P(e), ZL_I32P(sp), ZL_I32P(ep), B,
                          S) != 0)
        return zl_lua_fail(L);
    lua_pushnumber(L, loss);
    return 1;
}

/* zonelab.bert.check_precision(name) -> name; raises for an unknown precision or a bf16
 * that cannot run here (no oneDNN in this build, no native bf16 in this CPU) */
static int b_check_precision(lua_State *L)
{
    int p = zl_precision_parse(luaL_checkstring(L, 1));
    if (p < 0 || (p == ZL_PRECISION_BF16 && zl_bf16_check() != 0)) return zl_lua_fail(L);
    lua_settop(L, 1);
    return 1;
}

/* zonelab.bert.flops(model, batch, seq): 2 x multiply-adds of one forward */
static int b_flops(lua_State *L)
{
    bert_box *b = checkbox(L, 1);
    int B = zl_lua_checkint(L, 2, 1, 1 << 20, "batch");
    int S = zl_lua_checkint(L, 3, 1, 1 << 20, "sequence length");
    lua_pushnumber(L, zl_bert_forward_flops(&b->m->config, B, S));
    return 1;
}

/* zonelab.bert.zone_mask(zone, qmask, pmask) -> the 0/1 [S, S] (masks [S]) or [B, S, S]
 * (masks [B, S]) mask the forward applies for zone (1 = removed), from zl_zone_mask. */
static int b_zone_mask(lua_State *L)
{
    int z = zl_zone_parse(luaL_checkstring(L, 1));
    if (z < 0) return zl_lua_fail(L);
    zl_tensor *m[2] = {NULL, NULL};
    int64_t B = 1, S = 0;
    for (int k = 0; k < 2; k++) {
        if (lua_isnoneornil(L, k + 2)) continue;
        zl_tensor *t = zl_lua_checktensor(L, k + 2);
        if (t->dtype != ZL_I32 || t->ndim < 1 || t->ndim > 2 || t->numel > INT32_MAX ||
            (m[0] && (t->ndim != m[0]->ndim || t->numel != m[0]->numel)))
            return luaL_argerror(L, k + 2, "expected i32 masks of one shape [S] or [B, S]");
        m[k] = t;
        S = t->shape[t->ndim - 1];
        B = t->ndim == 2 ? t->shape[0] : 1;
    }
    zl_tensor *first = m[0] ? m[0] : m[1];
    if (!first) return luaL_error(L, "zone_mask: expected qmask and/or pmask tensors");
    int64_t shape[3] = {B, S, S};
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = first->ndim == 2 ? zl_tensor_new(ZL_F32, 3, shape)
                                   : zl_tensor_new(ZL_F32, 2, shape + 1)))
        return zl_lua_fail(L);
    if (zl_zone_mask((zl_zone)z, (int)B, (int)S, m[0] ? ZL_I32P(m[0]) : NULL,
                     m[1] ? ZL_I32P(m[1]) : NULL, ZL_F32P(*slot)) != 0)
        return zl_lua_fail(L);
    return 1;
}

int zl_lua_open_bert(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"config", m_config}, {"forward", m_forward}, {"params", m_params},
        {"loss_and_grads", zl_lua_optim_loss_and_grads},
        {"param_names", m_param_names}, {"save", m_save}, {"fresh_qa_head", m_fresh_qa_head},
        {"fresh_mlm_head", m_fresh_mlm_head},
        {"num_params", m_num_params}, {"init_random", m_init_random}, {"close", m_close},
        {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", m_gc}, {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"load", b_load}, {"new", b_new}, {"span_loss", b_span_loss},
        {"flops", b_flops}, {"check_precision", b_check_precision}, {"zone_mask", b_zone_mask}, {NULL, NULL}};
    if (luaL_newmetatable(L, BERT_MT)) {
        luaL_setfuncs(L, meta, 0);
        zl_lua_owner_mark(L, -1);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_createtable(L, 7, 0);
    for (int z = 0; z <= ZL_ZONE_ALL_STRICT; z++) {
        lua_pushstring(L, zl_zone_name((zl_zone)z));
        lua_rawseti(L, -2, z + 1);
    }
    lua_setfield(L, -2, "zones");
    return 1;
}
