/* flows.c — the Attention Graph, counts, influence, comparison, queries and JSON
 * export of flows.h. Drawing lives in flows_draw.c. */
#include "flows.h"
#include "error.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void zl_flows_opts_init(zl_flows_opts *o)
{
    memset(o, 0, sizeof *o);
    o->tau = 0.3;
    o->alpha = 0.5;
}

void zl_flows_free(zl_flows_graph *g)
{
    if (!g) return;
    if (g->tokens)
        for (int i = 0; i < g->S; i++) free(g->tokens[i]);
    free(g->tokens);
    free(g->target);
    free(g->heads);
    free(g->nodes);
    free(g->counts);
    free(g->influence);
    free(g->edges);
    free(g->edge_start);
    free(g);
}

int zl_flows_circles(double influence)
{
    if (!(influence > 0)) return 0; /* also NaN */
    double c = ceil(influence);
    return c >= 5 ? 5 : (int)c;
}

static int popcount64(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static int cmp_edge(const void *pa, const void *pb)
{
    const zl_flows_edge *a = pa, *b = pb;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    return (a->to > b->to) - (a->to < b->to);
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Checks the options and copies targets, heads and tokens into g. */
static int setup(zl_flows_graph *g, const zl_flows_opts *o)
{
    int L = g->L, NH = g->NH, S = g->S;
    if (!isfinite(o->tau) || o->tau < 0 || o->tau >= 1)
        return zl_error_set("flows: tau must be in [0, 1), got %g", o->tau);
    if (!isfinite(o->alpha) || o->alpha <= 0 || o->alpha > 1)
        return zl_error_set("flows: alpha must be in (0, 1], got %g", o->alpha);
    g->tau = o->tau;
    g->alpha = o->alpha;
    int nt = o->target ? o->n_target : 1;
    if (nt < 1) return zl_error_set("flows: the target set is empty");
    g->target = malloc((size_t)nt * sizeof *g->target);
    g->heads = malloc((size_t)L * NH);
    if (!g->target || !g->heads) return zl_error_set("flows: out of memory");
    for (int i = 0; i < nt; i++) {
        int t = o->target ? o->target[i] : 0;
        if (t < 0 || t >= S)
            return zl_error_set("flows: target token %d is outside the sequence (0..%d)", t, S - 1);
        g->target[i] = t;
    }
    qsort(g->target, (size_t)nt, sizeof *g->target, cmp_int);
    int k = 0;
    for (int i = 0; i < nt; i++)
        if (k == 0 || g->target[k - 1] != g->target[i]) g->target[k++] = g->target[i];
    g->n_target = k;
    for (int i = 0; i < L * NH; i++) g->heads[i] = o->heads ? (o->heads[i] != 0) : 1;
    if (o->tokens) {
        if (!(g->tokens = calloc((size_t)S, sizeof *g->tokens))) return zl_error_set("flows: out of memory");
        for (int i = 0; i < S; i++) {
            if (!o->tokens[i]) return zl_error_set("flows: token %d is missing", i);
            if (!(g->tokens[i] = dupstr(o->tokens[i]))) return zl_error_set("flows: out of memory");
        }
    }
    g->first_segment = S;
    if (o->first_segment > 0) {
        g->first_segment = o->first_segment < S ? o->first_segment : S;
    } else if (g->tokens) {
        for (int i = 0; i < S; i++)
            if (strcmp(g->tokens[i], "[SEP]") == 0) {
                g->first_segment = i + 1;
                break;
            }
    }
    return 0;
}

zl_flows_graph *zl_flows_build(const zl_tensor *att, int batch, int seq_len, const zl_flows_opts *o)
{
    zl_flows_opts def;
    if (!o) {
        zl_flows_opts_init(&def);
        o = &def;
    }
    if (!att || !att->data || att->dtype != ZL_F32 || (att->ndim != 4 && att->ndim != 5)) {
        zl_error_set("flows: attentions must be an f32 tensor [layers, heads, seq, seq] or "
                     "[layers, batch, heads, seq, seq]");
        return NULL;
    }
    int five = att->ndim == 5;
    int64_t L = att->shape[0], B = five ? att->shape[1] : 1, NH = att->shape[five ? 2 : 1];
    int64_t Sfull = att->shape[five ? 3 : 2];
    if (att->shape[five ? 4 : 3] != Sfull || L < 1 || NH < 1 || Sfull < 1 || L > 4096 || Sfull > 1 << 20) {
        zl_error_set("flows: attentions must be square over the sequence, got [%lld, ..., %lld, %lld]",
                     (long long)L, (long long)Sfull, (long long)att->shape[att->ndim - 1]);
        return NULL;
    }
    if (NH > ZL_FLOWS_MAX_HEADS) {
        zl_error_set("flows: %lld heads; at most %d are supported", (long long)NH, ZL_FLOWS_MAX_HEADS);
        return NULL;
    }
    if (batch < 0 || batch >= B) {
        zl_error_set("flows: batch index %d outside 0..%lld", batch, (long long)B - 1);
        return NULL;
    }
    if (seq_len < 0 || seq_len > Sfull) {
        zl_error_set("flows: sequence length %d outside 1..%lld", seq_len, (long long)Sfull);
        return NULL;
    }
    int S = seq_len ? seq_len : (int)Sfull;
    zl_flows_graph *g = calloc(1, sizeof *g);
    if (!g) {
        zl_error_set("flows: out of memory");
        return NULL;
    }
    g->L = (int)L;
    g->NH = (int)NH;
    g->S = S;
    if (setup(g, o) != 0) goto fail;
    g->nodes = calloc((size_t)(L + 1) * S, 1);
    g->counts = calloc((size_t)L * S, sizeof *g->counts);
    g->influence = calloc((size_t)L * S, sizeof *g->influence);
    g->edge_start = calloc((size_t)L * S + 1, sizeof *g->edge_start);
    if (!g->nodes || !g->counts || !g->influence || !g->edge_start) {
        zl_error_set("flows: out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_target; i++) g->nodes[L * S + g->target[i]] = 1;

    /* Backwards from the target (section 4.1): the nodes at node layer l+1 are the
     * "from" rows of attention layer l; every column they attend to above tau through
     * an allowed head becomes a node at node layer l. Compared in float32, the
     * attention's own precision, so A == (float)tau is not an edge. */
    const float tau = (float)g->tau;
    const float *base = ZL_F32P(att);
    int cap = 0;
    for (int l = (int)L - 1; l >= 0; l--) {
        const unsigned char *from = g->nodes + (size_t)(l + 1) * S;
        unsigned char *to = g->nodes + (size_t)l * S;
        for (int a = 0; a < S; a++) {
            if (!from[a]) continue;
            for (int b = 0; b < S; b++) {
                uint64_t heads = 0;
                for (int j = 0; j < NH; j++) {
                    const float *A = base + (((size_t)l * B + batch) * NH + j) * Sfull * Sfull;
                    float v = A[(size_t)a * Sfull + b];
                    if (!isfinite(v)) {
                        zl_error_set("flows: attention probability at layer %d, head %d, row %d, "
                                     "column %d is not finite", l, j, a, b);
                        goto fail;
                    }
                    if (g->heads[l * NH + j] && v > tau) heads |= (uint64_t)1 << j;
                }
                if (!heads) continue;
                if (g->n_edges == cap) {
                    if (cap > INT_MAX / 4) {
                        zl_error_set("flows: more than %d edges; raise tau", cap);
                        goto fail;
                    }
                    cap = cap ? 2 * cap : 256;
                    zl_flows_edge *e = realloc(g->edges, (size_t)cap * sizeof *e);
                    if (!e) {
                        zl_error_set("flows: out of memory");
                        goto fail;
                    }
                    g->edges = e;
                }
                g->edges[g->n_edges++] = (zl_flows_edge){l, a, b, heads};
                g->counts[(size_t)l * S + b] += popcount64(heads);
                to[b] = 1;
            }
        }
    }
    if (g->n_edges > 1) qsort(g->edges, (size_t)g->n_edges, sizeof *g->edges, cmp_edge);
    /* CSR offsets over (layer, from). */
    for (int i = 0; i < g->n_edges; i++) g->edge_start[(size_t)g->edges[i].layer * S + g->edges[i].from + 1]++;
    for (size_t i = 0; i < (size_t)L * S; i++) g->edge_start[i + 1] += g->edge_start[i];

    /* Eq. 4, 0-based: I_l = mean over l' = l..L-1 of alpha^(L-1-l') c_l'. */
    for (int w = 0; w < S; w++) {
        double sum = 0;
        for (int l = (int)L - 1; l >= 0; l--) {
            sum += pow(g->alpha, (double)(L - 1 - l)) * g->counts[(size_t)l * S + w];
            g->influence[(size_t)l * S + w] = sum / (double)(L - l);
        }
    }
    return g;
fail:
    zl_flows_free(g);
    return NULL;
}

uint64_t zl_flows_token_heads(const zl_flows_graph *g, int layer, int from, int *fanout)
{
    if (fanout)
        for (int j = 0; j < g->NH; j++) fanout[j] = 0;
    if (layer < 0 || layer >= g->L || from < 0 || from >= g->S) return 0;
    uint64_t all = 0;
    int i0 = g->edge_start[(size_t)layer * g->S + from], i1 = g->edge_start[(size_t)layer * g->S + from + 1];
    for (int i = i0; i < i1; i++) {
        uint64_t h = g->edges[i].heads;
        all |= h;
        if (fanout)
            for (int j = 0; j < g->NH; j++) fanout[j] += (int)((h >> j) & 1);
    }
    return all;
}

/* ---- comparison ---- */

static uint64_t layer_heads(const zl_flows_graph *g, int l)
{
    uint64_t h = 0;
    int i0 = g->edge_start[(size_t)l * g->S], i1 = g->edge_start[(size_t)(l + 1) * g->S];
    for (int i = i0; i < i1; i++) h |= g->edges[i].heads;
    return h;
}

static int same_shape(const zl_flows_graph *a, const zl_flows_graph *b)
{
    if (!a || !b) return zl_error_set("flows: compare needs two graphs");
    if (a->L != b->L || a->NH != b->NH || a->S != b->S)
        return zl_error_set("flows: cannot compare graphs of different shapes (%d layers, %d heads, "
                            "%d tokens vs %d, %d, %d)", a->L, a->NH, a->S, b->L, b->NH, b->S);
    return 0;
}

zl_flows_compare *zl_flows_compare_new(const zl_flows_graph *a, const zl_flows_graph *b)
{
    if (same_shape(a, b) != 0) return NULL;
    zl_flows_compare *c = calloc(1, sizeof *c);
    if (!c) goto oom;
    c->L = a->L;
    c->NH = a->NH;
    c->S = a->S;
    size_t nn = (size_t)(a->L + 1) * a->S;
    c->nodes = malloc(nn);
    c->heads = malloc((size_t)a->L * a->NH);
    if (!c->nodes || !c->heads) goto oom;
    for (size_t i = 0; i < nn; i++) {
        c->nodes[i] = (unsigned char)((a->nodes[i] ? ZL_FLOWS_ONLY_A : 0) | (b->nodes[i] ? ZL_FLOWS_ONLY_B : 0));
        c->count[c->nodes[i]]++;
    }
    for (int l = 0; l < a->L; l++) {
        uint64_t ha = layer_heads(a, l), hb = layer_heads(b, l);
        for (int j = 0; j < a->NH; j++)
            c->heads[l * a->NH + j] = (unsigned char)(((ha >> j) & 1) | (((hb >> j) & 1) << 1));
    }
    return c;
oom:
    zl_error_set("flows: out of memory");
    zl_flows_compare_free(c);
    return NULL;
}

void zl_flows_compare_free(zl_flows_compare *c)
{
    if (!c) return;
    free(c->nodes);
    free(c->heads);
    free(c);
}

/* ---- queries ---- */

static int check_sel(const zl_flows_graph *g, int layer, const int *tokens, int n)
{
    if (layer < 0 || layer > g->L) return zl_error_set("flows: layer %d outside 0..%d", layer, g->L);
    if (n < 1 || !tokens) return zl_error_set("flows: no token selected");
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= g->S)
            return zl_error_set("flows: token %d outside 0..%d", tokens[i], g->S - 1);
    return 0;
}

static uint64_t allowed(const zl_flows_graph *g, const unsigned char *heads, int l)
{
    if (!heads) return ~(uint64_t)0;
    uint64_t m = 0;
    for (int j = 0; j < g->NH; j++)
        if (heads[l * g->NH + j]) m |= (uint64_t)1 << j;
    return m;
}

int zl_flows_trace(const zl_flows_graph *g, int layer, const int *tokens, int n, zl_flows_dir dir,
                   int intersect, const unsigned char *heads, unsigned char *out)
{
    if (!g || !out) return zl_error_set("flows: trace needs a graph and an output");
    if (check_sel(g, layer, tokens, n) != 0) return -1;
    int S = g->S, L = g->L;
    memset(out, 0, (size_t)(L + 1) * S);
    int *cnt = calloc((size_t)S, sizeof *cnt);
    if (!cnt) return zl_error_set("flows: out of memory");
    for (int i = 0; i < n; i++) out[(size_t)layer * S + tokens[i]] = 1;
    int reached = 0;
    int step = dir == ZL_FLOWS_FORWARD ? 1 : -1;
    for (int k = layer; dir == ZL_FLOWS_FORWARD ? k < L : k > 0; k += step) {
        /* attention layer between node layers k and k+step */
        int al = dir == ZL_FLOWS_FORWARD ? k : k - 1;
        const unsigned char *cur = out + (size_t)k * S;
        unsigned char *next = out + (size_t)(k + step) * S;
        int ncur = 0;
        for (int t = 0; t < S; t++) ncur += cur[t];
        if (ncur == 0) break;
        memset(cnt, 0, (size_t)S * sizeof *cnt);
        uint64_t m = allowed(g, heads, al);
        int i0 = g->edge_start[(size_t)al * S], i1 = g->edge_start[(size_t)(al + 1) * S];
        for (int i = i0; i < i1; i++) {
            const zl_flows_edge *e = &g->edges[i];
            if (!(e->heads & m)) continue;
            /* backward: from (node layer al+1 = k) -> to; forward: to (node layer k) -> from */
            int src = dir == ZL_FLOWS_FORWARD ? e->to : e->from;
            int dst = dir == ZL_FLOWS_FORWARD ? e->from : e->to;
            if (cur[src]) cnt[dst]++;
        }
        for (int t = 0; t < S; t++)
            if (intersect ? cnt[t] == ncur : cnt[t] > 0) {
                next[t] = 1;
                reached++;
            }
    }
    free(cnt);
    return reached;
}

int zl_flows_between(const zl_flows_graph *g, int lx, const int *xs, int nx, int ly, const int *ys,
                     int ny, int intersect, unsigned char *out, uint64_t *heads_out)
{
    if (!g || !out) return zl_error_set("flows: between needs a graph and an output");
    if (check_sel(g, lx, xs, nx) != 0 || check_sel(g, ly, ys, ny) != 0) return -1;
    if (lx >= ly)
        return zl_error_set("flows: between needs the first layer (%d) below the second (%d)", lx, ly);
    int S = g->S, L = g->L;
    size_t nn = (size_t)(L + 1) * S;
    unsigned char *fw = malloc(nn), *bw = malloc(nn);
    if (!fw || !bw) {
        free(fw);
        free(bw);
        return zl_error_set("flows: out of memory");
    }
    int rc = 0;
    if (zl_flows_trace(g, lx, xs, nx, ZL_FLOWS_FORWARD, intersect, NULL, fw) < 0 ||
        zl_flows_trace(g, ly, ys, ny, ZL_FLOWS_BACKWARD, intersect, NULL, bw) < 0)
        rc = -1;
    if (rc == 0) {
        memset(out, 0, nn);
        /* fw marks xs at lx and bw marks ys at ly, so the product keeps endpoints only
         * when a path reaches them. */
        for (int k = lx; k <= ly; k++)
            for (int t = 0; t < S; t++) out[(size_t)k * S + t] = fw[(size_t)k * S + t] && bw[(size_t)k * S + t];
        if (heads_out)
            for (int l = 0; l < L; l++) heads_out[l] = 0;
        for (int l = lx; l < ly; l++) {
            int i0 = g->edge_start[(size_t)l * S], i1 = g->edge_start[(size_t)(l + 1) * S];
            for (int i = i0; i < i1; i++) {
                const zl_flows_edge *e = &g->edges[i];
                if (out[(size_t)(l + 1) * S + e->from] && out[(size_t)l * S + e->to]) {
                    rc++;
                    if (heads_out) heads_out[l] |= e->heads;
                }
            }
        }
    }
    free(fw);
    free(bw);
    return rc;
}

/* ---- JSON ---- */

static cJSON *int_list(const int *v, int n)
{
    return cJSON_CreateIntArray(v, n);
}

static cJSON *heads_list(uint64_t h, int NH)
{
    cJSON *a = cJSON_CreateArray();
    for (int j = 0; j < NH && a; j++)
        if ((h >> j) & 1) cJSON_AddItemToArray(a, cJSON_CreateNumber(j));
    return a;
}

/* [layer][tokens] from a byte map [(rows) * S] where map[i] & bit. */
static cJSON *token_sets(const unsigned char *map, int rows, int S, int want)
{
    cJSON *a = cJSON_CreateArray();
    for (int l = 0; l < rows && a; l++) {
        cJSON *row = cJSON_CreateArray();
        for (int t = 0; t < S; t++)
            if (map[(size_t)l * S + t] == want) cJSON_AddItemToArray(row, cJSON_CreateNumber(t));
        cJSON_AddItemToArray(a, row);
    }
    return a;
}

/* "[[layer,from,to,[h,...]],...]" */
static char *edges_text(const zl_flows_graph *g)
{
    size_t cap = 64 + (size_t)g->n_edges * 32, len = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[len++] = '[';
    for (int i = 0; i < g->n_edges; i++) {
        const zl_flows_edge *e = &g->edges[i];
        if (cap - len < 64 + 4 * (size_t)g->NH) {
            cap = 2 * cap + 64 + 4 * (size_t)g->NH;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
        }
        len += (size_t)snprintf(buf + len, cap - len, "%s[%d,%d,%d,[", i ? "," : "", (int)e->layer, (int)e->from,
                                (int)e->to);
        int first = 1;
        for (int j = 0; j < g->NH; j++)
            if ((e->heads >> j) & 1) {
                len += (size_t)snprintf(buf + len, cap - len, first ? "%d" : ",%d", j);
                first = 0;
            }
        buf[len++] = ']';
        buf[len++] = ']';
    }
    buf[len++] = ']';
    buf[len] = '\0';
    return buf;
}

static cJSON *graph_json(const zl_flows_graph *g)
{
    int L = g->L, S = g->S;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON *toks = cJSON_AddArrayToObject(o, "tokens");
    for (int i = 0; i < S; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "t%d", i);
        cJSON_AddItemToArray(toks, cJSON_CreateString(g->tokens ? g->tokens[i] : buf));
    }
    cJSON_AddNumberToObject(o, "num_layers", L);
    cJSON_AddNumberToObject(o, "num_heads", g->NH);
    cJSON_AddNumberToObject(o, "tau", g->tau);
    cJSON_AddNumberToObject(o, "alpha", g->alpha);
    cJSON_AddItemToObject(o, "target", int_list(g->target, g->n_target));
    cJSON *hd = cJSON_AddArrayToObject(o, "heads");
    for (int l = 0; l < L; l++) cJSON_AddItemToArray(hd, heads_list(allowed(g, g->heads, l), g->NH));
    /* edges as raw text: a graph at a low tau has millions, too many for one cJSON item each */
    char *ed = edges_text(g);
    if (!ed || !cJSON_AddRawToObject(o, "edges", ed)) {
        free(ed);
        cJSON_Delete(o);
        return NULL;
    }
    free(ed);
    cJSON_AddItemToObject(o, "nodes", token_sets(g->nodes, L + 1, S, 1));
    cJSON *co = cJSON_AddArrayToObject(o, "counts");
    cJSON *in = cJSON_AddArrayToObject(o, "influence");
    cJSON *ci = cJSON_AddArrayToObject(o, "circles");
    int *circ = malloc((size_t)S * sizeof *circ);
    for (int l = 0; l < L && circ; l++) {
        cJSON_AddItemToArray(co, cJSON_CreateIntArray((const int *)(g->counts + (size_t)l * S), S));
        cJSON_AddItemToArray(in, cJSON_CreateDoubleArray(g->influence + (size_t)l * S, S));
        for (int t = 0; t < S; t++) circ[t] = zl_flows_circles(g->influence[(size_t)l * S + t]);
        cJSON_AddItemToArray(ci, cJSON_CreateIntArray(circ, S));
    }
    if (!circ) {
        cJSON_Delete(o);
        return NULL;
    }
    free(circ);
    return o;
}

static char *print(cJSON *o, int pretty)
{
    if (!o) {
        zl_error_set("flows: out of memory building JSON");
        return NULL;
    }
    char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) zl_error_set("flows: out of memory printing JSON");
    return s;
}

char *zl_flows_json(const zl_flows_graph *g, int pretty)
{
    if (!g) {
        zl_error_set("flows: no graph");
        return NULL;
    }
    return print(graph_json(g), pretty);
}

char *zl_flows_compare_json(const zl_flows_graph *a, const zl_flows_graph *b, int pretty)
{
    zl_flows_compare *c = zl_flows_compare_new(a, b);
    if (!c) return NULL;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddItemToObject(o, "a", graph_json(a));
        cJSON_AddItemToObject(o, "b", graph_json(b));
        cJSON_AddItemToObject(o, "shared", token_sets(c->nodes, c->L + 1, c->S, ZL_FLOWS_SHARED));
        cJSON_AddItemToObject(o, "only_a", token_sets(c->nodes, c->L + 1, c->S, ZL_FLOWS_ONLY_A));
        cJSON_AddItemToObject(o, "only_b", token_sets(c->nodes, c->L + 1, c->S, ZL_FLOWS_ONLY_B));
        static const char *const names[3] = {"heads_only_a", "heads_only_b", "heads_shared"};
        for (int code = 1; code <= 3; code++) {
            cJSON *arr = cJSON_AddArrayToObject(o, names[code - 1]);
            for (int l = 0; l < c->L; l++) {
                uint64_t h = 0;
                for (int j = 0; j < c->NH; j++)
                    if (c->heads[l * c->NH + j] == code) h |= (uint64_t)1 << j;
                cJSON_AddItemToArray(arr, heads_list(h, c->NH));
            }
        }
    }
    zl_flows_compare_free(c);
    return print(o, pretty);
}
