/*
 * an_internal.h - what the analytics' files share and nobody else sees: the hash tables of
 * the one-pass engine (interned strings, 64-bit keys) and the finishing steps that turn the
 * pass's counters into the result (rfm.c, boundaries.c, structure.c, profit.c).
 */
#ifndef LY_AN_INTERNAL_H
#define LY_AN_INTERNAL_H

#include "analytics/analytics.h"

#include <stdlib.h>
#include <string.h>

#define LY__NONE UINT32_MAX

/* Interned strings: each distinct string gets the next id from 0. Strings are copied into
 * the arena; names[id] stays valid as long as the arena. */
typedef struct ly__strtab {
    uint64_t *slots;  /* (hash >> 32) << 32 | (id + 1); 0 is an empty slot */
    size_t cap;
    uint32_t n;
    const char **names;
    size_t names_cap;
    ly_arena *arena;
} ly__strtab;

/* The id of s (added when new; *added may be NULL). LY__NONE when out of memory. */
uint32_t ly__strtab_put(ly__strtab *t, const char *s, bool *added);
/* The id of s, or LY__NONE when it is not there. */
uint32_t ly__strtab_get(const ly__strtab *t, const char *s);
void ly__strtab_free(ly__strtab *t);
size_t ly__strtab_bytes(const ly__strtab *t);

/* A map from 64-bit keys to 32-bit values (open addressing, linear probing). */
typedef struct ly__u64map {
    uint64_t *keys;
    uint32_t *vals;   /* LY__NONE marks an empty slot */
    size_t cap, n;
} ly__u64map;

/* The slot's value for key; when new, it is set to *fresh (and *added = true). NULL when
 * out of memory. */
uint32_t *ly__u64map_put(ly__u64map *m, uint64_t key, uint32_t fresh, bool *added);
void ly__u64map_free(ly__u64map *m);

/* Floor division (b > 0). */
static inline int64_t ly__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

/* Finishing steps, run once after the pass (each documented in docs/analytics.md). */
ly_err ly__an_rfm(ly_an_result *r, ly_error *err);
/* events/censored have LY_AN_GAP_MAX + 1 entries. */
ly_err ly__an_curve(ly_an_result *r, const int64_t *events, const int64_t *censored,
                    ly_error *err);
/* gap_hist: LY_AN_NMAX rows of LY_AN_GAP_MAX + 1 counts; gap_sum per row. */
void ly__an_loyalty(ly_an_result *r, const int64_t *gap_hist, const double *gap_sum);
void ly__an_status(ly_an_result *r);
void ly__an_profit(ly_an_result *r);
/* The label of period number key of kind p ("2010-03", "2010-Q1", "2010-03-01"). */
void ly__an_period_label(ly_an_period p, int64_t key, char *buf, size_t size);

#endif /* LY_AN_INTERNAL_H */
