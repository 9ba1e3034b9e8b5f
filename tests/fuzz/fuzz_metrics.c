/* fuzz_metrics.c — libFuzzer target: any bytes as a SQuAD-style dataset, as answer text
 * and as predictions. Parsing, normalisation, CMRC segmentation and both metrics must
 * never crash, and scores stay within [0, 100]. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* the bytes as answer text (up to the first NUL, as a C string) */
    const char *golds[2] = {text, "the answer"};
    for (int kind = 0; kind < 2; kind++) {
        double em = zl_metrics_em((zl_metrics_kind)kind, text, golds, 2);
        double f1 = zl_metrics_f1((zl_metrics_kind)kind, "an answer", golds, 2);
        if (em != 1.0 || f1 < 0.0 || f1 > 1.0) abort(); /* the text is its own gold */
    }
    free(zl_metrics_normalize(text));
    free(zl_metrics_cmrc_remove_punctuation(text));
    char *tokens;
    if (zl_metrics_cmrc_segment(text, 1, &tokens) >= 0) free(tokens);
    /* the bytes as a dataset, scored with its own first answers */
    zl_metrics_dataset *ds = zl_metrics_dataset_parse("fuzz.json", text, size);
    if (ds) {
        int n = zl_metrics_dataset_count(ds);
        const char **preds = calloc((size_t)n + 1, sizeof *preds);
        for (int i = 0; i < n && preds; i++) preds[i] = zl_metrics_dataset_gold(ds, i, 0);
        for (int kind = 0; kind < 2 && preds; kind++) {
            zl_metrics_result *r = zl_metrics_score(ds, (zl_metrics_kind)kind, preds);
            if (r && (r->exact_match < 0 || r->exact_match > 100 || r->f1 < 0 || r->f1 > 100))
                abort();
            zl_metrics_result_free(r);
        }
        free(preds);
        zl_metrics_dataset_free(ds);
    }
    free(text);
    return 0;
}
