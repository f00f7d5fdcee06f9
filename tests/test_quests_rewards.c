/*
 * test_quests_rewards.c - the quest kind "referrals" and personal coupon codes as quest and
 * streak rewards, through the service on a real database: a friend's qualifying purchase
 * counts for the referrer (not under the minimum, once per referral, not on a retry; the
 * quest's dates on the friend's receipt day, the hold-out drawn for the referrer), a
 * partial return keeps it, a full return takes it back and the next qualifying purchase
 * counts again; a completed quest issues one personal single-use code, visible to its owner,
 * redeemable once and only by them, kept by a return; two receipts crossing the target at
 * once issue one code; and the program file's errors.
 */
#include "testlib.h"

#include "core/quests.h"
#include "http/codec_internal.h"
#include "os/os.h"
#include "program/program.h"
#include "service/service.h"
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM_HEAD                                                                               \
    "{\"name\":\"T\",\"version\":\"qr1\",\"currency\":\"RUB\",\"minor_units\":2,"                  \
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"   \
    "\"earn\":{\"rate_percent\":\"5\"},"                                                           \
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"

#define COUPONS                                                                                    \
    "\"rules\":[{\"id\":\"thanks-off\",\"conditions\":{\"facts\":[{\"name\":\"coupon\","          \
    "\"equals\":\"thanks\"}]},\"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}},"     \
    "{\"id\":\"pub-off\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"pub\"}]},"   \
    "\"effect\":{\"type\":\"discount_percent\",\"percent\":\"5\"}},"                              \
    "{\"id\":\"multi-off\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"multi\"}]},"\
    "\"effect\":{\"type\":\"discount_percent\",\"percent\":\"5\"}}],"                             \
    "\"coupons\":[{\"id\":\"thanks\",\"codes\":{\"prefix\":\"TQ-\"}},"                             \
    "{\"id\":\"pub\",\"code\":\"PUB1\"},"                                                          \
    "{\"id\":\"multi\",\"codes\":{},\"uses\":{\"per_code\":3}}],"

static const char *programText =
    PROGRAM_HEAD COUPONS
    "\"referrals\":{\"referrer_points\":300,\"min_purchase\":\"300.00\"},"
    "\"quests\":{\"list\":["
    "{\"id\":\"bring-two\",\"kind\":\"referrals\",\"target\":2,\"period\":\"month\","
    " \"reward\":{\"points\":50,\"badge\":\"ambassador\",\"coupon\":\"thanks\"}},"
    "{\"id\":\"three\",\"kind\":\"deals\",\"target\":3,\"period\":\"month\","
    " \"lines\":{\"categories\":[\"food\"]},\"reward\":{\"coupon\":\"thanks\"}},"
    "{\"id\":\"early\",\"kind\":\"referrals\",\"target\":5,\"to\":\"2026-11-09\",\"reward\":{\"xp\":5}},"
    "{\"id\":\"half\",\"kind\":\"referrals\",\"target\":5,\"holdout_percent\":50,\"reward\":{\"xp\":5}}"
    "],\"streak\":{\"rewards\":[{\"weeks\":2,\"coupon\":\"thanks\"}]}}"
    "}";

/* The shared service fixture (testlib.h) is all this test needs. */
typedef tl_svc fixture;

static int setUp(void **state)
{
    *state = tl_svc_new("qrewards", programText);
    return 0;
}

/* Enrols card, with the referral code of `referrer` when > 0. */
static int64_t enrol(fixture *f, const char *card, int64_t referrer)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = tl_at("2026-11-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    char code[16];
    if (referrer > 0) {
        ly_referral_code(referrer, code, sizeof code);
        op.in.create.referral_code = code;
    }
    ly_os_hash(card, strlen(card), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol: %s", op.err.message);
    return op.out.customer.id;
}

/* A receipt of one line of `amount` in category cat, by card (NULL: anonymous), with an
 * optional coupon code. */
static void receiptOf(ly_arena *a, ly_checkout *c, const char *id, const char *card,
                      const char *cat, ly_money amount, const char *when, const char *coupon)
{
    memset(c, 0, sizeof *c);
    ly_line *l = ly_arena_alloc(a, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = cat, .qty = 1000, .price = amount, .amount = amount};
    c->receipt = (ly_receipt){.receipt_id = ly_arena_strdup(a, id), .store = "S1", .time = tl_at(when),
                              .utc_offset_min = 180, .total = amount, .lines = l, .n_lines = 1};
    if (card) c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
    if (coupon) {
        const char **cs = ly_arena_alloc(a, sizeof *cs);
        cs[0] = ly_arena_strdup(a, coupon);
        c->coupons = cs;
        c->n_coupons = 1;
    }
}

/* Confirms; returns the op (its result or error). */
static ly_op *confirm(fixture *f, const char *id, const char *card, const char *cat,
                      ly_money amount, const char *when, const char *coupon, ly_err *rc)
{
    ly_op *op = ly_arena_alloc(&f->arena, sizeof *op);
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->arena;
    op->now = tl_at(when);
    receiptOf(&f->arena, &op->in.confirm, id, card, cat, amount, when, coupon);
    ly_os_hash(id, strlen(id), op->request_hash);
    *rc = ly_service_run(f->svc, op);
    return op;
}

/* Confirms (it must succeed); returns the step of quest `quest` (NULL: not advanced). */
static const ly_quest_step *buy(fixture *f, const char *id, const char *card, const char *cat,
                                ly_money amount, const char *when, const char *quest)
{
    ly_err rc;
    ly_op *op = confirm(f, id, card, cat, amount, when, NULL, &rc);
    if (rc != LY_OK) fail_msg("confirm %s: %s", id, op->err.message);
    for (size_t i = 0; i < op->out.confirm.n_quests; i++)
        if (strcmp(op->out.confirm.quests[i].quest_id, quest) == 0) return &op->out.confirm.quests[i];
    return NULL;
}

static const ly_quest_view *questIn(const ly_quests_view *v, const char *id)
{
    for (size_t i = 0; i < v->n_quests; i++)
        if (strcmp(v->quests[i].id, id) == 0) return &v->quests[i];
    fail_msg("quest %s is not shown", id);
    return NULL;
}

/* The number of stored unique codes of the campaign (personal ones included). */
static int64_t codesOf(fixture *f, const char *campaign)
{
    ly_error err;
    ly_error_clear(&err);
    ly_coupon_stats st;
    assert_int_equal(ly_service_coupon_stats(f->svc, campaign, &st, &err), LY_OK);
    return st.codes;
}

/* ---------------------------------------------------------------------------------------
 * Referral quests
 * ------------------------------------------------------------------------------------- */

static void a_friends_qualifying_purchase_counts_for_the_referrer_once(void **state)
{
    fixture *f = *state;
    int64_t ref = enrol(f, "REF", 0);
    int64_t friend1 = enrol(f, "F1", ref);
    /* Under the referral's minimum: no conversion. */
    assert_null(buy(f, "F1-1", "F1", "food", 10000, "2026-11-10T10:00:00Z", "bring-two"));
    ly_quests_view v = tl_svc_quests(f, ref, "2026-11-10T12:00:00Z");
    assert_string_equal(questIn(&v, "bring-two")->kind, "referrals");
    assert_int_equal(questIn(&v, "bring-two")->value, 0);
    /* The qualifying purchase counts for the referrer; the friend's list is the friend's. */
    assert_null(buy(f, "F1-2", "F1", "food", 40000, "2026-11-11T10:00:00Z", "bring-two"));
    v = tl_svc_quests(f, ref, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 1);
    assert_string_equal(questIn(&v, "bring-two")->period, "M2026-11");
    assert_int_equal(questIn(&v, "bring-two")->completed_at, 0);
    /* The friend's own referral quest has not moved. */
    v = tl_svc_quests(f, friend1, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 0);
    /* A retry of the confirm counts nothing again; nor does a second qualifying receipt of
     * the same friend (one referral converts once). */
    ly_err rc;
    ly_op *op = confirm(f, "F1-2", "F1", "food", 40000, "2026-11-11T10:00:00Z", NULL, &rc);
    assert_int_equal(rc, LY_OK);
    assert_true(op->replayed);
    buy(f, "F1-3", "F1", "food", 50000, "2026-11-12T10:00:00Z", "three");
    v = tl_svc_quests(f, ref, "2026-11-12T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 1);
    /* The referrer's own purchases never count for it. */
    buy(f, "REF-1", "REF", "food", 50000, "2026-11-12T11:00:00Z", "three");
    v = tl_svc_quests(f, ref, "2026-11-12T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 1);
    assert_int_equal(tl_svc_bonus_with(f, ref, "quest:bring-two:"), 0);
    assert_int_equal(v.n_coupons, 0);
}

/* The progress of customer id in quest's period (0 without a row). */
static int64_t progressOf(fixture *f, int64_t id, const char *quest, const char *period)
{
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->svc), &err);
    int64_t v = 0;
    ly_time done;
    ly_err rc = ly_db_quest_progress_get(db, id, quest, period, &v, &done, &err);
    assert_true(rc == LY_OK || rc == LY_ENOTFOUND);
    return v;
}

static void dates_and_the_hold_out_of_a_referral_quest_are_the_referrers(void **state)
{
    fixture *f = *state;
    /* from/to are tested on the friend's receipt's local day. */
    int64_t ref = enrol(f, "REF", 0);
    enrol(f, "F1", ref);
    enrol(f, "F2", ref);
    buy(f, "F1-1", "F1", "food", 40000, "2026-11-08T10:00:00Z", "three");
    buy(f, "F2-1", "F2", "food", 40000, "2026-11-10T10:00:00Z", "three");
    assert_int_equal(progressOf(f, ref, "early", "E"), 1);
    assert_int_equal(progressOf(f, ref, "bring-two", "M2026-11"), 2);
    /* The hold-out is drawn for the referrer, not for the friend: find a held-out referrer
     * whose friend is offered the quest, and an offered one whose friend is held out. */
    ly_quest half = {.id = "half", .holdout_bp = 5000};
    int64_t held = 0, offered = 0;
    char card[32];
    for (int i = 0; i < 200 && (!held || !offered); i++) {
        snprintf(card, sizeof card, "R%d", i);
        int64_t r = enrol(f, card, 0);
        snprintf(card, sizeof card, "RF%d", i);
        int64_t fr = enrol(f, card, r);
        bool rh = ly_service_quest_held_out(&half, r), fh = ly_service_quest_held_out(&half, fr);
        if (rh == fh || (rh ? held : offered)) continue;
        char rid[32];
        snprintf(rid, sizeof rid, "RF%d-1", i);
        buy(f, rid, card, "food", 40000, "2026-11-12T10:00:00Z", "three");
        if (rh) held = r;
        else offered = r;
    }
    assert_true(held && offered);
    assert_int_equal(progressOf(f, held, "half", "E"), 0);
    assert_int_equal(progressOf(f, offered, "half", "E"), 1);
    ly_quests_view v = tl_svc_quests(f, held, "2026-11-12T12:00:00Z");
    for (size_t i = 0; i < v.n_quests; i++) assert_string_not_equal(v.quests[i].id, "half");
    v = tl_svc_quests(f, offered, "2026-11-12T12:00:00Z");
    assert_int_equal(questIn(&v, "half")->value, 1);
}

static void a_partial_return_keeps_the_referral_and_a_full_one_takes_it_back(void **state)
{
    fixture *f = *state;
    int64_t ref = enrol(f, "REF", 0);
    enrol(f, "F1", ref);
    buy(f, "F1-1", "F1", "food", 40000, "2026-11-10T10:00:00Z", "three");
    tl_svc_return(f, "F1-1", "F1-1-R1", 500, "2026-11-11T10:00:00Z"); /* half the line */
    ly_quests_view v = tl_svc_quests(f, ref, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 1);
    tl_svc_return(f, "F1-1", "F1-1-R2", 500, "2026-11-12T10:00:00Z"); /* the rest: a full return */
    v = tl_svc_quests(f, ref, "2026-11-12T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 0);
    /* The referral waits again: the friend's next qualifying purchase counts. */
    buy(f, "F1-2", "F1", "food", 35000, "2026-11-13T10:00:00Z", "three");
    v = tl_svc_quests(f, ref, "2026-11-13T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 1);
}

static void the_second_friend_completes_it_with_points_and_a_code_that_a_return_keeps(void **state)
{
    fixture *f = *state;
    int64_t ref = enrol(f, "REF", 0);
    enrol(f, "F1", ref);
    enrol(f, "F2", ref);
    buy(f, "F1-1", "F1", "food", 40000, "2026-11-10T10:00:00Z", "three");
    buy(f, "F2-1", "F2", "food", 30000, "2026-11-14T10:00:00Z", "three");
    ly_quests_view v = tl_svc_quests(f, ref, "2026-11-14T12:00:00Z");
    const ly_quest_view *q = questIn(&v, "bring-two");
    assert_int_equal(q->value, 2);
    assert_true(q->completed_at > 0);
    assert_string_equal(q->coupon, "thanks");
    assert_non_null(q->coupon_code);
    assert_int_equal(strncmp(q->coupon_code, "TQ-", 3), 0);
    assert_int_equal(strlen(q->coupon_code), 3 + 12);
    char code[32];
    snprintf(code, sizeof code, "%s", q->coupon_code);
    assert_int_equal(tl_svc_bonus_with(f, ref, "quest:bring-two:M2026-11:"), 50);
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "ambassador");
    assert_int_equal(v.n_coupons, 1);
    assert_string_equal(v.coupons[0].code, code);
    assert_string_equal(v.coupons[0].quest_id, "bring-two");
    assert_string_equal(v.coupons[0].period, "M2026-11");
    assert_false(v.coupons[0].used);
    /* A full return of the completing receipt takes the conversion back, not the reward. */
    tl_svc_return(f, "F2-1", "F2-1-R", 0, "2026-11-15T10:00:00Z");
    v = tl_svc_quests(f, ref, "2026-11-15T12:00:00Z");
    q = questIn(&v, "bring-two");
    assert_int_equal(q->value, 1);
    assert_true(q->completed_at > 0);
    assert_string_equal(q->coupon_code, code);
    assert_int_equal(v.n_coupons, 1);
    assert_int_equal(tl_svc_bonus_with(f, ref, "quest:bring-two:"), 50);
    /* Qualifying again completes nothing more this month: one code, one bonus (in the same
     * week as F2-1, so the friend's streak gives no code of its own). */
    buy(f, "F2-2", "F2", "food", 30000, "2026-11-15T12:00:00Z", "three");
    v = tl_svc_quests(f, ref, "2026-11-15T13:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 2);
    assert_int_equal(v.n_coupons, 1);
    assert_int_equal(tl_svc_bonus_with(f, ref, "quest:bring-two:"), 50);
    assert_int_equal(codesOf(f, "thanks"), 1);
}

/* ---------------------------------------------------------------------------------------
 * Coupon rewards
 * ------------------------------------------------------------------------------------- */

static void a_completed_quest_issues_a_personal_code_redeemable_once_by_its_owner(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "A", 0);
    enrol(f, "B", 0);
    buy(f, "A-1", "A", "food", 10000, "2026-11-10T10:00:00Z", "three");
    const ly_quest_step *st = buy(f, "A-2", "A", "food", 10000, "2026-11-10T11:00:00Z", "three");
    assert_null(st->coupon_code);
    assert_string_equal(st->coupon, "thanks");
    ly_err rc;
    ly_op *op = confirm(f, "A-3", "A", "food", 10000, "2026-11-10T12:00:00Z", NULL, &rc);
    assert_int_equal(rc, LY_OK);
    st = NULL;
    for (size_t i = 0; i < op->out.confirm.n_quests; i++)
        if (strcmp(op->out.confirm.quests[i].quest_id, "three") == 0) st = &op->out.confirm.quests[i];
    assert_non_null(st);
    assert_true(st->completed);
    assert_non_null(st->coupon_code);
    char code[32];
    snprintf(code, sizeof code, "%s", st->coupon_code);
    /* The checkout response's entry carries it: reward.coupon {"campaign", "code"}. */
    json_t *steps = ly__json_quest_steps(&op->out.confirm);
    assert_non_null(steps);
    bool seen = false;
    for (size_t i = 0; i < json_array_size(steps); i++) {
        json_t *e = json_array_get(steps, i);
        if (strcmp(json_string_value(json_object_get(e, "id")), "three") != 0) continue;
        json_t *cp = json_object_get(json_object_get(e, "reward"), "coupon");
        assert_string_equal(json_string_value(json_object_get(cp, "campaign")), "thanks");
        assert_string_equal(json_string_value(json_object_get(cp, "code")), code);
        seen = true;
    }
    json_decref(steps);
    assert_true(seen);
    ly_quests_view v = tl_svc_quests(f, a, "2026-11-10T13:00:00Z");
    assert_string_equal(questIn(&v, "three")->coupon_code, code);
    assert_int_equal(v.n_coupons, 1);
    /* Another customer, or nobody, cannot use it. */
    op = confirm(f, "B-1", "B", "toys", 10000, "2026-11-10T14:00:00Z", code, &rc);
    assert_int_equal(rc, LY_EUNPROCESSABLE);
    assert_string_equal(op->err.code, "coupon_personal");
    assert_string_equal(op->err.field, "coupons[0]");
    op = confirm(f, "N-1", NULL, "toys", 10000, "2026-11-10T14:00:00Z", code, &rc);
    assert_int_equal(rc, LY_EUNPROCESSABLE);
    assert_string_equal(op->err.code, "coupon_customer_required");
    /* Its owner uses it, typed in lower case: the campaign's rule applies (10% off). */
    char lower[32];
    for (size_t i = 0; i <= strlen(code); i++)
        lower[i] = (char)(code[i] >= 'A' && code[i] <= 'Z' ? code[i] + 32 : code[i]);
    op = confirm(f, "A-4", "A", "toys", 10000, "2026-11-10T15:00:00Z", lower, &rc);
    if (rc != LY_OK) fail_msg("redeem: %s %s", op->err.code, op->err.message);
    assert_int_equal(op->out.confirm.n_coupons, 1);
    assert_string_equal(op->out.confirm.coupons[0].campaign, "thanks");
    assert_int_equal(op->out.confirm.pricing.discount, 1000);
    v = tl_svc_quests(f, a, "2026-11-10T16:00:00Z");
    assert_true(v.coupons[0].used);
    /* A second use is refused, at calculate and at confirm. */
    ly_checkout in;
    receiptOf(&f->arena, &in, "A-5", "A", "toys", 10000, "2026-11-10T16:00:00Z", code);
    ly_checkout_result res;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_calculate(f->svc, &in, tl_at("2026-11-10T16:00:00Z"), &f->arena, &res,
                                          &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "coupon_used_up");
    op = confirm(f, "A-5", "A", "toys", 10000, "2026-11-10T16:00:00Z", code, &rc);
    assert_int_equal(rc, LY_EUNPROCESSABLE);
    assert_string_equal(op->err.code, "coupon_used_up");
    /* A return of the completing receipt keeps the code (and it stays used). */
    tl_svc_return(f, "A-3", "A-3-R", 0, "2026-11-11T10:00:00Z");
    v = tl_svc_quests(f, a, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "three")->value, 2);
    assert_string_equal(questIn(&v, "three")->coupon_code, code);
    assert_int_equal(v.n_coupons, 1);
    assert_true(v.coupons[0].used);
    /* A full return of the receipt that used it gives the use back, as for any coupon. */
    tl_svc_return(f, "A-4", "A-4-R", 0, "2026-11-11T11:00:00Z");
    v = tl_svc_quests(f, a, "2026-11-11T12:00:00Z");
    assert_false(v.coupons[0].used);
    op = confirm(f, "A-6", "A", "toys", 10000, "2026-11-11T13:00:00Z", code, &rc);
    assert_int_equal(rc, LY_OK);
}

static void a_streak_step_can_give_a_code_too(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "S", 0);
    const ly_quest_step *st = buy(f, "S-1", "S", "toys", 10000, "2026-11-03T10:00:00Z", "streak");
    assert_non_null(st);
    assert_false(st->completed);
    assert_string_equal(st->coupon, "thanks");
    st = buy(f, "S-2", "S", "toys", 10000, "2026-11-10T10:00:00Z", "streak");
    assert_true(st->completed);
    assert_non_null(st->coupon_code);
    ly_quests_view v = tl_svc_quests(f, a, "2026-11-10T12:00:00Z");
    assert_int_equal(v.n_coupons, 1);
    assert_string_equal(v.coupons[0].quest_id, "streak");
    assert_string_equal(v.coupons[0].code, st->coupon_code);
}

/* ---------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------- */

typedef struct worker {
    fixture *f;
    const char *card, *receipt;
    ly_money amount;
    ly_err rc;
    int codes;
} worker;

static void *confirmOne(void *arg)
{
    worker *w = arg;
    ly_arena a = {0};
    ly_op op;
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_CONFIRM;
    op.arena = &a;
    op.now = tl_at("2026-11-20T10:00:00Z");
    receiptOf(&a, &op.in.confirm, w->receipt, w->card, "food", w->amount, "2026-11-20T10:00:00Z", NULL);
    ly_os_hash(w->receipt, strlen(w->receipt), op.request_hash);
    w->rc = ly_service_run(w->f->svc, &op);
    for (size_t j = 0; w->rc == LY_OK && j < op.out.confirm.n_quests; j++)
        if (op.out.confirm.quests[j].coupon_code) w->codes++;
    ly_arena_free(&a);
    return NULL;
}

static void receipts_crossing_the_target_at_once_issue_one_code(void **state)
{
    fixture *f = *state;
    /* A deals quest: two receipts of the same customer cross 3 at once. */
    int64_t a = enrol(f, "A", 0);
    buy(f, "A-1", "A", "food", 10000, "2026-11-20T09:00:00Z", "three");
    buy(f, "A-2", "A", "food", 10000, "2026-11-20T09:10:00Z", "three");
    /* A referral quest: two friends' qualifying receipts cross 2 at once. */
    int64_t ref = enrol(f, "REF", 0);
    enrol(f, "F1", ref);
    enrol(f, "F2", ref);
    enrol(f, "F3", ref);
    buy(f, "F1-1", "F1", "food", 40000, "2026-11-20T09:20:00Z", "three");
    worker w[4] = {{f, "A", "A-3", 10000, LY_OK, 0}, {f, "A", "A-4", 10000, LY_OK, 0},
                   {f, "F2", "F2-1", 40000, LY_OK, 0}, {f, "F3", "F3-1", 40000, LY_OK, 0}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&t[i], NULL, confirmOne, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, LY_OK);
    }
    assert_int_equal(w[0].codes + w[1].codes, 1);
    ly_quests_view v = tl_svc_quests(f, a, "2026-11-20T12:00:00Z");
    assert_int_equal(questIn(&v, "three")->value, 4);
    assert_int_equal(v.n_coupons, 1);
    v = tl_svc_quests(f, ref, "2026-11-20T12:00:00Z");
    assert_int_equal(questIn(&v, "bring-two")->value, 3);
    assert_int_equal(v.n_coupons, 1);
    assert_int_equal(tl_svc_bonus_with(f, ref, "quest:bring-two:"), 50);
    assert_int_equal(codesOf(f, "thanks"), 2);
}

/* ---------------------------------------------------------------------------------------
 * The program file
 * ------------------------------------------------------------------------------------- */

static void program_file_errors_name_the_setting(void **state)
{
    (void)state;
    static const struct {
        const char *rest, *field;
    } bad[] = {
        {"\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"referrals\",\"target\":1,\"reward\":{\"xp\":1}}]}",
         "quests.list[0].kind"},
        {"\"referrals\":{\"referrer_points\":1},\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"referrals\","
         "\"target\":1,\"lines\":{\"skus\":[\"A\"]},\"reward\":{\"xp\":1}}]}", "quests.list[0].lines"},
        {"\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"coupon\":\"nope\"}}]}",
         "quests.list[0].reward.coupon"},
        {"\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"coupon\":\"pub\"}}]}",
         "quests.list[0].reward.coupon"},
        {"\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"coupon\":\"multi\"}}]}",
         "quests.list[0].reward.coupon"},
        {"\"quests\":{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"coupon\":7}}]}",
         "quests.list[0].reward.coupon"},
        {"\"quests\":{\"list\":[],\"streak\":{\"rewards\":[{\"weeks\":2,\"coupon\":\"nope\"}]}}",
         "quests.streak.rewards[0].coupon"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[4096];
        snprintf(text, sizeof text, PROGRAM_HEAD COUPONS "%s}", bad[i].rest);
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        if (ly_program_parse(text, strlen(text), &p, &err) == LY_OK) fail_msg("case %zu parsed", i);
        if (strcmp(err.field, bad[i].field) != 0)
            fail_msg("case %zu: %s (%s) instead of %s", i, err.field, err.message, bad[i].field);
    }
    /* The good program parses, and a coupon alone is a reward. */
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    if (ly_program_parse(programText, strlen(programText), &p, &err) != LY_OK)
        fail_msg("%s: %s", err.field, err.message);
    ly_program_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_friends_qualifying_purchase_counts_for_the_referrer_once, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_partial_return_keeps_the_referral_and_a_full_one_takes_it_back, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(dates_and_the_hold_out_of_a_referral_quest_are_the_referrers, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_second_friend_completes_it_with_points_and_a_code_that_a_return_keeps, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_completed_quest_issues_a_personal_code_redeemable_once_by_its_owner, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_streak_step_can_give_a_code_too, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(receipts_crossing_the_target_at_once_issue_one_code, setUp, tl_svc_teardown),
        cmocka_unit_test(program_file_errors_name_the_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
