/* ljson.c — zonelab.json (decode/encode/read/write through cJSON for parsing and a
 * sorted-key encoder, so outputs are byte-identical run to run) and zonelab.io
 * (whole-file read, atomic write, outputs opened without following symlinks, the run
 * folder lock). JSON arrays decode to tables carrying the
 * zonelab.json.array metatable so they re-encode as arrays even when empty. */
#include "zl_lua.h"
#include "error.h"
#include "io.h"
#include "json.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <lualib.h>
#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_MT "zonelab.json.array"
#define JSON_MAX_FILE ((size_t)1 << 31)

/* ---- decoding ---- */
static void push_json(lua_State *L, const cJSON *j, int depth)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, 4);
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_setfield(L, -2, c->string ? c->string : "");
        }
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            push_json(L, c, depth + 1);
            lua_rawseti(L, -2, i++);
        }
        luaL_setmetatable(L, ARRAY_MT);
    } else if (cJSON_IsString(j)) {
        lua_pushstring(L, j->valuestring);
    } else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (v == floor(v) && fabs(v) < 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
        else lua_pushnumber(L, v);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else {
        lua_pushlightuserdata(L, NULL); /* zonelab.json.null */
    }
}

static int decode_buffer(lua_State *L, const char *what, const char *s, size_t len)
{
    cJSON *j = zl_json_parse(what, s, len);
    if (!j) return zl_lua_fail(L);
    push_json(L, j, 0);
    cJSON_Delete(j);
    return 1;
}

/* json.decode(string, [name]) */
static int j_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    return decode_buffer(L, luaL_optstring(L, 2, "JSON"), s, len);
}

/* json.read(path) */
static int j_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf;
    size_t len;
    if (zl_io_read_file(path, JSON_MAX_FILE, &buf, &len) != 0) return zl_lua_fail(L);
    /* Move the bytes into a Lua string so that a raised error frees them. */
    lua_pushlstring(L, buf, len);
    free(buf);
    size_t l2;
    const char *s = lua_tolstring(L, -1, &l2);
    return decode_buffer(L, path, s, l2);
}

/* ---- encoding ----
 * Output goes to a growable C buffer held by a userdata (freed by __gc), so a Lua
 * error raised half-way (an unencodable value) leaks nothing. */
#define STRBUF_MT "zonelab.json.strbuf"
typedef struct { char *p; size_t n, cap; } strbuf;

static int strbuf_gc(lua_State *L)
{
    strbuf *b = luaL_checkudata(L, 1, STRBUF_MT);
    free(b->p);
    b->p = NULL;
    return 0;
}

static void sb_add(lua_State *L, strbuf *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) luaL_error(L, "json.encode: out of memory");
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void sb_str(lua_State *L, strbuf *b, const char *s) { sb_add(L, b, s, strlen(s)); }

typedef struct { strbuf *b; int pretty; } enc;

static void add_indent(lua_State *L, enc *e, int depth)
{
    if (!e->pretty) return;
    sb_add(L, e->b, "\n", 1);
    for (int i = 0; i < depth; i++) sb_add(L, e->b, "  ", 2);
}

static void add_string(lua_State *L, strbuf *b, const char *s, size_t len)
{
    sb_add(L, b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) sb_str(L, b, esc);
        else sb_add(L, b, (const char *)&s[i], 1);
    }
    sb_add(L, b, "\"", 1);
}

/* Floats as Python's repr writes them ("50.0", "1e-05"): core/text's one formatter. */
static void add_number(lua_State *L, strbuf *b, double v)
{
    if (!isfinite(v)) luaL_error(L, "json.encode: cannot encode %f (not finite)", v);
    char s[32];
    zl_text_repr_double(s, v);
    sb_str(L, b, s);
}

static int is_array(lua_State *L, int idx, lua_Integer *n)
{
    if (luaL_getmetafield(L, idx, "__name") != LUA_TNIL) {
        int arr = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), ARRAY_MT) == 0;
        lua_pop(L, 1);
        if (arr) { *n = (lua_Integer)lua_rawlen(L, idx); return 1; }
    }
    lua_Integer count = 0, max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) { lua_pop(L, 1); return 0; }
        lua_Integer k = lua_tointeger(L, -1);
        if (k > max) max = k;
        count++;
    }
    *n = max;
    return count > 0 && count == max;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void encode(lua_State *L, enc *e, int idx, int depth)
{
    idx = lua_absindex(L, idx);
    if (depth > 200) luaL_error(L, "json.encode: nested too deeply (cycle?)");
    luaL_checkstack(L, 8, "json.encode");
    char num[32];
    switch (lua_type(L, idx)) {
    case LUA_TNIL: sb_str(L, e->b, "null"); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { sb_str(L, e->b, "null"); break; }
        luaL_error(L, "json.encode: cannot encode a userdata");
        break;
    case LUA_TBOOLEAN: sb_str(L, e->b, lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            snprintf(num, sizeof num, LUA_INTEGER_FMT, lua_tointeger(L, idx));
            sb_str(L, e->b, num);
        } else {
            add_number(L, e->b, lua_tonumber(L, idx));
        }
        break;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        add_string(L, e->b, s, len);
        break;
    }
    case LUA_TTABLE: {
        lua_Integer n;
        if (is_array(L, idx, &n)) {
            sb_str(L, e->b, "[");
            for (lua_Integer i = 1; i <= n; i++) {
                if (i > 1) sb_str(L, e->b, ",");
                add_indent(L, e, depth + 1);
                lua_geti(L, idx, i);
                encode(L, e, -1, depth + 1);
                lua_pop(L, 1);
            }
            if (n) add_indent(L, e, depth);
            sb_str(L, e->b, "]");
            break;
        }
        /* Object: string keys (numbers converted), sorted; originals kept for lookup. */
        lua_newtable(L); /* sorted key strings -> original key */
        int keys = lua_gettop(L);
        lua_Integer nk = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            int kt = lua_type(L, -1);
            if (kt != LUA_TSTRING && kt != LUA_TNUMBER)
                luaL_error(L, "json.encode: object keys must be strings");
            lua_pushvalue(L, -1);
            lua_pushstring(L, lua_tostring(L, -1)); /* string form */
            lua_remove(L, -2);
            lua_pushvalue(L, -2);                   /* original key */
            lua_rawset(L, keys);
            nk++;
        }
        const char **names = lua_newuserdatauv(L, (size_t)(nk ? nk : 1) * sizeof *names, 0);
        lua_Integer i = 0;
        lua_pushnil(L);
        while (lua_next(L, keys)) {
            lua_pop(L, 1);
            names[i++] = lua_tostring(L, -1);
        }
        if (nk > 1) qsort(names, (size_t)nk, sizeof *names, cmp_keys);
        sb_str(L, e->b, "{");
        for (i = 0; i < nk; i++) {
            if (i) sb_str(L, e->b, ",");
            add_indent(L, e, depth + 1);
            add_string(L, e->b, names[i], strlen(names[i]));
            sb_str(L, e->b, e->pretty ? ": " : ":");
            lua_getfield(L, keys, names[i]); /* original key */
            lua_rawget(L, idx);
            encode(L, e, -1, depth + 1);
            lua_pop(L, 1);
        }
        if (nk) add_indent(L, e, depth);
        sb_str(L, e->b, "}");
        lua_settop(L, keys - 1);
        break;
    }
    case LUA_TUSERDATA: {
        zl_tensor *t = zl_lua_totensor(L, idx);
        if (!t) luaL_error(L, "json.encode: cannot encode a userdata");
        sb_str(L, e->b, "[");
        for (int64_t k = 0; k < t->numel; k++) {
            if (k) sb_str(L, e->b, ",");
            if (t->dtype == ZL_F32) add_number(L, e->b, ZL_F32P(t)[k]);
            else {
                snprintf(num, sizeof num, "%d", (int)ZL_I32P(t)[k]);
                sb_str(L, e->b, num);
            }
        }
        sb_str(L, e->b, "]");
        break;
    }
    default:
        luaL_error(L, "json.encode: cannot encode a %s", luaL_typename(L, idx));
    }
}

/* ---- Lua values as a cJSON tree (for core readers that take a parsed document) ----
 * The tree hangs from a userdata whose __gc deletes it, and every node is attached to
 * its parent as soon as it exists, so an error half-way leaks nothing. */
#define TREE_MT "zonelab.json.tree"

static int tree_gc(lua_State *L)
{
    cJSON **root = luaL_checkudata(L, 1, TREE_MT);
    cJSON_Delete(*root);
    *root = NULL;
    return 0;
}

static cJSON *tree_node(lua_State *L, int idx, const char *where)
{
    idx = lua_absindex(L, idx);
    cJSON *j = NULL;
    switch (lua_type(L, idx)) {
    case LUA_TNIL: j = cJSON_CreateNull(); break;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) != NULL) luaL_error(L, "%s: cannot hold a userdata", where);
        j = cJSON_CreateNull();
        break;
    case LUA_TBOOLEAN: j = cJSON_CreateBool(lua_toboolean(L, idx)); break;
    case LUA_TNUMBER: j = cJSON_CreateNumber(lua_tonumber(L, idx)); break;
    case LUA_TSTRING: j = cJSON_CreateString(lua_tostring(L, idx)); break;
    case LUA_TTABLE: {
        lua_Integer n;
        lua_pushnil(L);
        int empty = lua_next(L, idx) == 0; /* an empty table is an empty array: Lua cannot
                                              tell {} from [] */
        if (!empty) lua_pop(L, 2);
        j = empty || is_array(L, idx, &n) ? cJSON_CreateArray() : cJSON_CreateObject();
        break;
    }
    default: luaL_error(L, "%s: cannot hold a %s", where, luaL_typename(L, idx));
    }
    if (!j) luaL_error(L, "%s: out of memory", where);
    return j;
}

static void tree_fill(lua_State *L, int idx, cJSON *j, const char *where, int depth)
{
    idx = lua_absindex(L, idx);
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) return;
    if (depth > 200) luaL_error(L, "%s: nested too deeply (cycle?)", where);
    luaL_checkstack(L, 4, where);
    if (cJSON_IsArray(j)) {
        lua_Integer n = 0;
        is_array(L, idx, &n);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_geti(L, idx, i);
            cJSON *c = tree_node(L, -1, where);
            cJSON_AddItemToArray(j, c);
            tree_fill(L, -1, c, where, depth + 1);
            lua_pop(L, 1);
        }
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "%s: object keys must be strings", where);
        cJSON *c = tree_node(L, -1, where);
        cJSON_AddItemToObject(j, lua_tostring(L, -2), c);
        tree_fill(L, -1, c, where, depth + 1);
        lua_pop(L, 1);
    }
}

cJSON *zl_lua_tojson(lua_State *L, int idx, const char *where)
{
    idx = lua_absindex(L, idx);
    cJSON **root = lua_newuserdatauv(L, sizeof *root, 0);
    *root = NULL;
    if (luaL_newmetatable(L, TREE_MT)) {
        lua_pushcfunction(L, tree_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    *root = tree_node(L, idx, where);
    tree_fill(L, idx, *root, where, 0);
    return *root;
}

static int opt_pretty(lua_State *L, int idx)
{
    if (!lua_istable(L, idx)) return 0;
    static const char *const known[] = {"pretty", NULL};
    zl_lua_opts_check(L, idx, "json", known);
    lua_getfield(L, idx, "pretty");
    int p = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return p;
}

/* json.encode(value, [opts]) */
static int j_encode(lua_State *L)
{
    int pretty = opt_pretty(L, 2);
    lua_settop(L, 1);
    strbuf *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    if (luaL_newmetatable(L, STRBUF_MT)) {
        lua_pushcfunction(L, strbuf_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    enc e = {b, pretty};
    encode(L, &e, 1, 0);
    lua_pushlstring(L, b->p ? b->p : "", b->n);
    free(b->p);
    b->p = NULL;
    return 1;
}

/* json.float(x): Python's repr of x as a float ("75.0", "91.66666666666667", "1e-05"),
 * the number format of every score zonelab prints; NaN and infinities as Python's json
 * spells them ("NaN", "Infinity"). */
static int j_float(lua_State *L)
{
    char s[32];
    lua_pushstring(L, (zl_text_repr_double(s, (double)luaL_checknumber(L, 1)), s));
    return 1;
}

/* json.write(path, value, [opts]) — atomic, with a final newline */
static int j_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_pushcfunction(L, j_encode);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_call(L, 2, 1);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    zl_atomic_file *a = zl_io_atomic_begin(path);
    if (!a) return zl_lua_fail(L);
    if (zl_io_atomic_write(a, s, len) != 0 || zl_io_atomic_write(a, "\n", 1) != 0) {
        zl_io_atomic_abort(a);
        return zl_lua_fail(L);
    }
    if (zl_io_atomic_commit(a) != 0) return zl_lua_fail(L);
    return 0;
}

static int j_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    else luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    luaL_setmetatable(L, ARRAY_MT);
    return 1;
}

int zl_lua_open_json(lua_State *L)
{
    static const luaL_Reg fns[] = {{"decode", j_decode}, {"encode", j_encode}, {"read", j_read},
                                   {"write", j_write}, {"array", j_array}, {"float", j_float},
                                   {NULL, NULL}};
    luaL_newmetatable(L, ARRAY_MT);
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_pushlightuserdata(L, NULL);
    lua_setfield(L, -2, "null");
    return 1;
}

/* ---- zonelab.io ---- */
static int io_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer max = luaL_optinteger(L, 2, (lua_Integer)1 << 33);
    char *buf;
    size_t len;
    if (zl_io_read_file(path, (size_t)max, &buf, &len) != 0) return zl_lua_fail(L);
    lua_pushlstring(L, buf, len);
    free(buf);
    return 1;
}

static int io_write_atomic(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *s = luaL_checklstring(L, 2, &len);
    if (zl_io_write_atomic(path, s, len) != 0) return zl_lua_fail(L);
    return 0;
}

static int io_fclose(lua_State *L)
{
    luaL_Stream *p = (luaL_Stream *)luaL_checkudata(L, 1, LUA_FILEHANDLE);
    return luaL_fileresult(L, fclose(p->f) == 0, NULL);
}

/* zonelab.io.open(path, mode) -> a Lua file (as io.open's), or nil, message. mode "w"
 * (default), "a" or "x" (new file only); never follows a symlink (zl_io_open_output). */
static int io_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *mode = luaL_optstring(L, 2, "w");
    luaL_argcheck(L, (mode[0] == 'w' || mode[0] == 'a' || mode[0] == 'x') && !mode[1], 2,
                  "mode must be \"w\", \"a\" or \"x\"");
    /* userdata first: a failure below leaves a closed handle for the GC, nothing open */
    luaL_Stream *p = (luaL_Stream *)lua_newuserdatauv(L, sizeof *p, 0);
    p->f = NULL;
    p->closef = NULL;
    luaL_setmetatable(L, LUA_FILEHANDLE);
    int fd = zl_io_open_output(path, mode[0]);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushstring(L, zl_error_get());
        return 2;
    }
    if (!(p->f = fdopen(fd, mode[0] == 'a' ? "a" : "w"))) {
        close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "%s: cannot open for writing", path);
        return 2;
    }
    p->closef = io_fclose;
    return 1;
}

/* ---- the run folder lock: a userdata owning the flock's descriptor ---- */
#define LOCK_MT "zonelab.io.lock"

typedef struct {
    int fd; /* -1 once released */
    char dir[];
} zl_dir_lock;

static int lock_release(lua_State *L)
{
    zl_dir_lock *k = (zl_dir_lock *)luaL_checkudata(L, 1, LOCK_MT);
    if (k->fd >= 0) close(k->fd);
    k->fd = -1;
    return 0;
}

static int lock_tostring(lua_State *L)
{
    zl_dir_lock *k = (zl_dir_lock *)luaL_checkudata(L, 1, LOCK_MT);
    lua_pushfstring(L, "run folder lock: %s (%s)", k->dir, k->fd >= 0 ? "held" : "released");
    return 1;
}

/* zonelab.io.lock(dir [, {name =, shared =}]) -> lock: holds dir/.lock (or dir/name;
 * shared: a shared lock) until lock:close() or the process ends; raises "DIR is in use
 * by process PID" when another process holds it. */
static int io_lock(lua_State *L)
{
    static const char *const known[] = {"name", "shared", NULL};
    size_t n;
    const char *dir = luaL_checklstring(L, 1, &n);
    if (!lua_isnoneornil(L, 2)) zl_lua_snapshot(L, 2, known); /* the copy holds the name */
    zl_lua_opts_check(L, 2, "io.lock", known);
    const char *name = zl_lua_opt_string(L, 2, "io.lock", "name", NULL);
    int shared = zl_lua_opt_bool(L, 2, "io.lock", "shared", 0);
    zl_dir_lock *k = (zl_dir_lock *)lua_newuserdatauv(L, sizeof *k + n + 1, 0);
    k->fd = -1;
    memcpy(k->dir, dir, n + 1);
    luaL_setmetatable(L, LOCK_MT);
    if ((k->fd = zl_io_lock_dir(dir, name, shared)) < 0) return zl_lua_fail(L);
    return 1;
}

int zl_lua_open_io(lua_State *L)
{
    static const luaL_Reg lock_methods[] = {{"close", lock_release}, {NULL, NULL}};
    static const luaL_Reg lock_meta[] = {{"__gc", lock_release}, {"__close", lock_release},
                                         {"__tostring", lock_tostring}, {NULL, NULL}};
    if (luaL_newmetatable(L, LOCK_MT)) {
        luaL_setfuncs(L, lock_meta, 0);
        luaL_newlib(L, lock_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"read", io_read}, {"write_atomic", io_write_atomic},
                                   {"open", io_open}, {"lock", io_lock}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
