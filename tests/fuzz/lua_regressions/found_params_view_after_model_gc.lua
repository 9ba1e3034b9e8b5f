-- found by tests/fuzz/lua_api.lua (seed 1, with the tensor binding of h/tensor): a view from
-- m:params() read after the model's __gc was called directly (getmetatable(m).__gc(m))
-- freed the parameters it points into. The views now borrow the model (lbert.c).
return {
  {"new", 1, "bert.new", {{"tbl", {"vocab_size", {"v", 13}}, {"hidden_size", {"v", 8}}, {"num_hidden_layers", {"v", 2}}, {"num_attention_heads", {"v", 2}}, {"intermediate_size", {"v", 16}}, {"max_position_embeddings", {"v", 32}}, {"type_vocab_size", {"v", 2}}}}},
  {"call", 1, "params", {}, 2},
  {"field", 2, "bert.embeddings.word_embeddings.weight", 3},
  {"meta", 1, "__gc"},
  {"call", 3, "sum", {}},
  {"meta", 3, "__tostring"},
  {"call", 3, "fill", {{"v", 1}}},
  {"drop", 2},
  {"drop", 1},
  {"gc"},
  {"call", 3, "sum", {}},
  {"drop", 3},
  {"gc"},
}
