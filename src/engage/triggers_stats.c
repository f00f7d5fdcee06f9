/*
 * triggers_stats.c - the statistics of the uplift report (engage.h): Wilson score intervals,
 * Newcombe's hybrid score interval for a difference of proportions, the Katz log interval
 * for a ratio of proportions, and Welch's t interval for a difference of means, all at 95%.
 * Estimates about people: doubles, never money that moves.
 */
#include "engage/triggers_internal.h"

#include <math.h>

#define Z975 1.959963984540054

void ly_stats_wilson(int64_t x, int64_t n, double *lo, double *hi)
{
    if (n <= 0) {
        *lo = 0.0;
        *hi = 1.0;
        return;
    }
    double dn = (double)n, p = (double)x / dn, z2 = Z975 * Z975;
    double centre = (p + z2 / (2.0 * dn)) / (1.0 + z2 / dn);
    double half = Z975 * sqrt(p * (1.0 - p) / dn + z2 / (4.0 * dn * dn)) / (1.0 + z2 / dn);
    *lo = centre - half < 0.0 ? 0.0 : centre - half;
    *hi = centre + half > 1.0 ? 1.0 : centre + half;
}

ly_estimate ly_stats_newcombe(int64_t x1, int64_t n1, int64_t x2, int64_t n2)
{
    ly_estimate e = {0};
    if (n1 <= 0 || n2 <= 0) return e;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2, l1, u1, l2, u2;
    ly_stats_wilson(x1, n1, &l1, &u1);
    ly_stats_wilson(x2, n2, &l2, &u2);
    e.est = p1 - p2;
    e.lo = e.est - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
    e.hi = e.est + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
    e.valid = true;
    return e;
}

double ly_stats_t975(double df)
{
    /* Exact quantiles for small df (interpolated between integers), the Cornish-Fisher
     * expansion (Abramowitz and Stegun 26.7.5) beyond: its error is below 1e-4 from 30. */
    static const double table[31] = {0,      12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469,
                                     2.3646, 2.3060,  2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
                                     2.1448, 2.1314,  2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
                                     2.0796, 2.0739,  2.0687, 2.0639, 2.0595, 2.0555, 2.0518,
                                     2.0484, 2.0452,  2.0423};
    if (!(df >= 1.0)) return table[1];
    if (df < 30.0) {
        int k = (int)df;
        double f = df - k;
        return table[k] + f * (table[k + 1] - table[k]);
    }
    double z = Z975, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z;
    double g1 = (z3 + z) / 4.0;
    double g2 = (5 * z5 + 16 * z3 + 3 * z) / 96.0;
    double g3 = (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / 384.0;
    double g4 = (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / 92160.0;
    return z + g1 / df + g2 / (df * df) + g3 / (df * df * df) + g4 / (df * df * df * df);
}

ly_estimate ly_stats_welch(int64_t n1, double sum1, double sumsq1, int64_t n2, double sum2,
                           double sumsq2)
{
    ly_estimate e = {0};
    if (n1 < 2 || n2 < 2) return e;
    double a = (double)n1, b = (double)n2;
    double m1 = sum1 / a, m2 = sum2 / b;
    double v1 = (sumsq1 - a * m1 * m1) / (a - 1.0), v2 = (sumsq2 - b * m2 * m2) / (b - 1.0);
    if (v1 < 0) v1 = 0; /* rounding of a constant sample */
    if (v2 < 0) v2 = 0;
    double s1 = v1 / a, s2 = v2 / b, se2 = s1 + s2;
    e.est = m1 - m2;
    e.valid = true;
    if (se2 <= 0.0) {
        e.lo = e.hi = e.est;
        return e;
    }
    double df = se2 * se2 / (s1 * s1 / (a - 1.0) + s2 * s2 / (b - 1.0));
    double half = ly_stats_t975(df) * sqrt(se2);
    e.lo = e.est - half;
    e.hi = e.est + half;
    return e;
}

/* Katz's log interval of p1 / p2, as a relative uplift (ratio - 1). */
ly_estimate ly__stats_katz(int64_t x1, int64_t n1, int64_t x2, int64_t n2)
{
    ly_estimate e = {0};
    if (n1 <= 0 || n2 <= 0 || x2 <= 0) return e;
    double p1 = (double)x1 / (double)n1, p2 = (double)x2 / (double)n2;
    e.est = p1 / p2 - 1.0;
    e.valid = true;
    if (x1 <= 0) { /* no interval on the log scale: report the point only */
        e.lo = e.hi = e.est;
        e.valid = false;
        return e;
    }
    double se = sqrt(1.0 / (double)x1 - 1.0 / (double)n1 + 1.0 / (double)x2 - 1.0 / (double)n2);
    double l = log(p1 / p2);
    e.lo = exp(l - Z975 * se) - 1.0;
    e.hi = exp(l + Z975 * se) - 1.0;
    return e;
}
