/*
 * sim.c - the simulated retailer's customers and their receipts (docs/simulate.md "The
 * process"): one customer at a time, their events (deals by BG/NBD, add-ons, anonymous
 * receipts near their visits, returns) are laid out on a continuous clock in days, put in
 * time order, and turned into receipts with baskets whose value follows Gamma-Gamma.
 */
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Opening hours 08:00-22:00 and how busy each hour is: the fraction of a day on the model's
 * continuous clock is spread over them, monotonically, so the order of events is kept. */
#define OPEN_HOUR 8
#define N_HOURS 14
static const int hourWeight[N_HOURS] = {3, 5, 6, 6, 8, 9, 7, 6, 7, 9, 10, 9, 6, 3};

typedef struct event {
    int64_t sec;     /* UTC */
    int64_t seq;     /* creation order: breaks ties */
    double t;        /* days since the start */
    ly_sim_kind kind;
    int parent;      /* add-on: its deal; return: its receipt; else -1 (index at creation) */
    /* Filled when the receipt is made (events are made in time order, so a parent is
     * always made before its children). */
    int job, store, channel, cashier, payment;
    int first_line, n_lines;
    int number;      /* for the id */
} event;

struct orderKey;

struct ly_sim {
    ly_sim_config cfg;
    ly_sim_catalog cat;
    ly_sim_truth truth;
    bool ran;
    /* The parameters as doubles, rates per day, money in minor units. */
    double r, alpha_day, a, b, gp, gq, ggamma;
    double period_days, enrol_days, minor_scale;
    double addon_p, anon_mean, return_p, return_full_p, card_p, phone_p;
    double chan_cum[3], pay_cum[LY_SIM_MAX_PAYMENTS], combo_p[LY_SIM_MAX_COMBOS];
    int combo_sku[LY_SIM_MAX_COMBOS][LY_SIM_MAX_COMBO_SKUS];
    int fru; /* the produce category that finishes baskets */
    int n_cats;
    double cat_base[32];
    ly_time start_utc;
    /* One customer's work space, reused. */
    event *ev;
    size_t n_ev, cap_ev;
    struct orderKey *order; /* the events in time order */
    size_t cap_order;
    bool nomem;
    ly_sim_line *pool;
    size_t n_pool, cap_pool;
    ly_sim_line *ret;
    size_t cap_ret;
};

/* ---------------------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------------------- */

static ly_sim_micro micro(int64_t whole, int64_t millionths)
{
    return whole * LY_SIM_MICRO + millionths;
}

static void comboSet(ly_sim_combo *c, const char *name, const char *a, const char *b, ly_sim_micro prob)
{
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->skus[0], sizeof c->skus[0], "%s", a);
    snprintf(c->skus[1], sizeof c->skus[1], "%s", b);
    c->n_skus = 2;
    c->prob = prob;
}

void ly_sim_config_default(ly_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->seed = 1;
    c->customers = 1000;
    c->start_day = ly_days_from_civil(2024, 1, 1);
    c->end_day = ly_days_from_civil(2024, 12, 31);
    c->enrol_end_day = ly_days_from_civil(2024, 6, 30);
    c->utc_offset_min = 180;
    c->minor_units = 2;
    c->unit = LY_SIM_DAYS;
    c->r = micro(0, 900000);
    c->alpha = micro(10, 0);
    c->a = micro(1, 500000);
    c->b = micro(15, 0);
    c->gg_p = micro(6, 0);
    c->gg_q = micro(4, 0);
    c->gg_gamma = micro(600, 0);
    c->addon_share = micro(0, 300000);
    c->addon_days = 3;
    c->anonymous_share = micro(0, 200000);
    c->return_share = micro(0, 30000);
    c->return_full = micro(0, 500000);
    c->return_days = 14;
    c->card_share = micro(0, 850000);
    c->phone_share = micro(0, 600000);
    c->stores = 5;
    c->cashiers = 4;
    c->channel_w[0] = micro(0, 800000);
    c->channel_w[1] = micro(0, 120000);
    c->channel_w[2] = micro(0, 80000);
    static const char *const pays[] = {"card", "cash", "qr"};
    static const ly_sim_micro payw[] = {600000, 300000, 100000};
    for (int i = 0; i < 3; i++) {
        snprintf(c->payments[i], sizeof c->payments[i], "%s", pays[i]);
        c->payment_w[i] = payw[i];
    }
    c->n_payments = 3;
    comboSet(&c->combos[0], "coffee_pastry", "CAF-1-2", "BAK-4-2", micro(0, 80000));
    comboSet(&c->combos[1], "pasta_sauce", "PAS-1-1", "SAU-1-2", micro(0, 50000));
    comboSet(&c->combos[2], "beer_chips", "BEE-1-2", "SNA-1-2", micro(0, 40000));
    c->n_combos = 3;
    c->skus_per_category = 24;
    c->max_lines = 150;
}

static ly_err bad(ly_error *err, const char *flag, const char *msg)
{
    return ly_error_set(err, LY_EINVAL, "invalid_value", flag, "%s", msg);
}

static bool inRange(ly_sim_micro v, ly_sim_micro lo, ly_sim_micro hi)
{
    return v >= lo && v <= hi;
}

#define MAX_PARAM micro(1000000, 0)

ly_err ly_sim_config_check(const ly_sim_config *c, ly_error *err)
{
    if (c->customers < 0 || c->customers > 100000000) return bad(err, "customers", "must be 0..100000000");
    if (c->lines < 0) return bad(err, "lines", "must be >= 0");
    if (c->customers == 0 && c->lines == 0) return bad(err, "customers", "give --customers or --lines");
    if (c->start_day < ly_days_from_civil(1971, 1, 1) || c->end_day > ly_days_from_civil(2999, 12, 31))
        return bad(err, "start", "dates must be within 1971..2999");
    if (c->end_day < c->start_day) return bad(err, "end", "is before --start");
    if (c->enrol_end_day < c->start_day || c->enrol_end_day > c->end_day)
        return bad(err, "enrol-until", "must be within --start .. --end");
    if (c->utc_offset_min < -14 * 60 || c->utc_offset_min > 14 * 60)
        return bad(err, "utc-offset", "must be within -14:00 .. +14:00");
    if (c->minor_units < 0 || c->minor_units > 4) return bad(err, "minor-units", "must be 0..4");
    const struct {
        ly_sim_micro v;
        const char *flag;
    } pos[] = {{c->r, "r"}, {c->alpha, "alpha"}, {c->a, "a"}, {c->b, "b"},
               {c->gg_p, "p"}, {c->gg_q, "q"}, {c->gg_gamma, "gamma"}};
    for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
        if (!inRange(pos[i].v, 1, MAX_PARAM)) return bad(err, pos[i].flag, "must be > 0 and <= 1000000");
    if (c->gg_q <= LY_SIM_MICRO) return bad(err, "q", "must be > 1 (the mean spend p*gamma/(q-1) must exist)");
    if (!inRange(c->addon_share, 0, micro(0, 500000) - 1)) return bad(err, "addon-share", "must be 0 .. < 0.5");
    if (c->addon_days < 0 || c->addon_days > 365) return bad(err, "addon-days", "must be 0..365");
    if (!inRange(c->anonymous_share, 0, micro(0, 900000))) return bad(err, "anonymous-share", "must be 0..0.9");
    if (!inRange(c->return_share, 0, LY_SIM_MICRO)) return bad(err, "return-share", "must be 0..1");
    if (!inRange(c->return_full, 0, LY_SIM_MICRO)) return bad(err, "return-full", "must be 0..1");
    if (c->return_days < 1 || c->return_days > 365) return bad(err, "return-days", "must be 1..365");
    if (!inRange(c->card_share, 0, LY_SIM_MICRO)) return bad(err, "card-share", "must be 0..1");
    if (!inRange(c->phone_share, 0, LY_SIM_MICRO)) return bad(err, "phone-share", "must be 0..1");
    if (c->stores < 1 || c->stores > 99) return bad(err, "stores", "must be 1..99");
    if (c->cashiers < 1 || c->cashiers > 99) return bad(err, "cashiers", "must be 1..99");
    for (int i = 0; i < 3; i++)
        if (!inRange(c->channel_w[i], 0, MAX_PARAM)) return bad(err, "channels", "weights must be 0..1000000");
    if (c->channel_w[0] + c->channel_w[1] + c->channel_w[2] == 0) return bad(err, "channels", "all weights are 0");
    if (c->n_payments < 1 || c->n_payments > LY_SIM_MAX_PAYMENTS)
        return bad(err, "payments", "name 1..6 payment types");
    ly_sim_micro pw = 0;
    for (int i = 0; i < c->n_payments; i++) {
        if (!inRange(c->payment_w[i], 0, MAX_PARAM)) return bad(err, "payments", "weights must be 0..1000000");
        if (!c->payments[i][0]) return bad(err, "payments", "a payment type has no name");
        pw += c->payment_w[i];
    }
    if (pw == 0) return bad(err, "payments", "all weights are 0");
    if (c->skus_per_category < 1 || c->skus_per_category > 48)
        return bad(err, "skus-per-category", "must be 1..48");
    if (c->max_lines < 10 || c->max_lines > 960) return bad(err, "max-lines", "must be 10..960");
    if (c->n_combos < 0 || c->n_combos > LY_SIM_MAX_COMBOS) return bad(err, "combo", "at most 8 combos");
    /* The combos' SKUs must exist: the codes depend only on skus-per-category. */
    ly_sim_catalog cat;
    ly_err rc = ly_sim_catalog_build(&cat, c->skus_per_category, c->minor_units, 0, err);
    if (rc != LY_OK) return rc;
    for (int k = 0; k < c->n_combos && rc == LY_OK; k++) {
        const ly_sim_combo *cb = &c->combos[k];
        if (!cb->name[0]) rc = bad(err, "combo", "a combo has no name");
        else if (cb->n_skus < 2 || cb->n_skus > LY_SIM_MAX_COMBO_SKUS)
            rc = ly_error_set(err, LY_EINVAL, "invalid_value", "combo", "combo %s: name 2..4 SKUs", cb->name);
        else if (!inRange(cb->prob, 0, LY_SIM_MICRO))
            rc = ly_error_set(err, LY_EINVAL, "invalid_value", "combo", "combo %s: probability must be 0..1",
                              cb->name);
        for (int j = 0; rc == LY_OK && j < cb->n_skus; j++) {
            bool found = false;
            for (int i = 0; i < cat.n_skus && !found; i++) found = strcmp(cat.skus[i].code, cb->skus[j]) == 0;
            for (int i = 0; i < j && found; i++)
                if (strcmp(cb->skus[i], cb->skus[j]) == 0)
                    rc = ly_error_set(err, LY_EINVAL, "invalid_value", "combo", "combo %s names %s twice",
                                      cb->name, cb->skus[j]);
            if (!found)
                rc = ly_error_set(err, LY_EINVAL, "invalid_value", "combo",
                                  "combo %s: no SKU %s in the catalogue (codes are CAT-TYPE-TIER, "
                                  "e.g. CAF-1-2; see the truth file)", cb->name, cb->skus[j]);
        }
    }
    ly_sim_catalog_free(&cat);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Opening
 * ------------------------------------------------------------------------------------- */

static double asDouble(ly_sim_micro v)
{
    return (double)v / (double)LY_SIM_MICRO;
}

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

ly_err ly_sim_open(const ly_sim_config *cfg, ly_sim **out, ly_error *err)
{
    *out = NULL;
    ly_err rc = ly_sim_config_check(cfg, err);
    if (rc != LY_OK) return rc;
    ly_sim *s = calloc(1, sizeof *s);
    if (!s) return oom(err);
    s->cfg = *cfg;
    if ((rc = ly_sim_catalog_build(&s->cat, cfg->skus_per_category, cfg->minor_units, cfg->seed, err)) != LY_OK) {
        free(s);
        return rc;
    }
    double unit_days = cfg->unit == LY_SIM_WEEKS ? 7 : 1;
    s->r = asDouble(cfg->r);
    s->alpha_day = asDouble(cfg->alpha) * unit_days; /* lambda per day = lambda per unit / unit_days */
    s->a = asDouble(cfg->a);
    s->b = asDouble(cfg->b);
    s->minor_scale = 1;
    for (int i = 0; i < cfg->minor_units; i++) s->minor_scale *= 10;
    s->gp = asDouble(cfg->gg_p);
    s->gq = asDouble(cfg->gg_q);
    s->ggamma = asDouble(cfg->gg_gamma) * s->minor_scale; /* values in minor units */
    s->period_days = (double)(cfg->end_day - cfg->start_day + 1);
    s->enrol_days = (double)(cfg->enrol_end_day - cfg->start_day + 1);
    /* share = follow / (1 + follow) for add-ons and anonymous receipts alike. */
    s->truth.addon_follow = cfg->addon_share * LY_SIM_MICRO / (LY_SIM_MICRO - cfg->addon_share);
    s->truth.anonymous_mean = cfg->anonymous_share * LY_SIM_MICRO / (LY_SIM_MICRO - cfg->anonymous_share);
    s->addon_p = asDouble(s->truth.addon_follow);
    s->anon_mean = asDouble(s->truth.anonymous_mean);
    s->return_p = asDouble(cfg->return_share);
    s->return_full_p = asDouble(cfg->return_full);
    s->card_p = asDouble(cfg->card_share);
    s->phone_p = asDouble(cfg->phone_share);
    double sum = 0;
    for (int i = 0; i < 3; i++) sum += asDouble(cfg->channel_w[i]);
    double acc = 0;
    for (int i = 0; i < 3; i++) s->chan_cum[i] = (acc += asDouble(cfg->channel_w[i])) / sum;
    sum = acc = 0;
    for (int i = 0; i < cfg->n_payments; i++) sum += asDouble(cfg->payment_w[i]);
    for (int i = 0; i < cfg->n_payments; i++) s->pay_cum[i] = (acc += asDouble(cfg->payment_w[i])) / sum;
    for (int k = 0; k < cfg->n_combos; k++) {
        s->combo_p[k] = asDouble(cfg->combos[k].prob);
        for (int j = 0; j < cfg->combos[k].n_skus; j++)
            s->combo_sku[k][j] = (int)(ly_sim_sku_find(s, cfg->combos[k].skus[j]) - s->cat.skus);
    }
    s->n_cats = s->cat.n_categories;
    for (int c = 0; c < s->n_cats; c++) {
        s->cat_base[c] = s->cat.categories[c].weight;
        if (strcmp(s->cat.categories[c].code, "FRU") == 0) s->fru = c;
    }
    s->start_utc = cfg->start_day * 86400 - (ly_time)cfg->utc_offset_min * 60;
    *out = s;
    return LY_OK;
}

void ly_sim_close(ly_sim *s)
{
    if (!s) return;
    ly_sim_catalog_free(&s->cat);
    free(s->ev);
    free(s->order);
    free(s->pool);
    free(s->ret);
    free(s);
}

const ly_sim_catalog *ly_sim_catalog_get(const ly_sim *s)
{
    return &s->cat;
}

const ly_sim_config *ly_sim_config_get(const ly_sim *s)
{
    return &s->cfg;
}

const ly_sim_truth *ly_sim_truth_get(const ly_sim *s)
{
    return &s->truth;
}

const ly_sim_sku *ly_sim_sku_find(const ly_sim *s, const char *code)
{
    for (int i = 0; i < s->cat.n_skus; i++)
        if (strcmp(s->cat.skus[i].code, code) == 0) return &s->cat.skus[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Events of one customer
 * ------------------------------------------------------------------------------------- */

/* A moment on the continuous clock (days since the start) as a UTC instant. */
static ly_time instant(const ly_sim *s, double t)
{
    double day = floor(t);
    double frac = t - day;
    int total = 0;
    for (int h = 0; h < N_HOURS; h++) total += hourWeight[h];
    double target = frac * total;
    int h = 0, cum = 0;
    while (h < N_HOURS - 1 && cum + hourWeight[h] <= target) cum += hourWeight[h++];
    double within = (target - cum) / hourWeight[h];
    if (within >= 1) within = 0.999999;
    ly_time tod = (ly_time)(OPEN_HOUR + h) * 3600 + (ly_time)(within * 3600);
    return s->start_utc + (ly_time)day * 86400 + tod;
}

static event *eventAdd(ly_sim *s, double t, ly_sim_kind kind, int parent)
{
    if (s->n_ev == s->cap_ev) {
        size_t cap = s->cap_ev ? s->cap_ev * 2 : 256;
        event *e = realloc(s->ev, cap * sizeof *e);
        if (!e) return NULL;
        s->ev = e;
        s->cap_ev = cap;
    }
    event *e = &s->ev[s->n_ev];
    memset(e, 0, sizeof *e);
    e->t = t;
    e->sec = instant(s, t);
    e->seq = (int64_t)s->n_ev;
    e->kind = kind;
    e->parent = parent;
    e->job = -1;
    s->n_ev++;
    return e;
}

/* The sort key of an event: its instant, then its creation order. */
typedef struct orderKey {
    int64_t sec, seq;
} orderKey;

static int byTime(const void *x, const void *y)
{
    const orderKey *a = x, *b = y;
    if (a->sec != b->sec) return a->sec < b->sec ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* ---------------------------------------------------------------------------------------
 * Baskets
 * ------------------------------------------------------------------------------------- */

typedef struct shopper {
    double width;
    const double *weights; /* per category */
    double weight_sum;
} shopper;

static int pickCategory(ly_sim_rng *g, const ly_sim *s, const shopper *sh)
{
    double u = ly_sim_uniform(g) * sh->weight_sum, acc = 0;
    for (int c = 0; c < s->n_cats; c++)
        if (u < (acc += sh->weights[c])) return c;
    return s->n_cats - 1;
}

/* A SKU of category c: a product type at random, the brand tier near the shopper's width,
 * a large pack now and then. */
static int pickSku(ly_sim_rng *g, const ly_sim *s, const shopper *sh, int c)
{
    const ly_sim_category *cat = &s->cat.categories[c];
    int n = cat->n_skus;
    if (n <= 6) return cat->first_sku + (int)ly_sim_below(g, (uint64_t)n);
    int types = 6;
    int tiers = n >= 24 ? 4 : (n + 5) / 6;
    int type = (int)ly_sim_below(g, (uint64_t)types);
    double pos = sh->width * tiers + (ly_sim_uniform(g) + ly_sim_uniform(g) - 1) * 0.9;
    int tier = pos < 0 ? 0 : pos >= tiers ? tiers - 1 : (int)pos;
    int j = tier * types + type;
    if (n > 24 && ly_sim_uniform(g) < 0.2 && j + 24 < n) j += 24;
    if (j >= n) j = type < n ? type : 0;
    return cat->first_sku + j;
}

static ly_money lineAmount(const ly_sim_sku *k, ly_qty qty)
{
    int64_t v = 0;
    ly_muldiv(qty, k->price, 1000, LY_ROUND_HALF_UP, &v);
    return v;
}

static ly_qty pickQty(ly_sim_rng *g, const ly_sim_sku *k)
{
    if (k->weighed) return 300 + (ly_qty)ly_sim_below(g, 1201); /* 0.300 .. 1.500 kg */
    double u = ly_sim_uniform(g);
    return u < 0.78 ? 1000 : u < 0.95 ? 2000 : 3000;
}

/* The basket being built: lines in the pool from `first`. */
typedef struct basket {
    int first, n;
    ly_money total;
} basket;

static ly_err poolReserve(ly_sim *s, size_t more)
{
    if (s->n_pool + more <= s->cap_pool) return LY_OK;
    size_t cap = s->cap_pool ? s->cap_pool : 1024;
    while (cap < s->n_pool + more) cap *= 2;
    ly_sim_line *p = realloc(s->pool, cap * sizeof *p);
    if (!p) return LY_ENOMEM;
    s->pool = p;
    s->cap_pool = cap;
    return LY_OK;
}

/* Adds qty of sku (merging with a line of the same SKU: a receipt names each SKU once). */
static void basketAdd(ly_sim *s, basket *b, int sku, ly_qty qty)
{
    const ly_sim_sku *k = &s->cat.skus[sku];
    for (int i = 0; i < b->n; i++) {
        ly_sim_line *l = &s->pool[b->first + i];
        if (l->sku == k) {
            b->total -= l->amount;
            l->qty += qty;
            l->amount = lineAmount(k, l->qty);
            b->total += l->amount;
            return;
        }
    }
    ly_sim_line *l = &s->pool[b->first + b->n++];
    l->sku = k;
    l->qty = qty;
    l->amount = lineAmount(k, qty);
    b->total += l->amount;
    s->n_pool++;
}

static ly_sim_line *basketFind(ly_sim *s, basket *b, const ly_sim_sku *k)
{
    for (int i = 0; i < b->n; i++)
        if (s->pool[b->first + i].sku == k) return &s->pool[b->first + i];
    return NULL;
}

/* Fills a deal's basket up to target: the planted combos, one item of the job's category,
 * then items of the shopper's categories while they fit, and, once a pick does not fit and
 * at most 3 kg of produce would close the gap, a weighed produce line that brings the total
 * to the target (to within 50 g). */
static ly_err fillDeal(ly_sim *s, ly_sim_rng *g, const shopper *sh, int job, ly_money target,
                       basket *b, unsigned *combos, bool *truncated)
{
    int max = s->cfg.max_lines;
    if (poolReserve(s, (size_t)max + LY_SIM_MAX_COMBOS * LY_SIM_MAX_COMBO_SKUS + 1) != LY_OK) return LY_ENOMEM;
    b->first = (int)s->n_pool;
    b->n = 0;
    b->total = 0;
    *combos = 0;
    *truncated = false;
    for (int k = 0; k < s->cfg.n_combos; k++) {
        if (!(ly_sim_uniform(g) < s->combo_p[k])) continue;
        *combos |= 1u << k;
        for (int j = 0; j < s->cfg.combos[k].n_skus; j++) basketAdd(s, b, s->combo_sku[k][j], 1000);
    }
    /* The job's item is always there. Up to 8 tries for one that fits what is left of the
     * target (fewer pieces, a weighed one cut to fit); else the cheapest tried, one piece. */
    ly_money room = target - b->total > 0 ? target - b->total : 0;
    int sku = -1, cheapest = -1;
    ly_qty jq = 0;
    for (int tries = 0; tries < 8 && sku < 0; tries++) {
        int cand = pickSku(g, s, sh, job);
        const ly_sim_sku *k = &s->cat.skus[cand];
        ly_qty q = pickQty(g, k);
        if (k->weighed) {
            int64_t fit = 0;
            ly_muldiv(room, 1000, k->price, LY_ROUND_DOWN, &fit);
            if (fit >= 50) {
                sku = cand;
                jq = q < fit ? q : fit;
            }
        } else {
            while (q > 1000 && lineAmount(k, q) > room) q -= 1000;
            if (lineAmount(k, q) <= room) {
                sku = cand;
                jq = q;
            }
        }
        if (sku < 0 && (cheapest < 0 || k->price < s->cat.skus[cheapest].price)) cheapest = cand;
    }
    if (sku < 0) {
        sku = cheapest;
        jq = s->cat.skus[sku].weighed ? 50 : 1000;
    }
    basketAdd(s, b, sku, jq);
    /* Picks are bounded too: with few SKUs they mostly add to lines already there. */
    for (int picks = 0;; picks++) {
        ly_money left = target - b->total;
        if (left <= 0) break;
        if (b->n >= max || picks >= 4 * max) {
            *truncated = true;
            break;
        }
        int c = pickCategory(g, s, sh);
        sku = pickSku(g, s, sh, c);
        const ly_sim_sku *k = &s->cat.skus[sku];
        ly_qty q = pickQty(g, k);
        if (lineAmount(k, q) <= left) {
            basketAdd(s, b, sku, q);
            continue;
        }
        /* The last line: produce by weight, to the target. */
        k = &s->cat.skus[pickSku(g, s, sh, s->fru)];
        ly_sim_line *l = basketFind(s, b, k);
        ly_money have = l ? l->amount : 0;
        int64_t want = 0;
        ly_muldiv(have + left, 1000, k->price, LY_ROUND_HALF_UP, &want);
        ly_qty more = want - (l ? l->qty : 0);
        if (more > 3000) continue; /* still far from the target: another pick may fit */
        if (more >= 50 && (l || b->n < max)) basketAdd(s, b, (int)(k - s->cat.skus), more);
        break;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Running
 * ------------------------------------------------------------------------------------- */

static void customerIds(ly_sim_customer *c, bool card, bool phone)
{
    uint64_t i = (uint64_t)c->index;
    snprintf(c->external_id, sizeof c->external_id, "CRM%08llu", (unsigned long long)(i + 1));
    c->card[0] = c->phone[0] = '\0';
    /* Bijections of the index (multipliers coprime to 10): unique, scattered numbers. */
    if (card)
        snprintf(c->card, sizeof c->card, "2%012llu",
                 (unsigned long long)((i * 387420489ULL + 123456789ULL) % 1000000000000ULL));
    if (phone)
        snprintf(c->phone, sizeof c->phone, "+79%09llu",
                 (unsigned long long)((i * 1594323ULL + 98765432ULL) % 1000000000ULL));
}

static int pickCum(ly_sim_rng *g, const double *cum, int n)
{
    double u = ly_sim_uniform(g);
    for (int i = 0; i < n - 1; i++)
        if (u < cum[i]) return i;
    return n - 1;
}

static int nomem(ly_sim *s)
{
    s->nomem = true;
    return -1;
}

typedef struct runCtx {
    ly_sim_receipt_fn on_receipt;
    ly_sim_customer_fn on_customer;
    void *ctx;
} runCtx;

/* Where, how and who for a sale. */
static void placeSale(ly_sim *s, ly_sim_rng *g, event *e, const ly_sim_customer *c)
{
    e->channel = e->kind == LY_SIM_ANONYMOUS ? 0 : pickCum(g, s->chan_cum, 3);
    if (e->channel == 0) {
        if (c && e->kind != LY_SIM_ANONYMOUS && ly_sim_uniform(g) < 0.8) e->store = c->home_store;
        else e->store = (int)ly_sim_below(g, (uint64_t)s->cfg.stores);
        e->cashier = 1 + (int)ly_sim_below(g, (uint64_t)s->cfg.cashiers);
    } else {
        e->store = -1;
        e->cashier = 0;
    }
    e->payment = pickCum(g, s->pay_cum, s->cfg.n_payments);
    /* Nobody pays cash online: the first payment type instead. */
    if (e->channel != 0 && strcmp(s->cfg.payments[e->payment], "cash") == 0) e->payment = 0;
}

static int emitReceipt(ly_sim *s, runCtx *rc, const event *e, ly_sim_receipt *r)
{
    ly_sim_truth *t = &s->truth;
    t->receipts++;
    t->lines += r->n_lines;
    r->time = e->sec;
    r->store = e->store;
    r->channel = e->channel;
    r->cashier = e->cashier;
    r->payment = e->payment;
    return rc->on_receipt(rc->ctx, r);
}

static int runCustomer(ly_sim *s, runCtx *rc, int64_t index)
{
    ly_sim_rng g;
    ly_sim_rng_seed(&g, s->cfg.seed, (uint64_t)index + 1);
    ly_sim_customer c;
    memset(&c, 0, sizeof c);
    c.index = index;
    c.lambda = ly_sim_gamma(&g, s->r, s->alpha_day); /* per day */
    c.p = ly_sim_beta(&g, s->a, s->b);
    c.nu = ly_sim_gamma(&g, s->gq, s->ggamma);        /* per minor unit */
    if (c.nu < 1e-12) c.nu = 1e-12;
    c.width = ly_sim_beta(&g, 2, 2);
    c.home_store = (int)ly_sim_below(&g, (uint64_t)s->cfg.stores);
    bool card = ly_sim_uniform(&g) < s->card_p, phone = ly_sim_uniform(&g) < s->phone_p;
    if (!card && !phone) card = true;
    customerIds(&c, card, phone);
    double weights[32], wsum = 0;
    for (int k = 0; k < s->n_cats; k++) wsum += weights[k] = s->cat_base[k] * ly_sim_gamma(&g, 2, 1);
    shopper me = {.width = c.width, .weights = weights, .weight_sum = wsum};

    /* The deals: BG/NBD. The first purchase enrols; repeat deals arrive at rate lambda while
     * alive; after each repeat deal the customer drops out with probability p. */
    s->n_ev = 0;
    s->n_pool = 0;
    c.t_enrol = ly_sim_uniform(&g) * s->enrol_days;
    c.t_death = -1;
    if (!eventAdd(s, c.t_enrol, LY_SIM_FIRST, -1)) return nomem(s);
    double t = c.t_enrol;
    for (;;) {
        if (!(c.lambda > 1e-12)) break;
        t += ly_sim_exponential(&g, c.lambda);
        if (!(t < s->period_days)) break;
        if (!eventAdd(s, t, LY_SIM_REPEAT, -1)) return nomem(s);
        if (ly_sim_uniform(&g) < c.p) {
            c.t_death = t;
            break;
        }
    }
    size_t n_deals = s->n_ev;
    /* Add-ons: the deal's job again, later that day or within addon_days. */
    for (size_t i = 0; i < n_deals; i++) {
        if (!(ly_sim_uniform(&g) < s->addon_p)) continue;
        double td = s->ev[i].t, ta;
        if (s->cfg.addon_days == 0) ta = td + ly_sim_uniform(&g) * (floor(td) + 1 - td);
        else ta = td + ly_sim_uniform(&g) * s->cfg.addon_days;
        if (!(ta < s->period_days)) {
            s->truth.addons_dropped++;
            continue;
        }
        event *e = eventAdd(s, ta, LY_SIM_ADDON, (int)i);
        if (!e) return nomem(s);
        if (e->sec <= s->ev[i].sec) e->sec = s->ev[i].sec + 60;
    }
    /* Anonymous shoppers in the store the same day. */
    size_t n_ident = s->n_ev;
    for (size_t i = 0; i < n_ident; i++) {
        int64_t k = ly_sim_poisson(&g, s->anon_mean);
        double day = floor(s->ev[i].t);
        for (int64_t j = 0; j < k; j++)
            if (!eventAdd(s, day + ly_sim_uniform(&g), LY_SIM_ANONYMOUS, -1)) return nomem(s);
    }
    /* Returns of any sale, 1..return_days days later. */
    size_t n_sales = s->n_ev;
    for (size_t i = 0; i < n_sales; i++) {
        if (!(ly_sim_uniform(&g) < s->return_p)) continue;
        double tr = floor(s->ev[i].t) + 1 + (double)ly_sim_below(&g, (uint64_t)s->cfg.return_days) +
                    ly_sim_uniform(&g);
        if (!(tr < s->period_days)) {
            s->truth.returns_dropped++;
            continue;
        }
        if (!eventAdd(s, tr, LY_SIM_RETURN, (int)i)) return nomem(s);
    }

    if (s->cap_order < s->n_ev) {
        orderKey *o = realloc(s->order, s->n_ev * sizeof *o);
        if (!o) return nomem(s);
        s->order = o;
        s->cap_order = s->n_ev;
    }
    for (size_t i = 0; i < s->n_ev; i++) s->order[i] = (orderKey){s->ev[i].sec, s->ev[i].seq};
    qsort(s->order, s->n_ev, sizeof *s->order, byTime);

    /* The receipts, in time order. */
    s->truth.customers++;
    int n_sale = 0, n_anon = 0;
    char cust_no[24];
    snprintf(cust_no, sizeof cust_no, "%07lld", (long long)(index + 1));
    bool first_done = false;
    for (size_t oi = 0; oi < s->n_ev; oi++) {
        event *e = &s->ev[s->order[oi].seq];
        ly_sim_receipt r;
        memset(&r, 0, sizeof r);
        r.kind = e->kind;
        r.external_id = r.card = r.phone = "";
        r.job = -1;
        if (e->kind == LY_SIM_RETURN) {
            const event *p = &s->ev[e->parent];
            e->store = p->store;
            e->channel = p->channel;
            e->payment = p->payment;
            e->cashier = p->channel == 0 ? 1 + (int)ly_sim_below(&g, (uint64_t)s->cfg.cashiers) : 0;
            if (s->cap_ret < (size_t)p->n_lines) {
                ly_sim_line *x = realloc(s->ret, (size_t)p->n_lines * sizeof *x);
                if (!x) return nomem(s);
                s->ret = x;
                s->cap_ret = (size_t)p->n_lines;
            }
            const ly_sim_line *pl = &s->pool[p->first_line];
            bool full = ly_sim_uniform(&g) < s->return_full_p;
            int n = 0;
            if (full) {
                for (int i = 0; i < p->n_lines; i++) s->ret[n++] = pl[i];
            } else {
                int i = (int)ly_sim_below(&g, (uint64_t)p->n_lines);
                ly_qty q = pl[i].qty;
                if (!pl[i].sku->weighed && q >= 2000) q = 1000 * (1 + (ly_qty)ly_sim_below(&g, (uint64_t)(q / 1000 - 1)));
                s->ret[n] = pl[i];
                s->ret[n].qty = q;
                s->ret[n++].amount = ly_share(pl[i].amount, q, pl[i].qty);
                full = p->n_lines == 1 && q == pl[i].qty;
            }
            ly_money back = 0;
            for (int i = 0; i < n; i++) back += s->ret[i].amount;
            r.full_return = full;
            r.total = back;
            r.lines = s->ret;
            r.n_lines = n;
            r.customer = p->kind == LY_SIM_ANONYMOUS ? NULL : &c;
            /* The import takes a return's customer from its receipt; the row names them too,
             * so that an analysis reading the CSV directly credits the return to them. */
            if (r.customer) r.external_id = c.external_id;
            snprintf(r.return_of, sizeof r.return_of, "%c%s-%04d", p->kind == LY_SIM_ANONYMOUS ? 'A' : 'R',
                     cust_no, p->number);
            snprintf(r.id, sizeof r.id, "%s-R", r.return_of);
            s->truth.returns++;
            s->truth.full_returns += full;
            s->truth.return_lines += n;
            s->truth.returned_total += back;
        } else {
            bool anon = e->kind == LY_SIM_ANONYMOUS;
            placeSale(s, &g, e, anon ? NULL : &c);
            e->number = anon ? ++n_anon : ++n_sale;
            snprintf(r.id, sizeof r.id, "%c%s-%04d", anon ? 'A' : 'R', cust_no, e->number);
            basket b;
            if (e->kind == LY_SIM_ADDON) {
                const event *d = &s->ev[e->parent];
                e->job = d->job;
                if (poolReserve(s, 1) != LY_OK) return nomem(s);
                b = (basket){.first = (int)s->n_pool};
                int sku = pickSku(&g, s, &me, e->job);
                const ly_sim_sku *k = &s->cat.skus[sku];
                basketAdd(s, &b, sku, k->weighed ? 200 + (ly_qty)ly_sim_below(&g, 601) : 1000);
                s->truth.addons++;
                c.addons++;
            } else {
                double wa[32];
                shopper other = {0};
                double nu = c.nu;
                if (anon) {
                    /* Someone else: their own spend rate, width and tastes. */
                    nu = ly_sim_gamma(&g, s->gq, s->ggamma);
                    if (nu < 1e-12) nu = 1e-12;
                    other.width = ly_sim_uniform(&g);
                    other.weight_sum = 0;
                    for (int k = 0; k < s->n_cats; k++) other.weight_sum += wa[k] = s->cat_base[k];
                    other.weights = wa;
                }
                const shopper *who = anon ? &other : &me;
                e->job = pickCategory(&g, s, who);
                double v = ly_sim_gamma(&g, s->gp, nu);
                ly_money target = v < 1 ? 1 : v > 1e12 ? (ly_money)1e12 : (ly_money)(v + 0.5);
                unsigned combos;
                bool truncated;
                if (fillDeal(s, &g, who, e->job, target, &b, &combos, &truncated) != LY_OK) return nomem(s);
                r.combos = combos;
                r.truncated = truncated;
                r.target = target;
                s->truth.combo_baskets++;
                for (int k = 0; k < s->cfg.n_combos; k++) s->truth.combo_planted[k] += (combos >> k) & 1;
                if (anon) {
                    s->truth.anonymous++;
                } else {
                    s->truth.deals_truncated += truncated;
                    s->truth.deal_target_total += target;
                    s->truth.deal_value_total += b.total;
                    c.deal_value += b.total;
                    c.deals++;
                    if (e->kind == LY_SIM_FIRST) {
                        s->truth.first_deals++;
                        c.enrolled_at = e->sec;
                    } else {
                        s->truth.repeat_deals++;
                    }
                }
            }
            e->first_line = b.first;
            e->n_lines = b.n;
            r.job = e->job;
            r.total = b.total;
            r.lines = &s->pool[b.first];
            r.n_lines = b.n;
            s->truth.sale_receipts++;
            s->truth.sales_total += b.total;
            if (!anon) {
                r.customer = &c;
                /* Every identified receipt carries the CRM id, as an export from the
                 * business's own systems does; a till also names the card or phone. */
                r.external_id = c.external_id;
                if (!first_done) {
                    r.card = c.card;
                    r.phone = c.phone;
                    first_done = true;
                } else if (e->channel != 0) {
                } else if (c.card[0] && (!c.phone[0] || ly_sim_uniform(&g) < 0.7)) {
                    r.card = c.card;
                } else {
                    r.phone = c.phone;
                }
            }
        }
        int v = emitReceipt(s, rc, e, &r);
        if (v) return v;
    }
    if (c.t_death < 0) s->truth.alive_at_end++;
    return rc->on_customer ? rc->on_customer(rc->ctx, &c) : 0;
}

int ly_sim_run(ly_sim *s, ly_sim_receipt_fn on_receipt, ly_sim_customer_fn on_customer, void *ctx,
               ly_error *err)
{
    if (s->ran) {
        ly_error_set(err, LY_EINVAL, "already_run", NULL, "a simulator runs once");
        return -1;
    }
    s->ran = true;
    runCtx rc = {on_receipt, on_customer, ctx};
    for (int64_t i = 0; s->cfg.customers == 0 || i < s->cfg.customers; i++) {
        int v = runCustomer(s, &rc, i);
        if (s->nomem) oom(err);
        if (v) return v;
        if (s->cfg.lines && s->truth.lines >= s->cfg.lines) break;
        if (i + 1 >= 100000000) break;
    }
    return 0;
}
