/*
 * test_analytics_speedsafe.c - the fast paths of the analysis give the answers of the plain
 * definitions: the CSV reader's eight-bytes-at-a-time scan against records generated with
 * known fields (every field length, quotes, line ends, three delimiters, across the reader's
 * blocks); the CSV source's reader thread stopped early; the engine's per-customer bit sets
 * of stores, cashiers and channels (ids 64 and up go to the pair maps) and its
 * last-customer cache on interleaved customers; the radix-sorted RFM ranks against a
 * quadratic count of "strictly worse" with ties and negative M.
 */
#include "testlib.h"

#include "analytics/analytics.h"
#include "os/csv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---------------------------------------------------------------------------------------
 * The CSV reader
 * ------------------------------------------------------------------------------------- */

#define NREC 3000
#define NFLD 7

static void csvAgainstGenerated(char delim, uint64_t seed)
{
    static char want[NREC][NFLD][48];
    static long want_line[NREC];
    size_t cap = (size_t)NREC * NFLD * 110 + 64, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    long line = 1;
    const char plain[] = "abcxyz019 .-_\"";
    for (int r = 0; r < NREC; r++) {
        want_line[r] = line;
        long lines_in = 0;
        for (int f = 0; f < NFLD; f++) {
            size_t len = (size_t)(rnd(&seed) % 40);
            bool quoted = rnd(&seed) % 5 == 0;
            char *w = want[r][f];
            size_t k = 0;
            if (quoted) {
                text[n++] = '"';
                for (size_t i = 0; i < len; i++) {
                    int pick = (int)(rnd(&seed) % 12);
                    if (pick == 0) {
                        text[n++] = '"';
                        text[n++] = '"';
                        w[k++] = '"';
                    } else if (pick == 1) {
                        text[n++] = delim;
                        w[k++] = delim;
                    } else if (pick == 2 && k + 2 < 47) {
                        text[n++] = '\r';
                        text[n++] = '\n';
                        w[k++] = '\r';
                        w[k++] = '\n';
                        lines_in++;
                    } else {
                        char c = plain[rnd(&seed) % 13];
                        text[n++] = c;
                        w[k++] = c;
                    }
                    if (k >= 45) break;
                }
                text[n++] = '"';
            } else {
                for (size_t i = 0; i < len; i++) {
                    /* a quote inside an unquoted field is kept; never first */
                    char c = plain[rnd(&seed) % (i ? 14 : 13)];
                    text[n++] = c;
                    w[k++] = c;
                }
            }
            w[k] = '\0';
            if (f + 1 < NFLD) text[n++] = delim;
        }
        /* the record must not be one empty field: an empty line is skipped */
        if (rnd(&seed) % 2) {
            text[n++] = '\r';
            text[n++] = '\n';
        } else {
            text[n++] = '\n';
        }
        line += 1 + lines_in;
        if (r % 97 == 0) { /* empty lines between records are skipped */
            text[n++] = '\n';
            line++;
        }
        assert_true(n + 400 < cap);
    }
    FILE *fp = fmemopen(text, n, "rb");
    assert_non_null(fp);
    ly_csv *c = ly_csv_open(fp, delim);
    assert_non_null(c);
    for (int r = 0; r < NREC; r++) {
        int rc = ly_csv_next(c);
        if (rc != 1) fail_msg("record %d: rc %d: %s", r, rc, ly_csv_error(c));
        assert_int_equal(ly_csv_nfields(c), NFLD);
        assert_int_equal(ly_csv_line(c), want_line[r]);
        for (int f = 0; f < NFLD; f++)
            if (strcmp(ly_csv_field(c, (size_t)f), want[r][f]) != 0)
                fail_msg("record %d field %d: got '%s', want '%s'", r, f, ly_csv_field(c, (size_t)f),
                         want[r][f]);
    }
    assert_int_equal(ly_csv_next(c), 0);
    ly_csv_close(c);
    fclose(fp);
    free(text);
}

static void test_csv_scan(void **state)
{
    (void)state;
    csvAgainstGenerated(',', 0x9e3779b97f4a7c15ULL);
    csvAgainstGenerated(';', 12345);
    csvAgainstGenerated('\t', 777);
}

/* A NUL at every offset of an 8-byte word is still refused. */
static void test_csv_nul_anywhere(void **state)
{
    (void)state;
    for (int at = 0; at < 20; at++) {
        char text[64];
        memset(text, 'a', sizeof text);
        memcpy(text + 40, "\n", 1);
        text[at] = '\0';
        FILE *fp = fmemopen(text, 41, "rb");
        ly_csv *c = ly_csv_open(fp, ',');
        assert_int_equal(ly_csv_next(c), -1);
        assert_non_null(strstr(ly_csv_error(c), "NUL byte"));
        ly_csv_close(c);
        fclose(fp);
    }
}

/* ---------------------------------------------------------------------------------------
 * The CSV source: closing it before the end stops its reader thread
 * ------------------------------------------------------------------------------------- */

static void test_source_closed_early(void **state)
{
    (void)state;
    size_t cap = 8u << 20, n = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    n += (size_t)snprintf(text, cap, "receipt_id,time,customer,sku,qty,price\n");
    for (int i = 0; n + 100 < cap; i++)
        n += (size_t)snprintf(text + n, cap - n, "R%d,2024-01-%02d,C%d,S%d,1,1.00\n", i / 3,
                              1 + (i / 3) % 28, (i / 3) % 500, i % 7);
    for (int stop_after = 0; stop_after < 3000; stop_after += 1499) {
        FILE *fp = fmemopen(text, n, "rb");
        ly_an_csv_options o = {.layout = LY_AN_LAYOUT_LOYAL, .delimiter = ',', .minor_units = 2};
        ly_source src;
        ly_error err;
        assert_int_equal(ly_an_csv_source_open(fp, "t.csv", n, &o, &src, &err), LY_OK);
        ly_an_receipt r;
        for (int k = 0; k < stop_after; k++) {
            assert_int_equal(src.next(src.ctx, &r, &err), 1);
            assert_int_equal(r.n_lines, 3);
            char want[16];
            snprintf(want, sizeof want, "R%d", k);
            assert_string_equal(r.receipt_id, want);
        }
        src.close(src.ctx);
        fclose(fp);
    }
    free(text);
}

/* ---------------------------------------------------------------------------------------
 * The engine
 * ------------------------------------------------------------------------------------- */

static ly_an_result *runArray(ly_an_receipt *v, size_t n, const ly_an_options *o)
{
    ly_source src;
    assert_true(ly_an_array_source(v, n, &src));
    ly_an_result *res = NULL;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_an_run(&src, o, &res, &err);
    src.close(src.ctx);
    if (rc != LY_OK) fail_msg("ly_an_run: %s %s %s", err.code, err.field, err.message);
    return res;
}

static const ly_an_stats *named(const ly_an_stats *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) return &v[i];
    fail_msg("no group %s", name);
    return NULL;
}

/* Customers A and B, interleaved, each visit 80 stores (and 80 cashiers, 80 channels) twice:
 * every group has exactly 2 customers, whether its id is below 64 or not. */
static void test_groups_past_64(void **state)
{
    (void)state;
    enum { G = 80, N = 4 * G };
    static ly_an_receipt v[N];
    static ly_an_line l[N];
    static char names[G][3][16], ids[N][16];
    for (int g = 0; g < G; g++) {
        snprintf(names[g][0], 16, "S%02d", g);
        snprintf(names[g][1], 16, "K%02d", g);
        snprintf(names[g][2], 16, "H%02d", g);
    }
    for (int i = 0; i < N; i++) {
        int g = (i / 2) % G, visit = i / (2 * G);
        snprintf(ids[i], sizeof ids[i], "R%d", i);
        l[i] = (ly_an_line){.sku = "X", .qty = 1000, .price = 100, .amount = 100, .cost = -1};
        v[i] = (ly_an_receipt){.receipt_id = ids[i], .customer = i % 2 ? "B" : "A",
                               .store = names[g][0], .cashier = names[g][1],
                               .channel = names[g][2], .time = (int64_t)(i / 2) * DAY,
                               .total = 100, .lines = &l[i], .n_lines = 1};
        (void)visit;
    }
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    ly_an_result *r = runArray(v, N, &o);
    assert_int_equal(r->n_customers, 2);
    assert_int_equal(r->customers[0].purchases, 2 * G);
    assert_int_equal(r->customers[1].purchases, 2 * G);
    assert_int_equal(r->n_stores, G);
    assert_int_equal(r->n_cashiers, G);
    assert_int_equal(r->n_channels, G);
    for (int g = 0; g < G; g++) {
        const ly_an_stats *st[3] = {named(r->stores, r->n_stores, names[g][0]),
                                    named(r->cashiers, r->n_cashiers, names[g][1]),
                                    named(r->channels, r->n_channels, names[g][2])};
        for (int k = 0; k < 3; k++) {
            assert_int_equal(st[k]->customers, 2);
            assert_int_equal(st[k]->purchases, 4);
            assert_int_equal(st[k]->new_customers, g == 0 ? 2 : 0);
            assert_int_equal(st[k]->returning_customers, g == 0 ? 0 : 2);
        }
    }
    ly_an_result_free(r);
}

/* Levels and quintiles of every customer against w counted pair by pair. */
static void test_rfm_ranks(void **state)
{
    (void)state;
    enum { C = 400, MAXR = 6 };
    static ly_an_receipt v[C * MAXR];
    static ly_an_line l[C * MAXR];
    static char keys[C][12], ids[C * MAXR][16];
    uint64_t seed = 42;
    size_t n = 0;
    for (int c = 0; c < C; c++) {
        snprintf(keys[c], sizeof keys[c], "c%d", c);
        int k = 1 + (int)(rnd(&seed) % 4);
        int64_t day = (int64_t)(rnd(&seed) % 30);
        for (int j = 0; j < k; j++) {
            bool ret = j > 0 && rnd(&seed) % 5 == 0;
            ly_money amount = (ly_money)(rnd(&seed) % 6) * 500; /* few values: ties */
            if (ret) amount = 4000;                            /* a big return: M < 0 */
            snprintf(ids[n], sizeof ids[n], "R%zu", n);
            l[n] = (ly_an_line){.sku = "X", .qty = 1000, .price = amount, .amount = amount, .cost = -1};
            v[n] = (ly_an_receipt){.receipt_id = ids[n], .customer = keys[c], .is_return = ret,
                                   .time = day * DAY, .total = amount, .lines = &l[n],
                                   .n_lines = 1};
            n++;
            day += 1 + (int64_t)(rnd(&seed) % 20);
        }
    }
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    o.as_of_set = true;
    o.as_of_day = 200;
    ly_an_result *r = runArray(v, n, &o);
    uint64_t N = 0;
    for (size_t i = 0; i < r->n_customers; i++) N += r->customers[i].deals > 0;
    assert_int_equal(r->rfm.customers, (int64_t)N);
    bool negative = false;
    for (size_t i = 0; i < r->n_customers; i++) {
        const ly_an_customer *a = &r->customers[i];
        if (a->deals == 0) continue;
        if (a->m < 0) negative = true;
        uint64_t w[3] = {0, 0, 0};
        for (size_t j = 0; j < r->n_customers; j++) {
            const ly_an_customer *b = &r->customers[j];
            if (b->deals == 0) continue;
            w[0] += b->r_days > a->r_days;
            w[1] += b->deals < a->deals;
            w[2] += b->m < a->m;
        }
        uint8_t got3[3] = {a->r3, a->f3, a->m3}, got5[3] = {a->r5, a->f5, a->m5};
        for (int x = 0; x < 3; x++) {
            uint8_t l3 = 4 * w[x] < N ? 1 : 4 * w[x] < 3 * N ? 2 : 3;
            uint8_t l5 = (uint8_t)(1 + 5 * w[x] / N);
            if (got3[x] != l3 || got5[x] != l5)
                fail_msg("customer %s axis %d: got %u/%u, want %u/%u (w %llu of %llu)", a->key, x,
                         got3[x], got5[x], l3, l5, (unsigned long long)w[x], (unsigned long long)N);
        }
    }
    assert_true(negative);
    ly_an_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_scan),
        cmocka_unit_test(test_csv_nul_anywhere),
        cmocka_unit_test(test_source_closed_early),
        cmocka_unit_test(test_groups_past_64),
        cmocka_unit_test(test_rfm_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
