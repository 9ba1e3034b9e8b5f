-- Proof of learning for zonelab.train on the synthetic corpus (zonelab.synth), small
-- budgets measured on this machine (one thread, so the runs are bit-reproducible):
--  * learning: a 2-layer, 32-wide BERT from scratch, 100 training questions, 50 steps of 16
--    with dropout 0.1: the loss falls from 4.56 (mean of the first 10 steps) to 2.33 (last 10)
--    and dev EM rises from 0 (the untrained model) to 8 (4 of 50 questions);
--  * overfitting: 16 passages with one question each, 60 full-batch steps without dropout,
--    lr 3e-3: training EM 100 from step 20 on, loss 0.43 at step 20 and 0.002 at step 60
--    (the same in the sanitizer build). With 4 questions per passage the same budget
--    plateaus at loss ~0.26 / EM 81 for a seed-dependent number of steps.
-- The bounds below leave a margin under those measurements.
local zl = require "zonelab"
local synth = require "zonelab.synth"
local qa = require "zonelab.qa"
local TR = require "zonelab.train"

zl.set_threads(1)

local made = {} -- temporary folders, removed at the end
local function corpus(opts)
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  made[#made + 1] = p
  synth.write(p, synth.generate(opts))
  return p
end

-- trains a fresh model on dir/train.json; returns the model, tokenizer and step losses
local function train(dir, o)
  local m = zl.bert.new(dir .. "/bert_config.json", { seed = 1 })
  local tok = zl.tokenizer.load(dir .. "/vocab.txt", { lower = true })
  local ds = zl.squad.load(dir .. "/train.json", { training = true })
  local feats = zl.squad.features(ds, tok, { max_seq_length = 256, doc_stride = 128,
    max_query_length = 32, training = true })
  local steps = TR.num_train_steps(ds:count(), o.batch, o.epochs)
  local tr = zl.train.new(m, { micro_batch = o.batch, max_seq_length = 256, seed = 1, lr = o.lr,
    total_steps = steps, warmup_proportion = 0.1, dropout = o.dropout })
  local losses = {}
  if o.full_batch then -- the same rows in the same order every step (full-batch descent)
    local order = zl.train.permutation(feats:count(), 1, 0)
    for _ = 1, steps do losses[#losses + 1] = tr:step_features(feats, order, 1, o.batch).loss end
  else
    local order = TR.data_order(feats:count(), steps, o.batch, 1)
    for s = 0, steps - 1 do
      losses[#losses + 1] = tr:step_features(feats, order:batch(s), 1, o.batch).loss
    end
  end
  tr:close()
  return m, tok, losses
end

local function em(m, tok, path)
  local model = qa.wrap_model(m, tok)
  local data = qa.load_data(path, model, { max_seq_length = 256, doc_stride = 128,
    max_query_length = 32 })
  local _, score = qa.decode(model, data, {}, { progress = false })
  return score.exact_match
end

local function mean(t, a, b)
  local s = 0
  for i = a, b do s = s + t[i] end
  return s / (b - a + 1)
end

describe("zonelab.train learns", function()
  teardown(function()
    for _, p in ipairs(made) do os.execute("rm -rf '" .. p .. "'") end
  end)
  it("lowers the loss and lifts dev EM above the untrained model's", function()
    local dir = corpus { seed = 11, train_paragraphs = 20, dev_paragraphs = 10, hidden = 32,
      layers = 2, heads = 2 }
    local untrained = em(zl.bert.new(dir .. "/bert_config.json", { seed = 1 }),
      zl.tokenizer.load(dir .. "/vocab.txt", { lower = true }), dir .. "/dev.json")
    local m, tok, losses = train(dir, { batch = 16, epochs = 8, lr = 3e-3, dropout = 0.1 })
    assert.are.equal(50, #losses)
    local first, last = mean(losses, 1, 10), mean(losses, 41, 50)
    assert.is_true(first > 4, string.format("first losses %.3f", first))
    assert.is_true(last < first - 1.5, string.format("loss %.3f -> %.3f", first, last))
    local dev = em(m, tok, dir .. "/dev.json")
    assert.are.equal(0, untrained)
    assert.is_true(dev >= 4, string.format("dev EM %.2f (untrained %.2f)", dev, untrained))
  end)

  it("overfits 16 questions to training EM 100", function()
    -- one question per passage: 16 passages, 16 questions
    local dir = corpus { seed = 7, train_paragraphs = 16, dev_paragraphs = 2, hidden = 32,
      layers = 2, heads = 2, questions_per_paragraph = 1 }
    local m, tok, losses = train(dir, { batch = 16, epochs = 60, lr = 3e-3, dropout = 0,
      full_batch = true })
    assert.are.equal(60, #losses)
    assert.is_true(losses[1] > 4, string.format("first loss %.3f", losses[1]))
    assert.is_true(losses[60] < 0.05, string.format("final loss %.3f", losses[60]))
    assert.are.equal(100, em(m, tok, dir .. "/train.json"))
  end)
end)
