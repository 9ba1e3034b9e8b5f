/* flows_draw.c — the Attention Flows page (flows.h): title, the sentence view (tokens in
 * reading order with up to 5 influence circles each), the radial view (the target at
 * the centre, one ring per layer, head glyphs per token, edges as curved chords from a token
 * of one ring to a token of the next, the strongest N when crowded) and a legend in words.
 * Built on the zl_pdf drawing layer (pdf.h). */
#include "flows.h"
#include "error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double zl_flows_color_shared[3] = {0.93, 0.45, 0.05};
const double zl_flows_color_a[3] = {0.0, 0.62, 0.60};
const double zl_flows_color_b[3] = {0.50, 0.18, 0.66};
const double zl_flows_color_ring[3] = {0.55, 0.72, 0.98};

#define PI 3.14159265358979323846
#define MARGIN 36.0
#define FS_TOKEN 7.0      /* ring labels */
#define FS_SENT 8.0       /* sentence view */
#define SLOT 8.6          /* arc length per ring token, points */
#define SQ 2.1            /* head glyph square */
#define SQ_STEP 2.5
#define GAP_EDGES 22.0    /* radial gap between rings, where edges run */
#define LABEL_CHARS 14
#define MAX_EDGES_DRAWN 200 /* default: more chords than this merge into a smear */
#define MAX_RADIUS 620.0
#define LEGEND_W 190.0

static const double GRAY_TEXT[3] = {0.62, 0.62, 0.62};
static const double BLACK[3] = {0, 0, 0};
static const double DARK[3] = {0.2, 0.2, 0.2};
static const double EDGE_GRAY[3] = {0.55, 0.55, 0.55};
static const double HEAD_NONE[3] = {0.88, 0.88, 0.88};
/* ColorBrewer Blues for "attends to 1, 2, 3, 4+ tokens" */
static const double HEAD_FAN[4][3] = {
    {0.74, 0.84, 0.93}, {0.42, 0.68, 0.84}, {0.13, 0.44, 0.71}, {0.03, 0.19, 0.42}};

typedef struct {
    zl_pdf *p;
    const zl_flows_graph *a, *b; /* b NULL: one model */
    int L, NH, S;
    unsigned char *presence;     /* [(L+1)*S]: bit 1 in a, bit 2 in b */
    /* rings: ring i = 1..L holds node layer L - i */
    int *ring_n;                 /* tokens shown per ring */
    int *ring_total;             /* tokens in the ring before truncation */
    int **ring_tok;              /* shown tokens, reading order */
    double *r_in, *r_out, *ang;  /* per ring radii; ang[(layer)*S + t] angle (rad) or NAN */
    double *meet;                /* meeting angle per ring */
    double cx, cy, r0, gap;      /* centre, centre disc radius, start gap (rad) */
} ctx;

static int fill(zl_pdf *p, const double c[3]) { return zl_pdf_fill_color(p, c[0], c[1], c[2]); }
static int stroke(zl_pdf *p, const double c[3]) { return zl_pdf_stroke_color(p, c[0], c[1], c[2]); }

/* Label text of a token: "^{" would start pdf.h's superscript markup; long pieces are cut. */
static void label_of(const zl_flows_graph *g, int t, char *buf, size_t n, int max_chars)
{
    if (!g->tokens) {
        snprintf(buf, n, "t%d", t);
        return;
    }
    const char *s = g->tokens[t];
    size_t k = 0;
    int chars = 0;
    for (size_t i = 0; s[i] && k + 5 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch & 0xC0) != 0x80) {
            if (max_chars > 0 && chars == max_chars) {
                buf[k++] = '~';
                break;
            }
            chars++;
        }
        buf[k++] = (char)ch;
        if (ch == '^' && s[i + 1] == '{') buf[k++] = ' ';
    }
    buf[k] = '\0';
}

static int presence_of(const ctx *c, int layer, int t) { return c->presence[(size_t)layer * c->S + t]; }

static const double *presence_color(int code)
{
    return code == ZL_FLOWS_SHARED ? zl_flows_color_shared
         : code == ZL_FLOWS_ONLY_A ? zl_flows_color_a
         : code == ZL_FLOWS_ONLY_B ? zl_flows_color_b : GRAY_TEXT;
}

/* ---- head glyphs: NH squares in 3 rows, rotated to the token's angle ---- */

/* The square of head j for a glyph block whose inner edge is at radius r, angle th. */
static void head_square(double cx, double cy, double r, double th, int j, double *xy)
{
    int col = j / 3, row = j % 3;
    double u0 = r + col * SQ_STEP, v0 = (row - 1.5) * SQ_STEP + (SQ_STEP - SQ) / 2;
    double ur[4] = {u0, u0 + SQ, u0 + SQ, u0}, vr[4] = {v0, v0, v0 + SQ, v0 + SQ};
    double c = cos(th), s = sin(th);
    for (int k = 0; k < 4; k++) {
        xy[2 * k] = cx + ur[k] * c - vr[k] * s;
        xy[2 * k + 1] = cy + ur[k] * s + vr[k] * c;
    }
}

static int draw_glyph(ctx *c, double cx, double cy, double r, double th, int layer, int t)
{
    /* token t at node layer `layer` attends through attention layer layer-1 */
    int fa[ZL_FLOWS_MAX_HEADS], fb[ZL_FLOWS_MAX_HEADS];
    uint64_t ha = zl_flows_token_heads(c->a, layer - 1, t, fa);
    uint64_t hb = c->b ? zl_flows_token_heads(c->b, layer - 1, t, fb) : 0;
    for (int j = 0; j < c->NH; j++) {
        double xy[8];
        head_square(cx, cy, r, th, j, xy);
        int ina = (int)((ha >> j) & 1), inb = (int)((hb >> j) & 1);
        if (c->b && ina && inb) { /* split glyph: the paper's shared head */
            double t1[6] = {xy[0], xy[1], xy[2], xy[3], xy[6], xy[7]};
            double t2[6] = {xy[2], xy[3], xy[4], xy[5], xy[6], xy[7]};
            if (fill(c->p, zl_flows_color_a) || zl_pdf_polygon(c->p, t1, 3, ZL_PDF_FILL) ||
                fill(c->p, zl_flows_color_b) || zl_pdf_polygon(c->p, t2, 3, ZL_PDF_FILL))
                return -1;
            continue;
        }
        const double *col = HEAD_NONE;
        if (c->b) col = ina ? zl_flows_color_a : inb ? zl_flows_color_b : HEAD_NONE;
        else if (ina) col = HEAD_FAN[fa[j] >= 4 ? 3 : fa[j] - 1];
        if (fill(c->p, col) || zl_pdf_polygon(c->p, xy, 4, ZL_PDF_FILL)) return -1;
    }
    return 0;
}

static double glyph_depth(int NH) { return ((NH + 2) / 3) * SQ_STEP; }

/* ---- layout ---- */

typedef struct { int count, token; } ranked;
static int cmp_ranked(const void *x, const void *y)
{
    const ranked *s = x, *t = y;
    if (s->count != t->count) return s->count > t->count ? -1 : 1;
    return (s->token > t->token) - (s->token < t->token);
}
static int cmp_int(const void *x, const void *y)
{
    int s = *(const int *)x, t = *(const int *)y;
    return (s > t) - (s < t);
}

static int layout_rings(ctx *c, int max_ring_tokens)
{
    int L = c->L, S = c->S;
    zl_pdf_text_style st = {.size = FS_TOKEN};
    c->r0 = 30;
    c->gap = 16 * PI / 180;
    double prev = c->r0;
    for (int i = 1; i <= L; i++) {
        int layer = L - i;
        int n = 0;
        for (int t = 0; t < S; t++)
            if (presence_of(c, layer, t)) c->ring_tok[i][n++] = t;
        c->ring_total[i] = n;
        /* push the ring out to fit its tokens, within a budget */
        double need = n * SLOT / (2 * PI - c->gap - 0.05);
        double r_in = prev + GAP_EDGES;
        if (need > r_in) r_in = fmin(need, fmax(r_in, fmin(r_in + 90, MAX_RADIUS - 60)));
        int cap = (int)floor(r_in * (2 * PI - c->gap - 0.05) / SLOT);
        if (max_ring_tokens > 0 && cap > max_ring_tokens) cap = max_ring_tokens;
        if (n > cap) { /* keep the most counted tokens, back in reading order */
            ranked *rk = malloc((size_t)n * sizeof *rk);
            if (!rk) return zl_error_set("flows: out of memory drawing");
            for (int k = 0; k < n; k++) {
                int t = c->ring_tok[i][k];
                rk[k].token = t;
                rk[k].count = c->a->counts[(size_t)layer * S + t] + (c->b ? c->b->counts[(size_t)layer * S + t] : 0);
            }
            qsort(rk, (size_t)n, sizeof *rk, cmp_ranked);
            n = cap;
            for (int k = 0; k < n; k++) c->ring_tok[i][k] = rk[k].token;
            free(rk);
            qsort(c->ring_tok[i], (size_t)n, sizeof(int), cmp_int);
        }
        c->ring_n[i] = n;
        double lw = 0;
        for (int k = 0; k < n; k++) {
            char buf[96];
            double w;
            label_of(c->a, c->ring_tok[i][k], buf, sizeof buf, LABEL_CHARS);
            if (zl_pdf_text_width(c->p, buf, &st, &w) != 0) return -1;
            if (w > lw) lw = w;
        }
        if (lw < 12) lw = 12;
        c->r_in[i] = r_in;
        c->r_out[i] = r_in + (layer > 0 ? glyph_depth(c->NH) + 2 : 0) + lw + 2;
        prev = c->r_out[i];
        /* angles: the first segment clockwise and the second counter-clockwise, both
         * from the top (after half the start gap), meeting where they run out */
        int k1 = 0;
        while (k1 < n && c->ring_tok[i][k1] < c->a->first_segment) k1++;
        double span = 2 * PI - c->gap, d = n ? span / n : 0, top = PI / 2;
        for (int k = 0; k < n; k++) {
            int t = c->ring_tok[i][k];
            double th = k < k1 ? top - c->gap / 2 - (k + 0.5) * d : top + c->gap / 2 + (k - k1 + 0.5) * d;
            c->ang[(size_t)layer * S + t] = th;
        }
        c->meet[i] = top - c->gap / 2 - k1 * d;
    }
    return 0;
}

/* The radius where an edge leaves (from-side, outer end) a token of node layer `layer`. */
static double ring_outer(const ctx *c, int layer)
{
    int i = c->L - layer;
    return i == 0 ? c->r0 : c->r_out[i];
}

/* Index of edge (l, a, b) in g, or -1. */
static int edge_find(const zl_flows_graph *g, int l, int a, int b)
{
    int i0 = g->edge_start[(size_t)l * g->S + a], i1 = g->edge_start[(size_t)l * g->S + a + 1];
    while (i0 < i1) {
        int m = (i0 + i1) / 2;
        if (g->edges[m].to == b) return m;
        if (g->edges[m].to < b) i0 = m + 1;
        else i1 = m;
    }
    return -1;
}

static int popcount64(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

/* One drawn edge of the union of both graphs. */
typedef struct {
    int layer, from, to, code, heads; /* heads: the most heads carrying it in one model */
} dedge;

/* Strongest first: carried by more heads, then nearer the target (a later layer), then
 * reading order; the order is total, so the cut is reproducible. */
static int cmp_dedge(const void *x, const void *y)
{
    const dedge *a = x, *b = y;
    if (a->heads != b->heads) return b->heads - a->heads;
    if (a->layer != b->layer) return b->layer - a->layer;
    if (a->from != b->from) return a->from - b->from;
    return a->to - b->to;
}

/* The union of the edges, one per (layer, from, to), coloured by the models carrying it;
 * *n_all counts them all, *n the ones whose two tokens are on the page. */
static int collect_edges(const ctx *c, dedge **out, int *n, int *n_all)
{
    int cap = c->a->n_edges + (c->b ? c->b->n_edges : 0), k = 0, all = 0;
    dedge *d = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *d);
    if (!d) return zl_error_set("flows: out of memory drawing");
    for (int w = 0; w < (c->b ? 2 : 1); w++) {
        const zl_flows_graph *g = w ? c->b : c->a, *other = w ? c->a : c->b;
        for (int i = 0; i < g->n_edges; i++) {
            const zl_flows_edge *e = &g->edges[i];
            int j = other ? edge_find(other, e->layer, e->from, e->to) : -1;
            if (w == 1 && j >= 0) continue; /* shared: counted with a */
            all++;
            int lf = e->layer + 1;
            if (isnan(c->ang[(size_t)e->layer * c->S + e->to]) ||
                (lf < c->L && isnan(c->ang[(size_t)lf * c->S + e->from])))
                continue; /* a token not shown */
            int h = popcount64(e->heads);
            if (j >= 0 && popcount64(other->edges[j].heads) > h) h = popcount64(other->edges[j].heads);
            d[k++] = (dedge){e->layer, e->from, e->to,
                             j >= 0 ? ZL_FLOWS_SHARED : w ? ZL_FLOWS_ONLY_B : ZL_FLOWS_ONLY_A, h};
        }
    }
    qsort(d, (size_t)k, sizeof *d, cmp_dedge);
    *out = d;
    *n = k;
    *n_all = all;
    return 0;
}

/* A chord: it leaves the inner token radially, crosses the gap and reaches the outer token
 * radially, so every flow can be followed from one ring to the next. Width = heads. */
static int draw_chord(ctx *c, const dedge *e)
{
    int lf = e->layer + 1;
    double tt = c->ang[(size_t)e->layer * c->S + e->to];
    double tf = lf == c->L ? tt : c->ang[(size_t)lf * c->S + e->from];
    double r1 = ring_outer(c, lf), r2 = c->r_in[c->L - e->layer] - 6, k = 0.45 * (r2 - r1);
    const double *col = c->b ? presence_color(e->code) : EDGE_GRAY;
    double f = 0.8;
    if (zl_pdf_stroke_color(c->p, f * col[0] + 1 - f, f * col[1] + 1 - f, f * col[2] + 1 - f) ||
        zl_pdf_line_width(c->p, fmin(0.35 + 0.55 * (e->heads - 1), 4.0)))
        return -1;
    return zl_pdf_curve(c->p, c->cx + r1 * cos(tf), c->cy + r1 * sin(tf), c->cx + (r1 + k) * cos(tf),
                        c->cy + (r1 + k) * sin(tf), c->cx + (r2 - k) * cos(tt), c->cy + (r2 - k) * sin(tt),
                        c->cx + r2 * cos(tt), c->cy + r2 * sin(tt));
}

static int draw_radial(ctx *c, int max_edges, int *edges_drawn, int *edges_all)
{
    zl_pdf *p = c->p;
    int L = c->L, S = c->S;
    dedge *d = NULL;
    int n = 0;
    if (collect_edges(c, &d, &n, edges_all)) return -1;
    *edges_drawn = n < max_edges ? n : max_edges;
    /* the weakest first, so the strongest lie on top */
    for (int i = *edges_drawn - 1; i >= 0; i--)
        if (draw_chord(c, &d[i])) {
            free(d);
            return -1;
        }
    free(d);
    /* ring guides (a colour used nowhere else: tests count them) */
    if (zl_pdf_line_width(p, 1.3) || stroke(p, zl_flows_color_ring)) return -1;
    for (int i = 1; i <= L; i++)
        if (zl_pdf_circle(p, c->cx, c->cy, c->r_in[i] - 4, ZL_PDF_STROKE)) return -1;
    /* centre: the target tokens and their heads */
    if (zl_pdf_line_width(p, 0.6) || zl_pdf_fill_color(p, 0.96, 0.96, 0.96) ||
        zl_pdf_stroke_color(p, 0.3, 0.3, 0.3) || zl_pdf_circle(p, c->cx, c->cy, c->r0, ZL_PDF_FILL_STROKE))
        return -1;
    {
        int nt = 0;
        for (int t = 0; t < S; t++) nt += presence_of(c, L, t) != 0;
        double y = c->cy + 4 + 4.0 * (nt > 1 ? 1 : 0);
        int shown = 0;
        for (int t = 0; t < S && shown < 3; t++) {
            if (!presence_of(c, L, t)) continue;
            char buf[96];
            label_of(c->a, t, buf, sizeof buf, 10);
            zl_pdf_text_style st = {.font = "Helvetica-Bold", .size = 6.5, .align = ZL_PDF_CENTER,
                                    .valign = ZL_PDF_MIDDLE};
            if (fill(p, c->b ? presence_color(presence_of(c, L, t)) : BLACK) ||
                zl_pdf_text(p, c->cx, y, buf, &st))
                return -1;
            y -= 8;
            shown++;
        }
        /* the heads of the (first) target, below its label, drawn flat */
        int t0 = -1;
        for (int t = 0; t < S && t0 < 0; t++)
            if (presence_of(c, L, t)) t0 = t;
        if (t0 >= 0 && draw_glyph(c, c->cx - glyph_depth(c->NH) / 2, c->cy - 16, 0, 0, L, t0)) return -1;
    }
    /* rings */
    for (int i = 1; i <= L; i++) {
        int layer = L - i;
        double gd = layer > 0 ? glyph_depth(c->NH) + 2 : 0;
        for (int k = 0; k < c->ring_n[i]; k++) {
            int t = c->ring_tok[i][k];
            double th = c->ang[(size_t)layer * S + t];
            if (layer > 0 && draw_glyph(c, c->cx, c->cy, c->r_in[i], th, layer, t)) return -1;
            char buf[96];
            label_of(c->a, t, buf, sizeof buf, LABEL_CHARS);
            double deg = th * 180 / PI, r = c->r_in[i] + gd;
            int right = cos(th) >= 0;
            zl_pdf_text_style st = {.size = FS_TOKEN, .valign = ZL_PDF_MIDDLE,
                                    .align = right ? ZL_PDF_LEFT : ZL_PDF_RIGHT,
                                    .angle = right ? deg : deg + 180};
            if (fill(p, c->b ? presence_color(presence_of(c, layer, t)) : BLACK) ||
                zl_pdf_text(p, c->cx + r * cos(th), c->cy + r * sin(th), buf, &st))
                return -1;
        }
        /* the meeting point of the two segments: a thick black tick */
        if (c->ring_n[i] > 0) {
            double th = c->meet[i];
            if (zl_pdf_line_width(p, 2.0) || zl_pdf_stroke_color(p, 0, 0, 0) ||
                zl_pdf_line(p, c->cx + (c->r_in[i] - 1) * cos(th), c->cy + (c->r_in[i] - 1) * sin(th),
                            c->cx + (c->r_in[i] + 12) * cos(th), c->cy + (c->r_in[i] + 12) * sin(th)))
                return -1;
        }
        /* layer label (and how many tokens did not fit) in the start gap at the top */
        char lab[64];
        if (c->ring_n[i] < c->ring_total[i])
            snprintf(lab, sizeof lab, "L%d (+%d)", layer + 1, c->ring_total[i] - c->ring_n[i]);
        else
            snprintf(lab, sizeof lab, "L%d", layer + 1); /* people count layers from 1 */
        zl_pdf_text_style st = {.font = "Helvetica-Bold", .size = 6.5, .align = ZL_PDF_CENTER,
                                .valign = ZL_PDF_MIDDLE};
        if (zl_pdf_fill_color(p, 0.25, 0.25, 0.25) || zl_pdf_text(p, c->cx, c->cy + c->r_in[i] + 5, lab, &st))
            return -1;
    }
    return 0;
}

/* ---- sentence view ---- */

static int influence_circles(const zl_flows_graph *g, int layer, int t)
{
    return g ? zl_flows_circles(g->influence[(size_t)layer * g->S + t]) : 0;
}

#define ROW_H 36.0
static int sentence_rows(ctx *c, double width, double *x, int *row, int *nrows)
{
    zl_pdf_text_style st = {.size = FS_SENT};
    double cur = 0;
    int r = 0;
    for (int t = 0; t < c->S; t++) {
        char buf[96];
        double w;
        label_of(c->a, t, buf, sizeof buf, 20);
        if (zl_pdf_text_width(c->p, buf, &st, &w)) return -1;
        if (w < 6) w = 6;
        if (cur > 0 && cur + w > width) {
            r++;
            cur = 0;
        }
        x[t] = cur + w / 2;
        row[t] = r;
        cur += w + 3.5;
    }
    *nrows = r + 1;
    return 0;
}

static int draw_sentence(ctx *c, double x0, double ytop, const double *x, const int *row, int layer)
{
    zl_pdf *p = c->p;
    for (int t = 0; t < c->S; t++) {
        double cx = x0 + x[t], base = ytop - row[t] * ROW_H - ROW_H + 6;
        int any = 0;
        for (int l = 0; l <= c->L; l++) any |= presence_of(c, l, t);
        int na = influence_circles(c->a, layer, t), nb = influence_circles(c->b, layer, t);
        int shared = c->b ? (na < nb ? na : nb) : 0, top = c->b ? (na > nb ? na : nb) : na;
        for (int k = 0; k < 5; k++) {
            double cy = base + 12 + k * 4.2;
            const double *col;
            if (k >= top) col = NULL;
            else if (!c->b) col = DARK;
            else col = k < shared ? zl_flows_color_shared : na > nb ? zl_flows_color_a : zl_flows_color_b;
            if (col) {
                if (fill(p, col) || zl_pdf_circle(p, cx, cy, 1.7, ZL_PDF_FILL)) return -1;
            } else {
                if (zl_pdf_line_width(p, 0.3) || zl_pdf_stroke_color(p, 0.82, 0.82, 0.82) ||
                    zl_pdf_circle(p, cx, cy, 1.5, ZL_PDF_STROKE))
                    return -1;
            }
        }
        char buf[96];
        label_of(c->a, t, buf, sizeof buf, 20);
        const double *tc = !any ? GRAY_TEXT : c->b ? presence_color(any) : BLACK;
        zl_pdf_text_style st = {.size = FS_SENT, .align = ZL_PDF_CENTER};
        if (fill(p, tc) || zl_pdf_text(p, cx, base, buf, &st)) return -1;
        /* targets underlined in red */
        int is_target = presence_of(c, c->L, t) != 0;
        if (is_target) {
            double w;
            if (zl_pdf_text_width(p, buf, &st, &w) || zl_pdf_line_width(p, 1.2) ||
                zl_pdf_stroke_color(p, 0.85, 0.1, 0.1) || zl_pdf_line(p, cx - w / 2, base - 2.5, cx + w / 2, base - 2.5))
                return -1;
        }
    }
    return 0;
}

/* ---- legend ---- */

static int legend_line(zl_pdf *p, double x, double *y, const char *text, int bold)
{
    zl_pdf_text_style st = {.font = bold ? "Helvetica-Bold" : NULL, .size = 7.5};
    if (zl_pdf_fill_color(p, 0.1, 0.1, 0.1) || zl_pdf_text(p, x, *y, text, &st)) return -1;
    *y -= 11;
    return 0;
}

static int swatch(zl_pdf *p, double x, double *y, const double col[3], const char *text)
{
    if (fill(p, col) || zl_pdf_rect(p, x, *y - 1, 7, 7, ZL_PDF_FILL)) return -1;
    zl_pdf_text_style st = {.size = 7.5};
    if (zl_pdf_fill_color(p, 0.1, 0.1, 0.1) || zl_pdf_text(p, x + 11, *y, text, &st)) return -1;
    *y -= 11;
    return 0;
}

static int draw_legend(ctx *c, double x, double y, const zl_flows_draw_opts *o, int edges_drawn,
                       int edges_all, int outside)
{
    zl_pdf *p = c->p;
    char buf[256];
    const char *na = o && o->name_a ? o->name_a : "model A", *nb = o && o->name_b ? o->name_b : "model B";
    if (legend_line(p, x, &y, "Legend", 1)) return -1;
    snprintf(buf, sizeof buf, "tau %.3g, alpha %.3g, %d layers x %d heads", c->a->tau, c->a->alpha, c->L, c->NH);
    if (legend_line(p, x, &y, buf, 0)) return -1;
    int restricted = 0;
    for (int i = 0; i < c->L * c->NH; i++) restricted |= !c->a->heads[i];
    if (restricted) {
        int k = snprintf(buf, sizeof buf, "heads used:");
        for (int j = 0; j < c->NH && k < (int)sizeof buf - 8; j++)
            if (c->a->heads[j]) k += snprintf(buf + k, sizeof buf - (size_t)k, " %d", j + 1);
        if (legend_line(p, x, &y, buf, 0)) return -1;
    }
    if (c->b) {
        if (swatch(p, x, &y, zl_flows_color_a, na) || swatch(p, x, &y, zl_flows_color_b, nb) ||
            swatch(p, x, &y, zl_flows_color_shared, "both models"))
            return -1;
        if (legend_line(p, x, &y, "(tokens, edges, circles and heads", 0) ||
            legend_line(p, x, &y, "in that model only, or in both)", 0) ||
            legend_line(p, x, &y, "half-and-half head square: the", 0) ||
            legend_line(p, x, &y, "head carries edges in both models", 0))
            return -1;
    } else {
        snprintf(buf, sizeof buf, "model: %s", na);
        if (legend_line(p, x, &y, buf, 0)) return -1;
        if (swatch(p, x, &y, HEAD_FAN[0], "head attends to 1 token") ||
            swatch(p, x, &y, HEAD_FAN[1], "... 2 tokens") || swatch(p, x, &y, HEAD_FAN[2], "... 3 tokens") ||
            swatch(p, x, &y, HEAD_FAN[3], "... 4 or more"))
            return -1;
    }
    if (swatch(p, x, &y, HEAD_NONE, "head carries no edge") ||
        legend_line(p, x, &y, "Head glyph: one small square per head", 0) ||
        legend_line(p, x, &y, "beside each token, in columns of 3:", 0) ||
        legend_line(p, x, &y, "heads 1, 2, 3 nearest the centre.", 0) ||
        legend_line(p, x, &y, "Centre: the target the graph starts", 0) ||
        legend_line(p, x, &y, "from. Ring Lk: the tokens entering", 0) ||
        legend_line(p, x, &y, "layer k (L1 outermost); (+n): n", 0) ||
        legend_line(p, x, &y, "tokens of the ring not shown.", 0) ||
        legend_line(p, x, &y, "Curved line: an edge; the token on", 0) ||
        legend_line(p, x, &y, "the inner ring attends to the one on", 0) ||
        legend_line(p, x, &y, "the outer ring above tau. Thicker", 0) ||
        legend_line(p, x, &y, "lines: more heads carry the edge.", 0) ||
        legend_line(p, x, &y, "Black tick: where the question and", 0) ||
        legend_line(p, x, &y, "the passage meet on a ring.", 0) ||
        legend_line(p, x, &y, "Circles above a word: its influence", 0) ||
        legend_line(p, x, &y, "rounded up (at most 5).", 0) ||
        legend_line(p, x, &y, "Red underline: the target tokens.", 0))
        return -1;
    snprintf(buf, sizeof buf, "gray tokens: in no ring (%d of %d)", outside, c->S);
    if (legend_line(p, x, &y, buf, 0)) return -1;
    if (edges_drawn == edges_all) {
        snprintf(buf, sizeof buf, "%d edges, all drawn", edges_all);
        if (legend_line(p, x, &y, buf, 0)) return -1;
    } else {
        snprintf(buf, sizeof buf, "%d edges: the %d strongest drawn,", edges_all, edges_drawn);
        if (legend_line(p, x, &y, buf, 0)) return -1;
        snprintf(buf, sizeof buf, "%d cut (fewest heads first)", edges_all - edges_drawn);
        if (legend_line(p, x, &y, buf, 0)) return -1;
    }
    return 0;
}

/* ---- the page ---- */

static void ctx_free(ctx *c)
{
    if (c->ring_tok)
        for (int i = 0; i <= c->L; i++) free(c->ring_tok[i]);
    free(c->ring_tok);
    free(c->ring_n);
    free(c->ring_total);
    free(c->r_in);
    free(c->r_out);
    free(c->ang);
    free(c->meet);
    free(c->presence);
}

int zl_flows_draw(zl_pdf *p, const zl_flows_graph *a, const zl_flows_graph *b, const zl_flows_draw_opts *o)
{
    if (!p || !a) return zl_error_set("flows: draw needs a document and a graph");
    if (b && (a->L != b->L || a->NH != b->NH || a->S != b->S))
        return zl_error_set("flows: cannot draw graphs of different shapes together");
    int layer = o ? o->sentence_layer : 0;
    if (layer < 0 || layer >= a->L)
        return zl_error_set("flows: sentence layer %d outside 1..%d", layer + 1, a->L);
    ctx c = {.p = p, .a = a, .b = b, .L = a->L, .NH = a->NH, .S = a->S};
    int L = c.L, S = c.S, rc = -1;
    size_t nn = (size_t)(L + 1) * S;
    c.presence = calloc(nn, 1);
    c.ring_tok = calloc((size_t)L + 1, sizeof *c.ring_tok);
    c.ring_n = calloc((size_t)L + 1, sizeof *c.ring_n);
    c.ring_total = calloc((size_t)L + 1, sizeof *c.ring_total);
    c.r_in = calloc((size_t)L + 1, sizeof *c.r_in);
    c.r_out = calloc((size_t)L + 1, sizeof *c.r_out);
    c.meet = calloc((size_t)L + 1, sizeof *c.meet);
    c.ang = malloc(nn * sizeof *c.ang);
    double *sx = malloc((size_t)S * sizeof *sx);
    int *srow = malloc((size_t)S * sizeof *srow);
    if (!c.presence || !c.ring_tok || !c.ring_n || !c.ring_total || !c.r_in || !c.r_out || !c.meet || !c.ang ||
        !sx || !srow) {
        zl_error_set("flows: out of memory drawing");
        goto done;
    }
    for (int i = 0; i <= L; i++)
        if (!(c.ring_tok[i] = malloc((size_t)S * sizeof(int)))) {
            zl_error_set("flows: out of memory drawing");
            goto done;
        }
    for (size_t i = 0; i < nn; i++) {
        c.presence[i] = (unsigned char)((a->nodes[i] ? ZL_FLOWS_ONLY_A : 0) | (b && b->nodes[i] ? ZL_FLOWS_ONLY_B : 0));
        c.ang[i] = NAN;
    }
    if (layout_rings(&c, o ? o->max_ring_tokens : 0)) goto done;

    double R = c.r_out[L] + 8;
    double W = fmax(842, 2 * R + 2 * MARGIN + LEGEND_W + 20);
    int nrows;
    if (sentence_rows(&c, W - 2 * MARGIN, sx, srow, &nrows)) goto done;
    double title_h = 46, sent_h = nrows * ROW_H + 24;
    double legend_h = 32 * 11.0; /* the legend's lines at most, beside the radial view */
    double H = MARGIN + title_h + sent_h + fmax(2 * R + 20, legend_h) + MARGIN;
    if (H < 400) H = 400;
    if (W > 14400 || H > 14400) {
        zl_error_set("flows: the page would be %.0f x %.0f points (too many tokens)", W, H);
        goto done;
    }
    if (zl_pdf_page(p, W, H)) goto done;
    double y = H - MARGIN;
    zl_pdf_text_style ts = {.font = "Helvetica-Bold", .size = 12};
    if (zl_pdf_fill_color(p, 0, 0, 0) || zl_pdf_text(p, MARGIN, y - 10, o && o->title ? o->title : "Attention Flows", &ts))
        goto done;
    if (o && o->subtitle) {
        zl_pdf_text_style ss = {.size = 8.5};
        if (zl_pdf_fill_color(p, 0.25, 0.25, 0.25) || zl_pdf_text(p, MARGIN, y - 26, o->subtitle, &ss)) goto done;
    }
    y -= title_h;
    {
        char buf[128];
        snprintf(buf, sizeof buf, "Sentence view: influence I_%d (circles) of every token", layer + 1);
        zl_pdf_text_style hs = {.font = "Helvetica-Bold", .size = 8.5};
        if (zl_pdf_fill_color(p, 0.1, 0.1, 0.1) || zl_pdf_text(p, MARGIN, y, buf, &hs)) goto done;
    }
    if (draw_sentence(&c, MARGIN, y - 6, sx, srow, layer)) goto done;
    y -= sent_h;
    c.cx = MARGIN + LEGEND_W + 20 + (W - 2 * MARGIN - LEGEND_W - 20) / 2;
    c.cy = y - R;
    int drawn = 0, all = 0;
    int max_edges = o && o->max_edges > 0 ? o->max_edges : MAX_EDGES_DRAWN;
    if (draw_radial(&c, max_edges, &drawn, &all)) goto done;
    int outside = 0;
    for (int t = 0; t < S; t++) {
        int any = 0;
        for (int l = 0; l <= L; l++) any |= presence_of(&c, l, t);
        outside += !any;
    }
    if (draw_legend(&c, MARGIN, y - 4, o, drawn, all, outside)) goto done;
    rc = 0;
done:
    ctx_free(&c);
    free(sx);
    free(srow);
    return rc;
}
