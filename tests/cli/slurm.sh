#!/usr/bin/env bash
# examples/slurm/sweep.sbatch on a real one-node Slurm (Debian's slurm-wlm and munge, installed
# by `make deps`): the test starts munged, slurmctld and slurmd as root in a temporary state
# folder (its own munge key and socket, ports picked free, a generated slurm.conf whose one
# node advertises the script's 8 CPUs through SlurmdParameters=config_overrides), submits the
# example with the real sbatch (a job array of 3 shards, then the merge job, afterok), waits
# with a bounded timeout, and compares the merged files with the single-process sweep's byte
# for byte; then shards that fail, whose merge job must be cancelled, never run. It stops
# exactly the daemons it started, by pid, on every exit. Where they cannot
# run (not root, packages missing, a daemon that does not come up) it prints one SKIP line
# and exits 77, ctest's SKIP_RETURN_CODE for this test (ZL_REQUIRE_SLURM=1: a failure instead).
source "$(dirname "$0")/lib.sh" "$@"   # its $tmp is removed by cleanup below
SRC=$(pwd)   # ctest runs the cli tests in the source folder
skip() { # one line; under ZL_REQUIRE_SLURM=1 (a CI that must run it) a failure
  if [ "${ZL_REQUIRE_SLURM:-0}" = 1 ]; then echo "FAIL slurm.sh (ZL_REQUIRE_SLURM=1): $*"; exit 1; fi
  echo "SKIP slurm.sh: $*"; exit 77
}
export ZONELAB_PROGRESS=0

[ "$(id -u)" = 0 ] || skip "the Slurm and munge daemons are started as root (run as root, or make test as root)"
for c in munged munge unmunge slurmctld slurmd sbatch scontrol setpriv; do
  command -v "$c" > /dev/null 2>&1 || skip "$c not found (make deps installs slurm-wlm and munge as root)"
done
getent passwd munge > /dev/null || skip "no munge user (the munge package creates it)"

state=$(mktemp -d /tmp/zl-slurm.XXXXXX); chmod 755 "$state"   # munged (user munge) walks it
pids=()   # the daemons this test started, stopped in reverse order
cleanup() {
  local rc=$? i p n alive
  trap '' PIPE   # a closed stdout must not stop the cleanup
  alive=" $(jobs -p | tr '\n' ' ') "   # our children still running: a dead one's pid may be reused
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    p=${pids[i]}
    [[ "$alive" == *" $p "* ]] || continue
    kill -TERM "$p" 2> /dev/null || continue
    for ((n=0; n<100; n++)); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2> /dev/null
    wait "$p" 2> /dev/null
  done
  if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
    for f in slurmctld.log slurmd.log munged.log; do
      [ -f "$state/$f" ] && { echo "--- last lines of $f"; tail -15 "$state/$f"; }
    done
  fi
  rm -rf "$state" "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# ---- munged: its own key (owned by munge, 0400) and socket in the state folder ----
m="$state/munge"; mkdir -m 755 "$m"
head -c 1024 /dev/urandom > "$m/munge.key"
chown -R munge:munge "$m"; chmod 400 "$m/munge.key"
sock="$m/munge.socket"
setpriv --reuid=munge --regid=munge --clear-groups munged --foreground --key-file="$m/munge.key" \
  --socket="$sock" --pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed" \
  > "$state/munged.log" 2>&1 &
pids+=($!)
for ((n=0; n<50; n++)); do [ -S "$sock" ] && break; sleep 0.1; done
munge -n -S "$sock" 2> /dev/null | unmunge -S "$sock" > /dev/null 2>&1 \
  || skip "munged did not start: $(tail -1 "$m/munged.log" 2> /dev/null)$(tail -1 "$state/munged.log")"

# ---- slurm.conf: one node, two ports free now (another run may pick its own at the same time) ----
listening=$(cat /proc/net/tcp /proc/net/tcp6 2> /dev/null | while read -r _ local _ st _; do
  [ "$st" = 0A ] && echo $((16#${local##*:})); done | sort -u)   # ports in LISTEN (0A)
for ((n=0; n<50; n++)); do
  port=$((20000 + RANDOM % 30000 * 2))
  grep -qx -e "$port" -e "$((port+1))" <<< "$listening" || break
done
host=$(uname -n); host=${host%%.*}
conf="$state/slurm.conf"
cat > "$conf" <<EOF
ClusterName=zltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port+1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/spool
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
DependencyParameters=kill_invalid_depend
ReturnToService=2
MailProg=/bin/true
MpiDefault=none
SlurmdParameters=config_overrides
NodeName=zlnode NodeAddr=127.0.0.1 CPUs=8 RealMemory=8192 State=UNKNOWN
PartitionName=zl Nodes=zlnode Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$state/ctld" "$state/spool" "$state/work"
export SLURM_CONF="$conf"
slurmctld -D -i -f "$conf" > "$state/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$conf" -N zlnode > "$state/slurmd.out" 2>&1 &
pids+=($!)
node=""; deadline=$((SECONDS + 30))
while [ "$SECONDS" -lt "$deadline" ]; do
  node=$(scontrol -o show node zlnode 2> /dev/null)
  [[ "$node" == *"State=IDLE"* ]] && break
  kill -0 "${pids[1]}" 2> /dev/null || skip "slurmctld did not start: $(tail -1 "$state/slurmctld.out")"
  kill -0 "${pids[2]}" 2> /dev/null || skip "slurmd did not start: $(tail -1 "$state/slurmd.out")"
  sleep 0.1
done
[[ "$node" == *"State=IDLE"* ]] || skip "node zlnode not idle after 30 s: ${node:-no answer from slurmctld}"
check "node advertises 8 CPUs" "CPUTot=8" "$node"

# ---- the single-process sweep, then the example submitted to Slurm ----
mkdir "$state/data"
synth_model "$state/data" 4 2 2 0.3 || { echo "FAIL demo model"; exit 1; }
OPTS=(--max-seq-length 96 --max-query-length 24 --doc-stride 32 --batch 4)
"$ZL" "$SRC/recipes/sweep.lua" --model "$state/data/model" --predict "$state/data/dev.json" \
  "${OPTS[@]}" --threads 8 --out "$state/u" > "$state/u.log" 2>&1 || { echo "FAIL unsharded sweep: $(tail -1 "$state/u.log")"; exit 1; }

# submitted from a working folder of its own: jobs start there and write their logs there
cd "$state/work"
# an OUT with a space, quotes, $( ) and a newline: one argument all the way, never a shell
# string (sbatch --wrap runs /bin/sh, where bash's printf %q quoting of a newline breaks)
OUT="$state/work/sweep 'q' \$(touch INJECTED)
2"
out=$(MODEL="$state/data/model" PREDICT="$state/data/dev.json" OUT="$OUT" SHARDS=3 \
  ZONELAB="$ZL" RECIPES="$SRC/recipes" bash "$SRC/examples/slurm/sweep.sbatch" "${OPTS[@]}" 2>&1); rc=$?
check_eq "submit exit" 0 "$rc"
check "submit line" "submitted shards: job array" "$out"
jid=$(sed -n 's/^submitted shards: job array \([0-9]*\) .*/\1/p' <<< "$out")
mid=$(sed -n 's/.*merge: job \([0-9]*\) .*/\1/p' <<< "$out")
[ -n "$jid" ] && [ -n "$mid" ] || { echo "FAIL no job ids in: $out"; exit 1; }
check "merge job after the array" "Dependency=afterok:${jid}" "$(scontrol -o show job "$mid")"

# wait for the merge job (cancelled by kill_invalid_depend if a shard failed), 120 s at most
jobstate() { scontrol -o show job "$1" 2> /dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'; }
deadline=$((SECONDS + 120))
while [ "$SECONDS" -lt "$deadline" ]; do
  st=$(jobstate "$mid")
  case "$st" in PENDING|RUNNING|CONFIGURING|COMPLETING|"") sleep 0.5 ;; *) break ;; esac
done
check_eq "array tasks" "COMPLETED" "$(jobstate "$jid")"
check_eq "merge job" "COMPLETED" "$st"
if [ "$st" != COMPLETED ]; then
  for f in zl-*.log; do [ -f "$f" ] && echo "--- $f: $(tail -1 "$f")"; done
  echo "slurm.sh: $pass passed, $fail failed"; exit 1
fi
check_eq "array: 3 tasks" 3 "$(scontrol -o show job "$jid" 2> /dev/null | grep -c "ArrayJobId=$jid ")"
check "task ran on 8 CPUs" "NumCPUs=8" "$(scontrol -o show job "${jid}_2" 2> /dev/null)"
check_eq "task logs" "zl-sweep-${jid}_1.log zl-sweep-${jid}_2.log zl-sweep-${jid}_3.log" \
  "$(ls | grep '^zl-sweep-' | tr '\n' ' ' | sed 's/ $//')"
check "shard 2 finished" "sweep: shard 2 of 3" "$(cat "zl-sweep-${jid}_2.log" 2> /dev/null)"
check "merge log" "merge: 3 shards (configs split) agree on model, data and options; 11 configurations" \
  "$(cat "zl-merge-$mid.log" 2> /dev/null)"

# the merged folder holds every file of the single-process sweep, the same bytes
n=0
for f in $(ls "$state/u"); do
  [ -f "$state/u/$f" ] || continue
  n=$((n+1))
  if [ "$f" = baseline.json ]; then   # names its own folder
    a=$(sed 's#"predictions": ".*/#"predictions": "#' "$state/u/$f")
    b=$(sed 's#"predictions": ".*/#"predictions": "#' "$OUT/$f" 2> /dev/null)
    check_eq "$f" "$a" "$b"
  elif cmp -s "$state/u/$f" "$OUT/$f"; then pass=$((pass+1))
  else fail=$((fail+1)); echo "FAIL $OUT/$f differs from the single-process sweep's"; fi
done
check_eq "files compared" 36 "$n"
check_eq "results.csv byte for byte" "$(cat "$state/u/results.csv")" "$(cat "$OUT/results.csv" 2> /dev/null)"
check_eq "nothing injected" "" "$(find "$state" -name INJECTED)"

# afterok for real: shards that fail (an unknown option) leave the merge job unrun, cancelled
out=$(MODEL="$state/data/model" PREDICT="$state/data/dev.json" OUT="$state/work/bad" SHARDS=2 \
  ZONELAB="$ZL" RECIPES="$SRC/recipes" bash "$SRC/examples/slurm/sweep.sbatch" --no-such-option 2>&1)
jid=$(sed -n 's/^submitted shards: job array \([0-9]*\) .*/\1/p' <<< "$out")
mid=$(sed -n 's/.*merge: job \([0-9]*\) .*/\1/p' <<< "$out")
deadline=$((SECONDS + 60))
while [ -n "$mid" ] && [ "$SECONDS" -lt "$deadline" ]; do
  st=$(jobstate "$mid")
  case "$st" in PENDING|RUNNING|CONFIGURING|COMPLETING|"") sleep 0.5 ;; *) break ;; esac
done
check_eq "failed shards" "FAILED" "$(jobstate "$jid")"
check_eq "merge after failed shards" "CANCELLED" "$(jobstate "$mid")"
check "failed shard log" "unknown option '--no-such-option'" "$(cat "zl-sweep-${jid}_1.log" 2> /dev/null)"
check_eq "no merged table" "" "$(ls "$state/work/bad" 2> /dev/null | grep results)"
cd "$SRC"

finish
