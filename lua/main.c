/* main.c — the `zonelab` host: a Lua 5.4 interpreter with the zonelab module
 * preloaded, stdlib/ and recipes/ on package.path, scripts run under a message
 * handler (`zonelab: error: <message>`, exit 1), and a REPL with readline. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

int luaopen_zonelab(lua_State *L);

static int show_traceback = 0;
static lua_State *global_L = NULL;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: zonelab [options] [script.lua [args...]]\n"
            "  script.lua args  run a script (recipes/NAME.lua --help explains each recipe)\n"
            "  -e CODE          run CODE\n"
            "  -i               open the REPL (also when no script is given)\n"
            "  --traceback      print a Lua traceback with errors\n"
            "  --version        print the version\n"
            "  -h, --help       this text\n");
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where stdlib/ and recipes/ live: beside the build folder (source tree), under
 * ../share/zonelab (installed), or the configured paths. */
static void find_root(char *root, size_t len)
{
    const char *env = getenv("ZONELAB_HOME");
    if (env && *env) { snprintf(root, len, "%s", env); return; }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char probe[PATH_MAX + 64];
            snprintf(probe, sizeof probe, "%s/../stdlib", exe);
            if (is_dir(probe)) {
                char *r = realpath(probe, NULL);
                if (r) {
                    char *s = strrchr(r, '/');
                    if (s) *s = '\0';
                    snprintf(root, len, "%s", r);
                    free(r);
                    return;
                }
            }
            snprintf(probe, sizeof probe, "%s/../share/zonelab/stdlib", exe);
            if (is_dir(probe)) {
                snprintf(root, len, "%s/../share/zonelab", exe);
                return;
            }
        }
    }
    if (is_dir(ZL_DATADIR "/stdlib")) snprintf(root, len, "%s", ZL_DATADIR);
    else snprintf(root, len, "%s", ZL_SOURCE_DIR);
}

static void setup_paths(lua_State *L)
{
    char root[2 * PATH_MAX];
    find_root(root, sizeof root);
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/stdlib/?.lua;%s/stdlib/?/init.lua;%s/recipes/?.lua;", root, root, root);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    /* require "zonelab" -> the built-in module; require "zonelab.root" -> the root folder */
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_zonelab);
    lua_setfield(L, -2, "zonelab");
    lua_pop(L, 1);
    lua_getfield(L, -1, "loaded");
    lua_pushstring(L, root);
    lua_setfield(L, -2, "zonelab.root");
    lua_pop(L, 2);
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (show_traceback) luaL_traceback(L, L, msg, 1);
    else lua_pushstring(L, msg);
    return 1;
}

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void laction(int sig)
{
    signal(sig, SIG_DFL);
    lua_sethook(global_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    global_L = L;
    void (*old)(int) = signal(SIGINT, laction);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, old);
    lua_remove(L, base);
    return status;
}

static void report(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "zonelab: error: %s\n", msg ? msg : "(no message)");
    fflush(stderr);
    lua_pop(L, 1);
}

static int run_chunk(lua_State *L, int status)
{
    if (status == LUA_OK) status = docall(L, 0, 0);
    if (status != LUA_OK) report(L);
    return status;
}

static int run_script(lua_State *L, char **argv, int argc, int script)
{
    /* arg table as lua.c builds it: arg[0] = script, arg[1..] = its arguments */
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
    const char *fname = strcmp(argv[script], "-") == 0 ? NULL : argv[script];
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n, "too many arguments");
        for (int i = script + 1; i < argc; i++) lua_pushstring(L, argv[i]);
        status = docall(L, n, 0);
    }
    if (status != LUA_OK) report(L);
    return status;
}

/* ---- REPL ---- */
static char *read_line(const char *prompt, int tty)
{
    if (tty) {
        char *l = readline(prompt);
        if (l && *l) add_history(l);
        return l;
    }
    size_t cap = 0;
    char *buf = NULL;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) { free(buf); return NULL; }
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    return buf;
}

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        const char *eof = "<eof>";
        size_t le = strlen(eof);
        if (lmsg >= le && strcmp(msg + lmsg - le, eof) == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

static void print_results(lua_State *L, int n)
{
    if (n <= 0) return;
    lua_getglobal(L, "print");
    lua_insert(L, -n - 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK) report(L);
}

static void repl(lua_State *L)
{
    int tty = isatty(0);
    char hist[PATH_MAX] = "";
    const char *home = getenv("HOME");
    if (tty && home) {
        snprintf(hist, sizeof hist, "%s/.zonelab_history", home);
        read_history(hist);
    }
    if (tty) printf("zonelab %s (Lua 5.4) — `zl` is the zonelab module; Ctrl-D quits\n", ZL_VERSION);
    /* zl = require "zonelab" for convenience */
    luaL_dostring(L, "zl = require 'zonelab'");
    char *line;
    while ((line = read_line("> ", tty)) != NULL) {
        const char *code = line[0] == '=' ? line + 1 : line;
        int top = lua_gettop(L);
        /* First try it as an expression, then as statements (continuing lines). */
        lua_pushfstring(L, "return %s", code);
        int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
        lua_remove(L, -2);
        if (status != LUA_OK) {
            lua_pop(L, 1);
            lua_pushstring(L, code);
            for (;;) {
                status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
                if (!incomplete(L, status)) break;
                char *more = read_line(">> ", tty);
                if (!more) break;
                lua_pushstring(L, "\n");
                lua_pushstring(L, more);
                lua_concat(L, 3);
                free(more);
            }
            lua_remove(L, -2);
        }
        free(line);
        if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) print_results(L, lua_gettop(L) - top);
        else report(L);
        lua_settop(L, top);
        fflush(stdout);
    }
    if (tty) {
        printf("\n");
        if (hist[0]) write_history(hist);
    }
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "zonelab: error: cannot create the Lua state (out of memory)\n");
        return 1;
    }
    luaL_openlibs(L);
    setup_paths(L);
    int want_repl = 0, status = LUA_OK, script = 0, ran = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            printf("zonelab %s (%s)\n", ZL_VERSION, LUA_RELEASE);
            lua_close(L);
            return 0;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            lua_close(L);
            return 0;
        } else if (strcmp(a, "--traceback") == 0) {
            show_traceback = 1;
        } else if (strcmp(a, "-i") == 0) {
            want_repl = 1;
        } else if (strcmp(a, "-e") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "zonelab: error: -e needs an argument\n");
                lua_close(L);
                return 1;
            }
            status = run_chunk(L, luaL_loadbuffer(L, argv[i + 1], strlen(argv[i + 1]), "=(command line)"));
            ran = 1;
            i++;
            if (status != LUA_OK) break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "zonelab: error: unknown option %s\n", a);
            usage(stderr);
            lua_close(L);
            return 1;
        } else {
            script = i;
            break;
        }
    }
    if (status == LUA_OK && script) {
        status = run_script(L, argv, argc, script);
        ran = 1;
    }
    if (status == LUA_OK && (want_repl || !ran)) repl(L);
    lua_close(L);
    return status == LUA_OK ? 0 : 1;
}
