# recipes/flows.lua end to end on a synthetic corpus and small random models:
# the JSON contract, --compare/--target/--heads, and one-line errors.
source "$(dirname "$0")/lib.sh" "$@"
TMP="$tmp"
flows_models "$TMP" || { bad "could not build the synthetic data"; finish; }
QID=$(cat "$TMP/qid")
# A random model attends almost uniformly (about 1/length): a tiny tau keeps edges.
"$ZL" recipes/flows.lua --model "$TMP/m1" --predict "$TMP/data/dev.json" --qid "$QID" \
  --tau 0.002 --max-seq-length 256 --out "$TMP/out" > "$TMP/log" && ok || bad "single-model run failed"
grep -q "wrote $TMP/out/flows_$QID.pdf" "$TMP/log" && ok || bad "no PDF line in: $(cat "$TMP/log")"
head -c 5 "$TMP/out/flows_$QID.pdf" | grep -q "%PDF-" && ok || bad "not a PDF"
"$ZL" -e "
local zl = require 'zonelab'
local j = zl.json.read('$TMP/out/flows_$QID.json')
local S = #j.tokens
assert(j.num_layers == 3, 'num_layers')
assert(j.tau == 0.002 and j.alpha == 0.5, 'tau/alpha')
assert(j.tokens[1] == '[CLS]' and j.tokens[S] == '[SEP]', 'tokens')
assert(#j.target == 1 and j.target[1] == 0, 'target')
assert(#j.counts == 3 and #j.influence == 3 and #j.counts[1] == S, 'counts shape')
assert(#j.nodes == 4 and #j.nodes[4] == 1, 'nodes')
assert(#j.edges > 0, 'edges')
-- every edge: [layer, from, to, heads], from a node one layer up, counts add up
local sum = {}
for _, e in ipairs(j.edges) do
  assert(#e == 4 and e[1] >= 0 and e[1] < 3 and #e[4] >= 1, 'edge shape')
  local k = e[1] * S + e[3]
  sum[k] = (sum[k] or 0) + #e[4]
end
for l = 0, 2 do for t = 0, S - 1 do
  assert((sum[l * S + t] or 0) == j.counts[l + 1][t + 1], 'count ' .. l .. ',' .. t)
end end
-- influence of layer 2 (the last) is its count; layer 0 averages with decay 0.5
for t = 0, S - 1 do
  local c0, c1, c2 = j.counts[1][t + 1], j.counts[2][t + 1], j.counts[3][t + 1]
  assert(math.abs(j.influence[3][t + 1] - c2) < 1e-9, 'I_2')
  assert(math.abs(j.influence[1][t + 1] - (0.25 * c0 + 0.5 * c1 + c2) / 3) < 1e-9, 'I_0')
end
assert(j.qid == '$QID' and j.question and j.answer, 'question fields')
" && ok || bad "single-model JSON does not follow the contract"

"$ZL" recipes/flows.lua --model "$TMP/m1" --compare "$TMP/m2" --predict "$TMP/data/dev.json" \
  --qid "$QID" --tau 0.002 --target answer --heads 1,3 --max-seq-length 256 --out "$TMP/cmp" \
  > "$TMP/log2" && ok || bad "comparison run failed"
"$ZL" -e "
local zl = require 'zonelab'
local j = zl.json.read('$TMP/cmp/flows_$QID.json')
assert(j.a and j.b and #j.shared == 4 and #j.only_a == 4 and #j.only_b == 4, 'comparison sets')
assert(#j.heads_shared == 3, 'head sets')
-- --heads counts from 1, the JSON from 0 (docs/flows.md): --heads 1,3 is [0, 2]
for l = 1, 3 do
  assert(#j.a.heads[l] == 2 and j.a.heads[l][1] == 0 and j.a.heads[l][2] == 2, 'heads option')
end
assert(#j.a.target == 2 or #j.a.target == 1, 'answer target')
assert(j.a.target[1] == j.answers.a.start and j.models.b == '$TMP/m2', 'target is the answer start')
for _, e in ipairs(j.b.edges) do for _, h in ipairs(e[4]) do assert(h == 0 or h == 2, 'head subset') end end
-- the sets partition the union of both graphs' nodes
for l = 1, 4 do
  local na, nb = {}, {}
  for _, t in ipairs(j.a.nodes[l]) do na[t] = true end
  for _, t in ipairs(j.b.nodes[l]) do nb[t] = true end
  for _, t in ipairs(j.shared[l]) do assert(na[t] and nb[t], 'shared') end
  for _, t in ipairs(j.only_a[l]) do assert(na[t] and not nb[t], 'only_a') end
  for _, t in ipairs(j.only_b[l]) do assert(nb[t] and not na[t], 'only_b') end
  assert(#j.shared[l] + #j.only_a[l] == #j.a.nodes[l], 'a covered')
end
" && ok || bad "comparison JSON does not follow the contract"
pdftoppm -r 30 -f 1 -l 1 -png "$TMP/cmp/flows_$QID.pdf" "$TMP/page" && ok || bad "pdftoppm could not render the PDF"

# --target answer-b: the window and both graphs start from model B's answer (the protocol's
# pretrained A, whose QA head is untrained, against the fine-tuned B)
"$ZL" recipes/flows.lua --model "$TMP/m1" --compare "$TMP/m2" --predict "$TMP/data/dev.json" \
  --qid "$QID" --tau 0.002 --target answer-b --max-seq-length 256 --out "$TMP/cmpb" \
  > "$TMP/log3" && ok || bad "answer-b comparison run failed"
"$ZL" -e "
local zl = require 'zonelab'
local j = zl.json.read('$TMP/cmpb/flows_$QID.json')
local jb = zl.json.read('$TMP/cmp/flows_$QID.json') -- --target answer: each from its own answer
assert(j.target_kind == 'answer-b', 'target_kind')
assert(j.b.target[1] == j.answers.b.start and j.b.target[#j.b.target] == j.answers.b['end'], 'B from its answer')
assert(zl.json.encode(j.a.target) == zl.json.encode(j.b.target), 'A from B answer')
assert(j.answers.b.start == jb.answers.b.start and j.answers.b['end'] == jb.answers.b['end'], 'same B answer')
assert(#j.a.edges > 0 and #j.b.edges > 0, 'edges')
" && ok || bad "answer-b JSON: both graphs must start from model B's answer"

expect_error() { # pattern, args...
  local pat="$1"; shift
  if "$ZL" recipes/flows.lua "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"; then bad "accepted: $*"; fi
  grep -q "^zonelab: error: .*$pat" "$TMP/err.txt" && ok || bad "expected '$pat' in: $(cat "$TMP/err.txt")"
  [ "$(wc -l < "$TMP/err.txt")" -eq 1 ] && ok || bad "more than one error line: $(cat "$TMP/err.txt")"
}
COMMON=(--model "$TMP/m1" --predict "$TMP/data/dev.json" --max-seq-length 256 --out "$TMP/e")
expect_error "no question with id 'nope'" "${COMMON[@]}" --qid nope
expect_error "head 9 is outside 1..4" "${COMMON[@]}" --qid "$QID" --heads 1,9
expect_error "--heads entry must be a whole number between 1 and 64, got .0." "${COMMON[@]}" --qid "$QID" --heads 0,2
expect_error "tau must be a number" "${COMMON[@]}" --qid "$QID" --tau 1.5
expect_error "target" "${COMMON[@]}" --qid "$QID" --target middle
expect_error "--target answer-b starts from model B's answer: it needs --compare" "${COMMON[@]}" \
  --qid "$QID" --target answer-b
expect_error "--layer 7 is outside 1..3" "${COMMON[@]}" --qid "$QID" --layer 7
expect_error "--mask-layer 4 is out of range: the model has 3 layers (1..3, 1-based)" \
  "${COMMON[@]}" --qid "$QID" --mask-zone p2q --mask-layer 4
expect_error "--mask-zone needs --mask-layer" "${COMMON[@]}" --qid "$QID" --mask-zone p2q

# zone-masked flows: --mask-zone without --compare compares the model with itself, A
# unmasked (the single-model run's graph, edge for edge) and B under the mask, which
# changes the graph (the passage rows lose their attention to the question)
"$ZL" recipes/flows.lua --model "$TMP/m1" --predict "$TMP/data/dev.json" --qid "$QID" \
  --tau 0.002 --max-seq-length 256 --mask-zone p2q --mask-layer all --out "$TMP/masked" > "$TMP/mlog" \
  && ok || bad "masked run failed"
grep -q "(model B: " "$TMP/mlog" && ok || bad "the masked run is no comparison: $(cat "$TMP/mlog")"
"$ZL" -e "
local zl = require 'zonelab'
local one = zl.json.read('$TMP/out/flows_$QID.json')
local j = zl.json.read('$TMP/masked/flows_$QID.json')
assert(j.a and j.b, 'comparison layout')
assert(j.models.a == '$TMP/m1' and j.models.b == '$TMP/m1', 'one model twice')
assert(j.mask.zone == 'p2q' and j.mask.layer == 'all' and j.mask_applies_to == 'b', 'mask fields')
assert(zl.json.encode(j.a.edges) == zl.json.encode(one.edges), 'A is the unmasked graph')
assert(zl.json.encode(j.b.edges) ~= zl.json.encode(one.edges), 'the mask changed nothing in B')
-- under p2q no passage token (first_segment on) attends to a question token (1..first_segment-2)
local fs = 0
for _, t in ipairs(j.a.tokens) do fs = fs + 1; if t == '[SEP]' then break end end
for _, e in ipairs(j.b.edges) do
  assert(not (e[2] >= fs and e[3] >= 1 and e[3] <= fs - 2), 'B has a p2q edge ' .. zl.json.encode(e))
end
local n = 0
for _, e in ipairs(j.a.edges) do if e[2] >= fs and e[3] >= 1 and e[3] <= fs - 2 then n = n + 1 end end
assert(n > 0, 'A has no passage-to-question edge to lose')
" && ok || bad "the self-comparison under the mask is wrong"
# with --compare the mask applies to both models (said in the JSON)
"$ZL" recipes/flows.lua --model "$TMP/m1" --compare "$TMP/m2" --predict "$TMP/data/dev.json" --qid "$QID" \
  --tau 0.002 --max-seq-length 256 --mask-zone p2q --mask-layer 2 --out "$TMP/masked2" > /dev/null \
  && ok || bad "masked comparison failed"
"$ZL" -e "
local zl = require 'zonelab'
local j = zl.json.read('$TMP/masked2/flows_$QID.json')
assert(j.mask_applies_to == 'both' and j.mask.layer == 2 and j.models.b == '$TMP/m2', 'both masked')
" && ok || bad "the masked comparison's JSON does not say what was masked"
expect_error "qid" --model "$TMP/m1" --predict "$TMP/data/dev.json" --out "$TMP/e"
"$ZL" recipes/flows.lua --help | grep -q -- "--compare" && ok || bad "--help does not list --compare"
finish
