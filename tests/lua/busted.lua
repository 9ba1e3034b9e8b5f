-- Runs busted specs inside the zonelab host, so `require "zonelab"` is the module under test.
require("busted.runner")({ standalone = false })
