/*
 * models.h - the analytics that need the whole population at once, run after the one-pass
 * analysis (analytics.h): customer lifetime value (clv.h) fitted on every customer's deal
 * history, and co-purchases (assoc.h) mined from the baskets the pass collected.
 */
#ifndef LY_ANALYTICS_MODELS_H
#define LY_ANALYTICS_MODELS_H

#include "analytics/analytics.h"
#include "analytics/assoc.h"
#include "analytics/clv.h"

/* ---------------------------------------------------------------------------------------
 * Customer lifetime value
 * ------------------------------------------------------------------------------------- */

typedef struct ly_an_clv_options {
    ly_clv_kind kind;       /* the purchase model CLV uses (both are fitted) */
    bool fit_pnbd;          /* also fit Pareto/NBD (default false: about 20x BG/NBD) */
    int horizon_weeks;      /* CLV horizon (default 52) */
    double margin;          /* share of revenue that is profit (default 0.3) */
    double discount_rate;   /* per year (default 0.1), applied per week as (1+d)^(1/52)-1 */
} ly_an_clv_options;
void ly_an_clv_options_default(ly_an_clv_options *o);

#define LY_AN_CLV_BUCKETS 12

/* What the models say, population and per customer (arrays aligned with
 * result->customers; NaN for a customer outside the model: no deal). */
typedef struct ly_an_clv {
    bool fitted;            /* false: too little data (why in `why`) */
    char why[300];
    ly_bgnbd bgnbd;
    bool pnbd_fitted;
    ly_pnbd pnbd;
    bool gg_fitted;
    ly_gg gg;
    ly_an_clv_options opt;
    size_t n;               /* customers */
    double *p_alive;        /* P(alive) at the analysis date */
    double *purchases;      /* expected deals over the horizon */
    double *spend;          /* expected value of a deal, minor units */
    double *value;          /* CLV over the horizon, minor units */
    double total_value;     /* sum of value */
    double expected_purchases; /* sum of purchases */
    double hist_from[LY_AN_CLV_BUCKETS], hist_to[LY_AN_CLV_BUCKETS];
    int64_t hist[LY_AN_CLV_BUCKETS]; /* customers by CLV: bucket 0 is CLV < 1 minor unit,
                                      * then powers of ten... see docs/analytics.md */
} ly_an_clv;

/* Fits BG/NBD (and Pareto/NBD when asked) on every customer with a deal, time in weeks:
 * x = deals - 1, t_x = last deal - first purchase, T = analysis date - first purchase
 * (days / 7). Fits Gamma-Gamma on the repeat buyers with zbar = (revenue - first purchase's
 * total) / x, and values each customer (ly_clv_value). When the data cannot support a fit
 * (no repeat deal, no convergence) it returns LY_OK with fitted false and the reason: the
 * rest of the analysis stands. LY_ENOMEM. Free with ly_an_clv_free. */
ly_err ly_an_clv_fit(const ly_an_result *r, const ly_an_clv_options *opt, ly_an_clv *out,
                     ly_error *err);
void ly_an_clv_free(ly_an_clv *c);

/* ---------------------------------------------------------------------------------------
 * Co-purchases: baskets collected during the pass
 * ------------------------------------------------------------------------------------- */

typedef enum ly_an_item_level { LY_AN_ITEM_SKU = 0, LY_AN_ITEM_CATEGORY } ly_an_item_level;
bool ly_an_item_level_parse(const char *s, ly_an_item_level *out); /* "sku", "category" */

/* A collector to hang on ly_an_options.on_receipt: every sale (deal, add-on or anonymous;
 * not a return) becomes a basket of its SKUs or categories (lines without a category are
 * left out at the category level). */
typedef struct ly_an_baskets {
    ly_assoc *assoc;
    ly_an_item_level level;
    ly_err rc;              /* the first error while collecting */
    ly_error err;
    const char **items_;    /* private: one receipt's items */
    size_t *lens_, cap_;
} ly_an_baskets;

/* NULL-safe: false when out of memory. */
bool ly_an_baskets_init(ly_an_baskets *b, ly_an_item_level level);
void ly_an_baskets_free(ly_an_baskets *b);
/* The on_receipt hook (ctx is the ly_an_baskets). */
void ly_an_baskets_hook(void *ctx, const ly_an_receipt *r, ly_an_kind kind);

#endif /* LY_ANALYTICS_MODELS_H */
