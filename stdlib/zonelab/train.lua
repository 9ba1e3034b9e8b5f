-- zonelab.train — what the train recipe needs besides zl.train (the C step): the
-- reference's step count, the data order of the run (drawn epoch by epoch), the default micro-batch,
-- the train_log.csv rows and a dev-set decode. See docs/training.md ("Training loop").
--
--   local T = require "zonelab.train"
--   local steps = T.num_train_steps(n_examples, 64, 3)      -- int(n / batch * epochs)
--   local order = T.data_order(n_features, steps, 64, seed)
--   -- global step s (0-based) trains on order:batch(s), an i32 [64] of 1-based features
local zl = require "zonelab"

local M = {}

--- run_squad.py: num_train_steps = int(len(train_examples) / train_batch_size * num_train_epochs)
--- (EXAMPLES, not features; float arithmetic then truncation, as Python's int()).
function M.num_train_steps(n_examples, batch, epochs)
  return math.floor(n_examples / batch * epochs)
end

--- run_squad.py: num_warmup_steps = int(num_train_steps * warmup_proportion)
function M.num_warmup_steps(steps, proportion)
  return math.floor(steps * proportion)
end

--- The features of the whole run as one stream: epoch e is a seeded permutation of
--- all features (zl.train.permutation(n, seed, e)); the epochs follow each other and
--- global batches are consecutive slices of `batch` entries (the reference's
--- repeat() -> shuffle -> batch: a batch may straddle two epochs, none is dropped
--- short). Returns an order object and a function giving the (1-based) epoch of a global
--- step. order:batch(s) is the i32 tensor of the `batch` 1-based feature numbers of
--- global step s (0-based); the permutations are drawn when a step reaches them and
--- dropped when it has passed them, so memory is one epoch's (or one batch's) whatever
--- the number of steps. order.total = steps * batch entries.
function M.data_order(n_features, steps, batch, seed)
  assert(math.type(steps) == "integer" and steps >= 0, "data_order: steps must be an integer >= 0")
  local perms = {} -- epoch (0-based) -> its permutation as a Lua table
  local order = { total = steps * batch }
  function order:batch(s)
    local k0 = s * batch
    if math.type(s) ~= "integer" or s < 0 or k0 + batch > self.total then
      error(string.format("data order: step %s outside 0..%d", tostring(s), steps - 1), 2)
    end
    local e0, e1 = k0 // n_features, (k0 + batch - 1) // n_features
    for e in pairs(perms) do
      if e < e0 or e > e1 then perms[e] = nil end
    end
    local out = {}
    for k = k0, k0 + batch - 1 do
      local e = k // n_features
      local p = perms[e]
      if not p then
        p = zl.train.permutation(n_features, seed, e):totable()
        perms[e] = p
      end
      out[#out + 1] = p[k % n_features + 1]
    end
    return zl.tensor.from(out, { batch }, "i32")
  end
  local function epoch_of(step) -- step: 0-based global step
    return (step * batch) // n_features + 1
  end
  return order, epoch_of
end

M.MEMORY_BUDGET = 4 * 1024 ^ 3 -- bytes the default micro-batch may use (weights included)

--- Largest divisor of batch whose training memory (zl.train.estimate_bytes) fits the
--- budget; 1 when even that does not fit (the caller reports the estimate).
function M.default_micro_batch(m, batch, seq, budget)
  budget = budget or M.MEMORY_BUDGET
  for mb = batch, 1, -1 do
    if batch % mb == 0 and zl.train.estimate_bytes(m, mb, seq) <= budget then return mb end
  end
  return 1
end

M.LOG_HEADER = "step,epoch,loss,lr,grad_norm,tokens_per_s"

--- One train_log.csv row (no newline).
function M.log_row(step, epoch, r, tokens_per_s)
  return string.format("%d,%d,%.6f,%.6e,%.6f,%.1f", step, epoch, r.loss, r.lr, r.grad_norm,
    tokens_per_s)
end

--- The header and the rows of a log text whose step is <= last_step (for --resume).
function M.log_truncate(text, last_step)
  local lines = { M.LOG_HEADER }
  for line in (text or ""):gmatch("[^\n]+") do
    local s = tonumber(line:match("^(%d+),"))
    if s and s <= last_step then lines[#lines + 1] = line end
  end
  return lines
end

--- Adds --save-every and --resume (the checkpoints of M.run); holds: what a checkpoint holds.
function M.add_checkpoint_options(p, holds)
  p:option("--save-every", "Write a checkpoint (" .. holds .. ") into OUT/checkpoint every this " ..
    "many steps.")
  p:flag("--resume", "Continue from OUT/checkpoint to the same final weights as an " ..
    "uninterrupted run (same options and thread count); starts from step 0 when there is none.")
end

--- What train.lua and pretrain.lua check alike: --lower/--cased, the thread count and the
--- schedule (--epochs, --lr, --warmup-proportion). Returns epochs, lr, warmup proportion.
function M.check_common(args)
  local cli = require "zonelab.cli"
  if args.lower and args.cased then cli.fail("--lower and --cased exclude each other") end
  cli.apply_threads(args)
  local epochs = tonumber(args.epochs)
  if not epochs or epochs <= 0 then cli.fail("--epochs must be a positive number, got '%s'", args.epochs) end
  local lr = tonumber(args.lr)
  if not lr or lr < 0 or lr ~= lr then cli.fail("--lr must be a number >= 0, got '%s'", args.lr) end
  local warm = tonumber(args.warmup_proportion)
  if not warm or warm < 0 or warm > 1 then
    cli.fail("--warmup-proportion must be in [0, 1], got '%s'", args.warmup_proportion)
  end
  return epochs, lr, warm
end

--- The model and tokenizer of a training run, as train.lua and pretrain.lua load them from
--- args (--model, --init, --lower/--cased, --cmrc, --gelu): the vocabulary's casing checked
--- against the flags and the folder, --init random (BERT's initialisation from seed), checkpoint
--- (--model's weights) or another checkpoint folder; a missing head (the QA head, or with
--- mlm the masked-LM head) is initialised fresh, said through note. Returns the model, the
--- tokenizer, the vocabulary's path and its casing (lower).
function M.load_model(args, seed, note, mlm)
  local cli = require "zonelab.cli"
  local qa = require "zonelab.qa"
  local vocab = args.model .. "/vocab.txt"
  if not cli.exists(vocab) then cli.fail("%s: no vocab.txt in the model folder", vocab) end
  local requested = nil
  if args.cased then requested = false elseif args.lower then requested = true end
  -- the vocabulary's casing, checked against the flags and the folder's do_lower_case
  local lower = qa.resolve_lower(vocab, requested, args.model)
  local tok = zl.tokenizer.load(vocab, { lower = lower, cmrc = args.cmrc })
  local m
  if args.init == "random" then
    local cfg = args.model .. "/bert_config.json"
    if not cli.exists(cfg) then cli.fail("%s: --init random needs bert_config.json", cfg) end
    m = zl.bert.new(cfg, { seed = seed, gelu = args.gelu, mlm = mlm })
  else
    local from = args.init == "checkpoint" and args.model or args.init
    if from ~= args.model and require("lfs").attributes(from, "mode") ~= "directory" then
      cli.fail("--init %s: not checkpoint, random or a checkpoint folder", from)
    end
    m = zl.bert.load(from, { gelu = args.gelu, mlm = mlm })
    if mlm and m:fresh_mlm_head() then
      note("note: %s has no masked-LM head (cls.predictions): a fresh one was initialised\n", from)
    elseif not mlm and m:fresh_qa_head() then
      note("note: %s has no QA head: a fresh one was initialised\n", from)
    end
  end
  qa.check_vocab(m, tok, vocab, args.model) -- before the first forward
  return m, tok, vocab, lower
end

--- The schedule of a run of n training units (what: "questions", "instances") in global
--- batches of s.batch: s.steps (--steps) or int(n / batch * epochs) steps, checked (hint
--- follows the message when there is none), warm-up steps from s.warm, and the micro-batch
--- (--micro-batch, or the largest divisor of the batch fitting the memory budget for model
--- s.model at s.seq tokens). Returns steps, warm-up steps, micro-batch.
function M.schedule(args, n, what, s)
  local cli = require "zonelab.cli"
  local batch = s.batch
  local steps = s.steps or M.num_train_steps(n, batch, s.epochs)
  if math.type(steps) ~= "integer" or steps * batch >= 1 << 62 then
    cli.fail("--epochs %s: %d %s / batch %d gives too many steps", args.epochs, n, what, batch)
  end
  if steps < 1 then
    cli.fail("%s: %d %s / batch %d x %g epochs gives no training step%s", args.train,
      n, what, batch, s.epochs, s.hint or "")
  end
  local warmup = M.num_warmup_steps(steps, s.warm)
  local micro = args.micro_batch and cli.integer(args.micro_batch, "--micro-batch", 1, batch)
    or M.default_micro_batch(s.model, batch, s.seq)
  if batch % micro ~= 0 then cli.fail("--micro-batch %d does not divide --batch %d", micro, batch) end
  return steps, warmup, micro
end

--- Under `mpirun -np N` the run is data-parallel (docs/scale.md): returns the rank count,
--- the communicator, whether this is rank 0 (which alone writes) and a note(fmt, ...) that
--- prints on rank 0 only.
function M.dist()
  local ranks, world = zl.dist.init()
  local rank0 = zl.dist.rank() == 0
  local note = rank0 and function(...) io.stderr:write(string.format(...)) end or function() end
  return ranks, world, rank0, note
end

--- What train.lua and pretrain.lua share after their data and trainer are ready: the run
--- folder's lock, --resume (the checkpoint's trainer.json must agree with `run`), the
--- train_log.csv, the progress bar, checkpoints every save_every steps and the final
--- model/ folder. o = {tr, m, out, run, steps, batch, seed, save_every, resume, vocab_text,
--- step = function(s) -> result of tr:step_* for 0-based global step s, epoch_of,
--- rank0, note, label, before = function() (after the lock, before the first step)}.
--- Returns the model folder written (rank 0) and the seconds spent.
function M.run(o)
  local cli = require "zonelab.cli"
  local progress = require "zonelab.progress"
  local note = o.note
  local rank0 = o.rank0
  if rank0 then cli.lock(o.out) end -- one process per run folder
  if o.before then o.before() end
  local tr, steps, batch = o.tr, o.steps, o.batch
  local ckpt_dir = o.out .. "/checkpoint"
  local log_path = o.out .. "/train_log.csv"
  local log_rows = { M.LOG_HEADER } -- kept for the checkpoints' copy of the log
  local start = 0
  if o.resume then
    local found = zl.train.checkpoint_find(ckpt_dir)
    if not found then
      note("note: no checkpoint in %s: starting from step 0\n", ckpt_dir)
    else
      local state = zl.json.read(found .. "/trainer.json")
      -- a key recorded only when set (cmrc): a checkpoint that has it needs it
      if state.run and state.run.cmrc and not o.run.cmrc then
        cli.fail("%s/trainer.json: the checkpoint was made with --cmrc, this run has none", found)
      end
      for k, v in pairs(o.run) do
        if state.run == nil or state.run[k] ~= v then
          cli.fail("%s/trainer.json: the checkpoint was made with %s = %s, this run has %s", found,
            k, tostring(state.run and state.run[k]), tostring(v))
        end
      end
      if state.threads ~= zl.get_threads() then
        note("warning: the checkpoint was made with %d threads, this run " ..
          "uses %d: the weights will not be bit-identical to an uninterrupted run\n",
          state.threads, zl.get_threads())
      end
      tr:load(found)
      start = tr:step()
      log_rows = M.log_truncate(zl.io.read(found .. "/train_log.csv"), start)
      note("resuming from %s at step %d of %d\n", found, start, steps)
    end
  end
  if o.announce then o.announce() end
  local pause_file = os.getenv("ZONELAB_TEST_PAUSE_AFTER_CHECKPOINT") -- test hook (tests/cli/train.sh)
  -- ranks other than 0 write nothing: their log goes nowhere and their bar stays quiet
  local log = rank0 and cli.open_output(log_path, "w")
    or { write = function() end, flush = function() end, close = function() end }
  log:write(table.concat(log_rows, "\n"), "\n")
  log:flush()
  local bar = progress.new { total = steps - start, label = o.label or "train", unit = "steps" }
  if not rank0 then bar.mode = "quiet" end
  local t0 = zl.clock()
  for s = start, steps - 1 do
    local ts = zl.clock()
    local ok, r = pcall(o.step, s)
    if not ok then
      log:close()
      cli.fail("%s (after %d good steps; %s)", tostring(r), s,
        o.save_every and ("the last checkpoint in " .. ckpt_dir .. " is intact") or "no checkpoint")
    end
    local dt = zl.clock() - ts
    local tps = dt > 0 and r.tokens / dt or 0
    local row = M.log_row(r.step, o.epoch_of(s), r, tps)
    log_rows[#log_rows + 1] = row
    log:write(row, "\n")
    log:flush()
    bar:step(1, string.format("loss %.4f lr %.2e %.0f tok/s", r.loss, r.lr, tps))
    if rank0 and o.save_every and r.step % o.save_every == 0 and r.step < steps then
      tr:save(ckpt_dir, {
        ["trainer.json"] = zl.json.encode({ step = r.step, epoch = o.epoch_of(s), seed = o.seed,
          threads = zl.get_threads(), data_position = r.step * batch, run = o.run },
          { pretty = true }) .. "\n",
        ["train_log.csv"] = table.concat(log_rows, "\n") .. "\n",
        ["vocab.txt"] = o.vocab_text,
      })
      if pause_file then
        while cli.exists(pause_file) do zl.proc.sleep(0.05) end
      end
    end
  end
  bar:done()
  log:close()
  local elapsed = zl.clock() - t0
  if not rank0 then return nil, elapsed end -- the weights are the same on every rank
  local model_dir = o.out .. "/model"
  cli.ensure_dir(model_dir)
  o.m:save(model_dir)
  zl.io.write_atomic(model_dir .. "/vocab.txt", o.vocab_text)
  cli.wrote(model_dir, string.format("%d steps in %.1f s", steps - start, elapsed))
  cli.wrote(log_path)
  return model_dir, elapsed
end

return M
