/*
 * test_core_ledger.c - the arithmetic of a customer's points: lots that wait for the return
 * window, become spendable, expire, are spent soonest-expiring first, are taken back on
 * returns (into debt or forgiven), and the invariant that ties the account to its lots.
 */
#include "testlib.h"

#include "core/core.h"

#include <stdio.h>
#include <string.h>

#define DAY INT64_C(86400)

static ly_time at(const char *s)
{
    ly_time t;
    if (!ly_time_parse(s, &t, NULL)) fail_msg("bad time %s", s);
    return t;
}

/* available = active remaining - debt; pending = pending remaining; debt only while no
 * active lot has points; empty lots are spent or expired, never active or pending with 0
 * unless they were created so. */
static void assertInvariant(const ly_account *a, const ly_lot *lots, size_t n)
{
    ly_points active = 0, pending = 0;
    bool activeLeft = false;
    for (size_t i = 0; i < n; i++) {
        const ly_lot *l = &lots[i];
        assert_true(l->remaining >= 0);
        assert_true(l->remaining <= l->points);
        if (l->state == LY_LOT_ACTIVE) {
            active += l->remaining;
            if (l->remaining > 0) activeLeft = true;
            assert_true(l->remaining > 0);
        } else if (l->state == LY_LOT_PENDING) {
            pending += l->remaining;
            assert_true(l->remaining > 0);
        } else {
            assert_int_equal(l->remaining, 0);
        }
    }
    assert_true(a->debt >= 0);
    assert_int_equal(a->available, active - a->debt);
    assert_int_equal(a->pending, pending);
    if (a->debt > 0) assert_false(activeLeft);
}

static void assertDelta(ly_delta d, ly_points available, ly_points pending)
{
    assert_int_equal(d.available, available);
    assert_int_equal(d.pending, pending);
}

/* An active lot as if loaded from storage. */
static ly_lot stored(int64_t id, ly_points remaining, ly_time expires_at)
{
    return (ly_lot){.id = id, .points = remaining, .remaining = remaining, .active_at = 1,
                    .expires_at = expires_at, .state = LY_LOT_ACTIVE};
}

static void lots_are_scheduled_by_local_days(void **state)
{
    (void)state;
    ly_calendar cal;
    ly_calendar_fixed(&cal, 180);
    ly_program p = {.hold_days = 14, .expiry_days = 365};
    ly_time act, exp;
    /* Bought on 24 November: pending through 8 December, active from 9 December; expires
     * at the end of the 365th day after the activation day. */
    ly_lot_schedule(&p, &cal, at("2026-11-24T10:15:00+03:00"), &act, &exp);
    assert_int_equal(act, at("2026-12-09T00:00:00+03:00"));
    assert_int_equal(exp, at("2027-12-10T00:00:00+03:00"));
    /* A purchase at 23:59:59 local is still on the 24th; at 00:00 it is on the 25th. */
    ly_lot_schedule(&p, &cal, at("2026-11-24T23:59:59+03:00"), &act, &exp);
    assert_int_equal(act, at("2026-12-09T00:00:00+03:00"));
    ly_lot_schedule(&p, &cal, at("2026-11-25T00:00:00+03:00"), &act, &exp);
    assert_int_equal(act, at("2026-12-10T00:00:00+03:00"));
    /* No return window: active at once, expiring at the end of the 365th day after. */
    p.hold_days = 0;
    ly_time bought = at("2026-11-24T10:15:00+03:00");
    ly_lot_schedule(&p, &cal, bought, &act, &exp);
    assert_int_equal(act, bought);
    assert_int_equal(exp, at("2027-11-25T00:00:00+03:00"));
    /* Points that never expire. */
    p.expiry_days = 0;
    ly_lot_schedule(&p, &cal, bought, &act, &exp);
    assert_int_equal(exp, 0);
}

static void earned_points_wait_for_the_return_window(void **state)
{
    (void)state;
    ly_account a = {0, 0, 0};
    ly_lot lot;
    ly_time now = at("2026-11-24T10:15:00Z"), later = now + 14 * DAY;
    assertDelta(ly_ledger_earn(&a, &lot, 50, later, 0, now), 0, 50);
    assert_int_equal(lot.state, LY_LOT_PENDING);
    assert_int_equal(lot.id, 0);
    assert_true(lot.dirty);
    assert_int_equal(lot.points, 50);
    assert_int_equal(lot.remaining, 50);
    assert_int_equal(a.available, 0);
    assert_int_equal(a.pending, 50);
    assertInvariant(&a, &lot, 1);

    lot.dirty = false;
    assertDelta(ly_ledger_activate(&a, &lot), 50, -50);
    assert_int_equal(lot.state, LY_LOT_ACTIVE);
    assert_true(lot.dirty);
    assert_int_equal(a.available, 50);
    assert_int_equal(a.pending, 0);
    assertInvariant(&a, &lot, 1);
    /* Activating twice, or expiring a pending lot, changes nothing. */
    lot.dirty = false;
    assertDelta(ly_ledger_activate(&a, &lot), 0, 0);
    assert_false(lot.dirty);

    /* Points whose window has already passed are active at once. */
    ly_lot now_lot;
    assertDelta(ly_ledger_earn(&a, &now_lot, 7, now, 0, now), 7, 0);
    assert_int_equal(now_lot.state, LY_LOT_ACTIVE);
    ly_lot pend;
    ly_ledger_earn(&a, &pend, 9, later, 0, now);
    assertDelta(ly_ledger_expire(&a, &pend), 0, 0);
    assert_int_equal(pend.state, LY_LOT_PENDING);
    ly_lot all[] = {lot, now_lot, pend};
    assertInvariant(&a, all, 3);
}

static void spending_takes_the_soonest_expiring_points_first(void **state)
{
    (void)state;
    ly_time jan = at("2027-01-01T00:00:00Z"), mar = at("2027-03-01T00:00:00Z");
    ly_lot lots[] = {
        stored(1, 100, mar),     /* third */
        stored(2, 40, 0),        /* never expires: last */
        stored(3, 30, jan),      /* jan, lower id: first */
        stored(4, 20, jan),      /* jan, higher id: second */
        {.id = 5, .points = 500, .remaining = 500, .active_at = jan + DAY, .expires_at = jan,
         .state = LY_LOT_PENDING}, /* pending: skipped */
    };
    ly_account a = {190, 500, 0};
    assertInvariant(&a, lots, 5);
    ly_delta d;
    ly_time latest = -1;
    ly_error err;
    /* 40 points: all of lot 3 (30) and 10 of lot 4. */
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 40, &latest, &d, &err), LY_OK);
    assertDelta(d, -40, 0);
    assert_int_equal(latest, jan);
    assert_int_equal(lots[2].remaining, 0);
    assert_int_equal(lots[2].state, LY_LOT_SPENT);
    assert_int_equal(lots[3].remaining, 10);
    assert_true(lots[2].dirty && lots[3].dirty);
    assert_false(lots[0].dirty || lots[1].dirty || lots[4].dirty);
    assert_int_equal(a.available, 150);
    assertInvariant(&a, lots, 5);
    /* 60 more: lot 4's 10 and 50 of lot 1; the latest expiry drawn from is March. */
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 60, &latest, &d, &err), LY_OK);
    assert_int_equal(latest, mar);
    assert_int_equal(lots[3].state, LY_LOT_SPENT);
    assert_int_equal(lots[0].remaining, 50);
    /* 70: lot 1's 50 and 20 of the never-expiring lot: latest expiry is "never" (0). */
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 70, &latest, &d, &err), LY_OK);
    assert_int_equal(latest, 0);
    assert_int_equal(lots[1].remaining, 20);
    assert_int_equal(a.available, 20);
    assertInvariant(&a, lots, 5);

    /* More than available: refused, nothing changes, pending points do not count. */
    ly_lot before[5];
    memcpy(before, lots, sizeof lots);
    ly_account abefore = a;
    ly_error_clear(&err);
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 21, &latest, &d, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "insufficient_points");
    assert_memory_equal(lots, before, sizeof lots);
    assert_memory_equal(&a, &abefore, sizeof a);
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 0, &latest, &d, &err), LY_EINVAL);
    assert_int_equal(ly_ledger_spend(&a, lots, 5, 20, NULL, &d, NULL), LY_OK);
    assert_int_equal(a.available, 0);
    assertInvariant(&a, lots, 5);
}

static void ties_in_expiry_go_by_id_then_by_position(void **state)
{
    (void)state;
    ly_time t = at("2027-01-01T00:00:00Z");
    /* New lots (id 0) come before stored ones with the same expiry, in array order. */
    ly_lot lots[] = {stored(9, 10, t), stored(0, 10, t), stored(0, 10, t), stored(2, 10, t)};
    ly_account a = {40, 0, 0};
    ly_delta d;
    assert_int_equal(ly_ledger_spend(&a, lots, 4, 15, NULL, &d, NULL), LY_OK);
    assert_int_equal(lots[1].remaining, 0);
    assert_int_equal(lots[2].remaining, 5);
    assert_int_equal(lots[3].remaining, 10);
    assert_int_equal(lots[0].remaining, 10);
    assert_int_equal(ly_ledger_spend(&a, lots, 4, 10, NULL, &d, NULL), LY_OK);
    assert_int_equal(lots[2].remaining, 0);
    assert_int_equal(lots[3].remaining, 5);
    assert_int_equal(lots[0].remaining, 10);
}

static void points_expire_with_whatever_is_left(void **state)
{
    (void)state;
    ly_time now = at("2026-11-24T00:00:00Z");
    ly_lot lots[] = {stored(1, 100, now + 10 * DAY), stored(2, 40, now + 40 * DAY),
                     stored(3, 5, 0), stored(4, 30, now)};
    ly_account a = {175, 0, 0};
    /* What expires in the next 30 days (after now, up to and including now + 30 days). */
    assert_int_equal(ly_ledger_expiring(lots, 4, now, now + 30 * DAY), 100);
    assert_int_equal(ly_ledger_expiring(lots, 4, now, now + 40 * DAY), 140);
    assert_int_equal(ly_ledger_expiring(lots, 4, now - 1, now + 40 * DAY), 170);
    assert_int_equal(ly_ledger_expiring(lots, 4, now, now + 9 * DAY), 0);
    ly_delta d;
    assert_int_equal(ly_ledger_spend(&a, lots, 4, 60, NULL, &d, NULL), LY_OK); /* lot 4, then 30 of lot 1 */
    assert_int_equal(lots[3].state, LY_LOT_SPENT);
    assert_int_equal(lots[0].remaining, 70);
    assertDelta(ly_ledger_expire(&a, &lots[0]), -70, 0);
    assert_int_equal(lots[0].state, LY_LOT_EXPIRED);
    assert_int_equal(lots[0].remaining, 0);
    assert_int_equal(a.available, 45);
    assertInvariant(&a, lots, 4);
    /* Expired and spent lots expire no further and are not counted as expiring. */
    assertDelta(ly_ledger_expire(&a, &lots[0]), 0, 0);
    assertDelta(ly_ledger_expire(&a, &lots[3]), 0, 0);
    assert_int_equal(ly_ledger_expiring(lots, 4, now - 1, now + 40 * DAY), 40);
}

static void partial_returns_take_back_exactly_what_was_earned(void **state)
{
    (void)state;
    ly_time now = at("2026-11-24T10:00:00Z");
    ly_account a = {0, 0, 0};
    ly_lot lots[2];
    /* 3 kg earned 100 points, still in the return window. */
    ly_ledger_earn(&a, &lots[0], 100, now + 14 * DAY, 0, now);
    lots[1] = stored(7, 25, 0);
    a.available = 25;
    ly_points taken = 0;
    ly_qty returned = 0;
    const ly_qty parts[] = {1000, 1000, 1000};
    const ly_points want[] = {33, 33, 34};
    for (int i = 0; i < 3; i++) {
        ly_points pts = ly_share(100, returned + parts[i], 3000) - ly_share(100, returned, 3000);
        returned += parts[i];
        assert_int_equal(pts, want[i]);
        ly_delta d = ly_ledger_take_back(&a, lots, 2, 0, pts, LY_DEBT_NEGATIVE, NULL);
        assertDelta(d, 0, -pts); /* from the receipt's own pending lot */
        taken += pts;
        assertInvariant(&a, lots, 2);
    }
    assert_int_equal(taken, 100);
    assert_int_equal(lots[0].remaining, 0);
    assert_int_equal(lots[0].state, LY_LOT_SPENT);
    assert_int_equal(a.pending, 0);
    assert_int_equal(a.available, 25); /* the other lot is untouched */
    assert_int_equal(lots[1].remaining, 25);
    /* The emptied lot never activates. */
    assertDelta(ly_ledger_activate(&a, &lots[0]), 0, 0);
}

static void a_return_beyond_the_balance_goes_into_debt(void **state)
{
    (void)state;
    ly_time exp = at("2027-06-01T00:00:00Z");
    /* The receipt's lot earned 100 (now active); 80 of it were spent; another lot has 30. */
    ly_lot lots[] = {stored(1, 100, exp), stored(2, 30, exp + DAY),
                     {.id = 3, .points = 60, .remaining = 60, .active_at = exp,
                      .state = LY_LOT_PENDING}};
    ly_account a = {130, 60, 0};
    ly_delta d;
    assert_int_equal(ly_ledger_spend(&a, lots, 3, 80, NULL, &d, NULL), LY_OK);
    assert_int_equal(lots[0].remaining, 20);
    ly_points forgiven = -1;
    d = ly_ledger_take_back(&a, lots, 3, 0, 100, LY_DEBT_NEGATIVE, &forgiven);
    /* 20 from its own lot, 30 from the other active lot, 50 owed; pending points stay. */
    assertDelta(d, -100, 0);
    assert_int_equal(forgiven, 0);
    assert_int_equal(a.available, -50);
    assert_int_equal(a.debt, 50);
    assert_int_equal(a.pending, 60);
    assert_int_equal(lots[0].state, LY_LOT_SPENT);
    assert_int_equal(lots[1].state, LY_LOT_SPENT);
    assert_int_equal(lots[2].remaining, 60);
    assertInvariant(&a, lots, 3);

    /* The pending lot activates: it repays the debt first and keeps the rest. */
    d = ly_ledger_activate(&a, &lots[2]);
    assertDelta(d, 60, -60);
    assert_int_equal(a.debt, 0);
    assert_int_equal(a.available, 10);
    assert_int_equal(lots[2].remaining, 10);
    assertInvariant(&a, lots, 3);
}

static void a_clamped_return_forgives_what_it_cannot_take(void **state)
{
    (void)state;
    ly_time exp = at("2027-06-01T00:00:00Z");
    ly_lot lots[] = {stored(1, 100, exp), stored(2, 30, exp + DAY)};
    ly_account a = {130, 0, 0};
    ly_delta d;
    assert_int_equal(ly_ledger_spend(&a, lots, 2, 80, NULL, &d, NULL), LY_OK);
    ly_points forgiven = -1;
    d = ly_ledger_take_back(&a, lots, 2, 0, 100, LY_DEBT_CLAMP, &forgiven);
    assertDelta(d, -50, 0);
    assert_int_equal(forgiven, 50);
    assert_int_equal(a.available, 0);
    assert_int_equal(a.debt, 0);
    assertInvariant(&a, lots, 2);
    /* Nothing left at all: everything is forgiven, nothing moves. */
    d = ly_ledger_take_back(&a, lots, 2, SIZE_MAX, 7, LY_DEBT_CLAMP, &forgiven);
    assertDelta(d, 0, 0);
    assert_int_equal(forgiven, 7);
}

static void a_return_without_its_own_lot_takes_from_the_soonest_expiring(void **state)
{
    (void)state;
    ly_time exp = at("2027-06-01T00:00:00Z");
    ly_lot lots[] = {stored(1, 10, exp + DAY), stored(2, 10, exp), stored(3, 10, 0)};
    ly_account a = {30, 0, 0};
    ly_delta d = ly_ledger_take_back(&a, lots, 3, SIZE_MAX, 15, LY_DEBT_NEGATIVE, NULL);
    assertDelta(d, -15, 0);
    assert_int_equal(lots[1].remaining, 0);
    assert_int_equal(lots[0].remaining, 5);
    assert_int_equal(lots[2].remaining, 10);
    /* An own lot that is already spent is passed over. */
    d = ly_ledger_take_back(&a, lots, 3, 1, 6, LY_DEBT_NEGATIVE, NULL);
    assertDelta(d, -6, 0);
    assert_int_equal(lots[0].remaining, 0);
    assert_int_equal(lots[2].remaining, 9);
    assertInvariant(&a, lots, 3);
}

static void debt_is_repaid_by_later_earnings(void **state)
{
    (void)state;
    ly_time now = at("2026-11-24T10:00:00Z");
    ly_account a = {-50, 0, 50};
    ly_lot lots[3];
    /* 30 points active at once: all go to the debt, but the balance rises by 30. */
    assertDelta(ly_ledger_earn(&a, &lots[0], 30, now, 0, now), 30, 0);
    assert_int_equal(lots[0].remaining, 0);
    assert_int_equal(lots[0].state, LY_LOT_SPENT);
    assert_int_equal(a.debt, 20);
    assert_int_equal(a.available, -20);
    assertInvariant(&a, lots, 1);
    /* Pending points do not repay: debt stays until they activate. */
    assertDelta(ly_ledger_earn(&a, &lots[1], 100, now + DAY, 0, now), 0, 100);
    assert_int_equal(a.debt, 20);
    assertInvariant(&a, lots, 2);
    assertDelta(ly_ledger_activate(&a, &lots[1]), 100, -100);
    assert_int_equal(lots[1].remaining, 80);
    assert_int_equal(a.debt, 0);
    assert_int_equal(a.available, 80);
    assertInvariant(&a, lots, 2);
    /* With no debt an earning keeps all its points. */
    assertDelta(ly_ledger_earn(&a, &lots[2], 5, now, 0, now), 5, 0);
    assert_int_equal(lots[2].remaining, 5);
    assertInvariant(&a, lots, 3);
}

static void a_merge_is_settled_without_changing_the_balance(void **state)
{
    (void)state;
    ly_time exp = at("2027-06-01T00:00:00Z");
    /* One profile owed 40; the other had 100 in two lots. Combined: available 60. */
    ly_lot lots[] = {stored(1, 70, exp + DAY), stored(2, 30, exp)};
    ly_account a = {-40 + 100, 0, 40};
    ly_ledger_settle(&a, lots, 2);
    assert_int_equal(a.available, 60);
    assert_int_equal(a.debt, 0);
    assert_int_equal(lots[1].remaining, 0);  /* soonest expiry repays first */
    assert_int_equal(lots[0].remaining, 60);
    assert_true(lots[0].dirty && lots[1].dirty);
    assertInvariant(&a, lots, 2);
    /* Debt larger than the lots: what is left stays owed. */
    ly_lot small[] = {stored(3, 10, 0)};
    ly_account b = {10 - 25, 0, 25};
    ly_ledger_settle(&b, small, 1);
    assert_int_equal(b.debt, 15);
    assert_int_equal(b.available, -15);
    assertInvariant(&b, small, 1);
}

static void entry_kinds_have_stable_names(void **state)
{
    (void)state;
    const char *names[] = {"earn", "redeem", "return", "refund", "activate", "expire",
                           "adjust", "bonus", "merge_out", "merge_in"};
    for (int i = 0; i < LY_ENTRY_KIND_COUNT; i++) {
        ly_entry_kind k;
        assert_string_equal(ly_entry_kind_name((ly_entry_kind)i), names[i]);
        assert_true(ly_entry_kind_parse(names[i], &k));
        assert_int_equal(k, i);
    }
    ly_entry_kind k;
    assert_false(ly_entry_kind_parse("Earn", &k));
    assert_non_null(ly_entry_kind_name(LY_ENTRY_KIND_COUNT));
}

/* ---------------------------------------------------------------------------------------
 * Property: any sequence of operations keeps the invariant and reports its change exactly.
 * ------------------------------------------------------------------------------------- */

static uint64_t rng = 0x853c49e6748fea9bu;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static int64_t pick(int64_t n) { return (int64_t)(next() % (uint64_t)n); }

#define MAXLOTS 400

static void assertChange(const ly_account *before, const ly_account *after, ly_delta d)
{
    assert_int_equal(after->available - before->available, d.available);
    assert_int_equal(after->pending - before->pending, d.pending);
}

static void random_operations_keep_the_invariant(void **state)
{
    (void)state;
    static ly_lot lots[MAXLOTS];
    /* How often the interesting paths ran: the test must reach each of them. */
    int debts = 0, repaid = 0, forgivens = 0, refusals = 0, settled = 0;
    for (int run = 0; run < 40; run++) {
        ly_account a = {0, 0, 0};
        size_t n = 0;
        ly_time now = at("2026-01-01T00:00:00Z");
        for (int step = 0; step < 300; step++) {
            ly_account before = a;
            int op = (int)pick(8);
            now += pick(3 * DAY);
            if (op == 0 && n < MAXLOTS - 1) { /* earn, pending or active at once */
                ly_time act = pick(2) ? now : now + pick(10 * DAY);
                ly_time exp = pick(4) ? act + pick(60 * DAY) + 1 : 0;
                ly_delta d = ly_ledger_earn(&a, &lots[n], 1 + pick(500), act, exp, now);
                lots[n].id = pick(3) ? (int64_t)n + 1 : 0;
                n++;
                assertChange(&before, &a, d);
            } else if (op == 1 && n > 0) { /* activate what is due */
                for (size_t i = 0; i < n; i++) {
                    if (lots[i].state != LY_LOT_PENDING || lots[i].active_at > now) continue;
                    ly_account b = a;
                    ly_points r = lots[i].remaining;
                    ly_delta d = ly_ledger_activate(&a, &lots[i]);
                    assertDelta(d, r, -r);
                    assertChange(&b, &a, d);
                }
            } else if (op == 2 && n > 0) { /* expire what is due */
                for (size_t i = 0; i < n; i++) {
                    if (lots[i].state != LY_LOT_ACTIVE || !lots[i].expires_at ||
                        lots[i].expires_at > now)
                        continue;
                    ly_account b = a;
                    ly_delta d = ly_ledger_expire(&a, &lots[i]);
                    assertChange(&b, &a, d);
                    assert_int_equal(lots[i].state, LY_LOT_EXPIRED);
                }
            } else if (op == 3 || op == 4) { /* spend, sometimes more than there is */
                ly_points want = 1 + pick(a.available > 0 && pick(4) ? a.available : 800);
                ly_delta d = {0, 0};
                ly_time latest;
                ly_error err;
                ly_err rc = ly_ledger_spend(&a, lots, n, want, &latest, &d, &err);
                if (want <= before.available) {
                    assert_int_equal(rc, LY_OK);
                    assertDelta(d, -want, 0);
                } else {
                    refusals++;
                    assert_int_equal(rc, LY_EUNPROCESSABLE);
                    assert_memory_equal(&a, &before, sizeof a);
                }
                assertChange(&before, &a, d);
            } else if (op == 5 && n > 0) { /* a return takes back points */
                ly_debt_policy pol = pick(2) ? LY_DEBT_NEGATIVE : LY_DEBT_CLAMP;
                size_t own = pick(4) ? (size_t)pick((int64_t)n) : SIZE_MAX;
                ly_points pts = 1 + pick(400), forgiven = -1;
                ly_delta d = ly_ledger_take_back(&a, lots, n, own, pts, pol, &forgiven);
                assertChange(&before, &a, d);
                assert_true(forgiven >= 0);
                assert_int_equal(-(d.available + d.pending) + forgiven, pts);
                if (pol == LY_DEBT_NEGATIVE) assert_int_equal(forgiven, 0);
                if (a.debt > before.debt) debts++;
                if (forgiven > 0) forgivens++;
                if (pol == LY_DEBT_CLAMP) assert_int_equal(a.debt, before.debt);
            } else if (op == 6 && n + 3 < MAXLOTS) { /* a merge brings lots and debt */
                ly_account other = {0, 0, 0};
                size_t first = n;
                for (int k = 0; k < 3; k++)
                    ly_ledger_earn(&other, &lots[n++], 1 + pick(100), now - pick(DAY),
                                   pick(2) ? 0 : now + pick(30 * DAY) + 1, now);
                ly_ledger_take_back(&other, lots + first, 3, SIZE_MAX, 1 + pick(400),
                                    LY_DEBT_NEGATIVE, NULL);
                assertInvariant(&other, lots + first, 3);
                a.available += other.available;
                a.pending += other.pending;
                a.debt += other.debt;
                ly_account merged = a;
                if (a.debt > 0) settled++;
                ly_ledger_settle(&a, lots, n);
                assert_int_equal(a.available, merged.available);
                assert_int_equal(a.pending, merged.pending);
            } else { /* what expires soon is part of what is available */
                ly_points soon = ly_ledger_expiring(lots, n, now, now + 30 * DAY);
                assert_true(soon >= 0);
                assert_true(soon <= a.available + a.debt);
            }
            if (a.debt < before.debt && op != 6) repaid++;
            assertInvariant(&a, lots, n);
        }
    }
    assert_true(debts > 10 && repaid > 10 && forgivens > 10 && refusals > 10 && settled > 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lots_are_scheduled_by_local_days),
        cmocka_unit_test(earned_points_wait_for_the_return_window),
        cmocka_unit_test(spending_takes_the_soonest_expiring_points_first),
        cmocka_unit_test(ties_in_expiry_go_by_id_then_by_position),
        cmocka_unit_test(points_expire_with_whatever_is_left),
        cmocka_unit_test(partial_returns_take_back_exactly_what_was_earned),
        cmocka_unit_test(a_return_beyond_the_balance_goes_into_debt),
        cmocka_unit_test(a_clamped_return_forgives_what_it_cannot_take),
        cmocka_unit_test(a_return_without_its_own_lot_takes_from_the_soonest_expiring),
        cmocka_unit_test(debt_is_repaid_by_later_earnings),
        cmocka_unit_test(a_merge_is_settled_without_changing_the_balance),
        cmocka_unit_test(entry_kinds_have_stable_names),
        cmocka_unit_test(random_operations_keep_the_invariant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
