/* lflows.c — zonelab.flows: Attention Flows graphs (core/flows.h) as full userdata.
 * Layers and heads are 1-based, as everywhere in Lua: attention layer l = 1..L is the
 * l-th encoder layer, node layer l = 1..L+1 its input (node layer L+1 = the target); the
 * binding converts to the core's 0-based numbers. Token positions stay 0-based, as the
 * model and the JSON export see them (the JSON is 0-based throughout: docs/flows.md);
 * `batch` is a 1-based index into the tensor.
 *
 *   local out = m:forward{input_ids = ids, ..., attentions = true}
 *   local g = zl.flows.build(out.attentions, {tau = 0.3, alpha = 0.5, target = {0},
 *       heads = {1, 4}, head_layers = {12}, tokens = pieces, batch = 1, length = n})
 *   g:count(l, t), g:influence(l, t), g:circles(l, t), g:nodes(l) -> {positions}
 *   g:edges() -> {{layer, from, to, {heads}}...}; g:token_heads(l, t) -> {[head] = fanout}
 *   g:depends_on(l, t_or_list, {intersect =, via = {layer =, head =}}) -> {[layer] = {tokens}}
 *   g:dependents(l, t_or_list, opts); g:between(lx, xs, ly, ys, opts) ->
 *       {tokens = {[layer] = {...}}, heads = {[layer] = {...}}, edges = n}
 *   g:describe() -> text; g:show(result) -> text (a {[layer] = {tokens}} table); g:json({pretty =}) -> string; g:tokens(); g:info()
 *   zl.flows.compare(a, b) -> {shared, only_a, only_b = {[layer] = {...}}, heads_shared, ...}
 *   zl.flows.compare_json(a, b, {pretty =}); zl.flows.circles(x)
 *   zl.flows.draw(path, a, b_or_nil, {title, subtitle, name_a, name_b, layer, max_ring_tokens,
 *                     max_edges}) */
#include "zl_lua.h"
#include "error.h"
#include "flows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLOWS_MT "zonelab.flows.graph"

static void graph_free(void *g) { zl_flows_free(g); }

static void graph_describe(lua_State *L, zl_lua_box *b)
{
    const zl_flows_graph *g = b->obj;
    lua_pushfstring(L, "flows graph: %d layers, %d heads, %d tokens, %d edges, tau %f", g->L, g->NH,
                    g->S, g->n_edges, g->tau);
}

static const zl_lua_class GRAPH = {FLOWS_MT, "flows graph has been closed", "flows graph (closed)",
                                   graph_free, 0, 0, graph_describe};

static zl_flows_graph *checkgraph(lua_State *L, int idx)
{
    return zl_lua_class_check(L, idx, &GRAPH)->obj;
}

/* A list of integers in [0, limit) at idx (a number or a sequence), copied into a
 * userdata pushed on the stack (collected with it, so errors leak nothing). */
/* A number or a list of numbers base..limit-1+base (base 0: token positions; 1: layers and
 * heads), returned 0-based. */
static int *int_list(lua_State *L, int idx, int limit, int *n, const char *what, int base)
{
    idx = lua_absindex(L, idx);
    if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx) - base;
        if (v < 0 || v >= limit)
            luaL_error(L, "%s: %d is outside %d..%d", what, (int)(v + base), base, limit - 1 + base);
        int *a = lua_newuserdatauv(L, sizeof *a, 0);
        *a = (int)v;
        *n = 1;
        return a;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "%s must be a %d-based number or a list of them", what, base);
    lua_Integer len = luaL_len(L, idx);
    if (len < 0 || len > (1 << 24)) luaL_error(L, "%s: too many entries", what);
    int *a = lua_newuserdatauv(L, (size_t)(len > 0 ? len : 1) * sizeof *a, 0);
    for (lua_Integer i = 1; i <= len; i++) {
        lua_geti(L, idx, i);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok) - base;
        lua_pop(L, 1);
        if (!ok || v < 0 || v >= limit)
            luaL_error(L, "%s: entry %d must be an integer %d..%d", what, (int)i, base, limit - 1 + base);
        a[i - 1] = (int)v;
    }
    *n = (int)len;
    return a;
}

static double opt_number(lua_State *L, int t, const char *k, double def)
{
    return zl_lua_opt_number(L, t, "flows", k, def);
}

/* zl.flows.build(attentions, opts) */
static int f_build(lua_State *L)
{
    static const char *const known[] = {"tau", "alpha", "batch", "length", "first_segment",
                                        "target", "heads", "head_layers", "tokens", NULL};
    zl_tensor *att = zl_lua_checktensor(L, 1);
    zl_lua_opts_check(L, 2, "flows.build", known);
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
    else {
        lua_settop(L, 1);
        lua_newtable(L);
    }
    if (att->ndim != 4 && att->ndim != 5)
        return luaL_argerror(L, 1, "attentions must be [layers, batch, heads, seq, seq] or [layers, heads, seq, seq]");
    int five = att->ndim == 5;
    int Lr = (int)att->shape[0], NH = (int)att->shape[five ? 2 : 1], S = (int)att->shape[five ? 3 : 2];
    zl_flows_opts o;
    zl_flows_opts_init(&o);
    o.tau = opt_number(L, 2, "tau", o.tau);
    o.alpha = opt_number(L, 2, "alpha", o.alpha);
    /* numbers range-checked before the conversion (out of int's range it is undefined) */
    int batch = zl_lua_number_to_int(L, opt_number(L, 2, "batch", 1), -ZL_LUA_INT_LIMIT,
                                     ZL_LUA_INT_LIMIT, "flows option batch") - 1;
    int length = zl_lua_number_to_int(L, opt_number(L, 2, "length", 0), -ZL_LUA_INT_LIMIT,
                                      ZL_LUA_INT_LIMIT, "flows option length");
    if (length < 0 || length > S) return luaL_error(L, "flows option length must be 1..%d", S);
    int n = length ? length : S;
    o.first_segment = zl_lua_number_to_int(L, opt_number(L, 2, "first_segment", 0), -ZL_LUA_INT_LIMIT,
                                           ZL_LUA_INT_LIMIT, "flows option first_segment");
    int *heads = NULL, *hl = NULL, nh = 0, nhl = 0;
    lua_getfield(L, 2, "target");
    int tidx = lua_gettop(L);
    if (!lua_isnil(L, tidx) && !(lua_type(L, tidx) == LUA_TSTRING && strcmp(lua_tostring(L, tidx), "cls") == 0))
        o.target = int_list(L, tidx, n, &o.n_target, "flows option target", 0);
    lua_getfield(L, 2, "heads");
    if (!lua_isnil(L, -1)) heads = int_list(L, -1, NH, &nh, "flows option heads", 1);
    lua_getfield(L, 2, "head_layers");
    if (!lua_isnil(L, -1)) {
        if (!heads) return luaL_error(L, "flows option head_layers needs heads");
        hl = int_list(L, -1, Lr, &nhl, "flows option head_layers", 1);
    }
    if (heads) {
        unsigned char *mask = lua_newuserdatauv(L, (size_t)Lr * NH, 0);
        for (int l = 0; l < Lr; l++) {
            int restricted = !hl;
            for (int i = 0; i < nhl; i++) restricted |= hl[i] == l;
            for (int j = 0; j < NH; j++) mask[l * NH + j] = (unsigned char)!restricted;
            if (restricted)
                for (int i = 0; i < nh; i++) mask[l * NH + heads[i]] = 1;
        }
        o.heads = mask;
    }
    lua_getfield(L, 2, "tokens");
    int tok_idx = lua_gettop(L);
    if (!lua_isnil(L, tok_idx)) {
        if (!lua_istable(L, tok_idx) || luaL_len(L, tok_idx) < n)
            return luaL_error(L, "flows option tokens must list at least %d wordpieces", n);
        const char **tokens = lua_newuserdatauv(L, (size_t)n * sizeof *tokens, 0);
        lua_createtable(L, n, 0); /* keeps the strings alive (an __index may have made them) */
        int keep = lua_gettop(L);
        for (int i = 0; i < n; i++) {
            lua_geti(L, tok_idx, i + 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "flows option tokens: entry %d is not a string", i + 1);
            tokens[i] = lua_tostring(L, -1);
            lua_rawseti(L, keep, i + 1);
        }
        o.tokens = tokens;
    }
    zl_lua_class_new(L, &GRAPH, sizeof(zl_lua_box), 0, NULL);
    /* the options' metamethods (or the allocation's finalizers) may have closed the
     * attentions: take them again */
    att = zl_lua_checktensor(L, 1);
    return zl_lua_class_set(L, &GRAPH, zl_flows_build(att, batch, length, &o));
}

/* A 1-based layer 1..max+1, returned 0-based. */
static int check_layer(lua_State *L, int arg, int max)
{
    lua_Integer l = luaL_checkinteger(L, arg) - 1;
    if (l < 0 || l > max) luaL_argerror(L, arg, lua_pushfstring(L, "layer must be 1..%d", max + 1));
    return (int)l;
}

static int check_token(lua_State *L, const zl_flows_graph *g, int arg)
{
    lua_Integer t = luaL_checkinteger(L, arg);
    if (t < 0 || t >= g->S) luaL_argerror(L, arg, lua_pushfstring(L, "token must be 0..%d", g->S - 1));
    return (int)t;
}

static int g_count(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int l = check_layer(L, 2, g->L - 1), t = check_token(L, g, 3);
    lua_pushinteger(L, g->counts[(size_t)l * g->S + t]);
    return 1;
}

static int g_influence(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int l = check_layer(L, 2, g->L - 1), t = check_token(L, g, 3);
    lua_pushnumber(L, g->influence[(size_t)l * g->S + t]);
    return 1;
}

static int g_circles(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int l = check_layer(L, 2, g->L - 1), t = check_token(L, g, 3);
    lua_pushinteger(L, zl_flows_circles(g->influence[(size_t)l * g->S + t]));
    return 1;
}

/* Lists carry zonelab.json's array metatable (when loaded) so zl.json.encode prints
 * an empty one as [] rather than {}. */
static void mark_array(lua_State *L)
{
    if (luaL_getmetatable(L, "zonelab.json.array") == LUA_TTABLE) lua_setmetatable(L, -2);
    else lua_pop(L, 1);
}

static void push_positions(lua_State *L, const unsigned char *row, int S)
{
    lua_newtable(L);
    mark_array(L);
    lua_Integer k = 1;
    for (int t = 0; t < S; t++)
        if (row[t]) {
            lua_pushinteger(L, t);
            lua_rawseti(L, -2, k++);
        }
}

static void push_heads(lua_State *L, uint64_t h, int NH)
{
    lua_newtable(L);
    mark_array(L);
    lua_Integer k = 1;
    for (int j = 0; j < NH; j++)
        if ((h >> j) & 1) {
            lua_pushinteger(L, j + 1);
            lua_rawseti(L, -2, k++);
        }
}

static int g_nodes(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int l = check_layer(L, 2, g->L);
    push_positions(L, g->nodes + (size_t)l * g->S, g->S);
    return 1;
}

static int g_tokens(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    lua_createtable(L, g->S, 0);
    for (int t = 0; t < g->S; t++) {
        if (g->tokens) lua_pushstring(L, g->tokens[t]);
        else lua_pushfstring(L, "t%d", t);
        lua_rawseti(L, -2, t + 1);
    }
    return 1;
}

static int g_info(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, g->L), lua_setfield(L, -2, "num_layers");
    lua_pushinteger(L, g->NH), lua_setfield(L, -2, "num_heads");
    lua_pushinteger(L, g->S), lua_setfield(L, -2, "length");
    lua_pushinteger(L, g->n_edges), lua_setfield(L, -2, "num_edges");
    lua_pushnumber(L, g->tau), lua_setfield(L, -2, "tau");
    lua_pushnumber(L, g->alpha), lua_setfield(L, -2, "alpha");
    lua_pushinteger(L, g->first_segment), lua_setfield(L, -2, "first_segment");
    lua_createtable(L, g->n_target, 0);
    for (int i = 0; i < g->n_target; i++) lua_pushinteger(L, g->target[i]), lua_rawseti(L, -2, i + 1);
    lua_setfield(L, -2, "target");
    return 1;
}

static int g_edges(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    lua_createtable(L, g->n_edges, 0);
    for (int i = 0; i < g->n_edges; i++) {
        const zl_flows_edge *e = &g->edges[i];
        lua_createtable(L, 4, 0);
        lua_pushinteger(L, e->layer + 1), lua_rawseti(L, -2, 1);
        lua_pushinteger(L, e->from), lua_rawseti(L, -2, 2);
        lua_pushinteger(L, e->to), lua_rawseti(L, -2, 3);
        push_heads(L, e->heads, g->NH);
        lua_rawseti(L, -2, 4);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* g:token_heads(layer, token): heads (1-based) token (at node layer layer+1) uses at
 * attention layer `layer`, with how many tokens each attends to. */
static int g_token_heads(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int l = check_layer(L, 2, g->L - 1), t = check_token(L, g, 3);
    int fan[ZL_FLOWS_MAX_HEADS];
    uint64_t h = zl_flows_token_heads(g, l, t, fan);
    lua_newtable(L);
    for (int j = 0; j < g->NH; j++)
        if ((h >> j) & 1) {
            lua_pushinteger(L, fan[j]);
            lua_rawseti(L, -2, j + 1);
        }
    return 1;
}

/* Query options: intersect (bool), via = {layer =, head =} (one head at one layer). */
static unsigned char *query_opts(lua_State *L, int idx, const zl_flows_graph *g, int *intersect)
{
    *intersect = 0;
    if (lua_isnoneornil(L, idx)) return NULL;
    luaL_checktype(L, idx, LUA_TTABLE);
    static const char *const known[] = {"intersect", "via", NULL};
    zl_lua_opts_check(L, idx, "flows query", known);
    lua_getfield(L, idx, "intersect");
    *intersect = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, idx, "via");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    if (!lua_istable(L, -1)) luaL_error(L, "query option via must be {layer =, head =}");
    lua_getfield(L, -1, "layer");
    lua_getfield(L, -2, "head");
    int ok1, ok2;
    lua_Integer vl = lua_tointegerx(L, -2, &ok1), vh = lua_tointegerx(L, -1, &ok2);
    lua_pop(L, 3);
    vl--, vh--; /* 1-based */
    if (!ok1 || !ok2 || vl < 0 || vl >= g->L || vh < 0 || vh >= g->NH)
        luaL_error(L, "query option via: layer must be 1..%d and head 1..%d", g->L, g->NH);
    /* userdata-backed scratch so a later error cannot leak it */
    unsigned char *m = lua_newuserdatauv(L, (size_t)g->L * g->NH, 0);
    memcpy(m, g->heads, (size_t)g->L * g->NH);
    for (int j = 0; j < g->NH; j++) m[vl * g->NH + j] = (unsigned char)(j == vh && g->heads[vl * g->NH + j]);
    return m;
}

static void push_layers(lua_State *L, const unsigned char *out, const zl_flows_graph *g, int lo, int hi)
{
    lua_newtable(L);
    for (int l = lo; l <= hi; l++) {
        push_positions(L, out + (size_t)l * g->S, g->S);
        lua_rawseti(L, -2, l + 1);
    }
}

static int trace(lua_State *L, zl_flows_dir dir)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int layer = check_layer(L, 2, g->L);
    int intersect;
    unsigned char *hm = query_opts(L, 4, g, &intersect);
    unsigned char *out = lua_newuserdatauv(L, (size_t)(g->L + 1) * g->S, 0);
    int n;
    int *toks = int_list(L, 3, g->S, &n, "tokens", 0);
    if (checkgraph(L, 1) != g) return luaL_error(L, "flows: the graph changed"); /* raises if closed */
    int rc = zl_flows_trace(g, layer, toks, n, dir, intersect, hm, out);
    if (rc < 0) return zl_lua_fail(L);
    if (dir == ZL_FLOWS_BACKWARD) push_layers(L, out, g, 0, layer - 1);
    else push_layers(L, out, g, layer + 1, g->L);
    return 1;
}

static int g_depends_on(lua_State *L) { return trace(L, ZL_FLOWS_BACKWARD); }
static int g_dependents(lua_State *L) { return trace(L, ZL_FLOWS_FORWARD); }

/* g:between(lx, xs, ly, ys, {intersect =}) */
static int g_between(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    int lx = check_layer(L, 2, g->L), ly = check_layer(L, 4, g->L);
    int intersect;
    query_opts(L, 6, g, &intersect);
    unsigned char *out = lua_newuserdatauv(L, (size_t)(g->L + 1) * g->S, 0);
    uint64_t *heads = lua_newuserdatauv(L, (size_t)g->L * sizeof *heads, 0);
    int nx, ny;
    int *xs = int_list(L, 3, g->S, &nx, "tokens", 0);
    int *ys = int_list(L, 5, g->S, &ny, "tokens", 0);
    if (checkgraph(L, 1) != g) return luaL_error(L, "flows: the graph changed"); /* raises if closed */
    int rc = zl_flows_between(g, lx, xs, nx, ly, ys, ny, intersect, out, heads);
    if (rc < 0) return zl_lua_fail(L);
    lua_createtable(L, 0, 3);
    push_layers(L, out, g, lx, ly);
    lua_setfield(L, -2, "tokens");
    lua_newtable(L);
    for (int l = lx; l < ly; l++) {
        push_heads(L, heads[l], g->NH);
        lua_rawseti(L, -2, l + 1);
    }
    lua_setfield(L, -2, "heads");
    lua_pushinteger(L, rc);
    lua_setfield(L, -2, "edges");
    return 1;
}

/* g:describe(): the graph as text, one line per node layer, deepest first. */
static int g_describe(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "tau %f, alpha %f, %d layers, %d edges\n", g->tau, g->alpha, g->L, g->n_edges);
    luaL_addvalue(&b);
    for (int l = g->L; l >= 0; l--) {
        char head[32];
        if (l == g->L) snprintf(head, sizeof head, "target  :");
        else snprintf(head, sizeof head, "layer %2d:", l + 1);
        luaL_addstring(&b, head);
        for (int t = 0; t < g->S; t++) {
            if (!g->nodes[(size_t)l * g->S + t]) continue;
            if (g->tokens) lua_pushfstring(L, " %d:%s", t, g->tokens[t]);
            else lua_pushfstring(L, " %d", t);
            luaL_addvalue(&b);
            if (l < g->L) {
                lua_pushfstring(L, "(%d)", (int)g->counts[(size_t)l * g->S + t]);
                luaL_addvalue(&b);
            }
        }
        luaL_addchar(&b, '\n');
    }
    luaL_pushresult(&b);
    return 1;
}

/* g:show(result): a {[node layer (1-based)] = {tokens}} table (depends_on, dependents,
 * between(...).tokens, compare(...).shared, ...) as text with the wordpieces, deepest first. */
static int g_show(lua_State *L)
{
    zl_flows_graph *g = checkgraph(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushliteral(L, ""); /* the text so far, at index 3 */
    for (int l = g->L; l >= 0; l--) {
        if (lua_rawgeti(L, 2, l + 1) != LUA_TTABLE) { /* the layer's list, at index 4 */
            lua_pop(L, 1);
            continue;
        }
        lua_pushstring(L, l == g->L ? "target  :" : lua_pushfstring(L, "layer %d:", l + 1));
        if (l != g->L) lua_remove(L, -2);
        lua_Integer n = (lua_Integer)lua_rawlen(L, 4);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 4, i);
            int ok;
            lua_Integer t = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok || t < 0 || t >= g->S) continue;
            if (g->tokens) lua_pushfstring(L, " %d:%s", (int)t, g->tokens[t]);
            else lua_pushfstring(L, " %d", (int)t);
            lua_concat(L, 2);
        }
        lua_pushliteral(L, "\n");
        lua_concat(L, 2);
        lua_remove(L, 4);
        lua_concat(L, 2);
    }
    return 1;
}

static int opt_pretty(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx)) return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    static const char *const known[] = {"pretty", NULL};
    zl_lua_opts_check(L, idx, "flows json", known);
    lua_getfield(L, idx, "pretty");
    int p = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return p;
}

static int push_owned_string(lua_State *L, char *s)
{
    if (!s) return zl_lua_fail(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int g_json(lua_State *L)
{
    checkgraph(L, 1);
    int pretty = opt_pretty(L, 2); /* its metamethods may close the graph: taken after */
    return push_owned_string(L, zl_flows_json(checkgraph(L, 1), pretty));
}

static int f_compare_json(lua_State *L)
{
    checkgraph(L, 1);
    checkgraph(L, 2);
    int pretty = opt_pretty(L, 3); /* its metamethods may close the graphs: taken after */
    zl_flows_graph *a = checkgraph(L, 1), *b = checkgraph(L, 2);
    return push_owned_string(L, zl_flows_compare_json(a, b, pretty));
}

static int f_compare(lua_State *L)
{
    zl_flows_graph *a = checkgraph(L, 1), *b = checkgraph(L, 2);
    zl_flows_compare *c = zl_flows_compare_new(a, b);
    if (!c) return zl_lua_fail(L);
    unsigned char *row = lua_newuserdatauv(L, (size_t)c->S, 0);
    lua_createtable(L, 0, 6);
    static const char *const names[3] = {"only_a", "only_b", "shared"};
    static const char *const hnames[3] = {"heads_only_a", "heads_only_b", "heads_shared"};
    for (int code = 1; code <= 3; code++) {
        lua_newtable(L);
        for (int l = 0; l <= c->L; l++) {
            for (int t = 0; t < c->S; t++) row[t] = c->nodes[(size_t)l * c->S + t] == code;
            push_positions(L, row, c->S);
            lua_rawseti(L, -2, l + 1);
        }
        lua_setfield(L, -2, names[code - 1]);
        lua_newtable(L);
        for (int l = 0; l < c->L; l++) {
            uint64_t h = 0;
            for (int j = 0; j < c->NH; j++)
                if (c->heads[l * c->NH + j] == code) h |= (uint64_t)1 << j;
            push_heads(L, h, c->NH);
            lua_rawseti(L, -2, l + 1);
        }
        lua_setfield(L, -2, hnames[code - 1]);
    }
    zl_flows_compare_free(c);
    return 1;
}

static int f_circles(lua_State *L)
{
    lua_pushinteger(L, zl_flows_circles(luaL_checknumber(L, 1)));
    return 1;
}

/* zl.flows.draw(path, a, b_or_nil, opts) */
static int f_draw(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zl_flows_graph *a = checkgraph(L, 2);
    zl_flows_graph *b = lua_isnoneornil(L, 3) ? NULL : checkgraph(L, 3);
    zl_flows_draw_opts o = {0};
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        static const char *const known[] = {"title", "subtitle", "name_a", "name_b", "layer",
                                            "max_ring_tokens", "max_edges", NULL};
        zl_lua_opts_check(L, 4, "flows.draw", known);
        static const char *const keys[4] = {"title", "subtitle", "name_a", "name_b"};
        const char **dst[4] = {&o.title, &o.subtitle, &o.name_a, &o.name_b};
        for (int i = 0; i < 4; i++) {
            lua_getfield(L, 4, keys[i]); /* stays on the stack: keeps the string alive */
            if (!lua_isnil(L, -1)) {
                if (!lua_isstring(L, -1)) return luaL_error(L, "draw option %s must be a string", keys[i]);
                *dst[i] = lua_tostring(L, -1);
            }
        }
        /* 1-based: layer k shows I_k (layer 1, the default, summarises every layer) */
        o.sentence_layer = zl_lua_opt_int(L, 4, "flows.draw", "layer", 1, 1, a->L) - 1;
        o.max_ring_tokens = zl_lua_opt_int(L, 4, "flows.draw", "max_ring_tokens", 0, 0, 1000000);
        o.max_edges = zl_lua_opt_int(L, 4, "flows.draw", "max_edges", 200, 1, 1000000);
    }
    a = checkgraph(L, 2); /* the options' metamethods may have closed them */
    b = lua_isnoneornil(L, 3) ? NULL : checkgraph(L, 3);
    zl_pdf *p = zl_pdf_new(); /* nothing below raises before it is freed */
    if (!p) return zl_lua_fail(L);
    int rc = zl_flows_draw(p, a, b, &o);
    if (rc == 0) rc = zl_pdf_save(p, path);
    zl_pdf_free(p);
    if (rc != 0) return zl_lua_fail(L);
    return 0;
}

int zl_lua_open_flows(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"count", g_count}, {"influence", g_influence}, {"circles", g_circles}, {"nodes", g_nodes},
        {"tokens", g_tokens}, {"info", g_info}, {"edges", g_edges}, {"token_heads", g_token_heads},
        {"depends_on", g_depends_on}, {"dependents", g_dependents}, {"between", g_between},
        {"describe", g_describe}, {"show", g_show}, {"json", g_json}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"build", f_build}, {"compare", f_compare}, {"compare_json", f_compare_json},
                                   {"circles", f_circles}, {"draw", f_draw}, {NULL, NULL}};
    zl_lua_class_open(L, &GRAPH, methods, NULL);
    luaL_newlib(L, fns);
    return 1;
}
