/* main.c — the `zonelab` host: a Lua 5.4 interpreter with the zonelab module
 * preloaded, stdlib/ and recipes/ on package.path, scripts run under a message
 * handler (`zonelab: error: <message>`, exit 1), and a REPL with readline: help()
 * over the embedded docs/lua-api.md, readable values, Tab completion, Ctrl-C that
 * interrupts without killing, a history file (zonelab.repl holds the Lua side). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <fcntl.h>
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
            "  -h, --help       this text\n"
            "The REPL: help() lists the modules; Tab completes; Ctrl-C interrupts; every line\n"
            "goes to $ZONELAB_HISTORY (default ~/.zonelab_history; empty: no history).\n");
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

/* "…/stdlib/zonelab/cli.lua:42: msg" -> "msg". A position inside zonelab's own Lua
 * (stdlib/zonelab/, recipes/) tells a user nothing: the message must say what was wrong
 * with their input. Positions in the user's own scripts and the REPL stay. */
static int is_zonelab_source(const char *src, size_t n)
{
    size_t name = n;
    while (name > 0 && src[name - 1] != '/') name--;
    if (name == 0 || n - name < 5 || memcmp(src + n - 4, ".lua", 4) != 0) return 0;
    static const char *const dirs[] = {"stdlib/zonelab/", "recipes/"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        size_t len = strlen(dirs[i]);
        if (name < len || memcmp(src + name - len, dirs[i], len) != 0) continue;
        size_t at = name - len; /* the folder is the whole start, or follows '/' or "..." */
        if (at == 0 || src[at - 1] == '/' || src[at - 1] == '.') return 1;
    }
    return 0;
}

static const char *strip_positions(const char *msg)
{
    for (;;) {
        const char *colon = strstr(msg, ".lua:");
        if (!colon) return msg;
        const char *nl = strchr(msg, '\n');
        if (nl && nl < colon) return msg;
        const char *d = colon + 5;
        if (*d < '0' || *d > '9') return msg;
        while (*d >= '0' && *d <= '9') d++;
        if (d[0] != ':' || d[1] != ' ') return msg;
        if (!is_zonelab_source(msg, (size_t)(colon + 4 - msg))) return msg;
        msg = d + 2;
    }
}

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (show_traceback) {
        luaL_traceback(L, L, msg, 1);
        return 1;
    }
    msg = strip_positions(msg);
    /* lua-argparse's pparse re-raises other errors with a traceback appended */
    const char *tb = strstr(msg, "\noriginal stack traceback:");
    if (tb) lua_pushlstring(L, msg, (size_t)(tb - msg));
    else lua_pushstring(L, msg);
    return 1;
}

/* ---- Ctrl-C: lua.c's technique. The signal handler only sets a hook; the hook raises
 * the error at the next Lua instruction, so a C computation finishes first and every
 * object stays intact. Scripts: a second Ctrl-C kills (the default action is back).
 * REPL: the handler stays, and a Ctrl-C at the prompt clears the line instead. */
static volatile sig_atomic_t sigint_seen = 0; /* REPL: Ctrl-C since last cleared */
static volatile sig_atomic_t lua_running = 0; /* REPL: inside docall */
static int in_repl = 0;

static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    /* A script's Ctrl-C raises once (a second one kills). The REPL's raises again at the
     * next Lua instruction after any pcall that caught it, until the prompt is back, so a
     * loop around pcall stops too; only the count hook stays, which C error handlers
     * (msghandler) never trigger. */
    if (in_repl) lua_sethook(L, lstop, LUA_MASKCOUNT, 1);
    else lua_sethook(L, NULL, 0, 0);
    lua_pushliteral(L, "interrupted (Ctrl-C)");
    lua_error(L);
}

static void laction(int sig)
{
    signal(sig, SIG_DFL);
    lua_sethook(global_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static void repl_action(int sig)
{
    (void)sig;
    sigint_seen = 1;
    if (lua_running) lua_sethook(global_L, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    global_L = L;
    void (*old)(int) = SIG_DFL;
    if (!in_repl) old = signal(SIGINT, laction);
    else if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0); /* a late Ctrl-C's hook */
    lua_running = 1;
    int status = lua_pcall(L, narg, nres, base);
    lua_running = 0;
    if (!in_repl) signal(SIGINT, old);
    else if (lua_gethook(L) == lstop) lua_sethook(L, NULL, 0, 0); /* C code outran the hook */
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

/* ---- standard output: a write that fails (a full disk, /dev/full, a closed pipe
 * without SIGPIPE) is an error, never a silent success. print raises at once; io.write
 * buffers, so the exit check catches what it wrote. */
static int stdout_raised = 0; /* print has already said that stdout failed */

static int host_print(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        if (i > 1) fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        stdout_raised = 1;
        lua_pushfstring(L, "cannot write to standard output: %s", errno ? strerror(errno) : "write error");
        return lua_error(L);
    }
    return 0;
}

static void check_stdout_at_exit(void)
{
    errno = 0;
    int flushed = fflush(stdout) == 0;
    if (flushed && !ferror(stdout)) return;
    if (stdout_raised) _exit(1); /* the message is out already */
    const char *why = !flushed && errno ? strerror(errno) : "an earlier write failed";
    fprintf(stderr, "zonelab: error: cannot write to standard output: %s\n", why);
    _exit(1);
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

/* ---- what -e and the REPL predefine: zl, and help() over the embedded docs ---- */
extern const char zl_lua_api_doc[];
extern const unsigned long zl_lua_api_doc_len;
static int repl_ref = LUA_NOREF; /* stdlib/zonelab/repl.lua, when it loads */

static void prelude(lua_State *L)
{
    static int done = 0;
    if (done) return;
    done = 1;
    int top = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "zonelab");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK) lua_setglobal(L, "zl");
    lua_settop(L, top);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "zonelab.repl");
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        lua_getfield(L, -1, "install");
        lua_pushlstring(L, zl_lua_api_doc, (size_t)zl_lua_api_doc_len);
        if (lua_pcall(L, 1, 0, 0) == LUA_OK) {
            lua_pushvalue(L, top + 1);
            repl_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        }
    }
    lua_settop(L, top);
}

/* ---- REPL ---- */
static char hist_path[PATH_MAX] = "";
enum { HISTORY_KEEP = 1000 };

/* ~/.zonelab_history, or $ZONELAB_HISTORY ("" turns the history off). */
static void history_open(void)
{
    const char *env = getenv("ZONELAB_HISTORY");
    const char *home = getenv("HOME");
    if (env) {
        if (!*env) return;
        snprintf(hist_path, sizeof hist_path, "%s", env);
    } else if (home && *home) {
        snprintf(hist_path, sizeof hist_path, "%s/.zonelab_history", home);
    } else {
        return;
    }
    /* append_history needs the file to exist; private, as a shell's history is */
    int fd = open(hist_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "zonelab: warning: %s: %s; no history kept\n", hist_path, strerror(errno));
        hist_path[0] = '\0';
        return;
    }
    close(fd);
    read_history(hist_path);
    history_truncate_file(hist_path, HISTORY_KEEP);
    stifle_history(HISTORY_KEEP);
}

/* Each line goes to the file as soon as it is entered: a killed REPL loses nothing. */
static void history_add(const char *line)
{
    if (!*line) return;
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (last && strcmp(last->line, line) == 0) return;
    add_history(line);
    if (hist_path[0] && append_history(1, hist_path) != 0) {
        fprintf(stderr, "zonelab: warning: %s: cannot append the history\n", hist_path);
        hist_path[0] = '\0';
    }
}

static volatile sig_atomic_t line_cancelled = 0;

/* readline's input: one byte at a time as its own rl_getc, but a Ctrl-C ends the line
 * (marked cancelled) instead of waiting for the next key. readline's own handlers run
 * first (rl_check_signals: echo ^C, terminal state), then hand SIGINT to repl_action. */
static int repl_getc(FILE *f)
{
    for (;;) {
#if RL_READLINE_VERSION >= 0x0801
        rl_check_signals(); /* a SIGINT readline caught while it was busy */
#endif
        if (sigint_seen) {
            sigint_seen = 0;
            line_cancelled = 1;
            return '\n';
        }
        unsigned char c;
        ssize_t n = read(fileno(f), &c, 1);
        if (n == 1) return c;
        if (n == 0) return EOF;
        if (errno != EINTR) return EOF;
    }
}

/* Tab: candidates from zonelab.repl's complete(word); file names inside a string. */
static char **completions = NULL;
static size_t ncompletions = 0, next_completion = 0;

static void completions_free(void)
{
    for (size_t i = 0; i < ncompletions; i++) free(completions[i]);
    free(completions);
    completions = NULL;
    ncompletions = next_completion = 0;
}

static char *completion_next(const char *text, int state)
{
    (void)text;
    if (state == 0) next_completion = 0;
    if (next_completion < ncompletions) return strdup(completions[next_completion++]);
    return NULL;
}

/* Whether position `end` of the line is inside a string literal ("..." or '...'). */
static int in_string(const char *line, int end)
{
    char quote = 0;
    for (int i = 0; i < end && line[i]; i++) {
        if (quote && line[i] == '\\' && i + 1 < end) i++;
        else if (quote && line[i] == quote) quote = 0;
        else if (!quote && (line[i] == '"' || line[i] == '\'')) quote = line[i];
    }
    return quote != 0;
}

static char **repl_complete(const char *text, int start, int end)
{
    (void)end;
    rl_completion_append_character = '\0';
    completions_free();
    /* inside a string: readline's own file name completion (zl.bert.load("mo<Tab>) */
    if (in_string(rl_line_buffer, start)) return NULL;
    rl_attempted_completion_over = 1;
    lua_State *L = global_L;
    if (!L || repl_ref == LUA_NOREF) return NULL;
    int top = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
    lua_getfield(L, -1, "complete");
    lua_pushstring(L, text);
    if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1)) {
        size_t n = (size_t)lua_rawlen(L, -1);
        completions = calloc(n ? n : 1, sizeof *completions);
        for (size_t i = 0; completions && i < n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            const char *s = lua_tostring(L, -1);
            if (s && (completions[ncompletions] = strdup(s)) != NULL) ncompletions++;
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
    if (ncompletions == 0) return NULL;
    return rl_completion_matches(text, completion_next);
}

/* 1: a line in *out (free it); 0: end of input; -1: cancelled by Ctrl-C. */
static int read_line(const char *prompt, int tty, char **out)
{
    *out = NULL;
    if (tty) {
        sigint_seen = 0;
        line_cancelled = 0;
        char *l = readline(prompt);
        if (line_cancelled) {
            free(l);
            return -1;
        }
        if (!l) return 0;
        history_add(l);
        *out = l;
        return 1;
    }
    size_t cap = 0;
    char *buf = NULL;
    ssize_t n = getline(&buf, &cap, stdin);
    if (n < 0) { free(buf); return 0; }
    if (n && buf[n - 1] == '\n') buf[n - 1] = '\0';
    *out = buf;
    return 1;
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

/* The n values on top: readably through zonelab.repl's show (tables, objects by their
 * __tostring), as print does when it is missing. Interruptible like any code. */
static void print_results(lua_State *L, int n)
{
    if (n <= 0) return;
    if (repl_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, repl_ref);
        lua_getfield(L, -1, "show");
        lua_remove(L, -2);
    } else {
        lua_getglobal(L, "print");
    }
    lua_insert(L, -n - 1);
    if (docall(L, n, repl_ref != LUA_NOREF ? 1 : 0) != LUA_OK) {
        report(L);
        return;
    }
    if (repl_ref != LUA_NOREF) {
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (s) {
            fwrite(s, 1, len, stdout);
            fputc('\n', stdout);
        }
        lua_pop(L, 1);
    }
}

static const char word_breaks[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#";

static void repl(lua_State *L)
{
    int tty = isatty(0);
    in_repl = 1;
    global_L = L;
    struct sigaction sa, old_sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = repl_action;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, &old_sa);
    prelude(L);
    if (tty) {
        rl_readline_name = "zonelab";
        rl_getc_function = repl_getc;
        rl_attempted_completion_function = repl_complete;
        rl_basic_word_break_characters = word_breaks;
        rl_completer_word_break_characters = (char *)word_breaks;
        history_open();
        printf("zonelab %s (Lua 5.4) — `zl` is the zonelab module; help() for help; Ctrl-D quits\n",
               ZL_VERSION);
        if (repl_ref == LUA_NOREF)
            printf("(stdlib/zonelab/repl.lua did not load: no help(), plain printing)\n");
    }
    char *line;
    int got;
    while ((got = read_line("> ", tty, &line)) != 0) {
        if (got < 0) continue; /* Ctrl-C at the prompt: a fresh line */
        const char *code = line[0] == '=' ? line + 1 : line;
        int top = lua_gettop(L);
        /* First try it as an expression, then as statements (continuing lines). */
        lua_pushfstring(L, "return %s", code);
        int status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
        lua_remove(L, -2);
        int cancelled = 0;
        if (status != LUA_OK) {
            lua_pop(L, 1);
            lua_pushstring(L, code);
            for (;;) {
                status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
                if (!incomplete(L, status)) break;
                char *more;
                int got_more = read_line(">> ", tty, &more);
                if (got_more <= 0) {
                    /* Ctrl-C drops the half-typed chunk; end of input reports it */
                    if (got_more < 0) cancelled = 1;
                    else status = luaL_loadbuffer(L, lua_tostring(L, -1), lua_rawlen(L, -1), "=stdin");
                    break;
                }
                lua_pushstring(L, "\n");
                lua_pushstring(L, more);
                lua_concat(L, 3);
                free(more);
            }
            if (!cancelled) lua_remove(L, -2);
        }
        free(line);
        if (cancelled) {
            lua_settop(L, top);
            continue;
        }
        sigint_seen = 0;
        if (status == LUA_OK) status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK) print_results(L, lua_gettop(L) - top);
        else {
            if (sigint_seen && tty) fputc('\n', stderr); /* after the terminal's "^C" */
            report(L);
        }
        lua_settop(L, top);
        fflush(stdout);
    }
    if (tty) printf("\n");
    completions_free();
    sigaction(SIGINT, &old_sa, NULL);
    in_repl = 0;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "zonelab: error: cannot create the Lua state (out of memory)\n");
        return 1;
    }
    atexit(check_stdout_at_exit);
    luaL_openlibs(L);
    lua_pushcfunction(L, host_print);
    lua_setglobal(L, "print");
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
            prelude(L);
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
