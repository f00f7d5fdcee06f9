/*
 * source_csv.c - receipt sources for the analytics (analytics.h): a CSV file in one of the
 * named layouts or with a column mapping, a sorting wrapper for files that are not in time
 * order per customer, and an array of receipts held by the caller.
 *
 * The CSV source reads the file with the reader of os/csv.h, row by row. Consecutive rows
 * with the same receipt id form one receipt; the receipt being built and the one finished
 * live in two buffers that swap. A reader thread does that work ahead of the analysis: it
 * hands finished receipts over in batches (BATCHES of at most BATCH_RECEIPTS receipts or
 * about BATCH_BYTES of text each), so reading and parsing the file overlap the engine's
 * pass; the order of the receipts is the file's. Memory is bounded by the batches. The one
 * exception is the online_retail layout, whose export repeats invoices (the two sheets of
 * Online Retail II overlap): it keeps a 16-byte fingerprint per invoice to drop exact
 * repeats, as `loyal import` does.
 */
#include "analytics/an_internal.h"
#include "os/csv.h"

#include <ctype.h>
#include <pthread.h>
#include <strings.h>

bool ly_an_layout_parse(const char *s, ly_an_layout *out)
{
    static const char *const names[] = {"loyal", "online_retail", "cdnow", "cdnow_sample",
                                        "baskets"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (ly_an_layout)i;
            return true;
        }
    return false;
}

/* ---------------------------------------------------------------------------------------
 * Fields
 * ------------------------------------------------------------------------------------- */

typedef enum field {
    F_RECEIPT_ID = 0,
    F_TIME,
    F_STORE,
    F_CHANNEL,
    F_CASHIER,
    F_CUSTOMER,
    F_EXTERNAL,
    F_CARD,
    F_PHONE,
    F_EMAIL,
    F_SKU,
    F_CATEGORY,
    F_BRAND,
    F_QTY,
    F_PRICE,
    F_AMOUNT,
    F_COST,
    F_RETURN_OF,
    F_REFERRER,
    F_COUNT
} field;

static const char *const fieldNames[F_COUNT] = {
    "receipt_id", "time", "store", "channel", "cashier", "customer", "customer_external_id",
    "customer_card", "customer_phone", "customer_email", "sku", "category", "brand", "qty",
    "price", "amount", "cost", "return_of", "referrer"};

static const char *const onlineRetailColumns[F_COUNT] = {
    [F_RECEIPT_ID] = "Invoice", [F_SKU] = "StockCode", [F_QTY] = "Quantity",
    [F_TIME] = "InvoiceDate", [F_PRICE] = "Price", [F_EXTERNAL] = "Customer ID",
    [F_STORE] = "Country"};

/* ---------------------------------------------------------------------------------------
 * A receipt under construction: strings in one buffer by offset (+1; 0 is NULL)
 * ------------------------------------------------------------------------------------- */

typedef struct bline {
    size_t sku, category, brand;
    ly_qty qty;
    ly_money price, amount, cost;
} bline;

typedef struct rbuf {
    char *str;
    size_t len, cap;
    bline *lines;
    size_t n_lines, lines_cap;
    ly_an_line *out;
    size_t out_cap;
    size_t rid, customer, store, channel, cashier, referrer, return_of;
    ly_time time;
    int offset;
    bool is_return;
    long line;
    uint64_t fingerprint;
    ly_money total;
} rbuf;

/* What one row says, before it joins a receipt. */
typedef struct row {
    const char *v[F_COUNT]; /* values; "" when absent; trimmed unless marked in raw */
    uint32_t raw;           /* fields still as the CSV reader gave them: trimmed on first use
                             * (a receipt's later rows never read the receipt's fields) */
    char buf[F_COUNT][512];
} row;

#define BATCHES 4
#define BATCH_RECEIPTS 1024
#define BATCH_BYTES (1u << 19)

/* Receipts handed from the reader thread to the analysis. */
typedef struct batch {
    rbuf rb[BATCH_RECEIPTS];       /* the receipts, made into ly_an_receipt by next() */
    size_t n;
    int status;                    /* after these: 1 more follow, 0 the end, -1 an error */
} batch;

typedef struct csvSrc {
    FILE *f;
    ly_csv *csv;
    char name[128];
    uint64_t size;
    ly_an_csv_options opt;
    int col[F_COUNT];       /* column index of each field, -1 when absent */
    rbuf a, b, *cur, *ready;
    bool header_done, eof;
    ly__u64map seen;        /* online_retail: invoice id hash -> index into fps */
    uint64_t *fps;
    size_t n_fps, fps_cap;
    int64_t duplicates;
    row row;                /* the row just read */
    /* the reader thread (threaded false: next() parses in the caller's thread) */
    bool threaded, stop, holding;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t filled_cv, free_cv;
    batch *batches;         /* BATCHES, a ring */
    size_t n_filled;        /* batches handed over and not yet given back */
    size_t prod_at, cons_at, cons_i;
    ly_error perr;          /* the reader's error, for status -1 */
} csvSrc;

static size_t putStr(rbuf *b, const char *s, bool *ok)
{
    if (!s) return 0;
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->str, cap);
        if (!p) {
            *ok = false;
            return 0;
        }
        b->str = p;
        b->cap = cap;
    }
    memcpy(b->str + b->len, s, n + 1);
    size_t off = b->len + 1;
    b->len += n + 1;
    return off;
}

static const char *getStr(const rbuf *b, size_t off)
{
    return off ? b->str + off - 1 : NULL;
}

static void rbufClear(rbuf *b)
{
    b->len = 0;
    b->n_lines = 0;
    b->rid = b->customer = b->store = b->channel = b->cashier = b->referrer = b->return_of = 0;
    b->total = 0;
    b->fingerprint = 1469598103934665603ULL;
}

static void rbufFree(rbuf *b)
{
    free(b->str);
    free(b->lines);
    free(b->out);
}

static ly_err bad(ly_error *err, long line, const char *code, const char *fmt, const char *a,
                  const char *b)
{
    char where[32];
    snprintf(where, sizeof where, "line %ld", line);
    return ly_error_set(err, LY_EINVAL, code, where, fmt, a, b);
}

/* A field without its surrounding blanks, cut to size - 1 bytes: s itself past its leading
 * blanks when nothing has to go at the end (most fields), else a copy in buf. */
static const char *trimmed(const char *s, char *buf, size_t size)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s), all = n;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (n >= size) n = size - 1;
    if (n == all) return s;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static bool parseDecimal(const csvSrc *s, const char *v, int scale, int64_t *out)
{
    if (s->opt.delimiter != ',' && strchr(v, ',')) {
        char tmp[64];
        size_t n = strlen(v);
        if (n >= sizeof tmp) return false;
        for (size_t i = 0; i <= n; i++) tmp[i] = v[i] == ',' ? '.' : v[i];
        return ly_decimal_parse(tmp, scale, out);
    }
    return ly_decimal_parse(v, scale, out);
}

/* A time: RFC 3339 with an offset, or a local "YYYY-MM-DD[ T]HH:MM[:SS]" / "YYYY-MM-DD" /
 * "YYYYMMDD" taken at offset 0 (analytics count local days, so local time is what counts). */
static bool parseTime(const char *v, ly_time *t, int *offset)
{
    if (ly_time_parse(v, t, offset)) return true;
    *offset = 0;
    int64_t days;
    char date[11];
    size_t n = strlen(v);
    if (n == 8) {
        for (int i = 0; i < 8; i++)
            if (!isdigit((unsigned char)v[i])) return false;
        snprintf(date, sizeof date, "%.4s-%.2s-%.2s", v, v + 4, v + 6);
        if (!ly_date_parse(date, &days)) return false;
        *t = days * 86400;
        return true;
    }
    if (n < 10) return false;
    memcpy(date, v, 10);
    date[10] = 0;
    if (!ly_date_parse(date, &days)) return false;
    int64_t secs = 0;
    if (n > 10) {
        if (v[10] != ' ' && v[10] != 'T') return false;
        const char *p = v + 11;
        size_t len = strlen(p);
        if (len != 5 && len < 8) return false;
        int part[3] = {0, 0, 0};
        for (int i = 0; i < (len == 5 ? 2 : 3); i++) {
            const char *q = p + 3 * i;
            if (!isdigit((unsigned char)q[0]) || !isdigit((unsigned char)q[1])) return false;
            if (i < (len == 5 ? 1 : 2) && q[2] != ':') return false;
            part[i] = (q[0] - '0') * 10 + (q[1] - '0');
        }
        /* fractional seconds ("10:00:00.123") are ignored */
        if (len > 8 && p[8] != '.') return false;
        int hh = part[0], mm = part[1], ss = part[2];
        if (hh > 23 || mm > 59 || ss > 60) return false;
        secs = hh * 3600 + mm * 60 + ss;
    }
    *t = days * 86400 + secs;
    return true;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0x1f) * 1099511628211ULL;
}


static const char *rowField(csvSrc *s, row *r, field f)
{
    (void)s;
    if (r->raw & (1u << f)) {
        r->v[f] = trimmed(r->v[f], r->buf[f], sizeof r->buf[0]);
        r->raw &= ~(1u << f);
    }
    return r->v[f];
}

/* ---------------------------------------------------------------------------------------
 * Reading rows into receipts
 * ------------------------------------------------------------------------------------- */

/* Appends the row to b (which is empty or holds the same receipt). 1 added, 0 skipped
 * (an adjustment line of online_retail), -1 error. */
static int addRow(csvSrc *s, rbuf *b, row *r, long line, ly_error *err)
{
    bool ok = true;
    const int minor = s->opt.minor_units;
    bool first = b->n_lines == 0 && b->rid == 0;
    bool cdnow = s->opt.layout == LY_AN_LAYOUT_CDNOW || s->opt.layout == LY_AN_LAYOUT_CDNOW_SAMPLE;
    bool retail = s->opt.layout == LY_AN_LAYOUT_ONLINE_RETAIL;
    const char *rid = rowField(s, r, F_RECEIPT_ID);
    bool is_return = retail ? rid[0] == 'C' : rowField(s, r, F_RETURN_OF)[0] != 0;

    int64_t qty;
    if (!parseDecimal(s, rowField(s, r, F_QTY), 3, &qty)) {
        bad(err, line, "bad_value", "column %s: '%s' is not a quantity", fieldNames[F_QTY],
            rowField(s, r, F_QTY));
        return -1;
    }
    ly_money amount = 0, price = 0, cost = -1;
    if (cdnow) {
        if (!parseDecimal(s, rowField(s, r, F_AMOUNT), minor, &amount) || amount < 0 || qty < 0) {
            bad(err, line, "bad_value", "'%s %s' is not a number of CDs and a dollar amount",
                rowField(s, r, F_QTY), rowField(s, r, F_AMOUNT));
            return -1;
        }
        price = qty > 0 ? amount * 1000 / qty : amount;
    } else {
        const char *pv = rowField(s, r, F_PRICE), *av = rowField(s, r, F_AMOUNT);
        int64_t ps = 0, scale = 10000;
        bool has_price = pv[0] != 0;
        if (has_price && !parseDecimal(s, pv, minor + 4, &ps)) {
            bad(err, line, "bad_value", "column %s: '%s' is not a price", fieldNames[F_PRICE], pv);
            return -1;
        }
        if (retail) {
            if (is_return && qty >= 0) return 0;
            if (!is_return && (qty <= 0 || ps < 0)) return 0;
            if (qty < 0) qty = -qty;
            if (ps < 0) ps = -ps;
        } else if (qty <= 0 || ps < 0) {
            bad(err, line, "bad_value", "column %s: '%s' must be more than 0", fieldNames[F_QTY],
                rowField(s, r, F_QTY));
            return -1;
        }
        if (!ly_muldiv(ps, 1, scale, LY_ROUND_UP, &price) ||
            !ly_muldiv(qty, ps, 1000 * scale, LY_ROUND_HALF_UP, &amount)) {
            bad(err, line, "bad_value", "column %s: '%s' is out of range", fieldNames[F_PRICE], pv);
            return -1;
        }
        if (av[0] && !parseDecimal(s, av, minor, &amount)) {
            bad(err, line, "bad_value", "column %s: '%s' is not an amount", fieldNames[F_AMOUNT], av);
            return -1;
        }
        const char *cv = rowField(s, r, F_COST);
        if (cv[0] && !parseDecimal(s, cv, minor, &cost)) {
            bad(err, line, "bad_value", "column %s: '%s' is not an amount", fieldNames[F_COST], cv);
            return -1;
        }
        if (amount < 0 || amount > LY_AMOUNT_MAX) {
            bad(err, line, "bad_value", "column %s: '%s' is out of range", fieldNames[F_AMOUNT], av);
            return -1;
        }
    }

    if (first) {
        const char *tv = rowField(s, r, F_TIME);
        if (!parseTime(tv, &b->time, &b->offset)) {
            bad(err, line, "bad_value", "column %s: '%s' is not a time", fieldNames[F_TIME], tv);
            return -1;
        }
        b->line = line;
        b->is_return = is_return;
        b->rid = putStr(b, rid, &ok);
        const char *cust = rowField(s, r, F_CUSTOMER);
        for (field f = F_EXTERNAL; !cust[0] && f <= F_EMAIL; f++) cust = rowField(s, r, f);
        char idbuf[256];
        if (retail && cust[0]) {
            /* "13085.0" is customer 13085 */
            size_t n = strlen(cust);
            if (n > 2 && strcmp(cust + n - 2, ".0") == 0 && n - 2 < sizeof idbuf) {
                memcpy(idbuf, cust, n - 2);
                idbuf[n - 2] = 0;
                cust = idbuf;
            }
        }
        b->customer = cust[0] ? putStr(b, cust, &ok) : 0;
        const char *st = rowField(s, r, F_STORE);
        b->store = st[0] ? putStr(b, st, &ok) : 0;
        const char *ch = rowField(s, r, F_CHANNEL);
        b->channel = putStr(b, ch[0] ? ch : retail ? "online" : "store", &ok);
        const char *ca = rowField(s, r, F_CASHIER);
        b->cashier = ca[0] ? putStr(b, ca, &ok) : 0;
        const char *rf = rowField(s, r, F_REFERRER);
        b->referrer = rf[0] ? putStr(b, rf, &ok) : 0;
        const char *ro = rowField(s, r, F_RETURN_OF);
        b->return_of = ro[0] ? putStr(b, ro, &ok) : 0;
    }
    if (b->n_lines == b->lines_cap) {
        size_t cap = b->lines_cap ? b->lines_cap * 2 : 16;
        bline *v = realloc(b->lines, cap * sizeof *v);
        if (!v) {
            ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            return -1;
        }
        b->lines = v;
        b->lines_cap = cap;
    }
    bline *l = &b->lines[b->n_lines++];
    memset(l, 0, sizeof *l);
    const char *sku = rowField(s, r, F_SKU), *cat = rowField(s, r, F_CATEGORY),
               *brand = rowField(s, r, F_BRAND);
    l->sku = cdnow || !sku[0] ? 0 : putStr(b, sku, &ok);
    l->category = cat[0] ? putStr(b, cat, &ok) : 0;
    l->brand = brand[0] ? putStr(b, brand, &ok) : 0;
    l->qty = qty;
    l->price = price;
    l->amount = amount;
    l->cost = cost;
    b->total += amount;
    if (retail)
        for (int f = 0; f < F_COUNT; f++) b->fingerprint = fnv(b->fingerprint, rowField(s, r, (field)f));
    if (!ok) {
        ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return -1;
    }
    return 1;
}

/* Fills out from a finished receipt buffer. */
static bool emit(rbuf *b, ly_an_receipt *out)
{
    if (b->n_lines > b->out_cap) {
        ly_an_line *v = realloc(b->out, b->n_lines * sizeof *v);
        if (!v) return false;
        b->out = v;
        b->out_cap = b->n_lines;
    }
    for (size_t i = 0; i < b->n_lines; i++) {
        const bline *l = &b->lines[i];
        b->out[i] = (ly_an_line){.sku = getStr(b, l->sku), .category = getStr(b, l->category),
                                 .brand = getStr(b, l->brand), .qty = l->qty,
                                 .price = l->price, .amount = l->amount, .cost = l->cost};
    }
    memset(out, 0, sizeof *out);
    out->receipt_id = getStr(b, b->rid);
    out->customer = getStr(b, b->customer);
    out->store = getStr(b, b->store);
    out->channel = getStr(b, b->channel);
    out->cashier = getStr(b, b->cashier);
    out->referrer = getStr(b, b->referrer);
    out->return_of = getStr(b, b->return_of);
    out->time = b->time;
    out->utc_offset_min = b->offset;
    out->is_return = b->is_return;
    out->total = b->total;
    out->lines = b->out;
    out->n_lines = b->n_lines;
    out->line = b->line;
    return true;
}

/* Reads the next record into r. 1, 0 at the end, -1 on error. */
static int readRow(csvSrc *s, row *r, long *line, ly_error *err)
{
    for (;;) {
        int rc = ly_csv_next(s->csv);
        if (rc < 0) {
            char where[32];
            snprintf(where, sizeof where, "line %ld", ly_csv_line(s->csv));
            ly_error_set(err, LY_EINVAL, "bad_csv", where, "%s: %s", s->name, ly_csv_error(s->csv));
            return -1;
        }
        if (rc == 0) return 0;
        *line = ly_csv_line(s->csv);
        for (int f = 0; f < F_COUNT; f++) r->v[f] = "";
        r->raw = 0;
        if (s->opt.layout == LY_AN_LAYOUT_CDNOW || s->opt.layout == LY_AN_LAYOUT_CDNOW_SAMPLE) {
            /* whitespace separated: the non-empty fields in order */
            const char *vals[8];
            size_t n = 0;
            for (size_t i = 0; i < ly_csv_nfields(s->csv) && n < 8; i++) {
                const char *v = ly_csv_field(s->csv, i);
                if (v[0]) vals[n++] = v;
            }
            if (n == 0) continue;
            size_t want = s->opt.layout == LY_AN_LAYOUT_CDNOW ? 4 : 5;
            if (n != want) {
                char got[16], need[16];
                snprintf(got, sizeof got, "%zu", n);
                snprintf(need, sizeof need, "%zu", want);
                bad(err, *line, "bad_value", "%s fields where %s are expected", got, need);
                return -1;
            }
            size_t o = want == 5 ? 1 : 0;
            r->v[F_CUSTOMER] = trimmed(vals[0], r->buf[F_CUSTOMER], sizeof r->buf[0]);
            r->v[F_TIME] = trimmed(vals[1 + o], r->buf[F_TIME], sizeof r->buf[0]);
            r->v[F_QTY] = trimmed(vals[2 + o], r->buf[F_QTY], sizeof r->buf[0]);
            r->v[F_AMOUNT] = trimmed(vals[3 + o], r->buf[F_AMOUNT], sizeof r->buf[0]);
            snprintf(r->buf[F_RECEIPT_ID], sizeof r->buf[0], "%ld", *line);
            r->v[F_RECEIPT_ID] = r->buf[F_RECEIPT_ID];
            return 1;
        }
        for (int f = 0; f < F_COUNT; f++)
            if (s->col[f] >= 0) {
                r->v[f] = ly_csv_field(s->csv, (size_t)s->col[f]);
                r->raw |= 1u << f;
            }
        rowField(s, r, F_RECEIPT_ID);
        if (!r->v[F_RECEIPT_ID][0]) {
            bad(err, *line, "bad_value", "column %s: %s", fieldNames[F_RECEIPT_ID], "empty");
            return -1;
        }
        return 1;
    }
}

/* Whether the finished receipt b repeats one seen before (online_retail). -1 on a clash or
 * out of memory. */
static int isRepeat(csvSrc *s, rbuf *b, ly_error *err)
{
    if (s->opt.layout != LY_AN_LAYOUT_ONLINE_RETAIL) return 0;
    uint64_t key = fnv(0x9e3779b97f4a7c15ULL, getStr(b, b->rid));
    bool added;
    uint32_t *slot = ly__u64map_put(&s->seen, key, (uint32_t)s->n_fps, &added);
    if (!slot) goto nomem;
    if (added) {
        if (s->n_fps == s->fps_cap) {
            size_t cap = s->fps_cap ? s->fps_cap * 2 : 1024;
            uint64_t *v = realloc(s->fps, cap * sizeof *v);
            if (!v) goto nomem;
            s->fps = v;
            s->fps_cap = cap;
        }
        s->fps[s->n_fps++] = b->fingerprint;
        return 0;
    }
    if (s->fps[*slot] == b->fingerprint) {
        s->duplicates++;
        return 1;
    }
    bad(err, b->line, "duplicate_receipt", "invoice %s%s comes again with other rows",
        getStr(b, b->rid), "");
    return -1;
nomem:
    ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    return -1;
}

/* The baskets layout: every record is one anonymous sale whose non-empty fields are its
 * items (sku = category = the item, one piece at price 0), all at BASKET_TIME. */
#define BASKET_TIME ((ly_time)946684800) /* 2000-01-01T00:00:00Z */

static int basketNext(csvSrc *s, ly_an_receipt *out, ly_error *err)
{
    rbuf *b = s->ready;
    for (;;) {
        int rc = ly_csv_next(s->csv);
        if (rc < 0) {
            char where[32];
            snprintf(where, sizeof where, "line %ld", ly_csv_line(s->csv));
            ly_error_set(err, LY_EINVAL, "bad_csv", where, "%s: %s", s->name, ly_csv_error(s->csv));
            return -1;
        }
        if (rc == 0) return 0;
        rbufClear(b);
        bool ok = true;
        long line = ly_csv_line(s->csv);
        char id[24];
        snprintf(id, sizeof id, "%ld", line);
        b->line = line;
        b->time = BASKET_TIME;
        b->offset = 0;
        b->is_return = false;
        b->rid = putStr(b, id, &ok);
        b->channel = putStr(b, "store", &ok);
        for (size_t i = 0; ok && i < ly_csv_nfields(s->csv); i++) {
            const char *item = trimmed(ly_csv_field(s->csv, i), s->row.buf[0], sizeof s->row.buf[0]);
            if (!item[0]) continue;
            if (b->n_lines == b->lines_cap) {
                size_t cap = b->lines_cap ? b->lines_cap * 2 : 16;
                bline *v = realloc(b->lines, cap * sizeof *v);
                if (!v) {
                    ok = false;
                    break;
                }
                b->lines = v;
                b->lines_cap = cap;
            }
            size_t off = putStr(b, item, &ok);
            b->lines[b->n_lines++] = (bline){.sku = off, .category = off, .qty = 1000, .cost = -1};
        }
        if (!ok || (b->n_lines && out && !emit(b, out))) {
            ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            return -1;
        }
        if (b->n_lines) return 1; /* a record of empty fields holds no basket */
    }
}

/* The next receipt, parsed here; it lives in *s->ready until the next call. out NULL: only
 * *s->ready is filled (the reader thread makes the receipt after moving the buffers). */
static int parseNext(void *ctx, ly_an_receipt *out, ly_error *err)
{
    csvSrc *s = ctx;
    if (s->opt.layout == LY_AN_LAYOUT_BASKETS) return basketNext(s, out, err);
    row *r = &s->row;
    int result = 0;
    for (;;) {
        long line = 0;
        int rc = s->eof ? 0 : readRow(s, r, &line, err);
        if (rc < 0) {
            result = -1;
            break;
        }
        bool finished = false;
        if (rc == 0) {
            s->eof = true;
            if (s->cur->rid == 0) break;
            finished = true;
        } else if (s->cur->rid != 0 && strcmp(getStr(s->cur, s->cur->rid), r->v[F_RECEIPT_ID]) != 0) {
            finished = true;
        }
        if (finished) {
            rbuf *done = s->cur;
            s->cur = s->ready;
            s->ready = done;
            rbufClear(s->cur);
            if (rc > 0 && addRow(s, s->cur, r, line, err) < 0) {
                result = -1;
                break;
            }
            int rep = isRepeat(s, done, err);
            if (rep < 0) {
                result = -1;
                break;
            }
            if (rep) continue;
            if (out && !emit(done, out)) {
                ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
                result = -1;
                break;
            }
            result = 1;
            break;
        }
        if (addRow(s, s->cur, r, line, err) < 0) {
            result = -1;
            break;
        }
    }
    return result;
}

/* The reader thread: fills batches in ring order until the end, an error, or close. */
static void *reader(void *arg)
{
    csvSrc *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->n_filled == BATCHES && !s->stop) pthread_cond_wait(&s->free_cv, &s->mu);
        bool stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) break;
        batch *b = &s->batches[s->prod_at];
        b->n = 0;
        b->status = 1;
        size_t bytes = 0;
        while (b->n < BATCH_RECEIPTS && bytes < BATCH_BYTES) {
            int rc = parseNext(s, NULL, &s->perr);
            if (rc <= 0) {
                b->status = rc;
                break;
            }
            /* the finished receipt's buffers go into the batch, the slot's old ones back */
            rbuf *slot = &b->rb[b->n], t = *slot;
            *slot = *s->ready;
            *s->ready = t;
            bytes += slot->len + slot->n_lines * sizeof(bline);
            b->n++;
        }
        pthread_mutex_lock(&s->mu);
        s->prod_at = (s->prod_at + 1) % BATCHES;
        s->n_filled++;
        pthread_cond_signal(&s->filled_cv);
        pthread_mutex_unlock(&s->mu);
        if (b->status <= 0) break;
    }
    return NULL;
}

/* next() with the reader thread: hands out the receipts of the batch it holds, giving the
 * batch back (and waiting for the next one) when they are used up. */
static int threadNext(void *ctx, ly_an_receipt *out, ly_error *err)
{
    csvSrc *s = ctx;
    for (;;) {
        if (s->holding) {
            batch *b = &s->batches[s->cons_at];
            if (s->cons_i < b->n) {
                if (!emit(&b->rb[s->cons_i++], out)) {
                    ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
                    return -1;
                }
                return 1;
            }
            if (b->status <= 0) {
                if (b->status < 0 && err) *err = s->perr;
                return b->status;
            }
            pthread_mutex_lock(&s->mu);
            s->holding = false;
            s->cons_at = (s->cons_at + 1) % BATCHES;
            s->cons_i = 0;
            s->n_filled--;
            pthread_cond_signal(&s->free_cv);
            pthread_mutex_unlock(&s->mu);
        }
        pthread_mutex_lock(&s->mu);
        while (s->n_filled == 0) pthread_cond_wait(&s->filled_cv, &s->mu);
        s->holding = true;
        pthread_mutex_unlock(&s->mu);
    }
}

static void csvClose(void *ctx)
{
    csvSrc *s = ctx;
    if (!s) return;
    if (s->threaded) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_signal(&s->free_cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->filled_cv);
        pthread_cond_destroy(&s->free_cv);
    }
    if (s->batches)
        for (size_t i = 0; i < BATCHES; i++)
            for (size_t j = 0; j < BATCH_RECEIPTS; j++) rbufFree(&s->batches[i].rb[j]);
    free(s->batches);
    ly_csv_close(s->csv);
    rbufFree(&s->a);
    rbufFree(&s->b);
    ly__u64map_free(&s->seen);
    free(s->fps);
    free(s);
}

static uint64_t csvProgress(void *ctx, uint64_t *total)
{
    csvSrc *s = ctx;
    *total = s->size;
    off_t at = ftello(s->f);
    return at > 0 ? (uint64_t)at : 0;
}

static bool columnIs(const char *have, const char *want)
{
    char buf[256];
    return strcasecmp(trimmed(have, buf, sizeof buf), want) == 0;
}

ly_err ly_an_csv_source_open(FILE *f, const char *name, uint64_t size,
                             const ly_an_csv_options *opt, ly_source *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    csvSrc *s = calloc(1, sizeof *s);
    if (!s) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    s->f = f;
    s->size = size;
    s->opt = *opt;
    if (s->opt.minor_units < 0 || s->opt.minor_units > 6) s->opt.minor_units = 2;
    snprintf(s->name, sizeof s->name, "%s", name ? name : "input");
    bool cdnow = opt->layout == LY_AN_LAYOUT_CDNOW || opt->layout == LY_AN_LAYOUT_CDNOW_SAMPLE;
    char delim = cdnow ? ' ' : opt->delimiter ? opt->delimiter : ',';
    s->opt.delimiter = delim;
    s->csv = ly_csv_open(f, delim);
    s->cur = &s->a;
    s->ready = &s->b;
    rbufClear(&s->a);
    rbufClear(&s->b);
    if (!s->csv) {
        csvClose(s);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    for (int i = 0; i < F_COUNT; i++) s->col[i] = -1;
    bool baskets = opt->layout == LY_AN_LAYOUT_BASKETS;
    if ((!cdnow && !baskets) || opt->layout == LY_AN_LAYOUT_CDNOW) {
        int rc = ly_csv_next(s->csv);
        if (rc <= 0) {
            ly_err e = ly_error_set(err, LY_EINVAL, rc < 0 ? "bad_csv" : "missing_column", "line 1",
                                    "%s: %s", s->name, rc < 0 ? ly_csv_error(s->csv) : "no header row");
            csvClose(s);
            return e;
        }
    }
    if (!cdnow && !baskets) {
        const char *cols[F_COUNT];
        for (int i = 0; i < F_COUNT; i++)
            cols[i] = opt->layout == LY_AN_LAYOUT_ONLINE_RETAIL ? onlineRetailColumns[i] : fieldNames[i];
        for (size_t m = 0; m < opt->n_map; m++) {
            int fi = -1;
            for (int i = 0; i < F_COUNT; i++)
                if (strcmp(opt->map[2 * m], fieldNames[i]) == 0) fi = i;
            if (fi < 0) {
                ly_err e = ly_error_set(err, LY_EINVAL, "unknown_field", "--map",
                                        "no field named '%s'", opt->map[2 * m]);
                csvClose(s);
                return e;
            }
            cols[fi] = opt->map[2 * m + 1];
        }
        for (int i = 0; i < F_COUNT; i++) {
            if (!cols[i]) continue;
            for (size_t c = 0; c < ly_csv_nfields(s->csv); c++)
                if (columnIs(ly_csv_field(s->csv, c), cols[i])) {
                    s->col[i] = (int)c;
                    break;
                }
        }
        static const field required[] = {F_RECEIPT_ID, F_TIME, F_SKU, F_QTY, F_PRICE};
        for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
            if (s->col[required[i]] >= 0) continue;
            ly_err e = ly_error_set(err, LY_EINVAL, "missing_column", cols[required[i]],
                                    "%s: no column '%s' (field %s)", s->name,
                                    cols[required[i]] ? cols[required[i]] : "",
                                    fieldNames[required[i]]);
            csvClose(s);
            return e;
        }
    }
    out->ctx = s;
    out->next = parseNext;
    out->close = csvClose;
    out->progress = csvProgress;
    /* Read ahead in a thread when one can be had; else parse in next() itself. */
    s->batches = calloc(BATCHES, sizeof *s->batches);
    if (s->batches && pthread_mutex_init(&s->mu, NULL) == 0) {
        if (pthread_cond_init(&s->filled_cv, NULL) == 0) {
            if (pthread_cond_init(&s->free_cv, NULL) == 0) {
                if (pthread_create(&s->thread, NULL, reader, s) == 0) {
                    s->threaded = true;
                    out->next = threadNext;
                    return LY_OK;
                }
                pthread_cond_destroy(&s->free_cv);
            }
            pthread_cond_destroy(&s->filled_cv);
        }
        pthread_mutex_destroy(&s->mu);
    }
    free(s->batches);
    s->batches = NULL;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Sorting wrapper
 * ------------------------------------------------------------------------------------- */

typedef struct heldReceipt {
    ly_an_receipt r;
    size_t seq;
} heldReceipt;

typedef struct sortedSrc {
    ly_arena arena;
    heldReceipt **v;
    size_t n, cap, at;
} sortedSrc;

static char *keep(ly_arena *a, const char *s, bool *ok)
{
    if (!s) return NULL;
    char *c = ly_arena_strdup(a, s);
    if (!c) *ok = false;
    return c;
}

static int cmpHeld(const void *pa, const void *pb)
{
    const heldReceipt *a = *(heldReceipt *const *)pa, *b = *(heldReceipt *const *)pb;
    if (!a->r.customer != !b->r.customer) return a->r.customer ? 1 : -1;
    if (a->r.customer) {
        int c = strcmp(a->r.customer, b->r.customer);
        if (c) return c;
    }
    if (a->r.time != b->r.time) return a->r.time < b->r.time ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int sortedNext(void *ctx, ly_an_receipt *out, ly_error *err)
{
    sortedSrc *s = ctx;
    if (s->at == s->n) return 0;
    *out = s->v[s->at++]->r;
    return 1;
}

static void sortedClose(void *ctx)
{
    sortedSrc *s = ctx;
    if (!s) return;
    ly_arena_free(&s->arena);
    free(s->v);
    free(s);
}

ly_err ly_an_sorted_source(ly_source *inner, ly_source *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    sortedSrc *s = calloc(1, sizeof *s);
    ly_err rc = LY_OK;
    if (!s) rc = ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    ly_an_receipt r;
    while (rc == LY_OK) {
        int got = inner->next(inner->ctx, &r, err);
        if (got < 0) {
            rc = err && err->kind != LY_OK ? err->kind : LY_EINVAL;
            break;
        }
        if (got == 0) break;
        bool ok = true;
        heldReceipt *h = ly_arena_alloc(&s->arena, sizeof *h);
        ly_an_line *lines = ly_arena_alloc(&s->arena, (r.n_lines ? r.n_lines : 1) * sizeof *lines);
        if (!h || !lines) ok = false;
        if (ok && s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 1024;
            heldReceipt **v = realloc(s->v, cap * sizeof *v);
            if (v) {
                s->v = v;
                s->cap = cap;
            } else {
                ok = false;
            }
        }
        if (!ok) {
            rc = ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            break;
        }
        h->r = r;
        h->seq = s->n;
        h->r.receipt_id = keep(&s->arena, r.receipt_id, &ok);
        h->r.customer = keep(&s->arena, r.customer, &ok);
        h->r.store = keep(&s->arena, r.store, &ok);
        h->r.channel = keep(&s->arena, r.channel, &ok);
        h->r.cashier = keep(&s->arena, r.cashier, &ok);
        h->r.referrer = keep(&s->arena, r.referrer, &ok);
        h->r.return_of = keep(&s->arena, r.return_of, &ok);
        for (size_t i = 0; i < r.n_lines; i++) {
            lines[i] = r.lines[i];
            lines[i].sku = keep(&s->arena, r.lines[i].sku, &ok);
            lines[i].category = keep(&s->arena, r.lines[i].category, &ok);
            lines[i].brand = keep(&s->arena, r.lines[i].brand, &ok);
        }
        h->r.lines = lines;
        if (!ok) {
            rc = ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            break;
        }
        s->v[s->n++] = h;
    }
    if (inner->close) inner->close(inner->ctx);
    memset(inner, 0, sizeof *inner);
    if (rc != LY_OK) {
        sortedClose(s);
        return rc;
    }
    if (s->n) qsort(s->v, s->n, sizeof *s->v, cmpHeld);
    out->ctx = s;
    out->next = sortedNext;
    out->close = sortedClose;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Array source
 * ------------------------------------------------------------------------------------- */

typedef struct arraySrc {
    const ly_an_receipt *v;
    size_t n, at;
} arraySrc;

static int arrayNext(void *ctx, ly_an_receipt *out, ly_error *err)
{
    arraySrc *s = ctx;
    if (s->at == s->n) return 0;
    *out = s->v[s->at++];
    return 1;
}

static void arrayClose(void *ctx)
{
    free(ctx);
}

bool ly_an_array_source(const ly_an_receipt *receipts, size_t n, ly_source *out)
{
    memset(out, 0, sizeof *out);
    arraySrc *s = calloc(1, sizeof *s);
    if (!s) return false;
    s->v = receipts;
    s->n = n;
    out->ctx = s;
    out->next = arrayNext;
    out->close = arrayClose;
    return true;
}
