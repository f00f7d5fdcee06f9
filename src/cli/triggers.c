/*
 * triggers.c - `loyal triggers run` (evaluate the program's triggers and write their
 * messages to the outbox) and `loyal triggers report` (the uplift of every trigger and step
 * against its hold-out group, as text, JSON and HTML with an SVG chart). docs/triggers.md.
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "engage/engage.h"
#include "os/os.h"
#include "program/program.h"
#include "program/triggers.h"
#include "report/svg.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char triggersHelp[] =
    "usage: loyal triggers run [--db PATH] [--program PATH] [--as-of DATE|TIME] [--dry-run]\n"
    "       loyal triggers report [--db PATH] [--program PATH] [--from DATE] [--to DATE]\n"
    "                             [--json FILE] [--html FILE]\n\n"
    "  run     evaluates every customer against the program file's triggers and writes the\n"
    "          messages due to the outbox (docs/triggers.md); running it again writes\n"
    "          nothing new. --as-of: the instant of the run, an RFC 3339 time or a date\n"
    "          (local noon in the program's time zone); default now. --dry-run decides and\n"
    "          counts without writing\n"
    "  report  the uplift of every trigger and step against its hold-out group, for steps\n"
    "          reached from --from (default 90 days ago) to --to (default today), both\n"
    "          local dates and included; prints a table, --json and --html write files\n"
    "          (\"-\" is standard output)\n\n"
    "  --db PATH       SQLite database (default $LOYAL_DB or ./loyal.db)\n"
    "  --program PATH  program file (default $LOYAL_PROGRAM or ./program.json)\n";

typedef struct trigOpts {
    const char *db, *program, *as_of, *from, *to, *json, *html;
    bool dry_run;
} trigOpts;

static int parse(int argc, char **argv, trigOpts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"as-of", required_argument, 0, 'a'}, {"dry-run", no_argument, 0, 'n'},
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'},
        {"json", required_argument, 0, 'j'}, {"html", required_argument, 0, 'H'},
        {"help", no_argument, 0, 'h'},       {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->db = ly_cli_default_db();
    o->program = ly_cli_default_program();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'p': o->program = optarg; break;
        case 'a': o->as_of = optarg; break;
        case 'n': o->dry_run = true; break;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'j': o->json = optarg; break;
        case 'H': o->html = optarg; break;
        case 'h': fputs(triggersHelp, stdout); return LY_EXIT_OK;
        default: fputs(triggersHelp, stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(triggersHelp, stderr);
        return LY_EXIT_USAGE;
    }
    return -1;
}

/* The instant local noon of a date, in the program's time zone. */
static ly_time localNoon(const ly_calendar *cal, int64_t day)
{
    ly_time guess = day * 86400 + 43200;
    return guess - (ly_time)cal->utc_offset(cal, guess) * 60;
}

static bool parseInstant(const char *s, const ly_calendar *cal, ly_time *out)
{
    int64_t day;
    if (ly_date_parse(s, &day)) {
        *out = localNoon(cal, day);
        return true;
    }
    return ly_time_parse(s, out, NULL);
}

typedef struct env {
    ly_program prog;
    ly_calendar cal;
    ly_store *store;
} env;

static int openEnv(const char *cmd, const trigOpts *o, env *e)
{
    ly_error err;
    ly_error_clear(&err);
    memset(e, 0, sizeof *e);
    if (ly_program_load(o->program, &e->prog, &err) != LY_OK) {
        ly__cli_fail(cmd, &err);
        return LY_EXIT_DATA;
    }
    if (!e->prog.triggers || !e->prog.triggers->n_triggers) {
        fprintf(stderr, "loyal %s: %s has no triggers (docs/triggers.md)\n", cmd, o->program);
        ly_program_free(&e->prog);
        return LY_EXIT_DATA;
    }
    if (ly_os_calendar(e->prog.time_zone, &e->cal, &err) != LY_OK) {
        ly_program_free(&e->prog);
        return ly__cli_fail(cmd, &err);
    }
    ly_store_options so = {.path = o->db, .sync = LY_SYNC_FULL};
    if (ly_store_open(&so, &e->store, &err) != LY_OK) {
        ly_program_free(&e->prog);
        return ly__cli_fail(cmd, &err);
    }
    return -1;
}

static void closeEnv(env *e)
{
    ly_store_close(e->store);
    ly_program_free(&e->prog);
}

static int cmdRun(const trigOpts *o)
{
    env e;
    int code = openEnv("triggers run", o, &e);
    if (code >= 0) return code;
    ly_time now = ly_os_now();
    if (o->as_of && !parseInstant(o->as_of, &e.cal, &now)) {
        fprintf(stderr, "loyal triggers run: --as-of takes YYYY-MM-DD or an RFC 3339 time\n");
        closeEnv(&e);
        return LY_EXIT_USAGE;
    }
    ly_error err;
    ly_error_clear(&err);
    ly_triggers_run_options ro = {.now = now, .dry_run = o->dry_run};
    ly_triggers_run_result r;
    ly_err rc = ly_triggers_run(e.store, &e.prog, &e.cal, &ro, &r, &err);
    char at[40];
    ly_time_format(now, e.cal.utc_offset(&e.cal, now), at, sizeof at);
    printf("%s as of %s: %lld customers; %lld steps reached (%lld chains started): "
           "%lld messages, %lld held out, %lld held out program-wide; %lld deferred past "
           "quiet hours; not taken: %lld over a frequency cap, %lld without a channel with "
           "consent; chains ended: %lld by a purchase, %lld by their condition, %lld done; "
           "offers: %lld coupons, %lld bonuses, %lld recommendation lists%s\n",
           o->dry_run ? "dry run" : "run", at, (long long)r.customers, (long long)r.steps,
           (long long)r.entered, (long long)r.messages, (long long)r.held_out,
           (long long)r.program_held_out, (long long)r.deferred, (long long)r.capped,
           (long long)r.no_channel, (long long)r.ended_purchase, (long long)r.ended_condition,
           (long long)r.ended_done, (long long)r.coupons, (long long)r.bonuses,
           (long long)r.recommendations,
           r.limit_reached ? "; stopped at triggers.max_per_run" : "");
    fflush(stdout);
    code = rc == LY_OK ? LY_EXIT_OK : ly__cli_fail("triggers run", &err);
    closeEnv(&e);
    return code;
}

/* ---- HTML ------------------------------------------------------------------------------ */

static const ly_trigger_figures *rowAt(const ly_triggers_report *r, size_t i)
{
    return i < r->n_rows ? &r->rows[i] : &r->program;
}

/* A forest plot: each step's uplift interval as a bar, its estimate as a dot, zero marked. */
static void chart(ly_svg_buf *b, const ly_triggers_report *r)
{
    size_t n = r->n_rows + (r->has_program ? 1 : 0), points = 0;
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const ly_trigger_figures *f = rowAt(r, i);
        if (!f->uplift.valid) continue;
        points++;
        if (f->uplift.lo < lo) lo = f->uplift.lo;
        if (f->uplift.hi > hi) hi = f->uplift.hi;
    }
    if (hi - lo < 0.02) hi = lo + 0.02;
    double ticks[16], step = 0;
    size_t nt = ly_svg_nice_ticks(lo, hi, 6, ticks, 16, &step);
    if (nt >= 2) {
        lo = ticks[0];
        hi = ticks[nt - 1];
    }
    double left = 230, width = 440, rowH = 26, top = 30, bottom = top + rowH * (double)n;
    ly_svg_buf_printf(b,
                      "<svg id=\"uplift\" data-chart=\"uplift\" data-points=\"%zu\" "
                      "xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 700 %.0f\" "
                      "width=\"700\" height=\"%.0f\" role=\"img\">\n<title>Conversion uplift "
                      "with 95%% intervals</title>\n",
                      points, bottom + 40, bottom + 40);
    for (size_t k = 0; k < nt; k++) {
        double x = left + (ticks[k] - lo) / (hi - lo) * width;
        char lab[32];
        ly_svg_format(ticks[k], LY_SVG_FMT_PERCENT, step, lab, sizeof lab);
        ly_svg_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"%s\"/>"
                             "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\" text-anchor=\"middle\">",
                          x, top - 8, x, bottom, fabs(ticks[k]) < 1e-12 ? "#000" : "#ddd", x,
                          bottom + 16);
        ly_svg_escape(b, lab);
        ly_svg_buf_puts(b, "</text>\n");
    }
    for (size_t i = 0; i < n; i++) {
        const ly_trigger_figures *f = rowAt(r, i);
        double y = top + rowH * (double)i + rowH / 2;
        char label[160];
        if (f->step >= 0) snprintf(label, sizeof label, "%s, step %lld", f->trigger, (long long)f->step);
        else snprintf(label, sizeof label, "whole program");
        ly_svg_buf_printf(b, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">",
                          left - 8, y + 4);
        ly_svg_escape(b, label);
        ly_svg_buf_puts(b, "</text>");
        if (f->uplift.valid) {
            double x0 = left + (f->uplift.lo - lo) / (hi - lo) * width;
            double x1 = left + (f->uplift.hi - lo) / (hi - lo) * width;
            double xe = left + (f->uplift.est - lo) / (hi - lo) * width;
            ly_svg_buf_printf(b, "<line class=\"interval %s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                                 "y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/><circle cx=\"%.1f\" "
                                 "cy=\"%.1f\" r=\"4\" fill=\"#000\"/>",
                              f->proven ? "proven" : "unproven", x0, y, x1, y,
                              f->proven ? "#1b7837" : "#999", xe, y);
        }
        ly_svg_buf_puts(b, "\n");
    }
    ly_svg_buf_puts(b, "</svg>\n");
}

static void moneyCell(ly_svg_buf *b, double v, int minor)
{
    char buf[48];
    ly_decimal_format((int64_t)llround(v), minor, buf, sizeof buf);
    ly_svg_buf_puts(b, "<td>");
    ly_svg_escape(b, buf);
    ly_svg_buf_puts(b, "</td>");
}

static char *reportHtml(const ly_triggers_report *r, const ly_program *p)
{
    ly_svg_buf b = {0};
    char from[32], to[32];
    ly_time_format(r->from, 0, from, sizeof from);
    ly_time_format(r->to, 0, to, sizeof to);
    ly_svg_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                        "<title>Trigger uplift</title><style>body{font-family:sans-serif;"
                        "margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
                        "padding:3px 6px;text-align:right}td.l,th.l{text-align:left}"
                        "tr.unproven{color:#777}</style></head><body>\n<h1>Trigger uplift: ");
    ly_svg_escape(&b, p->name);
    ly_svg_buf_puts(&b, "</h1>\n<p>Steps reached from ");
    ly_svg_escape(&b, from);
    ly_svg_buf_puts(&b, " to ");
    ly_svg_escape(&b, to);
    ly_svg_buf_puts(&b, ". Conversion: a deal within the trigger's attribution window after the "
                        "(would-be) send. Intervals are 95% (Newcombe for conversion, Welch "
                        "for revenue per customer); a step whose conversion interval includes "
                        "zero is unproven.</p>\n");
    chart(&b, r);
    ly_svg_buf_puts(&b, "<table><tr><th class=\"l\">trigger</th><th>step</th><th>treated</th>"
                        "<th>held out</th><th>conversion treated</th><th>conversion held out</th>"
                        "<th>uplift, pp (95%)</th><th>relative</th><th>revenue per customer "
                        "uplift</th><th>low</th><th>high</th><th>incremental revenue</th>"
                        "<th>incremental margin</th><th>cost</th><th>return on cost</th>"
                        "<th class=\"l\">verdict</th></tr>\n");
    size_t n = r->n_rows + (r->has_program ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        const ly_trigger_figures *f = rowAt(r, i);
        ly_svg_buf_printf(&b, "<tr class=\"%s\"><td class=\"l\">", f->proven ? "proven" : "unproven");
        ly_svg_escape(&b, f->step >= 0 ? f->trigger : "whole program (program-wide hold-out)");
        if (f->step >= 0) ly_svg_buf_printf(&b, "</td><td>%lld</td>", (long long)f->step);
        else ly_svg_buf_puts(&b, "</td><td>-</td>");
        ly_svg_buf_printf(&b, "<td>%lld</td><td>%lld</td><td>%.1f%%</td><td>%.1f%%</td>",
                          (long long)f->treated, (long long)f->held_out, 100 * f->p_treated,
                          100 * f->p_held_out);
        if (f->uplift.valid)
            ly_svg_buf_printf(&b, "<td>%+.1f [%+.1f, %+.1f]</td>", 100 * f->uplift.est,
                              100 * f->uplift.lo, 100 * f->uplift.hi);
        else ly_svg_buf_puts(&b, "<td>n/a</td>");
        if (f->relative.valid) ly_svg_buf_printf(&b, "<td>%+.0f%%</td>", 100 * f->relative.est);
        else ly_svg_buf_puts(&b, "<td>n/a</td>");
        if (f->revenue.valid) {
            moneyCell(&b, f->revenue.est, p->minor_units);
            moneyCell(&b, f->revenue.lo, p->minor_units);
            moneyCell(&b, f->revenue.hi, p->minor_units);
        } else {
            ly_svg_buf_puts(&b, "<td>n/a</td><td></td><td></td>");
        }
        moneyCell(&b, f->incremental_revenue, p->minor_units);
        if (f->has_margin) moneyCell(&b, f->incremental_margin, p->minor_units);
        else ly_svg_buf_puts(&b, "<td>n/a</td>");
        moneyCell(&b, (double)(f->message_cost + f->reward_cost), p->minor_units);
        if (f->roi_valid) ly_svg_buf_printf(&b, "<td>%.2f</td>", f->roi);
        else ly_svg_buf_puts(&b, "<td>n/a</td>");
        ly_svg_buf_printf(&b, "<td class=\"l\">%s</td></tr>\n", f->proven ? "proven" : "unproven");
    }
    ly_svg_buf_puts(&b, "</table>\n</body></html>\n");
    return ly_svg_buf_take(&b, NULL);
}

static bool writeText(const char *path, const char *text)
{
    if (!strcmp(path, "-")) return fputs(text, stdout) >= 0;
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void printTable(const ly_triggers_report *r, const ly_program *p)
{
    printf("%-24s %4s %8s %8s %7s %7s %26s %10s %s\n", "trigger", "step", "treated", "held",
           "conv_t", "conv_h", "uplift pp [95%]", "incr.rev", "verdict");
    size_t n = r->n_rows + (r->has_program ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        const ly_trigger_figures *f = rowAt(r, i);
        char step[24], up[64], inc[40];
        if (f->step >= 0) snprintf(step, sizeof step, "%lld", (long long)f->step);
        else snprintf(step, sizeof step, "-");
        if (f->uplift.valid)
            snprintf(up, sizeof up, "%+.1f [%+.1f, %+.1f]", 100 * f->uplift.est,
                     100 * f->uplift.lo, 100 * f->uplift.hi);
        else snprintf(up, sizeof up, "n/a");
        ly_decimal_format((int64_t)llround(f->incremental_revenue), p->minor_units, inc, sizeof inc);
        printf("%-24s %4s %8lld %8lld %6.1f%% %6.1f%% %26s %10s %s\n",
               f->step >= 0 ? f->trigger : "(program-wide hold-out)", step, (long long)f->treated,
               (long long)f->held_out, 100 * f->p_treated, 100 * f->p_held_out, up, inc,
               f->proven ? "proven" : "unproven");
    }
}

static int cmdReport(const trigOpts *o)
{
    env e;
    int code = openEnv("triggers report", o, &e);
    if (code >= 0) return code;
    ly_time now = ly_os_now();
    int64_t today = (now + (ly_time)e.cal.utc_offset(&e.cal, now) * 60) / 86400, fromDay = today - 90,
            toDay = today;
    if ((o->from && !ly_date_parse(o->from, &fromDay)) || (o->to && !ly_date_parse(o->to, &toDay)) ||
        fromDay > toDay) {
        fprintf(stderr, "loyal triggers report: --from and --to take dates YYYY-MM-DD, from <= to\n");
        closeEnv(&e);
        return LY_EXIT_USAGE;
    }
    ly_time from = e.cal.day_end(&e.cal, localNoon(&e.cal, fromDay), -1);
    ly_time to = e.cal.day_end(&e.cal, localNoon(&e.cal, toDay), 0);
    ly_error err;
    ly_error_clear(&err);
    ly_arena a = {0};
    ly_triggers_report r;
    if (ly_triggers_report_build(e.store, &e.prog, from, to, &a, &r, &err) != LY_OK) {
        code = ly__cli_fail("triggers report", &err);
        ly_arena_free(&a);
        closeEnv(&e);
        return code;
    }
    code = LY_EXIT_OK;
    if (!(o->json && !strcmp(o->json, "-")) && !(o->html && !strcmp(o->html, "-")))
        printTable(&r, &e.prog);
    if (o->json) {
        json_t *j = ly_triggers_report_json(&r, &e.prog);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
        json_decref(j);
        size_t len = text ? strlen(text) : 0;
        char *line = text ? realloc(text, len + 2) : NULL;
        if (line) {
            line[len] = '\n';
            line[len + 1] = '\0';
        } else {
            free(text);
        }
        if (!line || !writeText(o->json, line)) {
            fprintf(stderr, "loyal triggers report: cannot write %s\n", o->json);
            code = LY_EXIT_SYSTEM;
        }
        free(line);
    }
    if (o->html && code == LY_EXIT_OK) {
        char *html = reportHtml(&r, &e.prog);
        if (!html || !writeText(o->html, html)) {
            fprintf(stderr, "loyal triggers report: cannot write %s\n", o->html);
            code = LY_EXIT_SYSTEM;
        }
        free(html);
    }
    ly_arena_free(&a);
    closeEnv(&e);
    return code;
}

int ly_cli_triggers(int argc, char **argv)
{
    if (argc < 2) {
        fputs(triggersHelp, stderr);
        return LY_EXIT_USAGE;
    }
    trigOpts o;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        fputs(triggersHelp, stdout);
        return LY_EXIT_OK;
    }
    int code = parse(argc - 1, argv + 1, &o);
    if (code >= 0) return code;
    if (!strcmp(cmd, "run")) return cmdRun(&o);
    if (!strcmp(cmd, "report")) return cmdReport(&o);
    fputs(triggersHelp, stderr);
    return LY_EXIT_USAGE;
}
