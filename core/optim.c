/* optim.c — BERT's AdamWeightDecay optimizer, schedule, clipping, state I/O (optim.h). */
#include "optim.h"
#include "error.h"
#include "io.h"
#include "tensor.h" /* zl_get_threads */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Work is split into fixed chunks (parameter, start, length) so that the norm's
 * partial sums, added in chunk order, do not depend on the thread count. */
#define OPT_CHUNK 16384

typedef struct opt_chunk {
    int param;
    int64_t start, len;
} opt_chunk;

struct zl_optim {
    zl_optim_config cfg;
    int n;
    char **names;
    int64_t *sizes;
    int *decay;
    float **m, **v;  /* one allocation each (m[0], v[0]); per-parameter pointers */
    int64_t step;
    int n_chunks;
    opt_chunk *chunks;
    double *partial; /* one per chunk */
};

void zl_optim_config_default(zl_optim_config *c)
{
    c->lr = 3e-5;
    c->total_steps = 1;
    c->warmup_steps = -1;
    c->warmup_proportion = 0.1;
    c->weight_decay = 0.01;
    c->clip = 1.0;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-6;
}

int zl_optim_name_decays(const char *name)
{
    /* optimization.py's exclude_from_weight_decay, matched as substrings (re.search). */
    return !strstr(name, "LayerNorm") && !strstr(name, "layer_norm") && !strstr(name, "bias");
}

static int check_config(zl_optim_config *c)
{
    if (!(c->lr >= 0) || !isfinite(c->lr))
        return zl_error_set("optim: lr must be a finite number >= 0 (got %g)", c->lr);
    if (c->total_steps < 1)
        return zl_error_set("optim: total_steps must be >= 1 (got %lld)",
                            (long long)c->total_steps);
    if (c->warmup_steps < 0) {
        if (!(c->warmup_proportion >= 0 && c->warmup_proportion <= 1))
            return zl_error_set("optim: warmup_proportion must be in [0, 1] (got %g)",
                                c->warmup_proportion);
        /* create_optimizer: int(num_train_steps * warmup_proportion), truncated. */
        c->warmup_steps = (int64_t)((double)c->total_steps * c->warmup_proportion);
    }
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return zl_error_set("optim: weight_decay must be >= 0 (got %g)", c->weight_decay);
    if (isnan(c->clip)) return zl_error_set("optim: clip is NaN");
    if (!(c->beta1 >= 0 && c->beta1 < 1))
        return zl_error_set("optim: beta1 must be in [0, 1) (got %g)", c->beta1);
    if (!(c->beta2 >= 0 && c->beta2 < 1))
        return zl_error_set("optim: beta2 must be in [0, 1) (got %g)", c->beta2);
    if (!(c->eps > 0) || !isfinite(c->eps))
        return zl_error_set("optim: eps must be > 0 (got %g)", c->eps);
    return 0;
}

zl_optim *zl_optim_new(int n_params, const char *const *names, const int64_t *sizes,
                       const zl_optim_config *cfg)
{
    if (n_params < 1) {
        zl_error_set("optim: needs at least one parameter (got %d)", n_params);
        return NULL;
    }
    zl_optim_config c;
    if (cfg) c = *cfg;
    else zl_optim_config_default(&c);
    if (check_config(&c)) return NULL;
    int64_t total = 0, n_chunks = 0;
    for (int i = 0; i < n_params; i++) {
        if (!names || !names[i]) {
            zl_error_set("optim: parameter %d has no name", i);
            return NULL;
        }
        if (sizes[i] < 0) {
            zl_error_set("optim: parameter %s has a negative size", names[i]);
            return NULL;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                zl_error_set("optim: parameter name %s appears twice", names[i]);
                return NULL;
            }
        total += sizes[i];
        n_chunks += (sizes[i] + OPT_CHUNK - 1) / OPT_CHUNK;
    }
    if (n_chunks > INT32_MAX) {
        zl_error_set("optim: too many parameters");
        return NULL;
    }
    zl_optim *o = calloc(1, sizeof *o);
    if (!o) goto oom;
    o->cfg = c;
    o->n = n_params;
    o->names = calloc((size_t)n_params, sizeof *o->names);
    o->sizes = calloc((size_t)n_params, sizeof *o->sizes);
    o->decay = calloc((size_t)n_params, sizeof *o->decay);
    o->m = calloc((size_t)n_params, sizeof *o->m);
    o->v = calloc((size_t)n_params, sizeof *o->v);
    o->n_chunks = (int)n_chunks;
    o->chunks = calloc((size_t)(n_chunks ? n_chunks : 1), sizeof *o->chunks);
    o->partial = calloc((size_t)(n_chunks ? n_chunks : 1), sizeof *o->partial);
    if (!o->names || !o->sizes || !o->decay || !o->m || !o->v || !o->chunks || !o->partial)
        goto oom;
    float *mbuf = calloc((size_t)(total ? total : 1), sizeof(float));
    float *vbuf = calloc((size_t)(total ? total : 1), sizeof(float));
    o->m[0] = mbuf;
    o->v[0] = vbuf;
    if (!mbuf || !vbuf) {
        free(vbuf);
        o->v[0] = NULL;
        goto oom;
    }
    int64_t off = 0;
    int k = 0;
    for (int i = 0; i < n_params; i++) {
        o->names[i] = malloc(strlen(names[i]) + 1);
        if (!o->names[i]) goto oom;
        strcpy(o->names[i], names[i]);
        o->sizes[i] = sizes[i];
        o->decay[i] = zl_optim_name_decays(names[i]);
        o->m[i] = mbuf + off;
        o->v[i] = vbuf + off;
        off += sizes[i];
        for (int64_t s = 0; s < sizes[i]; s += OPT_CHUNK) {
            o->chunks[k].param = i;
            o->chunks[k].start = s;
            o->chunks[k].len = sizes[i] - s < OPT_CHUNK ? sizes[i] - s : OPT_CHUNK;
            k++;
        }
    }
    return o;
oom:
    zl_optim_free(o);
    zl_error_set("optim: out of memory for %d parameters (%lld values)", n_params,
                 (long long)total);
    return NULL;
}

void zl_optim_free(zl_optim *o)
{
    if (!o) return;
    if (o->names)
        for (int i = 0; i < o->n; i++) free(o->names[i]);
    free(o->names);
    free(o->sizes);
    free(o->decay);
    if (o->m) free(o->m[0]);
    if (o->v) free(o->v[0]);
    free(o->m);
    free(o->v);
    free(o->chunks);
    free(o->partial);
    free(o);
}

double zl_optim_lr(const zl_optim *o, int64_t step)
{
    const zl_optim_config *c = &o->cfg;
    if (step < 0) step = 0;
    if (step < c->warmup_steps) return c->lr * (double)step / (double)c->warmup_steps;
    /* tf.train.polynomial_decay(power=1, end 0): the step is capped at total_steps. */
    int64_t s = step < c->total_steps ? step : c->total_steps;
    return c->lr * (1.0 - (double)s / (double)c->total_steps);
}

int64_t zl_optim_get_step(const zl_optim *o) { return o->step; }

int zl_optim_set_step(zl_optim *o, int64_t step)
{
    if (step < 0) return zl_error_set("optim: step must be >= 0 (got %lld)", (long long)step);
    o->step = step;
    return 0;
}

const zl_optim_config *zl_optim_get_config(const zl_optim *o) { return &o->cfg; }
int zl_optim_count(const zl_optim *o) { return o->n; }
const char *zl_optim_name(const zl_optim *o, int i) { return o->names[i]; }
int64_t zl_optim_size(const zl_optim *o, int i) { return o->sizes[i]; }
int zl_optim_decays(const zl_optim *o, int i) { return o->decay[i]; }

double zl_optim_grad_norm(const zl_optim *o, float *const *grads)
{
    double *part = o->partial;
#pragma omp parallel for schedule(static) if (o->n_chunks >= 4) num_threads(zl_get_threads())
    for (int k = 0; k < o->n_chunks; k++) {
        const opt_chunk *ch = &o->chunks[k];
        const float *g = grads[ch->param] + ch->start;
        double s = 0;
        for (int64_t j = 0; j < ch->len; j++) s += (double)g[j] * g[j];
        part[k] = s;
    }
    double s = 0;
    for (int k = 0; k < o->n_chunks; k++) s += part[k];
    return sqrt(s);
}

/* The update of one chunk (optim.h's math), in double, one pass over w, g, m, v. Built with
 * -fno-math-errno (CMakeLists.txt) so that the loop vectorises, twice: AVX2 lanes where the
 * CPU has them, SSE2 otherwise; sqrt and division round exactly, and no FMA contracts the
 * arithmetic, so both give the bits of the scalar loop. g then holds the clipped gradient,
 * or 0 (zero: the next step accumulates into it). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("avx2", "default")))
#endif
static void adam_chunk(float *restrict w, float *restrict g, float *restrict m, float *restrict v,
                       int64_t n, double scale, double b1, double b2, double eps, double dec,
                       double lr, int zero)
{
    for (int64_t j = 0; j < n; j++) {
        double gj = (double)g[j] * scale;
        double mj = b1 * m[j] + (1.0 - b1) * gj;
        double vj = b2 * v[j] + (1.0 - b2) * gj * gj;
        double u = mj / (sqrt(vj) + eps) + dec * w[j];
        g[j] = zero ? 0.0f : (float)gj;
        m[j] = (float)mj;
        v[j] = (float)vj;
        w[j] = (float)(w[j] - lr * u);
    }
}

static int adam_step(zl_optim *o, float *const *params, float *const *grads, double *grad_norm,
                     double *lr_out, int zero);

int zl_optim_step(zl_optim *o, float *const *params, float *const *grads, double *grad_norm,
                  double *lr_out)
{
    return adam_step(o, params, grads, grad_norm, lr_out, 0);
}

int zl_optim_step_zero(zl_optim *o, float *const *params, float *const *grads, double *grad_norm,
                       double *lr_out)
{
    return adam_step(o, params, grads, grad_norm, lr_out, 1);
}

static int adam_step(zl_optim *o, float *const *params, float *const *grads, double *grad_norm,
                     double *lr_out, int zero)
{
    const zl_optim_config *c = &o->cfg;
    double norm = zl_optim_grad_norm(o, grads);
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm))
        return zl_error_set("optim: step %lld: the gradient norm is not finite (%g); "
                            "parameters left unchanged",
                            (long long)o->step, norm);
    /* tf.clip_by_global_norm: g * clip / max(norm, clip). */
    double scale = c->clip > 0 ? c->clip / (norm > c->clip ? norm : c->clip) : 1.0;
    double lr = zl_optim_lr(o, o->step);
    if (lr_out) *lr_out = lr;
    const double b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->weight_decay;
#pragma omp parallel for schedule(static) if (o->n_chunks >= 4) num_threads(zl_get_threads())
    for (int k = 0; k < o->n_chunks; k++) {
        const opt_chunk *ch = &o->chunks[k];
        int p = ch->param;
        adam_chunk(params[p] + ch->start, grads[p] + ch->start, o->m[p] + ch->start,
                   o->v[p] + ch->start, ch->len, scale, b1, b2, eps, o->decay[p] ? wd : 0.0, lr,
                   zero);
    }
    o->step++;
    return 0;
}

void zl_optim_grads_add(const zl_optim *o, float *const *acc, float *const *grads)
{
#pragma omp parallel for schedule(static) if (o->n_chunks >= 4) num_threads(zl_get_threads())
    for (int k = 0; k < o->n_chunks; k++) {
        const opt_chunk *ch = &o->chunks[k];
        float *a = acc[ch->param] + ch->start;
        const float *g = grads[ch->param] + ch->start;
        for (int64_t j = 0; j < ch->len; j++) a[j] += g[j];
    }
}

void zl_optim_grads_scale(const zl_optim *o, float *const *grads, float scale)
{
#pragma omp parallel for schedule(static) if (o->n_chunks >= 4) num_threads(zl_get_threads())
    for (int k = 0; k < o->n_chunks; k++) {
        const opt_chunk *ch = &o->chunks[k];
        float *g = grads[ch->param] + ch->start;
        for (int64_t j = 0; j < ch->len; j++) g[j] *= scale;
    }
}

void zl_optim_grads_zero(const zl_optim *o, float *const *grads)
{
    for (int i = 0; i < o->n; i++)
        if (o->sizes[i]) memset(grads[i], 0, (size_t)o->sizes[i] * sizeof(float));
}

/* "adam_m/" + name into a fresh string (caller frees). */
static char *state_name(const char *prefix, const char *name) { return zl_io_join(prefix, "", name); }

int zl_optim_save(const zl_optim *o, const char *path)
{
    zl_tensor_map *map = zl_tensor_map_new();
    if (!map) return zl_error_set("%s: out of memory", path);
    int rc = -1;
    for (int i = 0; i < o->n; i++) {
        for (int which = 0; which < 2; which++) {
            char *nm = state_name(which ? "adam_v/" : "adam_m/", o->names[i]);
            zl_tensor *t = nm ? zl_tensor_wrap(ZL_F32, 1, &o->sizes[i],
                                               which ? o->v[i] : o->m[i])
                              : NULL;
            int bad = !t || zl_tensor_map_add(map, nm, t);
            if (bad && t && !zl_tensor_map_get(map, nm)) zl_tensor_free(t);
            free(nm);
            if (bad) {
                zl_error_prefix("%s: ", path);
                goto out;
            }
        }
    }
    if (o->step > INT32_MAX) {
        zl_error_set("%s: step %lld does not fit the I32 step tensor", path,
                     (long long)o->step);
        goto out;
    }
    int64_t one = 1;
    zl_tensor *st = zl_tensor_new(ZL_I32, 1, &one);
    if (!st) goto out;
    ZL_I32P(st)[0] = (int32_t)o->step;
    if (zl_tensor_map_add(map, "step", st)) {
        if (!zl_tensor_map_get(map, "step")) zl_tensor_free(st);
        goto out;
    }
    {
        char stepbuf[32];
        snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)o->step);
        const char *md[] = {"format", "zonelab.optim.adam_weight_decay", "step", stepbuf, NULL};
        rc = zl_safetensors_save(path, map, md);
    }
out:
    zl_tensor_map_free(map); /* the wrapped tensors borrow m and v: only headers go */
    return rc;
}

int zl_optim_load(zl_optim *o, const char *path)
{
    zl_tensor_map *map = zl_safetensors_load(path);
    if (!map) return -1;
    int rc = -1;
    /* Check everything before changing anything: a bad file leaves the state intact. */
    for (int i = 0; i < o->n; i++) {
        for (int which = 0; which < 2; which++) {
            char *nm = state_name(which ? "adam_v/" : "adam_m/", o->names[i]);
            if (!nm) { zl_error_set("%s: out of memory", path); goto out; }
            const zl_tensor *t = zl_tensor_map_get(map, nm);
            if (!t) {
                zl_error_set("%s: optimizer state has no tensor %s", path, nm);
                free(nm);
                goto out;
            }
            if (t->dtype != ZL_F32 || t->numel != o->sizes[i]) {
                zl_error_set("%s: tensor %s has %lld %s values, expected %lld f32", path, nm,
                             (long long)t->numel, zl_dtype_name(t->dtype),
                             (long long)o->sizes[i]);
                free(nm);
                goto out;
            }
            free(nm);
        }
    }
    const zl_tensor *st = zl_tensor_map_get(map, "step");
    if (!st || st->dtype != ZL_I32 || st->numel != 1 || ZL_I32P(st)[0] < 0) {
        zl_error_set("%s: optimizer state needs a tensor step (one i32 >= 0)", path);
        goto out;
    }
    for (int i = 0; i < o->n; i++) {
        for (int which = 0; which < 2; which++) {
            char *nm = state_name(which ? "adam_v/" : "adam_m/", o->names[i]);
            if (!nm) { zl_error_set("%s: out of memory", path); goto out; }
            const zl_tensor *t = zl_tensor_map_get(map, nm);
            if (o->sizes[i])
                memcpy(which ? o->v[i] : o->m[i], t->data, (size_t)o->sizes[i] * sizeof(float));
            free(nm);
        }
    }
    o->step = ZL_I32P(st)[0];
    rc = 0;
out:
    zl_tensor_map_free(map);
    return rc;
}
