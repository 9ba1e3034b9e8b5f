-- sweep.lua — protocol step 7 in one process: the baseline and every zone x layer masked
-- decode of a file (model and features loaded once, work shared batch by batch), the
-- same files as decode.lua, then results.csv (EM) and results_f1.csv by the aggregate
-- recipe's own code (protocol step 8).
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local qa_cli = require "zonelab.qa_cli"
local zl = require "zonelab"

local p = cli.parser("recipes/sweep.lua", [[
  Decode --predict without a mask and with each zone of --zones masked at each layer of --layers,
  writing into --out the files decode.lua writes (predictions.json, predictions_layer{L}_{Z}.json
  with L = layer - 1, 0-based as the reference names them, nbest and metrics files), then
  results.csv (EM) and results_f1.csv (layers numbered from 1, 3 decimals) plus baseline.json, as
  recipes/aggregate.lua writes them, when the file has answers. Each configuration's predictions
  file is a checkpoint: a rerun skips finished configurations (unless --force) and ends with
  identical files; an interrupted run also continues from its last batch checkpoint
  (--out/.sweep-partial, written at most once a minute) when rerun with the same options. The
  files equal those of separate decode.lua runs with the same options, byte for byte. See
  docs/recipes.md.]], [[
Examples:
  zonelab recipes/sweep.lua --model run/model --predict dev-v1.1.json --out run/predictions
  zonelab recipes/sweep.lua --model run/model --predict dev-v1.1.json --out run/predictions \
      --zones q2,p2 --layers 1-6 --max-seq-length 512 --batch 64 --threads 2]])
qa_cli.add_options(p)
p:option("--zones", "Comma-separated zones (" .. qa.zone_list() .. ").", "all,q2,q2p,p2q,p2")
p:option("--layers", "Layers to mask, 1-based as in the paper's tables: ranges and lists " ..
  "such as 1-12 or 1,3,5-7 (default: every layer of the model).")
p:flag("--force", "Redo every configuration, even those whose predictions file exists.")
p:option("--shard", "Run only shard I of N (1-based, e.g. 2/8) of the work, into " ..
  "--out/shard-I-of-N/ with a manifest.json (checksums of the model, data, options and " ..
  "outputs); shards run anywhere, in any order, and can be rerun. Merge them with " ..
  "`zonelab recipes/aggregate.lua --merge OUT`. Configurations are dealt round-robin; with " ..
  "more shards than configurations each shard decodes a range of the questions. See docs/scale.md.")
p:option("--shard-by", "How --shard splits: configs (round-robin), questions (contiguous " ..
  "ranges of the questions, every configuration: no repeated work) or auto (configs unless " ..
  "there are more shards than configurations).", "auto"):choices { "auto", "configs", "questions" }
local args = cli.parse(p)
local shard = require "zonelab.shard"
local shard_i, shard_n, root, plan, configs, questions
if args.shard then
  shard_i, shard_n = shard.parse(args.shard)
  root = args.out:gsub("/+$", "")
  args.out = shard.dirname(root, shard_i, shard_n)
end

local zones, seen = {}, {}
for z in (args.zones .. ","):gmatch("([^,]*),") do
  z = z:gsub("^%s+", ""):gsub("%s+$", "")
  if z == "" then cli.fail("--zones: empty zone name in '%s'", args.zones) end
  qa_cli.zone(z)
  if not seen[z] then zones[#zones + 1] = z; seen[z] = true end
end

--- "1-3,7" -> {1, 2, 3, 7} (1-based, sorted, unique), checked against the model.
local function parse_layers(spec, n)
  local set = {}
  for part in (spec .. ","):gmatch("([^,]*),") do
    local a, b = part:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
    if not a then a = part:match("^%s*(%d+)%s*$"); b = a end
    if not a then cli.fail("--layers: '%s' is not a layer or a range like 1-%d", part, n) end
    a, b = tonumber(a), tonumber(b)
    if a > b then cli.fail("--layers: range %s runs backwards", part) end
    if a < 1 or b > n then
      cli.fail("--layers %s is out of range: the model has %d layers (1..%d, 1-based)", spec, n, n)
    end
    for l = a, b do set[l] = true end
  end
  local out = {}
  for l = 1, n do if set[l] then out[#out + 1] = l end end
  return out
end

local layers
local predict = args.predict
local model, data, opts = qa_cli.setup(args, function(model)
  layers = parse_layers(args.layers or ("1-" .. model.layers), model.layers)
  configs = { { zone = "none" } }
  for _, l in ipairs(layers) do
    for _, z in ipairs(zones) do configs[#configs + 1] = { zone = z, layer = l } end
  end
  if shard_n then
    -- the split, decided before the features are built: a question range is its own file
    local json = zl.json.read(predict)
    questions = shard.count_questions(json)
    plan = shard.plan(#configs, questions, shard_i, shard_n, args.shard_by)
    if plan.split == "questions" then
      cli.lock(args.out) -- this shard's folder: shards of one --out run side by side
      args.predict = args.out .. "/questions.json"
      -- rewritten only when it changes: its time stamp is part of a resumable run's identity
      local text = zl.json.encode(shard.subset(json, plan.first, plan.last))
      local ok, old = pcall(zl.io.read, args.predict)
      if not ok or old ~= text then zl.io.write_atomic(args.predict, text) end
    end
  end
end)
opts.force = args.force
opts.label = "sweep"

local all_configs, manifest = configs, nil
if plan then
  manifest = {
    shard = shard_i, shards = shard_n, split = plan.split, total_questions = questions,
    model = shard.model_digest(args.model),
    dataset = { path = predict, sha256 = shard.sha256_files({ predict })[predict] },
    options = {
      max_seq_length = data.opts.max_seq_length, doc_stride = data.opts.doc_stride,
      max_query_length = data.opts.max_query_length, batch = opts.batch, padding = opts.padding,
      n_best_size = opts.n_best_size, max_answer_length = opts.max_answer_length,
      lower = model.lower, cmrc = model.cmrc, zones = zones, layers = layers,
      precision = opts.precision,
    },
    model_layers = model.layers, has_answers = data.has_answers, configs = {}, outputs = {},
  }
  for k, c in ipairs(all_configs) do
    manifest.configs[k] = { label = qa.label(c), zone = c.zone, layer = c.layer,
      files = { qa.predictions_name(c), qa.nbest_name(c), qa.metrics_name(c) } }
  end
  if plan.split == "configs" then
    configs = {}
    for _, k in ipairs(plan.configs) do configs[#configs + 1] = all_configs[k] end
    manifest.config_indexes = plan.configs
  else
    manifest.questions = { first = plan.first, last = plan.last }
  end
  for _, c in ipairs(configs) do
    for _, f in ipairs { qa.predictions_name(c), qa.nbest_name(c), qa.metrics_name(c) } do
      manifest.outputs[#manifest.outputs + 1] = f
    end
  end
  shard.check_rerun(args.out, manifest, args.force)
end
local t0 = zl.clock()
local results = qa.run(model, data, configs, opts)
local done, skipped = 0, 0
for _, r in ipairs(results) do
  if r.skipped then skipped = skipped + 1 else done = done + 1 end
end
print(string.format("sweep: %d configurations decoded, %d already done (skipped), %.1f s",
  done, skipped, zl.clock() - t0))
if manifest then
  shard.write_manifest(args.out, manifest)
  print(string.format("sweep: shard %d of %d (%s) finished in %s; when all %d are done: " ..
    "zonelab recipes/aggregate.lua --merge %s", shard_i, shard_n,
    plan.split == "configs" and string.format("%d of %d configurations", #configs, #all_configs)
      or string.format("questions %d-%d of %d", plan.first, plan.last, questions),
    args.out, shard_n, root))
  return
end

if not data.has_answers then
  print("sweep: " .. args.predict .. " has no answers: no scores, no results tables")
  return
end

-- Step 8 with the aggregate recipe's own function (zonelab.aggregate), the dataset loaded once.
require("zonelab.aggregate").tables(args.out, {
  dataset_path = args.predict, cmrc = args.cmrc, layers = model.layers, zones = zones, layer_list = layers,
})
