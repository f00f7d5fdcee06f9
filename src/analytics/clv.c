/*
 * clv.c - BG/NBD, Pareto/NBD and Gamma-Gamma fitted by maximum likelihood, their per-customer
 * predictions, and the CLV that combines them (see clv.h and docs/clv.md).
 *
 * Layout: special functions (digamma, 2F1), input checks, a compact form of the data (equal
 * customers merged, per-value tables so each likelihood evaluation costs one exp and one
 * log1p per distinct customer), the optimizer (Nelder-Mead with restarts, then BFGS, then a
 * curvature check), and the three models.
 */
#include "analytics/clv.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HYP_MAX_TERMS 4000000L
/* Inside the Pareto/NBD likelihood a series this long means parameters so extreme (alpha
 * and beta apart by a factor of ~5,000) that the point is treated as infeasible: it keeps a
 * fit that wanders there from spending seconds per evaluation. */
#define HYP_FIT_TERMS 200000L
/* The Pareto/NBD fit searches log-parameters within +-PN_LOG_BOUND: e^9 is about 8,100 time
 * units (155 years in weeks) for the scales and a shape of 8,100 for r and s, far past any
 * real population; beyond it the likelihood is not evaluated at all, because its series then
 * need up to HYP_FIT_TERMS terms for every customer on every step (on simulated data the fit
 * wandered to s = 400, beta = 43,000 and ran for many minutes). */
#define PN_LOG_BOUND 9.0
#define DIM_MAX 4
/* A log-parameter further than this from its data-scaled start is treated as "ran off to 0
 * or infinity" (a factor of e^18 ~ 6.6e7). */
#define THETA_LIMIT 18.0
/* Past this the objective refuses to evaluate (returns +inf), keeping exp() finite. */
#define THETA_WALL 25.0

/* ---------------------------------------------------------------------------------------
 * Special functions
 * ------------------------------------------------------------------------------------- */

/* ln Gamma(x) without touching the global signgam that lnGamma() writes, so concurrent fits
 * do not race (every argument here is > 0, so the sign is always +). */
static double lnGamma(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

/* psi(x) for x > 0: recurrence up to x >= 8, then the asymptotic series. */
static double digamma(double x)
{
    if (!(x > 0) || !isfinite(x))
        return NAN;
    double acc = 0.0;
    while (x < 8.0) {
        acc -= 1.0 / x;
        x += 1.0;
    }
    double f = 1.0 / (x * x);
    double series = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 +
                    f * (-1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12)))))));
    return acc + log(x) - 0.5 / x + series;
}

/* log 2F1 for a, b, c > 0, 0 <= z < 1: positive terms, rescaled so the sum never
 * overflows. */
static double hypLogN(double a, double b, double c, double z, long maxTerms)
{
    if (!(a > 0 && b > 0 && c > 0 && z >= 0 && z < 1) || !isfinite(a) || !isfinite(b) ||
        !isfinite(c))
        return NAN;
    if (z == 0)
        return 0.0;
    double sum = 1.0, term = 1.0, logScale = 0.0;
    for (long k = 0; k < maxTerms; k++) {
        double ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        term *= ratio;
        sum += term;
        if (sum > 1e280) { /* keep the partial sum representable */
            sum *= 1e-280;
            term *= 1e-280;
            logScale += 280.0 * M_LN10;
        }
        if (ratio < 1.0) {
            /* Later ratios tend to z, from above or below; bound the tail by a geometric
             * series with the larger of the two. */
            double rho = ratio > z ? ratio : z;
            if (term * rho / (1.0 - rho) <= 1e-17 * sum)
                return logScale + log(sum);
        }
    }
    return NAN;
}

static double hypLog(double a, double b, double c, double z)
{
    return hypLogN(a, b, c, z, HYP_MAX_TERMS);
}

/* 2F1 with signed terms, for any real a, b and c not in {0, -1, -2, ...}. */
static double hypSigned(double a, double b, double c, double z)
{
    if (!(z >= 0 && z < 1) || !isfinite(a) || !isfinite(b) || !isfinite(c))
        return NAN;
    if (c <= 0 && c == floor(c))
        return NAN;
    if (a > 0 && b > 0 && c > 0)
        return exp(hypLog(a, b, c, z));
    double sum = 1.0, term = 1.0;
    for (long k = 0; k < HYP_MAX_TERMS; k++) {
        double num = (a + k) * (b + k);
        if (num == 0.0) /* a or b a non-positive integer: a polynomial, done */
            return sum;
        double ratio = num / ((c + k) * (k + 1.0)) * z;
        term *= ratio;
        sum += term;
        if (!isfinite(sum))
            return sum;
        double ar = fabs(ratio);
        if (ar < 1.0 && (double)k > fabs(a) + fabs(b) + fabs(c)) {
            double rho = ar > z ? ar : z;
            if (fabs(term) * rho / (1.0 - rho) <= 1e-17 * fabs(sum))
                return sum;
        }
    }
    return NAN;
}

double ly_clv_hyp2f1(double a, double b, double c, double z)
{
    return hypSigned(a, b, c, z);
}

double ly_clv_hyp2f1_log(double a, double b, double c, double z)
{
    return hypLog(a, b, c, z);
}

/* log(e^u + e^v) without overflow; -inf terms are allowed. */
static double logAdd(double u, double v)
{
    if (u < v) {
        double t = u;
        u = v;
        v = t;
    }
    if (u == -INFINITY)
        return u;
    return u + log1p(exp(v - u));
}

static bool positive(double v)
{
    return isfinite(v) && v > 0;
}

/* ---------------------------------------------------------------------------------------
 * Input checks
 * ------------------------------------------------------------------------------------- */

static bool customerOk(double x, double t_x, double T)
{
    return isfinite(x) && isfinite(t_x) && isfinite(T) && x >= 0 && x == floor(x) && T > 0 &&
           t_x >= 0 && t_x <= T && (x > 0 || t_x == 0) && x < 1e15;
}

ly_err ly_clv_customer_check(const ly_clv_customer *c, size_t index, ly_error *err)
{
    char field[64];
    const char *what = NULL, *name = NULL;
    if (!c)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no customer");
    if (!isfinite(c->x) || c->x < 0 || c->x != floor(c->x) || c->x >= 1e15)
        name = "x", what = "must be a whole number >= 0";
    else if (!isfinite(c->T) || !(c->T > 0))
        name = "T", what = "must be > 0";
    else if (!isfinite(c->t_x) || c->t_x < 0 || c->t_x > c->T)
        name = "t_x", what = "must be in 0..T";
    else if (c->x == 0 && c->t_x != 0)
        name = "t_x", what = "must be 0 when x is 0";
    if (!name)
        return LY_OK;
    snprintf(field, sizeof field, "customers[%zu].%s", index, name);
    return ly_error_set(err, LY_EINVAL, "invalid_customer", field, "%s %s (customer %zu)", name,
                        what, index);
}

static ly_err checkAll(const ly_clv_customer *cs, size_t n, ly_error *err)
{
    if (!cs || n == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no customers");
    for (size_t i = 0; i < n; i++) {
        ly_err rc = ly_clv_customer_check(&cs[i], i, err);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Compact data: distinct (x, t_x, T) rows with counts, and the distinct values of each.
 * ------------------------------------------------------------------------------------- */

typedef struct clvRow {
    double x, t_x, T, zbar, w; /* w: how many customers the row stands for */
    int ix, itx, iT;           /* indices into the distinct-value tables */
} clvRow;

typedef struct clvData {
    clvRow *rows;
    size_t nRows;
    double *xs, *txs, *Ts; /* distinct values, ascending */
    double *xw;            /* customers per distinct x */
    size_t nX, nTx, nT;
    double total;          /* customers in all */
    double *scratch;       /* per-evaluation tables, sized by the models */
} clvData;

static int cmpDouble(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

static int cmpRow(const void *pa, const void *pb)
{
    const clvRow *a = pa, *b = pb;
    if (a->x != b->x)
        return (a->x > b->x) - (a->x < b->x);
    if (a->t_x != b->t_x)
        return (a->t_x > b->t_x) - (a->t_x < b->t_x);
    if (a->T != b->T)
        return (a->T > b->T) - (a->T < b->T);
    return (a->zbar > b->zbar) - (a->zbar < b->zbar);
}

/* Sorts v[0..n) and drops repeats; returns the new count. */
static size_t uniq(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmpDouble);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || v[m - 1] != v[i])
            v[m++] = v[i];
    return m;
}

static int indexOf(const double *v, size_t n, double key)
{
    const double *p = bsearch(&key, v, n, sizeof *v, cmpDouble);
    return (int)(p - v);
}

static void dataFree(clvData *d)
{
    free(d->rows);
    free(d->xs);
    free(d->txs);
    free(d->Ts);
    free(d->xw);
    free(d->scratch);
    memset(d, 0, sizeof *d);
}

/* Builds the compact form of the customers that `keep` accepts (all when keepRepeat is
 * false, those with x > 0 when true). mergeSpend: rows differing only in zbar merge (the
 * frequency models ignore it). scratchPer: doubles of scratch per distinct x, t_x and T. */
static ly_err dataMake(clvData *d, const ly_clv_customer *cs, size_t n, bool keepRepeat,
                       bool mergeSpend, size_t scratchPerValue, ly_error *err)
{
    memset(d, 0, sizeof *d);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!keepRepeat || cs[i].x > 0)
            m++;
    if (m == 0)
        return LY_OK;
    d->rows = malloc(m * sizeof *d->rows);
    d->xs = malloc(m * sizeof *d->xs);
    d->txs = malloc(m * sizeof *d->txs);
    d->Ts = malloc(m * sizeof *d->Ts);
    if (!d->rows || !d->xs || !d->txs || !d->Ts)
        goto nomem;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (keepRepeat && !(cs[i].x > 0))
            continue;
        clvRow *r = &d->rows[k];
        r->x = cs[i].x;
        r->t_x = cs[i].t_x;
        r->T = cs[i].T;
        r->zbar = mergeSpend ? 0.0 : cs[i].zbar;
        r->w = 1.0;
        d->xs[k] = r->x;
        d->txs[k] = r->t_x;
        d->Ts[k] = r->T;
        k++;
    }
    qsort(d->rows, m, sizeof *d->rows, cmpRow);
    size_t nr = 0;
    for (size_t i = 0; i < m; i++) {
        if (nr > 0 && cmpRow(&d->rows[nr - 1], &d->rows[i]) == 0)
            d->rows[nr - 1].w += 1.0;
        else
            d->rows[nr++] = d->rows[i];
    }
    d->nRows = nr;
    d->total = (double)m;
    d->nX = uniq(d->xs, m);
    d->nTx = uniq(d->txs, m);
    d->nT = uniq(d->Ts, m);
    d->xw = calloc(d->nX, sizeof *d->xw);
    d->scratch = malloc(((d->nX + d->nTx + d->nT) * scratchPerValue + 1) * sizeof(double));
    if (!d->xw || !d->scratch)
        goto nomem;
    for (size_t i = 0; i < nr; i++) {
        clvRow *r = &d->rows[i];
        r->ix = indexOf(d->xs, d->nX, r->x);
        r->itx = indexOf(d->txs, d->nTx, r->t_x);
        r->iT = indexOf(d->Ts, d->nT, r->T);
        d->xw[r->ix] += r->w;
    }
    return LY_OK;
nomem:
    dataFree(d);
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------
 * The optimizer: minimises f(theta) over theta in R^dim (theta = log-parameters).
 * ------------------------------------------------------------------------------------- */

/* Returns f at th (the negative log-likelihood) or +inf where it is not defined; when grad
 * is not NULL and the model has an analytic gradient, fills it. */
typedef double (*objFn)(const double *th, double *grad, void *ctx);

typedef struct opt {
    objFn f;
    void *ctx;
    int dim;
    bool analytic; /* f fills grad */
    int evals;
    double th0[DIM_MAX]; /* the start: the data's own scale */
} opt;

static double optEval(opt *o, const double *th, double *grad)
{
    for (int i = 0; i < o->dim; i++)
        if (!(fabs(th[i] - o->th0[i]) <= THETA_WALL))
            return INFINITY;
    o->evals++;
    double v = o->f(th, o->analytic ? grad : NULL, o->ctx);
    if (isnan(v))
        return INFINITY;
    if (grad && !o->analytic && isfinite(v)) {
        double t[DIM_MAX];
        memcpy(t, th, sizeof(double) * (size_t)o->dim);
        for (int i = 0; i < o->dim; i++) {
            const double h = 1e-5;
            t[i] = th[i] + h;
            o->evals++;
            double fp = o->f(t, NULL, o->ctx);
            t[i] = th[i] - h;
            o->evals++;
            double fm = o->f(t, NULL, o->ctx);
            t[i] = th[i];
            grad[i] = (fp - fm) / (2 * h);
        }
    }
    return v;
}

/* Nelder-Mead (reflection 1, expansion 2, contraction 1/2, shrink 1/2) from x with initial
 * steps `step` along each axis. Stops when the spread of f over the simplex is at most
 * ftol * (|f_best| + 1) or after maxEval evaluations. x gets the best vertex; returns its f. */
static double nelderMead(opt *o, double *x, double step, double ftol, int maxEval)
{
    int n = o->dim, start = o->evals;
    double s[DIM_MAX + 1][DIM_MAX], fs[DIM_MAX + 1];
    for (int i = 0; i <= n; i++) {
        memcpy(s[i], x, sizeof(double) * (size_t)n);
        if (i > 0)
            s[i][i - 1] += step;
        fs[i] = optEval(o, s[i], NULL);
    }
    for (;;) {
        /* order: best first (stable insertion sort keeps it deterministic) */
        for (int i = 1; i <= n; i++)
            for (int j = i; j > 0 && fs[j] < fs[j - 1]; j--) {
                double tf = fs[j];
                fs[j] = fs[j - 1];
                fs[j - 1] = tf;
                double tv[DIM_MAX];
                memcpy(tv, s[j], sizeof tv);
                memcpy(s[j], s[j - 1], sizeof tv);
                memcpy(s[j - 1], tv, sizeof tv);
            }
        if (isfinite(fs[n]) && fs[n] - fs[0] <= ftol * (fabs(fs[0]) + 1.0))
            break;
        if (o->evals - start >= maxEval)
            break;
        double c[DIM_MAX] = {0}, xr[DIM_MAX], xe[DIM_MAX], xc[DIM_MAX];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                c[j] += s[i][j] / n;
        for (int j = 0; j < n; j++)
            xr[j] = c[j] + (c[j] - s[n][j]);
        double fr = optEval(o, xr, NULL);
        if (fr < fs[0]) {
            for (int j = 0; j < n; j++)
                xe[j] = c[j] + 2.0 * (c[j] - s[n][j]);
            double fe = optEval(o, xe, NULL);
            if (fe < fr) {
                memcpy(s[n], xe, sizeof xe);
                fs[n] = fe;
            } else {
                memcpy(s[n], xr, sizeof xr);
                fs[n] = fr;
            }
            continue;
        }
        if (fr < fs[n - 1]) {
            memcpy(s[n], xr, sizeof xr);
            fs[n] = fr;
            continue;
        }
        bool outside = fr < fs[n];
        for (int j = 0; j < n; j++)
            xc[j] = outside ? c[j] + 0.5 * (xr[j] - c[j]) : c[j] + 0.5 * (s[n][j] - c[j]);
        double fc = optEval(o, xc, NULL);
        if (fc < (outside ? fr : fs[n])) {
            memcpy(s[n], xc, sizeof xc);
            fs[n] = fc;
            continue;
        }
        for (int i = 1; i <= n; i++) { /* shrink toward the best */
            for (int j = 0; j < n; j++)
                s[i][j] = s[0][j] + 0.5 * (s[i][j] - s[0][j]);
            fs[i] = optEval(o, s[i], NULL);
        }
    }
    memcpy(x, s[0], sizeof(double) * (size_t)n);
    return fs[0];
}

static double normInf(const double *g, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(g[i]) > m || isnan(g[i]))
            m = isnan(g[i]) ? INFINITY : fabs(g[i]);
    return m;
}

/* BFGS on the inverse Hessian with a backtracking (Armijo) line search, from x. Stops when |grad|_inf <= gtol, when no step decreases f, or after maxIter steps.
 * Updates x and returns f; *gout gets the final |grad|_inf. */
static double bfgs(opt *o, double *x, double gtol, int maxIter, double *gout)
{
    int n = o->dim;
    double H[DIM_MAX][DIM_MAX], g[DIM_MAX], gn[DIM_MAX], xn[DIM_MAX], p[DIM_MAX];
    double f = optEval(o, x, g);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            H[i][j] = i == j ? 1.0 / (1.0 + normInf(g, n)) : 0.0;
    bool fresh = true;
    for (int it = 0; it < maxIter && isfinite(f); it++) {
        if (normInf(g, n) <= gtol)
            break;
        double slope = 0, plen = 0;
        for (int i = 0; i < n; i++) {
            p[i] = 0;
            for (int j = 0; j < n; j++)
                p[i] -= H[i][j] * g[j];
            slope += p[i] * g[i];
            plen = fmax(plen, fabs(p[i]));
        }
        if (!(slope < 0)) { /* not a descent direction: restart from steepest descent */
            if (fresh)
                break;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    H[i][j] = i == j ? 1.0 / (1.0 + normInf(g, n)) : 0.0;
            fresh = true;
            it--;
            continue;
        }
        double step = plen > 2.0 ? 2.0 / plen : 1.0, fnew = INFINITY;
        bool ok = false;
        for (int k = 0; k < 60; k++, step *= 0.5) {
            for (int i = 0; i < n; i++)
                xn[i] = x[i] + step * p[i];
            fnew = optEval(o, xn, NULL);
            if (fnew <= f + 1e-4 * step * slope) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            if (fresh)
                break;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    H[i][j] = i == j ? 1.0 / (1.0 + normInf(g, n)) : 0.0;
            fresh = true;
            continue;
        }
        fnew = optEval(o, xn, gn);
        double sv[DIM_MAX], yv[DIM_MAX], sy = 0, ss = 0, yy = 0;
        for (int i = 0; i < n; i++) {
            sv[i] = xn[i] - x[i];
            yv[i] = gn[i] - g[i];
            sy += sv[i] * yv[i];
            ss += sv[i] * sv[i];
            yy += yv[i] * yv[i];
        }
        memcpy(x, xn, sizeof(double) * (size_t)n);
        memcpy(g, gn, sizeof(double) * (size_t)n);
        f = fnew;
        bool wasFresh = fresh;
        fresh = false;
        if (sy > 1e-12 * sqrt(ss * yy)) {
            if (wasFresh) /* scale the first guess of the inverse Hessian (Nocedal-Wright) */
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++)
                        H[i][j] = i == j ? sy / yy : 0.0;
            double Hy[DIM_MAX], yHy = 0;
            for (int i = 0; i < n; i++) {
                Hy[i] = 0;
                for (int j = 0; j < n; j++)
                    Hy[i] += H[i][j] * yv[j];
                yHy += yv[i] * Hy[i];
            }
            double rho = 1.0 / sy;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    H[i][j] += rho * ((1.0 + rho * yHy) * sv[i] * sv[j] - Hy[i] * sv[j] -
                                      sv[i] * Hy[j]);
        }
    }
    *gout = normInf(g, n);
    return f;
}

/* Cholesky of the n x n matrix a in place (lower triangle). Returns false unless positive
 * definite with every pivot above tiny. */
static bool cholesky(double a[DIM_MAX][DIM_MAX], int n, double tiny)
{
    for (int j = 0; j < n; j++) {
        double d = a[j][j];
        for (int k = 0; k < j; k++)
            d -= a[j][k] * a[j][k];
        if (!(d > tiny))
            return false;
        a[j][j] = sqrt(d);
        for (int i = j + 1; i < n; i++) {
            double v = a[i][j];
            for (int k = 0; k < j; k++)
                v -= a[i][k] * a[j][k];
            a[i][j] = v / a[j][j];
        }
    }
    return true;
}

/* The whole fit from th (start values, log-parameters): Nelder-Mead, restarted from its
 * own answer until a restart gains nothing, then BFGS, then the curvature check and the
 * standard errors. Fills info (loglik = -f) and th. Returns false if the maximum is not an
 * interior, well-curved one. */
static bool standardErrors(opt *o, const double *th, int n, ly_clv_fit_info *info);

static bool optimize(opt *o, double *th, ly_clv_fit_info *info)
{
    int n = o->dim;
    memcpy(o->th0, th, sizeof(double) * (size_t)n);
    double f = nelderMead(o, th, 1.0, 1e-7, 1500);
    int restartEvals = o->evals + 1500;
    /* A restart rebuilds the simplex around the best point: a simplex that collapsed
     * before reaching the optimum (Nelder-Mead's known failure) then moves on. BFGS does the
     * fine work, so restarts stop once one gains less than 1e-7 of f. */
    for (int round = 0; round < 8 && isfinite(f) && o->evals < restartEvals; round++) {
        double f2 = nelderMead(o, th, 0.1, 1e-8, restartEvals - o->evals);
        bool gained = f - f2 > 1e-7 * (fabs(f2) + 1.0);
        f = f2;
        if (!gained)
            break;
    }
    double gnorm = INFINITY;
    if (isfinite(f))
        f = bfgs(o, th, 1e-9 * (fabs(f) + 1.0), 200, &gnorm);
    memset(info, 0, sizeof *info);
    info->loglik = -f;
    info->grad_norm = gnorm;
    if (!isfinite(f) || !(gnorm <= 1e-5 * (fabs(f) + 1.0)))
        return false;
    for (int i = 0; i < n; i++)
        if (fabs(th[i] - o->th0[i]) > THETA_LIMIT)
            return false;
    /* The standard errors: left NaN when the curvature cannot give them. */
    for (int i = 0; i < n; i++) info->se[i] = NAN;
    (void)standardErrors(o, th, n, info);
    return true;
}

/* Standard errors from the observed information in log-parameters (central differences of
 * the gradient), by the delta method. False, with info->se left as they are, when the
 * information is not positive definite: a maximum on a ridge (with few repeat purchases a
 * and b of BG/NBD are barely identified), whose estimates still stand. */
static bool standardErrors(opt *o, const double *th, int n, ly_clv_fit_info *info)
{
    double Hm[DIM_MAX][DIM_MAX], gp[DIM_MAX], gm[DIM_MAX], t[DIM_MAX];
    memcpy(t, th, sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const double h = 1e-4;
        t[i] = th[i] + h;
        double fp = optEval(o, t, gp);
        t[i] = th[i] - h;
        double fm = optEval(o, t, gm);
        t[i] = th[i];
        if (!isfinite(fp) || !isfinite(fm))
            return false;
        for (int j = 0; j < n; j++)
            Hm[i][j] = (gp[j] - gm[j]) / (2 * h);
    }
    /* Scale to unit diagonal so "nearly singular" does not depend on the data's size. */
    double sc[DIM_MAX], C[DIM_MAX][DIM_MAX];
    for (int i = 0; i < n; i++) {
        if (!(Hm[i][i] > 0))
            return false;
        sc[i] = 1.0 / sqrt(Hm[i][i]);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            C[i][j] = 0.5 * (Hm[i][j] + Hm[j][i]) * sc[i] * sc[j];
    if (!cholesky(C, n, 1e-6))
        return false;
    /* Inverse diagonal of C from its Cholesky factor L: diag((L L^T)^-1) = column norms of
     * L^-1. */
    double Li[DIM_MAX][DIM_MAX] = {{0}};
    for (int j = 0; j < n; j++) {
        Li[j][j] = 1.0 / C[j][j];
        for (int i = j + 1; i < n; i++) {
            double v = 0;
            for (int k = j; k < i; k++)
                v -= C[i][k] * Li[k][j];
            Li[i][j] = v / C[i][i];
        }
    }
    for (int j = 0; j < n; j++) {
        double v = 0;
        for (int i = j; i < n; i++)
            v += Li[i][j] * Li[i][j];
        info->se[j] = sqrt(v) * sc[j] * exp(th[j]); /* delta method: d p = p d theta */
    }
    return true;
}

static ly_err fitFailed(ly_error *err, const char *model)
{
    return ly_error_set(err, LY_EUNPROCESSABLE, "fit_did_not_converge", NULL,
                        "the %s likelihood has no interior maximum on these customers "
                        "(too few, or too alike, to identify the parameters)",
                        model);
}

/* ---------------------------------------------------------------------------------------
 * BG/NBD
 * ------------------------------------------------------------------------------------- */

/* Scratch: per distinct x, A1+A2 less r ln alpha and ln(b+x-1); per distinct t_x and per
 * distinct T, ln(alpha+.) and 1/(alpha+.). Two doubles per value in all. */
#define BG_SCRATCH 2

static double bgObjective(const double *th, double *grad, void *ctx)
{
    const clvData *d = ctx;
    double r = exp(th[0]), al = exp(th[1]), a = exp(th[2]), b = exp(th[3]);
    double *tabX = d->scratch, *tabTx = tabX + BG_SCRATCH * d->nX, *tabT = tabTx + 2 * d->nTx;
    double lgR = lnGamma(r), lgB = lnGamma(b), lgAB = lnGamma(a + b);
    double psR = 0, psB = 0, psAB = 0;
    if (grad) {
        psR = digamma(r);
        psB = digamma(b);
        psAB = digamma(a + b);
    }
    double ll = 0, gr = 0, gal = 0, ga = 0, gb = 0;
    for (size_t j = 0; j < d->nX; j++) {
        double x = d->xs[j], *t = &tabX[BG_SCRATCH * j];
        t[0] = lnGamma(r + x) - lgR + lgAB + lnGamma(b + x) - lgB - lnGamma(a + b + x);
        t[1] = x > 0 ? log(b + x - 1) : 0;
        ll += d->xw[j] * t[0];
        if (grad) {
            double psABX = digamma(a + b + x);
            gr += d->xw[j] * (digamma(r + x) - psR);
            ga += d->xw[j] * (psAB - psABX);
            gb += d->xw[j] * (psAB + digamma(b + x) - psB - psABX);
        }
    }
    double lnAl = log(al);
    ll += d->total * r * lnAl;
    if (grad) {
        gr += d->total * lnAl;
        gal += d->total * r / al;
    }
    for (size_t j = 0; j < d->nTx; j++) {
        tabTx[2 * j] = log(al + d->txs[j]);
        tabTx[2 * j + 1] = 1.0 / (al + d->txs[j]);
    }
    for (size_t j = 0; j < d->nT; j++) {
        tabT[2 * j] = log(al + d->Ts[j]);
        tabT[2 * j + 1] = 1.0 / (al + d->Ts[j]);
    }
    double lnA = log(a);
    for (size_t i = 0; i < d->nRows; i++) {
        const clvRow *row = &d->rows[i];
        const double *tx = &tabX[BG_SCRATCH * row->ix];
        double rx = r + row->x, lT = tabT[2 * row->iT];
        double A3 = -rx * lT;
        if (row->x == 0) {
            ll += row->w * A3;
            if (grad) {
                gr -= row->w * lT;
                gal -= row->w * rx * tabT[2 * row->iT + 1];
            }
            continue;
        }
        double lTx = tabTx[2 * row->itx];
        double A4 = lnA - tx[1] - rx * lTx;
        double hi = A3 > A4 ? A3 : A4, lo = A3 > A4 ? A4 : A3;
        double e = exp(lo - hi);
        ll += row->w * (hi + log1p(e));
        if (grad) {
            double wHi = 1.0 / (1.0 + e), wLo = e * wHi;
            double w3 = A3 > A4 ? wHi : wLo, w4 = A3 > A4 ? wLo : wHi;
            gr -= row->w * (w3 * lT + w4 * lTx);
            gal -= row->w * rx * (w3 * tabT[2 * row->iT + 1] + w4 * tabTx[2 * row->itx + 1]);
            ga += row->w * w4 / a;
            gb -= row->w * w4 / (b + row->x - 1);
        }
    }
    if (grad) { /* d(-ll)/d log p = -p d ll / dp */
        grad[0] = -r * gr;
        grad[1] = -al * gal;
        grad[2] = -a * ga;
        grad[3] = -b * gb;
    }
    return -ll;
}

static bool bgParamsOk(const ly_bgnbd *m)
{
    return m && positive(m->r) && positive(m->alpha) && positive(m->a) && positive(m->b);
}

/* Mean purchase rate per unit time as a starting scale: (repeat purchases + 1) / time.
 * Summed over the sorted compact rows, so the order of the input cannot change a bit. */
static double startRate(const clvData *d)
{
    double sx = 0, sT = 0;
    for (size_t i = 0; i < d->nRows; i++) {
        sx += d->rows[i].w * d->rows[i].x;
        sT += d->rows[i].w * d->rows[i].T;
    }
    return (sx + d->total) / sT;
}

static double meanT(const clvData *d)
{
    double s = 0;
    for (size_t i = 0; i < d->nRows; i++)
        s += d->rows[i].w * d->rows[i].T;
    return s / d->total;
}

static bool anyRepeat(const ly_clv_customer *cs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cs[i].x > 0)
            return true;
    return false;
}

/* The fit both frequency models share: checks, the data made once, the optimizer from a
 * data-scaled start (the last parameter starts at the mean T when scale_last: Pareto/NBD's
 * beta), and the four parameters back from log space into p. *fit is written only on
 * success. */
static ly_err fitFrequency(const ly_clv_customer *customers, size_t n,
                           double (*objective)(const double *, double *, void *), bool analytic,
                           size_t scratch, bool scale_last, const char *model, double p[4],
                           ly_clv_fit_info *fit, ly_error *err)
{
    ly_err rc = checkAll(customers, n, err);
    if (rc != LY_OK)
        return rc;
    if (!anyRepeat(customers, n))
        return ly_error_set(err, LY_EUNPROCESSABLE, "no_repeat_purchases", NULL,
                            "no customer made a repeat purchase: nothing to estimate");
    clvData d;
    if ((rc = dataMake(&d, customers, n, false, true, scratch, err)) != LY_OK)
        return rc;
    opt o = {.f = objective, .ctx = &d, .dim = 4, .analytic = analytic};
    double th[4] = {0.0, -log(startRate(&d)), 0.0, scale_last ? log(meanT(&d)) : 0.0};
    ly_clv_fit_info info;
    bool ok = optimize(&o, th, &info);
    dataFree(&d);
    if (!ok)
        return fitFailed(err, model);
    for (int i = 0; i < 4; i++)
        p[i] = exp(th[i]);
    *fit = info;
    fit->n = n;
    fit->evaluations = o.evals;
    return LY_OK;
}

/* The log-likelihood both frequency models share: the customers (already checked by the
 * caller) made into the same compact data the fit uses, and the objective evaluated at the
 * four positive parameters p (taken into log space, as the optimizer sees them). NAN when
 * the data cannot be made (out of memory). */
static double loglikFrequency(const ly_clv_customer *customers, size_t n,
                              double (*objective)(const double *, double *, void *), size_t scratch,
                              const double p[4])
{
    clvData d;
    if (dataMake(&d, customers, n, false, true, scratch, NULL) != LY_OK)
        return NAN;
    double th[4] = {log(p[0]), log(p[1]), log(p[2]), log(p[3])};
    double v = -objective(th, NULL, &d);
    dataFree(&d);
    return v;
}

ly_err ly_bgnbd_fit(const ly_clv_customer *customers, size_t n, ly_bgnbd *out, ly_error *err)
{
    if (!out)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no output");
    double p[4];
    ly_err rc = fitFrequency(customers, n, bgObjective, true, BG_SCRATCH, false, "BG/NBD", p,
                             &out->fit, err);
    if (rc != LY_OK)
        return rc;
    out->r = p[0];
    out->alpha = p[1];
    out->a = p[2];
    out->b = p[3];
    return LY_OK;
}

double ly_bgnbd_loglik(const ly_bgnbd *m, const ly_clv_customer *customers, size_t n)
{
    if (!bgParamsOk(m) || checkAll(customers, n, NULL) != LY_OK)
        return NAN;
    const double p[4] = {m->r, m->alpha, m->a, m->b};
    return loglikFrequency(customers, n, bgObjective, BG_SCRATCH, p);
}

double ly_bgnbd_p_alive(const ly_bgnbd *m, double x, double t_x, double T)
{
    if (!bgParamsOk(m) || !customerOk(x, t_x, T))
        return NAN;
    if (x == 0)
        return 1.0;
    double lg = log(m->a / (m->b + x - 1)) + (m->r + x) * log((m->alpha + T) / (m->alpha + t_x));
    return 1.0 / (1.0 + exp(lg));
}

/* E[X(t)] of a BG/NBD with these parameters (the closed form; c = a+b-1 may be <= 0). */
static double bgUncondRaw(double r, double al, double a, double b, double t)
{
    double c = a + b - 1, z = t / (al + t), lead = r * log(al / (al + t));
    double k;
    if (c > 0)
        k = exp(lead + hypLog(r, b, c, z));
    else
        k = exp(lead) * hypSigned(r, b, c, z);
    return c / (a - 1) * (1.0 - k);
}

/* bgUncondRaw, interpolated across the 0/0 point a + b = 1 (c = 0). */
static double bgUncondC(double r, double al, double a, double b, double t)
{
    const double h = 1e-4;
    if (fabs(a + b - 1) < h) {
        double hb = fmin(h, b / 2), b0 = b - hb - (a + b - 1), b1 = b0 + 2 * hb;
        if (b0 > 0) {
            double lo = bgUncondRaw(r, al, a, b0, t), hi = bgUncondRaw(r, al, a, b1, t);
            return lo + (hi - lo) * (b - b0) / (b1 - b0);
        }
    }
    return bgUncondRaw(r, al, a, b, t);
}

/* The same, interpolated across the 0/0 point a = 1 as well. */
static double bgUncond(double r, double al, double a, double b, double t)
{
    const double h = 1e-4;
    if (t == 0)
        return 0.0;
    if (fabs(a - 1) < h) {
        double lo = bgUncondC(r, al, 1 - h, b, t), hi = bgUncondC(r, al, 1 + h, b, t);
        return lo + (hi - lo) * (a - (1 - h)) / (2 * h);
    }
    return bgUncondC(r, al, a, b, t);
}

double ly_bgnbd_expected(const ly_bgnbd *m, double t, double x, double t_x, double T)
{
    if (!bgParamsOk(m) || !customerOk(x, t_x, T) || !(t >= 0) || !isfinite(t))
        return NAN;
    /* The customer's future is a BG/NBD with updated parameters (r+x, alpha+T, a, b+x),
     * weighted by the chance they are still alive. */
    return ly_bgnbd_p_alive(m, x, t_x, T) *
           bgUncond(m->r + x, m->alpha + T, m->a, m->b + x, t);
}

double ly_bgnbd_expected_unconditional(const ly_bgnbd *m, double t)
{
    if (!bgParamsOk(m) || !(t >= 0) || !isfinite(t))
        return NAN;
    return bgUncond(m->r, m->alpha, m->a, m->b, t);
}

/* ---------------------------------------------------------------------------------------
 * Pareto/NBD
 * ------------------------------------------------------------------------------------- */

/* The Pareto/NBD evaluation keeps no tables (its series depend on every row's values). */
#define PN_SCRATCH 0

/* One customer's log-likelihood without the terms that depend only on x
 * (ln Gamma(r+x) - ln Gamma(r) + r ln alpha + s ln beta), and the two parts of the bracket:
 * *l1 = log of 1/((alpha+T)^(r+x) (beta+T)^s), *l2 = log of s/(r+s+x) * A0 (-inf if 0). */
static void pnParts(double r, double al, double s, double be, double x, double t_x, double T,
                    long maxTerms, double *l1, double *l2)
{
    double rsx = r + s + x;
    *l1 = -(r + x) * log(al + T) - s * log(be + T);
    double p1, p2;
    if (al >= be) {
        p1 = hypLogN(rsx, s + 1, rsx + 1, (al - be) / (al + t_x), maxTerms) - rsx * log(al + t_x);
        p2 = hypLogN(rsx, s + 1, rsx + 1, (al - be) / (al + T), maxTerms) - rsx * log(al + T);
    } else {
        p1 = hypLogN(rsx, r + x, rsx + 1, (be - al) / (be + t_x), maxTerms) - rsx * log(be + t_x);
        p2 = hypLogN(rsx, r + x, rsx + 1, (be - al) / (be + T), maxTerms) - rsx * log(be + T);
    }
    if (isnan(p1) || isnan(p2))
        *l2 = NAN;
    else if (p1 > p2)
        *l2 = log(s / rsx) + p1 + log(-expm1(p2 - p1));
    else
        *l2 = -INFINITY; /* t_x == T: the customer cannot have died unseen */
}

static double pnObjective(const double *th, double *grad, void *ctx)
{
    const clvData *d = ctx;
    for (int i = 0; i < 4; i++)
        if (!(fabs(th[i]) <= PN_LOG_BOUND)) return INFINITY;
    double r = exp(th[0]), al = exp(th[1]), s = exp(th[2]), be = exp(th[3]);
    (void)grad;
    double lgR = lnGamma(r), ll = d->total * (r * log(al) + s * log(be));
    for (size_t j = 0; j < d->nX; j++)
        ll += d->xw[j] * (lnGamma(r + d->xs[j]) - lgR);
    for (size_t i = 0; i < d->nRows; i++) {
        const clvRow *row = &d->rows[i];
        double l1, l2;
        pnParts(r, al, s, be, row->x, row->t_x, row->T, HYP_FIT_TERMS, &l1, &l2);
        ll += row->w * logAdd(l1, l2);
    }
    return -ll;
}

static bool pnParamsOk(const ly_pnbd *m)
{
    return m && positive(m->r) && positive(m->alpha) && positive(m->s) && positive(m->beta);
}

ly_err ly_pnbd_fit(const ly_clv_customer *customers, size_t n, ly_pnbd *out, ly_error *err)
{
    if (!out)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no output");
    double p[4];
    ly_err rc = fitFrequency(customers, n, pnObjective, false, PN_SCRATCH, true, "Pareto/NBD", p,
                             &out->fit, err);
    if (rc != LY_OK)
        return rc;
    out->r = p[0];
    out->alpha = p[1];
    out->s = p[2];
    out->beta = p[3];
    return LY_OK;
}

double ly_pnbd_loglik(const ly_pnbd *m, const ly_clv_customer *customers, size_t n)
{
    if (!pnParamsOk(m) || checkAll(customers, n, NULL) != LY_OK)
        return NAN;
    const double p[4] = {m->r, m->alpha, m->s, m->beta};
    return loglikFrequency(customers, n, pnObjective, PN_SCRATCH, p);
}

double ly_pnbd_p_alive(const ly_pnbd *m, double x, double t_x, double T)
{
    if (!pnParamsOk(m) || !customerOk(x, t_x, T))
        return NAN;
    double l1, l2;
    pnParts(m->r, m->alpha, m->s, m->beta, x, t_x, T, HYP_MAX_TERMS, &l1, &l2);
    if (isnan(l2))
        return NAN;
    return 1.0 / (1.0 + exp(l2 - l1));
}

/* (1 - (u/(u+t))^(s-1)) / (s-1), with its limit ln((u+t)/u) at s = 1. */
static double pnHorizon(double s, double u, double t)
{
    double L = log1p(t / u);
    if (s == 1)
        return L;
    return -expm1(-(s - 1) * L) / (s - 1);
}

double ly_pnbd_expected(const ly_pnbd *m, double t, double x, double t_x, double T)
{
    if (!(t >= 0) || !isfinite(t))
        return NAN;
    double pa = ly_pnbd_p_alive(m, x, t_x, T);
    if (isnan(pa))
        return NAN;
    return pa * (m->r + x) * (m->beta + T) / (m->alpha + T) * pnHorizon(m->s, m->beta + T, t);
}

double ly_pnbd_expected_unconditional(const ly_pnbd *m, double t)
{
    if (!pnParamsOk(m) || !(t >= 0) || !isfinite(t))
        return NAN;
    return m->r * m->beta / m->alpha * pnHorizon(m->s, m->beta, t);
}

/* ---------------------------------------------------------------------------------------
 * Gamma-Gamma
 * ------------------------------------------------------------------------------------- */

/* Scratch per distinct x: lnGamma(px+q)-lnGamma(px), psi(px+q), psi(px), ln x. Each row's
 * zbar is in row->zbar; its log is recomputed (one log per row, cheap next to the other). */
#define GG_SCRATCH 4

static double ggObjective(const double *th, double *grad, void *ctx)
{
    const clvData *d = ctx;
    double p = exp(th[0]), q = exp(th[1]), g = exp(th[2]);
    double *tab = d->scratch;
    double lgQ = lnGamma(q), lnG = log(g), psQ = grad ? digamma(q) : 0;
    for (size_t j = 0; j < d->nX; j++) {
        double x = d->xs[j], *t = &tab[GG_SCRATCH * j];
        t[0] = lnGamma(p * x + q) - lnGamma(p * x);
        t[3] = log(x);
        if (grad) {
            t[1] = digamma(p * x + q);
            t[2] = digamma(p * x);
        }
    }
    double ll = 0, gp = 0, gq = 0, gg = 0;
    for (size_t i = 0; i < d->nRows; i++) {
        const clvRow *row = &d->rows[i];
        const double *t = &tab[GG_SCRATCH * row->ix];
        double x = row->x, px = p * x, lz = log(row->zbar), lden = log(g + x * row->zbar);
        ll += row->w * (t[0] - lgQ + q * lnG + (px - 1) * lz + px * t[3] - (px + q) * lden);
        if (grad) {
            gp += row->w * x * (t[1] - t[2] + lz + t[3] - lden);
            gq += row->w * (t[1] - psQ + lnG - lden);
            gg += row->w * (q / g - (px + q) / (g + x * row->zbar));
        }
    }
    if (grad) {
        grad[0] = -p * gp;
        grad[1] = -q * gq;
        grad[2] = -g * gg;
    }
    return -ll;
}

static bool ggParamsOk(const ly_gg *m)
{
    return m && positive(m->p) && positive(m->q) && positive(m->gamma);
}

/* Checks the spend model's input; *nRepeat gets the customers with x > 0. */
static ly_err ggCheck(const ly_clv_customer *cs, size_t n, size_t *nRepeat, ly_error *err)
{
    if (!cs || n == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no customers");
    *nRepeat = 0;
    for (size_t i = 0; i < n; i++) {
        char field[64];
        const char *name = NULL, *what = NULL;
        if (!isfinite(cs[i].x) || cs[i].x < 0 || cs[i].x != floor(cs[i].x) || cs[i].x >= 1e15)
            name = "x", what = "must be a whole number >= 0";
        else if (cs[i].x > 0 && !positive(cs[i].zbar))
            name = "zbar", what = "must be > 0 when x > 0";
        if (name) {
            snprintf(field, sizeof field, "customers[%zu].%s", i, name);
            return ly_error_set(err, LY_EINVAL, "invalid_customer", field,
                                "%s %s (customer %zu)", name, what, i);
        }
        if (cs[i].x > 0)
            ++*nRepeat;
    }
    return LY_OK;
}

/* The compact data of the nr customers with x > 0. The spend model reads only x and zbar,
 * so t_x and T are set to neutral values that every check accepts. */
static ly_err ggData(clvData *d, const ly_clv_customer *customers, size_t n, size_t nr,
                     ly_error *err)
{
    ly_clv_customer *cs = malloc(nr * sizeof *cs);
    if (!cs)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    for (size_t i = 0, k = 0; i < n; i++)
        if (customers[i].x > 0)
            cs[k++] = (ly_clv_customer){customers[i].x, 0, 1, customers[i].zbar};
    ly_err rc = dataMake(d, cs, nr, true, false, GG_SCRATCH, err);
    free(cs);
    return rc;
}

ly_err ly_gg_fit(const ly_clv_customer *customers, size_t n, ly_gg *out, ly_error *err)
{
    if (!out)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "no output");
    size_t nr;
    ly_err rc = ggCheck(customers, n, &nr, err);
    if (rc != LY_OK)
        return rc;
    if (nr == 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "no_repeat_purchases", NULL,
                            "no customer made a repeat purchase: no spend to model");
    clvData d;
    if ((rc = ggData(&d, customers, n, nr, err)) != LY_OK)
        return rc;
    double mz = 0;
    for (size_t i = 0; i < d.nRows; i++)
        mz += d.rows[i].w * d.rows[i].zbar;
    opt o = {.f = ggObjective, .ctx = &d, .dim = 3, .analytic = true};
    double th[3] = {0.0, log(2.0), log(mz / (double)nr)};
    ly_clv_fit_info info;
    bool ok = optimize(&o, th, &info);
    dataFree(&d);
    if (!ok)
        return fitFailed(err, "Gamma-Gamma");
    out->p = exp(th[0]);
    out->q = exp(th[1]);
    out->gamma = exp(th[2]);
    out->fit = info;
    out->fit.n = nr;
    out->fit.evaluations = o.evals;
    return LY_OK;
}

double ly_gg_loglik(const ly_gg *m, const ly_clv_customer *customers, size_t n)
{
    size_t nr;
    if (!ggParamsOk(m) || ggCheck(customers, n, &nr, NULL) != LY_OK || nr == 0)
        return NAN;
    double th[3] = {log(m->p), log(m->q), log(m->gamma)};
    clvData d;
    if (ggData(&d, customers, n, nr, NULL) != LY_OK)
        return NAN;
    double ll = -ggObjective(th, NULL, &d);
    dataFree(&d);
    return ll;
}

double ly_gg_expected_spend(const ly_gg *m, double x, double zbar)
{
    if (!ggParamsOk(m) || !isfinite(x) || x < 0 || x != floor(x) || !isfinite(zbar))
        return NAN;
    if (x > 0 && !(zbar > 0))
        return NAN;
    double den = m->p * x + m->q - 1;
    if (!(den > 0))
        return NAN;
    return m->p * (m->gamma + (x > 0 ? x * zbar : 0.0)) / den;
}

double ly_gg_population_mean(const ly_gg *m)
{
    if (!ggParamsOk(m) || !(m->q > 1))
        return NAN;
    return m->p * m->gamma / (m->q - 1);
}

/* ---------------------------------------------------------------------------------------
 * CLV
 * ------------------------------------------------------------------------------------- */

static double modelExpected(const ly_clv_model *m, double t, const ly_clv_customer *c)
{
    return m->kind == LY_CLV_BGNBD ? ly_bgnbd_expected(&m->bgnbd, t, c->x, c->t_x, c->T)
                                   : ly_pnbd_expected(&m->pnbd, t, c->x, c->t_x, c->T);
}

ly_err ly_clv_value(const ly_clv_model *model, const ly_gg *spend, const ly_clv_customer *c,
                    const ly_clv_terms *terms, ly_clv_result *out, ly_error *err)
{
    if (!model || !spend || !c || !terms || !out)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", NULL, "missing argument");
    if (model->kind != LY_CLV_BGNBD && model->kind != LY_CLV_PNBD)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "model.kind", "unknown model");
    if ((model->kind == LY_CLV_BGNBD && !bgParamsOk(&model->bgnbd)) ||
        (model->kind == LY_CLV_PNBD && !pnParamsOk(&model->pnbd)) || !ggParamsOk(spend))
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "model",
                            "model parameters must be finite and > 0");
    if (terms->periods < 1 || terms->periods > 100000)
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "terms.periods",
                            "periods must be 1..100000");
    if (!positive(terms->period_length))
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "terms.period_length",
                            "period_length must be > 0");
    if (!(terms->margin >= 0 && terms->margin <= 1))
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "terms.margin",
                            "margin must be in 0..1");
    if (!(terms->discount_rate >= 0) || !isfinite(terms->discount_rate))
        return ly_error_set(err, LY_EINVAL, "invalid_argument", "terms.discount_rate",
                            "discount_rate must be >= 0");
    ly_err rc = ly_clv_customer_check(c, 0, err);
    if (rc != LY_OK)
        return rc;
    if (c->x > 0 && !positive(c->zbar))
        return ly_error_set(err, LY_EINVAL, "invalid_customer", "customers[0].zbar",
                            "zbar must be > 0 when x > 0");
    double z = ly_gg_expected_spend(spend, c->x, c->zbar);
    if (!isfinite(z))
        return ly_error_set(err, LY_EUNPROCESSABLE, "not_computable", "zbar",
                            "the spend model gives no finite expected spend for this customer");
    double prev = 0, sum = 0, lnDisc = log1p(terms->discount_rate);
    for (int k = 1; k <= terms->periods; k++) {
        double e = modelExpected(model, k * terms->period_length, c);
        if (!isfinite(e))
            return ly_error_set(err, LY_EUNPROCESSABLE, "not_computable", NULL,
                                "the purchase model gives no finite expectation at period %d", k);
        sum += (e - prev) * exp(-k * lnDisc);
        prev = e;
    }
    out->purchases = prev;
    out->spend = z;
    out->value = terms->margin * z * sum;
    return LY_OK;
}
