/*
 * analyze.c - `loyal analyze`: who the customers are and what the program is worth
 * (docs/analytics.md). Opens a source (Loyal's database, or a CSV file in a named layout or
 * with a column mapping), runs the one-pass analysis, and writes the JSON result and, if
 * asked, the per-customer CSV.
 */
#include "analytics/analytics.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "os/csv.h"
#include "os/os.h"
#include "report/html.h"
#include "report/report.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char analyzeHelp[] =
    "usage: loyal analyze [FILE] [OPTIONS]\n"
    "\n"
    "Analyses purchase history in one pass: RFM cells and segments, the sleep, churn and\n"
    "loyalty boundaries, repeat deals versus add-ons, deal-to-deal conversion, cohorts,\n"
    "receipt structure and the profit formula per period, store and cashier.\n"
    "Reads FILE (CSV, '-' for standard input) or, without FILE, Loyal's database.\n"
    "\n"
    "input:\n"
    "  --db PATH             Loyal's database (default $LOYAL_DB or ./loyal.db)\n"
    "  --layout NAME         loyal (default), online_retail, cdnow, cdnow_sample\n"
    "  --map FIELD=COLUMN,...  read a field from a column of another name (repeatable)\n"
    "  --delimiter C         field delimiter of FILE (default ','; 'tab' for a tab)\n"
    "  --minor-units N       digits of the currency's minor unit (default 2)\n"
    "  --sort                sort the receipts in memory first (for files not in time order\n"
    "                        per customer; memory then grows with the receipts)\n"
    "analysis:\n"
    "  --as-of DATE          analysis date YYYY-MM-DD; receipts on it or later are left out\n"
    "                        (default: the day after the last receipt)\n"
    "  --addon-days N        add-on window in days (default 7)\n"
    "  --no-addons           every purchase is a deal\n"
    "  --jobs FILE           CSV 'category,job': the job each category serves\n"
    "  --sleep-level X       sleep boundary: P(return) below X (default 0.5)\n"
    "  --churn-level X       churn boundary: P(return) below X (default 0.2)\n"
    "  --loyalty-level X     loyalty boundary: conversion at least X (default 0.8)\n"
    "  --loyalty-min N       customers with a known outcome a deal number needs (default 20)\n"
    "  --period P            week, month (default) or quarter\n"
    "output:\n"
    "  --json FILE           the whole result as JSON (default: standard output)\n"
    "  --customers-csv FILE  one row per customer\n"
    "  --html FILE           the report for people: one self-contained HTML file\n"
    "  --currency CODE       currency code shown in the HTML report\n"
    "  --quiet               no progress on standard error\n";

static const char *layoutName(ly_an_layout l)
{
    switch (l) {
    case LY_AN_LAYOUT_ONLINE_RETAIL: return "online_retail";
    case LY_AN_LAYOUT_CDNOW: return "cdnow";
    case LY_AN_LAYOUT_CDNOW_SAMPLE: return "cdnow_sample";
    default: return "loyal";
    }
}

typedef struct progressCtx {
    bool quiet;
    uint64_t start, last;
} progressCtx;

static void onProgress(void *ctx, uint64_t receipts, uint64_t customers, uint64_t done,
                       uint64_t total)
{
    progressCtx *p = ctx;
    if (p->quiet) return;
    uint64_t now = ly_os_usec();
    if (now - p->last < 1000000) return;
    p->last = now;
    if (total)
        fprintf(stderr, "analyze: %llu receipts, %llu customers, %.0f%% of the input\n",
                (unsigned long long)receipts, (unsigned long long)customers,
                100.0 * (double)done / (double)total);
    else
        fprintf(stderr, "analyze: %llu receipts, %llu customers\n", (unsigned long long)receipts,
                (unsigned long long)customers);
}

static bool parseLevel(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v > 0) || !(v < 1)) return false;
    *out = v;
    return true;
}

static bool parseInt(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) return false;
    *out = v;
    return true;
}

/* Reads the --jobs file: a header, then category,job rows. Strings live in the arena. */
static int readJobs(const char *path, ly_arena *a, ly_an_job **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loyal analyze: %s: %s\n", path, strerror(errno));
        return LY_EXIT_SYSTEM;
    }
    ly_csv *c = ly_csv_open(f, ',');
    size_t cap = 0;
    int code = c ? LY_EXIT_OK : LY_EXIT_SYSTEM;
    int rc;
    bool header = true;
    while (code == LY_EXIT_OK && (rc = ly_csv_next(c)) != 0) {
        if (rc < 0) {
            fprintf(stderr, "loyal analyze: %s:%ld: %s\n", path, ly_csv_line(c), ly_csv_error(c));
            code = LY_EXIT_DATA;
            break;
        }
        if (header) {
            header = false;
            continue;
        }
        if (ly_csv_nfields(c) < 2 || !ly_csv_field(c, 0)[0] || !ly_csv_field(c, 1)[0]) {
            fprintf(stderr, "loyal analyze: %s:%ld: a row needs a category and a job\n", path,
                    ly_csv_line(c));
            code = LY_EXIT_DATA;
            break;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            ly_an_job *v = ly_arena_alloc(a, nc * sizeof *v);
            if (!v) {
                code = LY_EXIT_SYSTEM;
                break;
            }
            if (*n) memcpy(v, *out, *n * sizeof *v);
            *out = v;
            cap = nc;
        }
        (*out)[*n].category = ly_arena_strdup(a, ly_csv_field(c, 0));
        (*out)[*n].job = ly_arena_strdup(a, ly_csv_field(c, 1));
        if (!(*out)[*n].category || !(*out)[*n].job) code = LY_EXIT_SYSTEM;
        (*n)++;
    }
    ly_csv_close(c);
    fclose(f);
    return code;
}

/* --map FIELD=COLUMN,...: appends pairs to map (strings in the arena). */
static bool mapParse(const char *arg, ly_arena *a, const char ***map, size_t *n, size_t *cap)
{
    char *copy = ly_arena_strdup(a, arg);
    if (!copy) return false;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1]) {
            fprintf(stderr, "loyal analyze: --map takes FIELD=COLUMN, not '%s'\n", tok);
            return false;
        }
        *eq = 0;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 16;
            const char **v = ly_arena_alloc(a, 2 * nc * sizeof *v);
            if (!v) return false;
            if (*n) memcpy(v, *map, 2 * *n * sizeof *v);
            *map = v;
            *cap = nc;
        }
        (*map)[2 * *n] = tok;
        (*map)[2 * *n + 1] = eq + 1;
        (*n)++;
    }
    return true;
}

int ly_cli_analyze(int argc, char **argv)
{
    enum {
        O_DB = 256, O_LAYOUT, O_MAP, O_DELIM, O_MINOR, O_SORT, O_ASOF, O_ADDON, O_NOADDON,
        O_JOBS, O_SLEEP, O_CHURN, O_LOYAL, O_LOYALMIN, O_PERIOD, O_JSON, O_CSV, O_HTML, O_CURRENCY
    };
    static const struct option opts[] = {
        {"db", required_argument, 0, O_DB},
        {"layout", required_argument, 0, O_LAYOUT},
        {"map", required_argument, 0, O_MAP},
        {"delimiter", required_argument, 0, O_DELIM},
        {"minor-units", required_argument, 0, O_MINOR},
        {"sort", no_argument, 0, O_SORT},
        {"as-of", required_argument, 0, O_ASOF},
        {"addon-days", required_argument, 0, O_ADDON},
        {"no-addons", no_argument, 0, O_NOADDON},
        {"jobs", required_argument, 0, O_JOBS},
        {"sleep-level", required_argument, 0, O_SLEEP},
        {"churn-level", required_argument, 0, O_CHURN},
        {"loyalty-level", required_argument, 0, O_LOYAL},
        {"loyalty-min", required_argument, 0, O_LOYALMIN},
        {"period", required_argument, 0, O_PERIOD},
        {"json", required_argument, 0, O_JSON},
        {"customers-csv", required_argument, 0, O_CSV},
        {"html", required_argument, 0, O_HTML},
        {"currency", required_argument, 0, O_CURRENCY},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ly_arena arena = {0};
    ly_an_options ao;
    ly_an_options_default(&ao);
    ly_an_csv_options co = {.layout = LY_AN_LAYOUT_LOYAL, .delimiter = ',', .minor_units = 2};
    const char **map = NULL;
    size_t n_map = 0, map_cap = 0;
    const char *db = NULL, *json_path = NULL, *csv_path = NULL, *jobs_path = NULL;
    const char *html_path = NULL, *currency = NULL;
    bool sort = false, db_given = false;
    progressCtx pc = {0};
    int code = -1;
    long v;
    int c;
    optind = 1;
    while (code < 0 && (c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case O_DB: db = optarg; db_given = true; break;
        case O_LAYOUT:
            if (!ly_an_layout_parse(optarg, &co.layout)) {
                fprintf(stderr, "loyal analyze: unknown layout '%s' (loyal, online_retail, cdnow, "
                                "cdnow_sample)\n", optarg);
                code = LY_EXIT_USAGE;
            }
            break;
        case O_MAP:
            if (!mapParse(optarg, &arena, &map, &n_map, &map_cap)) code = LY_EXIT_USAGE;
            break;
        case O_DELIM:
            if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\\t") == 0) co.delimiter = '\t';
            else if (strlen(optarg) == 1 && !strchr("\"\r\n", optarg[0])) co.delimiter = optarg[0];
            else {
                fprintf(stderr, "loyal analyze: --delimiter takes one character (not '\"'), or 'tab'\n");
                code = LY_EXIT_USAGE;
            }
            break;
        case O_MINOR:
            if (!parseInt(optarg, 0, 6, &v)) {
                fprintf(stderr, "loyal analyze: --minor-units takes 0..6\n");
                code = LY_EXIT_USAGE;
            }
            co.minor_units = (int)v;
            break;
        case O_SORT: sort = true; break;
        case O_ASOF:
            if (!ly_date_parse(optarg, &ao.as_of_day)) {
                fprintf(stderr, "loyal analyze: --as-of takes a date YYYY-MM-DD, not '%s'\n", optarg);
                code = LY_EXIT_USAGE;
            }
            ao.as_of_set = true;
            break;
        case O_ADDON:
            if (!parseInt(optarg, 0, 3650, &v)) {
                fprintf(stderr, "loyal analyze: --addon-days takes 0..3650 days\n");
                code = LY_EXIT_USAGE;
            }
            ao.addon_days = (int)v;
            break;
        case O_NOADDON: ao.addon_days = -1; break;
        case O_JOBS: jobs_path = optarg; break;
        case O_SLEEP:
        case O_CHURN:
        case O_LOYAL: {
            double *dst = c == O_SLEEP ? &ao.sleep_level : c == O_CHURN ? &ao.churn_level
                                                                         : &ao.loyalty_level;
            if (!parseLevel(optarg, dst)) {
                fprintf(stderr, "loyal analyze: %s takes a number between 0 and 1, not '%s'\n",
                        argv[optind - 1], optarg);
                code = LY_EXIT_USAGE;
            }
            break;
        }
        case O_LOYALMIN:
            if (!parseInt(optarg, 1, 1000000000, &v)) {
                fprintf(stderr, "loyal analyze: --loyalty-min takes a count >= 1\n");
                code = LY_EXIT_USAGE;
            }
            ao.loyalty_min_known = v;
            break;
        case O_PERIOD:
            if (!ly_an_period_parse(optarg, &ao.period)) {
                fprintf(stderr, "loyal analyze: --period takes week, month or quarter\n");
                code = LY_EXIT_USAGE;
            }
            break;
        case O_JSON: json_path = optarg; break;
        case O_CSV: csv_path = optarg; break;
        case O_HTML: html_path = optarg; break;
        case O_CURRENCY: currency = optarg; break;
        case 'q': pc.quiet = true; break;
        case 'h':
            fputs(analyzeHelp, stdout);
            code = LY_EXIT_OK;
            break;
        default:
            fputs(analyzeHelp, stderr);
            code = LY_EXIT_USAGE;
        }
    }
    const char *file = NULL;
    if (code < 0 && optind < argc) {
        file = argv[optind++];
        if (optind < argc || db_given) {
            fprintf(stderr, db_given ? "loyal analyze: read a file or a database (--db), not both\n"
                                     : "loyal analyze: one file at a time\n");
            code = LY_EXIT_USAGE;
        }
    }
    if (code < 0 && ao.sleep_level <= ao.churn_level) {
        fprintf(stderr, "loyal analyze: --sleep-level must be above --churn-level\n");
        code = LY_EXIT_USAGE;
    }
    if (code >= 0) {
        ly_arena_free(&arena);
        return code;
    }
    ly_an_job *jobs = NULL;
    size_t n_jobs = 0;
    if (jobs_path && (code = readJobs(jobs_path, &arena, &jobs, &n_jobs)) != LY_EXIT_OK) {
        ly_arena_free(&arena);
        return code;
    }
    ao.jobs = jobs;
    ao.n_jobs = n_jobs;
    co.map = map;
    co.n_map = n_map;
    pc.start = pc.last = ly_os_usec();
    ao.progress = onProgress;
    ao.progress_ctx = &pc;

    ly_error err;
    ly_error_clear(&err);
    ly_source src = {0};
    ly_store *store = NULL;
    FILE *in = NULL;
    code = LY_EXIT_OK;
    if (file) {
        uint64_t size = 0;
        if (strcmp(file, "-") == 0) {
            in = stdin;
        } else {
            in = fopen(file, "rb");
            struct stat stb;
            if (in && fstat(fileno(in), &stb) == 0) size = (uint64_t)stb.st_size;
        }
        if (!in) {
            fprintf(stderr, "loyal analyze: %s: %s\n", file, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else if (ly_an_csv_source_open(in, file, size, &co, &src, &err) != LY_OK) {
            code = ly__cli_fail("analyze", &err);
            if (strcmp(err.code, "unknown_field") == 0) code = LY_EXIT_USAGE;
        }
    } else {
        if (!db) db = ly_cli_default_db();
        if (access(db, R_OK) != 0) {
            fprintf(stderr, "loyal analyze: %s: %s\n", db, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else {
            ly_store_options so = {.path = db, .sync = LY_SYNC_NORMAL};
            if (ly_store_open(&so, &store, &err) != LY_OK ||
                ly_store_source_open(store, &src, &err) != LY_OK)
                code = ly__cli_fail("analyze", &err);
        }
    }
    if (code == LY_EXIT_OK && sort) {
        ly_source sorted;
        if (ly_an_sorted_source(&src, &sorted, &err) != LY_OK) code = ly__cli_fail("analyze", &err);
        else src = sorted;
    }
    ly_an_result *res = NULL;
    if (code == LY_EXIT_OK && ly_an_run(&src, &ao, &res, &err) != LY_OK) {
        if (file && err.field[0])
            fprintf(stderr, "loyal analyze: %s: %s: %s (%s)\n", file, err.field, err.message, err.code);
        else
            fprintf(stderr, "loyal analyze: %s (%s)\n", err.message, err.code);
        code = err.kind == LY_ENOMEM ? LY_EXIT_SYSTEM : err.kind == LY_EIO ? LY_EXIT_SYSTEM : LY_EXIT_DATA;
    }
    if (src.close) src.close(src.ctx);
    if (in && in != stdin) fclose(in);
    ly_store_close(store);

    if (code == LY_EXIT_OK) {
        json_t *doc = ly_report_json(res, co.minor_units);
        FILE *out = json_path && strcmp(json_path, "-") != 0 ? fopen(json_path, "wb") : stdout;
        if (!doc) {
            fprintf(stderr, "loyal analyze: out of memory\n");
            code = LY_EXIT_SYSTEM;
        } else if (!out) {
            fprintf(stderr, "loyal analyze: %s: %s\n", json_path, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else if (ly_report_json_write(doc, out, &err) != LY_OK) {
            code = ly__cli_fail("analyze", &err);
        }
        if (out && out != stdout && fclose(out) != 0 && code == LY_EXIT_OK) {
            fprintf(stderr, "loyal analyze: %s: %s\n", json_path, strerror(errno));
            code = LY_EXIT_SYSTEM;
        }
        json_decref(doc);
    }
    if (code == LY_EXIT_OK && csv_path) {
        FILE *out = strcmp(csv_path, "-") == 0 ? stdout : fopen(csv_path, "wb");
        if (!out) {
            fprintf(stderr, "loyal analyze: %s: %s\n", csv_path, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else {
            if (ly_report_customers_csv(res, co.minor_units, out, &err) != LY_OK)
                code = ly__cli_fail("analyze", &err);
            if (out != stdout && fclose(out) != 0 && code == LY_EXIT_OK) code = LY_EXIT_SYSTEM;
        }
    }
    if (code == LY_EXIT_OK && html_path) {
        char source[300];
        if (file) snprintf(source, sizeof source, "%s (layout %s)", file, layoutName(co.layout));
        else snprintf(source, sizeof source, "Loyal database %s", db);
        json_t *view = ly_report_view(res, co.minor_units, source, currency);
        ly_report_html_opts ho = {.minor_units = co.minor_units, .minor_units_set = true,
                                  .currency = currency};
        if (!view) {
            fprintf(stderr, "loyal analyze: out of memory\n");
            code = LY_EXIT_SYSTEM;
        } else if (ly_report_html_write(view, &ho, html_path, &err) != LY_OK) {
            code = ly__cli_fail("analyze", &err);
        }
        json_decref(view);
    }
    if (code == LY_EXIT_OK && !pc.quiet)
        fprintf(stderr, "analyze: %lld receipts, %lld returns, %zu customers in %.2f s\n",
                (long long)res->receipts, (long long)res->returns, res->n_customers,
                (double)(ly_os_usec() - pc.start) / 1e6);
    ly_an_result_free(res);
    ly_arena_free(&arena);
    return code;
}
