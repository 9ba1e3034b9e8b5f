-- examples/attention_mass.lua — for every layer, the mean attention mass from passage
-- tokens to question tokens (and the three other zones) over the first N questions of a
-- SQuAD-format file: the mass of a token is the sum of its attention probabilities over
-- the zone's target tokens, averaged over the zone's source tokens, the heads and the
-- features. All the arithmetic is tensor operations (no loop over elements in Lua).
--
--   build/zonelab examples/attention_mass.lua [--model DIR] [--data SQUAD.json] [--questions N]
local zl = require "zonelab"
local cli = require "zonelab.cli"
local small = dofile(arg[0]:match("^(.*)/[^/]*$") .. "/small_model.lua")

local p = small.parser("attention_mass", "Mean attention mass between question and passage, per layer.")
p:option("--questions", "Number of questions (the file's first N).", "1000")
p:option("--max-seq-length", "Sequence length (default: the model's, at most 384).")
p:option("--batch", "Features per forward pass.", "8")
local args = small.parse(p)
local model, data, cleanup = small.open(args, "attention_mass")
local n_q = cli.integer(args.questions, "--questions", 1, math.maxinteger)
local size = cli.integer(args.batch, "--batch", 1, 4096)
local max_pos = model.config.max_position_embeddings
local seq = cli.integer(args.max_seq_length or tostring(math.min(384, max_pos)), "--max-seq-length", 8, max_pos)
local t0 = zl.clock()
local ds = zl.squad.load(data)
local feats = zl.squad.features(ds, model.tok, { max_seq_length = seq })
local n_f = 0 -- features of the first n_q questions (features come in question order)
while n_f < #feats and feats:get(n_f + 1).example_index < n_q do n_f = n_f + 1 end

-- the analysis: zone = {source tokens, target tokens}
local zones = { { "p2q", "pmask", "qmask" }, { "q2p", "qmask", "pmask" },
                { "q2q", "qmask", "qmask" }, { "p2p", "pmask", "pmask" } }
local mass, rows = {}, {}
for first = 1, n_f, size do
  local b = feats:batch(first, math.min(size, n_f - first + 1))
  local a = model.bert:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
    input_mask = b.input_mask, attentions = true }.attentions          -- [L, B, NH, S, S]
  for _, z in ipairs(zones) do
    local from, to = b[z[2]]:float(), b[z[3]]:float()                   -- [B, S]
    local to_mass = a:mul(to:unsqueeze(2):unsqueeze(2)):sum(5)          -- [L, B, NH, S, 1]
    local m = to_mass:squeeze(5):mul(from:unsqueeze(2)):sum(4):sum(3):sum(2) -- [L, 1, 1]
    mass[z[1]] = mass[z[1]] and mass[z[1]] + m or m
    rows[z[1]] = (rows[z[1]] or 0) + from:sum() * a:shape()[3]
  end
end

print(string.format("%d questions, %d features, %d layers (%.1fs)", math.min(n_q, #ds), n_f,
  model.layers, zl.clock() - t0))
print("layer     p2q     q2p     q2q     p2p")
local per_layer = {}
for _, z in ipairs(zones) do per_layer[#per_layer + 1] = mass[z[1]]:div(rows[z[1]]):squeeze() end
local tab = zl.tensor.stack(per_layer, 2)                               -- [L, 4]
for l = 1, model.layers do
  print(string.format("%5d  %.4f  %.4f  %.4f  %.4f", l, table.unpack(tab[l]:totable())))
end
cleanup()
