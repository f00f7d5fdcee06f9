/*
 * test_maturity.c - the program's maturity level (docs/maturity.md): the pure rating's
 * criteria and thresholds, the five examples in examples/maturity/levelN rated N on every
 * block and overall (each imported with `loyal import`, levels 2-4 analysed with `loyal
 * analyze --save`), a change that lifts one block lifting that block and nothing else, the
 * JSON and HTML outputs, and the errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testlib.h"

#include "analytics/maturity.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * The pure rating
 * ------------------------------------------------------------------------------------- */

static void baseEvidence(ly_mat_evidence *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->last_analytics_at = -1;
    ev->quest_rows = ev->answers = -1;
    ev->now = 1800000000;
}

static void test_nothing_is_level_0(void **state)
{
    (void)state;
    ly_mat_evidence ev;
    baseEvidence(&ev);
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    for (int b = 0; b < LY_MAT_BLOCKS; b++) {
        assert_int_equal(r.block[b].level, 0);
        assert_true(r.block[b].lift[0] != '\0');
    }
    assert_int_equal(r.overall, 0);
    assert_non_null(strstr(r.block[LY_MAT_REWARDS].evidence, "no program file"));
    assert_non_null(strstr(r.block[LY_MAT_DATA].evidence, "no database"));
}

static void test_data_thresholds(void **state)
{
    (void)state;
    ly_mat_evidence ev;
    baseEvidence(&ev);
    ev.has_db = true;
    ev.receipts = 10000;
    ev.identified = 4999;
    ev.analytics_customers = 10;
    ev.analytics_runs = 1;
    ev.last_analytics_at = ev.now - 86400 * LY_MAT_FRESH_DAYS;
    ev.questionnaires = 1;
    ev.touchpoints = 1;
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 1); /* 49.99% < 50% */
    ev.identified = 5000;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 2);
    ev.identified = 8000;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 3); /* 31 days old is still fresh */
    ev.last_analytics_at -= 86400;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 2); /* 32 days: stale */
    assert_non_null(strstr(r.block[LY_MAT_DATA].lift, "every 31 days"));
    ev.last_analytics_at += 86400;
    ev.identified = 9499;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 3);
    ev.identified = 9500;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 4);
    assert_string_equal(r.block[LY_MAT_DATA].lift, "");
    /* Each level needs the ones below it: without saved RFM figures, 95% is level 1. */
    ev.analytics_customers = 0;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_DATA].level, 1);
}

static void test_overall_is_reached_by_three_blocks(void **state)
{
    (void)state;
    ly_mat_evidence ev;
    baseEvidence(&ev);
    /* Rewards 2 (tiers), customisation 2 (a tier rule), gamification 1 (a coupon),
     * triggers 0, data 0. */
    ev.has_program = true;
    ev.earn_rate = true;
    ev.tiers = 2;
    ev.rules = 1;
    ev.rules_transaction = 1;
    ev.coupons = 1;
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_REWARDS].level, 2);
    assert_int_equal(r.block[LY_MAT_CUSTOM].level, 2);
    assert_int_equal(r.block[LY_MAT_GAMES].level, 1);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 0);
    assert_int_equal(r.block[LY_MAT_DATA].level, 0);
    assert_int_equal(r.overall, 1);
    assert_int_equal(r.lowest, 0);
    assert_non_null(strstr(r.note, "3 of 5 blocks at level 1 or above"));
    assert_non_null(strstr(r.note, "data at 0"));
    assert_non_null(strstr(r.note, "triggers at 0"));
    /* One more block at 2 lifts the overall level. */
    ev.events = 1;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_GAMES].level, 2);
    assert_int_equal(r.overall, 2);
}

static void test_trigger_and_game_criteria(void **state)
{
    (void)state;
    ly_mat_evidence ev;
    baseEvidence(&ev);
    ev.has_program = true;
    ev.channels = 1;
    ev.triggers = 2;
    ev.chains = 2;
    ev.triggers_holdout = 2;
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3); /* no program-wide hold-out */
    ev.program_holdout = true;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 4);
    ev.triggers_holdout = 1; /* one trigger with holdout_percent "0" */
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "every trigger a hold-out"));

    ev.quests = 3;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_GAMES].level, 3); /* no levels or streaks */
    ev.streaks = true;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_GAMES].level, 4);
}

/* ---------------------------------------------------------------------------------------
 * The examples, through the `loyal` binary
 * ------------------------------------------------------------------------------------- */

static char *g_dir;

/* examples/maturity/levelN/NAME in the source tree (malloc'd). */
static char *examplePath(int level, const char *name)
{
    char *rel = tl_strdupf("examples/maturity/level%d/%s", level, name);
    char *p = tl_source_path(rel);
    free(rel);
    return p;
}

/* g_dir/NAME-N (malloc'd). */
static char *tempPath(const char *name, int n)
{
    char *rel = tl_strdupf("%s-%d", name, n);
    char *p = tl_join(g_dir, rel);
    free(rel);
    return p;
}

static void runOk(const char *what, tl_run *r)
{
    if (r->code != 0) fprintf(stderr, "%s: exit %d\n%s\n", what, r->code, r->err);
    assert_int_equal(r->code, 0);
}

/* A database with the example's receipts, analysed (--save) when analyse is true. */
static char *exampleDb(int level, bool analyse)
{
    char *prog = examplePath(level, "program.json");
    char *csv = examplePath(level, "receipts.csv");
    char *db = tempPath("level.db", level);
    tl_run r;
    tl_loyal(&r, NULL, "init", "--db", db, "--program", prog, "--no-keys", NULL);
    runOk("init", &r);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--db", db, "--program", prog, "--quiet", csv, NULL);
    runOk("import", &r);
    tl_run_free(&r);
    if (analyse) {
        tl_loyal(&r, NULL, "analyze", "--db", db, "--save", "--quiet", NULL);
        runOk("analyze", &r);
        tl_run_free(&r);
    }
    free(prog);
    free(csv);
    return db;
}

/* Runs `loyal maturity` and returns its JSON (the caller decrefs). */
static json_t *maturity(const char *db, const char *prog)
{
    char *out = tl_join(g_dir, "maturity.json");
    tl_run r;
    tl_loyal(&r, NULL, "maturity", "--db", db, "--program", prog, "--json", out, NULL);
    runOk("maturity", &r);
    assert_non_null(strstr(r.out, "maturity: level"));
    tl_run_free(&r);
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    assert_non_null(j);
    free(out);
    return j;
}

static int blockLevel(const json_t *j, const char *key)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "blocks"), i, b)
        if (strcmp(json_string_value(json_object_get(b, "block")), key) == 0)
            return (int)json_integer_value(json_object_get(b, "level"));
    fail_msg("no block %s", key);
    return -1;
}

static const char *const keys[LY_MAT_BLOCKS] = {"rewards", "data", "triggers", "customisation",
                                                "gamification"};

static char *g_db[5];

static void test_examples_are_rated_their_level(void **state)
{
    (void)state;
    for (int level = 0; level <= 4; level++) {
        g_db[level] = exampleDb(level, level >= 2);
        char *prog = examplePath(level, "program.json");
        json_t *j = maturity(g_db[level], prog);
        for (int b = 0; b < LY_MAT_BLOCKS; b++) {
            if (blockLevel(j, keys[b]) != level)
                fprintf(stderr, "level%d: %s is %d\n", level, keys[b], blockLevel(j, keys[b]));
            assert_int_equal(blockLevel(j, keys[b]), level);
        }
        assert_int_equal(json_integer_value(json_object_get(j, "overall")), level);
        json_t *facts = json_object_get(j, "facts");
        assert_int_equal(json_integer_value(json_object_get(facts, "receipts")), 40);
        static const int identified[5] = {0, 12, 24, 34, 40};
        assert_int_equal(json_integer_value(json_object_get(facts, "identified")), identified[level]);
        assert_int_equal(json_integer_value(json_object_get(facts, "analytics_runs")), level >= 2);
        /* Every block below 4 says what would lift it; at 4 there is nothing to say. */
        size_t i;
        json_t *blk;
        json_array_foreach(json_object_get(j, "blocks"), i, blk) {
            assert_true(json_is_string(json_object_get(blk, "evidence")));
            assert_int_equal(json_is_string(json_object_get(blk, "lift")), level < 4);
        }
        json_decref(j);
        free(prog);
    }
}

/* Writes the example's program with edit applied to a temp file; returns its path. */
static char *editedProgram(int level, void (*edit)(json_t *root))
{
    char *src = examplePath(level, "program.json");
    json_error_t je;
    json_t *root = json_load_file(src, 0, &je);
    assert_non_null(root);
    edit(root);
    char *path = tempPath("edited.json", level);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);
    free(src);
    return path;
}

static void addTiers(json_t *root)
{
    json_object_set_new(root, "tiers",
                        json_pack("{s:[{s:s}, {s:s, s:s}]}", "levels", "id", "basic", "id", "silver",
                                  "min_spend", "3000.00"));
}

static void addChainStep(json_t *root)
{
    json_t *steps = json_object_get(json_array_get(json_object_get(json_object_get(root, "triggers"),
                                                                   "list"), 0), "steps");
    json_array_append_new(steps, json_pack("{s:i, s:s}", "wait_days", 7, "text", "again"));
}

static void expectOnlyLifted(const json_t *j, int level, const char *lifted)
{
    for (int b = 0; b < LY_MAT_BLOCKS; b++)
        assert_int_equal(blockLevel(j, keys[b]), level + (strcmp(keys[b], lifted) == 0));
}

static void test_a_change_lifts_one_block(void **state)
{
    (void)state;
    assert_non_null(g_db[1]);
    /* Level 1 with two tiers: rewards goes to 2, the rest stays at 1. The edited program is
     * also a valid program file: importing with it works. */
    char *prog = editedProgram(1, addTiers);
    json_t *j = maturity(g_db[1], prog);
    expectOnlyLifted(j, 1, "rewards");
    assert_int_equal(json_integer_value(json_object_get(j, "overall")), 1);
    json_decref(j);
    tl_run r;
    char *csv = tl_source_path("examples/maturity/level1/receipts.csv");
    char *db = tl_join(g_dir, "check.db");
    tl_loyal(&r, NULL, "init", "--db", db, "--program", prog, "--no-keys", NULL);
    runOk("init", &r);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--db", db, "--program", prog, "--quiet", csv, NULL);
    runOk("import edited", &r);
    tl_run_free(&r);
    free(prog);
    free(csv);
    free(db);

    /* Level 2 with a second step in its trigger: a chain lifts triggers to 3 only. */
    prog = editedProgram(2, addChainStep);
    j = maturity(g_db[2], prog);
    expectOnlyLifted(j, 2, "triggers");
    json_decref(j);
    free(prog);

    /* Data: the level 3 program read against level 4's fully identified receipts still
     * needs touchpoints for data level 4, so only the facts change, not the level. */
    prog = tl_source_path("examples/maturity/level3/program.json");
    j = maturity(g_db[4], prog);
    assert_int_equal(blockLevel(j, "data"), 3);
    json_decref(j);
    free(prog);
}

static void test_html_and_errors(void **state)
{
    (void)state;
    char *prog = tl_source_path("examples/maturity/level3/program.json");
    char *html = tl_join(g_dir, "maturity.html");
    tl_run r;
    tl_loyal(&r, NULL, "maturity", "--db", g_db[3], "--program", prog, "--html", html, "--quiet",
             NULL);
    runOk("maturity --html", &r);
    assert_string_equal(r.out, "");
    tl_run_free(&r);
    char *page = tl_read_file(html, NULL);
    assert_non_null(page);
    assert_non_null(strstr(page, "<!DOCTYPE html>"));
    assert_non_null(strstr(page, "<section id=\"maturity\">"));
    assert_non_null(strstr(page, "Overall level: <strong>3</strong>"));
    assert_non_null(strstr(page, "<svg"));
    assert_non_null(strstr(page, "id=\"maturity-blocks\""));
    assert_non_null(strstr(page, "Gamification"));
    assert_null(strstr(page, "<script"));
    assert_null(strstr(page, "src=")); /* self-contained: nothing fetched */
    assert_null(strstr(page, "<link"));
    free(page);

    /* No database file: data is rated without one, and none is created. */
    char *missing = tl_join(g_dir, "missing.db");
    tl_loyal(&r, NULL, "maturity", "--db", missing, "--program", prog, NULL);
    runOk("maturity without a database", &r);
    assert_non_null(strstr(r.out, "no database"));
    tl_run_free(&r);
    FILE *f = fopen(missing, "rb");
    assert_null(f);

    /* A program file that is not JSON: exit 3; an unknown option: exit 2. */
    char *bad = tl_join(g_dir, "bad.json");
    assert_int_equal(tl_write_file(bad, "{\"name\": ", (size_t)-1), 0);
    assert_int_equal(tl_loyal(&r, NULL, "maturity", "--db", missing, "--program", bad, NULL), 3);
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "maturity", "--frobnicate", NULL), 2);
    tl_run_free(&r);
    free(bad);
    free(missing);
    free(prog);
    free(html);
}

int main(void)
{
    tl_loyal_bin();
    free(tl_source_path("examples"));
    g_dir = tl_tempdir("maturity");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_is_level_0),
        cmocka_unit_test(test_data_thresholds),
        cmocka_unit_test(test_overall_is_reached_by_three_blocks),
        cmocka_unit_test(test_trigger_and_game_criteria),
        cmocka_unit_test(test_examples_are_rated_their_level),
        cmocka_unit_test(test_a_change_lifts_one_block),
        cmocka_unit_test(test_html_and_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 5; i++) free(g_db[i]);
    tl_rmtree(g_dir);
    free(g_dir);
    return rc;
}
