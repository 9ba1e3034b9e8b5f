/* test_gelu.c — which GELU a model computes: hidden_act names, zonelab's "gelu" key,
 * Google TF checkpoints (tanh by default, as modeling.py), the saved config keeping the
 * form, and the forward differing between the two forms. The forms' values and
 * gradients are checked by the golden fixtures (golden_tiny: erf; golden_gelu_tanh). */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "bert.h"
#include "checkpoint.h"
#include "error.h"
#include "tfckpt.h"
#include "zl_test.h"

#include <stdlib.h>
#include <string.h>

#define CFG(extra)                                                                              \
    "{\"vocab_size\": 30, \"hidden_size\": 16, \"num_hidden_layers\": 2, "                      \
    "\"num_attention_heads\": 2, \"intermediate_size\": 32, \"max_position_embeddings\": 16" \
    extra "}"

static void test_config(void)
{
    zl_bert_config c;
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"hidden_act\": \"gelu\"")) == 0);
    CHECK(c.gelu == ZL_GELU_ERF && c.gelu_origin == ZL_GELU_FROM_HF_DEFAULT);
    CHECK(strstr(zl_bert_gelu_note(&c), "Hugging Face") != NULL);
    const char *tanh_names[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate"};
    for (int i = 0; i < 4; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, CFG(", \"hidden_act\": \"%s\""), tanh_names[i]);
        CHECK(zl_bert_config_parse(&c, "cfg", buf) == 0);
        CHECK(c.gelu == ZL_GELU_TANH && c.gelu_origin == ZL_GELU_FROM_CONFIG);
    }
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"gelu\": \"tanh\"")) == 0);
    CHECK(c.gelu == ZL_GELU_TANH && c.gelu_origin == ZL_GELU_FROM_CONFIG);
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"hidden_act\": \"gelu_new\", \"gelu\": \"erf\"")) == -1);
    CHECK(strstr(zl_error_get(), "contradicts hidden_act \"gelu_new\"") != NULL);
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"gelu\": \"exact\"")) == -1);
    CHECK(strstr(zl_error_get(), "field gelu must be \"erf\" or \"tanh\"") != NULL);
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"hidden_act\": \"relu\"")) == -1);
    CHECK(strstr(zl_error_get(), "hidden_act \"relu\" is not supported") != NULL);
    /* the written config always names the form */
    CHECK(zl_bert_config_parse(&c, "cfg", CFG("")) == 0);
    c.gelu = ZL_GELU_TANH;
    char *js = zl_bert_config_to_json(&c);
    CHECK(js && strstr(js, "\"gelu\":\t\"tanh\"") != NULL);
    free(js);
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int forward(zl_bert *m, float *logits)
{
    enum { B = 1, S = 8 };
    int32_t ids[B * S] = {2, 7, 9, 3, 11, 12, 13, 3};
    zl_bert_acts a;
    if (zl_bert_acts_alloc(&a, &m->config, B, S, 0) != 0) return -1;
    zl_bert_inputs in = {B, S, ids, NULL, NULL, NULL, NULL};
    zl_bert_forward_opts o;
    zl_bert_forward_opts_init(&o);
    int rc = zl_bert_forward(m, &a, &in, &o);
    if (rc == 0) memcpy(logits, a.start_logits, sizeof(float) * B * S);
    zl_bert_acts_free(&a);
    return rc;
}

static double max_diff(const float *a, const float *b, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* A TF checkpoint whose bert_config.json says "gelu" computes tanh; --gelu (the caller)
 * overrides; saving keeps the form. */
static void test_tf_default(void)
{
    zl_bert_config c;
    /* weights large enough that pre-activations reach where the forms differ (|x| ~ 2) */
    CHECK(zl_bert_config_parse(&c, "cfg", CFG(", \"hidden_act\": \"gelu\", \"initializer_range\": 0.5")) == 0);
    zl_bert *m = zl_bert_new(&c);
    CHECK(m && zl_bert_init_random(m, 7) == 0);
    if (!m) return;
    float erf_logits[8], tanh_logits[8], got[8];
    CHECK(forward(m, erf_logits) == 0);
    m->config.gelu = ZL_GELU_TANH;
    CHECK(forward(m, tanh_logits) == 0);
    CHECK(max_diff(erf_logits, tanh_logits, 8) > 1e-5); /* the forms give other numbers */

    char dir[] = "/tmp/zl_test_gelu_XXXXXX", p[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/bert_config.json", dir);
    CHECK(write_file(p, CFG(", \"hidden_act\": \"gelu\"")) == 0);
    zl_tensor_map *tf = zl_checkpoint_to_map(m, 1);
    snprintf(p, sizeof p, "%s/bert_model.ckpt", dir);
    CHECK(tf && zl_tfckpt_save(p, tf) == 0);
    zl_tensor_map_free(tf);
    zl_bert *r = zl_bert_load(dir);
    CHECK(r != NULL);
    if (r) {
        CHECK(r->config.gelu == ZL_GELU_TANH && r->config.gelu_origin == ZL_GELU_FROM_TF_DEFAULT);
        CHECK(strstr(zl_bert_gelu_note(&r->config), "Google TF checkpoint") != NULL);
        CHECK(forward(r, got) == 0);
        CHECK(max_diff(got, tanh_logits, 8) == 0);
        /* saved as safetensors: the config says "gelu": "tanh", so it stays tanh */
        char dir2[] = "/tmp/zl_test_gelu2_XXXXXX";
        CHECK(mkdtemp(dir2) != NULL);
        CHECK(zl_bert_save(r, dir2) == 0);
        zl_bert *s = zl_bert_load(dir2);
        CHECK(s && s->config.gelu == ZL_GELU_TANH && s->config.gelu_origin == ZL_GELU_FROM_CONFIG);
        if (s) CHECK(forward(s, got) == 0 && max_diff(got, tanh_logits, 8) == 0);
        zl_bert_free(s);
        snprintf(p, sizeof p, "rm -rf %s", dir2);
        CHECK(system(p) == 0);
    }
    zl_bert_free(r);
    /* the same TF checkpoint with a config naming the form explicitly: that form */
    snprintf(p, sizeof p, "%s/bert_config.json", dir);
    CHECK(write_file(p, CFG(", \"hidden_act\": \"gelu\", \"gelu\": \"erf\"")) == 0);
    r = zl_bert_load(dir);
    CHECK(r && r->config.gelu == ZL_GELU_ERF);
    if (r) CHECK(forward(r, got) == 0 && max_diff(got, erf_logits, 8) == 0);
    zl_bert_free(r);
    snprintf(p, sizeof p, "rm -rf %s", dir);
    CHECK(system(p) == 0);
    zl_bert_free(m);
}

int main(void)
{
    test_config();
    test_tf_default();
    return zl_test_summary("test_gelu");
}
