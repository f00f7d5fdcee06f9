/*
 * test_engage_offers.c - personal offers (engage.h, docs/offers.md): each kind on a tiny
 * hand-made history with its offers computed by hand, the just-bought rule and
 * replenishment, deterministic ties, the offline evaluation's arithmetic on a tiny split,
 * the offers beating popularity on simulated data with planted combos, and `loyal offers
 * show` on a database.
 */
#include "engage/engage.h"
#include "sim/sim.h"
#include "testlib.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Hand-made histories: add(h, customer, day, "SKU/CATEGORY/PRICE ...") with '-' for no
 * category; each line is one unit at that price.
 * ------------------------------------------------------------------------------------- */

typedef struct hist {
    ly_an_receipt r[128];
    ly_an_line l[512];
    char pool[16384];
    size_t nr, nl, np;
} hist;

static const char *keep(hist *h, const char *s, size_t n)
{
    assert_true(h->np + n + 1 <= sizeof h->pool);
    char *p = h->pool + h->np;
    memcpy(p, s, n);
    p[n] = 0;
    h->np += n + 1;
    return p;
}

static void add(hist *h, const char *cust, int64_t day, const char *spec)
{
    assert_true(h->nr < 128);
    ly_an_receipt *r = &h->r[h->nr];
    memset(r, 0, sizeof *r);
    char id[16];
    snprintf(id, sizeof id, "r%zu", h->nr);
    r->receipt_id = keep(h, id, strlen(id));
    r->customer = cust ? keep(h, cust, strlen(cust)) : NULL;
    r->time = day * 86400 + 3600 + (ly_time)h->nr;
    r->lines = &h->l[h->nl];
    r->line = (long)h->nr + 1;
    for (const char *p = spec; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *end = strchr(p, ' ');
        if (!end) end = p + strlen(p);
        const char *s1 = memchr(p, '/', (size_t)(end - p));
        assert_non_null(s1);
        const char *s2 = memchr(s1 + 1, '/', (size_t)(end - s1 - 1));
        assert_non_null(s2);
        ly_an_line *l = &h->l[h->nl++];
        memset(l, 0, sizeof *l);
        l->sku = keep(h, p, (size_t)(s1 - p));
        l->category = (s2 - s1 == 2 && s1[1] == '-') ? NULL : keep(h, s1 + 1, (size_t)(s2 - s1 - 1));
        l->qty = 1000;
        l->price = atoll(s2 + 1);
        l->amount = l->price;
        l->cost = -1;
        r->total += l->amount;
        r->n_lines++;
        p = end;
    }
    h->nr++;
}

static ly_offers_model *build(const hist *h, const ly_offers_options *o)
{
    ly_source src;
    assert_true(ly_an_array_source(h->r, h->nr, &src));
    ly_offers_model *m = NULL;
    ly_error err;
    ly_err rc = ly_offers_model_build(&src, o, &m, &err);
    if (rc) fail_msg("build: %s (%s)", err.message, err.code);
    src.close(src.ctx);
    return m;
}

static size_t offersFor(const ly_offers_model *m, const char *key, int64_t day, size_t k,
                        ly_arena *a, ly_offer **out)
{
    size_t n = 0;
    ly_error err;
    assert_int_equal(ly_offers_for_key(m, key, day, k, a, out, &n, &err), LY_OK);
    return n;
}

/* The one offer key gets on day: exactly one, for sku. */
static const ly_offer *onlyOffer(const ly_offers_model *m, const char *key, int64_t day,
                                 ly_arena *a, const char *sku)
{
    ly_offer *off;
    assert_int_equal(offersFor(m, key, day, 10, a, &off), 1);
    assert_string_equal(off[0].sku, sku);
    return &off[0];
}

/* Frees *m and builds it again from h under o (after a test changed o). */
static void rebuild(ly_offers_model **m, const hist *h, const ly_offers_options *o)
{
    ly_offers_model_free(*m);
    *m = build(h, o);
}

static int64_t simDay(ly_time t)
{
    return (t + 180 * 60) / 86400;
}

#define NEAR(x, y) assert_true(fabs((x) - (y)) < 1e-9)

/* Options that leave only what a test looks at. */
static void quiet(ly_offers_options *o)
{
    ly_offers_options_default(o);
    o->replenish_min = 1000; /* no replenishment unless a test asks */
}

/* ---------------------------------------------------------------------------------------
 * bought_together
 * ------------------------------------------------------------------------------------- */

/* Six baskets: {A,B} {A,B} {A,C} {C,D} {C,D} {A}. With min support 2: A-B (lift 2*6/(4*2)
 * = 1.5) and C-D (2*6/(3*2) = 2); A-C (once) is left out. */
static void coBaskets(hist *h)
{
    add(h, "a", 0, "A/-/10 B/-/20");
    add(h, "b", 0, "A/-/10 B/-/20");
    add(h, "b", 1, "A/-/10 C/-/30");
    add(h, "c", 0, "C/-/30 D/-/40");
    add(h, "c", 1, "C/-/30 D/-/40");
    add(h, "x", 100, "A/-/10");
}

static void test_bought_together(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    coBaskets(&h);
    ly_offers_options o;
    quiet(&o);
    o.min_pair_count = 2;
    ly_offers_model *m = build(&h, &o);
    ly_arena a = {0};
    ly_offer *off;

    /* x bought A: B goes with A in 2 of A's 4 baskets */
    size_t n = offersFor(m, "x", 101, 10, &a, &off);
    assert_int_equal(n, 1);
    assert_int_equal(off[0].kind, LY_OFFER_BOUGHT_TOGETHER);
    assert_string_equal(off[0].sku, "B");
    NEAR(off[0].score, 0.5);
    NEAR(off[0].lift, 1.5);
    assert_string_equal(off[0].anchor_sku, "A");
    assert_int_equal(off[0].anchor_day, 100);
    assert_int_equal(off[0].together, 2);
    assert_int_equal(off[0].anchor_baskets, 4);
    assert_int_equal(off[0].price, 20);
    assert_non_null(strstr(off[0].reason, "2 of the 4 baskets"));

    /* c bought C and D on day 1; at day 101 (100 days on) both may come again: C scores
     * P(C | D) = 2/2, D scores P(D | C) = 2/3. */
    n = offersFor(m, "c", 101, 10, &a, &off);
    assert_int_equal(n, 2);
    assert_string_equal(off[0].sku, "C");
    NEAR(off[0].score, 1.0);
    assert_string_equal(off[0].anchor_sku, "D");
    assert_string_equal(off[1].sku, "D");
    NEAR(off[1].score, 2.0 / 3.0);

    /* 9 days after: both were just bought, and they are not replenished */
    n = offersFor(m, "c", 10, 10, &a, &off);
    assert_int_equal(n, 0);
    /* at exactly the window's end (30 days) they come back */
    assert_int_equal(offersFor(m, "c", 1 + 29, 10, &a, &off), 0);
    assert_int_equal(offersFor(m, "c", 1 + 30, 10, &a, &off), 2);

    /* an unknown customer has no history, so no offers; k limits the list */
    assert_int_equal(offersFor(m, "nobody", 101, 10, &a, &off), 0);
    assert_int_equal(offersFor(m, "c", 101, 1, &a, &off), 1);
    assert_string_equal(off[0].sku, "C");
    ly_arena_free(&a);
    ly_offers_model_free(m);
}

/* Replenishment: with one repeat interval enough, C and D (bought on days 0 and 1 by c:
 * an interval of 1 day) have a 1-day cycle, so 9 days after they are offered again. */
static void test_replenishment(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    coBaskets(&h);
    ly_offers_options o;
    quiet(&o);
    o.min_pair_count = 2;
    o.replenish_min = 1;
    ly_offers_model *m = build(&h, &o);
    assert_int_equal(ly_offers_sku_cycle(m, "C"), 1);
    assert_int_equal(ly_offers_sku_cycle(m, "D"), 1);
    assert_int_equal(ly_offers_sku_cycle(m, "B"), -1); /* nobody bought B twice */
    ly_arena a = {0};
    ly_offer *off;
    assert_int_equal(offersFor(m, "c", 10, 10, &a, &off), 2);
    /* the same day as the last purchase: age 0 < the cycle, still just bought */
    assert_int_equal(offersFor(m, "c", 1, 10, &a, &off), 0);
    ly_offers_model_free(m);

    /* a weekly-bucket cycle: intervals 35, 35 (one customer) and 40 (another): the lower
     * median is 35, whose bucket 29..35 gives 35 days */
    static hist g;
    memset(&g, 0, sizeof g);
    add(&g, "p", 0, "T/-/10");
    add(&g, "p", 35, "T/-/10");
    add(&g, "p", 70, "T/-/10");
    add(&g, "q", 0, "T/-/10");
    add(&g, "q", 40, "T/-/10");
    o.replenish_min = 3;
    m = build(&g, &o);
    assert_int_equal(ly_offers_sku_cycle(m, "T"), 35);
    ly_offers_model_free(m);
    o.replenish_min = 4; /* three intervals are not enough */
    m = build(&g, &o);
    assert_int_equal(ly_offers_sku_cycle(m, "T"), -1);
    ly_offers_model_free(m);
    ly_arena_free(&a);
}

/* ---------------------------------------------------------------------------------------
 * new_category
 * ------------------------------------------------------------------------------------- */

static void test_new_category(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    /* t buys X and Y evenly; p1..p3 buy X, Y and half as much Z (cosine with t:
     * (2/3 + 2/3) / sqrt 2 = 0.943 each); q buys only W (cosine 0: no look-alike) */
    add(&h, "t", 0, "x1/X/100 y1/Y/100");
    add(&h, "p1", 0, "x1/X/100 y1/Y/100 z1/Z/50");
    add(&h, "p2", 0, "x1/X/100 y1/Y/100 z2/Z/50");
    add(&h, "p3", 0, "x1/X/100 y1/Y/100 z1/Z/50");
    add(&h, "q", 0, "w1/W/100");
    ly_offers_options o;
    quiet(&o);
    o.min_pair_count = 100; /* no bought_together */
    o.lookalikes = 3;
    ly_offers_model *m = build(&h, &o);
    ly_arena a = {0};
    ly_offer *off;
    /* 2 of the 3 look-alikes buy z1, 1 buys z2 */
    const ly_offer *one = onlyOffer(m, "t", 1, &a, "z1");
    assert_int_equal(one->kind, LY_OFFER_NEW_CATEGORY);
    assert_string_equal(one->category, "Z");
    NEAR(one->score, 2.0 / 3.0);
    assert_int_equal(one->lookalikes, 3);
    assert_int_equal(one->lookalikes_buying, 3);
    assert_non_null(strstr(one->reason, "3 of your 3 look-alikes"));

    /* with 2 look-alikes (ties by customer order: p1, p2) z1 and z2 tie on similarity;
     * the one more customers buy wins (z1: 2 buyers) */
    o.lookalikes = 2;
    rebuild(&m, &h, &o);
    NEAR(onlyOffer(m, "t", 1, &a, "z1")->score, 0.5);
    /* a category needs min_lookalikes buying it */
    o.lookalikes = 3;
    o.min_lookalikes = 4;
    rebuild(&m, &h, &o);
    assert_int_equal(offersFor(m, "t", 1, 10, &a, &off), 0);

    /* with co-occurrence on, z1 is also bought_together (with x1: 2 of x1's 4 baskets,
     * 0.5); the better-scored kind stays, the item appears once */
    o.min_lookalikes = 2;
    o.min_pair_count = 2;
    rebuild(&m, &h, &o);
    assert_int_equal(onlyOffer(m, "t", 1, &a, "z1")->kind, LY_OFFER_NEW_CATEGORY);
    ly_offers_model_free(m);
    ly_arena_free(&a);
}

/* ---------------------------------------------------------------------------------------
 * upgrade
 * ------------------------------------------------------------------------------------- */

static void test_upgrade(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    /* u pays 100 for tea. t2 150 (2 buyers), t3 300 (3 buyers), t4 500 (4 buyers, more
     * than 400% of 100), t5 105 (4 buyers, less than 110%). */
    add(&h, "u", 0, "t1/Tea/100");
    add(&h, "u", 5, "t1/Tea/100");
    add(&h, "c1", 0, "t2/Tea/150 t3/Tea/300");
    add(&h, "c2", 0, "t2/Tea/150 t3/Tea/300");
    add(&h, "c3", 0, "t3/Tea/300");
    for (int i = 4; i <= 7; i++) {
        char k[4] = {'c', (char)('0' + i), 0, 0};
        add(&h, k, 0, "t4/Tea/500 t5/Tea/105");
    }
    ly_offers_options o;
    quiet(&o);
    o.min_pair_count = 100;
    o.min_buyers = 2;
    ly_offers_model *m = build(&h, &o);
    ly_arena a = {0};
    const ly_offer *one = onlyOffer(m, "u", 10, &a, "t3");
    assert_int_equal(one->kind, LY_OFFER_UPGRADE);
    NEAR(one->score, 3.0 / 8.0); /* 3 of the category's 8 buyers */
    assert_int_equal(one->price, 300);
    assert_int_equal(one->usual_price, 100);
    assert_int_equal(one->category_buyers, 8);
    assert_int_equal(one->sku_buyers, 3);
    assert_non_null(strstr(one->reason, "3.00 a unit against the 1.00"));

    /* allowing 5x makes t4 (the most bought) the step up; t3 needs 3 buyers no more */
    o.upgrade_max_pct = 500;
    rebuild(&m, &h, &o);
    NEAR(onlyOffer(m, "u", 10, &a, "t4")->score, 4.0 / 8.0);

    /* c1 pays (150 + 300) / 2 = 225 on average: t4 (500 = 222%) is the step up */
    o.upgrade_max_pct = 400;
    rebuild(&m, &h, &o);
    assert_int_equal(onlyOffer(m, "c1", 10, &a, "t4")->usual_price, 225);
    ly_offers_model_free(m);
    ly_arena_free(&a);
}

/* ---------------------------------------------------------------------------------------
 * Determinism
 * ------------------------------------------------------------------------------------- */

static char *offersText(const hist *h, const ly_offers_options *o, const char *key, int64_t day)
{
    ly_offers_model *m = build(h, o);
    ly_arena a = {0};
    ly_offer *off;
    size_t n = offersFor(m, key, day, 10, &a, &off);
    json_t *j = ly_offers_json(0, day, m, off, n);
    assert_non_null(j);
    json_object_del(j, "model"); /* holds the build time */
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    ly_arena_free(&a);
    ly_offers_model_free(m);
    return s;
}

static void test_deterministic_ties(void **state)
{
    (void)state;
    /* A goes with N, M and K equally (each with A in 1 of A's 3 baskets): the ties come out
     * in SKU order whatever the order the SKUs were first seen in */
    static hist h1, h2;
    memset(&h1, 0, sizeof h1);
    memset(&h2, 0, sizeof h2);
    add(&h1, "a", 0, "A/-/1 N/-/1");
    add(&h1, "b", 0, "A/-/1 M/-/1");
    add(&h1, "c", 0, "A/-/1 K/-/1");
    add(&h1, "z", 9, "A/-/1");
    add(&h2, "c", 0, "K/-/1 A/-/1");
    add(&h2, "b", 0, "M/-/1 A/-/1");
    add(&h2, "a", 0, "N/-/1 A/-/1");
    add(&h2, "z", 9, "A/-/1");
    ly_offers_options o;
    quiet(&o);
    o.min_pair_count = 1;
    o.min_lift = 0; /* each pair is exactly at chance: lift 1 */
    ly_offers_model *m = build(&h1, &o);
    ly_arena a = {0};
    ly_offer *off;
    size_t n = offersFor(m, "z", 50, 10, &a, &off);
    assert_int_equal(n, 3);
    assert_string_equal(off[0].sku, "K");
    assert_string_equal(off[1].sku, "M");
    assert_string_equal(off[2].sku, "N");
    ly_offers_model_free(m);
    ly_arena_free(&a);
    char *s1 = offersText(&h1, &o, "z", 50), *s2 = offersText(&h2, &o, "z", 50);
    char *s3 = offersText(&h1, &o, "z", 50);
    assert_string_equal(s1, s2);
    assert_string_equal(s1, s3);
    free(s1);
    free(s2);
    free(s3);
}

static void test_unsorted_input(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    add(&h, "a", 5, "A/-/1");
    add(&h, "a", 3, "B/-/1");
    ly_source src;
    assert_true(ly_an_array_source(h.r, h.nr, &src));
    ly_offers_model *m = NULL;
    ly_error err;
    assert_int_equal(ly_offers_model_build(&src, NULL, &m, &err), LY_EINVAL);
    assert_string_equal(err.code, "unsorted_input");
    assert_string_equal(err.field, "line 2");
    assert_null(m);
    src.close(src.ctx);
}

/* ---------------------------------------------------------------------------------------
 * The evaluation's arithmetic
 * ------------------------------------------------------------------------------------- */

static void tinySplit(hist *h)
{
    /* before day 10 */
    add(h, "a", 0, "P/-/1 Q/-/1");
    add(h, "b", 0, "P/-/1 Q/-/1");
    add(h, "b", 1, "R/-/1");
    add(h, "c", 0, "P/-/1 R/-/1");
    add(h, "d", 0, "S/-/1");
    /* after */
    add(h, "a", 12, "R/-/1");
    add(h, "b", 11, "S/-/1");
    add(h, "c", 15, "Q/-/1");
    add(h, "e", 12, "P/-/1"); /* cold: nothing before */
}

static ly_offers_eval evalTiny(int horizon)
{
    static hist h;
    memset(&h, 0, sizeof h);
    tinySplit(&h);
    ly_offers_eval_options eo = {.split_day = 10, .horizon_days = horizon, .k = 10};
    quiet(&eo.model);
    eo.model.min_pair_count = 1;
    eo.model.min_lift = 0;
    ly_source src;
    assert_true(ly_an_array_source(h.r, h.nr, &src));
    ly_offers_eval ev;
    ly_error err;
    ly_err rc = ly_offers_evaluate(&src, &eo, &ev, &err);
    if (rc) fail_msg("evaluate: %s (%s)", err.message, err.code);
    src.close(src.ctx);
    return ev;
}

static void test_eval_arithmetic(void **state)
{
    (void)state;
    /* Five baskets before the split: P-Q twice (lift 2*5/(3*2)), P-R once. Everything was
     * bought within 30 days of the split, so nobody is offered what they bought.
     *   a (P, Q): offered R (P => R, 1/3); buys R: hit.
     *   b (P, Q, R): every partner bought: no offers; buys S.
     *   c (P, R): offered Q (P => Q, 2/3); buys Q: hit.
     * Popularity P(3 buyers), Q(2), R(2), S(1), without what each bought:
     *   a: R S -> hit; b: S -> hit; c: Q S -> hit. */
    ly_offers_eval ev = evalTiny(0);
    assert_int_equal(ev.test_receipts, 4);
    assert_int_equal(ev.cold_customers, 1);
    assert_int_equal(ev.test_customers, 4);
    assert_int_equal(ev.offers.customers, 3);
    assert_int_equal(ev.offers.offers, 2);
    assert_int_equal(ev.offers.offers_bought, 2);
    assert_int_equal(ev.offers.customers_hit, 2);
    assert_int_equal(ev.customers_without_offers, 1);
    assert_int_equal(ev.popularity.customers, 3);
    assert_int_equal(ev.popularity.offers, 5);
    assert_int_equal(ev.popularity.offers_bought, 3);
    assert_int_equal(ev.popularity.customers_hit, 3);
    assert_int_equal(ev.popularity_eligible.offers, 5);
    assert_int_equal(ev.popularity_eligible.customers_hit, 3);
    const ly_offers_eval_figures *bt = &ev.by_kind[LY_OFFER_BOUGHT_TOGETHER];
    assert_int_equal(bt->customers, 2);
    assert_int_equal(bt->offers, 2);
    assert_int_equal(bt->offers_bought, 2);
    assert_int_equal(bt->customers_hit, 2);
    assert_int_equal(bt->baseline_hit, 2);
    assert_int_equal(bt->baseline_offers, 4);
    assert_int_equal(bt->baseline_bought, 2);
    assert_int_equal(ev.by_kind[LY_OFFER_UPGRADE].customers, 0);

    json_t *j = ly_offers_eval_json(&ev);
    assert_non_null(j);
    NEAR(json_real_value(json_object_get(json_object_get(j, "offers"), "hit_rate")), 0.666667);
    NEAR(json_real_value(json_object_get(json_object_get(j, "popularity"), "hit_rate")), 1.0);
    NEAR(json_real_value(json_object_get(json_object_get(j, "popularity"), "precision")), 0.6);
    NEAR(json_real_value(json_object_get(j, "lift")), 0.6667);
    json_t *k = json_object_get(json_object_get(j, "by_kind"), "bought_together");
    NEAR(json_real_value(json_object_get(k, "precision_lift")), 2.0); /* 2/2 against 2/4 */
    assert_true(json_is_null(json_object_get(json_object_get(json_object_get(j, "by_kind"),
                                                             "upgrade"), "hit_rate")));
    json_decref(j);

    /* a 3-day horizon drops c's purchase on day 15: a hit, b a miss for the offers; both
     * hits for popularity */
    ev = evalTiny(3);
    assert_int_equal(ev.test_receipts, 3);
    assert_int_equal(ev.offers.customers, 2);
    assert_int_equal(ev.offers.customers_hit, 1);
    assert_int_equal(ev.popularity.customers_hit, 2);
}

/* ---------------------------------------------------------------------------------------
 * Simulated data with planted combos
 * ------------------------------------------------------------------------------------- */

typedef struct simBuf {
    const ly_sim_catalog *cat;
    ly_an_receipt *r;
    size_t n, cap;
    ly_arena a;
} simBuf;

static int keepSim(void *ctx, const ly_sim_receipt *sr)
{
    simBuf *b = ctx;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4096;
        b->r = realloc(b->r, b->cap * sizeof *b->r);
        if (!b->r) return 1;
    }
    ly_an_receipt *r = &b->r[b->n++];
    memset(r, 0, sizeof *r);
    r->receipt_id = ly_arena_strdup(&b->a, sr->id);
    r->customer = sr->customer ? ly_arena_strdup(&b->a, sr->customer->external_id) : NULL;
    r->time = sr->time;
    r->utc_offset_min = 180;
    r->is_return = sr->kind == LY_SIM_RETURN;
    ly_an_line *l = ly_arena_alloc(&b->a, (size_t)(sr->n_lines ? sr->n_lines : 1) * sizeof *l);
    if (!l) return 1;
    for (int i = 0; i < sr->n_lines; i++) {
        l[i].sku = sr->lines[i].sku->code; /* the catalogue outlives the buffer's use */
        l[i].category = b->cat->categories[sr->lines[i].sku->category].name;
        l[i].qty = sr->lines[i].qty;
        l[i].price = sr->lines[i].sku->price;
        l[i].amount = sr->lines[i].amount;
        l[i].cost = -1;
        r->total += l[i].amount;
    }
    r->lines = l;
    r->n_lines = (size_t)sr->n_lines;
    return 0;
}

/* Simulates customers under seed into b (receipts in time order); the simulation is
 * returned open, since b's lines point into its catalogue. */
static ly_sim *simCollect(uint64_t seed, int customers, simBuf *b)
{
    ly_sim_config cfg;
    ly_sim_config_default(&cfg);
    cfg.seed = seed;
    cfg.customers = customers;
    ly_sim *sim;
    ly_error err;
    assert_int_equal(ly_sim_open(&cfg, &sim, &err), LY_OK);
    *b = (simBuf){.cat = ly_sim_catalog_get(sim)};
    assert_int_equal(ly_sim_run(sim, keepSim, NULL, b, &err), 0);
    return sim;
}

static void simBufFree(simBuf *b)
{
    free(b->r);
    ly_arena_free(&b->a);
}

static ly_offers_eval evalSim(uint64_t seed, ly_sim **keep_sim)
{
    simBuf b;
    ly_sim *sim = simCollect(seed, 1500, &b);
    ly_error err;
    ly_offers_eval_options eo = {.k = 10};
    ly_offers_options_default(&eo.model);
    assert_true(ly_date_parse("2024-10-01", &eo.split_day));
    ly_source src;
    assert_true(ly_an_array_source(b.r, b.n, &src));
    ly_offers_eval ev;
    ly_err rc = ly_offers_evaluate(&src, &eo, &ev, &err);
    if (rc) fail_msg("evaluate: %s (%s)", err.message, err.code);
    src.close(src.ctx);
    simBufFree(&b);
    *keep_sim = sim;
    return ev;
}

static void test_beats_popularity_on_simulated_data(void **state)
{
    (void)state;
    /* Measured (1500 customers, split 2024-10-01, k 10): seed 11: offers 0.8439 against
     * popularity 0.6825 (570 customers); seed 12: 0.8439 against 0.6279 (602). The margin
     * asserted, 0.10, is under both measured margins (0.16 and 0.22). */
    for (uint64_t seed = 11; seed <= 12; seed++) {
        ly_sim *sim;
        ly_offers_eval ev = evalSim(seed, &sim);
        double ho = (double)ev.offers.customers_hit / (double)ev.offers.customers;
        double hp = (double)ev.popularity.customers_hit / (double)ev.popularity.customers;
        fprintf(stderr, "seed %llu: %lld customers: offers %.4f popularity %.4f\n",
                (unsigned long long)seed, (long long)ev.offers.customers, ho, hp);
        assert_true(ev.offers.customers > 400);
        assert_true(ho >= hp + 0.10);
        /* the planted combos are found: Cappuccino goes with the croissant */
        assert_true(ev.by_kind[LY_OFFER_BOUGHT_TOGETHER].customers > ev.offers.customers / 2);
        assert_true(ev.by_kind[LY_OFFER_UPGRADE].customers > 0);
        assert_true(ev.by_kind[LY_OFFER_NEW_CATEGORY].customers > 0);
        ly_sim_close(sim);
    }
}

/* The planted combo is a top partner: build on one seed and look at CAF-1-2's offers. */
static void test_planted_combo_partner(void **state)
{
    (void)state;
    simBuf b;
    ly_sim *sim = simCollect(5, 600, &b);
    ly_error err;
    /* a customer who has just bought only the cappuccino */
    const ly_sim_sku *caf = ly_sim_sku_find(sim, "CAF-1-2");
    assert_non_null(caf);
    ly_an_line line = {.sku = "CAF-1-2", .category = b.cat->categories[caf->category].name,
                       .qty = 1000, .price = caf->price, .amount = caf->price, .cost = -1};
    ly_an_receipt r = {.receipt_id = "probe", .customer = "probe", .time = b.r[b.n - 1].time,
                       .utc_offset_min = 180, .lines = &line, .n_lines = 1, .total = caf->price};
    ly_offers_builder *bl;
    assert_int_equal(ly_offers_builder_new(NULL, &bl, &err), LY_OK);
    for (size_t i = 0; i < b.n; i++) assert_int_equal(ly_offers_builder_add(bl, &b.r[i], &err), LY_OK);
    assert_int_equal(ly_offers_builder_add(bl, &r, &err), LY_OK);
    ly_offers_model *m;
    assert_int_equal(ly_offers_builder_finish(bl, &m, &err), LY_OK);
    ly_arena a = {0};
    ly_offer *off;
    size_t n = offersFor(m, "probe", simDay(r.time) + 1, 10, &a, &off);
    assert_true(n >= 1);
    assert_int_equal(off[0].kind, LY_OFFER_BOUGHT_TOGETHER);
    assert_string_equal(off[0].sku, "BAK-4-2");
    assert_true(off[0].lift > 3);
    ly_arena_free(&a);
    ly_offers_model_free(m);
    simBufFree(&b);
    ly_sim_close(sim);
}

/* ---------------------------------------------------------------------------------------
 * `loyal offers show` on a database (the store source and ly_offers_for_customer)
 * ------------------------------------------------------------------------------------- */

typedef struct cacheUse {
    ly_offers_cache *cache;
    ly_store *store;
    const ly_offers_model *got;
    ly_err rc;
} cacheUse;

static void *acquireOne(void *p)
{
    cacheUse *u = p;
    ly_error err;
    u->rc = ly_offers_cache_acquire(u->cache, u->store, &u->got, &err);
    return NULL;
}

/* The server's path: a cache built from the store on first use by whichever of several
 * threads comes first, the others waiting for it; every one gets the same model. */
static void cacheOnStore(const char *db)
{
    ly_store_options so = {.path = db, .sync = LY_SYNC_NORMAL};
    ly_store *store;
    ly_error err;
    assert_int_equal(ly_store_open(&so, &store, &err), LY_OK);
    ly_offers_cache *cache = ly_offers_cache_new(NULL, 0);
    assert_non_null(cache);
    cacheUse u[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        u[i] = (cacheUse){cache, store, NULL, LY_EINTERNAL};
        assert_int_equal(pthread_create(&th[i], NULL, acquireOne, &u[i]), 0);
    }
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(u[i].rc, LY_OK);
        assert_ptr_equal(u[i].got, u[0].got);
    }
    const ly_offers_model *m = u[0].got;
    ly_offers_stats st;
    ly_offers_model_stats(m, &st);
    assert_int_equal(st.customers, 200);
    ly_arena a = {0};
    ly_offer *off;
    size_t n;
    int64_t id;
    assert_int_equal(ly_offers_for_customer(store, m, 7, 5, &a, &off, &n, &id, &err), LY_OK);
    assert_int_equal(id, 7);
    assert_true(n >= 1 && n <= 5);
    assert_int_equal(ly_offers_for_customer(store, m, 7, 0, &a, &off, &n, &id, &err), LY_EINVAL);
    assert_string_equal(err.code, "invalid_limit");
    assert_int_equal(ly_offers_for_customer(store, m, 424242, 5, &a, &off, &n, &id, &err),
                     LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");
    ly_arena_free(&a);
    for (int i = 0; i < 4; i++) ly_offers_cache_release(cache, u[i].got);
    ly_offers_cache_free(cache);
    ly_store_close(store);
}

static void test_cli_show_on_database(void **state)
{
    (void)state;
    char *dir = tl_tempdir("offers");
    char *db = tl_join(dir, "t.db"), *prog = tl_join(dir, "program.json");
    tl_run r;
    tl_loyal(&r, NULL, "init", "--db", db, "--program", prog, "--no-keys", NULL);
    assert_int_equal(r.code, 0);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "simulate", "--customers", "200", "--seed", "3", "--db", db, "--program",
             prog, "--quiet", NULL);
    assert_int_equal(r.code, 0);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "offers", "show", "--db", db, "--customer", "7", "--limit", "5", NULL);
    if (r.code != 0) fail_msg("offers show: %s", r.err);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "customer_id")), 7);
    json_t *offers = json_object_get(j, "offers");
    assert_true(json_is_array(offers));
    assert_true(json_array_size(offers) >= 1 && json_array_size(offers) <= 5);
    json_t *o0 = json_array_get(offers, 0);
    assert_true(json_is_string(json_object_get(o0, "reason")));
    assert_true(json_is_string(json_object_get(o0, "sku")));
    assert_true(json_is_object(json_object_get(o0, "evidence")));
    json_decref(j);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "offers", "show", "--db", db, "--customer", "999999", NULL);
    assert_int_equal(r.code, 1); /* not found */
    assert_non_null(strstr(r.err, "customer_not_found"));
    tl_run_free(&r);
    tl_loyal(&r, NULL, "offers", "evaluate", "--db", db, "--split-date", "2024-10-01", "--quiet",
             NULL);
    assert_int_equal(r.code, 0);
    j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "format")), "loyal-offers-eval/1");
    json_decref(j);
    tl_run_free(&r);
    cacheOnStore(db);
    free(db);
    free(prog);
    tl_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bought_together),
        cmocka_unit_test(test_replenishment),
        cmocka_unit_test(test_new_category),
        cmocka_unit_test(test_upgrade),
        cmocka_unit_test(test_deterministic_ties),
        cmocka_unit_test(test_unsorted_input),
        cmocka_unit_test(test_eval_arithmetic),
        cmocka_unit_test(test_beats_popularity_on_simulated_data),
        cmocka_unit_test(test_planted_combo_partner),
        cmocka_unit_test(test_cli_show_on_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
