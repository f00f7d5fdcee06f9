/*
 * outbox.c - `loyal outbox`: deliver what is due once (for cron), list messages by state,
 * put a dead message back (docs/delivery.md, docs/cli.md).
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "engage/engage.h"
#include "os/os.h"
#include "store/store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char outboxHelp[] =
    "usage: loyal outbox deliver [--db PATH] [--delivery PATH]\n"
    "       loyal outbox list [--db PATH] [--state STATE] [--after ROWID] [--limit N] [--json]\n"
    "       loyal outbox retry [--db PATH] ID...\n\n"
    "The outbox holds the messages triggers write (docs/delivery.md).\n\n"
    "  deliver   sends every message due now through the adapter of its channel, records\n"
    "            each outcome, and repeats until nothing is due (retries scheduled later\n"
    "            wait for the next run); prints what it did\n"
    "  list      prints messages, oldest first: all, or those in STATE (pending, sending,\n"
    "            delivered, retrying, dead); --json prints one JSON object a line\n"
    "  retry     puts dead messages back: pending, attempts 0, due now\n\n"
    "  --db PATH        SQLite database (default $LOYAL_DB or ./loyal.db)\n"
    "  --delivery PATH  delivery file: channels and retry rules (default $LOYAL_DELIVERY or\n"
    "                   ./delivery.json)\n"
    "  --limit N        list at most N messages (default 100)\n"
    "  --after ROWID    list messages after this row (for paging)\n";

static const char *defaultDelivery(void)
{
    const char *v = getenv("LOYAL_DELIVERY");
    return v && *v ? v : "delivery.json";
}

typedef struct outboxOpts {
    const char *db, *delivery;
    ly_msg_state state;
    long long after, limit;
    bool json;
} outboxOpts;

static int parse(int argc, char **argv, outboxOpts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},      {"delivery", required_argument, 0, 'D'},
        {"state", required_argument, 0, 's'},   {"after", required_argument, 0, 'a'},
        {"limit", required_argument, 0, 'n'},   {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    o->db = ly_cli_default_db();
    o->delivery = defaultDelivery();
    o->state = LY_MSG_STATE_COUNT;
    o->after = 0;
    o->limit = 100;
    o->json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'D': o->delivery = optarg; break;
        case 's':
            if (!ly_msg_state_parse(optarg, &o->state)) {
                fprintf(stderr, "loyal outbox: --state is pending, sending, delivered, "
                                "retrying or dead\n");
                return LY_EXIT_USAGE;
            }
            break;
        case 'a':
        case 'n': {
            long long v = strtoll(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || (c == 'n' && (v < 1 || v > 1000000))) {
                fprintf(stderr, "loyal outbox: --%s takes a number\n", c == 'a' ? "after" : "limit");
                return LY_EXIT_USAGE;
            }
            if (c == 'a') o->after = v;
            else o->limit = v;
            break;
        }
        case 'j': o->json = true; break;
        case 'h': fputs(outboxHelp, stdout); return LY_EXIT_OK;
        default: fputs(outboxHelp, stderr); return LY_EXIT_USAGE;
        }
    }
    return -1;
}

static int openStore(const outboxOpts *o, ly_store **s)
{
    ly_error err;
    ly_error_clear(&err);
    ly_store_options so = {.path = o->db, .sync = LY_SYNC_FULL};
    if (ly_store_open(&so, s, &err) != LY_OK) return ly__cli_fail("outbox", &err);
    return -1;
}

static int cmdDeliver(const outboxOpts *o)
{
    ly_error err;
    ly_error_clear(&err);
    ly_delivery_config *cfg;
    if (ly_delivery_config_load(o->delivery, &cfg, &err) != LY_OK)
        return ly__cli_fail("outbox deliver", &err);
    ly_store *s;
    int code = openStore(o, &s);
    if (code >= 0) {
        ly_delivery_config_free(cfg);
        return code;
    }
    ly_delivery_result r = {0};
    ly_err rc = ly_delivery_run(s, cfg, &r, &err);
    printf("claimed %lld (%lld after an expired lease): delivered %lld, retrying %lld, "
           "dead %lld\n",
           (long long)r.claimed, (long long)r.reclaimed, (long long)r.delivered,
           (long long)r.retrying, (long long)r.dead);
    fflush(stdout);
    code = rc == LY_OK ? LY_EXIT_OK : ly__cli_fail("outbox deliver", &err);
    ly_store_close(s);
    ly_delivery_config_free(cfg);
    return code;
}

static void printJson(const ly_message *m)
{
    char next[40], created[40], delivered[40];
    ly_time_format(m->next_at, 0, next, sizeof next);
    ly_time_format(m->created_at, 0, created, sizeof created);
    ly_time_format(m->delivered_at, 0, delivered, sizeof delivered);
    json_t *v = json_object();
    json_object_set_new(v, "id", json_string(m->id));
    json_object_set_new(v, "state", json_string(ly_msg_state_name(m->state)));
    json_object_set_new(v, "trigger", json_string(m->trigger ? m->trigger : ""));
    json_object_set_new(v, "customer_id", json_integer(m->customer_id));
    json_object_set_new(v, "step", json_integer(m->step));
    json_object_set_new(v, "channel", json_string(m->channel ? m->channel : ""));
    json_object_set_new(v, "touchpoint", m->touchpoint ? json_string(m->touchpoint) : json_null());
    json_object_set_new(v, "attempts", json_integer(m->attempts));
    json_object_set_new(v, "next_at", json_string(next));
    json_object_set_new(v, "last_error", m->last_error ? json_string(m->last_error) : json_null());
    json_object_set_new(v, "cost", json_integer(m->cost));
    json_object_set_new(v, "created_at", json_string(created));
    json_object_set_new(v, "delivered_at", m->delivered_at ? json_string(delivered) : json_null());
    json_object_set_new(v, "rowid", json_integer(m->rowid));
    json_t *payload = json_loads(m->payload ? m->payload : "", 0, NULL);
    json_object_set_new(v, "payload", payload ? payload : json_null());
    char *text = json_dumps(v, JSON_COMPACT);
    if (text) puts(text);
    free(text);
    json_decref(v);
}

static int cmdList(const outboxOpts *o)
{
    ly_store *s;
    int code = openStore(o, &s);
    if (code >= 0) return code;
    ly_error err;
    ly_error_clear(&err);
    ly_arena a = {0};
    ly_db *db = ly_store_reader(s, &err);
    ly_message *msgs = NULL;
    size_t n = 0;
    ly_err rc = db ? ly_db_outbox_list(db, o->state, o->after, (size_t)o->limit, &a, &msgs, &n,
                                       &err)
                   : LY_EIO;
    if (rc == LY_OK && !o->json && n > 0)
        printf("%-26s  %-9s  %3s  %-10s  %-12s  %-20s  %-20s  %s\n", "ID", "STATE", "TRY",
               "CHANNEL", "TOUCHPOINT", "TRIGGER/CUSTOMER/STEP", "DUE/DELIVERED", "LAST ERROR");
    for (size_t i = 0; rc == LY_OK && i < n; i++) {
        const ly_message *m = &msgs[i];
        if (o->json) {
            printJson(m);
            continue;
        }
        char next[40], key[96];
        ly_time_format(m->state == LY_MSG_DELIVERED ? m->delivered_at : m->next_at, 0, next,
                       sizeof next);
        snprintf(key, sizeof key, "%s/%lld/%lld", m->trigger, (long long)m->customer_id,
                 (long long)m->step);
        printf("%-26s  %-9s  %3lld  %-10s  %-12s  %-20s  %-20s  %s\n", m->id,
               ly_msg_state_name(m->state), (long long)m->attempts, m->channel,
               m->touchpoint ? m->touchpoint : "-", key, next, m->last_error ? m->last_error : "");
    }
    code = rc == LY_OK ? LY_EXIT_OK : ly__cli_fail("outbox list", &err);
    ly_arena_free(&a);
    ly_store_close(s);
    return code;
}

typedef struct retryCtx {
    const char *id;
    ly_time now;
} retryCtx;

static ly_err retryRun(ly_db *db, void *ctx, ly_error *err)
{
    retryCtx *rc = ctx;
    return ly_db_outbox_retry(db, rc->id, rc->now, err);
}

static int cmdRetry(const outboxOpts *o, int argc, char **argv)
{
    if (optind >= argc) {
        fputs(outboxHelp, stderr);
        return LY_EXIT_USAGE;
    }
    ly_store *s;
    int code = openStore(o, &s);
    if (code >= 0) return code;
    code = LY_EXIT_OK;
    for (int i = optind; i < argc; i++) {
        ly_error err;
        ly_error_clear(&err);
        retryCtx rc = {argv[i], ly_os_now()};
        if (ly_store_write(s, retryRun, &rc, &err) != LY_OK) {
            int c = ly__cli_fail("outbox retry", &err);
            if (c > code) code = c;
        } else {
            printf("%s: pending\n", argv[i]);
        }
    }
    ly_store_close(s);
    return code;
}

int ly_cli_outbox(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(outboxHelp, argc < 2 ? stderr : stdout);
        return argc < 2 ? LY_EXIT_USAGE : LY_EXIT_OK;
    }
    const char *sub = argv[1];
    outboxOpts o;
    int code = parse(argc - 1, argv + 1, &o);
    if (code >= 0) return code;
    /* parse left optind relative to argv + 1 */
    if (strcmp(sub, "deliver") == 0 || strcmp(sub, "list") == 0) {
        if (optind != argc - 1) {
            fputs(outboxHelp, stderr);
            return LY_EXIT_USAGE;
        }
        return strcmp(sub, "deliver") == 0 ? cmdDeliver(&o) : cmdList(&o);
    }
    if (strcmp(sub, "retry") == 0) return cmdRetry(&o, argc - 1, argv + 1);
    fprintf(stderr, "loyal outbox: unknown subcommand '%s'\n", sub);
    fputs(outboxHelp, stderr);
    return LY_EXIT_USAGE;
}
