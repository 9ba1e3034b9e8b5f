-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- feats:batch(2, math.maxinteger) and the other integer arguments of the non-tensor bindings
return {
  {"new", 2, "tokenizer.load", {{"path", "vocab"}, {"tbl", {"lower", {"v", true}}}}},
  {"new", 3, "squad.load", {{"path", "squad"}}},
  {"new", 4, "squad.features", {{"p", 3}, {"p", 2}, {"tbl", {"max_seq_length", {"v", 24}}, {"doc_stride", {"v", 8}}, {"max_query_length", {"v", 8}}}}},
  {"call", 4, "batch", {{"v", 2}, {"v", 9223372036854775807}}},
  {"call", 4, "batch", {{"v", 9223372036854775807}, {"v", 2}}},
  {"new", 1, "bert.new", {{"tbl", {"vocab_size", {"v", 13}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 2}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 16}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"new", 5, "train.new", {{"p", 1}, {"tbl", {"micro_batch", {"v", 2}}, {"max_seq_length", {"v", 24}}, {"total_steps", {"v", 4}}}}},
  {"new", 6, "train.permutation", {{"v", 3}, {"v", 1}}},
  {"call", 5, "step_features", {{"p", 4}, {"p", 6}, {"v", 2}, {"v", 9223372036854775807}}},
  {"call", 5, "step_features", {{"p", 4}, {"ids", 1, 2, 2}, {"v", 1}, {"v", 2}}},
  {"new", 7, "metrics.load", {{"path", "squad"}}},
  {"call", 7, "golds", {{"v", 2147483648}}},
  {"call", 7, "golds", {{"v", math.mininteger}}},
  {"fcall", "bert.flops", {{"p", 1}, {"v", 9223372036854775807}, {"v", 4}}},
  {"call", 1, "forward", {{"tbl", {"input_ids", {"ids", 1, 6, 13}}, {"attentions", {"v", true}}}}, 8},
  {"new", 9, "flows.build", {{"f", 8, "attentions"}, {"tbl", {"batch", {"v", 1e300}}}}},
  {"new", 9, "flows.build", {{"f", 8, "attentions"}, {"tbl", {"length", {"v", 0/0}}}}},
  {"new", 9, "flows.build", {{"f", 8, "attentions"}, {"tbl", {"first_segment", {"v", -1/0}}}}},
  {"new", 10, "pdf.new", {}},
  {"fcall", "flows.draw", {{"v", "f.pdf"}, {"p", 9}, {"v", nil}, {"tbl", {"layer", {"v", 1e300}}}}},
}
