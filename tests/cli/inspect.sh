#!/usr/bin/env bash
# recipes/inspect.lua: the real Chinese BERT index, TF checkpoints and safetensors written
# by zonelab (file, prefix, .index, folder), --help, and one-line errors with exit 1.
source "$(dirname "$0")/lib.sh" "$@"
TAB=$'\t'

real="${ZONELAB_SHARED:-../shared}/data/real/tf_chinese_bert"
if [ -f "$real/bert_model.ckpt.index" ]; then
  out=$("$ZL" recipes/inspect.lua "$real/bert_model.ckpt" 2>&1); rc=$?
  check_eq "real exit" 0 "$rc"
  check_eq "real count" 206 "$(printf '%s\n' "$out" | wc -l)"
  check_eq "real first" "bert/embeddings/LayerNorm/beta${TAB}F32${TAB}[768]" "$(printf '%s\n' "$out" | head -1)"
  check_eq "real last" "cls/seq_relationship/output_weights${TAB}F32${TAB}[2,768]" "$(printf '%s\n' "$out" | tail -1)"
  check "real word emb" "bert/embeddings/word_embeddings${TAB}F32${TAB}[21128,768]" "$out"
  check "real intermediate" "bert/encoder/layer_11/intermediate/dense/kernel${TAB}F32${TAB}[768,3072]" "$out"
  check "real output bias" "cls/predictions/output_bias${TAB}F32${TAB}[21128]" "$out"
  check_eq "real sorted" "$(printf '%s\n' "$out" | LC_ALL=C sort)" "$out"
  check_eq "real .index same" "$out" "$("$ZL" recipes/inspect.lua "$real/bert_model.ckpt.index" 2>&1)"
  check_eq "real folder same" "$out" "$("$ZL" recipes/inspect.lua "$real" 2>&1)"
else
  skip_part "real index: $real/bert_model.ckpt.index absent"
fi

# a TF checkpoint and a safetensors file made by zonelab
mkdir -p "$tmp/tf" "$tmp/st"
"$ZL" -e "
local zl = require 'zonelab'
local t = {['b/kernel'] = zl.tensor.randn({3, 2}, 1), ['a'] = zl.tensor.new({4}, 'i32'),
           ['step'] = zl.tensor.from({7}, {})}
zl.tfckpt.save('$tmp/tf/model.ckpt', t)
zl.tensor.save('$tmp/st/model.safetensors', t)"
want="a${TAB}I32${TAB}[4]
b/kernel${TAB}F32${TAB}[3,2]
step${TAB}F32${TAB}[]"
for p in "$tmp/tf/model.ckpt" "$tmp/tf/model.ckpt.index" "$tmp/tf" "$tmp/st/model.safetensors" "$tmp/st"; do
  check_eq "inspect $p" "$want" "$("$ZL" recipes/inspect.lua "$p" 2>&1)"
done
# the index alone is enough
rm "$tmp/tf/model.ckpt.data-00000-of-00001"
check_eq "index alone" "$want" "$("$ZL" recipes/inspect.lua "$tmp/tf/model.ckpt" 2>&1)"
# a safetensors file under another name is recognised by its content
cp "$tmp/st/model.safetensors" "$tmp/weights.bin"
check_eq "safetensors by content" "$want" "$("$ZL" recipes/inspect.lua "$tmp/weights.bin" 2>&1)"

out=$("$ZL" recipes/inspect.lua --help 2>&1); rc=$?
check_eq "help exit" 0 "$rc"
check "help text" "name<TAB>dtype<TAB>[d0,d1,...]" "$out"

mkdir "$tmp/empty"
for bad in "$tmp/nothing" "$tmp/empty" "$real/vocab.txt"; do
  out=$("$ZL" recipes/inspect.lua "$bad" 2>&1); rc=$?
  check_eq "exit 1 for $bad" 1 "$rc"
  check "error line for $bad" "zonelab: error: $bad" "$out"
  check_eq "one line for $bad" 1 "$(printf '%s\n' "$out" | wc -l)"
done
printf 'garbage that is not a checkpoint at all, not even close to one: %s' "$(seq 1 20)" > "$tmp/g.ckpt.index"
out=$("$ZL" recipes/inspect.lua "$tmp/g.ckpt" 2>&1); rc=$?
check_eq "garbage exit" 1 "$rc"
check "garbage message" "zonelab: error: $tmp/g.ckpt.index: bad magic number" "$out"
out=$("$ZL" recipes/inspect.lua 2>&1); rc=$?
check_eq "no argument exit" 1 "$rc"
check "no argument" "zonelab: error: missing argument 'checkpoint'" "$out"

finish
