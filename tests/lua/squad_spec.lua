-- zonelab.squad: examples, features (get / batch), the logits collector, decoding as
-- run_squad.py write_predictions (v1.1), write_predictions, get_final_text and errors.
-- Expected values are worked by hand from the reference code.
local zl = require "zonelab"
local HOST = arg and arg[-1] -- the zonelab executable running this spec

local function write(name, text)
  local path = os.tmpname() .. "_" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

local VOCAB = write("vocab.txt", table.concat({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "leader",
  "was", "john", "smith", "(", "1895", "-", "1943", ")", ".", "when", "born", "?", "japanese",
  "electronics", "industry", "which", "country", "city", "mark", "a", "b", "c", "d", "x" }, "\n") .. "\n")
local DATA = write("data.json", [[{"data":[{"paragraphs":[
 {"context":"The leader was John Smith (1895-1943).","qas":[{"id":"q1",
  "question":"When was John Smith born?","answers":[{"text":"1895","answer_start":27}]}]},
 {"context":"The Japanese electronics industry.","qas":[
  {"id":"q2","question":"Which country?","answers":[{"text":"Japan","answer_start":4}]},
  {"id":"q3","question":"Which city?","answers":[{"text":"Tokyo","answer_start":0}]}]}]}]}]])

describe("zonelab.squad", function()
  teardown(function() os.remove(VOCAB); os.remove(DATA) end)
  local tok = zl.tokenizer.load(VOCAB, { lower = true })

  it("reads examples as read_squad_examples", function()
    local ds = zl.squad.load(DATA)
    assert.are.equal(3, ds:count())
    assert.are.equal(3, #ds)
    local e = ds:example(1)
    assert.are.equal("q1", e.qid)
    assert.are.same({ "The", "leader", "was", "John", "Smith", "(1895-1943)." }, e.doc_tokens)
    assert.are.same({ { text = "1895", answer_start = 27 } }, e.answers)
    assert.are.equal(0, ds:skipped())
    local tr = zl.squad.load(DATA, { training = true })
    assert.are.equal(2, tr:count())
    assert.are.equal(1, tr:skipped())
    assert.are.same({ "q3" }, tr:skipped_ids())
    assert.are.equal(5, tr:example(1).start_word)
    assert.has_error(function() ds:example(4) end)
  end)

  it("refuses malformed question sets with the file and the question named", function()
    local function try(doc, training)
      local path = os.tmpname()
      zl.io.write_atomic(path, doc)
      local ok, err = pcall(zl.squad.load, path, { training = training })
      os.remove(path)
      assert.is_false(ok)
      assert.matches(path, err, 1, true)
      return err
    end
    local function qa(extra)
      return '{"version":"1.1","data":[{"title":"t","paragraphs":[{"context":"a cat sat",' ..
        '"qas":[' .. extra .. ']}]}]}'
    end
    local q1 = '{"id":"q1","question":"who?","answers":[{"text":"cat","answer_start":2}]}'
    assert.matches("question id q1 appears twice", try(qa(q1 .. "," .. q1), false), 1, true)
    -- ids are strings here as in the metrics (SQuAD's are): a number is refused, not printed back
    assert.matches('qas[0]: "id" is a number; question ids are strings',
      try(qa('{"id":1,"question":"who?","answers":[{"text":"cat","answer_start":2}]}'), false), 1, true)
    assert.matches("answer_start 2.5 is not a whole number",
      try(qa('{"id":"q1","question":"who?","answers":[{"text":"cat","answer_start":2.5}]}'), false), 1, true)
    assert.matches('question q1 has no "answers"', try(qa('{"id":"q1","question":"who?"}'), true), 1, true)
    assert.matches('"answers" is not an array',
      try(qa('{"id":"q1","question":"who?","answers":{}}'), false), 1, true)
  end)

  it("builds features as convert_examples_to_features", function()
    local tr = zl.squad.load(DATA, { training = true })
    local feats = zl.squad.features(tr, tok, { max_seq_length = 384, training = true })
    assert.are.equal(2, feats:count())
    local f = feats:get(1)
    assert.are.equal("q1", f.qid)
    assert.are.equal(1, f.example_index)
    assert.are.equal(0, f.doc_span_index)
    assert.are.same({ 2, 15, 6, 7, 8, 16, 17, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 3 }, f.input_ids)
    assert.are.same({ 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, f.segment_ids)
    assert.are.equal(20, f.input_mask_len)
    assert.are.same({ 8, 0 }, f.token_to_orig_map[1])
    assert.are.same({ 18, 5 }, f.token_to_orig_map[11])
    assert.are.same({ 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18 }, f.token_is_max_context)
    assert.are.equal(14, f.start_position) -- "(1895-1943)." narrowed to "1895"
    assert.are.equal(14, f.end_position)
    assert.are.equal(6, feats:get(2).start_position) -- "Japan" labels "japanese"
    local padded = zl.squad.features(tr, tok, { max_seq_length = 24, max_query_length = 8, pad = true })
    assert.are.equal(24, #padded:get(1).input_ids)
    assert.are.equal(0, padded:get(1).input_ids[24])
  end)

  it("cuts long passages into strided windows", function()
    local ds = zl.squad.load(DATA)
    -- q1: 6 question tokens, 11 passage tokens; 16 - 6 - 3 = 7 per window, stride 3:
    -- windows start at tokens 0, 3 and 6 (the last one shorter)
    local feats = zl.squad.features(ds, tok, { max_seq_length = 16, doc_stride = 3, max_query_length = 8 })
    local spans = {}
    for i = 1, feats:count() do
      local f = feats:get(i)
      if f.qid == "q1" then spans[#spans + 1] = { f.doc_span_index, f.token_to_orig_map[1][2], f.length } end
    end
    assert.are.same({ { 0, 0, 16 }, { 1, 3, 16 }, { 2, 5, 14 } }, spans)
  end)

  it("makes batches with the model's input names", function()
    local ds = zl.squad.load(DATA, { training = true })
    local feats = zl.squad.features(ds, tok, { training = true })
    local b = feats:batch(1, 2)
    assert.are.same({ 2, 20 }, b.input_ids:shape())
    assert.are.same({ 2 }, b.start_positions:shape())
    assert.are.equal("i32", b.qmask:dtype())
    local q = b.qmask:totable()[1]
    local p = b.pmask:totable()[1]
    local t = b.token_type_ids:totable()[1]
    for i = 1, 20 do
      assert.are.equal((i >= 2 and i <= 7) and 1 or 0, q[i])
      assert.are.equal((i >= 9 and i <= 19) and 1 or 0, p[i])
      assert.are.equal(i >= 9 and 1 or 0, t[i])
    end
    -- the second feature (11 tokens) is padded to the batch's longest
    local m2 = b.input_mask:totable()[2]
    assert.are.equal(1, m2[11])
    assert.are.equal(0, m2[12])
    assert.are.equal(0, b.input_ids:totable()[2][12])
    assert.are.same({ 14, 6 }, b.start_positions:totable())
    assert.are.same({ 2, 32 }, feats:batch(1, 2, { pad_to = 32 }).pmask:shape())
    assert.has_error(function() feats:batch(1, 2, { pad_to = 8 }) end)
    assert.has_error(function() feats:batch(2, 2) end)
  end)

  local function logits(n, t)
    local v = {}
    for i = 1, n do v[i] = t[i - 1] or 0 end
    return v
  end

  it("decodes as write_predictions, from tables or a collector", function()
    local ds = zl.squad.load(DATA)
    local feats = zl.squad.features(ds, tok)
    -- q1: start "1895" (14) 5, "john" (11) 4; end "1895" 5, "1943" (16) 4
    local r1 = { start_logits = logits(20, { [1] = 10, [14] = 5, [11] = 4 }),
                 end_logits = logits(20, { [0] = 9, [14] = 5, [16] = 4 }) }
    local r2 = { start_logits = logits(11, { [6] = 2 }), end_logits = logits(11, { [7] = 2 }) }
    local r3 = { start_logits = logits(11, { [0] = 1 }), end_logits = logits(11, {}) }
    local preds, nbest = zl.squad.decode(ds, feats, { r1, r2, r3 }, { n_best_size = 20 })
    assert.are.equal("1895", preds.q1)
    assert.are.equal("1895-1943", nbest.q1[2].text)
    assert.are.equal("John Smith (1895", nbest.q1[3].text)
    assert.is_true(math.abs(nbest.q1[2].probability / nbest.q1[1].probability - math.exp(-1)) < 1e-9)
    assert.are.equal("Japanese electronics", preds.q2)
    assert.are.equal("The", preds.q3)
    local k = 0
    local p2 = zl.squad.decode(ds, feats, function() k = k + 1; return ({ r1, r2, r3 })[k] end,
      { n_best_size = 1 })
    assert.are.equal("empty", p2.q1) -- the single best end is [CLS]
    -- the collector, fed with tensors [B, L]
    local acc = zl.squad.collector(feats)
    local s = zl.tensor.from({ r1.start_logits, logits(20, { [6] = 2 }) })
    local e = zl.tensor.from({ r1.end_logits, logits(20, { [7] = 2 }) })
    acc:add(1, s, e)
    assert.are.equal(2, acc:filled())
    assert.has_error(function() acc:decode(ds) end) -- feature 3 missing
    acc:add(3, zl.tensor.from(r3.start_logits), zl.tensor.from(r3.end_logits))
    local p3 = acc:decode(ds, { lower = true })
    assert.are.same(preds, p3)
    assert.has_error(function() acc:add(4, s, e) end)
  end)

  it("chooses one window's best span and its text as the decoder does", function()
    local ds = zl.squad.load(DATA)
    local feats = zl.squad.features(ds, tok)
    local sl = logits(20, { [1] = 10, [14] = 5, [11] = 4 })
    local el = logits(20, { [0] = 9, [14] = 5, [16] = 4 })
    local s, e, score = feats:best_span(1, sl, el)
    assert.are.same({ 14, 14, 10 }, { s, e, score })
    -- the wordpieces mapped back onto the passage's words, as write_predictions
    assert.are.equal("1895", feats:span_text(1, s, e))
    assert.are.equal("1895-1943", feats:span_text(1, 14, 16))
    assert.are.equal("John Smith (1895", feats:span_text(1, 11, 14))
    -- the tensor form [1, L] and the decoder's options
    local s2, e2 = feats:best_span(1, zl.tensor.from({ sl }), zl.tensor.from({ el }),
      { n_best_size = 3, max_answer_length = 1 })
    assert.are.same({ 14, 14 }, { s2, e2 })
    assert.is_nil(feats:best_span(1, sl, el, { n_best_size = 1 })) -- the best end is [CLS]
    assert.is_nil(feats:best_span(2, logits(11, {}), logits(11, { [0] = 5 }), { n_best_size = 1 }))
    assert.has_error(function() feats:span_text(1, 0, 3) end) -- not in the passage
    assert.has_error(function() feats:best_span(1, sl, el, { n_bets_size = 1 }) end)
    assert.has_error(function() feats:best_span(9, sl, el) end)
  end)

  it("writes predictions atomically with sorted keys", function()
    local path = os.tmpname()
    zl.squad.write_predictions(path, { q2 = "b", q1 = "a \"x\"" })
    local f = io.open(path)
    local text = f:read("a")
    f:close()
    os.remove(path)
    assert.are.equal('{"q1":"a \\"x\\"","q2":"b"}', text)
  end)

  it("recovers answer text as get_final_text", function()
    assert.are.equal("Steve Smith", zl.squad.final_text("steve smith", "Steve Smith's", true))
    assert.are.equal("Steve Smith's", zl.squad.final_text("xyz", "Steve Smith's", true))
    assert.are.equal("a\u{200b}b c", zl.squad.final_text("ab", "a\u{200b}b c", false))
  end)

  it("fails clearly on bad input", function()
    local bad = write("bad.json", '{"data": [{"paragraphs": [{"qas": []}]}]}')
    local ok, err = pcall(zl.squad.load, bad)
    assert.is_false(ok)
    assert.truthy(err:find("context", 1, true) and err:find(bad, 1, true))
    os.remove(bad)
    ok, err = pcall(zl.squad.load, "/nonexistent/dev.json")
    assert.truthy(not ok and err:find("/nonexistent/dev.json", 1, true))
    local ds = zl.squad.load(DATA)
    -- 6 question tokens leave nothing of 8 for the passage (run_squad.py would loop forever)
    assert.has_error(function() zl.squad.features(ds, tok, { max_seq_length = 8, max_query_length = 6 }) end)
    assert.has_error(function() zl.squad.features(ds, tok, { training = true }) end)
    local feats = zl.squad.features(ds, tok)
    assert.has_error(function() zl.squad.decode(ds, feats, {}) end)
    local t2 = zl.tokenizer.load(VOCAB)
    local f2 = zl.squad.features(ds, t2)
    t2:close()
    assert.has_error(function() f2:get(1) end)
  end)
  it("runs the tokenize and features recipes", function()
    assert.is_not_nil(HOST, "the zonelab host path (arg[-1]) is unknown")
    local input = write("lines.txt", "When was John Smith (born)?\nJapan\n")
    local p = io.popen(HOST .. " recipes/tokenize.lua --vocab " .. VOCAB .. " --lower < " .. input)
    local out = p:read("a")
    p:close()
    assert.are.equal("when was john smith ( born ) ?\n[UNK]\n", out)
    p = io.popen(HOST .. " recipes/tokenize.lua --vocab " .. VOCAB .. " --lower --ids < " .. input)
    out = p:read("a")
    p:close()
    assert.are.equal("15 6 7 8 9 16 13 17\n1\n", out)
    os.remove(input)
    local jsonl = os.tmpname()
    p = io.popen(HOST .. " recipes/features.lua --vocab " .. VOCAB .. " --lower --input " .. DATA ..
      " --training --max-seq-length 32 --doc-stride 8 --max-query-length 8 --out " .. jsonl .. " 2>&1")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("q3", 1, true), "the skipped question is reported: " .. out)
    local lines = {}
    for l in io.lines(jsonl) do lines[#lines + 1] = zl.json.decode(l) end
    os.remove(jsonl)
    assert.are.equal(2, #lines)
    assert.are.equal("q1", lines[1].qid)
    assert.are.equal(14, lines[1].start_position)
    assert.are.same({ 8, 0 }, lines[1].token_to_orig_map[1])
    assert.are.equal(20, lines[1].input_mask_len)
    -- bad input: one clear line, exit status 1
    p = io.popen(HOST .. " recipes/features.lua --vocab /nonexistent/v.txt --input " .. DATA ..
      " --out " .. jsonl .. " 2>&1; echo status=$?")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("zonelab: error: /nonexistent/v.txt", 1, true), out)
    assert.truthy(out:find("status=1", 1, true), out)
  end)
end)
