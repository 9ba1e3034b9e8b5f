-- examples/electra.lua — an ELECTRA-style model: model_type "electra" (parameter names
-- under electra.*) and embedding_size != hidden_size, so the embeddings have width E and
-- electra.embeddings_project maps them to H (ELECTRA-small: E 128, H 256). Build it, save
-- and load it, run it with a zone. Everything else (zones, masks, decoding) is as for BERT.
--
--   build/zonelab examples/electra.lua [--model DIR] [--data SQUAD.json] [--zone p2q] [--layer 1]
-- --model takes an ELECTRA folder (config.json / bert_config.json, weights, vocab.txt),
-- e.g. HF google/electra-small-discriminator with a QA head, or a TF checkpoint.
local zl = require "zonelab"
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local small = dofile(arg[0]:match("^(.*)/[^/]*$") .. "/small_model.lua")

local p = small.parser("electra", "ELECTRA: embedding_size != hidden_size; build, save, load, forward with a zone.",
  "ELECTRA model folder (default: a small random one built here).")
p:option("--zone", "Zone to apply.", "p2q")
p:option("--layer", "Layer of the zone (1-based), or all.", "1")
p:option("--max-seq-length", "Sequence length.", "128")
local args = small.parse(p)
if not qa.is_zone(args.zone) then cli.fail("--zone must be one of %s, got %s", qa.zone_list(), args.zone) end

local tmp = small.tempdir("electra")
local dir = args.model
if not dir then
  -- 1. build: the config table takes the same keys as an ELECTRA config.json
  local cfg = small.config { model_type = "electra", embedding_size = 16, hidden_size = 32 }
  local m <close> = zl.bert.new(cfg, { seed = 7 })
  print("built " .. tostring(m) .. string.format(", embedding_size %d, %d parameters",
    m:config().embedding_size, m:num_params()))
  local shapes = {}
  for _, name in ipairs(m:param_names()) do
    if name:match("embeddings_project") or name:match("word_embeddings") then
      shapes[#shapes + 1] = name .. " " .. zl.json.encode(m:params()[name]:shape())
    end
  end
  print("  " .. table.concat(shapes, "\n  "))
  -- 2. save: model.safetensors + bert_config.json (+ the vocabulary the tokenizer needs)
  dir = tmp .. "/electra"
  m:save(dir)
  zl.io.write_atomic(dir .. "/vocab.txt", table.concat(require("zonelab.synth").vocabulary(), "\n") .. "\n")
  print("saved to " .. dir)
end

-- 3. load (any ELECTRA folder) and check what came back
local model = qa.load_model(dir)
local m = model.bert
local c = m:config()
print(string.format("loaded %s: model_type %s, embedding_size %d, hidden_size %d, fresh QA head: %s",
  tostring(m), c.model_type, c.embedding_size, c.hidden_size, tostring(m:fresh_qa_head())))

-- 4. forward with and without the zone on the first feature, then decode and score all
local data = args.data or small.write_dev(tmp .. "/dev.json")
local ds = zl.squad.load(data)
local seq = cli.integer(args.max_seq_length, "--max-seq-length", 8, model.config.max_position_embeddings)
local feats = zl.squad.features(ds, model.tok, { max_seq_length = seq })
local b = feats:batch(1, 1)
local layer = args.layer == "all" and "all" or cli.integer(args.layer, "--layer", 1, model.layers)
local base = m:forward(b)
b.zone, b.layer = args.zone, layer
local zoned = m:forward(b)
print(string.format("zone %s at layer %s: start logits of feature 1 moved by up to %.4f",
  args.zone, tostring(layer), base.start_logits:max_abs_diff(zoned.start_logits)))
if not args.model then
  local again <close> = zl.bert.new(small.config { model_type = "electra", embedding_size = 16, hidden_size = 32 }, { seed = 7 })
  print(string.format("saved-and-loaded vs in-memory model: max |difference| = %g",
    base.start_logits:max_abs_diff(again:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
      input_mask = b.input_mask }.start_logits)))
end
local gold = zl.metrics.load(data)
for _, run in ipairs({ { "baseline", nil }, { args.zone .. "@" .. tostring(layer), { zone = args.zone, layer = layer } } }) do
  local r = zl.metrics.squad(gold, small.predict(model, ds, feats, run[2]))
  print(string.format("%-10s EM %5.1f  F1 %5.1f  (%d questions)", run[1], r.exact_match, r.f1, r.total))
end
small.remove(tmp)
