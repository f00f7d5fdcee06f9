/*
 * sim.h - the retail simulator behind `loyal simulate` (docs/simulate.md): a synthetic
 * grocery retailer whose customers buy by known stochastic processes, so that the analytics
 * can be checked against the truth that made the data.
 *
 * What it plants:
 *  - deals by a BG/NBD process (purchase rate lambda ~ Gamma(r, alpha), dropout
 *    p ~ Beta(a, b), Poisson purchases while alive, death after each repeat deal with
 *    probability p);
 *  - the value of every deal by Gamma-Gamma (nu ~ Gamma(q, gamma), value ~ Gamma(p, nu)),
 *    realised as receipt lines from a catalogue with a price ladder per category;
 *  - named co-purchase combos, add-on purchases in the deal's category, anonymous receipts,
 *    full and partial returns, stores, cashiers, channels and payment types.
 *
 * Determinism: everything comes from the seed through this module's own generator
 * (xoshiro256**) and its own log/exp written with + - * / and sqrt only (IEEE 754 rounds
 * those exactly), so a seed gives the same receipts on every machine; nothing printed is a
 * libc-formatted floating-point number. Each customer draws from a stream of their own
 * (seed, customer number), so customer i's history does not depend on how many came before.
 *
 * Streaming: customers are made one at a time and their receipts handed out in time order;
 * memory holds one customer's history, never the whole data set.
 *
 * Floating point is used for the draws (these are models of people); every amount handed
 * out is an integer count of minor units.
 */
#ifndef LY_SIM_H
#define LY_SIM_H

#include "core/core.h"

#include <stdio.h>

/* ---------------------------------------------------------------------------------------
 * Random numbers (deterministic on every IEEE 754 machine)
 * ------------------------------------------------------------------------------------- */

/* xoshiro256** state. Seed it with ly_sim_rng_seed; a zeroed state is invalid. */
typedef struct ly_sim_rng {
    uint64_t s[4];
} ly_sim_rng;

/* Seeds the generator from (seed, stream) through splitmix64: different streams of one seed
 * are independent for all practical purposes. */
void ly_sim_rng_seed(ly_sim_rng *g, uint64_t seed, uint64_t stream);
/* The next 64 random bits. */
uint64_t ly_sim_rng_next(ly_sim_rng *g);
/* Uniform on the open interval (0, 1): never exactly 0 or 1. */
double ly_sim_uniform(ly_sim_rng *g);
/* Uniform integer in [0, n), n > 0 (Lemire's multiply-shift with rejection: unbiased). */
uint64_t ly_sim_below(ly_sim_rng *g, uint64_t n);
/* Standard normal (Marsaglia's polar method). */
double ly_sim_normal(ly_sim_rng *g);
/* Gamma with the given shape (> 0) and rate (> 0): mean shape / rate
 * (Marsaglia-Tsang; shape < 1 by the shape + 1 boost). */
double ly_sim_gamma(ly_sim_rng *g, double shape, double rate);
/* Beta(a, b), a, b > 0, as X / (X + Y) of two gammas. */
double ly_sim_beta(ly_sim_rng *g, double a, double b);
/* Exponential with the given rate (> 0). */
double ly_sim_exponential(ly_sim_rng *g, double rate);
/* Poisson with mean m (0 <= m <= 30, by inversion). */
int64_t ly_sim_poisson(ly_sim_rng *g, double m);

/* Natural logarithm (x > 0) and exponential, written with + - * / only, so they give the
 * same bits everywhere (libm's may differ in the last place between systems). Relative
 * error below 1e-15. ly_sim_log of x <= 0 gives -HUGE_VAL; ly_sim_exp underflows to 0 below
 * -745 and gives HUGE_VAL above 709. */
double ly_sim_log(double x);
double ly_sim_exp(double x);

/* ---------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------- */

/* Parameters are kept as exact decimals in millionths (0.75 is 750000), as the user wrote
 * them, so that the truth file repeats them digit for digit. */
typedef int64_t ly_sim_micro;
#define LY_SIM_MICRO INT64_C(1000000)

#define LY_SIM_MAX_COMBOS 8
#define LY_SIM_MAX_COMBO_SKUS 4
#define LY_SIM_MAX_PAYMENTS 6
#define LY_SIM_NAME_MAX 32

/* A planted co-purchase: with probability prob every basket (deals and anonymous receipts)
 * gets one of each of the skus. */
typedef struct ly_sim_combo {
    char name[LY_SIM_NAME_MAX];
    char skus[LY_SIM_MAX_COMBO_SKUS][LY_SIM_NAME_MAX];
    int n_skus; /* 2..LY_SIM_MAX_COMBO_SKUS */
    ly_sim_micro prob;
} ly_sim_combo;

typedef enum ly_sim_unit { LY_SIM_DAYS = 0, LY_SIM_WEEKS } ly_sim_unit;

typedef struct ly_sim_config {
    uint64_t seed;
    int64_t customers;       /* how many customers; 0: as many as `lines` needs */
    int64_t lines;           /* stop after the customer that brings the lines to this; 0: none */
    int64_t start_day;       /* first day, days since 1970-01-01 (local calendar) */
    int64_t end_day;         /* last day, included */
    int64_t enrol_end_day;   /* last day a first purchase can fall on, included */
    int utc_offset_min;      /* the local time's offset from UTC, written with every time */
    int minor_units;         /* decimals of the currency (0..4): prices are scaled to it */
    ly_sim_unit unit;        /* the unit lambda and alpha are expressed in */
    ly_sim_micro r, alpha, a, b;         /* BG/NBD */
    ly_sim_micro gg_p, gg_q, gg_gamma;   /* Gamma-Gamma; gamma in currency units */
    ly_sim_micro addon_share;  /* add-on purchases / identified purchases, < 0.5 */
    int addon_days;            /* add-on within this many days after the deal; 0: same day */
    ly_sim_micro anonymous_share; /* anonymous receipts / all sale receipts, < 0.9 */
    ly_sim_micro return_share;    /* probability a sale receipt is (partly) returned */
    ly_sim_micro return_full;     /* probability a return takes everything back */
    int return_days;              /* returns come 1..return_days days after the sale */
    ly_sim_micro card_share;      /* customers with a card */
    ly_sim_micro phone_share;     /* customers with a phone */
    int stores;                   /* 1..99 physical stores */
    int cashiers;                 /* cashiers per store, 1..99 */
    ly_sim_micro channel_w[3];    /* weights of store, online, app */
    char payments[LY_SIM_MAX_PAYMENTS][LY_SIM_NAME_MAX];
    ly_sim_micro payment_w[LY_SIM_MAX_PAYMENTS];
    int n_payments;
    ly_sim_combo combos[LY_SIM_MAX_COMBOS];
    int n_combos;
    int skus_per_category;        /* 1..48 */
    int max_lines;                /* most lines on one receipt, 10..1000 */
} ly_sim_config;

/* The defaults (docs/simulate.md lists them): seed 1, 1000 customers, 2024-01-01 ..
 * 2024-12-31, enrolment over the first half, +03:00, 2 minor units, days,
 * r 0.9 alpha 10 a 1.5 b 15, p 6 q 4 gamma 600, add-ons 0.3 within 3 days, anonymous 0.2,
 * returns 0.03 (half full) within 14 days, 3 combos. */
void ly_sim_config_default(ly_sim_config *c);

/* Checks every value's range and that the combos name SKUs of the catalogue. LY_EINVAL with
 * field set to the flag's name ("addon-share") otherwise. */
ly_err ly_sim_config_check(const ly_sim_config *c, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * The catalogue
 * ------------------------------------------------------------------------------------- */

typedef struct ly_sim_sku {
    char code[32];      /* "DAI-1-2": category, product type 1..6, brand tier 1..4, L: large */
    char name[64];      /* "Meadow Milk 1 l" */
    int category;       /* index into the categories */
    int type, tier;     /* product type 0..5, brand tier 0 (economy) .. 3 (premium) */
    bool large;
    bool weighed;       /* sold by the kg: qty has decimals, price is per kg */
    ly_money price;     /* minor units (per kg when weighed) */
    int ladder;         /* rank of the price within the category, 0 = cheapest */
} ly_sim_sku;

typedef struct ly_sim_category {
    const char *code;   /* "DAI" */
    const char *name;   /* "Dairy" */
    int weight;         /* popularity in baskets, relative */
    bool weighed;
    int first_sku, n_skus; /* its SKUs in the catalogue, consecutive */
} ly_sim_category;

typedef struct ly_sim_catalog {
    const ly_sim_category *categories;
    int n_categories;
    const ly_sim_sku *skus;
    int n_skus;
    const char *const *brands; /* n_categories x 4 brand names, row-major */
} ly_sim_catalog;

/* Builds the catalogue: 14 categories x skus_per_category SKUs (1..48: the first 24 are the
 * six product types in the four brand tiers, the next 24 their large packs), prices in
 * minor_units decimals with a little noise drawn from seed. Free it with
 * ly_sim_catalog_free. LY_EINVAL (field "skus-per-category"), LY_ENOMEM. */
ly_err ly_sim_catalog_build(ly_sim_catalog *out, int skus_per_category, int minor_units, uint64_t seed,
                            ly_error *err);
void ly_sim_catalog_free(ly_sim_catalog *cat);

/* ---------------------------------------------------------------------------------------
 * Receipts as the simulator hands them out
 * ------------------------------------------------------------------------------------- */

typedef enum ly_sim_kind {
    LY_SIM_FIRST = 0,  /* a customer's first deal: enrolment */
    LY_SIM_REPEAT,     /* a repeat deal of the BG/NBD process */
    LY_SIM_ADDON,      /* an add-on purchase serving the job of an earlier deal */
    LY_SIM_ANONYMOUS,  /* a sale with no customer */
    LY_SIM_RETURN      /* goods of an earlier receipt coming back */
} ly_sim_kind;

/* What the simulator knows about a customer (the truth, per person). */
typedef struct ly_sim_customer {
    int64_t index;            /* 0-based customer number */
    char external_id[24];     /* always present: "CRM00000042" */
    char card[24];            /* "" when the customer has none */
    char phone[24];           /* E.164, "" when none */
    double lambda;            /* deals per day while alive (the truth CSV gives it per time unit) */
    double p;                 /* dropout probability after each repeat deal */
    double nu;                /* Gamma-Gamma rate: mean deal value p/nu currency units */
    double width;             /* price position preference in [0, 1] */
    int home_store;           /* 0-based */
    ly_time enrolled_at;      /* the first deal's time */
    double t_enrol;           /* days since the start, continuous */
    double t_death;           /* days since the start when they dropped out; < 0: alive at the end */
    int64_t deals;            /* first + repeat deals made */
    int64_t addons;
    ly_money deal_value;      /* sum of the realised values of their deals */
} ly_sim_customer;

typedef struct ly_sim_line {
    const ly_sim_sku *sku;
    ly_qty qty;               /* thousandths */
    ly_money amount;          /* qty x price rounded half up (sales); money back (returns) */
} ly_sim_line;

typedef struct ly_sim_receipt {
    ly_sim_kind kind;
    char id[48];
    char return_of[40];       /* for a return: the receipt's id; else "" */
    ly_time time;             /* UTC */
    int store;                /* 0-based physical store; -1 for online and app */
    int channel;              /* 0 store, 1 online, 2 app */
    int cashier;              /* 1-based within the store; 0: none */
    int payment;              /* index into the config's payments */
    /* The customer columns written on this receipt (may be "" each); all "" for anonymous
     * receipts and returns. The first receipt carries all the customer's identifiers. */
    const char *external_id, *card, *phone;
    const ly_sim_customer *customer; /* the shopper; NULL for anonymous receipts */
    int job;                  /* the deal's category (job); for add-ons the deal's; -1 for returns */
    unsigned combos;          /* bit k: combo k was planted in this basket */
    bool full_return;         /* returns: everything of the receipt comes back */
    bool truncated;           /* the deal's value needed more than max_lines lines */
    ly_money target;          /* deals: the Gamma-Gamma draw in minor units; else 0 */
    ly_money total;           /* sum of the line amounts */
    const ly_sim_line *lines;
    int n_lines;
} ly_sim_receipt;

/* What was actually generated, counted exactly. */
typedef struct ly_sim_truth {
    int64_t customers, alive_at_end;
    int64_t receipts, sale_receipts, lines;
    int64_t first_deals, repeat_deals, addons, anonymous;
    int64_t returns, full_returns, return_lines;
    int64_t deals_truncated, addons_dropped, returns_dropped;
    int64_t combo_planted[LY_SIM_MAX_COMBOS];
    int64_t combo_baskets; /* baskets eligible for combos: deals + anonymous receipts */
    ly_money deal_target_total, deal_value_total, sales_total, returned_total;
    ly_sim_micro addon_follow; /* probability a deal gets an add-on: share / (1 - share) */
    ly_sim_micro anonymous_mean; /* anonymous receipts per identified sale: share / (1 - share) */
} ly_sim_truth;

/* Called for every receipt in output order; a non-zero return stops the run and is passed
 * back by ly_sim_run. The receipt and everything it points to are valid during the call. */
typedef int (*ly_sim_receipt_fn)(void *ctx, const ly_sim_receipt *r);
/* Called when a customer's history is complete (after their last receipt). */
typedef int (*ly_sim_customer_fn)(void *ctx, const ly_sim_customer *c);

typedef struct ly_sim ly_sim;

/* Checks cfg (ly_sim_config_check) and builds the catalogue. The config is copied.
 * *out is freed with ly_sim_close. LY_EINVAL for a bad config, LY_ENOMEM. */
ly_err ly_sim_open(const ly_sim_config *cfg, ly_sim **out, ly_error *err);
void ly_sim_close(ly_sim *s);

const ly_sim_catalog *ly_sim_catalog_get(const ly_sim *s);
const ly_sim_config *ly_sim_config_get(const ly_sim *s);

/* The SKU with that code, or NULL. */
const ly_sim_sku *ly_sim_sku_find(const ly_sim *s, const char *code);

/* Generates everything, calling on_receipt for each receipt and on_customer (may be NULL)
 * for each finished customer. Runs once per ly_sim. Returns 0, the first non-zero value a
 * callback returned, or -1 when out of memory (err filled). */
int ly_sim_run(ly_sim *s, ly_sim_receipt_fn on_receipt, ly_sim_customer_fn on_customer,
               void *ctx, ly_error *err);

/* The counts of the run so far. */
const ly_sim_truth *ly_sim_truth_get(const ly_sim *s);

/* Writes the truth as JSON (docs/simulate.md "The truth file"): the parameters, the exact
 * counts and shares, the combos and the catalogue. 0, or -1 if writing failed. */
int ly_sim_truth_write(const ly_sim *s, FILE *f);

/* ---------------------------------------------------------------------------------------
 * Output in Loyal's import layout (docs/import.md, layout `loyal`)
 * ------------------------------------------------------------------------------------- */

typedef struct ly_sim_csv ly_sim_csv;

/* A writer of the import CSV to f (not closed by ly_sim_csv_close); writes the header row
 * at once. NULL when out of memory. */
ly_sim_csv *ly_sim_csv_open(const ly_sim *s, FILE *f);
/* Writes one receipt as rows. 0, or -1 if the stream failed (errno says why). */
int ly_sim_csv_receipt(ly_sim_csv *w, const ly_sim_receipt *r);
/* Flushes; returns 0 or -1 if any write failed. Frees the writer. */
int ly_sim_csv_close(ly_sim_csv *w);
/* A ly_sim_receipt_fn that writes to the ly_sim_csv passed as ctx. */
int ly_sim_csv_fn(void *ctx, const ly_sim_receipt *r);

/* Writes one line of the per-customer truth CSV (docs/simulate.md), or its header when c is
 * NULL. 0, or -1 if writing failed. */
int ly_sim_customer_csv(FILE *f, const ly_sim *s, const ly_sim_customer *c);

/* Formats x as a fixed decimal with `decimals` digits (0..9), rounding half away from zero,
 * without libc's floating-point printing, into buf (>= 32 bytes). */
void ly_sim_fixed(double x, int decimals, char *buf, size_t size);

#endif /* LY_SIM_H */
