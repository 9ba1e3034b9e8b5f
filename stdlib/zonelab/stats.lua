-- zonelab.stats — the statistics of the protocol's QUANTIFICATION section: mean, sample
-- standard deviation (n - 1, as Table 2's last row), and a seeded paired bootstrap over
-- questions for per-cell confidence intervals.
--
--   local stats = require "zonelab.stats"
--   stats.mean({1, 2, 3}), stats.std({1, 2, 3})          --> 2, 1
--   local ci = stats.paired_bootstrap(masked, baseline, {resamples = 1000, seed = 1})
--   -- ci.diff (mean of masked - baseline), ci.lo, ci.hi (95%), ci.significant
--
-- The bootstrap draws from its own xorshift64* generator (seeded through splitmix64),
-- written in Lua so a seed gives the same intervals on every platform and build; the
-- core's zl_rng produces normal tensors, not the integer draws a bootstrap needs.
local M = {}

function M.mean(xs)
  local n = #xs
  if n == 0 then return nil end
  local s = 0
  for i = 1, n do s = s + xs[i] end
  return s / n
end

--- Sample standard deviation (divides by n - 1); nil when there are fewer than 2 values.
function M.std(xs)
  local n = #xs
  if n < 2 then return nil end
  local m = M.mean(xs)
  local s = 0
  for i = 1, n do
    local d = xs[i] - m
    s = s + d * d
  end
  return math.sqrt(s / (n - 1))
end

--- Linear-interpolated quantile of a sorted list (numpy's default "linear" method).
function M.quantile(sorted, q)
  local n = #sorted
  if n == 0 then return nil end
  local h = (n - 1) * q + 1
  local lo = math.floor(h)
  if lo >= n then return sorted[n] end
  return sorted[lo] + (h - lo) * (sorted[lo + 1] - sorted[lo])
end

-- ---- a small deterministic generator: xorshift64* seeded by splitmix64 ----
local Rng = {}
Rng.__index = Rng

local function splitmix64(x)
  x = x + 0x9E3779B97F4A7C15
  local z = x
  z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
  z = (z ~ (z >> 27)) * 0x94D049BB133111EB
  return x, z ~ (z >> 31)
end

--- A generator for a whole-number seed; the same seed gives the same sequence.
function M.rng(seed)
  seed = math.tointeger(seed)
  if not seed then error("stats.rng: the seed must be a whole number", 2) end
  local _, s = splitmix64(seed)
  if s == 0 then s = 0x2545F4914F6CDD1D end
  return setmetatable({ s = s }, Rng)
end

--- Next 64-bit value (as a Lua integer, wrapping).
function Rng:next()
  local x = self.s
  x = x ~ (x >> 12)
  x = x ~ (x << 25)
  x = x ~ (x >> 27)
  self.s = x
  return x * 0x2545F4914F6CDD1D
end

--- Uniform float in [0, 1) from the top 53 bits.
function Rng:float()
  return (self:next() >> 11) * (1.0 / 9007199254740992.0)
end

--- Uniform whole number in [1, n].
function Rng:index(n)
  return math.floor(self:float() * n) + 1
end

--- Binomial(N, p) by inversion (fast when N * p is small, as in the bootstrap below).
function Rng:binomial(N, p)
  if N <= 0 then return 0 end
  if p >= 1 then return N end
  local q = 1 - p
  local pk = math.exp(N * math.log(q))
  local cdf, u, k, r = pk, self:float(), 0, p / q
  while u > cdf and k < N do
    pk = pk * (N - k) / (k + 1) * r
    k = k + 1
    cdf = cdf + pk
  end
  return k
end

--- Paired bootstrap of mean(a[i] - b[i]) over i (a and b aligned lists, e.g. per-question
--- scores of a masked decode and of the baseline). opts: resamples (1000), seed (1),
--- level (0.95). Returns {diff, lo, hi, significant (interval excludes 0), resamples, n}.
--- Percentile interval, numpy's linear quantiles.
---
--- Each resample is the usual n draws with replacement, but drawn as multinomial counts,
--- one binomial per question whose difference is non-zero (c_j ~ Bin(draws left,
--- 1 / questions left)): questions with equal scores add nothing to the sum, so a
--- resample costs O(changed questions) instead of O(n), with the same distribution.
function M.paired_bootstrap(a, b, opts)
  require("zonelab").check_options(opts, { "resamples", "level", "seed" }, "stats.paired_bootstrap")
  opts = opts or {}
  local n = #a
  if n == 0 or #b ~= n then
    error("stats.paired_bootstrap: needs two non-empty lists of equal length", 2)
  end
  local B = opts.resamples or 1000
  local level = opts.level or 0.95
  local d, total = {}, 0
  for i = 1, n do
    local v = a[i] - b[i]
    total = total + v
    if v ~= 0 then d[#d + 1] = v end
  end
  local k = #d
  local rng = M.rng(opts.seed or 1)
  local means = {}
  for r = 1, B do
    local s, left = 0, n
    for j = 1, k do
      local c = rng:binomial(left, 1 / (n - j + 1))
      if c > 0 then
        s = s + c * d[j]
        left = left - c
      end
    end
    means[r] = s / n
  end
  table.sort(means)
  local alpha = (1 - level) / 2
  local lo, hi = M.quantile(means, alpha), M.quantile(means, 1 - alpha)
  return { diff = total / n, lo = lo, hi = hi, significant = lo > 0 or hi < 0, resamples = B, n = n }
end

return M
