-- Command lines: unknown options, out-of-range values, output folders that cannot be
-- used. The model is a tiny random BERT (2 layers) written by zonelab itself.
local H = ...
local p = io.popen("id -u")
local is_root = p:read("l") == "0"
p:close()
-- root writes anywhere the mode bits forbid: then use a folder no one can write in
local UNWRITABLE = is_root and "/sys" or "ro"

local function model_files(extra)
  local m = H.model_files()
  local files = { ["m/"] = true, ["m/bert_config.json"] = m["bert_config.json"],
    ["m/model.safetensors"] = m["model.safetensors"], ["m/vocab.txt"] = H.vocab(),
    ["dev.json"] = H.SQUAD }
  for k, v in pairs(extra or {}) do files[k] = v end
  return files
end
local function decode(name, extra_args, names, expect, more)
  local args = { "--model", "m", "--predict", "dev.json", "--out", "out", "--max-seq-length", "16",
    "--doc-stride", "4", "--max-query-length", "4" }
  for _, a in ipairs(extra_args) do args[#args + 1] = a end
  local c = { name = "cli: decode " .. name, recipe = "decode", args = args, names = names,
    expect = expect, files = function() return model_files(more and more.files) end }
  for k, v in pairs(more or {}) do if k ~= "files" then c[k] = v end end
  return c
end
local RUNS = { ["r1.csv"] = "layer,all,q2\n1,80.0,79.5\n2,81.0,80.5\n" }

return {
  { name = "cli: decode a valid run (the control: these inputs work)", recipe = "decode", status = 0,
    args = { "--model", "m", "--predict", "dev.json", "--out", "out", "--max-seq-length", "16",
      "--doc-stride", "4", "--max-query-length", "4", "--mask-zone", "p2q", "--mask-layer", "2" },
    files = model_files, stdout_match = "predictions_layer1_p2q.json" }, -- layer 2, 1-based
  decode("with an unknown option", { "--mask-lyer", "1" }, "--mask-lyer", "unknown option"),
  decode("--mask-layer 99 for a 2-layer model", { "--mask-zone", "p2q", "--mask-layer", "99" },
    "--mask-layer", "range"),
  decode("--mask-layer=-1", { "--mask-zone", "p2q", "--mask-layer=-1" }, "--mask-layer", "range"),
  decode("--mask-layer 0 (layers count from 1)", { "--mask-zone", "p2q", "--mask-layer", "0" },
    "--mask-layer", "1-based"),
  decode("--mask-layer without --mask-zone", { "--mask-layer", "1" }, "--mask-layer", "zone"),
  decode("an unknown zone", { "--mask-zone", "q2x", "--mask-layer", "1" }, "q2x", "zone"),
  decode("--threads 0", { "--threads", "0" }, "--threads", "at least 1"),
  decode("--threads many", { "--threads", "many" }, "--threads", "whole number"),
  decode("--threads 99999999999", { "--threads", "99999999999" }, "--threads", "at most 1024"),
  decode("--threads 1e308", { "--threads", "1e308" }, "--threads", "at most 1024"),
  decode("--batch 0", { "--batch", "0" }, "--batch", "whole number"),
  decode("--max-seq-length 100000 beyond the model's positions", { "--max-seq-length", "100000" },
    "max", "position"),
  decode("output folder that is a file", {}, "out", "not a folder",
    { files = { out = "a file, not a folder\n" } }),
  decode("output folder inside a file", { "--out", "f/sub" }, "f", "not a folder",
    { files = { f = "a file\n" } }),
  decode("unwritable output folder", { "--out", UNWRITABLE }, UNWRITABLE, "writable",
    { setup = function(dir) if not is_root then os.execute("chmod 0555 '" .. dir .. "/ro'") end end,
      files = not is_root and { ["ro/"] = true } or nil }),
  decode("a model folder without vocab.txt", {}, "vocab.txt", "missing",
    { files = { ["m/vocab.txt"] = false } }),
  { name = "cli: sweep --layers 99 for a 2-layer model", recipe = "sweep",
    args = { "--model", "m", "--predict", "dev.json", "--out", "out", "--max-seq-length", "16",
      "--doc-stride", "4", "--max-query-length", "4", "--layers", "99" },
    files = model_files, names = "--layers", expect = "range" },
  { name = "cli: sweep with an unknown zone", recipe = "sweep",
    args = { "--model", "m", "--predict", "dev.json", "--out", "out", "--max-seq-length", "16",
      "--doc-stride", "4", "--max-query-length", "4", "--zones", "q2,p3q" },
    files = model_files, names = "p3q", expect = "zone" },
  { name = "cli: sweep --threads 0", recipe = "sweep",
    args = { "--model", "m", "--predict", "dev.json", "--out", "out", "--threads", "0" },
    files = model_files, names = "--threads", expect = "at least 1" },
  { name = "cli: train --epochs 0", recipe = "train",
    args = { "--model", "m", "--train", "dev.json", "--out", "out", "--epochs", "0" },
    files = model_files, names = "--epochs", expect = "positive" },
  -- accepted: --resume before any checkpoint starts from step 0 (so the same command can
  -- be repeated after a kill at any moment), saying so
  { name = "cli: train --resume without a checkpoint (accepted, starts at 0)", recipe = "train",
    status = 0, stderr_match = "no checkpoint in out/checkpoint",
    args = { "--model", "m", "--train", "dev.json", "--out", "out", "--resume", "--max-seq-length", "16",
      "--doc-stride", "4", "--max-query-length", "4", "--batch", "2" },
    files = model_files },
  { name = "cli: train on a truncated training file", recipe = "train",
    args = { "--model", "m", "--train", "bad.json", "--out", "out", "--max-seq-length", "16",
      "--doc-stride", "4", "--max-query-length", "4", "--batch", "2" },
    files = function() return model_files({ ["bad.json"] = H.SQUAD:sub(1, 50) }) end,
    names = "bad.json", expect = "json" },
  { name = "cli: flows with an unknown question id", recipe = "flows",
    args = { "--model", "m", "--predict", "dev.json", "--qid", "nope", "--out", "out",
      "--max-seq-length", "16", "--doc-stride", "4", "--max-query-length", "4" },
    files = model_files, names = "nope", expect = "no question" },
  { name = "cli: flows --tau 2", recipe = "flows",
    args = { "--model", "m", "--predict", "dev.json", "--qid", "q1", "--out", "out", "--tau", "2",
      "--max-seq-length", "16", "--doc-stride", "4", "--max-query-length", "4" },
    files = model_files, names = "--tau", expect = "number" },
  { name = "cli: flows --heads 7 for a 2-head model", recipe = "flows",
    args = { "--model", "m", "--predict", "dev.json", "--qid", "q1", "--out", "out", "--heads", "1,7",
      "--max-seq-length", "16", "--doc-stride", "4", "--max-query-length", "4" },
    files = model_files, names = "--heads", expect = "outside" },
  { name = "cli: flows output folder that is a file", recipe = "flows",
    args = { "--model", "m", "--predict", "dev.json", "--qid", "q1", "--out", "out",
      "--max-seq-length", "16", "--doc-stride", "4", "--max-query-length", "4" },
    files = function() return model_files({ out = "a file\n" }) end, names = "out", expect = "not a folder" },
  { name = "cli: protocol --seeds 0", recipe = "protocol", args = { "--seeds", "0", "--out", "run" },
    names = "--seeds", expect = "whole number" },
  { name = "cli: protocol with a model folder that does not exist", recipe = "protocol",
    args = { "--model", "nope", "--train", "dev.json", "--dev", "dev.json", "--out", "run" },
    files = { ["dev.json"] = H.SQUAD }, names = "nope", expect = "vocab" },
  { name = "cli: tokenize with an unknown option", recipe = "tokenize",
    args = { "--vocab", "v.txt", "--bogus" }, files = { ["v.txt"] = H.vocab() },
    names = "--bogus", expect = "unknown option" },
  { name = "cli: evaluate with a missing argument", recipe = "evaluate", args = { "dev.json" },
    files = { ["dev.json"] = H.SQUAD }, names = "predictions", expect = "missing" },
  { name = "cli: features --max-seq-length 2", recipe = "features",
    args = { "--vocab", "v.txt", "--input", "dev.json", "--out", "f.jsonl", "--max-seq-length", "2" },
    files = { ["v.txt"] = H.vocab(), ["dev.json"] = H.SQUAD }, names = "--max-seq-length",
    expect = "at least" },
  { name = "cli: features output into a missing folder", recipe = "features",
    args = { "--vocab", "v.txt", "--input", "dev.json", "--out", "nodir/f.jsonl" },
    files = { ["v.txt"] = H.vocab(), ["dev.json"] = H.SQUAD }, names = "nodir/f.jsonl", expect = "cannot create" },
  { name = "cli: stats --out is a file", recipe = "stats", args = { "--runs", "r1.csv", "--out", "o" },
    files = { ["r1.csv"] = RUNS["r1.csv"], o = "a file\n" }, names = "o", expect = "not a folder" },
  { name = "cli: stats --out unwritable", recipe = "stats", args = { "--runs", "r1.csv", "--out", UNWRITABLE },
    files = { ["r1.csv"] = RUNS["r1.csv"], ["ro/"] = not is_root or nil },
    setup = function(dir) if not is_root then os.execute("chmod 0555 '" .. dir .. "/ro'") end end,
    names = UNWRITABLE, expect = "writable" },
  { name = "cli: stats --bootstrap 0", recipe = "stats",
    args = { "--per-question", "pq", "--bootstrap", "0", "--out", "o" }, files = { ["pq/"] = true },
    names = "--bootstrap", expect = "whole number" },
  { name = "cli: aggregate on a folder that does not exist", recipe = "aggregate",
    args = { "nope", "results.csv", "--dataset", "dev.json" }, files = { ["dev.json"] = H.SQUAD },
    names = "nope", expect = "folder" },
}
