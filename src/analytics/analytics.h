/*
 * analytics.h - the face of Loyal's analytics: who the customers are and what the program
 * is worth (METHOD.md sections 4-6).
 *
 * The analytics never see SQLite or HTTP. They read receipts from an ly_source (Loyal's
 * store, a CSV export, the simulator) once, in one pass, and keep state per customer and
 * per SKU, never per receipt. The models that need whole-population fits (CLV) or baskets
 * (co-purchases) have their own headers:
 *   clv.h     BG/NBD, Pareto/NBD and Gamma-Gamma fitted by maximum likelihood
 *   assoc.h   association rules (frequent itemsets, support, confidence, lift)
 *   models.h  both run on a finished analysis: CLV per customer, baskets from the pass
 *   tiers.h   suggested tiers from the customers' yearly spend
 *
 * Floating point is used here: these are estimates about people, never amounts that move
 * money or points. Money read from a source stays in integer minor units.
 */
#ifndef LY_ANALYTICS_H
#define LY_ANALYTICS_H

#include "core/core.h"

#include <stdio.h>

/* ---------------------------------------------------------------------------------------
 * Receipts as the analytics see them
 * ------------------------------------------------------------------------------------- */

/* One line of an analysed receipt. Strings are borrowed from the source and valid only
 * until the source's next call; category and brand may be NULL (unknown); sku is NULL when
 * the source knows only the receipt's total (CDNOW: one line holding the units and money). */
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
    long line;            /* where the receipt starts in the source (CSV line), 0 if none */
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
    /* Progress for long runs: how much was read so far and in all (0 when unknown), in the
     * source's unit: bytes for a file, rows for the store. May be NULL. */
    uint64_t (*progress)(void *ctx, uint64_t *total);
} ly_source;

/* ---------------------------------------------------------------------------------------
 * Sources of receipts (the store's adapter is in store/store.h: ly_store_source_open)
 * ------------------------------------------------------------------------------------- */

/* Named CSV layouts (docs/analytics.md, "Input layouts"). */
typedef enum ly_an_layout {
    LY_AN_LAYOUT_LOYAL = 0,      /* Loyal's import layout (docs/import.md), by column names */
    LY_AN_LAYOUT_ONLINE_RETAIL,  /* UCI Online Retail II: invoices starting with C are returns */
    LY_AN_LAYOUT_CDNOW,          /* customer date(YYYYMMDD) cds dollars, whitespace, 1 header line */
    LY_AN_LAYOUT_CDNOW_SAMPLE,   /* master_id sample_id date cds dollars, no header */
    LY_AN_LAYOUT_BASKETS         /* one anonymous basket a line: its items, no header */
} ly_an_layout;

/* Parses "loyal", "online_retail", "cdnow", "cdnow_sample", "baskets". */
bool ly_an_layout_parse(const char *s, ly_an_layout *out);

/* How to read a CSV file. */
typedef struct ly_an_csv_options {
    ly_an_layout layout;
    char delimiter;          /* ',' by default; ignored by the cdnow layouts (whitespace);
                              * for baskets it separates the items */
    int minor_units;         /* digits of the currency's minor unit: 2 (cents) by default */
    /* --map: pairs "field", "column" overriding the layout's column for a field (loyal and
     * online_retail layouts; the others ignore it). Fields: see docs/analytics.md. Borrowed. */
    const char *const *map;  /* 2 * n_map strings */
    size_t n_map;
} ly_an_csv_options;

/* Opens f (not closed by the source; the caller closes it after the source) as a receipt
 * source. name is used in error messages ("orders.csv"). size (0 if unknown) is the file's
 * size for progress. The header is read here: a missing required column is LY_EINVAL
 * "missing_column" (field = the column). Errors while reading come from next() with field
 * "line N" and codes "bad_value", "bad_csv", "duplicate_receipt". */
ly_err ly_an_csv_source_open(FILE *f, const char *name, uint64_t size,
                             const ly_an_csv_options *opt, ly_source *out, ly_error *err);

/* Wraps a source whose receipts are not in time order per customer: drains *inner now
 * (closing it), keeps a copy of every receipt in memory (memory grows with receipts: about
 * 48 bytes a receipt + 64 a line + the strings), and serves them ordered by customer, then
 * time, then original order. Anonymous receipts come first. LY_ENOMEM, or inner's error. */
ly_err ly_an_sorted_source(ly_source *inner, ly_source *out, ly_error *err);

/* A source over an array of receipts held by the caller (tests, the simulator). The array
 * and everything it points to must outlive the source. False when out of memory. */
bool ly_an_array_source(const ly_an_receipt *receipts, size_t n, ly_source *out);

/* ---------------------------------------------------------------------------------------
 * The analysis: options
 * ------------------------------------------------------------------------------------- */

typedef enum ly_an_period { LY_AN_WEEK = 0, LY_AN_MONTH, LY_AN_QUARTER } ly_an_period;
bool ly_an_period_parse(const char *s, ly_an_period *out); /* "week", "month", "quarter" */
const char *ly_an_period_name(ly_an_period p);

/* A category-to-job entry of --jobs (the job a category's items serve). */
typedef struct ly_an_job {
    const char *category;
    const char *job;
} ly_an_job;

/* What the pass tells a hook about each receipt it accepted. */
typedef enum ly_an_kind {
    LY_AN_DEAL = 0,        /* a purchase that serves a new job */
    LY_AN_ADDON_IMMEDIATE, /* an add-on on the day of the deal that served its jobs */
    LY_AN_ADDON_DEFERRED,  /* an add-on on a later day inside the window */
    LY_AN_ANONYMOUS,       /* a sale without a customer */
    LY_AN_RETURN           /* goods given back */
} ly_an_kind;

typedef struct ly_an_options {
    bool as_of_set;
    int64_t as_of_day;     /* days since 1970-01-01; receipts on that day or later are left out */
    int addon_days;        /* the add-on window in days (default 7); < 0: no add-ons */
    const ly_an_job *jobs; /* category-to-job map, borrowed; NULL: a category is its own job */
    size_t n_jobs;
    double sleep_level;    /* default 0.5 */
    double churn_level;    /* default 0.2 */
    double loyalty_level;  /* default 0.8 */
    int64_t loyalty_min_known; /* a deal number counts for the loyalty boundary only with at
                                * least this many customers whose outcome is known (20) */
    ly_an_period period;   /* default month */
    /* Called about every 64k receipts and at the end (may be NULL). */
    void (*progress)(void *ctx, uint64_t receipts, uint64_t customers, uint64_t done,
                     uint64_t total);
    void *progress_ctx;
    /* Called for every receipt the pass accepted, after classifying it (may be NULL): the
     * place where co-purchase mining (assoc.h) reads the baskets in the same pass. */
    void (*on_receipt)(void *ctx, const ly_an_receipt *r, ly_an_kind kind);
    void *hook_ctx;
} ly_an_options;

/* The defaults above. */
void ly_an_options_default(ly_an_options *o);

/* ---------------------------------------------------------------------------------------
 * The analysis: results (every figure is defined in docs/analytics.md)
 * ------------------------------------------------------------------------------------- */

#define LY_AN_NMAX 20          /* deal numbers 1..19 apart, 20 means 20 and more */
#define LY_AN_GAP_MAX 3660     /* gaps of this many days or more are counted as this */
#define LY_AN_DEPTH_MAX 50     /* depth histograms: 0..49 apart, 50 means 50 and more */
#define LY_AN_WIDTH_BUCKETS 10 /* width histogram: [0,0.1) .. [0.9,1] */
#define LY_AN_COHORT_MAX 120   /* months after the first purchase followed in cohorts */

typedef enum ly_an_segment {
    LY_SEG_CHAMPIONS = 0,
    LY_SEG_LOYAL,
    LY_SEG_POTENTIAL,
    LY_SEG_NEW,
    LY_SEG_PROMISING,
    LY_SEG_NEED_ATTENTION,
    LY_SEG_ABOUT_TO_SLEEP,
    LY_SEG_AT_RISK,
    LY_SEG_CANT_LOSE,
    LY_SEG_HIBERNATING,
    LY_SEG_LOST,
    LY_SEG_COUNT
} ly_an_segment;
const char *ly_an_segment_name(ly_an_segment s); /* "Champions", "Loyal Customers", ... */
/* The segment of quintile scores r, f, m (1..5), by the table in docs/analytics.md. */
ly_an_segment ly_an_segment_of(int r, int f, int m);

typedef enum ly_an_status { LY_ST_ACTIVE = 0, LY_ST_SLEEPING, LY_ST_CHURNED } ly_an_status;
const char *ly_an_status_name(ly_an_status s); /* "active", "sleeping", "churned" */

struct ly_an_result;
struct ly_an_customer;
/* Where a customer stands against the loyalty boundary: "reached" (deals >= boundary),
 * "below", or "unknown" when the data show no boundary. */
const char *ly_an_loyalty_name(const struct ly_an_result *r, const struct ly_an_customer *c);

/* One customer, as the pass leaves it (the fields after `private` belong to the engine). */
typedef struct ly_an_customer {
    const char *key;           /* the source's customer key (owned by the result) */
    int64_t first_day;         /* day of the first purchase (days since 1970-01-01) */
    int64_t last_deal_day;
    int64_t deals;             /* F */
    int64_t purchases;         /* receipts: deals + add-ons */
    int64_t addons_immediate, addons_deferred;
    int64_t returns;
    ly_money sales;            /* sum of purchase totals */
    ly_money first_total;      /* the first deal's value: its receipt and its add-ons (sales -
                                * first_total is what the repeat deals brought: the CLV spend
                                * model's input) */
    ly_money revenue;          /* sales - money given back: the customer's revenue */
    int64_t r_days;            /* R = as_of - last_deal_day (0 when no deal) */
    double m;                  /* M = revenue / deals (minor units) */
    uint8_t r3, f3, m3;        /* levels 1..3 (0: not in the RFM population: no deal) */
    uint8_t r5, f5, m5;        /* quintile scores 1..5 */
    uint8_t segment;           /* ly_an_segment */
    uint8_t status;            /* ly_an_status */
    bool referred;
    /* private */
    ly_time last_time_;
    int32_t last_period_, last_month_, cohort_;
    uint32_t n_jobs_, cap_jobs_;
    uint32_t *jobs_;           /* job id, then the day of the latest deal serving it */
} ly_an_customer;

typedef struct ly_an_cell {
    int64_t customers;
    ly_money revenue;
    double share;              /* of the RFM population's revenue */
} ly_an_cell;

typedef struct ly_an_level_range {
    double lo, hi;             /* smallest and largest value with this level */
    int64_t customers;
} ly_an_level_range;

typedef struct ly_an_rfm {
    int64_t customers;         /* with at least one deal */
    ly_money revenue;          /* their revenue */
    ly_an_cell cells[3][3][3]; /* [R-1][F-1][M-1] */
    double core_share;         /* R3F3M3's share of revenue */
    ly_an_level_range r_levels[3], f_levels[3], m_levels[3];
    ly_an_level_range r_scores[5], f_scores[5], m_scores[5];
    ly_an_cell segments[LY_SEG_COUNT];
    int64_t rf_grid[5][5];     /* customers by [R5-1][F5-1] */
} ly_an_rfm;

typedef struct ly_an_return_curve {
    size_t n;                  /* points d = 0 .. n-1 */
    int64_t *events;           /* gaps that ended (the next deal came) after exactly d days */
    int64_t *censored;         /* open gaps observed for d days without an end */
    int64_t *at_risk;
    double *survival;          /* S(d) = P(gap > d) (Kaplan-Meier) */
    double *p_return;          /* P(a deal comes | absent d days) = (S(d) - S_inf) / S(d) */
    int64_t gaps_closed, gaps_open;
    int64_t tail_day;          /* the longest gap that ended with >= 1% of gaps at risk; -1 if none */
    double s_inf;              /* S(tail_day): the share who never come back */
    double sleep_level, churn_level;
    int64_t sleep_day, churn_day; /* first d with p_return < level; -1 if never */
} ly_an_return_curve;

typedef struct ly_an_dealn {
    int64_t n;
    int64_t reached;           /* customers with at least n deals */
    int64_t converted;         /* of them with a deal n+1 (n=20: transitions from 20+) */
    int64_t lost;              /* stopped at n and absent for at least the horizon */
    int64_t open;              /* stopped at n but absent less than the horizon: not yet known */
    double conversion;         /* converted / (converted + lost); NaN when both are 0 */
    int64_t gaps;              /* gaps from deal n to n+1 */
    double gap_mean, gap_median; /* days; NaN when no gap */
    int64_t deal_count;        /* deals with number n */
    ly_money deal_revenue;     /* their receipts' totals */
    double avg_receipt;        /* deal_revenue / deal_count */
} ly_an_dealn;

typedef struct ly_an_cohort {
    int32_t month;             /* year * 12 + month - 1 of the first purchase */
    int64_t size;
    int64_t n_k;               /* months followed: k = 0 .. n_k-1 */
    int64_t *active;           /* customers of the cohort with a purchase in month k */
} ly_an_cohort;

/* Figures of one period, of one store, of one cashier or of one channel. */
typedef struct ly_an_stats {
    char label[24];            /* "2010-03", "2010-Q1", "2010-03-01" (week's Monday) */
    const char *name;          /* store / cashier / channel name; NULL for a period */
    int64_t key;               /* the period's number, for ordering */
    /* every receipt */
    int64_t receipts;          /* sales receipts */
    int64_t receipts_identified;
    int64_t returns;
    ly_money sales, sales_identified, returned, returned_identified;
    int64_t lines;
    int64_t units_milli;       /* sold quantity, thousandths */
    double width_sum;          /* sum over receipts with a known width of their width */
    int64_t width_receipts;
    int64_t depth_lines[LY_AN_DEPTH_MAX + 1];
    int64_t depth_units[LY_AN_DEPTH_MAX + 1];
    double width_hist[LY_AN_WIDTH_BUCKETS]; /* lines by the width of their SKU */
    /* identified customers */
    int64_t customers;         /* CL: distinct customers buying */
    int64_t new_customers, returning_customers, referred_customers;
    int64_t deals, purchases, addons_immediate, addons_deferred;
    ly_money revenue;          /* sales_identified - returned_identified */
    int64_t net_units_milli;   /* identified sold - returned quantity */
    ly_money margin, costed_revenue; /* over lines with a known cost */
    /* derived (finalize) */
    double qs, p, pu, d, p_check, identified_share, width_mean;
    /* against the previous period (NaN for the first, or when not defined) */
    double ratio_cl, ratio_qs, ratio_p, ratio_pu, ratio_d, ratio_revenue;
    double share_cl, share_qs, share_pu, share_d;
} ly_an_stats;

typedef struct ly_an_result {
    int64_t as_of_day;
    bool as_of_given;
    int addon_days;
    ly_an_period period_kind;
    /* the pass */
    int64_t receipts, returns, anonymous_receipts, skipped_after_as_of;
    int64_t lines;
    int64_t first_day, last_day;  /* of the receipts read; -1 when none */
    int64_t skus, categories, jobs;
    bool knows_referrals, knows_costs;
    /* add-ons */
    int64_t purchases, deals, addons_immediate, addons_deferred;
    ly_money sales_identified, addon_sales;
    /* customers */
    ly_an_customer *customers;
    size_t n_customers;
    ly_an_rfm rfm;
    ly_an_return_curve curve;
    ly_an_dealn dealn[LY_AN_NMAX];  /* n = 1 .. 20 */
    int64_t loyalty_boundary;       /* -1 when none */
    int64_t loyalty_horizon_days;
    double loyalty_level;
    int64_t loyalty_min_known;
    ly_an_cohort *cohorts;
    size_t n_cohorts;
    ly_an_stats *periods, *stores, *cashiers, *channels;
    size_t n_periods, n_stores, n_cashiers, n_channels;
    ly_an_stats total;              /* every period together (no ratios) */
    size_t memory_bytes;            /* peak memory the pass held (tables and customers) */
    void *arena_;                   /* private */
} ly_an_result;

/* Runs the whole analysis over src in one pass (src is not closed). *out is owned by the
 * caller (ly_an_result_free). Errors: the source's own (with its field), LY_EINVAL
 * "unsorted_input" when one customer's receipts go back in time (field "line N"),
 * LY_ENOMEM. */
ly_err ly_an_run(ly_source *src, const ly_an_options *opt, ly_an_result **out, ly_error *err);

void ly_an_result_free(ly_an_result *r);

#endif /* LY_ANALYTICS_H */
