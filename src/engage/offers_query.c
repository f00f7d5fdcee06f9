/*
 * offers_query.c - answering with a personal-offers model (engage.h, "Personal offers"):
 * the three kinds of candidates for one customer (bought together with their recent items,
 * the top SKU of a category their look-alikes buy and they never did, a dearer SKU in a
 * category they buy), the just-bought rule, the deterministic merge; the endpoint's
 * function on the store, its JSON, and the model cache a server keeps.
 */
#include "engage/offers_internal.h"
#include "os/os.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ly__of_eligible(const ly_offers_model *m, const ly__ofcust *c, uint32_t item,
                     int64_t as_of_day)
{
    const ly__ofcitem *e = ly__of_citem(c, item);
    if (!e) return true;
    int64_t age = as_of_day - e->last_day;
    if (age >= m->opt.just_bought_days) return true;
    int32_t cycle = m->items[item].cycle;
    return cycle > 0 && age >= cycle;
}

/* A candidate offer with its evidence. */
typedef struct cand {
    uint32_t item;
    uint32_t rank;            /* the SKU's, for ties */
    ly_offer_kind kind;
    double score;
    uint32_t anchor;          /* bought_together */
    int64_t anchor_day;
    uint32_t together;
    double lift;
    uint32_t look, look_buy;  /* new_category */
    ly_money usual;           /* upgrade */
    uint32_t cat_buyers;
} cand;

typedef struct candSet {
    cand *v;
    size_t n, cap;
    int32_t *best;            /* per item: index in v, or -1 */
} candSet;

/* Adds c, or replaces the item's candidate when c scores strictly higher (kinds are added
 * in their order, so a tie keeps the earlier kind). */
static bool candAdd(candSet *s, const cand *c)
{
    int32_t at = s->best[c->item];
    if (at >= 0) {
        if (c->score > s->v[at].score) s->v[at] = *c;
        return true;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        cand *p = realloc(s->v, cap * sizeof *p);
        if (!p) return false;
        s->v = p;
        s->cap = cap;
    }
    s->best[c->item] = (int32_t)s->n;
    s->v[s->n++] = *c;
    return true;
}

typedef struct anchorKey {
    int64_t day;
    uint32_t receipts, rank, item;
} anchorKey;

static int cmpAnchor(const void *pa, const void *pb)
{
    const anchorKey *x = pa, *y = pb;
    if (x->day != y->day) return x->day > y->day ? -1 : 1;
    if (x->receipts != y->receipts) return x->receipts > y->receipts ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* bought_together: partners of the customer's `anchors` most recent SKUs; a partner's
 * score is the best confidence over the anchors (the most recent anchor on ties). */
static bool boughtTogether(const ly_offers_model *m, const ly__ofcust *c, int64_t as_of,
                           candSet *s)
{
    if (!c->n_items || !m->opt.anchors) return true;
    anchorKey *k = malloc(c->n_items * sizeof *k);
    if (!k) return false;
    for (uint32_t i = 0; i < c->n_items; i++)
        k[i] = (anchorKey){c->items[i].last_day, c->items[i].receipts,
                           m->items[c->items[i].item].rank, c->items[i].item};
    qsort(k, c->n_items, sizeof *k, cmpAnchor);
    size_t na = c->n_items < m->opt.anchors ? c->n_items : m->opt.anchors;
    bool ok = true;
    for (size_t a = 0; a < na && ok; a++) {
        const ly__ofitem *it = &m->items[k[a].item];
        for (uint32_t j = 0; j < it->n_nb && ok; j++) {
            const ly__ofnb *nb = &it->nb[j];
            if (!ly__of_eligible(m, c, nb->item, as_of)) continue;
            cand cd = {.item = nb->item, .rank = nb->rank, .kind = LY_OFFER_BOUGHT_TOGETHER, .score = nb->conf,
                       .anchor = k[a].item, .anchor_day = k[a].day, .together = nb->count,
                       .lift = nb->lift};
            ok = candAdd(s, &cd);
        }
    }
    free(k);
    return ok;
}

/* The cosine of y's profile with the query's, spread out densely in q (profiles are
 * L2-normalised): one multiplication per category of y. */
static double dot(const double *q, const ly__ofcust *y)
{
    double d = 0;
    for (uint32_t j = 0; j < y->n_cats; j++) d += q[y->cats[j]] * y->w[j];
    return d;
}

typedef struct peer {
    double sim;
    uint32_t idx;
} peer;

/* new_category: the customer's look-alikes (the `lookalikes` nearest by cosine over
 * category spend shares, ties to the customer met first); for each category the customer
 * never bought and at least min_lookalikes of them buy, the SKU with the most look-alike
 * similarity behind it. Score: that similarity / all look-alikes' similarity. */
static bool newCategory(const ly_offers_model *m, uint32_t ci, int64_t as_of, candSet *s)
{
    const ly__ofcust *c = &m->custs[ci];
    uint32_t L = m->opt.lookalikes;
    if (!c->n_cats || !L || !m->n_cats) return true;
    peer *top = malloc(L * sizeof *top);
    double *W = calloc(m->n_items, sizeof *W);
    uint32_t *catCount = calloc(m->n_cats, sizeof *catCount);
    uint32_t *catStamp = calloc(m->n_cats, sizeof *catStamp);
    uint8_t *mine = calloc(m->n_cats, 1);
    int64_t *bestOf = malloc(m->n_cats * sizeof *bestOf);
    double *q = calloc(m->n_cats, sizeof *q);
    uint32_t *touched = NULL;
    size_t n_touched = 0, touched_cap = 0;
    bool ok = top && W && catCount && catStamp && mine && bestOf && q;
    size_t nt = 0;
    for (uint32_t g = 0; ok && g < c->n_cats; g++) q[c->cats[g]] = c->w[g];
    for (uint32_t j = 0; ok && j < m->n_custs; j++) {
        if (j == ci || !m->custs[j].n_cats) continue;
        double sim = dot(q, &m->custs[j]);
        if (!(sim > 0)) continue;
        if (nt == L && !(sim > top[L - 1].sim)) continue;
        size_t at = nt < L ? nt++ : L - 1;
        while (at > 0 && top[at - 1].sim < sim) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (peer){sim, j};
    }
    double total = 0;
    for (size_t t = 0; t < nt; t++) total += top[t].sim;
    for (uint32_t g = 0; ok && g < c->n_cats; g++) mine[c->cats[g]] = 1;
    for (size_t t = 0; ok && t < nt; t++) {
        const ly__ofcust *p = &m->custs[top[t].idx];
        for (uint32_t i = 0; ok && i < p->n_items; i++) {
            uint32_t item = p->items[i].item;
            int32_t g = m->items[item].category;
            if (g < 0 || mine[g]) continue;
            if (W[item] == 0) {
                if (n_touched == touched_cap) {
                    touched_cap = touched_cap ? touched_cap * 2 : 64;
                    uint32_t *grown = realloc(touched, touched_cap * sizeof *grown);
                    if (!grown) {
                        ok = false;
                        break;
                    }
                    touched = grown;
                }
                touched[n_touched++] = item;
            }
            W[item] += top[t].sim;
            if (catStamp[g] != t + 1) {
                catStamp[g] = (uint32_t)t + 1;
                catCount[g]++;
            }
        }
    }
    for (size_t g = 0; ok && g < m->n_cats; g++) bestOf[g] = -1;
    for (size_t i = 0; ok && i < n_touched; i++) {
        uint32_t item = touched[i];
        int32_t g = m->items[item].category;
        if (catCount[g] < m->opt.min_lookalikes) continue;
        if (bestOf[g] < 0) {
            bestOf[g] = item;
            continue;
        }
        const ly__ofitem *a = &m->items[item], *b = &m->items[bestOf[g]];
        if (W[item] > W[bestOf[g]] ||
            (W[item] == W[bestOf[g]] && (a->buyers > b->buyers ||
                                         (a->buyers == b->buyers && a->rank < b->rank))))
            bestOf[g] = item;
    }
    for (size_t g = 0; ok && g < m->n_cats; g++) {
        if (bestOf[g] < 0) continue;
        uint32_t item = (uint32_t)bestOf[g];
        if (!ly__of_eligible(m, c, item, as_of)) continue;
        cand cd = {.item = item, .rank = m->items[item].rank, .kind = LY_OFFER_NEW_CATEGORY, .score = W[item] / total,
                   .look = (uint32_t)nt, .look_buy = catCount[g]};
        ok = candAdd(s, &cd);
    }
    free(top);
    free(W);
    free(catCount);
    free(catStamp);
    free(mine);
    free(bestOf);
    free(q);
    free(touched);
    return ok;
}

/* upgrade: per category the customer buys, the most bought SKU (by customers) they never
 * bought whose price is upgrade_min_pct..upgrade_max_pct of their usual price there (the
 * mean unit price of their lines in it). Score: its buyers / the category's buyers. */
static bool upgrade(const ly_offers_model *m, const ly__ofcust *c, int64_t as_of, candSet *s)
{
    if (!c->n_cats) return true;
    int64_t *psum = calloc(m->n_cats, sizeof *psum), *plines = calloc(m->n_cats, sizeof *plines);
    bool ok = psum && plines;
    for (uint32_t i = 0; ok && i < c->n_items; i++) {
        int32_t g = m->items[c->items[i].item].category;
        if (g < 0) continue;
        psum[g] += c->items[i].price_sum;
        plines[g] += c->items[i].lines;
    }
    for (uint32_t gi = 0; ok && gi < c->n_cats; gi++) {
        uint32_t g = c->cats[gi];
        int64_t usual;
        if (plines[g] <= 0 || psum[g] <= 0 ||
            !ly_muldiv(psum[g], 1, plines[g], LY_ROUND_HALF_UP, &usual) || usual <= 0)
            continue;
        const ly__ofcat *cat = &m->cats[g];
        for (uint32_t j = 0; j < cat->n_skus; j++) {
            uint32_t item = cat->skus[j];
            const ly__ofitem *it = &m->items[item];
            if (it->buyers < m->opt.min_buyers) break; /* sorted by buyers */
            if (ly__of_citem(c, item)) continue;
            if (it->price * 100 < usual * m->opt.upgrade_min_pct ||
                it->price * 100 > usual * m->opt.upgrade_max_pct)
                continue;
            if (!ly__of_eligible(m, c, item, as_of)) continue;
            cand cd = {.item = item, .rank = it->rank, .kind = LY_OFFER_UPGRADE,
                       .score = cat->buyers ? (double)it->buyers / cat->buyers : 0,
                       .usual = usual, .cat_buyers = cat->buyers};
            ok = candAdd(s, &cd);
            break;
        }
    }
    free(psum);
    free(plines);
    return ok;
}

static int cmpCand(const void *pa, const void *pb)
{
    const cand *x = pa, *y = pb;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

static void money(const ly_offers_model *m, ly_money v, char *buf, size_t size)
{
    ly_decimal_format(v, m->opt.minor_units, buf, size);
}

static void dayText(int64_t day, char *buf, size_t size)
{
    ly_date_format(day, buf, size);
}

/* Fills one offer from a candidate; false on OOM. */
static bool fillOffer(const ly_offers_model *m, const cand *cd, ly_arena *a, ly_offer *o)
{
    const ly__ofitem *it = &m->items[cd->item];
    memset(o, 0, sizeof *o);
    o->kind = cd->kind;
    o->sku = it->sku;
    o->brand = it->brand;
    o->category = it->category >= 0 ? m->cats[it->category].name : NULL;
    o->name = it->brand ? ly_arena_printf(a, "%s %s", it->brand, it->sku) : it->sku;
    o->price = it->price;
    o->score = cd->score;
    o->sku_buyers = it->buyers;
    char p1[40], p2[40], day[16];
    switch (cd->kind) {
    case LY_OFFER_BOUGHT_TOGETHER: {
        const ly__ofitem *an = &m->items[cd->anchor];
        o->anchor_sku = an->sku;
        o->anchor_day = cd->anchor_day;
        o->together = cd->together;
        o->anchor_baskets = an->baskets;
        o->lift = cd->lift;
        dayText(cd->anchor_day, day, sizeof day);
        o->reason = ly_arena_printf(
            a, "Often bought with %s, which you bought on %s: %u of the %u baskets with %s "
               "also held it (%.0f%%, %.1f times chance)",
            an->sku, day, cd->together, an->baskets, an->sku, 100.0 * cd->score, cd->lift);
        break;
    }
    case LY_OFFER_NEW_CATEGORY:
        o->lookalikes = cd->look;
        o->lookalikes_buying = cd->look_buy;
        o->reason = ly_arena_printf(
            a, "%u of your %u look-alikes (customers who buy the same kinds of things) buy %s, "
               "which you have never bought; this is the one they buy most",
            cd->look_buy, cd->look, o->category);
        break;
    case LY_OFFER_UPGRADE:
        o->usual_price = cd->usual;
        o->category_buyers = cd->cat_buyers;
        money(m, it->price, p1, sizeof p1);
        money(m, cd->usual, p2, sizeof p2);
        o->reason = ly_arena_printf(
            a, "A step up in %s: %s a unit against the %s you usually pay there; %u of the "
               "category's %u buyers take it",
            o->category, p1, p2, it->buyers, cd->cat_buyers);
        break;
    default: break;
    }
    return o->name && o->reason;
}

ly_err ly__offers_compute(const ly_offers_model *m, uint32_t ci, int64_t as_of_day, size_t k,
                          ly_arena *a, ly_offer **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    if (!k || ci >= m->n_custs || !m->n_items) return LY_OK;
    const ly__ofcust *c = &m->custs[ci];
    candSet s = {0};
    s.best = malloc(m->n_items * sizeof *s.best);
    bool ok = s.best != NULL;
    if (ok) {
        for (size_t i = 0; i < m->n_items; i++) s.best[i] = -1;
        ok = boughtTogether(m, c, as_of_day, &s) && newCategory(m, ci, as_of_day, &s) &&
             upgrade(m, c, as_of_day, &s);
    }
    if (ok && s.n) {
        qsort(s.v, s.n, sizeof *s.v, cmpCand);
        size_t want = s.n < k ? s.n : k;
        ly_offer *o = ly_arena_alloc(a, want * sizeof *o);
        ok = o != NULL;
        uint32_t per[LY_OFFER_KIND_COUNT] = {0};
        size_t got = 0;
        for (size_t i = 0; ok && i < s.n && got < want; i++) {
            if (m->opt.max_per_kind && per[s.v[i].kind] >= m->opt.max_per_kind) continue;
            per[s.v[i].kind]++;
            ok = fillOffer(m, &s.v[i], a, &o[got++]);
        }
        if (ok) {
            *out = o;
            *n = got;
        }
    }
    free(s.v);
    free(s.best);
    if (!ok) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    return LY_OK;
}

ly_err ly_offers_for_key(const ly_offers_model *m, const char *customer_key, int64_t as_of_day,
                         size_t k, ly_arena *a, ly_offer **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    uint32_t ci;
    if (!customer_key || !ly__ofmap_find(&m->cust_map, customer_key, &ci)) return LY_OK;
    return ly__offers_compute(m, ci, as_of_day, k, a, out, n, err);
}

ly_err ly_offers_for_customer(ly_store *s, const ly_offers_model *m, int64_t customer_id,
                              size_t k, ly_arena *a, ly_offer **out, size_t *n,
                              int64_t *customer_out, ly_error *err)
{
    *out = NULL;
    *n = 0;
    if (k < 1 || k > 100)
        return ly_error_set(err, LY_EINVAL, "invalid_limit", "limit", "limit must be 1..100");
    ly_db *db = ly_store_reader(s, err);
    if (!db) return LY_EIO;
    int64_t id = customer_id;
    for (int hop = 0; hop < 16; hop++) { /* a merged profile answers with its successor */
        ly_customer c;
        ly_err rc = ly_db_customer_get(db, id, a, &c, err);
        if (rc) return rc;
        if (!c.merged_into) break;
        id = c.merged_into;
    }
    if (customer_out) *customer_out = id;
    char key[24];
    snprintf(key, sizeof key, "%" PRId64, id);
    return ly_offers_for_key(m, key, ly_offers_today(m), k, a, out, n, err);
}

int64_t ly_offers_today(const ly_offers_model *m)
{
    int64_t today = ly__of_day(ly_os_now(), 0);
    return m->stats.last_day >= today ? m->stats.last_day + 1 : today;
}

static json_t *dateOrNull(int64_t day)
{
    if (day < 0) return json_null();
    char buf[16];
    dayText(day, buf, sizeof buf);
    return json_string(buf);
}

static json_t *strOrNull(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Scores and ratios to 4 decimals, so the JSON stays readable. */
static json_t *ratio(double x)
{
    return isfinite(x) ? json_real(round(x * 10000) / 10000) : json_null();
}

json_t *ly_offers_json(int64_t customer_id, int64_t as_of_day, const ly_offers_model *m,
                       const ly_offer *offers, size_t n)
{
    json_t *root = json_object(), *arr = json_array(), *model = json_object();
    if (!root || !arr || !model) goto fail;
    char built[40];
    ly_time_format(m->stats.built_at, 0, built, sizeof built);
    json_object_set_new(root, "customer_id", json_integer(customer_id));
    json_object_set_new(root, "as_of", dateOrNull(as_of_day));
    json_object_set_new(model, "built_at", json_string(built));
    json_object_set_new(model, "last_day", dateOrNull(m->stats.last_day));
    json_object_set_new(model, "customers", json_integer(m->stats.customers));
    json_object_set_new(model, "skus", json_integer(m->stats.skus));
    json_object_set_new(root, "model", model);
    model = NULL;
    for (size_t i = 0; i < n; i++) {
        const ly_offer *o = &offers[i];
        json_t *j = json_object(), *ev = json_object();
        if (!j || !ev) {
            json_decref(j);
            json_decref(ev);
            goto fail;
        }
        json_object_set_new(j, "kind", json_string(ly_offer_kind_name(o->kind)));
        json_object_set_new(j, "sku", json_string(o->sku));
        json_object_set_new(j, "name", json_string(o->name));
        json_object_set_new(j, "category", strOrNull(o->category));
        json_object_set_new(j, "brand", strOrNull(o->brand));
        json_object_set_new(j, "price", json_integer(o->price));
        json_object_set_new(j, "score", ratio(o->score));
        json_object_set_new(j, "reason", json_string(o->reason));
        switch (o->kind) {
        case LY_OFFER_BOUGHT_TOGETHER:
            json_object_set_new(ev, "with_sku", json_string(o->anchor_sku));
            json_object_set_new(ev, "with_last_bought", dateOrNull(o->anchor_day));
            json_object_set_new(ev, "baskets_with_both", json_integer(o->together));
            json_object_set_new(ev, "baskets_with_it", json_integer(o->anchor_baskets));
            json_object_set_new(ev, "lift", ratio(o->lift));
            break;
        case LY_OFFER_NEW_CATEGORY:
            json_object_set_new(ev, "lookalikes", json_integer(o->lookalikes));
            json_object_set_new(ev, "lookalikes_buying_category", json_integer(o->lookalikes_buying));
            json_object_set_new(ev, "sku_buyers", json_integer(o->sku_buyers));
            break;
        case LY_OFFER_UPGRADE:
            json_object_set_new(ev, "usual_price", json_integer(o->usual_price));
            json_object_set_new(ev, "category_buyers", json_integer(o->category_buyers));
            json_object_set_new(ev, "sku_buyers", json_integer(o->sku_buyers));
            break;
        default: break;
        }
        /* The preference that raised it (offers_prefs.c), when one did. */
        if (o->preference) json_object_set_new(ev, "preference", ly_offers_preference_json(o));
        json_object_set_new(j, "evidence", ev);
        if (json_array_append_new(arr, j)) goto fail;
    }
    json_object_set_new(root, "offers", arr);
    return root;
fail:
    json_decref(root);
    json_decref(arr);
    json_decref(model);
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------------------- */

typedef struct held {
    ly_offers_model *m;
    int refs;
    struct held *next;
} held;

struct ly_offers_cache {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ly_offers_options opt;
    int64_t max_age_s;
    held *cur;       /* the model handed out */
    held *retired;   /* older models still held by someone */
    bool building;
};

ly_offers_cache *ly_offers_cache_new(const ly_offers_options *o, int64_t max_age_s)
{
    ly_offers_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (o) c->opt = *o;
    else ly_offers_options_default(&c->opt);
    c->opt.as_of_set = false;
    c->max_age_s = max_age_s;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    return c;
}

void ly_offers_cache_free(ly_offers_cache *c)
{
    if (!c) return;
    held *h = c->cur;
    if (h) h->next = c->retired;
    else h = c->retired;
    while (h) {
        held *next = h->next;
        ly_offers_model_free(h->m);
        free(h);
        h = next;
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static bool fresh(const ly_offers_cache *c)
{
    return c->cur && (c->max_age_s <= 0 || ly_os_now() - c->cur->m->stats.built_at < c->max_age_s);
}

ly_err ly_offers_cache_acquire(ly_offers_cache *c, ly_store *s, const ly_offers_model **out,
                               ly_error *err)
{
    *out = NULL;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->cur && (fresh(c) || c->building)) {
            c->cur->refs++;
            *out = c->cur->m;
            pthread_mutex_unlock(&c->mu);
            return LY_OK;
        }
        if (!c->building) break;
        pthread_cond_wait(&c->cv, &c->mu); /* the first build: wait for it */
    }
    c->building = true;
    pthread_mutex_unlock(&c->mu);

    ly_source src = {0};
    ly_offers_model *m = NULL;
    ly_err rc = ly_store_source_open(s, &src, err);
    if (!rc) {
        rc = ly_offers_model_build(&src, &c->opt, &m, err);
        src.close(src.ctx);
    }
    held *h = NULL;
    if (!rc && !(h = calloc(1, sizeof *h))) {
        ly_offers_model_free(m);
        rc = ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }

    pthread_mutex_lock(&c->mu);
    c->building = false;
    if (!rc) {
        h->m = m;
        if (c->cur) {
            if (c->cur->refs == 0) {
                ly_offers_model_free(c->cur->m);
                free(c->cur);
            } else {
                c->cur->next = c->retired;
                c->retired = c->cur;
            }
        }
        c->cur = h;
    }
    if (c->cur) { /* a failed rebuild goes on with the old model */
        c->cur->refs++;
        *out = c->cur->m;
        rc = LY_OK;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void ly_offers_cache_release(ly_offers_cache *c, const ly_offers_model *m)
{
    if (!m) return;
    pthread_mutex_lock(&c->mu);
    if (c->cur && c->cur->m == m) {
        c->cur->refs--;
    } else {
        for (held **p = &c->retired; *p; p = &(*p)->next)
            if ((*p)->m == m) {
                held *h = *p;
                if (--h->refs == 0) {
                    *p = h->next;
                    ly_offers_model_free(h->m);
                    free(h);
                }
                break;
            }
    }
    pthread_mutex_unlock(&c->mu);
}
