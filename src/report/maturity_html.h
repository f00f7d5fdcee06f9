/*
 * maturity_html.h - the program's maturity level drawn for people (docs/maturity.md, "HTML";
 * docs/report.md, "maturity"): one section, used both as the page of `loyal maturity --html`
 * and as the maturity section of the `loyal analyze --html` report, drawn from the rating's
 * JSON document (the one `loyal maturity --json` writes) with the SVG primitives of svg.h.
 */
#ifndef LY_REPORT_MATURITY_HTML_H
#define LY_REPORT_MATURITY_HTML_H

#include "core/core.h"
#include "report/svg.h"

#include <jansson.h>
#include <stddef.h>

/* Writes <section id="maturity">...</section> of the rating m (borrowed) into b: the overall
 * level with its note, the bar chart <svg id="maturity-levels"> of the five blocks (0..4) and
 * the table id="maturity-blocks" (block, level, evidence, what would lift it). number > 0
 * opens the section with the analytics report's numbered header (h2); 0 with a plain h1 (a
 * page of its own). When m holds "unavailable" (a string), the section says only that (why
 * there is no rating). A missing or mistyped field leaves its part out; it never fails.
 * Same input, same bytes. */
void ly_report_maturity_section(ly_svg_buf *b, const json_t *m, int number);

/* The self-contained page of `loyal maturity --html` (inline CSS and SVG, no script, nothing
 * fetched) around ly_report_maturity_section: *out is malloc'd and NUL-terminated, *out_len
 * (may be NULL) its length. Errors: LY_ENOMEM ("out_of_memory"); *out is NULL then. */
ly_err ly_report_maturity_page(const json_t *m, char **out, size_t *out_len, ly_error *err);

#endif /* LY_REPORT_MATURITY_HTML_H */
