/*
 * program_internal.h - what the files of the program module share: the readers of the
 * program file's sections that live in files of their own.
 */
#ifndef LY_PROGRAM_INTERNAL_H
#define LY_PROGRAM_INTERNAL_H

#include "program/program.h"

#include <jansson.h>

/* Reads the "tiers" and "club" sections (either may be NULL) into p->tiers, in p->mem. Runs
 * after the rules are read: benefits name rules by id. Errors name the path
 * ("tiers.levels[1].min_spend", "club.rule.min_tier"). Neither section: p->tiers stays NULL. */
ly_err ly__program_tiers(json_t *tiers, json_t *club, ly_program *p, ly_error *err);

/* Reads the "quests" section (may be NULL) into p->quests, in p->mem (program/quests.c,
 * docs/quests.md). Errors name the path ("quests.list[0].target"). */
ly_err ly__program_quests(json_t *section, ly_program *p, ly_error *err);

#endif /* LY_PROGRAM_INTERNAL_H */
