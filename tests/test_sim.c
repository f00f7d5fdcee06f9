/*
 * test_sim.c - the retail simulator (`loyal simulate`, src/sim): its random numbers, that a
 * seed gives the same bytes, that the output imports with `loyal import`, and that the data
 * it makes follows the truth it plants (BG/NBD deal counts, Gamma-Gamma values, add-on
 * share, combos, anonymous receipts, returns), with tolerances from the sample sizes.
 */
#include "testlib.h"

#include "os/csv.h"
#include "sim/sim.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static void expectCode(const tl_run *r, int code, const char *what)
{
    if (r->code != code)
        fail_msg("%s: exit %d, expected %d\nstdout:\n%.2000s\nstderr:\n%.2000s", what, r->code, code, r->out,
                 r->err);
}

/* The number after "label: " in a summary. */
static long summaryValue(const char *out, const char *label)
{
    char key[128];
    snprintf(key, sizeof key, "%s: ", label);
    const char *p = strstr(out, key);
    if (!p) fail_msg("no '%s' in the summary:\n%s", label, out);
    return strtol(p + strlen(key), NULL, 10);
}

static long long q(const char *dbpath, const char *sql)
{
    sqlite3 *db;
    if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", dbpath, sqlite3_errmsg(db));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row", sql);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A decimal "123.45" as minor units (2 decimals). */
static long long money(const char *s)
{
    int64_t v = 0;
    if (!ly_decimal_parse(s, 2, &v)) fail_msg("'%s' is not money", s);
    return v;
}

static const char programJson[] =
    "{\"name\":\"Sim\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"min_redeem\":1,\"hold_days\":14,"
    "\"expiry_days\":365,\"on_return_debt\":\"negative\"}}\n";

typedef struct world {
    char *dir, *db, *program;
} world;

static void worldMake(world *w, const char *name)
{
    w->dir = tl_tempdir("sim");
    w->db = tl_join(w->dir, name);
    w->program = tl_join(w->dir, "program.json");
    assert_int_equal(tl_write_file(w->program, programJson, (size_t)-1), 0);
    tl_run r;
    tl_loyal(&r, NULL, "init", "--db", w->db, "--program", w->program, "--no-keys", NULL);
    expectCode(&r, 0, "loyal init");
    tl_run_free(&r);
}

static void worldFree(world *w)
{
    tl_rmtree(w->dir);
    free(w->dir);
    free(w->db);
    free(w->program);
}

/* ---------------------------------------------------------------------------------------
 * Random numbers
 * ------------------------------------------------------------------------------------- */

static void test_log_exp_match_libm(void **state)
{
    (void)state;
    for (double x = 1e-300; x < 1e300; x *= 1.37) {
        double want = log(x), got = ly_sim_log(x);
        if (fabs(got - want) > 2e-15 * fmax(1, fabs(want))) fail_msg("log(%g): %.17g, libm %.17g", x, got, want);
    }
    for (double x = -700; x < 700; x += 0.731) {
        double want = exp(x), got = ly_sim_exp(x);
        if (fabs(got - want) > 4e-15 * want) fail_msg("exp(%g): %.17g, libm %.17g", x, got, want);
    }
    assert_true(ly_sim_exp(-800) == 0);
    assert_true(isinf(ly_sim_exp(800)));
    assert_true(ly_sim_log(1) == 0);
}

static void test_rng_streams_are_reproducible(void **state)
{
    (void)state;
    ly_sim_rng a, b, c;
    ly_sim_rng_seed(&a, 42, 7);
    ly_sim_rng_seed(&b, 42, 7);
    ly_sim_rng_seed(&c, 42, 8);
    int same = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = ly_sim_rng_next(&a), y = ly_sim_rng_next(&b), z = ly_sim_rng_next(&c);
        assert_true(x == y);
        same += x == z;
    }
    assert_int_equal(same, 0);
    /* Uniform in (0, 1) and ly_sim_below in range. */
    for (int i = 0; i < 100000; i++) {
        double u = ly_sim_uniform(&a);
        assert_true(u > 0 && u < 1);
        assert_true(ly_sim_below(&a, 7) < 7);
    }
}

/* Sample mean and variance of gamma, beta and Poisson draws against their formulas, within
 * 5 standard errors. */
static void test_distributions_have_their_moments(void **state)
{
    (void)state;
    ly_sim_rng g;
    ly_sim_rng_seed(&g, 3, 1);
    const int n = 200000;
    const double shapes[] = {0.3, 0.9, 2.5, 15};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        double sh = shapes[k], rate = 2, s = 0, s2 = 0;
        for (int i = 0; i < n; i++) {
            double x = ly_sim_gamma(&g, sh, rate);
            assert_true(x >= 0);
            s += x;
            s2 += x * x;
        }
        double mean = s / n, var = s2 / n - mean * mean;
        double want = sh / rate, want_var = sh / (rate * rate);
        if (fabs(mean - want) > 5 * sqrt(want_var / n)) fail_msg("gamma(%g): mean %g, want %g", sh, mean, want);
        if (fabs(var - want_var) > 0.05 * want_var) fail_msg("gamma(%g): var %g, want %g", sh, var, want_var);
    }
    double s = 0;
    for (int i = 0; i < n; i++) s += ly_sim_beta(&g, 1.5, 15);
    double want = 1.5 / 16.5, sd = sqrt(1.5 * 15 / (16.5 * 16.5 * 17.5));
    if (fabs(s / n - want) > 5 * sd / sqrt(n)) fail_msg("beta mean %g, want %g", s / n, want);
    s = 0;
    for (int i = 0; i < n; i++) s += (double)ly_sim_poisson(&g, 0.25);
    if (fabs(s / n - 0.25) > 5 * sqrt(0.25 / n)) fail_msg("poisson mean %g", s / n);
}

/* ---------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------- */

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    tl_run a, b, c;
    tl_loyal(&a, NULL, "simulate", "--customers", "80", "--seed", "5", "--quiet", NULL);
    tl_loyal(&b, NULL, "simulate", "--quiet", "--seed", "5", "--customers", "80", NULL);
    tl_loyal(&c, NULL, "simulate", "--customers", "80", "--seed", "6", "--quiet", NULL);
    expectCode(&a, 0, "simulate seed 5");
    expectCode(&b, 0, "simulate seed 5 again");
    expectCode(&c, 0, "simulate seed 6");
    assert_true(strlen(a.out) > 10000);
    assert_string_equal(a.out, b.out);
    assert_true(strcmp(a.out, c.out) != 0);
    assert_true(strncmp(a.out, "receipt_id,time,store,channel,cashier,payment,customer_external_id,"
                               "customer_card,customer_phone,customer_email,sku,name,category,brand,"
                               "qty,price,amount,return_of\n", 160) == 0);
    /* The truth file is the same too, and a customer's history does not depend on how many
     * customers come after: 40 customers are the first part of 80. */
    tl_run d;
    tl_loyal(&d, NULL, "simulate", "--customers", "40", "--seed", "5", "--quiet", NULL);
    expectCode(&d, 0, "simulate 40");
    assert_true(strlen(d.out) < strlen(a.out));
    assert_memory_equal(d.out, a.out, strlen(d.out));
    tl_run_free(&a);
    tl_run_free(&b);
    tl_run_free(&c);
    tl_run_free(&d);
}

static void test_truth_file_is_deterministic(void **state)
{
    (void)state;
    char *dir = tl_tempdir("simtruth");
    char *t1 = tl_join(dir, "t1.json"), *t2 = tl_join(dir, "t2.json"), *csv = tl_join(dir, "out.csv");
    char *cust = tl_join(dir, "customers.csv");
    tl_run r;
    tl_loyal(&r, NULL, "simulate", "--customers", "50", "--seed", "9", "--truth", t1, "-o", csv,
             "--truth-customers", cust, "--quiet", NULL);
    expectCode(&r, 0, "simulate --truth");
    assert_string_equal(r.out, "");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "simulate", "--customers", "50", "--seed", "9", "--truth", t2, "-o", "/dev/null", NULL);
    expectCode(&r, 0, "simulate --truth again");
    assert_non_null(strstr(r.err, "simulate: 50 customers"));
    tl_run_free(&r);
    char *a = tl_read_file(t1, NULL), *b = tl_read_file(t2, NULL);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    json_t *j = tl_json_parse(a);
    assert_int_equal(tl_json_int(j, "seed"), 9);
    assert_int_equal(tl_json_int(j, "bgnbd.customers"), 50);
    assert_string_equal(tl_json_str(j, "period.start"), "2024-01-01");
    assert_int_equal(json_array_size(tl_json_at(j, "combos")), 3);
    assert_int_equal(json_array_size(tl_json_at(j, "catalogue.skus")), 14 * 24);
    /* The rows written are the rows the truth counts. */
    char *text = tl_read_file(csv, NULL);
    long rows = -1;
    for (const char *p = text; *p; p++) rows += *p == '\n';
    assert_int_equal(rows, tl_json_int(j, "receipts.lines"));
    /* One truth line per customer, after a header. */
    char *ct = tl_read_file(cust, NULL);
    long clines = 0;
    for (const char *p = ct; *p; p++) clines += *p == '\n';
    assert_int_equal(clines, 51);
    assert_true(strncmp(ct, "customer_external_id,customer_card,customer_phone,enrolled_at,lambda,p,", 70) == 0);
    assert_non_null(strstr(ct, "\nCRM00000001,"));
    json_decref(j);
    free(text);
    free(ct);
    free(a);
    free(b);
    free(t1);
    free(t2);
    free(csv);
    free(cust);
    tl_rmtree(dir);
    free(dir);
}

static void test_help_and_bad_flags(void **state)
{
    (void)state;
    tl_run r;
    tl_loyal(&r, NULL, "simulate", "--help", NULL);
    expectCode(&r, 0, "--help");
    assert_non_null(strstr(r.out, "usage: loyal simulate"));
    assert_non_null(strstr(r.out, "--addon-share"));
    tl_run_free(&r);
    tl_loyal(&r, NULL, "--help", NULL);
    assert_non_null(strstr(r.out, "simulate"));
    tl_run_free(&r);
    const char *bad[][4] = {
        {"--bogus", NULL, NULL, NULL},
        {"--customers", "many", NULL, NULL},
        {"--customers", "-5", NULL, NULL},
        {"--seed", "x1", NULL, NULL},
        {"--addon-share", "0.6", NULL, NULL},
        {"--anonymous-share", "1.5", NULL, NULL},
        {"--return-share", "2", NULL, NULL},
        {"--bg-r", "0", NULL, NULL},
        {"--gg-q", "1", NULL, NULL},
        {"--bg-alpha", "1e3", NULL, NULL},
        {"--start", "2024-02-30", NULL, NULL},
        {"--end", "2023-01-01", NULL, NULL},
        {"--enrol-until", "2025-06-01", NULL, NULL},
        {"--utc-offset", "3", NULL, NULL},
        {"--time-unit", "months", NULL, NULL},
        {"--combo", "nonsense", NULL, NULL},
        {"--combo", "x=NOPE-1-1+CAF-1-1:0.1", NULL, NULL},
        {"--combo", "x=CAF-1-1:0.1", NULL, NULL},
        {"--combo", "x=CAF-1-1+CAF-1-1:0.1", NULL, NULL},
        {"--channels", "shop=1", NULL, NULL},
        {"--channels", "store=0,online=0,app=0", NULL, NULL},
        {"--payments", "card", NULL, NULL},
        {"--skus-per-category", "49", NULL, NULL},
        {"--max-lines", "5", NULL, NULL},
        {"--customers", "0", NULL, NULL},
        {"extra", NULL, NULL, NULL},
        {"--skus-per-category", "3", NULL, NULL}, /* the default combos' SKUs are then missing */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tl_loyal(&r, NULL, "simulate", bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
        if (r.code != 2)
            fail_msg("simulate %s %s: exit %d, expected 2\n%s", bad[i][0], bad[i][1] ? bad[i][1] : "", r.code,
                     r.err);
        assert_true(strlen(r.out) == 0);
        assert_true(strlen(r.err) > 0);
        tl_run_free(&r);
    }
    /* --db of a database that does not exist. */
    tl_loyal(&r, NULL, "simulate", "--db", "/nonexistent/dir/x.db", "--program", "/nonexistent/p.json", NULL);
    assert_true(r.code == 3 || r.code == 4);
    tl_run_free(&r);
}

static long countRows(const char *text)
{
    long rows = -1;
    for (const char *p = text; *p; p++) rows += *p == '\n';
    return rows;
}

/* --lines stops after the customer that brings the rows to the target: one customer fewer
 * stays below it, and the rows are those of --customers with that many. */
static void test_lines_target(void **state)
{
    (void)state;
    char *dir = tl_tempdir("simlines");
    char *truth = tl_join(dir, "t.json");
    tl_run r, all, fewer;
    tl_loyal(&r, NULL, "simulate", "--lines", "5000", "--quiet", "--truth", truth, NULL);
    expectCode(&r, 0, "--lines 5000");
    assert_true(countRows(r.out) >= 5000);
    char *tt = tl_read_file(truth, NULL);
    json_t *t = tl_json_parse(tt);
    long long n = tl_json_int(t, "bgnbd.customers");
    assert_int_equal(countRows(r.out), tl_json_int(t, "receipts.lines"));
    char nbuf[32], mbuf[32];
    snprintf(nbuf, sizeof nbuf, "%lld", n);
    snprintf(mbuf, sizeof mbuf, "%lld", n - 1);
    tl_loyal(&all, NULL, "simulate", "--customers", nbuf, "--quiet", NULL);
    tl_loyal(&fewer, NULL, "simulate", "--customers", mbuf, "--quiet", NULL);
    assert_string_equal(all.out, r.out);
    assert_true(countRows(fewer.out) < 5000);
    json_decref(t);
    free(tt);
    tl_run_free(&r);
    tl_run_free(&all);
    tl_run_free(&fewer);
    free(truth);
    tl_rmtree(dir);
    free(dir);
}

/* ---------------------------------------------------------------------------------------
 * The output imports
 * ------------------------------------------------------------------------------------- */

/* Reads the CSV with the importer's own reader and checks the rules docs/import.md sets:
 * consecutive rows of a receipt together and never again later, a return after its receipt,
 * customer columns the same on a receipt's rows. */
static void checkCsvOrder(const char *path, long *n_rows)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    ly_csv *c = ly_csv_open(f, ',');
    assert_int_equal(ly_csv_next(c), 1);
    assert_int_equal(ly_csv_nfields(c), 18);
    size_t cap = 1 << 16, n = 0;
    char **seen = calloc(cap, sizeof *seen);
    char cur[64] = "", cur_card[32] = "";
    long rows = 0;
    int r;
    while ((r = ly_csv_next(c)) == 1) {
        rows++;
        assert_int_equal(ly_csv_nfields(c), 18);
        const char *id = ly_csv_field(c, 0), *card = ly_csv_field(c, 7), *ret = ly_csv_field(c, 17);
        if (strcmp(id, cur) != 0) {
            /* A new receipt: never seen before (hash set of ids). */
            if (n * 2 >= cap) fail_msg("too many receipts for the test's set");
            uint64_t h = 1469598103934665603ULL;
            for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            size_t i = h & (cap - 1);
            while (seen[i]) {
                if (strcmp(seen[i], id) == 0) fail_msg("receipt %s comes back at row %ld", id, rows);
                i = (i + 1) & (cap - 1);
            }
            seen[i] = strdup(id);
            n++;
            snprintf(cur, sizeof cur, "%s", id);
            snprintf(cur_card, sizeof cur_card, "%s", card);
            if (*ret) {
                /* The receipt returned is earlier in the file. */
                h = 1469598103934665603ULL;
                for (const char *p = ret; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
                i = h & (cap - 1);
                bool found = false;
                while (seen[i] && !found) {
                    found = strcmp(seen[i], ret) == 0;
                    i = (i + 1) & (cap - 1);
                }
                if (!found) fail_msg("return %s of %s comes before the receipt", id, ret);
            }
        } else {
            assert_string_equal(card, cur_card);
        }
    }
    assert_int_equal(r, 0);
    for (size_t i = 0; i < cap; i++) free(seen[i]);
    free(seen);
    ly_csv_close(c);
    fclose(f);
    *n_rows = rows;
}

static void test_output_imports(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "loyal.db");
    char *csv = tl_join(w.dir, "sim.csv"), *truth = tl_join(w.dir, "truth.json");
    tl_run r;
    tl_loyal(&r, NULL, "simulate", "--customers", "150", "--seed", "11", "-o", csv, "--truth", truth, NULL);
    expectCode(&r, 0, "simulate");
    tl_run_free(&r);
    long rows;
    checkCsvOrder(csv, &rows);
    char *tt = tl_read_file(truth, NULL);
    json_t *t = tl_json_parse(tt);
    assert_int_equal(rows, tl_json_int(t, "receipts.lines"));

    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--quiet", csv, NULL);
    expectCode(&r, 0, "loyal import");
    assert_int_equal(summaryValue(r.out, "receipts imported"), tl_json_int(t, "receipts.sale_receipts"));
    assert_int_equal(summaryValue(r.out, "returns imported"), tl_json_int(t, "returns.returns"));
    assert_int_equal(summaryValue(r.out, "customers created"), 150);
    assert_int_equal(summaryValue(r.out, "lines skipped"), 0);
    assert_int_equal(summaryValue(r.out, "duplicate receipts in the file"), 0);
    assert_null(strstr(r.out, "rows whose identifiers name different customers"));
    tl_run_free(&r);
    /* The money and the people in the database are the truth's. */
    assert_int_equal(q(w.db, "SELECT sum(total) FROM receipts"), money(tl_json_str(t, "receipts.sales_total")));
    assert_int_equal(q(w.db, "SELECT sum(amount) FROM returns"), money(tl_json_str(t, "returns.money_returned")));
    assert_int_equal(q(w.db, "SELECT count(*) FROM receipts WHERE customer_id IS NULL"),
                     tl_json_int(t, "anonymous.receipts"));
    assert_int_equal(q(w.db, "SELECT count(*) FROM customers"), 150);
    assert_int_equal(q(w.db, "SELECT count(*) FROM receipt_lines"),
                     tl_json_int(t, "receipts.lines") - tl_json_int(t, "returns.lines"));
    /* Every customer was enrolled at their first deal, the earliest of their receipts. */
    assert_int_equal(q(w.db, "SELECT count(*) FROM customers c WHERE enrolled_at != "
                             "(SELECT min(time) FROM receipts WHERE customer_id = c.id)"),
                     0);
    tl_loyal(&r, NULL, "check", "--db", w.db, "--program", w.program, NULL);
    expectCode(&r, 0, "loyal check");
    tl_run_free(&r);

    /* --db takes the same path: the same seed into a fresh database gives the same data. */
    world w2;
    worldMake(&w2, "direct.db");
    tl_loyal(&r, NULL, "simulate", "--customers", "150", "--seed", "11", "--db", w2.db, "--program", w2.program,
             "--quiet", NULL);
    expectCode(&r, 0, "simulate --db");
    assert_int_equal(summaryValue(r.out, "receipts imported"), tl_json_int(t, "receipts.sale_receipts"));
    assert_int_equal(summaryValue(r.out, "customers created"), 150);
    tl_run_free(&r);
    assert_int_equal(q(w2.db, "SELECT sum(total) FROM receipts"), money(tl_json_str(t, "receipts.sales_total")));
    /* Imported again: nothing changes. */
    tl_loyal(&r, NULL, "import", "--db", w2.db, "--program", w2.program, "--quiet", csv, NULL);
    expectCode(&r, 0, "import again");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 0);
    assert_int_equal(summaryValue(r.out, "receipts already in the database"), tl_json_int(t, "receipts.sale_receipts"));
    tl_run_free(&r);

    json_decref(t);
    free(tt);
    free(csv);
    free(truth);
    worldFree(&w);
    worldFree(&w2);
}

/* ---------------------------------------------------------------------------------------
 * The data follows the truth
 * ------------------------------------------------------------------------------------- */

#define MAX_RECENT 64

typedef struct stats {
    const ly_sim *s;
    double period_days;
    /* Per customer */
    double sum_x, sum_x2, sum_ex, sum_cond, sum_res2, sum_lambda, sum_p;
    long n_customers;
    /* The customer's deals so far: time and job, for checking add-ons. */
    ly_time deal_time[MAX_RECENT];
    int deal_job[MAX_RECENT];
    int n_recent;
    ly_time last_time;
    const ly_sim_customer *cur;
    long deals, addons, identified, anonymous, sales, returns, full_returns;
    double sum_target, sum_value;
    long baskets, both[LY_SIM_MAX_COMBOS], has_a[LY_SIM_MAX_COMBOS], has_b[LY_SIM_MAX_COMBOS];
    long planted[LY_SIM_MAX_COMBOS];
    const ly_sim_sku *combo_a[LY_SIM_MAX_COMBOS], *combo_b[LY_SIM_MAX_COMBOS];
    char failure[256];
} stats;

/* Gauss's hypergeometric 2F1(a, b; c; z) for 0 <= z < 1, by its series. */
static double hyp2f1(double a, double b, double c, double z)
{
    double term = 1, sum = 1;
    for (int n = 0; n < 1000000; n++) {
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z;
        sum += term;
        if (fabs(term) < 1e-16 * fabs(sum) && n > 10) break;
    }
    return sum;
}

/* BG/NBD: the expected number of repeat deals in (0, t] (Fader, Hardie and Lee 2005, eq. 9). */
static double bgnbdExpected(double r, double alpha, double a, double b, double t)
{
    double z = t / (alpha + t);
    return (a + b - 1) / (a - 1) * (1 - pow(alpha / (alpha + t), r) * hyp2f1(r, b, a + b - 1, z));
}

static int onCustomer(void *ctx, const ly_sim_customer *c)
{
    stats *st = ctx;
    const ly_sim_config *cfg = ly_sim_config_get(st->s);
    double x = (double)(c->deals - 1), T = st->period_days - c->t_enrol;
    st->sum_x += x;
    st->sum_x2 += x * x;
    st->sum_ex += bgnbdExpected((double)cfg->r / 1e6, (double)cfg->alpha / 1e6, (double)cfg->a / 1e6,
                                (double)cfg->b / 1e6, T);
    /* Given the customer's own lambda and p: E[X(T)] = (1 - exp(-lambda p T)) / p. */
    double cond = (1 - exp(-c->lambda * c->p * T)) / c->p;
    st->sum_cond += cond;
    st->sum_res2 += (x - cond) * (x - cond);
    st->sum_lambda += c->lambda;
    st->sum_p += c->p;
    st->n_customers++;
    st->n_recent = 0;
    st->cur = NULL;
    st->last_time = 0;
    return 0;
}

static bool hasSku(const ly_sim_receipt *r, const ly_sim_sku *k)
{
    for (int i = 0; i < r->n_lines; i++)
        if (r->lines[i].sku == k) return true;
    return false;
}

static int onReceipt(void *ctx, const ly_sim_receipt *r)
{
    stats *st = ctx;
    const ly_sim_config *cfg = ly_sim_config_get(st->s);
    const ly_sim_catalog *cat = ly_sim_catalog_get(st->s);
#define FAIL(...) do { snprintf(st->failure, sizeof st->failure, __VA_ARGS__); return 1; } while (0)
    if (r->time < st->last_time) FAIL("%s: out of time order", r->id);
    st->last_time = r->time;
    if (r->n_lines < 1 || r->n_lines > 1000) FAIL("%s: %d lines", r->id, r->n_lines);
    ly_money sum = 0;
    for (int i = 0; i < r->n_lines; i++) sum += r->lines[i].amount;
    if (sum != r->total) FAIL("%s: lines add up to %lld, total %lld", r->id, (long long)sum, (long long)r->total);
    switch (r->kind) {
    case LY_SIM_FIRST:
    case LY_SIM_REPEAT:
        if ((r->kind == LY_SIM_FIRST) != (st->n_recent == 0 && st->cur == NULL)) FAIL("%s: first deal not first", r->id);
        st->cur = r->customer;
        st->deals++;
        st->identified++;
        st->sum_target += (double)r->target;
        st->sum_value += (double)r->total;
        if (st->n_recent < MAX_RECENT) {
            st->deal_time[st->n_recent] = r->time;
            st->deal_job[st->n_recent++] = r->job;
        }
        break;
    case LY_SIM_ADDON: {
        st->addons++;
        st->identified++;
        /* The same job as a deal of the customer's at most addon_days (+1 for the day) before. */
        for (int i = 0; i < r->n_lines; i++)
            if (r->lines[i].sku->category != r->job) FAIL("%s: add-on line outside its job", r->id);
        bool found = false;
        for (int i = 0; i < st->n_recent && !found; i++)
            found = st->deal_job[i] == r->job && st->deal_time[i] < r->time &&
                    r->time - st->deal_time[i] <= (ly_time)(cfg->addon_days + 1) * 86400;
        if (!found && st->n_recent < MAX_RECENT) FAIL("%s: add-on without its deal", r->id);
        break;
    }
    case LY_SIM_ANONYMOUS:
        st->anonymous++;
        if (r->customer || r->card[0] || r->phone[0] || r->external_id[0]) FAIL("%s: anonymous names someone", r->id);
        break;
    case LY_SIM_RETURN:
        st->returns++;
        st->full_returns += r->full_return;
        if (!r->return_of[0]) FAIL("%s: return of nothing", r->id);
        return 0;
    }
    st->sales++;
    if (r->kind == LY_SIM_FIRST && !(r->external_id[0] && (r->card[0] || r->phone[0])))
        FAIL("%s: the first receipt lacks identifiers", r->id);
    if (r->kind != LY_SIM_ADDON) {
        st->baskets++;
        for (int k = 0; k < cfg->n_combos; k++) {
            bool a = hasSku(r, st->combo_a[k]), b = hasSku(r, st->combo_b[k]);
            st->has_a[k] += a;
            st->has_b[k] += b;
            st->both[k] += a && b;
            st->planted[k] += (r->combos >> k) & 1;
            if (((r->combos >> k) & 1) && !(a && b)) FAIL("%s: combo %d planted but absent", r->id, k);
        }
    }
    (void)cat;
    return 0;
#undef FAIL
}

static void test_data_follows_the_truth(void **state)
{
    (void)state;
    ly_sim_config cfg;
    ly_sim_config_default(&cfg);
    cfg.customers = 8000;
    cfg.seed = 2024;
    ly_sim *s;
    ly_error err;
    assert_int_equal(ly_sim_open(&cfg, &s, &err), LY_OK);
    stats *st = calloc(1, sizeof *st);
    st->s = s;
    st->period_days = (double)(cfg.end_day - cfg.start_day + 1);
    for (int k = 0; k < cfg.n_combos; k++) {
        st->combo_a[k] = ly_sim_sku_find(s, cfg.combos[k].skus[0]);
        st->combo_b[k] = ly_sim_sku_find(s, cfg.combos[k].skus[1]);
        assert_non_null(st->combo_a[k]);
        assert_non_null(st->combo_b[k]);
    }
    int rc = ly_sim_run(s, onReceipt, onCustomer, st, &err);
    if (rc != 0) fail_msg("run: %d %s", rc, st->failure);
    const ly_sim_truth *t = ly_sim_truth_get(s);
    long n = st->n_customers;
    assert_int_equal(n, 8000);
    assert_int_equal(t->customers, n);

    /* BG/NBD: mean repeat deals per customer against the model's expectation over each
     * customer's own observation time, within 4 standard errors. */
    double mean = st->sum_x / n, sd = sqrt(st->sum_x2 / n - mean * mean), se = sd / sqrt((double)n);
    double expected = st->sum_ex / n, conditional = st->sum_cond / n;
    print_message("repeat deals per customer %.3f, BG/NBD expects %.3f (given lambda and p %.3f), se %.3f\n",
                  mean, expected, conditional, se);
    assert_true(fabs(mean - expected) < 4 * se);
    /* Given each customer's own lambda and p the spread between people is gone: what is left
     * is the noise of the process itself, a much tighter test. */
    double res_se = sqrt(st->sum_res2 / n) / sqrt((double)n);
    print_message("residual against the conditional expectation %.3f, se %.3f\n", mean - conditional, res_se);
    assert_true(fabs(mean - conditional) < 4 * res_se);
    /* The draws of lambda and p: Gamma(r, alpha) per day and Beta(a, b). */
    double lam = st->sum_lambda / n, want_lam = 0.9 / 10, lam_se = sqrt(0.9) / 10 / sqrt((double)n);
    assert_true(fabs(lam - want_lam) < 4 * lam_se);
    double p = st->sum_p / n, want_p = 1.5 / 16.5, p_se = sqrt(1.5 * 15 / (16.5 * 16.5 * 17.5)) / sqrt((double)n);
    assert_true(fabs(p - want_p) < 4 * p_se);

    /* Gamma-Gamma: the mean deal value is p * gamma / (q - 1) = 1200.00 (within 5%: about four
     * standard errors of a mean over 8000 customers' spend rates), and the realised baskets
     * are the planted values to within half a percent. */
    double mean_target = st->sum_target / (double)st->deals / 100, mean_value = st->sum_value / (double)st->deals / 100;
    print_message("mean deal value planted %.2f, realised %.2f, model 1200.00\n", mean_target, mean_value);
    assert_true(fabs(mean_target - 1200) < 0.05 * 1200);
    assert_true(fabs(mean_value - mean_target) < 0.005 * mean_target);
    assert_int_equal(t->deal_value_total, (ly_money)(st->sum_value + 0.5));
    assert_int_equal(t->deals_truncated, 0);

    /* Add-ons: the share of identified purchases within one percentage point of 0.3, and the
     * truth's exact count is what the receipts show. */
    double share = (double)st->addons / (double)st->identified;
    print_message("add-on share %.4f of %ld purchases\n", share, st->identified);
    assert_true(fabs(share - 0.3) < 0.01);
    assert_int_equal(t->addons, st->addons);
    assert_int_equal(t->first_deals + t->repeat_deals, st->deals);

    /* Anonymous receipts: 0.2 of the sales, within a point. */
    double anon = (double)st->anonymous / (double)st->sales;
    assert_true(fabs(anon - 0.2) < 0.01);
    assert_int_equal(t->anonymous, st->anonymous);

    /* Returns: 3% of the sales (4 standard errors), half of them full (returns of a one-line
     * receipt count as full too, so at least half). */
    double ret = (double)st->returns / (double)st->sales, ret_se = sqrt(0.03 * 0.97 / (double)st->sales);
    assert_true(fabs(ret - 0.03) < 4 * ret_se + 0.002); /* returns past the end are dropped */
    assert_true(st->full_returns * 2 > st->returns * 9 / 10);

    /* Combos: planted at their probability (4 standard errors); the pair is bought together at
     * least that often, and far more often than if the two were independent (lift). */
    for (int k = 0; k < cfg.n_combos; k++) {
        double prob = (double)cfg.combos[k].prob / 1e6, nb = (double)st->baskets;
        double planted = st->planted[k] / nb, both = st->both[k] / nb;
        double lift = both / ((st->has_a[k] / nb) * (st->has_b[k] / nb));
        print_message("combo %s: planted %.4f (want %.2f), together %.4f, lift %.1f\n", cfg.combos[k].name,
                      planted, prob, both, lift);
        assert_true(fabs(planted - prob) < 4 * sqrt(prob * (1 - prob) / nb));
        assert_true(both >= planted);
        assert_true(both < planted + 0.01);
        assert_true(lift > 3);
        assert_int_equal(t->combo_planted[k], st->planted[k]);
    }
    free(st);
    ly_sim_close(s);
}

/* Weeks as the time unit: alpha in weeks is alpha / 7 in days, so the same seed gives the
 * same customers (up to the rounding of 10 / 7 to millionths). */
static int countDeals(void *ctx, const ly_sim_customer *c)
{
    *(int64_t *)ctx += c->deals;
    return 0;
}

static int ignoreReceipt(void *ctx, const ly_sim_receipt *r)
{
    (void)ctx;
    (void)r;
    return 0;
}

static void test_time_unit_weeks(void **state)
{
    (void)state;
    ly_sim_config a, b;
    ly_sim_config_default(&a);
    ly_sim_config_default(&b);
    a.customers = b.customers = 300;
    b.unit = LY_SIM_WEEKS;
    b.alpha = (a.alpha + 3) / 7; /* 10 days = 1.428572 weeks */
    ly_sim *sa, *sb;
    ly_error err;
    assert_int_equal(ly_sim_open(&a, &sa, &err), LY_OK);
    assert_int_equal(ly_sim_open(&b, &sb, &err), LY_OK);
    int64_t da = 0, db = 0;
    assert_int_equal(ly_sim_run(sa, ignoreReceipt, countDeals, &da, &err), 0);
    assert_int_equal(ly_sim_run(sb, ignoreReceipt, countDeals, &db, &err), 0);
    assert_true(da > 2000);
    assert_true(llabs((long long)(da - db)) <= da / 1000);
    /* A simulator runs once. */
    assert_int_equal(ly_sim_run(sa, ignoreReceipt, NULL, NULL, &err), -1);
    ly_sim_close(sa);
    ly_sim_close(sb);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_exp_match_libm),
        cmocka_unit_test(test_rng_streams_are_reproducible),
        cmocka_unit_test(test_distributions_have_their_moments),
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_truth_file_is_deterministic),
        cmocka_unit_test(test_help_and_bad_flags),
        cmocka_unit_test(test_lines_target),
        cmocka_unit_test(test_output_imports),
        cmocka_unit_test(test_data_follows_the_truth),
        cmocka_unit_test(test_time_unit_weeks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
