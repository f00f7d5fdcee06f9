/*
 * clv.h - customer lifetime value: the BG/NBD and Pareto/NBD models of how often customers
 * buy and when they stop, the Gamma-Gamma model of how much they spend, and the CLV that
 * combines them (METHOD.md section 1: the program exists to grow lifetime value).
 *
 * Every model is fitted by maximum likelihood on one summary per customer (ly_clv_customer)
 * and then answers questions about one customer from that customer's summary alone.
 * Definitions, formulas, the optimizer and measured figures are in docs/clv.md.
 *
 * Conventions of this header:
 *  - Time is in one unit chosen by the caller (weeks, days); every time argument and every
 *    fitted scale parameter (alpha, beta) is in that unit.
 *  - A customer is observed from their first purchase (time 0) to T. x counts the REPEAT
 *    purchases in (0, T] (the first purchase is not counted), t_x is the time of the last
 *    one (0 when x = 0), zbar the mean value of the repeat purchases (0 when x = 0).
 *  - Fits are deterministic: the same input gives the same bits on the same build.
 *  - Functions that answer about one customer return a double and never fail: they return
 *    NaN when the parameters or the customer are invalid (see ly_clv_customer_check).
 *  - Pure code: no I/O, no global state, thread-safe. Fits allocate working memory with
 *    malloc and free it before returning.
 * Floating point is used here: these are estimates about people, never amounts that move
 * money or points.
 */
#ifndef LY_CLV_H
#define LY_CLV_H

#include "core/core.h"

#include <stddef.h>

/* One customer's summary over the calibration period. */
typedef struct ly_clv_customer {
    double x;    /* repeat purchases in (0, T]: a whole number >= 0 */
    double t_x;  /* time of the last repeat purchase, 0 <= t_x <= T; 0 when x = 0 */
    double T;    /* time from the first purchase to the end of the period, > 0 */
    double zbar; /* mean value of the repeat purchases (>= 0, > 0 for the spend model when
                  * x > 0); ignored by BG/NBD and Pareto/NBD */
} ly_clv_customer;

/* What a fit reports about itself besides the parameters. */
typedef struct ly_clv_fit_info {
    double loglik;      /* log-likelihood at the estimate (natural log, full constants) */
    size_t n;           /* customers the likelihood was summed over */
    int evaluations;    /* likelihood evaluations spent (all stages) */
    double grad_norm;   /* largest |d loglik / d log(param)| at the estimate */
    double se[4];       /* standard errors of the parameters, in the order of the model's
                         * struct, from the inverse observed information (delta method from
                         * log-parameters); entries past the model's parameter count are 0 */
} ly_clv_fit_info;

/* Checks one customer as the frequency models need it: x, t_x, T finite, x a whole
 * number >= 0, T > 0, 0 <= t_x <= T, t_x == 0 when x == 0 (zbar is not looked at; the
 * spend model checks it). index names the
 * customer in the error's field ("customers[12].t_x").
 * Returns LY_OK or LY_EINVAL with code "invalid_customer". */
ly_err ly_clv_customer_check(const ly_clv_customer *c, size_t index, ly_error *err);

/* The Gauss hypergeometric function 2F1(a, b; c; z) by its power series
 * sum_k (a)_k (b)_k / ((c)_k k!) z^k, for 0 <= z < 1.
 * ly_clv_hyp2f1 takes any real a, b and c other than 0, -1, -2, ...; it returns NaN outside
 * that domain, +/-inf if the value overflows a double, and NaN if the series has not
 * converged after 4,000,000 terms (z within ~1e-5 of 1).
 * ly_clv_hyp2f1_log gives the natural log of the value for a, b, c > 0 (every term is then
 * positive: no cancellation, and no overflow however large the value); NaN otherwise. */
double ly_clv_hyp2f1(double a, double b, double c, double z);
double ly_clv_hyp2f1_log(double a, double b, double c, double z);

/* ---------------------------------------------------------------------------------------
 * BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way")
 *
 * While alive a customer buys as a Poisson process of rate lambda ~ Gamma(shape r, rate
 * alpha); after each purchase they drop out with probability p ~ Beta(a, b).
 * ------------------------------------------------------------------------------------- */

typedef struct ly_bgnbd {
    double r, alpha, a, b; /* the model: all > 0; the functions below read only these */
    ly_clv_fit_info fit;   /* filled by ly_bgnbd_fit; ignored by every other function */
} ly_bgnbd;

/* Fits r, alpha, a, b by maximum likelihood over customers[0..n): Nelder-Mead in
 * log-parameter space with restarts, polished by BFGS with the analytic gradient (see
 * docs/clv.md). Fills *out (parameters and fit info) on success; leaves it unspecified on
 * error. Errors:
 *   LY_EINVAL "invalid_argument" (NULL pointers, n == 0), "invalid_customer" (see
 *     ly_clv_customer_check; field "customers[i].x" etc.);
 *   LY_EUNPROCESSABLE "no_repeat_purchases" when every x is 0 (the likelihood then grows
 *     without bound as r -> 0: there is nothing to estimate), "fit_did_not_converge" when the
 *     likelihood has no interior maximum (a parameter runs off to 0 or infinity, or the
 *     curvature at the end is not negative definite: too few customers for four
 *     parameters, e.g. a single one);
 *   LY_ENOMEM. */
ly_err ly_bgnbd_fit(const ly_clv_customer *customers, size_t n, ly_bgnbd *out, ly_error *err);

/* The log-likelihood of the parameters in m (r, alpha, a, b) summed over customers[0..n).
 * Returns NaN if a parameter is not > 0 and finite, n == 0, or a customer is invalid. */
double ly_bgnbd_loglik(const ly_bgnbd *m, const ly_clv_customer *customers, size_t n);

/* P(alive at T | x, t_x, T): 1 when x == 0, otherwise
 * 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)). NaN on invalid input. */
double ly_bgnbd_p_alive(const ly_bgnbd *m, double x, double t_x, double T);

/* E[Y(t) | x, t_x, T]: the expected number of purchases in (T, T+t] of a customer with
 * that history (t >= 0). NaN on invalid input. Near a = 1, where the closed form is 0/0,
 * the value is interpolated between a = 1 -/+ 1e-4 (relative error ~1e-8). */
double ly_bgnbd_expected(const ly_bgnbd *m, double t, double x, double t_x, double T);

/* E[X(t)]: the expected number of repeat purchases in (0, t] of a customer picked at random
 * at their first purchase (t >= 0). NaN on invalid input. */
double ly_bgnbd_expected_unconditional(const ly_bgnbd *m, double t);

/* ---------------------------------------------------------------------------------------
 * Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood as in Fader & Hardie 2005,
 * "A note on deriving the Pareto/NBD model and related expressions")
 *
 * While alive a customer buys at Poisson rate lambda ~ Gamma(r, alpha); their lifetime is
 * exponential with rate mu ~ Gamma(s, beta), independent of lambda.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_pnbd {
    double r, alpha, s, beta; /* the model: all > 0 */
    ly_clv_fit_info fit;      /* filled by ly_pnbd_fit; ignored by every other function */
} ly_pnbd;

/* Fits r, alpha, s, beta by maximum likelihood: Nelder-Mead with restarts in log-parameter
 * space, polished by BFGS with central-difference gradients. Errors as ly_bgnbd_fit. */
ly_err ly_pnbd_fit(const ly_clv_customer *customers, size_t n, ly_pnbd *out, ly_error *err);

/* The log-likelihood of (r, alpha, s, beta) summed over customers[0..n); NaN on invalid
 * input. */
double ly_pnbd_loglik(const ly_pnbd *m, const ly_clv_customer *customers, size_t n);

/* P(alive at T | x, t_x, T). NaN on invalid input. */
double ly_pnbd_p_alive(const ly_pnbd *m, double x, double t_x, double T);

/* E[Y(t) | x, t_x, T] = P(alive) * (r+x)(beta+T) / ((alpha+T)(s-1)) *
 * (1 - ((beta+T)/(beta+T+t))^(s-1)), with its limit (r+x)/(alpha+T) * (beta+T) *
 * ln((beta+T+t)/(beta+T)) at s = 1. NaN on invalid input. */
double ly_pnbd_expected(const ly_pnbd *m, double t, double x, double t_x, double T);

/* E[X(t)] = r beta / (alpha (s-1)) * (1 - (beta/(beta+t))^(s-1)) (limit at s = 1). */
double ly_pnbd_expected_unconditional(const ly_pnbd *m, double t);

/* ---------------------------------------------------------------------------------------
 * Gamma-Gamma spend (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value")
 *
 * Each purchase's value is Gamma(p, nu); nu ~ Gamma(q, gamma) across customers. Spend is
 * assumed independent of the purchase process.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_gg {
    double p, q, gamma;  /* the model: all > 0 */
    ly_clv_fit_info fit; /* filled by ly_gg_fit (n = customers with x > 0) */
} ly_gg;

/* Fits p, q, gamma by maximum likelihood on the customers with x > 0, from their x and
 * zbar (t_x and T are not read; customers with x = 0 are skipped, only their x being checked
 * to be a whole number >= 0). Nelder-Mead with restarts, then BFGS with the analytic gradient.
 * Errors: LY_EINVAL "invalid_argument", "invalid_customer" (field "customers[i].zbar" when
 * a customer with x > 0 has zbar <= 0); LY_EUNPROCESSABLE "no_repeat_purchases" when no
 * customer has x > 0, "fit_did_not_converge"; LY_ENOMEM. */
ly_err ly_gg_fit(const ly_clv_customer *customers, size_t n, ly_gg *out, ly_error *err);

/* The log-likelihood summed over the customers with x > 0; NaN on invalid input. */
double ly_gg_loglik(const ly_gg *m, const ly_clv_customer *customers, size_t n);

/* E[value of a purchase | x, zbar] = p (gamma + x zbar) / (p x + q - 1): a weighted mean of
 * the population mean and the customer's own mean. With x = 0 it is the population mean.
 * Needs p x + q > 1; NaN otherwise or on invalid input. */
double ly_gg_expected_spend(const ly_gg *m, double x, double zbar);

/* The population mean value of a purchase, p gamma / (q - 1); NaN unless q > 1. */
double ly_gg_population_mean(const ly_gg *m);

/* ---------------------------------------------------------------------------------------
 * Customer lifetime value
 * ------------------------------------------------------------------------------------- */

typedef enum ly_clv_kind { LY_CLV_BGNBD = 0, LY_CLV_PNBD } ly_clv_kind;

/* The purchase model CLV uses: kind says which of the two parameter sets is read. */
typedef struct ly_clv_model {
    ly_clv_kind kind;
    ly_bgnbd bgnbd;
    ly_pnbd pnbd;
} ly_clv_model;

/* How the future is valued. */
typedef struct ly_clv_terms {
    int periods;          /* horizon, in periods, 1..100000 */
    double period_length; /* length of a period in the model's time unit (> 0): 1 for weekly
                           * periods on a model fitted in weeks, 52/12 for months */
    double margin;        /* share of a purchase's value that is profit, 0..1 */
    double discount_rate; /* per period, >= 0: 0.01 = 1% a period */
} ly_clv_terms;

/* The value of one customer over the horizon after T, and its parts. */
typedef struct ly_clv_result {
    double purchases;  /* expected purchases over the horizon, E[Y(periods*period_length)] */
    double spend;      /* expected value of one purchase (ly_gg_expected_spend) */
    double value;      /* margin * spend * sum_k (E[Y(k L)] - E[Y((k-1) L)]) / (1+d)^k */
} ly_clv_result;

/* The CLV of customer c: purchases expected in period k (k = 1..periods, period k being
 * (T + (k-1) L, T + k L]) are E[Y(k L)] - E[Y((k-1) L)]; each is valued at the expected spend
 * times the margin and discounted as if paid at the end of its period, by (1+d)^k.
 * Returns LY_OK, or LY_EINVAL "invalid_argument" (NULL pointers, terms out of range, a
 * model parameter not > 0) / "invalid_customer" (as ly_clv_customer_check, or zbar <= 0 with
 * x > 0; field "customers[0].zbar"), or LY_EUNPROCESSABLE "not_computable"
 * when the models give no finite value (e.g. q <= 1 for a customer with x = 0). */
ly_err ly_clv_value(const ly_clv_model *model, const ly_gg *spend, const ly_clv_customer *c,
                    const ly_clv_terms *terms, ly_clv_result *out, ly_error *err);

#endif /* LY_CLV_H */
