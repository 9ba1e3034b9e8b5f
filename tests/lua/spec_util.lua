-- spec_util — what the specs that run commands and write files share.
--
--   local u = require "spec_util"
--   local dir = u.tmpdir()              -- removed by u.cleanup() (call it in a teardown)
--   local out, code = u.sh("pdffonts " .. u.q(path))   -- stdout+stderr, exit code
local M = {}

local made = {}

--- A new temporary folder, removed by M.cleanup().
function M.tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("l")
  p:close()
  made[#made + 1] = d
  return d
end

--- Single-quotes s for the shell.
function M.q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

--- Runs a command line; returns its stdout and stderr together, and its exit code.
function M.sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

function M.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function M.size(path)
  local f = assert(io.open(path, "rb"))
  local n = f:seek("end")
  f:close()
  return n
end

--- Removes every folder M.tmpdir made.
function M.cleanup()
  for _, d in ipairs(made) do os.execute("rm -rf " .. M.q(d)) end
  made = {}
end

return M
