/*
 * test_rewards_concurrency.c - budgets, limits and coupon uses under concurrent confirms:
 * 8 threads confirm receipts at once on one in-process service, and
 *  - a points budget of 1000 is spent exactly, never more (the last receipt gets what is left);
 *  - a rule limited to 3 times per customer per day applies exactly 3 times per customer;
 *  - a public coupon with 25 uses is redeemed exactly 25 times; every other attempt is a 422
 *    coupon_used_up; full returns give uses back and exactly that many new uses succeed;
 * and a random walk of confirms and returns keeps every counter equal to a model's.
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

/* Random confirms, partial and full returns on one service, against a model of what must
 * have been counted: after every step the budget spent equals the points the standing
 * (not fully returned) receipts got from the rule, never more than the budget; no customer
 * has the limited rule more than 3 times a day among standing receipts; the coupon's
 * standing uses equal the model's and never exceed 25. */
typedef struct modelReceipt {
    char id[32];
    int customer, day;
    ly_points capped;
    bool per_day, coupon, returned_full, returned_part;
} modelReceipt;

static void random_receipts_and_returns_keep_the_counters_exact(void **state)
{
    (void)state;
    char *dir = tl_tempdir("rw-prop");
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
    enum { STEPS = 600 };
    modelReceipt *m = calloc(STEPS, sizeof *m);
    size_t n = 0;
    uint64_t seed = 0x9E3779B97F4A7C15u;
    ly_time day0 = at("2026-11-20T09:00:00Z");
    static const char *const rush[] = {"RUSH"};
    for (int step = 0; step < STEPS; step++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        unsigned x = (unsigned)(seed >> 33);
        ly_time now = day0 + (ly_time)step * 600;
        if (x % 4 != 0 || n == 0) {
            modelReceipt *r = &m[n];
            snprintf(r->id, sizeof r->id, "P-%d", step);
            r->customer = (int)((x >> 3) % CUSTOMERS);
            r->day = (int)((x >> 6) % 3);
            r->coupon = (x >> 9) % 3 == 0;
            ly_time t = at("2026-11-24T08:00:00Z") + (ly_time)r->day * 86400;
            char card[16];
            snprintf(card, sizeof card, "C%d", r->customer);
            ly_line line = {.sku = "MILK", .category = "milk", .qty = 2000, .price = 1000, .amount = 2000};
            ly_op op = {.kind = LY_OP_CONFIRM, .arena = &a, .now = now};
            op.in.confirm.receipt = (ly_receipt){.receipt_id = r->id, .store = "S1", .time = t,
                                                 .utc_offset_min = 180, .total = 2000, .lines = &line, .n_lines = 1};
            op.in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = card};
            if (r->coupon) {
                op.in.confirm.coupons = rush;
                op.in.confirm.n_coupons = 1;
            }
            ly_os_hash(r->id, strlen(r->id), op.request_hash);
            ly_err rc = ly_service_run(svc, &op);
            if (rc != LY_OK) {
                assert_int_equal(rc, LY_EUNPROCESSABLE);
                assert_string_equal(op.err.code, "coupon_used_up");
                assert_true(r->coupon);
            } else {
                for (size_t k = 0; k < op.out.confirm.pricing.n_rules; k++) {
                    const ly_rule_result *res = &op.out.confirm.pricing.rules[k];
                    if (!res->applied) continue;
                    if (strcmp(res->rule->id, "capped-points") == 0) r->capped = res->points;
                    if (strcmp(res->rule->id, "per-day") == 0) r->per_day = true;
                }
                n++;
            }
        } else {
            modelReceipt *r = &m[(x >> 3) % n];
            if (r->returned_full) continue;
            bool full = (x >> 12) % 2 == 0 || r->returned_part;
            char rid[48];
            snprintf(rid, sizeof rid, "%s-R%d", r->id, step);
            static ly_return_request_line half = {.line = 0, .qty = 1000};
            ly_op op = {.kind = LY_OP_RETURN, .arena = &a, .now = now};
            op.in.ret = (ly_return_request){.receipt_id = r->id, .return_id = rid, .full = full,
                                            .lines = full ? NULL : &half, .n_lines = full ? 0 : 1};
            ly_os_hash(rid, strlen(rid), op.request_hash);
            assert_int_equal(ly_service_run(svc, &op), LY_OK);
            if (full) r->returned_full = true;
            else r->returned_part = true;
        }
        /* The model against the store. */
        ly_points spent = 0;
        int uses[CUSTOMERS][3] = {{0}}, coupons = 0;
        for (size_t i = 0; i < n; i++) {
            if (m[i].returned_full) continue;
            spent += m[i].capped;
            uses[m[i].customer][m[i].day] += m[i].per_day;
            coupons += m[i].coupon;
        }
        ly_db *rd = ly_store_reader(ly_service_store(svc), &err);
        ly_points pts;
        ly_money money;
        assert_int_equal(ly_db_rule_budget_get(rd, "capped-points", &pts, &money, &err), LY_OK);
        assert_int_equal(pts, spent);
        assert_true(pts <= BUDGET && pts >= 0);
        for (int c = 0; c < CUSTOMERS; c++)
            for (int d = 0; d < 3; d++) assert_true(uses[c][d] <= 3);
        int64_t code_uses, campaign_uses, customer_uses;
        uint8_t h[32];
        ly_os_hash("coupon:RUSH", 11, h);
        assert_int_equal(ly_db_coupon_uses(rd, "rush", h, 0, &code_uses, &campaign_uses, &customer_uses, &err), LY_OK);
        assert_int_equal(campaign_uses, coupons);
        assert_true(campaign_uses <= COUPON_USES);
        ly_arena_free(&a);
    }
    print_message("%zu receipts confirmed in %d steps\n", n, STEPS);
    int64_t nc = 0, bad = -1;
    ly_db *rd = ly_store_reader(ly_service_store(svc), &err);
    assert_int_equal(ly_db_check(rd, NULL, NULL, &nc, &bad, &err), LY_OK);
    assert_int_equal(bad, 0);
    free(m);
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
        cmocka_unit_test(random_receipts_and_returns_keep_the_counters_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
