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
    /* The grocery rules, in the order they apply (the last two are its coupons' rules). */
    assert_int_equal(p.n_rules, 6);
    assert_string_equal(p.rules[0].id, "premium-tea-x3");
    assert_int_equal(p.rules[0].effect.kind, LY_EFFECT_POINTS_MULTIPLIER);
    assert_int_equal(p.rules[0].effect.multiplier_c, 300);
    assert_string_equal(p.rules[1].id, "coffee-pastry");
    assert_int_equal(p.rules[1].effect.n_items, 2);
    assert_int_equal(p.rules[1].effect.amount, 19900);
    assert_int_equal(p.rules[2].when.weekdays, 0x1f);
    assert_int_equal(p.rules[2].when.minute_from, 7 * 60);
    assert_int_equal(p.rules[2].cap_points, 200);
    assert_int_equal(p.bonus_cap, 5000);
    ly_line tobacco = {.sku = "CIG", .category = "tobacco"}, milk = {.sku = "MILK", .category = "dairy"};
    assert_true(ly_selector_names(&p.no_redeem, &tobacco));
    assert_true(ly_selector_names(&p.no_earn, &tobacco));
    assert_false(ly_selector_names(&p.no_redeem, &milk));
    ly_program_free(&p);
    assert_int_equal(p.n_rules, 0);
    ly_program_free(&p); /* twice is harmless */
}

static void the_fashion_program_loads(void **state)
{
    (void)state;
    const char *src = getenv("LOYAL_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/examples/fashion.json", src);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    if (ly_program_load(path, &p, &err) != LY_OK) fail_msg("%s: %s", err.field, err.message);
    assert_string_equal(p.currency, "EUR");
    assert_int_equal(p.point_value, 1);
    /* The last two are the club's and the Icon tier's rules (docs/program.md "Tiers"). */
    assert_int_equal(p.n_rules, 10);
    assert_non_null(p.tiers);
    assert_int_equal(p.tiers->n_tiers, 3);
    assert_true(p.tiers->has_club);
    assert_int_equal(p.tiers->club.min_tier, 2);
    assert_true(p.uses_first_purchase);
    assert_true(p.uses_facts);
    assert_int_equal(p.min_balance, 1000);
    assert_true(p.rules[2].exclusive);
    for (size_t i = 1; i < p.n_rules; i++) assert_true(p.rules[i - 1].priority <= p.rules[i].priority);
    ly_program_free(&p);
}

/* A program with the given rules array text. */
static ly_err loadRules(const char *rules, ly_program *p, ly_error *err)
{
    char *extra = tl_strdupf("}, \"rules\": [%s]", rules);
    char buf[4096];
    snprintf(buf, sizeof buf, base, "\"5\"", "down", "\"1.00\"", "");
    /* base ends with "}}": put the rules in before the last brace. */
    size_t n = strlen(buf);
    buf[n - 2] = '\0';
    char *text = tl_strdupf("%s%s}", buf, extra);
    free(extra);
    ly_error_clear(err);
    ly_err rc = ly_program_parse(text, strlen(text), p, err);
    free(text);
    return rc;
}

static void every_rule_error_names_its_path(void **state)
{
    (void)state;
    static const struct { const char *rules, *field; } cases[] = {
        {"{\"effect\":{\"type\":\"points_fixed\",\"points\":5}}", "rules[0].id"},
        {"{\"id\":\"a\"}", "rules[0].effect"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"points_fixed\",\"points\":5}},"
         "{\"id\":\"b\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"150\"}}",
         "rules[1].effect.percent"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"discount_percent\",\"percent\":12.5}}",
         "rules[0].effect.percent"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"teleport\"}}", "rules[0].effect.type"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"points_fixed\",\"points\":5,\"percent\":\"1\"}}",
         "rules[0].effect.percent"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"points_multiplier\",\"multiplier\":\"1\"}}",
         "rules[0].effect.multiplier"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"gift\",\"buy\":0,\"get\":1}}", "rules[0].effect.buy"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"bundle\",\"items\":[{\"skus\":[\"A\"]}],\"price\":\"1\"}}",
         "rules[0].effect.items"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"bundle\",\"items\":[{\"skus\":[\"A\"]},{\"qty\":2}],\"price\":\"1\"}}",
         "rules[0].effect.items[1]"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"bundle\",\"items\":[{\"skus\":[\"A\"]},{\"skus\":[\"B\"]}]}}",
         "rules[0].effect"},
        {"{\"id\":\"a\",\"conditions\":{\"weekdays\":[\"mon\",\"funday\"]},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.weekdays[1]"},
        {"{\"id\":\"a\",\"conditions\":{\"hours\":{\"from\":\"7:00\",\"to\":\"10:00\"}},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.hours.from"},
        {"{\"id\":\"a\",\"conditions\":{\"dates\":{\"from\":\"2026-12-31\",\"to\":\"2026-01-01\"}},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.dates"},
        {"{\"id\":\"a\",\"conditions\":{\"channels\":[\"fax\"]},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.channels[0]"},
        {"{\"id\":\"a\",\"conditions\":{\"lines\":{\"skus\":[\"\"]}},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.lines.skus[0]"},
        {"{\"id\":\"a\",\"conditions\":{\"colour\":1},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.colour"},
        {"{\"id\":\"a\",\"conditions\":{\"min_amount\":{\"amount\":\"1.005\"}},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.min_amount.amount"},
        {"{\"id\":\"a\",\"conditions\":{\"facts\":[{\"name\":\"segment\",\"equals\":3}]},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].conditions.facts[0].equals"},
        {"{\"id\":\"a\",\"cap\":{\"points\":0},\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
         "rules[0].cap.points"},
        {"{\"id\":\"a\",\"effect\":{\"type\":\"points_fixed\",\"points\":5}},"
         "{\"id\":\"a\",\"effect\":{\"type\":\"points_fixed\",\"points\":5}}", "rules[1].id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ly_program p;
        ly_error err;
        if (loadRules(cases[i].rules, &p, &err) == LY_OK) fail_msg("case %zu loaded", i);
        if (strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: field %s (%s), wanted %s", i, err.field, err.message, cases[i].field);
    }
    ly_program p;
    ly_error err;
    assert_int_equal(loadRules("{\"id\":\"z\",\"priority\":5,\"effect\":{\"type\":\"points_fixed\",\"points\":5}},"
                               "{\"id\":\"y\",\"priority\":-1,\"effect\":{\"type\":\"points_fixed\",\"points\":5}},"
                               "{\"id\":\"x\",\"priority\":5,\"effect\":{\"type\":\"points_fixed\",\"points\":5}}",
                               &p, &err), LY_OK);
    assert_string_equal(p.rules[0].id, "y");
    assert_string_equal(p.rules[1].id, "z"); /* ties keep file order */
    assert_string_equal(p.rules[2].id, "x");
    assert_int_equal(p.rules[2].index, 2);
    ly_program_free(&p);
}

static void burning_settings_load(void **state)
{
    (void)state;
    ly_program p;
    ly_error err;
    assert_int_equal(load("\"5\"", "down", "\"1.00\"",
                          ",\"no_redeem\":{\"skus\":[\"A\"],\"categories\":[\"b\"]},\"min_balance\":300",
                          &p, &err), LY_OK);
    assert_int_equal(p.min_balance, 300);
    assert_int_equal(p.no_redeem.skus.n, 1);
    assert_int_equal(p.no_redeem.categories.n, 1);
    ly_program_free(&p);
    assert_int_equal(load("\"5\"", "down", "\"1.00\"", ",\"no_redeem\":{\"exclude_skus\":[\"A\"]}", &p, &err),
                     LY_EINVAL);
    assert_string_equal(err.field, "points.no_redeem.exclude_skus");
    assert_int_equal(load("\"5\"", "down", "\"1.00\"", ",\"min_balance\":-1", &p, &err), LY_EINVAL);
    assert_string_equal(err.field, "points.min_balance");
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
        cmocka_unit_test(the_fashion_program_loads),
        cmocka_unit_test(every_rule_error_names_its_path),
        cmocka_unit_test(burning_settings_load),
        cmocka_unit_test(percentages_and_money_are_exact_decimals),
        cmocka_unit_test(errors_name_the_setting),
        cmocka_unit_test(an_unversioned_program_is_named_by_its_content),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
