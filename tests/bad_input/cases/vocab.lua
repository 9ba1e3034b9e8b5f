-- Vocabularies (vocab.txt) given to tokenize and features.
local H = ...
local IN = "the cat sat\n"
local function tok(extra)
  local a = { "--vocab", "vocab.txt" }
  for _, x in ipairs(extra or {}) do a[#a + 1] = x end
  return a
end

return {
  { name = "vocab: missing file", recipe = "tokenize", args = { "--vocab", "nope.txt" }, stdin = IN,
    names = "nope.txt", expect = "cannot open" },
  { name = "vocab: missing file (features)", recipe = "features",
    args = { "--vocab", "nope.txt", "--input", "dev.json", "--out", "out/f.jsonl" },
    files = { ["dev.json"] = H.SQUAD, ["out/"] = true }, names = "nope.txt", expect = "cannot open" },
  { name = "vocab: a folder", recipe = "tokenize", args = { "--vocab", "d" }, stdin = IN,
    files = { ["d/"] = true }, names = "d", expect = "file" },
  { name = "vocab: empty", recipe = "tokenize", args = tok(), stdin = IN,
    files = { ["vocab.txt"] = "" }, names = "vocab.txt", expect = "%[pad%]" },
  { name = "vocab: missing [CLS]", recipe = "tokenize", args = tok(), stdin = IN,
    files = { ["vocab.txt"] = H.vocab_without("[CLS]") }, names = "vocab.txt", expect = "%[cls%]" },
  { name = "vocab: missing [SEP]", recipe = "tokenize", args = tok(), stdin = IN,
    files = { ["vocab.txt"] = H.vocab_without("[SEP]") }, names = "vocab.txt", expect = "%[sep%]" },
  { name = "vocab: missing [UNK]", recipe = "tokenize", args = tok(), stdin = IN,
    files = { ["vocab.txt"] = H.vocab_without("[UNK]") }, names = "vocab.txt", expect = "%[unk%]" },
  { name = "vocab: missing [PAD] (features)", recipe = "features",
    args = { "--vocab", "vocab.txt", "--input", "dev.json", "--out", "out/f.jsonl" },
    files = { ["vocab.txt"] = H.vocab_without("[PAD]"), ["dev.json"] = H.SQUAD, ["out/"] = true },
    names = "vocab.txt", expect = "%[pad%]" },
  { name = "vocab: binary bytes (no specials)", recipe = "tokenize", args = tok(), stdin = IN,
    files = { ["vocab.txt"] = "\0\1\2\255\254\n\0\n" }, names = "vocab.txt", expect = "%[pad%]" },
  -- accepted: CRLF line ends (strip() removes the CR), duplicates (the last line wins, as
  -- Python's dict), and a 1 MB line (a long piece that nothing matches)
  { name = "vocab: CRLF line ends (accepted)", recipe = "tokenize", status = 0, args = tok({ "--ids" }),
    stdin = IN, files = { ["vocab.txt"] = H.vocab(nil, "\r\n") }, stdout_match = "^5 6 7\n$" },
  { name = "vocab: duplicate tokens (accepted, last wins)", recipe = "tokenize", status = 0,
    args = tok({ "--ids" }), stdin = IN,
    files = { ["vocab.txt"] = H.vocab() .. "the\n" }, stdout_match = "^17 6 7\n$" },
  { name = "vocab: a 1 MB line (accepted)", recipe = "tokenize", status = 0, args = tok(), stdin = IN,
    files = { ["vocab.txt"] = function() return H.vocab() .. string.rep("x", 1 << 20) .. "\n" end },
    stdout_match = "^the cat sat\n$" },
}
