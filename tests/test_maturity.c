/*
 * test_maturity.c - the program's maturity level (docs/maturity.md): the pure rating's
 * criteria and thresholds, the five examples in examples/maturity/levelN rated N on every
 * block and overall (each imported with `loyal import`, levels 2-4 analysed with `loyal
 * analyze --save`; level 4's triggers run and measured over their hold-outs), a change that
 * lifts one block lifting that block and nothing else, triggers level 4 needing an uplift
 * measured over the hold-outs and a recent renewal, the JSON and HTML outputs, the maturity section of `loyal
 * analyze --html`, and the errors.
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
    ev->triggers_renewed_at = -1;
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
    ev.has_db = true;
    ev.uplift_measured = true;
    ev.triggers_measured = 2;
    ev.triggers_proven = 1;
    ev.triggers_unproven = 1;
    ev.program_versions = 1;
    ev.triggers_renewed_at = ev.now - 86400 * LY_MAT_RENEW_DAYS; /* 90 days: still renewed */
    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3); /* no program-wide hold-out */
    ev.program_holdout = true;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 4);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].evidence, "2 of 2 triggers measured, 1 proven above 0, 1 unproven"));
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].evidence, "last renewed 90 days ago"));
    ev.triggers_holdout = 1; /* one trigger with holdout_percent "0" */
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "every trigger a hold-out"));
    assert_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "measure the uplift"));
    ev.triggers_holdout = 2;

    /* Measured with no uplift proven: still level 4 (the practice is in place), with the
     * advice to revise them; not measured at all: level 3, and the lift says so. */
    ev.triggers_proven = 0;
    ev.triggers_unproven = 2;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 4);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].evidence, "revise the triggers"));
    ev.triggers_measured = 0;
    ev.triggers_unproven = 0;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "measure the uplift"));
    assert_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "renew"));
    ev.triggers_measured = 2;
    ev.triggers_unproven = 1;
    ev.triggers_proven = 1;
    ev.uplift_measured = false; /* e.g. the program file does not load */
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    ev.uplift_measured = true;
    /* Renewal: 91 days is stale; never renewed is stale. */
    ev.triggers_renewed_at -= 86400;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "at least every 90 days (last renewed 91 days ago)"));
    assert_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "measure"));
    ev.triggers_renewed_at = -1;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 3);
    assert_non_null(strstr(r.block[LY_MAT_TRIGGERS].lift, "no change in the stored program versions"));
    ev.triggers_renewed_at = ev.now;
    ly_mat_rate(&ev, &r);
    assert_int_equal(r.block[LY_MAT_TRIGGERS].level, 4);
    assert_string_equal(r.block[LY_MAT_TRIGGERS].lift, "");

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

/* The instants of level 4's steps (LOYAL_NOW): the program loaded and the receipts imported,
 * the triggers run, the receipts after it imported and analysed, and rated. */
static const char *const T_LOAD[] = {"LOYAL_NOW=2026-11-08T09:00:00Z", NULL};
static const char *const T_RUN[] = {"LOYAL_NOW=2026-11-10T09:00:00Z", NULL};
static const char *const T_RATE[] = {"LOYAL_NOW=2026-11-21T09:00:00Z", NULL};
/* 113 days after the program was loaded: past LY_MAT_RENEW_DAYS. */
static const char *const T_STALE[] = {"LOYAL_NOW=2027-03-01T09:00:00Z", NULL};

/* A database with the example's receipts, analysed (--save) when analyse is true. Level 4
 * follows docs/maturity.md's steps at fixed instants, and with measure its triggers are run
 * and the receipts after the run imported, so that the uplift is measured. */
static char *exampleDbAs(int level, bool analyse, bool measure, const char *name)
{
    char *prog = examplePath(level, "program.json");
    char *csv = examplePath(level, "receipts.csv");
    char *db = tempPath(name, level);
    const char *const *load = level == 4 ? T_LOAD : NULL, *const *rate = level == 4 ? T_RATE : NULL;
    tl_run r;
    tl_loyal(&r, load, "init", "--db", db, "--program", prog, "--no-keys", NULL);
    runOk("init", &r);
    tl_run_free(&r);
    tl_loyal(&r, load, "import", "--db", db, "--program", prog, "--quiet", csv, NULL);
    runOk("import", &r);
    tl_run_free(&r);
    if (measure) {
        tl_loyal(&r, T_RUN, "triggers", "run", "--db", db, "--program", prog, NULL);
        runOk("triggers run", &r);
        /* 10 customers came once; 7 get the message, 2 are held out by the trigger, 1 by
         * the program-wide hold-out (the seeded hash of docs/triggers.md). */
        assert_non_null(strstr(r.out, "10 steps reached"));
        assert_non_null(strstr(r.out, "7 messages, 2 held out, 1 held out program-wide"));
        tl_run_free(&r);
        char *after = examplePath(level, "receipts-after.csv");
        tl_loyal(&r, rate, "import", "--db", db, "--program", prog, "--quiet", after, NULL);
        runOk("import after", &r);
        tl_run_free(&r);
        free(after);
    }
    if (analyse) {
        tl_loyal(&r, rate, "analyze", "--db", db, "--save", "--quiet", NULL);
        runOk("analyze", &r);
        tl_run_free(&r);
    }
    free(prog);
    free(csv);
    return db;
}

static char *exampleDb(int level, bool analyse)
{
    return exampleDbAs(level, analyse, level == 4, "level.db");
}

/* Runs `loyal maturity` (with env added, may be NULL) and returns its JSON (the caller
 * decrefs). */
static json_t *maturityEnv(const char *db, const char *prog, const char *const *env)
{
    char *out = tl_join(g_dir, "maturity.json");
    tl_run r;
    tl_loyal(&r, env, "maturity", "--db", db, "--program", prog, "--json", out, NULL);
    runOk("maturity", &r);
    assert_non_null(strstr(r.out, "maturity: level"));
    tl_run_free(&r);
    json_error_t je;
    json_t *j = json_load_file(out, 0, &je);
    assert_non_null(j);
    free(out);
    return j;
}

static json_t *maturity(const char *db, const char *prog)
{
    return maturityEnv(db, prog, NULL);
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
        json_t *j = maturityEnv(g_db[level], prog, level == 4 ? T_RATE : NULL);
        for (int b = 0; b < LY_MAT_BLOCKS; b++) {
            if (blockLevel(j, keys[b]) != level)
                fprintf(stderr, "level%d: %s is %d\n", level, keys[b], blockLevel(j, keys[b]));
            assert_int_equal(blockLevel(j, keys[b]), level);
        }
        assert_int_equal(json_integer_value(json_object_get(j, "overall")), level);
        json_t *facts = json_object_get(j, "facts");
        /* Level 4: 40 + 10 customers who came once + 6 who came back after the trigger. */
        assert_int_equal(json_integer_value(json_object_get(facts, "receipts")), level == 4 ? 56 : 40);
        static const int identified[5] = {0, 12, 24, 34, 56};
        assert_int_equal(json_integer_value(json_object_get(facts, "identified")), identified[level]);
        assert_int_equal(json_integer_value(json_object_get(facts, "analytics_runs")), level >= 2);
        /* Every block below 4 says what would lift it; at 4 there is nothing to say. */
        size_t i;
        json_t *blk;
        json_array_foreach(json_object_get(j, "blocks"), i, blk) {
            assert_true(json_is_string(json_object_get(blk, "evidence")));
            assert_int_equal(json_is_string(json_object_get(blk, "lift")), level < 4);
        }
        if (level == 4) {
            assert_true(json_is_true(json_object_get(facts, "uplift_measured")));
            assert_int_equal(json_integer_value(json_object_get(facts, "triggers_measured")), 1);
            assert_int_equal(json_integer_value(json_object_get(facts, "triggers_proven")), 1);
            assert_int_equal(json_integer_value(json_object_get(facts, "program_versions")), 1);
            assert_true(json_is_integer(json_object_get(facts, "triggers_renewed_at")));
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
    j = maturityEnv(g_db[4], prog, T_RATE);
    assert_int_equal(blockLevel(j, "data"), 3);
    json_decref(j);
    free(prog);
}

static const char *blockLift(const json_t *j, const char *key)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "blocks"), i, b)
        if (strcmp(json_string_value(json_object_get(b, "block")), key) == 0)
            return json_string_value(json_object_get(b, "lift"));
    return NULL;
}

static const char *blockEvidence(const json_t *j, const char *key)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(j, "blocks"), i, b)
        if (strcmp(json_string_value(json_object_get(b, "block")), key) == 0)
            return json_string_value(json_object_get(b, "evidence"));
    return NULL;
}

/* Writes level 4's program as version, with the first trigger's attribution window changed
 * (changeTriggers) or only the name; returns its path. */
static char *level4Version(const char *version, bool changeTriggers)
{
    char *src = examplePath(4, "program.json");
    json_error_t je;
    json_t *root = json_load_file(src, 0, &je);
    assert_non_null(root);
    json_object_set_new(root, "version", json_string(version));
    if (changeTriggers)
        json_object_set_new(json_array_get(json_object_get(json_object_get(root, "triggers"), "list"), 0),
                            "attribution_days", json_integer(10));
    else
        json_object_set_new(root, "name", json_string("Corner Bakery and Cafe"));
    char *name = tl_strdupf("%s.json", version);
    char *path = tl_join(g_dir, name);
    assert_int_equal(json_dump_file(root, path, JSON_INDENT(2)), 0);
    json_decref(root);
    free(name);
    free(src);
    return path;
}

static void test_level4_triggers_need_measured_uplift_and_renewal(void **state)
{
    (void)state;
    assert_non_null(g_db[4]);
    char *prog = examplePath(4, "program.json");
    /* The same setup without the triggers run: the hold-outs are declared, nothing is
     * measured, so triggers stay at 3 and say what is missing; the rest stays at 4. */
    char *unmeasured = exampleDbAs(4, true, false, "unmeasured.db");
    json_t *j = maturityEnv(unmeasured, prog, T_RATE);
    for (int b = 0; b < LY_MAT_BLOCKS; b++)
        assert_int_equal(blockLevel(j, keys[b]), strcmp(keys[b], "triggers") == 0 ? 3 : 4);
    const char *lift = blockLift(j, "triggers");
    assert_non_null(lift);
    assert_non_null(strstr(lift, "measure the uplift"));
    assert_null(strstr(lift, "renew"));
    assert_null(strstr(lift, "two chains"));
    json_t *facts = json_object_get(j, "facts");
    assert_true(json_is_true(json_object_get(facts, "uplift_measured")));
    assert_int_equal(json_integer_value(json_object_get(facts, "triggers_measured")), 0);
    assert_int_equal(json_integer_value(json_object_get(facts, "triggers_proven")), 0);
    json_decref(j);
    free(unmeasured);

    /* Measured, but rated 113 days after the triggers were loaded: not renewed. */
    j = maturityEnv(g_db[4], prog, T_STALE);
    assert_int_equal(blockLevel(j, "triggers"), 3);
    lift = blockLift(j, "triggers");
    assert_non_null(lift);
    assert_non_null(strstr(lift, "renew the trigger chains"));
    assert_non_null(strstr(lift, "last renewed 113 days ago"));
    assert_null(strstr(lift, "prove"));
    json_decref(j);

    /* A new version that leaves the triggers alone does not renew them; one that changes
     * them does (its first load is the renewal). */
    char *renamed = level4Version("maturity-level4-b", false);
    char *changed = level4Version("maturity-level4-c", true);
    char *after = examplePath(4, "receipts-after.csv");
    static const char *const tRename[] = {"LOYAL_NOW=2027-01-01T09:00:00Z", NULL};
    static const char *const tChange[] = {"LOYAL_NOW=2027-02-20T09:00:00Z", NULL};
    tl_run r;
    tl_loyal(&r, tRename, "import", "--db", g_db[4], "--program", renamed, "--quiet", after, NULL);
    runOk("import with a renamed program", &r);
    tl_run_free(&r);
    j = maturityEnv(g_db[4], renamed, T_STALE);
    assert_int_equal(blockLevel(j, "triggers"), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "facts"), "program_versions")), 2);
    assert_non_null(strstr(blockLift(j, "triggers"), "last renewed 113 days ago"));
    json_decref(j);
    tl_loyal(&r, tChange, "import", "--db", g_db[4], "--program", changed, "--quiet", after, NULL);
    runOk("import with changed triggers", &r);
    tl_run_free(&r);
    j = maturityEnv(g_db[4], changed, T_STALE);
    assert_int_equal(blockLevel(j, "triggers"), 4);
    assert_null(blockLift(j, "triggers"));
    assert_non_null(strstr(blockEvidence(j, "triggers"), "last renewed 9 days ago"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "facts"), "program_versions")), 3);
    json_decref(j);

    /* A program file that does not load as a program: counted, but the uplift is not
     * measured, with the reason. */
    char *broken = tl_join(g_dir, "broken-program.json");
    assert_int_equal(tl_write_file(broken, "{\"name\": \"x\", \"triggers\": {\"list\": [{\"id\": \"a\","
                                           " \"steps\": [{}, {}]}]}}", (size_t)-1), 0);
    j = maturityEnv(g_db[4], broken, T_RATE);
    assert_true(json_is_false(json_object_get(json_object_get(j, "facts"), "uplift_measured")));
    assert_non_null(strstr(blockEvidence(j, "triggers"), "uplift not measured: the program file does not load"));
    assert_int_equal(blockLevel(j, "triggers"), 3);
    json_decref(j);
    free(broken);
    free(renamed);
    free(changed);
    free(after);
    free(prog);
}

/* `loyal analyze --html` on the database with a program file: the report has the maturity
 * section, the same as `loyal maturity --html`, linked from its contents; from a CSV file
 * with --program, a note that the rating needs the database; without a program file, none. */
static void test_analyze_report_has_the_maturity_section(void **state)
{
    (void)state;
    assert_non_null(g_db[3]);
    char *prog = tl_source_path("examples/maturity/level3/program.json");
    char *report = tl_join(g_dir, "report.html");
    char *page = tl_join(g_dir, "maturity-page.html");
    tl_run r;
    tl_loyal(&r, NULL, "analyze", "--db", g_db[3], "--program", prog, "--html", report, "--quiet",
             "--no-clv", "--json", "/dev/null", NULL);
    runOk("analyze --html", &r);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "maturity", "--db", g_db[3], "--program", prog, "--html", page, "--quiet", NULL);
    runOk("maturity --html", &r);
    tl_run_free(&r);
    char *html = tl_read_file(report, NULL), *mat = tl_read_file(page, NULL);
    assert_non_null(html);
    assert_non_null(mat);
    assert_non_null(strstr(html, "<li><a href=\"#maturity\">Program maturity</a></li>"));
    const char *sec = strstr(html, "<section id=\"maturity\">");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "Overall level: <strong>3</strong>"));
    assert_non_null(strstr(sec, "<svg"));
    assert_non_null(strstr(sec, "id=\"maturity-levels\""));
    assert_non_null(strstr(sec, "id=\"maturity-blocks\""));
    /* The same content as the page: from the overall level to the end of the table. */
    const char *a = strstr(sec, "<p class=\"overall"), *b = strstr(mat, "<p class=\"overall");
    assert_non_null(a);
    assert_non_null(b);
    const char *ae = strstr(a, "</table>"), *be = strstr(b, "</table>");
    assert_non_null(ae);
    assert_non_null(be);
    assert_int_equal(ae - a, be - b);
    assert_memory_equal(a, b, (size_t)(ae - a));
    free(html);
    free(mat);

    /* A CSV file with --program: the section says the rating needs the database. */
    char *csv = tl_source_path("examples/maturity/level3/receipts.csv");
    tl_loyal(&r, NULL, "analyze", csv, "--program", prog, "--html", report, "--quiet", "--no-clv",
             "--json", "/dev/null", NULL);
    runOk("analyze a file --html", &r);
    tl_run_free(&r);
    html = tl_read_file(report, NULL);
    assert_non_null(html);
    sec = strstr(html, "<section id=\"maturity\">");
    assert_non_null(sec);
    assert_non_null(strstr(sec, "needs Loyal&#39;s database"));
    assert_null(strstr(html, "maturity-blocks"));
    free(html);
    /* Neither --program nor a default file: no section. */
    static const char *const noProgram[] = {"LOYAL_PROGRAM=/nonexistent/program.json", NULL};
    tl_loyal(&r, noProgram, "analyze", "--db", g_db[3], "--html", report, "--quiet", "--no-clv",
             "--json", "/dev/null", NULL);
    runOk("analyze --html without a program", &r);
    tl_run_free(&r);
    html = tl_read_file(report, NULL);
    assert_non_null(html);
    assert_null(strstr(html, "id=\"maturity\""));
    assert_null(strstr(html, "#maturity"));
    free(html);
    /* A --program that is not JSON fails the command, as `loyal maturity` does. */
    char *bad = tl_join(g_dir, "bad-analyze.json");
    assert_int_equal(tl_write_file(bad, "[1, 2", (size_t)-1), 0);
    assert_int_equal(tl_loyal(&r, NULL, "analyze", "--db", g_db[3], "--program", bad, "--html", report,
                              "--quiet", "--no-clv", "--json", "/dev/null", NULL), 3);
    tl_run_free(&r);
    free(bad);
    free(csv);
    free(prog);
    free(report);
    free(page);
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
    assert_non_null(strstr(page, "<section id=\"maturity\"><h1>Program maturity</h1>"));
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
        cmocka_unit_test(test_level4_triggers_need_measured_uplift_and_renewal),
        cmocka_unit_test(test_analyze_report_has_the_maturity_section),
        cmocka_unit_test(test_html_and_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 5; i++) free(g_db[i]);
    tl_rmtree(g_dir);
    free(g_dir);
    return rc;
}
