/* pdf.h — zonelab's vector figures. Owns a small drawing layer over libharu
 * (documents, pages in points, rectangles, circles, lines, curves, text in embedded
 * TrueType fonts with superscripts and exact width measurement), matplotlib's "seismic" colour map with
 * seaborn's centring (the paper's Figure 1), and the attention-zone heatmap page.
 *
 * Coordinates are PDF points (1/72 inch), origin at the lower-left corner of the
 * page, y pointing up. Text is UTF-8. Every font is embedded (subset to the glyphs
 * drawn): text that WinAnsi covers (Latin-1, typographic quotes and dashes) is drawn in
 * DejaVu Sans/Serif/Sans Mono (fonts-dejavu-core), any other text (Chinese tokens, Greek)
 * in WenQuanYi Micro Hei (fonts-wqy-microhei) as a UTF-8 Type0 font with a ToUnicode
 * map, so pdftotext reads every token back. Characters beyond U+FFFF become '?'.
 * "^{...}" in a text draws the braces' content as a superscript ("Q^{2}" -> Q²).
 *
 *     zl_pdf *p = zl_pdf_new();
 *     zl_pdf_page(p, 200, 100);
 *     zl_pdf_fill_color(p, 1, 0, 0);
 *     zl_pdf_rect(p, 10, 10, 50, 30, ZL_PDF_FILL);
 *     zl_pdf_text_style st = {.size = 9, .align = ZL_PDF_CENTER};
 *     zl_pdf_text(p, 100, 50, "P^{2} zone", &st);
 *     if (zl_pdf_save(p, "out.pdf") != 0) puts(zl_error_get());
 *     zl_pdf_free(p);
 *
 * libharu reports errors through a handler we install: it records the error and
 * every zl_pdf_* call then returns -1 with a message (no abort, no longjmp).
 */
#ifndef ZL_PDF_H
#define ZL_PDF_H

typedef struct zl_pdf zl_pdf;

zl_pdf *zl_pdf_new(void);
void zl_pdf_free(zl_pdf *p);

/* Starts a new page of width x height points (1..14400) and makes it current. */
int zl_pdf_page(zl_pdf *p, double width, double height);
int zl_pdf_page_count(const zl_pdf *p);

/* Colours (components 0..1) and line width stay in effect across pages. Text is
 * drawn with the fill colour. */
int zl_pdf_fill_color(zl_pdf *p, double r, double g, double b);
int zl_pdf_stroke_color(zl_pdf *p, double r, double g, double b);
int zl_pdf_line_width(zl_pdf *p, double width);

typedef enum { ZL_PDF_FILL = 1, ZL_PDF_STROKE = 2, ZL_PDF_FILL_STROKE = 3 } zl_pdf_paint;

int zl_pdf_rect(zl_pdf *p, double x, double y, double w, double h, zl_pdf_paint mode);
int zl_pdf_circle(zl_pdf *p, double cx, double cy, double r, zl_pdf_paint mode);
int zl_pdf_line(zl_pdf *p, double x0, double y0, double x1, double y1);
/* Cubic Bezier from (x0,y0) to (x3,y3) with control points 1 and 2, stroked. */
int zl_pdf_curve(zl_pdf *p, double x0, double y0, double x1, double y1, double x2, double y2,
                 double x3, double y3);
/* Closed polygon through n points (xy = x0,y0,x1,y1,...). */
int zl_pdf_polygon(zl_pdf *p, const double *xy, int n, zl_pdf_paint mode);

typedef enum { ZL_PDF_LEFT, ZL_PDF_CENTER, ZL_PDF_RIGHT } zl_pdf_align;
/* Where y lies on the text: its baseline, the middle / top of capital letters,
 * or the bottom of descenders. */
typedef enum { ZL_PDF_BASELINE, ZL_PDF_MIDDLE, ZL_PDF_TOP, ZL_PDF_BOTTOM } zl_pdf_valign;

typedef struct zl_pdf_text_style {
    const char *font;     /* "Helvetica", "Times-Roman" or "Courier", each with -Bold, -Oblique
                             or -BoldOblique (Times: -Italic): drawn in the embedded DejaVu
                             face of that style; NULL = Helvetica */
    double size;          /* points; 0 = 10 */
    zl_pdf_align align;
    zl_pdf_valign valign;
    double angle;         /* degrees, counter-clockwise around (x, y) */
} zl_pdf_text_style;

/* st may be NULL (Helvetica 10, left, baseline). */
int zl_pdf_text(zl_pdf *p, double x, double y, const char *utf8, const zl_pdf_text_style *st);
/* Advance width in points of the text as zl_pdf_text would draw it (needs no page). */
int zl_pdf_text_width(zl_pdf *p, const char *utf8, const zl_pdf_text_style *st, double *width);

/* Renders the document in memory and writes it atomically. */
int zl_pdf_save(zl_pdf *p, const char *path);

/* ---- colour maps ---- */

/* matplotlib's "seismic" (LinearSegmentedColormap, N = 256 lookup entries):
 * x in [0, 1] -> rgb; outside clips to the ends; NaN -> -1. */
int zl_pdf_seismic(double x, double rgb[3]);

/* The colour seaborn's heatmap(cmap="seismic", vmin, vmax, center) gives value v.
 * With center: vrange = max(vmax - center, center - vmin), cmin/cmax = v{min,max}
 * normalised over center -/+ vrange, and the map is the 256-colour
 * ListedColormap(seismic(linspace(cmin, cmax, 256))) over [vmin, vmax]; without
 * (has_center = 0) plain seismic over [vmin, vmax]. Values outside clip to the ends.
 * -10..2 centred at 0: -10 -> (0,0,0.3), 0 -> (1,0.992,0.992), 2 -> (1,0.6,0.6). */
int zl_pdf_heat_color(double v, double vmin, double vmax, int has_center, double center,
                      double rgb[3]);

/* ---- the attention-zone heatmap (the paper's Figure 1) ---- */

typedef struct zl_pdf_heatmap {
    int rows, cols;
    const double *values;            /* rows x cols, row-major; row 0 is drawn at the BOTTOM;
                                        NaN: an empty cell (not measured), drawn light grey */
    const char *const *col_labels;   /* cols labels (markup allowed), or NULL -> 1..cols */
    const char *const *row_labels;   /* rows labels, or NULL -> 1..rows */
    double vmin, vmax;
    int has_center;
    double center;
    int annotate;                    /* print each value (1 decimal) in its cell */
    const char *title;               /* above the panel, or NULL */
    const char *subtitle;            /* a smaller line under the title (the baseline), or NULL */
    const char *bar_label;           /* beside this panel's colour bar, or NULL */
    const char *xlabel, *ylabel;     /* axis labels, or NULL */
    double cell_w, cell_h;           /* points; 0 -> 30 x 18 */
} zl_pdf_heatmap;

typedef enum { ZL_PDF_BAR_NONE, ZL_PDF_BAR_SHARED, ZL_PDF_BAR_EACH } zl_pdf_bar;

/* Where things landed (points, page coordinates): the cell grid's lower-left
 * corner and cell size; the colour bar's rectangle (w = 0 when the panel has none). */
typedef struct zl_pdf_heatmap_geom {
    double x, y, cell_w, cell_h;
    double bar_x, bar_y, bar_w, bar_h;
} zl_pdf_heatmap_geom;

/* Lays out n panels side by side on one page (bar: colour bars), with an optional
 * page title and a note under the panels (wrapped to the page's width): page size and
 * each panel's geometry (geom: n entries, may be NULL). A shared bar needs the same
 * vmin/vmax/center in every panel and takes its label from the last panel. Colour bars
 * carry matplotlib's extend='both' triangles: the colours values beyond vmin and vmax
 * are drawn with. */
int zl_pdf_heatmap_layout(zl_pdf *p, const zl_pdf_heatmap *panels, int n, zl_pdf_bar bar,
                          const char *title, const char *note, double *page_w, double *page_h,
                          zl_pdf_heatmap_geom *geom);
/* Adds that page and draws it. */
int zl_pdf_heatmap_page(zl_pdf *p, const zl_pdf_heatmap *panels, int n, zl_pdf_bar bar,
                        const char *title, const char *note, zl_pdf_heatmap_geom *geom);

#endif
