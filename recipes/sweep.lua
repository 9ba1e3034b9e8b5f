-- sweep.lua — protocol step 7 in one process: the baseline and every zone x layer masked
-- decode of a file (model and features loaded once, work shared batch by batch), the
-- same files as decode.lua, then results.csv (EM) and results_f1.csv by the aggregate
-- recipe's own code (protocol step 8).
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local qa_cli = require "zonelab.qa_cli"
local zl = require "zonelab"

local p = cli.parser("recipes/sweep.lua",
  "Decode --predict without a mask and with each zone of --zones masked at each layer of " ..
  "--layers, writing into --out the files decode.lua writes (predictions.json, " ..
  "predictions_layer{L}_{Z}.json with L 0-based as the reference names them, nbest and " ..
  "metrics files), then results.csv (EM) and results_f1.csv (layers numbered from 1, 3 " ..
  "decimals) plus baseline.json, as recipes/aggregate.lua writes them, when the file has " ..
  "answers. Each configuration's predictions file is a checkpoint: a rerun skips finished " ..
  "configurations (unless --force) and ends with identical files; an interrupted run also " ..
  "continues from its last batch checkpoint (--out/.sweep-partial, written at most once a " ..
  "minute) when rerun with the same options. The files equal those of separate decode.lua " ..
  "runs with the same options, byte for byte. See docs/recipes.md.",
  "Examples:\n" ..
  "  zonelab recipes/sweep.lua --model run/model --predict dev-v1.1.json --out run/predictions\n" ..
  "  zonelab recipes/sweep.lua --model run/model --predict dev-v1.1.json --out run/predictions \\\n" ..
  "      --zones q2,p2 --layers 1-6 --max-seq-length 512 --batch 64 --threads 2")
qa_cli.add_options(p)
p:option("--zones", "Comma-separated zones (" .. qa.zone_list() .. ").", "all,q2,q2p,p2q,p2")
p:option("--layers", "Layers to mask, 1-based as in the paper's tables: ranges and lists " ..
  "such as 1-12 or 1,3,5-7 (default: every layer of the model).")
p:flag("--force", "Redo every configuration, even those whose predictions file exists.")
local args = cli.parse(p)

local zones, seen = {}, {}
for z in (args.zones .. ","):gmatch("([^,]*),") do
  z = z:gsub("^%s+", ""):gsub("%s+$", "")
  if z == "" then cli.fail("--zones: empty zone name in '%s'", args.zones) end
  qa_cli.zone(z)
  if not seen[z] then zones[#zones + 1] = z; seen[z] = true end
end

--- "1-3,7" -> {0, 1, 2, 6} (0-based, sorted, unique), checked against the model.
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
    for l = a, b do set[l - 1] = true end
  end
  local out = {}
  for l = 0, n - 1 do if set[l] then out[#out + 1] = l end end
  return out
end

local layers
local model, data, opts = qa_cli.setup(args, function(model)
  layers = parse_layers(args.layers or ("1-" .. model.layers), model.layers)
end)
opts.force = args.force
opts.label = "sweep"

local configs = { { zone = "none" } }
for _, l in ipairs(layers) do
  for _, z in ipairs(zones) do configs[#configs + 1] = { zone = z, layer = l } end
end
local t0 = zl.clock()
local results = qa.run(model, data, configs, opts)
local done, skipped = 0, 0
for _, r in ipairs(results) do
  if r.skipped then skipped = skipped + 1 else done = done + 1 end
end
print(string.format("sweep: %d configurations decoded, %d already done (skipped), %.1f s",
  done, skipped, zl.clock() - t0))

if not data.has_answers then
  print("sweep: " .. args.predict .. " has no answers: no scores, no results tables")
  return
end

-- Step 8 with the aggregate recipe's own function (zonelab.aggregate), the dataset loaded once.
local full = #layers == model.layers
for _, z in ipairs(qa.ZONES) do if not seen[z] then full = false end end
local aggregate = require "zonelab.aggregate"
local gold = zl.metrics.load(args.predict)
local function tables(csv_name, use_f1)
  aggregate.run(args.out, args.out .. "/" .. csv_name, { dataset = gold, dataset_path = args.predict, use_f1 = use_f1,
    cmrc = args.cmrc, layers = model.layers, allow_missing = not full })
end
-- F1 first: baseline.json (rewritten by each run) ends up describing the EM table
tables("results_f1.csv", true)
tables("results.csv", false)
