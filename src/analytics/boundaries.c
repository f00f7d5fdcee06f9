/*
 * boundaries.c - the sleep and churn boundaries (the return curve) and the loyalty boundary
 * with the deal-to-deal figures (METHOD.md sections 4 and 6).
 *
 * The return curve is a Kaplan-Meier estimate over the gaps between one customer's
 * consecutive deals, in whole local days. A gap that ended (the next deal came) is an event
 * at its length; the open gap of every customer at the as-of day is right-censored. The
 * share that never comes back is the curve's plateau S_inf = S(tail), tail being the longest
 * gap that ended while at least 1% of all gaps were still at risk (a handful of very long
 * gaps at the end of the history would otherwise halve the plateau and push both boundaries
 * to the end of the data); P(a deal comes | absent d days) = (S(d) - S_inf) / S(d).
 */
#include "analytics/an_internal.h"

#include <math.h>

ly_err ly__an_curve(ly_an_result *r, const int64_t *events, const int64_t *censored,
                    ly_error *err)
{
    ly_an_return_curve *c = &r->curve;
    c->tail_day = -1;
    c->sleep_day = c->churn_day = -1;
    c->s_inf = 1;
    for (int64_t d = 0; d <= LY_AN_GAP_MAX; d++) {
        c->gaps_closed += events[d];
        c->gaps_open += censored[d];
        if (events[d]) c->tail_day = d;
    }
    if (c->tail_day < 0) return LY_OK;
    size_t n = (size_t)c->tail_day + 1;
    c->n = n;
    c->events = malloc(n * sizeof *c->events);
    c->censored = malloc(n * sizeof *c->censored);
    c->at_risk = malloc(n * sizeof *c->at_risk);
    c->survival = malloc(n * sizeof *c->survival);
    c->p_return = malloc(n * sizeof *c->p_return);
    if (!c->events || !c->censored || !c->at_risk || !c->survival || !c->p_return)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    /* at risk at d: every gap known to be at least d long */
    int64_t risk = 0;
    for (int64_t d = LY_AN_GAP_MAX; d >= 0; d--) {
        risk += events[d] + censored[d];
        if ((size_t)d < n) c->at_risk[d] = risk;
    }
    double s = 1;
    for (size_t d = 0; d < n; d++) {
        c->events[d] = events[d];
        c->censored[d] = censored[d];
        if (c->at_risk[d] > 0) s *= 1.0 - (double)events[d] / (double)c->at_risk[d];
        c->survival[d] = s;
    }
    /* The tail: the last event with at least 1% of all gaps (at least one) still at risk. */
    int64_t all = c->gaps_closed + c->gaps_open;
    int64_t min_risk = (all + 99) / 100;
    for (int64_t d = (int64_t)n - 1; d >= 0; d--) {
        if (events[d] && c->at_risk[d] >= min_risk) {
            c->tail_day = d;
            break;
        }
    }
    c->s_inf = c->survival[c->tail_day];
    for (size_t d = 0; d < n; d++) {
        double sd = c->survival[d];
        double p = sd > 0 ? (sd - c->s_inf) / sd : 0;
        if (p < 0) p = 0;
        c->p_return[d] = p;
        if (c->sleep_day < 0 && p < c->sleep_level) c->sleep_day = (int64_t)d;
        if (c->churn_day < 0 && p < c->churn_level) c->churn_day = (int64_t)d;
    }
    return LY_OK;
}

/* The value at 0-based position pos of the histogram h[0..LY_AN_GAP_MAX]. */
static int64_t histAt(const int64_t *h, int64_t pos)
{
    int64_t cum = 0;
    for (int64_t d = 0; d <= LY_AN_GAP_MAX; d++) {
        cum += h[d];
        if (cum > pos) return d;
    }
    return LY_AN_GAP_MAX;
}

void ly__an_loyalty(ly_an_result *r, const int64_t *gap_hist, const double *gap_sum)
{
    int64_t horizon = r->curve.churn_day >= 0 ? r->curve.churn_day
                      : r->curve.tail_day >= 0 ? r->curve.tail_day + 1
                                               : INT64_MAX;
    r->loyalty_horizon_days = horizon == INT64_MAX ? -1 : horizon;
    for (int i = 0; i < LY_AN_NMAX; i++) r->dealn[i].n = i + 1;
    for (size_t i = 0; i < r->n_customers; i++) {
        const ly_an_customer *c = &r->customers[i];
        if (c->deals == 0) continue;
        int64_t F = c->deals;
        int64_t top = F < LY_AN_NMAX ? F : LY_AN_NMAX;
        for (int64_t n = 1; n <= top; n++) r->dealn[n - 1].reached++;
        for (int64_t n = 1; n < top; n++) r->dealn[n - 1].converted++;
        if (F > LY_AN_NMAX) r->dealn[LY_AN_NMAX - 1].converted += F - LY_AN_NMAX;
        if (c->r_days >= horizon) r->dealn[top - 1].lost++;
        else r->dealn[top - 1].open++;
    }
    for (int i = 0; i < LY_AN_NMAX; i++) {
        ly_an_dealn *d = &r->dealn[i];
        int64_t known = d->converted + d->lost;
        d->conversion = known ? (double)d->converted / (double)known : NAN;
        const int64_t *h = gap_hist + (size_t)i * (LY_AN_GAP_MAX + 1);
        for (int64_t g = 0; g <= LY_AN_GAP_MAX; g++) d->gaps += h[g];
        if (d->gaps) {
            d->gap_mean = gap_sum[i] / (double)d->gaps;
            d->gap_median = ((double)histAt(h, (d->gaps - 1) / 2) + (double)histAt(h, d->gaps / 2)) / 2;
        } else {
            d->gap_mean = d->gap_median = NAN;
        }
        d->avg_receipt = d->deal_count ? (double)d->deal_revenue / (double)d->deal_count : NAN;
    }
    /* The loyalty boundary: the smallest n whose conversion (known >= min) is at least the
     * level, and every later n with enough known customers stays at least at the level. */
    r->loyalty_boundary = -1;
    for (int i = LY_AN_NMAX - 1; i >= 0; i--) {
        const ly_an_dealn *d = &r->dealn[i];
        if (d->converted + d->lost < (r->loyalty_min_known > 0 ? r->loyalty_min_known : 1))
            continue;
        if (d->conversion >= r->loyalty_level) r->loyalty_boundary = d->n;
        else break;
    }
}

const char *ly_an_loyalty_name(const ly_an_result *r, const ly_an_customer *c)
{
    if (r->loyalty_boundary < 0) return "unknown";
    return c->deals >= r->loyalty_boundary ? "reached" : "below";
}
