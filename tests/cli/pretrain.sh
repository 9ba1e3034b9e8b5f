#!/usr/bin/env bash
# recipes/pretrain.lua on the synthetic corpus (a 2-layer, 32-wide model): --help names every
# option; the first loss of a random model is close to ln(vocab size) and the loss falls;
# the model folder holds the masked-LM head (cls.predictions.*, no QA head) and reloads with
# it; the same seed gives a byte-identical model, --whole-word another; a run resumed from
# its checkpoint ends byte-identical to an uninterrupted one; continuing from a checkpoint
# (--init checkpoint) keeps its head; a plain-text corpus (blank-line documents); train.lua
# fine-tunes from the pretrained model (--init PATH and --model) with a fresh QA head;
# one-line errors (no [MASK], bad option values, unknown options).
source "$(dirname "$0")/lib.sh" "$@"
export ZONELAB_PROGRESS=0

help=$("$ZL" recipes/pretrain.lua --help 2>&1)
for o in --model --train --format --out --init --epochs --steps --lr --batch --micro-batch \
         --max-seq-length --max-predictions --masked-lm-prob --whole-word --warmup-proportion \
         --seed --gelu --threads --lower --cased --save-every --resume --pad-per-batch; do
  check "help $o" "$o" "$help"
done

synth_data "$tmp/data"
D="$tmp/data"
COMMON=(--model "$D" --init random --train "$D/train.json" --max-seq-length 48 --batch 4
        --lr 2e-3 --threads 1 --max-predictions 8)
pre() { # out, extra options...
  local out="$1"; shift
  "$ZL" recipes/pretrain.lua "${COMMON[@]}" --out "$out" "$@"
}

out=$(pre "$tmp/a" --steps 12 2>&1); rc=$?
check_eq "run a exit" 0 "$rc"
check "run a wrote" "wrote $tmp/a/model" "$out"
check "run a says what it trains on" "pretraining: 4 documents" "$out"
for f in model/model.safetensors model/bert_config.json model/vocab.txt train_log.csv; do
  [ -s "$tmp/a/$f" ] && pass=$((pass+1)) || { fail=$((fail+1)); echo "FAIL missing $f"; }
done
check_eq "log rows" 13 "$(wc -l < "$tmp/a/train_log.csv")"
facts=$("$ZL" -e "
local zl = require 'zonelab'
local V = zl.json.read('$D/bert_config.json').vocab_size
local rows = {}
for line in io.lines('$tmp/a/train_log.csv') do rows[#rows + 1] = line end
local first = tonumber(rows[2]:match('^%d+,%d+,([^,]+)'))
local last = tonumber(rows[#rows]:match('^%d+,%d+,([^,]+)'))
print(string.format('init %s', math.abs(first - math.log(V)) < 0.15 and 'near ln V' or first .. ' vs ' .. math.log(V)))
print(string.format('falls %s', last < first - 0.3 and 'yes' or first .. ' -> ' .. last))
local names = {}
for _, n in ipairs(zl.bert.load('$tmp/a/model', { mlm = true }):param_names()) do names[n] = true end
print('head ' .. tostring(names['cls.predictions.transform.dense.weight'] and names['cls.predictions.bias']
  and names['cls.predictions.transform.LayerNorm.weight'] and not names['qa_outputs.weight']))
print('reloaded fresh ' .. tostring(zl.bert.load('$tmp/a/model', { mlm = true }):fresh_mlm_head()))
print('qa load fresh qa ' .. tostring(zl.bert.load('$tmp/a/model'):fresh_qa_head()))" 2>&1)
check "loss at init" "init near ln V" "$facts"
check "loss falls" "falls yes" "$facts"
check "head saved, no QA head" "head true" "$facts"
check "head reloaded" "reloaded fresh false" "$facts"
check "a QA load gets a fresh QA head" "qa load fresh qa true" "$facts"

# determinism; whole-word masking changes the run
pre "$tmp/b" --steps 12 >/dev/null 2>&1
cmp -s "$tmp/a/model/model.safetensors" "$tmp/b/model/model.safetensors" \
  && ok || bad "same seed gave different weights"
pre "$tmp/w" --steps 12 --whole-word >/dev/null 2>&1
[ -s "$tmp/w/model/model.safetensors" ] && ! cmp -s "$tmp/a/model/model.safetensors" \
  "$tmp/w/model/model.safetensors" && ok || bad "--whole-word ran the same as without"

# resume: the checkpoint of step 6 (the last one before 12) continued to step 12
pre "$tmp/r" --steps 12 --save-every 6 >/dev/null 2>&1
rm -rf "$tmp/r/model"
out=$(pre "$tmp/r" --steps 12 --save-every 6 --resume 2>&1)
check "resumed at step 6" "at step 6 of 12" "$out"
cmp -s "$tmp/a/model/model.safetensors" "$tmp/r/model/model.safetensors" \
  && ok || bad "resumed run differs from the uninterrupted one"
check_eq "resumed log rows" 13 "$(wc -l < "$tmp/r/train_log.csv")"
out=$(pre "$tmp/r" --steps 12 --save-every 6 --resume --seed 2 2>&1); rc=$?
check_eq "resume with another seed exit" 1 "$rc"
check "resume with another seed" "made with seed = 1, this run has 2" "$out"

# continuing a pretrained checkpoint keeps its head (no fresh-head note)
out=$("$ZL" recipes/pretrain.lua --model "$tmp/a/model" --train "$D/train.json" --out "$tmp/c" \
  --max-seq-length 48 --batch 4 --steps 2 --threads 1 2>&1); rc=$?
check_eq "continue exit" 0 "$rc"
[[ "$out" != *"fresh one"* ]] && ok || bad "continuing initialised a fresh head: $out"
out=$("$ZL" recipes/pretrain.lua --model "$D" --train "$D/train.json" --out "$tmp/q" \
  --max-seq-length 48 --batch 4 --steps 1 --threads 1 2>&1)
check "no weights: error" "zonelab: error:" "$out"

# a plain-text corpus: documents are blank-line separated blocks
printf 'the first document has words\nand a second line\n\n\n  \nthe second document\n\nthird\n' \
  > "$tmp/corpus.txt"
out=$(pre "$tmp/t" --train "$tmp/corpus.txt" --steps 2 2>&1); rc=$?
check_eq "text corpus exit" 0 "$rc"
check "text corpus documents" "pretraining: 3 documents" "$out"

# fine-tuning from the pretrained model: a fresh QA head, the encoder from it
out=$("$ZL" recipes/train.lua --model "$D" --init "$tmp/a/model" --train "$D/train.json" \
  --out "$tmp/f" --max-seq-length 64 --doc-stride 32 --max-query-length 24 --batch 4 \
  --epochs 1 --threads 1 2>&1); rc=$?
check_eq "fine-tune exit" 0 "$rc"
check "fine-tune fresh QA head" "has no QA head: a fresh one was initialised" "$out"
out=$("$ZL" recipes/train.lua --model "$tmp/a/model" --train "$D/train.json" --out "$tmp/g" \
  --max-seq-length 64 --doc-stride 32 --max-query-length 24 --batch 4 --epochs 1 --threads 1 2>&1)
check "fine-tune via --model" "wrote $tmp/g/model" "$out"
out=$("$ZL" -e "
local zl = require 'zonelab'
local names = {}
for _, n in ipairs(zl.bert.load('$tmp/f/model'):param_names()) do names[n] = true end
print('no head in fine-tuned ' .. tostring(not names['cls.predictions.bias']))
print('same fine-tuning both ways ' .. tostring(zl.io.read('$tmp/f/model/model.safetensors') ==
  zl.io.read('$tmp/g/model/model.safetensors')))" 2>&1)
check "fine-tuned model has no MLM head" "no head in fine-tuned true" "$out"
check "--init PATH == --model PATH" "same fine-tuning both ways true" "$out"

# errors: one line, exit 1
grep -v '^\[MASK\]$' "$D/vocab.txt" > "$tmp/nomask.txt"
mkdir -p "$tmp/nm" && cp "$D/bert_config.json" "$tmp/nm/" && cp "$tmp/nomask.txt" "$tmp/nm/vocab.txt"
out=$("$ZL" recipes/pretrain.lua --model "$tmp/nm" --init random --train "$D/train.json" \
  --out "$tmp/e1" --max-seq-length 48 2>&1); rc=$?
check_eq "no [MASK] exit" 1 "$rc"
check "no [MASK]" "no [MASK] piece" "$out"
out=$(pre "$tmp/e2" --masked-lm-prob 2 2>&1)
check "bad prob" "zonelab: error: --masked-lm-prob must be in (0, 1], got '2'" "$out"
out=$(pre "$tmp/e3" --max-predictions 47 2>&1)
check "too many predictions" "--max-predictions" "$out"
out=$(pre "$tmp/e4" --no-such-option 2>&1); rc=$?
check_eq "unknown option exit" 1 "$rc"
out=$(pre "$tmp/e5" --train "$tmp/none.txt" 2>&1)
check "missing corpus" "zonelab: error: $tmp/none.txt: no such file (--train)" "$out"
: > "$tmp/empty.txt"
out=$(pre "$tmp/e6" --train "$tmp/empty.txt" 2>&1)
check "empty corpus" "no text to pretrain on" "$out"
finish
