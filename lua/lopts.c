/* lopts.c — options tables, read the same way by every binding: unknown keys refused by
 * name (with the nearest known key as a suggestion), typed getters whose errors name the
 * option and the expected type, layer/head numbers read 1-based, and the masking
 * specification (zone, layer, mask, heads, layers, head_mask) that m:forward,
 * zl.optim.loss_and_grads and every zl.sweep configuration accept.
 *
 * Messages: "<fn>: unknown option 'zonee' (did you mean 'zone'?)",
 *           "<fn>: option 'batch' must be an integer >= 1 (got string)".
 * zl.check_options (lzonelab.c) gives the stdlib the same check and message. */
#include "zl_lua.h"
#include "bert.h"
#include "bf16.h"

#include <string.h>

_Static_assert(sizeof(((zl_lua_mask_spec *)0)->layers) / sizeof(int) == ZL_BERT_MAX_LAYERS,
               "zl_lua_mask_spec.layers holds ZL_BERT_MAX_LAYERS entries");

/* Levenshtein distance of a and b (short option names: bounded at 64 characters). */
static int edit_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64) return 99;
    int prev[65], cur[65];
    for (size_t j = 0; j <= m; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= m; j++) {
            int d = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < d) d = prev[j] + 1;
            if (cur[j - 1] + 1 < d) d = cur[j - 1] + 1;
            cur[j] = d;
        }
        memcpy(prev, cur, (m + 1) * sizeof *cur);
    }
    return prev[m];
}

int zl_lua_opts_unknown(lua_State *L, int idx, const char *const *known)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; known[i] && !ok; i++) ok = strcmp(k, known[i]) == 0;
        }
        if (!ok) {
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            const char *best = NULL;
            int bestd = 99;
            for (int i = 0; k && known[i]; i++) {
                int d = edit_distance(k, known[i]);
                if (d < bestd) { bestd = d; best = known[i]; }
            }
            /* a suggestion only when it is plausibly a typo of that name */
            int limit = k && strlen(k) > 5 ? 2 : 1;
            if (k && best && bestd <= limit)
                lua_pushfstring(L, "unknown option '%s' (did you mean '%s'?)", k, best);
            else if (k)
                lua_pushfstring(L, "unknown option '%s'", k);
            else
                lua_pushfstring(L, "unknown option of type %s (options are named by strings)",
                                luaL_typename(L, -1));
            lua_remove(L, -2); /* the key */
            return 1;
        }
    }
    return 0;
}

void zl_lua_opts_check(lua_State *L, int idx, const char *fn, const char *const *known)
{
    if (lua_isnoneornil(L, idx)) return;
    if (!lua_istable(L, idx)) luaL_error(L, "%s: the options must be a table (got %s)", fn, luaL_typename(L, idx));
    if (zl_lua_opts_unknown(L, idx, known))
        luaL_error(L, "%s: %s", fn, lua_tostring(L, -1));
}

/* Pushes field k of the table at idx (nil when idx is none or nil); returns its type. */
static int getopt(lua_State *L, int idx, const char *k)
{
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, idx, k);
}

int zl_lua_opt_int(lua_State *L, int idx, const char *fn, const char *k, int def, int lo, int hi)
{
    idx = lua_absindex(L, idx);
    int v = def;
    if (getopt(L, idx, k) != LUA_TNIL) {
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (!ok || lua_type(L, -1) != LUA_TNUMBER || x < lo || x > hi) {
            if (hi >= 1000000000)
                luaL_error(L, "%s: option '%s' must be an integer >= %d (got %s)", fn, k, lo,
                           lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
            luaL_error(L, "%s: option '%s' must be an integer %d..%d (got %s)", fn, k, lo, hi,
                       lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        }
        v = (int)x;
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer zl_lua_opt_int64(lua_State *L, int idx, const char *fn, const char *k, lua_Integer def)
{
    idx = lua_absindex(L, idx);
    lua_Integer v = def;
    if (getopt(L, idx, k) != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: option '%s' must be an integer (got %s)", fn, k, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

double zl_lua_opt_number(lua_State *L, int idx, const char *fn, const char *k, double def)
{
    idx = lua_absindex(L, idx);
    double v = def;
    if (getopt(L, idx, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: option '%s' must be a number (got %s)", fn, k, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

int zl_lua_opt_bool(lua_State *L, int idx, const char *fn, const char *k, int def)
{
    idx = lua_absindex(L, idx);
    int v = def;
    if (getopt(L, idx, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_error(L, "%s: option '%s' must be a boolean (got %s)", fn, k, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

const char *zl_lua_opt_string(lua_State *L, int idx, const char *fn, const char *k, const char *def)
{
    idx = lua_absindex(L, idx);
    const char *v = def;
    if (getopt(L, idx, k) != LUA_TNIL) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option '%s' must be a string (got %s)", fn, k, luaL_typename(L, -1));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the options table keeps the string alive */
    return v;
}

int zl_lua_opt_precision(lua_State *L, int idx, const char *fn)
{
    const char *v = zl_lua_opt_string(L, idx, fn, "precision", "fp32");
    if (strcmp(v, "fp32") != 0 && strcmp(v, "bf16") != 0)
        luaL_error(L, "%s: option 'precision' must be \"fp32\" or \"bf16\" (got %s)", fn, v);
    if (strcmp(v, "fp32") == 0) return ZL_PRECISION_FP32;
    if (zl_bf16_check() != 0) zl_lua_fail(L);
    return ZL_PRECISION_BF16;
}

int zl_lua_opt_layer(lua_State *L, int idx, const char *fn, const char *k, int nlayers, int def)
{
    idx = lua_absindex(L, idx);
    int v = def;
    int t = getopt(L, idx, k);
    if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "all") == 0) v = -1;
    else if (t != LUA_TNIL) {
        int ok;
        lua_Integer x = lua_tointegerx(L, -1, &ok);
        if (t != LUA_TNUMBER || !ok || x < 1 || x > nlayers)
            luaL_error(L, "%s: option '%s' must be a layer number 1..%d or \"all\" (got %s)", fn, k,
                       nlayers, t == LUA_TNUMBER || t == LUA_TSTRING ? lua_tostring(L, -1)
                                                                      : luaL_typename(L, -1));
        v = (int)x - 1;
    }
    lua_pop(L, 1);
    return v;
}

/* A list of 1-based numbers 1..limit in option k, stored 0-based in out; -1 when absent. */
static int opt_numbers(lua_State *L, int idx, const char *fn, const char *k, const char *what,
                       int *out, int max, int limit)
{
    int t = getopt(L, idx, k);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return -1;
    }
    if (t != LUA_TTABLE)
        luaL_error(L, "%s: option '%s' must be a list of %s numbers 1..%d (got %s)", fn, k, what,
                   limit, luaL_typename(L, -1));
    lua_Integer n = luaL_len(L, -1);
    if (n < 1 || n > max) luaL_error(L, "%s: option '%s' must list 1..%d %ss", fn, k, max, what);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, -1, i);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (lua_type(L, -1) != LUA_TNUMBER || !ok || v < 1 || v > limit)
            luaL_error(L, "%s: option '%s': entry %d must be a %s number 1..%d (got %s)", fn, k,
                       (int)i, what, limit,
                       lua_type(L, -1) == LUA_TNUMBER ? lua_tostring(L, -1) : luaL_typename(L, -1));
        out[i - 1] = (int)v - 1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return (int)n;
}

void zl_lua_mask_read(lua_State *L, int idx, const char *fn, const zl_bert_config *c,
                      zl_lua_mask_spec *s)
{
    idx = lua_absindex(L, idx);
    int NL = c->num_hidden_layers, NH = c->num_attention_heads;
    memset(s, 0, sizeof *s);
    s->zone = ZL_ZONE_NONE;
    s->layer = -1;
    s->n_heads = s->n_layers = -1;
    s->nl = NL;
    s->nh = NH;
    if (getopt(L, idx, "zone") != LUA_TNIL) {
        const char *zn = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int z = zn ? zl_zone_parse(zn) : -1;
        if (z < 0)
            luaL_error(L, "%s: option 'zone' must be one of none, q2, q2p, p2q, p2, all, all_strict "
                          "(got %s)", fn, zn ? zn : luaL_typename(L, -1));
        s->zone = (zl_zone)z;
    }
    lua_pop(L, 1);
    s->layer = zl_lua_opt_layer(L, idx, fn, "layer", NL, -1);
    if (s->zone == ZL_ZONE_NONE) {
        if (getopt(L, idx, "layer") != LUA_TNIL)
            luaL_error(L, "%s: option 'layer' places a zone: give a zone other than none", fn);
        lua_pop(L, 1);
    }
    if (getopt(L, idx, "mask") != LUA_TNIL) {
        zl_tensor *pat = zl_lua_totensor(L, -1);
        if (pat) {
            if (pat->dtype != ZL_F32 || !pat->data || pat->ndim < 2 || pat->ndim > 3)
                luaL_error(L, "%s: option 'mask' must be an f32 tensor [S,S] or [B,S,S]", fn);
        } else if (!lua_isfunction(L, -1)) {
            luaL_error(L, "%s: option 'mask' must be a tensor or a function (got %s)", fn,
                       luaL_typename(L, -1));
        }
        s->has_mask = 1;
    }
    lua_pop(L, 1);
    s->n_heads = opt_numbers(L, idx, fn, "heads", "head", s->heads, ZL_LUA_MAX_HEADS, NH);
    s->n_layers = opt_numbers(L, idx, fn, "layers", "layer", s->layers, ZL_BERT_MAX_LAYERS, NL);
    if (!s->has_mask && (s->n_heads >= 0 || s->n_layers >= 0))
        luaL_error(L, "%s: options 'heads' and 'layers' restrict a mask: give 'mask' too (a zone "
                      "takes one 'layer' = 1..%d or \"all\")", fn, NL);
    if (getopt(L, idx, "head_mask") != LUA_TNIL) {
        zl_tensor *t = zl_lua_totensor(L, -1);
        if (!t || t->dtype != ZL_F32 || !t->data || !(t->numel == NH || t->numel == (int64_t)NL * NH))
            luaL_error(L, "%s: option 'head_mask' must be an f32 tensor of [%d] or [%d,%d] "
                          "multipliers", fn, NH, NL, NH);
        s->has_head_mask = 1;
    }
    lua_pop(L, 1);
    s->idx = idx;
}

/* The mask function's value for (from, to, batch): a number or a boolean. */
static float call_mask(lua_State *L, int fidx, int f, int t, int bb, const char *fn)
{
    lua_pushvalue(L, fidx);
    lua_pushinteger(L, f + 1);
    lua_pushinteger(L, t + 1);
    if (bb >= 0) lua_pushinteger(L, bb + 1);
    else lua_pushnil(L);
    lua_call(L, 3, 1);
    float v;
    if (lua_isboolean(L, -1) || lua_isnil(L, -1)) v = lua_toboolean(L, -1) ? 1.0f : 0.0f;
    else {
        int ok;
        v = (float)lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s: the mask function must return a number or a boolean", fn);
    }
    lua_pop(L, 1);
    return v;
}

void zl_lua_mask_apply(lua_State *L, zl_lua_mask_spec *s, int B, int S, const char *fn,
                       zl_bert_mask *mk, zl_bert_forward_opts *o)
{
    o->zone = s->zone;
    o->mask_layer = s->layer;
    memset(mk, 0, sizeof *mk);
    if (s->has_mask) {
        lua_getfield(L, s->idx, "mask");
        int midx = lua_gettop(L);
        zl_tensor *pat = zl_lua_totensor(L, midx);
        int64_t shp[3] = {B > 0 ? B : 1, S, S};
        zl_tensor **slot = zl_lua_newtensor(L); /* a copy: kept on the stack by the caller */
        if (pat) {
            if (pat->ndim == 2 && pat->shape[0] == S && pat->shape[1] == S) mk->batched = 0;
            else if (B > 0 && pat->ndim == 3 && pat->shape[0] == B && pat->shape[1] == S &&
                     pat->shape[2] == S)
                mk->batched = 1;
            else if (B > 0)
                luaL_error(L, "%s: option 'mask' must have shape [%d,%d] or [%d,%d,%d]", fn, S, S, B,
                           S, S);
            else
                luaL_error(L, "%s: option 'mask' must have shape [%d,%d] (max_seq_length: every "
                              "feature is padded to it)", fn, S, S);
            int64_t n = mk->batched ? (int64_t)B * S * S : (int64_t)S * S;
            shp[0] = mk->batched ? B : 1;
            if (!(*slot = zl_tensor_new(ZL_F32, 3, shp))) zl_lua_fail(L);
            memcpy((*slot)->data, pat->data, (size_t)n * sizeof(float));
        } else {
            /* a function of (from, to, batch), 1-based; batch is nil when the caller batches
               features itself (the sweep): the pattern is then the same for every feature */
            mk->batched = B > 0;
            if (!(*slot = zl_tensor_new(ZL_F32, 3, shp))) zl_lua_fail(L);
            float *p = ZL_F32P(*slot);
            for (int bb = 0; bb < (B > 0 ? B : 1); bb++)
                for (int f = 0; f < S; f++)
                    for (int t = 0; t < S; t++)
                        p[((int64_t)bb * S + f) * S + t] = call_mask(L, midx, f, t, B > 0 ? bb : -1, fn);
        }
        lua_remove(L, midx);
        mk->pattern = ZL_F32P(*slot);
        if (s->n_heads >= 0) { mk->heads = s->heads; mk->n_heads = s->n_heads; }
        if (s->n_layers >= 0) { mk->layers = s->layers; mk->n_layers = s->n_layers; }
        o->masks = mk;
        o->n_masks = 1;
    }
    if (s->has_head_mask) {
        lua_getfield(L, s->idx, "head_mask");
        zl_tensor *t = zl_lua_totensor(L, -1);
        int64_t shp[1] = {(int64_t)s->nl * s->nh};
        zl_tensor **slot = zl_lua_newtensor(L);
        if (!(*slot = zl_tensor_new(ZL_F32, 1, shp))) zl_lua_fail(L);
        float *hm = ZL_F32P(*slot);
        for (int64_t i = 0; i < shp[0]; i++) hm[i] = ZL_F32P(t)[i % t->numel];
        lua_remove(L, -2);
        o->head_mask = hm;
    }
}
