/* bert.h — zonelab's BERT (and ELECTRA) encoder with a span-extraction QA head.
 * Owns the model configuration, the parameters (one allocation, Hugging Face
 * names), the activations a forward pass keeps for the backward pass, the forward
 * pass with attention-zone masks, the span loss, random initialisation and
 * loading/saving (checkpoint.c does the file formats).
 *
 * A quick tour:
 *
 *     zl_bert *m = zl_bert_load("models/tiny");           // dir with bert_config.json + weights
 *     zl_bert_acts acts;
 *     zl_bert_acts_alloc(&acts, &m->config, B, S, 0);     // inference: one layer's scratch
 *     zl_bert_inputs in = {B, S, ids, types, input_mask, qmask, pmask};
 *     zl_bert_forward_opts o; zl_bert_forward_opts_init(&o);
 *     o.zone = ZL_ZONE_P2Q; o.mask_layer = 3;             // -1 = every layer
 *     zl_bert_forward(m, &acts, &in, &o);                  // acts.start_logits, acts.end_logits [B,S]
 *     zl_bert_acts_free(&acts); zl_bert_free(m);
 *
 * Math (eval mode), d = H / heads, linear weights [out, in], y = x W^T + b:
 *     e   = LN_emb(word[ids] + pos[0..S-1] + type[types])       (ELECTRA: then e W_proj^T + b_proj)
 *     per layer: scores = Q_h K_h^T / sqrt(d) + adder; P = softmax; ctx = P V_h
 *                a = LN_att(ctx Wo^T + bo + x); x = LN_out(gelu(a Wi^T + bi) Wo2^T + bo2 + a)
 *     start/end logits = x Wqa^T + bqa
 * adder = -10000 * (1 - input_mask[t]) - 10000 * zone_mask[f,t] - 10000 * general masks;
 * zone ALL skips the padding adder at its layers (softmax-identical to the reference's
 * constant -10000); ALL_STRICT makes the layer's context exactly zero. See docs/model.md.
 *
 * Threads: the forward runs one OpenMP team (zl_set_threads) with BLAS single-threaded
 * inside it (rows of each product split over the team; attention by (batch, head) pair);
 * results agree within 1e-5 whatever the thread count. Two threads may run forwards at
 * once on their own activations (and layer caches); a model is only read.
 *
 * Training (dropout > 0) follows BERT: hidden dropout on the embedding LN output, on
 * the attention-output dense result and the FFN output (before each residual), and
 * dropout on the attention probabilities. Masks are drawn from a counter-based hash of
 * (seed, tensor, index): identical whatever the thread count.
 */
#ifndef ZL_BERT_H
#define ZL_BERT_H

#include <stddef.h>
#include <stdint.h>

#define ZL_BERT_MAX_LAYERS 256
#define ZL_BERT_NAME_MAX 96

/* ---- configuration ---- */
typedef struct zl_bert_config {
    char model_type[16];          /* "bert" or "electra": the parameter name prefix */
    int vocab_size;
    int hidden_size;              /* H */
    int num_hidden_layers;        /* L */
    int num_attention_heads;      /* NH; H % NH == 0 */
    int intermediate_size;        /* I */
    int max_position_embeddings;
    int type_vocab_size;
    int embedding_size;           /* E; == H unless ELECTRA with embeddings_project */
    char hidden_act[24];          /* "gelu" (ambiguous, below), or a tanh name: "gelu_new",
                                     "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate" */
    int gelu;                     /* ZL_GELU_ERF or ZL_GELU_TANH: the form the forward computes */
    int gelu_origin;              /* ZL_GELU_FROM_*: what decided gelu */
    int model_type_origin;        /* ZL_MODEL_TYPE_*: what decided model_type */
    float layer_norm_eps;         /* default 1e-12 */
    float initializer_range;      /* default 0.02 */
    float hidden_dropout_prob;    /* as read from the file (default 0.1); informational */
    float attention_probs_dropout_prob;
    int mlm_head;                 /* 1: the parameters end with BERT's masked-LM head
                                     (cls.predictions.*, mlm.h) instead of the QA head
                                     (pretraining). Never read from or written to the config
                                     file: zl_bert_load_mlm sets it. Needs E == H. */
} zl_bert_config;

/* The two GELUs: erf, 0.5 x (1 + erf(x / sqrt 2)); tanh (Google's modeling.py, Hugging
 * Face's gelu_new), 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
enum { ZL_GELU_ERF = 0, ZL_GELU_TANH = 1 };
/* Who decided the form: hidden_act "gelu" read as Hugging Face does (erf); the file (a tanh
 * hidden_act, or zonelab's own "gelu": "erf"|"tanh" key, which zl_bert_save writes); a
 * Google TF checkpoint whose config says "gelu" (tanh, as modeling.py computes it); the
 * caller (zl_bert_set_gelu, the recipes' --gelu). */
enum { ZL_GELU_FROM_HF_DEFAULT = 0, ZL_GELU_FROM_CONFIG, ZL_GELU_FROM_TF_DEFAULT,
       ZL_GELU_FROM_CALLER };
const char *zl_bert_gelu_name(int gelu); /* "erf" / "tanh" */
/* One line saying which GELU a config computes and why ("tanh GELU: a Google TF
 * checkpoint, whose modeling.py computes the tanh form (--gelu erf overrides)"). */
const char *zl_bert_gelu_note(const zl_bert_config *c);

/* Who decided model_type: nothing (the default "bert"), the config (model_type or an
 * Electra architecture), or zl_bert_load reading the tensor names ("electra." / "electra/"
 * in a config without model_type, as real ELECTRA checkpoints come). */
enum { ZL_MODEL_TYPE_DEFAULT = 0, ZL_MODEL_TYPE_FROM_CONFIG, ZL_MODEL_TYPE_FROM_NAMES };
/* One line when the model type was read from the tensor names, else NULL. */
const char *zl_bert_model_type_note(const zl_bert_config *c);

/* Fills the defaults of BERT-base (uncased vocab); model_type "bert". */
void zl_bert_config_default(zl_bert_config *c);
/* Reads Google's bert_config.json or HF config.json (model_type "electra" or an
 * "electra" architecture selects the electra prefix). Every field is validated;
 * errors name the file and the field. */
int zl_bert_config_load(zl_bert_config *c, const char *path);
/* Parses the JSON text (what = file name used in messages). */
int zl_bert_config_parse(zl_bert_config *c, const char *what, const char *json);
/* The same from a parsed JSON object (a binding builds the tree directly, nothing printed). */
struct cJSON;
int zl_bert_config_from_json(zl_bert_config *c, const char *what, const struct cJSON *root);
/* Validates sizes (positive, H % NH, no overflow, total parameters at most 2^32 floats). */
int zl_bert_config_validate(const zl_bert_config *c, const char *what);
/* Writes the Google-format JSON (plus embedding_size/model_type when ELECTRA) as a
 * malloc'ed string (caller frees); NULL on failure. */
char *zl_bert_config_to_json(const zl_bert_config *c);
/* 1 when the model has an embeddings_project layer (E != H). */
int zl_bert_config_has_projection(const zl_bert_config *c);

/* ---- parameters: named float* carved from ONE allocation (llm.c style) ----
 * Layer tensors are stacked over layers: qw is [L, H, H], layer l's query weight
 * starts at qw + l*H*H. Linear weights are [out, in] (HF layout). A gradient buffer
 * is the same struct allocated with zl_bert_params_alloc. */
typedef struct zl_bert_params {
    float *word_emb;        /* [V, E] */
    float *pos_emb;         /* [P, E] */
    float *type_emb;        /* [T, E] */
    float *emb_ln_w;        /* [E] */
    float *emb_ln_b;        /* [E] */
    float *proj_w;          /* [H, E]  ELECTRA embeddings_project; NULL when E == H */
    float *proj_b;          /* [H]     NULL when E == H */
    float *qw, *qb;         /* [L, H, H], [L, H] attention.self.query */
    float *kw, *kb;         /* key */
    float *vw, *vb;         /* value */
    float *ow, *ob;         /* [L, H, H], [L, H] attention.output.dense */
    float *att_ln_w, *att_ln_b; /* [L, H] attention.output.LayerNorm */
    float *iw, *ib;         /* [L, I, H], [L, I] intermediate.dense */
    float *o2w, *o2b;       /* [L, H, I], [L, H] output.dense */
    float *out_ln_w, *out_ln_b; /* [L, H] output.LayerNorm */
    float *qa_w;            /* [2, H] qa_outputs.weight */
    float *qa_b;            /* [2] */
    /* masked-LM head (config.mlm_head; NULL otherwise); the decoder is word_emb (tied) */
    float *mlm_w, *mlm_b;       /* [H, H], [H] cls.predictions.transform.dense */
    float *mlm_ln_w, *mlm_ln_b; /* [H] cls.predictions.transform.LayerNorm */
    float *mlm_bias;            /* [V] cls.predictions.bias (Google: output_bias) */
    float *memory;          /* the one allocation (zeroed by alloc) */
    int64_t count;          /* floats in memory */
} zl_bert_params;

/* Total parameter floats for c (-1 with error on overflow). */
int64_t zl_bert_params_numel(const zl_bert_config *c);
/* Allocates and zeroes every parameter of c in one block. */
int zl_bert_params_alloc(zl_bert_params *p, const zl_bert_config *c);
void zl_bert_params_free(zl_bert_params *p);

/* One named parameter tensor, as listed by the enumeration. */
typedef struct zl_bert_param_info {
    char name[ZL_BERT_NAME_MAX];  /* HF name, e.g. "bert.encoder.layer.3.attention.self.query.weight" */
    float *data;                  /* into the params block */
    int ndim;                     /* 1 or 2 */
    int64_t shape[2];
    int64_t numel;
    int no_decay;                 /* 1 for biases and LayerNorm (BERT's weight-decay rule) */
} zl_bert_param_info;

/* Number of parameter tensors of c (39 for a 2-layer BERT). */
int zl_bert_param_count(const zl_bert_config *c);
/* Fills info for the i-th tensor (0 <= i < count) of params p. Fixed order:
 * embeddings (word, position, token_type, LayerNorm weight, bias), embeddings_project
 * (weight, bias) when present, then per layer: query w,b; key w,b; value w,b;
 * attention.output.dense w,b; attention.output.LayerNorm w,b; intermediate.dense w,b;
 * output.dense w,b; output.LayerNorm w,b; then qa_outputs weight, bias, or, for a model
 * with config.mlm_head, the masked-LM head instead: cls.predictions.transform.dense weight,
 * bias, cls.predictions.transform.LayerNorm weight, bias, cls.predictions.bias (the QA head
 * is then kept in memory, zero, but is no parameter: never trained nor saved). */
int zl_bert_param_info_at(const zl_bert_config *c, const zl_bert_params *p, int i,
                          zl_bert_param_info *info);
/* Index of a parameter by HF name, -1 when absent (no error set). */
int zl_bert_param_find(const zl_bert_config *c, const char *name);

/* ---- the model ---- */
typedef struct zl_bert {
    zl_bert_config config;
    zl_bert_params params;
    int fresh_qa_head;      /* 1 when the checkpoint had no QA head: initialised randomly */
    uint64_t qa_seed;       /* seed used for that fresh head */
    int fresh_mlm_head;     /* config.mlm_head and the checkpoint had no cls.predictions.*:
                               initialised as Google's run_pretraining.py */
    struct zl_bf16_weights *bf16; /* bf16 copies of the layers' product weights (core/bf16.h),
                               made by the first bf16 forward, freed with the model or by
                               zl_bert_bf16_reset */
    int bf16_uncached;      /* 1: the parameters may change between forwards (the Lua binding
                               handed them out): each bf16 forward converts them afresh */
} zl_bert;

/* A model with zeroed parameters (config validated). */
zl_bert *zl_bert_new(const zl_bert_config *c);
void zl_bert_free(zl_bert *m);
/* Drops the bf16 weights made by a bf16 forward: whoever changes the parameters calls it
 * (no forward may run meanwhile). */
void zl_bert_bf16_reset(zl_bert *m);
/* BERT init: weights truncated normal (|z| <= 2 std) with std initializer_range,
 * LN gamma 1 beta 0, biases 0. Same seed -> same weights. */
int zl_bert_init_random(zl_bert *m, uint64_t seed);
/* Loads a model directory (bert_config.json or config.json + model.safetensors or a
 * TF checkpoint bert_model.ckpt / model.ckpt*) or a weights file with the config beside
 * it. Checks presence, shape and finiteness (no NaN or infinity) of every parameter
 * tensor (a non-finite one is refused, naming the tensor and the count); ignores
 * unused ones; a missing QA head gets a fresh one (fresh_qa_head = 1). In checkpoint.c. */
zl_bert *zl_bert_load(const char *path);
/* zl_bert_load for pretraining: the model gets the masked-LM head (config.mlm_head), read
 * from cls.predictions.* (HF) or cls/predictions/... (Google TF) when the checkpoint has it
 * (all five tensors or none), else fresh (fresh_mlm_head = 1: dense truncated normal std
 * initializer_range, LayerNorm 1 and 0, biases 0). A QA head in the file is ignored. */
zl_bert *zl_bert_load_mlm(const char *path);
/* Writes model.safetensors (F32, HF names) + bert_config.json atomically into dir,
 * or, when path ends in ".safetensors", that file + bert_config.json beside it. */
int zl_bert_save(const zl_bert *m, const char *path);

/* ---- activations (llm.c style: named float* carved from one allocation) ----
 * Allocated for at most maxB x maxS; a forward pass may use any B <= maxB, S <= maxS
 * (the per-layer slices are laid out with the B, S of the last forward).
 * With ZL_BERT_ACTS_BACKWARD every layer keeps its own slice (what backward needs);
 * without it the per-layer buffers hold one layer and are reused (inference).
 * hidden is always [L+1, B, S, H] (index 0 = embedding output, i+1 = layer i output). */
enum {
    ZL_BERT_ACTS_BACKWARD = 1,  /* keep every layer's activations */
    ZL_BERT_ACTS_DROPOUT = 2    /* also allocate dropout masks (training) */
};

typedef struct zl_bert_acts {
    int maxB, maxS, flags;
    int B, S;                   /* sizes of the last forward (0 before the first) */
    int L, H, NH, I, E;
    /* embeddings */
    float *emb_sum;             /* [B, S, E] word+pos+type, pre-LN */
    float *emb_mean, *emb_rstd; /* [B, S] */
    float *emb_ln;              /* [B, S, E] LN output (before dropout) */
    float *emb_drop;            /* [B, S, E] dropout multipliers (0 or 1/(1-p)) or NULL */
    float *emb_proj_in;         /* [B, S, E] dropout(emb_ln): the projection's input (ELECTRA) */
    float *hidden;              /* [L+1, B, S, H] */
    /* per layer (stacked over L with BACKWARD, else one layer) */
    float *q, *k, *v;           /* [B, S, H] each (heads interleaved as in H) */
    float *probs;               /* [B, NH, S, S] softmax output, after all masks; inference
                                   activations (flags 0): prob_slots scratch [S, S] blocks,
                                   one per thread (attentions are exported directly) */
    int prob_slots;             /* 0 (every (b, h) keeps its block) or the scratch blocks */
    float *probs_drop;          /* [B, NH, S, S] dropout multipliers or NULL */
    float *ctx;                 /* [B, S, H] (P * drop * head_mask) V, heads concatenated */
    float *att_sum;             /* [B, S, H] dropout(ctx Wo^T + bo) + x, pre-LN */
    float *att_drop;            /* [B, S, H] or NULL */
    float *att_mean, *att_rstd; /* [B, S] */
    float *att_ln;              /* [B, S, H] */
    float *inter_pre;           /* [B, S, I] a Wi^T + bi */
    float *inter_gelu;          /* [B, S, I]; inference: the same memory as inter_pre */
    float *out_sum;             /* [B, S, H] dropout(gelu Wo2^T + bo2) + a, pre-LN */
    float *out_drop;            /* [B, S, H] or NULL */
    float *out_mean, *out_rstd; /* [B, S] */
    /* head */
    float *start_logits;        /* [B, S] */
    float *end_logits;          /* [B, S] */
    /* what the last forward did, for backward */
    float dropout_prob;         /* hidden dropout used (0 in eval) */
    float attn_dropout_prob;    /* attention-probs dropout used */
    unsigned char *strict;      /* [L] 1 where the layer's context was forced to zero */
    float *head_mask;           /* [L, NH] multipliers used (all 1 without a head mask) */
    float *memory;
    int64_t count;
} zl_bert_acts;

int zl_bert_acts_alloc(zl_bert_acts *a, const zl_bert_config *c, int maxB, int maxS, int flags);
/* Floats zl_bert_acts_alloc allocates for these sizes and flags (memory estimates). */
int64_t zl_bert_acts_numel(const zl_bert_config *c, int maxB, int maxS, int flags);
void zl_bert_acts_free(zl_bert_acts *a);

/* Layer l's slice of the per-layer activations (for the last forward's B, S). */
typedef struct zl_bert_layer_acts {
    float *input;               /* hidden[l]   [B, S, H] */
    float *output;              /* hidden[l+1] [B, S, H] */
    float *q, *k, *v, *probs, *probs_drop, *ctx, *att_sum, *att_drop, *att_mean, *att_rstd,
          *att_ln, *inter_pre, *inter_gelu, *out_sum, *out_drop, *out_mean, *out_rstd;
    int strict;                 /* context forced to zero (all_strict) in this layer */
    const float *head_mask;     /* [NH] multipliers */
} zl_bert_layer_acts;
void zl_bert_acts_layer(const zl_bert_acts *a, int l, zl_bert_layer_acts *out);

/* ---- forward ---- */
typedef enum {
    ZL_ZONE_NONE = 0,
    ZL_ZONE_Q2,         /* qmask[f] * qmask[t] */
    ZL_ZONE_Q2P,        /* (1 - pmask[f]) * pmask[t] */
    ZL_ZONE_P2Q,        /* (1 - qmask[f]) * qmask[t] */
    ZL_ZONE_P2,         /* pmask[f] * pmask[t] */
    ZL_ZONE_ALL,        /* reference "all": padding adder replaced by a constant */
    ZL_ZONE_ALL_STRICT  /* context of the layer exactly zero: a = LN(bo + x) */
} zl_zone;

/* "none", "q2", ... -> zone; -1 with error for an unknown name. */
int zl_zone_parse(const char *name);
const char *zl_zone_name(zl_zone z);
/* The 0/1 mask zone z applies (1 = attention from f to t removed) for B rows of S
 * tokens into out [B, S, S], computed as the forward computes it. Zones all and
 * all_strict have none (error). */
int zl_zone_mask(zl_zone z, int B, int S, const int32_t *qmask, const int32_t *pmask,
                 float *out);

/* A general attention mask: pattern 1 = remove (adds -10000 * value to the scores). */
typedef struct zl_bert_mask {
    const float *pattern;       /* [S, S] (batched = 0) or [B, S, S] (batched = 1), [from, to] */
    int batched;
    const int *heads;           /* 0-based head indices, or NULL = every head */
    int n_heads;
    const int *layers;          /* 0-based layers, or NULL = every layer */
    int n_layers;
} zl_bert_mask;

typedef struct zl_bert_inputs {
    int B, S;
    const int32_t *input_ids;       /* [B, S] */
    const int32_t *token_type_ids;  /* [B, S] or NULL (= 0) */
    const int32_t *input_mask;      /* [B, S] or NULL (= all 1) */
    const int32_t *qmask;           /* [B, S]; needed by zones q2, q2p, p2q */
    const int32_t *pmask;           /* [B, S]; needed by zones q2, q2p, p2q, p2 */
} zl_bert_inputs;

typedef struct zl_bert_forward_opts {
    zl_zone zone;
    int mask_layer;             /* 0-based layer the zone applies to; -1 = every layer */
    const zl_bert_mask *masks;  /* general masks (may be NULL) */
    int n_masks;
    const float *head_mask;     /* [L, NH] multipliers of the probabilities (HF), or NULL */
    float dropout_prob;         /* hidden dropout (0 = eval) */
    float attn_dropout_prob;    /* attention-probs dropout (0 = eval) */
    uint64_t seed;              /* dropout seed */
    float *attentions;          /* out [L, B, NH, S, S] or NULL */
    float *hidden_states;       /* out [L+1, B, S, H] or NULL */
    int start_layer;            /* 0: full pass; k > 0: acts->hidden[k] is already valid for
                                   these inputs (e.g. from an unmasked pass) and layers < k are
                                   skipped: decoding a layer-k mask reuses the shared prefix
                                   (their attentions are then exported as zeros) */
    int stop_layer;             /* 0: run to the last layer, then the span head; k in
                                   start_layer+1..L: stop after layer k-1 (hidden[k] is the
                                   result, no logits; later layers' attentions export zeros) */
    int precision;              /* ZL_PRECISION_FP32 (0, the reference's arithmetic) or
                                   ZL_PRECISION_BF16 (core/bf16.h; inference only): the QKV,
                                   attention-output and feed-forward products in bf16 with
                                   fp32 accumulation, everything else in fp32 */
} zl_bert_forward_opts;

void zl_bert_forward_opts_init(zl_bert_forward_opts *o);

/* Runs the forward pass; results in acts (start_logits, end_logits, hidden, ...).
 * Input ids, type ids and positions are range-checked (error names the batch row).
 * A non-finite start or end logit is an error naming where it first appeared (the
 * embeddings, a layer, or the span head); the check reads only the logits. */
int zl_bert_forward(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                    const zl_bert_forward_opts *o);

/* ---- a layer cache: many one-layer masks of one batch (sweeps) ----
 * An unmasked pass keeps the hidden state entering every layer; a zone masking layer l
 * then runs only layers l..L-1 from that cached input. The cache owns its activations
 * and buffers (their layout is bert.c's); the inputs are borrowed until the next run.
 *
 *     zl_bert_prefix *p = zl_bert_prefix_new(m, maxB, maxS);
 *     zl_bert_prefix_run(p, &in, L);                      // unmasked pass: logits, cache
 *     for (l = L - 1; l >= 0; l--)                         // deepest first (below)
 *         zl_bert_prefix_zone(p, ZL_ZONE_Q2, l, 1, NULL);  // q2 at layer l: logits
 *     zl_bert_prefix_logits(p, &start, &end);              // [B, width] of the last pass
 *     zl_bert_prefix_free(p);
 *
 * A zone at layer l needs the cached input of layer l: a pass at layer l overwrites the
 * cache of the layers after l, so visit layers in decreasing order (a shallower layer's
 * input is then still there; asking for one that is gone is an error).
 *
 * The rows path (rows = 1): at its layer, zone q2 changes only the question rows'
 * attention, p2 the passage rows', p2q every non-question row's, q2p every non-passage
 * row's (padding included; zl_zone_rows lists them); the other rows keep the unmasked
 * layer's output bit for bit. Layer l is then computed for the changed rows only, from the
 * unmasked output of layer l and layer l's keys and values, both kept for every zone of
 * that layer (so run a layer's rows-path zones before its other zones: they overwrite the
 * unmasked output, which is then recomputed). The products run on a multiple of 8 rows, so
 * the result equals a whole-layer pass to float noise (1e-5), not bit for bit: a caller that
 * needs repeatable bits takes the same path for a zone every time.
 *
 * Narrowing (zone `all`, rows = 1, narrow = the same features at a smaller width W, as
 * dynamic padding gives them): padding rows matter only as keys and values at the masked
 * layer, so layer l computes the rows [0, W) of each sequence against every key of the
 * cached width, and the later layers and the span head run at width W (logits [B, W]).
 * The cache of layers <= l stays valid. */
typedef struct zl_bert_prefix zl_bert_prefix;

/* A cache for batches of at most maxB x maxS (inference activations); NULL with error. */
zl_bert_prefix *zl_bert_prefix_new(const zl_bert *m, int maxB, int maxS);
void zl_bert_prefix_free(zl_bert_prefix *p);
/* The unmasked pass of in over layers [0, upto) (1 <= upto <= L; L: also the span head
 * and logits), cached for zl_bert_prefix_zone. in is borrowed until the next run. */
int zl_bert_prefix_run(zl_bert_prefix *p, const zl_bert_inputs *in, int upto);
/* The forward of the cached inputs with zone z (not none) masking layer l only, from the
 * cached input of layer l: the logits of zl_bert_forward with zone z and mask_layer l
 * (rows = 0: the same bits; rows = 1: the rows path above). narrow: NULL, or (zone all,
 * rows = 1) the cached features at width W <= the cached width. */
int zl_bert_prefix_zone(zl_bert_prefix *p, zl_zone z, int l, int rows, const zl_bert_inputs *narrow);
/* Any other forward (from layer 0, o->start_layer and o->stop_layer 0) on the cache's
 * activations, which it empties: configurations that share nothing. */
int zl_bert_prefix_forward(zl_bert_prefix *p, const zl_bert_inputs *in, const zl_bert_forward_opts *o);
/* The precision of the cache's passes from now on (ZL_PRECISION_*; default fp32); empties
 * the cache. -1 with the reason when bf16 cannot run here (zl_bf16_check). */
int zl_bert_prefix_set_precision(zl_bert_prefix *p, int precision);
/* Logits of the last pass that computed them ([B, width]); returns the width. */
int zl_bert_prefix_logits(const zl_bert_prefix *p, const float **start, const float **end);
/* Work done so far, in whole passes of one row ((rows x layers) / L summed; a layer's keys
 * and values count as their share of its products, attention is not counted). */
double zl_bert_prefix_work(const zl_bert_prefix *p);
/* The rows zone z changes at its layer (flat indexes b*S+t, increasing) into rows (may be
 * NULL: count only); -1 for zones that change every row (all, all_strict, none). */
int zl_zone_rows(zl_zone z, const zl_bert_inputs *in, int *rows);

/* Span loss: mean over the batch of (CE(start) + CE(end)) / 2, softmax over all S
 * positions. When dstart/dend are not NULL they receive d loss / d logits [B, S]. */
int zl_bert_span_loss(double *loss, float *dstart, float *dend, const float *start_logits,
                      const float *end_logits, const int32_t *start_pos,
                      const int32_t *end_pos, int B, int S);

/* Floating-point operations of one forward (2 x multiply-adds of every matrix
 * product, attention included) for B x S. */
double zl_bert_forward_flops(const zl_bert_config *c, int B, int S);

/* ---- kernels shared with the backward pass (llm.c style: outputs first) ---- */
/* out = LN(inp) * w + b over the last axis C; mean/rstd [N] may be NULL. */
void zl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps);
/* out[N, OC] = inp[N, C] W^T + bias, W [OC, C]; bias may be NULL. */
void zl_linear_forward(float *out, const float *inp, const float *w, const float *bias,
                       int N, int C, int OC);
/* out[i] = gelu(inp[i]) as the encoder computes it (erf, or tanh_form); out may be inp. */
void zl_gelu_forward(float *out, const float *inp, int64_t n, int tanh_form);
/* Dropout multipliers (0 or 1/(1-p)) for stream `stream` of seed; thread-independent. */
void zl_dropout_mask(float *mask, int64_t n, float p, uint64_t seed, uint64_t stream);

#endif
