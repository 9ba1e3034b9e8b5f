/* fuzz_tokenizer.c — libFuzzer target: the WordPiece tokenizer on arbitrary bytes.
 * The first byte picks the variant (lower-casing, CMRC) and the mode; the rest is text
 * for the built-in vocabulary (fuzz_vocab.h), or (mode bit 2) itself a vocabulary that
 * then tokenizes a fixed text. Every id must be a valid piece; nothing may crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_vocab.h"

static void check_ids(const zl_tokenizer *t, const zl_ids *ids)
{
    for (int i = 0; i < ids->n; i++)
        if (!zl_tokenizer_piece(t, ids->v[i])) abort(); /* an id outside the vocabulary */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int lower = data[0] & 1, cmrc = (data[0] >> 1) & 1, as_vocab = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    zl_ids ids = {0};
    if (as_vocab) {
        zl_tokenizer_opts o = {.lower = lower, .cmrc = cmrc};
        zl_tokenizer *t = zl_tokenizer_from_buffer("fuzz-vocab", text, len, &o);
        if (t) {
            static const char sample[] = "Caf\xc3\xa9 [CLS] unable, the \xe4\xb8\xad\xe6\x96\x87 "
                                         "what's 42?\t\xff\xfe end";
            if (zl_tokenizer_encode(t, sample, sizeof sample - 1, &ids) == 0) check_ids(t, &ids);
            (void)zl_tokenizer_id(t, "[UNK]", 5);
            (void)zl_tokenizer_piece(t, zl_tokenizer_size(t) - 1);
            zl_tokenizer_free(t);
        }
    } else {
        static zl_tokenizer *toks[4]; /* built once per variant, kept for the process */
        int k = lower | cmrc << 1;
        if (!toks[k] && !(toks[k] = fuzz_vocab_tokenizer(lower, cmrc))) abort();
        if (zl_tokenizer_encode(toks[k], text, len, &ids) == 0) check_ids(toks[k], &ids);
        zl_words w = {0};
        (void)zl_tokenizer_basic(text, len, lower, &w);
        zl_words_free(&w);
    }
    zl_ids_free(&ids);
    return 0;
}
