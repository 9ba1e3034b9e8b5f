-- examples/single_head.lua — masking single heads. Two tools:
--   head_mask = f32 [NH] or [L, NH] multipliers of the heads' attention probabilities
--               (0 silences a head, HF style; the exported attentions include it);
--   mask = zone pattern, heads = {h}, layers = {l}  (1-based): a zone applied to some
--               heads only, the others attend as usual.
-- Then a head-ablation table: EM/F1 with each head of each layer silenced in turn.
--
--   build/zonelab examples/single_head.lua [--model DIR] [--data SQUAD.json] [--layer L] [--head H]
local zl = require "zonelab"
local cli = require "zonelab.cli"
local small = dofile(arg[0]:match("^(.*)/[^/]*$") .. "/small_model.lua")

local p = small.parser("single_head", "Single-head masking: head_mask and zones restricted to heads.")
p:option("--layer", "Layer of the head to look at (1-based).", "1")
p:option("--head", "Head (1-based).", "2")
p:option("--max-seq-length", "Sequence length.", "128")
local args = small.parse(p)
local model, data, cleanup = small.open(args, "single_head")
local m = model.bert
local L, NH = model.layers, model.config.num_attention_heads
local layer = cli.integer(args.layer, "--layer", 1, L)
local head = cli.integer(args.head, "--head", 1, NH)

local ds = zl.squad.load(data)
local seq = cli.integer(args.max_seq_length, "--max-seq-length", 8, model.config.max_position_embeddings)
local feats = zl.squad.features(ds, model.tok, { max_seq_length = seq })
local b = feats:batch(1, 1)
b.attentions = true
local S = b.input_ids:shape()[2]

-- Attention mass from passage rows to question keys, per head of `layer` (tensor indexes are 1-based).
local function p_to_q(out)
  local a, cells = out.attentions, {}
  for h = 1, NH do
    local s, rows = 0, 0
    for f = 1, S do
      if b.pmask:get(1, f) == 1 then
        rows = rows + 1
        for t = 1, S do if b.qmask:get(1, t) == 1 then s = s + a:get(layer, 1, h, f, t) end end
      end
    end
    cells[h] = string.format("%.3f", s / rows)
  end
  return table.concat(cells, " ")
end

print(string.format("layer %d, heads 1..%d: mean attention from a passage token to the question", layer, NH))
local base = m:forward(b)
print("  no mask:                    " .. p_to_q(base))

-- 1. head_mask: silence head `head` of layer `layer` only.
local hm = zl.tensor.new({ L, NH })
hm:fill(1)
hm:set(layer, head, 0)
b.head_mask = hm
local silenced = m:forward(b)
print(string.format("  head_mask, head %d = 0:      %s", head, p_to_q(silenced)))
b.head_mask = nil

-- 2. the p2q zone (non-question rows may not see the question) on one head of one layer.
b.mask = function(f, t, i) return (1 - b.qmask:get(i, f)) * b.qmask:get(i, t) end
b.heads, b.layers = { head }, { layer }
local zoned = m:forward(b)
print(string.format("  p2q on head %d only:         %s", head, p_to_q(zoned)))
b.mask, b.heads, b.layers = nil, nil, nil

-- The same zone on every head equals the built-in zone at that layer.
b.zone, b.layer = "p2q", layer
local builtin = m:forward(b)
b.zone, b.layer = nil, nil
local all_heads = m:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
  input_mask = b.input_mask, qmask = b.qmask, pmask = b.pmask, layers = { layer },
  mask = function(f, t) return (1 - b.qmask:get(1, f)) * b.qmask:get(1, t) end }
print(string.format("p2q on all heads vs zone = \"p2q\": max |difference| of start logits = %g",
  builtin.start_logits:max_abs_diff(all_heads.start_logits)))

-- 3. head ablation: every head silenced in turn, scored on every question.
local gold = zl.metrics.load(data)
local function score(extra)
  local r = zl.metrics.squad(gold, small.predict(model, ds, feats, extra))
  return string.format("%5.1f/%5.1f", r.exact_match, r.f1)
end
print("EM/F1 with one head silenced (baseline " .. score(nil) .. ")")
for l = 1, L do
  local cells = {}
  for h = 1, NH do
    local t = zl.tensor.new({ L, NH })
    t:fill(1)
    t:set(l, h, 0)
    cells[#cells + 1] = score({ head_mask = t })
  end
  print(string.format("  layer %d: %s", l, table.concat(cells, "  ")))
end
cleanup()
