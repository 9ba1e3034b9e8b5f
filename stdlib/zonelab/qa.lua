-- zonelab.qa — what the decode, sweep and train recipes share to turn a SQuAD-style file
-- into predictions: load a model folder with its vocabulary and lower-casing decision,
-- build a file's features once, decode any set of (zone, layer) configurations in one
-- batch-major pass (zl.sweep), write predictions atomically under the reference's file
-- names, and score them.
--
--   local qa = require "zonelab.qa"
--   local model = qa.load_model("runs/model")                    -- bert + tokenizer + lower
--   local data = qa.load_data("dev-v1.1.json", model, { max_seq_length = 384 })
--   local res = qa.run(model, data, { { zone = "none" }, { zone = "q2", layer = 1 } },
--                      { out = "preds", batch = 32 })            -- files + scores
--   local preds, score = qa.decode(model, data, { zone = "p2", layer = 4 })  -- in memory
--
-- A configuration takes exactly m:forward's masking options (zone, layer, mask, heads,
-- layers, head_mask; layers and heads 1-based), passed unchanged to zl.sweep, which reads
-- them with m:forward's own code (lua/lopts.c). A configuration with a mask or a head mask
-- also needs a `name` for its files (predictions_<name>.json ...).
--
-- File names (as the reference names them, for drop-in compatibility: L is the 0-based
-- layer, i.e. layer - 1):
--   baseline            predictions.json          nbest_predictions.json          metrics.json
--   zone Z at layer L   predictions_layer{L}_{Z}.json   nbest_predictions_layer{L}_{Z}.json
--                       metrics_layer{L}_{Z}.json
--   zone Z every layer  predictions_layer_{Z}.json  (nbest_/metrics_ likewise)
-- The predictions file is written last (after its nbest file), so its presence marks a
-- finished configuration: qa.run skips those unless opts.force. While it runs, qa.run
-- keeps the logits in out/.sweep-partial (one configuration: out/.partial-<name>) with a
-- state.json checkpoint, so an interrupted run continues where it stopped.
local zl = require "zonelab"
local lfs = require "lfs"
local progress = require "zonelab.progress"
local scoring = require "zonelab.scoring"

local M = {}

--- The reference's zones, in the column order of its tables.
M.ZONES = { "all", "q2", "q2p", "p2q", "p2" }
--- zonelab's extra zone: the layer's attention context set exactly to zero.
M.EXTRA_ZONES = { "all_strict" }

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

--- The masking options a configuration accepts (m:forward's), and `name`.
M.MASK_KEYS = { "zone", "layer", "mask", "heads", "layers", "head_mask" }
local CONFIG_KEYS = { "zone", "layer", "mask", "heads", "layers", "head_mask", "name" }

--- True when c uses m:forward's general masking (a mask or a head mask).
local function general(c) return c.mask ~= nil or c.head_mask ~= nil end

local ENGINE_KEYS = { "batch", "padding", "keep_pad", "n_best_size", "max_answer_length",
  "progress", "label", "quiet", "on_batch", "checkpoint_seconds", "precision" }
local RUN_KEYS = { "out", "force", "spill", "on_write" }
for _, k in ipairs(ENGINE_KEYS) do RUN_KEYS[#RUN_KEYS + 1] = k end

--- True when z is a zone name a mask accepts.
function M.is_zone(z)
  for _, v in ipairs(M.ZONES) do if v == z then return true end end
  for _, v in ipairs(M.EXTRA_ZONES) do if v == z then return true end end
  return false
end

--- "all, q2, q2p, p2q, p2 (and all_strict)" for messages.
function M.zone_list()
  return table.concat(M.ZONES, ", ") .. " (and " .. table.concat(M.EXTRA_ZONES, ", ") .. ")"
end

--- Guesses do_lower_case from a vocabulary: a cased BERT vocabulary holds many pieces
--- with capital letters ("The", "##A"), an uncased one none (apart from [CLS]-style
--- specials). Returns lower (boolean) and the count of capitalised pieces.
function M.detect_lower(vocab_path)
  local f, err = io.open(vocab_path, "r")
  if not f then
    local why = tostring(err):gsub("^.*: ", "")
    fail("%s: cannot open the vocabulary (%s)", vocab_path, why)
  end
  local caps = 0
  for line in f:lines() do
    if not line:match("^%[.*%]$") and line:match("%u") then caps = caps + 1 end
  end
  f:close()
  return caps < 10, caps
end

--- do_lower_case as the model folder declares it: tokenizer_config.json, then
--- bert_config.json / config.json; returns the boolean and the file, or nil.
local function declared_lower(dir)
  if not dir then return nil end
  for _, name in ipairs { "tokenizer_config.json", "bert_config.json", "config.json" } do
    local path = dir .. "/" .. name
    if lfs.attributes(path, "mode") == "file" then
      local ok, t = pcall(zl.json.read, path)
      if ok and type(t) == "table" and type(t.do_lower_case) == "boolean" then return t.do_lower_case, path end
    end
  end
  return nil
end

local function casing_name(lower) return lower and "uncased (lower-cased)" or "cased" end

--- Decides do_lower_case for a vocabulary: what the vocabulary implies (an uncased one
--- has no capitalised pieces, a cased one thousands), checked against do_lower_case where
--- the model folder `dir` declares it and against `requested` (true = --lower, false =
--- --cased, nil = not given). A contradiction fails in one line; returns lower.
function M.resolve_lower(vocab_path, requested, dir)
  local lower, caps = M.detect_lower(vocab_path)
  local what = string.format("%s is %s (%d pieces with capitals)", vocab_path, casing_name(lower), caps)
  local declared, where = declared_lower(dir)
  if declared ~= nil and declared ~= lower then
    fail("%s says do_lower_case = %s, but %s", where, tostring(declared), what)
  end
  if requested ~= nil and requested ~= lower then
    fail("%s contradicts the model: %s; %s", requested and "--lower" or "--cased", what,
      lower and "drop --cased (or use a cased model)" or "drop --lower (or use an uncased model)")
  end
  return lower
end

--- Warns (one line on stderr) when more than 5% of the question and passage wordpieces of
--- features are [UNK]: a casing mismatch or the wrong vocabulary. Returns the share.
function M.warn_unk(feats, path)
  local share, n = feats:unk_share()
  if n > 0 and share > 0.05 then
    io.stderr:write(string.format("warning: %s: %.1f%% of its wordpieces are [UNK] (more than 5%%): " ..
      "check the vocabulary and its casing (--lower/--cased)\n", path, 100 * share))
  end
  return share
end

-- BERT's _is_chinese_char: the CJK Unified Ideographs blocks (what the tokenizer splits
-- into one token each).
local function is_cjk(c)
  return (c >= 0x4E00 and c <= 0x9FFF) or (c >= 0x3400 and c <= 0x4DBF)
    or (c >= 0x20000 and c <= 0x2A6DF) or (c >= 0x2A700 and c <= 0x2B73F)
    or (c >= 0x2B740 and c <= 0x2B81F) or (c >= 0x2B820 and c <= 0x2CEAF)
    or (c >= 0xF900 and c <= 0xFAFF) or (c >= 0x2F800 and c <= 0x2FA1F)
end

--- The share of CJK characters among the non-space characters of a data set's contexts
--- (its first `limit` examples, 200 by default: enough to tell the language); 0 when empty.
function M.cjk_share(ds, limit)
  local cjk, all, last = 0, 0, nil
  for i = 1, math.min(#ds, limit or 200) do
    local ctx = ds:example(i).context
    if ctx ~= last then -- the questions of one passage share it
      last = ctx
      -- a passage that is not valid UTF-8 counts for nothing (the reader decides about it)
      local n, k = 0, 0
      if pcall(function()
        for _, c in utf8.codes(ctx, true) do
          if c > 32 and c ~= 0x3000 then
            n = n + 1
            if is_cjk(c) then k = k + 1 end
          end
        end
      end) then all, cjk = all + n, cjk + k end
    end
  end
  return all > 0 and cjk / all or 0
end

--- Warns in one line (stderr) when a data set looks like CMRC 2018 (more than half of its
--- context characters are Chinese) but runs without the CMRC option. Returns the share.
function M.warn_cmrc(ds, path, cmrc)
  if cmrc then return nil end
  local share = M.cjk_share(ds)
  if share > 0.5 then
    io.stderr:write(string.format("warning: %s: %.0f%% of its context characters are Chinese: " ..
      "CMRC 2018-style data needs --cmrc (the CMRC tokenizer variant and metric)\n", path, 100 * share))
  end
  return share
end

--- The same for a file not otherwise read as a data set (evaluate, aggregate): reads its
--- contexts; a file the reader refuses is left to the caller's own reading to report.
function M.warn_cmrc_file(path, cmrc)
  if cmrc then return nil end
  local ok, ds = pcall(zl.squad.load, path)
  if not ok then return nil end
  local share = M.warn_cmrc(ds, path, false)
  ds:close()
  return share
end

--- Wraps a loaded zl.bert model and its tokenizer (what train.lua holds in memory).
function M.wrap_model(bert, tok, opts)
  opts = opts or {}
  local cfg = bert:config()
  return {
    bert = bert, tok = tok, lower = tok:options().lower, cmrc = opts.cmrc or false,
    dir = opts.dir, layers = cfg.num_hidden_layers, config = cfg,
  }
end

--- The model's config file in a model folder, as zl.bert.load finds it (for messages).
function M.config_path(dir)
  for _, name in ipairs { "bert_config.json", "config.json" } do
    if lfs.attributes(dir .. "/" .. name, "mode") == "file" then return dir .. "/" .. name end
  end
  return dir
end

--- Checks a model and a vocabulary loaded together: a vocabulary longer than the model's
--- vocab_size would give ids past its embedding table (found only at the first forward,
--- or never for a file with no such words), so it is an error naming both files; a shorter
--- one (a padded embedding table) is a warning.
function M.check_vocab(bert, tok, vocab_path, model_dir)
  local n, v = #tok, bert:config().vocab_size
  if n > v then
    fail("%s has %d entries but %s says vocab_size %d: the vocabulary does not belong to this " ..
      "model", vocab_path, n, M.config_path(model_dir), v)
  elseif n < v then
    io.stderr:write(string.format("warning: %s has %d entries but the model's vocab_size is %d\n",
      vocab_path, n, v))
  end
end

--- Loads a model folder (bert_config.json or config.json + weights, and vocab.txt).
--- opts.lower: true (--lower) / false (--cased) / nil; the vocabulary decides, and a
--- contradiction with it or with the folder's do_lower_case fails (M.resolve_lower).
--- opts.cmrc: CMRC 2018 tokenisation (Chinese BERT).
--- opts.gelu: "erf" or "tanh" overrides the GELU the model's files imply.
function M.load_model(dir, opts)
  zl.check_options(opts, { "lower", "cmrc", "gelu" }, "qa.load_model")
  opts = opts or {}
  if lfs.attributes(dir, "mode") ~= "directory" then fail("%s: not a model folder", dir) end
  local vocab = dir .. "/vocab.txt"
  if lfs.attributes(vocab, "mode") ~= "file" then
    fail("%s: missing (a model folder needs its vocab.txt beside the weights)", vocab)
  end
  local lower = M.resolve_lower(vocab, opts.lower, dir)
  local bert = zl.bert.load(dir, { gelu = opts.gelu })
  local tok = zl.tokenizer.load(vocab, { lower = lower, cmrc = opts.cmrc or false })
  M.check_vocab(bert, tok, vocab, dir)
  local model = M.wrap_model(bert, tok, { cmrc = opts.cmrc, dir = dir })
  -- what identifies these weights for a resumed run: every file's name, size and time
  local names = {}
  for name in lfs.dir(dir) do
    if lfs.attributes(dir .. "/" .. name, "mode") == "file" then names[#names + 1] = name end
  end
  table.sort(names)
  local stamp = {}
  for _, name in ipairs(names) do
    local a = lfs.attributes(dir .. "/" .. name)
    stamp[#stamp + 1] = string.format("%s:%d:%d", name, a.size, a.modification)
  end
  model.stamp = table.concat(stamp, ";")
  return model
end

--- Reads a SQuAD-format file and builds its features with the model's tokenizer.
--- opts: max_seq_length (384), doc_stride (128), max_query_length (64).
function M.load_data(path, model, opts)
  zl.check_options(opts, { "max_seq_length", "doc_stride", "max_query_length" }, "qa.load_data")
  opts = opts or {}
  local fo = {
    max_seq_length = opts.max_seq_length or 384,
    doc_stride = opts.doc_stride or 128,
    max_query_length = opts.max_query_length or 64,
  }
  local maxpos = model.config.max_position_embeddings
  if fo.max_seq_length > maxpos then
    fail("--max-seq-length %d exceeds the model's max_position_embeddings %d", fo.max_seq_length, maxpos)
  end
  local ds = zl.squad.load(path)
  M.warn_cmrc(ds, path, model.cmrc)
  local feats = zl.squad.features(ds, model.tok, fo)
  M.warn_unk(feats, path)
  local has_answers = false
  for i = 1, #ds do
    if #ds:example(i).answers > 0 then has_answers = true; break end
  end
  local a = lfs.attributes(path)
  return { path = path, ds = ds, feats = feats, opts = fo, has_answers = has_answers,
           stamp = string.format("%d:%d", a.size, a.modification) }
end

local function suffix(c)
  if general(c) then
    if type(c.name) ~= "string" or not c.name:match("^[%w_.-]+$") then
      fail("a configuration with a mask or a head_mask needs a name for its files " ..
        "(letters, digits, _ . -), got %s", tostring(c.name))
    end
    return "_" .. c.name
  end
  if c.zone == nil or c.zone == "none" then return "" end
  if c.layer == nil or c.layer == "all" then return "_layer_" .. c.zone end
  if math.type(c.layer) ~= "integer" or c.layer < 1 then
    fail("layer must be a layer number (1-based) or 'all', got %s", tostring(c.layer))
  end
  -- the reference's names count layers from 0
  return string.format("_layer%d_%s", c.layer - 1, c.zone)
end

--- File names of a configuration {zone =, layer = 1-based | "all"} (zone nil = baseline);
--- the names keep the reference's 0-based layer (layer 1 -> predictions_layer0_<zone>.json).
function M.predictions_name(c) return "predictions" .. suffix(c) .. ".json" end
function M.nbest_name(c) return "nbest_predictions" .. suffix(c) .. ".json" end
function M.metrics_name(c) return "metrics" .. suffix(c) .. ".json" end

--- A short label (1-based layers): "baseline", "q2@3", "p2@all"; a general
--- configuration's name.
function M.label(c)
  if general(c) then return tostring(c.name) end
  if c.zone == nil or c.zone == "none" then return "baseline" end
  local l = (c.layer == nil or c.layer == "all") and "all" or tostring(c.layer)
  return c.zone .. "@" .. l
end

--- The gold answers for scoring (zl.metrics dataset), loaded once per data.
local function gold(data)
  if not data.gold then data.gold = zl.metrics.load(data.path) end
  return data.gold
end

--- Scores predictions (a {qid = text} table or a file) against data's answers:
--- {exact_match =, f1 =, total =, missing =} (x100), or nil when the file has no answers.
function M.score(data, preds, opts)
  zl.check_options(opts, { "cmrc", "quiet" }, "qa.score")
  opts = opts or {}
  if not data.has_answers then return nil end
  local r = scoring.score(gold(data), preds, { cmrc = opts.cmrc, per_question = false, quiet = opts.quiet })
  return { exact_match = r.exact_match, f1 = r.f1, total = r.total, missing = r.missing }
end

-- The engine's configurations: the masking options passed through unchanged (zl.sweep
-- reads and checks them as m:forward does); `name` is ours.
local function sweep_configs(configs)
  local t = {}
  for i, c in ipairs(configs) do
    if type(c) ~= "table" then fail("configuration %d must be a table, got %s", i, type(c)) end
    zl.check_options(c, CONFIG_KEYS, string.format("configuration %d", i))
    local e = {}
    for _, k in ipairs(M.MASK_KEYS) do e[k] = c[k] end
    t[i] = e
  end
  return t
end

local function engine_opts(opts)
  return {
    batch = opts.batch or 32, padding = opts.padding or "max",
    keep_pad = opts.keep_pad or opts.n_best_size or 20, precision = opts.precision or "fp32",
  }
end

--- The marker of a folder decoded in bf16 (fp32 folders have none, as before bf16 existed).
M.PRECISION_FILE = "precision.json"

-- One precision per output folder: a skipped (finished) file of another precision would
-- otherwise sit beside the new ones, and a results table would mix them silently.
local function check_folder_precision(out, precision, names)
  if lfs.attributes(out, "mode") ~= "directory" then return end
  local marker = out .. "/" .. M.PRECISION_FILE
  local recorded = lfs.attributes(marker, "mode") == "file" and zl.json.read(marker).precision or "fp32"
  if recorded == precision then return end
  local any = nil
  for _, n in ipairs(names) do if not any and lfs.attributes(out .. "/" .. n, "mode") == "file" then any = n end end
  for entry in lfs.dir(out) do
    if entry:match("^predictions.*%.json$") then any = any or entry end
  end
  if any then
    fail("%s holds %s decodes (%s%s); this run asks for %s: use another output folder", out,
      recorded, any, recorded == "bf16" and (", " .. M.PRECISION_FILE) or "", precision)
  end
  if precision == "fp32" then os.remove(marker)
  else zl.json.write(marker, { precision = precision }, { pretty = true }) end
end

local function decode_opts(model, opts)
  return {
    n_best_size = opts.n_best_size or 20, max_answer_length = opts.max_answer_length or 30,
    lower = model.lower,
  }
end

-- Removes a partial folder's logits files and state (what a resume would trust).
local function clear_spill(dir)
  for name in lfs.dir(dir) do
    if name:match("^cfg%d+%.bin$") or name == "state.json" then os.remove(dir .. "/" .. name) end
  end
end

--- Runs the engine over every batch with a progress bar (label) across the whole job.
--- With opts.spill (a folder), logits go to files there and the run can be resumed: after
--- a batch, at most every opts.checkpoint_seconds (60), the files are synced and
--- spill/state.json records how far the run got; a later call with the same options
--- (opts.fingerprint) continues from there. Returns the engine and the configurations it
--- was built with (those of the checkpoint when resuming: a superset of `configs`).
local function run_engine(model, data, configs, opts)
  local eopts = engine_opts(opts)
  local state, state_path = nil, nil
  local labels = {}
  for i, c in ipairs(configs) do labels[i] = M.label(c) end
  if opts.spill then
    state_path = opts.spill .. "/state.json"
    if lfs.attributes(state_path, "mode") == "file" then
      local ok, st = pcall(zl.json.read, state_path)
      if ok and type(st) == "table" and st.fingerprint == opts.fingerprint and type(st.configs) == "table" then
        local known = {}
        for _, c in ipairs(st.configs) do known[M.label(c)] = true end
        local covered = true
        for _, l in ipairs(labels) do if not known[l] then covered = false end end
        if covered then state = st end
      end
    end
    if not state then clear_spill(opts.spill) end
    eopts.spill, eopts.spill_keep = opts.spill, state ~= nil
  end
  local engine_configs = state and state.configs or configs
  local s = zl.sweep.new(model.bert, data.ds, data.feats, sweep_configs(engine_configs), eopts)
  local first = 1
  if state then
    local wanted = {}
    for _, l in ipairs(labels) do wanted[l] = true end
    for k, c in ipairs(engine_configs) do
      if not wanted[M.label(c)] then s:release(k) end -- written before the interruption
    end
    local ok, why = s:resume(state.offsets)
    if ok then
      first = state.batches_done + 1
    else
      -- a torn or foreign record (a second writer, a damaged disk): never a permanent
      -- failure, the work is recomputed from the first batch
      io.stderr:write(string.format("%s: note: %s; discarding the partial results in %s and starting over\n",
        opts.label or "decode", why, opts.spill))
      s:close()
      clear_spill(opts.spill)
      state, engine_configs, eopts.spill_keep = nil, configs, false
      s = zl.sweep.new(model.bert, data.ds, data.feats, sweep_configs(engine_configs), eopts)
    end
  end
  local n = s:batches()
  local costs, total, done = {}, 0, 0
  for b = 1, n do
    costs[b] = math.max(1, math.floor(s:batch_cost(b) + 0.5))
    total = total + costs[b]
    if b < first then done = done + costs[b] end
  end
  if state then
    io.stderr:write(string.format("%s: resuming after batch %d of %d (%s)\n", opts.label or "decode",
      first - 1, n, state_path))
  end
  local bar = opts.progress ~= false and progress.new {
    total = total - done, label = opts.label or "decode", unit = "tokens",
  } or nil
  local every = opts.checkpoint_seconds or 60
  local last = zl.clock()
  for b = first, n do
    s:step(b)
    if bar then bar:step(costs[b], string.format("batch %d/%d", b, n)) end
    if state_path and (zl.clock() - last >= every or b == n) then
      zl.json.write(state_path, {
        fingerprint = opts.fingerprint, configs = engine_configs, batches_done = b, batches = n,
        offsets = s:sync(),
      })
      last = zl.clock()
    end
    if opts.on_batch then opts.on_batch(b, n) end -- tests: interrupt here
  end
  if bar then bar:done() end
  return s, engine_configs
end

--- Decodes one configuration (m:forward's masking options) in memory: returns
--- predictions ({qid = text}) and the score (nil when the file has no answers). opts:
--- batch, padding, keep_pad, n_best_size, max_answer_length, progress (false = silent),
--- label, quiet, precision ("fp32", the default, or "bf16": core/bf16.h).
function M.decode(model, data, config, opts)
  zl.check_options(opts, ENGINE_KEYS, "qa.decode")
  opts = opts or {}
  local s <close> = run_engine(model, data, { config or {} }, opts)
  local preds = s:write(1, nil, nil, decode_opts(model, opts))
  return preds, M.score(data, preds, { cmrc = model.cmrc, quiet = opts.quiet })
end

local function exists(path) return lfs.attributes(path, "mode") == "file" end

--- Decodes configurations into opts.out (must exist): the predictions, nbest and, when
--- the file has answers, metrics files of each. Finished configurations (predictions
--- file present) are skipped unless opts.force; their missing metrics are recomputed.
--- opts.precision: "fp32" (default) or "bf16"; a folder holds one precision (a bf16 one
--- is marked by precision.json) and a run of the other is refused.
--- Returns one entry per configuration: {config =, predictions = path, skipped =,
--- score = {exact_match, f1, ...} or nil}.
-- Temporary files a killed run left beside its own outputs (zl_io_atomic_begin names
-- them <file>.tmp.XXXXXX) are removed, so a rerun leaves a clean folder.
local function remove_stale_temporaries(out, names)
  local own = {}
  for _, n in ipairs(names) do own[n] = true end
  if lfs.attributes(out, "mode") ~= "directory" then return end
  for entry in lfs.dir(out) do
    local base = entry:match("^(.+)%.tmp%.[%w]+$")
    if base and own[base] then os.remove(out .. "/" .. entry) end
  end
end

function M.run(model, data, configs, opts)
  zl.check_options(opts, RUN_KEYS, "qa.run")
  opts = opts or {}
  if not opts.out then fail("qa.run: opts.out (a folder) is required") end
  local out = opts.out
  local names, seen = {}, {}
  for i, c in ipairs(configs) do
    local pn = M.predictions_name(c)
    if seen[pn] then fail("qa.run: configurations %d and %d write the same file %s", seen[pn], i, pn) end
    seen[pn] = i
    names[#names + 1] = pn
    names[#names + 1] = M.nbest_name(c)
    names[#names + 1] = M.metrics_name(c)
  end
  remove_stale_temporaries(out, names)
  check_folder_precision(out, opts.precision or "fp32", names)
  local results, pending = {}, {}
  for i, c in ipairs(configs) do
    local r = {
      config = c,
      predictions = out .. "/" .. M.predictions_name(c),
      nbest = out .. "/" .. M.nbest_name(c),
      metrics = out .. "/" .. M.metrics_name(c),
    }
    r.skipped = not opts.force and exists(r.predictions)
    if not r.skipped then pending[#pending + 1] = i end
    results[i] = r
  end
  local function finish(r, preds)
    r.score = M.score(data, preds, { cmrc = model.cmrc, quiet = opts.quiet })
    if r.score then
      zl.json.write(r.metrics, {
        exact_match = r.score.exact_match, f1 = r.score.f1, total = r.score.total,
        missing = r.score.missing, predictions = M.predictions_name(r.config),
        scoring = model.cmrc and "cmrc" or "squad",
      }, { pretty = true })
    end
  end
  if #pending > 0 then
    local cfgs = {}
    for k, i in ipairs(pending) do cfgs[k] = configs[i] end
    -- the checkpoint folder: one per single configuration, so that separate decodes of
    -- one folder (as the reference runs them) may run side by side
    local spill_name = #cfgs == 1 and (".partial-" .. (M.predictions_name(cfgs[1]):gsub("%.json$", "")))
      or ".sweep-partial"
    -- a checkpoint records the configurations as JSON: masks (functions, tensors) cannot
    -- be recorded, so a run with one is not resumable
    local resumable = true
    for _, c in ipairs(cfgs) do if general(c) then resumable = false end end
    local spill = opts.spill ~= false and resumable and (out .. "/" .. spill_name) or nil
    if spill then
      -- the partial folder is ours alone: a symlink there could send the logits elsewhere
      if lfs.symlinkattributes(spill, "mode") == "link" then
        error(spill .. ": is a symbolic link; zonelab never writes an output through one (remove it)", 0)
      end
      lfs.mkdir(spill)
    end
    local eo = engine_opts(opts)
    local run_opts = setmetatable({
      spill = spill,
      fingerprint = zl.json.encode {
        predict = data.path, predict_stamp = data.stamp or "", features = #data.feats,
        feature_opts = data.opts, model = model.dir or "", model_stamp = model.stamp or "",
        lower = model.lower, cmrc = model.cmrc,
        batch = eo.batch, padding = eo.padding, keep_pad = eo.keep_pad,
        layers_from = 1, -- checkpoints of configurations with 0-based layers are not resumed
        -- fp32 checkpoints written before bf16 existed stay resumable
        precision = eo.precision ~= "fp32" and eo.precision or nil,
      },
    }, { __index = opts })
    local s <close>, engine_configs = run_engine(model, data, cfgs, run_opts)
    local dopts = decode_opts(model, opts)
    local by_label = {}
    for k, i in ipairs(pending) do by_label[M.label(configs[i])] = results[i] end
    for k, c in ipairs(engine_configs) do
      local r = by_label[M.label(c)]
      if r then
        local preds = s:write(k, r.predictions, r.nbest, dopts)
        finish(r, preds)
        if opts.on_write then opts.on_write(r) end -- tests: interrupt here
      else
        s:release(k) -- finished before an interruption of this write phase
      end
    end
    if spill then
      s:close()
      for name in lfs.dir(spill) do
        if name ~= "." and name ~= ".." then os.remove(spill .. "/" .. name) end
      end
      lfs.rmdir(spill)
    end
  end
  for _, r in ipairs(results) do
    if r.skipped then
      if data.has_answers and not exists(r.metrics) then finish(r, r.predictions)
      elseif data.has_answers then
        local m = zl.json.read(r.metrics)
        r.score = { exact_match = m.exact_match, f1 = m.f1, total = m.total, missing = m.missing }
      end
    end
  end
  return results
end

return M
