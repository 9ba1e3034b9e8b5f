/* bert_backward.c — the backward pass of the BERT/ELECTRA QA model (train.h). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include "train.h"
#include "error.h"
#include "tensor.h"
#include "vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Column block of the parameter-gradient reductions: each thread owns whole columns
 * and sums the rows in order, so the result does not depend on the thread count,
 * while the rows it reads stay contiguous. */
#define COLBLOCK 64


/* ---- phases ---- */

static const char *const phase_names[ZL_PHASE_COUNT] = {
    "forward", "backward", "dweight", "dinput", "attention", "layernorm", "gelu", "other",
    "accumulate", "optimizer"};

const char *zl_phase_name(int phase)
{
    return phase >= 0 && phase < ZL_PHASE_COUNT ? phase_names[phase] : "?";
}

double zl_phase_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Runs stmt and adds its wall seconds to phase ph of ws (ws may be NULL: no timing). */
#define TIMED(ws, ph, stmt)                                                  \
    do {                                                                     \
        double t0_ = zl_phase_clock();                                       \
        stmt;                                                                \
        if (ws) (ws)->phase_s[ph] += zl_phase_clock() - t0_;                 \
    } while (0)

/* ---- kernels ---- */

/* zl_layernorm_backward with the choices the encoder needs: the input gradient is added
 * to dinp (add) or written there, and masked (NULL: not wanted) receives it times mask
 * (the dropout multipliers before the LayerNorm's residual sum), in the same pass. */
static void layernorm_grads(float *dinp, int add, float *masked, const float *mask,
                            float *dweight, float *dbias, const float *dout, const float *inp,
                            const float *weight, const float *mean, const float *rstd, int N,
                            int C)
{
    int nblk = (C + COLBLOCK - 1) / COLBLOCK;
    /* one team for both loops: the column sums read only what the rows read */
#pragma omp parallel if ((int64_t)N * C >= 32768) num_threads(zl_get_threads())
    {
#pragma omp for schedule(static) nowait
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float *dx = dinp + (size_t)n * C;
        double mu = mean[n], rs = rstd[n];
        double s1 = 0, s2 = 0; /* mean of dnorm, mean of dnorm * xhat */
        for (int c = 0; c < C; c++) {
            double dn = (double)dy[c] * weight[c];
            s1 += dn;
            s2 += dn * ((x[c] - mu) * rs);
        }
        s1 /= C;
        s2 /= C;
        for (int c = 0; c < C; c++) {
            double xh = (x[c] - mu) * rs;
            double dn = (double)dy[c] * weight[c];
            float g = (float)((dn - s1 - xh * s2) * rs);
            dx[c] = add ? dx[c] + g : g;
        }
        if (masked) {
            float *mk = masked + (size_t)n * C;
            const float *mr = mask + (size_t)n * C;
            for (int c = 0; c < C; c++) mk[c] = dx[c] * mr[c];
        }
    }
#pragma omp for schedule(static) nowait
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * COLBLOCK, c1 = c0 + COLBLOCK < C ? c0 + COLBLOCK : C;
        double dw[COLBLOCK] = {0}, db[COLBLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
            double mu = mean[n], rs = rstd[n];
            for (int c = c0; c < c1; c++) {
                dw[c - c0] += (double)dy[c] * ((x[c] - mu) * rs);
                db[c - c0] += dy[c];
            }
        }
        for (int c = c0; c < c1; c++) {
            if (dweight) dweight[c] += (float)dw[c - c0];
            if (dbias) dbias[c] += (float)db[c - c0];
        }
    }
    }
}

void zl_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                           const float *inp, const float *weight, const float *mean,
                           const float *rstd, int N, int C)
{
    layernorm_grads(dinp, 1, NULL, NULL, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
}

static void bias_blocks(float *dbias, const float *dout, int N, int OC);

/* The backward's large products run over the team split by rows of C[M, N] as zl_sgemm
 * splits a product (whole 16-row blocks, one chunk per thread, none under 64 rows or 2^20
 * multiply-adds), so their bits are those of zl_sgemm's split at any team size; but the
 * chunks are taken as threads free up, and a caller can run several products and the bias
 * sums in one parallel region (fewer fork/joins, each a wait for the slowest thread). */
typedef struct {
    int transa, transb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc;
    int per, nc; /* nc chunks of per rows */
} team_product;

static team_product plan_product(int transa, int transb, int M, int N, int K, float alpha,
                                 const float *A, int lda, const float *B, int ldb, float beta,
                                 float *C, int ldc)
{
    team_product t = {transa, transb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, M, 1};
    int nt = zl_get_threads();
#ifdef _OPENMP
    if (omp_in_parallel()) nt = 1;
#endif
    if (nt > 1 && M >= 64 && (double)M * N * K >= 1048576.0) {
        t.per = ((M + nt - 1) / nt + 15) / 16 * 16;
        t.nc = (M + t.per - 1) / t.per;
    }
    return t;
}

static void product_chunk(const team_product *t, int c)
{
    int i0 = c * t->per, n = t->M - i0 < t->per ? t->M - i0 : t->per;
    zl_sgemm(t->transa, t->transb, n, t->N, t->K, t->alpha,
             t->A + (t->transa ? (size_t)i0 : (size_t)i0 * t->lda), t->lda, t->B, t->ldb, t->beta,
             t->C + (size_t)i0 * t->ldc, t->ldc);
}

/* The n products t (planned alike: one shape) in one team, chunk c of each in turn on one
 * thread, so products adding into one C never race (a chunk owns its rows of C)
 * and add in the order given; then the nb bias sums dbias[i] += sum_n dout[i][n, .] (dout
 * [N, OC]) in the same team. */
static void team_products_run(const team_product *t, int n, int nb, float *const *dbias,
                              const float *const *dout, int N, int OC)
{
    int nc = n ? t[0].nc : 0;
    int big = nc > 1 || (nb && (int64_t)N * OC >= 65536);
#pragma omp parallel if (big) num_threads(zl_get_threads())
    {
#pragma omp for schedule(dynamic, 1) nowait
        for (int c = 0; c < nc; c++)
            for (int i = 0; i < n; i++) product_chunk(&t[i], c);
        for (int i = 0; i < nb; i++) bias_blocks(dbias[i], dout[i], N, OC);
    }
}

/* zl_linear_backward, each part timed into ws's phases (ws may be NULL); the input
 * gradient is added to dinp (add) or written there. */
static void linear_grads(zl_bert_backward_ws *ws, float *dinp, int add, float *dweight,
                         float *dbias, const float *dout, const float *inp, const float *weight,
                         int N, int C, int OC)
{
    double t0 = zl_phase_clock();
    if (dinp) {
        team_product t = plan_product(0, 0, N, C, OC, 1.0f, dout, OC, weight, C,
                                      add ? 1.0f : 0.0f, dinp, C);
        team_products_run(&t, 1, 0, NULL, NULL, 0, 0);
    }
    double t1 = zl_phase_clock();
    team_product t = {0};
    if (dweight) t = plan_product(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    team_products_run(&t, dweight != NULL, dbias != NULL, &dbias, &dout, N, OC);
    if (ws) {
        ws->phase_s[ZL_PHASE_DINPUT] += t1 - t0;
        ws->phase_s[ZL_PHASE_DWEIGHT] += zl_phase_clock() - t1;
    }
}

/* The query, key and value denses of layer l (inputs x [N, H], output gradients d[3]):
 * dx += sum_i d[i] W_i, and the three weight and bias gradients, one team each. */
static void qkv_grads(zl_bert_backward_ws *ws, float *dx, float *const *dw, float *const *db,
                      const float *const *d, const float *const *w, const float *x, int N, int H)
{
    double t0 = zl_phase_clock();
    team_product t[3];
    for (int i = 0; i < 3; i++) t[i] = plan_product(0, 0, N, H, H, 1.0f, d[i], H, w[i], H, 1.0f, dx, H);
    team_products_run(t, 3, 0, NULL, NULL, 0, 0);
    double t1 = zl_phase_clock();
    for (int i = 0; i < 3; i++) t[i] = plan_product(1, 0, H, H, N, 1.0f, d[i], H, x, H, 1.0f, dw[i], H);
    team_products_run(t, 3, 3, db, d, N, H);
    ws->phase_s[ZL_PHASE_DINPUT] += t1 - t0;
    ws->phase_s[ZL_PHASE_DWEIGHT] += zl_phase_clock() - t1;
}

void zl_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, int N, int C, int OC)
{
    linear_grads(NULL, dinp, 1, dweight, dbias, dout, inp, weight, N, C, OC);
}

/* dbias[o] += sum_n dout[n, o], in a fixed order (COLBLOCK), shared over the team that
 * calls it (an orphaned loop: alone outside a parallel region). */
static void bias_blocks(float *dbias, const float *dout, int N, int OC)
{
    int nblk = (OC + COLBLOCK - 1) / COLBLOCK;
#pragma omp for schedule(static) nowait
    for (int blk = 0; blk < nblk; blk++) {
        int o0 = blk * COLBLOCK, o1 = o0 + COLBLOCK < OC ? o0 + COLBLOCK : OC;
        double db[COLBLOCK] = {0};
        for (int n = 0; n < N; n++) {
            const float *dy = dout + (size_t)n * OC;
            for (int o = o0; o < o1; o++) db[o - o0] += dy[o];
        }
        for (int o = o0; o < o1; o++) dbias[o] += (float)db[o - o0];
    }
}

/* dinp = (add ? dinp : 0) + dout * gelu'(inp) over n values; dinp may equal dout (add 0).
 * In double through libm's erf, exp and tanh: the vector float functions (4x faster here)
 * changed the trained demo model's bits, and a run's bits stay those of earlier builds. */
static void gelu_grads(float *dinp, const float *inp, const float *dout, int64_t n, int tanh_form,
                       int add)
{
    const double inv_sqrt2 = 0.70710678118654752440, inv_sqrt2pi = 0.39894228040143267794;
    const double k = 0.79788456080286535588, c = 0.044715; /* sqrt(2/pi) */
#pragma omp parallel for schedule(static) if (n >= 65536) num_threads(zl_get_threads())
    for (int64_t i = 0; i < n; i++) {
        double x = inp[i], d;
        if (tanh_form) {
            /* d/dx 0.5 x (1 + tanh u), u = k (x + c x^3):
             * 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 c x^2) */
            double t = tanh(k * (x + c * x * x * x));
            d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c * x * x);
        } else {
            double cdf = 0.5 * (1.0 + erf(x * inv_sqrt2));
            double pdf = inv_sqrt2pi * exp(-0.5 * x * x);
            d = cdf + x * pdf;
        }
        float g = (float)(dout[i] * d);
        dinp[i] = add ? dinp[i] + g : g;
    }
}

void zl_gelu_backward(float *dinp, const float *inp, const float *dout, int64_t n, int tanh_form)
{
    gelu_grads(dinp, inp, dout, n, tanh_form, 1);
}

void zl_dropout_backward(float *dinp, const float *dout, const float *mask, int64_t n)
{
#pragma omp parallel for schedule(static) if (n >= 65536) num_threads(zl_get_threads())
    for (int64_t i = 0; i < n; i++) dinp[i] += mask ? dout[i] * mask[i] : dout[i];
}

/* zl_attention_backward; add 0: dq, dk, dv are written (every element once), not added to. */
static void attention_grads(float *dq, float *dk, float *dv, float *scratch, int slots,
                            const float *dctx, const float *q, const float *k, const float *v,
                            const float *probs, const float *probs_drop, const float *head_mask,
                            int B, int S, int H, int NH, int add)
{
    const float beta = add ? 1.0f : 0.0f;
    const int d = H / NH;
    const float scale = (float)(1.0 / sqrt((double)d));
    const int64_t SS = (int64_t)S * S;
    int nt = zl_get_threads();
    if (nt > slots) nt = slots;
    if (nt > B * NH) nt = B * NH;
    if (nt < 1) nt = 1;
    /* One (batch, head) pair per iteration, on one thread with its own scratch (BLAS
     * single-threaded inside the team): the four K = 64 or K = S products of a pair are
     * too small to split, and a pair writes only its own columns of dq, dk, dv, so its
     * bits do not depend on the team. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH;
#ifdef _OPENMP
        float *dp = scratch + 2 * SS * omp_get_thread_num();
#else
        float *dp = scratch;
#endif
        float *pm = dp + SS;
        size_t off = (size_t)b * S * H + (size_t)h * d;
        const float *Qh = q + off, *Kh = k + off, *Vh = v + off, *dC = dctx + off;
        float *dQ = dq + off, *dK = dk + off, *dV = dv + off;
        const float *P = probs + bh * SS;
        const float *drop = probs_drop ? probs_drop + bh * SS : NULL;
        float hm = head_mask ? head_mask[h] : 1.0f;
        int mult = drop || hm != 1.0f;
        /* d(P*mult) = dctx_h V_h^T */
        zl_sgemm(0, 1, S, S, d, 1.0f, dC, H, Vh, H, 0.0f, dp, S);
        /* softmax backward through the kept probabilities (the adder was constant), and
         * the multiplied probabilities the forward used, in one pass over the rows */
        for (int f = 0; f < S; f++) {
            float *row = dp + (int64_t)f * S, *pmr = pm + (int64_t)f * S;
            const float *pr = P + (int64_t)f * S;
            const float *dr = drop ? drop + (int64_t)f * S : NULL;
            double dot = 0;
            if (mult) {
                for (int t = 0; t < S; t++) {
                    float m = dr ? dr[t] : 1.0f;
                    float g = row[t] * hm * m;
                    pmr[t] = pr[t] * hm * m;
                    row[t] = g;
                    dot += (double)pr[t] * g;
                }
            } else {
                for (int t = 0; t < S; t++) dot += (double)pr[t] * row[t];
            }
            for (int t = 0; t < S; t++) row[t] = (float)(pr[t] * (row[t] - dot));
        }
        /* dV_h += (P*mult)^T dctx_h */
        zl_sgemm(1, 0, S, d, S, 1.0f, mult ? pm : P, S, dC, H, beta, dV, H);
        /* scores = Q_h K_h^T * scale */
        zl_sgemm(0, 0, S, d, S, scale, dp, S, Kh, H, beta, dQ, H);
        zl_sgemm(1, 0, S, d, S, scale, dp, S, Qh, H, beta, dK, H);
    }
}

void zl_attention_backward(float *dq, float *dk, float *dv, float *scratch, int slots,
                           const float *dctx, const float *q, const float *k, const float *v,
                           const float *probs, const float *probs_drop, const float *head_mask,
                           int B, int S, int H, int NH)
{
    attention_grads(dq, dk, dv, scratch, slots, dctx, q, k, v, probs, probs_drop, head_mask, B,
                    S, H, NH, 1);
}

void zl_embedding_backward(float *dword, float *dpos, float *dtype, const float *dout,
                           const int32_t *ids, const int32_t *types, int B, int S, int E)
{
    /* Each thread owns a block of columns of every table: a row id repeated in the
     * batch is summed in (b, s) order by one thread. */
    int nblk = (E + COLBLOCK - 1) / COLBLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)B * S * E >= 65536) num_threads(zl_get_threads())
    for (int blk = 0; blk < nblk; blk++) {
        int c0 = blk * COLBLOCK, c1 = c0 + COLBLOCK < E ? c0 + COLBLOCK : E;
        for (int b = 0; b < B; b++) {
            for (int s = 0; s < S; s++) {
                size_t n = (size_t)b * S + s;
                const float *dy = dout + n * E;
                if (dword) {
                    float *w = dword + (size_t)ids[n] * E;
                    for (int c = c0; c < c1; c++) w[c] += dy[c];
                }
                if (dpos) {
                    float *p = dpos + (size_t)s * E;
                    for (int c = c0; c < c1; c++) p[c] += dy[c];
                }
                if (dtype) {
                    float *t = dtype + (size_t)(types ? types[n] : 0) * E;
                    for (int c = c0; c < c1; c++) t[c] += dy[c];
                }
            }
        }
    }
}

/* ---- workspace ---- */

int zl_bert_backward_ws_alloc(zl_bert_backward_ws *ws, const zl_bert_config *c, int maxB,
                              int maxS)
{
    memset(ws, 0, sizeof *ws);
    if (maxB < 1 || maxS < 1)
        return zl_error_set("backward: batch %d x sequence %d must be at least 1 x 1", maxB,
                            maxS);
    if (zl_bert_config_validate(c, "backward")) return -1;
    int64_t N = (int64_t)maxB * maxS, H = c->hidden_size, I = c->intermediate_size,
            E = c->embedding_size;
    int64_t slots = zl_get_threads(); /* attention scratch: one per thread of the team */
    float **nh[] = {&ws->dx, &ws->dx2, &ws->dres, &ws->dtmp, &ws->dctx, &ws->dq, &ws->dk, &ws->dv};
    const int n_nh = (int)(sizeof nh / sizeof *nh); /* the [B, S, H] buffers */
    int64_t total = 2 * N + 2 * N + n_nh * N * H + N * I + 2 * N * E + slots * 2 * (int64_t)maxS * maxS;
    if (N > INT32_MAX || total > ((int64_t)1 << 40))
        return zl_error_set("backward: batch %d x sequence %d is too large", maxB, maxS);
    float *mem = calloc((size_t)total, sizeof(float));
    if (!mem)
        return zl_error_set("backward: out of memory for %lld floats of scratch",
                            (long long)total);
    ws->maxB = maxB;
    ws->maxS = maxS;
    ws->H = (int)H;
    ws->I = (int)I;
    ws->E = (int)E;
    ws->memory = mem;
    ws->count = total;
    float *p = mem;
#define CARVE(field, n) (ws->field = p, p += (n))
    CARVE(dstart, N);
    CARVE(dend, N);
    CARVE(dlogits, 2 * N);
    for (int i = 0; i < n_nh; i++) *nh[i] = p, p += N * H;
    CARVE(dinter, N * I);
    CARVE(demb, N * E);
    CARVE(demb2, N * E);
    CARVE(datt, slots * 2 * (int64_t)maxS * maxS);
    ws->att_slots = (int)slots;
#undef CARVE
    return 0;
}

void zl_bert_backward_ws_free(zl_bert_backward_ws *ws)
{
    if (!ws) return;
    free(ws->memory);
    memset(ws, 0, sizeof *ws);
}

/* ---- the model ---- */

static void zero(float *p, int64_t n) { memset(p, 0, (size_t)n * sizeof *p); }

/* The dropout multipliers of the last forward, or NULL when it used none. */
static const float *used_mask(float prob, const float *mask) { return prob > 0 ? mask : NULL; }

static int check_backward(const zl_bert *m, const zl_bert_params *g, const zl_bert_backward_ws *ws,
                          const zl_bert_acts *a, const zl_bert_inputs *in)
{
    const zl_bert_config *c = &m->config;
    if (!(a->flags & ZL_BERT_ACTS_BACKWARD))
        return zl_error_set("backward: the activations were allocated without "
                            "ZL_BERT_ACTS_BACKWARD (inference only)");
    if (a->B != in->B || a->S != in->S)
        return zl_error_set("backward: the inputs are %d x %d but the last forward ran "
                            "%d x %d", in->B, in->S, a->B, a->S);
    if (a->L != c->num_hidden_layers || a->H != c->hidden_size || a->I != c->intermediate_size ||
        a->E != c->embedding_size || a->NH != c->num_attention_heads)
        return zl_error_set("backward: the activations were allocated for another model size");
    if (!g->memory || g->count != m->params.count)
        return zl_error_set("backward: the gradient block does not match the model "
                            "(allocate it with zl_bert_params_alloc for this config)");
    if (ws && (in->B > ws->maxB || in->S > ws->maxS || ws->H != c->hidden_size ||
               ws->I != c->intermediate_size || ws->E != c->embedding_size))
        return zl_error_set("backward: the scratch holds %d x %d for another size; "
                            "inputs are %d x %d", ws->maxB, ws->maxS, in->B, in->S);
    if (a->dropout_prob > 0 && (!a->emb_drop || !a->att_drop || !a->out_drop))
        return zl_error_set("backward: the forward used dropout but kept no masks "
                            "(allocate the activations with ZL_BERT_ACTS_DROPOUT)");
    if (a->attn_dropout_prob > 0 && !a->probs_drop)
        return zl_error_set("backward: the forward used attention dropout but kept no masks");
    return 0;
}

static void encoder_backward(const zl_bert *m, zl_bert_params *g, zl_bert_backward_ws *ws,
                             const zl_bert_acts *a, const zl_bert_inputs *in);

int zl_bert_backward(const zl_bert *m, zl_bert_params *g, zl_bert_backward_ws *ws_in,
                     const zl_bert_acts *a, const zl_bert_inputs *in, const float *dstart,
                     const float *dend)
{
    if (check_backward(m, g, ws_in, a, in)) return -1;
    zl_bert_backward_ws own, *ws = ws_in;
    if (!ws) {
        if (zl_bert_backward_ws_alloc(&own, &m->config, in->B, in->S)) return -1;
        ws = &own;
    }
    const int N = in->B * in->S, H = m->config.hidden_size, L = m->config.num_hidden_layers;
    double t0 = zl_phase_clock();

    /* QA head: logits [N, 2] = x_L Wqa^T + bqa */
    for (int n = 0; n < N; n++) {
        ws->dlogits[2 * n] = dstart[n];
        ws->dlogits[2 * n + 1] = dend[n];
    }
    zero(ws->dx, (int64_t)N * H);
    zl_linear_backward(ws->dx, g->qa_w, g->qa_b, ws->dlogits, a->hidden + (size_t)L * N * H, m->params.qa_w,
                       N, H, 2);

    encoder_backward(m, g, ws, a, in);
    ws->phase_s[ZL_PHASE_BACKWARD] += zl_phase_clock() - t0;
    if (ws == &own) zl_bert_backward_ws_free(&own);
    return 0;
}

int zl_bert_backward_hidden(const zl_bert *m, zl_bert_params *g, zl_bert_backward_ws *ws_in,
                            const zl_bert_acts *a, const zl_bert_inputs *in, const float *dhidden)
{
    if (check_backward(m, g, ws_in, a, in)) return -1;
    zl_bert_backward_ws own, *ws = ws_in;
    if (!ws) {
        if (zl_bert_backward_ws_alloc(&own, &m->config, in->B, in->S)) return -1;
        ws = &own;
    }
    size_t n = (size_t)in->B * in->S * m->config.hidden_size;
    double t0 = zl_phase_clock();
    if (dhidden != ws->dx) memmove(ws->dx, dhidden, n * sizeof(float));
    encoder_backward(m, g, ws, a, in);
    ws->phase_s[ZL_PHASE_BACKWARD] += zl_phase_clock() - t0;
    if (ws == &own) zl_bert_backward_ws_free(&own);
    return 0;
}

/* The encoder's backward from ws->dx = d loss / d hidden[L] (overwritten: ws's buffers are
 * the scratch). */
static void encoder_backward(const zl_bert *m, zl_bert_params *g, zl_bert_backward_ws *ws,
                             const zl_bert_acts *a, const zl_bert_inputs *in)
{
    const zl_bert_config *c = &m->config;
    const zl_bert_params *P = &m->params;
    const int B = in->B, S = in->S, N = B * S, H = c->hidden_size, I = c->intermediate_size,
              E = c->embedding_size, NH = c->num_attention_heads, L = c->num_hidden_layers;
    const size_t HH = (size_t)H * H, IH = (size_t)I * H;
    float *dx = ws->dx, *dx2 = ws->dx2;
    const int tanh_gelu = c->gelu == ZL_GELU_TANH;
    for (int l = L - 1; l >= 0; l--) {
        zl_bert_layer_acts la;
        zl_bert_acts_layer(a, l, &la);
        /* x_out = LN_out(dropout(gelu(a Wi^T + bi) Wo2^T + bo2) + a): dres = d out_sum (the
         * residual into a), dtmp = it through the dropout */
        const float *odrop = used_mask(a->dropout_prob, la.out_drop);
        TIMED(ws, ZL_PHASE_LAYERNORM,
              layernorm_grads(ws->dres, 0, odrop ? ws->dtmp : NULL, odrop,
                              g->out_ln_w + (size_t)l * H, g->out_ln_b + (size_t)l * H, dx,
                              la.out_sum, P->out_ln_w + (size_t)l * H, la.out_mean,
                              la.out_rstd, N, H));
        const float *dffn = odrop ? ws->dtmp : ws->dres;
        linear_grads(ws, ws->dinter, 0, g->o2w + l * IH, g->o2b + (size_t)l * H, dffn,
                     la.inter_gelu, P->o2w + l * IH, N, I, H);
        TIMED(ws, ZL_PHASE_GELU,
              gelu_grads(ws->dinter, la.inter_pre, ws->dinter, (int64_t)N * I, tanh_gelu, 0));
        linear_grads(ws, ws->dres, 1, g->iw + l * IH, g->ib + (size_t)l * I, ws->dinter,
                     la.att_ln, P->iw + l * IH, N, H, I);

        /* a = LN_att(dropout(ctx Wo^T + bo) + x): dx2 = d att_sum (the residual into x) */
        const float *adrop = used_mask(a->dropout_prob, la.att_drop);
        TIMED(ws, ZL_PHASE_LAYERNORM,
              layernorm_grads(dx2, 0, adrop ? ws->dtmp : NULL, adrop,
                              g->att_ln_w + (size_t)l * H, g->att_ln_b + (size_t)l * H, ws->dres,
                              la.att_sum, P->att_ln_w + (size_t)l * H, la.att_mean,
                              la.att_rstd, N, H));
        const float *ddense = adrop ? ws->dtmp : dx2;
        if (la.strict) {
            /* all_strict: the context was exactly zero, only bo saw the gradient */
            linear_grads(ws, NULL, 0, NULL, g->ob + (size_t)l * H, ddense, la.ctx,
                         P->ow + l * HH, N, H, H);
        } else {
            linear_grads(ws, ws->dctx, 0, g->ow + l * HH, g->ob + (size_t)l * H, ddense, la.ctx,
                         P->ow + l * HH, N, H, H);
            TIMED(ws, ZL_PHASE_ATTENTION,
                  attention_grads(ws->dq, ws->dk, ws->dv, ws->datt, ws->att_slots, ws->dctx,
                                  la.q, la.k, la.v, la.probs,
                                  used_mask(a->attn_dropout_prob, la.probs_drop), la.head_mask,
                                  B, S, H, NH, 0));
            float *dw[3] = {g->qw + l * HH, g->kw + l * HH, g->vw + l * HH};
            float *db[3] = {g->qb + (size_t)l * H, g->kb + (size_t)l * H, g->vb + (size_t)l * H};
            const float *dqkv[3] = {ws->dq, ws->dk, ws->dv};
            const float *w[3] = {P->qw + l * HH, P->kw + l * HH, P->vw + l * HH};
            qkv_grads(ws, dx2, dw, db, dqkv, w, la.input, N, H);
        }
        float *t = dx;
        dx = dx2;
        dx2 = t;
    }

    /* embeddings: hidden[0] = dropout(LN_emb(sum)) [then the ELECTRA projection] */
    const float *dh = dx;
    float *spare = ws->demb;
    if (P->proj_w) {
        const float *pin = a->emb_proj_in ? a->emb_proj_in : a->emb_ln;
        linear_grads(ws, ws->demb, 0, g->proj_w, g->proj_b, dx, pin, P->proj_w, N, E, H);
        dh = ws->demb;
        spare = ws->demb2;
    }
    const float *edrop = used_mask(a->dropout_prob, a->emb_drop);
    if (edrop) {
        zero(spare, (int64_t)N * E);
        zl_dropout_backward(spare, dh, edrop, (int64_t)N * E);
        dh = spare;
        spare = spare == ws->demb ? ws->demb2 : ws->demb;
    }
    TIMED(ws, ZL_PHASE_LAYERNORM,
          layernorm_grads(spare, 0, NULL, NULL, g->emb_ln_w, g->emb_ln_b, dh, a->emb_sum,
                          P->emb_ln_w, a->emb_mean, a->emb_rstd, N, E));
    zl_embedding_backward(g->word_emb, g->pos_emb, g->type_emb, spare, in->input_ids,
                          in->token_type_ids, B, S, E);
}

int zl_bert_loss_and_grads(const zl_bert *m, zl_bert_acts *a, zl_bert_backward_ws *ws_in,
                           const zl_bert_inputs *in, const zl_bert_forward_opts *o,
                           const int32_t *start_pos, const int32_t *end_pos,
                           zl_bert_params *grads, double *loss)
{
    zl_bert_forward_opts def;
    if (!o) {
        zl_bert_forward_opts_init(&def);
        o = &def;
    }
    if (o->start_layer != 0)
        return zl_error_set("backward: needs a full forward pass (start_layer 0, got %d)",
                            o->start_layer);
    if (!(a->flags & ZL_BERT_ACTS_BACKWARD))
        return zl_error_set("backward: the activations were allocated without "
                            "ZL_BERT_ACTS_BACKWARD (inference only)");
    zl_bert_backward_ws own, *ws = ws_in;
    if (!ws) {
        if (zl_bert_backward_ws_alloc(&own, &m->config, in->B, in->S)) return -1;
        ws = &own;
    } else if (in->B > ws->maxB || in->S > ws->maxS) {
        return zl_error_set("backward: the scratch holds %d x %d; inputs are %d x %d",
                            ws->maxB, ws->maxS, in->B, in->S);
    }
    int rc = -1;
    double l = 0;
    double t0 = zl_phase_clock();
    if (zl_bert_forward(m, a, in, o)) goto out;
    if (zl_bert_span_loss(&l, ws->dstart, ws->dend, a->start_logits, a->end_logits, start_pos,
                          end_pos, in->B, in->S))
        goto out;
    ws->phase_s[ZL_PHASE_FORWARD] += zl_phase_clock() - t0;
    if (zl_bert_backward(m, grads, ws, a, in, ws->dstart, ws->dend)) goto out;
    if (loss) *loss = l;
    rc = 0;
out:
    if (ws == &own) zl_bert_backward_ws_free(&own);
    return rc;
}
