/*
 * bench_clv.c - times the CLV model fits (BG/NBD, Pareto/NBD, Gamma-Gamma) on a customer
 * summary CSV (ID,x,t_x,T,zbar; the CDNOW sample by default) and prints, for each model, the
 * median wall time of several fits with the fitted parameters and log-likelihood.
 *
 * usage: bench_clv [summary.csv] [runs]   (runs defaults to 15)
 */
#include "analytics/clv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clockMs(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmpD(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads ID,x,t_x,T,zbar rows after a header line; returns a malloc'd array. */
static ly_clv_customer *readSummary(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return NULL;
    }
    size_t cap = 4096, k = 0;
    ly_clv_customer *cs = malloc(cap * sizeof *cs);
    char line[512];
    if (!cs || !fgets(line, sizeof line, f)) {
        fclose(f);
        free(cs);
        return NULL;
    }
    while (fgets(line, sizeof line, f)) {
        long id;
        ly_clv_customer c;
        if (sscanf(line, "%ld,%lf,%lf,%lf,%lf", &id, &c.x, &c.t_x, &c.T, &c.zbar) != 5)
            continue;
        if (k == cap) {
            cap *= 2;
            ly_clv_customer *p = realloc(cs, cap * sizeof *cs);
            if (!p) {
                free(cs);
                fclose(f);
                return NULL;
            }
            cs = p;
        }
        cs[k++] = c;
    }
    fclose(f);
    *n = k;
    return cs;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NULL;
    char def[1024];
    if (!path) {
        const char *dir = getenv("LOYAL_SHARED_DATA");
        snprintf(def, sizeof def, "%s/cdnow_customers_summary_with_transactions.csv",
                 dir ? dir : "../shared/data");
        path = def;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 15;
    if (runs < 1 || runs > 1000)
        runs = 15;
    size_t n = 0;
    ly_clv_customer *cs = readSummary(path, &n);
    if (!cs || n == 0) {
        fprintf(stderr, "bench_clv: cannot read %s\n", path);
        return 1;
    }
    printf("customers: %zu (%s), runs per model: %d\n", n, path, runs);
    double *ms = malloc((size_t)runs * sizeof *ms), *cpu = malloc((size_t)runs * sizeof *cpu);
    if (!ms || !cpu)
        return 1;
    ly_error err;
    ly_bgnbd bg;
    ly_pnbd pn;
    ly_gg gg;
    double bgMedian = 0;
    for (int model = 0; model < 3; model++) {
        for (int i = 0; i < runs; i++) {
            double t0 = clockMs(CLOCK_MONOTONIC), c0 = clockMs(CLOCK_PROCESS_CPUTIME_ID);
            ly_err rc = model == 0   ? ly_bgnbd_fit(cs, n, &bg, &err)
                        : model == 1 ? ly_pnbd_fit(cs, n, &pn, &err)
                                     : ly_gg_fit(cs, n, &gg, &err);
            ms[i] = clockMs(CLOCK_MONOTONIC) - t0;
            cpu[i] = clockMs(CLOCK_PROCESS_CPUTIME_ID) - c0;
            if (rc != LY_OK) {
                fprintf(stderr, "fit failed: %s: %s\n", err.code, err.message);
                return 1;
            }
        }
        qsort(ms, (size_t)runs, sizeof *ms, cmpD);
        qsort(cpu, (size_t)runs, sizeof *cpu, cmpD);
        double med = ms[runs / 2];
        printf("%-11s fit: median %8.3f ms wall, %8.3f ms cpu (wall min %.3f, max %.3f)\n",
               model == 0 ? "BG/NBD" : model == 1 ? "Pareto/NBD" : "Gamma-Gamma", med,
               cpu[runs / 2], ms[0], ms[runs - 1]);
        if (model == 0) {
            bgMedian = med;
            printf("  r=%.6f alpha=%.6f a=%.6f b=%.6f LL=%.4f evals=%d\n", bg.r, bg.alpha,
                   bg.a, bg.b, bg.fit.loglik, bg.fit.evaluations);
        } else if (model == 1) {
            printf("  r=%.6f alpha=%.6f s=%.6f beta=%.6f LL=%.4f evals=%d\n", pn.r, pn.alpha,
                   pn.s, pn.beta, pn.fit.loglik, pn.fit.evaluations);
        } else {
            printf("  p=%.6f q=%.6f gamma=%.6f mean=%.4f LL=%.4f n=%zu evals=%d\n", gg.p, gg.q,
                   gg.gamma, ly_gg_population_mean(&gg), gg.fit.loglik, gg.fit.n,
                   gg.fit.evaluations);
        }
    }
    ly_bgnbd pub = {.r = 0.243, .alpha = 4.414, .a = 0.793, .b = 2.426};
    printf("BG/NBD at published parameters: LL=%.4f  E[Y(39)|2,30.43,38.86]=%.6f\n",
           ly_bgnbd_loglik(&pub, cs, n), ly_bgnbd_expected(&pub, 39, 2, 30.43, 38.86));
    printf("BG/NBD standard errors: r %.4f alpha %.4f a %.4f b %.4f\n", bg.fit.se[0],
           bg.fit.se[1], bg.fit.se[2], bg.fit.se[3]);
    printf("target: BG/NBD fit under 10 ms: %s (median %.3f ms)\n",
           bgMedian < 10.0 ? "met" : "NOT met", bgMedian);
    free(ms);
    free(cpu);
    free(cs);
    return 0;
}
