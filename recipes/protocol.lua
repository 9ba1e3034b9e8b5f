-- recipes/protocol.lua — the whole STAR protocol, train to figure, for N seeds:
-- fine-tune (steps 4-6), sweep every zone x layer (step 7), aggregate (step 8),
-- heatmaps (step 9), statistics over seeds (quantification), attention flows for a
-- few questions, and a report.md tying it together. Each step is the recipe a user
-- would run by hand, run here as a child process, so the run folder holds exactly
-- what the separate commands write.
--
-- With no options it runs the embedded default: a synthetic corpus (zonelab.synth),
-- a small BERT trained from scratch for 3 seeds, the full sweep, stats and figures.
local zl = require "zonelab"
local cli = require "zonelab.cli"
local lfs = require "lfs"

local p = cli.parser("recipes/protocol.lua",
  "Run the attention-zone protocol end to end: for each seed, fine-tune (train.lua), decode the dev " ..
  "set with every zone masked at every layer (sweep.lua, which also aggregates results.csv), then " ..
  "statistics over the seeds (stats.lua), the heatmaps of the paper's Figure 1 (heatmap.lua), " ..
  "attention flows for a few dev questions (flows.lua) and OUT/report.md. Without --model/--train/--dev " ..
  "it runs the embedded default: a synthetic reading-comprehension corpus and a small BERT trained from " ..
  "scratch.",
  "Example (the paper's setting):\n" ..
  "  zonelab recipes/protocol.lua --model cased_L-12_H-768_A-12 --train train-v1.1.json \\\n" ..
  "      --dev dev-v1.1.json --seeds 5 --out runs/paper --cased --max-seq-length 512 --batch 64")
p:option("--model", "Pre-trained checkpoint folder (bert_config.json, vocab.txt, weights). " ..
  "Default: the embedded synthetic setting, trained from scratch.")
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
p:option("--zones", "Zones to sweep.", "all,q2,q2p,p2q,p2")
p:option("--layers", "Layers to sweep, 1-based (default: every layer).")
p:option("--predict-batch", "Features per forward pass when decoding.", "32")
p:option("--padding", "Decode padding: max (exact, as the reference) or dynamic (faster).")
  :choices({ "max", "dynamic" })
p:option("--flows", "Number of dev questions to draw attention flows for (0: none).", "3")
p:option("--flows-tau", "Attention threshold of the flows drawings (default: 0.1; the embedded " ..
  "default: its preset's, 0.05 for demo, whose small trained model attends diffusely in its last layer).")
p:option("--jobs", "Seeds trained and swept at the same time, each with its share of the cores " ..
  "(its output then goes to SEED_DIR/log.txt). Default: 1; the embedded default: the number of " ..
  "cores (its small model runs best on one core each).")
p:option("--preset", "Embedded default only: demo (the make demo setting) or tiny (a corpus " ..
  "and model small enough for a smoke test in seconds; it does not learn).", "demo")
  :choices({ "demo", "tiny" })
p:flag("--lower", "Lower-case text (uncased models).")
p:flag("--cased", "Keep case (cased models).")
cli.add_threads(p)
local args = cli.parse(p)
local cores = zl.cpu_count() -- the cores this process may run on (not OPENBLAS_NUM_THREADS)
cli.apply_threads(args)

local embedded = not (args.model or args.train or args.dev)
if not embedded and not (args.model and args.train and args.dev) then
  cli.fail("--model, --train and --dev go together (or give none of them for the embedded default)")
end
local seeds = cli.integer(args.seeds, "--seeds", 1, 1000)
local jobs = args.jobs and cli.integer(args.jobs, "--jobs", 1, 1000)
  or (embedded and math.max(1, math.min(seeds, cores)) or 1)
jobs = math.min(jobs, seeds)
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
cli.ensure_dir(out)

-- ---- running steps ----
local exe = zl.executable() or (arg and arg[-1]) or "zonelab"
-- the source root: stdlib/zonelab/cli.lua is on package.path (the host puts it there)
local cli_file = package.searchpath("zonelab.cli", package.path)
local root = cli_file and cli_file:match("^(.*)/stdlib/zonelab/cli%.lua$") or "."

local function quote(s)
  s = tostring(s)
  if s:match("^[%w%-%./_=,:+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local timings = {}
local t_start = zl.clock()
local function command(recipe, argv)
  local parts = { quote(exe), quote(root .. "/recipes/" .. recipe) }
  for _, a in ipairs(argv) do parts[#parts + 1] = quote(a) end
  return table.concat(parts, " ")
end
local function step(name, recipe, argv)
  local cmd = command(recipe, argv)
  io.stderr:write(string.format("== %s: %s\n", name, cmd))
  local t0 = zl.clock()
  local ok, how, code = os.execute(cmd)
  local dt = zl.clock() - t0
  timings[#timings + 1] = { name = name, seconds = dt }
  if not ok then
    cli.fail("step '%s' failed (%s %s); its own message is above. Rerun the same command to resume.",
      name, tostring(how), tostring(code))
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
if args.threads then add(common, "--threads", args.threads) end

-- Several seeds at once (--jobs): each seed's steps run in sequence as one bash job, at
-- most `jobs` jobs at a time, each with its share of the cores; a job's output goes to
-- its log. Ctrl-C stops every job (they resume like a sequential run).
local chains = {}
local function run_chains()
  local tty = zl.isatty(2)
  local times = out .. "/.times"
  os.remove(times)
  local script = { "trap 'kill 0' INT TERM",
    "run_step() { local name=$1; shift; local t0=$(date +%s.%N); \"$@\" || return $?; " ..
    "echo \"$name $t0 $(date +%s.%N)\" >> \"$TIMES\"; }",
    "TIMES=" .. quote(times) }
  -- on a terminal: one status line, redrawn every second, with each seed's latest progress line
  -- (the steps print one every 5% into their logs); otherwise just start / end lines
  local cr = tty and "\\r\\033[K" or ""
  for i, c in ipairs(chains) do c.rc = string.format("%s/.rc%d", out, i) end
  if tty then
    -- seed:log:rc triples; a seed shows while its log exists and its rc does not
    local items = {}
    for _, c in ipairs(chains) do items[#items + 1] = quote(c.name:match("%d+") .. ":" .. c.log .. ":" .. c.rc) end
    script[#script + 1] = "export ZONELAB_PROGRESS_EVERY=5"
    script[#script + 1] = "show() { local s='' x; for x in " .. table.concat(items, " ") ..
      "; do local n=${x%%:*} r=${x##*:} f=${x#*:}; f=${f%:*}; " ..
      "[ -s \"$f\" ] && [ ! -e \"$r\" ] && s=\"$s | seed $n: $(tail -n 1 \"$f\" | cut -c 1-" ..
      math.max(30, 110 // jobs) .. ")\"; done; printf '\\r\\033[K%s' \"${s# | }\" >&2; }"
  else
    script[#script + 1] = "show() { :; }"
  end
  local rcs = {}
  for i, c in ipairs(chains) do
    local body = {}
    for _, st in ipairs(c.steps) do
      body[#body + 1] = "run_step " .. quote(st.name) .. " " .. st.cmd
    end
    os.remove(c.rc)
    rcs[#rcs + 1] = c.rc
    script[#script + 1] = string.format(
      "{ printf '%s== %s: started (log: %s)\\n' >&2; { %s; } > %s 2>&1; rc=$?; echo $rc > %s; " ..
      "if [ $rc -ne 0 ]; then printf '%s== %s: FAILED, see %s\\n' >&2; else printf '%s== %s: done\\n' >&2; fi; } &",
      cr, c.name, c.log, table.concat(body, " && "), quote(c.log), quote(c.rc), cr, c.name, c.log, cr, c.name)
    script[#script + 1] = "while [ $(jobs -rp | wc -l) -ge " .. jobs .. " ]; do sleep 1; show; done"
  end
  script[#script + 1] = "while [ $(jobs -rp | wc -l) -gt 0 ]; do sleep 1; show; done"
  script[#script + 1] = "wait"
  if tty then script[#script + 1] = "printf '\\r\\033[K' >&2" end
  local path = out .. "/.jobs.sh"
  zl.io.write_atomic(path, table.concat(script, "\n") .. "\n")
  io.stderr:write(string.format("== %d seeds, %d at a time (%s)\n", #chains, jobs, path))
  os.execute("bash " .. quote(path))
  local f = io.open(times)
  if f then
    for line in f:lines() do
      local name, t0, t1 = line:match("^(.-) (%S+) (%S+)$")
      if name then timings[#timings + 1] = { name = name, seconds = tonumber(t1) - tonumber(t0) } end
    end
    f:close()
    os.remove(times)
  end
  local failed = {}
  for _, c in ipairs(chains) do
    local r = io.open(c.rc)
    local code = r and tonumber(r:read("l") or "")
    if r then r:close() end
    os.remove(c.rc)
    if code ~= 0 then failed[#failed + 1] = c.log end
  end
  if #failed > 0 then
    cli.fail("a seed's steps failed (see %s); its log names the step and the error. " ..
      "Rerun the same command to resume.", table.concat(failed, ", "))
  end
end
local function job_step(seed, name, recipe, argv)
  if jobs == 1 then return step(name, recipe, argv) end
  if not args.threads and (recipe == "train.lua" or recipe == "sweep.lua") then
    argv[#argv + 1] = "--threads"
    argv[#argv + 1] = tostring(math.max(1, cores // jobs))
  end
  chains[seed] = chains[seed] or { name = "seed " .. seed, log = string.format("%s/seed%d/log.txt", out, seed),
    steps = {} }
  table.insert(chains[seed].steps, { name = name, cmd = command(recipe, argv) })
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
    for _, v in ipairs(common) do a[#a + 1] = v end
    job_step(seed, string.format("train seed %d", seed), "train.lua", a)
  end
  local s = { "--model", run.model, "--predict", dev_file, "--out", run.sweep, "--zones", args.zones,
    "--batch", args.predict_batch }
  add(s, "--layers", args.layers)
  add(s, "--padding", args.padding or settings.decode.padding)
  for _, v in ipairs(common) do s[#s + 1] = v end
  job_step(seed, string.format("sweep seed %d", seed), "sweep.lua", s)
  -- per-question scores for the single-run significance of seed 1
  if seed == 1 then
    job_step(seed, "per-question scores seed 1", "aggregate.lua", { run.sweep, dir .. "/results_check.csv",
      "--dataset", dev_file, "--per-question", dir .. "/per_question" })
  end
end
if jobs > 1 then
  local list = {}
  for seed = 1, seeds do list[#list + 1] = chains[seed] end
  chains = list
  run_chains()
end
for _, run in ipairs(runs) do
  run.baseline = zl.json.read(run.sweep .. "/baseline.json")
  run.metrics = zl.json.read(run.dir .. "/metrics.json")
end

-- ---- statistics over seeds ----
local stats_dir = out .. "/stats"
local st = { "--out", stats_dir, "--per-question", runs[1].dir .. "/per_question", "--runs" }
for _, r in ipairs(runs) do st[#st + 1] = r.sweep .. "/results.csv" end
step("stats EM", "stats.lua", st)
local st_f1 = { "--out", stats_dir .. "/f1", "--runs" }
for _, r in ipairs(runs) do st_f1[#st_f1 + 1] = r.sweep .. "/results_f1.csv" end
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
cli.ensure_dir(fig)
local r1 = runs[1]
-- baselines passed as numbers: one --metric would pick the same key for both panels
local function num(x) return string.format("%.3f", x) end
step("heatmap single run", "heatmap.lua", { r1.sweep .. "/results.csv", num(r1.baseline.exact_match),
  fig .. "/heatmap_seed1.pdf", "--title", "Seed 1",
  "--panel", r1.sweep .. "/results_f1.csv", num(r1.baseline.f1),
  "--panel-title", "EM", "--panel-title", "F1" })
step("heatmap mean", "heatmap.lua", { stats_dir .. "/mean.csv", num(mean_baseline.exact_match),
  fig .. "/heatmap_mean.pdf", "--title", string.format("Mean of %d runs", #runs),
  "--panel", stats_dir .. "/f1/mean.csv", num(mean_baseline.f1),
  "--panel-title", "EM", "--panel-title", "F1" })

-- ---- attention flows: the untrained initial model against the fine-tuned one ----
local flows = {}
if n_flows > 0 then
  local compare = r1.model
  if embedded then
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
    local a = { "--model", r1.model, "--compare", compare, "--predict", dev_file, "--qid", qid,
      "--out", fig .. "/flows", "--target", "answer", "--tau", flows_tau }
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
w(embedded and "Embedded default: synthetic corpus (zonelab.synth), small BERT trained from scratch."
  or string.format("Model `%s`, training file `%s`, dev file `%s`.", args.model, args.train, args.dev))
w()
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
w("## Exact match with each zone masked in each layer (mean over seeds)")
w()
w(table_md(stats_dir .. "/mean.csv"))
w()
if #runs > 1 then
  w("Sample standard deviation over seeds:")
  w()
  w(table_md(stats_dir .. "/std.csv"))
  w()
end
w("F1 with each zone masked in each layer (mean over seeds):")
w()
w(table_md(stats_dir .. "/f1/mean.csv"))
w()
w("## Figures")
w()
w("- [Seed 1, EM and F1](" .. rel(fig .. "/heatmap_seed1.pdf") .. ")")
w("- [Mean over seeds, EM and F1](" .. rel(fig .. "/heatmap_mean.pdf") .. ")")
for _, qid in ipairs(flows) do
  w("- [Attention flows of " .. qid .. "](" .. rel(fig .. "/flows/flows_" .. qid .. ".pdf") .. ")")
end
w()
w("Single-run significance (paired bootstrap over questions, seed 1): `" ..
  rel(stats_dir .. "/significance.csv") .. "`.")
w()
w("## Timings")
w()
w("| step | seconds |")
w("| --- | --- |")
for _, t in ipairs(timings) do
  w(string.format("| %s | %.1f |", t.name, t.seconds))
end
w(string.format("| total (wall clock%s) | %.1f |", jobs > 1 and string.format(", %d seeds at a time", jobs) or "",
  zl.clock() - t_start))
w()
zl.io.write_atomic(out .. "/report.md", table.concat(md, "\n"))

print(string.format("baseline EM %.3f, F1 %.3f (mean of %d seeds)", mean_baseline.exact_match,
  mean_baseline.f1, #runs))
cli.wrote(out .. "/report.md", "report")
cli.wrote(fig .. "/heatmap_seed1.pdf", "Figure 1, seed 1")
cli.wrote(fig .. "/heatmap_mean.pdf", "Figure 1, mean over seeds")
cli.wrote(stats_dir, "mean.csv, std.csv, significance.csv")
