-- zonelab.aggregate — protocol step 8 (the reference's get_results.py) as a function:
-- score every masked decode in a prediction folder and write results.csv (one row per
-- layer, one column per zone) plus baseline.json beside it. recipes/aggregate.lua and
-- recipes/sweep.lua both call it.
--
--   require("zonelab.aggregate").run("run/predictions", "run/results.csv",
--     {dataset = "dev-v1.1.json", use_f1 = false, cmrc = false, allow_missing = false,
--      layers = nil, per_question = nil, quiet = false})
local cli = require "zonelab.cli"
local csv = require "zonelab.csv"
local lfs = require "lfs"
local progress = require "zonelab.progress"
local scoring = require "zonelab.scoring"
local zl = require "zonelab"

local M = {}

--- Most encoder layers of a model zonelab loads (core/bert.h ZL_BERT_MAX_LAYERS).
M.MAX_LAYERS = 256

--- Scores pred_dir into the results CSV. opts.dataset is a path or a dataset loaded with
--- zl.metrics.load (then opts.dataset_path names it in baseline.json); opts.layers a layer count (default: the highest L found, plus 1);
--- opts.quiet silences the progress bar and the printed lines. Returns the rows, the
--- baseline score and the every-layer scores.
function M.run(pred_dir, results, opts)
  zl.check_options(opts, { "dataset", "dataset_path", "use_f1", "cmrc", "allow_missing", "layers",
    "per_question", "quiet" }, "aggregate.run")
  opts = opts or {}
  local args = {
    prediction_dir = pred_dir, results = results, dataset = opts.dataset,
    use_f1 = opts.use_f1, cmrc = opts.cmrc, allow_missing = opts.allow_missing,
    layers = opts.layers, per_question = opts.per_question,
  }
  local say = opts.quiet and function() end or print
  local wrote = opts.quiet and function() end or cli.wrote
  local dir = args.prediction_dir:gsub("/+$", "")
  if lfs.attributes(dir, "mode") ~= "directory" then cli.fail("%s: not a folder", dir) end

  -- What is in the folder.
  local KNOWN = {}
  for _, z in ipairs(csv.ZONES) do KNOWN[z] = true end
  -- a layer number past the run's --layers (or past any model zonelab runs) is refused at
  -- once: one stray predictions_layer99999999_q2.json would otherwise mean minutes of
  -- looking for the files of every layer below it
  local limit = args.layers and cli.integer(args.layers, "--layers", 1, M.MAX_LAYERS)
  local max_layer, every_layer_files, ignored = -1, {}, {}
  for name in lfs.dir(dir) do
    local l, z = name:match("^predictions_layer(%d+)_(.+)%.json$")
    local ez = name:match("^predictions_layer_(.+)%.json$")
    if l then
      if KNOWN[z] then
        local n = tonumber(l)
        if n >= (limit or M.MAX_LAYERS) then
          cli.fail("%s/%s: layer %s is outside %s (layers 0..%d)", dir, name, l,
            limit and string.format("the run's %d layers", limit)
            or string.format("any model zonelab runs (at most %d layers)", M.MAX_LAYERS),
            (limit or M.MAX_LAYERS) - 1)
        end
        max_layer = math.max(max_layer, n)
      else
        ignored[#ignored + 1] = name
      end
    elseif ez then
      if KNOWN[ez] then every_layer_files[ez] = true else ignored[#ignored + 1] = name end
    end
  end
  table.sort(ignored)
  for _, name in ipairs(ignored) do
    io.stderr:write(string.format("note: %s/%s: unknown zone, ignored\n", dir, name))
  end
  local nlayers = limit or max_layer + 1
  if nlayers < 1 then
    cli.fail("%s: no predictions_layer{L}_{zone}.json files (zones %s)", dir, table.concat(csv.ZONES, ", "))
  end

  -- Check every file before the (slow) scoring.
  local jobs, missing = {}, {}
  local function want(path, key)
    if lfs.attributes(path, "mode") == "file" then
      jobs[#jobs + 1] = { path = path, key = key }
    else
      missing[#missing + 1] = path
    end
  end
  want(dir .. "/predictions.json", { baseline = true })
  for l = 0, nlayers - 1 do
    for _, z in ipairs(csv.ZONES) do
      want(string.format("%s/predictions_layer%d_%s.json", dir, l, z), { layer = l, zone = z })
    end
  end
  for _, z in ipairs(csv.ZONES) do
    if every_layer_files[z] then
      jobs[#jobs + 1] = { path = string.format("%s/predictions_layer_%s.json", dir, z), key = { every = z } }
    end
  end
  if #missing > 0 and not args.allow_missing then
    cli.fail("%s: missing%s (use --allow-missing to leave empty cells)", missing[1],
      #missing > 1 and string.format(", and %d more prediction files", #missing - 1) or "")
  end
  for _, m in ipairs(missing) do io.stderr:write(string.format("warning: %s: missing, cell left empty\n", m)) end

  local results_dir = args.results:match("^(.*)/[^/]*$") or "."
  cli.ensure_dir(results_dir)
  -- temporaries a killed run left beside the two files written here
  do
    local own = { [args.results:match("[^/]*$")] = true, ["baseline.json"] = true }
    for entry in lfs.dir(results_dir) do
      local base = entry:match("^(.+)%.tmp%.[%w]+$")
      if base and own[base] then os.remove(results_dir .. "/" .. entry) end
    end
  end
  if args.per_question then cli.ensure_dir(args.per_question) end
  local ds = type(args.dataset) == "string" and zl.metrics.load(args.dataset) or args.dataset
  local rows, baseline, every = {}, nil, {}
  for l = 1, nlayers do rows[l] = { layer = l } end
  local bar = progress.new { total = #jobs, label = "aggregate", unit = "files",
    tty = opts.quiet and false or nil }
  if opts.quiet then bar.mode = "quiet" end
  for _, job in ipairs(jobs) do
    local r = scoring.score(ds, job.path, { cmrc = args.cmrc, per_question = args.per_question ~= nil })
    local k = job.key
    local pq_name
    if k.baseline then
      baseline = r
      pq_name = "per_question.json"
    elseif k.every then
      every[k.every] = { exact_match = r.exact_match, f1 = r.f1 }
      pq_name = string.format("per_question_layer_%s.json", k.every)
    else
      -- get_results.py rounds to 3 decimals; the CSV writer formats with "%.3f"
      rows[k.layer + 1][k.zone] = args.use_f1 and r.f1 or r.exact_match
      pq_name = string.format("per_question_layer%d_%s.json", k.layer, k.zone)
    end
    if args.per_question then scoring.write_per_question(args.per_question .. "/" .. pq_name, r) end
    bar:step(1)
  end
  bar:done()

  csv.write_results(args.results, { zones = csv.ZONES, rows = rows })
  wrote(args.results, string.format("%d layers, %s", nlayers, args.use_f1 and "F1" or "EM"))
  if baseline then
    local bpath = results_dir .. "/baseline.json"
    zl.json.write(bpath, {
      exact_match = baseline.exact_match, f1 = baseline.f1, total = baseline.total,
      missing = baseline.missing, metric = args.use_f1 and "f1" or "exact_match",
      scoring = args.cmrc and "cmrc" or "squad", -- which official script's scores these are
      predictions = dir .. "/predictions.json",
      dataset = type(args.dataset) == "string" and args.dataset or opts.dataset_path,
      every_layer = next(every) and every or nil,
    }, { pretty = true })
    wrote(bpath, "baseline")
    say("baseline: " .. scoring.line(baseline))
  end
  for _, z in ipairs(csv.ZONES) do
    if every[z] then say(string.format("every layer %s: %s", z, scoring.line(every[z]))) end
  end
  if args.per_question then wrote(args.per_question, "per-question scores") end
  return rows, baseline, every
end

--- What sweep.lua writes after its decodes: results_f1.csv then results.csv (so that
--- baseline.json describes the EM table) in out. opts: dataset_path, dataset (loaded, else
--- read from dataset_path), cmrc, layers (the model's count), zones and layer_list (1-based)
--- that were swept: missing cells are allowed unless every zone at every layer was.
function M.tables(out, opts)
  zl.check_options(opts, { "dataset_path", "dataset", "cmrc", "layers", "zones", "layer_list" },
    "aggregate.tables")
  local full = #opts.layer_list == opts.layers
  local seen = {}
  for _, z in ipairs(opts.zones) do seen[z] = true end
  for _, z in ipairs(csv.ZONES) do if not seen[z] then full = false end end
  local gold = opts.dataset or zl.metrics.load(opts.dataset_path)
  for _, t in ipairs { { "results_f1.csv", true }, { "results.csv", false } } do
    M.run(out, out .. "/" .. t[1], { dataset = gold, dataset_path = opts.dataset_path, use_f1 = t[2],
      cmrc = opts.cmrc, layers = opts.layers, allow_missing = not full })
  end
end

--- Merges the shards of `sweep.lua --shard I/N --out out` (zonelab.shard) into out, then
--- writes what the unsharded sweep writes there (metrics files, results tables,
--- baseline.json). opts.dataset: the dataset's path when it is no longer where the shards
--- read it (its sha256 must match theirs).
function M.merge(out, opts)
  zl.check_options(opts, { "dataset" }, "aggregate.merge")
  opts = opts or {}
  local shard = require "zonelab.shard"
  local scoring_opts
  out = out:gsub("/+$", "")
  local m, names = shard.merge(out, opts)
  local path = opts.dataset or m.dataset.path
  if lfs.attributes(path, "mode") ~= "file" then
    cli.fail("%s: the shards' dataset is not there; pass its path on this machine with --dataset", path)
  end
  local hex = shard.sha256_files({ path })[path]
  if hex ~= m.dataset.sha256 then
    cli.fail("%s: not the dataset the shards decoded (sha256 %s, the shards recorded %s for %s)",
      path, hex:sub(1, 12), m.dataset.sha256:sub(1, 12), m.dataset.path)
  end
  local say = opts.quiet and function() end or print
  say(string.format("merge: %d shards (%s split) agree on model, data and options; %d configurations",
    m.shards, m.split, #names))
  local any_answers = false
  for i = 1, m.shards do
    local mi = zl.json.read(shard.dirname(out, i, m.shards) .. "/manifest.json")
    if mi.has_answers then any_answers = true end
  end
  if not any_answers then
    say("merge: " .. path .. " has no answers: no scores, no results tables")
    return m
  end
  local gold = zl.metrics.load(path)
  if m.split == "questions" then
    -- each shard scored its own questions: score the merged files as sweep.lua would
    scoring_opts = { cmrc = m.options.cmrc, per_question = false, quiet = true }
    for _, c in ipairs(m.configs) do
      local r = scoring.score(gold, out .. "/" .. c.files[1], scoring_opts)
      zl.json.write(out .. "/" .. c.files[3], {
        exact_match = r.exact_match, f1 = r.f1, total = r.total, missing = r.missing, predictions = c.files[1],
        scoring = m.options.cmrc and "cmrc" or "squad",
      }, { pretty = true })
    end
  end
  M.tables(out, { dataset = gold, dataset_path = m.dataset.path, cmrc = m.options.cmrc,
    layers = m.model_layers, zones = m.options.zones, layer_list = m.options.layers })
  return m
end

return M
