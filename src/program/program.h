/*
 * program.h - the program file: a JSON document a marketer edits, loaded into the core's
 * ly_program. The format is documented in docs/program.md.
 */
#ifndef LY_PROGRAM_H
#define LY_PROGRAM_H

#include "core/core.h"

/* Reads and validates a program file (the whole file: every error names its path, e.g.
 * "rules[3].effect.percent"). On success *out owns memory for its rules and line lists when
 * it has any: release it with ly_program_free (core.h) once no copy of *out is used any more.
 * On error nothing is allocated. Unknown keys are errors. err->field names the path in
 * the file ("points.max_share_percent"); err->message says what is wrong and, for syntax
 * errors, where (line and column). The program's version is its "version" field or, if
 * absent, "sha-" and the first 12 hex digits of the BLAKE2b hash of the file. */
ly_err ly_program_load(const char *path, ly_program *out, ly_error *err);

/* The same, from text in memory. */
ly_err ly_program_parse(const char *text, size_t len, ly_program *out, ly_error *err);

#endif /* LY_PROGRAM_H */
