/*
 * quests.c - `loyal quests report` (docs/quests.md, "Figures"): per quest of the program
 * file, the customers who started it, the completions, what its rewards cost, and, for a
 * quest with a hold-out, the deals of those offered it against those held out (with a 95%
 * interval) and the completers' deals.
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "os/os.h"
#include "service/service.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char questsHelp[] =
    "usage: loyal quests report [--db PATH] [--program PATH] [--from DATE] [--to DATE] [--json]\n\n"
    "  report  per quest: customers who started it, completions, the points, XP its rewards\n"
    "          gave; with a hold-out (holdout_percent) the mean deals from --from (default\n"
    "          30 days ago) to --to (default today; local dates, both included) of the\n"
    "          customers offered the quest against those held out, the difference with a\n"
    "          95% interval, and the completers' mean deals\n\n"
    "  --db PATH       SQLite database (default $LOYAL_DB or ./loyal.db)\n"
    "  --program PATH  program file (default $LOYAL_PROGRAM or ./program.json)\n"
    "  --json          print the figures as JSON instead of a table (docs/quests.md)\n";

/* The figures as JSON (docs/quests.md, "Figures"); the comparison only where one was made. */
static int printJson(const char *from, const char *to, const ly_quest_figures *f, size_t n)
{
    json_t *list = json_array(), *root = json_pack("{s:s, s:s, s:o}", "from", from, "to", to,
                                                   "quests", list);
    if (!root) return LY_EXIT_SYSTEM;
    for (size_t i = 0; i < n; i++) {
        json_t *q = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}", "id", f[i].id, "name",
                              f[i].name ? f[i].name : f[i].id, "started", (json_int_t)f[i].started,
                              "completed", (json_int_t)f[i].completed, "points",
                              (json_int_t)f[i].points_cost, "xp", (json_int_t)f[i].xp_given,
                              "compared", f[i].compared);
        if (q && f[i].compared)
            json_object_set_new(
                q, "holdout",
                json_pack("{s:I, s:f, s:I, s:f, s:f, s:f, s:f, s:I, s:f}", "offered_n",
                          (json_int_t)f[i].treated_n, "offered_deals", f[i].treated_deals,
                          "held_out_n", (json_int_t)f[i].holdout_n, "held_out_deals",
                          f[i].holdout_deals, "difference", f[i].uplift, "difference_lo",
                          f[i].uplift_lo, "difference_hi", f[i].uplift_hi, "completers_n",
                          (json_int_t)f[i].completers_n, "completers_deals",
                          f[i].completers_deals));
        if (!q || json_array_append_new(list, q) != 0) {
            json_decref(root);
            return LY_EXIT_SYSTEM;
        }
    }
    int ok = json_dumpf(root, stdout, JSON_INDENT(2)) == 0 && fputc('\n', stdout) != EOF;
    json_decref(root);
    return ok ? LY_EXIT_OK : LY_EXIT_SYSTEM;
}

int ly_cli_quests(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"from", required_argument, 0, 'f'}, {"to", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = ly_cli_default_db(), *program = ly_cli_default_program();
    const char *from_s = NULL, *to_s = NULL;
    bool json = false;
    if (argc < 2 || strcmp(argv[1], "report") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            fputs(questsHelp, stdout);
            return LY_EXIT_OK;
        }
        fputs(questsHelp, stderr);
        return LY_EXIT_USAGE;
    }
    argc--;
    argv++;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'p': program = optarg; break;
        case 'f': from_s = optarg; break;
        case 't': to_s = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(questsHelp, stdout); return LY_EXIT_OK;
        default: fputs(questsHelp, stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fputs(questsHelp, stderr);
        return LY_EXIT_USAGE;
    }
    ly_error err;
    ly_error_clear(&err);
    ly_service_options so = {.db_path = db, .program_path = program, .sync = LY_SYNC_NORMAL};
    ly_service *s = NULL;
    if (ly_service_open(&so, &s, &err) != LY_OK) return ly__cli_fail("quests report", &err);
    const ly_calendar *cal = ly_service_calendar(s);
    ly_time now = ly_os_now();
    int64_t today = ly_local_day(cal, now), d_from = today - 29, d_to = today;
    if ((from_s && !ly_date_parse(from_s, &d_from)) || (to_s && !ly_date_parse(to_s, &d_to)) ||
        d_to < d_from) {
        fprintf(stderr, "loyal quests report: --from and --to are dates YYYY-MM-DD, from <= to\n");
        ly_service_close(s);
        return LY_EXIT_USAGE;
    }
    ly_arena a = {0};
    ly_quest_figures *f;
    size_t n;
    ly_err rc = ly_service_quests_report(s, ly_local_day_start(cal, now, d_from),
                                         ly_local_day_start(cal, now, d_to + 1), &a, &f, &n, &err);
    if (rc != LY_OK) {
        ly_arena_free(&a);
        ly_service_close(s);
        return ly__cli_fail("quests report", &err);
    }
    if (json) {
        char fb[16], tb[16];
        ly_date_format(d_from, fb, sizeof fb);
        ly_date_format(d_to, tb, sizeof tb);
        int code = printJson(fb, tb, f, n);
        ly_arena_free(&a);
        ly_service_close(s);
        return code;
    }
    printf("%-20s %8s %9s %10s %8s  %s\n", "quest", "started", "completed", "points", "xp",
           "deals per customer: offered / held out (n) = difference [95%], completers");
    for (size_t i = 0; i < n; i++) {
        printf("%-20s %8lld %9lld %10lld %8lld  ", f[i].id, (long long)f[i].started,
               (long long)f[i].completed, (long long)f[i].points_cost, (long long)f[i].xp_given);
        if (!f[i].compared)
            printf("no comparison (no hold-out, or an audience)\n");
        else
            printf("%.3f (%lld) / %.3f (%lld) = %+.3f [%+.3f, %+.3f], %.3f (%lld)\n",
                   f[i].treated_deals, (long long)f[i].treated_n, f[i].holdout_deals,
                   (long long)f[i].holdout_n, f[i].uplift, f[i].uplift_lo, f[i].uplift_hi,
                   f[i].completers_deals, (long long)f[i].completers_n);
    }
    if (n == 0) printf("(the program has no quests)\n");
    ly_arena_free(&a);
    ly_service_close(s);
    return LY_EXIT_OK;
}
