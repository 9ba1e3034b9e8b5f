#!/usr/bin/env bash
# recipes/protocol.lua end to end on the embedded default's tiny preset (a corpus of 4 train
# and 2 dev passages, a 2-layer model): 2 seeds, 1 attention-flow drawing, in seconds. Checks
# every file the protocol promises (report.md, both heatmap PDFs, results.csv per seed,
# stats, flows), that report.md carries the baselines of every seed and their mean as the
# sweeps scored them, that a rerun resumes (skips training), and one-line option errors.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

help=$("$ZL" recipes/protocol.lua --help 2>&1)
for o in --model --train --dev --seeds --out --epochs --lr --batch --micro-batch --max-seq-length \
         --zones --layers --padding --flows --preset --threads --jobs; do
  check "help $o" "$o" "$help"
done

O="$tmp/run"
log=$("$ZL" recipes/protocol.lua --preset tiny --seeds 2 --flows 1 --threads 1 --jobs 2 --out "$O" 2>&1)
rc=$?
check "exit 0" "0" "$rc"
[[ $rc -eq 0 ]] || echo "$log" | tail -20

for f in data/train.json data/dev.json data/vocab.txt data/bert_config.json \
         seed1/model/model.safetensors seed2/model/model.safetensors seed1/metrics.json \
         seed1/sweep/results.csv seed1/sweep/results_f1.csv seed1/sweep/baseline.json \
         seed2/sweep/results.csv seed2/sweep/results_f1.csv seed2/sweep/baseline.json \
         seed1/per_question/per_question.json \
         stats/mean.csv stats/std.csv stats/significance.csv stats/f1/mean.csv stats/f1/std.csv \
         stats/std_diff.csv stats/f1/std_diff.csv \
         stats/baseline_mean.json figures/heatmap_seed1.pdf figures/heatmap_mean.pdf \
         figures/flows/flows_dev0001_1.pdf figures/flows/flows_dev0001_1.json \
         figures/flows/flows_dev0001_1.html report.md; do
  check_file "$O/$f"
done
check "pdf magic" "%PDF" "$(head -c 4 "$O/figures/heatmap_mean.pdf")"
# the tiny model has 2 layers: two rows under the header
check "results rows" "layer,all,q2,q2p,p2q,p2" "$(head -1 "$O/seed1/sweep/results.csv")"
check "results 2 layers" "3" "$(wc -l < "$O/seed1/sweep/results.csv" | tr -d ' ')"

# report.md: the baseline of each seed as the sweep scored it, and the mean
report=$(cat "$O/report.md")
check "report baselines" "## Baselines" "$report"
for s in 1 2; do
  row=$("$ZL" -e "local zl = require 'zonelab'; local b = zl.json.read('$O/seed$s/sweep/baseline.json')
    io.write(string.format('| $s | %.3f | %.3f |', b.exact_match, b.f1))")
  check "report seed $s" "$row" "$report"
done
mean=$("$ZL" -e "local zl = require 'zonelab'; local b = zl.json.read('$O/stats/baseline_mean.json')
  io.write(string.format('| mean | %.3f | %.3f |', b.exact_match, b.f1))")
check "report mean" "$mean" "$report"
check "report mean of 2" '"runs": 2' "$(cat "$O/stats/baseline_mean.json")"
check "report figure link" "(figures/heatmap_mean.pdf)" "$report"
check "report viewer link" "([viewer](figures/flows/flows_dev0001_1.html))" "$report"
check "report flows link" "(figures/flows/flows_dev0001_1.pdf)" "$report"
check "report timings" "| train seed 2 |" "$report"
check "report wall clock" "| total (wall clock, 2 seeds at a time) |" "$report"
# the flows as the paper's Figure 1: A = where seed 1 started (its initial weights: tiny does
# not pretrain), B = seed 1 fine-tuned, both traced from B's answer
roles=$("$ZL" -e "local zl = require 'zonelab'
local j = zl.json.read('$O/figures/flows/flows_dev0001_1.json')
io.write(j.models.a, ' ', j.models.b, ' ', j.target_kind)")
check_eq "flows A/B roles" "$O/seed1/initial_model $O/seed1/model answer-b" "$roles"
# --jobs 2: both seeds ran as jobs, each with its log
check "jobs started" "== seed 2: started (log: $O/seed2/log.txt)" "$log"
check "jobs done" "== seed 1: done" "$log"
check "job log" "wrote $O/seed2/sweep/results.csv" "$(cat "$O/seed2/log.txt")"
check "report preset" 'Preset `tiny`' "$report"
# the spread over seeds (std.csv, and std_diff.csv: of the differences from each seed's own
# baseline) and the bootstrap's lines, recomputed from the seeds' files. The tiny model's
# masks change little, so F1's std is mostly the spread of the seeds' baselines, and the
# two tables differ.
if ! cmp -s "$O/stats/f1/std.csv" "$O/stats/f1/std_diff.csv"; then ok; else
  bad "stats/f1/std.csv and std_diff.csv are the same: $(cat "$O/stats/f1/std.csv")"; fi
expect=$("$ZL" "$(dirname "$0")/report_expect.lua" "$O" 2>&1)
check_eq "report recomputed: 6 checks" "6" "$(printf '%s\n' "$expect" | grep -c $'\tok$')"
while IFS=$'\t' read -r name res; do check_eq "$name" ok "$res"; done <<< "$expect"
check "prints report path" "$O/report.md" "$log"

# a rerun finds the trained models and skips training
log2=$("$ZL" recipes/protocol.lua --preset tiny --seeds 2 --flows 1 --threads 1 --jobs 1 --out "$O" 2>&1)
check "rerun exit 0" "0" "$?"
check "rerun skips training" "seed 2: trained model found" "$log2"
check "rerun sequential" "== sweep seed 2: " "$log2"

# a seed whose step fails: the protocol stops with one line naming the logs, exit 1
F="$tmp/fail"
err=$("$ZL" recipes/protocol.lua --preset tiny --seeds 2 --flows 0 --threads 1 --jobs 2 --max-seq-length 8 \
  --out "$F" 2>&1); rc=$?
check "failed job exit" "1" "$rc"
check "failed job names its log" "== seed 2: FAILED, see $F/seed2/log.txt" "$err"
check "failed job message" "zonelab: error: a seed's steps failed" "$err"
check "failed job log" "zonelab: error:" "$(cat "$F/seed2/log.txt")"

# another preset into the same folder: refused, nothing overwritten
err=$("$ZL" recipes/protocol.lua --preset demo --out "$O" 2>&1); rc=$?
check "other preset exit" "1" "$rc"
check "other preset message" "zonelab: error: $O/data: made by another preset" "$err"

# errors: one line, exit 1
err=$("$ZL" recipes/protocol.lua --model /nonexistent --out "$tmp/x" 2>&1); rc=$?
check "partial real options exit" "1" "$rc"
check "partial real options message" "zonelab: error: --model, --train and --dev go together" "$err"
err=$("$ZL" recipes/protocol.lua --preset huge --out "$tmp/x" 2>&1); rc=$?
check "bad preset exit" "1" "$rc"
check "bad preset message" "zonelab: error:" "$err"
err=$("$ZL" recipes/protocol.lua --seeds 0 --out "$tmp/x" 2>&1); rc=$?
check "bad seeds exit" "1" "$rc"
check "bad seeds message" "--seeds" "$err"

finish
