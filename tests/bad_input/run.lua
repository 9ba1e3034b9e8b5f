-- tests/bad_input/run.lua — the bad-input catalogue runner (issue 8).
--
--   zonelab tests/bad_input/run.lua build/zonelab [NAME-PATTERN]
--
-- Every tests/bad_input/cases/*.lua returns a list of cases; each case runs the recipe a
-- user would use on a malformed input, in a fresh temporary folder, and must end with:
--   * exit status 1 (a signal, i.e. a crash or an abort, is a failure),
--   * exactly one line on stderr, starting "zonelab: error: ", naming the file (or the
--     option) and matching what is wrong, with no Lua position ("x.lua:12:") in it,
--   * nothing on stderr beyond that line (so no traceback, no sanitizer report),
--   * no new file anywhere in the folder (no partial output, no leftover temporary;
--     a new empty output folder is allowed).
-- A case with `status = 0` is an input that must be ACCEPTED (CRLF vocabularies, CMRC's
-- answer_start -1): exit 0, no "error" on stderr, stdout matching `stdout_match` and
-- stderr matching `stderr_match` (Lua patterns) when given.
--
-- Case fields:
--   name      unique, "<group>: <what>"
--   recipe    "evaluate" -> <source>/recipes/evaluate.lua; or code = "lua" for `zonelab -e`
--   args      list of arguments (file names are relative: the case runs in its folder)
--   files     {name = content}, or a function returning that table; content a string, or
--             a function returning one (generated at run time: large inputs are never
--             committed), or false (left out); a name ending in "/" is a folder
--   stdin     text fed to stdin (default: empty)
--   names     text the message must contain (the file or option it is about)
--   expect    Lua pattern the message must also match (what is wrong); case-insensitive
--   setup     function(dir) run after the files are written (chmod and such)
--   file_limit_kb  run under `ulimit -f` (SIGXFSZ ignored): writes fail as on a full disk
--   known_bug "why": reported as FAILED-EXPECTED instead of failing the run, unless
--             ZONELAB_STRICT_BAD_INPUT=1 (the lead unmarks the case once fixed)
-- ZONELAB_BAD_INPUT_VERBOSE=1 prints the stderr of passing cases too (to review messages).
-- Exit status: 1 when a case without known_bug fails (or any with strict), else 0.
local lfs = require "lfs"

local zonelab = arg[1]
local only = arg[2]
if not zonelab then
  io.stderr:write("usage: zonelab tests/bad_input/run.lua path/to/zonelab [name-pattern]\n")
  os.exit(2)
end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return lfs.currentdir() .. "/" .. p
end

local here = abspath(arg[0]):gsub("/[^/]*$", "")        -- .../tests/bad_input
local source = here:gsub("/tests/bad_input$", "")
zonelab = abspath(zonelab)
local strict = os.getenv("ZONELAB_STRICT_BAD_INPUT") == "1"
local verbose = os.getenv("ZONELAB_BAD_INPUT_VERBOSE") == "1" -- print every message

local function readfile(p)
  local f = io.open(p, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

local function writefile(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

-- Every path under dir (files and folders), relative, as a set.
local function snapshot(dir, prefix, acc)
  acc = acc or {}
  prefix = prefix or ""
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then
      local rel = prefix .. name
      acc[rel] = true
      local full = dir .. "/" .. name
      if lfs.symlinkattributes(full, "mode") == "directory" then
        -- an unreadable folder (a case's own setup) is listed but not entered
        local ok = pcall(lfs.dir, full)
        if ok then snapshot(full, rel .. "/", acc) end
      end
    end
  end
  return acc
end

local function mkdtemp()
  local p = io.popen("mktemp -d " .. shq((os.getenv("TMPDIR") or "/tmp") .. "/zl_bad_input.XXXXXX"))
  local d = p:read("l")
  p:close()
  assert(d and d ~= "", "mktemp -d failed")
  return d
end

local function write_files(dir, files)
  if type(files) == "function" then files = files() end
  local names = {}
  for name, content in pairs(files or {}) do
    if content then names[#names + 1] = name end -- false: a file the case leaves out
  end
  table.sort(names) -- folders ("x/") before their files ("x/y")
  for _, name in ipairs(names) do
    local content = files[name]
    if type(content) == "function" then content = content() end
    if name:sub(-1) == "/" then
      assert(lfs.mkdir(dir .. "/" .. name:sub(1, -2)))
    else
      writefile(dir .. "/" .. name, content)
    end
  end
end

-- Runs one case; returns nil (passed) or a reason.
local function run_case(c, root)
  local dir = root .. "/" .. c.id
  assert(lfs.mkdir(dir))
  write_files(dir, c.files)
  if c.setup then c.setup(dir) end
  writefile(root .. "/" .. c.id .. ".stdin", c.stdin or "")
  local before = snapshot(dir)
  local cmd
  if c.code then
    cmd = shq(zonelab) .. " -e " .. shq(c.code)
  else
    local recipe = source .. "/recipes/" .. c.recipe .. ".lua"
    if not lfs.attributes(recipe) then return "recipe " .. recipe .. " does not exist" end
    cmd = shq(zonelab) .. " " .. shq(recipe)
  end
  for _, a in ipairs(c.args or {}) do cmd = cmd .. " " .. shq(a) end
  local out, err = root .. "/" .. c.id .. ".out", root .. "/" .. c.id .. ".err"
  -- a file size limit stands in for a full disk: writes beyond it fail with EFBIG
  local limit = c.file_limit_kb and string.format("trap '' XFSZ && ulimit -f %d && ", c.file_limit_kb) or ""
  local full = string.format("cd %s && ulimit -c 0 && %sexec %s < %s > %s 2> %s", shq(dir), limit, cmd,
    shq(root .. "/" .. c.id .. ".stdin"), shq(out), shq(err))
  local _, how, code = os.execute(full)
  local stdout, stderr = readfile(out), readfile(err)
  c.stdout, c.stderr = stdout, stderr
  if how == "signal" or (how == "exit" and code > 128) then
    return string.format("killed by signal %d (a crash)", how == "signal" and code or code - 128)
  end
  local want = c.status or 1
  if code ~= want then
    return string.format("exit status %d, expected %d", code, want)
  end
  -- leftovers: anything new in the case folder is a partial output or a temporary file
  local new = {}
  for p in pairs(snapshot(dir)) do
    -- an output folder the recipe created is fine; any new file in it is not
    if not before[p] and not (c.outputs and c.outputs[p])
      and lfs.symlinkattributes(dir .. "/" .. p, "mode") ~= "directory" then
      new[#new + 1] = p
    end
  end
  table.sort(new)
  if want ~= 0 and #new > 0 then return "left files behind: " .. table.concat(new, ", ") end
  if want == 0 then
    if stderr:lower():find("error", 1, true) then return "accepted, but stderr says error" end
    if c.stdout_match and not stdout:find(c.stdout_match) then
      return "stdout does not match '" .. c.stdout_match .. "'"
    end
    if c.stderr_match and not stderr:find(c.stderr_match) then
      return "stderr does not match '" .. c.stderr_match .. "'"
    end
    return nil
  end
  local lines = {}
  for l in stderr:gmatch("([^\n]*)\n?") do if l ~= "" then lines[#lines + 1] = l end end
  if #lines == 0 then return "nothing on stderr" end
  if #lines > 1 then return string.format("%d lines on stderr, expected 1", #lines) end
  local msg = lines[1]:match("^zonelab: error: (.*)$")
  if not msg then return "stderr line does not start with 'zonelab: error: '" end
  if msg:find("%.lua:%d+:") or msg:find("%(command line%):%d+:") or msg:find("^%[string ") then
    return "the message carries a Lua source position"
  end
  if c.names and not msg:find(c.names, 1, true) then
    return "the message does not name '" .. c.names .. "'"
  end
  if c.expect and not msg:lower():find(c.expect:lower()) then
    return "the message does not say what is wrong (pattern '" .. c.expect .. "')"
  end
  return nil
end

-- ---- collect the cases (each file gets the input builders of inputs.lua) ----
local H = dofile(here .. "/inputs.lua")
local files = {}
for name in lfs.dir(here .. "/cases") do
  if name:match("%.lua$") then files[#files + 1] = name end
end
table.sort(files)
local cases, seen = {}, {}
for _, f in ipairs(files) do
  local list = assert(loadfile(here .. "/cases/" .. f))(H)
  for _, c in ipairs(list) do
    assert(c.name and not seen[c.name], "case name missing or repeated: " .. tostring(c.name))
    assert(c.recipe or c.code, c.name .. ": needs recipe or code")
    seen[c.name] = true
    if not only or c.name:find(only, 1, true) then
      c.id = string.format("%03d", #cases + 1)
      cases[#cases + 1] = c
    end
  end
end

local root = mkdtemp()
local passed, failed, expected_fail, fixed = 0, {}, {}, {}
for _, c in ipairs(cases) do
  local ok, reason = pcall(run_case, c, root)
  if not ok then reason = "runner error: " .. tostring(reason) end
  if reason == nil then
    if c.known_bug then
      fixed[#fixed + 1] = c
      print(string.format("FIXED? - %s: passes now; remove its known_bug", c.name))
    else
      print("ok - " .. c.name)
      if verbose then print("    " .. ((c.stderr or ""):gsub("\n$", ""):gsub("\n", "\n    "))) end
    end
    passed = passed + 1
  else
    local detail = reason
    if c.stderr and c.stderr ~= "" then
      detail = detail .. "\n    stderr: " .. c.stderr:sub(1, 600):gsub("\n(.)", "\n    stderr: %1")
    end
    if c.known_bug then
      expected_fail[#expected_fail + 1] = c
      print(string.format("FAILED-EXPECTED - %s (known bug: %s): %s", c.name, c.known_bug, detail))
    else
      failed[#failed + 1] = c
      print(string.format("FAILED - %s: %s", c.name, detail))
    end
  end
end
os.execute("chmod -R u+rwx " .. shq(root) .. " 2>/dev/null; rm -rf " .. shq(root))

print(string.format("bad_input: %d cases, %d passed, %d failed, %d known bugs%s", #cases, passed,
  #failed, #expected_fail, strict and " (strict)" or ""))
if #failed > 0 or (strict and #expected_fail > 0) then os.exit(1) end
os.exit(0)
