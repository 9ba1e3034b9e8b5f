-- tiny_world — the smallest complete world the binding specs build objects in: a
-- 13-piece vocabulary, a two-question SQuAD file, a 2-layer config and feature options,
-- written once into a temporary folder (removed by cleanup()).
local lfs = require "lfs"
local zl = require "zonelab"

local M = {}

M.tmpdir = os.tmpname()
os.remove(M.tmpdir)
assert(lfs.mkdir(M.tmpdir))

--- Writes text to a file of that name in the folder; returns its path.
function M.write(name, text)
  local p = M.tmpdir .. "/" .. name
  local f = assert(io.open(p, "wb"))
  f:write(text)
  f:close()
  return p
end

M.VOCAB = M.write("vocab.txt", table.concat({ "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat",
  "sat", "on", "mat", "what", "where", ".", "?" }, "\n") .. "\n")
M.SQUAD = M.write("dev.json", [[{"version": "1.1", "data": [{"title": "T", "paragraphs": [
  {"context": "The cat sat on the mat.", "qas": [
   {"id": "q1", "question": "What sat on the mat?", "answers": [{"answer_start": 4, "text": "cat"}]},
   {"id": "q2", "question": "Where?", "answers": [{"answer_start": 15, "text": "the mat"}]}]}]}]}]])
M.CFG = { vocab_size = 13, hidden_size = 8, num_hidden_layers = 2, num_attention_heads = 2,
  intermediate_size = 16, max_position_embeddings = 32, type_vocab_size = 2 }
M.FOPTS = { max_seq_length = 24, doc_stride = 8, max_query_length = 8 }

function M.tok() return zl.tokenizer.load(M.VOCAB, { lower = true }) end

function M.cleanup() os.execute("rm -rf '" .. M.tmpdir .. "'") end

return M
