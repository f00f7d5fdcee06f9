/*
 * rfm.c - RFM scoring (METHOD.md section 4): the method's 3x3x3 cells (25% best / 50% /
 * 25% worst) and the 5x5x5 quintile scores with named segments.
 *
 * The tie rule: a value's score depends only on the share of customers strictly worse than
 * it, q = worse / N. Level: 1 if q < 1/4, 2 if q < 3/4, else 3. Quintile score:
 * 1 + floor(5 q). So equal values always get equal scores, and when one value holds many
 * customers (CDNOW: most bought once) they all share the score of its first occurrence in
 * the order from worst to best. Computed with integers: no rounding at the edges.
 */
#include "analytics/an_internal.h"

static const char *const segmentNames[LY_SEG_COUNT] = {
    "Champions",       "Loyal Customers", "Potential Loyalists", "New Customers",
    "Promising",       "Need Attention",  "About to Sleep",      "At Risk",
    "Can't Lose Them", "Hibernating",     "Lost"};

const char *ly_an_segment_name(ly_an_segment s)
{
    return (unsigned)s < LY_SEG_COUNT ? segmentNames[s] : "";
}

/* First match wins; the table covers every (r, f, m). */
ly_an_segment ly_an_segment_of(int r, int f, int m)
{
    if (r >= 4 && f >= 4 && m >= 4) return LY_SEG_CHAMPIONS;
    if (r >= 3 && f >= 3) return LY_SEG_LOYAL;
    if (r == 1 && f >= 4 && m >= 4) return LY_SEG_CANT_LOSE;
    if (r <= 2 && f >= 3) return LY_SEG_AT_RISK;
    if (r == 5 && f == 1) return LY_SEG_NEW;
    if (r == 4 && f == 1) return LY_SEG_PROMISING;
    if (r >= 4) return LY_SEG_POTENTIAL; /* f == 2 */
    if (r == 3) return LY_SEG_NEED_ATTENTION;
    if (r == 2) return LY_SEG_ABOUT_TO_SLEEP;
    if (f == 2) return LY_SEG_HIBERNATING;
    return LY_SEG_LOST;
}

const char *ly_an_status_name(ly_an_status s)
{
    return s == LY_ST_SLEEPING ? "sleeping" : s == LY_ST_CHURNED ? "churned" : "active";
}

/* A value's sort key (unsigned order = the value's order) and its customer. */
typedef struct keyIdx {
    uint64_t key;
    uint32_t idx;
} keyIdx;

static uint64_t intKey(int64_t v)
{
    return (uint64_t)v ^ (UINT64_C(1) << 63);
}

/* Equal doubles get equal keys (0.0 and -0.0 alike); M is never NaN. */
static uint64_t doubleKey(double v)
{
    if (v == 0) v = 0;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b >> 63) ? ~b : b | (UINT64_C(1) << 63);
}

/* LSD radix sort by key, a byte a pass, skipping the bytes every key shares. Returns the
 * sorted array: v or tmp. */
static keyIdx *radixSort(keyIdx *v, keyIdx *tmp, size_t n)
{
    for (int shift = 0; shift < 64; shift += 8) {
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++) cnt[(v[i].key >> shift) & 255]++;
        if (cnt[(v[0].key >> shift) & 255] == n) continue;
        size_t at = 0;
        for (int b = 0; b < 256; b++) {
            size_t k = cnt[b];
            cnt[b] = at;
            at += k;
        }
        for (size_t i = 0; i < n; i++) tmp[cnt[(v[i].key >> shift) & 255]++] = v[i];
        keyIdx *t = v;
        v = tmp;
        tmp = t;
    }
    return v;
}

/* w of every customer on one axis: the customers strictly worse. For F and M (worse =
 * smaller) that is the position of the first equal value in ascending order; for R (worse
 * = longer absence) the count after the last equal value. */
static void worse(keyIdx *v, keyIdx *tmp, size_t n, bool larger_is_worse, uint32_t *w)
{
    keyIdx *s = radixSort(v, tmp, n);
    for (size_t a = 0; a < n;) {
        size_t b = a;
        while (b < n && s[b].key == s[a].key) b++;
        uint32_t x = (uint32_t)(larger_is_worse ? n - b : a);
        for (size_t i = a; i < b; i++) w[s[i].idx] = x;
        a = b;
    }
}

static void rangeAdd(ly_an_level_range *rg, double v)
{
    if (rg->customers == 0 || v < rg->lo) rg->lo = v;
    if (rg->customers == 0 || v > rg->hi) rg->hi = v;
    rg->customers++;
}

ly_err ly__an_rfm(ly_an_result *r, ly_error *err)
{
    ly_an_rfm *q = &r->rfm;
    size_t n = 0;
    for (size_t i = 0; i < r->n_customers; i++)
        if (r->customers[i].deals > 0) n++;
    q->customers = (int64_t)n;
    if (!n) return LY_OK;
    /* ranks by radix sort: the population can be millions of customers */
    keyIdx *v = malloc(n * sizeof *v), *tmp = malloc(n * sizeof *tmp);
    uint32_t *ws = malloc(3 * n * sizeof *ws), *who = malloc(n * sizeof *who);
    if (!v || !tmp || !ws || !who || n > UINT32_MAX) {
        free(v);
        free(tmp);
        free(ws);
        free(who);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_customers; i++)
        if (r->customers[i].deals != 0) who[k++] = (uint32_t)i;
    for (int axis = 0; axis < 3; axis++) {
        for (size_t j = 0; j < n; j++) {
            const ly_an_customer *c = &r->customers[who[j]];
            v[j].key = axis == 0 ? intKey(c->r_days) : axis == 1 ? intKey(c->deals) : doubleKey(c->m);
            v[j].idx = (uint32_t)j;
        }
        worse(v, tmp, n, axis == 0, ws + (size_t)axis * n);
    }
    uint64_t N = n;
    for (size_t j = 0; j < n; j++) {
        ly_an_customer *c = &r->customers[who[j]];
        uint64_t w[3] = {ws[j], ws[n + j], ws[2 * n + j]};
        uint8_t l3[3], l5[3];
        for (int a = 0; a < 3; a++) {
            l3[a] = 4 * w[a] < N ? 1 : 4 * w[a] < 3 * N ? 2 : 3;
            l5[a] = (uint8_t)(1 + (5 * w[a]) / N);
        }
        c->r3 = l3[0];
        c->f3 = l3[1];
        c->m3 = l3[2];
        c->r5 = l5[0];
        c->f5 = l5[1];
        c->m5 = l5[2];
        c->segment = (uint8_t)ly_an_segment_of(c->r5, c->f5, c->m5);
        q->revenue += c->revenue;
        ly_an_cell *cell = &q->cells[c->r3 - 1][c->f3 - 1][c->m3 - 1];
        cell->customers++;
        cell->revenue += c->revenue;
        q->segments[c->segment].customers++;
        q->segments[c->segment].revenue += c->revenue;
        q->rf_grid[c->r5 - 1][c->f5 - 1]++;
        rangeAdd(&q->r_levels[c->r3 - 1], (double)c->r_days);
        rangeAdd(&q->f_levels[c->f3 - 1], (double)c->deals);
        rangeAdd(&q->m_levels[c->m3 - 1], c->m);
        rangeAdd(&q->r_scores[c->r5 - 1], (double)c->r_days);
        rangeAdd(&q->f_scores[c->f5 - 1], (double)c->deals);
        rangeAdd(&q->m_scores[c->m5 - 1], c->m);
    }
    double total = (double)q->revenue;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int m = 0; m < 3; m++)
                q->cells[a][b][m].share = total != 0 ? (double)q->cells[a][b][m].revenue / total : 0;
    for (int s = 0; s < LY_SEG_COUNT; s++)
        q->segments[s].share = total != 0 ? (double)q->segments[s].revenue / total : 0;
    q->core_share = q->cells[2][2][2].share;
    free(v);
    free(tmp);
    free(ws);
    free(who);
    return LY_OK;
}

void ly__an_status(ly_an_result *r)
{
    int64_t sleep = r->curve.sleep_day, churn = r->curve.churn_day;
    for (size_t i = 0; i < r->n_customers; i++) {
        ly_an_customer *c = &r->customers[i];
        if (c->deals == 0) continue;
        if (churn >= 0 && c->r_days >= churn) c->status = LY_ST_CHURNED;
        else if (sleep >= 0 && c->r_days >= sleep) c->status = LY_ST_SLEEPING;
        else c->status = LY_ST_ACTIVE;
    }
}
