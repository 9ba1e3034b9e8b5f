/* mlm.h — BERT's masked-language-model pretraining (Google run_pretraining.py's
 * get_masked_lm_output, create_pretraining_data.py's masking; Hugging Face BertForMaskedLM).
 * Owns: the masked-LM head's forward, loss and backward over the encoder's last hidden
 * states (the head's parameters live in zl_bert_params when config.mlm_head: bert.h), its
 * scratch, the pretraining corpus as instances of wordpieces, and the masking of one
 * instance (15% of the wordpieces chosen; of those 80% [MASK], 10% a random token, 10%
 * unchanged; optionally whole words). The training step over it is trainer.h's.
 *
 * Math (B x P prediction slots, N = B * P, V = vocab, E the word-embedding table):
 *     g      = hidden[L][b, positions[b, p]]                 gather [N, H]
 *     h      = LN_t(gelu(g Wt^T + bt))                       eps = config.layer_norm_eps
 *     logits = h E^T + output_bias                           decoder TIED to the embeddings
 *     loss   = sum(w * -log softmax(logits)[label]) / (sum(w) + 1e-5)     Google's formula
 * so d loss / d E is the input part (embedding backward) plus dlogits^T h (every row).
 *
 *     zl_mlm_ws ws; zl_mlm_ws_alloc(&ws, &m->config, B * P);
 *     zl_mlm_loss_and_grads(m, &acts, &bws, &ws, &in, &o, &batch, &grads, &loss);
 */
#ifndef ZL_MLM_H
#define ZL_MLM_H

#include <stdint.h>

#include "bert.h"
#include "tokenizer.h"
#include "train.h"

/* One micro-batch's predictions: B rows (the inputs' B) of P slots each. Slots with weight
 * 0 are padding (create_pretraining_data.py pads with position 0, label 0). */
typedef struct zl_mlm_batch {
    int P;                      /* slots per row (max_predictions_per_seq) */
    const int32_t *positions;   /* [B, P] 0-based positions in the row */
    const int32_t *labels;      /* [B, P] the original token ids */
    const float *weights;       /* [B, P] 1 real prediction, 0 padding slot */
} zl_mlm_batch;

/* Scratch of the head for up to maxN slots (allocated once). */
typedef struct zl_mlm_ws {
    int maxN, H, V;
    int N;                      /* slots of the last forward */
    float *g;                   /* [N, H] gathered hidden states */
    float *pre;                 /* [N, H] g Wt^T + bt */
    float *act;                 /* [N, H] gelu(pre) */
    float *mean, *rstd;         /* [N] */
    float *h;                   /* [N, H] LN_t(act) */
    float *logits;              /* [N, V] */
    float *dlogits;             /* [N, V] */
    float *dh, *dact, *dpre, *dg; /* [N, H] */
    float *memory;
    int64_t count;
} zl_mlm_ws;

int zl_mlm_ws_alloc(zl_mlm_ws *ws, const zl_bert_config *c, int maxN);
/* Floats zl_mlm_ws_alloc allocates (memory estimates). */
int64_t zl_mlm_ws_numel(const zl_bert_config *c, int maxN);
void zl_mlm_ws_free(zl_mlm_ws *ws);

/* The head over hidden [B, S, H] (the encoder's last layer): ws->logits [B*P, V].
 * Positions are range-checked (error names the row and slot). m needs config.mlm_head. */
int zl_mlm_forward(const zl_bert *m, zl_mlm_ws *ws, const float *hidden, int B, int S,
                   const zl_mlm_batch *mb);
/* Google's loss over logits [N, V]: sum(w * CE) / (sum(w) + 1e-5); per_example [N] (may be
 * NULL) gets each slot's CE; dlogits [N, V] (may be NULL) gets d loss / d logits. Labels
 * are range-checked; weights must be finite and >= 0. */
int zl_mlm_loss(double *loss, float *per_example, float *dlogits, const float *logits,
                const int32_t *labels, const float *weights, int N, int V);
/* Backward of the head from ws->dlogits (after zl_mlm_forward on the same batch): the
 * head's gradients and the decoder part of the word-embedding gradient are ADDED into g;
 * dhidden [B, S, H] += the scatter of d loss / d g (zero it first). */
int zl_mlm_backward(const zl_bert *m, zl_bert_params *g, zl_mlm_ws *ws, float *dhidden, int B,
                    int S, const zl_mlm_batch *mb);

/* Forward of the model (opts o; NULL = eval) + head + loss + backward of both: gradients
 * ADDED into grads, loss the batch's loss. bws and ws sized for the inputs. */
int zl_mlm_loss_and_grads(const zl_bert *m, zl_bert_acts *a, zl_bert_backward_ws *bws,
                          zl_mlm_ws *ws, const zl_bert_inputs *in, const zl_bert_forward_opts *o,
                          const zl_mlm_batch *mb, zl_bert_params *grads, double *loss);

/* ---- the corpus: instances of at most max_tokens wordpieces ---- */
typedef struct zl_mlm_data {
    int32_t *tokens;            /* every instance's wordpieces back to back (no [CLS]/[SEP]) */
    unsigned char *word_start;  /* per wordpiece: 1 when it begins a word (no "##" prefix) */
    int64_t *offset;            /* [count + 1]: instance i is tokens[offset[i], offset[i+1]) */
    int count;
    int max_tokens;             /* max_seq_length - 2 */
    int64_t n_tokens, cap_tokens;
    int cap_count;
    int64_t unk;                /* wordpieces that are [UNK] */
} zl_mlm_data;

/* An empty corpus of instances of at most max_seq_length - 2 wordpieces. */
int zl_mlm_data_init(zl_mlm_data *d, int max_seq_length);
void zl_mlm_data_free(zl_mlm_data *d);
/* Tokenizes one document and cuts it into consecutive instances of max_tokens wordpieces
 * (the last one shorter; an empty document adds none). */
int zl_mlm_data_add(zl_mlm_data *d, const zl_tokenizer *tok, const char *text, size_t len);

/* ---- masking (create_pretraining_data.py's create_masked_lm_predictions) ---- */
typedef struct zl_mlm_mask_opts {
    float prob;                 /* masked_lm_prob (0.15) */
    int max_predictions;        /* max_predictions_per_seq (P) */
    int whole_word;             /* mask every wordpiece of a chosen word */
    int mask_id;                /* [MASK] */
    int vocab_size;             /* random replacements in 0..vocab_size-1 */
} zl_mlm_mask_opts;

/* 0 when the options can mask (max_predictions >= 1, prob in (0, 1], [MASK] inside the
 * vocabulary), else -1 with the error zl_mlm_mask would give. */
int zl_mlm_mask_opts_check(const zl_mlm_mask_opts *o);

/* Masks one row ids[0..len) laid out as [CLS] pieces [SEP] (candidates: every position
 * but the first and the last): n = min(P, max(1, round(len * prob))) predictions chosen
 * over shuffled candidates (whole words when whole_word: word_start gives the words of
 * ids[1..len-2]); each chosen position becomes [MASK] with probability 0.8, else itself
 * with 0.5, else a random id. ids is changed in place; positions/labels/weights [P] get
 * the predictions in increasing position order, padded with 0 / 0 / 0.0. Returns the
 * number of predictions, -1 with error on bad options. Same seed, same result. */
int zl_mlm_mask(int32_t *ids, int len, const unsigned char *word_start,
                const zl_mlm_mask_opts *o, uint64_t seed, int32_t *positions, int32_t *labels,
                float *weights);

#endif
