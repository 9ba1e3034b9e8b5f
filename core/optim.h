/* optim.h — zonelab's optimizer. Owns Google BERT's fine-tuning optimizer
 * (google-research/bert optimization.py: AdamWeightDecayOptimizer + create_optimizer):
 * its learning-rate schedule, global-norm clipping, the Adam moments of every
 * parameter, saving/loading that state for resume, and micro-batch gradient
 * accumulation. It knows parameters only as (name, float buffer, element count).
 *
 *     zl_optim_config c;
 *     zl_optim_config_default(&c);            // lr 3e-5, warm-up 10%, decay 0.01, clip 1
 *     c.lr = 1e-2; c.total_steps = 5; c.warmup_steps = 2;
 *     zl_optim *o = zl_optim_new(n, names, sizes, &c);
 *     double norm, lr;
 *     zl_optim_step(o, params, grads, &norm, &lr);   // params updated in place
 *     zl_optim_save(o, "optim.safetensors");        // adam_m/<name>, adam_v/<name>, step
 *     zl_optim_free(o);
 *
 * The exact math (docs/training.md): with step = the global step BEFORE the update,
 *   lr(step) = lr * step / warmup_steps            if step < warmup_steps
 *            = lr * (1 - min(step, total) / total)  otherwise
 *   g *= clip / max(||g||, clip)      (||g|| over every element of every parameter)
 *   m = b1 m + (1-b1) g ; v = b2 v + (1-b2) g^2   (no bias correction)
 *   u = m / (sqrt(v) + eps) + wd * w   (wd only when the name contains none of
 *                                      "LayerNorm", "layer_norm", "bias")
 *   w -= lr(step) * u ; step += 1
 * Deterministic: the gradient norm is summed in fixed chunks in a fixed order, so
 * the result does not depend on the thread count.
 */
#ifndef ZL_OPTIM_H
#define ZL_OPTIM_H

#include <stdint.h>

typedef struct zl_optim_config {
    double lr;                /* peak learning rate (init_lr) */
    int64_t total_steps;      /* num_train_steps: lr reaches 0 there (>= 1) */
    int64_t warmup_steps;     /* < 0: int(total_steps * warmup_proportion) */
    double warmup_proportion; /* used when warmup_steps < 0 */
    double weight_decay;      /* decoupled, 0.01 in BERT */
    double clip;              /* global-norm clip; <= 0 disables clipping */
    double beta1, beta2, eps; /* 0.9, 0.999, 1e-6 */
} zl_optim_config;

typedef struct zl_optim zl_optim;

/* BERT's defaults: lr 3e-5, total 1, warmup_proportion 0.1 (warmup_steps -1),
 * weight decay 0.01, clip 1.0, betas 0.9/0.999, eps 1e-6. */
void zl_optim_config_default(zl_optim_config *c);

/* n_params parameters with names (copied) and element counts. Moments start at 0,
 * step at 0. NULL with the error set on a bad configuration. */
zl_optim *zl_optim_new(int n_params, const char *const *names, const int64_t *sizes,
                       const zl_optim_config *cfg);
void zl_optim_free(zl_optim *opt);

/* Learning rate the update of global step `step` uses (0 at step 0 with warm-up). */
double zl_optim_lr(const zl_optim *opt, int64_t step);
int64_t zl_optim_get_step(const zl_optim *opt);
int zl_optim_set_step(zl_optim *opt, int64_t step);
/* The resolved configuration (warmup_steps filled in). */
const zl_optim_config *zl_optim_get_config(const zl_optim *opt);
int zl_optim_count(const zl_optim *opt);
const char *zl_optim_name(const zl_optim *opt, int i);
int64_t zl_optim_size(const zl_optim *opt, int i);
/* 1 when parameter i gets weight decay (its name has no LayerNorm/layer_norm/bias). */
int zl_optim_decays(const zl_optim *opt, int i);
/* The same rule for a name (optimization.py's exclude_from_weight_decay). */
int zl_optim_name_decays(const char *name);

/* Global L2 norm of the gradients (double, deterministic order). */
double zl_optim_grad_norm(const zl_optim *opt, float *const *grads);

/* One update: clips grads IN PLACE, updates m, v and params, advances the step.
 * grad_norm (norm before clipping) and lr may be NULL. Fails without touching
 * anything when the gradient norm is not finite. */
int zl_optim_step(zl_optim *opt, float *const *params, float *const *grads,
                  double *grad_norm, double *lr);
/* The same update, leaving every gradient zero instead of clipped (in the same pass): what
 * a trainer wants before accumulating the next step. On failure nothing changes. */
int zl_optim_step_zero(zl_optim *opt, float *const *params, float *const *grads,
                       double *grad_norm, double *lr);

/* Micro-batch accumulation: acc += g for every parameter, then once per
 * optimizer step scale by 1/n_micro (sum then scale). */
void zl_optim_grads_add(const zl_optim *opt, float *const *acc, float *const *grads);
void zl_optim_grads_scale(const zl_optim *opt, float *const *grads, float scale);
void zl_optim_grads_zero(const zl_optim *opt, float *const *grads);

/* State for resume: "adam_m/<name>", "adam_v/<name>" (F32) and "step" (I32 [1]),
 * written atomically. load checks every tensor's presence and size. */
int zl_optim_save(const zl_optim *opt, const char *path);
int zl_optim_load(zl_optim *opt, const char *path);

#endif
