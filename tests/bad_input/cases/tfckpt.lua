-- TensorFlow 1.x checkpoints: the index through the inspect recipe, the data shards
-- through the loader (zl.tfckpt.load, which the model loader uses for TF checkpoints).
local H = ...
local cache
local function ckpt()
  if not cache then cache = { H.tf_checkpoint() } end
  return cache[1], cache[2]
end
local DATA = "m.ckpt.data-00000-of-00001"
local function index_case(name, make, expect)
  return { name = "tf: " .. name, recipe = "inspect", args = { "m.ckpt.index" },
    names = "m.ckpt.index", expect = expect,
    files = { ["m.ckpt.index"] = function() return make((ckpt())) end,
      [DATA] = function() return select(2, ckpt()) end } }
end
local LOAD = 'require("zonelab").tfckpt.load("m.ckpt")'

return {
  index_case("empty index", function() return "" end, "short"),
  index_case("bad magic", function(ix) return H.poke(ix, #ix) end, "magic"),
  index_case("truncated to its footer", function(ix) return ix:sub(-48) end, "block"),
  index_case("truncated block (a data block cut)", function(ix) return ix:sub(1, 20) .. ix:sub(-48) end, "truncated"),
  index_case("bad crc32c in the first block", function(ix) return H.poke(ix, 3) end, "crc"),
  index_case("footer handle pointing past the end", function(ix)
    -- the footer starts with the metaindex handle (varint offset, varint size): make the
    -- size huge with a 5-byte varint
    local f = #ix - 47
    return ix:sub(1, f - 1) .. "\0\255\255\255\255\15" .. ix:sub(f + 6)
  end, "past the end"),
  index_case("random bytes ending in the magic", function(ix)
    local t = {}
    for i = 1, 200 do t[i] = string.char((i * 73 + 11) % 256) end
    return table.concat(t) .. ix:sub(-8)
  end, "block"),
  { name = "tf: data file shorter than an entry", code = LOAD, names = DATA, expect = "truncated",
    files = { ["m.ckpt.index"] = function() return (ckpt()) end,
      [DATA] = function() local _, d = ckpt(); return d:sub(1, #d - 4) end } },
  { name = "tf: bad crc32c of tensor data", code = LOAD, names = "bert/", expect = "crc",
    files = { ["m.ckpt.index"] = function() return (ckpt()) end,
      [DATA] = function() local _, d = ckpt(); return H.poke(d, 2) end } },
  { name = "tf: missing shard", code = LOAD, names = DATA, expect = "cannot open",
    files = { ["m.ckpt.index"] = function() return (ckpt()) end } },
  { name = "tf: no checkpoint at the prefix", code = LOAD, names = "m.ckpt", expect = "cannot open" },
}
