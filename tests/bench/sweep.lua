-- tests/bench/sweep.lua — the protocol's data collection: one sweep (baseline + 12 layers x
-- 5 zones) against the reference procedure (61 separate decodes padded to max_seq_length).
--
--   zonelab tests/bench/sweep.lua [--quick] [--threads N] [--padding dynamic|max] [--precision bf16 [--rounds R]]
--
-- A BERT-base-shaped random model over generated questions whose features follow SQuAD
-- dev's length distribution (log-normal, median ~169, mean ~183 tokens) at the protocol's
-- max_seq_length 512: one average batch of 32 features of the dev set as the sweep batches it
-- (below). --quick: 2 features (169 and 197 tokens) instead, same shapes. Prints one JSON
-- line with baseline_s (one unmasked decode, dynamic padding: the mean of 3 runs before and
-- 3 after the sweep; baseline_min_s, baseline_max_s), sweep_s, naive_s (a few
-- separate padded decodes, scaled to 61), sweep_over_naive, sweep_over_baseline,
-- counted_over_baseline (the same ratio from the work the engine counts: no clock noise),
-- floor_over_baseline ((L + 5 * L(L+1)/2) / L: the floor of cached layer inputs alone, at
-- one width; the rows path and dynamic padding go below it), identical (the sweep's
-- predictions equal separate decodes' with the same options, for every configuration
-- measured both ways), differ_from_reference (answers of those configurations that the
-- max-padded reference decodes give differently: dynamic padding only), dev_mean_width and
-- batch_width (the full run's batch), and peak_rss_mb.
--
-- --precision bf16 (core/bf16.h) measures instead, on the same batch, the sweep in fp32 and
-- in bf16 alternating for R rounds (default 2: fp32, bf16, bf16, fp32; 1 for a short full
-- run on a loaded host: fp32, bf16), after an untimed baseline of each (thread start-up, the
-- weights' bf16 copy, oneDNN's primitives), and prints sweep_fp32_s, sweep_bf16_s (means of
-- their runs), bf16_speedup (their ratio), rounds, identical_bf16 (the
-- bf16 sweep's files equal a separate bf16 decode's, byte for byte) and answers_equal_fp32
-- (the share of answers, over every configuration, that bf16 leaves unchanged: a random
-- model's, docs/performance.md has a trained one's); no naive decodes.
local zl = require "zonelab"
local qa = require "zonelab.qa"

local cli = require "zonelab.cli"

local p = cli.parser("tests/bench/sweep.lua", "The sweep against naive decodes, or fp32 against bf16.")
p:flag("--quick", "2 features instead of an average dev-set batch of 32.")
cli.add_threads(p)
p:option("--padding", "Padding of the decodes.", "dynamic"):choices { "dynamic", "max" }
p:option("--precision", "bf16: fp32 and bf16 sweeps of the same batch, alternating.", "fp32"):choices { "fp32", "bf16" }
p:option("--rounds", "With --precision bf16: alternating rounds (default 2).")
local args = cli.parse(p)
cli.apply_threads(args)
local quick, padding, precision = args.quick, args.padding, args.precision
local rounds = args.rounds and cli.integer(args.rounds, "--rounds", 1, 1000) or 2
local N_FEATURES = quick and 2 or 32
local SEQ, BATCH, L = 512, 32, 12

local p = io.popen("mktemp -d")
local dir = p:read("l")
p:close()

-- vocabulary: specials + whole words "w1".."wK" (one piece each), lower-case
local K = 30000
local words = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }
for k = 1, K do words[#words + 1] = "w" .. k end
zl.io.write_atomic(dir .. "/vocab.txt", table.concat(words, "\n") .. "\n")

-- questions of 11 words over passages whose feature lengths follow SQuAD dev's
local seed = 987654321
local function rand()
  seed = (seed * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff
  return ((seed >> 11) % (1 << 40)) / (1 << 40)
end
local function normal()
  return math.sqrt(-2 * math.log(1 - rand())) * math.cos(2 * math.pi * rand())
end
local function word() return "w" .. (1 + math.floor(rand() * K)) end
-- The features: one batch of the dev set as the sweep would batch it. The sweep sorts the
-- features by length and pads each batch to its longest, so on SQuAD dev (~10,600
-- features, 331 batches of 32) a batch's features are of nearly one length. 32 features
-- drawn independently and decoded as one batch would pad all to the longest of the 32 (about
-- twice the mean), which no batch of the real dev set does. So the full run draws 10,600
-- lengths, sorts them into batches of 32 and takes the batch whose padded width is nearest
-- the mean padded width over all batches: an average batch of the dev set.
local function draw() return math.max(40, math.min(SEQ, math.floor(169 * math.exp(0.4 * normal()) + 0.5))) end
local DEV_FEATURES = 10600
local feature_lengths, dev_mean_width
if quick then
  feature_lengths = { 169, 197 } -- mean 183: the quick run keeps SQuAD's mean
else
  local all = {}
  for i = 1, DEV_FEATURES do all[i] = draw() end
  table.sort(all)
  local widths, total = {}, 0
  for b = 1, math.ceil(DEV_FEATURES / BATCH) do
    widths[b] = all[math.min(b * BATCH, DEV_FEATURES)]
    total = total + widths[b] * (math.min(b * BATCH, DEV_FEATURES) - (b - 1) * BATCH)
  end
  dev_mean_width = total / DEV_FEATURES
  local pick, best = 1, math.huge
  for b = 1, #widths - 1 do
    if math.abs(widths[b] - dev_mean_width) < best then pick, best = b, math.abs(widths[b] - dev_mean_width) end
  end
  feature_lengths = {}
  for i = 1, BATCH do feature_lengths[i] = all[(pick - 1) * BATCH + i] end
end
local paragraphs, lengths = {}, 0
for q = 1, N_FEATURES do
  local total = feature_lengths[q]
  local n = total - 11 - 3
  local ctx = {}
  for w = 1, n do ctx[w] = word() end
  local question = {}
  for w = 1, 11 do question[w] = word() end
  local a = 1 + math.floor(rand() * (n - 3))
  local answer = table.concat(ctx, " ", a, a + 2)
  local context = table.concat(ctx, " ")
  local start = #table.concat(ctx, " ", 1, a - 1) + (a > 1 and 1 or 0)
  paragraphs[q] = { context = context, qas = { {
    id = string.format("q%03d", q), question = table.concat(question, " ") .. "?",
    answers = { { text = answer, answer_start = start } } } } }
  lengths = lengths + total
end
zl.json.write(dir .. "/dev.json", { version = "1.1", data = { { title = "bench", paragraphs = paragraphs } } })

local bert = zl.bert.new({ vocab_size = #words, hidden_size = 768, num_hidden_layers = L,
                           num_attention_heads = 12, intermediate_size = 3072,
                           max_position_embeddings = 512, type_vocab_size = 2 }, { seed = 1 })
local tok = zl.tokenizer.load(dir .. "/vocab.txt", { lower = true })
local model = qa.wrap_model(bert, tok)
local data = qa.load_data(dir .. "/dev.json", model, { max_seq_length = SEQ, doc_stride = 128 })

local function run(configs, pad, out, prec)
  os.execute("mkdir -p '" .. dir .. "/" .. out .. "'")
  local t0 = zl.clock()
  qa.run(model, data, configs, { out = dir .. "/" .. out, batch = BATCH, padding = pad, precision = prec,
                                 label = out, quiet = true, force = true, progress = false })
  return zl.clock() - t0
end

local all_configs = { { zone = "none" } }
for l = 1, L do -- layers count from 1
  for _, z in ipairs(qa.ZONES) do all_configs[#all_configs + 1] = { zone = z, layer = l } end
end

-- The work the engine counts (zl_sweep_batch_cost, which tests/core/test_sweep.c checks
-- against the passes actually run): the same ratio without the clock's noise.
local function counted(configs, pad)
  local s = zl.sweep.new(bert, data.ds, data.feats, configs, { batch = BATCH, padding = pad })
  local c = 0
  for b = 1, s:batches() do c = c + s:batch_cost(b) end
  return c
end
local counted_over_baseline = counted(all_configs, padding) / counted({ { zone = "none" } }, "dynamic")
collectgarbage()

if precision == "bf16" then
  zl.bert.check_precision("bf16") -- one line when bf16 cannot run here
  run({ { zone = "none" } }, "dynamic", "warm32", "fp32")
  run({ { zone = "none" } }, "dynamic", "warm16", "bf16")
  local t = { fp32 = 0, bf16 = 0 }
  for r = 1, rounds do
    local order = r % 2 == 1 and { "fp32", "bf16" } or { "bf16", "fp32" }
    for _, p in ipairs(order) do t[p] = t[p] + run(all_configs, padding, "sweep_" .. p, p) / rounds end
  end
  local c = quick and { zone = "p2q", layer = 6 } or { zone = "p2q", layer = 7 }
  run({ c }, padding, "single_bf16", "bf16")
  local name = qa.predictions_name(c)
  local identical = zl.io.read(dir .. "/single_bf16/" .. name) == zl.io.read(dir .. "/sweep_bf16/" .. name)
  local same, total = 0, 0
  for _, cf in ipairs(all_configs) do
    local a = zl.json.read(dir .. "/sweep_fp32/" .. qa.predictions_name(cf))
    local b = zl.json.read(dir .. "/sweep_bf16/" .. qa.predictions_name(cf))
    for id, text in pairs(a) do
      total = total + 1
      if b[id] == text then same = same + 1 end
    end
  end
  os.execute("rm -rf '" .. dir .. "'")
  print(zl.json.encode {
    bench = "sweep_bf16", model = "bert-base (random)", features = #data.feats,
    mean_length = lengths / N_FEATURES, max_seq_length = SEQ, batch = BATCH, padding = padding,
    threads = zl.get_threads(), configurations = #all_configs, sweep_fp32_s = t.fp32,
    sweep_bf16_s = t.bf16, bf16_speedup = t.fp32 / t.bf16, rounds = rounds, identical_bf16 = identical,
    answers_equal_fp32 = same / total, answers_checked = total,
    dev_mean_width = dev_mean_width, batch_width = feature_lengths[#feature_lengths],
    peak_rss_mb = zl.peak_rss_mb(),
  })
  return
end

-- The baseline: the mean of 3 runs before and 3 after the sweep, after one untimed run
-- that pays for first-touch allocation and thread start-up. The sweep runs for a minute
-- or more at the machine's average speed, which drifts on a shared host (a single cold
-- baseline varied from 1.6 s to 2.4 s on a quiet machine); the mean of runs around it
-- measures the same average, where one short run or the best of a few does not.
local baseline_runs = {}
local function baselines()
  for _ = 1, 3 do baseline_runs[#baseline_runs + 1] = run({ { zone = "none" } }, "dynamic", "baseline") end
end
run({ { zone = "none" } }, "dynamic", "baseline")
baselines()
local sweep_s = run(all_configs, padding, "sweep")
baselines()
local baseline_s, baseline_min, baseline_max = 0, math.huge, 0
for _, t in ipairs(baseline_runs) do
  baseline_s = baseline_s + t / #baseline_runs
  baseline_min, baseline_max = math.min(baseline_min, t), math.max(baseline_max, t)
end
-- the reference procedure: each configuration its own decode, padded to max_seq_length
local naive = quick and { { zone = "none" }, { zone = "p2q", layer = 6 } }
  or { { zone = "none" }, { zone = "q2", layer = 1 }, { zone = "p2q", layer = 7 }, { zone = "all", layer = 12 } }
-- identical: the sweep's files equal separate decodes with the same options (padding
-- included), byte for byte. Against the max-padded reference decodes, dynamic padding can
-- change an answer by design (padding logits leave the n-best ranking: docs/performance.md);
-- differ_from_reference counts those answers, for the record.
local function answers(path) return zl.json.read(path) end
local naive_total, identical, differ = 0, true, 0
for _, c in ipairs(naive) do
  naive_total = naive_total + run({ c }, "max", "naive")
  local sweep_file = dir .. "/sweep/" .. qa.predictions_name(c)
  if padding == "max" then
    if zl.io.read(dir .. "/naive/" .. qa.predictions_name(c)) ~= zl.io.read(sweep_file) then identical = false end
  else
    run({ c }, padding, "single")
    if zl.io.read(dir .. "/single/" .. qa.predictions_name(c)) ~= zl.io.read(sweep_file) then identical = false end
    local ref, got = answers(dir .. "/naive/" .. qa.predictions_name(c)), answers(sweep_file)
    for id, text in pairs(ref) do if got[id] ~= text then differ = differ + 1 end end
  end
end
local naive_s = naive_total / #naive * #all_configs
os.execute("rm -rf '" .. dir .. "'")

print(zl.json.encode {
  bench = "sweep", model = "bert-base (random)", features = #data.feats, mean_length = lengths / N_FEATURES,
  max_seq_length = SEQ, batch = BATCH, padding = padding, threads = zl.get_threads(),
  configurations = #all_configs, baseline_s = baseline_s, baseline_min_s = baseline_min,
  baseline_max_s = baseline_max, sweep_s = sweep_s, naive_s = naive_s,
  naive_measured = #naive, sweep_over_naive = sweep_s / naive_s,
  sweep_over_baseline = sweep_s / baseline_s, counted_over_baseline = counted_over_baseline,
  floor_over_baseline = (L + 5 * L * (L + 1) / 2) / L,
  identical = identical, identical_checked = #naive, differ_from_reference = differ,
  answers_checked = #naive * N_FEATURES, dev_features = not quick and DEV_FEATURES or nil,
  dev_mean_width = dev_mean_width, batch_width = feature_lengths[#feature_lengths],
  peak_rss_mb = zl.peak_rss_mb(),
})
