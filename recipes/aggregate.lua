-- aggregate.lua — protocol step 8 (the reference's get_results.py): score every masked
-- decode in a prediction folder and write results.csv (one row per layer, one column per
-- zone), plus baseline.json beside it for the heatmap.
local cli = require "zonelab.cli"
local aggregate = require "zonelab.aggregate"

local p = cli.parser("recipes/aggregate.lua", [[
  Score a folder of predictions against the dev set and write RESULTS.csv with header
  layer,all,q2,q2p,p2q,p2: one row per layer numbered from 1, EM (or F1 with --use-f1) rounded to
  3 decimals. The folder holds predictions.json (the baseline) and
  predictions_layer{L}_{zone}.json with L 0-based, as the reference code names them;
  predictions_layer_{zone}.json (the zone masked in every layer) are scored into baseline.json. A
  missing file is an error naming it, unless --allow-missing leaves its cell empty. baseline.json
  (next to RESULTS.csv) gets the baseline's exact_match and f1.]], [[
Examples:
  zonelab recipes/aggregate.lua run/predictions run/results.csv --dataset dev-v1.1.json
  zonelab recipes/aggregate.lua run/predictions run/results_f1.csv --dataset dev-v1.1.json --use-f1
  zonelab recipes/aggregate.lua preds results.csv --dataset dev.json --per-question run/pq
  zonelab recipes/aggregate.lua --merge run/predictions   # after sweep.lua --shard I/N runs]])
p:argument("prediction_dir", [[Folder with predictions.json and predictions_layer{L}_{zone}.json
  (with --merge: the --out of the sharded sweep, holding shard-I-of-N folders).]])
p:argument("results", "The results CSV to write (not with --merge).", nil):args("?")
p:option("--dataset", [[The gold dataset (SQuAD v1.1 JSON, or CMRC 2018 with --cmrc). With
  --merge: only when the dataset moved since the shards ran (its sha256 is checked).]])
p:flag("--merge", [[Merge the shards of `sweep.lua --shard I/N` in PREDICTION_DIR: refuse when one is
  missing or unfinished, when two disagree on the model, data or options (checksums in their
  manifest.json) or when a file changed since; then write into PREDICTION_DIR every file the
  unsharded sweep writes (predictions, nbest, metrics, results.csv, results_f1.csv, baseline.json).]])
p:flag("--use-f1", "Fill the table with F1 instead of exact match.")
p:flag("--cmrc", "Use the CMRC 2018 metric.")
p:flag("--allow-missing", "Leave the cells of missing prediction files empty instead of failing.")
p:option("--layers", [[Number of layers (default: the highest L found, plus 1). A file of a
  layer past it (past 255 without it) is refused.]])
p:option("--per-question", [[Also write per-question scores into this folder
  (per_question.json, per_question_layer{L}_{zone}.json) for `stats --per-question`.]])
local args = cli.parse(p)

if args.merge then
  if args.results then cli.fail("--merge writes results.csv and results_f1.csv itself: drop '%s'", args.results) end
  aggregate.merge(args.prediction_dir, { dataset = args.dataset })
  return
end
if not args.results then cli.fail("missing argument 'results' (the results CSV to write)") end
if not args.dataset then cli.fail("option '--dataset' must be used 1 time") end
if cli.exists(args.dataset) then require("zonelab.qa").warn_cmrc_file(args.dataset, args.cmrc) end

aggregate.run(args.prediction_dir, args.results, {
  dataset = args.dataset, use_f1 = args.use_f1, cmrc = args.cmrc, allow_missing = args.allow_missing,
  layers = args.layers, per_question = args.per_question,
})
