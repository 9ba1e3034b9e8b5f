-- recipes/protocol.lua — the whole STAR protocol, train to figure, for N seeds:
-- fine-tune (steps 4-6), sweep every zone x layer (step 7), aggregate (step 8),
-- heatmaps (step 9), statistics over seeds (quantification), attention flows for a
-- few questions, and a report.md tying it together. Each step is the recipe a user
-- would run by hand, run here as a child process, so the run folder holds exactly
-- what the separate commands write.
--
-- With no options it runs the embedded default: a synthetic corpus (zonelab.synth),
-- a small BERT pretrained on its passages (masked LM; the demo preset) or trained from
-- scratch (the others), fine-tuned for 3 seeds, the full sweep, stats and figures.
local zl = require "zonelab"
local cli = require "zonelab.cli"
local lfs = require "lfs"

local p = cli.parser("recipes/protocol.lua", [[
  Run the attention-zone protocol end to end: for each seed, fine-tune (train.lua), decode the dev
  set with every zone masked at every layer (sweep.lua, which also aggregates results.csv), then
  statistics over the seeds (stats.lua), the heatmaps of the paper's Figure 1 (heatmap.lua),
  attention flows for a few dev questions (flows.lua) and OUT/report.md. Without
  --model/--train/--dev it runs the embedded default: a synthetic reading-comprehension corpus and
  a small BERT trained from scratch.]], [[
Example (the paper's setting):
  zonelab recipes/protocol.lua --model cased_L-12_H-768_A-12 --train train-v1.1.json \
      --dev dev-v1.1.json --seeds 5 --out runs/paper --cased --max-seq-length 512 --batch 64]])
p:option("--model", "Pre-trained checkpoint folder (bert_config.json, vocab.txt, weights). " ..
  "Default: the embedded synthetic setting (the demo preset pretrains its own small BERT first).")
p:option("--train", "Training file (SQuAD v1.1 JSON).")
p:option("--dev", "Dev file (SQuAD v1.1 JSON) to decode, sweep and score.")
p:option("--seeds", "Number of fine-tuning runs (seeds 1..N).", "3")
p:option("--out", "Run folder.", "runs/demo")
p:option("--epochs", "Training epochs (default: 3; the embedded default: its own).")
p:option("--lr", "Peak learning rate (default: 3e-5; the embedded default: its own).")
p:option("--batch", "Global training batch (default: 64; the embedded default: its own).")
p:option("--micro-batch", "Features per forward/backward pass (see train.lua).")
p:option("--max-seq-length", "Tokens per feature (default: 512 as the paper, or the model's " ..
  "max_position_embeddings when it has fewer positions; embedded: its own).")
p:option("--doc-stride", "Stride between passage windows.", "128")
p:option("--max-query-length", "Question tokens kept.", "64")
local p_zones_default = "all,q2,q2p,p2q,p2"
p:option("--zones", "Zones to sweep.", p_zones_default)
p:option("--layers", "Layers to sweep, 1-based (default: every layer).")
p:option("--predict-batch", "Features per forward pass when decoding.", "32")
p:option("--padding", "Decode padding: max (exact, as the reference) or dynamic (faster).")
  :choices({ "max", "dynamic" })
p:option("--flows", "Number of dev questions to draw attention flows for (0: none).", "3")
p:option("--flows-tau", "Attention threshold of the flows drawings (default: 0.1; the embedded " ..
  "default: its preset's, 0.05 for demo, whose small trained model attends diffusely in its last layer).")
p:option("--jobs", "Seeds trained and swept at the same time, each with its share of the cores " ..
  "(its output then goes to SEED_DIR/log.txt; the demo preset's trainings from scratch are " ..
  "chains of their own, in SEED_DIR/scratch/log.txt). Default: 1; the embedded default: the " ..
  "number of cores (its small model runs best on one core each).")
p:option("--preset", "Embedded default only: demo (the make demo setting), demo-zh (the same " ..
  "in Chinese, CMRC 2018-style, scored with the CMRC metric: make demo-zh), or tiny / tiny-zh " ..
  "(a corpus and model small enough for a smoke test in seconds; they do not learn).", "demo")
  :choices({ "demo", "demo-zh", "tiny", "tiny-zh" })
require("zonelab.qa_cli").add_gelu(p)
require("zonelab.qa_cli").add_precision(p) -- the sweeps' and the flows' (training stays fp32)
p:flag("--lower", "Lower-case text (uncased models).")
p:flag("--cased", "Keep case (cased models).")
p:flag("--cmrc", "CMRC 2018 (Chinese data and model): every step uses run_cmrc2018.py's tokenizer " ..
  "variant and the CMRC 2018 metric (training's dev scores, results.csv, baseline.json, " ..
  "report.md). The embedded demo-zh and tiny-zh presets set it themselves.")
cli.add_threads(p)
local args = cli.parse(p)
local cores = zl.cpu_count() -- the cores this process may run on (not OPENBLAS_NUM_THREADS)
cli.apply_threads(args)
-- refused before any step when bf16 cannot run here; passed on only when asked for, so an
-- fp32 run's steps keep their commands
local bf16 = require("zonelab.qa_cli").check_precision(args) == "bf16" and "bf16" or nil

local embedded = not (args.model or args.train or args.dev)
if not embedded and not (args.model and args.train and args.dev) then
  cli.fail("--model, --train and --dev go together (or give none of them for the embedded default)")
end
local seeds = cli.integer(args.seeds, "--seeds", 1, 1000)
local jobs_asked = args.jobs and cli.integer(args.jobs, "--jobs", 1, 1000)
local jobs = math.min(jobs_asked or (embedded and math.max(1, math.min(seeds, cores)) or 1), seeds)
local n_flows = cli.integer(args.flows, "--flows", 0, 100)
if not embedded then
  -- Check the inputs before any step runs (and before the run folder is made), so a
  -- wrong path is one clear line rather than a failed training step.
  local function mode(path) return require("lfs").attributes(path, "mode") end
  if mode(args.model) ~= "directory" then
    cli.fail("%s: not a model folder (bert_config.json, vocab.txt and the weights)", args.model)
  end
  if mode(args.model .. "/vocab.txt") ~= "file" then
    cli.fail("%s/vocab.txt: missing (the model folder needs its vocabulary)", args.model)
  end
  if mode(args.model .. "/bert_config.json") ~= "file" and mode(args.model .. "/config.json") ~= "file" then
    cli.fail("%s/bert_config.json: missing (or config.json)", args.model)
  end
  for _, f in ipairs({ args.train, args.dev }) do
    if mode(f) ~= "file" then cli.fail("%s: no such file", f) end
  end
end
local out = args.out
-- one protocol per folder; its steps lock their own sub-folders (seedN, seedN/sweep)
cli.lock(out)

-- ---- running steps ----
local exe = zl.executable() or (arg and arg[-1]) or "zonelab"
-- the source root: stdlib/zonelab/cli.lua is on package.path (the host puts it there)
local cli_file = package.searchpath("zonelab.cli", package.path)
local root = cli_file and cli_file:match("^(.*)/stdlib/zonelab/cli%.lua$") or "."

-- for the "== step: command" lines only: a copy-pasteable rendering of the argument
-- vector (the steps themselves are started from the vector, never through a shell)
local function quote(s)
  s = tostring(s)
  if s:match("^[%w%-%./_=,:+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local timings = {}
local t_start = zl.clock()
local function command(recipe, argv)
  local v = { exe, root .. "/recipes/" .. recipe }
  for _, a in ipairs(argv) do v[#v + 1] = tostring(a) end
  return v
end
local function shown(v)
  local parts = {}
  for k, a in ipairs(v) do parts[k] = quote(a) end
  return table.concat(parts, " ")
end
local function step(name, recipe, argv)
  local v = command(recipe, argv)
  io.stderr:write(string.format("== %s: %s\n", name, shown(v)))
  local t0 = zl.clock()
  local how, code = zl.proc.wait(zl.proc.spawn(v))
  local dt = zl.clock() - t0
  timings[#timings + 1] = { name = name, seconds = dt }
  if how ~= "exit" or code ~= 0 then
    cli.fail("step '%s' failed (%s %s); its own message is above. Rerun the same command to resume.",
      name, how, tostring(code))
  end
end

local function add(list, opt, value)
  if value ~= nil then list[#list + 1] = opt; list[#list + 1] = tostring(value) end
end

-- ---- the data and the model to start from ----
local train_file, dev_file, model_dir, init
local settings
if embedded then
  -- The embedded default: a corpus small enough for a few minutes on two cores, a model
  -- large enough to reach EM >= 80 on it (measured; see docs/protocol.md).
  local synth = require "zonelab.synth"
  settings = synth.PRESETS[args.preset]
  local data = out .. "/data"
  cli.ensure_dir(data)
  local paths
  local stamp = data .. "/preset.json" -- which settings made this folder (resume only those)
  if cli.exists(data .. "/dev.json") and cli.exists(data .. "/bert_config.json") then
    local made = cli.exists(stamp) and zl.json.read(stamp) or {}
    if zl.json.encode(made) ~= zl.json.encode(settings) then
      cli.fail("%s: made by another preset or version than --preset %s; use another --out or remove %s",
        data, args.preset, out)
    end
    paths = { train = data .. "/train.json", dev = data .. "/dev.json" }
  else
    local corpus = synth.generate(settings.corpus)
    paths = synth.write(data, corpus)
    zl.json.write(stamp, settings, { pretty = true })
    cli.wrote(data, "synthetic corpus: train.json, dev.json, vocab.txt, bert_config.json")
  end
  train_file, dev_file, model_dir, init = paths.train, paths.dev, data, "random"
else
  settings = { train = {}, decode = {} }
  train_file, dev_file, model_dir, init = args.train, args.dev, args.model, "checkpoint"
end

local flows_tau = tostring(args.flows_tau or settings.flows_tau or 0.1)
local cmrc = args.cmrc or settings.cmrc or false
if not embedded and not cmrc then
  -- said once here, before the steps (which would each say it)
  require("zonelab.qa").warn_cmrc_file(args.dev, false)
end
local function setting(opt, key)
  if opt ~= nil then return opt end
  return settings.train[key]
end

local max_seq = setting(args.max_seq_length, "max_seq_length")
if not max_seq then
  -- the paper's 512, or the model's maximum when it has fewer positions (said in one line)
  max_seq = 512
  for _, name in ipairs { "bert_config.json", "config.json" } do
    local path = model_dir .. "/" .. name
    if cli.exists(path) then
      local n = zl.json.read(path).max_position_embeddings
      if math.type(n) == "integer" and n < max_seq then
        max_seq = n
        io.stderr:write(string.format("zonelab: using --max-seq-length %d: the model has %d " ..
          "positions, fewer than the default 512\n", n, n))
      end
      break
    end
  end
end
local common = {}
add(common, "--max-seq-length", max_seq)
add(common, "--doc-stride", args.doc_stride)
add(common, "--max-query-length", args.max_query_length)
if args.lower then common[#common + 1] = "--lower" end
if args.cased then common[#common + 1] = "--cased" end
if cmrc then common[#common + 1] = "--cmrc" end
if args.threads then add(common, "--threads", args.threads) end

-- ---- the embedded default pretrains first (masked LM on its training passages,
-- pretrain.lua) and every seed fine-tunes from that model ----
local pretrained
if embedded and settings.pretrain then
  local pdir = out .. "/pretrain"
  pretrained = pdir .. "/model"
  if cli.exists(pretrained .. "/model.safetensors") then
    io.stderr:write(string.format("== pretrain: pretrained model found in %s, skipping\n", pretrained))
  else
    local pt = settings.pretrain
    local a = { "--model", model_dir, "--init", "random", "--train", train_file, "--out", pdir,
      "--seed", 1, "--resume", "--save-every", settings.save_every or 500 }
    add(a, "--epochs", pt.epochs)
    add(a, "--lr", pt.lr)
    add(a, "--batch", pt.batch)
    add(a, "--max-seq-length", pt.max_seq_length)
    if pt.pad_per_batch then a[#a + 1] = "--pad-per-batch" end
    add(a, "--gelu", args.gelu)
    -- one thread unless told: for the 32-wide demo model a second one costs more in
    -- synchronisation than it saves (measured on a loaded 2-core host: 42 s vs 259 s)
    add(a, "--threads", args.threads or 1)
    if args.lower then a[#a + 1] = "--lower" end
    if args.cased then a[#a + 1] = "--cased" end
    step("pretrain", "pretrain.lua", a)
  end
  init = pretrained
  -- each seed also trains from scratch (a chain of its own): up to twice as many chains
  jobs = math.min(jobs_asked or math.max(1, math.min(2 * seeds, cores)), 2 * seeds)
end

-- Several seeds at once (--jobs): each seed's steps run in sequence as one chain of child
-- processes, at most `jobs` chains at a time, each with its share of the cores; a chain's
-- output goes to its log. On a terminal one status line, redrawn every second, shows each
-- running seed's latest progress line (the steps print one every 5% into their logs).
local chains = {}
local function last_line(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 4096))
  local text = f:read("a") or ""
  f:close()
  local line
  for l in text:gmatch("[^\r\n]+") do line = l end
  return line
end
local function run_chains()
  local tty = zl.isatty(2)
  local cr = tty and "\r\027[K" or ""
  local env = tty and { ZONELAB_PROGRESS_EVERY = "5" } or nil
  local width = math.max(30, 110 // jobs)
  io.stderr:write(string.format("== %d seeds%s, %d at a time\n", seeds,
    pretrained and " (and each from scratch)" or "", jobs))
  local active, failed, next_chain, shown_at = {}, {}, 1, 0
  local function start(c, k)
    c.k, c.t0 = k, zl.clock()
    c.pid = zl.proc.spawn(c.steps[k].argv, { log = c.log, append = k > 1, env = env })
  end
  local function show()
    local parts = {}
    for _, c in ipairs(active) do
      local line = last_line(c.log)
      if line then parts[#parts + 1] = string.format("seed %d: %s", c.seed, line:sub(1, width)) end
    end
    io.stderr:write(cr .. table.concat(parts, " | "))
  end
  local function loop()
    while next_chain <= #chains or #active > 0 do
      while #active < jobs and next_chain <= #chains do
        local c = chains[next_chain]
        next_chain = next_chain + 1
        io.stderr:write(string.format("%s== %s: started (log: %s)\n", cr, c.name, c.log))
        start(c, 1)
        active[#active + 1] = c
      end
      zl.proc.sleep(0.1)
      for i = #active, 1, -1 do
        local c = active[i]
        local how, code = zl.proc.wait(c.pid, true)
        if how then
          local ok = how == "exit" and code == 0
          if ok then timings[#timings + 1] = { name = c.steps[c.k].name, seconds = zl.clock() - c.t0 } end
          if ok and c.k < #c.steps then
            start(c, c.k + 1)
          else
            table.remove(active, i)
            if ok then
              io.stderr:write(string.format("%s== %s: done\n", cr, c.name))
            else
              failed[#failed + 1] = c.log
              io.stderr:write(string.format("%s== %s: FAILED, see %s\n", cr, c.name, c.log))
            end
          end
        end
      end
      if tty and zl.clock() - shown_at >= 1 then
        show()
        shown_at = zl.clock()
      end
    end
  end
  local ok, err = pcall(loop)
  if not ok then
    -- interrupted (Ctrl-C) or failed to start a step: stop every running step (they
    -- resume like a sequential run)
    for _, c in ipairs(active) do zl.proc.kill(c.pid) end
    for _, c in ipairs(active) do zl.proc.wait(c.pid) end
    error(err, 0)
  end
  if tty then io.stderr:write("\r\027[K") end
  if #failed > 0 then
    cli.fail("a seed's steps failed (see %s); its log names the step and the error. " ..
      "Rerun the same command to resume.", table.concat(failed, ", "))
  end
end
-- `scratch`: the seed's training from random initial weights (its own chain, its own log
-- in seedN/scratch/), run beside the other chains
local function job_step(seed, name, recipe, argv, scratch)
  if jobs == 1 then return step(name, recipe, argv) end
  if not args.threads and (recipe == "train.lua" or recipe == "sweep.lua") then
    argv[#argv + 1] = "--threads"
    argv[#argv + 1] = tostring(math.max(1, cores // jobs))
  end
  local key = scratch and ("scratch" .. seed) or seed
  chains[key] = chains[key] or { name = (scratch and "scratch seed " or "seed ") .. seed, seed = seed,
    log = string.format("%s/seed%d/%slog.txt", out, seed, scratch and "scratch/" or ""), steps = {} }
  table.insert(chains[key].steps, { name = name, argv = command(recipe, argv) })
end

-- ---- per seed: train, sweep ----
local runs = {}
for seed = 1, seeds do
  local dir = string.format("%s/seed%d", out, seed)
  local run = { seed = seed, dir = dir, model = dir .. "/model", sweep = dir .. "/sweep" }
  runs[#runs + 1] = run
  if jobs > 1 then cli.ensure_dir(dir) end
  if cli.exists(run.model .. "/model.safetensors") and cli.exists(dir .. "/metrics.json") then
    io.stderr:write(string.format("== seed %d: trained model found in %s, skipping training\n", seed, run.model))
  else
    -- --resume with periodic checkpoints: rerunning the protocol after a crash continues
    local a = { "--model", model_dir, "--train", train_file, "--dev", dev_file, "--out", dir,
      "--seed", seed, "--init", init, "--resume", "--save-every", settings.save_every or 500 }
    add(a, "--epochs", setting(args.epochs, "epochs"))
    add(a, "--lr", setting(args.lr, "lr"))
    add(a, "--batch", setting(args.batch, "batch"))
    add(a, "--micro-batch", setting(args.micro_batch, "micro_batch"))
    if settings.train.pad_per_batch then a[#a + 1] = "--pad-per-batch" end
    add(a, "--gelu", args.gelu) -- the fine-tuned model records it in its config
    for _, v in ipairs(common) do a[#a + 1] = v end
    job_step(seed, string.format("train seed %d", seed), "train.lua", a)
  end
  -- the baseline of pretraining: the same fine-tuning (seed, settings) from random initial
  -- weights, into seedN/scratch (report.md compares the two)
  if pretrained then
    run.scratch = dir .. "/scratch"
    if cli.exists(run.scratch .. "/model/model.safetensors") and cli.exists(run.scratch .. "/metrics.json") then
      io.stderr:write(string.format("== seed %d: scratch model found in %s, skipping\n", seed, run.scratch))
    else
      if jobs > 1 then cli.ensure_dir(run.scratch) end
      local a = { "--model", model_dir, "--train", train_file, "--dev", dev_file, "--out", run.scratch,
        "--seed", seed, "--init", "random", "--resume", "--save-every", settings.save_every or 500 }
      add(a, "--epochs", setting(args.epochs, "epochs"))
      add(a, "--lr", setting(args.lr, "lr"))
      add(a, "--batch", setting(args.batch, "batch"))
      add(a, "--micro-batch", setting(args.micro_batch, "micro_batch"))
      if settings.train.pad_per_batch then a[#a + 1] = "--pad-per-batch" end
      add(a, "--gelu", args.gelu)
      for _, v in ipairs(common) do a[#a + 1] = v end
      job_step(seed, string.format("train seed %d from scratch", seed), "train.lua", a, true)
    end
  end
  local s = { "--model", run.model, "--predict", dev_file, "--out", run.sweep, "--zones", args.zones,
    "--batch", args.predict_batch }
  add(s, "--layers", args.layers)
  add(s, "--padding", args.padding or settings.decode.padding)
  add(s, "--precision", bf16)
  for _, v in ipairs(common) do s[#s + 1] = v end
  job_step(seed, string.format("sweep seed %d", seed), "sweep.lua", s)
  -- per-question scores for the single-run significance of seed 1
  if seed == 1 then
    local a = { run.sweep, dir .. "/results_check.csv", "--dataset", dev_file,
      "--per-question", dir .. "/per_question" }
    if cmrc then a[#a + 1] = "--cmrc" end
    -- a sweep of some zones or layers leaves the others' cells empty, as its own tables do
    if args.layers or args.zones ~= p_zones_default then a[#a + 1] = "--allow-missing" end
    job_step(seed, "per-question scores seed 1", "aggregate.lua", a)
  end
end
if jobs > 1 then
  local list = {}
  for seed = 1, seeds do list[#list + 1] = chains[seed] end
  for seed = 1, seeds do list[#list + 1] = chains["scratch" .. seed] end
  chains = list
  run_chains()
end
for _, run in ipairs(runs) do
  run.baseline = zl.json.read(run.sweep .. "/baseline.json")
  run.metrics = zl.json.read(run.dir .. "/metrics.json")
  if run.scratch then run.scratch_metrics = zl.json.read(run.scratch .. "/metrics.json") end
end

-- ---- statistics over seeds ----
local stats_dir = out .. "/stats"
local st = { "--out", stats_dir, "--per-question", runs[1].dir .. "/per_question", "--runs" }
for _, r in ipairs(runs) do st[#st + 1] = r.sweep .. "/results.csv" end
-- each run's own baseline: std_diff.csv, the spread of the effects (report.md)
st[#st + 1] = "--baselines"
for _, r in ipairs(runs) do st[#st + 1] = r.sweep .. "/baseline.json" end
step("stats EM", "stats.lua", st)
local st_f1 = { "--out", stats_dir .. "/f1", "--runs" }
for _, r in ipairs(runs) do st_f1[#st_f1 + 1] = r.sweep .. "/results_f1.csv" end
st_f1[#st_f1 + 1] = "--baselines"
for _, r in ipairs(runs) do st_f1[#st_f1 + 1] = r.sweep .. "/baseline.json" end
step("stats F1", "stats.lua", st_f1)

local function mean(key)
  local s = 0
  for _, r in ipairs(runs) do s = s + r.baseline[key] end
  return s / #runs
end
local mean_baseline = { exact_match = mean("exact_match"), f1 = mean("f1"), runs = #runs }
zl.json.write(stats_dir .. "/baseline_mean.json", mean_baseline, { pretty = true })

-- ---- figures ----
local fig = out .. "/figures"
-- the panels name the metric's script when it is not SQuAD's
local em_title, f1_title = "EM", "F1"
if cmrc then em_title, f1_title = "EM (CMRC 2018)", "F1 (CMRC 2018)" end
cli.ensure_dir(fig)
local r1 = runs[1]
-- each table's metric comes from its name (results_f1.csv, the stats' f1 folder), and
-- picks its key of the baseline file
step("heatmap single run", "heatmap.lua", { r1.sweep .. "/results.csv", r1.sweep .. "/baseline.json",
  fig .. "/heatmap_seed1.pdf", "--title", "Seed 1",
  "--panel", r1.sweep .. "/results_f1.csv", r1.sweep .. "/baseline.json",
  "--panel-title", em_title, "--panel-title", f1_title })
step("heatmap mean", "heatmap.lua", { stats_dir .. "/mean.csv", stats_dir .. "/baseline_mean.json",
  fig .. "/heatmap_mean.pdf", "--title", string.format("Mean of %d runs", #runs),
  "--panel", stats_dir .. "/f1/mean.csv", stats_dir .. "/baseline_mean.json",
  "--panel-title", em_title, "--panel-title", f1_title })

-- ---- attention flows: the model seed 1 started from (the pretrained one, or its initial
-- weights) against the fine-tuned one ----
local flows = {}
if n_flows > 0 then
  local compare = r1.model -- model A (the protocol's B is always seed 1's fine-tuned model)
  if pretrained then
    compare = pretrained
  elseif embedded then
    -- the initial weights of seed 1, exactly as train.lua --init random draws them
    local initial = r1.dir .. "/initial_model"
    if not cli.exists(initial .. "/model.safetensors") then
      cli.ensure_dir(initial)
      local m = zl.bert.new(model_dir .. "/bert_config.json", { seed = 1 })
      m:save(initial)
      zl.io.write_atomic(initial .. "/vocab.txt", zl.io.read(model_dir .. "/vocab.txt"))
    end
    compare = initial
  else
    compare = model_dir
  end
  local dev = zl.json.read(dev_file)
  local ids = {}
  for _, art in ipairs(dev.data) do
    for _, para in ipairs(art.paragraphs) do
      for _, qa in ipairs(para.qas) do
        if #ids < n_flows then ids[#ids + 1] = qa.id end
      end
    end
  end
  for _, qid in ipairs(ids) do
    -- as the paper's Figure 1: A is the model before fine-tuning, B the fine-tuned one;
    -- both graphs start from B's answer (A's QA head is untrained: its answer means nothing)
    local a = { "--model", compare, "--compare", r1.model, "--predict", dev_file, "--qid", qid,
      "--out", fig .. "/flows", "--target", "answer-b", "--tau", flows_tau, "--html" }
    add(a, "--gelu", args.gelu)
    add(a, "--precision", bf16)
    for _, v in ipairs(common) do a[#a + 1] = v end
    step("flows " .. qid, "flows.lua", a)
    flows[#flows + 1] = qid
  end
end

-- ---- report.md ----
local csv = require "zonelab.csv"
local function table_md(path)
  local header, rows = csv.read(path)
  local lines = { "| " .. table.concat(header, " | ") .. " |",
    "|" .. string.rep(" --- |", #header) }
  for _, row in ipairs(rows) do
    local cells = {}
    for i = 1, #header do cells[i] = tostring(row[i] or "") end
    lines[#lines + 1] = "| " .. table.concat(cells, " | ") .. " |"
  end
  return table.concat(lines, "\n")
end

local rel = function(path) return (path:gsub("^" .. out:gsub("%p", "%%%0") .. "/", "")) end
local md = {}
local function w(s) md[#md + 1] = s or "" end
w("# Attention-zone protocol run")
w()
w(embedded and ("Embedded default: synthetic corpus (zonelab.synth), small BERT " ..
    (pretrained and "pretrained on its passages (masked LM, `pretrain/model`), then fine-tuned per seed."
      or "trained from scratch per seed."))
  or string.format("Model `%s`, training file `%s`, dev file `%s`.", args.model, args.train, args.dev))
w()
w(cmrc and "Scores: the CMRC 2018 metric (cmrc2018_evaluate.py: mixed segmentation, character-level F1)."
  or "Scores: the SQuAD v1.1 metric (evaluate-v1.1.py).")
w()
if bf16 then
  w("Decoded with `--precision bf16` (sweeps and flows; training in fp32): see docs/protocol.md, " ..
    "\"Precision\", for when that is good enough.")
  w()
end
if embedded then
  w(string.format("Preset `%s` (zonelab.synth.PRESETS): `%s`", args.preset,
    zl.json.encode(settings)))
  w()
end
w("## Baselines (dev set, no mask)")
w()
w("| seed | EM | F1 |")
w("| --- | --- | --- |")
for _, r in ipairs(runs) do
  w(string.format("| %d | %.3f | %.3f |", r.seed, r.baseline.exact_match, r.baseline.f1))
end
w(string.format("| mean | %.3f | %.3f |", mean_baseline.exact_match, mean_baseline.f1))
w()
if pretrained then
  -- what pretraining brings: each seed's fine-tuning from pretrain/model against the same
  -- fine-tuning (seed, settings) from random initial weights, both as train.lua scored them
  w("## Pretrained vs from scratch (dev set, no mask)")
  w()
  w("Each seed fine-tuned from the pretrained model (`seedN/metrics.json`) and, with the same " ..
    "seed and settings, from random initial weights (`seedN/scratch/metrics.json`, " ..
    "train.lua --init random); difference = pretrained - scratch.")
  w()
  w("| seed | pretrained EM | pretrained F1 | scratch EM | scratch F1 | difference EM | difference F1 |")
  w("| --- | --- | --- | --- | --- | --- | --- |")
  local sum = { 0, 0, 0, 0 }
  for _, r in ipairs(runs) do
    local p, s = r.metrics, r.scratch_metrics
    w(string.format("| %d | %.3f | %.3f | %.3f | %.3f | %+.3f | %+.3f |", r.seed, p.exact_match, p.f1,
      s.exact_match, s.f1, p.exact_match - s.exact_match, p.f1 - s.f1))
    sum[1], sum[2] = sum[1] + p.exact_match, sum[2] + p.f1
    sum[3], sum[4] = sum[3] + s.exact_match, sum[4] + s.f1
  end
  local n = #runs
  w(string.format("| mean | %.3f | %.3f | %.3f | %.3f | %+.3f | %+.3f |", sum[1] / n, sum[2] / n,
    sum[3] / n, sum[4] / n, (sum[1] - sum[3]) / n, (sum[2] - sum[4]) / n))
  w()
end
-- The spread over seeds twice: of the scores (std.csv), which carries the seeds' different
-- baselines, and of each score's difference from its own seed's baseline (std_diff.csv),
-- the effect of the mask, which the heatmaps draw.
local function spreads(dir, metric)
  if #runs < 2 then return end
  w(string.format("Sample standard deviation over seeds of the %s scores (`%s`); it includes " ..
    "the spread of the seeds' baselines:", metric, rel(dir .. "/std.csv")))
  w()
  w(table_md(dir .. "/std.csv"))
  w()
  w(string.format("Sample standard deviation over seeds of the difference from each seed's own " ..
    "baseline (%s masked - baseline, the effect of the mask, as the heatmaps draw it; `%s`):",
    metric, rel(dir .. "/std_diff.csv")))
  w()
  w(table_md(dir .. "/std_diff.csv"))
  w()
end
w("## Exact match with each zone masked in each layer (mean over seeds)")
w()
w(table_md(stats_dir .. "/mean.csv"))
w()
spreads(stats_dir, "EM")
w("## F1 with each zone masked in each layer (mean over seeds)")
w()
w(table_md(stats_dir .. "/f1/mean.csv"))
w()
spreads(stats_dir .. "/f1", "F1")
-- the paired bootstrap of seed 1: one line per cell whose interval excludes 0
do
  local sig = stats_dir .. "/significance.csv"
  local header, rows = csv.read(sig)
  local col = {}
  for i, h in ipairs(header) do col[h] = i end
  local nq = #require("zonelab.scoring").read_per_question(r1.dir .. "/per_question/per_question.json").ids
  local lines = {}
  for _, row in ipairs(rows) do
    if row[col.significant] == "1" then
      lines[#lines + 1] = string.format("- layer %s, %s: %+.2f EM points (95%% interval %+.2f to %+.2f)",
        row[col.layer], row[col.zone], csv.number(row[col.diff], sig, row.line, col.diff),
        csv.number(row[col.ci_low], sig, row.line, col.ci_low),
        csv.number(row[col.ci_high], sig, row.line, col.ci_high))
    end
  end
  w("## Cells that differ from the baseline (seed 1)")
  w()
  w(string.format("Paired bootstrap over the %d dev questions of seed 1 (masked - baseline EM per " ..
    "question, 95%% interval; `%s`): %s", nq, rel(sig), #lines == 0
      and string.format("none of the %d cells differs from the baseline.", #rows)
      or string.format("%d of the %d cells differ%s from the baseline:", #lines, #rows,
        #lines == 1 and "s" or "")))
  if #lines > 0 then
    w()
    for _, l in ipairs(lines) do w(l) end
  end
  w()
end
w("## Figures")
w()
w("- [Seed 1, EM and F1](" .. rel(fig .. "/heatmap_seed1.pdf") .. ")")
w("- [Mean over seeds, EM and F1](" .. rel(fig .. "/heatmap_mean.pdf") .. ")")
for _, qid in ipairs(flows) do
  local base = fig .. "/flows/flows_" .. cli.file_part(qid)
  w("- [Attention flows of " .. qid .. "](" .. rel(base .. ".pdf") .. ") ([viewer](" ..
    rel(base .. ".html") .. "))")
end
w()
w("## Timings")
w()
w("| step | seconds |")
w("| --- | --- |")
for _, t in ipairs(timings) do
  w(string.format("| %s | %.1f |", t.name, t.seconds))
end
w(string.format("| total (wall clock%s) | %.1f |", jobs > 1 and string.format(", %d %s at a time", jobs,
  pretrained and "trainings" or "seeds") or "",
  zl.clock() - t_start))
w()
zl.io.write_atomic(out .. "/report.md", table.concat(md, "\n"))

print(string.format("baseline EM %.3f, F1 %.3f (mean of %d seeds)", mean_baseline.exact_match,
  mean_baseline.f1, #runs))
cli.wrote(out .. "/report.md", "report")
cli.wrote(fig .. "/heatmap_seed1.pdf", "Figure 1, seed 1")
cli.wrote(fig .. "/heatmap_mean.pdf", "Figure 1, mean over seeds")
cli.wrote(stats_dir, "mean.csv, std.csv, std_diff.csv, significance.csv")
