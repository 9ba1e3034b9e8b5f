-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- features borrowing a tokenizer and a data set that are closed first
return {
  {"new", 2, "tokenizer.load", {{"path", "vocab"}, {"tbl", {"lower", {"v", true}}}}},
  {"new", 3, "squad.load", {{"path", "squad"}}},
  {"new", 4, "squad.features", {{"p", 3}, {"p", 2}, {"tbl", {"max_seq_length", {"v", 24}}, {"doc_stride", {"v", 8}}, {"max_query_length", {"v", 8}}}}},
  {"close", 2},
  {"close", 3},
  {"call", 4, "get", {{"v", 1}}},
  {"call", 4, "batch", {{"v", 1}, {"v", 1}}},
  {"drop", 2},
  {"gc"},
  {"close", 4},
}
