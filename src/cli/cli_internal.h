/* cli_internal.h - helpers shared by the subcommands' files. */
#ifndef LY_CLI_INTERNAL_H
#define LY_CLI_INTERNAL_H

#include "core/core.h"

#include <stdio.h>

/* Prints "loyal CMD: field: message (code)" to stderr; returns the exit code for the error. */
int ly__cli_fail(const char *cmd, const ly_error *err);

/* A decimal integer in lo..hi, the whole string; false otherwise. */
bool ly__cli_parse_long(const char *s, long lo, long hi, long *out);

/* --map FIELD=COLUMN,...: appends the pairs to *map (2 strings a pair, in the arena), growing
 * it by doubling. False (after printing "loyal CMD: ...") on a malformed pair or no memory. */
bool ly__cli_map_parse(const char *cmd, const char *arg, ly_arena *a, const char ***map, size_t *n,
                       size_t *cap);

struct ly_source;
struct ly_an_csv_options;

/* --layout and --delimiter of the commands that read CSV exports (analyze, offers): set in
 * *opt; false after printing "loyal CMD: ..." for a value that is not one. */
bool ly__cli_layout_parse(const char *cmd, const char *arg, struct ly_an_csv_options *opt);
bool ly__cli_delimiter_parse(const char *cmd, const char *arg, struct ly_an_csv_options *opt);
struct ly_store;

/* The receipts a command analyses (analyze, offers): the CSV file (a path, or "-" for
 * standard input) read with opt, or without a file Loyal's database db (NULL: the default
 * path), and with sort, served in time order per customer. On success *src is open and the
 * caller closes it (src->close), then *in (fclose unless stdin) and *store (ly_store_close);
 * each may be NULL. On failure prints "loyal CMD: ..." and returns the exit code (nothing is
 * left open); LY_EXIT_OK otherwise. */
typedef struct ly__cli_input {
    struct ly_source *src;
    FILE *in;
    struct ly_store *store;
} ly__cli_input;
int ly__cli_open_receipts(const char *cmd, const char *file, const char *db,
                          const struct ly_an_csv_options *opt, bool sort, ly__cli_input *out);
/* Closes what ly__cli_open_receipts opened (safe on a zeroed input). */
void ly__cli_close_receipts(ly__cli_input *in);

#endif
