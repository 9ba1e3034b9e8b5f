#!/bin/bash
# examples.sh ZONELAB — runs every example in examples/ on a small random model (and
# once with --model) and replays examples/repl.md through the REPL, comparing what it
# prints with the page, so the examples cannot rot.
source "$(dirname "$0")/lib.sh" "$@"
ZL=$(realpath "$ZL")
SRC=$(pwd)
T="$tmp"
# one thread: the machine is shared, and the page's numbers must not depend on it
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# run NAME ARGS...: runs examples/NAME with ARGS in $T, output in $T/NAME.out; exit 0 wanted
run() {
    local name=$1; shift
    if (cd "$T" && "$ZL" "$SRC/examples/$name" "$@") >"$T/$name.out" 2>"$T/$name.err"; then
        ok "$name $*"
    else
        bad "$name $* exited non-zero"; cat "$T/$name.out" "$T/$name.err"
    fi
}
# want NAME REGEX: the output of the last run of NAME has a line matching REGEX
want() {
    if grep -Eq -- "$2" "$T/$1.out"; then ok "$1 prints /$2/"
    else bad "$1 does not print /$2/"; cat "$T/$1.out"; fi
}

# ---- repl.md: the > and >> lines of its lua blocks are the input, the other lines the output
(cd "$T" && "$ZL" "$SRC/examples/small_model.lua" small >/dev/null) || bad "small_model.lua"
awk '/^```lua/{b=1; next} /^```/{b=0; next} b && /^>> /{print substr($0, 4); next}
     b && /^> /{print substr($0, 3)}' "$SRC/examples/repl.md" >"$T/repl.in"
awk '/^```lua/{b=1; next} /^```/{b=0; next} b && !/^>>? /{print}' "$SRC/examples/repl.md" >"$T/repl.want"
[ "$(wc -l <"$T/repl.in")" -gt 30 ] || bad "repl.md: too few input lines extracted"
(cd "$T" && "$ZL" <"$T/repl.in") >"$T/repl.got" 2>"$T/repl.err"
if [ -s "$T/repl.err" ]; then bad "repl.md: errors"; cat "$T/repl.err"; fi
if diff -u "$T/repl.want" "$T/repl.got"; then ok "repl.md output matches the page"
else bad "repl.md output differs from the page (diff above: - page, + REPL)"; fi

# ---- the example scripts, each on its own small random model (temporary folders in $T/tmp)
mkdir -p "$T/tmp"
export TMPDIR="$T/tmp"

run custom_zone.lua
want custom_zone.lua '^no --model: a small random model \(bert: 2 layers, 32 hidden, 4 heads\)'
want custom_zone.lua '^attention to \[SEP\] by layer without the zone: 0\.0[0-9]*[1-9][0-9]* '
want custom_zone.lua '^attention to \[SEP\] by layer with the zone: +0\.0000 0\.0000$'
want custom_zone.lua '^function and tensor zones agree: max \|difference\| of start logits = 0$'
want custom_zone.lua '^baseline +EM +[0-9.]+ +F1 +[0-9.]+ +\(10 questions\)$'
want custom_zone.lua '^no \[SEP\] +EM +[0-9.]+ +F1 +[0-9.]+ +\(10 questions\)$'
run custom_zone.lua --model small --data small/dev.json --layer 2
want custom_zone.lua '^attention to \[SEP\] by layer with the zone: +0\.0[0-9]*[1-9][0-9]* 0\.0000$'

run single_head.lua
want single_head.lua '^  no mask: +(0\.[0-9]{3} ){3}0\.[0-9]{3}$'
want single_head.lua '^  head_mask, head 2 = 0: +0\.[0-9]{3} 0\.000 0\.[0-9]{3} 0\.[0-9]{3}$'
want single_head.lua '^  p2q on head 2 only: +0\.[0-9]{3} 0\.000 0\.[0-9]{3} 0\.[0-9]{3}$'
want single_head.lua '^p2q on all heads vs zone = "p2q": max \|difference\| of start logits = 0$'
want single_head.lua '^  layer 1: ( *[0-9.]+/ *[0-9.]+ *){4}$'
run single_head.lua --model small --data small/dev.json --layer 2 --head 4
want single_head.lua '^  head_mask, head 4 = 0: +(0\.[0-9]{3} ){3}0\.000$'

run electra.lua
want electra.lua '^  electra\.embeddings_project\.weight \[32,16\]$'
want electra.lua '^loaded electra: 2 layers, 32 hidden, 4 heads: model_type electra, embedding_size 16, hidden_size 32'
want electra.lua '^zone p2q at layer 1: start logits of feature 1 moved by up to [0-9.]*[1-9]'
want electra.lua '^saved-and-loaded vs in-memory model: max \|difference\| = 0$'
want electra.lua '^p2q@1 +EM +[0-9.]+ +F1 +[0-9.]+ +\(10 questions\)$'
run electra.lua --model small --data small/dev.json --zone q2 --layer all
want electra.lua 'model_type bert, embedding_size 32, hidden_size 32'
want electra.lua '^q2@all +EM'
if (cd "$T" && "$ZL" "$SRC/examples/electra.lua" --zone nonsense) >/dev/null 2>"$T/bad.err"; then
    bad "electra.lua --zone nonsense exited 0"
elif grep -q '^zonelab: error: --zone must be one of' "$T/bad.err"; then ok "electra.lua rejects a bad zone"
else bad "electra.lua --zone nonsense: wrong message"; cat "$T/bad.err"; fi

if (cd "$T" && "$ZL" "$SRC/examples/custom_zone.lua" --model "$T/no/such/model") >/dev/null 2>"$T/bad.err"; then
    bad "custom_zone.lua --model (missing) exited 0"
elif grep -q "^zonelab: error: .*no/such/model: not a model folder" "$T/bad.err"; then ok "custom_zone.lua names a missing model folder"
else bad "custom_zone.lua --model (missing): wrong message"; cat "$T/bad.err"; fi

run attention_mass.lua
want attention_mass.lua '^10 questions, 10 features, 2 layers'
want attention_mass.lua '^layer +p2q +q2p +q2q +p2p$'
want attention_mass.lua '^ +2  0\.[0-9]{4}  0\.[0-9]{4}  0\.[0-9]{4}  0\.[0-9]{4}$'
# its tensor arithmetic against a loop over every element, on the first 3 questions
(cd "$T" && "$ZL" "$SRC/examples/small_model.lua" mass >/dev/null) || bad "small_model.lua mass"
run attention_mass.lua --model mass --data mass/dev.json --questions 3 --max-seq-length 128
cat >"$T/mass_check.lua" <<'LUA'
local zl = require "zonelab"
local qa = require "zonelab.qa"
local model = qa.load_model("mass")
local ds = zl.squad.load("mass/dev.json")
local feats = zl.squad.features(ds, model.tok, { max_seq_length = 128 })
local n = 0
while n < #feats and feats:get(n + 1).example_index < 3 do n = n + 1 end
local b = feats:batch(1, n)
local a = model.bert:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
  input_mask = b.input_mask, attentions = true }.attentions
local L, B, NH, S = table.unpack(a:shape())
local s, rows = 0, 0
for i = 1, B do for h = 1, NH do for f = 1, S do
  if b.pmask:get(i, f) == 1 then
    rows = rows + 1
    for t = 1, S do if b.qmask:get(i, t) == 1 then s = s + a:get(2, i, h, f, t) end end
  end
end end end
print(string.format("%.4f", s / rows))
LUA
want_p2q=$(cd "$T" && "$ZL" mass_check.lua)
got_p2q=$(awk '$1 == 2 {print $2}' "$T/attention_mass.lua.out")
if [ -n "$want_p2q" ] && [ "$want_p2q" = "$got_p2q" ]; then ok "attention_mass.lua p2q of layer 2 = $got_p2q, as an element loop"
else bad "attention_mass.lua p2q of layer 2: '$got_p2q', an element loop gives '$want_p2q'"; cat "$T/attention_mass.lua.out"; fi

# cmrc2018: on the real Chinese vocabulary and CMRC dev when present, and on the inline example
shared=${ZONELAB_SHARED:-}
unset ZONELAB_SHARED
run cmrc2018.lua
[ -n "$shared" ] && export ZONELAB_SHARED=$shared
want cmrc2018.lua '^data: no CMRC 2018 file'
want cmrc2018.lua '^tokenizer: [0-9]+ pieces, lower-cased, CMRC variant$'
want cmrc2018.lua '^BERT tokenizer: cafe 李 白 iphone$'
want cmrc2018.lua '^CMRC tokenizer: \[UNK\] \[UNK\] 李 白 iphone$'
want cmrc2018.lua '^baseline +CMRC EM +[0-9.]+ F1 +[0-9.]+ +\(SQuAD metric'
want cmrc2018.lua '^p2 all layers +CMRC EM'
want cmrc2018.lua 'CMRC 66\.7, SQuAD 0\.0; segmentation: 公\|元\|701\|年$'
if [ -n "${ZONELAB_SHARED:-}" ] && [ -f "$ZONELAB_SHARED/data/real/cmrc2018/cmrc2018_dev.squad-style.json" ] \
   && [ -f "$ZONELAB_SHARED/data/real/vocab/bert-base-chinese/vocab.txt" ]; then
    ZONELAB_SHARED=$(realpath "$ZONELAB_SHARED") run cmrc2018.lua --questions 3
    want cmrc2018.lua '^data: the first 3 questions of .*cmrc2018_dev\.squad-style\.json$'
    want cmrc2018.lua '^tokenizer: 21128 pieces, lower-cased, CMRC variant$'
    want cmrc2018.lua '^3 questions -> [0-9]+ features$'
    want cmrc2018.lua '^  DEV_0_QUERY_0 '
else
    skip_part "cmrc2018.lua on real data: \$ZONELAB_SHARED/data/real (CMRC dev, Chinese vocab) not found"
fi

if [ -n "$(ls -A "$T/tmp")" ]; then bad "examples left temporary files: $(ls "$T/tmp")"; else ok "no temporary files left"; fi

finish
