/* fuzz_bert_config.c — libFuzzer target: any bytes as bert_config.json / config.json.
 * Parsing, validation, serialisation and the parameter enumeration of an accepted
 * config must never crash (validation refuses sizes that would overflow before
 * anything is allocated, so nothing here allocates parameters). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1); /* the parser takes a NUL-terminated string */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    zl_bert_config c;
    if (zl_bert_config_parse(&c, "fuzz.json", text) == 0 &&
        zl_bert_config_validate(&c, "fuzz.json") == 0) {
        char *json = zl_bert_config_to_json(&c);
        zl_bert_config back;
        /* what we write must read back as the same sizes */
        if (json && zl_bert_config_parse(&back, "roundtrip", json) == 0 &&
            (back.hidden_size != c.hidden_size || back.vocab_size != c.vocab_size ||
             back.num_hidden_layers != c.num_hidden_layers ||
             back.embedding_size != c.embedding_size))
            abort();
        free(json);
        (void)zl_bert_params_numel(&c);
        int n = zl_bert_param_count(&c);
        zl_bert_params none;
        memset(&none, 0, sizeof none); /* names and shapes only: no parameter memory */
        zl_bert_param_info info;
        for (int i = 0; i < n; i += (n > 64 ? n / 32 : 1))
            (void)zl_bert_param_info_at(&c, &none, i, &info);
        if (n > 0) (void)zl_bert_param_info_at(&c, &none, n - 1, &info);
    }
    free(text);
    return 0;
}
