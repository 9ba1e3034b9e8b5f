/* flows.h — Attention Flows (DeRose, Wang, Berger, "Attention Flows: Analyzing and
 * Comparing Attention Mechanisms in Language Models", sections 4.1-4.4). Owns the
 * Attention Graph of one example, token counts c_l(w) and influence I_l(w), the
 * comparison of two graphs, the path queries of the paper's interactions, the JSON
 * export, and (flows_draw.c) the PDF drawing: sentence view, radial view, legend.
 *
 * Indices (all 0-based, as the model and the JSON see them):
 *   - attention layer l = 0..L-1 is the l-th encoder layer; att[l][j][a][b] is head j's
 *     probability of row ("from") a attending to column ("to") b;
 *   - node layer l = 0..L: node layer l holds tokens entering attention layer l
 *     (the paper's X^l); node layer L holds the target (the paper's [CLS] "at the
 *     last layer"). An edge (l, a, b, heads) joins token a at node layer l+1 to token
 *     b at node layer l when some allowed head j has att[l][j][a][b] > tau (strictly);
 *   - counts[l][w] = c_l(w) = sum over nodes a at node layer l+1 of the number of
 *     allowed heads j with att[l][j][a][w] > tau (eq. 3; for l = L-1 it is the paper's
 *     c_L(w, [CLS])); nodes at node layer l are the tokens with c_l(w) > 0;
 *   - influence[l][w] = I_l(w) = 1/(L-l) * sum_{l'=l}^{L-1} alpha^(L-1-l') c_l'(w):
 *     the paper's eq. 4 with its 1-based layers shifted down by one (its L-l+1 terms
 *     are our L-l terms; its alpha^(L-l') is ours alpha^(L-1-l')).
 *
 *     zl_flows_opts o; zl_flows_opts_init(&o);          // tau 0.3, alpha 0.5, target [CLS]
 *     zl_flows_graph *g = zl_flows_build(att, 0, 0, &o); // att: [L,NH,S,S] or [L,B,NH,S,S]
 *     double inf = g->influence[l * g->S + w];
 *     unsigned char *dep = calloc((g->L + 1) * g->S, 1);
 *     zl_flows_trace(g, g->L, g->target, g->n_target, ZL_FLOWS_BACKWARD, 0, NULL, dep);
 *     char *js = zl_flows_json(g, 1); ... free(js); zl_flows_free(g);
 */
#ifndef ZL_FLOWS_H
#define ZL_FLOWS_H

#include <stdint.h>

#include "pdf.h"
#include "tensor.h"

#define ZL_FLOWS_MAX_HEADS 64 /* heads of an edge are a 64-bit set */

typedef struct zl_flows_opts {
    double tau;                 /* edge when A > tau (strictly); default 0.3 */
    double alpha;               /* decay of earlier layers in I_l; default 0.5 */
    const int *target;          /* token positions at node layer L; NULL -> {0} ([CLS]) */
    int n_target;
    const unsigned char *heads; /* NULL = every head; else [L * NH], 1 = head may carry edges */
    const char *const *tokens;  /* the wordpieces (seq_len strings, copied), or NULL */
    int first_segment;          /* tokens of the first segment ([CLS] question [SEP]);
                                   0 -> up to the first "[SEP]" of tokens, else all */
} zl_flows_opts;

void zl_flows_opts_init(zl_flows_opts *o);

typedef struct zl_flows_edge {
    int32_t layer, from, to; /* from at node layer layer+1 attends to `to` at node layer layer */
    uint64_t heads;          /* bit j: head j carries the edge */
} zl_flows_edge;

typedef struct zl_flows_graph {
    int L, NH, S;
    double tau, alpha;
    int n_target, *target;   /* sorted, distinct */
    char **tokens;           /* S strings, or NULL */
    int first_segment;
    unsigned char *heads;    /* [L * NH] allowed heads */
    unsigned char *nodes;    /* [(L+1) * S] token w is a node at node layer l */
    int32_t *counts;         /* [L * S] c_l(w) */
    double *influence;       /* [L * S] I_l(w) */
    int n_edges;
    zl_flows_edge *edges;    /* sorted by layer, from, to */
    int *edge_start;         /* [L * S + 1]: edges of (layer l, from a) start at edge_start[l*S+a] */
} zl_flows_graph;

/* att: f32 [L, NH, S, S] (batch must be 0) or [L, B, NH, S, S]; seq_len: the example's
 * real length (<= S, padding excluded), 0 = S. */
zl_flows_graph *zl_flows_build(const zl_tensor *att, int batch, int seq_len, const zl_flows_opts *o);
void zl_flows_free(zl_flows_graph *g);

/* The sentence view's rating: ceil(I) clamped to 0..5. */
int zl_flows_circles(double influence);

/* Heads (bit set) token `from` at node layer layer+1 uses to attend to any token at
 * node layer layer; *fanout (may be NULL, NH entries): per head, how many tokens. */
uint64_t zl_flows_token_heads(const zl_flows_graph *g, int layer, int from, int *fanout);

/* ---- comparison of two graphs of the same example (same L, NH, S) ---- */
enum { ZL_FLOWS_NONE = 0, ZL_FLOWS_ONLY_A = 1, ZL_FLOWS_ONLY_B = 2, ZL_FLOWS_SHARED = 3 };

typedef struct zl_flows_compare {
    int L, NH, S;
    unsigned char *nodes;    /* [(L+1) * S] codes above: token's presence at each node layer */
    unsigned char *heads;    /* [L * NH] codes: head carries some edge of layer l */
    int count[4];            /* number of (node layer, token) pairs per code */
} zl_flows_compare;

zl_flows_compare *zl_flows_compare_new(const zl_flows_graph *a, const zl_flows_graph *b);
void zl_flows_compare_free(zl_flows_compare *c);

/* ---- queries (section 4.4); out is [(L+1) * S], cleared then set to 1 where reached ---- */
typedef enum { ZL_FLOWS_BACKWARD = 0, ZL_FLOWS_FORWARD = 1 } zl_flows_dir;

/* From tokens at node layer `layer`, along the graph's edges: BACKWARD = the tokens they
 * depend on (node layers < layer), FORWARD = the tokens that depend on them (> layer).
 * intersect = 0: union (any selected token); 1: brushing — each step keeps only the
 * tokens linked to EVERY token of the previous step's set. The selected tokens are marked
 * too. heads: NULL = the graph's heads, else [L * NH] restricting the edges followed
 * (the paper's hover over a head glyph). Returns the number of tokens reached (not
 * counting the selection), -1 on bad arguments. */
int zl_flows_trace(const zl_flows_graph *g, int layer, const int *tokens, int n, zl_flows_dir dir,
                   int intersect, const unsigned char *heads, unsigned char *out);

/* Paths from tokens xs at node layer lx to tokens ys at node layer ly > lx: out marks
 * the tokens on some path (endpoints included when connected); heads_out[l] (L entries,
 * may be NULL) the heads of the path edges at attention layer l. intersect as in trace
 * (applied forward from xs and backward from ys). Returns the number of path edges. */
int zl_flows_between(const zl_flows_graph *g, int lx, const int *xs, int nx, int ly, const int *ys,
                     int ny, int intersect, unsigned char *out, uint64_t *heads_out);

/* ---- JSON export (malloc'd string; NULL on error) ----
 * {"tokens", "num_layers", "num_heads", "tau", "alpha", "target", "heads" ([layer][heads
 * allowed]), "edges" ([layer, from, to, [heads]]), "nodes" ([node layer][tokens], L+1
 * lists), "counts" and "influence" ([layer][token]), "circles" ([layer][token])}. */
char *zl_flows_json(const zl_flows_graph *g, int pretty);
/* {"a": graph a, "b": graph b, "shared", "only_a", "only_b" ([node layer][tokens]),
 * "heads_shared", "heads_only_a", "heads_only_b" ([layer][heads])}. */
char *zl_flows_compare_json(const zl_flows_graph *a, const zl_flows_graph *b, int pretty);

/* ---- drawing (flows_draw.c) ---- */
typedef struct zl_flows_draw_opts {
    const char *title;          /* first line of the page, or NULL */
    const char *subtitle;       /* second line, or NULL */
    const char *name_a, *name_b;/* model names for the legend; NULL -> "model A"/"model B" */
    int sentence_layer;         /* layer whose influence the sentence view shows (0 = all) */
    int max_ring_tokens;        /* labelled tokens per ring; 0 = as many as fit */
    int max_edges;              /* edges drawn at most, the strongest; 0 = 200 */
} zl_flows_draw_opts;

/* Colours of the comparison (the paper's): shared orange, A turquoise, B purple. */
extern const double zl_flows_color_shared[3], zl_flows_color_a[3], zl_flows_color_b[3];
/* The ring guide circles' colour (unique on the page, so tests can count rings). */
extern const double zl_flows_color_ring[3];

/* Adds one page: title, sentence view, radial view and legend. b may be NULL (one model). */
int zl_flows_draw(zl_pdf *p, const zl_flows_graph *a, const zl_flows_graph *b,
                  const zl_flows_draw_opts *o);

#endif
