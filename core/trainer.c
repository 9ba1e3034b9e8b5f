/* trainer.c — one model's fine-tuning state and step (see trainer.h). */
#define _POSIX_C_SOURCE 200809L /* lstat */
#include "trainer.h"

#include "error.h"
#include "io.h"
#include "mlm.h"
#include "tensor.h" /* zl_get_threads */
#include "train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct zl_trainer {
    zl_bert *m;                 /* borrowed */
    zl_trainer_config cfg;
    zl_optim *opt;
    zl_trainer_ws *w;           /* micro_batch x max_seq_length, dropout masks if any */
    int n_params;
    float **pp, **gp;           /* per-tensor pointers into params / grads */
    int n_micro;                /* micro-batches accumulated since the last apply */
    int micro_j;                /* >= 0: the global index of the next micro-batch (dropout
                                   seed) when this rank runs only some of them (dist.h) */
    double loss_sum;
    int64_t tokens;
    int32_t *batch;             /* gather buffers: 5 x [micro_batch, max_seq_length] + 2 x [micro_batch] */
    zl_mlm_ws mlm;              /* masked-LM models: the head's scratch */
    int32_t *mbatch;            /* masked-LM models: positions, labels [micro_batch, P] */
    float *mweights;            /* [micro_batch, P] */
};

struct zl_trainer_ws {
    zl_bert_acts acts;          /* ZL_BERT_ACTS_BACKWARD (| DROPOUT once needed) */
    zl_bert_backward_ws ws;
    zl_bert_params grads;
};

zl_trainer_ws *zl_trainer_ws_new(const zl_bert_config *c)
{
    zl_trainer_ws *w = calloc(1, sizeof *w);
    if (!w) {
        zl_error_set("training workspace: out of memory");
        return NULL;
    }
    if (zl_bert_params_alloc(&w->grads, c) != 0) {
        free(w);
        return NULL;
    }
    return w;
}

void zl_trainer_ws_free(zl_trainer_ws *w)
{
    if (!w) return;
    zl_bert_acts_free(&w->acts);
    zl_bert_backward_ws_free(&w->ws);
    zl_bert_params_free(&w->grads);
    free(w);
}

const zl_bert_params *zl_trainer_ws_grads(const zl_trainer_ws *w) { return &w->grads; }

int zl_trainer_ws_reserve(zl_trainer_ws *w, const zl_bert_config *c, int B, int S, int dropout)
{
    int flags = ZL_BERT_ACTS_BACKWARD | (dropout ? ZL_BERT_ACTS_DROPOUT : 0);
    if (!w->acts.memory || w->acts.maxB < B || w->acts.maxS < S ||
        (dropout && !(w->acts.flags & ZL_BERT_ACTS_DROPOUT))) {
        int nb = w->acts.memory && w->acts.maxB > B ? w->acts.maxB : B;
        int ns = w->acts.memory && w->acts.maxS > S ? w->acts.maxS : S;
        if (w->acts.memory) flags |= w->acts.flags;
        zl_bert_acts_free(&w->acts);
        if (zl_bert_acts_alloc(&w->acts, c, nb, ns, flags) != 0) return -1;
    }
    if (!w->ws.memory || w->ws.maxB < B || w->ws.maxS < S) {
        int nb = w->ws.memory && w->ws.maxB > B ? w->ws.maxB : B;
        int ns = w->ws.memory && w->ws.maxS > S ? w->ws.maxS : S;
        zl_bert_backward_ws_free(&w->ws);
        if (zl_bert_backward_ws_alloc(&w->ws, c, nb, ns) != 0) return -1;
    }
    return 0;
}

int zl_trainer_ws_loss_and_grads(zl_trainer_ws *w, zl_bert *m, const zl_bert_inputs *in,
                                 const zl_bert_forward_opts *o, const int32_t *start_pos,
                                 const int32_t *end_pos, int accumulate, double *loss)
{
    int drop = o->dropout_prob > 0 || o->attn_dropout_prob > 0;
    if (zl_trainer_ws_reserve(w, &m->config, in->B, in->S, drop) != 0) return -1;
    if (!accumulate) memset(w->grads.memory, 0, (size_t)w->grads.count * sizeof(float));
    return zl_bert_loss_and_grads(m, &w->acts, &w->ws, in, o, start_pos, end_pos, &w->grads,
                                  loss);
}

void zl_trainer_config_default(zl_trainer_config *c)
{
    memset(c, 0, sizeof *c);
    c->micro_batch = 8;
    c->max_seq_length = 384;
    c->dropout = 0.1f;
    c->attn_dropout = 0.1f;
    c->seed = 1;
    c->max_predictions = 20;
    zl_optim_config_default(&c->optim);
}

void zl_trainer_free(zl_trainer *t)
{
    if (!t) return;
    zl_optim_free(t->opt);
    zl_trainer_ws_free(t->w);
    free(t->pp);
    free(t->gp);
    free(t->batch);
    zl_mlm_ws_free(&t->mlm);
    free(t->mbatch);
    free(t->mweights);
    free(t);
}

zl_trainer *zl_trainer_new(zl_bert *m, const zl_trainer_config *c)
{
    if (!m || !c) {
        zl_error_set("trainer: needs a model and a configuration");
        return NULL;
    }
    if (c->micro_batch < 1 || c->micro_batch > (1 << 16)) {
        zl_error_set("trainer: micro_batch must be in 1..65536 (got %d)", c->micro_batch);
        return NULL;
    }
    if (c->max_seq_length < 2 || c->max_seq_length > m->config.max_position_embeddings) {
        zl_error_set("trainer: max_seq_length %d must be in 2..%d (the model's "
                     "max_position_embeddings)", c->max_seq_length,
                     m->config.max_position_embeddings);
        return NULL;
    }
    if (!(c->dropout >= 0 && c->dropout < 1) || !(c->attn_dropout >= 0 && c->attn_dropout < 1)) {
        zl_error_set("trainer: dropout must be in [0, 1) (got %g and %g)", c->dropout,
                     c->attn_dropout);
        return NULL;
    }
    if (m->config.mlm_head && (c->max_predictions < 1 || c->max_predictions > c->max_seq_length)) {
        zl_error_set("trainer: max_predictions must be in 1..%d (max_seq_length) (got %d)",
                     c->max_seq_length, c->max_predictions);
        return NULL;
    }
    zl_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        zl_error_set("trainer: out of memory");
        return NULL;
    }
    t->m = m;
    t->cfg = *c;
    t->micro_j = -1;
    int n = zl_bert_param_count(&m->config);
    t->n_params = n;
    const char **names = calloc((size_t)n, sizeof *names);
    int64_t *sizes = calloc((size_t)n, sizeof *sizes);
    zl_bert_param_info *infos = calloc((size_t)n, sizeof *infos);
    t->pp = calloc((size_t)n, sizeof *t->pp);
    t->gp = calloc((size_t)n, sizeof *t->gp);
    size_t MB = (size_t)c->micro_batch, S = (size_t)c->max_seq_length;
    t->batch = malloc((5 * MB * S + 2 * MB) * sizeof(int32_t));
    int ok = names && sizes && infos && t->pp && t->gp && t->batch;
    if (!ok) zl_error_set("trainer: out of memory");
    if (ok) ok = (t->w = zl_trainer_ws_new(&m->config)) != NULL;
    for (int i = 0; ok && i < n; i++) {
        zl_bert_param_info gi;
        ok = zl_bert_param_info_at(&m->config, &m->params, i, &infos[i]) == 0 &&
             zl_bert_param_info_at(&m->config, &t->w->grads, i, &gi) == 0;
        if (!ok) break;
        names[i] = infos[i].name;
        sizes[i] = infos[i].numel;
        t->pp[i] = infos[i].data;
        t->gp[i] = gi.data;
    }
    if (ok) ok = (t->opt = zl_optim_new(n, names, sizes, &c->optim)) != NULL;
    if (ok) ok = zl_trainer_ws_reserve(t->w, &m->config, c->micro_batch, c->max_seq_length,
                                       c->dropout > 0 || c->attn_dropout > 0) == 0;
    if (ok && m->config.mlm_head) {
        size_t MP = MB * (size_t)c->max_predictions;
        ok = zl_mlm_ws_alloc(&t->mlm, &m->config, (int)MP) == 0;
        if (ok) {
            t->mbatch = malloc(2 * MP * sizeof(int32_t));
            t->mweights = malloc(MP * sizeof(float));
            ok = t->mbatch && t->mweights;
            if (!ok) zl_error_set("trainer: out of memory");
        }
    }
    free(names);
    free(sizes);
    free(infos);
    if (!ok) {
        zl_error_prefix("trainer: ");
        zl_trainer_free(t);
        return NULL;
    }
    return t;
}

const zl_trainer_config *zl_trainer_get_config(const zl_trainer *t) { return &t->cfg; }
zl_optim *zl_trainer_optim(zl_trainer *t) { return t->opt; }
int64_t zl_trainer_get_step(const zl_trainer *t) { return zl_optim_get_step(t->opt); }

void zl_trainer_phases(zl_trainer *t, double *seconds, int reset)
{
    double *ph = t->w->ws.phase_s;
    if (seconds) {
        memcpy(seconds, ph, ZL_PHASE_COUNT * sizeof *ph);
        /* the backward's time that none of its named parts measured */
        double named = 0;
        for (int i = ZL_PHASE_DWEIGHT; i < ZL_PHASE_OTHER; i++) named += ph[i];
        seconds[ZL_PHASE_OTHER] = ph[ZL_PHASE_BACKWARD] - named;
    }
    if (reset) memset(ph, 0, ZL_PHASE_COUNT * sizeof *ph);
}

int64_t zl_trainer_bytes(const zl_trainer *t)
{
    /* gradients + Adam m and v (one value per parameter each) + activations + scratch */
    int64_t MP = t->mbatch ? (int64_t)t->cfg.micro_batch * t->cfg.max_predictions : 0;
    return (t->w->grads.count * 3 + t->w->acts.count + t->w->ws.count + t->mlm.count) *
               (int64_t)sizeof(float) +
           (5 * (int64_t)t->cfg.micro_batch * t->cfg.max_seq_length + 2 * t->cfg.micro_batch) *
               (int64_t)sizeof(int32_t) + 3 * MP * 4;
}

int64_t zl_trainer_estimate_bytes(const zl_bert_config *c, int Bi, int Si)
{
    int64_t P = zl_bert_params_numel(c);
    if (P < 0 || Bi < 1 || Si < 1) return -1;
    int64_t B = Bi, S = Si, H = c->hidden_size, NH = c->num_attention_heads,
            I = c->intermediate_size, E = c->embedding_size, L = c->num_hidden_layers;
    int64_t BS = B * S;
    /* the layouts of zl_bert_acts_alloc (BACKWARD | DROPOUT) and zl_bert_backward_ws_alloc;
     * tests/lua/train_spec.lua checks the sum against what a trainer allocates */
    int64_t layer = 3 * BS * H + B * NH * S * S + 3 * BS * H + 4 * BS + 2 * BS * I + BS * H +
                    B * NH * S * S + 2 * BS * H;
    int64_t acts = 5 * BS * E + 2 * BS + (L + 1) * BS * H + L * layer + B * NH * S * S + 2 * BS +
                   L * NH + L;
    int64_t ws = 4 * BS + 8 * BS * H + BS * I + 2 * BS * E + zl_get_threads() * 2 * S * S;
    int64_t gather = 5 * BS + 2 * B;
    if (c->mlm_head) { /* the head's scratch and slots at the default max_predictions 20 */
        int64_t MP = B * 20;
        ws += zl_mlm_ws_numel(c, (int)MP);
        gather += 3 * MP;
    }
    return (4 * P + acts + ws + gather) * 4;
}


/* No micro-batch pending. */
static void clear_sums(zl_trainer *t)
{
    t->n_micro = 0;
    t->loss_sum = 0;
    t->tokens = 0;
}

void zl_trainer_discard(zl_trainer *t)
{
    zl_optim_grads_zero(t->opt, t->gp);
    clear_sums(t);
}

/* Dropout of micro-batch j of global step s: seed mix(seed, s, j) (trainer.h). */
static void micro_opts(zl_trainer *t, int64_t step, zl_bert_forward_opts *o)
{
    zl_bert_forward_opts_init(o);
    o->dropout_prob = t->cfg.dropout;
    o->attn_dropout_prob = t->cfg.attn_dropout;
    int j = t->micro_j >= 0 ? t->micro_j : t->n_micro;
    t->micro_j = -1;
    /* (seed, step, micro-batch) decorrelated into one dropout seed */
    uint64_t s = zl_splitmix64(t->cfg.seed ^ zl_splitmix64((uint64_t)step));
    o->seed = zl_splitmix64(s + (uint64_t)j);
}

static int micro_done(zl_trainer *t, const zl_bert_inputs *in, int64_t step, double l,
                      double *loss);

int zl_trainer_micro_step(zl_trainer *t, const zl_bert_inputs *in, const int32_t *start_pos,
                          const int32_t *end_pos, double *loss)
{
    int64_t step = zl_optim_get_step(t->opt);
    if (in->B < 1 || in->B > t->cfg.micro_batch || in->S < 1 || in->S > t->cfg.max_seq_length)
        return zl_error_set("trainer: step %lld: micro-batch %d x %d exceeds the trainer's %d x %d",
                            (long long)step, in->B, in->S, t->cfg.micro_batch,
                            t->cfg.max_seq_length);
    for (int b = 0; b < in->B; b++)
        if (start_pos[b] < 0 || start_pos[b] >= in->S || end_pos[b] < 0 || end_pos[b] >= in->S)
            return zl_error_set("trainer: step %lld: row %d has answer positions %d..%d outside "
                                "0..%d", (long long)step, b, start_pos[b], end_pos[b], in->S - 1);
    zl_bert_forward_opts o;
    micro_opts(t, step, &o);
    double l = 0;
    if (zl_trainer_ws_loss_and_grads(t->w, t->m, in, &o, start_pos, end_pos, 1, &l) != 0) {
        zl_trainer_discard(t);
        zl_error_prefix("trainer: step %lld: ", (long long)step);
        return -1;
    }
    return micro_done(t, in, step, l, loss);
}

int zl_trainer_micro_step_mlm(zl_trainer *t, const zl_bert_inputs *in, int P,
                              const int32_t *positions, const int32_t *labels,
                              const float *weights, double *loss)
{
    int64_t step = zl_optim_get_step(t->opt);
    if (!t->m->config.mlm_head)
        return zl_error_set("trainer: the model has no masked-LM head (load it for pretraining)");
    if (in->B < 1 || in->B > t->cfg.micro_batch || in->S < 1 || in->S > t->cfg.max_seq_length ||
        P < 1 || P > t->cfg.max_predictions)
        return zl_error_set("trainer: step %lld: micro-batch %d x %d with %d predictions exceeds "
                            "the trainer's %d x %d with %d", (long long)step, in->B, in->S, P,
                            t->cfg.micro_batch, t->cfg.max_seq_length, t->cfg.max_predictions);
    zl_bert_forward_opts o;
    micro_opts(t, step, &o);
    zl_mlm_batch mb = {P, positions, labels, weights};
    double l = 0;
    if (zl_trainer_ws_reserve(t->w, &t->m->config, in->B, in->S,
                              o.dropout_prob > 0 || o.attn_dropout_prob > 0) != 0 ||
        zl_mlm_loss_and_grads(t->m, &t->w->acts, &t->w->ws, &t->mlm, in, &o, &mb, &t->w->grads,
                              &l) != 0) {
        zl_trainer_discard(t);
        zl_error_prefix("trainer: step %lld: ", (long long)step);
        return -1;
    }
    return micro_done(t, in, step, l, loss);
}

/* After a micro-batch's loss and gradients: a non-finite loss drops the step. */
static int micro_done(zl_trainer *t, const zl_bert_inputs *in, int64_t step, double l,
                      double *loss)
{
    if (!isfinite(l)) {
        zl_trainer_discard(t);
        return zl_error_set("trainer: step %lld: the loss is not finite (%s); the weights are "
                            "left as they were before this step (try a lower learning rate)",
                            (long long)step, isnan(l) ? "NaN" : "infinite");
    }
    t->n_micro++;
    t->loss_sum += l;
    t->tokens += (int64_t)in->B * in->S;
    if (loss) *loss = l;
    return 0;
}

int zl_trainer_apply(zl_trainer *t, zl_trainer_result *r)
{
    int64_t step = zl_optim_get_step(t->opt);
    if (t->n_micro < 1) return zl_error_set("trainer: step %lld: no micro-batch to apply",
                                            (long long)step);
    double *ph = t->w->ws.phase_s, t0 = zl_phase_clock();
    if (t->n_micro > 1) zl_optim_grads_scale(t->opt, t->gp, 1.0f / (float)t->n_micro);
    double norm = 0, lr = 0;
    double loss = t->loss_sum / t->n_micro;
    int64_t tokens = t->tokens;
    double t1 = zl_phase_clock();
    ph[ZL_PHASE_ACCUMULATE] += t1 - t0;
    /* the update leaves the gradients zero for the next step */
    int rc = zl_optim_step_zero(t->opt, t->pp, t->gp, &norm, &lr);
    double t2 = zl_phase_clock();
    ph[ZL_PHASE_OPTIMIZER] += t2 - t1;
    if (rc != 0) {
        /* optim's message already names the step; the weights were not touched */
        zl_trainer_discard(t);
        ph[ZL_PHASE_ACCUMULATE] += zl_phase_clock() - t2;
        zl_error_prefix("trainer: ");
        return -1;
    }
    clear_sums(t);
    if (r) {
        r->loss = loss;
        r->grad_norm = norm;
        r->lr = lr;
        r->step = zl_optim_get_step(t->opt);
        r->tokens = tokens;
    }
    return 0;
}

/* The end of a global step: under mpirun the gradient block and the step's sums are
 * added over the ranks (a rank that failed keeps its error, the others report it), then
 * the update is applied. */
static int reduce_and_apply(zl_trainer *t, int failed, int64_t step, zl_trainer_result *r)
{
    const zl_dist *d = t->cfg.dist;
    int size = zl_dist_size(d);
    if (size > 1) {
        double tot[4] = {t->loss_sum, (double)t->n_micro, (double)t->tokens, (double)failed};
        double t0 = zl_phase_clock();
        int bad = zl_dist_allreduce_sum(d, t->w->grads.memory, t->w->grads.count) != 0 ||
                  zl_dist_allreduce_sum_f64(d, tot, 4) != 0;
        t->w->ws.phase_s[ZL_PHASE_ACCUMULATE] += zl_phase_clock() - t0;
        if (bad) {
            zl_trainer_discard(t);
            return -1;
        }
        if (failed) {
            zl_trainer_discard(t);
            return -1;
        }
        if (tot[3] > 0) {
            zl_trainer_discard(t);
            return zl_error_set("trainer: step %lld: another rank failed (see its message)",
                                (long long)step);
        }
        t->loss_sum = tot[0];
        t->n_micro = (int)tot[1];
        t->tokens = (int64_t)tot[2];
    }
    return zl_trainer_apply(t, r);
}


/* The width of a micro-batch of rows idx[0..B-1] (features or instances, `what`, count of
 * them, len(src, k) tokens each): pad_to, or the longest row when pad_to is 0. An index
 * outside 0..count-1 or a row longer than the width allowed discards the step (error set). */
static int row_width(zl_trainer *t, int64_t step, const int32_t *idx, int B, int count,
                     int (*len_of)(const void *, int), const void *src, const char *what,
                     int pad_to, int *width)
{
    int S = pad_to, limit = pad_to > 0 ? pad_to : t->cfg.max_seq_length;
    for (int i = 0; i < B; i++) {
        int k = idx[i];
        if (k < 0 || k >= count) {
            zl_trainer_discard(t);
            return zl_error_set("trainer: step %lld: %s index %d outside 0..%d", (long long)step,
                                what, k, count - 1);
        }
        int len = len_of(src, k);
        if (pad_to == 0 && len > S) S = len;
        if (len > limit) {
            zl_trainer_discard(t);
            return zl_error_set("trainer: %s %d has %d tokens, more than %d", what, k, len, limit);
        }
    }
    *width = S;
    return 0;
}

static int feature_len(const void *f, int k)
{
    return ((const zl_squad_features *)f)->items[k].length;
}

/* an instance is its wordpieces between [CLS] and [SEP] */
static int instance_len(const void *d, int k)
{
    const zl_mlm_data *m = d;
    return (int)(m->offset[k + 1] - m->offset[k]) + 2;
}

int zl_trainer_step_features(zl_trainer *t, const zl_squad_features *f, const int32_t *idx,
                             int n, int pad_to, zl_trainer_result *r)
{
    int64_t step = zl_optim_get_step(t->opt);
    if (!f || !idx || n < 1) return zl_error_set("trainer: step %lld: no features", (long long)step);
    if (!f->opts.training)
        return zl_error_set("trainer: features were built without training positions");
    if (pad_to < 0 || pad_to > t->cfg.max_seq_length)
        return zl_error_set("trainer: pad_to %d exceeds max_seq_length %d", pad_to,
                            t->cfg.max_seq_length);
    zl_trainer_discard(t);
    int MB = t->cfg.micro_batch;
    /* With a communicator of several ranks (cfg.dist), every rank takes micro-batches
     * j = rank, rank + size, ... of the global batch (with their own dropout seeds j), then
     * the gradient block is summed over the ranks and every rank applies the same update:
     * the model of one process, up to the order of the float sums. */
    const zl_dist *d = t->cfg.dist;
    int rank = zl_dist_rank(d), size = zl_dist_size(d);
    int failed = 0;
    for (int first = 0; first < n; first += MB) {
        int B = n - first < MB ? n - first : MB, S = pad_to;
        if (row_width(t, step, idx + first, B, f->count, feature_len, f, "feature", pad_to, &S))
            return -1;
        if ((first / MB) % size != rank || failed) continue;
        size_t BS = (size_t)B * (size_t)S;
        int32_t *ids = t->batch, *types = ids + BS, *mask = types + BS, *qm = mask + BS,
                *pm = qm + BS, *sp = pm + BS, *ep = sp + B;
        zl_squad_batch bt = {ids, types, mask, qm, pm, sp, ep};
        if (zl_squad_features_batch(f, idx + first, 0, B, S, &bt) != 0) {
            zl_error_prefix("trainer: step %lld: ", (long long)step);
            if (size < 2) {
                zl_trainer_discard(t);
                return -1;
            }
            failed = 1;
            continue;
        }
        zl_bert_inputs in = {B, S, ids, types, mask, qm, pm};
        t->micro_j = first / MB;
        if (zl_trainer_micro_step(t, &in, sp, ep, NULL) != 0) {
            if (size < 2) return -1;
            failed = 1; /* keep the error; the other ranks still wait in the reduction */
        }
    }
    return reduce_and_apply(t, failed, step, r);
}

int zl_trainer_step_mlm(zl_trainer *t, const zl_mlm_data *d, const int32_t *idx, int n,
                        int pad_to, int cls_id, int sep_id, const zl_mlm_mask_opts *mo,
                        zl_trainer_result *r)
{
    int64_t step = zl_optim_get_step(t->opt);
    if (!t->m->config.mlm_head)
        return zl_error_set("trainer: the model has no masked-LM head (load it for pretraining)");
    if (!d || !idx || n < 1 || !mo)
        return zl_error_set("trainer: step %lld: no instances", (long long)step);
    if (mo->max_predictions != t->cfg.max_predictions)
        return zl_error_set("trainer: masking with %d predictions per row, the trainer holds %d",
                            mo->max_predictions, t->cfg.max_predictions);
    if (pad_to < 0 || pad_to > t->cfg.max_seq_length)
        return zl_error_set("trainer: pad_to %d exceeds max_seq_length %d", pad_to,
                            t->cfg.max_seq_length);
    /* the options checked here, by every rank: only a rank holding a micro-batch masks, and
       a rank without one would wait in the reduction for the others for ever */
    if (zl_mlm_mask_opts_check(mo) != 0) return -1;
    zl_trainer_discard(t);
    const int MB = t->cfg.micro_batch, P = t->cfg.max_predictions;
    const int rank = zl_dist_rank(t->cfg.dist), size = zl_dist_size(t->cfg.dist);
    int failed = 0;
    for (int first = 0; first < n; first += MB) {
        int B = n - first < MB ? n - first : MB, S = pad_to;
        if (row_width(t, step, idx + first, B, d->count, instance_len, d, "instance", pad_to, &S))
            return -1;
        if ((first / MB) % size != rank || failed) continue;
        size_t BS = (size_t)B * (size_t)S;
        int32_t *ids = t->batch, *types = ids + BS, *mask = types + BS;
        int32_t *pos = t->mbatch, *lab = pos + (size_t)B * P;
        memset(ids, 0, 3 * BS * sizeof(int32_t));
        for (int i = 0; i < B; i++) {
            int k = idx[first + i];
            int64_t o0 = d->offset[k];
            int len = (int)(d->offset[k + 1] - o0) + 2;
            int32_t *row = ids + (size_t)i * S;
            row[0] = cls_id;
            memcpy(row + 1, d->tokens + o0, (size_t)(len - 2) * sizeof(int32_t));
            row[len - 1] = sep_id;
            for (int s2 = 0; s2 < len; s2++) mask[(size_t)i * S + s2] = 1;
            uint64_t seed = zl_splitmix64(
                zl_splitmix64(t->cfg.seed ^ zl_splitmix64((uint64_t)step) ^ 0x6D61736Bull) +
                (uint64_t)(first + i));
            if (zl_mlm_mask(row, len, d->word_start + o0, mo, seed, pos + (size_t)i * P,
                            lab + (size_t)i * P, t->mweights + (size_t)i * P) < 0) {
                if (size < 2) {
                    zl_trainer_discard(t);
                    return -1;
                }
                failed = 1; /* keep the error; the other ranks still wait in the reduction */
                break;
            }
        }
        if (failed) continue;
        zl_bert_inputs in = {B, S, ids, types, mask, NULL, NULL};
        t->micro_j = first / MB;
        if (zl_trainer_micro_step_mlm(t, &in, P, pos, lab, t->mweights, NULL) != 0) {
            if (size < 2) return -1;
            failed = 1;
        }
    }
    return reduce_and_apply(t, failed, step, r);
}

/* ---- checkpoint folders ---- */

static char *join2(const char *a, const char *b) { return zl_io_join(a, "/", b); }
static char *suffixed(const char *a, const char *suffix) { return zl_io_join(a, "", suffix); }

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The file a checkpoint folder being written receives last (after every other file is
 * durable): a `.new` folder holding it is complete, and newer than the swapped-in one. */
#define CKPT_MARK ".complete"

static int has_mark(const char *dir)
{
    char *p = join2(dir, CKPT_MARK);
    struct stat st;
    int yes = p && lstat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return yes;
}

/* Removes a flat folder (the files a checkpoint holds) and the folder itself; the
 * completion mark goes first, so a kill midway never leaves a marked partial folder. */
static int remove_flat_dir(const char *dir)
{
    if (has_mark(dir)) {
        char *m = join2(dir, CKPT_MARK);
        int bad = !m || zl_io_unlink(m) != 0;
        free(m);
        if (bad) return zl_error_set("%s: cannot remove %s", dir, CKPT_MARK);
    }
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : zl_error_set("%s: cannot open: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = join2(dir, e->d_name);
        if (!p || zl_io_unlink(p) != 0) rc = zl_error_set("%s: cannot remove %s", dir, e->d_name);
        free(p);
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0) rc = zl_error_set("%s: cannot remove: %s", dir, strerror(errno));
    return rc;
}

/* fsync of a folder so the renames inside it are durable. */
static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static char *parent_of(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash) return suffixed(".", "");
    if (slash == p) return suffixed("/", "");
    char *s = malloc((size_t)(slash - p) + 1);
    if (!s) return NULL;
    memcpy(s, p, (size_t)(slash - p));
    s[slash - p] = 0;
    return s;
}

/* Swaps the complete (marked) tmp in as dir: dir -> old, tmp -> dir, old removed. Every
 * kill point leaves the newest complete checkpoint findable: tmp while it is marked and
 * not yet renamed, dir after, and old only ever holds an older one. */
static int swap_in(const char *tmp, const char *dir, const char *old, const char *parent)
{
    if (remove_flat_dir(old) != 0) return -1;
    if (is_dir(dir) && zl_io_rename(dir, old) != 0)
        return zl_error_set("%s: cannot rename to %s: %s", dir, old, strerror(errno));
    if (zl_io_rename(tmp, dir) != 0)
        return zl_error_set("%s: cannot rename to %s: %s", tmp, dir, strerror(errno));
    sync_dir(parent);
    return remove_flat_dir(old);
}

int zl_trainer_save(const zl_trainer *t, const char *dir, const char *const *extra)
{
    char *tmp = suffixed(dir, ".new"), *old = suffixed(dir, ".old"), *parent = parent_of(dir);
    char *path = NULL;
    int rc = -1;
    if (!tmp || !old || !parent) {
        zl_error_set("%s: out of memory", dir);
        goto done;
    }
    /* a complete checkpoint a kill left unswapped is the newest: swap it in first, so
     * that writing this one never leaves an older one as the newest complete */
    if (has_mark(tmp) && swap_in(tmp, dir, old, parent) != 0) goto done;
    if (remove_flat_dir(tmp) != 0) goto done;
    if (mkdir(tmp, 0777) != 0) {
        zl_error_set("%s: cannot create folder: %s", tmp, strerror(errno));
        goto done;
    }
    if (zl_bert_save(t->m, tmp) != 0) goto done;
    if (!(path = join2(tmp, "optim.safetensors"))) {
        zl_error_set("%s: out of memory", dir);
        goto done;
    }
    if (zl_optim_save(t->opt, path) != 0) goto done;
    for (int i = 0; extra && extra[i] && extra[i + 1]; i += 2) {
        if (strchr(extra[i], '/') || !extra[i][0] || !strcmp(extra[i], "model.safetensors") ||
            !strcmp(extra[i], "optim.safetensors") || !strcmp(extra[i], "bert_config.json") ||
            !strcmp(extra[i], CKPT_MARK)) {
            zl_error_set("%s: bad extra checkpoint file name '%s'", dir, extra[i]);
            goto done;
        }
        free(path);
        if (!(path = join2(tmp, extra[i]))) {
            zl_error_set("%s: out of memory", dir);
            goto done;
        }
        if (zl_io_write_atomic(path, extra[i + 1], strlen(extra[i + 1])) != 0) goto done;
    }
    sync_dir(tmp);
    free(path);
    if (!(path = join2(tmp, CKPT_MARK))) {
        zl_error_set("%s: out of memory", dir);
        goto done;
    }
    if (zl_io_write_atomic(path, "", 0) != 0) goto done;
    sync_dir(tmp);
    if (swap_in(tmp, dir, old, parent) != 0) goto done;
    rc = 0;
done:
    if (rc != 0) zl_error_prefix("checkpoint: ");
    free(tmp);
    free(old);
    free(parent);
    free(path);
    return rc;
}

int zl_trainer_checkpoint_find(const char *dir, char *out, size_t out_len)
{
    char *old = suffixed(dir, ".old"), *tmp = suffixed(dir, ".new");
    if (!old || !tmp) {
        free(old);
        free(tmp);
        return zl_error_set("%s: out of memory", dir);
    }
    /* newest first: a marked .new (complete, a kill stopped its swap), dir, then .old */
    const char *use = has_mark(tmp) ? tmp : NULL;
    char *probe = join2(dir, "optim.safetensors");
    struct stat st;
    if (!use && probe && stat(probe, &st) == 0) use = dir;
    free(probe);
    if (!use) {
        probe = join2(old, "optim.safetensors");
        if (probe && stat(probe, &st) == 0) use = old;
        free(probe);
    }
    int rc = 0;
    if (!use) rc = zl_error_set("%s: no checkpoint there (no optim.safetensors)", dir);
    else if (strlen(use) + 1 > out_len) rc = zl_error_set("%s: path too long", use);
    else memcpy(out, use, strlen(use) + 1);
    free(old);
    free(tmp);
    return rc;
}

int zl_trainer_load(zl_trainer *t, const char *dir)
{
    int mlm = t->m->config.mlm_head;
    zl_bert *saved = mlm ? zl_bert_load_mlm(dir) : zl_bert_load(dir);
    if (!saved) return -1;
    int rc = -1;
    char *path = NULL;
    const zl_bert_config *a = &t->m->config, *b = &saved->config;
    if (saved->params.count != t->m->params.count || a->hidden_size != b->hidden_size ||
        a->num_hidden_layers != b->num_hidden_layers || a->vocab_size != b->vocab_size ||
        a->intermediate_size != b->intermediate_size || saved->fresh_qa_head ||
        saved->fresh_mlm_head) {
        zl_error_set("%s: the checkpoint's model does not match the model being trained", dir);
        goto done;
    }
    if (!(path = join2(dir, "optim.safetensors"))) {
        zl_error_set("%s: out of memory", dir);
        goto done;
    }
    if (zl_optim_load(t->opt, path) != 0) goto done; /* changes nothing on failure */
    memcpy(t->m->params.memory, saved->params.memory,
           (size_t)saved->params.count * sizeof(float));
    zl_trainer_discard(t);
    rc = 0;
done:
    free(path);
    zl_bert_free(saved);
    return rc;
}

int zl_trainer_permutation(int32_t *out, int64_t n, uint64_t seed, uint64_t epoch)
{
    if (n < 1 || n > INT32_MAX)
        return zl_error_set("trainer: permutation of %lld items (1..2^31-1)", (long long)n);
    for (int64_t i = 0; i < n; i++) out[i] = (int32_t)(i + 1);
    zl_rng r;
    zl_rng_seed(&r, seed * 0x9E3779B97F4A7C15ull ^ (epoch + 0x632BE59BD9B4E019ull));
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t j = zl_rng_next(&r) % (uint64_t)(i + 1); /* bias < 2^-32 for n < 2^31 */
        int32_t tmp = out[i];
        out[i] = out[j];
        out[j] = tmp;
    }
    return 0;
}
