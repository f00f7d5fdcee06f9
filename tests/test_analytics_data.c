/*
 * test_analytics_data.c - `loyal analyze` on the real data of ../shared/data: RFM on
 * CDNOW_master with the tie rule on its many one-purchase customers; the Online Retail
 * subset read as CSV and the same file imported into a database and read with --db giving
 * the same customers and sales; the same input giving byte-identical JSON; usage errors.
 * Exits 77 (skipped) when the shared data is absent.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dataPath(const char *name)
{
    const char *shared = getenv("LOYAL_SHARED_DATA");
    char *p = shared ? tl_join(shared, name) : NULL;
    if (p && access(p, R_OK) == 0) return p;
    free(p);
    return NULL;
}

static json_t *loadJson(const char *path)
{
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    if (!doc) fail_msg("%s: %s", path, je.text);
    return doc;
}

static void expectOk(tl_run *r, const char *what)
{
    if (r->code != 0) fail_msg("%s: exit %d\n%s%s", what, r->code, r->out, r->err);
}

/* CDNOW_master: 23,570 customers; whatever F a customer has, every customer with the same F
 * has the same F level and F quintile, and the one-purchase customers all score 1. */
static void test_cdnow_master_rfm(void **state)
{
    (void)state;
    char *data = dataPath("CDNOW_master.txt");
    if (!data) skip();
    char *dir = tl_tempdir("an-cdnow");
    char *csv = tl_join(dir, "customers.csv"), *json = tl_join(dir, "out.json");
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--layout", "cdnow", "--no-addons", "--quiet", "--json", json,
             "--customers-csv", csv, data, NULL);
    expectOk(&r, "analyze cdnow");
    tl_run_free(&r);
    json_t *doc = loadJson(json);
    assert_int_equal(tl_json_int(doc, "rfm.customers"), 23570);
    assert_int_equal(tl_json_int(doc, "input.receipts"), 69659);
    json_decref(doc);

    char *text = tl_read_file(csv, NULL);
    assert_non_null(text);
    int f3_of[4096], f5_of[4096];
    memset(f3_of, 0, sizeof f3_of);
    memset(f5_of, 0, sizeof f5_of);
    long rows = 0, ones = 0;
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save); /* header */
    assert_non_null(line);
    assert_non_null(strstr(line, "f_deals"));
    while ((line = strtok_r(NULL, "\n", &save))) {
        /* customer,first,last,r_days,f_deals,m,purchases,ai,ad,returns,sales,revenue,r,f,m_level,cell,r5,f5 */
        char *fld[24];
        int n = 0;
        for (char *s2 = NULL, *t = strtok_r(line, ",", &s2); t && n < 24; t = strtok_r(NULL, ",", &s2))
            fld[n++] = t;
        assert_true(n >= 18);
        int F = atoi(fld[4]), f3 = atoi(fld[13]), f5 = atoi(fld[17]);
        assert_true(F >= 1 && F < 4096);
        if (f3_of[F] == 0) {
            f3_of[F] = f3;
            f5_of[F] = f5;
        } else {
            assert_int_equal(f3_of[F], f3);
            assert_int_equal(f5_of[F], f5);
        }
        if (F == 1) {
            ones++;
            assert_int_equal(f3, 1);
            assert_int_equal(f5, 1);
        }
        rows++;
    }
    assert_int_equal(rows, 23570);
    assert_true(ones > 10000); /* most CDNOW customers bought once */
    /* scores never go down as F goes up */
    int last3 = 0, last5 = 0;
    for (int F = 1; F < 4096; F++) {
        if (!f3_of[F]) continue;
        assert_true(f3_of[F] >= last3 && f5_of[F] >= last5);
        last3 = f3_of[F];
        last5 = f5_of[F];
    }
    free(text);
    tl_rmtree(dir);
    free(dir);
    free(csv);
    free(json);
    free(data);
}

/* The Online Retail subset as CSV (with --sort: the file is not in time order per customer)
 * and imported into a database: the same customers and sales. Without --sort the CSV is
 * refused, naming the line. */
static void test_online_retail_csv_and_db(void **state)
{
    (void)state;
    char *data = dataPath("online_retail_II_subset.csv");
    if (!data) skip();
    char *dir = tl_tempdir("an-retail");
    char *db = tl_join(dir, "loyal.db"), *program = tl_join(dir, "program.json");
    char *j1 = tl_join(dir, "csv.json"), *j2 = tl_join(dir, "db.json");
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--layout", "online_retail", "--quiet", data, NULL);
    assert_int_equal(r.code, 3);
    assert_non_null(strstr(r.err, "line 12423"));
    assert_non_null(strstr(r.err, "unsorted_input"));
    tl_run_free(&r);

    char *html = tl_join(dir, "report.html");
    tl_loyal(&r, NULL, "analyze", "--layout", "online_retail", "--sort", "--quiet", "--json", j1,
             "--html", html, "--currency", "GBP", data, NULL);
    expectOk(&r, "analyze csv");
    tl_run_free(&r);
    /* the HTML report has the charts of every section analyze computes */
    char *page = tl_read_file(html, NULL);
    assert_non_null(page);
    static const char *const charts[] = {"rfm-cells", "rfm-segments", "return-curve",
                                         "loyalty-curve", "deals-share", "deal-conversion",
                                         "cohorts", "depth-hist", "width-hist", "profit-revenue"};
    for (size_t i = 0; i < sizeof charts / sizeof charts[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "data-chart=\"%s\"", charts[i]);
        if (!strstr(page, needle)) fail_msg("report.html has no %s chart", charts[i]);
    }
    assert_non_null(strstr(page, "data-at=\"194\"")); /* the sleep boundary marker */
    free(page);
    free(html);
    tl_loyal(&r, NULL, "init", "--db", db, "--program", program, "--no-keys", NULL);
    expectOk(&r, "init");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--db", db, "--program", program, "--layout", "online_retail",
             "--quiet", data, NULL);
    expectOk(&r, "import");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "analyze", "--db", db, "--quiet", "--json", j2, NULL);
    expectOk(&r, "analyze db");
    tl_run_free(&r);

    json_t *a = loadJson(j1), *b = loadJson(j2);
    assert_int_equal(tl_json_int(a, "rfm.customers"), 260);
    assert_int_equal(tl_json_int(b, "rfm.customers"), 260);
    assert_int_equal(tl_json_int(a, "input.receipts"), 1439);
    assert_int_equal(tl_json_int(b, "input.receipts"), 1439);
    assert_int_equal(tl_json_int(a, "structure.total.sales"), tl_json_int(b, "structure.total.sales"));
    assert_int_equal(tl_json_int(a, "addons.deals"), tl_json_int(b, "addons.deals"));
    assert_int_equal(tl_json_int(a, "input.anonymous_receipts"), 21);
    assert_int_equal(tl_json_int(a, "return_curve.sleep_boundary_days"),
                     tl_json_int(b, "return_curve.sleep_boundary_days"));
    /* every report section is there */
    static const char *const keys[] = {"rfm.cells[26].cell", "return_curve.points.p_return",
                                       "loyalty.by_deal[19]", "cohorts[0].retention",
                                       "structure.periods[0].width_hist",
                                       "profit.periods[1].change.explained_share",
                                       "profit.stores[0].identified_share"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!tl_json_at(a, keys[i])) fail_msg("no %s", keys[i]);
    json_decref(a);
    json_decref(b);
    tl_rmtree(dir);
    free(dir);
    free(db);
    free(program);
    free(j1);
    free(j2);
    free(data);
}

/* Two runs on the same input give the same bytes; --as-of leaves later receipts out. */
static void test_deterministic(void **state)
{
    (void)state;
    char *data = dataPath("CDNOW_sample.txt");
    if (!data) skip();
    tl_run r1, r2;
    tl_loyal(&r1, NULL, "analyze", "--layout", "cdnow_sample", "--quiet", "--as-of", "1997-10-01",
             data, NULL);
    tl_loyal(&r2, NULL, "analyze", "--layout", "cdnow_sample", "--quiet", "--as-of", "1997-10-01",
             data, NULL);
    expectOk(&r1, "run 1");
    expectOk(&r2, "run 2");
    assert_true(strlen(r1.out) > 1000);
    assert_string_equal(r1.out, r2.out);
    json_error_t je;
    json_t *doc = json_loads(r1.out, 0, &je);
    assert_non_null(doc);
    assert_int_equal(tl_json_int(doc, "rfm.customers"), 2357);
    assert_true(tl_json_int(doc, "input.skipped_after_as_of") > 0);
    json_decref(doc);
    tl_run_free(&r1);
    tl_run_free(&r2);
    free(data);
}

static void test_usage(void **state)
{
    (void)state;
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--layout", "excel", "x.csv", NULL);
    assert_int_equal(r.code, 2);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "analyze", "--sleep-level", "0.1", "--churn-level", "0.3", "x.csv", NULL);
    assert_int_equal(r.code, 2);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "analyze", "--as-of", "2024-13-01", "x.csv", NULL);
    assert_int_equal(r.code, 2);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "analyze", "--quiet", "/nonexistent/x.csv", NULL);
    assert_int_equal(r.code, 4);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "analyze", "--help", NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "--customers-csv"));
    tl_run_free(&r);
}

int main(void)
{
    tl_loyal_bin();
    char *a = dataPath("CDNOW_master.txt"), *b = dataPath("online_retail_II_subset.csv"),
         *c = dataPath("CDNOW_sample.txt");
    bool have = a && b && c;
    free(a);
    free(b);
    free(c);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_cdnow_master_rfm),
        cmocka_unit_test(test_online_retail_csv_and_db),
        cmocka_unit_test(test_deterministic),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && !have) {
        printf("shared data not found under LOYAL_SHARED_DATA: skipped\n");
        return TL_SKIP;
    }
    return failed;
}
