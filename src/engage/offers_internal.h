/*
 * offers_internal.h - the personal-offers model's layout, shared by offers.c (building),
 * offers_query.c (answering) and offers_eval.c (the offline evaluation).
 */
#ifndef LY_OFFERS_INTERNAL_H
#define LY_OFFERS_INTERNAL_H

#include "engage/engage.h"

#include <stdint.h>

/* A string -> dense index table (open addressing, FNV-1a); keys live in an arena. */
typedef struct ly__ofmap {
    uint32_t *slots;   /* index + 1; 0 = empty */
    uint32_t *hashes;  /* the hash of the key in each slot */
    size_t cap;        /* power of two */
    size_t n;
    const char **keys; /* by index */
    size_t keys_cap;
} ly__ofmap;

/* A partner of a SKU: the co-occurrence evidence. */
typedef struct ly__ofnb {
    uint32_t item;
    uint32_t count;    /* baskets with both */
    uint32_t rank;     /* the partner's SKU rank, for ties */
    double conf;       /* count / baskets of the owner SKU */
    double lift;       /* conf / share of baskets holding item */
} ly__ofnb;

typedef struct ly__ofitem {
    const char *sku;
    const char *brand;     /* NULL when unknown */
    int32_t category;      /* -1 when unknown */
    uint32_t baskets;      /* sale receipts holding it (anonymous ones too) */
    uint32_t buyers;       /* identified customers who bought it */
    uint32_t lines;
    int64_t price_sum;     /* of unit prices over lines */
    ly_money price;        /* price_sum / lines, rounded half up */
    uint32_t *ivh;         /* repeat-interval histogram (building only) */
    uint32_t intervals;    /* repeat intervals seen */
    int32_t cycle;         /* replenishment cycle in days; -1: not replenished */
    uint32_t seen;         /* building: last receipt that counted it */
    uint32_t rank;         /* position of the SKU in byte order: every tie is broken by it */
    ly__ofnb *nb;
    uint32_t n_nb;
} ly__ofitem;

/* A customer's relation to one SKU. */
typedef struct ly__ofcitem {
    uint32_t item;
    uint32_t receipts;     /* receipts holding it */
    int32_t last_day;
    uint32_t lines;
    uint32_t seen;         /* building: last receipt that counted it */
    int64_t price_sum;
    ly_money spend;
} ly__ofcitem;

typedef struct ly__ofcust {
    const char *key;
    ly__ofcitem *items;    /* sorted by item id */
    uint32_t n_items, cap;
    ly_time last_time;
    /* the category profile, L2-normalised spend shares, sorted by category id */
    uint32_t *cats;
    double *w;
    uint32_t n_cats;
} ly__ofcust;

typedef struct ly__ofcat {
    const char *name;
    uint32_t buyers;
    uint32_t *skus;        /* by buyers descending, then SKU */
    uint32_t n_skus;
} ly__ofcat;

struct ly_offers_model {
    ly_offers_options opt;
    ly_arena arena;        /* strings */
    ly__ofmap item_map, cust_map, cat_map;
    ly__ofitem *items;
    size_t n_items;
    ly__ofcust *custs;
    size_t n_custs;
    ly__ofcat *cats;
    size_t n_cats;
    uint32_t *popular;     /* items with buyers, by buyers desc, baskets desc, SKU */
    size_t n_popular;
    int64_t n_baskets;
    ly_offers_stats stats;
};

/* The map: find (returns true and *idx) or insert with the next index. */
bool ly__ofmap_find(const ly__ofmap *m, const char *key, uint32_t *idx);
ly_err ly__ofmap_intern(ly__ofmap *m, ly_arena *a, const char *key, uint32_t *idx, bool *fresh,
                        ly_error *err);
void ly__ofmap_free(ly__ofmap *m);

/* For the evaluation: the model under construction, and a line's item interned without
 * counting it (a test-period SKU must keep one id whatever the training brings later). */
ly_offers_model *ly__offers_builder_model(ly_offers_builder *b);
ly_err ly__offers_builder_item(ly_offers_builder *b, const ly_an_line *l, uint32_t *id,
                               ly_error *err);

/* The customer's entry for an item, or NULL. */
const ly__ofcitem *ly__of_citem(const ly__ofcust *c, uint32_t item);

/* The offers of customer index ci as of as_of_day. */
ly_err ly__offers_compute(const ly_offers_model *m, uint32_t ci, int64_t as_of_day, size_t k,
                          ly_arena *a, ly_offer **out, size_t *n, ly_error *err);

/* Whether the just-bought rule lets item be offered to c at as_of_day. */
bool ly__of_eligible(const ly_offers_model *m, const ly__ofcust *c, uint32_t item,
                     int64_t as_of_day);

/* The local day of a receipt. */
int64_t ly__of_day(ly_time t, int utc_offset_min);

#endif /* LY_OFFERS_INTERNAL_H */
