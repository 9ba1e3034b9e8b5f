-- zonelab.csv — the results CSV of the protocol (`layer,all,q2,q2p,p2q,p2`, one row per
-- layer, layers numbered from 1, values with 3 decimals) and plain CSV reading/writing.
-- Writes are atomic (zl.io.write_atomic). Errors name the file and the line.
--
--   local csv = require "zonelab.csv"
--   local t = csv.read_results("results.csv")   -- t.zones, t.rows[l].layer == l, t.rows[l].q2
--   csv.write_results("mean.csv", t)            -- same header, "%.3f", empty cell for nil
--
-- Fields are separated by commas and trimmed of surrounding blanks (the protocol's own
-- snippet writes "layer, all, q2"); quoting is not part of the format.
local zl = require "zonelab"

local M = {}

--- The zones of the protocol, in the column order of its tables and figures.
M.ZONES = { "all", "q2", "q2p", "p2q", "p2" }
local KNOWN = {}
for _, z in ipairs(M.ZONES) do KNOWN[z] = true end

--- A results table's metric from its file name: "f1" for results_f1.csv, f1_mean.csv or a
--- file in a folder named f1 (the stats recipe's F1 output), "em" likewise (or a name with
--- "exact"); nil when the name does not say (the sweep's results.csv is EM by convention).
function M.metric_of_name(path)
  local base = path:match("([^/]*)$"):lower():gsub("%.csv$", "")
  for _, m in ipairs({ "em", "f1" }) do
    for tok in base:gmatch("[^_%-%.]+") do
      if tok == m then return m end
    end
  end
  local dir = path:match("([^/]*)/[^/]*$")
  if dir and (dir:lower() == "em" or dir:lower() == "f1") then return dir:lower() end
  if base:find("exact", 1, true) then return "em" end
  return nil
end

local function fail(fmt, ...) error(string.format(fmt, ...), 0) end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

--- Reads a CSV file: returns header (list of names) and rows (lists of trimmed strings),
--- each row carrying `line` (its line number). Blank lines are skipped; every row must
--- have as many fields as the header.
function M.read(path)
  local text = zl.io.read(path)
  local header, rows, n = nil, {}, 0
  for raw in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local line = raw:gsub("\r$", "")
    if line:match("%S") then
      local fields = {}
      for f in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = trim(f) end
      if not header then
        header = fields
      else
        if #fields ~= #header then
          fail("%s:%d: %d fields, but the header has %d", path, n, #fields, #header)
        end
        fields.line = n
        rows[#rows + 1] = fields
      end
    end
  end
  if not header then fail("%s: empty file, expected a CSV header", path) end
  return header, rows
end

--- Parses one numeric cell; "" gives nil (a missing value). NaN and infinities are errors.
function M.number(s, path, line, column)
  if s == "" then return nil end
  local v = tonumber(s)
  if not v or v ~= v or v == math.huge or v == -math.huge or not s:match("^[%d%.eE+-]+$") then
    fail("%s:%d: column %s: '%s' is not a finite number", path, line, column, s)
  end
  return v
end

--- Reads a results CSV. Returns {zones = {...}, rows = {{layer = 1, all = v, ...}, ...},
--- path = path}. Layers must be consecutive whole numbers starting at 1, or at 0 (a
--- 0-based file, renumbered from 1). Empty cells are nil.
function M.read_results(path)
  local header, rows = M.read(path)
  if header[1]:lower() ~= "layer" then
    fail("%s:1: the first column must be 'layer', got '%s'", path, header[1])
  end
  local zones, seen = {}, {}
  for i = 2, #header do
    local z = header[i]:lower()
    if not KNOWN[z] then
      fail("%s:1: unknown zone column '%s' (expected some of %s)", path, header[i],
        table.concat(M.ZONES, ", "))
    end
    if seen[z] then fail("%s:1: zone column '%s' appears twice", path, z) end
    seen[z] = true
    zones[#zones + 1] = z
  end
  if #rows == 0 then fail("%s: no data rows", path) end
  local out, first = {}, nil
  for i, r in ipairs(rows) do
    local l = tonumber(r[1])
    if not l or l ~= math.floor(l) then
      fail("%s:%d: layer '%s' is not a whole number", path, r.line, r[1])
    end
    first = first or l
    if first ~= 0 and first ~= 1 then
      fail("%s:%d: layers must start at 1 (or 0 for a 0-based file), got %s", path, r.line, r[1])
    end
    if l ~= first + i - 1 then
      fail("%s:%d: layer %s out of order (expected %d)", path, r.line, r[1], first + i - 1)
    end
    local row = { layer = i }
    for c, z in ipairs(zones) do row[z] = M.number(r[c + 1], path, r.line, z) end
    out[i] = row
  end
  return { zones = zones, rows = out, path = path, zero_based = first == 0 }
end

--- Formats a cell: nil -> "", numbers with fmt (default "%.3f"), strings as they are.
local function cell(v, fmt)
  if v == nil then return "" end
  if type(v) == "number" then return string.format(fmt or "%.3f", v) end
  local s = tostring(v)
  if s:find("[,\n\r]") then fail("csv: cell '%s' contains a comma or a line break", s) end
  return s
end

--- Writes a generic CSV atomically: header (list of names), rows (lists of cells).
function M.write(path, header, rows, fmt)
  local lines = { table.concat(header, ",") }
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, #header do cells[i] = cell(r[i], fmt) end
    lines[#lines + 1] = table.concat(cells, ",")
  end
  zl.io.write_atomic(path, table.concat(lines, "\n") .. "\n")
end

--- Writes a results table ({zones = ..., rows = {{layer =, zone = value}}}) with the
--- layer column from 1 and values rounded to 3 decimals (or fmt).
function M.write_results(path, t, fmt)
  local zones = t.zones or M.ZONES
  local header = { "layer" }
  for _, z in ipairs(zones) do header[#header + 1] = z end
  local rows = {}
  for i, r in ipairs(t.rows) do
    local row = { tostring(i) }
    for c, z in ipairs(zones) do row[c + 1] = r[z] end -- nil cells keep their column
    rows[i] = row
  end
  M.write(path, header, rows, fmt)
end

return M
