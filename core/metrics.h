/* metrics.h — zonelab's answer metrics. Owns the official SQuAD v1.1 and CMRC 2018
 * scores (exact match and F1, x100), their text normalisation, and the gold-answer
 * dataset they are computed against.
 *
 * SQuAD v1.1 is evaluate-v1.1.py exactly: Python 3 str.lower() (full Unicode, incl.
 * U+0130 and the final-sigma rule), ASCII punctuation (string.punctuation) removed,
 * re.sub(r'\b(a|an|the)\b', ' ') with Python's Unicode \b (word characters = letters,
 * numbers and '_'; combining marks are NOT word characters), whitespace collapsed with
 * str.split() (Python's Unicode whitespace set); EM; token F1 with a Counter
 * intersection; max over gold answers; a missing prediction scores 0 but counts.
 * CMRC 2018 is cmrc2018_evaluate.py (squad-style, Python 2): lower + strip, the
 * script's punctuation list removed, mixed segmentation (each U+4E00..U+9FA5 character
 * a token, other runs through an NLTK word_tokenize port), F1 from the longest common
 * substring of tokens, EM on punctuation-stripped strings.
 *
 *     zl_metrics_dataset *ds = zl_metrics_dataset_load("dev-v1.1.json");
 *     zl_metrics_result *r = zl_metrics_score_file(ds, ZL_METRICS_SQUAD, "predictions.json");
 *     printf("%.17g %.17g (%d missing)\n", r->exact_match, r->f1, r->missing);
 *     zl_metrics_result_free(r);
 *     zl_metrics_dataset_free(ds);
 *
 * Strings are UTF-8; invalid bytes are kept as themselves (never an error).
 */
#ifndef ZL_METRICS_H
#define ZL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ZL_METRICS_SQUAD = 0, ZL_METRICS_CMRC = 1 } zl_metrics_kind;

/* ---- single answers (scores in [0, 1], as the scripts compute them) ---- */

/* SQuAD normalize_answer(s); returns a malloc'd UTF-8 string (NULL + error on OOM). */
char *zl_metrics_normalize(const char *s);
/* max over golds of EM (0 or 1) / F1 (0..1). n_golds >= 1, else -1 + error. */
double zl_metrics_em(zl_metrics_kind kind, const char *pred, const char *const *golds, int n_golds);
double zl_metrics_f1(zl_metrics_kind kind, const char *pred, const char *const *golds, int n_golds);
/* CMRC mixed_segmentation(s, rm_punc): tokens as one malloc'd block of n_tokens
 * NUL-terminated UTF-8 strings laid end to end (free the block). Returns n_tokens or -1. */
int zl_metrics_cmrc_segment(const char *s, int rm_punc, char **tokens);
/* CMRC remove_punctuation(s) (after lower + strip); malloc'd. */
char *zl_metrics_cmrc_remove_punctuation(const char *s);
/* cmrc2018_evaluate.py's find_lcs(s1, s2) over symbol sequences, in linear time (a
 * suffix automaton of s2): returns the length of the longest common substring and sets
 * *end so that s1[*end - length .. *end) is the one find_lcs returns (the first end
 * position in s1 that reaches the maximum); 0 and *end = 0 when none; -1 on OOM. */
int zl_metrics_lcs(const int32_t *s1, int n1, const int32_t *s2, int n2, int *end);

/* ---- the gold dataset ---- */
typedef struct zl_metrics_dataset zl_metrics_dataset;

/* Loads a SQuAD-style JSON (data[].paragraphs[].qas[].{id, answers[].text}); errors
 * name the file and the JSON path or question id of the bad field. */
zl_metrics_dataset *zl_metrics_dataset_load(const char *path);
zl_metrics_dataset *zl_metrics_dataset_parse(const char *what, const char *json, size_t len);
/* The same from a parsed document (a file, or a Lua table through the binding), read by
 * the SQuAD reader of squad.h (its rules and messages). */
struct cJSON;
zl_metrics_dataset *zl_metrics_dataset_from_json(const char *what, const struct cJSON *root);
/* Builder for datasets held elsewhere; a repeated id is refused. */
zl_metrics_dataset *zl_metrics_dataset_new(void);
int zl_metrics_dataset_add(zl_metrics_dataset *ds, const char *id, const char *const *golds,
                           int n_golds);
void zl_metrics_dataset_free(zl_metrics_dataset *ds);

int zl_metrics_dataset_count(const zl_metrics_dataset *ds);   /* questions */
const char *zl_metrics_dataset_id(const zl_metrics_dataset *ds, int i);  /* 0-based */
int zl_metrics_dataset_n_golds(const zl_metrics_dataset *ds, int i);
const char *zl_metrics_dataset_gold(const zl_metrics_dataset *ds, int i, int k);
/* Index of the question with this id, or -1. */
int zl_metrics_dataset_find(const zl_metrics_dataset *ds, const char *id);

/* ---- scoring a whole prediction set ---- */
typedef struct zl_metrics_result {
    double exact_match, f1;  /* x100, summed in dataset order as the official scripts */
    int total;               /* questions in the dataset (the denominator) */
    int missing;             /* questions without a prediction (scored 0) */
    int extra;               /* prediction ids not in the dataset (ignored) */
    int first_missing;       /* index of the first missing question, -1 if none */
    double *em, *f1q;        /* per question, x100 (0/100 and 0..100), dataset order */
    unsigned char *answered; /* per question: 1 when a prediction was given */
} zl_metrics_result;

/* preds[i] is question i's predicted text or NULL when missing. result->extra = 0. */
zl_metrics_result *zl_metrics_score(const zl_metrics_dataset *ds, zl_metrics_kind kind,
                                    const char *const *preds);
/* Reads predictions.json ({id: text}; the last of duplicate keys wins, as Python's
 * json). A non-string value is an error naming the id. */
zl_metrics_result *zl_metrics_score_file(const zl_metrics_dataset *ds, zl_metrics_kind kind,
                                         const char *pred_path);
void zl_metrics_result_free(zl_metrics_result *r);

#endif
