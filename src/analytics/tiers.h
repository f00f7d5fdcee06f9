/*
 * tiers.h - suggested tiers from the data (docs/analytics.md, "Suggested tiers").
 *
 * The method sets the number of tiers from the RFM split: the 25% worst, the 50% middle and
 * the 25% best customers by spend. Suggested tiers put a threshold of yearly spend at each
 * boundary, so that today's customers fall into the tiers in those shares, and say what
 * each tier's earn rate would cost in points over a year of the same spending.
 */
#ifndef LY_ANALYTICS_TIERS_H
#define LY_ANALYTICS_TIERS_H

#include "core/core.h"

struct ly_an_result;

#define LY_AN_TIERS_MAX 8

typedef struct ly_an_tier {
    ly_money min_yearly_spend; /* the threshold, minor units a year; 0 for the first tier */
    int64_t customers;         /* today's customers who would hold it */
    ly_money yearly_spend;     /* their yearly spend together */
    double share_customers, share_spend;
    int64_t rate_bp;           /* the earn rate given for it, basis points */
    ly_points yearly_points;   /* points that rate gives on their yearly spend */
    ly_money yearly_cost;      /* those points' value, minor units */
} ly_an_tier;

typedef struct ly_an_tiers {
    size_t n;
    ly_an_tier tiers[LY_AN_TIERS_MAX];
    int64_t customers;         /* customers with at least one deal */
    ly_money yearly_spend;
    ly_points yearly_points;
    ly_money yearly_cost;
} ly_an_tiers;

/* A customer's yearly spend: revenue * 365 / days known, where days known runs from the
 * first purchase to the analysis date and counts as at least 365 (a customer seen for a
 * month is not assumed to spend twelve times as much). Rounded down. */
ly_money ly_an_yearly_spend(const struct ly_an_result *r, size_t customer);

/* Splits customers with a deal at the quantiles cuts[0..n-2] (fractions in (0,1), rising;
 * the method's 0.25 and 0.75 give three tiers) of yearly spend. A threshold is the smallest
 * yearly spend at or above its quantile, so customers with equal spend always share a
 * tier. rates_bp[0..n-1] are the tiers' earn rates in basis points and point_value the
 * minor units a point pays for (> 0): points are floor(spend * rate / 10000 / point_value)
 * per customer. n is 1..LY_AN_TIERS_MAX. LY_EINVAL naming "cuts" or "rates" on bad
 * arguments, LY_ENOMEM. */
ly_err ly_an_suggest_tiers(const struct ly_an_result *r, const double *cuts, const int64_t *rates_bp,
                           size_t n, ly_money point_value, ly_an_tiers *out, ly_error *err);

#endif /* LY_ANALYTICS_TIERS_H */
