/*
 * assoc.c - co-purchases: the basket builder (interning, de-duplication, compact id
 * arrays), exact frequent-itemset mining by Eclat over tid-lists with a switch to diffsets
 * (Zaki & Gouda 2003, "Fast vertical mining using diffsets"), rules X => {y} as arules
 * apriori() derives them, and combos. Definitions: assoc.h and docs/assoc.md.
 *
 * Inside the miner every item is named by its rank in the byte order of the items' names,
 * and every itemset is an ascending array of ranks: the canonical form that the lookup
 * table hashes and that every tie-break compares, so results do not depend on the order in
 * which baskets or items arrived. Ranks become builder ids only in the result.
 */
#include "analytics/assoc.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* Ids, baskets and distinct items are 32-bit; the top values are kept free. */
#define ASSOC_LIMIT (UINT32_MAX - 1u)

/* ---------------------------------------------------------------------------------------
 * Growable arrays
 * ------------------------------------------------------------------------------------- */

/* Makes room for need elements of size bytes in *p (capacity *cap, in elements).
 * Returns false (leaving *p alone) when out of memory or when the size overflows. */
static bool reserve(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return false;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return false;
    void *q = realloc(*p, n * size);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

#define RESERVE(arr, cap, need) reserve((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* qsort that accepts an empty (possibly NULL) array. */
static void sortAll(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts a small array of ids ascending: baskets and itemsets are short. */
static void sortU32(uint32_t *v, size_t n)
{
    if (n > 24) {
        qsort(v, n, sizeof(*v), cmpU32);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* ---------------------------------------------------------------------------------------
 * The builder
 * ------------------------------------------------------------------------------------- */

struct ly_assoc {
    /* Baskets: basket i is ids[ends[i-1] .. ends[i]) (ends[-1] = 0), sorted, distinct. */
    uint32_t *ids;
    size_t n_ids, cap_ids;
    uint32_t *ends;
    size_t n_baskets, cap_baskets;
    /* Items: the text of item i is names + name_off[i], NUL-terminated. */
    char *names;
    size_t names_len, cap_names;
    size_t *name_off;
    size_t cap_name_off;
    uint32_t *item_baskets;
    size_t cap_item_baskets;
    size_t *name_len;
    size_t cap_name_len;
    size_t n_items;
    /* Intern table, open addressing: slot holds id + 1, 0 is empty. Power-of-two size. */
    uint32_t *table;
    size_t table_size;
    /* The basket being added. */
    uint32_t *scratch;
    size_t cap_scratch;
};

static uint64_t hashBytes(const char *s, size_t n)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(1099511628211);
    }
    return h ^ (h >> 29);
}

ly_assoc *ly_assoc_new(void)
{
    return calloc(1, sizeof(ly_assoc));
}

void ly_assoc_free(ly_assoc *a)
{
    if (!a)
        return;
    free(a->ids);
    free(a->ends);
    free(a->names);
    free(a->name_off);
    free(a->name_len);
    free(a->item_baskets);
    free(a->table);
    free(a->scratch);
    free(a);
}

/* The slot where the text s (n bytes) is or would go. */
static size_t internSlot(const ly_assoc *a, const char *s, size_t n)
{
    size_t mask = a->table_size - 1;
    size_t i = (size_t)hashBytes(s, n) & mask;
    for (;;) {
        uint32_t v = a->table[i];
        if (v == 0)
            return i;
        uint32_t id = v - 1;
        if (a->name_len[id] == n && memcmp(a->names + a->name_off[id], s, n) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Grows the intern table so that `items` distinct items keep it at most half full. */
static bool internReserve(ly_assoc *a, size_t items)
{
    if (items <= a->table_size / 2)
        return true;
    size_t size = a->table_size ? a->table_size : 64;
    while (items > size / 2) {
        if (size > SIZE_MAX / 2 / sizeof(uint32_t))
            return false;
        size *= 2;
    }
    uint32_t *t = calloc(size, sizeof(uint32_t));
    if (!t)
        return false;
    free(a->table);
    a->table = t;
    a->table_size = size;
    for (size_t id = 0; id < a->n_items; id++)
        t[internSlot(a, a->names + a->name_off[id], a->name_len[id])] = (uint32_t)id + 1;
    return true;
}

ly_err ly_assoc_add(ly_assoc *a, const char *const *items, const size_t *lens, size_t n,
                    ly_error *err)
{
    if (n > 0 && !items)
        return ly_error_set(err, LY_EINVAL, "invalid_item", "items", "items is NULL");
    size_t text = 0;
    for (size_t i = 0; i < n; i++) {
        char field[40];
        size_t len = 0;
        if (items[i])
            len = lens ? lens[i] : strlen(items[i]);
        if (!items[i] || len == 0 || (lens && memchr(items[i], '\0', len))) {
            snprintf(field, sizeof field, "items[%zu]", i);
            return ly_error_set(err, LY_EINVAL, "invalid_item", field,
                                "an item must be a non-empty text without NUL bytes");
        }
        if (len > SIZE_MAX / 2 - text)
            return ly_error_set(err, LY_ETOOLARGE, "too_many_items", "items", "items too long");
        text += len + 1;
    }
    if (a->n_baskets >= ASSOC_LIMIT)
        return ly_error_set(err, LY_ETOOLARGE, "too_many_baskets", NULL,
                            "more than %u baskets", (unsigned)ASSOC_LIMIT);
    if (n > ASSOC_LIMIT - a->n_ids)
        return ly_error_set(err, LY_ETOOLARGE, "too_many_items", NULL,
                            "more than %u item occurrences in all", (unsigned)ASSOC_LIMIT);
    if (n > ASSOC_LIMIT - a->n_items)
        return ly_error_set(err, LY_ETOOLARGE, "too_many_items", NULL,
                            "more than %u distinct items", (unsigned)ASSOC_LIMIT);
    /* Every allocation happens before the first change, so a failure leaves no trace. */
    size_t items_max = a->n_items + n;
    if (!RESERVE(a->ids, a->cap_ids, a->n_ids + n) ||
        !RESERVE(a->ends, a->cap_baskets, a->n_baskets + 1) ||
        !RESERVE(a->names, a->cap_names, a->names_len + text) ||
        !RESERVE(a->name_off, a->cap_name_off, items_max) ||
        !RESERVE(a->name_len, a->cap_name_len, items_max) ||
        !RESERVE(a->item_baskets, a->cap_item_baskets, items_max) ||
        !RESERVE(a->scratch, a->cap_scratch, n ? n : 1) || !internReserve(a, items_max))
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");

    for (size_t i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(items[i]);
        size_t slot = internSlot(a, items[i], len);
        if (a->table[slot] == 0) {
            size_t id = a->n_items++;
            a->name_off[id] = a->names_len;
            a->name_len[id] = len;
            a->item_baskets[id] = 0;
            memcpy(a->names + a->names_len, items[i], len);
            a->names[a->names_len + len] = '\0';
            a->names_len += len + 1;
            a->table[slot] = (uint32_t)id + 1;
        }
        a->scratch[i] = a->table[slot] - 1;
    }
    sortU32(a->scratch, n);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && a->scratch[i] == a->scratch[i - 1])
            continue;
        a->ids[a->n_ids++] = a->scratch[i];
        a->item_baskets[a->scratch[i]]++;
    }
    a->ends[a->n_baskets++] = (uint32_t)a->n_ids;
    return LY_OK;
}

size_t ly_assoc_basket_count(const ly_assoc *a)
{
    return a->n_baskets;
}

size_t ly_assoc_item_count(const ly_assoc *a)
{
    return a->n_items;
}

const char *ly_assoc_item_name(const ly_assoc *a, uint32_t id)
{
    return id < a->n_items ? a->names + a->name_off[id] : NULL;
}

bool ly_assoc_item_find(const ly_assoc *a, const char *name, uint32_t *id)
{
    if (!name || a->table_size == 0)
        return false;
    uint32_t v = a->table[internSlot(a, name, strlen(name))];
    if (v == 0)
        return false;
    if (id)
        *id = v - 1;
    return true;
}

uint32_t ly_assoc_item_baskets(const ly_assoc *a, uint32_t id)
{
    return id < a->n_items ? a->item_baskets[id] : 0;
}

const uint32_t *ly_assoc_basket(const ly_assoc *a, size_t i, size_t *n)
{
    *n = 0;
    if (i >= a->n_baskets)
        return NULL;
    size_t start = i ? a->ends[i - 1] : 0;
    *n = a->ends[i] - start;
    return *n ? a->ids + start : NULL;
}

size_t ly_assoc_memory(const ly_assoc *a)
{
    return sizeof(*a) + a->cap_ids * sizeof(uint32_t) + a->cap_baskets * sizeof(uint32_t) +
           a->cap_names + a->cap_name_off * sizeof(size_t) +
           a->cap_name_len * sizeof(size_t) + a->cap_item_baskets * sizeof(uint32_t) +
           a->table_size * sizeof(uint32_t) + a->cap_scratch * sizeof(uint32_t);
}

/* ---------------------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------------------- */

void ly_assoc_opts_default(ly_assoc_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->min_support = 0.1;
    o->min_confidence = 0.8;
    o->min_len = 1;
    o->max_len = 10;
    o->max_itemsets = 10000000;
}

/* ---------------------------------------------------------------------------------------
 * Eclat
 * ------------------------------------------------------------------------------------- */

/* One member of an equivalence class (all itemsets sharing a prefix): the prefix plus the
 * item at Eclat position pos. tids is its tid-list (basket numbers that contain it) or, in
 * a class in diffset mode, its diffset (baskets that contain the prefix but not it). */
typedef struct member {
    uint32_t pos;
    uint32_t count;
    uint32_t len;
    size_t off;          /* of tids in its level's buffer, while the buffer may move */
    const uint32_t *tids;
} member;

/* Scratch of one recursion depth, kept for the whole run. */
typedef struct level {
    member *m;
    size_t cap_m;
    uint32_t *buf, *buf2;
    size_t cap_buf, cap_buf2;
} level;

/* A frequent itemset while mining: ranks[off .. off + n) in the rank pool. */
typedef struct iset {
    const uint32_t *ranks;
    size_t off;
    uint32_t n;
    uint32_t count;
    uint64_t combo_den; /* for combos: lhs_count * rhs_count of the weakest rule */
    uint32_t best_rhs;  /* for combos: the rank of the best rule's right-hand item */
    uint32_t best_lhs_count;
    bool has_rule;
} iset;

typedef struct miner {
    const ly_assoc *a;
    const ly_assoc_opts *o;
    uint32_t n_baskets;
    uint32_t min_count;
    size_t max_depth;        /* max_len, or the number of frequent items */
    uint32_t *rank_of_id;    /* name rank of each builder id */
    uint32_t *id_of_rank;
    uint32_t *rank_of_pos;   /* name rank of each Eclat position */
    uint32_t *prefix;        /* Eclat positions of the current prefix */
    uint32_t *tmp;           /* one itemset's ranks */
    level *lv;
    size_t n_levels;
    uint32_t *pairs;         /* baskets of each pair of frequent items, or NULL */
    size_t n_freq;
    uint32_t *pool;          /* ranks of every itemset */
    size_t n_pool, cap_pool;
    iset *sets;
    size_t n_sets, cap_sets;
    size_t bytes, peak;      /* heap held by the mining, for the result's memory figure */
    ly_error *err;
} miner;

static void account(miner *m, size_t before, size_t after)
{
    m->bytes += after;
    m->bytes -= before;
    if (m->bytes > m->peak)
        m->peak = m->bytes;
}

/* RESERVE that keeps the byte count. */
static bool mreserve(miner *m, void **p, size_t *cap, size_t need, size_t size)
{
    size_t before = *cap * size;
    if (!reserve(p, cap, need, size))
        return false;
    account(m, before, *cap * size);
    return true;
}

#define MRESERVE(mm, arr, cap, need) mreserve((mm), (void **)&(arr), &(cap), (need), sizeof(*(arr)))

static ly_err oom(miner *m)
{
    return ly_error_set(m->err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* |x ∩ y| written to out; both sorted ascending. */
static uint32_t intersect(const uint32_t *x, uint32_t nx, const uint32_t *y, uint32_t ny,
                          uint32_t *out)
{
    uint32_t i = 0, j = 0, k = 0;
    while (i < nx && j < ny) {
        if (x[i] < y[j]) {
            i++;
        } else if (x[i] > y[j]) {
            j++;
        } else {
            out[k++] = x[i];
            i++;
            j++;
        }
    }
    return k;
}

/* x \ y written to out; both sorted ascending. */
static uint32_t difference(const uint32_t *x, uint32_t nx, const uint32_t *y, uint32_t ny,
                           uint32_t *out)
{
    uint32_t i = 0, j = 0, k = 0;
    while (i < nx) {
        if (j >= ny || x[i] < y[j]) {
            out[k++] = x[i++];
        } else if (x[i] > y[j]) {
            j++;
        } else {
            i++;
            j++;
        }
    }
    return k;
}

/* Pairs of frequent items are counted in one pass over the baskets when the triangle fits
 * in this many counters (4096 items: 32 MiB); it spares the first level of Eclat the
 * intersections of pairs that are not frequent, most of its work on sparse baskets. */
#define PAIR_COUNTERS_MAX (4096u * 4095u / 2u)

/* Index of the pair of Eclat positions i < j in the triangle of n items. */
static size_t pairIndex(size_t i, size_t j, size_t n)
{
    return i * (2 * n - i - 1) / 2 + (j - i - 1);
}

/* Records prefix[0 .. depth) as a frequent itemset of count baskets. */
static ly_err emit(miner *m, size_t depth, uint32_t count)
{
    if (m->o->max_itemsets && m->n_sets >= m->o->max_itemsets)
        return ly_error_set(m->err, LY_ETOOLARGE, "too_many_itemsets", "max_itemsets",
                            "more than %zu frequent itemsets; raise min_support",
                            m->o->max_itemsets);
    if (!MRESERVE(m, m->pool, m->cap_pool, m->n_pool + depth) ||
        !MRESERVE(m, m->sets, m->cap_sets, m->n_sets + 1))
        return oom(m);
    uint32_t *r = m->pool + m->n_pool;
    for (size_t i = 0; i < depth; i++)
        r[i] = m->rank_of_pos[m->prefix[i]];
    sortU32(r, depth);
    iset *s = &m->sets[m->n_sets++];
    memset(s, 0, sizeof(*s));
    s->off = m->n_pool;
    s->n = (uint32_t)depth;
    s->count = count;
    m->n_pool += depth;
    return LY_OK;
}

/* Mines the class L->m[0 .. k) whose members extend a prefix of depth items: emits each
 * member and recurses into the class of its extensions. diff: the class holds diffsets. */
static ly_err eclat(miner *m, size_t depth, level *L, size_t k, bool diff)
{
    for (size_t i = 0; i < k; i++) {
        const member *x = &L->m[i];
        m->prefix[depth] = x->pos;
        ly_err rc = emit(m, depth + 1, x->count);
        if (rc != LY_OK)
            return rc;
        if (depth + 1 >= m->max_depth || i + 1 == k)
            continue;
        level *C = &m->lv[depth + 1];
        if (!MRESERVE(m, C->m, C->cap_m, k - i - 1))
            return oom(m);
        size_t used = 0, nc = 0, sum_t = 0, sum_d = 0;
        for (size_t j = i + 1; j < k; j++) {
            const member *y = &L->m[j];
            if (depth == 0 && m->pairs &&
                m->pairs[pairIndex(x->pos, y->pos, m->n_freq)] < m->min_count)
                continue;
            size_t bound = diff ? y->len : (x->len < y->len ? x->len : y->len);
            if (!MRESERVE(m, C->buf, C->cap_buf, used + bound))
                return oom(m);
            uint32_t *out = C->buf + used;
            uint32_t len, count;
            if (diff) {
                /* d(PXY) = d(PY) \ d(PX); count(PXY) = count(PX) - |d(PXY)|. */
                len = difference(y->tids, y->len, x->tids, x->len, out);
                count = x->count - len;
            } else {
                len = intersect(x->tids, x->len, y->tids, y->len, out);
                count = len;
            }
            if (count < m->min_count)
                continue;
            C->m[nc++] = (member){.pos = y->pos, .count = count, .len = len, .off = used};
            used += len;
            sum_t += count;
            sum_d += x->count - count;
        }
        if (nc == 0)
            continue;
        bool child_diff = diff;
        if (!diff && sum_d < sum_t) {
            /* Diffsets are smaller from here down: d(PXY) = t(PX) \ t(PXY). */
            size_t used2 = 0;
            if (!MRESERVE(m, C->buf2, C->cap_buf2, sum_d ? sum_d : 1))
                return oom(m);
            for (size_t c = 0; c < nc; c++) {
                member *z = &C->m[c];
                uint32_t len = difference(x->tids, x->len, C->buf + z->off, z->len,
                                          C->buf2 + used2);
                z->off = used2;
                z->len = len;
                used2 += len;
            }
            uint32_t *t = C->buf;
            size_t tc = C->cap_buf;
            C->buf = C->buf2;
            C->cap_buf = C->cap_buf2;
            C->buf2 = t;
            C->cap_buf2 = tc;
            child_diff = true;
        }
        for (size_t c = 0; c < nc; c++)
            C->m[c].tids = C->buf + C->m[c].off;
        rc = eclat(m, depth + 1, C, nc, child_diff);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Lookup of itemsets by their ranks
 * ------------------------------------------------------------------------------------- */

typedef struct settable {
    uint32_t *slot; /* index + 1 into sets, 0 empty */
    size_t size;
} settable;

static uint64_t hashRanks(const uint32_t *r, size_t n)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= r[i];
        h *= UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    return h;
}

static bool tableBuild(miner *m, settable *t)
{
    size_t size = 16;
    while (size / 2 < m->n_sets)
        size *= 2;
    t->slot = calloc(size, sizeof(uint32_t));
    if (!t->slot)
        return false;
    account(m, 0, size * sizeof(uint32_t));
    t->size = size;
    for (size_t s = 0; s < m->n_sets; s++) {
        size_t i = (size_t)hashRanks(m->sets[s].ranks, m->sets[s].n) & (size - 1);
        while (t->slot[i])
            i = (i + 1) & (size - 1);
        t->slot[i] = (uint32_t)s + 1;
    }
    return true;
}

/* The itemset with exactly these ranks, or NULL. */
static const iset *tableFind(const miner *m, const settable *t, const uint32_t *r, size_t n)
{
    size_t i = (size_t)hashRanks(r, n) & (t->size - 1);
    while (t->slot[i]) {
        const iset *s = &m->sets[t->slot[i] - 1];
        if (s->n == n && memcmp(s->ranks, r, n * sizeof(*r)) == 0)
            return s;
        i = (i + 1) & (t->size - 1);
    }
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Orders
 * ------------------------------------------------------------------------------------- */

static int cmpRanks(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    uint32_t n = na < nb ? na : nb;
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return (na > nb) - (na < nb);
}

static int cmpSets(const void *pa, const void *pb)
{
    const iset *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return cmpRanks(a->ranks, a->n, b->ranks, b->n);
}

/* A rule while mining, in ranks. */
typedef struct irule {
    const uint32_t *lhs;
    size_t off;
    uint32_t n_lhs;
    uint32_t rhs;
    uint32_t count, lhs_count, rhs_count;
} irule;

/* Lift order without rounding: lift = count * N / (lhs_count * rhs_count), N cancels. */
static int cmpRules(const void *pa, const void *pb)
{
    const irule *a = pa, *b = pb;
    u128 la = (u128)a->count * b->lhs_count * b->rhs_count;
    u128 lb = (u128)b->count * a->lhs_count * a->rhs_count;
    if (la != lb)
        return la > lb ? -1 : 1;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    uint64_t ca = (uint64_t)a->count * b->lhs_count, cb = (uint64_t)b->count * a->lhs_count;
    if (ca != cb)
        return ca > cb ? -1 : 1;
    if (a->n_lhs != b->n_lhs)
        return a->n_lhs < b->n_lhs ? -1 : 1;
    int c = cmpRanks(a->lhs, a->n_lhs, b->lhs, b->n_lhs);
    if (c)
        return c;
    return (a->rhs > b->rhs) - (a->rhs < b->rhs);
}

/* Combos are isets with has_rule; combo lift = count * N / combo_den. */
static int cmpCombos(const void *pa, const void *pb)
{
    const iset *a = *(const iset *const *)pa, *b = *(const iset *const *)pb;
    u128 la = (u128)a->count * b->combo_den, lb = (u128)b->count * a->combo_den;
    if (la != lb)
        return la > lb ? -1 : 1;
    return cmpSets(a, b);
}

static int cmpIdsByName(const void *pa, const void *pb, const ly_assoc *a)
{
    uint32_t x = *(const uint32_t *)pa, y = *(const uint32_t *)pb;
    int c = strcmp(a->names + a->name_off[x], a->names + a->name_off[y]);
    return c ? c : (x > y) - (x < y);
}

/* Merge sort of ids by name (qsort has no context argument, and the miner keeps no
 * global state). */
static void sortIdsByName(const ly_assoc *a, uint32_t *v, uint32_t *tmp, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    sortIdsByName(a, v, tmp, h);
    sortIdsByName(a, v + h, tmp, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n)
        tmp[k++] = cmpIdsByName(&v[j], &v[i], a) < 0 ? v[j++] : v[i++];
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof(*v));
}

/* ---------------------------------------------------------------------------------------
 * The mining run
 * ------------------------------------------------------------------------------------- */

/* The smallest count c >= 1 with c / n >= min_support, evaluated as the definition says. */
static uint32_t minCount(double min_support, uint32_t n)
{
    double x = ceil(min_support * (double)n);
    uint64_t c = x < 1 ? 1 : (uint64_t)x;
    while (c > 1 && (double)(c - 1) / (double)n >= min_support)
        c--;
    while (c <= n && (double)c / (double)n < min_support)
        c++;
    return (uint32_t)c;
}

/* A result with the pools its public arrays point into. */
typedef struct resultBox {
    ly_assoc_result pub; /* first: a ly_assoc_result * is a resultBox * */
    uint32_t *ids;       /* items of every itemset and combo */
    uint32_t *lhs_ids;   /* left-hand sides of the rules */
} resultBox;

void ly_assoc_result_free(ly_assoc_result *r)
{
    if (!r)
        return;
    resultBox *box = (resultBox *)r;
    free(box->ids);
    free(box->lhs_ids);
    free(r->itemsets);
    free(r->rules);
    free(r->combos);
    free(box);
}

static void minerFree(miner *m)
{
    free(m->rank_of_id);
    free(m->id_of_rank);
    free(m->rank_of_pos);
    free(m->prefix);
    free(m->tmp);
    for (size_t i = 0; i < m->n_levels; i++) {
        free(m->lv[i].m);
        free(m->lv[i].buf);
        free(m->lv[i].buf2);
    }
    free(m->lv);
    free(m->pairs);
    free(m->pool);
    free(m->sets);
}

/* Position of an item in the Eclat order: fewer baskets first (small classes), then name. */
typedef struct posKey {
    uint32_t count;
    uint32_t rank;
} posKey;

static int cmpPos(const void *pa, const void *pb)
{
    const posKey *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count < b->count ? -1 : 1;
    return (a->rank > b->rank) - (a->rank < b->rank);
}

/* Finds every frequent itemset into m->sets / m->pool. */
static ly_err mineSets(miner *m)
{
    const ly_assoc *a = m->a;
    size_t ni = a->n_items;
    m->rank_of_id = malloc((ni ? ni : 1) * sizeof(uint32_t));
    m->id_of_rank = malloc((ni ? ni : 1) * sizeof(uint32_t));
    uint32_t *tmp = malloc((ni ? ni : 1) * sizeof(uint32_t));
    posKey *keys = malloc((ni ? ni : 1) * sizeof(posKey));
    if (!m->rank_of_id || !m->id_of_rank || !tmp || !keys) {
        free(tmp);
        free(keys);
        return oom(m);
    }
    account(m, 0, ni * (3 * sizeof(uint32_t) + sizeof(posKey)));
    for (size_t i = 0; i < ni; i++)
        m->id_of_rank[i] = (uint32_t)i;
    sortIdsByName(a, m->id_of_rank, tmp, ni);
    for (size_t r = 0; r < ni; r++)
        m->rank_of_id[m->id_of_rank[r]] = (uint32_t)r;
    free(tmp);

    size_t nf = 0;
    for (size_t r = 0; r < ni; r++) {
        uint32_t c = a->item_baskets[m->id_of_rank[r]];
        if (c >= m->min_count)
            keys[nf++] = (posKey){c, (uint32_t)r};
    }
    sortAll(keys, nf, sizeof(*keys), cmpPos);
    m->max_depth = nf;
    if (m->o->max_len && m->o->max_len < m->max_depth)
        m->max_depth = m->o->max_len;

    /* Vertical layout: the tid-list of each frequent item, in Eclat position order. */
    uint32_t *pos_of_id = malloc((ni ? ni : 1) * sizeof(uint32_t));
    m->rank_of_pos = malloc((nf ? nf : 1) * sizeof(uint32_t));
    m->prefix = malloc((nf ? nf : 1) * sizeof(uint32_t));
    m->tmp = malloc((nf ? nf : 1) * sizeof(uint32_t));
    m->n_levels = nf + 1;
    m->lv = calloc(m->n_levels, sizeof(level));
    if (!pos_of_id || !m->rank_of_pos || !m->prefix || !m->tmp || !m->lv) {
        free(pos_of_id);
        free(keys);
        m->n_levels = 0;
        return oom(m);
    }
    account(m, 0, ni * sizeof(uint32_t) + nf * 3 * sizeof(uint32_t) + m->n_levels * sizeof(level));
    for (size_t i = 0; i < ni; i++)
        pos_of_id[i] = UINT32_MAX;
    size_t total = 0;
    level *L0 = &m->lv[0];
    if (!MRESERVE(m, L0->m, L0->cap_m, nf ? nf : 1)) {
        free(pos_of_id);
        free(keys);
        return oom(m);
    }
    for (size_t p = 0; p < nf; p++) {
        m->rank_of_pos[p] = keys[p].rank;
        pos_of_id[m->id_of_rank[keys[p].rank]] = (uint32_t)p;
        L0->m[p] = (member){.pos = (uint32_t)p, .count = keys[p].count, .len = 0, .off = total};
        total += keys[p].count;
    }
    free(keys);
    if (!MRESERVE(m, L0->buf, L0->cap_buf, total ? total : 1)) {
        free(pos_of_id);
        return oom(m);
    }
    for (size_t b = 0; b < a->n_baskets; b++) {
        size_t start = b ? a->ends[b - 1] : 0;
        for (size_t k = start; k < a->ends[b]; k++) {
            uint32_t p = pos_of_id[a->ids[k]];
            if (p != UINT32_MAX) {
                member *x = &L0->m[p];
                L0->buf[x->off + x->len++] = (uint32_t)b;
            }
        }
    }
    m->n_freq = nf;
    size_t n_pairs = nf * (nf - (nf > 0)) / 2;
    if (nf >= 2 && n_pairs <= PAIR_COUNTERS_MAX && m->max_depth >= 2) {
        /* Without the memory for it the miner only goes slower: no error. */
        m->pairs = calloc(n_pairs, sizeof(uint32_t));
        uint32_t *bp = m->pairs ? malloc(nf * sizeof(uint32_t)) : NULL;
        if (bp) {
            account(m, 0, n_pairs * sizeof(uint32_t) + nf * sizeof(uint32_t));
            for (size_t b = 0; b < a->n_baskets; b++) {
                size_t start = b ? a->ends[b - 1] : 0, k = 0;
                for (size_t i = start; i < a->ends[b]; i++)
                    if (pos_of_id[a->ids[i]] != UINT32_MAX)
                        bp[k++] = pos_of_id[a->ids[i]];
                sortU32(bp, k);
                for (size_t i = 0; i + 1 < k; i++) {
                    size_t row = pairIndex(bp[i], bp[i] + 1, nf);
                    for (size_t j = i + 1; j < k; j++)
                        m->pairs[row + (bp[j] - bp[i] - 1)]++;
                }
            }
            free(bp);
            account(m, nf * sizeof(uint32_t), 0);
        } else {
            free(m->pairs);
            m->pairs = NULL;
        }
    }
    free(pos_of_id);
    for (size_t p = 0; p < nf; p++)
        L0->m[p].tids = L0->buf + L0->m[p].off;
    return nf ? eclat(m, 0, L0, nf, false) : LY_OK;
}

/* Builds the rules (all of them) of every itemset of at least max(2, min_len) items, plus
 * {} => {y} when min_len is 1, and marks the combos. */
static ly_err mineRules(miner *m, const settable *t, irule **rules_out, size_t *n_out,
                        uint32_t **lhs_pool_out)
{
    const ly_assoc_opts *o = m->o;
    uint32_t n = m->n_baskets;
    irule *rules = NULL;
    size_t nr = 0, cap = 0;
    uint32_t *lp = NULL;
    size_t nlp = 0, cap_lp = 0;
    unsigned min_items = o->min_len < 2 ? 2 : o->min_len;
    for (size_t s = 0; s < m->n_sets; s++) {
        iset *S = &m->sets[s];
        if (S->n == 1 && o->min_len <= 1 && (double)S->count / n >= o->min_confidence) {
            if (!MRESERVE(m, rules, cap, nr + 1))
                goto nomem;
            rules[nr++] = (irule){.off = nlp, .n_lhs = 0, .rhs = S->ranks[0],
                                  .count = S->count, .lhs_count = n, .rhs_count = S->count};
            continue;
        }
        if (S->n < min_items)
            continue;
        for (uint32_t y = 0; y < S->n; y++) {
            uint32_t k = 0;
            for (uint32_t i = 0; i < S->n; i++)
                if (i != y)
                    m->tmp[k++] = S->ranks[i];
            const iset *X = tableFind(m, t, m->tmp, k);
            const iset *Y = tableFind(m, t, &S->ranks[y], 1);
            if (!X || !Y) {
                free(rules);
                free(lp);
                return ly_error_set(m->err, LY_EINTERNAL, "internal", NULL,
                                    "a subset of a frequent itemset is missing");
            }
            uint64_t den = (uint64_t)X->count * Y->count;
            /* The combo's lift is that of its weakest rule: the largest denominator. */
            if (y == 0 || den > S->combo_den)
                S->combo_den = den;
            if (y == 0 || X->count < S->best_lhs_count ||
                (X->count == S->best_lhs_count && S->ranks[y] < S->best_rhs)) {
                S->best_lhs_count = X->count;
                S->best_rhs = S->ranks[y];
            }
            if ((double)S->count / (double)X->count < o->min_confidence)
                continue;
            S->has_rule = true;
            if (!MRESERVE(m, rules, cap, nr + 1) || !MRESERVE(m, lp, cap_lp, nlp + k))
                goto nomem;
            memcpy(lp + nlp, m->tmp, k * sizeof(uint32_t));
            rules[nr++] = (irule){.off = nlp, .n_lhs = k, .rhs = S->ranks[y], .count = S->count,
                                  .lhs_count = X->count, .rhs_count = Y->count};
            nlp += k;
        }
    }
    for (size_t r = 0; r < nr; r++)
        rules[r].lhs = lp ? lp + rules[r].off : NULL;
    *rules_out = rules;
    *n_out = nr;
    *lhs_pool_out = lp;
    return LY_OK;
nomem:
    free(rules);
    free(lp);
    return oom(m);
}

static ly_err validate(const ly_assoc_opts *o, ly_error *err)
{
    if (!(o->min_support >= 0.0 && o->min_support <= 1.0))
        return ly_error_set(err, LY_EINVAL, "invalid_option", "min_support",
                            "min_support must be in [0, 1]");
    if (!(o->min_confidence >= 0.0 && o->min_confidence <= 1.0))
        return ly_error_set(err, LY_EINVAL, "invalid_option", "min_confidence",
                            "min_confidence must be in [0, 1]");
    if (o->min_len < 1)
        return ly_error_set(err, LY_EINVAL, "invalid_option", "min_len", "min_len must be >= 1");
    if (o->max_len && o->max_len < o->min_len)
        return ly_error_set(err, LY_EINVAL, "invalid_option", "max_len",
                            "max_len must be 0 (no limit) or >= min_len");
    return LY_OK;
}

ly_err ly_assoc_mine(const ly_assoc *a, const ly_assoc_opts *opts, ly_assoc_result **out,
                     ly_error *err)
{
    *out = NULL;
    ly_assoc_opts defaults;
    if (!opts) {
        ly_assoc_opts_default(&defaults);
        opts = &defaults;
    }
    ly_err rc = validate(opts, err);
    if (rc != LY_OK)
        return rc;
    resultBox *box = calloc(1, sizeof(*box));
    ly_assoc_result *res = box ? &box->pub : NULL;
    if (!res)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    res->n_baskets = (uint32_t)a->n_baskets;
    if (a->n_baskets == 0) {
        res->min_count = 1;
        *out = res;
        return LY_OK;
    }

    miner m = {.a = a, .o = opts, .n_baskets = (uint32_t)a->n_baskets, .err = err};
    m.min_count = minCount(opts->min_support, m.n_baskets);
    res->min_count = m.min_count;
    settable t = {0};
    irule *rules = NULL;
    uint32_t *lhs_pool = NULL;
    iset **combos = NULL;
    size_t nr = 0;

    rc = mineSets(&m);
    if (rc != LY_OK)
        goto fail;
    for (size_t s = 0; s < m.n_sets; s++)
        m.sets[s].ranks = m.pool + m.sets[s].off;
    sortAll(m.sets, m.n_sets, sizeof(*m.sets), cmpSets);
    if (!tableBuild(&m, &t)) {
        rc = oom(&m);
        goto fail;
    }
    rc = mineRules(&m, &t, &rules, &nr, &lhs_pool);
    if (rc != LY_OK)
        goto fail;
    sortAll(rules, nr, sizeof(*rules), cmpRules);

    /* Combos: itemsets of at least max(2, min_len) items with a kept rule and lift > 1. */
    size_t nc = 0;
    combos = malloc((m.n_sets ? m.n_sets : 1) * sizeof(*combos));
    if (!combos) {
        rc = oom(&m);
        goto fail;
    }
    account(&m, 0, m.n_sets * sizeof(*combos));
    for (size_t s = 0; s < m.n_sets; s++) {
        iset *S = &m.sets[s];
        if (S->has_rule && S->n >= 2 && (u128)S->count * m.n_baskets > S->combo_den)
            combos[nc++] = S;
    }
    sortAll(combos, nc, sizeof(*combos), cmpCombos);

    /* The result, in builder ids. */
    size_t nrr = opts->max_rules && opts->max_rules < nr ? opts->max_rules : nr;
    size_t ncc = opts->max_combos && opts->max_combos < nc ? opts->max_combos : nc;
    size_t lhs_total = 0;
    for (size_t r = 0; r < nrr; r++)
        lhs_total += rules[r].n_lhs;
    res->itemsets = malloc((m.n_sets ? m.n_sets : 1) * sizeof(*res->itemsets));
    uint32_t *ids = box->ids = malloc((m.n_pool ? m.n_pool : 1) * sizeof(uint32_t));
    res->rules = malloc((nrr ? nrr : 1) * sizeof(*res->rules));
    uint32_t *lhs_ids = box->lhs_ids = malloc((lhs_total ? lhs_total : 1) * sizeof(uint32_t));
    res->combos = malloc((ncc ? ncc : 1) * sizeof(*res->combos));
    if (!res->itemsets || !ids || !res->rules || !lhs_ids || !res->combos) {
        rc = oom(&m);
        goto fail;
    }
    double dn = (double)m.n_baskets;
    for (size_t k = 0; k < m.n_pool; k++)
        ids[k] = m.id_of_rank[m.pool[k]];
    for (size_t s = 0; s < m.n_sets; s++) {
        const iset *S = &m.sets[s];
        res->itemsets[s] = (ly_assoc_itemset){.items = ids + S->off, .n_items = S->n,
                                              .count = S->count, .support = S->count / dn};
    }
    res->n_itemsets = m.n_sets;
    size_t off = 0;
    for (size_t r = 0; r < nrr; r++) {
        const irule *R = &rules[r];
        for (uint32_t k = 0; k < R->n_lhs; k++)
            lhs_ids[off + k] = m.id_of_rank[R->lhs[k]];
        double conf = (double)R->count / (double)R->lhs_count;
        res->rules[r] = (ly_assoc_rule){
            .lhs = lhs_ids + off, .n_lhs = R->n_lhs, .rhs = m.id_of_rank[R->rhs],
            .count = R->count, .lhs_count = R->lhs_count, .rhs_count = R->rhs_count,
            .support = R->count / dn, .confidence = conf,
            .lift = conf / ((double)R->rhs_count / dn)};
        off += R->n_lhs;
    }
    res->n_rules = nrr;
    res->n_rules_total = nr;
    for (size_t c = 0; c < ncc; c++) {
        const iset *S = combos[c];
        double indep = S->count / dn;
        for (uint32_t k = 0; k < S->n; k++)
            indep /= (double)a->item_baskets[m.id_of_rank[S->ranks[k]]] / dn;
        double lift = (double)S->count * dn / (double)S->combo_den;
        res->combos[c] = (ly_assoc_combo){
            .items = ids + S->off, .n_items = S->n, .count = S->count,
            .support = S->count / dn, .lift = lift,
            .extra_baskets = (double)S->count - (double)S->combo_den / dn,
            .independence = indep,
            .confidence = (double)S->count / (double)S->best_lhs_count,
            .best_rhs = m.id_of_rank[S->best_rhs]};
    }
    res->n_combos = ncc;
    res->n_combos_total = nc;
    res->memory = m.peak;
    free(combos);
    free(rules);
    free(lhs_pool);
    free(t.slot);
    minerFree(&m);
    *out = res;
    return LY_OK;

fail:
    free(combos);
    free(rules);
    free(lhs_pool);
    free(t.slot);
    minerFree(&m);
    ly_assoc_result_free(res);
    return rc;
}
