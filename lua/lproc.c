/* lproc.c — zonelab.proc: child processes started from an argument vector (posix_spawn),
 * never through a shell, so no user text (a path with quotes, `$( )`, spaces or
 * newlines) is ever parsed as a command. Used by recipes/protocol.lua for its steps. */
#define _POSIX_C_SOURCE 200809L
#include "zl_lua.h"
#include "error.h"
#include "io.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Keeps the string at the stack top alive in the anchor table (at index anchor) and
 * returns it; pops it. */
static const char *anchor_string(lua_State *L, int anchor)
{
    const char *str = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)luaL_len(L, anchor) + 1);
    return str; /* still referenced by the anchor table */
}

/* zonelab.proc.spawn(argv, opts) -> pid. opts.log: a file receiving the child's stdout
 * and stderr (opened without following symlinks; opts.append keeps what it holds);
 * opts.env: {NAME = value} added to the environment. */
static int p_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const known[] = {"env", "log", "append", NULL};
    int has_opts = !lua_isnoneornil(L, 2);
    if (has_opts) luaL_checktype(L, 2, LUA_TTABLE);
    zl_lua_opts_check(L, 2, "proc.spawn", known);
    lua_settop(L, 2);
    lua_newtable(L); /* 3: anchor of every string handed to the child */
    lua_Integer n = luaL_len(L, 1);
    luaL_argcheck(L, n >= 1 && n < 100000, 1, "argv must be a sequence of 1 or more strings");
    const char **argv = (const char **)lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *argv, 0);
    lua_rawseti(L, 3, 0); /* the array itself, anchored too */
    for (lua_Integer i = 1; i <= n; i++) {
        int t = lua_rawgeti(L, 1, i);
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            return luaL_error(L, "bad argument #1 to 'spawn' (argv[%d] is not a string)", (int)i);
        lua_tostring(L, -1); /* a number becomes a string in place, on the stack only */
        argv[i - 1] = anchor_string(L, 3);
    }
    argv[n] = NULL;
    /* the environment: ours, with opts.env's names replaced or added */
    int nenv = 0, nextra = 0;
    while (environ[nenv]) nenv++;
    if (!has_opts || lua_getfield(L, 2, "env") != LUA_TTABLE) {
        lua_pop(L, has_opts ? 1 : 0);
        lua_newtable(L);
    }
    /* 4: env additions */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "bad argument #2 to 'spawn' (env: names and values must be strings)");
        nextra++;
        lua_pop(L, 1);
    }
    const char **envp = (const char **)lua_newuserdatauv(L, (size_t)(nenv + nextra + 1) * sizeof *envp, 0);
    lua_rawseti(L, 3, -1);
    int k = 0;
    for (int i = 0; i < nenv; i++) {
        const char *eq = strchr(environ[i], '=');
        lua_pushlstring(L, environ[i], eq ? (size_t)(eq - environ[i]) : strlen(environ[i]));
        int replaced = lua_rawget(L, 4) != LUA_TNIL;
        lua_pop(L, 1);
        if (!replaced) envp[k++] = environ[i];
    }
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        envp[k++] = anchor_string(L, 3);
        lua_pop(L, 1);
    }
    envp[k] = NULL;
    int fd = -1;
    if (has_opts && lua_getfield(L, 2, "log") != LUA_TNIL) {
        const char *log = luaL_checkstring(L, -1);
        lua_getfield(L, 2, "append");
        int append = lua_toboolean(L, -1);
        if ((fd = zl_io_open_output(log, append ? 'a' : 'w')) < 0) return zl_lua_fail(L);
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (fd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, fd, 1);
        posix_spawn_file_actions_adddup2(&fa, fd, 2);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    if (fd >= 0) close(fd);
    if (rc != 0) {
        zl_error_set("%s: cannot start (%s)", argv[0], strerror(rc));
        return zl_lua_fail(L);
    }
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

/* zonelab.proc.wait(pid [, nohang]) -> "exit", code | "signal", number; nil when nohang
 * and the child is still running. */
static int p_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    int nohang = lua_toboolean(L, 2);
    int st;
    pid_t r;
    do r = waitpid(pid, &st, nohang ? WNOHANG : 0);
    while (r < 0 && errno == EINTR);
    if (r == 0) return 0;
    if (r < 0) {
        zl_error_set("process %d: cannot wait (%s)", (int)pid, strerror(errno));
        return zl_lua_fail(L);
    }
    if (WIFEXITED(st)) {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, WEXITSTATUS(st));
    } else {
        lua_pushliteral(L, "signal");
        lua_pushinteger(L, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    }
    return 2;
}

/* zonelab.proc.kill(pid [, signal]) sends SIGTERM (or the given number). */
static int p_kill(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    lua_Integer sig = luaL_optinteger(L, 2, SIGTERM);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    luaL_argcheck(L, sig >= 0 && sig < 65, 2, "not a signal number");
    lua_pushboolean(L, kill(pid, (int)sig) == 0);
    return 1;
}

/* zonelab.proc.sleep(seconds) */
static int p_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 86400, 1, "seconds must be between 0 and 86400");
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

int zl_lua_open_proc(lua_State *L)
{
    static const luaL_Reg fns[] = {{"spawn", p_spawn}, {"wait", p_wait}, {"kill", p_kill},
                                   {"sleep", p_sleep}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
