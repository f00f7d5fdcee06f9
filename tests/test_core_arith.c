/*
 * test_core_arith.c - integer arithmetic of the core: a*b/c with each rounding rule,
 * largest-remainder splits with caps, shares of partial returns, decimal text, errors and
 * the arena.
 */
#include "testlib.h"

#include "core/core.h"

#include <string.h>

static int64_t md(int64_t a, int64_t b, int64_t c, ly_rounding r)
{
    int64_t out = -12345;
    assert_true(ly_muldiv(a, b, c, r, &out));
    return out;
}

static void muldiv_rounds_by_the_named_rule(void **state)
{
    (void)state;
    /* 7 * 1 / 2 = 3.5; 5 / 2 = 2.5; 7 / 3 = 2.33; 8 / 3 = 2.67; 6 / 3 = 2 exactly. */
    static const struct {
        int64_t a, b, c;
        int64_t want[4]; /* down, half_up, half_even, up */
    } cases[] = {
        {7, 1, 2, {3, 4, 4, 4}},
        {5, 1, 2, {2, 3, 2, 3}},
        {7, 1, 3, {2, 2, 2, 3}},
        {8, 1, 3, {2, 3, 3, 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int r = LY_ROUND_DOWN; r <= LY_ROUND_UP; r++) {
            int64_t got = md(cases[i].a, cases[i].b, cases[i].c, (ly_rounding)r);
            if (got != cases[i].want[r - LY_ROUND_DOWN])
                fail_msg("%lld * %lld / %lld rounded %s: %lld, expected %lld",
                         (long long)cases[i].a, (long long)cases[i].b, (long long)cases[i].c,
                         ly_rounding_name((ly_rounding)r), (long long)got,
                         (long long)cases[i].want[r - LY_ROUND_DOWN]);
        }

    for (int r = LY_ROUND_DOWN; r <= LY_ROUND_UP; r++) {
        assert_int_equal(md(6, 1, 3, (ly_rounding)r), 2);
        assert_int_equal(md(0, 99, 7, (ly_rounding)r), 0);
    }
    /* The worked example of docs/program.md: 1,234.56 at 5% with a point of 1.00. */
    assert_int_equal(md(123456, 500, 1000000, LY_ROUND_DOWN), 61);
    assert_int_equal(md(123456, 500, 1000000, LY_ROUND_HALF_UP), 62);
    assert_int_equal(md(123456, 500, 1000000, LY_ROUND_UP), 62);
    /* Banker's rounding goes to the even neighbour on exact halves only. */
    assert_int_equal(md(25, 1, 10, LY_ROUND_HALF_EVEN), 2);
    assert_int_equal(md(35, 1, 10, LY_ROUND_HALF_EVEN), 4);
    assert_int_equal(md(251, 1, 100, LY_ROUND_HALF_EVEN), 3);
}

static void muldiv_uses_128_bits_and_refuses_overflow(void **state)
{
    (void)state;
    /* The product is far beyond int64, the quotient is not. */
    assert_int_equal(md(INT64_MAX, INT64_MAX, INT64_MAX, LY_ROUND_DOWN), INT64_MAX);
    assert_int_equal(md(LY_AMOUNT_MAX, 10000, 10000, LY_ROUND_HALF_EVEN), LY_AMOUNT_MAX);
    assert_int_equal(md(INT64_C(3000000000000000000), 3, 9, LY_ROUND_DOWN),
                     INT64_C(1000000000000000000));
    int64_t out = 77;
    assert_false(ly_muldiv(INT64_MAX, 2, 1, LY_ROUND_DOWN, &out));
    /* Rounding can be what overflows: (2^64 - 1) / 2 is INT64_MAX and a half. */
    const int64_t third = (int64_t)(UINT64_MAX / 3);
    assert_int_equal(md(third, 3, 2, LY_ROUND_DOWN), INT64_MAX);
    assert_false(ly_muldiv(third, 3, 2, LY_ROUND_HALF_UP, &out));
    assert_false(ly_muldiv(third, 3, 2, LY_ROUND_HALF_EVEN, &out)); /* INT64_MAX is odd */
    assert_false(ly_muldiv(third, 3, 2, LY_ROUND_UP, &out));
    assert_false(ly_muldiv(INT64_MAX, 3, 2, LY_ROUND_DOWN, &out));
    out = 77;
    assert_false(ly_muldiv(-1, 2, 3, LY_ROUND_DOWN, &out));
    assert_false(ly_muldiv(1, -2, 3, LY_ROUND_DOWN, &out));
    assert_false(ly_muldiv(1, 2, 0, LY_ROUND_DOWN, &out));
    assert_false(ly_muldiv(1, 2, -3, LY_ROUND_DOWN, &out));
    assert_false(ly_muldiv(1, 2, 3, (ly_rounding)9, &out));
    assert_int_equal(out, 77); /* left alone on failure */
}

static void rounding_names_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"down", "half_up", "half_even", "up"};
    for (int i = 0; i < 4; i++) {
        ly_rounding r;
        assert_true(ly_rounding_parse(names[i], &r));
        assert_int_equal(r, i);
        assert_string_equal(ly_rounding_name(r), names[i]);
    }
    ly_rounding r;
    assert_false(ly_rounding_parse("Down", &r));
    assert_false(ly_rounding_parse("", &r));
    assert_false(ly_rounding_parse(NULL, &r));
}

static int64_t sum(const int64_t *v, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s;
}

/* ly_allocate(total, w, caps, n) succeeds and gives exactly want[0..n-1]. */
static void assertSplit(int64_t total, const int64_t *w, const int64_t *caps, size_t n,
                        const int64_t *want)
{
    int64_t out[8];
    assert_true(n <= 8);
    assert_int_equal(ly_allocate(total, w, caps, n, out), LY_OK);
    for (size_t i = 0; i < n; i++)
        if (out[i] != want[i])
            fail_msg("%lld split: part %zu is %lld, expected %lld", (long long)total, i,
                     (long long)out[i], (long long)want[i]);
}

static void allocate_splits_by_largest_remainder(void **state)
{
    (void)state;
    int64_t out[4];
    /* 10 over 1:1:1 -> 3.33 each; the one unit left goes to the lowest index. */
    assertSplit(10, (const int64_t[]){1, 1, 1}, NULL, 3, (const int64_t[]){4, 3, 3});
    /* 100 over 1:2:3:4 is exact. */
    assertSplit(100, (const int64_t[]){1, 2, 3, 4}, NULL, 4, (const int64_t[]){10, 20, 30, 40});
    /* 10 over 5:3:2 weights of 1/3: 10*{5,3,2}/10 exact; 7 over them: 3.5, 2.1, 1.4 ->
     * floors 3,2,1 and the left unit goes to the largest remainder (.5, index 0). */
    int64_t w532[] = {5, 3, 2};
    assertSplit(7, w532, NULL, 3, (const int64_t[]){4, 2, 1});
    /* The largest remainder wins even at a higher index: 5 over 1:3 = 1.25, 3.75. */
    assertSplit(5, (const int64_t[]){1, 3}, NULL, 2, (const int64_t[]){1, 4});
    /* Zero weights get nothing; zero total gives zeros. */
    int64_t w0[] = {0, 2, 0, 2};
    assertSplit(3, w0, NULL, 4, (const int64_t[]){0, 2, 0, 1});
    assert_int_equal(ly_allocate(0, w0, NULL, 4, out), LY_OK);
    assert_int_equal(sum(out, 4), 0);
    /* Huge values: the products need 128 bits. */
    int64_t big[] = {LY_AMOUNT_MAX, LY_AMOUNT_MAX - 1, 1};
    assert_int_equal(ly_allocate(LY_AMOUNT_MAX, big, NULL, 3, out), LY_OK);
    assert_int_equal(sum(out, 3), LY_AMOUNT_MAX);
    assert_int_equal(out[0], LY_AMOUNT_MAX / 2);
}

static void allocate_moves_units_that_pass_a_cap(void **state)
{
    (void)state;
    int64_t out[3];
    static const struct {
        int64_t total, w[3], caps[3], want[3];
    } cases[] = {
        /* 10 over 1:1:1 with the first part capped at 1: the others share 9 -> 5, 4. */
        {10, {1, 1, 1}, {1, 100, 100}, {1, 5, 4}},
        /* A cap that pins one part makes another pass its own cap: iterate. */
        {10, {6, 3, 1}, {2, 3, 100}, {2, 3, 5}},
        /* Caps exactly equal to the total: every part full. */
        {10, {1, 1, 1}, {3, 3, 4}, {3, 3, 4}},
        /* A zero cap takes nothing even with the largest weight. */
        {7, {100, 1, 1}, {0, 50, 50}, {0, 4, 3}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assertSplit(cases[i].total, cases[i].w, cases[i].caps, 3, cases[i].want);
    /* When the weighted parts are full, the rest fills zero-weight parts with room. */
    int64_t w5[] = {1, 0, 0};
    int64_t c5[] = {2, 3, 5};
    assert_int_equal(ly_allocate(6, w5, c5, 3, out), LY_OK);
    assert_int_equal(out[0], 2);
    assert_int_equal(sum(out, 3), 6);
    assert_true(out[1] <= 3 && out[2] <= 5);
}

static void allocate_refuses_what_cannot_be_placed(void **state)
{
    (void)state;
    int64_t out[3];
    int64_t zero[] = {0, 0, 0};
    int64_t w[] = {1, 1, 1};
    int64_t caps[] = {1, 1, 1};
    assert_int_equal(ly_allocate(1, zero, NULL, 3, out), LY_EINVAL);
    assert_int_equal(ly_allocate(4, w, caps, 3, out), LY_EINVAL);
    assert_int_equal(ly_allocate(-1, w, NULL, 3, out), LY_EINVAL);
    assert_int_equal(ly_allocate(1, w, NULL, 0, out), LY_EINVAL);
    assert_int_equal(ly_allocate(0, w, NULL, 0, out), LY_OK);
    int64_t neg[] = {1, -1, 1};
    assert_int_equal(ly_allocate(1, neg, NULL, 3, out), LY_EINVAL);
    /* All weights zero with nothing to place is fine. */
    assert_int_equal(ly_allocate(0, zero, NULL, 3, out), LY_OK);
}

/* A small deterministic generator for the property tests. */
static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void allocate_always_adds_up_and_respects_caps(void **state)
{
    (void)state;
    int64_t w[40], caps[40], out[40];
    for (int round = 0; round < 3000; round++) {
        size_t n = 1 + next() % 40;
        int64_t capsum = 0, wsum = 0;
        bool useCaps = next() % 2;
        for (size_t i = 0; i < n; i++) {
            w[i] = next() % 4 == 0 ? 0 : (int64_t)(next() % 100000);
            caps[i] = (int64_t)(next() % 5000);
            capsum += caps[i];
            wsum += w[i];
        }
        int64_t total = (int64_t)(next() % 20000);
        ly_err rc = ly_allocate(total, w, useCaps ? caps : NULL, n, out);
        bool possible = total == 0 || (wsum > 0 && (!useCaps || capsum >= total));
        assert_int_equal(rc, possible ? LY_OK : LY_EINVAL);
        if (!possible) continue;
        assert_int_equal(sum(out, n), total);
        for (size_t i = 0; i < n; i++) {
            assert_true(out[i] >= 0);
            if (useCaps) assert_true(out[i] <= caps[i]);
            /* Without caps a part is its floor or one more. */
            if (!useCaps && wsum > 0) {
                int64_t fl = (int64_t)((unsigned __int128)total * (uint64_t)w[i] / (uint64_t)wsum);
                assert_true(out[i] == fl || out[i] == fl + 1);
            }
        }
    }
}

static void shares_of_partial_returns_add_up_to_the_whole(void **state)
{
    (void)state;
    assert_int_equal(ly_share(10, 1, 3), 3);
    assert_int_equal(ly_share(10, 2, 3), 6);
    assert_int_equal(ly_share(10, 3, 3), 10);
    assert_int_equal(ly_share(10, 0, 3), 0);
    assert_int_equal(ly_share(10, 1, 0), 0);
    assert_int_equal(ly_share(LY_AMOUNT_MAX, LY_QTY_MAX - 1, LY_QTY_MAX),
                     LY_AMOUNT_MAX - LY_AMOUNT_MAX / LY_QTY_MAX);
    /* Three returns of one kilo each out of three kilos of 100 points: 33, 33, 34. */
    int64_t got[3], done = 0;
    for (int i = 0; i < 3; i++) {
        got[i] = ly_share(100, done + 1000, 3000) - ly_share(100, done, 3000);
        done += 1000;
    }
    assert_int_equal(got[0], 33);
    assert_int_equal(got[1], 33);
    assert_int_equal(got[2], 34);
    /* Any sequence of partial returns: never more than the whole so far, exact at the end. */
    for (int round = 0; round < 2000; round++) {
        int64_t whole = (int64_t)(next() % 1000000);
        int64_t all = 1 + (int64_t)(next() % 100000);
        int64_t before = 0, given = 0;
        while (before < all) {
            int64_t step = 1 + (int64_t)(next() % (uint64_t)(all - before));
            int64_t part = ly_share(whole, before + step, all) - ly_share(whole, before, all);
            assert_true(part >= 0);
            given += part;
            before += step;
            assert_true(given <= whole);
            assert_int_equal(given, ly_share(whole, before, all));
        }
        assert_int_equal(given, whole);
    }
}

static int64_t dec(const char *s, int scale)
{
    int64_t v = -999;
    assert_true(ly_decimal_parse(s, scale, &v));
    return v;
}

static void decimals_parse_exactly(void **state)
{
    (void)state;
    assert_int_equal(dec("1.5", 2), 150);
    assert_int_equal(dec("12.5", 2), 1250);
    assert_int_equal(dec("-0.05", 2), -5);
    assert_int_equal(dec("0", 2), 0);
    assert_int_equal(dec("-0", 2), 0);
    assert_int_equal(dec("100", 0), 100);
    assert_int_equal(dec("007.10", 2), 710);
    assert_int_equal(dec("9223372036854775807", 0), INT64_MAX);
    assert_int_equal(dec("-9223372036854775808", 0), INT64_MIN);
    assert_int_equal(dec("92233720368547758.07", 2), INT64_MAX);

    const char *bad[] = {"", ".", "1.", ".5", "+1", "1e3", " 1", "1 ", "-", "--1", "1.2.3",
                         "1,5", "0x10", "١", NULL};
    for (int i = 0; bad[i]; i++) {
        int64_t v = 42;
        assert_false(ly_decimal_parse(bad[i], 2, &v));
        assert_int_equal(v, 42);
    }
    int64_t v;
    assert_false(ly_decimal_parse("1.234", 2, &v));
    assert_false(ly_decimal_parse("1.5", 0, &v));
    assert_false(ly_decimal_parse("9223372036854775808", 0, &v));
    assert_false(ly_decimal_parse("92233720368547758.08", 2, &v));
    assert_false(ly_decimal_parse("99999999999999999999", 0, &v));
    assert_false(ly_decimal_parse(NULL, 2, &v));
}

static void decimals_format_and_round_trip(void **state)
{
    (void)state;
    char buf[64];
    assert_int_equal(ly_decimal_format(1250, 2, buf, sizeof buf), 5);
    assert_string_equal(buf, "12.50");
    ly_decimal_format(-5, 2, buf, sizeof buf);
    assert_string_equal(buf, "-0.05");
    ly_decimal_format(0, 2, buf, sizeof buf);
    assert_string_equal(buf, "0.00");
    ly_decimal_format(7, 0, buf, sizeof buf);
    assert_string_equal(buf, "7");
    ly_decimal_format(INT64_MIN, 0, buf, sizeof buf);
    assert_string_equal(buf, "-9223372036854775808");
    ly_decimal_format(INT64_MAX, 4, buf, sizeof buf);
    assert_string_equal(buf, "922337203685477.5807");
    /* A short buffer is truncated, still terminated. */
    assert_int_equal(ly_decimal_format(123456, 2, buf, 4), 3);
    assert_string_equal(buf, "123");

    for (int round = 0; round < 5000; round++) {
        int64_t x = (int64_t)next();
        if (round % 3 == 0) x %= 100000;
        int scale = (int)(next() % 5);
        ly_decimal_format(x, scale, buf, sizeof buf);
        int64_t back;
        assert_true(ly_decimal_parse(buf, scale, &back));
        assert_int_equal(back, x);
    }
}

static void errors_carry_code_field_and_message(void **state)
{
    (void)state;
    ly_error e;
    ly_error_clear(&e);
    assert_int_equal(e.kind, LY_OK);
    assert_string_equal(e.code, "");
    assert_int_equal(ly_error_set(&e, LY_EINVAL, "invalid_quantity", "lines[0].qty",
                                  "must be > %d", 0),
                     LY_EINVAL);
    assert_int_equal(e.kind, LY_EINVAL);
    assert_string_equal(e.code, "invalid_quantity");
    assert_string_equal(e.field, "lines[0].qty");
    assert_string_equal(e.message, "must be > 0");
    ly_error_set(&e, LY_ENOTFOUND, "x", NULL, "%s", "gone");
    assert_string_equal(e.field, "");
    /* NULL report: the kind is still returned. */
    assert_int_equal(ly_error_set(NULL, LY_EIO, "x", NULL, "y"), LY_EIO);
    /* Long messages are cut, never overflow. */
    char longer[1000];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    ly_error_set(&e, LY_EINVAL, "c", longer, "%s", longer);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
    assert_int_equal(strlen(e.field), sizeof e.field - 1);

    assert_string_equal(ly_err_code(LY_EINVAL), "invalid_request");
    assert_string_equal(ly_err_code(LY_ENOTFOUND), "not_found");
    for (int k = LY_OK; k <= LY_EINTERNAL; k++) assert_non_null(ly_err_code((ly_err)k));
    assert_non_null(ly_err_code((ly_err)99));
}

static void the_arena_hands_out_aligned_zeroed_memory(void **state)
{
    (void)state;
    ly_arena a = {0};
    for (int i = 0; i < 2000; i++) {
        size_t n = 1 + (size_t)(next() % 300);
        unsigned char *p = ly_arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (size_t j = 0; j < n; j++) assert_int_equal(p[j], 0);
        memset(p, 0xab, n);
    }
    unsigned char *big = ly_arena_alloc(&a, 1 << 20); /* bigger than a block */
    assert_non_null(big);
    assert_int_equal(big[(1 << 20) - 1], 0);
    assert_true(a.total >= (1 << 20));
    assert_string_equal(ly_arena_strdup(&a, "hello"), "hello");
    assert_null(ly_arena_strdup(&a, NULL));
    assert_string_equal(ly_arena_strndup(&a, "hello", 3), "hel");
    assert_string_equal(ly_arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    ly_arena_free(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
    assert_non_null(ly_arena_alloc(&a, 8)); /* usable again */
    ly_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(muldiv_rounds_by_the_named_rule),
        cmocka_unit_test(muldiv_uses_128_bits_and_refuses_overflow),
        cmocka_unit_test(rounding_names_round_trip),
        cmocka_unit_test(allocate_splits_by_largest_remainder),
        cmocka_unit_test(allocate_moves_units_that_pass_a_cap),
        cmocka_unit_test(allocate_refuses_what_cannot_be_placed),
        cmocka_unit_test(allocate_always_adds_up_and_respects_caps),
        cmocka_unit_test(shares_of_partial_returns_add_up_to_the_whole),
        cmocka_unit_test(decimals_parse_exactly),
        cmocka_unit_test(decimals_format_and_round_trip),
        cmocka_unit_test(errors_carry_code_field_and_message),
        cmocka_unit_test(the_arena_hands_out_aligned_zeroed_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
