#!/usr/bin/env bash
# recipes/train.lua on a tiny synthetic corpus: --help documents every option; the same seed
# gives a byte-identical model.safetensors and another seed a different one; a run killed
# with SIGKILL after its first checkpoint and resumed ends byte-identical to an uninterrupted
# run; a huge learning rate stops with an error naming the step, exit 1, checkpoint intact;
# outputs (model/, train_log.csv, predictions.json, metrics.json); one-line option errors.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

# --help names every option of the contract
help=$("$ZL" recipes/train.lua --help 2>&1)
for o in --model --train --out --dev --epochs --lr --batch --micro-batch --max-seq-length \
         --doc-stride --max-query-length --warmup-proportion --seed --threads --lower --cased \
         --save-every --resume --init --pad-per-batch; do
  check "help $o" "$o" "$help"
done

synth_data "$tmp/data"
D="$tmp/data"
# 20 questions, batch 4, 2 epochs: 10 steps
COMMON=(--model "$D" --init random --train "$D/train.json" --max-seq-length 64 --doc-stride 32
        --max-query-length 24 --batch 4 --epochs 2 --lr 1e-3 --threads 1)
train() { # out, extra options...
  local out="$1"; shift
  "$ZL" recipes/train.lua "${COMMON[@]}" --out "$out" "$@"
}

out=$(train "$tmp/a" --dev "$D/dev.json" 2>&1); rc=$?
check_eq "run a exit" 0 "$rc"
check "run a wrote" "wrote $tmp/a/model" "$out"
for f in model/model.safetensors model/bert_config.json model/vocab.txt train_log.csv \
         predictions.json metrics.json; do
  [ -s "$tmp/a/$f" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL missing $f"; }
done
check_eq "log header" "step,epoch,loss,lr,grad_norm,tokens_per_s" "$(head -1 "$tmp/a/train_log.csv")"
check_eq "log rows" 11 "$(wc -l < "$tmp/a/train_log.csv")"
check "log last step" "10," "$(tail -1 "$tmp/a/train_log.csv")"
check "log first lr 0" "1,1," "$(sed -n 2p "$tmp/a/train_log.csv")"
check "metrics keys" '"exact_match":' "$(cat "$tmp/a/metrics.json")"
check "metrics f1" '"f1":' "$(cat "$tmp/a/metrics.json")"
ev=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$tmp/a/predictions.json" 2>/dev/null | grep '^{"exact_match"')
check_eq "score line as evaluate prints it" "$ev" "$(printf '%s\n' "$out" | grep '^{"exact_match"')"
cmp -s "$D/vocab.txt" "$tmp/a/model/vocab.txt" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL vocab copy"; }

# determinism: same seed -> byte-identical weights; another seed -> different
train "$tmp/b" >/dev/null 2>&1
cmp -s "$tmp/a/model/model.safetensors" "$tmp/b/model/model.safetensors" \
  && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL same seed gave different weights"; }
train "$tmp/c" --seed 2 >/dev/null 2>&1
cmp -s "$tmp/a/model/model.safetensors" "$tmp/c/model/model.safetensors" \
  && { fail=$((fail+1)); echo "FAIL another seed gave the same weights"; } || pass=$((pass+1))
# micro-batches: the same run in passes of 2 is a different float sum but the same schedule
out=$(train "$tmp/mb" --micro-batch 2 2>&1); rc=$?
check_eq "micro-batch exit" 0 "$rc"
check_eq "micro-batch rows" 11 "$(wc -l < "$tmp/mb/train_log.csv")"

# resume: pause after the first checkpoint (test hook), SIGKILL, resume
train "$tmp/u" --save-every 3 >/dev/null 2>&1
touch "$tmp/pause"
# started directly (not through the function) so that $! is the zonelab process itself
ZONELAB_TEST_PAUSE_AFTER_CHECKPOINT="$tmp/pause" "$ZL" recipes/train.lua "${COMMON[@]}" \
  --out "$tmp/k" --save-every 3 >/dev/null 2>&1 &
bg=$!
for _ in $(seq 1 600); do [ -f "$tmp/k/checkpoint/trainer.json" ] && break; sleep 0.1; done
kill -9 "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; bg=""
rm -f "$tmp/pause"
check "killed at step 3" '"step": 3' "$(cat "$tmp/k/checkpoint/trainer.json" 2>&1)"
[ ! -e "$tmp/k/model" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL killed run wrote a model"; }
out=$(train "$tmp/k" --save-every 3 --resume 2>&1); rc=$?
check_eq "resume exit" 0 "$rc"
check "resume message" "resuming from $tmp/k/checkpoint at step 3 of 10" "$out"
cmp -s "$tmp/u/model/model.safetensors" "$tmp/k/model/model.safetensors" \
  && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL resumed weights differ from an uninterrupted run"; }
check_eq "resumed log steps" "$(cut -d, -f1-5 "$tmp/u/train_log.csv")" "$(cut -d, -f1-5 "$tmp/k/train_log.csv")"
# a changed option is refused on resume
out=$(train "$tmp/k" --save-every 3 --resume --lr 2e-3 2>&1); rc=$?
check_eq "resume mismatch exit" 1 "$rc"
check "resume mismatch" "zonelab: error: $tmp/k/checkpoint/trainer.json: the checkpoint was made with lr = 0.001" "$out"

# a huge learning rate: error naming the step, exit 1, the last checkpoint intact
out=$(train "$tmp/n" --lr 1e30 --warmup-proportion 0 --save-every 1 2>&1); rc=$?
check_eq "nan exit" 1 "$rc"
check "nan message" "zonelab: error: trainer: " "$out"
check "nan not finite" "not finite" "$out"
step=$(printf '%s\n' "$out" | sed -n 's/.*(after \([0-9]*\) good steps.*/\1/p')
check "nan names the step" "step $step:" "$out"
check "nan checkpoint" "\"step\": $step" "$(cat "$tmp/n/checkpoint/trainer.json" 2>&1)"
"$ZL" -e "local zl = require 'zonelab'; zl.bert.load('$tmp/n/checkpoint')" 2>&1 \
  && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL checkpoint after NaN does not load"; }
[ ! -e "$tmp/n/model" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL NaN run wrote a model"; }

# option errors: one line, exit 1
out=$(train "$tmp/e" --micro-batch 3 2>&1); rc=$?
check_eq "micro exit" 1 "$rc"
check_eq "micro message" "zonelab: error: --micro-batch 3 does not divide --batch 4" "$out"
out=$("$ZL" recipes/train.lua --model "$D" --out "$tmp/e" 2>&1); rc=$?
check_eq "missing train exit" 1 "$rc"
check "missing train" "zonelab: error: " "$out"
out=$(train "$tmp/e" --max-seq-length 1000 2>&1); rc=$?
check_eq "seq exit" 1 "$rc"
check "seq message" "exceeds the model's max_position_embeddings" "$out"
out=$("$ZL" recipes/train.lua --model "$tmp/nowhere" --train "$D/train.json" --out "$tmp/e" 2>&1); rc=$?
check_eq "no model exit" 1 "$rc"
check "no model" "zonelab: error: $tmp/nowhere/vocab.txt" "$out"

finish
