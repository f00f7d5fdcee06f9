/*
 * test_engage_triggers_uplift.c - the uplift measurement recovers a planted effect
 * (docs/triggers.md, "How the measurement is tested").
 *
 * The simulator makes 1,000 customers with ten months of history, imported by `loyal
 * import`. In each of 40 seeded runs the same history gets two triggers with different
 * hold-out seeds, run as of 2 November; then this test writes the post-period deals itself:
 * every customer who reached a trigger buys within the attribution window with probability
 * 20%, plus 10 points for the customers treated by trigger "effect" (trigger "placebo" has
 * no effect), and the deals go in through `loyal import` (its function, in this process) as receipts. The report's 95%
 * intervals must cover the planted effects (conversion, revenue per customer, and the whole
 * program against its program-wide hold-out) in most runs, and "placebo" must be reported
 * unproven in most runs.
 */
#include "testlib.h"

#include "cli/cli.h"
#include "engage/engage.h"
#include "os/os.h"
#include "program/program.h"
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 40
#define CUSTOMERS "1000"
#define BASE_RATE 0.20
#define EFFECT 0.10
#define MEAN_DEAL 100000.0 /* minor units: deals are uniform in 500.00 .. 1500.00 */

static const char *programText =
    "{\"name\":\"Uplift test\",\"version\":\"u-%d\",\"currency\":\"RUB\",\"time_zone\":"
    "\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
    "\"points\":{\"value\":\"1.00\"},"
    "\"channels\":{\"push\":{\"consent\":\"none\",\"cost\":\"0.50\"}},"
    "\"triggers\":{\"seed\":\"run-%d\",\"program_holdout_percent\":\"10\",\"margin_percent\":\"25\","
    "\"list\":["
    "{\"id\":\"effect\",\"holdout_percent\":\"30\",\"attribution_days\":14,"
    "\"audience\":{\"days_since_last\":{\"from\":0}},\"channels\":[\"push\"],"
    "\"steps\":[{\"text\":\"Come back, {{balance}} points wait\"}]},"
    "{\"id\":\"placebo\",\"holdout_percent\":\"30\",\"attribution_days\":14,"
    "\"audience\":{\"days_since_last\":{\"from\":0}},\"channels\":[\"push\"],"
    "\"steps\":[{\"text\":\"Hello\"}]}]}}";

/* splitmix64: the test's own deterministic generator. */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double uniform(uint64_t *s) { return (double)(next(s) >> 11) / 9007199254740992.0; }

static bool copyFile(const char *from, const char *to)
{
    size_t len;
    char *data = tl_read_file(from, &len);
    if (!data) return false;
    bool ok = tl_write_file(to, data, len) == 0;
    free(data);
    return ok;
}

typedef struct who {
    int64_t id;
    char card[64];
    bool reached, program_holdout, effect_treated;
} who;

/* Everyone who reached a step in this run, with their card and groups. */
static who *reached(const char *db, size_t *n)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    const char *sql =
        "SELECT s.customer_id, (SELECT MIN(value) FROM identifiers i WHERE i.customer_id ="
        " s.customer_id AND i.kind = 'external'), MAX(s.grp = 'program_holdout'),"
        " MAX(s.trigger_id = 'effect' AND s.grp = 'treated') FROM trigger_sends s"
        " GROUP BY s.customer_id ORDER BY s.customer_id";
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s", sqlite3_errmsg(c));
    size_t cap = 0;
    who *w = NULL;
    *n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            w = realloc(w, cap * sizeof *w);
            assert_non_null(w);
        }
        who *x = &w[(*n)++];
        x->id = sqlite3_column_int64(st, 0);
        const unsigned char *card = sqlite3_column_text(st, 1);
        if (!card) fail_msg("customer %lld has no external id", (long long)x->id);
        snprintf(x->card, sizeof x->card, "%s", (const char *)card);
        x->program_holdout = sqlite3_column_int(st, 2) != 0;
        x->effect_treated = sqlite3_column_int(st, 3) != 0;
    }
    sqlite3_finalize(st);
    sqlite3_close(c);
    return w;
}

static bool covers(const ly_estimate *e, double v) { return e->valid && e->lo <= v && v <= e->hi; }

static void test_planted_uplift_is_recovered(void **state)
{
    (void)state;
    char *dir = tl_tempdir("uplift");
    char *tmplDb = tl_join(dir, "template.db");
    char *prog = tl_join(dir, "program.json");
    char *runDb = tl_join(dir, "run.db");
    char *csv = tl_join(dir, "post.csv");
    char *text = tl_strdupf(programText, 0, 0);
    assert_int_equal(tl_write_file(prog, text, (size_t)-1), 0);
    free(text);
    tl_run r;
    tl_loyal(&r, NULL, "init", "--db", tmplDb, "--program", prog, "--no-keys", NULL);
    if (r.code != 0) fail_msg("init: %s", r.err);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "simulate", "--customers", CUSTOMERS, "--seed", "21", "--start", "2026-01-01",
             "--end", "2026-10-31", "--db", tmplDb, "--program", prog, NULL);
    if (r.code != 0) fail_msg("simulate: %s", r.err);
    tl_run_free(&r);

    ly_time now;
    assert_true(ly_time_parse("2026-11-02T09:00:00Z", &now, NULL));
    ly_calendar cal;
    ly_calendar_fixed(&cal, 180);
    int coverEffect = 0, coverPlacebo = 0, coverRevenue = 0, coverProgram = 0;
    int provenEffect = 0, unprovenPlacebo = 0;
    double sumEffect = 0;
    uint64_t t0 = ly_os_usec();
    for (int k = 1; k <= RUNS; k++) {
        char *wal = tl_strdupf("%s-wal", runDb), *shm = tl_strdupf("%s-shm", runDb);
        remove(wal);
        remove(shm);
        free(wal);
        free(shm);
        assert_true(copyFile(tmplDb, runDb));
        text = tl_strdupf(programText, k, k);
        assert_int_equal(tl_write_file(prog, text, (size_t)-1), 0);
        free(text);
        ly_program p;
        ly_error err;
        if (ly_program_load(prog, &p, &err) != LY_OK) fail_msg("%s: %s", err.field, err.message);
        ly_store *s;
        ly_store_options so = {.path = runDb, .sync = LY_SYNC_NORMAL};
        assert_int_equal(ly_store_open(&so, &s, &err), LY_OK);
        ly_triggers_run_options ro = {.now = now};
        ly_triggers_run_result rr;
        if (ly_triggers_run(s, &p, &cal, &ro, &rr, &err) != LY_OK) fail_msg("run: %s", err.message);
        assert_true(rr.steps > 1500);
        ly_store_close(s);

        /* The post-period: the planted truth. */
        size_t n;
        who *w = reached(runDb, &n);
        uint64_t rng = 0x5eed0000u + (uint64_t)k;
        FILE *f = fopen(csv, "w");
        assert_non_null(f);
        fprintf(f, "receipt_id,time,store,customer_external_id,sku,qty,price\n");
        int64_t progTreated = 0, progTreatedEffect = 0;
        for (size_t i = 0; i < n; i++) {
            if (!w[i].program_holdout) {
                progTreated++;
                progTreatedEffect += w[i].effect_treated;
            }
            double prob = BASE_RATE + (w[i].effect_treated ? EFFECT : 0.0);
            if (uniform(&rng) >= prob) continue;
            ly_time t = now + 3600 + (ly_time)(uniform(&rng) * 13.0 * 86400);
            int64_t amount = 50000 + (int64_t)(uniform(&rng) * 100000.0);
            char when[40];
            ly_time_format(t, 180, when, sizeof when);
            fprintf(f, "post-%d-%lld,%s,S001,%s,SKU-1,1,%lld.%02lld\n", k, (long long)w[i].id, when,
                    w[i].card, (long long)(amount / 100), (long long)(amount % 100));
        }
        fclose(f);
        free(w);
        /* `loyal import`, in this process (the same function the command runs). */
        char *argv[] = {"import", "--db", runDb, "--program", prog, "--quiet", csv, NULL};
        int code = ly_cli_import(7, argv);
        if (code != 0) fail_msg("import: exit code %d", code);

        assert_int_equal(ly_store_open(&so, &s, &err), LY_OK);
        ly_arena a = {0};
        ly_triggers_report rep;
        assert_int_equal(ly_triggers_report_build(s, &p, now - 86400, now + 86400, &a, &rep, &err), LY_OK);
        const ly_trigger_figures *fe = NULL, *fp = NULL;
        for (size_t i = 0; i < rep.n_rows; i++) {
            if (!strcmp(rep.rows[i].trigger, "effect")) fe = &rep.rows[i];
            if (!strcmp(rep.rows[i].trigger, "placebo")) fp = &rep.rows[i];
        }
        assert_non_null(fe);
        assert_non_null(fp);
        assert_true(rep.has_program);
        double planted = EFFECT * (double)progTreatedEffect / (double)progTreated;
        coverEffect += covers(&fe->uplift, EFFECT);
        coverPlacebo += covers(&fp->uplift, 0.0);
        coverRevenue += covers(&fe->revenue, EFFECT * MEAN_DEAL);
        coverProgram += covers(&rep.program.uplift, planted);
        provenEffect += fe->proven;
        unprovenPlacebo += !fp->proven;
        sumEffect += fe->uplift.est;
        ly_arena_free(&a);
        ly_store_close(s);
        ly_program_free(&p);
    }
    print_message("uplift over %d runs (%.1f s): effect 0.10 covered %d, proven %d, mean estimate "
                  "%.4f; revenue covered %d; placebo covered %d, unproven %d; program covered %d\n",
                  RUNS, (double)(ly_os_usec() - t0) / 1e6, coverEffect, provenEffect,
                  sumEffect / RUNS, coverRevenue, coverPlacebo, unprovenPlacebo, coverProgram);
    /* 95% intervals: about 38 of 40 cover; 34 of 40 (85%) is far in the tail (p < 0.01). */
    assert_true(coverEffect >= 34);
    assert_true(coverPlacebo >= 34);
    assert_true(unprovenPlacebo >= 34);
    assert_true(coverRevenue >= 34);
    assert_true(coverProgram >= 34);
    /* And the planted effect is found: about 3 standard errors at these sizes. */
    assert_true(provenEffect >= 30);
    assert_true(fabs(sumEffect / RUNS - EFFECT) < 0.02);
    tl_rmtree(dir);
    free(dir);
    free(tmplDb);
    free(prog);
    free(runDb);
    free(csv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_planted_uplift_is_recovered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
