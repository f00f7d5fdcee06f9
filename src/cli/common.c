/*
 * common.c - what the subcommands share: default paths and error printing.
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"

#include <stdio.h>
#include <stdlib.h>

const char *ly_cli_default_db(void)
{
    const char *v = getenv("LOYAL_DB");
    return v && *v ? v : "loyal.db";
}

const char *ly_cli_default_program(void)
{
    const char *v = getenv("LOYAL_PROGRAM");
    return v && *v ? v : "program.json";
}

int ly__cli_fail(const char *cmd, const ly_error *err)
{
    if (err->field[0])
        fprintf(stderr, "loyal %s: %s: %s (%s)\n", cmd, err->field, err->message, err->code);
    else
        fprintf(stderr, "loyal %s: %s (%s)\n", cmd, err->message, err->code);
    switch (err->kind) {
    case LY_EINVAL:
    case LY_EUNPROCESSABLE:
    case LY_ECONFLICT:
    case LY_ETOOLARGE:
        return LY_EXIT_DATA;
    case LY_ENOTFOUND:
        return LY_EXIT_PROBLEM;
    default:
        return LY_EXIT_SYSTEM;
    }
}
