-- zonelab.mlm and tr:step_mlm: the pretraining corpus (instances, [UNK] count, lifetime of
-- its tokenizer), a model with the masked-LM head (bert.new/load {mlm = true}), pretraining
-- steps lowering the loss, a bit-identical rerun, and errors raised by name.
local zl = require "zonelab"
zl.set_threads(1)

local VOCAB = table.concat({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat",
  "on", "mat", "dog", "ran", "play", "##ing", "a", "." }, "\n") .. "\n"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  require("lfs").mkdir(d)
  return d
end

local function setup()
  local d = tmpdir()
  zl.io.write_atomic(d .. "/vocab.txt", VOCAB)
  local tok = zl.tokenizer.load(d .. "/vocab.txt", { lower = true })
  local cfg = { vocab_size = 16, hidden_size = 16, num_hidden_layers = 1, num_attention_heads = 2,
    intermediate_size = 32, max_position_embeddings = 16, type_vocab_size = 2 }
  return d, tok, cfg
end

describe("zonelab.mlm", function()
  it("cuts documents into instances and counts [UNK]", function()
    local _, tok = setup()
    local c = zl.mlm.corpus(tok, { max_seq_length = 6 })
    c:add("the cat sat on the mat")
    c:add("")
    c:add("a dog playing zebra")
    assert.are.equal(4, c:count()) -- 6 pieces: 4 + 2; a dog play ##ing [UNK]: 4 + 1
    assert.are.equal(11, c:tokens())
    assert.are.equal(1, c:unk())
    assert.matches("4 instances", tostring(c))
  end)

  it("keeps its tokenizer alive and refuses a closed one", function()
    local _, tok = setup()
    local c = zl.mlm.corpus(tok, { max_seq_length = 8 })
    tok = nil
    collectgarbage()
    c:add("the cat") -- the corpus held the tokenizer
    assert.are.equal(1, c:count())
    local _, tok2 = setup()
    local c2 = zl.mlm.corpus(tok2, { max_seq_length = 8 })
    tok2:close()
    local ok, err = pcall(c2.add, c2, "the cat")
    assert.is_false(ok)
    assert.matches("tokenizer has been closed", err, 1, true)
    c2:close()
    assert.has_error(function() c2:count() end)
  end)

  it("refuses unknown options and a vocabulary without [MASK]", function()
    local d, tok = setup()
    assert.has_error(function() zl.mlm.corpus(tok, { max_seq_len = 8 }) end)
    zl.io.write_atomic(d .. "/nomask.txt", (VOCAB:gsub("%[MASK%]\n", "")))
    local t2 = zl.tokenizer.load(d .. "/nomask.txt", { lower = true })
    assert.has_error(function() zl.mlm.corpus(t2, { max_seq_length = 8 }) end,
      "mlm.corpus: the vocabulary has no [MASK] piece")
  end)

  it("pretrains: the loss falls, reruns are bit-identical, the head is saved", function()
    local d, tok, cfg = setup()
    local function run()
      local m = zl.bert.new(cfg, { seed = 3, mlm = true })
      assert.is_false(m:fresh_mlm_head())
      local c = zl.mlm.corpus(tok, { max_seq_length = 12 })
      for _ = 1, 4 do c:add("the cat sat on the mat . a dog ran on the mat") end
      local tr = zl.train.new(m, { micro_batch = 2, max_seq_length = 12, lr = 3e-2,
        total_steps = 40, warmup_steps = 0, dropout = 0, max_predictions = 3 })
      local order = zl.tensor.from({ 1, 2, 3, 4 }, { 4 }, "i32")
      local losses = {}
      for s = 1, 40 do
        losses[s] = tr:step_mlm(c, order, 1, 4, { pad_to = 12, whole_word = s % 2 == 0 }).loss
      end
      return m, losses
    end
    local m, l1 = run()
    local _, l2 = run()
    assert.are.same(l1, l2)
    assert.is_true(math.abs(l1[1] - math.log(16)) < 0.3)
    local function mean(a, b) local t = 0 for i = a, b do t = t + l1[i] end return t / (b - a + 1) end
    assert.is_true(mean(36, 40) < mean(1, 5) - 0.3, mean(1, 5) .. " -> " .. mean(36, 40))
    m:save(d .. "/model")
    local back = zl.bert.load(d .. "/model", { mlm = true })
    assert.is_false(back:fresh_mlm_head())
    local names = {}
    for _, n in ipairs(back:param_names()) do names[n] = true end
    assert.is_true(names["cls.predictions.bias"] and not names["qa_outputs.weight"])
    local qa = zl.bert.load(d .. "/model")
    assert.is_true(qa:fresh_qa_head())
    assert.has_error(function() qa:fresh_mlm_head() end)
  end)

  it("raises by name on bad steps", function()
    local _, tok, cfg = setup()
    local c = zl.mlm.corpus(tok, { max_seq_length = 12 })
    c:add("the cat sat")
    local order = zl.tensor.from({ 1 }, { 1 }, "i32")
    local qa = zl.bert.new(cfg, { seed = 1 })
    local tq = zl.train.new(qa, { micro_batch = 1, max_seq_length = 12, total_steps = 1 })
    assert.has_error(function() tq:step_mlm(c, order, 1, 1) end,
      "trainer: the model has no masked-LM head (load it for pretraining)")
    local m = zl.bert.new(cfg, { seed = 1, mlm = true })
    local tr = zl.train.new(m, { micro_batch = 1, max_seq_length = 12, total_steps = 1 })
    assert.has_error(function() tr:step_mlm(c, order, 1, 1, { whole_words = true }) end)
    assert.has_error(function() tr:step_mlm(c, zl.tensor.from({ 2 }, { 1 }, "i32"), 1, 1) end,
      "trainer: step 0: instance index 1 outside 0..0")
  end)
end)
