-- evaluate.lua — protocol step 6: score a predictions.json against the dev set exactly as
-- the official SQuAD v1.1 script (or, with --cmrc, the CMRC 2018 script) does.
local cli = require "zonelab.cli"
local scoring = require "zonelab.scoring"
local zl = require "zonelab"

local p = cli.parser("recipes/evaluate.lua", [[
  Score predictions ({question_id: answer}) against a SQuAD-style dataset and print
  {"exact_match": <float>, "f1": <float>} on one line, with full precision, as the official
  evaluate-v1.1.py prints it (scores x100). Questions without a prediction score 0 and are listed
  on stderr; prediction ids not in the dataset are ignored.]], [[
Examples:
  zonelab recipes/evaluate.lua dev-v1.1.json predictions.json
  zonelab recipes/evaluate.lua cmrc2018_dev.json predictions.json --cmrc
  zonelab recipes/evaluate.lua dev-v1.1.json predictions.json --per-question pq.json
The per-question file is JSON: {"metric", "exact_match", "f1", "total", "missing",
"questions": {id: [em, f1]}} with em 0 or 100 and f1 in 0..100 (see docs/recipes.md).]])
p:argument("dataset", "The gold dataset (SQuAD v1.1 JSON, or CMRC 2018 in SQuAD style).")
p:argument("predictions", "predictions.json: {question_id: answer_text}.")
p:flag("--cmrc", "Use the CMRC 2018 metric (mixed segmentation, longest common substring F1).")
p:option("--per-question", "Also write every question's EM and F1 to this JSON file.")
local args = cli.parse(p)

local ds = zl.metrics.load(args.dataset)
require("zonelab.qa").warn_cmrc_file(args.dataset, args.cmrc)
local r = scoring.score(ds, args.predictions, { cmrc = args.cmrc, per_question = args.per_question ~= nil })
print(scoring.line(r))
if args.per_question then
  scoring.write_per_question(args.per_question, r)
  io.stderr:write(string.format("wrote %s (%d questions)\n", args.per_question, r.total))
end
