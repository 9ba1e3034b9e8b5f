-- zonelab.flows: the binding on a hand-made attention tensor (values worked out by hand
-- in tests/core/test_flows.c), queries, comparison, JSON, and the drawing rendered with
-- pdftoppm: the page must show exactly one ring per layer.
local zl = require "zonelab"

-- [layer][head][from][to], L = 2, NH = 2, S = 4 ([CLS] x y [SEP])
local ATT = {
  { { { 1, 0, 0, 0 }, { 0.5, 0.2, 0.3, 0 }, { 0, 0, 0, 1 }, { 0.25, 0.25, 0.25, 0.25 } },
    { { 1, 0, 0, 0 }, { 0, 0.35, 0.35, 0.3 }, { 0.25, 0.25, 0.25, 0.25 }, { 1, 0, 0, 0 } } },
  { { { 0.1, 0.6, 0.3, 0 }, { 0, 0, 0, 1 }, { 0, 0, 0, 1 }, { 0, 0, 0, 1 } },
    { { 0.2, 0.4, 0.1, 0.3 }, { 0, 0, 0, 1 }, { 0, 0, 0, 1 }, { 0, 0, 0, 1 } } },
}
local TOKENS = { "[CLS]", "x", "y", "[SEP]" }

local function att() return zl.tensor.from(ATT) end

-- An L-layer attention over S tokens: head j of layer l puts 0.6 on token (a + j + l) % S.
local function banded(L, NH, S)
  local t = {}
  for l = 1, L do
    t[l] = {}
    for j = 1, NH do
      t[l][j] = {}
      for a = 1, S do
        local row = {}
        for b = 1, S do row[b] = 0.4 / (S - 1) end
        row[(a - 1 + j - 1 + l - 1) % S + 1] = 0.6
        t[l][j][a] = row
      end
    end
  end
  return zl.tensor.from(t)
end

-- Reads a binary PPM (P6) into width, height, bytes.
local function read_ppm(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("a")
  f:close()
  local w, h, maxv, pos = data:match("^P6%s+(%d+)%s+(%d+)%s+(%d+)%s()")
  assert(w, "not a P6 file: " .. path)
  assert(tonumber(maxv) == 255)
  return tonumber(w), tonumber(h), data:sub(pos)
end

-- The largest number of separate runs of the ring colour met by one pixel column:
-- the column through the centre crosses every ring guide twice.
local function ring_crossings(path)
  local w, h, px = read_ppm(path)
  local rr, rg, rb = 0.55 * 255, 0.72 * 255, 0.98 * 255
  local best = 0
  for x = 0, w - 1 do
    -- a run is a ring crossing; where a column is nearly tangent to a ring, a chord passing
    -- under its anti-aliased edge can split it: hits within 4 pixels are one run (rings are
    -- far more apart than that)
    local runs, last = 0, -100
    for y = 0, h - 1 do
      local i = (y * w + x) * 3 + 1
      local r, g, b = px:byte(i, i + 2)
      local hit = math.abs(r - rr) < 22 and math.abs(g - rg) < 22 and math.abs(b - rb) < 22
      if hit then
        if y - last > 4 then runs = runs + 1 end
        last = y
      end
    end
    if runs > best then best = runs end
  end
  return best
end

local function render(pdf)
  local prefix = os.tmpname()
  local ok = os.execute(string.format("pdftoppm -r 72 -f 1 -l 1 '%s' '%s'", pdf, prefix))
  assert.is_true(ok == true or ok == 0, "pdftoppm failed")
  -- pdftoppm names the page "<prefix>-1.ppm" (or "-01" with more pages)
  for _, suffix in ipairs({ "-1.ppm", "-01.ppm", "-001.ppm" }) do
    local f = io.open(prefix .. suffix, "rb")
    if f then
      f:close()
      os.remove(prefix)
      return prefix .. suffix
    end
  end
  error("pdftoppm wrote no page for " .. pdf)
end

describe("zonelab.flows", function()
  it("builds the graph, counts and influence of section 4", function()
    local g = zl.flows.build(att(), { tokens = TOKENS })
    assert.matches("2 layers, 2 heads, 4 tokens, 4 edges", tostring(g), 1, true)
    -- layers and heads 1-based (node layer 3 = the target of this 2-layer graph); tokens 0-based
    assert.are.same({ { 1, 1, 0, { 1 } }, { 1, 1, 1, { 2 } }, { 1, 1, 2, { 2 } }, { 2, 0, 1, { 1, 2 } } },
      g:edges())
    assert.are.same({ 0 }, g:nodes(3))
    assert.are.same({ 1 }, g:nodes(2))
    assert.are.same({ 0, 1, 2 }, g:nodes(1))
    assert.are.equal(2, g:count(2, 1))
    assert.are.equal(0, g:count(2, 2)) -- 0.3 is not > tau 0.3
    assert.are.equal(1.25, g:influence(1, 1))
    assert.are.equal(0.25, g:influence(1, 0))
    assert.are.equal(2, g:circles(1, 1))
    assert.are.same({ 1, 2 }, g:token_heads(1, 1))
    assert.has_error(function() g:nodes(0) end)
    assert.has_error(function() g:count(3, 1) end)
    assert.are.same(TOKENS, g:tokens())
    local info = g:info()
    assert.are.equal(0.3, info.tau)
    assert.are.same({ 0 }, info.target)
    assert.matches("layer  1: 0:[CLS](1) 1:x(1) 2:y(1)", g:describe(), 1, true)
    assert.are.equal(5, zl.flows.circles(9.5))
  end)

  it("follows tau strictly, head subsets and answer targets", function()
    local g = zl.flows.build(att(), { tau = 0.25 })
    assert.are.equal(9, g:info().num_edges)
    local h = zl.flows.build(att(), { heads = { 2 } })
    assert.are.equal(3, h:info().num_edges)
    assert.are.equal(0.75, h:influence(1, 1))
    -- head 2 only at layer 2: layer 1 keeps both heads
    local hl = zl.flows.build(att(), { heads = { 2 }, head_layers = { 2 } })
    assert.are.same({ 0, 1, 2 }, hl:nodes(1))
    local t = zl.flows.build(att(), { target = { 2, 1 } })
    assert.are.same({ 1, 2 }, t:info().target)
    assert.are.equal(4, t:count(2, 3))
    assert.are.equal(2.0, t:influence(1, 3))
    local ok0, err0 = pcall(zl.flows.build, att(), { heads = { 0 } })
    assert.is_false(ok0)
    assert.matches("flows option heads: entry 1 must be an integer 1..2", err0, 1, true)
    local ok, err = pcall(zl.flows.build, att(), { tau = 2 })
    assert.is_false(ok)
    assert.matches("tau must be in", err, 1, true)
    ok, err = pcall(zl.flows.build, att(), { target = { 7 } })
    assert.is_false(ok)
    assert.matches("target", err, 1, true)
  end)

  it("answers the REPL queries", function()
    local g = zl.flows.build(att(), { tau = 0.25, tokens = TOKENS })
    assert.are.same({ { 0, 1, 2, 3 }, { 1, 2, 3 } }, g:depends_on(3, 0))
    assert.are.same({ { 3 } }, g:depends_on(2, { 1, 2 }, { intersect = true }))
    assert.are.same({ { 0, 1, 2, 3 } }, g:depends_on(2, { 1, 2 }))
    assert.are.same({ [2] = { 1, 3 }, [3] = { 0 } }, g:dependents(1, 0))
    -- hovering head 2 of layer 2
    assert.are.same({ { 0, 1, 2, 3 }, { 1, 3 } }, g:depends_on(3, 0, { via = { layer = 2, head = 2 } }))
    assert.are.equal("target  : 0:[CLS]\nlayer 2: 1:x 2:y\n", g:show(g:dependents(1, 3)))
    assert.are.equal("[]", zl.json.encode(g:dependents(1, 3)[2] and zl.flows.compare(g, g).only_a[1]))
    local p = g:between(1, 3, 3, 0)
    assert.are.equal(4, p.edges)
    assert.are.same({ { 3 }, { 1, 2 }, { 0 } }, p.tokens)
    assert.are.same({ { 1, 2 }, { 1, 2 } }, p.heads)
    local okv, errv = pcall(g.depends_on, g, 3, 0, { via = { layer = 0, head = 1 } })
    assert.is_false(okv)
    assert.matches("layer must be 1..2 and head 1..2", errv, 1, true)
    local ok, err = pcall(g.between, g, 2, 2, 2, 2)
    assert.is_false(ok)
    assert.matches("below the second", err, 1, true)
  end)

  it("compares two graphs and exports the JSON contract", function()
    local a = zl.flows.build(att(), { heads = { 2 }, tokens = TOKENS })
    local b = zl.flows.build(att(), { tokens = TOKENS })
    local c = zl.flows.compare(a, b)
    assert.are.same({ 0 }, c.only_b[1])
    assert.are.same({ 1, 2 }, c.shared[1])
    assert.are.same({}, c.only_a[1])
    assert.are.same({ 2 }, c.heads_shared[1])
    assert.are.same({ 1 }, c.heads_only_b[2])
    -- the JSON keeps the core's 0-based layers and heads (docs/flows.md)
    local j = zl.json.decode(zl.flows.compare_json(a, b))
    assert.are.same({ 0 }, j.only_b[1])
    assert.are.equal(2, j.a.num_layers)
    assert.are.same({ 0, 1, 0, { 0 } }, j.b.edges[1])
    assert.are.same({ 1, 1, 1, 0 }, j.b.counts[1])
    assert.are.equal(1.25, j.b.influence[1][2])
    assert.are.same({ 0 }, j.b.target)
    local one = zl.json.decode(b:json({ pretty = true }))
    assert.are.equal(0.3, one.tau)
    assert.are.equal(0.5, one.alpha)
    assert.are.same(TOKENS, one.tokens)
  end)

  it("draws one ring per layer (rendered with pdftoppm)", function()
    local base = os.tmpname()
    local pdf = base .. ".pdf"
    local L = 5
    local a = zl.flows.build(banded(L, 4, 12), { tau = 0.5 })
    local b = zl.flows.build(banded(L, 4, 12), { tau = 0.5, heads = { 1, 3 } })
    zl.flows.draw(pdf, a, b, { title = "banded", name_a = "all heads", name_b = "heads 1, 3" })
    local png = render(pdf)
    assert.are.equal(2 * L, ring_crossings(png))
    os.remove(png)
    -- the hand-made two-layer graph: 2 rings
    zl.flows.draw(pdf, zl.flows.build(att(), { tokens = TOKENS }), nil, { title = "two layers" })
    png = render(pdf)
    assert.are.equal(4, ring_crossings(png))
    os.remove(png)
    -- rings holding more tokens than allowed keep the most counted and say how many are left
    local g = zl.flows.build(banded(3, 4, 40), { tau = 0.5 })
    local n0 = #g:nodes(1)
    assert.is_true(n0 > 6)
    zl.flows.draw(pdf, g, nil, { max_ring_tokens = 6 })
    local txt = base .. ".txt"
    assert.is_truthy(os.execute(string.format("pdftotext '%s' '%s'", pdf, txt)))
    local f = assert(io.open(txt))
    local text = f:read("a")
    f:close()
    assert.matches(string.format("L1 (+%d)", n0 - 6), text, 1, true) -- rings count layers from 1
    local outside = 0
    for t = 0, 39 do
      local any = false
      for l = 1, 4 do for _, p in ipairs(g:nodes(l)) do any = any or p == t end end
      if not any then outside = outside + 1 end
    end
    assert.matches(string.format("gray tokens: in no ring (%d of 40)", outside), text, 1, true)
    os.remove(txt)
    os.remove(pdf)
    os.remove(base)
  end)

  it("draws the strongest edges as chords, says how many were cut and what each mark means", function()
    local base = os.tmpname()
    local pdf = base .. ".pdf"
    local a = zl.flows.build(banded(5, 4, 12), { tau = 0.5 })
    local b = zl.flows.build(banded(5, 4, 12), { tau = 0.5, heads = { 1, 3 } })
    local union = #a:edges() -- b's edges are a's (a subset of the heads)
    local function pixels(png, col)
      local w, h, px = read_ppm(png)
      local n = 0
      for i = 1, w * h * 3, 3 do
        local r, g, bl = px:byte(i, i + 2)
        if math.abs(r - col[1]) < 12 and math.abs(g - col[2]) < 12 and math.abs(bl - col[3]) < 12 then n = n + 1 end
      end
      return n
    end
    local function text_of()
      local txt = base .. ".txt"
      assert.is_truthy(os.execute(string.format("pdftotext -raw '%s' '%s'", pdf, txt)))
      local f = assert(io.open(txt))
      local t = f:read("a")
      f:close()
      os.remove(txt)
      return t
    end
    -- a shared edge's colour: orange lightened to 80% (the chords' tint)
    local orange = { (0.8 * 0.93 + 0.2) * 255, (0.8 * 0.45 + 0.2) * 255, (0.8 * 0.05 + 0.2) * 255 }
    zl.flows.draw(pdf, a, b, { name_a = "all heads", name_b = "heads 1, 3" })
    local t = text_of()
    assert.matches(string.format("%d edges, all drawn", union), t, 1, true)
    for _, words in ipairs({ "Curved line: an edge", "more heads carry the edge", "Ring Lk: the tokens entering",
      "Head glyph: one small square per head", "both models", "Circles above a word: its influence" }) do
      assert.matches(words, t, 1, true)
    end
    local png = render(pdf)
    local all = pixels(png, orange)
    os.remove(png)
    zl.flows.draw(pdf, a, b, { name_a = "all heads", name_b = "heads 1, 3", max_edges = 20 })
    t = text_of()
    assert.matches(string.format("%d edges: the 20 strongest drawn,", union), t, 1, true)
    assert.matches(string.format("%d cut (fewest heads first)", union - 20), t, 1, true)
    png = render(pdf)
    local cut = pixels(png, orange)
    os.remove(png)
    -- every edge has one head here: the 20 kept are those nearest the target, some shared
    assert.is_true(all > 0 and cut > 0 and cut < all, string.format("orange pixels %d -> %d", all, cut))
    local ok, err = pcall(zl.flows.draw, pdf, a, nil, { max_edges = 0 })
    assert.is_false(ok)
    assert.matches("max_edges", err, 1, true)
    os.remove(pdf)
    os.remove(base)
  end)
end)
