/*
 * test_tiers_core.c - the arithmetic of tiers and the club (core/tiers.c), table-driven:
 * which tier figures qualify for (spend, receipts, "all" and "any"), the qualification
 * periods (rolling, month, quarter, year), how long a tier is held with and without grace,
 * the downgrade decision at period end only, the progress to the next tier, the club's
 * rule and the tier's earn rate.
 */
#include "testlib.h"

#include "core/core.h"

#include <string.h>

static ly_tier levels[3];
static ly_tiers tiers;

static int64_t day(int y, unsigned m, unsigned d) { return ly_days_from_civil(y, m, d); }

/* Basic; Silver at 100.00; Gold at 500.00 or 10 receipts (any). Rolling 30 days, grace 5. */
static void setUpTiers(ly_tier_period period, bool gold_needs_all)
{
    memset(levels, 0, sizeof levels);
    levels[0] = (ly_tier){.id = "basic", .name = "Basic"};
    levels[1] = (ly_tier){.id = "silver", .name = "Silver", .min_spend = 10000, .need_all = true,
                          .earn = LY_TIER_EARN_ADD, .earn_bp = 100};
    levels[2] = (ly_tier){.id = "gold", .name = "Gold", .min_spend = 50000, .min_receipts = 10,
                          .need_all = gold_needs_all, .earn = LY_TIER_EARN_REPLACE, .earn_bp = 800};
    memset(&tiers, 0, sizeof tiers);
    tiers.period = period;
    tiers.window_days = 30;
    tiers.grace_days = 5;
    tiers.tiers = levels;
    tiers.n_tiers = 3;
}

static void qualification_by_spend_and_by_count(void **state)
{
    (void)state;
    static const struct {
        bool all;
        ly_money spend;
        int64_t receipts;
        size_t best;
    } cases[] = {
        {false, 0, 0, 0},     {false, 9999, 3, 0},  {false, 10000, 0, 1}, {false, 49999, 9, 1},
        {false, 50000, 0, 2}, {false, 0, 10, 2},    {false, 120, 12, 2},  {true, 50000, 9, 1},
        {true, 49999, 10, 1}, {true, 50000, 10, 2}, {true, 10000, 1, 1},  {true, 9999, 40, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setUpTiers(LY_TIER_ROLLING, cases[i].all);
        ly_tier_figures f = {cases[i].spend, cases[i].receipts};
        size_t best = ly_tiers_best(&tiers, f);
        if (best != cases[i].best)
            fail_msg("case %zu (%s, spend %lld, receipts %lld): tier %zu, expected %zu", i,
                     cases[i].all ? "all" : "any", (long long)cases[i].spend,
                     (long long)cases[i].receipts, best, cases[i].best);
    }
    assert_true(ly_tier_qualifies(&levels[0], (ly_tier_figures){0, 0}));
}

static void periods_rolling_and_calendar(void **state)
{
    (void)state;
    int64_t first, last;
    setUpTiers(LY_TIER_ROLLING, false);
    ly_tiers_period(&tiers, 20500, &first, &last);
    assert_int_equal(first, 20471);
    assert_int_equal(last, 20500);
    setUpTiers(LY_TIER_MONTH, false);
    ly_tiers_period(&tiers, day(2028, 2, 17), &first, &last);
    assert_int_equal(first, day(2028, 2, 1));
    assert_int_equal(last, day(2028, 2, 29)); /* a leap year */
    setUpTiers(LY_TIER_QUARTER, false);
    ly_tiers_period(&tiers, day(2026, 11, 24), &first, &last);
    assert_int_equal(first, day(2026, 10, 1));
    assert_int_equal(last, day(2026, 12, 31));
    ly_tiers_period(&tiers, day(2027, 1, 1), &first, &last);
    assert_int_equal(first, day(2027, 1, 1));
    assert_int_equal(last, day(2027, 3, 31));
    setUpTiers(LY_TIER_YEAR, false);
    ly_tiers_period(&tiers, day(2026, 6, 30), &first, &last);
    assert_int_equal(first, day(2026, 1, 1));
    assert_int_equal(last, day(2026, 12, 31));
    /* Figures count the purchases of the period only, returns already netted. */
    ly_tier_purchase p[] = {{day(2026, 3, 31), 5000, true}, {day(2026, 4, 1), 7000, true},
                            {day(2026, 6, 30), 0, false}, {day(2026, 7, 1), 9000, true}};
    setUpTiers(LY_TIER_QUARTER, false);
    ly_tiers_period(&tiers, day(2026, 5, 5), &first, &last);
    ly_tier_figures f = ly_tiers_figures(p, 4, first, last);
    assert_int_equal(f.spend, 7000);
    assert_int_equal(f.receipts, 1); /* the wholly returned receipt does not count */
}

/* Rolling 30 days, grace 5: 60.00 on day 100 and on day 110 make Silver (120.00) from day
 * 110; day 130 is the first whose window (101..130) holds only 60.00. */
static void rolling_tier_is_held_until_the_window_drops_plus_grace(void **state)
{
    (void)state;
    setUpTiers(LY_TIER_ROLLING, false);
    ly_tier_purchase p[] = {{100, 6000, true}, {110, 6000, true}};
    static const struct {
        int64_t today;
        int64_t held;   /* held_until of Silver, reached on day 110 */
        size_t decided; /* ly_tiers_decide with downgrades allowed */
    } cases[] = {
        {110, 134, 1}, {120, 134, 1}, {129, 134, 1}, {130, 134, 1},
        {132, 134, 1}, {134, 134, 1}, {135, 114, 0}, {200, 114, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t held = ly_tiers_held_until(&tiers, 1, p, 2, cases[i].today, true, 110);
        size_t d = ly_tiers_decide(&tiers, 1, 110, p, 2, cases[i].today, true);
        if (held != cases[i].held || d != cases[i].decided)
            fail_msg("day %lld: held until %lld (expected %lld), tier %zu (expected %zu)",
                     (long long)cases[i].today, (long long)held, (long long)cases[i].held, d,
                     cases[i].decided);
        /* Without downgrades (at confirm) the tier never falls. */
        assert_int_equal(ly_tiers_decide(&tiers, 1, 110, p, 2, cases[i].today, false), 1);
    }
    /* Without grace the tier goes the day the window drops. */
    tiers.grace_days = 0;
    assert_int_equal(ly_tiers_held_until(&tiers, 1, p, 2, 129, true, 110), 129);
    assert_int_equal(ly_tiers_decide(&tiers, 1, 110, p, 2, 129, true), 1);
    assert_int_equal(ly_tiers_decide(&tiers, 1, 110, p, 2, 130, true), 0);
    /* The lowest tier is never lost. */
    assert_true(ly_tiers_held_until(&tiers, 0, p, 0, 500, false, 0) == LY_DAY_FOREVER);
}

/* Month periods, grace 5: Silver earned in January is held through February, plus five days
 * of March; earned again in February, it is held through March. */
static void calendar_tier_changes_only_at_period_end(void **state)
{
    (void)state;
    setUpTiers(LY_TIER_MONTH, false);
    ly_tier_purchase jan[] = {{day(2027, 1, 15), 12000, true}};
    int64_t since = day(2027, 1, 15);
    static const struct {
        int y;
        unsigned m, d;
        size_t tier;
    } cases[] = {
        {2027, 1, 15, 1}, {2027, 1, 31, 1}, {2027, 2, 1, 1}, {2027, 2, 28, 1},
        {2027, 3, 1, 1},  {2027, 3, 5, 1},  {2027, 3, 6, 0}, {2027, 6, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t today = day(cases[i].y, cases[i].m, cases[i].d);
        size_t t = ly_tiers_decide(&tiers, 1, since, jan, 1, today, true);
        if (t != cases[i].tier)
            fail_msg("%04d-%02u-%02u: tier %zu, expected %zu", cases[i].y, cases[i].m, cases[i].d, t,
                     cases[i].tier);
    }
    assert_int_equal(ly_tiers_held_until(&tiers, 1, jan, 1, day(2027, 1, 20), true, since), day(2027, 3, 5));
    ly_tier_purchase janfeb[] = {{day(2027, 1, 15), 12000, true}, {day(2027, 2, 10), 10000, true}};
    assert_int_equal(ly_tiers_held_until(&tiers, 1, janfeb, 2, day(2027, 2, 20), true, since),
                     day(2027, 4, 5));
    /* An upgrade happens within the period, at once. */
    ly_tier_purchase big[] = {{day(2027, 2, 10), 60000, true}};
    assert_int_equal(ly_tiers_decide(&tiers, 1, since, big, 1, day(2027, 2, 10), false), 2);
}

static void progress_names_the_amount_the_count_and_the_date(void **state)
{
    (void)state;
    setUpTiers(LY_TIER_ROLLING, false);
    ly_tier_purchase p[] = {{100, 6000, true}, {110, 6000, true}};
    ly_tier_progress pr;
    ly_tiers_progress(&tiers, 1, p, 2, 120, &pr);
    assert_true(pr.has_next);
    assert_int_equal(pr.next, 2);
    assert_int_equal(pr.figures.spend, 12000);
    assert_int_equal(pr.figures.receipts, 2);
    assert_int_equal(pr.spend_more, 38000);
    assert_int_equal(pr.receipts_more, 8);
    assert_false(pr.need_all);
    assert_int_equal(pr.by_day, 129); /* the day 100 purchase leaves the window on day 130 */
    /* From Basic: Silver needs only spend. */
    ly_tiers_progress(&tiers, 0, p, 1, 105, &pr);
    assert_int_equal(pr.spend_more, 4000);
    assert_int_equal(pr.receipts_more, 0);
    /* An empty window has no date. */
    ly_tiers_progress(&tiers, 0, p, 0, 105, &pr);
    assert_true(pr.by_day == LY_DAY_FOREVER);
    assert_int_equal(pr.spend_more, 10000);
    /* Calendar: the period's last day. */
    setUpTiers(LY_TIER_QUARTER, true);
    ly_tier_purchase q[] = {{day(2026, 11, 2), 20000, true}};
    ly_tiers_progress(&tiers, 1, q, 1, day(2026, 11, 24), &pr);
    assert_int_equal(pr.by_day, day(2026, 12, 31));
    assert_int_equal(pr.spend_more, 30000);
    assert_int_equal(pr.receipts_more, 9);
    assert_true(pr.need_all);
    /* The top tier has no next. */
    ly_tiers_progress(&tiers, 2, q, 1, day(2026, 11, 24), &pr);
    assert_false(pr.has_next);
}

static void club_rule_and_earn_rates(void **state)
{
    (void)state;
    setUpTiers(LY_TIER_ROLLING, false);
    tiers.has_club = true;
    tiers.club = (ly_club){.name = "Club", .by_rule = true, .min_tier = 2, .min_receipts = 6,
                           .window_days = 90};
    ly_tier_purchase p[6];
    for (int i = 0; i < 6; i++) p[i] = (ly_tier_purchase){1000 + i * 10, 100, true};
    static const struct {
        size_t tier;
        size_t n;
        int64_t today;
        bool member;
    } cases[] = {
        {2, 6, 1050, true},  /* top tier, 6 receipts in the last 90 days */
        {1, 6, 1050, false}, /* not the top tier */
        {2, 5, 1050, false}, /* 5 receipts */
        {2, 6, 1089, true},  /* day 1000 is still in 1000..1089 */
        {2, 6, 1090, false}, /* day 1000 has left the window */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (ly_club_qualifies(&tiers, cases[i].tier, p, cases[i].n, cases[i].today) != cases[i].member)
            fail_msg("club case %zu: expected %s", i, cases[i].member ? "member" : "not a member");
    tiers.club.by_rule = false;
    assert_false(ly_club_qualifies(&tiers, 2, p, 6, 1050)); /* invitation only */
    assert_int_equal(ly_tier_earn_rate(&tiers, 0, 500), 500);
    assert_int_equal(ly_tier_earn_rate(&tiers, 1, 500), 600);
    assert_int_equal(ly_tier_earn_rate(&tiers, 2, 500), 800);
    assert_int_equal(ly_tier_earn_rate(NULL, 2, 500), 500);
    assert_int_equal(ly_tiers_find(&tiers, "gold"), 2);
    assert_int_equal(ly_tiers_find(&tiers, "platinum"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qualification_by_spend_and_by_count),
        cmocka_unit_test(periods_rolling_and_calendar),
        cmocka_unit_test(rolling_tier_is_held_until_the_window_drops_plus_grace),
        cmocka_unit_test(calendar_tier_changes_only_at_period_end),
        cmocka_unit_test(progress_names_the_amount_the_count_and_the_date),
        cmocka_unit_test(club_rule_and_earn_rates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
