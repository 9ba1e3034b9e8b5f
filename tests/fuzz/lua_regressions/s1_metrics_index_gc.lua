-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- a metrics dataset whose answer table's __index runs collectgarbage()
return {
  {"new", 1, "metrics.load", {{"path", "squad"}}},
  {"fcall", "metrics.squad", {{"p", 1}, {"tbl", meta = {{"__index", {"fn", {"gc"}, {"ret", {"v", "the cat sat on the mat, a long answer"}}}}}}}},
  {"fcall", "metrics.squad", {{"p", 1}, {"tbl", meta = {{"__index", {"fn", {"close", 1}, {"gc"}, {"ret", {"v", "cat"}}}}}}}},
}
