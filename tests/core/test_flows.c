/* test_flows.c — the Attention Graph, counts, influence, comparison, queries and JSON
 * on a hand-made attention tensor whose results are worked out below by hand. */
#include "error.h"
#include "flows.h"
#include "zl_test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* L = 2 layers, NH = 2 heads, S = 4 tokens: [CLS] x y [SEP].
 * A[l][j][from][to]: */
static const float ATT[2][2][4][4] = {
    {   /* layer 0 */
        {{1, 0, 0, 0}, {0.5f, 0.2f, 0.3f, 0}, {0, 0, 0, 1}, {0.25f, 0.25f, 0.25f, 0.25f}},   /* head 0 */
        {{1, 0, 0, 0}, {0, 0.35f, 0.35f, 0.3f}, {0.25f, 0.25f, 0.25f, 0.25f}, {1, 0, 0, 0}}, /* head 1 */
    },
    {   /* layer 1 */
        {{0.1f, 0.6f, 0.3f, 0}, {0, 0, 0, 1}, {0, 0, 0, 1}, {0, 0, 0, 1}},
        {{0.2f, 0.4f, 0.1f, 0.3f}, {0, 0, 0, 1}, {0, 0, 0, 1}, {0, 0, 0, 1}},
    },
};

static zl_tensor *att_tensor(void)
{
    int64_t shape[4] = {2, 2, 4, 4};
    zl_tensor *t = zl_tensor_new(ZL_F32, 4, shape);
    memcpy(t->data, ATT, sizeof ATT);
    return t;
}

static int has_edge(const zl_flows_graph *g, int l, int a, int b, uint64_t heads)
{
    for (int i = 0; i < g->n_edges; i++)
        if (g->edges[i].layer == l && g->edges[i].from == a && g->edges[i].to == b)
            return g->edges[i].heads == heads;
    return 0;
}

static int set_is(const unsigned char *row, int S, const char *want) /* want: "0110" */
{
    for (int t = 0; t < S; t++)
        if ((row[t] != 0) != (want[t] == '1')) return 0;
    return 1;
}

static const char *TOKENS[4] = {"[CLS]", "x", "y", "[SEP]"};

static void test_default_graph(const zl_tensor *att)
{
    zl_flows_opts o;
    zl_flows_opts_init(&o);
    o.tokens = TOKENS;
    zl_flows_graph *g = zl_flows_build(att, 0, 0, &o);
    CHECK(g != NULL);
    if (!g) return;
    /* layer 1, from [CLS]: head 0 has 0.6 on x (0.3 on y is NOT > 0.3); head 1 has 0.4 on x
     * (0.3 on [SEP] is not > 0.3) -> one edge (1, 0, 1, {0, 1}); c_1 = [0, 2, 0, 0]. */
    CHECK(g->n_edges == 4);
    CHECK(has_edge(g, 1, 0, 1, 3));
    /* layer 0, from x only: head 0 -> [CLS] (0.5; y's 0.3 is not an edge); head 1 -> x, y
     * (0.35 each). Rows of y and [SEP] (not nodes at node layer 1) add nothing. */
    CHECK(has_edge(g, 0, 1, 0, 1));
    CHECK(has_edge(g, 0, 1, 1, 2));
    CHECK(has_edge(g, 0, 1, 2, 2));
    CHECK(g->edges[0].layer == 0 && g->edges[0].to == 0 && g->edges[3].layer == 1); /* sorted */
    int c0[4] = {1, 1, 1, 0}, c1[4] = {0, 2, 0, 0};
    for (int t = 0; t < 4; t++) {
        CHECK(g->counts[t] == c0[t]);
        CHECK(g->counts[4 + t] == c1[t]);
    }
    CHECK(set_is(g->nodes + 8, 4, "1000"));  /* node layer 2: the target [CLS] */
    CHECK(set_is(g->nodes + 4, 4, "0100"));
    CHECK(set_is(g->nodes + 0, 4, "1110"));
    /* I_1 = c_1; I_0 = (0.5 * c_0 + c_1) / 2 */
    double i0[4] = {0.25, 1.25, 0.25, 0}, i1[4] = {0, 2, 0, 0};
    for (int t = 0; t < 4; t++) {
        CHECK_NEAR(g->influence[t], i0[t], 1e-12);
        CHECK_NEAR(g->influence[4 + t], i1[t], 1e-12);
    }
    CHECK(zl_flows_circles(g->influence[1]) == 2 && zl_flows_circles(g->influence[0]) == 1);
    CHECK(zl_flows_circles(0) == 0 && zl_flows_circles(7.2) == 5 && zl_flows_circles(3.0) == 3);
    CHECK(g->first_segment == 4); /* up to and with the first [SEP] */
    int fan[ZL_FLOWS_MAX_HEADS];
    CHECK(zl_flows_token_heads(g, 0, 1, fan) == 3 && fan[0] == 1 && fan[1] == 2);

    /* queries: backward from the target; forward from y at node layer 0 */
    unsigned char out[12];
    CHECK(zl_flows_trace(g, 2, g->target, 1, ZL_FLOWS_BACKWARD, 0, NULL, out) == 4);
    CHECK(set_is(out + 8, 4, "1000") && set_is(out + 4, 4, "0100") && set_is(out, 4, "1110"));
    int y = 2, sep = 3;
    CHECK(zl_flows_trace(g, 0, &y, 1, ZL_FLOWS_FORWARD, 0, NULL, out) == 2);
    CHECK(set_is(out, 4, "0010") && set_is(out + 4, 4, "0100") && set_is(out + 8, 4, "1000"));
    CHECK(zl_flows_trace(g, 0, &sep, 1, ZL_FLOWS_FORWARD, 0, NULL, out) == 0);
    int bad = 9;
    CHECK(zl_flows_trace(g, 0, &bad, 1, ZL_FLOWS_FORWARD, 0, NULL, out) == -1);
    CHECK(strstr(zl_error_get(), "token 9") != NULL);

    /* JSON contract */
    char *js = zl_flows_json(g, 0);
    CHECK(js != NULL);
    cJSON *j = cJSON_Parse(js);
    CHECK(j != NULL);
    if (j) {
        CHECK(cJSON_GetObjectItem(j, "num_layers")->valueint == 2);
        CHECK_NEAR(cJSON_GetObjectItem(j, "tau")->valuedouble, 0.3, 1e-15);
        CHECK_NEAR(cJSON_GetObjectItem(j, "alpha")->valuedouble, 0.5, 1e-15);
        CHECK(strcmp(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "tokens"), 3)->valuestring, "[SEP]") == 0);
        cJSON *tg = cJSON_GetObjectItem(j, "target");
        CHECK(cJSON_GetArraySize(tg) == 1 && cJSON_GetArrayItem(tg, 0)->valueint == 0);
        cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "edges"), 0);
        CHECK(cJSON_GetArraySize(e0) == 4 && cJSON_GetArrayItem(e0, 0)->valueint == 0 &&
              cJSON_GetArrayItem(e0, 1)->valueint == 1 && cJSON_GetArrayItem(e0, 2)->valueint == 0);
        cJSON *h0 = cJSON_GetArrayItem(e0, 3);
        CHECK(cJSON_GetArraySize(h0) == 1 && cJSON_GetArrayItem(h0, 0)->valueint == 0);
        cJSON *inf = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "influence"), 0);
        CHECK_NEAR(cJSON_GetArrayItem(inf, 1)->valuedouble, 1.25, 1e-15);
        cJSON *cnt = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "counts"), 1);
        CHECK(cJSON_GetArraySize(cnt) == 4 && cJSON_GetArrayItem(cnt, 1)->valueint == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "nodes")) == 3);
        CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "nodes"), 0)) == 3);
        cJSON_Delete(j);
    }
    free(js);
    zl_flows_free(g);
}

static void test_tau_025_and_queries(const zl_tensor *att)
{
    zl_flows_opts o;
    zl_flows_opts_init(&o);
    o.tau = 0.25;
    zl_flows_graph *g = zl_flows_build(att, 0, 0, &o);
    CHECK(g != NULL);
    if (!g) return;
    /* layer 1 from [CLS]: head 0 -> x (0.6), y (0.3); head 1 -> x (0.4), [SEP] (0.3) */
    CHECK(has_edge(g, 1, 0, 1, 3) && has_edge(g, 1, 0, 2, 1) && has_edge(g, 1, 0, 3, 2));
    /* layer 0 rows x, y, [SEP]: x: h0 -> [CLS], y; h1 -> x, y, [SEP]. y: h0 -> [SEP]
     * (h1's 0.25s are not > 0.25). [SEP]: h1 -> [CLS]. */
    CHECK(has_edge(g, 0, 1, 0, 1) && has_edge(g, 0, 1, 1, 2) && has_edge(g, 0, 1, 2, 3) &&
          has_edge(g, 0, 1, 3, 2) && has_edge(g, 0, 2, 3, 1) && has_edge(g, 0, 3, 0, 2));
    CHECK(g->n_edges == 9);
    int c0[4] = {2, 1, 2, 2}, c1[4] = {0, 2, 1, 1};
    for (int t = 0; t < 4; t++) CHECK(g->counts[t] == c0[t] && g->counts[4 + t] == c1[t]);
    /* I_0 = (0.5 c_0 + c_1) / 2 */
    CHECK_NEAR(g->influence[0], 0.5, 1e-12);
    CHECK_NEAR(g->influence[2], 1.0, 1e-12);
    CHECK_NEAR(g->influence[3], 1.0, 1e-12);

    unsigned char out[12];
    /* brushing x and y at node layer 1, backward: union {all}, intersection {[SEP]} */
    int xy[2] = {1, 2};
    CHECK(zl_flows_trace(g, 1, xy, 2, ZL_FLOWS_BACKWARD, 0, NULL, out) == 4);
    CHECK(set_is(out, 4, "1111") && set_is(out + 4, 4, "0110"));
    CHECK(zl_flows_trace(g, 1, xy, 2, ZL_FLOWS_BACKWARD, 1, NULL, out) == 1);
    CHECK(set_is(out, 4, "0001"));
    /* hovering a head: only head 1 at layer 1, only head 0 at layer 0 */
    unsigned char hm[4] = {1, 0, 0, 1}; /* [layer][head] */
    int cls = 0;
    CHECK(zl_flows_trace(g, 2, &cls, 1, ZL_FLOWS_BACKWARD, 0, hm, out) == 4);
    CHECK(set_is(out + 4, 4, "0101") && set_is(out, 4, "1010"));
    /* paths from [SEP] at node layer 0 to [CLS] at node layer 2: through x and y */
    int sep = 3;
    uint64_t heads[2];
    CHECK(zl_flows_between(g, 0, &sep, 1, 2, &cls, 1, 0, out, heads) == 4);
    CHECK(set_is(out, 4, "0001") && set_is(out + 4, 4, "0110") && set_is(out + 8, 4, "1000"));
    CHECK(heads[0] == 3 && heads[1] == 3);
    /* no path from [CLS] at node layer 0 to y at node layer 1 ... */
    int y = 2;
    CHECK(zl_flows_between(g, 0, &cls, 1, 1, &y, 1, 0, out, heads) == 0);
    CHECK(set_is(out, 4, "0000") && heads[0] == 0);
    CHECK(zl_flows_between(g, 1, &y, 1, 1, &y, 1, 0, out, heads) == -1); /* same layer */
    zl_flows_free(g);
}

static void test_heads_targets_compare(const zl_tensor *att)
{
    zl_flows_opts o;
    zl_flows_opts_init(&o);
    unsigned char only1[4] = {0, 1, 0, 1};
    o.heads = only1;
    zl_flows_graph *a = zl_flows_build(att, 0, 0, &o);
    zl_flows_opts_init(&o);
    zl_flows_graph *b = zl_flows_build(att, 0, 0, &o);
    CHECK(a && b);
    if (!a || !b) return;
    /* through head 1 only: (1,0,1,{1}), (0,1,1,{1}), (0,1,2,{1}) */
    CHECK(a->n_edges == 3 && has_edge(a, 1, 0, 1, 2) && has_edge(a, 0, 1, 1, 2) && has_edge(a, 0, 1, 2, 2));
    CHECK_NEAR(a->influence[1], 0.75, 1e-12); /* (0.5 * 1 + 1) / 2 */
    CHECK_NEAR(a->influence[2], 0.25, 1e-12);
    zl_flows_compare *c = zl_flows_compare_new(a, b);
    CHECK(c != NULL);
    if (c) {
        CHECK(c->nodes[0] == ZL_FLOWS_ONLY_B && c->nodes[1] == ZL_FLOWS_SHARED && c->nodes[2] == ZL_FLOWS_SHARED &&
              c->nodes[3] == ZL_FLOWS_NONE);
        CHECK(c->nodes[5] == ZL_FLOWS_SHARED && c->nodes[8] == ZL_FLOWS_SHARED);
        CHECK(c->heads[0] == ZL_FLOWS_ONLY_B && c->heads[1] == ZL_FLOWS_SHARED);
        CHECK(c->count[ZL_FLOWS_SHARED] == 4 && c->count[ZL_FLOWS_ONLY_B] == 1 && c->count[ZL_FLOWS_ONLY_A] == 0);
        zl_flows_compare_free(c);
    }
    char *js = zl_flows_compare_json(a, b, 1);
    cJSON *j = js ? cJSON_Parse(js) : NULL;
    CHECK(j != NULL);
    if (j) {
        cJSON *ob = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "only_b"), 0);
        CHECK(cJSON_GetArraySize(ob) == 1 && cJSON_GetArrayItem(ob, 0)->valueint == 0);
        CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "shared"), 0)) == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "only_a"), 0)) == 0);
        cJSON *hs = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "heads_shared"), 0);
        CHECK(cJSON_GetArraySize(hs) == 1 && cJSON_GetArrayItem(hs, 0)->valueint == 1);
        cJSON *ha = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "a"), "heads"), 0);
        CHECK(cJSON_GetArraySize(ha) == 1);
        CHECK(cJSON_GetObjectItem(j, "b") && cJSON_GetObjectItem(cJSON_GetObjectItem(j, "b"), "edges"));
        cJSON_Delete(j);
    }
    free(js);
    zl_flows_free(a);

    /* answer target {y, x} (given unsorted, with a duplicate): rows x and y at layer 1
     * put 1.0 on [SEP] in both heads -> c_1([SEP]) = 4; [SEP] at layer 0: head 1 -> [CLS]. */
    zl_flows_opts_init(&o);
    int tg[3] = {2, 1, 2};
    o.target = tg;
    o.n_target = 3;
    zl_flows_graph *t = zl_flows_build(att, 0, 0, &o);
    CHECK(t && t->n_target == 2 && t->target[0] == 1 && t->target[1] == 2);
    if (t) {
        CHECK(t->counts[4 + 3] == 4 && t->counts[0] == 1 && t->n_edges == 3);
        CHECK_NEAR(t->influence[3], 2.0, 1e-12);
        CHECK_NEAR(t->influence[0], 0.25, 1e-12);
    }
    zl_flows_free(t);

    /* seq_len: only the first 3 tokens ([SEP] as padding) */
    zl_flows_opts_init(&o);
    o.tau = 0.25;
    zl_flows_graph *s3 = zl_flows_build(att, 0, 3, &o);
    CHECK(s3 && s3->S == 3 && !has_edge(s3, 1, 0, 3, 2) && has_edge(s3, 1, 0, 2, 1));
    zl_flows_free(s3);

    /* errors */
    zl_flows_opts_init(&o);
    o.tau = 1.5;
    CHECK(zl_flows_build(att, 0, 0, &o) == NULL && strstr(zl_error_get(), "tau") != NULL);
    zl_flows_opts_init(&o);
    int far = 4;
    o.target = &far;
    o.n_target = 1;
    CHECK(zl_flows_build(att, 0, 0, &o) == NULL && strstr(zl_error_get(), "target token 4") != NULL);
    CHECK(zl_flows_build(att, 1, 0, NULL) == NULL && strstr(zl_error_get(), "batch") != NULL);
    int64_t s3d[3] = {2, 4, 4};
    zl_tensor *bad = zl_tensor_new(ZL_F32, 3, s3d);
    CHECK(zl_flows_build(bad, 0, 0, NULL) == NULL);
    zl_tensor_free(bad);
    zl_tensor *nan = zl_tensor_clone(att);
    ZL_F32P(nan)[16 * 2 + 4 * 0 + 1] = NAN; /* layer 1, head 0, row 0, column 1 */
    CHECK(zl_flows_build(nan, 0, 0, NULL) == NULL && strstr(zl_error_get(), "not finite") != NULL);
    zl_tensor_free(nan);
    int64_t s5[5] = {2, 3, 2, 4, 4};
    zl_tensor *t5 = zl_tensor_new(ZL_F32, 5, s5);
    zl_flows_graph *other = zl_flows_build(t5, 2, 0, NULL); /* all zeros: no edges */
    CHECK(other && other->n_edges == 0);
    zl_flows_graph *g3 = zl_flows_build(att, 0, 3, NULL);
    CHECK(zl_flows_compare_new(b, g3) == NULL && strstr(zl_error_get(), "different shapes") != NULL);
    zl_flows_free(g3);

    /* a drawing of both graphs renders and saves */
    zl_pdf *p = zl_pdf_new();
    zl_flows_draw_opts d = {.title = "test", .name_a = "A", .name_b = "B"};
    CHECK(zl_flows_draw(p, b, other, &d) == 0);
    CHECK(zl_flows_draw(p, b, NULL, NULL) == 0);
    CHECK(zl_pdf_page_count(p) == 2);
    zl_pdf_free(p);
    zl_flows_free(other);
    zl_tensor_free(t5);
    zl_flows_free(b);
}

int main(void)
{
    zl_tensor *att = att_tensor();
    test_default_graph(att);
    test_tau_025_and_queries(att);
    test_heads_targets_compare(att);
    zl_tensor_free(att);
    return zl_test_summary("test_flows");
}
