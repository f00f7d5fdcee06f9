/*
 * bench_assoc.c - timings of the co-purchase miner (src/analytics/assoc.c) on the Groceries
 * baskets: loading into the builder, and mining at the published settings and below, with
 * the counts found, the builder's memory and the mining's peak memory. Figures, not a test.
 *
 * usage: bench_assoc [FILE] [--scale K] [--repeat R]
 *   FILE     one basket a line, items comma-separated (default
 *            $LOYAL_SHARED_DATA/groceries_baskets.csv, else ../shared/data/...)
 *   --scale  add every basket K times (a K-times larger store with the same supports)
 *   --repeat runs per setting; the median time is printed (default 5)
 */
#include "analytics/assoc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmpDouble(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long scale = 1, repeat = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            scale = atol(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
            repeat = atol(argv[++i]);
        else if (argv[i][0] != '-')
            path = argv[i];
        else {
            fprintf(stderr, "usage: %s [FILE] [--scale K] [--repeat R]\n", argv[0]);
            return 2;
        }
    }
    if (scale < 1 || repeat < 1 || repeat > 101) {
        fprintf(stderr, "--scale must be >= 1, --repeat in 1..101\n");
        return 2;
    }
    char def[4096];
    if (!path) {
        const char *dir = getenv("LOYAL_SHARED_DATA");
        snprintf(def, sizeof def, "%s/groceries_baskets.csv", dir ? dir : "../shared/data");
        path = def;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    /* Read the file once, then add its baskets scale times. */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap)
            text = realloc(text, cap *= 2);
    }
    fclose(f);
    if (!text) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }

    double t0 = now();
    ly_assoc *a = ly_assoc_new();
    size_t occurrences = 0;
    for (long k = 0; k < scale && a; k++) {
        size_t start = 0;
        while (start < len) {
            size_t end = start;
            while (end < len && text[end] != '\n')
                end++;
            const char *items[512];
            size_t lens[512], n = 0, s = start;
            for (size_t i = start; i <= end && n < 512; i++) {
                if (i == end || text[i] == ',' || text[i] == '\r') {
                    if (i > s) {
                        items[n] = text + s;
                        lens[n++] = i - s;
                    }
                    s = i + 1;
                }
            }
            ly_error e;
            if (ly_assoc_add(a, items, lens, n, &e) != LY_OK) {
                fprintf(stderr, "add: %s\n", e.message);
                return 1;
            }
            occurrences += n;
            start = end + 1;
        }
    }
    double t_load = now() - t0;
    if (!a)
        return 1;
    size_t nb = ly_assoc_basket_count(a);
    size_t ids = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t n;
        ly_assoc_basket(a, b, &n);
        ids += n;
    }
    printf("file %s x%ld: %zu baskets, %zu distinct items, %zu item occurrences (%zu after "
           "de-duplication)\n", path, scale, nb, ly_assoc_item_count(a), occurrences, ids);
    printf("load: %.1f ms; builder memory %zu bytes (%.2f bytes per stored id, arrays at "
           "capacity)\n\n", t_load * 1e3, ly_assoc_memory(a),
           (double)ly_assoc_memory(a) / (double)(ids ? ids : 1));

    static const struct {
        double supp, conf;
        unsigned min_len;
    } runs[] = {
        {0.006, 0.25, 2}, {0.001, 0.5, 1}, {0.0005, 0.5, 1}, {0.00025, 0.5, 1},
    };
    printf("%-9s %-6s %-6s %10s %10s %10s %10s %12s\n", "support", "conf", "minlen", "itemsets",
           "rules", "combos", "median_ms", "peak_bytes");
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        ly_assoc_opts o;
        ly_assoc_opts_default(&o);
        o.min_support = runs[r].supp;
        o.min_confidence = runs[r].conf;
        o.min_len = runs[r].min_len;
        o.max_len = 0;
        double times[101];
        ly_assoc_result *res = NULL;
        for (long i = 0; i < repeat; i++) {
            ly_assoc_result_free(res);
            ly_error e;
            double t = now();
            if (ly_assoc_mine(a, &o, &res, &e) != LY_OK) {
                fprintf(stderr, "mine: %s\n", e.message);
                return 1;
            }
            times[i] = now() - t;
        }
        qsort(times, (size_t)repeat, sizeof(double), cmpDouble);
        printf("%-9g %-6g %-6u %10zu %10zu %10zu %10.1f %12zu\n", runs[r].supp, runs[r].conf,
               runs[r].min_len, res->n_itemsets, res->n_rules_total, res->n_combos_total,
               times[repeat / 2] * 1e3, res->memory);
        ly_assoc_result_free(res);
    }
    ly_assoc_free(a);
    free(text);
    return 0;
}
