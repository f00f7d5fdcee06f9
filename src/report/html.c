/*
 * html.c - the HTML report: reads the analysis JSON (contract in docs/report.md), writes one
 * self-contained document: a cover with the headline figures, then one section per analysis
 * part with its chart(s), a plain-language reading computed from the numbers, and a table.
 *
 * Tolerant by design: a section that is absent or not an object is skipped, a field that is
 * missing or of the wrong type is treated as unknown. Money fields are integer minor units
 * and are formatted with integer arithmetic only (ly_report_format_money); averages that the
 * contract gives as numbers in minor units (P, Pu, CLV) are rounded to a whole minor unit
 * before formatting.
 */
#include "report/html.h"
#include "report/maturity_html.h"
#include "report/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Money
 * ------------------------------------------------------------------------------------- */

size_t ly_report_format_money(int64_t minor, int minor_units, const char *currency, bool whole,
                              char *buf, size_t size)
{
    if (minor_units < 0) minor_units = 0;
    if (minor_units > 9) minor_units = 9;
    uint64_t scale = 1;
    for (int i = 0; i < minor_units; i++) scale *= 10;
    bool neg = minor < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t major = mag / scale, frac = mag % scale;
    if (whole) {
        if (scale > 1 && frac * 2 >= scale) major++;
        frac = 0;
    }
    char digits[32], out[96];
    int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)major);
    size_t o = 0;
    if (neg && (major > 0 || frac > 0)) out[o++] = '-';
    for (int i = 0; i < nd; i++) {
        if (i > 0 && (nd - i) % 3 == 0) out[o++] = ',';
        out[o++] = digits[i];
    }
    if (!whole && minor_units > 0) {
        out[o++] = '.';
        for (int i = minor_units - 1; i >= 0; i--) {
            uint64_t p = 1;
            for (int k = 0; k < i; k++) p *= 10;
            out[o++] = (char)('0' + (frac / p) % 10);
        }
    }
    out[o] = '\0';
    int n;
    if (currency && *currency) n = snprintf(buf, size, "%s %s", out, currency);
    else n = snprintf(buf, size, "%s", out);
    if (n < 0) n = 0;
    if (size == 0) return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

/* ---------------------------------------------------------------------------------------
 * Render context and JSON access
 * ------------------------------------------------------------------------------------- */

typedef struct rctx {
    ly_svg_buf *b;
    ly_arena arena; /* labels and arrays of the section being written */
    const char *currency;
    int mu;
    size_t top_n;
    int section_no;
} rctx;

/* A number field (integer or real), NAN when missing, null or not a number. */
static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

/* An integer field; false when missing or not an integer. */
static bool intOf(const json_t *o, const char *k, int64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static const json_t *arr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_array(v) ? v : NULL;
}

static void *alloc(rctx *c, size_t n)
{
    void *p = ly_arena_alloc(&c->arena, n ? n : 1);
    if (!p) c->b->oom = true;
    return p;
}

/* printf into the section's arena; never NULL (an empty string when out of memory). */
static char *fmt(rctx *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static char *fmt(rctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0) return (char *)"";
    char *p = alloc(c, (size_t)n + 1);
    if (!p) return (char *)"";
    va_start(ap, f);
    vsnprintf(p, (size_t)n + 1, f, ap);
    va_end(ap);
    return p;
}

static char *money(rctx *c, int64_t v, bool whole)
{
    char buf[128];
    ly_report_format_money(v, c->mu, c->currency, whole, buf, sizeof buf);
    return fmt(c, "%s", buf);
}

/* Money given as a number of minor units (an average): rounded to a whole minor unit. */
static char *moneyNum(rctx *c, double v, bool whole)
{
    if (!isfinite(v) || fabs(v) > 9e18) return fmt(c, "n/a");
    return money(c, (int64_t)llround(v), whole);
}

/* Money without the currency, for tables whose caption names it. */
static char *plainMoney(rctx *c, int64_t v, bool whole)
{
    char buf[64];
    ly_report_format_money(v, c->mu, NULL, whole, buf, sizeof buf);
    return fmt(c, "%s", buf);
}

static char *plainMoneyNum(rctx *c, double v, bool whole)
{
    if (!isfinite(v) || fabs(v) > 9e18) return fmt(c, "n/a");
    return plainMoney(c, (int64_t)llround(v), whole);
}

static char *pct(rctx *c, double v)
{
    char buf[48];
    ly_svg_format(v, LY_SVG_FMT_PERCENT, 0, buf, sizeof buf);
    return fmt(c, "%s", buf);
}

/* A level such as 0.5 or 0.7: "50%", "70%", but "72.5%". */
static char *level(rctx *c, double v)
{
    char *p = pct(c, v);
    size_t n = strlen(p);
    if (n > 3 && strcmp(p + n - 3, ".0%") == 0) { p[n - 3] = '%'; p[n - 2] = '\0'; }
    return p;
}

/* 10^minor_units, for drawing money as bar heights in major units. */
static double majorScale(const rctx *c)
{
    double s = 1;
    for (int i = 0; i < c->mu; i++) s *= 10;
    return s;
}

static char *count(rctx *c, int64_t v)
{
    char buf[40];
    ly_svg_format_int(v, buf, sizeof buf);
    return fmt(c, "%s", buf);
}

static char *number(rctx *c, double v, int decimals)
{
    if (!isfinite(v)) return fmt(c, "n/a");
    return fmt(c, "%.*f", decimals, v);
}

/* Escaped text where **...** becomes <strong>...</strong>. */
static void rich(ly_svg_buf *b, const char *s)
{
    bool open = false;
    const char *p = s;
    while (*p) {
        const char *star = strstr(p, "**");
        if (!star) { ly_svg_escape(b, p); break; }
        char *part = strndup(p, (size_t)(star - p));
        if (!part) { b->oom = true; return; }
        ly_svg_escape(b, part);
        free(part);
        ly_svg_buf_puts(b, open ? "</strong>" : "<strong>");
        open = !open;
        p = star + 2;
    }
    if (open) ly_svg_buf_puts(b, "</strong>");
}

/* <p class="reading"> with rich text. */
static void reading(rctx *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static void reading(rctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(NULL, 0, f, ap);
    va_end(ap);
    if (n < 0) return;
    char *p = alloc(c, (size_t)n + 1);
    if (!p) return;
    va_start(ap, f);
    vsnprintf(p, (size_t)n + 1, f, ap);
    va_end(ap);
    ly_svg_buf_puts(c->b, "<p class=\"reading\">");
    rich(c->b, p);
    ly_svg_buf_puts(c->b, "</p>");
}

static void sectionOpen(rctx *c, const char *key, const char *title, const char *question)
{
    c->section_no++;
    ly_svg_buf_printf(c->b, "<section id=\"sec-%s\" data-section=\"%s\"><header class=\"sec-head\">"
                            "<span class=\"sec-no\">%d</span><div><h2>", key, key, c->section_no);
    ly_svg_escape(c->b, title);
    ly_svg_buf_puts(c->b, "</h2><p class=\"question\">");
    ly_svg_escape(c->b, question);
    ly_svg_buf_puts(c->b, "</p></div></header>");
}

static void sectionClose(rctx *c)
{
    ly_svg_buf_puts(c->b, "</section>");
    ly_arena_free(&c->arena);
}

static void figureOpen(rctx *c, const char *cls)
{
    ly_svg_buf_printf(c->b, "<figure class=\"%s\">", cls ? cls : "chart-box");
}

static void figureClose(rctx *c, const char *howto)
{
    if (howto) {
        ly_svg_buf_puts(c->b, "<figcaption><b>How to read:</b> ");
        rich(c->b, howto);
        ly_svg_buf_puts(c->b, "</figcaption>");
    }
    ly_svg_buf_puts(c->b, "</figure>");
}

/* A tile of the headline figures. */
static void card(ly_svg_buf *b, const char *value, const char *label, const char *note)
{
    size_t cps = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) cps += (*p & 0xC0) != 0x80;
    ly_svg_buf_puts(b, cps > 10 ? "<div class=\"card\"><div class=\"card-value long\">"
                                : "<div class=\"card\"><div class=\"card-value\">");
    ly_svg_escape(b, value);
    ly_svg_buf_puts(b, "</div><div class=\"card-label\">");
    ly_svg_escape(b, label);
    ly_svg_buf_puts(b, "</div>");
    if (note) {
        ly_svg_buf_puts(b, "<div class=\"card-note\">");
        ly_svg_escape(b, note);
        ly_svg_buf_puts(b, "</div>");
    }
    ly_svg_buf_puts(b, "</div>");
}

/* ---------------------------------------------------------------------------------------
 * Cover: title, source, headline figures
 * ------------------------------------------------------------------------------------- */

static const json_t *section(const json_t *doc, const char *key)
{
    const json_t *s = json_object_get(doc, key);
    return json_is_object(s) ? s : NULL;
}

static void cover(rctx *c, const json_t *doc, const char *title)
{
    ly_svg_buf *b = c->b;
    const json_t *in = section(doc, "input");
    ly_svg_buf_puts(b, "<header class=\"cover\" id=\"cover\"><div class=\"brand\">Loyal \xc2\xb7 analytics report</div><h1>");
    ly_svg_escape(b, title);
    ly_svg_buf_puts(b, "</h1>");
    if (in) {
        const char *src = str(in, "source"), *as_of = str(in, "as_of");
        ly_svg_buf_puts(b, "<p class=\"subtitle\">");
        if (src) {
            ly_svg_buf_puts(b, "Data: <b>");
            ly_svg_escape(b, src);
            ly_svg_buf_puts(b, "</b>");
        }
        if (as_of) {
            ly_svg_buf_puts(b, src ? " \xc2\xb7 as of <b>" : "As of <b>");
            ly_svg_escape(b, as_of);
            ly_svg_buf_puts(b, "</b>");
        }
        ly_svg_buf_puts(b, "</p>");
    }
    ly_svg_buf_puts(b, "<div class=\"cards\" id=\"summary\">");
    int64_t v;
    if (in && intOf(in, "customers", &v)) card(b, count(c, v), "customers", NULL);
    if (in && intOf(in, "receipts", &v)) {
        int64_t lines;
        card(b, count(c, v), "receipts",
             intOf(in, "lines", &lines) ? fmt(c, "%s lines", count(c, lines)) : NULL);
    }
    const json_t *rfm = section(doc, "rfm");
    if (rfm && isfinite(num(rfm, "core_revenue_share")))
        card(b, pct(c, num(rfm, "core_revenue_share")), "of revenue from the core R3F3M3",
             "the method expects 30\xe2\x80\x93" "40%");
    const json_t *bd = section(doc, "boundaries");
    if (bd) {
        int64_t s, ch;
        bool hs = intOf(bd, "sleep_days", &s), hc = intOf(bd, "churn_days", &ch);
        if (hs || hc)
            card(b, fmt(c, "%s / %s", hs ? fmt(c, "%lld", (long long)s) : "\xe2\x80\x93",
                        hc ? fmt(c, "%lld", (long long)ch) : "\xe2\x80\x93"),
                 "days: sleep / churn boundary", "absence after which customers rarely return");
    }
    const json_t *lo = section(doc, "loyalty");
    if (lo && intOf(lo, "boundary", &v))
        card(b, fmt(c, "%lld+", (long long)v), "deals: loyalty boundary", "from here customers stay");
    const json_t *de = section(doc, "deals");
    if (de && isfinite(num(de, "addon_share")))
        card(b, pct(c, num(de, "addon_share")), "of purchases are add-ons", "not repeat deals");
    const json_t *clv = section(doc, "clv");
    if (clv && isfinite(num(clv, "total")))
        card(b, moneyNum(c, num(clv, "total"), true), "expected customer value (CLV, total)", NULL);
    ly_svg_buf_puts(b, "</div>");
    /* Contents: one entry per section present. */
    static const char *const toc[][2] = {
        {"rfm", "RFM: who brings the revenue"}, {"boundaries", "Sleep and churn boundaries"},
        {"loyalty", "Loyalty boundary"}, {"deals", "Repeat deals and add-ons"},
        {"deal_to_deal", "From deal to deal"}, {"cohorts", "Cohort retention"},
        {"structure", "Receipt structure"}, {"copurchases", "Bought together"},
        {"clv", "Customer lifetime value"}, {"profit", "The profit formula"}};
    ly_svg_buf_puts(b, "<nav class=\"toc\"><ol>");
    for (size_t i = 0; i < sizeof toc / sizeof toc[0]; i++)
        if (section(doc, toc[i][0]))
            ly_svg_buf_printf(b, "<li><a href=\"#sec-%s\">%s</a></li>", toc[i][0], toc[i][1]);
    if (section(doc, "maturity")) ly_svg_buf_puts(b, "<li><a href=\"#maturity\">Program maturity</a></li>");
    ly_svg_buf_puts(b, "</ol></nav></header>");
    ly_arena_free(&c->arena);
}

/* ---------------------------------------------------------------------------------------
 * 1. RFM
 * ------------------------------------------------------------------------------------- */

static void sectionRfm(rctx *c, const json_t *rfm)
{
    const json_t *cells = arr(rfm, "cells");
    /* grid[m][r][f] for levels 1..3. */
    double share[3][3][3];
    int64_t cust[3][3][3];
    bool have = false;
    int64_t total_customers = 0;
    for (int m = 0; m < 3; m++)
        for (int r = 0; r < 3; r++)
            for (int f = 0; f < 3; f++) { share[m][r][f] = 0; cust[m][r][f] = 0; }
    size_t i;
    const json_t *cell;
    json_array_foreach(cells, i, cell) {
        int64_t r, f, m, n = 0;
        if (!intOf(cell, "r", &r) || !intOf(cell, "f", &f) || !intOf(cell, "m", &m)) continue;
        if (r < 1 || r > 3 || f < 1 || f > 3 || m < 1 || m > 3) continue;
        double s = num(cell, "revenue_share");
        intOf(cell, "customers", &n);
        share[m - 1][r - 1][f - 1] = isfinite(s) ? s : 0;
        cust[m - 1][r - 1][f - 1] = n;
        total_customers += n;
        have = true;
    }
    double core = num(rfm, "core_revenue_share");
    if (!isfinite(core) && have) core = share[2][2][2];
    if (isfinite(core)) {
        const char *verdict = core < 0.30 ? "below the 30\xe2\x80\x93" "40% the method expects: the core is thin, "
                                            "so growing it (moving R2/F2 customers toward R3F3) is the main lever"
                              : core <= 0.40 ? "within the 30\xe2\x80\x93" "40% the method expects"
                                             : "above the 30\xe2\x80\x93" "40% the method expects: revenue "
                                               "depends heavily on few customers, so protect them first";
        if (have && total_customers > 0)
            reading(c, "The core **R3F3M3** (recent, frequent, big receipts) is **%s customers (%s of all)** and "
                       "brings **%s of revenue**, %s.",
                    count(c, cust[2][2][2]), pct(c, (double)cust[2][2][2] / (double)total_customers), pct(c, core),
                    verdict);
        else
            reading(c, "The core **R3F3M3** brings **%s of revenue**, %s.", pct(c, core), verdict);
    }
    if (have) {
        double hi = 0;
        for (int m = 0; m < 3; m++)
            for (int r = 0; r < 3; r++)
                for (int f = 0; f < 3; f++)
                    if (share[m][r][f] > hi) hi = share[m][r][f];
        figureOpen(c, "chart-box rfm-grids");
        ly_svg_buf_puts(c->b, "<div class=\"grid3\">");
        static const char *const rows[3] = {"R3", "R2", "R1"};
        static const char *const cols[3] = {"F1", "F2", "F3"};
        for (int m = 2; m >= 0; m--) {
            double values[9];
            const char *labels[9], *subs[9];
            for (int r = 0; r < 3; r++)
                for (int f = 0; f < 3; f++) {
                    int k = r * 3 + f;
                    values[k] = share[m][2 - r][f];
                    labels[k] = pct(c, values[k]);
                    subs[k] = fmt(c, "%s cust.", count(c, cust[m][2 - r][f]));
                }
            ly_svg_heatmap h = {
                .id = fmt(c, "chart-rfm-m%d", m + 1), .chart = "rfm-cells",
                .title = m == 2 ? "M3 \xc2\xb7 biggest receipts" : m == 1 ? "M2 \xc2\xb7 middle receipts" : "M1 \xc2\xb7 smallest receipts",
                .rows = 3, .cols = 3, .row_labels = rows, .col_labels = cols,
                .row_title = "Recency", .col_title = "Frequency",
                .values = values, .labels = labels, .sublabels = subs, .vmin = 0, .vmax = hi > 0 ? hi : 1,
                .fmt = LY_SVG_FMT_PERCENT, .cell_w = 74, .cell_h = 54, .legend = true,
                .highlight = m == 2 ? 3 : 0 /* R3F3M3: row 0 (R3), column 2 (F3) */};
            ly_svg_heatmap_render(c->b, &h);
        }
        ly_svg_buf_puts(c->b, "</div>");
        figureClose(c, "each grid is one receipt-size level (M). Rows are recency (R3 = bought most recently), columns "
                       "frequency (F3 = most purchases). A cell shows its **share of revenue** (the darker, the more) and "
                       "its number of customers. The core R3F3M3 is the outlined top-right cell of the first "
                       "grid; the customers to win back first are R2 with high F and M.");
    } else {
        ly_svg_heatmap h = {.id = "chart-rfm-m3", .chart = "rfm-cells", .title = "RFM cells"};
        figureOpen(c, NULL);
        ly_svg_heatmap_render(c->b, &h);
        figureClose(c, NULL);
    }
    /* Named segments (5x5x5 scoring). */
    const json_t *segs = arr(rfm, "segments");
    size_t n = json_array_size(segs);
    if (n > 0) {
        const char **labels = alloc(c, n * sizeof *labels), **vl = alloc(c, n * sizeof *vl);
        double *vals = alloc(c, n * sizeof *vals);
        if (!labels || !vl || !vals) return;
        ly_svg_table t = {.id = "table-rfm-segments", .caption = "Named segments (5\xc3\x97" "5\xc3\x97" "5 quintile scoring)",
                          .n_cols = 4, .head = (const char *[]){"Segment", "Customers", "Revenue", "Share of revenue"},
                          .align = "lrrr"};
        const json_t *s;
        size_t best = 0;
        json_array_foreach(segs, i, s) {
            int64_t cu = 0;
            intOf(s, "customers", &cu);
            labels[i] = str(s, "name") ? str(s, "name") : "?";
            vals[i] = num(s, "revenue_share");
            vl[i] = fmt(c, "%s \xc2\xb7 %s cust.", pct(c, vals[i]), count(c, cu));
            if (isfinite(vals[i]) && (!isfinite(vals[best]) || vals[i] > vals[best])) best = i;
        }
        if (isfinite(vals[best]))
            reading(c, "Among the named segments, **%s** brings the most revenue (**%s**).", labels[best],
                    pct(c, vals[best]));
        figureOpen(c, NULL);
        ly_svg_bar_chart bc = {.id = "chart-rfm-segments", .chart = "rfm-segments",
                               .title = "Share of revenue by named segment", .n = n, .labels = labels,
                               .values = vals, .value_labels = vl, .fmt = LY_SVG_FMT_PERCENT, .horizontal = true};
        ly_svg_bar_chart_render(c->b, &bc);
        figureClose(c, NULL);
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(segs, i, s) {
            int64_t cu = 0, rev = 0;
            bool hc = intOf(s, "customers", &cu), hr = intOf(s, "revenue", &rev);
            const char *row[4] = {labels[i], hc ? count(c, cu) : "", hr ? money(c, rev, false) : "", pct(c, vals[i])};
            ly_svg_table_row(c->b, &t, row, NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* The points of a curve drawn from the array a: x[i] and y[i] are the numbers at xkey and
 * ykey of its i-th element (NAN when absent), with room for one more point. False when out
 * of memory (the report is then marked failed). */
static bool curveOf(rctx *c, const json_t *a, const char *xkey, const char *ykey, double **x,
                    double **y)
{
    size_t n = json_array_size(a), i;
    *x = alloc(c, (n + 1) * sizeof **x);
    *y = alloc(c, (n + 1) * sizeof **y);
    if (!*x || !*y) return false;
    const json_t *p;
    json_array_foreach(a, i, p) {
        (*x)[i] = num(p, xkey);
        (*y)[i] = num(p, ykey);
    }
    return true;
}

/* ---------------------------------------------------------------------------------------
 * 2. Sleep and churn boundaries
 * ------------------------------------------------------------------------------------- */

static void sectionBoundaries(rctx *c, const json_t *bd)
{
    const json_t *curve = arr(bd, "curve");
    size_t n = json_array_size(curve), i;
    double *x, *y;
    if (!curveOf(c, curve, "days", "p_return", &x, &y)) return;
    const json_t *p;
    int64_t sleep = 0, churn = 0;
    bool hs = intOf(bd, "sleep_days", &sleep), hc = intOf(bd, "churn_days", &churn);
    double sl = num(bd, "sleep_level"), cl = num(bd, "churn_level");
    if (hs && hc)
        reading(c, "A customer absent **%lld days** comes back with a probability below %s: that is the **sleep "
                   "boundary**, where reminders should already be running. After **%lld days** the chance falls "
                   "below %s: the **churn boundary**; past it, win-back is worth only free or cheap channels.",
                (long long)sleep, isfinite(sl) ? level(c, sl) : "the sleep level", (long long)churn,
                isfinite(cl) ? level(c, cl) : "the churn level");
    else if (hs)
        reading(c, "The **sleep boundary** is **%lld days**. The return probability never falls below the churn "
                   "level%s within the observed gaps, so no churn boundary can be set yet.",
                (long long)sleep, isfinite(cl) ? fmt(c, " (%s)", level(c, cl)) : "");
    else if (n > 0)
        reading(c, "Within the observed gaps the return probability never falls below the sleep level%s: no "
                   "boundary can be set from this history yet.",
                isfinite(sl) ? fmt(c, " (%s)", level(c, sl)) : "");
    ly_svg_marker vm[2], hm[2];
    size_t nv = 0, nh = 0;
    if (hs) vm[nv++] = (ly_svg_marker){(double)sleep, fmt(c, "Sleep: %lld days", (long long)sleep)};
    if (hc) vm[nv++] = (ly_svg_marker){(double)churn, fmt(c, "Churn: %lld days", (long long)churn)};
    if (isfinite(sl)) hm[nh++] = (ly_svg_marker){sl, fmt(c, "sleep level %s", level(c, sl))};
    if (isfinite(cl)) hm[nh++] = (ly_svg_marker){cl, fmt(c, "churn level %s", level(c, cl))};
    ly_svg_series s = {.name = "P(comes back) after d days away", .x = x, .y = y, .n = n};
    ly_svg_line_chart lc = {.id = "chart-return-curve", .chart = "return-curve",
                            .title = "Probability of coming back after a gap of d days", .x_title = "Days since last purchase (d)",
                            .y_title = "P(return)", .series = &s, .n_series = 1, .vmarkers = vm, .n_vmarkers = nv,
                            .hmarkers = hm, .n_hmarkers = nh, .x_fmt = LY_SVG_FMT_INT, .y_fmt = LY_SVG_FMT_PERCENT,
                            .y_from_zero = true, .points = n <= 40};
    figureOpen(c, NULL);
    ly_svg_line_chart_render(c->b, &lc);
    figureClose(c, "the line is the share of customers who, having been away d days, still buy again (customers "
                   "still inside a gap count as censored, not as lost). The red dashed lines are the boundaries: "
                   "where the curve crosses the dotted sleep and churn levels.");
    if (n > 0) {
        /* At most ~14 rows: every k-th point plus the boundaries themselves. */
        size_t every = n > 14 ? (n + 13) / 14 : 1;
        ly_svg_table t = {.id = "table-return-curve", .caption = "Return curve (selected points)", .n_cols = 3,
                          .head = (const char *[]){"Days away", "P(return)", "Customers observed at this gap"},
                          .align = "rrr"};
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(curve, i, p) {
            int64_t d = 0, risk = 0;
            bool hd = intOf(p, "days", &d), hr = intOf(p, "at_risk", &risk);
            bool mark = hd && ((hs && d == sleep) || (hc && d == churn));
            if (i % every != 0 && !mark && i != n - 1) continue;
            const char *row[3] = {hd ? count(c, d) : "", pct(c, num(p, "p_return")), hr ? count(c, risk) : ""};
            ly_svg_table_row(c->b, &t, row, mark ? "mark" : NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 3. Loyalty boundary
 * ------------------------------------------------------------------------------------- */

static void sectionLoyalty(rctx *c, const json_t *lo)
{
    const json_t *steps = arr(lo, "steps");
    size_t n = json_array_size(steps), i;
    double *x, *y;
    if (!curveOf(c, steps, "n", "p_next", &x, &y)) return;
    const json_t *p;
    int64_t bnd = 0;
    bool hb = intOf(lo, "boundary", &bnd);
    double lvl = num(lo, "level");
    if (hb) {
        double first = n > 0 ? y[0] : NAN;
        reading(c, "From deal **%lld** on, at least %s of customers make one more deal: that is the **loyalty "
                   "boundary** (the method says 6+ on average; these data say %lld). %s Move customers to deal "
                   "%lld and teach them other categories on the way.",
                (long long)bnd, isfinite(lvl) ? level(c, lvl) : "the loyalty level", (long long)bnd,
                isfinite(first) ? fmt(c, "After the first deal only %s come back for a second.", pct(c, first)) : "",
                (long long)bnd);
    } else if (n > 0) {
        reading(c, "The chance of a next deal never reaches the loyalty level%s in these data: there is no loyalty "
                   "boundary yet.", isfinite(lvl) ? fmt(c, " (%s)", level(c, lvl)) : "");
    }
    ly_svg_marker vm = {(double)bnd, fmt(c, "Loyalty boundary: deal %lld", (long long)bnd)};
    ly_svg_marker hm = {lvl, fmt(c, "loyalty level %s", level(c, lvl))};
    ly_svg_series s = {.name = "P(deal n+1 | deal n)", .x = x, .y = y, .n = n};
    ly_svg_line_chart lc = {.id = "chart-loyalty-curve", .chart = "loyalty-curve",
                            .title = "Chance of one more deal after deal n", .x_title = "Deal number n",
                            .y_title = "P(next deal)", .series = &s, .n_series = 1, .vmarkers = &vm,
                            .n_vmarkers = hb ? 1 : 0, .hmarkers = &hm, .n_hmarkers = isfinite(lvl) ? 1 : 0,
                            .x_fmt = LY_SVG_FMT_INT, .y_fmt = LY_SVG_FMT_PERCENT, .y_from_zero = true,
                            .points = true};
    figureOpen(c, NULL);
    ly_svg_line_chart_render(c->b, &lc);
    figureClose(c, "each point is the share of customers with n deals who went on to make deal n+1. The curve "
                   "usually rises: every deal makes the next one likelier. The red line marks the deal count from "
                   "which the chance stays above the dotted loyalty level.");
    if (n > 0) {
        ly_svg_table t = {.id = "table-loyalty", .caption = "Deal n \xe2\x86\x92 n+1", .n_cols = 4,
                          .head = (const char *[]){"Deal n", "Customers with n deals", "Made deal n+1", "P(next)"},
                          .align = "rrrr"};
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(steps, i, p) {
            int64_t k = 0, cu = 0, cv = 0;
            bool hk = intOf(p, "n", &k), hcu = intOf(p, "customers", &cu), hcv = intOf(p, "converted", &cv);
            const char *row[4] = {hk ? count(c, k) : "", hcu ? count(c, cu) : "", hcv ? count(c, cv) : "",
                                  pct(c, num(p, "p_next"))};
            ly_svg_table_row(c->b, &t, row, hb && hk && k == bnd ? "mark" : NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 4. Repeat deals and add-ons
 * ------------------------------------------------------------------------------------- */

static void sectionDeals(rctx *c, const json_t *de)
{
    int64_t pu = 0, dl = 0, ai = 0, ad = 0;
    bool hp = intOf(de, "purchases", &pu), hd = intOf(de, "deals", &dl);
    bool hi = intOf(de, "addons_immediate", &ai), ha = intOf(de, "addons_deferred", &ad);
    double share = num(de, "addon_share");
    if (!isfinite(share) && hp && pu > 0 && (hi || ha)) share = (double)(ai + ad) / (double)pu;
    if (hp && hd && dl > 0)
        reading(c, "Of **%s purchases**, **%s are deals** and %s (**%s**) are add-ons that serve the same job as an "
                   "earlier purchase. Counting raw purchases would overstate repeat deals by **%s**. Every repeat "
                   "figure in this report counts deals.",
                count(c, pu), count(c, dl), count(c, ai + ad), pct(c, share),
                pct(c, (double)(pu - dl) / (double)dl));
    ly_svg_share_part parts[3] = {
        {"Deals (new jobs)", hd ? (double)dl : NAN, hd ? fmt(c, "%s purchases", count(c, dl)) : NULL},
        {"Add-ons, immediate (same receipt or day)", hi ? (double)ai : NAN, hi ? fmt(c, "%s purchases", count(c, ai)) : NULL},
        {"Add-ons, deferred (days later, same job)", ha ? (double)ad : NAN, ha ? fmt(c, "%s purchases", count(c, ad)) : NULL}};
    ly_svg_share_bar sb = {.id = "chart-deals-share", .chart = "deals-share", .title = "What the purchases really are",
                           .parts = parts, .n_parts = 3};
    figureOpen(c, NULL);
    ly_svg_share_bar_render(c->b, &sb);
    figureClose(c, "the bar is all purchases. Only the solid part are repeat deals; the hatched and dotted parts "
                   "are add-ons (an upsell to the same need: the TV, then its cable).");
    ly_svg_table t = {.id = "table-deals", .n_cols = 2, .head = (const char *[]){"Measure", "Value"}, .align = "lr"};
    ly_svg_table_begin(c->b, &t);
    if (hp) ly_svg_table_row(c->b, &t, (const char *[]){"Raw purchases", count(c, pu)}, NULL);
    if (hd) ly_svg_table_row(c->b, &t, (const char *[]){"Deals", count(c, dl)}, NULL);
    if (hi) ly_svg_table_row(c->b, &t, (const char *[]){"Add-ons, immediate", count(c, ai)}, NULL);
    if (ha) ly_svg_table_row(c->b, &t, (const char *[]){"Add-ons, deferred", count(c, ad)}, NULL);
    if (isfinite(share)) ly_svg_table_row(c->b, &t, (const char *[]){"Add-on share", pct(c, share)}, NULL);
    ly_svg_table_end(c->b);
}

/* ---------------------------------------------------------------------------------------
 * 5. From deal to deal
 * ------------------------------------------------------------------------------------- */

static void sectionDealToDeal(rctx *c, const json_t *dd)
{
    const json_t *by = arr(dd, "by_n");
    size_t n = json_array_size(by), i;
    double *x, *y;
    if (!curveOf(c, by, "n", "conversion", &x, &y)) return;
    double *rv = alloc(c, (n + 1) * sizeof *rv);
    const char **rl = alloc(c, (n + 1) * sizeof *rl), **rvl = alloc(c, (n + 1) * sizeof *rvl);
    if (!rv || !rl || !rvl) return;
    const json_t *p;
    json_array_foreach(by, i, p) {
        int64_t ar = 0;
        bool ha = intOf(p, "avg_receipt", &ar);
        rv[i] = ha ? (double)ar / majorScale(c) : NAN; /* bar heights in major units */
        rvl[i] = ha ? money(c, ar, true) : NULL;
        rl[i] = isfinite(x[i]) ? fmt(c, "%.0f", x[i]) : "?";
    }
    if (n >= 2) {
        int64_t a0 = 0, a1 = 0;
        const json_t *first = json_array_get(by, 0), *last = json_array_get(by, n - 1);
        if (intOf(first, "avg_receipt", &a0) && intOf(last, "avg_receipt", &a1) && a0 > 0)
            reading(c, "The average receipt goes from **%s** at deal %.0f to **%s** at deal %.0f (%s%s). "
                       "Conversion from the first to the second deal is **%s**.",
                    money(c, a0, true), x[0], money(c, a1, true), x[n - 1], a1 >= a0 ? "+" : "",
                    pct(c, (double)(a1 - a0) / (double)a0), pct(c, y[0]));
    }
    ly_svg_series s = {.name = "Conversion deal N \xe2\x86\x92 N+1", .x = x, .y = y, .n = n};
    ly_svg_line_chart lc = {.id = "chart-deal-conversion", .chart = "deal-conversion",
                            .title = "Conversion from deal N to deal N+1", .x_title = "Deal number N",
                            .y_title = "Conversion", .series = &s, .n_series = 1, .x_fmt = LY_SVG_FMT_INT,
                            .y_fmt = LY_SVG_FMT_PERCENT, .y_from_zero = true, .points = true, .height = 300};
    ly_svg_bar_chart bc = {.id = "chart-deal-receipt", .chart = "deal-receipt", .title = "Average receipt by deal number",
                           .x_title = "Deal number N", .n = n, .labels = rl, .values = rv, .value_labels = rvl,
                           .fmt = LY_SVG_FMT_INT, .height = 280};
    figureOpen(c, NULL);
    ly_svg_line_chart_render(c->b, &lc);
    ly_svg_bar_chart_render(c->b, &bc);
    figureClose(c, "the line is the share of customers who made deal N and then deal N+1; the bars are the average "
                   "receipt of the N-th deal. A rising receipt shows customers trusting the store with more.");
    if (n > 0) {
        ly_svg_table t = {.id = "table-deal-to-deal", .n_cols = 4,
                          .head = (const char *[]){"Deal N", "Conversion to N+1", "Median days to next deal", "Average receipt"},
                          .align = "rrrr"};
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(by, i, p) {
            double md = num(p, "median_days");
            const char *row[4] = {rl[i], pct(c, y[i]), isfinite(md) ? number(c, md, md == floor(md) ? 0 : 1) : "\xe2\x80\x93",
                                  rvl[i] ? rvl[i] : ""};
            ly_svg_table_row(c->b, &t, row, NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 6. Cohorts
 * ------------------------------------------------------------------------------------- */

static void sectionCohorts(rctx *c, const json_t *co)
{
    const json_t *months = arr(co, "months");
    size_t n = json_array_size(months), i;
    ly_svg_cohort_row *rows = alloc(c, (n + 1) * sizeof *rows);
    if (!rows) return;
    bool first_is_one = n > 0;
    double sum1 = 0;
    size_t n1 = 0;
    const json_t *m;
    json_array_foreach(months, i, m) {
        const json_t *ret = arr(m, "retention");
        size_t k = json_array_size(ret);
        double *v = alloc(c, (k + 1) * sizeof *v);
        if (!v) return;
        for (size_t j = 0; j < k; j++) {
            const json_t *e = json_array_get(ret, j);
            v[j] = json_is_number(e) ? json_number_value(e) : NAN;
        }
        if (k == 0 || !(v[0] >= 0.999)) first_is_one = false;
        if (k > 1 && isfinite(v[1])) { sum1 += v[1]; n1++; }
        int64_t size = 0;
        intOf(m, "size", &size);
        rows[i] = (ly_svg_cohort_row){str(m, "cohort") ? str(m, "cohort") : "?", size, v, k};
    }
    if (n1 > 0)
        reading(c, "On average **%s** of a month's new customers buy again in the following month%s.",
                pct(c, sum1 / (double)n1),
                n > 1 ? fmt(c, " (%zu cohorts, from %s to %s)", n, rows[0].label, rows[n - 1].label) : "");
    ly_svg_cohort ch = {.id = "chart-cohorts", .chart = "cohorts", .title = "Retention by month of first purchase",
                        .rows = rows, .n_rows = n, .skip_first = first_is_one};
    figureOpen(c, NULL);
    ly_svg_cohort_render(c->b, &ch);
    figureClose(c, first_is_one
                       ? "each row is the customers whose first purchase fell in that month (n = their number). "
                         "Column k is the share of them who bought in the k-th month after it (month 0, the first, "
                         "is 100% by definition and not drawn). Read down a column to see whether newer cohorts "
                         "keep better than older ones."
                       : "each row is the customers whose first purchase fell in that month (n = their number). "
                         "Column k is the share of them who bought in the k-th month after it. Read down a column to "
                         "see whether newer cohorts keep better than older ones.");
}

/* ---------------------------------------------------------------------------------------
 * 7. Receipt structure
 * ------------------------------------------------------------------------------------- */

static void sectionStructure(rctx *c, const json_t *st)
{
    const json_t *dh = arr(st, "depth_hist"), *wh = arr(st, "width_hist"), *bp = arr(st, "by_period");
    size_t nd = json_array_size(dh), nw = json_array_size(wh), i;
    double *dv = alloc(c, (nd + 1) * sizeof *dv), *wv = alloc(c, (nw + 1) * sizeof *wv);
    const char **dl = alloc(c, (nd + 1) * sizeof *dl), **wl = alloc(c, (nw + 1) * sizeof *wl);
    if (!dv || !wv || !dl || !wl) return;
    double total = 0, one = 0, wtotal = 0, wtop = 0;
    const json_t *p;
    json_array_foreach(dh, i, p) {
        int64_t items = 0, rc = 0;
        bool hi = intOf(p, "items", &items), hr = intOf(p, "receipts", &rc);
        dv[i] = hr ? (double)rc : NAN;
        dl[i] = hi ? fmt(c, "%lld", (long long)items) : "?";
        if (hr) total += (double)rc;
        if (hi && hr && items == 1) one = (double)rc;
    }
    json_array_foreach(wh, i, p) {
        int64_t rc = 0;
        bool hr = intOf(p, "receipts", &rc);
        double from = num(p, "from"), to = num(p, "to");
        wv[i] = hr ? (double)rc : NAN;
        wl[i] = fmt(c, "%s\xe2\x80\x93%s", number(c, from, 2), number(c, to, 2));
        if (hr) {
            wtotal += (double)rc;
            if (from >= 0.6 - 1e-9) wtop += (double)rc;
        }
    }
    if (total > 0)
        reading(c, "**%s** of receipts hold a single item; deeper receipts (more items) are the D lever of P = Pu "
                   "\xc3\x97 D.%s", pct(c, one / total),
                wtotal > 0 ? fmt(c, " On width, **%s** of receipts sit in the upper 40%% of their categories' price "
                                    "range.", pct(c, wtop / wtotal)) : "");
    figureOpen(c, "chart-box two");
    ly_svg_bar_chart db = {.id = "chart-depth-hist", .chart = "depth-hist", .title = "Depth: items per receipt",
                           .x_title = "Items in the receipt", .y_title = "Receipts", .n = nd, .labels = dl, .values = dv,
                           .fmt = LY_SVG_FMT_INT, .width = 480, .height = 300};
    ly_svg_bar_chart wb = {.id = "chart-width-hist", .chart = "width-hist", .title = "Width: price position in category",
                           .x_title = "0 = cheapest in its category, 1 = dearest", .y_title = "Receipts", .n = nw,
                           .labels = wl, .values = wv, .fmt = LY_SVG_FMT_INT, .width = 480, .height = 300};
    ly_svg_bar_chart_render(c->b, &db);
    ly_svg_bar_chart_render(c->b, &wb);
    figureClose(c, "left, how many receipts have 1, 2, 3, ... items. Right, where the chosen items sit in the price "
                   "range of their category: bars to the right mean customers pick the dearer options.");
    size_t np = json_array_size(bp);
    if (np > 0) {
        ly_svg_table t = {.id = "table-structure", .caption = "By period", .n_cols = 4,
                          .head = (const char *[]){"Period", "Depth D (items)", "Item price Pu", "Receipt P"},
                          .align = "lrrr"};
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(bp, i, p) {
            const char *row[4] = {str(p, "period") ? str(p, "period") : "", number(c, num(p, "D"), 2),
                                  moneyNum(c, num(p, "Pu"), false), moneyNum(c, num(p, "P"), false)};
            ly_svg_table_row(c->b, &t, row, NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 8. Co-purchases
 * ------------------------------------------------------------------------------------- */

/* "a + b + c" of a JSON array of strings. */
static const char *joinItems(rctx *c, const json_t *a, const char *sep)
{
    ly_svg_buf t = {0};
    size_t i;
    const json_t *e;
    json_array_foreach(a, i, e) {
        if (i) ly_svg_buf_puts(&t, sep);
        ly_svg_buf_puts(&t, json_is_string(e) ? json_string_value(e) : "?");
    }
    char *s = ly_svg_buf_take(&t, NULL);
    if (!s) { c->b->oom = true; return ""; }
    char *r = fmt(c, "%s", s);
    free(s);
    return r;
}

/* Indices of the array's elements ordered by key descending (stable). */
static size_t *rankBy(rctx *c, const json_t *a, const char *key, size_t *n_out)
{
    size_t n = json_array_size(a);
    size_t *idx = alloc(c, (n + 1) * sizeof *idx);
    double *v = alloc(c, (n + 1) * sizeof *v);
    if (!idx || !v) { *n_out = 0; return NULL; }
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
        v[i] = num(json_array_get(a, i), key);
        if (!isfinite(v[i])) v[i] = -INFINITY;
    }
    for (size_t i = 1; i < n; i++) { /* insertion sort: stable, n is small */
        size_t k = idx[i];
        size_t j = i;
        while (j > 0 && v[idx[j - 1]] < v[k]) { idx[j] = idx[j - 1]; j--; }
        idx[j] = k;
    }
    *n_out = n;
    return idx;
}

static void sectionCopurchases(rctx *c, const json_t *cp)
{
    const json_t *combos = arr(cp, "combos"), *rules = arr(cp, "rules");
    size_t nc = 0, nr = 0;
    size_t *ci = rankBy(c, combos, "lift", &nc), *ri = rankBy(c, rules, "lift", &nr);
    if (nc > c->top_n) nc = c->top_n;
    if (nr > c->top_n) nr = c->top_n;
    const char **labels = alloc(c, (nc + 1) * sizeof *labels), **vl = alloc(c, (nc + 1) * sizeof *vl);
    double *vals = alloc(c, (nc + 1) * sizeof *vals);
    if (!labels || !vl || !vals) return;
    for (size_t k = 0; k < nc; k++) {
        const json_t *e = json_array_get(combos, ci[k]);
        labels[k] = joinItems(c, arr(e, "items"), " + ");
        vals[k] = num(e, "lift");
        vl[k] = fmt(c, "lift %s \xc2\xb7 %s of baskets", number(c, vals[k], 2), pct(c, num(e, "support")));
    }
    if (nc > 0)
        reading(c, "The strongest combo is **%s**: baskets with these items are **%s times** more common than "
                   "chance would give. Combos with a high lift are candidates for bundles, shelf neighbours and "
                   "\"buy together\" bonuses.", labels[0], number(c, vals[0], 1));
    else if (nr > 0) {
        const json_t *r0 = json_array_get(rules, ri[0]);
        reading(c, "The strongest rule: customers who buy **%s** also buy **%s** in %s of cases (lift %s).",
                joinItems(c, arr(r0, "lhs"), ", "), joinItems(c, arr(r0, "rhs"), ", "),
                pct(c, num(r0, "confidence")), number(c, num(r0, "lift"), 2));
    }
    ly_svg_bar_chart bc = {.id = "chart-top-combos", .chart = "top-combos",
                           .title = fmt(c, "Top %zu combos by lift", nc), .x_title = "Lift (\xc3\x97 more often than by chance)",
                           .n = nc, .labels = labels, .values = vals, .value_labels = vl, .fmt = LY_SVG_FMT_NUMBER,
                           .horizontal = true};
    figureOpen(c, NULL);
    ly_svg_bar_chart_render(c->b, &bc);
    figureClose(c, "a bar's length is the combo's **lift**: 1 means the items meet by chance, 3 means three times "
                   "as often. Support is the share of all baskets holding the whole combo: a high lift on a tiny "
                   "support is a niche, not a bundle.");
    if (nr > 0) {
        ly_svg_table t = {.id = "table-rules", .caption = fmt(c, "Top %zu association rules by lift", nr), .n_cols = 5,
                          .head = (const char *[]){"If the basket has", "it also has", "Support", "Confidence", "Lift"},
                          .align = "llrrr"};
        ly_svg_table_begin(c->b, &t);
        for (size_t k = 0; k < nr; k++) {
            const json_t *r = json_array_get(rules, ri[k]);
            const char *row[5] = {joinItems(c, arr(r, "lhs"), ", "), joinItems(c, arr(r, "rhs"), ", "),
                                  pct(c, num(r, "support")), pct(c, num(r, "confidence")), number(c, num(r, "lift"), 2)};
            ly_svg_table_row(c->b, &t, row, NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 9. CLV
 * ------------------------------------------------------------------------------------- */

static void sectionClv(rctx *c, const json_t *clv)
{
    const json_t *hist = arr(clv, "hist");
    size_t n = json_array_size(hist), i;
    double *v = alloc(c, (n + 1) * sizeof *v);
    const char **l = alloc(c, (n + 1) * sizeof *l);
    if (!v || !l) return;
    double customers = 0;
    const json_t *p;
    json_array_foreach(hist, i, p) {
        int64_t cu = 0;
        bool hc = intOf(p, "customers", &cu);
        v[i] = hc ? (double)cu : NAN;
        if (hc) customers += (double)cu;
        /* Axis labels in whole major units without the currency: the title names it once. */
        double from = num(p, "from"), to = num(p, "to");
        char a[64] = "?", b2[64] = "?";
        if (isfinite(from) && fabs(from) < 9e18)
            ly_report_format_money((int64_t)llround(from), c->mu, NULL, true, a, sizeof a);
        if (isfinite(to) && fabs(to) < 9e18)
            ly_report_format_money((int64_t)llround(to), c->mu, NULL, true, b2, sizeof b2);
        l[i] = fmt(c, "%s\xe2\x80\x93%s", a, b2);
    }
    const char *model = str(clv, "model");
    double total = num(clv, "total");
    if (isfinite(total))
        reading(c, "The %s model expects the customer base to bring **%s** in total%s.",
                model ? model : "fitted", moneyNum(c, total, true),
                customers > 0 ? fmt(c, " over %s customers, **%s** each on average", count(c, (int64_t)customers),
                                    moneyNum(c, total / customers, true))
                              : "");
    ly_svg_bar_chart bc = {.id = "chart-clv-hist", .chart = "clv-hist",
                           .title = c->currency && *c->currency ? fmt(c, "Customers by expected value (%s)", c->currency)
                                                                : "Customers by expected value",
                           .x_title = "Expected customer value (CLV)", .y_title = "Customers", .n = n, .labels = l,
                           .values = v, .fmt = LY_SVG_FMT_INT};
    figureOpen(c, NULL);
    ly_svg_bar_chart_render(c->b, &bc);
    figureClose(c, "each bar counts the customers whose expected value falls in the range below it. The long tail "
                   "to the right is the few customers worth protecting most.");
    const json_t *params = json_object_get(clv, "params");
    if (json_is_object(params) && json_object_size(params) > 0) {
        ly_svg_table t = {.id = "table-clv-params", .caption = model ? fmt(c, "Fitted parameters (%s)", model)
                                                                      : "Fitted parameters",
                          .n_cols = 2, .head = (const char *[]){"Parameter", "Value"}, .align = "lr"};
        ly_svg_table_begin(c->b, &t);
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)params, k, e) {
            const char *val = json_is_number(e) ? fmt(c, "%.6g", json_number_value(e))
                              : json_is_string(e) ? json_string_value(e)
                              : json_is_boolean(e) ? (json_is_true(e) ? "true" : "false") : "\xe2\x80\x93";
            ly_svg_table_row(c->b, &t, (const char *[]){k, val}, NULL);
        }
        ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * 10. Profit formula
 * ------------------------------------------------------------------------------------- */

/* "1,234 (▲ 5.2%)" for a value and its change against the previous period. */
static const char *withChange(rctx *c, const char *value, const json_t *change, const char *key)
{
    double d = num(change, key);
    if (!isfinite(d)) return *value ? value : "\xe2\x80\x93";
    return fmt(c, "%s%s%s%s", value, *value ? " " : "", d > 0 ? "\xe2\x96\xb2 +" : d < 0 ? "\xe2\x96\xbc " : "\xc2\xb1 ",
               pct(c, d));
}

static void sectionProfit(rctx *c, const json_t *pr)
{
    const json_t *periods = arr(pr, "periods");
    size_t n = json_array_size(periods), i;
    double *rv = alloc(c, (n + 1) * sizeof *rv);
    const char **rl = alloc(c, (n + 1) * sizeof *rl), **rvl = alloc(c, (n + 1) * sizeof *rvl);
    if (!rv || !rl || !rvl) return;
    const json_t *p;
    json_array_foreach(periods, i, p) {
        int64_t r = 0;
        bool hr = intOf(p, "revenue", &r);
        rv[i] = hr ? (double)r / majorScale(c) : NAN; /* bar heights in major units */
        if (hr) { /* whole units without the currency: the title names it */
            char buf[64];
            ly_report_format_money(r, c->mu, NULL, true, buf, sizeof buf);
            rvl[i] = fmt(c, "%s", buf);
        } else {
            rvl[i] = NULL;
        }
        rl[i] = str(p, "period") ? str(p, "period") : "?";
    }
    if (n > 0) {
        const json_t *last = json_array_get(periods, n - 1);
        const json_t *ch = json_object_get(last, "change");
        if (json_is_object(ch) && isfinite(num(ch, "revenue"))) {
            static const char *const lever[3][2] = {{"CL", "buying customers CL"}, {"Qs", "repeat deals Qs"},
                                                    {"P", "average receipt P"}};
            int best = -1;
            double bestv = 0;
            for (int k = 0; k < 3; k++) {
                double d = num(ch, lever[k][0]);
                if (isfinite(d) && (best < 0 || fabs(d) > fabs(bestv))) { best = k; bestv = d; }
            }
            reading(c, "In **%s** revenue changed by **%s%s** against the previous period: CL %s, Qs %s, P %s. "
                       "The levers multiply, so small moves add up%s.",
                    rl[n - 1], num(ch, "revenue") > 0 ? "+" : "", pct(c, num(ch, "revenue")),
                    withChange(c, "", ch, "CL"), withChange(c, "", ch, "Qs"), withChange(c, "", ch, "P"),
                    best >= 0 ? fmt(c, "; the biggest mover was **%s**", lever[best][1]) : "");
        }
    }
    ly_svg_bar_chart bc = {.id = "chart-profit-revenue", .chart = "profit-revenue",
                           .title = c->currency && *c->currency ? fmt(c, "Revenue by period (%s)", c->currency)
                                                                : "Revenue by period",
                           .n = n, .labels = rl, .values = rv, .value_labels = rvl, .fmt = LY_SVG_FMT_INT,
                           .height = 260};
    figureOpen(c, NULL);
    ly_svg_bar_chart_render(c->b, &bc);
    figureClose(c, "the table below splits each period's revenue into its levers. \xe2\x96\xb2 and \xe2\x96\xbc "
                   "give the change against the previous period. CL counts buying customers (new, returning and "
                   "brought by referral); Qs is deals per buying customer; P is the average receipt, Pu the average "
                   "item price and D the items per receipt.");
    if (n > 0) {
        /* Money in the table without the currency (the caption names it) so the levers fit a page. */
        ly_svg_table t = {.id = "table-profit",
                          .caption = c->currency && *c->currency
                                         ? fmt(c, "Profit formula by period (money in %s)", c->currency)
                                         : "Profit formula by period",
                          .n_cols = 11,
                          .head = (const char *[]){"Period", "CL", "new", "returning", "referred", "Qs", "P", "Pu", "D",
                                                   "Revenue", "Margin"},
                          .align = "lrrrrrrrrrr"};
        ly_svg_table_begin(c->b, &t);
        json_array_foreach(periods, i, p) {
            int64_t cl = 0, cn = 0, cr = 0, crf = 0, rev = 0, mg = 0;
            bool hcl = intOf(p, "CL", &cl), hcn = intOf(p, "CL_new", &cn), hcr = intOf(p, "CL_returning", &cr);
            bool hcf = intOf(p, "CL_referred", &crf), hrev = intOf(p, "revenue", &rev), hmg = intOf(p, "margin", &mg);
            const char *row[11] = {
                rl[i], hcl ? count(c, cl) : "", hcn ? count(c, cn) : "", hcr ? count(c, cr) : "",
                hcf ? count(c, crf) : "", number(c, num(p, "Qs"), 2), plainMoneyNum(c, num(p, "P"), false),
                plainMoneyNum(c, num(p, "Pu"), false), number(c, num(p, "D"), 2),
                hrev ? plainMoney(c, rev, true) : "", hmg ? plainMoney(c, mg, true) : "\xe2\x80\x93"};
            ly_svg_table_row(c->b, &t, row, NULL);
        }
        ly_svg_table_end(c->b);
        ly_svg_table tc = {.id = "table-profit-change", .caption = "Each lever against the previous period",
                           .n_cols = 5, .head = (const char *[]){"Period", "CL", "Qs", "P", "Revenue"},
                           .align = "lrrrr"};
        bool any = false;
        json_array_foreach(periods, i, p) {
            const json_t *ch = json_object_get(p, "change");
            if (!json_is_object(ch)) continue;
            if (!any) ly_svg_table_begin(c->b, &tc);
            any = true;
            const char *row[5] = {rl[i], withChange(c, "", ch, "CL"), withChange(c, "", ch, "Qs"),
                                  withChange(c, "", ch, "P"), withChange(c, "", ch, "revenue")};
            ly_svg_table_row(c->b, &tc, row, NULL);
        }
        if (any) ly_svg_table_end(c->b);
    }
}

/* ---------------------------------------------------------------------------------------
 * The document
 * ------------------------------------------------------------------------------------- */

/* The numbered sections, in report order: the key of the analysis document's section (also
 * the HTML id "sec-KEY"), its heading and its question. Each body writes between the header
 * and the section's end, which the caller writes (and frees the section's arena) even when
 * the body returns early. */
typedef void (*sectionBody)(rctx *c, const json_t *section);
static const struct {
    const char *key, *title, *question;
    sectionBody body;
} SECTIONS[] = {
    {"rfm", "RFM: who brings the revenue",
     "Customers split by Recency, Frequency and Monetary value into 27 cells (3 = best 25%, 1 = worst 25%).",
     sectionRfm},
    {"boundaries", "Sleep and churn boundaries",
     "After how many days of absence does a customer stop coming back?",
     sectionBoundaries},
    {"loyalty", "Loyalty boundary",
     "After how many deals does a customer stay with us?",
     sectionLoyalty},
    {"deals", "Repeat deals and add-ons",
     "How many purchases are new deals, and how many only complete an earlier one?",
     sectionDeals},
    {"deal_to_deal", "From deal to deal",
     "How many customers go from deal N to N+1, how long it takes, and how the receipt grows.",
     sectionDealToDeal},
    {"cohorts", "Cohort retention",
     "Of the customers who first bought in a month, how many still buy months later?",
     sectionCohorts},
    {"structure", "Receipt structure",
     "What a receipt is made of: depth D (items), width (price position), Pu and P = Pu \xc3\x97 D.",
     sectionStructure},
    {"copurchases", "Bought together",
     "Which products sell together, and which combos to build from them.",
     sectionCopurchases},
    {"clv", "Customer lifetime value",
     "What each customer is expected to be worth, from a fitted model of buying and spending.",
     sectionClv},
    {"profit", "The profit formula",
     "Revenue = CL \xc3\x97 Qs \xc3\x97 P, P = Pu \xc3\x97 D: which lever moved, period by period.",
     sectionProfit},
};

static const char CSS[] =
    ":root{--ink:#1d2733;--muted:#5b6776;--line:#dfe5ec;--accent:#1f5f99;--paper:#ffffff;--bg:#f4f6f9}"
    "*{box-sizing:border-box}"
    "html{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Liberation Sans\",Arial,sans-serif}"
    "main{max-width:1080px;margin:0 auto;padding:28px 28px 40px}"
    ".cover{background:linear-gradient(135deg,#0b2f66 0%,#1f5f99 60%,#2b7bbf 100%);color:#fff;border-radius:14px;"
    "padding:34px 36px 28px;margin-bottom:28px}"
    ".brand{font-size:12px;letter-spacing:.14em;text-transform:uppercase;opacity:.8}"
    ".cover h1{font-size:34px;line-height:1.15;margin:6px 0 6px}"
    ".subtitle{margin:0 0 22px;opacity:.92}"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px}"
    ".card{background:rgba(255,255,255,.12);border:1px solid rgba(255,255,255,.25);border-radius:10px;padding:14px 16px}"
    ".card-value{font-size:28px;font-weight:700;line-height:1.1;font-variant-numeric:tabular-nums}"
    ".card-value.long{font-size:21px;padding-top:5px}"
    ".card-label{font-size:13px;margin-top:4px}"
    ".card-note{font-size:11.5px;opacity:.78;margin-top:2px}"
    ".toc{margin-top:20px;font-size:13.5px}"
    ".toc ol{margin:0;padding-left:20px;columns:2;column-gap:36px}"
    ".toc a{color:#fff}"
    "section{background:var(--paper);border:1px solid var(--line);border-radius:14px;padding:26px 30px 22px;"
    "margin:0 0 24px}"
    ".sec-head{display:flex;gap:14px;align-items:flex-start;margin-bottom:6px}"
    ".sec-no{flex:none;width:34px;height:34px;border-radius:50%;background:var(--accent);color:#fff;font-weight:700;"
    "display:flex;align-items:center;justify-content:center;margin-top:2px}"
    "h2{font-size:22px;margin:0;line-height:1.25}"
    ".question{margin:2px 0 0;color:var(--muted)}"
    ".reading{font-size:16px;margin:14px 0;padding:12px 16px;background:#f3f7fc;border-left:4px solid var(--accent);"
    "border-radius:0 8px 8px 0}"
    "figure{margin:16px 0;break-inside:avoid;page-break-inside:avoid}"
    "figure svg.chart{display:block;max-width:100%;height:auto;margin:0 auto 10px}"
    ".grid3{display:flex;flex-wrap:wrap;gap:18px;justify-content:space-between}"
    ".grid3 svg.chart{margin:0;flex:1 1 300px;max-width:330px}"
    ".two{display:flex;flex-wrap:wrap;gap:12px}"
    ".two svg.chart{flex:1 1 420px;max-width:49%;margin:0}"
    ".two figcaption{flex-basis:100%}"
    "figcaption{font-size:13px;color:var(--muted);margin-top:6px}"
    "table.data{border-collapse:collapse;width:auto;min-width:62%;font-size:13.5px;margin:12px 0 4px}"
    "table.data caption{text-align:left;font-weight:600;padding:4px 0 6px}"
    "table.data th{text-align:left;font-weight:600;color:var(--muted);border-bottom:2px solid var(--line);padding:6px 8px}"
    "table.data td{border-bottom:1px solid var(--line);padding:5px 8px}"
    "table.data td:first-child{white-space:nowrap}"
    "table.data .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}"
    "table.data tr.mark td{background:#fdecea;font-weight:700}"
    "table.data tbody tr:nth-child(even) td{background:#fafbfc}"
    "table.data tbody tr.mark:nth-child(even) td{background:#fdecea}"
    "#table-profit{font-size:12.5px}"
    "footer{color:var(--muted);font-size:12px;text-align:center;padding:10px 0 0}"
    "@page{size:A4;margin:12mm}"
    "@media print{body{background:#fff;font-size:12.5px}main{max-width:none;padding:0}"
    ".cover{border-radius:0}section{border:none;border-radius:0;padding:0;margin:0;break-before:page;"
    "page-break-before:always}.reading{font-size:13.5px}thead{display:table-header-group}"
    "tr{break-inside:avoid}.toc a{text-decoration:none}"
    ".cover{background:#fff;color:var(--ink);border:2px solid var(--accent);padding:18px 22px}"
    ".card{background:#f4f6f9;border:1px solid #c9d1d9}.toc a{color:var(--ink)}.brand{color:var(--accent)}"
    ".grid3{flex-wrap:nowrap;gap:10px}.grid3 svg.chart{flex:1 1 0;min-width:0;max-width:33%}}";

ly_err ly_report_html(const json_t *doc, const ly_report_html_opts *opts, char **out,
                      size_t *out_len, ly_error *err)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!json_is_object(doc))
        return ly_error_set(err, LY_EINVAL, "invalid_analysis", "", "the analysis must be a JSON object");
    ly_report_html_opts o = {0};
    if (opts) o = *opts;
    ly_svg_buf b = {0};
    rctx c = {.b = &b, .top_n = o.top_n ? o.top_n : 15};
    const json_t *profit = section(doc, "profit");
    c.currency = o.currency ? o.currency : profit ? str(profit, "currency") : NULL;
    int64_t mu = 2;
    if (o.minor_units_set) mu = o.minor_units;
    else if (profit) intOf(profit, "minor_units", &mu);
    c.mu = mu < 0 ? 0 : mu > 9 ? 9 : (int)mu;
    const char *title = o.title ? o.title : "Customer analysis";

    ly_svg_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
                        "<meta name=\"generator\" content=\"Loyal\"/><title>");
    ly_svg_escape(&b, title);
    ly_svg_buf_puts(&b, "</title><style>");
    ly_svg_buf_puts(&b, CSS);
    ly_svg_buf_puts(&b, "</style></head><body><main>");
    cover(&c, doc, title);
    const json_t *s;
    for (size_t i = 0; i < sizeof SECTIONS / sizeof SECTIONS[0]; i++) {
        if (!(s = section(doc, SECTIONS[i].key))) continue;
        sectionOpen(&c, SECTIONS[i].key, SECTIONS[i].title, SECTIONS[i].question);
        SECTIONS[i].body(&c, s);
        sectionClose(&c);
    }
    if ((s = section(doc, "maturity"))) ly_report_maturity_section(&b, s, ++c.section_no);
    if (c.section_no == 0)
        ly_svg_buf_puts(&b, "<section id=\"sec-empty\" data-section=\"empty\"><p class=\"reading\">The analysis "
                            "holds no sections to show.</p></section>");
    ly_svg_buf_puts(&b, "<footer>Made by Loyal from the analysis document.");
    if (c.currency && *c.currency) {
        ly_svg_buf_puts(&b, " Money in ");
        ly_svg_escape(&b, c.currency);
        ly_svg_buf_puts(&b, ".");
    }
    if (o.generated) {
        ly_svg_buf_puts(&b, " Generated ");
        ly_svg_escape(&b, o.generated);
        ly_svg_buf_puts(&b, ".");
    }
    ly_svg_buf_puts(&b, "</footer></main></body></html>\n");
    ly_arena_free(&c.arena);
    size_t len = 0;
    char *text = ly_svg_buf_take(&b, &len);
    if (!text) return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory rendering the report");
    *out = text;
    if (out_len) *out_len = len;
    return LY_OK;
}

ly_err ly_report_html_write(const json_t *doc, const ly_report_html_opts *opts,
                            const char *path, ly_error *err)
{
    char *html = NULL;
    size_t len = 0;
    ly_err rc = ly_report_html(doc, opts, &html, &len, err);
    if (rc != LY_OK) return rc;
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(html, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = false;
    free(html);
    if (!ok) return ly_error_set(err, LY_EIO, "write_failed", "path", "cannot write %s", path);
    return LY_OK;
}
