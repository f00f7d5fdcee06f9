/*
 * assoc.h - co-purchases as association rules: frequent itemsets over baskets, rules
 * X => {y} with support, confidence and lift, and the combos they suggest
 * (METHOD.md section 6: "which products sell together, to build combos").
 *
 * Two steps. A builder (ly_assoc) collects baskets one at a time: each basket is a list of
 * item strings (SKUs, categories, brands: the caller decides what an item is), which the
 * builder interns to dense ids (0, 1, 2, ... in order of first appearance), de-duplicates
 * within the basket and stores as one sorted array of 32-bit ids: about 4 bytes per distinct
 * item per basket plus 4 bytes per basket, and each distinct string once.
 * Then ly_assoc_mine() finds, exactly, every itemset whose support reaches min_support
 * (Eclat over tid-lists that switch to diffsets where those are smaller), derives the rules
 * and ranks the combos. The definitions follow R's arules apriori(), so its published
 * figures are reproduced exactly; docs/assoc.md states each of them.
 *
 * Pure: no I/O, no global state. Floating point is used for the measures (support,
 * confidence, lift are estimates, never money); every count is an exact integer.
 * A builder or a result may be read from several threads at once but changed by one.
 */
#ifndef LY_ASSOC_H
#define LY_ASSOC_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------
 * Baskets
 * ------------------------------------------------------------------------------------- */

typedef struct ly_assoc ly_assoc;

/* A new, empty builder. Returns NULL only when out of memory. Free with ly_assoc_free. */
ly_assoc *ly_assoc_new(void);

/* Frees the builder and everything it holds (NULL is a no-op). Item names returned by
 * ly_assoc_item_name become invalid. */
void ly_assoc_free(ly_assoc *a);

/* Adds one basket of n items. items[i] is the item's text; when lens is not NULL it holds
 * the byte length of each (the text need not be NUL-terminated),
 * otherwise each item is a NUL-terminated string. The texts are copied; nothing is
 * borrowed after the call. An item that appears more than once in the basket counts once.
 * Texts are compared byte for byte: "milk" and "milk " are different items (the caller
 * trims if it wants to). n may be 0: an empty basket still counts in the number of baskets,
 * the denominator of every support, as in arules.
 * Errors (the basket is then not added, the builder is unchanged):
 *  LY_EINVAL "invalid_item" field "items[i]": items[i] is NULL, empty or holds a NUL
 *            byte; field "items" when items is NULL while n > 0;
 *  LY_ETOOLARGE "too_many_baskets" / "too_many_items": more than 2^32 - 2 baskets, stored
 *            ids or distinct items;
 *  LY_ENOMEM. */
ly_err ly_assoc_add(ly_assoc *a, const char *const *items, const size_t *lens, size_t n,
                    ly_error *err);

/* Number of baskets added (including empty ones). */
size_t ly_assoc_basket_count(const ly_assoc *a);

/* Number of distinct items seen; ids run from 0 to this minus 1. */
size_t ly_assoc_item_count(const ly_assoc *a);

/* The text of item id (NUL-terminated, owned by the builder, valid until ly_assoc_free),
 * or NULL if id is out of range. */
const char *ly_assoc_item_name(const ly_assoc *a, uint32_t id);

/* Finds the id of the item with the text name (NUL-terminated). Returns false when no
 * basket holds it. */
bool ly_assoc_item_find(const ly_assoc *a, const char *name, uint32_t *id);

/* Number of baskets that contain item id (0 if id is out of range). */
uint32_t ly_assoc_item_baskets(const ly_assoc *a, uint32_t id);

/* The items of basket i: *n gets their number; the ids are sorted ascending and distinct.
 * Borrowed, valid until the next ly_assoc_add or ly_assoc_free. NULL (and *n = 0) if i is
 * out of range or the basket is empty. */
const uint32_t *ly_assoc_basket(const ly_assoc *a, size_t i, size_t *n);

/* Bytes the builder holds on the heap (arrays at their allocated capacity, names, the
 * intern table): the memory cost of the baskets. */
size_t ly_assoc_memory(const ly_assoc *a);

/* ---------------------------------------------------------------------------------------
 * Mining
 * ------------------------------------------------------------------------------------- */

typedef struct ly_assoc_opts {
    /* An itemset is frequent when count / baskets >= min_support (a fraction in [0, 1]).
     * Whatever the value, an itemset must occur in at least one basket. */
    double min_support;
    /* A rule is kept when its confidence >= min_confidence (in [0, 1]). */
    double min_confidence;
    /* Items in a rule (left-hand side plus the one right-hand item) and in a reported
     * combo: at least min_len (>= 1; 1 admits rules {} => {y}, as in arules), at most
     * max_len (0: no limit; max_len also bounds the itemsets mined). */
    unsigned min_len;
    unsigned max_len;
    /* Rules returned, best lift first (0: all). n_rules_total still counts them all. */
    size_t max_rules;
    /* Combos returned, best first (0: all). */
    size_t max_combos;
    /* Safety limit on frequent itemsets of all sizes (0: none). Mining stops with
     * LY_ETOOLARGE "too_many_itemsets" when it is passed: a very low min_support on long
     * baskets has exponentially many itemsets. */
    size_t max_itemsets;
} ly_assoc_opts;

/* The defaults of arules apriori(): min_support 0.1, min_confidence 0.8, min_len 1,
 * max_len 10; max_rules 0 (all), max_combos 0 (all), max_itemsets 10,000,000. */
void ly_assoc_opts_default(ly_assoc_opts *o);

/* A frequent itemset. items are item ids, sorted by the items' names (byte order). */
typedef struct ly_assoc_itemset {
    const uint32_t *items;
    uint32_t n_items;
    uint32_t count;   /* baskets that contain every item */
    double support;   /* count / baskets */
} ly_assoc_itemset;

/* A rule lhs => {rhs}. lhs is sorted by name and may be empty (only with min_len 1). */
typedef struct ly_assoc_rule {
    const uint32_t *lhs;
    uint32_t n_lhs;
    uint32_t rhs;
    uint32_t count;      /* baskets with lhs and rhs */
    uint32_t lhs_count;  /* baskets with lhs (all baskets when lhs is empty) */
    uint32_t rhs_count;  /* baskets with rhs */
    double support;      /* count / baskets */
    double confidence;   /* count / lhs_count */
    double lift;         /* confidence / (rhs_count / baskets) */
} ly_assoc_rule;

/* A combo: a frequent itemset of two or more items that is the itemset of at least one
 * rule kept, and whose every item is bought more often with the others than without
 * (lift > 1). Definitions in docs/assoc.md. */
typedef struct ly_assoc_combo {
    const uint32_t *items;  /* sorted by name */
    uint32_t n_items;
    uint32_t count;         /* baskets with all the items */
    double support;         /* count / baskets */
    double lift;            /* min over y in items of lift(items - {y} => {y}) */
    double extra_baskets;   /* count - count / lift: baskets beyond chance */
    double independence;    /* support / product of the items' supports */
    double confidence;      /* the best confidence among the rules of this itemset */
    uint32_t best_rhs;      /* the right-hand item of that rule */
} ly_assoc_combo;

typedef struct ly_assoc_result {
    uint32_t n_baskets;
    uint32_t min_count;        /* the support threshold as a basket count */
    /* Every frequent itemset of 1..max_len items (the empty set excluded; min_len does not
     * apply to itemsets, as arules counts them), by count descending, then fewer items
     * first, then names. */
    ly_assoc_itemset *itemsets;
    size_t n_itemsets;
    /* Rules by lift descending; ties by count descending, confidence descending, shorter
     * left-hand side first, then the left-hand names, then the right-hand name. */
    ly_assoc_rule *rules;
    size_t n_rules;            /* returned: min(n_rules_total, max_rules) */
    size_t n_rules_total;      /* rules that passed the thresholds */
    /* Combos by lift descending; ties by count descending, fewer items first, names. */
    ly_assoc_combo *combos;
    size_t n_combos;
    size_t n_combos_total;
    size_t memory;             /* peak bytes the mining held besides the builder */
} ly_assoc_result;

/* Mines the builder's baskets with the options (NULL: ly_assoc_opts_default). On LY_OK
 * *out is a new result the caller frees with ly_assoc_result_free; it holds item ids,
 * whose names the builder gives (ly_assoc_item_name). No baskets gives an empty result.
 * Errors (*out is then NULL):
 *  LY_EINVAL "invalid_option" field "min_support" | "min_confidence" | "min_len" |
 *            "max_len": a value out of range (not in [0, 1], min_len 0, max_len < min_len);
 *  LY_ETOOLARGE "too_many_itemsets" field "max_itemsets";
 *  LY_ENOMEM. */
ly_err ly_assoc_mine(const ly_assoc *a, const ly_assoc_opts *o, ly_assoc_result **out,
                     ly_error *err);

/* Frees a result (NULL is a no-op). */
void ly_assoc_result_free(ly_assoc_result *r);

#endif /* LY_ASSOC_H */
