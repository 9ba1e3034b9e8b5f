/* bert.c — BERT/ELECTRA configuration, parameters, activations, forward pass with
 * attention-zone masks, span loss and random init. File formats live in checkpoint.c. */
#include "bert.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bf16.h"
#include "error.h"
#include "json.h"
#include "io.h"
#include "tensor.h"
#include "vmath.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Refuse models above 2^32 parameters (16 GiB of floats) before allocating. */
#define MAX_PARAM_FLOATS ((int64_t)1 << 32)
#define MAX_ACT_FLOATS ((int64_t)1 << 34)

/* ------------------------------------------------------------------ config */

/* The GELU a hidden_act names: ZL_GELU_TANH for Hugging Face's tanh names, ZL_GELU_ERF for
 * "gelu" (ambiguous: the caller decides by origin), -1 for anything else. */
static int gelu_of_act(const char *act)
{
    static const char *const tanh_names[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast",
                                             "gelu_accurate"};
    if (strcmp(act, "gelu") == 0) return ZL_GELU_ERF;
    for (size_t i = 0; i < sizeof tanh_names / sizeof tanh_names[0]; i++)
        if (strcmp(act, tanh_names[i]) == 0) return ZL_GELU_TANH;
    return -1;
}

const char *zl_bert_gelu_name(int gelu) { return gelu == ZL_GELU_TANH ? "tanh" : "erf"; }

const char *zl_bert_gelu_note(const zl_bert_config *c)
{
    switch (c->gelu_origin) {
    case ZL_GELU_FROM_TF_DEFAULT:
        return "tanh GELU: a Google TF checkpoint, whose modeling.py computes the tanh form "
               "although its config says \"gelu\" (--gelu erf overrides)";
    case ZL_GELU_FROM_CALLER:
        return c->gelu == ZL_GELU_TANH ? "tanh GELU (--gelu tanh)" : "erf GELU (--gelu erf)";
    case ZL_GELU_FROM_CONFIG:
        return c->gelu == ZL_GELU_TANH ? "tanh GELU, as the model's config says"
                                       : "erf GELU, as the model's config says";
    default:
        return "erf GELU: hidden_act \"gelu\" read as Hugging Face does (--gelu tanh for a "
               "model trained by Google's TF code)";
    }
}

const char *zl_bert_model_type_note(const zl_bert_config *c)
{
    if (c->model_type_origin != ZL_MODEL_TYPE_FROM_NAMES) return NULL;
    return "ELECTRA: the config has no model_type, and the tensor names start with "
           "\"electra\" (electra. or electra/)";
}

void zl_bert_config_default(zl_bert_config *c)
{
    memset(c, 0, sizeof *c);
    strcpy(c->model_type, "bert");
    c->vocab_size = 30522;
    c->hidden_size = 768;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->intermediate_size = 3072;
    c->max_position_embeddings = 512;
    c->type_vocab_size = 2;
    c->embedding_size = 768;
    strcpy(c->hidden_act, "gelu");
    c->layer_norm_eps = 1e-12f;
    c->initializer_range = 0.02f;
    c->hidden_dropout_prob = 0.1f;
    c->attention_probs_dropout_prob = 0.1f;
}

int zl_bert_config_has_projection(const zl_bert_config *c)
{
    return c->embedding_size != c->hidden_size;
}

int zl_bert_config_validate(const zl_bert_config *c, const char *what)
{
    struct { const char *name; int v; int max; } f[] = {
        {"vocab_size", c->vocab_size, 1 << 24},
        {"hidden_size", c->hidden_size, 1 << 16},
        {"num_hidden_layers", c->num_hidden_layers, ZL_BERT_MAX_LAYERS},
        {"num_attention_heads", c->num_attention_heads, 1 << 12},
        {"intermediate_size", c->intermediate_size, 1 << 18},
        {"max_position_embeddings", c->max_position_embeddings, 1 << 20},
        {"type_vocab_size", c->type_vocab_size, 1 << 16},
        {"embedding_size", c->embedding_size, 1 << 16},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < 1 || f[i].v > f[i].max)
            return zl_error_set("%s: field %s = %d is out of range (1..%d)", what, f[i].name,
                                f[i].v, f[i].max);
    if (c->hidden_size % c->num_attention_heads != 0)
        return zl_error_set("%s: hidden_size %d is not a multiple of num_attention_heads %d",
                            what, c->hidden_size, c->num_attention_heads);
    if (gelu_of_act(c->hidden_act) < 0)
        return zl_error_set("%s: hidden_act \"%s\" is not supported (\"gelu\", or the tanh "
                            "GELU's names \"gelu_new\", \"gelu_pytorch_tanh\", \"gelu_fast\", "
                            "\"gelu_accurate\")", what, c->hidden_act);
    if (c->gelu != ZL_GELU_ERF && c->gelu != ZL_GELU_TANH)
        return zl_error_set("%s: gelu form %d is unknown", what, c->gelu);
    if (strcmp(c->model_type, "bert") != 0 && strcmp(c->model_type, "electra") != 0)
        return zl_error_set("%s: model_type \"%s\" is not supported (bert or electra)", what,
                            c->model_type);
    if (!(c->layer_norm_eps > 0.0f && c->layer_norm_eps < 1.0f))
        return zl_error_set("%s: field layer_norm_eps = %g must be in (0, 1)", what,
                            (double)c->layer_norm_eps);
    if (!(c->initializer_range > 0.0f && c->initializer_range < 10.0f))
        return zl_error_set("%s: field initializer_range = %g must be in (0, 10)", what,
                            (double)c->initializer_range);
    if (!(c->hidden_dropout_prob >= 0.0f && c->hidden_dropout_prob < 1.0f))
        return zl_error_set("%s: field hidden_dropout_prob = %g must be in [0, 1)", what,
                            (double)c->hidden_dropout_prob);
    if (!(c->attention_probs_dropout_prob >= 0.0f && c->attention_probs_dropout_prob < 1.0f))
        return zl_error_set("%s: field attention_probs_dropout_prob = %g must be in [0, 1)",
                            what, (double)c->attention_probs_dropout_prob);
    if (c->mlm_head && zl_bert_config_has_projection(c))
        return zl_error_set("%s: the masked-LM head needs embedding_size == hidden_size (got "
                            "%d and %d)", what, c->embedding_size, c->hidden_size);
    if (zl_bert_params_numel(c) < 0) return zl_error_prefix("%s: ", what);
    return 0;
}

static int json_int(const cJSON *root, const char *what, const char *key, int *out,
                    int required)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        if (required) return zl_error_set("%s: missing field %s", what, key);
        return 1;
    }
    if (!cJSON_IsNumber(it))
        return zl_error_set("%s: field %s must be a number", what, key);
    double v = it->valuedouble;
    if (!(v == floor(v)) || v < -2147483647.0 || v > 2147483647.0)
        return zl_error_set("%s: field %s = %g is not an integer", what, key, v);
    *out = (int)v;
    return 0;
}

static int json_float(const cJSON *root, const char *what, const char *key, float *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) return 1;
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble))
        return zl_error_set("%s: field %s must be a finite number", what, key);
    *out = (float)it->valuedouble;
    return 0;
}

int zl_bert_config_parse(zl_bert_config *c, const char *what, const char *json)
{
    zl_bert_config_default(c);
    cJSON *root = zl_json_parse(what, json, strlen(json));
    if (!root) return -1;
    int rc = zl_bert_config_from_json(c, what, root);
    cJSON_Delete(root);
    return rc;
}

int zl_bert_config_from_json(zl_bert_config *c, const char *what, const cJSON *root)
{
    zl_bert_config_default(c);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        zl_error_set("%s: expected a JSON object", what);
        goto done;
    }
    static const char *req[] = {"vocab_size", "hidden_size", "num_hidden_layers",
                                "num_attention_heads", "intermediate_size"};
    int *dst[] = {&c->vocab_size, &c->hidden_size, &c->num_hidden_layers,
                  &c->num_attention_heads, &c->intermediate_size};
    for (int i = 0; i < 5; i++)
        if (json_int(root, what, req[i], dst[i], 1) < 0) goto done;
    if (json_int(root, what, "max_position_embeddings", &c->max_position_embeddings, 0) < 0 ||
        json_int(root, what, "type_vocab_size", &c->type_vocab_size, 0) < 0)
        goto done;
    c->embedding_size = c->hidden_size;
    if (json_int(root, what, "embedding_size", &c->embedding_size, 0) < 0) goto done;
    if (json_float(root, what, "layer_norm_eps", &c->layer_norm_eps) < 0 ||
        json_float(root, what, "initializer_range", &c->initializer_range) < 0 ||
        json_float(root, what, "hidden_dropout_prob", &c->hidden_dropout_prob) < 0 ||
        json_float(root, what, "attention_probs_dropout_prob",
                   &c->attention_probs_dropout_prob) < 0)
        goto done;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act) {
        if (!cJSON_IsString(act)) {
            zl_error_set("%s: field hidden_act must be a string", what);
            goto done;
        }
        snprintf(c->hidden_act, sizeof c->hidden_act, "%s", act->valuestring);
        if (strlen(act->valuestring) >= sizeof c->hidden_act) c->hidden_act[0] = '?';
        if (gelu_of_act(c->hidden_act) == ZL_GELU_TANH) c->gelu = ZL_GELU_TANH, c->gelu_origin = ZL_GELU_FROM_CONFIG;
    }
    /* zonelab's own key, written by zl_bert_save: the form this model was trained with */
    const cJSON *gk = cJSON_GetObjectItemCaseSensitive(root, "gelu");
    if (gk) {
        if (!cJSON_IsString(gk) ||
            (strcmp(gk->valuestring, "erf") != 0 && strcmp(gk->valuestring, "tanh") != 0)) {
            zl_error_set("%s: field gelu must be \"erf\" or \"tanh\"", what);
            goto done;
        }
        int g = strcmp(gk->valuestring, "tanh") == 0 ? ZL_GELU_TANH : ZL_GELU_ERF;
        if (c->gelu_origin == ZL_GELU_FROM_CONFIG && g != c->gelu) {
            zl_error_set("%s: field gelu \"%s\" contradicts hidden_act \"%s\"", what,
                         gk->valuestring, c->hidden_act);
            goto done;
        }
        c->gelu = g, c->gelu_origin = ZL_GELU_FROM_CONFIG;
    }
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt) {
        if (!cJSON_IsString(mt)) {
            zl_error_set("%s: field model_type must be a string", what);
            goto done;
        }
        snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);
        if (strlen(mt->valuestring) >= sizeof c->model_type) c->model_type[0] = '?';
        c->model_type_origin = ZL_MODEL_TYPE_FROM_CONFIG;
    } else {
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
        const cJSON *a0 = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
        if (cJSON_IsString(a0) && strncmp(a0->valuestring, "Electra", 7) == 0) {
            strcpy(c->model_type, "electra");
            c->model_type_origin = ZL_MODEL_TYPE_FROM_CONFIG;
        }
    }
    rc = zl_bert_config_validate(c, what);
done:
    return rc;
}

int zl_bert_config_load(zl_bert_config *c, const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (zl_io_read_file(path, (size_t)1 << 20, &text, &len) != 0) return -1;
    int rc = zl_bert_config_parse(c, path, text);
    free(text);
    return rc;
}

char *zl_bert_config_to_json(const zl_bert_config *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        zl_error_set("bert config: out of memory");
        return NULL;
    }
    /* Round the floats through %g so 0.1f is written as 0.1, not 0.10000000149. */
    char buf[32];
#define ADDF(key, v) (snprintf(buf, sizeof buf, "%g", (double)(v)), \
                      cJSON_AddNumberToObject(o, key, strtod(buf, NULL)))
    ADDF("attention_probs_dropout_prob", c->attention_probs_dropout_prob);
    cJSON_AddStringToObject(o, "hidden_act", c->hidden_act);
    /* always explicit, so a model fine-tuned from a TF checkpoint keeps its tanh GELU */
    cJSON_AddStringToObject(o, "gelu", zl_bert_gelu_name(c->gelu));
    ADDF("hidden_dropout_prob", c->hidden_dropout_prob);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    ADDF("initializer_range", c->initializer_range);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    ADDF("layer_norm_eps", c->layer_norm_eps);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(o, "type_vocab_size", c->type_vocab_size);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    if (strcmp(c->model_type, "bert") != 0 || zl_bert_config_has_projection(c)) {
        cJSON_AddNumberToObject(o, "embedding_size", c->embedding_size);
        cJSON_AddStringToObject(o, "model_type", c->model_type);
    }
#undef ADDF
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) zl_error_set("bert config: out of memory");
    return s;
}

/* -------------------------------------------------------------- parameters */

/* Per-tensor geometry, in the fixed enumeration order. */
enum { K_WORD, K_POS, K_TYPE, K_ELN_W, K_ELN_B, K_PROJ_W, K_PROJ_B, K_NGLOBAL };
/* the masked-LM head's tensors (config.mlm_head), after the layers */
enum { K_NMLM = 5 };
static const char *const mlm_name[K_NMLM] = {
    "cls.predictions.transform.dense.weight", "cls.predictions.transform.dense.bias",
    "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.LayerNorm.bias",
    "cls.predictions.bias"};
enum { K_QW, K_QB, K_KW, K_KB, K_VW, K_VB, K_OW, K_OB, K_ALN_W, K_ALN_B, K_IW, K_IB,
       K_O2W, K_O2B, K_OLN_W, K_OLN_B, K_NLAYER };

static const char *const layer_suffix[K_NLAYER] = {
    "attention.self.query.weight", "attention.self.query.bias",
    "attention.self.key.weight", "attention.self.key.bias",
    "attention.self.value.weight", "attention.self.value.bias",
    "attention.output.dense.weight", "attention.output.dense.bias",
    "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
    "intermediate.dense.weight", "intermediate.dense.bias",
    "output.dense.weight", "output.dense.bias",
    "output.LayerNorm.weight", "output.LayerNorm.bias"};

static void layer_shape(const zl_bert_config *c, int k, int *ndim, int64_t *shape)
{
    int64_t H = c->hidden_size, I = c->intermediate_size;
    *ndim = (k % 2 == 0) ? 2 : 1;
    switch (k) {
    case K_IW: shape[0] = I; shape[1] = H; break;
    case K_IB: shape[0] = I; break;
    case K_O2W: shape[0] = H; shape[1] = I; break;
    case K_ALN_W: case K_OLN_W: *ndim = 1; shape[0] = H; break;
    default: shape[0] = H; shape[1] = H; break;
    }
}

static int64_t layer_numel(const zl_bert_config *c, int k)
{
    int nd;
    int64_t s[2] = {0, 0};
    layer_shape(c, k, &nd, s);
    return nd == 2 ? s[0] * s[1] : s[0];
}

int zl_bert_param_count(const zl_bert_config *c)
{
    return 5 + (zl_bert_config_has_projection(c) ? 2 : 0) + K_NLAYER * c->num_hidden_layers +
           (c->mlm_head ? K_NMLM : 2);
}

int64_t zl_bert_params_numel(const zl_bert_config *c)
{
    int64_t H = c->hidden_size, E = c->embedding_size, I = c->intermediate_size;
    int64_t n = ((int64_t)c->vocab_size + c->max_position_embeddings + c->type_vocab_size) * E +
                2 * E;
    if (zl_bert_config_has_projection(c)) n += H * E + H;
    int64_t per = 4 * (H * H + H) + 2 * H + (I * H + I) + (H * I + H) + 2 * H;
    n += per * c->num_hidden_layers + 2 * H + 2;
    if (c->mlm_head) n += H * H + 3 * H + c->vocab_size;
    if (n <= 0 || n > MAX_PARAM_FLOATS) {
        zl_error_set("bert config: %lld parameters is more than this build accepts (%lld)",
                     (long long)n, (long long)MAX_PARAM_FLOATS);
        return -1;
    }
    return n;
}

int zl_bert_params_alloc(zl_bert_params *p, const zl_bert_config *c)
{
    memset(p, 0, sizeof *p);
    int64_t n = zl_bert_params_numel(c);
    if (n < 0) return -1;
    float *mem = calloc((size_t)n, sizeof(float));
    if (!mem)
        return zl_error_set("bert: out of memory allocating %lld parameters", (long long)n);
    int64_t H = c->hidden_size, E = c->embedding_size, I = c->intermediate_size,
            L = c->num_hidden_layers;
    float *q = mem;
#define CARVE(field, cnt) (p->field = q, q += (cnt))
    CARVE(word_emb, (int64_t)c->vocab_size * E);
    CARVE(pos_emb, (int64_t)c->max_position_embeddings * E);
    CARVE(type_emb, (int64_t)c->type_vocab_size * E);
    CARVE(emb_ln_w, E);
    CARVE(emb_ln_b, E);
    if (zl_bert_config_has_projection(c)) {
        CARVE(proj_w, H * E);
        CARVE(proj_b, H);
    }
    CARVE(qw, L * H * H); CARVE(qb, L * H);
    CARVE(kw, L * H * H); CARVE(kb, L * H);
    CARVE(vw, L * H * H); CARVE(vb, L * H);
    CARVE(ow, L * H * H); CARVE(ob, L * H);
    CARVE(att_ln_w, L * H); CARVE(att_ln_b, L * H);
    CARVE(iw, L * I * H); CARVE(ib, L * I);
    CARVE(o2w, L * H * I); CARVE(o2b, L * H);
    CARVE(out_ln_w, L * H); CARVE(out_ln_b, L * H);
    CARVE(qa_w, 2 * H); CARVE(qa_b, 2);
    if (c->mlm_head) {
        CARVE(mlm_w, H * H); CARVE(mlm_b, H);
        CARVE(mlm_ln_w, H); CARVE(mlm_ln_b, H);
        CARVE(mlm_bias, c->vocab_size);
    }
#undef CARVE
    p->memory = mem;
    p->count = n;
    return 0;
}

void zl_bert_params_free(zl_bert_params *p)
{
    if (!p) return;
    free(p->memory);
    memset(p, 0, sizeof *p);
}

static float *layer_base(const zl_bert_params *p, int k)
{
    float *const b[K_NLAYER] = {p->qw, p->qb, p->kw, p->kb, p->vw, p->vb, p->ow, p->ob,
                                p->att_ln_w, p->att_ln_b, p->iw, p->ib, p->o2w, p->o2b,
                                p->out_ln_w, p->out_ln_b};
    return b[k];
}

int zl_bert_param_info_at(const zl_bert_config *c, const zl_bert_params *p, int i,
                          zl_bert_param_info *info)
{
    int n = zl_bert_param_count(c);
    if (i < 0 || i >= n) return zl_error_set("bert: parameter index %d out of range 0..%d", i, n - 1);
    memset(info, 0, sizeof *info);
    const char *pre = c->model_type;
    int64_t E = c->embedding_size, H = c->hidden_size;
    int proj = zl_bert_config_has_projection(c);
    int nglob = 5 + (proj ? 2 : 0);
    if (i < nglob) {
        static const char *gname[] = {"embeddings.word_embeddings.weight",
                                      "embeddings.position_embeddings.weight",
                                      "embeddings.token_type_embeddings.weight",
                                      "embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias",
                                      "embeddings_project.weight", "embeddings_project.bias"};
        snprintf(info->name, sizeof info->name, "%s.%s", pre, gname[i]);
        float *ptr[] = {p->word_emb, p->pos_emb, p->type_emb, p->emb_ln_w, p->emb_ln_b,
                        p->proj_w, p->proj_b};
        int64_t rows[] = {c->vocab_size, c->max_position_embeddings, c->type_vocab_size};
        info->data = ptr[i];
        if (i < 3) {
            info->ndim = 2; info->shape[0] = rows[i]; info->shape[1] = E;
        } else if (i < 5) {
            info->ndim = 1; info->shape[0] = E;
        } else if (i == 5) {
            info->ndim = 2; info->shape[0] = H; info->shape[1] = E;
        } else {
            info->ndim = 1; info->shape[0] = H;
        }
        info->no_decay = (i == 3 || i == 4 || i == 6);
    } else if (c->mlm_head && i >= n - K_NMLM) {
        int k = i - (n - K_NMLM);
        snprintf(info->name, sizeof info->name, "%s", mlm_name[k]);
        float *ptr[K_NMLM] = {p->mlm_w, p->mlm_b, p->mlm_ln_w, p->mlm_ln_b, p->mlm_bias};
        info->data = ptr[k];
        info->ndim = k == 0 ? 2 : 1;
        info->shape[0] = k == 4 ? c->vocab_size : H;
        info->shape[1] = k == 0 ? H : 0;
        info->no_decay = k != 0;
    } else if (i < n - 2) {
        int l = (i - nglob) / K_NLAYER, k = (i - nglob) % K_NLAYER;
        snprintf(info->name, sizeof info->name, "%s.encoder.layer.%d.%s", pre, l, layer_suffix[k]);
        layer_shape(c, k, &info->ndim, info->shape);
        info->data = p->memory ? layer_base(p, k) + (int64_t)l * layer_numel(c, k) : NULL;
        info->no_decay = (k % 2 == 1) || k == K_ALN_W || k == K_OLN_W;
    } else if (i == n - 2) {
        snprintf(info->name, sizeof info->name, "qa_outputs.weight");
        info->data = p->qa_w; info->ndim = 2; info->shape[0] = 2; info->shape[1] = H;
    } else {
        snprintf(info->name, sizeof info->name, "qa_outputs.bias");
        info->data = p->qa_b; info->ndim = 1; info->shape[0] = 2; info->no_decay = 1;
    }
    info->numel = info->ndim == 2 ? info->shape[0] * info->shape[1] : info->shape[0];
    return 0;
}

int zl_bert_param_find(const zl_bert_config *c, const char *name)
{
    zl_bert_params none;
    memset(&none, 0, sizeof none);
    int n = zl_bert_param_count(c);
    zl_bert_param_info info;
    for (int i = 0; i < n; i++) {
        zl_bert_param_info_at(c, &none, i, &info);
        if (strcmp(info.name, name) == 0) return i;
    }
    return -1;
}

/* ------------------------------------------------------------------ model */

zl_bert *zl_bert_new(const zl_bert_config *c)
{
    if (zl_bert_config_validate(c, "bert config") != 0) return NULL;
    zl_bert *m = calloc(1, sizeof *m);
    if (!m) {
        zl_error_set("bert: out of memory");
        return NULL;
    }
    m->config = *c;
    if (zl_bert_params_alloc(&m->params, c) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void zl_bert_free(zl_bert *m)
{
    if (!m) return;
    zl_bert_params_free(&m->params);
    zl_bf16_weights_free(m->bf16);
    free(m);
}

void zl_bert_bf16_reset(zl_bert *m)
{
    zl_bf16_weights_free(m->bf16);
    m->bf16 = NULL;
}

/* The bf16 weights of a bf16 forward: the model's copy, made by the first one (two threads
 * racing both convert, one copy stays), or, for a model whose parameters may change
 * (bf16_uncached), a copy of this call's (*own, the caller frees it). */
static const zl_bf16_weights *bf16_weights(const zl_bert *m, zl_bf16_weights **own)
{
    *own = NULL;
    if (zl_bf16_check() != 0) return NULL;
    zl_bf16_weights **slot = &((zl_bert *)m)->bf16; /* a cache: the parameters stay unchanged */
    zl_bf16_weights *w = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (w && !m->bf16_uncached) return w;
    const zl_bert_config *c = &m->config;
    const zl_bert_params *p = &m->params;
    int64_t L = c->num_hidden_layers, H = c->hidden_size, I = c->intermediate_size;
    const float *src[6] = {p->qw, p->kw, p->vw, p->ow, p->iw, p->o2w};
    int64_t n[6] = {L * H * H, L * H * H, L * H * H, L * H * H, L * I * H, L * H * I};
    zl_bf16_weights *made = zl_bf16_weights_new(6, src, n);
    if (!made || m->bf16_uncached) return *own = made;
    zl_bf16_weights *none = NULL;
    if (__atomic_compare_exchange_n(slot, &none, made, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return made;
    zl_bf16_weights_free(made);
    return none;
}

/* BERT's truncated normal: redraw beyond 2 standard deviations. The polar method's
 * two normals per draw are both used (BERT-base has 110M weights to fill). */
static void trunc_normal(float *x, int64_t n, zl_rng *r, double std)
{
    int64_t i = 0;
    while (i < n) {
        double u = 2.0 * zl_rng_uniform(r) - 1.0;
        double v = 2.0 * zl_rng_uniform(r) - 1.0;
        double s = u * u + v * v;
        if (!(s > 0.0 && s < 1.0)) continue;
        double f = sqrt(-2.0 * log(s) / s);
        double z0 = u * f, z1 = v * f;
        if (z0 >= -2.0 && z0 <= 2.0) x[i++] = (float)(z0 * std);
        if (i < n && z1 >= -2.0 && z1 <= 2.0) x[i++] = (float)(z1 * std);
    }
}

int zl_bert_init_random(zl_bert *m, uint64_t seed)
{
    zl_bert_bf16_reset(m);
    const zl_bert_config *c = &m->config;
    int n = zl_bert_param_count(c);
    zl_rng r;
    zl_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        zl_bert_param_info info;
        if (zl_bert_param_info_at(c, &m->params, i, &info) != 0) return -1;
        int is_ln = strstr(info.name, "LayerNorm") != NULL;
        if (is_ln && strstr(info.name, ".weight"))
            for (int64_t j = 0; j < info.numel; j++) info.data[j] = 1.0f;
        else if (info.ndim == 1)
            memset(info.data, 0, (size_t)info.numel * sizeof(float));
        else
            trunc_normal(info.data, info.numel, &r, c->initializer_range);
    }
    m->fresh_qa_head = 0;
    return 0;
}

/* ------------------------------------------------------------ activations */

static int team_size(void);

/* Attention scratch blocks of inference activations: one per thread of the team (the
 * attention loop never runs more threads than blocks), at most one per (b, h). Keeping
 * every (b, h)'s probabilities would cost B*NH*S*S floats (400 MB at 32 x 512) that only
 * the backward reads. */
static int64_t inference_slots(int64_t B, int64_t NH)
{
    int64_t t = team_size();
    return t < B * NH ? t : B * NH;
}

/* Layout of the per-layer block (one layer's worth), in floats. Inference (flags 0):
 * attention scratch per thread, and the GELU in place over the intermediate. */
static int64_t layer_block(int64_t B, int64_t S, int64_t H, int64_t NH, int64_t I, int drop,
                           int infer)
{
    int64_t BS = B * S;
    int64_t probs = infer ? inference_slots(B, NH) * S * S : B * NH * S * S;
    int64_t n = 3 * BS * H + probs + BS * H /*ctx*/ + BS * H /*att_sum*/ +
                2 * BS + BS * H /*att_ln*/ + (infer ? 1 : 2) * BS * I + BS * H /*out_sum*/ + 2 * BS;
    if (drop) n += B * NH * S * S + 2 * BS * H;
    return n;
}

int64_t zl_bert_acts_numel(const zl_bert_config *c, int maxB, int maxS, int flags)
{
    int64_t B = maxB, S = maxS, H = c->hidden_size, NH = c->num_attention_heads,
            I = c->intermediate_size, E = c->embedding_size, L = c->num_hidden_layers;
    int drop = (flags & ZL_BERT_ACTS_DROPOUT) != 0;
    int64_t nl = (flags & ZL_BERT_ACTS_BACKWARD) ? L : 1;
    int64_t BS = B * S;
    /* the dropped-probabilities scratch (one layer) comes last when dropout is on */
    return 4 * BS * E + (drop ? BS * E : 0) + 2 * BS + (L + 1) * BS * H +
           nl * layer_block(B, S, H, NH, I, drop, flags == 0) + (drop ? B * NH * S * S : 0) + 2 * BS +
           L * NH + L;
}

int zl_bert_acts_alloc(zl_bert_acts *a, const zl_bert_config *c, int maxB, int maxS, int flags)
{
    memset(a, 0, sizeof *a);
    if (maxB < 1 || maxS < 1)
        return zl_error_set("bert: activations need batch >= 1 and seq >= 1 (got %d x %d)", maxB, maxS);
    if (maxS > c->max_position_embeddings)
        return zl_error_set("bert: sequence length %d exceeds max_position_embeddings %d", maxS,
                            c->max_position_embeddings);
    if (maxB > (1 << 20) || maxS > (1 << 20))
        return zl_error_set("bert: activation sizes %d x %d too large", maxB, maxS);
    int64_t B = maxB, S = maxS, H = c->hidden_size, NH = c->num_attention_heads,
            I = c->intermediate_size, E = c->embedding_size, L = c->num_hidden_layers;
    int drop = (flags & ZL_BERT_ACTS_DROPOUT) != 0;
    int64_t nl = (flags & ZL_BERT_ACTS_BACKWARD) ? L : 1;
    int64_t BS = B * S;
    int64_t n = zl_bert_acts_numel(c, maxB, maxS, flags);
    if (n > MAX_ACT_FLOATS)
        return zl_error_set("bert: activations for batch %d x seq %d need %lld floats, too many",
                            maxB, maxS, (long long)n);
    float *mem = calloc((size_t)n, sizeof(float));
    if (!mem)
        return zl_error_set("bert: out of memory for activations (batch %d x seq %d, %.1f MB)",
                            maxB, maxS, (double)n * 4 / 1e6);
    a->maxB = maxB; a->maxS = maxS; a->flags = flags;
    a->L = (int)L; a->H = (int)H; a->NH = (int)NH; a->I = (int)I; a->E = (int)E;
    float *q = mem;
#define CARVE(field, cnt) (a->field = q, q += (cnt))
    CARVE(emb_sum, BS * E);
    CARVE(emb_mean, BS);
    CARVE(emb_rstd, BS);
    CARVE(emb_ln, BS * E);
    if (drop) CARVE(emb_drop, BS * E);
    CARVE(emb_proj_in, BS * E);
    q += BS * E; /* spare: keeps the block size formula simple */
    CARVE(hidden, (L + 1) * BS * H);
    CARVE(q, nl * BS * H);
    CARVE(k, nl * BS * H);
    CARVE(v, nl * BS * H);
    int infer = flags == 0;
    a->prob_slots = infer ? (int)inference_slots(B, NH) : 0;
    CARVE(probs, infer ? a->prob_slots * S * S : nl * B * NH * S * S);
    if (drop) CARVE(probs_drop, nl * B * NH * S * S);
    CARVE(ctx, nl * BS * H);
    CARVE(att_sum, nl * BS * H);
    if (drop) CARVE(att_drop, nl * BS * H);
    CARVE(att_mean, nl * BS);
    CARVE(att_rstd, nl * BS);
    CARVE(att_ln, nl * BS * H);
    CARVE(inter_pre, nl * BS * I);
    if (infer) a->inter_gelu = a->inter_pre; /* the GELU runs in place: no backward reads it */
    else CARVE(inter_gelu, nl * BS * I);
    CARVE(out_sum, nl * BS * H);
    if (drop) CARVE(out_drop, nl * BS * H);
    CARVE(out_mean, nl * BS);
    CARVE(out_rstd, nl * BS);
    CARVE(start_logits, BS);
    CARVE(end_logits, BS);
    CARVE(head_mask, L * NH);
    a->strict = (unsigned char *)q;
    q += L;
#undef CARVE
    a->memory = mem;
    a->count = n;
    a->B = 0; /* no pass yet: start_layer > 0 is refused until one ran */
    a->S = 0;
    /* the dropped-probabilities scratch lies after the carved fields */
    (void)q;
    return 0;
}

void zl_bert_acts_free(zl_bert_acts *a)
{
    if (!a) return;
    free(a->memory);
    memset(a, 0, sizeof *a);
}

/* Scratch for dropped probabilities: the last B*NH*S*S floats of the block. */
static float *probs_scratch(const zl_bert_acts *a)
{
    int64_t n = (int64_t)a->maxB * a->NH * a->maxS * a->maxS;
    return a->memory + a->count - n;
}

void zl_bert_acts_layer(const zl_bert_acts *a, int l, zl_bert_layer_acts *o)
{
    int64_t B = a->B, S = a->S, H = a->H, NH = a->NH, I = a->I, BS = B * S;
    int64_t j = (a->flags & ZL_BERT_ACTS_BACKWARD) ? l : 0;
    memset(o, 0, sizeof *o);
    o->input = a->hidden + (int64_t)l * BS * H;
    o->output = a->hidden + (int64_t)(l + 1) * BS * H;
    o->q = a->q + j * BS * H;
    o->k = a->k + j * BS * H;
    o->v = a->v + j * BS * H;
    o->probs = a->probs + j * B * NH * S * S;
    o->probs_drop = a->probs_drop ? a->probs_drop + j * B * NH * S * S : NULL;
    o->ctx = a->ctx + j * BS * H;
    o->att_sum = a->att_sum + j * BS * H;
    o->att_drop = a->att_drop ? a->att_drop + j * BS * H : NULL;
    o->att_mean = a->att_mean + j * BS;
    o->att_rstd = a->att_rstd + j * BS;
    o->att_ln = a->att_ln + j * BS * H;
    o->inter_pre = a->inter_pre + j * BS * I;
    o->inter_gelu = a->inter_gelu + j * BS * I;
    o->out_sum = a->out_sum + j * BS * H;
    o->out_drop = a->out_drop ? a->out_drop + j * BS * H : NULL;
    o->out_mean = a->out_mean + j * BS;
    o->out_rstd = a->out_rstd + j * BS;
    o->strict = a->strict[l];
    o->head_mask = a->head_mask + (int64_t)l * NH;
}

/* ----------------------------------------------------------------- kernels */

/* Sums in double of x[0..n) and of (x[i] - m)^2, in 8 partial sums: one chain of
 * dependent double additions costs 4 cycles an element, which made the softmax's and
 * LayerNorm's sums their slowest loops. The result depends only on x and n (a row's
 * bits never depend on its batch or thread), and differs from one chain's only by the
 * double rounding of the partial sums (below the float results' last bit but for rare
 * ties). */
static double sum_d(const float *x, int n)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += x[i + j];
    double t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) t += x[i];
    return t;
}

static double sum_sq_dev(const float *x, int n, double m)
{
    double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double d = x[i + j] - m;
            s[j] += d * d;
        }
    double t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < n; i++) {
        double d = x[i] - m;
        t += d * d;
    }
    return t;
}

/* y = LN(x) * w + b over one row of C; the row's mean and 1/std to *mean, *rstd. Double
 * accumulation: eps 1e-12 makes the variance's precision matter. */
static void layernorm_row(float *y, float *mean, float *rstd, const float *x, const float *w,
                          const float *b, int C, float eps)
{
    double m = sum_d(x, C) / C;
    double v = sum_sq_dev(x, C, m) / C;
    float s = (float)(1.0 / sqrt(v + eps));
    float mf = (float)m;
    for (int i = 0; i < C; i++) y[i] = (x[i] - mf) * s * w[i] + b[i];
    *mean = mf;
    *rstd = s;
}

void zl_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                          const float *w, const float *b, int N, int C, float eps)
{
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
    for (int n = 0; n < N; n++) {
        float mf, s;
        layernorm_row(out + (int64_t)n * C, &mf, &s, inp + (int64_t)n * C, w, b, C, eps);
        if (mean) mean[n] = mf;
        if (rstd) rstd[n] = s;
    }
}

void zl_linear_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                       int C, int OC)
{
    if (bias) {
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
        for (int n = 0; n < N; n++) memcpy(out + (int64_t)n * OC, bias, (size_t)OC * sizeof(float));
    }
    zl_sgemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, bias ? 1.0f : 0.0f, out, OC);
}

/* Fused epilogue of a linear layer, rows [r0, r1): pre += bias; out = gelu(pre). out may
 * equal pre (inference: the GELU in place). The tanh form computes tanh(u) as
 * 1 - 2 / (exp(2u) + 1) with the vector exp (exp overflowing to inf gives 1, exactly). */
static void bias_gelu_rows(float *pre, float *out, const float *bias, int r0, int r1, int C,
                           int tanh_form)
{
    float t[256];
    for (int n = r0; n < r1; n++) {
        float *p = pre + (int64_t)n * C, *o = out + (int64_t)n * C;
        for (int i0 = 0; i0 < C; i0 += 256) {
            int m = C - i0 < 256 ? C - i0 : 256;
            if (tanh_form) {
                for (int j = 0; j < m; j++) {
                    float x = p[i0 + j] + bias[i0 + j];
                    p[i0 + j] = x;
                    t[j] = 2.0f * 0.79788456080286535588f * (x + 0.044715f * x * x * x);
                }
                zl_vmath_exp(t, t, m);
                for (int j = 0; j < m; j++)
                    o[i0 + j] = 0.5f * p[i0 + j] * (2.0f - 2.0f / (t[j] + 1.0f));
            } else {
                for (int j = 0; j < m; j++) {
                    float x = p[i0 + j] + bias[i0 + j];
                    p[i0 + j] = x;
                    t[j] = x * 0.70710678118654752f;
                }
                zl_vmath_erf(t, t, m);
                for (int j = 0; j < m; j++) o[i0 + j] = 0.5f * p[i0 + j] * (1.0f + t[j]);
            }
        }
    }
}

void zl_gelu_forward(float *out, const float *inp, int64_t n, int tanh_form)
{
    float t[256];
    for (int64_t i0 = 0; i0 < n; i0 += 256) {
        int m = n - i0 < 256 ? (int)(n - i0) : 256;
        const float *p = inp + i0;
        for (int j = 0; j < m; j++)
            t[j] = tanh_form ? 2.0f * 0.79788456080286535588f * (p[j] + 0.044715f * p[j] * p[j] * p[j])
                             : p[j] * 0.70710678118654752f;
        if (tanh_form) {
            zl_vmath_exp(t, t, m);
            for (int j = 0; j < m; j++) out[i0 + j] = 0.5f * p[j] * (2.0f - 2.0f / (t[j] + 1.0f));
        } else {
            zl_vmath_erf(t, t, m);
            for (int j = 0; j < m; j++) out[i0 + j] = 0.5f * p[j] * (1.0f + t[j]);
        }
    }
}

/* Fused epilogue, rows [r0, r1): sum = (sum + bias) * mask + res (mask may be NULL),
 * then out = LN(sum) * w + b with its mean/rstd. */
static void bias_residual_layernorm_rows(float *sum, float *out, float *mean, float *rstd,
                                         const float *bias, const float *mask, const float *res,
                                         const float *w, const float *b, int r0, int r1, int C,
                                         float eps)
{
    for (int n = r0; n < r1; n++) {
        float *x = sum + (int64_t)n * C, *y = out + (int64_t)n * C;
        const float *r = res + (int64_t)n * C;
        const float *mk = mask ? mask + (int64_t)n * C : NULL;
        if (mk)
            for (int i = 0; i < C; i++) x[i] = (x[i] + bias[i]) * mk[i] + r[i];
        else
            for (int i = 0; i < C; i++) x[i] = x[i] + bias[i] + r[i];
        layernorm_row(y, mean + n, rstd + n, x, w, b, C, eps);
    }
}

/* The forward runs one thread team (OpenMP, of zl_get_threads threads) and BLAS is
 * single-threaded (tensor.c decides it once): two thread pools (OpenMP's and OpenBLAS's)
 * spinning against each other on a few cores cost more than they give. Rows of each
 * product are split over the team. */
static int team_size(void) { return zl_get_threads(); }

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Threads of an attention loop: no more than the activations' scratch blocks. */
static int attention_team(const zl_bert_acts *a)
{
    int nt = team_size();
    return a->prob_slots && nt > a->prob_slots ? a->prob_slots : nt;
}

/* Row range of chunk t of nt over M rows (multiples of 8 where possible). */
static void chunk_rows(int M, int t, int nt, int *r0, int *r1)
{
    int64_t per = ((int64_t)M + nt - 1) / nt;
    per = (per + 7) / 8 * 8;
    int64_t a = per * t, b = a + per;
    *r0 = (int)(a < M ? a : M);
    *r1 = (int)(b < M ? b : M);
}

enum { EPI_BIAS, EPI_GELU, EPI_GELU_TANH, EPI_RES_LN };

typedef struct {
    int kind;
    const float *bias;
    float *out2;                /* GELU output or LN output */
    float *mean, *rstd;
    const float *mask, *res, *w, *b;
    float eps;
} epilogue;

/* out[M, N] = inp[M, K] W^T (W [N, K]) then the epilogue, rows split over the team in a
 * few chunks per thread (a preempted thread on a shared machine then delays less). w16:
 * NULL (fp32), or the bf16 weights holding W's copy (a row's bits do not depend on its
 * chunk: bf16.h). */
static int linear_team(float *out, const float *inp, const float *W, int M, int K, int N,
                       const epilogue *e, const zl_bf16_weights *w16)
{
    char failed[256] = "";
    int nt = team_size();
    int nc = nt == 1 ? 1 : 4 * nt;
    /* chunks of at least 128 rows while every thread still gets one (each chunk packs the
       whole weight matrix again: 96-row products run 5-8% slower than 384-row ones, 128-row
       ones 2-4%), else of at least 32 */
    if (nc > M / 128) nc = M / 128;
    if (nc < nt) nc = nt < (M + 31) / 32 ? nt : (M + 31) / 32;
    if (nc < 1) nc = 1;
#pragma omp parallel for schedule(dynamic, 1) num_threads(zl_get_threads())
    for (int t = 0; t < nc; t++) {
        int r0, r1;
        chunk_rows(M, t, nc, &r0, &r1);
        if (r1 <= r0) continue;
        if (w16) {
            if (zl_bf16_linear(out + (int64_t)r0 * N, inp + (int64_t)r0 * K,
                               zl_bf16_weights_find(w16, W), e->kind == EPI_BIAS ? e->bias : NULL,
                               r1 - r0, K, N) != 0) {
#pragma omp critical(zl_bert_bf16_error)
                snprintf(failed, sizeof failed, "%s", zl_error_get());
                continue;
            }
        } else {
            float beta = 0.0f;
            if (e->kind == EPI_BIAS) {
                for (int n = r0; n < r1; n++) memcpy(out + (int64_t)n * N, e->bias, (size_t)N * sizeof(float));
                beta = 1.0f;
            }
            zl_sgemm(0, 1, r1 - r0, N, K, 1.0f, inp + (int64_t)r0 * K, K, W, K, beta,
                     out + (int64_t)r0 * N, N);
        }
        if (e->kind == EPI_GELU || e->kind == EPI_GELU_TANH)
            bias_gelu_rows(out, e->out2, e->bias, r0, r1, N, e->kind == EPI_GELU_TANH);
        else if (e->kind == EPI_RES_LN)
            bias_residual_layernorm_rows(out, e->out2, e->mean, e->rstd, e->bias, e->mask, e->res,
                                         e->w, e->b, r0, r1, N, e->eps);
    }
    /* a worker's message is its thread's: set it again on the caller's */
    return failed[0] ? zl_error_set("%s", failed) : 0;
}

/* Elements [i0, i1) of zl_dropout_mask's stream at base: eight hashes at a time in AVX-512
 * lanes where the CPU has them (integer hashing, exact conversion and compare: the bits of
 * the scalar loop), which training's forward spends 85 M of per step at 4 x 384. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "default")))
#endif
static void dropout_span(float *mask, int64_t i0, int64_t i1, uint64_t base, double p, float scale)
{
    for (int64_t i = i0; i < i1; i++) {
        double u = (double)(zl_splitmix64(base + (uint64_t)i) >> 11) * (1.0 / 9007199254740992.0);
        mask[i] = u < p ? 0.0f : scale;
    }
}

void zl_dropout_mask(float *mask, int64_t n, float p, uint64_t seed, uint64_t stream)
{
    uint64_t base = zl_splitmix64(seed ^ zl_splitmix64(stream + 0x51ED2701ull));
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    int64_t nb = (n + 4095) / 4096;
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
    for (int64_t b = 0; b < nb; b++)
        dropout_span(mask, b * 4096, n - b * 4096 < 4096 ? n : (b + 1) * 4096, base, (double)p, scale);
}

/* ----------------------------------------------------------------- forward */

int zl_zone_parse(const char *name)
{
    static const char *names[] = {"none", "q2", "q2p", "p2q", "p2", "all", "all_strict"};
    for (int i = 0; i < 7; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return zl_error_set("unknown zone \"%s\" (none, q2, q2p, p2q, p2, all, all_strict)", name);
}

const char *zl_zone_name(zl_zone z)
{
    static const char *names[] = {"none", "q2", "q2p", "p2q", "p2", "all", "all_strict"};
    return (unsigned)z < 7 ? names[z] : "?";
}

void zl_bert_forward_opts_init(zl_bert_forward_opts *o)
{
    memset(o, 0, sizeof *o);
    o->zone = ZL_ZONE_NONE;
    o->mask_layer = -1;
}

static int mask_applies(const zl_bert_mask *mk, int l)
{
    if (!mk->layers) return 1;
    for (int i = 0; i < mk->n_layers; i++)
        if (mk->layers[i] == l) return 1;
    return 0;
}

static int mask_has_head(const zl_bert_mask *mk, int h)
{
    if (!mk->heads) return 1;
    for (int i = 0; i < mk->n_heads; i++)
        if (mk->heads[i] == h) return 1;
    return 0;
}

static int check_inputs(const zl_bert *m, const zl_bert_acts *a, const zl_bert_inputs *in,
                        const zl_bert_forward_opts *o)
{
    const zl_bert_config *c = &m->config;
    if (a->memory == NULL) return zl_error_set("bert forward: activations not allocated");
    if (o->precision != ZL_PRECISION_FP32 && o->precision != ZL_PRECISION_BF16)
        return zl_error_set("bert forward: unknown precision %d", o->precision);
    if (o->precision == ZL_PRECISION_BF16 &&
        ((a->flags & ZL_BERT_ACTS_BACKWARD) || o->dropout_prob > 0.0f || o->attn_dropout_prob > 0.0f))
        return zl_error_set("bert forward: precision bf16 is for inference only (training and "
                            "gradients run in fp32)");
    if (a->L != c->num_hidden_layers || a->H != c->hidden_size || a->I != c->intermediate_size ||
        a->NH != c->num_attention_heads || a->E != c->embedding_size)
        return zl_error_set("bert forward: activations were allocated for another configuration");
    if (in->B < 1 || in->S < 1 || in->B > a->maxB || in->S > a->maxS)
        return zl_error_set("bert forward: batch %d x seq %d does not fit the activations (%d x %d)",
                            in->B, in->S, a->maxB, a->maxS);
    if (!in->input_ids) return zl_error_set("bert forward: input_ids missing");
    int64_t n = (int64_t)in->B * in->S;
    for (int64_t i = 0; i < n; i++) {
        if (in->input_ids[i] < 0 || in->input_ids[i] >= c->vocab_size)
            return zl_error_set("bert forward: input_ids[%lld][%lld] = %d is outside the vocabulary "
                                "(0..%d)", (long long)(i / in->S), (long long)(i % in->S),
                                in->input_ids[i], c->vocab_size - 1);
        if (in->token_type_ids &&
            (in->token_type_ids[i] < 0 || in->token_type_ids[i] >= c->type_vocab_size))
            return zl_error_set("bert forward: token_type_ids[%lld][%lld] = %d is outside 0..%d",
                                (long long)(i / in->S), (long long)(i % in->S),
                                in->token_type_ids[i], c->type_vocab_size - 1);
    }
    zl_zone z = o->zone;
    if ((unsigned)z > ZL_ZONE_ALL_STRICT) return zl_error_set("bert forward: bad zone %d", (int)z);
    if ((z == ZL_ZONE_Q2 || z == ZL_ZONE_P2Q) && !in->qmask)
        return zl_error_set("bert forward: zone %s needs qmask", zl_zone_name(z));
    if ((z == ZL_ZONE_P2 || z == ZL_ZONE_Q2P) && !in->pmask)
        return zl_error_set("bert forward: zone %s needs pmask", zl_zone_name(z));
    if (o->mask_layer < -1 || o->mask_layer >= c->num_hidden_layers)
        return zl_error_set("bert forward: mask layer %d out of range (0..%d, or every layer)",
                            o->mask_layer, c->num_hidden_layers - 1);
    if (o->n_masks < 0 || (o->n_masks > 0 && !o->masks))
        return zl_error_set("bert forward: bad mask list");
    for (int i = 0; i < o->n_masks; i++) {
        const zl_bert_mask *mk = &o->masks[i];
        if (!mk->pattern) return zl_error_set("bert forward: mask %d has no pattern", i + 1);
        for (int j = 0; mk->heads && j < mk->n_heads; j++)
            if (mk->heads[j] < 0 || mk->heads[j] >= c->num_attention_heads)
                return zl_error_set("bert forward: mask %d: head %d out of range 0..%d", i + 1,
                                    mk->heads[j], c->num_attention_heads - 1);
        for (int j = 0; mk->layers && j < mk->n_layers; j++)
            if (mk->layers[j] < 0 || mk->layers[j] >= c->num_hidden_layers)
                return zl_error_set("bert forward: mask %d: layer %d out of range 0..%d", i + 1,
                                    mk->layers[j], c->num_hidden_layers - 1);
    }
    int drop = o->dropout_prob > 0.0f || o->attn_dropout_prob > 0.0f;
    if (!(o->dropout_prob >= 0.0f && o->dropout_prob < 1.0f) ||
        !(o->attn_dropout_prob >= 0.0f && o->attn_dropout_prob < 1.0f))
        return zl_error_set("bert forward: dropout probabilities must be in [0, 1)");
    if (drop && !(a->flags & ZL_BERT_ACTS_DROPOUT))
        return zl_error_set("bert forward: dropout needs activations allocated with ZL_BERT_ACTS_DROPOUT");
    if (o->start_layer < 0 || o->start_layer > c->num_hidden_layers)
        return zl_error_set("bert forward: start layer %d out of range", o->start_layer);
    if (o->stop_layer != 0 && (o->stop_layer <= o->start_layer || o->stop_layer > c->num_hidden_layers))
        return zl_error_set("bert forward: stop layer %d out of range (%d..%d, or 0)", o->stop_layer,
                            o->start_layer + 1, c->num_hidden_layers);
    if (o->stop_layer != 0 && (a->flags & ZL_BERT_ACTS_BACKWARD))
        return zl_error_set("bert forward: a stop layer is for inference (no logits to train on)");
    if (o->start_layer > 0 && (a->B != in->B || a->S != in->S))
        return zl_error_set("bert forward: start layer %d needs the hidden states of a previous "
                            "pass with the same batch and sequence sizes", o->start_layer);
    return 0;
}

static void embeddings_forward(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                               const zl_bert_forward_opts *o)
{
    const zl_bert_config *c = &m->config;
    const zl_bert_params *p = &m->params;
    int B = in->B, S = in->S, E = c->embedding_size, H = c->hidden_size;
    int N = B * S;
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
    for (int n = 0; n < N; n++) {
        int s = n % S;
        const float *w = p->word_emb + (int64_t)in->input_ids[n] * E;
        const float *ps = p->pos_emb + (int64_t)s * E;
        const float *t = p->type_emb + (int64_t)(in->token_type_ids ? in->token_type_ids[n] : 0) * E;
        float *y = a->emb_sum + (int64_t)n * E;
        for (int i = 0; i < E; i++) y[i] = w[i] + ps[i] + t[i];
    }
    zl_layernorm_forward(a->emb_ln, a->emb_mean, a->emb_rstd, a->emb_sum, p->emb_ln_w,
                         p->emb_ln_b, N, E, c->layer_norm_eps);
    const float *x = a->emb_ln;
    if (o->dropout_prob > 0.0f) {
        int64_t ne = (int64_t)N * E;
        zl_dropout_mask(a->emb_drop, ne, o->dropout_prob, o->seed, 1);
        for (int64_t i = 0; i < ne; i++) a->emb_proj_in[i] = a->emb_ln[i] * a->emb_drop[i];
        x = a->emb_proj_in;
    } else {
        memcpy(a->emb_proj_in, a->emb_ln, (size_t)N * E * sizeof(float));
    }
    if (p->proj_w)
        zl_linear_forward(a->hidden, x, p->proj_w, p->proj_b, N, E, H);
    else
        memcpy(a->hidden, x, (size_t)N * H * sizeof(float));
}

/* Does zone z apply at layer l? */
static int zone_at(const zl_bert_forward_opts *o, int l)
{
    return o->zone != ZL_ZONE_NONE && (o->mask_layer < 0 || o->mask_layer == l);
}

/* Zone z's mask for row f: mask[f, t] = rowf * col[t] (col NULL: nothing masked). The
 * one definition of the zones, shared by the forward and zl_zone_mask. */
static float zone_row(zl_zone z, const int32_t *qm, const int32_t *pm, int f,
                      const int32_t **col)
{
    *col = NULL;
    switch (z) {
    case ZL_ZONE_Q2: *col = qm; return (float)qm[f];
    case ZL_ZONE_P2: *col = pm; return (float)pm[f];
    case ZL_ZONE_P2Q: *col = qm; return (float)(1 - qm[f]);
    case ZL_ZONE_Q2P: *col = pm; return (float)(1 - pm[f]);
    default: return 0.0f;
    }
}

int zl_zone_mask(zl_zone z, int B, int S, const int32_t *qmask, const int32_t *pmask,
                 float *out)
{
    if (z == ZL_ZONE_ALL || z == ZL_ZONE_ALL_STRICT || (unsigned)z > ZL_ZONE_ALL_STRICT)
        return zl_error_set("zone mask: zone %s has no [from, to] mask (it changes the whole "
                            "layer)", zl_zone_name(z));
    if ((z == ZL_ZONE_Q2 || z == ZL_ZONE_P2Q) && !qmask)
        return zl_error_set("zone mask: zone %s needs qmask", zl_zone_name(z));
    if ((z == ZL_ZONE_P2 || z == ZL_ZONE_Q2P) && !pmask)
        return zl_error_set("zone mask: zone %s needs pmask", zl_zone_name(z));
    for (int b = 0; b < B; b++) {
        const int32_t *qm = qmask ? qmask + (int64_t)b * S : NULL;
        const int32_t *pm = pmask ? pmask + (int64_t)b * S : NULL;
        for (int f = 0; f < S; f++) {
            const int32_t *col;
            float rowf = zone_row(z, qm, pm, f, &col);
            float *o = out + ((int64_t)b * S + f) * S;
            for (int t = 0; t < S; t++) o[t] = col ? rowf * (float)col[t] : 0.0f;
        }
    }
    return 0;
}

/* Scores -> masked softmax in place for row f of head h, batch b, layer l. */
static void softmax_row(float *x, const zl_bert_inputs *in, const zl_bert_forward_opts *o,
                        zl_zone z, int l, int b, int h, int f)
{
    int S = in->S;
    const int32_t *im = in->input_mask ? in->input_mask + (int64_t)b * S : NULL;
    const int32_t *qm = in->qmask ? in->qmask + (int64_t)b * S : NULL;
    const int32_t *pm = in->pmask ? in->pmask + (int64_t)b * S : NULL;
    const int32_t *col = NULL;
    float rowf = zone_row(z, qm, pm, f, &col);
    if (!(col && rowf != 0.0f)) col = NULL;
    /* zone ALL replaces the padding adder by a constant: softmax-identical to skipping it.
       Without padding the adder is -0 everywhere, and x + -0 == x: skipped. */
    if (im && z != ZL_ZONE_ALL) {
        int pad = 0;
        for (int t = 0; t < S; t++) pad |= im[t] != 1;
        if (!pad) im = NULL;
    } else {
        im = NULL;
    }
    /* the adders in the reference's order: padding, then zone, then the general masks */
    float zc = -10000.0f * rowf;
    if (im && col)
        for (int t = 0; t < S; t++)
            x[t] = (x[t] + -10000.0f * (float)(1 - im[t])) + zc * (float)col[t];
    else if (im)
        for (int t = 0; t < S; t++) x[t] += -10000.0f * (float)(1 - im[t]);
    else if (col)
        for (int t = 0; t < S; t++) x[t] += zc * (float)col[t];
    for (int i = 0; i < o->n_masks; i++) {
        const zl_bert_mask *mk = &o->masks[i];
        if (!mask_applies(mk, l) || !mask_has_head(mk, h)) continue;
        const float *pat = mk->pattern + (mk->batched ? (int64_t)b * S * S : 0) + (int64_t)f * S;
        for (int t = 0; t < S; t++) x[t] += -10000.0f * pat[t];
    }
    /* the maximum in 8 lanes (max is exact in any order) */
    float m8[8];
    int t = 0;
    for (int j = 0; j < 8; j++) m8[j] = x[0];
    for (; t + 8 <= S; t += 8)
        for (int j = 0; j < 8; j++) m8[j] = x[t + j] > m8[j] ? x[t + j] : m8[j];
    float mx = m8[0];
    for (int j = 1; j < 8; j++) mx = m8[j] > mx ? m8[j] : mx;
    for (; t < S; t++) mx = x[t] > mx ? x[t] : mx;
    for (t = 0; t < S; t++) x[t] -= mx;
    /* vector exp; masked scores (-10000) give exactly 0 without libm's slow underflow path */
    zl_vmath_exp(x, x, S);
    float inv = (float)(1.0 / sum_d(x, S));
    for (t = 0; t < S; t++) x[t] *= inv;
}

static int layer_forward(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                         const zl_bert_forward_opts *o, int l, const zl_bf16_weights *w16)
{
    int rc = 0;
    const zl_bert_config *c = &m->config;
    const zl_bert_params *p = &m->params;
    int B = in->B, S = in->S, H = c->hidden_size, NH = c->num_attention_heads,
        I = c->intermediate_size, d = H / NH, N = B * S;
    int64_t HH = (int64_t)H * H, SS = (int64_t)S * S;
    zl_bert_layer_acts la;
    zl_bert_acts_layer(a, l, &la);
    const float *x = la.input;
    int strict = zone_at(o, l) && o->zone == ZL_ZONE_ALL_STRICT;
    a->strict[l] = (unsigned char)strict;
    uint64_t stream = 16 + (uint64_t)l * 8;
    int64_t np = (int64_t)B * NH * SS;
    if (strict) {
        /* No attention at all: the context is exactly zero (Q, K, V, P unused). */
        memset(la.ctx, 0, (size_t)N * H * sizeof(float));
        if (!a->prob_slots) memset(la.probs, 0, (size_t)np * sizeof(float));
        else if (o->attentions) memset(o->attentions + (int64_t)l * np, 0, (size_t)np * sizeof(float));
        memset(la.q, 0, (size_t)N * H * sizeof(float));
        memset(la.k, 0, (size_t)N * H * sizeof(float));
        memset(la.v, 0, (size_t)N * H * sizeof(float));
        if (la.probs_drop) memset(la.probs_drop, 0, (size_t)np * sizeof(float));
    } else {
        epilogue e = {EPI_BIAS, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.0f};
        e.bias = p->qb + (int64_t)l * H;
        rc |= linear_team(la.q, x, p->qw + l * HH, N, H, H, &e, w16);
        e.bias = p->kb + (int64_t)l * H;
        rc |= linear_team(la.k, x, p->kw + l * HH, N, H, H, &e, w16);
        e.bias = p->vb + (int64_t)l * H;
        rc |= linear_team(la.v, x, p->vw + l * HH, N, H, H, &e, w16);
        int drop = o->attn_dropout_prob > 0.0f;
        if (drop)
            zl_dropout_mask(la.probs_drop, np, o->attn_dropout_prob, o->seed, stream + 1);
        else if (la.probs_drop)
            for (int64_t i = 0; i < np; i++) la.probs_drop[i] = 1.0f;
        float *scr = drop ? probs_scratch(a) : NULL;
        zl_zone z = zone_at(o, l) ? o->zone : ZL_ZONE_NONE;
        float scale = 1.0f / sqrtf((float)d);
        /* inference: the exported attentions hold the probabilities, else a thread's block */
        float *exported = a->prob_slots && o->attentions ? o->attentions + (int64_t)l * np : NULL;
        int nt = attention_team(a);
        /* one (batch, head) pair per iteration: scores, masked softmax, P V */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
        for (int bh = 0; bh < B * NH; bh++) {
            int b = bh / NH, h = bh % NH;
            float *pr = !a->prob_slots ? la.probs + (int64_t)bh * SS
                        : exported ? exported + (int64_t)bh * SS : la.probs + (int64_t)thread_id() * SS;
            const float *qh = la.q + (int64_t)b * S * H + h * d;
            const float *kh = la.k + (int64_t)b * S * H + h * d;
            float *ch = la.ctx + (int64_t)b * S * H + h * d;
            zl_sgemm(0, 1, S, S, d, scale, qh, H, kh, H, 0.0f, pr, S);
            for (int f = 0; f < S; f++) softmax_row(pr + (int64_t)f * S, in, o, z, l, b, h, f);
            float hm = la.head_mask[h];
            if (hm == 0.0f) {
                for (int s = 0; s < S; s++) memset(ch + (int64_t)s * H, 0, (size_t)d * sizeof(float));
                continue;
            }
            const float *pv = pr;
            if (drop) {
                float *sp = scr + (int64_t)bh * SS;
                const float *mk = la.probs_drop + (int64_t)bh * SS;
                for (int64_t i = 0; i < SS; i++) sp[i] = pr[i] * mk[i];
                pv = sp;
            }
            zl_sgemm(0, 0, S, d, S, hm, pv, S, la.v + (int64_t)b * S * H + h * d, H, 0.0f, ch, H);
        }
    }
    /* attention output: a = LN(dropout(ctx Wo^T + bo) + x) */
    if (la.att_drop) {
        if (o->dropout_prob > 0.0f)
            zl_dropout_mask(la.att_drop, (int64_t)N * H, o->dropout_prob, o->seed, stream + 2);
        else
            for (int64_t i = 0; i < (int64_t)N * H; i++) la.att_drop[i] = 1.0f;
    }
    epilogue e1 = {EPI_RES_LN, p->ob + (int64_t)l * H, la.att_ln, la.att_mean, la.att_rstd,
                   o->dropout_prob > 0.0f ? la.att_drop : NULL, x, p->att_ln_w + (int64_t)l * H,
                   p->att_ln_b + (int64_t)l * H, c->layer_norm_eps};
    rc |= linear_team(la.att_sum, la.ctx, p->ow + l * HH, N, H, H, &e1, w16);
    /* feed-forward: x' = LN(dropout(gelu(a Wi^T + bi) Wo2^T + bo2) + a) */
    int gk = m->config.gelu == ZL_GELU_TANH ? EPI_GELU_TANH : EPI_GELU;
    epilogue e2 = {gk, p->ib + (int64_t)l * I, la.inter_gelu, NULL, NULL, NULL, NULL, NULL,
                   NULL, 0.0f};
    rc |= linear_team(la.inter_pre, la.att_ln, p->iw + (int64_t)l * I * H, N, H, I, &e2, w16);
    if (la.out_drop) {
        if (o->dropout_prob > 0.0f)
            zl_dropout_mask(la.out_drop, (int64_t)N * H, o->dropout_prob, o->seed, stream + 3);
        else
            for (int64_t i = 0; i < (int64_t)N * H; i++) la.out_drop[i] = 1.0f;
    }
    epilogue e3 = {EPI_RES_LN, p->o2b + (int64_t)l * H, la.output, la.out_mean, la.out_rstd,
                   o->dropout_prob > 0.0f ? la.out_drop : NULL, la.att_ln,
                   p->out_ln_w + (int64_t)l * H, p->out_ln_b + (int64_t)l * H, c->layer_norm_eps};
    rc |= linear_team(la.out_sum, la.inter_gelu, p->o2w + (int64_t)l * H * I, N, I, H, &e3, w16);
    return rc ? -1 : 0;
}

static int64_t count_nonfinite(const float *x, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += !isfinite(x[i]);
    return bad;
}

/* The error for non-finite logits, naming the first hidden state of this pass
 * (hidden[start..L], in the current layout) that holds a non-finite value. */
static int nonfinite_error(const zl_bert_acts *a, int N, int H, int L, int start)
{
    int64_t BSH = (int64_t)N * H, bad;
    if ((bad = count_nonfinite(a->hidden + (int64_t)start * BSH, BSH)) > 0) {
        if (start == 0)
            return zl_error_set("bert forward: the logits are not finite: the embeddings' output "
                                "holds %lld NaN or infinite values", (long long)bad);
        return zl_error_set("bert forward: the logits are not finite: the input of layer %d "
                            "(0-based) holds %lld NaN or infinite values", start, (long long)bad);
    }
    for (int l = start; l < L; l++)
        if ((bad = count_nonfinite(a->hidden + (int64_t)(l + 1) * BSH, BSH)) > 0)
            return zl_error_set("bert forward: the logits are not finite: layer %d (0-based) of %d "
                                "produced %lld NaN or infinite values", l, L, (long long)bad);
    return zl_error_set("bert forward: the logits are not finite: the span head (qa_outputs) "
                        "produced them from finite hidden states");
}

static int forward_pass(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                        const zl_bert_forward_opts *o, const zl_bf16_weights *w16);

int zl_bert_forward(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                    const zl_bert_forward_opts *o)
{
    if (check_inputs(m, a, in, o) != 0) return -1;
    zl_bf16_weights *own = NULL;
    const zl_bf16_weights *w16 = NULL;
    if (o->precision == ZL_PRECISION_BF16 && !(w16 = bf16_weights(m, &own))) return -1;
    int rc = forward_pass(m, a, in, o, w16);
    zl_bf16_weights_free(own);
    return rc;
}

static int forward_pass(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in,
                        const zl_bert_forward_opts *o, const zl_bf16_weights *w16)
{
    const zl_bert_config *c = &m->config;
    int B = in->B, S = in->S, H = c->hidden_size, NH = c->num_attention_heads,
        L = c->num_hidden_layers, N = B * S;
    a->B = B;
    a->S = S;
    a->dropout_prob = o->dropout_prob;
    a->attn_dropout_prob = o->attn_dropout_prob;
    for (int i = 0; i < L * NH; i++) a->head_mask[i] = o->head_mask ? o->head_mask[i] : 1.0f;
    if (a->emb_drop && o->dropout_prob <= 0.0f)
        for (int64_t i = 0; i < (int64_t)N * c->embedding_size; i++) a->emb_drop[i] = 1.0f;
    if (o->start_layer == 0) embeddings_forward(m, a, in, o);
    int64_t BSH = (int64_t)N * H, PP = (int64_t)B * NH * S * S;
    int stop = o->stop_layer ? o->stop_layer : L;
    for (int l = o->start_layer; l < stop; l++) {
        if (layer_forward(m, a, in, o, l, w16) != 0) return -1;
        if (o->attentions) {
            zl_bert_layer_acts la;
            zl_bert_acts_layer(a, l, &la);
            float *dst = o->attentions + (int64_t)l * PP;
            if (!a->prob_slots) memcpy(dst, la.probs, (size_t)PP * sizeof(float));
            if (o->head_mask)
                for (int b = 0; b < B; b++)
                    for (int h = 0; h < NH; h++) {
                        float hm = la.head_mask[h];
                        float *q = dst + ((int64_t)b * NH + h) * S * S;
                        for (int64_t i = 0; i < (int64_t)S * S; i++) q[i] *= hm;
                    }
        }
    }
    if (o->attentions)
        for (int l = 0; l < L; l++)
            if (l < o->start_layer || l >= stop)
                memset(o->attentions + (int64_t)l * PP, 0, (size_t)PP * sizeof(float));
    if (o->hidden_states) memcpy(o->hidden_states, a->hidden, (size_t)(L + 1) * BSH * sizeof(float));
    if (o->stop_layer) return 0; /* stopped early: no span head */
    /* span head */
    const float *x = a->hidden + (int64_t)L * BSH;
    const float *w = m->params.qa_w, *bq = m->params.qa_b;
#pragma omp parallel for schedule(static) num_threads(zl_get_threads())
    for (int n = 0; n < N; n++) {
        const float *xr = x + (int64_t)n * H;
        float s0 = 0.0f, s1 = 0.0f;
        for (int i = 0; i < H; i++) {
            s0 += xr[i] * w[i];
            s1 += xr[i] * w[H + i];
        }
        a->start_logits[n] = s0 + bq[0];
        a->end_logits[n] = s1 + bq[1];
    }
    /* No silent wrong answers: a NaN logit would decode to one fixed span. Checking the
       2 B S logits costs nothing; only a failure scans the hidden states for its origin. */
    int bad = 0;
    for (int n = 0; n < N; n++) bad |= !isfinite(a->start_logits[n]) | !isfinite(a->end_logits[n]);
    if (bad) return nonfinite_error(a, N, H, L, o->start_layer);
    return 0;
}

/* ------------------------------------------------- one layer, some rows (sweeps) */

int zl_zone_rows(zl_zone z, const zl_bert_inputs *in, int *rows)
{
    int n = 0, N = in->B * in->S;
    if (!in->qmask || !in->pmask) return zl_error_set("bert: zone rows need qmask and pmask");
    for (int r = 0; r < N; r++) {
        int changes;
        switch (z) {
        case ZL_ZONE_Q2: changes = in->qmask[r] != 0; break;
        case ZL_ZONE_P2: changes = in->pmask[r] != 0; break;
        case ZL_ZONE_P2Q: changes = in->qmask[r] == 0; break;
        case ZL_ZONE_Q2P: changes = in->pmask[r] == 0; break;
        default: return zl_error_set("bert: zone %s changes every row", zl_zone_name(z));
        }
        if (changes && rows) rows[n] = r;
        n += changes;
    }
    return n;
}

static int layer_kv(const zl_bert *m, zl_bert_acts *a, int l, float *k, float *v,
                    const zl_bf16_weights *w16)
{
    const zl_bert_params *p = &m->params;
    if (a->B < 1 || l < 0 || l >= a->L)
        return zl_error_set("bert: keys/values of layer %d need a previous pass", l);
    int H = a->H, N = a->B * a->S;
    int64_t HH = (int64_t)H * H;
    const float *x = a->hidden + (int64_t)l * N * H;
    epilogue e = {EPI_BIAS, p->kb + (int64_t)l * H, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.0f};
    if (linear_team(k, x, p->kw + l * HH, N, H, H, &e, w16) != 0) return -1;
    e.bias = p->vb + (int64_t)l * H;
    return linear_team(v, x, p->vw + l * HH, N, H, H, &e, w16);
}

/* Layer l's output (hidden[l+1]) for the listed rows only, with zone z at layer l, from
 * hidden[l] and layer l's keys k and values v [B, S, H] (not the activations' k and v,
 * which serve as compact-row scratch here); the other rows of hidden[l+1] are left as
 * they are. rows are increasing. */
static int layer_rows(const zl_bert *m, zl_bert_acts *a, const zl_bert_inputs *in, zl_zone z,
                      int l, const float *k, const float *v, const int *rows, int n_rows,
                      const zl_bf16_weights *w16)
{
    const zl_bert_config *c = &m->config;
    const zl_bert_params *p = &m->params;
    if (a->flags != 0) return zl_error_set("bert: layer rows need inference activations");
    if (a->B != in->B || a->S != in->S || l < 0 || l >= a->L || n_rows < 0 || n_rows > in->B * in->S)
        return zl_error_set("bert: layer %d rows: the inputs do not match the last pass", l);
    if (z < ZL_ZONE_Q2 || z > ZL_ZONE_ALL || !in->qmask || !in->pmask)
        return zl_error_set("bert: layer rows take zones q2, q2p, p2q, p2, all with qmask and pmask");
    for (int r = 0; r < n_rows; r++)
        if (rows[r] < 0 || rows[r] >= in->B * in->S || (r > 0 && rows[r] <= rows[r - 1]))
            return zl_error_set("bert: layer %d rows: row list entry %d (%d) is out of order or range",
                                l, r + 1, rows[r]);
    if (n_rows == 0) return 0;
    int B = in->B, S = in->S, H = c->hidden_size, NH = c->num_attention_heads,
        I = c->intermediate_size, d = H / NH, M = n_rows;
    /* The products run on a multiple of 8 rows (copies of the last row fill up): BLAS
       kernels treat a trailing partial block of rows differently (one row goes to gemv).
       With OpenBLAS's SSE3 kernels a row's bits then do not depend on where the batch puts
       it; its AVX2 kernels (Haswell, Zen) also round by the row's position modulo 12, so
       there only batches of the same features repeat bits (docs/scale.md). */
    int Mp = (M + 7) / 8 * 8;
    if (Mp > B * S) Mp = M;
    int64_t HH = (int64_t)H * H, SS = (int64_t)S * S;
    zl_bert_layer_acts la;
    zl_bert_acts_layer(a, l, &la);
    /* compact rows in the layer's scratch: x -> k slot, q, ctx, att_*, inter_*, out -> v slot */
    float *xc = la.k, *yc = la.v;
    for (int r = 0; r < Mp; r++)
        memcpy(xc + (int64_t)r * H, la.input + (int64_t)rows[r < M ? r : M - 1] * H,
               (size_t)H * sizeof(float));
    epilogue e = {EPI_BIAS, p->qb + (int64_t)l * H, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0.0f};
    if (linear_team(la.q, xc, p->qw + l * HH, Mp, H, H, &e, w16) != 0) return -1;
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.zone = z;
    o.mask_layer = l;
    float scale = 1.0f / sqrtf((float)d);
    /* rows are sorted: each sequence's changed rows are one block; one (batch, head) pair
       per iteration as in layer_forward, the scores of its block in its probs slot */
    int nt = attention_team(a);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int bh = 0; bh < B * NH; bh++) {
        int b = bh / NH, h = bh % NH, r0 = 0, r1;
        while (r0 < M && rows[r0] < b * S) r0++;
        for (r1 = r0; r1 < M && rows[r1] < (b + 1) * S; r1++) {}
        if (r1 == r0) continue;
        float *pr = la.probs + (int64_t)thread_id() * SS;
        const float *kh = k + (int64_t)b * S * H + h * d;
        float *ch = la.ctx + (int64_t)r0 * H + h * d;
        zl_sgemm(0, 1, r1 - r0, S, d, scale, la.q + (int64_t)r0 * H + h * d, H, kh, H, 0.0f, pr, S);
        for (int r = r0; r < r1; r++)
            softmax_row(pr + (int64_t)(r - r0) * S, in, &o, z, l, b, h, rows[r] - b * S);
        float hm = la.head_mask[h];
        if (hm == 0.0f) {
            for (int r = r0; r < r1; r++) memset(ch + (int64_t)(r - r0) * H, 0, (size_t)d * sizeof(float));
            continue;
        }
        zl_sgemm(0, 0, r1 - r0, d, S, hm, pr, S, v + (int64_t)b * S * H + h * d, H, 0.0f, ch, H);
    }
    for (int r = M; r < Mp; r++)
        memcpy(la.ctx + (int64_t)r * H, la.ctx + (int64_t)(M - 1) * H, (size_t)H * sizeof(float));
    epilogue e1 = {EPI_RES_LN, p->ob + (int64_t)l * H, la.att_ln, la.att_mean, la.att_rstd, NULL, xc,
                   p->att_ln_w + (int64_t)l * H, p->att_ln_b + (int64_t)l * H, c->layer_norm_eps};
    int rc = linear_team(la.att_sum, la.ctx, p->ow + l * HH, Mp, H, H, &e1, w16);
    int gk = m->config.gelu == ZL_GELU_TANH ? EPI_GELU_TANH : EPI_GELU;
    epilogue e2 = {gk, p->ib + (int64_t)l * I, la.inter_gelu, NULL, NULL, NULL, NULL, NULL,
                   NULL, 0.0f};
    rc |= linear_team(la.inter_pre, la.att_ln, p->iw + (int64_t)l * I * H, Mp, H, I, &e2, w16);
    epilogue e3 = {EPI_RES_LN, p->o2b + (int64_t)l * H, yc, la.out_mean, la.out_rstd, NULL, la.att_ln,
                   p->out_ln_w + (int64_t)l * H, p->out_ln_b + (int64_t)l * H, c->layer_norm_eps};
    rc |= linear_team(la.out_sum, la.inter_gelu, p->o2w + (int64_t)l * H * I, Mp, I, H, &e3, w16);
    if (rc) return -1;
    for (int r = 0; r < M; r++)
        memcpy(la.output + (int64_t)rows[r] * H, yc + (int64_t)r * H, (size_t)H * sizeof(float));
    return 0;
}

/* ----------------------------------------------------------- the layer cache */

struct zl_bert_prefix {
    const zl_bert *m;
    zl_bert_acts a;             /* inference activations */
    zl_bert_inputs in;          /* the cached pass's inputs (borrowed) */
    int valid;                  /* hidden[0..valid] hold the unmasked pass of in; -1: none */
    float *next, *k, *v;        /* [maxB, maxS, H], allocated by the first rows-path zone */
    int next_l, kv_l;           /* the layer whose unmasked output / keys and values they hold */
    int *rows;                  /* [maxB * maxS] */
    int width;                  /* width of the last logits */
    double work;
    int precision;              /* ZL_PRECISION_* of every pass */
};

zl_bert_prefix *zl_bert_prefix_new(const zl_bert *m, int maxB, int maxS)
{
    zl_bert_prefix *p = calloc(1, sizeof *p);
    if (!p) {
        zl_error_set("bert: out of memory for a layer cache");
        return NULL;
    }
    if (zl_bert_acts_alloc(&p->a, &m->config, maxB, maxS, 0) != 0) {
        free(p);
        return NULL;
    }
    p->m = m;
    p->valid = p->next_l = p->kv_l = -1;
    return p;
}

void zl_bert_prefix_free(zl_bert_prefix *p)
{
    if (!p) return;
    zl_bert_acts_free(&p->a);
    free(p->next);
    free(p->k);
    free(p->v);
    free(p->rows);
    free(p);
}

/* One pass on the cache's activations, counted as work. */
static int prefix_pass(zl_bert_prefix *p, const zl_bert_inputs *in, const zl_bert_forward_opts *o)
{
    zl_bert_forward_opts po = *o;
    po.precision = p->precision;
    if (zl_bert_forward(p->m, &p->a, in, &po) != 0) return -1;
    int L = p->a.L;
    p->work += (double)in->B * in->S * ((o->stop_layer ? o->stop_layer : L) - o->start_layer) / L;
    if (!o->stop_layer) p->width = in->S;
    return 0;
}

static void prefix_reset(zl_bert_prefix *p)
{
    p->valid = p->next_l = p->kv_l = -1;
}

int zl_bert_prefix_run(zl_bert_prefix *p, const zl_bert_inputs *in, int upto)
{
    int L = p->a.L;
    prefix_reset(p);
    if (upto < 1 || upto > L)
        return zl_error_set("bert: a layer cache runs 1..%d layers (asked for %d)", L, upto);
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.stop_layer = upto < L ? upto : 0;
    if (prefix_pass(p, in, &o) != 0) return -1;
    p->in = *in;
    p->valid = upto;
    return 0;
}

int zl_bert_prefix_forward(zl_bert_prefix *p, const zl_bert_inputs *in, const zl_bert_forward_opts *o)
{
    prefix_reset(p);
    if (o->start_layer || o->stop_layer)
        return zl_error_set("bert: a layer cache's own forward runs every layer");
    return prefix_pass(p, in, o);
}

int zl_bert_prefix_set_precision(zl_bert_prefix *p, int precision)
{
    if (precision != ZL_PRECISION_FP32 && precision != ZL_PRECISION_BF16)
        return zl_error_set("bert: layer cache: unknown precision %d", precision);
    if (precision == ZL_PRECISION_BF16 && zl_bf16_check() != 0) return -1;
    prefix_reset(p);
    p->precision = precision;
    return 0;
}

int zl_bert_prefix_logits(const zl_bert_prefix *p, const float **start, const float **end)
{
    *start = p->a.start_logits;
    *end = p->a.end_logits;
    return p->width;
}

double zl_bert_prefix_work(const zl_bert_prefix *p) { return p->work; }

/* Layer l's keys and values of the cached pass, computed once per layer. */
static int prefix_kv(zl_bert_prefix *p, int l, const zl_bf16_weights *w16)
{
    if (p->kv_l == l) return 0;
    const zl_bert_config *c = &p->m->config;
    if (layer_kv(p->m, &p->a, l, p->k, p->v, w16) != 0) return -1;
    p->kv_l = l;
    double H = c->hidden_size, I = c->intermediate_size;
    p->work += 2 * H / (4 * H + 2 * I) * p->in.B * p->in.S / c->num_hidden_layers;
    return 0;
}

/* Makes hidden[l+1] the unmasked output of layer l again (kept in p->next the first time;
 * recomputed when a whole-layer zone overwrote it first). */
static int prefix_unmasked_output(zl_bert_prefix *p, int l)
{
    size_t n = (size_t)p->in.B * p->in.S * p->a.H;
    float *out = p->a.hidden + (size_t)(l + 1) * n;
    if (p->next_l == l) {
        memcpy(out, p->next, n * sizeof(float));
        return 0;
    }
    if (p->valid < l + 1) {
        zl_bert_forward_opts o;
        zl_bert_forward_opts_init(&o);
        o.start_layer = l;
        o.stop_layer = l + 1;
        if (prefix_pass(p, &p->in, &o) != 0) return -1;
    }
    memcpy(p->next, out, n * sizeof(float));
    p->next_l = l;
    return 0;
}

/* The rows [0, W) of each of the n sequences of width S. */
static int kept_rows(int *rows, int n, int S, int W)
{
    int k = 0;
    for (int r = 0; r < n; r++)
        for (int t = 0; t < W; t++) rows[k++] = r * S + t;
    return k;
}

/* Continues at width W from hidden[k] (the narrowing of zl_bert_prefix_zone): rows [0, W)
 * of each sequence of hidden[k] move into a width-W layout that ends where the hidden
 * block ends, so hidden[0..k-1] at width S stay intact; the pass from layer k on runs on
 * narrow, then the width-S layout comes back. */
static int prefix_narrowed(zl_bert_prefix *p, int k, const zl_bert_inputs *narrow,
                           const zl_bert_forward_opts *o)
{
    zl_bert_acts *a = &p->a;
    int64_t B = a->B, S = a->S, W = narrow->S, H = a->H, L = a->L;
    float *home = a->hidden, *base = home + (L + 1) * B * (S - W) * H;
    const float *src = home + k * B * S * H;
    float *dst = base + k * B * W * H;
    /* every row moves up (dst + b W H >= src + b S H), so the last sequence goes first and
       no source row is overwritten before it has moved */
    for (int64_t b = B - 1; b >= 0; b--)
        memmove(dst + b * W * H, src + b * S * H, (size_t)(W * H) * sizeof(float));
    a->hidden = base;
    a->S = (int)W;
    int rc = prefix_pass(p, narrow, o);
    a->hidden = home;
    a->S = (int)S;
    return rc;
}

int zl_bert_prefix_zone(zl_bert_prefix *p, zl_zone z, int l, int rows, const zl_bert_inputs *narrow)
{
    const zl_bert_inputs *in = &p->in;
    int L = p->a.L;
    if (l < 0 || l >= L || p->valid < l)
        return zl_error_set("bert: layer cache: the input of layer %d is not cached (run the "
                            "prefix first, deeper layers before shallower ones)", l + 1);
    if (z == ZL_ZONE_NONE || (unsigned)z > ZL_ZONE_ALL_STRICT)
        return zl_error_set("bert: layer cache: a zone masks layer %d", l + 1);
    if (narrow && (!rows || z != ZL_ZONE_ALL || narrow->B != in->B || narrow->S < 1 || narrow->S > in->S))
        return zl_error_set("bert: layer cache: narrowing is for zone all on the rows path, at "
                            "a width up to the cached one");
    if (rows && (z == ZL_ZONE_ALL_STRICT || (z == ZL_ZONE_ALL && !narrow)))
        return zl_error_set("bert: layer cache: zone %s changes every row (no rows path)", zl_zone_name(z));
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    o.zone = z;
    o.mask_layer = l;
    o.start_layer = l;
    if (!rows) {
        p->valid = l;
        return prefix_pass(p, in, &o);
    }
    size_t n = (size_t)p->a.maxB * p->a.maxS;
    if (!p->k) {
        p->next = malloc(n * p->a.H * sizeof(float));
        p->k = malloc(n * p->a.H * sizeof(float));
        p->v = malloc(n * p->a.H * sizeof(float));
        p->rows = malloc(n * sizeof(int));
        if (!p->next || !p->k || !p->v || !p->rows) {
            free(p->next);
            free(p->k);
            free(p->v);
            free(p->rows);
            p->next = p->k = p->v = NULL;
            p->rows = NULL;
            return zl_error_set("bert: out of memory for a layer cache's rows path");
        }
    }
    zl_bf16_weights *own = NULL;
    const zl_bf16_weights *w16 = NULL;
    if (p->precision == ZL_PRECISION_BF16 && !(w16 = bf16_weights(p->m, &own))) return -1;
    int nr = narrow ? kept_rows(p->rows, in->B, in->S, narrow->S) : zl_zone_rows(z, in, p->rows);
    /* a narrowing `all` recomputes every row it keeps: no unmasked output needed */
    int rc = prefix_kv(p, l, w16) != 0 || (!narrow && prefix_unmasked_output(p, l) != 0) || nr < 0 ||
             layer_rows(p->m, &p->a, in, z, l, p->k, p->v, p->rows, nr, w16) != 0;
    zl_bf16_weights_free(own);
    if (rc) return -1;
    p->valid = l;
    p->work += (double)nr / L;
    o.start_layer = l + 1; /* L: the span head only */
    return narrow ? prefix_narrowed(p, l + 1, narrow, &o) : prefix_pass(p, in, &o);
}

/* ---------------------------------------------------------------- the loss */

static double ce_row(float *dx, const float *x, int S, int target, double scale)
{
    double mx = x[0];
    for (int t = 1; t < S; t++) mx = x[t] > mx ? x[t] : mx;
    double sum = 0.0;
    for (int t = 0; t < S; t++) sum += exp(x[t] - mx);
    double lse = mx + log(sum);
    if (dx)
        for (int t = 0; t < S; t++)
            dx[t] = (float)(scale * (exp(x[t] - lse) - (t == target ? 1.0 : 0.0)));
    return lse - x[target];
}

int zl_bert_span_loss(double *loss, float *dstart, float *dend, const float *start_logits,
                      const float *end_logits, const int32_t *start_pos,
                      const int32_t *end_pos, int B, int S)
{
    if (B < 1 || S < 1) return zl_error_set("span loss: empty batch (%d x %d)", B, S);
    for (int b = 0; b < B; b++) {
        if (start_pos[b] < 0 || start_pos[b] >= S)
            return zl_error_set("span loss: start_positions[%d] = %d outside 0..%d", b,
                                start_pos[b], S - 1);
        if (end_pos[b] < 0 || end_pos[b] >= S)
            return zl_error_set("span loss: end_positions[%d] = %d outside 0..%d", b,
                                end_pos[b], S - 1);
    }
    double total = 0.0, scale = 0.5 / B;
    for (int b = 0; b < B; b++) {
        int64_t off = (int64_t)b * S;
        total += ce_row(dstart ? dstart + off : NULL, start_logits + off, S, start_pos[b], scale);
        total += ce_row(dend ? dend + off : NULL, end_logits + off, S, end_pos[b], scale);
    }
    *loss = total * scale;
    return 0;
}

double zl_bert_forward_flops(const zl_bert_config *c, int B, int S)
{
    double N = (double)B * S, H = c->hidden_size, I = c->intermediate_size,
           E = c->embedding_size, L = c->num_hidden_layers;
    double per = 4 * N * H * H + 2 * N * H * I + 2 * (double)B * S * S * H; /* QKVO, FFN, QK^T + PV */
    double f = L * per * 2.0 + N * H * 2 * 2.0;
    if (zl_bert_config_has_projection(c)) f += 2.0 * N * E * H;
    return f;
}
