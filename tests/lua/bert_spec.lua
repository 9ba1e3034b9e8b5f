-- zonelab.bert: loading, forward against the golden fixture, zone masks, general
-- masks, head masks, params views, random init, save/load, threads, errors.
local zl = require "zonelab"

local FIX = "tests/fixtures/tiny"
local HOST = arg and arg[-1] -- the zonelab executable running this spec
local B, S = 3, 24

local function bin(path, fmt, n)
  local data = zl.io.read(path)
  assert(#data == 4 * n, path)
  local vals, pos = {}, 1
  for i = 1, n do vals[i], pos = string.unpack("<" .. fmt, data, pos) end
  return vals
end
local function input(name, shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return zl.tensor.from(bin(FIX .. "/inputs/" .. name .. ".i32.bin", "i4", n), shape, "i32")
end
local function expected(case, name, shape)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return zl.tensor.from(bin(FIX .. "/cases/" .. case .. "/" .. name .. ".f32.bin", "f", n), shape)
end

local inputs = {
  input_ids = input("input_ids", { B, S }), token_type_ids = input("token_type_ids", { B, S }),
  input_mask = input("input_mask", { B, S }), qmask = input("qmask", { B, S }),
  pmask = input("pmask", { B, S }),
}
local function with(extra)
  local t = {}
  for k, v in pairs(inputs) do t[k] = v end
  for k, v in pairs(extra or {}) do t[k] = v end
  return t
end

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  return p
end

describe("zonelab.bert", function()
  local m = zl.bert.load(FIX)

  it("loads a model folder and describes it", function()
    assert.are.equal("bert: 2 layers, 32 hidden, 4 heads", tostring(m))
    local c = m:config()
    assert.are.equal(99, c.vocab_size)
    assert.are.equal(4, c.num_attention_heads)
    assert.are.equal(32, c.embedding_size)
    assert.are.equal("bert", c.model_type)
    assert.are.equal(1e-12, c.layer_norm_eps)
    assert.is_false(m:fresh_qa_head())
    assert.are.equal(22498, m:num_params())
    assert.are.equal(39, #m:param_names())
  end)

  it("matches the golden logits, loss, attentions and hidden states", function()
    local out = m:forward(with { attentions = true, hidden_states = true,
                                 start_positions = input("start_positions", { B }),
                                 end_positions = input("end_positions", { B }) })
    assert.is_true(out.start_logits:max_abs_diff(expected("none", "start_logits", { B, S })) < 1e-4)
    assert.is_true(out.end_logits:max_abs_diff(expected("none", "end_logits", { B, S })) < 1e-4)
    assert.is_true(out.attentions:max_abs_diff(expected("none", "attention_probs", { 2, B, 4, S, S })) < 1e-5)
    assert.is_true(out.hidden_states:max_abs_diff(expected("none", "hidden_states", { 3, B, S, 32 })) < 1e-4)
    assert.are.same({ 2, B, 4, S, S }, out.attentions:shape())
    local want = bin(FIX .. "/cases/none/loss.f32.bin", "f", 1)[1]
    assert.is_true(math.abs(out.loss - want) < 1e-4)
    local l2 = zl.bert.span_loss(out.start_logits, out.end_logits, input("start_positions", { B }),
                                 input("end_positions", { B }))
    assert.are.equal(out.loss, l2)
  end)

  it("applies zones at a 1-based layer (the fixtures' l1 is layer 2)", function()
    local out = m:forward(with { zone = "p2q", layer = 2, attentions = true })
    assert.is_true(out.start_logits:max_abs_diff(expected("p2q_l1", "start_logits", { B, S })) < 1e-4)
    out = m:forward(with { zone = "q2", layer = 1 })
    assert.is_true(out.end_logits:max_abs_diff(expected("q2_l0", "end_logits", { B, S })) < 1e-4)
    out = m:forward(with { zone = "all_strict", layer = "all" })
    assert.is_true(out.end_logits:max_abs_diff(expected("all_strict_all", "end_logits", { B, S })) < 1e-4)
    out = m:forward(with { zone = "p2" }) -- no layer: every layer
    assert.is_true(out.end_logits:max_abs_diff(expected("p2_all", "end_logits", { B, S })) < 1e-4)
  end)

  it("changes exactly the masked rows' probabilities at the masked layer", function()
    local base = m:forward(with { attentions = true }).attentions
    local att = m:forward(with { zone = "q2", layer = 2, attentions = true }).attentions
    local changed, wrong = 0, 0
    for b = 1, B do
      for f = 1, S do
        local qf = inputs.qmask:get(b, f)
        for h = 1, 4 do
          local d0, d1 = 0, 0
          for t = 1, S do
            d0 = math.max(d0, math.abs(att:get(1, b, h, f, t) - base:get(1, b, h, f, t)))
            d1 = math.max(d1, math.abs(att:get(2, b, h, f, t) - base:get(2, b, h, f, t)))
            if qf == 1 and inputs.qmask:get(b, t) == 1 and att:get(2, b, h, f, t) > 1e-6 then
              wrong = wrong + 1
            end
          end
          assert.are.equal(0, d0) -- layer 1 untouched
          if qf == 1 then
            changed = changed + 1
            assert.is_true(d1 > 1e-6)
          else
            assert.is_true(d1 < 1e-7)
          end
        end
      end
    end
    assert.is_true(changed > 0)
    assert.are.equal(0, wrong)
  end)

  it("makes `all` equal to no mask on the unpadded sequence only", function()
    local base = m:forward(inputs).start_logits
    local all = m:forward(with { zone = "all", layer = 1 }).start_logits
    assert.are.equal(0, base:view(2):max_abs_diff(all:view(2)))  -- sequence 2: no padding
    assert.is_true(base:view(1):max_abs_diff(all:view(1)) > 1e-3) -- sequence 1: 2 PAD
  end)

  it("takes a general mask from a function or a tensor, per head and layer", function()
    local zone = m:forward(with { zone = "p2q", layer = 2 }).start_logits
    local fn = function(f, t, b)
      return (1 - inputs.qmask:get(b, f)) * inputs.qmask:get(b, t)
    end
    local out = m:forward(with { mask = fn, layers = { 2 } }).start_logits
    assert.are.equal(0, out:max_abs_diff(zone))
    -- the same pattern as a [B,S,S] tensor
    local pat = zl.tensor.new({ B, S, S })
    for b = 1, B do for f = 1, S do for t = 1, S do pat:set(b, f, t, fn(f, t, b)) end end end
    out = m:forward(with { mask = pat, layers = { 2 } }).start_logits
    assert.are.equal(0, out:max_abs_diff(zone))
    -- only head 4 of layer 2
    local a0 = m:forward(with { attentions = true }).attentions
    local a1 = m:forward(with { mask = pat, layers = { 2 }, heads = { 4 }, attentions = true }).attentions
    local d = {}
    for h = 1, 4 do
      d[h] = 0
      for f = 1, S do for t = 1, S do
        d[h] = math.max(d[h], math.abs(a1:get(2, 1, h, f, t) - a0:get(2, 1, h, f, t)))
      end end
    end
    assert.are.same({ 0, 0, 0 }, { d[1], d[2], d[3] })
    assert.is_true(d[4] > 1e-4)
    assert.has_error(function() m:forward(with { mask = pat, heads = { 5 } }) end)
    assert.has_error(function() m:forward(with { mask = pat, heads = { 0 } }) end)
    assert.has_error(function() m:forward(with { heads = { 1 } }) end)
  end)

  it("applies a head mask", function()
    local base = m:forward(inputs).start_logits
    local ones = zl.tensor.new({ 2, 4 }):fill(1)
    assert.are.equal(0, m:forward(with { head_mask = ones }).start_logits:max_abs_diff(base))
    local hm = zl.tensor.new({ 4 }):fill(1)
    hm:set(2, 0)
    local out = m:forward(with { head_mask = hm, attentions = true })
    assert.is_true(out.start_logits:max_abs_diff(base) > 1e-4)
    assert.are.equal(0, out.attentions:get(1, 1, 2, 1, 1))
  end)

  it("gives the same logits whatever the thread count", function()
    local old = zl.get_threads()
    zl.set_threads(1)
    local a = m:forward(with { zone = "q2p", layer = 1 }).end_logits
    zl.set_threads(2)
    local b = m:forward(with { zone = "q2p", layer = 1 }).end_logits
    zl.set_threads(old)
    assert.is_true(a:max_abs_diff(b) <= 1e-5)
  end)

  it("exposes parameters as views sharing the model's storage", function()
    local m2 = zl.bert.load(FIX)
    local p = m2:params()
    assert.are.same({ 2, 32 }, p["qa_outputs.weight"]:shape())
    assert.are.same({ 32, 32 }, p["bert.encoder.layer.1.attention.self.query.weight"]:shape())
    local before = m2:forward(inputs).start_logits
    p["qa_outputs.bias"]:set(1, p["qa_outputs.bias"]:get(1) + 1)
    local after = m2:forward(inputs).start_logits
    assert.is_true(math.abs(after:get(1, 1) - before:get(1, 1) - 1) < 1e-5)
    local bias = p["qa_outputs.bias"]
    m2:close()
    m2:close() -- idempotent
    assert.has_error(function() m2:forward(inputs) end)
    assert.are.equal("bert (closed)", tostring(m2))
    assert.is_true(bias:get(2) ~= 0) -- views stay valid after close
  end)

  it("initialises randomly by seed and round-trips through save/load", function()
    local cfg = { vocab_size = 50, hidden_size = 16, num_hidden_layers = 2, num_attention_heads = 2,
                  intermediate_size = 32, max_position_embeddings = 40 }
    local a = zl.bert.new(cfg, { seed = 5 })
    local b = zl.bert.new(cfg, { seed = 5 })
    local c = zl.bert.new(cfg, { seed = 6 })
    local w = "bert.encoder.layer.0.intermediate.dense.weight"
    assert.are.equal(0, a:params()[w]:max_abs_diff(b:params()[w]))
    assert.is_true(a:params()[w]:max_abs_diff(c:params()[w]) > 0)
    assert.are.equal(1, a:params()["bert.embeddings.LayerNorm.weight"]:get(3))
    local dir = tmpdir()
    a:save(dir)
    local r = zl.bert.load(dir)
    -- the saved config names its GELU ("gelu": "erf"): only where the form came from differs
    local ac, rc = a:config(), r:config()
    assert.are.same({ "erf", "hugging face default", "erf", "config" },
      { ac.gelu, ac.gelu_origin, rc.gelu, rc.gelu_origin })
    ac.gelu_origin, ac.gelu_note, rc.gelu_origin, rc.gelu_note = nil, nil, nil, nil
    assert.are.same(ac, rc)
    for name, t in pairs(a:params()) do assert.are.equal(0, t:max_abs_diff(r:params()[name])) end
    os.remove(dir .. "/model.safetensors")
    os.remove(dir .. "/bert_config.json")
    os.remove(dir)
    -- the table is read as the config (no JSON text in between): a NaN or an infinity is
    -- refused by name instead of printed as null and silently replaced by the default
    local function bad(k, v)
      local t = {}
      for key, val in pairs(cfg) do t[key] = val end
      t[k] = v
      local ok, err = pcall(zl.bert.new, t)
      assert.is_false(ok)
      assert.truthy(err:find(k, 1, true), err)
    end
    bad("hidden_dropout_prob", 0 / 0)
    bad("layer_norm_eps", math.huge)
    bad("hidden_size", 0 / 0)
    assert.are.equal(0.25, zl.bert.new(
      (function() local t = { hidden_dropout_prob = 0.25 }; for k, v in pairs(cfg) do t[k] = v end; return t end)()
    ):config().hidden_dropout_prob)
  end)

  it("loads electra.-named tensors as ELECTRA when the config has no model_type, and says so", function()
    local cfg = { model_type = "electra", vocab_size = 50, hidden_size = 16, embedding_size = 8,
                  num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 32,
                  max_position_embeddings = 40 }
    local a = zl.bert.new(cfg, { seed = 3 })
    assert.is_nil(a:config().model_type_note)
    local dir = tmpdir()
    a:save(dir)
    cfg.model_type = nil
    zl.json.write(dir .. "/bert_config.json", cfg)
    local r = zl.bert.load(dir)
    local c = r:config()
    assert.are.equal("electra", c.model_type)
    assert.are.equal('ELECTRA: the config has no model_type, and the tensor names start with ' ..
      '"electra" (electra. or electra/)', c.model_type_note)
    for name, t in pairs(a:params()) do assert.are.equal(0, t:max_abs_diff(r:params()[name])) end
    -- the recipes' one line (qa_cli.say_gelu writes the model's notes to stderr)
    local lines, real = {}, io.stderr
    io.stderr = { write = function(_, s) lines[#lines + 1] = s end }
    local ok, err = pcall(require("zonelab.qa_cli").say_gelu, r, "m")
    io.stderr = real
    assert(ok, err)
    assert.are.equal("m: " .. c.model_type_note .. "\n", lines[1])
    os.remove(dir .. "/model.safetensors")
    os.remove(dir .. "/bert_config.json")
    os.remove(dir)
  end)

  it("names the tensor of a wrong-shape checkpoint and refuses bad input", function()
    local dir = tmpdir()
    m:save(dir)
    local params = zl.bert.load(dir):params()
    params["bert.encoder.layer.0.output.dense.weight"] = zl.tensor.new({ 32, 63 })
    zl.tensor.save(dir .. "/model.safetensors", params)
    local ok, err = pcall(zl.bert.load, dir)
    assert.is_false(ok)
    assert.truthy(err:find("bert.encoder.layer.0.output.dense.weight", 1, true))
    assert.truthy(err:find("[32,63]", 1, true))
    os.remove(dir .. "/model.safetensors")
    os.remove(dir .. "/bert_config.json")
    os.remove(dir)
    assert.has_error(function() m:forward(with { zone = "q3" }) end)
    assert.has_error(function() m:forward(with { zone = "q2", layer = 3 }) end)
    assert.has_error(function() m:forward { input_ids = inputs.input_ids, zone = "q2" } end)
    assert.has_error(function() m:forward { input_ids = zl.tensor.new({ 1, 4 }) } end)
    assert.has_error(function() zl.bert.new({ vocab_size = 10, hidden_size = 8 }) end)
    assert.has_error(function() zl.bert.load("/nonexistent/model") end)
  end)

  it("refuses unknown options by name and wrong types naming the option (1-based layers)", function()
    local function err_of(f)
      local ok, e = pcall(f)
      assert.is_false(ok)
      return tostring(e)
    end
    local e = err_of(function() m:forward { input_ids = inputs.input_ids, zonee = "p2q" } end)
    assert.truthy(e:find("forward: unknown option 'zonee' (did you mean 'zone'?)", 1, true), e)
    e = err_of(function() m:forward { input_ids = inputs.input_ids, colour = 1 } end)
    assert.truthy(e:find("unknown option 'colour'", 1, true), e)
    assert.falsy(e:find("did you mean", 1, true), e)
    -- issue 17's repros: a list where one layer goes, layer 0, heads without a mask
    e = err_of(function() m:forward(with { zone = "p2q", layer = { 1, 2 } }) end)
    assert.truthy(e:find("option 'layer' must be a layer number 1..2 or \"all\" (got table)", 1, true), e)
    e = err_of(function() m:forward(with { zone = "p2q", layer = 0 }) end)
    assert.truthy(e:find("option 'layer' must be a layer number 1..2", 1, true), e)
    e = err_of(function() m:forward(with { zone = "p2q", heads = { 1 } }) end)
    assert.truthy(e:find("'heads' and 'layers' restrict a mask", 1, true), e)
    e = err_of(function() m:forward(with { zone = "p2q", layers = { 1, 2 } }) end)
    assert.truthy(e:find("'heads' and 'layers' restrict a mask", 1, true), e)
    e = err_of(function() m:forward(with { attentions = "yes" }) end)
    assert.truthy(e:find("option 'attentions' must be a boolean (got string)", 1, true), e)
    e = err_of(function() m:forward(with { zone = 3 }) end)
    assert.truthy(e:find("option 'zone' must be one of", 1, true), e)
    e = err_of(function() zl.bert.new({ vocab_size = 10 }, { sed = 1 }) end)
    assert.truthy(e:find("bert.new: unknown option 'sed' (did you mean 'seed'?)", 1, true), e)
  end)

  it("has a golden runner that fails on a wrong expected array", function()
    if not HOST then error("the zonelab host path (arg[-1]) is unknown") end
    local dir = tmpdir()
    assert.is_true(os.execute("mkdir -p " .. dir .. " && cp -r tests/fixtures/fixtures.json tests/fixtures/tiny "
                              .. dir .. "/ && cp tests/golden.lua " .. dir .. "/"))
    -- the copy has no golden_grad.lua beside it: gradient/training cases are skipped
    local good = io.popen(HOST .. " " .. dir .. "/golden.lua " .. dir .. "/tiny 2>&1")
    local text = good:read("a")
    local ok, how, code = good:close()
    assert.is_true(ok, text)
    assert.truthy(text:find("21 passed, 0 failed, 2 skipped", 1, true))
    zl.io.write_atomic(dir .. "/tiny/cases/q2_l0/start_logits.f32.bin", string.rep("\0", 4 * B * S))
    local bad = io.popen(HOST .. " " .. dir .. "/golden.lua " .. dir .. "/tiny 2>&1")
    text = bad:read("a")
    ok, how, code = bad:close()
    assert.is_falsy(ok)
    assert.are.equal(1, code)
    assert.truthy(text:find('"case":"tiny/q2_l0"[^\n]*"ok":false'))
    assert.truthy(text:find("20 passed, 1 failed, 2 skipped", 1, true))
    os.execute("rm -rf " .. dir)
  end)
end)
