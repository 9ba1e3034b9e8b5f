#!/usr/bin/env bash
# recipes/evaluate.lua, aggregate.lua and stats.lua end to end: the official output line,
# per-question files, results.csv + baseline.json, missing files, the published tables'
# standard deviations of difference, the seeded bootstrap, and one-line errors (exit 1).
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

# ---- a tiny dataset: 4 questions ----
cat > "$tmp/dev.json" <<'EOF'
{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "ctx", "qas": [
 {"id": "q1", "question": "?", "answers": [{"text": "The cat", "answer_start": 0}, {"text": "a dog", "answer_start": 0}]},
 {"id": "q2", "question": "?", "answers": [{"text": "red", "answer_start": 0}]},
 {"id": "q3", "question": "?", "answers": [{"text": "blue sky", "answer_start": 0}]},
 {"id": "q4", "question": "?", "answers": [{"text": "1,000 people", "answer_start": 0}]}]}]}]}
EOF
echo '{"q1": "dog", "q2": "red", "q3": "sky", "q4": "1000 people"}' > "$tmp/p_all.json"   # EM 3/4, F1 (1+1+2/3+1)/4
echo '{"q1": "cat", "q2": "blue", "q3": "blue sky"}' > "$tmp/p_miss.json"                # q4 missing

# ---- evaluate ----
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/p_all.json" 2>&1); rc=$?
check_eq "evaluate exit" 0 "$rc"
check_eq "evaluate line" '{"exact_match": 75.0, "f1": 91.66666666666666}' "$out"
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/p_miss.json" --per-question "$tmp/pq.json" 2>"$tmp/err"); rc=$?
check_eq "evaluate missing exit" 0 "$rc"
check_eq "evaluate missing line" '{"exact_match": 50.0, "f1": 50.0}' "$out"
check "evaluate missing warning" "unanswered question q4 will receive score 0" "$(cat "$tmp/err")"
check "per-question q3" '"q3":[100,100]' "$(cat "$tmp/pq.json")"
check "per-question q4" '"q4":[0,0]' "$(cat "$tmp/pq.json")"
check "per-question missing" '"missing":1' "$(cat "$tmp/pq.json")"
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/nope.json" 2>&1); rc=$?
check_eq "evaluate bad exit" 1 "$rc"
check_eq "evaluate bad message" "zonelab: error: $tmp/nope.json: cannot open (No such file or directory)" "$out"
echo '{"q1": 5}' > "$tmp/p_num.json"
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/p_num.json" 2>&1); rc=$?
check_eq "evaluate non-string exit" 1 "$rc"
check "evaluate non-string" "the prediction for question q1 is not a string" "$out"
check "evaluate help" "official evaluate-v1.1.py" "$("$ZL" recipes/evaluate.lua --help)"

real="${ZONELAB_SHARED:-../shared}/data/real/squad_v1.1"
if [ -f "$real/dev-v1.1.json" ]; then
  out=$("$ZL" recipes/evaluate.lua "$real/dev-v1.1.json" "$real/leaderboard_predictions/SLQA+_ensemble_Alibaba_iDST_NLP.json" 2>&1)
  check_eq "real SLQA+" '{"exact_match": 81.94891201513718, "f1": 88.38386312172166}' "$out"
else
  skip_part "real evaluate: $real/dev-v1.1.json absent"
fi
cmrc="${ZONELAB_SHARED:-../shared}/data/real/cmrc2018/cmrc2018_dev.squad-style.json"
if [ -f "$cmrc" ]; then
  cat > "$tmp/first.lua" <<'EOF'
local zl = require "zonelab"
local ds, p = zl.metrics.load(arg[1]), {}
for i, id in ipairs(ds:ids()) do p[id] = ds:golds(i)[1] end
zl.json.write(arg[2], p)
EOF
  "$ZL" "$tmp/first.lua" "$cmrc" "$tmp/cmrc_first.json"
  check_eq "real CMRC first answers" '{"exact_match": 100.0, "f1": 100.0}' \
    "$("$ZL" recipes/evaluate.lua "$cmrc" "$tmp/cmrc_first.json" --cmrc 2>&1)"
else
  skip_part "real CMRC: $cmrc absent"
fi

# ---- aggregate: 2 layers, every zone ----
mkdir -p "$tmp/preds"
cp "$tmp/p_all.json" "$tmp/preds/predictions.json"
for l in 0 1; do for z in all q2 q2p p2q p2; do cp "$tmp/p_miss.json" "$tmp/preds/predictions_layer${l}_$z.json"; done; done
cp "$tmp/p_all.json" "$tmp/preds/predictions_layer1_p2.json"
cp "$tmp/p_miss.json" "$tmp/preds/predictions_layer_q2.json"
out=$("$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/run/results.csv" --dataset "$tmp/dev.json" --per-question "$tmp/run/pq" 2>/dev/null); rc=$?
check_eq "aggregate exit" 0 "$rc"
check_eq "aggregate csv" "layer,all,q2,q2p,p2q,p2
1,50.000,50.000,50.000,50.000,50.000
2,50.000,50.000,50.000,50.000,75.000" "$(cat "$tmp/run/results.csv")"
check "aggregate baseline printed" 'baseline: {"exact_match": 75.0, "f1": 91.66666666666666}' "$out"
check "aggregate every layer" 'every layer q2: {"exact_match": 50.0, "f1": 50.0}' "$out"
check "baseline.json em" '"exact_match": 75.0' "$(cat "$tmp/run/baseline.json")"
check "baseline.json f1" '"f1": 91.66666666666666' "$(cat "$tmp/run/baseline.json")"
check "per-question files" "per_question_layer1_p2.json" "$(ls "$tmp/run/pq")"
"$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/run/results_f1.csv" --dataset "$tmp/dev.json" --use-f1 >/dev/null 2>&1
check_eq "aggregate f1 row" "2,50.000,50.000,50.000,50.000,91.667" "$(sed -n 3p "$tmp/run/results_f1.csv")"
rm "$tmp/preds/predictions_layer0_q2p.json"
out=$("$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/run/r2.csv" --dataset "$tmp/dev.json" 2>&1); rc=$?
check_eq "aggregate missing exit" 1 "$rc"
check_eq "aggregate missing message" "zonelab: error: $tmp/preds/predictions_layer0_q2p.json: missing (use --allow-missing to leave empty cells)" "$out"
"$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/run/r2.csv" --dataset "$tmp/dev.json" --allow-missing >/dev/null 2>&1
check_eq "aggregate allow-missing" "1,50.000,50.000,,50.000,50.000" "$(sed -n 2p "$tmp/run/r2.csv")"
out=$("$ZL" recipes/aggregate.lua "$tmp/empty" "$tmp/r.csv" --dataset "$tmp/dev.json" 2>&1); rc=$?
check_eq "aggregate no folder" "1 zonelab: error: $tmp/empty: not a folder" "$rc $out"
out=$("$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/r.csv" 2>&1); rc=$?
check "aggregate needs dataset" "zonelab: error:" "$out"
check "aggregate help" "predictions_layer{L}_{zone}.json" "$("$ZL" recipes/aggregate.lua --help)"

# ---- stats: the published tables ----
pub=tests/fixtures/published
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv --reference $pub/five_run_mean.csv --out "$tmp/st" 2>&1); rc=$?
check_eq "stats exit" 0 "$rc"
line=$(printf '%s\n' "$out" | grep '^{"std_of_difference"')
cat > "$tmp/round.lua" <<'EOF'
local t = require("zonelab").json.decode(arg[1]).std_of_difference
local o = {}
for _, z in ipairs { "all", "q2", "q2p", "p2q", "p2" } do o[#o + 1] = string.format("%.3f", t[z]) end
print(table.concat(o, " "))
EOF
rounded=$("$ZL" "$tmp/round.lua" "$line")
check_eq "Table 2 last row" "0.819 0.152 0.132 1.405 0.815" "$rounded"
check_eq "stats mean = single run" "$(cat $pub/single_run.csv)" "$(cat "$tmp/st/mean.csv")"
"$ZL" recipes/stats.lua --runs $pub/single_run.csv $pub/five_run_mean.csv --out "$tmp/st2" >/dev/null 2>&1
check_eq "stats mean of two" "1,78.370,80.732,80.474,80.416,66.629" "$(sed -n 2p "$tmp/st2/mean.csv")"
check_eq "stats std of two" "1,0.037,0.272,0.011,0.600,0.500" "$(sed -n 2p "$tmp/st2/std.csv")"
# --baselines: the std over runs of (cell - the run's own baseline); the key follows the
# tables' names (results_f1.csv: f1)
printf '{"exact_match": 80.567, "f1": 88.117}' > "$tmp/b1.json"
printf '{"exact_match": 81.0, "f1": 88.0}' > "$tmp/b2.json"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv $pub/five_run_mean.csv \
  --baselines "$tmp/b1.json" "$tmp/b2.json" --out "$tmp/sd" 2>&1); rc=$?
check_eq "std_diff exit" 0 "$rc"
check "std_diff wrote" "wrote $tmp/sd/std_diff.csv" "$out"
check_eq "std_diff EM" "1,0.269,0.034,0.317,0.294,0.806" "$(sed -n 2p "$tmp/sd/std_diff.csv")"
check_eq "std_diff keeps std" "1,0.037,0.272,0.011,0.600,0.500" "$(sed -n 2p "$tmp/sd/std.csv")"
mkdir -p "$tmp/sdf/a" "$tmp/sdf/b"
cp $pub/single_run.csv "$tmp/sdf/a/results_f1.csv"; cp $pub/five_run_mean.csv "$tmp/sdf/b/results_f1.csv"
"$ZL" recipes/stats.lua --runs "$tmp/sdf/a/results_f1.csv" "$tmp/sdf/b/results_f1.csv" \
  --baselines "$tmp/b1.json" "$tmp/b2.json" --out "$tmp/sdf/st" >/dev/null 2>&1
check_eq "std_diff F1" "1,0.120,0.355,0.071,0.683,0.417" "$(sed -n 2p "$tmp/sdf/st/std_diff.csv")"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv "$tmp/sdf/b/results_f1.csv" \
  --baselines "$tmp/b1.json" "$tmp/b2.json" --out "$tmp/sd2" 2>&1); rc=$?
check_eq "std_diff mixed metrics" "1 zonelab: error: $tmp/sdf/b/results_f1.csv is an F1 table but $pub/single_run.csv an EM one: one metric per call" "$rc $out"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv $pub/five_run_mean.csv \
  --baselines "$tmp/b1.json" --out "$tmp/sd2" 2>&1); rc=$?
check_eq "std_diff count" "1 zonelab: error: --baselines: 1 files for 2 runs (one baseline.json per run, in the same order)" "$rc $out"
printf '{"f1": 88.0}' > "$tmp/b3.json"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv $pub/five_run_mean.csv \
  --baselines "$tmp/b1.json" "$tmp/b3.json" --out "$tmp/sd2" 2>&1); rc=$?
check_eq "std_diff no key" "1 zonelab: error: $tmp/b3.json: field 'exact_match' (the EM baseline of $pub/five_run_mean.csv) is missing or not a finite number" "$rc $out"
check_eq "std_diff errors write nothing" "no" "$([ -e "$tmp/sd2" ] && echo yes || echo no)"
# a 0-based copy gives the same numbers
sed '2,$s/^\([0-9]*\),/\1,/' $pub/single_run.csv | awk -F, 'NR==1{print;next}{$1=$1-1; print}' OFS=, > "$tmp/zero.csv"
out0=$("$ZL" recipes/stats.lua --runs "$tmp/zero.csv" --reference $pub/five_run_mean.csv --out "$tmp/st0" 2>&1 | grep '^{')
check_eq "stats 0-based" "$line" "$out0"
printf 'layer,all,q2\n1,1,2\n2,3\n' > "$tmp/ragged.csv"
out=$("$ZL" recipes/stats.lua --runs "$tmp/ragged.csv" --out "$tmp/st3" 2>&1); rc=$?
check_eq "stats ragged" "1 zonelab: error: $tmp/ragged.csv:3: 2 fields, but the header has 3" "$rc $out"
printf 'layer,all,bogus\n1,1,2\n' > "$tmp/zone.csv"
out=$("$ZL" recipes/stats.lua --runs "$tmp/zone.csv" --out "$tmp/st3" 2>&1); rc=$?
check "stats unknown zone" "zonelab: error: $tmp/zone.csv:1: unknown zone column 'bogus'" "$out"
printf 'layer,all\n1,NaN\n' > "$tmp/nan.csv"
out=$("$ZL" recipes/stats.lua --runs "$tmp/nan.csv" --out "$tmp/st3" 2>&1); rc=$?
check_eq "stats NaN" "1 zonelab: error: $tmp/nan.csv:2: column all: 'NaN' is not a finite number" "$rc $out"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv --reference "$tmp/zone.csv" --out "$tmp/st4" 2>&1); rc=$?
check "stats bad reference" "zonelab: error: $tmp/zone.csv:1" "$out"
check_eq "stats bad reference writes nothing" "no" "$([ -e "$tmp/st4" ] && echo yes || echo no)"
printf 'layer,all,q2,q2p,p2q,p2
1,1,2,3,4,5
' > "$tmp/short.csv"
out=$("$ZL" recipes/stats.lua --runs $pub/single_run.csv --reference "$tmp/short.csv" --out "$tmp/st5" 2>&1); rc=$?
check_eq "stats reference layers" "1 zonelab: error: $tmp/short.csv: 1 layers, but the runs have 12" "$rc $out"
# a sweep of some zones: its empty cells stay empty, in every run or in none
printf 'layer,all,q2\n1,,70\n2,,80\n' > "$tmp/sub1.csv"
printf 'layer,all,q2\n1,,72\n2,,\n' > "$tmp/sub2.csv"
printf 'layer,all,q2\n1,,72\n2,,84\n' > "$tmp/sub3.csv"
out=$("$ZL" recipes/stats.lua --runs "$tmp/sub1.csv" "$tmp/sub3.csv" --out "$tmp/st6" 2>&1); rc=$?
check_eq "stats subset exit" 0 "$rc"
check_eq "stats subset mean" "$(printf 'layer,all,q2\n1,,71.000\n2,,82.000')" "$(cat "$tmp/st6/mean.csv")"
out=$("$ZL" recipes/stats.lua --runs "$tmp/sub1.csv" "$tmp/sub2.csv" --out "$tmp/st7" 2>&1); rc=$?
check_eq "stats cell empty in one run" "1 zonelab: error: $tmp/sub2.csv: layer 2, zone q2 is empty, but $tmp/sub1.csv's is filled" "$rc $out"
out=$("$ZL" recipes/stats.lua 2>&1); rc=$?
check_eq "stats nothing" "1 zonelab: error: nothing to do: give --runs and/or --per-question (see --help)" "$rc $out"

# ---- stats: the paired bootstrap over the per-question files written by aggregate ----
"$ZL" recipes/stats.lua --per-question "$tmp/run/pq" --bootstrap 200 --seed 5 --out "$tmp/b1" >/dev/null 2>&1
"$ZL" recipes/stats.lua --per-question "$tmp/run/pq" --bootstrap 200 --seed 5 --out "$tmp/b2" >/dev/null 2>&1
"$ZL" recipes/stats.lua --per-question "$tmp/run/pq" --bootstrap 200 --seed 6 --out "$tmp/b3" >/dev/null 2>&1
check_eq "bootstrap header" "layer,zone,diff,ci_low,ci_high,significant" "$(head -1 "$tmp/b1/significance.csv")"
check_eq "bootstrap rows" "11" "$(wc -l < "$tmp/b1/significance.csv" | tr -d ' ')"
check_eq "bootstrap same seed" "$(cat "$tmp/b1/significance.csv")" "$(cat "$tmp/b2/significance.csv")"
check "bootstrap p2 layer 2 equals baseline" "2,p2,0.0000,0.0000,0.0000,0" "$(cat "$tmp/b1/significance.csv")"
check "bootstrap diff" "1,all,-25.0000," "$(cat "$tmp/b1/significance.csv")"
if [[ "$(cat "$tmp/b1/significance.csv")" != "$(cat "$tmp/b3/significance.csv")" ]]; then pass=$((pass+1)); else
  fail=$((fail+1)); echo "FAIL bootstrap: seeds 5 and 6 gave identical intervals"; fi
rm "$tmp/run/pq/per_question_layer1_q2.json"
out=$("$ZL" recipes/stats.lua --per-question "$tmp/run/pq" --out "$tmp/b4" 2>&1); rc=$?
check_eq "bootstrap missing" "1 zonelab: error: $tmp/run/pq/per_question_layer1_q2.json: missing" "$rc $out"
check "stats help" "std_of_difference" "$("$ZL" recipes/stats.lua --help)"

finish
