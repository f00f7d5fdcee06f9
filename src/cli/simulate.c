/*
 * simulate.c - `loyal simulate`: a synthetic retailer's purchase history with known truth
 * (docs/simulate.md). Parses the flags into an ly_sim_config, streams the receipts as the
 * import CSV to a file or standard output, and writes the truth files. With --db the CSV
 * goes to a file (--output, or a temporary file that is removed afterwards) which is then
 * loaded by calling `loyal import` itself (ly_cli_import), so the data takes exactly the
 * path a user's export takes.
 */
#include "cli/cli.h"
#include "os/os.h"
#include "program/program.h"
#include "sim/sim.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char simulateHelp[] =
    "usage: loyal simulate [OPTIONS]\n\n"
    "Makes a synthetic grocery retailer's purchase history whose truth is known: deals by\n"
    "BG/NBD, deal values by Gamma-Gamma, planted combos, add-ons, anonymous receipts and\n"
    "returns. Writes Loyal's import CSV (layout loyal); the same seed gives the same bytes.\n\n"
    "Size and time:\n"
    "  --customers N         customers (default 1000; 0 with --lines: as many as needed)\n"
    "  --lines N             stop after the customer that brings the rows to N\n"
    "  --seed S              the seed, 0..2^64-1 (default 1)\n"
    "  --start DATE          first day (default 2024-01-01)\n"
    "  --end DATE            last day, included (default 2024-12-31)\n"
    "  --enrol-until DATE    first purchases fall in --start..DATE (default: mid-period)\n"
    "  --utc-offset +HH:MM   offset written with every time (default +03:00)\n"
    "  --minor-units N       currency decimals (default 2, or the program's with --db)\n"
    "Purchases (BG/NBD) and spend (Gamma-Gamma):\n"
    "  --time-unit U         days (default) or weeks: the unit of lambda and alpha\n"
    "  --bg-r X --bg-alpha X lambda ~ Gamma(r, rate alpha) (default 0.9, 10)\n"
    "  --bg-a X --bg-b X     dropout p ~ Beta(a, b) (default 1.5, 15)\n"
    "  --gg-p X --gg-q X --gg-gamma X\n"
    "                        deal value ~ Gamma(p, nu), nu ~ Gamma(q, gamma); gamma in\n"
    "                        currency units (default 6, 4, 600: mean p*gamma/(q-1) = 1200)\n"
    "Planted patterns:\n"
    "  --addon-share X       add-on purchases / identified purchases, < 0.5 (default 0.3)\n"
    "  --addon-days N        add-ons within N days of the deal; 0: same day (default 3)\n"
    "  --combo NAME=SKU+SKU[+SKU..]:PROB\n"
    "                        a co-purchase (repeatable; replaces the default three:\n"
    "                        coffee_pastry, pasta_sauce, beer_chips)\n"
    "  --no-combos           plant no combos\n"
    "  --anonymous-share X   anonymous receipts / sale receipts, <= 0.9 (default 0.2)\n"
    "  --return-share X      probability a sale is returned (default 0.03)\n"
    "  --return-full X       probability a return is of everything (default 0.5)\n"
    "  --return-days N       returns 1..N days after the sale (default 14)\n"
    "Customers, stores, catalogue:\n"
    "  --card-share X        customers with a card (default 0.85)\n"
    "  --phone-share X       customers with a phone (default 0.6)\n"
    "  --stores N            physical stores, 1..99 (default 5)\n"
    "  --cashiers N          cashiers per store, 1..99 (default 4)\n"
    "  --channels store=W,online=W,app=W   (default 0.8, 0.12, 0.08)\n"
    "  --payments NAME=W,... payment types and weights (default card=0.6,cash=0.3,qr=0.1)\n"
    "  --skus-per-category N 1..48 (default 24)\n"
    "  --max-lines N         most lines a basket grows to, 10..960 (default 150)\n"
    "Output:\n"
    "  -o, --output FILE     the CSV (default: standard output; '-' too)\n"
    "  --truth FILE          the truth as JSON: parameters, exact counts, catalogue\n"
    "  --truth-customers FILE  one CSV line of truth per customer\n"
    "  --db PATH             load the CSV into this database with `loyal import`\n"
    "  --program PATH        the program file for the import\n"
    "  --quiet               no summary on standard error\n\n"
    "Exit codes: 0 done, 2 usage, 3 bad data (import), 4 storage or system error.\n";

static int usageError(const char *fmt, const char *arg)
{
    fputs("loyal simulate: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n(see loyal simulate --help)\n", stderr);
    return LY_EXIT_USAGE;
}

static bool parseInt(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s) return false;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return false;
    if (strlen(s) > 18) return false;
    int64_t v = strtoll(s, NULL, 10);
    if (v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parseSmall(const char *s, int lo, int hi, int *out)
{
    int64_t v;
    if (!parseInt(s, lo, hi, &v)) return false;
    *out = (int)v;
    return true;
}

static bool parseMicro(const char *s, ly_sim_micro *out)
{
    int64_t v;
    if (!ly_decimal_parse(s, 6, &v) || v < 0) return false;
    *out = v;
    return true;
}

static bool parseOffset(const char *s, int *out)
{
    if (strcmp(s, "Z") == 0) {
        *out = 0;
        return true;
    }
    if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':') return false;
    int h = 0, m = 0;
    for (int i = 1; i < 6; i++) {
        if (i == 3) continue;
        if (s[i] < '0' || s[i] > '9') return false;
    }
    h = (s[1] - '0') * 10 + (s[2] - '0');
    m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59) return false;
    *out = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return true;
}

/* "name=w,name=w": calls fn for each pair. */
static bool parseWeights(const char *arg, bool (*fn)(void *ctx, const char *name, size_t n, ly_sim_micro w),
                         void *ctx)
{
    const char *p = arg;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq || eq == p) return false;
        const char *end = strchr(eq + 1, ',');
        if (!end) end = eq + strlen(eq);
        char num[32];
        size_t len = (size_t)(end - eq - 1);
        if (len == 0 || len >= sizeof num) return false;
        memcpy(num, eq + 1, len);
        num[len] = '\0';
        ly_sim_micro w;
        if (!parseMicro(num, &w)) return false;
        if (!fn(ctx, p, (size_t)(eq - p), w)) return false;
        p = *end ? end + 1 : end;
    }
    return true;
}

static bool onChannel(void *ctx, const char *name, size_t n, ly_sim_micro w)
{
    ly_sim_config *c = ctx;
    static const char *const names[3] = {"store", "online", "app"};
    for (int i = 0; i < 3; i++)
        if (strlen(names[i]) == n && strncmp(names[i], name, n) == 0) {
            c->channel_w[i] = w;
            return true;
        }
    return false;
}

static bool onPayment(void *ctx, const char *name, size_t n, ly_sim_micro w)
{
    ly_sim_config *c = ctx;
    if (c->n_payments == LY_SIM_MAX_PAYMENTS || n >= LY_SIM_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '"' || name[i] == '\n' || name[i] == '\r') return false;
    memcpy(c->payments[c->n_payments], name, n);
    c->payments[c->n_payments][n] = '\0';
    c->payment_w[c->n_payments++] = w;
    return true;
}

/* NAME=SKU+SKU[+SKU...]:PROB */
static bool parseCombo(const char *arg, ly_sim_combo *cb)
{
    memset(cb, 0, sizeof *cb);
    const char *eq = strchr(arg, '=');
    const char *colon = strrchr(arg, ':');
    if (!eq || !colon || colon < eq || eq == arg || (size_t)(eq - arg) >= sizeof cb->name) return false;
    memcpy(cb->name, arg, (size_t)(eq - arg));
    for (const char *p = cb->name; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) return false;
    if (!parseMicro(colon + 1, &cb->prob)) return false;
    const char *p = eq + 1;
    while (p < colon) {
        const char *plus = memchr(p, '+', (size_t)(colon - p));
        const char *end = plus ? plus : colon;
        size_t n = (size_t)(end - p);
        if (n == 0 || n >= LY_SIM_NAME_MAX || cb->n_skus == LY_SIM_MAX_COMBO_SKUS) return false;
        memcpy(cb->skus[cb->n_skus], p, n);
        cb->skus[cb->n_skus++][n] = '\0';
        p = end + (plus ? 1 : 0);
        if (plus && p == colon) return false;
    }
    return cb->n_skus >= 2;
}

/* Where the receipts and customers go while the simulator runs. */
typedef struct outputs {
    const ly_sim *s;
    ly_sim_csv *csv;
    FILE *customers; /* NULL: no per-customer truth */
    bool failed;
} outputs;

static int onReceipt(void *ctx, const ly_sim_receipt *r)
{
    outputs *o = ctx;
    if (ly_sim_csv_receipt(o->csv, r) == 0) return 0;
    o->failed = true;
    return 1;
}

static int onCustomer(void *ctx, const ly_sim_customer *c)
{
    outputs *o = ctx;
    if (!o->customers || ly_sim_customer_csv(o->customers, o->s, c) == 0) return 0;
    o->failed = true;
    return 1;
}

static FILE *openOut(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f) fprintf(stderr, "loyal simulate: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

enum {
    O_CUSTOMERS = 256, O_LINES, O_SEED, O_START, O_END, O_ENROL, O_OFFSET, O_MINOR, O_UNIT,
    O_BG_R, O_BG_ALPHA, O_BG_A, O_BG_B, O_GG_P, O_GG_Q, O_GG_GAMMA,
    O_ADDON_SHARE, O_ADDON_DAYS, O_COMBO, O_NO_COMBOS, O_ANON, O_RET_SHARE, O_RET_FULL, O_RET_DAYS,
    O_CARD, O_PHONE, O_STORES, O_CASHIERS, O_CHANNELS, O_PAYMENTS, O_SKUS, O_MAX_LINES,
    O_TRUTH, O_TRUTH_CUST, O_DB, O_PROGRAM, O_QUIET
};

int ly_cli_simulate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"customers", required_argument, 0, O_CUSTOMERS}, {"lines", required_argument, 0, O_LINES},
        {"seed", required_argument, 0, O_SEED}, {"start", required_argument, 0, O_START},
        {"end", required_argument, 0, O_END}, {"enrol-until", required_argument, 0, O_ENROL},
        {"utc-offset", required_argument, 0, O_OFFSET}, {"minor-units", required_argument, 0, O_MINOR},
        {"time-unit", required_argument, 0, O_UNIT}, {"bg-r", required_argument, 0, O_BG_R},
        {"bg-alpha", required_argument, 0, O_BG_ALPHA}, {"bg-a", required_argument, 0, O_BG_A},
        {"bg-b", required_argument, 0, O_BG_B}, {"gg-p", required_argument, 0, O_GG_P},
        {"gg-q", required_argument, 0, O_GG_Q}, {"gg-gamma", required_argument, 0, O_GG_GAMMA},
        {"addon-share", required_argument, 0, O_ADDON_SHARE}, {"addon-days", required_argument, 0, O_ADDON_DAYS},
        {"combo", required_argument, 0, O_COMBO}, {"no-combos", no_argument, 0, O_NO_COMBOS},
        {"anonymous-share", required_argument, 0, O_ANON}, {"return-share", required_argument, 0, O_RET_SHARE},
        {"return-full", required_argument, 0, O_RET_FULL}, {"return-days", required_argument, 0, O_RET_DAYS},
        {"card-share", required_argument, 0, O_CARD}, {"phone-share", required_argument, 0, O_PHONE},
        {"stores", required_argument, 0, O_STORES}, {"cashiers", required_argument, 0, O_CASHIERS},
        {"channels", required_argument, 0, O_CHANNELS}, {"payments", required_argument, 0, O_PAYMENTS},
        {"skus-per-category", required_argument, 0, O_SKUS}, {"max-lines", required_argument, 0, O_MAX_LINES},
        {"output", required_argument, 0, 'o'}, {"truth", required_argument, 0, O_TRUTH},
        {"truth-customers", required_argument, 0, O_TRUTH_CUST}, {"db", required_argument, 0, O_DB},
        {"program", required_argument, 0, O_PROGRAM}, {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    ly_sim_config cfg;
    ly_sim_config_default(&cfg);
    const char *out_path = NULL, *truth_path = NULL, *cust_path = NULL, *db = NULL, *program = NULL;
    bool quiet = false, enrol_given = false, minor_given = false, customers_given = false;
    bool combos_given = false, payments_given = false;
    int c;
    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        const char *a = optarg;
        bool ok = true;
        switch (c) {
        case 'h': fputs(simulateHelp, stdout); return LY_EXIT_OK;
        case 'o': out_path = a; break;
        case O_CUSTOMERS: ok = parseInt(a, 0, 100000000, &cfg.customers); customers_given = true; break;
        case O_LINES: ok = parseInt(a, 1, INT64_C(100000000000), &cfg.lines); break;
        case O_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(a, &end, 10);
            ok = *a >= '0' && *a <= '9' && !*end && errno == 0;
            cfg.seed = v;
            break;
        }
        case O_START: ok = ly_date_parse(a, &cfg.start_day); break;
        case O_END: ok = ly_date_parse(a, &cfg.end_day); break;
        case O_ENROL: ok = ly_date_parse(a, &cfg.enrol_end_day); enrol_given = true; break;
        case O_OFFSET: ok = parseOffset(a, &cfg.utc_offset_min); break;
        case O_MINOR: ok = parseSmall(a, 0, 4, &cfg.minor_units); minor_given = true; break;
        case O_UNIT:
            if (strcmp(a, "days") == 0 || strcmp(a, "day") == 0) cfg.unit = LY_SIM_DAYS;
            else if (strcmp(a, "weeks") == 0 || strcmp(a, "week") == 0) cfg.unit = LY_SIM_WEEKS;
            else ok = false;
            break;
        case O_BG_R: ok = parseMicro(a, &cfg.r); break;
        case O_BG_ALPHA: ok = parseMicro(a, &cfg.alpha); break;
        case O_BG_A: ok = parseMicro(a, &cfg.a); break;
        case O_BG_B: ok = parseMicro(a, &cfg.b); break;
        case O_GG_P: ok = parseMicro(a, &cfg.gg_p); break;
        case O_GG_Q: ok = parseMicro(a, &cfg.gg_q); break;
        case O_GG_GAMMA: ok = parseMicro(a, &cfg.gg_gamma); break;
        case O_ADDON_SHARE: ok = parseMicro(a, &cfg.addon_share); break;
        case O_ADDON_DAYS: ok = parseSmall(a, 0, 365, &cfg.addon_days); break;
        case O_COMBO:
            if (!combos_given) cfg.n_combos = 0;
            combos_given = true;
            if (cfg.n_combos == LY_SIM_MAX_COMBOS) return usageError("at most 8 combos (%s)", a);
            ok = parseCombo(a, &cfg.combos[cfg.n_combos]);
            if (!ok) return usageError("--combo %s: use NAME=SKU+SKU[+SKU+SKU]:PROBABILITY, "
                                       "e.g. coffee_pastry=CAF-1-2+BAK-4-2:0.08", a);
            cfg.n_combos++;
            break;
        case O_NO_COMBOS: cfg.n_combos = 0; combos_given = true; break;
        case O_ANON: ok = parseMicro(a, &cfg.anonymous_share); break;
        case O_RET_SHARE: ok = parseMicro(a, &cfg.return_share); break;
        case O_RET_FULL: ok = parseMicro(a, &cfg.return_full); break;
        case O_RET_DAYS: ok = parseSmall(a, 1, 365, &cfg.return_days); break;
        case O_CARD: ok = parseMicro(a, &cfg.card_share); break;
        case O_PHONE: ok = parseMicro(a, &cfg.phone_share); break;
        case O_STORES: ok = parseSmall(a, 1, 99, &cfg.stores); break;
        case O_CASHIERS: ok = parseSmall(a, 1, 99, &cfg.cashiers); break;
        case O_CHANNELS:
            cfg.channel_w[0] = cfg.channel_w[1] = cfg.channel_w[2] = 0;
            ok = parseWeights(a, onChannel, &cfg);
            break;
        case O_PAYMENTS:
            if (!payments_given) cfg.n_payments = 0;
            payments_given = true;
            ok = parseWeights(a, onPayment, &cfg);
            break;
        case O_SKUS: ok = parseSmall(a, 1, 48, &cfg.skus_per_category); break;
        case O_MAX_LINES: ok = parseSmall(a, 10, 960, &cfg.max_lines); break;
        case O_TRUTH: truth_path = a; break;
        case O_TRUTH_CUST: cust_path = a; break;
        case O_DB: db = a; break;
        case O_PROGRAM: program = a; break;
        case O_QUIET: quiet = true; break;
        default: fputs(simulateHelp, stderr); return LY_EXIT_USAGE;
        }
        if (!ok) {
            const char *name = "?";
            for (size_t i = 0; opts[i].name; i++)
                if (opts[i].val == c) name = opts[i].name;
            fprintf(stderr, "loyal simulate: --%s: '%s' is not valid (see loyal simulate --help)\n", name, a);
            return LY_EXIT_USAGE;
        }
    }
    if (optind != argc) return usageError("unexpected argument '%s'", argv[optind]);
    if (cfg.lines && !customers_given) cfg.customers = 0;
    if (!enrol_given && cfg.end_day >= cfg.start_day)
        cfg.enrol_end_day = cfg.start_day + (cfg.end_day - cfg.start_day) / 2;
    if (db) {
        const char *prog_path = program ? program : ly_cli_default_program();
        ly_program prog;
        ly_error perr;
        ly_error_clear(&perr);
        if (ly_program_load(prog_path, &prog, &perr) != LY_OK) {
            fprintf(stderr, "loyal simulate: program %s: %s%s%s\n", prog_path, perr.field,
                    perr.field[0] ? ": " : "", perr.message);
            return LY_EXIT_DATA;
        }
        int prog_minor = prog.minor_units;
        ly_program_free(&prog); /* only its currency's decimals were needed */
        if (!minor_given) cfg.minor_units = prog_minor;
        else if (cfg.minor_units != prog_minor) {
            /* Amounts are rounded to the simulator's minor unit: with another one than the
             * program's they would not be qty x price rounded as the import rounds it. */
            fprintf(stderr, "loyal simulate: --minor-units %d: the program's currency has %d\n",
                    cfg.minor_units, prog_minor);
            return LY_EXIT_USAGE;
        }
        if (access(db, F_OK) != 0) {
            fprintf(stderr, "loyal simulate: no database %s (create it with loyal init)\n", db);
            return LY_EXIT_SYSTEM;
        }
    }

    ly_error err;
    ly_error_clear(&err);
    ly_sim *s;
    if (ly_sim_open(&cfg, &s, &err) != LY_OK) {
        if (err.kind == LY_EINVAL) {
            fprintf(stderr, "loyal simulate: --%s: %s\n", err.field, err.message);
            return LY_EXIT_USAGE;
        }
        fprintf(stderr, "loyal simulate: %s\n", err.message);
        return LY_EXIT_SYSTEM;
    }

    /* Where the CSV goes. */
    char tmp_path[4096] = "";
    FILE *out = NULL;
    int code = LY_EXIT_OK;
    if (out_path && strcmp(out_path, "-") != 0) {
        out = openOut(out_path);
    } else if (db) {
        const char *dir = getenv("TMPDIR");
        snprintf(tmp_path, sizeof tmp_path, "%s/loyal-simulate-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(tmp_path);
        if (fd < 0 || !(out = fdopen(fd, "wb"))) {
            fprintf(stderr, "loyal simulate: cannot make a temporary file %s: %s\n", tmp_path, strerror(errno));
            if (fd >= 0) close(fd);
            tmp_path[0] = '\0';
        }
        out_path = tmp_path;
    } else {
        out = stdout;
        out_path = "-";
    }
    outputs o = {.s = s};
    if (!out) code = LY_EXIT_SYSTEM;
    if (code == LY_EXIT_OK && cust_path) {
        o.customers = openOut(cust_path);
        if (!o.customers || ly_sim_customer_csv(o.customers, s, NULL) != 0) code = LY_EXIT_SYSTEM;
    }
    if (code == LY_EXIT_OK && !(o.csv = ly_sim_csv_open(s, out))) {
        fprintf(stderr, "loyal simulate: out of memory\n");
        code = LY_EXIT_SYSTEM;
    }
    uint64_t t0 = ly_os_usec();
    if (code == LY_EXIT_OK) {
        int v = ly_sim_run(s, onReceipt, onCustomer, &o, &err);
        if (v < 0) {
            fprintf(stderr, "loyal simulate: %s\n", err.message);
            code = LY_EXIT_SYSTEM;
        }
    }
    if (o.csv && ly_sim_csv_close(o.csv) != 0) o.failed = true;
    if (out && out != stdout && fclose(out) != 0) o.failed = true;
    if (o.customers && fclose(o.customers) != 0) o.failed = true;
    if (code == LY_EXIT_OK && o.failed) {
        fprintf(stderr, "loyal simulate: writing %s failed: %s\n", out_path, strerror(errno));
        code = LY_EXIT_SYSTEM;
    }
    double secs = (double)(ly_os_usec() - t0) / 1e6;
    const ly_sim_truth *t = ly_sim_truth_get(s);
    if (code == LY_EXIT_OK && truth_path) {
        FILE *f = openOut(truth_path);
        if (!f || ly_sim_truth_write(s, f) != 0) {
            if (f) fprintf(stderr, "loyal simulate: writing %s failed\n", truth_path);
            code = LY_EXIT_SYSTEM;
        }
        if (f && fclose(f) != 0) code = LY_EXIT_SYSTEM;
    }
    if (code == LY_EXIT_OK && !quiet)
        fprintf(stderr, "simulate: %lld customers, %lld receipts (%lld returns), %lld lines in %.2f s\n",
                (long long)t->customers, (long long)t->receipts, (long long)t->returns,
                (long long)t->lines, secs);
    ly_sim_close(s);

    if (code == LY_EXIT_OK && db) {
        /* The same path as a user's file: `loyal import --db DB [--program P] FILE`. */
        char *args[8];
        int n = 0;
        args[n++] = "import";
        args[n++] = "--db";
        args[n++] = (char *)db;
        if (program) {
            args[n++] = "--program";
            args[n++] = (char *)program;
        }
        if (quiet) args[n++] = "--quiet";
        args[n++] = (char *)out_path;
        args[n] = NULL;
        fflush(stdout);
        code = ly_cli_import(n, args);
    }
    if (tmp_path[0]) unlink(tmp_path);
    return code;
}
