-- SQuAD / CMRC 2018 datasets whose JSON is well-formed but whose content is odd. Several
-- are ACCEPTED as the reference accepts them (status = 0), with the defined outcome.
local H = ...
local function feats(input, training)
  local a = { "--input", input, "--vocab", "vocab.txt", "--out", "out/f.jsonl" }
  if training then a[#a + 1] = "--training" end
  return a
end
local function with_vocab(files)
  files["vocab.txt"] = H.vocab()
  files["out/"] = true
  return files
end
local OUT = { ["out/f.jsonl"] = true }
local function qa(id, question, start, text)
  return string.format('{"id": "%s", "question": "%s", "answers": [{"answer_start": %s, "text": "%s"}]}',
    id, question, start, text)
end

return {
  -- answer_start beyond the context: evaluation never reads it (as run_squad.py); training
  -- skips the question with a warning naming it (the reference's "Could not find answer")
  { name = "squad: answer_start beyond the context (training: skipped, named)", recipe = "features",
    status = 0, args = feats("dev.json", true), outputs = OUT,
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 400, "cat")) },
    stdout_match = "0 examples", stderr_match = "dev.json: could not find the answer of question q1" },
  { name = "squad: answer_start beyond the context (evaluation: accepted)", recipe = "evaluate",
    status = 0, args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 400, "cat")),
      ["pred.json"] = '{"q1": "cat"}' }, stdout_match = '"exact_match": 100.0' },
  { name = "squad: answer_start -1 (CMRC style; scored as the reference)", recipe = "evaluate",
    status = 0, args = { "dev.json", "pred.json", "--cmrc" },
    files = { ["dev.json"] = H.squad_with(qa("q1", "What sat?", -1, "cat")),
      ["pred.json"] = '{"q1": "cat"}' }, stdout_match = '"exact_match": 100.0' },
  { name = "squad: answer_start -1 (training: skipped, named)", recipe = "features", status = 0,
    args = feats("dev.json", true), outputs = OUT,
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", -1, "cat")) },
    stderr_match = "could not find the answer of question q1" },
  { name = "squad: answer_start a fraction", recipe = "features", args = feats("dev.json", true),
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 4.5, "cat")) },
    names = "dev.json", expect = "answer_start" },
  { name = "squad: answer_start 1e300 (training: skipped, named)", recipe = "features",
    status = 0, args = feats("dev.json", true), outputs = OUT,
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", "1e300", "cat")) },
    stderr_match = "could not find the answer of question q1" },
  -- an empty context has no doc span, so no feature: the example decodes to "empty" as
  -- in run_squad.py; in training the question is skipped and named
  { name = "squad: empty context (evaluation: no features for it)", recipe = "features",
    status = 0, args = feats("dev.json"), outputs = OUT,
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 0, "cat"), "") },
    stdout_match = "1 examples, 0 features" },
  { name = "squad: empty context (training: skipped, named)", recipe = "features", status = 0,
    args = feats("dev.json", true), outputs = OUT,
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 0, "cat"), "") },
    stderr_match = "could not find the answer of question q1" },
  { name = "squad: a question of 10,000 tokens (truncated to --max-query-length)",
    recipe = "features", status = 0, args = feats("dev.json", true), outputs = OUT,
    files = with_vocab { ["dev.json"] = function()
      return H.squad_with(qa("q1", string.rep("cat ", 10000), 4, "cat")) end },
    stdout_match = "1 examples, 1 features" },
  { name = "squad: duplicate question ids (features)", recipe = "features", args = feats("dev.json"),
    files = with_vocab { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 4, "cat") .. ", " ..
      qa("q1", "Where?", 15, "the mat")) }, names = "dev.json", expect = "q1" },
  { name = "squad: duplicate question ids (evaluate)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = H.squad_with(qa("q1", "What sat?", 4, "cat") .. ", " ..
      qa("q1", "Where?", 15, "the mat")), ["pred.json"] = '{"q1": "cat"}' },
    names = "dev.json", expect = "q1" },
  { name = "squad: no questions at all (evaluate)", recipe = "evaluate",
    args = { "dev.json", "pred.json" },
    files = { ["dev.json"] = '{"version": "1.1", "data": []}', ["pred.json"] = "{}" },
    names = "dev.json", expect = "question" },
  { name = "squad: answers not an array", recipe = "features", args = feats("dev.json", true),
    files = with_vocab { ["dev.json"] = H.squad_with(
      '{"id": "q1", "question": "What sat?", "answers": {"text": "cat"}}') },
    names = "dev.json", expect = "answers" },
  { name = "squad: id an empty object", recipe = "features", args = feats("dev.json"),
    files = with_vocab { ["dev.json"] = H.squad_with(
      '{"id": {}, "question": "What sat?", "answers": []}') }, names = "dev.json", expect = "id" },
}
