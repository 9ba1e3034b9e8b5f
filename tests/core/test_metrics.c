/* test_metrics.c — SQuAD v1.1 / CMRC 2018 metrics: normalisation edge cases (expected
 * values computed with the official evaluate-v1.1.py under Python 3.11), token F1 with
 * repeated words, CMRC segmentation / LCS F1 / punctuation by hand, dataset errors, and
 * the real leaderboard prediction files (skipped when $ZONELAB_SHARED/data/real is absent). */
#include "error.h"
#include "metrics.h"
#include "zl_test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int norm_is(const char *in, const char *want)
{
    char *s = zl_metrics_normalize(in);
    int ok = s && strcmp(s, want) == 0;
    if (!ok) fprintf(stderr, "normalize(\"%s\") = \"%s\", expected \"%s\"\n", in, s ? s : "(null)", want);
    free(s);
    return ok;
}

static void test_normalize(void)
{
    CHECK(norm_is("The Theatre", "theatre"));            /* articles are whole words only */
    CHECK(norm_is("an apple", "apple"));
    CHECK(norm_is("A", ""));
    CHECK(norm_is("athe anthem thea", "athe anthem thea"));
    CHECK(norm_is("anthem a an the", "anthem"));
    CHECK(norm_is("the_cat", "thecat"));                  /* '_' is punctuation, removed first */
    CHECK(norm_is("the-cat", "thecat"));
    CHECK(norm_is("Hello, World!", "hello world"));
    CHECK(norm_is("1,000", "1000"));
    CHECK(norm_is("\xe2\x80\x9cquoted\xe2\x80\x9d", "\xe2\x80\x9cquoted\xe2\x80\x9d")); /* “” kept */
    /* a combining mark is not a \w character, so "the" before it is a whole word */
    CHECK(norm_is("the\xcc\x81 cat", "\xcc\x81 cat"));
    /* numbers are \w: the1, the² and ⅷthe are not articles */
    CHECK(norm_is("\xc4\x80N the1 the\xc2\xb2 \xe2\x85\xb7the", "\xc4\x81n the1 the\xc2\xb2 \xe2\x85\xb7the"));
    /* Python whitespace: NBSP, EM SPACE, IDEOGRAPHIC SPACE, LINE SEPARATOR, U+001C */
    CHECK(norm_is("a\xc2\xa0" "b\xe2\x80\x83" "c\xe3\x80\x80" "d\xe2\x80\xa8" "e\x1c" "f", "b c d e f"));
    CHECK(norm_is("  many   spaces\t\nhere ", "many spaces here"));
    CHECK(norm_is("th\xc3\xa9\xc3\xa2tre \xc3\x89" "COLE", "th\xc3\xa9\xc3\xa2tre \xc3\xa9" "cole"));
    CHECK(norm_is("\xc4\xb0stanbul", "i\xcc\x87stanbul"));   /* full lower-casing of U+0130 */
    /* final sigma: ΣΑΣ ΟΔΟΣ. -> σας οδος */
    CHECK(norm_is("\xce\xa3\xce\x91\xce\xa3 \xce\x9f\xce\x94\xce\x9f\xce\xa3.",
                  "\xcf\x83\xce\xb1\xcf\x82 \xce\xbf\xce\xb4\xce\xbf\xcf\x82"));
    CHECK(norm_is("ab\xff" "c", "ab\xff" "c"));             /* invalid UTF-8 survives */
    CHECK(norm_is("", ""));
}

static void test_squad_scores(void)
{
    const char *g1[] = {"cat cat"};
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_SQUAD, "the the cat cat cat", g1, 1), 0.8, 1e-15);
    const char *g2[] = {"cat", "a cat cat dog"};
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_SQUAD, "the cat cat", g2, 2), 0.8, 1e-15);
    CHECK(zl_metrics_em(ZL_METRICS_SQUAD, "the cat cat", g2, 2) == 0);
    const char *g3[] = {"Denver Broncos", "The Denver Broncos!"};
    CHECK(zl_metrics_em(ZL_METRICS_SQUAD, "denver broncos", g3, 2) == 1);
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_SQUAD, "Broncos", g3, 2), 2.0 / 3.0, 1e-15);
    const char *g4[] = {"the"};
    CHECK(zl_metrics_em(ZL_METRICS_SQUAD, "a", g4, 1) == 1);   /* both normalise to "" */
    CHECK(zl_metrics_f1(ZL_METRICS_SQUAD, "a", g4, 1) == 0);   /* ... but F1 has no tokens */
    CHECK(zl_metrics_f1(ZL_METRICS_SQUAD, "x", g4, 0) == -1);
    CHECK(strstr(zl_error_get(), "no gold answers") != NULL);
}

static int seg_is(const char *in, int rm_punc, const char *want_joined)
{
    char *blk;
    int n = zl_metrics_cmrc_segment(in, rm_punc, &blk);
    if (n < 0) return 0;
    char out[512] = "";
    const char *p = blk;
    for (int i = 0; i < n; i++) {
        if (i) strcat(out, "|");
        strncat(out, p, sizeof out - strlen(out) - 2);
        p += strlen(p) + 1;
    }
    free(blk);
    int ok = strcmp(out, want_joined) == 0;
    if (!ok) fprintf(stderr, "segment(\"%s\") = \"%s\", expected \"%s\"\n", in, out, want_joined);
    return ok;
}

static void test_cmrc(void)
{
    /* mixed segmentation: CJK (U+4E00..U+9FA5) one by one, other runs as words */
    CHECK(seg_is("我爱Beijing天安门", 1, "我|爱|beijing|天|安|门"));
    CHECK(seg_is("北京，上海", 1, "北|京|上|海"));
    CHECK(seg_is("北京，上海", 0, "北|京|，|上|海"));
    CHECK(seg_is("abc-def", 1, "abcdef"));             /* removed punctuation joins the run */
    CHECK(seg_is("abc-def", 0, "abc|-|def"));
    CHECK(seg_is("  北 京 ", 1, "北|京"));
    CHECK(seg_is("1998年", 1, "1998|年"));
    CHECK(seg_is("北京…", 1, "北|京|…"));              /* '……' in the list never matches '…' */
    /* the NLTK word_tokenize port */
    CHECK(seg_is("it's 3.5 ok.", 1, "it|'s|3.5|ok|."));
    CHECK(seg_is("I can't go, cannot.", 1, "i|ca|n't|go|,|can|not|."));
    CHECK(seg_is("\"yes\" (no)", 1, "``|yes|''|(|no|)"));
    CHECK(seg_is("a$5;b", 1, "a|$|5|;|b"));
    CHECK(seg_is("end. Next", 1, "end|.|next"));
    CHECK(seg_is("u.s. army", 1, "u.s.|army"));
    CHECK(seg_is("in 1998. then", 1, "in|1998.|then"));
    CHECK(seg_is("see mr. smith. ok", 1, "see|mr.|smith|.|ok"));
    CHECK(seg_is("\"it's\" ok.\u201d ", 0, "``|it|'s|''|ok|.|\u201d"));

    char *s = zl_metrics_cmrc_remove_punctuation("  《北京》：首都。 ");
    CHECK(s && strcmp(s, "北京首都") == 0);
    free(s);

    const char *g1[] = {"天安门广场"};
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_CMRC, "在天安门", g1, 1), 2 * 0.75 * 0.6 / 1.35, 1e-15);
    const char *g2[] = {"甲乙丙丁"};  /* longest common SUBSTRING: 丙丁, not the subsequence */
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_CMRC, "甲丙丁乙", g2, 1), 0.5, 1e-15);
    const char *g3[] = {"北京", "上海市"};
    CHECK(zl_metrics_em(ZL_METRICS_CMRC, "北京。", g3, 2) == 1);
    CHECK(zl_metrics_em(ZL_METRICS_CMRC, "  北京 ", g3, 2) == 1);
    CHECK(zl_metrics_em(ZL_METRICS_CMRC, "北京…", g3, 2) == 0);
    CHECK(zl_metrics_em(ZL_METRICS_CMRC, "北 京", g3, 2) == 0);
    CHECK_NEAR(zl_metrics_f1(ZL_METRICS_CMRC, "北 京", g3, 2), 1.0, 1e-15);
    const char *g4[] = {"ABC公司"};
    CHECK(zl_metrics_em(ZL_METRICS_CMRC, "abc公司", g4, 1) == 1);
    CHECK(zl_metrics_f1(ZL_METRICS_CMRC, "，。", g4, 1) == 0);   /* nothing left to match */
}

static void test_dataset(void)
{
    const char *js = "{\"data\": [{\"paragraphs\": [{\"context\": \"c\", \"qas\": ["
                     "{\"id\": \"q1\", \"answers\": [{\"text\": \"The cat\"}, {\"text\": \"a dog\"}]},"
                     "{\"id\": \"q2\", \"answers\": [{\"text\": \"red\"}]},"
                     "{\"id\": \"q3\", \"answers\": [{\"text\": \"blue sky\"}]}]}]}]}";
    zl_metrics_dataset *ds = zl_metrics_dataset_parse("mini.json", js, strlen(js));
    CHECK(ds && zl_metrics_dataset_count(ds) == 3);
    if (!ds) return;
    CHECK(zl_metrics_dataset_find(ds, "q2") == 1 && zl_metrics_dataset_find(ds, "zz") == -1);
    CHECK(zl_metrics_dataset_n_golds(ds, 0) == 2);
    CHECK(strcmp(zl_metrics_dataset_gold(ds, 0, 1), "a dog") == 0);
    const char *preds[] = {"dog", NULL, "sky"};
    zl_metrics_result *r = zl_metrics_score(ds, ZL_METRICS_SQUAD, preds);
    CHECK(r && r->total == 3 && r->missing == 1 && r->first_missing == 1);
    if (r) {
        CHECK_NEAR(r->exact_match, 100.0 / 3, 1e-12);                 /* q1 only */
        CHECK_NEAR(r->f1, 100.0 * (1.0 + 0 + 2.0 / 3.0) / 3, 1e-12);  /* q3: 1 of 2 tokens */
        CHECK(r->em[0] == 100 && r->em[1] == 0 && !r->answered[1] && r->answered[2]);
        CHECK_NEAR(r->f1q[2], 200.0 / 3.0, 1e-12);
    }
    zl_metrics_result_free(r);
    zl_metrics_dataset_free(ds);

    const char *bad1 = "{\"data\": [{\"paragraphs\": [{\"qas\": [{\"id\": \"q1\", \"answers\": [{}]}]}]}]}";
    CHECK(zl_metrics_dataset_parse("bad1.json", bad1, strlen(bad1)) == NULL);
    CHECK(strstr(zl_error_get(), "bad1.json: question q1: answers[0] has no string \"text\"") != NULL);
    CHECK(zl_metrics_dataset_parse("bad2.json", "{\"version\": 1}", 14) == NULL);
    CHECK(strstr(zl_error_get(), "bad2.json: \"data\" missing or not an array") != NULL);
    /* the SQuAD reader's rules, as for features: ids are strings, once each */
    const char *num = "{\"data\": [{\"paragraphs\": [{\"qas\": [{\"id\": 7, \"answers\": []}]}]}]}";
    CHECK(zl_metrics_dataset_parse("num.json", num, strlen(num)) == NULL);
    CHECK(strstr(zl_error_get(), "num.json: data[0].paragraphs[0].qas[0]: \"id\" is a number") != NULL);
    zl_metrics_dataset *built = zl_metrics_dataset_new();
    const char *gold = "x";
    CHECK(built && zl_metrics_dataset_add(built, "q1", &gold, 1) == 0);
    CHECK(built && zl_metrics_dataset_add(built, "q1", &gold, 1) != 0);
    CHECK(strstr(zl_error_get(), "question id q1 appears twice") != NULL);
    CHECK(built && zl_metrics_dataset_count(built) == 1);
    zl_metrics_dataset_free(built);
    CHECK(zl_metrics_dataset_parse("bad3.json", "{\"data\": [", 10) == NULL);
    CHECK(strstr(zl_error_get(), "bad3.json: invalid JSON") != NULL);
    CHECK(zl_metrics_dataset_load("/nonexistent/dev.json") == NULL);
    CHECK(strstr(zl_error_get(), "/nonexistent/dev.json") != NULL);
}

/* ---- the real leaderboard files: EM/F1 as the official script prints them ---- */
static void test_real(void)
{
    char real[1024], dir[1100], path[1200];
    if (!zl_test_real(real, sizeof real, "real data", "squad_v1.1/dev-v1.1.json")) return;
    snprintf(dir, sizeof dir, "%s/squad_v1.1", real);
    snprintf(path, sizeof path, "%s/dev-v1.1.json", dir);
    zl_metrics_dataset *ds = zl_metrics_dataset_load(path);
    CHECK(ds && zl_metrics_dataset_count(ds) == 10570);
    if (!ds) return;
    static const struct { const char *file; double em, f1; int missing, extra; } lb[] = {
        {"BERT_ensemble_Google_AI_Language.json", 86.20624408703878, 92.19557978351145, 0, 0},
        {"Logistic_Regression_Baseline_Stanford_University.json", 40.14191106906339,
         50.98153647324461, 13, 28},
        {"Match-LSTM_with_Ans-Ptr_Boundary+Ensemble_Singapore_Management_University.json",
         67.63481551561021, 76.75556184979695, 0, 0},
        {"SLQA+_ensemble_Alibaba_iDST_NLP.json", 81.94891201513718, 88.38386312172166, 0, 0},
        {"r-net+_ensemble_Microsoft_Research_Asia.json", 82.46925260170293, 88.47785965423249, 0, 0},
    };
    for (size_t i = 0; i < sizeof lb / sizeof lb[0]; i++) {
        snprintf(path, sizeof path, "%s/leaderboard_predictions/%s", dir, lb[i].file);
        zl_metrics_result *r = zl_metrics_score_file(ds, ZL_METRICS_SQUAD, path);
        CHECK(r != NULL);
        if (!r) { fprintf(stderr, "%s\n", zl_error_get()); continue; }
        CHECK_NEAR(r->exact_match, lb[i].em, 1e-9);
        CHECK_NEAR(r->f1, lb[i].f1, 1e-9);
        CHECK(r->missing == lb[i].missing && r->extra == lb[i].extra && r->total == 10570);
        zl_metrics_result_free(r);
    }
    /* gold answers scored against themselves: every k-th answer (or the last) */
    int n = zl_metrics_dataset_count(ds);
    const char **preds = calloc((size_t)n, sizeof *preds);
    for (int k = 0; k < 3 && preds; k++) {
        for (int q = 0; q < n; q++) {
            int ng = zl_metrics_dataset_n_golds(ds, q);
            preds[q] = zl_metrics_dataset_gold(ds, q, k < ng ? k : ng - 1);
        }
        zl_metrics_result *r = zl_metrics_score(ds, ZL_METRICS_SQUAD, preds);
        CHECK(r && r->exact_match == 100.0 && r->missing == 0);
        /* one later answer normalises to no token at all: F1 0 there (official: 99.99053926206244) */
        if (r) CHECK_NEAR(r->f1, k == 0 ? 100.0 : 99.99053926206244, 1e-9);
        zl_metrics_result_free(r);
    }
    free(preds);
    zl_metrics_dataset_free(ds);

    /* CMRC 2018 dev: the first answers as predictions */
    snprintf(path, sizeof path, "%s/cmrc2018/cmrc2018_dev.squad-style.json", real);
    ds = zl_metrics_dataset_load(path);
    CHECK(ds && zl_metrics_dataset_count(ds) == 3219);
    if (!ds) return;
    n = zl_metrics_dataset_count(ds);
    preds = calloc((size_t)n, sizeof *preds);
    for (int q = 0; q < n && preds; q++) preds[q] = zl_metrics_dataset_gold(ds, q, 0);
    zl_metrics_result *r = preds ? zl_metrics_score(ds, ZL_METRICS_CMRC, preds) : NULL;
    CHECK(r && r->exact_match == 100.0 && r->f1 == 100.0);
    zl_metrics_result_free(r);
    /* the third answers against the first ones only: 715 of 3219 differ beyond
     * punctuation and case (computed with the script's remove_punctuation) */
    for (int q = 0; q < n && preds; q++) preds[q] = zl_metrics_dataset_gold(ds, q, 2);
    const char **first = calloc((size_t)n, sizeof *first);
    zl_metrics_dataset *d1 = zl_metrics_dataset_new();
    for (int q = 0; q < n && first && d1; q++) {
        first[q] = zl_metrics_dataset_gold(ds, q, 0);
        zl_metrics_dataset_add(d1, zl_metrics_dataset_id(ds, q), &first[q], 1);
    }
    r = d1 && preds ? zl_metrics_score(d1, ZL_METRICS_CMRC, preds) : NULL;
    CHECK(r && r->f1 > r->exact_match && r->f1 < 100.0);
    if (r) CHECK_NEAR(r->exact_match, 100.0 * (3219 - 715) / 3219, 1e-9);
    if (r) printf("CMRC dev, 3rd answers vs 1st: EM %.3f F1 %.3f\n", r->exact_match, r->f1);
    zl_metrics_result_free(r);
    zl_metrics_dataset_free(d1);
    free(first);
    free(preds);
    zl_metrics_dataset_free(ds);
}

int main(void)
{
    test_normalize();
    test_squad_scores();
    test_cmrc();
    test_dataset();
    test_real();
    return zl_test_summary("test_metrics");
}
