-- examples/custom_zone.lua — a custom attention zone in a few lines: no token may attend
-- to [SEP]. A zone is any pattern over (from, to) pairs: 1 removes the pair (adds -10000
-- to its score before the softmax). Give it as a Lua function of 1-based positions or as
-- an f32 tensor [S, S] / [batch, S, S]; `layers = {...}` / `heads = {...}` (1-based)
-- restrict it.
--
--   build/zonelab examples/custom_zone.lua [--model DIR] [--data SQUAD.json] [--layer L]
local zl = require "zonelab"
local cli = require "zonelab.cli"
local small = dofile(arg[0]:match("^(.*)/[^/]*$") .. "/small_model.lua")

local p = small.parser("custom_zone", "A custom zone: attention to [SEP] removed.")
p:option("--layer", "Only this layer, 1-based (default: every layer).")
p:option("--max-seq-length", "Sequence length.", "128")
local args = small.parse(p)
local model, data, cleanup = small.open(args, "custom_zone")
local m, tok = model.bert, model.tok
local SEP = tok:id("[SEP]")
local layers = args.layer and { cli.integer(args.layer, "--layer", 1, model.layers) } or nil

-- The zone: a function of (from, to, batch), called once per pair of each example.
local function no_sep(b)
  return { layers = layers, mask = function(_, to, batch) return b.input_ids:get(batch, to) == SEP end }
end

-- The same zone as a tensor for one feature: pattern[from][to] = 1 where `to` is a [SEP].
local ds = zl.squad.load(data)
local seq = cli.integer(args.max_seq_length, "--max-seq-length", 8, model.config.max_position_embeddings)
local feats = zl.squad.features(ds, tok, { max_seq_length = seq })
local b = feats:batch(1, 1)
local S = b.input_ids:shape()[2]
local pattern = zl.tensor.new({ S, S })
for t = 1, S do
  if b.input_ids:get(1, t) == SEP then for f = 1, S do pattern:set(f, t, 1) end end
end

-- How much attention goes to [SEP], per layer (mean over heads and rows of the feature).
local function to_sep(out)
  local a, per_layer = out.attentions, {}
  local L, NH = a:shape()[1], a:shape()[3]
  for l = 1, L do
    local s = 0
    for h = 1, NH do for f = 1, S do for t = 1, S do
      if b.input_ids:get(1, t) == SEP then s = s + a:get(l, 1, h, f, t) end
    end end end
    per_layer[l] = string.format("%.4f", s / (NH * S))
  end
  return table.concat(per_layer, " ")
end

b.attentions = true
local base = m:forward(b)
for k, v in pairs(no_sep(b)) do b[k] = v end
local with_fn = m:forward(b)
b.mask = pattern
local with_tensor = m:forward(b)
print(string.format("feature 1 (%s): %d tokens, %d of them [SEP]", feats:get(1).qid, S,
  math.floor(pattern:sum() / S + 0.5)))
print("attention to [SEP] by layer without the zone: " .. to_sep(base))
print("attention to [SEP] by layer with the zone:    " .. to_sep(with_fn))
print(string.format("function and tensor zones agree: max |difference| of start logits = %g",
  with_fn.start_logits:max_abs_diff(with_tensor.start_logits)))
print(string.format("start logits moved by up to %.3f", base.start_logits:max_abs_diff(with_fn.start_logits)))

-- Decode every question with and without the zone, and score against the answers.
local gold = zl.metrics.load(data)
for _, run in ipairs({ { "baseline", nil }, { "no [SEP]", no_sep } }) do
  local r = zl.metrics.squad(gold, small.predict(model, ds, feats, run[2]))
  print(string.format("%-9s EM %5.1f  F1 %5.1f  (%d questions)", run[1], r.exact_match, r.f1, r.total))
end
cleanup()
