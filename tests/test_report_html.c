/*
 * test_report_html.c - the HTML report and its SVG chart primitives: XML escaping, nice
 * ticks, number and money formatting, every chart well-formed (checked by a small tag-balance
 * parser written here) and drawing a "No data" note on empty input; the full report rendered
 * from tests/data/report_fixture.json with every required chart present, absent and mistyped
 * sections skipped; and the report opened in headless Chromium (DOM and screenshot).
 *
 * When Chromium is not installed the browser check is skipped; if every other check passed
 * the executable then exits 77 (ctest: skipped), as the browser check is part of this test.
 * Set LOYAL_REPORT_KEEP=DIR to keep the rendered report.html and report.png there.
 */
#include "testlib.h"

#include "report/html.h"
#include "report/svg.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * A tiny XML well-formedness check: tags balance, attributes are quoted, entities are known,
 * no raw '<' or '&' in text or attribute values. <!DOCTYPE>, comments and <?..?> are skipped;
 * the content of <style> is raw text up to </style>.
 * ------------------------------------------------------------------------------------- */

static bool isNameChar(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_' || ch == ':' || ch == '.';
}

/* Checks the entity starting at s (at '&'); returns its length or 0 if it is not valid. */
static size_t entityLen(const char *s)
{
    static const char *const named[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    for (size_t i = 0; i < 5; i++)
        if (strncmp(s, named[i], strlen(named[i])) == 0) return strlen(named[i]);
    if (s[1] != '#') return 0;
    size_t i = 2;
    bool hex = s[2] == 'x';
    if (hex) i++;
    size_t start = i;
    while ((hex && strchr("0123456789abcdefABCDEF", s[i]) && s[i]) || (!hex && s[i] >= '0' && s[i] <= '9')) i++;
    if (i == start || s[i] != ';') return 0;
    return i + 1;
}

/* 0 when s is well-formed; otherwise 1 with a reason (and the offset) in why. */
static int xmlCheck(const char *s, char *why, size_t whysize)
{
    const char *stack[256];
    size_t stack_len[256];
    size_t depth = 0;
    const char *p = s;
    bool root_seen = false;
#define FAIL(...)                                                                 \
    do {                                                                          \
        char m_[160];                                                             \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                     \
        snprintf(why, whysize, "%s at offset %ld", m_, (long)(p - s));            \
        return 1;                                                                 \
    } while (0)
    while (*p) {
        if (*p == '&') {
            if (!entityLen(p)) FAIL("bad entity");
            p += entityLen(p);
            continue;
        }
        if (*p == '>') { p++; continue; } /* allowed in XML text */
        if (*p != '<') {
            if (depth == 0 && root_seen && !strchr(" \t\r\n", *p)) FAIL("text after the root");
            p++;
            continue;
        }
        if (strncmp(p, "<!--", 4) == 0) {
            const char *e = strstr(p, "-->");
            if (!e) FAIL("open comment");
            p = e + 3;
            continue;
        }
        if (strncmp(p, "<!DOCTYPE", 9) == 0 || strncmp(p, "<?", 2) == 0) {
            const char *e = strchr(p, '>');
            if (!e) FAIL("open declaration");
            p = e + 1;
            continue;
        }
        if (p[1] == '/') {
            const char *n = p + 2, *e = n;
            while (isNameChar(*e)) e++;
            if (e == n) FAIL("empty end tag");
            if (depth == 0) FAIL("end tag with nothing open");
            if ((size_t)(e - n) != stack_len[depth - 1] || strncmp(n, stack[depth - 1], stack_len[depth - 1]) != 0)
                FAIL("end tag </%.*s> closes <%.*s>", (int)(e - n), n, (int)stack_len[depth - 1], stack[depth - 1]);
            while (*e == ' ') e++;
            if (*e != '>') FAIL("junk in end tag");
            depth--;
            p = e + 1;
            continue;
        }
        const char *n = p + 1, *e = n;
        while (isNameChar(*e)) e++;
        if (e == n) FAIL("raw '<' in text");
        size_t nlen = (size_t)(e - n);
        /* Attributes. */
        for (;;) {
            while (*e == ' ' || *e == '\n' || *e == '\t') e++;
            if (*e == '>' || (*e == '/' && e[1] == '>')) break;
            const char *an = e;
            while (isNameChar(*e)) e++;
            if (e == an) FAIL("bad attribute in <%.*s>", (int)nlen, n);
            if (*e != '=') FAIL("attribute without value in <%.*s>", (int)nlen, n);
            e++;
            char q = *e;
            if (q != '"' && q != '\'') FAIL("unquoted attribute in <%.*s>", (int)nlen, n);
            e++;
            while (*e && *e != q) {
                if (*e == '<') FAIL("'<' in an attribute value");
                if (*e == '&') {
                    size_t el = entityLen(e);
                    if (!el) FAIL("bad entity in an attribute value");
                    e += el;
                    continue;
                }
                e++;
            }
            if (!*e) FAIL("open attribute value");
            e++;
        }
        if (depth == 0 && root_seen) FAIL("second root element");
        root_seen = true;
        if (*e == '/') { p = e + 2; continue; }
        if (depth == 256) FAIL("too deep");
        stack[depth] = n;
        stack_len[depth] = nlen;
        depth++;
        p = e + 1;
        if (nlen == 5 && strncmp(n, "style", 5) == 0) {
            const char *end = strstr(p, "</style>");
            if (!end) FAIL("open <style>");
            p = end;
        }
    }
    if (depth) {
        snprintf(why, whysize, "<%.*s> never closed", (int)stack_len[depth - 1], stack[depth - 1]);
        return 1;
    }
    if (!root_seen) {
        snprintf(why, whysize, "no element");
        return 1;
    }
#undef FAIL
    return 0;
}

static void assertWellFormed(const char *s)
{
    char why[256];
    if (xmlCheck(s, why, sizeof why) != 0) fail_msg("not well-formed: %s\n%.400s", why, s);
}

static size_t occurrences(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* The <svg ...>...</svg> whose id is id, malloc'd, or NULL. */
static char *chartOf(const char *html, const char *id)
{
    char key[128];
    snprintf(key, sizeof key, "id=\"%s\"", id);
    const char *at = strstr(html, key);
    if (!at) return NULL;
    const char *start = at;
    while (start > html && strncmp(start, "<svg", 4) != 0) start--;
    const char *end = strstr(at, "</svg>");
    if (!end || strncmp(start, "<svg", 4) != 0) return NULL;
    return strndup(start, (size_t)(end + 6 - start));
}

static char *take(ly_svg_buf *b)
{
    assert_false(b->oom);
    char *s = ly_svg_buf_take(b, NULL);
    assert_non_null(s);
    return s;
}

/* The self-check: the checker itself rejects what it must. */
static void xml_checker_rejects_broken_markup(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(xmlCheck("<a><b x=\"1\"/>t &amp; &#39; &#x27;</a>", why, sizeof why), 0);
    assert_int_equal(xmlCheck("<a><b></a></b>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a>x < y</a>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a>Ben & Jerry</a>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a t=\"a\"b\"/>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a t=x/>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a>", why, sizeof why), 1);
    assert_int_equal(xmlCheck("<a/><b/>", why, sizeof why), 1);
}

/* ---------------------------------------------------------------------------------------
 * (a) Primitives
 * ------------------------------------------------------------------------------------- */

static void escape_replaces_the_five_characters_and_drops_controls(void **state)
{
    (void)state;
    ly_svg_buf b = {0};
    ly_svg_escape(&b, "a<b&c\"d'e>f\x01g\th");
    ly_svg_escape(&b, NULL);
    char *s = take(&b);
    assert_string_equal(s, "a&lt;b&amp;c&quot;d&#39;e&gt;fg\th");
    free(s);
    /* An untouched buffer hands out an empty string; printf longer than the small buffer. */
    ly_svg_buf e = {0};
    s = ly_svg_buf_take(&e, NULL);
    assert_string_equal(s, "");
    free(s);
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ly_svg_buf_printf(&e, "[%s]%d", big, 7);
    size_t len = 0;
    s = ly_svg_buf_take(&e, &len);
    assert_int_equal(len, 1002);
    assert_int_equal(s[0], '[');
    assert_string_equal(s + 1000, "]7");
    free(s);
}

static void expectTicks(double lo, double hi, size_t max, const double *want, size_t n, double want_step)
{
    double t[64], step = -1;
    size_t got = ly_svg_nice_ticks(lo, hi, max, t, 64, &step);
    if (got != n) fail_msg("ticks(%g, %g, %zu): %zu ticks, want %zu", lo, hi, max, got, n);
    for (size_t i = 0; i < n; i++)
        if (t[i] != want[i]) fail_msg("ticks(%g, %g): tick %zu is %.17g, want %g", lo, hi, i, t[i], want[i]);
    if (fabs(step - want_step) > 1e-12) fail_msg("step %g, want %g", step, want_step);
}

static void nice_ticks_are_one_two_five_steps_covering_the_range(void **state)
{
    (void)state;
    expectTicks(0, 0.87, 6, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0}, 6, 0.2);
    expectTicks(0, 84, 6, (double[]){0, 20, 40, 60, 80, 100}, 6, 20);
    expectTicks(3, 97, 10, (double[]){0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 11, 10);
    expectTicks(1, 1000000, 5, (double[]){0, 200000, 400000, 600000, 800000, 1000000}, 6, 200000);
    expectTicks(0.3, 0.9, 8, (double[]){0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}, 7, 0.1); /* exact 0.3, not 0.30000000000000004 */
    expectTicks(-0.25, 0.25, 5, (double[]){-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3}, 7, 0.1);
    expectTicks(97, 3, 10, (double[]){0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, 11, 10); /* swapped */
    expectTicks(0, 0, 5, (double[]){0, 0.2, 0.4, 0.6, 0.8, 1.0}, 6, 0.2);
    double t[8];
    assert_int_equal(ly_svg_nice_ticks(5, 5, 5, t, 8, NULL) >= 2, 1);
    assert_true(t[0] <= 5);
    assert_int_equal(ly_svg_nice_ticks(NAN, 1, 5, t, 8, NULL), 0);
    assert_int_equal(ly_svg_nice_ticks(0, INFINITY, 5, t, 8, NULL), 0);
    /* No -0 anywhere. */
    size_t n = ly_svg_nice_ticks(-1, 1, 5, t, 8, NULL);
    for (size_t i = 0; i < n; i++)
        if (t[i] == 0) assert_false(signbit(t[i]));
}

static void numbers_are_formatted_for_people(void **state)
{
    (void)state;
    char buf[64];
    ly_svg_format_int(-1234567, buf, sizeof buf);
    assert_string_equal(buf, "-1,234,567");
    ly_svg_format_int(INT64_MIN, buf, sizeof buf);
    assert_string_equal(buf, "-9,223,372,036,854,775,808");
    ly_svg_format_int(999, buf, sizeof buf);
    assert_string_equal(buf, "999");
    ly_svg_format(0.345, LY_SVG_FMT_PERCENT, 0, buf, sizeof buf);
    assert_string_equal(buf, "34.5%");
    ly_svg_format(0.0061, LY_SVG_FMT_PERCENT, 0, buf, sizeof buf);
    assert_string_equal(buf, "0.61%");
    ly_svg_format(0.4, LY_SVG_FMT_PERCENT, 0.2, buf, sizeof buf);
    assert_string_equal(buf, "40%");
    ly_svg_format(0.3, LY_SVG_FMT_NUMBER, 0.1, buf, sizeof buf);
    assert_string_equal(buf, "0.3");
    ly_svg_format(200000, LY_SVG_FMT_NUMBER, 200000, buf, sizeof buf);
    assert_string_equal(buf, "200,000");
    ly_svg_format(12.6, LY_SVG_FMT_INT, 0, buf, sizeof buf);
    assert_string_equal(buf, "13");
    ly_svg_format(NAN, LY_SVG_FMT_INT, 0, buf, sizeof buf);
    assert_string_equal(buf, "n/a");
    ly_svg_format(-0.0001, LY_SVG_FMT_NUMBER, 0.1, buf, sizeof buf);
    assert_string_equal(buf, "0.0");
}

static void money_is_formatted_with_integers_only(void **state)
{
    (void)state;
    char buf[96];
    size_t n = ly_report_format_money(123456789, 2, "RUB", false, buf, sizeof buf);
    assert_string_equal(buf, "1,234,567.89 RUB");
    assert_int_equal(n, strlen(buf));
    ly_report_format_money(-5, 2, NULL, false, buf, sizeof buf);
    assert_string_equal(buf, "-0.05");
    ly_report_format_money(0, 0, "", false, buf, sizeof buf);
    assert_string_equal(buf, "0");
    ly_report_format_money(1234567, 3, "KWD", false, buf, sizeof buf);
    assert_string_equal(buf, "1,234.567 KWD");
    ly_report_format_money(1050, 2, NULL, true, buf, sizeof buf);
    assert_string_equal(buf, "11");
    ly_report_format_money(1049, 2, NULL, true, buf, sizeof buf);
    assert_string_equal(buf, "10");
    ly_report_format_money(-150, 2, "EUR", true, buf, sizeof buf);
    assert_string_equal(buf, "-2 EUR");
    ly_report_format_money(-40, 2, NULL, true, buf, sizeof buf);
    assert_string_equal(buf, "0"); /* rounds to zero: no "-0" */
    ly_report_format_money(INT64_MIN, 2, NULL, false, buf, sizeof buf);
    assert_string_equal(buf, "-92,233,720,368,547,758.08");
    ly_report_format_money(INT64_MAX, 0, NULL, false, buf, sizeof buf);
    assert_string_equal(buf, "9,223,372,036,854,775,807");
    ly_report_format_money(100, 12, NULL, false, buf, sizeof buf); /* clamped to 9 */
    assert_string_equal(buf, "0.000000100");
    char small[6];
    n = ly_report_format_money(123456789, 2, "RUB", false, small, sizeof small);
    assert_string_equal(small, "1,234");
    assert_int_equal(n, 5);
}

static void heatmap_is_well_formed_and_escapes_labels(void **state)
{
    (void)state;
    double v[6] = {0.1, 0.2, NAN, 0.4, 0.5, 0.6};
    const char *labels[6] = {"<b>", "Ben & Jerry's", "never drawn", NULL, "\"q\"", "x"};
    const char *rows[2] = {"R<3>", "R&2"}, *cols[3] = {"F1", "F'2", "F\"3"};
    ly_svg_heatmap h = {.id = "hm", .chart = "heat", .title = "A <title> & more", .rows = 2, .cols = 3,
                        .row_labels = rows, .col_labels = cols, .row_title = "R", .col_title = "F", .values = v,
                        .labels = labels, .fmt = LY_SVG_FMT_PERCENT, .legend = true};
    ly_svg_buf b = {0};
    ly_svg_heatmap_render(&b, &h);
    char *s = take(&b);
    assertWellFormed(s);
    assert_non_null(strstr(s, "id=\"hm\""));
    assert_non_null(strstr(s, "data-chart=\"heat\""));
    assert_non_null(strstr(s, "data-points=\"5\""));
    assert_int_equal(occurrences(s, "class=\"cell\""), 5); /* the NaN cell is not drawn */
    assert_non_null(strstr(s, "&lt;b&gt;"));
    assert_non_null(strstr(s, "Ben &amp; Jerry&#39;s"));
    assert_non_null(strstr(s, "&quot;q&quot;"));
    assert_null(strstr(s, "never drawn"));
    assert_non_null(strstr(s, "R&lt;3&gt;"));
    assert_non_null(strstr(s, ">40.0%<")); /* a NULL label shows the formatted value */
    assert_null(strstr(s, "<b>"));
    assert_null(strstr(s, "No data"));
    free(s);
}

static void line_chart_marks_boundaries_and_differs_series_by_dash(void **state)
{
    (void)state;
    double x[5] = {0, 30, 60, 90, 120}, y1[5] = {1, 0.8, 0.45, 0.15, 0.05}, y2[5] = {1, 0.9, NAN, 0.4, 0.3};
    ly_svg_series s[2] = {{"Shop & go", x, y1, 5}, {"<online>", x, y2, 5}};
    ly_svg_marker vm[2] = {{64, "Sleep: 64 days"}, {84, "Churn \"84\""}}, hm[1] = {{0.5, "sleep level 50%"}};
    ly_svg_line_chart c = {.id = "lc", .title = "Return", .x_title = "days", .y_title = "P", .series = s,
                           .n_series = 2, .vmarkers = vm, .n_vmarkers = 2, .hmarkers = hm, .n_hmarkers = 1,
                           .x_fmt = LY_SVG_FMT_INT, .y_fmt = LY_SVG_FMT_PERCENT, .y_from_zero = true, .points = true};
    ly_svg_buf b = {0};
    ly_svg_line_chart_render(&b, &c);
    char *out = take(&b);
    assertWellFormed(out);
    assert_non_null(strstr(out, "data-chart=\"lc\"")); /* chart defaults to id */
    assert_non_null(strstr(out, "data-points=\"9\""));
    assert_int_equal(occurrences(out, "class=\"vmarker\""), 2);
    assert_non_null(strstr(out, "data-at=\"64\""));
    assert_non_null(strstr(out, "data-at=\"84\""));
    assert_non_null(strstr(out, "Churn &quot;84&quot;"));
    assert_int_equal(occurrences(out, "class=\"hmarker\""), 1);
    assert_non_null(strstr(out, "Shop &amp; go"));
    assert_non_null(strstr(out, "&lt;online&gt;"));
    assert_non_null(strstr(out, "stroke-dasharray=\"7 4\"")); /* series 2 is dashed */
    /* Nice y ticks as percentages, x ticks over 0..120. */
    assert_non_null(strstr(out, ">100%<"));
    assert_non_null(strstr(out, ">20%<"));
    assert_non_null(strstr(out, ">120<"));
    /* The NaN point breaks the second line into two pieces. */
    const char *second = strstr(out, "data-series=\"1\"");
    assert_non_null(second);
    const char *d = strstr(second, " d=\"");
    assert_non_null(d);
    const char *dend = strchr(d + 4, '"');
    size_t moves = 0;
    for (const char *p = d + 4; p < dend; p++) moves += *p == 'M';
    assert_int_equal(moves, 2);
    free(out);
}

static void bars_share_bar_and_cohorts_are_well_formed(void **state)
{
    (void)state;
    double v[4] = {5, 12, 0, 7};
    const char *labels[4] = {"1", "2", "3 & more", "a very long combo label that must be clipped at sixty characters or so, forty-four"};
    ly_svg_buf b = {0};
    ly_svg_bar_chart vc = {.id = "bars", .title = "Depth", .x_title = "items", .y_title = "receipts", .n = 4,
                           .labels = labels, .values = v, .fmt = LY_SVG_FMT_INT};
    ly_svg_bar_chart_render(&b, &vc);
    ly_svg_bar_chart hc = vc;
    hc.id = "hbars";
    hc.horizontal = true;
    ly_svg_bar_chart_render(&b, &hc);
    char *s = take(&b);
    char *one = chartOf(s, "bars"), *two = chartOf(s, "hbars");
    assert_non_null(one);
    assert_non_null(two);
    assertWellFormed(one);
    assertWellFormed(two);
    assert_int_equal(occurrences(one, "class=\"bar\""), 4);
    assert_non_null(strstr(one, ">12<"));
    assert_non_null(strstr(one, "3 &amp; more"));
    assert_non_null(strstr(two, "\xe2\x80\xa6")); /* clipped with an ellipsis */
    assert_null(strstr(two, "forty-four"));
    free(one);
    free(two);
    free(s);

    ly_svg_share_part parts[3] = {{"Deals", 60, "60 purchases"}, {"Add-ons <now>", 30, NULL}, {"Later", 10, "10"}};
    ly_svg_share_bar sb = {.id = "share", .parts = parts, .n_parts = 3};
    ly_svg_share_bar_render(&b, &sb);
    s = take(&b);
    assertWellFormed(s);
    assert_int_equal(occurrences(s, "class=\"part\""), 3);
    assert_non_null(strstr(s, "url(#share-p1)")); /* hatch pattern for black-and-white print */
    assert_non_null(strstr(s, "url(#share-p2)"));
    assert_non_null(strstr(s, ">60.0%<"));
    assert_non_null(strstr(s, "Add-ons &lt;now&gt;"));
    free(s);

    double r1[4] = {1, 0.4, 0.3, 0.25}, r2[3] = {1, 0.45, 0.33}, r3[1] = {1};
    ly_svg_cohort_row rows[3] = {{"2026-01", 1200, r1, 4}, {"2026-02", 900, r2, 3}, {"2026-03", 1100, r3, 1}};
    ly_svg_cohort co = {.id = "coh", .rows = rows, .n_rows = 3, .skip_first = true};
    ly_svg_cohort_render(&b, &co);
    s = take(&b);
    assertWellFormed(s);
    assert_int_equal(occurrences(s, "class=\"cell\""), 5); /* 3 + 2 + 0: the triangle */
    assert_non_null(strstr(s, "n=1,200"));
    assert_non_null(strstr(s, ">40%<"));
    free(s);
    co.skip_first = false;
    ly_svg_cohort_render(&b, &co);
    s = take(&b);
    assert_int_equal(occurrences(s, "class=\"cell\""), 8);
    free(s);
}

static void empty_data_draws_a_no_data_note(void **state)
{
    (void)state;
    ly_svg_buf b = {0};
    double nan1[1] = {NAN};
    ly_svg_heatmap h = {.id = "e1", .rows = 1, .cols = 1, .values = nan1};
    ly_svg_heatmap_render(&b, &h);
    ly_svg_heatmap h0 = {.id = "e2", .title = "Nothing"};
    ly_svg_heatmap_render(&b, &h0);
    ly_svg_line_chart lc = {.id = "e3", .title = "No series"};
    ly_svg_line_chart_render(&b, &lc);
    ly_svg_series s = {"only NaN", nan1, nan1, 1};
    ly_svg_line_chart lc2 = {.id = "e4", .series = &s, .n_series = 1};
    ly_svg_line_chart_render(&b, &lc2);
    ly_svg_bar_chart bc = {.id = "e5"};
    ly_svg_bar_chart_render(&b, &bc);
    ly_svg_share_part zero = {"zero", 0, NULL};
    ly_svg_share_bar sb = {.id = "e6", .parts = &zero, .n_parts = 1};
    ly_svg_share_bar_render(&b, &sb);
    ly_svg_cohort co = {.id = "e7"};
    ly_svg_cohort_render(&b, &co);
    char *all = take(&b);
    for (int i = 1; i <= 7; i++) {
        char id[16];
        snprintf(id, sizeof id, "e%d", i);
        char *one = chartOf(all, id);
        if (!one) fail_msg("chart %s missing", id);
        assertWellFormed(one);
        assert_non_null(strstr(one, "No data"));
        assert_non_null(strstr(one, "data-empty=\"1\""));
        assert_non_null(strstr(one, "data-points=\"0\""));
        free(one);
    }
    free(all);
}

static void table_escapes_cells_and_aligns_numbers(void **state)
{
    (void)state;
    ly_svg_buf b = {0};
    ly_svg_table t = {.id = "t<1>", .caption = "Rules & combos", .n_cols = 3,
                      .head = (const char *[]){"If", "then", "lift"}, .align = "llr"};
    ly_svg_table_begin(&b, &t);
    ly_svg_table_row(&b, &t, (const char *[]){"a<b", "c&d", "1.5"}, NULL);
    ly_svg_table_row(&b, &t, (const char *[]){"'x'", NULL, "2"}, "mark");
    ly_svg_table_end(&b);
    char *s = take(&b);
    assertWellFormed(s);
    assert_non_null(strstr(s, "id=\"t&lt;1&gt;\""));
    assert_non_null(strstr(s, "<caption>Rules &amp; combos</caption>"));
    assert_non_null(strstr(s, "<td>a&lt;b</td><td>c&amp;d</td><td class=\"num\">1.5</td>"));
    assert_non_null(strstr(s, "<tr class=\"mark\"><td>&#39;x&#39;</td><td></td>"));
    assert_int_equal(occurrences(s, "<tr>"), 2); /* head row and the first body row */
    free(s);
}

/* ---------------------------------------------------------------------------------------
 * (b) The full report from the fixture
 * ------------------------------------------------------------------------------------- */

/* The "maturity" section as `loyal maturity --json` writes it (docs/maturity.md), with
 * characters that must be escaped in the evidence. */
static const char MATURITY[] =
    "{\"overall\": 3, \"lowest\": 2, \"note\": \"4 of 5 blocks at level 3 or above; below it: gamification at 2\","
    " \"blocks\": ["
    "{\"block\": \"rewards\", \"name\": \"Rewards\", \"level\": 4, \"evidence\": \"tiers: 3; club: declared\"},"
    "{\"block\": \"data\", \"name\": \"Data collection and analysis\", \"level\": 3,"
    " \"evidence\": \"receipts: 40, identified: 34 (85.00%)\", \"lift\": \"identify at least 95% of receipts\"},"
    "{\"block\": \"triggers\", \"name\": \"Trigger communications\", \"level\": 3,"
    " \"evidence\": \"uplift <first steps> & hold-outs\", \"lift\": \"prove an uplift\"},"
    "{\"block\": \"customisation\", \"name\": \"Customisation\", \"level\": 3, \"evidence\": \"rules: 1\","
    " \"lift\": \"send the look-alike personal offers\"},"
    "{\"block\": \"gamification\", \"name\": \"Gamification\", \"level\": 2, \"evidence\": \"quests: 0\","
    " \"lift\": \"declare a quest (quests)\"}],"
    " \"facts\": {\"receipts\": 40}}";

static json_t *loadFixture(void)
{
    char *path = tl_source_path("tests/data/report_fixture.json");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) fail_msg("%s: %s (line %d)", path, je.text, je.line);
    free(path);
    json_t *m = json_loads(MATURITY, 0, &je);
    if (!m) fail_msg("maturity: %s", je.text);
    json_object_set_new(doc, "maturity", m);
    return doc;
}

/* The maturity section: the overall level, the bar chart of the five blocks and the table,
 * evidence escaped, linked from the contents. */
static void assertMaturity(const char *html)
{
    const char *sec = strstr(html, "<section id=\"maturity\">");
    if (!sec) fail_msg("no maturity section");
    assert_non_null(strstr(html, "<a href=\"#maturity\">Program maturity</a>"));
    assert_non_null(strstr(sec, "Overall level: <strong>3</strong> of 4"));
    char *chart = chartOf(sec, "maturity-levels");
    if (!chart) fail_msg("no maturity chart");
    assert_int_equal(occurrences(chart, "class=\"bar\""), 5);
    free(chart);
    const char *table = strstr(sec, "id=\"maturity-blocks\"");
    assert_non_null(table);
    assert_int_equal(occurrences(table, "<tr>"), 6); /* head and five blocks */
    assert_non_null(strstr(table, "uplift &lt;first steps&gt; &amp; hold-outs"));
    assert_non_null(strstr(table, "(highest level)"));
}

static char *render(const json_t *doc)
{
    char *html = NULL;
    size_t len = 0;
    ly_error err;
    ly_err rc = ly_report_html(doc, NULL, &html, &len, &err);
    if (rc != LY_OK) fail_msg("render: %s", err.message);
    assert_int_equal(len, strlen(html));
    return html;
}

/* The document after <!DOCTYPE html>: one <html> element. */
static void assertDocument(const char *html)
{
    assert_int_equal(strncmp(html, "<!DOCTYPE html>\n", 16), 0);
    assertWellFormed(html + 16);
    /* Self-contained: no script, nothing fetched (the only URL is the SVG namespace name). */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "https://"));
    assert_null(strstr(html, "src="));
    for (const char *p = strstr(html, "http://"); p; p = strstr(p + 1, "http://"))
        if (strncmp(p, "http://www.w3.org/2000/svg\"", 27) != 0) fail_msg("external reference: %.60s", p);
}

static const char *const REQUIRED_CHARTS[] = {
    "chart-rfm-m3", "chart-rfm-m2", "chart-rfm-m1", "chart-return-curve", "chart-loyalty-curve",
    "chart-cohorts", "chart-depth-hist", "chart-width-hist", "chart-top-combos", "chart-clv-hist",
    "chart-deals-share", "chart-deal-conversion", "chart-deal-receipt", "chart-rfm-segments",
    "chart-profit-revenue"};
static const char *const SECTIONS[] = {"rfm", "boundaries", "loyalty", "deals", "deal_to_deal", "cohorts",
                                       "structure", "copurchases", "clv", "profit"};

static void full_report_has_every_required_chart(void **state)
{
    (void)state;
    json_t *doc = loadFixture();
    char *html = render(doc);
    assertDocument(html);
    for (size_t i = 0; i < sizeof SECTIONS / sizeof *SECTIONS; i++) {
        char key[64];
        snprintf(key, sizeof key, "data-section=\"%s\"", SECTIONS[i]);
        if (!strstr(html, key)) fail_msg("section %s missing", SECTIONS[i]);
    }
    for (size_t i = 0; i < sizeof REQUIRED_CHARTS / sizeof *REQUIRED_CHARTS; i++) {
        char *svg = chartOf(html, REQUIRED_CHARTS[i]);
        if (!svg) fail_msg("chart %s missing", REQUIRED_CHARTS[i]);
        if (strstr(svg, "data-empty")) fail_msg("chart %s is empty", REQUIRED_CHARTS[i]);
        free(svg);
    }
    /* RFM: three 3x3 grids of 9 cells each, the core's share in the M3 grid. */
    char *m3 = chartOf(html, "chart-rfm-m3");
    assert_int_equal(occurrences(m3, "class=\"cell"), 9);
    assert_int_equal(occurrences(m3, "class=\"cell highlight\" data-row=\"0\" data-col=\"2\""), 1);
    assert_non_null(strstr(m3, ">33.5%<"));
    free(m3);
    assert_int_equal(occurrences(html, "data-chart=\"rfm-cells\""), 3);
    /* Both boundaries on the return curve, the loyalty boundary on the deal curve. */
    char *rc = chartOf(html, "chart-return-curve");
    assert_non_null(strstr(rc, "class=\"vmarker\" data-at=\"64\""));
    assert_non_null(strstr(rc, "class=\"vmarker\" data-at=\"84\""));
    assert_non_null(strstr(rc, "Sleep: 64 days"));
    assert_non_null(strstr(rc, "Churn: 84 days"));
    assert_non_null(strstr(rc, "data-points=\"46\""));
    free(rc);
    char *lc = chartOf(html, "chart-loyalty-curve");
    assert_non_null(strstr(lc, "class=\"vmarker\" data-at=\"6\""));
    assert_non_null(strstr(lc, "data-points=\"12\""));
    free(lc);
    char *co = chartOf(html, "chart-cohorts");
    assert_int_equal(occurrences(co, "class=\"cell\""), 66); /* 11 + 10 + ... + 1 + 0, month 0 not drawn */
    free(co);
    char *cb = chartOf(html, "chart-top-combos");
    assert_int_equal(occurrences(cb, "class=\"bar\""), 8);
    assert_non_null(strstr(cb, "Ben &amp; Jerry&#39;s &lt;Cookie Dough&gt; + waffle &quot;cones&quot;"));
    free(cb);
    assert_null(strstr(html, "<Cookie"));
    /* The tables: profit formula, rules, segments. Money with the currency's minor units. */
    assert_non_null(strstr(html, "id=\"table-profit\""));
    assert_non_null(strstr(html, "id=\"table-rules\""));
    assert_non_null(strstr(html, "53,197,100.08 RUB")); /* Champions' revenue, integer formatted */
    assert_non_null(strstr(html, "<td class=\"num\">1,243.30</td>")); /* P of 2026-Q1 */
    assert_non_null(strstr(html, "\xe2\x96\xb2 +12.2%"));
    /* Headline figures on the cover. */
    assert_non_null(strstr(html, "<div class=\"card-value\">12,479</div>"));
    assert_non_null(strstr(html, "<div class=\"card-value\">64 / 84</div>"));
    assert_non_null(strstr(html, "<div class=\"card-value\">6+</div>"));
    /* Print: a page per section, colours kept. */
    assert_non_null(strstr(html, "@media print"));
    assert_non_null(strstr(html, "break-before:page"));
    assert_non_null(strstr(html, "print-color-adjust:exact"));
    assertMaturity(html);
    /* Reproducible: the same bytes again. */
    char *again = render(doc);
    assert_string_equal(html, again);
    free(again);
    free(html);
    json_decref(doc);
}

static void absent_sections_are_skipped(void **state)
{
    (void)state;
    json_t *doc = loadFixture();
    json_t *only = json_object();
    json_object_set(only, "loyalty", json_object_get(doc, "loyalty"));
    char *html = render(only);
    assertDocument(html);
    assert_non_null(strstr(html, "data-section=\"loyalty\""));
    char *lc = chartOf(html, "chart-loyalty-curve");
    assert_non_null(lc);
    free(lc);
    assert_null(strstr(html, "data-section=\"rfm\""));
    assert_null(strstr(html, "chart-return-curve"));
    assert_null(strstr(html, "href=\"#sec-rfm\""));
    assert_null(strstr(html, "id=\"maturity\""));
    assert_null(strstr(html, "href=\"#maturity\""));
    assert_non_null(strstr(html, "<span class=\"sec-no\">1</span>"));
    free(html);
    json_decref(only);

    json_t *empty = json_object();
    html = render(empty);
    assertDocument(html);
    assert_non_null(strstr(html, "holds no sections"));
    free(html);
    json_decref(empty);
    json_decref(doc);

    json_t *arr = json_array();
    char *out = (char *)"x";
    ly_error err;
    assert_int_equal(ly_report_html(arr, NULL, &out, NULL, &err), LY_EINVAL);
    assert_null(out);
    assert_string_equal(err.code, "invalid_analysis");
    json_decref(arr);
}

static void mistyped_fields_never_break_the_report(void **state)
{
    (void)state;
    const char *text =
        "{\"input\": {\"source\": \"<x> & 'y'\", \"receipts\": \"many\", \"customers\": 1.5},"
        " \"rfm\": {\"cells\": [{\"r\": 4, \"f\": 1, \"m\": 1}, {\"r\": \"3\"}, 7], \"segments\": {}},"
        " \"boundaries\": {\"curve\": 5, \"sleep_days\": null, \"churn_days\": \"84\"},"
        " \"loyalty\": {\"steps\": [{\"n\": \"a\", \"p_next\": null}], \"boundary\": null},"
        " \"deals\": {\"purchases\": 0, \"deals\": 0},"
        " \"deal_to_deal\": {\"by_n\": [{}]},"
        " \"cohorts\": {\"months\": [{\"cohort\": 3, \"retention\": [\"x\", null]}]},"
        " \"structure\": {\"depth_hist\": [{\"items\": 1}], \"width_hist\": null, \"by_period\": [1]},"
        " \"copurchases\": {\"rules\": [{\"lhs\": \"a\", \"rhs\": [1]}], \"combos\": [{\"items\": null}]},"
        " \"clv\": {\"params\": [], \"hist\": [{\"from\": \"a\"}], \"total\": \"big\"},"
        " \"profit\": {\"currency\": 5, \"minor_units\": 99, \"periods\": [{\"period\": null, \"change\": 3}]},"
        " \"maturity\": {\"overall\": \"4\", \"note\": 3, \"blocks\": [{\"level\": \"x\"}, 3, {\"level\": 2}]},"
        " \"unknown_section\": {\"x\": 1}}";
    json_error_t je;
    json_t *doc = json_loads(text, 0, &je);
    assert_non_null(doc);
    char *html = render(doc);
    assertDocument(html);
    assert_non_null(strstr(html, "&lt;x&gt; &amp; &#39;y&#39;"));
    assert_non_null(strstr(html, "No data"));
    for (size_t i = 0; i < sizeof SECTIONS / sizeof *SECTIONS; i++) {
        char key[64];
        snprintf(key, sizeof key, "data-section=\"%s\"", SECTIONS[i]);
        if (!strstr(html, key)) fail_msg("section %s missing", SECTIONS[i]);
    }
    const char *m = strstr(html, "<section id=\"maturity\">");
    assert_non_null(m);
    assert_non_null(strstr(m, "Overall level: unknown"));
    assert_non_null(strstr(m, "id=\"maturity-blocks\""));
    free(html);
    json_decref(doc);
    /* A section that says why there is no rating. */
    doc = json_loads("{\"maturity\": {\"unavailable\": \"needs <the> database\"}}", 0, &je);
    assert_non_null(doc);
    html = render(doc);
    assertDocument(html);
    assert_non_null(strstr(html, "<section id=\"maturity\">"));
    assert_non_null(strstr(html, "needs &lt;the&gt; database"));
    assert_null(strstr(html, "maturity-blocks"));
    free(html);
    json_decref(doc);
}

/* Replaces the member (or first element) at every place of node, in turn, with each value of
 * the wrong type, renders the whole document and checks it; recurses into objects and into
 * the first element of arrays. Returns the number of documents rendered. */
static size_t mutateEverywhere(json_t *root, json_t *node)
{
    size_t renders = 0;
    json_t *repl[6] = {json_null(), json_string("<&'\"x"), json_array(), json_object(), json_integer(-1),
                       json_real(1e308)};
    if (json_is_object(node)) {
        const char *key;
        json_t *val;
        void *tmp;
        json_object_foreach_safe(node, tmp, key, val) {
            json_t *saved = json_incref(val);
            for (size_t i = 0; i < 6; i++) {
                json_object_set(node, key, repl[i]);
                char *html = render(root);
                assertDocument(html);
                free(html);
                renders++;
            }
            json_object_set(node, key, saved);
            renders += mutateEverywhere(root, saved);
            json_decref(saved);
        }
    } else if (json_is_array(node) && json_array_size(node) > 0) {
        json_t *saved = json_incref(json_array_get(node, 0));
        for (size_t i = 0; i < 6; i++) {
            json_array_set(node, 0, repl[i]);
            char *html = render(root);
            assertDocument(html);
            free(html);
            renders++;
        }
        json_array_set(node, 0, saved);
        renders += mutateEverywhere(root, saved);
        json_decref(saved);
    }
    for (size_t i = 0; i < 6; i++) json_decref(repl[i]);
    return renders;
}

static void every_field_of_the_wrong_type_still_renders(void **state)
{
    (void)state;
    json_t *doc = loadFixture();
    size_t renders = mutateEverywhere(doc, doc);
    assert_true(renders > 300); /* every section's fields were tried */
    json_decref(doc);
}

static void report_is_written_to_a_file(void **state)
{
    (void)state;
    json_t *doc = loadFixture();
    char *dir = tl_tempdir("report");
    char *path = tl_join(dir, "r.html");
    ly_error err;
    ly_report_html_opts o = {.title = "Q3 review", .generated = "2026-11-01", .currency = "EUR",
                             .minor_units = 0, .minor_units_set = true, .top_n = 3};
    assert_int_equal(ly_report_html_write(doc, &o, path, &err), LY_OK);
    char *html = tl_read_file(path, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "<title>Q3 review</title>"));
    assert_non_null(strstr(html, "Generated 2026-11-01."));
    assert_non_null(strstr(html, "5,319,710,008 EUR")); /* minor units 0: the same integer, no decimals */
    char *cb = chartOf(html, "chart-top-combos");
    assert_int_equal(occurrences(cb, "class=\"bar\""), 3);
    free(cb);
    free(html);
    char *bad = tl_join(dir, "no/such/dir/r.html");
    assert_int_equal(ly_report_html_write(doc, NULL, bad, &err), LY_EIO);
    assert_string_equal(err.code, "write_failed");
    free(bad);
    free(path);
    tl_rmtree(dir);
    free(dir);
    json_decref(doc);
}

/* ---------------------------------------------------------------------------------------
 * (c) Headless Chromium
 * ------------------------------------------------------------------------------------- */

static bool g_no_browser;

/* The browser: $LOYAL_CHROMIUM, else chromium or chromium-browser on PATH; NULL if none. */
static char *findChromium(void)
{
    const char *env = getenv("LOYAL_CHROMIUM");
    if (env && *env) return access(env, X_OK) == 0 ? strdup(env) : NULL;
    const char *path = getenv("PATH");
    if (!path) return NULL;
    static const char *const names[] = {"chromium", "chromium-browser"};
    for (size_t k = 0; k < 2; k++) {
        char *copy = strdup(path);
        for (char *save = NULL, *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char *cand = tl_strdupf("%s/%s", d, names[k]);
            if (access(cand, X_OK) == 0) { free(copy); return cand; }
            free(cand);
        }
        free(copy);
    }
    return NULL;
}

/* Runs argv with stdout to out_path (or /dev/null) and stderr to /dev/null, killing it after
 * timeout_s seconds. Returns the exit code, or -1 if it could not run or timed out. */
static int runWithTimeout(char *const argv[], const char *out_path, int timeout_s)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0); /* its own group, so a timeout kills the browser's helper processes too */
        int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nul = open("/dev/null", O_RDWR);
        if (out < 0 || nul < 0) _exit(127);
        dup2(nul, 0);
        dup2(out, 1);
        dup2(nul, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    for (int waited_ms = 0; waited_ms < timeout_s * 1000; waited_ms += 50) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0 && errno != EINTR) return -1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void copyKept(const char *src, const char *name)
{
    const char *keep = getenv("LOYAL_REPORT_KEEP");
    if (!keep || !*keep) return;
    size_t len = 0;
    char *data = tl_read_file(src, &len);
    if (!data) return;
    char *dst = tl_join(keep, name);
    if (tl_write_file(dst, data, len) == 0) print_message("kept %s\n", dst);
    free(dst);
    free(data);
}

static void chromium_renders_the_charts(void **state)
{
    (void)state;
    char *browser = findChromium();
    if (!browser) {
        g_no_browser = true;
        print_message("chromium not found (install Debian package chromium): browser check skipped\n");
        skip();
    }
    json_t *doc = loadFixture();
    char *dir = tl_tempdir("report-chromium");
    char *html_path = tl_join(dir, "report.html"), *png = tl_join(dir, "report.png");
    char *dom = tl_join(dir, "dom.html"), *profile = tl_join(dir, "profile");
    ly_error err;
    assert_int_equal(ly_report_html_write(doc, NULL, html_path, &err), LY_OK);
    char *url = tl_strdupf("file://%s", html_path);
    char *shot_arg = tl_strdupf("--screenshot=%s", png);
    char *profile_arg = tl_strdupf("--user-data-dir=%s", profile);
    char *shot_argv[] = {browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                         "--no-first-run", "--disable-dev-shm-usage", profile_arg, shot_arg,
                         "--window-size=1200,3000", url, NULL};
    int rc = runWithTimeout(shot_argv, NULL, 90);
    if (rc != 0) fail_msg("chromium --screenshot exited %d", rc);
    char *dom_argv[] = {browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        "--disable-dev-shm-usage", profile_arg, "--dump-dom", url, NULL};
    rc = runWithTimeout(dom_argv, dom, 90);
    if (rc != 0) fail_msg("chromium --dump-dom exited %d", rc);

    /* The screenshot: a PNG of the requested size with content (a blank page compresses to
     * a few kilobytes). */
    size_t png_len = 0;
    char *img = tl_read_file(png, &png_len);
    if (!img) fail_msg("no screenshot written");
    assert_true(png_len > 24);
    assert_memory_equal(img, "\x89PNG\r\n\x1a\n", 8);
    const unsigned char *ih = (const unsigned char *)img + 16;
    uint32_t w = (uint32_t)ih[0] << 24 | (uint32_t)ih[1] << 16 | (uint32_t)ih[2] << 8 | ih[3];
    uint32_t h = (uint32_t)ih[4] << 24 | (uint32_t)ih[5] << 16 | (uint32_t)ih[6] << 8 | ih[7];
    assert_int_equal(w, 1200);
    assert_int_equal(h, 3000);
    if (png_len < 60000) fail_msg("screenshot is only %zu bytes: the page looks blank", png_len);
    free(img);

    /* The DOM as the browser built it: every chart is an <svg> element with its drawn parts. */
    char *d = tl_read_file(dom, NULL);
    if (!d || !strstr(d, "<svg")) fail_msg("no svg in the rendered DOM");
    for (size_t i = 0; i < sizeof REQUIRED_CHARTS / sizeof *REQUIRED_CHARTS; i++) {
        char *svg = chartOf(d, REQUIRED_CHARTS[i]);
        if (!svg) fail_msg("chart %s not in the rendered DOM", REQUIRED_CHARTS[i]);
        if (strstr(svg, "data-empty")) fail_msg("chart %s rendered empty", REQUIRED_CHARTS[i]);
        free(svg);
    }
    char *rc2 = chartOf(d, "chart-return-curve");
    assert_int_equal(occurrences(rc2, "class=\"vmarker\""), 2);
    free(rc2);
    assert_int_equal(occurrences(d, "data-chart=\"rfm-cells\""), 3);
    assert_non_null(strstr(d, "id=\"table-profit\""));
    /* The maturity section as the browser built it: its chart and its table. */
    assertMaturity(d);
    copyKept(html_path, "report.html");
    copyKept(png, "report.png");
    free(d);
    free(url);
    free(shot_arg);
    free(profile_arg);
    free(html_path);
    free(png);
    free(dom);
    free(profile);
    tl_rmtree(dir);
    free(dir);
    free(browser);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(xml_checker_rejects_broken_markup),
        cmocka_unit_test(escape_replaces_the_five_characters_and_drops_controls),
        cmocka_unit_test(nice_ticks_are_one_two_five_steps_covering_the_range),
        cmocka_unit_test(numbers_are_formatted_for_people),
        cmocka_unit_test(money_is_formatted_with_integers_only),
        cmocka_unit_test(heatmap_is_well_formed_and_escapes_labels),
        cmocka_unit_test(line_chart_marks_boundaries_and_differs_series_by_dash),
        cmocka_unit_test(bars_share_bar_and_cohorts_are_well_formed),
        cmocka_unit_test(empty_data_draws_a_no_data_note),
        cmocka_unit_test(table_escapes_cells_and_aligns_numbers),
        cmocka_unit_test(full_report_has_every_required_chart),
        cmocka_unit_test(absent_sections_are_skipped),
        cmocka_unit_test(mistyped_fields_never_break_the_report),
        cmocka_unit_test(every_field_of_the_wrong_type_still_renders),
        cmocka_unit_test(report_is_written_to_a_file),
        cmocka_unit_test(chromium_renders_the_charts),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed) return 1;
    if (g_no_browser) {
        fprintf(stderr, "test_report_html: every other check passed; chromium missing, so exit 77 (skipped)\n");
        return TL_SKIP;
    }
    return 0;
}
