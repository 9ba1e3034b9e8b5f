#!/usr/bin/env bash
# sweep.lua --shard I/N and aggregate.lua --merge: 3 shards run out of order (and one rerun)
# merge into the unsharded sweep's files byte for byte (baseline.json up to its folder path)
# for the configuration split; for the question split (fewer configurations than shards, and
# --shard-by questions) the same predictions, metrics and tables, n-best numbers within 1e-4;
# refusals (missing shard, shards that disagree, a changed file, bad --shard); the examples:
# the Slurm script without Slurm (submission with a stand-in sbatch, then its array tasks and
# its merge branch run here; tests/cli/slurm.sh runs it on a real one-node Slurm),
# parallel.sh through xargs -P, and bash -n of the Slurm script.
source "$(dirname "$0")/lib.sh" "$@"
close_nbest() { # two n-best files: the same questions, texts and order; numbers within 1e-4
  "$ZL" -e "
local zl = require 'zonelab'
local a, b = zl.json.read('$1'), zl.json.read('$2')
for qid in pairs(b) do assert(a[qid], 'extra question ' .. qid) end
for qid, list in pairs(a) do
  local other = assert(b[qid], 'missing question ' .. qid)
  assert(#list == #other, qid .. ': ' .. #list .. ' vs ' .. #other .. ' entries')
  for k, e in ipairs(list) do
    assert(e.text == other[k].text, qid .. ' entry ' .. k .. ': text differs')
    for _, key in ipairs { 'start_logit', 'end_logit', 'probability' } do
      assert(math.abs(e[key] - other[k][key]) <= 1e-4, qid .. ' entry ' .. k .. ': ' .. key .. ' differs')
    end
  end
end" 2>&1
}
same_dir() { # name, unsharded folder, merged folder, file count[, close]: every file of the
  # first, equal in the second; with "close", n-best files need only agree within 1e-4 (the
  # question split batches features differently, and OpenBLAS's AVX2 kernels round a row by
  # the shape of the product it sits in)
  local f n=0 msg
  for f in $(ls "$2"); do
    [ -f "$2/$f" ] || continue
    n=$((n+1))
    if [ "${5:-}" = close ] && [[ "$f" == nbest_* ]]; then
      if msg=$(close_nbest "$2/$f" "$3/$f"); then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: $f: $msg"; fi
    elif [ "$f" = baseline.json ]; then
      if [[ "$(sed 's#"predictions": ".*/#"predictions": "#' "$2/$f")" == "$(sed 's#"predictions": ".*/#"predictions": "#' "$3/$f")" ]]; then
        pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: $f differs"; fi
    elif cmp -s "$2/$f" "$3/$f"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $1: $3/$f differs from $2/$f"; fi
  done
  check_eq "$1 files compared" "$4" "$n"
}
export ZONELAB_PROGRESS=0

synth_model "$tmp" 4 2 2 0.3
COMMON=(--model "$tmp/model" --predict "$tmp/dev.json" --max-seq-length 96 --max-query-length 24
        --doc-stride 32 --batch 4 --threads 1)
NOTHREADS=("${COMMON[@]:0:${#COMMON[@]}-2}")   # parallel.sh passes --threads itself

check "help --shard" "--shard" "$("$ZL" recipes/sweep.lua --help 2>&1)"
check "aggregate help --merge" "--merge" "$("$ZL" recipes/aggregate.lua --help 2>&1)"

"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/u" > /dev/null 2>&1 || echo "FAIL unsharded sweep"

# ---- configuration split: 11 configurations over 3 shards, run 3, 1, 2 ----
for i in 3 1 2; do
  out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" --shard $i/3 2>&1); rc=$?
  check_eq "shard $i exit" 0 "$rc"
done
check "shard 2 line" "sweep: shard 2 of 3 (4 of 11 configurations) finished" "$out"
check_eq "shard 1 files" "predictions.json predictions_layer0_q2p.json predictions_layer1_all.json predictions_layer1_p2q.json" \
  "$(ls "$tmp/s/shard-1-of-3" | grep '^predictions' | tr '\n' ' ' | sed 's/ $//')"
check_eq "no tables in a shard" "" "$(ls "$tmp/s/shard-1-of-3" | grep results)"
check "manifest model sha256" "\"model.safetensors\": \"$(sha256sum "$tmp/model/model.safetensors" | cut -c1-64)\"" \
  "$(cat "$tmp/s/shard-2-of-3/manifest.json")"
check "manifest dataset sha256" "\"sha256\": \"$(sha256sum "$tmp/dev.json" | cut -c1-64)\"" \
  "$(cat "$tmp/s/shard-2-of-3/manifest.json")"
# a rerun of a finished shard decodes nothing and leaves the same manifest
cp "$tmp/s/shard-1-of-3/manifest.json" "$tmp/manifest.first"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/s" --shard 1/3 2>&1)
check "shard rerun skips" "sweep: 0 configurations decoded, 4 already done" "$out"
if cmp -s "$tmp/manifest.first" "$tmp/s/shard-1-of-3/manifest.json"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL rerun manifest differs"; fi

cp -r "$tmp/s" "$tmp/s_copy"   # pristine shards for the refusal cases
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/s" 2>&1); rc=$?
check_eq "merge exit" 0 "$rc"
check "merge line" "merge: 3 shards (configs split) agree on model, data and options; 11 configurations" "$out"
same_dir "configs split = unsharded" "$tmp/u" "$tmp/s" 36
check_eq "merged results row 2" "$(sed -n 3p "$tmp/u/results.csv")" "$(sed -n 3p "$tmp/s/results.csv")"

# ---- refusals ----
cp -r "$tmp/s_copy" "$tmp/m1"; rm "$tmp/m1/shard-2-of-3/manifest.json"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m1" 2>&1); rc=$?
check_eq "missing shard exit" 1 "$rc"
check_eq "missing shard message" "zonelab: error: $tmp/m1: shard 2 of 3 missing or unfinished (no manifest.json): run recipes/sweep.lua --shard 2/3 with the same options" "$out"
rm -rf "$tmp/m1/shard-2-of-3" "$tmp/m1/shard-3-of-3"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m1" 2>&1); rc=$?
check "two missing" "shards 2, 3 of 3 missing" "$out"
# shard 2 decoded with other options / another model / other data
cp -r "$tmp/s_copy" "$tmp/m2"; rm -rf "$tmp/m2/shard-2-of-3"
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/m2" --shard 2/3 --max-answer-length 10 > /dev/null 2>&1
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m2" 2>&1); rc=$?
check_eq "options disagree exit" 1 "$rc"
check_eq "options disagree message" "zonelab: error: $tmp/m2/shard-1-of-3 and $tmp/m2/shard-2-of-3 disagree on the options (max_answer_length): they cannot be merged" "$out"
# rerunning that shard with the right options is refused (its folder holds other decodes) unless --force
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/m2" --shard 2/3 2>&1); rc=$?
check_eq "rerun other options exit" 1 "$rc"
check "rerun other options message" "manifest.json: this shard was decoded with another options; use another --out, or --force" "$out"
"$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/m2" --shard 2/3 --force > /dev/null 2>&1
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m2" 2>&1); rc=$?
check_eq "after --force merge exit" 0 "$rc"
same_dir "after --force = unsharded" "$tmp/u" "$tmp/m2" 36
mkdir -p "$tmp/model2"; cp "$tmp/model/"* "$tmp/model2/"
"$ZL" -e "local zl = require 'zonelab'
local cfg = zl.json.read('$tmp/model/bert_config.json')
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 2, 2, 64
cfg.initializer_range = 0.3
zl.bert.new(cfg, { seed = 3 }):save('$tmp/model2')"
cp -r "$tmp/s_copy" "$tmp/m3"; rm -rf "$tmp/m3/shard-3-of-3"
"$ZL" recipes/sweep.lua "${COMMON[@]}" --model "$tmp/model2" --out "$tmp/m3" --shard 3/3 > /dev/null 2>&1
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m3" 2>&1); rc=$?
check_eq "model disagree exit" 1 "$rc"
check "model disagree message" "shard-3-of-3 disagree on the model (model.safetensors differ)" "$out"
cp -r "$tmp/s_copy" "$tmp/m4"; rm -rf "$tmp/m4/shard-1-of-3"
sed 's/"dev0001_1"/"dev0001_x"/' "$tmp/dev.json" > "$tmp/dev2.json"
"$ZL" recipes/sweep.lua "${COMMON[@]}" --predict "$tmp/dev2.json" --out "$tmp/m4" --shard 1/3 > /dev/null 2>&1
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m4" 2>&1); rc=$?
check "data disagree message" "shard-2-of-3 disagree on the dataset (sha256" "$out"
# a file changed after its shard finished
cp -r "$tmp/s_copy" "$tmp/m5"; echo '{}' > "$tmp/m5/shard-3-of-3/predictions_layer0_q2.json"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m5" 2>&1); rc=$?
check_eq "changed file" "1 zonelab: error: $tmp/m5/shard-3-of-3/predictions_layer0_q2.json: changed since its shard finished (sha256 differs from manifest.json)" "$rc $out"
# two splits in one folder, none at all, the dataset moved
cp -r "$tmp/s_copy" "$tmp/m6"; mkdir "$tmp/m6/shard-1-of-4"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m6" 2>&1)
check "two splits" "shard folders of different splits (of 3 and of 4 shards)" "$out"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/model" 2>&1); rc=$?
check_eq "no shards" "1 zonelab: error: $tmp/model: no shard-I-of-N folders (written by recipes/sweep.lua --shard I/N --out $tmp/model)" "$rc $out"
cp -r "$tmp/s_copy" "$tmp/m7"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m7" --dataset "$tmp/dev2.json" 2>&1); rc=$?
check "moved dataset wrong" "dev2.json: not the dataset the shards decoded" "$out"
cp "$tmp/dev.json" "$tmp/moved.json"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/m7" --dataset "$tmp/moved.json" 2>&1); rc=$?
check_eq "moved dataset exit" 0 "$rc"
for s in 0/3 4/3 x 2; do
  out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --shard $s 2>&1); rc=$?
  check_eq "bad --shard $s" "1 zonelab: error: --shard: '$s' is not I/N with 1 <= I <= N (1-based, e.g. 2/8)" "$rc $out"
done
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --layers 2 --zones q2 --shard 1/11 2>&1); rc=$?
check_eq "too many shards" "1 zonelab: error: --shard 1/11: more shards than configurations (2) and than questions (10)" "$rc $out"

# ---- question split: 2 configurations, 3 shards of the 10 questions ----
SUB=(--layers 2 --zones q2)
"$ZL" recipes/sweep.lua "${COMMON[@]}" "${SUB[@]}" --out "$tmp/uq" > /dev/null 2>&1
for i in 2 3 1; do
  out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" "${SUB[@]}" --out "$tmp/q" --shard $i/3 2>&1)
done
check "question shard line" "sweep: shard 1 of 3 (questions 1-3 of 10) finished" "$out"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/q" 2>/dev/null); rc=$?
check_eq "question merge exit" 0 "$rc"
check "question merge line" "merge: 3 shards (questions split) agree" "$out"
same_dir "questions split = unsharded" "$tmp/uq" "$tmp/q" 9 close

# every configuration, split by questions on request; shards of two splits do not merge
for i in 1 2 3; do
  "$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/qa" --shard $i/3 --shard-by questions > /dev/null 2>&1
done
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/qa" 2>&1); rc=$?
check_eq "shard-by questions merge exit" 0 "$rc"
check "shard-by questions line" "merge: 3 shards (questions split) agree on model, data and options; 11 configurations" "$out"
same_dir "shard-by questions = unsharded" "$tmp/u" "$tmp/qa" 36 close
# the tolerance check itself refuses a changed logit and a changed text
"$ZL" -e "
local zl = require 'zonelab'
local n = zl.json.read('$tmp/u/nbest_predictions.json')
local qid = next(n)
n[qid][1].start_logit = n[qid][1].start_logit + 1e-3
zl.json.write('$tmp/nb_logit.json', n)
n[qid][1].start_logit = n[qid][1].start_logit - 1e-3
n[qid][1].text = n[qid][1].text .. 'x'
zl.json.write('$tmp/nb_text.json', n)"
check "close_nbest logit" "start_logit differs" "$(close_nbest "$tmp/u/nbest_predictions.json" "$tmp/nb_logit.json")"
check "close_nbest text" "text differs" "$(close_nbest "$tmp/u/nbest_predictions.json" "$tmp/nb_text.json")"
rm -rf "$tmp/qa/shard-2-of-3"; cp -r "$tmp/s_copy/shard-2-of-3" "$tmp/qa/"
out=$("$ZL" recipes/aggregate.lua --merge "$tmp/qa" 2>&1); rc=$?
check_eq "mixed splits" "1 zonelab: error: $tmp/qa/shard-1-of-3 and $tmp/qa/shard-2-of-3 disagree on the split (questions vs configs, --shard-by): they cannot be merged" "$rc $out"
out=$("$ZL" recipes/sweep.lua "${COMMON[@]}" --out "$tmp/e" --shard 1/12 --shard-by configs 2>&1); rc=$?
check_eq "shard-by configs too many" "1 zonelab: error: --shard 1/12 --shard-by configs: only 11 configurations" "$rc $out"

# ---- the examples ----
check_eq "sbatch syntax" 0 "$(bash -n examples/slurm/sweep.sbatch; echo $?)"
check_eq "parallel.sh syntax" 0 "$(bash -n examples/parallel.sh; echo $?)"
out=$(ZONELAB="$ZL" ZL_NO_GNU_PARALLEL=1 JOBS=2 bash examples/parallel.sh 3 "$tmp/p" "${NOTHREADS[@]}" 2>&1); rc=$?
check_eq "parallel.sh exit" 0 "$rc"
check "parallel.sh merged" "merge: 3 shards (configs split)" "$out"
check_eq "parallel.sh logs" 3 "$(ls "$tmp/p" | grep -c '^shard-.*\.log$')"
check_eq "parallel.sh results = unsharded" "$(cat "$tmp/u/results.csv")" "$(cat "$tmp/p/results.csv")"

# the Slurm script without Slurm (tests/cli/slurm.sh runs it on a real one): the login-node
# branch submits an array and a dependent merge (a stand-in sbatch records the calls); the
# task branch runs one shard each, and the merge branch merges, as Slurm would
mkdir -p "$tmp/bin"
cat > "$tmp/bin/sbatch" <<EOS
#!/usr/bin/env bash
echo "\$*" >> "$tmp/sbatch.calls"; n=\$(wc -l < "$tmp/sbatch.calls"); echo "\$((4000 + n))"
EOS
chmod +x "$tmp/bin/sbatch"
export MODEL="$tmp/model" PREDICT="$tmp/dev.json" SHARDS=3 ZONELAB="$ZL" RECIPES=recipes
out=$(OUT="$tmp/sl" PATH="$tmp/bin:$PATH" bash examples/slurm/sweep.sbatch --batch 4 2>&1); rc=$?
check_eq "sbatch submit exit" 0 "$rc"
check "sbatch submit line" "submitted shards: job array 4001 (1-3); merge: job 4002" "$out"
check "sbatch array" "--parsable --array=1-3 --export=ALL examples/slurm/sweep.sbatch --batch 4" "$(sed -n 1p "$tmp/sbatch.calls")"
check "sbatch merge after array" "--dependency=afterok:4001" "$(sed -n 2p "$tmp/sbatch.calls")"
check "sbatch merge job" "--export=ALL,ZL_SWEEP_MERGE=1 examples/slurm/sweep.sbatch" "$(sed -n 2p "$tmp/sbatch.calls")"
for i in 2 3 1; do
  OUT="$tmp/sl" SLURM_JOB_ID=$((4000 + i)) SLURM_ARRAY_TASK_ID=$i SLURM_CPUS_PER_TASK=1 bash examples/slurm/sweep.sbatch \
    --max-seq-length 96 --max-query-length 24 --doc-stride 32 --batch 4 > /dev/null 2>&1
done
out=$(OUT="$tmp/sl" SLURM_JOB_ID=4005 ZL_SWEEP_MERGE=1 bash examples/slurm/sweep.sbatch 2>&1); rc=$?
check_eq "sbatch tasks merge exit" 0 "$rc"
check "sbatch merge branch" "merge: 3 shards (configs split)" "$out"
same_dir "sbatch tasks = unsharded" "$tmp/u" "$tmp/sl" 36

finish
