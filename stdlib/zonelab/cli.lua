-- zonelab.cli — what every recipe shares: an argparse parser whose errors become
-- one `zonelab: error: ...` line (exit 1, printed by the host), --threads, output folders.
local argparse = require "argparse"
local lfs = require "lfs"
local zl = require "zonelab"

local M = {}

-- Help prose as written in a long string: trimmed, each line break (with the white space
-- around it) one space.
local function prose(text)
  if type(text) ~= "string" then return text end
  return (text:gsub("^%s+", ""):gsub("%s+$", ""):gsub("%s*\n%s*", " "))
end

--- A lua-argparse parser named after the recipe ("recipes/decode.lua"). Help text (the
--- description, and that of every argument, option and flag) is prose, written as a long
--- string as it reads: its line breaks become single spaces. The epilog (examples) is
--- printed as written.
function M.parser(name, description, epilog)
  local p = argparse("zonelab " .. name, prose(description), epilog)
  for _, kind in ipairs { "argument", "option", "flag" } do
    local declare = p[kind]
    p[kind] = function(self, element, help, ...) return declare(self, element, prose(help), ...) end
  end
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
  p:option("--threads", "Threads of this process's computations (the model's forward and " ..
    "backward passes and the sweep run one team of this many threads, OpenBLAS single-" ..
    "threaded inside it); default: OpenBLAS's default (OPENBLAS_NUM_THREADS when set, else " ..
    "the machine's cores).")
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
  -- Probe writability now rather than after hours of work. Whatever sits at the probe's
  -- name (a leftover, or a symlink planted in a shared folder) is removed, never
  -- followed: the probe is created new (zl.io.open "x": O_EXCL, no symlink).
  local probe = path .. "/.zonelab_write_test"
  os.remove(probe)
  local f, err = zl.io.open(probe, "x")
  if not f then M.fail("%s: folder is not writable (%s)", path, tostring(err)) end
  f:close()
  os.remove(probe)
  return path
end

local held = {} -- the run folder locks of this process, kept until it exits

--- Creates the run folder (ensure_dir) and makes this process its only writer: a
--- flock on PATH/.lock, released by the kernel when the process ends. A second process
--- fails at once with "PATH is in use by process PID". opts (zl.io.lock's): name (another
--- lock file in PATH), shared. Locking what this process already holds is a no-op.
function M.lock(path, opts)
  M.ensure_dir(path)
  local key = path .. "\0" .. (opts and opts.name or ".lock")
  if not held[key] then held[key] = zl.io.lock(path, opts) end
  return path
end

--- Opens an output file for writing (mode "w", "a" or "x") without ever following a
--- symlink (zl.io.open); fails with one line naming the file.
function M.open_output(path, mode)
  local f, err = zl.io.open(path, mode)
  if not f then M.fail("%s", err) end
  return f
end

--- A name from the data (a question id) as it may stand inside a file name: every byte
--- but letters, digits, "-", "_" and "." becomes "_", so it names no folder and no option.
function M.file_part(name)
  return (tostring(name):gsub("[^%w%-_.]", "_"))
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
