/*
 * test_rewards_concurrency.c - budgets, limits and coupon uses under concurrent confirms:
 * 8 threads confirm receipts at once on one in-process service, and
 *  - a points budget of 1000 is spent exactly, never more (the last receipt gets what is left);
 *  - a rule limited to 3 times per customer per day applies exactly 3 times per customer;
 *  - a public coupon with 25 uses is redeemed exactly 25 times; every other attempt is a 422
 *    coupon_used_up; full returns give uses back and exactly that many new uses succeed.
 * Worker threads record what they saw; the main thread asserts (cmocka is not thread-safe).
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define PER_THREAD 40
#define CUSTOMERS 4
#define BUDGET 1000
#define COUPON_USES 25

static const char *programText =
    "{\"name\":\"T\",\"currency\":\"RUB\",\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
    "\"points\":{\"value\":\"1.00\",\"hold_days\":14},"
    "\"rules\":["
    "{\"id\":\"capped-points\",\"effect\":{\"type\":\"points_fixed\",\"points\":7},"
    " \"budget\":{\"points\":1000}},"
    "{\"id\":\"per-day\",\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"1.00\"},"
    " \"limit\":{\"times\":3,\"per\":\"day\"}},"
    "{\"id\":\"rush\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"rush\"}]},"
    " \"effect\":{\"type\":\"discount_fixed\",\"amount\":\"2.00\"}}],"
    "\"coupons\":[{\"id\":\"rush\",\"code\":\"RUSH\",\"uses\":{\"total\":25}}]}";

typedef struct outcome {
    ly_err rc;
    char code[48];
    ly_points capped;     /* points from capped-points */
    bool per_day;
    int customer;
    bool coupon;
} outcome;

typedef struct shared {
    ly_service *svc;
    ly_time now;
    int round;            /* names receipts of this round */
    int per_thread;
    bool coupons_only;
    outcome out[THREADS][PER_THREAD];
} shared;

typedef struct worker {
    shared *sh;
    int t;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    shared *sh = w->sh;
    ly_arena a = {0};
    static const char *const rush[] = {"RUSH"};
    for (int i = 0; i < sh->per_thread; i++) {
        char id[48], card[16];
        snprintf(id, sizeof id, "R%d-%d-%d", sh->round, w->t, i);
        int cust = (w->t + i) % CUSTOMERS;
        snprintf(card, sizeof card, "C%d", cust);
        ly_line line = {.sku = "MILK", .category = "milk", .qty = 1000, .price = 1000, .amount = 1000};
        ly_op op;
        memset(&op, 0, sizeof op);
        op.kind = LY_OP_CONFIRM;
        op.arena = &a;
        op.now = sh->now;
        ly_checkout *c = &op.in.confirm;
        c->receipt = (ly_receipt){.receipt_id = id, .store = "S1", .time = sh->now,
                                  .utc_offset_min = 180, .total = 1000, .lines = &line, .n_lines = 1};
        c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
        bool coupon = sh->coupons_only || i % 2 == 0;
        if (coupon) {
            c->coupons = rush;
            c->n_coupons = 1;
        }
        ly_os_hash(id, strlen(id), op.request_hash);
        outcome *o = &sh->out[w->t][i];
        memset(o, 0, sizeof *o);
        o->rc = ly_service_run(sh->svc, &op);
        o->customer = cust;
        o->coupon = coupon;
        snprintf(o->code, sizeof o->code, "%s", op.err.code);
        if (o->rc == LY_OK)
            for (size_t k = 0; k < op.out.confirm.pricing.n_rules; k++) {
                const ly_rule_result *x = &op.out.confirm.pricing.rules[k];
                if (!x->applied) continue;
                if (strcmp(x->rule->id, "capped-points") == 0) o->capped = x->points;
                if (strcmp(x->rule->id, "per-day") == 0) o->per_day = true;
            }
        ly_arena_free(&a);
    }
    return NULL;
}

static void runAll(shared *sh)
{
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){sh, t};
        assert_int_equal(pthread_create(&th[t], NULL, run, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
}

static ly_time at(const char *s)
{
    ly_time t;
    assert_true(ly_time_parse(s, &t, NULL));
    return t;
}

static void budgets_limits_and_coupons_hold_under_concurrent_confirms(void **state)
{
    (void)state;
    char *dir = tl_tempdir("rw-conc");
    char *db = tl_join(dir, "loyal.db"), *prog = tl_join(dir, "program.json");
    assert_int_equal(tl_write_file(prog, programText, strlen(programText)), 0);
    ly_service_options so = {.db_path = db, .program_path = prog, .sync = LY_SYNC_NORMAL};
    ly_error err;
    ly_error_clear(&err);
    ly_service *svc;
    if (ly_service_open(&so, &svc, &err) != LY_OK) fail_msg("open: %s", err.message);
    ly_arena a = {0};
    for (int i = 0; i < CUSTOMERS; i++) {
        char card[16];
        snprintf(card, sizeof card, "C%d", i);
        ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &a, .now = at("2026-11-01T09:00:00Z")};
        op.in.create.ids[0] = (ly_identifier){LY_ID_CARD, ly_arena_strdup(&a, card)};
        op.in.create.n_ids = 1;
        assert_int_equal(ly_service_run(svc, &op), LY_OK);
    }

    shared *sh = calloc(1, sizeof *sh);
    sh->svc = svc;
    sh->now = at("2026-11-24T09:00:00Z");
    sh->per_thread = PER_THREAD;
    runAll(sh);

    ly_points capped = 0;
    int per_day[CUSTOMERS] = {0}, coupon_ok = 0, used_up = 0, ok = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            const outcome *o = &sh->out[t][i];
            if (o->rc == LY_OK) {
                ok++;
                capped += o->capped;
                per_day[o->customer] += o->per_day;
                coupon_ok += o->coupon;
            } else {
                if (o->rc != LY_EUNPROCESSABLE || strcmp(o->code, "coupon_used_up") != 0 || !o->coupon)
                    fail_msg("receipt %d-%d: rc %d %s", t, i, o->rc, o->code);
                used_up++;
            }
        }
    print_message("%d confirmed, %d refused (coupon used up); capped points %lld\n", ok, used_up,
                  (long long)capped);
    assert_int_equal(coupon_ok, COUPON_USES);
    assert_int_equal(ok + used_up, THREADS * PER_THREAD);
    assert_int_equal(capped, BUDGET); /* 142 x 7 + the 6 left */
    for (int c = 0; c < CUSTOMERS; c++) assert_int_equal(per_day[c], 3);

    /* Five coupon receipts come back in full: five uses are free again, and of 8 x 3 new
     * concurrent attempts exactly five succeed. */
    ly_stored_receipt sr;
    int returned = 0;
    struct { char receipt[48], ret[48]; } ra[5];
    for (int t = 0; t < THREADS && returned < 5; t++)
        for (int i = 0; i < PER_THREAD && returned < 5; i++) {
            const outcome *o = &sh->out[t][i];
            if (o->rc != LY_OK || !o->coupon) continue;
            snprintf(ra[returned].receipt, sizeof ra[returned].receipt, "R0-%d-%d", t, i);
            snprintf(ra[returned].ret, sizeof ra[returned].ret, "RET-%d-%d", t, i);
            ly_error_clear(&err);
            assert_int_equal(ly_service_receipt_get(svc, ra[returned].receipt, &a, &sr, &err), LY_OK);
            returned++;
        }
    assert_int_equal(returned, 5);
    for (int k = 0; k < 5; k++) {
        ly_op op = {.kind = LY_OP_RETURN, .arena = &a, .now = at("2026-11-24T10:00:00Z")};
        op.in.ret = (ly_return_request){.receipt_id = ra[k].receipt, .return_id = ra[k].ret, .full = true};
        ly_os_hash(ra[k].ret, strlen(ra[k].ret), op.request_hash);
        assert_int_equal(ly_service_run(svc, &op), LY_OK);
    }
    sh->round = 1;
    sh->per_thread = 3;
    sh->coupons_only = true;
    sh->now = at("2026-11-25T09:00:00Z");
    runAll(sh);
    int again = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < 3; i++) {
            const outcome *o = &sh->out[t][i];
            if (o->rc == LY_OK) again++;
            else if (strcmp(o->code, "coupon_used_up") != 0) fail_msg("round 2: %s", o->code);
        }
    assert_int_equal(again, 5);

    ly_db *rd = ly_store_reader(ly_service_store(svc), &err);
    assert_non_null(rd);
    ly_points pts;
    ly_money money;
    assert_int_equal(ly_db_rule_budget_get(rd, "capped-points", &pts, &money, &err), LY_OK);
    assert_true(pts <= BUDGET);
    int64_t n = 0, bad = -1;
    assert_int_equal(ly_db_check(rd, NULL, NULL, &n, &bad, &err), LY_OK);
    assert_int_equal(bad, 0);
    free(sh);
    ly_arena_free(&a);
    ly_service_close(svc);
    tl_rmtree(dir);
    free(dir);
    free(db);
    free(prog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budgets_limits_and_coupons_hold_under_concurrent_confirms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
