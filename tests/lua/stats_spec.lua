-- zonelab.stats: mean / sample std, Table 2's "standard deviation of difference" on the
-- published tables, the seeded generator and the paired bootstrap.
local csv = require "zonelab.csv"
local stats = require "zonelab.stats"

local function round3(x) return math.floor(x * 1000 + 0.5) / 1000 end

describe("zonelab.stats", function()
  it("computes mean and sample standard deviation", function()
    assert.are.equal(2.0, stats.mean { 1, 2, 3 })
    assert.are.equal(1.0, stats.std { 1, 2, 3 })
    assert.is_true(math.abs(stats.std { 2, 4, 4, 4, 5, 5, 7, 9 } - math.sqrt(32 / 7)) < 1e-15)
    assert.is_nil(stats.std { 5 })
    assert.is_nil(stats.mean {})
    assert.are.equal(2.5, stats.quantile({ 1, 2, 3, 4 }, 0.5))
    assert.are.equal(1.075, stats.quantile({ 1, 2, 3, 4 }, 0.025))
  end)

  it("reproduces the last row of the paper's Table 2 from the published tables", function()
    local single = csv.read_results("tests/fixtures/published/single_run.csv")
    local five = csv.read_results("tests/fixtures/published/five_run_mean.csv")
    local want = { all = 0.819, q2 = 0.152, q2p = 0.132, p2q = 1.405, p2 = 0.815 }
    for _, z in ipairs(csv.ZONES) do
      local d = {}
      for l = 1, 12 do d[l] = single.rows[l][z] - five.rows[l][z] end
      assert.are.equal(want[z], round3(stats.std(d)))
    end
  end)

  it("draws the same numbers for the same seed and different ones otherwise", function()
    local a, b, c = stats.rng(42), stats.rng(42), stats.rng(43)
    local sa, sc = {}, {}
    for i = 1, 20 do
      sa[i] = a:index(1000)
      assert.are.equal(sa[i], b:index(1000))
      sc[i] = c:index(1000)
      assert.is_true(sa[i] >= 1 and sa[i] <= 1000)
    end
    assert.are_not.same(sa, sc)
    -- uniform enough: the mean of 10000 floats is near 0.5
    local r, s = stats.rng(1), 0
    for _ = 1, 10000 do s = s + r:float() end
    assert.is_true(math.abs(s / 10000 - 0.5) < 0.01)
    assert.has_error(function() stats.rng(1.5) end)
  end)

  it("bootstraps paired differences deterministically by seed", function()
    local gen = stats.rng(7)
    local a, b = {}, {}
    for i = 1, 2000 do
      b[i] = gen:float() < 0.8 and 100 or 0
      a[i] = gen:float() < 0.1 and (100 - b[i]) or b[i] -- 10% of answers flip
    end
    local r1 = stats.paired_bootstrap(a, b, { resamples = 500, seed = 3 })
    local r2 = stats.paired_bootstrap(a, b, { resamples = 500, seed = 3 })
    local r3 = stats.paired_bootstrap(a, b, { resamples = 500, seed = 4 })
    assert.are.same(r1, r2)
    assert.are_not.equal(r1.lo, r3.lo)
    local d = 0
    for i = 1, 2000 do d = d + (a[i] - b[i]) end
    assert.is_true(math.abs(r1.diff - d / 2000) < 1e-12)
    assert.is_true(r1.lo < r1.diff and r1.diff < r1.hi)
    -- the interval's width matches the normal approximation: 2 * 1.96 * sd / sqrt(n)
    local dd = {}
    for i = 1, 2000 do dd[i] = a[i] - b[i] end
    local se = stats.std(dd) / math.sqrt(2000)
    assert.is_true(math.abs((r1.hi - r1.lo) / (2 * 1.96 * se) - 1) < 0.15)
    -- identical systems: zero-width interval at 0, not significant
    local same = stats.paired_bootstrap(b, b, { resamples = 100, seed = 1 })
    assert.are.equal(0, same.lo)
    assert.are.equal(0, same.hi)
    assert.is_false(same.significant)
    -- a clear shift is significant
    local up = {}
    for i = 1, 2000 do up[i] = (i % 4 == 0) and 100 or b[i] end
    assert.is_true(stats.paired_bootstrap(up, b, { resamples = 200, seed = 1 }).significant)
    assert.has_error(function() stats.paired_bootstrap({ 1 }, { 1, 2 }) end)
  end)

  it("binomial draws have the right mean", function()
    local r, s = stats.rng(5), 0
    for _ = 1, 5000 do s = s + r:binomial(100, 0.03) end
    assert.is_true(math.abs(s / 5000 - 3) < 0.1)
    assert.are.equal(0, r:binomial(0, 0.5))
    assert.are.equal(7, r:binomial(7, 1))
  end)
end)
