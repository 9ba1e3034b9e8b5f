/* fuzz_vocab.h — the small WordPiece vocabulary the tokenizer and SQuAD fuzz targets
 * share: the specials, single letters and digits, their "##" continuations, a few
 * words and punctuation, and two CJK characters, so that inputs exercise the longest
 * match, continuation pieces and [UNK] alike. */
#ifndef FUZZ_VOCAB_H
#define FUZZ_VOCAB_H

#include <stdio.h>
#include <string.h>

#include "tokenizer.h"

static zl_tokenizer *fuzz_vocab_tokenizer(int lower, int cmrc)
{
    static char buf[4096];
    size_t n = 0;
    static const char *words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "what",
                                  "who", "is", "in", "of", "##s", "##ing", "##ed", "un", "##able",
                                  ".", ",", "?", "!", "'", "\"", "(", ")", "-", "\xe4\xb8\xad",
                                  "\xe6\x96\x87", "\xc3\xa9", "caf\xc3\xa9", NULL};
    for (int i = 0; words[i]; i++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%s\n", words[i]);
    for (char ch = 'a'; ch <= 'z'; ch++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%c\n##%c\n", ch, ch);
    for (char ch = '0'; ch <= '9'; ch++) n += (size_t)snprintf(buf + n, sizeof buf - n, "%c\n##%c\n", ch, ch);
    zl_tokenizer_opts o = {.lower = lower, .cmrc = cmrc};
    return zl_tokenizer_from_buffer("fuzz-vocab", buf, n, &o);
}

#endif
