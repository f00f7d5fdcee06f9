/*
 * test_rewards.c - the reward mechanics through the service on a real database: rule limits
 * per customer and period, campaign budgets, the coupon lifecycle and every coupon error,
 * unique codes, referrals (happy path, self-referral, reward only after the return window
 * and only once), the welcome, birthday and event bonuses with their caps and idempotency,
 * partner figures, the liability report reconciling with `loyal check`, the referral code,
 * and the program file's errors for all of it.
 */
#include "testlib.h"

#include "os/os.h"
#include "program/program.h"
#include "program/rewards.h"
#include "service/service.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM_HEAD                                                                               \
    "{\"name\":\"T\",\"version\":\"t1\",\"currency\":\"RUB\",\"minor_units\":2,"                   \
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"   \
    "\"earn\":{\"rate_percent\":\"5\"},"                                                           \
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"

static const char *programText =
    PROGRAM_HEAD
    "\"rules\":["
    "{\"id\":\"daily\",\"conditions\":{\"lines\":{\"categories\":[\"milk\"]}},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":10},\"limit\":{\"times\":2,\"per\":\"day\"}},"
    "{\"id\":\"bread-off\",\"conditions\":{\"lines\":{\"categories\":[\"bread\"]}},"
    " \"effect\":{\"type\":\"discount_fixed\",\"amount\":\"5.00\"},\"budget\":{\"discount\":\"20.00\"}},"
    "{\"id\":\"pub\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"pub\"}],"
    "  \"min_amount\":{\"amount\":\"100.00\"}},"
    " \"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}},"
    "{\"id\":\"uniq\",\"conditions\":{\"facts\":[{\"name\":\"coupon.uniq\"}]},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":50}},"
    "{\"id\":\"late\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"in\":[\"late\",\"solo\"]}]},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":5}}"
    "],"
    "\"coupons\":["
    "{\"id\":\"pub\",\"code\":\"save10\",\"valid\":{\"from\":\"2026-11-01\",\"to\":\"2026-12-31\"},"
    " \"uses\":{\"total\":4,\"per_customer\":2}},"
    "{\"id\":\"uniq\",\"codes\":{\"prefix\":\"u-\"}},"
    "{\"id\":\"late\",\"code\":\"LATE\",\"valid\":{\"from\":\"2027-01-01\"}},"
    "{\"id\":\"solo\",\"code\":\"SOLO\",\"uses\":{\"per_customer\":1}}"
    "],"
    "\"referrals\":{\"referrer_points\":300,\"newcomer_points\":200,\"min_purchase\":\"100.00\"},"
    "\"welcome\":{\"points\":100,\"on\":\"consent\"},"
    "\"birthday\":{\"points\":77,\"days_before\":2,\"days_after\":3},"
    "\"events\":[{\"type\":\"survey\",\"points\":50,\"cap\":{\"times\":1,\"per\":\"month\"}},"
    "  {\"type\":\"share\",\"points\":5,\"cap\":{\"times\":2,\"per\":\"week\"}},"
    "  {\"type\":\"promo-week\",\"points\":9,\"valid\":{\"from\":\"2026-12-01\",\"to\":\"2026-12-07\"}}],"
    "\"partners\":[{\"id\":\"fuel\",\"earn_rate_percent\":\"2\",\"issue_price\":\"1.00\",\"redeem_price\":\"0.90\"}]"
    "}";

typedef struct fixture {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    ly_line lines[3];
} fixture;

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tl_svc_open(&f->s, "rewards", programText);
    *state = f;
    return 0;
}

static int64_t enrolFull(fixture *f, const char *card, const char *phone, const char *referral,
                         const char *birth, bool consent, ly_err want, const char *code)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->s.arena, .now = tl_at("2026-11-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    if (phone) op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_PHONE, phone};
    op.in.create.referral_code = referral;
    if (birth) {
        op.in.create.set_birth_date = true;
        op.in.create.birth_date = birth;
    }
    if (consent) {
        op.in.create.set_consent[LY_CH_SMS] = true;
        op.in.create.consent[LY_CH_SMS] = true;
    }
    ly_err rc = ly_service_run(f->s.svc, &op);
    if (rc != want) fail_msg("enrol %s: %d %s %s", card, rc, op.err.code, op.err.message);
    if (code) assert_string_equal(op.err.code, code);
    return rc == LY_OK ? op.out.customer.id : 0;
}

static int64_t enrol(fixture *f, const char *card)
{
    return enrolFull(f, card, NULL, NULL, NULL, false, LY_OK, NULL);
}

static ly_account balanceOf(fixture *f, int64_t id, const char *when)
{
    ly_balance b;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_balance(f->s.svc, id, tl_at(when), 0, &f->s.arena, &b, &err), LY_OK);
    return b.account;
}

/* A receipt of one line of `amount` in category cat, at time when. */
static void receiptOf(fixture *f, ly_checkout *c, const char *id, const char *card, const char *cat,
                      ly_money amount, const char *when)
{
    memset(c, 0, sizeof *c);
    ly_line *l = ly_arena_alloc(&f->s.arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = cat, .qty = 1000, .price = amount, .amount = amount};
    c->receipt = (ly_receipt){.receipt_id = id, .store = "S1", .time = tl_at(when), .utc_offset_min = 180,
                              .total = amount, .lines = l, .n_lines = 1};
    if (card) c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
}

static ly_err confirm(fixture *f, ly_op *op, const ly_checkout *c, const char *now)
{
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->s.arena;
    op->now = tl_at(now);
    op->in.confirm = *c;
    ly_os_hash(c->receipt.receipt_id, strlen(c->receipt.receipt_id), op->request_hash);
    return ly_service_run(f->s.svc, op);
}

static ly_err buy(fixture *f, ly_op *op, const char *id, const char *card, const char *cat,
                  ly_money amount, const char *when, const char *const *coupons, size_t n)
{
    ly_checkout c;
    receiptOf(f, &c, id, card, cat, amount, when);
    c.coupons = coupons;
    c.n_coupons = n;
    return confirm(f, op, &c, when);
}

static ly_err returnFull(fixture *f, const char *receipt, const char *ret_id, bool full, const char *now)
{
    ly_op op = {.kind = LY_OP_RETURN, .arena = &f->s.arena, .now = tl_at(now)};
    static ly_return_request_line half = {.line = 0, .qty = 500};
    op.in.ret = (ly_return_request){.receipt_id = receipt, .return_id = ret_id, .full = full,
                                    .lines = full ? NULL : &half, .n_lines = full ? 0 : 1};
    ly_os_hash(ret_id, strlen(ret_id), op.request_hash);
    ly_err rc = ly_service_run(f->s.svc, &op);
    if (rc != LY_OK) fail_msg("return %s: %s %s", ret_id, op.err.code, op.err.message);
    return rc;
}

static const ly_rule_result *ruleResult(const ly_pricing *p, const char *id)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].rule->id, id) == 0) return &p->rules[i];
    fail_msg("no result for rule %s", id);
    return NULL;
}

static ly_maintain_result maintain(fixture *f, const char *now)
{
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_maintain(f->s.svc, tl_at(now), &r, &err) != LY_OK) fail_msg("maintain: %s", err.message);
    return r;
}

/* ---------------------------------------------------------------------------------------
 * Limits and budgets
 * ------------------------------------------------------------------------------------- */

static void a_rule_limited_per_customer_per_day_applies_at_most_that_often(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    enrol(f, "B");
    static const struct {
        const char *id, *card, *when;
        bool applied;
    } table[] = {
        {"L1", "A", "2026-11-24T08:00:00Z", true},
        {"L2", "A", "2026-11-24T09:00:00Z", true},
        {"L3", "A", "2026-11-24T10:00:00Z", false}, /* the third that day */
        {"L4", "B", "2026-11-24T10:00:00Z", true},  /* another customer has their own */
        {"L5", "A", "2026-11-24T21:30:00Z", true},  /* 00:30 in Moscow: the next local day */
        {"L6", NULL, "2026-11-24T10:00:00Z", false}, /* anonymous: a per-customer limit needs one */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        /* Pricing first, several times: calculate checks the limit and never counts. */
        ly_checkout c;
        receiptOf(f, &c, table[i].id, table[i].card, "milk", 5000, table[i].when);
        for (int k = 0; k < 3; k++) {
            ly_checkout_result res;
            ly_error err;
            ly_error_clear(&err);
            assert_int_equal(ly_service_calculate(f->s.svc, &c, tl_at(table[i].when), &f->s.arena, &res, &err), LY_OK);
            assert_int_equal(ruleResult(&res.pricing, "daily")->applied, table[i].applied);
        }
        ly_op op;
        assert_int_equal(confirm(f, &op, &c, table[i].when), LY_OK);
        const ly_rule_result *x = ruleResult(&op.out.confirm.pricing, "daily");
        if (x->applied != table[i].applied) fail_msg("%s: applied %d, reason %s", table[i].id, x->applied, x->reason);
        if (!table[i].applied) assert_string_equal(x->failed, "limits");
        /* A retry of the confirm is answered from the stored response: nothing counts twice. */
        ly_op again;
        assert_int_equal(confirm(f, &again, &c, table[i].when), LY_OK);
        assert_true(again.replayed);
    }
    /* A full return gives the use back: A may use it once more that day. */
    returnFull(f, "L1", "RL1", true, "2026-11-24T11:00:00Z");
    ly_op op;
    assert_int_equal(buy(f, &op, "L7", "A", "milk", 5000, "2026-11-24T12:00:00Z", NULL, 0), LY_OK);
    assert_true(ruleResult(&op.out.confirm.pricing, "daily")->applied);
    /* A partial return does not. */
    returnFull(f, "L2", "RL2", false, "2026-11-24T12:30:00Z");
    assert_int_equal(buy(f, &op, "L8", "A", "milk", 5000, "2026-11-24T13:00:00Z", NULL, 0), LY_OK);
    assert_false(ruleResult(&op.out.confirm.pricing, "daily")->applied);
}

static void a_campaign_budget_is_never_overspent_and_a_full_return_refills_it(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    ly_op op;
    ly_money given = 0;
    /* 5.00 off each bread receipt, 20.00 in all: four receipts, then nothing. */
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "B%d", i);
        assert_int_equal(buy(f, &op, id, i % 2 ? "A" : NULL, "bread", 3000, "2026-11-24T08:00:00Z", NULL, 0), LY_OK);
        const ly_rule_result *x = ruleResult(&op.out.confirm.pricing, "bread-off");
        given += x->discount;
        assert_int_equal(x->applied, i < 4);
        if (i >= 4) assert_string_equal(x->failed, "limits");
    }
    assert_int_equal(given, 2000);
    /* Partial return: the budget stays spent. */
    returnFull(f, "B1", "RB1", false, "2026-11-24T09:00:00Z");
    assert_int_equal(buy(f, &op, "B6", NULL, "bread", 3000, "2026-11-24T10:00:00Z", NULL, 0), LY_OK);
    assert_false(ruleResult(&op.out.confirm.pricing, "bread-off")->applied);
    /* The rest of that receipt: now fully returned, its 5.00 go back to the budget. */
    returnFull(f, "B1", "RB1b", true, "2026-11-24T10:30:00Z");
    assert_int_equal(buy(f, &op, "B7", NULL, "bread", 3000, "2026-11-24T11:00:00Z", NULL, 0), LY_OK);
    assert_int_equal(ruleResult(&op.out.confirm.pricing, "bread-off")->discount, 500);
    ly_error err;
    ly_error_clear(&err);
    ly_points pts;
    ly_money money;
    ly_db *db = ly_store_reader(ly_service_store(f->s.svc), &err);
    assert_int_equal(ly_db_rule_budget_get(db, "bread-off", &pts, &money, &err), LY_OK);
    assert_int_equal(money, 2000);
}

/* ---------------------------------------------------------------------------------------
 * Coupons
 * ------------------------------------------------------------------------------------- */

static ly_coupon_stats stats(fixture *f, const char *campaign)
{
    ly_coupon_stats st;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_coupon_stats(f->s.svc, campaign, &st, &err), LY_OK);
    return st;
}

static void a_coupon_is_checked_at_calculate_consumed_once_at_confirm_and_given_back_on_full_return(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    static const char *const save[] = {" Save10 "}; /* case and spaces do not matter */
    ly_checkout c;
    receiptOf(f, &c, "C1", "A", "fruit", 20000, "2026-11-24T08:00:00Z");
    c.coupons = save;
    c.n_coupons = 1;
    for (int k = 0; k < 5; k++) {
        ly_checkout_result res;
        ly_error err;
        ly_error_clear(&err);
        assert_int_equal(ly_service_calculate(f->s.svc, &c, tl_at("2026-11-24T08:00:00Z"), &f->s.arena, &res, &err), LY_OK);
        assert_int_equal(res.pricing.rule_discount, 2000);
        assert_int_equal(res.n_coupons, 1);
        assert_string_equal(res.coupons[0].code, "SAVE10");
        assert_string_equal(res.coupons[0].campaign, "pub");
    }
    assert_int_equal(stats(f, "pub").uses, 0);
    ly_op op;
    assert_int_equal(confirm(f, &op, &c, "2026-11-24T08:00:00Z"), LY_OK);
    assert_int_equal(op.out.confirm.pricing.rule_discount, 2000);
    assert_int_equal(stats(f, "pub").uses, 1);
    assert_int_equal(confirm(f, &op, &c, "2026-11-24T08:00:05Z"), LY_OK); /* a retry */
    assert_true(op.replayed);
    assert_int_equal(stats(f, "pub").uses, 1);

    /* Partial return: the coupon stays used. */
    returnFull(f, "C1", "RC1", false, "2026-11-24T09:00:00Z");
    assert_int_equal(stats(f, "pub").uses, 1);
    returnFull(f, "C1", "RC2", true, "2026-11-24T09:05:00Z");
    ly_coupon_stats st = stats(f, "pub");
    assert_int_equal(st.uses, 0);
    assert_int_equal(st.returned, 1);
    /* A second full return finds nothing to return and gives nothing back twice. */
    assert_int_equal(stats(f, "pub").returned, 1);
}

/* Confirms one receipt with the coupons and expects the error code on field. */
static void expectCouponError(fixture *f, const char *id, const char *card, ly_money amount,
                              const char *when, const char *const *codes, size_t n, const char *code,
                              const char *field)
{
    ly_op op;
    ly_err rc = buy(f, &op, id, card, "fruit", amount, when, codes, n);
    if (rc != LY_EUNPROCESSABLE || strcmp(op.err.code, code) != 0 || strcmp(op.err.field, field) != 0)
        fail_msg("%s: expected %s on %s, got %d %s on %s (%s)", id, code, field, rc, op.err.code,
                 op.err.field, op.err.message);
    /* The same error at calculate, and nothing was recorded. */
    ly_checkout c;
    receiptOf(f, &c, id, card, "fruit", amount, when);
    c.coupons = codes;
    c.n_coupons = n;
    ly_checkout_result res;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_calculate(f->s.svc, &c, tl_at(when), &f->s.arena, &res, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, code);
    assert_string_equal(err.field, field);
    ly_stored_receipt sr;
    ly_error_clear(&err);
    assert_int_equal(ly_service_receipt_get(f->s.svc, id, &f->s.arena, &sr, &err), LY_ENOTFOUND);
}

static void every_coupon_error_names_the_coupon_and_why(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    enrol(f, "B");
    enrol(f, "C");
    ly_op op;
    const char *when = "2026-11-24T08:00:00Z";
    static const char *const save[] = {"SAVE10"};
    /* Two uses by A (its per-customer limit), one each by B and C: the campaign's 4. */
    assert_int_equal(buy(f, &op, "OK1", "A", "fruit", 20000, when, save, 1), LY_OK);
    assert_int_equal(buy(f, &op, "OK2", "A", "fruit", 20000, when, save, 1), LY_OK);
    expectCouponError(f, "E-LIMIT", "A", 20000, when, save, 1, "coupon_limit_reached", "coupons[0]");
    assert_int_equal(buy(f, &op, "OK3", "B", "fruit", 20000, when, save, 1), LY_OK);
    assert_int_equal(buy(f, &op, "OK4", "C", "fruit", 20000, when, save, 1), LY_OK);
    enrol(f, "D");
    expectCouponError(f, "E-USEDUP", "D", 20000, when, save, 1, "coupon_used_up", "coupons[0]");

    static const struct {
        const char *id, *card, *when;
        ly_money amount;
        const char *codes[2];
        size_t n;
        const char *code, *field;
    } table[] = {
        {"E1", "D", "2026-11-24T08:00:00Z", 20000, {"NOPE"}, 1, "coupon_unknown", "coupons[0]"},
        {"E2", "D", "2026-11-24T08:00:00Z", 20000, {"SOLO", "bad code!"}, 2, "coupon_unknown", "coupons[1]"},
        {"E3", "D", "2026-11-24T08:00:00Z", 20000, {"LATE"}, 1, "coupon_not_started", "coupons[0]"},
        {"E4", "D", "2027-01-05T08:00:00Z", 20000, {"SOLO", "SAVE10"}, 2, "coupon_expired", "coupons[1]"},
        {"E5", "D", "2026-11-24T08:00:00Z", 20000, {"SOLO", "solo"}, 2, "coupon_duplicate", "coupons[1]"},
        {"E6", NULL, "2026-11-24T08:00:00Z", 20000, {"SOLO"}, 1, "coupon_customer_required", "coupons[0]"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        expectCouponError(f, table[i].id, table[i].card, table[i].amount, table[i].when,
                          (const char *const *)table[i].codes, table[i].n, table[i].code, table[i].field);
}

static void not_applicable_names_the_rule_that_did_not_hold(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    static const char *const save[] = {"SAVE10"};
    expectCouponError(f, "NA1", "A", 5000, "2026-11-24T08:00:00Z", save, 1, "coupon_not_applicable", "coupons[0]");
    ly_op op;
    ly_err rc = buy(f, &op, "NA2", "A", "fruit", 9999, "2026-11-24T08:00:00Z", save, 1);
    assert_int_equal(rc, LY_EUNPROCESSABLE);
    assert_non_null(strstr(op.err.message, "rule pub"));
    assert_non_null(strstr(op.err.message, "under 10000"));
    assert_int_equal(stats(f, "pub").uses, 0);
}

static void unique_codes_are_unguessable_stored_hashed_and_single_use(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    enrol(f, "B");
    ly_op op = {.kind = LY_OP_COUPON_CODES, .arena = &f->s.arena, .now = tl_at("2026-11-20T09:00:00Z")};
    op.in.codes = (ly_coupon_codes_request){.campaign = "uniq", .batch = "flyer-1", .count = 50};
    assert_int_equal(ly_service_run(f->s.svc, &op), LY_OK);
    assert_int_equal(op.out.codes.n, 50);
    const char *const *codes = op.out.codes.codes;
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(strlen(codes[i]), 2 + 12);
        assert_memory_equal(codes[i], "U-", 2);
        for (size_t j = 0; j < i; j++) assert_string_not_equal(codes[i], codes[j]);
    }
    /* Only hashes are stored: no code appears in the database file as text. */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open_v2(f->s.db, &raw, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(raw, "SELECT count(*) FROM coupon_codes WHERE typeof(hash) = 'blob' AND length(hash) = 32", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 50);
    sqlite3_finalize(st);
    sqlite3_close(raw);
    ly_coupon_stats s1 = stats(f, "uniq");
    assert_int_equal(s1.codes, 50);
    assert_int_equal(s1.batches, 1);

    /* The same batch again is refused (the codes are shown once, never again). */
    ly_op again = {.kind = LY_OP_COUPON_CODES, .arena = &f->s.arena, .now = tl_at("2026-11-20T09:00:00Z")};
    again.in.codes = op.in.codes;
    assert_int_equal(ly_service_run(f->s.svc, &again), LY_ECONFLICT);
    assert_string_equal(again.err.code, "batch_exists");
    /* A public-code campaign has no unique codes. */
    again.in.codes.campaign = "pub";
    assert_int_equal(ly_service_run(f->s.svc, &again), LY_EUNPROCESSABLE);

    /* One use per code, whoever uses it; typed in lower case it is the same code. */
    char lower[32];
    snprintf(lower, sizeof lower, "%s", codes[0]);
    for (char *p = lower; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    const char *one[] = {lower};
    ly_op b;
    assert_int_equal(buy(f, &b, "U1", "A", "fruit", 1000, "2026-11-24T08:00:00Z", one, 1), LY_OK);
    assert_int_equal(ruleResult(&b.out.confirm.pricing, "uniq")->points, 50);
    expectCouponError(f, "U2", "B", 1000, "2026-11-24T08:00:00Z", one, 1, "coupon_used_up", "coupons[0]");
    /* Another code of the batch, with the public code beside it: both apply. */
    const char *two[] = {"SAVE10", codes[1]};
    assert_int_equal(buy(f, &b, "U3", "B", "fruit", 20000, "2026-11-24T08:00:00Z", two, 2), LY_OK);
    assert_int_equal(b.out.confirm.n_coupons, 2);
    assert_int_equal(b.out.confirm.pricing.rule_discount, 2000);
    assert_int_equal(ruleResult(&b.out.confirm.pricing, "uniq")->points, 50);
    /* A made-up code of the right shape is unknown. */
    const char *fake[] = {"U-ABCDEFGHJKMN"};
    expectCouponError(f, "U4", "B", 1000, "2026-11-24T08:00:00Z", fake, 1, "coupon_unknown", "coupons[0]");
}

/* ---------------------------------------------------------------------------------------
 * Referrals
 * ------------------------------------------------------------------------------------- */

static void the_referral_code_names_its_member_and_nothing_else(void **state)
{
    (void)state;
    char code[16];
    for (int64_t id = 1; id < 200000; id += 7) {
        ly_referral_code(id, code, sizeof code);
        assert_int_equal(strlen(code), 8);
        assert_int_equal(ly_referral_code_decode(code), id);
    }
    ly_referral_code(12345, code, sizeof code);
    char messy[32];
    snprintf(messy, sizeof messy, " %.4s-%s ", code, code + 4);
    for (char *p = messy; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    assert_int_equal(ly_referral_code_decode(messy), 12345);
    /* Consecutive members do not have look-alike codes, and a typo is caught by the check
     * byte nearly always: of 32^8 strings only ids with a matching check byte decode. */
    char next[16];
    ly_referral_code(12346, next, sizeof next);
    int same = 0;
    for (int i = 0; i < 8; i++) same += code[i] == next[i];
    assert_true(same < 6);
    int decoded = 0;
    for (int i = 0; i < 8; i++) {
        char typo[16];
        snprintf(typo, sizeof typo, "%s", code);
        typo[i] = typo[i] == 'Z' ? 'Y' : 'Z';
        decoded += ly_referral_code_decode(typo) != 0;
    }
    assert_true(decoded <= 1);
    assert_int_equal(ly_referral_code_decode("SHORT"), 0);
    assert_int_equal(ly_referral_code_decode("UUUUUUUU"), 0); /* U is not Crockford */
}

static void a_referral_pays_both_once_after_the_first_purchase_window(void **state)
{
    fixture *f = *state;
    int64_t anna = enrolFull(f, "ANNA", "89160000001", NULL, NULL, false, LY_OK, NULL);
    char code[16];
    ly_referral_code(anna, code, sizeof code);
    int64_t boris = enrolFull(f, "BORIS", "89160000002", code, NULL, false, LY_OK, NULL);
    /* Self-referral: the newcomer brings the referrer's phone. Unknown codes are refused. */
    enrolFull(f, "ANNA-2", "8 (916) 000-00-01", code, NULL, false, LY_EUNPROCESSABLE, "self_referral");
    enrolFull(f, "X", NULL, "ZZZZZZZZ", NULL, false, LY_EUNPROCESSABLE, "referral_code_unknown");
    int64_t vera = enrolFull(f, "VERA", NULL, code, NULL, false, LY_OK, NULL);

    ly_op op;
    /* Under the 100.00 minimum: does not qualify. */
    assert_int_equal(buy(f, &op, "RB0", "BORIS", "fruit", 5000, "2026-11-02T09:00:00Z", NULL, 0), LY_OK);
    assert_int_equal(buy(f, &op, "RB1", "BORIS", "fruit", 20000, "2026-11-03T09:00:00Z", NULL, 0), LY_OK);
    assert_int_equal(buy(f, &op, "RB2", "BORIS", "fruit", 20000, "2026-11-04T09:00:00Z", NULL, 0), LY_OK);
    /* Vera's purchase comes back in full before its window ends: no reward for it. */
    assert_int_equal(buy(f, &op, "RV1", "VERA", "fruit", 30000, "2026-11-03T09:00:00Z", NULL, 0), LY_OK);
    returnFull(f, "RV1", "RV1-R", true, "2026-11-05T09:00:00Z");

    ly_referral_stats st;
    ly_referral *list;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_referrals(f->s.svc, anna, 10, &f->s.arena, &st, &list, &n, &err), LY_OK);
    assert_int_equal(st.invited, 2);
    assert_int_equal(st.qualified, 1);
    assert_int_equal(st.converted, 0);

    /* RB1's window ends at the end of 17 November, Moscow time. */
    ly_maintain_result m = maintain(f, "2026-11-17T12:00:00Z");
    assert_int_equal(m.referrals_rewarded, 0);
    ly_account a0 = balanceOf(f, anna, "2026-11-17T12:00:00Z");
    m = maintain(f, "2026-11-17T21:00:01Z");
    assert_int_equal(m.referrals_rewarded, 1);
    m = maintain(f, "2026-11-18T21:00:01Z"); /* again: nothing more */
    assert_int_equal(m.referrals_rewarded, 0);
    assert_int_equal(maintain(f, "2026-12-30T00:00:00Z").referrals_rewarded, 0);
    ly_account a1 = balanceOf(f, anna, "2026-11-18T21:00:02Z");
    assert_int_equal(a1.available - a0.available, 300);
    ly_error_clear(&err);
    assert_int_equal(ly_service_referrals(f->s.svc, anna, 10, &f->s.arena, &st, &list, &n, &err), LY_OK);
    assert_int_equal(st.converted, 1);
    assert_int_equal(st.referrer_points, 300);
    assert_int_equal(st.newcomer_points, 200);
    assert_int_equal(n, 2);
    /* Boris's ledger has the bonus with its cause. */
    ly_entry *e;
    size_t ne;
    ly_error_clear(&err);
    assert_int_equal(ly_service_ledger(f->s.svc, boris, 0, 50, &f->s.arena, &e, &ne, &err), LY_OK);
    int found = 0;
    for (size_t i = 0; i < ne; i++)
        if (e[i].kind == LY_ENTRY_BONUS && e[i].ref && strcmp(e[i].ref, "referral:2:newcomer") == 0) {
            assert_int_equal(e[i].delta.available, 200);
            found++;
        }
    assert_int_equal(found, 1);
    (void)vera;
}

/* ---------------------------------------------------------------------------------------
 * Bonuses outside purchases
 * ------------------------------------------------------------------------------------- */

static void the_welcome_bonus_comes_once_with_the_first_marketing_consent(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "A");
    assert_int_equal(balanceOf(f, a, "2026-11-02T00:00:00Z").available, 0);
    for (int i = 0; i < 3; i++) {
        ly_op op = {.kind = LY_OP_CUSTOMER_PATCH, .arena = &f->s.arena, .now = tl_at("2026-11-02T09:00:00Z")};
        op.in.patch.customer_id = a;
        op.in.patch.profile.set_consent[i % 2 ? LY_CH_EMAIL : LY_CH_SMS] = true;
        op.in.patch.profile.consent[i % 2 ? LY_CH_EMAIL : LY_CH_SMS] = i != 2; /* on, on, off */
        assert_int_equal(ly_service_run(f->s.svc, &op), LY_OK);
    }
    assert_int_equal(balanceOf(f, a, "2026-11-03T00:00:00Z").available, 100);
    /* Consent given at enrolment gives it at once. */
    int64_t b = enrolFull(f, "B", NULL, NULL, NULL, true, LY_OK, NULL);
    assert_int_equal(balanceOf(f, b, "2026-11-03T00:00:00Z").available, 100);
}

static void a_welcome_bonus_on_enrolment(void **state)
{
    fixture *f = *state;
    ly_service_close(f->s.svc);
    f->s.svc = NULL;
    /* A fresh database: the program's version "t1" is recorded there with other content. */
    char path[400];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", f->s.db, suffix[i]);
        unlink(path);
    }
    char text[4096];
    snprintf(text, sizeof text, "%s\"welcome\":{\"points\":25}}", PROGRAM_HEAD);
    tl_svc_reopen(&f->s, text);
    int64_t a = enrol(f, "A");
    assert_int_equal(balanceOf(f, a, "2026-11-02T00:00:00Z").available, 25);
}

static void birthdays_get_their_bonus_once_a_year_within_the_window(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *card, *birth;
        bool on_24_nov;
    } table[] = {
        {"B1", "1990-11-26", true},  /* in 2 days: days_before 2 */
        {"B2", "1990-11-27", false}, /* in 3 days */
        {"B3", "1985-11-21", true},  /* 3 days ago: days_after 3 */
        {"B4", "1985-11-20", false}, /* 4 days ago */
        {"B5", "2000-11-24", true},  /* today */
    };
    int64_t ids[5];
    for (size_t i = 0; i < 5; i++) ids[i] = enrolFull(f, table[i].card, NULL, NULL, table[i].birth, false, LY_OK, NULL);
    ly_maintain_result m = maintain(f, "2026-11-24T09:00:00Z");
    assert_int_equal(m.birthday_bonuses, 3);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(balanceOf(f, ids[i], "2026-11-24T10:00:00Z").available, table[i].on_24_nov ? 77 : 0);
    assert_int_equal(maintain(f, "2026-11-24T09:01:00Z").birthday_bonuses, 0);
    /* The next day B2 enters its window; B1 is not paid twice. */
    assert_int_equal(maintain(f, "2026-11-25T09:00:00Z").birthday_bonuses, 1);
    /* A year on, again. */
    assert_int_equal(maintain(f, "2027-11-24T09:00:00Z").birthday_bonuses, 3);
}

static void born_on_29_february_is_celebrated_on_the_28th_in_other_years(void **state)
{
    fixture *f = *state;
    int64_t a = enrolFull(f, "LEAP", NULL, NULL, "2000-02-29", false, LY_OK, NULL);
    /* 2027-03-04 is 4 days after the 28th: outside the window, so the 28th it was. */
    assert_int_equal(maintain(f, "2027-02-24T09:00:00Z").birthday_bonuses, 0);
    assert_int_equal(maintain(f, "2027-02-26T09:00:00Z").birthday_bonuses, 1);
    assert_int_equal(balanceOf(f, a, "2027-02-27T00:00:00Z").available, 77);
    assert_int_equal(maintain(f, "2027-03-02T09:00:00Z").birthday_bonuses, 0);
}

static ly_err event(fixture *f, ly_op *op, const char *id, const char *type, const char *card,
                    const char *when, const char *salt)
{
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_EVENT;
    op->arena = &f->s.arena;
    op->now = tl_at(when);
    op->in.event = (ly_event_request){.event_id = id, .type = type,
                                      .who = {.kind = LY_ID_CARD, .value = card}};
    char h[128];
    snprintf(h, sizeof h, "%s|%s|%s|%s", id, type, card, salt ? salt : "");
    ly_os_hash(h, strlen(h), op->request_hash);
    return ly_service_run(f->s.svc, op);
}

static void events_give_points_within_their_caps_and_once_per_event_id(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "A");
    static const struct {
        const char *id, *type, *when;
        ly_points points;
        const char *refused;
    } table[] = {
        {"S1", "survey", "2026-11-24T09:00:00Z", 50, NULL},
        {"S2", "survey", "2026-11-25T09:00:00Z", 0, "cap"},     /* once a month */
        {"S3", "survey", "2026-12-01T09:00:00Z", 50, NULL},     /* a new month */
        {"H1", "share", "2026-11-23T09:00:00Z", 5, NULL},       /* Monday */
        {"H2", "share", "2026-11-24T09:00:00Z", 5, NULL},
        {"H3", "share", "2026-11-29T09:00:00Z", 0, "cap"},      /* Sunday, same week */
        {"H4", "share", "2026-11-30T09:00:00Z", 5, NULL},       /* next Monday */
        {"P1", "promo-week", "2026-11-30T09:00:00Z", 0, "valid"},
        {"P2", "promo-week", "2026-12-02T09:00:00Z", 9, NULL},
    };
    ly_points total = 0;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        ly_op op;
        assert_int_equal(event(f, &op, table[i].id, table[i].type, "A", table[i].when, NULL), LY_OK);
        assert_int_equal(op.out.event.points, table[i].points);
        if (table[i].refused) assert_string_equal(op.out.event.refused, table[i].refused);
        else assert_null(op.out.event.refused);
        if (table[i].points) {
            assert_int_equal(op.out.event.entry.kind, LY_ENTRY_BONUS);
            assert_non_null(strstr(op.out.event.entry.note, table[i].type));
        }
        total += table[i].points;
        /* The same event again: a replay, never counted. */
        ly_op again;
        assert_int_equal(event(f, &again, table[i].id, table[i].type, "A", table[i].when, NULL), LY_OK);
        assert_true(again.replayed);
    }
    assert_int_equal(balanceOf(f, a, "2026-12-03T00:00:00Z").available, total);
    ly_op op;
    assert_int_equal(event(f, &op, "S1", "survey", "A", "2026-11-24T09:00:00Z", "other"), LY_ECONFLICT);
    assert_int_equal(event(f, &op, "X1", "unknown-kind", "A", "2026-11-24T09:00:00Z", NULL), LY_EUNPROCESSABLE);
    assert_string_equal(op.err.code, "event_type_unknown");
    assert_int_equal(event(f, &op, "X2", "survey", "NOBODY", "2026-11-24T09:00:00Z", NULL), LY_ENOTFOUND);
}

/* ---------------------------------------------------------------------------------------
 * Partners and the liability
 * ------------------------------------------------------------------------------------- */

static void a_partner_receipt_earns_the_partner_rate_and_is_recorded_against_it(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    /* Points to spend: a survey gives 50. */
    ly_op op;
    assert_int_equal(event(f, &op, "S1", "survey", "A", "2026-11-20T09:00:00Z", NULL), LY_OK);
    ly_checkout c;
    receiptOf(f, &c, "P1", "A", "fuel", 100000, "2026-11-24T08:00:00Z");
    c.partner = "fuel";
    c.redeem = 40;
    assert_int_equal(confirm(f, &op, &c, "2026-11-24T08:00:00Z"), LY_OK);
    /* 2% of the 960.00 paid = 19 points (5% would be 48). */
    assert_int_equal(op.out.confirm.pricing.earn, 19);
    receiptOf(f, &c, "P2", "A", "fuel", 50000, "2026-11-25T08:00:00Z");
    c.partner = "fuel";
    assert_int_equal(confirm(f, &op, &c, "2026-11-25T08:00:00Z"), LY_OK);
    assert_int_equal(op.out.confirm.pricing.earn, 10);
    returnFull(f, "P1", "RP1", false, "2026-11-26T08:00:00Z"); /* half of P1 */
    receiptOf(f, &c, "P3", "A", "fuel", 50000, "2026-11-25T08:00:00Z");
    c.partner = "nobody";
    assert_int_equal(confirm(f, &op, &c, "2026-11-25T08:00:00Z"), LY_EUNPROCESSABLE);
    assert_string_equal(op.err.field, "partner");

    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->s.svc), &err);
    ly_partner_figures *fig;
    size_t n;
    assert_int_equal(ly_db_partner_report(db, tl_at("2026-11-01T00:00:00Z"), tl_at("2026-12-01T00:00:00Z"), &f->s.arena, &fig, &n, &err), LY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(fig[0].partner, "fuel");
    assert_int_equal(fig[0].receipts, 2);
    assert_int_equal(fig[0].issued, 19 + 10 - 9);   /* half of 19 taken back: floor(19/2) */
    assert_int_equal(fig[0].redeemed, 40 - 20);
    /* Only P2 falls in the 25th. */
    assert_int_equal(ly_db_partner_report(db, tl_at("2026-11-24T21:00:00Z"), tl_at("2026-11-25T21:00:00Z"), &f->s.arena, &fig, &n, &err), LY_OK);
    assert_int_equal(fig[0].receipts, 1);
    assert_int_equal(fig[0].issued, 10);
}

static void the_liability_reconciles_with_the_ledger_and_the_reports_run(void **state)
{
    fixture *f = *state;
    enrol(f, "A");
    enrol(f, "B");
    ly_op op;
    assert_int_equal(event(f, &op, "S1", "survey", "A", "2026-11-20T09:00:00Z", NULL), LY_OK);
    assert_int_equal(buy(f, &op, "Q1", "A", "fruit", 100000, "2026-11-21T09:00:00Z", NULL, 0), LY_OK);
    assert_int_equal(buy(f, &op, "Q2", "B", "fruit", 30000, "2026-11-21T09:00:00Z", NULL, 0), LY_OK);
    ly_checkout c;
    receiptOf(f, &c, "Q3", "A", "fuel", 30000, "2026-11-22T09:00:00Z");
    c.partner = "fuel";
    c.redeem = 30;
    assert_int_equal(confirm(f, &op, &c, "2026-11-22T09:00:00Z"), LY_OK);
    maintain(f, "2026-12-10T00:00:00Z");
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->s.svc), &err);
    ly_liability l;
    assert_int_equal(ly_db_liability(db, &f->s.arena, &l, &err), LY_OK);
    assert_int_equal(l.lots_pending, l.acc_pending);
    assert_int_equal(l.acc_pending, l.ledger_pending);
    assert_int_equal(l.lots_active - l.debt, l.acc_available);
    assert_int_equal(l.acc_available, l.ledger_available);
    assert_true(l.lots_active > 0);
    ly_points by = 0;
    for (size_t i = 0; i < l.n_by_expiry; i++) by += l.by_expiry[i].pending + l.by_expiry[i].active;
    assert_int_equal(by, l.lots_pending + l.lots_active);
    ly_service_close(f->s.svc);
    f->s.svc = NULL;

    tl_run r;
    assert_int_equal(tl_loyal(&r, NULL, "report", "liability", "--db", f->s.db, "--program", f->s.program, NULL), 0);
    assert_non_null(strstr(r.out, "available"));
    assert_non_null(strstr(r.out, ": ok"));
    assert_null(strstr(r.out, "MISMATCH"));
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "report", "liability", "--json", "--db", f->s.db, "--program", f->s.program, NULL), 0);
    json_t *j = tl_json_parse(r.out);
    assert_int_equal(tl_json_int(j, "available.points"), l.acc_available);
    assert_int_equal(tl_json_int(j, "pending.points"), l.acc_pending);
    json_decref(j);
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "check", "--db", f->s.db, NULL), 0);
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "report", "partners", "--from", "2026-11-01", "--to", "2026-11-30", "--json",
                              "--db", f->s.db, "--program", f->s.program, NULL), 0);
    j = tl_json_parse(r.out);
    assert_string_equal(tl_json_str(j, "partners[0].partner"), "fuel");
    assert_int_equal(tl_json_int(j, "partners[0].points_redeemed"), 30);
    /* The partner pays 1.00 per point issued (5 = 2% of 270.00), the program 0.90 per point redeemed. */
    assert_int_equal(tl_json_int(j, "partners[0].points_issued"), 5);
    assert_string_equal(tl_json_str(j, "partners[0].partner_owes"), "5.00");
    assert_string_equal(tl_json_str(j, "partners[0].program_owes"), "27.00");
    assert_string_equal(tl_json_str(j, "partners[0].net_to_program"), "-22.00");
    json_decref(j);
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "report", "partners", "--from", "2026-11-30", "--to", "2026-11-01",
                              "--db", f->s.db, "--program", f->s.program, NULL), 2);
    tl_run_free(&r);

    /* A balance that the ledger does not explain: both `check` and the report say so. */
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(f->s.db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE customers SET available = available + 7 WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    assert_int_equal(tl_loyal(&r, NULL, "report", "liability", "--db", f->s.db, "--program", f->s.program, NULL), 1);
    assert_non_null(strstr(r.out, "MISMATCH"));
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "check", "--db", f->s.db, NULL), 1);
    tl_run_free(&r);
    assert_int_equal(sqlite3_open(f->s.db, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "UPDATE customers SET available = available - 7 WHERE id = 1", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    tl_svc_reopen(&f->s, programText);
}

/* ---------------------------------------------------------------------------------------
 * The program file
 * ------------------------------------------------------------------------------------- */

static void the_program_file_names_every_reward_setting_it_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *tail, *field;
    } table[] = {
        {"\"rules\":[{\"id\":\"r\",\"effect\":{\"type\":\"points_fixed\",\"points\":1},\"limit\":{\"times\":2,\"per\":\"fortnight\"}}]}",
         "rules[0].limit.per"},
        {"\"rules\":[{\"id\":\"r\",\"effect\":{\"type\":\"points_fixed\",\"points\":1},\"limit\":{\"times\":0,\"per\":\"day\"}}]}",
         "rules[0].limit.times"},
        {"\"rules\":[{\"id\":\"r\",\"effect\":{\"type\":\"discount_percent\",\"percent\":\"5\"},\"budget\":{\"points\":10}}]}",
         "rules[0].budget.discount"},
        {"\"rules\":[{\"id\":\"r\",\"effect\":{\"type\":\"points_fixed\",\"points\":1},\"budget\":{\"money\":1}}]}",
         "rules[0].budget.money"},
        {"\"coupons\":[{\"id\":\"c\",\"code\":\"X\"}]}", "coupons[0].id"},
        {"\"rules\":[{\"id\":\"r\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"c\"}]},"
         "\"effect\":{\"type\":\"points_fixed\",\"points\":1}}],\"coupons\":[{\"id\":\"c\",\"code\":\"X\",\"codes\":{}}]}",
         "coupons[0]"},
        {"\"rules\":[{\"id\":\"r\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"c\"}]},"
         "\"effect\":{\"type\":\"points_fixed\",\"points\":1}}],\"coupons\":[{\"id\":\"c\",\"code\":\"X Y\"}]}",
         "coupons[0].code"},
        {"\"rules\":[{\"id\":\"r\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"c\"}]},"
         "\"effect\":{\"type\":\"points_fixed\",\"points\":1}}],\"coupons\":[{\"id\":\"c\",\"code\":\"X\",\"valid\":{\"from\":\"2026-12-01\",\"to\":\"2026-11-01\"}}]}",
         "coupons[0].valid"},
        {"\"referrals\":{\"referrer_points\":0}}", "referrals.referrer_points"},
        {"\"welcome\":{\"points\":10,\"on\":\"birthday\"}}", "welcome.on"},
        {"\"birthday\":{\"points\":10,\"days_before\":61}}", "birthday.days_before"},
        {"\"events\":[{\"type\":\"a\",\"points\":1},{\"type\":\"a\",\"points\":2}]}", "events[1].type"},
        {"\"events\":[{\"type\":\"a\",\"points\":1,\"cap\":{\"times\":1}}]}", "events[0].cap.per"},
        {"\"partners\":[{\"id\":\"p\",\"earn_rate_percent\":\"101\"}]}", "partners[0].earn_rate_percent"},
        {"\"partners\":[{\"id\":\"p\",\"earn_rate_percent\":\"1\",\"issue_price\":2.5}]}", "partners[0].issue_price"},
        {"\"bonus\":{}}", "bonus"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text, "%s%s", PROGRAM_HEAD, table[i].tail);
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        ly_err rc = ly_program_parse(text, strlen(text), &p, &err);
        if (rc == LY_OK) {
            ly_program_free(&p);
            fail_msg("case %zu loaded", i);
        }
        if (strcmp(err.field, table[i].field) != 0)
            fail_msg("case %zu: expected %s, got %s (%s)", i, table[i].field, err.field, err.message);
    }
    /* The example programs load, with their reward sections. */
    const char *examples[] = {"examples/program.json", "examples/fashion.json"};
    for (size_t i = 0; i < 2; i++) {
        char *path = tl_source_path(examples[i]);
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        if (ly_program_load(path, &p, &err) != LY_OK) fail_msg("%s: %s %s", path, err.field, err.message);
        assert_non_null(p.rewards);
        ly_program_free(&p);
        free(path);
    }
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_rule_limited_per_customer_per_day_applies_at_most_that_often, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_campaign_budget_is_never_overspent_and_a_full_return_refills_it, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_coupon_is_checked_at_calculate_consumed_once_at_confirm_and_given_back_on_full_return, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(every_coupon_error_names_the_coupon_and_why, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(not_applicable_names_the_rule_that_did_not_hold, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(unique_codes_are_unguessable_stored_hashed_and_single_use, setUp, tl_svc_teardown),
        cmocka_unit_test(the_referral_code_names_its_member_and_nothing_else),
        cmocka_unit_test_setup_teardown(a_referral_pays_both_once_after_the_first_purchase_window, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_welcome_bonus_comes_once_with_the_first_marketing_consent, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_welcome_bonus_on_enrolment, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(birthdays_get_their_bonus_once_a_year_within_the_window, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(born_on_29_february_is_celebrated_on_the_28th_in_other_years, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(events_give_points_within_their_caps_and_once_per_event_id, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_partner_receipt_earns_the_partner_rate_and_is_recorded_against_it, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_liability_reconciles_with_the_ledger_and_the_reports_run, setUp, tl_svc_teardown),
        cmocka_unit_test(the_program_file_names_every_reward_setting_it_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
