/*
 * test_rules_engine.c - the earning and discount rules in the core: every condition, every
 * effect, the stacking order, exclusive rules, caps, rounding, the burning limits, and the
 * hook for limits kept outside the core. Programs are written as program-file JSON and
 * loaded with the real loader, so each case reads like the file a marketer would write.
 */
#include "testlib.h"

#include "core/core.h"
#include "program/program.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXL 8

static const char *programFmt =
    "{\"name\":\"T\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"%s},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\"%s},"
    "\"rules\":[%s]}";

/* Loads a program with extra earn and points settings and the given rules. */
static ly_program programOf(const char *earn, const char *points, const char *rules)
{
    char *text = tl_strdupf(programFmt, earn ? earn : "", points ? points : "", rules ? rules : "");
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    if (ly_program_parse(text, strlen(text), &p, &err) != LY_OK)
        fail_msg("program: %s: %s\n%s", err.field, err.message, text);
    free(text);
    return p;
}

typedef struct lineSpec {
    const char *sku, *category, *brand;
    ly_qty qty;
    ly_money price;
} lineSpec;

typedef struct fixture {
    ly_line lines[MAXL];
    ly_line_price prices[MAXL];
    ly_line_rules lrules[MAXL];
    ly_rule_result results[16];
    ly_receipt r;
    ly_pricing out;
    ly_price_input in;
    ly_error err;
} fixture;

/* A receipt on Wednesday 2026-11-25 at 08:30 Moscow time, store S1, by card. */
static void receiptOf(fixture *f, const lineSpec *ls, size_t n)
{
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        f->lines[i] = (ly_line){.sku = ls[i].sku, .category = ls[i].category, .brand = ls[i].brand,
                                .qty = ls[i].qty, .price = ls[i].price,
                                .amount = ls[i].qty * ls[i].price / 1000};
        f->r.total += f->lines[i].amount;
    }
    assert_true(ly_time_parse("2026-11-25T08:30:00+03:00", &f->r.time, &f->r.utc_offset_min));
    f->r.receipt_id = "R-1";
    f->r.store = "S1";
    f->r.payment = "card";
    f->r.channel = LY_SALES_STORE;
    f->r.lines = f->lines;
    f->r.n_lines = n;
    f->in.identified = true;
    f->in.prior_receipts = 3;
}

static void setTime(fixture *f, const char *t)
{
    assert_true(ly_time_parse(t, &f->r.time, &f->r.utc_offset_min));
}

/* Line figures add up to the receipt's; no line gets more off than it costs. */
static void assertConsistent(const fixture *f, const ly_program *p)
{
    ly_money disc = 0, rdisc = 0;
    ly_points red = 0, earn = 0, bonus = 0;
    for (size_t i = 0; i < f->r.n_lines; i++) {
        const ly_line_price *lp = &f->out.lines[i];
        assert_true(lp->discount >= 0 && lp->discount <= f->lines[i].amount);
        assert_int_equal(lp->discount, f->lrules[i].discount + lp->points_redeemed * p->point_value);
        assert_true(lp->points_earned >= f->lrules[i].points && f->lrules[i].points >= 0);
        disc += lp->discount;
        rdisc += f->lrules[i].discount;
        red += lp->points_redeemed;
        earn += lp->points_earned;
        bonus += f->lrules[i].points;
    }
    assert_int_equal(disc, f->out.discount);
    assert_int_equal(rdisc, f->out.rule_discount);
    assert_int_equal(red, f->out.redeem);
    assert_int_equal(earn, f->out.earn);
    assert_int_equal(bonus, f->out.bonus);
    assert_int_equal(f->out.paid, f->out.total - f->out.discount);
    ly_money given = 0;
    ly_points given_pts = 0;
    for (size_t k = 0; k < f->out.n_rules; k++) {
        given += f->out.rules[k].discount;
        given_pts += f->out.rules[k].points;
    }
    assert_int_equal(given, f->out.rule_discount);
    assert_int_equal(given_pts, f->out.bonus);
}

static ly_err priceIt(fixture *f, const ly_program *p)
{
    f->out.lines = f->prices;
    f->out.line_rules = f->lrules;
    f->out.rules = f->results;
    ly_error_clear(&f->err);
    ly_err rc = ly_receipt_price(p, &f->r, &f->in, &f->out, &f->err);
    if (rc == LY_OK) assertConsistent(f, p);
    return rc;
}

static const ly_rule_result *result(const fixture *f, const char *id)
{
    for (size_t k = 0; k < f->out.n_rules; k++)
        if (strcmp(f->out.rules[k].rule->id, id) == 0) return &f->out.rules[k];
    fail_msg("no result for rule %s", id);
    return NULL;
}

/* A fresh receipt of the given lines, priced without an error. */
static void priceOk(fixture *f, const ly_program *p, const lineSpec *ls, size_t n)
{
    receiptOf(f, ls, n);
    assert_int_equal(priceIt(f, p), LY_OK);
}

/* The rule did not apply, and it names the setting that stopped it. */
static void assertNotApplied(const fixture *f, const char *id, const char *failed)
{
    const ly_rule_result *res = result(f, id);
    assert_false(res->applied);
    assert_string_equal(res->failed, failed);
}

/* ---------------------------------------------------------------------------------------
 * Effects
 * ------------------------------------------------------------------------------------- */

static const lineSpec twoLines[] = {{"A", "tea", "Dilmah", 1000, 10000},
                                    {"B", "dairy", NULL, 1000, 20000}};

static void points_percent_rewards_the_eligible_lines(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"r\",\"conditions\":{\"lines\":{\"brands\":[\"Dilmah\"]}},"
        "\"effect\":{\"type\":\"points_percent\",\"percent\":\"10\"}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.out.bonus, 10);       /* 10% of 100.00 */
    assert_int_equal(f.lrules[0].points, 10);
    assert_int_equal(f.lrules[1].points, 0);
    assert_int_equal(f.out.earn, 25);        /* + 5% of 300.00 */
    assert_true(result(&f, "r")->applied);
    assert_int_equal(result(&f, "r")->eligible, 1);
    ly_program_free(&p);
}

static void fixed_points_spread_by_amount(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL, "{\"id\":\"r\",\"effect\":{\"type\":\"points_fixed\",\"points\":50}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.lrules[0].points, 17); /* 16.67 gets the remainder */
    assert_int_equal(f.lrules[1].points, 33);
    ly_program_free(&p);
}

static void a_multiplier_repeats_the_base_rate(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"x3\",\"conditions\":{\"lines\":{\"skus\":[\"A\"]}},"
        "\"effect\":{\"type\":\"points_multiplier\",\"multiplier\":\"3\"}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.lrules[0].points, 10); /* 2 x 5% of 100.00 */
    assert_int_equal(f.out.earn, 25);
    assert_int_equal(f.prices[0].points_earned, 15); /* x3 of 5 */
    ly_program_free(&p);
}

static void percent_discount_lowers_the_base_of_points(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"d\",\"conditions\":{\"lines\":{\"categories\":[\"tea\"]}},"
        "\"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.out.rule_discount, 1000);
    assert_int_equal(f.lrules[0].discount, 1000);
    assert_int_equal(f.out.paid, 29000);
    assert_int_equal(f.out.earn, 14); /* 5% of 290.00 = 14.5, down */
    ly_program_free(&p);
}

static void fixed_discount_spreads_with_largest_remainder_and_never_exceeds(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"d\",\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"50.00\"}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.lrules[0].discount, 1667);
    assert_int_equal(f.lrules[1].discount, 3333);
    ly_program_free(&p);
    p = programOf(NULL, NULL, "{\"id\":\"d\",\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"500.00\"}}");
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(f.out.rule_discount, 30000); /* all of it, no more */
    assert_int_equal(f.out.paid, 0);
    assert_int_equal(f.out.earn, 0);
    ly_program_free(&p);
}

static void fixed_price_per_unit(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"fp\",\"conditions\":{\"lines\":{\"skus\":[\"A\",\"C\"]}},"
        "\"effect\":{\"type\":\"fixed_price\",\"price\":\"99.90\"}}");
    static const lineSpec ls[] = {{"A", NULL, NULL, 2000, 15000}, {"B", NULL, NULL, 1000, 5000},
                                  {"C", NULL, NULL, 1500, 5000}};
    fixture f;
    priceOk(&f, &p, ls, 3);
    assert_int_equal(f.lrules[0].discount, 30000 - 19980);
    assert_int_equal(f.lrules[1].discount, 0);
    assert_int_equal(f.lrules[2].discount, 0); /* already cheaper than 99.90 */
    ly_program_free(&p);

    static const lineSpec cheap[] = {{"A", NULL, NULL, 1000, 5000}};
    p = programOf(NULL, NULL,
        "{\"id\":\"fp\",\"effect\":{\"type\":\"fixed_price\",\"price\":\"99.90\"}}");
    priceOk(&f, &p, cheap, 1);
    assertNotApplied(&f, "fp", "effect.price");
    ly_program_free(&p);
}

static void gift_makes_the_cheapest_of_each_group_free(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"g\",\"conditions\":{\"lines\":{\"categories\":[\"yogurt\"]}},"
        "\"effect\":{\"type\":\"gift\",\"buy\":2,\"get\":1}}");
    /* Units dearest first: A A A C C B -> groups [A A A] [C C B]: one A and the B are free. */
    static const lineSpec ls[] = {{"A", "yogurt", NULL, 3000, 10000}, {"B", "yogurt", NULL, 1000, 5000},
                                  {"C", "yogurt", NULL, 2000, 8000}, {"D", "bread", NULL, 1000, 1000}};
    fixture f;
    priceOk(&f, &p, ls, 4);
    assert_int_equal(f.lrules[0].discount, 10000);
    assert_int_equal(f.lrules[1].discount, 5000);
    assert_int_equal(f.lrules[2].discount, 0);
    assert_int_equal(f.lrules[3].discount, 0);
    /* Two units are not a group of three; weight goods count whole units only. */
    static const lineSpec few[] = {{"A", "yogurt", NULL, 2500, 10000}};
    priceOk(&f, &p, few, 1);
    assertNotApplied(&f, "g", "effect.buy");
    ly_program_free(&p);
}

static void bundle_price_discount_and_points(void **state)
{
    (void)state;
    static const char *const effects[] = {"\"price\":\"199.00\"", "\"percent\":\"20\"",
                                          "\"amount\":\"30.00\"", "\"points\":40"};
    static const ly_money off[] = {7100, 5400, 3000, 0};
    static const lineSpec ls[] = {{"LATTE", "coffee", NULL, 2000, 18000},
                                  {"CROISSANT", "pastry", NULL, 1000, 9000},
                                  {"MILK", "dairy", NULL, 1000, 9000}};
    for (size_t k = 0; k < 4; k++) {
        char *rule = tl_strdupf("{\"id\":\"b\",\"effect\":{\"type\":\"bundle\",\"items\":"
                                "[{\"categories\":[\"coffee\"]},{\"categories\":[\"pastry\"]}],%s}}",
                                effects[k]);
        ly_program p = programOf(NULL, NULL, rule);
        free(rule);
        fixture f;
        priceOk(&f, &p, ls, 3);
        /* One bundle: one latte (180.00 of the 360.00 line) and the croissant (90.00). */
        assert_int_equal(f.out.rule_discount, off[k]);
        assert_int_equal(f.lrules[2].discount, 0);
        if (k == 0) {
            assert_int_equal(f.lrules[0].discount, 4733);
            assert_int_equal(f.lrules[1].discount, 2367);
        }
        if (k == 3) {
            assert_int_equal(f.out.bonus, 40);
            assert_int_equal(f.lrules[0].points + f.lrules[1].points, 40);
            assert_int_equal(f.lrules[2].points, 0);
        }
        priceOk(&f, &p, ls + 1, 2); /* no coffee */
        assertNotApplied(&f, "b", "effect.items");
        ly_program_free(&p);
    }
}

/* ---------------------------------------------------------------------------------------
 * Conditions: each holds for one receipt and fails for another, naming itself.
 * ------------------------------------------------------------------------------------- */

typedef struct conditionCase {
    const char *conditions;
    const char *failed;     /* the setting named when it fails */
    void (*breaks)(fixture *f);
    void (*pass)(fixture *f); /* may be NULL: the default receipt passes */
} conditionCase;

static void otherStore(fixture *f) { f->r.store = "S9"; }
static void online(fixture *f) { f->r.channel = LY_SALES_ONLINE; }
static void cash(fixture *f) { f->r.payment = "cash"; }
static void saturday(fixture *f) { setTime(f, "2026-11-28T08:30:00+03:00"); }
static void at1015(fixture *f) { setTime(f, "2026-11-25T10:15:00+03:00"); }
/* 05:30 UTC is 08:30 in Moscow: the receipt's own offset decides the local time. */
static void utcMorning(fixture *f) { setTime(f, "2026-11-25T05:30:00Z"); f->r.utc_offset_min = 180; }
static void at2330(fixture *f) { setTime(f, "2026-11-25T23:30:00+03:00"); }
static void at0300(fixture *f) { setTime(f, "2026-11-26T03:00:00+03:00"); }
static void december(fixture *f) { setTime(f, "2026-12-01T00:30:00+03:00"); }
static void lastNovemberNight(fixture *f) { setTime(f, "2026-11-30T23:59:00+03:00"); }
static void noTea(fixture *f) { f->lines[0].category = "coffee"; }
static void asIs(fixture *f) { (void)f; }
static void small(fixture *f) { f->lines[1].amount = 100; f->lines[1].price = 100; f->r.total = 10100; }
static void firstTime(fixture *f) { f->in.prior_receipts = 0; }
static void anonymous(fixture *f) { f->in.identified = false; f->in.prior_receipts = 0; }

static const ly_fact cityMoscow[] = {{"attributes.city", "Moscow"}, {"rfm_cell", "R3F3M3"}};
static const ly_fact cityKazan[] = {{"attributes.city", "Kazan"}, {"rfm_cell", "R1F1M1"},
                                    {"coupon", "SPRING"}};
static void moscow(fixture *f) { f->in.facts = cityMoscow; f->in.n_facts = 2; }
static void kazan(fixture *f) { f->in.facts = cityKazan; f->in.n_facts = 3; }

static const conditionCase conditionCases[] = {
    {"\"stores\":[\"S1\",\"S2\"]", "conditions.stores", otherStore, NULL},
    {"\"channels\":[\"store\",\"app\"]", "conditions.channels", online, NULL},
    {"\"payments\":[\"card\"]", "conditions.payments", cash, NULL},
    {"\"weekdays\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"]", "conditions.weekdays", saturday, NULL},
    {"\"hours\":{\"from\":\"07:00\",\"to\":\"10:00\"}", "conditions.hours", at1015, utcMorning},
    {"\"hours\":{\"from\":\"22:00\",\"to\":\"02:00\"}", "conditions.hours", at0300, at2330},
    {"\"dates\":{\"from\":\"2026-11-01\",\"to\":\"2026-11-30\"}", "conditions.dates", december,
     lastNovemberNight},
    {"\"lines\":{\"categories\":[\"tea\"]}", "conditions.lines", noTea, NULL},
    {"\"lines\":{\"exclude_categories\":[\"tea\",\"dairy\"]}", "conditions.lines", asIs, noTea},
    {"\"min_amount\":{\"amount\":\"200.00\"}", "conditions.min_amount", small, NULL},
    {"\"min_amount\":{\"amount\":\"150.00\",\"of\":\"eligible\"},\"lines\":{\"skus\":[\"B\"]}}",
     NULL, NULL, NULL},
    {"\"first_purchase\":true", "conditions.first_purchase", NULL, firstTime},
    {"\"first_purchase\":true", "conditions.first_purchase", anonymous, firstTime},
    {"\"first_purchase\":false", "conditions.first_purchase", firstTime, NULL},
    {"\"attributes\":[{\"name\":\"city\",\"equals\":\"Moscow\"}]", "conditions.attributes", kazan, moscow},
    {"\"attributes\":[{\"name\":\"city\",\"in\":[\"Moscow\",\"Tver\"]}]", "conditions.attributes",
     NULL, moscow},
    {"\"facts\":[{\"name\":\"rfm_cell\",\"in\":[\"R3F3M3\",\"R3F3M2\"]}]", "conditions.facts", kazan, moscow},
    {"\"facts\":[{\"name\":\"coupon\",\"equals\":\"SPRING\"}]", "conditions.facts", moscow, kazan},
    {"\"facts\":[{\"name\":\"coupon\",\"absent\":true}]", "conditions.facts", kazan, moscow},
};

static void every_condition_holds_or_names_itself(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof conditionCases / sizeof conditionCases[0]; k++) {
        const conditionCase *c = &conditionCases[k];
        /* The min_amount-of-eligible case carries its own lines condition. */
        char *rule = strstr(c->conditions, "\"of\":\"eligible\"")
                         ? tl_strdupf("{\"id\":\"c\",\"conditions\":{%s,\"effect\":{\"type\":"
                                      "\"points_fixed\",\"points\":7}}", c->conditions)
                         : tl_strdupf("{\"id\":\"c\",\"conditions\":{%s},\"effect\":{\"type\":"
                                      "\"points_fixed\",\"points\":7}}", c->conditions);
        ly_program p = programOf(NULL, NULL, rule);
        fixture f;
        receiptOf(&f, twoLines, 2);
        if (c->pass) c->pass(&f);
        assert_int_equal(priceIt(&f, &p), LY_OK);
        if (!result(&f, "c")->applied)
            fail_msg("case %zu (%s) should apply: %s", k, c->conditions, result(&f, "c")->reason);
        assert_int_equal(f.out.bonus, 7);
        if (c->breaks) {
            receiptOf(&f, twoLines, 2);
            c->breaks(&f);
            assert_int_equal(priceIt(&f, &p), LY_OK);
            if (result(&f, "c")->applied) fail_msg("case %zu (%s) should not apply", k, c->conditions);
            assert_string_equal(result(&f, "c")->failed, c->failed);
            assert_true(strlen(result(&f, "c")->reason) > 0);
            assert_int_equal(f.out.bonus, 0);
        }
        ly_program_free(&p);
        free(rule);
    }
}

static void min_amount_of_eligible_lines_counts_only_them(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"c\",\"conditions\":{\"lines\":{\"skus\":[\"A\"]},\"min_amount\":{\"amount\":"
        "\"150.00\",\"of\":\"eligible\"}},\"effect\":{\"type\":\"points_fixed\",\"points\":7}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2); /* A is 100.00 of a 300.00 receipt */
    assertNotApplied(&f, "c", "conditions.min_amount");
    assert_non_null(strstr(result(&f, "c")->reason, "10000 is under 15000"));
    ly_program_free(&p);
}

static void the_hour_reason_shows_local_time(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"c\",\"conditions\":{\"hours\":{\"from\":\"07:00\",\"to\":\"10:00\"}},"
        "\"effect\":{\"type\":\"points_fixed\",\"points\":7}}");
    fixture f;
    receiptOf(&f, twoLines, 2);
    at1015(&f);
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_string_equal(result(&f, "c")->reason, "local time 10:15 is outside 07:00-10:00");
    ly_program_free(&p);
}

/* ---------------------------------------------------------------------------------------
 * Stacking, exclusivity, caps, rounding
 * ------------------------------------------------------------------------------------- */

static void rules_apply_by_priority_each_on_what_is_left(void **state)
{
    (void)state;
    /* File order second/first, priorities 1/2: "first" applies first. */
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"second\",\"priority\":2,\"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}},"
        "{\"id\":\"first\",\"priority\":1,\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"100.00\"}}");
    static const lineSpec one[] = {{"A", NULL, NULL, 1000, 30000}};
    fixture f;
    priceOk(&f, &p, one, 1);
    assert_string_equal(f.out.rules[0].rule->id, "first");
    assert_int_equal(f.out.rules[0].discount, 10000);
    assert_int_equal(f.out.rules[1].discount, 2000); /* 10% of the 200.00 left */
    assert_int_equal(f.out.paid, 18000);
    ly_program_free(&p);
    /* Equal priorities keep file order. */
    p = programOf(NULL, NULL,
        "{\"id\":\"pct\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}},"
        "{\"id\":\"fix\",\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"100.00\"}}");
    priceOk(&f, &p, one, 1);
    assert_string_equal(f.out.rules[0].rule->id, "pct");
    assert_int_equal(f.out.paid, 30000 - 3000 - 10000);
    ly_program_free(&p);
}

static void an_exclusive_rule_that_applies_stops_the_rest(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"vip\",\"priority\":1,\"exclusive\":true,"
        "\"conditions\":{\"lines\":{\"brands\":[\"Dilmah\"]}},"
        "\"effect\":{\"type\":\"discount_percent\",\"percent\":\"20\"}},"
        "{\"id\":\"all\",\"priority\":2,\"effect\":{\"type\":\"points_fixed\",\"points\":10}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_true(result(&f, "vip")->applied);
    assertNotApplied(&f, "all", "exclusive");
    assert_int_equal(f.out.bonus, 0);
    /* When the exclusive rule does not apply, the others do. */
    priceOk(&f, &p, twoLines + 1, 1);
    assert_false(result(&f, "vip")->applied);
    assert_true(result(&f, "all")->applied);
    assert_int_equal(f.out.bonus, 10);
    ly_program_free(&p);
}

static void caps_of_a_rule_and_of_the_receipt(void **state)
{
    (void)state;
    ly_program p = programOf(",\"bonus_cap_points\":25", NULL,
        "{\"id\":\"pts\",\"effect\":{\"type\":\"points_percent\",\"percent\":\"10\"},\"cap\":{\"points\":20}},"
        "{\"id\":\"more\",\"effect\":{\"type\":\"points_fixed\",\"points\":10}},"
        "{\"id\":\"late\",\"effect\":{\"type\":\"points_fixed\",\"points\":10}},"
        "{\"id\":\"off\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"50\"},\"cap\":{\"discount\":\"12.34\"}}");
    fixture f;
    priceOk(&f, &p, twoLines, 2);
    assert_int_equal(result(&f, "pts")->points, 20); /* 30 capped to 20 */
    assert_non_null(strstr(result(&f, "pts")->reason, "cap.points"));
    assert_int_equal(result(&f, "more")->points, 5);  /* the receipt's cap of 25 */
    assertNotApplied(&f, "late", "earn.bonus_cap_points");
    assert_int_equal(result(&f, "off")->discount, 1234);
    assert_int_equal(f.out.bonus, 25);
    ly_program_free(&p);
}

static void rounding_is_named_per_rule(void **state)
{
    (void)state;
    /* 2.5% of 100.00 at a point of 1.00 is 2.5 points; 15% of 0.15 is 0.0225 -> kopecks. */
    static const struct { const char *rounding; ly_points points; ly_money off; } cases[] = {
        {"down", 2, 2}, {"half_up", 3, 2}, {"half_even", 2, 2}, {"up", 3, 3}};
    static const lineSpec ls[] = {{"A", NULL, NULL, 1000, 10000}, {"B", "x", NULL, 1000, 15}};
    for (size_t k = 0; k < 4; k++) {
        char *rules = tl_strdupf(
            "{\"id\":\"p\",\"conditions\":{\"lines\":{\"skus\":[\"A\"]}},\"effect\":{\"type\":"
            "\"points_percent\",\"percent\":\"2.5\",\"rounding\":\"%s\"}},"
            "{\"id\":\"d\",\"conditions\":{\"lines\":{\"skus\":[\"B\"]}},\"effect\":{\"type\":"
            "\"discount_percent\",\"percent\":\"15\",\"rounding\":\"%s\"}}",
            cases[k].rounding, cases[k].rounding);
        ly_program p = programOf(NULL, NULL, rules);
        free(rules);
        fixture f;
        priceOk(&f, &p, ls, 2);
        assert_int_equal(result(&f, "p")->points, cases[k].points);
        assert_int_equal(result(&f, "d")->discount, cases[k].off);
        ly_program_free(&p);
    }
    /* 15% of 15 kopecks = 2.25: down 2, up 3. */
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"d\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"15\",\"rounding\":\"up\"}}");
    static const lineSpec tiny[] = {{"B", NULL, NULL, 1000, 15}};
    fixture f;
    priceOk(&f, &p, tiny, 1);
    assert_int_equal(f.out.rule_discount, 3);
    ly_program_free(&p);
    p = programOf(NULL, NULL,
        "{\"id\":\"d\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"15\"}}");
    priceOk(&f, &p, tiny, 1);
    assert_int_equal(f.out.rule_discount, 2); /* the default for money: down */
    ly_program_free(&p);
}

/* ---------------------------------------------------------------------------------------
 * Burning and earning limits; the hook
 * ------------------------------------------------------------------------------------- */

static void points_do_not_pay_for_excluded_lines(void **state)
{
    (void)state;
    ly_program p = programOf(",\"exclude\":{\"categories\":[\"tobacco\"]}",
                             ",\"no_redeem\":{\"categories\":[\"tobacco\"]},\"min_balance\":100",
                             "{\"id\":\"all\",\"effect\":{\"type\":\"points_percent\",\"percent\":\"10\"}}");
    static const lineSpec ls[] = {{"CIG", "tobacco", NULL, 1000, 30000}, {"MILK", "dairy", NULL, 1000, 10000}};
    fixture f;
    receiptOf(&f, ls, 2);
    f.in.available = 1000;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_int_equal(f.out.max_redeem, 50); /* half of the 100.00 payable, not of 400.00 */
    assert_int_equal(f.lrules[0].points, 0); /* tobacco earns nothing, bonus included */
    assert_int_equal(f.out.bonus, 10);
    assert_int_equal(f.prices[0].points_earned, 0);
    f.in.redeem = 50;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_int_equal(f.prices[0].points_redeemed, 0);
    assert_int_equal(f.prices[1].points_redeemed, 50);
    f.in.redeem = 51;
    assert_int_equal(priceIt(&f, &p), LY_EUNPROCESSABLE);
    assert_string_equal(f.err.code, "redeem_exceeds_max");
    /* Under the minimum balance nothing can be spent. */
    f.in.redeem = 0;
    f.in.available = 99;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
    ly_program_free(&p);
}

static void rule_discounts_come_before_points(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"d\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"50\"}}");
    static const lineSpec ls[] = {{"A", NULL, NULL, 1000, 10000}};
    fixture f;
    receiptOf(&f, ls, 1);
    f.in.available = 1000;
    f.in.redeem = 25;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_int_equal(f.out.max_redeem, 25); /* half of the 50.00 left */
    assert_int_equal(f.out.discount, 5000 + 2500);
    assert_int_equal(f.out.earn, 1); /* 5% of 25.00 paid */
    ly_program_free(&p);
}

static ly_points gateLeft;
static void gate(void *ctx, const ly_rule *rule, ly_rule_allowance *out)
{
    (void)ctx;
    if (strcmp(rule->id, "budgeted") == 0) out->points_left = gateLeft;
    if (strcmp(rule->id, "limited") == 0) {
        out->blocked = true;
        out->reason = "used 3 times this month";
    }
}

static void the_limits_hook_caps_and_blocks(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL,
        "{\"id\":\"budgeted\",\"effect\":{\"type\":\"points_fixed\",\"points\":100}},"
        "{\"id\":\"limited\",\"effect\":{\"type\":\"points_fixed\",\"points\":100}}");
    fixture f;
    receiptOf(&f, twoLines, 2);
    f.in.gate = gate;
    gateLeft = 30;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_int_equal(result(&f, "budgeted")->points, 30);
    assertNotApplied(&f, "limited", "limits");
    assert_string_equal(result(&f, "limited")->reason, "used 3 times this month");
    gateLeft = 0;
    assert_int_equal(priceIt(&f, &p), LY_OK);
    assert_false(result(&f, "budgeted")->applied);
    ly_program_free(&p);
}

static void without_rules_pricing_is_unchanged(void **state)
{
    (void)state;
    ly_program p = programOf(NULL, NULL, NULL);
    fixture f;
    receiptOf(&f, twoLines, 2);
    f.out.lines = f.prices;
    ly_error_clear(&f.err);
    assert_int_equal(ly_price_receipt(&p, &f.r, 100, 40, &f.out, &f.err), LY_OK);
    assert_int_equal(f.out.discount, 4000);
    assert_int_equal(f.out.rule_discount, 0);
    assert_int_equal(f.out.earn, 13); /* 5% of 260.00 */
    assert_int_equal(f.out.n_rules, 0);
    ly_program_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(points_percent_rewards_the_eligible_lines),
        cmocka_unit_test(fixed_points_spread_by_amount),
        cmocka_unit_test(a_multiplier_repeats_the_base_rate),
        cmocka_unit_test(percent_discount_lowers_the_base_of_points),
        cmocka_unit_test(fixed_discount_spreads_with_largest_remainder_and_never_exceeds),
        cmocka_unit_test(fixed_price_per_unit),
        cmocka_unit_test(gift_makes_the_cheapest_of_each_group_free),
        cmocka_unit_test(bundle_price_discount_and_points),
        cmocka_unit_test(every_condition_holds_or_names_itself),
        cmocka_unit_test(min_amount_of_eligible_lines_counts_only_them),
        cmocka_unit_test(the_hour_reason_shows_local_time),
        cmocka_unit_test(rules_apply_by_priority_each_on_what_is_left),
        cmocka_unit_test(an_exclusive_rule_that_applies_stops_the_rest),
        cmocka_unit_test(caps_of_a_rule_and_of_the_receipt),
        cmocka_unit_test(rounding_is_named_per_rule),
        cmocka_unit_test(points_do_not_pay_for_excluded_lines),
        cmocka_unit_test(rule_discounts_come_before_points),
        cmocka_unit_test(the_limits_hook_caps_and_blocks),
        cmocka_unit_test(without_rules_pricing_is_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
