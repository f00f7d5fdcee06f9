/*
 * test_analytics_clv.c - the CLV models (analytics/clv.h): BG/NBD, Pareto/NBD and
 * Gamma-Gamma against their published fits on the CDNOW sample, against independent
 * formulas (direct likelihoods, numerical integrals), against customers simulated from known
 * parameters, and on degenerate and invalid input.
 *
 * The tests that need $LOYAL_SHARED_DATA/cdnow_customers_summary_with_transactions.csv run
 * after the others; when the file is absent the executable exits 77 (skipped) once the
 * data-free tests have passed.
 */
#include "testlib.h"

#include "analytics/clv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static void assertRel(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: got %.10g, want %.10g (relative tolerance %g)", what, got, want, rel);
}

/* A published figure: it matches if within 1e-3 relative, or within half a unit of its last
 * published digit (r = 0.243 stands for anything in [0.2425, 0.2435), a relative spread of
 * 2e-3, so a relative 1e-3 alone would reject the exact estimate; see docs/clv.md). */
static void assertPublished(double got, double published, double lastDigit, const char *what)
{
    double tol = fmax(1e-3 * fabs(published), 0.5 * lastDigit + 1e-12);
    if (!(fabs(got - published) <= tol))
        fail_msg("%s: got %.6f, published %.6g (tolerance %g)", what, got, published, tol);
}

/* Deterministic random numbers: xoshiro256** seeded by splitmix64. */
typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void rngSeed(rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rngNext(rng *g)
{
    uint64_t *s = g->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform on the open interval (0, 1). */
static double unif(rng *g)
{
    return ((double)(rngNext(g) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal(rng *g)
{
    return sqrt(-2.0 * log(unif(g))) * cos(2.0 * M_PI * unif(g));
}

/* Gamma(shape k, scale 1): Marsaglia & Tsang, with the k < 1 boost. */
static double gammaVar(rng *g, double k)
{
    if (k < 1)
        return gammaVar(g, k + 1) * pow(unif(g), 1.0 / k);
    double d = k - 1.0 / 3, c = 1.0 / sqrt(9 * d);
    for (;;) {
        double z = normal(g), v = 1 + c * z;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = unif(g);
        if (log(u) < 0.5 * z * z + d - d * v + d * log(v))
            return d * v;
    }
}

static double expVar(rng *g, double rate)
{
    return -log(unif(g)) / rate;
}

/* What a simulated customer did: calibration summary, holdout purchases, alive at T. */
typedef struct simCustomer {
    ly_clv_customer c;
    double holdout; /* purchases in (T, T + H] */
    bool alive;     /* still alive at T */
} simCustomer;

/* BG/NBD: lambda ~ Gamma(r, rate alpha), p ~ Beta(a, b); after each repeat purchase the
 * customer drops out with probability p. T ~ Uniform(30, 52). */
static void simBgnbd(rng *g, const ly_bgnbd *m, double H, simCustomer *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double lam = gammaVar(g, m->r) / m->alpha;
        double ga = gammaVar(g, m->a), gb = gammaVar(g, m->b), p = ga / (ga + gb);
        double T = 30 + 22 * unif(g), t = 0, x = 0, tx = 0, hold = 0, diedAt = INFINITY;
        for (;;) {
            t += expVar(g, lam);
            if (t > T + H)
                break;
            if (t <= T) {
                x++;
                tx = t;
            } else {
                hold++;
            }
            if (unif(g) < p) {
                diedAt = t;
                break;
            }
        }
        out[i] = (simCustomer){{x, tx, T, 0}, hold, diedAt > T};
    }
}

/* Pareto/NBD: lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta), lifetime ~ Exp(mu). */
static void simPnbd(rng *g, const ly_pnbd *m, double H, simCustomer *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double lam = gammaVar(g, m->r) / m->alpha, mu = gammaVar(g, m->s) / m->beta;
        double life = expVar(g, mu);
        double T = 30 + 22 * unif(g), t = 0, x = 0, tx = 0, hold = 0;
        for (;;) {
            t += expVar(g, lam);
            if (t > life || t > T + H)
                break;
            if (t <= T) {
                x++;
                tx = t;
            } else {
                hold++;
            }
        }
        out[i] = (simCustomer){{x, tx, T, 0}, hold, life > T};
    }
}

/* sum(got) - sum(want) within 4 estimated standard deviations of the sum, the deviations of
 * independent customers being estimated by sum((got-want)^2). */
static void assertSumsAgree(const double *got, const double *want, size_t n, const char *what)
{
    double sg = 0, sw = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        sg += got[i];
        sw += want[i];
        ss += (got[i] - want[i]) * (got[i] - want[i]);
    }
    double sd = sqrt(ss);
    if (!(fabs(sg - sw) <= 4 * sd))
        fail_msg("%s: simulated %.2f, predicted %.2f, sd %.2f", what, sg, sw, sd);
    if (!(fabs(sg - sw) <= 0.1 * sw)) /* and never far off in relative terms */
        fail_msg("%s: simulated %.2f, predicted %.2f", what, sg, sw);
}

/* The same doubles, bit for bit (a deterministic fit). */
static void assertSameBits(const double *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof(double)) != 0)
            fail_msg("value %zu: %.17g != %.17g", i, got[i], want[i]);
}

static void assertErr(ly_err rc, const ly_error *e, ly_err kind, const char *code,
                      const char *field)
{
    if (rc != kind || e->kind != kind || strcmp(e->code, code) != 0 ||
        (field && strcmp(e->field, field) != 0))
        fail_msg("got %d %s [%s] (%s); want %d %s [%s]", rc, e->code, e->field, e->message,
                 kind, code, field ? field : "*");
}

/* ---------------------------------------------------------------------------------------
 * Special functions
 * ------------------------------------------------------------------------------------- */

static void hyp2f1_matches_closed_forms(void **state)
{
    (void)state;
    for (double z = 0.05; z < 0.99; z += 0.1) {
        assertRel(ly_clv_hyp2f1(1, 1, 2, z), -log1p(-z) / z, 1e-13, "2F1(1,1;2;z)");
        assertRel(ly_clv_hyp2f1(2.5, 0.7, 0.7, z), pow(1 - z, -2.5), 1e-13, "2F1(a,b;b;z)");
        double w = sqrt(z);
        assertRel(ly_clv_hyp2f1(0.5, 0.5, 1.5, z), asin(w) / w, 1e-13, "2F1(1/2,1/2;3/2;z)");
        assertRel(ly_clv_hyp2f1_log(3, 4, 5, z), log(ly_clv_hyp2f1(3, 4, 5, z)), 1e-13, "log");
        /* a polynomial: a = -2 ends the series */
        double b = 1.3, c = -0.4;
        assertRel(ly_clv_hyp2f1(-2, b, c, z),
                  1 - 2 * b * z / c + b * (b + 1) * z * z / (c * (c + 1)), 1e-13, "polynomial");
    }
    assert_true(ly_clv_hyp2f1(1, 1, 2, 0) == 1.0);
    /* far beyond a double: the log form stays finite, the plain one says inf */
    double big = ly_clv_hyp2f1_log(2000, 2000, 1, 0.9);
    assert_true(isfinite(big) && big > 710);
    assert_true(isinf(ly_clv_hyp2f1(2000, 2000, 1, 0.9)));
    /* outside the domain */
    assert_true(isnan(ly_clv_hyp2f1(1, 1, 2, 1.0)));
    assert_true(isnan(ly_clv_hyp2f1(1, 1, 2, -0.1)));
    assert_true(isnan(ly_clv_hyp2f1(1, 1, -1, 0.5)));
    assert_true(isnan(ly_clv_hyp2f1_log(-1, 1, 2, 0.5)));
    assert_true(isnan(ly_clv_hyp2f1(NAN, 1, 2, 0.5)));
}

/* ---------------------------------------------------------------------------------------
 * BG/NBD against its direct formulas
 * ------------------------------------------------------------------------------------- */

/* The BG/NBD likelihood of Fader, Hardie & Lee 2005, written with Beta functions. */
static double bgDirectLoglik(double r, double al, double a, double b, double x, double tx,
                             double T)
{
    double lB = lgamma(a) + lgamma(b) - lgamma(a + b);
    double lBa = lgamma(a) + lgamma(b + x) - lgamma(a + b + x);
    double common = lgamma(r + x) - lgamma(r) + r * log(al);
    double L = exp(lBa - lB + common - (r + x) * log(al + T));
    if (x > 0) {
        double lBb = lgamma(a + 1) + lgamma(b + x - 1) - lgamma(a + b + x);
        L += exp(lBb - lB + common - (r + x) * log(al + tx));
    }
    return log(L);
}

static void bgnbd_loglik_and_p_alive_match_the_paper(void **state)
{
    (void)state;
    ly_bgnbd m = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
    ly_clv_customer cs[] = {{2, 30.43, 38.86, 0}, {1, 1.71, 38.86, 0}, {0, 0, 38.86, 0},
                            {14, 37.0, 38.0, 0}, {1, 5, 5, 0}};
    double total = 0;
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        double want = bgDirectLoglik(m.r, m.alpha, m.a, m.b, cs[i].x, cs[i].t_x, cs[i].T);
        assertRel(ly_bgnbd_loglik(&m, &cs[i], 1), want, 1e-12, "one customer's loglik");
        total += want;
        double pa = ly_bgnbd_p_alive(&m, cs[i].x, cs[i].t_x, cs[i].T);
        double want_pa = cs[i].x == 0 ? 1.0
                                      : 1.0 / (1.0 + m.a / (m.b + cs[i].x - 1) *
                                                         pow((m.alpha + cs[i].T) /
                                                                 (m.alpha + cs[i].t_x),
                                                             m.r + cs[i].x));
        assertRel(pa, want_pa, 1e-13, "P(alive)");
    }
    assertRel(ly_bgnbd_loglik(&m, cs, 5), total, 1e-12, "loglik sums over customers");
    /* a customer whose last purchase is at T may have dropped out right after it */
    assert_true(ly_bgnbd_p_alive(&m, 1, 5, 5) < 1.0);
}

/* E[X(t)] = int_0^1 (1 - (alpha/(alpha+p t))^r) / p Beta(p; a, b) dp: FHL 2005's
 * E[X(t)|lambda,p] = (1 - e^(-lambda p t))/p averaged over lambda in closed form, then over p
 * by Simpson's rule after p = u^(1/a) removes the p^(a-1) spike. */
static double bgUncondByIntegral(double r, double al, double a, double b, double t)
{
    const int N = 200000;
    double lB = lgamma(a) + lgamma(b) - lgamma(a + b), sum = 0;
    for (int k = 0; k <= N; k++) {
        double u = (double)k / N, p = pow(u, 1.0 / a), f;
        if (k == 0)
            f = r * t / al; /* the limit p -> 0 of (1 - ...)/p */
        else
            f = -expm1(r * log(al / (al + p * t))) / p;
        f *= (k == N ? 0.0 : pow(1 - p, b - 1)) / a;
        sum += f * (k == 0 || k == N ? 1 : (k % 2 ? 4 : 2));
    }
    return sum / (3.0 * N) / exp(lB);
}

static void bgnbd_expectations_match_numerical_integrals(void **state)
{
    (void)state;
    ly_bgnbd m = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
    double ts[] = {1, 10, 39, 78, 200};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        assertRel(ly_bgnbd_expected_unconditional(&m, ts[i]),
                  bgUncondByIntegral(m.r, m.alpha, m.a, m.b, ts[i]), 1e-6, "E[X(t)]");
    /* conditional = P(alive) * E[X(t)] of the updated parameters (r+x, alpha+T, a, b+x) */
    double x = 5, tx = 20, T = 38;
    double want = ly_bgnbd_p_alive(&m, x, tx, T) *
                  bgUncondByIntegral(m.r + x, m.alpha + T, m.a, m.b + x, 39);
    assertRel(ly_bgnbd_expected(&m, 39, x, tx, T), want, 1e-6, "E[Y(39)|x,t_x,T]");
    assert_true(ly_bgnbd_expected(&m, 0, x, tx, T) == 0.0);
    /* a = 1 is a 0/0 point of the closed form: the value is continuous across it */
    ly_bgnbd lo = m, hi = m, one = m;
    lo.a = 1 - 1e-3;
    hi.a = 1 + 1e-3;
    one.a = 1;
    double f1 = ly_bgnbd_expected_unconditional(&one, 39);
    assertRel(f1, bgUncondByIntegral(m.r, m.alpha, 1, m.b, 39), 1e-6, "E[X(t)] at a = 1");
    assertRel(f1, 0.5 * (ly_bgnbd_expected_unconditional(&lo, 39) +
                         ly_bgnbd_expected_unconditional(&hi, 39)), 1e-5, "continuity at a=1");
    /* a + b < 1 makes the series' c = a+b-1 negative (signed terms) and a + b = 1 is
     * another 0/0 point: finite, positive, and continuous across it */
    ly_bgnbd odd = {.r = 0.5, .alpha = 3, .a = 0.25, .b = 0.6};
    double e = ly_bgnbd_expected_unconditional(&odd, 20);
    assert_true(isfinite(e) && e > 0);
    ly_bgnbd c0 = odd, c1 = odd, c2 = odd;
    c0.b = 0.75 - 1e-3;
    c1.b = 0.75;
    c2.b = 0.75 + 1e-3;
    double v1 = ly_bgnbd_expected_unconditional(&c1, 20);
    assert_true(isfinite(v1) && v1 > 0);
    assertRel(v1, 0.5 * (ly_bgnbd_expected_unconditional(&c0, 20) +
                         ly_bgnbd_expected_unconditional(&c2, 20)), 1e-5, "continuity at a+b=1");
    /* more purchases expected over a longer horizon, never fewer */
    double prev = 0;
    for (double t = 1; t < 200; t *= 1.7) {
        double v = ly_bgnbd_expected(&m, t, 2, 30.43, 38.86);
        assert_true(v > prev);
        prev = v;
    }
    /* invalid input gives NaN */
    assert_true(isnan(ly_bgnbd_expected(&m, -1, 1, 1, 2)));
    assert_true(isnan(ly_bgnbd_expected(&m, 1, 1, 3, 2)));
    assert_true(isnan(ly_bgnbd_p_alive(&m, 1.5, 1, 2)));
    ly_bgnbd bad = m;
    bad.r = -1;
    assert_true(isnan(ly_bgnbd_p_alive(&bad, 1, 1, 2)));
    assert_true(isnan(ly_bgnbd_expected_unconditional(&bad, 1)));
    assert_true(isnan(ly_bgnbd_loglik(&bad, (ly_clv_customer[]){{1, 1, 2, 0}}, 1)));
}

/* ---------------------------------------------------------------------------------------
 * Pareto/NBD against the integral its likelihood comes from
 * ------------------------------------------------------------------------------------- */

/* L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ (alpha+T)^-(r+x) (beta+T)^-s
 *     + s int_{t_x}^T (alpha+u)^-(r+x) (beta+u)^-(s+1) du ]   (Fader & Hardie 2005) */
static double pnLoglikByIntegral(double r, double al, double s, double be, double x, double tx,
                                 double T)
{
    const int N = 20000;
    double h = (T - tx) / N, integral = 0;
    for (int k = 0; k <= N && h > 0; k++) {
        double u = tx + k * h;
        double f = exp(-(r + x) * log(al + u) - (s + 1) * log(be + u));
        integral += f * (k == 0 || k == N ? 1 : (k % 2 ? 4 : 2));
    }
    integral *= h / 3;
    double bracket = exp(-(r + x) * log(al + T) - s * log(be + T)) + s * integral;
    return lgamma(r + x) - lgamma(r) + r * log(al) + s * log(be) + log(bracket);
}

static void pnbd_loglik_matches_its_integral_on_both_branches(void **state)
{
    (void)state;
    ly_clv_customer cs[] = {{2, 30.43, 38.86, 0}, {0, 0, 38.86, 0}, {7, 12.5, 30, 0},
                            {1, 30, 30, 0}, {25, 38, 39, 0}};
    double params[][4] = {{0.553, 10.578, 0.606, 11.669}, /* alpha < beta */
                          {0.8, 20.0, 1.3, 6.0},          /* alpha > beta */
                          {0.5, 7.0, 0.9, 7.0}};          /* alpha = beta */
    for (size_t k = 0; k < 3; k++) {
        ly_pnbd m = {.r = params[k][0], .alpha = params[k][1], .s = params[k][2],
                     .beta = params[k][3]};
        for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
            double want = pnLoglikByIntegral(m.r, m.alpha, m.s, m.beta, cs[i].x, cs[i].t_x,
                                             cs[i].T);
            assertRel(ly_pnbd_loglik(&m, &cs[i], 1), want, 1e-9, "Pareto/NBD loglik");
            /* P(alive) is the first term's share of the bracket */
            double l1 = lgamma(m.r + cs[i].x) - lgamma(m.r) + m.r * log(m.alpha) +
                        m.s * log(m.beta) - (m.r + cs[i].x) * log(m.alpha + cs[i].T) -
                        m.s * log(m.beta + cs[i].T);
            assertRel(ly_pnbd_p_alive(&m, cs[i].x, cs[i].t_x, cs[i].T), exp(l1 - want), 1e-9,
                      "Pareto/NBD P(alive)");
        }
    }
    /* E[Y(t)|x,t_x,T] (Fader & Hardie 2005) by hand, from the P(alive) checked above */
    ly_pnbd m0 = {.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
    double x = 2, tx = 30.43, T = 38.86, t = 39;
    double want = ly_pnbd_p_alive(&m0, x, tx, T) * (m0.r + x) * (m0.beta + T) /
                  ((m0.alpha + T) * (m0.s - 1)) * (1 - pow((m0.beta + T) / (m0.beta + T + t),
                                                           m0.s - 1));
    assertRel(ly_pnbd_expected(&m0, t, x, tx, T), want, 1e-12, "Pareto/NBD E[Y(t)]");
    /* continuous where the formula switches branch */
    ly_pnbd lo = {.r = 0.6, .alpha = 9.999999, .s = 0.7, .beta = 10};
    ly_pnbd hi = {.r = 0.6, .alpha = 10.000001, .s = 0.7, .beta = 10};
    assertRel(ly_pnbd_loglik(&lo, &cs[0], 1), ly_pnbd_loglik(&hi, &cs[0], 1), 1e-6,
              "continuity at alpha = beta");
    /* the s = 1 limit of E[Y(t)] */
    ly_pnbd m1 = {.r = 0.6, .alpha = 10, .s = 1, .beta = 12}, m2 = m1;
    m2.s = 1 + 1e-7;
    assertRel(ly_pnbd_expected(&m1, 39, 2, 30, 38), ly_pnbd_expected(&m2, 39, 2, 30, 38), 1e-6,
              "E[Y(t)] at s = 1");
    assertRel(ly_pnbd_expected_unconditional(&m1, 39),
              ly_pnbd_expected_unconditional(&m2, 39), 1e-6, "E[X(t)] at s = 1");
    /* E[X(t)] by hand: r beta / (alpha (s-1)) (1 - (beta/(beta+t))^(s-1)) */
    ly_pnbd m3 = {.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
    assertRel(ly_pnbd_expected_unconditional(&m3, 52),
              m3.r * m3.beta / (m3.alpha * (m3.s - 1)) *
                  (1 - pow(m3.beta / (m3.beta + 52), m3.s - 1)),
              1e-12, "Pareto/NBD E[X(t)]");
    assert_true(isnan(ly_pnbd_expected(&m3, 1, 0, 1, 2)));
}

/* ---------------------------------------------------------------------------------------
 * Gamma-Gamma and CLV
 * ------------------------------------------------------------------------------------- */

static void gg_expected_spend_is_the_weighted_mean(void **state)
{
    (void)state;
    ly_gg m = {.p = 6.25, .q = 3.74, .gamma = 15.44};
    double pop = m.p * m.gamma / (m.q - 1);
    assertRel(ly_gg_population_mean(&m), pop, 1e-15, "population mean");
    assertRel(ly_gg_population_mean(&m), 35.22, 1e-3, "35.22 at the published parameters");
    /* the posterior mean is a weighted average of the population mean and zbar */
    double x = 4, z = 50, wz = m.p * x / (m.p * x + m.q - 1);
    assertRel(ly_gg_expected_spend(&m, x, z), (1 - wz) * pop + wz * z, 1e-13, "weighted mean");
    assertRel(ly_gg_expected_spend(&m, 0, 0), pop, 1e-15, "x = 0: the population mean");
    assert_true(ly_gg_expected_spend(&m, 100, z) > ly_gg_expected_spend(&m, 1, z));
    assert_true(isnan(ly_gg_expected_spend(&m, 2, 0)));
    assert_true(isnan(ly_gg_expected_spend(&m, -1, 10)));
    ly_gg heavy = {.p = 1, .q = 0.5, .gamma = 10};
    assert_true(isnan(ly_gg_population_mean(&heavy)));
    assert_true(isnan(ly_gg_expected_spend(&heavy, 0, 0)));
    assert_true(isfinite(ly_gg_expected_spend(&heavy, 2, 10)));
    /* the likelihood, by hand for one customer (Fader & Hardie 2013) */
    ly_clv_customer c = {3, 10, 20, 25.0};
    double p = m.p, q = m.q, g = m.gamma, X = c.x, Z = c.zbar;
    double want = lgamma(p * X + q) - lgamma(p * X) - lgamma(q) + q * log(g) +
                  (p * X - 1) * log(Z) + p * X * log(X) - (p * X + q) * log(g + X * Z);
    assertRel(ly_gg_loglik(&m, &c, 1), want, 1e-12, "Gamma-Gamma loglik");
}

static void clv_discounts_the_purchases_of_each_period(void **state)
{
    (void)state;
    ly_clv_model bg = {.kind = LY_CLV_BGNBD, .bgnbd = {.r = 0.243, .alpha = 4.414, .a = 0.793,
                                                       .b = 2.426}};
    ly_gg gg = {.p = 6.25, .q = 3.74, .gamma = 15.44};
    ly_clv_customer c = {2, 30.43, 38.86, 22.35};
    ly_error e;
    ly_clv_result out;
    double z = ly_gg_expected_spend(&gg, c.x, c.zbar);

    /* undiscounted: the sum telescopes to E[Y(horizon)] */
    ly_clv_terms flat = {.periods = 52, .period_length = 1, .margin = 0.3, .discount_rate = 0};
    assert_int_equal(ly_clv_value(&bg, &gg, &c, &flat, &out, &e), LY_OK);
    double e52 = ly_bgnbd_expected(&bg.bgnbd, 52, c.x, c.t_x, c.T);
    assertRel(out.purchases, e52, 1e-14, "purchases over the horizon");
    assertRel(out.spend, z, 1e-15, "spend");
    assertRel(out.value, 0.3 * z * e52, 1e-12, "undiscounted value");

    /* two quarterly periods at 3% a period, by hand */
    ly_clv_terms q2 = {.periods = 2, .period_length = 13, .margin = 0.25, .discount_rate = 0.03};
    assert_int_equal(ly_clv_value(&bg, &gg, &c, &q2, &out, &e), LY_OK);
    double e13 = ly_bgnbd_expected(&bg.bgnbd, 13, c.x, c.t_x, c.T);
    double e26 = ly_bgnbd_expected(&bg.bgnbd, 26, c.x, c.t_x, c.T);
    assertRel(out.value, 0.25 * z * (e13 / 1.03 + (e26 - e13) / (1.03 * 1.03)), 1e-12,
              "discounted value");

    /* discounting lowers the value; a longer horizon raises it */
    ly_clv_terms d = flat;
    d.discount_rate = 0.01;
    ly_clv_result disc, longer;
    assert_int_equal(ly_clv_value(&bg, &gg, &c, &d, &disc, &e), LY_OK);
    d.periods = 104;
    assert_int_equal(ly_clv_value(&bg, &gg, &c, &d, &longer, &e), LY_OK);
    assert_true(disc.value < 0.3 * z * e52 && longer.value > disc.value);

    /* the Pareto/NBD path, and a customer with no repeat purchase (population mean spend) */
    ly_clv_model pn = {.kind = LY_CLV_PNBD, .pnbd = {.r = 0.553, .alpha = 10.578, .s = 0.606,
                                                     .beta = 11.669}};
    ly_clv_customer newbie = {0, 0, 20, 0};
    assert_int_equal(ly_clv_value(&pn, &gg, &newbie, &flat, &out, &e), LY_OK);
    assertRel(out.value,
              0.3 * ly_gg_population_mean(&gg) * ly_pnbd_expected(&pn.pnbd, 52, 0, 0, 20),
              1e-12, "Pareto/NBD value of a one-time buyer");

    /* errors */
    ly_clv_terms bad = flat;
    bad.periods = 0;
    assertErr(ly_clv_value(&bg, &gg, &c, &bad, &out, &e), &e, LY_EINVAL, "invalid_argument",
              "terms.periods");
    bad = flat;
    bad.margin = 1.5;
    assertErr(ly_clv_value(&bg, &gg, &c, &bad, &out, &e), &e, LY_EINVAL, "invalid_argument",
              "terms.margin");
    bad = flat;
    bad.discount_rate = -0.1;
    assertErr(ly_clv_value(&bg, &gg, &c, &bad, &out, &e), &e, LY_EINVAL, "invalid_argument",
              "terms.discount_rate");
    bad = flat;
    bad.period_length = 0;
    assertErr(ly_clv_value(&bg, &gg, &c, &bad, &out, &e), &e, LY_EINVAL, "invalid_argument",
              "terms.period_length");
    ly_clv_customer wrong = {1, 50, 40, 10};
    assertErr(ly_clv_value(&bg, &gg, &wrong, &flat, &out, &e), &e, LY_EINVAL,
              "invalid_customer", "customers[0].t_x");
    ly_clv_customer noSpend = {1, 5, 40, 0};
    assertErr(ly_clv_value(&bg, &gg, &noSpend, &flat, &out, &e), &e, LY_EINVAL,
              "invalid_customer", "customers[0].zbar");
    ly_gg heavy = {.p = 1, .q = 0.8, .gamma = 10};
    assertErr(ly_clv_value(&bg, &heavy, &newbie, &flat, &out, &e), &e, LY_EUNPROCESSABLE,
              "not_computable", NULL);
    ly_clv_model odd = bg;
    odd.kind = (ly_clv_kind)7;
    assertErr(ly_clv_value(&odd, &gg, &c, &flat, &out, &e), &e, LY_EINVAL, "invalid_argument",
              "model.kind");
    assertErr(ly_clv_value(NULL, &gg, &c, &flat, &out, &e), &e, LY_EINVAL, "invalid_argument",
              NULL);
}

/* ---------------------------------------------------------------------------------------
 * Fits on simulated customers
 * ------------------------------------------------------------------------------------- */

enum { SIM_N = 5000 };

/* Each estimate within 4 of the fit's own standard errors of the truth (the standard errors
 * come from the observed information and shrink as 1/sqrt(n): this is the tolerance that
 * fits the sample size), and those standard errors small enough to mean something. */
static void assertRecovered(const double *est, const double *truth, const double *se,
                            const char *const *names, int k)
{
    for (int i = 0; i < k; i++) {
        print_message("  %-5s true %8.4f  estimate %8.4f  se %.4f\n", names[i], truth[i], est[i],
                      se[i]);
        if (!(se[i] > 0 && se[i] < 0.5 * truth[i]))
            fail_msg("%s: standard error %g of a true %g", names[i], se[i], truth[i]);
        if (!(fabs(est[i] - truth[i]) <= 4 * se[i]))
            fail_msg("%s: estimate %g, truth %g, se %g", names[i], est[i], truth[i], se[i]);
    }
}

/* A simulated panel of SIM_N customers and, per customer, what a model at the true
 * parameters predicts: want[0] holdout purchases, want[1] P(alive at T), want[2]
 * calibration purchases. */
typedef struct simPanel {
    simCustomer *sim;
    ly_clv_customer *cs; /* sim[i].c, what the fits see */
    double *want[3];
} simPanel;

static void panelMake(simPanel *p)
{
    p->sim = malloc(SIM_N * sizeof *p->sim);
    p->cs = malloc(SIM_N * sizeof *p->cs);
    assert_non_null(p->sim);
    assert_non_null(p->cs);
    for (int k = 0; k < 3; k++) {
        p->want[k] = malloc(SIM_N * sizeof *p->want[k]);
        assert_non_null(p->want[k]);
    }
}

/* Copies the simulated customers' calibration summaries into cs. */
static void panelSummaries(simPanel *p)
{
    for (size_t i = 0; i < SIM_N; i++)
        p->cs[i] = p->sim[i].c;
}

/* At the true parameters the predictions are exact expectations: their sums must match
 * what the simulated customers did (holdout purchases, alive at T, calibration purchases). */
static void assertPanelPredictions(const simPanel *p, const char *model)
{
    static const char *const what[3] = {"holdout purchases", "customers alive at T",
                                        "calibration purchases"};
    double *got = malloc(SIM_N * sizeof *got);
    assert_non_null(got);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < SIM_N; i++)
            got[i] = k == 0 ? p->sim[i].holdout : k == 1 ? p->sim[i].alive : p->cs[i].x;
        char label[64];
        snprintf(label, sizeof label, "%s %s", model, what[k]);
        assertSumsAgree(got, p->want[k], SIM_N, label);
    }
    free(got);
}

static void panelFree(simPanel *p)
{
    free(p->sim);
    free(p->cs);
    for (int k = 0; k < 3; k++) free(p->want[k]);
}

static void bgnbd_fit_recovers_simulated_parameters(void **state)
{
    (void)state;
    ly_bgnbd truth = {.r = 0.5, .alpha = 4.0, .a = 0.8, .b = 2.5};
    const double H = 39;
    simPanel p;
    panelMake(&p);
    const ly_clv_customer *cs = p.cs;
    rng g;
    rngSeed(&g, 20050101);
    simBgnbd(&g, &truth, H, p.sim, SIM_N);
    panelSummaries(&p);

    ly_bgnbd fit;
    ly_error e;
    assert_int_equal(ly_bgnbd_fit(cs, SIM_N, &fit, &e), LY_OK);
    double est[] = {fit.r, fit.alpha, fit.a, fit.b}, tru[] = {truth.r, truth.alpha, truth.a,
                                                              truth.b};
    assertRecovered(est, tru, fit.fit.se, (const char *const[]){"r", "alpha", "a", "b"}, 4);
    /* a maximum: at least as likely as the truth */
    assert_true(fit.fit.loglik >= ly_bgnbd_loglik(&truth, cs, SIM_N));
    assertRel(fit.fit.loglik, ly_bgnbd_loglik(&fit, cs, SIM_N), 1e-12, "reported loglik");

    for (size_t i = 0; i < SIM_N; i++) {
        p.want[0][i] = ly_bgnbd_expected(&truth, H, cs[i].x, cs[i].t_x, cs[i].T);
        p.want[1][i] = ly_bgnbd_p_alive(&truth, cs[i].x, cs[i].t_x, cs[i].T);
        p.want[2][i] = ly_bgnbd_expected_unconditional(&truth, cs[i].T);
    }
    assertPanelPredictions(&p, "BG/NBD");
    panelFree(&p);
}

static void pnbd_fit_recovers_simulated_parameters(void **state)
{
    (void)state;
    ly_pnbd truth = {.r = 0.6, .alpha = 8.0, .s = 0.8, .beta = 10.0};
    const double H = 39;
    simPanel p;
    panelMake(&p);
    const ly_clv_customer *cs = p.cs;
    rng g;
    rngSeed(&g, 19870301);
    simPnbd(&g, &truth, H, p.sim, SIM_N);
    panelSummaries(&p);

    ly_pnbd fit;
    ly_error e;
    assert_int_equal(ly_pnbd_fit(cs, SIM_N, &fit, &e), LY_OK);
    double est[] = {fit.r, fit.alpha, fit.s, fit.beta}, tru[] = {truth.r, truth.alpha, truth.s,
                                                                 truth.beta};
    assertRecovered(est, tru, fit.fit.se, (const char *const[]){"r", "alpha", "s", "beta"}, 4);
    assert_true(fit.fit.loglik >= ly_pnbd_loglik(&truth, cs, SIM_N));

    for (size_t i = 0; i < SIM_N; i++) {
        p.want[0][i] = ly_pnbd_expected(&truth, H, cs[i].x, cs[i].t_x, cs[i].T);
        p.want[1][i] = ly_pnbd_p_alive(&truth, cs[i].x, cs[i].t_x, cs[i].T);
        p.want[2][i] = ly_pnbd_expected_unconditional(&truth, cs[i].T);
    }
    assertPanelPredictions(&p, "Pareto/NBD");
    panelFree(&p);
}

static void gg_fit_recovers_simulated_parameters(void **state)
{
    (void)state;
    ly_gg truth = {.p = 5.0, .q = 4.0, .gamma = 20.0};
    ly_clv_customer *cs = malloc(SIM_N * sizeof *cs);
    assert_non_null(cs);
    rng g;
    rngSeed(&g, 2013);
    for (size_t i = 0; i < SIM_N; i++) {
        double nu = gammaVar(&g, truth.q) / truth.gamma, x = 1 + (double)(i % 6), sum = 0;
        for (int k = 0; k < (int)x; k++)
            sum += gammaVar(&g, truth.p) / nu;
        cs[i] = (ly_clv_customer){x, 1, 2, sum / x};
    }
    ly_gg fit;
    ly_error e;
    assert_int_equal(ly_gg_fit(cs, SIM_N, &fit, &e), LY_OK);
    assert_int_equal(fit.fit.n, SIM_N);
    double est[] = {fit.p, fit.q, fit.gamma}, tru[] = {truth.p, truth.q, truth.gamma};
    assertRecovered(est, tru, fit.fit.se, (const char *const[]){"p", "q", "gamma"}, 3);
    assert_true(fit.fit.loglik >= ly_gg_loglik(&truth, cs, SIM_N));
    free(cs);
}

/* ---------------------------------------------------------------------------------------
 * Degenerate and invalid input
 * ------------------------------------------------------------------------------------- */

static void fits_refuse_what_they_cannot_estimate(void **state)
{
    (void)state;
    ly_error e;
    ly_bgnbd bg;
    ly_pnbd pn;
    ly_gg gg;
    ly_clv_customer none[] = {{0, 0, 30, 0}, {0, 0, 39, 0}, {0, 0, 12, 0}};
    assertErr(ly_bgnbd_fit(none, 3, &bg, &e), &e, LY_EUNPROCESSABLE, "no_repeat_purchases",
              NULL);
    assertErr(ly_pnbd_fit(none, 3, &pn, &e), &e, LY_EUNPROCESSABLE, "no_repeat_purchases",
              NULL);
    assertErr(ly_gg_fit(none, 3, &gg, &e), &e, LY_EUNPROCESSABLE, "no_repeat_purchases", NULL);

    /* one customer cannot identify four parameters: the likelihood keeps rising toward a
     * boundary, and the fit says so instead of returning arbitrary numbers */
    ly_clv_customer one[] = {{2, 30.43, 38.86, 22.35}};
    assertErr(ly_bgnbd_fit(one, 1, &bg, &e), &e, LY_EUNPROCESSABLE, "fit_did_not_converge",
              NULL);
    assertErr(ly_pnbd_fit(one, 1, &pn, &e), &e, LY_EUNPROCESSABLE, "fit_did_not_converge",
              NULL);
    assertErr(ly_gg_fit(one, 1, &gg, &e), &e, LY_EUNPROCESSABLE, "fit_did_not_converge", NULL);
    /* ...but the per-customer answers work for one customer */
    ly_bgnbd m = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
    assertRel(ly_bgnbd_loglik(&m, one, 1), bgDirectLoglik(0.243, 4.414, 0.793, 2.426, 2, 30.43,
                                                          38.86),
              1e-12, "single customer loglik");
}

static void fits_reject_invalid_customers(void **state)
{
    (void)state;
    ly_error e;
    ly_bgnbd bg;
    ly_pnbd pn;
    ly_gg gg;
    ly_clv_customer ok = {1, 3, 10, 5};
    struct {
        ly_clv_customer bad;
        const char *field;
    } cases[] = {
        {{-1, 0, 10, 0}, "customers[1].x"},     {{1.5, 3, 10, 5}, "customers[1].x"},
        {{NAN, 3, 10, 5}, "customers[1].x"},    {{1, 3, 0, 5}, "customers[1].T"},
        {{1, 3, INFINITY, 5}, "customers[1].T"}, {{1, 11, 10, 5}, "customers[1].t_x"},
        {{1, -1, 10, 5}, "customers[1].t_x"},   {{0, 2, 10, 0}, "customers[1].t_x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ly_clv_customer cs[3] = {ok, cases[i].bad, ok};
        assertErr(ly_bgnbd_fit(cs, 3, &bg, &e), &e, LY_EINVAL, "invalid_customer",
                  cases[i].field);
        assertErr(ly_pnbd_fit(cs, 3, &pn, &e), &e, LY_EINVAL, "invalid_customer",
                  cases[i].field);
        assertErr(ly_clv_customer_check(&cs[1], 1, &e), &e, LY_EINVAL, "invalid_customer",
                  cases[i].field);
        assert_true(isnan(ly_bgnbd_loglik(&(ly_bgnbd){.r = 1, .alpha = 1, .a = 1, .b = 1}, cs,
                                          3)));
    }
    ly_clv_customer cs[2] = {ok, {2, 3, 10, 0}};
    assertErr(ly_gg_fit(cs, 2, &gg, &e), &e, LY_EINVAL, "invalid_customer", "customers[1].zbar");
    assertErr(ly_bgnbd_fit(NULL, 3, &bg, &e), &e, LY_EINVAL, "invalid_argument", NULL);
    assertErr(ly_bgnbd_fit(cs, 0, &bg, &e), &e, LY_EINVAL, "invalid_argument", NULL);
    assertErr(ly_bgnbd_fit(cs, 1, NULL, &e), &e, LY_EINVAL, "invalid_argument", NULL);
    assertErr(ly_pnbd_fit(cs, 0, &pn, &e), &e, LY_EINVAL, "invalid_argument", NULL);
    assertErr(ly_gg_fit(NULL, 1, &gg, &e), &e, LY_EINVAL, "invalid_argument", NULL);
    /* err may be NULL */
    assert_int_equal(ly_bgnbd_fit(cs, 0, &bg, NULL), LY_EINVAL);
}

/* ---------------------------------------------------------------------------------------
 * The CDNOW sample against the published fits
 * ------------------------------------------------------------------------------------- */

static ly_clv_customer *cdnow;
static size_t cdnowN;

/* Reads the summary (ID,x,t_x,T,zbar): 1 when read, 0 if the file is not there, -1 if it
 * is not what it should be. */
static int loadCdnow(void)
{
    const char *dir = getenv("LOYAL_SHARED_DATA");
    if (!dir)
        return 0;
    char *path = tl_join(dir, "cdnow_customers_summary_with_transactions.csv");
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return 0;
    size_t cap = 4096;
    cdnow = malloc(cap * sizeof *cdnow);
    char line[256];
    if (!cdnow || !fgets(line, sizeof line, f) || strncmp(line, "ID,x,t_x,T,zbar", 15) != 0) {
        fclose(f);
        fprintf(stderr, "unexpected content in the CDNOW summary\n");
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        long id;
        ly_clv_customer c;
        if (sscanf(line, "%ld,%lf,%lf,%lf,%lf", &id, &c.x, &c.t_x, &c.T, &c.zbar) != 5)
            continue;
        if (cdnowN == cap) {
            cap *= 2;
            ly_clv_customer *p = realloc(cdnow, cap * sizeof *cdnow);
            if (!p) {
                fclose(f);
                return -1;
            }
            cdnow = p;
        }
        cdnow[cdnowN++] = c;
    }
    fclose(f);
    return 1;
}

static void bgnbd_matches_the_published_cdnow_fit(void **state)
{
    (void)state;
    assert_int_equal(cdnowN, 2357);
    ly_bgnbd fit;
    ly_error e;
    assert_int_equal(ly_bgnbd_fit(cdnow, cdnowN, &fit, &e), LY_OK);
    /* FHL 2005: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4 */
    assertPublished(fit.r, 0.243, 0.001, "r");
    assertPublished(fit.alpha, 4.414, 0.001, "alpha");
    assertPublished(fit.a, 0.793, 0.001, "a");
    assertPublished(fit.b, 2.426, 0.001, "b");
    assertPublished(fit.fit.loglik, -9582.4, 0.1, "log-likelihood");
    assert_int_equal(fit.fit.n, 2357);
    /* the published parameters are rounded: the fit must be at least as good */
    ly_bgnbd pub = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
    double llPub = ly_bgnbd_loglik(&pub, cdnow, cdnowN);
    assertPublished(llPub, -9582.4, 0.1, "log-likelihood at the published parameters");
    assert_true(fit.fit.loglik >= llPub);
    /* customer 1 (x = 2, t_x = 30.43, T = 38.86): E[Y(39)] = 1.226 at the published values */
    assertPublished(ly_bgnbd_expected(&pub, 39, 2, 30.43, 38.86), 1.226, 0.001, "E[Y(39)]");
    assertPublished(ly_bgnbd_expected(&fit, 39, 2, 30.43, 38.86), 1.226, 0.001,
                    "E[Y(39)] at the fit");

    /* deterministic, and blind to the order of the customers: the same bits */
    ly_clv_customer *shuffled = malloc(cdnowN * sizeof *shuffled);
    assert_non_null(shuffled);
    memcpy(shuffled, cdnow, cdnowN * sizeof *shuffled);
    rng g;
    rngSeed(&g, 7);
    for (size_t i = cdnowN - 1; i > 0; i--) {
        size_t j = (size_t)(rngNext(&g) % (i + 1));
        ly_clv_customer t = shuffled[i];
        shuffled[i] = shuffled[j];
        shuffled[j] = t;
    }
    ly_bgnbd again;
    assert_int_equal(ly_bgnbd_fit(shuffled, cdnowN, &again, &e), LY_OK);
    assertSameBits((double[]){again.r, again.alpha, again.a, again.b, again.fit.loglik},
                   (double[]){fit.r, fit.alpha, fit.a, fit.b, fit.fit.loglik}, 5);
    assert_int_equal(again.fit.evaluations, fit.fit.evaluations);
    free(shuffled);
}

static void pnbd_matches_the_published_cdnow_fit(void **state)
{
    (void)state;
    ly_pnbd fit;
    ly_error e;
    assert_int_equal(ly_pnbd_fit(cdnow, cdnowN, &fit, &e), LY_OK);
    /* r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, LL = -9595.0 */
    assertPublished(fit.r, 0.553, 0.001, "r");
    assertPublished(fit.alpha, 10.578, 0.001, "alpha");
    assertPublished(fit.s, 0.606, 0.001, "s");
    assertPublished(fit.beta, 11.669, 0.001, "beta");
    assertPublished(fit.fit.loglik, -9595.0, 0.1, "log-likelihood");
    ly_pnbd pub = {.r = 0.553, .alpha = 10.578, .s = 0.606, .beta = 11.669};
    assert_true(fit.fit.loglik >= ly_pnbd_loglik(&pub, cdnow, cdnowN));
    /* customer 1: the Pareto/NBD expects somewhat more than the BG/NBD's 1.226 (1.455: its
     * dropout is spread over time rather than tied to purchases), the same order */
    double pn = ly_pnbd_expected(&fit, 39, 2, 30.43, 38.86);
    assert_true(pn > 1.226 && pn < 2.0);
    double pa = ly_pnbd_p_alive(&fit, 2, 30.43, 38.86);
    assert_true(pa > 0.5 && pa < 1);
    ly_pnbd again;
    assert_int_equal(ly_pnbd_fit(cdnow, cdnowN, &again, &e), LY_OK);
    assertSameBits((double[]){again.r, again.alpha, again.s, again.beta, again.fit.loglik},
                   (double[]){fit.r, fit.alpha, fit.s, fit.beta, fit.fit.loglik}, 5);
}

static void gg_matches_the_published_cdnow_fit(void **state)
{
    (void)state;
    ly_gg fit;
    ly_error e;
    assert_int_equal(ly_gg_fit(cdnow, cdnowN, &fit, &e), LY_OK);
    assert_int_equal(fit.fit.n, 946);
    /* p = 6.25, q = 3.74, gamma = 15.44, mean p gamma/(q-1) = 35.17 (two decimals) */
    assertPublished(fit.p, 6.25, 0.01, "p");
    assertPublished(fit.q, 3.74, 0.01, "q");
    assertPublished(fit.gamma, 15.44, 0.01, "gamma");
    assertPublished(ly_gg_population_mean(&fit), 35.17, 0.01, "population mean spend");
    ly_gg pub = {.p = 6.25, .q = 3.74, .gamma = 15.44};
    assert_true(fit.fit.loglik >= ly_gg_loglik(&pub, cdnow, cdnowN));
    /* customer 1: x = 2, zbar = 22.35 is pulled toward the population mean */
    double z = ly_gg_expected_spend(&fit, 2, 22.35);
    assert_true(z > 22.35 && z < 35.17);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(hyp2f1_matches_closed_forms),
        cmocka_unit_test(bgnbd_loglik_and_p_alive_match_the_paper),
        cmocka_unit_test(bgnbd_expectations_match_numerical_integrals),
        cmocka_unit_test(pnbd_loglik_matches_its_integral_on_both_branches),
        cmocka_unit_test(gg_expected_spend_is_the_weighted_mean),
        cmocka_unit_test(clv_discounts_the_purchases_of_each_period),
        cmocka_unit_test(bgnbd_fit_recovers_simulated_parameters),
        cmocka_unit_test(pnbd_fit_recovers_simulated_parameters),
        cmocka_unit_test(gg_fit_recovers_simulated_parameters),
        cmocka_unit_test(fits_refuse_what_they_cannot_estimate),
        cmocka_unit_test(fits_reject_invalid_customers),
    };
    const struct CMUnitTest data[] = {
        cmocka_unit_test(bgnbd_matches_the_published_cdnow_fit),
        cmocka_unit_test(pnbd_matches_the_published_cdnow_fit),
        cmocka_unit_test(gg_matches_the_published_cdnow_fit),
    };
    int failed = cmocka_run_group_tests_name("clv", pure, NULL, NULL);
    if (failed)
        return failed;
    int loaded = loadCdnow();
    if (loaded < 0)
        return 1;
    if (loaded == 0) {
        fprintf(stderr, "CDNOW summary not found under $LOYAL_SHARED_DATA: skipping its tests\n");
        return TL_SKIP;
    }
    failed = cmocka_run_group_tests_name("clv_cdnow", data, NULL, NULL);
    free(cdnow);
    return failed;
}
