-- zonelab.scoring — what the evaluate, aggregate and stats recipes share: scoring one
-- predictions.json against a loaded dataset (with the official scripts' warnings), the
-- one-line result the official script prints, and the per-question score files.
--
--   local scoring = require "zonelab.scoring"
--   local ds = zl.metrics.load("dev-v1.1.json")
--   local r = scoring.score(ds, "predictions.json", { cmrc = false })
--   print(scoring.line(r))                       --> {"exact_match": 80.56..., "f1": 88.11...}
--   scoring.write_per_question("pq.json", r)     -- every question's EM and F1 (x100)
--
-- Per-question file (JSON): {"metric": "squad"|"cmrc", "exact_match": x, "f1": y,
-- "total": n, "missing": m, "questions": {"<question id>": [em, f1], ...}}, scores x100
-- (EM 0 or 100); a question without a prediction has [0, 0].
local zl = require "zonelab"

local M = {}

local MAX_LISTED = 10

--- Scores a predictions file (or {id = text} table). Warns on stderr, as the official
--- scripts do, about questions without a prediction (they score 0 and still count).
function M.score(ds, predictions, opts)
  zl.check_options(opts, { "cmrc", "per_question", "quiet" }, "scoring.score")
  opts = opts or {}
  local fn = opts.cmrc and zl.metrics.cmrc or zl.metrics.squad
  local r = fn(ds, predictions, { per_question = opts.per_question ~= false })
  r.metric = opts.cmrc and "cmrc" or "squad"
  if r.missing > 0 and not opts.quiet then
    local what = type(predictions) == "string" and predictions or "predictions"
    for i = 1, math.min(r.missing, MAX_LISTED) do
      io.stderr:write(string.format("warning: %s: unanswered question %s will receive score 0\n",
        what, r.missing_ids[i]))
    end
    if r.missing > MAX_LISTED then
      io.stderr:write(string.format("warning: %s: %d unanswered questions in all (of %d), each scored 0\n",
        what, r.missing, r.total))
    end
  end
  return r
end

--- The official script's output line: {"exact_match": <float>, "f1": <float>}.
function M.line(r)
  return string.format('{"exact_match": %s, "f1": %s}', zl.json.float(r.exact_match), zl.json.float(r.f1))
end

local function num(v) return math.tointeger(v) or v end

--- Writes the per-question scores of a result (needs r.ids / r.per_question).
function M.write_per_question(path, r)
  if not r.per_question then error("scoring.write_per_question: result has no per-question scores", 2) end
  local q = {}
  for _, id in ipairs(r.ids) do
    local s = r.per_question[id]
    q[id] = { num(s.em), num(s.f1) }
  end
  zl.json.write(path, {
    metric = r.metric or "squad", exact_match = r.exact_match, f1 = r.f1,
    total = r.total, missing = r.missing, questions = q,
  })
end

--- Reads a per-question file: returns {ids = sorted question ids, em = {id = v},
--- f1 = {id = v}, exact_match =, f1_mean =}. Errors name the file and the field.
function M.read_per_question(path)
  local t = zl.json.read(path)
  if type(t) ~= "table" or type(t.questions) ~= "table" then
    error(string.format("%s: not a per-question score file (no object 'questions')", path), 0)
  end
  local ids, em, f1 = {}, {}, {}
  for id, s in pairs(t.questions) do
    if type(s) ~= "table" or type(s[1]) ~= "number" or type(s[2]) ~= "number" then
      error(string.format("%s: questions[%q] must be [em, f1]", path, id), 0)
    end
    ids[#ids + 1] = id
    em[id], f1[id] = s[1], s[2]
  end
  table.sort(ids) -- pairs() order is not reproducible; the bootstrap needs a fixed order
  if #ids == 0 then error(string.format("%s: no questions", path), 0) end
  return { ids = ids, em = em, f1 = f1, exact_match = t.exact_match, f1_mean = t.f1, path = path }
end

return M
