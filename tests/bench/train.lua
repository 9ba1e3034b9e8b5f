-- tests/bench/train.lua — BERT-base training step speed and memory, random weights.
--
--   zonelab tests/bench/train.lua [--quick] [--threads N] [--steps K]
--
-- One global step = forward with dropout 0.1 + span loss + backward + AdamWeightDecay
-- update, at micro-batch 4 x seq 384 (--quick: 1 x 128). Prints one JSON line:
-- {"bench": "train", batch, seq, threads, step_s (best of K steps after a warm-up),
--  step_cpu_s (CPU seconds of the process for that step: all threads; a shared machine
--  inflates step_s, not this),
--  tokens_per_s, estimate_mb (zl.train.estimate_bytes), peak_rss_mb (zl.peak_rss_mb()),
--  phases: the best step's wall seconds per phase, measured around each part (tr:phases():
--  forward, backward, optimizer, accumulate; the backward's parts dweight, dinput,
--  attention, layernorm, gelu, other)}.
local zl = require "zonelab"

local cli = require "zonelab.cli"

local p = cli.parser("tests/bench/train.lua", "BERT-base fine-tuning step speed.")
p:flag("--quick", "Batch 1 x 128 instead of 4 x 384.")
cli.add_threads(p)
p:option("--steps", "Steps timed after the warm-up (default 2).")
local args = cli.parse(p)
cli.apply_threads(args)
local quick = args.quick
local steps = args.steps and cli.integer(args.steps, "--steps", 1, 1000000)
steps = steps or 2

local B, S = quick and 1 or 4, quick and 128 or 384
local m = zl.bert.new({ vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12,
                        num_attention_heads = 12, intermediate_size = 3072,
                        max_position_embeddings = 512, type_vocab_size = 2 }, { seed = 1 })

-- [CLS] 40 question tokens [SEP] passage [SEP], no padding; answer in the passage
local Q = 42
local ids, types, mask, q, p = {}, {}, {}, {}, {}
local seed = 12345
for _ = 1, B do
  for s = 1, S do
    seed = (seed * 1103515245 + 12345) % 2147483648
    local tok = 1000 + seed % 28000
    if s == 1 then tok = 101 elseif s == Q or s == S then tok = 102 end
    ids[#ids + 1] = tok
    types[#types + 1] = s > Q and 1 or 0
    mask[#mask + 1] = 1
    q[#q + 1] = (s > 1 and s < Q) and 1 or 0
    p[#p + 1] = (s > Q and s < S) and 1 or 0
  end
end
local sp, ep = {}, {}
for b = 1, B do sp[b] = Q + 10 + b; ep[b] = Q + 12 + b end
local T = function(t) return zl.tensor.from(t, { B, S }, "i32") end
local batch = { input_ids = T(ids), token_type_ids = T(types), input_mask = T(mask), qmask = T(q),
                pmask = T(p), start_positions = zl.tensor.from(sp, { B }, "i32"),
                end_positions = zl.tensor.from(ep, { B }, "i32") }

local tr = zl.train.new(m, { micro_batch = B, max_seq_length = S, seed = 1, lr = 3e-5,
                             total_steps = 1000, warmup_steps = 0 })
local function step()
  tr:phases(true)
  local t0, c0 = zl.clock(), os.clock()
  tr:micro_step(batch)
  tr:apply()
  return zl.clock() - t0, os.clock() - c0, tr:phases()
end
step() -- warm-up: first touch of the activations and moments
local best, best_cpu, phases = math.huge, math.huge, nil
for _ = 1, steps do
  local w, c, ph = step()
  if w < best then best, phases = w, ph end
  best_cpu = math.min(best_cpu, c)
end
local order = { "forward", "backward", "dweight", "dinput", "attention", "layernorm", "gelu", "other",
                "accumulate", "optimizer" }
local parts = {}
for _, k in ipairs(order) do parts[#parts + 1] = string.format('"%s": %.3f', k, phases[k]) end

print(string.format('{"bench": "train", "batch": %d, "seq": %d, "threads": %d, "step_s": %.3f, "step_cpu_s": %.3f, ' ..
  '"tokens_per_s": %.1f, "estimate_mb": %.0f, "peak_rss_mb": %.0f, "phases": {%s}}', B, S, zl.get_threads(), best,
  best_cpu, B * S / best, zl.train.estimate_bytes(m, B, S) / 2 ^ 20, zl.peak_rss_mb(), table.concat(parts, ", ")))
