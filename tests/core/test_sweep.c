/* test_sweep.c — the sweep engine's work sharing (core/sweep.h) on a small random model
 * and hand-made features: for both paddings every configuration of a sweep (`all` at
 * every layer, general masks and head masks included) stores exactly the logits of its own
 * single-configuration sweep
 * (byte for byte) and, at the real positions, those of a plain max-width forward with its
 * mask (1e-4); the work counter equals the counted cost, and `all` under dynamic padding
 * really runs its later layers at the batch's width. Also the layer cache of core/bert.h. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "bert.h"
#include "error.h"
#include "io.h"
#include "sweep.h"
#include "tensor.h"
#include "tfckpt.h"
#include "zl_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { V = 60, S = 48, NF = 7, L = 3, H = 32 };
static const int LENGTHS[NF] = {12, 30, 17, 40, 25, 9, 33};
static const int QLEN[NF] = {4, 6, 3, 5, 6, 2, 4};

static zl_bert *make_model(void)
{
    zl_bert_config c;
    zl_bert_config_default(&c);
    c.vocab_size = V;
    c.hidden_size = H;
    c.num_hidden_layers = L;
    c.num_attention_heads = 2;
    c.intermediate_size = 64;
    c.max_position_embeddings = 64;
    c.embedding_size = H;
    c.initializer_range = 0.3f; /* masks change the logits visibly */
    zl_bert *m = zl_bert_new(&c);
    if (m && zl_bert_init_random(m, 11) != 0) {
        zl_bert_free(m);
        return NULL;
    }
    return m;
}

/* [CLS] q [SEP] p [SEP] with word ids from a fixed recurrence. */
static void make_features(zl_squad_features *f, zl_squad_feature *items, int32_t *pool)
{
    memset(f, 0, sizeof *f);
    f->opts.max_seq_length = S;
    f->count = NF;
    f->items = items;
    f->n_examples = NF;
    unsigned x = 12345;
    for (int i = 0; i < NF; i++) {
        zl_squad_feature *ft = &items[i];
        memset(ft, 0, sizeof *ft);
        ft->example_index = i;
        ft->length = LENGTHS[i];
        ft->query_len = QLEN[i];
        ft->doc_len = LENGTHS[i] - QLEN[i] - 3;
        ft->input_ids = pool + i * S;
        for (int t = 0; t < ft->length; t++) {
            x = x * 1103515245u + 12345u;
            ft->input_ids[t] = 5 + (int32_t)((x >> 16) % (V - 5));
        }
        ft->input_ids[0] = 2;
        ft->input_ids[ft->query_len + 1] = 3;
        ft->input_ids[ft->length - 1] = 3;
    }
}

static int mkdir_p(const char *dir) { return mkdir(dir, 0700); }

static char *read_all(const char *path, size_t *len)
{
    char *d = NULL;
    if (zl_io_read_file(path, (size_t)1 << 30, &d, len) != 0) return NULL;
    return d;
}

/* Runs every batch of a sweep spilling into dir; returns the sweep (caller frees). */
static zl_sweep *run_sweep(const zl_bert *m, const zl_squad_features *f, const zl_sweep_config *cfg,
                           int n, int padding, const char *dir)
{
    zl_sweep_opts o = zl_sweep_defaults();
    o.batch = 3;
    o.padding = padding;
    o.spill_dir = dir;
    zl_sweep *s = zl_sweep_new(m, f, cfg, n, &o);
    if (!s) {
        fprintf(stderr, "sweep: %s\n", zl_error_get());
        return NULL;
    }
    double cost = 0;
    for (int b = 0; b < zl_sweep_batches(s); b++) {
        cost += zl_sweep_batch_cost(s, b);
        if (zl_sweep_step(s, b) != 0) fprintf(stderr, "step: %s\n", zl_error_get());
    }
    int64_t off[64];
    CHECK(zl_sweep_sync(s, off) == 0);
    CHECK_NEAR(zl_sweep_work(s), cost, 1e-9 * cost); /* the counted cost is the work done */
    return s;
}

/* Plain max-width forward of every feature with one mask: logits [NF, S]. */
static void reference(const zl_bert *m, const zl_squad_features *f, zl_sweep_config c, float *st,
                      float *en)
{
    int32_t ids[NF * S] = {0}, types[NF * S] = {0}, mask[NF * S] = {0}, qm[NF * S] = {0},
            pm[NF * S] = {0};
    for (int r = 0; r < NF; r++) {
        const zl_squad_feature *ft = &f->items[r];
        int d0 = ft->query_len + 2;
        for (int t = 0; t < ft->length; t++) {
            ids[r * S + t] = ft->input_ids[t];
            types[r * S + t] = t >= d0;
            mask[r * S + t] = 1;
            qm[r * S + t] = t >= 1 && t <= ft->query_len;
            pm[r * S + t] = t >= d0 && t < d0 + ft->doc_len;
        }
    }
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &m->config, NF, S, 0) == 0);
    zl_bert_inputs in = {NF, S, ids, types, mask, qm, pm};
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.zone = c.zone;
    o.mask_layer = c.layer;
    o.masks = c.mask;
    o.n_masks = c.mask ? 1 : 0;
    o.head_mask = c.head_mask;
    CHECK(zl_bert_forward(m, &a, &in, &o) == 0);
    memcpy(st, a.start_logits, sizeof(float) * NF * S);
    memcpy(en, a.end_logits, sizeof(float) * NF * S);
    zl_bert_acts_free(&a);
}

/* Checks a spill file's records against the reference logits; returns the records seen. */
static int check_records(const char *data, size_t len, const float *st, const float *en,
                         const zl_squad_features *f, double *maxdiff)
{
    size_t p = 0;
    int seen = 0;
    while (p + 8 <= len) {
        int32_t head[2];
        memcpy(head, data + p, 8);
        p += 8;
        int feat = head[0], w = head[1];
        if (feat < 0 || feat >= NF || w < 1 || p + (size_t)w * 8 + 4 > len) return -1;
        /* each record ends with the crc32c of its header and rows */
        uint32_t crc;
        memcpy(&crc, data + p + (size_t)w * 8, 4);
        if (crc != zl_tfckpt_crc32c(0, data + p - 8, 8 + (size_t)w * 8)) return -1;
        const float *rs = (const float *)(const void *)(data + p);
        const float *re = rs + w;
        for (int t = 0; t < f->items[feat].length; t++) {
            double d1 = fabs(rs[t] - st[feat * S + t]), d2 = fabs(re[t] - en[feat * S + t]);
            if (d1 > *maxdiff) *maxdiff = d1;
            if (d2 > *maxdiff) *maxdiff = d2;
        }
        p += (size_t)w * 8 + 4;
        seen++;
    }
    return p == len ? seen : -1;
}

static void test_configs(const zl_bert *m, const zl_squad_features *f, const char *root)
{
    zl_sweep_config cfg[32];
    int n = 0;
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_NONE, .layer = -1};
    for (int l = 0; l < L; l++)
        for (int z = ZL_ZONE_Q2; z <= ZL_ZONE_ALL_STRICT; z++) cfg[n++] = (zl_sweep_config){.zone = (zl_zone)z, .layer = l};
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_ALL, .layer = -1};
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_P2, .layer = -1};
    /* m:forward's other masking options (issue 17): a general mask on some heads and layers,
       a head mask with a zone, a mask with a zone: full passes of their own, same numbers */
    static float pattern[S * S], hm[L * 2];
    for (int fr = 0; fr < S; fr++)
        for (int to = 0; to < S; to++) pattern[fr * S + to] = to > 8 && to < 20; /* keys 9..19 */
    for (int i = 0; i < L * 2; i++) hm[i] = i % 3 ? 1.0f : 0.25f;
    static const int heads1[1] = {1}, layers02[2] = {0, 2};
    static zl_bert_mask some = {pattern, 0, heads1, 1, layers02, 2}, every = {pattern, 0, NULL, 0, NULL, 0};
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_NONE, .layer = -1, .mask = &some};
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_P2Q, .layer = 1, .head_mask = hm};
    cfg[n++] = (zl_sweep_config){.zone = ZL_ZONE_Q2, .layer = 2, .mask = &every};
    static float st[NF * S], en[NF * S], base_st[NF * S], base_en[NF * S];
    reference(m, f, cfg[0], base_st, base_en);
    for (int pad = ZL_SWEEP_PAD_MAX; pad <= ZL_SWEEP_PAD_DYNAMIC; pad++) {
        char all_dir[512], one_dir[512], path[600];
        snprintf(all_dir, sizeof all_dir, "%s/sweep%d", root, pad);
        snprintf(one_dir, sizeof one_dir, "%s/single%d", root, pad);
        CHECK(mkdir_p(all_dir) == 0 && mkdir_p(one_dir) == 0);
        zl_sweep *s = run_sweep(m, f, cfg, n, pad, all_dir);
        CHECK(s != NULL);
        int changed = 0;
        for (int i = 0; i < n; i++) {
            size_t la = 0, lb = 0;
            snprintf(path, sizeof path, "%s/cfg%d.bin", all_dir, i + 1);
            char *a = read_all(path, &la);
            zl_sweep *one = run_sweep(m, f, &cfg[i], 1, pad, one_dir);
            zl_sweep_free(one);
            snprintf(path, sizeof path, "%s/cfg1.bin", one_dir);
            char *b = read_all(path, &lb);
            CHECK(a && b && la == lb && memcmp(a, b, la) == 0);
            if (!(a && b && la == lb && memcmp(a, b, la) == 0))
                fprintf(stderr, "  padding %d: configuration %s@%d differs from its single run\n", pad,
                        zl_zone_name(cfg[i].zone), cfg[i].layer);
            reference(m, f, cfg[i], st, en);
            double diff = 0, moved = 0;
            CHECK(a && check_records(a, la, st, en, f, &diff) == NF);
            if (diff > 1e-4)
                fprintf(stderr, "  padding %d: %s@%d is %g from the plain forward\n", pad,
                        zl_zone_name(cfg[i].zone), cfg[i].layer, diff);
            CHECK(diff <= 1e-4);
            /* the mask really changed something (else the comparison proves little) */
            if (i > 0 && a && check_records(a, la, base_st, base_en, f, &moved) == NF && moved > 1e-3)
                changed++;
            free(a);
            free(b);
        }
        CHECK(changed >= n - 3);
        zl_sweep_free(s);
    }
    /* a mask is one pattern for every feature: a batched one is refused by name */
    zl_bert_mask batched = {pattern, 1, NULL, 0, NULL, 0};
    zl_sweep_config bad = {.zone = ZL_ZONE_NONE, .layer = -1, .mask = &batched};
    CHECK(zl_sweep_new(m, f, &bad, 1, NULL) == NULL);
    CHECK(strstr(zl_error_get(), "configuration 1: a mask must be one") != NULL);
}

/* `all` under dynamic padding: layers < l at max width; at layer l the keys and values of
 * every max-width row but only the rows [0, W) of each sequence; the rest at the batch's
 * width W. */
static void test_all_width(const zl_bert *m, const zl_squad_features *f, const char *root)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/width", root);
    CHECK(mkdir_p(dir) == 0);
    zl_sweep_config one = {.zone = ZL_ZONE_ALL, .layer = 1};
    zl_sweep_config many[4] = {{.zone = ZL_ZONE_NONE, .layer = -1}, {.zone = ZL_ZONE_ALL, .layer = 0}, {.zone = ZL_ZONE_ALL, .layer = 1}, {.zone = ZL_ZONE_ALL, .layer = 2}};
    for (int pad = ZL_SWEEP_PAD_MAX; pad <= ZL_SWEEP_PAD_DYNAMIC; pad++) {
        zl_sweep *s1 = run_sweep(m, f, &one, 1, pad, dir);
        zl_sweep *s4 = run_sweep(m, f, many, 4, pad, dir);
        double w1 = 0, w4 = 0;
        for (int b = 0; s1 && b < zl_sweep_batches(s1); b++) {
            const int *feat;
            int n = zl_sweep_batch_features(s1, b, &feat), W = 1;
            for (int r = 0; r < n; r++)
                if (f->items[feat[r]].length > W) W = f->items[feat[r]].length;
            if (pad == ZL_SWEEP_PAD_MAX) {
                w1 += (double)n * S;                       /* one full pass at S */
                w4 += (double)n * S * (3 + 3 + 2 + 1) / L; /* shared pass + 3 + 2 + 1 layers */
            } else {
                const double kv = 2.0 * H / (4.0 * H + 2.0 * 64); /* keys and values of a layer */
                /* layer 0 at S, layer 1's keys/values at S and its rows [0, W), layer 2 at W */
                w1 += (double)n * (S + kv * S + W + W) / L;
                /* baseline at W; prefix 0..1 at S; all@l: keys/values at S, rows [0, W) of
                   layer l, the later layers at W */
                w4 += (double)n * (3.0 * W + 2.0 * S + 3 * kv * S + 3.0 * W + 2.0 * W + W) / L;
            }
        }
        CHECK(s1 && s4);
        if (s1) CHECK_NEAR(zl_sweep_work(s1), w1, 1e-9 * w1);
        if (s4) CHECK_NEAR(zl_sweep_work(s4), w4, 1e-9 * w4);
        zl_sweep_free(s1);
        zl_sweep_free(s4);
    }
}

/* Largest difference between two logit rows of n values. */
static double max_diff(const float *x, const float *y, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        if (fabs(x[i] - y[i]) > d) d = fabs(x[i] - y[i]);
    return d;
}

/* The layer cache (core/bert.h, zl_bert_prefix): a zone at layer l from the cached input
 * equals a full masked pass, bit for bit on the whole-layer path and to float noise on
 * the rows path, whatever the order of the zones of one layer; narrowing `all` gives the
 * real positions of a max-width pass masking all at l; the misuses are refused. */
static void test_prefix(const zl_bert *m, const zl_squad_features *f)
{
    enum { B = 3, W = 40, Wk = 30 }; /* features 0..2: lengths 12, 30, 17 */
    int32_t ids[B * W] = {0}, mask[B * W] = {0}, qm[B * W] = {0}, pm[B * W] = {0};
    int32_t idk[B * Wk] = {0}, maskk[B * Wk] = {0};
    for (int r = 0; r < B; r++) {
        const zl_squad_feature *ft = &f->items[r];
        for (int t = 0; t < ft->length; t++) {
            ids[r * W + t] = ft->input_ids[t];
            mask[r * W + t] = 1;
            qm[r * W + t] = t >= 1 && t <= ft->query_len;
            pm[r * W + t] = t >= ft->query_len + 2 && t < ft->query_len + 2 + ft->doc_len;
            if (t < Wk) {
                idk[r * Wk + t] = ft->input_ids[t];
                maskk[r * Wk + t] = 1;
            }
        }
    }
    zl_bert_inputs in = {B, W, ids, NULL, mask, qm, pm}, ink = {B, Wk, idk, NULL, maskk, NULL, NULL};
    zl_bert_acts ref;
    CHECK(zl_bert_acts_alloc(&ref, &m->config, B, W, 0) == 0);
    zl_bert_prefix *p = zl_bert_prefix_new(m, B, W);
    CHECK(p != NULL);
    if (!p) return;
    const float *st, *en;
    CHECK(zl_bert_prefix_zone(p, ZL_ZONE_Q2, 0, 0, NULL) != 0); /* nothing cached yet */
    for (int z = ZL_ZONE_Q2; z <= ZL_ZONE_P2; z++)
        for (int l = 0; l < L; l++) {
            zl_bert_forward_opts o;
            zl_bert_forward_opts_init(&o);
            o.zone = (zl_zone)z;
            o.mask_layer = l;
            CHECK(zl_bert_forward(m, &ref, &in, &o) == 0);
            /* the whole layer from the cache: the same bits */
            CHECK(zl_bert_prefix_run(p, &in, L) == 0);
            CHECK(zl_bert_prefix_zone(p, (zl_zone)z, l, 0, NULL) == 0);
            CHECK(zl_bert_prefix_logits(p, &st, &en) == W);
            CHECK(memcmp(st, ref.start_logits, sizeof(float) * B * W) == 0);
            CHECK(memcmp(en, ref.end_logits, sizeof(float) * B * W) == 0);
            /* the rows path, twice (the second from the kept unmasked output), then after a
               whole-layer zone overwrote that output (recomputed): float noise, same bits */
            CHECK(zl_bert_prefix_run(p, &in, l + 1) == 0);
            float first[B * W];
            for (int pass = 0; pass < 3; pass++) {
                if (pass == 2) CHECK(zl_bert_prefix_zone(p, ZL_ZONE_P2Q, l, 0, NULL) == 0);
                CHECK(zl_bert_prefix_zone(p, (zl_zone)z, l, 1, NULL) == 0);
                zl_bert_prefix_logits(p, &st, &en);
                CHECK(max_diff(st, ref.start_logits, B * W) < 1e-5);
                CHECK(max_diff(en, ref.end_logits, B * W) < 1e-5);
                if (pass == 0) memcpy(first, st, sizeof first);
                else CHECK(memcmp(first, st, sizeof first) == 0);
            }
            /* a shallower layer's input is still cached; a deeper one's is gone */
            if (l > 0) CHECK(zl_bert_prefix_zone(p, (zl_zone)z, l - 1, 1, NULL) == 0);
            if (l < L - 1) {
                CHECK(zl_bert_prefix_zone(p, (zl_zone)z, l + 1, 0, NULL) != 0);
                CHECK(strstr(zl_error_get(), "not cached") != NULL);
            }
        }
    CHECK(zl_zone_rows(ZL_ZONE_ALL, &in, NULL) < 0);
    CHECK(zl_bert_prefix_run(p, &in, L) == 0);
    CHECK(zl_bert_prefix_zone(p, ZL_ZONE_ALL_STRICT, 0, 1, NULL) != 0);
    CHECK(zl_bert_prefix_zone(p, ZL_ZONE_ALL, 0, 1, NULL) != 0); /* every row: narrow only */
    CHECK(zl_bert_prefix_zone(p, ZL_ZONE_Q2, 0, 1, &ink) != 0);  /* narrowing is for `all` */
    CHECK(zl_bert_prefix_zone(p, ZL_ZONE_NONE, 0, 0, NULL) != 0);
    CHECK(zl_bert_prefix_run(p, &in, 0) != 0);
    /* narrowing `all` at l: rows [0, Wk) against every key of width W, then width Wk */
    for (int l = 0; l < L; l++) {
        zl_bert_forward_opts o;
        zl_bert_forward_opts_init(&o);
        o.zone = ZL_ZONE_ALL;
        o.mask_layer = l;
        CHECK(zl_bert_forward(m, &ref, &in, &o) == 0);
        CHECK(zl_bert_prefix_run(p, &in, l > 0 ? l : 1) == 0);
        CHECK(zl_bert_prefix_zone(p, ZL_ZONE_ALL, l, 1, &ink) == 0);
        CHECK(zl_bert_prefix_logits(p, &st, &en) == Wk);
        double diff = 0;
        for (int r = 0; r < B; r++) {
            int len = f->items[r].length < Wk ? f->items[r].length : Wk;
            double d = max_diff(st + r * Wk, ref.start_logits + r * W, len);
            if (d > diff) diff = d;
        }
        CHECK(diff < 1e-4);
        /* and the mask matters: an unmasked pass differs */
        zl_bert_forward_opts_init(&o);
        CHECK(zl_bert_forward(m, &ref, &in, &o) == 0);
        CHECK(max_diff(st, ref.start_logits, Wk) > 1e-3);
    }
    zl_bert_prefix_free(p);
    zl_bert_acts_free(&ref);
}

int main(void)
{
    zl_set_threads(1);
    zl_bert *m = make_model();
    CHECK(m != NULL);
    if (!m) return zl_test_summary("test_sweep");
    static zl_squad_feature items[NF];
    static int32_t pool[NF * S];
    zl_squad_features f;
    make_features(&f, items, pool);
    char root[] = "/tmp/zl_test_sweep_XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    test_prefix(m, &f);
    test_all_width(m, &f, root);
    test_configs(m, &f, root);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    zl_bert_free(m);
    return zl_test_summary("test_sweep");
}
