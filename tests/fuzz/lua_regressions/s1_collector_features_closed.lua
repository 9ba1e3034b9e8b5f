-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- acc = zl.squad.collector(feats); feats:close(); acc:close()
return {
  {"new", 2, "tokenizer.load", {{"path", "vocab"}, {"tbl", {"lower", {"v", true}}}}},
  {"new", 3, "squad.load", {{"path", "squad"}}},
  {"new", 4, "squad.features", {{"p", 3}, {"p", 2}, {"tbl", {"max_seq_length", {"v", 24}}, {"doc_stride", {"v", 8}}, {"max_query_length", {"v", 8}}}}},
  {"new", 5, "squad.collector", {{"p", 4}}},
  {"close", 4},
  {"close", 5},
}
