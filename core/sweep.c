/* sweep.c — the batch-major sweep engine of sweep.h. */
#define _POSIX_C_SOURCE 200809L /* truncate */
#include "sweep.h"

#include "error.h"
#include "io.h"
#include "tfckpt.h" /* crc32c: the spill records' checksum */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One batch's input buffers [batch, max_seq]. */
typedef struct inbuf {
    int32_t *ids, *types, *mask, *qm, *pm;
} inbuf;

struct zl_sweep {
    const zl_bert *m;
    const zl_squad_features *f;
    zl_sweep_opts o;
    int n_cfg;
    zl_sweep_config *cfg;        /* a general configuration's copy has layer -1 here (a
                                    full pass) and its layer in glayer */
    int *glayer;                 /* per configuration: the zone's layer of a general one */
    zl_squad_collector **coll;   /* per configuration (in memory); NULL when spilling */
    unsigned char *released;     /* per configuration: logits freed */
    char *spill_dir;             /* NULL: in memory */
    FILE **fp;                   /* per configuration spill file (append) */
    int *order;                  /* feature indexes sorted by length (stable) */
    int n_batches;
    int max_seq;
    zl_bert_prefix *pre;         /* the layer cache: every pass runs on it */
    inbuf in[2];                 /* [0]: the group's width; [1]: narrowed `all` tails */
    float *srow, *erow;          /* one stored row: real positions + kept padding */
    int *pick;                   /* [keep_pad] scratch for the padding selection */
};

zl_sweep_opts zl_sweep_defaults(void)
{
    zl_sweep_opts o = {32, ZL_SWEEP_PAD_MAX, 20, NULL, 0, 0};
    return o;
}

static void spill_path(const zl_sweep *s, int i, char *buf, size_t n)
{
    snprintf(buf, n, "%s/cfg%d.bin", s->spill_dir, i + 1);
}

/* mode "wb" or "ab"; never through a symlink (zl_io_open_output): the partial folder is
 * inside a run folder that others may write to */
static int open_spill(zl_sweep *s, int i, const char *mode)
{
    char path[4096];
    spill_path(s, i, path, sizeof path);
    int fd = zl_io_open_output(path, mode[0] == 'a' ? 'a' : 'w');
    if (fd < 0) return zl_error_prefix("sweep: ");
    if (!(s->fp[i] = fdopen(fd, mode))) {
        close(fd);
        return zl_error_set("sweep: %s: cannot open the logits file (%s)", path, strerror(errno));
    }
    return 0;
}

/* Counting sort by length: shorter first, equal lengths keep feature order (stable,
 * and no comparison callback state). Lengths are 1..S. */
static int sort_by_length(int *order, const zl_squad_features *f, int S)
{
    int *start = calloc((size_t)S + 2, sizeof *start);
    if (!start) return -1;
    for (int i = 0; i < f->count; i++) start[f->items[i].length + 1]++;
    for (int l = 1; l <= S + 1; l++) start[l] += start[l - 1];
    for (int i = 0; i < f->count; i++) order[start[f->items[i].length]++] = i;
    free(start);
    return 0;
}

/* A configuration with a general mask or a head mask: one full pass of its own. */
static int general(const zl_sweep *s, int i) { return s->cfg[i].mask || s->cfg[i].head_mask; }

/* The unmasked baseline (zone none and nothing else). */
static int is_base(const zl_sweep *s, int i) { return s->cfg[i].zone == ZL_ZONE_NONE && !general(s, i); }

zl_sweep *zl_sweep_new(const zl_bert *m, const zl_squad_features *f, const zl_sweep_config *cfg,
                       int n_cfg, const zl_sweep_opts *o)
{
    zl_sweep_opts so = o ? *o : zl_sweep_defaults();
    if (so.batch < 1) {
        zl_error_set("sweep: batch must be at least 1 (got %d)", so.batch);
        return NULL;
    }
    if (so.padding != ZL_SWEEP_PAD_MAX && so.padding != ZL_SWEEP_PAD_DYNAMIC) {
        zl_error_set("sweep: unknown padding mode %d", so.padding);
        return NULL;
    }
    if (so.keep_pad < 0) so.keep_pad = 0;
    if (n_cfg < 1) {
        zl_error_set("sweep: no configuration to run");
        return NULL;
    }
    int L = m->config.num_hidden_layers;
    for (int i = 0; i < n_cfg; i++) {
        if ((unsigned)cfg[i].zone > ZL_ZONE_ALL_STRICT) {
            zl_error_set("sweep: configuration %d has an unknown zone %d", i + 1, (int)cfg[i].zone);
            return NULL;
        }
        if (cfg[i].layer < -1 || cfg[i].layer >= L) {
            zl_error_set("sweep: configuration %d masks layer %d, but the model has %d layers "
                         "(1..%d)", i + 1, cfg[i].layer + 1, L, L);
            return NULL;
        }
        if (cfg[i].mask && (cfg[i].mask->batched || !cfg[i].mask->pattern)) {
            zl_error_set("sweep: configuration %d: a mask must be one [max_seq_length, "
                         "max_seq_length] pattern for every feature", i + 1);
            return NULL;
        }
        if (cfg[i].zone == ZL_ZONE_NONE && cfg[i].layer != -1) {
            zl_error_set("sweep: configuration %d: the baseline (no zone) takes no layer", i + 1);
            return NULL;
        }
    }
    int S = f->opts.max_seq_length;
    for (int i = 0; i < f->count; i++)
        if (f->items[i].length > S || f->items[i].length < 1) {
            zl_error_set("sweep: feature %d has %d tokens, more than max_seq_length %d", i + 1,
                         f->items[i].length, S);
            return NULL;
        }
    zl_sweep *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->m = m;
    s->f = f;
    s->o = so;
    s->n_cfg = n_cfg;
    s->max_seq = S;
    int B = so.batch < f->count ? so.batch : (f->count > 0 ? f->count : 1);
    s->o.batch = B;
    s->cfg = malloc((size_t)n_cfg * sizeof *s->cfg);
    s->glayer = malloc((size_t)n_cfg * sizeof *s->glayer);
    s->coll = calloc((size_t)n_cfg, sizeof *s->coll);
    s->released = calloc((size_t)n_cfg, 1);
    s->fp = calloc((size_t)n_cfg, sizeof *s->fp);
    s->order = malloc(((size_t)f->count + 1) * sizeof *s->order);
    size_t in = (size_t)B * S;
    int inputs_ok = 1;
    for (int k = 0; k < 2; k++) {
        inbuf *ib = &s->in[k];
        ib->ids = calloc(in, sizeof(int32_t));
        ib->types = calloc(in, sizeof(int32_t));
        ib->mask = calloc(in, sizeof(int32_t));
        ib->qm = calloc(in, sizeof(int32_t));
        ib->pm = calloc(in, sizeof(int32_t));
        inputs_ok = inputs_ok && ib->ids && ib->types && ib->mask && ib->qm && ib->pm;
    }
    s->srow = malloc(((size_t)S + so.keep_pad + 1) * sizeof(float));
    s->erow = malloc(((size_t)S + so.keep_pad + 1) * sizeof(float));
    s->pick = malloc(((size_t)so.keep_pad + 1) * sizeof(int));
    if (!s->cfg || !s->glayer || !s->coll || !s->released || !s->fp || !s->order || !inputs_ok || !s->srow || !s->erow || !s->pick)
        goto oom;
    memcpy(s->cfg, cfg, (size_t)n_cfg * sizeof *cfg);
    for (int i = 0; i < n_cfg; i++) {
        s->glayer[i] = cfg[i].layer;
        if (general(s, i)) s->cfg[i].layer = -1;
    }
    if (so.spill_dir) {
        size_t n = strlen(so.spill_dir) + 1;
        if (!(s->spill_dir = malloc(n))) goto oom;
        memcpy(s->spill_dir, so.spill_dir, n);
        s->o.spill_dir = s->spill_dir;
        for (int i = 0; i < n_cfg; i++)
            if (open_spill(s, i, so.spill_keep ? "ab" : "wb") != 0) {
                zl_sweep_free(s);
                return NULL;
            }
    } else {
        for (int i = 0; i < n_cfg; i++)
            if (!(s->coll[i] = zl_squad_collector_new(f))) {
                zl_sweep_free(s);
                return NULL;
            }
    }
    if (sort_by_length(s->order, f, S) != 0) goto oom;
    s->n_batches = (f->count + B - 1) / B;
    if (!(s->pre = zl_bert_prefix_new(m, B, S)) || zl_bert_prefix_set_precision(s->pre, so.precision) != 0) {
        zl_sweep_free(s);
        return NULL;
    }
    return s;
oom:
    zl_sweep_free(s);
    zl_error_set("sweep: out of memory");
    return NULL;
}

void zl_sweep_free(zl_sweep *s)
{
    if (!s) return;
    if (s->coll)
        for (int i = 0; i < s->n_cfg; i++) zl_squad_collector_free(s->coll[i]);
    if (s->fp)
        for (int i = 0; i < s->n_cfg; i++)
            if (s->fp[i]) fclose(s->fp[i]); /* the files stay: they are the checkpoint */
    free(s->coll);
    free(s->fp);
    free(s->released);
    free(s->spill_dir);
    free(s->cfg);
    free(s->glayer);
    free(s->order);
    for (int k = 0; k < 2; k++) {
        free(s->in[k].ids);
        free(s->in[k].types);
        free(s->in[k].mask);
        free(s->in[k].qm);
        free(s->in[k].pm);
    }
    free(s->srow);
    free(s->erow);
    free(s->pick);
    zl_bert_prefix_free(s->pre);
    free(s);
}

int zl_sweep_batches(const zl_sweep *s) { return s->n_batches; }

int zl_sweep_batch_features(const zl_sweep *s, int b, const int **first)
{
    if (b < 0 || b >= s->n_batches) return 0;
    int lo = b * s->o.batch, hi = lo + s->o.batch;
    if (hi > s->f->count) hi = s->f->count;
    if (first) *first = s->order + lo;
    return hi - lo;
}

/* A configuration runs padded to max_seq_length unless dynamic padding is on and its
 * zone does not depend on padding (only the reference `all` does). */
static int needs_max(const zl_sweep *s, int i)
{
    return s->o.padding == ZL_SWEEP_PAD_MAX || s->cfg[i].zone == ZL_ZONE_ALL || general(s, i);
}

/* An `all` configuration at one layer l under dynamic padding: padding rows are keys and
 * values at layer l only (real rows never attend to padding elsewhere), so layers < l run
 * at max_seq_length, layer l computes only the rows [0, W) of each sequence (the batch's
 * width; keys and values of all max_seq_length rows) and layers > l and the span head run
 * at width W. */
static int narrows(const zl_sweep *s, int i)
{
    return s->o.padding == ZL_SWEEP_PAD_DYNAMIC && s->cfg[i].zone == ZL_ZONE_ALL &&
           s->cfg[i].layer >= 0;
}

static int live(const zl_sweep *s, int i, int g)
{
    return needs_max(s, i) == g && !s->released[i];
}

static int batch_width(const zl_sweep *s, const int *feat, int n)
{
    int w = 1;
    for (int r = 0; r < n; r++)
        if (s->f->items[feat[r]].length > w) w = s->f->items[feat[r]].length;
    return w;
}

/* One batch: its features, their longest length Wn (the dynamic width) and max_seq. */
typedef struct batch_ref {
    const int *feat;
    int n, Wn, S;
} batch_ref;

static int group_width(const batch_ref *br, int g) { return g ? br->S : br->Wn; }

/* Rows (of n x W) that configuration i's zone changes at its layer (zl_zone_rows counts
 * the same on the filled inputs); -1 for zones that change every row. */
static int changed_rows(const zl_sweep *s, int i, const batch_ref *br, int W)
{
    if (s->cfg[i].layer < 0) return -1;
    if (narrows(s, i)) return br->n * br->Wn;
    int q = 0, d = 0;
    for (int r = 0; r < br->n; r++) {
        q += s->f->items[br->feat[r]].query_len;
        d += s->f->items[br->feat[r]].doc_len;
    }
    switch (s->cfg[i].zone) {
    case ZL_ZONE_Q2: return q;
    case ZL_ZONE_P2: return d;
    case ZL_ZONE_P2Q: return br->n * W - q;
    case ZL_ZONE_Q2P: return br->n * W - d;
    default: return -1;
    }
}

/* The rows path (core/bert.h, zl_bert_prefix_zone) for configuration i: the zones that
 * change few rows on SQuAD-like features (mean 183 tokens: 12 question, 168 passage):
 * q2 and q2p at the batch's width, q2 and p2 at 512; and the narrowing `all`, which keeps
 * only the rows [0, W) of its max-width layer. Fixed per zone and padding, never per
 * batch, so a configuration takes the same path in every batch (and in every shard) and
 * a single decode does what the sweep does. */
static int uses_rows(const zl_sweep *s, int i)
{
    zl_zone z = s->cfg[i].zone;
    if (s->cfg[i].layer < 0) return 0;
    return z == ZL_ZONE_Q2 || narrows(s, i) ||
           (s->o.padding == ZL_SWEEP_PAD_DYNAMIC ? z == ZL_ZONE_Q2P : z == ZL_ZONE_P2);
}

/* The unmasked layers a rows-path configuration at layer l needs before it: up to its
 * layer's output (the rows it leaves keep it), or for a narrowing `all` only up to its
 * layer's input (every kept row is recomputed; one layer at least: a pass always runs
 * one). */
static int rows_prefix(const zl_sweep *s, int i)
{
    int l = s->cfg[i].layer;
    return narrows(s, i) ? (l > 0 ? l : 1) : l + 1;
}

/* What one padding group g of a batch runs: run_group follows it, batch_cost counts it. */
typedef struct group_plan {
    int count;      /* live configurations */
    int base;       /* the baseline's index, or -1 */
    int alone;      /* a lone one-layer configuration without baseline: one pass of its own */
    int prefix;     /* layers of the shared unmasked pass (L with the baseline's logits) */
} group_plan;

static group_plan plan_group(const zl_sweep *s, int g)
{
    group_plan p = {0, -1, -1, 0};
    int L = s->m->config.num_hidden_layers, per_layer = 0, last = -1, need = 0;
    for (int i = 0; i < s->n_cfg; i++) {
        if (!live(s, i, g)) continue;
        p.count++;
        if (is_base(s, i)) p.base = i;
        else if (s->cfg[i].layer >= 0) {
            per_layer++;
            last = i;
            /* the rows path also needs the unmasked output of its layer (see rows_prefix) */
            int k = uses_rows(s, i) ? rows_prefix(s, i) : s->cfg[i].layer;
            if (k > need) need = k;
        }
    }
    if (per_layer == 1 && p.base < 0) p.alone = last;
    /* without the baseline's logits the shared pass stops at the deepest layer needed */
    else p.prefix = p.base >= 0 ? L : need;
    return p;
}

/* Share of a layer's products that the keys and values are (attention left out). */
static double kv_share(const zl_sweep *s)
{
    double H = s->m->config.hidden_size, I = s->m->config.intermediate_size;
    return 2 * H / (4 * H + 2 * I);
}

/* Token-layers that group g of a batch runs (see run_group). */
static double group_cost(const zl_sweep *s, int g, const batch_ref *br)
{
    group_plan p = plan_group(s, g);
    int L = s->m->config.num_hidden_layers;
    double n = br->n, W = group_width(br, g), c = p.prefix * n * W;
    unsigned char kv[ZL_BERT_MAX_LAYERS] = {0};
    for (int i = 0; i < s->n_cfg; i++) {
        if (!live(s, i, g) || is_base(s, i)) continue;
        int l = s->cfg[i].layer, first = i == p.alone ? 0 : l;
        if (l < 0) c += L * n * W;
        else if (uses_rows(s, i)) {
            if (i == p.alone) c += rows_prefix(s, i) * n * W + kv_share(s) * n * W;
            else kv[l] = 1;
            c += changed_rows(s, i, br, (int)W) + (double)(L - 1 - l) * n * (narrows(s, i) ? br->Wn : W);
        } else c += (L - first) * n * W;
    }
    for (int l = 0; l < L; l++) c += kv[l] * kv_share(s) * n * W;
    return c;
}

double zl_sweep_batch_cost(const zl_sweep *s, int b)
{
    batch_ref br = {NULL, 0, 0, s->max_seq};
    br.n = zl_sweep_batch_features(s, b, &br.feat);
    br.Wn = batch_width(s, br.feat, br.n);
    return (group_cost(s, 0, &br) + group_cost(s, 1, &br)) / s->m->config.num_hidden_layers;
}

double zl_sweep_work(const zl_sweep *s) { return zl_bert_prefix_work(s->pre); }
/* Fills input buffers ib for features feat[0..n-1] padded to width W (squad.h's one
 * batch builder). */
static int fill_inputs(const zl_sweep *s, inbuf *ib, const int *feat, int n, int W)
{
    zl_squad_batch b = {ib->ids, ib->types, ib->mask, ib->qm, ib->pm, NULL, NULL};
    return zl_squad_features_batch(s->f, feat, 0, n, W, &b);
}

/* The k largest of x[0..n-1] (ties: lower index first), returned in index order. */
static int top_k_in_order(const float *x, int n, int k, int *out)
{
    int m = 0;
    for (int i = 0; i < n && k > 0; i++) {
        if (m == k && !(x[i] > x[out[m - 1]])) continue;
        int p = m < k ? m : k - 1;
        while (p > 0 && x[out[p - 1]] < x[i]) {
            out[p] = out[p - 1];
            p--;
        }
        out[p] = i;
        if (m < k) m++;
    }
    /* insertion sort back to index order (m <= k, small) */
    for (int i = 1; i < m; i++) {
        int v = out[i], j = i - 1;
        while (j >= 0 && out[j] > v) {
            out[j + 1] = out[j];
            j--;
        }
        out[j + 1] = v;
    }
    return m;
}

/* A spill record's checksum: crc32c of its header and both rows. */
static uint32_t record_crc(const int32_t head[2], const float *st, const float *en, int width)
{
    uint32_t c = zl_tfckpt_crc32c(0, head, 2 * sizeof(int32_t));
    c = zl_tfckpt_crc32c(c, st, (size_t)width * sizeof(float));
    return zl_tfckpt_crc32c(c, en, (size_t)width * sizeof(float));
}

/* Stores one reduced row of configuration i: in its collector, or appended to its spill
 * file as {int32 feature, int32 width, float start[width], float end[width], uint32 crc32c}
 * (the checksum lets a resume tell a whole record from a torn or foreign one). */
static int store_row(zl_sweep *s, int i, int feature, int width)
{
    if (!s->spill_dir)
        return zl_squad_collector_add(s->coll[i], feature, 1, width, s->srow, s->erow);
    int32_t head[2] = {feature, width};
    uint32_t crc = record_crc(head, s->srow, s->erow, width);
    FILE *fp = s->fp[i];
    if (fwrite(head, sizeof head, 1, fp) != 1 || fwrite(s->srow, sizeof(float), (size_t)width, fp) != (size_t)width ||
        fwrite(s->erow, sizeof(float), (size_t)width, fp) != (size_t)width || fwrite(&crc, sizeof crc, 1, fp) != 1) {
        char path[4096];
        spill_path(s, i, path, sizeof path);
        return zl_error_set("sweep: %s: cannot write logits (%s)", path, strerror(errno));
    }
    return 0;
}

/* Stores the logits of the last pass of every row for configuration i. */
static int collect(zl_sweep *s, int i, const int *feat, int n)
{
    const float *st, *en;
    int W = zl_bert_prefix_logits(s->pre, &st, &en);
    for (int r = 0; r < n; r++) {
        const zl_squad_feature *ft = &s->f->items[feat[r]];
        const float *sl = st + (size_t)r * W;
        const float *el = en + (size_t)r * W;
        int len = ft->length, npad = W - len;
        memcpy(s->srow, sl, (size_t)len * sizeof(float));
        memcpy(s->erow, el, (size_t)len * sizeof(float));
        int k = npad < s->o.keep_pad ? npad : s->o.keep_pad;
        if (k > 0) {
            int m = top_k_in_order(sl + len, npad, k, s->pick);
            for (int j = 0; j < m; j++) s->srow[len + j] = sl[len + s->pick[j]];
            m = top_k_in_order(el + len, npad, k, s->pick);
            for (int j = 0; j < m; j++) s->erow[len + j] = el[len + s->pick[j]];
        }
        if (store_row(s, i, feat[r], len + (k > 0 ? k : 0)) != 0) return -1;
    }
    return 0;
}

/* Configuration i's logits of the last pass, unless released. */
static int keep(zl_sweep *s, int i, const batch_ref *br)
{
    return s->released[i] ? 0 : collect(s, i, br->feat, br->n);
}

/* Configuration i as one pass of its own from layer 0. */
static int run_full(zl_sweep *s, int i, const zl_bert_inputs *in, const batch_ref *br)
{
    zl_bert_forward_opts fo;
    zl_bert_forward_opts_init(&fo);
    fo.zone = s->cfg[i].zone;
    fo.mask_layer = s->cfg[i].zone == ZL_ZONE_NONE ? -1 : s->glayer[i];
    fo.masks = s->cfg[i].mask;
    fo.n_masks = s->cfg[i].mask ? 1 : 0;
    fo.head_mask = s->cfg[i].head_mask;
    if (zl_bert_prefix_forward(s->pre, in, &fo) != 0) return -1;
    return keep(s, i, br);
}

/* A one-layer configuration from the cached input of its layer (the rows path, narrowed
 * to the batch's width for `all`, when uses_rows), or alone (a single decode): after the
 * unmasked prefix it needs, the same arithmetic either way. */
static int run_config(zl_sweep *s, int i, const zl_bert_inputs *in, const zl_bert_inputs *tail,
                      int alone, const batch_ref *br)
{
    int l = s->cfg[i].layer, rows = uses_rows(s, i);
    if (l < 0 || (alone && !rows)) return run_full(s, i, in, br);
    if (alone && zl_bert_prefix_run(s->pre, in, rows_prefix(s, i)) != 0) return -1;
    if (zl_bert_prefix_zone(s->pre, s->cfg[i].zone, l, rows, narrows(s, i) ? tail : NULL) != 0)
        return -1;
    return keep(s, i, br);
}

/* One padding group of batch b: the configurations with needs_max == g. */
static int run_group(zl_sweep *s, const batch_ref *br, int g)
{
    group_plan p = plan_group(s, g);
    if (p.count == 0) return 0;
    int n = br->n, Wn = br->Wn, W = group_width(br, g), any_narrow = 0;
    if (fill_inputs(s, &s->in[0], br->feat, n, W) != 0) return -1;
    for (int i = 0; i < s->n_cfg; i++) any_narrow |= live(s, i, g) && narrows(s, i);
    if (any_narrow && fill_inputs(s, &s->in[1], br->feat, n, Wn) != 0) return -1;
    const inbuf *a = &s->in[0], *t = &s->in[1];
    zl_bert_inputs in = {n, W, a->ids, a->types, a->mask, a->qm, a->pm};
    zl_bert_inputs tail = {n, Wn, t->ids, t->types, t->mask, t->qm, t->pm};
    /* every-layer masks: full passes, before the shared pass fills the cache */
    for (int i = 0; i < s->n_cfg; i++)
        if (live(s, i, g) && !is_base(s, i) && s->cfg[i].layer < 0 && run_full(s, i, &in, br) != 0)
            return -1;
    /* alone (a single decode): the same arithmetic as shared-prefix, one pass */
    if (p.alone >= 0) return run_config(s, p.alone, &in, &tail, 1, br);
    int L = s->m->config.num_hidden_layers;
    if (p.prefix > 0 && (zl_bert_prefix_run(s->pre, &in, p.prefix) != 0 ||
                         (p.prefix == L && p.base >= 0 && keep(s, p.base, br) != 0)))
        return -1;
    /* deepest layer first: a pass at layer l overwrites the cache after l only; at each
       layer the rows path first: it reads the unmasked output that the others overwrite */
    for (int l = L - 1; l >= 0; l--)
        for (int rows_first = 1; rows_first >= 0; rows_first--)
            for (int i = 0; i < s->n_cfg; i++)
                if (live(s, i, g) && s->cfg[i].zone != ZL_ZONE_NONE && s->cfg[i].layer == l &&
                    (uses_rows(s, i) && !narrows(s, i)) == rows_first &&
                    run_config(s, i, &in, &tail, 0, br) != 0)
                    return -1;
    return 0;
}

int zl_sweep_step(zl_sweep *s, int b)
{
    if (b < 0 || b >= s->n_batches)
        return zl_error_set("sweep: batch %d out of range (%d batches)", b + 1, s->n_batches);
    batch_ref br = {NULL, 0, 0, s->max_seq};
    br.n = zl_sweep_batch_features(s, b, &br.feat);
    br.Wn = batch_width(s, br.feat, br.n);
    if (run_group(s, &br, 0) != 0 || run_group(s, &br, 1) != 0) return -1;
    return 0;
}

/* Reads the records of an open spill file up to byte upto (-1: to its end), each checked
 * (header in range, whole, checksum); adds them to c when c is not NULL. On a record that
 * does not verify, sets an error naming path, record and byte. */
static int scan_spill(const zl_sweep *s, FILE *fp, const char *path, int64_t upto,
                      zl_squad_collector *c, float *buf)
{
    int64_t pos = 0;
    int rec = 0;
    int32_t head[2];
    while (upto < 0 || pos < upto) {
        rec++;
        size_t got = fread(head, 1, sizeof head, fp);
        if (got == 0 && upto < 0 && !ferror(fp)) return 0;
        int w = got == sizeof head ? head[1] : 0;
        if (got != sizeof head || head[0] < 0 || head[0] >= s->f->count || w < 1 ||
            w > s->max_seq + s->o.keep_pad)
            return zl_error_set("sweep: %s: logits record %d at byte %lld does not verify (%s)",
                                path, rec, (long long)pos, got != sizeof head ? "truncated" : "length");
        int64_t size = (int64_t)sizeof head + (int64_t)w * 2 * (int64_t)sizeof(float) + 4;
        uint32_t crc;
        if ((upto >= 0 && pos + size > upto) || fread(buf, sizeof(float), (size_t)w * 2, fp) != (size_t)w * 2 ||
            fread(&crc, sizeof crc, 1, fp) != 1)
            return zl_error_set("sweep: %s: logits record %d at byte %lld does not verify (truncated)",
                                path, rec, (long long)pos);
        if (crc != record_crc(head, buf, buf + w, w))
            return zl_error_set("sweep: %s: logits record %d at byte %lld does not verify (checksum)",
                                path, rec, (long long)pos);
        if (c && zl_squad_collector_add(c, head[0], 1, w, buf, buf + w) != 0) return -1;
        pos += size;
    }
    return 0;
}

static float *record_buffer(const zl_sweep *s)
{
    return malloc(((size_t)s->max_seq + s->o.keep_pad + 1) * 2 * sizeof(float));
}

/* Reads configuration i's spill file into a new collector. */
static zl_squad_collector *read_spill(const zl_sweep *s, int i)
{
    char path[4096];
    spill_path(s, i, path, sizeof path);
    if (fflush(s->fp[i]) != 0) {
        zl_error_set("sweep: %s: cannot write logits (%s)", path, strerror(errno));
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        zl_error_set("sweep: %s: cannot read logits (%s)", path, strerror(errno));
        return NULL;
    }
    zl_squad_collector *c = zl_squad_collector_new(s->f);
    float *buf = record_buffer(s);
    int rc = c && buf ? scan_spill(s, fp, path, -1, c, buf) : zl_error_set("sweep: out of memory");
    if (rc == 0 && ferror(fp)) rc = zl_error_set("sweep: %s: read error", path);
    fclose(fp);
    free(buf);
    if (rc != 0) {
        zl_squad_collector_free(c);
        return NULL;
    }
    return c;
}

zl_squad_predictions *zl_sweep_decode(const zl_sweep *s, int i, const zl_squad *ds,
                                      const zl_squad_decode_opts *o)
{
    if (i < 0 || i >= s->n_cfg || s->released[i]) {
        zl_error_set("sweep: configuration %d has no logits (out of range or released)", i + 1);
        return NULL;
    }
    zl_squad_collector *c = s->spill_dir ? read_spill(s, i) : s->coll[i];
    if (!c) return NULL;
    zl_squad_predictions *p = NULL;
    if (zl_squad_collector_filled(c) != s->f->count)
        zl_error_set("sweep: configuration %d has logits for %d of %d features (run every batch "
                     "first)", i + 1, zl_squad_collector_filled(c), s->f->count);
    else
        p = zl_squad_decode(ds, s->f, c, o);
    if (s->spill_dir) zl_squad_collector_free(c);
    return p;
}

void zl_sweep_release(zl_sweep *s, int i)
{
    if (i < 0 || i >= s->n_cfg || s->released[i]) return;
    s->released[i] = 1;
    zl_squad_collector_free(s->coll[i]);
    s->coll[i] = NULL;
    if (s->spill_dir && s->fp[i]) {
        char path[4096];
        fclose(s->fp[i]);
        s->fp[i] = NULL;
        spill_path(s, i, path, sizeof path);
        remove(path);
    }
}

int zl_sweep_sync(zl_sweep *s, int64_t *offsets)
{
    for (int i = 0; i < s->n_cfg; i++) {
        offsets[i] = -1;
        if (!s->spill_dir || s->released[i]) continue;
        long pos;
        /* fsync too: the offsets are recorded next as the state a resume trusts */
        if (fflush(s->fp[i]) != 0 || (pos = ftell(s->fp[i])) < 0 || fsync(fileno(s->fp[i])) != 0) {
            char path[4096];
            spill_path(s, i, path, sizeof path);
            return zl_error_set("sweep: %s: cannot write logits (%s)", path, strerror(errno));
        }
        offsets[i] = pos;
    }
    return 0;
}

int zl_sweep_verify(const zl_sweep *s, const int64_t *offsets)
{
    if (!s->spill_dir) return zl_error_set("sweep: resuming needs spill files (spill_dir)");
    float *buf = record_buffer(s);
    if (!buf) return zl_error_set("sweep: out of memory");
    int rc = 0;
    for (int i = 0; i < s->n_cfg && rc == 0; i++) {
        if (s->released[i]) continue;
        char path[4096];
        spill_path(s, i, path, sizeof path);
        if (offsets[i] < 0) {
            rc = zl_error_set("sweep: %s: no offset recorded for it", path);
            break;
        }
        FILE *fp = fopen(path, "rb");
        if (!fp) {
            rc = zl_error_set("sweep: %s: cannot read logits (%s)", path, strerror(errno));
            break;
        }
        rc = scan_spill(s, fp, path, offsets[i], NULL, buf);
        fclose(fp);
    }
    free(buf);
    return rc;
}

int zl_sweep_resume(zl_sweep *s, const int64_t *offsets)
{
    if (!s->spill_dir) return zl_error_set("sweep: resuming needs spill files (spill_dir)");
    for (int i = 0; i < s->n_cfg; i++) {
        if (s->released[i]) continue;
        char path[4096];
        spill_path(s, i, path, sizeof path);
        if (s->fp[i]) fclose(s->fp[i]);
        s->fp[i] = NULL;
        FILE *fp = fopen(path, "rb");
        long size = -1;
        if (fp && fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
        if (fp) fclose(fp);
        if (size < offsets[i])
            return zl_error_set("sweep: %s: shorter (%ld bytes) than its checkpoint (%lld bytes)",
                                path, size, (long long)offsets[i]);
        if (offsets[i] < 0 || truncate(path, (off_t)offsets[i]) != 0)
            return zl_error_set("sweep: %s: cannot resume at byte %lld (%s)", path,
                                (long long)offsets[i], offsets[i] < 0 ? "no offset" : strerror(errno));
        if (open_spill(s, i, "ab") != 0) return -1;
    }
    return 0;
}
