-- zonelab.csv: the results CSV (published tables, 0-based files, round trips) and errors
-- that name the file and the line; Python-style float formatting.
local zl = require "zonelab"
local csv = require "zonelab.csv"

local function write(text)
  local p = os.tmpname()
  zl.io.write_atomic(p, text)
  return p
end

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok)
  return e
end

describe("zonelab.csv", function()
  it("reads the published single-run table", function()
    local t = csv.read_results("tests/fixtures/published/single_run.csv")
    assert.are.same(csv.ZONES, t.zones)
    assert.are.equal(12, #t.rows)
    assert.are.equal(78.344, t.rows[1].all)
    assert.are.equal(66.982, t.rows[1].p2)
    assert.are.equal(80.360, t.rows[2].q2p)
    assert.are.equal(12, t.rows[12].layer)
    assert.is_false(t.zero_based)
  end)

  it("accepts 0-based layers, blanks around fields, CRLF and other column orders", function()
    local p = write("layer, q2 ,all\r\n0, 1.5, 2\r\n1,3,4.25\r\n\r\n")
    local t = csv.read_results(p)
    assert.are.same({ "q2", "all" }, t.zones)
    assert.is_true(t.zero_based)
    assert.are.equal(1, t.rows[1].layer)
    assert.are.equal(2, t.rows[2].layer)
    assert.are.equal(4.25, t.rows[2].all)
    os.remove(p)
  end)

  it("round-trips with 3 decimals and empty cells", function()
    local p = os.tmpname()
    csv.write_results(p, { zones = csv.ZONES, rows = {
      { all = 80.0, q2 = 1 / 3, q2p = 2.0005, p2q = nil, p2 = 100 },
      { all = 1, q2 = 2, q2p = 3, p2q = 4, p2 = 5 } } })
    assert.are.equal("layer,all,q2,q2p,p2q,p2\n1,80.000,0.333,2.001,,100.000\n2,1.000,2.000,3.000,4.000,5.000\n",
      zl.io.read(p))
    local t = csv.read_results(p)
    assert.is_nil(t.rows[1].p2q)
    assert.are.equal(0.333, t.rows[1].q2)
    os.remove(p)
  end)

  it("names the file and line of bad CSVs", function()
    local cases = {
      { "layer,all,q2\n1,2,3\n2,4\n", ":3: 2 fields, but the header has 3" },
      { "layer,all\n1,abc\n", ":2: column all: 'abc' is not a finite number" },
      { "layer,all\n1,nan\n", ":2: column all: 'nan' is not a finite number" },
      { "layer,all\n1,inf\n", ":2: column all: 'inf' is not a finite number" },
      { "layer,all\n1,1e999\n", ":2: column all: '1e999' is not a finite number" },
      { "layer,all,zz\n1,2,3\n", ":1: unknown zone column 'zz'" },
      { "layer,all,all\n1,2,3\n", ":1: zone column 'all' appears twice" },
      { "zone,all\n1,2\n", ":1: the first column must be 'layer'" },
      { "layer,all\n2,1\n", ":2: layers must start at 1 (or 0" },
      { "layer,all\n1,1\n3,1\n", ":3: layer 3 out of order (expected 2)" },
      { "layer,all\n1.5,1\n", ":2: layer '1.5' is not a whole number" },
      { "layer,all\n", ": no data rows" },
      { "", ": empty file" },
    }
    for _, c in ipairs(cases) do
      local p = write(c[1])
      assert.matches(p .. c[2], err_of(csv.read_results, p), 1, true)
      os.remove(p)
    end
    assert.matches("/nonexistent.csv", err_of(csv.read_results, "/nonexistent.csv"), 1, true)
  end)
end)
