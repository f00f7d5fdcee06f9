/*
 * analyze.c - `loyal analyze`: who the customers are and what the program is worth
 * (docs/analytics.md). Opens a source (Loyal's database, or a CSV file in a named layout or
 * with a column mapping), runs the one-pass analysis, and writes the JSON result and, if
 * asked, the per-customer CSV and the HTML report (with the program's maturity level when it
 * reads the database and a program file is at hand: maturity_evidence.h).
 */
#include "analytics/analytics.h"
#include "analytics/models.h"
#include "analytics/tiers.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "cli/maturity_evidence.h"
#include "os/csv.h"
#include "os/os.h"
#include "report/html.h"
#include "report/report.h"
#include "service/service.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
    "  --layout NAME         loyal (default), online_retail, cdnow, cdnow_sample, baskets\n"
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
    "models:\n"
    "  --no-clv              skip the lifetime-value models\n"
    "  --clv-model M         bg_nbd (default) or pareto_nbd: the purchase model CLV uses\n"
    "  --pnbd                fit Pareto/NBD as well (it takes about 20x BG/NBD)\n"
    "  --horizon-weeks N     CLV horizon in weeks (default 52)\n"
    "  --margin X            share of revenue that is profit, 0..1 (default 0.3)\n"
    "  --discount-rate X     yearly discount rate of future profit (default 0.1)\n"
    "  --no-copurchases      skip the association rules\n"
    "  --items LEVEL         sku (default) or category: what a basket holds\n"
    "  --min-support X       association rules: least share of baskets (default 0.01)\n"
    "  --min-confidence X    least confidence (default 0.25)\n"
    "  --min-len N           least items in a rule, left and right together (default 2)\n"
    "  --max-rules N         rules written (default 100; 0 = all)\n"
    "  --tier-rates R,R,...  earn rates in percent of the suggested tiers (default 3,5,7)\n"
    "  --point-value X       what a point pays for, in currency units (default 1)\n"
    "output:\n"
    "  --json FILE           the whole result as JSON (default: standard output)\n"
    "  --customers-csv FILE  one row per customer\n"
    "  --html FILE           the report for people: one self-contained HTML file\n"
    "  --currency CODE       currency code shown in the HTML report\n"
    "  --program PATH        with a database: the program file whose maturity level the HTML\n"
    "                        report shows (default $LOYAL_PROGRAM or ./program.json; a\n"
    "                        missing default file leaves the section out)\n"
    "  --save                with a database: keep each customer's figures there, for the\n"
    "                        profile and the program's rules\n"
    "  --timings             wall time and peak memory of each stage on standard error\n"
    "  --quiet               no progress on standard error\n";

static const char *layoutName(ly_an_layout l)
{
    switch (l) {
    case LY_AN_LAYOUT_ONLINE_RETAIL: return "online_retail";
    case LY_AN_LAYOUT_CDNOW: return "cdnow";
    case LY_AN_LAYOUT_CDNOW_SAMPLE: return "cdnow_sample";
    case LY_AN_LAYOUT_BASKETS: return "baskets";
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

/* A number in 0..hi (a fraction for most options). */
static bool parseFraction(const char *s, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || !(v >= 0) || !(v <= hi)) return false;
    *out = v;
    return true;
}

/* --tier-rates 3,5,7: percentages as exact decimals, to basis points. */
static bool parseRates(const char *s, int64_t *out, size_t *n)
{
    char buf[256];
    if (strlen(s) >= sizeof buf) return false;
    strcpy(buf, s);
    size_t k = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int64_t bp;
        if (k == LY_AN_TIERS_MAX || !ly_decimal_parse(tok, 2, &bp) || bp < 0 || bp > 10000) return false;
        out[k++] = bp;
    }
    if (k == 0) return false;
    *n = k;
    return true;
}

/* --timings: one line per stage with its wall time and the process's peak memory so far. */
typedef struct stageClock {
    bool on;
    uint64_t t;
} stageClock;

static void stageDone(stageClock *sc, const char *stage)
{
    uint64_t now = ly_os_usec();
    if (sc->on) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr, "timing: %-14s %9.3f s   peak memory %8.1f MB\n", stage,
                (double)(now - sc->t) / 1e6, (double)ru.ru_maxrss / 1024.0);
    }
    sc->t = now;
}

/* The quantiles that open tiers 2..n: the method's 25% / 50% / 25% for three tiers; for
 * more, the middle half is split evenly; two tiers split at the best quarter. */
static void tierCuts(size_t n, double *cuts)
{
    if (n == 2) cuts[0] = 0.75;
    for (size_t k = 0; n >= 3 && k + 1 < n; k++) cuts[k] = 0.25 + 0.5 * (double)k / (double)(n - 2);
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

/* The report's "maturity" section (docs/report.md): the rating of `loyal maturity --json`
 * when the database is read and a program file is at hand (--program, else the default
 * file when it exists); from a file, with --program, a note that the rating needs the
 * database; else none (*out NULL). Runs after --save, so the rating sees this run. An
 * unreadable --program is its exit code; an unreadable default file only a warning. */
static int maturityView(const char *file, const char *db, const char *program, json_t **out)
{
    *out = NULL;
    if (file) {
        if (program)
            *out = json_pack("{s:s}", "unavailable",
                             "The maturity rating needs Loyal's database: this report was made "
                             "from a file. Run loyal analyze --db PATH --html FILE, or loyal "
                             "maturity, on the database of the running program.");
        return LY_EXIT_OK;
    }
    const char *path = program ? program : ly_cli_default_program();
    struct stat sb;
    if (!program && stat(path, &sb) != 0) return LY_EXIT_OK;
    ly_mat_evidence ev;
    int code = ly__mat_gather("analyze", path, program != NULL, db, (int64_t)ly_os_now(), &ev);
    if (code != LY_EXIT_OK) {
        if (program) return code;
        fprintf(stderr, "analyze: the report has no maturity section (%s could not be read)\n", path);
        return LY_EXIT_OK;
    }
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    *out = ly__mat_json(&ev, &r);
    return LY_EXIT_OK;
}

int ly_cli_analyze(int argc, char **argv)
{
    enum {
        O_DB = 256, O_LAYOUT, O_MAP, O_DELIM, O_MINOR, O_SORT, O_ASOF, O_ADDON, O_NOADDON,
        O_JOBS, O_SLEEP, O_CHURN, O_LOYAL, O_LOYALMIN, O_PERIOD, O_JSON, O_CSV, O_HTML, O_CURRENCY,
        O_NOCLV, O_CLVMODEL, O_PNBD, O_HORIZON, O_MARGIN, O_DISCOUNT, O_NOASSOC, O_ITEMS,
        O_MINSUP, O_MINCONF, O_MINLEN, O_MAXRULES, O_TIERRATES, O_POINTVALUE, O_SAVE, O_TIMINGS,
        O_PROGRAM
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
        {"no-clv", no_argument, 0, O_NOCLV},
        {"clv-model", required_argument, 0, O_CLVMODEL},
        {"pnbd", no_argument, 0, O_PNBD},
        {"horizon-weeks", required_argument, 0, O_HORIZON},
        {"margin", required_argument, 0, O_MARGIN},
        {"discount-rate", required_argument, 0, O_DISCOUNT},
        {"no-copurchases", no_argument, 0, O_NOASSOC},
        {"items", required_argument, 0, O_ITEMS},
        {"min-support", required_argument, 0, O_MINSUP},
        {"min-confidence", required_argument, 0, O_MINCONF},
        {"min-len", required_argument, 0, O_MINLEN},
        {"max-rules", required_argument, 0, O_MAXRULES},
        {"tier-rates", required_argument, 0, O_TIERRATES},
        {"point-value", required_argument, 0, O_POINTVALUE},
        {"save", no_argument, 0, O_SAVE},
        {"timings", no_argument, 0, O_TIMINGS},
        {"program", required_argument, 0, O_PROGRAM},
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
    const char *html_path = NULL, *currency = NULL, *program = NULL;
    bool sort = false, db_given = false, no_clv = false, no_assoc = false, save = false;
    bool timings = false;
    ly_an_clv_options clo;
    ly_an_clv_options_default(&clo);
    ly_assoc_opts aso;
    ly_assoc_opts_default(&aso);
    aso.min_support = 0.01;
    aso.min_confidence = 0.25;
    aso.min_len = 2;
    aso.max_rules = 100;
    aso.max_combos = 50;
    ly_an_item_level level = LY_AN_ITEM_SKU;
    int64_t tier_rates[LY_AN_TIERS_MAX] = {300, 500, 700};
    size_t n_tiers = 3;
    const char *point_value_text = "1";
    progressCtx pc = {0};
    int code = -1;
    long v;
    int c;
    optind = 1;
    while (code < 0 && (c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case O_DB: db = optarg; db_given = true; break;
        case O_LAYOUT:
            if (!ly__cli_layout_parse("analyze", optarg, &co)) code = LY_EXIT_USAGE;
            break;
        case O_MAP:
            if (!ly__cli_map_parse("analyze", optarg, &arena, &map, &n_map, &map_cap)) code = LY_EXIT_USAGE;
            break;
        case O_DELIM:
            if (!ly__cli_delimiter_parse("analyze", optarg, &co)) code = LY_EXIT_USAGE;
            break;
        case O_MINOR:
            if (!ly__cli_parse_long(optarg, 0, 6, &v)) {
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
            if (!ly__cli_parse_long(optarg, 0, 3650, &v)) {
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
            if (!ly__cli_parse_long(optarg, 1, 1000000000, &v)) {
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
        case O_NOCLV: no_clv = true; break;
        case O_CLVMODEL:
            if (strcmp(optarg, "bg_nbd") == 0) clo.kind = LY_CLV_BGNBD;
            else if (strcmp(optarg, "pareto_nbd") == 0) clo.kind = LY_CLV_PNBD, clo.fit_pnbd = true;
            else {
                fprintf(stderr, "loyal analyze: --clv-model takes bg_nbd or pareto_nbd\n");
                code = LY_EXIT_USAGE;
            }
            break;
        case O_PNBD: clo.fit_pnbd = true; break;
        case O_HORIZON:
            if (!ly__cli_parse_long(optarg, 1, 5200, &v)) {
                fprintf(stderr, "loyal analyze: --horizon-weeks takes 1..5200\n");
                code = LY_EXIT_USAGE;
            }
            clo.horizon_weeks = (int)v;
            break;
        case O_MARGIN:
        case O_DISCOUNT:
        case O_MINSUP:
        case O_MINCONF: {
            double x;
            bool ok = parseFraction(optarg, c == O_DISCOUNT ? 10.0 : 1.0, &x);
            if (ok && (c == O_MINSUP) && !(x > 0)) ok = false;
            if (!ok) {
                fprintf(stderr, "loyal analyze: %s takes a number in %s, not '%s'\n", argv[optind - 1],
                        c == O_DISCOUNT ? "0..10" : c == O_MINSUP ? "(0, 1]" : "0..1", optarg);
                code = LY_EXIT_USAGE;
            } else if (c == O_MARGIN) clo.margin = x;
            else if (c == O_DISCOUNT) clo.discount_rate = x;
            else if (c == O_MINSUP) aso.min_support = x;
            else aso.min_confidence = x;
            break;
        }
        case O_NOASSOC: no_assoc = true; break;
        case O_ITEMS:
            if (!ly_an_item_level_parse(optarg, &level)) {
                fprintf(stderr, "loyal analyze: --items takes sku or category\n");
                code = LY_EXIT_USAGE;
            }
            break;
        case O_MINLEN:
            if (!ly__cli_parse_long(optarg, 1, 100, &v)) {
                fprintf(stderr, "loyal analyze: --min-len takes 1..100\n");
                code = LY_EXIT_USAGE;
            }
            aso.min_len = (unsigned)v;
            break;
        case O_MAXRULES:
            if (!ly__cli_parse_long(optarg, 0, 100000000, &v)) {
                fprintf(stderr, "loyal analyze: --max-rules takes a count (0 = all)\n");
                code = LY_EXIT_USAGE;
            }
            aso.max_rules = (size_t)v;
            break;
        case O_TIERRATES:
            if (!parseRates(optarg, tier_rates, &n_tiers)) {
                fprintf(stderr, "loyal analyze: --tier-rates takes 1 to %d percentages 0..100 "
                                "with at most 2 decimals, comma separated\n", LY_AN_TIERS_MAX);
                code = LY_EXIT_USAGE;
            }
            break;
        case O_POINTVALUE: point_value_text = optarg; break;
        case O_SAVE: save = true; break;
        case O_TIMINGS: timings = true; break;
        case O_PROGRAM: program = optarg; break;
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

    ly_money point_value = 0;
    if (!ly_decimal_parse(point_value_text, co.minor_units, &point_value) || point_value <= 0) {
        fprintf(stderr, "loyal analyze: --point-value takes an amount above 0 with at most %d "
                        "decimals, not '%s'\n", co.minor_units, point_value_text);
        ly_arena_free(&arena);
        return LY_EXIT_USAGE;
    }
    if (save && file) {
        fprintf(stderr, "loyal analyze: --save keeps figures in the database analysed: it needs "
                        "--db, not a file\n");
        ly_arena_free(&arena);
        return LY_EXIT_USAGE;
    }
    stageClock sc = {.on = timings, .t = ly_os_usec()};
    ly_an_baskets baskets;
    memset(&baskets, 0, sizeof baskets);
    if (!no_assoc) {
        if (!ly_an_baskets_init(&baskets, level)) {
            fprintf(stderr, "loyal analyze: out of memory\n");
            ly_arena_free(&arena);
            return LY_EXIT_SYSTEM;
        }
        ao.on_receipt = ly_an_baskets_hook;
        ao.hook_ctx = &baskets;
    }

    ly_error err;
    ly_error_clear(&err);
    ly_source src = {0};
    if (!file && !db) db = ly_cli_default_db();
    ly__cli_input input = {.src = &src};
    code = ly__cli_open_receipts("analyze", file, db, &co, sort, &input);
    ly_store *store = input.store;
    ly_an_result *res = NULL;
    if (code == LY_EXIT_OK && ly_an_run(&src, &ao, &res, &err) != LY_OK) {
        if (file && err.field[0])
            fprintf(stderr, "loyal analyze: %s: %s: %s (%s)\n", file, err.field, err.message, err.code);
        else
            fprintf(stderr, "loyal analyze: %s (%s)\n", err.message, err.code);
        code = err.kind == LY_ENOMEM ? LY_EXIT_SYSTEM : err.kind == LY_EIO ? LY_EXIT_SYSTEM : LY_EXIT_DATA;
    }
    /* The file is done with; the database stays open for --save. */
    input.store = NULL;
    ly__cli_close_receipts(&input);
    stageDone(&sc, "pass");

    /* The models, on the finished pass. */
    ly_an_clv clv;
    memset(&clv, 0, sizeof clv);
    if (code == LY_EXIT_OK && !no_clv) {
        if (ly_an_clv_fit(res, &clo, &clv, &err) != LY_OK) code = ly__cli_fail("analyze", &err);
        else if (!clv.fitted && !pc.quiet) fprintf(stderr, "analyze: no CLV: %s\n", clv.why);
        stageDone(&sc, "clv");
    }
    ly_assoc_result *rules = NULL;
    json_t *copurchases = NULL;
    if (code == LY_EXIT_OK && !no_assoc) {
        if (baskets.rc != LY_OK) {
            code = ly__cli_fail("analyze", &baskets.err);
        } else if (ly_assoc_mine(baskets.assoc, &aso, &rules, &err) == LY_OK) {
            copurchases = ly_report_copurchases_json(baskets.assoc, rules, &aso,
                                                     level == LY_AN_ITEM_SKU ? "sku" : "category");
        } else if (err.kind == LY_ETOOLARGE) {
            /* Too low a support for this many baskets: the rest of the analysis stands. */
            copurchases = json_pack("{s:s,s:s}", "error", err.code, "message", err.message);
            if (!pc.quiet) fprintf(stderr, "analyze: no co-purchases: %s\n", err.message);
        } else {
            code = ly__cli_fail("analyze", &err);
        }
        stageDone(&sc, "copurchases");
    }
    ly_an_tiers tiers;
    double cuts[LY_AN_TIERS_MAX];
    tierCuts(n_tiers, cuts);
    if (code == LY_EXIT_OK && ly_an_suggest_tiers(res, cuts, tier_rates, n_tiers, point_value, &tiers, &err) != LY_OK)
        code = ly__cli_fail("analyze", &err);

    json_t *doc = NULL;
    if (code == LY_EXIT_OK) {
        doc = ly_report_json(res, co.minor_units);
        if (doc && !no_clv) json_object_set_new(doc, "clv", ly_report_clv_json(&clv));
        if (doc && copurchases) json_object_set(doc, "copurchases", copurchases);
        if (doc) json_object_set_new(doc, "suggested_tiers", ly_report_tiers_json(&tiers, cuts));
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
        stageDone(&sc, "json");
    }
    if (code == LY_EXIT_OK && csv_path) {
        FILE *out = strcmp(csv_path, "-") == 0 ? stdout : fopen(csv_path, "wb");
        if (!out) {
            fprintf(stderr, "loyal analyze: %s: %s\n", csv_path, strerror(errno));
            code = LY_EXIT_SYSTEM;
        } else {
            if (ly_report_customers_csv(res, no_clv ? NULL : &clv, co.minor_units, out, &err) != LY_OK)
                code = ly__cli_fail("analyze", &err);
            if (out != stdout && fclose(out) != 0 && code == LY_EXIT_OK) code = LY_EXIT_SYSTEM;
        }
        stageDone(&sc, "customers-csv");
    }
    if (code == LY_EXIT_OK && save) {
        ly_analytics_models models = {.p_alive = clv.fitted ? clv.p_alive : NULL,
                                      .clv = clv.fitted ? clv.value : NULL};
        ly_analytics_run run;
        int64_t skipped = 0;
        if (ly_analytics_save(store, res, &models, ly_os_now(), &run, &skipped, &err) != LY_OK)
            code = ly__cli_fail("analyze", &err);
        else if (!pc.quiet)
            fprintf(stderr, "analyze: saved the figures of %lld customers in %s (run %lld)\n",
                    (long long)run.customers, db, (long long)run.id);
        stageDone(&sc, "save");
    }
    if (code == LY_EXIT_OK && html_path) {
        char source[300];
        if (file) snprintf(source, sizeof source, "%s (layout %s)", file, layoutName(co.layout));
        else snprintf(source, sizeof source, "Loyal database %s", db);
        json_t *view = ly_report_view(res, co.minor_units, source, currency);
        if (view && !no_clv) json_object_set_new(view, "clv", ly_report_clv_view(&clv));
        if (view && copurchases && !json_object_get(copurchases, "error"))
            json_object_set_new(view, "copurchases", ly_report_copurchases_view(copurchases, 15));
        json_t *mat = NULL;
        code = maturityView(file, db, program, &mat);
        if (view && mat) json_object_set_new(view, "maturity", mat);
        else json_decref(mat);
        ly_report_html_opts ho = {.minor_units = co.minor_units, .minor_units_set = true,
                                  .currency = currency};
        if (code != LY_EXIT_OK) {
            /* the program file named by --program could not be read: said already */
        } else if (!view) {
            fprintf(stderr, "loyal analyze: out of memory\n");
            code = LY_EXIT_SYSTEM;
        } else if (ly_report_html_write(view, &ho, html_path, &err) != LY_OK) {
            code = ly__cli_fail("analyze", &err);
        }
        json_decref(view);
        stageDone(&sc, "html");
    }
    if (code == LY_EXIT_OK && !pc.quiet)
        fprintf(stderr, "analyze: %lld receipts, %lld returns, %zu customers in %.2f s\n",
                (long long)res->receipts, (long long)res->returns, res->n_customers,
                (double)(ly_os_usec() - pc.start) / 1e6);
    json_decref(doc);
    json_decref(copurchases);
    ly_assoc_result_free(rules);
    ly_an_baskets_free(&baskets);
    ly_an_clv_free(&clv);
    ly_store_close(store);
    ly_an_result_free(res);
    ly_arena_free(&arena);
    return code;
}
