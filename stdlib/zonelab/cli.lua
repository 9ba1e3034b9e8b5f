-- zonelab.cli — what every recipe shares: an argparse parser whose errors become
-- one `zonelab: error: ...` line (exit 1, printed by the host), --threads, output folders.
local argparse = require "argparse"
local lfs = require "lfs"
local zl = require "zonelab"

local M = {}

--- A lua-argparse parser named after the recipe ("recipes/decode.lua").
function M.parser(name, description, epilog)
  local p = argparse("zonelab " .. name, description, epilog)
  return p
end

--- Raises an error without position information: the host prints
--- `zonelab: error: <message>` and exits 1.
function M.fail(fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)
  error(msg, 0)
end

--- Parses argv (default: the global `arg`). Bad options raise a one-line error.
function M.parse(p, argv)
  local ok, res = p:pparse(argv or arg)
  -- argparse may add "Did you mean ...?" on a second line: keep the error one line.
  if not ok then M.fail("%s (see --help)", (tostring(res):gsub("%s*\n%s*", "; "))) end
  return res
end

--- Adds the standard --threads option.
function M.add_threads(p)
  p:option("--threads", "Threads for OpenBLAS and the core's own loops (default: all cores).")
end

--- Applies --threads if given; rejects anything but a whole number >= 1.
function M.apply_threads(args)
  if args.threads == nil then return end
  local n = tonumber(args.threads)
  if not n or n ~= math.floor(n) or n < 1 then
    M.fail("--threads must be a whole number of at least 1, got '%s'", tostring(args.threads))
  end
  -- zl.set_threads' own range, checked here so that the message names the option
  if n > 1024 then M.fail("--threads must be at most 1024, got '%s'", tostring(args.threads)) end
  zl.set_threads(math.floor(n))
end

--- Parses a whole number option (with a name for the message) within [lo, hi].
function M.integer(value, name, lo, hi)
  local n = tonumber(value)
  if not n or n ~= math.floor(n) or (lo and n < lo) or (hi and n > hi) then
    local range = (lo and hi) and string.format(" between %d and %d", lo, hi)
      or lo and string.format(" of at least %d", lo) or ""
    M.fail("%s must be a whole number%s, got '%s'", name, range, tostring(value))
  end
  return math.floor(n)
end

--- Creates a folder and its parents; fails clearly when a file is in the way
--- or the folder cannot be written.
function M.ensure_dir(path)
  local acc = path:sub(1, 1) == "/" and "/" or ""
  for part in path:gmatch("[^/]+") do
    acc = acc .. part
    local mode = lfs.attributes(acc, "mode")
    if mode == nil then
      local ok, err = lfs.mkdir(acc)
      if not ok and lfs.attributes(acc, "mode") ~= "directory" then
        M.fail("%s: cannot create folder (%s)", acc, tostring(err))
      end
    elseif mode ~= "directory" then
      M.fail("%s: exists and is not a folder", acc)
    end
    acc = acc .. "/"
  end
  -- Probe writability now rather than after hours of work.
  local probe = path .. "/.zonelab_write_test"
  local f = io.open(probe, "w")
  if not f then M.fail("%s: folder is not writable", path) end
  f:close()
  os.remove(probe)
  return path
end

--- True when a file (or folder) exists.
function M.exists(path)
  return lfs.attributes(path, "mode") ~= nil
end

--- Prints where an output went (stdout, one line).
function M.wrote(path, what)
  io.stdout:write(string.format("wrote %s%s\n", path, what and (" (" .. what .. ")") or ""))
end

return M
