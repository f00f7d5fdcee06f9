/*
 * test_engage_delivery.c - the outbox and its delivery (docs/delivery.md), against real
 * receivers on 127.0.0.1 run by this test: a webhook receiver (libmicrohttpd) that fails,
 * times out, hangs and recovers, deduplicating on the message id and verifying every
 * signature; a tiny SMTP server; the file adapter. Also: enqueue idempotency, the claim's
 * lease and its fencing, the retry schedule, dead letters and `loyal outbox retry`, a
 * `loyal outbox deliver` killed with SIGKILL mid-delivery and restarted (nothing lost), the
 * server's delivery thread and /metrics, and that a hanging receiver never holds up the
 * store's writer.
 *
 * Threads other than the main one (receivers, a delivery pass) only record; the main
 * thread asserts. Every wait is bounded.
 */
#include "testlib.h"

#include "engage/deliver_internal.h"
#include "engage/engage.h"
#include "os/os.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define T0 INT64_C(1795510800) /* 2026-11-24T09:00:00Z */
#define NOW_ENV "LOYAL_NOW=2026-11-24T09:00:00Z"
#define SECRET "test-secret-0123456789abcdef"

static uint64_t msNow(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleepMs(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------------------------------
 * A database with customers, opened in this process
 * ------------------------------------------------------------------------------------- */

typedef struct world {
    char *dir, *db;
    ly_store *s;
    int64_t customers[8];
} world;

static ly_err addCustomerRun(ly_db *db, void *ctx, ly_error *err)
{
    ly_customer c;
    memset(&c, 0, sizeof c);
    c.name = "Test";
    c.attributes = "{}";
    c.enrolled_at = T0 - 86400;
    for (int i = 0; i < LY_CH_COUNT; i++) c.consent[i].state = -1;
    ly_err rc = ly_db_customer_insert(db, &c, err);
    *(int64_t *)ctx = c.id;
    return rc;
}

static void worldOpen(world *w)
{
    ly_error err;
    ly_error_clear(&err);
    ly_store_options so = {.path = w->db, .sync = LY_SYNC_NORMAL};
    if (ly_store_open(&so, &w->s, &err) != LY_OK) fail_msg("store: %s", err.message);
}

static void worldMake(world *w, const char *prefix)
{
    memset(w, 0, sizeof *w);
    w->dir = tl_tempdir(prefix);
    w->db = tl_join(w->dir, "loyal.db");
    worldOpen(w);
    ly_error err;
    for (int i = 0; i < 8; i++)
        if (ly_store_write(w->s, addCustomerRun, &w->customers[i], &err) != LY_OK)
            fail_msg("customer: %s", err.message);
}

static void worldClose(world *w)
{
    ly_store_close(w->s);
    w->s = NULL;
}

static void worldFree(world *w)
{
    if (w->s) worldClose(w);
    tl_rmtree(w->dir);
    free(w->dir);
    free(w->db);
}

typedef struct enqueueCtx {
    ly_message m;
    bool created;
    ly_arena *a;
} enqueueCtx;

static ly_err enqueueRun(ly_db *db, void *ctx, ly_error *err)
{
    enqueueCtx *e = ctx;
    return ly_db_outbox_enqueue(db, &e->m, e->a, &e->created, err);
}

/* Enqueues a message; returns the rc, fills id (27 bytes) and *created. */
static ly_err enqueue(world *w, const char *trigger, int64_t customer, int64_t step,
                      const char *channel, const char *payload, char *id, bool *created,
                      ly_error *err)
{
    ly_arena a = {0};
    enqueueCtx e = {.a = &a};
    e.m.trigger = trigger;
    e.m.customer_id = customer;
    e.m.step = step;
    e.m.channel = channel;
    e.m.payload = payload;
    e.m.created_at = T0;
    ly_err rc = ly_store_write(w->s, enqueueRun, &e, err);
    if (rc == LY_OK) {
        if (id) memcpy(id, e.m.id, LY_MESSAGE_ID_LEN + 1);
        if (created) *created = e.created;
    }
    ly_arena_free(&a);
    return rc;
}

static void enqueueOk(world *w, const char *trigger, int64_t customer, int64_t step,
                      const char *channel, const char *payload, char *id)
{
    ly_error err;
    ly_error_clear(&err);
    bool created = false;
    if (enqueue(w, trigger, customer, step, channel, payload, id, &created, &err) != LY_OK)
        fail_msg("enqueue: %s (%s)", err.message, err.code);
    assert_true(created);
}

static ly_message getMsg(world *w, const char *id, ly_arena *a)
{
    ly_error err;
    ly_message m;
    ly_db *db = ly_store_reader(w->s, &err);
    assert_non_null(db);
    if (ly_db_outbox_get(db, id, a, &m, &err) != LY_OK) fail_msg("get %s: %s", id, err.message);
    return m;
}

static void counts(world *w, int64_t out[LY_MSG_STATE_COUNT])
{
    ly_error err;
    ly_db *db = ly_store_reader(w->s, &err);
    assert_non_null(db);
    assert_int_equal(ly_db_outbox_counts(db, out, &err), LY_OK);
}

static ly_delivery_config *config(const char *text)
{
    ly_delivery_config *c;
    ly_error err;
    ly_error_clear(&err);
    if (ly_delivery_config_parse(text, "test", &c, &err) != LY_OK)
        fail_msg("config: %s: %s (%s)\n%s", err.field, err.message, err.code, text);
    return c;
}

static ly_delivery_result pass(world *w, const ly_delivery_config *c, ly_time now)
{
    ly_delivery_result r = {0};
    ly_error err;
    ly_error_clear(&err);
    if (ly_delivery_pass(w->s, c, now, NULL, &r, &err) != LY_OK)
        fail_msg("pass: %s (%s)", err.message, err.code);
    return r;
}

/* ---------------------------------------------------------------------------------------
 * A webhook receiver (libmicrohttpd, thread per connection) on 127.0.0.1
 * ------------------------------------------------------------------------------------- */

typedef enum rxMode {
    RX_OK,        /* accept (deduplicating) */
    RX_500,       /* always 500 */
    RX_400,       /* always 400: a permanent refusal */
    RX_FLAKY,     /* per message: 500, then process and stall past the client's timeout,
                   * then (a duplicate by now) 200 */
    RX_HANG,      /* process, then hang until released */
    RX_SLOW       /* sleep stall_ms, then accept */
} rxMode;

#define RX_MAX 64

typedef struct receiver {
    struct MHD_Daemon *d;
    int port;
    char url[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rxMode mode;
    int stall_ms;
    bool release;        /* RX_HANG: let the hung requests go */
    int hanging;         /* requests hung right now */
    /* what it saw */
    int requests;
    int bad_signatures;
    int bad_bodies;      /* header id != body id, or not the envelope */
    int duplicates;      /* requests for an id already processed */
    int n_ids;
    char ids[RX_MAX][LY_MESSAGE_ID_LEN + 1];
    int seen[RX_MAX];      /* requests per id */
    int processed[RX_MAX]; /* times the receiver acted on it: must end at exactly 1 */
} receiver;

typedef struct rxConn {
    char *body;
    size_t len;
    bool too_big;
} rxConn;

/* Index of id in the receiver's table, adding it; -1 if full. Called with mu held. */
static int rxSlot(receiver *rx, const char *id)
{
    for (int i = 0; i < rx->n_ids; i++)
        if (strcmp(rx->ids[i], id) == 0) return i;
    if (rx->n_ids == RX_MAX || strlen(id) != LY_MESSAGE_ID_LEN) return -1;
    snprintf(rx->ids[rx->n_ids], sizeof rx->ids[0], "%s", id);
    return rx->n_ids++;
}

/* Waits (mu held) up to ms or until cond; false on timeout. */
static void rxWait(receiver *rx, int ms, bool (*until)(receiver *))
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!(until && until(rx)))
        if (pthread_cond_timedwait(&rx->cv, &rx->mu, &ts) != 0) break;
}

static bool rxReleased(receiver *rx) { return rx->release; }

static enum MHD_Result rxReply(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result rxHandle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    receiver *rx = cls;
    (void)url;
    (void)version;
    rxConn *cc = *con_cls;
    if (!cc) {
        cc = calloc(1, sizeof *cc);
        if (!cc) return MHD_NO;
        *con_cls = cc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (cc->len + *upload_size > 65536) {
            cc->too_big = true;
        } else {
            char *b = realloc(cc->body, cc->len + *upload_size + 1);
            if (!b) return MHD_NO;
            memcpy(b + cc->len, upload, *upload_size);
            cc->body = b;
            cc->len += *upload_size;
            cc->body[cc->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "POST") != 0 || cc->too_big || !cc->body) return rxReply(c, 400, "bad");

    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Loyal-Message-Id");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Loyal-Signature");
    char want[72];
    ly_delivery_sign((const unsigned char *)SECRET, strlen(SECRET), cc->body, cc->len, want);
    bool sigOk = sig && strcmp(sig, want) == 0;
    json_t *env = json_loads(cc->body, 0, NULL);
    json_t *bodyId = json_object_get(env, "id");
    bool bodyOk = id && json_is_string(bodyId) && strcmp(json_string_value(bodyId), id) == 0 &&
                  json_is_object(json_object_get(env, "payload"));
    json_decref(env);

    pthread_mutex_lock(&rx->mu);
    rx->requests++;
    if (!sigOk) rx->bad_signatures++;
    if (!bodyOk) rx->bad_bodies++;
    int slot = id ? rxSlot(rx, id) : -1;
    if (!sigOk || !bodyOk || slot < 0) {
        pthread_mutex_unlock(&rx->mu);
        return rxReply(c, 401, "unverified");
    }
    int nth = ++rx->seen[slot];
    bool already = rx->processed[slot] > 0;
    if (already) rx->duplicates++;
    unsigned status = 200;
    int stall = 0;
    bool hang = false;
    switch (rx->mode) {
    case RX_OK: break;
    case RX_500: status = 500; break;
    case RX_400: status = 400; break;
    case RX_FLAKY:
        if (nth == 1) status = 500;
        else if (nth == 2) stall = rx->stall_ms;
        break;
    case RX_HANG: hang = true; break;
    case RX_SLOW: stall = rx->stall_ms; break;
    }
    /* The receiver's business: done once per message id, whatever the retries. */
    if (status == 200 && !already) rx->processed[slot]++;
    if (stall) rxWait(rx, stall, NULL);
    if (hang) {
        rx->hanging++;
        pthread_cond_broadcast(&rx->cv);
        rxWait(rx, 20000, rxReleased);
        rx->hanging--;
    }
    pthread_mutex_unlock(&rx->mu);
    return rxReply(c, status, status == 200 ? "ok" : "no");
}

static void rxDone(void *cls, struct MHD_Connection *c, void **con_cls,
                   enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    rxConn *cc = *con_cls;
    if (cc) {
        free(cc->body);
        free(cc);
    }
    *con_cls = NULL;
}

static void rxStart(receiver *rx, rxMode mode)
{
    memset(rx, 0, sizeof *rx);
    pthread_mutex_init(&rx->mu, NULL);
    pthread_cond_init(&rx->cv, NULL);
    rx->mode = mode;
    rx->stall_ms = 600;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rx->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, rxHandle, rx, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_NOTIFY_COMPLETED, rxDone, rx,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_END);
    if (!rx->d) fail_msg("the receiver does not start");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx->d, MHD_DAEMON_INFO_BIND_PORT);
    rx->port = info ? info->port : 0;
    assert_true(rx->port > 0);
    snprintf(rx->url, sizeof rx->url, "http://127.0.0.1:%d/hook", rx->port);
}

static void rxSetMode(receiver *rx, rxMode mode)
{
    pthread_mutex_lock(&rx->mu);
    rx->mode = mode;
    pthread_mutex_unlock(&rx->mu);
}

static void rxRelease(receiver *rx)
{
    pthread_mutex_lock(&rx->mu);
    rx->release = true;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
}

static void rxStop(receiver *rx)
{
    rxRelease(rx);
    if (rx->d) MHD_stop_daemon(rx->d);
    rx->d = NULL;
    pthread_mutex_destroy(&rx->mu);
    pthread_cond_destroy(&rx->cv);
}

/* How many times the receiver acted on id (0 if it never saw it). */
static int rxProcessed(receiver *rx, const char *id)
{
    pthread_mutex_lock(&rx->mu);
    int n = 0;
    for (int i = 0; i < rx->n_ids; i++)
        if (strcmp(rx->ids[i], id) == 0) n = rx->processed[i];
    pthread_mutex_unlock(&rx->mu);
    return n;
}

static char *webhookConfig(const receiver *rx, const char *retry, long timeout_ms, int batch)
{
    return tl_strdupf("{\"retry\": %s, \"batch\": %d, \"channels\": {"
                      "\"sms\": {\"adapter\": \"webhook\", \"url\": \"%s\", \"secret\": \"%s\","
                      " \"timeout_ms\": %ld, \"connect_timeout_ms\": 1000, \"cost\": 250}}}",
                      retry, batch, rx->url, SECRET, timeout_ms);
}

/* The parsed webhookConfig; when saveTo is not NULL the same text is also written there
 * (for `loyal outbox deliver --delivery` and LOYAL_DELIVERY). */
static ly_delivery_config *webhookDelivery(const receiver *rx, const char *retry,
                                           long timeout_ms, int batch, const char *saveTo)
{
    char *text = webhookConfig(rx, retry, timeout_ms, batch);
    if (saveTo) assert_int_equal(tl_write_file(saveTo, text, (size_t)-1), 0);
    ly_delivery_config *c = config(text);
    free(text);
    return c;
}

/* Waits (at most ms) until the receiver holds a request unanswered; returns how many it
 * holds. Only the wait is bounded by the clock, never what a test concludes. */
static int rxAwaitHanging(receiver *rx, int ms)
{
    uint64_t t0 = msNow();
    pthread_mutex_lock(&rx->mu);
    while (rx->hanging == 0 && msNow() - t0 < (uint64_t)ms) rxWait(rx, 50, NULL);
    int hanging = rx->hanging;
    pthread_mutex_unlock(&rx->mu);
    return hanging;
}

/* ---------------------------------------------------------------------------------------
 * Running `loyal` in the background (to kill it)
 * ------------------------------------------------------------------------------------- */

static pid_t spawnLoyal(const char *const *env_add, const char *log, const char *const *args)
{
    const char *bin = tl_loyal_bin();
    size_t ne = 0, na = 0, nadd = 0;
    while (environ[ne]) ne++;
    while (env_add && env_add[nadd]) nadd++;
    while (args[na]) na++;
    char **envp = calloc(ne + nadd + 1, sizeof *envp);
    char **argv = calloc(na + 2, sizeof *argv);
    assert_non_null(envp);
    assert_non_null(argv);
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        bool replaced = false;
        for (size_t j = 0; j < nadd && !replaced; j++) {
            size_t eq = strcspn(env_add[j], "=");
            replaced = strncmp(environ[i], env_add[j], eq + 1) == 0;
        }
        if (!replaced) envp[k++] = environ[i];
    }
    for (size_t j = 0; j < nadd; j++) envp[k++] = (char *)env_add[j];
    argv[0] = (char *)bin;
    for (size_t i = 0; i < na; i++) argv[i + 1] = (char *)args[i];
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        dup2(fd, 1);
        dup2(fd, 2);
        execve(bin, argv, envp);
        _exit(127);
    }
    close(fd);
    free(envp);
    free(argv);
    return pid;
}

/* ---------------------------------------------------------------------------------------
 * Enqueueing
 * ------------------------------------------------------------------------------------- */

static void test_enqueue_is_idempotent(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-enqueue");
    char id1[32], id2[32], id3[32];
    bool created = true;
    ly_error err;
    ly_error_clear(&err);
    enqueueOk(&w, "winback", w.customers[0], 0, "sms", "{\"text\":\"hi\"}", id1);
    assert_int_equal(strlen(id1), LY_MESSAGE_ID_LEN);
    assert_memory_equal(id1, "msg_", 4);
    /* The same trigger, customer and step: the stored message, even with another payload. */
    assert_int_equal(enqueue(&w, "winback", w.customers[0], 0, "email", "{\"text\":\"other\"}",
                             id2, &created, &err), LY_OK);
    assert_false(created);
    assert_string_equal(id1, id2);
    /* Another step or customer is another message. */
    enqueueOk(&w, "winback", w.customers[0], 1, "sms", "{}", id3);
    assert_string_not_equal(id1, id3);
    enqueueOk(&w, "winback", w.customers[1], 0, "sms", "{}", id3);

    ly_arena a = {0};
    ly_message m = getMsg(&w, id1, &a);
    assert_int_equal(m.state, LY_MSG_PENDING);
    assert_string_equal(m.channel, "sms");
    assert_string_equal(m.payload, "{\"text\":\"hi\"}");
    assert_int_equal(m.next_at, T0);
    assert_int_equal(m.attempts, 0);
    ly_arena_free(&a);

    int64_t c[LY_MSG_STATE_COUNT];
    counts(&w, c);
    assert_int_equal(c[LY_MSG_PENDING], 3);

    /* Bad messages are refused, naming the member. */
    assert_int_equal(enqueue(&w, "t", w.customers[0], 5, "sms", "[1,2]", NULL, NULL, &err),
                     LY_EINVAL);
    assert_string_equal(err.code, "invalid_payload");
    assert_int_equal(enqueue(&w, "t", w.customers[0], 5, "sms", "{bad", NULL, NULL, &err),
                     LY_EINVAL);
    assert_string_equal(err.code, "invalid_payload");
    assert_int_equal(enqueue(&w, "t", w.customers[0], 5, "SMS!", "{}", NULL, NULL, &err),
                     LY_EINVAL);
    assert_string_equal(err.field, "channel");
    assert_int_equal(enqueue(&w, "", w.customers[0], 5, "sms", "{}", NULL, NULL, &err), LY_EINVAL);
    assert_string_equal(err.field, "trigger");
    assert_int_equal(enqueue(&w, "t", w.customers[0], -1, "sms", "{}", NULL, NULL, &err),
                     LY_EINVAL);
    assert_string_equal(err.field, "step");
    assert_int_equal(enqueue(&w, "t", 999999, 0, "sms", "{}", NULL, NULL, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");
    counts(&w, c);
    assert_int_equal(c[LY_MSG_PENDING], 3);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * Retry rules, the claim's lease and its fencing
 * ------------------------------------------------------------------------------------- */

static void test_backoff_is_exponential_jittered_and_capped(void **state)
{
    (void)state;
    ly_delivery_config *c = config("{\"retry\": {\"max_attempts\": 5, \"backoff_base_seconds\": 30,"
                                   " \"backoff_max_seconds\": 600}, \"channels\": {\"push\":"
                                   " {\"adapter\": \"file\", \"path\": \"-\"}}}");
    int64_t want[] = {30, 60, 120, 240, 480, 600, 600};
    bool spread = false;
    for (int attempt = 1; attempt <= 7; attempt++) {
        int64_t d = want[attempt - 1];
        for (int k = 0; k < 50; k++) {
            char id[32];
            snprintf(id, sizeof id, "msg_%022d", k);
            int64_t b = ly_delivery_backoff(c, id, attempt);
            assert_true(b >= d - d / 2 && b <= d);
            /* deterministic per (message, attempt) */
            assert_int_equal(b, ly_delivery_backoff(c, id, attempt));
            if (k > 0 && b != ly_delivery_backoff(c, "msg_0000000000000000000000", attempt))
                spread = true;
        }
    }
    assert_true(spread);
    assert_int_equal(ly_delivery_after_failure(c, 1, false), LY_OUTCOME_RETRY);
    assert_int_equal(ly_delivery_after_failure(c, 4, false), LY_OUTCOME_RETRY);
    assert_int_equal(ly_delivery_after_failure(c, 5, false), LY_OUTCOME_DEAD);
    assert_int_equal(ly_delivery_after_failure(c, 1, true), LY_OUTCOME_DEAD);
    /* The lease covers a batch at the slowest timeout. */
    assert_true(c->lease >= 60);
    ly_delivery_config_free(c);

    /* Bad files are refused, naming the setting. */
    static const struct {
        const char *text, *field;
    } bad[] = {
        {"{\"channels\": {}}", "channels"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"pigeon\"}}}", "channels.sms.adapter"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"webhook\", \"url\": \"ftp://x\","
         " \"secret\": \"0123456789abcdef\"}}}", "channels.sms.url"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"webhook\", \"url\": \"http://x\","
         " \"secret\": \"short\"}}}", "channels.sms.secret"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"webhook\", \"url\": \"http://x\"}}}",
         "channels.sms.secret"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"webhook\", \"url\": \"http://x\","
         " \"secret_env\": \"LOYAL_TEST_UNSET_SECRET\"}}}", "channels.sms.secret_env"},
        {"{\"channels\": {\"sms\": {\"adapter\": \"file\", \"path\": \"-\", \"colour\": 1}}}",
         "channels.sms.colour"},
        {"{\"channels\": {\"e\": {\"adapter\": \"smtp\", \"url\": \"smtp://x\","
         " \"from\": \"nobody\"}}}", "channels.e.from"},
        {"{\"channels\": {\"e\": {\"adapter\": \"file\", \"path\": \"-\", \"cost\": -1}}}",
         "channels.e.cost"},
        {"{\"retry\": {\"lease_seconds\": 5}, \"channels\": {\"e\": {\"adapter\": \"file\","
         " \"path\": \"-\"}}}", "retry.lease_seconds"},
        {"{\"batch\": 0, \"channels\": {\"e\": {\"adapter\": \"file\", \"path\": \"-\"}}}", "batch"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ly_error err;
        ly_error_clear(&err);
        ly_delivery_config *x = NULL;
        assert_int_equal(ly_delivery_config_parse(bad[i].text, "t", &x, &err), LY_EINVAL);
        assert_null(x);
        if (strcmp(err.field, bad[i].field) != 0)
            fail_msg("%s: field %s, expected %s (%s)", bad[i].text, err.field, bad[i].field,
                     err.message);
    }
}

typedef struct claimCtx {
    ly_time now, lease;
    size_t limit;
    ly_arena *a;
    ly_message *m;
    size_t n;
    int64_t reclaimed;
} claimCtx;

static ly_err claimRun(ly_db *db, void *ctx, ly_error *err)
{
    claimCtx *c = ctx;
    return ly_db_outbox_claim(db, NULL, c->now, c->lease, c->limit, c->a, &c->m, &c->n,
                              &c->reclaimed, err);
}

typedef struct recordCtx {
    ly_msg_outcome o;
    bool applied;
} recordCtx;

static ly_err recordRun(ly_db *db, void *ctx, ly_error *err)
{
    recordCtx *r = ctx;
    return ly_db_outbox_record(db, &r->o, &r->applied, err);
}

static bool record(world *w, const char *id, int64_t attempt, ly_msg_outcome_kind kind,
                   ly_time at)
{
    recordCtx r = {.o = {.id = id, .attempt = attempt, .kind = kind, .at = at,
                         .next_at = at + 60, .error = "boom", .cost = 7}};
    ly_error err;
    if (ly_store_write(w->s, recordRun, &r, &err) != LY_OK) fail_msg("record: %s", err.message);
    return r.applied;
}

static ly_err retryRun(ly_db *db, void *ctx, ly_error *err)
{
    return ly_db_outbox_retry(db, ctx, T0 + 500, err);
}

static void test_claim_leases_and_fences(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-claim");
    char a1[32], a2[32], a3[32];
    enqueueOk(&w, "t", w.customers[0], 0, "sms", "{}", a1);
    enqueueOk(&w, "t", w.customers[1], 0, "sms", "{}", a2);
    enqueueOk(&w, "t", w.customers[2], 0, "sms", "{}", a3);
    ly_arena a = {0};
    ly_error err;
    claimCtx c = {.now = T0, .lease = T0 + 300, .limit = 2, .a = &a};
    assert_int_equal(ly_store_write(w.s, claimRun, &c, &err), LY_OK);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.reclaimed, 0);
    assert_int_equal(c.m[0].state, LY_MSG_SENDING);
    assert_int_equal(c.m[0].attempts, 1);
    char first[32];
    snprintf(first, sizeof first, "%s", c.m[0].id);
    /* Claimed messages are not claimed again while the lease runs. */
    c.limit = 10;
    assert_int_equal(ly_store_write(w.s, claimRun, &c, &err), LY_OK);
    assert_int_equal(c.n, 1);
    c.now = T0 + 299;
    assert_int_equal(ly_store_write(w.s, claimRun, &c, &err), LY_OK);
    assert_int_equal(c.n, 0);
    /* The lease ran out (the worker died): the next claim takes them back. */
    c.now = T0 + 300;
    c.lease = T0 + 600;
    assert_int_equal(ly_store_write(w.s, claimRun, &c, &err), LY_OK);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.reclaimed, 3);
    ly_message m = getMsg(&w, first, &a);
    assert_int_equal(m.attempts, 2);
    assert_int_equal(m.state, LY_MSG_SENDING);
    /* The old worker's failure must not overwrite the newer attempt... */
    assert_false(record(&w, first, 1, LY_OUTCOME_RETRY, T0 + 310));
    assert_false(record(&w, first, 1, LY_OUTCOME_DEAD, T0 + 310));
    m = getMsg(&w, first, &a);
    assert_int_equal(m.state, LY_MSG_SENDING);
    /* ...but its success counts, whoever delivered. */
    assert_true(record(&w, first, 1, LY_OUTCOME_DELIVERED, T0 + 311));
    m = getMsg(&w, first, &a);
    assert_int_equal(m.state, LY_MSG_DELIVERED);
    assert_int_equal(m.delivered_at, T0 + 311);
    assert_int_equal(m.cost, 7);
    assert_false(record(&w, first, 2, LY_OUTCOME_RETRY, T0 + 312));
    assert_false(record(&w, first, 2, LY_OUTCOME_DELIVERED, T0 + 312));
    /* A retry under the current attempt applies, with its due time and error. */
    const char *second = strcmp(first, a1) == 0 ? a2 : a1;
    assert_true(record(&w, second, 2, LY_OUTCOME_RETRY, T0 + 320));
    m = getMsg(&w, second, &a);
    assert_int_equal(m.state, LY_MSG_RETRYING);
    assert_int_equal(m.next_at, T0 + 380);
    assert_string_equal(m.last_error, "boom");
    /* A release hands it back unattempted: a3's second attempt is not counted, its first
     * (whose lease ran out) is. */
    assert_false(record(&w, a3, 1, LY_OUTCOME_RELEASE, T0 + 330));
    assert_true(record(&w, a3, 2, LY_OUTCOME_RELEASE, T0 + 330));
    m = getMsg(&w, a3, &a);
    assert_int_equal(m.state, LY_MSG_RETRYING);
    assert_int_equal(m.attempts, 1);
    assert_int_equal(m.next_at, T0 + 330);
    int64_t n[LY_MSG_STATE_COUNT];
    counts(&w, n);
    assert_int_equal(n[LY_MSG_DELIVERED], 1);
    assert_int_equal(n[LY_MSG_RETRYING], 2);
    assert_int_equal(n[LY_MSG_SENDING], 0);
    /* A first attempt released goes back to pending. */
    char a4[32];
    enqueueOk(&w, "t", w.customers[3], 0, "sms", "{}", a4);
    c.now = T0 + 400;
    c.lease = T0 + 700;
    c.limit = 10;
    assert_int_equal(ly_store_write(w.s, claimRun, &c, &err), LY_OK);
    assert_int_equal(c.n, 3); /* a4, and the two retrying ones now due */
    assert_true(record(&w, a4, 1, LY_OUTCOME_RELEASE, T0 + 401));
    m = getMsg(&w, a4, &a);
    assert_int_equal(m.state, LY_MSG_PENDING);
    assert_int_equal(m.attempts, 0);
    /* Retry is for dead messages only. */
    ly_error_clear(&err);
    assert_int_equal(ly_store_write(w.s, retryRun, a4, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "message_not_dead");
    assert_int_equal(ly_store_write(w.s, retryRun, "msg_none", &err), LY_ENOTFOUND);
    assert_true(record(&w, a4, 0, LY_OUTCOME_RELEASE, T0) == false);
    ly_arena_free(&a);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * The webhook against a receiver that fails, times out and recovers
 * ------------------------------------------------------------------------------------- */

#define FLAKY_N 6

static void test_webhook_fails_times_out_and_recovers(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-flaky");
    receiver rx;
    rxStart(&rx, RX_FLAKY);
    /* Far beyond the client's 800 ms, which is itself far beyond what a local answer takes
     * even on a loaded machine under the sanitizers: the counts below must not depend on
     * how fast this machine is. */
    rx.stall_ms = 3000;
    const char *retry = "{\"max_attempts\": 6, \"backoff_base_seconds\": 10,"
                        " \"backoff_max_seconds\": 40}";
    ly_delivery_config *c = webhookDelivery(&rx, retry, 800, 10, NULL);
    char ids[FLAKY_N][32];
    for (int i = 0; i < FLAKY_N; i++) {
        char payload[64];
        snprintf(payload, sizeof payload, "{\"text\":\"hello %d\",\"n\":%d}", i, i);
        enqueueOk(&w, "winback", w.customers[i], 0, "sms", payload, ids[i]);
    }
    ly_delivery_stats before;
    ly_delivery_stats_get(&before);
    /* Passes every 100 simulated seconds: later than any back-off, bounded in number. */
    ly_delivery_result total = {0};
    int passes = 0;
    for (; passes < 10; passes++) {
        ly_delivery_result r = pass(&w, c, T0 + passes * 100);
        total.claimed += r.claimed;
        total.delivered += r.delivered;
        total.retrying += r.retrying;
        total.dead += r.dead;
        int64_t n[LY_MSG_STATE_COUNT];
        counts(&w, n);
        if (n[LY_MSG_DELIVERED] == FLAKY_N) break;
    }
    assert_true(passes < 10);
    assert_int_equal(total.delivered, FLAKY_N);
    assert_int_equal(total.retrying, 2 * FLAKY_N); /* a 500 and a timeout each */
    assert_int_equal(total.dead, 0);

    /* From the receiver's point of view: every message once, none lost, none unknown,
     * every signature good; and the timeouts did make duplicates to deduplicate. */
    pthread_mutex_lock(&rx.mu);
    assert_int_equal(rx.bad_signatures, 0);
    assert_int_equal(rx.bad_bodies, 0);
    assert_int_equal(rx.n_ids, FLAKY_N);
    assert_int_equal(rx.requests, 3 * FLAKY_N);
    assert_int_equal(rx.duplicates, FLAKY_N);
    pthread_mutex_unlock(&rx.mu);
    ly_arena a = {0};
    for (int i = 0; i < FLAKY_N; i++) {
        assert_int_equal(rxProcessed(&rx, ids[i]), 1);
        ly_message m = getMsg(&w, ids[i], &a);
        assert_int_equal(m.state, LY_MSG_DELIVERED);
        assert_int_equal(m.attempts, 3);
        assert_int_equal(m.cost, 250);
        assert_null(m.last_error);
    }
    ly_arena_free(&a);

    ly_delivery_stats after;
    ly_delivery_stats_get(&after);
    assert_int_equal(after.delivered - before.delivered, FLAKY_N);
    assert_int_equal(after.failures - before.failures, 2 * FLAKY_N);
    assert_int_equal(after.retries - before.retries, 2 * FLAKY_N);
    assert_int_equal(after.cost - before.cost, 250 * FLAKY_N);
    char *metrics = ly_delivery_metrics_text(w.s);
    assert_non_null(metrics);
    assert_non_null(strstr(metrics, "loyal_outbox_messages{state=\"delivered\"} 6\n"));
    assert_non_null(strstr(metrics, "loyal_outbox_messages{state=\"pending\"} 0\n"));
    assert_non_null(strstr(metrics, "# TYPE loyal_delivery_latency_seconds histogram"));
    free(metrics);

    ly_delivery_config_free(c);
    rxStop(&rx);
    worldFree(&w);
}

/* A hung receiver holds a delivery thread, never the store's writer. */
/* Messages in state 'sending' right now, read beside a running server (WAL: a reader
 * never waits for it). */
static int64_t sendingNow(const char *db)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(c, "SELECT count(*) FROM outbox WHERE state = 'sending'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return n;
}

typedef struct passThread {
    world *w;
    const ly_delivery_config *c;
    ly_delivery_result r;
    ly_err rc;
    _Atomic bool finished; /* the pass has returned */
} passThread;

static void *passMain(void *arg)
{
    passThread *p = arg;
    ly_error err;
    p->rc = ly_delivery_pass(p->w->s, p->c, T0, NULL, &p->r, &err);
    p->finished = true;
    return NULL;
}

static void test_hung_receiver_never_blocks_writes(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-hung");
    receiver rx;
    rxStart(&rx, RX_HANG);
    ly_delivery_config *c = webhookDelivery(&rx, "{\"max_attempts\": 3}", 4000, 10, NULL);
    char id[32];
    enqueueOk(&w, "t", w.customers[0], 0, "sms", "{}", id);
    passThread p = {.w = &w, .c = c};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, passMain, &p), 0);
    /* Wait until the receiver holds the request. */
    assert_int_equal(rxAwaitHanging(&rx, 5000), 1);
    /* Meanwhile the writer serves everyone else: all 20 writes are done while the delivery
     * pass is still waiting for the receiver (until the client's 4 s timeout), so none of
     * them waited for the delivery. The clock is not read: only a writer that waits for the
     * receiver can fail this, not a slow machine (short of 20 writes taking 4 s). */
    for (int i = 0; i < 20; i++) enqueueOk(&w, "other", w.customers[1], i, "sms", "{}", NULL);
    assert_false(p.finished);
    pthread_join(th, NULL);
    assert_true(p.finished);
    /* The client gave up after its timeout; the message waits for its retry. */
    assert_int_equal(p.rc, LY_OK);
    assert_int_equal(p.r.retrying, 1);
    ly_arena a = {0};
    ly_message m = getMsg(&w, id, &a);
    assert_int_equal(m.state, LY_MSG_RETRYING);
    assert_non_null(strstr(m.last_error, "timed out"));
    ly_arena_free(&a);
    rxStop(&rx);
    ly_delivery_config_free(c);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * Dead letters and `loyal outbox retry`
 * ------------------------------------------------------------------------------------- */

static void test_dead_letter_then_outbox_retry(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-dead");
    receiver rx;
    rxStart(&rx, RX_500);
    char *cfgPath = tl_join(w.dir, "delivery.json");
    const char *retry = "{\"max_attempts\": 3, \"backoff_base_seconds\": 5}";
    ly_delivery_config *c = webhookDelivery(&rx, retry, 2000, 10, cfgPath);
    char id[32], refused[32];
    enqueueOk(&w, "winback", w.customers[0], 0, "sms", "{\"text\":\"x\"}", id);
    ly_delivery_result r;
    for (int i = 0; i < 3; i++) {
        r = pass(&w, c, T0 + i * 100);
        assert_int_equal(r.claimed, 1);
    }
    assert_int_equal(r.dead, 1);
    assert_int_equal(pass(&w, c, T0 + 1000).claimed, 0); /* dead is final */
    ly_arena a = {0};
    ly_message m = getMsg(&w, id, &a);
    assert_int_equal(m.state, LY_MSG_DEAD);
    assert_int_equal(m.attempts, 3);
    assert_non_null(strstr(m.last_error, "attempt 3: webhook: HTTP 500"));

    /* A 4xx is refused for good: dead after one attempt. */
    rxSetMode(&rx, RX_400);
    enqueueOk(&w, "winback", w.customers[1], 0, "sms", "{}", refused);
    r = pass(&w, c, T0 + 1100);
    assert_int_equal(r.dead, 1);
    m = getMsg(&w, refused, &a);
    assert_int_equal(m.state, LY_MSG_DEAD);
    assert_int_equal(m.attempts, 1);
    worldClose(&w);

    /* `loyal outbox list --state dead` shows both; retry puts one back. */
    tl_run run;
    tl_loyal(&run, NULL, "outbox", "list", "--db", w.db, "--state", "dead", "--json", NULL);
    assert_int_equal(run.code, 0);
    assert_non_null(strstr(run.out, id));
    assert_non_null(strstr(run.out, refused));
    tl_run_free(&run);
    const char *env[] = {"LOYAL_NOW=2026-11-24T10:00:00Z", NULL};
    tl_loyal(&run, env, "outbox", "retry", "--db", w.db, id, NULL);
    if (run.code != 0) fail_msg("retry: %s", run.err);
    tl_run_free(&run);
    /* Not dead any more: a second retry is a conflict; an unknown id is not found. */
    tl_loyal(&run, env, "outbox", "retry", "--db", w.db, id, NULL);
    assert_int_equal(run.code, 3);
    assert_non_null(strstr(run.err, "message_not_dead"));
    tl_run_free(&run);
    tl_loyal(&run, env, "outbox", "retry", "--db", w.db, "msg_nosuchmessage000000000", NULL);
    assert_int_equal(run.code, 1);
    tl_run_free(&run);

    /* The receiver recovers; `loyal outbox deliver` delivers the retried one only. */
    rxSetMode(&rx, RX_OK);
    tl_loyal(&run, env, "outbox", "deliver", "--db", w.db, "--delivery", cfgPath, NULL);
    if (run.code != 0) fail_msg("deliver: %s", run.err);
    assert_non_null(strstr(run.out, "delivered 1,"));
    tl_run_free(&run);
    worldOpen(&w);
    m = getMsg(&w, id, &a);
    assert_int_equal(m.state, LY_MSG_DELIVERED);
    assert_int_equal(m.attempts, 1);
    assert_int_equal(rxProcessed(&rx, id), 1);
    m = getMsg(&w, refused, &a);
    assert_int_equal(m.state, LY_MSG_DEAD);
    ly_arena_free(&a);
    ly_delivery_config_free(c);
    free(cfgPath);
    rxStop(&rx);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * A crash mid-delivery
 * ------------------------------------------------------------------------------------- */

#define CRASH_N 12

static void test_killed_deliver_loses_nothing(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-crash");
    receiver rx;
    rxStart(&rx, RX_HANG);
    char *cfgPath = tl_join(w.dir, "delivery.json");
    ly_delivery_config *c = webhookDelivery(&rx, "{\"max_attempts\": 4}", 15000, 4, cfgPath);
    int64_t lease = c->lease;
    ly_delivery_config_free(c);
    char ids[CRASH_N][32];
    for (int i = 0; i < CRASH_N; i++)
        enqueueOk(&w, "welcome", w.customers[i % 8], i / 8, "sms", "{\"text\":\"hi\"}", ids[i]);
    worldClose(&w);

    char *log = tl_join(w.dir, "deliver.log");
    const char *env1[] = {NOW_ENV, NULL};
    const char *args[] = {"outbox", "deliver", "--db", w.db, "--delivery", cfgPath, NULL};
    pid_t pid = spawnLoyal(env1, log, args);
    /* Wait until the receiver holds the first message (it has acted on it). */
    assert_int_equal(rxAwaitHanging(&rx, 10000), 1);
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    rxRelease(&rx);

    /* A batch of 4 is left 'sending' under the dead worker's lease. */
    worldOpen(&w);
    int64_t n[LY_MSG_STATE_COUNT];
    counts(&w, n);
    assert_int_equal(n[LY_MSG_SENDING], 4);
    assert_int_equal(n[LY_MSG_PENDING], CRASH_N - 4);
    worldClose(&w);

    /* Restarted before the lease ends, the batch is left alone; after, it is taken back. */
    rxSetMode(&rx, RX_OK);
    tl_run run;
    tl_loyal(&run, env1, "outbox", "deliver", "--db", w.db, "--delivery", cfgPath, NULL);
    if (run.code != 0) fail_msg("deliver: %s", run.err);
    assert_non_null(strstr(run.out, "delivered 8,"));
    tl_run_free(&run);
    ly_time later = T0 + lease;
    char nowEnv[64], when[40];
    ly_time_format(later, 0, when, sizeof when);
    snprintf(nowEnv, sizeof nowEnv, "LOYAL_NOW=%s", when);
    const char *env2[] = {nowEnv, NULL};
    tl_loyal(&run, env2, "outbox", "deliver", "--db", w.db, "--delivery", cfgPath, NULL);
    if (run.code != 0) fail_msg("deliver: %s", run.err);
    assert_non_null(strstr(run.out, "claimed 4 (4 after an expired lease): delivered 4,"));
    tl_run_free(&run);

    worldOpen(&w);
    counts(&w, n);
    assert_int_equal(n[LY_MSG_DELIVERED], CRASH_N);
    pthread_mutex_lock(&rx.mu);
    assert_int_equal(rx.n_ids, CRASH_N);
    assert_int_equal(rx.bad_signatures, 0);
    assert_int_equal(rx.duplicates, 1); /* the one in flight when the worker died */
    pthread_mutex_unlock(&rx.mu);
    for (int i = 0; i < CRASH_N; i++) assert_int_equal(rxProcessed(&rx, ids[i]), 1);
    free(log);
    free(cfgPath);
    rxStop(&rx);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * The file adapter
 * ------------------------------------------------------------------------------------- */

static void test_file_adapter_writes_json_lines(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-file");
    char *path = tl_join(w.dir, "push.jsonl");
    char *text = tl_strdupf("{\"channels\": {\"push\": {\"adapter\": \"file\", \"path\": \"%s\","
                            " \"cost\": 3}}}", path);
    ly_delivery_config *c = config(text);
    free(text);
    char ids[3][32];
    enqueueOk(&w, "birthday", w.customers[0], 0, "push", "{\"title\":\"С днём рождения\"}", ids[0]);
    enqueueOk(&w, "birthday", w.customers[1], 0, "push", "{\"title\":\"b\",\"n\":[1,2]}", ids[1]);
    enqueueOk(&w, "birthday", w.customers[2], 2, "push", "{}", ids[2]);
    /* A channel the file does not configure stays pending, untouched. */
    char other[32];
    enqueueOk(&w, "birthday", w.customers[3], 0, "call_list", "{}", other);
    ly_delivery_result r = pass(&w, c, T0 + 5);
    assert_int_equal(r.claimed, 3);
    assert_int_equal(r.delivered, 3);
    char *out = tl_read_file(path, NULL);
    assert_non_null(out);
    int lines = 0;
    for (char *line = out, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        json_t *v = tl_json_parse(line);
        const char *id = tl_json_str(v, "id");
        assert_string_equal(id, ids[lines]);
        assert_string_equal(tl_json_str(v, "trigger"), "birthday");
        assert_string_equal(tl_json_str(v, "channel"), "push");
        assert_int_equal(tl_json_int(v, "customer_id"), w.customers[lines]);
        assert_int_equal(tl_json_int(v, "attempt"), 1);
        assert_string_equal(tl_json_str(v, "created_at"), "2026-11-24T09:00:00Z");
        assert_string_equal(tl_json_str(v, "sent_at"), "2026-11-24T09:00:05Z");
        assert_true(json_is_object(tl_json_at(v, "payload")));
        if (lines == 0) assert_string_equal(tl_json_str(v, "payload.title"), "С днём рождения");
        if (lines == 2) assert_int_equal(tl_json_int(v, "step"), 2);
        json_decref(v);
        lines++;
    }
    assert_int_equal(lines, 3);
    free(out);
    ly_arena a = {0};
    ly_message m = getMsg(&w, ids[1], &a);
    assert_int_equal(m.state, LY_MSG_DELIVERED);
    assert_int_equal(m.cost, 3);
    assert_int_equal(m.delivered_at, T0 + 5);
    m = getMsg(&w, other, &a);
    assert_int_equal(m.state, LY_MSG_PENDING);
    assert_int_equal(m.attempts, 0);
    ly_arena_free(&a);
    ly_delivery_config_free(c);
    free(path);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * SMTP against a tiny server on 127.0.0.1
 * ------------------------------------------------------------------------------------- */

#define SMTP_MAX 4

typedef struct smtpServer {
    int fd, port;
    pthread_t thread;
    _Atomic int stop;
    int rcpt_code;       /* the reply to RCPT TO (250 or e.g. 550) */
    /* what it got, per message accepted */
    int n;
    char from[SMTP_MAX][1024], rcpt[SMTP_MAX][1024];
    char *data[SMTP_MAX];
    int sessions;
    bool protocol_error;
} smtpServer;

/* Reads one CRLF line into line (max size) from fd within 5 s; false on EOF or timeout. */
static bool smtpLine(int fd, char *buf, size_t *have, char *line, size_t size)
{
    for (int rounds = 0; rounds < 10000; rounds++) {
        char *nl = memchr(buf, '\n', *have);
        if (nl) {
            size_t n = (size_t)(nl - buf) + 1;
            size_t copy = n < size ? n : size - 1;
            memcpy(line, buf, copy);
            line[copy] = '\0';
            memmove(buf, buf + n, *have - n);
            *have -= n;
            return true;
        }
        if (*have >= 8191) return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) return false;
        ssize_t got = read(fd, buf + *have, 8192 - *have);
        if (got <= 0) return false;
        *have += (size_t)got;
    }
    return false;
}

static void smtpSay(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(fd, s, len);
        if (w <= 0) return;
        s += w;
        len -= (size_t)w;
    }
}

static void smtpSession(smtpServer *sv, int fd)
{
    char buf[8192], line[1024];
    size_t have = 0;
    smtpSay(fd, "220 test.local ESMTP\r\n");
    for (int cmds = 0; cmds < 100; cmds++) {
        if (!smtpLine(fd, buf, &have, line, sizeof line)) return;
        if (strncasecmp(line, "EHLO", 4) == 0) smtpSay(fd, "250-test.local\r\n250 8BITMIME\r\n");
        else if (strncasecmp(line, "HELO", 4) == 0) smtpSay(fd, "250 test.local\r\n");
        else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
            if (sv->n < SMTP_MAX) snprintf(sv->from[sv->n], sizeof sv->from[0], "%s", line + 10);
            smtpSay(fd, "250 OK\r\n");
        } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
            if (sv->n < SMTP_MAX) snprintf(sv->rcpt[sv->n], sizeof sv->rcpt[0], "%s", line + 8);
            char reply[64];
            snprintf(reply, sizeof reply, "%d %s\r\n", sv->rcpt_code,
                     sv->rcpt_code == 250 ? "OK" : "no such user");
            smtpSay(fd, reply);
        } else if (strncasecmp(line, "DATA", 4) == 0) {
            smtpSay(fd, "354 go ahead\r\n");
            size_t cap = 65536, len = 0;
            char *data = malloc(cap);
            if (!data) return;
            bool ended = false;
            for (int lines = 0; lines < 2000 && !ended; lines++) {
                if (!smtpLine(fd, buf, &have, line, sizeof line)) break;
                if (strcmp(line, ".\r\n") == 0) {
                    ended = true;
                    break;
                }
                const char *p = line[0] == '.' ? line + 1 : line; /* undo dot-stuffing */
                size_t n = strlen(p);
                if (len + n + 1 > cap) break;
                memcpy(data + len, p, n);
                len += n;
            }
            data[len] = '\0';
            if (!ended) {
                sv->protocol_error = true;
                free(data);
                return;
            }
            if (sv->n < SMTP_MAX) sv->data[sv->n++] = data;
            else free(data);
            smtpSay(fd, "250 queued\r\n");
        } else if (strncasecmp(line, "QUIT", 4) == 0) {
            smtpSay(fd, "221 bye\r\n");
            return;
        } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0) {
            smtpSay(fd, "250 OK\r\n");
        } else {
            smtpSay(fd, "502 not implemented\r\n");
        }
    }
}

static void *smtpMain(void *arg)
{
    smtpServer *sv = arg;
    /* Sessions one after another until stopped; each wait is bounded. */
    for (int rounds = 0; rounds < 600 && !atomic_load(&sv->stop); rounds++) {
        struct pollfd p = {sv->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0) continue;
        sv->sessions++;
        smtpSession(sv, c);
        close(c);
    }
    return NULL;
}

static void smtpStart(smtpServer *sv, int rcpt_code)
{
    memset(sv, 0, sizeof *sv);
    sv->rcpt_code = rcpt_code;
    sv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv->fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(sv->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(sv->fd, 4), 0);
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(sv->fd, (struct sockaddr *)&sa, &sl), 0);
    sv->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&sv->thread, NULL, smtpMain, sv), 0);
}

static void smtpStop(smtpServer *sv)
{
    atomic_store(&sv->stop, 1);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
}

static void smtpFree(smtpServer *sv)
{
    for (int i = 0; i < sv->n; i++) free(sv->data[i]);
    sv->n = 0;
}

static ly_delivery_config *smtpDelivery(const smtpServer *sv)
{
    char *text = tl_strdupf("{\"channels\": {\"email\": {\"adapter\": \"smtp\","
                            " \"url\": \"smtp://127.0.0.1:%d\","
                            " \"from\": \"Shop <loyalty@shop.example>\","
                            " \"starttls\": \"never\", \"timeout_ms\": 5000, \"cost\": 10}}}",
                            sv->port);
    ly_delivery_config *c = config(text);
    free(text);
    return c;
}

static void test_smtp_sends_an_rfc5322_message(void **state)
{
    (void)state;
    world w;
    worldMake(&w, "outbox-smtp");
    smtpServer sv;
    smtpStart(&sv, 250);
    ly_delivery_config *c = smtpDelivery(&sv);
    char id[32], noTo[32];
    enqueueOk(&w, "winback", w.customers[0], 0, "email",
              "{\"to\":\"Анна <anna@example.com>\",\"subject\":\"Скидка 10% для вас\","
              "\"text\":\"Hello Anna,\\n.a line starting with a dot\\nBye\"}", id);
    enqueueOk(&w, "winback", w.customers[1], 0, "email", "{\"subject\":\"x\",\"text\":\"y\"}", noTo);
    ly_delivery_result r = pass(&w, c, T0);
    assert_int_equal(r.delivered, 1);
    assert_int_equal(r.dead, 1); /* no address: permanent */
    smtpStop(&sv);

    assert_false(sv.protocol_error);
    assert_int_equal(sv.n, 1);
    assert_string_equal(sv.from[0], "<loyalty@shop.example>\r\n");
    assert_string_equal(sv.rcpt[0], "<anna@example.com>\r\n");
    const char *d = sv.data[0];
    char want[128];
    snprintf(want, sizeof want, "\r\nMessage-ID: <%s@shop.example>\r\n", id);
    assert_non_null(strstr(d, want));
    assert_true(strncmp(d, "Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n", 39) == 0);
    assert_non_null(strstr(d, "\r\nFrom: Shop <loyalty@shop.example>\r\n"));
    /* Non-ASCII header text travels as RFC 2047 encoded words. */
    assert_non_null(strstr(d, "\r\nTo: =?UTF-8?B?0JDQvdC90LA=?= <anna@example.com>\r\n"));
    assert_non_null(strstr(d, "\r\nSubject: =?UTF-8?B?"));
    assert_non_null(strstr(d, "\r\nMIME-Version: 1.0\r\n"));
    assert_non_null(strstr(d, "\r\nContent-Type: text/plain; charset=UTF-8\r\n"));
    assert_non_null(strstr(d, "\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
                              "Hello Anna,\r\n.a line starting with a dot\r\nBye\r\n"));
    /* Every line ends in CRLF. */
    for (const char *p = d; (p = strchr(p, '\n')); p++) assert_true(p > d && p[-1] == '\r');

    ly_arena a = {0};
    ly_message m = getMsg(&w, id, &a);
    assert_int_equal(m.state, LY_MSG_DELIVERED);
    assert_int_equal(m.cost, 10);
    m = getMsg(&w, noTo, &a);
    assert_int_equal(m.state, LY_MSG_DEAD);
    assert_non_null(strstr(m.last_error, "no \"to\""));
    ly_arena_free(&a);
    ly_delivery_config_free(c);
    smtpFree(&sv);

    /* A recipient the server refuses for good (550) is dead at once. */
    smtpStart(&sv, 550);
    c = smtpDelivery(&sv);
    char refused[32];
    enqueueOk(&w, "winback", w.customers[2], 0, "email",
              "{\"to\":\"ghost@example.com\",\"subject\":\"s\",\"text\":\"t\"}", refused);
    r = pass(&w, c, T0);
    assert_int_equal(r.dead, 1);
    smtpStop(&sv);
    assert_int_equal(sv.n, 0);
    smtpFree(&sv);
    m = getMsg(&w, refused, &a);
    assert_int_equal(m.state, LY_MSG_DEAD);
    assert_non_null(strstr(m.last_error, "550"));
    ly_arena_free(&a);
    ly_delivery_config_free(c);
    worldFree(&w);
}

/* The e-mail's encodings, without a server. */
static void test_smtp_message_encodings(void **state)
{
    (void)state;
    ly_delivery_config *c = config("{\"channels\": {\"email\": {\"adapter\": \"smtp\", \"url\":"
                                   " \"smtp://127.0.0.1:1\", \"from\": \"Магазин <shop@x.example>\","
                                   " \"message_id_domain\": \"mail.x.example\"}}}");
    const ly_channel_config *ch = ly_delivery_channel(c, "email");
    assert_non_null(ch);
    ly_message m;
    memset(&m, 0, sizeof m);
    snprintf(m.id, sizeof m.id, "msg_ABCDEFGHIJKLMNOPQRSTUV");
    m.trigger = "t";
    m.payload = "{\"to\":\"a@b.example\",\"subject\":\"Привет\",\"text\":\"Здравствуйте!\\nline\"}";
    ly__attempt at;
    memset(&at, 0, sizeof at);
    char *rcpt = NULL;
    char *msg = ly__smtp_message(ch, &m, T0, &rcpt, &at);
    assert_non_null(msg);
    assert_string_equal(rcpt, "a@b.example");
    assert_non_null(strstr(msg, "\r\nFrom: =?UTF-8?B?0JzQsNCz0LDQt9C40L0=?= <shop@x.example>\r\n"));
    assert_non_null(strstr(msg, "\r\nSubject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n"));
    assert_non_null(strstr(msg, "\r\nMessage-ID: <msg_ABCDEFGHIJKLMNOPQRSTUV@mail.x.example>\r\n"));
    /* A non-ASCII body goes as base64 of its CRLF form. */
    const char *b = strstr(msg, "Content-Transfer-Encoding: base64\r\n\r\n");
    assert_non_null(b);
    b += strlen("Content-Transfer-Encoding: base64\r\n\r\n");
    unsigned char bin[256];
    size_t binLen = 0;
    assert_int_equal(sodium_base642bin(bin, sizeof bin, b, strlen(b), "\r\n", &binLen, NULL,
                                       sodium_base64_VARIANT_ORIGINAL), 0);
    bin[binLen] = '\0';
    assert_string_equal((char *)bin, "Здравствуйте!\r\nline");
    free(msg);
    free(rcpt);

    /* Header injection through the payload is refused for good. */
    m.payload = "{\"to\":\"a@b.example\\r\\nBcc: all@x\",\"subject\":\"s\"}";
    memset(&at, 0, sizeof at);
    assert_null(ly__smtp_message(ch, &m, T0, &rcpt, &at));
    assert_true(at.permanent);
    m.payload = "{\"to\":\"a@b.example\",\"subject\":\"s\\nBcc: all@x\"}";
    memset(&at, 0, sizeof at);
    assert_null(ly__smtp_message(ch, &m, T0, &rcpt, &at));
    assert_true(at.permanent);
    ly_delivery_config_free(c);
}

/* ---------------------------------------------------------------------------------------
 * The server's delivery thread and /metrics
 * ------------------------------------------------------------------------------------- */

/* A tl_world for `loyal serve` with n customers, each with one pending "welcome" message on
 * channel (ids[i] its id when ids is not NULL); the store is left closed for the server. */
static void serveWorldMake(tl_world *tw, const char *prefix, int n, const char *channel,
                           char (*ids)[32])
{
    tl_world_make(tw, prefix, "examples/program.json");
    world w = {.dir = NULL};
    w.db = tw->db;
    worldOpen(&w);
    for (int i = 0; i < n; i++)
        if (ly_store_write(w.s, addCustomerRun, &w.customers[i], NULL) != LY_OK)
            fail_msg("customer");
    for (int i = 0; i < n; i++)
        enqueueOk(&w, "welcome", w.customers[i], 0, channel, "{}", ids ? ids[i] : NULL);
    worldClose(&w);
}

/* Starts the server of tw with the delivery file cfg and the fixed clock. */
static void serveWithDelivery(tl_world *tw, tl_server *s, const char *cfg)
{
    char envCfg[600];
    snprintf(envCfg, sizeof envCfg, "LOYAL_DELIVERY=%s", cfg);
    const char *env[] = {NOW_ENV, envCfg, NULL};
    tl_world_serve(tw, s, env);
}

static void test_serve_delivers_and_reports_metrics(void **state)
{
    (void)state;
    tl_world tw;
    char ids[3][32];
    serveWorldMake(&tw, "outbox-serve", 3, "push", ids);
    char *out = tl_join(tw.dir, "push.jsonl");
    char *cfg = tl_join(tw.dir, "delivery.json");
    char *text = tl_strdupf("{\"channels\": {\"push\": {\"adapter\": \"file\", \"path\": \"%s\","
                            " \"cost\": 1}}}", out);
    assert_int_equal(tl_write_file(cfg, text, (size_t)-1), 0);
    free(text);
    tl_server s;
    serveWithDelivery(&tw, &s, cfg);
    /* The delivery thread starts at once; wait (bounded) for the three lines. */
    int lines = 0;
    for (uint64_t t0 = msNow(); msNow() - t0 < 10000; sleepMs(50)) {
        char *t = tl_read_file(out, NULL);
        lines = 0;
        for (const char *p = t; p && (p = strchr(p, '\n')); p++) lines++;
        free(t);
        if (lines == 3) break;
    }
    assert_int_equal(lines, 3);
    tl_response r;
    bool ok = false;
    for (uint64_t t0 = msNow(); !ok && msNow() - t0 < 10000; sleepMs(50)) {
        tl_http(&r, s.base, "GET", "/metrics", NULL, NULL, 0);
        ok = r.status == 200 && strstr(r.body, "loyal_outbox_messages{state=\"delivered\"} 3\n");
        if (ok) {
            assert_non_null(strstr(r.body, "loyal_delivery_delivered_total 3\n"));
            assert_non_null(strstr(r.body, "loyal_delivery_cost_total 3\n"));
            assert_non_null(strstr(r.body, "loyal_delivery_failures_total 0\n"));
            assert_non_null(strstr(r.body, "loyal_delivery_latency_seconds_count 3\n"));
        }
        tl_response_free(&r);
    }
    assert_true(ok);
    assert_int_equal(tl_server_stop(&s), 0);
    char *log = tl_server_log_tail(&s, 4000);
    assert_non_null(strstr(log, "delivering the outbox"));
    free(log);
    free(out);
    free(cfg);
    tl_world_free(&tw);
}

/* A server whose webhook receiver hangs still confirms receipts at once; stopping it ends
 * the hung attempt at its timeout and hands the rest of the batch back. */
static void test_serve_checkout_is_not_held_by_a_hung_receiver(void **state)
{
    (void)state;
    tl_world tw;
    serveWorldMake(&tw, "outbox-checkout", 4, "sms", NULL);
    receiver rx;
    rxStart(&rx, RX_HANG);
    char *cfg = tl_join(tw.dir, "delivery.json");
    ly_delivery_config_free(webhookDelivery(&rx, "{\"max_attempts\": 5}", 3000, 10, cfg));
    tl_server s;
    serveWithDelivery(&tw, &s, cfg);
    assert_int_equal(rxAwaitHanging(&rx, 10000), 1);
    /* Checkouts while the delivery thread is stuck: all 20 are confirmed while its batch
     * (the 4 messages) is still 'sending' (they leave that state only at the client's 3 s
     * timeout), so none waited for the delivery. No clock is read. */
    for (int i = 0; i < 20; i++) {
        char *body = tl_strdupf("{\"receipt_id\":\"co-%d\",\"store\":\"S001\",\"total\":1000,"
                                "\"lines\":[{\"sku\":\"A\",\"qty\":1000,\"price\":1000,"
                                "\"amount\":1000}]}", i);
        tl_response r;
        long st = tl_call(&r, &s, "POST", "/v1/receipts", tw.pos_key, body);
        if (st < 200 || st > 299) fail_msg("receipt: %ld %s", st, r.body);
        tl_response_free(&r);
        free(body);
    }
    assert_int_equal(sendingNow(tw.db), 4);
    /* Stopping: the hung attempt ends at its 3 s timeout (a retry), the rest of the batch
     * is released; nothing is left 'sending'. */
    uint64_t t0 = msNow();
    assert_int_equal(tl_server_stop(&s), 0);
    assert_true(msNow() - t0 < 10000);
    rxStop(&rx);
    world w = {.dir = NULL};
    w.db = tw.db;
    worldOpen(&w);
    int64_t n[LY_MSG_STATE_COUNT];
    counts(&w, n);
    worldClose(&w);
    assert_int_equal(n[LY_MSG_SENDING], 0);
    assert_int_equal(n[LY_MSG_RETRYING], 1);
    assert_int_equal(n[LY_MSG_PENDING], 3);
    free(cfg);
    tl_world_free(&tw);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enqueue_is_idempotent),
        cmocka_unit_test(test_backoff_is_exponential_jittered_and_capped),
        cmocka_unit_test(test_claim_leases_and_fences),
        cmocka_unit_test(test_webhook_fails_times_out_and_recovers),
        cmocka_unit_test(test_hung_receiver_never_blocks_writes),
        cmocka_unit_test(test_dead_letter_then_outbox_retry),
        cmocka_unit_test(test_killed_deliver_loses_nothing),
        cmocka_unit_test(test_file_adapter_writes_json_lines),
        cmocka_unit_test(test_smtp_sends_an_rfc5322_message),
        cmocka_unit_test(test_smtp_message_encodings),
        cmocka_unit_test(test_serve_delivers_and_reports_metrics),
        cmocka_unit_test(test_serve_checkout_is_not_held_by_a_hung_receiver),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
