-- tests/bench/tensor.lua — analysis kernels against memcpy on a [12, 12, 384, 384] f32
-- tensor (the attention of one BERT-base batch row: 85 MB).
--
--   zonelab tests/bench/tensor.lua [--quick] [--threads N]
--
-- Prints one JSON line: GB/s of t:sum(4) (sum along the last dimension), t:add(u) (same
-- shape) and dst:copy(src) (a memcpy of the same bytes), each counting the bytes it reads
-- and writes, best of N runs interleaved (the machine is shared); ratio_* = op / memcpy.
local zl = require "zonelab"

local cli = require "zonelab.cli"

local p = cli.parser("tests/bench/tensor.lua", "Analysis kernels against memcpy.")
p:flag("--quick", "Fewer runs.")
cli.add_threads(p)
local args = cli.parse(p)
cli.apply_threads(args)
local quick = args.quick

local shape = { 12, 12, 384, 384 }
local t = zl.tensor.randn(shape, 1)
local u = zl.tensor.randn(shape, 2)
local dst = zl.tensor.new(shape)
local bytes = t:numel() * 4

local function best(fn, reps)
  local b = math.huge
  for _ = 1, reps do
    local t0 = zl.clock()
    local r = fn()
    b = math.min(b, zl.clock() - t0)
    if type(r) == "userdata" then r:close() end
  end
  return b
end

local reps = quick and 2 or 5
local tc, ts, ta = math.huge, math.huge, math.huge
for _ = 1, reps do -- interleaved: each keeps its best time
  tc = math.min(tc, best(function() return dst:copy(t) and nil end, 1))
  ts = math.min(ts, best(function() return t:sum(4) end, 1))
  ta = math.min(ta, best(function() return t:add(u) end, 1))
end
-- the sum's result is checked against a slower path, so a fast wrong kernel cannot pass
local row = t[12][12][384]
local s = 0
for _, v in ipairs(row:totable()) do s = s + v end
assert(math.abs(t:sum(4)[12][12][384][1] - s) < 1e-3, "sum along the last dimension is wrong")

local gb = 1e9
local memcpy = 2 * bytes / tc / gb          -- read + write
local sum = (bytes + bytes / 384) / ts / gb -- read + the small result
local add = 3 * bytes / ta / gb             -- two reads + write
print(zl.json.encode({
  shape = shape, threads = zl.get_threads(), bytes = bytes,
  memcpy_gbs = memcpy, sum_last_gbs = sum, add_gbs = add,
  ratio_sum = sum / memcpy, ratio_add = add / memcpy,
}))
