-- stats.lua — the protocol's QUANTIFICATION AND STATISTICAL ANALYSIS: several runs'
-- results.csv -> mean and sample std per cell; against a reference table, the standard
-- deviation of the differences per zone (Table 2's last row); and, from per-question
-- scores, a paired bootstrap telling which cells differ from the baseline.
local cli = require "zonelab.cli"
local csv = require "zonelab.csv"
local lfs = require "lfs"
local stats = require "zonelab.stats"
local zl = require "zonelab"

local p = cli.parser("recipes/stats.lua", [[
  Statistics over runs of the zone x layer experiment. --runs: mean and sample standard deviation
  (n-1) of every cell across the runs' results CSVs -> OUT/mean.csv, OUT/std.csv (same header, 3
  decimals; std cells are empty with a single run). --baselines: each run's baseline.json (same
  order as --runs) -> also OUT/std_diff.csv, the sample std over the runs of (cell - that run's
  own baseline): the spread of the effects, without the seed-to-seed spread of the baselines that
  std.csv carries. --reference: the sample standard deviation over layers of (mean of the runs -
  reference), per zone, printed as one JSON line {"std_of_difference": {...}} (the last row of the
  paper's Table 2). --per-question DIR: a paired bootstrap over questions of (masked - baseline)
  for every cell -> OUT/significance.csv with the 95% interval and whether it excludes 0. Results
  CSVs may number layers from 0 or 1.]], [[
Examples:
  zonelab recipes/stats.lua --runs seed1/results.csv seed2/results.csv seed3/results.csv --out stats
  zonelab recipes/stats.lua --runs single_run.csv --reference five_run_mean.csv
  zonelab recipes/stats.lua --per-question run/pq --bootstrap 2000 --seed 7 --out run/stats
Per-question folder: per_question.json (baseline) and per_question_layer{L}_{zone}.json
(L 0-based), as written by `aggregate --per-question` or `evaluate --per-question`.
The bootstrap resamples questions with replacement (seeded xorshift64*, the same seed for
every cell) and takes the 2.5% and 97.5% percentiles of the resampled mean differences.]])
p:option("--runs", "Results CSVs of the runs (one or more)."):args("+")
p:option("--baselines", "Each run's baseline.json (as the sweep writes it), in the order of " ..
  "--runs: also writes OUT/std_diff.csv. Its exact_match or f1 is used, as the runs' file names " ..
  "say (results_f1.csv, a folder f1: F1; otherwise EM)."):args("+")
p:option("--reference", "A reference results CSV (e.g. the published five-run mean).")
p:option("--out", "Output folder.", "stats")
p:option("--per-question", "Folder of per-question score files for the bootstrap.")
p:option("--bootstrap", "Bootstrap resamples.", "1000")
p:option("--seed", "Bootstrap seed (a whole number).", "1")
p:flag("--use-f1", "Bootstrap F1 instead of exact match.")
local args = cli.parse(p)

if not args.runs and not args.per_question then
  cli.fail("nothing to do: give --runs and/or --per-question (see --help)")
end
if args.reference and not args.runs then cli.fail("--reference needs --runs") end
if args.baselines and not args.runs then cli.fail("--baselines needs --runs") end
if args.baselines and #args.baselines ~= #args.runs then
  cli.fail("--baselines: %d files for %d runs (one baseline.json per run, in the same order)",
    #args.baselines, #args.runs)
end
local B = cli.integer(args.bootstrap, "--bootstrap", 10, 1000000)
local seed = cli.integer(args.seed, "--seed")

local function protect(f, ...)
  local ok, res = pcall(f, ...)
  if not ok then cli.fail("%s", tostring(res)) end
  return res
end

local function need_dir()
  cli.ensure_dir(args.out)
  return args.out
end

-- ---- mean and std over runs ----
local mean_tbl, zones, nlayers
local ref = args.reference and protect(csv.read_results, args.reference)

local function check_reference()
  if #ref.rows ~= nlayers then
    cli.fail("%s: %d layers, but the runs have %d", args.reference, #ref.rows, nlayers)
  end
  for l = 1, nlayers do
    for _, z in ipairs(zones) do
      if ref.rows[l][z] == nil then
        cli.fail("%s: layer %d, zone %s is empty or absent", args.reference, l, z)
      end
    end
  end
end
if args.runs then
  local runs = {}
  for i, path in ipairs(args.runs) do
    local t = protect(csv.read_results, path)
    if i == 1 then
      zones, nlayers = t.zones, #t.rows
    else
      if #t.rows ~= nlayers then
        cli.fail("%s: %d layers, but %s has %d", path, #t.rows, args.runs[1], nlayers)
      end
      if table.concat(t.zones, ",") ~= table.concat(zones, ",") then
        cli.fail("%s: zone columns %s differ from %s's %s", path, table.concat(t.zones, ","),
          args.runs[1], table.concat(zones, ","))
      end
    end
    -- a sweep of some zones or layers leaves the other cells empty: a cell is empty in
    -- every run (and stays empty here) or in none
    for l, row in ipairs(t.rows) do
      for _, z in ipairs(zones) do
        if i > 1 and (row[z] == nil) ~= (runs[1].rows[l][z] == nil) then
          cli.fail("%s: layer %d, zone %s is %s, but %s's is %s", path, l, z,
            row[z] == nil and "empty" or "filled", args.runs[1], row[z] == nil and "filled" or "empty")
        end
      end
    end
    runs[i] = t
  end
  -- each run's own baseline, of the tables' metric (their names say it)
  local bases
  if args.baselines then
    local metric = csv.metric_of_name(args.runs[1]) or "em"
    for _, path in ipairs(args.runs) do
      if (csv.metric_of_name(path) or "em") ~= metric then
        cli.fail("%s is an %s table but %s an %s one: one metric per call", path,
          (csv.metric_of_name(path) or "em"):upper(), args.runs[1], metric:upper())
      end
    end
    local key = metric == "f1" and "f1" or "exact_match"
    bases = {}
    for i, path in ipairs(args.baselines) do
      local ok, b = pcall(zl.json.read, path)
      if not ok then cli.fail("%s", tostring(b)) end
      local v = type(b) == "table" and b[key]
      if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
        cli.fail("%s: field '%s' (the %s baseline of %s) is missing or not a finite number", path,
          key, metric:upper(), args.runs[i])
      end
      bases[i] = v
    end
  end
  local mean_rows, std_rows, diff_rows = {}, {}, {}
  for l = 1, nlayers do
    mean_rows[l], std_rows[l], diff_rows[l] = { layer = l }, { layer = l }, { layer = l }
    for _, z in ipairs(zones) do
      local xs, ds = {}, {}
      for i, t in ipairs(runs) do
        xs[i] = t.rows[l][z]
        if bases and xs[i] then ds[i] = xs[i] - bases[i] end
      end
      if #xs > 0 then
        mean_rows[l][z], std_rows[l][z] = stats.mean(xs), stats.std(xs)
        diff_rows[l][z] = stats.std(ds)
      end
    end
  end
  mean_tbl = { zones = zones, rows = mean_rows }
  if ref then check_reference() end -- before writing anything
  local out = need_dir()
  csv.write_results(out .. "/mean.csv", mean_tbl)
  cli.wrote(out .. "/mean.csv", string.format("mean of %d run%s", #runs, #runs > 1 and "s" or ""))
  csv.write_results(out .. "/std.csv", { zones = zones, rows = std_rows })
  cli.wrote(out .. "/std.csv", #runs > 1 and "sample std" or "empty cells: one run has no std")
  if bases then
    csv.write_results(out .. "/std_diff.csv", { zones = zones, rows = diff_rows })
    cli.wrote(out .. "/std_diff.csv", #runs > 1 and "sample std of (cell - the run's baseline)"
      or "empty cells: one run has no std")
  end
end

-- ---- standard deviation of the differences to a reference ----
if ref then
  local parts = {}
  for _, z in ipairs(zones) do
    local diffs = {}
    for l = 1, nlayers do
      if mean_tbl.rows[l][z] then diffs[#diffs + 1] = mean_tbl.rows[l][z] - ref.rows[l][z] end
    end
    local s = stats.std(diffs)
    parts[#parts + 1] = string.format('"%s": %s', z, s and zl.json.float(s) or "null")
  end
  print(string.format('{"std_of_difference": {%s}}', table.concat(parts, ", ")))
end

-- ---- paired bootstrap over questions ----
if args.per_question then
  local scoring = require "zonelab.scoring"
  local dir = args.per_question:gsub("/+$", "")
  if lfs.attributes(dir, "mode") ~= "directory" then cli.fail("%s: not a folder", dir) end
  local key = args.use_f1 and "f1" or "em"
  local n = nlayers
  if not n then -- no runs: count the layers present
    n = 0
    while lfs.attributes(string.format("%s/per_question_layer%d_%s.json", dir, n, csv.ZONES[1]), "mode") do
      n = n + 1
    end
    if n == 0 then cli.fail("%s: no per_question_layer0_%s.json", dir, csv.ZONES[1]) end
  end
  local base = protect(scoring.read_per_question, dir .. "/per_question.json")
  local b = {}
  for i, id in ipairs(base.ids) do b[i] = base[key][id] end
  local rows, nsig = {}, 0
  for l = 0, n - 1 do
    for _, z in ipairs(zones or csv.ZONES) do
      local path = string.format("%s/per_question_layer%d_%s.json", dir, l, z)
      local swept = not mean_tbl or mean_tbl.rows[l + 1][z] ~= nil
      if swept and not lfs.attributes(path, "mode") then cli.fail("%s: missing", path) end
      if swept then
        local m = protect(scoring.read_per_question, path)
        local a = {}
        for i, id in ipairs(base.ids) do
          a[i] = m[key][id]
          if a[i] == nil then cli.fail("%s: no score for question %s (of the baseline)", path, id) end
        end
        local ci = stats.paired_bootstrap(a, b, { resamples = B, seed = seed })
        if ci.significant then nsig = nsig + 1 end
        rows[#rows + 1] = { tostring(l + 1), z, ci.diff, ci.lo, ci.hi, ci.significant and "1" or "0" }
      end
    end
  end
  local out = need_dir() .. "/significance.csv"
  csv.write(out, { "layer", "zone", "diff", "ci_low", "ci_high", "significant" }, rows, "%.4f")
  cli.wrote(out, string.format("%d of %d cells differ from the baseline (95%%, %d resamples, %s)",
    nsig, #rows, B, key == "em" and "EM" or "F1"))
end
