-- tests/bad_input/inputs.lua — builders of the catalogue's inputs: small VALID files
-- (a SQuAD set, a vocabulary, a model config, safetensors, a TensorFlow checkpoint) that
-- the cases then break one way at a time. Everything is made at run time.
local zl = require "zonelab"

local H = {}

--- A valid SQuAD v1.1 dataset (two questions, ids q1 and q2).
H.SQUAD = [[{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "The cat sat on the mat.", "qas": [{"id": "q1", "question": "What sat on the mat?", "answers": [{"answer_start": 4, "text": "cat"}]}, {"id": "q2", "question": "Where did the cat sit?", "answers": [{"answer_start": 15, "text": "the mat"}]}]}]}]}]]

--- A SQuAD set with one question whose fields are given (a Lua table encoded as JSON).
function H.squad_with(qa, context)
  local ctx = zl.json.encode(context or "The cat sat on the mat.")
  return '{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": ' .. ctx ..
    ', "qas": [' .. qa .. ']}]}]}'
end

--- Predictions for H.SQUAD.
H.PREDS = '{"q1": "cat", "q2": "the mat"}'

--- A vocabulary with every special token and the pieces H.SQUAD needs.
H.VOCAB_LINES = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on",
  "mat", "what", "where", "did", "sit", ".", "?", "##s" }
function H.vocab(lines, eol) return table.concat(lines or H.VOCAB_LINES, eol or "\n") .. (eol or "\n") end
function H.vocab_without(piece)
  local out = {}
  for _, l in ipairs(H.VOCAB_LINES) do if l ~= piece then out[#out + 1] = l end end
  return H.vocab(out)
end

--- A small valid bert_config.json (fields overridden by t; a value false removes a field).
function H.config(t)
  local c = { attention_probs_dropout_prob = 0.1, hidden_act = "gelu", hidden_dropout_prob = 0.1,
    hidden_size = 8, initializer_range = 0.02, intermediate_size = 16,
    max_position_embeddings = 16, num_attention_heads = 2, num_hidden_layers = 2,
    type_vocab_size = 2, vocab_size = #H.VOCAB_LINES }
  for k, v in pairs(t or {}) do
    if v == false then c[k] = nil else c[k] = v end
  end
  return zl.json.encode(c)
end

--- A safetensors file from a header table (encoded as given) and raw data bytes.
function H.safetensors_raw(header_json, data, claimed_len)
  return string.pack("<I8", claimed_len or #header_json) .. header_json .. (data or "")
end

--- A valid safetensors file with one F32 tensor "w" of shape {2, 2}.
function H.safetensors_ok()
  local hdr = '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
  return H.safetensors_raw(hdr, string.pack("<ffff", 1, 2, 3, 4))
end

--- A valid model folder's files for H.config(): {name = bytes} with bert_config.json
--- and model.safetensors written by zonelab itself (so it loads); `mutate(tensors)` may
--- change the {name = tensor} table before saving.
function H.model_files(config_json)
  local dir = os.tmpname()
  os.remove(dir)
  assert(require("lfs").mkdir(dir))
  local cfg = zl.json.decode(config_json or H.config())
  local m = zl.bert.new(cfg)
  m:save(dir)
  local files = {}
  for _, name in ipairs({ "bert_config.json", "model.safetensors" }) do
    local f = assert(io.open(dir .. "/" .. name, "rb"))
    files[name] = f:read("a")
    f:close()
    os.remove(dir .. "/" .. name)
  end
  os.remove(dir)
  return files
end

--- A TensorFlow checkpoint (index and one data shard) written by zonelab: returns the
--- bytes of prefix.index and prefix.data-00000-of-00001.
function H.tf_checkpoint()
  local dir = os.tmpname()
  os.remove(dir)
  assert(require("lfs").mkdir(dir))
  local prefix = dir .. "/m.ckpt"
  zl.tfckpt.save(prefix, {
    ["bert/w"] = zl.tensor.from({ { 1, 2, 3, 4 }, { 5, 6, 7, 8 } }),
    ["bert/b"] = zl.tensor.from({ 1, 2, 3, 4 }),
  })
  local function slurp(p)
    local f = assert(io.open(p, "rb"))
    local s = f:read("a")
    f:close()
    os.remove(p)
    return s
  end
  local index = slurp(prefix .. ".index")
  local data = slurp(prefix .. ".data-00000-of-00001")
  os.remove(dir)
  return index, data
end

--- s with byte i (1-based) replaced by the byte value b (default: flipped).
function H.poke(s, i, b)
  b = b or (s:byte(i) ~ 0xff)
  return s:sub(1, i - 1) .. string.char(b) .. s:sub(i + 1)
end

return H
