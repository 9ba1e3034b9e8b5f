-- zonelab.qa + zl.sweep: decoding a SQuAD-style file with and without zone masks. A
-- sweep's files equal separate decodes byte for byte; the engine equals the plain
-- forward + write_predictions path; resume skips finished configurations; file names
-- follow the reference. Runs on a small random model of the synthetic corpus (a trained
-- model is not needed to check that the plumbing is exact) and, when present, on the
-- first articles of the real SQuAD dev set with the real cased vocabulary.
local zl = require "zonelab"
local lfs = require "lfs"
local qa = require "zonelab.qa"
local synth = require "zonelab.synth"

zl.set_threads(1) -- the machine is shared; results must not depend on it anyway

local u = require "spec_util"
local tmpdir = u.tmpdir

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function copy(src, dst) zl.io.write_atomic(dst, read(src)) end

local FEATS = { max_seq_length = 96, doc_stride = 32, max_query_length = 24 }

-- A 3-layer random model whose logits differ visibly between masks.
local root = tmpdir()
local corpus = synth.generate { seed = 5, train_paragraphs = 1, dev_paragraphs = 3 }
synth.write(root, corpus)
local cfg = zl.json.read(root .. "/bert_config.json")
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 3, 2, 64
cfg.initializer_range = 0.3
lfs.mkdir(root .. "/model")
zl.bert.new(cfg, { seed = 11 }):save(root .. "/model")
copy(root .. "/vocab.txt", root .. "/model/vocab.txt")
local dev = root .. "/dev.json"

local model = qa.load_model(root .. "/model")
local data = qa.load_data(dev, model, FEATS)
local OPTS = { batch = 5, progress = false }

local function configs()
  local t = { { zone = "none" } }
  for l = 1, 3 do
    for _, z in ipairs(qa.ZONES) do t[#t + 1] = { zone = z, layer = l } end
  end
  t[#t + 1] = { zone = "all_strict", layer = 2 }
  t[#t + 1] = { zone = "p2", layer = "all" }
  return t
end

local function with(opts, extra)
  local t = {}
  for k, v in pairs(opts) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

describe("zonelab.qa", function()
  teardown(u.cleanup)

  it("names files as the reference (layers 1-based, file names 0-based L = layer - 1)", function()
    assert.are.equal("predictions.json", qa.predictions_name {})
    assert.are.equal("predictions.json", qa.predictions_name { zone = "none" })
    assert.are.equal("predictions_layer0_q2.json", qa.predictions_name { zone = "q2", layer = 1 })
    assert.are.equal("predictions_layer11_p2q.json", qa.predictions_name { zone = "p2q", layer = 12 })
    assert.are.equal("predictions_layer_all.json", qa.predictions_name { zone = "all", layer = "all" })
    assert.are.equal("nbest_predictions_layer3_p2.json", qa.nbest_name { zone = "p2", layer = 4 })
    assert.are.equal("metrics_layer3_all_strict.json", qa.metrics_name { zone = "all_strict", layer = 4 })
    assert.are.equal("q2p@4", qa.label { zone = "q2p", layer = 4 })
    assert.are.equal("predictions_head3.json", qa.predictions_name { mask = function() return 1 end, name = "head3" })
    assert.has_error(function() qa.predictions_name { zone = "q2", layer = 0 } end)
    assert.has_error(function() qa.predictions_name { mask = function() return 1 end } end)
    assert.is_true(qa.is_zone("all_strict"))
    assert.is_false(qa.is_zone("none"))
  end)

  it("guesses lower-casing from the vocabulary", function()
    assert.is_true((qa.detect_lower(root .. "/vocab.txt")))
    assert.is_true(model.lower)
    local cased = root .. "/cased_vocab.txt"
    local lines = { "[PAD]", "[UNK]", "[CLS]", "[SEP]" }
    for i = 1, 20 do lines[#lines + 1] = "Word" .. i end
    zl.io.write_atomic(cased, table.concat(lines, "\n") .. "\n")
    local lower, caps = qa.detect_lower(cased)
    assert.is_false(lower)
    assert.are.equal(20, caps)
  end)

  it("equals the plain forward + write_predictions path", function()
    -- reference path: features in file order, padded to max_seq_length, every logit kept
    local feats = data.feats
    local acc = zl.squad.collector(feats)
    local i = 1
    while i <= #feats do
      local n = math.min(7, #feats - i + 1)
      local b = feats:batch(i, n, { pad_to = FEATS.max_seq_length })
      b.zone, b.layer = "p2q", 1
      local out = model.bert:forward(b)
      acc:add(i, out.start_logits, out.end_logits)
      i = i + n
    end
    local ref_preds, ref_nbest = acc:decode(data.ds, { lower = true })
    local dir = tmpdir()
    local r = qa.run(model, data, { { zone = "p2q", layer = 1 } }, with(OPTS, { out = dir }))[1]
    local preds = zl.json.read(r.predictions)
    local nbest = zl.json.read(r.nbest)
    local n = 0
    for qid, text in pairs(ref_preds) do
      n = n + 1
      assert.are.equal(text, preds[qid])
      assert.are.equal(#ref_nbest[qid], #nbest[qid])
      for k, e in ipairs(ref_nbest[qid]) do
        assert.are.equal(e.text, nbest[qid][k].text)
        assert.is_true(math.abs(e.start_logit - nbest[qid][k].start_logit) < 1e-4)
        assert.is_true(math.abs(e.probability - nbest[qid][k].probability) < 1e-4)
      end
    end
    assert.are.equal(#data.ds, n)
    -- the scores are those of the official metric on the written file
    local m = zl.json.read(r.metrics)
    local direct = zl.metrics.squad(zl.metrics.load(dev), r.predictions)
    assert.are.equal(direct.exact_match, m.exact_match)
    assert.are.equal(direct.f1, m.f1)
    assert.are.equal(#data.ds, m.total)
  end)

  for _, padding in ipairs { "max", "dynamic" } do
    it("writes the same files in one sweep as in separate decodes (padding " .. padding .. ")", function()
      local opts = with(OPTS, { padding = padding })
      local sweep_dir, single_dir = tmpdir(), tmpdir()
      local cs = configs()
      qa.run(model, data, cs, with(opts, { out = sweep_dir }))
      local distinct = {}
      -- the sweep ran every configuration; compare a spread of them (time) with single runs
      local pick = { 1, 2, 3, 4, 5, 6, 9, 12, 13, 17, 18 }
      for _, k in ipairs(pick) do
        local c = cs[k]
        qa.run(model, data, { c }, with(opts, { out = single_dir }))
        for _, name in ipairs { qa.predictions_name(c), qa.nbest_name(c), qa.metrics_name(c) } do
          local a, b = read(sweep_dir .. "/" .. name), read(single_dir .. "/" .. name)
          assert.are.equal(b, a, name .. " differs between the sweep and a single decode")
        end
        distinct[read(sweep_dir .. "/" .. qa.nbest_name(c))] = true
      end
      -- the masks really change the logits (otherwise the comparison proves little)
      local count = 0
      for _ in pairs(distinct) do count = count + 1 end
      assert.is_true(count >= #pick - 1, "only " .. count .. " distinct nbest files")
      -- in memory: the same predictions as the file
      local preds, score = qa.decode(model, data, { zone = "q2", layer = 3 }, opts)
      assert.are.same(zl.json.read(sweep_dir .. "/predictions_layer2_q2.json"), preds)
      assert.are.equal(zl.json.read(sweep_dir .. "/metrics_layer2_q2.json").f1, score.f1)
    end)
  end

  it("pads dynamically without changing the real positions' logits", function()
    -- dynamic padding equals padding to max_seq_length once the padding logits are left
    -- out of the n-best ranking (keep_pad = 0): the real rows never see padding keys
    local cs = { { zone = "none" }, { zone = "q2", layer = 1 }, { zone = "p2q", layer = 3 } }
    local dyn, max = tmpdir(), tmpdir()
    qa.run(model, data, cs, with(OPTS, { out = dyn, padding = "dynamic" }))
    qa.run(model, data, cs, with(OPTS, { out = max, padding = "max", keep_pad = 0 }))
    for _, c in ipairs(cs) do
      assert.are.same(zl.json.read(max .. "/" .. qa.predictions_name(c)),
        zl.json.read(dyn .. "/" .. qa.predictions_name(c)))
      -- n-best entries: the same logits (to float noise, which may swap near-ties)
      local a, b = zl.json.read(max .. "/" .. qa.nbest_name(c)), zl.json.read(dyn .. "/" .. qa.nbest_name(c))
      local matched, total = 0, 0
      for qid, list in pairs(a) do
        local by_text = {}
        for _, e in ipairs(b[qid]) do by_text[e.text] = by_text[e.text] or e end
        for _, e in ipairs(list) do
          total = total + 1
          local o = by_text[e.text]
          if o then
            matched = matched + 1
            assert.is_true(math.abs(e.start_logit - o.start_logit) < 1e-4)
            assert.is_true(math.abs(e.end_logit - o.end_logit) < 1e-4)
          end
        end
      end
      assert.is_true(matched >= 0.9 * total, matched .. " of " .. total .. " n-best entries matched")
    end
  end)

  it("resumes: finished configurations are skipped, the files end identical", function()
    local dir = tmpdir()
    local cs = configs()
    local first = qa.run(model, data, cs, with(OPTS, { out = dir }))
    local before = {}
    for _, r in ipairs(first) do
      assert.is_false(r.skipped)
      before[r.predictions] = read(r.predictions)
      before[r.nbest] = read(r.nbest)
    end
    os.remove(dir .. "/predictions_layer1_q2p.json")
    os.remove(dir .. "/metrics_layer0_p2.json") -- a crash right after its predictions
    local again = qa.run(model, data, cs, with(OPTS, { out = dir }))
    local redone = {}
    for _, r in ipairs(again) do
      if not r.skipped then redone[#redone + 1] = qa.label(r.config) end
      assert.are.equal(before[r.predictions], read(r.predictions))
      assert.are.equal(before[r.nbest], read(r.nbest))
      assert.is_not_nil(r.score)
    end
    assert.are.same({ "q2p@2" }, redone)
    assert.is_true(lfs.attributes(dir .. "/metrics_layer0_p2.json", "mode") == "file")
    local forced = qa.run(model, data, { cs[2] }, with(OPTS, { out = dir, force = true }))
    assert.is_false(forced[1].skipped)
  end)

  it("resumes an interrupted sweep from its checkpoint, with identical files", function()
    local ref, dir = tmpdir(), tmpdir()
    local cs = configs()
    qa.run(model, data, cs, with(OPTS, { out = ref }))
    local n_batches = math.ceil(#data.feats / OPTS.batch)
    assert.is_true(n_batches >= 3)
    -- interrupted while computing, after batch 2 (checkpoint after every batch)
    local ok, err = pcall(qa.run, model, data, cs, with(OPTS, { out = dir, checkpoint_seconds = 0,
      on_batch = function(b) if b == 2 then error("interrupted", 0) end end }))
    assert.is_false(ok)
    assert.are.equal("interrupted", err)
    collectgarbage() -- closes the abandoned engine's files
    local st = zl.json.read(dir .. "/.sweep-partial/state.json")
    assert.are.equal(2, st.batches_done)
    -- interrupted again while writing, after 3 configurations
    local seen, written = {}, 0
    ok, err = pcall(qa.run, model, data, cs, with(OPTS, { out = dir,
      on_batch = function(b) seen[#seen + 1] = b end,
      on_write = function() written = written + 1; if written == 3 then error("interrupted", 0) end end }))
    assert.is_false(ok)
    assert.are.equal(3, seen[1]) -- batches 1 and 2 were not run again
    assert.are.equal(n_batches - 2, #seen)
    collectgarbage()
    seen = {}
    local res = qa.run(model, data, cs, with(OPTS, { out = dir, on_batch = function(b) seen[#seen + 1] = b end }))
    assert.are.equal(0, #seen) -- every batch was done: only the decoding remained
    local skipped = 0
    for _, r in ipairs(res) do if r.skipped then skipped = skipped + 1 end end
    assert.are.equal(3, skipped)
    for _, c in ipairs(cs) do
      for _, name in ipairs { qa.predictions_name(c), qa.nbest_name(c), qa.metrics_name(c) } do
        assert.are.equal(read(ref .. "/" .. name), read(dir .. "/" .. name), name)
      end
    end
    assert.is_nil(lfs.attributes(dir .. "/.sweep-partial"))
  end)

  -- issue 16: a partial record that does not verify (torn, damaged, or appended by a second
  -- writer) is discarded and its work recomputed: never a permanent failure
  it("recomputes a partial state whose records do not verify, with identical files", function()
    local ref = tmpdir()
    local cs = { { zone = "none" }, { zone = "q2", layer = 2 }, { zone = "p2", layer = 1 } }
    qa.run(model, data, cs, with(OPTS, { out = ref }))
    local function interrupted(dir)
      local ok, err = pcall(qa.run, model, data, cs, with(OPTS, { out = dir, checkpoint_seconds = 0,
        on_batch = function(b) if b == 2 then error("interrupted", 0) end end }))
      assert.is_false(ok)
      assert.are.equal("interrupted", err)
      collectgarbage()
      return dir .. "/.sweep-partial/", zl.json.read(dir .. "/.sweep-partial/state.json")
    end
    local function edit(path, fn)
      local bytes = read(path)
      local f = assert(io.open(path, "wb"))
      f:write(fn(bytes))
      f:close()
    end
    local damages = {
      -- one flipped bit in a logit of the first record (the checksum catches it)
      flip = function(p, st) edit(p .. "cfg2.bin", function(b)
        local k = 12
        return b:sub(1, k - 1) .. string.char(b:byte(k) ~ 1) .. b:sub(k + 1)
      end) end,
      -- torn: shorter than the recorded offset
      truncate = function(p, st) edit(p .. "cfg1.bin", function(b) return b:sub(1, st.offsets[1] - 3) end) end,
      -- a record header out of range (a foreign writer's bytes)
      header = function(p, st) edit(p .. "cfg3.bin", function(b) return string.pack("<i4i4", -7, 99999) .. b:sub(9) end) end,
    }
    for name, damage in pairs(damages) do
      local dir = tmpdir()
      local partial, st = interrupted(dir)
      assert.are.equal(2, st.batches_done)
      damage(partial, st)
      local seen = {}
      qa.run(model, data, cs, with(OPTS, { out = dir, on_batch = function(b) seen[#seen + 1] = b end }))
      assert.are.equal(1, seen[1], name .. ": the work is recomputed from the first batch")
      for _, c in ipairs(cs) do
        for _, f in ipairs { qa.predictions_name(c), qa.nbest_name(c), qa.metrics_name(c) } do
          assert.are.equal(read(ref .. "/" .. f), read(dir .. "/" .. f), name .. ": " .. f)
        end
      end
      assert.is_nil(lfs.attributes(dir .. "/.sweep-partial"))
    end
    -- the engine's own answer, without the recipe around it
    local dir = tmpdir()
    local partial, st = interrupted(dir)
    damages.flip(partial, st)
    local s <close> = zl.sweep.new(model.bert, data.ds, data.feats, {
      { zone = "none" }, { zone = "q2", layer = 2 }, { zone = "p2", layer = 1 } },
      { batch = OPTS.batch, spill = partial, spill_keep = true })
    local ok, why = s:resume(st.offsets)
    assert.is_nil(ok)
    assert.matches("cfg2.bin: logits record 1 at byte 0 does not verify %(checksum%)", why)
  end)

  it("rejects bad configurations with messages naming the problem", function()
    local ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, { { zone = "q2", layer = 4 } })
    assert.is_false(ok)
    assert.matches("layer", err)
    ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, { { zone = "q3", layer = 1 } })
    assert.is_false(ok)
    assert.matches("'zone' must be one of", err)
    ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, { { zone = "q2", layr = 1 } })
    assert.is_truthy(tostring(err):find("configuration 1: unknown option 'layr' (did you mean 'layer'?)", 1, true), err)
    ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, { { zone = "none" } }, { bach = 4 })
    assert.is_truthy(tostring(err):find("sweep.new: unknown option 'bach' (did you mean 'batch'?)", 1, true), err)
    ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, { { zone = "none" } }, { batch = "4" })
    assert.is_truthy(tostring(err):find("sweep.new: option 'batch' must be an integer >= 1 (got string)", 1, true), err)
    -- every options table of the bindings refuses unknown keys
    ok, err = pcall(zl.squad.features, data.ds, model.tok, { max_seq_len = 96 })
    assert.is_truthy(tostring(err):find("squad.features: unknown option 'max_seq_len'", 1, true), err)
    ok, err = pcall(zl.tokenizer.load, root .. "/vocab.txt", { lowr = true })
    assert.is_truthy(tostring(err):find("tokenizer.load: unknown option 'lowr' (did you mean 'lower'?)", 1, true), err)
    ok, err = pcall(zl.json.encode, {}, { prety = true })
    assert.is_truthy(tostring(err):find("json: unknown option 'prety' (did you mean 'pretty'?)", 1, true), err)
    ok, err = pcall(data.feats.batch, data.feats, 1, 2, { padto = 96 })
    assert.is_truthy(tostring(err):find("batch: unknown option 'padto' (did you mean 'pad_to'?)", 1, true), err)
    ok, err = pcall(qa.load_data, dev, model, { max_seq_length = 96, stride = 32 })
    assert.is_truthy(tostring(err):find("qa.load_data: unknown option 'stride'", 1, true), err)
    ok, err = pcall(zl.sweep.new, model.bert, data.ds, data.feats, {}, {})
    assert.is_false(ok)
    local s <close> = zl.sweep.new(model.bert, data.ds, data.feats, { { zone = "none" } }, { batch = 4 })
    ok, err = pcall(s.write, s, 1, nil, nil, {})
    assert.is_false(ok)
    assert.matches("logits for 0 of", err)
    assert.matches("sweep: 1 configurations, %d+ batches", tostring(s))
  end)

  -- issue 17: qa.decode ignored mask, layers and heads, masked every layer for
  -- layers = {0, 1}, and died in string.format for layer = {0, 1}
  it("decodes every masking option of m:forward with m:forward's numbers", function()
    local S = FEATS.max_seq_length
    -- the plain path: every feature padded to max_seq_length through m:forward
    local function by_forward(mopts)
      local acc = zl.squad.collector(data.feats)
      local i = 1
      while i <= #data.feats do
        local n = math.min(7, #data.feats - i + 1)
        local b = data.feats:batch(i, n, { pad_to = S })
        for k, v in pairs(mopts) do b[k] = v end
        local out = model.bert:forward(b)
        acc:add(i, out.start_logits, out.end_logits)
        i = i + n
      end
      return (acc:decode(data.ds, { lower = true }))
    end
    local q = { progress = false, batch = 5 }
    local base = qa.decode(model, data, {}, q)
    local diag = zl.tensor.new({ S, S })
    for f = 1, S do diag:set(f, f, 1) end -- each token may not attend to itself
    local hm = zl.tensor.new({ 3, 2 }):fill(1)
    hm:set(1, 1, 0)
    hm:set(2, 2, 0)
    local cases = {
      { mask = function(f, t) return t > 20 end }, -- every layer: only the first 20 keys
      { mask = diag, layers = { 1, 3 }, heads = { 2 } },
      { mask = function(f, t) return t > 10 and 1 or 0 end, layers = { 1 }, heads = { 1 } },
      { head_mask = hm },
      { zone = "p2q", layer = 2, head_mask = zl.tensor.new({ 2 }):fill(0.25) },
    }
    local changed = 0
    for k, mopts in ipairs(cases) do
      local want = by_forward(mopts)
      local got = qa.decode(model, data, mopts, q)
      assert.are.same(want, got, "case " .. k)
      local differs = false
      for qid, text in pairs(base) do differs = differs or got[qid] ~= text end
      if differs then changed = changed + 1 end
      -- qa.run writes them under their name; the sweep shares nothing with them but
      -- keeps the other configurations exact
      if k == 2 then
        local dir = tmpdir()
        local c = with(mopts, { name = "diag" })
        local r = qa.run(model, data, { { zone = "none" }, c, { zone = "q2", layer = 2 } },
          with(OPTS, { out = dir }))
        assert.are.same(want, zl.json.read(r[2].predictions))
        assert.are.equal(dir .. "/predictions_diag.json", r[2].predictions)
        assert.are.same(base, zl.json.read(r[1].predictions))
        assert.are.same(by_forward({ zone = "q2", layer = 2 }), zl.json.read(r[3].predictions))
      end
    end
    -- a decode path calls the function once per (from, to): one pattern for every feature
    local calls, batches = 0, 0
    qa.decode(model, data, { mask = function(f, t, b)
      calls = calls + 1
      if b ~= nil then batches = batches + 1 end
      return 0
    end }, q)
    assert.are.equal(S * S, calls)
    assert.are.equal(0, batches)
    -- the masks really reach the decode (the baseline was returned for every one before)
    assert.is_true(changed >= 3, changed .. " of " .. #cases .. " masks changed a prediction")
    -- the issue's repros are refused by name instead of decoding something else
    local function err_of(...)
      local ok, e = pcall(...)
      assert.is_false(ok)
      return tostring(e)
    end
    local e = err_of(qa.decode, model, data, { zone = "p2q", layer = { 1, 2 } }, q)
    assert.truthy(e:find("option 'layer' must be a layer number 1..3 or \"all\" (got table)", 1, true), e)
    e = err_of(qa.decode, model, data, { zone = "p2q", layers = { 1, 2 } }, q)
    assert.truthy(e:find("'heads' and 'layers' restrict a mask", 1, true), e)
    e = err_of(qa.decode, model, data, { zone = "p2q", heads = { 1 } }, q)
    assert.truthy(e:find("'heads' and 'layers' restrict a mask", 1, true), e)
    e = err_of(qa.decode, model, data, { mask = function() return 1 end, layers = { 0 } }, q)
    assert.truthy(e:find("option 'layers': entry 1 must be a layer number 1..3 (got 0)", 1, true), e)
    e = err_of(qa.decode, model, data, { zonee = "p2q" }, q)
    assert.truthy(e:find("unknown option 'zonee' (did you mean 'zone'?)", 1, true), e)
    e = err_of(qa.decode, model, data, { zone = "p2q" }, { batchsize = 4 })
    assert.truthy(e:find("qa.decode: unknown option 'batchsize'", 1, true), e)
    e = err_of(qa.decode, model, data, { mask = zl.tensor.new({ 2, S, S }) }, q)
    assert.truthy(e:find("must have shape [" .. S .. "," .. S .. "]", 1, true), e)
    e = err_of(qa.run, model, data, { { mask = diag } }, with(OPTS, { out = tmpdir() }))
    assert.truthy(e:find("needs a name", 1, true), e)
  end)

  local shared = os.getenv("ZONELAB_SHARED") or "../shared"
  local squad = shared .. "/data/real/squad_v1.1/dev-v1.1.json"
  local vocab = shared .. "/data/real/vocab/bert-base-cased/vocab.txt"
  local have_real = lfs.attributes(squad, "mode") == "file" and lfs.attributes(vocab, "mode") == "file"
  if not have_real then print("SKIP real SQuAD decode: " .. squad .. " or " .. vocab .. " absent") end
  it("decodes the first articles of the real SQuAD dev set end to end (skips when absent)", function()
    local squad, vocab = require("real_data").find("squad_v1.1/dev-v1.1.json",
      "vocab/bert-base-cased/vocab.txt")
    if not squad then return end
    local full = zl.json.read(squad)
    local small = { version = full.version, data = {} }
    for a = 1, 3 do
      local art = full.data[a]
      -- a handful of questions: the first paragraph of each article
      small.data[a] = { title = art.title, paragraphs = { art.paragraphs[1] } }
    end
    local dir = tmpdir()
    zl.json.write(dir .. "/dev.json", small)
    local lines = 0
    for _ in io.lines(vocab) do lines = lines + 1 end
    local rc = zl.json.read(root .. "/bert_config.json")
    rc.vocab_size, rc.hidden_size, rc.num_hidden_layers, rc.num_attention_heads = lines, 32, 2, 2
    rc.intermediate_size, rc.max_position_embeddings = 64, 512
    lfs.mkdir(dir .. "/model")
    zl.bert.new(rc, { seed = 3 }):save(dir .. "/model")
    copy(vocab, dir .. "/model/vocab.txt")
    local m = qa.load_model(dir .. "/model")
    assert.is_false(m.lower) -- cased vocabulary
    local d = qa.load_data(dir .. "/dev.json", m, { max_seq_length = 128, doc_stride = 64 })
    lfs.mkdir(dir .. "/out")
    local res = qa.run(m, d, { { zone = "none" }, { zone = "p2", layer = 1 } },
      with(OPTS, { out = dir .. "/out", batch = 8 }))
    local preds = zl.json.read(res[1].predictions)
    local n = 0
    for _, art in ipairs(small.data) do
      for _, q in ipairs(art.paragraphs[1].qas) do
        n = n + 1
        assert.are.equal("string", type(preds[q.id]))
      end
    end
    assert.is_true(n >= 10)
    assert.are.equal(n, res[1].score.total)
    assert.are.equal(0, res[1].score.missing)
    assert.is_true(res[2].score.f1 >= 0 and res[2].score.f1 <= 100)
  end)
end)
