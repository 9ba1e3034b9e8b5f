-- examples/small_model.lua — the small random model the examples use when no --model is
-- given (and the test suite runs them on): the synthetic corpus's vocabulary
-- (zonelab.synth), 2 layers, hidden 32, 4 heads, seeded weights (initializer_range 0.5), plus a few synthetic
-- dev questions. A random model's answers are wrong, but every code path is real.
--
--   build/zonelab examples/small_model.lua DIR [SEED]
--       writes DIR/bert_config.json, DIR/model.safetensors, DIR/vocab.txt, DIR/dev.json
--   local small = dofile("examples/small_model.lua")   -- from another script
--   small.write(dir, {seed = 1, model_type = "electra", embedding_size = 16})
--   small.write_dev(path, {paragraphs = 2, seed = 1}); small.tempdir("name"); small.remove(dir)
--   local p = small.parser("name", "What it shows.")   -- cli parser with --model, --data
--   p:option(...)                                       -- the example's own options
--   local args = small.parse(p)                         -- with --threads
--   local model, data, cleanup = small.open(args, "name")  -- --model/--data or the small ones
--   local preds = small.predict(model, ds, feats, {mask = ..., zone = ...})
local zl = require "zonelab"
local cli = require "zonelab.cli"
local synth = require "zonelab.synth"
local lfs = require "lfs"

local M = {}

--- The config table of the small model; opts may override any key.
function M.config(opts)
  local c = {
    vocab_size = #synth.vocabulary(), hidden_size = 32, num_hidden_layers = 2,
    num_attention_heads = 4, intermediate_size = 64, max_position_embeddings = 256,
    -- initializer_range 0.5 rather than BERT's 0.02: attention that is not uniform, so
    -- zones visibly change a random model's outputs
    type_vocab_size = 2, hidden_act = "gelu", initializer_range = 0.5,
  }
  for k, v in pairs(opts or {}) do if k ~= "seed" and k ~= "vocab" then c[k] = v end end
  return c
end

--- Writes a model folder: weights + bert_config.json (m:save) and vocab.txt
--- (opts.vocab: a list of pieces; default the synthetic vocabulary). Returns dir.
function M.write(dir, opts)
  opts = opts or {}
  local vocab = opts.vocab or synth.vocabulary()
  local cfg = M.config(opts)
  cfg.vocab_size = #vocab
  local m <close> = zl.bert.new(cfg, { seed = opts.seed or 1 })
  m:save(dir)
  zl.io.write_atomic(dir .. "/vocab.txt", table.concat(vocab, "\n") .. "\n")
  return dir
end

--- Writes a synthetic SQuAD-format dev file (opts.paragraphs, 5 questions each).
function M.write_dev(path, opts)
  opts = opts or {}
  local c = synth.generate { seed = opts.seed or 1, train_paragraphs = 0, dev_paragraphs = opts.paragraphs or 2 }
  zl.json.write(path, c.dev)
  return path
end

--- A fresh empty folder under $TMPDIR (or /tmp).
function M.tempdir(name)
  local base = os.getenv("TMPDIR") or "/tmp"
  for i = 1, 1000 do
    local d = string.format("%s/zonelab-%s-%d-%d", base, name, os.time(), i)
    if lfs.mkdir(d) then return d end
  end
  error("cannot create a temporary folder under " .. base, 0)
end

--- Removes a folder and everything in it.
function M.remove(dir)
  if lfs.attributes(dir, "mode") ~= "directory" then return end
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then
      local p = dir .. "/" .. name
      if lfs.attributes(p, "mode") == "directory" then M.remove(p) else os.remove(p) end
    end
  end
  lfs.rmdir(dir)
end

--- An example's command line: a zonelab.cli parser for examples/NAME.lua with --model and
--- --data (model_help / data_help replace the small model's defaults in their help); the
--- example then declares its own options and calls M.parse.
function M.parser(name, description, model_help, data_help)
  local p = cli.parser("examples/" .. name .. ".lua", description)
  p:option("--model", model_help or "Model folder (default: a small random model).")
  p:option("--data", data_help or "SQuAD-format file (default: synthetic questions).")
  return p
end

--- Adds --threads, parses the command line and applies --threads; returns args.
function M.parse(p)
  cli.add_threads(p)
  local args = cli.parse(p)
  cli.apply_threads(args)
  return args
end

--- What every example starts with: the model (zonelab.qa's {bert, tok, lower, ...}) from
--- args.model, or else a small random one written to a temporary folder, and a data file
--- (args.data, or else synthetic dev questions). Returns model, data path, cleanup function.
function M.open(args, name, opts)
  local qa = require "zonelab.qa"
  local tmp = M.tempdir(name)
  local dir = args.model
  if not dir then
    dir = M.write(tmp .. "/model", opts)
    print("no --model: a small random model (" .. tostring(zl.bert.load(dir)) .. ") in " .. dir)
  end
  local data = args.data
  if not data then data = M.write_dev(tmp .. "/dev.json") end
  local ok, model = pcall(qa.load_model, dir)
  if not ok then M.remove(tmp); error(model, 0) end
  return model, data, function() M.remove(tmp) end
end

--- Runs m:forward over features first..last in batches of `size` (default 8), with
--- `extra` fields added to every call (a table, or a function(batch) returning one), and
--- returns the predictions {qid = text}.
function M.predict(model, ds, feats, extra, size)
  size = size or 8
  local acc = zl.squad.collector(feats)
  for first = 1, #feats, size do
    local b = feats:batch(first, math.min(size, #feats - first + 1))
    b.start_positions, b.end_positions = nil, nil
    local e = type(extra) == "function" and extra(b) or extra or {}
    for k, v in pairs(e) do b[k] = v end
    local out = model.bert:forward(b)
    acc:add(first, out.start_logits, out.end_logits)
  end
  return (acc:decode(ds))
end

-- Run as a script: build/zonelab examples/small_model.lua DIR [SEED]
if arg and arg[0] and arg[0]:match("small_model%.lua$") then
  local dir = arg[1]
  if not dir then
    io.stderr:write("usage: zonelab examples/small_model.lua DIR [SEED]\n")
    os.exit(1)
  end
  lfs.mkdir(dir)
  M.write(dir, { seed = tonumber(arg[2]) or 1 })
  M.write_dev(dir .. "/dev.json")
  print("wrote a small random model and 10 synthetic dev questions to " .. dir)
end

return M
