-- zonelab.qa_cli — the command-line options decode.lua and sweep.lua share (model,
-- data, feature and decoding flags), and turning them into qa.lua calls.
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local zl = require "zonelab"

local M = {}

--- Adds --gelu (every recipe that loads a model has it).
function M.add_gelu(p)
  p:option("--gelu", "GELU form: erf (Hugging Face's \"gelu\") or tanh (Google's modeling.py, " ..
    "Hugging Face's \"gelu_new\"). Default: what the model says; a Google TF checkpoint whose " ..
    "config says \"gelu\" computes tanh, as the reference code does."):choices { "erf", "tanh" }
end

--- Says in one line (stderr) which GELU a loaded model computes and why, unless the
--- model's own config names it (zonelab writes "gelu": "erf"|"tanh" into every model it saves);
--- and, in another, that it loads as ELECTRA when only its tensor names said so.
function M.say_gelu(bert, what)
  local c = bert:config()
  if c.model_type_note then
    io.stderr:write(string.format("%s: %s\n", what or "model", c.model_type_note))
  end
  if c.gelu_origin ~= "config" then
    io.stderr:write(string.format("%s: %s\n", what or "model", c.gelu_note))
  end
end

--- Adds the shared options to an argparse parser.
function M.add_options(p)
  p:option("--model", "Model folder: bert_config.json (or config.json), the weights " ..
    "(model.safetensors or a TF checkpoint) and vocab.txt."):count(1)
  p:option("--predict", "SQuAD-format JSON file to decode (e.g. dev-v1.1.json)."):count(1)
  p:option("--out", "Output folder (created if needed)."):count(1)
  p:option("--max-seq-length", "Tokens per feature, padding included (default 384, or the " ..
    "model's max_position_embeddings when it has fewer positions).")
  p:option("--doc-stride", "Stride between the passage windows of one question.", "128")
  p:option("--max-query-length", "Question tokens kept.", "64")
  p:option("--batch", "Features per forward pass.", "32")
  p:option("--n-best-size", "Candidate starts and ends considered (write_predictions).", "20")
  p:option("--max-answer-length", "Longest answer in tokens.", "30")
  p:option("--padding", "max: every feature padded to --max-seq-length, as the reference " ..
    "(exact); dynamic: each batch padded to its longest feature (about 2x faster; the " ..
    "`all` zone still runs at max; padding logits no longer compete in the n-best ranking, " ..
    "see docs/recipes.md).", "max"):choices { "max", "dynamic" }
  p:flag("--lower", "Lower-case text (uncased models; default: what vocab.txt implies, and a " ..
    "flag contradicting it or the model's do_lower_case is an error).")
  p:flag("--cased", "Keep case (cased models; default: what vocab.txt implies).")
  p:flag("--cmrc", "CMRC 2018: Chinese tokenisation and the CMRC metric.")
  M.add_gelu(p)
  M.add_precision(p)
  cli.add_threads(p)
end

--- Adds --precision (decode, sweep, flows, protocol).
function M.add_precision(p)
  p:option("--precision", "Arithmetic of the forward's matrix products: fp32 (the reference's) " ..
    "or bf16 (inputs and weights rounded to bfloat16, fp32 accumulation, on oneDNN; about 2x " ..
    "faster where the CPU has AVX512_BF16 or AMX, refused elsewhere; inference only; see " ..
    "docs/protocol.md for when it is good enough).", "fp32"):choices { "fp32", "bf16" }
end

--- Refuses --precision bf16 at once (one line) where it cannot run: before any slow work.
function M.check_precision(args)
  local ok, why = pcall(zl.bert.check_precision, args.precision or "fp32")
  if not ok then cli.fail("%s", why) end
  return args.precision or "fp32"
end

--- Validates the shared options; returns the loaded model, data and run options.
--- check(model), when given, runs before the (slow) feature building. The run folder
--- --out is then created and locked (cli.lock; lock: its options, {shared = true} for decode).
function M.setup(args, check, lock)
  cli.apply_threads(args)
  local precision = M.check_precision(args)
  if args.lower and args.cased then cli.fail("--lower and --cased exclude each other") end
  -- the input file first: a missing file is the error to report, whatever the model
  if not cli.exists(args.predict) then cli.fail("%s: no such file (--predict)", args.predict) end
  local seq = args.max_seq_length and cli.integer(args.max_seq_length, "--max-seq-length", 8, 100000)
  local stride = cli.integer(args.doc_stride, "--doc-stride", 1, 100000)
  local qlen = cli.integer(args.max_query_length, "--max-query-length", 1, 100000)
  local batch = cli.integer(args.batch, "--batch", 1, 100000)
  local nbest = cli.integer(args.n_best_size, "--n-best-size", 1, 100000)
  local maxlen = cli.integer(args.max_answer_length, "--max-answer-length", 1, 100000)
  local lower = nil
  if args.lower then lower = true elseif args.cased then lower = false end
  local model = qa.load_model(args.model, { lower = lower, cmrc = args.cmrc, gelu = args.gelu })
  M.say_gelu(model.bert, args.model)
  if not seq then
    seq = 384
    local maxpos = model.config.max_position_embeddings
    if maxpos < seq then
      io.stderr:write(string.format("zonelab: using --max-seq-length %d: the model has %d positions, fewer than the default 384\n", maxpos, maxpos))
      seq = maxpos
    end
  end
  if check then check(model) end
  local data = qa.load_data(args.predict, model,
    { max_seq_length = seq, doc_stride = stride, max_query_length = qlen })
  -- made (and locked) once the inputs are known good, so a refused command leaves nothing;
  -- before any output: a second process into the folder fails here
  cli.lock(args.out, lock)
  local opts = {
    out = args.out, batch = batch, n_best_size = nbest, max_answer_length = maxlen,
    padding = args.padding, precision = precision,
  }
  return model, data, opts
end

--- Parses a --mask-layer value (1-based, or "all") against the model's layer count.
function M.mask_layer(value, layers)
  if value == "all" then return "all" end
  local n = tonumber(value)
  if not n or n ~= math.floor(n) then
    cli.fail("--mask-layer must be a layer number (1-based) or 'all', got '%s'", tostring(value))
  end
  if n < 1 or n > layers then
    cli.fail("--mask-layer %s is out of range: the model has %d layers (1..%d, 1-based)",
      tostring(value), layers, layers)
  end
  return math.tointeger(n)
end

--- Checks a zone name; the error lists the valid ones.
function M.zone(z)
  if not qa.is_zone(z) then cli.fail("unknown zone '%s': valid zones are %s", tostring(z), qa.zone_list()) end
  return z
end

return M
