/* lclass.c — the binding's object classes (zl_lua_class in zl_lua.h): a full userdata
 * holding one core object, with one idempotent close()/__gc/__close that frees the object
 * and then lets go of the owners it borrowed (lpin.c), a __tostring, and its methods as
 * __index. Each l<module>.c describes its classes; this file is their one implementation. */
#include "zl_lua.h"

#include <string.h>

/* close(), __gc and __close; upvalue 1: the class */
static int class_close(lua_State *L)
{
    const zl_lua_class *c = lua_touserdata(L, lua_upvalueindex(1));
    zl_lua_box *b = luaL_checkudata(L, 1, c->name);
    void *obj = b->obj;
    if (!obj) return 0;
    b->obj = NULL; /* closed at once: every method raises from here on */
    /* an owner waits for its borrowers; any object closed by a finalizer or a callback
       while a binding function runs waits for that call to end (lpin.c) */
    zl_lua_owner_close(L, &b->own, obj, c->free_fn);
    /* after the free: freeing may still read what it borrows */
    for (int uv = 1; uv <= c->borrows; uv++) zl_lua_unborrow(L, 1, uv);
    return 0;
}

static int class_tostring(lua_State *L)
{
    const zl_lua_class *c = lua_touserdata(L, lua_upvalueindex(1));
    zl_lua_box *b = luaL_checkudata(L, 1, c->name);
    if (!b->obj) lua_pushstring(L, c->closed_text);
    else c->describe(L, b);
    return 1;
}

void zl_lua_class_open(lua_State *L, const zl_lua_class *c, const luaL_Reg *methods,
                       lua_CFunction len)
{
    if (luaL_newmetatable(L, c->name)) {
        int mt = lua_gettop(L);
        if (c->owner) zl_lua_owner_mark(L, mt);
        lua_pushlightuserdata(L, (void *)c);
        lua_pushcclosure(L, class_close, 1);
        lua_pushvalue(L, -1);
        lua_setfield(L, mt, "__gc");
        lua_pushvalue(L, -1);
        lua_setfield(L, mt, "__close");
        lua_newtable(L); /* __index: the methods and close */
        lua_insert(L, -2);
        lua_setfield(L, -2, "close");
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, mt, "__index");
        lua_pushlightuserdata(L, (void *)c);
        lua_pushcclosure(L, class_tostring, 1);
        lua_setfield(L, mt, "__tostring");
        if (len) {
            lua_pushcfunction(L, len);
            lua_setfield(L, mt, "__len");
        }
    }
    lua_pop(L, 1);
}

void *zl_lua_class_new(lua_State *L, const zl_lua_class *c, size_t size, int nuv, const int *uv)
{
    int top = lua_gettop(L);
    zl_lua_box *b = lua_newuserdatauv(L, size, nuv);
    memset(b, 0, size);
    luaL_setmetatable(L, c->name);
    for (int k = 1; k <= nuv; k++) {
        lua_pushvalue(L, uv[k - 1] < 0 ? top + 1 + uv[k - 1] : uv[k - 1]);
        lua_setiuservalue(L, -2, k);
    }
    return b;
}

int zl_lua_class_set(lua_State *L, const zl_lua_class *c, void *obj)
{
    if (!obj) return zl_lua_fail(L);
    zl_lua_box *b = luaL_checkudata(L, -1, c->name);
    b->obj = obj;
    for (int uv = 1; uv <= c->borrows; uv++) zl_lua_borrow(L, -1, uv);
    return 1;
}

zl_lua_box *zl_lua_class_check(lua_State *L, int idx, const zl_lua_class *c)
{
    zl_lua_box *b = luaL_checkudata(L, idx, c->name);
    if (!b->obj) luaL_argerror(L, idx, c->closed_error);
    return b;
}
