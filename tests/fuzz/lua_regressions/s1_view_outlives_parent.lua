-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- local v; do local t <close> = zl.tensor.from{1,2,3,4}; v = t:view(1,2) end; print(v:get(1))
return {
  {"new", 1, "tensor.from", {{"list", 4, {"v", 1}}}},
  {"call", 1, "view", {{"v", 1}, {"v", 2}}, 2},
  {"call", 1, "reshape", {{"list", 2, {"v", 2}}}, 3},
  {"meta", 1, "__close"},
  {"call", 2, "get", {{"v", 1}}},
  {"call", 3, "get", {{"v", 1}, {"v", 1}}},
  {"drop", 1},
  {"gc"},
  {"call", 2, "sum", {}},
}
