/*
 * test_tiers.c - tiers and the club through the service on a real database: the upgrade
 * at confirm (by spend and by count) with its history row and the tier's earn rate, the
 * downgrade only at period end after the grace period (rolling and calendar), the progress
 * shown on the profile, returns lowering the qualifying spend, exactly one upgrade when
 * many confirms cross a threshold at once, the club by rule and by invitation, and a
 * club-only rule applying to members only.
 */
#include "testlib.h"

#include "os/os.h"
#include "program/program.h"
#include "service/service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Basic; Silver at 100.00 (+1%); Gold at 500.00 or 10 receipts (8%); the club: Gold and
 * 6 receipts in 90 days, or an invitation. */
static const char *programTemplate =
    "{\"name\":\"T\",\"version\":\"t-1\",\"currency\":\"RUB\",\"minor_units\":2,"
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\"},"
    "\"rules\":["
    " {\"id\":\"gold-bonus\",\"conditions\":{\"facts\":[{\"name\":\"tier\",\"equals\":\"gold\"}]},"
    "  \"effect\":{\"type\":\"points_fixed\",\"points\":11}},"
    " {\"id\":\"club-10\",\"conditions\":{\"facts\":[{\"name\":\"club\",\"equals\":\"member\"}]},"
    "  \"effect\":{\"type\":\"discount_percent\",\"percent\":\"10\"}}],"
    "\"tiers\":{\"period\":\"%s\",%s\"grace_days\":5,\"levels\":["
    " {\"id\":\"basic\",\"name\":\"Basic\"},"
    " {\"id\":\"silver\",\"name\":\"Silver\",\"min_spend\":\"100.00\",\"earn\":{\"extra_percent\":\"1\"},"
    "  \"benefits\":[{\"id\":\"till\",\"name\":\"Priority till\"}]},"
    " {\"id\":\"gold\",\"name\":\"Gold\",\"min_spend\":\"500.00\",\"min_receipts\":10,\"match\":\"any\","
    "  \"earn\":{\"rate_percent\":\"8\"},"
    "  \"benefits\":[{\"id\":\"gold-11\",\"name\":\"11 points a visit\",\"rule\":\"gold-bonus\"}]}]},"
    "\"club\":{\"name\":\"Inner circle\",\"rule\":{\"min_tier\":\"gold\",\"min_receipts\":6,\"window_days\":90},"
    " \"benefits\":[{\"id\":\"early\",\"name\":\"Early access\",\"text\":\"48 hours before everyone\"},"
    "  {\"id\":\"ten\",\"name\":\"10%% off\",\"rule\":\"club-10\"}]}}";

typedef struct fixture {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    int64_t anna, boris, clara;
} fixture;

static int64_t enrol(fixture *f, const char *card)
{
    return tl_svc_enrol(&f->s, card, "2026-12-01T00:00:00Z");
}

static fixture *open_(const char *period)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char *text = tl_strdupf(programTemplate, period, strcmp(period, "rolling") == 0 ? "\"window_days\":30," : "");
    tl_svc_open(&f->s, "tiers", text);
    free(text);
    f->anna = enrol(f, "CARD-A");
    f->boris = enrol(f, "CARD-B");
    f->clara = enrol(f, "CARD-C");
    return f;
}

static int setUpRolling(void **state)
{
    *state = open_("rolling");
    return 0;
}

static int setUpMonth(void **state)
{
    *state = open_("month");
    return 0;
}

/* Confirms a one-line receipt of amount (minor units) for card at when (UTC, Z). */
static ly_err buyIn(ly_service *svc, ly_arena *a, const char *id, const char *card,
                    const char *when, ly_money amount, ly_op *op)
{
    ly_line *l = ly_arena_alloc(a, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = "any", .qty = 1000, .price = amount, .amount = amount};
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = a;
    op->now = tl_at(when);
    ly_checkout *c = &op->in.confirm;
    c->receipt = (ly_receipt){.receipt_id = ly_arena_strdup(a, id), .store = "S1",
                              .channel = LY_SALES_STORE, .time = op->now, .utc_offset_min = 180,
                              .total = amount, .lines = l, .n_lines = 1};
    c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
    ly_os_hash(id, strlen(id), op->request_hash);
    return ly_service_run(svc, op);
}

static ly_op *buy(fixture *f, const char *id, const char *card, const char *when, ly_money amount)
{
    ly_op *op = ly_arena_alloc(&f->s.arena, sizeof *op);
    ly_err rc = buyIn(f->s.svc, &f->s.arena, id, card, when, amount, op);
    if (rc != LY_OK) fail_msg("confirm %s: %s %s", id, op->err.code, op->err.message);
    return op;
}

static void giveBack(fixture *f, const char *receipt, const char *ret, const char *when, ly_qty qty)
{
    ly_return_request_line *rl = ly_arena_alloc(&f->s.arena, sizeof *rl);
    *rl = (ly_return_request_line){.line = 0, .qty = qty};
    ly_op op = {.kind = LY_OP_RETURN, .arena = &f->s.arena, .now = tl_at(when)};
    op.in.ret = (ly_return_request){.receipt_id = receipt, .return_id = ret, .time = op.now,
                                    .lines = rl, .n_lines = 1};
    ly_os_hash(ret, strlen(ret), op.request_hash);
    if (ly_service_run(f->s.svc, &op) != LY_OK) fail_msg("return %s: %s", ret, op.err.message);
}

static ly_tier_view view(fixture *f, int64_t id, const char *when, ly_club_view *club)
{
    ly_tier_view t;
    ly_club_view c;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_tier_view(f->s.svc, id, tl_at(when), &f->s.arena, &t, &c, &err) != LY_OK)
        fail_msg("tier view: %s", err.message);
    if (club) *club = c;
    return t;
}

static ly_maintain_result maintain(fixture *f, const char *when)
{
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_maintain(f->s.svc, tl_at(when), &r, &err) != LY_OK) fail_msg("maintain: %s", err.message);
    return r;
}

/* The tier changes of a customer as "basic>silver upgrade" lines. */
static char *history(fixture *f, int64_t id)
{
    ly_tier_change *h;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_tier_history(f->s.svc, id, 100, &f->s.arena, &h, &n, &err), LY_OK);
    char *out = ly_arena_strdup(&f->s.arena, "");
    for (size_t i = 0; i < n; i++)
        out = ly_arena_printf(&f->s.arena, "%s%s%s>%s %s", out, i ? "; " : "", h[i].from_tier,
                              h[i].to_tier, h[i].change);
    return out;
}

static void dayIs(int64_t day, const char *ymd)
{
    int64_t want;
    assert_true(ly_date_parse(ymd, &want));
    if (day != want) {
        int y;
        unsigned m, d;
        ly_civil_from_days(day, &y, &m, &d);
        fail_msg("day %04d-%02u-%02u, expected %s", y, m, d, ymd);
    }
}

/* ---------------------------------------------------------------------------------------
 * Upgrades
 * ------------------------------------------------------------------------------------- */

static void an_upgrade_happens_at_the_confirm_that_qualifies(void **state)
{
    fixture *f = *state;
    buy(f, "A-1", "CARD-A", "2027-01-01T09:00:00Z", 6000);
    ly_tier_view t = view(f, f->anna, "2027-01-01T10:00:00Z", NULL);
    assert_string_equal(t.id, "basic");
    assert_int_equal(t.figures.spend, 6000);
    assert_int_equal(t.spend_more, 4000);
    assert_string_equal(t.next_id, "silver");
    assert_string_equal(t.progress, "spend 40.00 more by 2027-01-30");
    assert_true(t.held_until_day == LY_DAY_FOREVER);
    assert_int_equal(t.earn_rate_bp, 500);

    /* 60.00 + 50.00 crosses 100.00: Silver at once, in the same write job. */
    ly_op *op = buy(f, "A-2", "CARD-A", "2027-01-05T09:00:00Z", 5000);
    assert_int_equal(op->out.confirm.pricing.earn, 2); /* priced at Basic's 5%: 2.50 -> 2 */
    assert_string_equal(history(f, f->anna), "basic>silver upgrade");
    t = view(f, f->anna, "2027-01-05T10:00:00Z", NULL);
    assert_string_equal(t.id, "silver");
    assert_int_equal(t.since, tl_at("2027-01-05T09:00:00Z"));
    assert_int_equal(t.earn_rate_bp, 600);
    assert_int_equal(t.n_benefits, 1);
    assert_string_equal(t.benefits[0].name, "Priority till");
    /* Held until the 2027-01-01 receipt leaves the 30-day window (2027-01-31), + 5 days. */
    dayIs(t.held_until_day, "2027-02-04");
    assert_string_equal(t.progress, "spend 390.00 more or make 8 more purchases by 2027-01-30");
    assert_int_equal(t.spend_more, 39000);
    assert_int_equal(t.receipts_more, 8);

    /* The next receipt earns Silver's 6%, and a receipt that qualifies for nothing new
     * writes no history. */
    op = buy(f, "A-3", "CARD-A", "2027-01-06T09:00:00Z", 10000);
    assert_int_equal(op->out.confirm.pricing.earn, 6);
    assert_string_equal(history(f, f->anna), "basic>silver upgrade");
}

static void an_upgrade_by_number_of_receipts_reaches_the_rules(void **state)
{
    fixture *f = *state;
    char id[32];
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "B-%d", i);
        buy(f, id, "CARD-B", "2027-01-10T09:00:00Z", 100);
    }
    assert_string_equal(view(f, f->boris, "2027-01-10T10:00:00Z", NULL).id, "basic");
    buy(f, "B-9", "CARD-B", "2027-01-10T09:30:00Z", 100);
    /* 10 receipts of 1.00: Gold by count ("any"), straight past Silver. */
    assert_string_equal(history(f, f->boris), "basic>gold upgrade");
    ly_op *op = buy(f, "B-10", "CARD-B", "2027-01-11T09:00:00Z", 10000);
    /* Gold: the fact tier = gold gives 11 points and the rate is 8%; Gold with 10 receipts
     * in 90 days also made him a club member, whose rule takes 10% off: 8% of 90.00. */
    assert_int_equal(op->out.confirm.pricing.bonus, 11);
    assert_int_equal(op->out.confirm.pricing.rule_discount, 1000);
    assert_int_equal(op->out.confirm.pricing.earn, 7 + 11);
    ly_tier_view t = view(f, f->boris, "2027-01-11T10:00:00Z", NULL);
    assert_false(t.has_next);
    assert_null(t.progress);
    /* Clara, still Basic, gets neither. */
    op = buy(f, "C-1", "CARD-C", "2027-01-11T09:00:00Z", 10000);
    assert_int_equal(op->out.confirm.pricing.bonus, 0);
    assert_int_equal(op->out.confirm.pricing.earn, 5);
}

/* ---------------------------------------------------------------------------------------
 * Downgrades
 * ------------------------------------------------------------------------------------- */

static void a_rolling_tier_falls_only_after_its_window_and_grace(void **state)
{
    fixture *f = *state;
    buy(f, "A-1", "CARD-A", "2027-01-01T09:00:00Z", 6000);
    buy(f, "A-2", "CARD-A", "2027-01-05T09:00:00Z", 5000);
    static const struct {
        const char *when;
        const char *tier;
        int64_t downgraded;
    } steps[] = {
        {"2027-01-20T01:00:00Z", "silver", 0},
        {"2027-01-31T01:00:00Z", "silver", 0}, /* the window no longer qualifies: grace */
        {"2027-02-04T01:00:00Z", "silver", 0}, /* the last day of grace */
        {"2027-02-05T01:00:00Z", "basic", 1},
        {"2027-02-06T01:00:00Z", "basic", 0},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        ly_maintain_result r = maintain(f, steps[i].when);
        assert_true(r.tiers_evaluated);
        if (r.tiers_downgraded != steps[i].downgraded || strcmp(view(f, f->anna, steps[i].when, NULL).id, steps[i].tier) != 0)
            fail_msg("%s: %lld downgrades, tier %s; expected %lld, %s", steps[i].when,
                     (long long)r.tiers_downgraded, view(f, f->anna, steps[i].when, NULL).id,
                     (long long)steps[i].downgraded, steps[i].tier);
    }
    /* Once a day: a second run the same local day does nothing. */
    assert_false(maintain(f, "2027-02-06T05:00:00Z").tiers_evaluated);
    assert_string_equal(history(f, f->anna), "basic>silver upgrade; silver>basic downgrade");
}

static void a_purchase_in_grace_keeps_the_tier(void **state)
{
    fixture *f = *state;
    buy(f, "A-1", "CARD-A", "2027-01-01T09:00:00Z", 6000);
    buy(f, "A-2", "CARD-A", "2027-01-05T09:00:00Z", 5000);
    maintain(f, "2027-02-02T01:00:00Z"); /* in grace */
    buy(f, "A-3", "CARD-A", "2027-02-02T09:00:00Z", 6000); /* 50.00 + 60.00 in the window */
    maintain(f, "2027-02-05T01:00:00Z");
    ly_tier_view t = view(f, f->anna, "2027-02-05T02:00:00Z", NULL);
    assert_string_equal(t.id, "silver");
    dayIs(t.held_until_day, "2027-02-08"); /* A-2 leaves on 2027-02-04: 2027-02-03 + 5 */
    assert_string_equal(history(f, f->anna), "basic>silver upgrade");
}

static void a_calendar_tier_is_held_through_the_next_month(void **state)
{
    fixture *f = *state;
    buy(f, "A-1", "CARD-A", "2027-01-20T09:00:00Z", 12000);
    ly_tier_view t = view(f, f->anna, "2027-01-20T10:00:00Z", NULL);
    assert_string_equal(t.id, "silver");
    dayIs(t.held_until_day, "2027-03-05"); /* February, then 5 days of grace */
    assert_string_equal(t.period, "month");
    dayIs(t.period_first_day, "2027-01-01");
    dayIs(t.period_last_day, "2027-01-31");
    assert_string_equal(t.progress, "spend 380.00 more or make 9 more purchases by 2027-01-31");
    static const struct {
        const char *when, *tier;
    } steps[] = {
        {"2027-02-01T01:00:00Z", "silver"}, {"2027-02-28T01:00:00Z", "silver"},
        {"2027-03-05T01:00:00Z", "silver"}, {"2027-03-06T01:00:00Z", "basic"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        maintain(f, steps[i].when);
        assert_string_equal(view(f, f->anna, steps[i].when, NULL).id, steps[i].tier);
    }
    assert_string_equal(history(f, f->anna), "basic>silver upgrade; silver>basic downgrade");
}

static void a_return_lowers_the_spend_but_downgrades_only_at_the_evaluation(void **state)
{
    fixture *f = *state;
    /* One line of 2 units for 120.00: Silver. */
    ly_line *l = ly_arena_alloc(&f->s.arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .qty = 2000, .price = 6000, .amount = 12000};
    ly_op op = {.kind = LY_OP_CONFIRM, .arena = &f->s.arena, .now = tl_at("2027-01-01T09:00:00Z")};
    op.in.confirm.receipt = (ly_receipt){.receipt_id = "R-1", .store = "S1", .time = op.now,
                                         .utc_offset_min = 180, .total = 12000, .lines = l, .n_lines = 1};
    op.in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = "CARD-A"};
    ly_os_hash("R-1", 3, op.request_hash);
    assert_int_equal(ly_service_run(f->s.svc, &op), LY_OK);
    assert_string_equal(view(f, f->anna, "2027-01-01T10:00:00Z", NULL).id, "silver");
    giveBack(f, "R-1", "RET-1", "2027-01-02T09:00:00Z", 1000);
    ly_tier_view t = view(f, f->anna, "2027-01-02T10:00:00Z", NULL);
    assert_string_equal(t.id, "silver"); /* no downgrade at a return */
    assert_int_equal(t.figures.spend, 6000);
    assert_int_equal(t.figures.receipts, 1);
    /* The figures never qualified once netted: held for the grace period from the day it
     * was reached (2027-01-01 - 1 + 5). */
    dayIs(t.held_until_day, "2027-01-05");
    maintain(f, "2027-01-05T01:00:00Z");
    assert_string_equal(view(f, f->anna, "2027-01-05T02:00:00Z", NULL).id, "silver");
    maintain(f, "2027-01-06T01:00:00Z");
    assert_string_equal(view(f, f->anna, "2027-01-06T02:00:00Z", NULL).id, "basic");
    /* A full return leaves a receipt that no longer counts. */
    giveBack(f, "R-1", "RET-2", "2027-01-06T09:00:00Z", 1000);
    t = view(f, f->anna, "2027-01-06T10:00:00Z", NULL);
    assert_int_equal(t.figures.spend, 0);
    assert_int_equal(t.figures.receipts, 0);
}

/* ---------------------------------------------------------------------------------------
 * Concurrency
 * ------------------------------------------------------------------------------------- */

typedef struct racer {
    ly_service *svc;
    pthread_barrier_t *start;
    int i;
    ly_err rc;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    ly_arena a = {0};
    char id[32];
    snprintf(id, sizeof id, "RACE-%d", r->i);
    ly_op op;
    pthread_barrier_wait(r->start);
    r->rc = buyIn(r->svc, &a, id, "CARD-C", "2027-03-01T09:00:00Z", 2000, &op);
    ly_arena_free(&a);
    return NULL;
}

static void many_confirms_crossing_a_threshold_upgrade_once(void **state)
{
    fixture *f = *state;
    enum { N = 9 }; /* 9 x 20.00: Silver (100.00) crossed, Gold (10 receipts) not */
    pthread_t th[N];
    racer rs[N];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    for (int i = 0; i < N; i++) {
        rs[i] = (racer){.svc = f->s.svc, .start = &start, .i = i};
        assert_int_equal(pthread_create(&th[i], NULL, race, &rs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(rs[i].rc, LY_OK);
    }
    pthread_barrier_destroy(&start);
    assert_string_equal(history(f, f->clara), "basic>silver upgrade");
    ly_tier_view t = view(f, f->clara, "2027-03-01T10:00:00Z", NULL);
    assert_string_equal(t.id, "silver");
    assert_int_equal(t.figures.spend, N * 2000);
    assert_int_equal(t.figures.receipts, N);
}

/* ---------------------------------------------------------------------------------------
 * The club
 * ------------------------------------------------------------------------------------- */

static ly_money clubDiscount(fixture *f, const char *card, const char *when)
{
    ly_line l = {.sku = "SKU", .qty = 1000, .price = 10000, .amount = 10000};
    ly_checkout in = {.receipt = {.receipt_id = "CALC", .store = "S1", .time = tl_at(when),
                                  .utc_offset_min = 180, .total = 10000, .lines = &l, .n_lines = 1},
                      .who = {.kind = LY_ID_CARD, .value = card}};
    ly_checkout_result res;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_calculate(f->s.svc, &in, tl_at(when), &f->s.arena, &res, &err) != LY_OK)
        fail_msg("calculate: %s", err.message);
    return res.pricing.rule_discount;
}

static void the_club_by_rule_and_by_invitation(void **state)
{
    fixture *f = *state;
    char id[32];
    /* Anna: 10 receipts (Gold by count) and at least 6 in 90 days: a member by rule, at the
     * confirm that made her Gold. */
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "A-%d", i);
        buy(f, id, "CARD-A", "2027-01-10T09:00:00Z", 100);
    }
    ly_club_view club;
    view(f, f->anna, "2027-01-10T10:00:00Z", &club);
    assert_true(club.has_club);
    assert_true(club.member);
    assert_string_equal(club.via, "rule");
    assert_int_equal(club.n_benefits, 2);
    assert_string_equal(club.benefits[0].text, "48 hours before everyone"); /* non-monetary */
    assert_string_equal(club.benefits[1].rule, "club-10");
    /* Boris is invited; Clara is not a member. */
    ly_club_member m;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_club_invite(f->s.svc, f->boris, "store manager", tl_at("2027-01-10T12:00:00Z"),
                                            &f->s.arena, &m, &err), LY_OK);
    assert_string_equal(m.via, "invitation");
    assert_int_equal(ly_service_club_invite(f->s.svc, f->boris, NULL, tl_at("2027-01-10T12:00:00Z"),
                                            &f->s.arena, &m, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "already_member");
    assert_int_equal(ly_service_club_invite(f->s.svc, 999, NULL, tl_at("2027-01-10T12:00:00Z"),
                                            &f->s.arena, &m, &err), LY_ENOTFOUND);
    /* The club-only rule: 10% for members only. */
    assert_int_equal(clubDiscount(f, "CARD-A", "2027-01-11T09:00:00Z"), 1000);
    assert_int_equal(clubDiscount(f, "CARD-B", "2027-01-11T09:00:00Z"), 1000);
    assert_int_equal(clubDiscount(f, "CARD-C", "2027-01-11T09:00:00Z"), 0);
    ly_club_member *list;
    size_t n;
    assert_int_equal(ly_service_club_members(f->s.svc, 0, 10, &f->s.arena, &list, &n, &err), LY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(list[0].customer_id, f->anna);
    assert_int_equal(list[1].customer_id, f->boris);
    assert_string_equal(list[1].note, "store manager");

    /* Four months on, Anna is no longer Gold nor a frequent buyer: the scheduler takes her
     * out; Boris's invitation stands. */
    ly_maintain_result r = maintain(f, "2027-05-20T01:00:00Z");
    assert_int_equal(r.club_left, 1);
    assert_int_equal(r.tiers_downgraded, 1);
    view(f, f->anna, "2027-05-20T02:00:00Z", &club);
    assert_false(club.member);
    assert_int_equal(club.n_benefits, 0);
    assert_int_equal(clubDiscount(f, "CARD-A", "2027-05-20T09:00:00Z"), 0);
    assert_int_equal(clubDiscount(f, "CARD-B", "2027-05-20T09:00:00Z"), 1000);
    assert_int_equal(ly_service_club_members(f->s.svc, 0, 10, &f->s.arena, &list, &n, &err), LY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].customer_id, f->boris);
    /* An admin removes Boris; removing again is not_a_member. */
    assert_int_equal(ly_service_club_remove(f->s.svc, f->boris, tl_at("2027-05-21T00:00:00Z"), &err), LY_OK);
    assert_int_equal(ly_service_club_remove(f->s.svc, f->boris, tl_at("2027-05-21T00:00:00Z"), &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "not_a_member");
    assert_int_equal(clubDiscount(f, "CARD-B", "2027-05-21T09:00:00Z"), 0);
}

/* Every mistake in "tiers" and "club" is named by its path. */
static void tier_and_club_errors_name_their_path(void **state)
{
    (void)state;
    static const struct {
        const char *tiers, *club, *field;
    } cases[] = {
        {"{\"levels\":[{\"id\":\"a\",\"min_spend\":\"1.00\"}]}", NULL, "tiers.levels[0]"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"b\"}]}", NULL, "tiers.levels[1]"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"b\",\"min_spend\":\"9.99.9\"}]}", NULL, "tiers.levels[1].min_spend"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"b\",\"min_spend\":\"10\"},{\"id\":\"c\",\"min_spend\":\"5\"}]}", NULL, "tiers.levels[2]"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"a\",\"min_receipts\":2}]}", NULL, "tiers.levels[1].id"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"b\",\"min_receipts\":2,\"match\":\"most\"}]}", NULL, "tiers.levels[1].match"},
        {"{\"levels\":[{\"id\":\"a\"},{\"id\":\"b\",\"min_receipts\":2,\"earn\":{\"rate_percent\":\"5\",\"extra_percent\":\"1\"}}]}", NULL, "tiers.levels[1].earn"},
        {"{\"levels\":[{\"id\":\"a\",\"benefits\":[{\"id\":\"x\",\"name\":\"X\",\"rule\":\"nope\"}]}]}", NULL, "tiers.levels[0].benefits[0].rule"},
        {"{\"levels\":[{\"id\":\"a\",\"benefits\":[{\"id\":\"x\"}]}]}", NULL, "tiers.levels[0].benefits[0].name"},
        {"{\"period\":\"month\",\"window_days\":30,\"levels\":[{\"id\":\"a\"}]}", NULL, "tiers.window_days"},
        {"{\"period\":\"week\",\"levels\":[{\"id\":\"a\"}]}", NULL, "tiers.period"},
        {"{\"levels\":[]}", NULL, "tiers.levels"},
        {"{\"levels\":[{\"id\":\"a\"}],\"grace\":3}", NULL, "tiers.grace"},
        {"{\"levels\":[{\"id\":\"a\"}]}", "{\"rule\":{\"min_tier\":\"z\"}}", "club.rule.min_tier"},
        {"{\"levels\":[{\"id\":\"a\"}]}", "{\"rule\":{}}", "club.rule"},
        {NULL, "{\"invitations\":false}", "club"},
        {NULL, "{\"rule\":{\"min_receipts\":3,\"window_days\":0}}", "club.rule.window_days"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = tl_strdupf("{\"name\":\"T\",\"currency\":\"RUB\",\"time_zone\":\"Europe/Moscow\","
                                "\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
                                "\"points\":{\"value\":\"1.00\"}%s%s%s%s}",
                                cases[i].tiers ? ",\"tiers\":" : "", cases[i].tiers ? cases[i].tiers : "",
                                cases[i].club ? ",\"club\":" : "", cases[i].club ? cases[i].club : "");
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        ly_err rc = ly_program_parse(text, strlen(text), &p, &err);
        if (rc == LY_OK) {
            ly_program_free(&p);
            fail_msg("case %zu loaded: %s", i, text);
        }
        if (strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: field %s (%s), expected %s", i, err.field, err.message, cases[i].field);
        free(text);
    }
}

static void money_text_separates_thousands(void **state)
{
    (void)state;
    static const struct {
        ly_money v;
        int units;
        const char *text;
    } cases[] = {{124000, 2, "1,240.00"}, {5, 2, "0.05"},           {100000000, 2, "1,000,000.00"},
                 {999, 0, "999"},         {1234567, 0, "1,234,567"}, {-123456, 2, "-1,234.56"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[48];
        ly_service_money_text(cases[i].v, cases[i].units, buf, sizeof buf);
        assert_string_equal(buf, cases[i].text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_upgrade_happens_at_the_confirm_that_qualifies, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(an_upgrade_by_number_of_receipts_reaches_the_rules, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_rolling_tier_falls_only_after_its_window_and_grace, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_purchase_in_grace_keeps_the_tier, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_calendar_tier_is_held_through_the_next_month, setUpMonth, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_return_lowers_the_spend_but_downgrades_only_at_the_evaluation, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(many_confirms_crossing_a_threshold_upgrade_once, setUpRolling, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(the_club_by_rule_and_by_invitation, setUpRolling, tl_svc_teardown),
        cmocka_unit_test(tier_and_club_errors_name_their_path),
        cmocka_unit_test(money_text_separates_thousands),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
