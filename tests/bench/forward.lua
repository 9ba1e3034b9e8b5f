-- tests/bench/forward.lua — BERT-base forward speed with random weights.
--
--   zonelab tests/bench/forward.lua [--quick] [--threads N]
--
-- Batch 8 x seq 384 (--quick: 2 x 384). Prints one JSON line: tokens_per_s, gflops
-- (2 x multiply-adds of every matrix product, attention included), sgemm_gflops (a
-- 3072x768 @ 768x768 product measured in the same run), ratio_to_sgemm, peak_rss_mb.
local zl = require "zonelab"

local quick, threads = false, nil
local i = 1
while arg[i] do
  if arg[i] == "--quick" then quick = true
  elseif arg[i] == "--threads" then i = i + 1; threads = tonumber(arg[i])
  else io.stderr:write("usage: zonelab tests/bench/forward.lua [--quick] [--threads N]\n"); os.exit(2) end
  i = i + 1
end
if threads then zl.set_threads(threads) end

local B, S = quick and 2 or 8, 384
local m = zl.bert.new({ vocab_size = 30522, hidden_size = 768, num_hidden_layers = 12,
                        num_attention_heads = 12, intermediate_size = 3072,
                        max_position_embeddings = 512, type_vocab_size = 2 }, { seed = 1 })

-- inputs: [CLS] 40 question tokens [SEP] passage [SEP], no padding
local ids, types, q, p = {}, {}, {}, {}
local seed = 12345
for b = 1, B do
  for s = 1, S do
    seed = (seed * 1103515245 + 12345) % 2147483648
    local tok = 1000 + seed % 28000
    if s == 1 then tok = 101 elseif s == 42 or s == S then tok = 102 end
    ids[#ids + 1] = tok
    types[#types + 1] = s > 42 and 1 or 0
    q[#q + 1] = (s > 1 and s < 42) and 1 or 0
    p[#p + 1] = (s > 42 and s < S) and 1 or 0
  end
end
local T = function(t) return zl.tensor.from(t, { B, S }, "i32") end
local batch = { input_ids = T(ids), token_type_ids = T(types), qmask = T(q), pmask = T(p),
                zone = "p2q", layer = 6 } -- the 6th layer (1-based)

-- The sgemm reference is measured in this run, interleaved with the forward passes, and
-- each side keeps its best time: this machine is shared and noisy.
local a = zl.tensor.randn({ 3072, 768 }, 1, 0.02)
local w = zl.tensor.randn({ 768, 768 }, 2, 0.02)
local function time_sgemm(reps)
  local t0 = zl.clock()
  for _ = 1, reps do a:matmul(w) end
  return (zl.clock() - t0) / reps
end

m:forward(batch) -- warm-up (allocates activations)
time_sgemm(1)
local rounds = quick and 2 or 3
local best_fwd, best_mm = math.huge, math.huge
for _ = 1, rounds do
  best_mm = math.min(best_mm, time_sgemm(quick and 3 or 5))
  local t0 = zl.clock()
  m:forward(batch)
  best_fwd = math.min(best_fwd, zl.clock() - t0)
end
local sgemm_gflops = 2 * 3072 * 768 * 768 / best_mm / 1e9
local gflops = zl.bert.flops(m, B, S) / best_fwd / 1e9

print(zl.json.encode {
  bench = "forward", model = "bert-base (random)", batch = B, seq = S, threads = zl.get_threads(),
  seconds = best_fwd, tokens_per_s = B * S / best_fwd, gflops = gflops, sgemm_gflops = sgemm_gflops,
  ratio_to_sgemm = gflops / sgemm_gflops, peak_rss_mb = zl.peak_rss_mb(),
})
