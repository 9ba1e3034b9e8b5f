-- zonelab.repl — what the `zonelab` REPL adds to Lua's own: help() over docs/lua-api.md
-- (the host embeds the page at build time and passes it to install), values shown
-- readably, and the candidates of Tab completion. The host (lua/main.c) owns the line
-- editing, Ctrl-C and the history; everything here is plain Lua that never calls a
-- metamethod it was not asked to (rawget, next), so it cannot disturb the objects.
local M = {}

-- An object's method table: its metatable's __index when that is a table, else its
-- __methods (a type whose __index is a function, such as the tensor's for t[i]).
local function method_table(mt)
  if type(mt) ~= "table" then return nil end
  local idx = rawget(mt, "__index")
  if type(idx) == "table" then return idx end
  local m = rawget(mt, "__methods")
  return type(m) == "table" and m or nil
end


local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
  "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local is_keyword = {}
for _, k in ipairs(KEYWORDS) do is_keyword[k] = true end

local function zonelab()
  local ok, zl = pcall(require, "zonelab")
  return ok and type(zl) == "table" and zl or {}
end

-- ---------------------------------------------------------------- the page

-- Splits a table row "| `a | b` | c \| d |" into cells, honouring code spans and "\|".
local function split_row(line)
  local cells, cur, code = {}, {}, false
  local body = line:gsub("^%s*|", ""):gsub("|%s*$", "")
  local i = 1
  while i <= #body do
    local c = body:sub(i, i)
    if c == "\\" and body:sub(i + 1, i + 1) == "|" then
      cur[#cur + 1] = "|"; i = i + 1
    elseif c == "`" then
      code = not code; cur[#cur + 1] = c
    elseif c == "|" and not code then
      cells[#cells + 1] = table.concat(cur):match("^%s*(.-)%s*$"); cur = {}
    else
      cur[#cur + 1] = c
    end
    i = i + 1
  end
  cells[#cells + 1] = table.concat(cur):match("^%s*(.-)%s*$")
  return cells
end

-- The page as sections {title, keys = {zonelab.X = true}, intro = {paragraphs}, entries}.
-- An entry is a table row {head = first cell, cells} or a paragraph {head = its first
-- code span, text}; `head` is where a name is defined, the rest only mentions it.
local function parse(doc)
  local sections = {}
  local sec = { title = "Lua API", keys = {}, intro = {}, entries = {} }
  sections[1] = sec
  local para = nil
  local function flush()
    if para then
      local text = table.concat(para, " ")
      local e = { kind = "para", text = text, head = text:match("`([^`]+)`") or "", section = sec }
      if #sec.entries == 0 and not sec.seen_table then sec.intro[#sec.intro + 1] = text end
      sec.entries[#sec.entries + 1] = e
      para = nil
    end
  end
  local code = nil -- the lines of a ``` block, kept verbatim
  for line in (doc .. "\n"):gmatch("(.-)\r?\n") do
    local title = not code and line:match("^##+%s+(.-)%s*$")
    if code then
      if line:match("^%s*```") then
        sec.entries[#sec.entries + 1] = { kind = "code", text = table.concat(code, "\n"), head = "",
          section = sec }
        code = nil
      else
        code[#code + 1] = line
      end
    elseif line:match("^%s*```") then
      flush()
      code = {}
    elseif title then
      flush()
      sec = { title = title, keys = {}, intro = {}, entries = {} }
      for k in title:gmatch("zonelab%.[%w_]+") do sec.keys[k] = true end
      if title:match("^zonelab%s*$") or title:match("^zonelab%s") then sec.keys.zonelab = true end
      sections[#sections + 1] = sec
    elseif line:match("^%s*|") then
      flush()
      sec.seen_table = true
      if not line:match("^%s*|[%s%-:|]*$") then
        local cells = split_row(line)
        local head = cells[1]
        -- the header row ("| function | does |") names columns, not functions
        if not head:find("`", 1, true) and not (cells[2] or ""):find("`", 1, true)
           and #line < 60 then
          sec.columns = cells
        else
          sec.entries[#sec.entries + 1] = { kind = "row", head = head, cells = cells, section = sec }
        end
      end
    elseif line:match("^%s*$") then
      flush()
    elseif not line:match("^# ") then
      if line:match("^%s*[-*] ") then flush() end -- each list item is an entry
      para = para or {}
      para[#para + 1] = line:match("^%s*(.-)%s*$")
    end
  end
  flush()
  return sections
end

local parsed_doc, parsed
local function page()
  if not M.doc then return nil end
  if parsed_doc ~= M.doc then parsed, parsed_doc = parse(M.doc), M.doc end
  return parsed
end

-- ---------------------------------------------------------------- printing the page

local WIDTH = 78

local function plain(s)
  return (s:gsub("`", ""))
end

-- Word-wraps s to WIDTH with `indent` spaces before the first line and `hang` (default
-- `indent`) before the others.
local function wrap(s, indent, hang)
  hang = hang or indent
  local lines, cur, start = {}, string.rep(" ", indent), indent
  for word in s:gmatch("%S+") do
    if #cur > start and #cur + 1 + #word > WIDTH then
      lines[#lines + 1] = cur
      cur, start = string.rep(" ", hang) .. word, hang
    else
      cur = (#cur > start) and (cur .. " " .. word) or (cur .. word)
    end
  end
  if #cur > start then lines[#lines + 1] = cur end
  return table.concat(lines, "\n")
end

local function render_entry(e)
  if e.kind == "code" then return (("\n" .. e.text):gsub("\n", "\n    "):sub(2)) end
  if e.kind == "row" then
    local out = { wrap(plain(e.head), 2) }
    for i = 2, #e.cells do
      if e.cells[i] ~= "" then out[#out + 1] = wrap(plain(e.cells[i]), 6) end
    end
    return table.concat(out, "\n")
  end
  return wrap(plain(e.text), 2, e.text:match("^[-*] ") and 4 or 2)
end

local function render_section(sec)
  local out = { "## " .. sec.title }
  for _, e in ipairs(sec.entries) do out[#out + 1] = render_entry(e) end
  return table.concat(out, "\n")
end

local function esc(s) return (s:gsub("%p", "%%%0")) end

-- Entries whose head defines `pattern` (a Lua pattern); failing that, the ones that
-- mention it. `within` limits the search to sections with that key.
local function find_entries(pattern, within)
  local doc = page()
  if not doc then return {} end
  local defined, mentioned = {}, {}
  for _, sec in ipairs(doc) do
    if not within or sec.keys[within] then
      local n = #defined
      local examples = {}
      for _, e in ipairs(sec.entries) do
        if e.head:find(pattern) then defined[#defined + 1] = e
        elseif (e.text or table.concat(e.cells, " ")):find(pattern) then
          mentioned[#mentioned + 1] = e
          if e.kind == "code" then examples[#examples + 1] = e end
        end
      end
      -- a code block of the section that uses the name is its example
      if #defined > n then
        for _, e in ipairs(examples) do defined[#defined + 1] = e end
      end
    end
  end
  return #defined > 0 and defined or mentioned
end

local function section_for(key)
  for _, sec in ipairs(page() or {}) do
    if sec.keys[key] then return sec end
  end
end

-- The row "| `zonelab.NAME` | ..." of a stdlib module.
local function stdlib_row(name)
  for _, sec in ipairs(page() or {}) do
    for _, e in ipairs(sec.entries) do
      if e.kind == "row" and e.head == "`" .. name .. "`" then return e end
    end
  end
end

-- The part of a stdlib module's row about one field: "`decode(model, ...)` -> ..."
-- up to the next ", `name" at the top level (outside code spans and parentheses).
local function clause(cell, field)
  local s = cell:find("`" .. esc(field) .. "[%(`{]")
  if not s then return nil end
  local depth, code, i = 0, false, s
  while i <= #cell do
    local c = cell:sub(i, i)
    if c == "`" then code = not code
    elseif not code and (c == "(" or c == "{") then depth = depth + 1
    elseif not code and (c == ")" or c == "}") then depth = depth - 1
    elseif not code and depth == 0 and i > s and cell:sub(i, i + 2) == ", `"
       and cell:sub(i + 3):match("^[%a_][%w_]*[%(`{]") then
      return cell:sub(s, i - 1)
    end
    i = i + 1
  end
  return cell:sub(s)
end

-- Every stdlib row defining `field`, as {module, text}.
local function stdlib_clauses(field)
  local out = {}
  for _, sec in ipairs(page() or {}) do
    for _, e in ipairs(sec.entries) do
      local mod = e.kind == "row" and e.head:match("^`(zonelab%.[%w_]+)`$")
      local text = mod and e.cells[2] and clause(e.cells[2], field)
      if text then out[#out + 1] = { module = mod, text = text } end
    end
  end
  return out
end

local function render_clause(c)
  return "  " .. c.module .. "." .. plain(c.text):gsub("^%s+", "") .. "\n" ..
    wrap("(from the row of " .. c.module .. "; help \"" .. c.module .. "\" shows it all)", 6)
end

-- ---------------------------------------------------------------- naming a value

local function first_line(s)
  local line = s:match("^[^\n]*")
  return line ~= s and (line .. " ...") or line
end

-- The sorted "zonelab.*" keys of t whose values are tables (the registry's metatables, the
-- loaded stdlib modules).
local function zonelab_names(t)
  local names = {}
  for name, v in next, t do
    if type(name) == "string" and name:match("^zonelab%.") and type(v) == "table" then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names
end

-- What the value is to the docs: {kind = "module"|"function"|"method"|"object"|
-- "stdlib"|"stdlib_function"|"lua", name, key (section), methods}.
local function identify(v)
  local zl = zonelab()
  if v == zl then return { kind = "module", name = "zl", key = "zonelab" } end
  local mods = {}
  for k in pairs(zl) do if type(k) == "string" then mods[#mods + 1] = k end end
  table.sort(mods)
  for _, k in ipairs(mods) do
    local sub = rawget(zl, k)
    if sub == v and type(v) == "table" then
      return { kind = "module", name = "zl." .. k, key = "zonelab." .. k }
    elseif sub == v then
      return { kind = "function", name = "zl." .. k, key = "zonelab" }
    elseif type(sub) == "table" then
      for f, fv in next, sub do
        if fv == v and type(f) == "string" then
          return { kind = "function", name = "zl." .. k .. "." .. f, key = "zonelab." .. k }
        end
      end
    end
  end
  local reg = debug.getregistry()
  local names = zonelab_names(reg)
  local mt_of = debug.getmetatable(v)
  for _, name in ipairs(names) do
    local mt = reg[name]
    local idx = method_table(mt)
    local key = name:match("^(zonelab%.[%w_]+)")
    if mt_of == mt and type(v) ~= "table" then
      local methods = {}
      if type(idx) == "table" then
        for m in next, idx do if type(m) == "string" then methods[#methods + 1] = m end end
        table.sort(methods)
      end
      return { kind = "object", name = name, key = key, methods = methods }
    end
    if type(idx) == "table" and type(v) == "function" then
      for m, fv in next, idx do
        if fv == v and type(m) == "string" then
          return { kind = "method", name = m, key = key, type = name }
        end
      end
    end
  end
  local loaded = package.loaded
  local stdlib = zonelab_names(loaded)
  for _, name in ipairs(stdlib) do
    local mod = loaded[name]
    if mod == v then return { kind = "stdlib", name = name } end
    for f, fv in next, mod do
      if fv == v and type(f) == "string" then
        return { kind = "stdlib_function", name = name .. "." .. f, module = name, field = f }
      end
    end
  end
  for _, lib in ipairs { "_G", "string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package" } do
    local t = rawget(_G, lib)
    if t == v and lib ~= "_G" then return { kind = "lua", name = lib } end
    if type(t) == "table" and type(v) == "function" then
      for f, fv in next, t do
        if fv == v and type(f) == "string" then
          return { kind = "lua", name = lib == "_G" and f or (lib .. "." .. f) }
        end
      end
    end
  end
  return nil
end

-- ---------------------------------------------------------------- help

local function overview()
  local zl = zonelab()
  local out = {
    "zonelab " .. tostring(rawget(zl, "version") or "") ..
      " — help shows docs/lua-api.md (built into this zonelab):",
    "  help(zl.bert)       a module: its functions and methods",
    "  help(m.forward)     a function or a method (write m.forward, not m:forward)",
    "  help(m)             an object: its methods and its module's section",
    "  help \"forward\"      every entry defining that name",
    "  help \"REPL\"         this REPL: values, Tab, Ctrl-C, history",
    "Modules (zl = require \"zonelab\"):",
  }
  local mods = {}
  for k, v in pairs(zl) do if type(v) == "table" then mods[#mods + 1] = k end end
  table.sort(mods)
  for _, k in ipairs(mods) do
    local sec = section_for("zonelab." .. k)
    -- the section's first sentence, else the module's function names
    local what = sec and sec.intro[1] and
      (plain(sec.intro[1]):gsub("%s*%b()", "") .. " "):match("^(.-)[.:;]%s") or nil
    if not what then
      local fs = {}
      for f in pairs(zl[k]) do if type(f) == "string" then fs[#fs + 1] = f end end
      table.sort(fs)
      what = table.concat(fs, ", ")
    end
    what = what:gsub("%s*%b()", "")
    if #what > WIDTH - 17 then what = what:sub(1, WIDTH - 20) .. "..." end
    out[#out + 1] = string.format("  %-14s %s", "zl." .. k, what)
  end
  local std = {}
  for _, sec in ipairs(page() or {}) do
    for _, e in ipairs(sec.entries) do
      local name = e.kind == "row" and e.head:match("^`zonelab%.([%w_]+)`$")
      if name then std[#std + 1] = name end
    end
  end
  if #std > 0 then
    out[#out + 1] = "Lua modules (require \"zonelab.NAME\"; help \"zonelab.NAME\"):"
    out[#out + 1] = wrap(table.concat(std, ", "), 2)
  end
  out[#out + 1] = wrap("Tab completes names (zl.te<Tab>, m:for<Tab>); Ctrl-C stops a " ..
    "computation or clears the line; every line goes to ~/.zonelab_history " ..
    "($ZONELAB_HISTORY).", 0)
  return table.concat(out, "\n")
end

local function show_entries(entries, what)
  if #entries == 0 then return nil end
  local out, named = {}, 0
  for _, e in ipairs(entries) do if e.kind ~= "code" then named = named + 1 end end
  for i, e in ipairs(entries) do
    if i > 1 then out[#out + 1] = "" end
    if (named > 1 or what) and e.kind ~= "code" then out[#out + 1] = "[" .. e.section.title .. "]" end
    out[#out + 1] = render_entry(e)
  end
  return table.concat(out, "\n")
end

-- help text for a string query: a module name, a full name or a bare function name.
local function help_name(q)
  local mod = q:match("^zl%.([%w_]+)$") or q:match("^zonelab%.([%w_]+)$") or q:match("^([%w_]+)$")
  if q == "zl" or q == "zonelab" then return render_section(section_for("zonelab")) end
  for _, sec in ipairs(page()) do
    local title = sec.title:lower()
    if title == q:lower() or title == "the " .. q:lower() then return render_section(sec) end
  end
  if mod then
    -- zl.train (C) and require "zonelab.train" (Lua) share a name: show both
    local out = {}
    local sec = section_for("zonelab." .. mod)
    if sec and (type(rawget(zonelab(), mod)) == "table") then out[1] = render_section(sec) end
    local row = stdlib_row("zonelab." .. mod)
    if row then out[#out + 1] = render_entry(row) end
    if #out > 0 then return table.concat(out, "\n\n") end
  end
  local pattern
  if q:match("^[%a_][%w_]*$") then
    pattern = "[%w_%)%]][%.:]" .. esc(q) .. "%f[^%w_]"
  else
    pattern = esc(q) .. "%f[^%w_]"
  end
  local out = {}
  local text = show_entries(find_entries(pattern), true)
  if text then out[1] = text end
  local field = q:match("^[%a_][%w_]*$") and q
  local module, f = q:match("^(zonelab%.[%w_]+)%.([%a_][%w_]*)$")
  for _, c in ipairs(stdlib_clauses(field or f or "")) do
    if field or c.module == module then out[#out + 1] = render_clause(c) end
  end
  return #out > 0 and table.concat(out, "\n\n") or nil
end

--- The help text for x (a string: the text itself; nil when there is nothing to say).
function M.text(...)
  if select("#", ...) == 0 then return overview() end
  local x = ...
  if not page() then
    return "help: the documentation is not built into this host (run it inside `zonelab`)"
  end
  if type(x) == "string" then
    return help_name(x) or string.format("help: no entry for '%s' in docs/lua-api.md; " ..
      "help() lists the modules", x)
  end
  local id = identify(x)
  if not id then
    if x == nil then return "help: got nil (a misspelt name?); help() lists the modules" end
    return string.format("help: %s is not part of zonelab's API; help() lists the modules",
      tostring(x))
  end
  if id.kind == "module" then
    local sec = section_for(id.key)
    return sec and render_section(sec) or ("help: no section for " .. id.name)
  elseif id.kind == "function" then
    local t = show_entries(find_entries(esc(id.name) .. "%f[^%w_]"))
    return t or ("help: " .. id.name .. " has no entry in docs/lua-api.md")
  elseif id.kind == "method" then
    local pat = "[%w_%)%]]:" .. esc(id.name) .. "%f[^%w_]"
    local t = show_entries(find_entries(pat, id.key)) or show_entries(find_entries(pat), true)
    return t or string.format("help: method :%s of %s has no entry in docs/lua-api.md", id.name, id.type)
  elseif id.kind == "object" then
    local out = { first_line(tostring(x)), wrap(string.format("a %s; methods: %s", id.name,
      #id.methods > 0 and table.concat(id.methods, ", ") or "(none)"), 2, 4) }
    local sec = section_for(id.key)
    if sec then out[#out + 1] = render_section(sec) end
    return table.concat(out, "\n")
  elseif id.kind == "stdlib" then
    local row = stdlib_row(id.name)
    return row and render_entry(row) or ("help: " .. id.name .. " has no row in docs/lua-api.md")
  elseif id.kind == "stdlib_function" then
    for _, c in ipairs(stdlib_clauses(id.field)) do
      if c.module == id.module then return render_clause(c) end
    end
    return "help: " .. id.name .. " has no entry in docs/lua-api.md"
  end
  return string.format("help: %s is Lua's own (the Lua 5.4 reference manual, §6)", id.name)
end

--- Prints the documentation of x: a module (`zl.bert`), a function or method
--- (`m.forward`), an object, or a name (`help "forward"`); help() lists the modules.
function M.help(...)
  io.stdout:write(M.text(...), "\n")
end

--- Keeps the embedded page and defines the global `help`.
function M.install(doc)
  M.doc = doc
  _G.help = M.help
  return M
end

-- ---------------------------------------------------------------- values

local function quote(s, max)
  local cut = ""
  if #s > max then cut = string.format("...(%d bytes)", #s); s = s:sub(1, max) end
  return (string.format("%q", s):gsub("\\\n", "\\n")) .. cut
end


local function key_order(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return ta < tb end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

--- A value as text for a person: a table's fields up to `depth` levels and `items`
--- entries each (then "..."), sorted keys, strings quoted, and an object (tensor,
--- model, ...) by its __tostring (its first line when nested).
function M.format(v, opts)
  opts = opts or {}
  local max_depth, max_items, width = opts.depth or 3, opts.items or 20, opts.width or WIDTH
  local null = rawget(zonelab().json or {}, "null")
  local function fmt(x, depth, indent, path)
    local t = type(x)
    if t == "string" then return quote(x, 120) end
    if null ~= nil and x == null then return "zl.json.null" end
    local mt = debug.getmetatable(x)
    if mt and rawget(mt, "__tostring") and t ~= "string" then
      local ok, s = pcall(tostring, x)
      s = ok and tostring(s) or ("<" .. t .. ": __tostring failed>")
      return depth > 0 and first_line(s) or s
    end
    if t ~= "table" then return tostring(x) end
    if path[x] then return "<cycle>" end
    if next(x) == nil then return "{}" end
    if depth >= max_depth then return "{...}" end
    path[x] = true
    local items, n = {}, rawlen(x)
    local shown = 0
    local inner = indent .. "  "
    for i = 1, n do
      if shown >= max_items then break end
      items[#items + 1] = fmt(rawget(x, i), depth + 1, inner, path)
      shown = shown + 1
    end
    -- a huge table is scanned only so far: the REPL answers at once (the count is then a floor)
    local keys, scanned, more = {}, 0, ""
    for k in next, x do
      scanned = scanned + 1
      if scanned > 20000 then more = "+"; break end
      if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
    end
    table.sort(keys, key_order)
    for _, k in ipairs(keys) do
      if shown >= max_items then break end
      local ks
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not is_keyword[k] then ks = k
      else ks = "[" .. fmt(k, max_depth, inner, path) .. "]" end
      items[#items + 1] = ks .. " = " .. fmt(rawget(x, k), depth + 1, inner, path)
      shown = shown + 1
    end
    local n_array = math.min(n, max_items)
    local total = n + #keys
    if total > shown then items[#items + 1] = string.format("... (%d%s more)", total - shown, more) end
    path[x] = nil
    local one = "{" .. table.concat(items, ", ") .. "}"
    if #one + #indent <= width and not one:find("\n", 1, true) then return one end
    -- one field a line; short array elements share lines
    local lines, cur = {}, nil
    for i, item in ipairs(items) do
      local packable = i <= n_array and #item <= 24 and not item:find("\n", 1, true)
      if packable and cur and #inner + #cur + 2 + #item <= width then
        cur = cur .. ", " .. item
      else
        if cur then lines[#lines + 1] = cur end
        cur = item
        if not packable then lines[#lines + 1] = cur; cur = nil end
      end
    end
    if cur then lines[#lines + 1] = cur end
    return "{\n" .. inner .. table.concat(lines, ",\n" .. inner) .. "\n" .. indent .. "}"
  end
  return fmt(v, 0, "", {})
end

--- The REPL's line for an expression's values: strings as they are (as print shows
--- them), everything else through format, separated by tabs.
function M.show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v == M.help and v ~= nil then
      out[i] = 'help() lists the modules; help(zl.bert), help(m.forward) or help "forward" shows an entry'
    else
      out[i] = type(v) == "string" and v or M.format(v)
    end
  end
  return table.concat(out, "\t")
end

-- ---------------------------------------------------------------- completion

-- The fields that `v.` or `v:` offers: a table's own keys and its __index tables';
-- an object's (userdata, string) metatable __index table. Only rawget and next.
local function fields(v, methods_only)
  local out, seen = {}, {}
  local function add(t)
    for k, x in next, t do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k]
         and (not methods_only or type(x) == "function") then
        seen[k] = true
        out[#out + 1] = k
      end
    end
  end
  local hops = 0
  while v ~= nil and hops < 8 do
    if type(v) == "table" then add(v) end
    local idx = method_table(debug.getmetatable(v))
    v = idx
    hops = hops + 1
  end
  return out
end

--- Completion candidates for the word before the cursor (`zl.te`, `m:for`, `pri`):
--- globals and keywords, a table's fields, an object's methods; full words, sorted.
function M.complete(word)
  local prefix, sep, part = word:match("^(.-)([%.:])([%w_]*)$")
  local names
  if not prefix then
    if not word:match("^[%a_]?[%w_]*$") then return {} end
    prefix, sep, part = "", "", word
    names = fields(_G)
    for _, k in ipairs(KEYWORDS) do names[#names + 1] = k end
  else
    if not prefix:match("^[%a_][%w_]*$") and not prefix:match("^[%a_][%w_]*[%.%w_]*[%w_]$") then
      return {}
    end
    local v = _G
    for name in prefix:gmatch("[^%.]+") do
      if type(v) == "table" then
        local x = rawget(v, name)
        if x == nil then
          -- a field reached through __index tables (a method of an object held in a table)
          local idx = method_table(debug.getmetatable(v))
          x = idx and rawget(idx, name) or nil
        end
        v = x
      else
        local idx = method_table(debug.getmetatable(v))
        v = idx and rawget(idx, name) or nil
      end
      if v == nil then return {} end
    end
    names = fields(v, sep == ":")
  end
  local out, seen = {}, {}
  for _, k in ipairs(names) do
    if k:sub(1, #part) == part and not seen[k] then
      seen[k] = true
      out[#out + 1] = prefix .. sep .. k
    end
  end
  table.sort(out)
  return out
end

return M
