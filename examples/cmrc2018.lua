-- examples/cmrc2018.lua — CMRC 2018 (Chinese reading comprehension) with a Chinese BERT:
-- lower-casing, the CMRC tokenizer variant (run_cmrc2018.py's), and the official CMRC
-- metric (character-level F1, cmrc2018_evaluate.py), with and without a zone.
--
--   build/zonelab examples/cmrc2018.lua [--model DIR] [--data cmrc2018_dev.json] [--questions 5]
--
-- Without --model it builds a small random model over the real Chinese vocabulary
-- ($ZONELAB_SHARED/data/real/vocab/bert-base-chinese/vocab.txt) and takes the first
-- questions of CMRC 2018 dev ($ZONELAB_SHARED/data/real/cmrc2018/...); when those files
-- are absent it uses a tiny Chinese example and vocabulary built here.
-- With a real model: --model chinese_L-12_H-768_A-12 (bert_config.json, weights, vocab.txt).
local zl = require "zonelab"
local cli = require "zonelab.cli"
local lfs = require "lfs"
local qa = require "zonelab.qa"
local small = dofile(arg[0]:match("^(.*)/[^/]*$") .. "/small_model.lua")

local p = small.parser("cmrc2018", "CMRC 2018 with a Chinese BERT: lower-casing, the CMRC tokenizer and metric.",
  "Chinese BERT folder (default: a small random model).",
  "CMRC 2018 file, SQuAD style (default: CMRC dev from $ZONELAB_SHARED, else an inline example).")
p:option("--questions", "How many questions to decode.", "5")
p:option("--max-seq-length", "Sequence length.", "256")
local args = small.parse(p)
local nq = cli.integer(args.questions, "--questions", 1, 100000)

local function file(path) return path and lfs.attributes(path, "mode") == "file" and path or nil end
local shared = os.getenv("ZONELAB_SHARED")
local real = shared and shared .. "/data/real"
local tmp = small.tempdir("cmrc2018")

-- The data: the first nq questions of the file, written as a small SQuAD-style file.
local data_path = args.data or file(real and real .. "/cmrc2018/cmrc2018_dev.squad-style.json")
local subset = { version = "v1.0", data = {} }
if data_path then
  local n = 0
  for _, article in ipairs(zl.json.read(data_path).data) do
    for _, para in ipairs(article.paragraphs) do
      if n >= nq then break end
      local qas = {}
      for _, q in ipairs(para.qas) do
        if n < nq then qas[#qas + 1] = q; n = n + 1 end
      end
      subset.data[#subset.data + 1] = { title = article.title or "", paragraphs = { { id = para.id, context = para.context, qas = qas } } }
    end
  end
  print(string.format("data: the first %d questions of %s", n, data_path))
else
  -- answer_start counts characters (not bytes), as in the SQuAD format
  local context = "李白出生于公元701年，是唐代的诗人。杜甫出生于712年，也是唐代诗人。"
  local function qa_item(id, question, answer)
    local at = context:find(answer, 1, true)
    return { id = id, question = question, answers = { { text = answer, answer_start = utf8.len(context:sub(1, at - 1)) } } }
  end
  subset.data[1] = { title = "inline", paragraphs = { { context = context, qas = {
    qa_item("inline_1", "李白出生于哪一年？", "公元701年"),
    qa_item("inline_2", "杜甫是哪个朝代的诗人？", "唐代") } } } }
  print("data: no CMRC 2018 file (set ZONELAB_SHARED or --data); a tiny inline example")
end
local data = tmp .. "/cmrc_subset.json"
zl.json.write(data, subset)

-- The model: --model, or a small random one over the Chinese vocabulary.
local dir = args.model
if not dir then
  local vocab_path = file(real and real .. "/vocab/bert-base-chinese/vocab.txt")
  local vocab = {}
  if vocab_path then
    for line in io.lines(vocab_path) do vocab[#vocab + 1] = line end
  else
    vocab = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "，", "。", "？", "701", "712", "cafe", "iphone" }
    for _, c in utf8.codes("李白出生于公元年是唐代的诗人杜甫也哪一个朝") do vocab[#vocab + 1] = utf8.char(c) end
  end
  dir = small.write(tmp .. "/model", { vocab = vocab, max_position_embeddings = 512 })
  print(string.format("model: small random BERT over %s (%d pieces)", vocab_path or "an inline vocabulary", #vocab))
end
-- Chinese BERT's vocabulary is uncased: lower = true. cmrc = true selects the CMRC tokenizer.
local model = qa.load_model(dir, { lower = true, cmrc = true })
local tok = model.tok
print(tostring(tok))

-- What the CMRC variant changes: no text cleaning (a zero-width space is a token), and
-- lower-casing keeps accents (BERT's BasicTokenizer strips them).
local text = "Café\u{200B}李白 iPhone"
local bert_tok = zl.tokenizer.load(dir .. "/vocab.txt", { lower = true, cmrc = false })
print("BERT tokenizer: " .. table.concat(bert_tok:tokenize(text), " "))
print("CMRC tokenizer: " .. table.concat(tok:tokenize(text), " "))

-- Decode with and without a zone, score with the CMRC metric (and SQuAD's, for contrast).
local ds = zl.squad.load(data)
local seq = cli.integer(args.max_seq_length, "--max-seq-length", 8, model.config.max_position_embeddings)
local feats = zl.squad.features(ds, tok, { max_seq_length = seq, doc_stride = 128, max_query_length = 64 })
print(string.format("%d questions -> %d features", #ds, #feats))
local gold = zl.metrics.load(data)
for _, run in ipairs({ { "baseline", nil }, { "p2 all layers", { zone = "p2", layer = "all" } } }) do
  local preds = small.predict(model, ds, feats, run[2])
  local c, s = zl.metrics.cmrc(gold, preds), zl.metrics.squad(gold, preds)
  print(string.format("%-14s CMRC EM %5.1f F1 %5.1f   (SQuAD metric: EM %5.1f F1 %5.1f)",
    run[1], c.exact_match, c.f1, s.exact_match, s.f1))
  local ex = ds:example(1)
  print(string.format("  %s  %s -> %s (gold %s)", ex.qid, ex.question, preds[ex.qid], ex.answers[1].text))
end

-- The metric on one answer: CMRC F1 counts characters, SQuAD F1 whitespace tokens.
print(string.format("F1(\"701年\", \"公元701年\"): CMRC %.1f, SQuAD %.1f; segmentation: %s",
  zl.metrics.f1("701年", { "公元701年" }, "cmrc"), zl.metrics.f1("701年", { "公元701年" }, "squad"),
  table.concat(zl.metrics.segment("公元701年"), "|")))
small.remove(tmp)
