-- recipes/tokenize.lua — WordPiece-tokenize text lines from stdin, as Google's BERT
-- FullTokenizer does (or the CMRC 2018 variant): one output line per input line,
-- pieces (or ids with --ids) separated by single spaces.
local cli = require "zonelab.cli"
local zl = require "zonelab"

local p = cli.parser("recipes/tokenize.lua", [[
  Reads text lines from stdin and prints, per line, the WordPiece pieces (or ids) of Google's BERT
  tokenizer separated by single spaces. Invalid UTF-8 bytes are dropped.]])
p:option("--vocab", "vocab.txt of the model (one piece a line)."):args(1):count(1)
p:flag("--lower", "Lower-case and strip accents (uncased models).")
p:flag("--cmrc", "run_cmrc2018.py's tokenizer variant (controls become [UNK], accents kept).")
p:flag("--ids", "Print vocabulary ids instead of pieces.")
local args = cli.parse(p)

local tok = zl.tokenizer.load(args.vocab, { lower = args.lower, cmrc = args.cmrc })
local out = {}
for line in io.stdin:lines() do
  local r = args.ids and tok:encode(line) or tok:tokenize(line)
  out[#out + 1] = table.concat(r, " ")
  if #out >= 4096 then
    io.stdout:write(table.concat(out, "\n"), "\n")
    out = {}
  end
end
if #out > 0 then io.stdout:write(table.concat(out, "\n"), "\n") end
