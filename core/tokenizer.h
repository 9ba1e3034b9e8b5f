/* tokenizer.h — zonelab's WordPiece tokenizer. Owns the vocabulary (vocab.txt, one
 * piece a line, id = line number, lines stripped as Python's str.strip()), Google's
 * BasicTokenizer + greedy longest-match WordPiece (google-research/bert
 * tokenization.py, FullTokenizer) and the CMRC 2018 variant (run_cmrc2018.py's
 * customize_tokenizer + WordPiece).
 *
 *     zl_tokenizer_opts o = {.lower = 1};
 *     zl_tokenizer *tok = zl_tokenizer_load("vocab.txt", &o);
 *     zl_ids ids = {0};
 *     zl_tokenizer_encode(tok, "Héllo, world!", 13, &ids);  // appends ids
 *     const char *p = zl_tokenizer_piece(tok, ids.v[0]);      // "hello"
 *     zl_ids_free(&ids);
 *     zl_tokenizer_free(tok);
 *
 * Text is UTF-8. Invalid UTF-8 bytes are DROPPED, as tokenization.convert_to_unicode
 * does with decode("utf-8", "ignore"); nothing crashes on any bytes.
 * Reference quirks kept (see docs/data.md): cleaning deletes NUL, U+FFFD and Cc/Cf
 * characters without a space; tab/CR/LF and Zs become spaces; splitting uses Python's
 * str.split() whitespace set; lower-casing is Python's str.lower() (full mapping of
 * U+0130 and the final-sigma rule), then NFD and Mn removal; punctuation is ASCII
 * 33-47, 58-64, 91-96, 123-126 plus Unicode P*; CJK ideographs are split out; words of
 * more than 200 code points become [UNK].
 */
#ifndef ZL_TOKENIZER_H
#define ZL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct zl_tokenizer zl_tokenizer;

typedef struct zl_tokenizer_opts {
    int lower; /* BERT: lower-case + strip accents; CMRC: lower-case only */
    int cmrc;  /* run_cmrc2018.py's variant: no cleaning, every CJK/punctuation/
                  whitespace/control character is its own word (controls -> [UNK]) */
} zl_tokenizer_opts;

/* A growable list of ids. Zero-initialise, then append with the tokenizer. */
typedef struct zl_ids {
    int32_t *v;
    int n, cap;
} zl_ids;

/* A list of UTF-8 words: word i is the NUL-terminated string buf + off[i]. */
typedef struct zl_words {
    char *buf;
    size_t len, cap;
    size_t *off;
    int n, ncap;
} zl_words;

/* Loads a vocabulary file. Fails (naming the file) when it cannot be read or lacks
 * one of [PAD] [UNK] [CLS] [SEP]. opts may be NULL (lower = 0, cmrc = 0). */
zl_tokenizer *zl_tokenizer_load(const char *vocab_path, const zl_tokenizer_opts *opts);
/* The same from a vocabulary in memory; `what` names it in messages. */
zl_tokenizer *zl_tokenizer_from_buffer(const char *what, const char *data, size_t len,
                                       const zl_tokenizer_opts *opts);
void zl_tokenizer_free(zl_tokenizer *t);

zl_tokenizer_opts zl_tokenizer_get_opts(const zl_tokenizer *t);
/* Number of vocabulary lines (ids 0 .. size-1). */
int zl_tokenizer_size(const zl_tokenizer *t);
/* Id of a piece (the last line when a piece appears twice, as Python's dict); -1 if absent. */
int zl_tokenizer_id(const zl_tokenizer *t, const char *piece, size_t len);
/* Piece of an id (stripped vocabulary line); NULL when out of range. */
const char *zl_tokenizer_piece(const zl_tokenizer *t, int id);
int zl_tokenizer_cls(const zl_tokenizer *t);
int zl_tokenizer_sep(const zl_tokenizer *t);
int zl_tokenizer_unk(const zl_tokenizer *t);
int zl_tokenizer_pad(const zl_tokenizer *t);

/* Tokenizes text (FullTokenizer.tokenize, or the CMRC variant) and APPENDS the
 * WordPiece ids to out. Returns 0, or -1 on allocation failure. */
int zl_tokenizer_encode(const zl_tokenizer *t, const char *text, size_t len, zl_ids *out);

/* Google's BasicTokenizer(do_lower_case = lower) alone (as get_final_text uses it),
 * independent of the tokenizer's own options: APPENDS the words to out. */
int zl_tokenizer_basic(const char *text, size_t len, int lower, zl_words *out);

void zl_ids_free(zl_ids *ids);
void zl_words_free(zl_words *w);
int zl_ids_push(zl_ids *ids, int32_t v);

#endif
