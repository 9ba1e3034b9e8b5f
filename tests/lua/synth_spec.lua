-- zonelab.synth: the embedded default's corpus is deterministic, well-formed SQuAD,
-- and needs the question to find the answer.
local zl = require "zonelab"
local synth = require "zonelab.synth"

local function questions(ds)
  local out = {}
  for _, art in ipairs(ds.data) do
    for _, p in ipairs(art.paragraphs) do
      for _, qa in ipairs(p.qas) do out[#out + 1] = { qa = qa, context = p.context } end
    end
  end
  return out
end

describe("zonelab.synth", function()
  local c = synth.generate { seed = 7, train_paragraphs = 40, dev_paragraphs = 12 }

  it("is the same for the same seed and differs for another", function()
    local again = synth.generate { seed = 7, train_paragraphs = 40, dev_paragraphs = 12 }
    assert.are.equal(zl.json.encode(c.train), zl.json.encode(again.train))
    assert.are.equal(zl.json.encode(c.dev), zl.json.encode(again.dev))
    local other = synth.generate { seed = 8, train_paragraphs = 40, dev_paragraphs = 12 }
    assert.are_not.equal(zl.json.encode(c.dev), zl.json.encode(other.dev))
  end)

  it("writes SQuAD v1.1 whose answers are spans of their contexts", function()
    local ids = {}
    local dev = questions(c.dev)
    assert.are.equal(12 * 5, #dev)
    assert.are.equal(40 * 5, #questions(c.train))
    local multi = 0
    for _, q in ipairs(dev) do
      assert.is_nil(ids[q.qa.id]); ids[q.qa.id] = true
      assert.is_true(#q.qa.answers >= 1 and #q.qa.answers <= 3)
      if #q.qa.answers > 1 then multi = multi + 1 end
      for _, a in ipairs(q.qa.answers) do
        assert.are.equal(a.text, q.context:sub(a.answer_start + 1, a.answer_start + #a.text))
      end
    end
    assert.is_true(multi > 5) -- gold variants exist
    for _, q in ipairs(questions(c.train)) do assert.are.equal(1, #q.qa.answers) end
  end)

  it("puts distractors of the answer's kind in every passage", function()
    -- every "Where was X born?" passage names at least three places
    for _, q in ipairs(questions(c.dev)) do
      if q.qa.question:match("^Where was") then
        local n = 0
        for _ in q.context:gmatch("born in the %a+ of") do n = n + 1 end
        assert.is_true(n >= 3)
      end
    end
  end)

  it("has a vocabulary with the special tokens and pieces, not whole names", function()
    local v = {}
    for i, t in ipairs(c.vocab) do v[t] = i - 1 end
    assert.are.equal(0, v["[PAD]"]); assert.are.equal(1, v["[UNK]"])
    assert.are.equal(2, v["[CLS]"]); assert.are.equal(3, v["[SEP]"])
    assert.is_not_nil(v["##ros"]); assert.is_not_nil(v["1987"])
    local name = c.dev.data[1].paragraphs[1].context:match("^(%a+)")
    assert.is_nil(v[name:lower()])
    assert.are.equal(#c.vocab, c.config.vocab_size)
  end)

  it("writes its four files", function()
    local dir = os.tmpname(); os.remove(dir)
    require("zonelab.cli").ensure_dir(dir)
    local paths = synth.write(dir, c)
    assert.are.equal(#c.vocab + 1, select(2, zl.io.read(paths.vocab):gsub("\n", "\n")) + 1)
    assert.are.equal(4, zl.json.read(paths.config).num_hidden_layers)
    assert.are.equal("1.1", zl.json.read(paths.dev).version)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("zonelab.synth short style (the embedded default's)", function()
  local c = synth.generate { seed = 3, style = "short", train_paragraphs = 30, dev_paragraphs = 20 }

  it("is deterministic and keeps the long style's vocabulary ids", function()
    local again = synth.generate { seed = 3, style = "short", train_paragraphs = 30, dev_paragraphs = 20 }
    assert.are.equal(zl.json.encode(c.dev), zl.json.encode(again.dev))
    local long = synth.vocabulary()
    assert.are.equal(#long + 1, #c.vocab)
    for i, t in ipairs(long) do assert.are.equal(t, c.vocab[i]) end
    assert.are.equal("and", c.vocab[#c.vocab])
    assert.has_error(function() synth.generate { style = "medium" } end)
  end)

  it("writes 2-3 people per passage, answers that are spans, 1-3 gold variants", function()
    local dev = questions(c.dev)
    assert.are.equal(20 * 5, #dev)
    local multi, kinds = 0, {}
    for _, q in ipairs(dev) do
      assert.is_true(#q.qa.answers >= 1 and #q.qa.answers <= 3)
      if #q.qa.answers > 1 then multi = multi + 1 end
      for _, a in ipairs(q.qa.answers) do
        assert.are.equal(a.text, q.context:sub(a.answer_start + 1, a.answer_start + #a.text))
      end
      kinds[q.qa.question:match("^%a+")] = true
    end
    assert.is_true(multi > 20)
    assert.are.same({ Where = true, When = true, What = true, Who = true }, kinds)
    for _, art in ipairs(c.train.data) do
      for _, p in ipairs(art.paragraphs) do
        local _, n = p.context:gsub(" was born in ", "")
        assert.is_true(n == 2 or n == 3)
      end
    end
  end)

  it("gives every person of a passage a different first piece, and fits 96 tokens mostly", function()
    local dir = os.tmpname(); os.remove(dir)
    require("zonelab.cli").ensure_dir(dir)
    local paths = synth.write(dir, c)
    local tok = zl.tokenizer.load(paths.vocab, { lower = true })
    local long = 0
    for _, art in ipairs(c.dev.data) do
      for _, p in ipairs(art.paragraphs) do
        local firsts = {}
        for name in p.context:gmatch("(%u%l+) %u%l+ was born") do
          local piece = tok:tokenize(name)[1]
          assert.is_nil(firsts[piece]); firsts[piece] = true
          assert.is_true(#tok:tokenize(name) >= 2) -- names are split into pieces
        end
        assert.is_true(next(firsts) ~= nil)
        for _, qa in ipairs(p.qas) do
          if #tok:tokenize(qa.question) + #tok:tokenize(p.context) + 3 > 96 then long = long + 1 end
        end
      end
    end
    assert.is_true(long < 100 * 0.25)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("zonelab.synth facts style (the embedded default's)", function()
  local c = synth.generate { seed = 5, style = "facts", train_paragraphs = 30, dev_paragraphs = 20,
    hidden = 32, initializer_range = 0.1, dropout = 0 }

  it("is deterministic and writes the config options it is given", function()
    local again = synth.generate { seed = 5, style = "facts", train_paragraphs = 30, dev_paragraphs = 20 }
    assert.are.equal(zl.json.encode(c.dev), zl.json.encode(again.dev))
    assert.are.equal(0.1, c.config.initializer_range)
    assert.are.equal(0, c.config.hidden_dropout_prob)
    assert.are.equal(0, c.config.attention_probs_dropout_prob)
    assert.are.equal(0.02, again.config.initializer_range)
    assert.are.equal(0.1, again.config.hidden_dropout_prob)
    -- the long style's ids first, then "and", then the facts style's words
    local long = synth.vocabulary()
    for i, t in ipairs(long) do assert.are.equal(t, c.vocab[i]) end
    assert.are.equal("and", c.vocab[#long + 1])
    assert.are.equal("moved", c.vocab[#long + 2])
  end)

  it("asks 5 questions per passage whose answers have same-kind distractors", function()
    local dev = questions(c.dev)
    assert.are.equal(20 * 5, #dev)
    local kinds, multi = {}, 0
    for _, q in ipairs(dev) do
      assert.is_true(#q.qa.answers >= 1 and #q.qa.answers <= 3)
      if #q.qa.answers > 1 then multi = multi + 1 end
      for _, a in ipairs(q.qa.answers) do
        assert.are.equal(a.text, q.context:sub(a.answer_start + 1, a.answer_start + #a.text))
      end
      kinds[q.qa.question:match("^(%a+ %a+)")] = true
      -- three years in every passage, two places of the same template, two people
      local _, years = q.context:gsub("%d%d%d%d", "")
      assert.are.equal(3, years)
      local _, places = q.context:gsub(" the %a+ of %u", "")
      assert.are.equal(2, places)
      local gold = q.qa.answers[1].text
      if gold:match("^%d+$") then
        -- a year question is answered by one of the three, the others are distractors
        local _, n = q.context:gsub(gold, "")
        assert.is_true(n >= 1)
      end
    end
    assert.is_true(multi > 20)
    for _, k in ipairs({ "Where was", "When was", "Where did", "When did", "What does", "Where does",
      "Who founded" }) do
      assert.is_true(kinds[k] ~= nil, k)
    end
  end)

  it("names each person with a first piece used nowhere else in the passage, within 96 tokens", function()
    local dir = os.tmpname(); os.remove(dir)
    require("zonelab.cli").ensure_dir(dir)
    local paths = synth.write(dir, c)
    local tok = zl.tokenizer.load(paths.vocab, { lower = true })
    for _, q in ipairs(questions(c.dev)) do
      local pieces = tok:tokenize(q.context)
      local count = {}
      for _, p in ipairs(pieces) do count[p] = (count[p] or 0) + 1 end
      local first = tok:tokenize(q.context:match("^(%u%l+)"))[1]
      -- the main person's first name opens each of the 3 sentences, nowhere else
      assert.are.equal(3, count[first])
      assert.is_true(#tok:tokenize(q.qa.question) + #pieces + 3 <= 96)
    end
    os.execute("rm -rf " .. dir)
  end)
end)

describe("zonelab.synth facts_zh style (demo-zh: CMRC 2018-style Chinese)", function()
  local c = synth.generate { seed = 2, style = "facts_zh", train_paragraphs = 30, dev_paragraphs = 20 }

  it("is deterministic, in Chinese characters, with character offsets as SQuAD counts them", function()
    local again = synth.generate { seed = 2, style = "facts_zh", train_paragraphs = 30, dev_paragraphs = 20 }
    assert.are.equal(zl.json.encode(c.dev), zl.json.encode(again.dev))
    local dev = questions(c.dev)
    assert.are.equal(20 * 5, #dev)
    local multi = 0
    for _, q in ipairs(dev) do
      assert.is_nil(q.context:find(" ")) -- CMRC passages have no spaces
      if #q.qa.answers > 1 then multi = multi + 1 end
      for _, a in ipairs(q.qa.answers) do
        -- answer_start counts code points: the answer is there, character for character
        local from = utf8.offset(q.context, a.answer_start + 1)
        assert.are.equal(a.text, q.context:sub(from, from + #a.text - 1))
      end
    end
    assert.is_true(multi > 20)
    -- the share of Chinese characters the recipes use to warn when --cmrc is missing
    local path = os.tmpname()
    zl.json.write(path, c.dev)
    assert.is_true(require("zonelab.qa").cjk_share(zl.squad.load(path)) > 0.5)
    os.remove(path)
  end)

  it("holds distractors of each kind: two places, three years, two people per passage", function()
    for _, art in ipairs(c.train.data) do
      for _, p in ipairs(art.paragraphs) do
        local years = 0
        for _ in p.context:gmatch("%d%d%d%d年") do years = years + 1 end
        assert.are.equal(3, years)
        assert.truthy(p.context:find("出生于", 1, true))
        assert.truthy(p.context:find("迁居", 1, true))
        assert.truthy(p.context:find("创办", 1, true))
      end
    end
  end)

  it("has its own character vocabulary: every character of the corpus is a piece", function()
    local dir = os.tmpname(); os.remove(dir)
    require("zonelab.cli").ensure_dir(dir)
    local paths = synth.write(dir, c)
    local tok = zl.tokenizer.load(paths.vocab, { lower = true, cmrc = true })
    for _, q in ipairs(questions(c.train)) do
      for _, text in ipairs { q.context, q.qa.question } do
        for _, piece in ipairs(tok:tokenize(text)) do assert.are_not.equal("[UNK]", piece) end
      end
    end
    assert.are.equal(#c.vocab, c.config.vocab_size)
    local seen = {}
    for _, t in ipairs(c.vocab) do assert.is_nil(seen[t]); seen[t] = true end
    assert.truthy(seen["王"] and seen["。"] and seen["1918"])
    os.execute("rm -rf " .. dir)
  end)
end)

-- The corpora are pinned: the demo's and the tests' numbers depend on every byte of them. The
-- digests (FNV-1a 64 over titles, contexts, ids, questions and answers) are those of the
-- generator before its styles shared one passage writer (issue 18).
describe("zonelab.synth corpora", function()
  local function fnv(s, h)
    h = h or -3750763034362895579 -- 0xcbf29ce484222325
    for i = 1, #s do h = (h ~ s:byte(i)) * 0x100000001b3 end
    return h
  end
  local function digest(ds)
    local h
    for _, art in ipairs(ds.data) do
      h = fnv(art.title, h)
      for _, para in ipairs(art.paragraphs) do
        h = fnv(para.context, h)
        for _, q in ipairs(para.qas) do
          h = fnv(q.id .. "\0" .. q.question, h)
          for _, a in ipairs(q.answers) do h = fnv(a.text .. "\0" .. a.answer_start, h) end
        end
      end
    end
    return string.format("%016x", h)
  end
  local pinned = {
    { "tiny", "d5aa1bf9056ee8c3", "d192bbea1051d9fa", 313 },
    { "tiny-zh", "521fd5925b8b5b68", "f0d3f6b007324f3f", 490 },
    { "demo", "25f154cfc3e1ca60", "02cd047bade4054b", 329 },
    { "demo-zh", "1b1fdb3aa1084017", "730c8704f81aa551", 490 },
  }
  for _, want in ipairs(pinned) do
    it("generates preset " .. want[1] .. "'s corpus unchanged", function()
      local c = synth.generate(synth.PRESETS[want[1]].corpus)
      assert.are.same({ want[2], want[3], want[4] }, { digest(c.train), digest(c.dev), #c.vocab })
    end)
  end
  it("generates the long style unchanged", function()
    local c = synth.generate { seed = 3, train_paragraphs = 20, dev_paragraphs = 10 }
    assert.are.same({ "7d9da271e12de61e", "6d191c6316ed4e7a", 312 }, { digest(c.train), digest(c.dev), #c.vocab })
  end)
  it("derives the Chinese presets from the English ones", function()
    assert.are.equal("facts_zh", synth.PRESETS["demo-zh"].corpus.style)
    assert.is_nil(synth.PRESETS["demo-zh"].pretrain)
    assert.is_true(synth.PRESETS["tiny-zh"].cmrc)
    assert.are.same(synth.PRESETS.tiny.train, synth.PRESETS["tiny-zh"].train)
    assert.are_not.equal(synth.PRESETS.tiny.train, synth.PRESETS["tiny-zh"].train) -- a copy
  end)
end)
