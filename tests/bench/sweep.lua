-- tests/bench/sweep.lua — the protocol's data collection: one sweep (baseline + 12 layers x
-- 5 zones) against the reference procedure (61 separate decodes padded to max_seq_length).
--
--   zonelab tests/bench/sweep.lua [--quick] [--threads N] [--padding dynamic|max]
--
-- A BERT-base-shaped random model over generated questions whose features follow SQuAD
-- dev's length distribution (log-normal, median ~169, mean ~183 tokens) at the protocol's
-- max_seq_length 512. --quick: 2 features (169 and 197 tokens) instead of 32, same shapes. Prints one JSON
-- line with baseline_s (one unmasked decode, dynamic padding), sweep_s, naive_s (a few
-- separate padded decodes, scaled to 61), sweep_over_naive, sweep_over_baseline,
-- floor_over_baseline ((L + 5 * L(L+1)/2) / L: the floor of cached layer inputs alone, at
-- one width; the rows path and dynamic padding go below it), identical (the sweep's predictions equal the separate decodes' for every
-- configuration measured both ways) and peak_rss_mb.
local zl = require "zonelab"
local qa = require "zonelab.qa"

local quick, threads, padding = false, nil, "dynamic"
local i = 1
while arg[i] do
  if arg[i] == "--quick" then quick = true
  elseif arg[i] == "--threads" then i = i + 1; threads = tonumber(arg[i])
  elseif arg[i] == "--padding" then i = i + 1; padding = arg[i]
  else
    io.stderr:write("usage: zonelab tests/bench/sweep.lua [--quick] [--threads N] [--padding dynamic|max]\n")
    os.exit(2)
  end
  i = i + 1
end
if threads then zl.set_threads(threads) end
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
local paragraphs, lengths = {}, 0
local QUICK_LENGTHS = { 169, 197 } -- mean 183: the quick run keeps SQuAD's mean
for q = 1, N_FEATURES do
  local total = quick and QUICK_LENGTHS[q] or math.floor(169 * math.exp(0.4 * normal()) + 0.5)
  total = math.max(40, math.min(SEQ, total))
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

local function run(configs, pad, out)
  os.execute("mkdir -p '" .. dir .. "/" .. out .. "'")
  local t0 = zl.clock()
  qa.run(model, data, configs, { out = dir .. "/" .. out, batch = BATCH, padding = pad,
                                 label = out, quiet = true, force = true, progress = false })
  return zl.clock() - t0
end

local all_configs = { { zone = "none" } }
for l = 0, L - 1 do
  for _, z in ipairs(qa.ZONES) do all_configs[#all_configs + 1] = { zone = z, layer = l } end
end

local baseline_s = run({ { zone = "none" } }, "dynamic", "baseline")
local sweep_s = run(all_configs, padding, "sweep")
-- the reference procedure: each configuration its own decode, padded to max_seq_length
local naive = quick and { { zone = "none" }, { zone = "p2q", layer = 5 } }
  or { { zone = "none" }, { zone = "q2", layer = 0 }, { zone = "p2q", layer = 6 }, { zone = "all", layer = 11 } }
local naive_total, identical = 0, true
for _, c in ipairs(naive) do
  naive_total = naive_total + run({ c }, "max", "naive")
  local a = zl.io.read(dir .. "/naive/" .. qa.predictions_name(c))
  local b = zl.io.read(dir .. "/sweep/" .. qa.predictions_name(c))
  if a ~= b then identical = false end
end
local naive_s = naive_total / #naive * #all_configs
os.execute("rm -rf '" .. dir .. "'")

print(zl.json.encode {
  bench = "sweep", model = "bert-base (random)", features = #data.feats, mean_length = lengths / N_FEATURES,
  max_seq_length = SEQ, batch = BATCH, padding = padding, threads = zl.get_threads(),
  configurations = #all_configs, baseline_s = baseline_s, sweep_s = sweep_s, naive_s = naive_s,
  naive_measured = #naive, sweep_over_naive = sweep_s / naive_s,
  sweep_over_baseline = sweep_s / baseline_s, floor_over_baseline = (L + 5 * L * (L + 1) / 2) / L,
  identical = identical, identical_checked = #naive, peak_rss_mb = zl.peak_rss_mb(),
})
