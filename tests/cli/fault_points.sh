#!/usr/bin/env bash
# Kill at every step of the checkpoint rotation (issue 16): train.lua --save-every 1 is
# killed with SIGKILL right before each rename and each unlink it makes (the fault hook of
# core/io.c, ZONELAB_FAULT=rename:N / unlink:N), then resumed with the same command. Every
# kill point must leave a loadable checkpoint, the resume must start from the newest
# complete one (the step of the last checkpoint marked complete before the kill, read from
# the hook's trace), and the final model must equal an uninterrupted run's byte for byte.
# Then the issue's double fault: a first kill inside a swap (after the new checkpoint was
# marked complete) and a second kill at every rename and unlink of the resumed run's first
# save. Prints the number of kill points tested.
source "$(dirname "$0")/lib.sh" "$@"
# tmpfs when there is one: thousands of fsyncs on a shared disk would take minutes
shm=$(mktemp -d -p /dev/shm 2>/dev/null) && { rm -rf "$tmp"; tmp=$shm; }
export ZONELAB_PROGRESS=0

mkdir -p "$tmp/data"
"$ZL" -e "
local synth = require 'zonelab.synth'
synth.write('$tmp/data', synth.generate{seed = 5, train_paragraphs = 4, dev_paragraphs = 2,
  hidden = 32, layers = 2, heads = 2})" || { echo "FAIL setup"; exit 1; }
D="$tmp/data"
# 20 questions, batch 4, 1 epoch: 5 steps, a checkpoint after steps 1 to 4
TRAIN=(recipes/train.lua --model "$D" --init random --train "$D/train.json" --max-seq-length 64
       --doc-stride 32 --max-query-length 24 --batch 4 --epochs 1 --lr 1e-3 --threads 1
       --save-every 1 --resume)
SE=1

# the uninterrupted run, with the trace: the numbered renames and unlinks it makes
ZONELAB_FAULT_TRACE="$tmp/ref.trace" "$ZL" "${TRAIN[@]}" --out "$tmp/ref" > /dev/null 2>&1 || bad "uninterrupted run"
[ -s "$tmp/ref/model/model.safetensors" ] || { echo "FAIL no reference model"; exit 1; }
mv "$tmp/ref.trace" "$tmp/trace"

# The step a resume must start from after a kill before trace line $2 of trace $1, when
# the killed run itself had resumed at step $3: one save_every per checkpoint marked
# complete (its .complete renamed into place) before the kill.
expected_step() {
  local marks
  marks=$(head -n $(( $2 - 1 )) "$1" | grep -c '^rename [0-9]* .*/checkpoint\.new/\.complete$')
  echo $(( $3 + marks * SE ))
}
# Resumes $1 to the end (optionally killed again: $2 = fault spec, $3 = trace file); prints
# the step it resumed from (0: started afresh).
resume_step() {
  local log
  log=$(ZONELAB_FAULT="${2:-}" ZONELAB_FAULT_TRACE="${3:-/dev/null}" "$ZL" "${TRAIN[@]}" --out "$1" 2>&1)
  local rc=$?
  if [[ "$log" == *"resuming from "*" at step "* ]]; then
    local s=${log#*resuming from }; s=${s#* at step }; echo "${s%% *}"
  elif [[ "$log" == *"no checkpoint in"* ]]; then echo 0
  else echo "error(rc $rc): $(echo "$log" | grep 'error' | head -1)"
  fi
}
same_model() { # folder, what
  # train_log.csv without its last column (tokens_per_s, a timing)
  if cmp -s "$tmp/ref/model/model.safetensors" "$1/model/model.safetensors" \
     && [ "$(cut -d, -f1-5 "$tmp/ref/train_log.csv")" = "$(cut -d, -f1-5 "$1/train_log.csv")" ]; then
    pass=$((pass+1))
  else bad "$2: the final model or train_log.csv differs from the uninterrupted run's"; fi
}

# ---- one kill at every rename and unlink of the whole run ----
points=0
n=$(wc -l < "$tmp/trace")
for line in $(seq 1 "$n"); do
  read -r op k _ <<< "$(sed -n "${line}p" "$tmp/trace")"
  out="$tmp/k$line"
  ( ZONELAB_FAULT="$op:$k" "$ZL" "${TRAIN[@]}" --out "$out"; exit $? ) > /dev/null 2>&1
  rc=$?
  [ "$rc" -eq 137 ] || { bad "$op:$k: the run was not killed (exit $rc)"; continue; }
  points=$((points+1))
  want=$(expected_step "$tmp/trace" "$line" 0)
  got=$(resume_step "$out")
  [ "$got" = "$want" ] && pass=$((pass+1)) || bad "killed before $op $k ($(sed -n "${line}p" "$tmp/trace" | sed "s#$tmp/##")): resumed at step '$got', the newest complete checkpoint is step $want"
  same_model "$out" "killed before $op $k"
  rm -rf "$out"
done
single=$points

# ---- double faults: killed inside a swap, then killed again during the next save ----
# first kill points, in the second save: before checkpoint -> checkpoint.old (.new complete,
# not in place), before checkpoint.new -> checkpoint (the issue's case: no checkpoint, a
# complete .old and .new), before the first and the last unlink of checkpoint.old
old=$(grep -n '^rename [0-9]* .*/checkpoint\.old$' "$tmp/trace" | sed -n 1p | cut -d: -f1)
third_new=$(grep -n '^rename [0-9]* .*/checkpoint\.new/model\.safetensors$' "$tmp/trace" | sed -n 3p | cut -d: -f1)
[ -n "$old" ] && [ -n "$third_new" ] || { echo "FAIL trace: no second swap"; exit 1; }
doubles=0
for line in "$old" $(( old + 1 )) $(( old + 2 )) $(( third_new - 1 )); do
  read -r op k _ <<< "$(sed -n "${line}p" "$tmp/trace")"
  base="$tmp/d$line"
  ( ZONELAB_FAULT="$op:$k" "$ZL" "${TRAIN[@]}" --out "$base"; exit $? ) > /dev/null 2>&1
  [ $? -eq 137 ] || { bad "double $op:$k: not killed"; continue; }
  first=$(expected_step "$tmp/trace" "$line" 0)
  # the resumed run's own operations up to the end of its first save
  cp -a "$base" "$base.probe"
  resume_step "$base.probe" "" "$base.trace" > /dev/null
  end=$(grep -n '^rename [0-9]* .*/checkpoint\.new/model\.safetensors$' "$base.trace" | sed -n 2p | cut -d: -f1)
  [ -n "$end" ] || end=$(grep -n '^rename [0-9]* .*/model/model\.safetensors$' "$base.trace" | head -1 | cut -d: -f1)
  rm -rf "$base.probe"
  for line2 in $(seq 1 $(( end - 1 ))); do
    read -r op2 k2 _ <<< "$(sed -n "${line2}p" "$base.trace")"
    out="$base.$line2"
    cp -a "$base" "$out"
    got1=$(resume_step "$out" "$op2:$k2")
    [ "$got1" = "$first" ] || bad "double $op:$k then $op2:$k2: first resume at '$got1', expected $first"
    doubles=$((doubles+1))
    want=$(expected_step "$base.trace" "$line2" "$first")
    got=$(resume_step "$out")
    [ "$got" = "$want" ] && pass=$((pass+1)) || bad "killed before $op $k, then before $op2 $k2 of the resumed run: resumed at step '$got', the newest complete checkpoint is step $want"
    same_model "$out" "double $op:$k then $op2:$k2"
    rm -rf "$out"
  done
  rm -rf "$base" "$base.trace"
done

echo "fault_points: $single single kill points (every rename and unlink of a 5-step run with 4 checkpoints), $doubles double kill points"
[ "$single" -ge 30 ] && pass=$((pass+1)) || bad "only $single single kill points"
[ "$doubles" -ge 20 ] && pass=$((pass+1)) || bad "only $doubles double kill points"
finish
