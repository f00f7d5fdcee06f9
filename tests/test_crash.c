/*
 * test_crash.c - every acknowledged receipt survives a crash: 4 tills confirm receipts for
 * about a second, the server is killed with SIGKILL in the middle of the load, restarted on
 * the same database, and every receipt that had been answered with a 2xx is there; the
 * ledger is consistent (`loyal check`) and a retry of an acknowledged receipt gets the same
 * answer as before the crash.
 * Worker threads only record what they saw; the main thread asserts.
 */
#include "testlib.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOW "LOYAL_NOW=2026-11-24T09:00:00Z"
#define THREADS 4
#define MAX_PER_THREAD 3000 /* a bound, whatever the speed */
#define CUSTOMERS 4

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
    tl_world_make(&f->w, "crash", "examples/program.json");
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

static double monoSec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleepMs(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The receipt a thread sends as its n-th: a customer's card (or none, every fifth), one to
 * three lines, a small redemption on some. */
static char *receiptJson(int thread, int n)
{
    char lines[512];
    int k = 1 + n % 3;
    long long total = 0;
    size_t off = 0;
    for (int j = 0; j < k; j++) {
        long long price = 1000 + (long long)((thread * 7919 + n * 131 + j * 17) % 90000);
        long long qty = 1000 * (1 + j);
        long long amount = price * (1 + j);
        total += amount;
        off += (size_t)snprintf(lines + off, sizeof lines - off,
                                "%s{\"sku\":\"SKU-%d\",\"qty\":%lld,\"price\":%lld,\"amount\":%lld}",
                                j ? "," : "", (n + j) % 50, qty, price, amount);
    }
    char customer[80] = "";
    if (n % 5 != 4)
        snprintf(customer, sizeof customer, "\"customer\":{\"card\":\"CRASH-%d\"},\"redeem_points\":%d,",
                 (thread + n) % CUSTOMERS, n % 4 == 0 ? 5 : 0);
    return tl_strdupf("{\"receipt_id\":\"crash-%d-%d\",\"store\":\"S%03d\",%s\"total\":%lld,\"lines\":[%s]}",
                      thread, n, thread, customer, total, lines);
}

typedef struct worker {
    const tl_server *s;
    const char *key;
    int index;
    double until;
    atomic_int *stop;
    atomic_int *progress; /* receipts sent by all threads */
    /* results */
    bool finished;        /* ran out of receipts or time (set before the thread ends) */
    int sent;
    int acked;            /* 2xx */
    int *acked_n;         /* the n of each acknowledged receipt */
    int refused;          /* 4xx/5xx: a refusal is fine (e.g. 503 while dying), not a loss */
    long refused_status;
    char refused_body[400];
    int transport_errors; /* no answer: the server died (the request may or may not be in) */
    char *first_response; /* the answer to the first acknowledged receipt */
    int first_n;
} worker;

static void *workerMain(void *arg)
{
    worker *w = arg;
    w->acked_n = calloc(MAX_PER_THREAD, sizeof *w->acked_n);
    w->first_n = -1;
    for (int n = 0; w->acked_n; n++) {
        if (atomic_load(w->stop)) break;
        if (n == MAX_PER_THREAD || monoSec() > w->until) {
            w->finished = true;
            break;
        }
        char *body = receiptJson(w->index, n);
        tl_response r;
        long st = tl_call(&r, w->s, "POST", "/v1/receipts", w->key, body);
        free(body);
        w->sent++;
        atomic_fetch_add(w->progress, 1);
        if (st >= 200 && st <= 299) {
            w->acked_n[w->acked++] = n;
            if (w->first_n < 0) {
                w->first_n = n;
                w->first_response = r.body;
                r.body = NULL;
            }
        } else if (st == 0) {
            w->transport_errors++;
            tl_response_free(&r);
            break; /* the server is gone */
        } else {
            if (!w->refused) {
                w->refused_status = st;
                snprintf(w->refused_body, sizeof w->refused_body, "%s", r.body);
            }
            w->refused++;
        }
        tl_response_free(&r);
    }
    tl_http_thread_done();
    return NULL;
}

static void acknowledged_receipts_survive_kill_9(void **state)
{
    fixture *f = *state;
    /* Customers with a bonus, so that some receipts redeem. */
    for (int c = 0; c < CUSTOMERS; c++) {
        char body[160], path[96];
        tl_response r;
        snprintf(body, sizeof body, "{\"card\":\"CRASH-%d\"}", c);
        long st = tl_call(&r, &f->s, "POST", "/v1/customers", f->w.pos_key, body);
        if (st != 201) fail_msg("enrol: HTTP %ld %s%s", st, r.error, r.body);
        json_t *v = tl_json_parse(r.body);
        long long id = tl_json_int(v, "id");
        json_decref(v);
        tl_response_free(&r);
        snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", id);
        snprintf(body, sizeof body, "{\"adjustment_id\":\"crash-bonus-%d\",\"points\":100000,\"kind\":\"bonus\"}", c);
        st = tl_call(&r, &f->s, "POST", path, f->w.admin_key, body);
        if (st != 201 && st != 200) fail_msg("bonus: HTTP %ld %s%s", st, r.error, r.body);
        tl_response_free(&r);
    }

    atomic_int stop = 0, progress = 0;
    worker ws[THREADS];
    pthread_t th[THREADS];
    double t0 = monoSec();
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (worker){.s = &f->s, .key = f->w.pos_key, .index = i, .until = t0 + 2.0, .stop = &stop,
                         .progress = &progress};
        assert_int_equal(pthread_create(&th[i], NULL, workerMain, &ws[i]), 0);
    }
    /* Let the load build up, then crash the server under it: after a second, or earlier
     * when half of the receipts are out (a fast machine). */
    while (monoSec() < t0 + 1.0 && atomic_load(&progress) < THREADS * MAX_PER_THREAD / 2) sleepMs(5);
    int sentAtKill = atomic_load(&progress);
    int killed = tl_server_kill(&f->s);
    atomic_store(&stop, 1);
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    assert_int_equal(killed, 128 + 9);
    /* The crash came while receipts were still being sent. */
    int running = 0;
    for (int i = 0; i < THREADS; i++) running += !ws[i].finished;
    print_message("killed after %d receipts, %d of %d tills still sending\n", sentAtKill, running, THREADS);
    assert_true(running > 0);

    int sent = 0, acked = 0, refused = 0, lost = 0;
    for (int i = 0; i < THREADS; i++) {
        sent += ws[i].sent;
        acked += ws[i].acked;
        refused += ws[i].refused;
        lost += ws[i].transport_errors;
        if (ws[i].refused)
            print_message("thread %d: %d refused, first HTTP %ld %s\n", i, ws[i].refused, ws[i].refused_status,
                          ws[i].refused_body);
    }
    print_message("sent %d receipts: %d acknowledged, %d refused, %d without an answer\n", sent, acked, refused,
                  lost);
    for (int i = 0; i < THREADS; i++)
        if (!ws[i].acked_n) fail_msg("out of memory");
    /* Refusals would be a bug too: the receipts are valid. A dying server may only fail to
     * answer. */
    assert_int_equal(refused, 0);
    assert_true(acked > 0);

    /* Restart on the same database and look for every acknowledged receipt. */
    const char *env[] = {NOW, NULL};
    tl_world_serve(&f->w, &f->s, env);
    int missing = 0;
    for (int i = 0; i < THREADS; i++) {
        for (int k = 0; k < ws[i].acked; k++) {
            char path[96];
            snprintf(path, sizeof path, "/v1/receipts/crash-%d-%d", i, ws[i].acked_n[k]);
            tl_response r;
            long st = tl_call(&r, &f->s, "GET", path, f->w.pos_key, NULL);
            if (st != 200) {
                if (missing < 10) print_error("acknowledged receipt %s: HTTP %ld %s%s\n", path, st, r.error, r.body);
                missing++;
            }
            tl_response_free(&r);
        }
    }
    if (missing) fail_msg("%d of %d acknowledged receipts are missing after the crash", missing, acked);

    /* A till that retries an acknowledged receipt after the crash gets the same answer. */
    for (int i = 0; i < THREADS; i++) {
        if (ws[i].first_n < 0) continue;
        char *body = receiptJson(i, ws[i].first_n);
        tl_response r;
        long st = tl_call(&r, &f->s, "POST", "/v1/receipts", f->w.pos_key, body);
        free(body);
        if (st != 201) fail_msg("retry of crash-%d-%d: HTTP %ld %s%s", i, ws[i].first_n, st, r.error, r.body);
        if (strcmp(r.body, ws[i].first_response) != 0)
            fail_msg("retry of crash-%d-%d after the crash answers differently:\n  before: %s\n  after:  %s", i,
                     ws[i].first_n, ws[i].first_response, r.body);
        tl_response_free(&r);
    }

    /* The server works on: a new receipt is confirmed. */
    {
        char *body = receiptJson(THREADS, 0);
        tl_response r;
        long st = tl_call(&r, &f->s, "POST", "/v1/receipts", f->w.pos_key, body);
        free(body);
        if (st != 201) fail_msg("confirm after restart: HTTP %ld %s%s", st, r.error, r.body);
        tl_response_free(&r);
    }

    for (int i = 0; i < THREADS; i++) {
        free(ws[i].acked_n);
        free(ws[i].first_response);
    }
    assert_int_equal(tl_server_stop(&f->s), 0);
    assert_int_equal(tl_world_check(&f->w), 0);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(acknowledged_receipts_survive_kill_9, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
