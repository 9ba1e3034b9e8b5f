-- zonelab.tokenizer: loading (Python strip() of lines, missing specials), tokenize /
-- encode / id / piece / #, BERT rules and the CMRC variant through the binding, and
-- the real vocabularies when $ZONELAB_SHARED/data/real is present.
local zl = require "zonelab"

local function write(name, text)
  local path = os.tmpname() .. "_" .. name
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  return path
end

-- ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 hello 5 world 6 , 7 ! 8 un 9 ##aff 10 ##able
-- 11 cafe 12 café 13 中 14 foo (line "\u{2028}foo\u{2028}")
local VOCAB = write("vocab.txt", table.concat({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world",
  ",", "!", "un", "##aff", "##able", "cafe", "caf\u{e9}", "\u{4e2d}", "\u{2028}foo\u{2028}" }, "\n") .. "\n")

describe("zonelab.tokenizer", function()
  teardown(function() os.remove(VOCAB) end)

  it("loads a vocabulary, strips lines and answers id/piece/#", function()
    local tok = zl.tokenizer.load(VOCAB, { lower = true })
    assert.are.equal(15, #tok)
    assert.are.equal(14, tok:id("foo"))
    assert.are.equal("foo", tok:piece(14))
    assert.is_nil(tok:id("nope"))
    assert.is_nil(tok:piece(15))
    assert.are.equal("[PAD]", tok:piece(0))
    assert.are.same({ lower = true, cmrc = false }, tok:options())
    assert.truthy(tostring(tok):find("15 pieces", 1, true))
  end)

  it("tokenizes as Google's FullTokenizer (uncased)", function()
    local tok = zl.tokenizer.load(VOCAB, { lower = true })
    assert.are.same({ "hello", ",", "world", "!" }, tok:tokenize("H\u{e9}llo, WORLD!"))
    assert.are.same({ 4, 6, 5, 7 }, tok:encode("H\u{e9}llo, WORLD!"))
    assert.are.same({ "un", "##aff", "##able" }, tok:tokenize("unaffable"))
    assert.are.same({ "cafe" }, tok:tokenize("Caf\u{e9}"))
    -- zero-width space and soft hyphen vanish without a space: the words merge
    assert.are.same({ "[UNK]" }, tok:tokenize("hello\u{200b}world"))
    assert.are.same({ "hello", "world" }, tok:tokenize("hello\u{2028}world"))
    assert.are.same({ "[UNK]", "\u{4e2d}", "[UNK]" }, tok:tokenize("a\u{4e2d}b"))
    assert.are.same({}, tok:tokenize(""))
    assert.are.same({ "hello" }, tok:tokenize("hel\xfflo")) -- invalid byte dropped
  end)

  it("keeps everything in cased mode", function()
    local tok = zl.tokenizer.load(VOCAB)
    assert.are.same({ "caf\u{e9}" }, tok:tokenize("caf\u{e9}"))
    assert.are.same({ "[UNK]" }, tok:tokenize("Hello"))
    assert.are.same({ "hello", "[UNK]" }, tok:tokenize("hello \u{a9}"))
  end)

  it("offers run_cmrc2018.py's variant", function()
    local tok = zl.tokenizer.load(VOCAB, { lower = true, cmrc = true })
    assert.are.same({ "hello", "[UNK]", "world" }, tok:tokenize("HELLO\u{200b}world"))
    assert.are.same({ "caf\u{e9}" }, tok:tokenize("CAF\u{c9}"))
  end)

  it("exposes the BasicTokenizer", function()
    local tok = zl.tokenizer.load(VOCAB, { lower = true })
    assert.are.same({ "steve", "smith", "'", "s" }, tok:basic("Steve Smith's"))
    assert.are.same({ "Steve", "Smith", "'", "s" }, tok:basic("Steve Smith's", false))
  end)

  it("fails clearly", function()
    local ok, err = pcall(zl.tokenizer.load, "/nonexistent/vocab.txt")
    assert.is_false(ok)
    assert.truthy(err:find("/nonexistent/vocab.txt", 1, true))
    local bad = write("bad.txt", "[PAD]\n[UNK]\n[SEP]\n")
    ok, err = pcall(zl.tokenizer.load, bad)
    assert.is_false(ok)
    assert.truthy(err:find("[CLS]", 1, true) and err:find(bad, 1, true))
    os.remove(bad)
    local tok = zl.tokenizer.load(VOCAB)
    assert.has_error(function() tok:tokenize(nil) end)
    tok:close()
    assert.has_error(function() tok:tokenize("x") end)
  end)

  it("matches tokenization.py on the real vocabularies (skips when absent)", function()
    local real, cased, chinese = require("real_data").find("vocab/bert-base-uncased/vocab.txt",
      "vocab/bert-base-cased/vocab.txt", "vocab/bert-base-chinese/vocab.txt")
    if not real then return end
    local u = zl.tokenizer.load(real, { lower = true })
    assert.are.equal(30522, #u)
    assert.are.same({ 7592, 1010, 2088, 999, 15743, 7668 }, u:encode("Hello, world! na\u{ef}ve caf\u{e9}"))
    local c = zl.tokenizer.load(cased)
    assert.are.same({ 8667, 117, 1362, 106 }, c:encode("Hello, world!"))
    local zh = zl.tokenizer.load(chinese, { lower = true })
    assert.are.equal(21128, #zh)
    assert.are.same({ "\u{4e2d}", "\u{6587}" }, zh:tokenize("\u{4e2d}\u{6587}"))
  end)
end)

