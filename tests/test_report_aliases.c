/*
 * test_report_aliases.c - `loyal report triggers|quests|touchpoints` (docs/cli.md) run the
 * engagement reports of `loyal triggers|quests|touchpoints report`: same output, same exit
 * code, options passed through, and an unknown report is a usage error.
 */
#include "testlib.h"

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

/* Runs `loyal NAME report ARGS` and `loyal report NAME ARGS` and checks that they agree. */
static void sameAs(const char *name, const char *db, const char *program, const char *extra)
{
    tl_run a, b;
    tl_loyal(&a, NULL, name, "report", "--db", db, "--program", program, extra, NULL);
    tl_loyal(&b, NULL, "report", name, "--db", db, "--program", program, extra, NULL);
    if (a.code != 0) fail_msg("loyal %s report: exit %d: %s", name, a.code, a.err);
    assert_int_equal(b.code, a.code);
    assert_true(strlen(a.out) > 0);
    assert_string_equal(b.out, a.out);
    tl_run_free(&a);
    tl_run_free(&b);
}

static void test_aliases_agree(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "aliases-quests", "examples/quests.json");
    sameAs("quests", w.db, w.program, NULL);
    tl_world_free(&w);

    tl_world_make(&w, "aliases-triggers", "examples/maturity/level3/program.json");
    sameAs("triggers", w.db, w.program, NULL);
    tl_world_free(&w);

    tl_world_make(&w, "aliases-touch", "examples/survey.json");
    sameAs("touchpoints", w.db, w.program, "--json");
    tl_run r;
    /* A bad option reaches the report itself: its usage error, not report's. */
    assert_int_equal(tl_loyal(&r, NULL, "report", "touchpoints", "--days", "0", "--db", w.db, NULL),
                     2);
    tl_run_free(&r);
    tl_world_free(&w);
}

static void test_unknown_report(void **state)
{
    (void)state;
    tl_run r;
    assert_int_equal(tl_loyal(&r, NULL, "report", "nonsense", NULL), 2);
    assert_non_null(strstr(r.err, "unknown report 'nonsense'"));
    assert_non_null(strstr(r.err, "loyal report quests"));
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "report", "--help", NULL), 0);
    assert_non_null(strstr(r.out, "loyal report touchpoints"));
    tl_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aliases_agree),
        cmocka_unit_test(test_unknown_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
