/* ldist.c — zonelab.dist: the MPI session of core/dist.h for recipes.
 *
 *     local dist = require("zonelab").dist
 *     local size, world = dist.init()  -- starts MPI only under mpirun; raises when it cannot
 *     if dist.rank() == 0 then ... end  -- rank is 0-based, as mpirun numbers them
 *     zl.train.new(m, {..., dist = world})  -- the trainer shares its steps over world's ranks
 *     dist.world(), dist.size(), dist.available(), dist.launched(), dist.barrier()
 *
 * The communicator is passed explicitly: starting MPI changes nothing a trainer computes
 * unless it was given the communicator. */
#include "dist.h"
#include "zl_lua.h"

#define DIST_MT "zonelab.dist"
#define DIST_KEY "zonelab.dist.world" /* registry: the world communicator once init ran */

typedef struct {
    const zl_dist *d; /* the session's: alive until exit, never freed here */
} dist_box;

const struct zl_dist *zl_lua_checkdist(lua_State *L, int idx)
{
    return ((dist_box *)luaL_checkudata(L, idx, DIST_MT))->d;
}

/* The world communicator of an earlier init, or NULL (one process). */
static const zl_dist *world(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, DIST_KEY);
    dist_box *b = luaL_testudata(L, -1, DIST_MT);
    lua_pop(L, 1);
    return b ? b->d : NULL;
}

static int d_init(lua_State *L)
{
    const zl_dist *d = zl_dist_init();
    if (!d) return zl_lua_fail(L);
    lua_pushinteger(L, zl_dist_size(d));
    dist_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->d = d;
    luaL_setmetatable(L, DIST_MT);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DIST_KEY);
    return 2;
}

static int d_world(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, DIST_KEY);
    if (!luaL_testudata(L, -1, DIST_MT))
        return luaL_error(L, "dist.world: call zl.dist.init() first");
    return 1;
}

static int d_tostring(lua_State *L)
{
    const zl_dist *d = zl_lua_checkdist(L, 1);
    lua_pushfstring(L, "dist: rank %d of %d", zl_dist_rank(d), zl_dist_size(d));
    return 1;
}

static int d_rank(lua_State *L) { lua_pushinteger(L, zl_dist_rank(world(L))); return 1; }
static int d_size(lua_State *L) { lua_pushinteger(L, zl_dist_size(world(L))); return 1; }
static int d_available(lua_State *L) { lua_pushboolean(L, zl_dist_available()); return 1; }
static int d_launched(lua_State *L) { lua_pushboolean(L, zl_dist_launched()); return 1; }

static int d_barrier(lua_State *L)
{
    if (zl_dist_barrier(world(L)) != 0) return zl_lua_fail(L);
    return 0;
}

int zl_lua_open_dist(lua_State *L)
{
    static const luaL_Reg fns[] = {{"init", d_init}, {"world", d_world}, {"rank", d_rank},
                                   {"size", d_size}, {"available", d_available},
                                   {"launched", d_launched}, {"barrier", d_barrier},
                                   {NULL, NULL}};
    if (luaL_newmetatable(L, DIST_MT)) {
        lua_pushcfunction(L, d_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
