#!/usr/bin/env bash
# CMRC 2018 through every step: recipes/protocol.lua --preset tiny-zh (the Chinese embedded
# default's smoke preset) end to end with the CMRC metric (training's dev scores, results,
# baseline.json, per-question files, report.md) and Chinese tokens in the flows JSON and PDF;
# then train / decode / sweep / flows --cmrc on its data, their scores equal to
# `evaluate.lua --cmrc` on the same predictions, and the one-line warning when Chinese data
# runs without --cmrc.
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

for r in train decode sweep flows protocol; do
  check "$r --help has --cmrc" "--cmrc" "$("$ZL" recipes/$r.lua --help 2>&1)"
done
check "protocol presets" "demo-zh" "$("$ZL" recipes/protocol.lua --help 2>&1)"

O="$tmp/zh"
log=$("$ZL" recipes/protocol.lua --preset tiny-zh --seeds 1 --flows 1 --threads 1 --out "$O" 2>&1)
rc=$?
check_eq "protocol tiny-zh exit" "0" "$rc"
[[ $rc -eq 0 ]] || echo "$log" | tail -20
check "every step gets --cmrc" "sweep.lua --model $O/seed1/model" "$(echo "$log" | grep -- '--cmrc')"
check "aggregate gets --cmrc" "aggregate.lua" "$(echo "$log" | grep -- '--cmrc')"
check "no warning with --cmrc" "none" "$(echo "$log" | grep -q 'are Chinese' && echo found || echo none)"
json() { "$ZL" -e "local zl = require 'zonelab'; local t = zl.json.read('$1'); io.write(tostring(t$2))"; }
check_eq "train dev scored cmrc" "cmrc" "$(json "$O/seed1/metrics.json" .scoring)"
check_eq "baseline.json cmrc" "cmrc" "$(json "$O/seed1/sweep/baseline.json" .scoring)"
check_eq "per-question cmrc" "cmrc" "$(json "$O/seed1/per_question/per_question.json" .metric)"
check "report names the metric" "the CMRC 2018 metric" "$(cat "$O/report.md")"
check "heatmap panels name the metric" "EM (CMRC 2018)" "$(echo "$log" | grep "heatmap mean")"
check 'report preset' 'Preset `tiny-zh`' "$(cat "$O/report.md")"
# the sweep's baseline is evaluate --cmrc's score of its predictions (and not SQuAD's)
ev=$("$ZL" recipes/evaluate.lua "$O/data/dev.json" "$O/seed1/sweep/predictions.json" --cmrc)
bl=$("$ZL" -e "local zl = require 'zonelab'; local b = zl.json.read('$O/seed1/sweep/baseline.json')
  io.write(require('zonelab.scoring').line(b))")
check_eq "baseline = evaluate --cmrc" "$ev" "$bl"
# Chinese tokens in the flows: the question's characters in the JSON and the PDF's text
q=$(json "$O/data/dev.json" ".data[1].paragraphs[1].qas[1].question")
check "flows JSON question" "\"question\":\"$q\"" "$(cat "$O/figures/flows/flows_dev0001_1.json")"
check "flows JSON tokens" '"tokens":["[CLS]","'"${q:0:1}"'","'"${q:1:1}"'"' "$(cat "$O/figures/flows/flows_dev0001_1.json")"
if command -v pdftotext >/dev/null; then
  check "flows PDF text" "${q:0:1} ${q:1:1} ${q:2:1}" "$(pdftotext "$O/figures/flows/flows_dev0001_1.pdf" - 2>/dev/null)"
else
  skip_part "pdftotext missing (poppler-utils): the flows PDF's Chinese text is not checked"
fi

D="$O/data"
# train --cmrc: its dev score is the CMRC metric's, as evaluate --cmrc gives it
T="$tmp/train"
out=$("$ZL" recipes/train.lua --model "$D" --init random --train "$D/train.json" --dev "$D/dev.json" \
  --out "$T" --epochs 1 --batch 4 --max-seq-length 96 --threads 1 --cmrc --save-every 1 2>&1)
check_eq "train --cmrc exit" "0" "$?"
ev=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$T/predictions.json" --cmrc)
check "train prints the cmrc score" "$ev" "$out"
check_eq "train metrics cmrc" "cmrc" "$(json "$T/metrics.json" .scoring)"
sq=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$T/predictions.json" 2>/dev/null)
[[ "$sq" != "$ev" ]] && ok || bad "the SQuAD and CMRC scores of Chinese predictions should differ: $sq"
# its checkpoint resumes only with --cmrc
err=$("$ZL" recipes/train.lua --model "$D" --init random --train "$D/train.json" --out "$T" \
  --epochs 1 --batch 4 --max-seq-length 96 --threads 1 --save-every 1 --resume 2>&1); rc=$?
check_eq "resume without --cmrc exit" "1" "$rc"
check "resume without --cmrc message" "made with --cmrc, this run has none" "$err"

# without --cmrc: one warning line per Chinese file
err=$("$ZL" recipes/train.lua --model "$D" --init random --train "$D/train.json" --dev "$D/dev.json" \
  --out "$tmp/train2" --epochs 1 --batch 4 --max-seq-length 96 --threads 1 2>&1 >/dev/null)
check "train warns (train)" "warning: $D/train.json: " "$err"
check "train warns (dev)" "warning: $D/dev.json: " "$err"
check "warning text" "of its context characters are Chinese: CMRC 2018-style data needs --cmrc" "$err"
check_eq "one line per file" "2" "$(echo "$err" | grep -c 'are Chinese')"
check_eq "train without --cmrc scores squad" "squad" "$(json "$tmp/train2/metrics.json" .scoring)"

# decode: warns without --cmrc, scores with CMRC with it
err=$("$ZL" recipes/decode.lua --model "$T/model" --predict "$D/dev.json" --out "$tmp/dec" \
  --max-seq-length 96 --threads 1 2>&1 >/dev/null)
check_eq "decode warns once" "1" "$(echo "$err" | grep -c "warning: $D/dev.json: .* are Chinese")"
out=$("$ZL" recipes/decode.lua --model "$T/model" --predict "$D/dev.json" --out "$tmp/dec2" \
  --max-seq-length 96 --threads 1 --cmrc 2>"$tmp/err")
check "decode --cmrc score" "$("$ZL" recipes/evaluate.lua "$D/dev.json" "$tmp/dec2/predictions.json" --cmrc)" "$out"
check_eq "decode --cmrc no warning" "" "$(grep 'are Chinese' "$tmp/err")"
check_eq "decode metrics cmrc" "cmrc" "$(json "$tmp/dec2/metrics.json" .scoring)"
# evaluate and aggregate without --cmrc on Chinese gold: the same line
err=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$tmp/dec2/predictions.json" 2>&1 >/dev/null)
check_eq "evaluate warns once" "1" "$(echo "$err" | grep -c "warning: $D/dev.json: .* are Chinese")"
err=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$tmp/dec2/predictions.json" --cmrc 2>&1 >/dev/null)
check_eq "evaluate --cmrc no warning" "" "$(echo "$err" | grep 'are Chinese')"
err=$("$ZL" recipes/aggregate.lua "$O/seed1/sweep" "$tmp/agg.csv" --dataset "$D/dev.json" 2>&1 >/dev/null)
check_eq "aggregate warns once" "1" "$(echo "$err" | grep -c "warning: $D/dev.json: .* are Chinese")"
# English data: no warning
"$ZL" -e "
local synth = require 'zonelab.synth'
require('zonelab.cli').ensure_dir('$tmp/en')
synth.write('$tmp/en', synth.generate { style = 'facts', train_paragraphs = 1, dev_paragraphs = 1 })"
err=$("$ZL" recipes/train.lua --model "$tmp/en" --init random --train "$tmp/en/train.json" \
  --out "$tmp/en/run" --epochs 1 --batch 4 --max-seq-length 96 --threads 1 2>&1)
check_eq "English data: no warning" "" "$(echo "$err" | grep 'are Chinese')"

# sweep --cmrc: results and baseline with the CMRC metric
"$ZL" recipes/sweep.lua --model "$T/model" --predict "$D/dev.json" --out "$tmp/sw" --zones q2 \
  --layers 1 --max-seq-length 96 --threads 1 --cmrc >/dev/null 2>&1
check_eq "sweep baseline cmrc" "cmrc" "$(json "$tmp/sw/baseline.json" .scoring)"
ev=$("$ZL" recipes/evaluate.lua "$D/dev.json" "$tmp/sw/predictions_layer0_q2.json" --cmrc)
em=$("$ZL" -e "local zl = require 'zonelab'; io.write(zl.json.float(zl.json.read('$tmp/sw/metrics_layer0_q2.json').exact_match))")
check "sweep q2@1 EM = evaluate --cmrc" "\"exact_match\": $em," "$ev"

# protocol on Chinese data given as files, without --cmrc: one warning before the steps
err=$("$ZL" recipes/protocol.lua --model "$T/model" --train "$D/train.json" --dev "$D/dev.json" \
  --out "$tmp/p" --seeds 1 --flows 0 --max-seq-length 8 --threads 1 2>&1)
check "protocol warns" "warning: $D/dev.json: " "$(echo "$err" | head -3)"
# real data (../shared/data/real): CMRC 2018 dev is told apart from SQuAD, and Google's Chinese
# BERT (the TF checkpoint's index) is read natively, its vocabulary matching the embeddings
R="${ZONELAB_SHARED:-../shared}/data/real"
if [ -f "$R/cmrc2018/cmrc2018_dev.squad-style.json" ] && [ -f "$R/squad_v1.1/dev-v1.1.json" ]; then
  share=$("$ZL" -e "local qa, zl = require 'zonelab.qa', require 'zonelab'
    io.write(string.format('%.2f %.2f', qa.cjk_share(zl.squad.load('$R/cmrc2018/cmrc2018_dev.squad-style.json')),
      qa.cjk_share(zl.squad.load('$R/squad_v1.1/dev-v1.1.json'))))")
  check_eq "CJK share of CMRC dev and SQuAD dev" "0.79 0.00" "$share"
else
  skip_part "../shared/data/real: CMRC 2018 or SQuAD dev absent"
fi
if [ -f "$R/tf_chinese_bert/bert_model.ckpt.index" ]; then
  ins=$("$ZL" recipes/inspect.lua "$R/tf_chinese_bert" 2>&1)
  check "Chinese BERT index read" "bert/embeddings/word_embeddings	F32	[$(wc -l < "$R/tf_chinese_bert/vocab.txt" | tr -d ' '),768]" "$ins"
else
  skip_part "../shared/data/real/tf_chinese_bert absent"
fi
finish
