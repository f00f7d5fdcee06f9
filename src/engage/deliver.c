/*
 * deliver.c - the delivery worker (engage.h, "Delivery and the outbox"; docs/delivery.md):
 * a pass claims a batch of due messages through the store's writer, sends each through its
 * channel's adapter with no write job open, and records every outcome as a write job of
 * its own; the threads of `loyal serve` run passes until stopped; the counters for
 * /metrics.
 *
 * The writer never waits on the network: a claim and a record are short jobs, and the
 * sending happens on the delivery thread between them. A receiver that hangs costs a
 * delivery thread at most its channel's timeout per message, never a checkout.
 */
#include "engage/deliver_internal.h"
#include "os/os.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------------------- */

#define HIST 10
static const uint64_t attemptBucketUsec[HIST - 1] = {10000,  50000,   100000,  250000, 500000,
                                                     1000000, 2500000, 5000000, 10000000};
static const char *const attemptBucketLabel[HIST - 1] = {"0.01", "0.05", "0.1", "0.25", "0.5",
                                                         "1",    "2.5",  "5",   "10"};
static const uint64_t latencyBucketSec[HIST - 1] = {1, 10, 60, 300, 900, 3600, 21600, 86400,
                                                    604800};

static struct {
    _Atomic uint64_t attempts, delivered, failures, retries, dead, reclaimed, cost;
    _Atomic uint64_t attempt_usec, latency_sec;
    _Atomic uint64_t attempt_hist[HIST], latency_hist[HIST];
} counters;

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static size_t bucketOf(const uint64_t *bounds, uint64_t v)
{
    size_t i = 0;
    while (i < HIST - 1 && v > bounds[i]) i++;
    return i;
}

void ly_delivery_stats_get(ly_delivery_stats *out)
{
#define LOAD(x) atomic_load_explicit(&counters.x, memory_order_relaxed)
    out->attempts = LOAD(attempts);
    out->delivered = LOAD(delivered);
    out->failures = LOAD(failures);
    out->retries = LOAD(retries);
    out->dead = LOAD(dead);
    out->reclaimed = LOAD(reclaimed);
    out->cost = LOAD(cost);
    out->attempt_usec = LOAD(attempt_usec);
    out->latency_sec = LOAD(latency_sec);
    for (size_t i = 0; i < HIST; i++) {
        out->attempt_hist[i] = LOAD(attempt_hist[i]);
        out->latency_hist[i] = LOAD(latency_hist[i]);
    }
#undef LOAD
}

/* ---------------------------------------------------------------------------------------
 * One pass
 * ------------------------------------------------------------------------------------- */

typedef struct claimCtx {
    const ly_delivery_config *c;
    ly_time now;
    ly_arena *a;
    ly_message *msgs;
    size_t n;
    int64_t reclaimed;
} claimCtx;

static ly_err claimRun(ly_db *db, void *ctx, ly_error *err)
{
    claimCtx *cc = ctx;
    return ly_db_outbox_claim(db, cc->c->channel_list, cc->now, cc->now + cc->c->lease,
                              cc->c->batch, cc->a, &cc->msgs, &cc->n, &cc->reclaimed, err);
}

/* The outcomes of a pass are submitted as they happen and awaited together at its end. */
typedef struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t waiting;
    ly_err rc;
    ly_error err;
} recorder;

typedef struct recordJob {
    ly_write_job job;
    recorder *rec;
    ly_msg_outcome o;
    char id[LY_MESSAGE_ID_LEN + 1];
    char error[sizeof ((ly__attempt *)0)->error + 32];
    bool applied;
    ly_err rc;
} recordJob;

static ly_err recordRun(ly_db *db, void *ctx, ly_error *err)
{
    recordJob *rj = ctx;
    return ly_db_outbox_record(db, &rj->o, &rj->applied, err);
}

static void recordDone(void *ctx, ly_err rc, const ly_error *err)
{
    recordJob *rj = ctx;
    recorder *rec = rj->rec;
    rj->rc = rc;
    pthread_mutex_lock(&rec->mu);
    if (rc != LY_OK && rec->rc == LY_OK) {
        rec->rc = rc;
        if (err) rec->err = *err;
    }
    rec->waiting--;
    pthread_cond_signal(&rec->cv);
    pthread_mutex_unlock(&rec->mu);
}

static void submitRecord(ly_store *s, recorder *rec, recordJob *rj)
{
    rj->rec = rec;
    rj->o.id = rj->id;
    rj->o.error = rj->error[0] ? rj->error : NULL;
    rj->job = (ly_write_job){.run = recordRun, .done = recordDone, .ctx = rj};
    pthread_mutex_lock(&rec->mu);
    rec->waiting++;
    pthread_mutex_unlock(&rec->mu);
    if (ly_store_submit(s, &rj->job) != LY_OK) {
        ly_error e;
        ly_error_set(&e, LY_EIO, "store_closed", NULL, "the store is closing");
        recordDone(rj, LY_EIO, &e);
    }
}

/* One attempt at m through its channel: the envelope for the webhook and file adapters,
 * the payload as an e-mail for SMTP. */
static void attempt(const ly_channel_config *ch, const ly_message *m, ly_time sentAt,
                    void **handle, ly__attempt *out)
{
    if (ch->adapter == LY_ADAPTER_SMTP) {
        ly__deliver_smtp(ch, m, sentAt, out);
        return;
    }
    char *env = ly_delivery_envelope(m, sentAt);
    if (!env) {
        memset(out, 0, sizeof *out);
        out->permanent = true;
        snprintf(out->error, sizeof out->error, "the payload is not a JSON object");
        return;
    }
    size_t len = strlen(env);
    if (ch->adapter == LY_ADAPTER_WEBHOOK) {
        ly__deliver_webhook(ch, m, env, len, handle, out);
    } else {
        char *line = realloc(env, len + 2);
        if (!line) {
            free(env);
            memset(out, 0, sizeof *out);
            snprintf(out->error, sizeof out->error, "out of memory");
            return;
        }
        env = line;
        env[len] = '\n';
        env[len + 1] = '\0';
        ly__deliver_file(ch, env, len + 1, out);
    }
    free(env);
}

ly_err ly_delivery_pass(ly_store *s, const ly_delivery_config *c, ly_time now,
                        const _Atomic int *stop, ly_delivery_result *r, ly_error *err)
{
    ly_arena a = {0};
    claimCtx cc = {.c = c, .now = now, .a = &a};
    ly_err rc = ly_store_write(s, claimRun, &cc, err);
    if (rc != LY_OK) {
        ly_arena_free(&a);
        return rc;
    }
    r->claimed += (int64_t)cc.n;
    r->reclaimed += cc.reclaimed;
    count(&counters.reclaimed, (uint64_t)cc.reclaimed);
    if (cc.n == 0) {
        ly_arena_free(&a);
        return LY_OK;
    }

    recordJob *jobs = calloc(cc.n, sizeof *jobs);
    void **handles = calloc(c->n_channels, sizeof *handles); /* per channel, this pass */
    if (!jobs || !handles) {
        free(jobs);
        free(handles);
        ly_arena_free(&a);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    recorder rec = {.rc = LY_OK};
    ly_error_clear(&rec.err);
    pthread_mutex_init(&rec.mu, NULL);
    pthread_cond_init(&rec.cv, NULL);

    uint64_t start = ly_os_usec();
    for (size_t i = 0; i < cc.n; i++) {
        const ly_message *m = &cc.msgs[i];
        recordJob *rj = &jobs[i];
        memcpy(rj->id, m->id, sizeof rj->id);
        rj->o.attempt = m->attempts;
        /* Outcome times: the pass's clock plus the time spent so far. */
        ly_time at = now + (ly_time)((ly_os_usec() - start) / 1000000);
        rj->o.at = at;
        if (stop && atomic_load(stop)) {
            rj->o.kind = LY_OUTCOME_RELEASE;
            submitRecord(s, &rec, rj);
            continue;
        }
        const ly_channel_config *ch = ly_delivery_channel(c, m->channel);
        ly__attempt res;
        uint64_t t0 = ly_os_usec();
        if (ch) {
            attempt(ch, m, at, &handles[ch - c->channels], &res);
        } else { /* the claim only takes configured channels; kept for safety */
            memset(&res, 0, sizeof res);
            snprintf(res.error, sizeof res.error, "no channel '%s' in %s", m->channel,
                     c->origin);
        }
        uint64_t dt = ly_os_usec() - t0;
        count(&counters.attempts, 1);
        count(&counters.attempt_usec, dt);
        count(&counters.attempt_hist[bucketOf(attemptBucketUsec, dt)], 1);
        at = now + (ly_time)((ly_os_usec() - start) / 1000000);
        rj->o.at = at;
        if (res.ok) {
            rj->o.kind = LY_OUTCOME_DELIVERED;
            rj->o.cost = ch->cost;
        } else {
            rj->o.kind = ly_delivery_after_failure(c, m->attempts, res.permanent);
            if (rj->o.kind == LY_OUTCOME_RETRY)
                rj->o.next_at = at + ly_delivery_backoff(c, m->id, m->attempts);
            snprintf(rj->error, sizeof rj->error, "attempt %lld: %s", (long long)m->attempts,
                     res.error);
        }
        submitRecord(s, &rec, rj);
    }

    for (size_t i = 0; i < c->n_channels; i++)
        if (c->channels[i].adapter == LY_ADAPTER_WEBHOOK) ly__webhook_done(handles[i]);
    free(handles);

    pthread_mutex_lock(&rec.mu);
    while (rec.waiting > 0) pthread_cond_wait(&rec.cv, &rec.mu);
    pthread_mutex_unlock(&rec.mu);

    for (size_t i = 0; i < cc.n; i++) {
        recordJob *rj = &jobs[i];
        const ly_message *m = &cc.msgs[i];
        switch (rj->o.kind) {
        case LY_OUTCOME_DELIVERED:
            r->delivered++;
            count(&counters.delivered, 1);
            if (rj->rc == LY_OK && rj->applied) {
                count(&counters.cost, (uint64_t)rj->o.cost);
                uint64_t lat = rj->o.at > m->created_at ? (uint64_t)(rj->o.at - m->created_at) : 0;
                count(&counters.latency_sec, lat);
                count(&counters.latency_hist[bucketOf(latencyBucketSec, lat)], 1);
            }
            break;
        case LY_OUTCOME_RETRY:
            r->retrying++;
            count(&counters.failures, 1);
            count(&counters.retries, 1);
            break;
        case LY_OUTCOME_DEAD:
            r->dead++;
            count(&counters.failures, 1);
            count(&counters.dead, 1);
            break;
        case LY_OUTCOME_RELEASE: r->released++; break;
        }
    }
    rc = rec.rc;
    if (rc != LY_OK && err) *err = rec.err;
    pthread_mutex_destroy(&rec.mu);
    pthread_cond_destroy(&rec.cv);
    free(jobs);
    ly_arena_free(&a);
    return rc;
}

ly_err ly_delivery_run(ly_store *s, const ly_delivery_config *c, ly_delivery_result *r,
                       ly_error *err)
{
    /* Each pass claims only what is due at its start and schedules retries at least a
     * second later, so the loop ends; the bound is a belt for the braces. */
    for (int pass = 0; pass < 1000000; pass++) {
        int64_t before = r->claimed;
        ly_err rc = ly_delivery_pass(s, c, ly_os_now(), NULL, r, err);
        if (rc != LY_OK) return rc;
        if (r->claimed == before) return LY_OK;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The threads of `loyal serve`
 * ------------------------------------------------------------------------------------- */

struct ly_delivery_worker {
    ly_store *s;
    const ly_delivery_config *c;
    int poll;
    pthread_t *threads;
    int n_threads;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* CLOCK_MONOTONIC */
    uint64_t wakes;      /* bumped by ly_delivery_worker_wake: no wake-up is lost */
    _Atomic int stop;
};

static void *workerMain(void *arg)
{
    ly_delivery_worker *w = arg;
    ly_time lastErrorLog = 0;
    while (!atomic_load(&w->stop)) {
        pthread_mutex_lock(&w->mu);
        uint64_t seen = w->wakes;
        pthread_mutex_unlock(&w->mu);

        ly_delivery_result r = {0};
        ly_error err;
        ly_error_clear(&err);
        ly_time now = ly_os_now();
        ly_err rc = ly_delivery_pass(w->s, w->c, now, &w->stop, &r, &err);
        int sleepFor = w->poll;
        if (rc != LY_OK) {
            if (now - lastErrorLog >= 60) { /* a broken disk should not flood the log */
                fprintf(stderr, "loyal serve: delivery: %s (%s)\n", err.message, err.code);
                lastErrorLog = now;
            }
        } else if (r.claimed > 0) {
            continue; /* more may be due right away */
        } else {
            ly_db *db = ly_store_reader(w->s, &err);
            ly_time due;
            if (db && ly_db_outbox_next_due(db, w->c->channel_list, &due, &err) == LY_OK) {
                int64_t wait = due - ly_os_now();
                if (wait < 1) wait = 1;
                if (wait < sleepFor) sleepFor = (int)wait;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += sleepFor;
        pthread_mutex_lock(&w->mu);
        while (!atomic_load(&w->stop) && w->wakes == seen &&
               pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0) {}
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

ly_err ly_delivery_worker_start(ly_store *s, const ly_delivery_config *c, int poll_seconds,
                                ly_delivery_worker **out, ly_error *err)
{
    *out = NULL;
    ly_delivery_worker *w = calloc(1, sizeof *w);
    if (!w) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    w->s = s;
    w->c = c;
    w->poll = poll_seconds > 0 ? poll_seconds : 5;
    w->threads = calloc((size_t)c->threads, sizeof *w->threads);
    if (!w->threads) {
        free(w);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&w->mu, NULL);
    atomic_init(&w->stop, 0);
    for (int i = 0; i < c->threads; i++) {
        if (pthread_create(&w->threads[i], NULL, workerMain, w) != 0) {
            ly_delivery_worker_stop(w);
            return ly_error_set(err, LY_EIO, "thread_failed", NULL,
                                "cannot start a delivery thread");
        }
        w->n_threads++;
    }
    *out = w;
    return LY_OK;
}

void ly_delivery_worker_wake(ly_delivery_worker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->wakes++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void ly_delivery_worker_stop(ly_delivery_worker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->n_threads; i++) pthread_join(w->threads[i], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->threads);
    free(w);
}

/* ---------------------------------------------------------------------------------------
 * /metrics
 * ------------------------------------------------------------------------------------- */

static void counter(ly_text *t, const char *name, const char *help, uint64_t v)
{
    ly_text_addf(t, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
        (unsigned long long)v);
}

char *ly_delivery_metrics_text(ly_store *s)
{
    ly_text t = {0};
    ly_error err;
    ly_error_clear(&err);
    int64_t counts[LY_MSG_STATE_COUNT];
    ly_db *db = s ? ly_store_reader(s, &err) : NULL;
    if (db && ly_db_outbox_counts(db, counts, &err) == LY_OK) {
        ly_text_addf(&t, "# HELP loyal_outbox_messages Messages in the outbox, by state.\n"
                "# TYPE loyal_outbox_messages gauge\n");
        for (int i = 0; i < LY_MSG_STATE_COUNT; i++)
            ly_text_addf(&t, "loyal_outbox_messages{state=\"%s\"} %lld\n",
                ly_msg_state_name((ly_msg_state)i), (long long)counts[i]);
    }
    ly_delivery_stats st;
    ly_delivery_stats_get(&st);
    counter(&t, "loyal_delivery_attempts_total", "Delivery attempts made by this process.",
            st.attempts);
    counter(&t, "loyal_delivery_delivered_total", "Messages delivered.", st.delivered);
    counter(&t, "loyal_delivery_failures_total", "Delivery attempts that failed.", st.failures);
    counter(&t, "loyal_delivery_retries_total",
            "Failed attempts after which another attempt was scheduled.", st.retries);
    counter(&t, "loyal_delivery_dead_total", "Messages given up on (dead letters).", st.dead);
    counter(&t, "loyal_delivery_reclaimed_total",
            "Messages taken back after a worker's lease ran out.", st.reclaimed);
    counter(&t, "loyal_delivery_cost_total",
            "Cost of the delivered messages, in minor units of the currency.", st.cost);

    ly_text_addf(&t, "# HELP loyal_delivery_attempt_duration_seconds Time of one attempt in its "
            "adapter.\n# TYPE loyal_delivery_attempt_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < HIST - 1; i++) {
        cum += st.attempt_hist[i];
        ly_text_addf(&t, "loyal_delivery_attempt_duration_seconds_bucket{le=\"%s\"} %llu\n",
            attemptBucketLabel[i], (unsigned long long)cum);
    }
    cum += st.attempt_hist[HIST - 1];
    ly_text_addf(&t, "loyal_delivery_attempt_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
            "loyal_delivery_attempt_duration_seconds_sum %llu.%06llu\n"
            "loyal_delivery_attempt_duration_seconds_count %llu\n",
        (unsigned long long)cum, (unsigned long long)(st.attempt_usec / 1000000),
        (unsigned long long)(st.attempt_usec % 1000000), (unsigned long long)cum);

    ly_text_addf(&t, "# HELP loyal_delivery_latency_seconds From a message's creation to its "
            "delivery.\n# TYPE loyal_delivery_latency_seconds histogram\n");
    cum = 0;
    for (size_t i = 0; i < HIST - 1; i++) {
        cum += st.latency_hist[i];
        ly_text_addf(&t, "loyal_delivery_latency_seconds_bucket{le=\"%llu\"} %llu\n",
            (unsigned long long)latencyBucketSec[i], (unsigned long long)cum);
    }
    cum += st.latency_hist[HIST - 1];
    ly_text_addf(&t, "loyal_delivery_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
            "loyal_delivery_latency_seconds_sum %llu\n"
            "loyal_delivery_latency_seconds_count %llu\n",
        (unsigned long long)cum, (unsigned long long)st.latency_sec, (unsigned long long)cum);
    if (t.failed) {
        free(t.s);
        return NULL;
    }
    return t.s;
}
