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

--- Rasterises page 1 of a PDF with pdftoppm at dpi, beside it: {w, h, px(x, y) -> r, g, b}
--- (a binary PPM), or with gray {w, h, v(x, y) -> 0..255} (a PGM); x, y in pixels from the
--- top left.
function M.raster(pdf, dpi, gray)
  local prefix = pdf:gsub("%.pdf$", "")
  local out, code = M.sh(string.format("pdftoppm%s -r %d -singlefile %s %s", gray and " -gray" or "",
    dpi, M.q(pdf), M.q(prefix)))
  assert(code == 0, "pdftoppm failed: " .. out)
  local f = assert(io.open(prefix .. (gray and ".pgm" or ".ppm"), "rb"))
  local data = f:read("a")
  f:close()
  local w, h, maxv, pos = data:match(gray and "^P5%s+(%d+)%s+(%d+)%s+(%d+)%s()" or "^P6%s+(%d+)%s+(%d+)%s+(%d+)%s()")
  assert(w and tonumber(maxv) == 255, gray and "not a binary PGM" or "not a binary PPM")
  w, h = tonumber(w), tonumber(h)
  if gray then return { w = w, h = h, v = function(x, y) return data:byte(pos + y * w + x) end } end
  return {
    w = w, h = h,
    px = function(x, y)
      local o = pos + (y * w + x) * 3
      return data:byte(o, o + 2)
    end,
  }
end

--- Removes every folder M.tmpdir made.
function M.cleanup()
  for _, d in ipairs(made) do os.execute("rm -rf " .. M.q(d)) end
  made = {}
end

return M
