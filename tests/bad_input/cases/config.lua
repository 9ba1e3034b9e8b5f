-- Model configs (bert_config.json), read by the model loader. The recipes that load
-- models (decode, sweep, train) call zl.bert.load exactly like the one-line program here.
local H = ...
local LOAD = 'require("zonelab").bert.load("m")'
local CFG = "m/bert_config.json"

local function case(name, t, expect, extra)
  local weights = function() return H.model_files()["model.safetensors"] end
  local c = { name = "config: " .. name, code = LOAD, names = CFG, expect = expect,
    files = { ["m/"] = true, ["m/model.safetensors"] = weights,
      [CFG] = type(t) == "string" and t or H.config(t) } }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

return {
  case("missing field hidden_size", { hidden_size = false }, "hidden_size"),
  case("missing field num_attention_heads", { num_attention_heads = false }, "num_attention_heads"),
  case("missing field vocab_size", { vocab_size = false }, "vocab_size"),
  case("hidden_size 0", { hidden_size = 0 }, "hidden_size"),
  case("num_hidden_layers 0", { num_hidden_layers = 0 }, "num_hidden_layers"),
  case("negative num_attention_heads", { num_attention_heads = -2 }, "num_attention_heads"),
  case("negative intermediate_size", { intermediate_size = -16 }, "intermediate_size"),
  case("hidden_size not divisible by the heads", { hidden_size = 9 }, "multiple"),
  case("unknown activation", { hidden_act = "swish" }, "hidden_act"),
  case("hidden_size a string", { hidden_size = "8" }, "hidden_size"),
  case("vocab_size a fraction", { vocab_size = 17.5 }, "vocab_size"),
  case("vocab_size beyond 32 bits", { vocab_size = 1 << 40 }, "vocab_size"),
  case("sizes that would need 2^40 floats (refused before allocating)",
    { vocab_size = 16777216, hidden_size = 65536, num_attention_heads = 1,
      max_position_embeddings = 512, intermediate_size = 65536 }, "parameters"),
  case("not JSON", "hidden_size = 8\n", "json"),
  case("empty", "", "json"),
  case("an array", "[8, 2, 2]", "object"),
  { name = "config: missing bert_config.json", code = LOAD, names = "m",
    files = { ["m/"] = true, ["m/model.safetensors"] = function() return H.model_files()["model.safetensors"] end },
    expect = "config" },
  { name = "config: model folder missing", code = LOAD, names = "m", expect = "no such" },
}
