-- gc_spec.lua — the lifetime contract of every zonelab userdata (issue 8): __gc frees
-- (checked for leaks by the sanitizer build's LeakSanitizer, and here by peak memory for
-- the big ones), __close works with Lua's <close>, closing twice is harmless, a method
-- after close raises a clean error (a string saying "closed"), and closing an object
-- that another one borrows (a tokenizer inside features, a model inside an optimizer,
-- trainer or sweep) never lets the borrower touch freed memory.
local zl = require "zonelab"
local W = require "tiny_world"
local tmpdir, write, VOCAB, SQUAD, CFG, FOPTS = W.tmpdir, W.write, W.VOCAB, W.SQUAD, W.CFG, W.FOPTS
local tok = W.tok
local function ds() return zl.squad.load(SQUAD) end
local function feats() return zl.squad.features(ds(), tok(), FOPTS) end
local MLM_VOCAB = write("vocab_mlm.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\n")

-- Every user-visible type: how to make one, and a method that needs it open.
local TYPES = {
  { "tensor", function() return zl.tensor.new({ 4, 4 }) end, function(o) return o:sum() end },
  { "bert", function() return zl.bert.new(CFG) end, function(o) return o:config() end },
  { "tokenizer", tok, function(o) return o:tokenize("the cat") end },
  { "squad data set", ds, function(o) return o:example(1) end },
  { "squad features", feats, function(o) return o:get(1) end },
  { "squad collector", function() return zl.squad.collector(feats()) end,
    function(o) return o:filled() end },
  { "metrics dataset", function() return zl.metrics.load(SQUAD) end, function(o) return o:ids() end },
  { "optimizer", function() return zl.optim.new(zl.bert.new(CFG), { lr = 1e-3, total_steps = 10 }) end,
    function(o) return o:lr() end },
  { "pdf document", function() local d = zl.pdf.new(); d:page(100, 100); return d end,
    function(o) return o:page_count() end },
  { "trainer", function()
      return zl.train.new(zl.bert.new(CFG), { micro_batch = 2, max_seq_length = 24, total_steps = 4 })
    end, function(o) return o:step() end },
  { "flows graph", function()
      local m = zl.bert.new(CFG)
      m:init_random(1)
      local out = m:forward { input_ids = zl.tensor.from({ { 2, 4, 5, 3, 6, 3 } }, "i32"), attentions = true }
      return zl.flows.build(out.attentions, { tau = 0.1 })
    end, function(o) return o:info() end },
  { "mlm corpus", function()
      local c = zl.mlm.corpus(zl.tokenizer.load(MLM_VOCAB), { max_seq_length = 8 })
      c:add("the cat sat the cat sat the cat")
      return c
    end, function(o) return o:count() end },
  { "sweep", function()
      local d, f = ds(), nil
      f = zl.squad.features(d, tok(), FOPTS)
      return zl.sweep.new(zl.bert.new(CFG), d, f, { { zone = "none" } }, { batch = 2 })
    end, function(o) return o:batches() end },
}

local function closed_error(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "a method after close must raise")
  assert.are.equal("string", type(err))
  assert.truthy(err:find("closed", 1, true), "the error should say the object is closed: " .. err)
end

describe("every userdata", function()
  for _, t in ipairs(TYPES) do
    local name, make, use = t[1], t[2], t[3]
    describe(name, function()
      it("works before close and has a named metatable with __gc, __close, __tostring", function()
        local o = make()
        assert.is_not_nil(use(o))
        local mt = getmetatable(o)
        assert.are.equal("function", type(mt.__gc))
        assert.are.equal("function", type(mt.__close))
        assert.are.equal("string", type(tostring(o)))
        o:close()
      end)

      it("is closed at the end of a <close> scope; methods then raise cleanly", function()
        local keep
        do
          local o <close> = make()
          keep = o
          assert.is_not_nil(use(o))
        end
        closed_error(function() return use(keep) end)
        assert.truthy(tostring(keep):find("closed", 1, true))
      end)

      it("is closed when a <close> scope ends with an error", function()
        local keep
        local ok = pcall(function()
          local o <close> = make()
          keep = o
          error("boom")
        end)
        assert.is_false(ok)
        closed_error(function() return use(keep) end)
      end)

      it("survives closing twice, __close after close, and __gc after close", function()
        local o = make()
        o:close()
        o:close()
        local mt = getmetatable(o)
        mt.__close(o, nil)
        mt.__gc(o)
        closed_error(function() return use(o) end)
        o = nil
        collectgarbage()
        collectgarbage()
      end)

      it("is freed by __gc when dropped (many times over)", function()
        for _ = 1, 20 do make() end
        collectgarbage()
        collectgarbage()
      end)
    end)
  end
end)

describe("borrowed objects", function()
  it("features whose tokenizer and data set were closed do not touch freed memory", function()
    local t, d = tok(), ds()
    local f = zl.squad.features(d, t, FOPTS)
    t:close()
    d:close()
    -- either still usable (the core copied what it needs) or a clean error
    local ok, err = pcall(function() return f:get(1) end)
    if not ok then assert.truthy(tostring(err):find("closed", 1, true), tostring(err)) end
    local ok2, err2 = pcall(function() return f:batch(1, 1) end)
    if not ok2 then assert.truthy(tostring(err2):find("closed", 1, true), tostring(err2)) end
    f:close()
  end)

  it("a collector decoding with a closed data set raises cleanly", function()
    local d = ds()
    local f = zl.squad.features(d, tok(), FOPTS)
    local c = zl.squad.collector(f)
    d:close()
    local ok, err = pcall(function() return c:decode(d, {}) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true), tostring(err))
  end)

  it("an optimizer whose model was closed raises cleanly", function()
    local m = zl.bert.new(CFG)
    local o = zl.optim.new(m, { lr = 1e-3, total_steps = 10 })
    local loss, grads = zl.optim.loss_and_grads(m, {
      input_ids = zl.tensor.from({ { 2, 4, 5, 3 } }, "i32"),
      start_positions = zl.tensor.from({ 1 }, "i32"), end_positions = zl.tensor.from({ 2 }, "i32") })
    assert.is_true(loss > 0)
    m:close()
    local ok, err = pcall(function() return o:step(grads) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true), tostring(err))
    o:close()
  end)

  it("a trainer whose model was closed raises cleanly", function()
    local m = zl.bert.new(CFG)
    local tr = zl.train.new(m, { micro_batch = 2, max_seq_length = 24, total_steps = 4 })
    m:close()
    local f = feats()
    local ok, err = pcall(function()
      return tr:step_features(f, zl.train.permutation(f:count(), 1, 1), 1, 1, {})
    end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true), tostring(err))
    tr:close()
  end)

  it("a sweep whose model was closed raises cleanly", function()
    local d = ds()
    local f = zl.squad.features(d, tok(), FOPTS)
    local m = zl.bert.new(CFG)
    local s = zl.sweep.new(m, d, f, { { zone = "none" } }, { batch = 2 })
    m:close()
    local ok, err = pcall(function() return s:step(1) end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("closed", 1, true), tostring(err))
    s:close()
  end)
end)

describe("error paths", function()
  -- Each raises after allocating (a half-built map, a parsed header, a C buffer): under
  -- LeakSanitizer (the sanitizer build) any block not freed by the raise path is reported.
  it("free what they allocated before raising", function()
    local bad_st = write("bad.safetensors", string.pack("<I8", 60) ..
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F31"}}')
    local bad_json = write("bad.json", '{"data": [{"paragraphs": [{"context": "a", "qas": [{"id": 1}]}]}]}')
    local bad_vocab = write("bad_vocab.txt", "[PAD]\n[UNK]\n")
    local bad_index = write("bad.ckpt.index", string.rep("\1", 100))
    local calls = {
      function() return zl.tensor.load(bad_st) end,
      function() return zl.squad.load(bad_json) end,
      function() return zl.metrics.load(bad_json) end,
      function() return zl.tokenizer.load(bad_vocab) end,
      function() return zl.tfckpt.load(tmpdir .. "/bad.ckpt") end,
      function() return zl.tfckpt.list(bad_index) end,
      function() return zl.json.decode('{"a": [1, 2, {"b": ') end,
      function() return zl.json.encode({ 1, 2, function() end }) end,
      function() return zl.bert.new({ vocab_size = 10, hidden_size = 9, num_hidden_layers = 1,
        num_attention_heads = 2, intermediate_size = 4 }) end,
      function() return zl.squad.features(ds(), tok(), { max_seq_length = 2 }) end,
    }
    for i, f in ipairs(calls) do
      for _ = 1, 3 do
        local ok, err = pcall(f)
        assert.is_false(ok, "call " .. i .. " should fail")
        assert.are.equal("string", type(err), "call " .. i)
      end
    end
    collectgarbage()
    collectgarbage()
  end)
end)

-- Under AddressSanitizer freed blocks wait in a quarantine (256 MB by default) before
-- being reused, so peak RSS cannot stay flat there; LeakSanitizer checks that build.
local function under_asan()
  local f = io.open("/proc/self/maps")
  if not f then return false end
  local maps = f:read("a")
  f:close()
  return maps:find("libasan", 1, true) ~= nil or os.getenv("ZONELAB_ASAN") == "1"
end

-- Resident memory now (MB), from /proc/self/status: unlike the peak, it falls when a
-- block is freed, so growth over the loops below is what was NOT freed.
local function rss_mb()
  local f = assert(io.open("/proc/self/status"))
  local kb = f:read("a"):match("VmRSS:%s*(%d+)")
  f:close()
  return tonumber(kb) / 1024
end

describe("memory", function()
  it("dropped tensors and models are freed by __gc (resident memory stays flat)", function()
    local slack = under_asan() and 48 + 256 or 48
    collectgarbage()
    local base, top = rss_mb(), 0
    for _ = 1, 8 do
      local t = zl.tensor.new({ 4 * 1024 * 1024 }) -- 16 MB each, 128 MB in all
      t:fill(1)
      t = nil
      collectgarbage()
      top = math.max(top, rss_mb())
    end
    for _ = 1, 4 do -- 60 MB in all: the random init touches every page
      local m = zl.bert.new({ vocab_size = 30000, hidden_size = 128, num_hidden_layers = 1,
        num_attention_heads = 2, intermediate_size = 128, max_position_embeddings = 64,
        type_vocab_size = 2 }) -- about 15 MB of parameters
      m:init_random(1)
      m = nil
      collectgarbage()
      top = math.max(top, rss_mb())
    end
    local grown = top - base
    assert.is_true(grown < slack, string.format("resident memory grew by %.0f MB (limit %d)", grown, slack))
  end)
end)

teardown(W.cleanup)
