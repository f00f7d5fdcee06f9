/*
 * rules_internal.h - what pricing.c and rules.c share: the per-receipt working state of the
 * pricing and the step that runs a program's rules over it.
 */
#ifndef LY_CORE_RULES_INTERNAL_H
#define LY_CORE_RULES_INTERNAL_H

#include "core/core.h"

/* Per-line working arrays of one pricing, n entries each (one allocation). */
typedef struct ly__price_state {
    size_t n;
    int64_t *left;      /* line amount left after the rule discounts so far */
    int64_t *rdisc;     /* money off from rules */
    int64_t *bonus;     /* points from rules */
    int64_t *w, *caps, *parts, *aux; /* scratch */
    size_t *idx;        /* scratch */
    unsigned char *elig;
    void *block_;
} ly__price_state;

/* Allocates the arrays for n lines and sets left to the line amounts. LY_ENOMEM. */
ly_err ly__price_state_init(ly__price_state *st, const ly_receipt *r, ly_error *err);
void ly__price_state_free(ly__price_state *st);

/* Runs every rule of p over the receipt in order, changing st->left, rdisc and bonus, and
 * reports each rule in out->rules when that is not NULL. */
ly_err ly__rules_apply(const ly_program *p, const ly_receipt *r, const ly_price_input *in,
                       ly__price_state *st, ly_pricing *out, ly_error *err);

/* x / c rounded by rd, for x, c as unsigned 128-bit (c > 0); false if it exceeds int64. */
bool ly__div_round(unsigned __int128 x, unsigned __int128 c, ly_rounding rd, int64_t *out);

#endif /* LY_CORE_RULES_INTERNAL_H */
