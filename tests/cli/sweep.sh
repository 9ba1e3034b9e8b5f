#!/usr/bin/env bash
# recipes/sweep.lua: every configuration's files, results.csv / results_f1.csv through the
# aggregate recipe, resume (skip finished, byte-identical end), --force, equality with
# separate decodes, subsets of layers/zones, and one-line errors.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

synth_model "$tmp" 4 2 2 0.3
COMMON=(--model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96 --max-query-length 24
        --doc-stride 32 --batch 4 --threads 1)

out=$("$ZL" recipes/sweep.lua --help 2>&1); rc=$?
check_eq "help exit" 0 "$rc"
for opt in --zones --layers --force --padding --batch --out; do check "help $opt" "$opt" "$out"; done

out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
check_eq "sweep exit" 0 "$rc"
check "sweep count" "sweep: 11 configurations decoded, 0 already done" "$out"
check "sweep baseline line" 'baseline: {"exact_match": ' "$out"
n=$(ls "$tmp/s" | grep -c '^predictions')
check_eq "predictions files" 11 "$n"
n=$(ls "$tmp/s" | grep -c '^nbest_predictions')
check_eq "nbest files" 11 "$n"
check_eq "results header" "layer,all,q2,q2p,p2q,p2" "$(head -1 "$tmp/s/results.csv")"
check_eq "results rows" 3 "$(wc -l < "$tmp/s/results.csv")"
check "results layer 1" $'\n1,' "$(cat "$tmp/s/results.csv")"
check_eq "results_f1 header" "layer,all,q2,q2p,p2q,p2" "$(head -1 "$tmp/s/results_f1.csv")"
check "baseline.json" '"exact_match"' "$(cat "$tmp/s/baseline.json")"
check "baseline.json metric" '"metric": "exact_match"' "$(cat "$tmp/s/baseline.json")"
# the F1 table holds the metrics files' F1 (rounded to 3 decimals)
f1=$("$ZL" -e "print(string.format('%.3f', require('zonelab').json.read('$tmp/s/metrics_layer1_q2p.json').f1))")
check_eq "results_f1 cell = metrics" "$f1" "$(sed -n 3p "$tmp/s/results_f1.csv" | cut -d, -f4)"
check_eq "no checkpoint left" "" "$(ls -A "$tmp/s" | grep partial)"
cp "$tmp/s/results.csv" "$tmp/results.first"; cp "$tmp/s/results_f1.csv" "$tmp/results_f1.first"
cp "$tmp/s/nbest_predictions_layer0_p2q.json" "$tmp/nbest.first"

# resume: everything done -> nothing decoded, identical tables
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
check_eq "rerun exit" 0 "$rc"
check "rerun skipped" "sweep: 0 configurations decoded, 11 already done" "$out"
same "rerun results" "$tmp/results.first" "$tmp/s/results.csv"
same "rerun results_f1" "$tmp/results_f1.first" "$tmp/s/results_f1.csv"
# an interrupted sweep: one configuration missing
rm "$tmp/s/predictions_layer0_p2q.json" "$tmp/s/nbest_predictions_layer0_p2q.json"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
check "resume one" "sweep: 1 configurations decoded, 10 already done" "$out"
same "resume results" "$tmp/results.first" "$tmp/s/results.csv"
same "resume results_f1" "$tmp/results_f1.first" "$tmp/s/results_f1.csv"
same "resume nbest" "$tmp/nbest.first" "$tmp/s/nbest_predictions_layer0_p2q.json"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" --force 2>&1); rc=$?
check "force" "sweep: 11 configurations decoded, 0 already done" "$out"
same "force results" "$tmp/results.first" "$tmp/s/results.csv"

# the same files as separate decodes
# decode's --mask-layer and sweep's --layers count alike (1-based); file names keep L = layer - 1
for c in "" "--mask-zone q2 --mask-layer 2" "--mask-zone all --mask-layer 1" "--mask-zone p2 --mask-layer 2"; do
  "$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/d" $c > /dev/null 2>&1
done
for f in predictions.json predictions_layer1_q2.json predictions_layer0_all.json predictions_layer1_p2.json \
         nbest_predictions.json nbest_predictions_layer1_q2.json nbest_predictions_layer0_all.json; do
  same "decode = sweep $f" "$tmp/d/$f" "$tmp/s/$f"
done

# a subset: layer 2 only, two zones; other cells empty
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/sub" --layers 2 --zones q2,p2 2>&1); rc=$?
check_eq "subset exit" 0 "$rc"
check "subset count" "sweep: 3 configurations decoded" "$out"
check_eq "subset files" "predictions.json predictions_layer1_p2.json predictions_layer1_q2.json" \
  "$(ls "$tmp/sub" | grep '^predictions' | tr '\n' ' ' | sed 's/ $//')"
check_eq "subset row 1" "1,,,,," "$(sed -n 2p "$tmp/sub/results.csv")"
check "subset row 2" "2,," "$(sed -n 3p "$tmp/sub/results.csv")"

# errors
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --layers 1-3 2>&1); rc=$?
check_eq "layers range exit" 1 "$rc"
check_eq "layers range message" "zonelab: error: --layers 1-3 is out of range: the model has 2 layers (1..2, 1-based)" "$out"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --layers 0 2>&1); rc=$?
check_eq "layer 0 exit" 1 "$rc"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --layers x 2>&1); rc=$?
check_eq "layers syntax exit" 1 "$rc"
check "layers syntax message" "zonelab: error: --layers: 'x' is not a layer" "$out"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --zones q2,foo 2>&1); rc=$?
check_eq "zones exit" 1 "$rc"
check_eq "zones message" "zonelab: error: unknown zone 'foo': valid zones are all, q2, q2p, p2q, p2 (and all_strict)" "$out"

finish
