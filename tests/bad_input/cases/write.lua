-- Write errors (a full disk): simulated with a file size limit (`ulimit -f`, SIGXFSZ
-- ignored), so every write past the limit fails with EFBIG. The error must name the
-- output, and neither the output nor its temporary file may be left behind.
local H = ...
local function big_squad(n)
  local qas = {}
  for i = 1, n do
    qas[i] = string.format('{"id": "q%d", "question": "What sat on the mat?", ' ..
      '"answers": [{"answer_start": 4, "text": "cat"}]}', i)
  end
  return H.squad_with(table.concat(qas, ", "))
end

return {
  { name = "write: features output hits a full disk", recipe = "features", file_limit_kb = 8,
    args = { "--vocab", "v.txt", "--input", "dev.json", "--out", "out/f.jsonl" },
    files = { ["v.txt"] = H.vocab(), ["dev.json"] = function() return big_squad(60) end, ["out/"] = true },
    names = "out/f.jsonl", expect = "write" },
  { name = "write: stats output hits a full disk", recipe = "stats", file_limit_kb = 1,
    args = { "--runs", "r.csv", "--out", "out" },
    files = { ["r.csv"] = function()
      local rows = { "layer,all,q2,q2p,p2q,p2" }
      for l = 1, 200 do rows[#rows + 1] = string.format("%d,80.123,79.5,80.0,78.2,66.9", l) end
      return table.concat(rows, "\n") .. "\n"
    end }, names = "out/", expect = "write" },
}
