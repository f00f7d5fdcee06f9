/*
 * svg.h - chart primitives for Loyal's HTML report: a growable text buffer, XML escaping,
 * "nice" axis ticks, and charts written as inline SVG text (heatmap, cohort triangle, line
 * chart with boundary markers, bar chart / histogram, share bar) plus an HTML table helper.
 *
 * Every chart is one <svg> element carrying id="<spec id>", data-chart="<spec chart>" and
 * data-points="<number of data points drawn>", so tests and scripts can find it. A chart with
 * no data still writes its <svg> (with data-empty="1" and data-points="0") holding a visible
 * "No data" note, so a report never breaks on an empty analysis.
 *
 * Charts are made to survive black-and-white printing: every heatmap cell and bar carries
 * its value as text, heatmap colours run light to dark on one hue (so grey levels keep the
 * order), line series differ by dash pattern and point shape as well as colour, and the parts
 * of a share bar differ by fill pattern.
 *
 * All text given to these functions (titles, labels, table cells) is UTF-8 and is XML-escaped
 * here (& < > " ' and control characters); callers pass raw text. Floating point is used for
 * positions and for analytic estimates only; money reaches these functions as text already
 * formatted by the caller with integer arithmetic.
 */
#ifndef LY_REPORT_SVG_H
#define LY_REPORT_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Growable text buffer
 * ------------------------------------------------------------------------------------- */

/* A growable, always NUL-terminated text buffer. Starts zeroed (`ly_svg_buf b = {0};`).
 * When an allocation fails the buffer sets oom, keeps what it had and ignores further
 * appends, so callers write a whole document and check oom once at the end. */
typedef struct ly_svg_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    bool oom;
} ly_svg_buf;

/* Appends n bytes of s as they are (no escaping). */
void ly_svg_buf_append(ly_svg_buf *b, const char *s, size_t n);
/* Appends the NUL-terminated s as it is (NULL appends nothing). */
void ly_svg_buf_puts(ly_svg_buf *b, const char *s);
/* Appends printf-formatted text (no escaping: format only numbers and trusted text). */
void ly_svg_buf_printf(ly_svg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s XML-escaped for text content and for attribute values in either quote:
 * & < > " ' become entities; bytes below 0x20 other than tab, LF and CR (not allowed in XML)
 * are dropped. NULL appends nothing. */
void ly_svg_escape(ly_svg_buf *b, const char *s);
/* Hands the text to the caller (malloc'd, NUL-terminated; free() it) and resets the buffer.
 * *len (may be NULL) gets its length. Returns NULL if the buffer ran out of memory (the
 * buffer is freed then too). An empty buffer gives an empty string. */
char *ly_svg_buf_take(ly_svg_buf *b, size_t *len);
/* Frees the text and resets the buffer to zero. */
void ly_svg_buf_free(ly_svg_buf *b);

/* ---------------------------------------------------------------------------------------
 * Numbers
 * ------------------------------------------------------------------------------------- */

/* How a value is shown on an axis, in a cell or on a bar. */
typedef enum ly_svg_fmt {
    LY_SVG_FMT_NUMBER = 0, /* decimal, as many decimals as the tick step needs: 0.25, 12 */
    LY_SVG_FMT_INT,        /* rounded to an integer with thousands separators: 12,345 */
    LY_SVG_FMT_PERCENT     /* a fraction 0..1 shown as a percentage: 0.345 -> 34.5% */
} ly_svg_fmt;

/* "Nice" axis ticks (1, 2, 5 x 10^k steps) covering [lo, hi] with at most about max_ticks
 * ticks (max_ticks >= 2; smaller values are treated as 2). Writes up to cap ticks in
 * ascending order to ticks[], the first <= lo and the last >= hi, and the step to *step (may
 * be NULL). Returns the number of ticks written. lo > hi are swapped; lo == hi gets a range
 * around the value ([0, 1] for 0). Ticks are exact multiples of the step, with -0 and
 * rounding noise removed (0.1 * 3 is written as 0.3). Non-finite input gives 0 ticks. */
size_t ly_svg_nice_ticks(double lo, double hi, size_t max_ticks, double *ticks, size_t cap,
                         double *step);

/* Formats v for display: fmt as above; step (> 0, or 0 for "pick from the value") decides the
 * number of decimals of LY_SVG_FMT_NUMBER and LY_SVG_FMT_PERCENT. NaN gives "n/a". Writes
 * into buf (size bytes, NUL-terminated, truncated if too small). */
void ly_svg_format(double v, ly_svg_fmt fmt, double step, char *buf, size_t size);

/* Formats an integer with "," as the thousands separator: -1234567 -> "-1,234,567". */
void ly_svg_format_int(int64_t v, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------
 * Charts. Every spec's strings are borrowed for the call only. id is required (an XML id:
 * letters, digits, '-', '_'); chart (the data-chart value) defaults to id; title may be NULL.
 * width / height of 0 pick defaults. Charts are drawn in a viewBox and scale to their box.
 * ------------------------------------------------------------------------------------- */

/* A grid of rows x cols cells coloured on a light-to-dark scale by value, each cell carrying
 * a label (default: the value formatted by fmt) and an optional smaller second line. A NaN
 * value leaves its cell empty (not drawn, not counted in data-points). The colour scale runs
 * from vmin to vmax; vmin >= vmax picks it from the data (from 0 when all values are >= 0). A
 * legend shows the scale when legend is true. Row 0 is drawn at the top. */
typedef struct ly_svg_heatmap {
    const char *id;
    const char *chart;
    const char *title;
    size_t rows, cols;
    const char *const *row_labels; /* rows entries, or NULL */
    const char *const *col_labels; /* cols entries, or NULL */
    const char *row_title;         /* axis titles, may be NULL */
    const char *col_title;
    const double *values;          /* rows * cols, row-major */
    const char *const *labels;     /* rows * cols (entries may be NULL), or NULL */
    const char *const *sublabels;  /* rows * cols (entries may be NULL), or NULL */
    double vmin, vmax;
    ly_svg_fmt fmt;
    double cell_w, cell_h; /* 0: 74 x 52 */
    bool legend;
    size_t highlight;      /* 1 + row-major index of a cell drawn with a thick outline
                              (class "cell highlight"), or 0 for none */
} ly_svg_heatmap;
void ly_svg_heatmap_render(ly_svg_buf *b, const ly_svg_heatmap *h);

/* Cohort retention as a triangle: one row per cohort (label and size shown at the left),
 * one column per period since the cohort's start (period 0 is the first), each cell the
 * fraction 0..1 of the cohort still buying, drawn as a percentage on a 0..max colour scale.
 * Later cohorts have fewer periods, which gives the triangle. */
typedef struct ly_svg_cohort_row {
    const char *label;       /* "2025-03" */
    int64_t size;            /* customers in the cohort */
    const double *retention; /* n fractions 0..1; NaN leaves a cell empty */
    size_t n;
} ly_svg_cohort_row;
typedef struct ly_svg_cohort {
    const char *id;
    const char *chart;
    const char *title;
    const ly_svg_cohort_row *rows;
    size_t n_rows;
    const char *period_title; /* column axis title, default "Months since first purchase" */
    bool skip_first;          /* true: do not draw period 0 (always 100%), colour the rest */
} ly_svg_cohort;
void ly_svg_cohort_render(ly_svg_buf *b, const ly_svg_cohort *c);

/* One line of a line chart: n points (x[i], y[i]); a NaN y breaks the line. */
typedef struct ly_svg_series {
    const char *name; /* legend text, may be NULL (no legend entry) */
    const double *x;
    const double *y;
    size_t n;
} ly_svg_series;
/* A labelled reference line: vertical at x = at, or horizontal at y = at. */
typedef struct ly_svg_marker {
    double at;
    const char *label;
} ly_svg_marker;
/* Several series on shared axes with nice ticks; vertical markers (boundaries in days or
 * deal counts) and horizontal markers (the probability levels that define them). Series i
 * is drawn in colour, dash pattern and point shape i (cycling over 4). The y axis covers the
 * data and the markers, from 0 when y_from_zero; y_max > y_min fixes it instead. */
typedef struct ly_svg_line_chart {
    const char *id;
    const char *chart;
    const char *title;
    const char *x_title;
    const char *y_title;
    const ly_svg_series *series;
    size_t n_series;
    const ly_svg_marker *vmarkers;
    size_t n_vmarkers;
    const ly_svg_marker *hmarkers;
    size_t n_hmarkers;
    ly_svg_fmt x_fmt, y_fmt;
    bool y_from_zero;
    double y_min, y_max;
    bool points;           /* draw point shapes (only where a series has <= 60 points) */
    double width, height;  /* 0: 940 x 360 */
} ly_svg_line_chart;
void ly_svg_line_chart_render(ly_svg_buf *b, const ly_svg_line_chart *c);

/* Bars, one per category, each with its value written on it: vertical (a histogram or a
 * per-period series) or horizontal (ranked lists with long labels such as product combos).
 * value_labels (entries may be NULL) replace the formatted value on the bar. Values below 0
 * are drawn as 0. Category labels longer than 18 code points (vertical) or 60 (horizontal)
 * are clipped with an ellipsis; vertical charts show every k-th label when they would
 * collide. */
typedef struct ly_svg_bar_chart {
    const char *id;
    const char *chart;
    const char *title;
    const char *x_title;
    const char *y_title;
    size_t n;
    const char *const *labels;       /* category labels, n entries (may be NULL) */
    const double *values;
    const char *const *value_labels; /* n entries, or NULL */
    ly_svg_fmt fmt;
    bool horizontal;
    double width, height; /* 0: 940 x 320 (horizontal: height from n) */
} ly_svg_bar_chart;
void ly_svg_bar_chart_render(ly_svg_buf *b, const ly_svg_bar_chart *c);

/* One horizontal bar split into parts in proportion to their values (>= 0), each part with
 * its own fill pattern (solid, hatch, dots, light) and a legend with the given detail text
 * (e.g. a count) and its share. For "of all purchases, which were deals and which add-ons". */
typedef struct ly_svg_share_part {
    const char *label;
    double value;
    const char *detail; /* may be NULL */
} ly_svg_share_part;
typedef struct ly_svg_share_bar {
    const char *id;
    const char *chart;
    const char *title;
    const ly_svg_share_part *parts;
    size_t n_parts; /* at most 4 patterns; more cycle */
    double width;   /* 0: 940 */
} ly_svg_share_bar;
void ly_svg_share_bar_render(ly_svg_buf *b, const ly_svg_share_bar *c);

/* ---------------------------------------------------------------------------------------
 * HTML table
 * ------------------------------------------------------------------------------------- */

/* A table of n_cols columns: head (n_cols entries) and, per column, 'l' or 'r' alignment in
 * align (NULL or a short string: missing columns align left; 'r' columns use tabular
 * figures). id and caption may be NULL. Cells are escaped; a NULL cell is written empty. */
typedef struct ly_svg_table {
    const char *id;
    const char *caption;
    size_t n_cols;
    const char *const *head;
    const char *align;
} ly_svg_table;
/* Writes <table ...><caption>..<thead>..<tbody>. */
void ly_svg_table_begin(ly_svg_buf *b, const ly_svg_table *t);
/* Writes one <tr> of t->n_cols cells; row_class (may be NULL) becomes the row's class. */
void ly_svg_table_row(ly_svg_buf *b, const ly_svg_table *t, const char *const *cells,
                      const char *row_class);
/* Writes </tbody></table>. */
void ly_svg_table_end(ly_svg_buf *b);

#endif /* LY_REPORT_SVG_H */
