/* pdf.c — drawing over libharu, the seismic colour map, the zone heatmap (see pdf.h). */
#include "pdf.h"
#include "error.h"
#include "io.h"

#include <hpdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zl_pdf {
    HPDF_Doc doc;
    HPDF_Page page;       /* current page, NULL before the first */
    int pages;
    HPDF_STATUS err, detail; /* first error libharu reported since the last check */
    double fill[3], stroke[3], line_width;
    HPDF_Font fonts[7], uni_font;   /* embedded faces, loaded on first use (see get_font) */
    int utf_ready;
};

/* libharu calls this instead of failing loudly; we only record, and every wrapper
 * checks the record after its calls (returning normally keeps libharu's own frames
 * intact: no longjmp). */
static void HPDF_STDCALL on_hpdf_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user)
{
    zl_pdf *p = user;
    if (!p->err) {
        p->err = error_no;
        p->detail = detail_no;
    }
}

static int check(zl_pdf *p, HPDF_STATUS st, const char *what)
{
    if (st == HPDF_OK && !p->err) return 0;
    unsigned e = (unsigned)(p->err ? p->err : st);
    zl_error_set("pdf: %s failed (libharu error 0x%04X, detail %u)", what, e, (unsigned)p->detail);
    p->err = 0;
    p->detail = 0;
    HPDF_ResetError(p->doc);
    /* libharu refuses operators while an error is pending, so a failure inside a path
     * or text object leaves the page in that mode: close it now (errors cleared first) */
    if (p->page) {
        HPDF_UINT16 mode = HPDF_Page_GetGMode(p->page);
        if (mode == HPDF_GMODE_TEXT_OBJECT) HPDF_Page_EndText(p->page);
        else if (mode == HPDF_GMODE_PATH_OBJECT) HPDF_Page_EndPath(p->page);
        p->err = 0;
        HPDF_ResetError(p->doc);
    }
    return -1;
}

zl_pdf *zl_pdf_new(void)
{
    zl_pdf *p = calloc(1, sizeof *p);
    if (!p) { zl_error_set("pdf: out of memory"); return NULL; }
    p->doc = HPDF_New(on_hpdf_error, p);
    if (!p->doc) {
        free(p);
        zl_error_set("pdf: libharu could not create a document (out of memory)");
        return NULL;
    }
    p->line_width = 1.0;
    if (check(p, HPDF_SetCompressionMode(p->doc, HPDF_COMP_ALL), "setting compression") != 0) {
        zl_pdf_free(p);
        return NULL;
    }
    return p;
}

void zl_pdf_free(zl_pdf *p)
{
    if (!p) return;
    if (p->doc) HPDF_Free(p->doc);
    free(p);
}

int zl_pdf_page_count(const zl_pdf *p) { return p->pages; }

static int need_page(zl_pdf *p, const char *what)
{
    if (!p->page) return zl_error_set("pdf: %s needs a page (add one first)", what);
    return 0;
}

static int finite_all(const double *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i])) return 0;
    return 1;
}

static int apply_state(zl_pdf *p)
{
    HPDF_STATUS st = HPDF_Page_SetRGBFill(p->page, (HPDF_REAL)p->fill[0], (HPDF_REAL)p->fill[1],
                                          (HPDF_REAL)p->fill[2]);
    if (st == HPDF_OK)
        st = HPDF_Page_SetRGBStroke(p->page, (HPDF_REAL)p->stroke[0], (HPDF_REAL)p->stroke[1],
                                    (HPDF_REAL)p->stroke[2]);
    if (st == HPDF_OK) st = HPDF_Page_SetLineWidth(p->page, (HPDF_REAL)p->line_width);
    return check(p, st, "setting the graphics state");
}

int zl_pdf_page(zl_pdf *p, double width, double height)
{
    if (!(width >= 3 && width <= 14400 && height >= 3 && height <= 14400))
        return zl_error_set("pdf: page size %g x %g points is outside 3..14400", width, height);
    HPDF_Page page = HPDF_AddPage(p->doc);
    if (!page || p->err) return check(p, HPDF_FAILD_TO_ALLOC_MEM, "adding a page");
    HPDF_STATUS st = HPDF_Page_SetWidth(page, (HPDF_REAL)width);
    if (st == HPDF_OK) st = HPDF_Page_SetHeight(page, (HPDF_REAL)height);
    if (check(p, st, "sizing a page") != 0) return -1;
    p->page = page;
    p->pages++;
    return apply_state(p);
}

static int check_rgb(double r, double g, double b, const char *what)
{
    double c[3] = {r, g, b};
    for (int i = 0; i < 3; i++)
        if (!(c[i] >= 0 && c[i] <= 1))
            return zl_error_set("pdf: %s colour (%g, %g, %g) has a component outside 0..1",
                                what, r, g, b);
    return 0;
}

int zl_pdf_fill_color(zl_pdf *p, double r, double g, double b)
{
    if (check_rgb(r, g, b, "fill") != 0) return -1;
    p->fill[0] = r, p->fill[1] = g, p->fill[2] = b;
    if (!p->page) return 0;
    return check(p, HPDF_Page_SetRGBFill(p->page, (HPDF_REAL)r, (HPDF_REAL)g, (HPDF_REAL)b),
                 "setting the fill colour");
}

int zl_pdf_stroke_color(zl_pdf *p, double r, double g, double b)
{
    if (check_rgb(r, g, b, "stroke") != 0) return -1;
    p->stroke[0] = r, p->stroke[1] = g, p->stroke[2] = b;
    if (!p->page) return 0;
    return check(p, HPDF_Page_SetRGBStroke(p->page, (HPDF_REAL)r, (HPDF_REAL)g, (HPDF_REAL)b),
                 "setting the stroke colour");
}

int zl_pdf_line_width(zl_pdf *p, double width)
{
    if (!(width >= 0 && width <= 1000))
        return zl_error_set("pdf: line width %g is outside 0..1000", width);
    p->line_width = width;
    if (!p->page) return 0;
    return check(p, HPDF_Page_SetLineWidth(p->page, (HPDF_REAL)width), "setting the line width");
}

static HPDF_STATUS paint(HPDF_Page page, zl_pdf_paint mode)
{
    switch (mode) {
    case ZL_PDF_FILL: return HPDF_Page_Fill(page);
    case ZL_PDF_STROKE: return HPDF_Page_Stroke(page);
    default: return HPDF_Page_FillStroke(page);
    }
}

static int check_mode(zl_pdf_paint mode)
{
    if (mode != ZL_PDF_FILL && mode != ZL_PDF_STROKE && mode != ZL_PDF_FILL_STROKE)
        return zl_error_set("pdf: unknown paint mode %d", (int)mode);
    return 0;
}

int zl_pdf_rect(zl_pdf *p, double x, double y, double w, double h, zl_pdf_paint mode)
{
    double v[4] = {x, y, w, h};
    if (need_page(p, "rect") != 0 || check_mode(mode) != 0) return -1;
    if (!finite_all(v, 4) || w < 0 || h < 0)
        return zl_error_set("pdf: rect (%g, %g, %g, %g) is not finite or has a negative size",
                            x, y, w, h);
    HPDF_STATUS st = HPDF_Page_Rectangle(p->page, (HPDF_REAL)x, (HPDF_REAL)y, (HPDF_REAL)w,
                                         (HPDF_REAL)h);
    if (st == HPDF_OK) st = paint(p->page, mode);
    return check(p, st, "drawing a rect");
}

int zl_pdf_circle(zl_pdf *p, double cx, double cy, double r, zl_pdf_paint mode)
{
    double v[3] = {cx, cy, r};
    if (need_page(p, "circle") != 0 || check_mode(mode) != 0) return -1;
    if (!finite_all(v, 3) || r <= 0)
        return zl_error_set("pdf: circle (%g, %g) radius %g is not finite or not positive",
                            cx, cy, r);
    HPDF_STATUS st = HPDF_Page_Circle(p->page, (HPDF_REAL)cx, (HPDF_REAL)cy, (HPDF_REAL)r);
    if (st == HPDF_OK) st = paint(p->page, mode);
    return check(p, st, "drawing a circle");
}

int zl_pdf_line(zl_pdf *p, double x0, double y0, double x1, double y1)
{
    double v[4] = {x0, y0, x1, y1};
    if (need_page(p, "line") != 0) return -1;
    if (!finite_all(v, 4)) return zl_error_set("pdf: line coordinates are not finite");
    HPDF_STATUS st = HPDF_Page_MoveTo(p->page, (HPDF_REAL)x0, (HPDF_REAL)y0);
    if (st == HPDF_OK) st = HPDF_Page_LineTo(p->page, (HPDF_REAL)x1, (HPDF_REAL)y1);
    if (st == HPDF_OK) st = HPDF_Page_Stroke(p->page);
    return check(p, st, "drawing a line");
}

int zl_pdf_curve(zl_pdf *p, double x0, double y0, double x1, double y1, double x2, double y2,
                 double x3, double y3)
{
    double v[8] = {x0, y0, x1, y1, x2, y2, x3, y3};
    if (need_page(p, "curve") != 0) return -1;
    if (!finite_all(v, 8)) return zl_error_set("pdf: curve coordinates are not finite");
    HPDF_STATUS st = HPDF_Page_MoveTo(p->page, (HPDF_REAL)x0, (HPDF_REAL)y0);
    if (st == HPDF_OK)
        st = HPDF_Page_CurveTo(p->page, (HPDF_REAL)x1, (HPDF_REAL)y1, (HPDF_REAL)x2,
                               (HPDF_REAL)y2, (HPDF_REAL)x3, (HPDF_REAL)y3);
    if (st == HPDF_OK) st = HPDF_Page_Stroke(p->page);
    return check(p, st, "drawing a curve");
}

int zl_pdf_polygon(zl_pdf *p, const double *xy, int n, zl_pdf_paint mode)
{
    if (need_page(p, "polygon") != 0 || check_mode(mode) != 0) return -1;
    if (n < 2) return zl_error_set("pdf: polygon needs at least 2 points, got %d", n);
    if (!finite_all(xy, 2 * n)) return zl_error_set("pdf: polygon coordinates are not finite");
    HPDF_STATUS st = HPDF_Page_MoveTo(p->page, (HPDF_REAL)xy[0], (HPDF_REAL)xy[1]);
    for (int i = 1; i < n && st == HPDF_OK; i++)
        st = HPDF_Page_LineTo(p->page, (HPDF_REAL)xy[2 * i], (HPDF_REAL)xy[2 * i + 1]);
    if (st == HPDF_OK) st = HPDF_Page_ClosePath(p->page);
    if (st == HPDF_OK) st = paint(p->page, mode);
    return check(p, st, "drawing a polygon");
}

/* ---- text ---- */

/* Unicode code points of WinAnsi bytes 0x80..0x9F (0 = unused). */
static const unsigned short winansi_80[32] = {
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
    0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};

static unsigned char to_winansi_char(unsigned long cp)
{
    if (cp >= 0x20 && cp < 0x7F) return (unsigned char)cp;
    if (cp >= 0xA0 && cp <= 0xFF) return (unsigned char)cp;
    if (cp == 0x2212) return '-'; /* minus sign */
    for (int i = 0; i < 32; i++)
        if (winansi_80[i] && winansi_80[i] == cp) return (unsigned char)(0x80 + i);
    return '?';
}

/* Decodes one UTF-8 sequence at u[i..n); *cp gets the code point, or 0xFFFFFFFF for a
 * malformed byte (which consumes one byte). Returns the bytes consumed. */
static int utf8_next(const unsigned char *u, size_t i, size_t n, unsigned long *cp)
{
    int len;
    unsigned long c;
    if (u[i] < 0x80) { *cp = u[i]; return 1; }
    if ((u[i] & 0xE0) == 0xC0) c = u[i] & 0x1F, len = 2;
    else if ((u[i] & 0xF0) == 0xE0) c = u[i] & 0x0F, len = 3;
    else if ((u[i] & 0xF8) == 0xF0) c = u[i] & 0x07, len = 4;
    else { *cp = 0xFFFFFFFFul; return 1; }
    if (i + (size_t)len > n) { *cp = 0xFFFFFFFFul; return 1; }
    for (int k = 1; k < len; k++) {
        if ((u[i + k] & 0xC0) != 0x80) { *cp = 0xFFFFFFFFul; return 1; }
        c = (c << 6) | (u[i + k] & 0x3F);
    }
    *cp = c;
    return len;
}

/* UTF-8 -> WinAnsi; out holds at least n + 1 bytes. Control characters are dropped,
 * malformed bytes become '?'. Returns the output length. */
static size_t to_winansi(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned long cp;
        i += (size_t)utf8_next(u, i, n, &cp);
        if (cp == 0xFFFFFFFFul) { out[o++] = '?'; continue; }
        if (cp < 0x20 || cp == 0x7F) continue;
        out[o++] = (char)to_winansi_char(cp);
    }
    out[o] = '\0';
    return o;
}

/* 1 when every character of the text has a WinAnsi code (controls are dropped anyway,
 * malformed bytes draw as '?'): such text is drawn with the small single-byte fonts. */
static int all_winansi(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        unsigned long cp;
        i += (size_t)utf8_next(u, i, n, &cp);
        if (cp == 0xFFFFFFFFul || cp < 0x20 || cp == 0x7F) continue;
        if (cp != '?' && to_winansi_char(cp) == '?') return 0;
    }
    return 1;
}

/* UTF-8 -> the UTF-8 that libharu's UTF-8 encoder takes: controls dropped, malformed
 * bytes and characters beyond the Basic Multilingual Plane (the encoder's codes are
 * 16-bit) become '?'. out holds at least n + 1 bytes. */
static size_t to_bmp_utf8(const char *s, size_t n, char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned long cp;
        size_t at = i;
        i += (size_t)utf8_next(u, i, n, &cp);
        if (cp != 0xFFFFFFFFul && (cp < 0x20 || cp == 0x7F)) continue;
        if (cp == 0xFFFFFFFFul || cp > 0xFFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            out[o++] = '?';
            continue;
        }
        memcpy(out + o, s + at, i - at);
        o += i - at;
    }
    out[o] = '\0';
    return o;
}

/* A piece of text at one size: plain, or the content of "^{...}". */
typedef struct { const char *s; size_t n; int sup; } text_run;

static int next_run(const char **cur, text_run *r)
{
    const char *s = *cur;
    if (!*s) return 0;
    if (s[0] == '^' && s[1] == '{') {
        const char *e = strchr(s + 2, '}');
        if (e) {
            r->s = s + 2, r->n = (size_t)(e - s - 2), r->sup = 1;
            *cur = e + 1;
            return 1;
        }
        /* unclosed: no later "^{" can close either, the rest is plain */
        r->s = s, r->n = strlen(s), r->sup = 0;
        *cur = s + r->n;
        return 1;
    }
    const char *t = strstr(s + 1, "^{");
    const char *end = t && strchr(t + 2, '}') ? t : s + strlen(s);
    r->s = s, r->n = (size_t)(end - s), r->sup = 0;
    *cur = end;
    return 1;
}

#define SUP_SCALE 0.65
#define SUP_RAISE 0.40

/* The faces zonelab embeds (never libharu's base-14 fonts, which readers substitute).
 * The style's base-14 names pick a face; Oblique variants are the upright face sheared
 * by 12 degrees, as the face packages ship no oblique file. */
enum { FACE_SANS, FACE_SANS_BOLD, FACE_SERIF, FACE_SERIF_BOLD, FACE_MONO, FACE_MONO_BOLD,
       FACE_CJK, FACE_COUNT };

static const struct {
    const char *file, *package;
} face_files[FACE_COUNT] = {
    {"dejavu/DejaVuSans.ttf", "fonts-dejavu-core"},
    {"dejavu/DejaVuSans-Bold.ttf", "fonts-dejavu-core"},
    {"dejavu/DejaVuSerif.ttf", "fonts-dejavu-core"},
    {"dejavu/DejaVuSerif-Bold.ttf", "fonts-dejavu-core"},
    {"dejavu/DejaVuSansMono.ttf", "fonts-dejavu-core"},
    {"dejavu/DejaVuSansMono-Bold.ttf", "fonts-dejavu-core"},
    {"wqy/wqy-microhei.ttc", "fonts-wqy-microhei"},
};

_Static_assert(FACE_COUNT <= 7, "struct zl_pdf holds 7 faces");

#define OBLIQUE_SHEAR 0.21255656167002213 /* tan(12 degrees) */

/* Maps a style's font name to a face; -1 (error set) for an unknown name. */
static int face_of(const char *name, int *oblique)
{
    static const struct { const char *name; int face, oblique; } names[] = {
        {"Helvetica", FACE_SANS, 0}, {"Helvetica-Bold", FACE_SANS_BOLD, 0},
        {"Helvetica-Oblique", FACE_SANS, 1}, {"Helvetica-BoldOblique", FACE_SANS_BOLD, 1},
        {"Times-Roman", FACE_SERIF, 0}, {"Times-Bold", FACE_SERIF_BOLD, 0},
        {"Times-Italic", FACE_SERIF, 1}, {"Times-BoldItalic", FACE_SERIF_BOLD, 1},
        {"Courier", FACE_MONO, 0}, {"Courier-Bold", FACE_MONO_BOLD, 0},
        {"Courier-Oblique", FACE_MONO, 1}, {"Courier-BoldOblique", FACE_MONO_BOLD, 1},
    };
    if (!name) name = "Helvetica";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *oblique = names[i].oblique;
            return names[i].face;
        }
    return zl_error_set("pdf: unknown font '%s' (use Helvetica, Times-Roman or Courier, "
                        "with -Bold, -Oblique or -BoldOblique)", name);
}

/* The font file of a face: in $ZONELAB_FONT_DIR when that is set (only there, so a
 * figure never mixes two installations), else Debian's /usr/share/fonts/truetype/<file>. */
static int face_path(int face, char *buf, size_t len)
{
    const char *dir = getenv("ZONELAB_FONT_DIR");
    const char *file = face_files[face].file, *base = strchr(file, '/') + 1;
    if (dir && *dir) snprintf(buf, len, "%s/%s", dir, base);
    else snprintf(buf, len, "/usr/share/fonts/truetype/%s", file);
    if (access(buf, R_OK) == 0) return 0;
    return zl_error_set("pdf: font %s not found (install the Debian package %s%s%s)", buf,
                        face_files[face].package, dir && *dir ? ", or put " : "",
                        dir && *dir ? "the file in ZONELAB_FONT_DIR" : "");
}

/* libharu 2.3 gives a UTF-8 Type0 font its encoding CMap as /ToUnicode, which readers
 * reject ("Invalid 'begincidrange' operator in ToUnicode CMap"). The UTF-8 encoder's codes
 * are the characters' own code points (Identity-H), so the right ToUnicode is the
 * identity over the Basic Multilingual Plane: written here and swapped in. */
static int fix_to_unicode(zl_pdf *p, HPDF_Font font)
{
    HPDF_Dict cmap = HPDF_DictStream_New(p->doc->mmgr, p->doc->xref);
    if (!cmap) return check(p, HPDF_FAILD_TO_ALLOC_MEM, "creating a ToUnicode map");
    HPDF_Stream st = cmap->stream;
    HPDF_STATUS hs = HPDF_Stream_WriteStr(st,
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n");
    /* one range per high byte, surrogates skipped; at most 100 entries per block */
    int highs[256], nh = 0;
    for (int h = 0; h < 256; h++)
        if (h < 0xD8 || h > 0xDF) highs[nh++] = h;
    for (int i = 0; i < nh && hs == HPDF_OK; i += 100) {
        int m = nh - i < 100 ? nh - i : 100;
        char line[64];
        snprintf(line, sizeof line, "%d beginbfrange\n", m);
        hs = HPDF_Stream_WriteStr(st, line);
        for (int k = 0; k < m && hs == HPDF_OK; k++) {
            snprintf(line, sizeof line, "<%02X00> <%02XFF> <%02X00>\n", highs[i + k], highs[i + k],
                     highs[i + k]);
            hs = HPDF_Stream_WriteStr(st, line);
        }
        if (hs == HPDF_OK) hs = HPDF_Stream_WriteStr(st, "endbfrange\n");
    }
    if (hs == HPDF_OK)
        hs = HPDF_Stream_WriteStr(st, "endcmap\nCMapName currentdict /CMap defineresource pop\n"
                                      "end\nend\n");
    cmap->filter = HPDF_STREAM_FILTER_FLATE_DECODE;
    if (hs == HPDF_OK) hs = HPDF_Dict_Add(font, "ToUnicode", cmap);
    return check(p, hs, "writing a ToUnicode map");
}

/* libharu 2.3 reads a composite glyph's component ids as signed 16-bit numbers, so in
 * fonts with more than 32767 glyphs (every CJK face) components above that are never
 * marked for the subset and such characters draw blank (京 and 学 in WenQuanYi Micro
 * Hei). Before the document is rendered, every used composite's components are marked
 * here, read as unsigned, recursively. */
static void mark_components(HPDF_TTFontDefAttr a, unsigned gid, int depth)
{
    if (depth > 8 || gid >= a->num_glyphs) return;
    int m = a->header.index_to_loc_format == 0 ? 2 : 1;
    HPDF_UINT32 off = a->glyph_tbl.offsets[gid] * m, end = a->glyph_tbl.offsets[gid + 1] * m;
    if (end <= off + 10 || end - off > 65536) return;
    HPDF_BYTE buf[65536];
    HPDF_UINT len = end - off;
    if (HPDF_Stream_Seek(a->stream, (HPDF_INT32)(a->glyph_tbl.base_offset + off), HPDF_SEEK_SET) !=
            HPDF_OK ||
        HPDF_Stream_Read(a->stream, buf, &len) != HPDF_OK || len != end - off)
        return;
    if (!(buf[0] & 0x80)) return; /* numberOfContours >= 0: a simple glyph */
    size_t p = 10;
    for (;;) {
        if (p + 4 > len) return;
        unsigned flags = (unsigned)buf[p] << 8 | buf[p + 1];
        unsigned part = (unsigned)buf[p + 2] << 8 | buf[p + 3];
        p += 4 + (flags & 1 ? 4 : 2);            /* ARG_1_AND_2_ARE_WORDS */
        p += flags & 8 ? 2 : flags & 64 ? 4 : flags & 128 ? 8 : 0; /* scale, xy, 2x2 */
        if (part < a->num_glyphs && !a->glyph_tbl.flgs[part]) {
            a->glyph_tbl.flgs[part] = 1;
            mark_components(a, part, depth + 1);
        }
        if (!(flags & 32)) return;                /* MORE_COMPONENTS */
    }
}

static void mark_composites(HPDF_Font font)
{
    if (!font) return;
    HPDF_FontDef def = ((HPDF_FontAttr)font->attr)->fontdef;
    if (!def || def->type != HPDF_FONTDEF_TYPE_TRUETYPE) return;
    HPDF_TTFontDefAttr a = def->attr;
    if (!a->embedding || !a->stream) return;
    for (unsigned g = 0; g < a->num_glyphs; g++)
        if (a->glyph_tbl.flgs[g]) mark_components(a, g, 0);
}

/* The embedded font of a face: single-byte WinAnsi for text that fits it (small
 * figures), or the CJK face's UTF-8 Type0 font for any other text. Loaded on first
 * use, so a figure embeds only the faces it draws with (subset to its glyphs). */
static HPDF_Font get_font(zl_pdf *p, int face, int unicode)
{
    if (unicode) face = FACE_CJK;
    HPDF_Font *slot = unicode ? &p->uni_font : &p->fonts[face];
    if (*slot) return *slot;
    char path[4096];
    if (face_path(face, path, sizeof path) != 0) return NULL;
    if (unicode && !p->utf_ready) {
        if (check(p, HPDF_UseUTFEncodings(p->doc), "enabling UTF-8 text") != 0) return NULL;
        p->utf_ready = 1;
    }
    const char *name = face == FACE_CJK ? HPDF_LoadTTFontFromFile2(p->doc, path, 0, HPDF_TRUE)
                                        : HPDF_LoadTTFontFromFile(p->doc, path, HPDF_TRUE);
    if (!name || p->err) {
        check(p, HPDF_INVALID_FONT_NAME, "loading a font");
        zl_error_prefix("%s: ", path);
        return NULL;
    }
    HPDF_Font f = HPDF_GetFont(p->doc, name, unicode ? "UTF-8" : "WinAnsiEncoding");
    if (!f || p->err) {
        check(p, HPDF_INVALID_FONT_NAME, "loading a font");
        zl_error_prefix("%s: ", path);
        return NULL;
    }
    if (unicode && fix_to_unicode(p, f) != 0) return NULL;
    *slot = f;
    return f;
}

static int check_style(const zl_pdf_text_style *st, double *size)
{
    *size = st->size == 0 ? 10 : st->size;
    if (!(*size > 0 && *size <= 1000)) return zl_error_set("pdf: text size %g is outside 0..1000", *size);
    if (!isfinite(st->angle)) return zl_error_set("pdf: text angle is not finite");
    if ((unsigned)st->align > ZL_PDF_RIGHT || (unsigned)st->valign > ZL_PDF_BOTTOM)
        return zl_error_set("pdf: unknown text alignment");
    return 0;
}

/* Measures (and with draw set, draws) text; *width gets the advance in points. */
static int text_do(zl_pdf *p, double x, double y, const char *utf8, const zl_pdf_text_style *stp,
                   int draw, double *width)
{
    static const zl_pdf_text_style plain = {0};
    const zl_pdf_text_style *st = stp ? stp : &plain;
    double size;
    if (!utf8) return zl_error_set("pdf: text is NULL");
    if (check_style(st, &size) != 0) return -1;
    int oblique = 0, face = face_of(st->font, &oblique);
    if (face < 0) return -1;
    int unicode = !all_winansi(utf8);
    HPDF_Font font = get_font(p, face, unicode);
    if (!font) return -1;
    size_t (*encode)(const char *, size_t, char *) = unicode ? to_bmp_utf8 : to_winansi;
    size_t cap = strlen(utf8) + 1;
    char *buf = malloc(cap);
    if (!buf) return zl_error_set("pdf: out of memory");

    double total = 0;
    const char *cur = utf8;
    text_run r;
    while (next_run(&cur, &r)) {
        size_t n = encode(r.s, r.n, buf);
        HPDF_TextWidth tw = HPDF_Font_TextWidth(font, (const HPDF_BYTE *)buf, (HPDF_UINT)n);
        total += tw.width * (r.sup ? size * SUP_SCALE : size) / 1000.0;
    }
    if (p->err) { free(buf); return check(p, HPDF_OK, "measuring text"); }
    *width = total;
    if (!draw) { free(buf); return 0; }
    if (need_page(p, "text") != 0) { free(buf); return -1; }

    double a = st->angle * (3.14159265358979323846 / 180.0), c = cos(a), s = sin(a);
    double sh = oblique ? OBLIQUE_SHEAR : 0; /* shear along the baseline, before rotation */
    double u = st->align == ZL_PDF_LEFT ? 0 : st->align == ZL_PDF_CENTER ? -total / 2 : -total;
    double capf = HPDF_Font_GetCapHeight(font) / 1000.0, desc = HPDF_Font_GetDescent(font) / 1000.0;
    if (capf <= 0) capf = 0.7; /* a face that reports none */
    double v = st->valign == ZL_PDF_MIDDLE ? -capf * size / 2
               : st->valign == ZL_PDF_TOP  ? -capf * size
               : st->valign == ZL_PDF_BOTTOM ? -desc * size : 0;
    HPDF_STATUS hs = HPDF_Page_BeginText(p->page);
    int in_text = hs == HPDF_OK;
    cur = utf8;
    while (hs == HPDF_OK && next_run(&cur, &r)) {
        size_t n = encode(r.s, r.n, buf);
        double rs = r.sup ? size * SUP_SCALE : size, rv = v + (r.sup ? SUP_RAISE * size : 0);
        if (n == 0) continue;
        hs = HPDF_Page_SetFontAndSize(p->page, font, (HPDF_REAL)rs);
        if (hs == HPDF_OK)
            hs = HPDF_Page_SetTextMatrix(p->page, (HPDF_REAL)c, (HPDF_REAL)s,
                                         (HPDF_REAL)(-s + sh * c), (HPDF_REAL)(c + sh * s),
                                         (HPDF_REAL)(x + u * c - rv * s),
                                         (HPDF_REAL)(y + u * s + rv * c));
        if (hs == HPDF_OK) hs = HPDF_Page_ShowText(p->page, buf);
        u += HPDF_Font_TextWidth(font, (const HPDF_BYTE *)buf, (HPDF_UINT)n).width * rs / 1000.0;
    }
    free(buf);
    /* on failure check() closes the text object itself */
    if (check(p, hs, "drawing text") != 0) return -1;
    return in_text ? check(p, HPDF_Page_EndText(p->page), "ending text") : 0;
}

int zl_pdf_text(zl_pdf *p, double x, double y, const char *utf8, const zl_pdf_text_style *st)
{
    double w;
    if (!isfinite(x) || !isfinite(y)) return zl_error_set("pdf: text position is not finite");
    return text_do(p, x, y, utf8, st, 1, &w);
}

int zl_pdf_text_width(zl_pdf *p, const char *utf8, const zl_pdf_text_style *st, double *width)
{
    return text_do(p, 0, 0, utf8, st, 0, width);
}

int zl_pdf_save(zl_pdf *p, const char *path)
{
    if (p->pages == 0) return zl_error_set("%s: the PDF has no pages", path);
    for (int i = 0; i < FACE_COUNT; i++) mark_composites(p->fonts[i]);
    mark_composites(p->uni_font);
    if (check(p, HPDF_SaveToStream(p->doc), "rendering the document") != 0)
        return zl_error_prefix("%s: ", path);
    HPDF_UINT32 size = HPDF_GetStreamSize(p->doc);
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return zl_error_set("%s: out of memory for a PDF of %u bytes", path, (unsigned)size);
    HPDF_UINT32 got = 0;
    HPDF_STATUS st = HPDF_ResetStream(p->doc);
    while (st == HPDF_OK && got < size) {
        HPDF_UINT32 n = size - got;
        st = HPDF_ReadFromStream(p->doc, buf + got, &n);
        got += n;
        if (st == HPDF_STREAM_EOF && got == size) st = HPDF_OK;
        if (n == 0) break;
    }
    if (st == HPDF_STREAM_EOF && got == size) st = HPDF_OK, p->err = 0;
    if (check(p, st, "reading the rendered document") != 0 || got != size) {
        free(buf);
        if (got != size) zl_error_set("pdf: rendered %u of %u bytes", (unsigned)got, (unsigned)size);
        return zl_error_prefix("%s: ", path);
    }
    int rc = zl_io_write_atomic(path, buf, size);
    free(buf);
    return rc;
}

/* ---- colour maps ---- */

#define CMAP_N 256

/* matplotlib's _create_lookup_table for seismic's segment data (x = i / 255 as
 * np.linspace computes it; searchsorted 'left'; y0 == y1 at every breakpoint). */
static void seismic_entry(int i, double rgb[3])
{
    static const double xs[5] = {0, 0.25, 0.5, 0.75, 1};
    static const double ys[3][5] = {{0, 0, 1, 1, 0.5}, {0, 0, 1, 0, 0}, {0.3, 1, 1, 0, 0}};
    if (i <= 0 || i >= CMAP_N - 1) {
        for (int c = 0; c < 3; c++) rgb[c] = ys[c][i <= 0 ? 0 : 4];
        return;
    }
    double x = (double)i * (1.0 / (CMAP_N - 1));
    int k = 1;
    while (k < 4 && xs[k] < x) k++;
    double d = (x - xs[k - 1]) / (xs[k] - xs[k - 1]);
    for (int c = 0; c < 3; c++) {
        double v = d * (ys[c][k] - ys[c][k - 1]) + ys[c][k - 1];
        rgb[c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

/* Colormap.__call__ for a float: index floor(x * N), x == 1 -> N - 1, under/over
 * -> the end entries (seismic and seaborn's ListedColormap set no other). */
static int cmap_index(double x)
{
    double xa = x * CMAP_N;
    if (xa == CMAP_N) xa = CMAP_N - 1;
    if (xa < 0) return 0;
    if (xa >= CMAP_N) return CMAP_N - 1;
    return (int)xa;
}

int zl_pdf_seismic(double x, double rgb[3])
{
    if (isnan(x)) return zl_error_set("colour map: value is NaN");
    seismic_entry(cmap_index(x), rgb);
    return 0;
}

int zl_pdf_heat_color(double v, double vmin, double vmax, int has_center, double center,
                      double rgb[3])
{
    if (isnan(v)) return zl_error_set("colour map: value is NaN");
    if (!isfinite(vmin) || !isfinite(vmax) || !(vmin < vmax))
        return zl_error_set("colour map: vmin %g must be below vmax %g", vmin, vmax);
    double n = (v - vmin) / (vmax - vmin); /* Normalize(vmin, vmax) */
    if (!has_center) return zl_pdf_seismic(n, rgb);
    if (!isfinite(center)) return zl_error_set("colour map: center is not finite");
    double vrange = fmax(vmax - center, center - vmin);
    double lo = center - vrange, hi = center + vrange;
    double cmin = (vmin - lo) / (hi - lo), cmax = (vmax - lo) / (hi - lo);
    int i = cmap_index(n);
    /* np.linspace(cmin, cmax, 256): i * step + start, the last element exactly stop */
    double c = i == CMAP_N - 1 ? cmax : (double)i * ((cmax - cmin) / (CMAP_N - 1)) + cmin;
    return zl_pdf_seismic(c, rgb);
}

/* ---- the zone heatmap ---- */

#define FS_TICK 9.0
#define FS_LABEL 10.0
#define FS_TITLE 11.0
#define FS_PAGE_TITLE 12.0
#define FS_ANNOT 7.0
#define TICK_LEN 3.0
#define TICK_PAD 2.5
#define BAR_GAP 10.0
#define BAR_W 10.0
#define PANEL_GAP 14.0
#define MARGIN 8.0
#define CAP 0.729   /* DejaVu Sans cap height / em */
#define DESC 0.236  /* DejaVu Sans descent / em */

static const char *label_of(const char *const *labels, int i, char *buf, size_t n)
{
    if (labels && labels[i]) return labels[i];
    snprintf(buf, n, "%d", i + 1);
    return buf;
}

static double nice_step(double range)
{
    double raw = range / 6, mag = pow(10, floor(log10(raw))), f = raw / mag;
    double m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return m * mag;
}

static void tick_label(double t, double step, char *buf, size_t n)
{
    if (fabs(t) < step * 1e-9) t = 0; /* no "-0" */
    if (step == floor(step)) snprintf(buf, n, "%.0f", t);
    else snprintf(buf, n, "%g", t);
}

static int first_tick(double vmin, double step) { return (int)ceil(vmin / step - 1e-9); }

/* Horizontal extent of a panel relative to its grid's lower-left corner. */
typedef struct { double left, right, below, above; } extent;

static int text_w(zl_pdf *p, const char *s, double size, double *w)
{
    zl_pdf_text_style st = {.size = size};
    return zl_pdf_text_width(p, s, &st, w);
}

static int bar_width(zl_pdf *p, const zl_pdf_heatmap *h, double *w)
{
    double step = nice_step(h->vmax - h->vmin), maxw = 0;
    char buf[64];
    for (int k = first_tick(h->vmin, step); k * step <= h->vmax + step * 1e-9; k++) {
        double tw;
        tick_label(k * step, step, buf, sizeof buf);
        if (text_w(p, buf, FS_TICK, &tw) != 0) return -1;
        if (tw > maxw) maxw = tw;
    }
    *w = BAR_GAP + BAR_W + TICK_LEN + TICK_PAD + maxw;
    if (h->bar_label) *w += 4 + FS_LABEL * (CAP + DESC);
    return 0;
}

/* The length of each extend='both' triangle: matplotlib's extendfrac 0.05 of the bar. */
#define EXTEND_FRAC 0.05

/* Word-wraps text to lines no wider than width at size (FS_NOTE); calls back per line. */
#define FS_NOTE 7.5
static int wrap_lines(zl_pdf *p, const char *text, double width, int (*line)(void *, const char *),
                      void *ctx, int *count)
{
    size_t n = strlen(text);
    char *buf = malloc(n + 1);
    if (!buf) return zl_error_set("heatmap: out of memory");
    const char *s = text;
    int lines = 0, rc = 0;
    while (*s && rc == 0) {
        while (*s == ' ') s++;
        if (!*s) break;
        /* take words while the line fits; a single word longer than the line is kept whole */
        size_t best = 0, len = 0;
        for (;;) {
            const char *e = s + len;
            while (*e == ' ') e++;
            const char *w = e;
            while (*w && *w != ' ') w++;
            size_t cand = (size_t)(w - s);
            if (cand == len) break;
            memcpy(buf, s, cand);
            buf[cand] = '\0';
            double tw;
            if ((rc = text_w(p, buf, FS_NOTE, &tw)) != 0) break;
            if (tw > width && best > 0) break;
            best = len = cand;
            if (!*w) break;
        }
        if (rc != 0) break;
        memcpy(buf, s, best);
        buf[best] = '\0';
        if (line) rc = line(ctx, buf);
        lines++;
        s += best;
    }
    free(buf);
    if (count) *count = lines;
    return rc;
}

static int check_panel(const zl_pdf_heatmap *h, int i)
{
    if (h->rows < 1 || h->rows > 1000 || h->cols < 1 || h->cols > 1000)
        return zl_error_set("heatmap panel %d: %d x %d cells (need 1..1000 each)", i + 1,
                            h->rows, h->cols);
    if (!h->values) return zl_error_set("heatmap panel %d: no values", i + 1);
    if (!isfinite(h->vmin) || !isfinite(h->vmax) || !(h->vmin < h->vmax))
        return zl_error_set("heatmap panel %d: vmin %g must be below vmax %g", i + 1, h->vmin,
                            h->vmax);
    if (h->has_center && !isfinite(h->center))
        return zl_error_set("heatmap panel %d: center is not finite", i + 1);
    if (!(h->cell_w == 0 || (h->cell_w >= 1 && h->cell_w <= 500)) ||
        !(h->cell_h == 0 || (h->cell_h >= 1 && h->cell_h <= 500)))
        return zl_error_set("heatmap panel %d: cell size %g x %g outside 1..500 points", i + 1,
                            h->cell_w, h->cell_h);
    int filled = 0;
    for (int r = 0; r < h->rows; r++)
        for (int c = 0; c < h->cols; c++) {
            double v = h->values[(size_t)r * h->cols + c];
            if (isinf(v))
                return zl_error_set("heatmap panel %d: value at row %d, column %d is not finite",
                                    i + 1, r + 1, c + 1);
            filled += !isnan(v);
        }
    if (!filled) return zl_error_set("heatmap panel %d: every cell is empty", i + 1);
    return 0;
}

static double cw_of(const zl_pdf_heatmap *h) { return h->cell_w > 0 ? h->cell_w : 30; }
static double ch_of(const zl_pdf_heatmap *h) { return h->cell_h > 0 ? h->cell_h : 18; }

static int panel_extent(zl_pdf *p, const zl_pdf_heatmap *h, int with_bar, extent *e)
{
    double gw = h->cols * cw_of(h), gh = h->rows * ch_of(h), w;
    char buf[32];
    /* left: row labels right-aligned before the ticks, then the rotated y label */
    double maxw = 0;
    for (int r = 0; r < h->rows; r++) {
        if (text_w(p, label_of(h->row_labels, r, buf, sizeof buf), FS_TICK, &w) != 0) return -1;
        if (w > maxw) maxw = w;
    }
    e->left = TICK_LEN + TICK_PAD + maxw + (h->ylabel ? 4 + FS_LABEL : 0);
    e->right = gw;
    /* column labels may be wider than their cells */
    for (int c = 0; c < h->cols; c++) {
        if (text_w(p, label_of(h->col_labels, c, buf, sizeof buf), FS_TICK, &w) != 0) return -1;
        double x0 = (c + 0.5) * cw_of(h) - w / 2, x1 = x0 + w;
        if (-x0 > e->left) e->left = -x0;
        if (x1 > e->right) e->right = x1;
    }
    e->below = TICK_LEN + TICK_PAD + 1.5 + FS_TICK * (CAP + DESC);
    if (h->xlabel) {
        if (text_w(p, h->xlabel, FS_LABEL, &w) != 0) return -1;
        e->below += 4 + FS_LABEL * (CAP + DESC + SUP_RAISE * 0.5);
        if (gw / 2 - w / 2 < -e->left) e->left = w / 2 - gw / 2;
        if (gw / 2 + w / 2 > e->right) e->right = gw / 2 + w / 2;
    }
    if (h->ylabel) {
        if (text_w(p, h->ylabel, FS_LABEL, &w) != 0) return -1;
        if (w > gh) e->below = fmax(e->below, (w - gh) / 2);
    }
    e->above = FS_TICK * CAP / 2; /* bar's top tick label */
    if (h->subtitle) {
        if (text_w(p, h->subtitle, FS_TICK, &w) != 0) return -1;
        e->above = 5 + FS_TICK * (CAP + DESC);
        if (gw / 2 - w / 2 < -e->left) e->left = w / 2 - gw / 2;
        if (gw / 2 + w / 2 > e->right) e->right = gw / 2 + w / 2;
    }
    if (h->title) {
        if (text_w(p, h->title, FS_TITLE, &w) != 0) return -1;
        e->above = (h->subtitle ? e->above + 2 : 6) + FS_TITLE * (CAP + SUP_RAISE);
        if (gw / 2 - w / 2 < -e->left) e->left = w / 2 - gw / 2;
        if (gw / 2 + w / 2 > e->right) e->right = gw / 2 + w / 2;
    }
    if (with_bar) {
        if (bar_width(p, h, &w) != 0) return -1;
        if (gw + w > e->right) e->right = gw + w;
        /* the triangles reach past the grid (a shared bar's: past the tallest grid, which
         * the page's top margin below covers) */
        double ext = EXTEND_FRAC * gh + 1;
        e->below = fmax(e->below, fmax(FS_TICK * CAP / 2, ext));
        e->above = fmax(e->above, ext);
        if (h->bar_label) {
            if (text_w(p, h->bar_label, FS_LABEL, &w) != 0) return -1;
            if (w > gh) { /* centred on the bar: it reaches past the grid both ways */
                e->below = fmax(e->below, (w - gh) / 2);
                e->above = fmax(e->above, (w - gh) / 2);
            }
        }
    }
    return 0;
}

int zl_pdf_heatmap_layout(zl_pdf *p, const zl_pdf_heatmap *panels, int n, zl_pdf_bar bar,
                          const char *title, const char *note, double *page_w, double *page_h,
                          zl_pdf_heatmap_geom *geom)
{
    if (n < 1 || n > 64) return zl_error_set("heatmap: %d panels (need 1..64)", n);
    if ((unsigned)bar > ZL_PDF_BAR_EACH) return zl_error_set("heatmap: unknown colour bar mode");
    for (int i = 0; i < n; i++)
        if (check_panel(&panels[i], i) != 0) return -1;
    if (bar == ZL_PDF_BAR_SHARED)
        for (int i = 1; i < n; i++) {
            const zl_pdf_heatmap *a = &panels[0], *b = &panels[i];
            if (a->vmin != b->vmin || a->vmax != b->vmax || a->has_center != b->has_center ||
                (a->has_center && a->center != b->center))
                return zl_error_set("heatmap: a shared colour bar needs the same vmin, vmax and "
                                    "center in every panel (panel %d differs)", i + 1);
        }
    extent e[64];
    double below = 0, top = 0, x = MARGIN;
    for (int i = 0; i < n; i++) {
        int with_bar = bar == ZL_PDF_BAR_EACH || (bar == ZL_PDF_BAR_SHARED && i == n - 1);
        if (panel_extent(p, &panels[i], with_bar, &e[i]) != 0) return -1;
        below = fmax(below, e[i].below);
        top = fmax(top, panels[i].rows * ch_of(&panels[i]) + e[i].above);
    }
    double title_h = 0, title_w = 0;
    if (title) {
        zl_pdf_text_style st = {.size = FS_PAGE_TITLE, .font = "Helvetica-Bold"};
        if (zl_pdf_text_width(p, title, &st, &title_w) != 0) return -1;
        title_h = FS_PAGE_TITLE * (CAP + DESC + SUP_RAISE) + 6;
    }
    double max_gh = 0;
    for (int i = 0; i < n; i++) max_gh = fmax(max_gh, panels[i].rows * ch_of(&panels[i]));
    if (bar == ZL_PDF_BAR_SHARED) top = fmax(top, max_gh * (1 + EXTEND_FRAC) + 1);
    /* the note's lines wrap to the panels' width (known before the note is placed) */
    double panels_w = 0;
    for (int i = 0; i < n; i++) panels_w += e[i].left + e[i].right + (i + 1 < n ? PANEL_GAP : 0);
    double note_h = 0;
    if (note) {
        int lines;
        if (wrap_lines(p, note, fmax(fmax(panels_w, title_w), 200), NULL, NULL, &lines) != 0)
            return -1;
        note_h = lines * FS_NOTE * 1.25 + 6;
    }
    double grid_y = MARGIN + note_h + below;
    for (int i = 0; i < n; i++) {
        const zl_pdf_heatmap *h = &panels[i];
        double gx = x + e[i].left;
        if (geom) {
            zl_pdf_heatmap_geom *g = &geom[i];
            memset(g, 0, sizeof *g);
            g->x = gx, g->y = grid_y, g->cell_w = cw_of(h), g->cell_h = ch_of(h);
            int with_bar = bar == ZL_PDF_BAR_EACH || (bar == ZL_PDF_BAR_SHARED && i == n - 1);
            if (with_bar) {
                g->bar_x = gx + h->cols * g->cell_w + BAR_GAP;
                g->bar_y = grid_y;
                g->bar_w = BAR_W;
                /* a shared bar spans the tallest grid */
                g->bar_h = bar == ZL_PDF_BAR_SHARED ? max_gh : h->rows * g->cell_h;
            }
        }
        x = gx + e[i].right + (i + 1 < n ? PANEL_GAP : 0);
    }
    double w = fmax(fmax(x + MARGIN, title_w + 2 * MARGIN), note ? fmax(panels_w, 200) + 2 * MARGIN : 0);
    if (page_w) *page_w = w;
    if (page_h) *page_h = grid_y + top + title_h + MARGIN;
    return 0;
}

/* seaborn's rule for annotation colours: dark grey on light cells, white on dark. */
static double luminance(const double rgb[3])
{
    static const double wts[3] = {0.2126, 0.7152, 0.0722};
    double l = 0;
    for (int c = 0; c < 3; c++) {
        double v = rgb[c] <= 0.03928 ? rgb[c] / 12.92 : pow((rgb[c] + 0.055) / 1.055, 2.4);
        l += wts[c] * v;
    }
    return l;
}

static int draw_bar(zl_pdf *p, const zl_pdf_heatmap *h, const zl_pdf_heatmap_geom *g)
{
    double rgb[3], band = g->bar_h / CMAP_N;
    for (int k = 0; k < CMAP_N; k++) {
        /* the centre of band k maps to listed colour k */
        double v = h->vmin + (k + 0.5) * (h->vmax - h->vmin) / CMAP_N;
        if (zl_pdf_heat_color(v, h->vmin, h->vmax, h->has_center, h->center, rgb) != 0 ||
            zl_pdf_fill_color(p, rgb[0], rgb[1], rgb[2]) != 0)
            return -1;
        /* bands overlap slightly so viewers show no hairline seams */
        double hh = k == CMAP_N - 1 ? band : band * 1.6;
        if (zl_pdf_rect(p, g->bar_x, g->bar_y + k * band, g->bar_w, hh, ZL_PDF_FILL) != 0)
            return -1;
    }
    /* extend='both': a triangle past each end in the colour of values beyond it */
    double ext = EXTEND_FRAC * g->bar_h, x0 = g->bar_x, x1 = g->bar_x + g->bar_w;
    double xm = (x0 + x1) / 2, yb = g->bar_y, yt = g->bar_y + g->bar_h;
    double lo[6] = {x0, yb, x1, yb, xm, yb - ext}, hi[6] = {x0, yt, x1, yt, xm, yt + ext};
    if (zl_pdf_heat_color(h->vmin - 1, h->vmin, h->vmax, h->has_center, h->center, rgb) != 0 ||
        zl_pdf_fill_color(p, rgb[0], rgb[1], rgb[2]) != 0 ||
        zl_pdf_polygon(p, lo, 3, ZL_PDF_FILL) != 0 ||
        zl_pdf_heat_color(h->vmax + 1, h->vmin, h->vmax, h->has_center, h->center, rgb) != 0 ||
        zl_pdf_fill_color(p, rgb[0], rgb[1], rgb[2]) != 0 ||
        zl_pdf_polygon(p, hi, 3, ZL_PDF_FILL) != 0)
        return -1;
    if (zl_pdf_fill_color(p, 0, 0, 0) != 0 || zl_pdf_stroke_color(p, 0, 0, 0) != 0 ||
        zl_pdf_line_width(p, 0.6) != 0)
        return -1;
    double step = nice_step(h->vmax - h->vmin), maxw = 0, tw;
    /* a short bar (a grid of a few layers) takes fewer ticks than its labels would overlap */
    while ((h->vmax - h->vmin) / step * FS_TICK * 1.15 > g->bar_h) step *= 2;
    zl_pdf_text_style st = {.size = FS_TICK, .valign = ZL_PDF_MIDDLE};
    char buf[64];
    double xr = g->bar_x + g->bar_w;
    for (int k = first_tick(h->vmin, step); k * step <= h->vmax + step * 1e-9; k++) {
        double y = g->bar_y + (k * step - h->vmin) / (h->vmax - h->vmin) * g->bar_h;
        tick_label(k * step, step, buf, sizeof buf);
        if (zl_pdf_line(p, xr, y, xr + TICK_LEN, y) != 0 ||
            zl_pdf_text(p, xr + TICK_LEN + TICK_PAD, y, buf, &st) != 0 ||
            zl_pdf_text_width(p, buf, &st, &tw) != 0)
            return -1;
        if (tw > maxw) maxw = tw;
    }
    if (h->bar_label) {
        /* rotated like the y label, reading upwards, beside the tick labels */
        zl_pdf_text_style ls = {.size = FS_LABEL, .align = ZL_PDF_CENTER, .angle = 90};
        double x = xr + TICK_LEN + TICK_PAD + maxw + 4 + FS_LABEL * CAP;
        if (zl_pdf_text(p, x, g->bar_y + g->bar_h / 2, h->bar_label, &ls) != 0) return -1;
    }
    return 0;
}

static int draw_panel(zl_pdf *p, const zl_pdf_heatmap *h, const zl_pdf_heatmap_geom *g)
{
    double cw = g->cell_w, chh = g->cell_h, gw = h->cols * cw, gh = h->rows * chh, rgb[3];
    char buf[32];
    for (int r = 0; r < h->rows; r++)
        for (int c = 0; c < h->cols; c++) {
            double v = h->values[(size_t)r * h->cols + c];
            if (isnan(v)) { /* an empty cell (not measured): light grey, no number */
                if (zl_pdf_fill_color(p, 0.85, 0.85, 0.85) != 0 ||
                    zl_pdf_rect(p, g->x + c * cw, g->y + r * chh, cw, chh, ZL_PDF_FILL) != 0)
                    return -1;
                continue;
            }
            if (zl_pdf_heat_color(v, h->vmin, h->vmax, h->has_center, h->center, rgb) != 0 ||
                zl_pdf_fill_color(p, rgb[0], rgb[1], rgb[2]) != 0 ||
                zl_pdf_rect(p, g->x + c * cw, g->y + r * chh, cw, chh, ZL_PDF_FILL) != 0)
                return -1;
            if (!h->annotate) continue;
            double tc = luminance(rgb) > 0.408 ? 0.15 : 1.0, w;
            zl_pdf_text_style st = {.size = fmin(FS_ANNOT, chh * 0.6), .align = ZL_PDF_CENTER,
                                    .valign = ZL_PDF_MIDDLE};
            snprintf(buf, sizeof buf, "%.1f", v);
            if (zl_pdf_text_width(p, buf, &st, &w) != 0) return -1;
            if (w > cw - 2) st.size *= (cw - 2) / w; /* never spill out of the cell */
            if (st.size < 0.5) continue;
            if (zl_pdf_fill_color(p, tc, tc, tc) != 0 ||
                zl_pdf_text(p, g->x + (c + 0.5) * cw, g->y + (r + 0.5) * chh, buf, &st) != 0)
                return -1;
        }
    if (zl_pdf_fill_color(p, 0, 0, 0) != 0 || zl_pdf_stroke_color(p, 0, 0, 0) != 0 ||
        zl_pdf_line_width(p, 0.6) != 0)
        return -1;
    zl_pdf_text_style right = {.size = FS_TICK, .align = ZL_PDF_RIGHT, .valign = ZL_PDF_MIDDLE};
    double maxw = 0, w;
    for (int r = 0; r < h->rows; r++) {
        double y = g->y + (r + 0.5) * chh;
        const char *lab = label_of(h->row_labels, r, buf, sizeof buf);
        if (zl_pdf_line(p, g->x - TICK_LEN, y, g->x, y) != 0 ||
            zl_pdf_text(p, g->x - TICK_LEN - TICK_PAD, y, lab, &right) != 0 ||
            zl_pdf_text_width(p, lab, &right, &w) != 0)
            return -1;
        if (w > maxw) maxw = w;
    }
    zl_pdf_text_style top = {.size = FS_TICK, .align = ZL_PDF_CENTER, .valign = ZL_PDF_TOP};
    double ylab = g->y - TICK_LEN - TICK_PAD - 1.5;
    for (int c = 0; c < h->cols; c++) {
        double x = g->x + (c + 0.5) * cw;
        if (zl_pdf_line(p, x, g->y - TICK_LEN, x, g->y) != 0 ||
            zl_pdf_text(p, x, ylab, label_of(h->col_labels, c, buf, sizeof buf), &top) != 0)
            return -1;
    }
    if (h->xlabel) {
        zl_pdf_text_style st = {.size = FS_LABEL, .align = ZL_PDF_CENTER, .valign = ZL_PDF_TOP};
        if (zl_pdf_text(p, g->x + gw / 2, ylab - FS_TICK * (CAP + DESC) - 4, h->xlabel, &st) != 0)
            return -1;
    }
    if (h->ylabel) {
        /* rotated: "top" of the text faces left, its baseline sits next to the labels */
        zl_pdf_text_style st = {.size = FS_LABEL, .align = ZL_PDF_CENTER, .angle = 90};
        double x = g->x - TICK_LEN - TICK_PAD - maxw - 4 - FS_LABEL * DESC;
        if (zl_pdf_text(p, x, g->y + gh / 2, h->ylabel, &st) != 0) return -1;
    }
    double ty = g->y + gh + 6;
    if (h->subtitle) {
        zl_pdf_text_style st = {.size = FS_TICK, .align = ZL_PDF_CENTER};
        if (zl_pdf_text(p, g->x + gw / 2, g->y + gh + 5 + FS_TICK * DESC, h->subtitle, &st) != 0)
            return -1;
        ty = g->y + gh + 5 + FS_TICK * (CAP + DESC) + 2;
    }
    if (h->title) {
        zl_pdf_text_style st = {.size = FS_TITLE, .align = ZL_PDF_CENTER};
        if (zl_pdf_text(p, g->x + gw / 2, ty + FS_TITLE * DESC, h->title, &st) != 0)
            return -1;
    }
    return 0;
}

typedef struct { zl_pdf *p; double x, y; } note_pen;

static int note_line(void *ctx, const char *line)
{
    note_pen *pen = ctx;
    zl_pdf_text_style st = {.size = FS_NOTE, .valign = ZL_PDF_TOP};
    if (zl_pdf_text(pen->p, pen->x, pen->y, line, &st) != 0) return -1;
    pen->y -= FS_NOTE * 1.25;
    return 0;
}

int zl_pdf_heatmap_page(zl_pdf *p, const zl_pdf_heatmap *panels, int n, zl_pdf_bar bar,
                        const char *title, const char *note, zl_pdf_heatmap_geom *geom)
{
    zl_pdf_heatmap_geom local[64];
    zl_pdf_heatmap_geom *g = geom ? geom : local;
    double pw, ph;
    if (zl_pdf_heatmap_layout(p, panels, n, bar, title, note, &pw, &ph, g) != 0) return -1;
    if (zl_pdf_page(p, pw, ph) != 0) return -1;
    double save_fill[3], save_stroke[3], save_lw = p->line_width;
    memcpy(save_fill, p->fill, sizeof save_fill);
    memcpy(save_stroke, p->stroke, sizeof save_stroke);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        rc = draw_panel(p, &panels[i], &g[i]);
        if (rc == 0 && g[i].bar_w > 0) rc = draw_bar(p, &panels[i], &g[i]);
    }
    if (rc == 0 && title) {
        zl_pdf_text_style st = {.size = FS_PAGE_TITLE, .font = "Helvetica-Bold",
                                .align = ZL_PDF_CENTER, .valign = ZL_PDF_TOP};
        rc = zl_pdf_fill_color(p, 0, 0, 0);
        if (rc == 0) rc = zl_pdf_text(p, pw / 2, ph - MARGIN - FS_PAGE_TITLE * SUP_RAISE, title, &st);
    }
    if (rc == 0 && note) {
        note_pen pen = {p, MARGIN, MARGIN + 0.0};
        int lines = 0;
        rc = zl_pdf_fill_color(p, 0.25, 0.25, 0.25);
        if (rc == 0) rc = wrap_lines(p, note, fmax(pw - 2 * MARGIN, 200), NULL, NULL, &lines);
        pen.y = MARGIN + lines * FS_NOTE * 1.25;
        if (rc == 0) rc = wrap_lines(p, note, fmax(pw - 2 * MARGIN, 200), note_line, &pen, NULL);
    }
    /* the caller's colours and line width stay as they were */
    zl_pdf_fill_color(p, save_fill[0], save_fill[1], save_fill[2]);
    zl_pdf_stroke_color(p, save_stroke[0], save_stroke[1], save_stroke[2]);
    zl_pdf_line_width(p, save_lw);
    if (rc != 0) zl_error_prefix("heatmap: ");
    return rc;
}
