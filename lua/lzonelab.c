/* lzonelab.c — luaopen_zonelab: the `zonelab` table with one field per core module,
 * plus version, set_threads/get_threads and the core's error helper. */
#include "zl_lua.h"
#include "error.h"

#include <lualib.h>

int zl_lua_fail(lua_State *L)
{
    const char *msg = zl_error_get();
    return luaL_error(L, "%s", msg[0] ? msg : "zonelab: unknown error");
}

static int l_set_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1 || n > 1024) return luaL_argerror(L, 1, "thread count must be 1..1024");
    if (zl_set_threads((int)n) != 0) return zl_lua_fail(L);
    return 0;
}

static int l_get_threads(lua_State *L)
{
    lua_pushinteger(L, zl_get_threads());
    return 1;
}

static const struct { const char *name; lua_CFunction open; } zl_modules[] = {
    {"tensor", zl_lua_open_tensor},
};

int luaopen_zonelab(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"set_threads", l_set_threads},
        {"get_threads", l_get_threads},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_pushstring(L, ZL_VERSION);
    lua_setfield(L, -2, "version");
    for (size_t i = 0; i < sizeof zl_modules / sizeof zl_modules[0]; i++) {
        lua_pushcfunction(L, zl_modules[i].open);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, zl_modules[i].name);
    }
    return 1;
}
