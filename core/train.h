/* train.h — zonelab's backward pass for BERT/ELECTRA QA models (bert_backward.c).
 * Owns the gradient of the span loss with respect to every parameter: one
 * *_backward kernel per forward kernel of bert.h (llm.c style: outputs first,
 * inputs next, sizes last), the whole-model backward over the activations a
 * forward pass kept (zl_bert_acts with ZL_BERT_ACTS_BACKWARD), and its scratch.
 * The optimizer is optim.h.
 *
 *     zl_bert_acts a;
 *     zl_bert_acts_alloc(&a, &m->config, B, S, ZL_BERT_ACTS_BACKWARD);
 *     zl_bert_backward_ws ws;
 *     zl_bert_backward_ws_alloc(&ws, &m->config, B, S);
 *     zl_bert_params g;
 *     zl_bert_params_alloc(&g, &m->config);              // zeroed gradients
 *     double loss;
 *     zl_bert_loss_and_grads(m, &a, &ws, &in, &opts, start, end, &g, &loss);
 *     // g holds d loss / d param (ADDED to what g held: zero it between steps,
 *     // or keep it to sum micro-batches), named by zl_bert_param_info_at(&m->config, &g, ...)
 *
 * Conventions of the kernels: gradients are ACCUMULATED (+=) into every d* output,
 * parameter and activation alike, so a residual branch just adds into the same
 * buffer; callers zero what must start from zero. Parameter-gradient reductions
 * run in a fixed order: results do not depend on the thread count.
 */
#ifndef ZL_TRAIN_H
#define ZL_TRAIN_H

#include <stdint.h>

#include "bert.h"

/* ---- kernels ---- */

/* LayerNorm over the last axis C of inp [N, C] (forward kept mean, rstd [N]):
 * dinp += d/dinp, dweight += sum_n dout * xhat, dbias += sum_n dout. */
void zl_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int N, int C);

/* out[N, OC] = inp[N, C] W^T + b, W [OC, C]: dinp += dout W, dweight += dout^T inp,
 * dbias += sum_n dout. dinp, dbias may be NULL (not wanted). */
void zl_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int C, int OC);

/* exact GELU: dinp += dout * (Phi(x) + x phi(x)), x = inp. */
void zl_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n, int tanh_form);

/* Multiplicative mask (dropout multipliers 0 or 1/(1-p)): dinp += dout * mask;
 * mask NULL = identity. */
void zl_dropout_backward(float *dinp, const float *dout, const float *mask, int64_t n);

/* Scaled dot-product attention of heads interleaved in H (head h = features
 * h*d..(h+1)*d-1, d = H/NH): ctx_h = (P * mult) V_h with P = softmax(Q_h K_h^T / sqrt d
 * + adder) [B, NH, S, S], mult = probs_drop [B, NH, S, S] (or NULL = 1) times
 * head_mask [NH] (or NULL = 1). The adder (padding, zones, general masks) is a
 * constant: its effect is all in the kept P. dq, dk, dv [B, S, H] += ; scratch holds
 * slots * 2*S*S floats (at most slots threads run, one (batch, head) pair each). */
void zl_attention_backward(float *dq, float *dk, float *dv, float *scratch, int slots,
                           const float *dctx, const float *q, const float *k, const float *v,
                           const float *probs, const float *probs_drop, const float *head_mask,
                           int B, int S, int H, int NH);

/* Embedding sums emb[b,s] = word[ids] + pos[s] + type[types] ([B, S, E]); scatter-adds
 * dout into the tables. types may be NULL (= 0); a NULL table gradient is skipped.
 * ids and types must be in range (the forward pass checked them). */
void zl_embedding_backward(float *dword, float *dpos, float *dtype, const float *dout,
                           const int32_t *ids, const int32_t *types, int B, int S, int E);

/* ---- where a training step's time goes ----
 * Wall seconds on the calling thread, measured around each part (not estimated), summed
 * in zl_bert_backward_ws.phase_s until the owner resets them (the trainer: zl_trainer_phases).
 * BACKWARD is the whole backward pass; the parts after it divide it (what none of them
 * covers, the span head, scratch and embeddings, is OTHER). */
enum {
    ZL_PHASE_FORWARD,       /* forward with dropout and the loss */
    ZL_PHASE_BACKWARD,      /* the whole backward pass */
    ZL_PHASE_DWEIGHT,       /*   weight-gradient products and bias sums */
    ZL_PHASE_DINPUT,        /*   input-gradient products */
    ZL_PHASE_ATTENTION,     /*   attention backward (its products and the softmax's) */
    ZL_PHASE_LAYERNORM,     /*   LayerNorm backward (with the dropout masks after it) */
    ZL_PHASE_GELU,          /*   GELU backward */
    ZL_PHASE_OTHER,         /*   the rest of the backward (head, embeddings, scratch) */
    ZL_PHASE_ACCUMULATE,    /* micro-batch sums, all-reduce, zeroing the gradients */
    ZL_PHASE_OPTIMIZER,     /* gradient norm, clipping and the AdamW update */
    ZL_PHASE_COUNT
};
/* "forward", "backward", "dweight", ...: the keys of tr:phases() and the benchmarks. */
const char *zl_phase_name(int phase);
/* Monotonic wall clock in seconds (the phases' timer). */
double zl_phase_clock(void);

/* ---- whole model ---- */

/* Scratch of the backward pass for up to maxB x maxS (allocated once: the layer
 * loop allocates nothing). */
typedef struct zl_bert_backward_ws {
    double phase_s[ZL_PHASE_COUNT]; /* seconds per phase, summed (zl_bert_backward_ws_alloc
                                       zeroes them; the owner resets them) */
    int maxB, maxS, H, I, E;
    float *dstart, *dend;       /* [B, S] d loss / d logits */
    float *dlogits;             /* [B, S, 2] */
    float *dx, *dx2;            /* [B, S, H] d hidden (current layer output / input) */
    float *dres, *dtmp;         /* [B, S, H] */
    float *dctx, *dq, *dk, *dv; /* [B, S, H] */
    float *dinter;              /* [B, S, I] */
    float *demb, *demb2;        /* [B, S, E] */
    float *datt;                /* [att_slots, 2, S, S] attention scratch, one per thread */
    int att_slots;
    float *memory;
    int64_t count;
} zl_bert_backward_ws;

int zl_bert_backward_ws_alloc(zl_bert_backward_ws *ws, const zl_bert_config *c, int maxB,
                              int maxS);
void zl_bert_backward_ws_free(zl_bert_backward_ws *ws);

/* Backward pass of the model over the activations of its last forward (which must
 * have been a full pass, start_layer 0, with ZL_BERT_ACTS_BACKWARD), from
 * dstart, dend = d loss / d start_logits, end_logits [B, S]. Parameter gradients are
 * ADDED into grads (a block from zl_bert_params_alloc for m's config). in must be
 * the inputs of that forward. ws NULL: allocated and freed inside. */
int zl_bert_backward(const zl_bert *m, zl_bert_params *grads, zl_bert_backward_ws *ws,
                     const zl_bert_acts *a, const zl_bert_inputs *in, const float *dstart,
                     const float *dend);

/* The same backward from dhidden = d loss / d hidden[L] [B, S, H] (the last layer's
 * output: a head other than the QA head, e.g. the masked-LM head of mlm.h). dhidden may
 * be ws->dx. */
int zl_bert_backward_hidden(const zl_bert *m, zl_bert_params *grads, zl_bert_backward_ws *ws,
                            const zl_bert_acts *a, const zl_bert_inputs *in, const float *dhidden);

/* Forward (with opts o, may be NULL = eval, no zone) + span loss + backward:
 * loss receives the loss (mean over the batch of (CE(start) + CE(end)) / 2) and the
 * gradients are ADDED into grads. start_pos, end_pos [B] in 0..S-1. */
int zl_bert_loss_and_grads(const zl_bert *m, zl_bert_acts *a, zl_bert_backward_ws *ws,
                           const zl_bert_inputs *in, const zl_bert_forward_opts *o,
                           const int32_t *start_pos, const int32_t *end_pos,
                           zl_bert_params *grads, double *loss);

#endif
