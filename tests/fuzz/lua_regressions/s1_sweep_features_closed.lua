-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- s = zl.sweep.new(m, ds, feats, {{zone="none"}}); feats:close(); s:close()
return {
  {"new", 1, "bert.new", {{"tbl", {"vocab_size", {"v", 13}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 2}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 16}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"new", 2, "tokenizer.load", {{"path", "vocab"}, {"tbl", {"lower", {"v", true}}}}},
  {"new", 3, "squad.load", {{"path", "squad"}}},
  {"new", 4, "squad.features", {{"p", 3}, {"p", 2}, {"tbl", {"max_seq_length", {"v", 24}}, {"doc_stride", {"v", 8}}, {"max_query_length", {"v", 8}}}}},
  {"new", 8, "sweep.new", {{"p", 1}, {"p", 3}, {"p", 4}, {"tbl", {1, {"tbl", {"zone", {"v", "none"}}}}}}},
  {"close", 4},
  {"close", 8},
}
