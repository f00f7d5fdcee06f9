/*
 * writer.c - the writer thread and group commit.
 *
 * Callers queue write jobs; the one writer thread takes up to batch_max of them at a time
 * and runs them in one transaction, each inside its own savepoint:
 *
 *     BEGIN IMMEDIATE
 *       SAVEPOINT job; run(); RELEASE job          -- job succeeded
 *       SAVEPOINT job; run(); ROLLBACK TO job; RELEASE job   -- job failed: undone alone
 *       ...
 *     COMMIT                                       -- one fsync for the whole group
 *
 * and only then calls each job's done(). While a group runs, new jobs pile up in the queue
 * and form the next group, so the busier the store the larger the groups and the fewer the
 * fsyncs per job. The queue mutex is held only to link and unlink jobs, never while jobs run.
 */
#include "store/internal.h"
#include "os/os.h"

#include <assert.h>

#define HIST_BUCKETS ((int)(sizeof ((ly_store_stats *)0)->batch_hist / sizeof(uint64_t)))

/* Bucket i counts groups of size in (2^(i-1), 2^i]; the last bucket takes everything above. */
static int histBucket(int n)
{
    int i = 0;
    while (i < HIST_BUCKETS - 1 && (1 << i) < n) i++;
    return i;
}

static void failJob(ly_write_job *j, const ly_error *why)
{
    j->rc_ = LY_EIO;
    j->err_ = *why;
    j->err_.kind = LY_EIO;
}

/* Runs one job inside its savepoint. On failure the job's changes are rolled back and its
 * rc_/err_ say why. */
static void runJob(ly_db *db, ly_write_job *j)
{
    ly_error_clear(&j->err_);
    j->rc_ = ly__tx(db, STMT_SAVEPOINT, &j->err_);
    if (j->rc_ != LY_OK) return;
    j->rc_ = j->run(db, j->ctx, &j->err_);
    if (j->rc_ == LY_OK) j->rc_ = ly__tx(db, STMT_RELEASE, &j->err_);
    if (j->rc_ == LY_OK) return;
    if (j->err_.kind == LY_OK)
        ly_error_set(&j->err_, j->rc_, ly_err_code(j->rc_), NULL, "the write failed");
    /* Either may fail if SQLite already rolled back the whole transaction; runGroup notices
     * that through the autocommit flag. */
    ly__tx(db, STMT_ROLLBACK_TO, NULL);
    ly__tx(db, STMT_RELEASE, NULL);
}

/* Runs the group of jobs (linked by next_) as one transaction, and sets every job's rc_ and
 * err_. Returns whether the group's COMMIT succeeded. */
static bool runGroup(ly_store *s, ly_write_job *jobs)
{
    ly_db *db = s->writer;
    ly_error txErr;
    ly_error_clear(&txErr);

    /* first: the first job whose changes belong to the open transaction. */
    ly_write_job *first = jobs;
    bool open = ly__tx(db, STMT_BEGIN_IMMEDIATE, &txErr) == LY_OK;
    for (ly_write_job *j = jobs; j; j = j->next_) {
        if (!open) {
            failJob(j, &txErr);
            continue;
        }
        runJob(db, j);
        if (!sqlite3_get_autocommit(db->conn)) continue;
        /* SQLite rolled back the whole transaction (an I/O error, a full disk): the jobs
         * run so far lost their changes too. The rest get a transaction of their own. */
        ly_error lost;
        ly_error_set(&lost, LY_EIO, "storage_error", NULL,
                     "the group transaction was rolled back: %s", sqlite3_errmsg(db->conn));
        for (ly_write_job *k = first; k != j->next_; k = k->next_)
            if (k->rc_ == LY_OK) failJob(k, &lost);
        first = j->next_;
        open = ly__tx(db, STMT_BEGIN_IMMEDIATE, &txErr) == LY_OK;
    }
    if (!open) return false;
    if (ly__tx(db, STMT_COMMIT, &txErr) == LY_OK) return true;
    /* Nothing of the group is durable. Jobs that failed on their own keep their own error
     * (their changes were undone either way); the others learn the commit failed. */
    if (!sqlite3_get_autocommit(db->conn)) ly__tx(db, STMT_ROLLBACK, NULL);
    for (ly_write_job *k = first; k; k = k->next_)
        if (k->rc_ == LY_OK) failJob(k, &txErr);
    return false;
}

static void *writerMain(void *arg)
{
    ly_store *s = arg;
    pthread_mutex_lock(&s->q_mu);
    for (;;) {
        while (!s->q_head && !s->closing) pthread_cond_wait(&s->q_cv, &s->q_mu);
        if (!s->q_head) break; /* closing, and every job is done */

        /* Take up to batch_max jobs off the front of the queue. */
        ly_write_job *group = s->q_head, *last = group;
        int n = 1;
        while (n < s->batch_max && last->next_) {
            last = last->next_;
            n++;
        }
        s->q_head = last->next_;
        if (!s->q_head) s->q_tail = NULL;
        last->next_ = NULL;
        pthread_mutex_unlock(&s->q_mu);

        uint64_t t0 = ly_os_usec();
        bool committed = runGroup(s, group);
        uint64_t dt = ly_os_usec() - t0;

        int failed = 0;
        for (ly_write_job *j = group; j; j = j->next_) failed += j->rc_ != LY_OK;
        /* Counted before any done() runs, so a caller that saw its job finish sees it in the
         * stats. commit_usec_total is the whole group, BEGIN to COMMIT: how long the jobs of
         * a group waited for one another and for the fsync. */
        pthread_mutex_lock(&s->stats_mu);
        s->stats.commits += committed;
        s->stats.jobs += (uint64_t)n;
        s->stats.jobs_failed += (uint64_t)failed;
        s->stats.batch_hist[histBucket(n)]++;
        s->stats.commit_usec_total += dt;
        pthread_mutex_unlock(&s->stats_mu);

        /* After done() the caller may free the job: read next_ first. */
        for (ly_write_job *j = group, *next; j; j = next) {
            next = j->next_;
            if (j->done) j->done(j->ctx, j->rc_, &j->err_);
        }
        pthread_mutex_lock(&s->q_mu);
    }
    pthread_mutex_unlock(&s->q_mu);
    return NULL;
}

ly_err ly__writer_start(ly_store *s, ly_error *err)
{
    if (pthread_create(&s->thread, NULL, writerMain, s) != 0)
        return ly_error_set(err, LY_EIO, "storage_error", NULL, "cannot start the writer thread");
    s->thread_started = true;
    return LY_OK;
}

void ly__writer_stop(ly_store *s)
{
    pthread_mutex_lock(&s->q_mu);
    s->closing = true;
    pthread_cond_signal(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

ly_err ly_store_submit(ly_store *s, ly_write_job *job)
{
    assert(job && job->run);
    job->next_ = NULL;
    job->rc_ = LY_OK;
    pthread_mutex_lock(&s->q_mu);
    if (s->closing) {
        pthread_mutex_unlock(&s->q_mu);
        return LY_EIO;
    }
    /* The writer waits only on an empty queue, so only the first job needs to wake it. */
    bool wake = s->q_head == NULL;
    if (s->q_tail) s->q_tail->next_ = job;
    else s->q_head = job;
    s->q_tail = job;
    if (wake) pthread_cond_signal(&s->q_cv);
    pthread_mutex_unlock(&s->q_mu);
    return LY_OK;
}

/* ly_store_write: a job whose done() wakes the waiting caller. */
typedef struct waiter {
    ly_err (*run)(ly_db *db, void *ctx, ly_error *err);
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool finished;
    ly_err rc;
    ly_error err;
} waiter;

static ly_err waiterRun(ly_db *db, void *ctx, ly_error *err)
{
    waiter *w = ctx;
    return w->run(db, w->ctx, err);
}

static void waiterDone(void *ctx, ly_err rc, const ly_error *err)
{
    waiter *w = ctx;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    if (rc != LY_OK && err) w->err = *err;
    w->finished = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu); /* w may be gone from here on */
}

ly_err ly_store_write(ly_store *s, ly_err (*run)(ly_db *db, void *ctx, ly_error *err), void *ctx,
                      ly_error *err)
{
    /* A job that waits for another job would wait for itself. */
    if (s->thread_started && pthread_equal(pthread_self(), s->thread))
        return ly_error_set(err, LY_EINTERNAL, "nested_write", NULL,
                            "ly_store_write called from inside a write job");
    waiter w = {.run = run, .ctx = ctx};
    ly_error_clear(&w.err);
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    ly_write_job job = {.run = waiterRun, .done = waiterDone, .ctx = &w};
    ly_err rc = ly_store_submit(s, &job);
    if (rc != LY_OK) {
        ly_error_set(err, LY_EIO, "store_closed", NULL, "the store is closing");
    } else {
        pthread_mutex_lock(&w.mu);
        while (!w.finished) pthread_cond_wait(&w.cv, &w.mu);
        pthread_mutex_unlock(&w.mu);
        rc = w.rc;
        if (rc != LY_OK && err) *err = w.err;
    }
    pthread_mutex_destroy(&w.mu);
    pthread_cond_destroy(&w.cv);
    return rc;
}

void ly_store_stats_get(ly_store *s, ly_store_stats *out)
{
    pthread_mutex_lock(&s->stats_mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->stats_mu);
}
