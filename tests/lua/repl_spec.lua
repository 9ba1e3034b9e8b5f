-- zonelab.repl: readable values, Tab's candidates, and help over docs/lua-api.md (here
-- read from the file; the host passes the copy it was built with). The last tests tie
-- help to the build: every module and every method of every zonelab object has an entry.
local zl = require "zonelab"
local repl = require "zonelab.repl"

local f = assert(io.open("docs/lua-api.md"))
local DOC = f:read("a")
f:close()
repl.install(DOC)

local function bert()
  return zl.bert.new { vocab_size = 8, hidden_size = 4, num_hidden_layers = 1, num_attention_heads = 1,
    intermediate_size = 4, max_position_embeddings = 8 }
end

describe("zonelab.repl.format", function()
  it("prints tables on one line when they fit, keys sorted, strings quoted", function()
    assert.are.equal('{1, 2, 3}', repl.format({ 1, 2, 3 }))
    assert.are.equal('{1, "two\\nlines", b = true, z = {}}',
      repl.format({ 1, "two\nlines", z = {}, b = true }))
    assert.are.equal('{[1.5] = 2, ["a b"] = 1, ["end"] = 3}', repl.format({ ["a b"] = 1, [1.5] = 2, ["end"] = 3 }))
  end)
  it("truncates depth, width and long tables", function()
    assert.are.equal("{a = {b = {c = {...}}}}", repl.format({ a = { b = { c = { d = 1 } } } }))
    local t = {}
    for i = 1, 50 do t[i] = i end
    local s = repl.format(t)
    assert.truthy(s:find("^{\n  1, 2, 3, 4,"))
    assert.truthy(s:find("\n  %.%.%. %(30 more%)\n}$"))
    assert.are.equal("{x = 1, ... (1 more)}", repl.format({ x = 1, y = 2 }, { items = 1 }))
    local wide = repl.format({ alpha = string.rep("a", 40), beta = string.rep("b", 40) })
    assert.are.equal('{\n  alpha = "' .. string.rep("a", 40) .. '",\n  beta = "' .. string.rep("b", 40) .. '"\n}', wide)
  end)
  it("shows cycles, json null, and objects by __tostring (first line when nested)", function()
    local c = {}
    c.self = c
    assert.are.equal("{self = <cycle>}", repl.format(c))
    assert.are.equal("{1, zl.json.null}", repl.format(zl.json.decode("[1, null]")))
    local t = zl.tensor.from { 1, 2 }
    local full = tostring(t)
    assert.are.equal(full, repl.format(t))
    local first = full:match("^[^\n]*")
    assert.are.equal("{t = " .. first .. (first ~= full and " ..." or "") .. "}", repl.format({ t = t }))
    local m = bert()
    assert.are.equal(tostring(m), repl.format(m))
  end)
  it("show: strings as print shows them, values separated by tabs", function()
    assert.are.equal("a b\t1\tnil\t{2}", repl.show("a b", 1, nil, { 2 }))
    assert.are.equal("", repl.show())
    assert.truthy(repl.show(repl.help):find("^help%(%) lists the modules"))
  end)
end)

describe("zonelab.repl.complete", function()
  it("completes globals, keywords, module fields and methods", function()
    _G.zl = zl
    _G.spec_t = zl.tensor.from { 1, 2 }
    _G.spec_m = bert()
    assert.are.same({ "zl.tensor" }, repl.complete("zl.te"))
    assert.are.same({ "zl.tensor.from" }, repl.complete("zl.tensor.fr"))
    assert.are.same({ "spec_m:forward" }, repl.complete("spec_m:forw"))
    assert.are.same({ "spec_m.forward" }, repl.complete("spec_m.forw"))
    assert.are.same({ "spec_t:sub", "spec_t:sum" }, repl.complete("spec_t:su"))
    assert.are.same({ "string.format" }, repl.complete("string.form"))
    assert.are.same({ "print" }, repl.complete("prin"))
    assert.are.same({ "else", "elseif" }, repl.complete("els"))
    -- after ':' only functions; nothing for unknown names or expressions
    for _, w in ipairs(repl.complete("zl:")) do assert.are.equal("function", type(zl[w:sub(4)])) end
    assert.are.same({}, repl.complete("nosuch.x"))
    assert.are.same({}, repl.complete("x+zl"))
    assert.are.same({}, repl.complete("zl.bert.zones."))
    _G.spec_t, _G.spec_m = nil, nil
  end)
  it("runs no metamethod while completing", function()
    local called = false
    _G.spec_trap = setmetatable({ a = 1 }, { __index = function() called = true end,
      __pairs = function() called = true end })
    assert.are.same({ "spec_trap.a" }, repl.complete("spec_trap."))
    assert.are.same({}, repl.complete("spec_trap.nope.x"))
    assert.is_false(called)
    _G.spec_trap = nil
  end)
end)

describe("zonelab.repl.text (help)", function()
  it("lists the modules", function()
    local s = repl.text()
    for _, k in ipairs { "zl.bert", "zl.tensor", "zl.squad", "zl.metrics" } do
      assert.truthy(s:find("\n  " .. k:gsub("%.", "%%.") .. " "), k)
    end
    assert.truthy(s:find("qa, qa_cli", 1, true))
  end)
  it("shows a module's section, a function's and a method's entry", function()
    assert.truthy(repl.text(zl.bert):find("^## zonelab%.bert\n"))
    assert.truthy(repl.text(zl.bert):find("\n  zl.bert.load(path, [opts])\n", 1, true))
    assert.truthy(repl.text(zl.json):find("^## zonelab%.json and zonelab%.io: `zl%.json`, `zl%.io`\n"))
    assert.truthy(repl.text(zl.io):find('require "zonelab.json" finds nothing', 1, true))
    assert.truthy(repl.text(zl.tensor.from):find(
      "^  zl.tensor.from%(table, %[shape%], %[dtype%]%)\n      from nested tables, or a flat table and a shape"))
    local m = bert()
    local s = repl.text(m.forward)
    assert.truthy(s:find("  m:forward{...}\n      one forward pass", 1, true))
    assert.truthy(s:find("m:forward fields: input_ids", 1, true))
    assert.truthy(repl.text(m):find("^bert: [^\n]*\n  a zonelab%.bert; methods: close, config, forward,"))
  end)
  it("finds a name, a stdlib function, and says when there is nothing", function()
    local s = repl.text("forward")
    assert.truthy(s:find("[zonelab.bert]\n  m:forward{...}", 1, true))
    local qa = require "zonelab.qa"
    assert.truthy(repl.text(qa.decode):find("^  zonelab%.qa%.decode%(model, data, config, opts%) %-> preds, score"))
    assert.truthy(repl.text("zonelab.qa"):find("^  zonelab%.qa\n      what decode"))
    assert.truthy(repl.text("REPL"):find("^## The REPL\n"))
    assert.are.equal("help: no entry for 'nonsense_name' in docs/lua-api.md; help() lists the modules",
      repl.text("nonsense_name"))
    assert.truthy(repl.text(nil):find("^help: got nil"))
    assert.truthy(repl.text(print):find("^help: print is Lua's own"))
  end)
  it("reads code blocks verbatim and shows them as examples of the names they use", function()
    repl.install(table.concat({
      "# Lua API", "", "## zonelab.json and zonelab.io", "JSON.", "",
      "| function | does |", "| --- | --- |",
      "| `zl.json.encode(v)`, `zl.json.read(path)` | Lua -> JSON \\| text; `a | b` in code |", "",
      "```lua", "-- | not a row", "## not a title", "local s = zl.json.encode({1})", "```", "",
      "- an item about `zl.json.decode(s)`", "  on two lines", "- another item", "",
    }, "\n"))
    assert.are.equal(table.concat({
      "  zl.json.encode(v), zl.json.read(path)",
      "      Lua -> JSON | text; a | b in code",
      "",
      "    -- | not a row",
      "    ## not a title",
      "    local s = zl.json.encode({1})" }, "\n"), repl.text(zl.json.encode))
    assert.are.equal("  - an item about zl.json.decode(s) on two lines", repl.text(zl.json.decode))
    repl.install(DOC)
  end)
  it("has an entry for every module and every method of the build", function()
    repl.install(DOC)
    for k, v in pairs(zl) do
      if type(v) == "table" and getmetatable(v) == nil then
        assert.truthy(repl.text(v):find("^## "), "help(zl." .. k .. ") shows no section")
      end
    end
    local n = 0
    for name, mt in pairs(debug.getregistry()) do
      if type(name) == "string" and name:match("^zonelab%.") and type(mt) == "table"
         and type(rawget(mt, "__index")) == "table" then
        for meth, fn in pairs(rawget(mt, "__index")) do
          if type(fn) == "function" and not meth:match("^_") then
            n = n + 1
            local s = repl.text(fn)
            assert.is_nil(s:find("^help:"), name .. ":" .. meth .. ": " .. s)
          end
        end
      end
    end
    assert.truthy(n >= 50, n .. " methods")
  end)
end)
