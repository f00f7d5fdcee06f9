/*
 * engine.c - the one-pass analytics engine (analytics.h): reads every receipt of a source
 * once and keeps fixed-size state per customer, per SKU, per category, per store, cashier,
 * channel and period, plus bounded histograms. Nothing is kept per receipt.
 *
 * For each receipt the pass: leaves it out if it falls on or after the as-of day; checks
 * that the customer's receipts go forward in time; classifies a purchase as a deal or an
 * add-on (immediate or deferred) against the jobs served by the customer's deals inside
 * the add-on window; and adds it to the counters of its period, store, cashier, channel,
 * SKUs and, for a deal, the gap histograms and the cohort table. The finishing steps in
 * rfm.c, boundaries.c and profit.c turn the counters into the result.
 */
#include "analytics/an_internal.h"

#include <math.h>

/* ---------------------------------------------------------------------------------------
 * Hash tables
 * ------------------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x);

/* A string hash that takes 8 bytes a step (the strings are SKUs, customer keys, names). */
static uint64_t strHash(const char *s)
{
    size_t n = strlen(s);
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xff51afd7ed558ccdULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    return mix64(h);
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static bool strtabGrow(ly__strtab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint64_t *s = calloc(cap, sizeof *s);
    if (!s) return false;
    for (size_t i = 0; i < t->cap; i++) {
        uint64_t v = t->slots[i];
        if (!v) continue;
        size_t j = (size_t)(v >> 32) & (cap - 1);
        while (s[j]) j = (j + 1) & (cap - 1);
        s[j] = v;
    }
    free(t->slots);
    t->slots = s;
    t->cap = cap;
    return true;
}

uint32_t ly__strtab_get(const ly__strtab *t, const char *s)
{
    if (!t->cap) return LY__NONE;
    uint64_t h = strHash(s) >> 32;
    for (size_t j = (size_t)h & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
        uint64_t v = t->slots[j];
        if (!v) return LY__NONE;
        uint32_t id = (uint32_t)(v & 0xffffffffu) - 1;
        if ((v >> 32) == h && strcmp(t->names[id], s) == 0) return id;
    }
}

uint32_t ly__strtab_put(ly__strtab *t, const char *s, bool *added)
{
    if (added) *added = false;
    if ((size_t)(t->n + 1) * 2 > t->cap && !strtabGrow(t)) return LY__NONE;
    uint64_t h = strHash(s) >> 32;
    size_t j = (size_t)h & (t->cap - 1);
    for (;; j = (j + 1) & (t->cap - 1)) {
        uint64_t v = t->slots[j];
        if (!v) break;
        uint32_t id = (uint32_t)(v & 0xffffffffu) - 1;
        if ((v >> 32) == h && strcmp(t->names[id], s) == 0) return id;
    }
    if (t->n == t->names_cap) {
        size_t cap = t->names_cap ? t->names_cap * 2 : 256;
        const char **nn = realloc(t->names, cap * sizeof *nn);
        if (!nn) return LY__NONE;
        t->names = nn;
        t->names_cap = cap;
    }
    char *copy = ly_arena_strdup(t->arena, s);
    if (!copy) return LY__NONE;
    uint32_t id = t->n++;
    t->names[id] = copy;
    t->slots[j] = (h << 32) | ((uint64_t)id + 1);
    if (added) *added = true;
    return id;
}

void ly__strtab_free(ly__strtab *t)
{
    free(t->slots);
    free(t->names);
    t->slots = NULL;
    t->names = NULL;
    t->cap = t->names_cap = 0;
    t->n = 0;
}

size_t ly__strtab_bytes(const ly__strtab *t)
{
    return t->cap * sizeof *t->slots + t->names_cap * sizeof *t->names;
}

uint32_t *ly__u64map_put(ly__u64map *m, uint64_t key, uint32_t fresh, bool *added)
{
    if (added) *added = false;
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        uint64_t *k = malloc(cap * sizeof *k);
        uint32_t *v = malloc(cap * sizeof *v);
        if (!k || !v) {
            free(k);
            free(v);
            return NULL;
        }
        memset(v, 0xff, cap * sizeof *v);
        for (size_t i = 0; i < m->cap; i++) {
            if (m->vals[i] == LY__NONE) continue;
            size_t j = (size_t)mix64(m->keys[i]) & (cap - 1);
            while (v[j] != LY__NONE) j = (j + 1) & (cap - 1);
            k[j] = m->keys[i];
            v[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = k;
        m->vals = v;
        m->cap = cap;
    }
    size_t j = (size_t)mix64(key) & (m->cap - 1);
    for (;; j = (j + 1) & (m->cap - 1)) {
        if (m->vals[j] == LY__NONE) break;
        if (m->keys[j] == key) return &m->vals[j];
    }
    m->keys[j] = key;
    m->vals[j] = fresh;
    m->n++;
    if (added) *added = true;
    return &m->vals[j];
}

void ly__u64map_free(ly__u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------- */

void ly_an_options_default(ly_an_options *o)
{
    memset(o, 0, sizeof *o);
    o->addon_days = 7;
    o->sleep_level = 0.5;
    o->churn_level = 0.2;
    o->loyalty_level = 0.8;
    o->loyalty_min_known = 20;
    o->period = LY_AN_MONTH;
}

bool ly_an_period_parse(const char *s, ly_an_period *out)
{
    if (strcmp(s, "week") == 0) *out = LY_AN_WEEK;
    else if (strcmp(s, "month") == 0) *out = LY_AN_MONTH;
    else if (strcmp(s, "quarter") == 0) *out = LY_AN_QUARTER;
    else return false;
    return true;
}

const char *ly_an_period_name(ly_an_period p)
{
    return p == LY_AN_WEEK ? "week" : p == LY_AN_QUARTER ? "quarter" : "month";
}

/* ---------------------------------------------------------------------------------------
 * The pass's state
 * ------------------------------------------------------------------------------------- */

/* A growable array of ly_an_stats, found by a key. */
typedef struct statSet {
    ly_an_stats *v;
    size_t n, cap;
} statSet;

typedef struct skuInfo {
    uint32_t category; /* LY__NONE: never seen with one */
    uint32_t job;      /* LY__NONE until first needed */
    ly_money amount;   /* sales of the SKU */
    int64_t units_milli;
} skuInfo;

/* Lines of one SKU in one period: how many, and their receipts' width weights. */
typedef struct skuPeriod {
    uint32_t sku, period;
    int64_t lines;
    double weight;     /* sum over receipts of (1 / lines with a SKU on the receipt) */
} skuPeriod;

typedef struct cohortRow {
    int64_t size;
    int64_t active[LY_AN_COHORT_MAX + 1];
} cohortRow;

#define COHORT_BASE (1900 * 12)
#define COHORT_SPAN (300 * 12)

typedef struct anState {
    const ly_an_options *opt;
    ly_an_result *res;
    ly_arena *arena;

    ly__strtab custs, skus, cats, jobs, stores, cashiers, channels, jobmap;
    size_t cust_cap;
    skuInfo *sku;
    size_t sku_cap;
    uint32_t *cat_job;
    size_t cat_cap;
    const char **jobmap_job; /* per jobmap id: the job name */

    statSet periods, stores_s, cashiers_s, channels_s;
    ly__u64map period_idx;
    ly__u64map store_pairs, cashier_pairs, channel_pairs; /* (customer << 32 | group) seen,
                                                           * for group ids 64 and up */
    uint64_t *seen_bits;         /* per customer 3 words: stores, cashiers, channels 0..63 seen */
    /* The last names looked up: consecutive receipts mostly repeat them. */
    uint32_t last_store, last_cashier, last_channel, last_cust;
    int64_t last_pkey;
    uint32_t last_pidx;
    ly__u64map skup_idx;
    skuPeriod *skup;
    size_t n_skup, skup_cap;

    int64_t *events, *censored;  /* LY_AN_GAP_MAX + 1 */
    int64_t *gap_hist;           /* LY_AN_NMAX x (LY_AN_GAP_MAX + 1) */
    double gap_sum[LY_AN_NMAX];

    int32_t cohort_of[COHORT_SPAN]; /* month - COHORT_BASE -> row + 1; 0: none */
    cohortRow *cohorts;
    int32_t *cohort_month;
    size_t n_cohorts, cohort_cap;

    uint32_t *rjobs;             /* the current receipt's jobs */
    size_t rjobs_cap;
    uint32_t *rskus;             /* the current receipt's SKU ids (width) */
    size_t rskus_cap;

    int64_t month_memo_day;
    int32_t month_memo;
    size_t jobs_bytes;
} anState;

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

static int32_t monthOfDay(anState *s, int64_t day)
{
    if (day == s->month_memo_day) return s->month_memo;
    int y;
    unsigned m, d;
    ly_civil_from_days(day, &y, &m, &d);
    s->month_memo_day = day;
    s->month_memo = (int32_t)(y * 12 + (int)m - 1);
    return s->month_memo;
}

static int64_t periodKey(anState *s, int64_t day)
{
    switch (s->opt->period) {
    case LY_AN_WEEK:
        return ly__floordiv(day - 4, 7); /* 1970-01-05 (day 4) was a Monday */
    case LY_AN_QUARTER: {
        int32_t m = monthOfDay(s, day);
        return ly__floordiv(m, 3);
    }
    default:
        return monthOfDay(s, day);
    }
}

void ly__an_period_label(ly_an_period p, int64_t key, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    switch (p) {
    case LY_AN_WEEK:
        ly_civil_from_days(key * 7 + 4, &y, &m, &d);
        snprintf(buf, size, "%04d-%02u-%02u", y, m, d);
        break;
    case LY_AN_QUARTER:
        snprintf(buf, size, "%04lld-Q%lld", (long long)ly__floordiv(key, 4),
                 (long long)(key - ly__floordiv(key, 4) * 4 + 1));
        break;
    default:
        snprintf(buf, size, "%04lld-%02lld", (long long)ly__floordiv(key, 12),
                 (long long)(key - ly__floordiv(key, 12) * 12 + 1));
        break;
    }
}

static ly_an_stats *statPush(statSet *set)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 16;
        ly_an_stats *v = realloc(set->v, cap * sizeof *v);
        if (!v) return NULL;
        set->v = v;
        set->cap = cap;
    }
    ly_an_stats *st = &set->v[set->n++];
    memset(st, 0, sizeof *st);
    return st;
}

/* The stats of a named group (store, cashier, channel), by the group's interned id. */
static ly_an_stats *groupStats(anState *s, ly__strtab *tab, statSet *set, const char *name,
                               uint32_t *id_out, uint32_t *last)
{
    (void)s;
    uint32_t id = *last;
    if (id == LY__NONE || strcmp(tab->names[id], name) != 0) {
        id = ly__strtab_put(tab, name, NULL);
        if (id == LY__NONE) return NULL;
        *last = id;
    }
    while (set->n <= id) {
        ly_an_stats *st = statPush(set);
        if (!st) return NULL;
        st->name = tab->names[set->n - 1];
    }
    if (id_out) *id_out = id;
    return &set->v[id];
}

static ly_an_stats *periodStats(anState *s, int64_t key, uint32_t *idx)
{
    if (key == s->last_pkey && s->last_pidx != LY__NONE) {
        *idx = s->last_pidx;
        return &s->periods.v[*idx];
    }
    bool added;
    uint32_t *slot = ly__u64map_put(&s->period_idx, (uint64_t)key, (uint32_t)s->periods.n, &added);
    if (!slot) return NULL;
    if (added) {
        ly_an_stats *st = statPush(&s->periods);
        if (!st) return NULL;
        st->key = key;
    }
    *idx = *slot;
    s->last_pkey = key;
    s->last_pidx = *slot;
    return &s->periods.v[*slot];
}

static ly_an_customer *custGet(anState *s, const char *key, bool *added)
{
    ly_an_result *r = s->res;
    if (s->last_cust != LY__NONE && strcmp(s->custs.names[s->last_cust], key) == 0) {
        *added = false;
        return &r->customers[s->last_cust];
    }
    uint32_t id = ly__strtab_put(&s->custs, key, added);
    if (id == LY__NONE) return NULL;
    s->last_cust = id;
    if (*added) {
        if (id >= s->cust_cap) {
            size_t cap = s->cust_cap ? s->cust_cap * 2 : 1024;
            ly_an_customer *v = realloc(r->customers, cap * sizeof *v);
            if (!v) return NULL;
            r->customers = v;
            uint64_t *bits = realloc(s->seen_bits, cap * 3 * sizeof *bits);
            if (!bits) return NULL;
            memset(bits + s->cust_cap * 3, 0, (cap - s->cust_cap) * 3 * sizeof *bits);
            s->seen_bits = bits;
            s->cust_cap = cap;
        }
        ly_an_customer *c = &r->customers[id];
        memset(c, 0, sizeof *c);
        c->key = s->custs.names[id];
        c->first_day = -1;
        c->last_deal_day = -1;
        c->last_time_ = INT64_MIN;
        c->last_period_ = -1;
        c->last_month_ = INT32_MIN;
        c->cohort_ = -1;
        r->n_customers = (size_t)id + 1;
    }
    return &r->customers[id];
}

/* The job of a line (see docs/analytics.md, "Repeat deals and add-ons"). */
static uint32_t lineJob(anState *s, uint32_t sku, uint32_t cat)
{
    if (cat != LY__NONE) return s->cat_job[cat];
    if (sku == LY__NONE) return 0; /* "*": a receipt known only by its total */
    skuInfo *si = &s->sku[sku];
    if (si->job == LY__NONE) {
        const char *name = s->skus.names[sku];
        size_t len = strlen(name);
        char *tmp = malloc(len + 3);
        if (!tmp) return LY__NONE;
        memcpy(tmp, "s:", 2);
        memcpy(tmp + 2, name, len + 1);
        si->job = ly__strtab_put(&s->jobs, tmp, NULL);
        free(tmp);
    }
    return si->job;
}

static uint32_t catId(anState *s, const char *category)
{
    bool added;
    uint32_t id = ly__strtab_put(&s->cats, category, &added);
    if (id == LY__NONE || !added) return id;
    if (id >= s->cat_cap) {
        size_t cap = s->cat_cap ? s->cat_cap * 2 : 256;
        uint32_t *v = realloc(s->cat_job, cap * sizeof *v);
        if (!v) return LY__NONE;
        s->cat_job = v;
        s->cat_cap = cap;
    }
    const char *job = category;
    char prefix = 'c';
    uint32_t m = ly__strtab_get(&s->jobmap, category);
    if (m != LY__NONE) {
        job = s->jobmap_job[m];
        prefix = 'j';
    }
    size_t len = strlen(job);
    char *tmp = malloc(len + 3);
    if (!tmp) return LY__NONE;
    tmp[0] = prefix;
    tmp[1] = ':';
    memcpy(tmp + 2, job, len + 1);
    s->cat_job[id] = ly__strtab_put(&s->jobs, tmp, NULL);
    free(tmp);
    return s->cat_job[id] == LY__NONE ? LY__NONE : id;
}

static uint32_t skuId(anState *s, const char *sku, uint32_t cat)
{
    bool added;
    uint32_t id = ly__strtab_put(&s->skus, sku, &added);
    if (id == LY__NONE) return id;
    if (added) {
        if (id >= s->sku_cap) {
            size_t cap = s->sku_cap ? s->sku_cap * 2 : 1024;
            skuInfo *v = realloc(s->sku, cap * sizeof *v);
            if (!v) return LY__NONE;
            s->sku = v;
            s->sku_cap = cap;
        }
        s->sku[id] = (skuInfo){.category = cat, .job = LY__NONE};
    } else if (s->sku[id].category == LY__NONE) {
        s->sku[id].category = cat;
    }
    return id;
}

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool reserve(uint32_t **p, size_t *cap, size_t n)
{
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 64;
    while (c < n) c *= 2;
    uint32_t *v = realloc(*p, c * sizeof *v);
    if (!v) return false;
    *p = v;
    *cap = c;
    return true;
}

/* Adds one line of a SKU in a period to the width tables. */
static bool skuPeriodAdd(anState *s, uint32_t sku, uint32_t period, double weight)
{
    bool added;
    uint64_t key = ((uint64_t)period << 32) | sku;
    uint32_t *slot = ly__u64map_put(&s->skup_idx, key, (uint32_t)s->n_skup, &added);
    if (!slot) return false;
    if (added) {
        if (s->n_skup == s->skup_cap) {
            size_t cap = s->skup_cap ? s->skup_cap * 2 : 1024;
            skuPeriod *v = realloc(s->skup, cap * sizeof *v);
            if (!v) return false;
            s->skup = v;
            s->skup_cap = cap;
        }
        s->skup[s->n_skup++] = (skuPeriod){.sku = sku, .period = period};
    }
    s->skup[*slot].lines++;
    s->skup[*slot].weight += weight;
    return true;
}

static void addDepth(ly_an_stats *st, const ly_an_receipt *r, int64_t units_milli)
{
    size_t lines = r->n_lines < LY_AN_DEPTH_MAX ? r->n_lines : LY_AN_DEPTH_MAX;
    int64_t u = units_milli / 1000;
    st->depth_lines[lines]++;
    st->depth_units[u < LY_AN_DEPTH_MAX ? u : LY_AN_DEPTH_MAX]++;
}

/* Counts a pair (customer, group) the first time it is seen: groups 0..63 in the
 * customer's bit words, the others in the map. kind: 0 store, 1 cashier, 2 channel. */
static bool pairSeen(anState *s, int kind, uint32_t cust, uint32_t group, bool *first)
{
    if (group < 64) {
        uint64_t *w = &s->seen_bits[(size_t)cust * 3 + (size_t)kind];
        uint64_t bit = UINT64_C(1) << group;
        *first = !(*w & bit);
        *w |= bit;
        return true;
    }
    ly__u64map *m = kind == 0 ? &s->store_pairs : kind == 1 ? &s->cashier_pairs : &s->channel_pairs;
    uint32_t *slot = ly__u64map_put(m, ((uint64_t)cust << 32) | group, 1, first);
    return slot != NULL;
}

/* The add-on test: prunes the customer's window and says whether every job of the receipt
 * was served by a deal inside it (*immediate: all on this very day). */
static bool isAddon(anState *s, ly_an_customer *c, int64_t day, const uint32_t *jobs,
                    size_t n, bool *immediate)
{
    int64_t from = day - s->opt->addon_days;
    uint32_t k = 0;
    for (uint32_t i = 0; i < c->n_jobs_; i++) {
        int64_t d = (int32_t)c->jobs_[2 * i + 1];
        if (d >= from) {
            c->jobs_[2 * k] = c->jobs_[2 * i];
            c->jobs_[2 * k + 1] = c->jobs_[2 * i + 1];
            k++;
        }
    }
    c->n_jobs_ = k;
    if (c->deals == 0 || k == 0) return false;
    bool same_day = true;
    for (size_t j = 0; j < n; j++) {
        uint32_t i = 0;
        while (i < k && c->jobs_[2 * i] != jobs[j]) i++;
        if (i == k) return false;
        if ((int32_t)c->jobs_[2 * i + 1] != day) same_day = false;
    }
    *immediate = same_day;
    return true;
}

static bool rememberJobs(anState *s, ly_an_customer *c, int64_t day, const uint32_t *jobs,
                         size_t n)
{
    for (size_t j = 0; j < n; j++) {
        uint32_t i = 0;
        while (i < c->n_jobs_ && c->jobs_[2 * i] != jobs[j]) i++;
        if (i == c->n_jobs_) {
            if (c->n_jobs_ == c->cap_jobs_) {
                uint32_t cap = c->cap_jobs_ ? c->cap_jobs_ * 2 : 4;
                uint32_t *v = realloc(c->jobs_, (size_t)cap * 2 * sizeof *v);
                if (!v) return false;
                s->jobs_bytes += (size_t)(cap - c->cap_jobs_) * 2 * sizeof *v;
                c->jobs_ = v;
                c->cap_jobs_ = cap;
            }
            c->jobs_[2 * i] = jobs[j];
            c->n_jobs_++;
        }
        c->jobs_[2 * i + 1] = (uint32_t)(int32_t)day;
    }
    return true;
}

static int64_t dayOf(const ly_an_receipt *r)
{
    return ly__floordiv(r->time + (int64_t)r->utc_offset_min * 60, 86400);
}

static ly_err unsorted(ly_error *err, const ly_an_receipt *r, const ly_an_customer *c)
{
    char when[32], before[32];
    ly_time_format(r->time, 0, when, sizeof when);
    ly_time_format(c->last_time_, 0, before, sizeof before);
    char field[40];
    snprintf(field, sizeof field, "line %ld", r->line);
    return ly_error_set(err, LY_EINVAL, "unsorted_input", r->line ? field : NULL,
                        "receipt %s of customer %s at %s comes after one at %s: receipts must "
                        "be in time order per customer (use --sort)",
                        r->receipt_id ? r->receipt_id : "?", c->key, when, before);
}

/* One return: reduces the revenue of its period, store, cashier, channel and customer. */
static ly_err feedReturn(anState *s, const ly_an_receipt *r, int64_t day, ly_error *err)
{
    ly_an_result *res = s->res;
    uint32_t pidx;
    ly_an_stats *p = periodStats(s, periodKey(s, day), &pidx);
    if (!p) return oom(err);
    int64_t units = 0;
    for (size_t i = 0; i < r->n_lines; i++) units += r->lines[i].qty;
    ly_an_stats *g[4] = {p, NULL, NULL, NULL};
    if (r->store &&
        !(g[1] = groupStats(s, &s->stores, &s->stores_s, r->store, NULL, &s->last_store)))
        return oom(err);
    if (r->cashier && !(g[2] = groupStats(s, &s->cashiers, &s->cashiers_s, r->cashier, NULL,
                                          &s->last_cashier)))
        return oom(err);
    if (!(g[3] = groupStats(s, &s->channels, &s->channels_s, r->channel ? r->channel : "unknown",
                            NULL, &s->last_channel)))
        return oom(err);
    ly_an_customer *c = NULL;
    if (r->customer) {
        bool added;
        if (!(c = custGet(s, r->customer, &added))) return oom(err);
        if (r->time < c->last_time_) return unsorted(err, r, c);
        c->last_time_ = r->time;
        c->returns++;
        c->revenue -= r->total;
    }
    for (int i = 0; i < 4; i++) {
        if (!g[i]) continue;
        g[i]->returns++;
        g[i]->returned += r->total;
        if (c) {
            g[i]->returned_identified += r->total;
            g[i]->revenue -= r->total;
            g[i]->net_units_milli -= units;
        }
    }
    res->returns++;
    if (s->opt->on_receipt) s->opt->on_receipt(s->opt->hook_ctx, r, LY_AN_RETURN);
    return LY_OK;
}

static ly_err feed(anState *s, const ly_an_receipt *r, ly_error *err)
{
    ly_an_result *res = s->res;
    int64_t day = dayOf(r);
    if (s->opt->as_of_set && day >= s->opt->as_of_day) {
        res->skipped_after_as_of++;
        return LY_OK;
    }
    if (res->first_day < 0 || day < res->first_day) res->first_day = day;
    if (day > res->last_day) res->last_day = day;
    if (r->referrer) res->knows_referrals = true;
    if (r->is_return) return feedReturn(s, r, day, err);

    uint32_t pidx;
    ly_an_stats *p = periodStats(s, periodKey(s, day), &pidx);
    if (!p) return oom(err);

    /* Lines: SKUs, categories, jobs, units, cost. */
    size_t n_jobs = 0, n_skus = 0;
    if (!reserve(&s->rjobs, &s->rjobs_cap, r->n_lines + 1) ||
        !reserve(&s->rskus, &s->rskus_cap, r->n_lines + 1))
        return oom(err);
    int64_t units = 0;
    ly_money margin = 0, costed = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        const ly_an_line *l = &r->lines[i];
        uint32_t cat = LY__NONE, sku = LY__NONE;
        if (l->sku) {
            /* most lines name a SKU already seen with the same category: one comparison
             * instead of a second lookup */
            if ((sku = ly__strtab_get(&s->skus, l->sku)) != LY__NONE && l->category &&
                s->sku[sku].category != LY__NONE &&
                strcmp(s->cats.names[s->sku[sku].category], l->category) == 0)
                cat = s->sku[sku].category;
            else if (l->category && (cat = catId(s, l->category)) == LY__NONE)
                return oom(err);
            if (sku == LY__NONE && (sku = skuId(s, l->sku, cat)) == LY__NONE) return oom(err);
            if (s->sku[sku].category == LY__NONE) s->sku[sku].category = cat;
            s->sku[sku].amount += l->amount;
            s->sku[sku].units_milli += l->qty;
            s->rskus[n_skus++] = sku;
        } else if (l->category && (cat = catId(s, l->category)) == LY__NONE) {
            return oom(err);
        }
        units += l->qty;
        if (l->cost >= 0) {
            margin += l->amount - l->cost;
            costed += l->amount;
            res->knows_costs = true;
        }
        if (r->customer) {
            uint32_t job = lineJob(s, sku, cat);
            if (job == LY__NONE) return oom(err);
            s->rjobs[n_jobs++] = job;
        }
    }
    res->lines += (int64_t)r->n_lines;

    /* Width: each line with a SKU carries 1/n of the receipt's weight. */
    double w = n_skus ? 1.0 / (double)n_skus : 0;
    for (size_t i = 0; i < n_skus; i++)
        if (!skuPeriodAdd(s, s->rskus[i], pidx, w)) return oom(err);
    if (n_skus) p->width_receipts++;

    ly_an_stats *g[4] = {p, NULL, NULL, NULL};
    uint32_t store_id = LY__NONE, cashier_id = LY__NONE, channel_id = LY__NONE;
    if (r->store && !(g[1] = groupStats(s, &s->stores, &s->stores_s, r->store, &store_id,
                                        &s->last_store)))
        return oom(err);
    if (r->cashier && !(g[2] = groupStats(s, &s->cashiers, &s->cashiers_s, r->cashier,
                                          &cashier_id, &s->last_cashier)))
        return oom(err);
    if (!(g[3] = groupStats(s, &s->channels, &s->channels_s, r->channel ? r->channel : "unknown",
                            &channel_id, &s->last_channel)))
        return oom(err);
    for (int i = 0; i < 4; i++) {
        if (!g[i]) continue;
        g[i]->receipts++;
        g[i]->sales += r->total;
        g[i]->lines += (int64_t)r->n_lines;
        g[i]->units_milli += units;
        addDepth(g[i], r, units);
    }
    res->receipts++;

    if (!r->customer) {
        res->anonymous_receipts++;
        if (s->opt->on_receipt) s->opt->on_receipt(s->opt->hook_ctx, r, LY_AN_ANONYMOUS);
        return LY_OK;
    }

    bool added;
    ly_an_customer *c = custGet(s, r->customer, &added);
    if (!c) return oom(err);
    if (r->time < c->last_time_) return unsorted(err, r, c);
    c->last_time_ = r->time;
    uint32_t cust_id = (uint32_t)(c - res->customers);

    /* Deal or add-on. */
    if (n_jobs == 0) s->rjobs[n_jobs++] = 0;
    if (n_jobs > 1) {
        if (n_jobs <= 16) { /* insertion sort: most receipts serve a few jobs */
            for (size_t i = 1; i < n_jobs; i++) {
                uint32_t x = s->rjobs[i];
                size_t j = i;
                for (; j > 0 && s->rjobs[j - 1] > x; j--) s->rjobs[j] = s->rjobs[j - 1];
                s->rjobs[j] = x;
            }
        } else {
            qsort(s->rjobs, n_jobs, sizeof *s->rjobs, cmpU32);
        }
        size_t k = 1;
        for (size_t i = 1; i < n_jobs; i++)
            if (s->rjobs[i] != s->rjobs[k - 1]) s->rjobs[k++] = s->rjobs[i];
        n_jobs = k;
    }
    bool immediate = false;
    bool addon = s->opt->addon_days >= 0 && isAddon(s, c, day, s->rjobs, n_jobs, &immediate);
    ly_an_kind kind = !addon ? LY_AN_DEAL : immediate ? LY_AN_ADDON_IMMEDIATE : LY_AN_ADDON_DEFERRED;

    bool first = c->purchases == 0;
    if (first) {
        c->first_day = day;
        c->first_total = r->total;
        c->referred = r->referrer != NULL;
    }
    c->purchases++;
    c->sales += r->total;
    c->revenue += r->total;
    res->purchases++;
    res->sales_identified += r->total;

    if (kind == LY_AN_DEAL) {
        if (c->deals > 0) {
            int64_t gap = day - c->last_deal_day;
            if (gap > LY_AN_GAP_MAX) gap = LY_AN_GAP_MAX;
            s->events[gap]++;
            int64_t n = c->deals < LY_AN_NMAX ? c->deals : LY_AN_NMAX;
            s->gap_hist[(n - 1) * (LY_AN_GAP_MAX + 1) + gap]++;
            s->gap_sum[n - 1] += (double)(day - c->last_deal_day);
        }
        c->deals++;
        int64_t n = c->deals < LY_AN_NMAX ? c->deals : LY_AN_NMAX;
        res->dealn[n - 1].deal_count++;
        res->dealn[n - 1].deal_revenue += r->total;
        c->last_deal_day = day;
        res->deals++;
        if (s->opt->addon_days >= 0 && !rememberJobs(s, c, day, s->rjobs, n_jobs)) return oom(err);
    } else if (immediate) {
        /* Add-ons belong to their deal: the first deal's value includes its own. */
        if (c->deals == 1) c->first_total += r->total;
        c->addons_immediate++;
        res->addons_immediate++;
        res->addon_sales += r->total;
    } else {
        if (c->deals == 1) c->first_total += r->total;
        c->addons_deferred++;
        res->addons_deferred++;
        res->addon_sales += r->total;
    }

    /* Cohorts: by the month of the first purchase, the months with a purchase. */
    int32_t month = monthOfDay(s, day);
    if (first) {
        int64_t slot = (int64_t)month - COHORT_BASE;
        if (slot >= 0 && slot < COHORT_SPAN) {
            if (!s->cohort_of[slot]) {
                if (s->n_cohorts == s->cohort_cap) {
                    size_t cap = s->cohort_cap ? s->cohort_cap * 2 : 32;
                    cohortRow *v = realloc(s->cohorts, cap * sizeof *v);
                    int32_t *m = realloc(s->cohort_month, cap * sizeof *m);
                    if (v) s->cohorts = v;
                    if (m) s->cohort_month = m;
                    if (!v || !m) return oom(err);
                    s->cohort_cap = cap;
                }
                memset(&s->cohorts[s->n_cohorts], 0, sizeof *s->cohorts);
                s->cohort_month[s->n_cohorts] = month;
                s->cohort_of[slot] = (int32_t)++s->n_cohorts;
            }
            c->cohort_ = s->cohort_of[slot] - 1;
            s->cohorts[c->cohort_].size++;
        }
    }
    if (c->cohort_ >= 0 && month != c->last_month_) {
        int64_t k = (int64_t)month - s->cohort_month[c->cohort_];
        if (k >= 0 && k <= LY_AN_COHORT_MAX) s->cohorts[c->cohort_].active[k]++;
    }
    c->last_month_ = month;

    /* Counters of the period and the groups. */
    bool new_in_period = c->last_period_ != (int32_t)pidx;
    c->last_period_ = (int32_t)pidx;
    bool first_store = false, first_cashier = false, first_channel = false;
    if (store_id != LY__NONE && !pairSeen(s, 0, cust_id, store_id, &first_store)) return oom(err);
    if (cashier_id != LY__NONE && !pairSeen(s, 1, cust_id, cashier_id, &first_cashier))
        return oom(err);
    if (!pairSeen(s, 2, cust_id, channel_id, &first_channel)) return oom(err);
    bool firsts[4] = {new_in_period, first_store, first_cashier, first_channel};
    for (int i = 0; i < 4; i++) {
        ly_an_stats *st = g[i];
        if (!st) continue;
        st->receipts_identified++;
        st->sales_identified += r->total;
        st->revenue += r->total;
        st->net_units_milli += units;
        st->purchases++;
        st->margin += margin;
        st->costed_revenue += costed;
        if (kind == LY_AN_DEAL) st->deals++;
        else if (immediate) st->addons_immediate++;
        else st->addons_deferred++;
        if (firsts[i]) {
            st->customers++;
            if (first) {
                st->new_customers++;
                if (c->referred) st->referred_customers++;
            } else {
                st->returning_customers++;
            }
        }
    }
    if (s->opt->on_receipt) s->opt->on_receipt(s->opt->hook_ctx, r, kind);
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * After the pass
 * ------------------------------------------------------------------------------------- */

/* The price position of each SKU in its category: the mid-rank of its average unit price
 * among the category's SKUs, (less + (equal - 1) / 2) / (n - 1); 0.5 for a lone SKU. */
typedef struct skuPrice {
    uint32_t sku, cat;
    double price;
} skuPrice;

static int cmpSkuPrice(const void *a, const void *b)
{
    const skuPrice *x = a, *y = b;
    if (x->cat != y->cat) return x->cat < y->cat ? -1 : 1;
    if (x->price != y->price) return x->price < y->price ? -1 : 1;
    return x->sku < y->sku ? -1 : x->sku > y->sku;
}

static ly_err widths(anState *s, ly_error *err)
{
    size_t n = s->skus.n;
    if (!n) return LY_OK;
    skuPrice *v = malloc(n * sizeof *v);
    double *pos = malloc(n * sizeof *pos);
    if (!v || !pos) {
        free(v);
        free(pos);
        return oom(err);
    }
    for (uint32_t i = 0; i < n; i++) {
        const skuInfo *si = &s->sku[i];
        v[i].sku = i;
        v[i].cat = si->category;
        v[i].price = si->units_milli > 0 ? (double)si->amount * 1000.0 / (double)si->units_milli : 0;
    }
    qsort(v, n, sizeof *v, cmpSkuPrice);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && v[b].cat == v[a].cat) b++;
        size_t cnt = b - a;
        for (size_t i = a; i < b;) {
            size_t j = i;
            while (j < b && v[j].price == v[i].price) j++;
            double less = (double)(i - a), equal = (double)(j - i);
            double p = cnt > 1 ? (less + (equal - 1) / 2) / (double)(cnt - 1) : 0.5;
            for (size_t k = i; k < j; k++) pos[v[k].sku] = p;
            i = j;
        }
        a = b;
    }
    for (size_t i = 0; i < s->n_skup; i++) {
        const skuPeriod *sp = &s->skup[i];
        ly_an_stats *st = &s->periods.v[sp->period];
        double p = pos[sp->sku];
        int b = (int)(p * LY_AN_WIDTH_BUCKETS);
        if (b >= LY_AN_WIDTH_BUCKETS) b = LY_AN_WIDTH_BUCKETS - 1;
        st->width_hist[b] += (double)sp->lines;
        st->width_sum += p * sp->weight;
    }
    free(v);
    free(pos);
    return LY_OK;
}

static int cmpStatsKey(const void *a, const void *b)
{
    const ly_an_stats *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

static int cmpStatsName(const void *a, const void *b)
{
    const ly_an_stats *x = a, *y = b;
    return strcmp(x->name, y->name);
}

static ly_err finish(anState *s, ly_error *err)
{
    ly_an_result *r = s->res;
    r->as_of_day = s->opt->as_of_set ? s->opt->as_of_day : (r->last_day >= 0 ? r->last_day + 1 : 0);
    r->skus = s->skus.n;
    r->categories = s->cats.n;
    r->jobs = s->jobs.n;

    /* Open gaps at the as-of day are right-censored: a customer whose last deal was c days
     * before the as-of day was seen without a deal on days 1 .. c-1 after it. */
    for (size_t i = 0; i < r->n_customers; i++) {
        ly_an_customer *c = &r->customers[i];
        free(c->jobs_);
        c->jobs_ = NULL;
        c->n_jobs_ = c->cap_jobs_ = 0;
        if (c->deals == 0) continue;
        c->r_days = r->as_of_day - c->last_deal_day;
        c->m = (double)c->revenue / (double)c->deals;
        int64_t seen = c->r_days - 1;
        if (seen < 0) seen = 0;
        s->censored[seen < LY_AN_GAP_MAX ? seen : LY_AN_GAP_MAX]++;
    }
    ly_err rc;
    if ((rc = widths(s, err)) != LY_OK) return rc;
    if ((rc = ly__an_rfm(r, err)) != LY_OK) return rc;
    if ((rc = ly__an_curve(r, s->events, s->censored, err)) != LY_OK) return rc;
    ly__an_loyalty(r, s->gap_hist, s->gap_sum);
    ly__an_status(r);

    /* Cohorts in month order. */
    r->cohorts = calloc(s->n_cohorts ? s->n_cohorts : 1, sizeof *r->cohorts);
    if (!r->cohorts) return oom(err);
    int32_t last_month = r->last_day >= 0 ? monthOfDay(s, r->as_of_day - 1) : 0;
    for (int64_t slot = 0; slot < COHORT_SPAN; slot++) {
        if (!s->cohort_of[slot]) continue;
        const cohortRow *row = &s->cohorts[s->cohort_of[slot] - 1];
        ly_an_cohort *co = &r->cohorts[r->n_cohorts++];
        co->month = (int32_t)(slot + COHORT_BASE);
        co->size = row->size;
        int64_t nk = (int64_t)last_month - co->month + 1;
        if (nk < 1) nk = 1;
        if (nk > LY_AN_COHORT_MAX + 1) nk = LY_AN_COHORT_MAX + 1;
        co->n_k = nk;
        co->active = ly_arena_alloc(s->arena, (size_t)nk * sizeof *co->active);
        if (!co->active) return oom(err);
        memcpy(co->active, row->active, (size_t)nk * sizeof *co->active);
    }

    /* Periods in time order; groups by name. */
    if (s->periods.n) qsort(s->periods.v, s->periods.n, sizeof *s->periods.v, cmpStatsKey);
    for (size_t i = 0; i < s->periods.n; i++)
        ly__an_period_label(s->opt->period, s->periods.v[i].key, s->periods.v[i].label,
                            sizeof s->periods.v[i].label);
    if (s->stores_s.n) qsort(s->stores_s.v, s->stores_s.n, sizeof *s->stores_s.v, cmpStatsName);
    if (s->cashiers_s.n)
        qsort(s->cashiers_s.v, s->cashiers_s.n, sizeof *s->cashiers_s.v, cmpStatsName);
    if (s->channels_s.n)
        qsort(s->channels_s.v, s->channels_s.n, sizeof *s->channels_s.v, cmpStatsName);
    r->periods = s->periods.v;
    r->n_periods = s->periods.n;
    r->stores = s->stores_s.v;
    r->n_stores = s->stores_s.n;
    r->cashiers = s->cashiers_s.v;
    r->n_cashiers = s->cashiers_s.n;
    r->channels = s->channels_s.v;
    r->n_channels = s->channels_s.n;
    memset(&s->periods, 0, sizeof s->periods);
    memset(&s->stores_s, 0, sizeof s->stores_s);
    memset(&s->cashiers_s, 0, sizeof s->cashiers_s);
    memset(&s->channels_s, 0, sizeof s->channels_s);
    ly__an_profit(r);
    return LY_OK;
}

static size_t stateBytes(const anState *s)
{
    return s->cust_cap * sizeof(ly_an_customer) + ly__strtab_bytes(&s->custs) +
           ly__strtab_bytes(&s->skus) + ly__strtab_bytes(&s->cats) + ly__strtab_bytes(&s->jobs) +
           ly__strtab_bytes(&s->stores) + ly__strtab_bytes(&s->cashiers) +
           s->sku_cap * sizeof(skuInfo) + s->skup_cap * sizeof(skuPeriod) +
           (s->skup_idx.cap + s->store_pairs.cap + s->cashier_pairs.cap + s->channel_pairs.cap +
            s->period_idx.cap) * 12 +
           (s->periods.cap + s->stores_s.cap + s->cashiers_s.cap + s->channels_s.cap) *
               sizeof(ly_an_stats) +
           s->cohort_cap * sizeof(cohortRow) + s->arena->total + s->jobs_bytes +
           s->cust_cap * 3 * sizeof(uint64_t) +
           (size_t)(LY_AN_NMAX + 2) * (LY_AN_GAP_MAX + 1) * sizeof(int64_t) + sizeof *s;
}

static void stateFree(anState *s)
{
    ly__strtab_free(&s->custs);
    ly__strtab_free(&s->skus);
    ly__strtab_free(&s->cats);
    ly__strtab_free(&s->jobs);
    ly__strtab_free(&s->stores);
    ly__strtab_free(&s->cashiers);
    ly__strtab_free(&s->channels);
    ly__strtab_free(&s->jobmap);
    free(s->sku);
    free(s->cat_job);
    free(s->jobmap_job);
    free(s->periods.v);
    free(s->stores_s.v);
    free(s->cashiers_s.v);
    free(s->channels_s.v);
    ly__u64map_free(&s->period_idx);
    ly__u64map_free(&s->store_pairs);
    ly__u64map_free(&s->cashier_pairs);
    ly__u64map_free(&s->channel_pairs);
    free(s->seen_bits);
    ly__u64map_free(&s->skup_idx);
    free(s->skup);
    free(s->events);
    free(s->censored);
    free(s->gap_hist);
    free(s->cohorts);
    free(s->cohort_month);
    free(s->rjobs);
    free(s->rskus);
    free(s);
}

ly_err ly_an_run(ly_source *src, const ly_an_options *opt, ly_an_result **out, ly_error *err)
{
    *out = NULL;
    ly_an_result *r = calloc(1, sizeof *r);
    anState *s = calloc(1, sizeof *s);
    ly_arena *arena = calloc(1, sizeof *arena);
    if (!r || !s || !arena) {
        free(r);
        free(s);
        free(arena);
        return oom(err);
    }
    r->arena_ = arena;
    s->arena = arena;
    s->opt = opt;
    s->res = r;
    s->month_memo_day = INT64_MIN;
    s->last_store = s->last_cashier = s->last_channel = s->last_cust = s->last_pidx = LY__NONE;
    ly__strtab *tabs[] = {&s->custs, &s->skus, &s->cats, &s->jobs, &s->stores,
                          &s->cashiers, &s->channels, &s->jobmap};
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) tabs[i]->arena = arena;
    r->first_day = r->last_day = -1;
    r->as_of_given = opt->as_of_set;
    r->addon_days = opt->addon_days;
    r->period_kind = opt->period;
    r->loyalty_level = opt->loyalty_level;
    r->loyalty_min_known = opt->loyalty_min_known;
    r->curve.sleep_level = opt->sleep_level;
    r->curve.churn_level = opt->churn_level;

    ly_err rc = LY_OK;
    s->events = calloc(LY_AN_GAP_MAX + 1, sizeof *s->events);
    s->censored = calloc(LY_AN_GAP_MAX + 1, sizeof *s->censored);
    s->gap_hist = calloc((size_t)LY_AN_NMAX * (LY_AN_GAP_MAX + 1), sizeof *s->gap_hist);
    if (!s->events || !s->censored || !s->gap_hist || ly__strtab_put(&s->jobs, "*", NULL) != 0)
        rc = oom(err);
    for (size_t i = 0; rc == LY_OK && i < opt->n_jobs; i++) {
        bool added;
        uint32_t id = ly__strtab_put(&s->jobmap, opt->jobs[i].category, &added);
        if (id == LY__NONE) {
            rc = oom(err);
            break;
        }
        if (added) {
            const char **v = realloc(s->jobmap_job, (size_t)(id + 1) * sizeof *v);
            if (!v) {
                rc = oom(err);
                break;
            }
            s->jobmap_job = v;
        }
        s->jobmap_job[id] = opt->jobs[i].job;
    }

    ly_an_receipt rec;
    uint64_t count = 0;
    while (rc == LY_OK) {
        memset(&rec, 0, sizeof rec);
        int got = src->next(src->ctx, &rec, err);
        if (got < 0) {
            rc = err ? err->kind : LY_EINVAL;
            if (rc == LY_OK) rc = LY_EINVAL;
            break;
        }
        if (got == 0) break;
        rc = feed(s, &rec, err);
        if (++count % 65536 == 0 && opt->progress) {
            uint64_t total = 0, done = src->progress ? src->progress(src->ctx, &total) : 0;
            opt->progress(opt->progress_ctx, count, r->n_customers, done, total);
        }
    }
    if (rc == LY_OK && opt->progress) {
        uint64_t total = 0, done = src->progress ? src->progress(src->ctx, &total) : 0;
        opt->progress(opt->progress_ctx, count, r->n_customers, done, total);
    }
    r->memory_bytes = stateBytes(s);
    if (rc == LY_OK) rc = finish(s, err);
    stateFree(s);
    if (rc != LY_OK) {
        ly_an_result_free(r);
        return rc;
    }
    *out = r;
    return LY_OK;
}

void ly_an_result_free(ly_an_result *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n_customers; i++) free(r->customers[i].jobs_);
    free(r->customers);
    free(r->curve.events);
    free(r->curve.censored);
    free(r->curve.at_risk);
    free(r->curve.survival);
    free(r->curve.p_return);
    free(r->cohorts);
    free(r->periods);
    free(r->stores);
    free(r->cashiers);
    free(r->channels);
    if (r->arena_) {
        ly_arena_free(r->arena_);
        free(r->arena_);
    }
    free(r);
}
