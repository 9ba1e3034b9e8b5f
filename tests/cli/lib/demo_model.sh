# Sourced by tests/cli/shard.sh and tests/cli/slurm.sh (not a test itself: the ctest glob
# takes tests/cli/*.sh only). demo_model ZL DIR writes into DIR a synthetic SQuAD set
# (dev.json: 2 paragraphs, 10 questions; train.json; vocab.txt) and DIR/model, a seeded
# 2-layer, 32-wide BERT with that vocabulary: small enough for a full sweep in seconds.
demo_model() {
  "$1" -e "
local zl = require 'zonelab'
local synth = require 'zonelab.synth'
synth.write('$2', synth.generate { seed = 4, train_paragraphs = 1, dev_paragraphs = 2 })
local cfg = zl.json.read('$2/bert_config.json')
cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size = 32, 2, 2, 64
cfg.initializer_range = 0.3
require('lfs').mkdir('$2/model')
zl.bert.new(cfg, { seed = 2 }):save('$2/model')
zl.io.write_atomic('$2/model/vocab.txt', zl.io.read('$2/vocab.txt'))"
}
