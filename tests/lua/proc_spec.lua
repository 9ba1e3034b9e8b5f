-- zonelab.proc: children from an argument vector, their options read as every binding's.
local zl = require "zonelab"

describe("zonelab.proc", function()
  it("runs a child with its log, appended and given an environment", function()
    local log = os.tmpname()
    local how, code = zl.proc.wait(zl.proc.spawn({ "sh", "-c", "echo one" }, { log = log }))
    assert.are.equal("exit", how)
    assert.are.equal(0, code)
    how, code = zl.proc.wait(zl.proc.spawn({ "sh", "-c", "echo \"$ZL_PROC_SPEC\"; exit 3" },
      { log = log, append = true, env = { ZL_PROC_SPEC = "two" } }))
    assert.are.equal("exit", how)
    assert.are.equal(3, code)
    assert.are.equal("one\ntwo\n", zl.io.read(log))
    os.remove(log)
  end)

  it("refuses an unknown option by name before starting anything", function()
    local ok, e = pcall(zl.proc.spawn, { "true" }, { lgo = "/tmp/x" })
    assert.is_false(ok)
    assert.truthy(tostring(e):find("proc.spawn: unknown option 'lgo'", 1, true), e)
  end)
end)
