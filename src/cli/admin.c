/*
 * admin.c - the small subcommands: `loyal init`, `loyal check`, `loyal expire`, `loyal keys`.
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "os/os.h"
#include "service/service.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Options every subcommand here takes. */
typedef struct commonOpts {
    const char *db;
    const char *program;
} commonOpts;

/* Parses --db, --program, --help and the extra options of one command; returns -1 to go on,
 * or an exit code. */
static int parseCommon(int argc, char **argv, const char *help, commonOpts *co,
                       const struct option *extra, int (*onExtra)(int c, void *ctx), void *ctx)
{
    struct option opts[16];
    size_t n = 0;
    opts[n++] = (struct option){"db", required_argument, 0, 'd'};
    opts[n++] = (struct option){"program", required_argument, 0, 'p'};
    opts[n++] = (struct option){"help", no_argument, 0, 'h'};
    for (size_t i = 0; extra && extra[i].name && n < 15; i++) opts[n++] = extra[i];
    opts[n] = (struct option){0, 0, 0, 0};
    co->db = ly_cli_default_db();
    co->program = ly_cli_default_program();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'd') co->db = optarg;
        else if (c == 'p') co->program = optarg;
        else if (c == 'h') {
            fputs(help, stdout);
            return LY_EXIT_OK;
        } else if (c == '?' || !onExtra || onExtra(c, ctx) != 0) {
            fputs(help, stderr);
            return LY_EXIT_USAGE;
        }
    }
    return -1;
}

static int openService(const char *cmd, const commonOpts *co, ly_service **svc)
{
    ly_error err;
    ly_error_clear(&err);
    ly_service_options so = {.db_path = co->db, .program_path = co->program};
    if (ly_service_open(&so, svc, &err) != LY_OK) return ly__cli_fail(cmd, &err);
    return -1;
}

/* ---------------------------------------------------------------------------------------
 * loyal init
 * ------------------------------------------------------------------------------------- */

/* The program a new installation starts from: every setting spelt out, so that the file
 * itself shows what can be changed. docs/program.md explains each. */
static const char starterProgram[] =
    "{\n"
    "  \"name\": \"My loyalty program\",\n"
    "  \"currency\": \"RUB\",\n"
    "  \"minor_units\": 2,\n"
    "  \"time_zone\": \"Europe/Moscow\",\n"
    "  \"phone\": { \"country_code\": \"7\", \"trunk_prefix\": \"8\" },\n"
    "  \"earn\": { \"rate_percent\": \"5\", \"base\": \"paid\", \"rounding\": \"down\" },\n"
    "  \"points\": {\n"
    "    \"value\": \"1.00\",\n"
    "    \"max_share_percent\": \"50\",\n"
    "    \"min_redeem\": 1,\n"
    "    \"hold_days\": 14,\n"
    "    \"expiry_days\": 365,\n"
    "    \"on_return_debt\": \"negative\"\n"
    "  }\n"
    "}\n";

static const char initHelp[] =
    "usage: loyal init [--db PATH] [--program PATH] [--no-keys]\n\n"
    "Creates the database (or brings its schema up to date) and, if the program file does\n"
    "not exist, writes a starter program there (docs/program.md describes it). Unless\n"
    "--no-keys is given, creates one admin and one pos API key and prints them: they are\n"
    "shown only this once.\n";

static int onInitOpt(int c, void *ctx)
{
    if (c != 'k') return 1;
    *(bool *)ctx = true;
    return 0;
}

int ly_cli_init(int argc, char **argv)
{
    static const struct option extra[] = {{"no-keys", no_argument, 0, 'k'}, {0, 0, 0, 0}};
    commonOpts co;
    bool no_keys = false;
    int rc = parseCommon(argc, argv, initHelp, &co, extra, onInitOpt, &no_keys);
    if (rc >= 0) return rc;
    if (access(co.program, F_OK) != 0) {
        FILE *f = fopen(co.program, "wx");
        if (!f || fputs(starterProgram, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "loyal init: cannot write %s\n", co.program);
            return LY_EXIT_SYSTEM;
        }
        printf("wrote the starter program %s (edit it; see docs/program.md)\n", co.program);
    }
    ly_service *svc;
    if ((rc = openService("init", &co, &svc)) >= 0) return rc;
    printf("database %s is ready (schema version %d)\n", co.db, ly_store_schema_version());
    int code = LY_EXIT_OK;
    if (!no_keys) {
        static const ly_role roles[] = {LY_ROLE_ADMIN, LY_ROLE_POS};
        for (size_t i = 0; i < 2; i++) {
            char key[LY_KEY_SIZE];
            ly_api_key info;
            ly_error err;
            ly_error_clear(&err);
            if (ly_service_key_create(svc, roles[i], "created by loyal init", key, &info, &err) != LY_OK) {
                code = ly__cli_fail("init", &err);
                break;
            }
            printf("%-5s API key: %s\n", ly_role_name(roles[i]), key);
        }
        if (code == LY_EXIT_OK) printf("(keep the keys: they are stored only as hashes and cannot be shown again)\n");
    }
    ly_service_close(svc);
    return code;
}

/* ---------------------------------------------------------------------------------------
 * loyal check
 * ------------------------------------------------------------------------------------- */

static const char checkHelp[] =
    "usage: loyal check [--db PATH]\n\n"
    "Verifies every customer's balances against the ledger and the lots: available equals\n"
    "the sum of the ledger's available changes and the active lots' points less any debt;\n"
    "pending equals the pending changes and the pending lots. Prints each mismatch.\n"
    "Exit codes: 0 consistent, 1 mismatches found, 4 the database could not be read.\n";

static void reportMismatch(void *ctx, const ly_mismatch *m)
{
    (void)ctx;
    printf("customer %lld: %s is %lld, derived %lld\n", (long long)m->customer_id, m->what,
           (long long)m->recorded, (long long)m->derived);
}

int ly_cli_check(int argc, char **argv)
{
    commonOpts co;
    int rc = parseCommon(argc, argv, checkHelp, &co, NULL, NULL, NULL);
    if (rc >= 0) return rc;
    if (access(co.db, R_OK) != 0) {
        fprintf(stderr, "loyal check: cannot read %s\n", co.db);
        return LY_EXIT_SYSTEM;
    }
    ly_error err;
    ly_error_clear(&err);
    ly_store *st;
    ly_store_options so = {.path = co.db};
    if (ly_store_open(&so, &st, &err) != LY_OK) return ly__cli_fail("check", &err);
    ly_db *db = ly_store_reader(st, &err);
    int64_t customers = 0, bad = 0;
    ly_err e = db ? ly_db_check(db, reportMismatch, NULL, &customers, &bad, &err) : LY_EIO;
    ly_store_close(st);
    if (e != LY_OK) return ly__cli_fail("check", &err);
    printf("checked %lld customers: %lld mismatches\n", (long long)customers, (long long)bad);
    return bad ? LY_EXIT_PROBLEM : LY_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------
 * loyal expire
 * ------------------------------------------------------------------------------------- */

static const char expireHelp[] =
    "usage: loyal expire [--db PATH] [--program PATH] [--now TIME]\n\n"
    "Activates the pending points whose return window has ended and expires the points\n"
    "whose life has ended, as of now (or TIME, RFC 3339, e.g. 2027-01-01T00:00:00+03:00).\n"
    "The server does the same on its own every minute; running both is safe: work done\n"
    "once is not done again.\n";

static int onExpireOpt(int c, void *ctx)
{
    if (c != 'n') return 1;
    if (!ly_time_parse(optarg, (ly_time *)ctx, NULL)) {
        fprintf(stderr, "loyal expire: --now wants an RFC 3339 time with an offset\n");
        return 1;
    }
    return 0;
}

int ly_cli_expire(int argc, char **argv)
{
    static const struct option extra[] = {{"now", required_argument, 0, 'n'}, {0, 0, 0, 0}};
    commonOpts co;
    ly_time now = 0;
    int rc = parseCommon(argc, argv, expireHelp, &co, extra, onExpireOpt, &now);
    if (rc >= 0) return rc;
    if (!now) now = ly_os_now();
    ly_service *svc;
    if ((rc = openService("expire", &co, &svc)) >= 0) return rc;
    ly_maintain_result r;
    ly_error err;
    ly_error_clear(&err);
    ly_err e = ly_service_maintain(svc, now, &r, &err);
    ly_service_close(svc);
    if (e != LY_OK) return ly__cli_fail("expire", &err);
    printf("customers %lld: activated %lld lots (%lld points), expired %lld lots (%lld points)\n",
           (long long)r.customers, (long long)r.lots_activated, (long long)r.points_activated,
           (long long)r.lots_expired, (long long)r.points_expired);
    return LY_EXIT_OK;
}

/* ---------------------------------------------------------------------------------------
 * loyal keys
 * ------------------------------------------------------------------------------------- */

static const char keysHelp[] =
    "usage: loyal keys create --role pos|admin [--label TEXT] [--db PATH] [--program PATH]\n"
    "       loyal keys list [--db PATH]\n"
    "       loyal keys revoke ID [--db PATH]\n\n"
    "API keys authenticate calls (Authorization: Bearer KEY). A pos key may price and\n"
    "confirm receipts, take returns and enrol and look up customers; an admin key may do\n"
    "everything. Only a hash of each key is stored: `create` prints the key once.\n";

typedef struct keysOpts {
    const char *role;
    const char *label;
} keysOpts;

static int onKeysOpt(int c, void *ctx)
{
    keysOpts *k = ctx;
    if (c == 'r') k->role = optarg;
    else if (c == 'l') k->label = optarg;
    else return 1;
    return 0;
}

static ly_err runRevoke(ly_db *db, void *ctx, ly_error *err)
{
    return ly_db_key_revoke(db, *(int64_t *)ctx, ly_os_now(), err);
}

int ly_cli_keys(int argc, char **argv)
{
    static const struct option extra[] = {{"role", required_argument, 0, 'r'},
                                          {"label", required_argument, 0, 'l'}, {0, 0, 0, 0}};
    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(keysHelp, help ? stdout : stderr);
        return help ? LY_EXIT_OK : LY_EXIT_USAGE;
    }
    const char *verb = argv[1];
    commonOpts co;
    keysOpts ko = {0};
    int rc = parseCommon(argc - 1, argv + 1, keysHelp, &co, extra, onKeysOpt, &ko);
    if (rc >= 0) return rc;
    int rest = argc - 1 - optind; /* arguments after the options */
    char **restv = argv + 1 + optind;
    ly_service *svc;
    ly_error err;
    ly_error_clear(&err);
    if (strcmp(verb, "create") == 0) {
        ly_role role;
        if (rest != 0 || !ko.role || !ly_role_parse(ko.role, &role)) {
            fprintf(stderr, "loyal keys create: --role pos or --role admin is required\n");
            return LY_EXIT_USAGE;
        }
        if ((rc = openService("keys", &co, &svc)) >= 0) return rc;
        char key[LY_KEY_SIZE];
        ly_api_key info;
        ly_err e = ly_service_key_create(svc, role, ko.label, key, &info, &err);
        ly_service_close(svc);
        if (e != LY_OK) return ly__cli_fail("keys", &err);
        printf("%s\n", key);
        fprintf(stderr, "created a %s key (shown only now; keep it safe)\n", ly_role_name(role));
        return LY_EXIT_OK;
    }
    if (strcmp(verb, "list") == 0 || strcmp(verb, "revoke") == 0) {
        bool revoke = verb[0] == 'r';
        int64_t id = 0;
        if (revoke ? rest != 1 : rest != 0) {
            fputs(keysHelp, stderr);
            return LY_EXIT_USAGE;
        }
        if (revoke && (id = strtoll(restv[0], NULL, 10)) <= 0) {
            fprintf(stderr, "loyal keys revoke: ID is the number shown by `loyal keys list`\n");
            return LY_EXIT_USAGE;
        }
        ly_store *st;
        ly_store_options so = {.path = co.db};
        if (ly_store_open(&so, &st, &err) != LY_OK) return ly__cli_fail("keys", &err);
        ly_err e;
        if (revoke) {
            e = ly_store_write(st, runRevoke, &id, &err);
            if (e == LY_OK) printf("revoked key %lld\n", (long long)id);
        } else {
            ly_arena a = {0};
            ly_api_key *keys;
            size_t n;
            ly_db *db = ly_store_reader(st, &err);
            e = db ? ly_db_keys_list(db, &a, &keys, &n, &err) : LY_EIO;
            if (e == LY_OK) {
                printf("%-6s %-6s %-12s %-26s %-8s %s\n", "ID", "ROLE", "PREFIX", "CREATED", "STATE", "LABEL");
                for (size_t i = 0; i < n; i++) {
                    char at[40];
                    ly_time_format(keys[i].created_at, 0, at, sizeof at);
                    printf("%-6lld %-6s %-12s %-26s %-8s %s\n", (long long)keys[i].id, keys[i].role,
                           keys[i].prefix, at, keys[i].revoked_at ? "revoked" : "active",
                           keys[i].label ? keys[i].label : "");
                }
            }
            ly_arena_free(&a);
        }
        ly_store_close(st);
        return e == LY_OK ? LY_EXIT_OK : ly__cli_fail("keys", &err);
    }
    fprintf(stderr, "loyal keys: unknown action '%s'\n", verb);
    fputs(keysHelp, stderr);
    return LY_EXIT_USAGE;
}
