/*
 * offers.c - `loyal offers`: personal offers (docs/offers.md).
 *   loyal offers evaluate [FILE | --db PATH] --split-date DATE ...  the offline evaluation
 *   loyal offers show [FILE | --db PATH] --customer ID ...          one customer's offers
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "engage/engage.h"
#include "program/program.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loyal offers evaluate [FILE] [--db PATH] --split-date DATE [--horizon-days N]\n"
            "                             [--k N] [--json FILE] [input and model options]\n"
            "       loyal offers show [FILE] [--db PATH] --customer ID [--limit N] [--as-of DATE]\n"
            "                         [--program PATH] [input and model options]\n\n"
            "Personal offers from purchase history: items bought together with the customer's\n"
            "recent items, a category their look-alikes buy, a dearer item in a category they\n"
            "buy. 'evaluate' trains on sales before the split date and measures the hit rate\n"
            "at k on the later sales against a popularity baseline (JSON on standard output or\n"
            "--json FILE). 'show' prints one customer's offers (JSON); with --db (no --as-of)\n"
            "the offers preferences of the program file (--program PATH, else $LOYAL_PROGRAM\n"
            "when set) apply to the customer's profile attributes.\n\n"
            "input (FILE, else the database --db / $LOYAL_DB / ./loyal.db):\n"
            "  --layout L            loyal, online_retail, cdnow, cdnow_sample (default loyal)\n"
            "  --map FIELD=COLUMN,.. read a field from another column\n"
            "  --delimiter C         field delimiter (default ',', 'tab')\n"
            "  --minor-units N       decimals of the currency (default 2)\n"
            "  --sort                sort the receipts in memory first (files not in time order)\n"
            "model (defaults in docs/offers.md):\n"
            "  --max-basket N --max-pairs N --neighbours N --min-pair-count N --min-lift X\n"
            "  --anchors N --just-bought-days N --replenish-min N --lookalikes N\n"
            "  --min-lookalikes N --upgrade-min-pct N --upgrade-max-pct N --min-buyers N\n"
            "  --sku-prefix-category N --max-per-kind N\n"
            "  --quiet               no summary on standard error\n");
}

static int writeJson(json_t *j, const char *path)
{
    if (!j) {
        fprintf(stderr, "loyal offers: out of memory\n");
        return LY_EXIT_SYSTEM;
    }
    FILE *f = path && strcmp(path, "-") != 0 ? fopen(path, "wb") : stdout;
    if (!f) {
        fprintf(stderr, "loyal offers: %s: %s\n", path, strerror(errno));
        json_decref(j);
        return LY_EXIT_SYSTEM;
    }
    int bad = json_dumpf(j, f, JSON_INDENT(2) | JSON_REAL_PRECISION(8)) != 0;
    bad |= fputc('\n', f) == EOF;
    if (f != stdout) bad |= fclose(f) != 0;
    else bad |= fflush(f) != 0;
    json_decref(j);
    if (bad) {
        fprintf(stderr, "loyal offers: cannot write %s\n", path ? path : "standard output");
        return LY_EXIT_SYSTEM;
    }
    return LY_EXIT_OK;
}

int ly_cli_offers(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? LY_EXIT_USAGE : LY_EXIT_OK;
    }
    bool evaluate = strcmp(argv[1], "evaluate") == 0;
    if (!evaluate && strcmp(argv[1], "show") != 0) {
        fprintf(stderr, "loyal offers: unknown action '%s' (evaluate, show)\n", argv[1]);
        return LY_EXIT_USAGE;
    }
    argc--;
    argv++;
    enum {
        O_DB = 256, O_LAYOUT, O_MAP, O_DELIM, O_MINOR, O_SORT, O_SPLIT, O_HORIZON, O_K, O_JSON,
        O_CUSTOMER, O_LIMIT, O_ASOF, O_MAXBASKET, O_MAXPAIRS, O_NEIGH, O_MINPAIR, O_MINLIFT,
        O_ANCHORS, O_JUST, O_REPL, O_LOOK, O_MINLOOK, O_UPMIN, O_UPMAX, O_MINBUY, O_PREFIX,
        O_PERKIND, O_PROGRAM
    };
    static const struct option opts[] = {
        {"db", required_argument, 0, O_DB},
        {"layout", required_argument, 0, O_LAYOUT},
        {"map", required_argument, 0, O_MAP},
        {"delimiter", required_argument, 0, O_DELIM},
        {"minor-units", required_argument, 0, O_MINOR},
        {"sort", no_argument, 0, O_SORT},
        {"split-date", required_argument, 0, O_SPLIT},
        {"horizon-days", required_argument, 0, O_HORIZON},
        {"k", required_argument, 0, O_K},
        {"json", required_argument, 0, O_JSON},
        {"customer", required_argument, 0, O_CUSTOMER},
        {"limit", required_argument, 0, O_LIMIT},
        {"as-of", required_argument, 0, O_ASOF},
        {"max-basket", required_argument, 0, O_MAXBASKET},
        {"max-pairs", required_argument, 0, O_MAXPAIRS},
        {"neighbours", required_argument, 0, O_NEIGH},
        {"min-pair-count", required_argument, 0, O_MINPAIR},
        {"min-lift", required_argument, 0, O_MINLIFT},
        {"anchors", required_argument, 0, O_ANCHORS},
        {"just-bought-days", required_argument, 0, O_JUST},
        {"replenish-min", required_argument, 0, O_REPL},
        {"lookalikes", required_argument, 0, O_LOOK},
        {"min-lookalikes", required_argument, 0, O_MINLOOK},
        {"upgrade-min-pct", required_argument, 0, O_UPMIN},
        {"upgrade-max-pct", required_argument, 0, O_UPMAX},
        {"min-buyers", required_argument, 0, O_MINBUY},
        {"sku-prefix-category", required_argument, 0, O_PREFIX},
        {"max-per-kind", required_argument, 0, O_PERKIND},
        {"program", required_argument, 0, O_PROGRAM},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ly_arena arena = {0};
    ly_offers_options mo;
    ly_offers_options_default(&mo);
    ly_an_csv_options co = {.layout = LY_AN_LAYOUT_LOYAL, .delimiter = ',', .minor_units = 2};
    const char **map = NULL;
    size_t n_map = 0, map_cap = 0;
    const char *db = NULL, *json_path = NULL, *customer = NULL, *program_path = NULL;
    bool sort = false, quiet = false, split_set = false, asof_set = false;
    int64_t split_day = 0, asof_day = 0;
    long horizon = 0, k = 10, limit = 10, v;
    int code = -1, c, li = -1;
    optind = 1;
    while (code < 0 && (c = getopt_long(argc, argv, "hq", opts, &li)) != -1) {
        /* the integer options share one range check */
        long *dst = NULL, lo = 0, hi = 1000000000;
        switch (c) {
        case O_DB: db = optarg; break;
        case O_LAYOUT:
            if (!ly__cli_layout_parse("offers", optarg, &co)) code = LY_EXIT_USAGE;
            break;
        case O_MAP:
            if (!ly__cli_map_parse("offers", optarg, &arena, &map, &n_map, &map_cap)) code = LY_EXIT_USAGE;
            break;
        case O_DELIM:
            if (!ly__cli_delimiter_parse("offers", optarg, &co)) code = LY_EXIT_USAGE;
            break;
        case O_SORT: sort = true; break;
        case O_SPLIT:
        case O_ASOF: {
            int64_t d;
            if (!ly_date_parse(optarg, &d)) {
                fprintf(stderr, "loyal offers: %s takes a date YYYY-MM-DD, not '%s'\n",
                        c == O_SPLIT ? "--split-date" : "--as-of", optarg);
                code = LY_EXIT_USAGE;
            } else if (c == O_SPLIT) {
                split_day = d;
                split_set = true;
            } else {
                asof_day = d;
                asof_set = true;
            }
            break;
        }
        case O_JSON: json_path = optarg; break;
        case O_PROGRAM: program_path = optarg; break;
        case O_CUSTOMER: customer = optarg; break;
        case O_MINLIFT: {
            char *end;
            errno = 0;
            double x = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(x >= 0) || x > 1000) {
                fprintf(stderr, "loyal offers: --min-lift takes a number 0..1000\n");
                code = LY_EXIT_USAGE;
            }
            mo.min_lift = x;
            break;
        }
        case 'q': quiet = true; break;
        case 'h':
            usage(stdout);
            code = LY_EXIT_OK;
            break;
        case O_MINOR: dst = &v, hi = 6; break;
        case O_HORIZON: dst = &horizon, hi = 36500; break;
        case O_K: dst = &k, lo = 1, hi = 100; break;
        case O_LIMIT: dst = &limit, lo = 1, hi = 100; break;
        case O_MAXBASKET: dst = &v, lo = 2, hi = 100000; break;
        case O_MAXPAIRS: dst = &v, lo = 1; break;
        case O_NEIGH: case O_MINPAIR: case O_ANCHORS: case O_REPL: case O_LOOK:
        case O_MINLOOK: case O_MINBUY: case O_PREFIX: case O_PERKIND:
            dst = &v, hi = 100000;
            break;
        case O_JUST: dst = &v, hi = 36500; break;
        case O_UPMIN: case O_UPMAX: dst = &v, lo = 100, hi = 100000; break;
        default: code = LY_EXIT_USAGE; break;
        }
        if (!dst || code >= 0) continue;
        if (!ly__cli_parse_long(optarg, lo, hi, dst)) {
            fprintf(stderr, "loyal offers: --%s takes an integer %ld..%ld, not '%s'\n",
                    li >= 0 ? opts[li].name : "?", lo, hi, optarg);
            code = LY_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case O_MINOR: co.minor_units = mo.minor_units = (int)v; break;
        case O_MAXBASKET: mo.max_basket = (uint32_t)v; break;
        case O_MAXPAIRS: mo.max_pairs = (size_t)v; break;
        case O_NEIGH: mo.neighbours = (uint32_t)v; break;
        case O_MINPAIR: mo.min_pair_count = (uint32_t)v; break;
        case O_ANCHORS: mo.anchors = (uint32_t)v; break;
        case O_JUST: mo.just_bought_days = (int)v; break;
        case O_REPL: mo.replenish_min = (uint32_t)v; break;
        case O_LOOK: mo.lookalikes = (uint32_t)v; break;
        case O_MINLOOK: mo.min_lookalikes = (uint32_t)v; break;
        case O_UPMIN: mo.upgrade_min_pct = (int)v; break;
        case O_UPMAX: mo.upgrade_max_pct = (int)v; break;
        case O_MINBUY: mo.min_buyers = (uint32_t)v; break;
        case O_PREFIX: mo.sku_prefix_category = (uint32_t)v; break;
        case O_PERKIND: mo.max_per_kind = (uint32_t)v; break;
        default: break;
        }
    }
    const char *file = NULL;
    if (code < 0 && optind < argc) file = argv[optind++];
    if (code < 0 && optind < argc) {
        fprintf(stderr, "loyal offers: unexpected argument '%s'\n", argv[optind]);
        code = LY_EXIT_USAGE;
    }
    if (code < 0 && file && db) {
        fprintf(stderr, "loyal offers: give a FILE or --db, not both\n");
        code = LY_EXIT_USAGE;
    }
    if (code < 0 && evaluate && !split_set) {
        fprintf(stderr, "loyal offers evaluate: --split-date is required\n");
        code = LY_EXIT_USAGE;
    }
    if (code < 0 && evaluate && program_path) {
        fprintf(stderr, "loyal offers evaluate: --program is for show (offers preferences read "
                        "profiles, which a history has not)\n");
        code = LY_EXIT_USAGE;
    }
    if (code < 0 && !evaluate && !customer) {
        fprintf(stderr, "loyal offers show: --customer is required\n");
        code = LY_EXIT_USAGE;
    }
    if (code < 0 && mo.upgrade_max_pct < mo.upgrade_min_pct) {
        fprintf(stderr, "loyal offers: --upgrade-max-pct is below --upgrade-min-pct\n");
        code = LY_EXIT_USAGE;
    }
    if (code >= 0) {
        ly_arena_free(&arena);
        return code;
    }
    co.map = map;
    co.n_map = n_map;

    /* The source: a file, or the database. */
    ly_error err;
    ly_error_clear(&err);
    ly_source src = {0};
    ly__cli_input input = {.src = &src};
    code = ly__cli_open_receipts("offers", file, db, &co, sort, &input);
    ly_store *store = input.store;

    json_t *out = NULL;
    ly_error_clear(&err);
    /* The offers preferences (engage/offers_prefs.c) need profiles: --db without --as-of. */
    ly_program prog;
    bool have_prog = false;
    const char *pp = program_path ? program_path : getenv("LOYAL_PROGRAM");
    if (code == LY_EXIT_OK && !evaluate && store && !asof_set && pp && *pp) {
        if (ly_program_load(pp, &prog, &err) != LY_OK) code = ly__cli_fail("offers", &err);
        else have_prog = true;
    }
    if (code == LY_EXIT_OK && evaluate) {
        ly_offers_eval_options eo = {.model = mo, .split_day = split_day,
                                     .horizon_days = (int)horizon, .k = (size_t)k};
        ly_offers_eval ev;
        if (ly_offers_evaluate(&src, &eo, &ev, &err) != LY_OK) {
            code = ly__cli_fail("offers", &err);
        } else {
            if (!quiet)
                fprintf(stderr,
                        "offers: %" PRId64 " customers evaluated: hit rate at %ld %.4f (popularity "
                        "%.4f)\n", ev.offers.customers, k,
                        ev.offers.customers ? (double)ev.offers.customers_hit / ev.offers.customers : 0.0,
                        ev.popularity.customers ? (double)ev.popularity.customers_hit / ev.popularity.customers : 0.0);
            out = ly_offers_eval_json(&ev);
            if (!out) code = LY_EXIT_SYSTEM;
        }
    } else if (code == LY_EXIT_OK) {
        if (asof_set) {
            mo.as_of_set = true;
            mo.as_of_day = asof_day;
        }
        ly_offers_model *m = NULL;
        if (ly_offers_model_build(&src, &mo, &m, &err) != LY_OK) {
            code = ly__cli_fail("offers", &err);
        } else {
            ly_offer *offers = NULL;
            size_t n = 0;
            ly_offers_stats st;
            ly_offers_model_stats(m, &st);
            int64_t as_of = asof_set ? asof_day : st.last_day + 1;
            int64_t id = 0;
            ly_err rc;
            if (store && !asof_set) {
                char *end;
                errno = 0;
                long long x = strtoll(customer, &end, 10);
                if (errno || *end || x <= 0) {
                    fprintf(stderr, "loyal offers show: --customer takes a customer id with --db\n");
                    code = LY_EXIT_USAGE;
                    rc = LY_EINVAL;
                } else {
                    rc = ly_offers_for_customer_prefs(store, m, have_prog ? &prog : NULL,
                                                      (int64_t)x, (size_t)limit, &arena,
                                                      &offers, &n, &id, &err);
                    as_of = ly_offers_today(m);
                    if (rc) code = ly__cli_fail("offers", &err);
                }
            } else {
                rc = ly_offers_for_key(m, customer, as_of, (size_t)limit, &arena, &offers, &n, &err);
                if (rc) code = ly__cli_fail("offers", &err);
                char *end;
                long long x = strtoll(customer, &end, 10);
                id = *end ? 0 : (int64_t)x;
            }
            if (!rc) {
                out = ly_offers_json(id, as_of, m, offers, n);
                if (out && !id) json_object_set_new(out, "customer_id", json_string(customer));
                if (!out) code = LY_EXIT_SYSTEM;
            }
            ly_offers_model_free(m);
        }
    }
    if (have_prog) ly_program_free(&prog); /* after the JSON: offers point at its preferences */
    ly__cli_close_receipts(&input);
    if (code == LY_EXIT_OK) code = writeJson(out, json_path);
    else json_decref(out);
    ly_arena_free(&arena);
    return code;
}
