/* test_pdf.c — core/pdf: the seismic map and seaborn's centring at known points, text
 * measurement (superscripts, UTF-8), every error path returning -1 (including errors
 * libharu itself reports through our handler), atomic saving, the heatmap layout. */
#define _POSIX_C_SOURCE 200809L
#include "error.h"
#include "pdf.h"
#include "zl_test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"

static void check_rgb(const double *got, double r, double g, double b, int line)
{
    if (fabs(got[0] - r) > 1e-12 || fabs(got[1] - g) > 1e-12 || fabs(got[2] - b) > 1e-12) {
        fprintf(stderr, "line %d: rgb (%.15g, %.15g, %.15g), expected (%.15g, %.15g, %.15g)\n",
                line, got[0], got[1], got[2], r, g, b);
        zl_test_failures++;
    }
    zl_test_checks++;
}
#define RGB(got, r, g, b) check_rgb(got, r, g, b, __LINE__)

static void test_colormap(void)
{
    double c[3];
    /* seismic's lookup table: entry i interpolates at i/255 */
    CHECK(zl_pdf_seismic(0, c) == 0); RGB(c, 0, 0, 0.3);
    CHECK(zl_pdf_seismic(1, c) == 0); RGB(c, 0.5, 0, 0);
    CHECK(zl_pdf_seismic(-3, c) == 0); RGB(c, 0, 0, 0.3);   /* under -> first */
    CHECK(zl_pdf_seismic(7, c) == 0); RGB(c, 0.5, 0, 0);    /* over -> last */
    double x128 = 128 * (1.0 / 255), x64 = 64 * (1.0 / 255);
    CHECK(zl_pdf_seismic(0.5, c) == 0); /* floor(0.5 * 256) = 128 */
    RGB(c, 1, 1 - (x128 - 0.5) / 0.25, 1 - (x128 - 0.5) / 0.25);
    CHECK(zl_pdf_seismic(0.25, c) == 0); /* entry 64: just past the pure-blue knot */
    RGB(c, (x64 - 0.25) / 0.25, (x64 - 0.25) / 0.25, 1);
    CHECK(zl_pdf_seismic(NAN, c) == -1);

    /* seaborn's centring, the paper's vmin -10, vmax 2, center 0 */
    CHECK(zl_pdf_heat_color(-10, -10, 2, 1, 0, c) == 0); RGB(c, 0, 0, 0.3);
    CHECK(zl_pdf_heat_color(-25, -10, 2, 1, 0, c) == 0); RGB(c, 0, 0, 0.3);
    CHECK(zl_pdf_heat_color(2, -10, 2, 1, 0, c) == 0);
    CHECK_NEAR(c[0], 1, 1e-12); CHECK_NEAR(c[1], 0.6, 1e-9); CHECK_NEAR(c[2], 0.6, 1e-9);
    CHECK(zl_pdf_heat_color(9, -10, 2, 1, 0, c) == 0); CHECK_NEAR(c[1], 0.6, 1e-9);
    /* 0 -> listed entry 213 -> c = 213 * 0.6/255 -> seismic entry 128: near white */
    CHECK(zl_pdf_heat_color(0, -10, 2, 1, 0, c) == 0);
    RGB(c, 1, 1 - (x128 - 0.5) / 0.25, 1 - (x128 - 0.5) / 0.25);
    CHECK(c[1] > 0.99);
    /* -5 -> listed entry 106 -> c = 0.2494 -> seismic entry 63: blue side */
    CHECK(zl_pdf_heat_color(-5, -10, 2, 1, 0, c) == 0);
    RGB(c, 0, 0, 0.3 + 0.7 * (63 * (1.0 / 255)) / 0.25);
    /* Table 1, layer 1, P²: 66.982 - 80.567 = -13.585 clips to the darkest blue */
    CHECK(zl_pdf_heat_color(66.982 - 80.567, -10, 2, 1, 0, c) == 0); RGB(c, 0, 0, 0.3);
    /* without centring the map spans seismic's full range */
    CHECK(zl_pdf_heat_color(2, -10, 2, 0, 0, c) == 0); RGB(c, 0.5, 0, 0);
    CHECK(zl_pdf_heat_color(NAN, -10, 2, 1, 0, c) == -1);
    CHECK(zl_pdf_heat_color(0, 2, -10, 1, 0, c) == -1);
    CHECK(strstr(zl_error_get(), "vmin") != NULL);
}

static void test_text(void)
{
    zl_pdf *p = zl_pdf_new();
    CHECK(p != NULL);
    if (!p) return;
    double w = 0;
    zl_pdf_text_style st = {.size = 10};
    /* the embedded DejaVu Sans widths: A 684, L 557, Q 787, 2 636, twosuperior 400 (1/1000 em) */
    CHECK(zl_pdf_text_width(p, "ALL", &st, &w) == 0); CHECK_NEAR(w, 17.98, 1e-9);
    CHECK(zl_pdf_text_width(p, "Q^{2}", &st, &w) == 0); CHECK_NEAR(w, 7.87 + 0.65 * 6.36, 1e-9);
    CHECK(zl_pdf_text_width(p, "Q\xc2\xb2", &st, &w) == 0); CHECK_NEAR(w, 7.87 + 4.00, 1e-9);
    CHECK(zl_pdf_text_width(p, "a^{b", &st, &w) == 0); /* unclosed: plain text */
    double w2;
    CHECK(zl_pdf_text_width(p, "a^{b", NULL, &w2) == 0); CHECK_NEAR(w, w2, 1e-12);
    CHECK(w > 0);
    CHECK(zl_pdf_text_width(p, "\xff\xfe bad utf-8", &st, &w) == 0); /* replaced, no crash */
    zl_pdf_text_style bad = {.font = "Comic-Sans"};
    CHECK(zl_pdf_text_width(p, "x", &bad, &w) == -1);
    CHECK(strstr(zl_error_get(), "Comic-Sans") != NULL);

    /* drawing needs a page */
    CHECK(zl_pdf_text(p, 1, 1, "x", NULL) == -1);
    CHECK(strstr(zl_error_get(), "page") != NULL);
    CHECK(zl_pdf_rect(p, 0, 0, 1, 1, ZL_PDF_FILL) == -1);
    CHECK(zl_pdf_save(p, "/tmp/zl_never.pdf") == -1);
    CHECK(zl_pdf_page(p, 0, 100) == -1);
    CHECK(zl_pdf_page(p, 200, NAN) == -1);
    CHECK(zl_pdf_page(p, 200, 100) == 0);
    CHECK(zl_pdf_page_count(p) == 1);
    CHECK(zl_pdf_fill_color(p, 1.5, 0, 0) == -1);
    CHECK(zl_pdf_fill_color(p, NAN, 0, 0) == -1);
    CHECK(zl_pdf_rect(p, 0, 0, -1, 1, ZL_PDF_FILL) == -1);
    CHECK(zl_pdf_rect(p, 0, 0, 1, 1, (zl_pdf_paint)9) == -1);
    CHECK(zl_pdf_circle(p, 0, 0, 0, ZL_PDF_FILL) == -1);
    double tri[6] = {0, 0, 10, 0, 5, INFINITY};
    CHECK(zl_pdf_polygon(p, tri, 3, ZL_PDF_FILL) == -1);
    /* libharu itself rejects fonts above 600 pt: its error comes back as -1 */
    zl_pdf_text_style huge = {.size = 800};
    zl_error_clear();
    CHECK(zl_pdf_text(p, 10, 10, "x", &huge) == -1);
    CHECK(strstr(zl_error_get(), "libharu error") != NULL);
    /* ... and the document stays usable */
    tri[5] = 8;
    CHECK(zl_pdf_fill_color(p, 0.2, 0.4, 0.6) == 0);
    CHECK(zl_pdf_rect(p, 10, 10, 30, 20, ZL_PDF_FILL_STROKE) == 0);
    CHECK(zl_pdf_circle(p, 50, 50, 10, ZL_PDF_STROKE) == 0);
    CHECK(zl_pdf_line(p, 0, 0, 100, 100) == 0);
    CHECK(zl_pdf_curve(p, 0, 0, 10, 40, 60, 40, 90, 0) == 0);
    CHECK(zl_pdf_polygon(p, tri, 3, ZL_PDF_FILL) == 0);
    zl_pdf_text_style rot = {.size = 9, .align = ZL_PDF_CENTER, .valign = ZL_PDF_MIDDLE, .angle = 90};
    CHECK(zl_pdf_text(p, 100, 50, "P^{2} \xe2\x80\x94 zone", &rot) == 0);
    CHECK(zl_pdf_save(p, "/nonexistent-dir/x.pdf") == -1);
    CHECK(strstr(zl_error_get(), "/nonexistent-dir/x.pdf") != NULL);
    char path[256];
    snprintf(path, sizeof path, "/tmp/zl_test_pdf_%d.pdf", (int)getpid());
    CHECK(zl_pdf_save(p, path) == 0);
    char *data = NULL;
    size_t len = 0;
    CHECK(zl_io_read_file(path, 1 << 20, &data, &len) == 0);
    CHECK(data && len > 100 && memcmp(data, "%PDF-1.", 7) == 0);
    CHECK(data && strstr(data + len - 8, "%%EOF") != NULL);
    free(data);
    /* saving leaves the document open for more pages and another save */
    CHECK(zl_pdf_page(p, 50, 50) == 0);
    CHECK(zl_pdf_rect(p, 1, 1, 5, 5, ZL_PDF_FILL) == 0);
    CHECK(zl_pdf_save(p, path) == 0);
    CHECK(zl_pdf_page_count(p) == 2);
    remove(path);
    zl_pdf_free(p);
}

static void test_heatmap(void)
{
    zl_pdf *p = zl_pdf_new();
    CHECK(p != NULL);
    if (!p) return;
    double v[12 * 5];
    for (int i = 0; i < 60; i++) v[i] = -12 + 0.25 * i;
    const char *cols[5] = {"ALL", "Q^{2}", "Q2P", "P2Q", "P^{2}"};
    zl_pdf_heatmap h = {.rows = 12, .cols = 5, .values = v, .col_labels = cols, .vmin = -10,
                        .vmax = 2, .has_center = 1, .center = 0, .annotate = 1,
                        .title = "EM", .xlabel = "Attention zone", .ylabel = "Layer"};
    zl_pdf_heatmap_geom g[2];
    double pw, ph;
    CHECK(zl_pdf_heatmap_layout(p, &h, 1, ZL_PDF_BAR_SHARED, NULL, NULL, &pw, &ph, g) == 0);
    CHECK_NEAR(g[0].cell_w, 30, 0); CHECK_NEAR(g[0].cell_h, 18, 0);
    /* everything on the page: labels left of the grid, the bar's labels right of it */
    CHECK(g[0].x > 20 && g[0].y > 20);
    CHECK_NEAR(g[0].bar_h, 12 * 18, 1e-9);
    CHECK(g[0].bar_x > g[0].x + 150 && g[0].bar_x + g[0].bar_w + 20 < pw);
    CHECK(g[0].y + 12 * 18 + 10 < ph);
    CHECK(pw < 260 && ph < 320); /* a paper column */

    zl_pdf_heatmap two[2] = {h, h};
    two[1].ylabel = NULL;
    CHECK(zl_pdf_heatmap_page(p, two, 2, ZL_PDF_BAR_SHARED, "SQuAD", NULL, g) == 0);
    CHECK(g[0].bar_w == 0 && g[1].bar_w > 0);
    CHECK(g[1].x > g[0].x + 150 + 10);
    CHECK_NEAR(g[0].y, g[1].y, 0);
    CHECK(zl_pdf_heatmap_page(p, two, 2, ZL_PDF_BAR_EACH, NULL, NULL, g) == 0);
    CHECK(g[0].bar_w > 0 && g[1].bar_w > 0 && g[1].x > g[0].bar_x + g[0].bar_w);
    CHECK(zl_pdf_page_count(p) == 2);

    /* bad input: -1 and a message, no page added */
    two[1].vmin = -5;
    CHECK(zl_pdf_heatmap_page(p, two, 2, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    CHECK(strstr(zl_error_get(), "shared colour bar") != NULL);
    CHECK(zl_pdf_heatmap_page(p, two, 2, ZL_PDF_BAR_EACH, NULL, NULL, g) == 0); /* fine per panel */
    v[7] = INFINITY;
    CHECK(zl_pdf_heatmap_page(p, &h, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    CHECK(strstr(zl_error_get(), "row 2, column 3") != NULL);
    v[7] = NAN; /* an empty cell (not measured): drawn grey */
    CHECK(zl_pdf_heatmap_page(p, &h, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == 0);
    {
        zl_pdf_heatmap none = h;
        double nan6[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
        none.rows = 2, none.cols = 3, none.values = nan6;
        CHECK(zl_pdf_heatmap_page(p, &none, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
        CHECK(strstr(zl_error_get(), "every cell is empty") != NULL);
    }
    v[7] = 0;
    zl_pdf_heatmap bad = h;
    bad.rows = 0;
    CHECK(zl_pdf_heatmap_page(p, &bad, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    bad = h, bad.vmin = 3;
    CHECK(zl_pdf_heatmap_page(p, &bad, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    bad = h, bad.cell_w = -4;
    CHECK(zl_pdf_heatmap_page(p, &bad, 1, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    CHECK(zl_pdf_heatmap_page(p, &h, 0, ZL_PDF_BAR_SHARED, NULL, NULL, g) == -1);
    CHECK(zl_pdf_page_count(p) == 4);
    zl_pdf_free(p);
}

int main(void)
{
    test_colormap();
    test_text();
    test_heatmap();
    return zl_test_summary("test_pdf");
}
