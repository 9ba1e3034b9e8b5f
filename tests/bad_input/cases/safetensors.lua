-- safetensors files: headers through the inspect recipe; tensors that do not fit the
-- config through the model loader.
local H = ...
local function inspect(content, expect, extra)
  local c = { recipe = "inspect", args = { "w.safetensors" }, names = "w.safetensors",
    expect = expect, files = { ["w.safetensors"] = content } }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
local function named(name, c) c.name = "safetensors: " .. name; return c end
local function hdr(h, data, claim) return function() return H.safetensors_raw(h, data, claim) end end
local D16 = string.rep("\0", 16)

-- A model folder whose weights have one tensor changed by mutate(map) (a {name = tensor}
-- table from zl.tensor.load), saved back with zl.tensor.save.
local function model_with(mutate)
  return function()
    local zl = require "zonelab"
    local files = H.model_files()
    local tmp = os.tmpname()
    local f = assert(io.open(tmp, "wb")); f:write(files["model.safetensors"]); f:close()
    local map = zl.tensor.load(tmp)
    mutate(map, zl)
    zl.tensor.save(tmp, map)
    f = assert(io.open(tmp, "rb")); local s = f:read("a"); f:close()
    os.remove(tmp)
    return s
  end
end
local function load_case(name, mutate, expect)
  return { name = "safetensors: " .. name, code = 'require("zonelab").bert.load("m")',
    names = "m/model.safetensors", expect = expect,
    files = { ["m/"] = true, ["m/bert_config.json"] = H.config(),
      ["m/model.safetensors"] = model_with(mutate) } }
end

return {
  named("empty file", inspect("", "short")),
  named("shorter than the length prefix", inspect("\1\0\0", "short")),
  named("header length larger than the file", inspect(hdr('{}', "", 4096), "header")),
  named("a 1 GB header length claim", inspect(hdr('{}', "", 1 << 30), "header")),
  named("a 2^63 header length claim", inspect(hdr('{}', "", math.mininteger), "header")),
  named("header not JSON", inspect(hdr('{"w": [1, 2', D16), "json")),
  named("header not an object", inspect(hdr('[1, 2]', D16), "object")),
  named("offsets out of range", inspect(hdr('{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,64]}}', D16), "w")),
  named("offsets reversed", inspect(hdr('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', D16), "w")),
  named("offsets overlapping", inspect(hdr('{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},' ..
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', D16 .. string.rep("\0", 8)), "overlap")),
  named("offsets unaligned", inspect(hdr('{"w":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}', D16), "w")),
  named("size disagrees with the shape", inspect(hdr('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}', D16), "w")),
  named("unknown dtype", inspect(hdr('{"w":{"dtype":"F31","shape":[4],"data_offsets":[0,16]}}', D16), "dtype")),
  named("shape product overflowing", inspect(hdr('{"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}}', D16), "w")),
  named("negative dimension", inspect(hdr('{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}', D16), "w")),
  named("shape not an array", inspect(hdr('{"w":{"dtype":"F32","shape":4,"data_offsets":[0,16]}}', D16), "shape")),
  named("data_offsets missing", inspect(hdr('{"w":{"dtype":"F32","shape":[4]}}', D16), "data_offsets")),
  named("duplicate tensor names", inspect(hdr('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},' ..
    '"w":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}', D16 .. D16), "w")),
  named("data truncated", inspect(function() return H.safetensors_ok():sub(1, -5) end, "w")),
  load_case("a tensor the config needs is missing", function(map)
    map["bert.encoder.layer.1.attention.self.key.weight"] = nil
  end, "bert.encoder.layer.1.attention.self.key.weight"),
  load_case("a tensor wrongly shaped for the config", function(map, zl)
    map["bert.encoder.layer.0.intermediate.dense.weight"] = zl.tensor.new({ 16, 9 })
  end, "bert.encoder.layer.0.intermediate.dense.weight"),
  load_case("the word embeddings for another vocabulary", function(map, zl)
    map["bert.embeddings.word_embeddings.weight"] = zl.tensor.new({ 30522, 8 })
  end, "word_embeddings"),
  -- no silent wrong results (issue 16): NaN weights would decode one fixed span everywhere
  load_case("NaN and infinite weights", function(map)
    local t = map["bert.encoder.layer.0.output.dense.bias"]
    t:set(1, 0 / 0)
    t:set(2, -math.huge)
  end, "bert.encoder.layer.0.output.dense.bias has 2 non%-finite values"),
  named("an empty tensor between two overlapping ones", inspect(hdr(
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z":{"dtype":"F32","shape":[0],' ..
    '"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}', D16), "a and b overlap")),
  named("a duplicate name at the same offsets", inspect(hdr('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},' ..
    '"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', D16), "w appears twice")),
}
