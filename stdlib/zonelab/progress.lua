-- zonelab.progress — progress for long work on stderr: a redrawn bar with rate and ETA
-- on a terminal; sparse plain lines (every 25%, or every ZONELAB_PROGRESS_EVERY percent)
-- when stderr is not a terminal; nothing at all with ZONELAB_PROGRESS=0.
local zl = require "zonelab"

local M = {}
local Bar = {}
Bar.__index = Bar

local function fmt_time(s)
  if s ~= s or s == math.huge or s < 0 then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%dh%02dm", s // 3600, (s % 3600) // 60) end
  if s >= 60 then return string.format("%dm%02ds", s // 60, s % 60) end
  return string.format("%ds", s)
end
M.format_time = fmt_time

--- progress.new{total = N, label = "decode", unit = "features", stream = io.stderr,
---   every = 25 (percent between plain lines; default ZONELAB_PROGRESS_EVERY, else 25)}
function M.new(opts)
  zl.check_options(opts, { "total", "label", "unit", "stream", "every", "tty" }, "progress.new")
  opts = opts or {}
  local self = setmetatable({}, Bar)
  self.total = opts.total or 0
  self.label = opts.label or "working"
  self.unit = opts.unit or "it"
  self.stream = opts.stream or io.stderr
  self.done_count = 0
  self.start = zl.clock()
  self.last_draw = -1
  -- plain lines every `every` percent (whole percents compared exactly: done * 100 >= mark * total)
  local every = opts.every or tonumber(os.getenv("ZONELAB_PROGRESS_EVERY") or "")
  self.mark_step = (every and every >= 1 and every <= 100) and math.floor(every) or 25
  self.next_mark = self.mark_step
  local env = os.getenv("ZONELAB_PROGRESS")
  if env == "0" then self.mode = "quiet"
  elseif opts.tty ~= nil then self.mode = opts.tty and "tty" or "plain"
  else self.mode = zl.isatty(2) and "tty" or "plain" end
  return self
end

function Bar:line(suffix)
  local elapsed = zl.clock() - self.start
  local rate = elapsed > 0 and self.done_count / elapsed or 0
  local parts = { self.label }
  if self.total > 0 then
    local frac = math.min(1, self.done_count / self.total)
    if self.mode == "tty" then
      local w = 24
      local n = math.floor(frac * w + 0.5)
      parts[#parts + 1] = "[" .. string.rep("#", n) .. string.rep(".", w - n) .. "]"
    end
    parts[#parts + 1] = string.format("%3d%% %d/%d", math.floor(frac * 100), self.done_count, self.total)
    local eta = rate > 0 and (self.total - self.done_count) / rate or math.huge
    parts[#parts + 1] = string.format("%.1f %s/s ETA %s", rate, self.unit, fmt_time(eta))
  else
    parts[#parts + 1] = string.format("%d %s, %.1f %s/s", self.done_count, self.unit, rate, self.unit)
  end
  parts[#parts + 1] = "elapsed " .. fmt_time(elapsed)
  if suffix and suffix ~= "" then parts[#parts + 1] = suffix end
  return table.concat(parts, " ")
end

--- Records k more items done (default 1), with optional text (e.g. "loss 1.23").
function Bar:step(k, suffix)
  self.done_count = self.done_count + (k or 1)
  self.suffix = suffix
  if self.mode == "quiet" then return end
  local now = zl.clock()
  if self.mode == "tty" then
    if now - self.last_draw >= 0.1 or self.done_count >= self.total then
      self.last_draw = now
      self.stream:write("\r", self:line(suffix), "\27[K")
      self.stream:flush()
    end
  elseif self.total > 0 and self.done_count < self.total -- done() prints the last line
      and self.done_count * 100 >= self.next_mark * self.total and self.next_mark < 100 then
    -- one line per step however many marks it crossed
    self.stream:write(self:line(suffix), "\n")
    while self.done_count * 100 >= self.next_mark * self.total do self.next_mark = self.next_mark + self.mark_step end
  end
end

--- Ends the bar with a final line.
function Bar:done(suffix)
  if self.mode == "quiet" then return end
  local text = self:line(suffix or self.suffix)
  if self.mode == "tty" then self.stream:write("\r", text, "\27[K\n")
  else self.stream:write(text, "\n") end
  self.stream:flush()
end

return M
