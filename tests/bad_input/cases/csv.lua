-- Results CSVs read by stats (and heatmap): ragged rows, non-numbers, NaN/inf, unknown
-- zone columns, layers out of order.
local GOOD = "layer,all,q2,q2p,p2q,p2\n1,80.1,79.5,80.0,78.2,66.9\n2,81.0,80.5,80.3,80.1,76.4\n"
local function stats(name, text, names, expect, extra)
  local c = { name = "csv: " .. name, recipe = "stats", args = { "--runs", "good.csv", "bad.csv", "--out", "out" },
    files = { ["good.csv"] = GOOD, ["bad.csv"] = text }, names = names or "bad.csv", expect = expect }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

-- heatmap: the results CSV, the baseline (a number or a JSON file), the PDF output
local function heatmap(name, text, names, expect, extra)
  local c = { name = "csv: heatmap " .. name, recipe = "heatmap", args = { "bad.csv", "80.5", "out/fig.pdf" },
    files = { ["bad.csv"] = text, ["out/"] = true }, names = names or "bad.csv", expect = expect }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

return {
  heatmap("ragged row", "layer,all,q2,q2p,p2q,p2\n1,80.1,79.5\n", "bad.csv:2", "fields"),
  heatmap("NaN cell", "layer,all,q2,q2p,p2q,p2\n1,80.1,NaN,80.0,78.2,66.9\n", "bad.csv:2", "finite"),
  heatmap("unknown zone column", "layer,all,q3\n1,80.1,79.5\n", "bad.csv:1", "unknown zone"),
  heatmap("empty file", "", "bad.csv", "empty"),
  heatmap("baseline NaN", GOOD, "nan", "number", { args = { "bad.csv", "nan", "out/fig.pdf" } }),
  heatmap("baseline JSON without f1", GOOD, "b.json", "f1",
    { args = { "bad.csv", "b.json", "out/fig.pdf", "--metric", "F1" },
      files = { ["bad.csv"] = GOOD, ["b.json"] = '{"exact_match": 80.5}', ["out/"] = true } }),
  heatmap("output folder missing", GOOD, "nodir/fig.pdf", "cannot create", { args = { "bad.csv", "80.5", "nodir/fig.pdf" } }),
  heatmap("--vmin above --vmax", GOOD, "--vmin", "below", { args = { "bad.csv", "80.5", "out/fig.pdf", "--vmin", "5" } }),
  stats("empty file", "", nil, "empty"),
  stats("header only", "layer,all,q2,q2p,p2q,p2\n", nil, "no data rows"),
  stats("ragged row (too few fields)", "layer,all,q2,q2p,p2q,p2\n1,80.1,79.5\n2,81,80,80,80,76\n",
    "bad.csv:2", "fields"),
  stats("ragged row (too many fields)", "layer,all,q2,q2p,p2q,p2\n1,80.1,79.5,80,78,66,12\n2,81,80,80,80,76\n",
    "bad.csv:2", "fields"),
  stats("a non-number", "layer,all,q2,q2p,p2q,p2\n1,80.1,abc,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "not a finite number"),
  stats("a hex number", "layer,all,q2,q2p,p2q,p2\n1,0x50,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "not a finite number"),
  stats("NaN", "layer,all,q2,q2p,p2q,p2\n1,nan,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "not a finite number"),
  stats("inf", "layer,all,q2,q2p,p2q,p2\n1,80.1,inf,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "not a finite number"),
  stats("1e999 (overflows to inf)", "layer,all,q2,q2p,p2q,p2\n1,80.1,1e999,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "not a finite number"),
  stats("unknown zone column", "layer,all,q2,q2p,p3q,p2\n1,80.1,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:1", "unknown zone column 'p3q'"),
  stats("zone column twice", "layer,all,q2,q2,p2q,p2\n1,80.1,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:1", "twice"),
  stats("first column not layer", "lyr,all,q2,q2p,p2q,p2\n1,80.1,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:1", "layer"),
  stats("layers out of order", "layer,all,q2,q2p,p2q,p2\n2,81,80,80,80,76\n1,80.1,79.5,80.0,78.2,66.9\n",
    "bad.csv", "layer"),
  stats("a layer that is not a whole number", "layer,all,q2,q2p,p2q,p2\n1.5,80.1,79.5,80.0,78.2,66.9\n2,81,80,80,80,76\n",
    "bad.csv:2", "whole number"),
  stats("fewer layers than the other run", "layer,all,q2,q2p,p2q,p2\n1,80.1,79.5,80.0,78.2,66.9\n",
    "bad.csv", "layers"),
  stats("binary garbage", "\0\1\2\3\255\254,\n\0", "bad.csv", ""),
  stats("a missing run file", nil, "nope.csv", "cannot open",
    { args = { "--runs", "good.csv", "nope.csv", "--out", "out" } }),
  -- accepted: CRLF line ends and blanks around fields ("layer, all, q2", as the protocol's
  -- own snippet writes them)
  stats("CRLF line ends and blanks (accepted)", "layer, all, q2, q2p, p2q, p2\r\n1, 80.1, 79.5, 80.0, 78.2, 66.9\r\n2,81,80,80,80,76\r\n",
    nil, nil, { status = 0, stdout_match = "mean.csv" }),
}
