#!/usr/bin/env bash
# Every public Lua function is listed in docs/lua-api.md, compared against what the build
# actually exports:
#   - each field of require "zonelab" and of its submodule tables must appear as `zl.NAME` /
#     `zl.MOD.NAME` somewhere in the file;
#   - each method of a userdata metatable "zonelab.MOD[.sub]" (its __index table) must appear
#     as `x:NAME` in a "## zonelab.MOD..." section;
#   - each field of a stdlib module stdlib/zonelab/NAME.lua must appear as a word in a table
#     row starting "| `zonelab.NAME` |".
# Prints what is missing, `docs_lua_api.sh: N passed, M failed`, exits 1 on failure.
#   bash tests/cli/docs_lua_api.sh build/zonelab [LUA-API.md]    (default docs/lua-api.md)
source "$(dirname "$0")/lib.sh" "$@"
DOCS="${2:-docs/lua-api.md}"

if [ ! -f "$DOCS" ]; then
  echo "docs_lua_api.sh: $DOCS: no such file"; echo "docs_lua_api.sh: 0 passed, 1 failed"; exit 1
fi

cat > "$tmp/check.lua" <<'EOF'
local zl = require "zonelab"
local docs_path = arg[1]
local f = assert(io.open(docs_path, "r"))
local text = f:read("a")
f:close()

local pass, fail = 0, 0
local function check(ok, what)
  if ok then pass = pass + 1 else fail = fail + 1; print("FAIL " .. what) end
end
local function sorted_keys(t)
  local k = {}
  for name in pairs(t) do
    if type(name) == "string" and name:sub(1, 1) ~= "_" then k[#k + 1] = name end
  end
  table.sort(k)
  return k
end
local function esc(s) return (s:gsub("%p", "%%%0")) end
-- `needle` in `hay`, not followed by a name character (so `zl.io.read` does not count
-- for `zl.io.re`, nor `:count` for `:count_x`)
local function has(hay, needle)
  return hay:find(esc(needle) .. "%f[^%w_]") ~= nil
end

-- sections "## zonelab.MOD ..." -> their text; stdlib rows "| `zonelab.NAME` | ..."
local sections, rows = {}, {}
local current
for line in (text .. "\n"):gmatch("(.-)\n") do
  local head = line:match("^##%s+(.*)$")
  if head then
    current = head:match("^(zonelab%.[%w_]+)")
    if current then sections[current] = (sections[current] or "") end
  elseif current then
    sections[current] = sections[current] .. line .. "\n"
  end
  local mod = line:match("^|%s*`(zonelab%.[%w_]+)`%s*|")
  if mod then rows[mod] = (rows[mod] or "") .. line .. "\n" end
end

-- 1. module functions and fields
local n_fields = 0
for _, k in ipairs(sorted_keys(zl)) do
  local v = zl[k]
  if type(v) == "table" then
    for _, f in ipairs(sorted_keys(v)) do
      n_fields = n_fields + 1
      check(has(text, "zl." .. k .. "." .. f), "zl." .. k .. "." .. f .. " is not in " .. docs_path)
    end
  else
    n_fields = n_fields + 1
    check(has(text, "zl." .. k), "zl." .. k .. " is not in " .. docs_path)
  end
end
check(n_fields >= 50, "only " .. n_fields .. " exported fields found in require 'zonelab'")

-- 2. userdata methods (loading the modules above registered every metatable)
local n_methods = 0
for _, name in ipairs(sorted_keys(debug.getregistry())) do
  local mt = debug.getregistry()[name]
  local mod = name:match("^(zonelab%.[%w_]+)")
  -- (an __index function, as tensors' for t[i], publishes its methods as __methods)
  local methods = type(mt) == "table" and rawget(mt, "__index")
  if type(methods) ~= "table" and type(mt) == "table" then methods = rawget(mt, "__methods") end
  if mod and type(methods) == "table" then
    local sec = sections[mod]
    for _, m in ipairs(sorted_keys(methods)) do
      n_methods = n_methods + 1
      check(sec ~= nil and sec:find("[%w_%)]:" .. esc(m) .. "%f[^%w_]") ~= nil,
        string.format("%s: method :%s is not in section '## %s' of %s", name, m, mod, docs_path))
    end
  end
end
check(n_methods >= 50, "only " .. n_methods .. " userdata methods found")

-- 3. stdlib modules
local n_mods = 0
for _, file in ipairs(arg[2] and { table.unpack(arg, 2) } or {}) do
  local name = file:match("([%w_]+)%.lua$")
  local mod = "zonelab." .. name
  local ok, M = pcall(require, mod)
  check(ok and type(M) == "table", mod .. ": require failed or returned no table: " .. tostring(M))
  if ok and type(M) == "table" then
    n_mods = n_mods + 1
    local row = rows[mod]
    check(row ~= nil, string.format("%s: no table row '| `%s` | ...' in %s", mod, mod, docs_path))
    if row then
      for _, k in ipairs(sorted_keys(M)) do
        check(row:find("%f[%w_]" .. esc(k) .. "%f[^%w_]") ~= nil,
          string.format("%s.%s is not in its row of %s", mod, k, docs_path))
      end
    end
  end
end
check(n_mods >= 5, "only " .. n_mods .. " stdlib modules found (run from the source root)")
print(string.format("docs_lua_api.sh: %d passed, %d failed", pass, fail))
os.exit(fail == 0 and 0 or 1)
EOF

"$ZL" "$tmp/check.lua" "$DOCS" stdlib/zonelab/*.lua
