/* ltfckpt.c — zonelab.tfckpt: TensorFlow 1.x checkpoints from Lua.
 *
 *     zl.tfckpt.list(path)          -> {{name=, dtype=, shape={...}}, ...} sorted by name
 *     zl.tfckpt.load(path)          -> {name = tensor, ...} (numeric tensors only)
 *     zl.tfckpt.save(prefix, {name = tensor, ...})
 *
 * path: a checkpoint prefix, its .index file, or a directory holding one checkpoint.
 */
#include "zl_lua.h"
#include "tfckpt.h"

#define MAP_MT "zonelab.tfckpt.map"

/* The core's map sits in a userdata box while it is turned into Lua values, so a Lua
 * error part-way (out of memory, a bad argument) never leaks it. */
static zl_tensor_map **newbox(lua_State *L)
{
    zl_tensor_map **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, MAP_MT);
    return box;
}

static int box_gc(lua_State *L)
{
    zl_tensor_map **box = luaL_checkudata(L, 1, MAP_MT);
    zl_tensor_map_free(*box);
    *box = NULL;
    return 0;
}

static int box_tostring(lua_State *L)
{
    zl_tensor_map **box = luaL_checkudata(L, 1, MAP_MT);
    lua_pushfstring(L, "tfckpt map: %d tensors", *box ? (*box)->count : 0);
    return 1;
}

static int l_list(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zl_tensor_map **box = newbox(L);
    if (!(*box = zl_tfckpt_load(path, 0))) return zl_lua_fail(L);
    zl_lua_push_listing(L, *box); /* the box frees the map when collected */
    return 1;
}

static int l_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    zl_tensor_map **box = newbox(L);
    if (!(*box = zl_tfckpt_load(path, 1))) return zl_lua_fail(L);
    zl_tensor_map *m = *box;
    lua_createtable(L, 0, m->count);
    for (int i = 0; i < m->count; i++) {
        if (!m->items[i].tensor) continue; /* strings and other non-numeric entries */
        zl_tensor **slot = zl_lua_newtensor(L);
        *slot = m->items[i].tensor; /* ownership moves to Lua */
        m->items[i].tensor = NULL;
        lua_setfield(L, -2, m->items[i].name);
    }
    return 1;
}

static int l_save(lua_State *L)
{
    const char *prefix = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    zl_tensor_map **box = newbox(L);
    if (!(*box = zl_tensor_map_new())) return zl_lua_fail(L);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
        zl_tensor *t = zl_lua_totensor(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || !t)
            return luaL_argerror(L, 2, "expected a table of name = tensor");
        /* Borrow the storage: the Lua tensors stay alive during the call. */
        zl_tensor *w = zl_tensor_wrap(t->dtype, t->ndim, t->shape, t->data);
        if (!w) return zl_lua_fail(L);
        if (zl_tensor_map_add(*box, lua_tostring(L, -2), w) != 0) {
            zl_tensor_free(w);
            return zl_lua_fail(L);
        }
        lua_pop(L, 1);
    }
    if (zl_tfckpt_save(prefix, *box) != 0) return zl_lua_fail(L);
    return 0;
}

int zl_lua_open_tfckpt(lua_State *L)
{
    static const luaL_Reg box_meta[] = {
        {"__gc", box_gc}, {"__close", box_gc}, {"__tostring", box_tostring}, {NULL, NULL}};
    if (luaL_newmetatable(L, MAP_MT)) luaL_setfuncs(L, box_meta, 0);
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"list", l_list}, {"load", l_load}, {"save", l_save}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
