/*
 * test_analytics_engine.c - the one-pass analytics on tiny hand-made histories whose
 * answers were worked out by hand: RFM cells and the tie rule, the return curve with its
 * sleep and churn boundaries, the loyalty boundary, add-ons against deals (categories and a
 * job map), the profit identity and returns, the order check, the CSV layouts.
 */
#include "testlib.h"

#include "analytics/analytics.h"
#include "report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

/* A small builder of receipts: each with one line per category given. */
typedef struct hist {
    ly_an_receipt r[64];
    ly_an_line l[64][4];
    char ids[64][16];
    size_t n;
} hist;

/* Adds a sale of customer cust (NULL: anonymous) on day `day` (+ secs), total split over
 * the categories (NULL-terminated list; none: one line of SKU "X"). */
static ly_an_receipt *sale(hist *h, const char *cust, int64_t day, int secs, ly_money total,
                           const char *cat1, const char *cat2)
{
    assert_true(h->n < 64);
    ly_an_receipt *r = &h->r[h->n];
    ly_an_line *l = h->l[h->n];
    snprintf(h->ids[h->n], sizeof h->ids[0], "R%zu", h->n);
    memset(r, 0, sizeof *r);
    r->receipt_id = h->ids[h->n];
    r->customer = cust;
    r->store = "Main";
    r->channel = "store";
    r->time = day * DAY + secs;
    r->total = total;
    r->lines = l;
    const char *cats[2] = {cat1, cat2};
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        if (cats[i]) {
            l[n] = (ly_an_line){.sku = cats[i], .category = cats[i], .qty = 1000, .cost = -1};
            n++;
        }
    if (n == 0) l[n++] = (ly_an_line){.sku = "X", .qty = 1000, .cost = -1};
    for (size_t i = 0; i < n; i++) {
        l[i].amount = total / (ly_money)n + (i == 0 ? total % (ly_money)n : 0);
        l[i].price = l[i].amount;
    }
    r->n_lines = n;
    h->n++;
    return r;
}

static ly_an_result *run(hist *h, const ly_an_options *o)
{
    ly_source src;
    assert_true(ly_an_array_source(h->r, h->n, &src));
    ly_an_result *res = NULL;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_an_run(&src, o, &res, &err);
    src.close(src.ctx);
    if (rc != LY_OK) fail_msg("ly_an_run: %s %s %s", err.code, err.field, err.message);
    return res;
}

static const ly_an_customer *cust(const ly_an_result *r, const char *key)
{
    for (size_t i = 0; i < r->n_customers; i++)
        if (strcmp(r->customers[i].key, key) == 0) return &r->customers[i];
    fail_msg("no customer %s", key);
    return NULL;
}

static void expectScores(const ly_an_customer *c, int r3, int f3, int m3, int r5, int f5, int m5)
{
    assert_int_equal(c->r3, r3);
    assert_int_equal(c->f3, f3);
    assert_int_equal(c->m3, m3);
    assert_int_equal(c->r5, r5);
    assert_int_equal(c->f5, f5);
    assert_int_equal(c->m5, m5);
}

/* Four customers, as-of day 11:
 *   A deals on days 1, 5, 9 of 100 each  -> R 2, F 3, M 100
 *   B one deal on day 2 of 50            -> R 9, F 1, M 50
 *   C deals on days 3, 8 of 300 and 100  -> R 3, F 2, M 200
 *   D one deal on day 10 of 20           -> R 1, F 1, M 20
 * Levels from the share strictly worse (q): level 1 if q < 1/4, 2 if q < 3/4, else 3;
 * quintile 1 + floor(5q). */
static void test_rfm_cells(void **state)
{
    (void)state;
    hist h = {0};
    sale(&h, "A", 1, 0, 100, NULL, NULL);
    sale(&h, "B", 2, 0, 50, NULL, NULL);
    sale(&h, "C", 3, 0, 300, NULL, NULL);
    sale(&h, "A", 5, 0, 100, NULL, NULL);
    sale(&h, "C", 8, 0, 100, NULL, NULL);
    sale(&h, "A", 9, 0, 100, NULL, NULL);
    sale(&h, "D", 10, 0, 20, NULL, NULL);
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    ly_an_result *r = run(&h, &o);
    assert_int_equal(r->as_of_day, 11);
    const ly_an_customer *a = cust(r, "A"), *b = cust(r, "B"), *c = cust(r, "C"), *d = cust(r, "D");
    assert_int_equal(a->r_days, 2);
    assert_int_equal(a->deals, 3);
    assert_true(a->m == 100.0);
    assert_true(c->m == 200.0);
    expectScores(a, 2, 3, 2, 3, 4, 3);
    expectScores(b, 1, 1, 2, 1, 1, 2);
    expectScores(c, 2, 2, 3, 2, 3, 4);
    expectScores(d, 3, 1, 1, 4, 1, 1);
    assert_int_equal(r->rfm.customers, 4);
    assert_int_equal(r->rfm.revenue, 770);
    assert_int_equal(r->rfm.cells[1][2][1].customers, 1); /* R2F3M2: A */
    assert_int_equal(r->rfm.cells[1][2][1].revenue, 300);
    assert_true(fabs(r->rfm.cells[1][1][2].share - 400.0 / 770.0) < 1e-12); /* R2F2M3: C */
    assert_true(r->rfm.core_share == 0.0);
    assert_int_equal(a->segment, LY_SEG_LOYAL);
    assert_int_equal(b->segment, LY_SEG_LOST);
    assert_int_equal(c->segment, LY_SEG_AT_RISK);
    assert_int_equal(d->segment, LY_SEG_PROMISING);
    assert_int_equal(r->rfm.segments[LY_SEG_LOST].customers, 1);
    ly_an_result_free(r);
}

/* Eight customers with F = 1,1,1,1,1,2,2,3 and the same M and R: every F = 1 gets the
 * score of the value's first occurrence (q = 0), F = 2 has 5 of 8 below it, F = 3 has 7. */
static void test_tie_rule(void **state)
{
    (void)state;
    hist h = {0};
    static const char *const names[8] = {"c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"};
    static const int F[8] = {1, 1, 1, 1, 1, 2, 2, 3};
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < F[i]; k++) sale(&h, names[i], 10 - (F[i] - 1 - k) * 3, i, 60, NULL, NULL);
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    ly_an_result *r = run(&h, &o);
    for (int i = 0; i < 8; i++) {
        const ly_an_customer *c = cust(r, names[i]);
        assert_int_equal(c->deals, F[i]);
        assert_int_equal(c->f3, F[i] == 1 ? 1 : F[i] == 2 ? 2 : 3);
        assert_int_equal(c->f5, F[i] == 1 ? 1 : F[i] == 2 ? 4 : 5);
        /* equal R and equal M: one score for all */
        assert_int_equal(c->r3, 1);
        assert_int_equal(c->m5, 1);
    }
    assert_int_equal(r->rfm.f_levels[0].customers, 5);
    assert_int_equal(r->rfm.f_levels[1].customers, 2);
    assert_int_equal(r->rfm.f_levels[2].customers, 1);
    ly_an_result_free(r);
}

/* Gaps: three customers come back after 10 days, one after 30, two never; as-of day 200.
 * Kaplan-Meier: 10 at risk at day 10 with 3 events -> S = 0.7; 7 at risk at day 30 with 1
 * event -> S = 0.6 = S_inf. P(return | absent d) = 0.4 below day 10, 1/7 from 10 to 29. */
static void test_return_curve(void **state)
{
    (void)state;
    hist h = {0};
    const char *ten[3] = {"t1", "t2", "t3"};
    for (int i = 0; i < 3; i++) {
        sale(&h, ten[i], 0, i, 100, NULL, NULL);
        sale(&h, ten[i], 10, i, 100, NULL, NULL);
    }
    sale(&h, "late", 0, 0, 100, NULL, NULL);
    sale(&h, "late", 30, 0, 100, NULL, NULL);
    sale(&h, "once1", 0, 0, 100, NULL, NULL);
    sale(&h, "once2", 0, 0, 100, NULL, NULL);
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    o.as_of_set = true;
    o.as_of_day = 200;
    o.loyalty_min_known = 1;
    ly_an_result *r = run(&h, &o);
    const ly_an_return_curve *c = &r->curve;
    assert_int_equal(c->gaps_closed, 4);
    assert_int_equal(c->gaps_open, 6);
    assert_int_equal(c->tail_day, 30);
    assert_int_equal(c->n, 31);
    assert_int_equal(c->at_risk[0], 10);
    assert_int_equal(c->at_risk[10], 10);
    assert_int_equal(c->at_risk[11], 7);
    assert_int_equal(c->at_risk[30], 7);
    assert_true(fabs(c->survival[9] - 1.0) < 1e-12);
    assert_true(fabs(c->survival[10] - 0.7) < 1e-12);
    assert_true(fabs(c->survival[30] - 0.6) < 1e-12);
    assert_true(fabs(c->s_inf - 0.6) < 1e-12);
    assert_true(fabs(c->p_return[0] - 0.4) < 1e-12);
    assert_true(fabs(c->p_return[15] - 1.0 / 7.0) < 1e-12);
    assert_true(c->p_return[30] == 0);
    assert_int_equal(c->sleep_day, 0);  /* 0.4 < 0.5 */
    assert_int_equal(c->churn_day, 10); /* 1/7 < 0.2 */
    /* status: R is 190 for the ten-day customers, far past both boundaries */
    assert_int_equal(cust(r, "t1")->status, LY_ST_CHURNED);
    /* loyalty: horizon = churn boundary (10 days); everyone stopped long ago, so deal 1 ->
     * 2 converted 4 of 6, deal 2 -> 3 none of 4 */
    assert_int_equal(r->loyalty_horizon_days, 10);
    assert_int_equal(r->dealn[0].reached, 6);
    assert_int_equal(r->dealn[0].converted, 4);
    assert_int_equal(r->dealn[0].lost, 2);
    assert_int_equal(r->dealn[1].converted, 0);
    assert_int_equal(r->dealn[1].lost, 4);
    assert_true(fabs(r->dealn[0].gap_mean - 15.0) < 1e-12);
    assert_true(r->dealn[0].gap_median == 10.0);
    assert_int_equal(r->loyalty_boundary, -1);
    ly_an_result_free(r);

    /* Other levels move the boundaries: p(0) = 0.4 >= 0.3, 1/7 < 0.3; 1/7 >= 0.1, p(30) = 0 */
    o.sleep_level = 0.3;
    o.churn_level = 0.1;
    r = run(&h, &o);
    assert_int_equal(r->curve.sleep_day, 10);
    assert_int_equal(r->curve.churn_day, 30);
    ly_an_result_free(r);
}

/* The loyalty boundary with recent customers left open: 10 customers reach deal 2 and all
 * come back; of 10 with one deal, 5 left long ago (lost) and 5 are recent (not yet known). */
static void test_loyalty_boundary(void **state)
{
    (void)state;
    static hist h;
    memset(&h, 0, sizeof h);
    static char names[30][8];
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], 8, "L%d", i);
        sale(&h, names[i], 0, i, 10, NULL, NULL);
        sale(&h, names[i], 5, i, 10, NULL, NULL);
        sale(&h, names[i], 10, i, 10, NULL, NULL);
    }
    for (int i = 10; i < 20; i++) {
        snprintf(names[i], 8, "S%d", i);
        sale(&h, names[i], i < 15 ? 0 : 97, i, 10, NULL, NULL);
    }
    ly_an_options o;
    ly_an_options_default(&o);
    o.addon_days = -1;
    o.as_of_set = true;
    o.as_of_day = 100;
    o.loyalty_min_known = 5;
    ly_an_result *r = run(&h, &o);
    /* gaps all 5 days: the curve falls to 0 at day 5; churn boundary 5 */
    assert_int_equal(r->curve.churn_day, 5);
    assert_int_equal(r->loyalty_horizon_days, 5);
    const ly_an_dealn *d1 = &r->dealn[0], *d2 = &r->dealn[1], *d3 = &r->dealn[2];
    assert_int_equal(d1->reached, 20);
    assert_int_equal(d1->converted, 10);
    assert_int_equal(d1->lost, 5);
    assert_int_equal(d1->open, 5);
    assert_true(fabs(d1->conversion - 10.0 / 15.0) < 1e-12);
    assert_int_equal(d2->converted, 10);
    assert_true(d2->conversion == 1.0);
    assert_int_equal(d3->lost, 10); /* stopped at 3, absent 90 days */
    /* deal 3's conversion is 0 with 10 known: no n from which conversion stays >= 0.8 */
    assert_int_equal(r->loyalty_boundary, -1);
    ly_an_result_free(r);
}

/* Add-ons: one customer, window 7 days.
 *   day 0 [A] deal; day 0 later [A] immediate add-on; day 3 [A] deferred add-on;
 *   day 3 [B] deal (new job); day 5 [A,B] deferred add-on (both jobs served in window);
 *   day 8 [A] deal (A's deal was 8 days ago); day 9 [A,C] deal (C never served). */
static void test_addons(void **state)
{
    (void)state;
    hist h = {0};
    sale(&h, "K", 0, 100, 1000, "A", NULL);
    sale(&h, "K", 0, 200, 100, "A", NULL);
    sale(&h, "K", 3, 0, 100, "A", NULL);
    sale(&h, "K", 3, 10, 500, "B", NULL);
    sale(&h, "K", 5, 0, 200, "A", "B");
    sale(&h, "K", 8, 0, 700, "A", NULL);
    sale(&h, "K", 9, 0, 900, "A", "C");
    sale(&h, NULL, 9, 0, 50, "A", NULL);
    ly_an_options o;
    ly_an_options_default(&o);
    ly_an_result *r = run(&h, &o);
    const ly_an_customer *k = cust(r, "K");
    assert_int_equal(k->purchases, 7);
    assert_int_equal(k->deals, 4);
    assert_int_equal(k->addons_immediate, 1);
    assert_int_equal(k->addons_deferred, 2);
    assert_int_equal(r->purchases, 7);
    assert_int_equal(r->deals, 4);
    assert_int_equal(r->addon_sales, 400);
    assert_int_equal(r->anonymous_receipts, 1);
    /* F counts deals; M is the revenue per deal (add-ons belong to deals) */
    assert_true(k->m == 3500.0 / 4.0);
    /* gaps between deals: 3, 5, 1 */
    assert_int_equal(r->curve.gaps_closed, 3);
    ly_an_result_free(r);

    /* Without add-on detection every purchase is a deal. */
    o.addon_days = -1;
    r = run(&h, &o);
    assert_int_equal(cust(r, "K")->deals, 7);
    ly_an_result_free(r);

    /* A job map: TV and Cable serve "home cinema", so the cable 2 days later is an add-on. */
    hist g = {0};
    sale(&g, "T", 0, 0, 50000, "TV", NULL);
    sale(&g, "T", 2, 0, 1500, "Cable", NULL);
    sale(&g, "T", 4, 0, 900, "Snacks", NULL);
    ly_an_job jobs[] = {{"TV", "home cinema"}, {"Cable", "home cinema"}};
    ly_an_options_default(&o);
    r = run(&g, &o);
    assert_int_equal(cust(r, "T")->deals, 3); /* categories alone: three jobs */
    ly_an_result_free(r);
    o.jobs = jobs;
    o.n_jobs = 2;
    r = run(&g, &o);
    assert_int_equal(cust(r, "T")->deals, 2);
    assert_int_equal(cust(r, "T")->addons_deferred, 1);
    ly_an_result_free(r);
}

/* Profit formula: two months; returns reduce the revenue of the month they happen in. */
static void test_profit_identity(void **state)
{
    (void)state;
    hist h = {0};
    int64_t jan = ly_days_from_civil(2024, 1, 1), feb = ly_days_from_civil(2024, 2, 1);
    sale(&h, "A", jan + 1, 0, 1000, "X", "Y");
    sale(&h, "B", jan + 2, 0, 3000, "X", NULL);
    sale(&h, "A", jan + 20, 0, 500, "Z", NULL);
    sale(&h, NULL, jan + 3, 0, 800, "X", NULL);
    sale(&h, "A", feb + 5, 0, 2000, "X", NULL);
    sale(&h, "C", feb + 6, 0, 1200, "Y", NULL);
    ly_an_receipt *ret = sale(&h, "B", feb + 7, 0, 400, "X", NULL);
    ret->is_return = true;
    ly_an_options o;
    ly_an_options_default(&o);
    ly_an_result *r = run(&h, &o);
    assert_int_equal(r->n_periods, 2);
    const ly_an_stats *p0 = &r->periods[0], *p1 = &r->periods[1];
    assert_string_equal(p0->label, "2024-01");
    assert_int_equal(p0->customers, 2);
    assert_int_equal(p0->new_customers, 2);
    assert_int_equal(p0->deals, 3);
    assert_int_equal(p0->revenue, 4500);
    assert_int_equal(p0->receipts, 4);
    assert_int_equal(p0->receipts_identified, 3);
    assert_true(fabs(p0->identified_share - 0.75) < 1e-12);
    assert_int_equal(p1->customers, 2);
    assert_int_equal(p1->new_customers, 1);
    assert_int_equal(p1->returning_customers, 1);
    assert_int_equal(p1->revenue, 2000 + 1200 - 400);
    assert_int_equal(p1->returned, 400);
    for (size_t i = 0; i < r->n_periods; i++) {
        const ly_an_stats *p = &r->periods[i];
        assert_true(fabs(p->customers * p->qs * p->p - (double)p->revenue) < 1e-6);
        assert_true(fabs(p->pu * p->d - p->p) < 1e-6);
    }
    /* D: units per deal, net of returns: January 4 units over 3 deals */
    assert_true(fabs(p0->d - 4.0 / 3.0) < 1e-12);
    /* lever shares explain the whole change */
    double sum = p1->share_cl + p1->share_qs + p1->share_pu + p1->share_d;
    assert_true(fabs(sum - 1.0) < 1e-9);
    assert_true(fabs(p1->ratio_revenue - 2800.0 / 4500.0) < 1e-12);
    assert_int_equal(r->total.revenue, 4500 + 2800);
    /* the customer's revenue is net of their return */
    assert_int_equal(cust(r, "B")->revenue, 2600);
    ly_an_result_free(r);
}

/* One customer's receipts going back in time are refused, naming the line. */
static void test_unsorted(void **state)
{
    (void)state;
    hist h = {0};
    sale(&h, "A", 5, 0, 100, NULL, NULL);
    ly_an_receipt *r2 = sale(&h, "A", 3, 0, 100, NULL, NULL);
    r2->line = 42;
    ly_source src;
    assert_true(ly_an_array_source(h.r, h.n, &src));
    ly_an_options o;
    ly_an_options_default(&o);
    ly_an_result *res = NULL;
    ly_error err;
    assert_int_equal(ly_an_run(&src, &o, &res, &err), LY_EINVAL);
    src.close(src.ctx);
    assert_null(res);
    assert_string_equal(err.code, "unsorted_input");
    assert_string_equal(err.field, "line 42");

    /* The sorting wrapper puts them in order. */
    assert_true(ly_an_array_source(h.r, h.n, &src));
    ly_source sorted;
    assert_int_equal(ly_an_sorted_source(&src, &sorted, &err), LY_OK);
    assert_int_equal(ly_an_run(&sorted, &o, &res, &err), LY_OK);
    sorted.close(sorted.ctx);
    assert_int_equal(cust(res, "A")->deals, 1); /* day 5 is an add-on of day 3: same job */
    ly_an_result_free(res);
}

/* The CSV layouts: loyal (with returns and costs), online_retail, cdnow. */
static ly_an_result *runCsv(const char *text, ly_an_layout layout, ly_error *err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "rb");
    assert_non_null(f);
    ly_an_csv_options co = {.layout = layout, .delimiter = ',', .minor_units = 2};
    ly_source src;
    ly_an_result *res = NULL;
    if (ly_an_csv_source_open(f, "t.csv", 0, &co, &src, err) == LY_OK) {
        ly_an_options o;
        ly_an_options_default(&o);
        ly_an_run(&src, &o, &res, err);
        src.close(src.ctx);
    }
    fclose(f);
    return res;
}

static void test_csv_layouts(void **state)
{
    (void)state;
    ly_error err;
    ly_an_result *r = runCsv(
        "receipt_id,time,store,customer_card,sku,category,qty,price,cost,return_of\n"
        "R1,2024-03-01 10:00:00,Main,C100,MILK,dairy,2,1.20,1.50,\n"
        "R1,2024-03-01 10:00:00,Main,C100,BREAD,bakery,1,2.50,,\n"
        "R2,2024-03-20T09:00:00+03:00,Main,C100,MILK,dairy,1,1.25,,\n"
        "RET1,2024-03-21 12:00:00,Main,C100,MILK,dairy,1,1.20,,R1\n"
        "R3,2024-04-02,North,,TEA,drinks,1,3.999,,\n",
        LY_AN_LAYOUT_LOYAL, &err);
    if (!r) fail_msg("%s %s %s", err.code, err.field, err.message);
    assert_int_equal(r->receipts, 3);
    assert_int_equal(r->returns, 1);
    assert_int_equal(r->anonymous_receipts, 1);
    assert_int_equal(r->n_customers, 1);
    const ly_an_customer *c = cust(r, "C100");
    assert_int_equal(c->deals, 2); /* R2 is 19 days later */
    assert_int_equal(c->sales, 240 + 250 + 125);
    assert_int_equal(c->revenue, 615 - 120);
    assert_true(r->knows_costs);
    assert_int_equal(r->periods[0].margin, 240 - 150);
    assert_int_equal(r->periods[1].sales, 400); /* 3.999 rounded half up */
    ly_an_result_free(r);

    r = runCsv("Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
               "1,A,x,2,2010-01-01 10:00:00,1.50,12.0,UK\n"
               "1,B,y,1,2010-01-01 10:00:00,4.00,12.0,UK\n"
               "2,A,x,-1,2010-01-02 10:00:00,1.50,13.0,UK\n"
               "C3,A,x,-1,2010-01-03 10:00:00,1.50,12.0,UK\n"
               "1,A,x,2,2010-01-01 10:00:00,1.50,12.0,UK\n"
               "1,B,y,1,2010-01-01 10:00:00,4.00,12.0,UK\n",
               LY_AN_LAYOUT_ONLINE_RETAIL, &err);
    if (!r) fail_msg("%s %s %s", err.code, err.field, err.message);
    assert_int_equal(r->receipts, 1); /* invoice 2 has only an adjustment; the repeat of 1 is dropped */
    assert_int_equal(r->returns, 1);
    c = cust(r, "12");
    assert_int_equal(c->sales, 700);
    assert_int_equal(c->revenue, 550);
    assert_string_equal(r->channels[0].name, "online");
    ly_an_result_free(r);

    r = runCsv("customer_id date number_of_cds dollar_value\r\n"
               " 00001 19970101  1  11.77\r\n"
               " 00002 19970112  1  12.00\r\n"
               " 00002 19970112  5  77.00\r\n"
               " 00002 19970302  1  20.76\r\n",
               LY_AN_LAYOUT_CDNOW, &err);
    if (!r) fail_msg("%s %s %s", err.code, err.field, err.message);
    assert_int_equal(r->receipts, 4);
    c = cust(r, "00002");
    assert_int_equal(c->purchases, 3);
    assert_int_equal(c->deals, 2); /* the second receipt of 1997-01-12 is an add-on */
    assert_int_equal(c->sales, 1200 + 7700 + 2076);
    assert_int_equal(r->as_of_day, ly_days_from_civil(1997, 3, 3));
    ly_an_result_free(r);

    /* a bad value names its line */
    r = runCsv("receipt_id,time,store,customer_card,sku,qty,price\n"
               "R1,2024-03-01,Main,C1,A,one,1.00\n",
               LY_AN_LAYOUT_LOYAL, &err);
    assert_null(r);
    assert_string_equal(err.code, "bad_value");
    assert_string_equal(err.field, "line 2");
    r = runCsv("receipt_id,time,sku\nR1,2024-03-01,A\n", LY_AN_LAYOUT_LOYAL, &err);
    assert_null(r);
    assert_string_equal(err.code, "missing_column");
}

/* The JSON document has every section, with placeholders for CLV and co-purchases. */
static void test_json_sections(void **state)
{
    (void)state;
    hist h = {0};
    sale(&h, "A", 1, 0, 100, "X", NULL);
    sale(&h, "A", 30, 0, 100, "X", NULL);
    sale(&h, "B", 2, 0, 50, "Y", NULL);
    ly_an_options o;
    ly_an_options_default(&o);
    ly_an_result *r = run(&h, &o);
    json_t *doc = ly_report_json(r, 2);
    assert_non_null(doc);
    static const char *const keys[] = {"input", "rfm", "return_curve", "loyalty", "addons",
                                       "cohorts", "structure", "profit", "clv", "copurchases"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_non_null(json_object_get(doc, keys[i]));
    assert_true(json_is_null(json_object_get(doc, "clv")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "rfm"), "cells")), 27);
    assert_int_equal(tl_json_int(doc, "rfm.customers"), 2);
    char *a = json_dumps(doc, JSON_PRESERVE_ORDER), *b = NULL;
    json_decref(doc);
    doc = ly_report_json(r, 2);
    b = json_dumps(doc, JSON_PRESERVE_ORDER);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(doc);
    ly_an_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfm_cells),        cmocka_unit_test(test_tie_rule),
        cmocka_unit_test(test_return_curve),     cmocka_unit_test(test_loyalty_boundary),
        cmocka_unit_test(test_addons),           cmocka_unit_test(test_profit_identity),
        cmocka_unit_test(test_unsorted),         cmocka_unit_test(test_csv_layouts),
        cmocka_unit_test(test_json_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
