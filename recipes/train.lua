-- train.lua — protocol step 1: fine-tune BERT for SQuAD-style span extraction as Google's
-- run_squad.py does (AdamWeightDecay, warm-up then linear decay, the config's dropout), with
-- micro-batches, checkpoints and exact resume. See docs/training.md.
local cli = require "zonelab.cli"
local T = require "zonelab.train"
local zl = require "zonelab"

local p = cli.parser("recipes/train.lua", [[
  Fine-tune a BERT model for span-extraction question answering on a SQuAD v1.1-style training
  file, as google-research/bert run_squad.py: training features from read_squad_examples +
  convert_examples_to_features; num_train_steps = int(examples / batch * epochs); warm-up over
  int(steps * warmup_proportion) steps then linear decay to 0; AdamWeightDecay (weight decay 0.01,
  no bias correction), global-norm clipping at 1.0; dropout on hidden states and attention
  probabilities as bert_config.json gives them (0.1 in Google's models). Features are padded to
  --max-seq-length and the loss runs over every position, as the reference. The same seed and
  thread count give bit-identical weights.]], [[
Outputs in --out: model/ (bert_config.json, vocab.txt, model.safetensors), train_log.csv
(step,epoch,loss,lr,grad_norm,tokens_per_s; step = updates done), checkpoint/ (with
--save-every) and, with --dev, predictions.json and metrics.json ({exact_match, f1}; the
CMRC 2018 metric with --cmrc).
Examples:
  zonelab recipes/train.lua --model models/bert-base-uncased --train train-v1.1.json \
      --dev dev-v1.1.json --out runs/seed1 --seed 1 --micro-batch 4 --max-seq-length 384 \
      --save-every 500
  zonelab recipes/train.lua --model data/synth --init random --train data/synth/train.json \
      --dev data/synth/dev.json --out runs/synth --max-seq-length 128 --batch 32 --lr 1e-3]])
p:option("--model", [[Checkpoint folder (Google TF checkpoint or model.safetensors, with
  bert_config.json and vocab.txt); with --init random, a folder holding just
  bert_config.json and vocab.txt.]]):count(1)
p:option("--train", "Training file (SQuAD v1.1 JSON)."):count(1)
p:option("--out", "Output folder."):count(1)
p:option("--dev", "Dev file (SQuAD v1.1 JSON) to decode and score after training.")
p:option("--epochs", "num_train_epochs (may be fractional).", "3")
p:option("--lr", "Peak learning rate.", "3e-5")
p:option("--batch", "Global batch size (features per optimizer step).", "64")
p:option("--micro-batch", [[Features per forward/backward pass; gradients of batch /
  micro-batch passes are summed then averaged. Must divide --batch. Default: the largest
  divisor of --batch whose training memory fits 4 GiB.]])
p:option("--max-seq-length", [[Tokens per feature ([CLS] question [SEP] passage [SEP]) (default
  512, or the model's max_position_embeddings when it has fewer positions).]])
p:option("--doc-stride", "Stride between passage windows.", "128")
p:option("--max-query-length", "Question tokens kept.", "64")
p:option("--warmup-proportion", "Fraction of the steps with a linear warm-up.", "0.1")
p:option("--seed", [[Seed of the data order, the dropout masks and (with --init random) the
  initial weights.]], "1")
require("zonelab.qa_cli").add_gelu(p)
cli.add_threads(p)
p:flag("--lower", [[Lower-case the text (uncased vocabularies). Default: what vocab.txt implies
  (a vocabulary with capitalised pieces is cased), as the decode recipe does; a flag that
  contradicts it is an error.]])
p:flag("--cased", "Keep case (cased vocabularies, e.g. the paper's cased BERT-base).")
p:flag("--cmrc", [[CMRC 2018 (Chinese): run_cmrc2018.py's tokenizer variant for training and
  --dev, and the CMRC metric for the dev scores.]])
T.add_checkpoint_options(p, "weights, optimizer state, step, data position")
p:option("--init", [[checkpoint: start from the weights in --model; random: BERT's
  initialisation (truncated normal, initializer_range) from --seed; or a checkpoint folder
  (e.g. pretrain.lua's OUT/model) whose weights to start from, the vocabulary staying
  --model's. A checkpoint without a QA head (a pretrained model) gets a fresh one as
  run_squad.py's (truncated normal, std 0.02; bias 0); a masked-LM head is ignored.]],
  "checkpoint")
p:flag("--pad-per-batch", [[Deviation from the reference, for speed: pad each micro-batch to
  its longest feature instead of --max-seq-length (the loss then runs over fewer padding
  positions).]])
p:option("--dev-batch", "Features per forward pass when decoding --dev.", "32")
local args = cli.parse(p)

-- under `mpirun -np N`: data-parallel (docs/scale.md); rank 0 alone writes and talks
local ranks, world, rank0, note = T.dist()
local epochs, lr, warm = T.check_common(args)
local batch = cli.integer(args.batch, "--batch", 1, 1 << 20)
local seq = args.max_seq_length and cli.integer(args.max_seq_length, "--max-seq-length", 8, 1 << 16)
-- the input files first: a missing file is the error to report, whatever the model
for _, f in ipairs { { args.train, "--train" }, { args.dev, "--dev" } } do
  if f[1] and not cli.exists(f[1]) then cli.fail("%s: no such file (%s)", f[1], f[2]) end
end
local stride = cli.integer(args.doc_stride, "--doc-stride", 1)
local qlen = cli.integer(args.max_query_length, "--max-query-length", 1)
local seed = cli.integer(args.seed, "--seed", 0)
local dev_batch = cli.integer(args.dev_batch, "--dev-batch", 1)
local save_every = args.save_every and cli.integer(args.save_every, "--save-every", 1)

-- model and vocabulary
local m, tok, vocab, lower = T.load_model(args, seed, note)
local mcfg = m:config()
if not seq then
  seq = math.min(512, mcfg.max_position_embeddings)
  if seq < 512 then
    note("zonelab: using --max-seq-length %d: the model has %d positions, fewer than the default 512\n",
      seq, seq)
  end
end
if seq > mcfg.max_position_embeddings then
  cli.fail("--max-seq-length %d exceeds the model's max_position_embeddings %d", seq,
    mcfg.max_position_embeddings)
end

-- training data
local ds = zl.squad.load(args.train, { training = true })
require("zonelab.qa").warn_cmrc(ds, args.train, args.cmrc)
if ds:skipped() > 0 then
  note("warning: %s: %d training questions skipped (answer not found " ..
    "at its position), as run_squad.py\n", args.train, ds:skipped())
end
local feats = zl.squad.features(ds, tok, { max_seq_length = seq, doc_stride = stride,
  max_query_length = qlen, training = true })
require("zonelab.qa").warn_unk(feats, args.train)
local n_examples, n_features = ds:count(), feats:count()
if n_examples == 0 then cli.fail("%s: no training questions", args.train) end
local steps, warmup, micro = T.schedule(args, n_examples, "questions",
  { batch = batch, epochs = epochs, warm = warm, model = m, seq = seq })

local tr = zl.train.new(m, { micro_batch = micro, max_seq_length = seq, seed = seed,
  lr = lr, total_steps = steps, warmup_steps = warmup, dist = world })

-- what a checkpoint must agree on to be resumed
local run = { train = args.train, model = args.model, init = args.init, seed = seed,
  epochs = epochs, lr = lr, batch = batch, micro_batch = micro, max_seq_length = seq,
  doc_stride = stride, max_query_length = qlen, warmup_proportion = warm, lower = lower,
  pad_per_batch = args.pad_per_batch and true or false, steps = steps, warmup_steps = warmup,
  examples = n_examples, features = n_features }
-- recorded only when set, so checkpoints made before the option existed still resume
if args.cmrc then run.cmrc = true end

local order, epoch_of = T.data_order(n_features, steps, batch, seed)
local pad_to = args.pad_per_batch and 0 or seq
local model_dir = T.run { tr = tr, m = m, out = args.out, run = run, steps = steps,
  batch = batch, seed = seed, save_every = save_every, resume = args.resume,
  vocab_text = zl.io.read(vocab), epoch_of = epoch_of, rank0 = rank0, note = note,
  before = function()
    if rank0 then require("zonelab.qa_cli").say_gelu(m, args.model) end
  end,
  announce = function()
    note("training: %d questions, %d features, %d steps of %d (micro-batch " ..
      "%d, %.0f MB), warm-up %d, lr %g, %d thread(s)%s\n", n_examples, n_features, steps, batch,
      micro, tr:bytes() / 1e6 + m:num_params() * 4 / 1e6, warmup, lr, zl.get_threads(),
      ranks > 1 and string.format(" x %d MPI ranks", ranks) or "")
    if ranks > 1 and (batch // micro) % ranks ~= 0 then
      note("note: %d micro-batches per step do not split evenly over %d ranks\n", batch // micro,
        ranks)
    end
  end,
  step = function(s)
    return tr:step_features(feats, order:batch(s), 1, batch, { pad_to = pad_to })
  end }
if not rank0 then return end

if args.dev then
  -- the shared decode of the decode/sweep recipes (stdlib/zonelab/qa.lua): features padded to
  -- --max-seq-length, n-best 20, max answer length 30; predictions.json, nbest_predictions.json
  -- and metrics.json in --out
  local qa = require "zonelab.qa"
  local model = qa.wrap_model(m, tok, { dir = model_dir, cmrc = args.cmrc })
  local data = qa.load_data(args.dev, model, { max_seq_length = seq, doc_stride = stride,
    max_query_length = qlen })
  local res = qa.run(model, data, { {} }, { out = args.out, batch = dev_batch, force = true,
    label = "dev" })[1]
  cli.wrote(res.predictions)
  if res.score then
    cli.wrote(res.metrics)
    print(require("zonelab.scoring").line(res.score)) -- as evaluate prints it
  end
end
