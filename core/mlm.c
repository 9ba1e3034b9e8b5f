/* mlm.c — masked-LM head, loss, corpus and masking (see mlm.h). */
#include "mlm.h"

#include "error.h"
#include "tensor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- scratch ---- */

int64_t zl_mlm_ws_numel(const zl_bert_config *c, int maxN)
{
    int64_t N = maxN, H = c->hidden_size, V = c->vocab_size;
    return 8 * N * H + 2 * N + 2 * N * V;
}

int zl_mlm_ws_alloc(zl_mlm_ws *ws, const zl_bert_config *c, int maxN)
{
    memset(ws, 0, sizeof *ws);
    if (maxN < 1) return zl_error_set("mlm: %d prediction slots (need at least 1)", maxN);
    int64_t n = zl_mlm_ws_numel(c, maxN);
    float *mem = calloc((size_t)n, sizeof(float));
    if (!mem) return zl_error_set("mlm: out of memory for %d prediction slots", maxN);
    int64_t N = maxN, H = c->hidden_size, V = c->vocab_size;
    float *q = mem;
#define CARVE(f, cnt) (ws->f = q, q += (cnt))
    CARVE(g, N * H); CARVE(pre, N * H); CARVE(act, N * H);
    CARVE(mean, N); CARVE(rstd, N); CARVE(h, N * H);
    CARVE(logits, N * V); CARVE(dlogits, N * V);
    CARVE(dh, N * H); CARVE(dact, N * H); CARVE(dpre, N * H); CARVE(dg, N * H);
#undef CARVE
    ws->maxN = maxN;
    ws->H = c->hidden_size;
    ws->V = c->vocab_size;
    ws->memory = mem;
    ws->count = n;
    return 0;
}

void zl_mlm_ws_free(zl_mlm_ws *ws)
{
    if (!ws) return;
    free(ws->memory);
    memset(ws, 0, sizeof *ws);
}

/* ---- head ---- */

static int check_head(const zl_bert *m, const zl_mlm_ws *ws, int B, int S, const zl_mlm_batch *mb)
{
    const zl_bert_config *c = &m->config;
    if (!c->mlm_head || !m->params.mlm_w)
        return zl_error_set("mlm: the model has no masked-LM head (load it with "
                            "zl_bert_load_mlm)");
    if (!mb || mb->P < 1 || !mb->positions || !mb->labels || !mb->weights)
        return zl_error_set("mlm: needs positions, labels and weights of at least 1 slot");
    if ((int64_t)B * mb->P > ws->maxN || ws->H != c->hidden_size || ws->V != c->vocab_size)
        return zl_error_set("mlm: %d x %d slots exceed the scratch's %d (or another model size)",
                            B, mb->P, ws->maxN);
    for (int b = 0; b < B; b++)
        for (int p = 0; p < mb->P; p++) {
            int32_t pos = mb->positions[b * mb->P + p];
            if (pos < 0 || pos >= S)
                return zl_error_set("mlm: row %d, slot %d: position %d outside 0..%d", b, p,
                                    pos, S - 1);
        }
    return 0;
}

int zl_mlm_forward(const zl_bert *m, zl_mlm_ws *ws, const float *hidden, int B, int S,
                   const zl_mlm_batch *mb)
{
    if (check_head(m, ws, B, S, mb)) return -1;
    const zl_bert_config *c = &m->config;
    const zl_bert_params *p = &m->params;
    const int P = mb->P, N = B * P, H = c->hidden_size, V = c->vocab_size;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < P; k++)
            memcpy(ws->g + (size_t)(b * P + k) * H,
                   hidden + ((size_t)b * S + mb->positions[b * P + k]) * H, (size_t)H * sizeof(float));
    zl_linear_forward(ws->pre, ws->g, p->mlm_w, p->mlm_b, N, H, H);
    zl_gelu_forward(ws->act, ws->pre, (int64_t)N * H, c->gelu == ZL_GELU_TANH);
    zl_layernorm_forward(ws->h, ws->mean, ws->rstd, ws->act, p->mlm_ln_w, p->mlm_ln_b, N, H,
                         c->layer_norm_eps);
    zl_linear_forward(ws->logits, ws->h, p->word_emb, p->mlm_bias, N, H, V);
    ws->N = N;
    return 0;
}

int zl_mlm_loss(double *loss, float *per_example, float *dlogits, const float *logits,
                const int32_t *labels, const float *weights, int N, int V)
{
    double wsum = 0;
    for (int n = 0; n < N; n++) {
        if (labels[n] < 0 || labels[n] >= V)
            return zl_error_set("mlm: slot %d: label %d outside the vocabulary 0..%d", n,
                                labels[n], V - 1);
        if (!(weights[n] >= 0) || !isfinite(weights[n]))
            return zl_error_set("mlm: slot %d: weight %g (must be finite and >= 0)", n,
                                (double)weights[n]);
        wsum += weights[n];
    }
    double denom = wsum + 1e-5, total = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        double mx = z[0];
        for (int v = 1; v < V; v++)
            if (z[v] > mx) mx = z[v];
        double se = 0;
        for (int v = 0; v < V; v++) se += exp((double)z[v] - mx);
        double lse = mx + log(se);
        double ce = lse - z[labels[n]];
        if (per_example) per_example[n] = (float)ce;
        total += weights[n] * ce;
        if (dlogits) {
            double f = weights[n] / denom;
            float *d = dlogits + (size_t)n * V;
            for (int v = 0; v < V; v++) d[v] = (float)(f * exp((double)z[v] - lse));
            d[labels[n]] -= (float)f;
        }
    }
    *loss = total / denom;
    return 0;
}

int zl_mlm_backward(const zl_bert *m, zl_bert_params *g, zl_mlm_ws *ws, float *dhidden, int B,
                    int S, const zl_mlm_batch *mb)
{
    if (check_head(m, ws, B, S, mb)) return -1;
    if (ws->N != B * mb->P)
        return zl_error_set("mlm: backward of %d slots after a forward of %d", B * mb->P, ws->N);
    if (!g->mlm_w || g->count != m->params.count)
        return zl_error_set("mlm: the gradient block does not match the model");
    const zl_bert_params *p = &m->params;
    const int P = mb->P, N = B * P, H = m->config.hidden_size, V = m->config.vocab_size;
    const size_t NH = (size_t)N * H;
    memset(ws->dh, 0, NH * sizeof(float));
    memset(ws->dact, 0, NH * sizeof(float));
    memset(ws->dpre, 0, NH * sizeof(float));
    memset(ws->dg, 0, NH * sizeof(float));
    /* logits = h E^T + bias: the decoder part of the tied table's gradient */
    zl_linear_backward(ws->dh, g->word_emb, g->mlm_bias, ws->dlogits, ws->h, p->word_emb, N, H, V);
    zl_layernorm_backward(ws->dact, g->mlm_ln_w, g->mlm_ln_b, ws->dh, ws->act, p->mlm_ln_w,
                          ws->mean, ws->rstd, N, H);
    zl_gelu_backward(ws->dpre, ws->pre, ws->dact, (int64_t)NH, m->config.gelu == ZL_GELU_TANH);
    zl_linear_backward(ws->dg, g->mlm_w, g->mlm_b, ws->dpre, ws->g, p->mlm_w, N, H, H);
    /* scatter back; a position chosen twice (never, from zl_mlm_mask) would add up */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < P; k++) {
            float *dst = dhidden + ((size_t)b * S + mb->positions[b * P + k]) * H;
            const float *src = ws->dg + (size_t)(b * P + k) * H;
            for (int j = 0; j < H; j++) dst[j] += src[j];
        }
    return 0;
}

int zl_mlm_loss_and_grads(const zl_bert *m, zl_bert_acts *a, zl_bert_backward_ws *bws,
                          zl_mlm_ws *ws, const zl_bert_inputs *in, const zl_bert_forward_opts *o,
                          const zl_mlm_batch *mb, zl_bert_params *grads, double *loss)
{
    zl_bert_forward_opts def;
    if (!o) {
        zl_bert_forward_opts_init(&def);
        o = &def;
    }
    if (o->start_layer != 0 || o->stop_layer != 0)
        return zl_error_set("mlm: needs a full forward pass");
    if (!(a->flags & ZL_BERT_ACTS_BACKWARD))
        return zl_error_set("mlm: the activations were allocated without ZL_BERT_ACTS_BACKWARD");
    if (!bws || in->B > bws->maxB || in->S > bws->maxS)
        return zl_error_set("mlm: the backward scratch does not hold %d x %d", in->B, in->S);
    const int L = m->config.num_hidden_layers, H = m->config.hidden_size;
    if (check_head(m, ws, in->B, in->S, mb)) return -1;
    double t0 = zl_phase_clock(); /* phases (train.h): the head's backward is in "other" */
    if (zl_bert_forward(m, a, in, o)) return -1;
    const float *hidden = a->hidden + (size_t)L * in->B * in->S * H;
    if (zl_mlm_forward(m, ws, hidden, in->B, in->S, mb)) return -1;
    const int N = in->B * mb->P;
    double l = 0;
    if (zl_mlm_loss(&l, NULL, ws->dlogits, ws->logits, mb->labels, mb->weights, N,
                    m->config.vocab_size))
        return -1;
    double t1 = zl_phase_clock();
    bws->phase_s[ZL_PHASE_FORWARD] += t1 - t0;
    memset(bws->dx, 0, (size_t)in->B * in->S * H * sizeof(float));
    if (zl_mlm_backward(m, grads, ws, bws->dx, in->B, in->S, mb)) return -1;
    bws->phase_s[ZL_PHASE_BACKWARD] += zl_phase_clock() - t1;
    if (zl_bert_backward_hidden(m, grads, bws, a, in, bws->dx)) return -1;
    if (loss) *loss = l;
    return 0;
}

/* ---- corpus ---- */

int zl_mlm_data_init(zl_mlm_data *d, int max_seq_length)
{
    memset(d, 0, sizeof *d);
    if (max_seq_length < 3)
        return zl_error_set("mlm: max_seq_length %d leaves no wordpiece ([CLS] and [SEP])",
                            max_seq_length);
    d->max_tokens = max_seq_length - 2;
    d->offset = malloc(16 * sizeof *d->offset);
    if (!d->offset) return zl_error_set("mlm: out of memory");
    d->cap_count = 15;
    d->offset[0] = 0;
    return 0;
}

void zl_mlm_data_free(zl_mlm_data *d)
{
    if (!d) return;
    free(d->tokens);
    free(d->word_start);
    free(d->offset);
    memset(d, 0, sizeof *d);
}

int zl_mlm_data_add(zl_mlm_data *d, const zl_tokenizer *tok, const char *text, size_t len)
{
    if (!d->offset) return zl_error_set("mlm: corpus not initialised");
    zl_ids ids = {0};
    if (zl_tokenizer_encode(tok, text, len, &ids) != 0) {
        zl_ids_free(&ids);
        return -1;
    }
    int rc = -1;
    int64_t need = d->n_tokens + ids.n;
    int more = ids.n ? (ids.n + d->max_tokens - 1) / d->max_tokens : 0;
    if (need > d->cap_tokens) {
        int64_t cap = d->cap_tokens ? d->cap_tokens : 4096;
        while (cap < need) cap *= 2;
        int32_t *t = realloc(d->tokens, (size_t)cap * sizeof *t);
        if (t) d->tokens = t;
        unsigned char *w = t ? realloc(d->word_start, (size_t)cap) : NULL;
        if (!t || !w) {
            zl_error_set("mlm: out of memory for %lld wordpieces", (long long)need);
            goto done;
        }
        d->word_start = w;
        d->cap_tokens = cap;
    }
    if ((int64_t)d->count + more > INT32_MAX - 1) {
        zl_error_set("mlm: more than 2^31 instances");
        goto done;
    }
    if (d->count + more > d->cap_count) {
        int cap = d->cap_count;
        while (cap < d->count + more) cap = cap < (1 << 29) ? cap * 2 : INT32_MAX - 1;
        int64_t *o = realloc(d->offset, ((size_t)cap + 1) * sizeof *o);
        if (!o) {
            zl_error_set("mlm: out of memory");
            goto done;
        }
        d->offset = o;
        d->cap_count = cap;
    }
    int unk = zl_tokenizer_unk(tok);
    for (int i = 0; i < ids.n; i++) {
        const char *piece = zl_tokenizer_piece(tok, ids.v[i]);
        d->tokens[d->n_tokens + i] = ids.v[i];
        d->word_start[d->n_tokens + i] = !(piece && piece[0] == '#' && piece[1] == '#');
        d->unk += ids.v[i] == unk;
    }
    for (int k = 0; k < more; k++) {
        int64_t end = d->n_tokens + (int64_t)(k + 1) * d->max_tokens;
        d->offset[d->count + k + 1] = end < need ? end : need;
    }
    d->count += more;
    d->n_tokens = need;
    rc = 0;
done:
    zl_ids_free(&ids);
    return rc;
}

/* ---- masking ---- */

int zl_mlm_mask_opts_check(const zl_mlm_mask_opts *o)
{
    if (o->max_predictions < 1 || !(o->prob > 0 && o->prob <= 1) || o->vocab_size < 1 ||
        o->mask_id < 0 || o->mask_id >= o->vocab_size)
        return zl_error_set("mlm: masking needs max_predictions >= 1, prob in (0, 1] and a "
                            "[MASK] id in the vocabulary");
    return 0;
}

int zl_mlm_mask(int32_t *ids, int len, const unsigned char *word_start,
                const zl_mlm_mask_opts *o, uint64_t seed, int32_t *positions, int32_t *labels,
                float *weights)
{
    const int P = o->max_predictions;
    if (zl_mlm_mask_opts_check(o) != 0) return -1;
    for (int k = 0; k < P; k++) positions[k] = labels[k] = 0, weights[k] = 0.0f;
    if (len < 3) return 0;
    /* candidates 1..len-2, grouped into words: group g starts at cand[start[g]] */
    int nc = len - 2;
    int *first = malloc((size_t)nc * sizeof *first), *glen = malloc((size_t)nc * sizeof *glen);
    unsigned char *chosen = calloc((size_t)len, 1);
    if (!first || !glen || !chosen) {
        free(first); free(glen); free(chosen);
        return zl_error_set("mlm: out of memory");
    }
    int ng = 0;
    for (int i = 1; i <= nc; i++) {
        if (o->whole_word && word_start && ng > 0 && !word_start[i - 1]) {
            glen[ng - 1]++;
        } else {
            first[ng] = i;
            glen[ng] = 1;
            ng++;
        }
    }
    zl_rng r;
    zl_rng_seed(&r, seed);
    for (int i = ng - 1; i > 0; i--) { /* Fisher-Yates over the groups */
        int j = (int)(zl_rng_next(&r) % (uint64_t)(i + 1));
        int t = first[i]; first[i] = first[j]; first[j] = t;
        t = glen[i]; glen[i] = glen[j]; glen[j] = t;
    }
    int want = (int)nearbyint(len * (double)o->prob); /* Python's round: half to even */
    if (want < 1) want = 1;
    if (want > P) want = P;
    int n = 0;
    for (int gi = 0; gi < ng && n < want; gi++) {
        if (n + glen[gi] > want) continue;
        for (int i = first[gi]; i < first[gi] + glen[gi]; i++) {
            chosen[i] = 1;
            n++;
        }
    }
    int k = 0;
    for (int i = 1; i < len - 1; i++) {
        if (!chosen[i]) continue;
        positions[k] = i;
        labels[k] = ids[i];
        weights[k] = 1.0f;
        k++;
        if (zl_rng_uniform(&r) < 0.8)
            ids[i] = o->mask_id;
        else if (zl_rng_uniform(&r) >= 0.5)
            ids[i] = (int32_t)(zl_rng_next(&r) % (uint64_t)o->vocab_size);
    }
    free(first); free(glen); free(chosen);
    return n;
}
