-- zonelab.json and zonelab.io: decoding, sorted encoding, atomic writing, errors.
local zl = require "zonelab"
local json = zl.json

describe("zonelab.json", function()
  it("encodes objects with sorted keys and shortest floats", function()
    assert.are.equal('{"a":1,"b":[1,2.5],"c":"x\\"y\\n"}', json.encode({c = 'x"y\n', b = {1, 2.5}, a = 1}))
    assert.are.equal("80.567", json.encode(80.567))
    assert.are.equal("86.20624408703878", json.encode(86.20624408703878))
    assert.are.equal("1.0", json.encode(1.0))
    -- laid out as Python's repr (the official scripts' outputs)
    assert.are.equal("50.0", json.encode(50.0))
    assert.are.equal("100.0", json.encode(100.0))
    assert.are.equal("0.0001", json.encode(0.0001))
    assert.are.equal("1.5e-05", json.encode(1.5e-05))
    assert.are.equal("1e+16", json.encode(1e16))
    assert.are.equal("0.3333333333333333", json.encode(1 / 3))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("{}", json.encode({}))
    assert.are.equal("null", json.encode(json.null))
  end)

  it("writes every score as Python's repr (json.float, the encoder, train and evaluate agree)", function()
    for _, c in ipairs {
      { 75, "75.0" }, { 91.666666666666657, "91.66666666666666" }, { 86.20624408703878, "86.20624408703878" },
      { 100.0, "100.0" }, { 0, "0.0" }, { -0.0, "-0.0" }, { 1e-5, "1e-05" }, { 1e-4, "0.0001" },
      { 1e16, "1e+16" }, { 1234567890123456.0, "1234567890123456.0" }, { -2.5, "-2.5" },
      { 1 / 3, "0.3333333333333333" }, { 0 / 0, "NaN" }, { math.huge, "Infinity" }, { -math.huge, "-Infinity" },
    } do
      assert.are.equal(c[2], json.float(c[1]))
      if c[1] == c[1] and math.abs(c[1]) < math.huge then
        assert.are.equal(c[2], json.encode(math.type(c[1]) == "integer" and c[1] + 0.0 or c[1]))
      end
    end
    local scoring = require "zonelab.scoring"
    assert.are.equal('{"exact_match": 75.0, "f1": 91.66666666666666}',
      scoring.line { exact_match = 75.0, f1 = 91.666666666666657 })
    assert.has_error(function() json.float("x") end)
  end)

  it("round-trips arrays, nulls and UTF-8", function()
    local v = json.decode('{"x":[1,2.5,{"y":null}],"s":"\\u00e9\\u4e2d","e":[]}')
    assert.are.equal(2.5, v.x[2])
    assert.are.equal(json.null, v.x[3].y)
    assert.are.equal("é中", v.s)
    assert.are.equal('{"e":[],"s":"é中","x":[1,2.5,{"y":null}]}', json.encode(v))
  end)

  it("names the file and line of bad JSON", function()
    local p = os.tmpname()
    zl.io.write_atomic(p, '{\n"a": 1,\n}')
    local ok, err = pcall(json.read, p)
    assert.is_false(ok)
    assert.matches(p .. ": invalid JSON at line 3", err, 1, true)
    zl.io.write_atomic(p, "\239\187\191{}")
    ok, err = pcall(json.read, p)
    assert.matches("byte%-order mark", err)
    zl.io.write_atomic(p, "")
    ok, err = pcall(json.read, p)
    assert.matches("empty file", err)
    os.remove(p)
  end)

  it("judges JSON as Python's json.load does", function()
    local function err(s)
      local ok, e = pcall(json.decode, s, "f.json")
      assert.is_false(ok)
      return e
    end
    assert.matches("f.json: unexpected text after the JSON value at line 2", err('{"a":1}\n{}'), 1, true)
    assert.matches("control character 0x00 inside a string", err('{"q":"c\0at"}'), 1, true)
    assert.matches("control character 0x0a inside a string", err('{"q":"c\nat"}'), 1, true)
    assert.matches("invalid UTF-8 at line 1 (byte 7)", err('{"q":"\255"}'), 1, true)
    assert.matches("invalid UTF-8", err('{"q":"\237\160\128"}'), 1, true) -- a surrogate
    assert.matches("truncated JSON", err('{"q": ["a", '), 1, true)
    assert.matches("invalid escape in a string at line 1 (byte 10)", err('{"q":"cat\\u00zz"}'), 1, true)
    assert.matches("invalid escape", err('{"q":"a\\x"}'), 1, true)
    assert.matches("\\u0000 (a NUL character) in a string at line 1 (byte 8)", err('{"q":"a\\u0000"}'), 1, true)
    assert.matches("lone surrogate \\udc00", err('["\\udc00"]'), 1, true)
    assert.matches("NaN at line 1 (byte 6)", err('{"a":NaN}'), 1, true)
    assert.matches("-Infinity at line 1 (byte 2)", err('[-Infinity]'), 1, true)
    -- a repeated key takes its last value, as json.load's dict
    assert.are.same({ a = 3, b = 2 }, json.decode('{"a":1,"b":2,"a":3}'))
    -- the byte after a backslash is checked too (a fuzzer found it skipped)
    assert.matches("invalid escape", err('{"a":"\\\228Ae00"}'), 1, true)
    assert.are.equal("é/\"", json.decode('"\\u00e9\\/\\""'))
    assert.are.same({ q = "a\tb" }, json.decode('{"q":"a\\tb"}  \n'))
  end)

  it("writes atomically and reads back", function()
    local p = os.tmpname()
    json.write(p, {q1 = "Denver Broncos"})
    assert.are.equal('{"q1":"Denver Broncos"}\n', zl.io.read(p))
    assert.are.same({q1 = "Denver Broncos"}, json.read(p))
    os.remove(p)
    assert.has_error(function() json.write("/nonexistent-dir/p.json", {}) end)
  end)

  it("reads zl.io.lock's options as every binding does (unknown keys and wrong types refused)", function()
    local d = os.tmpname()
    os.remove(d)
    os.execute("mkdir '" .. d .. "'")
    local e = select(2, pcall(zl.io.lock, d, { nmae = ".lock-x" }))
    assert.truthy(tostring(e):find("io.lock: unknown option 'nmae'", 1, true), e)
    e = select(2, pcall(zl.io.lock, d, { shared = 1 }))
    assert.truthy(tostring(e):find("io.lock: option 'shared' must be a boolean (got number)", 1, true), e)
    local k = zl.io.lock(d, { name = ".lock-x", shared = true })
    assert.are.equal("run folder lock: " .. d .. " (held)", tostring(k))
    k:close()
    assert.are.equal("run folder lock: " .. d .. " (released)", tostring(k))
    os.execute("rm -rf '" .. d .. "'")
  end)

  it("refuses values JSON cannot hold", function()
    assert.has_error(function() json.encode({f = print}) end)
    assert.has_error(function() json.encode(0 / 0) end)
    local t = {}; t.self = t
    assert.has_error(function() json.encode(t) end)
  end)

  it("survives deeply nested input", function()
    local deep = string.rep("[", 100000) .. string.rep("]", 100000)
    local ok = pcall(json.decode, deep)
    assert.is_false(ok)
  end)
end)
