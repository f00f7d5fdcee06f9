/*
 * metrics.c - counters for GET /metrics, in the Prometheus text exposition format 0.0.4.
 *
 * Every counter is a relaxed atomic: worker threads count without locks, and a scrape reads
 * each counter once. Labels are bounded by construction: routes come from the fixed route
 * table (plus "unmatched"), statuses from the fixed list the API answers with (plus
 * "other"), so a scanner probing random paths cannot grow the output.
 */
#include "http/http_internal.h"
#include "engage/engage.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[LY__STATUS_SLOTS - 1] = {200, 201, 204, 400, 401, 403, 404,
                                                   405, 409, 413, 422, 500, 503};

/* Upper bounds of the request duration buckets, in microseconds and as labels. */
static const uint64_t bucketUsec[LY__DURATION_BUCKETS] = {500,    1000,   2500,   5000,
                                                          10000,  25000,  50000,  100000,
                                                          250000, 500000, 1000000, 2500000};
static const char *const bucketLabel[LY__DURATION_BUCKETS] = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",   "0.25",   "0.5",   "1",    "2.5"};

static size_t statusSlot(int status)
{
    for (size_t i = 0; i < LY__STATUS_SLOTS - 1; i++)
        if (statuses[i] == status) return i;
    return LY__STATUS_SLOTS - 1;
}

void ly__metrics_request(ly__metrics *m, ly__route_id route, int status, uint64_t usec)
{
    if ((unsigned)route > LY_ROUTE_COUNT) route = LY_ROUTE_NONE;
    atomic_fetch_add_explicit(&m->requests[route][statusSlot(status)], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < LY__DURATION_BUCKETS && usec > bucketUsec[b]) b++;
    atomic_fetch_add_explicit(&m->duration[route][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_usec[route], usec, memory_order_relaxed);
}

static const char *routeLabel(size_t route)
{
    const ly__route *rt = ly__route_get((ly__route_id)route);
    return rt ? rt->label : "unmatched";
}

static uint64_t load(_Atomic uint64_t *x) { return atomic_load_explicit(x, memory_order_relaxed); }

char *ly__metrics_render(ly__metrics *m, ly_store *store, ly_arena *a)
{
    ly_text t = {0};
    ly_text_addf(&t, "# HELP loyal_http_requests_total HTTP requests answered, by route and status.\n"
            "# TYPE loyal_http_requests_total counter\n");
    for (size_t r = 0; r <= LY_ROUTE_COUNT; r++) {
        for (size_t s = 0; s < LY__STATUS_SLOTS; s++) {
            uint64_t n = load(&m->requests[r][s]);
            if (!n) continue;
            char status[8];
            if (s < LY__STATUS_SLOTS - 1) snprintf(status, sizeof status, "%d", statuses[s]);
            else snprintf(status, sizeof status, "other");
            ly_text_addf(&t, "loyal_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                routeLabel(r), status, (unsigned long long)n);
        }
    }

    ly_text_addf(&t, "# HELP loyal_http_request_duration_seconds Time from the request's headers to "
            "its response being queued.\n"
            "# TYPE loyal_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= LY_ROUTE_COUNT; r++) {
        uint64_t counts[LY__DURATION_BUCKETS + 1], total = 0;
        for (size_t b = 0; b <= LY__DURATION_BUCKETS; b++) total += counts[b] = load(&m->duration[r][b]);
        if (!total) continue;
        const char *label = routeLabel(r);
        uint64_t cum = 0;
        for (size_t b = 0; b < LY__DURATION_BUCKETS; b++) {
            cum += counts[b];
            ly_text_addf(&t, "loyal_http_request_duration_seconds_bucket{route=\"%s\",le=\"%s\"} %llu\n",
                label, bucketLabel[b], (unsigned long long)cum);
        }
        uint64_t usec = load(&m->duration_usec[r]);
        ly_text_addf(&t, "loyal_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
                "loyal_http_request_duration_seconds_sum{route=\"%s\"} %llu.%06llu\n"
                "loyal_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
            label, (unsigned long long)total, label, (unsigned long long)(usec / 1000000),
            (unsigned long long)(usec % 1000000), label, (unsigned long long)total);
    }

    ly_text_addf(&t, "# HELP loyal_receipts_confirmed_total Receipts confirmed (retries not counted).\n"
            "# TYPE loyal_receipts_confirmed_total counter\n"
            "loyal_receipts_confirmed_total %llu\n"
            "# HELP loyal_returns_total Returns taken (retries not counted).\n"
            "# TYPE loyal_returns_total counter\n"
            "loyal_returns_total %llu\n",
        (unsigned long long)load(&m->receipts_confirmed), (unsigned long long)load(&m->returns));

    ly_store_stats st;
    memset(&st, 0, sizeof st);
    if (store) ly_store_stats_get(store, &st);
    ly_text_addf(&t, "# HELP loyal_store_commits_total Group commits of the store's writer.\n"
            "# TYPE loyal_store_commits_total counter\n"
            "loyal_store_commits_total %llu\n"
            "# HELP loyal_store_jobs_total Write jobs run by the store's writer.\n"
            "# TYPE loyal_store_jobs_total counter\n"
            "loyal_store_jobs_total %llu\n"
            "# HELP loyal_store_jobs_failed_total Write jobs rolled back.\n"
            "# TYPE loyal_store_jobs_failed_total counter\n"
            "loyal_store_jobs_failed_total %llu\n"
            "# HELP loyal_store_commit_seconds_total Time spent committing groups.\n"
            "# TYPE loyal_store_commit_seconds_total counter\n"
            "loyal_store_commit_seconds_total %llu.%06llu\n",
        (unsigned long long)st.commits, (unsigned long long)st.jobs,
        (unsigned long long)st.jobs_failed, (unsigned long long)(st.commit_usec_total / 1000000),
        (unsigned long long)(st.commit_usec_total % 1000000));
    ly_text_addf(&t, "# HELP loyal_store_commit_batch_size Write jobs per group commit.\n"
            "# TYPE loyal_store_commit_batch_size histogram\n");
    size_t nb = sizeof st.batch_hist / sizeof st.batch_hist[0];
    uint64_t cum = 0;
    for (size_t i = 0; i < nb; i++) {
        cum += st.batch_hist[i];
        ly_text_addf(&t, "loyal_store_commit_batch_size_bucket{le=\"%llu\"} %llu\n",
            (unsigned long long)1 << i, (unsigned long long)cum);
    }
    ly_text_addf(&t, "loyal_store_commit_batch_size_bucket{le=\"+Inf\"} %llu\n"
            "loyal_store_commit_batch_size_sum %llu\n"
            "loyal_store_commit_batch_size_count %llu\n",
        (unsigned long long)cum, (unsigned long long)st.jobs, (unsigned long long)cum);

    /* Delivery and the outbox (docs/delivery.md): messages by state, deliveries, failures,
     * retries, dead letters, latency. */
    char *delivery = ly_delivery_metrics_text(store);
    if (delivery) ly_text_addf(&t, "%s", delivery);
    free(delivery);

    /* Triggers (docs/triggers.md): steps reached by group, suppressions, and the conversion
     * figures of the latest uplift report built by this process. */
    char *triggers = ly_triggers_metrics_text();
    if (triggers) ly_text_addf(&t, "%s", triggers);
    free(triggers);

    char *out = NULL;
    if (!t.failed && t.s) out = ly_arena_strndup(a, t.s, t.len);
    free(t.s);
    return out;
}
