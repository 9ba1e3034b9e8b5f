/* lpin.c — the binding's ownership rule (docs/architecture.md, "Ownership"): a borrower
 * holds its owner alive, and close() of an owner with live borrowers frees nothing a
 * borrower can still reach.
 *
 * An owner's box starts with a zl_lua_owner. close() (and __gc) go through
 * zl_lua_owner_close: the object is closed at once (the box's pointer is NULL, so every
 * method raises "closed"), but while borrowers are counted the object itself waits in
 * `deferred` and the last borrower to go frees it. A borrower stores its owner's userdata
 * in one of its uservalues (so the owner's userdata outlives it) and counts itself with
 * zl_lua_borrow once its own C object exists; it calls zl_lua_unborrow right after
 * freeing that object. The same count pins an owner for the length of one C call
 * (zl_lua_pin): a callback or a metamethod that closes it then frees nothing the call
 * still reads. */
#include "zl_lua.h"

#include <string.h>

#define OWNER_KEY "__zl_owner" /* set in an owner's metatable: its box starts with zl_lua_owner */
#define PIN_MT "zonelab.pin"
#define FUNCS_KEY "zonelab.functions" /* registry: {[lightuserdata C function] = true} */
#define PENDING_KEY "zonelab.pending" /* registry: the frees deferred to a later close */

#include <stdlib.h>

/* Frees deferred because they were asked for while a binding function was running: a
 * finalizer of a script's table run by an allocation, or a callback, closed an owner the
 * interrupted C code may still read. They happen at the next close outside any binding
 * call, or when the Lua state closes. */
typedef struct {
    size_t n, cap;
    struct pending_item { void *obj; void (*free_fn)(void *); } *items;
} pending_frees;

static void flush(pending_frees *p)
{
    /* in the order they were asked for: a borrower's free (which may read its owner)
       was asked for before the owner's, which its release let go */
    size_t n = p->n;
    p->n = 0;
    for (size_t i = 0; i < n; i++) p->items[i].free_fn(p->items[i].obj);
}

static int pending_gc(lua_State *L)
{
    pending_frees *p = lua_touserdata(L, 1);
    flush(p);
    free(p->items);
    p->items = NULL;
    p->cap = 0;
    return 0;
}

static pending_frees *get_pending(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, PENDING_KEY);
    pending_frees *p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
}

/* 1 when a function of the binding is running below the current one (level 0). */
static int nested_in_binding(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, FUNCS_KEY) != LUA_TTABLE) {
        lua_pop(L, 1);
        return 0;
    }
    int set = lua_gettop(L), nested = 0;
    lua_Debug ar;
    for (int level = 1; !nested && lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "f", &ar);
        lua_CFunction f = lua_tocfunction(L, -1);
        lua_pop(L, 1);
        if (!f) continue;
        lua_pushlightuserdata(L, (void *)f);
        nested = lua_rawget(L, set) != LUA_TNIL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return nested;
}

static void free_or_defer(lua_State *L, void *obj, void (*free_fn)(void *))
{
    pending_frees *p = get_pending(L);
    if (p && nested_in_binding(L)) {
        if (p->n == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 16;
            void *items = realloc(p->items, cap * sizeof *p->items);
            if (items) {
                p->items = items;
                p->cap = cap;
            }
        }
        if (p->n < p->cap) {
            p->items[p->n].obj = obj;
            p->items[p->n].free_fn = free_fn;
            p->n++;
            return;
        }
    }
    if (p) flush(p);
    free_fn(obj);
}

void zl_lua_free(lua_State *L, void *obj, void (*free_fn)(void *))
{
    if (obj) free_or_defer(L, obj, free_fn);
}

/* Adds the C functions of the table at idx (and of its table fields, depth levels). */
static void note_table(lua_State *L, int idx, int set, int depth)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_CFunction f = lua_tocfunction(L, -1);
        if (f) {
            lua_pushlightuserdata(L, (void *)f);
            lua_pushboolean(L, 1);
            lua_rawset(L, set);
        } else if (depth > 0 && lua_type(L, -1) == LUA_TTABLE) {
            note_table(L, -1, set, depth - 1);
        }
        lua_pop(L, 1);
    }
}

void zl_lua_note_functions(lua_State *L, int module)
{
    module = lua_absindex(L, module);
    pending_frees *p = lua_newuserdatauv(L, sizeof *p, 0);
    p->n = p->cap = 0;
    p->items = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, pending_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, PENDING_KEY);
    lua_newtable(L);
    int set = lua_gettop(L);
    note_table(L, module, set, 2);
    lua_pushnil(L); /* the metatables: registry entries named zonelab.* */
    while (lua_next(L, LUA_REGISTRYINDEX)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE &&
            strncmp(lua_tostring(L, -2), "zonelab.", 8) == 0)
            note_table(L, -1, set, 1);
        lua_pop(L, 1);
    }
    lua_setfield(L, LUA_REGISTRYINDEX, FUNCS_KEY);
}

void zl_lua_owner_mark(lua_State *L, int mt)
{
    mt = lua_absindex(L, mt);
    lua_pushboolean(L, 1);
    lua_setfield(L, mt, OWNER_KEY);
}

void zl_lua_owner_close(lua_State *L, zl_lua_owner *o, void *obj, void (*free_fn)(void *))
{
    if (!obj) return;
    if (o->borrowers > 0) {
        o->deferred = obj;
        o->free_fn = free_fn;
    } else {
        free_or_defer(L, obj, free_fn);
    }
}

/* The owner struct of the userdata at idx, NULL if it is not an owner. */
static zl_lua_owner *owner_at(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA) return NULL;
    int is_owner = luaL_getmetafield(L, idx, OWNER_KEY) != LUA_TNIL;
    if (is_owner) lua_pop(L, 1);
    return is_owner ? lua_touserdata(L, idx) : NULL;
}

static void release(lua_State *L, zl_lua_owner *o)
{
    if (o->borrowers > 0) o->borrowers--;
    if (o->borrowers == 0 && o->deferred) {
        void *obj = o->deferred;
        o->deferred = NULL;
        free_or_defer(L, obj, o->free_fn);
    }
}

void zl_lua_borrow(lua_State *L, int borrower, int uv)
{
    lua_getiuservalue(L, borrower, uv);
    zl_lua_owner *o = owner_at(L, -1);
    if (o) o->borrowers++;
    lua_pop(L, 1);
}

void zl_lua_unborrow(lua_State *L, int borrower, int uv)
{
    lua_getiuservalue(L, borrower, uv);
    zl_lua_owner *o = owner_at(L, -1);
    if (o) release(L, o);
    lua_pop(L, 1);
}

/* A pin: a to-be-closed userdata whose uservalue is the pinned owner. */
typedef struct { int held; } pin_box;

static int pin_close(lua_State *L)
{
    pin_box *p = luaL_checkudata(L, 1, PIN_MT);
    if (p->held) {
        p->held = 0;
        zl_lua_unborrow(L, 1, 1);
    }
    return 0;
}

void zl_lua_pin(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    pin_box *p = lua_newuserdatauv(L, sizeof *p, 1);
    p->held = 0;
    if (luaL_newmetatable(L, PIN_MT)) {
        lua_pushcfunction(L, pin_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, pin_close);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_pushvalue(L, idx);
    lua_setiuservalue(L, -2, 1);
    if (owner_at(L, idx)) {
        zl_lua_borrow(L, lua_gettop(L), 1);
        p->held = 1;
    }
    lua_toclose(L, -1); /* released when the C function returns or raises */
}

int zl_lua_checkint(lua_State *L, int idx, lua_Integer lo, lua_Integer hi, const char *what)
{
    lua_Integer v = luaL_checkinteger(L, idx);
    if (v < lo || v > hi)
        return (int)luaL_argerror(L, idx, lua_pushfstring(L, "%s must be in %I..%I", what, lo, hi));
    return (int)v;
}

int zl_lua_number_to_int(lua_State *L, double v, int lo, int hi, const char *what)
{
    /* the comparison is done in double, so NaN and values past int's range never convert */
    if (!(v >= (double)lo && v <= (double)hi) || v != (double)(int64_t)v)
        return luaL_error(L, "%s must be an integer in %d..%d", what, lo, hi);
    return (int)v;
}

void zl_lua_snapshot(lua_State *L, int idx, const char *const *keys)
{
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_newtable(L);
    int copy = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* raw: no metamethod runs */
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, copy);
    }
    for (int i = 0; keys && keys[i]; i++) {
        lua_pushstring(L, keys[i]);
        if (lua_rawget(L, copy) == LUA_TNIL) {
            lua_getfield(L, idx, keys[i]); /* __index answers here, once */
            lua_setfield(L, copy, keys[i]);
        }
        lua_pop(L, 1);
    }
    lua_replace(L, idx);
}
