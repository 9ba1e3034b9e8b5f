#!/usr/bin/env bash
# No silent wrong result, no hang (issue 16, sections 5 and 6), end to end: NaN weights
# refused at load naming the tensor; a vocabulary longer than the model's vocab_size refused
# naming both files; a prediction file with a repeated key scored with its last value (as
# json.load); NaN in a JSON file named; a stray predictions_layer99999999_q2.json refused at
# once by aggregate; train.lua --epochs 1e8 starts training at once in bounded memory.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

"$ZL" -e "
local zl = require 'zonelab'
local lfs = require 'lfs'
local synth = require 'zonelab.synth'
synth.write('$tmp', synth.generate { seed = 3, train_paragraphs = 4, dev_paragraphs = 2 })
local cfg = zl.json.read('$tmp/bert_config.json')
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 2, 2, 64
local vocab = zl.io.read('$tmp/vocab.txt')
for _, d in ipairs { 'model', 'nan', 'bigvocab' } do lfs.mkdir('$tmp/' .. d) end
local m = zl.bert.new(cfg, { seed = 1 })
m:save('$tmp/model')
zl.io.write_atomic('$tmp/model/vocab.txt', vocab)
m:params()['bert.encoder.layer.1.output.dense.bias']:set(3, 0 / 0)
m:params()['bert.encoder.layer.1.output.dense.bias']:set(5, math.huge)
m:save('$tmp/nan')
zl.io.write_atomic('$tmp/nan/vocab.txt', vocab)
zl.bert.new(cfg, { seed = 1 }):save('$tmp/bigvocab')
zl.io.write_atomic('$tmp/bigvocab/vocab.txt', vocab .. 'extra1\nextra2\n')"
DEC=(recipes/decode.lua --predict "$tmp/dev.json" --max-seq-length 96 --max-query-length 24
     --doc-stride 32 --batch 4 --threads 1)

# ---- weights: NaN or infinity refused at load, naming the tensor and the count ----
out=$("$ZL" "${DEC[@]}" --model "$tmp/model" --out "$tmp/o" 2>&1); rc=$?
check_eq "good model exit" 0 "$rc"
out=$("$ZL" "${DEC[@]}" --model "$tmp/nan" --out "$tmp/onan" 2>&1); rc=$?
check_eq "nan model exit" 1 "$rc"
check "nan model message" "zonelab: error: $tmp/nan/model.safetensors: tensor bert.encoder.layer.1.output.dense.bias has 2 non-finite values" "$out"
check_eq "nan model wrote nothing" "" "$(ls "$tmp/onan" 2>/dev/null | grep predictions)"

# ---- a vocabulary longer than vocab_size: both files named, before any forward ----
out=$("$ZL" "${DEC[@]}" --model "$tmp/bigvocab" --out "$tmp/ov" 2>&1); rc=$?
check_eq "big vocab exit" 1 "$rc"
check "big vocab message" "$tmp/bigvocab/vocab.txt has" "$out"
check "big vocab names the config" "but $tmp/bigvocab/bert_config.json says vocab_size" "$out"
out=$("$ZL" recipes/train.lua --model "$tmp/bigvocab" --init random --train "$tmp/train.json" \
  --out "$tmp/tv" --max-seq-length 64 --max-query-length 24 --doc-stride 32 --batch 4 --threads 1 2>&1); rc=$?
check_eq "train big vocab exit" 1 "$rc"
check "train big vocab message" "$tmp/bigvocab/bert_config.json says vocab_size" "$out"

# ---- JSON: a repeated key takes the last value (json.load); NaN is named ----
qids=$("$ZL" -e "
local zl = require 'zonelab'
local d = zl.json.read('$tmp/dev.json')
local ids = {}
for _, a in ipairs(d.data) do for _, p in ipairs(a.paragraphs) do
  for _, q in ipairs(p.qas) do ids[#ids + 1] = q.id end end end
print(ids[1]) print(zl.json.encode(d.data[1].paragraphs[1].qas[1].answers[1].text)) print(#ids)")
q1=$(sed -n 1p <<<"$qids"); a1=$(sed -n 2p <<<"$qids")
printf '{"%s": "no such answer", "%s": %s}' "$q1" "$q1" "$a1" > "$tmp/dup_pred.json"
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/dup_pred.json" 2>/dev/null); rc=$?
check_eq "duplicate key exit" 0 "$rc"
n=$(sed -n 3p <<<"$qids")
want=$("$ZL" -e "print(string.format('%.17g', 100 / $n))")
got=$("$ZL" -e "local zl = require 'zonelab'; print(string.format('%.17g', zl.json.decode([[$out]]).exact_match))")
check_eq "duplicate key: the last value is scored" "$want" "$got"
printf '{"%s": NaN}' "$q1" > "$tmp/nan_pred.json"
out=$("$ZL" recipes/evaluate.lua "$tmp/dev.json" "$tmp/nan_pred.json" 2>&1); rc=$?
check_eq "NaN json exit" 1 "$rc"
check "NaN json message" "NaN at line 1 (byte" "$out"

# ---- aggregate: a layer number past the run's range is refused at once ----
mkdir -p "$tmp/preds"
cp "$tmp/o/predictions.json" "$tmp/preds/"
for z in all q2 q2p p2q p2; do cp "$tmp/o/predictions.json" "$tmp/preds/predictions_layer0_$z.json"; done
out=$("$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/r/results.csv" --dataset "$tmp/dev.json" 2>&1); rc=$?
check_eq "aggregate clean exit" 0 "$rc"
cp "$tmp/o/predictions.json" "$tmp/preds/predictions_layer99999999_q2.json"
start=$(date +%s)
out=$(timeout 60 "$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/r/results.csv" --dataset "$tmp/dev.json" --allow-missing 2>&1); rc=$?
check_eq "stray layer exit" 1 "$rc"
check "stray layer message" "predictions_layer99999999_q2.json: layer 99999999 is outside any model zonelab runs (at most 256 layers)" "$out"
check_eq "stray layer at once" 1 "$(( $(date +%s) - start < 5 ))"
rm "$tmp/preds/predictions_layer99999999_q2.json"
cp "$tmp/o/predictions.json" "$tmp/preds/predictions_layer1_p2.json"
out=$("$ZL" recipes/aggregate.lua "$tmp/preds" "$tmp/r/results.csv" --dataset "$tmp/dev.json" --layers 1 2>&1); rc=$?
check_eq "past --layers exit" 1 "$rc"
check "past --layers message" "predictions_layer1_p2.json: layer 1 is outside the run's 1 layers" "$out"

# ---- train --epochs 1e8: the order is drawn per epoch, training starts at once ----
"$ZL" recipes/train.lua --model "$tmp/model" --init random --train "$tmp/train.json" --out "$tmp/t" \
  --max-seq-length 64 --max-query-length 24 --doc-stride 32 --batch 4 --epochs 1e8 --threads 1 \
  >"$tmp/t.out" 2>&1 &
bg=$!
rows=0
for _ in $(seq 1 200); do
  rows=$(cat "$tmp/t/train_log.csv" 2>/dev/null | wc -l)
  [ "$rows" -ge 4 ] && break
  kill -0 "$bg" 2>/dev/null || break
  sleep 0.1
done
rss=$(awk '/VmRSS/ {print $2}' "/proc/$bg/status" 2>/dev/null)
kill -9 "$bg" 2>/dev/null; wait "$bg" 2>/dev/null; bg=""
check_eq "epochs 1e8 trains within 20 s" 1 "$(( rows >= 4 ))"
check "epochs 1e8 step count" "steps of 4" "$(cat "$tmp/t.out")"
check_eq "epochs 1e8 memory under 400 MB (${rss:-?} kB)" 1 "$(( ${rss:-999999999} < 400000 ))"

finish
