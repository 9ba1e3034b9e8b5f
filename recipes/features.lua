-- recipes/features.lua — SQuAD / CMRC 2018 JSON -> run_squad.py features, one JSON
-- object a line (qid, doc_span_index, input_ids, segment_ids, input_mask_len,
-- token_to_orig_map as [position, word_index] pairs, token_is_max_context as the
-- positions where it holds, start_position, end_position; all 0-based as the reference).
local cli = require "zonelab.cli"
local zl = require "zonelab"

local p = cli.parser("recipes/features.lua", [[
  Builds the features of google-research/bert run_squad.py (v1.1) from a SQuAD-format file and
  writes them as JSON lines (atomically).]])
p:option("--vocab", "vocab.txt of the model."):args(1):count(1)
p:flag("--lower", "Lower-case and strip accents (uncased models; default: what --vocab implies: " ..
  "no capitalised pieces = uncased; a flag contradicting it is an error).")
p:flag("--cased", "Keep case (cased models; default: what --vocab implies).")
p:flag("--cmrc", "run_cmrc2018.py's tokenizer variant.")
p:option("--input", "SQuAD-format JSON (SQuAD v1.1, CMRC 2018 squad-style)."):args(1):count(1)
p:flag("--training", "Training features: answers mapped to start/end positions; " ..
  "questions whose answer cannot be found are skipped with a warning.")
p:option("--max-seq-length", "Maximum sequence length.", "384")
p:option("--doc-stride", "Stride between passage windows.", "128")
p:option("--max-query-length", "Maximum question length in tokens.", "64")
p:option("--out", "Output FEATURES.jsonl."):args(1):count(1)
local args = cli.parse(p)

local opts = {
  max_seq_length = cli.integer(args.max_seq_length, "--max-seq-length", 4),
  doc_stride = cli.integer(args.doc_stride, "--doc-stride", 1),
  max_query_length = cli.integer(args.max_query_length, "--max-query-length", 0),
  training = args.training,
}
if args.lower and args.cased then cli.fail("--lower and --cased exclude each other") end
local qa = require "zonelab.qa"
local requested = nil
if args.lower then requested = true elseif args.cased then requested = false end
local lower = qa.resolve_lower(args.vocab, requested)
local tok = zl.tokenizer.load(args.vocab, { lower = lower, cmrc = args.cmrc })
local ds = zl.squad.load(args.input, { training = args.training })
if ds:skipped() > 0 then
  for _, qid in ipairs(ds:skipped_ids()) do
    io.stderr:write(string.format("warning: %s: could not find the answer of question %s\n",
      args.input, qid))
  end
  io.stderr:write(string.format("warning: %s: %d training questions skipped\n", args.input,
    ds:skipped()))
end
local feats = zl.squad.features(ds, tok, opts)
qa.warn_unk(feats, args.input)

local enc = zl.json.encode
local function array(t) return setmetatable(t, getmetatable(zl.json.decode("[]"))) end
local lines = {}
for i = 1, feats:count() do
  local f = feats:get(i)
  lines[#lines + 1] = enc({
    qid = f.qid, doc_span_index = f.doc_span_index, input_ids = array(f.input_ids),
    segment_ids = array(f.segment_ids), input_mask_len = f.input_mask_len,
    token_to_orig_map = array(f.token_to_orig_map),
    token_is_max_context = array(f.token_is_max_context),
    start_position = f.start_position, end_position = f.end_position,
  })
end
lines[#lines + 1] = ""
zl.io.write_atomic(args.out, table.concat(lines, "\n"))
print(string.format("%d examples, %d features -> %s", ds:count(), feats:count(), args.out))
