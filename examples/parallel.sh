#!/usr/bin/env bash
# examples/parallel.sh — the zone x layer sweep split into N shards run side by side on one
# big machine (GNU parallel, or xargs -P when GNU parallel is not installed), then merged.
#
#   examples/parallel.sh N OUT [sweep.lua options...]
#   JOBS=8 THREADS=4 examples/parallel.sh 32 run/predictions \
#       --model run/model --predict dev-v1.1.json --max-seq-length 384 --batch 32
#
# Environment: ZONELAB (the zonelab executable; default `zonelab` on PATH, else build/zonelab),
# JOBS (shards at once; default: cores / THREADS), THREADS (BLAS threads per shard, default 1;
# not --threads in the options),
# ZL_NO_GNU_PARALLEL=1 (use xargs -P even when GNU parallel exists).
# A shard that fails can simply be rerun: finished configurations are skipped. Each shard's
# log is OUT/shard-I-of-N.log. See docs/scale.md.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 N OUT [sweep.lua options...]" >&2; exit 2
fi
N=$1; OUT=$2; shift 2
case "$N" in ''|*[!0-9]*|0) echo "$0: N must be a positive integer, got '$N'" >&2; exit 2;; esac
HERE=$(cd "$(dirname "$0")/.." && pwd)
ZONELAB=${ZONELAB:-$(command -v zonelab || echo "$HERE/build/zonelab")}
THREADS=${THREADS:-1}
CORES=$(nproc 2>/dev/null || echo 2)
JOBS=${JOBS:-$(( CORES / THREADS > 0 ? CORES / THREADS : 1 ))}
mkdir -p "$OUT"

# one shard (its number first, then the sweep options), logged to OUT/shard-I-of-N.log
run_shard() {
  local i=$1; shift
  "$ZONELAB" "$HERE/recipes/sweep.lua" --shard "$i/$N" --out "$OUT" --threads "$THREADS" "$@" \
    > "$OUT/shard-$i-of-$N.log" 2>&1 || { echo "shard $i/$N failed: see $OUT/shard-$i-of-$N.log" >&2; return 1; }
}
export -f run_shard; export ZONELAB HERE N OUT THREADS
if [ -z "${ZL_NO_GNU_PARALLEL:-}" ] && parallel --version 2>/dev/null | grep -q "GNU parallel"; then
  seq 1 "$N" | parallel --will-cite --halt never -j "$JOBS" run_shard {} "$@"
else
  seq 1 "$N" | xargs -P "$JOBS" -I{} bash -c 'run_shard "$@"' _ {} "$@"
fi
"$ZONELAB" "$HERE/recipes/aggregate.lua" --merge "$OUT"
