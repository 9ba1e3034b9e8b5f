#!/usr/bin/env bash
# MPI data-parallel fine-tuning: `mpirun -np 2 zonelab recipes/train.lua` (loopback only)
# gives the weights of one process within 1e-5 (even and uneven splits of the micro-batches),
# the same loss column, and rank 0 alone writes (one log, one "wrote" line, checkpoint, dev
# predictions). A normal run never starts MPI. Skipped, with a message, only where OpenMPI
# (mpirun) is not installed; installed but not built in is a failure.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

# outside mpirun: one process, MPI untouched
check_eq "plain run: one rank" "1 0 false" "$("$ZL" -e 'local d = require("zonelab").dist; print(string.format("%d %d %s", d.init(), d.rank(), tostring(d.launched())))')"
# the communicator is explicit: init returns it, train.new takes it (and refuses anything else)
check_eq "plain run: communicator" "dist: rank 0 of 1 true" "$("$ZL" -e 'local d = require("zonelab").dist; local _, w = d.init(); print(tostring(w) .. " " .. tostring(rawequal(w, d.world())))')"
check "train.new refuses a non-communicator" "option 'dist' must be a communicator" "$("$ZL" -e '
local zl = require "zonelab"
local m = zl.bert.new({ vocab_size = 10, hidden_size = 8, num_hidden_layers = 1, num_attention_heads = 2, intermediate_size = 8, max_position_embeddings = 16 })
zl.train.new(m, { micro_batch = 1, max_seq_length = 8, total_steps = 1, dist = 2 })' 2>&1)"

if ! command -v mpirun > /dev/null 2>&1; then
  [ "$fail" -eq 0 ] || finish
  skip_all "OpenMPI is not installed (apt-get install libopenmpi-dev openmpi-bin, or make deps)"
fi
check_eq "built with MPI" "true" "$("$ZL" -e 'print(require("zonelab").dist.available())')"

synth_data "$tmp/data"
D="$tmp/data"
COMMON=(--model "$D" --init random --train "$D/train.json" --max-seq-length 64 --doc-stride 32
        --max-query-length 24 --epochs 2 --lr 1e-3 --threads 1)
# loopback only; root needs the explicit permission
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
BTL="self,vader"
mpirun --version 2>/dev/null | grep -q "Open MPI) [5-9]" && BTL="self,sm"
MPIRUN=(mpirun -np 2 --mca btl "$BTL" --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)

max_diff() { # two model folders -> largest |difference| over every weight
  "$ZL" -e "
local zl = require 'zonelab'
local a, b = zl.tensor.load('$1/model.safetensors'), zl.tensor.load('$2/model.safetensors')
local worst, n = 0, 0
for k, v in pairs(a) do n = n + 1; worst = math.max(worst, v:max_abs_diff(b[k])) end
print(n .. ' ' .. (worst <= 1e-5 and 'within-1e-5' or tostring(worst)))"
}

check_eq "mpirun: each rank's communicator" "dist: rank 0 of 2
dist: rank 1 of 2" "$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${MPIRUN[@]}" "$ZL" -e 'local _, w = require("zonelab").dist.init(); print(tostring(w))' 2>&1 | sort)"

for split in "4 1" "6 2"; do # batch, micro-batch: 4 micro-batches over 2 ranks; 3 (uneven)
  set -- $split
  "$ZL" recipes/train.lua "${COMMON[@]}" --batch $1 --micro-batch $2 --out "$tmp/one$1" \
    --save-every 3 --dev "$D/dev.json" > "$tmp/one$1.out" 2>&1
  # (sanitizer builds: OpenMPI's own allocations are never freed; zonelab's are leak-checked
  # by the one-process runs of the same code above and in train.sh)
  out=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "${MPIRUN[@]}" "$ZL" recipes/train.lua "${COMMON[@]}" --batch $1 --micro-batch $2 \
    --out "$tmp/two$1" --save-every 3 --dev "$D/dev.json" 2>&1); rc=$?
  check_eq "batch $1: mpirun exit" 0 "$rc"
  check "batch $1: ranks announced" "x 2 MPI ranks" "$out"
  check_eq "batch $1: one writer" 1 "$(grep -c "^wrote $tmp/two$1/model " <<< "$out")"
  check_eq "batch $1: weights" "39 within-1e-5" "$(max_diff "$tmp/one$1/model" "$tmp/two$1/model")"
  check_eq "batch $1: loss column" "$(cut -d, -f1-3 "$tmp/one$1/train_log.csv")" "$(cut -d, -f1-3 "$tmp/two$1/train_log.csv")"
  check_eq "batch $1: checkpoint" "yes" "$([ -s "$tmp/two$1/checkpoint/optim.safetensors" ] && echo yes)"
  check_eq "batch $1: dev predictions" "$(cat "$tmp/one$1/metrics.json")" "$(cat "$tmp/two$1/metrics.json")"
done
check "uneven note" "3 micro-batches per step do not split evenly over 2 ranks" "$out"

# a pretraining step whose masking options are wrong fails on every rank (it used to fail only
# on the rank holding the one micro-batch while the other waited in the reduction for ever)
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsat\non\nmat\n' > "$tmp/mlm_vocab.txt"
out=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" timeout 60 "${MPIRUN[@]}" "$ZL" -e "
local zl = require 'zonelab'
local _, world = zl.dist.init()
local m = zl.bert.new({ vocab_size = 10, hidden_size = 8, num_hidden_layers = 1, num_attention_heads = 2,
  intermediate_size = 8, max_position_embeddings = 16 }, { seed = 1, mlm = true })
local c = zl.mlm.corpus(zl.tokenizer.load('$tmp/mlm_vocab.txt', { lower = true }), { max_seq_length = 8 })
c:add('the cat sat on the mat')
local tr = zl.train.new(m, { micro_batch = 2, max_seq_length = 8, total_steps = 2, max_predictions = 2, dist = world })
local ok, err = pcall(tr.step_mlm, tr, c, zl.tensor.from({ 1 }, { 1 }, 'i32'), 1, 1, { prob = 2 })
print(string.format('%d %s %s', zl.dist.rank(), tostring(ok), tostring(err)))" 2>&1); rc=$?
check_eq "mlm bad masking: no rank hangs" 0 "$rc"
check_eq "mlm bad masking: both ranks refuse" "0 false mlm: masking needs max_predictions >= 1, prob in (0, 1] and a [MASK] id in the vocabulary
1 false mlm: masking needs max_predictions >= 1, prob in (0, 1] and a [MASK] id in the vocabulary" "$(grep '^[01] ' <<< "$out" | sort)"

finish
