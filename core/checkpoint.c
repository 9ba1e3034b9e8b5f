/* checkpoint.c — loading and saving BERT models: config discovery, HF <-> TF names,
 * presence/shape checks, safetensors and TF checkpoints. */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "io.h"
#include "tensor.h"
#include "tfckpt.h"

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static int starts_with(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "a/b/c" -> "a/b"; "c" -> "." (malloc'ed). */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

static char *join(const char *dir, const char *name) { return zl_io_join(dir, "/", name); }

/* --------------------------------------------------------------- TF names */

int zl_checkpoint_tf_name(const char *hf, char *buf, size_t len, int *transpose)
{
    *transpose = 0;
    if (strcmp(hf, "qa_outputs.weight") == 0) {
        snprintf(buf, len, "cls/squad/output_weights");
        return 0;
    }
    if (strcmp(hf, "qa_outputs.bias") == 0) {
        snprintf(buf, len, "cls/squad/output_bias");
        return 0;
    }
    if (strcmp(hf, "cls.predictions.bias") == 0) {
        snprintf(buf, len, "cls/predictions/output_bias");
        return 0;
    }
    if (!starts_with(hf, "bert.") && !starts_with(hf, "electra.") &&
        !starts_with(hf, "cls.predictions.transform."))
        return zl_error_set("checkpoint: no TensorFlow name for parameter %s", hf);
    /* dots become slashes, "layer.N" becomes "layer_N" */
    char tmp[256];
    size_t o = 0;
    for (const char *p = hf; *p && o + 2 < sizeof tmp; p++) {
        if (*p == '.' && o >= 5 && strncmp(tmp + o - 5, "layer", 5) == 0 &&
            (o == 5 || tmp[o - 6] == '/'))
            tmp[o++] = '_';
        else
            tmp[o++] = *p == '.' ? '/' : *p;
    }
    tmp[o] = '\0';
    char *last = strrchr(tmp, '/');
    if (!last) return zl_error_set("checkpoint: no TensorFlow name for parameter %s", hf);
    int is_ln = strstr(tmp, "LayerNorm/") != NULL;
    int is_emb_table = strstr(tmp, "_embeddings/weight") != NULL;
    if (strcmp(last, "/weight") == 0) {
        if (is_ln)
            strcpy(last, "/gamma");
        else if (is_emb_table)
            *last = '\0';
        else {
            strcpy(last, "/kernel");
            *transpose = 1;
        }
    } else if (strcmp(last, "/bias") == 0 && is_ln) {
        strcpy(last, "/beta");
    }
    if (strlen(tmp) + 1 > len) return zl_error_set("checkpoint: name %s too long", hf);
    memcpy(buf, tmp, strlen(tmp) + 1);
    return 0;
}

/* ------------------------------------------------------------------- fill */

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* The tensor for HF name `name` in a map of HF names, tolerating maps saved without
 * the model prefix (BertModel) and the old gamma/beta LayerNorm names. */
static const zl_named_tensor *find_hf(const zl_tensor_map *map, const char *name)
{
    const zl_named_tensor *e = zl_tensor_map_find(map, name);
    if (e) return e;
    char alt[256];
    const char *dot = strchr(name, '.');
    if (dot && (starts_with(name, "bert.") || starts_with(name, "electra."))) {
        e = zl_tensor_map_find(map, dot + 1);
        if (e) return e;
    }
    if (strstr(name, "LayerNorm.") && strlen(name) < sizeof alt - 8) {
        snprintf(alt, sizeof alt, "%s", name);
        char *last = strrchr(alt, '.');
        if (strcmp(last, ".weight") == 0) strcpy(last, ".gamma");
        else if (strcmp(last, ".bias") == 0) strcpy(last, ".beta");
        e = zl_tensor_map_find(map, alt);
    }
    /* older pytorch_model.bin conversions keep the output bias under the decoder's name
     * (the same Parameter in BertLMPredictionHead) */
    if (!e && strcmp(name, "cls.predictions.bias") == 0)
        e = zl_tensor_map_find(map, "cls.predictions.decoder.bias");
    return e;
}

/* The map entry for parameter info (NULL when absent); *transpose and shown name. */
static const zl_named_tensor *lookup(const zl_tensor_map *map, const zl_bert_param_info *info,
                                     int tf, char *shown, size_t len, int *transpose)
{
    *transpose = 0;
    if (tf) {
        if (zl_checkpoint_tf_name(info->name, shown, len, transpose) != 0) return NULL;
        return zl_tensor_map_find(map, shown);
    }
    snprintf(shown, len, "%s", info->name);
    return find_hf(map, info->name);
}

int zl_checkpoint_verify(const zl_bert_config *c, const zl_tensor_map *map, int tf,
                         const char *what, int *has_qa)
{
    zl_bert_params none;
    memset(&none, 0, sizeof none);
    int n = zl_bert_param_count(c), qa_missing = 0, mlm_missing = 0;
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(c, &none, i, &info) != 0) return -1;
        char shown[256];
        int transpose;
        zl_error_clear();
        const zl_named_tensor *e = lookup(map, &info, tf, shown, sizeof shown, &transpose);
        if (!e && zl_error_get()[0]) return -1;
        if (!e) {
            if (starts_with(info.name, "qa_outputs.")) {
                qa_missing++;
                continue;
            }
            if (starts_with(info.name, "cls.predictions.")) {
                mlm_missing++;
                continue;
            }
            return zl_error_set("%s: tensor %s is missing", what, shown);
        }
        int64_t want[2] = {info.shape[0], info.shape[1]};
        if (transpose) {
            want[0] = info.shape[1];
            want[1] = info.shape[0];
        }
        int ok = e->ndim == info.ndim;
        for (int d = 0; ok && d < info.ndim; d++) ok = e->shape[d] == want[d];
        if (!ok) {
            char got_s[96], want_s[96];
            shape_str(got_s, sizeof got_s, e->ndim, e->shape);
            shape_str(want_s, sizeof want_s, info.ndim, want);
            return zl_error_set("%s: tensor %s has shape %s, expected %s", what, shown, got_s, want_s);
        }
    }
    if (qa_missing == 1)
        return zl_error_set("%s: the QA head is incomplete (%s present without its pair)", what,
                            tf ? "cls/squad/output_weights or output_bias" : "qa_outputs.weight or .bias");
    if (mlm_missing > 0 && mlm_missing < 5)
        return zl_error_set("%s: the masked-LM head is incomplete (%d of the 5 %s tensors "
                            "missing)", what, mlm_missing,
                            tf ? "cls/predictions/*" : "cls.predictions.*");
    if (has_qa) *has_qa = qa_missing == 0 && mlm_missing == 0;
    return 0;
}

int zl_checkpoint_fill(zl_bert *m, const zl_tensor_map *map, int tf, const char *what,
                       uint64_t qa_seed)
{
    const zl_bert_config *c = &m->config;
    int has_qa = 0;
    if (zl_checkpoint_verify(c, map, tf, what, &has_qa) != 0) return -1;
    int n = zl_bert_param_count(c);
    m->fresh_qa_head = 0;
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(c, &m->params, i, &info) != 0) return -1;
        char shown[256];
        int transpose;
        const zl_named_tensor *e = lookup(map, &info, tf, shown, sizeof shown, &transpose);
        if (!e) continue; /* only the QA or masked-LM head can be absent after verify */
        if (!e->tensor || e->tensor->dtype != ZL_F32)
            return zl_error_set("%s: tensor %s has dtype %s, expected a float type", what, shown,
                                e->dtype);
        const float *src = ZL_F32P(e->tensor);
        if (transpose) {
            int64_t R = info.shape[0], C = info.shape[1]; /* dst [R, C] = src^T, src [C, R] */
            for (int64_t r = 0; r < R; r++)
                for (int64_t k = 0; k < C; k++) info.data[r * C + k] = src[k * R + r];
        } else {
            memcpy(info.data, src, (size_t)info.numel * sizeof(float));
        }
        /* NaN/Inf weights would decode every question to one fixed span without a word */
        int64_t bad = 0;
        for (int64_t k = 0; k < info.numel; k++) bad += !isfinite(info.data[k]);
        if (bad)
            return zl_error_set("%s: tensor %s has %lld non-finite value%s (NaN or infinity) of "
                                "%lld: refusing these weights", what, shown, (long long)bad,
                                bad == 1 ? "" : "s", (long long)info.numel);
    }
    m->fresh_mlm_head = 0;
    if (!has_qa && c->mlm_head) {
        /* fresh masked-LM head as run_pretraining.py's get_masked_lm_output: the dense
         * layer's kernel truncated normal std initializer_range (create_initializer),
         * LayerNorm gamma 1 beta 0, dense bias and output_bias 0 */
        zl_rng r;
        zl_rng_seed(&r, qa_seed ^ 0x6D6C6Dull);
        int64_t H = c->hidden_size;
        for (int64_t i = 0; i < H * H; i++) {
            double z;
            do z = zl_rng_normal(&r); while (z < -2.0 || z > 2.0);
            m->params.mlm_w[i] = (float)(z * c->initializer_range);
        }
        for (int64_t i = 0; i < H; i++) {
            m->params.mlm_b[i] = 0.0f;
            m->params.mlm_ln_w[i] = 1.0f;
            m->params.mlm_ln_b[i] = 0.0f;
        }
        memset(m->params.mlm_bias, 0, (size_t)c->vocab_size * sizeof(float));
        m->fresh_mlm_head = 1;
    } else if (!has_qa) {
        /* fresh head as run_squad.py's create_model: output_weights truncated normal with
         * stddev 0.02 written out (not initializer_range), output_bias 0 */
        zl_rng r;
        zl_rng_seed(&r, qa_seed);
        int64_t H = c->hidden_size;
        for (int64_t i = 0; i < 2 * H; i++) {
            double z;
            do z = zl_rng_normal(&r); while (z < -2.0 || z > 2.0);
            m->params.qa_w[i] = (float)(z * 0.02);
        }
        m->params.qa_b[0] = m->params.qa_b[1] = 0.0f;
        m->fresh_qa_head = 1;
        m->qa_seed = qa_seed;
    }
    return 0;
}

/* -------------------------------------------------------------- loading */

/* Whether some tensor is named "pre." (Hugging Face) or "pre/" (TF). */
static int names_use_prefix(const zl_tensor_map *map, const char *pre)
{
    size_t n = strlen(pre);
    for (int i = 0; i < map->count; i++) {
        const char *name = map->items[i].name;
        if (strncmp(name, pre, n) == 0 && (name[n] == '.' || name[n] == '/')) return 1;
    }
    return 0;
}

static zl_bert *load(const char *path, int mlm_head);

zl_bert *zl_bert_load(const char *path) { return load(path, 0); }
zl_bert *zl_bert_load_mlm(const char *path) { return load(path, 1); }

static zl_bert *load(const char *path, int mlm_head)
{
    char *dir = NULL, *weights = NULL, *cfg = NULL, *prefix = NULL;
    zl_tensor_map *map = NULL;
    zl_bert *m = NULL;
    int tf = 0;
    if (is_dir(path)) {
        dir = xstrdup(path);
    } else if (is_file(path)) {
        dir = dir_of(path);
        weights = xstrdup(path);
    } else {
        size_t n = strlen(path) + 8;
        char *idx = malloc(n);
        if (idx) snprintf(idx, n, "%s.index", path);
        int tfp = idx && is_file(idx);
        free(idx);
        if (!tfp) {
            zl_error_set("%s: no such model directory, weights file or checkpoint prefix", path);
            return NULL;
        }
        dir = dir_of(path);
        weights = xstrdup(path);
    }
    if (!dir) goto oom;
    /* config: Google's name first, then HF's */
    cfg = join(dir, "bert_config.json");
    if (!cfg) goto oom;
    if (!is_file(cfg)) {
        free(cfg);
        cfg = join(dir, "config.json");
        if (!cfg) goto oom;
        if (!is_file(cfg)) {
            zl_error_set("%s: no bert_config.json or config.json", dir);
            goto fail;
        }
    }
    if (!weights) {
        weights = join(dir, "model.safetensors");
        if (!weights) goto oom;
        if (!is_file(weights)) {
            free(weights);
            weights = NULL;
            prefix = zl_tfckpt_find_prefix(dir);
            if (!prefix) {
                zl_error_prefix("%s: no model.safetensors and no TF checkpoint: ", dir);
                goto fail;
            }
            tf = 1;
        }
    } else if (!ends_with(weights, ".safetensors")) {
        prefix = zl_tfckpt_find_prefix(weights);
        if (!prefix) goto fail;
        tf = 1;
    }
    zl_bert_config c;
    if (zl_bert_config_load(&c, cfg) != 0) goto fail;
    /* Google's modeling.py computes the tanh GELU although its configs say "gelu" */
    if (tf && c.gelu_origin == ZL_GELU_FROM_HF_DEFAULT)
        c.gelu = ZL_GELU_TANH, c.gelu_origin = ZL_GELU_FROM_TF_DEFAULT;
    c.mlm_head = mlm_head;
    const char *what = tf ? prefix : weights;
    map = tf ? zl_tfckpt_load(prefix, 1) : zl_safetensors_load(weights);
    if (!map) goto fail;
    /* Google's and Hugging Face's ELECTRA checkpoints often come with a BERT-style config:
     * the prefix of the tensor names says what the config does not */
    if (c.model_type_origin == ZL_MODEL_TYPE_DEFAULT && names_use_prefix(map, "electra") &&
        !names_use_prefix(map, "bert")) {
        strcpy(c.model_type, "electra");
        c.model_type_origin = ZL_MODEL_TYPE_FROM_NAMES;
    }
    if (!(m = zl_bert_new(&c))) goto fail;
    if (zl_checkpoint_fill(m, map, tf, what, ZL_CHECKPOINT_QA_SEED) != 0) goto fail;
    zl_tensor_map_free(map);
    free(dir); free(weights); free(cfg); free(prefix);
    return m;
oom:
    zl_error_set("%s: out of memory", path);
fail:
    zl_tensor_map_free(map);
    zl_bert_free(m);
    free(dir); free(weights); free(cfg); free(prefix);
    return NULL;
}

/* --------------------------------------------------------------- saving */

zl_tensor_map *zl_checkpoint_to_map(const zl_bert *m, int tf)
{
    zl_tensor_map *map = zl_tensor_map_new();
    if (!map) return NULL;
    int n = zl_bert_param_count(&m->config);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(&m->config, &m->params, i, &info) != 0) goto fail;
        zl_tensor *t;
        const char *name = info.name;
        char tfname[256];
        int transpose = 0;
        if (tf) {
            if (zl_checkpoint_tf_name(info.name, tfname, sizeof tfname, &transpose) != 0) goto fail;
            name = tfname;
        }
        if (transpose) {
            int64_t shp[2] = {info.shape[1], info.shape[0]};
            t = zl_tensor_new(ZL_F32, 2, shp);
            if (!t) goto fail;
            float *d = ZL_F32P(t);
            for (int64_t r = 0; r < info.shape[0]; r++)
                for (int64_t k = 0; k < info.shape[1]; k++)
                    d[k * info.shape[0] + r] = info.data[r * info.shape[1] + k];
        } else {
            t = zl_tensor_wrap(ZL_F32, info.ndim, info.shape, info.data);
            if (!t) goto fail;
        }
        if (zl_tensor_map_add(map, name, t) != 0) goto fail;
    }
    return map;
fail:
    zl_tensor_map_free(map);
    return NULL;
}

int zl_bert_save(const zl_bert *m, const char *path)
{
    char *dir = NULL, *wpath = NULL, *cpath = NULL, *json = NULL;
    zl_tensor_map *map = NULL;
    int rc = -1;
    if (ends_with(path, ".safetensors")) {
        dir = dir_of(path);
        wpath = xstrdup(path);
    } else {
        dir = xstrdup(path);
        wpath = join(path, "model.safetensors");
        if (dir && !is_dir(dir) && mkdir(dir, 0777) != 0 && errno != EEXIST) {
            zl_error_set("%s: cannot create directory: %s", dir, strerror(errno));
            goto done;
        }
    }
    if (!dir || !wpath || !(cpath = join(dir, "bert_config.json"))) {
        zl_error_set("%s: out of memory", path);
        goto done;
    }
    if (!(json = zl_bert_config_to_json(&m->config))) goto done;
    if (!(map = zl_checkpoint_to_map(m, 0))) goto done;
    static const char *const meta[] = {"format", "pt", NULL};
    if (zl_safetensors_save(wpath, map, meta) != 0) goto done;
    size_t jl = strlen(json);
    json[jl] = '\n'; /* cJSON_Print has no trailing newline; write len+1 bytes of it */
    if (zl_io_write_atomic(cpath, json, jl + 1) != 0) goto done;
    rc = 0;
done:
    zl_tensor_map_free(map);
    free(json); free(dir); free(wpath); free(cpath);
    return rc;
}
