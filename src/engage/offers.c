/*
 * offers.c - building the personal-offers model (engage.h, "Personal offers") in one pass
 * over receipts: per SKU its baskets, buyers, mean price and repeat-interval histogram;
 * per customer the SKUs they bought (receipts, last day, price paid, spend); a bounded
 * table of SKU pair counts. Finishing turns the pairs into the best partners of each SKU,
 * the histograms into replenishment cycles, and the customers' spend into category
 * profiles for the look-alike search.
 */
#include "engage/offers_internal.h"
#include "os/os.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *ly_offer_kind_name(ly_offer_kind k)
{
    switch (k) {
    case LY_OFFER_BOUGHT_TOGETHER: return "bought_together";
    case LY_OFFER_NEW_CATEGORY: return "new_category";
    case LY_OFFER_UPGRADE: return "upgrade";
    default: return "unknown";
    }
}

void ly_offers_options_default(ly_offers_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_basket = 40;
    o->max_pairs = 2000000;
    o->neighbours = 20;
    o->min_pair_count = 3;
    o->min_lift = 1.0;
    o->anchors = 10;
    o->just_bought_days = 30;
    o->replenish_min = 5;
    o->lookalikes = 20;
    o->min_lookalikes = 2;
    o->upgrade_min_pct = 110;
    o->upgrade_max_pct = 400;
    o->min_buyers = 3;
    o->minor_units = 2;
}

int64_t ly__of_day(ly_time t, int utc_offset_min)
{
    int64_t s = t + (int64_t)utc_offset_min * 60;
    return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

/* ---------------------------------------------------------------------------------------
 * The string map
 * ------------------------------------------------------------------------------------- */

static uint32_t fnv(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

bool ly__ofmap_find(const ly__ofmap *m, const char *key, uint32_t *idx)
{
    if (!m->cap) return false;
    uint32_t h = fnv(key);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        uint32_t s = m->slots[i];
        if (!s) return false;
        if (m->hashes[i] == h && strcmp(m->keys[s - 1], key) == 0) {
            *idx = s - 1;
            return true;
        }
    }
}

static bool mapGrow(ly__ofmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 256;
    uint32_t *slots = calloc(cap, sizeof *slots);
    uint32_t *hashes = calloc(cap, sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return false;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i]) continue;
        size_t j = m->hashes[i] & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
        hashes[j] = m->hashes[i];
    }
    free(m->slots);
    free(m->hashes);
    m->slots = slots;
    m->hashes = hashes;
    m->cap = cap;
    return true;
}

ly_err ly__ofmap_intern(ly__ofmap *m, ly_arena *a, const char *key, uint32_t *idx, bool *fresh,
                        ly_error *err)
{
    *fresh = false;
    if (ly__ofmap_find(m, key, idx)) return LY_OK;
    if (m->n >= UINT32_MAX - 1)
        return ly_error_set(err, LY_ETOOLARGE, "too_many_items", NULL, "more than 2^32 keys");
    if ((m->n + 1) * 2 > m->cap && !mapGrow(m)) goto oom;
    if (m->n == m->keys_cap) {
        size_t cap = m->keys_cap ? m->keys_cap * 2 : 256;
        const char **k = realloc(m->keys, cap * sizeof *k);
        if (!k) goto oom;
        m->keys = k;
        m->keys_cap = cap;
    }
    char *copy = ly_arena_strdup(a, key);
    if (!copy) goto oom;
    uint32_t h = fnv(key);
    size_t i = h & (m->cap - 1);
    while (m->slots[i]) i = (i + 1) & (m->cap - 1);
    m->keys[m->n] = copy;
    m->slots[i] = (uint32_t)m->n + 1;
    m->hashes[i] = h;
    *idx = (uint32_t)m->n++;
    *fresh = true;
    return LY_OK;
oom:
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

void ly__ofmap_free(ly__ofmap *m)
{
    free(m->slots);
    free(m->hashes);
    free(m->keys);
    memset(m, 0, sizeof *m);
}

static size_t mapBytes(const ly__ofmap *m)
{
    return m->cap * 8 + m->keys_cap * sizeof(char *);
}

/* ---------------------------------------------------------------------------------------
 * Repeat intervals: a 47-bucket histogram per SKU, exact to the day up to 28 days, to the
 * week up to 91, to 30 days up to 361, then one bucket.
 * ------------------------------------------------------------------------------------- */

#define IVH_BUCKETS 47

static int ivhBucket(int64_t d)
{
    if (d <= 28) return (int)d - 1;
    if (d <= 91) return 28 + (int)((d - 29) / 7);
    if (d <= 361) return 37 + (int)((d - 92) / 30);
    return 46;
}

/* The largest interval a bucket holds (the cycle it gives). */
static int32_t ivhUpper(int b)
{
    if (b < 28) return b + 1;
    if (b < 37) return 29 + (b - 28) * 7 + 6;
    if (b < 46) return 92 + (b - 37) * 30 + 29;
    return 365;
}

/* ---------------------------------------------------------------------------------------
 * The pair table: (a, b) with a < b -> baskets with both. Open addressing on a 64-bit key.
 * ------------------------------------------------------------------------------------- */

typedef struct pairSlot {
    uint64_t key; /* ((a + 1) << 32) | (b + 1); 0 = empty */
    uint32_t count;
} pairSlot;

struct ly_offers_builder {
    ly_offers_model *m;
    pairSlot *pairs;
    size_t pair_cap, n_pairs;
    uint32_t seq;          /* receipts seen, stamps "seen" fields */
    uint32_t *basket;
    size_t basket_cap;
    size_t peak;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static bool pairsGrow(ly_offers_builder *b)
{
    size_t cap = b->pair_cap ? b->pair_cap * 2 : 4096;
    pairSlot *p = calloc(cap, sizeof *p);
    if (!p) return false;
    for (size_t i = 0; i < b->pair_cap; i++) {
        if (!b->pairs[i].key) continue;
        size_t j = mix64(b->pairs[i].key) & (cap - 1);
        while (p[j].key) j = (j + 1) & (cap - 1);
        p[j] = b->pairs[i];
    }
    free(b->pairs);
    b->pairs = p;
    b->pair_cap = cap;
    return true;
}

/* Counts one co-occurrence; false when out of memory. */
static bool pairAdd(ly_offers_builder *b, uint32_t x, uint32_t y)
{
    uint64_t key = ((uint64_t)(x + 1) << 32) | (uint64_t)(y + 1);
    if (b->pair_cap) {
        size_t i = mix64(key) & (b->pair_cap - 1);
        for (; b->pairs[i].key; i = (i + 1) & (b->pair_cap - 1))
            if (b->pairs[i].key == key) {
                if (b->pairs[i].count < UINT32_MAX) b->pairs[i].count++;
                return true;
            }
    }
    if (b->n_pairs >= b->m->opt.max_pairs) {
        b->m->stats.pairs_dropped++;
        return true;
    }
    if ((b->n_pairs + 1) * 2 > b->pair_cap && !pairsGrow(b)) return false;
    size_t i = mix64(key) & (b->pair_cap - 1);
    while (b->pairs[i].key) i = (i + 1) & (b->pair_cap - 1);
    b->pairs[i].key = key;
    b->pairs[i].count = 1;
    b->n_pairs++;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Building
 * ------------------------------------------------------------------------------------- */

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

ly_err ly_offers_builder_new(const ly_offers_options *o, ly_offers_builder **out, ly_error *err)
{
    *out = NULL;
    ly_offers_builder *b = calloc(1, sizeof *b);
    ly_offers_model *m = calloc(1, sizeof *m);
    if (!b || !m) {
        free(b);
        free(m);
        return oom(err);
    }
    if (o) m->opt = *o;
    else ly_offers_options_default(&m->opt);
    m->stats.first_day = m->stats.last_day = -1;
    b->m = m;
    *out = b;
    return LY_OK;
}

const ly__ofcitem *ly__of_citem(const ly__ofcust *c, uint32_t item)
{
    size_t lo = 0, hi = c->n_items;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->items[mid].item < item) lo = mid + 1;
        else hi = mid;
    }
    return lo < c->n_items && c->items[lo].item == item ? &c->items[lo] : NULL;
}

/* The customer's entry for item, inserted (keeping the order) when new. NULL on OOM. */
static ly__ofcitem *citemGet(ly__ofcust *c, uint32_t item, bool *fresh)
{
    size_t lo = 0, hi = c->n_items;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->items[mid].item < item) lo = mid + 1;
        else hi = mid;
    }
    *fresh = false;
    if (lo < c->n_items && c->items[lo].item == item) return &c->items[lo];
    if (c->n_items == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 8;
        ly__ofcitem *p = realloc(c->items, cap * sizeof *p);
        if (!p) return NULL;
        c->items = p;
        c->cap = cap;
    }
    memmove(c->items + lo + 1, c->items + lo, (c->n_items - lo) * sizeof *c->items);
    c->n_items++;
    memset(&c->items[lo], 0, sizeof c->items[lo]);
    c->items[lo].item = item;
    *fresh = true;
    return &c->items[lo];
}

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The item of a line (interned), with its category; false on error (err filled). */
static ly_err lineItem(ly_offers_builder *b, const ly_an_line *l, uint32_t *id, ly_error *err)
{
    ly_offers_model *m = b->m;
    bool fresh;
    ly_err rc = ly__ofmap_intern(&m->item_map, &m->arena, l->sku, id, &fresh, err);
    if (rc) return rc;
    if (fresh) {
        if (m->n_items % 256 == 0) {
            ly__ofitem *p = realloc(m->items, (m->n_items + 256) * sizeof *p);
            if (!p) return oom(err);
            m->items = p;
        }
        ly__ofitem *it = &m->items[m->n_items++];
        memset(it, 0, sizeof *it);
        it->sku = m->item_map.keys[*id];
        it->category = -1;
        it->cycle = -1;
    }
    ly__ofitem *it = &m->items[*id];
    if (it->category < 0) {
        const char *cat = l->category && l->category[0] ? l->category : NULL;
        char buf[64];
        if (!cat && m->opt.sku_prefix_category > 0) {
            size_t n = strlen(l->sku);
            if (n > m->opt.sku_prefix_category) n = m->opt.sku_prefix_category;
            if (n >= sizeof buf) n = sizeof buf - 1;
            memcpy(buf, l->sku, n);
            buf[n] = 0;
            cat = buf;
        }
        if (cat) {
            uint32_t ci;
            rc = ly__ofmap_intern(&m->cat_map, &m->arena, cat, &ci, &fresh, err);
            if (rc) return rc;
            it->category = (int32_t)ci;
        }
    }
    if (!it->brand && l->brand && l->brand[0]) {
        it->brand = ly_arena_strdup(&m->arena, l->brand);
        if (!it->brand) return oom(err);
    }
    return LY_OK;
}

ly_offers_model *ly__offers_builder_model(ly_offers_builder *b)
{
    return b->m;
}

ly_err ly__offers_builder_item(ly_offers_builder *b, const ly_an_line *l, uint32_t *id,
                               ly_error *err)
{
    return lineItem(b, l, id, err);
}

ly_err ly_offers_builder_add(ly_offers_builder *b, const ly_an_receipt *r, ly_error *err)
{
    ly_offers_model *m = b->m;
    int64_t day = ly__of_day(r->time, r->utc_offset_min);
    if (r->is_return || (m->opt.as_of_set && day >= m->opt.as_of_day)) {
        m->stats.skipped++;
        return LY_OK;
    }
    ly__ofcust *c = NULL;
    if (r->customer && r->customer[0]) {
        uint32_t ci;
        bool fresh;
        ly_err rc = ly__ofmap_intern(&m->cust_map, &m->arena, r->customer, &ci, &fresh, err);
        if (rc) return rc;
        if (fresh) {
            if (m->n_custs % 256 == 0) {
                ly__ofcust *p = realloc(m->custs, (m->n_custs + 256) * sizeof *p);
                if (!p) return oom(err);
                m->custs = p;
            }
            c = &m->custs[m->n_custs++];
            memset(c, 0, sizeof *c);
            c->key = m->cust_map.keys[ci];
            c->last_time = r->time;
        } else {
            c = &m->custs[ci];
            if (r->time < c->last_time) {
                char field[32] = "";
                if (r->line) snprintf(field, sizeof field, "line %ld", r->line);
                return ly_error_set(err, LY_EINVAL, "unsorted_input", field,
                                    "receipt %s of customer %s goes back in time: receipts "
                                    "must be in time order per customer (use --sort)",
                                    r->receipt_id ? r->receipt_id : "?", r->customer);
            }
            c->last_time = r->time;
        }
    }
    m->stats.receipts++;
    if (m->stats.first_day < 0 || day < m->stats.first_day) m->stats.first_day = day;
    if (day > m->stats.last_day) m->stats.last_day = day;
    b->seq++;
    size_t nb = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        const ly_an_line *l = &r->lines[i];
        if (!l->sku || !l->sku[0]) continue;
        uint32_t id;
        ly_err rc = lineItem(b, l, &id, err);
        if (rc) return rc;
        ly__ofitem *it = &m->items[id];
        it->lines++;
        it->price_sum += l->price;
        if (it->seen != b->seq) {
            it->seen = b->seq;
            it->baskets++;
            if (nb == b->basket_cap) {
                size_t cap = b->basket_cap ? b->basket_cap * 2 : 64;
                uint32_t *p = realloc(b->basket, cap * sizeof *p);
                if (!p) return oom(err);
                b->basket = p;
                b->basket_cap = cap;
            }
            b->basket[nb++] = id;
        }
        if (!c) continue;
        bool fresh;
        ly__ofcitem *e = citemGet(c, id, &fresh);
        if (!e) return oom(err);
        if (fresh) it->buyers++;
        e->lines++;
        e->price_sum += l->price;
        e->spend += l->amount;
        if (e->seen != b->seq) {
            if (!fresh && day > e->last_day) {
                if (!it->ivh) {
                    it->ivh = calloc(IVH_BUCKETS, sizeof *it->ivh);
                    if (!it->ivh) return oom(err);
                }
                it->ivh[ivhBucket(day - e->last_day)]++;
                it->intervals++;
            }
            e->seen = b->seq;
            e->receipts++;
            e->last_day = (int32_t)day;
        }
    }
    m->n_baskets++;
    if (nb >= 2 && nb <= m->opt.max_basket) {
        qsort(b->basket, nb, sizeof *b->basket, cmpU32);
        for (size_t i = 0; i < nb; i++)
            for (size_t j = i + 1; j < nb; j++)
                if (!pairAdd(b, b->basket[i], b->basket[j])) return oom(err);
        m->stats.baskets_paired++;
    } else if (nb > m->opt.max_basket) {
        m->stats.baskets_too_big++;
    }
    return LY_OK;
}

void ly_offers_builder_free(ly_offers_builder *b)
{
    if (!b) return;
    free(b->pairs);
    free(b->basket);
    if (b->m)
        for (size_t i = 0; i < b->m->n_items; i++) {
            free(b->m->items[i].ivh);
            b->m->items[i].ivh = NULL;
        }
    ly_offers_model_free(b->m);
    free(b);
}

void ly_offers_model_free(ly_offers_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_items; i++) {
        free(m->items[i].nb);
        free(m->items[i].ivh);
    }
    for (size_t i = 0; i < m->n_custs; i++) {
        free(m->custs[i].items);
        free(m->custs[i].cats);
        free(m->custs[i].w);
    }
    for (size_t i = 0; i < m->n_cats; i++) free(m->cats[i].skus);
    free(m->items);
    free(m->custs);
    free(m->cats);
    free(m->popular);
    ly__ofmap_free(&m->item_map);
    ly__ofmap_free(&m->cust_map);
    ly__ofmap_free(&m->cat_map);
    ly_arena_free(&m->arena);
    free(m);
}

/* ---------------------------------------------------------------------------------------
 * Finishing
 * ------------------------------------------------------------------------------------- */

static int cmpNb(const void *a, const void *b)
{
    const ly__ofnb *x = a, *y = b;
    if (x->conf != y->conf) return x->conf > y->conf ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* A sort key: a descending, then b descending, then the SKU's rank. */
typedef struct sortKey {
    uint64_t a, b;
    uint32_t rank, id;
} sortKey;

static int cmpKey(const void *pa, const void *pb)
{
    const sortKey *x = pa, *y = pb;
    if (x->a != y->a) return x->a > y->a ? -1 : 1;
    if (x->b != y->b) return x->b > y->b ? -1 : 1;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

typedef struct nameKey {
    const char *s;
    uint32_t id;
} nameKey;

static int cmpName(const void *pa, const void *pb)
{
    return strcmp(((const nameKey *)pa)->s, ((const nameKey *)pb)->s);
}

/* Sorts ids (n) by (a, b) descending then rank, with a and b taken from the items. */
static bool sortItems(const ly_offers_model *m, uint32_t *ids, size_t n, bool by_baskets)
{
    if (n < 2) return true;
    sortKey *k = malloc(n * sizeof *k);
    if (!k) return false;
    for (size_t i = 0; i < n; i++) {
        const ly__ofitem *it = &m->items[ids[i]];
        k[i] = (sortKey){it->buyers, by_baskets ? it->baskets : 0, it->rank, ids[i]};
    }
    qsort(k, n, sizeof *k, cmpKey);
    for (size_t i = 0; i < n; i++) ids[i] = k[i].id;
    free(k);
    return true;
}

/* Partners from the pair table: both directions of each pair that passes the support and
 * lift thresholds, then the best `neighbours` of each SKU. */
static ly_err finishPairs(ly_offers_builder *b, ly_error *err)
{
    ly_offers_model *m = b->m;
    const ly_offers_options *o = &m->opt;
    double nbask = (double)m->n_baskets;
    uint32_t *cnt = calloc(m->n_items ? m->n_items : 1, sizeof *cnt);
    if (!cnt) return oom(err);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < b->pair_cap; i++) {
            const pairSlot *p = &b->pairs[i];
            if (!p->key || p->count < o->min_pair_count) continue;
            uint32_t x = (uint32_t)(p->key >> 32) - 1, y = (uint32_t)(p->key & 0xffffffffu) - 1;
            double lift = (double)p->count * nbask /
                          ((double)m->items[x].baskets * (double)m->items[y].baskets);
            if (!(lift > o->min_lift)) continue;
            if (pass == 0) {
                cnt[x]++;
                cnt[y]++;
                continue;
            }
            ly__ofitem *ix = &m->items[x], *iy = &m->items[y];
            ix->nb[ix->n_nb++] = (ly__ofnb){y, p->count, iy->rank, (double)p->count / ix->baskets, lift};
            iy->nb[iy->n_nb++] = (ly__ofnb){x, p->count, ix->rank, (double)p->count / iy->baskets, lift};
        }
        if (pass == 0)
            for (size_t i = 0; i < m->n_items; i++) {
                if (!cnt[i]) continue;
                m->items[i].nb = malloc(cnt[i] * sizeof *m->items[i].nb);
                if (!m->items[i].nb) {
                    free(cnt);
                    return oom(err);
                }
            }
    }
    free(cnt);
    for (size_t i = 0; i < m->n_items; i++) {
        ly__ofitem *it = &m->items[i];
        if (!it->n_nb) continue;
        qsort(it->nb, it->n_nb, sizeof *it->nb, cmpNb);
        if (it->n_nb > o->neighbours) {
            it->n_nb = o->neighbours;
            if (!it->n_nb) {
                free(it->nb);
                it->nb = NULL;
                continue;
            }
            ly__ofnb *p = realloc(it->nb, it->n_nb * sizeof *p);
            if (p) it->nb = p;
        }
        m->stats.neighbours += it->n_nb;
    }
    m->stats.pairs = (int64_t)b->n_pairs;
    return LY_OK;
}

/* Categories: buyers, SKUs by popularity; customers' category profiles. */
static ly_err finishCategories(ly_offers_model *m, ly_error *err)
{
    m->n_cats = m->cat_map.n;
    if (!m->n_cats) return LY_OK;
    m->cats = calloc(m->n_cats, sizeof *m->cats);
    double *spend = calloc(m->n_cats, sizeof *spend);
    uint32_t *stamp = calloc(m->n_cats, sizeof *stamp);
    if (!m->cats || !spend || !stamp) goto fail;
    for (size_t g = 0; g < m->n_cats; g++) m->cats[g].name = m->cat_map.keys[g];
    for (size_t i = 0; i < m->n_items; i++)
        if (m->items[i].category >= 0 && m->items[i].buyers) m->cats[m->items[i].category].n_skus++;
    for (size_t g = 0; g < m->n_cats; g++) {
        if (!m->cats[g].n_skus) continue;
        m->cats[g].skus = malloc(m->cats[g].n_skus * sizeof(uint32_t));
        if (!m->cats[g].skus) goto fail;
        m->cats[g].n_skus = 0;
    }
    for (size_t i = 0; i < m->n_items; i++)
        if (m->items[i].category >= 0 && m->items[i].buyers) {
            ly__ofcat *g = &m->cats[m->items[i].category];
            g->skus[g->n_skus++] = (uint32_t)i;
        }
    for (size_t g = 0; g < m->n_cats; g++)
        if (!sortItems(m, m->cats[g].skus, m->cats[g].n_skus, false)) goto fail;

    for (size_t ci = 0; ci < m->n_custs; ci++) {
        ly__ofcust *c = &m->custs[ci];
        uint32_t stampv = (uint32_t)ci + 1, n = 0;
        bool any_spend = false;
        for (uint32_t j = 0; j < c->n_items; j++) {
            int32_t g = m->items[c->items[j].item].category;
            if (g < 0) continue;
            if (stamp[g] != stampv) {
                stamp[g] = stampv;
                spend[g] = 0;
                m->cats[g].buyers++;
                n++;
            }
            if (c->items[j].spend > 0) any_spend = true;
        }
        if (!n) continue;
        c->cats = malloc(n * sizeof *c->cats);
        c->w = malloc(n * sizeof *c->w);
        if (!c->cats || !c->w) goto fail;
        for (uint32_t j = 0; j < c->n_items; j++) {
            int32_t g = m->items[c->items[j].item].category;
            if (g < 0) continue;
            spend[g] += any_spend ? (double)c->items[j].spend : (double)c->items[j].receipts;
        }
        c->n_cats = 0;
        for (uint32_t j = 0; j < c->n_items; j++) {
            int32_t g = m->items[c->items[j].item].category;
            if (g < 0 || stamp[g] != stampv) continue;
            stamp[g] = 0; /* taken */
            c->cats[c->n_cats++] = (uint32_t)g;
        }
        qsort(c->cats, c->n_cats, sizeof *c->cats, cmpU32);
        double norm = 0;
        for (uint32_t j = 0; j < c->n_cats; j++) norm += spend[c->cats[j]] * spend[c->cats[j]];
        norm = sqrt(norm);
        for (uint32_t j = 0; j < c->n_cats; j++) c->w[j] = norm > 0 ? spend[c->cats[j]] / norm : 0;
    }
    free(spend);
    free(stamp);
    return LY_OK;
fail:
    free(spend);
    free(stamp);
    return oom(err);
}

static size_t modelBytes(const ly_offers_model *m)
{
    size_t s = sizeof *m + m->arena.total + mapBytes(&m->item_map) + mapBytes(&m->cust_map) +
               mapBytes(&m->cat_map);
    s += ((m->n_items + 255) / 256 * 256) * sizeof *m->items;
    s += ((m->n_custs + 255) / 256 * 256) * sizeof *m->custs;
    for (size_t i = 0; i < m->n_items; i++)
        s += m->items[i].n_nb * sizeof(ly__ofnb) + (m->items[i].ivh ? IVH_BUCKETS * 4 : 0);
    for (size_t i = 0; i < m->n_custs; i++)
        s += m->custs[i].cap * sizeof(ly__ofcitem) + m->custs[i].n_cats * 12;
    for (size_t g = 0; g < m->n_cats; g++) s += sizeof(ly__ofcat) + m->cats[g].n_skus * 4;
    s += m->n_popular * 4;
    return s;
}

ly_err ly_offers_builder_finish(ly_offers_builder *b, ly_offers_model **out, ly_error *err)
{
    *out = NULL;
    ly_offers_model *m = b->m;
    size_t peak = modelBytes(m) + b->pair_cap * sizeof(pairSlot) + b->basket_cap * 4;
    ly_err rc = LY_OK;
    if (m->n_items) { /* ranks: the SKUs in byte order */
        nameKey *nk = malloc(m->n_items * sizeof *nk);
        if (!nk) {
            ly_offers_builder_free(b);
            return oom(err);
        }
        for (size_t i = 0; i < m->n_items; i++) nk[i] = (nameKey){m->items[i].sku, (uint32_t)i};
        qsort(nk, m->n_items, sizeof *nk, cmpName);
        for (size_t i = 0; i < m->n_items; i++) m->items[nk[i].id].rank = (uint32_t)i;
        free(nk);
    }
    rc = finishPairs(b, err);
    free(b->pairs);
    b->pairs = NULL;
    if (rc) {
        ly_offers_builder_free(b);
        return rc;
    }
    for (size_t i = 0; i < m->n_items; i++) {
        ly__ofitem *it = &m->items[i];
        if (it->lines) {
            int64_t p;
            it->price = ly_muldiv(it->price_sum > 0 ? it->price_sum : 0, 1, it->lines,
                                  LY_ROUND_HALF_UP, &p) ? p : 0;
        }
        if (it->ivh && it->intervals >= m->opt.replenish_min && it->intervals > 0) {
            uint32_t want = (it->intervals + 1) / 2, acc = 0; /* the lower median */
            for (int k = 0; k < IVH_BUCKETS; k++) {
                acc += it->ivh[k];
                if (acc >= want) {
                    it->cycle = ivhUpper(k);
                    break;
                }
            }
            m->stats.replenished++;
        }
        free(it->ivh);
        it->ivh = NULL;
    }
    rc = finishCategories(m, err);
    if (!rc) {
        m->popular = malloc((m->n_items ? m->n_items : 1) * sizeof *m->popular);
        if (!m->popular) rc = oom(err);
    }
    if (rc) {
        ly_offers_builder_free(b);
        return rc;
    }
    for (size_t i = 0; i < m->n_items; i++)
        if (m->items[i].buyers) m->popular[m->n_popular++] = (uint32_t)i;
    if (!sortItems(m, m->popular, m->n_popular, true)) {
        ly_offers_builder_free(b);
        return oom(err);
    }
    m->stats.customers = (int64_t)m->n_custs;
    m->stats.skus = (int64_t)m->n_items;
    m->stats.categories = (int64_t)m->n_cats;
    m->stats.memory_bytes = modelBytes(m);
    m->stats.build_peak_bytes = peak > m->stats.memory_bytes ? peak : m->stats.memory_bytes;
    m->stats.built_at = ly_os_now();
    free(b->basket);
    free(b);
    *out = m;
    return LY_OK;
}

ly_err ly_offers_model_build(ly_source *src, const ly_offers_options *o, ly_offers_model **out,
                             ly_error *err)
{
    *out = NULL;
    ly_offers_builder *b;
    ly_err rc = ly_offers_builder_new(o, &b, err);
    if (rc) return rc;
    ly_an_receipt r;
    int got;
    while ((got = src->next(src->ctx, &r, err)) == 1)
        if ((rc = ly_offers_builder_add(b, &r, err)) != LY_OK) break;
    if (got < 0) rc = err ? err->kind : LY_EIO;
    if (got < 0 && rc == LY_OK) rc = LY_EIO;
    if (rc) {
        ly_offers_builder_free(b);
        return rc;
    }
    return ly_offers_builder_finish(b, out, err);
}

void ly_offers_model_stats(const ly_offers_model *m, ly_offers_stats *out)
{
    *out = m->stats;
}

int64_t ly_offers_sku_cycle(const ly_offers_model *m, const char *sku)
{
    uint32_t id;
    if (!sku || !ly__ofmap_find(&m->item_map, sku, &id)) return -1;
    return m->items[id].cycle;
}
