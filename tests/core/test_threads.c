/* test_threads.c — the core is safe to call from two threads on two models (core/tensor.h,
 * "threads"): two pthreads each run forwards (a plain one, a zone at one layer, the layer
 * cache's rows path) on their own model, with the core's OpenMP team of 2 inside each,
 * while the other does the same; every result equals the serial run's bit for bit. Each
 * thread also parses broken JSON (the error position is per call, not cJSON's global) and
 * sets the team size (the same value: one decision, read atomically).
 * Built with -fsanitize=thread it also shows no data race in the core (docs/architecture.md):
 *     cmake -S . -B build-tsan -DCMAKE_C_FLAGS=-fsanitize=thread \
 *           -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread && cmake --build build-tsan --target test_threads
 *     ZL_TEST_TEAM=1 build-tsan/test_threads       # no suppression needed
 *     TSAN_OPTIONS=suppressions=tests/core/data/tsan.supp build-tsan/test_threads  # libgomp's */
#include "bert.h"
#include "error.h"
#include "json.h"
#include "tensor.h"
#include "zl_test.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { B = 2, S = 24, ROUNDS = 3 };
static int team = 2; /* ZL_TEST_TEAM=1: no OpenMP worker threads (the ThreadSanitizer run) */

typedef struct job {
    const zl_bert *m;
    int32_t ids[B * S], mask[B * S], qm[B * S], pm[B * S];
    float out[3][2 * B * S];  /* plain, p2q at layer 1, q2 at layer 0 on the rows path */
    int rc;
    char json_error[256];
} job;

static zl_bert *make_model(uint64_t seed, int layers, int hidden)
{
    zl_bert_config c;
    zl_bert_config_default(&c);
    c.vocab_size = 50;
    c.hidden_size = hidden;
    c.num_hidden_layers = layers;
    c.num_attention_heads = 4;
    c.intermediate_size = 2 * hidden;
    c.max_position_embeddings = 64;
    zl_bert *m = zl_bert_new(&c);
    if (m && zl_bert_init_random(m, seed) != 0) {
        zl_bert_free(m);
        return NULL;
    }
    return m;
}

static void make_inputs(job *j, uint64_t seed)
{
    uint64_t x = seed;
    for (int r = 0; r < B; r++)
        for (int t = 0; t < S; t++) {
            int len = S - 5 * r, i = r * S + t;
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            j->ids[i] = t < len ? 5 + (int32_t)((x >> 33) % 45) : 0;
            j->mask[i] = t < len;
            j->qm[i] = t >= 1 && t <= 4;
            j->pm[i] = t >= 6 && t < len - 1;
        }
}

/* The three results of one job, into j->out; 0 or -1. */
static int run_once(job *j)
{
    zl_bert_inputs in = {B, S, j->ids, NULL, j->mask, j->qm, j->pm};
    zl_bert_acts a;
    if (zl_bert_acts_alloc(&a, &j->m->config, B, S, 0) != 0) return -1;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    int rc = zl_bert_forward(j->m, &a, &in, &o);
    if (rc == 0) {
        memcpy(j->out[0], a.start_logits, sizeof(float) * B * S);
        memcpy(j->out[0] + B * S, a.end_logits, sizeof(float) * B * S);
        o.zone = ZL_ZONE_P2Q;
        o.mask_layer = 1;
        rc = zl_bert_forward(j->m, &a, &in, &o);
    }
    if (rc == 0) {
        memcpy(j->out[1], a.start_logits, sizeof(float) * B * S);
        memcpy(j->out[1] + B * S, a.end_logits, sizeof(float) * B * S);
    }
    zl_bert_acts_free(&a);
    zl_bert_prefix *p = rc == 0 ? zl_bert_prefix_new(j->m, B, S) : NULL;
    const float *st, *en;
    if (!p || zl_bert_prefix_run(p, &in, 1) != 0 || zl_bert_prefix_zone(p, ZL_ZONE_Q2, 0, 1, NULL) != 0)
        rc = -1;
    else {
        zl_bert_prefix_logits(p, &st, &en);
        memcpy(j->out[2], st, sizeof(float) * B * S);
        memcpy(j->out[2] + B * S, en, sizeof(float) * B * S);
    }
    zl_bert_prefix_free(p);
    return rc;
}

static void *worker(void *arg)
{
    job *j = arg;
    job serial = *j;
    j->rc = 0;
    for (int k = 0; k < ROUNDS && j->rc == 0; k++) {
        zl_set_threads(team);
        /* a parse error's position comes from this call, whatever the other thread parses */
        const char *text = j->m->config.num_hidden_layers == 2 ? "{\"a\": [1, 2,, 3]}"
                                                               : "{\n\n\"b\": tru}";
        cJSON *bad = zl_json_parse("thread.json", text, strlen(text));
        if (bad) cJSON_Delete(bad);
        snprintf(j->json_error, sizeof j->json_error, "%s", zl_error_get());
        if (run_once(j) != 0) j->rc = -1;
        else if (memcmp(j->out, serial.out, sizeof j->out) != 0) j->rc = 1;
    }
    return NULL;
}

int main(void)
{
    const char *e = getenv("ZL_TEST_TEAM");
    if (e && atoi(e) >= 1) team = atoi(e);
    zl_set_threads(team);
    zl_bert *m1 = make_model(11, 2, 32), *m2 = make_model(22, 3, 48);
    CHECK(m1 && m2);
    if (!m1 || !m2) return zl_test_summary("test_threads");
    static job j1, j2;
    j1.m = m1;
    j2.m = m2;
    make_inputs(&j1, 1);
    make_inputs(&j2, 2);
    /* serial results first: what each thread must reproduce */
    CHECK(run_once(&j1) == 0);
    CHECK(run_once(&j2) == 0);
    CHECK(memcmp(j1.out[0], j1.out[1], sizeof j1.out[0]) != 0); /* the zone changes logits */
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, worker, &j1) == 0);
    CHECK(pthread_create(&t2, NULL, worker, &j2) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    CHECK(j1.rc == 0);
    CHECK(j2.rc == 0);
    CHECK(strstr(j1.json_error, "thread.json: invalid JSON at line 1 (byte 13)") != NULL);
    CHECK(strstr(j2.json_error, "thread.json: invalid JSON at line 3 (byte 9)") != NULL);
    if (!strstr(j1.json_error, "line 1") || !strstr(j2.json_error, "line 3"))
        fprintf(stderr, "json errors: [%s] [%s]\n", j1.json_error, j2.json_error);
    CHECK(zl_get_threads() == team);
    zl_bert_free(m1);
    zl_bert_free(m2);
    return zl_test_summary("test_threads");
}
