/*
 * maturity_evidence.h - the evidence of the program's maturity level (docs/maturity.md),
 * gathered from the program file and the database, and the rating as JSON: shared by
 * `loyal maturity` (maturity.c) and the maturity section of `loyal analyze --html`
 * (analyze.c), so both rate the same facts the same way.
 */
#ifndef LY_CLI_MATURITY_EVIDENCE_H
#define LY_CLI_MATURITY_EVIDENCE_H

#include "analytics/maturity.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Fills *ev (fully overwritten) for rating as of now (unix seconds):
 * - the program file at program, read as plain JSON (a section this binary does not know
 *   still counts). A file that does not exist counts as no program unless program_given, when
 *   it is an error like a file that is not a JSON object;
 * - the database at db when the file exists (a missing one is no database and is not
 *   created): the counts of ly_db_maturity_facts, the stored program versions (when the
 *   triggers part last changed) and, when the program file also loads as a program with
 *   triggers, the uplift of every trigger's first step against its hold-out over every step
 *   recorded up to now (ly_triggers_report_build, the computation of `loyal triggers
 *   report`). A program that does not load leaves the uplift unmeasured with the reason in
 *   ev->uplift_why; it is not an error.
 * cmd names the command in messages on standard error ("maturity"). Returns LY_EXIT_OK;
 * LY_EXIT_DATA when the program file cannot be read as a JSON object; the exit code of a
 * database that cannot be opened or read (messages printed). */
int ly__mat_gather(const char *cmd, const char *program, bool program_given, const char *db,
                   int64_t now, ly_mat_evidence *ev);

/* The rating as the JSON document of `loyal maturity --json` (docs/maturity.md, "Output"):
 * {"overall", "lowest", "note", "blocks": [...], "facts": {...}}. New reference owned by the
 * caller; NULL when out of memory. */
json_t *ly__mat_json(const ly_mat_evidence *ev, const ly_mat_rating *r);

#endif /* LY_CLI_MATURITY_EVIDENCE_H */
