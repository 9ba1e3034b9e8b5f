-- zonelab.optim: loss_and_grads on the tiny fixture model, BERT's AdamWeightDecay
-- optimizer (schedule, step, accumulation, save/load resume) and argument errors.
local zl = require "zonelab"
local T = zl.tensor

local DIR = "tests/fixtures/tiny"
-- a tiny model: threads only add synchronisation overhead on a shared machine
zl.set_threads(1)

local function read_i32(name, shape)
  local data = zl.io.read(DIR .. "/inputs/" .. name .. ".i32.bin")
  local vals, pos = {}, 1
  for i = 1, #data // 4 do vals[i], pos = string.unpack("<i4", data, pos) end
  return T.from(vals, shape, "i32")
end

local function fixture_inputs()
  local B, S = 3, 24
  local t = {}
  for _, k in ipairs { "input_ids", "token_type_ids", "input_mask", "qmask", "pmask" } do
    t[k] = read_i32(k, { B, S })
  end
  t.start_positions = read_i32("start_positions", { B })
  t.end_positions = read_i32("end_positions", { B })
  return t
end

local function copy(t, extra)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function tmpname() return os.tmpname() end

describe("zonelab.optim", function()
  local inputs = fixture_inputs()

  it("computes the loss and a gradient for every parameter", function()
    local m = zl.bert.load(DIR)
    local loss, grads = zl.optim.loss_and_grads(m, inputs)
    -- the same function as a model method (issue 5's m:loss_and_grads)
    local loss2 = m:loss_and_grads(inputs)
    assert.are.equal(loss, loss2)
    assert.is_true(math.abs(loss - 3.5390916319304226) < 1e-4)
    assert.are.equal(39, count(grads))
    assert.are.same({ 2, 32 }, grads["qa_outputs.weight"]:shape())
    assert.are.same({ 99, 32 }, grads["bert.embeddings.word_embeddings.weight"]:shape())
    -- golden values (tests/fixtures/tiny/cases/none/grads.safetensors)
    local want = T.load(DIR .. "/cases/none/grads.safetensors")
    for name, g in pairs(grads) do
      assert.is_true(g:max_abs_diff(want[name]) < 1e-5, name)
    end
    -- a key bias shifts a whole score row: softmax ignores it
    assert.is_true(grads["bert.encoder.layer.0.attention.self.key.bias"]:max_abs_diff(T.new({ 32 })) < 1e-6)
    -- the model itself is unchanged, and a plain forward gives the same loss
    local out = m:forward(inputs)
    assert.is_true(math.abs(out.loss - loss) < 1e-6)
    m:close()
  end)

  it("overwrites the gradients, or adds into them with accumulate", function()
    local m = zl.bert.load(DIR)
    local _, g1 = zl.optim.loss_and_grads(m, inputs)
    local first = g1["qa_outputs.weight"]:clone()
    local _, g2 = zl.optim.loss_and_grads(m, inputs)
    assert.is_true(g2["qa_outputs.weight"]:max_abs_diff(first) < 1e-7)
    local _, g3 = zl.optim.loss_and_grads(m, copy(inputs, { accumulate = true }))
    local w = g3["qa_outputs.weight"]
    assert.is_true(math.abs(w:get(1, 1) - 2 * first:get(1, 1)) < 1e-6)
    assert.is_true(math.abs(w:get(2, 7) - 2 * first:get(2, 7)) < 1e-6)
    m:close()
  end)

  it("applies dropout from a seed, reproducibly", function()
    local m = zl.bert.load(DIR)
    local l0 = zl.optim.loss_and_grads(m, inputs)
    local la = zl.optim.loss_and_grads(m, copy(inputs, { dropout = 0.1, seed = 7 }))
    local lb = zl.optim.loss_and_grads(m, copy(inputs, { dropout = 0.1, seed = 7 }))
    local lc = zl.optim.loss_and_grads(m, copy(inputs, { dropout = 0.1, seed = 8 }))
    assert.are.equal(la, lb)
    assert.are_not.equal(la, lc)
    assert.is_true(math.abs(la - l0) > 1e-4)
    -- eval again after training mode: back to the exact loss
    assert.are.equal(l0, zl.optim.loss_and_grads(m, inputs))
    m:close()
  end)

  it("takes zones like forward", function()
    local m = zl.bert.load(DIR)
    local l0 = zl.optim.loss_and_grads(m, inputs)
    local lz = zl.optim.loss_and_grads(m, copy(inputs, { zone = "p2q", layer = 2 }))
    assert.is_true(math.abs(lz - m:forward(copy(inputs, { zone = "p2q", layer = 2 })).loss) < 1e-6)
    assert.is_true(math.abs(lz - l0) > 1e-4) -- 8.7e-4 here
    local _, gs = zl.optim.loss_and_grads(m, copy(inputs, { zone = "all_strict", layer = 1 }))
    -- layer 1's attention is removed: its query/key/value (HF name layer.0) get no gradient
    assert.are.equal(0, gs["bert.encoder.layer.0.attention.self.value.weight"]:max_abs_diff(T.new({ 32, 32 })))
    m:close()
  end)

  it("follows BERT's learning-rate schedule", function()
    local m = zl.bert.load(DIR)
    local opt = zl.optim.new(m, { lr = 1e-2, total_steps = 5, warmup_steps = 2 })
    local want = { 0, 0.005, 0.006, 0.004, 0.002 }
    for s = 0, 4 do assert.is_true(math.abs(opt:lr(s) - want[s + 1]) < 1e-15) end
    assert.are.equal(0, opt:lr(7))
    local o2 = zl.optim.new(m, { lr = 3e-5, total_steps = 1000, warmup_proportion = 0.1 })
    local c = o2:config()
    assert.are.equal(100, c.warmup_steps)
    assert.are.equal(0.01, c.weight_decay)
    assert.are.equal(1.0, c.clip)
    assert.are.equal(1e-6, c.eps)
    assert.is_truthy(tostring(o2):match("^optim: AdamWeightDecay, 39 tensors, step 0 of 1000"))
    assert.is_true(zl.optim.decays("bert.encoder.layer.0.attention.self.query.weight"))
    assert.is_false(zl.optim.decays("bert.embeddings.LayerNorm.weight"))
    assert.is_false(zl.optim.decays("qa_outputs.bias"))
    m:close()
  end)

  it("trains: the fixture's five steps", function()
    local m = zl.bert.load(DIR)
    local opt = zl.optim.new(m, { lr = 1e-2, total_steps = 5, warmup_steps = 2 })
    local before = m:params()["qa_outputs.weight"]:clone()
    local losses = {}
    for s = 1, 5 do
      local loss, grads = zl.optim.loss_and_grads(m, inputs)
      local info = opt:step(grads)
      losses[s] = loss
      assert.are.equal(s, info.step)
      assert.is_true(info.grad_norm > 1)
      if s == 1 then
        assert.are.equal(0, info.lr)
        -- lr 0: the weights did not move
        assert.are.equal(0, m:params()["qa_outputs.weight"]:max_abs_diff(before))
      end
    end
    assert.are.equal(losses[1], losses[2])
    assert.is_true(losses[5] < losses[1] - 0.1)
    local final = T.load(DIR .. "/cases/train_steps/final.safetensors")
    assert.is_true(m:params()["qa_outputs.weight"]:max_abs_diff(final["qa_outputs.weight"]) < 3e-5)
    assert.is_true(m:params()["bert.encoder.layer.1.output.dense.weight"]:max_abs_diff(
      final["bert.encoder.layer.1.output.dense.weight"]) < 3e-5)
    assert.are.equal(5, opt:get_step())
    m:close()
  end)

  it("sums micro-batches and scales them in step", function()
    -- two identical micro-batches summed and scaled by 1/2 = one batch
    local ma, mb = zl.bert.load(DIR), zl.bert.load(DIR)
    local oa = zl.optim.new(ma, { lr = 1e-2, total_steps = 5, warmup_steps = 0 })
    local ob = zl.optim.new(mb, { lr = 1e-2, total_steps = 5, warmup_steps = 0 })
    local _, ga = zl.optim.loss_and_grads(ma, inputs)
    local ia = oa:step(ga)
    zl.optim.loss_and_grads(mb, inputs)
    local _, gb = zl.optim.loss_and_grads(mb, copy(inputs, { accumulate = true }))
    local ib = ob:step(gb, 0.5)
    assert.is_true(math.abs(ia.grad_norm - ib.grad_norm) < 1e-5 * ia.grad_norm)
    local pa, pb = ma:params(), mb:params()
    for name, p in pairs(pa) do assert.is_true(p:max_abs_diff(pb[name]) < 1e-6, name) end
    ma:close()
    mb:close()
  end)

  it("saves and loads its state: a resumed run ends where an uninterrupted one does", function()
    local path = tmpname()
    local cfg = { lr = 1e-2, total_steps = 6, warmup_steps = 1 }
    local ma, mb = zl.bert.load(DIR), zl.bert.load(DIR)
    local oa = zl.optim.new(ma, cfg)
    for _ = 1, 4 do oa:step(select(2, zl.optim.loss_and_grads(ma, inputs))) end
    local ob = zl.optim.new(mb, cfg)
    for _ = 1, 2 do ob:step(select(2, zl.optim.loss_and_grads(mb, inputs))) end
    ob:save(path)
    ob:close()
    local oc = zl.optim.new(mb, cfg)
    oc:load(path)
    assert.are.equal(2, oc:get_step())
    for _ = 1, 2 do oc:step(select(2, zl.optim.loss_and_grads(mb, inputs))) end
    local pa, pb = ma:params(), mb:params()
    for name, p in pairs(pa) do assert.are.equal(0, p:max_abs_diff(pb[name]), name) end
    local st = T.load(path)
    assert.is_truthy(st["adam_m/qa_outputs.weight"])
    assert.is_truthy(st["adam_v/bert.embeddings.LayerNorm.bias"])
    assert.are.equal(2, st.step:get(1))
    os.remove(path)
    ma:close()
    mb:close()
  end)

  it("rejects bad arguments with clear messages", function()
    local m = zl.bert.load(DIR)
    assert.has_error(function() zl.optim.new(m, { lr = 1e-3 }) end,
      "optim.new: option 'total_steps' is required")
    assert.has_error(function() zl.optim.new(m, { lr = -1, total_steps = 3 }) end)
    local no_end = copy(inputs)
    no_end.end_positions = nil
    assert.has_error(function() zl.optim.loss_and_grads(m, no_end) end,
      "bad argument #2 to 'loss_and_grads' (field end_positions is required)")
    local ok, err = pcall(zl.optim.loss_and_grads, m, copy(inputs, { zone = "p3" }))
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find("loss_and_grads: option 'zone' must be one of", 1, true))
    ok, err = pcall(zl.optim.loss_and_grads, m, copy(inputs, { drop_out = 0.1 }))
    assert.is_truthy(tostring(err):find("unknown option 'drop_out' (did you mean 'dropout'?)", 1, true))
    ok, err = pcall(zl.optim.new, m, { lr = 1e-3, total_steps = 3, warmup = 1 })
    assert.is_truthy(tostring(err):find("optim.new: unknown option 'warmup'", 1, true))
    ok, err = pcall(zl.optim.new, m, { lr = "big", total_steps = 3 })
    assert.is_truthy(tostring(err):find("optim.new: option 'lr' must be a number (got string)", 1, true))
    local opt = zl.optim.new(m, { lr = 1e-3, total_steps = 3 })
    local _, grads = zl.optim.loss_and_grads(m, inputs)
    grads["qa_outputs.bias"] = nil
    ok, err = pcall(opt.step, opt, grads)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):match("no gradient tensor for qa_outputs.bias"))
    ok, err = pcall(opt.load, opt, "/nonexistent/optim.safetensors")
    assert.is_false(ok)
    assert.is_truthy(tostring(err):match("/nonexistent/optim.safetensors"))
    m:close()
    ok, err = pcall(opt.step, opt, grads)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):match("closed"))
    opt:close()
    opt:close() -- idempotent
    assert.are.equal("optim: closed", tostring(opt))
  end)
end)
