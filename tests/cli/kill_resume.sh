#!/usr/bin/env bash
# Never lose work (issue 8): a sweep killed with SIGKILL at random moments, then rerun with
# the same command, ends with files byte-identical to an uninterrupted sweep's (each
# configuration's predictions file is its checkpoint; finished ones are skipped), and a
# killed run never leaves a truncated output (only whole files or temporary files).
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

synth_model "$tmp" 5 3 3 0.3 || { bad "setup"; finish; }
SWEEP=(recipes/sweep.lua --model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96
       --max-query-length 24 --doc-stride 32 --batch 2 --threads 1)

now_ms() { date +%s%3N; }
t0=$(now_ms)
# the same output path for both runs (baseline.json records it): run, then move aside
"$ZL" "${SWEEP[@]}" --out "$tmp/k" > /dev/null 2>&1 && ok || bad "uninterrupted sweep"
dt=$(( $(now_ms) - t0 ))
mv "$tmp/k" "$tmp/ref"
[ "$dt" -lt 50 ] && dt=50

# Kill at random moments (10%..90% of an uninterrupted run), several times in a row.
kills=0
for round in 1 2 3 4; do
  "$ZL" "${SWEEP[@]}" --out "$tmp/k" > /dev/null 2>&1 &
  bg=$!
  ms=$(( dt / 10 + RANDOM % (dt * 8 / 10 + 1) ))
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  if kill -9 "$bg" 2>/dev/null; then kills=$((kills+1)); fi
  wait "$bg" 2>/dev/null; bg=""
  # every output present after a kill is a whole file: JSON that parses, CSV with a header
  for f in "$tmp"/k/*.json; do
    [ -e "$f" ] || continue
    "$ZL" -e "require('zonelab').json.read('$f')" > /dev/null 2>&1 || bad "round $round: $f is not whole JSON"
  done
done
echo "kill_resume: $kills runs killed mid-way (of 4; a run may finish before its kill)"

out=$("$ZL" "${SWEEP[@]}" --out "$tmp/k" 2>&1) && ok || bad "resumed sweep: $out"
# the same files, byte for byte (temporary files of killed runs aside)
n=0
for f in "$tmp"/ref/*; do
  name=${f##*/}
  n=$((n+1))
  if cmp -s "$f" "$tmp/k/$name"; then ok; else bad "$name differs from the uninterrupted run"; fi
done
[ "$n" -ge 11 ] && ok || bad "only $n files in the uninterrupted run"
extra=$(cd "$tmp/k" && ls | grep -v '\.tmp\.' | while read -r x; do [ -e "$tmp/ref/$x" ] || echo "$x"; done)
[ -z "$extra" ] && ok || bad "files only in the resumed run: $extra"
stray=$(ls "$tmp/k" | grep -c '\.tmp\.')
# the rerun removes the temporary files the killed runs left beside its outputs
[ "$stray" -eq 0 ] && ok || bad "$stray temporary files of killed runs remain: $(ls "$tmp/k" | grep '\.tmp\.' | head -3)"

finish
