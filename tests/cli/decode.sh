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

# --mask-layer is 1-based; the file name keeps the reference's 0-based L (layer 2 -> layer1)
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone p2q --mask-layer 2 2>&1); rc=$?
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

# issue 17: the default --max-seq-length 384 exceeds this model's positions: use its maximum,
# say so in one line; a missing --predict is reported before anything about the model
out=$("$ZL" recipes/decode.lua --model "$tmp/model" --predict "$tmp/dev.json" --out "$tmp/def" \
      --max-query-length 24 --threads 1 2>&1 >/dev/null); rc=$?
check_eq "default length exit" 0 "$rc"
check_eq "default length line" "zonelab: using --max-seq-length 256: the model has 256 positions, fewer than the default 384" "$out"
out=$("$ZL" recipes/decode.lua --model "$tmp/model" --predict "$tmp/missing.json" --out "$tmp/o" --max-seq-length 100000 2>&1); rc=$?
check_eq "missing data before length exit" 1 "$rc"
check_eq "missing data before length" "zonelab: error: $tmp/missing.json: no such file (--predict)" "$out"

# issue 17: casing. --cased on an uncased vocabulary is refused in one line (it decoded
# silently at EM 4.5 before); a folder's do_lower_case must agree with its vocabulary
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --cased 2>&1); rc=$?
check_eq "cased on uncased exit" 1 "$rc"
check_eq "cased on uncased one line" 1 "$(printf '%s\n' "$out" | wc -l)"
check "cased on uncased message" "zonelab: error: --cased contradicts the model: $tmp/model/vocab.txt is uncased" "$out"
mkdir -p "$tmp/model2"; cp "$tmp/model/"* "$tmp/model2/"
echo '{"do_lower_case": false}' > "$tmp/model2/tokenizer_config.json"
out=$("$ZL" recipes/decode.lua --model "$tmp/model2" --predict "$tmp/dev.json" --out "$tmp/o" --max-seq-length 96 2>&1); rc=$?
check_eq "declared casing exit" 1 "$rc"
check "declared casing message" "tokenizer_config.json says do_lower_case = false, but $tmp/model2/vocab.txt is uncased" "$out"
# features.lua: the vocabulary's casing by default; a cased vocabulary on this (capitalised)
# text with few capitalised pieces leaves many [UNK]: one warning line
out=$("$ZL" recipes/features.lua --vocab "$tmp/model/vocab.txt" --input "$tmp/dev.json" --out "$tmp/f.jsonl" 2>&1); rc=$?
check_eq "features default casing exit" 0 "$rc"
check_eq "features default casing: no warning" "" "$(printf '%s\n' "$out" | grep warning)"
{ cat "$tmp/model/vocab.txt"; for i in $(seq 1 20); do echo "Word$i"; done; } > "$tmp/cased_vocab.txt"
out=$("$ZL" recipes/features.lua --vocab "$tmp/cased_vocab.txt" --input "$tmp/dev.json" --out "$tmp/f.jsonl" 2>&1); rc=$?
check_eq "features unk exit" 0 "$rc"
check "features unk warning" "warning: $tmp/dev.json: " "$out"
check "features unk warning text" "of its wordpieces are [UNK] (more than 5%)" "$out"
out=$("$ZL" recipes/features.lua --vocab "$tmp/cased_vocab.txt" --lower --input "$tmp/dev.json" --out "$tmp/f.jsonl" 2>&1); rc=$?
check_eq "features lower on cased exit" 1 "$rc"
check "features lower on cased message" "zonelab: error: --lower contradicts the model: $tmp/cased_vocab.txt is cased" "$out"

# errors: one line, exit 1
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q2 --mask-layer 3 2>&1); rc=$?
check_eq "layer range exit" 1 "$rc"
check_eq "layer range message" "zonelab: error: --mask-layer 3 is out of range: the model has 2 layers (1..2, 1-based)" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q2 --mask-layer 0 2>&1); rc=$?
check_eq "layer 0 exit" 1 "$rc"
check_eq "layer 0 message" "zonelab: error: --mask-layer 0 is out of range: the model has 2 layers (1..2, 1-based)" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --mask-zone q3 --mask-layer 1 2>&1); rc=$?
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
check "bad layer message" "zonelab: error: --mask-layer must be a layer number (1-based) or 'all'" "$out"
out=$("$ZL" "${DEC[@]}" --out "$tmp/o" --lower --cased 2>&1); rc=$?
check_eq "lower+cased exit" 1 "$rc"
out=$("$ZL" recipes/decode.lua --model "$tmp/model" --predict "$tmp/missing.json" --out "$tmp/o" --max-seq-length 96 2>&1); rc=$?
check_eq "missing data exit" 1 "$rc"
check "missing data names it" "$tmp/missing.json" "$out"
check_eq "missing data one line" 1 "$(printf '%s\n' "$out" | wc -l)"

finish
