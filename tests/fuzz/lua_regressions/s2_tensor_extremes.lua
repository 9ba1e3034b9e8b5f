-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- t:view(math.mininteger, 1), t:view(2, math.maxinteger), i32:fill(1e300) (the tensor binding)
return {
  {"new", 1, "tensor.from", {{"list", 4, {"v", 1}}}},
  {"call", 1, "view", {{"v", math.mininteger}, {"v", 1}}},
  {"call", 1, "view", {{"v", 2}, {"v", 9223372036854775807}}},
  {"new", 5, "tensor.new", {{"list", 1, {"v", 3}}, {"v", "i32"}}},
  {"call", 5, "fill", {{"v", 1e300}}},
  {"call", 5, "fill", {{"v", 0/0}}},
  {"call", 5, "fill", {{"v", -1/0}}},
}
