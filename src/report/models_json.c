/*
 * models_json.c - the sections of the analysis that models.h and tiers.h compute, as JSON:
 * "clv", "copurchases" and "suggested_tiers" for machines (docs/analytics.md), and the
 * "clv" and "copurchases" sections of the HTML report's view (docs/report.md).
 */
#include "report/report.h"

#include <math.h>
#include <string.h>

typedef struct jb {
    bool ok;
} jb;

static void put(jb *b, json_t *o, const char *k, json_t *v)
{
    if (!o || !v || json_object_set_new(o, k, v) != 0) b->ok = false;
}

static void add(jb *b, json_t *a, json_t *v)
{
    if (!a || !v || json_array_append_new(a, v) != 0) b->ok = false;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *done(jb *b, json_t *o)
{
    if (b->ok) return o;
    json_decref(o);
    return NULL;
}

static json_t *fitInfo(jb *b, const ly_clv_fit_info *f)
{
    json_t *o = json_object();
    put(b, o, "loglik", num(f->loglik));
    put(b, o, "customers", json_integer((json_int_t)f->n));
    put(b, o, "evaluations", json_integer(f->evaluations));
    return o;
}

static json_t *histJson(jb *b, const ly_an_clv *c)
{
    json_t *a = json_array();
    for (int i = 0; i < LY_AN_CLV_BUCKETS; i++) {
        if (i > 0 && c->hist_to[i] == 0) break;
        json_t *h = json_object();
        put(b, h, "from", num(c->hist_from[i]));
        put(b, h, "to", num(c->hist_to[i]));
        put(b, h, "customers", json_integer(c->hist[i]));
        add(b, a, h);
    }
    return a;
}

json_t *ly_report_clv_json(const ly_an_clv *c)
{
    jb b = {.ok = true};
    json_t *o = json_object();
    put(&b, o, "fitted", json_boolean(c->fitted));
    put(&b, o, "why", c->fitted ? json_null() : json_string(c->why));
    put(&b, o, "time_unit", json_string("week"));
    put(&b, o, "model", json_string(c->opt.kind == LY_CLV_PNBD ? "pareto_nbd" : "bg_nbd"));
    if (c->bgnbd.fit.n) {
        json_t *m = json_object();
        put(&b, m, "r", num(c->bgnbd.r));
        put(&b, m, "alpha", num(c->bgnbd.alpha));
        put(&b, m, "a", num(c->bgnbd.a));
        put(&b, m, "b", num(c->bgnbd.b));
        put(&b, m, "fit", fitInfo(&b, &c->bgnbd.fit));
        put(&b, o, "bg_nbd", m);
    } else {
        put(&b, o, "bg_nbd", json_null());
    }
    if (c->pnbd_fitted) {
        json_t *m = json_object();
        put(&b, m, "r", num(c->pnbd.r));
        put(&b, m, "alpha", num(c->pnbd.alpha));
        put(&b, m, "s", num(c->pnbd.s));
        put(&b, m, "beta", num(c->pnbd.beta));
        put(&b, m, "fit", fitInfo(&b, &c->pnbd.fit));
        put(&b, o, "pareto_nbd", m);
    } else {
        put(&b, o, "pareto_nbd", json_null());
    }
    if (c->gg_fitted) {
        json_t *m = json_object();
        put(&b, m, "p", num(c->gg.p));
        put(&b, m, "q", num(c->gg.q));
        put(&b, m, "gamma", num(c->gg.gamma));
        put(&b, m, "mean_spend", num(ly_gg_population_mean(&c->gg)));
        put(&b, m, "fit", fitInfo(&b, &c->gg.fit));
        put(&b, o, "gamma_gamma", m);
    } else {
        put(&b, o, "gamma_gamma", json_null());
    }
    put(&b, o, "horizon_weeks", json_integer(c->opt.horizon_weeks));
    put(&b, o, "margin", num(c->opt.margin));
    put(&b, o, "discount_rate", num(c->opt.discount_rate));
    put(&b, o, "total_value", c->fitted ? num(c->total_value) : json_null());
    put(&b, o, "expected_purchases", c->fitted ? num(c->expected_purchases) : json_null());
    put(&b, o, "hist", c->fitted ? histJson(&b, c) : json_array());
    return done(&b, o);
}

static json_t *itemNames(jb *b, const ly_assoc *a, const uint32_t *ids, size_t n)
{
    json_t *v = json_array();
    for (size_t i = 0; i < n; i++) add(b, v, json_string(ly_assoc_item_name(a, ids[i])));
    return v;
}

json_t *ly_report_copurchases_json(const ly_assoc *a, const ly_assoc_result *res,
                                   const ly_assoc_opts *o, const char *level)
{
    jb b = {.ok = true};
    json_t *out = json_object();
    put(&b, out, "level", json_string(level));
    put(&b, out, "baskets", json_integer(res->n_baskets));
    put(&b, out, "min_support", num(o->min_support));
    put(&b, out, "min_confidence", num(o->min_confidence));
    put(&b, out, "min_len", json_integer(o->min_len));
    put(&b, out, "min_count", json_integer(res->min_count));
    put(&b, out, "itemsets", json_integer((json_int_t)res->n_itemsets));
    put(&b, out, "rules_total", json_integer((json_int_t)res->n_rules_total));
    json_t *rules = json_array();
    for (size_t i = 0; i < res->n_rules; i++) {
        const ly_assoc_rule *r = &res->rules[i];
        json_t *j = json_object();
        put(&b, j, "lhs", itemNames(&b, a, r->lhs, r->n_lhs));
        put(&b, j, "rhs", itemNames(&b, a, &r->rhs, 1));
        put(&b, j, "count", json_integer(r->count));
        put(&b, j, "support", num(r->support));
        put(&b, j, "confidence", num(r->confidence));
        put(&b, j, "lift", num(r->lift));
        add(&b, rules, j);
    }
    put(&b, out, "rules", rules);
    put(&b, out, "combos_total", json_integer((json_int_t)res->n_combos_total));
    json_t *combos = json_array();
    for (size_t i = 0; i < res->n_combos; i++) {
        const ly_assoc_combo *c = &res->combos[i];
        json_t *j = json_object();
        put(&b, j, "items", itemNames(&b, a, c->items, c->n_items));
        put(&b, j, "count", json_integer(c->count));
        put(&b, j, "support", num(c->support));
        put(&b, j, "lift", num(c->lift));
        put(&b, j, "extra_baskets", num(c->extra_baskets));
        put(&b, j, "confidence", num(c->confidence));
        add(&b, combos, j);
    }
    put(&b, out, "combos", combos);
    return done(&b, out);
}

json_t *ly_report_tiers_json(const ly_an_tiers *t, const double *cuts)
{
    jb b = {.ok = true};
    json_t *o = json_object();
    put(&b, o, "customers", json_integer(t->customers));
    put(&b, o, "yearly_spend", json_integer(t->yearly_spend));
    put(&b, o, "yearly_points", json_integer(t->yearly_points));
    put(&b, o, "yearly_cost", json_integer(t->yearly_cost));
    json_t *a = json_array();
    for (size_t i = 0; i < t->n; i++) {
        const ly_an_tier *x = &t->tiers[i];
        json_t *j = json_object();
        put(&b, j, "quantile", i == 0 ? json_integer(0) : num(cuts[i - 1]));
        put(&b, j, "min_yearly_spend", json_integer(x->min_yearly_spend));
        put(&b, j, "customers", json_integer(x->customers));
        put(&b, j, "share_customers", num(x->share_customers));
        put(&b, j, "yearly_spend", json_integer(x->yearly_spend));
        put(&b, j, "share_spend", num(x->share_spend));
        put(&b, j, "rate_percent", num((double)x->rate_bp / 100.0));
        put(&b, j, "yearly_points", json_integer(x->yearly_points));
        put(&b, j, "yearly_cost", json_integer(x->yearly_cost));
        add(&b, a, j);
    }
    put(&b, o, "tiers", a);
    return done(&b, o);
}

/* The report's view (docs/report.md): only what the charts draw. */
json_t *ly_report_clv_view(const ly_an_clv *c)
{
    if (!c->fitted) return json_null();
    jb b = {.ok = true};
    json_t *o = json_object();
    bool pnbd = c->opt.kind == LY_CLV_PNBD;
    put(&b, o, "model", json_string(pnbd ? "Pareto/NBD + Gamma-Gamma" : "BG/NBD + Gamma-Gamma"));
    json_t *p = json_object();
    if (pnbd) {
        put(&b, p, "r", num(c->pnbd.r));
        put(&b, p, "alpha", num(c->pnbd.alpha));
        put(&b, p, "s", num(c->pnbd.s));
        put(&b, p, "beta", num(c->pnbd.beta));
    } else {
        put(&b, p, "r", num(c->bgnbd.r));
        put(&b, p, "alpha", num(c->bgnbd.alpha));
        put(&b, p, "a", num(c->bgnbd.a));
        put(&b, p, "b", num(c->bgnbd.b));
    }
    put(&b, p, "p", num(c->gg.p));
    put(&b, p, "q", num(c->gg.q));
    put(&b, p, "gamma", num(c->gg.gamma));
    put(&b, o, "params", p);
    put(&b, o, "hist", histJson(&b, c));
    put(&b, o, "total", num(c->total_value));
    return done(&b, o);
}

json_t *ly_report_copurchases_view(const json_t *copurchases, size_t top)
{
    jb b = {.ok = true};
    json_t *o = json_object();
    const char *keys[] = {"rules", "combos"};
    for (int k = 0; k < 2; k++) {
        json_t *src = json_object_get(copurchases, keys[k]);
        json_t *dst = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(src, i, v) {
            if (i >= top) break;
            json_t *j = json_object();
            const char *fields[] = {"lhs", "rhs", "items", "support", "confidence", "lift"};
            for (int f = 0; f < 6; f++) {
                json_t *x = json_object_get(v, fields[f]);
                if (x) put(&b, j, fields[f], json_deep_copy(x));
            }
            add(&b, dst, j);
        }
        put(&b, o, keys[k], dst);
    }
    return done(&b, o);
}
