/*
 * program_internal.h - what the files of the program module share: the readers of the
 * program file's sections that live in files of their own.
 */
#ifndef LY_PROGRAM_INTERNAL_H
#define LY_PROGRAM_INTERNAL_H

#include "program/program.h"

#include <jansson.h>

/* Values of the program file (fields.c). Each returns LY_OK or LY_EINVAL naming path; a
 * missing value (v NULL) is "missing_field". */
ly_err ly__pf_oom(ly_error *err);
/* Rejects keys of obj not in known (NULL-ended): "unknown_field" at prefix.key. */
ly_err ly__pf_only_keys(json_t *obj, const char *prefix, const char *const *known, ly_error *err);
ly_err ly__pf_need_object(json_t *v, const char *path, ly_error *err);
/* An integer in lo..hi. */
ly_err ly__pf_int(json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out, ly_error *err);
/* A decimal as a string ("2.5") or an integer, to an integer at scale (exact). */
ly_err ly__pf_decimal(json_t *v, int scale, const char *path, int64_t *out, ly_error *err);
/* A string of 1..max bytes, copied into a. */
ly_err ly__pf_text(json_t *v, const char *path, size_t max, ly_arena *a, const char **out,
                   ly_error *err);

/* The start of a list of objects at path: v must be an array ("invalid_type", "must be a
 * list of WHAT") of at most max elements (0: no limit; else "invalid_value", "at most MAX
 * WHAT"). *items is room for its *n elements of size bytes each (at least one), in a. */
ly_err ly__pf_list(json_t *v, const char *path, const char *what, size_t max, size_t size,
                   ly_arena *a, void **items, size_t *n, ly_error *err);
/* Element i of the array v, which must be an object with only the keys known (NULL-ended),
 * into *o; its path "PATH[i]" is written to q (q_size bytes) for the caller's own errors. */
ly_err ly__pf_item(json_t *v, const char *path, size_t i, const char *const *known, char *q,
                   size_t q_size, json_t **o, ly_error *err);

/* Reads the "tiers" and "club" sections (either may be NULL) into p->tiers, in p->mem. Runs
 * after the rules are read: benefits name rules by id. Errors name the path
 * ("tiers.levels[1].min_spend", "club.rule.min_tier"). Neither section: p->tiers stays NULL. */
ly_err ly__program_tiers(json_t *tiers, json_t *club, ly_program *p, ly_error *err);

/* Reads the "quests" section (may be NULL) into p->quests, in p->mem (program/quests.c,
 * docs/quests.md). Errors name the path ("quests.list[0].target"). */
ly_err ly__program_quests(json_t *section, ly_program *p, ly_error *err);
/* After the questionnaires are read: every "answers" quest names one of them
 * (LY_EINVAL "invalid_value", field "quests.list[i].questionnaire"). */
ly_err ly__program_quests_check(const ly_program *p, ly_error *err);

/* Offers preferences (issue 6, engineer P; program/offers.h, docs/offers.md). */
/* The rules' attribute tests, [{"name", "equals" | "in" | "absent"}], into *out in p->mem:
 * the very reader of rule conditions' "attributes" and "facts" (program.c); errors name
 * path ("triggers.list[0].audience.attributes[0].equals"). An empty list is allowed. */
ly_err ly__pf_fact_tests(json_t *v, const char *path, ly_program *p, const ly_fact_test **out,
                         size_t *n_out, ly_error *err);
/* The rules' line selector {"skus", "categories", "brands"} (with_exclude: and the
 * "exclude_*" sets); unknown keys of o are "unknown_field" errors. */
ly_err ly__pf_selector(json_t *o, const char *path, bool with_exclude, ly_program *p,
                       ly_line_selector *out, ly_error *err);
/* Reads the "offers" section (may be NULL) into p->offers, in p->mem (program/offers.c). */
ly_err ly__program_offers(json_t *section, ly_program *p, ly_error *err);

#endif /* LY_PROGRAM_INTERNAL_H */
