-- zonelab.shard: the split is a partition (every configuration or question in exactly one
-- shard, in order), deterministic, and the question subset keeps the file's structure.
local shard = require "zonelab.shard"

describe("zonelab.shard", function()
  it("parses I/N and refuses the rest", function()
    local i, n = shard.parse("2/8")
    assert.are.same({ 2, 8 }, { i, n })
    for _, bad in ipairs { "0/3", "4/3", "x", "2", "1/0", "-1/3" } do
      local ok, err = pcall(shard.parse, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("is not I/N", 1, true), bad)
    end
  end)

  it("deals configurations round-robin: a partition of 1..K", function()
    for _, case in ipairs { { 61, 1 }, { 61, 7 }, { 61, 61 }, { 11, 3 } } do
      local k, n = case[1], case[2]
      local owner = {}
      for i = 1, n do
        local p = shard.plan(k, 100, i, n)
        assert.are.equal("configs", p.split)
        for _, c in ipairs(p.configs) do
          assert.is_nil(owner[c]); owner[c] = i
          assert.are.equal(i, (c - 1) % n + 1)
        end
      end
      for c = 1, k do assert.is_not_nil(owner[c]) end
    end
    assert.are.same({ 1, 4, 7, 10 }, shard.plan(11, 10, 1, 3).configs)
  end)

  it("splits questions into contiguous ranges when shards outnumber configurations", function()
    local next_q = 1
    for i = 1, 4 do
      local p = shard.plan(2, 10, i, 4)
      assert.are.equal("questions", p.split)
      assert.are.equal(next_q, p.first)
      next_q = p.last + 1
    end
    assert.are.equal(11, next_q)
    local p = shard.plan(61, 10, 2, 3, "questions")
    assert.are.same({ 4, 6 }, { p.first, p.last })
    assert.has_error(function() shard.plan(2, 10, 1, 11) end)
    assert.has_error(function() shard.plan(3, 10, 1, 4, "configs") end)
  end)

  it("keeps questions first..last of a SQuAD file", function()
    local json = { version = "1.1", data = {
      { title = "A", paragraphs = { { context = "a", qas = { { id = "1" }, { id = "2" } } },
                                    { context = "b", qas = { { id = "3" } } } } },
      { title = "B", paragraphs = { { context = "c", qas = { { id = "4" }, { id = "5" } } } } } } }
    assert.are.equal(5, shard.count_questions(json))
    local s = shard.subset(json, 2, 4)
    assert.are.equal(3, shard.count_questions(s))
    assert.are.equal("1.1", s.version)
    assert.are.equal("2", s.data[1].paragraphs[1].qas[1].id)
    assert.are.equal("a", s.data[1].paragraphs[1].context)
    assert.are.equal("3", s.data[1].paragraphs[2].qas[1].id)
    assert.are.equal("B", s.data[2].title)
    assert.are.same({ { id = "4" } }, s.data[2].paragraphs[1].qas)
    assert.are.equal(0, #shard.subset(json, 6, 9).data)
    -- the input is not modified
    assert.are.equal(2, #json.data[1].paragraphs[1].qas)
  end)

  it("hashes files with sha256", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "wb")); f:write("abc"); f:close()
    assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      shard.sha256_files({ path })[path])
    os.remove(path)
    assert.has_error(function() shard.sha256_files({ path }) end)
  end)
end)
