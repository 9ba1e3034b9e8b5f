-- Fonts in zonelab's PDFs: every font embedded (pdffonts), text read back exactly
-- (pdftotext, with no reader warning), Chinese drawn from the embedded CJK face with
-- every glyph present (composites included), and "EM" rendered without a gap inside
-- the word (the base-14 substitution this replaces drew "E M").
local zl = require "zonelab"

local ZONELAB = arg and arg[-1] -- the host running busted (tests/lua/busted.lua)
local SINGLE = "tests/fixtures/published/single_run.csv"
local MEAN = "tests/fixtures/published/five_run_mean.csv"

local u = require "spec_util"
local tmpdir, sh, q, size_of = u.tmpdir, u.sh, u.q, u.size

-- pdffonts' table: a list of {name=, type=, emb=} rows.
local function fonts_of(pdf)
  local out, code = sh("pdffonts " .. q(pdf))
  assert(code == 0, "pdffonts failed: " .. out)
  local rows = {}
  for line in out:gmatch("[^\n]+") do
    if not line:match("^name") and not line:match("^%-%-%-") then
      -- the columns after the name: type (one or two words), encoding, emb, sub, uni, object ID
      local emb = line:match("%s(%a+)%s+%a+%s+%a+%s+%d+%s+%d+%s*$")
      rows[#rows + 1] = { name = line:match("^(%S+)"), emb = emb, line = line }
    end
  end
  return rows
end

local function assert_all_embedded(pdf)
  local rows = fonts_of(pdf)
  assert.is_true(#rows > 0, "no fonts listed for " .. pdf)
  for _, r in ipairs(rows) do
    assert.are.equal("yes", r.emb, "not embedded: " .. r.line)
  end
  return rows
end

local function text_of(pdf, layout)
  local out, code = sh("pdftotext " .. (layout and "-layout " or "") .. q(pdf) .. " -")
  assert(code == 0, "pdftotext failed: " .. out)
  return out
end

-- Rasterises page 1 as a grey PGM at dpi; returns {w, h, v(x, y) -> 0..255}.
local function grey(pdf, dpi) return u.raster(pdf, dpi, true) end

-- The widest run of blank pixel columns strictly inside the inked part of a box.
local function widest_inner_gap(img, x0, y0, x1, y1)
  local inked = {}
  for x = x0, x1 do
    local any = false
    for y = y0, y1 do
      if img.v(x, y) < 128 then any = true break end
    end
    inked[#inked + 1] = any
  end
  local first, last
  for i, k in ipairs(inked) do
    if k then first = first or i; last = i end
  end
  assert(first, "no ink in the box")
  local best, run = 0, 0
  for i = first, last do
    if inked[i] then run = 0 else run = run + 1; best = math.max(best, run) end
  end
  return best, last - first + 1
end

describe("PDF fonts", function()
  teardown(u.cleanup)

  it("embeds every font of a heatmap and reads its labels back exactly", function()
    local dir = tmpdir()
    local pdf = dir .. "/fig.pdf"
    local out, code = sh(table.concat({ q(ZONELAB), "recipes/heatmap.lua", SINGLE, "80.567", q(pdf),
      "--panel", MEAN, "80.567", "--panel-title", "EM", "--panel-title", "F1", "--annotate",
      "--title", q("Figure 1") }, " "))
    assert.are.equal(0, code, out)
    assert_all_embedded(pdf)
    local text = text_of(pdf)
    for _, label in ipairs({ "Figure 1", "EM", "F1", "Attention zone", "Layer", "ALL", "Q2P", "P2Q" }) do
      assert.is_truthy(text:find(label, 1, true), "missing label " .. label .. " in:\n" .. text)
    end
    -- one word, no reader warning on stderr (sh merges it into the text)
    assert.is_truthy(text:find("\nEM", 1, true) or text:find("^EM"))
    assert.is_falsy(text:find("Warning", 1, true))
    assert.is_true(size_of(pdf) < 200 * 1024, "heatmap is " .. size_of(pdf) .. " bytes")
  end)

  it("renders a heatmap's EM title with no gap inside the word", function()
    local dir = tmpdir()
    local pdf = dir .. "/fig.pdf"
    local out, code = sh(table.concat({ q(ZONELAB), "recipes/heatmap.lua", SINGLE, "80.567", q(pdf),
      "--panel", MEAN, "80.567", "--panel-title", "EM", "--panel-title", "F1" }, " "))
    assert.are.equal(0, code, out)
    -- the panel title: the tallest upright "EM" pdftotext finds (the subtitle's is smaller,
    -- the colour bar's label is rotated)
    local box
    for x0, y0, x1, y1 in sh("pdftotext -bbox " .. q(pdf) .. " -"):gmatch(
        'xMin="([%d.]+)" yMin="([%d.]+)" xMax="([%d.]+)" yMax="([%d.]+)">EM<') do
      x0, y0, x1, y1 = tonumber(x0), tonumber(y0), tonumber(x1), tonumber(y1)
      if x1 - x0 > y1 - y0 and (not box or y1 - y0 > box[4] - box[2]) then box = { x0, y0, x1, y1 } end
    end
    assert.is_truthy(box, "no EM title found")
    local img = grey(pdf, 288) -- 4 px per point
    local gap, ink = widest_inner_gap(img, math.floor(box[1] * 4), math.floor(box[2] * 4),
      math.ceil(box[3] * 4), math.ceil(box[4] * 4) - 1)
    -- the letters' side bearings leave about 0.13 of the box height; a word split as
    -- "E M" (the substituted base-14 font) leaves a space's width more
    local h = math.floor((box[4] - box[2]) * 4)
    assert.is_true(gap <= 0.2 * h, string.format("gap of %d px inside EM (box height %d px)", gap, h))
    assert.is_true(ink > h, "EM drew " .. ink .. " px wide")
  end)

  it("draws EM with no gap inside the word", function()
    local dir = tmpdir()
    local pdf = dir .. "/em.pdf"
    local doc <close> = zl.pdf.new()
    doc:page(200, 100)
    doc:fill_color(0, 0, 0)
    for _, font in ipairs({ "Helvetica", "Helvetica-Bold" }) do
      doc:text(20, font == "Helvetica" and 60 or 20, "EM", { size = 30, font = font })
    end
    doc:save(pdf)
    assert_all_embedded(pdf)
    local img = grey(pdf, 144) -- 2 px per point
    for _, base in ipairs({ 60, 20 }) do
      -- the word's box: x 20..20+width, baseline to cap height (30 pt text)
      local w = doc:text_width("EM", { size = 30 })
      local y_top, y_bot = (100 - base - 22) * 2, (100 - base) * 2 - 1
      local gap, ink = widest_inner_gap(img, 20 * 2 - 2, y_top, math.floor((20 + w) * 2) + 2, y_bot)
      -- E's right side bearing plus M's left one is 0.15 em here (4.5 pt = 9 px); a word
      -- split as "E M" adds a space (0.3 em) to that
      assert.is_true(gap <= 0.22 * 30 * 2, string.format("gap of %d px inside EM (ink %d px)", gap, ink))
      assert.is_true(ink > 40, "EM drew " .. ink .. " px wide")
    end
  end)

  it("draws Chinese text from the embedded CJK face, every glyph present", function()
    local dir = tmpdir()
    local pdf = dir .. "/zh.pdf"
    -- 京 and 学 are composite glyphs whose parts lie above glyph 32767
    local line = "北京大学 成立于 1898 年 [CLS] é"
    local doc <close> = zl.pdf.new()
    doc:page(300, 60)
    doc:fill_color(0, 0, 0)
    doc:text(10, 20, line, { size = 20 })
    doc:save(pdf)
    local rows = assert_all_embedded(pdf)
    assert.is_truthy(rows[1].name:find("WenQuanYi", 1, true), rows[1].line)
    local text = text_of(pdf)
    assert.is_truthy(text:find(line, 1, true), "read back: " .. text)
    assert.is_falsy(text:find("Warning", 1, true), text)
    assert.is_true(size_of(pdf) < 1024 * 1024, "Chinese page is " .. size_of(pdf) .. " bytes")
    -- each of the first four characters (20 pt wide each at x 10..90) has ink
    local img = grey(pdf, 72)
    for k = 0, 3 do
      local ink = 0
      for x = 10 + 20 * k + 2, 10 + 20 * k + 17 do
        for y = 60 - 20 - 16, 60 - 20 + 2 do
          if img.v(x, y) < 128 then ink = ink + 1 end
        end
      end
      assert.is_true(ink > 20, "character " .. (k + 1) .. " of " .. line .. " drew no glyph")
    end
  end)

  it("names the Debian package when a font is missing", function()
    local dir = tmpdir()
    local out, code = sh("ZONELAB_FONT_DIR=" .. q(dir) .. " " .. q(ZONELAB) ..
      " -e 'local zl = require \"zonelab\"; local d = zl.pdf.new(); d:page(10, 10); d:text(1, 1, \"x\")'")
    assert.are_not.equal(0, code)
    assert.matches("zonelab: error: pdf: font [^\n]*DejaVuSans.ttf not found %(install the Debian package " ..
      "fonts%-dejavu%-core", out)
    out, code = sh("ZONELAB_FONT_DIR=" .. q(dir) .. " " .. q(ZONELAB) ..
      " -e 'local zl = require \"zonelab\"; local d = zl.pdf.new(); d:page(10, 10); d:text(1, 1, \"\u{5317}\")'")
    assert.are_not.equal(0, code)
    assert.matches("wqy%-microhei.ttc not found %(install the Debian package fonts%-wqy%-microhei", out)
    local ok, err = pcall(function()
      local d <close> = zl.pdf.new()
      d:text_width("x", { font = "Comic-Sans" })
    end)
    assert.is_false(ok)
    assert.matches("unknown font 'Comic%-Sans'", err)
  end)

end)
