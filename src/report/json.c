/*
 * json.c - the analysis result (analytics.h) as one JSON document, and the per-customer CSV
 * (report.h). The field names and their meaning are in docs/analytics.md.
 */
#include "report/report.h"

#include <math.h>
#include <string.h>

/* jansson calls return -1 only when out of memory; one flag collects them. */
typedef struct jb {
    bool ok;
} jb;

static void put(jb *b, json_t *o, const char *k, json_t *v)
{
    if (!v || json_object_set_new(o, k, v) != 0) b->ok = false;
}

static void add(jb *b, json_t *a, json_t *v)
{
    if (!v || json_array_append_new(a, v) != 0) b->ok = false;
}

static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *dayText(int64_t day)
{
    if (day < 0) return json_null();
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    return json_string(buf);
}

static json_t *optInt(int64_t v)
{
    return v >= 0 ? json_integer(v) : json_null();
}

static json_t *levelRanges(jb *b, const ly_an_level_range *v, int n)
{
    json_t *a = json_array();
    if (!a) {
        b->ok = false;
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        if (!o) {
            b->ok = false;
            continue;
        }
        put(b, o, "score", json_integer(i + 1));
        put(b, o, "customers", json_integer(v[i].customers));
        put(b, o, "min", v[i].customers ? json_real(v[i].lo) : json_null());
        put(b, o, "max", v[i].customers ? json_real(v[i].hi) : json_null());
        add(b, a, o);
    }
    return a;
}

static json_t *rfmJson(jb *b, const ly_an_rfm *q)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(b, o, "customers", json_integer(q->customers));
    put(b, o, "revenue", json_integer(q->revenue));
    put(b, o, "core_cell", json_string("R3F3M3"));
    put(b, o, "core_share", json_real(q->core_share));
    json_t *lv = json_object();
    put(b, o, "levels", lv);
    if (lv) {
        put(b, lv, "r", levelRanges(b, q->r_levels, 3));
        put(b, lv, "f", levelRanges(b, q->f_levels, 3));
        put(b, lv, "m", levelRanges(b, q->m_levels, 3));
    }
    json_t *cells = json_array();
    put(b, o, "cells", cells);
    for (int r = 3; cells && r >= 1; r--)
        for (int f = 3; f >= 1; f--)
            for (int m = 3; m >= 1; m--) {
                const ly_an_cell *c = &q->cells[r - 1][f - 1][m - 1];
                json_t *e = json_object();
                if (!e) {
                    b->ok = false;
                    continue;
                }
                char name[8];
                snprintf(name, sizeof name, "R%dF%dM%d", r, f, m);
                put(b, e, "cell", json_string(name));
                put(b, e, "r", json_integer(r));
                put(b, e, "f", json_integer(f));
                put(b, e, "m", json_integer(m));
                put(b, e, "customers", json_integer(c->customers));
                put(b, e, "revenue", json_integer(c->revenue));
                put(b, e, "share", json_real(c->share));
                add(b, cells, e);
            }
    json_t *sc = json_object();
    put(b, o, "quintiles", sc);
    if (sc) {
        put(b, sc, "r", levelRanges(b, q->r_scores, 5));
        put(b, sc, "f", levelRanges(b, q->f_scores, 5));
        put(b, sc, "m", levelRanges(b, q->m_scores, 5));
        json_t *grid = json_array();
        put(b, sc, "rf_grid", grid);
        for (int r = 0; grid && r < 5; r++) {
            json_t *row = json_array();
            for (int f = 0; row && f < 5; f++) add(b, row, json_integer(q->rf_grid[r][f]));
            add(b, grid, row);
        }
    }
    json_t *segs = json_array();
    put(b, o, "segments", segs);
    for (int s = 0; segs && s < LY_SEG_COUNT; s++) {
        json_t *e = json_object();
        if (!e) {
            b->ok = false;
            continue;
        }
        put(b, e, "segment", json_string(ly_an_segment_name((ly_an_segment)s)));
        put(b, e, "customers", json_integer(q->segments[s].customers));
        put(b, e, "revenue", json_integer(q->segments[s].revenue));
        put(b, e, "share", json_real(q->segments[s].share));
        add(b, segs, e);
    }
    return o;
}

static json_t *curveJson(jb *b, const ly_an_return_curve *c)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(b, o, "gaps_closed", json_integer(c->gaps_closed));
    put(b, o, "gaps_open", json_integer(c->gaps_open));
    put(b, o, "tail_day", optInt(c->tail_day));
    put(b, o, "never_return_share", c->tail_day >= 0 ? json_real(c->s_inf) : json_null());
    put(b, o, "sleep_level", json_real(c->sleep_level));
    put(b, o, "churn_level", json_real(c->churn_level));
    put(b, o, "sleep_boundary_days", optInt(c->sleep_day));
    put(b, o, "churn_boundary_days", optInt(c->churn_day));
    json_t *days = json_array(), *risk = json_array(), *ev = json_array(), *ce = json_array(),
           *sv = json_array(), *pr = json_array();
    json_t *pts = json_object();
    put(b, o, "points", pts);
    if (pts) {
        put(b, pts, "days", days);
        put(b, pts, "at_risk", risk);
        put(b, pts, "events", ev);
        put(b, pts, "censored", ce);
        put(b, pts, "survival", sv);
        put(b, pts, "p_return", pr);
    }
    if (!b->ok) return o;
    for (size_t d = 0; d < c->n; d++) {
        add(b, days, json_integer((json_int_t)d));
        add(b, risk, json_integer(c->at_risk[d]));
        add(b, ev, json_integer(c->events[d]));
        add(b, ce, json_integer(c->censored[d]));
        add(b, sv, json_real(c->survival[d]));
        add(b, pr, json_real(c->p_return[d]));
    }
    return o;
}

static json_t *loyaltyJson(jb *b, const ly_an_result *r)
{
    json_t *o = json_object();
    if (!o) return NULL;
    put(b, o, "level", json_real(r->loyalty_level));
    put(b, o, "min_known", json_integer(r->loyalty_min_known));
    put(b, o, "horizon_days", optInt(r->loyalty_horizon_days));
    put(b, o, "boundary", optInt(r->loyalty_boundary));
    json_t *a = json_array();
    put(b, o, "by_deal", a);
    for (int i = 0; a && i < LY_AN_NMAX; i++) {
        const ly_an_dealn *d = &r->dealn[i];
        json_t *e = json_object();
        if (!e) {
            b->ok = false;
            continue;
        }
        put(b, e, "n", json_integer(d->n));
        if (i == LY_AN_NMAX - 1) put(b, e, "and_more", json_true());
        put(b, e, "reached", json_integer(d->reached));
        put(b, e, "converted", json_integer(d->converted));
        put(b, e, "lost", json_integer(d->lost));
        put(b, e, "not_yet_known", json_integer(d->open));
        put(b, e, "conversion", num(d->conversion));
        put(b, e, "gaps", json_integer(d->gaps));
        put(b, e, "gap_mean_days", num(d->gap_mean));
        put(b, e, "gap_median_days", num(d->gap_median));
        put(b, e, "deals", json_integer(d->deal_count));
        put(b, e, "deal_revenue", json_integer(d->deal_revenue));
        put(b, e, "avg_receipt", num(d->avg_receipt));
        add(b, a, e);
    }
    return o;
}

static json_t *addonsJson(jb *b, const ly_an_result *r)
{
    json_t *o = json_object();
    if (!o) return NULL;
    double p = (double)r->purchases;
    put(b, o, "window_days", r->addon_days >= 0 ? json_integer(r->addon_days) : json_null());
    put(b, o, "purchases", json_integer(r->purchases));
    put(b, o, "deals", json_integer(r->deals));
    put(b, o, "addons_immediate", json_integer(r->addons_immediate));
    put(b, o, "addons_deferred", json_integer(r->addons_deferred));
    put(b, o, "addon_share", num((double)(r->addons_immediate + r->addons_deferred) / p));
    put(b, o, "immediate_share", num((double)r->addons_immediate / p));
    put(b, o, "deferred_share", num((double)r->addons_deferred / p));
    put(b, o, "sales", json_integer(r->sales_identified));
    put(b, o, "addon_sales", json_integer(r->addon_sales));
    put(b, o, "jobs", json_integer(r->jobs));
    return o;
}

static json_t *cohortsJson(jb *b, const ly_an_result *r)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < r->n_cohorts; i++) {
        const ly_an_cohort *c = &r->cohorts[i];
        json_t *e = json_object(), *act = json_array(), *ret = json_array();
        if (!e || !act || !ret) {
            json_decref(e);
            json_decref(act);
            json_decref(ret);
            b->ok = false;
            continue;
        }
        char m[16];
        snprintf(m, sizeof m, "%04d-%02d", c->month / 12, c->month % 12 + 1);
        put(b, e, "cohort", json_string(m));
        put(b, e, "customers", json_integer(c->size));
        for (int64_t k = 0; k < c->n_k; k++) {
            add(b, act, json_integer(c->active[k]));
            add(b, ret, num((double)c->active[k] / (double)c->size));
        }
        put(b, e, "active", act);
        put(b, e, "retention", ret);
        add(b, a, e);
    }
    return a;
}

static json_t *histInts(jb *b, const int64_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) add(b, a, json_integer(v[i]));
    if (!a) b->ok = false;
    return a;
}

static json_t *structureJson(jb *b, const ly_an_stats *s)
{
    json_t *o = json_object();
    if (!o) return NULL;
    double units = (double)s->units_milli / 1000.0;
    put(b, o, "period", json_string(s->label));
    put(b, o, "receipts", json_integer(s->receipts));
    put(b, o, "lines", json_integer(s->lines));
    put(b, o, "units", json_real(units));
    put(b, o, "sales", json_integer(s->sales));
    put(b, o, "depth_lines", num((double)s->lines / (double)s->receipts));
    put(b, o, "depth_units", num(units / (double)s->receipts));
    put(b, o, "pu_unit", num((double)s->sales / units));
    put(b, o, "pu_line", num((double)s->sales / (double)s->lines));
    put(b, o, "p", num((double)s->sales / (double)s->receipts));
    put(b, o, "width_mean", num(s->width_mean));
    put(b, o, "depth_lines_hist", histInts(b, s->depth_lines, LY_AN_DEPTH_MAX + 1));
    put(b, o, "depth_units_hist", histInts(b, s->depth_units, LY_AN_DEPTH_MAX + 1));
    json_t *w = json_array();
    for (int i = 0; w && i < LY_AN_WIDTH_BUCKETS; i++) add(b, w, json_real(s->width_hist[i]));
    put(b, o, "width_hist", w);
    return o;
}

static json_t *leversJson(jb *b, const ly_an_stats *s, bool with_change, bool group)
{
    json_t *o = json_object();
    if (!o) return NULL;
    if (group) put(b, o, "name", json_string(s->name ? s->name : ""));
    else put(b, o, "period", json_string(s->label));
    put(b, o, "receipts", json_integer(s->receipts));
    put(b, o, "receipts_identified", json_integer(s->receipts_identified));
    put(b, o, "identified_share", num(s->identified_share));
    put(b, o, "sales", json_integer(s->sales));
    put(b, o, "returned", json_integer(s->returned));
    put(b, o, "customers", json_integer(s->customers));
    put(b, o, "new_customers", json_integer(s->new_customers));
    put(b, o, "returning_customers", json_integer(s->returning_customers));
    put(b, o, "referred_customers", json_integer(s->referred_customers));
    put(b, o, "purchases", json_integer(s->purchases));
    put(b, o, "deals", json_integer(s->deals));
    put(b, o, "addons", json_integer(s->addons_immediate + s->addons_deferred));
    put(b, o, "revenue", json_integer(s->revenue));
    put(b, o, "units", json_real((double)s->net_units_milli / 1000.0));
    put(b, o, "qs", num(s->qs));
    put(b, o, "p", num(s->p));
    put(b, o, "pu", num(s->pu));
    put(b, o, "d", num(s->d));
    put(b, o, "cl_x_qs_x_p", num(s->p_check));
    put(b, o, "margin", s->costed_revenue ? json_integer(s->margin) : json_null());
    put(b, o, "costed_revenue", json_integer(s->costed_revenue));
    if (with_change) {
        json_t *c = json_object();
        put(b, o, "change", c);
        if (c) {
            put(b, c, "revenue", num(s->ratio_revenue));
            put(b, c, "cl", num(s->ratio_cl));
            put(b, c, "qs", num(s->ratio_qs));
            put(b, c, "p", num(s->ratio_p));
            put(b, c, "pu", num(s->ratio_pu));
            put(b, c, "d", num(s->ratio_d));
            json_t *sh = json_object();
            put(b, c, "explained_share", sh);
            if (sh) {
                put(b, sh, "cl", num(s->share_cl));
                put(b, sh, "qs", num(s->share_qs));
                put(b, sh, "pu", num(s->share_pu));
                put(b, sh, "d", num(s->share_d));
            }
        }
    }
    return o;
}

static json_t *groupArray(jb *b, const ly_an_stats *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) add(b, a, leversJson(b, &v[i], false, true));
    if (!a) b->ok = false;
    return a;
}

json_t *ly_report_json(const ly_an_result *r, int minor_units)
{
    jb b = {.ok = true};
    json_t *doc = json_object();
    if (!doc) return NULL;
    put(&b, doc, "format", json_string("loyal-analysis/1"));
    json_t *in = json_object();
    put(&b, doc, "input", in);
    if (in) {
        put(&b, in, "as_of", r->as_of_given || r->last_day >= 0 ? dayText(r->as_of_day) : json_null());
        put(&b, in, "as_of_given", json_boolean(r->as_of_given));
        put(&b, in, "first_day", dayText(r->first_day));
        put(&b, in, "last_day", dayText(r->last_day));
        put(&b, in, "receipts", json_integer(r->receipts));
        put(&b, in, "returns", json_integer(r->returns));
        put(&b, in, "anonymous_receipts", json_integer(r->anonymous_receipts));
        put(&b, in, "skipped_after_as_of", json_integer(r->skipped_after_as_of));
        put(&b, in, "lines", json_integer(r->lines));
        put(&b, in, "customers", json_integer((json_int_t)r->n_customers));
        put(&b, in, "skus", json_integer(r->skus));
        put(&b, in, "categories", json_integer(r->categories));
        put(&b, in, "period", json_string(ly_an_period_name(r->period_kind)));
        put(&b, in, "currency_minor_units", json_integer(minor_units));
        put(&b, in, "knows_costs", json_boolean(r->knows_costs));
        put(&b, in, "knows_referrals", json_boolean(r->knows_referrals));
        put(&b, in, "memory_bytes", json_integer((json_int_t)r->memory_bytes));
    }
    put(&b, doc, "rfm", rfmJson(&b, &r->rfm));
    put(&b, doc, "return_curve", curveJson(&b, &r->curve));
    put(&b, doc, "loyalty", loyaltyJson(&b, r));
    put(&b, doc, "addons", addonsJson(&b, r));
    put(&b, doc, "cohorts", cohortsJson(&b, r));
    json_t *st = json_object();
    put(&b, doc, "structure", st);
    if (st) {
        json_t *ps = json_array();
        put(&b, st, "periods", ps);
        for (size_t i = 0; ps && i < r->n_periods; i++) add(&b, ps, structureJson(&b, &r->periods[i]));
        put(&b, st, "total", structureJson(&b, &r->total));
    }
    json_t *pf = json_object();
    put(&b, doc, "profit", pf);
    if (pf) {
        json_t *ps = json_array();
        put(&b, pf, "periods", ps);
        for (size_t i = 0; ps && i < r->n_periods; i++)
            add(&b, ps, leversJson(&b, &r->periods[i], true, false));
        put(&b, pf, "total", leversJson(&b, &r->total, false, false));
        put(&b, pf, "stores", groupArray(&b, r->stores, r->n_stores));
        put(&b, pf, "cashiers", groupArray(&b, r->cashiers, r->n_cashiers));
        put(&b, pf, "channels", groupArray(&b, r->channels, r->n_channels));
    }
    put(&b, doc, "clv", json_null());
    put(&b, doc, "copurchases", json_null());
    if (!b.ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

ly_err ly_report_json_write(const json_t *doc, FILE *f, ly_error *err)
{
    if (json_dumpf(doc, f, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12)) != 0 ||
        fputc('\n', f) == EOF || fflush(f) != 0)
        return ly_error_set(err, LY_EIO, "write_failed", NULL, "could not write the JSON");
    return LY_OK;
}

/* A CSV field, quoted when it holds a delimiter, a quote or a line end. */
static void csvField(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void dayField(FILE *f, int64_t day)
{
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    fputs(buf, f);
}

ly_err ly_report_customers_csv(const ly_an_result *r, const ly_an_clv *clv, int minor_units,
                               FILE *f, ly_error *err)
{
    bool models = clv && clv->fitted && clv->n == r->n_customers;
    fputs("customer,first_purchase,last_deal,r_days,f_deals,m,purchases,addons_immediate,"
          "addons_deferred,returns,sales,revenue,r,f,m_level,cell,r5,f5,m5,segment,status,"
          "loyalty,deals_to_loyalty",
          f);
    fputs(models ? ",p_alive,expected_deals,clv\n" : "\n", f);
    for (size_t i = 0; i < r->n_customers; i++) {
        const ly_an_customer *c = &r->customers[i];
        if (c->deals == 0) continue;
        char m[40], sales[40], rev[40];
        /* M rounded half away from zero to the minor unit, with integer arithmetic */
        int64_t mr = c->revenue >= 0 ? (c->revenue * 2 + c->deals) / (2 * c->deals)
                                     : -((-c->revenue * 2 + c->deals) / (2 * c->deals));
        ly_decimal_format(mr, minor_units, m, sizeof m);
        ly_decimal_format(c->sales, minor_units, sales, sizeof sales);
        ly_decimal_format(c->revenue, minor_units, rev, sizeof rev);
        csvField(f, c->key);
        fputc(',', f);
        dayField(f, c->first_day);
        fputc(',', f);
        dayField(f, c->last_deal_day);
        const char *loyalty = ly_an_loyalty_name(r, c);
        int64_t to_go = r->loyalty_boundary < 0 || c->deals >= r->loyalty_boundary
                            ? 0
                            : r->loyalty_boundary - c->deals;
        fprintf(f, ",%lld,%lld,%s,%lld,%lld,%lld,%lld,%s,%s,%d,%d,%d,R%dF%dM%d,%d,%d,%d,",
                (long long)c->r_days, (long long)c->deals, m, (long long)c->purchases,
                (long long)c->addons_immediate, (long long)c->addons_deferred,
                (long long)c->returns, sales, rev, c->r3, c->f3, c->m3, c->r3, c->f3, c->m3,
                c->r5, c->f5, c->m5);
        csvField(f, ly_an_segment_name((ly_an_segment)c->segment));
        fprintf(f, ",%s,%s,%lld", ly_an_status_name((ly_an_status)c->status), loyalty,
                (long long)to_go);
        if (models) {
            /* Estimates, shown to 4 decimals; CLV rounded to the minor unit. */
            char value[40] = "";
            double v = clv->value[i];
            if (isfinite(v) && fabs(v) < 1e15) ly_decimal_format(llround(v), minor_units, value, sizeof value);
            if (isfinite(clv->p_alive[i])) fprintf(f, ",%.4f", clv->p_alive[i]);
            else fputs(",", f);
            if (isfinite(clv->purchases[i])) fprintf(f, ",%.4f", clv->purchases[i]);
            else fputs(",", f);
            fprintf(f, ",%s", value);
        }
        fputc('\n', f);
    }
    if (fflush(f) != 0 || ferror(f))
        return ly_error_set(err, LY_EIO, "write_failed", NULL, "could not write the customers CSV");
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The view of the result in the HTML report's contract (docs/report.md)
 * ------------------------------------------------------------------------------------- */

static json_t *roundedMoney(double v)
{
    if (!isfinite(v)) return json_null();
    return json_integer((json_int_t)(v < 0 ? -floor(-v + 0.5) : floor(v + 0.5)));
}

static json_t *changeFraction(double ratio)
{
    return isfinite(ratio) ? json_real(ratio - 1.0) : json_null();
}

json_t *ly_report_view(const ly_an_result *r, int minor_units, const char *source,
                       const char *currency)
{
    jb b = {.ok = true};
    json_t *doc = json_object();
    if (!doc) return NULL;

    json_t *in = json_object();
    put(&b, doc, "input", in);
    if (in) {
        put(&b, in, "source", json_string(source ? source : ""));
        put(&b, in, "receipts", json_integer(r->receipts));
        put(&b, in, "lines", json_integer(r->lines));
        put(&b, in, "customers", json_integer((json_int_t)r->n_customers));
        put(&b, in, "as_of", r->as_of_given || r->last_day >= 0 ? dayText(r->as_of_day) : json_null());
    }

    json_t *rfm = json_object(), *cells = json_array(), *segs = json_array();
    put(&b, doc, "rfm", rfm);
    if (rfm) {
        put(&b, rfm, "cells", cells);
        put(&b, rfm, "segments", segs);
        put(&b, rfm, "core_revenue_share", json_real(r->rfm.core_share));
    }
    for (int x = 3; b.ok && x >= 1; x--)
        for (int f = 3; f >= 1; f--)
            for (int m = 3; m >= 1; m--) {
                const ly_an_cell *c = &r->rfm.cells[x - 1][f - 1][m - 1];
                json_t *e = json_pack("{s:i,s:i,s:i,s:I,s:I,s:f}", "r", x, "f", f, "m", m,
                                      "customers", (json_int_t)c->customers, "revenue",
                                      (json_int_t)c->revenue, "revenue_share", c->share);
                add(&b, cells, e);
            }
    for (int s = 0; b.ok && s < LY_SEG_COUNT; s++) {
        const ly_an_cell *c = &r->rfm.segments[s];
        add(&b, segs, json_pack("{s:s,s:I,s:I,s:f}", "name", ly_an_segment_name((ly_an_segment)s),
                                "customers", (json_int_t)c->customers, "revenue",
                                (json_int_t)c->revenue, "revenue_share", c->share));
    }

    const ly_an_return_curve *cv = &r->curve;
    json_t *bd = json_object(), *curve = json_array();
    put(&b, doc, "boundaries", bd);
    if (bd) {
        put(&b, bd, "curve", curve);
        put(&b, bd, "sleep_days", optInt(cv->sleep_day));
        put(&b, bd, "churn_days", optInt(cv->churn_day));
        put(&b, bd, "sleep_level", json_real(cv->sleep_level));
        put(&b, bd, "churn_level", json_real(cv->churn_level));
    }
    for (size_t d = 0; b.ok && d < cv->n; d++)
        add(&b, curve, json_pack("{s:I,s:f,s:I}", "days", (json_int_t)d, "p_return",
                                 cv->p_return[d], "at_risk", (json_int_t)cv->at_risk[d]));

    /* loyalty: customers = those whose outcome is known, so p_next = converted / customers
     * is the censoring-aware conversion the boundary is defined on */
    json_t *lo = json_object(), *steps = json_array();
    json_t *dd = json_object(), *byn = json_array();
    put(&b, doc, "loyalty", lo);
    put(&b, doc, "deal_to_deal", dd);
    if (lo) {
        put(&b, lo, "steps", steps);
        put(&b, lo, "boundary", optInt(r->loyalty_boundary));
        put(&b, lo, "level", json_real(r->loyalty_level));
    }
    if (dd) put(&b, dd, "by_n", byn);
    for (int i = 0; b.ok && i < LY_AN_NMAX; i++) {
        const ly_an_dealn *d = &r->dealn[i];
        int64_t known = d->converted + d->lost;
        if (known) {
            json_t *e = json_pack("{s:I,s:I,s:I}", "n", (json_int_t)d->n, "customers",
                                  (json_int_t)known, "converted", (json_int_t)d->converted);
            if (e) put(&b, e, "p_next", num(d->conversion));
            add(&b, steps, e);
        }
        if (d->deal_count) {
            json_t *e = json_pack("{s:I}", "n", (json_int_t)d->n);
            if (e) {
                put(&b, e, "conversion", num(d->conversion));
                put(&b, e, "median_days", num(d->gap_median));
                put(&b, e, "avg_receipt", roundedMoney(d->avg_receipt));
            }
            add(&b, byn, e);
        }
    }

    json_t *de = json_object();
    put(&b, doc, "deals", de);
    if (de) {
        put(&b, de, "purchases", json_integer(r->purchases));
        put(&b, de, "deals", json_integer(r->deals));
        put(&b, de, "addons_immediate", json_integer(r->addons_immediate));
        put(&b, de, "addons_deferred", json_integer(r->addons_deferred));
        put(&b, de, "addon_share",
            num((double)(r->addons_immediate + r->addons_deferred) / (double)r->purchases));
    }

    json_t *co = json_object(), *months = json_array();
    put(&b, doc, "cohorts", co);
    if (co) put(&b, co, "months", months);
    for (size_t i = 0; b.ok && i < r->n_cohorts; i++) {
        const ly_an_cohort *c = &r->cohorts[i];
        char m[16];
        snprintf(m, sizeof m, "%04d-%02d", c->month / 12, c->month % 12 + 1);
        json_t *ret = json_array();
        for (int64_t k = 0; ret && k < c->n_k; k++)
            add(&b, ret, json_real((double)c->active[k] / (double)c->size));
        add(&b, months, json_pack("{s:s,s:I,s:o}", "cohort", m, "size", (json_int_t)c->size,
                                  "retention", ret));
    }

    /* structure: depth in lines (one line per SKU of the receipt); the width histogram
     * counts lines by their SKU's price position (see docs/analytics.md) */
    const ly_an_stats *t = &r->total;
    json_t *st = json_object(), *dh = json_array(), *wh = json_array(), *bp = json_array();
    put(&b, doc, "structure", st);
    if (st) {
        put(&b, st, "depth_hist", dh);
        put(&b, st, "width_hist", wh);
        put(&b, st, "by_period", bp);
    }
    for (int k = 1; b.ok && k <= LY_AN_DEPTH_MAX; k++)
        add(&b, dh, json_pack("{s:i,s:I}", "items", k, "receipts", (json_int_t)t->depth_lines[k]));
    for (int k = 0; b.ok && k < LY_AN_WIDTH_BUCKETS; k++)
        add(&b, wh, json_pack("{s:f,s:f,s:I}", "from", k / 10.0, "to", (k + 1) / 10.0,
                              "receipts", (json_int_t)t->width_hist[k]));
    for (size_t i = 0; b.ok && i < r->n_periods; i++) {
        const ly_an_stats *p = &r->periods[i];
        json_t *e = json_pack("{s:s}", "period", p->label);
        if (e) {
            put(&b, e, "D", num((double)p->lines / (double)p->receipts));
            put(&b, e, "Pu", num((double)p->sales / (double)p->lines));
            put(&b, e, "P", num((double)p->sales / (double)p->receipts));
        }
        add(&b, bp, e);
    }

    json_t *pf = json_object(), *pp = json_array();
    put(&b, doc, "profit", pf);
    if (pf) {
        if (currency && *currency) put(&b, pf, "currency", json_string(currency));
        put(&b, pf, "minor_units", json_integer(minor_units));
        put(&b, pf, "periods", pp);
    }
    for (size_t i = 0; b.ok && i < r->n_periods; i++) {
        const ly_an_stats *p = &r->periods[i];
        json_t *e = json_pack("{s:s,s:I,s:I,s:I,s:I}", "period", p->label, "CL",
                              (json_int_t)p->customers, "CL_new", (json_int_t)p->new_customers,
                              "CL_returning", (json_int_t)p->returning_customers, "revenue",
                              (json_int_t)p->revenue);
        if (e) {
            if (r->knows_referrals) put(&b, e, "CL_referred", json_integer(p->referred_customers));
            put(&b, e, "Qs", num(p->qs));
            put(&b, e, "P", num(p->p));
            put(&b, e, "Pu", num(p->pu));
            put(&b, e, "D", num(p->d));
            put(&b, e, "margin", p->costed_revenue ? json_integer(p->margin) : json_null());
            if (i == 0) {
                put(&b, e, "change", json_null());
            } else {
                json_t *c = json_object();
                put(&b, e, "change", c);
                if (c) {
                    put(&b, c, "CL", changeFraction(p->ratio_cl));
                    put(&b, c, "Qs", changeFraction(p->ratio_qs));
                    put(&b, c, "P", changeFraction(p->ratio_p));
                    put(&b, c, "revenue", changeFraction(p->ratio_revenue));
                }
            }
        }
        add(&b, pp, e);
    }
    if (!b.ok) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}
