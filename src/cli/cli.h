/*
 * cli.h - the `loyal` command's subcommands. Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit code:
 *   0 success; 1 the command ran and found a problem (check: mismatches); 2 usage error;
 *   3 bad input data (import: a bad row; program file invalid); 4 storage or system error.
 */
#ifndef LY_CLI_H
#define LY_CLI_H

enum { LY_EXIT_OK = 0, LY_EXIT_PROBLEM = 1, LY_EXIT_USAGE = 2, LY_EXIT_DATA = 3, LY_EXIT_SYSTEM = 4 };

int ly_cli_init(int argc, char **argv);
int ly_cli_serve(int argc, char **argv);
int ly_cli_import(int argc, char **argv);
int ly_cli_check(int argc, char **argv);
int ly_cli_expire(int argc, char **argv);
int ly_cli_keys(int argc, char **argv);
int ly_cli_simulate(int argc, char **argv);
int ly_cli_analyze(int argc, char **argv);
/* `loyal report liability | partners` (report.c, engineer R). */
int ly_cli_report(int argc, char **argv);
int ly_cli_offers(int argc, char **argv);
int ly_cli_outbox(int argc, char **argv);   /* deliver, list, retry (docs/delivery.md) */
int ly_cli_triggers(int argc, char **argv); /* run, report (docs/triggers.md) */
/* `loyal maturity`: the program's maturity level by block (maturity.c; docs/maturity.md). */
int ly_cli_maturity(int argc, char **argv);
/* `loyal touchpoints report`: data, NPS, CSI and churn by touchpoint (touchpoints.c;
 * docs/touchpoints.md; issue 6, engineer S). */
int ly_cli_touchpoints(int argc, char **argv);
/* `loyal quests report`: started, completed, reward cost, against a hold-out (quests.c;
 * docs/quests.md; issue 6, engineer Q). */
int ly_cli_quests(int argc, char **argv);

/* Shared by the subcommands: the database and program paths from --db / --program, or the
 * LOYAL_DB / LOYAL_PROGRAM environment variables, or ./loyal.db and ./program.json. */
const char *ly_cli_default_db(void);
const char *ly_cli_default_program(void);

#endif /* LY_CLI_H */
