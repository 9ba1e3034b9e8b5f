#!/usr/bin/env bash
# --precision fp32|bf16 (core/bf16.h): a bf16 sweep equals separate bf16 decodes byte for
# byte (the rows path and dynamic padding's narrowing included), bf16 and fp32 never share a
# run folder, unknown values and a CPU without native bf16 (DNNL_MAX_CPU_ISA=AVX2) are
# refused in one line, and the Lua options check their values.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

synth_model "$tmp" 4 2 2 0.3
COMMON=(--model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96 --max-query-length 24
        --doc-stride 32 --batch 4 --padding dynamic)

out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/x" --precision fp16 2>&1); rc=$?
check_eq "unknown precision exit" 1 "$rc"
check "unknown precision message" "zonelab: error: " "$out"
check "unknown precision named" "'--precision' must be one of 'fp32', 'bf16'" "$out"
out=$("$ZL" -e "local zl = require 'zonelab'; print(pcall(zl.bert.check_precision, 'fp16'))" 2>&1)
check "check_precision unknown" "false	unknown precision 'fp16' (fp32 or bf16)" "$out"

# no native bf16: one line, nothing written
out=$(DNNL_MAX_CPU_ISA=AVX2 "$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/noisa" --precision bf16 2>&1); rc=$?
check_eq "no native bf16 exit" 1 "$rc"
check_eq "no native bf16 message" "zonelab: error: precision bf16: this CPU has no native bf16 products (no AVX512_BF16 or AMX as oneDNN sees it); bf16 would be emulated and slower than fp32" "$out"
check_eq "no native bf16: no folder" "" "$(ls -A "$tmp" | grep noisa)"
out=$(DNNL_MAX_CPU_ISA=AVX2 "$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/noisa" 2>&1); rc=$?
check_eq "fp32 unaffected without bf16" 0 "$rc"

if ! "$ZL" -e "require('zonelab').bert.check_precision('bf16')" > /dev/null 2>&1; then
  skip_part "bf16 is not available here: $("$ZL" -e "require('zonelab').bert.check_precision('bf16')" 2>&1)"
  finish
fi

# the sweep in bf16 = separate bf16 decodes, byte for byte (2 threads: products of row
# chunks running at once)
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" --precision bf16 --threads 2 2>&1); rc=$?
check_eq "bf16 sweep exit" 0 "$rc"
check "bf16 sweep count" "sweep: 11 configurations decoded" "$out"
check "bf16 folder marked" '"precision": "bf16"' "$(cat "$tmp/s/precision.json")"
for c in "" "--mask-zone q2 --mask-layer 2" "--mask-zone all --mask-layer 1" "--mask-zone p2q --mask-layer 1" \
         "--mask-zone q2p --mask-layer 2"; do
  "$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/d" --precision bf16 --threads 2 $c > /dev/null 2>&1 \
    || bad "bf16 decode $c failed"
done
for f in predictions.json predictions_layer1_q2.json predictions_layer0_all.json predictions_layer0_p2q.json \
         predictions_layer1_q2p.json nbest_predictions.json nbest_predictions_layer1_q2.json \
         nbest_predictions_layer0_all.json nbest_predictions_layer0_p2q.json; do
  same "bf16 decode = bf16 sweep $f" "$tmp/d/$f" "$tmp/s/$f"
done
# bf16 is not fp32: the n-best scores move (the answers may not)
"$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/f" > /dev/null 2>&1
if cmp -s "$tmp/f/nbest_predictions.json" "$tmp/s/nbest_predictions.json"; then
  bad "bf16 n-best scores equal fp32's"; else ok; fi
check_eq "fp32 folder unmarked" "" "$(ls -A "$tmp/f" | grep precision)"

# one precision per folder: a resumed sweep or a decode of the other precision is refused
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
check_eq "fp32 into bf16 folder exit" 1 "$rc"
check "fp32 into bf16 folder message" "holds bf16 decodes" "$out"
check "fp32 into bf16 folder names the request" "this run asks for fp32: use another output folder" "$out"
out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/f" --precision bf16 --mask-zone q2 --mask-layer 1 2>&1); rc=$?
check_eq "bf16 into fp32 folder exit" 1 "$rc"
check "bf16 into fp32 folder message" "holds fp32 decodes (predictions.json); this run asks for bf16" "$out"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" --precision bf16 2>&1); rc=$?
check "bf16 rerun skips" "sweep: 0 configurations decoded, 11 already done" "$out"

# shards record the precision: shards of two precisions do not merge
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/sh" --layers 1 --shard 1/2 --precision bf16 > /dev/null 2>&1
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/sh" --layers 1 --shard 2/2 > /dev/null 2>&1
check "manifest precision" '"precision": "bf16"' "$(cat "$tmp/sh/shard-1-of-2/manifest.json")"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/sh" 2>&1); rc=$?
check_eq "mixed shards exit" 1 "$rc"
check "mixed shards message" "disagree on the options (precision)" "$out"

# protocol.lua passes it to its sweeps and flows (training stays fp32); a rerun in fp32 is
# refused by the sweeps
out=$("$ZL" recipes/protocol.lua --preset tiny --out "$tmp/p" --precision bf16 --flows 1 --seeds 1 2>&1); rc=$?
check_eq "protocol bf16 exit" 0 "$rc"
check "protocol bf16 sweep marked" '"precision": "bf16"' "$(cat "$tmp/p/seed1/sweep/precision.json")"
check "protocol passes it to flows" "flows.lua --model" "$(grep -- "--precision bf16" <<< "$out")"
check "protocol report says it" "Decoded with \`--precision bf16\`" "$(cat "$tmp/p/report.md")"
out=$("$ZL" recipes/protocol.lua --preset tiny --out "$tmp/p" --flows 1 --seeds 1 2>&1); rc=$?
check_eq "protocol fp32 rerun exit" 1 "$rc"
check "protocol fp32 rerun refused" "sweep holds bf16 decodes (predictions.json, precision.json); this run asks for fp32" "$out"

# Lua: the option is checked by name and value
out=$("$ZL" -e "
local zl = require 'zonelab'
local m = zl.bert.load('$tmp/model')
local ids = zl.tensor.from({2, 5, 7, 3}, {1, 4}, 'i32')
local a = m:forward{input_ids = ids}
local b = m:forward{input_ids = ids, precision = 'bf16'}
print(a.start_logits:get(1, 2) ~= b.start_logits:get(1, 2), math.abs(a.start_logits:get(1, 2) - b.start_logits:get(1, 2)) < 0.05)
print(pcall(m.forward, m, {input_ids = ids, precision = 'half'}))
print(pcall(m.forward, m, {input_ids = ids, precison = 'bf16'}))
local qa = require 'zonelab.qa'
local model = qa.load_model('$tmp/model')
local data = qa.load_data('$tmp/dev.json', model, { max_seq_length = 96, doc_stride = 32, max_query_length = 24 })
print(pcall(zl.sweep.new, model.bert, data.ds, data.feats, {{zone = 'none'}}, {precision = 'fp8'}))
local p16 = qa.decode(model, data, {zone = 'q2', layer = 2}, {batch = 4, padding = 'dynamic', precision = 'bf16', progress = false, quiet = true})
local f16 = zl.json.read('$tmp/s/predictions_layer1_q2.json')
local same = true
for id, text in pairs(f16) do same = same and p16[id] == text end
print('qa.decode bf16 = sweep file', same)" 2>&1)
check "Lua bf16 forward" "true	true" "$out"
check "Lua precision value" "forward: option 'precision' must be \"fp32\" or \"bf16\" (got half)" "$out"
check "Lua precision name" "unknown option 'precison' (did you mean 'precision'?)" "$out"
check "sweep.new precision value" "sweep.new: option 'precision' must be \"fp32\" or \"bf16\" (got fp8)" "$out"
check "qa.decode precision" "qa.decode bf16 = sweep file	true" "$out"
finish
