/* test_io.c — file reading, atomic writing, safetensors (round trip, the golden
 * fixture files, F16/BF16 widening, malformed headers). Runs from the source dir. */
#define _POSIX_C_SOURCE 200809L
#include "error.h"
#include "io.h"
#include "zl_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

static void test_atomic(void)
{
    const char *p = tmp("a.txt");
    CHECK(zl_io_write_atomic(p, "hello", 5) == 0);
    char *d;
    size_t n;
    CHECK(zl_io_read_file(p, 100, &d, &n) == 0 && n == 5 && strcmp(d, "hello") == 0);
    free(d);
    CHECK(zl_io_read_file(p, 3, &d, &n) == -1);
    CHECK(strstr(zl_error_get(), "larger than the limit") != NULL);
    /* An aborted write leaves the old file in place and no temporary behind. */
    zl_atomic_file *a = zl_io_atomic_begin(p);
    CHECK(a != NULL);
    zl_io_atomic_write(a, "partial", 7);
    zl_io_atomic_abort(a);
    CHECK(zl_io_read_file(p, 100, &d, &n) == 0 && strcmp(d, "hello") == 0);
    free(d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", tmpdir);
    CHECK(system(cmd) == 0);
    /* Unwritable destination: error names the path. */
    CHECK(zl_io_write_atomic("/nonexistent-dir/x.json", "x", 1) == -1);
    CHECK(strstr(zl_error_get(), "/nonexistent-dir/x.json") != NULL);
    CHECK(zl_io_read_file("/nonexistent-file", 10, &d, &n) == -1);
    CHECK(zl_io_read_file(tmpdir, 10, &d, &n) == -1); /* a folder */
}

static void test_roundtrip(void)
{
    zl_tensor_map *m = zl_tensor_map_new();
    int64_t s1[2] = {2, 3}, s2[1] = {4}, s0[1] = {0};
    zl_tensor *a = zl_tensor_new(ZL_F32, 2, s1), *b = zl_tensor_new(ZL_I32, 1, s2);
    zl_tensor *e = zl_tensor_new(ZL_F32, 1, s0);
    zl_tensor *sc = zl_tensor_new(ZL_F32, 0, NULL);
    zl_tensor_randn(a, 1, 1.0);
    for (int i = 0; i < 4; i++) ZL_I32P(b)[i] = i * 1000 - 7;
    ZL_F32P(sc)[0] = 3.25f;
    zl_tensor_map_add(m, "z.weight", a);
    zl_tensor_map_add(m, "a.ids", b);
    zl_tensor_map_add(m, "empty", e);
    zl_tensor_map_add(m, "scalar", sc);
    const char *md[] = {"format", "pt", NULL};
    CHECK(zl_safetensors_save(tmp("rt.safetensors"), m, md) == 0);
    zl_tensor_map *r = zl_safetensors_load(tmp("rt.safetensors"));
    CHECK(r && r->count == 4);
    if (r) {
        zl_tensor *ra = zl_tensor_map_get(r, "z.weight"), *rb = zl_tensor_map_get(r, "a.ids");
        CHECK(ra && ra->ndim == 2 && ra->shape[1] == 3 && memcmp(ra->data, a->data, 24) == 0);
        CHECK(rb && rb->dtype == ZL_I32 && ZL_I32P(rb)[3] == 2993);
        zl_tensor *rs = zl_tensor_map_get(r, "scalar");
        CHECK(rs && rs->ndim == 0 && ZL_F32P(rs)[0] == 3.25f);
        CHECK(zl_tensor_map_get(r, "empty") && zl_tensor_map_get(r, "empty")->numel == 0);
        /* sorted-name order, back to back: a.ids first at offset 0 */
        const zl_named_tensor *ni = zl_tensor_map_find(r, "a.ids");
        CHECK(ni && ni->offset == 0 && ni->nbytes == 16);
    }
    zl_tensor_map_free(r);
    /* Header padded to a multiple of 8 with spaces. */
    char *d;
    size_t n;
    CHECK(zl_io_read_file(tmp("rt.safetensors"), 1 << 20, &d, &n) == 0);
    uint64_t hl = 0;
    memcpy(&hl, d, 8);
    CHECK(hl % 8 == 0 && d[8] == '{');
    CHECK(strstr(d + 8, "\"__metadata__\":{\"format\":\"pt\"}") != NULL);
    free(d);
    zl_tensor_map_free(m);
}

static void test_fixture_files(void)
{
    zl_tensor_map *f32 = zl_safetensors_load("tests/fixtures/tiny/model.safetensors");
    zl_tensor_map *f16 = zl_safetensors_load("tests/fixtures/tiny/model.f16.safetensors");
    zl_tensor_map *b16 = zl_safetensors_load("tests/fixtures/tiny/model.bf16.safetensors");
    CHECK(f32 && f16 && b16);
    if (!f32 || !f16 || !b16) return;
    CHECK(f32->count == 39 && f16->count == 39 && b16->count == 39);
    zl_tensor *w = zl_tensor_map_get(f32, "bert.embeddings.word_embeddings.weight");
    CHECK(w && w->shape[0] == 99 && w->shape[1] == 32);
    CHECK(strcmp(zl_tensor_map_find(f16, "qa_outputs.weight")->dtype, "F16") == 0);
    /* Each widened half value equals the float32 value rounded the fixture's way. */
    int64_t total = 0, bad16 = 0, badb = 0, subnormal = 0;
    for (int i = 0; i < f32->count; i++) {
        zl_tensor *x = f32->items[i].tensor;
        zl_tensor *h = zl_tensor_map_get(f16, f32->items[i].name);
        zl_tensor *bb = zl_tensor_map_get(b16, f32->items[i].name);
        if (!h || !bb || h->numel != x->numel) { bad16++; continue; }
        for (int64_t k = 0; k < x->numel; k++) {
            float v = ZL_F32P(x)[k];
            total++;
            if (ZL_F32P(h)[k] != zl_f16_to_f32(zl_f32_to_f16(v))) bad16++;
            if (ZL_F32P(bb)[k] != zl_bf16_to_f32(zl_f32_to_bf16(v))) badb++;
            if (v != 0 && fabsf(v) < 0x1.0p-14f) subnormal++;
        }
    }
    CHECK(total == 22498);
    CHECK(bad16 == 0);
    CHECK(badb == 0);
    CHECK(subnormal == 9);
    zl_tensor_map_free(f32);
    zl_tensor_map_free(f16);
    zl_tensor_map_free(b16);
    /* Header-only listing. */
    zl_tensor_map *l = zl_safetensors_list("tests/fixtures/tiny/model.safetensors");
    CHECK(l && l->count == 39 && l->items[0].tensor == NULL);
    zl_tensor_map_free(l);
}

static void test_half(void)
{
    CHECK(zl_f16_to_f32(0x3c00) == 1.0f);
    CHECK(zl_f16_to_f32(0xc000) == -2.0f);
    CHECK(zl_f16_to_f32(0x0001) == 0x1.0p-24f);   /* smallest subnormal */
    CHECK(zl_f16_to_f32(0x03ff) == 1023 * 0x1.0p-24f);
    CHECK(zl_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(zl_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(zl_f32_to_f16(1.0f + 0x1.0p-11f) == 0x3c00);  /* tie to even (down) */
    CHECK(zl_f32_to_f16(1.0f + 0x1.8p-10f) == 0x3c02);  /* tie to even (up) */
    CHECK(zl_f32_to_f16(0x1.0p-25f) == 0x0000);         /* tie to even: zero */
    CHECK(zl_f32_to_f16(0x1.8p-24f) == 0x0002);
    CHECK(zl_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(zl_f32_to_bf16(1.0f + 0x1.0p-8f) == 0x3f80);  /* tie to even */
    CHECK(zl_f32_to_bf16(1.0f + 0x1.8p-7f) == 0x3f82);
}

/* Writes a file made of an 8-byte length and a header (plus extra data bytes). */
static const char *write_st(const char *name, uint64_t hlen, const char *hdr, size_t data_bytes)
{
    const char *p = tmp(name);
    FILE *f = fopen(p, "wb");
    fwrite(&hlen, 8, 1, f);
    fwrite(hdr, 1, strlen(hdr), f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return p;
}

static void expect_error(const char *path, const char *needle)
{
    zl_error_clear();
    zl_tensor_map *m = zl_safetensors_load(path);
    CHECK(m == NULL);
    if (m) zl_tensor_map_free(m);
    if (!strstr(zl_error_get(), needle)) {
        fprintf(stderr, "  %s: error '%s' lacks '%s'\n", path, zl_error_get(), needle);
        CHECK(0);
    }
    CHECK(strstr(zl_error_get(), path) != NULL);
}

static void test_malformed(void)
{
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *p = write_st("ok.safetensors", strlen(ok), ok, 8);
    zl_tensor_map *m = zl_safetensors_load(p);
    CHECK(m && m->count == 1);
    zl_tensor_map_free(m);

    FILE *f = fopen(tmp("short.safetensors"), "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    expect_error(tmp("short.safetensors"), "too short");
    expect_error(write_st("trunc.safetensors", 500, "{\"a\":", 0), "larger than the file");
    expect_error(write_st("huge.safetensors", (uint64_t)1 << 62, "{}", 0), "larger than the file");
    const char *notjson = "{not json";
    expect_error(write_st("nj.safetensors", strlen(notjson), notjson, 0), "invalid JSON");
    const char *arr = "[1,2]";
    expect_error(write_st("arr.safetensors", strlen(arr), arr, 0), "not a JSON object");
    const char *range = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    expect_error(write_st("range.safetensors", strlen(range), range, 8), "beyond");
    const char *overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    expect_error(write_st("ovl.safetensors", strlen(overlap), overlap, 12), "overlap");
    const char *dtype = "{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_error(write_st("dt.safetensors", strlen(dtype), dtype, 8), "unsupported dtype Q4");
    const char *size = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
    expect_error(write_st("sz.safetensors", strlen(size), size, 8), "need 12");
    const char *unal = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}";
    expect_error(write_st("un.safetensors", strlen(unal), unal, 8), "not aligned");
    const char *ovf = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                      "\"data_offsets\":[0,8]}}";
    expect_error(write_st("ovf.safetensors", strlen(ovf), ovf, 8), "overflows");
    const char *negs = "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}";
    expect_error(write_st("neg.safetensors", strlen(negs), negs, 8), "non-negative");
    const char *dup = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}";
    expect_error(write_st("dup.safetensors", strlen(dup), dup, 8), "appears twice");
    const char *trail = "{}  x";
    expect_error(write_st("trail.safetensors", strlen(trail), trail, 0), "unexpected text");
    const char *miss = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}";
    expect_error(write_st("miss.safetensors", strlen(miss), miss, 8), "data_offsets");
    /* Every truncation of a valid file is rejected cleanly, never a crash. */
    char *d;
    size_t n;
    if (zl_io_read_file(p, 1 << 20, &d, &n) == 0) {
        for (size_t k = 0; k < n; k++) {
            zl_tensor_map *t = zl_safetensors_parse("mem", (unsigned char *)d, k, 1);
            CHECK(t == NULL);
            zl_tensor_map_free(t);
        }
        free(d);
    }
}

static void test_join(void)
{
    char *a = zl_io_join("out/run", "/", "optim.safetensors"), *b = zl_io_join("adam_m/", "", "w"),
         *c = zl_io_join("", "", "");
    CHECK(a && strcmp(a, "out/run/optim.safetensors") == 0);
    CHECK(b && strcmp(b, "adam_m/w") == 0);
    CHECK(c && strcmp(c, "") == 0);
    free(a);
    free(b);
    free(c);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/zl_test_io_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_atomic();
    test_join();
    test_roundtrip();
    test_fixture_files();
    test_half();
    test_malformed();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return zl_test_summary("test_io");
}
