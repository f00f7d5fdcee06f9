/*
 * tiers.c - suggested tiers: thresholds of yearly spend at the method's quantiles, and what
 * each tier's earn rate would cost (tiers.h). Money and points stay integers here.
 */
#include "analytics/analytics.h"
#include "analytics/tiers.h"

#include <stdlib.h>
#include <string.h>

ly_money ly_an_yearly_spend(const ly_an_result *r, size_t i)
{
    const ly_an_customer *c = &r->customers[i];
    if (c->revenue <= 0) return 0;
    int64_t days = r->as_of_day - c->first_day;
    if (days < 365) days = 365;
    ly_money out = 0;
    if (!ly_muldiv(c->revenue, 365, days, LY_ROUND_DOWN, &out)) return c->revenue;
    return out;
}

static int cmpMoney(const void *a, const void *b)
{
    ly_money x = *(const ly_money *)a, y = *(const ly_money *)b;
    return (x > y) - (x < y);
}

ly_err ly_an_suggest_tiers(const ly_an_result *r, const double *cuts, const int64_t *rates_bp,
                           size_t n, ly_money point_value, ly_an_tiers *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 1 || n > LY_AN_TIERS_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "cuts", "1 to %d tiers", LY_AN_TIERS_MAX);
    for (size_t t = 0; t + 1 < n; t++)
        if (!(cuts[t] > 0 && cuts[t] < 1) || (t > 0 && !(cuts[t] > cuts[t - 1])))
            return ly_error_set(err, LY_EINVAL, "invalid_value", "cuts",
                                "quantiles must rise strictly between 0 and 1");
    for (size_t t = 0; t < n; t++)
        if (rates_bp[t] < 0 || rates_bp[t] > 10000)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "rates", "rates are 0..100%%");
    if (point_value <= 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "point_value", "must be more than 0");

    size_t m = 0;
    for (size_t i = 0; i < r->n_customers; i++) m += r->customers[i].deals > 0;
    ly_money *spend = malloc((m ? m : 1) * sizeof *spend);
    if (!spend) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < r->n_customers; i++)
        if (r->customers[i].deals > 0) spend[k++] = ly_an_yearly_spend(r, i);
    qsort(spend, m, sizeof *spend, cmpMoney);

    out->n = n;
    out->customers = (int64_t)m;
    for (size_t t = 0; t < n; t++) {
        out->tiers[t].rate_bp = rates_bp[t];
        if (t == 0 || m == 0) continue;
        /* The value at the quantile; equal spends then share whichever tier it opens. */
        size_t at = (size_t)(cuts[t - 1] * (double)m);
        if (at >= m) at = m - 1;
        ly_money th = spend[at];
        if (th < out->tiers[t - 1].min_yearly_spend) th = out->tiers[t - 1].min_yearly_spend;
        out->tiers[t].min_yearly_spend = th;
    }
    for (size_t i = 0; i < m; i++) {
        size_t t = n - 1;
        while (t > 0 && spend[i] < out->tiers[t].min_yearly_spend) t--;
        /* Equal thresholds (heavy ties): the customer holds the highest tier they reach. */
        ly_an_tier *tier = &out->tiers[t];
        tier->customers++;
        tier->yearly_spend += spend[i];
        ly_points p = 0;
        if (ly_muldiv(spend[i], tier->rate_bp, 10000, LY_ROUND_DOWN, &p)) p /= point_value;
        else p = 0;
        tier->yearly_points += p;
    }
    for (size_t t = 0; t < n; t++) {
        ly_an_tier *tier = &out->tiers[t];
        tier->yearly_cost = tier->yearly_points * point_value;
        out->yearly_spend += tier->yearly_spend;
        out->yearly_points += tier->yearly_points;
        out->yearly_cost += tier->yearly_cost;
    }
    for (size_t t = 0; t < n; t++) {
        ly_an_tier *tier = &out->tiers[t];
        tier->share_customers = m ? (double)tier->customers / (double)m : 0;
        tier->share_spend = out->yearly_spend ? (double)tier->yearly_spend / (double)out->yearly_spend : 0;
    }
    free(spend);
    return LY_OK;
}
