/*
 * output.c - what the simulator writes: receipts as Loyal's import CSV (layout `loyal`,
 * docs/import.md), the per-customer truth as CSV, and the truth file as JSON. Every number
 * is formatted from integers (or by ly_sim_fixed), never by printf's %f, so the bytes are
 * the same on every machine.
 */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* A growable output buffer. */
typedef struct buf {
    char *p;
    size_t n, cap;
    bool nomem;
    bool fixed; /* p is the caller's array: never reallocated */
} buf;

static bool bufGrow(buf *b, size_t more)
{
    if (b->nomem) return false;
    if (b->n + more <= b->cap) return true;
    if (b->fixed) {
        b->nomem = true;
        return false;
    }
    size_t cap = b->cap ? b->cap : 1 << 16;
    while (cap < b->n + more) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->nomem = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void bufMem(buf *b, const char *s, size_t n)
{
    if (!bufGrow(b, n)) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void bufStr(buf *b, const char *s)
{
    bufMem(b, s, strlen(s));
}

static void bufChar(buf *b, char c)
{
    if (bufGrow(b, 1)) b->p[b->n++] = c;
}

static void bufInt(buf *b, int64_t v)
{
    char t[24];
    size_t n = ly_decimal_format(v, 0, t, sizeof t);
    bufMem(b, t, n);
}

/* A CSV field: quoted when it holds a comma, a quote or a line break. */
static void bufField(buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        bufStr(b, s);
        return;
    }
    bufChar(b, '"');
    for (; *s; s++) {
        if (*s == '"') bufChar(b, '"');
        bufChar(b, *s);
    }
    bufChar(b, '"');
}

static void bufDigits(buf *b, int64_t v, int width)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    while (n) bufChar(b, t[--n]);
}

/* "+03:00" */
static void offsetText(int off, char *out, size_t size)
{
    int a = off < 0 ? -off : off;
    snprintf(out, size, "%c%02d:%02d", off < 0 ? '-' : '+', a / 60 % 100, a % 60);
}

static void dateText(int64_t days, char *out, size_t size)
{
    ly_date_format(days, out, size);
}

/* ---------------------------------------------------------------------------------------
 * The import CSV
 * ------------------------------------------------------------------------------------- */

static const char csvHeader[] =
    "receipt_id,time,store,channel,cashier,payment,customer_external_id,customer_card,"
    "customer_phone,customer_email,sku,name,category,brand,qty,price,amount,return_of\n";

static const char *const channelNames[3] = {"store", "online", "app"};
static const char *const channelStores[3] = {NULL, "Online shop", "Mobile app"};

struct ly_sim_csv {
    const ly_sim *s;
    FILE *f;
    buf b;
    bool failed;
    int minor_units;
    char offset[8];
    /* Per SKU: ",SKU,NAME,CATEGORY,BRAND," ready to copy, and the price text. */
    char **sku_text;
    char (*price_text)[24];
};

ly_sim_csv *ly_sim_csv_open(const ly_sim *s, FILE *f)
{
    ly_sim_csv *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    const ly_sim_catalog *cat = ly_sim_catalog_get(s);
    const ly_sim_config *cfg = ly_sim_config_get(s);
    w->s = s;
    w->f = f;
    w->minor_units = cfg->minor_units;
    offsetText(cfg->utc_offset_min, w->offset, sizeof w->offset);
    w->sku_text = calloc((size_t)cat->n_skus, sizeof *w->sku_text);
    w->price_text = calloc((size_t)cat->n_skus, sizeof *w->price_text);
    if (!w->sku_text || !w->price_text) {
        free(w->sku_text);
        free(w->price_text);
        free(w);
        return NULL;
    }
    for (int i = 0; i < cat->n_skus; i++) {
        const ly_sim_sku *k = &cat->skus[i];
        buf t = {0};
        bufField(&t, k->code);
        bufChar(&t, ',');
        bufField(&t, k->name);
        bufChar(&t, ',');
        bufField(&t, cat->categories[k->category].name);
        bufChar(&t, ',');
        bufField(&t, cat->brands[k->category * 4 + k->tier]);
        bufChar(&t, ',');
        bufChar(&t, '\0');
        w->sku_text[i] = t.p; /* NULL if out of memory: checked below */
        ly_decimal_format(k->price, w->minor_units, w->price_text[i], sizeof w->price_text[i]);
        if (!t.p) {
            for (int j = 0; j <= i; j++) free(w->sku_text[j]);
            free(w->sku_text);
            free(w->price_text);
            free(w);
            return NULL;
        }
    }
    bufStr(&w->b, csvHeader);
    return w;
}

static void qtyText(buf *b, ly_qty q)
{
    if (q % 1000 == 0) {
        bufInt(b, q / 1000);
        return;
    }
    char t[32];
    size_t n = ly_decimal_format(q, 3, t, sizeof t);
    bufMem(b, t, n);
}

static int flushIfFull(ly_sim_csv *w)
{
    if (w->b.nomem) {
        w->failed = true;
        return -1;
    }
    if (w->b.n < (1u << 20)) return 0;
    if (fwrite(w->b.p, 1, w->b.n, w->f) != w->b.n) w->failed = true;
    w->b.n = 0;
    return w->failed ? -1 : 0;
}

int ly_sim_csv_receipt(ly_sim_csv *w, const ly_sim_receipt *r)
{
    if (w->failed) return -1;
    const ly_sim_config *cfg = ly_sim_config_get(w->s);
    const ly_sim_catalog *cat = ly_sim_catalog_get(w->s);
    /* The receipt-level columns, the same on each of its rows. */
    char head[512];
    buf h = {.p = head, .cap = sizeof head, .fixed = true};
    bufField(&h, r->id);
    bufChar(&h, ',');
    ly_time local = r->time + (ly_time)cfg->utc_offset_min * 60;
    int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
    int64_t sec = local - days * 86400;
    int y;
    unsigned mo, d;
    ly_civil_from_days(days, &y, &mo, &d);
    bufDigits(&h, y, 4);
    bufChar(&h, '-');
    bufDigits(&h, mo, 2);
    bufChar(&h, '-');
    bufDigits(&h, d, 2);
    bufChar(&h, 'T');
    bufDigits(&h, sec / 3600, 2);
    bufChar(&h, ':');
    bufDigits(&h, sec / 60 % 60, 2);
    bufChar(&h, ':');
    bufDigits(&h, sec % 60, 2);
    bufStr(&h, w->offset);
    bufChar(&h, ',');
    if (r->channel == 0) {
        bufStr(&h, "Store ");
        bufDigits(&h, r->store + 1, 2);
    } else {
        bufStr(&h, channelStores[r->channel]);
    }
    bufChar(&h, ',');
    bufStr(&h, channelNames[r->channel]);
    bufChar(&h, ',');
    if (r->cashier) {
        bufChar(&h, 'S');
        bufDigits(&h, r->store + 1, 2);
        bufStr(&h, "-C");
        bufDigits(&h, r->cashier, 2);
    }
    bufChar(&h, ',');
    bufField(&h, cfg->payments[r->payment]);
    bufChar(&h, ',');
    bufField(&h, r->external_id ? r->external_id : "");
    bufChar(&h, ',');
    bufField(&h, r->card ? r->card : "");
    bufChar(&h, ',');
    bufField(&h, r->phone ? r->phone : "");
    bufStr(&h, ",,"); /* email: never given */
    if (h.nomem) { /* a receipt id of 40 bytes cannot overflow 512 */
        w->failed = true;
        return -1;
    }
    bool ret = r->kind == LY_SIM_RETURN;
    for (int i = 0; i < r->n_lines; i++) {
        const ly_sim_line *l = &r->lines[i];
        int k = (int)(l->sku - cat->skus);
        bufMem(&w->b, h.p, h.n);
        bufStr(&w->b, w->sku_text[k]);
        qtyText(&w->b, l->qty);
        bufChar(&w->b, ',');
        /* A return row carries the money given back too: `loyal import` works it out from
         * the receipt and ignores it, an analysis of the CSV reads it. */
        bufStr(&w->b, w->price_text[k]);
        bufChar(&w->b, ',');
        char t[32];
        size_t n = ly_decimal_format(l->amount, w->minor_units, t, sizeof t);
        bufMem(&w->b, t, n);
        bufChar(&w->b, ',');
        if (ret) bufField(&w->b, r->return_of);
        bufChar(&w->b, '\n');
    }
    return flushIfFull(w);
}

int ly_sim_csv_fn(void *ctx, const ly_sim_receipt *r)
{
    return ly_sim_csv_receipt(ctx, r);
}

int ly_sim_csv_close(ly_sim_csv *w)
{
    if (!w) return 0;
    int rc = 0;
    if (w->b.nomem || w->failed) rc = -1;
    else if (w->b.n && fwrite(w->b.p, 1, w->b.n, w->f) != w->b.n) rc = -1;
    if (rc == 0 && fflush(w->f) != 0) rc = -1;
    const ly_sim_catalog *cat = ly_sim_catalog_get(w->s);
    for (int i = 0; i < cat->n_skus; i++) free(w->sku_text[i]);
    free(w->sku_text);
    free(w->price_text);
    free(w->b.p);
    free(w);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The per-customer truth
 * ------------------------------------------------------------------------------------- */

static void timeText(ly_time t, int off, char *out, size_t size)
{
    ly_time_format(t, off, out, size);
}

int ly_sim_customer_csv(FILE *f, const ly_sim *s, const ly_sim_customer *c)
{
    if (!c)
        return fputs("customer_external_id,customer_card,customer_phone,enrolled_at,lambda,p,"
                     "mean_deal_value,width,home_store,deals,addons,deal_value,dropped_out_day\n",
                     f) < 0 ? -1 : 0;
    const ly_sim_config *cfg = ly_sim_config_get(s);
    double unit = cfg->unit == LY_SIM_WEEKS ? 7 : 1;
    double scale = 1;
    for (int i = 0; i < cfg->minor_units; i++) scale *= 10;
    char enrolled[40], lam[32], p[32], mean[32], width[32], value[32], death[32] = "";
    timeText(c->enrolled_at, cfg->utc_offset_min, enrolled, sizeof enrolled);
    ly_sim_fixed(c->lambda * unit, 6, lam, sizeof lam);
    ly_sim_fixed(c->p, 6, p, sizeof p);
    double gp = (double)cfg->gg_p / (double)LY_SIM_MICRO;
    ly_sim_fixed(gp / c->nu / scale, cfg->minor_units, mean, sizeof mean);
    ly_sim_fixed(c->width, 6, width, sizeof width);
    ly_decimal_format(c->deal_value, cfg->minor_units, value, sizeof value);
    if (c->t_death >= 0) ly_sim_fixed(c->t_death, 3, death, sizeof death);
    return fprintf(f, "%s,%s,%s,%s,%s,%s,%s,%s,%d,%lld,%lld,%s,%s\n", c->external_id, c->card, c->phone,
                   enrolled, lam, p, mean, width, c->home_store + 1, (long long)c->deals,
                   (long long)c->addons, value, death) < 0 ? -1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * The truth file
 * ------------------------------------------------------------------------------------- */

static void jStr(buf *b, const char *s)
{
    bufChar(b, '"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            bufChar(b, '\\');
            bufChar(b, (char)ch);
        } else if (ch < 0x20) {
            char t[8];
            snprintf(t, sizeof t, "\\u%04x", ch);
            bufStr(b, t);
        } else {
            bufChar(b, (char)ch);
        }
    }
    bufChar(b, '"');
}

/* A parameter in millionths as a JSON number, without trailing zeros: 0.9, 15. */
static void jMicro(buf *b, ly_sim_micro v)
{
    char t[40];
    size_t n = ly_decimal_format(v, 6, t, sizeof t);
    while (n > 0 && t[n - 1] == '0') n--;
    if (n > 0 && t[n - 1] == '.') n--;
    bufMem(b, t, n);
}

/* num / den as a JSON number with 6 decimals, rounded half up (0 when den is 0). */
static void jRatio(buf *b, int64_t num, int64_t den)
{
    int64_t v = 0;
    if (den > 0) ly_muldiv(num, LY_SIM_MICRO, den, LY_ROUND_HALF_UP, &v);
    char t[40];
    size_t n = ly_decimal_format(v, 6, t, sizeof t);
    bufMem(b, t, n);
}

static void jMoney(buf *b, ly_money v, int minor)
{
    char t[40];
    ly_decimal_format(v, minor, t, sizeof t);
    jStr(b, t);
}

static void jKey(buf *b, const char *k, bool *first)
{
    if (!*first) bufChar(b, ',');
    *first = false;
    bufStr(b, "\n    ");
    jStr(b, k);
    bufStr(b, ": ");
}

static void jIntKey(buf *b, const char *k, int64_t v, bool *first)
{
    jKey(b, k, first);
    bufInt(b, v);
}

int ly_sim_truth_write(const ly_sim *s, FILE *f)
{
    const ly_sim_config *c = ly_sim_config_get(s);
    const ly_sim_truth *t = ly_sim_truth_get(s);
    const ly_sim_catalog *cat = ly_sim_catalog_get(s);
    int mu = c->minor_units;
    buf b = {0};
    char tmp[64];
    bool first;

    bufStr(&b, "{\n  \"generator\": \"loyal simulate\",\n  \"format\": 1,\n  \"seed\": ");
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)c->seed);
    bufStr(&b, tmp);

    bufStr(&b, ",\n  \"period\": {");
    first = true;
    dateText(c->start_day, tmp, sizeof tmp);
    jKey(&b, "start", &first);
    jStr(&b, tmp);
    dateText(c->end_day, tmp, sizeof tmp);
    jKey(&b, "end", &first);
    jStr(&b, tmp);
    dateText(c->enrol_end_day, tmp, sizeof tmp);
    jKey(&b, "enrol_until", &first);
    jStr(&b, tmp);
    jIntKey(&b, "days", c->end_day - c->start_day + 1, &first);
    offsetText(c->utc_offset_min, tmp, sizeof tmp);
    jKey(&b, "utc_offset", &first);
    jStr(&b, tmp);
    bufStr(&b, "\n  },\n  \"minor_units\": ");
    bufInt(&b, mu);
    bufStr(&b, ",\n  \"time_unit\": ");
    jStr(&b, c->unit == LY_SIM_WEEKS ? "weeks" : "days");

    bufStr(&b, ",\n  \"bgnbd\": {");
    first = true;
    jKey(&b, "r", &first);
    jMicro(&b, c->r);
    jKey(&b, "alpha", &first);
    jMicro(&b, c->alpha);
    jKey(&b, "a", &first);
    jMicro(&b, c->a);
    jKey(&b, "b", &first);
    jMicro(&b, c->b);
    jKey(&b, "mean_lambda", &first);
    jRatio(&b, c->r, c->alpha);
    jKey(&b, "mean_p", &first);
    jRatio(&b, c->a, c->a + c->b);
    jIntKey(&b, "customers", t->customers, &first);
    jIntKey(&b, "alive_at_end", t->alive_at_end, &first);
    jIntKey(&b, "first_deals", t->first_deals, &first);
    jIntKey(&b, "repeat_deals", t->repeat_deals, &first);
    jKey(&b, "mean_repeat_deals", &first);
    jRatio(&b, t->repeat_deals, t->customers);

    bufStr(&b, "\n  },\n  \"gamma_gamma\": {");
    first = true;
    jKey(&b, "p", &first);
    jMicro(&b, c->gg_p);
    jKey(&b, "q", &first);
    jMicro(&b, c->gg_q);
    jKey(&b, "gamma", &first);
    jMicro(&b, c->gg_gamma);
    /* p * gamma / (q - 1) in minor units, from the exact decimals. */
    int64_t mean = 0;
    int64_t scale = 1;
    for (int i = 0; i < mu; i++) scale *= 10;
    unsigned __int128 num = (unsigned __int128)c->gg_p * (unsigned __int128)c->gg_gamma * (unsigned __int128)scale;
    unsigned __int128 den = (unsigned __int128)(c->gg_q - LY_SIM_MICRO) * LY_SIM_MICRO;
    mean = (int64_t)((num + den / 2) / den);
    jKey(&b, "mean_deal_value", &first);
    jMoney(&b, mean, mu);
    jIntKey(&b, "deals", t->first_deals + t->repeat_deals, &first);
    jKey(&b, "target_total", &first);
    jMoney(&b, t->deal_target_total, mu);
    jKey(&b, "value_total", &first);
    jMoney(&b, t->deal_value_total, mu);
    jIntKey(&b, "truncated", t->deals_truncated, &first);

    int64_t purchases = t->first_deals + t->repeat_deals + t->addons;
    bufStr(&b, "\n  },\n  \"addons\": {");
    first = true;
    jKey(&b, "share_target", &first);
    jMicro(&b, c->addon_share);
    jKey(&b, "follow_probability", &first);
    jMicro(&b, t->addon_follow);
    jIntKey(&b, "window_days", c->addon_days, &first);
    jIntKey(&b, "addons", t->addons, &first);
    jIntKey(&b, "purchases", purchases, &first);
    jKey(&b, "share", &first);
    jRatio(&b, t->addons, purchases);
    jIntKey(&b, "dropped_after_end", t->addons_dropped, &first);

    bufStr(&b, "\n  },\n  \"anonymous\": {");
    first = true;
    jKey(&b, "share_target", &first);
    jMicro(&b, c->anonymous_share);
    jKey(&b, "per_identified_sale", &first);
    jMicro(&b, t->anonymous_mean);
    jIntKey(&b, "receipts", t->anonymous, &first);
    jIntKey(&b, "sale_receipts", t->sale_receipts, &first);
    jKey(&b, "share", &first);
    jRatio(&b, t->anonymous, t->sale_receipts);

    bufStr(&b, "\n  },\n  \"returns\": {");
    first = true;
    jKey(&b, "probability", &first);
    jMicro(&b, c->return_share);
    jKey(&b, "full_probability", &first);
    jMicro(&b, c->return_full);
    jIntKey(&b, "window_days", c->return_days, &first);
    jIntKey(&b, "returns", t->returns, &first);
    jIntKey(&b, "full", t->full_returns, &first);
    jIntKey(&b, "partial", t->returns - t->full_returns, &first);
    jIntKey(&b, "lines", t->return_lines, &first);
    jKey(&b, "money_returned", &first);
    jMoney(&b, t->returned_total, mu);
    jIntKey(&b, "dropped_after_end", t->returns_dropped, &first);

    bufStr(&b, "\n  },\n  \"receipts\": {");
    first = true;
    jIntKey(&b, "receipts", t->receipts, &first);
    jIntKey(&b, "sale_receipts", t->sale_receipts, &first);
    jIntKey(&b, "returns", t->returns, &first);
    jIntKey(&b, "lines", t->lines, &first);
    jKey(&b, "sales_total", &first);
    jMoney(&b, t->sales_total, mu);

    bufStr(&b, "\n  },\n  \"identifiers\": {");
    first = true;
    jKey(&b, "card_share", &first);
    jMicro(&b, c->card_share);
    jKey(&b, "phone_share", &first);
    jMicro(&b, c->phone_share);

    bufStr(&b, "\n  },\n  \"combos\": [");
    for (int k = 0; k < c->n_combos; k++) {
        const ly_sim_combo *cb = &c->combos[k];
        bufStr(&b, k ? ",\n    {" : "\n    {");
        bufStr(&b, "\"name\": ");
        jStr(&b, cb->name);
        bufStr(&b, ", \"skus\": [");
        for (int j = 0; j < cb->n_skus; j++) {
            if (j) bufStr(&b, ", ");
            jStr(&b, cb->skus[j]);
        }
        bufStr(&b, "], \"probability\": ");
        jMicro(&b, cb->prob);
        bufStr(&b, ", \"planted\": ");
        bufInt(&b, t->combo_planted[k]);
        bufStr(&b, ", \"baskets\": ");
        bufInt(&b, t->combo_baskets);
        bufStr(&b, ", \"rate\": ");
        jRatio(&b, t->combo_planted[k], t->combo_baskets);
        bufChar(&b, '}');
    }
    bufStr(&b, c->n_combos ? "\n  ],\n" : "],\n");

    bufStr(&b, "  \"stores\": {\"count\": ");
    bufInt(&b, c->stores);
    bufStr(&b, ", \"cashiers_per_store\": ");
    bufInt(&b, c->cashiers);
    bufStr(&b, "},\n  \"channels\": {\"store\": ");
    jMicro(&b, c->channel_w[0]);
    bufStr(&b, ", \"online\": ");
    jMicro(&b, c->channel_w[1]);
    bufStr(&b, ", \"app\": ");
    jMicro(&b, c->channel_w[2]);
    bufStr(&b, "},\n  \"payments\": {");
    for (int i = 0; i < c->n_payments; i++) {
        if (i) bufStr(&b, ", ");
        jStr(&b, c->payments[i]);
        bufStr(&b, ": ");
        jMicro(&b, c->payment_w[i]);
    }

    bufStr(&b, "},\n  \"catalogue\": {\n    \"categories\": [");
    for (int i = 0; i < cat->n_categories; i++) {
        const ly_sim_category *g = &cat->categories[i];
        bufStr(&b, i ? ",\n      {" : "\n      {");
        bufStr(&b, "\"code\": ");
        jStr(&b, g->code);
        bufStr(&b, ", \"name\": ");
        jStr(&b, g->name);
        bufStr(&b, ", \"weighed\": ");
        bufStr(&b, g->weighed ? "true" : "false");
        bufStr(&b, ", \"weight\": ");
        bufInt(&b, g->weight);
        bufStr(&b, ", \"skus\": ");
        bufInt(&b, g->n_skus);
        bufChar(&b, '}');
    }
    bufStr(&b, "\n    ],\n    \"skus\": [");
    for (int i = 0; i < cat->n_skus; i++) {
        const ly_sim_sku *k = &cat->skus[i];
        bufStr(&b, i ? ",\n      {" : "\n      {");
        bufStr(&b, "\"sku\": ");
        jStr(&b, k->code);
        bufStr(&b, ", \"name\": ");
        jStr(&b, k->name);
        bufStr(&b, ", \"category\": ");
        jStr(&b, cat->categories[k->category].name);
        bufStr(&b, ", \"brand\": ");
        jStr(&b, cat->brands[k->category * 4 + k->tier]);
        bufStr(&b, ", \"tier\": ");
        bufInt(&b, k->tier + 1);
        bufStr(&b, ", \"price\": ");
        jMoney(&b, k->price, mu);
        bufStr(&b, ", \"weighed\": ");
        bufStr(&b, k->weighed ? "true" : "false");
        bufStr(&b, ", \"ladder\": ");
        bufInt(&b, k->ladder);
        bufStr(&b, ", \"ladder_size\": ");
        bufInt(&b, cat->categories[k->category].n_skus);
        bufChar(&b, '}');
    }
    bufStr(&b, "\n    ]\n  }\n}\n");
    int rc = 0;
    if (b.nomem || fwrite(b.p, 1, b.n, f) != b.n || fflush(f) != 0) rc = -1;
    free(b.p);
    return rc;
}
