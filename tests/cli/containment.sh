#!/usr/bin/env bash
# Nothing escapes --out, no shell is built from user text, one process per run folder
# (issue 16, sections 3 and 4):
# - aggregate.lua --merge refuses a manifest entry that is not a plain relative path inside
#   its shard (the symlink attack of the issue, "..", an absolute path), naming the manifest
#   and the entry, and writes nothing outside;
# - a symlink at the writability probe's name or at train_log.csv is never followed: its
#   target keeps its bytes;
# - protocol.lua starts its steps from argument vectors: --out paths with quotes, $( ),
#   spaces and a newline run no command and give the usual run folder (--jobs 2 and 1);
# - a second sweep into a folder a sweep is using fails at once naming the first one's pid;
#   the first one, continued, ends byte-identical to a lone sweep; after a SIGKILL the lock
#   is gone (the kernel releases it); decodes of two configurations share a folder, the same
#   configuration twice does not.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

"$ZL" -e "
local zl = require 'zonelab'
local synth = require 'zonelab.synth'
synth.write('$tmp', synth.generate { seed = 4, train_paragraphs = 4, dev_paragraphs = 8,
  hidden = 32, layers = 2, heads = 2 })
local cfg = zl.json.read('$tmp/bert_config.json')
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 2, 2, 64
cfg.initializer_range = 0.3
require('lfs').mkdir('$tmp/model')
zl.bert.new(cfg, { seed = 2 }):save('$tmp/model')
zl.io.write_atomic('$tmp/model/vocab.txt', zl.io.read('$tmp/vocab.txt'))" || { echo "FAIL setup"; exit 1; }
COMMON=(--model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96 --max-query-length 24
        --doc-stride 32 --batch 4 --threads 1)
mkdir -p "$tmp/outside"
echo "precious" > "$tmp/outside/target"

# ---- merge: manifest names stay inside their shard ----
"$ZL" recipes/sweep.lua "${COMMON[@]}" --zones q2 --layers 1 --out "$tmp/m" --shard 1/1 > /dev/null 2>&1 \
  || echo "FAIL shard sweep"
cp -a "$tmp/m" "$tmp/m_pristine"
S="$tmp/m/shard-1-of-1"
# the issue's attack: a symlink in the shard, and a listed name whose write goes through it
ln -s "$tmp/outside" "$S/link"
mkdir -p "$S/shard-1-of-1/link"
echo "pwned" > "$S/shard-1-of-1/link/pwned.txt"
sum=$(sha256sum "$S/shard-1-of-1/link/pwned.txt" | cut -c1-64)
"$ZL" -e "
local zl = require 'zonelab'
local m = zl.json.read('$S/manifest.json')
m.files['shard-1-of-1/link/pwned.txt'] = '$sum'
m.configs[1].files[1] = 'shard-1-of-1/link/pwned.txt'
zl.json.write('$S/manifest.json', m, { pretty = true })"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m" 2>&1); rc=$?
check_eq "symlink attack exit" 1 "$rc"
check_eq "symlink attack message" "zonelab: error: $S/manifest.json: entry 'shard-1-of-1/link/pwned.txt' is not a plain relative path inside its shard (its path goes through the symbolic link $tmp/m/shard-1-of-1/link): refusing to merge" "$out"
check_eq "nothing written through the link" "" "$(ls "$tmp/outside" | grep -v '^target$')"
# a listed file that is itself a symlink (it would be read from outside)
rm -rf "$tmp/m"; cp -a "$tmp/m_pristine" "$tmp/m"
name=$(cd "$S" && ls predictions_*.json | head -1)
mv "$S/$name" "$tmp/outside/$name"; ln -s "$tmp/outside/$name" "$S/$name"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m" 2>&1); rc=$?
check_eq "symlinked file exit" 1 "$rc"
check "symlinked file message" "$S/manifest.json: entry '$name' is not a plain relative path inside its shard (its path goes through the symbolic link $S/$name)" "$out"
# ".." and an absolute path
for bad in "../escape.json" "/etc/passwd" "a/./b.json"; do
  rm -rf "$tmp/m"; cp -a "$tmp/m_pristine" "$tmp/m"
  "$ZL" -e "
local zl = require 'zonelab'
local m = zl.json.read('$S/manifest.json')
m.configs[1].files[2] = '$bad'
zl.json.write('$S/manifest.json', m, { pretty = true })"
  out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m" 2>&1); rc=$?
  check_eq "entry $bad exit" 1 "$rc"
  check "entry $bad message" "zonelab: error: $S/manifest.json: entry '$bad' is not a plain relative path inside its shard" "$out"
done
[ -e "$tmp/escape.json" ] && { fail=$((fail+1)); echo "FAIL escape.json written"; } || pass=$((pass+1))
# the pristine shard still merges
rm -rf "$tmp/m"; cp -a "$tmp/m_pristine" "$tmp/m"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m" 2>&1); rc=$?
check_eq "pristine merge exit" 0 "$rc"

# ---- no output opened through a symlink ----
mkdir -p "$tmp/p"
ln -s "$tmp/outside/target" "$tmp/p/.zonelab_write_test"
out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/p" 2>&1); rc=$?
check_eq "probe symlink: decode exit" 0 "$rc"
check_eq "probe symlink: target intact" "precious" "$(cat "$tmp/outside/target")"
check_eq "probe symlink: no probe left" "" "$(ls -A "$tmp/p" | grep zonelab_write_test)"
D="$tmp"
TRAIN=(recipes/train.lua --model "$D" --init random --train "$D/train.json" --max-seq-length 64
       --doc-stride 32 --max-query-length 24 --batch 8 --epochs 1 --lr 1e-3 --threads 1)
mkdir -p "$tmp/t"
ln -s "$tmp/outside/target" "$tmp/t/train_log.csv"
out=$("$ZL" "${TRAIN[@]}" --out "$tmp/t" 2>&1); rc=$?
check_eq "train_log symlink exit" 1 "$rc"
check "train_log symlink message" "zonelab: error: $tmp/t/train_log.csv: is a symbolic link; zonelab never writes an output through one" "$out"
check_eq "train_log symlink: target intact" "precious" "$(cat "$tmp/outside/target")"

# ---- protocol: --out paths that a shell would parse ----
for jobs in 2 1; do
  if [ "$jobs" = 2 ]; then O="$tmp/q'\$(touch $tmp/INJECTED)' \"x\"
y"; else O="$tmp/a b;\`touch $tmp/INJECTED2\`'"; fi
  out=$("$ZL" recipes/protocol.lua --preset tiny --seeds 2 --flows 0 --threads 1 --jobs $jobs --out "$O" 2>&1); rc=$?
  check_eq "protocol --jobs $jobs odd --out exit" 0 "$rc"
  [[ $rc -eq 0 ]] || echo "$out" | tail -5
  [ -s "$O/report.md" ] && [ -s "$O/seed2/sweep/results.csv" ] && [ -s "$O/figures/heatmap_mean.pdf" ] \
    && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL protocol --jobs $jobs: run folder incomplete"; }
done
check_eq "no command ran" "" "$(ls "$tmp" | grep INJECTED)"

# ---- protocol: a question id that is not a file name names its flows files and report links
# the same way (flows.lua's rule, cli.file_part): "../a b/1" -> flows_.._a_b_1.* in figures/flows
"$ZL" -e "
local zl = require 'zonelab'
local d = zl.json.read('$tmp/dev.json')
d.data[1].paragraphs[1].qas[1].id = '../a b/1'
zl.json.write('$tmp/dev_odd.json', d)" || echo "FAIL odd-id dev"
O="$tmp/odd"
out=$("$ZL" recipes/protocol.lua --model "$tmp/model" --train "$tmp/train.json" --dev "$tmp/dev_odd.json" \
  --out "$O" --seeds 1 --epochs 1 --batch 4 --flows 1 --zones q2 --layers 1 --max-seq-length 96 \
  --threads 1 2>&1); rc=$?
check_eq "protocol odd question id exit" 0 "$rc"
[[ $rc -eq 0 ]] || echo "$out" | tail -5
check_eq "odd id: flows files inside the run" "flows_.._a_b_1.html flows_.._a_b_1.json flows_.._a_b_1.pdf" \
  "$(cd "$O/figures/flows" 2>/dev/null && ls | tr '\n' ' ' | sed 's/ $//')"
check "odd id: report links the flows PDF" "(figures/flows/flows_.._a_b_1.pdf)" "$(cat "$O/report.md" 2>/dev/null)"
check "odd id: report links the viewer" "([viewer](figures/flows/flows_.._a_b_1.html))" "$(cat "$O/report.md" 2>/dev/null)"

# ---- one process per run folder ----
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/ref" > /dev/null 2>&1 || echo "FAIL reference sweep"
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" > "$tmp/s1.log" 2>&1 &
bg=$!
# stop the first sweep once it has logits on disk, so the second starts mid-way
for _ in $(seq 1 2000); do
  [ -s "$tmp/s/.sweep-partial/cfg1.bin" ] && break
  kill -0 "$bg" 2>/dev/null || break
  sleep 0.005
done
if kill -STOP "$bg" 2>/dev/null && [ -s "$tmp/s/.sweep-partial/cfg1.bin" ]; then
  out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
  check_eq "second sweep exit" 1 "$rc"
  check_eq "second sweep message" "zonelab: error: $tmp/s is in use by process $bg" "$out"
  out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --out "$tmp/s" 2>&1); rc=$?
  check_eq "decode into a sweep's folder" "zonelab: error: $tmp/s is in use by process $bg" "$out"
  out=$("$ZL" "${TRAIN[@]}" --out "$tmp/s" 2>&1); rc=$?
  check_eq "train into a sweep's folder" "zonelab: error: $tmp/s is in use by process $bg" "$out"
  kill -CONT "$bg"
else
  fail=$((fail+1)); echo "FAIL the first sweep finished before it could be stopped"
  kill -CONT "$bg" 2>/dev/null
fi
wait "$bg"; check_eq "first sweep exit" 0 "$?"; bg=""
n=0
for f in "$tmp"/ref/*; do
  name=${f##*/}
  [ "$name" = baseline.json ] && continue # records its folder
  n=$((n+1))
  cmp -s "$f" "$tmp/s/$name" && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL $name differs from a lone sweep's"; }
done
[ "$n" -ge 10 ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL only $n files compared"; }
# a killed holder leaves the lock free
"$ZL" -e "require('zonelab').io.lock('$tmp/k'); io.read('l')" < <(sleep 30) > /dev/null 2>&1 &
bg=$!
mkdir -p "$tmp/k"
for _ in $(seq 1 400); do [ -s "$tmp/k/.lock" ] && break; sleep 0.005; done
out=$("$ZL" -e "require('zonelab').io.lock('$tmp/k')" 2>&1)
check_eq "held lock" "zonelab: error: $tmp/k is in use by process $bg" "$out"
kill -9 "$bg"; wait "$bg" 2>/dev/null; bg=""
out=$("$ZL" -e "print(require('zonelab').io.lock('$tmp/k'))" 2>&1)
check_eq "lock free after SIGKILL" "run folder lock: $tmp/k (held)" "$out"
# decodes: two configurations side by side; the same one twice is refused
"$ZL" -e "
local zl = require 'zonelab'
local a = zl.io.lock('$tmp/d', { shared = true })
local b = zl.io.lock('$tmp/d', { name = '.lock-predictions_layer1_q2' })
io.read('l')" < <(sleep 30) > /dev/null 2>&1 &
bg=$!
mkdir -p "$tmp/d"
for _ in $(seq 1 400); do [ -e "$tmp/d/.lock-predictions_layer1_q2" ] && break; sleep 0.005; done
sleep 0.05
# (--mask-layer counts from 1; the file names keep the reference's 0-based L)
out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --mask-zone q2 --mask-layer 1 --out "$tmp/d" 2>&1); rc=$?
check_eq "decode beside another decode" 0 "$rc"
out=$("$ZL" recipes/decode.lua "${COMMON[@]}" --mask-zone q2 --mask-layer 2 --out "$tmp/d" 2>&1); rc=$?
check_eq "the same configuration twice" "zonelab: error: $tmp/d is in use by process $bg" "$out"
kill -9 "$bg"; wait "$bg" 2>/dev/null; bg=""

finish
