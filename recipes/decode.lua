-- decode.lua — protocol step 7 for one configuration: decode a SQuAD-format file with a
-- fine-tuned model, optionally with an attention zone masked at one layer (or all), and
-- write the predictions under the reference's names, their n-best lists and the scores.
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local qa_cli = require "zonelab.qa_cli"
local scoring = require "zonelab.scoring"

local p = cli.parser("recipes/decode.lua", [[
  Decode --predict with --model as run_squad.py --do_predict does and write, into --out,
  predictions.json (no mask) or predictions_layer{L}_{Z}.json (zone Z masked at layer --mask-layer,
  1-based; the file name keeps the reference's 0-based L = layer - 1 for drop-in compatibility;
  predictions_layer_{Z}.json with --mask-layer all), the matching nbest_predictions*.json, and
  metrics*.json ({exact_match, f1, total, missing}, x100) when the file has answers. Zones: ]] ..
  qa.zone_list() .. [[; all_strict sets the layer's attention context exactly to zero instead of
  the reference's constant-score `all`. Files are written atomically; an existing file is
  replaced.]], [[
Examples:
  zonelab recipes/decode.lua --model run/model --predict dev-v1.1.json --out run/predictions
  zonelab recipes/decode.lua --model run/model --predict dev-v1.1.json --out run/predictions \
      --mask-zone p2q --mask-layer 12 --max-seq-length 512   # predictions_layer11_p2q.json]])
qa_cli.add_options(p)
p:option("--mask-zone", "Zone to mask: " .. qa.zone_list() .. ".")
p:option("--mask-layer", "Layer to mask, 1-based as sweep's --layers and the paper's tables " ..
  "(1..number of layers), or 'all' for every layer (needs --mask-zone).")
local args = cli.parse(p)

local config = {}
if args.mask_zone then
  config.zone = qa_cli.zone(args.mask_zone)
  if not args.mask_layer then cli.fail("--mask-zone needs --mask-layer (a 1-based layer or 'all')") end
elseif args.mask_layer then
  cli.fail("--mask-layer needs --mask-zone (%s)", qa.zone_list())
end
-- decodes of other configurations may share the folder (each writes its own files and
-- partial folder); one of the same configuration may not
local model, data, opts = qa_cli.setup(args, function(model)
  if config.zone then config.layer = qa_cli.mask_layer(args.mask_layer, model.layers) end
end, { shared = true })
cli.lock(args.out, { name = ".lock-" .. qa.predictions_name(config):gsub("%.json$", "") })
opts.force = true
opts.label = "decode " .. qa.label(config)
local r = qa.run(model, data, { config }, opts)[1]
cli.wrote(r.predictions, string.format("%d questions", #data.ds))
cli.wrote(r.nbest)
if r.score then
  cli.wrote(r.metrics)
  print(scoring.line(r.score))
end
