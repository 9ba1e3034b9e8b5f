#!/usr/bin/env bash
# recipes/decode.lua: files named as the reference, scores, --mask-layer all, and one-line
# errors (layer out of range naming the layer count, unknown zone listing the zones).
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

# a synthetic dev set and a random 2-layer model with its vocabulary
synth_model "$tmp" 3 2 1
"$ZL" -e "
local zl = require 'zonelab'
local d = zl.json.read('$tmp/dev.json')
for _, a in ipairs(d.data) do for _, p in ipairs(a.paragraphs) do
  for _, q in ipairs(p.qas) do q.answers = zl.json.array() end end end
zl.json.write('$tmp/noanswers.json', d)"
DEC=(recipes/decode.lua --model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96
     --max-query-length 24 --doc-stride 32 --batch 4 --threads 1)

out=$("$ZL" recipes/decode.lua --help 2>&1); rc=$?
check_eq "help exit" 0 "$rc"
for opt in --mask-zone --mask-layer --max-seq-length --doc-stride --max-query-length --batch \
           --n-best-size --max-answer-length --lower --cased --cmrc --threads --padding all_strict; do
  check "help $opt" "$opt" "$out"
done

out=$("$ZL" "${DEC[@]}" --out "$tmp/o" 2>&1); rc=$?
check_eq "baseline exit" 0 "$rc"
check "baseline score line" '{"exact_match": ' "$out"
check "baseline wrote" "wrote $tmp/o/predictions.json" "$out"
for f in predictions.json nbest_predictions.json metrics.json; do
  check_eq "baseline file $f" file "$( [ -f "$tmp/o/$f" ] && echo file)"
done
nq=$("$ZL" -e "local n=0 for _ in pairs(require('zonelab').json.read('$tmp/o/predictions.json')) do n=n+1 end print(n)")
check_eq "one prediction per question" 10 "$nq"
check "metrics keys" '"f1"' "$(cat "$tmp/o/metrics.json")"

out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone p2q --mask-layer 1 2>&1); rc=$?
check_eq "masked exit" 0 "$rc"
check_eq "masked file" file "$( [ -f "$tmp/o/predictions_layer1_p2q.json" ] && echo file)"
check_eq "masked nbest" file "$( [ -f "$tmp/o/nbest_predictions_layer1_p2q.json" ] && echo file)"
check_eq "masked metrics" file "$( [ -f "$tmp/o/metrics_layer1_p2q.json" ] && echo file)"
if cmp -s "$tmp/o/nbest_predictions.json" "$tmp/o/nbest_predictions_layer1_p2q.json"; then
  fail=$((fail+1)); echo "FAIL the mask changed nothing"; else pass=$((pass+1)); fi

out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone all_strict --mask-layer all 2>&1); rc=$?
check_eq "every layer exit" 0 "$rc"
check_eq "every layer file" file "$( [ -f "$tmp/o/predictions_layer_all_strict.json" ] && echo file)"

check_eq "no checkpoint left" "" "$(ls -A "$tmp/o" | grep partial)"

# a file without answers: predictions but no scores
out=$("$ZL" recipes/decode.lua --model "$tmp/model" --predict "$tmp/noanswers.json" --out "$tmp/n" \
      --max-seq-length 96 --max-query-length 24 --threads 1 2>&1); rc=$?
check_eq "no answers exit" 0 "$rc"
check_eq "no answers predictions" file "$( [ -f "$tmp/n/predictions.json" ] && echo file)"
check_eq "no answers no metrics" "" "$( [ -f "$tmp/n/metrics.json" ] && echo file)"

# errors: one line, exit 1
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q2 --mask-layer 2 2>&1); rc=$?
check_eq "layer range exit" 1 "$rc"
check_eq "layer range message" "zonelab: error: --mask-layer 2 is out of range: the model has 2 layers (0..1, 0-based)" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q3 --mask-layer 0 2>&1); rc=$?
check_eq "zone exit" 1 "$rc"
check_eq "zone message" "zonelab: error: unknown zone 'q3': valid zones are all, q2, q2p, p2q, p2 (and all_strict)" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q2 2>&1); rc=$?
check_eq "zone without layer exit" 1 "$rc"
check "zone without layer message" "zonelab: error: --mask-zone needs --mask-layer" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-layer 1 2>&1); rc=$?
check_eq "layer without zone exit" 1 "$rc"
out=$("$ZL" recipes/decode.lua --model "$tmp/nomodel" --predict "$tmp/dev.json" --out "$tmp/o" 2>&1); rc=$?
check_eq "missing model exit" 1 "$rc"
check_eq "missing model message" "zonelab: error: $tmp/nomodel: not a model folder" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q2 --mask-layer x 2>&1); rc=$?
check_eq "bad layer exit" 1 "$rc"
check "bad layer message" "zonelab: error: --mask-layer must be a 0-based layer number or 'all'" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --lower --cased 2>&1); rc=$?
check_eq "lower+cased exit" 1 "$rc"
out=$("$ZL" recipes/decode.lua --model "$tmp/model" --predict "$tmp/missing.json" --out "$tmp/o" --max-seq-length 96 2>&1); rc=$?
check_eq "missing data exit" 1 "$rc"
check "missing data names it" "$tmp/missing.json" "$out"
check_eq "missing data one line" 1 "$(printf '%s\n' "$out" | wc -l)"

finish
