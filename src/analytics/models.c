/*
 * models.c - CLV for every customer of an analysis, and the basket collector that feeds
 * co-purchase mining from the same pass (models.h).
 */
#include "analytics/models.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ly_an_clv_options_default(ly_an_clv_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = LY_CLV_BGNBD;
    o->fit_pnbd = false; /* opt in: about 20x BG/NBD on real data, more on a million customers */
    o->horizon_weeks = 52;
    o->margin = 0.3;
    o->discount_rate = 0.1;
}

void ly_an_clv_free(ly_an_clv *c)
{
    if (!c) return;
    free(c->p_alive);
    free(c->purchases);
    free(c->spend);
    free(c->value);
    memset(c, 0, sizeof *c);
}

/* A customer's summary in weeks; false for one without a deal. The customer is observed
 * up to the last day before the analysis date (the day the data end), as in the models'
 * literature: T = that day - first purchase. */
static bool summaryOf(const ly_an_result *r, const ly_an_customer *c, ly_clv_customer *out)
{
    if (c->deals <= 0) return false;
    double T = (double)(r->as_of_day - 1 - c->first_day) / 7.0;
    /* First bought on the very last day: no time observed yet. Half a day keeps the models
     * defined (x = 0 there, so the fit barely notices). */
    if (!(T > 0)) T = 0.5 / 7.0;
    out->x = (double)(c->deals - 1);
    out->t_x = c->deals > 1 ? (double)(c->last_deal_day - c->first_day) / 7.0 : 0;
    if (out->t_x > T) out->t_x = T;
    out->T = T;
    out->zbar = 0;
    if (c->deals > 1) {
        double repeat = (double)(c->revenue - c->first_total);
        out->zbar = repeat > 0 ? repeat / out->x : 0;
    }
    return true;
}

/* A customer's history as the frequency models see it, to sort equal ones together. */
typedef struct history {
    double x, t_x, T;
    size_t k; /* index into the summaries */
} history;

static int cmpHistory(const void *pa, const void *pb)
{
    const history *a = pa, *b = pb;
    if (a->x != b->x) return a->x < b->x ? -1 : 1;
    if (a->t_x != b->t_x) return a->t_x < b->t_x ? -1 : 1;
    if (a->T != b->T) return a->T < b->T ? -1 : 1;
    return (a->k > b->k) - (a->k < b->k);
}

static bool sameHistory(const history *a, const history *b)
{
    return a->x == b->x && a->t_x == b->t_x && a->T == b->T;
}

static void histogram(ly_an_clv *c)
{
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < c->n; i++) {
        double v = c->value[i];
        if (!isfinite(v) || v < 1) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    /* Decades of minor units from the smallest value to the largest, at most 11 of them
     * after the bucket of values under the first edge. */
    int klo = isfinite(lo) ? (int)floor(log10(lo)) : 0;
    int khi = hi >= 1 ? (int)ceil(log10(hi)) : klo + 1;
    if (khi <= klo) khi = klo + 1;
    if (khi - klo > LY_AN_CLV_BUCKETS - 1) klo = khi - (LY_AN_CLV_BUCKETS - 1);
    int nb = khi - klo + 1;
    for (int b = 0; b < LY_AN_CLV_BUCKETS; b++) {
        c->hist[b] = 0;
        c->hist_from[b] = c->hist_to[b] = 0;
    }
    c->hist_from[0] = 0;
    c->hist_to[0] = pow(10, klo);
    for (int b = 1; b < nb; b++) {
        c->hist_from[b] = pow(10, klo + b - 1);
        c->hist_to[b] = pow(10, klo + b);
    }
    for (size_t i = 0; i < c->n; i++) {
        double v = c->value[i];
        if (!isfinite(v)) continue;
        int b = 0;
        while (b + 1 < nb && v >= c->hist_to[b]) b++;
        c->hist[b]++;
    }
}

ly_err ly_an_clv_fit(const ly_an_result *r, const ly_an_clv_options *opt, ly_an_clv *out,
                     ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (opt) out->opt = *opt;
    else ly_an_clv_options_default(&out->opt);
    size_t n = r->n_customers;
    out->n = n;
    size_t alloc = n ? n : 1;
    out->p_alive = malloc(alloc * sizeof(double));
    out->purchases = malloc(alloc * sizeof(double));
    out->spend = malloc(alloc * sizeof(double));
    out->value = malloc(alloc * sizeof(double));
    ly_clv_customer *cs = malloc(alloc * sizeof *cs);
    size_t *idx = malloc(alloc * sizeof *idx);
    if (!out->p_alive || !out->purchases || !out->spend || !out->value || !cs || !idx) {
        free(cs);
        free(idx);
        ly_an_clv_free(out);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        out->p_alive[i] = out->purchases[i] = out->spend[i] = out->value[i] = NAN;
        if (summaryOf(r, &r->customers[i], &cs[m])) idx[m++] = i;
    }

    ly_error fe;
    ly_error_clear(&fe);
    ly_err rc = m ? ly_bgnbd_fit(cs, m, &out->bgnbd, &fe) : LY_EUNPROCESSABLE;
    if (rc == LY_ENOMEM) goto oom;
    if (rc != LY_OK) {
        snprintf(out->why, sizeof out->why, "BG/NBD: %s", m ? fe.message : "no customer with a deal");
        goto done;
    }
    if (out->opt.fit_pnbd) {
        ly_error pe;
        ly_err prc = ly_pnbd_fit(cs, m, &out->pnbd, &pe);
        if (prc == LY_ENOMEM) goto oom;
        out->pnbd_fitted = prc == LY_OK;
    }
    /* Repeat buyers whose repeat deals brought nothing net (returned) tell the spend model
     * nothing: it is fitted without them, and they are valued at the population's mean. */
    size_t no_spend = 0;
    for (size_t k = 0; k < m; k++) no_spend += cs[k].x > 0 && !(cs[k].zbar > 0);
    ly_clv_customer *gs = cs;
    if (no_spend) {
        gs = malloc(m * sizeof *gs);
        if (!gs) goto oom;
        for (size_t k = 0; k < m; k++) {
            gs[k] = cs[k];
            if (gs[k].x > 0 && !(gs[k].zbar > 0)) gs[k].x = 0, gs[k].t_x = 0, gs[k].zbar = 0;
        }
    }
    ly_error ge;
    ly_err grc = ly_gg_fit(gs, m, &out->gg, &ge);
    if (gs != cs) free(gs);
    if (grc == LY_ENOMEM) goto oom;
    out->gg_fitted = grc == LY_OK;
    if (!out->gg_fitted) {
        snprintf(out->why, sizeof out->why, "Gamma-Gamma: %s", ge.message);
        goto done;
    }
    if (out->opt.kind == LY_CLV_PNBD && !out->pnbd_fitted) {
        snprintf(out->why, sizeof out->why, "Pareto/NBD did not fit");
        goto done;
    }
    out->fitted = true;

    ly_clv_model model = {.kind = out->opt.kind, .bgnbd = out->bgnbd, .pnbd = out->pnbd};
    /* Weekly periods; the yearly discount rate as its weekly equivalent. */
    ly_clv_terms terms = {.periods = out->opt.horizon_weeks > 0 ? out->opt.horizon_weeks : 52,
                          .period_length = 1.0, .margin = out->opt.margin,
                          .discount_rate = pow(1.0 + out->opt.discount_rate, 1.0 / 52.0) - 1.0};
    double mean_spend = ly_gg_population_mean(&out->gg);
    /* P(alive) and the discounted expected purchases depend on (x, t_x, T) alone, and a
     * million customers share far fewer of those (days): each is computed once, in the
     * order of a sort by them, and only the spend is the customer's own. CLV is linear in
     * the spend, so value = margin x spend x (discounted purchases). */
    history *ord = malloc((m ? m : 1) * sizeof *ord);
    if (!ord) goto oom;
    for (size_t k = 0; k < m; k++) ord[k] = (history){cs[k].x, cs[k].t_x, cs[k].T, k};
    qsort(ord, m, sizeof *ord, cmpHistory);
    double p_alive = NAN, purchases = NAN, discounted = NAN;
    for (size_t j = 0; j < m; j++) {
        size_t k = ord[j].k;
        ly_clv_customer cc = cs[k];
        if (cc.x > 0 && !(cc.zbar > 0)) cc.zbar = mean_spend;
        const ly_clv_customer *c = &cc;
        size_t i = idx[k];
        if (j == 0 || !sameHistory(&ord[j - 1], &ord[j])) {
            p_alive = out->opt.kind == LY_CLV_PNBD ? ly_pnbd_p_alive(&out->pnbd, c->x, c->t_x, c->T)
                                                   : ly_bgnbd_p_alive(&out->bgnbd, c->x, c->t_x, c->T);
            ly_clv_result v;
            ly_error ve;
            purchases = discounted = NAN;
            if (ly_clv_value(&model, &out->gg, c, &terms, &v, &ve) == LY_OK) {
                purchases = v.purchases;
                /* margin 0 or no spend: worth nothing, whatever the customer's spend */
                discounted = v.spend > 0 && out->opt.margin > 0 ? v.value / (out->opt.margin * v.spend) : 0;
            }
        }
        out->p_alive[i] = p_alive;
        if (!isfinite(purchases)) continue;
        double spend = ly_gg_expected_spend(&out->gg, c->x, c->zbar);
        double value = out->opt.margin * spend * discounted;
        if (!isfinite(value)) continue;
        out->purchases[i] = purchases;
        out->spend[i] = spend;
        out->value[i] = value;
        out->total_value += value;
        out->expected_purchases += purchases;
    }
    free(ord);
    histogram(out);
done:
    free(cs);
    free(idx);
    return LY_OK;
oom:
    free(cs);
    free(idx);
    ly_an_clv_free(out);
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------
 * Baskets
 * ------------------------------------------------------------------------------------- */

bool ly_an_item_level_parse(const char *s, ly_an_item_level *out)
{
    if (s && strcmp(s, "sku") == 0) *out = LY_AN_ITEM_SKU;
    else if (s && strcmp(s, "category") == 0) *out = LY_AN_ITEM_CATEGORY;
    else return false;
    return true;
}

bool ly_an_baskets_init(ly_an_baskets *b, ly_an_item_level level)
{
    memset(b, 0, sizeof *b);
    b->level = level;
    b->assoc = ly_assoc_new();
    return b->assoc != NULL;
}

void ly_an_baskets_free(ly_an_baskets *b)
{
    if (!b) return;
    ly_assoc_free(b->assoc);
    free(b->items_);
    free(b->lens_);
    memset(b, 0, sizeof *b);
}

void ly_an_baskets_hook(void *ctx, const ly_an_receipt *r, ly_an_kind kind)
{
    ly_an_baskets *b = ctx;
    if (b->rc != LY_OK || kind == LY_AN_RETURN || r->is_return) return;
    if (r->n_lines > b->cap_) {
        size_t nc = r->n_lines * 2;
        const char **items = realloc(b->items_, nc * sizeof *items);
        if (items) b->items_ = items;
        size_t *lens = realloc(b->lens_, nc * sizeof *lens);
        if (lens) b->lens_ = lens;
        if (!items || !lens) {
            b->rc = ly_error_set(&b->err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            return;
        }
        b->cap_ = nc;
    }
    size_t n = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        const char *s = b->level == LY_AN_ITEM_CATEGORY ? r->lines[i].category : r->lines[i].sku;
        if (!s || !*s) continue;
        b->items_[n] = s;
        b->lens_[n] = strlen(s);
        n++;
    }
    b->rc = ly_assoc_add(b->assoc, b->items_, b->lens_, n, &b->err);
}
