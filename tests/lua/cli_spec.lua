-- zonelab.cli: help text written as long strings prints as one paragraph (line breaks and
-- the indentation after them become single spaces); the epilog prints as written.
local cli = require "zonelab.cli"

describe("zonelab.cli.parser", function()
  local p = cli.parser("recipes/x.lua", [[
    First line of the description,
    second line.]], [[
Examples:
  zonelab recipes/x.lua --n 2]])
  p:option("--n", [[A number
    over two lines.]], "1")
  p:flag("--f", "Plain help.")
  p:argument("input", [[The input
    file.]])
  local help = p:get_help()

  it("folds the description and every help text into one line each", function()
    assert.truthy(help:find("First line of the description, second line.", 1, true))
    assert.truthy(help:find("A number over two lines. (default: 1)", 1, true))
    assert.truthy(help:find("The input file.", 1, true))
    assert.truthy(help:find("Plain help.", 1, true))
    assert.falsy(help:find("description,\n", 1, true))
  end)

  it("keeps the epilog's lines and indentation", function()
    assert.truthy(help:find("\nExamples:\n  zonelab recipes/x.lua --n 2", 1, true))
  end)

  it("still parses the declared options", function()
    local args = cli.parse(p, { "in.txt", "--n", "3", "--f" })
    assert.are.same({ "in.txt", "3", true }, { args.input, args.n, args.f })
  end)
end)
