-- issue 16 seed: replayed by ctest (lua_fuzz_regressions) and run first by tests/fuzz/lua_api.lua
-- (steps: see the interpreter in lua_api.lua; slots are pool entries P[1..12])
-- an __index on the batch table of zl.optim.loss_and_grads that closes ids
return {
  {"new", 1, "bert.new", {{"tbl", {"vocab_size", {"v", 13}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 2}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 16}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"new", 2, "tensor.from", {{"list", 1, {"list", 4, {"v", 3}}}, {"v", "i32"}}},
  {"new", 3, "tensor.from", {{"list", 1, {"v", 1}}, {"v", "i32"}}},
  {"new", 4, "tensor.from", {{"list", 1, {"list", 4, {"v", 1}}}, {"v", "i32"}}},
  {"new", 5, "tensor.from", {{"list", 1, {"list", 4, {"v", 0}}}, {"v", "i32"}}},
  {"fcall", "optim.loss_and_grads", {{"p", 1}, {"tbl", {"input_ids", {"p", 2}}, {"start_positions", {"p", 3}},
    {"token_type_ids", {"p", 5}}, {"input_mask", {"p", 4}}, {"qmask", {"p", 4}}, {"pmask", {"p", 4}},
    meta = {{"__index", {"fn", {"close", 2}, {"gc"}, {"key", "end_positions", {"p", 3}}}}}}}},
}
