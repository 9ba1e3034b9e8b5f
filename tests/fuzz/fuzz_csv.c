/* fuzz_csv.c — libFuzzer target: any bytes through the results-CSV reader of
 * stdlib/zonelab/csv.lua (csv.read and csv.read_results), run in an embedded Lua 5.4
 * loaded from the source tree. The module's `zonelab` dependency is a stub whose
 * io.read returns the fuzz input. Oracle: the reader returns, or raises a message
 * naming the file (as every user-facing error must); anything else (a Lua runtime
 * error such as "attempt to index a nil value", a non-string error) aborts.
 * liblua is not instrumented, so a line hook feeds libFuzzer's extra counters with
 * the (previous line, line) pairs the Lua code runs: coverage guidance for Lua. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef ZL_SOURCE_DIR
#error "ZL_SOURCE_DIR must name the source tree (set by CMakeLists.txt)"
#endif

/* libFuzzer reads these as extra coverage counters (Linux, section-based). */
#define NCOUNTERS 4096
__attribute__((section("__libfuzzer_extra_counters"))) static uint8_t lua_counters[NCOUNTERS];
static int prev_line;

static void line_hook(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar) || ar->source[0] != '@') return; /* module files only */
    unsigned h = (unsigned)prev_line * 31u + (unsigned)ar->currentline;
    h ^= (unsigned)strlen(ar->source) * 2654435761u; /* tell files apart cheaply */
    prev_line = ar->currentline;
    uint8_t *c = &lua_counters[h % NCOUNTERS];
    if (*c < 255) (*c)++;
}

static const char *chunk =
    "local data = ...\n"
    "package.path = '" ZL_SOURCE_DIR "/stdlib/?.lua'\n"
    "package.preload['zonelab'] = function()\n"
    "  return { io = { read = function(path) return data end,\n"
    "                  write_atomic = function() error('fuzz: no writes', 0) end } }\n"
    "end\n"
    "local csv = require 'zonelab.csv'\n"
    "local function check(ok, err)\n"
    "  if not ok and (type(err) ~= 'string' or err:sub(1, 8) ~= 'fuzz.csv') then\n"
    "    return 'bad error: ' .. tostring(err)\n"
    "  end\n"
    "end\n"
    "local bad = check(pcall(csv.read, 'fuzz.csv'))\n"
    "if bad then return bad end\n"
    "local ok, t = pcall(csv.read_results, 'fuzz.csv')\n"
    "bad = check(ok, t)\n"
    "if bad then return bad end\n"
    "if ok then\n" /* an accepted table: layers 1..n, finite numbers or nil */
    "  for i, r in ipairs(t.rows) do\n"
    "    if r.layer ~= i then return 'layer ' .. tostring(r.layer) .. ' at row ' .. i end\n"
    "    for _, z in ipairs(t.zones) do\n"
    "      local v = r[z]\n"
    "      if v ~= nil and (type(v) ~= 'number' or v ~= v or v == math.huge or v == -math.huge) then\n"
    "        return 'non-finite cell ' .. tostring(v)\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return nil\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lua_State *L = luaL_newstate();
    if (!L) return 0;
    luaL_openlibs(L);
    if (luaL_loadbuffer(L, chunk, strlen(chunk), "=fuzz_csv") != LUA_OK) {
        fprintf(stderr, "fuzz_csv: %s\n", lua_tostring(L, -1));
        abort();
    }
    prev_line = 0;
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    lua_pushlstring(L, (const char *)data, size);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { /* module missing or an error outside pcall */
        fprintf(stderr, "fuzz_csv: %s\n", lua_tostring(L, -1));
        abort();
    }
    if (!lua_isnil(L, -1)) {
        fprintf(stderr, "fuzz_csv: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_close(L);
    return 0;
}
