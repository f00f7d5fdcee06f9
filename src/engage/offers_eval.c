/*
 * offers_eval.c - the offline evaluation of personal offers (engage.h, ly_offers_evaluate):
 * one pass over a source splits the sales at a date; the earlier ones build the model, the
 * later ones are what each customer really bought. For every customer with both, the k
 * offers as of the split day are compared with two popularity lists: hit rate at k, per
 * offer kind too, and the lift over the baseline.
 */
#include "engage/offers_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct testSet {
    uint32_t *v;
    uint32_t n, cap;
} testSet;

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

static int cmpU32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static bool bought(const testSet *t, uint32_t item)
{
    return bsearch(&item, t->v, t->n, sizeof *t->v, cmpU32) != NULL;
}

static ly_err unsorted(const ly_an_receipt *r, ly_error *err)
{
    char field[32] = "";
    if (r->line) snprintf(field, sizeof field, "line %ld", r->line);
    return ly_error_set(err, LY_EINVAL, "unsorted_input", field,
                        "receipt %s of customer %s comes before the split after one after "
                        "it: receipts must be in time order per customer (use --sort)",
                        r->receipt_id ? r->receipt_id : "?", r->customer);
}

/* Counts one list of items against the customer's test purchases. */
static void score(ly_offers_eval_figures *f, const testSet *t, const uint32_t *items, size_t n,
                  bool *hit, int64_t *n_bought)
{
    f->customers++;
    f->offers += (int64_t)n;
    int64_t b = 0;
    for (size_t i = 0; i < n; i++) b += bought(t, items[i]);
    f->offers_bought += b;
    f->customers_hit += b > 0;
    if (hit) *hit = b > 0;
    if (n_bought) *n_bought = b;
}

ly_err ly_offers_evaluate(ly_source *src, const ly_offers_eval_options *o, ly_offers_eval *out,
                          ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (o->k < 1 || o->k > 100)
        return ly_error_set(err, LY_EINVAL, "invalid_option", "k", "k must be 1..100");
    out->split_day = o->split_day;
    out->horizon_days = o->horizon_days;
    out->k = o->k;
    ly_offers_options mo = o->model;
    mo.as_of_set = false; /* the split is applied here, so later sales reach the truth */
    out->options = mo;
    out->options.as_of_set = true;
    out->options.as_of_day = o->split_day;

    ly_offers_builder *b;
    ly_err rc = ly_offers_builder_new(&mo, &b, err);
    if (rc) return rc;
    ly_offers_model *m = ly__offers_builder_model(b);
    testSet *tests = NULL;
    size_t tests_cap = 0;
    ly__ofmap cold = {0};
    ly_arena cold_arena = {0};
    ly_an_receipt r;
    int got;
    while ((got = src->next(src->ctx, &r, err)) == 1) {
        int64_t day = ly__of_day(r.time, r.utc_offset_min);
        bool identified = r.customer && r.customer[0];
        if (day < o->split_day) {
            if (identified) { /* a sale before the split after one after it: out of order */
                uint32_t ci;
                if ((ly__ofmap_find(&m->cust_map, r.customer, &ci) && ci < tests_cap &&
                     tests[ci].n) ||
                    ly__ofmap_find(&cold, r.customer, &ci)) {
                    rc = unsorted(&r, err);
                    break;
                }
            }
            if ((rc = ly_offers_builder_add(b, &r, err)) != LY_OK) break;
            continue;
        }
        if (r.is_return || !identified) continue;
        if (o->horizon_days > 0 && day >= o->split_day + o->horizon_days) continue;
        out->test_receipts++;
        uint32_t ci;
        if (!ly__ofmap_find(&m->cust_map, r.customer, &ci)) {
            bool fresh;
            if ((rc = ly__ofmap_intern(&cold, &cold_arena, r.customer, &ci, &fresh, err))) break;
            continue;
        }
        if (ci >= tests_cap) {
            size_t cap = tests_cap ? tests_cap : 256;
            while (cap <= ci) cap *= 2;
            testSet *p = realloc(tests, cap * sizeof *p);
            if (!p) {
                rc = oom(err);
                break;
            }
            memset(p + tests_cap, 0, (cap - tests_cap) * sizeof *p);
            tests = p;
            tests_cap = cap;
        }
        testSet *t = &tests[ci];
        for (size_t i = 0; i < r.n_lines && !rc; i++) {
            if (!r.lines[i].sku || !r.lines[i].sku[0]) continue;
            uint32_t id;
            if ((rc = ly__offers_builder_item(b, &r.lines[i], &id, err))) break;
            if (t->n == t->cap) {
                uint32_t cap = t->cap ? t->cap * 2 : 16;
                uint32_t *p = realloc(t->v, cap * sizeof *p);
                if (!p) {
                    rc = oom(err);
                    break;
                }
                t->v = p;
                t->cap = cap;
            }
            t->v[t->n++] = id;
        }
        if (rc) break;
    }
    if (got < 0 && !rc) rc = err && err->kind ? err->kind : LY_EIO;
    out->cold_customers = (int64_t)cold.n;
    ly__ofmap_free(&cold);
    ly_arena_free(&cold_arena);
    if (rc) {
        ly_offers_builder_free(b);
        goto done;
    }
    if ((rc = ly_offers_builder_finish(b, &m, err)) != LY_OK) goto done;
    ly_offers_model_stats(m, &out->train);

    uint32_t *list = malloc(o->k * sizeof *list);
    if (!list) {
        rc = oom(err);
        ly_offers_model_free(m);
        goto done;
    }
    ly_arena a = {0};
    for (size_t ci = 0; ci < tests_cap && ci < m->n_custs && !rc; ci++) {
        testSet *t = &tests[ci];
        if (!t->n) continue;
        qsort(t->v, t->n, sizeof *t->v, cmpU32);
        uint32_t u = 0;
        for (uint32_t i = 0; i < t->n; i++)
            if (!u || t->v[u - 1] != t->v[i]) t->v[u++] = t->v[i];
        t->n = u;
        const ly__ofcust *c = &m->custs[ci];

        /* the popularity baselines */
        size_t np = 0, ne = 0;
        bool pop_hit = false;
        int64_t pop_bought = 0;
        for (size_t i = 0; i < m->n_popular && np < o->k; i++)
            if (!ly__of_citem(c, m->popular[i])) list[np++] = m->popular[i];
        score(&out->popularity, t, list, np, &pop_hit, &pop_bought);
        for (size_t i = 0; i < m->n_popular && ne < o->k; i++)
            if (ly__of_eligible(m, c, m->popular[i], o->split_day)) list[ne++] = m->popular[i];
        score(&out->popularity_eligible, t, list, ne, NULL, NULL);

        /* the offers */
        ly_offer *offers;
        size_t n;
        if ((rc = ly__offers_compute(m, (uint32_t)ci, o->split_day, o->k, &a, &offers, &n, err)))
            break;
        uint32_t kinds[LY_OFFER_KIND_COUNT] = {0}, kind_hits[LY_OFFER_KIND_COUNT] = {0};
        for (size_t i = 0; i < n; i++) {
            uint32_t id;
            ly__ofmap_find(&m->item_map, offers[i].sku, &id);
            list[i] = id;
            kinds[offers[i].kind]++;
            kind_hits[offers[i].kind] += bought(t, id);
        }
        score(&out->offers, t, list, n, NULL, NULL);
        if (!n) out->customers_without_offers++;
        for (int kd = 0; kd < LY_OFFER_KIND_COUNT; kd++) {
            if (!kinds[kd]) continue;
            ly_offers_eval_figures *f = &out->by_kind[kd];
            f->customers++;
            f->offers += kinds[kd];
            f->offers_bought += kind_hits[kd];
            f->customers_hit += kind_hits[kd] > 0;
            f->baseline_hit += pop_hit;
            f->baseline_offers += (int64_t)np;
            f->baseline_bought += pop_bought;
        }
        ly_arena_free(&a);
    }
    out->test_customers = out->offers.customers + out->cold_customers;
    free(list);
    ly_arena_free(&a);
    ly_offers_model_free(m);
done:
    for (size_t i = 0; i < tests_cap; i++) free(tests[i].v);
    free(tests);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------- */

static json_t *rate(int64_t a, int64_t b)
{
    if (b <= 0) return json_null();
    return json_real(round((double)a / (double)b * 1e6) / 1e6);
}

static json_t *figures(const ly_offers_eval_figures *f)
{
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "customers", json_integer(f->customers));
    json_object_set_new(j, "offers", json_integer(f->offers));
    json_object_set_new(j, "offers_bought", json_integer(f->offers_bought));
    json_object_set_new(j, "customers_hit", json_integer(f->customers_hit));
    json_object_set_new(j, "hit_rate", rate(f->customers_hit, f->customers));
    json_object_set_new(j, "precision", rate(f->offers_bought, f->offers));
    return j;
}

static json_t *lift(int64_t hit_a, int64_t n_a, int64_t hit_b, int64_t n_b)
{
    if (n_a <= 0 || n_b <= 0 || hit_b <= 0) return json_null();
    double x = ((double)hit_a / (double)n_a) / ((double)hit_b / (double)n_b);
    return json_real(round(x * 1e4) / 1e4);
}

static json_t *date(int64_t day)
{
    if (day < 0) return json_null();
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    return json_string(buf);
}

json_t *ly_offers_eval_json(const ly_offers_eval *e)
{
    json_t *root = json_object(), *train = json_object(), *test = json_object(),
           *kinds = json_object(), *opt = json_object();
    if (!root || !train || !test || !kinds || !opt) {
        json_decref(root);
        json_decref(train);
        json_decref(test);
        json_decref(kinds);
        json_decref(opt);
        return NULL;
    }
    const ly_offers_stats *s = &e->train;
    json_object_set_new(root, "format", json_string("loyal-offers-eval/1"));
    json_object_set_new(root, "split_date", date(e->split_day));
    json_object_set_new(root, "horizon_days", e->horizon_days > 0 ? json_integer(e->horizon_days)
                                                                    : json_null());
    json_object_set_new(root, "k", json_integer((json_int_t)e->k));
    json_object_set_new(train, "receipts", json_integer(s->receipts));
    json_object_set_new(train, "first_date", date(s->first_day));
    json_object_set_new(train, "last_date", date(s->last_day));
    json_object_set_new(train, "customers", json_integer(s->customers));
    json_object_set_new(train, "skus", json_integer(s->skus));
    json_object_set_new(train, "categories", json_integer(s->categories));
    json_object_set_new(train, "pairs", json_integer(s->pairs));
    json_object_set_new(train, "baskets_paired", json_integer(s->baskets_paired));
    json_object_set_new(train, "baskets_too_big", json_integer(s->baskets_too_big));
    json_object_set_new(train, "pairs_dropped", json_integer(s->pairs_dropped));
    json_object_set_new(train, "neighbours", json_integer(s->neighbours));
    json_object_set_new(train, "replenished_skus", json_integer(s->replenished));
    json_object_set_new(train, "memory_bytes", json_integer((json_int_t)s->memory_bytes));
    json_object_set_new(train, "build_peak_bytes", json_integer((json_int_t)s->build_peak_bytes));
    json_object_set_new(root, "train", train);
    json_object_set_new(test, "receipts", json_integer(e->test_receipts));
    json_object_set_new(test, "customers", json_integer(e->test_customers));
    json_object_set_new(test, "cold_customers", json_integer(e->cold_customers));
    json_object_set_new(test, "evaluated", json_integer(e->offers.customers));
    json_object_set_new(test, "customers_without_offers", json_integer(e->customers_without_offers));
    json_object_set_new(root, "test", test);
    json_object_set_new(root, "offers", figures(&e->offers));
    json_object_set_new(root, "popularity", figures(&e->popularity));
    json_object_set_new(root, "popularity_eligible", figures(&e->popularity_eligible));
    json_object_set_new(root, "lift", lift(e->offers.customers_hit, e->offers.customers,
                                           e->popularity.customers_hit, e->popularity.customers));
    json_object_set_new(root, "lift_vs_eligible",
                        lift(e->offers.customers_hit, e->offers.customers,
                             e->popularity_eligible.customers_hit, e->popularity_eligible.customers));
    for (int k = 0; k < LY_OFFER_KIND_COUNT; k++) {
        const ly_offers_eval_figures *f = &e->by_kind[k];
        json_t *j = figures(f);
        if (!j) continue;
        /* a kind has fewer items than the popularity list: compare precision, per item */
        json_object_set_new(j, "popularity_hit_rate", rate(f->baseline_hit, f->customers));
        json_object_set_new(j, "popularity_precision", rate(f->baseline_bought, f->baseline_offers));
        json_object_set_new(j, "precision_lift", lift(f->offers_bought, f->offers,
                                                      f->baseline_bought, f->baseline_offers));
        json_object_set_new(kinds, ly_offer_kind_name((ly_offer_kind)k), j);
    }
    json_object_set_new(root, "by_kind", kinds);
    const ly_offers_options *o = &e->options;
    json_object_set_new(opt, "max_basket", json_integer(o->max_basket));
    json_object_set_new(opt, "max_pairs", json_integer((json_int_t)o->max_pairs));
    json_object_set_new(opt, "neighbours", json_integer(o->neighbours));
    json_object_set_new(opt, "min_pair_count", json_integer(o->min_pair_count));
    json_object_set_new(opt, "min_lift", json_real(o->min_lift));
    json_object_set_new(opt, "anchors", json_integer(o->anchors));
    json_object_set_new(opt, "just_bought_days", json_integer(o->just_bought_days));
    json_object_set_new(opt, "replenish_min", json_integer(o->replenish_min));
    json_object_set_new(opt, "lookalikes", json_integer(o->lookalikes));
    json_object_set_new(opt, "min_lookalikes", json_integer(o->min_lookalikes));
    json_object_set_new(opt, "upgrade_min_pct", json_integer(o->upgrade_min_pct));
    json_object_set_new(opt, "upgrade_max_pct", json_integer(o->upgrade_max_pct));
    json_object_set_new(opt, "min_buyers", json_integer(o->min_buyers));
    json_object_set_new(opt, "sku_prefix_category", json_integer(o->sku_prefix_category));
    json_object_set_new(opt, "max_per_kind", json_integer(o->max_per_kind));
    json_object_set_new(root, "options", opt);
    return root;
}
