/* cli_internal.h - helpers shared by the subcommands' files. */
#ifndef LY_CLI_INTERNAL_H
#define LY_CLI_INTERNAL_H

#include "core/core.h"

/* Prints "loyal CMD: field: message (code)" to stderr; returns the exit code for the error. */
int ly__cli_fail(const char *cmd, const ly_error *err);

#endif
