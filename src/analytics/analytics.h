/*
 * analytics.h - the face of Loyal's analytics: who the customers are and what the program
 * is worth (METHOD.md sections 4-6).
 *
 * The analytics never see SQLite or HTTP. They read receipts from an ly_source (Loyal's
 * store, a CSV export, the simulator) once, in one pass, and keep state per customer and
 * per SKU, never per receipt. The models that need whole-population fits (CLV) or baskets
 * (co-purchases) have their own headers, included here:
 *   clv.h     BG/NBD, Pareto/NBD and Gamma-Gamma fitted by maximum likelihood
 *   assoc.h   association rules (frequent itemsets, support, confidence, lift)
 *
 * Floating point is used here: these are estimates about people, never amounts that move
 * money or points. Money read from a source stays in integer minor units.
 */
#ifndef LY_ANALYTICS_H
#define LY_ANALYTICS_H

#include "core/core.h"

/* ---------------------------------------------------------------------------------------
 * Receipts as the analytics see them
 * ------------------------------------------------------------------------------------- */

/* One line of an analysed receipt. Strings are borrowed from the source and valid only
 * until the source's next call; category and brand may be NULL (unknown). */
typedef struct ly_an_line {
    const char *sku;
    const char *category;
    const char *brand;
    ly_qty qty;       /* thousandths, > 0; for a return line, the quantity given back */
    ly_money price;   /* unit price in minor units */
    ly_money amount;  /* what the line cost (for a return: the money given back), >= 0 */
    ly_money cost;    /* cost of goods of the line in minor units, or -1 when unknown */
} ly_an_line;

/* One receipt or one return. customer is a stable key of the customer within the source
 * (Loyal's customer id, an export's customer column) or NULL for an anonymous receipt. */
typedef struct ly_an_receipt {
    const char *receipt_id;
    const char *customer;
    const char *store;    /* may be NULL */
    const char *channel;  /* "store", "online", "app", or NULL */
    const char *cashier;  /* may be NULL */
    const char *referrer; /* key of the customer who referred this one, or NULL */
    ly_time time;         /* the instant of the sale */
    int utc_offset_min;   /* local offset of the sale, for days and hours as the customer lived them */
    bool is_return;       /* true: the lines are goods given back */
    const char *return_of;/* for a return, the receipt id it returns, or NULL if not known */
    ly_money total;       /* sum of line amounts */
    const ly_an_line *lines;
    size_t n_lines;
} ly_an_receipt;

/* A stream of receipts. next fills *out and returns 1, returns 0 at the end, or returns -1
 * with err filled (the field names the source's line or column where that makes sense).
 * What *out points to stays valid until the next call. Within one customer, receipts come
 * in time order (Loyal's store and every supported layout guarantee it; a source that
 * cannot must say so by failing with "unsorted_input"). close frees the source. */
typedef struct ly_source {
    int (*next)(void *ctx, ly_an_receipt *out, ly_error *err);
    void (*close)(void *ctx);
    void *ctx;
    /* Progress for long runs: bytes read so far and in all (0 when unknown). */
    uint64_t (*progress)(void *ctx, uint64_t *total);
} ly_source;

#endif /* LY_ANALYTICS_H */
