-- tests/bench/precision.lua — what --precision bf16 changes in the protocol's results, on a
-- trained model: the sweep (baseline + every zone x layer) decoded in fp32 and in bf16 with
-- the same options, compared configuration by configuration.
--
--   zonelab tests/bench/precision.lua [--quick] [--threads N] [--out DIR]
--
-- The model and dev set are the demo preset's (recipes/protocol.lua --preset demo, seed 1:
-- pretrained, then fine-tuned; trained by this benchmark into DIR when absent, which takes
-- a few minutes, and reused after); --quick takes the tiny preset instead (seconds; a model
-- that does not learn). DIR defaults to $TMPDIR/zonelab-bench-precision-PRESET.
--
-- Prints one JSON line: agreement (the share of (configuration, question) pairs whose
-- predicted answer is the same text in both precisions), min_config_agreement and its
-- config, max_abs_em_delta and max_abs_f1_delta (the worst configuration's |bf16 - fp32|, in
-- points), mean_abs_em_delta, mean_abs_f1_delta, max_abs_prob_delta and max_abs_logit_delta
-- (the largest change of a question's best candidate's n-best probability and start logit
-- where both precisions chose the same answer: how far bf16 moved the numbers under answers
-- it did not change), baseline_em (fp32 and bf16), configs,
-- questions, and fp32_s, bf16_s (the two sweeps' times: a speed ratio on a 32-wide model,
-- not BERT-base's: tests/bench/sweep.lua --precision bf16 measures that).
local zl = require "zonelab"
local qa = require "zonelab.qa"
local lfs = require "lfs"

local cli = require "zonelab.cli"

local p = cli.parser("tests/bench/precision.lua", "What bf16 changes in a trained model's sweep.")
p:flag("--quick", "The tiny preset instead of the demo preset.")
cli.add_threads(p)
p:option("--out", "Where the model is trained when absent (default: a folder in TMPDIR).")
local args = cli.parse(p)
cli.apply_threads(args)
local quick, out = args.quick, args.out
-- where bf16 cannot run, one JSON line says why (make bench runs every benchmark)
local can, why = pcall(zl.bert.check_precision, "bf16")
if not can then
  print(zl.json.encode { bench = "precision", skipped = why })
  return
end

local preset = quick and "tiny" or "demo"
local settings = require("zonelab.synth").PRESETS[preset]
out = out or ((os.getenv("TMPDIR") or "/tmp") .. "/zonelab-bench-precision-" .. preset)
local root = require "zonelab.root"
local model_dir, dev = out .. "/seed1/model", out .. "/data/dev.json"

-- the trained model: the protocol's own steps (synthetic corpus, pretraining, fine-tuning),
-- one seed, no flows; its log beside the folder
if lfs.attributes(model_dir .. "/model.safetensors", "mode") ~= "file" then
  local exe = zl.executable() or arg[-1] or "zonelab"
  local log = out .. ".log"
  io.stderr:write(string.format("precision: training the %s preset's model into %s (log: %s)\n", preset, out, log))
  local argv = { exe, root .. "/recipes/protocol.lua", "--preset", preset, "--out", out, "--seeds", "1",
    "--flows", "0" }
  if args.threads then argv[#argv + 1] = "--threads"; argv[#argv + 1] = tostring(args.threads) end
  local how, code = zl.proc.wait(zl.proc.spawn(argv, { log = log, env = { ZONELAB_PROGRESS = "0" } }))
  if how ~= "exit" or code ~= 0 then
    error(string.format("precision: training failed (%s %s), see %s", how, tostring(code), log), 0)
  end
end

local model = qa.load_model(model_dir, {})
local data = qa.load_data(dev, model, { max_seq_length = settings.train.max_seq_length })
local configs = { { zone = "none" } }
for l = 1, model.layers do
  for _, z in ipairs(qa.ZONES) do configs[#configs + 1] = { zone = z, layer = l } end
end

local tmp = out .. "/precision-bench"
local function sweep(precision)
  local dir = tmp .. "/" .. precision
  require("zonelab.cli").ensure_dir(dir)
  local t0 = zl.clock()
  local res = qa.run(model, data, configs, { out = dir, batch = 32, padding = settings.decode.padding,
    precision = precision, force = true, quiet = true, progress = false, label = precision })
  return res, zl.clock() - t0
end
local r32, t32 = sweep("fp32")
local r16, t16 = sweep("bf16")

local same, total, max_em, max_f1, sum_em, sum_f1 = 0, 0, 0, 0, 0, 0
local min_agree, min_label = math.huge, nil
local max_prob, max_logit = 0, 0
for k, c in ipairs(configs) do
  local a, b = zl.json.read(r32[k].predictions), zl.json.read(r16[k].predictions)
  local s, n = 0, 0
  for id, text in pairs(a) do
    n = n + 1
    if b[id] == text then s = s + 1 end
  end
  same, total = same + s, total + n
  local na, nb = zl.json.read(r32[k].nbest), zl.json.read(r16[k].nbest)
  for id, list in pairs(na) do
    local x, y = list[1], nb[id] and nb[id][1]
    if x and y and x.text == y.text then
      max_prob = math.max(max_prob, math.abs(x.probability - y.probability))
      max_logit = math.max(max_logit, math.abs(x.start_logit - y.start_logit))
    end
  end
  if s / n < min_agree then min_agree, min_label = s / n, qa.label(c) end
  local dem = math.abs(r16[k].score.exact_match - r32[k].score.exact_match)
  local df1 = math.abs(r16[k].score.f1 - r32[k].score.f1)
  max_em, max_f1 = math.max(max_em, dem), math.max(max_f1, df1)
  sum_em, sum_f1 = sum_em + dem, sum_f1 + df1
end
for _, p in ipairs { "fp32", "bf16" } do
  for name in lfs.dir(tmp .. "/" .. p) do
    if name ~= "." and name ~= ".." then os.remove(tmp .. "/" .. p .. "/" .. name) end
  end
  lfs.rmdir(tmp .. "/" .. p)
end
lfs.rmdir(tmp)

print(zl.json.encode {
  bench = "precision", preset = preset, model = model_dir, layers = model.layers,
  hidden = model.config.hidden_size, questions = #data.ds, configs = #configs,
  threads = zl.get_threads(), agreement = same / total, min_config_agreement = min_agree,
  min_config = min_label, max_abs_em_delta = max_em, max_abs_f1_delta = max_f1,
  mean_abs_em_delta = sum_em / #configs, mean_abs_f1_delta = sum_f1 / #configs,
  max_abs_prob_delta = max_prob, max_abs_logit_delta = max_logit,
  baseline_em_fp32 = r32[1].score.exact_match, baseline_em_bf16 = r16[1].score.exact_match,
  baseline_f1_fp32 = r32[1].score.f1, baseline_f1_bf16 = r16[1].score.f1,
  fp32_s = t32, bf16_s = t16,
})
