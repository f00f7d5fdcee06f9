/*
 * html.h - the self-contained HTML report of `loyal analyze --html`: one file with inline
 * CSS and inline SVG charts, no script and no network, laid out for the screen and for print
 * (a page per section, charts readable in black and white).
 *
 * The report is rendered from the analysis JSON document (its contract, section by section,
 * is in docs/report.md). Every section is optional: the renderer draws the sections it finds
 * and skips absent ones, so it works on whatever subset the analysis produced. Inside a
 * section, a missing or mistyped field leaves its figure, chart or table out (a chart with no
 * usable data shows a "No data" note); it never fails the report. A "maturity" section (the
 * rating of `loyal maturity --json`) is drawn last by maturity_html.h and linked from the
 * contents.
 */
#ifndef LY_REPORT_HTML_H
#define LY_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/core.h"

/* Options of a report. A zeroed struct (or NULL) gives the defaults. */
typedef struct ly_report_html_opts {
    const char *title;     /* document title; default "Customer analysis" */
    const char *generated; /* shown as "Generated <text>" in the footer, or NULL for none
                              (keeps the output byte-for-byte reproducible) */
    const char *currency;  /* currency code shown after money; default profit.currency or none */
    int minor_units;       /* digits after the decimal point of money, 0..9; used when
                              minor_units_set, else profit.minor_units, else 2 */
    bool minor_units_set;
    size_t top_n;          /* rows of association rules and combos shown; 0 gives 15 */
} ly_report_html_opts;

/* Renders the report of the analysis document doc (a JSON object, borrowed) into *out: a
 * malloc'd, NUL-terminated UTF-8 HTML document the caller frees; *out_len (may be NULL) gets
 * its length. The same document and options always give the same bytes.
 * Errors: LY_EINVAL ("invalid_analysis") when doc is not a JSON object; LY_ENOMEM. On error
 * *out is NULL. */
ly_err ly_report_html(const json_t *doc, const ly_report_html_opts *opts, char **out,
                      size_t *out_len, ly_error *err);

/* Renders as ly_report_html and writes the document to path (replacing it).
 * Errors: those of ly_report_html; LY_EIO ("write_failed", field "path") when the file
 * cannot be written. */
ly_err ly_report_html_write(const json_t *doc, const ly_report_html_opts *opts,
                            const char *path, ly_error *err);

/* Formats an amount of money given in minor units with integer arithmetic only: minor_units
 * digits after the decimal point (0..9; out-of-range values are clamped), "," between
 * thousands, a leading '-' for negative amounts and, when currency is not NULL or empty, a
 * space and the currency: 123456789 with 2 and "RUB" gives "1,234,567.89 RUB". When whole is
 * true the amount is rounded half away from zero to whole major units and printed without a
 * decimal part ("1,234,568 RUB"). Writes into buf (size bytes, truncated if too small;
 * 48 bytes always suffice without the currency) and returns the length written. */
size_t ly_report_format_money(int64_t minor, int minor_units, const char *currency, bool whole,
                              char *buf, size_t size);

#endif /* LY_REPORT_HTML_H */
