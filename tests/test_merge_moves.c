/*
 * test_merge_moves.c - what a merge of two profiles moves besides identifiers, lots,
 * receipts and the balance (docs/api.md, "Merge two profiles"; docs/quests.md, "Merging
 * profiles"), through the service on a real database: quest progress summed (completed at
 * the merge when the sum reaches the target, rewarded once) and taken back from the survivor
 * by a later return of a merged receipt; a completion on either side kept without a second
 * reward; badges (the earliest award), XP and the level; the streak joined from both runs;
 * per-customer rule limits, coupon limits and event caps counting both profiles' uses;
 * referrals repointed (no self-referral paid, one referee row per person); a questionnaire's
 * reward, the welcome bonus and the year's birthday bonus staying given; attributes the
 * survivor lacks taken over; no row of the kinds moved left on the merged profile; and, over
 * HTTP with the example program, a retry of the merge answered with the same response and
 * changing nothing.
 */
#include "testlib.h"

#include "os/os.h"
#include "program/program.h"
#include "program/rewards.h"
#include "service/service.h"
#include "store/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM_HEAD                                                                               \
    "{\"name\":\"T\",\"version\":\"m1\",\"currency\":\"RUB\",\"minor_units\":2,"                   \
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"   \
    "\"earn\":{\"rate_percent\":\"5\"},"                                                           \
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"

static const char *programText =
    PROGRAM_HEAD
    "\"rules\":["
    "{\"id\":\"milk\",\"conditions\":{\"lines\":{\"categories\":[\"milk\"]}},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":10},\"limit\":{\"times\":2,\"per\":\"month\"}},"
    "{\"id\":\"solo-r\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"solo\"}]},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":5}}"
    "],"
    "\"coupons\":[{\"id\":\"solo\",\"code\":\"SOLO\",\"uses\":{\"per_customer\":1}}],"
    "\"referrals\":{\"referrer_points\":300,\"newcomer_points\":200,\"min_purchase\":\"100.00\"},"
    "\"welcome\":{\"points\":100,\"on\":\"consent\"},"
    "\"birthday\":{\"points\":77,\"days_before\":2,\"days_after\":3},"
    "\"events\":[{\"type\":\"share\",\"points\":5,\"cap\":{\"times\":1,\"per\":\"month\"}}],"
    "\"questionnaires\":[{\"id\":\"visit\",\"reward_points\":25,"
    " \"questions\":[{\"id\":\"q1\",\"kind\":\"nps\"}]}],"
    "\"quests\":{\"list\":["
    "{\"id\":\"three\",\"kind\":\"deals\",\"target\":3,\"period\":\"month\","
    " \"reward\":{\"points\":100,\"badge\":\"regular\",\"xp\":60}},"
    "{\"id\":\"two\",\"kind\":\"deals\",\"target\":2,\"period\":\"month\","
    " \"reward\":{\"points\":40,\"xp\":50}}"
    "],\"levels\":[{\"id\":\"novice\",\"xp\":0},{\"id\":\"pro\",\"xp\":100},{\"id\":\"star\",\"xp\":200}],"
    " \"streak\":{\"rewards\":[{\"weeks\":2,\"points\":7},{\"weeks\":6,\"points\":11}]}}"
    "}";

/* The shared service fixture (testlib.h) is all this test needs. */
typedef tl_svc fixture;

static int setUp(void **state)
{
    *state = tl_svc_new("merge", programText);
    return 0;
}

static int64_t enrolWith(fixture *f, const char *card, const char *referral)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = tl_at("2026-10-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    op.in.create.referral_code = referral;
    ly_os_hash(card, strlen(card), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol %s: %s", card, op.err.message);
    return op.out.customer.id;
}

static int64_t enrol(fixture *f, const char *card)
{
    return enrolWith(f, card, NULL);
}

/* Merges from into `into` with Idempotency-Key key; returns the operation (replayed says
 * whether it was answered from the stored response). */
static ly_op *merge(fixture *f, int64_t from, int64_t into, const char *key, const char *now)
{
    ly_op *op = ly_arena_alloc(&f->arena, sizeof *op);
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_MERGE;
    op->arena = &f->arena;
    op->now = tl_at(now);
    op->idem_key = key;
    op->in.merge.from = from;
    op->in.merge.into = into;
    char h[64];
    snprintf(h, sizeof h, "merge|%lld|%lld", (long long)from, (long long)into);
    ly_os_hash(h, strlen(h), op->request_hash);
    if (ly_service_run(f->svc, op) != LY_OK) fail_msg("merge: %s %s", op->err.code, op->err.message);
    assert_int_equal(op->status, 200);
    return op;
}

static void receiptOf(fixture *f, ly_checkout *c, const char *id, const char *card, const char *cat,
                      ly_money amount, const char *when)
{
    memset(c, 0, sizeof *c);
    ly_line *l = ly_arena_alloc(&f->arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = cat, .qty = 1000, .price = amount, .amount = amount};
    c->receipt = (ly_receipt){.receipt_id = ly_arena_strdup(&f->arena, id), .store = "S1",
                              .time = tl_at(when), .utc_offset_min = 180, .total = amount,
                              .lines = l, .n_lines = 1};
    c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
}

static ly_err confirmWith(fixture *f, ly_op *op, const char *id, const char *card, const char *cat,
                          ly_money amount, const char *when, const char *coupon)
{
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->arena;
    op->now = tl_at(when);
    receiptOf(f, &op->in.confirm, id, card, cat, amount, when);
    static const char *codes[1];
    if (coupon) {
        codes[0] = coupon;
        op->in.confirm.coupons = codes;
        op->in.confirm.n_coupons = 1;
    }
    ly_os_hash(id, strlen(id), op->request_hash);
    return ly_service_run(f->svc, op);
}

static ly_op *buy(fixture *f, const char *id, const char *card, const char *cat, ly_money amount,
                  const char *when)
{
    ly_op *op = ly_arena_alloc(&f->arena, sizeof *op);
    if (confirmWith(f, op, id, card, cat, amount, when, NULL) != LY_OK)
        fail_msg("confirm %s: %s %s", id, op->err.code, op->err.message);
    return op;
}

/* The stored progress row of a quest period (-1: none), and its completion time. */
static int64_t progressOf(fixture *f, int64_t id, const char *quest, const char *period,
                          ly_time *completed_at)
{
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->svc), &err);
    assert_non_null(db);
    int64_t v;
    ly_time done;
    ly_err rc = ly_db_quest_progress_get(db, id, quest, period, &v, &done, &err);
    if (completed_at) *completed_at = done;
    if (rc == LY_ENOTFOUND) return -1;
    assert_int_equal(rc, LY_OK);
    return v;
}

/* How many rows of the kinds a merge moves still name customer id (a second connection). */
static int64_t rowsLeft(fixture *f, int64_t id)
{
    static const char *const tables[] = {"quest_progress", "quest_contributions", "quest_badges",
                                         "quest_xp", "quest_streaks", "rule_uses",
                                         "coupon_redemptions", "events", "survey_answers",
                                         "quest_coupons"};
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(f->db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    int64_t total = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE customer_id = %lld", tables[i],
                 (long long)id);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        total += sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(c);
    return total;
}

/* The count of rows of `table` matching `where` (SQL over customer ids), a second connection. */
static int64_t countWhere(fixture *f, const char *table, const char *where)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(f->db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s", table, where);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(c, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return n;
}

/* ---------------------------------------------------------------------------------------
 * Quests
 * ------------------------------------------------------------------------------------- */

static void progress_sums_completes_once_at_the_merge_and_a_return_takes_it_back(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "A"), b = enrol(f, "B");
    buy(f, "QA1", "A", "fruit", 5000, "2026-11-03T10:00:00Z");
    buy(f, "QB1", "B", "fruit", 5000, "2026-11-04T10:00:00Z");
    assert_int_equal(progressOf(f, a, "two", "M2026-11", NULL), 1);
    assert_int_equal(progressOf(f, b, "two", "M2026-11", NULL), 1);

    ly_op *m = merge(f, b, a, "m-ba", "2026-11-05T10:00:00Z");
    assert_false(m->replayed);
    assert_int_equal(rowsLeft(f, b), 0);
    /* "two" (target 2): 1 + 1 reaches it, so the merge completes it and rewards it once. */
    ly_time done;
    assert_int_equal(progressOf(f, a, "two", "M2026-11", &done), 2);
    assert_int_equal(done, tl_at("2026-11-05T10:00:00Z"));
    char key[64];
    snprintf(key, sizeof key, "quest:two:M2026-11:%lld", (long long)a);
    assert_int_equal(tl_svc_bonus_with(f, a, key), 40);
    /* "three" (target 3): 2, open. */
    assert_int_equal(progressOf(f, a, "three", "M2026-11", &done), 2);
    assert_int_equal(done, 0);
    ly_quests_view v = tl_svc_quests(f, a, "2026-11-05T11:00:00Z");
    assert_int_equal(v.xp, 50);
    assert_string_equal(v.level_id, "novice");

    /* The retry is answered from the stored response and moves or gives nothing again. */
    ly_op *again = merge(f, b, a, "m-ba", "2026-11-05T10:00:05Z");
    assert_true(again->replayed);
    assert_int_equal(progressOf(f, a, "two", "M2026-11", NULL), 2);
    assert_int_equal(tl_svc_bonus_with(f, a, "quest:"), 40);
    assert_int_equal(tl_svc_quests(f, a, "2026-11-05T11:00:00Z").xp, 50);

    /* The merged card buys for the survivor: "three" completes with its badge and XP. */
    buy(f, "QB2", "B", "fruit", 5000, "2026-11-06T10:00:00Z");
    assert_int_equal(progressOf(f, a, "three", "M2026-11", &done), 3);
    assert_int_equal(done, tl_at("2026-11-06T10:00:00Z"));
    assert_int_equal(tl_svc_bonus_with(f, a, "quest:three:"), 100);
    v = tl_svc_quests(f, a, "2026-11-06T11:00:00Z");
    assert_int_equal(v.xp, 110);
    assert_string_equal(v.level_id, "pro");
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "regular");

    /* A full return of the merged profile's receipt takes its deal back from the survivor;
     * the completions and their rewards stay. */
    tl_svc_return(f, "QB1", "QB1-R", 0, "2026-11-07T10:00:00Z");
    assert_int_equal(progressOf(f, a, "three", "M2026-11", &done), 2);
    assert_int_equal(done, tl_at("2026-11-06T10:00:00Z"));
    assert_int_equal(progressOf(f, a, "two", "M2026-11", NULL), 2);
    assert_int_equal(progressOf(f, b, "three", "M2026-11", NULL), -1);
    assert_int_equal(tl_svc_bonus_with(f, a, "quest:"), 140);
}

static void a_completion_on_either_profile_stays_without_a_second_reward(void **state)
{
    fixture *f = *state;
    int64_t c = enrol(f, "C"), d = enrol(f, "D");
    /* D completes both quests in October (badge at 12 October), and has 1 deal in November. */
    buy(f, "D1", "D", "fruit", 5000, "2026-10-10T10:00:00Z");
    buy(f, "D2", "D", "fruit", 5000, "2026-10-11T10:00:00Z");
    buy(f, "D3", "D", "fruit", 5000, "2026-10-12T10:00:00Z");
    buy(f, "D4", "D", "fruit", 5000, "2026-11-05T10:00:00Z");
    /* C completes both in November. */
    buy(f, "C1", "C", "fruit", 5000, "2026-11-02T10:00:00Z");
    buy(f, "C2", "C", "fruit", 5000, "2026-11-03T10:00:00Z");
    buy(f, "C3", "C", "fruit", 5000, "2026-11-04T10:00:00Z");
    ly_time c_three, c_two;
    progressOf(f, c, "three", "M2026-11", &c_three);
    progressOf(f, c, "two", "M2026-11", &c_two);
    ly_points c_bonus = tl_svc_bonus_with(f, c, "quest:");
    assert_int_equal(c_bonus, 140);
    assert_int_equal(tl_svc_quests(f, d, "2026-11-05T11:00:00Z").xp, 110);

    merge(f, d, c, NULL, "2026-11-06T10:00:00Z");
    assert_int_equal(rowsLeft(f, d), 0);
    ly_time done;
    assert_int_equal(progressOf(f, c, "three", "M2026-11", &done), 4);
    assert_int_equal(done, c_three);
    assert_int_equal(progressOf(f, c, "two", "M2026-11", &done), 4);
    assert_int_equal(done, c_two);
    assert_int_equal(progressOf(f, c, "three", "M2026-10", &done), 3);
    assert_int_equal(done, tl_at("2026-10-12T10:00:00Z"));
    /* No quest bonus on the survivor for what either had completed. */
    assert_int_equal(tl_svc_bonus_with(f, c, "quest:"), c_bonus);
    /* XP summed, the level follows; the badge both hold keeps the earlier award. */
    ly_quests_view v = tl_svc_quests(f, c, "2026-11-06T11:00:00Z");
    assert_int_equal(v.xp, 220);
    assert_string_equal(v.level_id, "star");
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "regular");
    assert_string_equal(v.badges[0].period, "M2026-10");
    assert_int_equal(v.badges[0].at, tl_at("2026-10-12T10:00:00Z"));
    /* A return of one of D's October receipts takes its deal from the survivor's row. */
    tl_svc_return(f, "D1", "D1-R", 0, "2026-11-07T10:00:00Z");
    assert_int_equal(progressOf(f, c, "three", "M2026-10", &done), 2);
    assert_int_equal(done, tl_at("2026-10-12T10:00:00Z"));
}

/* ---------------------------------------------------------------------------------------
 * Streaks
 * ------------------------------------------------------------------------------------- */

static void the_streak_rule_joins_runs_that_touch_and_keeps_the_later_otherwise(void **state)
{
    (void)state;
    ly_merge_streak out;
    /* Weeks 0..14 (3 weeks, Mondays 0, 7, 14) and 21..28 (2 weeks): back to back, 5. */
    ly_merge_streak a = {14, 3, 3}, b = {28, 2, 4};
    ly_merge_streaks(&a, &b, &out);
    assert_int_equal(out.week, 28);
    assert_int_equal(out.length, 5);
    assert_int_equal(out.best, 5);
    /* Overlapping: 0..28 (5 weeks) and 14..21 (2 weeks): 5. */
    ly_merge_streak c = {28, 5, 5}, d = {21, 2, 2};
    ly_merge_streaks(&d, &c, &out);
    assert_int_equal(out.length, 5);
    assert_int_equal(out.week, 28);
    /* A gap week (35 missing between 28 and 42): the later run only; best of both. */
    ly_merge_streak e = {28, 5, 6}, g = {42, 1, 1};
    ly_merge_streaks(&e, &g, &out);
    assert_int_equal(out.week, 42);
    assert_int_equal(out.length, 1);
    assert_int_equal(out.best, 6);
    /* One side without a streak. */
    ly_merge_streak none = {0, 0, 0};
    ly_merge_streaks(&none, &e, &out);
    assert_int_equal(out.length, 5);
    assert_int_equal(out.best, 6);
}

static void streaks_of_consecutive_weeks_on_two_cards_join(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "SA"), b = enrol(f, "SB");
    /* Mondays 2 and 9 November on A, 16 and 23 November on B: two runs of 2, back to back. */
    buy(f, "S1", "SA", "fruit", 5000, "2026-11-02T10:00:00Z");
    buy(f, "S2", "SA", "fruit", 5000, "2026-11-09T10:00:00Z");
    buy(f, "S3", "SB", "fruit", 5000, "2026-11-16T10:00:00Z");
    buy(f, "S4", "SB", "fruit", 5000, "2026-11-23T10:00:00Z");
    assert_int_equal(tl_svc_quests(f, b, "2026-11-24T10:00:00Z").streak_weeks, 2);
    assert_int_equal(tl_svc_bonus_with(f, a, "streak:"), 7);
    assert_int_equal(tl_svc_bonus_with(f, b, "streak:"), 7);
    merge(f, b, a, "m-s", "2026-11-24T10:00:00Z");
    assert_int_equal(rowsLeft(f, b), 0);
    ly_quests_view v = tl_svc_quests(f, a, "2026-11-24T11:00:00Z");
    assert_int_equal(v.streak_weeks, 4);
    assert_int_equal(v.streak_best, 4);
    /* No streak step is paid by the merge itself; the next weeks go on from 4. */
    assert_int_equal(tl_svc_bonus_with(f, a, "streak:"), 7);
    buy(f, "S5", "SA", "fruit", 5000, "2026-11-30T10:00:00Z");
    buy(f, "S6", "SB", "fruit", 5000, "2026-12-07T10:00:00Z");
    v = tl_svc_quests(f, a, "2026-12-07T11:00:00Z");
    assert_int_equal(v.streak_weeks, 6);
    assert_int_equal(tl_svc_bonus_with(f, a, "streak:6:"), 11);
}

/* ---------------------------------------------------------------------------------------
 * Limits: rules, coupons, events
 * ------------------------------------------------------------------------------------- */

static const ly_rule_result *ruleResult(const ly_pricing *p, const char *id)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].rule->id, id) == 0) return &p->rules[i];
    fail_msg("no result for rule %s", id);
    return NULL;
}

static void per_customer_limits_count_both_profiles_uses(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "LA"), b = enrol(f, "LB");
    /* The milk rule: twice a month per customer. One use on each profile. */
    assert_true(ruleResult(&buy(f, "L1", "LA", "milk", 5000, "2026-11-03T10:00:00Z")->out.confirm.pricing,
                           "milk")->applied);
    assert_true(ruleResult(&buy(f, "L2", "LB", "milk", 5000, "2026-11-03T11:00:00Z")->out.confirm.pricing,
                           "milk")->applied);
    /* The coupon SOLO: once per customer; used on A. B could still use it. */
    ly_op op;
    assert_int_equal(confirmWith(f, &op, "C1", "LA", "fruit", 5000, "2026-11-03T12:00:00Z", "SOLO"), LY_OK);
    ly_checkout c;
    receiptOf(f, &c, "C2", "LB", "fruit", 5000, "2026-11-04T12:00:00Z");
    static const char *const solo[] = {"SOLO"};
    c.coupons = solo;
    c.n_coupons = 1;
    ly_checkout_result res;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_calculate(f->svc, &c, tl_at("2026-11-04T12:00:00Z"), &f->arena, &res, &err),
                     LY_OK);
    /* The share event: once a month per customer; given on A. */
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_EVENT;
    op.arena = &f->arena;
    op.now = tl_at("2026-11-03T13:00:00Z");
    op.in.event = (ly_event_request){.event_id = "E1", .type = "share", .who = {.kind = LY_ID_CARD, .value = "LA"}};
    ly_os_hash("E1", 2, op.request_hash);
    assert_int_equal(ly_service_run(f->svc, &op), LY_OK);
    assert_int_equal(op.out.event.points, 5);

    merge(f, a, b, "m-l", "2026-11-04T10:00:00Z");
    assert_int_equal(rowsLeft(f, a), 0);
    /* Two uses of the milk rule this month on the survivor: the third is refused. */
    const ly_rule_result *x = ruleResult(&buy(f, "L3", "LB", "milk", 5000, "2026-11-04T11:00:00Z")
                                              ->out.confirm.pricing, "milk");
    assert_false(x->applied);
    assert_string_equal(x->failed, "limits");
    /* The coupon was used by the person already. */
    assert_int_equal(confirmWith(f, &op, "C2", "LB", "fruit", 5000, "2026-11-04T12:00:00Z", "SOLO"),
                     LY_EUNPROCESSABLE);
    assert_string_equal(op.err.code, "coupon_limit_reached");
    /* And the event's monthly cap counts A's event. */
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_EVENT;
    op.arena = &f->arena;
    op.now = tl_at("2026-11-04T13:00:00Z");
    op.in.event = (ly_event_request){.event_id = "E2", .type = "share", .who = {.kind = LY_ID_CARD, .value = "LB"}};
    ly_os_hash("E2", 2, op.request_hash);
    assert_int_equal(ly_service_run(f->svc, &op), LY_OK);
    assert_int_equal(op.out.event.points, 0);
    /* A full return of A's milk receipt gives its use back to the survivor. */
    tl_svc_return(f, "L1", "L1-R", 0, "2026-11-05T10:00:00Z");
    assert_true(ruleResult(&buy(f, "L4", "LB", "milk", 5000, "2026-11-05T11:00:00Z")->out.confirm.pricing,
                           "milk")->applied);
}

/* ---------------------------------------------------------------------------------------
 * Referrals and once-only rewards
 * ------------------------------------------------------------------------------------- */

static ly_maintain_result maintain(fixture *f, const char *now)
{
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_maintain(f->svc, tl_at(now), &r, &err) != LY_OK) fail_msg("maintain: %s", err.message);
    return r;
}

static ly_referral_stats statsOf(fixture *f, int64_t id)
{
    ly_referral_stats st;
    ly_referral *list;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_referrals(f->svc, id, 10, &f->arena, &st, &list, &n, &err), LY_OK);
    return st;
}

static int64_t enrolBy(fixture *f, const char *card, int64_t referrer)
{
    char code[16];
    ly_referral_code(referrer, code, sizeof code);
    return enrolWith(f, card, code);
}

static void referrals_are_repointed_never_self_paid_and_one_per_person(void **state)
{
    fixture *f = *state;
    int64_t anna = enrol(f, "ANNA"), anna2 = enrol(f, "ANNA2");
    int64_t anna3 = enrolBy(f, "ANNA3", anna);   /* Anna again, on her own code */
    int64_t boris = enrolBy(f, "BORIS", anna);
    int64_t vera = enrolBy(f, "VERA", anna2);    /* invited by Anna's second profile */
    int64_t boris2 = enrolBy(f, "BORIS2", vera); /* Boris again, on Vera's code */
    int64_t gleb = enrolBy(f, "GLEB", vera);
    int64_t gleb2 = enrolBy(f, "GLEB2", anna);   /* Gleb again, on Anna's code */
    /* Gleb's referral is rewarded before the merges. */
    buy(f, "G1", "GLEB", "fruit", 20000, "2026-11-02T09:00:00Z");
    assert_int_equal(maintain(f, "2026-11-30T00:00:00Z").referrals_rewarded, 1);
    assert_int_equal(statsOf(f, vera).referrer_points, 300);

    merge(f, anna2, anna, NULL, "2026-12-01T09:00:00Z"); /* Vera's referrer becomes Anna */
    merge(f, anna3, anna, NULL, "2026-12-01T09:01:00Z"); /* Anna referred herself: dropped */
    merge(f, boris2, boris, NULL, "2026-12-01T09:02:00Z"); /* Boris's own row (Anna's) wins */
    merge(f, gleb, gleb2, NULL, "2026-12-01T09:03:00Z"); /* the rewarded row wins */
    char where[128];
    snprintf(where, sizeof where, "referee = referrer OR referrer IN (%lld, %lld)",
             (long long)anna2, (long long)anna3);
    assert_int_equal(countWhere(f, "referrals", where), 0);
    snprintf(where, sizeof where, "referee IN (%lld, %lld, %lld)", (long long)anna3,
             (long long)boris2, (long long)gleb);
    assert_int_equal(countWhere(f, "referrals", where), 0);

    ly_referral_stats st = statsOf(f, anna);
    assert_int_equal(st.invited, 2); /* Boris and Vera */
    st = statsOf(f, vera);
    assert_int_equal(st.invited, 1); /* Gleb, rewarded, now on his surviving profile */
    assert_int_equal(st.converted, 1);

    /* Qualifying purchases after the merges: Boris and Vera pay Anna once each; Anna's own
     * purchase on her third card and Gleb's second profile pay nothing. */
    buy(f, "B1", "BORIS2", "fruit", 20000, "2026-12-02T09:00:00Z");
    buy(f, "V1", "VERA", "fruit", 20000, "2026-12-02T09:00:00Z");
    buy(f, "A1", "ANNA3", "fruit", 20000, "2026-12-02T09:00:00Z");
    buy(f, "G2", "GLEB2", "fruit", 20000, "2026-12-02T09:00:00Z");
    assert_int_equal(maintain(f, "2026-12-30T00:00:00Z").referrals_rewarded, 2);
    assert_int_equal(maintain(f, "2026-12-31T00:00:00Z").referrals_rewarded, 0);
    st = statsOf(f, anna);
    assert_int_equal(st.converted, 2);
    assert_int_equal(st.referrer_points, 600);
    assert_int_equal(tl_svc_bonus_with(f, anna, "referral:"), 600);
    assert_int_equal(tl_svc_bonus_with(f, gleb2, "referral:"), 0);
    assert_int_equal(statsOf(f, vera).referrer_points, 300);
}

static void a_questionnaire_rewarded_on_either_profile_is_not_rewarded_again(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "QA"), b = enrol(f, "QB");
    ly_answer_request in = {.answer_id = "ANS-1", .customer_id = a, .questionnaire = "visit",
                            .answers = "{\"q1\":9}", .time = tl_at("2026-11-03T10:00:00Z")};
    ly_answer_result out;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_answers_submit(f->svc, &in, tl_at("2026-11-03T10:00:00Z"), &f->arena,
                                               &out, &err), LY_OK);
    assert_int_equal(out.points, 25);
    merge(f, a, b, "m-q", "2026-11-04T10:00:00Z");
    assert_int_equal(rowsLeft(f, a), 0);
    char where[64];
    snprintf(where, sizeof where, "customer_id = %lld", (long long)b);
    assert_int_equal(countWhere(f, "survey_answers", where), 1);
    in = (ly_answer_request){.answer_id = "ANS-2", .customer_id = b, .questionnaire = "visit",
                             .answers = "{\"q1\":10}", .time = tl_at("2026-11-05T10:00:00Z")};
    ly_error_clear(&err);
    assert_int_equal(ly_service_answers_submit(f->svc, &in, tl_at("2026-11-05T10:00:00Z"), &f->arena,
                                               &out, &err), LY_OK);
    assert_int_equal(out.points, 0);
    assert_int_equal(tl_svc_bonus_with(f, b, "questionnaire:"), 0);
    assert_int_equal(countWhere(f, "survey_answers", where), 2);
}

/* Enrols with a birth date (or NULL) and SMS consent: -1 none, 0 refused, 1 given. */
static int64_t enrolPerson(fixture *f, const char *card, const char *birth, int consent)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = tl_at("2026-10-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    if (birth) {
        op.in.create.set_birth_date = true;
        op.in.create.birth_date = birth;
    }
    if (consent >= 0) {
        op.in.create.set_consent[LY_CH_SMS] = true;
        op.in.create.consent[LY_CH_SMS] = consent == 1;
    }
    ly_os_hash(card, strlen(card), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol %s: %s", card, op.err.message);
    return op.out.customer.id;
}

static void the_welcome_and_birthday_bonuses_stay_given_once_for_the_person(void **state)
{
    fixture *f = *state;
    /* A got the welcome bonus (consent) and this year's birthday bonus (10 November). */
    int64_t a = enrolPerson(f, "WA", "1990-11-10", 1);
    int64_t b = enrolPerson(f, "WB", "1990-11-20", 0); /* refused SMS: no welcome yet */
    assert_int_equal(tl_svc_bonus_with(f, a, "welcome:"), 100);
    assert_int_equal(maintain(f, "2026-11-10T09:00:00Z").birthday_bonuses, 1);
    assert_int_equal(tl_svc_bonus_with(f, a, "birthday:"), 77);
    static const struct { const char *card; const char *attrs; } set[] = {
        {"WA", "{\"city\":\"Moscow\",\"pet\":\"cat\"}"}, {"WB", "{\"city\":\"Kazan\"}"}};
    for (size_t i = 0; i < 2; i++) {
        ly_op p = {.kind = LY_OP_CUSTOMER_PATCH, .arena = &f->arena, .now = tl_at("2026-11-11T09:00:00Z")};
        p.in.patch.customer_id = i ? b : a;
        p.in.patch.profile.set_attributes = true;
        p.in.patch.profile.attributes = set[i].attrs;
        if (ly_service_run(f->svc, &p) != LY_OK) fail_msg("patch %s: %s", set[i].card, p.err.message);
    }
    ly_op *m = merge(f, a, b, "m-w", "2026-11-12T09:00:00Z");
    /* The attributes the survivor lacks come from the merged profile; its own win. */
    tl_assert_json("attributes", "{\"city\":\"Kazan\",\"pet\":\"cat\"}", m->out.customer.attributes);
    /* B gives consent: the person had the welcome bonus already. */
    ly_op op = {.kind = LY_OP_CUSTOMER_PATCH, .arena = &f->arena, .now = tl_at("2026-11-13T09:00:00Z")};
    op.in.patch.customer_id = b;
    op.in.patch.profile.set_consent[LY_CH_SMS] = true;
    op.in.patch.profile.consent[LY_CH_SMS] = true;
    assert_int_equal(ly_service_run(f->svc, &op), LY_OK);
    assert_int_equal(tl_svc_bonus_with(f, b, "welcome:"), 0);
    /* B's own birthday this year: the person had this year's bonus already; next year's is
     * given. */
    assert_int_equal(maintain(f, "2026-11-20T09:00:00Z").birthday_bonuses, 0);
    assert_int_equal(tl_svc_bonus_with(f, b, "birthday:"), 0);
    assert_int_equal(maintain(f, "2027-11-20T09:00:00Z").birthday_bonuses, 1);
    assert_int_equal(tl_svc_bonus_with(f, b, "birthday:"), 77);
}

/* ---------------------------------------------------------------------------------------
 * Over HTTP: the example program with quests, a retried merge
 * ------------------------------------------------------------------------------------- */

static long post(const tl_server *srv, tl_response *r, const char *path, const char *key,
                 const char *idem, const char *body)
{
    char auth[128], ik[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    snprintf(ik, sizeof ik, "Idempotency-Key: %s", idem ? idem : "");
    const char *headers[] = {auth, "Content-Type: application/json", idem ? ik : NULL, NULL};
    return tl_http(r, srv->base, "POST", path, headers, body, (size_t)-1);
}

static int64_t enrolHttp(tl_world *w, const tl_server *srv, const char *card)
{
    tl_response r;
    char body[64];
    snprintf(body, sizeof body, "{\"card\":\"%s\"}", card);
    if (post(srv, &r, "/v1/customers", w->pos_key, NULL, body) != 201)
        fail_msg("enrol %s: HTTP %ld %s", card, r.status, r.body);
    json_t *v = tl_json_parse(r.body);
    int64_t id = tl_json_int(v, "id");
    json_decref(v);
    tl_response_free(&r);
    return id;
}

static void buyHttp(tl_world *w, const tl_server *srv, const char *id, const char *card)
{
    tl_response r;
    char body[512];
    snprintf(body, sizeof body,
             "{\"receipt_id\":\"%s\",\"store\":\"S001\",\"time\":\"2026-11-23T11:00:00+03:00\","
             "\"customer\":{\"card\":\"%s\"},\"total\":10000,\"lines\":[{\"sku\":\"APPLE\","
             "\"category\":\"fruit\",\"qty\":1000,\"price\":10000,\"amount\":10000}]}", id, card);
    if (post(srv, &r, "/v1/receipts", w->pos_key, NULL, body) != 201)
        fail_msg("receipt %s: HTTP %ld %s", id, r.status, r.body);
    tl_response_free(&r);
}

static char *questsHttp(tl_world *w, const tl_server *srv, int64_t id)
{
    char path[64];
    snprintf(path, sizeof path, "/v1/customers/%lld/quests", (long long)id);
    tl_response r;
    if (tl_call(&r, srv, "GET", path, w->pos_key, NULL) != 200)
        fail_msg("quests: HTTP %ld %s", r.status, r.body);
    char *body = strdup(r.body);
    tl_response_free(&r);
    return body;
}

typedef struct httpFixture {
    tl_world w;
    tl_server srv;
} httpFixture;

static int httpUp(void **state)
{
    httpFixture *h = calloc(1, sizeof *h);
    if (!h) return -1;
    *state = h;
    tl_world_make(&h->w, "merge", "examples/quests.json");
    const char *env[] = {"LOYAL_NOW=2026-11-24T09:00:00Z", NULL};
    tl_world_serve(&h->w, &h->srv, env);
    return 0;
}

static int httpDown(void **state)
{
    httpFixture *h = *state;
    tl_world_free(&h->w); /* kills a server still running */
    free(h);
    return 0;
}

static void over_http_a_retried_merge_is_answered_from_its_response_and_moves_nothing(void **state)
{
    httpFixture *h = *state;
    tl_world w = h->w;
    tl_server srv = h->srv;
    int64_t a = enrolHttp(&w, &srv, "7000001"), b = enrolHttp(&w, &srv, "7000002");
    buyHttp(&w, &srv, "H-1", "7000001");
    buyHttp(&w, &srv, "H-2", "7000001");
    buyHttp(&w, &srv, "H-3", "7000002");

    char path[64], body[64];
    snprintf(path, sizeof path, "/v1/customers/%lld/merge", (long long)a);
    snprintf(body, sizeof body, "{\"from\":%lld}", (long long)b);
    tl_response m1, m2, m3;
    if (post(&srv, &m1, path, w.admin_key, "merge-h", body) != 200)
        fail_msg("merge: HTTP %ld %s", m1.status, m1.body);
    /* three-deals: 2 + 1 = 3, the target: completed by the merge, with its badge and XP. */
    char *q1 = questsHttp(&w, &srv, a);
    json_t *v = tl_json_parse(q1);
    assert_string_equal(tl_json_str(v, "quests[0].id"), "three-deals");
    assert_int_equal(tl_json_int(v, "quests[0].progress"), 3);
    assert_true(json_is_true(tl_json_at(v, "quests[0].completed")));
    assert_int_equal(tl_json_int(v, "xp"), 60);
    assert_string_equal(tl_json_str(v, "badges[0].badge"), "regular");
    json_decref(v);

    /* The retry: the same response, and nothing more moved or given. */
    assert_int_equal(post(&srv, &m2, path, w.admin_key, "merge-h", body), 200);
    tl_assert_json("merge retry", m1.body, m2.body);
    char *q2 = questsHttp(&w, &srv, a);
    tl_assert_json("quests after the retry", q1, q2);
    /* Without the key, a second merge of the same profile is refused. */
    assert_int_equal(post(&srv, &m3, path, w.admin_key, NULL, body), 422);
    tl_assert_error("merge again", &m3, 422, "customer_merged", "from");
    tl_response_free(&m1);
    tl_response_free(&m2);
    tl_response_free(&m3);
    free(q1);
    free(q2);
    assert_int_equal(tl_server_stop(&h->srv), 0);
    assert_int_equal(tl_world_check(&w), 0);
}

/* ---------------------------------------------------------------------------------------
 * Tiers and the club
 * ------------------------------------------------------------------------------------- */

static const char *tiersProgram =
    PROGRAM_HEAD
    "\"tiers\":{\"period\":\"rolling\",\"window_days\":365,\"grace_days\":0,\"levels\":["
    "{\"id\":\"basic\"},{\"id\":\"silver\",\"min_spend\":\"1000.00\"},"
    "{\"id\":\"gold\",\"min_spend\":\"3000.00\"}]},"
    "\"club\":{\"name\":\"Club\",\"invitations\":true}"
    "}";

static int setUpTiers(void **state)
{
    *state = tl_svc_new("merge-tiers", tiersProgram);
    return 0;
}

static void tierAndClub(fixture *f, int64_t id, const char *now, const char **tier, bool *member)
{
    ly_tier_view t;
    ly_club_view c;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_tier_view(f->svc, id, tl_at(now), &f->arena, &t, &c, &err), LY_OK);
    *tier = t.id;
    *member = c.member;
}

static void the_higher_tier_and_the_club_come_over_and_purchases_together_upgrade(void **state)
{
    fixture *f = *state;
    const char *tier;
    bool member;
    /* A Silver card in the club (invited), and a Basic one. */
    int64_t a = enrol(f, "TA"), b = enrol(f, "TB");
    buy(f, "TA-1", "TA", "food", 120000, "2026-10-02T10:00:00Z");
    tierAndClub(f, a, "2026-10-03T10:00:00Z", &tier, &member);
    assert_string_equal(tier, "silver");
    ly_club_member m;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_club_invite(f->svc, a, "founder", tl_at("2026-10-03T10:00:00Z"),
                                            &f->arena, &m, &err), LY_OK);
    buy(f, "TB-1", "TB", "food", 50000, "2026-10-04T10:00:00Z");
    tierAndClub(f, b, "2026-10-05T10:00:00Z", &tier, &member);
    assert_string_equal(tier, "basic");
    assert_false(member);
    /* Merged into the Basic one: the survivor is Silver and in the club at once. */
    merge(f, a, b, "merge-tiers-1", "2026-10-05T10:00:00Z");
    tierAndClub(f, b, "2026-10-05T10:00:00Z", &tier, &member);
    assert_string_equal(tier, "silver");
    assert_true(member);
    ly_club_member *list;
    size_t n;
    assert_int_equal(ly_service_club_members(f->svc, 0, 10, &f->arena, &list, &n, &err), LY_OK);
    assert_int_equal(n, 1); /* the merged card left */
    assert_int_equal(list[0].customer_id, b);
    assert_string_equal(list[0].via, "invitation");

    /* Two cards of 2,000.00 each, neither Gold alone: Gold together, at the merge. */
    int64_t c = enrol(f, "TC"), d = enrol(f, "TD");
    buy(f, "TC-1", "TC", "food", 200000, "2026-10-06T10:00:00Z");
    buy(f, "TD-1", "TD", "food", 200000, "2026-10-06T11:00:00Z");
    tierAndClub(f, d, "2026-10-07T10:00:00Z", &tier, &member);
    assert_string_equal(tier, "silver");
    merge(f, c, d, "merge-tiers-2", "2026-10-07T10:00:00Z");
    tierAndClub(f, d, "2026-10-07T10:00:00Z", &tier, &member);
    assert_string_equal(tier, "gold");
    assert_false(member);
    ly_tier_change *h;
    assert_int_equal(ly_service_tier_history(f->svc, d, 10, &f->arena, &h, &n, &err), LY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(h[1].to_tier, "gold");
    assert_string_equal(h[1].change, "upgrade");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(progress_sums_completes_once_at_the_merge_and_a_return_takes_it_back,
                                        setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_completion_on_either_profile_stays_without_a_second_reward,
                                        setUp, tl_svc_teardown),
        cmocka_unit_test(the_streak_rule_joins_runs_that_touch_and_keeps_the_later_otherwise),
        cmocka_unit_test_setup_teardown(streaks_of_consecutive_weeks_on_two_cards_join, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(per_customer_limits_count_both_profiles_uses, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(referrals_are_repointed_never_self_paid_and_one_per_person,
                                        setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_questionnaire_rewarded_on_either_profile_is_not_rewarded_again,
                                        setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_welcome_and_birthday_bonuses_stay_given_once_for_the_person,
                                        setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_higher_tier_and_the_club_come_over_and_purchases_together_upgrade,
                                        setUpTiers, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(over_http_a_retried_merge_is_answered_from_its_response_and_moves_nothing,
                                        httpUp, httpDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
