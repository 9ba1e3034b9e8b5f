-- zonelab.pdf and recipes/heatmap.lua: the paper's Figure 1 from Table 1. The colour map
-- at known points; the PDF rasterised with pdftoppm (binary PPM, pdftoppm's default, parsed here) and every
-- cell's pixel compared with the colour seaborn would give it; text labels read back with
-- pdftotext; multi-panel pages; bad input raising / exiting 1 without writing a PDF.
local zl = require "zonelab"
local csv = require "zonelab.csv"

local ZONELAB = arg and arg[-1] -- the host running busted (tests/lua/busted.lua)
local SINGLE = "tests/fixtures/published/single_run.csv"
local MEAN = "tests/fixtures/published/five_run_mean.csv"
local LABELS = { "ALL", "Q^{2}", "Q2P", "P2Q", "P^{2}" }

local u = require "spec_util"
local tmpdir, sh, q, exists = u.tmpdir, u.sh, u.q, u.exists

-- Table rows bottom-up (layer 1 first), value - baseline.
local function diffs(path, baseline)
  local t = csv.read_results(path)
  local rows = {}
  for i, r in ipairs(t.rows) do
    rows[i] = {}
    for c, z in ipairs(t.zones) do rows[i][c] = r[z] - baseline end
  end
  return rows
end

-- Rasterises page 1 at 36 dpi; returns {w, h, px(x, y) -> r, g, b}.
local function raster(pdf) return u.raster(pdf, 36) end

-- The pixel at page point (x, y) (PDF coordinates: origin lower-left).
local DPI_SCALE = 36 / 72
local function at(img, page_w, page_h, x, y)
  local s = DPI_SCALE
  return img.px(math.floor(x * s), math.floor((page_h - y) * s))
end

local function near(r, g, b, er, eg, eb, tol)
  tol = tol or 3
  return math.abs(r - er) <= tol and math.abs(g - eg) <= tol and math.abs(b - eb) <= tol
end

-- Every cell of every panel has seaborn's colour (centre pixel, unannotated figure).
local function check_cells(img, geom, panels)
  local bad = {}
  for p, panel in ipairs(panels) do
    local g = geom.panels[p]
    for r, row in ipairs(panel.values) do
      for c, v in ipairs(row) do
        local er, eg, eb = zl.pdf.heat_color(v, -10, 2, 0)
        local x, y = g.x + (c - 0.5) * g.cell_w, g.y + (r - 0.5) * g.cell_h
        local pr, pg, pb = at(img, geom.width, geom.height, x, y)
        if not near(pr, pg, pb, er * 255, eg * 255, eb * 255) then
          bad[#bad + 1] = string.format("panel %d layer %d col %d: (%d,%d,%d) vs (%.0f,%.0f,%.0f)",
            p, r, c, pr, pg, pb, er * 255, eg * 255, eb * 255)
        end
      end
    end
  end
  assert.are.same({}, bad)
end

describe("zonelab.pdf colour map", function()
  it("is seismic with seaborn's centring at vmin -10, vmax 2, center 0", function()
    local r, g, b = zl.pdf.heat_color(-10, -10, 2, 0)
    assert.are.same({ 0, 0, 0.3 }, { r, g, b })
    r, g, b = zl.pdf.heat_color(0, -10, 2, 0) -- listed entry 213 -> seismic entry 128
    local w = 1 - (128 / 255 - 0.5) / 0.25
    assert.are.equal(1, r)
    assert.is_true(math.abs(g - w) < 1e-12 and math.abs(b - w) < 1e-12 and g > 0.99)
    r, g, b = zl.pdf.heat_color(2, -10, 2, 0)
    assert.is_true(r == 1 and math.abs(g - 0.6) < 1e-9 and math.abs(b - 0.6) < 1e-9)
    r, g, b = zl.pdf.heat_color(-40, -10, 2, 0) -- clips
    assert.are.same({ 0, 0, 0.3 }, { r, g, b })
    r, g, b = zl.pdf.heat_color(2, -10, 2) -- no centring: the whole map
    assert.are.same({ 0.5, 0, 0 }, { r, g, b })
    r, g, b = zl.pdf.seismic(0.25) -- entry 64
    assert.is_true(b == 1 and math.abs(r - (64 / 255 - 0.25) / 0.25) < 1e-12)
    assert.has_error(function() zl.pdf.heat_color(0 / 0, -10, 2, 0) end)
    assert.has_error(function() zl.pdf.heat_color(0, 2, -10, 0) end)
  end)
end)

describe("zonelab.pdf drawing", function()
  it("draws primitives and text, and refuses bad input", function()
    local dir = tmpdir()
    local doc <close> = zl.pdf.new()
    assert.has_error(function() doc:rect(0, 0, 1, 1) end) -- no page yet
    doc:page(120, 80)
    doc:fill_color(1, 0, 0)
    doc:rect(10, 10, 40, 30)
    doc:fill_color({ 0, 0, 1 })
    doc:circle(90, 40, 15, "fill")
    doc:stroke_color(0, 0.5, 0)
    doc:line_width(2)
    doc:line(0, 0, 120, 80)
    doc:curve(0, 80, 40, 40, 80, 40, 120, 0)
    doc:polygon({ 60, 5, 70, 5, 65, 12 }, "both")
    doc:fill_color(0, 0, 0)
    doc:text(60, 70, "Q^{2} zone", { size = 8, align = "center", valign = "middle" })
    assert.is_true(math.abs(doc:text_width("ALL", { size = 10 }) - 17.98) < 1e-9) -- DejaVu Sans
    assert.has_error(function() doc:fill_color(2, 0, 0) end)
    assert.has_error(function() doc:text(0, 0, "x", { font = "Nope" }) end)
    assert.has_error(function() doc:rect(0, 0, 1, 1, "sideways") end)
    assert.has_error(function() doc:page(1e9, 10) end)
    assert.are.equal(1, doc:page_count())
    doc:save(dir .. "/d.pdf")
    local img = raster(dir .. "/d.pdf")
    local r, g, b = at(img, 120, 80, 15, 15) -- inside the red rect, off the lines
    assert.is_true(near(r, g, b, 255, 0, 0), string.format("(%d,%d,%d)", r, g, b))
    r, g, b = at(img, 120, 80, 90, 40)
    assert.is_true(near(r, g, b, 0, 0, 255), string.format("(%d,%d,%d)", r, g, b))
    local text = sh("pdftotext " .. q(dir .. "/d.pdf") .. " -")
    assert.truthy(text:find("Q2 zone", 1, true))
    assert.truthy(tostring(doc):find("1 page"))
    doc:close()
    doc:close() -- idempotent
    assert.has_error(function() doc:page(10, 10) end)
  end)
end)

local single = diffs(SINGLE, 80.567)
local mean = diffs(MEAN, 80.567)

describe("heatmap page (the paper's Figure 1)", function()

  it("colours every cell of Table 1 as seaborn does, layer 1 at the bottom", function()
    local dir = tmpdir()
    local doc <close> = zl.pdf.new()
    local panels = { { values = single, col_labels = LABELS, xlabel = "Attention zone", ylabel = "Layer" } }
    local geom = doc:heatmap_page(panels)
    doc:save(dir .. "/f.pdf")
    local img = raster(dir .. "/f.pdf")
    check_cells(img, geom, panels)
    local g = geom.panels[1]
    -- layer 1, P²: 66.982 - 80.567 = -13.6 -> the darkest blue (0, 0, 0.3)
    local r, gg, b = at(img, geom.width, geom.height, g.x + 4.5 * g.cell_w, g.y + 0.5 * g.cell_h)
    assert.is_true(near(r, gg, b, 0, 0, 76.5), string.format("(%d,%d,%d)", r, gg, b))
    -- layer 12, Q2P: +0.001 -> white
    r, gg, b = at(img, geom.width, geom.height, g.x + 2.5 * g.cell_w, g.y + 11.5 * g.cell_h)
    assert.is_true(r >= 250 and gg >= 250 and b >= 250, string.format("(%d,%d,%d)", r, gg, b))
    -- layer 11, P2Q: -4.162 -> saturated blue, no red
    r, gg, b = at(img, geom.width, geom.height, g.x + 3.5 * g.cell_w, g.y + 10.5 * g.cell_h)
    assert.is_true(r < 80 and b > 200, string.format("(%d,%d,%d)", r, gg, b))
    -- the colour bar: darkest blue at the bottom, light red (1, .6, .6) at the top
    local bar = g.bar
    r, gg, b = at(img, geom.width, geom.height, bar.x + bar.w / 2, bar.y + 1)
    assert.is_true(near(r, gg, b, 0, 0, 76.5), string.format("bar bottom (%d,%d,%d)", r, gg, b))
    r, gg, b = at(img, geom.width, geom.height, bar.x + bar.w / 2, bar.y + bar.h - 1)
    assert.is_true(near(r, gg, b, 255, 153, 153), string.format("bar top (%d,%d,%d)", r, gg, b))
    -- labels are text: zones, layers, colour bar ticks
    local text = sh("pdftotext -layout " .. q(dir .. "/f.pdf") .. " -")
    for _, s in ipairs({ "ALL", "Q2P", "P2Q", "Layer", "Attention zone", "-10", "-8", "12" }) do
      assert.truthy(text:find(s, 1, true), s .. " missing from:\n" .. text)
    end
    -- layer 12 is printed above layer 1 (layer 1 at the bottom)
    assert.is_true(text:find("\n%s*12%s") < text:find("\n%s*1%s"))
  end)

  it("puts panels side by side with a shared bar; the mean of five runs shows red", function()
    local dir = tmpdir()
    local doc <close> = zl.pdf.new()
    local panels = {
      { values = single, col_labels = LABELS, title = "Single run", ylabel = "Layer" },
      { values = mean, col_labels = LABELS, title = "Five-run mean" },
    }
    local geom = doc:heatmap_page(panels, { colorbar = "shared", title = "SQuAD EM" })
    assert.is_nil(geom.panels[1].bar)
    assert.truthy(geom.panels[2].bar)
    assert.is_true(geom.panels[2].x > geom.panels[1].x + 5 * 30)
    doc:save(dir .. "/m.pdf")
    local img = raster(dir .. "/m.pdf")
    check_cells(img, geom, panels)
    -- layer 1, Q² of the mean: 80.924 - 80.567 = +0.357 -> light red
    local g = geom.panels[2]
    local r, gg, b = at(img, geom.width, geom.height, g.x + 1.5 * g.cell_w, g.y + 0.5 * g.cell_h)
    assert.is_true(r == 255 and gg < 245 and gg > 200 and math.abs(gg - b) <= 1,
      string.format("(%d,%d,%d)", r, gg, b))
    local text = sh("pdftotext -layout " .. q(dir .. "/m.pdf") .. " -")
    assert.truthy(text:find("Single run", 1, true) and text:find("Five-run mean", 1, true))
    assert.truthy(text:find("SQuAD EM", 1, true))
    -- one bar per panel
    local each = doc:heatmap_page(panels, { colorbar = "each" })
    assert.truthy(each.panels[1].bar and each.panels[2].bar)
    assert.are.equal(2, doc:page_count())
  end)

  it("annotates cells with value - baseline, 1 decimal, in readable colours", function()
    local dir = tmpdir()
    local doc <close> = zl.pdf.new()
    doc:heatmap_page({ { values = single, col_labels = LABELS, annotate = true } })
    doc:save(dir .. "/a.pdf")
    local text = sh("pdftotext -layout " .. q(dir .. "/a.pdf") .. " -")
    assert.truthy(text:find("-13.6", 1, true)) -- layer 1, P²
    assert.truthy(text:find("-4.2", 1, true))  -- layer 11, P2Q
    -- white text on the darkest cell: its pixels include white ones
    local img = raster(dir .. "/a.pdf")
    local geom = doc:heatmap_layout({ { values = single, col_labels = LABELS, annotate = true } })
    local g = geom.panels[1]
    local s = DPI_SCALE
    local white, dark = 0, 0
    for px = math.floor((g.x + 4 * g.cell_w) * s) + 1, math.floor((g.x + 5 * g.cell_w) * s) - 1 do
      for py = math.floor((geom.height - g.y - g.cell_h) * s) + 1, math.floor((geom.height - g.y) * s) - 1 do
        local r, gg, b = img.px(px, py)
        if r > 80 and gg > 80 then white = white + 1 end -- dark grey text would stay below 40
        if r < 40 and gg < 40 then dark = dark + 1 end
      end
    end
    assert.is_true(white > 0 and dark > 0, white .. " light, " .. dark .. " dark pixels")
  end)

  it("draws false as an empty cell (not measured) in light grey; a panel of only those raises", function()
    local dir = tmpdir()
    local doc <close> = zl.pdf.new()
    local panels = { { values = { { -4, false }, { false, 1 } }, col_labels = { "a", "b" } } }
    local geom = doc:heatmap_page(panels)
    doc:save(dir .. "/e.pdf")
    local img, g = raster(dir .. "/e.pdf"), geom.panels[1]
    local function cell(r, c) return at(img, geom.width, geom.height, g.x + (c - 0.5) * g.cell_w, g.y + (r - 0.5) * g.cell_h) end
    for _, rc in ipairs { { 1, 2 }, { 2, 1 } } do
      local r, gg, b = cell(rc[1], rc[2])
      assert.is_true(near(r, gg, b, 217, 217, 217), string.format("empty cell %d,%d: (%d,%d,%d)", rc[1], rc[2], r, gg, b))
    end
    local er, eg, eb = zl.pdf.heat_color(-4, -10, 2, 0)
    local r, gg, b = cell(1, 1)
    assert.is_true(near(r, gg, b, er * 255, eg * 255, eb * 255), string.format("(%d,%d,%d)", r, gg, b))
    local doc2 <close> = zl.pdf.new()
    local ok, err = pcall(doc2.heatmap_page, doc2, { { values = { { false, false } } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("heatmap panel 1: every cell is empty", 1, true), err)
  end)

  it("raises on bad panels", function()
    local doc <close> = zl.pdf.new()
    assert.has_error(function() doc:heatmap_page({ { values = { { 1, 2 }, { 3 } } } }) end)
    assert.has_error(function() doc:heatmap_page({ { values = { { 1, 0 / 0 } } } }) end)
    assert.has_error(function() doc:heatmap_page({ { values = { { 1, "x" } } } }) end)
    assert.has_error(function() doc:heatmap_page({ { values = { { 1, 2 } }, col_labels = { "a" } } }) end)
    assert.has_error(function() doc:heatmap_page({}) end)
    assert.has_error(function()
      doc:heatmap_page({ { values = { { 1 } } }, { values = { { 1 } }, vmin = -5 } }, { colorbar = "shared" })
    end)
    assert.are.equal(0, doc:page_count())
  end)
end)

describe("recipes/heatmap.lua", function()
  assert(ZONELAB, "arg[-1] (the zonelab host) is needed to run the recipe")

  it("draws Table 1 with the published baseline like the paper's Figure 1", function()
    local dir = tmpdir()
    local out, code = sh(q(ZONELAB) .. " recipes/heatmap.lua " .. SINGLE .. " 80.567 " .. q(dir .. "/s.pdf")
      .. " --no-notes")
    assert.are.equal(0, code, out)
    assert.truthy(out:find("wrote", 1, true))
    assert.truthy(sh("pdfinfo " .. q(dir .. "/s.pdf")):match("Pages:%s+1\n"))
    -- the recipe's page is the one the API lays out for the same panel
    local doc <close> = zl.pdf.new()
    local panels = { { values = single, col_labels = LABELS, xlabel = "Attention zone", ylabel = "Layer",
      subtitle = "baseline EM 80.57", bar_label = "EM difference from baseline (points)" } }
    local geom = doc:heatmap_layout(panels)
    local info = sh("pdfinfo " .. q(dir .. "/s.pdf"))
    local pw, ph = info:match("Page size:%s+([%d.]+) x ([%d.]+)")
    assert.is_true(math.abs(pw - geom.width) < 0.01 and math.abs(ph - geom.height) < 0.01, info)
    local img = raster(dir .. "/s.pdf")
    check_cells(img, geom, panels)
    -- extend='both': past each end of the bar, the colour of values beyond it
    local bar = geom.panels[1].bar
    local ext = 0.05 * bar.h
    local r, g, b = at(img, geom.width, geom.height, bar.x + bar.w / 2, bar.y - ext / 3)
    assert.is_true(near(r, g, b, 0, 0, 0.3 * 255), string.format("below the bar: %d %d %d", r, g, b))
    r, g, b = at(img, geom.width, geom.height, bar.x + bar.w / 2, bar.y + bar.h + ext / 3)
    assert.is_true(near(r, g, b, 255, 0.6 * 255, 0.6 * 255), string.format("above the bar: %d %d %d", r, g, b))
    -- the note takes room under the panels: the same page with it is taller
    local with_note = doc:heatmap_layout(panels, { note = "ALL is the reference's mask." })
    assert.is_true(with_note.height > geom.height + 7)
  end)

  it("takes baseline.json and extra panels", function()
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/baseline.json", "w"))
    f:write('{"exact_match": 80.567, "f1": 88.117, "metric": "exact_match"}')
    f:close()
    local out, code = sh(q(ZONELAB) .. " recipes/heatmap.lua " .. SINGLE .. " " .. q(dir .. "/baseline.json")
      .. " " .. q(dir .. "/two.pdf") .. " --panel " .. MEAN .. " 80.567 --panel-title 'Single run'"
      .. " --panel-title 'Five-run mean' --annotate --title 'EM'")
    assert.are.equal(0, code, out)
    local text = sh("pdftotext -layout " .. q(dir .. "/two.pdf") .. " -")
    assert.truthy(text:find("Five-run mean", 1, true) and text:find("-14.3", 1, true), text)
  end)

  it("draws the empty cells of a sweep of some zones grey and says so; refuses a table of none", function()
    local dir = tmpdir()
    local f = assert(io.open(dir .. "/sub.csv", "w"))
    f:write("layer,all,q2,q2p,p2q,p2\n1,,75.000,,,\n2,,,,,\n")
    f:close()
    local out, code = sh(q(ZONELAB) .. " recipes/heatmap.lua " .. q(dir .. "/sub.csv") .. " 80 " .. q(dir .. "/sub.pdf"))
    assert.are.equal(0, code, out)
    local text = sh("pdftotext " .. q(dir .. "/sub.pdf") .. " -"):gsub("%s+", " ")
    assert.truthy(text:find("Grey cells: configurations not swept", 1, true), text)
    f = assert(io.open(dir .. "/none.csv", "w"))
    f:write("layer,all,q2,q2p,p2q,p2\n1,,,,,\n")
    f:close()
    out, code = sh(q(ZONELAB) .. " recipes/heatmap.lua " .. q(dir .. "/none.csv") .. " 80 " .. q(dir .. "/none.pdf"))
    assert.are.equal(1, code, out)
    assert.truthy(out:find("zonelab: error: " .. dir .. "/none.csv: every cell is empty (nothing to draw)", 1, true), out)
    assert.is_false(exists(dir .. "/none.pdf"))
  end)

  it("fails with FILE:LINE on bad CSVs and writes no PDF", function()
    local dir = tmpdir()
    local cases = {
      { "layer,all,q2\n1,80.1\n", ":2:" },
      { "layer,all,q2\n1,80.1,nan\n", ":2:" },
      { "layer,all,q2\n1,80.1,inf\n", ":2:" },
      { "layer,all,q2\n1,80.1,abc\n", ":2:" },
      { "layer,all,zz\n1,80.1,80\n", ":1:" },
    }
    for i, c in ipairs(cases) do
      local path = dir .. "/bad" .. i .. ".csv"
      local f = assert(io.open(path, "w"))
      f:write(c[1])
      f:close()
      local pdf = dir .. "/bad" .. i .. ".pdf"
      local out, code = sh(q(ZONELAB) .. " recipes/heatmap.lua " .. q(path) .. " 80 " .. q(pdf))
      assert.are.equal(1, code, out)
      assert.truthy(out:find("zonelab: error: " .. path .. c[2], 1, true), out)
      assert.is_false(exists(pdf))
    end
  end)
end)

teardown(u.cleanup)
