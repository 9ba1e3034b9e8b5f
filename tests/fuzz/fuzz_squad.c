/* fuzz_squad.c — libFuzzer target: any bytes as a SQuAD / CMRC 2018 JSON file, loaded
 * for evaluation and for training, then (when accepted) turned into run_squad.py
 * features with short windows, given deterministic logits and decoded into
 * predictions: the whole pipeline a dataset goes through must never crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_vocab.h"
#include "squad.h"

static void pipeline(const zl_squad *ds, const zl_tokenizer *tok)
{
    zl_squad_feature_opts fo = zl_squad_feature_defaults();
    fo.max_seq_length = 24; /* small windows: many doc spans from small inputs */
    fo.doc_stride = 5;
    fo.max_query_length = 8;
    fo.training = ds->training;
    zl_squad_features *f = zl_squad_features_new(ds, tok, &fo);
    if (!f) return;
    if (f->count > 20000) { zl_squad_features_free(f); return; } /* keep each run short */
    zl_squad_collector *c = zl_squad_collector_new(f);
    if (c) {
        int W = fo.max_seq_length;
        float *s = malloc(sizeof(float) * (size_t)W), *e = malloc(sizeof(float) * (size_t)W);
        int ok = s && e;
        for (int i = 0; ok && i < f->count; i++) {
            for (int j = 0; j < W; j++) {
                s[j] = (float)((i * 7 + j * 13) % 11) - 5.0f;
                e[j] = (float)((i * 5 + j * 3) % 9) - 4.0f;
            }
            ok = zl_squad_collector_add(c, i, 1, W, s, e) == 0;
        }
        if (ok) {
            zl_squad_decode_opts dopt = zl_squad_decode_defaults();
            dopt.n_best_size = 5;
            zl_squad_predictions *p = zl_squad_decode(ds, f, c, &dopt);
            zl_squad_predictions_free(p);
        }
        free(s);
        free(e);
        zl_squad_collector_free(c);
    }
    zl_squad_features_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static zl_tokenizer *tok;
    if (!tok && !(tok = fuzz_vocab_tokenizer(1, 0))) abort();
    for (int training = 0; training <= 1; training++) {
        zl_squad *ds = zl_squad_parse("fuzz.json", (const char *)data, size, training);
        if (!ds) continue;
        pipeline(ds, tok);
        zl_squad_free(ds);
    }
    return 0;
}
