/* test_tokenizer.c — every rule of Google's BERT tokenizer (tokenization.py) and the
 * CMRC variant, with expectations worked by hand from the reference code, plus the
 * real vocabularies when $ZONELAB_SHARED/data/real is present. */
#include "error.h"
#include "tokenizer.h"
#include "zl_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 hello 5 world 6 , 7 ! 8 un 9 ##aff 10 ##able
 * 11 cafe 12 café 13 中 14 文 15 a 16 ##b 17 foo (line "\u2028foo\u2028") 18 zero
 * 19 ##width 20 € 21 x 22 ##x 23 i 24 ο 25 ##δ 26 ##ο 27 ##ς 28 σ 29 ##α 30 ##σ 31 [MASK] */
static const char VOCAB[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n,\n!\nun\n##aff\n##able\ncafe\ncaf\xc3\xa9\n"
    "\xe4\xb8\xad\n\xe6\x96\x87\na\n##b\n\xe2\x80\xa8" "foo\xe2\x80\xa8\r\nzero\n##width\n"
    "\xe2\x82\xac\nx\n##x\ni\n\xce\xbf\n##\xce\xb4\n##\xce\xbf\n##\xcf\x82\n\xcf\x83\n"
    "##\xce\xb1\n##\xcf\x83\n[MASK]";

static zl_tokenizer *make(int lower, int cmrc)
{
    zl_tokenizer_opts o = {lower, cmrc};
    zl_tokenizer *t = zl_tokenizer_from_buffer("test vocab", VOCAB, sizeof VOCAB - 1, &o);
    if (!t) fprintf(stderr, "load failed: %s\n", zl_error_get());
    return t;
}

/* Tokenizes text and compares with the expected ids (terminated by -1). */
static int same(const zl_tokenizer *t, const char *text, size_t len, ...)
{
    zl_ids ids = {0};
    if (zl_tokenizer_encode(t, text, len, &ids)) return 0;
    va_list ap;
    va_start(ap, len);
    int ok = 1, i = 0;
    for (;; i++) {
        int want = va_arg(ap, int);
        if (want < 0) break;
        if (i >= ids.n || ids.v[i] != want) ok = 0;
    }
    va_end(ap);
    if (i != ids.n) ok = 0;
    if (!ok) {
        fprintf(stderr, "  tokens of \"%.*s\":", (int)len, text);
        for (int k = 0; k < ids.n; k++) fprintf(stderr, " %d", ids.v[k]);
        fprintf(stderr, "\n");
    }
    zl_ids_free(&ids);
    return ok;
}
#define S(s) s, sizeof(s) - 1

static void test_vocab(void)
{
    zl_tokenizer *t = make(0, 0);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(zl_tokenizer_size(t) == 32);
    CHECK(zl_tokenizer_pad(t) == 0 && zl_tokenizer_unk(t) == 1);
    CHECK(zl_tokenizer_cls(t) == 2 && zl_tokenizer_sep(t) == 3);
    /* the U+2028 and the CR around "foo" are stripped as Python's str.strip() does */
    CHECK(zl_tokenizer_id(t, S("foo")) == 17);
    CHECK(strcmp(zl_tokenizer_piece(t, 17), "foo") == 0);
    CHECK(zl_tokenizer_id(t, S("[MASK]")) == 31); /* last line without a newline */
    CHECK(zl_tokenizer_id(t, S("nope")) == -1);
    CHECK(zl_tokenizer_piece(t, 32) == NULL && zl_tokenizer_piece(t, -1) == NULL);
    zl_tokenizer_free(t);

    /* a vocabulary without [SEP] is an error naming the file */
    static const char bad[] = "[PAD]\n[UNK]\n[CLS]\nhello\n";
    CHECK(zl_tokenizer_from_buffer("my_vocab.txt", bad, sizeof bad - 1, NULL) == NULL);
    CHECK(strstr(zl_error_get(), "my_vocab.txt") && strstr(zl_error_get(), "[SEP]"));
    CHECK(zl_tokenizer_load("/nonexistent/vocab.txt", NULL) == NULL);
    CHECK(strstr(zl_error_get(), "/nonexistent/vocab.txt") != NULL);
    /* a repeated piece maps to its last line, as Python's dict */
    static const char dup[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nab\nab\n";
    zl_tokenizer *d = zl_tokenizer_from_buffer("dup", dup, sizeof dup - 1, NULL);
    CHECK(d && zl_tokenizer_id(d, S("ab")) == 5 && zl_tokenizer_size(d) == 6);
    zl_tokenizer_free(d);
}

static void test_bert_uncased(void)
{
    zl_tokenizer *t = make(1, 0);
    if (!t) { CHECK(0); return; }
    CHECK(same(t, S("H\xc3\xa9llo, World!"), 4, 6, 5, 7, -1));        /* accents, punct */
    CHECK(same(t, S("caf\xc3\xa9"), 11, -1));                           /* NFD + drop Mn */
    CHECK(same(t, S("cafe\xcc\x81"), 11, -1));                          /* decomposed too */
    CHECK(same(t, S("unaffable"), 8, 9, 10, -1));                       /* ## continuation */
    CHECK(same(t, S("\xc4\xb0"), 23, -1));                              /* U+0130 -> i + U+0307 -> i */
    /* final sigma: "ΟΔΟΣ" -> "οδος" (ς at the end), "ΣΑΣ" -> "σας" */
    CHECK(same(t, S("\xce\x9f\xce\x94\xce\x9f\xce\xa3"), 24, 25, 26, 27, -1));
    CHECK(same(t, S("\xce\xa3\xce\x91\xce\xa3"), 28, 29, 27, -1));
    CHECK(same(t, S("\xce\x9f\xce\xa3\xce\x91"), 24, 30, 29, -1));      /* medial sigma */
    zl_tokenizer_free(t);
}

static void test_bert_cased(void)
{
    zl_tokenizer *t = make(0, 0);
    if (!t) { CHECK(0); return; }
    CHECK(same(t, S("H\xc3\xa9llo"), 1, -1));        /* cased normalises nothing */
    CHECK(same(t, S("caf\xc3\xa9"), 12, -1));
    CHECK(same(t, S("cafe\xcc\x81"), 1, -1));        /* "cafe" + "##\u0301" missing -> [UNK] */
    CHECK(same(t, S("hello world"), 4, 5, -1));
    CHECK(same(t, S("  hello   world  "), 4, 5, -1));
    CHECK(same(t, S(""), -1));
    CHECK(same(t, S(" \t\n "), -1));
    /* CJK ideographs become words of their own */
    CHECK(same(t, S("a\xe4\xb8\xad\xe6\x96\x87" "b"), 15, 13, 14, 1, -1));
    /* Cc/Cf, NUL and U+FFFD are deleted WITHOUT a space: neighbours merge */
    CHECK(same(t, S("zero\xe2\x80\x8bwidth"), 18, 19, -1));   /* zero-width space */
    CHECK(same(t, S("zero\xc2\xad" "width"), 18, 19, -1));     /* soft hyphen */
    CHECK(same(t, S("zero\xef\xbb\xbfwidth"), 18, 19, -1));   /* BOM */
    CHECK(same(t, S("zero\xe2\x80\x8fwidth"), 18, 19, -1));   /* RLM */
    CHECK(same(t, S("zero\0width"), 18, 19, -1));              /* NUL */
    CHECK(same(t, S("zero\xef\xbf\xbdwidth"), 18, 19, -1));   /* U+FFFD */
    CHECK(same(t, S("zero\x1fwidth"), 18, 19, -1));            /* U+001F (Cc) */
    CHECK(same(t, S("zero\xc2\x85width"), 18, 19, -1));        /* U+0085 (Cc) */
    /* tab, newline, CR and Zs are spaces; U+2028 is split by str.split() */
    CHECK(same(t, S("hello\tworld\nhello\rworld"), 4, 5, 4, 5, -1));
    CHECK(same(t, S("hello\xe3\x80\x80world\xc2\xa0hello"), 4, 5, 4, -1));
    CHECK(same(t, S("hello\xe2\x80\xa8world"), 4, 5, -1));
    CHECK(same(t, S("hello\xe2\x80\xafworld"), 4, 5, -1));     /* U+202F (Zs) */
    /* punctuation: ASCII ranges and Unicode P*; symbols (S*) stay inside words */
    CHECK(same(t, S("hello,world!"), 4, 6, 5, 7, -1));
    CHECK(same(t, S("hello\xc2\xbfworld"), 4, 1, 5, -1));      /* ¿ (Po) split, unknown */
    CHECK(same(t, S("hello$world"), 4, 1, 5, -1));             /* $ is ASCII punctuation */
    CHECK(same(t, S("\xe2\x82\xac"), 20, -1));                   /* € alone */
    CHECK(same(t, S("x\xe2\x82\xac"), 1, -1));                   /* € inside a word */
    CHECK(same(t, S("hello\xc2\xa9"), 1, -1));                   /* © inside a word */
    /* unknown words and long words */
    CHECK(same(t, S("zzz"), 1, -1));
    char w[202];
    memset(w, 'x', sizeof w);
    zl_ids ids = {0};
    CHECK(zl_tokenizer_encode(t, w, 200, &ids) == 0 && ids.n == 200 && ids.v[0] == 21 &&
          ids.v[199] == 22);
    ids.n = 0;
    CHECK(zl_tokenizer_encode(t, w, 201, &ids) == 0 && ids.n == 1 && ids.v[0] == 1);
    zl_ids_free(&ids);
    /* invalid UTF-8 bytes are dropped (convert_to_unicode's "ignore") */
    CHECK(same(t, S("hel\xfflo"), 4, -1));
    CHECK(same(t, S("hello\xe2\x82"), 4, -1));
    CHECK(same(t, S("\xc0\xaf\xed\xa0\x80hello"), 4, -1));
    zl_tokenizer_free(t);
}

static void test_cmrc(void)
{
    zl_tokenizer *t = make(1, 1);
    if (!t) { CHECK(0); return; }
    /* control characters become their own [UNK], accents are kept when lower-casing */
    CHECK(same(t, S("hello\xe2\x80\x8bworld"), 4, 1, 5, -1));
    CHECK(same(t, S("hello\0world"), 4, 1, 5, -1));
    CHECK(same(t, S("CAFE\xcc\x81"), 1, -1));
    CHECK(same(t, S("CAFE"), 11, -1));
    CHECK(same(t, S("caf\xc3\xa9"), 12, -1));
    CHECK(same(t, S("\xc4\xb0"), 1, -1));                 /* "i\u0307": no accent stripping */
    CHECK(same(t, S("HELLO,world\xe4\xb8\xad!"), 4, 6, 5, 13, 7, -1));
    CHECK(same(t, S("hello\twor\xef\xbf\xbdld"), 4, 1, -1)); /* U+FFFD is kept (So) */
    zl_tokenizer_free(t);
}

static void test_basic(void)
{
    zl_words w = {0};
    CHECK(zl_tokenizer_basic(S("Steve Smith's \xe4\xb8\xad!"), 1, &w) == 0);
    CHECK(w.n == 6);
    if (w.n == 6) {
        CHECK(strcmp(w.buf + w.off[0], "steve") == 0);
        CHECK(strcmp(w.buf + w.off[2], "'") == 0);
        CHECK(strcmp(w.buf + w.off[4], "\xe4\xb8\xad") == 0);
        CHECK(strcmp(w.buf + w.off[5], "!") == 0);
    }
    zl_words_free(&w);
}

/* Real vocabularies: pinned tokenizations of fixed sentences. */
static void test_real(void)
{
    char sh[1024], path[1100];
    if (!zl_test_real(sh, sizeof sh, "real vocabularies", "vocab/bert-base-uncased/vocab.txt"))
        return;
    snprintf(path, sizeof path, "%s/vocab/bert-base-uncased/vocab.txt", sh);
    zl_tokenizer_opts lo = {1, 0}, ca = {0, 0};
    zl_tokenizer *u = zl_tokenizer_load(path, &lo);
    snprintf(path, sizeof path, "%s/vocab/bert-base-cased/vocab.txt", sh);
    zl_tokenizer *c = zl_tokenizer_load(path, &ca);
    CHECK(u && c);
    if (!u || !c) return;
    CHECK(zl_tokenizer_size(u) == 30522 && zl_tokenizer_size(c) == 28996);
    CHECK(zl_tokenizer_unk(u) == 100 && zl_tokenizer_cls(u) == 101 && zl_tokenizer_sep(u) == 102);
    CHECK(same(u, S("Hello, world! na\xc3\xafve caf\xc3\xa9"), 7592, 1010, 2088, 999, 15743, 7668, -1));
    CHECK(same(u, S("unaffable"), 14477, 20961, 3468, -1));
    CHECK(same(c, S("Hello, world!"), 8667, 117, 1362, 106, -1));
    zl_tokenizer_free(u);
    zl_tokenizer_free(c);
}

int main(void)
{
    test_vocab();
    test_bert_uncased();
    test_bert_cased();
    test_cmrc();
    test_basic();
    test_real();
    return zl_test_summary("test_tokenizer");
}
