/*
 * test_program.c - the program file: what loads, what is refused, and the path each error
 * names.
 */
#include "testlib.h"

#include "program/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base =
    "{\"name\":\"T\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"
    "\"earn\":{\"rate_percent\":%s,\"base\":\"paid\",\"rounding\":\"%s\"},"
    "\"points\":{\"value\":%s,\"max_share_percent\":\"50\",\"min_redeem\":1,"
    "\"hold_days\":14,\"expiry_days\":365,\"on_return_debt\":\"negative\"%s}}";

static ly_err load(const char *rate, const char *rounding, const char *value, const char *extra,
                   ly_program *p, ly_error *err)
{
    char buf[2048];
    snprintf(buf, sizeof buf, base, rate, rounding, value, extra);
    ly_error_clear(err);
    return ly_program_parse(buf, strlen(buf), p, err);
}

static void the_example_program_loads(void **state)
{
    (void)state;
    const char *src = getenv("LOYAL_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/program.json", src);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_program_load(path, &p, &err), LY_OK);
    assert_string_equal(p.currency, "RUB");
    assert_int_equal(p.earn_rate_bp, 500);
    assert_int_equal(p.point_value, 100);
    assert_int_equal(p.max_redeem_bp, 5000);
    assert_int_equal(p.hold_days, 14);
    assert_int_equal(p.expiry_days, 365);
    assert_string_equal(p.version, "2026-11-example");
}

static void percentages_and_money_are_exact_decimals(void **state)
{
    (void)state;
    ly_program p;
    ly_error err;
    assert_int_equal(load("\"2.5\"", "half_even", "\"0.50\"", "", &p, &err), LY_OK);
    assert_int_equal(p.earn_rate_bp, 250);
    assert_int_equal(p.point_value, 50);
    assert_int_equal(p.earn_rounding, LY_ROUND_HALF_EVEN);
    assert_int_equal(load("3", "down", "1", "", &p, &err), LY_OK);
    assert_int_equal(p.earn_rate_bp, 300);
    assert_int_equal(p.point_value, 100);
    /* A JSON fraction is refused: 0.1 has no exact binary form. */
    assert_int_equal(load("2.5", "down", "\"1.00\"", "", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "earn.rate_percent");
    /* More digits than the currency has. */
    assert_int_equal(load("\"5\"", "down", "\"1.001\"", "", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "points.value");
}

static void errors_name_the_setting(void **state)
{
    (void)state;
    ly_program p;
    ly_error err;
    assert_int_equal(load("\"5\"", "sideways", "\"1.00\"", "", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "earn.rounding");
    assert_int_equal(load("\"5\"", "down", "\"1.00\"", ",\"colour\":1", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "points.colour");
    assert_string_equal(err.code, "unknown_field");
    assert_int_equal(load("\"150\"", "down", "\"1.00\"", "", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "earn.rate_percent");
    assert_int_equal(load("\"5\"", "down", "\"0\"", "", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "points.value");
    const char *broken = "{\"name\": \"T\",";
    ly_error_clear(&err);
    assert_int_equal(ly_program_parse(broken, strlen(broken), &p, &err), LY_EINVAL);
    assert_string_equal(err.code, "malformed_json");
    assert_non_null(strstr(err.message, "line 1"));
}

static void an_unversioned_program_is_named_by_its_content(void **state)
{
    (void)state;
    ly_program a, b;
    ly_error err;
    assert_int_equal(load("\"5\"", "down", "\"1.00\"", "", &a, &err), LY_OK);
    assert_int_equal(load("\"6\"", "down", "\"1.00\"", "", &b, &err), LY_OK);
    assert_int_equal(strncmp(a.version, "sha-", 4), 0);
    assert_int_equal(strlen(a.version), 16);
    assert_string_not_equal(a.version, b.version);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_example_program_loads),
        cmocka_unit_test(percentages_and_money_are_exact_decimals),
        cmocka_unit_test(errors_name_the_setting),
        cmocka_unit_test(an_unversioned_program_is_named_by_its_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
