/* ldist.c — zonelab.dist: the MPI session of core/dist.h for recipes.
 *
 *     local dist = require("zonelab").dist
 *     dist.init()                  -- starts MPI only under mpirun; raises when it cannot
 *     if dist.rank() == 0 then ... end  -- rank is 0-based, as mpirun numbers them
 *     dist.size(), dist.available(), dist.launched(), dist.barrier()
 */
#include "dist.h"
#include "zl_lua.h"

static int d_init(lua_State *L)
{
    if (zl_dist_init() != 0) return zl_lua_fail(L);
    lua_pushinteger(L, zl_dist_size());
    return 1;
}

static int d_rank(lua_State *L) { lua_pushinteger(L, zl_dist_rank()); return 1; }
static int d_size(lua_State *L) { lua_pushinteger(L, zl_dist_size()); return 1; }
static int d_available(lua_State *L) { lua_pushboolean(L, zl_dist_available()); return 1; }
static int d_launched(lua_State *L) { lua_pushboolean(L, zl_dist_launched()); return 1; }

static int d_barrier(lua_State *L)
{
    if (zl_dist_barrier() != 0) return zl_lua_fail(L);
    return 0;
}

int zl_lua_open_dist(lua_State *L)
{
    static const luaL_Reg fns[] = {{"init", d_init}, {"rank", d_rank}, {"size", d_size},
                                   {"available", d_available}, {"launched", d_launched},
                                   {"barrier", d_barrier}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
