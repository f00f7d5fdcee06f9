/*
 * test_concurrency.c - many tills at once against one real server:
 *  - 8 threads x 50 receipts all redeeming from one balance: the balance is never overspent,
 *    every refusal is a 422, the final balance counts exactly the successful redemptions;
 *  - one receipt confirmed by 8 threads at the same moment: it is applied once, and every
 *    thread gets the same answer.
 * Worker threads only record what they saw; the main thread asserts (cmocka is not
 * thread-safe).
 */
#include "testlib.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW "LOYAL_NOW=2026-11-24T09:00:00Z"
#define THREADS 8
#define PER_THREAD 50
#define BONUS 1000
#define REDEEM 30
/* One line of 100.00 RUB: redeeming 30 points pays 70.00, which earns 5% = 3 points
 * (pending: the example program holds earned points for 14 days). */
#define EARN_PER_RECEIPT 3

typedef struct fixture {
    tl_world w;
    tl_server s;
} fixture;

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    const char *env[] = {NOW, NULL};
    tl_world_make(&f->w, "conc", "examples/program.json");
    tl_world_serve(&f->w, &f->s, env);
    return 0;
}

static int tearDown(void **state)
{
    fixture *f = *state;
    if (!f) return 0;
    tl_server_kill(&f->s);
    tl_world_free(&f->w);
    free(f);
    return 0;
}

/* Enrols a customer with a card; returns its id. */
static long long enrol(fixture *f, const char *card)
{
    char body[256];
    snprintf(body, sizeof body, "{\"card\":\"%s\"}", card);
    tl_response r;
    long st = tl_call(&r, &f->s, "POST", "/v1/customers", f->w.pos_key, body);
    if (st != 201) fail_msg("enrol %s: HTTP %ld %s%s", card, st, r.error, r.body);
    json_t *v = tl_json_parse(r.body);
    long long id = tl_json_int(v, "id");
    json_decref(v);
    tl_response_free(&r);
    return id;
}

static void bonus(fixture *f, long long customer, long long points, const char *adjustment_id)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", customer);
    snprintf(body, sizeof body,
             "{\"adjustment_id\":\"%s\",\"points\":%lld,\"kind\":\"bonus\",\"note\":\"test\"}",
             adjustment_id, points);
    tl_response r;
    long st = tl_call(&r, &f->s, "POST", path, f->w.admin_key, body);
    if (st != 201 && st != 200) fail_msg("bonus: HTTP %ld %s%s", st, r.error, r.body);
    tl_response_free(&r);
}

/* The customer's available and pending points. */
static void balance(fixture *f, long long customer, long long *available, long long *pending)
{
    char path[128];
    snprintf(path, sizeof path, "/v1/customers/%lld/balance", customer);
    tl_response r;
    long st = tl_call(&r, &f->s, "GET", path, f->w.pos_key, NULL);
    if (st != 200) fail_msg("balance: HTTP %ld %s%s", st, r.error, r.body);
    json_t *v = tl_json_parse(r.body);
    *available = tl_json_int(v, "available");
    *pending = tl_json_int(v, "pending");
    json_decref(v);
    tl_response_free(&r);
}

/* Every ledger entry of the customer (all pages), as one JSON array (new reference). */
static json_t *ledger(fixture *f, long long customer)
{
    json_t *all = json_array();
    char path[160];
    long long before = 0;
    for (int page = 0; page < 1000; page++) {
        if (before)
            snprintf(path, sizeof path, "/v1/customers/%lld/ledger?limit=100&before=%lld", customer, before);
        else
            snprintf(path, sizeof path, "/v1/customers/%lld/ledger?limit=100", customer);
        tl_response r;
        long st = tl_call(&r, &f->s, "GET", path, f->w.pos_key, NULL);
        if (st != 200) fail_msg("ledger: HTTP %ld %s%s", st, r.error, r.body);
        json_t *v = tl_json_parse(r.body);
        json_t *entries = json_object_get(v, "entries");
        if (!json_is_array(entries)) fail_msg("ledger: no entries array: %s", r.body);
        json_array_extend(all, entries);
        json_t *next = json_object_get(v, "next_before");
        tl_response_free(&r);
        if (!json_is_integer(next) || json_array_size(entries) == 0) {
            json_decref(v);
            break;
        }
        before = json_integer_value(next);
        json_decref(v);
    }
    return all;
}

static size_t countEntries(json_t *entries, const char *kind, const char *receipt_id)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        json_t *k = json_object_get(e, "kind");
        json_t *rid = json_object_get(e, "receipt_id");
        if (!json_is_string(k) || strcmp(json_string_value(k), kind) != 0) continue;
        if (receipt_id && (!json_is_string(rid) || strcmp(json_string_value(rid), receipt_id) != 0)) continue;
        n++;
    }
    return n;
}

static char *receiptJson(const char *receipt_id, const char *card, long long redeem)
{
    return tl_strdupf("{\"receipt_id\":\"%s\",\"store\":\"S001\",\"customer\":{\"card\":\"%s\"},"
                      "\"redeem_points\":%lld,\"total\":10000,"
                      "\"lines\":[{\"sku\":\"MILK-1L\",\"qty\":1000,\"price\":10000,\"amount\":10000}]}",
                      receipt_id, card, redeem);
}

/* ---------------------------------------------------------------------------------------
 * Many redemptions from one balance
 * ------------------------------------------------------------------------------------- */

typedef struct worker {
    const tl_server *s;
    const char *key;
    const char *card;
    int index;
    pthread_barrier_t *start;
    /* results */
    int ok;              /* 201 */
    int refused;         /* 422 */
    int other;           /* anything else */
    long other_status;
    char other_body[512];
} worker;

/* A refused redemption says why, naming redeem_points. */
static bool refusalOk(const tl_response *r)
{
    char *problem = tl_check_error(r, 422, NULL, "redeem_points");
    free(problem);
    if (problem) return false;
    json_t *v = tl_response_json(r);
    const char *code = json_string_value(json_object_get(json_object_get(v, "error"), "code"));
    bool ok = code && (strcmp(code, "redeem_exceeds_max") == 0 || strcmp(code, "insufficient_points") == 0);
    json_decref(v);
    return ok;
}

static void *redeemMain(void *arg)
{
    worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int i = 0; i < PER_THREAD; i++) {
        char rid[64];
        snprintf(rid, sizeof rid, "conc-%d-%d", w->index, i);
        char *body = receiptJson(rid, w->card, REDEEM);
        tl_response r;
        long st = tl_call(&r, w->s, "POST", "/v1/receipts", w->key, body);
        free(body);
        if (st == 201) {
            w->ok++;
        } else if (st == 422 && refusalOk(&r)) {
            w->refused++;
        } else {
            if (!w->other) {
                w->other_status = st;
                snprintf(w->other_body, sizeof w->other_body, "%s%s", r.error, r.body);
            }
            w->other++;
        }
        tl_response_free(&r);
    }
    tl_http_thread_done();
    return NULL;
}

static void redemptions_from_one_balance_never_overspend(void **state)
{
    fixture *f = *state;
    long long id = enrol(f, "CONC-1");
    bonus(f, id, BONUS, "conc-bonus-1");
    long long available, pending;
    balance(f, id, &available, &pending);
    assert_int_equal(available, BONUS);
    assert_int_equal(pending, 0);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, THREADS);
    worker ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (worker){.s = &f->s, .key = f->w.pos_key, .card = "CONC-1", .index = i, .start = &start};
        assert_int_equal(pthread_create(&th[i], NULL, redeemMain, &ws[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += ws[i].ok;
        refused += ws[i].refused;
    }
    pthread_barrier_destroy(&start);
    for (int i = 0; i < THREADS; i++)
        if (ws[i].other) fail_msg("thread %d: %d answers neither 201 nor 422, first: HTTP %ld %s", i, ws[i].other,
                                  ws[i].other_status, ws[i].other_body);
    print_message("%d redemptions of %d points accepted, %d refused\n", ok, REDEEM, refused);
    assert_int_equal(ok + refused, THREADS * PER_THREAD);
    assert_true((long long)ok * REDEEM <= BONUS);
    /* The writer runs them one after another: every one succeeds while 30 points are left. */
    assert_int_equal(ok, BONUS / REDEEM);

    balance(f, id, &available, &pending);
    assert_int_equal(available, BONUS - (long long)REDEEM * ok);
    assert_int_equal(pending, (long long)EARN_PER_RECEIPT * ok);

    json_t *entries = ledger(f, id);
    /* The ledger adds up to the balance. */
    long long sumAvailable = 0, sumPending = 0;
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e) {
        sumAvailable += tl_json_int(e, "available_delta");
        sumPending += tl_json_int(e, "pending_delta");
    }
    assert_int_equal(sumAvailable, available);
    assert_int_equal(sumPending, pending);
    assert_int_equal(countEntries(entries, "redeem", NULL), (size_t)ok);
    assert_int_equal(countEntries(entries, "earn", NULL), (size_t)ok);
    assert_int_equal(countEntries(entries, "bonus", NULL), 1);
    json_decref(entries);

    assert_int_equal(tl_server_stop(&f->s), 0);
    assert_int_equal(tl_world_check(&f->w), 0);
}

/* ---------------------------------------------------------------------------------------
 * One receipt, many tills
 * ------------------------------------------------------------------------------------- */

#define ROUNDS 10

typedef struct same {
    const tl_server *s;
    const char *key;
    const char *body;
    pthread_barrier_t *start;
    long status;
    char *response;
    bool replay;   /* answered with "Idempotent-Replay: true" */
    char error[256];
} same;

static void *sameMain(void *arg)
{
    same *w = arg;
    pthread_barrier_wait(w->start);
    tl_response r;
    w->status = tl_call(&r, w->s, "POST", "/v1/receipts", w->key, w->body);
    w->response = r.body;
    r.body = NULL;
    char *replay = tl_response_header(&r, "Idempotent-Replay");
    w->replay = replay && strcmp(replay, "true") == 0;
    free(replay);
    snprintf(w->error, sizeof w->error, "%s", r.error);
    tl_response_free(&r);
    tl_http_thread_done();
    return NULL;
}

static void one_receipt_confirmed_at_once_counts_once(void **state)
{
    fixture *f = *state;
    long long id = enrol(f, "CONC-2");
    bonus(f, id, BONUS, "conc-bonus-2");

    for (int round = 0; round < ROUNDS; round++) {
        char rid[64];
        snprintf(rid, sizeof rid, "same-%d", round);
        char *body = receiptJson(rid, "CONC-2", REDEEM);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        same ws[THREADS];
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++) {
            ws[i] = (same){.s = &f->s, .key = f->w.pos_key, .body = body, .start = &start};
            assert_int_equal(pthread_create(&th[i], NULL, sameMain, &ws[i]), 0);
        }
        for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        /* A replay gets the stored response of the first confirmation, status and bytes. */
        for (int i = 0; i < THREADS; i++) {
            if (ws[i].status != 201)
                fail_msg("round %d thread %d: HTTP %ld %s%s", round, i, ws[i].status, ws[i].error,
                         ws[i].response ? ws[i].response : "");
            if (strcmp(ws[i].response, ws[0].response) != 0)
                fail_msg("round %d: thread %d's answer differs:\n  %s\n  %s", round, i, ws[i].response,
                         ws[0].response);
        }
        /* One of them confirmed it; the others got the stored answer. */
        int fresh = 0;
        for (int i = 0; i < THREADS; i++) fresh += !ws[i].replay;
        if (fresh != 1) fail_msg("round %d: %d answers without \"Idempotent-Replay: true\", expected 1", round, fresh);
        for (int i = 0; i < THREADS; i++) free(ws[i].response);
        free(body);
    }

    long long available, pending;
    balance(f, id, &available, &pending);
    assert_int_equal(available, BONUS - (long long)REDEEM * ROUNDS);
    assert_int_equal(pending, (long long)EARN_PER_RECEIPT * ROUNDS);
    json_t *entries = ledger(f, id);
    for (int round = 0; round < ROUNDS; round++) {
        char rid[64];
        snprintf(rid, sizeof rid, "same-%d", round);
        assert_int_equal(countEntries(entries, "earn", rid), 1);
        assert_int_equal(countEntries(entries, "redeem", rid), 1);
    }
    json_decref(entries);

    assert_int_equal(tl_server_stop(&f->s), 0);
    assert_int_equal(tl_world_check(&f->w), 0);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(redemptions_from_one_balance_never_overspend, setUp, tearDown),
        cmocka_unit_test_setup_teardown(one_receipt_confirmed_at_once_counts_once, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
