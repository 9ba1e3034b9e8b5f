-- zonelab.progress: sparse plain lines when not a terminal, one line per step at most,
-- the final line once; rate and ETA on every line.
local progress = require "zonelab.progress"

local function sink()
  local s = { lines = {} }
  function s:write(...) for _, x in ipairs({ ... }) do self.lines[#self.lines + 1] = x end end
  function s:flush() end
  function s:text() return table.concat(self.lines) end
  return s
end

describe("zonelab.progress", function()
  it("prints a plain line at each quarter and one final line", function()
    local out = sink()
    local bar = progress.new { total = 8, label = "decode", unit = "features", stream = out, tty = false }
    for _ = 1, 8 do bar:step(1) end
    bar:done()
    local text = out:text()
    local n = select(2, text:gsub("\n", "\n"))
    assert.are.equal(4, n) -- 25%, 50%, 75%, and the final 100%
    assert.matches("decode  25%% 2/8", text)
    assert.matches("features/s ETA", text)
    assert.are.equal(1, select(2, text:gsub("100%%", "")))
  end)

  it("prints plain lines every `every` percent (ZONELAB_PROGRESS_EVERY's option)", function()
    local out = sink()
    local bar = progress.new { total = 10, label = "train", stream = out, tty = false, every = 10 }
    for _ = 1, 10 do bar:step(1) end
    bar:done()
    local text = out:text()
    assert.are.equal(10, select(2, text:gsub("\n", "\n"))) -- 10%, ..., 90%, and the final 100%
    assert.matches("train  30%% 3/10", text)
    out = sink()
    bar = progress.new { total = 10, label = "train", stream = out, tty = false, every = 0 } -- invalid: 25
    for _ = 1, 10 do bar:step(1) end
    bar:done()
    assert.are.equal(4, select(2, out:text():gsub("\n", "\n")))
  end)

  it("prints one line for a step that crosses several quarters", function()
    local out = sink()
    local bar = progress.new { total = 10, label = "x", stream = out, tty = false }
    bar:step(9)
    bar:done()
    assert.are.equal(2, select(2, out:text():gsub("\n", "\n")))
  end)

  it("prints the last line once when one step finishes the work", function()
    local out = sink()
    local bar = progress.new { total = 4, label = "decode", stream = out, tty = false }
    bar:step(4)
    bar:done()
    assert.are.equal(1, select(2, out:text():gsub("\n", "\n")))
  end)

  it("redraws in place on a terminal", function()
    local out = sink()
    local bar = progress.new { total = 2, label = "t", stream = out, tty = true }
    bar:step(1)
    bar:done("loss 1.5")
    assert.matches("^\r", out:text())
    assert.matches("loss 1.5", out:text())
  end)

  it("formats durations", function()
    assert.are.equal("59s", progress.format_time(59))
    assert.are.equal("2m05s", progress.format_time(125))
    assert.are.equal("1h01m", progress.format_time(3660))
    assert.are.equal("?", progress.format_time(math.huge))
  end)
end)
