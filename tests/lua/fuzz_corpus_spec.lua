-- fuzz_corpus_spec.lua — replays tests/fuzz/corpus/csv (the fuzz_csv seeds and every
-- input the fuzzer kept or crashed on) through stdlib/zonelab/csv.lua with the fuzz
-- target's oracle, in the ordinary build: the reader returns, or raises a message that
-- starts with the file name; an accepted table has layers 1..n and finite cells.
-- (tests/core/test_regressions.c does the same for the C parsers.)
local csv = require "zonelab.csv"
local lfs = require "lfs"
local zl = require "zonelab"

local DIR = "tests/fuzz/corpus/csv"

describe("the csv fuzz corpus", function()
  local files = {}
  for name in lfs.dir(DIR) do
    if name:sub(1, 1) ~= "." then files[#files + 1] = name end
  end
  table.sort(files)

  it("holds the seeds", function()
    assert.is_true(#files >= 3)
  end)

  it("is read or refused cleanly, input by input", function()
    local tmp = os.tmpname()
    local accepted = 0
    for _, name in ipairs(files) do
      zl.io.write_atomic(tmp, zl.io.read(DIR .. "/" .. name))
      local ok, t = pcall(csv.read_results, tmp)
      if ok then
        accepted = accepted + 1
        for i, r in ipairs(t.rows) do
          assert.are.equal(i, r.layer, name)
          for _, z in ipairs(t.zones) do
            local v = r[z]
            assert.is_true(v == nil or (v == v and v ~= math.huge and v ~= -math.huge), name)
          end
        end
      else
        assert.are.equal("string", type(t), name)
        assert.are.equal(tmp, t:sub(1, #tmp), name .. ": " .. t)
      end
    end
    os.remove(tmp)
    -- the published results seed is a valid table
    assert.is_true(accepted >= 1)
  end)
end)
