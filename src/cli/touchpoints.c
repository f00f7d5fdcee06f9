/*
 * touchpoints.c - `loyal touchpoints report`: per touchpoint of the customer journey the
 * data collected there, the identified share of its receipts, NPS and CSI with their sample
 * sizes, conversion to the next deal, and whether low satisfaction there predicts churn
 * (docs/touchpoints.md).
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"

#include "service/service.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: loyal touchpoints report [--db PATH] [--program PATH] [--days N] [--min-group N] [--json]\n\n"
    "Per touchpoint declared in the program (then any only the data names): answer sets,\n"
    "receipts and custom events collected there, the identified share of its receipts, NPS (promoters% -\n"
    "detractors%) and CSI (mean score as % of its scale) with sample sizes, conversion of its\n"
    "identified receipts to the customer's next deal within --days (default 30), trigger messages\n"
    "sent through it (written, delivered, dead) and, at a trigger_communication touchpoint, the\n"
    "share of messaged customers with a deal within --days after their first delivered message\n"
    "there, and the return rate (a deal within --days after answering) of NPS detractors (0-6)\n"
    "against promoters (9-10) with a 95% interval for the difference. A touchpoint whose whole\n"
    "interval is below zero is flagged: low scores there predict churn. Groups smaller than\n"
    "--min-group (default 10) get no interval. Exit 0 (flags are data, not errors).\n";

static json_t *num(double v)
{
    return isnan(v) ? json_null() : json_real(round(v * 1000.0) / 1000.0);
}

static void cell(double v, char *buf, size_t size, const char *fmt)
{
    if (isnan(v)) snprintf(buf, size, "-");
    else snprintf(buf, size, fmt, v);
}

int ly_cli_touchpoints(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "report") != 0) {
        bool h = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0);
        fputs(help, h ? stdout : stderr);
        return h ? LY_EXIT_OK : LY_EXIT_USAGE;
    }
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"days", required_argument, 0, 'n'}, {"min-group", required_argument, 0, 'm'},
        {"json", no_argument, 0, 'j'},       {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = ly_cli_default_db(), *program = ly_cli_default_program();
    long days = 30, min_group = 10;
    bool json = false;
    int c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'p': program = optarg; break;
        case 'n':
            days = strtol(optarg, &end, 10);
            if (*end || days < 1 || days > 3660) {
                fprintf(stderr, "loyal touchpoints: --days must be 1..3660\n");
                return LY_EXIT_USAGE;
            }
            break;
        case 'm':
            min_group = strtol(optarg, &end, 10);
            if (*end || min_group < 2 || min_group > 1000000) {
                fprintf(stderr, "loyal touchpoints: --min-group must be 2..1000000\n");
                return LY_EXIT_USAGE;
            }
            break;
        case 'j': json = true; break;
        case 'h': fputs(help, stdout); return LY_EXIT_OK;
        default: fputs(help, stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "loyal touchpoints: unexpected argument '%s'\n", argv[optind + 1]);
        return LY_EXIT_USAGE;
    }
    ly_service *svc;
    ly_error err;
    ly_error_clear(&err);
    ly_service_options so = {.db_path = db, .program_path = program};
    if (ly_service_open(&so, &svc, &err) != LY_OK) return ly__cli_fail("touchpoints", &err);
    ly_arena a;
    memset(&a, 0, sizeof a);
    ly_tp_report rep;
    if (ly_service_touchpoints_report(svc, (int)days, (int)min_group, &a, &rep, &err) != LY_OK) {
        ly_arena_free(&a);
        ly_service_close(svc);
        return ly__cli_fail("touchpoints", &err);
    }
    bool flagged = false;
    for (size_t i = 0; i < rep.n_rows; i++) flagged |= rep.rows[i].predicts_churn;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < rep.n_rows; i++) {
            const ly_tp_report_row *r = &rep.rows[i];
            json_t *o = json_pack(
                "{s:s, s:s?, s:s?, s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I, s:o}, s:{s:I, s:o},"
                " s:{s:I, s:I, s:o}, s:{s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:b}}",
                "touchpoint", r->id, "stage", r->stage, "channel", r->channel, "answers",
                (json_int_t)r->answers, "receipts", (json_int_t)r->receipts, "events",
                (json_int_t)r->events, "identified",
                (json_int_t)r->identified, "identified_share",
                r->receipts ? num((double)r->identified / (double)r->receipts) : json_null(),
                "nps", "n", (json_int_t)r->nps_n, "promoters", (json_int_t)r->promoters,
                "detractors", (json_int_t)r->detractors, "score", num(r->nps), "csi", "n",
                (json_int_t)r->csi_n, "score", num(r->csi), "conversion", "n",
                (json_int_t)r->conv_n, "converted", (json_int_t)r->conv_yes, "rate",
                r->conv_n ? num((double)r->conv_yes / (double)r->conv_n) : json_null(), "churn",
                "detractors", (json_int_t)r->det_n, "detractors_returned",
                (json_int_t)r->det_returned, "promoters", (json_int_t)r->pro_n,
                "promoters_returned", (json_int_t)r->pro_returned, "difference", num(r->diff),
                "low", num(r->diff_lo), "high", num(r->diff_hi), "predicts_churn",
                r->predicts_churn);
            json_t *msgs = o ? json_pack("{s:I, s:I, s:I, s:o}", "written",
                                         (json_int_t)r->msg_written, "delivered",
                                         (json_int_t)r->msg_delivered, "dead",
                                         (json_int_t)r->msg_dead, "conversion",
                                         r->msg_conv_applies
                                             ? json_pack("{s:I, s:I, s:o}", "n",
                                                         (json_int_t)r->msg_conv_n, "converted",
                                                         (json_int_t)r->msg_conv_yes, "rate",
                                                         r->msg_conv_n
                                                             ? num((double)r->msg_conv_yes /
                                                                   (double)r->msg_conv_n)
                                                             : json_null())
                                             : json_null())
                             : NULL;
            if (o && (!msgs || json_object_set_new(o, "messages", msgs) != 0)) {
                json_decref(o);
                o = NULL;
            }
            if (!o || json_array_append_new(arr, o) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        }
        char when[40];
        ly_time_format(rep.horizon, 0, when, sizeof when);
        json_t *root = arr ? json_pack("{s:i, s:s, s:o}", "days", rep.days, "horizon",
                                       rep.horizon ? when : "", "touchpoints", arr)
                           : NULL;
        char *t = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
        json_decref(root);
        if (!t) {
            ly_arena_free(&a);
            ly_service_close(svc);
            fprintf(stderr, "loyal touchpoints: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        puts(t);
        free(t);
    } else {
        printf("Touchpoints (return window %d days)\n", rep.days);
        printf("%-16s %-22s %-8s %7s %8s %6s %6s %6s %7s %6s %7s %6s %7s %6s "
               "%7s %7s %7s %7s %7s %7s %19s %s\n",
               "touchpoint", "stage", "channel", "answers", "receipts", "events", "ident", "nps_n", "NPS",
               "csi_n", "CSI", "conv_n", "conv", "msgs", "deliv", "dead", "mconv_n", "mconv",
               "det_ret", "pro_ret", "diff [95%]", "churn");
        for (size_t i = 0; i < rep.n_rows; i++) {
            const ly_tp_report_row *r = &rep.rows[i];
            char ident[16], nps[16], csi[16], conv[16], dr[16], pr[16], diff[48], mn[24], mc[16];
            cell(r->receipts ? 100.0 * (double)r->identified / (double)r->receipts : NAN, ident,
                 sizeof ident, "%.0f%%");
            cell(r->nps, nps, sizeof nps, "%.1f");
            cell(r->csi, csi, sizeof csi, "%.1f");
            cell(r->conv_n ? 100.0 * (double)r->conv_yes / (double)r->conv_n : NAN, conv,
                 sizeof conv, "%.0f%%");
            cell(r->det_n ? 100.0 * (double)r->det_returned / (double)r->det_n : NAN, dr,
                 sizeof dr, "%.0f%%");
            cell(r->pro_n ? 100.0 * (double)r->pro_returned / (double)r->pro_n : NAN, pr,
                 sizeof pr, "%.0f%%");
            if (r->msg_conv_applies) snprintf(mn, sizeof mn, "%lld", (long long)r->msg_conv_n);
            else snprintf(mn, sizeof mn, "-");
            cell(r->msg_conv_n ? 100.0 * (double)r->msg_conv_yes / (double)r->msg_conv_n : NAN,
                 mc, sizeof mc, "%.0f%%");
            if (r->diff_known)
                snprintf(diff, sizeof diff, "%+.2f [%+.2f,%+.2f]", r->diff, r->diff_lo, r->diff_hi);
            else snprintf(diff, sizeof diff, "-");
            printf("%-16s %-22s %-8s %7lld %8lld %6lld %6s %6lld %7s %6lld %7s %6lld %7s %6lld "
                   "%7lld %7lld %7s %7s %7s %7s %19s %s\n",
                   r->id, r->stage ? r->stage : "(undeclared)", r->channel ? r->channel : "-",
                   (long long)r->answers, (long long)r->receipts, (long long)r->events, ident, (long long)r->nps_n, nps,
                   (long long)r->csi_n, csi, (long long)r->conv_n, conv, (long long)r->msg_written,
                   (long long)r->msg_delivered, (long long)r->msg_dead, mn, mc, dr, pr, diff,
                   r->predicts_churn ? "PREDICTS CHURN" : "");
        }
    }
    ly_arena_free(&a);
    ly_service_close(svc);
    (void)flagged;
    return LY_EXIT_OK;
}
