/*
 * report.c - `loyal report`: the program's money figures from the database.
 *   liability  outstanding points by state and by month of expiry, and their money value,
 *              reconciled three ways (lots, cached accounts, ledger); exit 1 if they differ.
 *   partners   points issued and redeemed at each coalition partner over a period and the
 *              money each side owes under the settlement rule of docs/program.md.
 *   triggers   each trigger's measured uplift against its hold-out (cli/triggers.c).
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "os/os.h"
#include "program/rewards.h"
#include "service/service.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char reportHelp[] =
    "usage: loyal report liability [--db PATH] [--program PATH] [--json]\n"
    "       loyal report partners --from YYYY-MM-DD --to YYYY-MM-DD [--db PATH] [--program PATH] [--json]\n"
    "       loyal report triggers [OPTIONS]      (the same as `loyal triggers report`)\n"
    "       loyal report quests [OPTIONS]        (the same as `loyal quests report`)\n"
    "       loyal report touchpoints [OPTIONS]   (the same as `loyal touchpoints report`)\n\n"
    "liability: the points customers hold, pending (in their return window) and available,\n"
    "  the month in which they expire, and what they are worth at the program's point value.\n"
    "  The figures are reconciled three ways: the lots, the customers' cached balances and\n"
    "  the sum of the ledger; exit 1 when they do not agree.\n"
    "partners: per coalition partner, the points issued and redeemed at it from --from to --to\n"
    "  (local dates, both included), net of returns, and the money each side owes.\n"
    "Run `loyal expire` first (the server does it every minute) so that points whose window\n"
    "or life has ended are counted in their new state.\n";

typedef struct reportOpts {
    const char *db, *program;
    const char *from, *to;
    bool json;
} reportOpts;

static int parse(int argc, char **argv, reportOpts *o)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->db = ly_cli_default_db();
    o->program = ly_cli_default_program();
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->db = optarg; break;
        case 'p': o->program = optarg; break;
        case 'f': o->from = optarg; break;
        case 't': o->to = optarg; break;
        case 'j': o->json = true; break;
        case 'h': fputs(reportHelp, stdout); return LY_EXIT_OK;
        default: fputs(reportHelp, stderr); return LY_EXIT_USAGE;
        }
    }
    return -1;
}

static void money(const ly_program *p, ly_points points, ly_money price, char *buf, size_t size)
{
    __int128 v = (__int128)points * price;
    if (v > INT64_MAX || v < INT64_MIN) {
        snprintf(buf, size, "overflow");
        return;
    }
    ly_decimal_format((int64_t)v, p->minor_units, buf, size);
}

/* The local day (days since 1970-01-01) in which the last second before t falls. */
static int64_t localDayBefore(const ly_calendar *cal, ly_time t)
{
    ly_time x = t - 1;
    int64_t local = x + (int64_t)cal->utc_offset(cal, x) * 60;
    return local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
}

/* ---------------------------------------------------------------------------------------
 * liability
 * ------------------------------------------------------------------------------------- */

typedef struct monthSum {
    int year;
    unsigned month; /* 0 = never expires */
    ly_points pending, active;
} monthSum;

static int liability(const reportOpts *o, ly_service *svc)
{
    const ly_program *p = ly_service_program(svc);
    const ly_calendar *cal = ly_service_calendar(svc);
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(svc), &err);
    if (!db) return ly__cli_fail("report", &err);
    ly_arena a = {0};
    ly_liability l;
    if (ly_db_liability(db, &a, &l, &err) != LY_OK) {
        ly_arena_free(&a);
        return ly__cli_fail("report", &err);
    }
    /* Months, in order: the lots come ordered by expiry with "never" last. */
    monthSum *ms = ly_arena_alloc(&a, (l.n_by_expiry ? l.n_by_expiry : 1) * sizeof *ms);
    size_t nm = 0;
    ly_points by_month_total = 0;
    for (size_t i = 0; ms && i < l.n_by_expiry; i++) {
        int y = 0;
        unsigned m = 0, d;
        if (l.by_expiry[i].expires_at) ly_civil_from_days(localDayBefore(cal, l.by_expiry[i].expires_at), &y, &m, &d);
        if (!nm || ms[nm - 1].year != y || ms[nm - 1].month != m) ms[nm++] = (monthSum){y, m, 0, 0};
        ms[nm - 1].pending += l.by_expiry[i].pending;
        ms[nm - 1].active += l.by_expiry[i].active;
        by_month_total += l.by_expiry[i].pending + l.by_expiry[i].active;
    }
    ly_points available = l.lots_active - l.debt;
    bool ok_pending = l.lots_pending == l.acc_pending && l.acc_pending == l.ledger_pending;
    bool ok_available = available == l.acc_available && l.acc_available == l.ledger_available;
    bool ok_months = by_month_total == l.lots_pending + l.lots_active;
    bool ok = ok_pending && ok_available && ok_months;
    char v1[48], v2[48], v3[48];
    if (o->json) {
        json_t *months = json_array();
        for (size_t i = 0; i < nm; i++) {
            char key[16];
            if (ms[i].month) snprintf(key, sizeof key, "%04d-%02u", ms[i].year, ms[i].month);
            else snprintf(key, sizeof key, "never");
            money(p, ms[i].pending + ms[i].active, p->point_value, v1, sizeof v1);
            json_array_append_new(months, json_pack("{s:s, s:I, s:I, s:s}", "month", key,
                                                    "pending", (json_int_t)ms[i].pending,
                                                    "available", (json_int_t)ms[i].active,
                                                    "value", v1));
        }
        money(p, l.lots_pending, p->point_value, v1, sizeof v1);
        money(p, available, p->point_value, v2, sizeof v2);
        money(p, l.lots_pending + available, p->point_value, v3, sizeof v3);
        json_t *out = json_pack(
            "{s:s, s:s, s:{s:I, s:s}, s:{s:I, s:s, s:I, s:I}, s:{s:I, s:s}, s:o,"
            " s:{s:b, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I}}}",
            "program", p->name, "currency", p->currency,
            "pending", "points", (json_int_t)l.lots_pending, "value", v1,
            "available", "points", (json_int_t)available, "value", v2,
                         "active_lots", (json_int_t)l.lots_active, "debt", (json_int_t)l.debt,
            "total", "points", (json_int_t)(l.lots_pending + available), "value", v3,
            "expiring_by_month", months,
            "reconciliation", "ok", ok,
                "pending", "lots", (json_int_t)l.lots_pending, "accounts", (json_int_t)l.acc_pending,
                           "ledger", (json_int_t)l.ledger_pending,
                "available", "lots", (json_int_t)available, "accounts", (json_int_t)l.acc_available,
                             "ledger", (json_int_t)l.ledger_available);
        char *text = json_dumps(out, JSON_INDENT(2));
        if (text) puts(text);
        free(text);
        json_decref(out);
    } else {
        printf("liability of %s (%s, a point is worth %s)\n", p->name, p->currency,
               (money(p, 1, p->point_value, v1, sizeof v1), v1));
        printf("%-12s %15s %18s\n", "state", "points", "value");
        money(p, l.lots_pending, p->point_value, v1, sizeof v1);
        printf("%-12s %15lld %18s\n", "pending", (long long)l.lots_pending, v1);
        money(p, available, p->point_value, v1, sizeof v1);
        printf("%-12s %15lld %18s   (active lots %lld less debt %lld)\n", "available",
               (long long)available, v1, (long long)l.lots_active, (long long)l.debt);
        money(p, l.lots_pending + available, p->point_value, v1, sizeof v1);
        printf("%-12s %15lld %18s\n", "total", (long long)(l.lots_pending + available), v1);
        printf("\nexpiring by month (the last day they can be spent; pending and active lots):\n");
        printf("%-12s %15s %15s %18s\n", "month", "pending", "available", "value");
        for (size_t i = 0; i < nm; i++) {
            char key[16];
            if (ms[i].month) snprintf(key, sizeof key, "%04d-%02u", ms[i].year, ms[i].month);
            else snprintf(key, sizeof key, "never");
            money(p, ms[i].pending + ms[i].active, p->point_value, v1, sizeof v1);
            printf("%-12s %15lld %15lld %18s\n", key, (long long)ms[i].pending,
                   (long long)ms[i].active, v1);
        }
        printf("\nreconciliation:\n");
        printf("  pending    lots %lld, accounts %lld, ledger %lld: %s\n", (long long)l.lots_pending,
               (long long)l.acc_pending, (long long)l.ledger_pending, ok_pending ? "ok" : "MISMATCH");
        printf("  available  lots %lld, accounts %lld, ledger %lld: %s\n", (long long)available,
               (long long)l.acc_available, (long long)l.ledger_available,
               ok_available ? "ok" : "MISMATCH");
        printf("  by month   %lld of %lld open points: %s\n", (long long)by_month_total,
               (long long)(l.lots_pending + l.lots_active), ok_months ? "ok" : "MISMATCH");
    }
    ly_arena_free(&a);
    if (!ok) fprintf(stderr, "loyal report: the liability does not reconcile with the ledger\n");
    return ok ? LY_EXIT_OK : LY_EXIT_PROBLEM;
}

/* ---------------------------------------------------------------------------------------
 * partners
 * ------------------------------------------------------------------------------------- */

/* The first second of local day `day`. */
static ly_time dayStart(const ly_calendar *cal, int64_t day)
{
    ly_time noon = day * 86400 + 43200; /* inside local `day` for offsets within +-12 h */
    return cal->day_end(cal, noon - 86400, 0);
}

static int partners(const reportOpts *o, ly_service *svc)
{
    int64_t from_day, to_day;
    if (!o->from || !o->to || !ly_date_parse(o->from, &from_day) || !ly_date_parse(o->to, &to_day) ||
        from_day > to_day) {
        fprintf(stderr, "loyal report partners: --from and --to want dates YYYY-MM-DD, from <= to\n");
        return LY_EXIT_USAGE;
    }
    const ly_program *p = ly_service_program(svc);
    const ly_calendar *cal = ly_service_calendar(svc);
    const ly_rewards *rw = p->rewards;
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(svc), &err);
    if (!db) return ly__cli_fail("report", &err);
    ly_arena a = {0};
    ly_partner_figures *f;
    size_t n;
    if (ly_db_partner_report(db, dayStart(cal, from_day), dayStart(cal, to_day + 1), &a, &f, &n, &err) != LY_OK) {
        ly_arena_free(&a);
        return ly__cli_fail("report", &err);
    }
    /* Every declared partner, then any in the data the program no longer declares. */
    size_t total = (rw ? rw->n_partners : 0) + n;
    ly_partner_figures *rows = ly_arena_alloc(&a, (total ? total : 1) * sizeof *rows);
    const ly_partner **decl = ly_arena_alloc(&a, (total ? total : 1) * sizeof *decl);
    if (!rows || !decl) {
        ly_arena_free(&a);
        fprintf(stderr, "loyal report: out of memory\n");
        return LY_EXIT_SYSTEM;
    }
    size_t k = 0;
    for (size_t i = 0; rw && i < rw->n_partners; i++) {
        rows[k] = (ly_partner_figures){.partner = rw->partners[i].id};
        for (size_t j = 0; j < n; j++)
            if (strcmp(f[j].partner, rw->partners[i].id) == 0) rows[k] = f[j];
        decl[k++] = &rw->partners[i];
    }
    for (size_t j = 0; j < n; j++)
        if (!ly_rewards_partner(rw, f[j].partner)) {
            rows[k] = f[j];
            decl[k++] = NULL;
        }
    char a1[48], a2[48], a3[48], pay[48];
    json_t *arr = o->json ? json_array() : NULL;
    if (!o->json) {
        printf("partners from %s to %s (%s); the partner pays for points issued, the program for points redeemed\n",
               o->from, o->to, p->currency);
        printf("%-16s %9s %12s %12s %16s %16s %16s\n", "partner", "receipts", "issued", "redeemed",
               "partner owes", "program owes", "net to program");
    }
    for (size_t i = 0; i < k; i++) {
        ly_money ip = decl[i] ? decl[i]->issue_price : p->point_value;
        ly_money rp = decl[i] ? decl[i]->redeem_price : p->point_value;
        __int128 owes = (__int128)rows[i].issued * ip, owed = (__int128)rows[i].redeemed * rp;
        money(p, rows[i].issued, ip, a1, sizeof a1);
        money(p, rows[i].redeemed, rp, a2, sizeof a2);
        if (owes - owed > INT64_MAX || owes - owed < INT64_MIN) snprintf(a3, sizeof a3, "overflow");
        else ly_decimal_format((int64_t)(owes - owed), p->minor_units, a3, sizeof a3);
        ly_decimal_format(rows[i].paid, p->minor_units, pay, sizeof pay);
        if (o->json)
            json_array_append_new(arr, json_pack("{s:s, s:s?, s:I, s:I, s:I, s:s, s:s, s:s, s:s}",
                                                 "partner", rows[i].partner,
                                                 "name", decl[i] ? decl[i]->name : NULL,
                                                 "receipts", (json_int_t)rows[i].receipts,
                                                 "points_issued", (json_int_t)rows[i].issued,
                                                 "points_redeemed", (json_int_t)rows[i].redeemed,
                                                 "sales", pay, "partner_owes", a1,
                                                 "program_owes", a2, "net_to_program", a3));
        else
            printf("%-16s %9lld %12lld %12lld %16s %16s %16s\n", rows[i].partner,
                   (long long)rows[i].receipts, (long long)rows[i].issued,
                   (long long)rows[i].redeemed, a1, a2, a3);
    }
    if (o->json) {
        json_t *out = json_pack("{s:s, s:s, s:s, s:o}", "from", o->from, "to", o->to, "currency",
                                p->currency, "partners", arr);
        char *text = json_dumps(out, JSON_INDENT(2));
        if (text) puts(text);
        free(text);
        json_decref(out);
    }
    ly_arena_free(&a);
    return LY_EXIT_OK;
}

int ly_cli_report(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        bool help = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(reportHelp, help ? stdout : stderr);
        return help ? LY_EXIT_OK : LY_EXIT_USAGE;
    }
    const char *what = argv[1];
    /* The engagement reports live with their commands; `loyal report X` is the same as
     * `loyal X report`, so an analyst finds every report under one word. */
    static const struct { const char *name; int (*run)(int, char **); } aliases[] = {
        {"triggers", ly_cli_triggers},
        {"quests", ly_cli_quests},
        {"touchpoints", ly_cli_touchpoints},
    };
    for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++) {
        if (strcmp(what, aliases[k].name) != 0) continue;
        char **args = calloc((size_t)argc + 1, sizeof *args);
        if (!args) return LY_EXIT_SYSTEM;
        args[0] = (char *)aliases[k].name;
        args[1] = "report";
        for (int i = 2; i < argc; i++) args[i] = argv[i];
        int code = aliases[k].run(argc, args);
        free(args);
        return code;
    }
    if (strcmp(what, "liability") != 0 && strcmp(what, "partners") != 0) {
        fprintf(stderr, "loyal report: unknown report '%s'\n\n%s", what, reportHelp);
        return LY_EXIT_USAGE;
    }
    reportOpts o;
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc >= 0) return rc;
    if (optind < argc - 1) {
        fprintf(stderr, "loyal report: unexpected argument '%s'\n", argv[optind + 1]);
        return LY_EXIT_USAGE;
    }
    ly_service *svc;
    ly_error err;
    ly_error_clear(&err);
    ly_service_options so = {.db_path = o.db, .program_path = o.program};
    if (ly_service_open(&so, &svc, &err) != LY_OK) return ly__cli_fail("report", &err);
    rc = strcmp(what, "liability") == 0 ? liability(&o, svc) : partners(&o, svc);
    ly_service_close(svc);
    return rc;
}
