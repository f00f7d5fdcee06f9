/*
 * serve.c - `loyal serve`: the HTTP API, and two schedulers beside it: one activates and
 * expires points, the other refreshes the per-customer analytics.
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "engage/engage.h"
#include "http/http.h"
#include "os/os.h"
#include "program/program.h"
#include "program/triggers.h"
#include "service/service.h"
#include "store/store.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char serveHelp[] =
    "usage: loyal serve [--db PATH] [--program PATH] [--listen HOST:PORT] [--threads N]\n"
    "                   [--sync full|normal] [--max-body BYTES] [--maintain-every SECONDS]\n"
    "                   [--analyze-every HOURS] [--delivery PATH] [--deliver-every SECONDS]\n\n"
    "Answers the HTTP/JSON API (docs/api.md) until SIGINT or SIGTERM, then finishes the\n"
    "requests in flight and exits 0. SIGHUP reads the program file again and replaces the\n"
    "program with it (an invalid file is reported and the program in force stays).\n\n"
    "  --db PATH              SQLite database (default $LOYAL_DB or ./loyal.db); created if missing\n"
    "  --program PATH         program file (default $LOYAL_PROGRAM or ./program.json)\n"
    "  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080)\n"
    "  --threads N            HTTP worker threads (default: number of cores)\n"
    "  --sync full|normal     full (default): every acknowledged write survives power loss;\n"
    "                         normal: survives a crash of the process only\n"
    "  --max-body BYTES       largest request body (default 1048576)\n"
    "  --maintain-every SECS  how often the scheduler activates and expires due points\n"
    "                         (default 60; 0 turns it off)\n"
    "  --analyze-every HOURS  how often the analytics are run again over the database and\n"
    "                         each customer's figures kept for profiles and rules (default\n"
    "                         24; 0 turns it off); checked 5 s after start and every 10\n"
    "                         minutes\n"
    "  --delivery PATH        delivery file (default $LOYAL_DELIVERY or ./delivery.json;\n"
    "                         docs/delivery.md): the outbox's messages are sent from\n"
    "                         delivery threads; without the file nothing is sent\n"
    "  --deliver-every SECS   how long delivery threads sleep at most when nothing is due\n"
    "                         (default 5; 0 turns delivery off)\n"
    "  --triggers-every MINS  how often the program's triggers run and write their messages\n"
    "                         to the outbox (default 60; 0 turns them off; docs/triggers.md)\n";

static volatile sig_atomic_t stopRequested, reloadRequested;
static void onSignal(int sig) { (void)sig; stopRequested = 1; }
static void onHangup(int sig) { (void)sig; reloadRequested = 1; }

/* A thread that calls tick every `every` seconds (after `first` seconds) until stopped. */
typedef struct scheduler {
    ly_service *svc;
    void (*tick)(struct scheduler *sc);
    int every, first;
    int analyze_hours;
    ly_delivery_worker *deliverer; /* the triggers' tick wakes it (may be NULL) */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
} scheduler;

/* Waits secs seconds or until stopped; false when stopped. Called with mu held. */
static bool schedulerWait(scheduler *sc, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    while (!sc->stop && pthread_cond_timedwait(&sc->cv, &sc->mu, &ts) == 0) {}
    return !sc->stop;
}

static void *schedulerMain(void *arg)
{
    scheduler *sc = arg;
    pthread_mutex_lock(&sc->mu);
    bool go = sc->first == 0 || schedulerWait(sc, sc->first);
    while (go) {
        pthread_mutex_unlock(&sc->mu);
        sc->tick(sc);
        pthread_mutex_lock(&sc->mu);
        go = schedulerWait(sc, sc->every);
    }
    pthread_mutex_unlock(&sc->mu);
    return NULL;
}

static void schedulerStart(scheduler *sc)
{
    pthread_mutex_init(&sc->mu, NULL);
    pthread_cond_init(&sc->cv, NULL);
    sc->running = pthread_create(&sc->thread, NULL, schedulerMain, sc) == 0;
}

static void schedulerStop(scheduler *sc)
{
    if (!sc->running) return;
    pthread_mutex_lock(&sc->mu);
    sc->stop = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
    pthread_join(sc->thread, NULL);
    pthread_mutex_destroy(&sc->mu);
    pthread_cond_destroy(&sc->cv);
    sc->running = false;
}

/* The due activations and expiries: the same work as `loyal expire`. */
static void maintainTick(scheduler *sc)
{
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_maintain(sc->svc, ly_os_now(), &r, &err) != LY_OK)
        fprintf(stderr, "loyal serve: scheduler: %s\n", err.message);
    else if (r.lots_activated || r.lots_expired)
        fprintf(stderr, "loyal serve: activated %lld lots (%lld points), expired %lld lots (%lld points)\n",
                (long long)r.lots_activated, (long long)r.points_activated,
                (long long)r.lots_expired, (long long)r.points_expired);
    if (r.tiers_evaluated)
        fprintf(stderr, "loyal serve: tiers: %lld upgraded, %lld downgraded; club: %lld joined, %lld left\n",
                (long long)r.tiers_upgraded, (long long)r.tiers_downgraded,
                (long long)r.club_joined, (long long)r.club_left);
}

/* The analytics again, when the latest run is older than --analyze-every. The analysis
 * date is tomorrow in the program's time zone, so today's receipts count. */
static void analyzeTick(scheduler *sc)
{
    ly_store *store = ly_service_store(sc->svc);
    ly_time now = ly_os_now();
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(store, &err);
    ly_analytics_run last;
    ly_err rc = db ? ly_db_analytics_run_latest(db, &last, &err) : LY_EIO;
    if (rc == LY_OK && now - last.at < (ly_time)sc->analyze_hours * 3600) return;
    if (rc != LY_OK && rc != LY_ENOTFOUND) {
        fprintf(stderr, "loyal serve: analytics: %s\n", err.message);
        return;
    }
    const ly_calendar *cal = ly_service_calendar(sc->svc);
    int64_t local = now + (ly_time)cal->utc_offset(cal, now) * 60;
    int64_t today = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    uint64_t t0 = ly_os_usec();
    ly_analytics_run run;
    ly_error_clear(&err);
    if (ly_analytics_refresh(store, today + 1, now, &run, &err) != LY_OK)
        fprintf(stderr, "loyal serve: analytics: %s (%s)\n", err.message, err.code);
    else
        fprintf(stderr, "loyal serve: analytics as of %s: %lld customers in %.1f s\n", run.as_of,
                (long long)run.customers, (double)(ly_os_usec() - t0) / 1e6);
}

/* The program's triggers as of now (docs/triggers.md), with the program version in force
 * (parsed from its text, so a replacement meanwhile cannot pull it away), then the uplift
 * of the last 90 days for /metrics. */
static void triggersTick(scheduler *sc)
{
    ly_arena a = {0};
    const char *text;
    ly_program_info info;
    ly_program prog;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_program_get(sc->svc, &a, &text, &info, &err) != LY_OK ||
        ly_program_parse(text, strlen(text), &prog, &err) != LY_OK) {
        fprintf(stderr, "loyal serve: triggers: %s\n", err.message);
        ly_arena_free(&a);
        return;
    }
    ly_arena_free(&a);
    if (prog.triggers && prog.triggers->n_triggers) {
        ly_store *store = ly_service_store(sc->svc);
        ly_time now = ly_os_now();
        ly_triggers_run_options ro = {.now = now};
        ly_triggers_run_result r;
        if (ly_triggers_run(store, &prog, ly_service_calendar(sc->svc), &ro, &r, &err) != LY_OK) {
            fprintf(stderr, "loyal serve: triggers: %s (%s)\n", err.message, err.code);
        } else {
            if (r.messages || r.held_out || r.program_held_out)
                fprintf(stderr, "loyal serve: triggers: %lld messages, %lld held out, %lld "
                                "held out program-wide\n", (long long)r.messages,
                        (long long)r.held_out, (long long)r.program_held_out);
            if (r.messages && sc->deliverer) ly_delivery_worker_wake(sc->deliverer);
            ly_triggers_report rep;
            if (ly_triggers_report_build(store, &prog, now - 90 * 86400, now + 1, &a, &rep,
                                         &err) != LY_OK)
                fprintf(stderr, "loyal serve: triggers report: %s\n", err.message);
            ly_arena_free(&a);
        }
    }
    ly_program_free(&prog);
}

int ly_cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},        {"program", required_argument, 0, 'p'},
        {"listen", required_argument, 0, 'l'},    {"threads", required_argument, 0, 't'},
        {"sync", required_argument, 0, 's'},      {"max-body", required_argument, 0, 'b'},
        {"maintain-every", required_argument, 0, 'm'}, {"analyze-every", required_argument, 0, 'a'},
        {"delivery", required_argument, 0, 'D'},  {"deliver-every", required_argument, 0, 'E'},
        {"triggers-every", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    ly_service_options so = {.db_path = ly_cli_default_db(), .program_path = ly_cli_default_program()};
    ly_http_options ho = {.host = "127.0.0.1", .port = 8080};
    char host[256];
    int every = 60, analyze_hours = 24, c;
    const char *delivery_path = NULL; /* NULL: the default path, if that file exists */
    int deliver_every = 5;
    int triggers_minutes = 60;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': so.db_path = optarg; break;
        case 'p': so.program_path = optarg; break;
        case 'l': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof host) {
                fprintf(stderr, "loyal serve: --listen wants HOST:PORT\n");
                return LY_EXIT_USAGE;
            }
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            ho.host = host;
            ho.port = atoi(colon + 1);
            if (ho.port < 0 || ho.port > 65535) {
                fprintf(stderr, "loyal serve: bad port in --listen\n");
                return LY_EXIT_USAGE;
            }
            break;
        }
        case 't': ho.threads = atoi(optarg); break;
        case 's':
            if (strcmp(optarg, "full") == 0) so.sync = LY_SYNC_FULL;
            else if (strcmp(optarg, "normal") == 0) so.sync = LY_SYNC_NORMAL;
            else {
                fprintf(stderr, "loyal serve: --sync is full or normal\n");
                return LY_EXIT_USAGE;
            }
            break;
        case 'b': ho.max_body = (size_t)strtoull(optarg, NULL, 10); break;
        case 'm': every = atoi(optarg); break;
        case 'a': {
            char *end;
            long h = strtol(optarg, &end, 10);
            if (*end || end == optarg || h < 0 || h > 24 * 365) {
                fprintf(stderr, "loyal serve: --analyze-every takes hours, 0..8760\n");
                return LY_EXIT_USAGE;
            }
            analyze_hours = (int)h;
            break;
        }
        case 'D': delivery_path = optarg; break;
        case 'E': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 3600) {
                fprintf(stderr, "loyal serve: --deliver-every takes seconds, 0..3600\n");
                return LY_EXIT_USAGE;
            }
            deliver_every = (int)v;
            break;
        }
        case 'T': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 10080) {
                fprintf(stderr, "loyal serve: --triggers-every takes minutes, 0..10080\n");
                return LY_EXIT_USAGE;
            }
            triggers_minutes = (int)v;
            break;
        }
        case 'h': fputs(serveHelp, stdout); return LY_EXIT_OK;
        default: fputs(serveHelp, stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(serveHelp, stderr);
        return LY_EXIT_USAGE;
    }

    ly_error err;
    ly_error_clear(&err);
    ly_service *svc;
    if (ly_service_open(&so, &svc, &err) != LY_OK) return ly__cli_fail("serve", &err);

    /* Signals are taken by the main thread only: block them before threads start. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The offers model is as fresh as the analytics. */
    ho.offers_max_age = analyze_hours > 0 ? (int64_t)analyze_hours * 3600 : 0;
    ly_http *http;
    if (ly_http_start(svc, &ho, &http, &err) != LY_OK) {
        int code = ly__cli_fail("serve", &err);
        ly_service_close(svc);
        return code;
    }
    scheduler maintain = {.svc = svc, .tick = maintainTick, .every = every};
    if (every > 0) schedulerStart(&maintain);
    /* Checks every ten minutes whether a run is due, the first time 5 s after start. */
    scheduler analyze = {.svc = svc, .tick = analyzeTick, .every = 600, .first = 5,
                         .analyze_hours = analyze_hours};
    if (analyze_hours > 0) schedulerStart(&analyze);
    /* Delivery threads for the outbox (docs/delivery.md): apart from the HTTP workers, so
     * a slow receiver never holds up a checkout. */
    ly_delivery_config *delivery = NULL;
    ly_delivery_worker *deliverer = NULL;
    if (deliver_every > 0) {
        const char *env = getenv("LOYAL_DELIVERY");
        const char *path = delivery_path ? delivery_path : env && *env ? env : "delivery.json";
        ly_err drc = ly_delivery_config_load(path, &delivery, &err);
        if (drc == LY_OK)
            drc = ly_delivery_worker_start(ly_service_store(svc), delivery, deliver_every,
                                           &deliverer, &err);
        if (drc == LY_OK) {
            fprintf(stderr, "loyal serve: delivering the outbox (%s, %d threads)\n", path,
                    delivery->threads);
        } else if (drc == LY_ENOTFOUND && !delivery_path && !(env && *env)) {
            fprintf(stderr, "loyal serve: no %s: the outbox is not delivered\n", path);
        } else {
            int code = ly__cli_fail("serve", &err);
            schedulerStop(&maintain);
            schedulerStop(&analyze);
            ly_http_stop(http);
            ly_delivery_config_free(delivery);
            ly_service_close(svc);
            return code;
        }
    }

    /* Trigger runs, the first one 30 s after start (after the analytics' first check). */
    scheduler triggers = {.svc = svc, .tick = triggersTick, .every = triggers_minutes * 60,
                          .first = 30, .deliverer = deliverer};
    if (triggers_minutes > 0) schedulerStart(&triggers);

    const ly_program *p = ly_service_program(svc);
    fprintf(stderr, "loyal serve: listening on http://%s:%d (program \"%s\" %s, database %s)\n",
            ho.host, ly_http_port(http), p->name, p->version, so.db_path);
    fflush(stderr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = onSignal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = onHangup;
    sigaction(SIGHUP, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    while (!stopRequested) {
        sigsuspend(&none);
        if (!reloadRequested) continue;
        /* SIGHUP: the program file again. A bad file is reported and the program in force
         * stays; requests running keep the version they started with. */
        reloadRequested = 0;
        ly_program_info info;
        ly_error_clear(&err);
        if (ly_service_program_reload(svc, ly_os_now(), &info, &err) != LY_OK)
            fprintf(stderr, "loyal serve: SIGHUP: %s%s%s (%s); program %s stays\n", err.field,
                    err.field[0] ? ": " : "", err.message, err.code, info.previous[0] ? info.previous : "in force");
        else
            fprintf(stderr, "loyal serve: SIGHUP: program %s: %s (was %s)\n",
                    info.replaced ? "replaced" : "unchanged", info.version, info.previous);
        fflush(stderr);
    }

    fprintf(stderr, "loyal serve: stopping\n");
    ly_http_stop(http);
    schedulerStop(&maintain);
    schedulerStop(&analyze);
    schedulerStop(&triggers);
    ly_delivery_worker_stop(deliverer);
    ly_delivery_config_free(delivery);
    ly_service_close(svc);
    return LY_EXIT_OK;
}
