-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- a decode callback that closes the features
return {
  {"new", 2, "tokenizer.load", {{"path", "vocab"}, {"tbl", {"lower", {"v", true}}}}},
  {"new", 3, "squad.load", {{"path", "squad"}}},
  {"new", 4, "squad.features", {{"p", 3}, {"p", 2}, {"tbl", {"max_seq_length", {"v", 24}}, {"doc_stride", {"v", 8}}, {"max_query_length", {"v", 8}}}}},
  {"fcall", "squad.decode", {{"p", 3}, {"p", 4}, {"fn", {"close", 4}, {"gc"},
    {"ret", {"tbl", {"start_logits", {"floats", {24}, 0.5}}, {"end_logits", {"floats", {24}, 0.25}}}}}}},
}
