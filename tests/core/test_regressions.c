/* test_regressions.c — replays every input of tests/fuzz/corpus/<target>/ (the fuzzers'
 * seeds and every crash input found, which is added there) through the fuzz targets'
 * own entry points, in the ordinary build: so each regression input runs in `make test`
 * and under ASan/UBSan in `make test SANITIZE=1`, without clang or libFuzzer. A target
 * aborts on a broken invariant, so a regression fails this program. Also checks that the
 * valid seeds parse to what they hold (the targets would silently accept a parser that
 * rejects everything). fuzz_csv needs Lua: csv_spec covers the reader instead. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zl_test.h"

/* Each target under its own name (they all define LLVMFuzzerTestOneInput). */
#define LLVMFuzzerTestOneInput fuzz_one_safetensors
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_tfckpt
#include "../fuzz/fuzz_tfckpt.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_squad
#include "../fuzz/fuzz_squad.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_tokenizer
#include "../fuzz/fuzz_tokenizer.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_bert_config
#include "../fuzz/fuzz_bert_config.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_metrics
#include "../fuzz/fuzz_metrics.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_one_json
#include "../fuzz/fuzz_json.c"
#undef LLVMFuzzerTestOneInput

#include "bert.h"
#include "error.h"
#include "squad.h"

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            unsigned char *nb = realloc(buf, cap = cap ? cap * 2 : 4096);
            if (!nb) { free(buf); fclose(f); return NULL; }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* Runs every file of tests/fuzz/corpus/<name> through one; returns how many. */
static int replay(const char *name, int (*one)(const uint8_t *, size_t))
{
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", name);
    DIR *d = opendir(dir);
    CHECK(d != NULL);
    if (!d) { fprintf(stderr, "%s: cannot open (run from the source folder)\n", dir); return 0; }
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        unsigned char *buf = slurp(path, &len);
        CHECK(buf != NULL);
        if (!buf) continue;
        one(buf, len); /* aborts (failing the test) on a broken invariant */
        free(buf);
        count++;
    }
    closedir(d);
    printf("replayed %d %s inputs\n", count, name);
    return count;
}

int main(void)
{
    CHECK(replay("safetensors", fuzz_one_safetensors) >= 2);
    CHECK(replay("tfckpt", fuzz_one_tfckpt) >= 4);
    CHECK(replay("squad", fuzz_one_squad) >= 3);
    CHECK(replay("tokenizer", fuzz_one_tokenizer) >= 4);
    CHECK(replay("bert_config", fuzz_one_bert_config) >= 3);
    CHECK(replay("metrics", fuzz_one_metrics) >= 1);
    CHECK(replay("json", fuzz_one_json) >= 5);
    /* the strict reader refuses what Python's json.load refuses */
    static const char *refused[] = {"\xef\xbb\xbf{}", "{} x", "[\"a\x01\"]", "[\"\xc3\"]",
                                    "[\"\xed\xa0\x80\"]", "", "[1,"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        cJSON *j = zl_json_parse("r.json", refused[i], strlen(refused[i]));
        CHECK(j == NULL);
        cJSON_Delete(j);
    }
    static const char good[] = "{\"a\": [\"\xe4\xb8\xad\\n\"]}\n";
    cJSON *ok = zl_json_parse("ok.json", good, sizeof good - 1);
    CHECK(ok != NULL && cJSON_IsObject(ok));
    cJSON_Delete(ok);

    /* the valid seeds are read as what they hold */
    size_t len = 0;
    unsigned char *ix = slurp("tests/fuzz/corpus/tfckpt/three.index", &len);
    CHECK(ix != NULL);
    if (ix) {
        zl_tensor_map *m = zl_tfckpt_parse_index("three.index", ix, len);
        CHECK(m && m->count == 3);
        zl_tensor_map_free(m);
        free(ix);
    }
    /* the block-wrapping mode of fuzz_tfckpt builds a table the parser accepts */
    unsigned char *blk = slurp("tests/fuzz/corpus/tfckpt/three_block.bin", &len);
    CHECK(blk != NULL && len > 1 && (blk[0] & 1));
    if (blk) {
        zl_tensor_map *m = parse_wrapped(blk + 1, len - 1);
        if (!m) fprintf(stderr, "wrapped block: %s\n", zl_error_get());
        CHECK(m && m->count == 3);
        zl_tensor_map_free(m);
        free(blk);
    }
    unsigned char *js = slurp("tests/fuzz/corpus/squad/squad_v11.json", &len);
    CHECK(js != NULL);
    if (js) {
        zl_squad *ds = zl_squad_parse("squad_v11.json", (const char *)js, len, 1);
        CHECK(ds && ds->n_examples == 2 && ds->n_skipped == 0);
        zl_squad_free(ds);
        free(js);
    }
    unsigned char *cfg = slurp("tests/fuzz/corpus/bert_config/electra.json", &len);
    CHECK(cfg != NULL);
    if (cfg) {
        char *text = malloc(len + 1);
        CHECK(text != NULL);
        if (text) {
            memcpy(text, cfg, len);
            text[len] = '\0';
            zl_bert_config c;
            CHECK(zl_bert_config_parse(&c, "electra.json", text) == 0);
            CHECK(c.embedding_size == 16 && c.hidden_size == 32 && zl_bert_config_has_projection(&c));
            free(text);
        }
        free(cfg);
    }
    zl_tokenizer *t = fuzz_vocab_tokenizer(1, 0);
    CHECK(t != NULL);
    if (t) {
        zl_ids ids = {0};
        CHECK(zl_tokenizer_encode(t, "Unable Caf\xc3\xa9", 12, &ids) == 0);
        /* lower-cased and accents stripped: un ##able, then "cafe" as c ##a ##f ##e */
        CHECK(ids.n == 6 && ids.v[0] == zl_tokenizer_id(t, "un", 2) &&
              ids.v[1] == zl_tokenizer_id(t, "##able", 6) && ids.v[2] == zl_tokenizer_id(t, "c", 1) &&
              ids.v[5] == zl_tokenizer_id(t, "##e", 3));
        zl_ids_free(&ids);
        zl_tokenizer_free(t);
    }
    return zl_test_summary("test_regressions");
}
