/*
 * maturity_html.c - the maturity section and page (maturity_html.h): the rating's JSON
 * document drawn as the overall level, a horizontal bar chart of the five blocks and the
 * table of evidence and lifts.
 */
#include "report/maturity_html.h"

#include <stdio.h>
#include <string.h>

enum { BLOCKS_MAX = 8 }; /* the rating has five; more in a document are left out */

static const char *strOf(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void ly_report_maturity_section(ly_svg_buf *b, const json_t *m, int number)
{
    static const char title[] = "Program maturity";
    static const char question[] = "How far has the program come, block by block (METHOD.md section 7)?";
    ly_svg_buf_puts(b, "<section id=\"maturity\">");
    if (number > 0) {
        ly_svg_buf_printf(b, "<header class=\"sec-head\"><span class=\"sec-no\">%d</span><div><h2>%s</h2>"
                             "<p class=\"question\">%s</p></div></header>\n", number, title, question);
    } else {
        ly_svg_buf_printf(b, "<h1>%s</h1>\n", title);
    }
    const char *unavailable = strOf(m, "unavailable");
    if (unavailable || !json_is_object(m)) {
        ly_svg_buf_puts(b, "<p class=\"reading\">");
        ly_svg_escape(b, unavailable ? unavailable : "No rating.");
        ly_svg_buf_puts(b, "</p></section>\n");
        return;
    }
    const json_t *ov = json_object_get(m, "overall");
    ly_svg_buf_puts(b, "<p class=\"overall reading\">");
    if (json_is_integer(ov))
        ly_svg_buf_printf(b, "Overall level: <strong>%lld</strong> of 4", (long long)json_integer_value(ov));
    else
        ly_svg_buf_puts(b, "Overall level: unknown");
    const char *note = strOf(m, "note");
    if (note) {
        ly_svg_buf_puts(b, " (");
        ly_svg_escape(b, note);
        ly_svg_buf_puts(b, ")");
    }
    ly_svg_buf_puts(b, ". Levels by METHOD.md section 7; criteria in docs/maturity.md.</p>\n");

    const json_t *blocks = json_object_get(m, "blocks");
    const char *labels[BLOCKS_MAX], *vlp[BLOCKS_MAX];
    double values[BLOCKS_MAX];
    char vl[BLOCKS_MAX][16];
    const json_t *rows[BLOCKS_MAX];
    size_t n = 0, i;
    const json_t *blk;
    if (json_is_array(blocks)) json_array_foreach(blocks, i, blk) {
            if (n == BLOCKS_MAX) break;
            const json_t *lv = json_object_get(blk, "level");
            if (!json_is_object(blk) || !json_is_integer(lv)) continue;
            const char *name = strOf(blk, "name");
            labels[n] = name ? name : strOf(blk, "block") ? strOf(blk, "block") : "?";
            values[n] = (double)json_integer_value(lv);
            snprintf(vl[n], sizeof vl[n], "%lld of 4", (long long)json_integer_value(lv));
            vlp[n] = vl[n];
            rows[n] = blk;
            n++;
        }
    ly_svg_bar_chart chart = {.id = "maturity-levels", .title = "Level per block (0-4)",
                              .n = n, .labels = labels, .values = values, .value_labels = vlp,
                              .fmt = LY_SVG_FMT_INT, .horizontal = true};
    ly_svg_buf_puts(b, "<figure class=\"chart-box\">");
    ly_svg_bar_chart_render(b, &chart);
    ly_svg_buf_puts(b, "</figure>\n");
    static const char *const head[] = {"Block", "Level", "Evidence", "What would lift it one level"};
    ly_svg_table t = {.id = "maturity-blocks", .caption = "The five blocks", .n_cols = 4,
                      .head = head, .align = "lrll"};
    ly_svg_table_begin(b, &t);
    for (size_t k = 0; k < n; k++) {
        const char *lift = strOf(rows[k], "lift");
        char lv[24];
        snprintf(lv, sizeof lv, "%lld", (long long)json_integer_value(json_object_get(rows[k], "level")));
        const char *cells[4] = {labels[k], lv, strOf(rows[k], "evidence"),
                                lift ? lift : "(highest level)"};
        ly_svg_table_row(b, &t, cells, NULL);
    }
    ly_svg_table_end(b);
    ly_svg_buf_puts(b, "\n</section>\n");
}

ly_err ly_report_maturity_page(const json_t *m, char **out, size_t *out_len, ly_error *err)
{
    ly_svg_buf b = {0};
    ly_svg_buf_puts(&b,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<title>Program maturity</title><style>"
                    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#111}"
                    "table.data{border-collapse:collapse;width:100%}table.data th,table.data td{"
                    "border:1px solid #999;padding:.4em;vertical-align:top;text-align:left}"
                    "table.data .num{text-align:right}figure{margin:1em 0}"
                    "svg{max-width:100%;height:auto}text{font-size:12px}"
                    "</style></head><body>\n");
    ly_report_maturity_section(&b, m, 0);
    ly_svg_buf_puts(&b, "</body></html>\n");
    size_t len = 0;
    char *text = ly_svg_buf_take(&b, &len);
    if (out_len) *out_len = text ? len : 0;
    *out = text;
    if (!text) return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory rendering the page");
    return LY_OK;
}
