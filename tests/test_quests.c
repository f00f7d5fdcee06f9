/*
 * test_quests.c - quests, badges and levels through the service on a real database:
 * progress under receipts, partial and full returns (a completed quest keeps its reward),
 * many confirms crossing the target at once (rewarded exactly once), the period roll-over
 * of a recurring quest, audience filtering (club), levels from XP, calculate's preview that
 * changes nothing, the kinds counting answer sets, custom events and receipts in a category
 * never bought, and the program file's errors.
 */
#include "testlib.h"

#include "core/quests.h"
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
    "{\"name\":\"T\",\"version\":\"q1\",\"currency\":\"RUB\",\"minor_units\":2,"                   \
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"   \
    "\"earn\":{\"rate_percent\":\"5\"},"                                                           \
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"

static const char *programText =
    PROGRAM_HEAD
    "\"club\":{\"name\":\"Inner circle\",\"invitations\":true},"
    "\"questionnaires\":[{\"id\":\"visit\",\"questions\":[{\"id\":\"q1\",\"kind\":\"nps\"}]},"
    " {\"id\":\"other\",\"questions\":[{\"id\":\"q1\",\"kind\":\"nps\"}]}],"
    "\"events\":[{\"type\":\"review\",\"points\":5}],"
    "\"quests\":{\"list\":["
    "{\"id\":\"reviewer\",\"kind\":\"event\",\"event\":\"review\",\"target\":2,"
    " \"reward\":{\"badge\":\"critic\",\"points\":15}},"
    "{\"id\":\"voice\",\"kind\":\"answers\",\"questionnaire\":\"visit\",\"target\":2,"
    " \"period\":\"month\",\"reward\":{\"points\":30,\"badge\":\"voice\"}},"
    "{\"id\":\"explore\",\"kind\":\"new_category\",\"target\":2,"
    " \"lines\":{\"categories\":[\"garden\",\"books\",\"tools\"]},\"reward\":{\"points\":40}},"
    "{\"id\":\"three\",\"name\":\"3 deals this month\",\"kind\":\"deals\",\"target\":3,"
    " \"period\":\"month\",\"reward\":{\"points\":100,\"badge\":\"regular\",\"xp\":60}},"
    "{\"id\":\"shoes\",\"kind\":\"spend\",\"target\":\"5000.00\",\"period\":\"week\","
    " \"lines\":{\"categories\":[\"shoes\"]},\"reward\":{\"points\":250,\"xp\":50}},"
    "{\"id\":\"club\",\"kind\":\"deals\",\"target\":1,\"audience\":{\"club\":true},"
    " \"reward\":{\"badge\":\"insider\"}},"
    "{\"id\":\"hold\",\"kind\":\"deals\",\"target\":1,\"lines\":{\"categories\":[\"toys\"]},"
    " \"holdout_percent\":50,\"reward\":{\"points\":5}}"
    "],\"levels\":[{\"id\":\"novice\",\"xp\":0},{\"id\":\"pro\",\"name\":\"Pro\",\"xp\":100}],"
    " \"streak\":{\"rewards\":[{\"weeks\":2,\"points\":7},{\"weeks\":3,\"points\":11,\"badge\":\"three-weeks\"}]}}"
    "}";

/* The shared service fixture (testlib.h) is all this test needs. */
typedef tl_svc fixture;

static int setUp(void **state)
{
    *state = tl_svc_new("quests", programText);
    return 0;
}

static int64_t enrol(fixture *f, const char *card)
{
    return tl_svc_enrol(f, card, "2026-11-01T09:00:00Z");
}

/* A receipt of one line of `amount` in category cat. */
static void receiptOf(ly_arena *a, ly_checkout *c, const char *id, const char *card,
                      const char *cat, ly_money amount, const char *when)
{
    memset(c, 0, sizeof *c);
    ly_line *l = ly_arena_alloc(a, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = cat, .qty = 1000, .price = amount, .amount = amount};
    c->receipt = (ly_receipt){.receipt_id = ly_arena_strdup(a, id), .store = "S1", .time = tl_at(when),
                              .utc_offset_min = 180, .total = amount, .lines = l, .n_lines = 1};
    c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
}

/* Confirms; returns the step of quest `quest` in the response (NULL: not advanced). */
static const ly_quest_step *buy(fixture *f, const char *id, const char *card, const char *cat,
                                ly_money amount, const char *when, const char *quest)
{
    ly_op *op = ly_arena_alloc(&f->arena, sizeof *op);
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->arena;
    op->now = tl_at(when);
    receiptOf(&f->arena, &op->in.confirm, id, card, cat, amount, when);
    ly_os_hash(id, strlen(id), op->request_hash);
    if (ly_service_run(f->svc, op) != LY_OK) fail_msg("confirm %s: %s", id, op->err.message);
    assert_true(op->out.confirm.quests_on);
    for (size_t i = 0; i < op->out.confirm.n_quests; i++)
        if (strcmp(op->out.confirm.quests[i].quest_id, quest) == 0) return &op->out.confirm.quests[i];
    return NULL;
}

static const ly_quest_view *questIn(const ly_quests_view *v, const char *id)
{
    for (size_t i = 0; i < v->n_quests; i++)
        if (strcmp(v->quests[i].id, id) == 0) return &v->quests[i];
    return NULL;
}

/* The quests' bonus points. */
static ly_points bonusOf(fixture *f, int64_t id)
{
    return tl_svc_bonus_with(f, id, "quest:");
}

/* Records answer set `id` of customer cid to questionnaire qn at `when`. */
static void answer(fixture *f, const char *id, int64_t cid, const char *qn, const char *when)
{
    ly_answer_request in = {.answer_id = id, .customer_id = cid, .questionnaire = qn,
                            .answers = "{\"q1\":9}", .time = tl_at(when)};
    ly_answer_result out;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_answers_submit(f->svc, &in, tl_at(when), &f->arena, &out, &err) != LY_OK)
        fail_msg("answer %s: %s %s", id, err.field, err.message);
}

/* ---------------------------------------------------------------------------------------
 * Progress
 * ------------------------------------------------------------------------------------- */

static void a_new_category_quest_counts_receipts_with_a_category_never_bought(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "C-NEW");
    const ly_quest_step *st = buy(f, "R-N1", "C-NEW", "garden", 10000, "2026-11-03T10:00:00Z", "explore");
    assert_non_null(st);
    assert_int_equal(st->before, 0);
    assert_int_equal(st->after, 1);
    assert_false(st->completed);
    /* The same category again is not new; a category the quest does not name never counts. */
    assert_null(buy(f, "R-N2", "C-NEW", "garden", 10000, "2026-11-04T10:00:00Z", "explore"));
    assert_null(buy(f, "R-N3", "C-NEW", "food", 10000, "2026-11-04T11:00:00Z", "explore"));
    /* A full return takes the receipt's count back; the category stays bought. */
    tl_svc_return(f, "R-N1", "RET-N1", 0, "2026-11-05T10:00:00Z");
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-05T12:00:00Z");
    assert_string_equal(questIn(&v, "explore")->kind, "new_category");
    assert_int_equal(questIn(&v, "explore")->value, 0);
    assert_null(buy(f, "R-N4", "C-NEW", "garden", 10000, "2026-11-06T10:00:00Z", "explore"));
    st = buy(f, "R-N5", "C-NEW", "books", 10000, "2026-11-07T10:00:00Z", "explore");
    assert_non_null(st);
    assert_int_equal(st->after, 1);
    /* Another customer's purchases do not make a category old for this one. */
    int64_t other = enrol(f, "C-NEW2");
    assert_non_null(buy(f, "R-N6", "C-NEW2", "tools", 10000, "2026-11-07T11:00:00Z", "explore"));
    st = buy(f, "R-N7", "C-NEW", "tools", 10000, "2026-11-08T10:00:00Z", "explore");
    assert_non_null(st);
    assert_int_equal(st->after, 2);
    assert_true(st->completed);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:explore:"), 40);
    assert_int_equal(tl_svc_bonus_with(f, other, "quest:explore:"), 0);
}

static void postEvent(fixture *f, const char *id, const char *card, const char *when)
{
    ly_op op = {.kind = LY_OP_EVENT, .arena = &f->arena, .now = tl_at(when)};
    op.in.event = (ly_event_request){.event_id = id, .type = "review",
                                     .who = {.kind = LY_ID_CARD, .value = card}};
    ly_os_hash(id, strlen(id), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("event %s: %s", id, op.err.message);
}

static void events_advance_an_event_quest_once_each(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "C-EV");
    assert_null(buy(f, "R-E1", "C-EV", "food", 10000, "2026-11-10T10:00:00Z", "reviewer"));
    postEvent(f, "E-1", "C-EV", "2026-11-10T11:00:00Z");
    postEvent(f, "E-1", "C-EV", "2026-11-10T11:00:00Z"); /* a retry counts nothing */
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-10T12:00:00Z");
    assert_string_equal(questIn(&v, "reviewer")->kind, "event");
    assert_int_equal(questIn(&v, "reviewer")->value, 1);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:reviewer:"), 0);
    postEvent(f, "E-2", "C-EV", "2026-11-11T11:00:00Z");
    v = tl_svc_quests(f, id, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "reviewer")->value, 2);
    assert_true(questIn(&v, "reviewer")->completed_at > 0);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:reviewer:"), 15);
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "critic");
    postEvent(f, "E-3", "C-EV", "2026-11-12T11:00:00Z"); /* one-off: rewarded once */
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:reviewer:"), 15);
}

static void answers_advance_an_answers_quest_once_each_and_not_receipts(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "C-ANS");
    /* A receipt does not advance it; another questionnaire's answers do not either. */
    assert_null(buy(f, "R-A1", "C-ANS", "food", 10000, "2026-11-10T10:00:00Z", "voice"));
    answer(f, "A-0", id, "other", "2026-11-10T11:00:00Z");
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-10T12:00:00Z");
    const ly_quest_view *qv = questIn(&v, "voice");
    assert_non_null(qv);
    assert_string_equal(qv->kind, "answers");
    assert_int_equal(qv->value, 0);
    answer(f, "A-1", id, "visit", "2026-11-11T10:00:00Z");
    answer(f, "A-1", id, "visit", "2026-11-11T10:00:00Z"); /* a retry counts nothing */
    v = tl_svc_quests(f, id, "2026-11-11T12:00:00Z");
    assert_int_equal(questIn(&v, "voice")->value, 1);
    assert_int_equal(questIn(&v, "voice")->completed_at, 0);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:voice:"), 0);
    answer(f, "A-2", id, "visit", "2026-11-12T10:00:00Z");
    answer(f, "A-3", id, "visit", "2026-11-13T10:00:00Z");
    v = tl_svc_quests(f, id, "2026-11-13T12:00:00Z");
    assert_int_equal(questIn(&v, "voice")->value, 3);
    assert_true(questIn(&v, "voice")->completed_at > 0);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:voice:"), 30);
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "voice");
    /* The next month starts again at 0. */
    answer(f, "A-4", id, "visit", "2026-12-02T10:00:00Z");
    v = tl_svc_quests(f, id, "2026-12-02T12:00:00Z");
    assert_int_equal(questIn(&v, "voice")->value, 1);
    assert_int_equal(tl_svc_bonus_with(f, id, "quest:voice:"), 30);
}

static void receipts_advance_a_deals_quest_and_the_third_completes_it_once(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    const ly_quest_step *s = buy(f, "R1", "A", "food", 1000, "2026-11-10T10:00:00Z", "three");
    assert_non_null(s);
    assert_int_equal(s->before, 0);
    assert_int_equal(s->after, 1);
    assert_false(s->completed);
    buy(f, "R2", "A", "food", 1000, "2026-11-11T10:00:00Z", "three");
    s = buy(f, "R3", "A", "food", 1000, "2026-11-12T10:00:00Z", "three");
    assert_true(s->completed);
    assert_int_equal(s->after, 3);
    assert_int_equal(bonusOf(f, id), 100);
    /* A fourth deal in the month counts on, rewards nothing more. */
    s = buy(f, "R4", "A", "food", 1000, "2026-11-13T10:00:00Z", "three");
    assert_false(s->completed);
    assert_int_equal(s->after, 4);
    assert_int_equal(bonusOf(f, id), 100);
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-14T10:00:00Z");
    const ly_quest_view *q = questIn(&v, "three");
    assert_non_null(q);
    assert_int_equal(q->value, 4);
    assert_true(q->completed_at != 0);
    assert_string_equal(q->period, "M2026-11");
    int64_t last;
    assert_true(ly_date_parse("2026-11-30", &last));
    assert_int_equal(q->deadline_day, last);
    assert_int_equal(v.n_badges, 1);
    assert_string_equal(v.badges[0].badge, "regular");
    assert_int_equal(v.xp, 60);
    assert_string_equal(v.level_id, "novice");
    assert_string_equal(v.next_level_id, "pro");
    assert_int_equal(v.xp_to_next, 40);
    /* The club quest is for members only: not shown, not advanced. */
    assert_null(questIn(&v, "club"));
}

static void a_spend_quest_counts_only_its_lines_and_calculate_previews_without_storing(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    assert_null(buy(f, "R1", "A", "food", 900000, "2026-11-23T10:00:00Z", "shoes"));
    const ly_quest_step *s = buy(f, "R2", "A", "shoes", 300000, "2026-11-23T11:00:00Z", "shoes");
    assert_int_equal(s->after, 300000);
    /* The preview of a receipt that would complete it. */
    ly_checkout c;
    receiptOf(&f->arena, &c, "R3", "A", "shoes", 200000, "2026-11-24T10:00:00Z");
    for (int k = 0; k < 2; k++) {
        ly_checkout_result res;
        ly_error err;
        ly_error_clear(&err);
        assert_int_equal(ly_service_calculate(f->svc, &c, tl_at("2026-11-24T10:00:00Z"), &f->arena, &res, &err), LY_OK);
        assert_true(res.quests_on);
        const ly_quest_step *p = NULL;
        for (size_t i = 0; i < res.n_quests; i++)
            if (strcmp(res.quests[i].quest_id, "shoes") == 0) p = &res.quests[i];
        assert_non_null(p);
        assert_int_equal(p->before, 300000);
        assert_true(p->completed);
    }
    assert_int_equal(bonusOf(f, id), 0); /* the previews gave nothing */
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-24T10:00:00Z");
    assert_int_equal(questIn(&v, "shoes")->value, 300000);
    assert_int_equal(questIn(&v, "shoes")->completed_at, 0);
}

/* ---------------------------------------------------------------------------------------
 * Returns
 * ------------------------------------------------------------------------------------- */

static void returns_take_back_their_share_and_a_completed_quest_keeps_its_reward(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    buy(f, "S1", "A", "shoes", 400000, "2026-11-23T10:00:00Z", "shoes");
    /* Half of it back: 2,000.00 of the 4,000.00 comes off. */
    tl_svc_return(f, "S1", "S1-r1", 500, "2026-11-23T12:00:00Z");
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-23T13:00:00Z");
    assert_int_equal(questIn(&v, "shoes")->value, 200000);
    /* The deal still counts: something of it is kept. */
    assert_int_equal(questIn(&v, "three")->value, 1);
    /* The rest back: the deal and the spend go. */
    tl_svc_return(f, "S1", "S1-r2", 0, "2026-11-23T14:00:00Z");
    v = tl_svc_quests(f, id, "2026-11-23T15:00:00Z");
    assert_int_equal(questIn(&v, "shoes")->value, 0);
    assert_int_equal(questIn(&v, "three")->value, 0);
    /* Complete it, then return below the target: the reward stays, no second one. */
    const ly_quest_step *s = buy(f, "S2", "A", "shoes", 600000, "2026-11-24T10:00:00Z", "shoes");
    assert_true(s->completed);
    assert_int_equal(bonusOf(f, id), 250);
    tl_svc_return(f, "S2", "S2-r1", 0, "2026-11-24T11:00:00Z");
    v = tl_svc_quests(f, id, "2026-11-24T12:00:00Z");
    assert_int_equal(questIn(&v, "shoes")->value, 0);
    assert_true(questIn(&v, "shoes")->completed_at != 0);
    s = buy(f, "S3", "A", "shoes", 600000, "2026-11-25T10:00:00Z", "shoes");
    assert_false(s->completed);
    assert_int_equal(bonusOf(f, id), 250);
    assert_int_equal(tl_svc_quests(f, id, "2026-11-25T12:00:00Z").xp, 50);
}

/* ---------------------------------------------------------------------------------------
 * Periods and audience
 * ------------------------------------------------------------------------------------- */

static void a_recurring_quest_restarts_in_the_next_period(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    assert_true(buy(f, "W1", "A", "shoes", 600000, "2026-11-29T10:00:00Z", "shoes")->completed);
    /* Sunday 23:30 UTC is Monday 02:30 in Moscow: a new ISO week. */
    const ly_quest_step *s = buy(f, "W2", "A", "shoes", 100000, "2026-11-29T23:30:00Z", "shoes");
    assert_int_equal(s->before, 0);
    assert_string_equal(s->period, "W2026-49");
    assert_true(buy(f, "W3", "A", "shoes", 400000, "2026-12-01T10:00:00Z", "shoes")->completed);
    assert_int_equal(bonusOf(f, id), 500);
    /* The month quest rolled over too: W1 and W2 (30 November in Moscow) stay November's,
     * December has W3 only. */
    s = buy(f, "W4", "A", "food", 1000, "2026-12-02T10:00:00Z", "three");
    assert_int_equal(s->before, 1);
    assert_string_equal(s->period, "M2026-12");
    /* 100 XP: Pro. */
    ly_quests_view v = tl_svc_quests(f, id, "2026-12-02T11:00:00Z");
    assert_int_equal(v.xp, 100);
    assert_string_equal(v.level_id, "pro");
    assert_null(v.next_level_id);
}

static void a_quest_for_an_audience_advances_only_for_it(void **state)
{
    fixture *f = *state;
    int64_t a = enrol(f, "A");
    int64_t b = enrol(f, "B");
    ly_club_member m;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_club_invite(f->svc, b, NULL, tl_at("2026-11-02T09:00:00Z"), &f->arena, &m, &err), LY_OK);
    assert_null(buy(f, "A1", "A", "food", 1000, "2026-11-10T10:00:00Z", "club"));
    const ly_quest_step *s = buy(f, "B1", "B", "food", 1000, "2026-11-10T10:00:00Z", "club");
    assert_non_null(s);
    assert_true(s->completed);
    ly_quests_view va = tl_svc_quests(f, a, "2026-11-10T11:00:00Z"), vb = tl_svc_quests(f, b, "2026-11-10T11:00:00Z");
    assert_null(questIn(&va, "club"));
    assert_non_null(questIn(&vb, "club"));
    assert_int_equal(va.n_badges, 0);
    assert_int_equal(vb.n_badges, 1);
    assert_string_equal(vb.badges[0].badge, "insider");
}

static void a_streak_counts_consecutive_weeks_and_rewards_each_step_once_per_streak(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    /* Week 46 (Mon 9 Nov), twice: the second deal of the week does not step it. */
    const ly_quest_step *s = buy(f, "K1", "A", "food", 1000, "2026-11-09T10:00:00Z", "streak");
    assert_non_null(s);
    assert_int_equal(s->after, 1);
    assert_int_equal(s->target, 2);
    assert_null(buy(f, "K2", "A", "food", 1000, "2026-11-15T10:00:00Z", "streak"));
    /* Weeks 47 and 48: 2 weeks (7 points), 3 weeks (11 points and a badge). */
    s = buy(f, "K3", "A", "food", 1000, "2026-11-16T10:00:00Z", "streak");
    assert_true(s->completed);
    assert_int_equal(s->after, 2);
    s = buy(f, "K4", "A", "food", 1000, "2026-11-23T10:00:00Z", "streak");
    assert_true(s->completed);
    assert_int_equal(s->after, 3);
    assert_string_equal(s->badge, "three-weeks");
    assert_int_equal(tl_svc_bonus_with(f, id, "streak:"), 18);
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-30T10:00:00Z"); /* Monday of week 49: still alive */
    assert_int_equal(v.streak_weeks, 3);
    v = tl_svc_quests(f, id, "2026-12-07T10:00:00Z"); /* week 50 without a deal in 49: broken */
    assert_int_equal(v.streak_weeks, 0);
    assert_int_equal(v.streak_best, 3);
    /* A week skipped: a new streak, whose 2 weeks reward again. */
    s = buy(f, "K5", "A", "food", 1000, "2026-12-07T10:00:00Z", "streak");
    assert_int_equal(s->before, 0);
    assert_int_equal(s->after, 1);
    s = buy(f, "K6", "A", "food", 1000, "2026-12-14T10:00:00Z", "streak");
    assert_true(s->completed);
    assert_int_equal(tl_svc_bonus_with(f, id, "streak:"), 25);
    /* A late receipt of an earlier week changes nothing. */
    assert_null(buy(f, "K7", "A", "food", 1000, "2026-11-02T10:00:00Z", "streak"));
    assert_int_equal(tl_svc_quests(f, id, "2026-12-14T12:00:00Z").streak_weeks, 2);
}

/* ---------------------------------------------------------------------------------------
 * The hold-out and the figures
 * ------------------------------------------------------------------------------------- */

static void a_held_out_customer_is_not_offered_the_quest_and_the_report_compares_the_groups(void **state)
{
    fixture *f = *state;
    ly_program prog;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_program_parse(programText, strlen(programText), &prog, &err), LY_OK);
    const ly_quest *hold = NULL;
    for (size_t i = 0; i < prog.quests->n_quests; i++)
        if (strcmp(prog.quests->quests[i].id, "hold") == 0) hold = &prog.quests->quests[i];
    assert_non_null(hold);
    enum { N = 40 };
    int64_t treated = 0, held = 0, treated_deals = 0, held_deals = 0;
    for (int i = 0; i < N; i++) {
        char card[16], rid[16];
        snprintf(card, sizeof card, "H%d", i);
        int64_t id = enrol(f, card);
        bool out = ly_service_quest_held_out(hold, id);
        int deals = i < 20 ? 2 : 1;
        for (int k = 0; k < deals; k++) {
            snprintf(rid, sizeof rid, "H%d-%d", i, k);
            const ly_quest_step *s = buy(f, rid, card, "toys", 1000, "2026-11-10T10:00:00Z", "hold");
            /* Held out: never advanced, never shown. */
            if (out) assert_null(s);
            else assert_non_null(s);
        }
        ly_quests_view v = tl_svc_quests(f, id, "2026-11-11T10:00:00Z");
        assert_true((questIn(&v, "hold") == NULL) == out);
        if (out) {
            held++;
            held_deals += deals;
        } else {
            treated++;
            treated_deals += deals;
        }
    }
    /* Both groups exist at 50%. */
    assert_true(treated > 5 && held > 5);
    ly_quest_figures *fig;
    size_t n;
    assert_int_equal(ly_service_quests_report(f->svc, tl_at("2026-11-01T00:00:00Z"), tl_at("2026-12-01T00:00:00Z"),
                                              &f->arena, &fig, &n, &err), LY_OK);
    assert_int_equal(n, prog.quests->n_quests);
    const ly_quest_figures *h = NULL, *three = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(fig[i].id, "hold") == 0) h = &fig[i];
        if (strcmp(fig[i].id, "three") == 0) three = &fig[i];
    }
    assert_non_null(h);
    assert_false(three->compared); /* no hold-out */
    assert_true(h->compared);
    assert_int_equal(h->started, treated);
    assert_int_equal(h->completed, treated);
    assert_int_equal(h->points_cost, 5 * treated);
    assert_int_equal(h->treated_n, treated);
    assert_int_equal(h->holdout_n, held);
    assert_int_equal(h->completers_n, treated);
    assert_true(h->treated_deals * (double)treated > (double)treated_deals - 1e-9 &&
                h->treated_deals * (double)treated < (double)treated_deals + 1e-9);
    assert_true(h->holdout_deals * (double)held > (double)held_deals - 1e-9 &&
                h->holdout_deals * (double)held < (double)held_deals + 1e-9);
    assert_true(h->uplift_lo <= h->uplift && h->uplift <= h->uplift_hi);

    /* `loyal quests report --json` (and its alias under `loyal report`) prints the same
     * figures. */
    tl_run r;
    tl_loyal(&r, NULL, "report", "quests", "--db", f->db, "--program", f->program, "--from",
             "2026-11-01", "--to", "2026-11-30", "--json", NULL);
    if (r.code != 0) fail_msg("loyal report quests: exit %d: %s", r.code, r.err);
    json_t *js = tl_json_parse(r.out);
    assert_string_equal(tl_json_str(js, "from"), "2026-11-01");
    assert_string_equal(tl_json_str(js, "to"), "2026-11-30");
    json_t *list = json_object_get(js, "quests");
    assert_int_equal(json_array_size(list), n);
    json_t *jh = NULL, *j3 = NULL;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *q = json_array_get(list, i);
        if (strcmp(tl_json_str(q, "id"), "hold") == 0) jh = q;
        if (strcmp(tl_json_str(q, "id"), "three") == 0) j3 = q;
    }
    assert_non_null(jh);
    assert_non_null(j3);
    assert_int_equal(tl_json_int(jh, "started"), treated);
    assert_int_equal(tl_json_int(jh, "points"), 5 * treated);
    assert_int_equal(tl_json_int(jh, "holdout.offered_n"), treated);
    assert_int_equal(tl_json_int(jh, "holdout.held_out_n"), held);
    double dj = json_real_value(tl_json_at(jh, "holdout.difference"));
    assert_true(dj > h->uplift - 1e-9 && dj < h->uplift + 1e-9);
    assert_false(json_is_true(json_object_get(j3, "compared")));
    assert_null(json_object_get(j3, "holdout"));
    json_decref(js);
    tl_run_free(&r);
    ly_program_free(&prog);
}

/* ---------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------- */

typedef struct worker {
    fixture *f;
    int k;
    int completed;
} worker;

static void *confirmMany(void *arg)
{
    worker *w = arg;
    ly_arena a = {0};
    for (int i = 0; i < 5; i++) {
        ly_op op;
        memset(&op, 0, sizeof op);
        char id[32];
        snprintf(id, sizeof id, "C%d-%d", w->k, i);
        op.kind = LY_OP_CONFIRM;
        op.arena = &a;
        op.now = tl_at("2026-11-10T10:00:00Z");
        receiptOf(&a, &op.in.confirm, id, "A", "food", 1000, "2026-11-10T10:00:00Z");
        ly_os_hash(id, strlen(id), op.request_hash);
        if (ly_service_run(w->f->svc, &op) != LY_OK) return NULL;
        for (size_t j = 0; j < op.out.confirm.n_quests; j++)
            if (strcmp(op.out.confirm.quests[j].quest_id, "three") == 0 &&
                op.out.confirm.quests[j].completed)
                w->completed++;
    }
    ly_arena_free(&a);
    return NULL;
}

static void many_confirms_crossing_the_target_at_once_reward_it_exactly_once(void **state)
{
    fixture *f = *state;
    int64_t id = enrol(f, "A");
    enum { THREADS = 8 };
    pthread_t t[THREADS];
    worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){f, i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, confirmMany, &w[i]), 0);
    }
    int completed = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        completed += w[i].completed;
    }
    assert_int_equal(completed, 1);
    assert_int_equal(bonusOf(f, id), 100);
    ly_quests_view v = tl_svc_quests(f, id, "2026-11-10T11:00:00Z");
    assert_int_equal(questIn(&v, "three")->value, THREADS * 5);
    assert_int_equal(v.xp, 60);
}

/* ---------------------------------------------------------------------------------------
 * The pure arithmetic and the program file
 * ------------------------------------------------------------------------------------- */

static void the_core_counts_what_is_left_of_a_receipt(void **state)
{
    (void)state;
    static const char *const cats[] = {"shoes"};
    ly_quest q = {.id = "q", .kind = LY_QUEST_SPEND, .target = 1, .period = LY_PERIOD_WEEK,
                  .day_from = LY_DAY_NEVER, .day_to = LY_DAY_FOREVER};
    q.lines.categories = (ly_strset){cats, 1};
    ly_line l[2] = {{.sku = "a", .category = "shoes", .qty = 3000, .amount = 1000},
                    {.sku = "b", .category = "food", .qty = 1000, .amount = 500}};
    ly_money paid[2] = {1000, 500};
    ly_qty ret[2] = {1000, 0};
    assert_int_equal(ly_quest_value(&q, l, paid, NULL, 2), 1000);
    assert_int_equal(ly_quest_value(&q, l, paid, ret, 2), 666); /* ly_share: 2/3 of 1000 */
    ret[0] = 3000;
    assert_int_equal(ly_quest_value(&q, l, paid, ret, 2), 0);
    q.kind = LY_QUEST_DEALS;
    assert_int_equal(ly_quest_value(&q, l, paid, NULL, 2), 1);
    assert_int_equal(ly_quest_value(&q, l, paid, ret, 2), 0); /* the shoes all went back */
    int64_t wed, sun;
    assert_true(ly_date_parse("2026-11-25", &wed));
    assert_true(ly_date_parse("2026-11-29", &sun));
    assert_int_equal(ly_quest_deadline(&q, wed), sun);
    ly_level lv[2] = {{"a", "a", 0}, {"b", "b", 100}};
    ly_quests qs = {.levels = lv, .n_levels = 2};
    assert_int_equal(ly_quest_level(&qs, 99), 0);
    assert_int_equal(ly_quest_level(&qs, 100), 1);
}

static void program_file_errors_name_the_setting(void **state)
{
    (void)state;
    static const struct {
        const char *quests, *field;
    } bad[] = {
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"visits\",\"target\":1,\"reward\":{\"points\":1}}]}", "quests.list[0].kind"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":0,\"reward\":{\"points\":1}}]}", "quests.list[0].target"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"spend\",\"target\":5,\"reward\":{\"points\":1}}]}", "quests.list[0].target"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"period\":\"day\",\"reward\":{\"points\":1}}]}", "quests.list[0].period"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{}}]}", "quests.list[0].reward"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"xp\":1}},"
         "{\"id\":\"x\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[1]"},
        {"{\"list\":[],\"levels\":[{\"id\":\"a\",\"xp\":5}]}", "quests.levels[0].xp"},
        {"{\"list\":[],\"streaks\":{}}", "quests.streaks"},
        {"{\"list\":[{\"id\":\"streak\",\"kind\":\"deals\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[0].id"},
        {"{\"list\":[],\"streak\":{\"rewards\":[{\"weeks\":4,\"points\":1},{\"weeks\":4,\"points\":2}]}}", "quests.streak.rewards[1].weeks"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"event\",\"event\":\"nope\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[0].event"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"answers\",\"questionnaire\":\"nope\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[0].questionnaire"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"answers\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[0].questionnaire"},
        {"{\"list\":[{\"id\":\"x\",\"kind\":\"deals\",\"questionnaire\":\"v\",\"target\":1,\"reward\":{\"xp\":1}}]}", "quests.list[0].questionnaire"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[2048];
        snprintf(text, sizeof text, PROGRAM_HEAD "\"quests\":%s}", bad[i].quests);
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        if (ly_program_parse(text, strlen(text), &p, &err) == LY_OK) fail_msg("case %zu parsed", i);
        assert_string_equal(err.field, bad[i].field);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(receipts_advance_a_deals_quest_and_the_third_completes_it_once, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(answers_advance_an_answers_quest_once_each_and_not_receipts, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(events_advance_an_event_quest_once_each, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_new_category_quest_counts_receipts_with_a_category_never_bought, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_spend_quest_counts_only_its_lines_and_calculate_previews_without_storing, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(returns_take_back_their_share_and_a_completed_quest_keeps_its_reward, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_recurring_quest_restarts_in_the_next_period, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_quest_for_an_audience_advances_only_for_it, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_streak_counts_consecutive_weeks_and_rewards_each_step_once_per_streak, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_held_out_customer_is_not_offered_the_quest_and_the_report_compares_the_groups, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(many_confirms_crossing_the_target_at_once_reward_it_exactly_once, setUp, tl_svc_teardown),
        cmocka_unit_test(the_core_counts_what_is_left_of_a_receipt),
        cmocka_unit_test(program_file_errors_name_the_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
