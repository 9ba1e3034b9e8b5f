-- zonelab.train: the C training step (core/trainer.h) — the golden train_steps fixture
-- through the trainer (full batch and micro-batches), determinism, the data order,
-- checkpoints and exact resume, refusal of a non-finite loss, memory accounting, and
-- the helpers of zonelab.train (step counts, log rows).
local zl = require "zonelab"
local synth = require "zonelab.synth"
local TR = require "zonelab.train"
local T = zl.tensor

local DIR = "tests/fixtures/tiny"
zl.set_threads(1) -- tiny models: threads only add overhead on a shared machine

local function read_i32(name, shape)
  local data = zl.io.read(DIR .. "/inputs/" .. name .. ".i32.bin")
  local vals, pos = {}, 1
  for i = 1, #data // 4 do vals[i], pos = string.unpack("<i4", data, pos) end
  return T.from(vals, shape, "i32")
end

local function fixture_inputs()
  local t = {}
  for _, k in ipairs { "input_ids", "token_type_ids", "input_mask", "qmask", "pmask" } do
    t[k] = read_i32(k, { 3, 24 })
  end
  t.start_positions = read_i32("start_positions", { 3 })
  t.end_positions = read_i32("end_positions", { 3 })
  return t
end

-- rows first..first+count-1 of the fixture batch
local function rows(inputs, first, count)
  local out = {}
  for k, v in pairs(inputs) do out[k] = v:view(first, count):clone() end
  return out
end

local made = {} -- temporary folders, removed at the end
local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  made[#made + 1] = p
  return p
end

local function same_params(a, b)
  local pa, pb = a:params(), b:params()
  local worst = 0
  for name, t in pairs(pa) do worst = math.max(worst, t:max_abs_diff(pb[name])) end
  return worst
end

-- a small synthetic corpus, model and training features (shared by the tests below)
local SYN = tmpdir()
synth.write(SYN, synth.generate { seed = 3, train_paragraphs = 6, dev_paragraphs = 2, hidden = 32,
  layers = 2, heads = 2 })
local TOK = zl.tokenizer.load(SYN .. "/vocab.txt", { lower = true })
local DS = zl.squad.load(SYN .. "/train.json", { training = true })
local FEATS = zl.squad.features(DS, TOK, { max_seq_length = 64, doc_stride = 32,
  max_query_length = 24, training = true })

local function syn_model(seed) return zl.bert.new(SYN .. "/bert_config.json", { seed = seed or 1 }) end
local function syn_trainer(m, seed, steps, lr)
  return zl.train.new(m, { micro_batch = 4, max_seq_length = 64, seed = seed, lr = lr or 1e-3,
    total_steps = steps or 10, warmup_steps = 1 })
end

describe("zonelab.train", function()
  local inputs = fixture_inputs()
  teardown(function()
    for _, p in ipairs(made) do os.execute("rm -rf '" .. p .. "'") end
  end)
  local fx = zl.json.read("tests/fixtures/fixtures.json").cases["tiny/train_steps"].train

  local function check_fixture(micro)
    local m = zl.bert.load(DIR)
    local tr = zl.train.new(m, { micro_batch = micro, max_seq_length = 24, dropout = 0,
      lr = fx.init_lr, total_steps = fx.num_train_steps, warmup_steps = fx.num_warmup_steps })
    for s = 1, fx.num_steps do
      local want = fx.steps[s]
      for first = 1, 3, micro do tr:micro_step(rows(inputs, first, math.min(micro, 4 - first))) end
      local r = tr:apply()
      assert.are.equal(s, r.step)
      assert.is_true(math.abs(r.lr - want.lr) <= 1e-6 * want.lr, "lr of step " .. s)
      if micro == 3 then
        assert.is_true(math.abs(r.loss - want.loss) <= 1e-4, "loss of step " .. s)
      end
      assert.is_true(math.abs(r.grad_norm - want.grad_norm) <= 1e-4 * want.grad_norm,
        string.format("grad_norm of step %d: %.9g vs %.9g", s, r.grad_norm, want.grad_norm))
    end
    local final = T.load(DIR .. "/cases/train_steps/final.safetensors")
    local params = m:params()
    for name, w in pairs(final) do
      assert.is_true(params[name]:max_abs_diff(w) <= 3e-5, name)
    end
    tr:close()
    m:close()
  end

  it("reproduces the golden train_steps case (5 full-batch steps)", function()
    check_fixture(3)
  end)

  it("reproduces it with micro-batches of 1 (3 equal-size passes averaged)", function()
    -- the fixture batch has 3 rows: the mean of 3 one-row gradients is the batch gradient
    check_fixture(1)
  end)

  it("computes the same gradients as zl.optim.loss_and_grads (one training stack)", function()
    -- the trainer and the binding share core's workspace: identical loss, norm and update
    local cfg = { lr = 1e-3, total_steps = 10, warmup_steps = 0 }
    local a, b = zl.bert.load(DIR), zl.bert.load(DIR)
    local tr = zl.train.new(a, { micro_batch = 3, max_seq_length = 24, dropout = 0, lr = cfg.lr,
      total_steps = cfg.total_steps, warmup_steps = cfg.warmup_steps })
    local l1 = tr:micro_step(inputs)
    local r = tr:apply()
    local l2, grads = zl.optim.loss_and_grads(b, inputs)
    local opt = zl.optim.new(b, cfg)
    local info = opt:step(grads)
    assert.are.equal(l1, l2)
    assert.are.equal(r.grad_norm, info.grad_norm)
    assert.are.equal(r.lr, info.lr)
    assert.are.equal(0, same_params(a, b))
    tr:close()
    a:close()
    b:close()
  end)

  it("draws a seeded permutation per epoch", function()
    local a, b = zl.train.permutation(50, 7, 0), zl.train.permutation(50, 7, 0)
    assert.are.equal(0, a:max_abs_diff(b))
    local seen, t = {}, a:totable()
    for _, v in ipairs(t) do seen[v] = true end
    for i = 1, 50 do assert.is_true(seen[i], "missing " .. i) end
    assert.is_true(a:max_abs_diff(zl.train.permutation(50, 7, 1)) > 0)
    assert.is_true(a:max_abs_diff(zl.train.permutation(50, 8, 0)) > 0)
  end)

  it("builds the reference's step counts and a run-long data order", function()
    assert.are.equal(4106, TR.num_train_steps(87599, 64, 3))    -- SQuAD v1.1 train: 4106.2
    assert.are.equal(410, TR.num_warmup_steps(4106, 0.1))
    assert.are.equal(2, TR.num_train_steps(10, 16, 3.5))
    local order, epoch_of = TR.data_order(10, 7, 4, 1)            -- 28 entries over 3 epochs
    assert.are.equal(28, order.total)
    local t = {}
    for s = 0, 6 do
      local b = order:batch(s)
      assert.are.same({ 4 }, b:shape())
      for _, v in ipairs(b:totable()) do t[#t + 1] = v end
    end
    local first = zl.train.permutation(10, 1, 0):totable()
    local second = zl.train.permutation(10, 1, 1):totable()
    local third = zl.train.permutation(10, 1, 2):totable()
    for i = 1, 10 do
      assert.are.equal(first[i], t[i])
      assert.are.equal(second[i], t[10 + i])
    end
    for i = 1, 8 do assert.are.equal(third[i], t[20 + i]) end
    -- the same slices again, in any order (a resumed run starts mid-way)
    assert.are.same({ first[9], first[10], second[1], second[2] }, order:batch(2):totable())
    assert.are.same({ first[1], first[2], first[3], first[4] }, order:batch(0):totable())
    assert.has_error(function() order:batch(7) end)
    -- a batch larger than the data spans several epochs
    local big, stream = TR.data_order(3, 2, 7, 5), {}
    for e = 0, 4 do
      for _, v in ipairs(zl.train.permutation(3, 5, e):totable()) do stream[#stream + 1] = v end
    end
    assert.are.same({ table.unpack(stream, 8, 14) }, big:batch(1):totable())
    assert.are.same({ table.unpack(stream, 1, 7) }, big:batch(0):totable())
    assert.are.equal(1, epoch_of(0))
    assert.are.equal(1, epoch_of(2))  -- entries 9..12 start in epoch 1
    assert.are.equal(2, epoch_of(3))
  end)

  it("trains deterministically from a seed (bit-identical weights)", function()
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    local function run(seed)
      local m = syn_model(1)
      local tr = syn_trainer(m, seed)
      for s = 0, 2 do tr:step_features(FEATS, order, s * 4 + 1, 4, { pad_to = 64 }) end
      tr:close()
      return m
    end
    local a, b, c = run(5), run(5), run(6)
    assert.are.equal(0, same_params(a, b))
    assert.is_true(same_params(a, c) > 0) -- a different dropout seed
    -- dropout is on: an eval-mode run differs too
    local m = syn_model(1)
    local tr = zl.train.new(m, { micro_batch = 4, max_seq_length = 64, seed = 5, lr = 1e-3,
      total_steps = 10, warmup_steps = 1, dropout = 0 })
    for s = 0, 2 do tr:step_features(FEATS, order, s * 4 + 1, 4, { pad_to = 64 }) end
    assert.is_true(same_params(a, m) > 0)
  end)

  it("takes its dropout from the model's config, as run_squad.py does", function()
    local cfg = zl.json.read(SYN .. "/bert_config.json")
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    local function run(seed, hidden, attn)
      cfg.hidden_dropout_prob, cfg.attention_probs_dropout_prob = hidden, attn
      local m = zl.bert.new(cfg, { seed = 1 })
      local tr = syn_trainer(m, seed)
      local c = tr:config()
      for s = 0, 2 do tr:step_features(FEATS, order, s * 4 + 1, 4, { pad_to = 64 }) end
      tr:close()
      return m, c
    end
    local a, ca = run(5, 0, 0)
    assert.are.equal(0, ca.dropout)
    assert.are.equal(0, ca.attention_dropout)
    -- no dropout: the seed (which only draws dropout masks here) changes nothing
    local b = run(6, 0, 0)
    assert.are.equal(0, same_params(a, b))
    local _, c = run(5, 0.25, 0.125)
    assert.are.equal(0.25, c.dropout)
    assert.are.equal(0.125, c.attention_dropout)
    -- an explicit dropout alone sets both
    local m = zl.bert.new(cfg, { seed = 1 })
    local tr = zl.train.new(m, { micro_batch = 4, max_seq_length = 64, seed = 5, total_steps = 1,
      dropout = 0 })
    assert.are.equal(0, tr:config().attention_dropout)
    tr:close()
  end)

  it("reports its optimizer's settings as opt:config() does", function()
    local m = zl.bert.new(zl.json.read(SYN .. "/bert_config.json"), { seed = 1 })
    local tr = zl.train.new(m, { micro_batch = 4, max_seq_length = 64, seed = 3, lr = 2e-3,
      total_steps = 10, warmup_steps = 2, beta1 = 0.8, eps = 1e-5 })
    local opt = zl.optim.new(m, { lr = 2e-3, total_steps = 10, warmup_steps = 2, beta1 = 0.8,
      eps = 1e-5 })
    local c, oc = tr:config(), opt:config()
    for _, k in ipairs({ "lr", "total_steps", "warmup_steps", "weight_decay", "clip", "beta1",
                         "beta2", "eps" }) do
      assert.are.equal(oc[k], c[k], k)
    end
    assert.are.equal(0.8, c.beta1)
    assert.are.equal(2, c.warmup_steps)
    assert.are.equal(4, c.micro_batch)
    assert.are.equal(3, c.seed)
    tr:close(); opt:close(); m:close()
  end)

  it("accumulates micro-batches to the global batch", function()
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    local m1, m2 = syn_model(1), syn_model(1)
    local t1 = zl.train.new(m1, { micro_batch = 8, max_seq_length = 64, lr = 1e-3, total_steps = 4,
      warmup_steps = 0, dropout = 0 })
    local t2 = zl.train.new(m2, { micro_batch = 2, max_seq_length = 64, lr = 1e-3, total_steps = 4,
      warmup_steps = 0, dropout = 0 })
    local r1 = t1:step_features(FEATS, order, 1, 8, { pad_to = 64 })
    local r2 = t2:step_features(FEATS, order, 1, 8, { pad_to = 64 })
    assert.are.equal(8 * 64, r1.tokens)
    assert.are.equal(8 * 64, r2.tokens)
    assert.is_true(math.abs(r1.loss - r2.loss) < 1e-5)
    assert.is_true(math.abs(r1.grad_norm - r2.grad_norm) < 1e-4 * r1.grad_norm)
    assert.is_true(same_params(m1, m2) < 1e-6)
    assert.is_true(same_params(m1, syn_model(1)) > 1e-5) -- and the step did move the weights
  end)

  it("pads per batch when asked (pad_to = 0)", function()
    -- the 4 shortest features
    local byLen = {}
    for i = 1, FEATS:count() do byLen[i] = { i, FEATS:get(i).length } end
    table.sort(byLen, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
    local order = T.from({ byLen[1][1], byLen[2][1], byLen[3][1], byLen[4][1] }, { 4 }, "i32")
    local m = syn_model(1)
    local tr = syn_trainer(m, 1)
    local r = tr:step_features(FEATS, order, 1, 4)
    assert.are.equal(4 * byLen[4][2], r.tokens)
    assert.is_true(byLen[4][2] < 64)
    assert.are.equal(4 * 64, tr:step_features(FEATS, order, 1, 4, { pad_to = 64 }).tokens)
  end)

  it("saves and resumes to the same weights as an uninterrupted run", function()
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    local dir = tmpdir() .. "/checkpoint"
    local ma = syn_model(1)
    local ta = syn_trainer(ma, 3, 6)
    for s = 0, 5 do
      ta:step_features(FEATS, order, s * 4 + 1, 4, { pad_to = 64 })
      if s == 2 then ta:save(dir, { ["trainer.json"] = '{"step": 3}\n', ["note.txt"] = "x" }) end
    end
    local mb = syn_model(99) -- other weights: the checkpoint replaces them
    local tb = syn_trainer(mb, 3, 6)
    local found = assert(zl.train.checkpoint_find(dir))
    assert.are.equal(dir, found)
    assert.are.equal('{"step": 3}\n', zl.io.read(found .. "/trainer.json"))
    assert.are.equal("x", zl.io.read(found .. "/note.txt"))
    tb:load(found)
    assert.are.equal(3, tb:step())
    for s = 3, 5 do tb:step_features(FEATS, order, s * 4 + 1, 4, { pad_to = 64 }) end
    assert.are.equal(0, same_params(ma, mb))
    -- the folder is loadable as a model
    assert.are.equal(zl.bert.load(found):num_params(), ma:num_params())
    -- saving again replaces it; a kill between the two renames leaves dir.old, which is found
    ta:save(dir)
    assert.is_nil(io.open(dir .. "/note.txt"))
    assert(os.rename(dir, dir .. ".old"))
    assert.are.equal(dir .. ".old", zl.train.checkpoint_find(dir))
    local none, msg = zl.train.checkpoint_find(dir .. "-missing")
    assert.is_nil(none)
    assert.is_truthy(msg:find("no checkpoint", 1, true))
    -- a checkpoint of another model shape is refused
    local other = zl.bert.load(DIR)
    local to = zl.train.new(other, { micro_batch = 1, max_seq_length = 24, lr = 1e-3, total_steps = 2 })
    local ok, err = pcall(to.load, to, dir .. ".old")
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("does not match", 1, true))
  end)

  it("refuses a non-finite loss, naming the step and leaving the weights untouched", function()
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    local m = syn_model(1)
    local tr = zl.train.new(m, { micro_batch = 4, max_seq_length = 64, lr = 1e30, total_steps = 50,
      warmup_steps = 0 })
    local err, failed_at, before
    for s = 0, 49 do
      before = {}
      for name, t in pairs(m:params()) do before[name] = t:clone() end
      local ok, e = pcall(tr.step_features, tr, FEATS, order, (s % 5) * 4 + 1, 4, { pad_to = 64 })
      if not ok then err, failed_at = tostring(e), s break end
    end
    assert.is_truthy(err, "a learning rate of 1e30 never failed")
    assert.is_truthy(err:find("step " .. failed_at, 1, true), err)
    assert.is_truthy(err:find("not finite", 1, true), err)
    for name, t in pairs(m:params()) do
      assert.are.equal(0, t:max_abs_diff(before[name]), name)
    end
    assert.are.equal(failed_at, tr:step())
  end)

  it("measures where a step's time goes (tr:phases)", function()
    local m = syn_model(1)
    local tr = syn_trainer(m, 1)
    local order = zl.train.permutation(FEATS:count(), 1, 1)
    tr:phases(true)
    tr:step_features(FEATS, order, 1, 4, { pad_to = 64 })
    local ph = tr:phases(true)
    local parts = 0
    for _, k in ipairs { "dweight", "dinput", "attention", "layernorm", "gelu", "other" } do
      assert.is_true(ph[k] >= 0, k)
      parts = parts + ph[k]
    end
    assert.is_true(ph.forward > 0 and ph.backward > 0 and ph.optimizer > 0)
    assert.is_true(ph.dweight > 0 and ph.dinput > 0 and ph.attention > 0)
    assert.is_true(math.abs(parts - ph.backward) < 1e-9, "the parts add up to the backward")
    assert.is_true(ph.accumulate >= 0)
    assert.are.equal(0, tr:phases().forward) -- reset
  end)

  it("accounts its memory exactly as estimate_bytes predicts", function()
    local m = syn_model(1)
    local tr = syn_trainer(m, 1)
    assert.are.equal(zl.train.estimate_bytes(m, 4, 64), tr:bytes() + 4 * m:num_params())
    local base = tmpdir() .. "/bert_config.json"
    zl.io.write_atomic(base, zl.json.encode { vocab_size = 30522, hidden_size = 768,
      num_hidden_layers = 12, num_attention_heads = 12, intermediate_size = 3072,
      max_position_embeddings = 512, type_vocab_size = 2, hidden_act = "gelu" })
    local gb = zl.train.estimate_bytes(base, 4, 384) / 1024 ^ 3
    assert.is_true(gb > 3 and gb < 6, string.format("BERT-base 4 x 384: %.2f GiB", gb))
    assert.are.equal(4, TR.default_micro_batch(base, 64, 384))
    assert.are.equal(32, TR.default_micro_batch(m, 32, 64))
  end)

  it("rejects bad options and inputs", function()
    local m = syn_model(1)
    assert.has_error(function() zl.train.new(m, { micro_batch = 4, max_seq_length = 64 }) end)
    local ok, err = pcall(zl.train.new, m, { micro_batch = 4, max_seq_length = 100000, total_steps = 1 })
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("max_position_embeddings", 1, true))
    local tr = syn_trainer(m, 1)
    ok, err = pcall(tr.apply, tr)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("no micro-batch", 1, true))
    local order = zl.train.permutation(FEATS:count(), 1, 0)
    assert.has_error(function() tr:step_features(FEATS, order, order:numel(), 2) end)
    local evalf = zl.squad.features(DS, TOK, { max_seq_length = 64, doc_stride = 32,
      max_query_length = 24, training = false })
    ok, err = pcall(tr.step_features, tr, evalf, order, 1, 4)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("training positions", 1, true))
    tr:close()
    assert.has_error(function() tr:step() end)
    assert.is_truthy(tostring(tr):find("closed", 1, true))
  end)

  it("writes and truncates train_log.csv rows", function()
    local row = TR.log_row(3, 1, { loss = 1.5, lr = 2e-5, grad_norm = 0.25 }, 1234.56)
    assert.are.equal("3,1,1.500000,2.000000e-05,0.250000,1234.6", row)
    local lines = TR.log_truncate(TR.LOG_HEADER .. "\n1,1,a\n2,1,b\n3,1,c\n", 2)
    assert.are.same({ TR.LOG_HEADER, "1,1,a", "2,1,b" }, lines)
  end)
end)
