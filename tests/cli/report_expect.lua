-- report_expect.lua RUN — recomputes what recipes/protocol.lua's RUN/report.md says about
-- the spread over seeds and the bootstrap, from the seeds' own files (sweep results,
-- baseline.json, per-question scores), and compares. Used by tests/cli/protocol.sh and
-- tests/cli/demo_learns.sh. Prints one line per check: NAME<TAB>ok, or NAME<TAB>what differs.
--   - std.csv / std_diff.csv tables (EM and F1): every row, the sample std over seeds of the
--     cell and of (cell - that seed's baseline), 3 decimals, under the line naming the file;
--   - the bootstrap: seed 1's per-question EM, masked - baseline, paired bootstrap (1000
--     resamples, seed 1, 95%) per cell: one "- layer L, ZONE: ..." line per significant
--     cell, nothing else, and the summary's counts.
local zl = require "zonelab"
local stats = require "zonelab.stats"
local run = assert(arg[1], "usage: report_expect.lua RUN")

local function say(name, ok, detail)
  print(name .. "\t" .. (ok and "ok" or (detail or "differs"):gsub("\n", " / ")))
end

local f = assert(io.open(run .. "/report.md"))
local report = {}
for line in f:lines() do report[#report + 1] = line end
f:close()

-- the seeds' tables, read plainly (layer,all,q2,...; layers from 1)
local function read_table(path)
  local rows, header = {}, nil
  for line in io.lines(path) do
    local cells = {}
    for c in line:gmatch("[^,]+") do cells[#cells + 1] = c end
    if not header then header = cells else rows[#rows + 1] = cells end
  end
  return header, rows
end
local seeds = {}
while true do
  local dir = string.format("%s/seed%d/sweep", run, #seeds + 1)
  local fh = io.open(dir .. "/baseline.json")
  if not fh then break end
  fh:close()
  seeds[#seeds + 1] = dir
end
assert(#seeds >= 1, run .. ": no seed1/sweep/baseline.json")

-- the table right after the line naming `file` (a blank line between)
local function table_after(file)
  for i, line in ipairs(report) do
    if line:find("`" .. file .. "`", 1, true) and line:find("Sample standard deviation", 1, true) then
      local rows, j = {}, i + 4 -- blank, header, separator
      while report[j] and report[j]:match("^| %d") do
        rows[#rows + 1] = report[j]
        j = j + 1
      end
      return rows
    end
  end
end

if #seeds >= 2 then
  for _, m in ipairs { { "results.csv", "exact_match", "stats/" }, { "results_f1.csv", "f1", "stats/f1/" } } do
    local tables, bases, header = {}, {}, nil
    for i, dir in ipairs(seeds) do
      local rows
      header, rows = read_table(dir .. "/" .. m[1])
      tables[i] = rows
      bases[i] = zl.json.read(dir .. "/baseline.json")[m[2]]
    end
    for _, kind in ipairs { "std", "std_diff" } do
      local want = {}
      for l, row in ipairs(tables[1]) do
        local cells = { row[1] }
        for c = 2, #header do
          local xs = {}
          for i = 1, #seeds do
            xs[i] = tonumber(tables[i][l][c]) - (kind == "std_diff" and bases[i] or 0)
          end
          cells[#cells + 1] = string.format("%.3f", stats.std(xs))
        end
        want[l] = "| " .. table.concat(cells, " | ") .. " |"
      end
      local file = m[3] .. kind .. ".csv"
      local got = table_after(file)
      local ok = got and table.concat(got, "\n") == table.concat(want, "\n")
      say("report " .. file, ok, string.format("expected\n%s\ngot\n%s", table.concat(want, "\n"),
        got and table.concat(got, "\n") or "(no table under a line naming " .. file .. ")"))
    end
  end
end

-- the bootstrap of seed 1
local pq = run .. "/seed1/per_question"
local function scores(path)
  local t = zl.json.read(path).questions
  return t
end
local base = scores(pq .. "/per_question.json")
local ids = {}
for id in pairs(base) do ids[#ids + 1] = id end
table.sort(ids)
local b = {}
for i, id in ipairs(ids) do b[i] = base[id][1] end
local header = read_table(seeds[1] .. "/results.csv")
local nlayers = #select(2, read_table(seeds[1] .. "/results.csv"))
local want, cells = {}, 0
for l = 1, nlayers do
  for c = 2, #header do
    local z = header[c]
    local m = scores(string.format("%s/per_question_layer%d_%s.json", pq, l - 1, z))
    local a = {}
    for i, id in ipairs(ids) do a[i] = m[id][1] end
    local ci = stats.paired_bootstrap(a, b, { resamples = 1000, seed = 1 })
    cells = cells + 1
    if ci.significant then
      -- through significance.csv's 4 decimals, as the report reads them (no double-rounding
      -- mismatch at a last digit of 5)
      local function r4(x) return tonumber(string.format("%.4f", x)) end
      want[#want + 1] = string.format("- layer %d, %s: %+.2f EM points (95%% interval %+.2f to %+.2f)",
        l, z, r4(ci.diff), r4(ci.lo), r4(ci.hi))
    end
  end
end
local got = {}
for _, line in ipairs(report) do
  if line:match("^%- layer ") then got[#got + 1] = line end
end
say("report bootstrap lines (" .. #want .. ")", table.concat(got, "\n") == table.concat(want, "\n"),
  string.format("expected\n%s\ngot\n%s", table.concat(want, "\n"), table.concat(got, "\n")))
local summary = #want == 0 and string.format("none of the %d cells differs from the baseline.", cells)
  or string.format("%d of the %d cells differ%s from the baseline:", #want, cells, #want == 1 and "s" or "")
local found = false
for _, line in ipairs(report) do
  if line:find(string.format("Paired bootstrap over the %d dev questions of seed 1", #ids), 1, true)
    and line:sub(-#summary) == summary then found = true end
end
say("report bootstrap summary", found, "no line 'Paired bootstrap over the " .. #ids ..
  " dev questions of seed 1 ...: " .. summary .. "'")
