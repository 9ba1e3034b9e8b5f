/* test_optim.c — BERT's AdamWeightDecay optimizer: schedule, clipping, decay rules,
 * the update against a double reference, accumulation, state save/load/resume. */
#define _POSIX_C_SOURCE 200809L
#include "zl_test.h"

#include "error.h"
#include "io.h"
#include "optim.h"
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLOSE(a, b, tol) CHECK_NEAR(a, b, tol)

static zl_optim *make(double lr, int64_t total, int64_t warm, double prop, int n,
                      const char *const *names, const int64_t *sizes)
{
    zl_optim_config c;
    zl_optim_config_default(&c);
    c.lr = lr;
    c.total_steps = total;
    c.warmup_steps = warm;
    c.warmup_proportion = prop;
    return zl_optim_new(n, names, sizes, &c);
}

static void test_schedule(void)
{
    const char *names[] = {"w"};
    int64_t sizes[] = {3};
    /* The fixture's schedule: lr 1e-2, total 5, warm-up 2. */
    zl_optim *o = make(1e-2, 5, 2, 0, 1, names, sizes);
    CHECK(o != NULL);
    const double want[] = {0, 0.005, 0.006, 0.004, 0.002, 0, 0};
    for (int s = 0; s < 7; s++) CLOSE(zl_optim_lr(o, s), want[s], 1e-15);
    zl_optim_free(o);
    /* warm-up from the proportion: int(total * p), truncated as create_optimizer does. */
    o = make(1.0, 15, -1, 0.1, 1, names, sizes);
    CHECK(zl_optim_get_config(o)->warmup_steps == 1);
    CLOSE(zl_optim_lr(o, 0), 0.0, 0);
    CLOSE(zl_optim_lr(o, 1), 1.0 - 1.0 / 15, 1e-15);
    zl_optim_free(o);
    o = make(2.0, 100, -1, 0.1, 1, names, sizes);
    CHECK(zl_optim_get_config(o)->warmup_steps == 10);
    CLOSE(zl_optim_lr(o, 5), 1.0, 1e-15);
    CLOSE(zl_optim_lr(o, 10), 2.0 * 0.9, 1e-15);
    CLOSE(zl_optim_lr(o, 99), 2.0 * 0.01, 1e-15);
    zl_optim_free(o);
    /* no warm-up: decay from step 0 */
    o = make(1.0, 4, 0, 0, 1, names, sizes);
    CLOSE(zl_optim_lr(o, 0), 1.0, 0);
    CLOSE(zl_optim_lr(o, 3), 0.25, 1e-15);
    zl_optim_free(o);
}

static void test_config_errors(void)
{
    const char *names[] = {"a", "a"};
    int64_t sizes[] = {2, 2};
    CHECK(make(1e-3, 0, 0, 0, 1, names, sizes) == NULL);
    CHECK(strstr(zl_error_get(), "total_steps") != NULL);
    CHECK(make(-1, 5, 0, 0, 1, names, sizes) == NULL);
    CHECK(strstr(zl_error_get(), "lr") != NULL);
    CHECK(make(1e-3, 5, -1, 2.0, 1, names, sizes) == NULL);
    CHECK(strstr(zl_error_get(), "warmup_proportion") != NULL);
    CHECK(make(1e-3, 5, 0, 0, 2, names, sizes) == NULL);
    CHECK(strstr(zl_error_get(), "twice") != NULL);
    CHECK(make(1e-3, 5, 0, 0, 0, names, sizes) == NULL);
}

static void test_decay_names(void)
{
    const char *names[] = {"bert.embeddings.word_embeddings.weight",
                           "bert.embeddings.LayerNorm.weight",
                           "bert.embeddings.LayerNorm.bias",
                           "bert.encoder.layer.0.attention.self.query.bias",
                           "electra/layer_norm/gamma",
                           "qa_outputs.weight"};
    int64_t sizes[] = {1, 1, 1, 1, 1, 1};
    zl_optim *o = make(1e-3, 5, 0, 0, 6, names, sizes);
    const int want[] = {1, 0, 0, 0, 0, 1};
    for (int i = 0; i < 6; i++) CHECK(zl_optim_decays(o, i) == want[i]);
    zl_optim_free(o);
}

/* The update of optimization.py in double, for comparison. */
typedef struct { double w[5], m[5], v[5]; } ref_state;

static void ref_step(ref_state *r, const double *g, int n, const int *decay, double lr)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += g[i] * g[i];
    double norm = sqrt(s), sc = 1.0 / (norm > 1.0 ? norm : 1.0);
    for (int i = 0; i < n; i++) {
        double gi = g[i] * sc;
        r->m[i] = 0.9 * r->m[i] + 0.1 * gi;
        r->v[i] = 0.999 * r->v[i] + 0.001 * gi * gi;
        double u = r->m[i] / (sqrt(r->v[i]) + 1e-6);
        if (decay[i]) u += 0.01 * r->w[i];
        r->w[i] -= lr * u;
    }
}

static void test_update(void)
{
    /* Two parameters: a weight (decayed) of 3 and a bias (not) of 2. */
    const char *names[] = {"dense.weight", "dense.bias"};
    int64_t sizes[] = {3, 2};
    zl_optim *o = make(1e-1, 6, 2, 0, 2, names, sizes);
    float w[3] = {0.5f, -1.0f, 2.0f}, b[2] = {0.25f, -0.75f};
    float *params[] = {w, b};
    ref_state r = {{0.5, -1.0, 2.0, 0.25, -0.75}, {0}, {0}};
    const int decay[] = {1, 1, 1, 0, 0};
    /* gradient sets: the first two have norm > 1 (clipped), the last ones < 1 */
    const double gs[4][5] = {{3, -4, 0, 1, 2}, {0.5, 2, -1, 0, 0.1},
                             {0.1, -0.2, 0.3, 0.05, 0}, {-0.01, 0.02, 0, 0.3, -0.4}};
    for (int s = 0; s < 4; s++) {
        float gw[3], gb[2];
        double gd[5];
        for (int i = 0; i < 5; i++) gd[i] = (float)gs[s][i];
        for (int i = 0; i < 3; i++) gw[i] = (float)gs[s][i];
        for (int i = 0; i < 2; i++) gb[i] = (float)gs[s][3 + i];
        float *grads[] = {gw, gb};
        double norm = -1, lr = -1;
        double want_lr = zl_optim_lr(o, s);
        CHECK(zl_optim_step(o, params, grads, &norm, &lr) == 0);
        double n2 = 0;
        for (int i = 0; i < 5; i++) n2 += gd[i] * gd[i];
        CLOSE(norm, sqrt(n2), 1e-12);
        CLOSE(lr, want_lr, 0);
        /* grads are clipped in place */
        double sc = 1.0 / (sqrt(n2) > 1 ? sqrt(n2) : 1);
        CLOSE(gw[1], gd[1] * sc, 1e-6);
        ref_step(&r, gd, 5, decay, lr);
        for (int i = 0; i < 3; i++) CLOSE(w[i], r.w[i], 2e-7 * (1 + fabs(r.w[i])));
        for (int i = 0; i < 2; i++) CLOSE(b[i], r.w[3 + i], 2e-7 * (1 + fabs(r.w[3 + i])));
        CHECK(zl_optim_get_step(o) == s + 1);
    }
    /* Step 0 has lr 0: it must have changed nothing but m and v. Re-run and check. */
    zl_optim_free(o);
    o = make(1e-1, 6, 2, 0, 2, names, sizes);
    float w2[3] = {0.5f, -1.0f, 2.0f}, b2[2] = {0.25f, -0.75f};
    float gw[3] = {1, 1, 1}, gb[2] = {1, 1};
    float *p2[] = {w2, b2}, *g2[] = {gw, gb};
    CHECK(zl_optim_step(o, p2, g2, NULL, NULL) == 0);
    CHECK(w2[0] == 0.5f && w2[2] == 2.0f && b2[1] == -0.75f);
    /* a non-finite gradient fails and leaves everything unchanged */
    gw[1] = NAN;
    CHECK(zl_optim_step(o, p2, g2, NULL, NULL) == -1);
    CHECK(strstr(zl_error_get(), "not finite") != NULL);
    CHECK(zl_optim_get_step(o) == 1);
    CHECK(w2[0] == 0.5f);
    zl_optim_free(o);
}

static void test_clip_off_and_norm(void)
{
    const char *names[] = {"x.weight"};
    int64_t sizes[] = {40000}; /* several chunks */
    zl_optim_config c;
    zl_optim_config_default(&c);
    c.lr = 1e-3;
    c.total_steps = 10;
    c.warmup_steps = 0;
    c.clip = 0; /* disabled */
    zl_optim *o = zl_optim_new(1, names, sizes, &c);
    float *g = malloc(40000 * sizeof *g), *w = calloc(40000, sizeof *w);
    double s = 0;
    for (int i = 0; i < 40000; i++) {
        g[i] = (float)((i % 7) - 3);
        s += (double)g[i] * g[i];
    }
    CLOSE(zl_optim_grad_norm(o, &g), sqrt(s), 1e-9);
    /* fixed chunks summed in order: the same bits whatever the thread count */
    float *r = malloc(40000 * sizeof *r);
    for (int i = 0; i < 40000; i++) r[i] = (float)sin(0.37 * i) * 1.7f;
    int threads = zl_get_threads();
    zl_set_threads(1);
    double n1 = zl_optim_grad_norm(o, &r);
    zl_set_threads(2);
    double n2 = zl_optim_grad_norm(o, &r);
    zl_set_threads(threads > 0 ? threads : 2);
    CHECK(n1 == n2);
    free(r);
    double norm;
    CHECK(zl_optim_step(o, &w, &g, &norm, NULL) == 0);
    CHECK(g[0] == -3.0f); /* not clipped */
    /* m = 0.1 g, v = 0.001 g^2: u = 0.1 g / (sqrt(0.001) |g| + 1e-6) */
    double u = 0.1 * -3 / (sqrt(0.001) * 3 + 1e-6);
    CLOSE(w[0], -1e-3 * u, 1e-9);
    zl_optim_free(o);
    free(g);
    free(w);
}

static void test_accumulate(void)
{
    const char *names[] = {"a.weight", "a.bias"};
    int64_t sizes[] = {20000, 3};
    zl_optim *o = make(1e-3, 5, 1, 0, 2, names, sizes);
    float *acc0 = malloc(20000 * sizeof(float)), acc1[3];
    float *g0 = malloc(20000 * sizeof(float)), g1[3];
    float *acc[] = {acc0, acc1}, *g[] = {g0, g1};
    for (int i = 0; i < 20000; i++) acc0[i] = 99;
    acc1[0] = 5;
    zl_optim_grads_zero(o, acc);
    CHECK(acc0[19999] == 0 && acc1[0] == 0);
    for (int mb = 1; mb <= 4; mb++) {
        for (int i = 0; i < 20000; i++) g0[i] = (float)(mb * (i % 3));
        for (int i = 0; i < 3; i++) g1[i] = (float)mb;
        zl_optim_grads_add(o, acc, g);
    }
    zl_optim_grads_scale(o, acc, 0.25f);
    CHECK(acc0[2] == 2.5f * 2 && acc0[19998] == 2.5f * 0 && acc0[19997] == 2.5f * 2);
    CHECK(acc1[2] == 2.5f);
    zl_optim_free(o);
    free(acc0);
    free(g0);
}

static void fill(float *p, int n, int seed)
{
    for (int i = 0; i < n; i++) p[i] = (float)sin(0.37 * (i + 1) * seed) * 2;
}

static void test_save_load(void)
{
    char dir[] = "/tmp/zl_test_optim_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/other.safetensors", dir);
    const char *names[] = {"l.weight", "l.LayerNorm.weight", "l.bias"};
    int64_t sizes[] = {17000, 5, 0}; /* a zero-size parameter is allowed */
    float *wa = malloc(17000 * 4), *wb = malloc(17000 * 4), *g = malloc(17000 * 4);
    float la[5], lb[5], lg[5], dummy[1] = {0};
    fill(wa, 17000, 1);
    memcpy(wb, wa, 17000 * 4);
    fill(la, 5, 2);
    memcpy(lb, la, sizeof la);
    float *pa[] = {wa, la, dummy}, *pb[] = {wb, lb, dummy}, *gr[] = {g, lg, dummy};
    /* a: 4 uninterrupted steps; b: 2 steps, save, fresh optimizer, load, 2 steps */
    zl_optim *a = make(1e-2, 6, 1, 0, 3, names, sizes);
    zl_optim *b = make(1e-2, 6, 1, 0, 3, names, sizes);
    for (int s = 0; s < 4; s++) {
        fill(g, 17000, 10 + s);
        fill(lg, 5, 20 + s);
        CHECK(zl_optim_step(a, pa, gr, NULL, NULL) == 0);
        if (s == 2) {
            CHECK(zl_optim_save(b, path) == 0);
            zl_optim_free(b);
            b = make(1e-2, 6, 1, 0, 3, names, sizes);
            CHECK(zl_optim_load(b, path) == 0);
            CHECK(zl_optim_get_step(b) == 2);
        }
        fill(g, 17000, 10 + s);
        fill(lg, 5, 20 + s);
        CHECK(zl_optim_step(b, pb, gr, NULL, NULL) == 0);
    }
    CHECK(memcmp(wa, wb, 17000 * 4) == 0);
    CHECK(memcmp(la, lb, sizeof la) == 0);
    CHECK(zl_optim_get_step(b) == 4);
    /* file layout */
    zl_tensor_map *m = zl_safetensors_load(path);
    CHECK(m != NULL);
    if (m) {
        CHECK(zl_tensor_map_get(m, "adam_m/l.weight") != NULL);
        CHECK(zl_tensor_map_get(m, "adam_v/l.LayerNorm.weight") != NULL);
        const zl_tensor *st = zl_tensor_map_get(m, "step");
        CHECK(st && st->dtype == ZL_I32 && ZL_I32P(st)[0] == 2);
        zl_tensor_map_free(m);
    }
    /* a state for other parameters is refused, naming the tensor; nothing changes */
    const char *other[] = {"l.weight", "l.LayerNorm.weight", "x.bias"};
    int64_t osz[] = {17000, 5, 0};
    zl_optim *c = make(1e-2, 6, 1, 0, 3, other, osz);
    CHECK(zl_optim_load(c, path) == -1);
    CHECK(strstr(zl_error_get(), "adam_m/x.bias") != NULL);
    CHECK(zl_optim_get_step(c) == 0);
    CHECK(zl_optim_save(c, bad) == 0);
    CHECK(zl_optim_load(b, bad) == -1);
    CHECK(zl_optim_get_step(b) == 4);
    int64_t wrong[] = {17001, 5, 0};
    zl_optim *d = make(1e-2, 6, 1, 0, 3, names, wrong);
    CHECK(zl_optim_load(d, path) == -1);
    CHECK(strstr(zl_error_get(), "adam_m/l.weight") != NULL);
    CHECK(zl_optim_load(d, "/nonexistent/optim.safetensors") == -1);
    zl_optim_free(a);
    zl_optim_free(b);
    zl_optim_free(c);
    zl_optim_free(d);
    free(wa);
    free(wb);
    free(g);
    remove(path);
    remove(bad);
    rmdir(dir);
}

/* zl_optim_step_zero: the update of zl_optim_step bit for bit (the vectorised pass, over
 * chunks and a tail), gradients left zero. */
static void test_step_zero(void)
{
    enum { N = 40003 };
    const char *names[] = {"w", "bias"};
    int64_t sizes[] = {N, 5};
    zl_optim_config c;
    zl_optim_config_default(&c);
    c.total_steps = 10;
    c.warmup_steps = 0;
    c.lr = 1e-2;
    c.clip = 0.5;
    zl_optim *a = zl_optim_new(2, names, sizes, &c), *b = zl_optim_new(2, names, sizes, &c);
    static float wa[N], wb[N], ga[N], gb[N];
    float ba[5], bb[5], gba[5], gbb[5];
    for (int i = 0; i < N; i++) wa[i] = wb[i] = (float)cos(0.11 * i);
    for (int i = 0; i < 5; i++) ba[i] = bb[i] = 0.1f * (float)i;
    float *pa[] = {wa, ba}, *pb[] = {wb, bb}, *gpa[] = {ga, gba}, *gpb[] = {gb, gbb};
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < N; i++) ga[i] = gb[i] = (float)sin(0.37 * i + step) * 1e-3f;
        for (int i = 0; i < 5; i++) gba[i] = gbb[i] = 0.2f * (float)(i - step);
        double na, nb, la, lb;
        CHECK(zl_optim_step(a, pa, gpa, &na, &la) == 0);
        CHECK(zl_optim_step_zero(b, pb, gpb, &nb, &lb) == 0);
        CHECK(na == nb && la == lb);
    }
    CHECK(memcmp(wa, wb, sizeof wa) == 0);
    CHECK(memcmp(ba, bb, sizeof ba) == 0);
    int zero = 1;
    for (int i = 0; i < N; i++) zero &= gb[i] == 0.0f;
    for (int i = 0; i < 5; i++) zero &= gbb[i] == 0.0f;
    CHECK(zero);
    CHECK(ga[7] != 0.0f); /* zl_optim_step leaves the clipped gradient */
    zl_optim_free(a);
    zl_optim_free(b);
}

int main(void)
{
    test_schedule();
    test_config_errors();
    test_decay_names();
    test_update();
    test_clip_off_and_norm();
    test_accumulate();
    test_step_zero();
    test_save_load();
    return zl_test_summary("test_optim");
}
