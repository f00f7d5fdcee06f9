/*
 * test_service.c - the points ledger through the service, on a real SQLite database:
 * pending points and their activation, expiry at the program's local midnight, spending
 * the soonest-expiring lots first, partial returns with rounding, both debt policies,
 * idempotent confirms, merges. Every test ends with `loyal check`'s verification.
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    int64_t customer; /* a customer with card "CARD-1" */
} fixture;

static const char *programTemplate =
    "{\"name\":\"Test\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"min_redeem\":1,"
    "\"hold_days\":%d,\"expiry_days\":%d,\"on_return_debt\":\"%s\"}}";

static void hashOf(const char *s, uint8_t out[32]) { ly_os_hash(s, strlen(s), out); }

static int64_t enrol(fixture *f, const char *card, ly_time now)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->s.arena, .now = now};
    op.in.create.ids[0] = (ly_identifier){LY_ID_CARD, card};
    op.in.create.n_ids = 1;
    assert_int_equal(ly_service_run(f->s.svc, &op), LY_OK);
    assert_int_equal(op.status, 201);
    return op.out.customer.id;
}

static void setUp(fixture *f, int hold, int expiry, const char *debt)
{
    memset(f, 0, sizeof *f);
    char *text = tl_strdupf(programTemplate, hold, expiry, debt);
    tl_svc_open_sync(&f->s, "svc", text, LY_SYNC_FULL);
    free(text);
    f->customer = enrol(f, "CARD-1", tl_at("2026-01-01T00:00:00Z"));
}

static void tearDown(fixture *f)
{
    assert_true(tl_svc_check(&f->s) >= 1); /* the ledger holds at least the fixture's customer */
    tl_svc_close(&f->s);
}

/* Confirms a one-line receipt of `amount` minor units for the fixture's customer (or
 * anonymous when card is NULL), spending `redeem` points. Returns the op's result code. */
static ly_err buy(fixture *f, const char *receipt_id, const char *when, ly_money amount,
                  ly_qty qty, ly_points redeem, const char *card, ly_op *op)
{
    ly_line *line = ly_arena_alloc(&f->s.arena, sizeof *line);
    *line = (ly_line){.sku = "SKU-1", .name = "Tea", .category = "tea", .qty = qty,
                      .price = (amount * 1000 + qty - 1) / qty, .amount = amount};
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->s.arena;
    ly_time t = tl_at(when);
    op->now = t;
    ly_checkout *c = &op->in.confirm;
    c->receipt = (ly_receipt){.receipt_id = receipt_id, .store = "S1", .channel = LY_SALES_STORE,
                              .time = t, .utc_offset_min = 180, .total = amount, .lines = line,
                              .n_lines = 1};
    if (card) c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
    c->redeem = redeem;
    char key[160];
    snprintf(key, sizeof key, "%s/%lld/%lld", receipt_id, (long long)amount, (long long)redeem);
    hashOf(key, op->request_hash);
    return ly_service_run(f->s.svc, op);
}

static ly_err giveBack(fixture *f, const char *receipt_id, const char *return_id, const char *when,
                       ly_qty qty, ly_op *op)
{
    ly_return_request_line *rl = ly_arena_alloc(&f->s.arena, sizeof *rl);
    *rl = (ly_return_request_line){.line = 0, .qty = qty};
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_RETURN;
    op->arena = &f->s.arena;
    op->now = tl_at(when);
    op->in.ret = (ly_return_request){.receipt_id = receipt_id, .return_id = return_id,
                                     .time = op->now, .lines = rl, .n_lines = 1};
    hashOf(return_id, op->request_hash);
    return ly_service_run(f->s.svc, op);
}

static ly_balance balanceAt(fixture *f, const char *when)
{
    ly_balance b;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_balance(f->s.svc, f->customer, tl_at(when), 30, &f->s.arena, &b, &err), LY_OK);
    return b;
}

static ly_maintain_result maintainAt(fixture *f, const char *when)
{
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_maintain(f->s.svc, tl_at(when), &r, &err), LY_OK);
    return r;
}

static ly_account storedAccount(fixture *f)
{
    ly_customer c;
    ly_who who = {.customer_id = f->customer};
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_customer_get(f->s.svc, &who, &f->s.arena, &c, &err), LY_OK);
    return c.account;
}

/* ----------------------------------------------------------------------------------- */

static void earned_points_are_pending_until_the_return_window_ends(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 14, 365, "negative");
    ly_op op;
    /* 24 Nov, 10:00 in Moscow. 14 days of returns: available from 9 Dec, 00:00 Moscow. */
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(op.out.confirm.pricing.earn, 50);
    assert_int_equal(op.out.confirm.points_active_at, tl_at("2026-12-09T00:00:00+03:00"));

    ly_balance b = balanceAt(&f, "2026-11-24T11:00:00+03:00");
    assert_int_equal(b.account.available, 0);
    assert_int_equal(b.account.pending, 50);
    assert_int_equal(b.n_pending, 1);
    assert_int_equal(b.pending[0].at, tl_at("2026-12-08T21:00:00Z"));

    ly_maintain_result r = maintainAt(&f, "2026-12-08T23:59:59+03:00");
    assert_int_equal(r.lots_activated, 0);
    r = maintainAt(&f, "2026-12-09T00:00:00+03:00");
    assert_int_equal(r.lots_activated, 1);
    assert_int_equal(r.points_activated, 50);
    r = maintainAt(&f, "2026-12-09T00:00:00+03:00"); /* again: nothing left to do */
    assert_int_equal(r.lots_activated, 0);
    ly_account a = storedAccount(&f);
    assert_int_equal(a.available, 50);
    assert_int_equal(a.pending, 0);
    tearDown(&f);
}

static void points_expire_at_the_end_of_the_local_day(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 1, "negative");
    ly_op op;
    /* 23:30 in Moscow is 20:30 UTC on the same date; one day of life ends at local midnight
     * after 25 Nov, which is 21:00 UTC on 25 Nov. */
    assert_int_equal(buy(&f, "R1", "2026-11-24T23:30:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(op.out.confirm.points_expire_at, tl_at("2026-11-25T21:00:00Z"));
    assert_int_equal(storedAccount(&f).available, 50);

    ly_balance b = balanceAt(&f, "2026-11-25T12:00:00Z");
    assert_int_equal(b.expiring, 50);

    ly_maintain_result r = maintainAt(&f, "2026-11-25T20:59:59Z");
    assert_int_equal(r.lots_expired, 0);
    r = maintainAt(&f, "2026-11-25T21:00:00Z");
    assert_int_equal(r.lots_expired, 1);
    assert_int_equal(r.points_expired, 50);
    assert_int_equal(storedAccount(&f).available, 0);
    assert_int_equal(maintainAt(&f, "2026-11-27T00:00:00Z").lots_expired, 0);
    tearDown(&f);
}

static void spending_takes_the_soonest_expiring_points_first(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 30, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-01T12:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(buy(&f, "R2", "2026-11-10T12:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(storedAccount(&f).available, 100);
    /* At most half of a receipt may be paid with points: 60 points on 100.00 is too many. */
    assert_int_equal(buy(&f, "R3", "2026-11-12T12:00:00+03:00", 10000, 1000, 60, "CARD-1", &op), LY_EUNPROCESSABLE);
    assert_string_equal(op.err.code, "redeem_exceeds_max");
    /* Spend 60 on 120.00: the 1 Nov lot (50) goes first, then 10 of the 10 Nov lot. */
    assert_int_equal(buy(&f, "R3", "2026-11-12T12:00:00+03:00", 12000, 1000, 60, "CARD-1", &op), LY_OK);
    assert_int_equal(op.out.confirm.pricing.discount, 6000);
    assert_int_equal(op.out.confirm.pricing.paid, 6000);
    assert_int_equal(op.out.confirm.pricing.earn, 3); /* 5% of 60.00 paid */

    /* On 1 Dec the first lot (which would have expired) holds nothing; the second keeps 40. */
    ly_maintain_result r = maintainAt(&f, "2026-12-05T00:00:00+03:00");
    assert_int_equal(r.points_expired, 0);
    assert_int_equal(storedAccount(&f).available, 43);
    r = maintainAt(&f, "2026-12-11T00:00:00+03:00");
    assert_int_equal(r.points_expired, 40);
    assert_int_equal(storedAccount(&f).available, 3);
    tearDown(&f);
}

static void partial_returns_never_take_back_more_than_was_earned(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 14, 365, "negative");
    ly_op op;
    /* Three items for 206.00 earn 10 points (10.30 rounded down). */
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 20600, 3000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(op.out.confirm.pricing.earn, 10);
    ly_points taken[3];
    ly_money money[3];
    const char *ids[3] = {"RET-1", "RET-2", "RET-3"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(giveBack(&f, "R1", ids[i], "2026-11-25T10:00:00+03:00", 1000, &op), LY_OK);
        taken[i] = op.out.ret.ret.points_taken;
        money[i] = op.out.ret.ret.amount;
    }
    assert_int_equal(taken[0], 3);
    assert_int_equal(taken[1], 3);
    assert_int_equal(taken[2], 4);
    assert_int_equal(money[0] + money[1] + money[2], 20600);
    assert_int_equal(storedAccount(&f).pending, 0);
    /* Nothing is left to return. */
    assert_int_equal(giveBack(&f, "R1", "RET-4", "2026-11-25T10:00:00+03:00", 1, &op), LY_EUNPROCESSABLE);
    assert_string_equal(op.err.code, "return_exceeds_purchase");
    tearDown(&f);
}

static void a_retried_return_is_answered_once(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 2000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(giveBack(&f, "R1", "RET-1", "2026-11-25T10:00:00+03:00", 1000, &op), LY_OK);
    assert_false(op.replayed);
    assert_int_equal(giveBack(&f, "R1", "RET-1", "2026-11-25T10:00:00+03:00", 1000, &op), LY_OK);
    assert_true(op.replayed);
    assert_int_equal(storedAccount(&f).available, 25);
    tearDown(&f);
}

static void a_return_of_spent_points_makes_a_debt_repaid_by_later_earnings(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    /* Spend 40 of the 50 on a 100.00 receipt (pays 60.00, earns 3). */
    assert_int_equal(buy(&f, "R2", "2026-11-24T11:00:00+03:00", 10000, 1000, 40, "CARD-1", &op), LY_OK);
    assert_int_equal(storedAccount(&f).available, 13);
    /* Return the first receipt: 50 points are owed, 13 are there. */
    assert_int_equal(giveBack(&f, "R1", "RET-1", "2026-11-24T12:00:00+03:00", 1000, &op), LY_OK);
    assert_int_equal(op.out.ret.ret.points_taken, 50);
    assert_int_equal(op.out.ret.ret.points_forgiven, 0);
    ly_account a = storedAccount(&f);
    assert_int_equal(a.available, -37);
    assert_int_equal(a.debt, 37);
    /* A redemption is refused while in debt; the next earnings repay it. */
    assert_int_equal(buy(&f, "R3", "2026-11-24T13:00:00+03:00", 100000, 1000, 1, "CARD-1", &op), LY_EUNPROCESSABLE);
    assert_int_equal(buy(&f, "R3", "2026-11-24T13:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    a = storedAccount(&f);
    assert_int_equal(a.available, 13);
    assert_int_equal(a.debt, 0);
    tearDown(&f);
}

static void a_return_of_spent_points_stops_at_zero_under_the_clamp_policy(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "clamp");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(buy(&f, "R2", "2026-11-24T11:00:00+03:00", 10000, 1000, 40, "CARD-1", &op), LY_OK);
    assert_int_equal(giveBack(&f, "R1", "RET-1", "2026-11-24T12:00:00+03:00", 1000, &op), LY_OK);
    assert_int_equal(op.out.ret.ret.points_forgiven, 37);
    ly_account a = storedAccount(&f);
    assert_int_equal(a.available, 0);
    assert_int_equal(a.debt, 0);
    tearDown(&f);
}

static void returning_goods_paid_with_points_gives_the_points_back(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(buy(&f, "R2", "2026-11-24T11:00:00+03:00", 10000, 2000, 40, "CARD-1", &op), LY_OK);
    assert_int_equal(storedAccount(&f).available, 13);
    /* Return one of the two items: half the 40 points come back, half the 3 earned go. */
    assert_int_equal(giveBack(&f, "R2", "RET-1", "2026-11-24T12:00:00+03:00", 1000, &op), LY_OK);
    assert_int_equal(op.out.ret.ret.points_refunded, 20);
    assert_int_equal(op.out.ret.ret.points_taken, 1);
    assert_int_equal(op.out.ret.ret.amount, 3000);
    assert_int_equal(storedAccount(&f).available, 32);
    tearDown(&f);
}

static void a_receipt_confirmed_twice_counts_once(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_false(op.replayed);
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_true(op.replayed);
    assert_int_equal(storedAccount(&f).available, 50);
    /* The same receipt id with other contents is a conflict and changes nothing. */
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 200000, 1000, 0, "CARD-1", &op), LY_ECONFLICT);
    assert_string_equal(op.err.code, "receipt_conflict");
    assert_int_equal(storedAccount(&f).available, 50);
    tearDown(&f);
}

static void anonymous_receipts_are_stored_without_points(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, NULL, &op), LY_OK);
    assert_null(op.out.confirm.customer);
    assert_int_equal(op.out.confirm.pricing.earn, 0);
    ly_stored_receipt r;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_receipt_get(f.s.svc, "R1", &f.s.arena, &r, &err), LY_OK);
    assert_int_equal(r.customer_id, 0);
    assert_int_equal(r.receipt.total, 100000);
    tearDown(&f);
}

static void merging_profiles_moves_identifiers_and_points(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op;
    int64_t other = enrol(&f, "CARD-2", tl_at("2026-02-01T00:00:00Z"));
    assert_int_equal(buy(&f, "R1", "2026-11-24T10:00:00+03:00", 100000, 1000, 0, "CARD-1", &op), LY_OK);
    assert_int_equal(buy(&f, "R2", "2026-11-24T10:00:00+03:00", 40000, 1000, 0, "CARD-2", &op), LY_OK);
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_MERGE;
    op.arena = &f.s.arena;
    op.now = tl_at("2026-11-25T10:00:00+03:00");
    op.in.merge.from = other;
    op.in.merge.into = f.customer;
    assert_int_equal(ly_service_run(f.s.svc, &op), LY_OK);
    assert_int_equal(op.out.customer.id, f.customer);
    assert_int_equal(op.out.customer.account.available, 70);
    /* The old card now finds the survivor. */
    ly_customer c;
    ly_who who = {.kind = LY_ID_CARD, .value = "CARD-2"};
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_customer_get(f.s.svc, &who, &f.s.arena, &c, &err), LY_OK);
    assert_int_equal(c.id, f.customer);
    /* Returning the merged profile's receipt takes the points from the survivor. */
    assert_int_equal(giveBack(&f, "R2", "RET-1", "2026-11-25T11:00:00+03:00", 1000, &op), LY_OK);
    assert_int_equal(storedAccount(&f).available, 50);
    tearDown(&f);
}

static void phone_numbers_find_the_customer_however_they_are_typed(void **state)
{
    (void)state;
    fixture f;
    setUp(&f, 0, 0, "negative");
    ly_op op = {.kind = LY_OP_CUSTOMER_PATCH, .arena = &f.s.arena, .now = tl_at("2026-11-24T10:00:00Z")};
    op.in.patch.customer_id = f.customer;
    op.in.patch.profile.ids[0] = (ly_identifier){LY_ID_PHONE, "8 (916) 123-45-67"};
    op.in.patch.profile.n_ids = 1;
    op.in.patch.profile.set_consent[LY_CH_SMS] = true;
    op.in.patch.profile.consent[LY_CH_SMS] = true;
    assert_int_equal(ly_service_run(f.s.svc, &op), LY_OK);
    assert_int_equal(op.out.customer.consent[LY_CH_SMS].state, 1);
    assert_int_equal(op.out.customer.consent[LY_CH_SMS].at, tl_at("2026-11-24T10:00:00Z"));
    ly_customer c;
    ly_who who = {.kind = LY_ID_PHONE, .value = "+7 916 123 45 67"};
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_customer_get(f.s.svc, &who, &f.s.arena, &c, &err), LY_OK);
    assert_int_equal(c.id, f.customer);
    /* A second customer cannot take the same phone. */
    int64_t other = enrol(&f, "CARD-2", tl_at("2026-11-24T10:00:00Z"));
    op.in.patch.customer_id = other;
    assert_int_equal(ly_service_run(f.s.svc, &op), LY_ECONFLICT);
    assert_string_equal(op.err.code, "identifier_taken");
    tearDown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(earned_points_are_pending_until_the_return_window_ends),
        cmocka_unit_test(points_expire_at_the_end_of_the_local_day),
        cmocka_unit_test(spending_takes_the_soonest_expiring_points_first),
        cmocka_unit_test(partial_returns_never_take_back_more_than_was_earned),
        cmocka_unit_test(a_retried_return_is_answered_once),
        cmocka_unit_test(a_return_of_spent_points_makes_a_debt_repaid_by_later_earnings),
        cmocka_unit_test(a_return_of_spent_points_stops_at_zero_under_the_clamp_policy),
        cmocka_unit_test(returning_goods_paid_with_points_gives_the_points_back),
        cmocka_unit_test(a_receipt_confirmed_twice_counts_once),
        cmocka_unit_test(anonymous_receipts_are_stored_without_points),
        cmocka_unit_test(merging_profiles_moves_identifiers_and_points),
        cmocka_unit_test(phone_numbers_find_the_customer_however_they_are_typed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
