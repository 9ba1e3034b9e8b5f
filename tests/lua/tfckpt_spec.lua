-- zonelab.tfckpt: listing the real Chinese BERT index, save/load round trips from Lua,
-- and errors that name the file and the problem.
local zl = require "zonelab"

local real_data = require "real_data"
local real = real_data.dir .. "/tf_chinese_bert"
local function have_real() return real_data.find("tf_chinese_bert/bert_model.ckpt.index") ~= nil end

local function tmpdir()
  local base = os.tmpname()
  os.remove(base)
  assert(require("lfs").mkdir(base))
  return base
end

local function rmtree(dir)
  local lfs = require "lfs"
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then os.remove(dir .. "/" .. name) end
  end
  lfs.rmdir(dir)
end

describe("zonelab.tfckpt", function()
  it("lists the real Chinese BERT index, sorted, with shapes", function()
    if not have_real() then return end
    local list = zl.tfckpt.list(real .. "/bert_model.ckpt")
    assert.are.equal(206, #list)
    local by = {}
    for i, t in ipairs(list) do
      by[t.name] = t
      if i > 1 then assert.is_true(list[i - 1].name < t.name) end
      assert.are.equal("F32", t.dtype)
    end
    assert.are.same({21128, 768}, by["bert/embeddings/word_embeddings"].shape)
    assert.are.same({768, 3072}, by["bert/encoder/layer_11/intermediate/dense/kernel"].shape)
    assert.are.same({3072, 768}, by["bert/encoder/layer_0/output/dense/kernel"].shape)
    assert.are.same({2}, by["cls/seq_relationship/output_bias"].shape)
    assert.are.equal("bert/embeddings/LayerNorm/beta", list[1].name)
    assert.are.equal("cls/seq_relationship/output_weights", list[#list].name)
    -- the folder and the .index name the same checkpoint
    assert.are.equal(206, #zl.tfckpt.list(real))
    assert.are.equal(206, #zl.tfckpt.list(real .. "/bert_model.ckpt.index"))
    -- the weights are not shipped: loading them names the missing shard
    local ok, err = pcall(zl.tfckpt.load, real .. "/bert_model.ckpt")
    assert.is_false(ok)
    assert.matches("bert_model.ckpt.data-00000-of-00001: cannot open data shard 0 of 1", err, 1, true)
  end)

  it("saves and loads tensors of several dtypes and shapes unchanged", function()
    local dir = tmpdir()
    local T = zl.tensor
    local src = {
      ["bert/pooler/dense/kernel"] = T.randn({3, 4}, 7),
      ["ids"] = T.from({1, -2, 300000, 4}, {4}, "i32"),
      ["scalar"] = T.from({2.5}, {}),
      ["empty"] = T.new({0, 3}),
      ["empty_i"] = T.new({2, 0}, "i32"),
    }
    zl.tfckpt.save(dir .. "/m.ckpt", src)
    local back = zl.tfckpt.load(dir .. "/m.ckpt")
    local n = 0
    for name, t in pairs(back) do
      n = n + 1
      assert.are.same(src[name]:shape(), t:shape())
      assert.are.equal(src[name]:dtype(), t:dtype())
      if t:numel() > 0 then assert.are.equal(0, t:max_abs_diff(src[name])) end
    end
    assert.are.equal(5, n)
    assert.are.equal(300000, back.ids:get(3))
    assert.are.equal(2.5, back.scalar:get())
    local list = zl.tfckpt.list(dir)
    assert.are.same({"bert/pooler/dense/kernel", "empty", "empty_i", "ids", "scalar"},
      {list[1].name, list[2].name, list[3].name, list[4].name, list[5].name})
    assert.are.same({name = "ids", dtype = "I32", shape = {4}}, list[4])
    assert.are.same({}, list[5].shape)
    rmtree(dir)
  end)

  it("raises errors naming the file and the problem", function()
    local dir = tmpdir()
    zl.tfckpt.save(dir .. "/m.ckpt", {w = zl.tensor.randn({8}, 1)})
    local ok, err = pcall(zl.tfckpt.save, dir .. "/x.ckpt", {w = 3})
    assert.is_false(ok)
    assert.matches("expected a table of name = tensor", err, 1, true)

    local f = assert(io.open(dir .. "/m.ckpt.index", "rb"))
    local good = f:read("a")
    f:close()
    zl.io.write_atomic(dir .. "/m.ckpt.index", good:sub(1, -2) .. "\0")
    ok, err = pcall(zl.tfckpt.list, dir .. "/m.ckpt")
    assert.is_false(ok)
    assert.matches(dir .. "/m.ckpt.index: bad magic number", err, 1, true)

    zl.io.write_atomic(dir .. "/m.ckpt.index", "\1" .. good:sub(2))
    ok, err = pcall(zl.tfckpt.list, dir .. "/m.ckpt.index")
    assert.is_false(ok)
    assert.matches("bad crc32c", err, 1, true)

    zl.io.write_atomic(dir .. "/m.ckpt.index", good)
    zl.io.write_atomic(dir .. "/m.ckpt.data-00000-of-00001", string.rep("\0", 31))
    ok, err = pcall(zl.tfckpt.load, dir)
    assert.is_false(ok)
    assert.matches("m.ckpt.data-00000-of-00001: tensor w needs bytes [0, 32) but the file has 31", err, 1, true)

    ok, err = pcall(zl.tfckpt.list, dir .. "/none.ckpt")
    assert.is_false(ok)
    assert.matches("none.ckpt.index: cannot open", err, 1, true)
    rmtree(dir)
  end)
end)
