-- zonelab.metrics from Lua: the helpers, datasets from a path / table / userdata, prediction
-- tables and files, per-question scores, errors, and the real leaderboard files
-- (skipped when $ZONELAB_SHARED/data/real is absent).
local zl = require "zonelab"
local m = zl.metrics

local real = require "real_data"
local squad_dir = real.dir .. "/squad_v1.1"

local MINI = {
  data = { { title = "t", paragraphs = {
    { context = "c", qas = {
      { id = "q1", question = "?", answers = { { text = "The cat", answer_start = 0 }, { text = "a dog", answer_start = 0 } } },
      { id = "q2", question = "?", answers = { { text = "red", answer_start = 0 } } },
    } },
    { context = "d", qas = {
      { id = "q3", question = "?", answers = { { text = "blue sky", answer_start = 0 } } },
    } },
  } } },
}

describe("zonelab.metrics", function()
  it("normalises and scores single answers like evaluate-v1.1.py (x100)", function()
    assert.are.equal("theatre apple", m.normalize("The  Theatre, an  Apple\u{2003}a!"))
    assert.are.equal("i\u{307}stanbul", m.normalize("\u{130}stanbul"))
    assert.are.equal(80.0, m.f1("the cat cat", { "cat", "a cat cat dog" }))
    assert.are.equal(100.0, m.em("Denver Broncos!", { "x", "the denver broncos" }))
    assert.are.equal(0.0, m.em("Denver", "Denver Broncos"))
    assert.are.equal(100.0, m.em("北京。", { "北京" }, "cmrc"))
    assert.are.equal(0.0, m.em("北京…", { "北京" }, "cmrc"))
    assert.are.same({ "我", "爱", "beijing", "天", "安", "门" }, m.segment("我爱Beijing天安门", true))
    assert.are.same({ "北", "京", "，", "上", "海" }, m.segment("北京，上海"))
    assert.are.equal("北京首都", m.remove_punctuation(" 《北京》：首都。"))
    assert.has_error(function() m.em("x", {}) end)
  end)

  it("scores a dataset table, a dataset userdata and a JSON file the same way", function()
    local preds = { q1 = "dog", q3 = "sky", extra = "ignored" }
    local r = m.squad(MINI, preds)
    assert.are.equal(3, r.total)
    assert.are.equal(1, r.missing)
    assert.are.equal(1, r.extra)
    assert.are.same({ "q2" }, r.missing_ids)
    assert.are.same({ "q1", "q2", "q3" }, r.ids)
    assert.is_true(math.abs(r.exact_match - 100 / 3) < 1e-12)
    assert.is_true(math.abs(r.f1 - 100 * (1 + 2 / 3) / 3) < 1e-12)
    assert.are.same({ em = 100.0, f1 = 100.0 }, r.per_question.q1)
    assert.are.same({ em = 0.0, f1 = 0.0 }, r.per_question.q2)

    local dir = os.tmpname()
    zl.json.write(dir, MINI)
    local ds = m.load(dir)
    assert.are.equal(3, #ds)
    assert.matches("3 questions", tostring(ds))
    assert.are.same({ "q1", "q2", "q3" }, ds:ids())
    assert.are.same({ "The cat", "a dog" }, ds:golds("q1"))
    assert.are.same({ "red" }, ds:golds(2))
    assert.is_nil(ds:golds("nope"))
    local pfile = os.tmpname()
    zl.json.write(pfile, preds)
    for _, rr in ipairs { m.squad(ds, preds), m.squad(ds, pfile), m.squad(dir, pfile, { per_question = false }) } do
      assert.are.equal(r.exact_match, rr.exact_match)
      assert.are.equal(r.f1, rr.f1)
      assert.are.equal(1, rr.extra)
    end
    assert.is_nil(m.squad(ds, preds, { per_question = false }).per_question)
    local ok, e = pcall(m.squad, ds, preds, { per_question = 0 })
    assert.is_false(ok)
    assert.truthy(tostring(e):find("metrics: option 'per_question' must be a boolean (got number)", 1, true), e)
    ds:close()
    ds:close() -- idempotent
    assert.has_error(function() ds:ids() end)
    os.remove(dir)
    os.remove(pfile)
  end)

  it("refuses datasets with repeated ids or no questions", function()
    local path = os.tmpname()
    zl.io.write_atomic(path, '{"data":[{"paragraphs":[{"context":"x","qas":[' ..
      '{"id":"q1","answers":[{"text":"x"}]},{"id":"q1","answers":[{"text":"x"}]}]}]}]}')
    local ok, err = pcall(zl.metrics.load, path)
    assert.is_false(ok)
    assert.matches(path .. ": question id q1 appears twice", err, 1, true)
    zl.io.write_atomic(path, '{"version":"1.1","data":[]}')
    ok, err = pcall(zl.metrics.load, path)
    assert.matches(path .. ": no questions", err, 1, true)
    os.remove(path)
  end)

  it("raises clear errors", function()
    local ok, err = pcall(m.squad, MINI, { q1 = 42 })
    assert.is_false(ok)
    assert.matches("question q1 is a number, not a string", err, 1, true)
    ok, err = pcall(m.squad, { data = { { paragraphs = { { qas = { { id = "x", answers = { {} } } } } } } } }, {})
    assert.is_false(ok)
    assert.matches('dataset table: question x: answers[0] has no string "text"', err, 1, true)
    -- a table is judged as a file is: a repeated id, a numeric id
    local function qa(id) return { id = id, answers = { { text = "x" } } } end
    ok, err = pcall(m.squad, { data = { { paragraphs = { { qas = { qa("q1"), qa("q1") } } } } } }, {})
    assert.is_false(ok)
    assert.matches("dataset table: question id q1 appears twice", err, 1, true)
    ok, err = pcall(m.squad, { data = { { paragraphs = { { qas = { qa(5) } } } } } }, {})
    assert.is_false(ok)
    assert.matches('dataset table: data[0].paragraphs[0].qas[0]: "id" is a number', err, 1, true)
    -- a value JSON cannot hold, half-way through the table: an error, nothing leaked
    ok, err = pcall(m.squad, { data = { { paragraphs = { { qas = { { id = "x", answers = { { text = print } } } } } } } } }, {})
    assert.is_false(ok)
    assert.matches("dataset table: cannot hold a function", err, 1, true)
    collectgarbage()
    ok, err = pcall(m.load, "/nonexistent/dev.json")
    assert.is_false(ok)
    assert.matches("/nonexistent/dev.json", err, 1, true)
    local p = os.tmpname()
    zl.io.write_atomic(p, "[1, 2]")
    ok, err = pcall(m.squad, MINI, p)
    assert.is_false(ok)
    assert.matches(p .. ": not a JSON object", err, 1, true)
    os.remove(p)
  end)

  it("gives the official EM/F1 of the real leaderboard files", function()
    if not real.find("squad_v1.1/dev-v1.1.json") then return end
    local ds = m.load(squad_dir .. "/dev-v1.1.json")
    local lr = squad_dir .. "/leaderboard_predictions/Logistic_Regression_Baseline_Stanford_University.json"
    local r = m.squad(ds, lr)
    assert.is_true(math.abs(r.exact_match - 40.14191106906339) < 1e-9)
    assert.is_true(math.abs(r.f1 - 50.98153647324461) < 1e-9)
    assert.are.equal(13, r.missing)
    assert.are.equal(13, #r.missing_ids)
    assert.are.equal(10570, #r.ids)
    -- the per-question scores average to the totals
    local s = 0
    for _, id in ipairs(r.ids) do s = s + r.per_question[id].f1 end
    assert.is_true(math.abs(s / #r.ids - r.f1) < 1e-9)
    -- from a decoded table too
    local bert = zl.json.read(squad_dir .. "/leaderboard_predictions/BERT_ensemble_Google_AI_Language.json")
    r = m.squad(ds, bert, { per_question = false })
    assert.is_true(math.abs(r.exact_match - 86.20624408703878) < 1e-9)
    assert.is_true(math.abs(r.f1 - 92.19557978351145) < 1e-9)
  end)
end)
