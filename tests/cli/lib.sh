# lib.sh — what every tests/cli script shares. Source it first:
#
#   source "$(dirname "$0")/lib.sh" "$@"    # ZL = the zonelab host ($1), $tmp (removed at exit)
#   check NAME EXPECTED-PART ACTUAL          # ACTUAL contains EXPECTED-PART (not empty)
#   check_eq NAME EXPECTED ACTUAL            # equal strings
#   check_status NAME STATUS DETAIL          # STATUS is 0
#   check_file PATH                          # exists and is not empty
#   same NAME FILE-A FILE-B                  # byte-identical files
#   ok / bad MESSAGE                         # count a pass / a failure (printed)
#   skip_part MESSAGE                        # a part needs data that is absent (../shared/data/real)
#   skip_all MESSAGE                         # the whole script cannot run here: exit 77
#   finish                                   # "NAME: N passed, M failed", exit status
#   synth_model DIR CSEED DEV MSEED [RANGE]  # synthetic corpus in DIR, random model in DIR/model
#   synth_data DIR                           # the synthetic training corpus (20 questions)
#   flows_models DIR [RANGE]                 # the flows tests' corpus in DIR/data, two random
#                                            # models DIR/m1, DIR/m2; DIR/qid: a dev question
#
# Exit status: 1 when a check failed, else 77 when a part was skipped (ctest's
# SKIP_RETURN_CODE: reported as skipped, not passed), else 0. A background job whose pid
# is in $bg is killed at exit; KEEP=1 keeps $tmp.
set -u
ZL="${1:?usage: $(basename "$0") path/to/zonelab}"
ZL_TEST_NAME=$(basename "$0")
pass=0; fail=0; skipped=0; bg=""
tmp=$(mktemp -d)
trap '[ -n "$bg" ] && kill -9 "$bg" 2>/dev/null; [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT

ok() { pass=$((pass+1)); }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
check() {
  if [[ -n "$2" && "$3" == *"$2"* ]]; then ok; else bad "$1: expected '$2' in: $3"; fi
}
check_eq() {
  if [[ "$3" == "$2" ]]; then ok; else bad "$1: expected '$2', got '$3'"; fi
}
check_status() {
  if [[ "$2" == 0 ]]; then ok; else bad "$1: $3"; fi
}
check_file() {
  if [[ -s "$1" ]]; then ok; else bad "missing or empty: $1"; fi
}
same() {
  if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi
}
skip_part() { skipped=$((skipped+1)); echo "SKIP $*"; }
skip_all() { echo "SKIP $ZL_TEST_NAME: $*"; exit 77; }
finish() {
  echo "$ZL_TEST_NAME: $pass passed, $fail failed$([ "$skipped" -gt 0 ] && echo ", $skipped parts skipped")"
  [ "$fail" -eq 0 ] || exit 1
  [ "$skipped" -eq 0 ] || exit 77
  exit 0
}

# The synthetic corpus (seed CSEED, 1 train and DEV dev paragraphs) in DIR and a random
# 2-layer, 32-wide model (seed MSEED, initializer_range RANGE when given) with its
# vocabulary in DIR/model.
synth_model() {
  "$ZL" -e "
local zl = require 'zonelab'
local synth = require 'zonelab.synth'
synth.write('$1', synth.generate { seed = $2, train_paragraphs = 1, dev_paragraphs = $3 })
local cfg = zl.json.read('$1/bert_config.json')
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 2, 2, 64
cfg.initializer_range = ${5:-cfg.initializer_range}
require('lfs').mkdir('$1/model')
zl.bert.new(cfg, { seed = $4 }):save('$1/model')
zl.io.write_atomic('$1/model/vocab.txt', zl.io.read('$1/vocab.txt'))"
}

# The flows tests' inputs: a 3-layer, 4-head synthetic corpus (one train and one dev
# paragraph) in DIR/data, two random models of it (seeds 11, 12; initializer_range RANGE
# when given) in DIR/m1 and DIR/m2, and the first dev question's id in DIR/qid.
flows_models() {
  mkdir -p "$1/data"
  "$ZL" -e "
local zl = require 'zonelab'
local synth = require 'zonelab.synth'
local c = synth.generate{seed = 2, train_paragraphs = 1, dev_paragraphs = 1, hidden = 32, layers = 3, heads = 4}
synth.write('$1/data', c)
c.config.initializer_range = ${2:-c.config.initializer_range}
for i, seed in ipairs({11, 12}) do
  local dir = '$1/m' .. i
  require('lfs').mkdir(dir)
  zl.bert.new(c.config, {seed = seed}):save(dir)
  zl.io.write_atomic(dir .. '/vocab.txt', zl.io.read('$1/data/vocab.txt'))
end
zl.io.write_atomic('$1/qid', c.dev.data[1].paragraphs[1].qas[1].id)"
}

# The synthetic corpus the training tests use (seed 5: 4 train paragraphs, 20 questions;
# 2 dev paragraphs; a 2-layer, 32-wide config) in DIR.
synth_data() {
  mkdir -p "$1"
  "$ZL" -e "
local synth = require 'zonelab.synth'
synth.write('$1', synth.generate{seed = 5, train_paragraphs = 4, dev_paragraphs = 2,
  hidden = 32, layers = 2, heads = 2})"
}
