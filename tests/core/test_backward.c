/* test_backward.c — the backward pass: every kernel against central differences of a
 * double-precision reference written here, the whole model (dropout, zones, strict
 * attention, head mask, ELECTRA projection) against central differences of the float
 * forward, and the golden gradients of tests/fixtures/tiny (case none). */
#include "zl_test.h"

#include "bert.h"
#include "error.h"
#include "io.h"
#include "optim.h"
#include "tensor.h"
#include "train.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double urand(zl_rng *r) { return 2.0 * zl_rng_uniform(r) - 1.0; }

static void frand(float *p, int64_t n, zl_rng *r, double scale)
{
    for (int64_t i = 0; i < n; i++) p[i] = (float)(scale * urand(r));
}

/* Largest violation of |got - want| <= atol + rtol |want| (<= 0 means all pass). */
static double worst(const float *got, const double *want, int64_t n, double atol, double rtol)
{
    double w = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]) - (atol + rtol * fabs(want[i]));
        if (e > w) w = e;
    }
    return w;
}

/* ---- LayerNorm ---- */
#define LN_N 3
#define LN_C 7
static double ln_ref(const double *x, const double *w, const double *b, const double *R)
{
    double L = 0;
    for (int n = 0; n < LN_N; n++) {
        const double *r = x + n * LN_C;
        double m = 0, v = 0;
        for (int c = 0; c < LN_C; c++) m += r[c];
        m /= LN_C;
        for (int c = 0; c < LN_C; c++) v += (r[c] - m) * (r[c] - m);
        v /= LN_C;
        for (int c = 0; c < LN_C; c++)
            L += ((r[c] - m) / sqrt(v + 1e-5) * w[c] + b[c]) * R[n * LN_C + c];
    }
    return L;
}

static void test_layernorm(void)
{
    zl_rng r;
    zl_rng_seed(&r, 1);
    float x[LN_N * LN_C], w[LN_C], b[LN_C], R[LN_N * LN_C], y[LN_N * LN_C], mean[LN_N], rstd[LN_N];
    frand(x, LN_N * LN_C, &r, 2);
    frand(w, LN_C, &r, 1);
    frand(b, LN_C, &r, 1);
    frand(R, LN_N * LN_C, &r, 1);
    double xd[LN_N * LN_C], wd[LN_C], bd[LN_C], Rd[LN_N * LN_C];
    for (int i = 0; i < LN_N * LN_C; i++) xd[i] = x[i], Rd[i] = R[i];
    for (int i = 0; i < LN_C; i++) wd[i] = w[i], bd[i] = b[i];
    zl_layernorm_forward(y, mean, rstd, x, w, b, LN_N, LN_C, 1e-5f);
    float dx[LN_N * LN_C], dw[LN_C], db[LN_C];
    for (int i = 0; i < LN_N * LN_C; i++) dx[i] = 0.5f; /* accumulates: start from 0.5 */
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    zl_layernorm_backward(dx, dw, db, R, x, w, mean, rstd, LN_N, LN_C);
    double nx[LN_N * LN_C], nw[LN_C], nb[LN_C], h = 1e-6;
    for (int i = 0; i < LN_N * LN_C; i++) {
        double s = xd[i];
        xd[i] = s + h; double lp = ln_ref(xd, wd, bd, Rd);
        xd[i] = s - h; double lm = ln_ref(xd, wd, bd, Rd);
        xd[i] = s;
        nx[i] = 0.5 + (lp - lm) / (2 * h);
    }
    for (int i = 0; i < LN_C; i++) {
        double s = wd[i];
        wd[i] = s + h; double lp = ln_ref(xd, wd, bd, Rd);
        wd[i] = s - h; double lm = ln_ref(xd, wd, bd, Rd);
        wd[i] = s;
        nw[i] = (lp - lm) / (2 * h);
        s = bd[i];
        bd[i] = s + h; lp = ln_ref(xd, wd, bd, Rd);
        bd[i] = s - h; lm = ln_ref(xd, wd, bd, Rd);
        bd[i] = s;
        nb[i] = (lp - lm) / (2 * h);
    }
    CHECK(worst(dx, nx, LN_N * LN_C, 1e-5, 1e-4) <= 0);
    CHECK(worst(dw, nw, LN_C, 1e-5, 1e-4) <= 0);
    CHECK(worst(db, nb, LN_C, 1e-5, 1e-4) <= 0);
}

/* ---- GELU and dropout ---- */
static double gelu_ref(double x) { return 0.5 * x * (1 + erf(x / sqrt(2.0))); }

static double gelu_tanh_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}

static void test_gelu_dropout(void)
{
    float x[9] = {-4, -2.5f, -1, -0.3f, 0, 0.2f, 1, 2.2f, 5};
    float dout[9], dx[9] = {0};
    double want[9];
    for (int i = 0; i < 9; i++) {
        dout[i] = 0.5f + 0.1f * i;
        double h = 1e-6;
        want[i] = dout[i] * (gelu_ref(x[i] + h) - gelu_ref(x[i] - h)) / (2 * h);
    }
    zl_gelu_backward(dx, x, dout, 9, 0);
    CHECK(worst(dx, want, 9, 1e-6, 1e-5) <= 0);
    /* the tanh form (Google's modeling.py) against its own finite differences */
    float dt[9] = {0};
    for (int i = 0; i < 9; i++) {
        double h = 1e-6;
        want[i] = dout[i] * (gelu_tanh_ref(x[i] + h) - gelu_tanh_ref(x[i] - h)) / (2 * h);
    }
    zl_gelu_backward(dt, x, dout, 9, 1);
    CHECK(worst(dt, want, 9, 1e-6, 1e-5) <= 0);
    CHECK(fabs(dt[7] - dx[7]) > 1e-5); /* the two forms differ where it matters */
    float mask[4] = {0, 1.25f, 1.25f, 0}, d2[4] = {1, 1, 1, 1}, g[4] = {2, 3, 4, 5};
    zl_dropout_backward(d2, g, mask, 4);
    CHECK(d2[0] == 1 && d2[1] == 1 + 3 * 1.25f && d2[3] == 1);
    zl_dropout_backward(d2, g, NULL, 4);
    CHECK(d2[0] == 3 && d2[3] == 6);
}

/* ---- dense ---- */
#define LI_N 4
#define LI_C 5
#define LI_O 3
static double lin_ref(const double *x, const double *w, const double *b, const double *R)
{
    double L = 0;
    for (int n = 0; n < LI_N; n++)
        for (int o = 0; o < LI_O; o++) {
            double y = b[o];
            for (int c = 0; c < LI_C; c++) y += x[n * LI_C + c] * w[o * LI_C + c];
            L += y * R[n * LI_O + o];
        }
    return L;
}

static void fd(double *grad, double *p, int n, double (*f)(void *), void *ctx, double h)
{
    for (int i = 0; i < n; i++) {
        double s = p[i];
        p[i] = s + h; double lp = f(ctx);
        p[i] = s - h; double lm = f(ctx);
        p[i] = s;
        grad[i] = (lp - lm) / (2 * h);
    }
}

typedef struct { double x[LI_N * LI_C], w[LI_O * LI_C], b[LI_O], R[LI_N * LI_O]; } lin_ctx;
static double lin_f(void *p) { lin_ctx *c = p; return lin_ref(c->x, c->w, c->b, c->R); }

static void test_linear(void)
{
    zl_rng r;
    zl_rng_seed(&r, 2);
    float x[LI_N * LI_C], w[LI_O * LI_C], b[LI_O], R[LI_N * LI_O];
    frand(x, LI_N * LI_C, &r, 1);
    frand(w, LI_O * LI_C, &r, 1);
    frand(b, LI_O, &r, 1);
    frand(R, LI_N * LI_O, &r, 1);
    lin_ctx c;
    for (int i = 0; i < LI_N * LI_C; i++) c.x[i] = x[i];
    for (int i = 0; i < LI_O * LI_C; i++) c.w[i] = w[i];
    for (int i = 0; i < LI_O; i++) c.b[i] = b[i];
    for (int i = 0; i < LI_N * LI_O; i++) c.R[i] = R[i];
    float dx[LI_N * LI_C] = {0}, dw[LI_O * LI_C] = {0}, db[LI_O] = {0};
    zl_linear_backward(dx, dw, db, R, x, w, LI_N, LI_C, LI_O);
    double nx[LI_N * LI_C], nw[LI_O * LI_C], nb[LI_O];
    fd(nx, c.x, LI_N * LI_C, lin_f, &c, 1e-6);
    fd(nw, c.w, LI_O * LI_C, lin_f, &c, 1e-6);
    fd(nb, c.b, LI_O, lin_f, &c, 1e-6);
    CHECK(worst(dx, nx, LI_N * LI_C, 1e-6, 1e-5) <= 0);
    CHECK(worst(dw, nw, LI_O * LI_C, 1e-6, 1e-5) <= 0);
    CHECK(worst(db, nb, LI_O, 1e-6, 1e-5) <= 0);
    /* a wide bias (more than one column block) and accumulation into existing values */
    enum { N = 3, C = 2, O = 150 };
    float dout[N * O], bias[O], dbb[O];
    for (int i = 0; i < N * O; i++) dout[i] = (float)(i % 11) - 5;
    for (int o = 0; o < O; o++) dbb[o] = 1, bias[o] = 0;
    zl_linear_backward(NULL, NULL, dbb, dout, NULL, NULL, N, C, O);
    int ok = 1;
    for (int o = 0; o < O; o++) {
        float s = 1;
        for (int n = 0; n < N; n++) s += dout[n * O + o];
        ok &= dbb[o] == s;
    }
    CHECK(ok);
    (void)bias;
}

/* ---- attention ---- */
#define AB 2
#define AS 5
#define AH 6
#define ANH 2
typedef struct {
    double q[AB * AS * AH], k[AB * AS * AH], v[AB * AS * AH];
    double adder[AB * AS * AS], drop[AB * ANH * AS * AS], hm[ANH], R[AB * AS * AH];
} att_ctx;

/* ctx = (softmax(QK^T/sqrt d + adder) * drop * hm) V; returns sum(ctx * R); probs optional */
static double att_ref(att_ctx *c, double *probs)
{
    int d = AH / ANH;
    double L = 0;
    for (int b = 0; b < AB; b++)
        for (int h = 0; h < ANH; h++)
            for (int f = 0; f < AS; f++) {
                double sc[AS], mx = -1e300, sum = 0;
                for (int t = 0; t < AS; t++) {
                    double s = 0;
                    for (int j = 0; j < d; j++)
                        s += c->q[(b * AS + f) * AH + h * d + j] * c->k[(b * AS + t) * AH + h * d + j];
                    sc[t] = s / sqrt((double)d) + c->adder[(b * AS + f) * AS + t];
                    if (sc[t] > mx) mx = sc[t];
                }
                for (int t = 0; t < AS; t++) sum += (sc[t] = exp(sc[t] - mx));
                for (int t = 0; t < AS; t++) {
                    sc[t] /= sum;
                    int pi = ((b * ANH + h) * AS + f) * AS + t;
                    if (probs) probs[pi] = sc[t];
                    sc[t] *= c->drop[pi] * c->hm[h];
                }
                for (int j = 0; j < d; j++) {
                    double o = 0;
                    for (int t = 0; t < AS; t++) o += sc[t] * c->v[(b * AS + t) * AH + h * d + j];
                    L += o * c->R[(b * AS + f) * AH + h * d + j];
                }
            }
    return L;
}
static double att_f(void *p) { return att_ref(p, NULL); }

static void test_attention(int with_drop)
{
    zl_rng r;
    zl_rng_seed(&r, 3 + with_drop);
    static att_ctx c;
    int n = AB * AS * AH;
    for (int i = 0; i < n; i++) {
        c.q[i] = (float)urand(&r) * 1.5f;
        c.k[i] = (float)urand(&r) * 1.5f;
        c.v[i] = (float)urand(&r);
        c.R[i] = (float)urand(&r);
    }
    /* padding key in batch 1, a zone (rows 0-1 cannot see key 2) in batch 0 */
    for (int i = 0; i < AB * AS * AS; i++) c.adder[i] = 0;
    for (int f = 0; f < AS; f++) c.adder[(1 * AS + f) * AS + 4] = -10000;
    c.adder[0 * AS + 2] = c.adder[1 * AS + 2] = -10000;
    for (int i = 0; i < AB * ANH * AS * AS; i++)
        c.drop[i] = with_drop ? (zl_rng_uniform(&r) < 0.2 ? 0.0 : 1.25) : 1.0;
    c.hm[0] = 1;
    c.hm[1] = with_drop ? 0.5 : 1;
    static double probs_d[AB * ANH * AS * AS];
    att_ref(&c, probs_d);
    static float q[AB * AS * AH], k[AB * AS * AH], v[AB * AS * AH], R[AB * AS * AH];
    static float probs[AB * ANH * AS * AS], drop[AB * ANH * AS * AS], hm[ANH], scratch[2 * AS * AS];
    for (int i = 0; i < n; i++) q[i] = (float)c.q[i], k[i] = (float)c.k[i], v[i] = (float)c.v[i], R[i] = (float)c.R[i];
    for (int i = 0; i < AB * ANH * AS * AS; i++) probs[i] = (float)probs_d[i], drop[i] = (float)c.drop[i];
    hm[0] = (float)c.hm[0];
    hm[1] = (float)c.hm[1];
    static float dq[AB * AS * AH], dk[AB * AS * AH], dv[AB * AS * AH];
    memset(dq, 0, sizeof dq);
    memset(dk, 0, sizeof dk);
    memset(dv, 0, sizeof dv);
    zl_attention_backward(dq, dk, dv, scratch, 1, R, q, k, v, probs, with_drop ? drop : NULL,
                          with_drop ? hm : NULL, AB, AS, AH, ANH);
    static double nq[AB * AS * AH], nk[AB * AS * AH], nv[AB * AS * AH];
    fd(nq, c.q, n, att_f, &c, 1e-6);
    fd(nk, c.k, n, att_f, &c, 1e-6);
    fd(nv, c.v, n, att_f, &c, 1e-6);
    CHECK(worst(dq, nq, n, 1e-5, 1e-4) <= 0);
    CHECK(worst(dk, nk, n, 1e-5, 1e-4) <= 0);
    CHECK(worst(dv, nv, n, 1e-5, 1e-4) <= 0);
    /* two threads, a (batch, head) pair each with its own scratch: the same bits */
    static float dq2[AB * AS * AH], dk2[AB * AS * AH], dv2[AB * AS * AH], scratch2[2 * 2 * AS * AS];
    memset(dq2, 0, sizeof dq2);
    memset(dk2, 0, sizeof dk2);
    memset(dv2, 0, sizeof dv2);
    int threads = zl_get_threads();
    zl_set_threads(2);
    zl_attention_backward(dq2, dk2, dv2, scratch2, 2, R, q, k, v, probs, with_drop ? drop : NULL,
                          with_drop ? hm : NULL, AB, AS, AH, ANH);
    zl_set_threads(threads);
    CHECK(memcmp(dq, dq2, sizeof dq) == 0);
    CHECK(memcmp(dk, dk2, sizeof dk) == 0);
    CHECK(memcmp(dv, dv2, sizeof dv) == 0);
    /* the masked key gets (almost) no gradient */
    double mk = 0;
    for (int j = 0; j < AH; j++) mk = fmax(mk, fabs(dk[(1 * AS + 4) * AH + j]));
    CHECK(mk < 1e-6);
}

/* ---- embeddings ---- */
static void test_embedding(void)
{
    enum { B = 2, S = 3, E = 70, V = 5, T = 2, P = 4 };
    int32_t ids[B * S] = {1, 3, 1, 4, 1, 0}, types[B * S] = {0, 0, 1, 0, 1, 1};
    static float dout[B * S * E], dw[V * E], dp[P * E], dt[T * E];
    for (int i = 0; i < B * S * E; i++) dout[i] = (float)((i * 7) % 13) - 6;
    zl_embedding_backward(dw, dp, dt, dout, ids, types, B, S, E);
    int ok = 1;
    for (int c = 0; c < E; c++) {
        float w1 = dout[0 * E + c] + dout[2 * E + c] + dout[4 * E + c];
        ok &= dw[1 * E + c] == w1 && dw[2 * E + c] == 0 && dw[4 * E + c] == dout[3 * E + c];
        ok &= dp[0 * E + c] == dout[0 * E + c] + dout[3 * E + c] && dp[3 * E + c] == 0;
        float t1 = dout[2 * E + c] + dout[4 * E + c] + dout[5 * E + c];
        ok &= dt[1 * E + c] == t1;
    }
    CHECK(ok);
    /* types NULL means type 0 */
    memset(dt, 0, sizeof dt);
    zl_embedding_backward(NULL, NULL, dt, dout, ids, NULL, B, S, E);
    float s = 0;
    for (int n = 0; n < B * S; n++) s += dout[n * E + 5];
    CHECK(dt[5] == s && dt[E + 5] == 0);
}

/* ---- span loss ---- */
static void test_loss(void)
{
    enum { B = 2, S = 6 };
    float st[B * S], en[B * S], ds[B * S], de[B * S];
    int32_t sp[B] = {2, 0}, ep[B] = {3, 5};
    zl_rng r;
    zl_rng_seed(&r, 5);
    frand(st, B * S, &r, 3);
    frand(en, B * S, &r, 3);
    double loss;
    CHECK(zl_bert_span_loss(&loss, ds, de, st, en, sp, ep, B, S) == 0);
    /* reference: mean over batch of (CE(start) + CE(end)) / 2, softmax over all S */
    double ref = 0;
    for (int b = 0; b < B; b++)
        for (int which = 0; which < 2; which++) {
            const float *x = (which ? en : st) + b * S;
            int tgt = which ? ep[b] : sp[b];
            double z = 0;
            for (int t = 0; t < S; t++) z += exp((double)x[t]);
            ref += log(z) - x[tgt];
        }
    ref /= 2 * B;
    CHECK_NEAR(loss, ref, 1e-9);
    double num[B * S];
    for (int i = 0; i < B * S; i++) {
        float s0 = st[i];
        double lp, lm, h = 1e-3;
        st[i] = (float)(s0 + h);
        zl_bert_span_loss(&lp, NULL, NULL, st, en, sp, ep, B, S);
        st[i] = (float)(s0 - h);
        zl_bert_span_loss(&lm, NULL, NULL, st, en, sp, ep, B, S);
        st[i] = s0;
        num[i] = (lp - lm) / (2 * h);
    }
    CHECK(worst(ds, num, B * S, 1e-5, 1e-3) <= 0);
    (void)de;
}

/* ---- whole model against central differences of the float forward ---- */
typedef struct {
    zl_bert *m;
    zl_bert_acts a;
    zl_bert_inputs in;
    zl_bert_forward_opts o;
    int32_t sp[2], ep[2];
} model_ctx;

static double model_loss(model_ctx *c)
{
    double l = NAN;
    if (zl_bert_forward(c->m, &c->a, &c->in, &c->o) ||
        zl_bert_span_loss(&l, NULL, NULL, c->a.start_logits, c->a.end_logits, c->sp, c->ep,
                          c->in.B, c->in.S))
        fprintf(stderr, "model_loss: %s\n", zl_error_get());
    return l;
}

/* Runs one configuration; returns the worst tolerance violation over sampled elements. */
static double model_check(const char *label, int E, zl_zone zone, int mask_layer,
                          float dropout, int use_head_mask)
{
    zl_bert_config cfg;
    zl_bert_config_default(&cfg);
    cfg.vocab_size = 13;
    cfg.hidden_size = 8;
    cfg.embedding_size = E;
    cfg.num_hidden_layers = 2;
    cfg.num_attention_heads = 2;
    cfg.intermediate_size = 12;
    cfg.max_position_embeddings = 8;
    cfg.type_vocab_size = 2;
    cfg.initializer_range = 0.5f;
    cfg.layer_norm_eps = 1e-5f;
    model_ctx c;
    memset(&c, 0, sizeof c);
    c.m = zl_bert_new(&cfg);
    if (!c.m) { fprintf(stderr, "%s\n", zl_error_get()); return 1e9; }
    zl_bert_init_random(c.m, 77);
    /* LN gains and biases away from 1/0 so their gradients are exercised */
    zl_rng r;
    zl_rng_seed(&r, 9);
    int np = zl_bert_param_count(&cfg);
    for (int i = 0; i < np; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&cfg, &c.m->params, i, &info);
        if (info.ndim == 1)
            for (int64_t j = 0; j < info.numel; j++) info.data[j] += (float)(0.3 * urand(&r));
    }
    enum { B = 2, S = 6 };
    static int32_t ids[B * S] = {2, 5, 6, 3, 7, 3, 2, 8, 3, 9, 5, 0};
    static int32_t types[B * S] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0};
    static int32_t mask[B * S] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
    static int32_t qm[B * S] = {0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    static int32_t pm[B * S] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 0};
    c.in = (zl_bert_inputs){B, S, ids, types, mask, qm, pm};
    c.sp[0] = 4; c.ep[0] = 4; c.sp[1] = 0; c.ep[1] = 0;
    float hm[4] = {1, 0.5f, 0, 1};
    zl_bert_forward_opts_init(&c.o);
    c.o.zone = zone;
    c.o.mask_layer = mask_layer;
    c.o.dropout_prob = dropout;
    c.o.attn_dropout_prob = dropout;
    c.o.seed = 1234;
    if (use_head_mask) c.o.head_mask = hm;
    int flags = ZL_BERT_ACTS_BACKWARD | (dropout > 0 ? ZL_BERT_ACTS_DROPOUT : 0);
    double bad = 1e9;
    zl_bert_params g;
    memset(&g, 0, sizeof g);
    if (zl_bert_acts_alloc(&c.a, &cfg, B, S, flags) || zl_bert_params_alloc(&g, &cfg)) goto out;
    double loss;
    if (zl_bert_loss_and_grads(c.m, &c.a, NULL, &c.in, &c.o, c.sp, c.ep, &g, &loss)) {
        fprintf(stderr, "%s: %s\n", label, zl_error_get());
        goto out;
    }
    bad = -1;
    /* every element of small tensors, a sample of the big ones; the forward is float,
     * so the step is large and the tolerance accounts for float rounding of the loss */
    for (int i = 0; i < np; i++) {
        zl_bert_param_info pi, gi;
        zl_bert_param_info_at(&cfg, &c.m->params, i, &pi);
        zl_bert_param_info_at(&cfg, &g, i, &gi);
        int64_t stride = pi.numel > 24 ? pi.numel / 12 + 1 : 1;
        for (int64_t j = 0; j < pi.numel; j += stride) {
            /* Richardson extrapolation of two central differences cancels the h^2 term */
            float s = pi.data[j];
            double dh[2];
            for (int k = 0; k < 2; k++) {
                float hp = (float)(s + 4e-3 / (1 + k)), hm = (float)(s - 4e-3 / (1 + k));
                pi.data[j] = hp;
                double lp = model_loss(&c);
                pi.data[j] = hm;
                double lm = model_loss(&c);
                dh[k] = (lp - lm) / ((double)hp - (double)hm);
            }
            pi.data[j] = s;
            double num = (4 * dh[1] - dh[0]) / 3;
            double e = fabs(gi.data[j] - num) - (2e-4 + 1e-2 * fabs(num));
            if (e > bad) bad = e;
            if (e > 0)
                fprintf(stderr, "%s: %s[%lld]: backward %.6g, differences %.6g\n", label,
                        pi.name, (long long)j, gi.data[j], num);
        }
    }
out:
    zl_bert_params_free(&g);
    zl_bert_acts_free(&c.a);
    zl_bert_free(c.m);
    return bad;
}

static void test_model(void)
{
    /* tiny matrices: threads only add overhead (and noise on a shared machine) */
    int threads = zl_get_threads();
    zl_set_threads(1);
    CHECK(model_check("plain", 8, ZL_ZONE_NONE, -1, 0, 0) <= 0);
    CHECK(model_check("p2q layer 1", 8, ZL_ZONE_P2Q, 1, 0, 0) <= 0);
    CHECK(model_check("q2 every layer", 8, ZL_ZONE_Q2, -1, 0, 0) <= 0);
    CHECK(model_check("all every layer", 8, ZL_ZONE_ALL, -1, 0, 0) <= 0);
    CHECK(model_check("all_strict layer 0", 8, ZL_ZONE_ALL_STRICT, 0, 0, 0) <= 0);
    CHECK(model_check("dropout + head mask", 8, ZL_ZONE_NONE, -1, 0.2f, 1) <= 0);
    CHECK(model_check("electra projection", 6, ZL_ZONE_P2, 0, 0, 0) <= 0);
    CHECK(model_check("electra projection + dropout", 6, ZL_ZONE_P2, 0, 0.1f, 0) <= 0);
    zl_set_threads(threads > 0 ? threads : 2);
}

/* ---- golden gradients: tests/fixtures/tiny, case none ---- */
static int read_i32(const char *path, int32_t *dst, size_t n)
{
    char *buf;
    size_t len;
    if (zl_io_read_file(path, 1 << 20, &buf, &len)) return -1;
    int ok = len == n * 4;
    if (ok) memcpy(dst, buf, len);
    free(buf);
    return ok ? 0 : zl_error_set("%s: %zu bytes, expected %zu", path, len, n * 4);
}

static void test_golden(void)
{
    const char *dir = "tests/fixtures/tiny";
    char path[512];
    zl_bert_config cfg;
    snprintf(path, sizeof path, "%s/bert_config.json", dir);
    if (zl_bert_config_load(&cfg, path)) {
        fprintf(stderr, "%s\n", zl_error_get());
        CHECK(0);
        return;
    }
    zl_bert *m = zl_bert_new(&cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    zl_tensor_map *w = zl_safetensors_load(path);
    snprintf(path, sizeof path, "%s/cases/none/grads.safetensors", dir);
    zl_tensor_map *want = zl_safetensors_load(path);
    CHECK(m && w && want);
    if (!m || !w || !want) goto out0;
    int np = zl_bert_param_count(&cfg);
    for (int i = 0; i < np; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&cfg, &m->params, i, &info);
        const zl_tensor *t = zl_tensor_map_get(w, info.name);
        CHECK(t && t->numel == info.numel);
        if (t && t->numel == info.numel) memcpy(info.data, t->data, (size_t)t->numel * 4);
    }
    enum { B = 3, S = 24 };
    static int32_t ids[B * S], types[B * S], im[B * S], qm[B * S], pm[B * S], sp[B], ep[B];
    const char *names[] = {"input_ids", "token_type_ids", "input_mask", "qmask", "pmask",
                           "start_positions", "end_positions"};
    int32_t *dst[] = {ids, types, im, qm, pm, sp, ep};
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/inputs/%s.i32.bin", dir, names[i]);
        CHECK(read_i32(path, dst[i], i < 5 ? B * S : B) == 0);
    }
    zl_bert_inputs in = {B, S, ids, types, im, qm, pm};
    zl_bert_acts a;
    zl_bert_params g;
    zl_bert_backward_ws ws;
    memset(&g, 0, sizeof g);
    memset(&ws, 0, sizeof ws);
    CHECK(zl_bert_acts_alloc(&a, &cfg, B, S, ZL_BERT_ACTS_BACKWARD) == 0);
    CHECK(zl_bert_params_alloc(&g, &cfg) == 0);
    CHECK(zl_bert_backward_ws_alloc(&ws, &cfg, B, S) == 0);
    double loss = 0;
    CHECK(zl_bert_loss_and_grads(m, &a, &ws, &in, NULL, sp, ep, &g, &loss) == 0);
    CHECK_NEAR(loss, 3.5390916319304226, 1e-4);
    double maxerr = 0;
    int nbad = 0;
    for (int i = 0; i < np; i++) {
        zl_bert_param_info info;
        zl_bert_param_info_at(&cfg, &g, i, &info);
        const zl_tensor *t = zl_tensor_map_get(want, info.name);
        CHECK(t && t->numel == info.numel);
        if (!t || t->numel != info.numel) continue;
        const float *wv = ZL_F32P(t);
        for (int64_t j = 0; j < t->numel; j++) {
            double e = fabs(info.data[j] - wv[j]);
            if (e > maxerr) maxerr = e;
            if (e > 1e-3 * fabs(wv[j]) + 1e-5) {
                if (nbad++ < 5)
                    fprintf(stderr, "golden: %s[%lld] = %.8g, expected %.8g\n", info.name,
                            (long long)j, info.data[j], wv[j]);
            }
        }
    }
    CHECK(nbad == 0);
    printf("golden gradients: loss %.7f, max abs error %.3g\n", loss, maxerr);
    /* accumulation: a second call adds the same gradients again */
    zl_bert_params g1;
    CHECK(zl_bert_params_alloc(&g1, &cfg) == 0);
    memcpy(g1.memory, g.memory, (size_t)g.count * 4);
    CHECK(zl_bert_loss_and_grads(m, &a, &ws, &in, NULL, sp, ep, &g, &loss) == 0);
    int ok = 1;
    for (int64_t j = 0; j < g.count; j++)
        ok &= fabsf(g.memory[j] - 2 * g1.memory[j]) <= 1e-6f + 1e-5f * fabsf(g1.memory[j]);
    CHECK(ok);
    /* errors: inference activations, mismatched sizes */
    zl_bert_acts inf;
    CHECK(zl_bert_acts_alloc(&inf, &cfg, B, S, 0) == 0);
    CHECK(zl_bert_loss_and_grads(m, &inf, &ws, &in, NULL, sp, ep, &g, &loss) == -1);
    CHECK(strstr(zl_error_get(), "ZL_BERT_ACTS_BACKWARD") != NULL);
    zl_bert_backward_ws small;
    CHECK(zl_bert_backward_ws_alloc(&small, &cfg, 1, S) == 0);
    CHECK(zl_bert_loss_and_grads(m, &a, &small, &in, NULL, sp, ep, &g, &loss) == -1);
    int32_t badsp[B] = {0, 99, 0};
    CHECK(zl_bert_loss_and_grads(m, &a, &ws, &in, NULL, badsp, ep, &g, &loss) == -1);
    zl_bert_backward_ws_free(&small);
    zl_bert_acts_free(&inf);
    zl_bert_params_free(&g1);
    zl_bert_params_free(&g);
    zl_bert_backward_ws_free(&ws);
    zl_bert_acts_free(&a);
out0:
    zl_tensor_map_free(w);
    zl_tensor_map_free(want);
    zl_bert_free(m);
}

/* ---- the training fixture: five optimizer steps (case train_steps) ---- */
static int read_f32(const char *path, float *dst, size_t n)
{
    return read_i32(path, (int32_t *)(void *)dst, n);
}

static void test_train_golden(void)
{
    const char *dir = "tests/fixtures/tiny";
    char path[512];
    zl_bert_config cfg;
    snprintf(path, sizeof path, "%s/bert_config.json", dir);
    CHECK(zl_bert_config_load(&cfg, path) == 0);
    zl_bert *m = zl_bert_new(&cfg);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    zl_tensor_map *w = zl_safetensors_load(path);
    snprintf(path, sizeof path, "%s/cases/train_steps/final.safetensors", dir);
    zl_tensor_map *fin = zl_safetensors_load(path);
    CHECK(m && w && fin);
    if (!m || !w || !fin) goto out0;
    int np = zl_bert_param_count(&cfg);
    const char *names[64];
    int64_t sizes[64];
    float *params[64], *grads[64];
    zl_bert_params g;
    CHECK(np <= 64 && zl_bert_params_alloc(&g, &cfg) == 0);
    static zl_bert_param_info infos[64], ginfos[64];
    for (int i = 0; i < np; i++) {
        zl_bert_param_info_at(&cfg, &m->params, i, &infos[i]);
        zl_bert_param_info_at(&cfg, &g, i, &ginfos[i]);
        const zl_tensor *t = zl_tensor_map_get(w, infos[i].name);
        if (t && t->numel == infos[i].numel) memcpy(infos[i].data, t->data, (size_t)t->numel * 4);
        names[i] = infos[i].name;
        sizes[i] = infos[i].numel;
        params[i] = infos[i].data;
        grads[i] = ginfos[i].data;
    }
    enum { B = 3, S = 24 };
    static int32_t ids[B * S], types[B * S], im[B * S], qm[B * S], pm[B * S], sp[B], ep[B];
    const char *inames[] = {"input_ids", "token_type_ids", "input_mask", "qmask", "pmask",
                            "start_positions", "end_positions"};
    int32_t *dst[] = {ids, types, im, qm, pm, sp, ep};
    for (int i = 0; i < 7; i++) {
        snprintf(path, sizeof path, "%s/inputs/%s.i32.bin", dir, inames[i]);
        CHECK(read_i32(path, dst[i], i < 5 ? B * S : B) == 0);
    }
    float want_lr[5], want_loss[5], want_norm[5];
    const char *tn[] = {"lr", "loss", "grad_norm"};
    float *td[] = {want_lr, want_loss, want_norm};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/cases/train_steps/%s.f32.bin", dir, tn[i]);
        CHECK(read_f32(path, td[i], 5) == 0);
    }
    zl_optim_config oc;
    zl_optim_config_default(&oc);
    oc.lr = 1e-2;
    oc.total_steps = 5;
    oc.warmup_steps = 2;
    zl_optim *o = zl_optim_new(np, names, sizes, &oc);
    CHECK(o != NULL);
    zl_bert_inputs in = {B, S, ids, types, im, qm, pm};
    zl_bert_acts a;
    CHECK(zl_bert_acts_alloc(&a, &cfg, B, S, ZL_BERT_ACTS_BACKWARD) == 0);
    int threads = zl_get_threads();
    zl_set_threads(1); /* tiny model: threads only add overhead */
    for (int step = 0; o && step < 5; step++) {
        double loss, norm, lr;
        memset(g.memory, 0, (size_t)g.count * 4);
        CHECK(zl_bert_loss_and_grads(m, &a, NULL, &in, NULL, sp, ep, &g, &loss) == 0);
        CHECK(zl_optim_step(o, params, grads, &norm, &lr) == 0);
        CHECK_NEAR(lr, want_lr[step], 1e-6 * want_lr[step] + 1e-12);
        CHECK_NEAR(loss, want_loss[step], 1e-4);
        CHECK_NEAR(norm, want_norm[step], 1e-4 * want_norm[step]);
    }
    /* final weights: abs 3e-5, 1e-3 on the tensors whose exact gradient is zero */
    double maxerr = 0;
    for (int i = 0; i < np; i++) {
        const zl_tensor *t = zl_tensor_map_get(fin, infos[i].name);
        CHECK(t && t->numel == infos[i].numel);
        if (!t || t->numel != infos[i].numel) continue;
        const char *nm = infos[i].name;
        int zero = strstr(nm, "attention.self.key.bias") || strcmp(nm, "qa_outputs.bias") == 0 ||
                   strcmp(nm, "bert.encoder.layer.1.output.LayerNorm.bias") == 0;
        double e = 0;
        for (int64_t j = 0; j < t->numel; j++)
            e = fmax(e, fabs(infos[i].data[j] - ZL_F32P(t)[j]));
        if (!zero) maxerr = fmax(maxerr, e);
        if (e > (zero ? 1e-3 : 3e-5)) fprintf(stderr, "train: %s off by %.3g\n", nm, e);
        CHECK(e <= (zero ? 1e-3 : 3e-5));
    }
    printf("training fixture: final weights max abs error %.3g\n", maxerr);
    zl_set_threads(threads > 0 ? threads : 2);
    zl_optim_free(o);
    zl_bert_acts_free(&a);
    zl_bert_params_free(&g);
out0:
    zl_tensor_map_free(w);
    zl_tensor_map_free(fin);
    zl_bert_free(m);
}

/* zl_dropout_mask: every element as the documented scalar formula (hash of seed, stream
 * and index; u < p drops), whichever lanes compute it and whatever the team. */
static uint64_t ref_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void test_dropout_mask(void)
{
    enum { N = 10007 };
    static float got[N];
    const float ps[] = {0.1f, 0.5f, 0.0f};
    int threads = zl_get_threads();
    for (int k = 0; k < 3; k++) {
        zl_set_threads(1 + k % 2);
        zl_dropout_mask(got, N, ps[k], 42 + k, 7);
        uint64_t base = ref_mix((42 + k) ^ ref_mix(7 + 0x51ED2701ull));
        float scale = 1.0f / (1.0f - ps[k]);
        int bad = 0, dropped = 0;
        for (int i = 0; i < N; i++) {
            double u = (double)(ref_mix(base + (uint64_t)i) >> 11) * (1.0 / 9007199254740992.0);
            float want = u < (double)ps[k] ? 0.0f : scale;
            bad += got[i] != want;
            dropped += got[i] == 0.0f;
        }
        CHECK(bad == 0);
        CHECK(fabs((double)dropped / N - ps[k]) < 0.02);
    }
    zl_set_threads(threads);
}

int main(void)
{
    test_dropout_mask();
    test_layernorm();
    test_gelu_dropout();
    test_linear();
    test_attention(0);
    test_attention(1);
    test_embedding();
    test_loss();
    test_model();
    test_golden();
    test_train_golden();
    return zl_test_summary("test_backward");
}
