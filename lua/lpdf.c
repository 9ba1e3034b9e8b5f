/* lpdf.c — zonelab.pdf: PDF documents as full userdata over core/pdf.h, the seismic
 * colour map, and the attention-zone heatmap page.
 *
 *   local doc = zl.pdf.new()
 *   doc:page(200, 100)                       -- points, origin lower-left
 *   doc:fill_color(1, 0, 0); doc:rect(10, 10, 50, 30)          -- mode "fill"|"stroke"|"both"
 *   doc:text(100, 50, "P^{2}", {size = 9, align = "center", valign = "middle"})
 *   local g = doc:heatmap_page({{values = rows, col_labels = {...}}}, {colorbar = "shared"})
 *   doc:save("out.pdf")
 */
#include "zl_lua.h"
#include "error.h"
#include "pdf.h"

#include <stdio.h>
#include <math.h>
#include <string.h>

#define PDF_MT "zonelab.pdf"

static void pdf_free(void *p) { zl_pdf_free(p); }

static void pdf_describe(lua_State *L, zl_lua_box *b)
{
    lua_pushfstring(L, "pdf: %d page(s)", zl_pdf_page_count(b->obj));
}

static const zl_lua_class PDF = {PDF_MT, "pdf document has been closed", "pdf (closed)", pdf_free,
                                 0, 0, pdf_describe};

static zl_pdf *check_pdf(lua_State *L) { return zl_lua_class_check(L, 1, &PDF)->obj; }

static int ok_or_fail(lua_State *L, int rc)
{
    if (rc != 0) return zl_lua_fail(L);
    return 0;
}

/* zonelab.pdf.new() -> doc */
static int p_new(lua_State *L)
{
    zl_lua_class_new(L, &PDF, sizeof(zl_lua_box), 0, NULL);
    return zl_lua_class_set(L, &PDF, zl_pdf_new());
}

static int p_page(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    return ok_or_fail(L, zl_pdf_page(p, luaL_checknumber(L, 2), luaL_checknumber(L, 3)));
}

static int p_page_count(lua_State *L)
{
    lua_pushinteger(L, zl_pdf_page_count(check_pdf(L)));
    return 1;
}

/* r, g, b numbers or one table {r, g, b} starting at idx */
static void check_rgb(lua_State *L, int idx, double rgb[3])
{
    if (lua_istable(L, idx)) {
        for (int c = 0; c < 3; c++) {
            lua_geti(L, idx, c + 1);
            int isnum;
            rgb[c] = lua_tonumberx(L, -1, &isnum);
            lua_pop(L, 1);
            if (!isnum) luaL_argerror(L, idx, "colour table must hold 3 numbers {r, g, b}");
        }
        return;
    }
    for (int c = 0; c < 3; c++) rgb[c] = luaL_checknumber(L, idx + c);
}

/* doc:fill_color / doc:stroke_color (r, g, b or {r, g, b}) through set */
static int set_color(lua_State *L, int (*set)(zl_pdf *, double, double, double))
{
    check_pdf(L);
    double c[3];
    check_rgb(L, 2, c);
    zl_pdf *p = check_pdf(L); /* after the table's metamethods, which may have closed it */
    return ok_or_fail(L, set(p, c[0], c[1], c[2]));
}

static int p_fill_color(lua_State *L) { return set_color(L, zl_pdf_fill_color); }
static int p_stroke_color(lua_State *L) { return set_color(L, zl_pdf_stroke_color); }

static int p_line_width(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    return ok_or_fail(L, zl_pdf_line_width(p, luaL_checknumber(L, 2)));
}

static zl_pdf_paint check_mode(lua_State *L, int idx)
{
    static const char *const names[] = {"fill", "stroke", "both", NULL};
    static const zl_pdf_paint modes[] = {ZL_PDF_FILL, ZL_PDF_STROKE, ZL_PDF_FILL_STROKE};
    return modes[luaL_checkoption(L, idx, "fill", names)];
}

static int p_rect(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    double v[4];
    for (int i = 0; i < 4; i++) v[i] = luaL_checknumber(L, 2 + i);
    return ok_or_fail(L, zl_pdf_rect(p, v[0], v[1], v[2], v[3], check_mode(L, 6)));
}

static int p_circle(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    double v[3];
    for (int i = 0; i < 3; i++) v[i] = luaL_checknumber(L, 2 + i);
    return ok_or_fail(L, zl_pdf_circle(p, v[0], v[1], v[2], check_mode(L, 5)));
}

static int p_line(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    double v[4];
    for (int i = 0; i < 4; i++) v[i] = luaL_checknumber(L, 2 + i);
    return ok_or_fail(L, zl_pdf_line(p, v[0], v[1], v[2], v[3]));
}

static int p_curve(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    double v[8];
    for (int i = 0; i < 8; i++) v[i] = luaL_checknumber(L, 2 + i);
    return ok_or_fail(L, zl_pdf_curve(p, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]));
}

/* doc:polygon({x1, y1, x2, y2, ...}, [mode]) */
static int p_polygon(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n < 4 || n % 2 || n > 2000000) luaL_argerror(L, 2, "need an even count (>= 4) of coordinates");
    zl_pdf_paint mode = check_mode(L, 3);
    double *xy = lua_newuserdatauv(L, (size_t)n * sizeof *xy, 0); /* freed by the GC */
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 2, i);
        int isnum;
        xy[i - 1] = lua_tonumberx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum) luaL_argerror(L, 2, "coordinates must be numbers");
    }
    p = check_pdf(L); /* after the table's metamethods, which may have closed it */
    return ok_or_fail(L, zl_pdf_polygon(p, xy, (int)(n / 2), mode));
}

/* The index of the string at the top of the stack in list; raises naming the
 * option table's argument otherwise. */
static int option_at_top(lua_State *L, int arg, const char *field, const char *const *list)
{
    const char *s = lua_tostring(L, -1);
    for (int i = 0; s && list[i]; i++)
        if (strcmp(s, list[i]) == 0) return i;
    return luaL_argerror(L, arg, lua_pushfstring(L, "invalid %s '%s'", field, s ? s : "?"));
}

/* {size=, font=, align="left"|"center"|"right", valign="baseline"|"middle"|"top"|"bottom", angle=} */
static void check_text_style(lua_State *L, int idx, zl_pdf_text_style *st)
{
    static const char *const aligns[] = {"left", "center", "right", NULL};
    static const char *const valigns[] = {"baseline", "middle", "top", "bottom", NULL};
    static const char *const known[] = {"size", "angle", "align", "valign", "font", NULL};
    memset(st, 0, sizeof *st);
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    zl_lua_opts_check(L, idx, "pdf text", known);
    lua_getfield(L, idx, "size");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_argerror(L, idx, "size must be a number");
        st->size = lua_tonumber(L, -1);
        if (!(st->size > 0)) luaL_argerror(L, idx, "size must be positive");
    }
    lua_getfield(L, idx, "angle");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1)) luaL_argerror(L, idx, "angle must be a number");
        st->angle = lua_tonumber(L, -1);
    }
    lua_getfield(L, idx, "align");
    if (!lua_isnil(L, -1)) st->align = (zl_pdf_align)option_at_top(L, idx, "align", aligns);
    lua_getfield(L, idx, "valign");
    if (!lua_isnil(L, -1)) st->valign = (zl_pdf_valign)option_at_top(L, idx, "valign", valigns);
    lua_pop(L, 4);
    /* the font name must outlive this call: keep the string on the stack */
    lua_getfield(L, idx, "font");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, idx, "font must be a string");
        st->font = lua_tostring(L, -1);
    }
}

static int p_text(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    double x = luaL_checknumber(L, 2), y = luaL_checknumber(L, 3);
    const char *s = luaL_checkstring(L, 4);
    zl_pdf_text_style st;
    check_text_style(L, 5, &st);
    p = check_pdf(L); /* after the style's metamethods, which may have closed it */
    return ok_or_fail(L, zl_pdf_text(p, x, y, s, &st));
}

static int p_text_width(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    const char *s = luaL_checkstring(L, 2);
    zl_pdf_text_style st;
    check_text_style(L, 3, &st);
    p = check_pdf(L); /* after the style's metamethods, which may have closed it */
    double w;
    if (zl_pdf_text_width(p, s, &st, &w) != 0) return zl_lua_fail(L);
    lua_pushnumber(L, w);
    return 1;
}

static int p_save(lua_State *L)
{
    zl_pdf *p = check_pdf(L);
    return ok_or_fail(L, zl_pdf_save(p, luaL_checkstring(L, 2)));
}

/* ---- heatmaps ---- */

/* Reads t[key] (raw) as an optional string that stays alive in the table. */
static const char *field_string(lua_State *L, int t, const char *key, int panel)
{
    lua_pushstring(L, key);
    lua_rawget(L, t);
    const char *s = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) s = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
        luaL_error(L, "heatmap panel %d: %s must be a string", panel, key);
    lua_pop(L, 1);
    return s;
}

static double field_number(lua_State *L, int t, const char *key, double dflt, int panel)
{
    lua_pushstring(L, key);
    lua_rawget(L, t);
    double v = dflt;
    if (lua_type(L, -1) == LUA_TNUMBER) v = lua_tonumber(L, -1);
    else if (!lua_isnil(L, -1)) luaL_error(L, "heatmap panel %d: %s must be a number", panel, key);
    lua_pop(L, 1);
    return v;
}

/* A list of n strings from t[key] (nil -> NULL); the array is a userdata left on the
 * stack, the strings stay alive in the caller's table. */
static const char *const *field_labels(lua_State *L, int t, const char *key, int n, int panel)
{
    lua_pushstring(L, key);
    lua_rawget(L, t);
    if (lua_isnil(L, -1)) { lua_pop(L, 1); return NULL; }
    if (!lua_istable(L, -1)) luaL_error(L, "heatmap panel %d: %s must be a list of strings", panel, key);
    int lt = lua_gettop(L);
    if (lua_rawlen(L, lt) != (size_t)n)
        luaL_error(L, "heatmap panel %d: %s has %d entries, expected %d", panel, key,
                   (int)lua_rawlen(L, lt), n);
    const char **labels = lua_newuserdatauv(L, (size_t)n * sizeof *labels, 0);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, lt, i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "heatmap panel %d: %s[%d] must be a string", panel, key, i + 1);
        labels[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    lua_remove(L, lt); /* the label table stays reachable from the panel table */
    return labels;
}

/* Fills panels from the Lua list at idx; scratch userdata stay on the stack. */
static int check_panels(lua_State *L, int idx, zl_pdf_heatmap *panels)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)lua_rawlen(L, idx);
    if (n < 1 || n > 64) luaL_argerror(L, idx, "need a list of 1..64 panels");
    for (int i = 0; i < n; i++) {
        zl_pdf_heatmap *h = &panels[i];
        memset(h, 0, sizeof *h);
        luaL_checkstack(L, 8, "heatmap panels");
        lua_rawgeti(L, idx, i + 1);
        if (!lua_istable(L, -1)) luaL_error(L, "heatmap panel %d is not a table", i + 1);
        int t = lua_gettop(L);
        static const char *const known[] = {"values", "col_labels", "row_labels", "vmin", "vmax",
                                            "center", "annotate", "title", "subtitle", "bar_label", "xlabel", "ylabel",
                                            "cell_w", "cell_h", NULL};
        char where[40];
        snprintf(where, sizeof where, "heatmap panel %d", i + 1);
        zl_lua_opts_check(L, t, where, known);
        lua_getfield(L, t, "values");
        if (!lua_istable(L, -1)) luaL_error(L, "heatmap panel %d: values must be a list of rows", i + 1);
        int vt = lua_gettop(L);
        int rows = (int)lua_rawlen(L, vt), cols = 0;
        if (rows < 1 || rows > 1000) luaL_error(L, "heatmap panel %d: %d rows (need 1..1000)", i + 1, rows);
        lua_rawgeti(L, vt, 1);
        if (lua_istable(L, -1)) cols = (int)lua_rawlen(L, -1);
        lua_pop(L, 1);
        if (cols < 1 || cols > 1000)
            luaL_error(L, "heatmap panel %d: row 1 has %d values (need 1..1000)", i + 1, cols);
        double *v = lua_newuserdatauv(L, (size_t)rows * cols * sizeof *v, 0);
        lua_insert(L, t); /* keep it below the panel table */
        t++, vt++;
        for (int r = 0; r < rows; r++) {
            lua_rawgeti(L, vt, r + 1);
            if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != cols)
                luaL_error(L, "heatmap panel %d: row %d must hold %d numbers", i + 1, r + 1, cols);
            for (int c = 0; c < cols; c++) {
                lua_rawgeti(L, -1, c + 1);
                /* false: an empty cell (a configuration not measured); NaN is refused, as
                   a number that cannot be a result */
                if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
                    v[(size_t)r * cols + c] = NAN;
                    lua_pop(L, 1);
                    continue;
                }
                if (lua_type(L, -1) != LUA_TNUMBER || isnan(lua_tonumber(L, -1)))
                    luaL_error(L, "heatmap panel %d: row %d, column %d is not a number (false "
                               "for an empty cell)", i + 1, r + 1, c + 1);
                v[(size_t)r * cols + c] = lua_tonumber(L, -1);
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1); /* values */
        h->rows = rows, h->cols = cols, h->values = v;
        const char *const *cl = field_labels(L, t, "col_labels", cols, i + 1);
        if (cl) lua_insert(L, t), t++;
        const char *const *rl = field_labels(L, t, "row_labels", rows, i + 1);
        if (rl) lua_insert(L, t), t++;
        h->col_labels = cl, h->row_labels = rl;
        /* the paper's Figure 1 unless told otherwise; center = false turns centring off */
        h->vmin = field_number(L, t, "vmin", -10, i + 1);
        h->vmax = field_number(L, t, "vmax", 2, i + 1);
        lua_getfield(L, t, "center");
        if (lua_isboolean(L, -1) && !lua_toboolean(L, -1)) h->has_center = 0;
        else if (lua_isnil(L, -1)) h->has_center = 1, h->center = 0;
        else if (lua_type(L, -1) == LUA_TNUMBER) h->has_center = 1, h->center = lua_tonumber(L, -1);
        else luaL_error(L, "heatmap panel %d: center must be a number or false", i + 1);
        lua_pop(L, 1);
        lua_getfield(L, t, "annotate");
        h->annotate = lua_toboolean(L, -1);
        lua_pop(L, 1);
        h->title = field_string(L, t, "title", i + 1);
        h->subtitle = field_string(L, t, "subtitle", i + 1);
        h->bar_label = field_string(L, t, "bar_label", i + 1);
        h->xlabel = field_string(L, t, "xlabel", i + 1);
        h->ylabel = field_string(L, t, "ylabel", i + 1);
        h->cell_w = field_number(L, t, "cell_w", 0, i + 1);
        h->cell_h = field_number(L, t, "cell_h", 0, i + 1);
        lua_pop(L, 1); /* the panel table (still referenced by the list) */
    }
    return n;
}

static void check_page_opts(lua_State *L, int idx, zl_pdf_bar *bar, const char **title,
                            const char **note)
{
    static const char *const bars[] = {"none", "shared", "each", NULL};
    *bar = ZL_PDF_BAR_SHARED;
    *title = NULL;
    *note = NULL;
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    static const char *const known[] = {"colorbar", "title", "note", NULL};
    zl_lua_opts_check(L, idx, "heatmap page", known);
    lua_getfield(L, idx, "colorbar");
    if (!lua_isnil(L, -1)) *bar = (zl_pdf_bar)option_at_top(L, idx, "colorbar", bars);
    lua_pop(L, 1);
    *title = field_string(L, idx, "title", 0);
    *note = field_string(L, idx, "note", 0);
}

static void push_geom(lua_State *L, const zl_pdf_heatmap_geom *g, int n, double pw, double ph)
{
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, pw);
    lua_setfield(L, -2, "width");
    lua_pushnumber(L, ph);
    lua_setfield(L, -2, "height");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 5);
        lua_pushnumber(L, g[i].x), lua_setfield(L, -2, "x");
        lua_pushnumber(L, g[i].y), lua_setfield(L, -2, "y");
        lua_pushnumber(L, g[i].cell_w), lua_setfield(L, -2, "cell_w");
        lua_pushnumber(L, g[i].cell_h), lua_setfield(L, -2, "cell_h");
        if (g[i].bar_w > 0) {
            lua_createtable(L, 0, 4);
            lua_pushnumber(L, g[i].bar_x), lua_setfield(L, -2, "x");
            lua_pushnumber(L, g[i].bar_y), lua_setfield(L, -2, "y");
            lua_pushnumber(L, g[i].bar_w), lua_setfield(L, -2, "w");
            lua_pushnumber(L, g[i].bar_h), lua_setfield(L, -2, "h");
            lua_setfield(L, -2, "bar");
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "panels");
}

/* doc:heatmap_layout(panels, [opts]) / doc:heatmap_page(panels, [opts]) -> geometry */
static int heatmap(lua_State *L, int draw)
{
    zl_pdf *p = check_pdf(L);
    zl_pdf_heatmap panels[64];
    zl_pdf_heatmap_geom g[64];
    zl_pdf_bar bar;
    const char *title, *note;
    check_page_opts(L, 3, &bar, &title, &note);
    int n = check_panels(L, 2, panels);
    p = check_pdf(L); /* after the tables' metamethods, which may have closed it */
    double pw, ph;
    if (zl_pdf_heatmap_layout(p, panels, n, bar, title, note, &pw, &ph, g) != 0)
        return zl_lua_fail(L);
    if (draw && zl_pdf_heatmap_page(p, panels, n, bar, title, note, g) != 0) return zl_lua_fail(L);
    push_geom(L, g, n, pw, ph);
    return 1;
}

static int p_heatmap_layout(lua_State *L) { return heatmap(L, 0); }
static int p_heatmap_page(lua_State *L) { return heatmap(L, 1); }

/* zonelab.pdf.seismic(x) -> r, g, b */
static int p_seismic(lua_State *L)
{
    double rgb[3];
    if (zl_pdf_seismic(luaL_checknumber(L, 1), rgb) != 0) return zl_lua_fail(L);
    for (int c = 0; c < 3; c++) lua_pushnumber(L, rgb[c]);
    return 3;
}

/* zonelab.pdf.heat_color(v, vmin, vmax, [center]) -> r, g, b (seaborn's centred map) */
static int p_heat_color(lua_State *L)
{
    double rgb[3];
    int has_center = !lua_isnoneornil(L, 4);
    double center = has_center ? luaL_checknumber(L, 4) : 0;
    if (zl_pdf_heat_color(luaL_checknumber(L, 1), luaL_checknumber(L, 2), luaL_checknumber(L, 3),
                          has_center, center, rgb) != 0)
        return zl_lua_fail(L);
    for (int c = 0; c < 3; c++) lua_pushnumber(L, rgb[c]);
    return 3;
}

int zl_lua_open_pdf(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"page", p_page},
        {"page_count", p_page_count},
        {"fill_color", p_fill_color},
        {"stroke_color", p_stroke_color},
        {"line_width", p_line_width},
        {"rect", p_rect},
        {"circle", p_circle},
        {"line", p_line},
        {"curve", p_curve},
        {"polygon", p_polygon},
        {"text", p_text},
        {"text_width", p_text_width},
        {"heatmap_layout", p_heatmap_layout},
        {"heatmap_page", p_heatmap_page},
        {"save", p_save},
        {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"new", p_new},
        {"seismic", p_seismic},
        {"heat_color", p_heat_color},
        {NULL, NULL}};
    zl_lua_class_open(L, &PDF, methods, NULL);
    luaL_newlib(L, fns);
    return 1;
}
