-- lua_api.lua — a seeded fuzzer of the zonelab Lua API (issue 16, section 7).
--
--   build-sanitize/zonelab tests/fuzz/lua_api.lua [--sequences N] [--first I] [--seed S]
--       [--out DIR] [--replay FILE ...] [--no-seeds] [--quiet]
-- runs the seeds, then random sequences I .. I+N-1 of seed S (a leak, reported by
-- LeakSanitizer at exit, is narrowed down by running halves of that range).
--
-- A sequence is a list of steps over a pool of live values: constructors with small valid
-- or broken arguments (models from config tables, the tiny SQuAD data and vocabulary
-- written below, tests/fixtures/tiny), method calls on every userdata type, module
-- functions, close, collectgarbage, metamethods called directly, and arguments that are
-- callbacks or tables whose metamethods close objects or collect garbage at random
-- points; extreme integers, NaN, infinities and wrong types. Every call runs under pcall:
-- a Lua error is a correct answer. What fails is the process: under the ASan+UBSan build
-- (make build SANITIZE=1) a sanitizer finding aborts it, and the sequence that did it is
-- the file DIR/current.lua (--out), replayable with --replay and kept as a regression in
-- tests/fuzz/lua_regressions/ (ctest replays every file there; see docs/reliability.md).
--
-- Steps are data (a sequence is generated step by step from the pool's live types and
-- recorded as it runs), so a saved sequence replays the same calls whatever the
-- generator becomes. The files in tests/fuzz/lua_regressions/ are also the fuzzer's
-- seeds: they run first, then random sequences, one in four grown from a seed's steps.
local zl = require "zonelab"
local lfs = require "lfs"

-- ---------------------------------------------------------------- arguments
local opts = { sequences = 200, seed = 1, first = 1, replay = {}, quiet = false }
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "--sequences" then opts.sequences = assert(math.tointeger(tonumber(arg[i + 1])), "--sequences N"); i = i + 1
    elseif a == "--seed" then opts.seed = assert(math.tointeger(tonumber(arg[i + 1])), "--seed S"); i = i + 1
    elseif a == "--first" then opts.first = assert(math.tointeger(tonumber(arg[i + 1])), "--first I"); i = i + 1
    elseif a == "--no-seeds" then opts.no_seeds = true
    elseif a == "--out" then opts.out = arg[i + 1]; i = i + 1
    elseif a == "--replay" then opts.replay[#opts.replay + 1] = arg[i + 1]; i = i + 1
    elseif a == "--regressions" then opts.regressions = arg[i + 1]; i = i + 1
    elseif a == "--quiet" then opts.quiet = true
    elseif a == "--stats" then opts.stats = true
    else error("lua_api.lua: unknown argument " .. a) end
    i = i + 1
  end
end
local function abspath(p)
  if not p or p:sub(1, 1) == "/" then return p end
  return lfs.currentdir() .. "/" .. p
end
local SOURCE = os.getenv("ZONELAB_SOURCE") or lfs.currentdir()
local REGRESSIONS = abspath(opts.regressions or (SOURCE .. "/tests/fuzz/lua_regressions"))
local TINY = SOURCE .. "/tests/fixtures/tiny"
opts.out = abspath(opts.out)
for i, r in ipairs(opts.replay) do opts.replay[i] = abspath(r) end

-- ---------------------------------------------------------------- fixtures
-- Everything the API may write goes into a fresh folder, which is also the current
-- directory (so a relative path made up by the fuzzer lands there), removed at the end;
-- every path the fuzzer knows is inside it (the tiny fixtures are copied in).
local TMP = os.tmpname()
os.remove(TMP)
assert(lfs.mkdir(TMP))
assert(lfs.chdir(TMP))
local function write(name, bytes)
  local f = assert(io.open(TMP .. "/" .. name, "wb"))
  f:write(bytes)
  f:close()
  return TMP .. "/" .. name
end
local VOCAB_WORDS = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "what",
  "where", ".", "?" }
local CFG = { vocab_size = 13, hidden_size = 8, num_hidden_layers = 2, num_attention_heads = 2,
  intermediate_size = 16, max_position_embeddings = 32, type_vocab_size = 2 }
local PATHS = {
  vocab = write("vocab.txt", table.concat(VOCAB_WORDS, "\n") .. "\n"),
  -- the same size with [MASK] (a pretraining corpus needs it)
  mlm_vocab = write("mlm_vocab.txt", table.concat(VOCAB_WORDS, "\n", 1, #VOCAB_WORDS - 1) .. "\n[MASK]\n"),
  squad = write("dev.json", [[{"version": "1.1", "data": [{"title": "T", "paragraphs": [
  {"context": "The cat sat on the mat.", "qas": [
   {"id": "q1", "question": "What sat on the mat?", "answers": [{"answer_start": 4, "text": "cat"}]},
   {"id": "q2", "question": "Where?", "answers": [{"answer_start": 15, "text": "the mat"}]}]},
  {"context": "Where the cat sat.", "qas": [
   {"id": "q3", "question": "what?", "answers": [{"answer_start": 0, "text": "Where"}]}]}]}]}]]),
  config = write("bert_config.json", zl.json.encode(CFG)),
  bad_json = write("bad.json", '{"data": [{"paragraphs": [{"context": "a", "qas": [{"id": 1}]}]}]}'),
  dup_json = write("dup.json", '{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "a b",'
    .. ' "context": "the cat", "qas": [{"id": "q", "question": "what", "answers": [{"answer_start": 0, "text": "the"}]}]}]}]}'),
  -- copies: a path the fuzzer hands to a method may be written (m:save(path))
  tiny_model = write("tiny.safetensors", zl.io.read(TINY .. "/model.safetensors")),
  tiny_config = write("tiny_config.json", zl.io.read(TINY .. "/bert_config.json")),
  missing = TMP .. "/missing/none.bin",
  out = TMP .. "/out.bin",
  dir = TMP,
}
do -- a saved model of CFG, and a safetensors file with a zero-length tensor hiding an overlap
  local m = zl.bert.new(CFG)
  m:save(TMP .. "/model.safetensors")
  m:close()
  PATHS.model = TMP .. "/model.safetensors"
  local header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    .. '"z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},'
    .. '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
  PATHS.overlap = write("overlap.safetensors", string.pack("<I8", #header) .. header .. string.rep("\0", 12))
end
-- The type of a pool value from its metatable (the generator never calls into the API:
-- what it does is not recorded, so it must not change anything).
local TYPE_OF = {}
do
  local ds, tok = zl.squad.load(PATHS.squad), zl.tokenizer.load(PATHS.vocab)
  local f = zl.squad.features(ds, tok, { max_seq_length = 24, doc_stride = 8, max_query_length = 8 })
  local m = zl.bert.new(CFG)
  local objs = { bert = m, tokenizer = tok, squad = ds, features = f, collector = zl.squad.collector(f),
    tensor = zl.tensor.new({ 1 }), metrics = zl.metrics.load(PATHS.squad), pdf = zl.pdf.new(),
    optim = zl.optim.new(m, { lr = 1e-3, total_steps = 1 }),
    train = zl.train.new(m, { micro_batch = 1, max_seq_length = 8, total_steps = 1 }),
    sweep = zl.sweep.new(m, ds, f, { { zone = "none" } }),
    mlm = zl.mlm.corpus(zl.tokenizer.load(PATHS.mlm_vocab), { max_seq_length = 16 }) }
  for name, o in pairs(objs) do TYPE_OF[getmetatable(o)] = name end
  for _, o in pairs(objs) do o:close() end
end
local function type_of(v)
  if type(v) == "userdata" then return TYPE_OF[getmetatable(v)] or "userdata" end
  return type(v)
end

local PATH_NAMES = {}
for k in pairs(PATHS) do PATH_NAMES[#PATH_NAMES + 1] = k end
table.sort(PATH_NAMES)

-- ---------------------------------------------------------------- literals and serialisation
local NAN = 0 / 0
local INTS = { 0, 1, 1, 2, 2, 3, 4, -1, 5, 8, 24, math.maxinteger, math.mininteger, 2 ^ 31 - 1,
  2147483648, -2147483649, 4294967296, 1 << 53, 1 << 62 }
for i, v in ipairs(INTS) do INTS[i] = math.tointeger(v) or v end
local FLOATS = { 0.5, -0.0, 1e-3, 1e300, -1e300, 1 / 0, -1 / 0, NAN, 2.5, 1e-320 }
local STRINGS = { "", "none", "all", "q2", "p2", "q2p", "p2q", "all_strict", "cls", "f32", "i32",
  "max", "dynamic", "squad", "cmrc", "the cat", "x\0y", string.rep("a", 300), "\xff\xfe",
  "\u{4e2d}\u{6587}", "out.json", "sub/none.json" }
local KEYS = { "input_ids", "token_type_ids", "input_mask", "qmask", "pmask", "mask", "zone",
  "layer", "heads", "layers", "head_mask", "attentions", "hidden_states", "start_positions",
  "end_positions", "start_layer", "batch", "pad_to", "padding", "keep_pad", "lr", "total_steps",
  "warmup_steps", "micro_batch", "max_seq_length", "doc_stride", "max_query_length", "training",
  "pad", "lower", "cmrc", "n_best_size", "max_answer_length", "tau", "alpha", "length", "tokens",
  "target", "dropout", "seed", "accumulate", "per_question", "start_logits", "end_logits",
  "title", "size", "align", "values", "data", "paragraphs", "qas", "id", "answers", "text",
  "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
  "max_position_embeddings", "type_vocab_size", "pretty", "spill", "via", "intersect" }

local function ser(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "number" then
    if v ~= v then return "0/0" end
    if v == 1 / 0 then return "1/0" end
    if v == -1 / 0 then return "-1/0" end
    if math.type(v) == "integer" then
      if v == math.mininteger then return "math.mininteger" end
      return string.format("%d", v)
    end
    return string.format("%.17g", v)
  elseif t == "string" then
    return (string.format("%q", v):gsub("\n", "n"))
  elseif t == "boolean" or t == "nil" then
    return tostring(v)
  elseif t == "table" then
    local parts, n = {}, #v
    for i = 1, n do parts[#parts + 1] = ser(v[i], depth + 1) end
    local ks = {}
    for k in pairs(v) do
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then ks[#ks + 1] = k end
    end
    table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(ks) do
      local key = type(k) == "string" and k:match("^[%a_][%w_]*$") and k or "[" .. ser(k) .. "]"
      parts[#parts + 1] = key .. " = " .. ser(v[k], depth + 1)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  error("cannot serialise a " .. t)
end

-- ---------------------------------------------------------------- the interpreter
-- Argument specs (data): {"v", literal} | {"p", slot} | {"f", slot, key} | {"path", name}
-- | {"ids", rows, cols, max} (an i32 tensor of token ids) | {"floats", shape, value}
-- | {"tbl", {key, spec}..., meta = {name, fnspec}...} | {"list", n, spec}
-- | {"fn", action...}: a function that runs each action ({"close", slot}, {"gc"},
--   {"err"}, {"drop", slot}) and returns the value of its {"key", k, spec} action when
--   its second argument is k (an __index), else that of its {"ret", spec} action.
local P -- the pool of the running sequence
local materialize

local function safe_index(o, k)
  local ok, v = pcall(function() return o[k] end)
  return ok and v or nil
end

local function close_value(v)
  if type(v) == "userdata" or type(v) == "table" then
    local mt = getmetatable(v)
    local c = type(mt) == "table" and rawget(mt, "__close")
    if c then pcall(c, v, nil) end
  end
end

local function run_action(a)
  local k = a[1]
  if not P then return end
  if k == "close" then close_value(P[a[2]])
  elseif k == "gc" then collectgarbage(a[2] and "step" or "collect")
  elseif k == "drop" then P[a[2]] = nil
  elseif k == "err" then error("fuzz callback error", 0)
  end
end

local function make_fn(spec)
  local ret, keyed = nil, {}
  for i = 2, #spec do
    if spec[i][1] == "ret" then ret = spec[i][2] end
    if spec[i][1] == "key" then keyed[spec[i][2]] = spec[i][3] end
  end
  return function(...)
    for i = 2, #spec do run_action(spec[i]) end
    local k = select(2, ...) -- the key, when the function is an __index
    if k ~= nil and keyed[k] then return materialize(keyed[k]) end
    if ret then return materialize(ret) end
  end
end

function materialize(s)
  local k = s[1]
  if k == "v" then return s[2]
  elseif k == "p" then return P[s[2]]
  elseif k == "f" then local o = P[s[2]]; return o ~= nil and safe_index(o, s[3]) or nil
  elseif k == "path" then return PATHS[s[2]]
  elseif k == "ids" then
    local rows = {}
    for r = 1, s[2] do
      local row = {}
      for c = 1, s[3] do row[c] = ((r * 7 + c * 3) % s[4]) end
      rows[r] = row
    end
    return zl.tensor.from(rows, "i32")
  elseif k == "floats" then
    local ok, t = pcall(zl.tensor.new, s[2])
    if ok then pcall(t.fill, t, s[3]) return t end
    return nil
  elseif k == "tbl" then
    local t = {}
    for i = 2, #s do t[s[i][1]] = materialize(s[i][2]) end
    if s.meta then
      local mt = {}
      for _, m in ipairs(s.meta) do mt[m[1]] = make_fn(m[2]) end
      setmetatable(t, mt)
    end
    return t
  elseif k == "list" then
    local t = {}
    for i = 1, s[2] do t[i] = materialize(s[3]) end
    return t
  elseif k == "fn" then return make_fn(s)
  end
  error("unknown argument spec " .. tostring(k))
end

local function resolve(path)
  local v = zl
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function call_args(specs)
  local args = {}
  for i, s in ipairs(specs) do args[i] = materialize(s) end
  return args, #specs
end

-- Steps: {"new", slot, "module.fn", args} | {"call", slot, method, args, store}
-- | {"fcall", "module.fn", args, store} | {"close", slot} | {"gc"} | {"drop", slot}
-- | {"meta", slot, "__tostring" | "__len" | "__gc" | "__close" | "__index"}
-- | {"file", name, bytes} | {"field", slot, key, store}
local STATS = { ok = {}, err = {} } -- --stats: which calls ran to the end, which raised
local function count(name, ok)
  local t = ok and STATS.ok or STATS.err
  t[name] = (t[name] or 0) + 1
  return ok
end
local function store(slot, name, ok, ...)
  count(name, ok)
  if slot and ok then P[slot] = (...) end
end

local function run_step(st)
  local k = st[1]
  if k == "new" or k == "fcall" then
    local fname, args, slot
    if k == "new" then slot, fname, args = st[2], st[3], st[4] else fname, args, slot = st[2], st[3], st[4] end
    local f = resolve(fname)
    if type(f) ~= "function" then return end
    local ok_args, a, n = pcall(call_args, args)
    if not ok_args then return end
    store(slot, fname, pcall(f, table.unpack(a, 1, n)))
  elseif k == "call" then
    local o = P[st[2]]
    if o == nil then return end
    local m = safe_index(o, st[3])
    if type(m) ~= "function" then return end
    local ok_args, a, n = pcall(call_args, st[4])
    if not ok_args then return end
    store(st[5], ":" .. st[3], pcall(m, o, table.unpack(a, 1, n)))
  elseif k == "field" then
    local o = P[st[2]]
    if o ~= nil then P[st[4]] = safe_index(o, st[3]) end
  elseif k == "close" then close_value(P[st[2]])
  elseif k == "gc" then
    -- "gen": a minor collection, and its finalizers, at almost every allocation from here on
    -- (inside binding calls too); the end of the sequence goes back to incremental
    if st[2] == "gen" then collectgarbage("generational", 0, 100)
    else collectgarbage(st[2] and "step" or "collect") end
  elseif k == "drop" then P[st[2]] = nil
  elseif k == "meta" then
    local o = P[st[2]]
    local mt = o ~= nil and getmetatable(o)
    if st[3] == "__tostring" then pcall(tostring, o)
    elseif st[3] == "__len" then pcall(function() return #o end)
    elseif type(mt) == "table" and type(rawget(mt, st[3])) == "function" then
      pcall(rawget(mt, st[3]), o, nil)
    end
  elseif k == "file" then
    local f = io.open(TMP .. "/" .. st[2], "wb")
    if f then f:write(st[3]) f:close() end
  end
end

-- The sequence file of --out: each step is written (and flushed) before it runs, so when
-- a step kills the process the file ends with it (load_sequence closes the list).
local recorder
local function record_open(out)
  if not out then return end
  recorder = assert(io.open(out .. "/current.lua", "wb"))
  recorder:write("-- a zonelab Lua API fuzz sequence: zonelab tests/fuzz/lua_api.lua --replay FILE\nreturn {\n")
end
local function record(st)
  if recorder then
    recorder:write("  ", ser(st), ",\n")
    recorder:flush()
  end
end
local function record_close()
  if recorder then
    recorder:write("}\n")
    recorder:close()
    recorder = nil
  end
end

-- The end of a sequence: the pool is dropped (finalizers still running see an empty one).
local function finish_sequence()
  P = {}
  collectgarbage("incremental")
  collectgarbage()
  collectgarbage()
end

local function run_sequence(seq, out)
  record_open(out)
  P = {}
  for _, st in ipairs(seq) do
    record(st)
    run_step(st)
  end
  finish_sequence()
  record_close()
end

-- ---------------------------------------------------------------- the generator
local rng -- xorshift-style generator over Lua integers: the same steps on every machine
local function seed_rng(s)
  local x = (s * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) | 1
  rng = function(n) -- 1..n
    x = x ~ (x << 13); x = x ~ (x >> 7); x = x ~ (x << 17)
    return (x >> 1) % n + 1
  end
end
local function pick(t) return t[rng(#t)] end

local NSLOTS = 12
local function any_slot() return rng(NSLOTS) end

local gen_arg
local function gen_fn(depth)
  local f = { "fn" }
  for _ = 1, rng(2) do
    local r = rng(10)
    if r <= 4 then f[#f + 1] = { "close", any_slot() }
    elseif r <= 6 then f[#f + 1] = { "gc", rng(2) == 1 }
    elseif r == 7 then f[#f + 1] = { "err" }
    elseif r == 8 then f[#f + 1] = { "drop", any_slot() }
    end
  end
  if rng(4) == 1 then f[#f + 1] = { "key", pick(KEYS), gen_arg(depth + 1) } end
  if rng(3) > 1 then f[#f + 1] = { "ret", gen_arg(depth + 1) } end
  return f
end

local function gen_table(depth)
  local t = { "tbl" }
  for _ = 1, rng(4) - 1 do t[#t + 1] = { pick(KEYS), gen_arg(depth + 1) } end
  if rng(3) == 1 then t[#t + 1] = { rng(3), gen_arg(depth + 1) } end
  if rng(4) == 1 then
    t.meta = {}
    local which = { "__index", "__len", "__gc", "__index" }
    for _ = 1, rng(2) do t.meta[#t.meta + 1] = { pick(which), gen_fn(depth + 1) } end
  end
  return t
end

function gen_arg(depth)
  depth = depth or 0
  local r = rng(depth > 2 and 12 or 20)
  if r <= 3 then return { "v", pick(INTS) }
  elseif r == 4 then return { "v", pick(FLOATS) }
  elseif r == 5 then return { "v", pick(STRINGS) }
  elseif r == 6 then return { "v", rng(2) == 1 }
  elseif r == 7 then return { "v", nil }
  elseif r <= 10 then return { "p", any_slot() }
  elseif r == 11 then return { "path", pick(PATH_NAMES) }
  elseif r == 12 then return { "ids", rng(2), rng(8), rng(3) == 1 and 20 or 13 }
  elseif r <= 14 then return gen_table(depth)
  elseif r == 15 then return gen_fn(depth)
  elseif r == 16 then return { "f", any_slot(), pick(KEYS) }
  elseif r == 17 then return { "floats", { rng(3), rng(8) }, pick(FLOATS) }
  elseif r == 18 then return { "list", rng(8) - 1, { "v", pick(INTS) } }
  else return { "list", rng(4), { "list", rng(6), { "v", rng(13) - 1 } } }
  end
end

local function gen_args(lo, hi)
  local a = {}
  for i = 1, lo + rng(hi - lo + 1) - 1 do a[i] = gen_arg(0) end
  return a
end

-- Constructors with mostly valid arguments (a fresh slot each), broken now and then.
local function cfg_spec()
  local t = { "tbl" }
  local keys = {}
  for k in pairs(CFG) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = CFG[k]
    if rng(12) == 1 then t[#t + 1] = { k, gen_arg(1) } else t[#t + 1] = { k, { "v", v } } end
  end
  return t
end
local FOPTS = { "tbl", { "max_seq_length", { "v", 24 } }, { "doc_stride", { "v", 8 } },
  { "max_query_length", { "v", 8 } } }
local function maybe(spec) return rng(8) == 1 and gen_arg(0) or spec end
local function slot_of(types) -- a slot whose value has one of the metatable names, else any
  local hits = {}
  for s = 1, NSLOTS do
    local v = P[s]
    local ty = type_of(v)
    for _, want in ipairs(types) do
      if ty == want then hits[#hits + 1] = s break end
    end
  end
  return #hits > 0 and pick(hits) or any_slot()
end

local CTORS = {
  function(s) return { "new", s, "bert.new", { maybe(cfg_spec()) } } end,
  function(s) return { "new", s, "bert.load", { maybe({ "path", pick({ "model", "tiny_model", "missing", "overlap" }) }) } } end,
  function(s) return { "new", s, "tokenizer.load", { maybe({ "path", pick({ "vocab", "mlm_vocab" }) }), maybe({ "tbl", { "lower", { "v", true } } }) } } end,
  function(s) return { "new", s, "mlm.corpus", { { "p", slot_of({ "tokenizer" }) },
    maybe({ "tbl", { "max_seq_length", { "v", pick({ 4, 16, 24 }) } } }) } } end,
  function(s) return { "call", slot_of({ "mlm" }), "add", { maybe({ "v", pick({ "the cat sat on the mat .", "where ? the",
    string.rep("cat ", 40) }) }) }, s } end,
  function(s) return { "call", slot_of({ "train" }), "step_mlm", { { "p", slot_of({ "mlm" }) },
    { "list", rng(3), { "v", rng(3) } }, maybe({ "v", 1 }), maybe({ "v", rng(3) }) }, s } end,
  function(s) return { "new", s, "squad.load", { maybe({ "path", pick({ "squad", "squad", "bad_json", "dup_json" }) }),
    maybe({ "tbl", { "training", { "v", rng(2) == 1 } } }) } } end,
  function(s) return { "new", s, "squad.features", { { "p", slot_of({ "squad" }) },
    { "p", slot_of({ "tokenizer" }) }, maybe(FOPTS) } } end,
  function(s) return { "new", s, "squad.collector", { { "p", slot_of({ "features" }) } } } end,
  function(s) return { "new", s, "sweep.new", { { "p", slot_of({ "bert" }) }, { "p", slot_of({ "squad" }) },
    { "p", slot_of({ "features" }) }, maybe({ "tbl", { 1, { "tbl", { "zone", { "v", pick(STRINGS) } },
      { "layer", { "v", pick(INTS) } } } } }), maybe({ "tbl", { "batch", { "v", 2 } } }) } } end,
  function(s) return { "new", s, "metrics.load", { maybe({ "path", "squad" }) } } end,
  function(s) return { "new", s, "optim.new", { { "p", slot_of({ "bert" }) },
    maybe({ "tbl", { "lr", { "v", 1e-3 } }, { "total_steps", { "v", 10 } } }) } } end,
  function(s) return { "new", s, "train.new", { { "p", slot_of({ "bert" }) },
    maybe({ "tbl", { "micro_batch", { "v", 2 } }, { "max_seq_length", { "v", 24 } }, { "total_steps", { "v", 4 } } }) } } end,
  function(s) return { "new", s, "pdf.new", {} } end,
  function(s) return { "new", s, "tensor.new", { { "list", rng(3), { "v", rng(4) } }, maybe({ "v", pick({ "f32", "i32" }) }) } } end,
  function(s) return { "new", s, "tensor.from", { gen_arg(0), maybe({ "v", pick({ "f32", "i32" }) }) } } end,
  function(s) return { "new", s, "train.permutation", { { "v", rng(4) }, { "v", pick(INTS) } } } end,
  function(s)
    local m = slot_of({ "bert" })
    return { "call", m, "forward", { { "tbl", { "input_ids", { "ids", rng(2), 2 + rng(6), 13 } },
      { "attentions", { "v", rng(2) == 1 } }, { pick(KEYS), gen_arg(1) } } }, s }
  end,
  function(s) return { "call", slot_of({ "features" }), "batch", { { "v", 1 }, { "v", rng(2) }, maybe({ "v", nil }) }, s } end,
  function(s) return { "new", s, "flows.build", { { "f", slot_of({ "table" }), "attentions" }, maybe({ "tbl", { "tau", { "v", 0.1 } } }) } } end,
  function(s) return { "fcall", "optim.loss_and_grads", { { "p", slot_of({ "bert" }) }, { "p", slot_of({ "table" }) } }, s } end,
}

-- A world to start from: each object is built with valid arguments into a fixed slot,
-- with probability 2/3 (so borrowers meet owners that are missing, closed or replaced).
local function meta_maybe(t)
  if rng(3) == 1 then t.meta = { { pick({ "__index", "__index", "__len" }), gen_fn(1) } } end
  return t
end
local SETUP = {
  { "new", 1, "bert.new", { { "tbl", { "vocab_size", { "v", 13 } }, { "hidden_size", { "v", 8 } },
    { "num_hidden_layers", { "v", 2 } }, { "num_attention_heads", { "v", 2 } }, { "intermediate_size", { "v", 16 } },
    { "max_position_embeddings", { "v", 32 } }, { "type_vocab_size", { "v", 2 } } } } },
  { "new", 2, "tokenizer.load", { { "path", "vocab" }, { "tbl", { "lower", { "v", true } } } } },
  { "new", 3, "squad.load", { { "path", "squad" } } },
  { "new", 4, "squad.features", { { "p", 3 }, { "p", 2 }, FOPTS } },
  { "new", 5, "squad.collector", { { "p", 4 } } },
  { "call", 4, "batch", { { "v", 1 }, { "v", 2 } }, 6 },
  { "call", 1, "forward", { { "tbl", { "input_ids", { "f", 6, "input_ids" } }, { "attentions", { "v", true } } } }, 7 },
  { "new", 8, "sweep.new", { { "p", 1 }, { "p", 3 }, { "p", 4 }, { "tbl", { 1, { "tbl", { "zone", { "v", "none" } } } },
    { 2, { "tbl", { "zone", { "v", "q2" } }, { "layer", { "v", 0 } } } } }, { "tbl", { "batch", { "v", 2 } } } } },
  { "new", 9, "optim.new", { { "p", 1 }, { "tbl", { "lr", { "v", 1e-3 } }, { "total_steps", { "v", 10 } } } } },
  { "new", 9, "train.new", { { "p", 1 }, { "tbl", { "micro_batch", { "v", 2 } }, { "max_seq_length", { "v", 24 } },
    { "total_steps", { "v", 4 } } } } },
  { "new", 10, "flows.build", { { "f", 7, "attentions" }, { "tbl", { "tau", { "v", 0.1 } } } } },
  { "new", 11, "metrics.load", { { "path", "squad" } } },
  { "new", 12, "pdf.new", {} },
  { "call", 12, "page", { { "v", 100 }, { "v", 100 } } },
}

-- Calls of the world's objects with arguments that mostly make sense, wrapped now and
-- then in a table whose metamethods close or collect.
local SCENES = {
  function() return { "call", 8, "step", { { "v", rng(3) } } } end,
  function() return { "call", 8, "write", { { "v", rng(2) }, { "v", "pred.json" }, { "v", rng(2) == 1 and "nbest.json" or nil },
    meta_maybe({ "tbl", { "n_best_size", { "v", 3 } } }) } } end,
  function() return { "fcall", "optim.loss_and_grads", { { "p", 1 }, meta_maybe({ "tbl", { "input_ids", { "f", 6, "input_ids" } },
    { "start_positions", { "f", 6, "start_positions" } }, { "end_positions", { "f", 6, "end_positions" } } }) }, rng(2) == 1 and 7 or nil } end,
  function() return { "call", 9, "micro_step", { meta_maybe({ "tbl", { "input_ids", { "f", 6, "input_ids" } },
    { "start_positions", { "f", 6, "start_positions" } }, { "end_positions", { "f", 6, "end_positions" } } }) } } end,
  function() return { "call", 9, "step_features", { { "p", 4 }, { "p", rng(NSLOTS) }, { "v", 1 }, { "v", pick(INTS) },
    meta_maybe({ "tbl", { "pad_to", { "v", 24 } } }) } } end,
  function() return { "call", 5, "add", { { "v", pick(INTS) }, { "f", 7, "start_logits" }, { "f", 7, "end_logits" } } } end,
  function() return { "call", 5, "decode", { { "p", 3 }, meta_maybe({ "tbl", { "n_best_size", { "v", 2 } } }) } } end,
  function() return { "fcall", "squad.decode", { { "p", 3 }, { "p", 4 }, { "fn", rng(2) == 1 and { "close", any_slot() } or { "gc" },
    { "ret", { "tbl", { "start_logits", { "floats", { 24 }, 0.5 } }, { "end_logits", { "floats", { 24 }, 0.25 } } } } } } } end,
  function() return { "call", 1, "forward", { meta_maybe({ "tbl", { "input_ids", { "f", 6, "input_ids" } },
    { rng(2) == 1 and "mask" or "qmask", rng(2) == 1 and gen_fn(1) or { "f", 6, "qmask" } },
    { "zone", { "v", pick(STRINGS) } }, { "layer", { "v", pick(INTS) } } }) } } end,
  function() return { "fcall", "metrics.squad", { { "p", 11 }, meta_maybe({ "tbl", { "q1", { "v", "cat" } } }) } } end,
  function() return { "call", 10, pick({ "depends_on", "dependents", "between", "json" }), { { "v", rng(3) - 1 },
    meta_maybe({ "list", rng(3), { "v", rng(4) - 1 } }), { "v", rng(3) - 1 }, meta_maybe({ "tbl", { "intersect", { "v", true } } }) } } end,
  function() return { "call", 12, pick({ "fill_color", "text", "polygon", "heatmap_layout" }), { meta_maybe({ "list", rng(8), { "v", pick(FLOATS) } }),
    { "v", 10 }, { "v", "x" }, meta_maybe({ "tbl", { "size", { "v", 9 } } }) } } end,
  function() return { "call", 4, pick({ "batch", "get" }), { { "v", pick(INTS) }, { "v", pick(INTS) } } } end,
}

-- Module functions called with random arguments (not those that start MPI or threads,
-- nor zl.proc's, which act on the host's processes: a random pid, a day's sleep).
local FUNCS = {}
do
  local skip = { ["dist.init"] = true, ["dist.barrier"] = true, ["set_threads"] = true,
    ["proc.spawn"] = true, ["proc.wait"] = true, ["proc.kill"] = true, ["proc.sleep"] = true }
  local function walk(t, prefix)
    local ks = {}
    for k in pairs(t) do ks[#ks + 1] = k end
    table.sort(ks)
    for _, k in ipairs(ks) do
      local v, name = t[k], prefix .. k
      if type(v) == "function" and not skip[name] then FUNCS[#FUNCS + 1] = name
      elseif type(v) == "table" and prefix == "" then walk(v, name .. ".") end
    end
  end
  walk(zl, "")
end

local function methods_of(o)
  local mt = getmetatable(o)
  local idx = type(mt) == "table" and rawget(mt, "__index")
  local names = {}
  if type(idx) == "table" then
    for k, v in pairs(idx) do if type(v) == "function" then names[#names + 1] = k end end
  end
  table.sort(names)
  return names
end

local function gen_step()
  local r = rng(100)
  if r <= 12 then return pick(CTORS)(any_slot())
  elseif r <= 30 then return pick(SCENES)()
  elseif r <= 62 then
    local s = any_slot()
    local o = P[s]
    if type(o) == "userdata" then
      local names = methods_of(o)
      if #names > 0 then return { "call", s, pick(names), gen_args(0, 5), rng(3) == 1 and any_slot() or nil } end
    elseif type(o) == "table" then
      return { "field", s, pick(KEYS), any_slot() }
    end
    return pick(CTORS)(s)
  elseif r <= 72 then return { "fcall", pick(FUNCS), gen_args(0, 4), rng(3) == 1 and any_slot() or nil }
  elseif r <= 80 then return { "close", any_slot() }
  elseif r <= 85 then return { "gc", pick({ true, false, "gen" }) }
  elseif r <= 90 then return { "drop", any_slot() }
  else return { "meta", any_slot(), pick({ "__tostring", "__len", "__gc", "__close", "__close" }) }
  end
end

-- Generates and runs one sequence (the steps are recorded before each runs).
local function fuzz_sequence(seq_seed, prefix, out)
  seed_rng(seq_seed)
  local n = 6 + rng(20)
  local seq = {}
  P = {}
  record_open(out)
  local function add(st)
    seq[#seq + 1] = st
    record(st)
    run_step(st)
  end
  if prefix then
    for i = 1, #prefix do
      if rng(4) == 1 then add(gen_step()) end
      add(prefix[i])
    end
  elseif rng(5) > 1 then
    for _, st in ipairs(SETUP) do
      if rng(3) > 1 then add(st) end
    end
  end
  for _ = 1, n do add(gen_step()) end
  finish_sequence()
  record_close()
  return #seq
end

-- ---------------------------------------------------------------- main
local function load_sequence(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  if not text:find("}%s*$") then text = text .. "}\n" end -- cut short by a crash
  local chunk = assert(load(text, "@" .. path, "t", { math = math }))
  local seq = chunk()
  assert(type(seq) == "table", path .. ": a sequence file returns a list of steps")
  return seq
end

local seeds = {}
if #opts.replay > 0 then
  for _, p in ipairs(opts.replay) do seeds[#seeds + 1] = { p, load_sequence(p) } end
elseif not opts.no_seeds then
  local names = {}
  if lfs.attributes(REGRESSIONS, "mode") == "directory" then
    for name in lfs.dir(REGRESSIONS) do
      if name:match("%.lua$") then names[#names + 1] = name end
    end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    seeds[#seeds + 1] = { REGRESSIONS .. "/" .. name, load_sequence(REGRESSIONS .. "/" .. name) }
  end
end

local t0, steps = os.clock(), 0
for _, s in ipairs(seeds) do
  run_sequence(s[2], opts.out)
  steps = steps + #s[2]
end
local random = #opts.replay > 0 and 0 or opts.sequences
for i = opts.first, opts.first + random - 1 do
  local seq_seed = opts.seed * 1000003 + i
  seed_rng(seq_seed)
  local prefix = (#seeds > 0 and rng(4) == 1) and seeds[rng(#seeds)][2] or nil
  steps = steps + fuzz_sequence(seq_seed, prefix, opts.out)
  if not opts.quiet and i % 1000 == 0 then
    io.stderr:write(string.format("lua_api fuzz: sequence %d (%.0f s CPU)\n", i, os.clock() - t0))
  end
end
if opts.stats then
  local names = {}
  for k in pairs(STATS.ok) do names[#names + 1] = k end
  for k in pairs(STATS.err) do if not STATS.ok[k] then names[#names + 1] = k end end
  table.sort(names)
  for _, k in ipairs(names) do
    io.stderr:write(string.format("%-28s ok %6d  raised %6d\n", k, STATS.ok[k] or 0, STATS.err[k] or 0))
  end
end
lfs.chdir(SOURCE)
os.execute("rm -rf '" .. TMP .. "'")
if opts.out then os.remove(opts.out .. "/current.lua") end
print(string.format("lua_api fuzz: %d seed/regression sequences and %d random sequences (seed %d), "
  .. "%d steps, %.1f s CPU: no sanitizer finding", #seeds, random, opts.seed, steps, os.clock() - t0))
