/*
 * profit.c - the profit formula (METHOD.md section 5) for every period, store, cashier and
 * channel: Revenue = CL x Qs x P and P = Pu x D, on identified customers' deals, and each
 * lever's change against the previous period with the share of the revenue change it
 * explains (log decomposition: ln(Rev1/Rev0) = ln(CL1/CL0) + ln(Qs1/Qs0) + ln(Pu1/Pu0) +
 * ln(D1/D0), so the four shares add up to 1).
 */
#include "analytics/an_internal.h"

#include <math.h>

static double ratio(double a, double b)
{
    return b != 0 ? a / b : NAN;
}

static void derive(ly_an_stats *st)
{
    double units = (double)st->net_units_milli / 1000.0;
    st->qs = ratio((double)st->deals, (double)st->customers);
    st->p = ratio((double)st->revenue, (double)st->deals);
    st->d = ratio(units, (double)st->deals);
    st->pu = ratio((double)st->revenue, units);
    st->p_check = (double)st->customers * st->qs * st->p;
    st->identified_share = ratio((double)st->receipts_identified, (double)st->receipts);
    st->width_mean = ratio(st->width_sum, (double)st->width_receipts);
    st->ratio_cl = st->ratio_qs = st->ratio_p = st->ratio_pu = st->ratio_d = NAN;
    st->ratio_revenue = st->share_cl = st->share_qs = st->share_pu = st->share_d = NAN;
}

static double logShare(double part, double whole)
{
    if (!(part > 0) || !(whole > 0) || whole == 1 || isinf(part) || isinf(whole)) return NAN;
    return log(part) / log(whole);
}

void ly__an_profit(ly_an_result *r)
{
    ly_an_stats *t = &r->total;
    memset(t, 0, sizeof *t);
    snprintf(t->label, sizeof t->label, "all");
    for (size_t i = 0; i < r->n_periods; i++) {
        ly_an_stats *p = &r->periods[i];
        derive(p);
        t->receipts += p->receipts;
        t->receipts_identified += p->receipts_identified;
        t->returns += p->returns;
        t->sales += p->sales;
        t->sales_identified += p->sales_identified;
        t->returned += p->returned;
        t->returned_identified += p->returned_identified;
        t->lines += p->lines;
        t->units_milli += p->units_milli;
        t->width_sum += p->width_sum;
        t->width_receipts += p->width_receipts;
        for (int b = 0; b <= LY_AN_DEPTH_MAX; b++) {
            t->depth_lines[b] += p->depth_lines[b];
            t->depth_units[b] += p->depth_units[b];
        }
        for (int b = 0; b < LY_AN_WIDTH_BUCKETS; b++) t->width_hist[b] += p->width_hist[b];
        t->deals += p->deals;
        t->purchases += p->purchases;
        t->addons_immediate += p->addons_immediate;
        t->addons_deferred += p->addons_deferred;
        t->revenue += p->revenue;
        t->net_units_milli += p->net_units_milli;
        t->margin += p->margin;
        t->costed_revenue += p->costed_revenue;
        if (i == 0) continue;
        const ly_an_stats *q = &r->periods[i - 1];
        p->ratio_cl = ratio((double)p->customers, (double)q->customers);
        p->ratio_qs = ratio(p->qs, q->qs);
        p->ratio_p = ratio(p->p, q->p);
        p->ratio_pu = ratio(p->pu, q->pu);
        p->ratio_d = ratio(p->d, q->d);
        p->ratio_revenue = ratio((double)p->revenue, (double)q->revenue);
        p->share_cl = logShare(p->ratio_cl, p->ratio_revenue);
        p->share_qs = logShare(p->ratio_qs, p->ratio_revenue);
        p->share_pu = logShare(p->ratio_pu, p->ratio_revenue);
        p->share_d = logShare(p->ratio_d, p->ratio_revenue);
    }
    /* Customers over the whole span: everyone who bought; all of them were new to it. */
    for (size_t i = 0; i < r->n_customers; i++) {
        const ly_an_customer *c = &r->customers[i];
        if (c->purchases == 0) continue;
        t->customers++;
        t->new_customers++;
        if (c->referred) t->referred_customers++;
    }
    derive(t);
    ly_an_stats *groups[3] = {r->stores, r->cashiers, r->channels};
    size_t ns[3] = {r->n_stores, r->n_cashiers, r->n_channels};
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < ns[g]; i++) derive(&groups[g][i]);
}
