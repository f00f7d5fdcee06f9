/*
 * test_analytics_loop.c - the analytics back into the engine: `loyal analyze --db --save`
 * keeps each customer's figures, the profile shows them, the program's rules use them as
 * facts, the server's own scheduler refreshes them; the CLV models fitted end to end on the
 * raw CDNOW sample match the published parameters; suggested tiers split by the method's
 * quantiles and price their points exactly.
 */
#include "testlib.h"

#include "analytics/analytics.h"
#include "analytics/tiers.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t scalar(const char *db, const char *sql)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(c));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

/* The first card of customer id, malloc'd. */
static char *cardOf(const char *db, int64_t id)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(c, "SELECT value FROM identifiers WHERE kind = 'card' AND customer_id = ?1"
                                           " ORDER BY value LIMIT 1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

/* Adds a rule to the world's program: 77 points for every customer the analytics have
 * placed against the loyalty boundary. */
static void addFactsRule(tl_world *w)
{
    json_error_t je;
    json_t *p = json_load_file(w->program, 0, &je);
    assert_non_null(p);
    json_t *rules = json_object_get(p, "rules");
    if (!rules) json_object_set_new(p, "rules", rules = json_array());
    json_t *rule = json_pack("{s:s, s:s, s:i, s:{s:[{s:s, s:[s,s,s]}]}, s:{s:s, s:i}}",
                             "id", "known-to-analytics", "name", "Customers the analytics know",
                             "priority", 90, "conditions", "facts", "name", "loyalty", "in",
                             "reached", "below", "unknown", "effect", "type", "points_fixed",
                             "points", 77);
    assert_non_null(rule);
    json_array_append_new(rules, rule);
    assert_int_equal(json_dump_file(p, w->program, JSON_INDENT(2)), 0);
    json_decref(p);
}

/* A simulated history imported into the world's database. */
static void simulateInto(tl_world *w, int customers)
{
    char n[16];
    snprintf(n, sizeof n, "%d", customers);
    tl_run r;
    tl_loyal(&r, NULL, "simulate", "--customers", n, "--seed", "11", "--start", "2026-01-01", "--end",
             "2026-10-31", "--db", w->db, "--program", w->program, NULL);
    if (r.code != 0) fail_msg("simulate: %d\n%s", r.code, r.err);
    tl_run_free(&r);
}

static bool hasRule(json_t *resp, const char *id)
{
    json_t *rules = json_object_get(resp, "rules");
    size_t i;
    json_t *v;
    json_array_foreach(rules, i, v) {
        const char *x = json_string_value(json_object_get(v, "id"));
        if (x && strcmp(x, id) == 0) return true;
    }
    return false;
}

static json_t *calculate(tl_server *s, const char *key, const char *card)
{
    char *body = tl_strdupf("{\"receipt_id\":\"calc-%s\",\"store\":\"S001\",\"customer\":{\"card\":\"%s\"},"
                            "\"total\":50000,\"lines\":[{\"sku\":\"A\",\"category\":\"bakery\",\"qty\":1000,"
                            "\"price\":50000,\"amount\":50000}]}",
                            card, card);
    tl_response resp;
    tl_call(&resp, s, "POST", "/v1/receipts/calculate", key, body);
    free(body);
    if (resp.status != 200) fail_msg("calculate: %ld %s", resp.status, resp.body);
    json_t *j = tl_response_json(&resp);
    tl_response_free(&resp);
    return j;
}

static void checkAnalyticsObject(json_t *a, const char *as_of)
{
    assert_true(json_is_object(a));
    if (as_of) assert_string_equal(json_string_value(json_object_get(a, "as_of")), as_of);
    const char *cell = json_string_value(json_object_get(a, "rfm_cell"));
    assert_non_null(cell);
    assert_int_equal(strlen(cell), 6);
    assert_true(cell[0] == 'R' && cell[2] == 'F' && cell[4] == 'M');
    for (int i = 1; i < 6; i += 2) assert_true(cell[i] >= '1' && cell[i] <= '3');
    assert_non_null(json_string_value(json_object_get(a, "segment")));
    const char *status = json_string_value(json_object_get(a, "status"));
    assert_true(strcmp(status, "active") == 0 || strcmp(status, "sleeping") == 0 ||
                strcmp(status, "churned") == 0);
    const char *loyalty = json_string_value(json_object_get(a, "loyalty"));
    assert_true(strcmp(loyalty, "reached") == 0 || strcmp(loyalty, "below") == 0 ||
                strcmp(loyalty, "unknown") == 0);
    assert_true(json_integer_value(json_object_get(a, "deals")) >= 1);
    const char *p = json_string_value(json_object_get(a, "p_alive"));
    assert_non_null(p);
    assert_true(strlen(p) == 6 && p[1] == '.');
    double pv = atof(p);
    assert_true(pv >= 0 && pv <= 1);
    assert_true(json_is_integer(json_object_get(a, "clv")));
    assert_true(json_integer_value(json_object_get(a, "clv")) >= 0);
}

static void test_save_feeds_profiles_and_rules(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "loop", "examples/program.json");
    addFactsRule(&w);
    simulateInto(&w, 300);

    char *json = tl_join(w.dir, "analysis.json");
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--db", w.db, "--save", "--as-of", "2026-11-01", "--quiet", "--json",
             json, NULL);
    if (r.code != 0) fail_msg("analyze --save: %d\n%s", r.code, r.err);
    tl_run_free(&r);
    json_error_t je;
    json_t *doc = json_load_file(json, 0, &je);
    assert_non_null(doc);
    assert_true(json_is_true(tl_json_at(doc, "clv.fitted")));
    assert_true(tl_json_at(doc, "copurchases.rules_total") != NULL);
    assert_int_equal(json_array_size(tl_json_at(doc, "suggested_tiers.tiers")), 3);
    long long rfm_customers = tl_json_int(doc, "rfm.customers");
    assert_true(rfm_customers > 200);

    /* Every customer with a deal has a row, in one finished run. */
    assert_int_equal(scalar(w.db, "SELECT count(*) FROM customer_analytics"), rfm_customers);
    assert_int_equal(scalar(w.db, "SELECT count(*) FROM analytics_runs WHERE finished_at IS NOT NULL"), 1);
    assert_int_equal(scalar(w.db, "SELECT count(DISTINCT run) FROM customer_analytics"), 1);

    /* A second run replaces the first one's rows. */
    tl_loyal(&r, NULL, "analyze", "--db", w.db, "--save", "--as-of", "2026-11-02", "--quiet", "--json",
             "/dev/null", NULL);
    assert_int_equal(r.code, 0);
    tl_run_free(&r);
    assert_int_equal(scalar(w.db, "SELECT count(*) FROM customer_analytics"), rfm_customers);
    assert_int_equal(scalar(w.db, "SELECT count(DISTINCT run) FROM customer_analytics"), 1);
    assert_int_equal(scalar(w.db, "SELECT min(run) FROM customer_analytics"),
                     scalar(w.db, "SELECT max(id) FROM analytics_runs"));

    tl_server s;
    tl_world_serve(&w, &s, NULL);
    tl_response resp;
    tl_call(&resp, &s, "GET", "/v1/customers/1", w.pos_key, NULL);
    assert_int_equal(resp.status, 200);
    json_t *profile = tl_response_json(&resp);
    tl_response_free(&resp);
    checkAnalyticsObject(json_object_get(profile, "analytics"), "2026-11-02");
    json_decref(profile);

    /* The rule on analytics facts applies to a customer the analytics know ... */
    char *card = cardOf(w.db, 1);
    json_t *calc = calculate(&s, w.pos_key, card);
    assert_true(hasRule(calc, "known-to-analytics"));
    json_decref(calc);
    free(card);

    /* ... and not to one enrolled after the run. */
    tl_call(&resp, &s, "POST", "/v1/customers", w.pos_key, "{\"card\":\"NEW-0001\"}");
    assert_int_equal(resp.status, 201);
    json_t *enrolled = tl_response_json(&resp);
    tl_response_free(&resp);
    assert_true(json_is_null(json_object_get(enrolled, "analytics")) ||
                json_object_get(enrolled, "analytics") == NULL);
    json_decref(enrolled);
    calc = calculate(&s, w.pos_key, "NEW-0001");
    assert_false(hasRule(calc, "known-to-analytics"));
    json_decref(calc);
    tl_call(&resp, &s, "GET", "/v1/customers?card=NEW-0001", w.pos_key, NULL);
    assert_int_equal(resp.status, 200);
    json_t *fresh = tl_response_json(&resp);
    tl_response_free(&resp);
    assert_true(json_is_null(json_object_get(fresh, "analytics")));
    json_decref(fresh);

    assert_int_equal(tl_server_stop(&s), 0);
    assert_int_equal(tl_world_check(&w), 0);

    /* --save reads and writes one database: a file is refused. */
    tl_loyal(&r, NULL, "analyze", "--save", json, NULL);
    assert_int_equal(r.code, 2);
    tl_run_free(&r);

    json_decref(doc);
    free(json);
    tl_world_free(&w);
}

static void test_server_schedule_refreshes_analytics(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "loopsched", "examples/program.json");
    simulateInto(&w, 120);
    assert_int_equal(scalar(w.db, "SELECT count(*) FROM analytics_runs"), 0);

    tl_server_analyze_every = "1";
    tl_server s;
    tl_world_serve(&w, &s, NULL);
    tl_server_analyze_every = "0";
    /* The first check comes 5 s after start; wait for its result (bounded: 3 minutes, for
     * a sanitizer build on a loaded machine). */
    json_t *a = NULL;
    for (int i = 0; i < 1800 && !a; i++) {
        tl_response resp;
        tl_call(&resp, &s, "GET", "/v1/customers/1", w.pos_key, NULL);
        assert_int_equal(resp.status, 200);
        json_t *p = tl_response_json(&resp);
        tl_response_free(&resp);
        json_t *x = json_object_get(p, "analytics");
        if (json_is_object(x)) a = json_incref(x);
        json_decref(p);
        if (!a) usleep(100000);
    }
    if (!a) {
        char *tail = tl_server_log_tail(&s, 2000);
        fail_msg("the server's scheduler did not save analytics within 3 minutes:\n%s", tail);
    }
    checkAnalyticsObject(a, NULL);
    json_decref(a);
    assert_int_equal(tl_server_stop(&s), 0);
    assert_int_equal(scalar(w.db, "SELECT count(*) FROM analytics_runs WHERE finished_at IS NOT NULL"), 1);
    char *log = tl_read_file(s.log, NULL);
    assert_non_null(strstr(log, "analytics as of"));
    free(log);
    tl_world_free(&w);
}

/* Equal within 0.1% relative or within half a unit of the published figure's last digit
 * (the published values are rounded to 3 decimals: r = 0.243 stands for 0.2425..0.2435). */
static void near(const char *what, double got, double published, double half_unit)
{
    double rel = fabs(got - published) / fabs(published);
    if (rel <= 1e-3 || fabs(got - published) <= half_unit) return;
    fail_msg("%s: %.6f, published %.6f", what, got, published);
}

static char *sharedFile(const char *name)
{
    const char *shared = getenv("LOYAL_SHARED_DATA");
    char *p = shared ? tl_join(shared, name) : NULL;
    if (p && access(p, R_OK) == 0) return p;
    free(p);
    return NULL;
}

/* The raw CDNOW sample through `loyal analyze`: the deal history the analytics build (one
 * deal a day: same-day purchases are immediate add-ons) gives the published fits. */
static void test_cdnow_models_end_to_end(void **state)
{
    (void)state;
    char *data = sharedFile("CDNOW_sample.txt");
    if (!data) skip();
    char *dir = tl_tempdir("loopcd");
    char *json = tl_join(dir, "cdnow.json");
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--layout", "cdnow_sample", "--as-of", "1997-10-01", "--addon-days",
             "0", "--pnbd", "--quiet", "--json", json, data, NULL);
    if (r.code != 0) fail_msg("analyze: %d\n%s", r.code, r.err);
    tl_run_free(&r);
    json_error_t je;
    json_t *d = json_load_file(json, 0, &je);
    assert_non_null(d);
    json_t *c = json_object_get(d, "clv");
    assert_true(json_is_true(json_object_get(c, "fitted")));
    json_t *bg = json_object_get(c, "bg_nbd");
    near("bg r", json_real_value(json_object_get(bg, "r")), 0.243, 5e-4);
    near("bg alpha", json_real_value(json_object_get(bg, "alpha")), 4.414, 5e-4);
    near("bg a", json_real_value(json_object_get(bg, "a")), 0.793, 5e-4);
    near("bg b", json_real_value(json_object_get(bg, "b")), 2.426, 5e-4);
    near("bg loglik", json_real_value(tl_json_at(bg, "fit.loglik")), -9582.4, 0.05);
    json_t *pn = json_object_get(c, "pareto_nbd");
    near("pnbd r", json_real_value(json_object_get(pn, "r")), 0.553, 5e-4);
    near("pnbd alpha", json_real_value(json_object_get(pn, "alpha")), 10.578, 5e-4);
    near("pnbd s", json_real_value(json_object_get(pn, "s")), 0.606, 5e-4);
    near("pnbd beta", json_real_value(json_object_get(pn, "beta")), 11.669, 5e-4);
    near("pnbd loglik", json_real_value(tl_json_at(pn, "fit.loglik")), -9595.0, 0.05);
    json_t *gg = json_object_get(c, "gamma_gamma");
    /* Money is in cents here: gamma and the mean spend are 100x the published dollars. */
    near("gg p", json_real_value(json_object_get(gg, "p")), 6.25, 5e-3);
    near("gg q", json_real_value(json_object_get(gg, "q")), 3.74, 5e-3);
    near("gg gamma", json_real_value(json_object_get(gg, "gamma")) / 100, 15.44, 5e-3);
    near("gg mean", json_real_value(json_object_get(gg, "mean_spend")) / 100, 35.17, 5e-3);
    assert_int_equal(tl_json_int(gg, "fit.customers"), 946);
    json_decref(d);
    free(json);
    tl_rmtree(dir);
    free(dir);
    free(data);
}

/* Suggested tiers on eight customers with yearly spends 100.00 .. 800.00. */
static void test_suggested_tiers(void **state)
{
    (void)state;
    enum { N = 8 };
    ly_an_receipt rs[N];
    ly_an_line ls[N];
    char keys[N][8], ids[N][8];
    int64_t day = ly_days_from_civil(2024, 1, 1);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "c%d", i);
        snprintf(ids[i], sizeof ids[i], "r%d", i);
        ly_money spend = 10000 * (i + 1);
        ls[i] = (ly_an_line){.sku = "X", .category = "X", .qty = 1000, .price = spend, .amount = spend, .cost = -1};
        rs[i] = (ly_an_receipt){.receipt_id = ids[i], .customer = keys[i], .store = "S", .time = day * 86400 + 3600,
                                .total = spend, .lines = &ls[i], .n_lines = 1};
    }
    ly_source src;
    assert_true(ly_an_array_source(rs, N, &src));
    ly_an_options o;
    ly_an_options_default(&o);
    o.as_of_set = true;
    o.as_of_day = day + 365; /* a year observed: yearly spend = revenue */
    ly_an_result *res;
    ly_error err;
    assert_int_equal(ly_an_run(&src, &o, &res, &err), LY_OK);
    src.close(src.ctx);
    double cuts[2] = {0.25, 0.75};
    int64_t rates[3] = {300, 500, 700};
    ly_an_tiers t;
    assert_int_equal(ly_an_suggest_tiers(res, cuts, rates, 3, 100, &t, &err), LY_OK);
    assert_int_equal(t.customers, N);
    assert_int_equal(t.tiers[0].min_yearly_spend, 0);
    assert_int_equal(t.tiers[1].min_yearly_spend, 30000);
    assert_int_equal(t.tiers[2].min_yearly_spend, 70000);
    assert_int_equal(t.tiers[0].customers, 2);
    assert_int_equal(t.tiers[1].customers, 4);
    assert_int_equal(t.tiers[2].customers, 2);
    /* floor(spend x rate / 10000 / 100) per customer */
    assert_int_equal(t.tiers[0].yearly_points, 3 + 6);
    assert_int_equal(t.tiers[1].yearly_points, 15 + 20 + 25 + 30);
    assert_int_equal(t.tiers[2].yearly_points, 49 + 56);
    assert_int_equal(t.yearly_cost, (9 + 90 + 105) * 100);
    assert_int_equal(t.yearly_spend, 360000);

    /* Bad arguments change nothing and name what is wrong. */
    double bad[2] = {0.75, 0.25};
    assert_int_equal(ly_an_suggest_tiers(res, bad, rates, 3, 100, &t, &err), LY_EINVAL);
    assert_string_equal(err.field, "cuts");
    int64_t badRates[3] = {300, 500, 20000};
    assert_int_equal(ly_an_suggest_tiers(res, cuts, badRates, 3, 100, &t, &err), LY_EINVAL);
    assert_string_equal(err.field, "rates");
    ly_an_result_free(res);

    /* Equal spends always share a tier. */
    for (int i = 0; i < N; i++) ls[i].price = ls[i].amount = rs[i].total = 50000;
    assert_true(ly_an_array_source(rs, N, &src));
    assert_int_equal(ly_an_run(&src, &o, &res, &err), LY_OK);
    src.close(src.ctx);
    assert_int_equal(ly_an_suggest_tiers(res, cuts, rates, 3, 100, &t, &err), LY_OK);
    int held = 0;
    for (int k = 0; k < 3; k++) held += t.tiers[k].customers == N;
    assert_int_equal(held, 1);
    ly_an_result_free(res);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_suggested_tiers),
        cmocka_unit_test(test_save_feeds_profiles_and_rules),
        cmocka_unit_test(test_server_schedule_refreshes_analytics),
        cmocka_unit_test(test_cdnow_models_end_to_end),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char *data = sharedFile("CDNOW_sample.txt");
    if (failed == 0 && !data) {
        printf("CDNOW_sample.txt not found under LOYAL_SHARED_DATA: skipped\n");
        return TL_SKIP;
    }
    free(data);
    return failed;
}
