-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- JSON duplicates, NaN, Infinity, \u0000, lone surrogates; a zero-length tensor hiding an overlap; vocab_size below the vocabulary
return {
  {"fcall", "json.decode", {{"v", "{\"a\": 1, \"a\": 2}"}}},
  {"fcall", "json.decode", {{"v", "[NaN, Infinity, -Infinity]"}}},
  {"fcall", "json.decode", {{"v", "[\"\\u0000\", \"\\ud800\"]"}}},
  {"new", 1, "squad.load", {{"path", "dup_json"}}},
  {"new", 2, "metrics.load", {{"path", "dup_json"}}},
  {"new", 3, "tensor.load", {{"path", "overlap"}}},
  {"new", 4, "bert.load", {{"path", "overlap"}}},
  {"new", 5, "bert.new", {{"tbl", {"vocab_size", {"v", 5}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 1}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 8}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"new", 6, "tokenizer.load", {{"path", "vocab"}}},
  {"call", 5, "forward", {{"tbl", {"input_ids", {"ids", 1, 6, 13}}}}},
  {"fcall", "io.write_atomic", {{"v", "sub/none.json"}, {"v", "x"}}},
}
