/* ltensor.c — zonelab.tensor: tensors as full userdata (see zl_lua.h), their
 * constructors, methods (views, reductions, elementwise math: kernels in
 * core/tensor.c) and safetensors load/save. Indices and dimensions are 1-based in
 * Lua. Every operation returns a new tensor or a view; none modifies its operands
 * except set, fill and copy. Each userdata holds its own reference on the storage,
 * so views outlive a closed parent. */
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

static const char NOT_CONTIGUOUS[] = "tensor is not contiguous; call :contiguous()";

zl_tensor *zl_lua_totensor_any(lua_State *L, int idx)
{
    tensor_box *b = luaL_testudata(L, idx, ZL_TENSOR_MT);
    return b ? b->t : NULL;
}

zl_tensor *zl_lua_totensor(lua_State *L, int idx)
{
    zl_tensor *t = zl_lua_totensor_any(L, idx);
    if (t && !zl_tensor_is_contiguous(t)) luaL_error(L, "%s", NOT_CONTIGUOUS);
    return t;
}

zl_tensor *zl_lua_checktensor_any(lua_State *L, int idx)
{
    tensor_box *b = luaL_checkudata(L, idx, ZL_TENSOR_MT);
    if (!b->t) luaL_argerror(L, idx, "tensor has been closed");
    return b->t;
}

zl_tensor *zl_lua_checktensor(lua_State *L, int idx)
{
    zl_tensor *t = zl_lua_checktensor_any(L, idx);
    if (!zl_tensor_is_contiguous(t)) luaL_argerror(L, idx, NOT_CONTIGUOUS);
    return t;
}

/* Value v as an element of dtype dt, or a raised error naming it (i32 range). */
static double check_elem(lua_State *L, zl_dtype dt, double v)
{
    if (zl_tensor_check_value(dt, v) != 0) zl_lua_fail(L);
    return v;
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
            zl_tensor_setf(t, (*pos)++, check_elem(L, t->dtype, v));
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
            zl_tensor_setf(t, i, check_elem(L, t->dtype, v));
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
        zl_tensor *t = zl_lua_totensor_any(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || !t || !zl_tensor_is_contiguous(t)) {
            zl_tensor_map_free(m);
            return luaL_argerror(L, 2, t && lua_type(L, -2) == LUA_TSTRING
                                           ? NOT_CONTIGUOUS : "expected a table of name = tensor");
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
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_dtype(lua_State *L)
{
    lua_pushstring(L, zl_dtype_name(zl_lua_checktensor_any(L, 1)->dtype));
    return 1;
}

static int m_numel(lua_State *L)
{
    lua_pushinteger(L, zl_lua_checktensor_any(L, 1)->numel);
    return 1;
}

static int m_is_contiguous(lua_State *L)
{
    lua_pushboolean(L, zl_tensor_is_contiguous(zl_lua_checktensor_any(L, 1)));
    return 1;
}

/* A 1-based position argument in 1..n as 0-based (checked before any arithmetic, so
 * math.mininteger and math.maxinteger are plain errors). */
static int64_t check_pos(lua_State *L, int arg, int64_t n, const char *what)
{
    lua_Integer i = luaL_checkinteger(L, arg);
    if (i < 1 || i > n)
        luaL_error(L, "%s %I is out of range 1..%I", what, i, (lua_Integer)n);
    return (int64_t)i - 1;
}

/* A 1-based dimension argument (1..ndim + extra) as 0-based. */
static int check_dimarg(lua_State *L, const zl_tensor *t, int arg, int extra)
{
    lua_Integer d = luaL_checkinteger(L, arg);
    if (d < 1 || d > t->ndim + extra)
        luaL_error(L, "dimension %I is out of range 1..%d", d, t->ndim + extra);
    return (int)d - 1;
}

static int64_t check_index(lua_State *L, zl_tensor *t, int first, int count)
{
    if (count == 1 && t->ndim != 1) {
        /* one index into a multi-dimensional tensor: flat, 1-based, row-major */
        lua_Integer i = luaL_checkinteger(L, first);
        if (i < 1 || i > t->numel) luaL_argerror(L, first, "flat index out of range");
        return zl_tensor_flat_offset(t, i - 1);
    }
    if (count != t->ndim)
        luaL_error(L, "expected %d indices for a %d-dimensional tensor, got %d", t->ndim, t->ndim,
                   count);
    int64_t off = 0;
    for (int i = 0; i < count; i++)
        off += check_pos(L, first + i, t->shape[i], "index") * t->stride[i];
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
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int n = lua_gettop(L) - 1;
    push_elem(L, t, check_index(L, t, 2, n));
    return 1;
}

/* t:set(i, j, ..., v) */
static int m_set(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int n = lua_gettop(L) - 2;
    if (n < 1) return luaL_error(L, "set: expected indices and a value");
    lua_Number v = luaL_checknumber(L, n + 2);
    int64_t off = check_index(L, t, 2, n);
    zl_tensor_setf(t, off, check_elem(L, t->dtype, v));
    return 0;
}

/* A contiguous tensor with t's values: t itself or a copy kept on the stack (so an
 * error cannot leak it). */
static zl_tensor *contiguous_on_stack(lua_State *L, zl_tensor *t)
{
    if (zl_tensor_is_contiguous(t)) {
        lua_pushnil(L);
        return t;
    }
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_clone(t))) zl_lua_fail(L);
    return *slot;
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
    zl_tensor *t = contiguous_on_stack(L, zl_lua_checktensor_any(L, 1));
    int64_t pos = 0;
    push_nested(L, t, 0, &pos);
    return 1;
}

/* Lua sees a tensor as a few bytes of userdata: a large result also advances the
 * collector as if its storage had been allocated by Lua, so the temporaries of an
 * analysis loop are collected (and their storage reused) at the pace they are made. */
static void account(lua_State *L, const zl_tensor *t)
{
    int64_t kb = t->numel * (int64_t)zl_dtype_size(t->dtype) >> 10;
    if (kb >= 1024) lua_gc(L, LUA_GCSTEP, kb > INT32_MAX ? INT32_MAX : (int)kb);
}

/* Pushes a new userdata owning the result of a core call (raises its error on NULL). */
#define PUSH_NEW(L, expr)                                                          \
    do {                                                                           \
        zl_tensor **slot_ = zl_lua_newtensor(L);                                   \
        if (!(*slot_ = (expr))) return zl_lua_fail(L);                             \
        account(L, *slot_);                                                        \
    } while (0)

/* t:reshape(d1, d2, ...) or t:reshape{d1, d2} -> view sharing storage */
static int m_reshape(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int64_t shape[ZL_MAX_DIMS];
    int nd;
    if (lua_istable(L, 2)) nd = zl_lua_checkshape(L, 2, shape);
    else {
        nd = lua_gettop(L) - 1;
        if (nd > ZL_MAX_DIMS) return luaL_error(L, "reshape: too many dimensions");
        for (int i = 0; i < nd; i++) shape[i] = luaL_checkinteger(L, i + 2);
    }
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_share(t))) return zl_lua_fail(L);
    if (zl_tensor_reshape(*slot, nd, shape) != 0) return zl_lua_fail(L);
    return 1;
}

/* t:view(start, [count=1]): 1-based slice along the first dimension, sharing storage */
static int m_view(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    if (t->ndim < 1) return luaL_error(L, "view: a 0-dimensional tensor has no rows");
    int64_t start = check_pos(L, 2, t->shape[0] + 1, "view start");
    lua_Integer count = luaL_optinteger(L, 3, 1);
    PUSH_NEW(L, zl_tensor_view(t, start, count));
    return 1;
}

/* t:narrow(dim, first, len) */
static int m_narrow(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int d = check_dimarg(L, t, 2, 0);
    int64_t first = check_pos(L, 3, t->shape[d] + 1, "narrow start");
    PUSH_NEW(L, zl_tensor_narrow(t, d, first, luaL_checkinteger(L, 4)));
    return 1;
}

/* The select of index i (0-based) of dimension d, a number for a 1-D tensor. */
static int push_select(lua_State *L, zl_tensor *t, int d, int64_t i)
{
    if (t->ndim == 1) {
        push_elem(L, t, i * t->stride[0]);
        return 1;
    }
    PUSH_NEW(L, zl_tensor_select(t, d, i));
    return 1;
}

/* t:select(dim, i) */
static int m_select(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int d = check_dimarg(L, t, 2, 0);
    int64_t i = check_pos(L, 3, t->shape[d], "index");
    if (t->ndim == 1) {
        PUSH_NEW(L, zl_tensor_select(t, d, i)); /* 0-dimensional view, as torch7 */
        return 1;
    }
    return push_select(L, t, d, i);
}

/* t:transpose(d1, d2) */
static int m_transpose(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int d1 = check_dimarg(L, t, 2, 0), d2 = check_dimarg(L, t, 3, 0);
    PUSH_NEW(L, zl_tensor_transpose(t, d1, d2));
    return 1;
}

/* t:squeeze([dim]) */
static int m_squeeze(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    int d = lua_isnoneornil(L, 2) ? -1 : check_dimarg(L, t, 2, 0);
    PUSH_NEW(L, zl_tensor_squeeze(t, d));
    return 1;
}

/* t:unsqueeze(dim) */
static int m_unsqueeze(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    PUSH_NEW(L, zl_tensor_unsqueeze(t, check_dimarg(L, t, 2, 1)));
    return 1;
}

/* t:contiguous(): t itself when contiguous, else a contiguous copy */
static int m_contiguous(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    if (zl_tensor_is_contiguous(t)) {
        lua_settop(L, 1);
        return 1;
    }
    PUSH_NEW(L, zl_tensor_clone(t));
    return 1;
}

/* t:float() / t:int(): t itself when it has that dtype, else a converted copy */
static int convert_to(lua_State *L, zl_dtype dt)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    if (t->dtype == dt) {
        lua_settop(L, 1);
        return 1;
    }
    PUSH_NEW(L, zl_tensor_convert(t, dt));
    return 1;
}
static int m_float(lua_State *L) { return convert_to(L, ZL_F32); }
static int m_int(lua_State *L) { return convert_to(L, ZL_I32); }

static int m_clone(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    PUSH_NEW(L, zl_tensor_clone(t));
    return 1;
}

/* t:copy(src): src's values into t (same dtype; same shape, or same count when both
 * are contiguous); returns t */
static int m_copy(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    zl_tensor *src = zl_lua_checktensor_any(L, 2);
    if (zl_tensor_copy(t, src) != 0) return zl_lua_fail(L);
    lua_settop(L, 1);
    return 1;
}

static int m_fill(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    if (zl_tensor_fill(t, luaL_checknumber(L, 2)) != 0) return zl_lua_fail(L);
    lua_settop(L, 1);
    return 1;
}

/* a:matmul(b, [transa], [transb], [out]): out (contiguous f32 [M, N]) receives the product
 * and is returned, no allocation (the forward benchmark times products with it) */
static int m_matmul(lua_State *L)
{
    zl_tensor *a = zl_lua_checktensor(L, 1);
    zl_tensor *b = zl_lua_checktensor(L, 2);
    int ta = lua_toboolean(L, 3), tb = lua_toboolean(L, 4);
    if (!lua_isnoneornil(L, 5)) {
        if (!zl_tensor_matmul(zl_lua_checktensor(L, 5), a, b, ta, tb)) return zl_lua_fail(L);
        lua_settop(L, 5);
        return 1;
    }
    zl_tensor **slot = zl_lua_newtensor(L);
    if (!(*slot = zl_tensor_matmul(NULL, a, b, ta, tb))) return zl_lua_fail(L);
    return 1;
}

/* Indices from the core (0-based) made 1-based, in place. */
static void one_based(zl_tensor *ix)
{
    int32_t *p = ZL_I32P(ix);
    for (int64_t i = 0; i < ix->numel; i++) p[i] += 1;
}

/* t:sum() / t:sum(dim) and the other reductions: a number for the whole tensor, a
 * tensor keeping dim with size 1 along dim (plus 1-based indices for max/min). */
static int reduce(lua_State *L, zl_reduce op, int want_index)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    if (lua_isnoneornil(L, 2)) {
        double v;
        int64_t at;
        if (zl_tensor_reduce_all(t, op, &v, &at) != 0) return zl_lua_fail(L);
        if (want_index == 2) { /* argmax/argmin: the flat 1-based position */
            lua_pushinteger(L, at + 1);
            return 1;
        }
        lua_pushnumber(L, v);
        return 1;
    }
    int d = check_dimarg(L, t, 2, 0);
    zl_tensor **vs = zl_lua_newtensor(L);
    zl_tensor **is = want_index ? zl_lua_newtensor(L) : NULL;
    if (zl_tensor_reduce_dim(t, op, d, vs, is) != 0) return zl_lua_fail(L);
    if (is) one_based(*is);
    if (want_index == 2) return 1; /* argmax: the indices only */
    return want_index ? 2 : 1;
}
static int m_sum(lua_State *L) { return reduce(L, ZL_RED_SUM, 0); }
static int m_mean(lua_State *L) { return reduce(L, ZL_RED_MEAN, 0); }
static int m_max(lua_State *L) { return reduce(L, ZL_RED_MAX, 1); }
static int m_min(lua_State *L) { return reduce(L, ZL_RED_MIN, 1); }
static int m_argmax(lua_State *L) { return reduce(L, ZL_RED_MAX, 2); }

/* t:norm(): Euclidean norm of all the elements */
static int m_norm(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    double v;
    if (zl_tensor_reduce_all(t, ZL_RED_SUMSQ, &v, NULL) != 0) return zl_lua_fail(L);
    lua_pushnumber(L, sqrt(v));
    return 1;
}

/* t:topk(k, [dim = last]) -> values, 1-based indices (largest first) */
static int m_topk(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    lua_Integer k = luaL_checkinteger(L, 2);
    if (t->ndim < 1) return luaL_error(L, "topk: a 0-dimensional tensor has no dimension");
    int d = lua_isnoneornil(L, 3) ? t->ndim - 1 : check_dimarg(L, t, 3, 0);
    zl_tensor **vs = zl_lua_newtensor(L);
    zl_tensor **is = zl_lua_newtensor(L);
    if (zl_tensor_topk(t, k, d, vs, is) != 0) return zl_lua_fail(L);
    one_based(*is);
    return 2;
}

/* t:softmax(dim) */
static int m_softmax(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    PUSH_NEW(L, zl_tensor_softmax(t, check_dimarg(L, t, 2, 0)));
    return 1;
}

/* Operand at idx: a tensor, or a number as a 0-dimensional f32 tensor in *scalar. */
static const zl_tensor *operand(lua_State *L, int idx, zl_tensor *scalar, float *val)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        *val = (float)lua_tonumber(L, idx);
        memset(scalar, 0, sizeof *scalar);
        scalar->dtype = ZL_F32;
        scalar->numel = 1;
        scalar->data = val;
        return scalar;
    }
    zl_tensor *t = zl_lua_totensor_any(L, idx);
    if (!t) luaL_typeerror(L, idx, "tensor or number");
    return t;
}

static int binop(lua_State *L, zl_binop op)
{
    zl_tensor sa, sb;
    float va, vb;
    const zl_tensor *a = operand(L, 1, &sa, &va);
    const zl_tensor *b = operand(L, 2, &sb, &vb);
    PUSH_NEW(L, zl_tensor_binop(op, a, b));
    return 1;
}
static int m_add(lua_State *L) { return binop(L, ZL_OP_ADD); }
static int m_sub(lua_State *L) { return binop(L, ZL_OP_SUB); }
static int m_mul(lua_State *L) { return binop(L, ZL_OP_MUL); }
static int m_div(lua_State *L) { return binop(L, ZL_OP_DIV); }
static int m_gt(lua_State *L) { return binop(L, ZL_OP_GT); }
static int m_lt(lua_State *L) { return binop(L, ZL_OP_LT); }
static int m_eq(lua_State *L) { return binop(L, ZL_OP_EQ); }

static int unop(lua_State *L, zl_unop op, double lo, double hi)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    PUSH_NEW(L, zl_tensor_unop(op, t, lo, hi));
    return 1;
}
static int m_neg(lua_State *L) { return unop(L, ZL_OP_NEG, 0, 0); }
static int m_exp(lua_State *L) { return unop(L, ZL_OP_EXP, 0, 0); }
static int m_log(lua_State *L) { return unop(L, ZL_OP_LOG, 0, 0); }
static int m_sqrt(lua_State *L) { return unop(L, ZL_OP_SQRT, 0, 0); }
static int m_abs(lua_State *L) { return unop(L, ZL_OP_ABS, 0, 0); }
static int m_clamp(lua_State *L)
{
    return unop(L, ZL_OP_CLAMP, luaL_checknumber(L, 2), luaL_checknumber(L, 3));
}

/* The tensors of the sequence at idx (kept alive by the table during the call). */
static int list_tensors(lua_State *L, int idx, const zl_tensor ***out)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > 1000000) luaL_argerror(L, idx, "expected a non-empty list of tensors");
    const zl_tensor **ts = lua_newuserdatauv(L, sizeof *ts * (size_t)n, 0); /* freed by GC */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, idx, i);
        zl_tensor *t = zl_lua_totensor_any(L, -1);
        if (!t) luaL_error(L, "element %d of the list is not an open tensor", (int)i);
        ts[i - 1] = t;
        lua_pop(L, 1);
    }
    *out = ts;
    return (int)n;
}

/* zonelab.tensor.cat(list, dim) / zonelab.tensor.stack(list, dim) */
static int join(lua_State *L, int stack)
{
    const zl_tensor **ts;
    int n = list_tensors(L, 1, &ts);
    int d = check_dimarg(L, ts[0], 2, stack);
    PUSH_NEW(L, stack ? zl_tensor_stack(n, ts, d) : zl_tensor_cat(n, ts, d));
    return 1;
}
static int t_cat(lua_State *L) { return join(L, 0); }
static int t_stack(lua_State *L) { return join(L, 1); }

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

/* close() and __gc: drop this userdata's reference (views keep the storage alive) */
static void tensor_free(void *t) { zl_tensor_free(t); }

static int m_gc(lua_State *L)
{
    tensor_box *b = luaL_checkudata(L, 1, ZL_TENSOR_MT);
    zl_tensor *t = b->t;
    b->t = NULL;
    zl_lua_free(L, t, tensor_free); /* a method of this tensor may be running (a finalizer) */
    return 0;
}

static int m_len(lua_State *L)
{
    zl_tensor *t = zl_lua_checktensor_any(L, 1);
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

/* ---- tostring: numpy's layout ([[1 2 3]\n [4 5 6]]), edges and ... past 1000 values ---- */
#define EDGE 3

static int fmt_value(char *s, size_t n, const zl_tensor *t, int64_t off)
{
    if (t->dtype == ZL_I32) return snprintf(s, n, "%d", (int)ZL_I32P(t)[off]);
    return snprintf(s, n, "%.5g", (double)ZL_F32P(t)[off]);
}

#define LINE_WIDTH 75

typedef struct {
    luaL_Buffer *B; /* NULL: measuring the widest value into w */
    const zl_tensor *t;
    int summarize, w, col;
} printer;

static void put(printer *p, const char *s)
{
    luaL_addstring(p->B, s);
    const char *nl = strrchr(s, '\n');
    p->col = nl ? (int)strlen(nl + 1) : p->col + (int)strlen(s);
}

static void put_indent(printer *p, int newlines, int spaces)
{
    for (int k = 0; k < newlines; k++) luaL_addchar(p->B, '\n');
    for (int k = 0; k < spaces; k++) luaL_addchar(p->B, ' ');
    p->col = spaces;
}

/* Between two entries of dimension depth: a space in the last dimension (a new line
 * when the row passes LINE_WIDTH, as numpy wraps), else newlines (one more per level
 * below) and the indentation of the brackets. */
static void sep(printer *p, int depth, int next_width)
{
    if (depth + 1 == p->t->ndim) {
        if (p->col + 1 + next_width > LINE_WIDTH) put_indent(p, 1, depth + 1);
        else put(p, " ");
        return;
    }
    put_indent(p, p->t->ndim - depth - 1, depth + 1);
}

/* Visits the shown elements of dimension depth from offset off. */
static void show(printer *p, int depth, int64_t off)
{
    const zl_tensor *t = p->t;
    char s[48];
    if (depth == t->ndim) {
        int n = fmt_value(s, sizeof s, t, off);
        if (!p->B) {
            if (n > p->w) p->w = n;
            return;
        }
        char pad[64];
        int k = 0;
        for (; k < p->w - n && k < 47; k++) pad[k] = ' ';
        pad[k] = '\0';
        put(p, pad);
        put(p, s);
        return;
    }
    int64_t n = t->shape[depth];
    int cut = p->summarize && n > 2 * EDGE;
    if (p->B) put(p, "[");
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == EDGE) {
            if (p->B) {
                sep(p, depth, 3);
                put(p, "...");
            }
            i = n - EDGE;
        }
        if (p->B && i > 0) sep(p, depth, p->w);
        show(p, depth + 1, off + i * t->stride[depth]);
    }
    if (p->B) put(p, "]");
}

/* "tensor f32 [2,3]" then the values */
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
    if (t->numel > 0) {
        printer p = {NULL, t, t->numel > 1000, 0, 0};
        show(&p, 0, 0);
        luaL_addchar(&B, '\n');
        p.B = &B;
        show(&p, 0, 0);
    }
    luaL_pushresult(&B);
    return 1;
}

/* t[i]: select on dimension 1 (a number for a 1-D tensor); t.name: the methods */
static int m_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        zl_tensor *t = zl_lua_checktensor_any(L, 1);
        int isint;
        lua_tointegerx(L, 2, &isint); /* 2.0 is fine, 2.5 is not */
        if (!isint) return luaL_error(L, "tensor index must be an integer");
        if (t->ndim < 1) return luaL_error(L, "a 0-dimensional tensor cannot be indexed");
        return push_select(L, t, 0, check_pos(L, 2, t->shape[0], "index"));
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

int zl_lua_open_tensor(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"shape", m_shape}, {"dtype", m_dtype}, {"numel", m_numel}, {"get", m_get},
        {"set", m_set}, {"totable", m_totable}, {"reshape", m_reshape}, {"view", m_view},
        {"clone", m_clone}, {"fill", m_fill}, {"matmul", m_matmul}, {"sum", m_sum},
        {"max_abs_diff", m_max_abs_diff}, {"save", m_save}, {"close", m_gc},
        {"is_contiguous", m_is_contiguous}, {"narrow", m_narrow}, {"select", m_select},
        {"transpose", m_transpose}, {"squeeze", m_squeeze}, {"unsqueeze", m_unsqueeze},
        {"contiguous", m_contiguous}, {"float", m_float}, {"int", m_int}, {"copy", m_copy},
        {"mean", m_mean}, {"max", m_max}, {"min", m_min}, {"argmax", m_argmax},
        {"norm", m_norm}, {"topk", m_topk}, {"softmax", m_softmax},
        {"add", m_add}, {"sub", m_sub}, {"mul", m_mul}, {"div", m_div},
        {"gt", m_gt}, {"lt", m_lt}, {"eq", m_eq}, {"exp", m_exp}, {"log", m_log},
        {"sqrt", m_sqrt}, {"abs", m_abs}, {"clamp", m_clamp}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", m_gc}, {"__close", m_gc}, {"__len", m_len}, {"__tostring", m_tostring},
        {"__add", m_add}, {"__sub", m_sub}, {"__mul", m_mul}, {"__div", m_div},
        {"__unm", m_neg}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", t_new}, {"from", t_from}, {"randn", t_randn}, {"load", t_load},
        {"list", t_list}, {"save", t_save_table}, {"cat", t_cat}, {"stack", t_stack},
        {NULL, NULL}};
    if (luaL_newmetatable(L, ZL_TENSOR_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        /* __methods: the method table, for documentation checks and completion (the
         * __index function also answers t[i]) */
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "__methods");
        lua_pushcclosure(L, m_index, 1);
        lua_setfield(L, -2, "__index");
        lua_pushliteral(L, "tensor");
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
