-- Runs busted specs inside the zonelab host, so `require "zonelab"` is the module under test.
-- The runner exits itself when a test failed; otherwise a spec that skipped a part for
-- absent real data (tests/lua/real_data.lua) makes the run exit 77: ctest's "Skipped".
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = package.path .. ";" .. here .. "/?.lua" -- after busted's own modules
-- loaded before the runner, so busted's per-file insulation keeps this one instance
local real = require "real_data"
require("busted.runner")({ standalone = false })
if #real.skipped > 0 then os.exit(77) end
