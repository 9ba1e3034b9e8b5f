/* trainer.h — zonelab's fine-tuning step: thin glue that keeps the hot loop in C.
 * Owns the one training stack: the training workspace (zl_trainer_ws: the activations
 * kept for backward, with dropout masks, the backward scratch and the gradient block;
 * zl.optim.loss_and_grads uses it too) and, for one model it borrows, a workspace sized
 * for one micro-batch plus BERT's optimizer (optim.h); padded micro-batches of shuffled
 * SQuAD features (squad.h's batch builder, in the seeded order of zl_trainer_permutation),
 * shared over the ranks of the configuration's communicator (dist.h); and saving / loading
 * the whole training state (weights, Adam moments, step and caller files) as one
 * checkpoint folder, atomically.
 *
 *     zl_trainer_config c;
 *     zl_trainer_config_default(&c);              // dropout 0.1/0.1, BERT's optimizer
 *     c.micro_batch = 8; c.max_seq_length = 384; c.seed = 1;
 *     c.optim.lr = 3e-5; c.optim.total_steps = 1000;
 *     zl_trainer *t = zl_trainer_new(m, &c);
 *     zl_trainer_result r;
 *     zl_trainer_step_features(t, feats, order + k * 64, 64, 384, &r);  // one global step
 *     //  = for each micro-batch: forward with dropout + span loss + backward (adding);
 *     //    then apply: grads /= n_micro, clip, AdamWeightDecay, zero grads
 *     zl_trainer_save(t, "out/checkpoint", extra);  // extra: {"trainer.json", json, NULL}
 *     zl_trainer_free(t);
 *
 * Dropout of micro-batch j of global step s uses the seed mix(seed, s, j): a run
 * resumed at step s draws the same masks as an uninterrupted one. A non-finite loss
 * or gradient norm fails with an error naming the step and leaves the weights and
 * the optimizer untouched (the pending gradients are dropped).
 */
#ifndef ZL_TRAINER_H
#define ZL_TRAINER_H

#include <stdint.h>

#include "bert.h"
#include "dist.h"
#include "optim.h"
#include "squad.h"

typedef struct zl_trainer_config {
    int micro_batch;          /* rows per forward/backward: the activations' size */
    int max_seq_length;       /* longest sequence a micro-batch may have */
    float dropout;            /* hidden dropout in training (BERT: 0.1) */
    float attn_dropout;       /* attention-probabilities dropout (BERT: 0.1) */
    uint64_t seed;            /* dropout seed */
    zl_optim_config optim;    /* optimizer and schedule (total_steps required) */
    int max_predictions;      /* masked-LM models (config.mlm_head): prediction slots per row
                                 (max_predictions_per_seq; default 20) */
    const zl_dist *dist;      /* ranks sharing each global step (dist.h); NULL: this process alone */
} zl_trainer_config;

/* micro_batch 8, max_seq_length 384, dropout 0.1 / 0.1, seed 1, BERT's optimizer, one process. */
void zl_trainer_config_default(zl_trainer_config *c);

typedef struct zl_trainer_result {
    double loss;        /* mean of the micro-batch losses (each a batch mean) */
    double grad_norm;   /* global gradient norm before clipping */
    double lr;          /* learning rate of the update */
    int64_t step;       /* global step after the update */
    int64_t tokens;     /* positions processed (rows x padded length) in the step */
} zl_trainer_result;

/* ---- the training workspace: what one forward + backward of a model needs ----
 * The activations kept for backward (with dropout masks once asked for), the backward
 * scratch and one gradient block, grown on demand to the largest batch seen. The trainer
 * holds one; zl.optim.loss_and_grads holds one per model (lua/loptim.c). The gradient
 * block is allocated once: pointers into it stay valid until zl_trainer_ws_free. */
typedef struct zl_trainer_ws zl_trainer_ws;

zl_trainer_ws *zl_trainer_ws_new(const zl_bert_config *c);
void zl_trainer_ws_free(zl_trainer_ws *w);
/* Grows the workspace to at least B x S rows (and dropout masks when dropout != 0). */
int zl_trainer_ws_reserve(zl_trainer_ws *w, const zl_bert_config *c, int B, int S, int dropout);
/* Forward (with o's masks and dropout), span loss and backward of m on in: the gradients
 * are written into the block, or added to it when accumulate. Grows the workspace first. */
int zl_trainer_ws_loss_and_grads(zl_trainer_ws *w, zl_bert *m, const zl_bert_inputs *in,
                                 const zl_bert_forward_opts *o, const int32_t *start_pos,
                                 const int32_t *end_pos, int accumulate, double *loss);
/* The gradient block (same layout as the model's parameters). */
const zl_bert_params *zl_trainer_ws_grads(const zl_trainer_ws *w);

typedef struct zl_trainer zl_trainer;

/* A trainer for m (borrowed: it must outlive the trainer, and the trainer updates its
 * parameters in place). NULL with the error set on a bad configuration or no memory. */
zl_trainer *zl_trainer_new(zl_bert *m, const zl_trainer_config *c);
void zl_trainer_free(zl_trainer *t);

const zl_trainer_config *zl_trainer_get_config(const zl_trainer *t);
zl_optim *zl_trainer_optim(zl_trainer *t);
/* The global step (updates applied so far). */
int64_t zl_trainer_get_step(const zl_trainer *t);
/* Wall seconds of each phase of the steps since the last reset (ZL_PHASE_*, train.h)
 * into seconds [ZL_PHASE_COUNT] (may be NULL); reset != 0 then starts them afresh. */
void zl_trainer_phases(zl_trainer *t, double *seconds, int reset);
/* Bytes the trainer allocated (activations, scratch, gradients, Adam moments). */
int64_t zl_trainer_bytes(const zl_trainer *t);
/* Estimated bytes of training c at micro-batch B x S: weights + gradients + Adam
 * moments + activations (with dropout masks) + backward scratch. -1 on overflow. */
int64_t zl_trainer_estimate_bytes(const zl_bert_config *c, int B, int S);

/* The data order of one epoch: out[0..n) = 1..n (1-based feature numbers) shuffled by
 * Fisher-Yates over zl_rng seeded from (seed, epoch). A run draws it epoch by epoch,
 * so its memory is one epoch's whatever the number of epochs. -1 with error for
 * n outside 1..2^31-1. */
int zl_trainer_permutation(int32_t *out, int64_t n, uint64_t seed, uint64_t epoch);

/* One micro-batch (B <= micro_batch, S <= max_seq_length): forward with dropout,
 * span loss, backward ADDING into the gradient block. loss may be NULL. */
int zl_trainer_micro_step(zl_trainer *t, const zl_bert_inputs *in, const int32_t *start_pos,
                          const int32_t *end_pos, double *loss);
/* Applies the micro-batches accumulated since the last apply: scale by 1/n_micro,
 * clip, AdamWeightDecay, zero the gradients. r may be NULL. */
int zl_trainer_apply(zl_trainer *t, zl_trainer_result *r);
/* Drops the accumulated gradients (after an error, or to restart a step). */
void zl_trainer_discard(zl_trainer *t);

/* One global step over features idx[0..n-1] (0-based indexes into f): micro-batches of
 * micro_batch rows in that order, each padded to pad_to (0 = the longest feature of
 * the micro-batch), then apply. f must hold training positions. */
int zl_trainer_step_features(zl_trainer *t, const zl_squad_features *f, const int32_t *idx,
                             int n, int pad_to, zl_trainer_result *r);

/* ---- pretraining (the model has config.mlm_head: mlm.h) ---- */
struct zl_mlm_data;
struct zl_mlm_mask_opts;
/* One micro-batch of masked-LM pretraining: forward with dropout, head, Google's loss,
 * backward ADDING into the gradient block. positions/labels/weights [B, P]. */
int zl_trainer_micro_step_mlm(zl_trainer *t, const zl_bert_inputs *in, int P,
                              const int32_t *positions, const int32_t *labels,
                              const float *weights, double *loss);
/* One global step of pretraining over instances idx[0..n-1] (0-based) of d: each row
 * [CLS] instance [SEP] (token types 0), masked by zl_mlm_mask (max_predictions slots,
 * seeded by (seed, step, row of the global batch): a resumed run masks as an
 * uninterrupted one), padded to pad_to (0 = the longest of the micro-batch), then apply.
 * mo->max_predictions must equal the trainer's. Data-parallel under mpirun as
 * zl_trainer_step_features. */
int zl_trainer_step_mlm(zl_trainer *t, const struct zl_mlm_data *d, const int32_t *idx, int n,
                        int pad_to, int cls_id, int sep_id, const struct zl_mlm_mask_opts *mo,
                        zl_trainer_result *r);

/* Writes the training state into folder dir: model.safetensors + bert_config.json
 * (the model), optim.safetensors (Adam moments and step) and the extra files given
 * as NULL-terminated (name, content) pairs (may be NULL). Atomic as a whole: the set
 * is written to dir.new, marked complete (dir.new/.complete, written last), then swapped
 * in (dir -> dir.old, dir.new -> dir, dir.old removed); a kill at any point leaves the
 * newest complete state findable (tests/cli/fault_points.sh kills at every step). */
int zl_trainer_save(const zl_trainer *t, const char *dir, const char *const *extra);
/* The folder holding the latest complete checkpoint saved under dir (dir.new when it
 * is marked complete but a kill stopped its swap, else dir itself, else dir.old) copied
 * into out; -1 with the error set when there is none. */
int zl_trainer_checkpoint_find(const char *dir, char *out, size_t out_len);
/* Restores weights, Adam moments and step from a folder written by zl_trainer_save
 * (give the folder zl_trainer_checkpoint_find returned). Checks the model shape;
 * changes nothing on failure. */
int zl_trainer_load(zl_trainer *t, const char *dir);

#endif
