-- zonelab.synth — the embedded default's data: a synthetic reading-comprehension corpus
-- in SQuAD v1.1 format, generated from a seed, with its WordPiece vocabulary and a small
-- BERT config. Passages describe several invented people, places, organisations and
-- years (names built from syllables, so WordPiece splits them into pieces); every
-- passage holds distractors of the same kind, so the answer depends on the question.
--
--   local synth = require "zonelab.synth"
--   local c = synth.generate{seed = 1, train_paragraphs = 300, dev_paragraphs = 60}
--   synth.write("runs/demo/data", c)   -- train.json, dev.json, vocab.txt, bert_config.json
--   synth.PRESETS.demo                  -- the settings of `make demo` (recipes/protocol.lua)
local zl = require "zonelab"

local M = {}

-- splitmix64 on Lua 5.4 integers (wrapping arithmetic): the same stream everywhere.
local function rng(seed)
  local state = seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
  local r = {}
  function r.next()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  function r.int(lo, hi) -- inclusive
    return lo + ((r.next() >> 1) % (hi - lo + 1))
  end
  function r.pick(t) return t[r.int(1, #t)] end
  function r.shuffle(t)
    for i = #t, 2, -1 do
      local j = r.int(1, i)
      t[i], t[j] = t[j], t[i]
    end
    return t
  end
  return r
end
M.rng = rng

local ONSETS = { "ka", "ro", "li", "ma", "te", "so", "vel", "dar", "ni", "bo", "zu", "fen",
  "gri", "ha", "jo", "lu", "mer", "pa", "qui", "ras", "ti", "vo", "wen", "yo" }
local CODAS = { "ra", "lin", "mo", "sen", "dor", "ka", "vi", "nes", "tar", "lo", "mir", "dan",
  "ros", "bel", "ton", "ga", "rik", "sel", "um", "fa" }
local ROLES = { "engineer", "teacher", "painter", "doctor", "pilot", "farmer", "writer",
  "singer", "lawyer", "baker", "chemist", "sailor" }
local ORG_KINDS = { "company", "institute", "museum", "library", "orchestra", "bank" }
local PLACE_KINDS = { "city", "town", "village", "port" }

-- A name not in `used` yet (then recorded there): draw() retried until one is new.
local function fresh_name(used, draw)
  for _ = 1, 1000 do
    local s = draw()
    if not used[s] then
      used[s] = true
      return s
    end
  end
  error("synth: ran out of names", 0)
end

local function capitalised(parts)
  local s = table.concat(parts)
  return s:sub(1, 1):upper() .. s:sub(2)
end

-- A capitalised name of 2-3 syllables: first syllable an onset, then codas.
local function make_name(r, used)
  return fresh_name(used, function()
    local n = r.int(2, 3)
    local parts = { r.pick(ONSETS) }
    for i = 2, n do parts[i] = r.pick(CODAS) end
    return capitalised(parts)
  end)
end

-- The same drawn in the other order, starting with `first` when given (the short and facts
-- styles: a passage's people start with distinct syllables).
local function short_name(r, used, first)
  return fresh_name(used, function()
    local parts = { first or r.pick(ONSETS) }
    for i = 2, r.int(2, 3) do parts[i] = r.pick(CODAS) end
    return capitalised(parts)
  end)
end

-- The gold answers of a question whose fact is span sp = {text, start (byte offset),
-- variants = {{text, offset}}}: the span, and on dev up to two variants (as SQuAD's dev has
-- several answers), each checked against the context. answer_start counts characters (code
-- points), as SQuAD and CMRC files do.
local function gold_answers(r, sp, dev, context)
  local answers = { { text = sp.text, start = sp.start } }
  if dev then
    for _, v in ipairs(sp.variants) do
      if #answers < 3 and r.int(0, 1) == 1 then
        answers[#answers + 1] = { text = v[1], start = sp.start + v[2] }
      end
    end
  end
  for k, an in ipairs(answers) do
    assert(context:sub(an.start + 1, an.start + #an.text) == an.text)
    answers[k] = { text = an.text, answer_start = utf8.len(context:sub(1, an.start)) }
  end
  return answers
end

-- A fact of a sentence template: its text is an answer, recorded under key with the
-- variants a dev question also accepts ({text, byte offset from the answer's start}).
local function fact(key, text, variants)
  return { key = key, text = text, variants = variants or {} }
end

-- A passage being written: its pieces, its length in bytes so far, and the span of every
-- fact written ({text, start byte, variants}) under its key.
local function passage()
  local w = { text = {}, spans = {}, len = 0 }
  function w.add(s)
    w.text[#w.text + 1] = s
    w.len = w.len + #s
  end
  --- Writes a template: strings, facts (their spans go into `spans`, default w.spans)
  --- and nested templates, in order.
  function w.write(items, spans)
    for _, it in ipairs(items) do
      if type(it) == "string" then
        w.add(it)
      elseif it.key then
        (spans or w.spans)[it.key] = { text = it.text, start = w.len, variants = it.variants }
        w.add(it.text)
      else
        w.write(it, spans)
      end
    end
  end
  function w.context() return table.concat(w.text) end
  return w
end

-- The questions of a paragraph: nq (person, kind) pairs drawn without repetition, each
-- answered by its fact's span; dev questions get 1-3 gold variants, each a real span.
local function questions(r, people, spans, kinds, context, qid_prefix, nq, dev)
  local choices = {}
  for i = 1, #people do for k = 1, #kinds do choices[#choices + 1] = { i, k } end end
  r.shuffle(choices)
  local qas = {}
  for n = 1, math.min(nq, #choices) do
    local i, kind = choices[n][1], kinds[choices[n][2]]
    local answers = gold_answers(r, spans[i][kind.key], dev, context)
    qas[#qas + 1] = { id = string.format("%s_%d", qid_prefix, n), question = kind.q(people[i]),
      answers = answers }
  end
  return { context = context, qas = qas }
end

-- The paragraph of the long and short styles: n people (full names from name(onsets[i]),
-- other names from name()), each written as opening(p, facts, drawn coin) then rest(i, p,
-- facts), asked about place, year, role, org and the style's own last kind.
local function people_paragraph(r, n, name, onsets, style, qid_prefix, nq, dev)
  local people = {}
  for i = 1, n do
    people[i] = {
      name = name(onsets and onsets[i]) .. " " .. name(),
      place = name(), place_kind = r.pick(PLACE_KINDS),
      year = tostring(r.int(1820, 2015)),
      org = name(), org_kind = r.pick(ORG_KINDS),
      role = r.pick(ROLES),
    }
  end
  local w = passage()
  for i, p in ipairs(people) do
    if i > 1 then w.add(" ") end
    local pre_place, pre_org = "the " .. p.place_kind .. " of ", "the " .. p.org_kind .. " "
    local f = {
      pre_place = pre_place, pre_org = pre_org,
      place = fact("place", p.place, { { pre_place .. p.place, -#pre_place } }),
      year_in = fact("year", p.year, { { "in " .. p.year, -3 } }),
      year_first = fact("year", p.year),
      role = fact("role", p.role, { { "a " .. p.role, -2 } }),
      org = fact("org", p.org, { { pre_org .. p.org, -#pre_org } }),
    }
    w.spans[i] = {}
    w.write(style.opening(p, f, r.int(1, 2) == 1), w.spans[i])
    w.write(style.rest(people, i, f), w.spans[i])
  end
  local kinds = {
    { key = "place", q = function(p) return "Where was " .. p.name .. " born?" end },
    { key = "year", q = function(p) return "When was " .. p.name .. " born?" end },
    { key = "role", q = function(p) return "What does " .. p.name .. " work as?" end },
    { key = "org", q = function(p) return "Where does " .. p.name .. " work?" end },
    style.last_kind,
  }
  return questions(r, people, w.spans, kinds, w.context(), qid_prefix, nq, dev)
end

-- The "long" style: 3-4 people, two sentences each, names unique across the corpus.
local LONG = {
  opening = function(p, f, year_last)
    if year_last then
      return { p.name .. " was born in " .. f.pre_place, f.place, " in ", f.year_in, "." }
    end
    return { "In ", f.year_first, ", " .. p.name .. " was born in " .. f.pre_place, f.place, "." }
  end,
  rest = function(people, i, f)
    local p = people[i]
    return { " " .. p.name:match("^%S+") .. " works as a ", f.role, " at " .. f.pre_org, f.org,
      ", which was founded by ", fact("founder", people[(i % #people) + 1].name), "." }
  end,
  last_kind = { key = "founder",
    q = function(p) return "Who founded the " .. p.org_kind .. " " .. p.org .. "?" end },
}

local function paragraph(r, used, qid_prefix, nq, dev)
  return people_paragraph(r, r.int(3, 4), function() return make_name(r, used) end, nil, LONG,
    qid_prefix, nq, dev)
end

-- The "short" style (the embedded default's): 2-3 people, one sentence each, so a
-- feature fits in 96 tokens; within a passage every person's first name starts with a
-- different syllable, so one question piece matched to one passage piece finds the person.
local SHORT = {
  opening = function(p, f, year_last)
    local name = fact("name", p.name, { { p.name:match("^%S+"), 0 } })
    if year_last then
      return { name, " was born in " .. f.pre_place, f.place, " in ", f.year_in, " and works as a " }
    end
    return { "In ", f.year_first, ", ", name, " was born in " .. f.pre_place, f.place, " and works as a " }
  end,
  rest = function(_, _, f) return { f.role, " at " .. f.pre_org, f.org, "." } end,
  last_kind = { key = "name",
    q = function(p) return "Who works at the " .. p.org_kind .. " " .. p.org .. "?" end },
}

local function short_paragraph(r, qid_prefix, nq, dev, n_min, n_max)
  -- names are distinct within a passage (not across the corpus: that would exhaust them)
  local used = {}
  local n_people = r.int(n_min, n_max)
  local onsets = r.shuffle({ table.unpack(ONSETS) })
  return people_paragraph(r, n_people, function(first) return short_name(r, used, first) end,
    onsets, SHORT, qid_prefix, nq, dev)
end

-- The "facts" style (the embedded default's): one passage per main person, a few short
-- sentences holding several entities of each kind (two or three places, three years, two
-- people), so the question's relation words ("born", "move", "founded") and its wh-word
-- pick the answer among same-kind distractors:
--   Ekra Wenton was born in 1918 in the town of Palodor. Ekra moved in 1950 to the city of
--   Joka. Ekra works as a teacher at the bank Teralin, which Ulsen Voka founded in 1890.
-- Person first names start with a syllable of their own (KEY_ONSETS, word-start pieces
-- used nowhere else); the other names of a passage start with distinct ordinary onsets.
-- A small BERT learns this from scratch in a couple of minutes on one core, where the
-- "short" style's person matching needs an order of magnitude more training.
-- A language of the style (FACTS_EN, FACTS_ZH) gives its entities(r), sentences(p) (the
-- birth sentence first: it introduces the full name), questions(p) and sentence separator.
local KEY_ONSETS = { "ek", "ul", "ix", "oz", "ev", "yl", "ub", "ep", "ax", "uk", "ez", "ir" }

-- The questions of a facts-style paragraph: kinds ({span name, question}) shuffled, the
-- first nq asked, each answered by gold_answers.
local function facts_qas(r, kinds, spans, nq, dev, context, qid_prefix)
  r.shuffle(kinds)
  local qas = {}
  for n = 1, math.min(nq, #kinds) do
    local answers = gold_answers(r, spans[kinds[n][1]], dev, context)
    qas[#qas + 1] = { id = string.format("%s_%d", qid_prefix, n), question = kinds[n][2], answers = answers }
  end
  return qas
end

local function facts_paragraph(r, lang, qid_prefix, nq, dev)
  local p = lang.entities(r)
  p.moved_year = p.year + r.int(15, 40)
  p.founded = p.year - r.int(5, 90)
  local sentences = lang.sentences(p)
  -- the birth sentence first, the other two in either order
  local order = r.int(1, 2) == 1 and { 1, 2, 3 } or { 1, 3, 2 }
  local w = passage()
  for k, i in ipairs(order) do
    if k > 1 then w.add(lang.separator) end
    w.write(sentences[i])
  end
  local context = w.context()
  return { context = context, qas = facts_qas(r, lang.questions(p), w.spans, nq, dev, context, qid_prefix) }
end

-- every answer right after its relation's words ("born in", "moved in", "to the city of",
-- "founded in"): the question's relation picks it among same-kind distractors
local function en_year(key, y) return fact(key, tostring(y), { { "in " .. y, -3 } }) end
local function en_place(key, kind, name)
  local pre = "the " .. kind .. " of "
  return { pre, fact(key, name, { { pre .. name, -#pre } }) }
end

local FACTS_EN = {
  separator = " ",
  entities = function(r)
    local used = {}
    local keys = r.shuffle({ table.unpack(KEY_ONSETS) })
    local onsets = r.shuffle({ table.unpack(ONSETS) })
    local next_onset = 0
    local function other() next_onset = next_onset + 1; return short_name(r, used, onsets[next_onset]) end
    local first = short_name(r, used, keys[1])
    return {
      name = first .. " " .. other(), first = first,
      place = other(), place_kind = r.pick(PLACE_KINDS), year = r.int(1820, 1990),
      moved = other(), moved_kind = r.pick(PLACE_KINDS),
      role = r.pick(ROLES), org = other(), org_kind = r.pick(ORG_KINDS),
      founder = short_name(r, used, keys[2]) .. " " .. other(),
    }
  end,
  sentences = function(p)
    local pre_org = "the " .. p.org_kind .. " "
    return {
      { fact("name", p.name, { { p.first, 0 } }), " was born in ", en_year("year", p.year), " in ",
        en_place("place", p.place_kind, p.place), "." },
      { p.first .. " moved in ", en_year("moved_year", p.moved_year), " to ",
        en_place("moved", p.moved_kind, p.moved), "." },
      { p.first .. " works as a ", fact("role", p.role, { { "a " .. p.role, -2 } }), " at " .. pre_org,
        fact("org", p.org, { { pre_org .. p.org, -#pre_org } }), ", which ",
        fact("founder", p.founder, { { p.founder:match("^%S+"), 0 } }), " founded in ",
        en_year("founded", p.founded), "." },
    }
  end,
  questions = function(p)
    local org = "the " .. p.org_kind .. " " .. p.org
    return {
      { "place", "Where was " .. p.name .. " born?" },
      { "year", "When was " .. p.name .. " born?" },
      { "moved", "Where did " .. p.name .. " move to?" },
      { "moved_year", "When did " .. p.name .. " move?" },
      { "role", "What does " .. p.name .. " work as?" },
      { "org", "Where does " .. p.name .. " work?" },
      { "founder", "Who founded " .. org .. "?" },
      { "founded", "When was " .. org .. " founded?" },
    }
  end,
}

-- The "facts_zh" style (the Chinese embedded default's, demo-zh): the facts style written
-- in Chinese characters, as CMRC 2018 passages are (no spaces; BERT's tokenizer makes every
-- CJK character a token, a year stays one piece):
--   王明华1918年出生于江城镇。王明华1950年迁居海州市。王明华在青石银行担任教师，该银行由李德山于1890年创办。
-- Same-kind distractors in every passage (two places, three years, two people), so the
-- relation words (出生 born, 迁居 moved, 创办 founded) pick the answer. Names are drawn from
-- the character lists below (a surname and one or two given-name characters).
local ZH = {
  surnames = { "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱",
    "胡", "郭", "何", "高", "林", "罗" },
  given = { "明", "华", "伟", "芳", "军", "丽", "强", "静", "磊", "敏", "勇", "艳", "杰", "娟",
    "涛", "秀", "斌", "霞", "刚", "玲", "德", "山", "文", "春" },
  place_chars = { "江", "城", "海", "州", "青", "石", "安", "平", "东", "西", "南", "北", "河",
    "阳", "云", "泉", "湖", "宁", "远", "新" },
  place_kinds = { "市", "镇", "村", "港" },
  org_chars = { "星", "光", "金", "川", "长", "丰", "兴", "盛", "和", "宏", "瑞", "嘉", "永", "信" },
  org_kinds = { "公司", "研究所", "博物馆", "图书馆", "乐团", "银行" },
  roles = { "工程师", "教师", "画家", "医生", "飞行员", "农民", "作家", "歌手", "律师", "面包师",
    "化学家", "水手" },
  -- the template's own characters and punctuation (questions and sentences)
  words = { "年", "出生于", "迁居", "在", "担任", "该", "由", "创办", "。", "，", "？", "哪一",
    "里", "什么", "的", "职业", "是", "谁", "了", "到", "工作" },
}

local function zh_name(r, chars, n, used)
  return fresh_name(used, function()
    local parts = {}
    for i = 1, n do parts[i] = r.pick(chars) end
    return table.concat(parts)
  end)
end

-- variants: {text, byte offset from the answer's start}; answer_start is converted to
-- characters by gold_answers
local function zh_year(key, y) return fact(key, tostring(y), { { tostring(y) .. "年", 0 } }) end
local function zh_place(key, name, kind) return fact(key, name .. kind, { { name, 0 } }) end

local FACTS_ZH = {
  separator = "",
  entities = function(r)
    local used = {}
    local function person() return r.pick(ZH.surnames) .. zh_name(r, ZH.given, r.int(1, 2), used) end
    local name = person()
    local founder = person()
    while founder == name do founder = person() end
    return {
      name = name, founder = founder,
      place = zh_name(r, ZH.place_chars, 2, used), place_kind = r.pick(ZH.place_kinds),
      moved = zh_name(r, ZH.place_chars, 2, used), moved_kind = r.pick(ZH.place_kinds),
      org = zh_name(r, ZH.org_chars, 2, used), org_kind = r.pick(ZH.org_kinds),
      role = r.pick(ZH.roles), year = r.int(1820, 1990),
    }
  end,
  sentences = function(p)
    local org = p.org .. p.org_kind
    return {
      { p.name, zh_year("year", p.year), "年出生于", zh_place("place", p.place, p.place_kind), "。" },
      { p.name, zh_year("moved_year", p.moved_year), "年迁居", zh_place("moved", p.moved, p.moved_kind), "。" },
      { p.name .. "在", fact("org", org, { { p.org, 0 } }), "担任", fact("role", p.role),
        "，该" .. p.org_kind .. "由", fact("founder", p.founder), "于", zh_year("founded", p.founded),
        "年创办。" },
    }
  end,
  questions = function(p)
    local org = p.org .. p.org_kind
    return {
      { "place", p.name .. "出生于哪里？" },
      { "year", p.name .. "哪一年出生？" },
      { "moved", p.name .. "迁居到了哪里？" },
      { "moved_year", p.name .. "哪一年迁居？" },
      { "role", p.name .. "的职业是什么？" },
      { "org", p.name .. "在哪里工作？" },
      { "founder", "谁创办了" .. org .. "？" },
      { "founded", org .. "是哪一年创办的？" },
    }
  end,
}

-- The facts_zh style's vocabulary: special tokens, every character its lists and templates
-- use (each once, in the order met), and the years as whole words.
local function vocabulary_zh()
  local v = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }
  local seen = {}
  for _, t in ipairs(v) do seen[t] = true end
  for _, key in ipairs { "words", "surnames", "given", "place_chars", "place_kinds", "org_chars",
    "org_kinds", "roles" } do
    for _, s in ipairs(ZH[key]) do
      for _, c in utf8.codes(s) do
        local ch = utf8.char(c)
        if not seen[ch] then seen[ch] = true; v[#v + 1] = ch end
      end
    end
  end
  for y = 1700, 2040 do v[#v + 1] = tostring(y) end
  return v
end
M.vocabulary_zh = vocabulary_zh

local function dataset(r, used, prefix, n_paragraphs, per_article, nq, dev, style)
  local data = {}
  local art
  for p = 1, n_paragraphs do
    if (p - 1) % per_article == 0 then
      art = { title = string.format("%s_article_%d", prefix, #data + 1), paragraphs = {} }
      data[#data + 1] = art
    end
    local qp = string.format("%s%04d", prefix, p)
    local para
    if not style then para = paragraph(r, used, qp, nq, dev)
    elseif style.zh then para = facts_paragraph(r, FACTS_ZH, qp, nq, dev)
    elseif style.facts then para = facts_paragraph(r, FACTS_EN, qp, nq, dev)
    else para = short_paragraph(r, qp, nq, dev, style.people_min, style.people_max) end
    art.paragraphs[#art.paragraphs + 1] = para
  end
  return { version = "1.1", data = data }
end

-- The vocabulary: special tokens, template words, punctuation, syllables as word
-- starts and as ## continuations, years as whole words. Names are never whole words,
-- so WordPiece splits every name into pieces.
local function vocabulary()
  local v = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" }
  local seen = {}
  for _, t in ipairs(v) do seen[t] = true end
  local function add(t) if not seen[t] then seen[t] = true; v[#v + 1] = t end end
  for _, w in ipairs({ ".", ",", "?", "in", "was", "born", "the", "of", "works", "as", "a", "at",
    "which", "founded", "by", "where", "when", "what", "who", "does", "work", "an" }) do add(w) end
  for _, list in ipairs({ ROLES, ORG_KINDS, PLACE_KINDS }) do for _, w in ipairs(list) do add(w) end end
  for _, s in ipairs(ONSETS) do add(s) end
  for _, s in ipairs(CODAS) do add("##" .. s) end
  for _, s in ipairs(ONSETS) do add("##" .. s) end
  for y = 1820, 2015 do add(tostring(y)) end
  return v
end
M.vocabulary = vocabulary

--- Generates the corpus. Options (defaults): seed (1), train_paragraphs (300),
--- dev_paragraphs (60), questions_per_paragraph (5), hidden (128), layers (4), heads (4),
--- intermediate (4 * hidden), max_position (256), initializer_range (0.02), dropout (0.1:
--- the config's hidden and attention dropout, which training uses), style ("long": 3-4
--- people, names unique across the corpus; "short": 2-3 people of one sentence each with
--- distinct first syllables, people_min (2) / people_max (3); "facts": one main person per
--- passage with same-kind distractors, see facts_paragraph; the short and facts styles
--- append "and" to the vocabulary, facts then its own words and name syllables; "facts_zh":
--- the facts style in Chinese characters, CMRC 2018-style, with a character vocabulary of its
--- own, see FACTS_ZH).
function M.generate(opts)
  zl.check_options(opts, { "seed", "train_paragraphs", "dev_paragraphs", "questions_per_paragraph",
    "hidden", "layers", "heads", "intermediate", "max_position", "initializer_range", "dropout",
    "style", "people_min", "people_max" }, "synth.generate")
  opts = opts or {}
  local seed = opts.seed or 1
  local r = rng(seed)
  local used = {}
  local nq = opts.questions_per_paragraph or 5
  local style
  if opts.style == "short" or opts.style == "facts" or opts.style == "facts_zh" then
    style = { people_min = opts.people_min or 2, people_max = opts.people_max or 3,
      facts = opts.style == "facts", zh = opts.style == "facts_zh" }
  elseif opts.style ~= nil and opts.style ~= "long" then
    error("synth: style must be 'long', 'short', 'facts' or 'facts_zh', got '" .. tostring(opts.style) .. "'", 2)
  end
  local train = dataset(r, used, "train", opts.train_paragraphs or 300, 10, nq, false, style)
  local dev = dataset(r, used, "dev", opts.dev_paragraphs or 60, 10, nq, true, style)
  local vocab = (style and style.zh) and vocabulary_zh() or vocabulary()
  if style and not style.zh then vocab[#vocab + 1] = "and" end -- appended: the long style's ids stay as they were
  if style and style.facts then
    for _, w in ipairs({ "moved", "to", "move", "did" }) do vocab[#vocab + 1] = w end
    for _, k in ipairs(KEY_ONSETS) do vocab[#vocab + 1] = k end
  end
  local hidden = opts.hidden or 128
  local config = {
    vocab_size = #vocab, hidden_size = hidden, num_hidden_layers = opts.layers or 4,
    num_attention_heads = opts.heads or 4, intermediate_size = opts.intermediate or 4 * hidden,
    hidden_act = "gelu", hidden_dropout_prob = opts.dropout or 0.1,
    attention_probs_dropout_prob = opts.dropout or 0.1,
    max_position_embeddings = opts.max_position or 256, type_vocab_size = 2,
    initializer_range = opts.initializer_range or 0.02,
  }
  return { train = train, dev = dev, vocab = vocab, config = config, seed = seed }
end

--- Settings of recipes/protocol.lua's embedded default (--preset NAME): corpus = options of
--- M.generate, train = train.lua options, decode = sweep.lua options, save_every = steps
--- between training checkpoints, flows_tau = the flows drawings' threshold (default 0.1), cmrc =
--- true for Chinese data (every step runs with --cmrc). demo is `make demo` (measured: see
--- docs/protocol.md, "Demo"), demo-zh `make demo-zh` (the same in Chinese, CMRC 2018-style);
--- tiny and tiny-zh are smoke tests (seconds; they do not learn).
M.PRESETS = {
  -- initializer_range 0.1 (not BERT-base's 0.02, tuned for 768 wide): at 32 wide, 0.02
  -- leaves the attention scores near zero and training sits on a plateau for hundreds of
  -- steps (measured: dev EM 50-77 after 4 epochs instead of 97-99). No dropout: two epochs
  -- of fresh passages do not overfit.
  demo = {
    corpus = { seed = 1, style = "facts", train_paragraphs = 1600, dev_paragraphs = 40,
      hidden = 32, layers = 4, heads = 4, max_position = 128, initializer_range = 0.1,
      dropout = 0 },
    -- masked-LM pretraining on the training passages first (recipes/pretrain.lua: 1000
    -- steps, about 45 s on a core); each seed fine-tunes from it
    pretrain = { epochs = 10, lr = 2e-3, batch = 16, max_seq_length = 96, pad_per_batch = true },
    train = { epochs = 2, lr = 2e-3, batch = 16, micro_batch = 16, max_seq_length = 96,
      pad_per_batch = true },
    decode = { padding = "dynamic" },
    save_every = 200,
    flows_tau = 0.05,
  },
  tiny = {
    corpus = { seed = 1, style = "short", train_paragraphs = 4, dev_paragraphs = 2,
      hidden = 32, layers = 2, heads = 2, max_position = 128 },
    train = { epochs = 1, lr = 1e-3, batch = 4, micro_batch = 4, max_seq_length = 96,
      pad_per_batch = true },
    decode = { padding = "dynamic" },
    save_every = 5,
  },
}

-- A preset's Chinese twin: the facts_zh corpus, scored and tokenized as CMRC 2018 (cmrc =
-- true: every step gets --cmrc); no masked-LM pretraining (pretrain.lua has no --cmrc).
local function chinese(preset)
  local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
    return c
  end
  local zh = copy(preset)
  zh.corpus.style, zh.pretrain, zh.cmrc = "facts_zh", nil, true
  return zh
end
M.PRESETS["demo-zh"] = chinese(M.PRESETS.demo) -- make demo-zh
M.PRESETS["tiny-zh"] = chinese(M.PRESETS.tiny)
M.DEMO = M.PRESETS.demo

--- Writes train.json, dev.json, vocab.txt and bert_config.json into dir (atomically);
--- returns a table of the paths.
function M.write(dir, corpus)
  local paths = {
    train = dir .. "/train.json", dev = dir .. "/dev.json",
    vocab = dir .. "/vocab.txt", config = dir .. "/bert_config.json",
  }
  zl.json.write(paths.train, corpus.train)
  zl.json.write(paths.dev, corpus.dev)
  zl.io.write_atomic(paths.vocab, table.concat(corpus.vocab, "\n") .. "\n")
  zl.json.write(paths.config, corpus.config, { pretty = true })
  return paths
end

return M
