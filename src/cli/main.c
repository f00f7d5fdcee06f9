/*
 * main.c - the `loyal` command: dispatches to a subcommand.
 */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"init", ly_cli_init, "create the database, a starter program file and the first API keys"},
    {"serve", ly_cli_serve, "answer the HTTP/JSON API"},
    {"import", ly_cli_import, "load purchase history from CSV"},
    {"check", ly_cli_check, "verify every balance against the ledger"},
    {"expire", ly_cli_expire, "activate and expire the points that are due"},
    {"keys", ly_cli_keys, "create, list and revoke API keys"},
    {"simulate", ly_cli_simulate, "make a synthetic retailer's history with known truth"},
    {"analyze", ly_cli_analyze, "who the customers are and what the program is worth"},
    {"report", ly_cli_report, "money figures (liability, partners); triggers, quests, touchpoints"},
    {"offers", ly_cli_offers, "personal offers per customer, and their offline evaluation"},
    {"outbox", ly_cli_outbox, "deliver the messages triggers wrote; list them; retry dead ones"},
    {"triggers", ly_cli_triggers, "run the trigger communications; report their uplift against hold-outs"},
    {"maturity", ly_cli_maturity, "the program's maturity level 0-4, block by block, and what would lift it"},
    {"quests", ly_cli_quests, "quests: started, completed, reward cost, deals against a hold-out"},
    {"touchpoints", ly_cli_touchpoints, "per touchpoint: data collected, NPS, CSI, and whether low scores predict churn"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: loyal COMMAND [OPTIONS]\n\n"
               "Loyal runs a loyalty program: tills call its API at checkout to identify\n"
               "customers, price receipts, earn and redeem points and take returns.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'loyal COMMAND --help' describes each command.\n"
               "Exit codes: 0 ok, 1 a problem was found, 2 usage, 3 bad input data,\n"
               "4 storage or system error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return LY_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return LY_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "loyal: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return LY_EXIT_USAGE;
}
