-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- m:forward{input_ids = ids, mask = function() ids:close() return 0 end}
return {
  {"new", 1, "bert.new", {{"tbl", {"vocab_size", {"v", 13}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 2}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 16}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"new", 2, "tensor.from", {{"list", 1, {"list", 4, {"v", 3}}}, {"v", "i32"}}},
  {"call", 1, "forward", {{"tbl", {"input_ids", {"p", 2}}, {"mask", {"fn", {"close", 2}, {"ret", {"v", 0}}}}}}},
}
