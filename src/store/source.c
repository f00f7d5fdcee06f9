/*
 * source.c - the store as a source of receipts for the analytics (store.h,
 * ly_store_source_open): every receipt and every return, per customer in time order,
 * anonymous receipts first, read with one prepared statement on a read connection.
 *
 * The statement joins receipts with their lines and returns with their lines (the sold
 * line's SKU, category and brand) into one stream ordered by customer, time, kind and id;
 * consecutive rows of one receipt or return are gathered into one ly_an_receipt. The row
 * that starts the next receipt stays current in the statement until the next call.
 */
#include "analytics/analytics.h"
#include "store/internal.h"

#include <stdio.h>
#include <stdlib.h>

static const char *const sourceSql =
    "SELECT 0 AS k, r.id AS rid, r.receipt_id, r.customer_id AS cust, r.store, r.channel,"
    " r.cashier, r.time AS t, r.utc_offset, l.line_no AS ln, l.sku, l.category, l.brand, l.qty,"
    " l.price, l.amount, NULL"
    " FROM receipts r JOIN receipt_lines l ON l.receipt = r.id"
    " UNION ALL "
    "SELECT 1, x.id, x.return_id, r.customer_id, r.store, r.channel, r.cashier, x.time,"
    " r.utc_offset, rl.line_no, l.sku, l.category, l.brand, rl.qty, l.price, rl.amount,"
    " r.receipt_id"
    " FROM returns x JOIN receipts r ON r.id = x.receipt"
    " JOIN return_lines rl ON rl.ret = x.id"
    " JOIN receipt_lines l ON l.receipt = r.id AND l.line_no = rl.line_no"
    " ORDER BY cust, t, k, rid, ln";

static const char *const countSql =
    "SELECT (SELECT count(*) FROM receipt_lines) + (SELECT count(*) FROM return_lines)";

typedef struct dbLine {
    size_t sku, category, brand;
    ly_qty qty;
    ly_money price, amount;
} dbLine;

typedef struct dbSrc {
    ly_db *db;
    sqlite3_stmt *st;
    bool pending; /* the statement stands on the first row of the next receipt */
    bool done;
    uint64_t rows, total_rows;
    char *str;
    size_t len, cap;
    dbLine *lines;
    size_t n_lines, lines_cap;
    ly_an_line *out;
    size_t out_cap;
    size_t rid, cust, store, channel, cashier, return_of;
    char custbuf[24];
} dbSrc;

static size_t keepText(dbSrc *s, sqlite3_stmt *st, int col, bool *ok)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t) return 0;
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap < s->len + n + 1) cap *= 2;
        char *p = realloc(s->str, cap);
        if (!p) {
            *ok = false;
            return 0;
        }
        s->str = p;
        s->cap = cap;
    }
    memcpy(s->str + s->len, t, n);
    s->str[s->len + n] = 0;
    size_t off = s->len + 1;
    s->len += n + 1;
    return off;
}

static const char *textAt(const dbSrc *s, size_t off)
{
    return off ? s->str + off - 1 : NULL;
}

static int dbNext(void *ctx, ly_an_receipt *out, ly_error *err)
{
    dbSrc *s = ctx;
    if (s->done) return 0;
    sqlite3_stmt *st = s->st;
    s->len = 0;
    s->n_lines = 0;
    int kind = -1;
    int64_t id = 0, cust = 0;
    bool ok = true;
    memset(out, 0, sizeof *out);
    for (;;) {
        if (!s->pending) {
            int rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) {
                s->done = true;
                break;
            }
            if (rc != SQLITE_ROW) {
                s->done = true;
                ly__db_fail(s->db, NULL, err);
                return -1;
            }
            s->rows++;
        }
        s->pending = false;
        int k = sqlite3_column_int(st, 0);
        int64_t rid = sqlite3_column_int64(st, 1);
        if (kind >= 0 && (k != kind || rid != id)) {
            s->pending = true;
            break;
        }
        if (kind < 0) {
            kind = k;
            id = rid;
            cust = sqlite3_column_int64(st, 3);
            s->rid = keepText(s, st, 2, &ok);
            s->store = keepText(s, st, 4, &ok);
            s->channel = keepText(s, st, 5, &ok);
            s->cashier = keepText(s, st, 6, &ok);
            s->return_of = keepText(s, st, 16, &ok);
            out->time = sqlite3_column_int64(st, 7);
            out->utc_offset_min = sqlite3_column_int(st, 8);
            out->is_return = k == 1;
        }
        if (s->n_lines == s->lines_cap) {
            size_t cap = s->lines_cap ? s->lines_cap * 2 : 32;
            dbLine *v = realloc(s->lines, cap * sizeof *v);
            if (!v) return ly__oom(err), -1;
            s->lines = v;
            s->lines_cap = cap;
        }
        dbLine *l = &s->lines[s->n_lines++];
        l->sku = keepText(s, st, 10, &ok);
        l->category = keepText(s, st, 11, &ok);
        l->brand = keepText(s, st, 12, &ok);
        l->qty = sqlite3_column_int64(st, 13);
        l->price = sqlite3_column_int64(st, 14);
        l->amount = sqlite3_column_int64(st, 15);
        if (!ok) return ly__oom(err), -1;
    }
    if (kind < 0) return 0;
    if (s->n_lines > s->out_cap) {
        ly_an_line *v = realloc(s->out, s->n_lines * sizeof *v);
        if (!v) return ly__oom(err), -1;
        s->out = v;
        s->out_cap = s->n_lines;
    }
    ly_money total = 0;
    for (size_t i = 0; i < s->n_lines; i++) {
        const dbLine *l = &s->lines[i];
        s->out[i] = (ly_an_line){.sku = textAt(s, l->sku), .category = textAt(s, l->category),
                                 .brand = textAt(s, l->brand), .qty = l->qty,
                                 .price = l->price, .amount = l->amount, .cost = -1};
        total += l->amount;
    }
    if (cust) {
        snprintf(s->custbuf, sizeof s->custbuf, "%lld", (long long)cust);
        out->customer = s->custbuf;
    }
    out->receipt_id = textAt(s, s->rid);
    out->store = textAt(s, s->store);
    out->channel = textAt(s, s->channel);
    out->cashier = textAt(s, s->cashier);
    out->return_of = textAt(s, s->return_of);
    out->total = total;
    out->lines = s->out;
    out->n_lines = s->n_lines;
    return 1;
}

static void dbClose(void *ctx)
{
    dbSrc *s = ctx;
    if (!s) return;
    sqlite3_finalize(s->st);
    free(s->str);
    free(s->lines);
    free(s->out);
    free(s);
}

static uint64_t dbProgress(void *ctx, uint64_t *total)
{
    dbSrc *s = ctx;
    *total = s->total_rows;
    return s->rows;
}

ly_err ly_store_source_open(ly_store *store, struct ly_source *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_db *db = ly_store_reader(store, err);
    if (!db) return LY_EIO;
    dbSrc *s = calloc(1, sizeof *s);
    if (!s) return ly__oom(err);
    s->db = db;
    sqlite3_stmt *cnt = NULL;
    if (sqlite3_prepare_v2(db->conn, countSql, -1, &cnt, NULL) != SQLITE_OK) {
        free(s);
        return ly__db_fail(db, NULL, err);
    }
    if (sqlite3_step(cnt) == SQLITE_ROW) s->total_rows = (uint64_t)sqlite3_column_int64(cnt, 0);
    sqlite3_finalize(cnt);
    if (sqlite3_prepare_v2(db->conn, sourceSql, -1, &s->st, NULL) != SQLITE_OK) {
        free(s);
        return ly__db_fail(db, NULL, err);
    }
    out->ctx = s;
    out->next = dbNext;
    out->close = dbClose;
    out->progress = dbProgress;
    return LY_OK;
}
