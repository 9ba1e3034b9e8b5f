-- JSON files in general: a dataset given to evaluate / features, predictions given to
-- evaluate, a model config given to the model loader.
local H = ...
local V = { "--vocab", "vocab.txt", "--out", "out/features.jsonl" }
local function feats(input) -- features.lua on one input
  local a = { "--input", input }
  for _, x in ipairs(V) do a[#a + 1] = x end
  return a
end
local function vocab_and(files)
  files["vocab.txt"] = H.vocab()
  files["out/"] = true
  return files
end

return {
  { name = "json: empty dataset file", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = "", ["pred.json"] = H.PREDS }, names = "dev.json", expect = "json" },
  { name = "json: empty dataset file (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = "" }, names = "dev.json", expect = "json" },
  { name = "json: truncated dataset", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD:sub(1, 60), ["pred.json"] = H.PREDS },
    names = "dev.json", expect = "json" },
  { name = "json: truncated dataset (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = H.SQUAD:sub(1, 60) }, names = "dev.json", expect = "json" },
  { name = "json: dataset not an object", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = "[1, 2, 3]", ["pred.json"] = H.PREDS }, names = "dev.json",
    expect = "data" },
  { name = "json: dataset not an object (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = '"just a string"' }, names = "dev.json", expect = "data" },
  { name = "json: answer_start a string", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": "4", "text": "cat"}]}') },
    names = "dev.json", expect = "answer_start" },
  { name = "json: question a number", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": 7, "answers": [{"answer_start": 4, "text": "cat"}]}') },
    names = "dev.json", expect = "question" },
  { name = "json: answer text a number (evaluate)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": 4, "text": 3}]}'),
      ["pred.json"] = H.PREDS }, names = "dev.json", expect = "text" },
  { name = "json: data not an array", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = '{"version": "1.1", "data": {"a": 1}}' },
    names = "dev.json", expect = "data" },
  { name = "json: missing key data", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = '{"version": "1.1"}', ["pred.json"] = H.PREDS },
    names = "dev.json", expect = "data" },
  { name = "json: missing key context", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = '{"data": [{"paragraphs": [{"qas": []}]}]}' },
    names = "dev.json", expect = "context" },
  { name = "json: missing key qas", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = '{"data": [{"paragraphs": [{"context": "a b"}]}]}' },
    names = "dev.json", expect = "qas" },
  { name = "json: missing key id", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.squad_with(
      '{"question": "What sat?", "answers": [{"answer_start": 4, "text": "cat"}]}'),
      ["pred.json"] = H.PREDS }, names = "dev.json", expect = "id" },
  { name = "json: missing key answers (features --training)", recipe = "features",
    args = { "--training", table.unpack(feats("dev.json")) },
    files = vocab_and { ["dev.json"] = H.squad_with('{"id": "q1", "question": "What sat?"}') },
    names = "dev.json", expect = "answers" },
  { name = "json: missing key answers (evaluate)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.squad_with('{"id": "q1", "question": "What sat?"}'),
      ["pred.json"] = H.PREDS }, names = "dev.json", expect = "answers" },
  { name = "json: unterminated 1 MB string", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = function() return '{"data": "' .. string.rep("x", 1 << 20) end,
      ["pred.json"] = H.PREDS }, names = "dev.json", expect = "json" },
  { name = "json: 100000 nested arrays (dataset)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = function() return string.rep("[", 100000) .. string.rep("]", 100000) end,
      ["pred.json"] = H.PREDS }, names = "dev.json", expect = "json" },
  { name = "json: 100000 nested arrays (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = function() return '{"data": ' .. string.rep("[", 100000) .. string.rep("]", 100000) .. "}" end },
    names = "dev.json", expect = "json" },
  { name = "json: 100000 nested objects (predictions)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD,
      ["pred.json"] = function() return string.rep('{"a":', 100000) .. "1" .. string.rep("}", 100000) end },
    names = "pred.json", expect = "json" },
  { name = "json: predictions not an object", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '["cat", "the mat"]' },
    names = "pred.json", expect = "object" },
  { name = "json: prediction not a string", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '{"q1": 3, "q2": "the mat"}' },
    names = "pred.json", expect = "string" },
  { name = "json: trailing garbage after the object", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = H.PREDS .. "\n{}" },
    names = "pred.json", expect = "json" },
  -- found by fuzz_json (fixed): cJSON read a \u escape with bad hex digits as U+0000,
  -- cutting the string, and the strict pre-scan skipped the byte after a backslash
  { name = "json: invalid \\u escape", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '{"q1": "cat\\u00zz", "q2": "the mat"}' },
    names = "pred.json", expect = "json" },
  { name = "json: invalid UTF-8 inside a \\u escape", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '{"q1": "cat\\ud8\\\xe4Ae", "q2": "the mat"}' },
    names = "pred.json" },
  { name = "json: NUL byte inside the file", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '{"q1": "c\0at"}' },
    names = "pred.json", expect = "json" },
  { name = "json: BOM before the dataset", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = "\xef\xbb\xbf" .. H.SQUAD, ["pred.json"] = H.PREDS },
    names = "dev.json", expect = "byte%-order mark" },
  { name = "json: BOM before the predictions", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = "\xef\xbb\xbf" .. H.PREDS },
    names = "pred.json", expect = "byte%-order mark" },
  { name = "json: BOM before the dataset (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = "\xef\xbb\xbf" .. H.SQUAD }, names = "dev.json",
    expect = "byte%-order mark" },
  { name = "json: trailing garbage after the dataset (features)", recipe = "features",
    args = feats("dev.json"), files = vocab_and { ["dev.json"] = H.SQUAD .. "\n]" },
    names = "dev.json", expect = "json" },
  { name = "json: raw newline inside a context string (features)", recipe = "features",
    args = feats("dev.json"), files = vocab_and { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": 4, "text": "cat"}]}'):gsub(
      "The cat sat", "The cat\nsat") }, names = "dev.json", expect = "json" },
  { name = "json: trailing garbage after a config", code = 'require("zonelab").bert.load("m")',
    files = function() local m = H.model_files(); return { ["m/"] = true,
      ["m/bert_config.json"] = m["bert_config.json"] .. "}", ["m/model.safetensors"] = m["model.safetensors"] } end,
    names = "m/bert_config.json", expect = "json" },
  -- invalid UTF-8 is refused (core/json.h, as Python's json.load): a GBK-encoded CMRC file
  -- would otherwise load as silent garbage
  { name = "json: invalid UTF-8 in a context (evaluate)", recipe = "evaluate",
    args = { "dev.json", "pred.json" }, files = { ["pred.json"] = H.PREDS, ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": 4, "text": "cat"}]}',
      "The cat \xff\xfe\xc3sat on the mat.") }, names = "dev.json", expect = "utf%-8" },
  { name = "json: invalid UTF-8 in a context (features)", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": 4, "text": "cat"}]}',
      "The cat \xff\xfe\xc3sat on the mat.") }, names = "dev.json", expect = "utf%-8" },
  -- values Python's json.load reads but zonelab refuses, each named (core/json.h)
  { name = "json: NaN in predictions", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.SQUAD, ["pred.json"] = '{"q1": NaN}' }, names = "pred.json",
    expect = "NaN at line 1" },
  { name = "json: Infinity in a config", code = 'require("zonelab").bert.load("m")',
    files = function() local m = H.model_files(); return { ["m/"] = true,
      ["m/bert_config.json"] = m["bert_config.json"]:gsub('"initializer_range":%s*[%d.e-]+', '"initializer_range": Infinity'),
      ["m/model.safetensors"] = m["model.safetensors"] } end,
    names = "m/bert_config.json", expect = "Infinity at line" },
  { name = "json: \\u0000 in a question", recipe = "features", args = feats("dev.json"),
    files = vocab_and { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What\\u0000sat?", "answers": [{"answer_start": 4, "text": "cat"}]}') },
    names = "dev.json", expect = "u0000 %(a NUL character%)" },
  { name = "json: a lone surrogate in an answer", recipe = "evaluate", args = { "dev.json", "pred.json" },
    files = { ["pred.json"] = H.PREDS, ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": [{"answer_start": 4, "text": "\\ud800cat"}]}') },
    names = "dev.json", expect = "lone surrogate" },
}
