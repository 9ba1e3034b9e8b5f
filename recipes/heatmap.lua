-- heatmap.lua — protocol step 9 (the reference's visualize_att_zone.py): results.csv and
-- the baseline score -> a PDF like the paper's Figure 1: value - baseline per cell,
-- seaborn's "seismic" map with vmin -10, vmax 2, centre 0, columns ALL Q² Q2P P2Q P²,
-- layer 1 at the bottom, a colour bar; several panels side by side on one page.
local cli = require "zonelab.cli"
local csv = require "zonelab.csv"
local zl = require "zonelab"

local p = cli.parser("recipes/heatmap.lua", [[
  Draw RESULTS.csv (header layer,all,q2,q2p,p2q,p2; layers from 1, or 0-based) as the paper's
  Figure 1: each cell is the score with that zone masked in that layer minus BASELINE, coloured
  with seaborn's heatmap(cmap='seismic', vmin, vmax, center): blue where masking hurts, white
  where it changes nothing, red where it helps. Each table's metric comes from its name
  (results_f1.csv, a folder named f1 or em) or --metric, else EM. BASELINE is a number (80.567, or
  EM=80.567 / F1=88.117 to say which), or a JSON file with exact_match and f1 (aggregate's
  baseline.json, the protocol's baseline_mean.json): the table's metric picks the key, and a
  baseline of the other metric is refused. The colour bar is labelled with the metric, its
  triangles show the colours of values beyond --vmin/--vmax, each panel says its baseline, and a
  note explains the ALL zone (--no-notes hides it). --panel adds panels to the same page (e.g. F1
  beside EM, or the mean of runs beside a single run).]], [[
Examples:
  zonelab recipes/heatmap.lua results.csv 80.567 squad.pdf
  zonelab recipes/heatmap.lua run/results.csv run/baseline.json fig.pdf --annotate
  zonelab recipes/heatmap.lua em.csv 80.567 fig.pdf --panel f1.csv 88.117 --panel-title EM --panel-title F1 --colorbar each]])
p:argument("results", "The results CSV (the first panel).")
p:argument("baseline", "Baseline score (a number) or a JSON file with exact_match / f1.")
p:argument("output", "The PDF to write.")
p:option("--metric", "The metric of tables whose name does not say (EM or F1; default EM).")
  :choices({ "EM", "F1", "em", "f1" })
p:option("--vmin", "Value (difference) at the blue end of the colour map.", "-10")
p:option("--vmax", "Value (difference) at the red end of the colour map.", "2")
p:option("--center", "Value drawn white (seaborn's center).", "0")
p:flag("--annotate", "Print value - baseline (1 decimal) in every cell.")
p:option("--title", "Title above the page.")
p:option("--panel", "Another panel: RESULTS.csv BASELINE (repeatable)."):args(2):count("*")
  :argname({ "<results>", "<baseline>" })
p:option("--panel-title", "Panel titles, in order (one per panel, or one per --panel)."):count("*")
p:option("--colorbar", "One colour bar for the page, one per panel, or none.", "shared")
  :choices({ "shared", "each", "none" })
p:option("--xlabel", "Label under the columns.", "Attention zone")
p:option("--ylabel", "Label beside the rows.", "Layer")
p:flag("--no-notes", "Leave out the note under the figure (what the ALL zone is).")
local args = cli.parse(p)

local LABELS = { all = "ALL", q2 = "Q^{2}", q2p = "Q2P", p2q = "P2Q", p2 = "P^{2}" }

local function number_option(name, s)
  local v = tonumber(s)
  if not v or v ~= v or v == math.huge or v == -math.huge then
    cli.fail("%s must be a finite number, got '%s'", name, s)
  end
  return v
end

local vmin = number_option("--vmin", args.vmin)
local vmax = number_option("--vmax", args.vmax)
local center = number_option("--center", args.center)
if not (vmin < vmax) then cli.fail("--vmin (%s) must be below --vmax (%s)", args.vmin, args.vmax) end
if center < vmin or center > vmax then
  cli.fail("--center (%s) must lie between --vmin and --vmax", args.center)
end

local NAMES = { em = "EM", f1 = "F1" }

local metric_of_name = csv.metric_of_name

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

-- BASELINE for a table of metric m: a number (optionally "EM=80.5"), or a JSON file with
-- exact_match and f1 (and runs, when it is a mean). Returns the value and its description.
local function read_baseline(s, m, table_path)
  local tag, num = s:match("^(%a%w*)%s*=%s*(.+)$")
  local v = tonumber(num or s)
  if v then
    if not finite(v) then cli.fail("baseline '%s' is not finite", s) end
    if tag then
      if not NAMES[tag:lower()] then cli.fail("baseline '%s': the metric must be EM or F1", s) end
      if tag:lower() ~= m then
        cli.fail("baseline '%s' is %s, but %s is an %s table", s, NAMES[tag:lower()], table_path, NAMES[m])
      end
    end
    return v, string.format("baseline %s %.2f", NAMES[m], v)
  end
  local ok, obj = pcall(zl.json.read, s)
  if not ok then cli.fail("baseline '%s' is neither a number nor a readable JSON file (%s)", s, obj) end
  if type(obj) ~= "table" then cli.fail("%s: expected a JSON object with exact_match / f1", s) end
  local key = (m == "f1") and "f1" or "exact_match"
  local b = obj[key]
  if type(b) ~= "number" or not finite(b) then
    cli.fail("%s: field '%s' (the %s baseline of %s) is missing or not a finite number", s, key,
      NAMES[m], table_path)
  end
  local runs = type(obj.runs) == "number" and obj.runs > 1 and obj.runs or nil
  return b, string.format("baseline %s %.2f%s", NAMES[m], b,
    runs and string.format(" (mean of %d runs)", runs) or "")
end

local forced = args.metric and args.metric:lower()

-- One panel: rows bottom-up (layer 1 first), values minus the baseline.
local any_empty = false
local function panel(path, baseline_arg)
  local named = metric_of_name(path)
  if named and forced and named ~= forced then
    cli.fail("%s is an %s table (its name says so), but --metric is %s", path, NAMES[named], NAMES[forced])
  end
  local m = named or forced or "em"
  local t = csv.read_results(path)
  local baseline, described = read_baseline(baseline_arg, m, path)
  local values, labels = {}, {}
  for c, z in ipairs(t.zones) do labels[c] = LABELS[z] end
  if #t.zones == 0 then cli.fail("%s:1: no zone columns", path) end
  local filled = 0
  for i, r in ipairs(t.rows) do
    local row = {}
    for c, z in ipairs(t.zones) do
      -- an empty cell (a sweep of some zones or layers) is drawn grey
      if r[z] == nil then row[c] = false; any_empty = true else row[c] = r[z] - baseline end
      if r[z] ~= nil then filled = filled + 1 end
    end
    values[i] = row
  end
  if filled == 0 then cli.fail("%s: every cell is empty (nothing to draw)", path) end
  return {
    values = values, col_labels = labels, vmin = vmin, vmax = vmax, center = center,
    annotate = args.annotate, xlabel = args.xlabel, ylabel = args.ylabel,
    subtitle = described, metric = m, has_all = t.zones[1] == "all" or nil,
    bar_label = NAMES[m] .. " difference from baseline (points)",
  }
end

local panels = { panel(args.results, args.baseline) }
for _, pb in ipairs(args.panel) do panels[#panels + 1] = panel(pb[1], pb[2]) end

local titles = args.panel_title
if #titles == #panels then
  for i, t in ipairs(titles) do panels[i].title = t end
elseif #titles == #panels - 1 then
  for i, t in ipairs(titles) do panels[i + 1].title = t end
elseif #titles > 0 then
  cli.fail("%d --panel-title for %d panels (give one per panel, or one per --panel)",
    #titles, #panels)
end
-- Only the leftmost panel needs the layer label.
for i = 2, #panels do panels[i].ylabel = nil end
-- A shared bar (drawn beside the last panel) names the metric when all panels share it.
local any_all, first_metric = false, panels[1].metric
for _, pn in ipairs(panels) do
  if pn.metric ~= first_metric and args.colorbar == "shared" then
    panels[#panels].bar_label = "Difference from baseline (points)"
  end
  for _, z in ipairs(pn.col_labels) do any_all = any_all or z == "ALL" end
  pn.metric, pn.has_all = nil, nil -- the recipe's own bookkeeping, not panel options
end

local note = nil
if any_all and not args.no_notes then
  note = "ALL is the reference's mask for every attention score (-10000 added to each), so " ..
    "every token attends uniformly to all positions, padding included: not 'attention " ..
    "removed', and its effect depends on max_seq_length. Colours clip at " ..
    string.format("%g and %g", vmin, vmax) .. " (the bar's triangles)" ..
    (args.annotate and "; the numbers are the true differences." or ".")
end
if any_empty and not args.no_notes then
  note = (note and note .. " " or "") .. "Grey cells: configurations not swept (empty in the table)."
end

local doc <close> = zl.pdf.new()
doc:heatmap_page(panels, { colorbar = args.colorbar, title = args.title, note = note })
doc:save(args.output)
cli.wrote(args.output, string.format("%d panel%s", #panels, #panels > 1 and "s" or ""))
