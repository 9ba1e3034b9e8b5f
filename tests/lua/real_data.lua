-- real_data — the public data under $ZONELAB_SHARED/data/real, for the specs that use it.
--
--   local real = require "real_data"
--   local dev = real.find("squad_v1.1/dev-v1.1.json")   -- the path, or nil after "SKIP ..."
--   if not dev then return end
--
-- A spec that skipped a part makes the run exit 77 (tests/lua/busted.lua), which ctest
-- reports as skipped (SKIP_RETURN_CODE) unless a test failed.
local M = { skipped = {} }

M.dir = (os.getenv("ZONELAB_SHARED") or "../shared") .. "/data/real"

--- Records and prints a part that could not run.
function M.skip(what)
  print("SKIP " .. what)
  M.skipped[#M.skipped + 1] = what
end

--- The paths of the given files under data/real, or nil (and a skip) when one is absent.
function M.find(...)
  local paths = {}
  for i, rel in ipairs { ... } do
    local p = M.dir .. "/" .. rel
    local f = io.open(p, "rb")
    if not f then
      M.skip(p .. " absent")
      return nil
    end
    f:close()
    paths[i] = p
  end
  return table.unpack(paths)
end

return M
