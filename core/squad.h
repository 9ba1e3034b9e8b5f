/* squad.h — zonelab's SQuAD / CMRC 2018 pipeline, as google-research/bert run_squad.py
 * (v1.1) builds it. Owns examples (read_squad_examples), features
 * (convert_examples_to_features: doc spans, token_to_orig_map, max-context flags,
 * training positions via _improve_answer_span), the logits collector and the decoding
 * of predictions (write_predictions, _get_best_indexes, get_final_text, nbest with
 * softmax probabilities), and writing predictions.json / nbest_predictions.json.
 *
 *     zl_squad *ds = zl_squad_load("dev-v1.1.json", 0);            // 0: not training
 *     zl_squad_feature_opts fo = zl_squad_feature_defaults();        // 384 / 128 / 64
 *     zl_squad_features *f = zl_squad_features_new(ds, tok, &fo);
 *     zl_squad_features_batch(f, idx, 0, B, S, &batch);            // padded model inputs
 *     zl_squad_collector *c = zl_squad_collector_new(f);
 *     for each batch: zl_squad_collector_add(c, first, B, L, start_logits, end_logits);
 *     zl_squad_decode_opts dopt = zl_squad_decode_defaults();        // 20 / 30 / lower 1
 *     zl_squad_predictions *p = zl_squad_decode(ds, f, c, &dopt);
 *     zl_squad_write_predictions("predictions.json", p);
 *     // one window alone (flows): zl_squad_best_span + zl_squad_span_text
 *     zl_squad_predictions_free(p); zl_squad_collector_free(c);
 *     zl_squad_features_free(f); zl_squad_free(ds);
 *
 * A features object borrows its tokenizer (for piece strings) and refers to the
 * examples by index: both must outlive it. Positions are 0-based in C.
 */
#ifndef ZL_SQUAD_H
#define ZL_SQUAD_H

#include <stdint.h>

#include "tokenizer.h"

typedef struct zl_squad_answer {
    char *text;
    int answer_start; /* code points, as Python indexes str */
} zl_squad_answer;

typedef struct zl_squad_paragraph {
    char *context;   /* UTF-8 (invalid bytes dropped) */
    int n_words;     /* doc_tokens: split on space, tab, CR, LF, U+202F */
    char **words;    /* NUL-terminated, carved from one allocation */
} zl_squad_paragraph;

typedef struct zl_squad_example {
    char *qid;
    char *question;
    int paragraph;                 /* index into paragraphs */
    int n_answers;
    zl_squad_answer *answers;
    /* training only: the first answer mapped to words (run_squad.py), else -1 */
    int start_word, end_word;
} zl_squad_example;

typedef struct zl_squad {
    char *path;
    int training;
    int n_examples;
    zl_squad_example *examples;
    int n_paragraphs;
    zl_squad_paragraph *paragraphs;
    int n_skipped;   /* training examples dropped: answer not found at its word span */
    char **skipped;  /* their question ids (the reference's "Could not find answer") */
} zl_squad;

struct cJSON;

/* ---- the SQuAD-format reader shared by the examples, the metrics and the bindings ----
 * data[].paragraphs[].qas[] with string question ids (numbers refused: SQuAD's are
 * strings), each needed field present with its type, answers[].text strings, ids unique;
 * one message per problem, naming `what` and the JSON path or the question id. */
enum {
    ZL_SQUAD_NEED_CONTEXT = 1,      /* paragraphs[].context */
    ZL_SQUAD_NEED_QUESTION = 2,     /* qas[].question */
    ZL_SQUAD_NEED_ANSWERS = 4,      /* qas[].answers present (else optional) */
    ZL_SQUAD_NEED_ANSWER_START = 8  /* answers[].answer_start, a whole number */
};

typedef struct zl_squad_qa {
    int article, paragraph, index;  /* 0-based: data[article].paragraphs[paragraph].qas[index] */
    const char *context;            /* NULL when absent */
    const char *id;
    const char *question;           /* NULL when absent */
    int n_answers;                  /* -1 when "answers" is absent */
    const char *const *answers;     /* texts */
    const double *answer_starts;    /* 0 where absent */
} zl_squad_qa;

typedef struct zl_squad_reader {
    unsigned need;                  /* ZL_SQUAD_NEED_* */
    const char *answers_for;        /* names the use in "has no answers (needed for ...)" */
    void *ud;
    int (*begin)(void *ud, int n_paragraphs, int n_questions);  /* each may be NULL */
    int (*paragraph)(void *ud, const char *context);            /* before its questions */
    int (*question)(void *ud, const zl_squad_qa *qa);
} zl_squad_reader;

/* Checks the whole document, then calls the reader's functions in file order (a nonzero
 * return stops the walk, its error kept). 0, or -1 with the error set. */
int zl_squad_read(const char *what, const struct cJSON *root, const zl_squad_reader *r);

/* Reads SQuAD-format JSON (SQuAD v1.1, CMRC 2018 squad-style). In training, every
 * question's first answer is mapped to words; questions whose answer cannot be
 * recovered (text not at its word span, answer_start outside the context) are
 * skipped and listed in skipped / n_skipped: the caller reports them. */
zl_squad *zl_squad_load(const char *path, int training);
/* The same from JSON text in memory; `what` names it in messages. */
zl_squad *zl_squad_parse(const char *what, const char *json, size_t len, int training);
void zl_squad_free(zl_squad *ds);

/* ---- features ---- */
typedef struct zl_squad_feature_opts {
    int max_seq_length, doc_stride, max_query_length;
    int training; /* compute start/end positions (needs a training-loaded set) */
    int pad;      /* get/batch pad to max_seq_length (ids 0, as the reference) */
} zl_squad_feature_opts;

typedef struct zl_squad_feature {
    int example_index, doc_span_index;
    int length;          /* real tokens: [CLS] q [SEP] p [SEP] */
    int query_len;       /* question tokens; passage starts at query_len + 2 */
    int doc_len;         /* passage tokens */
    int32_t *input_ids;  /* length entries */
    int32_t *orig;       /* doc_len entries: token_to_orig_map of position query_len+2+i */
    int32_t *max_ctx;    /* doc_len entries: token_is_max_context */
    int start_position, end_position; /* training (0, 0 when outside the span); else 0 */
} zl_squad_feature;

typedef struct zl_squad_features {
    zl_squad_feature_opts opts;
    int count;
    zl_squad_feature *items;
    int n_examples;              /* of the examples they were built from */
    const zl_tokenizer *tok;     /* borrowed */
    int32_t *pool;               /* storage of every feature's arrays */
} zl_squad_features;

zl_squad_feature_opts zl_squad_feature_defaults(void);
zl_squad_features *zl_squad_features_new(const zl_squad *ds, const zl_tokenizer *tok,
                                         const zl_squad_feature_opts *opts);
void zl_squad_features_free(zl_squad_features *f);

/* The model inputs of a padded batch, each [n, width] (row-major), plus the training
 * positions [n]; any pointer may be NULL (not filled). */
typedef struct zl_squad_batch {
    int32_t *input_ids, *token_type_ids, *input_mask, *qmask, *pmask;
    int32_t *start_positions, *end_positions;
} zl_squad_batch;

/* Fills b with features idx[0..n-1] (0-based; idx NULL: first, first+1, ...), each row
 * padded to width with zeros: ids, type 1 from the passage to the last [SEP] (as
 * run_squad.py's segment_ids), mask 1 on real tokens, qmask on the question, pmask on
 * the passage. The one batch builder of features:batch, the sweep and the trainer.
 * -1 with the error set for an index out of range or a feature longer than width. */
int zl_squad_features_batch(const zl_squad_features *f, const int32_t *idx, int first, int n,
                            int width, const zl_squad_batch *b);

/* ---- decoding ---- */
/* Holds one row of start and end logits per feature (as many positions as given). */
typedef struct zl_squad_collector zl_squad_collector;
zl_squad_collector *zl_squad_collector_new(const zl_squad_features *f);
/* Stores rows for features first .. first+rows-1 (0-based) from [rows, width] arrays. */
int zl_squad_collector_add(zl_squad_collector *c, int first, int rows, int width,
                           const float *start_logits, const float *end_logits);
/* Features that received logits so far. */
int zl_squad_collector_filled(const zl_squad_collector *c);
void zl_squad_collector_free(zl_squad_collector *c);

typedef struct zl_squad_decode_opts {
    int n_best_size, max_answer_length;
    int lower; /* do_lower_case of get_final_text's BasicTokenizer */
} zl_squad_decode_opts;

typedef struct zl_squad_nbest {
    char *text;
    double probability, start_logit, end_logit;
} zl_squad_nbest;

typedef struct zl_squad_prediction {
    char *qid;
    char *text;       /* nbest[0].text ("empty" when no valid span) */
    int n_nbest;
    zl_squad_nbest *nbest;
} zl_squad_prediction;

typedef struct zl_squad_predictions {
    int count; /* = examples, in example order */
    zl_squad_prediction *items;
} zl_squad_predictions;

zl_squad_decode_opts zl_squad_decode_defaults(void);
/* write_predictions (v1.1). Every feature must have logits in c. */
zl_squad_predictions *zl_squad_decode(const zl_squad *ds, const zl_squad_features *f,
                                      const zl_squad_collector *c, const zl_squad_decode_opts *o);
void zl_squad_predictions_free(zl_squad_predictions *p);

/* The best span of one feature alone, by write_predictions' rules (the decoder's
 * candidates: n-best starts and ends among `width` logits, both in the passage, the start
 * with max context, start <= end, at most max_answer_length; the first highest score).
 * 1 with *start, *end (positions) and *score (start + end logit); 0 when no span is valid;
 * -1 with the error set. o NULL: the defaults. */
int zl_squad_best_span(const zl_squad_features *f, int feature, const float *start_logits,
                       const float *end_logits, int width, const zl_squad_decode_opts *o,
                       int *start, int *end, double *score);
/* The answer text of positions start..end of a feature, as the decoder makes it (the
 * wordpieces joined, then get_final_text against the original words): a new string. */
char *zl_squad_span_text(const zl_squad *ds, const zl_squad_features *f, int feature, int start,
                         int end, int lower);

/* get_final_text(pred_text, orig_text, do_lower_case): a new string (caller frees). */
char *zl_squad_final_text(const char *pred_text, const char *orig_text, int lower);

/* {qid: text} and {qid: [{text, probability, start_logit, end_logit}]}, keys sorted,
 * written atomically. */
int zl_squad_write_predictions(const char *path, const zl_squad_predictions *p);
int zl_squad_write_nbest(const char *path, const zl_squad_predictions *p);

#endif
