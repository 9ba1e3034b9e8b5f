/* ltensor.c — zonelab.tensor: tensors as full userdata (see zl_lua.h), their
 * constructors, methods and safetensors load/save. Indices are 1-based in Lua. */
#include "zl_lua.h"
#include "error.h"
#include "io.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct { zl_tensor *t; } tensor_box;

zl_tensor **zl_lua_newtensor(lua_State *L)
{
    tensor_box *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->t = NULL;
    luaL_setmetatable(L, ZL_TENSOR_MT);
    return &b->t;
}

void zl_lua_pushview(lua_State *L, zl_tensor *t, int parent)
{
    parent = lua_absindex(L, parent);
    if (!t) zl_lua_fail(L);
    *zl_lua_newtensor(L) = t;
    lua_pushvalue(L, parent);
    lua_setiuservalue(L, -2, 1);
}

zl_tensor *zl_lua_totensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, ZL_TENSOR_MT);
    return b ? b->t : NULL;
}

zl_tensor *zl_lua_checktensor(lua_State *L, int idx)
{
    tensor_box *b = luaL_checkudata(L, idx, ZL_TENSOR_MT);
    if (!b->t) luaL_argerror(L, idx, "tensor has been closed");
    return b->t;
}

int zl_lua_checkshape(lua_State *L, int idx, int64_t *shape)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n > ZL_MAX_DIMS) luaL_argerror(L, idx, "too many dimensions");
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        int ok;
        lua_Integer d = lua_tointegerx(L, -1, &ok);
        lua_pop(L, 1);
        if (!ok || d < 0) luaL_argerror(L, idx, "shape must list non-negative integers");
        shape[i - 1] = d;
    }
    return (int)n;
}

const int32_t *zl_lua_field_i32(lua_State *L, int t, const char *k, int64_t n, int required,
                                const char *where)
{
    lua_getfield(L, t, k);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (required) luaL_error(L, "%s (field %s is required)", where, k);
        return NULL;
    }
    zl_tensor *x = zl_lua_totensor(L, -1);
    if (!x || !x->data || x->dtype != ZL_I32 || x->numel != n)
        luaL_error(L, "%s (field %s must be an i32 tensor of %d elements)", where, k, (int)n);
    lua_pop(L, 1); /* the table keeps it alive */
    return ZL_I32P(x);
}

double zl_lua_field_number(lua_State *L, int t, const char *k, double def, const char *what)
{
    lua_getfield(L, t, k);
    double v = def;
    if (!lua_isnil(L, -1)) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok) luaL_error(L, "%s %s must be a number", what, k);
    }
    lua_pop(L, 1);
    return v;
}

static zl_dtype check_dtype(lua_State *L, int idx)
{
    static const char *const names[] = {"f32", "i32", NULL};
    return (zl_dtype)luaL_checkoption(L, idx, "f32", names);
}

/* zonelab.tensor.new(shape, [dtype]) -> zeros */
static int t_new(lua_State *L)
{
    int64_t shape[ZL_MAX_DIMS];
    int nd = zl_lua_checkshape(L, 1, shape);
    zl_dtype dt = check_dtype(L, 2);
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_new(dt, nd, shape))) return zl_lua_fail(L);
    return 1;
}

/* Walks a nested table to find its shape (each level's first element). */
static int nested_shape(lua_State *L, int idx, int64_t *shape)
{
    int nd = 0;
    lua_pushvalue(L, idx);
    while (lua_istable(L, -1)) {
        if (nd == ZL_MAX_DIMS) luaL_error(L, "tensor.from: too many dimensions");
        shape[nd++] = (int64_t)luaL_len(L, -1);
        lua_geti(L, -1, 1);
        lua_remove(L, -2);
    }
    lua_pop(L, 1);
    return nd;
}

static void fill_nested(lua_State *L, int idx, zl_tensor *t, int depth, int64_t *pos)
{
    lua_Integer n = luaL_len(L, idx);
    if (n != t->shape[depth])
        luaL_error(L, "tensor.from: ragged table (a row of %d where %d were expected)", (int)n,
                   (int)t->shape[depth]);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        if (depth + 1 < t->ndim) {
            if (!lua_istable(L, -1)) luaL_error(L, "tensor.from: ragged table");
            fill_nested(L, lua_gettop(L), t, depth + 1, pos);
        } else {
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok) luaL_error(L, "tensor.from: element %d is not a number", (int)(*pos + 1));
            zl_tensor_setf(t, (*pos)++, v);
        }
        lua_pop(L, 1);
    }
}

/* zonelab.tensor.from(table, [shape], [dtype]): nested tables, or a flat table + shape. */
static int t_from(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t shape[ZL_MAX_DIMS];
    int nd;
    int flat = lua_istable(L, 2);
    zl_dtype dt = check_dtype(L, flat ? 3 : 2);
    if (flat) nd = zl_lua_checkshape(L, 2, shape);
    else nd = nested_shape(L, 1, shape);
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_new(dt, nd, shape))) return zl_lua_fail(L);
    zl_tensor *t = *slot;
    if (flat) {
        if (luaL_len(L, 1) != t->numel)
            return luaL_error(L, "tensor.from: %d values for a shape of %d elements",
                              (int)luaL_len(L, 1), (int)t->numel);
        for (int64_t i = 0; i < t->numel; i++) {
            lua_geti(L, 1, i + 1);
            int ok;
            lua_Number v = lua_tonumberx(L, -1, &ok);
            if (!ok) return luaL_error(L, "tensor.from: element %d is not a number", (int)i + 1);
            zl_tensor_setf(t, i, v);
            lua_pop(L, 1);
        }
    } else {
        int64_t pos = 0;
        fill_nested(L, 1, t, 0, &pos);
    }
    return 1;
}

/* zonelab.tensor.randn(shape, seed, [std=1]) */
static int t_randn(lua_State *L)
{
    int64_t shape[ZL_MAX_DIMS];
    int nd = zl_lua_checkshape(L, 1, shape);
    lua_Integer seed = luaL_checkinteger(L, 2);
    lua_Number std = luaL_optnumber(L, 3, 1.0);
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_new(ZL_F32, nd, shape))) return zl_lua_fail(L);
    if (zl_tensor_randn(*slot, (uint64_t)seed, std) != 0) return zl_lua_fail(L);
    return 1;
}

/* zonelab.tensor.load(path) -> {name = tensor, ...} */
static int t_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zl_tensor_map *m = zl_safetensors_load(path);
    if (!m) return zl_lua_fail(L);
    lua_createtable(L, 0, m->count);
    for (int i = 0; i < m->count; i++) {
        zl_tensor **slot = zl_lua_newtensor(L);
        *slot = m->items[i].tensor; /* ownership moves to Lua */
        m->items[i].tensor = NULL;
        lua_setfield(L, -2, m->items[i].name);
    }
    zl_tensor_map_free(m);
    return 1;
}

void zl_lua_push_listing(lua_State *L, zl_tensor_map *m)
{
    zl_tensor_map_sort(m);
    lua_createtable(L, m->count, 0);
    for (int i = 0; i < m->count; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, m->items[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, m->items[i].dtype);
        lua_setfield(L, -2, "dtype");
        lua_createtable(L, m->items[i].ndim, 0);
        for (int d = 0; d < m->items[i].ndim; d++) {
            lua_pushinteger(L, m->items[i].shape[d]);
            lua_rawseti(L, -2, d + 1);
        }
        lua_setfield(L, -2, "shape");
        lua_rawseti(L, -2, i + 1);
    }
}

/* zonelab.tensor.list(path) -> sequence of {name=, dtype=, shape={...}} (header only) */
static int t_list(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zl_tensor_map *m = zl_safetensors_list(path);
    if (!m) return zl_lua_fail(L);
    zl_lua_push_listing(L, m);
    zl_tensor_map_free(m);
    return 1;
}

/* zonelab.tensor.save(path, {name = tensor, ...}) */
static int t_save_table(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_tensor_map *m = zl_tensor_map_new();
    if (!m) return zl_lua_fail(L);
    int rc = 0;
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        zl_tensor *t = zl_lua_totensor(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || !t) {
            zl_tensor_map_free(m);
            return luaL_argerror(L, 2, "expected a table of name = tensor");
        }
        /* Borrow: wrap without copying, the Lua values stay alive during the call. */
        zl_tensor *w = zl_tensor_wrap(t->dtype, t->ndim, t->shape, t->data);
        if (!w || zl_tensor_map_add(m, lua_tostring(L, -2), w) != 0) {
            zl_tensor_free(w);
            rc = -1;
        }
        lua_pop(L, 1);
        if (rc) { lua_pop(L, 1); break; }
    }
    if (rc == 0) rc = zl_safetensors_save(path, m, NULL);
    zl_tensor_map_free(m);
    if (rc) return zl_lua_fail(L);
    return 0;
}

/* ---- methods ---- */
static int m_shape(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_dtype(lua_State *L)
{
    lua_pushstring(L, zl_dtype_name(zl_lua_checktensor(L, 1)->dtype));
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, zl_lua_checktensor(L, 1)->numel);
    return 1;
}

static int64_t check_index(lua_State *L, zl_tensor *t, int first, int count)
{
    int64_t idx[ZL_MAX_DIMS];
    if (count == 1 && t->ndim != 1) {
        /* one index into a multi-dimensional tensor: flat, 1-based */
        lua_Integer i = luaL_checkinteger(L, first);
        if (i < 1 || i > t->numel) luaL_argerror(L, first, "flat index out of range");
        return i - 1;
    }
    if (count != t->ndim)
        luaL_error(L, "expected %d indices for a %d-dimensional tensor, got %d", t->ndim, t->ndim,
                   count);
    for (int i = 0; i < count; i++) idx[i] = luaL_checkinteger(L, first + i) - 1;
    int64_t off = zl_tensor_offset(t, count, idx);
    if (off < 0) zl_lua_fail(L);
    return off;
}

static void push_elem(lua_State *L, const zl_tensor *t, int64_t off)
{
    if (t->dtype == ZL_F32) lua_pushnumber(L, ZL_F32P(t)[off]);
    else lua_pushinteger(L, ZL_I32P(t)[off]);
}

/* t:get(i, j, ...) */
static int m_get(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    int n = lua_gettop(L) - 1;
    push_elem(L, t, check_index(L, t, 2, n));
    return 1;
}

/* t:set(i, j, ..., v) */
static int m_set(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    int n = lua_gettop(L) - 2;
    if (n < 1) return luaL_error(L, "set: expected indices and a value");
    lua_Number v = luaL_checknumber(L, n + 2);
    zl_tensor_setf(t, check_index(L, t, 2, n), v);
    return 0;
}

static void push_nested(lua_State *L, const zl_tensor *t, int depth, int64_t *pos)
{
    if (depth >= t->ndim || depth >= ZL_MAX_DIMS) {
        push_elem(L, t, (*pos)++);
        return;
    }
    luaL_checkstack(L, 3, "totable");
    lua_createtable(L, (int)t->shape[depth], 0);
    for (int64_t i = 0; i < t->shape[depth]; i++) {
        push_nested(L, t, depth + 1, pos);
        lua_rawseti(L, -2, i + 1);
    }
}

/* t:totable() -> nested tables (a number for a 0-dimensional tensor) */
static int m_totable(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    int64_t pos = 0;
    push_nested(L, t, 0, &pos);
    return 1;
}

/* t:reshape(d1, d2, ...) or t:reshape{d1, d2} -> view sharing storage */
static int m_reshape(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    int64_t shape[ZL_MAX_DIMS];
    int nd;
    if (lua_istable(L, 2)) nd = zl_lua_checkshape(L, 2, shape);
    else {
        nd = lua_gettop(L) - 1;
        if (nd > ZL_MAX_DIMS) return luaL_error(L, "reshape: too many dimensions");
        for (int i = 0; i < nd; i++) shape[i] = luaL_checkinteger(L, i + 2);
    }
    zl_tensor *v = zl_tensor_wrap(t->dtype, t->ndim, t->shape, t->data);
    if (!v) return zl_lua_fail(L);
    if (zl_tensor_reshape(v, nd, shape) != 0) {
        zl_tensor_free(v);
        return zl_lua_fail(L);
    }
    zl_lua_pushview(L, v, 1);
    return 1;
}

/* t:view(start, count): 1-based slice along the first dimension, sharing storage */
static int m_view(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    lua_Integer start = luaL_checkinteger(L, 2);
    lua_Integer count = luaL_optinteger(L, 3, 1);
    zl_lua_pushview(L, zl_tensor_view(t, start - 1, count), 1);
    return 1;
}

static int m_clone(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_clone(t))) return zl_lua_fail(L);
    return 1;
}

static int m_fill(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    zl_tensor_fill(t, luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* a:matmul(b, [transa], [transb]) */
static int m_matmul(lua_State *L)
{
    zl_tensor *a = zl_lua_checktensor(L, 1);
    zl_tensor *b = zl_lua_checktensor(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_matmul(NULL, a, b, ta, tb))) return zl_lua_fail(L);
    return 1;
}

static int m_sum(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += zl_tensor_getf(t, i);
    lua_pushnumber(L, s);
    return 1;
}

/* a:max_abs_diff(b) -> largest |a - b| (same element count) */
static int m_max_abs_diff(lua_State *L)
{
    zl_tensor *a = zl_lua_checktensor(L, 1);
    zl_tensor *b = zl_lua_checktensor(L, 2);
    if (a->numel != b->numel)
        return luaL_error(L, "max_abs_diff: %d and %d elements", (int)a->numel, (int)b->numel);
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = fabs(zl_tensor_getf(a, i) - zl_tensor_getf(b, i));
        if (d > m || d != d) m = d;
    }
    lua_pushnumber(L, m);
    return 1;
}

/* t:save(path, [name = "tensor"]) */
static int m_save(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *name = luaL_optstring(L, 3, "tensor");
    zl_tensor_map *m = zl_tensor_map_new();
    if (!m) return zl_lua_fail(L);
    zl_tensor *w = zl_tensor_wrap(t->dtype, t->ndim, t->shape, t->data);
    int rc = (!w || zl_tensor_map_add(m, name, w) != 0) ? -1 : 0;
    if (rc) zl_tensor_free(w);
    if (!rc) rc = zl_safetensors_save(path, m, NULL);
    zl_tensor_map_free(m);
    if (rc) return zl_lua_fail(L);
    return 0;
}

static int m_gc(lua_State *L)
{
    tensor_box *b = luaL_checkudata(L, 1, ZL_TENSOR_MT);
    zl_tensor_free(b->t);
    b->t = NULL;
    return 0;
}

static int m_len(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

static void add_value(luaL_Buffer *B, const zl_tensor *t, int64_t i)
{
    char s[32];
    if (t->dtype == ZL_F32) snprintf(s, sizeof s, "%.5g", (double)ZL_F32P(t)[i]);
    else snprintf(s, sizeof s, "%d", (int)ZL_I32P(t)[i]);
    luaL_addstring(B, s);
}

/* "tensor f32 [2,3]" then rows of values (at most 6 rows x 8 columns shown) */
static int m_tostring(lua_State *L)
{
    tensor_box *b = luaL_checkudata(L, 1, ZL_TENSOR_MT);
    if (!b->t) {
        lua_pushliteral(L, "tensor (closed)");
        return 1;
    }
    zl_tensor *t = b->t;
    char head[128];
    zl_tensor_describe(t, head, sizeof head);
    luaL_Buffer B;
    luaL_buffinit(L, &B);
    luaL_addstring(&B, head);
    int64_t cols = t->ndim ? t->shape[t->ndim - 1] : 1;
    int64_t rows = cols ? t->numel / cols : 0;
    for (int64_t r = 0; r < rows && r < 6; r++) {
        luaL_addstring(&B, "\n  ");
        for (int64_t c = 0; c < cols && c < 8; c++) {
            if (c) luaL_addchar(&B, ' ');
            add_value(&B, t, r * cols + c);
        }
        if (cols > 8) luaL_addstring(&B, " ...");
    }
    if (rows > 6) luaL_addstring(&B, "\n  ...");
    luaL_pushresult(&B);
    return 1;
}

int zl_lua_open_tensor(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"shape", m_shape}, {"dtype", m_dtype}, {"numel", m_numel}, {"get", m_get},
        {"set", m_set}, {"totable", m_totable}, {"reshape", m_reshape}, {"view", m_view},
        {"clone", m_clone}, {"fill", m_fill}, {"matmul", m_matmul}, {"sum", m_sum},
        {"max_abs_diff", m_max_abs_diff}, {"save", m_save}, {"close", m_gc}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", m_gc}, {"__close", m_gc}, {"__len", m_len}, {"__tostring", m_tostring},
        {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", t_new}, {"from", t_from}, {"randn", t_randn}, {"load", t_load},
        {"list", t_list}, {"save", t_save_table}, {NULL, NULL}};
    if (luaL_newmetatable(L, ZL_TENSOR_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "tensor");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
