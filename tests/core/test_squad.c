/* test_squad.c — run_squad.py (v1.1) examples, features and decoding, with
 * expectations worked by hand from the reference code; real-data counts pinned when
 * $ZONELAB_SHARED/data/real is present (cross-checked against a Python transcription
 * of run_squad.py). */
#include "error.h"
#include "io.h"
#include "squad.h"
#include "zl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\nleader\nwas\njohn\nsmith\n(\n1895\n-\n"
                            "1943\n)\n.\nwhen\nborn\n?\njapanese\nelectronics\nindustry\nwhich\n"
                            "country\ncity\nmark\na\nb\nc\nd\nx\n";
enum { CLS = 2, SEP = 3, WHEN = 15, A = 25, B = 26, C = 27, D = 28, X = 29 };

static const char DATA[] =
    "{\"data\":[{\"paragraphs\":["
    "{\"context\":\"The leader was John Smith (1895-1943).\",\"qas\":[{\"id\":\"q1\","
    "\"question\":\"When was John Smith born?\",\"answers\":[{\"text\":\"1895\",\"answer_start\":27}]}]},"
    "{\"context\":\"The Japanese electronics industry.\",\"qas\":["
    "{\"id\":\"q2\",\"question\":\"Which country?\",\"answers\":[{\"text\":\"Japan\",\"answer_start\":4}]},"
    "{\"id\":\"q3\",\"question\":\"Which city?\",\"answers\":[{\"text\":\"Tokyo\",\"answer_start\":0}]},"
    "{\"id\":\"q4\",\"question\":\"Which mark?\",\"answers\":[{\"text\":\".\",\"answer_start\":-1}]},"
    "{\"id\":\"q5\",\"question\":\"Which?\",\"answers\":[{\"text\":\"x\",\"answer_start\":1000}]}]},"
    "{\"context\":\"a\\u202fb c\\u00a0d\",\"qas\":[{\"id\":\"q6\",\"question\":\"a?\","
    "\"answers\":[{\"text\":\"b\",\"answer_start\":2}]}]}"
    "]}]}";

/* six passage tokens, a one-token question, max_seq_length 8 and stride 1: spans
 * [0,4) [1,5) [2,6) with max-context ties */
static const char SPANS[] =
    "{\"data\":[{\"paragraphs\":[{\"context\":\"a b c d a b\",\"qas\":["
    "{\"id\":\"s1\",\"question\":\"x\",\"answers\":[{\"text\":\"d\",\"answer_start\":6}]},"
    "{\"id\":\"s2\",\"question\":\"x x x\",\"answers\":[{\"text\":\"a\",\"answer_start\":8}]}]}]}]}";

static zl_tokenizer *tok;

static void test_examples(void)
{
    zl_squad *ds = zl_squad_parse("data.json", DATA, sizeof DATA - 1, 0);
    CHECK(ds != NULL);
    if (!ds) return;
    CHECK(ds->n_examples == 6 && ds->n_paragraphs == 3 && ds->n_skipped == 0);
    const zl_squad_paragraph *p = &ds->paragraphs[0];
    CHECK(p->n_words == 6 && strcmp(p->words[5], "(1895-1943).") == 0);
    /* U+202F splits words, U+00A0 does not */
    p = &ds->paragraphs[2];
    CHECK(p->n_words == 3 && strcmp(p->words[1], "b") == 0 &&
          strcmp(p->words[2], "c\xc2\xa0" "d") == 0);
    CHECK(strcmp(ds->examples[3].qid, "q4") == 0 && ds->examples[3].answers[0].answer_start == -1);
    zl_squad_free(ds);

    ds = zl_squad_parse("data.json", DATA, sizeof DATA - 1, 1);
    CHECK(ds != NULL);
    if (!ds) return;
    /* q3 (text not at its span) and q5 (answer_start past the context) are skipped */
    CHECK(ds->n_examples == 4 && ds->n_skipped == 2);
    CHECK(ds->n_skipped == 2 && strcmp(ds->skipped[0], "q3") == 0 &&
          strcmp(ds->skipped[1], "q5") == 0);
    CHECK(ds->examples[0].start_word == 5 && ds->examples[0].end_word == 5);
    CHECK(ds->examples[1].start_word == 1 && ds->examples[1].end_word == 1);
    /* answer_start -1 indexes from the end as Python does: the last word holds "." */
    CHECK(strcmp(ds->examples[2].qid, "q4") == 0);
    CHECK(ds->examples[2].start_word == 3 && ds->examples[2].end_word == 3);
    CHECK(ds->examples[3].start_word == 1 && ds->examples[3].end_word == 1);

    zl_squad_feature_opts fo = zl_squad_feature_defaults();
    fo.training = 1;
    zl_squad_features *f = zl_squad_features_new(ds, tok, &fo);
    CHECK(f && f->count == 4);
    if (f && f->count == 4) {
        const zl_squad_feature *a = &f->items[0];
        /* [CLS] when was john smith born ? [SEP] the leader was john smith ( 1895 - 1943 ) . [SEP] */
        CHECK(a->length == 20 && a->query_len == 6 && a->doc_len == 11);
        CHECK(a->input_ids[0] == CLS && a->input_ids[1] == WHEN && a->input_ids[7] == SEP &&
              a->input_ids[19] == SEP && a->input_ids[14] == 10);
        /* _improve_answer_span narrows "(1895-1943)." to "1895" */
        CHECK(a->start_position == 14 && a->end_position == 14);
        CHECK(a->orig[0] == 0 && a->orig[5] == 5 && a->orig[10] == 5);
        /* an answer inside a word labels the whole word: "Japan" -> "japanese" */
        CHECK(f->items[1].query_len == 3 && f->items[1].start_position == 6 &&
              f->items[1].end_position == 6);
        /* "." found after improving the span [industry .] */
        CHECK(f->items[2].query_len == 3 && f->items[2].start_position == 9 &&
              f->items[2].end_position == 9);
        /* q6: "a ?" then a b c d; the answer "b" is passage token 1 */
        CHECK(f->items[3].start_position == 5 && f->items[3].end_position == 5);
        CHECK(f->items[3].doc_len == 4 && f->items[3].orig[3] == 2);
    }
    zl_squad_features_free(f);
    /* training features need a training-loaded set */
    zl_squad *dev = zl_squad_parse("data.json", DATA, sizeof DATA - 1, 0);
    CHECK(dev && zl_squad_features_new(dev, tok, &fo) == NULL);
    zl_squad_free(dev);
    zl_squad_free(ds);
}

static void test_spans(void)
{
    zl_squad *ds = zl_squad_parse("spans.json", SPANS, sizeof SPANS - 1, 1);
    CHECK(ds && ds->n_examples == 2);
    if (!ds) return;
    zl_squad_feature_opts fo = {8, 1, 1, 1, 0};
    zl_squad_features *f = zl_squad_features_new(ds, tok, &fo);
    CHECK(f && f->count == 6);
    if (f && f->count == 6) {
        static const int starts[3] = {0, 1, 2};
        for (int i = 0; i < 3; i++) {
            CHECK(f->items[i].doc_span_index == i && f->items[i].doc_len == 4);
            CHECK(f->items[i].length == 8 && f->items[i].query_len == 1);
            CHECK(f->items[i].orig[0] == starts[i]);
        }
        /* max context: p2 ties between spans 0 and 1 -> span 0; p3 ties 1 and 2 -> span 1 */
        int want[3][4] = {{1, 1, 1, 0}, {0, 0, 1, 0}, {0, 0, 1, 1}};
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 4; k++) CHECK(f->items[i].max_ctx[k] == want[i][k]);
        /* "d" = passage token 3 */
        CHECK(f->items[0].start_position == 6 && f->items[0].end_position == 6);
        CHECK(f->items[1].start_position == 5 && f->items[2].start_position == 4);
        /* "x x x" truncated to one token; "a" = token 4, outside span 0 -> 0, 0 */
        CHECK(f->items[3].example_index == 1 && f->items[3].query_len == 1);
        CHECK(f->items[3].start_position == 0 && f->items[3].end_position == 0);
        CHECK(f->items[4].start_position == 6 && f->items[5].start_position == 5);
    }

    /* the one batch builder: rows in idx order, zero padding, types from the passage on */
    if (f && f->count == 6) {
        int32_t ids[2 * 10], ty[2 * 10], mk[2 * 10], qm[2 * 10], pm[2 * 10], sp[2], ep[2];
        zl_squad_batch b = {ids, ty, mk, qm, pm, sp, ep};
        const int32_t idx[2] = {4, 0};
        CHECK(zl_squad_features_batch(f, idx, 0, 2, 10, &b) == 0);
        for (int t = 0; t < 10; t++) {
            const zl_squad_feature *ft = &f->items[0];
            int real = t < ft->length;
            CHECK(ids[10 + t] == (real ? ft->input_ids[t] : 0));
            CHECK(mk[10 + t] == real && ty[10 + t] == (real && t >= 3));
            CHECK(qm[10 + t] == (t == 1) && pm[10 + t] == (t >= 3 && t < 7));
        }
        CHECK(sp[0] == 6 && sp[1] == 6 && ep[1] == 6);
        /* idx NULL: a contiguous range from first; a feature wider than the row is refused */
        CHECK(zl_squad_features_batch(f, NULL, 4, 2, 8, &b) == 0 && sp[0] == 6 && sp[1] == 5);
        CHECK(zl_squad_features_batch(f, NULL, 0, 1, 7, &b) == -1);
        CHECK(strstr(zl_error_get(), "has 8 tokens, more than 7") != NULL);
        CHECK(zl_squad_features_batch(f, NULL, 5, 2, 8, &b) == -1);
    }

    /* decoding across spans: a start that is not at its max context is skipped */
    zl_squad_collector *c = f ? zl_squad_collector_new(f) : NULL;
    CHECK(c != NULL);
    if (c) {
        float s[6][8] = {{0}}, e[6][8] = {{0}};
        s[1][4] = 9; /* span 1, p2: not max context there */
        e[1][4] = 9;
        s[2][4] = 3; /* span 2, p4 = "a" */
        e[2][4] = 3;
        CHECK(zl_squad_collector_add(c, 0, 6, 8, &s[0][0], &e[0][0]) == 0);
        CHECK(zl_squad_collector_filled(c) == 6);
        zl_squad_decode_opts o = zl_squad_decode_defaults();
        zl_squad_predictions *p = zl_squad_decode(ds, f, c, &o);
        CHECK(p && p->count == 2);
        if (p) CHECK(strcmp(p->items[0].text, "a") == 0);
        zl_squad_predictions_free(p);
        /* one window alone, by the same rules: span 1's start is not at max context */
        int st = -1, en = -1;
        double sc = 0;
        CHECK(zl_squad_best_span(f, 1, s[1], e[1], 8, &o, &st, &en, &sc) == 1);
        CHECK(st == 5 && en == 5 && sc == 0); /* position 4 (9 + 9) is not max context */
        zl_squad_decode_opts one = o;
        one.n_best_size = 1;
        CHECK(zl_squad_best_span(f, 1, s[1], e[1], 8, &one, &st, &en, &sc) == 0);
        float s2[8] = {0, 0, 0, 0, 0, 0, 4, 0}, e2[8] = {0, 0, 0, 0, 0, 0, 2, 0};
        CHECK(zl_squad_best_span(f, 2, s2, e2, 8, &o, &st, &en, &sc) == 1);
        CHECK(st == 6 && en == 6 && sc == 6);
        char *txt = zl_squad_span_text(ds, f, 2, st, en, 1);
        CHECK(txt && strcmp(txt, "b") == 0);
        free(txt);
        CHECK(zl_squad_span_text(ds, f, 2, 0, 4, 1) == NULL); /* [CLS] is not in the passage */
        /* logits narrower than a feature are refused */
        CHECK(zl_squad_collector_add(c, 0, 1, 7, &s[0][0], &e[0][0]) == -1);
        CHECK(zl_squad_collector_add(c, 5, 2, 8, &s[0][0], &e[0][0]) == -1);
    }
    zl_squad_collector_free(c);
    zl_squad_features_free(f);
    zl_squad_free(ds);
}

static void test_decode(void)
{
    zl_squad *ds = zl_squad_parse("data.json", DATA, sizeof DATA - 1, 0);
    zl_squad_features *f = ds ? zl_squad_features_new(ds, tok, NULL) : NULL;
    CHECK(f && f->count == 6);
    if (!f || f->count != 6) goto out;
    /* width 24 > 20 tokens: padding positions are ranked but never valid */
    enum { W = 24 };
    float s[6][W], e[6][W];
    memset(s, 0, sizeof s);
    memset(e, 0, sizeof e);
    s[0][1] = 10; /* question token: not in token_to_orig_map */
    s[0][14] = 5; /* "1895" */
    s[0][11] = 4; /* "john" */
    e[0][0] = 9;  /* [CLS] */
    e[0][14] = 5;
    e[0][16] = 4; /* "1943" */
    e[0][12] = 3;
    e[0][22] = 50; /* padding */
    for (int i = 1; i < 6; i++) s[i][0] = 1; /* only [CLS] for n_best_size 1 */
    zl_squad_collector *c = zl_squad_collector_new(f);
    CHECK(zl_squad_collector_add(c, 0, 6, W, &s[0][0], &e[0][0]) == 0);
    zl_squad_decode_opts o = zl_squad_decode_defaults();
    zl_squad_predictions *p = zl_squad_decode(ds, f, c, &o);
    CHECK(p && p->count == 6);
    if (p && p->count == 6) {
        const zl_squad_prediction *q = &p->items[0];
        CHECK(strcmp(q->qid, "q1") == 0 && strcmp(q->text, "1895") == 0);
        CHECK(q->n_nbest == 20);
        CHECK(q->n_nbest >= 3 && strcmp(q->nbest[1].text, "1895-1943") == 0);
        /* the tie at score 9 keeps the order of discovery (start 14 before start 11) */
        CHECK(q->n_nbest >= 3 && strcmp(q->nbest[2].text, "John Smith (1895") == 0);
        CHECK(q->nbest[0].start_logit == 5 && q->nbest[0].end_logit == 5);
        CHECK(strcmp(q->nbest[3].text, "John Smith (1895-1943") == 0);
        CHECK(strcmp(q->nbest[5].text, "1895-") == 0);
        CHECK(strcmp(q->nbest[19].text, "leader was John Smith (1895-1943") == 0);
        /* the other questions: start [CLS] ranks first, then position 1.. by index */
        CHECK(strcmp(p->items[1].text, "The") == 0 && strcmp(p->items[5].text, "a") == 0);
        double tot = 0;
        for (int k = 0; k < q->n_nbest; k++) tot += q->nbest[k].probability;
        CHECK(fabs(tot - 1) < 1e-12);
        CHECK(fabs(q->nbest[1].probability / q->nbest[0].probability - exp(-1)) < 1e-12);
        CHECK(zl_squad_write_predictions("build-text-test-preds.json", p) == 0);
    }
    zl_squad_predictions_free(p);
    /* max_answer_length 3 and n_best_size 1: only (14, 14) remains for q1; the others
     * rank only [CLS] as start -> "empty" */
    o.n_best_size = 1;
    o.max_answer_length = 3;
    p = zl_squad_decode(ds, f, c, &o);
    CHECK(p != NULL);
    if (p) {
        /* the best end is [CLS] (9): nothing valid with one candidate each */
        CHECK(strcmp(p->items[0].text, "empty") == 0);
        CHECK(strcmp(p->items[1].text, "empty") == 0 && p->items[1].n_nbest == 1 &&
              p->items[1].nbest[0].probability == 1.0);
    }
    zl_squad_predictions_free(p);
    zl_squad_collector_free(c);
out:
    zl_squad_features_free(f);
    zl_squad_free(ds);
}

static int final_is(const char *pred, const char *orig, int lower, const char *want)
{
    char *r = zl_squad_final_text(pred, orig, lower);
    int ok = r && strcmp(r, want) == 0;
    if (!ok) fprintf(stderr, "  final_text(%s, %s) = %s\n", pred, orig, r ? r : "(null)");
    free(r);
    return ok;
}

static void test_final_text(void)
{
    CHECK(final_is("steve smith", "Steve Smith's", 1, "Steve Smith"));
    CHECK(final_is("1895", "(1895-1943).", 0, "1895"));
    CHECK(final_is("naive", "Na\xc3\xafve,", 1, "Na\xc3\xafve"));
    /* fallbacks return the original text exactly */
    CHECK(final_is("xyz", "Steve Smith's", 1, "Steve Smith's"));          /* not found */
    CHECK(final_is("naive", "nai\xcc\x88ve", 1, "nai\xcc\x88ve"));        /* lengths differ */
    CHECK(final_is("ab", "a\xe2\x80\x8b" "b c", 0, "a\xe2\x80\x8b" "b c")); /* lengths differ */
    CHECK(final_is(" b", "a b", 0, "a b"));                                 /* start on a space */
    CHECK(final_is("", "a b", 0, "a b"));
    CHECK(final_is("Smith", "Steve Smith's", 1, "Steve Smith's"));        /* case: not found */
}

static void test_errors(void)
{
    static const char *bad[] = {
        "not json", "{}", "{\"data\":{}}", "{\"data\":[{\"paragraphs\":[{\"qas\":[]}]}]}",
        "{\"data\":[{\"paragraphs\":[{\"context\":\"a\",\"qas\":[{\"question\":\"q\"}]}]}]}",
        "{\"data\":[{\"paragraphs\":[{\"context\":\"a\",\"qas\":[{\"id\":\"i\",\"question\":\"q\","
        "\"answers\":[{\"text\":1}]}]}]}]}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        zl_squad *ds = zl_squad_parse("bad.json", bad[i], strlen(bad[i]), 1);
        CHECK(ds == NULL && strstr(zl_error_get(), "bad.json") != NULL);
        zl_squad_free(ds);
    }
    CHECK(zl_squad_load("/nonexistent/dev.json", 0) == NULL);
    /* no answers in training: skipped, not a crash; empty context: no features */
    static const char odd[] = "{\"data\":[{\"paragraphs\":[{\"context\":\" \",\"qas\":["
                              "{\"id\":\"e\",\"question\":\"q\",\"answers\":[]},"
                              "{\"id\":\"f\",\"question\":\"q\",\"answers\":[{\"text\":\"\","
                              "\"answer_start\":0}]}]}]}]}";
    zl_squad *ds = zl_squad_parse("odd.json", odd, sizeof odd - 1, 1);
    CHECK(ds && ds->n_examples == 1 && ds->n_skipped == 1);
    zl_squad_feature_opts fo = zl_squad_feature_defaults();
    fo.training = 1;
    zl_squad_features *f = ds ? zl_squad_features_new(ds, tok, &fo) : NULL;
    CHECK(f && f->count == 0);
    zl_squad_features_free(f);
    zl_squad_free(ds);
    /* a query length leaving no room for the passage is refused */
    fo.max_seq_length = 5; /* "x x x": 3 + 3 > 5 */
    fo.max_query_length = 5;
    fo.training = 0;
    ds = zl_squad_parse("spans.json", SPANS, sizeof SPANS - 1, 0);
    CHECK(ds && zl_squad_features_new(ds, tok, &fo) == NULL);
    CHECK(strstr(zl_error_get(), "s2") != NULL);
    zl_squad_free(ds);
}

/* nbest_predictions.json writes its numbers as Python's json (repr), like every score file */
static void test_nbest_numbers(void)
{
    zl_squad_nbest nb = {"a", 1.0, 0.1, -2.5e-05};
    zl_squad_prediction pr = {"q", "a", 1, &nb};
    zl_squad_predictions p = {1, &pr};
    const char *path = "build-text-test-nbest.json";
    CHECK(zl_squad_write_nbest(path, &p) == 0);
    char *s = NULL;
    size_t len = 0;
    CHECK(zl_io_read_file(path, 1 << 20, &s, &len) == 0);
    CHECK(s && strstr(s, "\"probability\":\t1.0,") && strstr(s, "\"start_logit\":\t0.1,") &&
          strstr(s, "\"end_logit\":\t-2.5e-05"));
    free(s);
    remove(path);
}

static void test_real(void)
{
    char sh[1024], dev[1100], voc[1100], cm[1100], cv[1100];
    if (!zl_test_real(sh, sizeof sh, "real data", "squad_v1.1/dev-v1.1.json")) return;
    snprintf(dev, sizeof dev, "%s/squad_v1.1/dev-v1.1.json", sh);
    snprintf(voc, sizeof voc, "%s/vocab/bert-base-cased/vocab.txt", sh);
    snprintf(cm, sizeof cm, "%s/cmrc2018/cmrc2018_dev.squad-style.json", sh);
    snprintf(cv, sizeof cv, "%s/vocab/bert-base-chinese/vocab.txt", sh);
    zl_tokenizer_opts co = {0, 0};
    zl_tokenizer *t = zl_tokenizer_load(voc, &co);
    zl_squad *ds = zl_squad_load(dev, 0);
    CHECK(t && ds && ds->n_examples == 10570 && ds->n_paragraphs == 2067);
    zl_squad_features *f = (t && ds) ? zl_squad_features_new(ds, t, NULL) : NULL;
    /* 10881 = run_squad.py's count at 384/128/64 with the cased vocabulary */
    CHECK(f && f->count == 10881);
    zl_squad_features_free(f);
    zl_squad_free(ds);
    zl_tokenizer_free(t);

    zl_tokenizer_opts lo = {1, 0};
    t = zl_tokenizer_load(cv, &lo);
    ds = zl_squad_load(cm, 0);
    CHECK(t && ds && ds->n_examples == 3219);
    zl_squad_free(ds);
    /* training: the answers with answer_start -1 or off by 1-2 characters */
    ds = zl_squad_load(cm, 1);
    CHECK(ds && ds->n_examples + ds->n_skipped == 3219);
    /* contexts without spaces are one "word", so -1 and shifted starts still find
     * their text there: run_squad.py keeps all 3219 */
    CHECK(ds && ds->n_skipped == 0);
    /* run_squad.py (transcribed) at 512/128/64, uncased Chinese vocabulary: 5528 */
    zl_squad_feature_opts fo = {512, 128, 64, 1, 0};
    zl_squad_features *cf = (t && ds) ? zl_squad_features_new(ds, t, &fo) : NULL;
    CHECK(cf && cf->count == 5528);
    zl_squad_features_free(cf);
    zl_squad_free(ds);
    snprintf(cm, sizeof cm, "%s/cmrc2018/cmrc2018_trial.squad-style.json", sh);
    ds = zl_squad_load(cm, 1);
    /* trial: run_squad.py keeps 1000 of 1002 */
    CHECK(ds && ds->n_examples == 1000 && ds->n_skipped == 2);
    zl_squad_free(ds);
    zl_tokenizer_free(t);
}

int main(void)
{
    zl_tokenizer_opts o = {1, 0};
    tok = zl_tokenizer_from_buffer("test vocab", VOCAB, sizeof VOCAB - 1, &o);
    CHECK(tok != NULL);
    if (!tok) return 1;
    test_examples();
    test_spans();
    test_decode();
    test_final_text();
    test_errors();
    test_nbest_numbers();
    test_real();
    zl_tokenizer_free(tok);
    remove("build-text-test-preds.json");
    return zl_test_summary("test_squad");
}
