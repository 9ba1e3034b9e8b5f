-- tests/bench/text.lua — tokenizer and SQuAD feature speed on the real SQuAD v1.1 dev set.
--
--   zonelab tests/bench/text.lua [--reps N]
--
-- Loads $ZONELAB_SHARED/data/real/squad_v1.1/dev-v1.1.json (or ../shared), tokenizes
-- every context and question with the cased vocabulary, then builds the features at
-- max_seq_length 384 / doc_stride 128 / max_query_length 64 (which tokenizes each
-- paragraph once more). Prints one JSON line: "bench":"text", seconds (load +
-- features: the pipeline a decode pays; target < 2 s), and the parts. Each part keeps
-- its best of N runs: this machine is shared and noisy.
local zl = require "zonelab"

local reps = 3
if arg[1] == "--reps" then reps = tonumber(arg[2]) or reps end
local shared = os.getenv("ZONELAB_SHARED") or "../shared"
local dev = shared .. "/data/real/squad_v1.1/dev-v1.1.json"
local vocab = shared .. "/data/real/vocab/bert-base-cased/vocab.txt"
local f = io.open(dev)
if not f then
  print(string.format('{"bench":"text","skipped":"%s absent"}', dev))
  return
end
f:close()

local tok = zl.tokenizer.load(vocab)
local best = { load = math.huge, tokenize = math.huge, features = math.huge }
local nfeat, ntok, nex
for _ = 1, reps do
  local t0 = zl.clock()
  local ds = zl.squad.load(dev)
  local t1 = zl.clock()
  ntok, nex = 0, ds:count()
  local last
  for i = 1, nex do
    local e = ds:example(i)
    if e.context ~= last then
      ntok = ntok + #tok:encode(e.context)
      last = e.context
    end
    ntok = ntok + #tok:encode(e.question)
  end
  local t2 = zl.clock()
  local feats = zl.squad.features(ds, tok, { max_seq_length = 384, doc_stride = 128, max_query_length = 64 })
  local t3 = zl.clock()
  nfeat = feats:count()
  best.load = math.min(best.load, t1 - t0)
  best.tokenize = math.min(best.tokenize, t2 - t1)
  best.features = math.min(best.features, t3 - t2)
  feats:close()
  ds:close()
end
print(string.format('{"bench":"text","seconds":%.3f,"load_s":%.3f,"tokenize_all_s":%.3f,' ..
  '"features_s":%.3f,"examples":%d,"features":%d,"tokens":%d,"tokens_per_s":%.0f}',
  best.load + best.features, best.load, best.tokenize, best.features, nex, nfeat, ntok,
  ntok / best.tokenize))
