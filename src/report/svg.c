/*
 * svg.c - chart primitives for the HTML report: the text buffer, XML escaping, nice ticks,
 * number formatting and the charts declared in svg.h, written as inline SVG text.
 *
 * Geometry is computed in viewBox units (roughly CSS pixels at 100%). Text widths are
 * estimated from the number of code points, which is enough to lay out labels of the
 * fonts the report asks for.
 */
#include "report/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Buffer
 * ------------------------------------------------------------------------------------- */

static bool bufReserve(ly_svg_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2) { b->oom = true; return false; }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) { b->oom = true; return false; }
    b->data = p;
    b->cap = cap;
    return true;
}

void ly_svg_buf_append(ly_svg_buf *b, const char *s, size_t n)
{
    if (!s || !bufReserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ly_svg_buf_puts(ly_svg_buf *b, const char *s)
{
    if (s) ly_svg_buf_append(b, s, strlen(s));
}

void ly_svg_buf_printf(ly_svg_buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { b->oom = true; return; }
    if ((size_t)n < sizeof small) { ly_svg_buf_append(b, small, (size_t)n); return; }
    if (!bufReserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ly_svg_escape(ly_svg_buf *b, const char *s)
{
    if (!s) return;
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        const char *ent = NULL;
        bool drop = false;
        switch (c) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: drop = c != 0 && c < 0x20 && c != '\t' && c != '\n' && c != '\r'; break;
        }
        if (c == 0 || ent || drop) {
            ly_svg_buf_append(b, run, (size_t)(p - run));
            if (ent) ly_svg_buf_puts(b, ent);
            run = p + 1;
        }
        if (c == 0) break;
    }
}

char *ly_svg_buf_take(ly_svg_buf *b, size_t *len)
{
    if (b->oom) { ly_svg_buf_free(b); return NULL; }
    if (!b->data && !bufReserve(b, 0)) { ly_svg_buf_free(b); return NULL; }
    if (b->len == 0) b->data[0] = '\0';
    char *out = b->data;
    if (len) *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return out;
}

void ly_svg_buf_free(ly_svg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

/* ---------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------- */

/* The "nice" number near x: 1, 2, 5 or 10 times a power of ten (Heckbert's rule). */
static double niceNum(double x, bool round_it)
{
    double e = floor(log10(x));
    double f = x / pow(10.0, e);
    double nf;
    if (round_it) nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10.0, e);
}

/* Decimals needed to show multiples of step exactly (0 for steps >= 1, at most 6). */
static int stepDecimals(double step)
{
    if (!(step > 0) || step >= 1) return 0;
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

size_t ly_svg_nice_ticks(double lo, double hi, size_t max_ticks, double *ticks, size_t cap,
                         double *step_out)
{
    if (step_out) *step_out = 0;
    if (!isfinite(lo) || !isfinite(hi)) return 0;
    if (lo > hi) { double t = lo; lo = hi; hi = t; }
    if (max_ticks < 2) max_ticks = 2;
    if (lo == hi) {
        if (lo == 0) { hi = 1; }
        else {
            double d = fabs(lo) * 0.1;
            lo -= d;
            hi += d;
        }
    }
    double range = niceNum(hi - lo, false);
    double step = niceNum(range / (double)(max_ticks - 1), true);
    double start = floor(lo / step + 1e-9);
    double end = ceil(hi / step - 1e-9);
    size_t n = 0;
    int dec = stepDecimals(step);
    double scale = pow(10.0, dec);
    for (double k = start; k <= end + 0.5 && n < cap; k += 1) {
        double t = k * step;
        t = round(t * scale) / scale; /* drop binary noise: 0.30000000000000004 -> 0.3 */
        if (t == 0) t = 0;            /* no -0 */
        ticks[n++] = t;
    }
    if (step_out) *step_out = step;
    return n;
}

void ly_svg_format_int(int64_t v, char *buf, size_t size)
{
    char digits[32];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    char out[40];
    size_t o = 0;
    if (v < 0) out[o++] = '-';
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    snprintf(buf, size, "%s", out);
}

void ly_svg_format(double v, ly_svg_fmt fmt, double step, char *buf, size_t size)
{
    if (isnan(v)) { snprintf(buf, size, "n/a"); return; }
    if (!isfinite(v)) { snprintf(buf, size, v > 0 ? "inf" : "-inf"); return; }
    switch (fmt) {
    case LY_SVG_FMT_INT:
        if (fabs(v) < 9e18) { ly_svg_format_int((int64_t)llround(v), buf, size); return; }
        snprintf(buf, size, "%.3g", v);
        return;
    case LY_SVG_FMT_PERCENT: {
        double p = v * 100.0;
        int dec;
        if (step > 0) dec = stepDecimals(step * 100.0);
        else dec = fabs(p) >= 10 || p == 0 ? 1 : fabs(p) >= 1 ? 1 : 2;
        if (step > 0 && dec > 2) dec = 2;
        char tmp[48];
        snprintf(tmp, sizeof tmp, "%.*f", dec, p);
        if (strcmp(tmp, "-0") == 0 || strcmp(tmp, "-0.0") == 0) memmove(tmp, tmp + 1, strlen(tmp));
        snprintf(buf, size, "%s%%", tmp);
        return;
    }
    case LY_SVG_FMT_NUMBER:
    default: {
        int dec;
        if (step > 0) dec = stepDecimals(step);
        else {
            double a = fabs(v);
            dec = a >= 100 || a == floor(a) ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
        }
        if (dec == 0 && fabs(v) >= 1000 && fabs(v) < 9e18) {
            ly_svg_format_int((int64_t)llround(v), buf, size);
            return;
        }
        snprintf(buf, size, "%.*f", dec, v);
        if (buf[0] == '-') {
            bool zero = true;
            for (const char *p = buf + 1; *p; p++) if (*p != '0' && *p != '.') zero = false;
            if (zero) memmove(buf, buf + 1, strlen(buf));
        }
        return;
    }
    }
}

/* ---------------------------------------------------------------------------------------
 * Shared drawing helpers
 * ------------------------------------------------------------------------------------- */

#define FONT "system-ui, -apple-system, &quot;Segoe UI&quot;, Roboto, &quot;Liberation Sans&quot;, Arial, sans-serif"
#define INK "#1d2733"
#define MUTED "#5b6776"
#define GRID "#e3e8ee"

static const char *const SERIES_COLOUR[4] = {"#1f5f99", "#d2691e", "#2e8b57", "#8e44ad"};
static const char *const SERIES_DASH[4] = {"", "7 4", "2 3", "10 3 2 3"};

/* Estimated width of s in viewBox units at font size px (code points x 0.56 em). */
static double textWidth(const char *s, double px)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return (double)n * px * 0.56;
}

/* Opens the <svg> root with the chart's identifying attributes. */
static void svgOpen(ly_svg_buf *b, const char *id, const char *chart, const char *title,
                    double w, double h, size_t points)
{
    ly_svg_buf_puts(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"");
    ly_svg_escape(b, id ? id : "chart");
    ly_svg_buf_puts(b, "\" data-chart=\"");
    ly_svg_escape(b, chart ? chart : id ? id : "chart");
    ly_svg_buf_printf(b, "\" data-points=\"%zu\"%s viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
                         "height=\"%.0f\" role=\"img\" font-family=\"" FONT "\" font-size=\"12\" "
                         "fill=\"" INK "\">",
                      points, points ? "" : " data-empty=\"1\"", w, h, w, h);
    if (title) {
        ly_svg_buf_puts(b, "<title>");
        ly_svg_escape(b, title);
        ly_svg_buf_puts(b, "</title>");
    }
}

/* Writes <text> with escaped content; attrs is trusted extra attribute text. */
static void text(ly_svg_buf *b, double x, double y, const char *attrs, const char *s)
{
    ly_svg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, attrs && *attrs ? " " : "",
                      attrs ? attrs : "");
    ly_svg_escape(b, s);
    ly_svg_buf_puts(b, "</text>");
}

/* The visible title at the top left; returns the y where the chart may start. */
static double titleLine(ly_svg_buf *b, const char *title)
{
    if (!title) return 8;
    text(b, 0, 16, "font-size=\"14\" font-weight=\"600\"", title);
    return 28;
}

/* The whole chart for "no data": an svg with a framed note. */
static void noData(ly_svg_buf *b, const char *id, const char *chart, const char *title,
                   double w)
{
    double h = title ? 96 : 70;
    svgOpen(b, id, chart, title, w, h, 0);
    double y = titleLine(b, title);
    ly_svg_buf_printf(b, "<rect x=\"1\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"6\" "
                         "fill=\"#f6f8fa\" stroke=\"#c9d1d9\" stroke-dasharray=\"4 3\"/>",
                      y, w - 2, h - y - 2);
    text(b, w / 2, y + (h - y) / 2 + 4, "text-anchor=\"middle\" fill=\"" MUTED "\" class=\"no-data\"",
         "No data for this chart");
    ly_svg_buf_puts(b, "</svg>");
}

/* Colour on the report's sequential scale, t in [0, 1]: light (t = 0) to dark blue, with
 * monotonic lightness so grey printing keeps the order. */
static void scaleColour(double t, char out[8])
{
    static const unsigned char stops[5][3] = {
        {0xf3, 0xf7, 0xfb}, {0xc4, 0xda, 0xee}, {0x6f, 0xa8, 0xd6}, {0x26, 0x6e, 0xb0}, {0x0b, 0x2f, 0x66}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double pos = t * 4;
    int i = (int)pos;
    if (i >= 4) i = 3;
    double f = pos - i;
    int rgb[3];
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f);
    snprintf(out, 8, "#%02x%02x%02x", rgb[0] & 0xff, rgb[1] & 0xff, rgb[2] & 0xff);
}

/* Text on a cell of scale position t: white on the dark half, ink on the light half. */
static const char *scaleInk(double t)
{
    return t > 0.52 ? "#ffffff" : INK;
}

/* A horizontal legend of the colour scale from lo to hi at (x, y), w wide. */
static void scaleLegend(ly_svg_buf *b, const char *id, double x, double y, double w, double lo,
                        double hi, ly_svg_fmt fmt)
{
    ly_svg_buf_printf(b, "<defs><linearGradient id=\"%s-grad\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">", id);
    for (int i = 0; i <= 4; i++) {
        char c[8];
        scaleColour(i / 4.0, c);
        ly_svg_buf_printf(b, "<stop offset=\"%d%%\" stop-color=\"%s\"/>", i * 25, c);
    }
    ly_svg_buf_puts(b, "</linearGradient></defs>");
    ly_svg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"10\" fill=\"url(#%s-grad)\" "
                         "stroke=\"#9aa5b1\" stroke-width=\"0.5\"/>", x, y, w, id);
    double step;
    double ticks[3] = {lo, (lo + hi) / 2, hi};
    step = (hi - lo) / 2;
    for (int i = 0; i < 3; i++) {
        char l[32];
        ly_svg_format(ticks[i], fmt, step > 0 ? step / 5 : 0, l, sizeof l);
        const char *anchor = i == 0 ? "start" : i == 1 ? "middle" : "end";
        char attrs[80];
        snprintf(attrs, sizeof attrs, "text-anchor=\"%s\" font-size=\"10\" fill=\"" MUTED "\"", anchor);
        text(b, x + w * i / 2.0, y + 22, attrs, l);
    }
}

/* ---------------------------------------------------------------------------------------
 * Heatmap
 * ------------------------------------------------------------------------------------- */

/* The heatmap: title, column labels on top, row labels on the left, one <g class="cell"> per
 * drawn cell, the colour legend below. */
void ly_svg_heatmap_render(ly_svg_buf *b, const ly_svg_heatmap *h)
{
    size_t cells = h->rows * h->cols, drawn = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; h->values && i < cells; i++) {
        double v = h->values[i];
        if (isnan(v)) continue;
        drawn++;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (drawn == 0) {
        noData(b, h->id, h->chart, h->title, 360);
        return;
    }
    if (h->vmin < h->vmax) { lo = h->vmin; hi = h->vmax; }
    else if (lo >= 0) lo = 0;
    double cw = h->cell_w > 0 ? h->cell_w : 74, ch = h->cell_h > 0 ? h->cell_h : 52;
    double label_w = 0;
    for (size_t r = 0; h->row_labels && r < h->rows; r++) {
        double tw = textWidth(h->row_labels[r], 12);
        if (tw > label_w) label_w = tw;
    }
    double left = (h->row_title ? 20 : 0) + label_w + 10;
    double top_title = 0;
    double w0 = left + cw * (double)h->cols + 4;
    if (h->title) {
        top_title = 28;
        double tw = textWidth(h->title, 14) + 4;
        if (tw > w0) w0 = tw;
    }
    double top = top_title + (h->col_title ? 18 : 0) + (h->col_labels ? 18 : 4);
    double grid_h = ch * (double)h->rows;
    double bottom = h->legend ? 40 : 6;
    double w = w0, ht = top + grid_h + bottom;
    svgOpen(b, h->id, h->chart, h->title, w, ht, drawn);
    titleLine(b, h->title);
    if (h->col_title)
        text(b, left + cw * (double)h->cols / 2, top_title + 12,
             "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\"", h->col_title);
    for (size_t c = 0; h->col_labels && c < h->cols; c++)
        text(b, left + cw * ((double)c + 0.5), top - 6, "text-anchor=\"middle\" font-weight=\"600\"",
             h->col_labels[c]);
    if (h->row_title) {
        char attrs[128];
        double cy = top + grid_h / 2;
        snprintf(attrs, sizeof attrs,
                 "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\" transform=\"rotate(-90 8 %.1f)\"", cy);
        text(b, 8, cy + 4, attrs, h->row_title);
    }
    for (size_t r = 0; h->row_labels && r < h->rows; r++)
        text(b, left - 8, top + ch * ((double)r + 0.5) + 4, "text-anchor=\"end\" font-weight=\"600\"",
             h->row_labels[r]);
    for (size_t r = 0; r < h->rows; r++) {
        for (size_t c = 0; c < h->cols; c++) {
            size_t i = r * h->cols + c;
            double v = h->values[i];
            if (isnan(v)) continue;
            double t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
            char fill[8];
            scaleColour(t, fill);
            double x = left + cw * (double)c, y = top + ch * (double)r;
            bool hl = h->highlight == i + 1;
            ly_svg_buf_printf(b, "<g class=\"cell%s\" data-row=\"%zu\" data-col=\"%zu\" data-value=\"%.6g\">"
                                 "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                                 "stroke=\"#ffffff\" stroke-width=\"2\"/>",
                              hl ? " highlight" : "", r, c, v, x, y, cw, ch, fill);
            if (hl) /* a dark-and-light double outline shows on any fill and in grey print */
                ly_svg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                                     "stroke=\"#d2691e\" stroke-width=\"3\"/>", x + 2.5, y + 2.5, cw - 5, ch - 5);
            char lab[48];
            const char *main_label = h->labels && h->labels[i] ? h->labels[i] : NULL;
            if (!main_label) {
                ly_svg_format(v, h->fmt, 0, lab, sizeof lab);
                main_label = lab;
            }
            const char *sub = h->sublabels ? h->sublabels[i] : NULL;
            char attrs[96];
            double fs = ch >= 40 ? 14 : 11;
            snprintf(attrs, sizeof attrs, "text-anchor=\"middle\" font-size=\"%.0f\" font-weight=\"600\" fill=\"%s\"",
                     fs, scaleInk(t));
            double cy = y + ch / 2 + (sub ? -2 : fs / 3);
            text(b, x + cw / 2, cy, attrs, main_label);
            if (sub) {
                snprintf(attrs, sizeof attrs, "text-anchor=\"middle\" font-size=\"10\" fill=\"%s\"", scaleInk(t));
                text(b, x + cw / 2, cy + 14, attrs, sub);
            }
            ly_svg_buf_puts(b, "</g>");
        }
    }
    if (h->legend) {
        double lw = cw * (double)h->cols;
        if (lw > 220) lw = 220;
        scaleLegend(b, h->id, left, top + grid_h + 8, lw, lo, hi, h->fmt);
    }
    ly_svg_buf_puts(b, "</svg>");
}

/* ---------------------------------------------------------------------------------------
 * Cohort triangle
 * ------------------------------------------------------------------------------------- */

void ly_svg_cohort_render(ly_svg_buf *b, const ly_svg_cohort *c)
{
    size_t cols = 0;
    size_t first = c->skip_first ? 1 : 0;
    for (size_t r = 0; r < c->n_rows; r++)
        if (c->rows[r].n > cols) cols = c->rows[r].n;
    if (c->n_rows == 0 || cols <= first) {
        noData(b, c->id, c->chart, c->title, 360);
        return;
    }
    cols -= first;
    size_t rows = c->n_rows;
    double *values = malloc(rows * cols * sizeof *values);
    char **labels = calloc(rows * cols, sizeof *labels);
    char **row_labels = calloc(rows, sizeof *row_labels);
    char **col_labels = calloc(cols, sizeof *col_labels);
    if (!values || !labels || !row_labels || !col_labels) {
        b->oom = true;
        goto done;
    }
    double hi = 0;
    for (size_t r = 0; r < rows; r++) {
        const ly_svg_cohort_row *row = &c->rows[r];
        char size[32];
        ly_svg_format_int(row->size, size, sizeof size);
        size_t need = strlen(row->label ? row->label : "") + strlen(size) + 8;
        row_labels[r] = malloc(need);
        if (!row_labels[r]) { b->oom = true; goto done; }
        snprintf(row_labels[r], need, "%s  n=%s", row->label ? row->label : "", size);
        for (size_t k = 0; k < cols; k++) {
            size_t src = k + first;
            double v = src < row->n ? row->retention[src] : NAN;
            values[r * cols + k] = v;
            if (!isnan(v)) {
                if (v > hi) hi = v;
                labels[r * cols + k] = malloc(16);
                if (!labels[r * cols + k]) { b->oom = true; goto done; }
                double p = v * 100;
                snprintf(labels[r * cols + k], 16, p >= 9.95 || p == 0 ? "%.0f%%" : "%.1f%%", p);
            }
        }
    }
    for (size_t k = 0; k < cols; k++) {
        col_labels[k] = malloc(24);
        if (!col_labels[k]) { b->oom = true; goto done; }
        snprintf(col_labels[k], 24, "%zu", k + first);
    }
    /* Round the scale's top up to a nice value so neighbouring reports compare. */
    double ticks[16], step;
    size_t nt = ly_svg_nice_ticks(0, hi > 0 ? hi : 1, 5, ticks, 16, &step);
    double top = nt ? ticks[nt - 1] : 1;
    ly_svg_heatmap h = {
        .id = c->id, .chart = c->chart, .title = c->title, .rows = rows, .cols = cols,
        .row_labels = (const char *const *)row_labels, .col_labels = (const char *const *)col_labels,
        .row_title = "Cohort (first purchase)",
        .col_title = c->period_title ? c->period_title : "Months since first purchase",
        .values = values, .labels = (const char *const *)labels, .vmin = 0, .vmax = top,
        .fmt = LY_SVG_FMT_PERCENT, .cell_w = cols > 12 ? 38 : 48, .cell_h = 26, .legend = true,
    };
    ly_svg_heatmap_render(b, &h);
done:
    for (size_t i = 0; labels && i < rows * cols; i++) free(labels[i]);
    for (size_t i = 0; row_labels && i < rows; i++) free(row_labels[i]);
    for (size_t i = 0; col_labels && i < cols; i++) free(col_labels[i]);
    free(values);
    free(labels);
    free(row_labels);
    free(col_labels);
}

/* ---------------------------------------------------------------------------------------
 * Axes shared by line and bar charts
 * ------------------------------------------------------------------------------------- */

typedef struct axis {
    double lo, hi;   /* domain */
    double a, bpx;   /* pixel range: lo maps to a, hi to bpx */
    double ticks[32];
    size_t n_ticks;
    double step;
} axis;

static void axisInit(axis *ax, double lo, double hi, size_t max_ticks, bool integer)
{
    ax->n_ticks = ly_svg_nice_ticks(lo, hi, max_ticks, ax->ticks, 32, &ax->step);
    if (integer && ax->step < 1) {
        /* Integer axes (deal numbers, days) never get fractional ticks. */
        ax->step = 1;
        ax->n_ticks = 0;
        for (double t = floor(lo); t <= ceil(hi) && ax->n_ticks < 32; t += 1) ax->ticks[ax->n_ticks++] = t;
        if (ax->n_ticks < 2) { ax->ticks[0] = floor(lo); ax->ticks[1] = floor(lo) + 1; ax->n_ticks = 2; }
    }
    ax->lo = ax->n_ticks ? ax->ticks[0] : lo;
    ax->hi = ax->n_ticks ? ax->ticks[ax->n_ticks - 1] : hi;
    if (!(ax->hi > ax->lo)) ax->hi = ax->lo + 1;
}

static double axisMap(const axis *ax, double v)
{
    return ax->a + (v - ax->lo) / (ax->hi - ax->lo) * (ax->bpx - ax->a);
}

/* Room left of the plot for the widest tick label (and the rotated axis title). */
static double tickMargin(const axis *ay, ly_svg_fmt fmt, bool with_title)
{
    double w = 0;
    for (size_t i = 0; i < ay->n_ticks; i++) {
        char l[32];
        ly_svg_format(ay->ticks[i], fmt, ay->step, l, sizeof l);
        double tw = textWidth(l, 11);
        if (tw > w) w = tw;
    }
    return w + 12 + (with_title ? 22 : 4);
}

/* ---------------------------------------------------------------------------------------
 * Line chart
 * ------------------------------------------------------------------------------------- */

/* A point shape i (circle, square, triangle, diamond) at (x, y). */
static void pointShape(ly_svg_buf *b, size_t i, double x, double y, const char *colour)
{
    switch (i % 4) {
    case 0:
        ly_svg_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"/>", x, y, colour);
        break;
    case 1:
        ly_svg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"6\" height=\"6\" fill=\"%s\"/>", x - 3, y - 3, colour);
        break;
    case 2:
        ly_svg_buf_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"%s\"/>", x, y - 4, x + 3.8, y + 3,
                          x - 3.8, y + 3, colour);
        break;
    default:
        ly_svg_buf_printf(b, "<path d=\"M%.1f %.1fL%.1f %.1fL%.1f %.1fL%.1f %.1fZ\" fill=\"#fff\" stroke=\"%s\" "
                             "stroke-width=\"1.5\"/>", x, y - 4, x + 4, y, x, y + 4, x - 4, y, colour);
        break;
    }
}

void ly_svg_line_chart_render(ly_svg_buf *b, const ly_svg_line_chart *c)
{
    double w = c->width > 0 ? c->width : 940, h = c->height > 0 ? c->height : 360;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    size_t points = 0;
    for (size_t s = 0; s < c->n_series; s++) {
        for (size_t i = 0; i < c->series[s].n; i++) {
            double x = c->series[s].x[i], y = c->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            points++;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
    }
    if (points == 0) {
        noData(b, c->id, c->chart, c->title, w);
        return;
    }
    for (size_t i = 0; i < c->n_vmarkers; i++) {
        double v = c->vmarkers[i].at;
        if (!isfinite(v)) continue;
        if (v < xlo) xlo = v;
        if (v > xhi) xhi = v;
    }
    for (size_t i = 0; i < c->n_hmarkers; i++) {
        double v = c->hmarkers[i].at;
        if (!isfinite(v)) continue;
        if (v < ylo) ylo = v;
        if (v > yhi) yhi = v;
    }
    if (c->y_from_zero && ylo > 0) ylo = 0;
    if (c->y_max > c->y_min) { ylo = c->y_min; yhi = c->y_max; }

    svgOpen(b, c->id, c->chart, c->title, w, h, points);
    double top = titleLine(b, c->title);
    /* Legend row: a line sample with the series' dash and point shape, then its name. */
    double lx = 0;
    bool any_legend = false;
    for (size_t s = 0; s < c->n_series; s++) {
        if (!c->series[s].name) continue;
        any_legend = true;
        const char *col = SERIES_COLOUR[s % 4];
        ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                             "stroke-width=\"2.5\" stroke-dasharray=\"%s\"/>",
                          lx, top + 6, lx + 28, top + 6, col, SERIES_DASH[s % 4]);
        pointShape(b, s, lx + 14, top + 6, col);
        text(b, lx + 34, top + 10, NULL, c->series[s].name);
        lx += 48 + textWidth(c->series[s].name, 12);
    }
    if (any_legend) top += 22;
    double right = 16, bottom = c->x_title ? 48 : 30;
    double plot_top = top + 6;
    axis ax, ay;
    axisInit(&ax, xlo, xhi, 10, c->x_fmt == LY_SVG_FMT_INT);
    axisInit(&ay, ylo, yhi, 6, false);
    double left = tickMargin(&ay, c->y_fmt, c->y_title != NULL);
    ax.a = left;
    ax.bpx = w - right;
    ay.a = h - bottom;
    ay.bpx = plot_top;
    /* Grid and y ticks. */
    for (size_t i = 0; i < ay.n_ticks; i++) {
        double y = axisMap(&ay, ay.ticks[i]);
        char l[32];
        ly_svg_format(ay.ticks[i], c->y_fmt, ay.step, l, sizeof l);
        ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID "\"/>",
                          left, y, w - right, y);
        text(b, left - 6, y + 4, "text-anchor=\"end\" font-size=\"11\" fill=\"" MUTED "\"", l);
    }
    for (size_t i = 0; i < ax.n_ticks; i++) {
        double x = axisMap(&ax, ax.ticks[i]);
        char l[32];
        ly_svg_format(ax.ticks[i], c->x_fmt == LY_SVG_FMT_INT ? LY_SVG_FMT_NUMBER : c->x_fmt, ax.step, l, sizeof l);
        ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9aa5b1\"/>",
                          x, h - bottom, x, h - bottom + 4);
        text(b, x, h - bottom + 16, "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\"", l);
    }
    ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9aa5b1\"/>",
                      left, h - bottom, w - right, h - bottom);
    if (c->x_title)
        text(b, left + (w - right - left) / 2, h - 8, "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\"",
             c->x_title);
    if (c->y_title) {
        char attrs[128];
        double cy = plot_top + (h - bottom - plot_top) / 2;
        snprintf(attrs, sizeof attrs,
                 "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\" transform=\"rotate(-90 12 %.1f)\"", cy);
        text(b, 12, cy, attrs, c->y_title);
    }
    /* Horizontal reference levels. */
    for (size_t i = 0; i < c->n_hmarkers; i++) {
        double v = c->hmarkers[i].at;
        if (!isfinite(v) || v < ay.lo || v > ay.hi) continue;
        double y = axisMap(&ay, v);
        ly_svg_buf_printf(b, "<g class=\"hmarker\" data-at=\"%.6g\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                             "stroke=\"#7b8794\" stroke-width=\"1\" stroke-dasharray=\"2 3\"/>",
                          v, left, y, w - right, y);
        if (c->hmarkers[i].label)
            text(b, w - right - 4, y - 4, "text-anchor=\"end\" font-size=\"10.5\" fill=\"" MUTED "\" "
                 "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"3\"", c->hmarkers[i].label);
        ly_svg_buf_puts(b, "</g>");
    }
    /* Series. */
    for (size_t s = 0; s < c->n_series; s++) {
        const ly_svg_series *se = &c->series[s];
        const char *col = SERIES_COLOUR[s % 4];
        ly_svg_buf_printf(b, "<g class=\"series\" data-series=\"%zu\"", s);
        if (se->name) {
            ly_svg_buf_puts(b, " data-name=\"");
            ly_svg_escape(b, se->name);
            ly_svg_buf_puts(b, "\"");
        }
        ly_svg_buf_printf(b, "><path fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" stroke-linejoin=\"round\"%s%s%s d=\"",
                          col, *SERIES_DASH[s % 4] ? " stroke-dasharray=\"" : "", SERIES_DASH[s % 4],
                          *SERIES_DASH[s % 4] ? "\"" : "");
        bool pen = false;
        for (size_t i = 0; i < se->n; i++) {
            if (!isfinite(se->x[i]) || !isfinite(se->y[i])) { pen = false; continue; }
            ly_svg_buf_printf(b, "%s%.1f %.1f", pen ? "L" : "M", axisMap(&ax, se->x[i]), axisMap(&ay, se->y[i]));
            pen = true;
        }
        ly_svg_buf_puts(b, "\"/>");
        if (c->points && se->n <= 60)
            for (size_t i = 0; i < se->n; i++)
                if (isfinite(se->x[i]) && isfinite(se->y[i]))
                    pointShape(b, s, axisMap(&ax, se->x[i]), axisMap(&ay, se->y[i]), col);
        ly_svg_buf_puts(b, "</g>");
    }
    /* Vertical boundary markers, labels staggered so neighbours do not overlap. */
    for (size_t i = 0; i < c->n_vmarkers; i++) {
        double v = c->vmarkers[i].at;
        if (!isfinite(v)) continue;
        double x = axisMap(&ax, v);
        ly_svg_buf_printf(b, "<g class=\"vmarker\" data-at=\"%.6g\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                             "stroke=\"#b42318\" stroke-width=\"1.6\" stroke-dasharray=\"6 3\"/>",
                          v, x, plot_top, x, h - bottom);
        if (c->vmarkers[i].label) {
            double tw = textWidth(c->vmarkers[i].label, 11.5);
            bool flip = x + 6 + tw > w - right;
            char attrs[192];
            snprintf(attrs, sizeof attrs, "text-anchor=\"%s\" font-size=\"11.5\" font-weight=\"700\" fill=\"#b42318\" "
                     "paint-order=\"stroke\" stroke=\"#fff\" stroke-width=\"4\"", flip ? "end" : "start");
            text(b, flip ? x - 5 : x + 5, plot_top + 14 + 15 * (double)(i % 3), attrs, c->vmarkers[i].label);
        }
        ly_svg_buf_puts(b, "</g>");
    }
    ly_svg_buf_puts(b, "</svg>");
}

/* ---------------------------------------------------------------------------------------
 * Bar chart
 * ------------------------------------------------------------------------------------- */

/* s shortened to at most max code points, with an ellipsis, into out. */
static void clip(const char *s, size_t max, char *out, size_t size)
{
    size_t cps = 0, i = 0, cut = 0;
    s = s ? s : "";
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (cps == max - 1) cut = i;
            cps++;
        }
    }
    if (cps <= max || size < 8) { snprintf(out, size, "%s", s); return; }
    if (cut > size - 4) cut = size - 4;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    memcpy(out, s, cut);
    memcpy(out + cut, "\xe2\x80\xa6", 4); /* U+2026 with its NUL */
}

void ly_svg_bar_chart_render(ly_svg_buf *b, const ly_svg_bar_chart *c)
{
    double w = c->width > 0 ? c->width : 940;
    size_t points = 0;
    double hi = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (!isfinite(c->values[i])) continue;
        points++;
        if (c->values[i] > hi) hi = c->values[i];
    }
    if (points == 0) {
        noData(b, c->id, c->chart, c->title, w);
        return;
    }
    if (c->horizontal) {
        double label_w = 0;
        char clipped[160];
        for (size_t i = 0; i < c->n; i++) {
            clip(c->labels ? c->labels[i] : "", 60, clipped, sizeof clipped);
            double tw = textWidth(clipped, 12);
            if (tw > label_w) label_w = tw;
        }
        if (label_w > w * 0.5) label_w = w * 0.5;
        double vl_w = 0;
        for (size_t i = 0; i < c->n; i++) {
            char l[48];
            const char *vl = c->value_labels && c->value_labels[i] ? c->value_labels[i] : NULL;
            if (!vl) { ly_svg_format(c->values[i], c->fmt, 0, l, sizeof l); vl = l; }
            double tw = textWidth(vl, 11) + 12;
            if (tw > vl_w) vl_w = tw;
        }
        double top0 = c->title ? 28 : 6;
        double row = 24, left = label_w + 12, right = vl_w > 40 ? vl_w : 40;
        double top = top0 + (c->x_title ? 16 : 0);
        double h = c->height > 0 ? c->height : top + row * (double)c->n + 8;
        svgOpen(b, c->id, c->chart, c->title, w, h, points);
        titleLine(b, c->title);
        if (c->x_title)
            text(b, left, top0 + 10, "font-size=\"11\" fill=\"" MUTED "\"", c->x_title);
        for (size_t i = 0; i < c->n; i++) {
            double v = isfinite(c->values[i]) && c->values[i] > 0 ? c->values[i] : 0;
            double y = top + row * (double)i;
            double bw = hi > 0 ? v / hi * (w - left - right) : 0;
            clip(c->labels ? c->labels[i] : "", 60, clipped, sizeof clipped);
            ly_svg_buf_printf(b, "<g class=\"bar\" data-value=\"%.6g\">", c->values[i]);
            text(b, left - 8, y + row / 2 + 4, "text-anchor=\"end\"", clipped);
            ly_svg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"2\" fill=\"%s\"/>",
                              left, y + 4, bw < 1 ? 1 : bw, row - 8, i == 0 ? "#17497a" : "#3f7fb8");
            char l[48];
            const char *vl = c->value_labels && c->value_labels[i] ? c->value_labels[i] : NULL;
            if (!vl) { ly_svg_format(c->values[i], c->fmt, 0, l, sizeof l); vl = l; }
            text(b, left + bw + 6, y + row / 2 + 4, "font-size=\"11\" font-weight=\"600\"", vl);
            ly_svg_buf_puts(b, "</g>");
        }
        ly_svg_buf_puts(b, "</svg>");
        return;
    }
    double h = c->height > 0 ? c->height : 320;
    svgOpen(b, c->id, c->chart, c->title, w, h, points);
    double top = titleLine(b, c->title) + 14;
    double right = 10, bottom = c->x_title ? 50 : 32;
    axis ay;
    axisInit(&ay, 0, hi > 0 ? hi : 1, 5, false);
    double left = tickMargin(&ay, c->fmt, c->y_title != NULL);
    ay.a = h - bottom;
    ay.bpx = top;
    for (size_t i = 0; i < ay.n_ticks; i++) {
        double y = axisMap(&ay, ay.ticks[i]);
        char l[32];
        ly_svg_format(ay.ticks[i], c->fmt, ay.step, l, sizeof l);
        ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID "\"/>",
                          left, y, w - right, y);
        text(b, left - 6, y + 4, "text-anchor=\"end\" font-size=\"11\" fill=\"" MUTED "\"", l);
    }
    double slot = (w - left - right) / (double)c->n;
    double bw = slot * 0.72;
    /* Show every k-th category label so they never collide. */
    double max_lw = 0;
    char clipped[96];
    for (size_t i = 0; c->labels && i < c->n; i++) {
        clip(c->labels[i], 18, clipped, sizeof clipped); /* one long label must not hide the rest */
        double tw = textWidth(clipped, 11);
        if (tw > max_lw) max_lw = tw;
    }
    size_t every = 1;
    while (max_lw + 6 > slot * (double)every && every < c->n) every++;
    bool value_fits = slot >= 30;
    for (size_t i = 0; i < c->n; i++) {
        double v = isfinite(c->values[i]) && c->values[i] > 0 ? c->values[i] : 0;
        double x = left + slot * (double)i + (slot - bw) / 2;
        double y = axisMap(&ay, v);
        ly_svg_buf_printf(b, "<g class=\"bar\" data-value=\"%.6g\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                             "height=\"%.1f\" rx=\"2\" fill=\"#3f7fb8\"/>",
                          c->values[i], x, y, bw, h - bottom - y);
        if (value_fits) {
            char l[48];
            const char *vl = c->value_labels && c->value_labels[i] ? c->value_labels[i] : NULL;
            if (!vl) { ly_svg_format(c->values[i], c->fmt, 0, l, sizeof l); vl = l; }
            char attrs[96];
            double fs = slot >= 44 ? 10.5 : 9;
            snprintf(attrs, sizeof attrs, "text-anchor=\"middle\" font-size=\"%.1f\" font-weight=\"600\"", fs);
            text(b, x + bw / 2, y - 4, attrs, vl);
        }
        if (c->labels && i % every == 0) {
            clip(c->labels[i], 18, clipped, sizeof clipped);
            text(b, x + bw / 2, h - bottom + 15, "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\"",
                 clipped);
        }
        ly_svg_buf_puts(b, "</g>");
    }
    ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#9aa5b1\"/>",
                      left, h - bottom, w - right, h - bottom);
    if (c->x_title)
        text(b, left + (w - right - left) / 2, h - 10, "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\"",
             c->x_title);
    if (c->y_title) {
        char attrs[128];
        double cy = top + (h - bottom - top) / 2;
        snprintf(attrs, sizeof attrs,
                 "text-anchor=\"middle\" font-size=\"11\" fill=\"" MUTED "\" transform=\"rotate(-90 12 %.1f)\"", cy);
        text(b, 12, cy, attrs, c->y_title);
    }
    ly_svg_buf_puts(b, "</svg>");
}

/* ---------------------------------------------------------------------------------------
 * Share bar
 * ------------------------------------------------------------------------------------- */

/* Pattern k of a share bar, defined inside the chart (ids are prefixed by the chart id). */
static void sharePatterns(ly_svg_buf *b, const char *id)
{
    ly_svg_buf_puts(b, "<defs>");
    ly_svg_buf_printf(b, "<pattern id=\"%s-p1\" width=\"7\" height=\"7\" patternUnits=\"userSpaceOnUse\" "
                         "patternTransform=\"rotate(45)\"><rect width=\"7\" height=\"7\" fill=\"#d9822b\"/>"
                         "<rect width=\"2.6\" height=\"7\" fill=\"#7a3f06\"/></pattern>", id);
    ly_svg_buf_printf(b, "<pattern id=\"%s-p2\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\">"
                         "<rect width=\"6\" height=\"6\" fill=\"#f2c14e\"/><circle cx=\"3\" cy=\"3\" r=\"1.3\" "
                         "fill=\"#5c4300\"/></pattern>", id);
    ly_svg_buf_printf(b, "<pattern id=\"%s-p3\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\">"
                         "<rect width=\"8\" height=\"8\" fill=\"#e8edf2\"/><path d=\"M0 0L8 8M8 0L0 8\" "
                         "stroke=\"#52606d\" stroke-width=\"0.8\"/></pattern>", id);
    ly_svg_buf_puts(b, "</defs>");
}

static void shareFill(char *out, size_t size, const char *id, size_t k)
{
    if (k % 4 == 0) snprintf(out, size, "#1f5f99");
    else snprintf(out, size, "url(#%s-p%zu)", id, k % 4);
}

void ly_svg_share_bar_render(ly_svg_buf *b, const ly_svg_share_bar *c)
{
    double w = c->width > 0 ? c->width : 940;
    double total = 0;
    size_t points = 0;
    for (size_t i = 0; i < c->n_parts; i++)
        if (isfinite(c->parts[i].value) && c->parts[i].value > 0) { total += c->parts[i].value; points++; }
    if (total <= 0) {
        noData(b, c->id, c->chart, c->title, w);
        return;
    }
    double legend_rows = (double)c->n_parts;
    double top = c->title ? 28 : 6;
    double h = top + 44 + 22 * legend_rows + 4;
    svgOpen(b, c->id, c->chart, c->title, w, h, points);
    titleLine(b, c->title);
    sharePatterns(b, c->id);
    double x = 0;
    for (size_t i = 0; i < c->n_parts; i++) {
        double v = isfinite(c->parts[i].value) && c->parts[i].value > 0 ? c->parts[i].value : 0;
        double pw = v / total * w;
        char fill[80];
        shareFill(fill, sizeof fill, c->id, i);
        ly_svg_buf_printf(b, "<g class=\"part\" data-value=\"%.6g\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                             "height=\"34\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"1.5\"/>",
                          v, x, top, pw, fill);
        char pct[32];
        ly_svg_format(v / total, LY_SVG_FMT_PERCENT, 0, pct, sizeof pct);
        if (pw > textWidth(pct, 13) + 12)
            text(b, x + pw / 2, top + 22, "text-anchor=\"middle\" font-size=\"13\" font-weight=\"700\" "
                 "fill=\"#ffffff\" paint-order=\"stroke\" stroke=\"#1d2733\" stroke-width=\"3\"", pct);
        ly_svg_buf_puts(b, "</g>");
        x += pw;
    }
    /* Legend: swatch, label, then share and detail in one column after the longest label. */
    double lx = 0;
    for (size_t i = 0; i < c->n_parts; i++) {
        double tw = textWidth(c->parts[i].label, 12) * 1.1; /* bold runs wider */
        if (tw > lx) lx = tw;
    }
    lx += 30 + 14;
    for (size_t i = 0; i < c->n_parts; i++) {
        double y = top + 46 + 22 * (double)i;
        char fill[80];
        shareFill(fill, sizeof fill, c->id, i);
        ly_svg_buf_printf(b, "<rect x=\"0\" y=\"%.1f\" width=\"22\" height=\"14\" fill=\"%s\" stroke=\"#52606d\" "
                             "stroke-width=\"0.6\"/>", y, fill);
        double v = isfinite(c->parts[i].value) && c->parts[i].value > 0 ? c->parts[i].value : 0;
        char pct[32];
        ly_svg_format(v / total, LY_SVG_FMT_PERCENT, 0, pct, sizeof pct);
        text(b, 30, y + 11, "font-weight=\"600\"", c->parts[i].label);
        ly_svg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" MUTED "\">", lx, y + 11);
        ly_svg_escape(b, pct);
        if (c->parts[i].detail) {
            ly_svg_buf_puts(b, " \xc2\xb7 ");
            ly_svg_escape(b, c->parts[i].detail);
        }
        ly_svg_buf_puts(b, "</text>");
    }
    ly_svg_buf_puts(b, "</svg>");
}

/* ---------------------------------------------------------------------------------------
 * HTML table
 * ------------------------------------------------------------------------------------- */

static bool colRight(const ly_svg_table *t, size_t i)
{
    return t->align && i < strlen(t->align) && t->align[i] == 'r';
}

void ly_svg_table_begin(ly_svg_buf *b, const ly_svg_table *t)
{
    ly_svg_buf_puts(b, "<table class=\"data\"");
    if (t->id) {
        ly_svg_buf_puts(b, " id=\"");
        ly_svg_escape(b, t->id);
        ly_svg_buf_puts(b, "\"");
    }
    ly_svg_buf_puts(b, ">");
    if (t->caption) {
        ly_svg_buf_puts(b, "<caption>");
        ly_svg_escape(b, t->caption);
        ly_svg_buf_puts(b, "</caption>");
    }
    ly_svg_buf_puts(b, "<thead><tr>");
    for (size_t i = 0; i < t->n_cols; i++) {
        ly_svg_buf_puts(b, colRight(t, i) ? "<th class=\"num\">" : "<th>");
        ly_svg_escape(b, t->head ? t->head[i] : NULL);
        ly_svg_buf_puts(b, "</th>");
    }
    ly_svg_buf_puts(b, "</tr></thead><tbody>");
}

void ly_svg_table_row(ly_svg_buf *b, const ly_svg_table *t, const char *const *cells,
                      const char *row_class)
{
    if (row_class) {
        ly_svg_buf_puts(b, "<tr class=\"");
        ly_svg_escape(b, row_class);
        ly_svg_buf_puts(b, "\">");
    } else {
        ly_svg_buf_puts(b, "<tr>");
    }
    for (size_t i = 0; i < t->n_cols; i++) {
        ly_svg_buf_puts(b, colRight(t, i) ? "<td class=\"num\">" : "<td>");
        ly_svg_escape(b, cells ? cells[i] : NULL);
        ly_svg_buf_puts(b, "</td>");
    }
    ly_svg_buf_puts(b, "</tr>");
}

void ly_svg_table_end(ly_svg_buf *b)
{
    ly_svg_buf_puts(b, "</tbody></table>");
}
