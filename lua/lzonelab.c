/* lzonelab.c — luaopen_zonelab: the `zonelab` table with one field per core module,
 * plus version, set_threads/get_threads and the core's error helper. */
#define _GNU_SOURCE /* clock_gettime, sched_getaffinity */
#include "zl_lua.h"
#include "error.h"

#include <lualib.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int zl_lua_fail(lua_State *L)
{
    /* No "chunk:line:" prefix: the core's message already names the file or field. */
    const char *msg = zl_error_get();
    lua_pushstring(L, msg[0] ? msg : "unknown error in the zonelab core");
    return lua_error(L);
}

/* zonelab.check_options(opts, known, where): the stdlib's check of an options table
 * (lopts.c's rule and message): raises "<where>: unknown option 'k' (did you mean 'x'?)"
 * without a script position (the caller is library code). */
static int l_check_options(lua_State *L)
{
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *where = luaL_checkstring(L, 3);
    if (lua_isnoneornil(L, 1)) return 0;
    if (!lua_istable(L, 1)) {
        lua_pushfstring(L, "%s: the options must be a table (got %s)", where, luaL_typename(L, 1));
        return lua_error(L);
    }
    lua_Integer n = luaL_len(L, 2);
    const char **known = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *known, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        known[i - 1] = lua_tostring(L, -1); /* the list keeps the strings alive */
        if (!known[i - 1]) return luaL_argerror(L, 2, "option names must be strings");
        lua_pop(L, 1);
    }
    known[n] = NULL;
    if (zl_lua_opts_unknown(L, 1, known)) {
        lua_pushfstring(L, "%s: %s", where, lua_tostring(L, -1));
        return lua_error(L);
    }
    return 0;
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

/* zonelab.cpu_count(): the cores this process may run on (its affinity mask, as taskset or
 * a container's cpuset restrict it), whatever OPENBLAS_NUM_THREADS says. */
static int l_cpu_count(lua_State *L)
{
    cpu_set_t set;
    long n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    if (n < 1) n = sysconf(_SC_NPROCESSORS_ONLN);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

/* zonelab.isatty(fd): whether fd (0, 1, 2) is a terminal, for progress display. */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* zonelab.clock(): monotonic wall time in seconds (progress rates, benchmarks). */
static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec);
    return 1;
}

/* zonelab.peak_rss_mb(): the process's peak resident set size in MiB. */
static int l_peak_rss_mb(lua_State *L)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    lua_pushnumber(L, (double)ru.ru_maxrss / 1024.0);
    return 1;
}

/* zonelab.executable(): absolute path of the running zonelab host (for recipes that
 * run other recipes as steps); nil when unknown (e.g. loaded into a stock lua5.4). */
static int l_executable(lua_State *L)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char *base = strrchr(buf, '/');
    if (!base || strcmp(base + 1, "zonelab") != 0) return 0;
    lua_pushstring(L, buf);
    return 1;
}

static const struct { const char *name; lua_CFunction open; } zl_modules[] = {
    {"tensor", zl_lua_open_tensor},
    {"tokenizer", zl_lua_open_tokenizer},
    {"squad", zl_lua_open_squad},
    {"sweep", zl_lua_open_sweep},
    {"tfckpt", zl_lua_open_tfckpt},
    {"json", zl_lua_open_json},
    {"io", zl_lua_open_io},
    {"pdf", zl_lua_open_pdf},
    {"bert", zl_lua_open_bert},
    {"flows", zl_lua_open_flows},
    {"metrics", zl_lua_open_metrics},
    {"optim", zl_lua_open_optim},
    {"train", zl_lua_open_train},
    {"mlm", zl_lua_open_mlm},
    {"dist", zl_lua_open_dist},
    {"proc", zl_lua_open_proc},
};

int luaopen_zonelab(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"set_threads", l_set_threads},
        {"get_threads", l_get_threads},
        {"isatty", l_isatty},
        {"clock", l_clock},
        {"peak_rss_mb", l_peak_rss_mb},
        {"executable", l_executable},
        {"check_options", l_check_options},
        {"cpu_count", l_cpu_count},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_pushstring(L, ZL_VERSION);
    lua_setfield(L, -2, "version");
    for (size_t i = 0; i < sizeof zl_modules / sizeof zl_modules[0]; i++) {
        lua_pushcfunction(L, zl_modules[i].open);
        lua_call(L, 0, 1);
        lua_setfield(L, -2, zl_modules[i].name);
    }
    zl_lua_note_functions(L, -1);
    return 1;
}
