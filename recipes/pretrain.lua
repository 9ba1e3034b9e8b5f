-- pretrain.lua — masked-language-model pretraining of BERT as Google's run_pretraining.py
-- (the masked-LM loss alone: no next-sentence prediction), from scratch or continuing a
-- checkpoint (domain adaptation), with the optimizer, schedule, checkpoints and exact resume
-- of train.lua. See docs/training.md ("Pretraining").
local cli = require "zonelab.cli"
local T = require "zonelab.train"
local zl = require "zonelab"

local p = cli.parser("recipes/pretrain.lua", [[
  Pretrain a BERT model with the masked-language-model objective of google-research/bert
  (create_pretraining_data.py's masking, run_pretraining.py's head and loss): each instance is
  [CLS] up to --max-seq-length - 2 consecutive wordpieces of one document [SEP]; --masked-lm-prob
  of its wordpieces (at least 1, at most --max-predictions) are chosen, of those 80% become
  [MASK], 10% a random token, 10% stay unchanged; the loss is the cross-entropy of the original
  tokens at the chosen positions, through the masked-LM head (dense + GELU + LayerNorm, decoder
  tied to the word embeddings, output bias). No next-sentence prediction (documents are not
  paired). The masks are drawn anew at each step from the seed (dynamic masking), so a resumed run
  masks as an uninterrupted one. Optimizer and schedule as train.lua: AdamWeightDecay, warm-up
  then linear decay.]], [[
Outputs in --out: model/ (bert_config.json, vocab.txt, model.safetensors with the
cls.predictions.* head), train_log.csv (step,epoch,loss,lr,grad_norm,tokens_per_s) and
checkpoint/ (with --save-every). Fine-tune the result with
train.lua --model OUT/model (the head is ignored, a fresh QA head is initialised).
Examples:
  zonelab recipes/pretrain.lua --model data/synth --init random --train data/synth/train.json \
      --out runs/pretrain --max-seq-length 64 --batch 16 --lr 1e-3 --epochs 20
  zonelab recipes/pretrain.lua --model models/bert-base-uncased --train corpus.txt \
      --out runs/adapt --lr 2e-5 --steps 10000 --whole-word --save-every 1000]])
p:option("--model", [[Folder with bert_config.json and vocab.txt (the vocabulary must have
  [MASK]); with --init checkpoint also the weights (Google TF checkpoint or
  model.safetensors; its masked-LM head cls/predictions/* or cls.predictions.* is continued,
  or initialised fresh when absent).]]):count(1)
p:option("--train", [[Corpus: a plain-text file (documents separated by blank lines) or a
  SQuAD-format JSON file (its paragraphs' contexts are the documents).]]):count(1)
p:option("--format", "Corpus format; auto: SQuAD when the file is a JSON object, else text.",
  "auto"):choices({ "auto", "text", "squad" })
p:option("--out", "Output folder."):count(1)
p:option("--init", [[checkpoint: start from the weights in --model; random: BERT's
  initialisation from --seed (encoder and head).]], "checkpoint"):choices({ "checkpoint", "random" })
p:option("--epochs", "Passes over the instances; steps = int(instances / batch * epochs).", "3")
p:option("--steps", "Number of optimizer steps (num_train_steps); overrides --epochs.")
p:option("--lr", [[Peak learning rate (run_pretraining.py's default 1e-4; 2e-5 suits
  continuing a pretrained model).]], "1e-4")
p:option("--batch", "Global batch size (instances per optimizer step).", "32")
p:option("--micro-batch", [[Instances per forward/backward pass; must divide --batch. Default:
  the largest divisor of --batch whose training memory fits 4 GiB.]])
p:option("--max-seq-length", "Tokens per instance, [CLS] and [SEP] included.", "128")
p:option("--max-predictions", "max_predictions_per_seq: most masked positions per instance.", "20")
p:option("--masked-lm-prob", "Share of the wordpieces chosen for prediction.", "0.15")
p:flag("--whole-word", [[Whole-word masking: the wordpieces of a chosen word (a piece and the
  '##' pieces after it) are chosen together.]])
p:option("--warmup-proportion", "Fraction of the steps with a linear warm-up.", "0.1")
p:option("--seed", [[Seed of the data order, the masks, the dropout masks and (with --init
  random) the initial weights.]], "1")
require("zonelab.qa_cli").add_gelu(p)
cli.add_threads(p)
p:flag("--lower", "Lower-case the text (uncased vocabularies). Default: what vocab.txt implies.")
p:flag("--cased", "Keep case (cased vocabularies).")
T.add_checkpoint_options(p, "weights, optimizer state, step")
p:flag("--pad-per-batch", [[Pad each micro-batch to its longest instance instead of
  --max-seq-length (faster; the same loss: padding is never predicted).]])
local args = cli.parse(p)

local ranks, world, rank0, note = T.dist()
local epochs, lr, warm = T.check_common(args)
local steps_opt = args.steps and cli.integer(args.steps, "--steps", 1, 1 << 40)
local prob = tonumber(args.masked_lm_prob)
if not prob or not (prob > 0 and prob <= 1) then
  cli.fail("--masked-lm-prob must be in (0, 1], got '%s'", args.masked_lm_prob)
end
local batch = cli.integer(args.batch, "--batch", 1, 1 << 20)
local seq = cli.integer(args.max_seq_length, "--max-seq-length", 3, 1 << 16)
local max_pred = cli.integer(args.max_predictions, "--max-predictions", 1, seq - 2)
local seed = cli.integer(args.seed, "--seed", 0)
local save_every = args.save_every and cli.integer(args.save_every, "--save-every", 1)
if not cli.exists(args.train) then cli.fail("%s: no such file (--train)", args.train) end

-- model and vocabulary
local m, tok, vocab, lower = T.load_model(args, seed, note, true)
local mcfg = m:config()
if seq > mcfg.max_position_embeddings then
  cli.fail("--max-seq-length %d exceeds the model's max_position_embeddings %d", seq,
    mcfg.max_position_embeddings)
end

-- the corpus: documents -> instances
local corpus = zl.mlm.corpus(tok, { max_seq_length = seq })
local format = args.format
local text = zl.io.read(args.train)
if format == "auto" then format = text:match("^%s*{") and "squad" or "text" end
local n_docs = 0
if format == "squad" then
  local ok, js = pcall(zl.json.decode, text)
  if not ok then cli.fail("%s: not a JSON file (--format squad): %s", args.train, tostring(js)) end
  if type(js) ~= "table" or type(js.data) ~= "table" then
    cli.fail("%s: no 'data' array (a SQuAD-format file)", args.train)
  end
  local seen = {}
  for _, art in ipairs(js.data) do
    for _, para in ipairs(type(art) == "table" and art.paragraphs or {}) do
      local c = type(para) == "table" and para.context
      if type(c) == "string" and not seen[c] then -- each paragraph once (SQuAD repeats none)
        seen[c] = true
        corpus:add(c)
        n_docs = n_docs + 1
      end
    end
  end
else
  local doc = {}
  local function flush()
    if #doc > 0 then
      corpus:add(table.concat(doc, "\n"))
      n_docs = n_docs + 1
      doc = {}
    end
  end
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^%s*$") then flush() else doc[#doc + 1] = line end
  end
  flush()
end
text = nil
local n_inst = corpus:count()
if n_inst == 0 then cli.fail("%s: no text to pretrain on", args.train) end
if corpus:unk() > 0 then
  note("note: %d of %d wordpieces are [UNK]\n", corpus:unk(), corpus:tokens())
end
local steps, warmup, micro = T.schedule(args, n_inst, "instances", { steps = steps_opt,
  batch = batch, epochs = epochs, warm = warm, model = m, seq = seq, hint = " (try --steps)" })

local tr = zl.train.new(m, { micro_batch = micro, max_seq_length = seq, seed = seed,
  lr = lr, total_steps = steps, warmup_steps = warmup, max_predictions = max_pred,
  dist = world })

local run = { train = args.train, format = format, model = args.model, init = args.init,
  seed = seed, epochs = epochs, lr = lr, batch = batch, micro_batch = micro,
  max_seq_length = seq, max_predictions = max_pred, masked_lm_prob = prob,
  whole_word = args.whole_word and true or false, warmup_proportion = warm, lower = lower,
  pad_per_batch = args.pad_per_batch and true or false, steps = steps, warmup_steps = warmup,
  instances = n_inst }

local order, epoch_of = T.data_order(n_inst, steps, batch, seed)
local step_opts = { pad_to = args.pad_per_batch and 0 or seq, whole_word = args.whole_word and true or false,
  prob = prob }
T.run { tr = tr, m = m, out = args.out, run = run, steps = steps, batch = batch, seed = seed,
  save_every = save_every, resume = args.resume, vocab_text = zl.io.read(vocab),
  epoch_of = epoch_of, rank0 = rank0, note = note, label = "pretrain",
  before = function()
    if rank0 then require("zonelab.qa_cli").say_gelu(m, args.model) end
  end,
  announce = function()
    note("pretraining: %d documents, %d instances of <= %d tokens, %d steps of %d " ..
      "(micro-batch %d, %.0f MB), warm-up %d, lr %g, %d thread(s)%s\n", n_docs, n_inst, seq,
      steps, batch, micro, tr:bytes() / 1e6 + m:num_params() * 4 / 1e6, warmup, lr,
      zl.get_threads(), ranks > 1 and string.format(" x %d MPI ranks", ranks) or "")
  end,
  step = function(s)
    return tr:step_mlm(corpus, order:batch(s), 1, batch, step_opts)
  end }
