/*
 * test_core_pricing.c - the program's numbers and the pricing of a receipt: what a receipt
 * may take in points, how spent and earned points spread over its lines, and which
 * receipts are refused and why.
 */
#include "testlib.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

/* Green Basket: RUB, 5% on the money paid, a point is 1.00, up to half a receipt. */
static ly_program program(void)
{
    ly_program p;
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "Green Basket");
    snprintf(p.version, sizeof p.version, "test");
    snprintf(p.currency, sizeof p.currency, "RUB");
    p.minor_units = 2;
    snprintf(p.time_zone, sizeof p.time_zone, "Europe/Moscow");
    snprintf(p.phone_country, sizeof p.phone_country, "7");
    snprintf(p.phone_trunk, sizeof p.phone_trunk, "8");
    p.earn_rate_bp = 500;
    p.earn_base = LY_EARN_ON_PAID;
    p.earn_rounding = LY_ROUND_DOWN;
    p.point_value = 100;
    p.max_redeem_bp = 5000;
    p.min_redeem = 1;
    p.hold_days = 14;
    p.expiry_days = 365;
    p.debt_policy = LY_DEBT_NEGATIVE;
    return p;
}

#define MAXL 8

/* A receipt whose lines are one unit at the given amounts. */
typedef struct {
    ly_line lines[MAXL];
    ly_receipt r;
    ly_line_price prices[MAXL];
    ly_pricing out;
} fixture;

static void receipt(fixture *f, size_t n, const ly_money *amounts)
{
    memset(f, 0, sizeof *f);
    static const char *skus[MAXL] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    for (size_t i = 0; i < n; i++) {
        f->lines[i] = (ly_line){.sku = skus[i], .qty = 1000, .price = amounts[i],
                                .amount = amounts[i]};
        f->r.total += amounts[i];
    }
    f->r.receipt_id = "R-1";
    f->r.store = "S-1";
    f->r.channel = LY_SALES_STORE;
    f->r.lines = f->lines;
    f->r.n_lines = n;
    f->out.lines = f->prices;
}

static ly_err price(fixture *f, const ly_program *p, ly_points available, ly_points redeem,
                    ly_error *err)
{
    ly_error_clear(err);
    return ly_price_receipt(p, &f->r, available, redeem, &f->out, err);
}

/* Line figures add up to the receipt's, and no line is paid beyond its amount. */
static void assertConsistent(const fixture *f, const ly_program *p)
{
    ly_points redeemed = 0, earned = 0;
    ly_money discount = 0;
    for (size_t i = 0; i < f->r.n_lines; i++) {
        const ly_line_price *lp = &f->out.lines[i];
        assert_int_equal(lp->discount, lp->points_redeemed * p->point_value);
        assert_true(lp->discount <= f->lines[i].amount);
        assert_true(lp->points_redeemed >= 0 && lp->points_earned >= 0);
        redeemed += lp->points_redeemed;
        earned += lp->points_earned;
        discount += lp->discount;
    }
    assert_int_equal(redeemed, f->out.redeem);
    assert_int_equal(earned, f->out.earn);
    assert_int_equal(discount, f->out.discount);
    assert_int_equal(f->out.total, f->r.total);
    assert_int_equal(f->out.paid, f->out.total - f->out.discount);
}

static void points_earned_follow_the_rounding_rule(void **state)
{
    (void)state;
    ly_program p = program();
    fixture f;
    ly_error err;
    /* 1,234.56 at 5% = 61.728 points; 1,250.00 at 5% = 62.5; 1,230.00 = 61.5. */
    static const struct { ly_money amount; ly_rounding r; ly_points want; } cases[] = {
        {123456, LY_ROUND_DOWN, 61}, {123456, LY_ROUND_HALF_UP, 62},
        {123456, LY_ROUND_HALF_EVEN, 62}, {123456, LY_ROUND_UP, 62},
        {125000, LY_ROUND_DOWN, 62}, {125000, LY_ROUND_HALF_UP, 63},
        {125000, LY_ROUND_HALF_EVEN, 62}, {125000, LY_ROUND_UP, 63},
        {123000, LY_ROUND_DOWN, 61}, {123000, LY_ROUND_HALF_UP, 62},
        {123000, LY_ROUND_HALF_EVEN, 62}, {123000, LY_ROUND_UP, 62},
        {100000, LY_ROUND_UP, 50}, {1, LY_ROUND_UP, 1}, {1, LY_ROUND_HALF_UP, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        p.earn_rounding = cases[i].r;
        ly_points pts = -1;
        assert_true(ly_program_points_for(&p, cases[i].amount, &pts));
        assert_int_equal(pts, cases[i].want);
        receipt(&f, 1, &cases[i].amount);
        assert_int_equal(price(&f, &p, 0, 0, &err), LY_OK);
        assert_int_equal(f.out.earn, cases[i].want);
        assert_int_equal(f.prices[0].points_earned, cases[i].want);
    }
    /* A point worth a cent: 5% of 10.00 is 50 points. */
    p.point_value = 1;
    p.earn_rounding = LY_ROUND_DOWN;
    ly_points pts;
    assert_true(ly_program_points_for(&p, 1000, &pts));
    assert_int_equal(pts, 50);
    /* A point worth more than 10000 * INT64_MAX allows as one divisor: still exact. */
    p.point_value = LY_AMOUNT_MAX;
    p.earn_rate_bp = 5000;
    static const ly_points halves[] = {0, 1, 0, 1}; /* 0.5 by down, half_up, half_even, up */
    for (int r = LY_ROUND_DOWN; r <= LY_ROUND_UP; r++) {
        p.earn_rounding = (ly_rounding)r;
        assert_true(ly_program_points_for(&p, LY_AMOUNT_MAX, &pts));
        assert_int_equal(pts, halves[r]);
    }
    p.earn_rounding = LY_ROUND_HALF_EVEN;
    assert_true(ly_program_points_for(&p, 3 * LY_AMOUNT_MAX, &pts)); /* 1.5 -> 2 */
    assert_int_equal(pts, 2);
    assert_false(ly_program_points_for(&p, -1, &pts));
}

static void earned_points_on_lines_add_up_to_the_receipt(void **state)
{
    (void)state;
    ly_program p = program();
    fixture f;
    ly_error err;
    /* 1,000.00 in thirds earns 50 points: 16.67 each by weight; the two units left go to
     * the largest remainder (the 333.34 line) and then to the lower index. */
    const ly_money thirds[] = {33333, 33333, 33334};
    receipt(&f, 3, thirds);
    assert_int_equal(price(&f, &p, 0, 0, &err), LY_OK);
    assert_int_equal(f.out.earn, 50);
    assert_int_equal(f.prices[0].points_earned, 17);
    assert_int_equal(f.prices[1].points_earned, 16);
    assert_int_equal(f.prices[2].points_earned, 17);
    assertConsistent(&f, &p);
    /* A free line earns nothing and takes nothing. */
    const ly_money withFree[] = {50000, 0, 50000};
    receipt(&f, 3, withFree);
    assert_int_equal(price(&f, &p, 1000, 300, &err), LY_OK);
    assert_int_equal(f.prices[1].points_earned, 0);
    assert_int_equal(f.prices[1].points_redeemed, 0);
    assertConsistent(&f, &p);
    /* An all-free receipt earns nothing and can take nothing. */
    const ly_money free2[] = {0, 0};
    receipt(&f, 2, free2);
    assert_int_equal(price(&f, &p, 1000, 0, &err), LY_OK);
    assert_int_equal(f.out.earn, 0);
    assert_int_equal(f.out.max_redeem, 0);
    assertConsistent(&f, &p);
}

static void spent_points_spread_by_amount_within_each_line(void **state)
{
    (void)state;
    ly_program p = program();
    p.max_redeem_bp = 10000;
    fixture f;
    ly_error err;
    /* 500 points over 1,000.00 + 0.50 + 250.75: 399.6, 0.2, 100.2 -> 400, 0, 100. */
    const ly_money a[] = {100000, 50, 25075};
    receipt(&f, 3, a);
    assert_int_equal(price(&f, &p, 5000, 500, &err), LY_OK);
    assert_int_equal(f.prices[0].points_redeemed, 400);
    assert_int_equal(f.prices[1].points_redeemed, 0);
    assert_int_equal(f.prices[2].points_redeemed, 100);
    assert_int_equal(f.prices[2].discount, 10000);
    assert_int_equal(f.out.discount, 50000);
    assert_int_equal(f.out.paid, 75125);
    /* Earned on what was paid: 751.25 at 5% = 37.56 -> 37, by each line's paid base. */
    assert_int_equal(f.out.earn, 37);
    assertConsistent(&f, &p);
    /* The most this receipt can take is what its lines can take in whole points (1,250:
     * 1,000 + 0 + 250), less than floor(1,251.25) on the total. */
    assert_int_equal(price(&f, &p, 5000, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 1250);
    assert_int_equal(price(&f, &p, 5000, 1250, &err), LY_OK);
    assert_int_equal(f.prices[0].points_redeemed, 1000);
    assert_int_equal(f.prices[2].points_redeemed, 250);
    assert_int_equal(f.out.paid, 125);
    assertConsistent(&f, &p);
    assert_int_equal(price(&f, &p, 5000, 1251, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "redeem_exceeds_max");

    /* A line whose share would pass its amount is capped and the unit moves on: 101 points
     * over 1.99 and 100.00 would be 1.97 and 99.03 -> 2 and 99, but 1.99 takes only 1. */
    const ly_money b[] = {199, 10000};
    receipt(&f, 2, b);
    assert_int_equal(price(&f, &p, 5000, 101, &err), LY_OK);
    assert_int_equal(f.prices[0].points_redeemed, 1);
    assert_int_equal(f.prices[1].points_redeemed, 100);
    assert_int_equal(f.prices[1].discount, 10000);
    assertConsistent(&f, &p);
}

static void earning_on_total_ignores_the_discount(void **state)
{
    (void)state;
    ly_program p = program();
    fixture f;
    ly_error err;
    const ly_money a[] = {60000, 40000};
    receipt(&f, 2, a);
    assert_int_equal(price(&f, &p, 10000, 500, &err), LY_OK);
    assert_int_equal(f.out.paid, 50000);
    assert_int_equal(f.out.earn, 25); /* 5% of the 500.00 paid */
    /* Paid bases 300.00 and 200.00 -> 15 and 10. */
    assert_int_equal(f.prices[0].points_earned, 15);
    assert_int_equal(f.prices[1].points_earned, 10);
    p.earn_base = LY_EARN_ON_TOTAL;
    assert_int_equal(price(&f, &p, 10000, 500, &err), LY_OK);
    assert_int_equal(f.out.earn, 50); /* 5% of the 1,000.00 before points */
    assert_int_equal(f.prices[0].points_earned, 30);
    assert_int_equal(f.prices[1].points_earned, 20);
    assertConsistent(&f, &p);
    /* Paid in full with points: nothing earned on paid, still 5% on total. */
    p.max_redeem_bp = 10000;
    assert_int_equal(price(&f, &p, 10000, 1000, &err), LY_OK);
    assert_int_equal(f.out.paid, 0);
    assert_int_equal(f.out.earn, 50);
    p.earn_base = LY_EARN_ON_PAID;
    assert_int_equal(price(&f, &p, 10000, 1000, &err), LY_OK);
    assert_int_equal(f.out.earn, 0);
    assertConsistent(&f, &p);
}

static void the_most_a_receipt_can_take(void **state)
{
    (void)state;
    ly_program p = program(); /* half a receipt, at least 1 point */
    fixture f;
    ly_error err;
    const ly_money a[] = {100000};
    receipt(&f, 1, a);
    /* Half of 1,000.00 is 500 points, if the customer has them. */
    assert_int_equal(price(&f, &p, 10000, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 500);
    assert_int_equal(f.out.redeem, 0);
    assert_int_equal(f.out.discount, 0);
    assert_int_equal(price(&f, &p, 300, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 300);
    assert_int_equal(price(&f, &p, 10000, 500, &err), LY_OK);
    assert_int_equal(f.out.redeem, 500);
    assert_int_equal(f.out.paid, 50000);
    assert_int_equal(price(&f, &p, 10000, 501, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "redeem_exceeds_max");
    assert_string_equal(err.field, "redeem_points");
    assert_int_equal(price(&f, &p, 300, 301, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "redeem_exceeds_max");
    /* 33.33% of 100.01 is 33.33 -> 33 points, rounded down. */
    p.max_redeem_bp = 3333;
    const ly_money b[] = {10001};
    receipt(&f, 1, b);
    assert_int_equal(price(&f, &p, 10000, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 33);
    /* A program that lets no points pay. */
    p.max_redeem_bp = 0;
    assert_int_equal(price(&f, &p, 10000, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
    assert_int_equal(price(&f, &p, 10000, 1, &err), LY_EUNPROCESSABLE);
}

static void a_redemption_below_the_minimum_is_refused(void **state)
{
    (void)state;
    ly_program p = program();
    p.min_redeem = 100;
    fixture f;
    ly_error err;
    const ly_money a[] = {100000};
    receipt(&f, 1, a);
    assert_int_equal(price(&f, &p, 1000, 99, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "redeem_below_min");
    assert_string_equal(err.field, "redeem_points");
    assert_int_equal(price(&f, &p, 1000, 100, &err), LY_OK);
    assert_int_equal(f.out.redeem, 100);
    /* Fewer points than the minimum: nothing can be taken at all. */
    assert_int_equal(price(&f, &p, 99, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
    /* A receipt whose share is under the minimum can take nothing either. */
    const ly_money small[] = {15000}; /* half is 75 points */
    receipt(&f, 1, small);
    assert_int_equal(price(&f, &p, 1000, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
    /* Zero is always a valid answer; a negative one is not. */
    assert_int_equal(price(&f, &p, 1000, -1, &err), LY_EINVAL);
    assert_string_equal(err.field, "redeem_points");
}

static void an_anonymous_receipt_earns_but_cannot_spend(void **state)
{
    (void)state;
    ly_program p = program();
    fixture f;
    ly_error err;
    const ly_money a[] = {45000, 55000};
    receipt(&f, 2, a);
    assert_int_equal(price(&f, &p, 0, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
    assert_int_equal(f.out.redeem, 0);
    assert_int_equal(f.out.paid, 100000);
    assert_int_equal(f.out.earn, 50);
    assertConsistent(&f, &p);
    assert_int_equal(price(&f, &p, 0, 1, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "redeem_exceeds_max");
    /* A negative balance (debt) is the same as none. */
    assert_int_equal(price(&f, &p, -40, 0, &err), LY_OK);
    assert_int_equal(f.out.max_redeem, 0);
}

static void receipts_are_checked_for_their_own_consistency(void **state)
{
    (void)state;
    ly_program p = program();
    fixture f;
    ly_error err;
    const ly_money a[] = {1000, 2000, 3000};

#define EXPECT(rc, code_, field_)                                                              \
    do {                                                                                       \
        ly_error_clear(&err);                                                                  \
        assert_int_equal(ly_receipt_validate(&f.r, &err), rc);                                 \
        assert_string_equal(err.code, code_);                                                  \
        assert_string_equal(err.field, field_);                                                \
        assert_int_equal(price(&f, &p, 0, 0, &err), rc);                                       \
        receipt(&f, 3, a);                                                                     \
    } while (0)

    receipt(&f, 3, a);
    assert_int_equal(ly_receipt_validate(&f.r, &err), LY_OK);
    f.r.receipt_id = "";
    EXPECT(LY_EINVAL, "missing_field", "receipt_id");
    f.r.receipt_id = NULL;
    EXPECT(LY_EINVAL, "missing_field", "receipt_id");
    f.r.store = NULL;
    EXPECT(LY_EINVAL, "missing_field", "store");
    f.r.n_lines = 0;
    EXPECT(LY_EINVAL, "missing_field", "lines");
    f.lines[1].sku = "";
    EXPECT(LY_EINVAL, "missing_field", "lines[1].sku");
    f.lines[2].qty = 0;
    EXPECT(LY_EINVAL, "invalid_field", "lines[2].qty");
    f.lines[2].qty = LY_QTY_MAX + 1;
    EXPECT(LY_EINVAL, "invalid_field", "lines[2].qty");
    f.lines[2].price = -1;
    EXPECT(LY_EINVAL, "invalid_field", "lines[2].price");
    f.lines[0].amount = LY_AMOUNT_MAX + 1;
    EXPECT(LY_EINVAL, "invalid_field", "lines[0].amount");
    /* A surcharge over qty x price is refused; the till's own discount is not. */
    f.lines[1].amount = 2001;
    f.r.total += 1;
    EXPECT(LY_EINVAL, "amount_exceeds_price", "lines[1].amount");
    f.lines[1].amount = 1500;
    f.r.total -= 500;
    assert_int_equal(ly_receipt_validate(&f.r, &err), LY_OK);
    receipt(&f, 3, a);
    f.r.total += 1;
    EXPECT(LY_EINVAL, "total_mismatch", "total");
    f.r.channel = (ly_sales_channel)7;
    EXPECT(LY_EINVAL, "invalid_field", "channel");
#undef EXPECT

    /* 1.5 kg at 3.33 is 4.995: up to 5.00 is fine, 5.01 is not. */
    ly_line w = {.sku = "APPLES", .qty = 1500, .price = 333, .amount = 500};
    ly_receipt r = {.receipt_id = "R", .store = "S", .total = 500, .lines = &w, .n_lines = 1};
    assert_int_equal(ly_receipt_validate(&r, &err), LY_OK);
    w.amount = r.total = 501;
    assert_int_equal(ly_receipt_validate(&r, &err), LY_EINVAL);
    assert_string_equal(err.code, "amount_exceeds_price");
    /* The largest line: a million units at the largest price. */
    w = (ly_line){.sku = "X", .qty = LY_QTY_MAX, .price = LY_AMOUNT_MAX, .amount = LY_AMOUNT_MAX};
    r.total = LY_AMOUNT_MAX;
    assert_int_equal(ly_receipt_validate(&r, &err), LY_OK);
}

static void a_receipt_has_at_most_a_thousand_lines(void **state)
{
    (void)state;
    static ly_line lines[1001];
    static ly_line_price prices[1001];
    for (int i = 0; i < 1001; i++)
        lines[i] = (ly_line){.sku = "SKU", .qty = 1000, .price = 1999 + i, .amount = 1999 + i};
    ly_receipt r = {.receipt_id = "BIG", .store = "S", .lines = lines, .n_lines = 1000};
    for (int i = 0; i < 1000; i++) r.total += lines[i].amount;
    ly_program p = program();
    ly_pricing out = {.lines = prices};
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_price_receipt(&p, &r, 1000000, 12345, &out, &err), LY_OK);
    ly_points redeemed = 0, earned = 0;
    for (int i = 0; i < 1000; i++) {
        redeemed += prices[i].points_redeemed;
        earned += prices[i].points_earned;
        assert_true(prices[i].discount <= lines[i].amount);
    }
    assert_int_equal(redeemed, 12345);
    assert_int_equal(earned, out.earn);
    r.total += lines[1000].amount;
    r.n_lines = 1001;
    assert_int_equal(ly_receipt_validate(&r, &err), LY_ETOOLARGE);
    assert_string_equal(err.code, "too_many_lines");
    assert_string_equal(err.field, "lines");
}

static uint64_t rng = 0x2545f4914f6cdd1du;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void random_receipts_always_add_up(void **state)
{
    (void)state;
    fixture f;
    ly_error err;
    for (int round = 0; round < 3000; round++) {
        ly_program p = program();
        p.point_value = (ly_money)(1 + next() % 300);
        p.earn_rate_bp = (int64_t)(next() % 10001);
        p.max_redeem_bp = (int64_t)(next() % 10001);
        p.min_redeem = (ly_points)(next() % 5);
        p.earn_base = next() % 2 ? LY_EARN_ON_PAID : LY_EARN_ON_TOTAL;
        p.earn_rounding = (ly_rounding)(next() % 4);
        size_t n = 1 + next() % MAXL;
        ly_money a[MAXL];
        for (size_t i = 0; i < n; i++) a[i] = next() % 5 == 0 ? 0 : (ly_money)(next() % 200000);
        receipt(&f, n, a);
        ly_points available = (ly_points)(next() % 5000);
        assert_int_equal(price(&f, &p, available, 0, &err), LY_OK);
        ly_points max = f.out.max_redeem;
        assert_true(max <= available);
        assert_true(max * p.point_value * 10000 <= f.r.total * p.max_redeem_bp);
        ly_points redeem = max ? (ly_points)(next() % (uint64_t)(max + 1)) : 0;
        if (redeem > 0 && redeem < p.min_redeem) redeem = 0;
        assert_int_equal(price(&f, &p, available, redeem, &err), LY_OK);
        assert_int_equal(f.out.redeem, redeem);
        assertConsistent(&f, &p);
        ly_points want;
        assert_true(ly_program_points_for(
            &p, p.earn_base == LY_EARN_ON_PAID ? f.out.paid : f.out.total, &want));
        assert_int_equal(f.out.earn, want);
    }
}

static void program_settings_are_range_checked(void **state)
{
    (void)state;
    ly_program p = program();
    ly_error err;
    assert_int_equal(ly_program_validate(&p, &err), LY_OK);

#define BAD(mutation, field_)                                                                  \
    do {                                                                                       \
        p = program();                                                                         \
        mutation;                                                                              \
        ly_error_clear(&err);                                                                  \
        assert_int_equal(ly_program_validate(&p, &err), LY_EINVAL);                            \
        assert_string_equal(err.field, field_);                                                \
        assert_string_equal(err.code, "invalid_value");                                        \
    } while (0)

    BAD(snprintf(p.currency, sizeof p.currency, "rub"), "currency");
    BAD(snprintf(p.currency, sizeof p.currency, "RU"), "currency");
    BAD(p.minor_units = 5, "minor_units");
    BAD(p.minor_units = -1, "minor_units");
    BAD(p.time_zone[0] = '\0', "time_zone");
    BAD(p.phone_country[0] = '\0', "phone.country_code");
    BAD(snprintf(p.phone_country, sizeof p.phone_country, "1234"), "phone.country_code");
    BAD(snprintf(p.phone_country, sizeof p.phone_country, "+7"), "phone.country_code");
    BAD(snprintf(p.phone_trunk, sizeof p.phone_trunk, "x"), "phone.trunk_prefix");
    BAD(p.earn_rate_bp = 10001, "earn.rate_percent");
    BAD(p.earn_rate_bp = -1, "earn.rate_percent");
    BAD(p.earn_base = (ly_earn_base)2, "earn.base");
    BAD(p.earn_rounding = (ly_rounding)4, "earn.rounding");
    BAD(p.point_value = 0, "points.value");
    BAD(p.point_value = LY_AMOUNT_MAX + 1, "points.value");
    BAD(p.max_redeem_bp = 10001, "points.max_share_percent");
    BAD(p.min_redeem = -1, "points.min_redeem");
    BAD(p.hold_days = 3651, "points.hold_days");
    BAD(p.hold_days = -1, "points.hold_days");
    BAD(p.expiry_days = 36501, "points.expiry_days");
    BAD(p.debt_policy = (ly_debt_policy)5, "points.on_return_debt");
#undef BAD

    /* The edges themselves are fine; an empty trunk prefix is allowed. */
    p = program();
    p.minor_units = 0;
    p.earn_rate_bp = 10000;
    p.point_value = LY_AMOUNT_MAX;
    p.max_redeem_bp = 0;
    p.min_redeem = 0;
    p.hold_days = 3650;
    p.expiry_days = 36500;
    p.phone_trunk[0] = '\0';
    snprintf(p.phone_country, sizeof p.phone_country, "998");
    assert_int_equal(ly_program_validate(&p, &err), LY_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(points_earned_follow_the_rounding_rule),
        cmocka_unit_test(earned_points_on_lines_add_up_to_the_receipt),
        cmocka_unit_test(spent_points_spread_by_amount_within_each_line),
        cmocka_unit_test(earning_on_total_ignores_the_discount),
        cmocka_unit_test(the_most_a_receipt_can_take),
        cmocka_unit_test(a_redemption_below_the_minimum_is_refused),
        cmocka_unit_test(an_anonymous_receipt_earns_but_cannot_spend),
        cmocka_unit_test(receipts_are_checked_for_their_own_consistency),
        cmocka_unit_test(a_receipt_has_at_most_a_thousand_lines),
        cmocka_unit_test(random_receipts_always_add_up),
        cmocka_unit_test(program_settings_are_range_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
