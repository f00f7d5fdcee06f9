/*
 * receipts.c - receipts with their lines and pricing, and returns (store.h).
 *
 * A receipt is one row in receipts and one per line in receipt_lines, written with one
 * cached statement each: the confirm of a receipt is the hot path of the whole system.
 */
#include "store/internal.h"


/* Allocates n (at least one) zeroed elements of size in the arena. */
static void *arenaArray(ly_arena *a, size_t n, size_t size)
{
    if (n > SIZE_MAX / size) return NULL;
    return ly_arena_alloc(a, (n ? n : 1) * size);
}

ly_err ly_db_receipt_find(ly_db *db, const char *receipt_id, ly_arena *a, ly_stored_receipt *out,
                          ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RECEIPT_FIND,
        "SELECT id, customer_id, id_kind, store, channel, cashier, payment, time, utc_offset,"
        " n_lines, total, discount, paid, points_earned, points_redeemed, max_redeem, lot_id,"
        " redeemed_expiry, program_version, request_hash, response, created_at"
        " FROM receipts WHERE receipt_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "receipt_not_found", "receipt_id",
                            "no receipt %s", receipt_id ? receipt_id : "");
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);

    memset(out, 0, sizeof *out);
    ly_receipt *r = &out->receipt;
    ly_pricing *p = &out->pricing;
    out->rowid = ly__col_i64(st, 0);
    out->customer_id = ly__col_i64(st, 1);
    const char *kind = (const char *)sqlite3_column_text(st, 2);
    if (!kind || !ly_id_kind_parse(kind, &out->id_kind)) out->id_kind = LY_ID_KIND_COUNT;
    const char *channel = (const char *)sqlite3_column_text(st, 4);
    if (!channel || !ly_sales_channel_parse(channel, &r->channel)) r->channel = LY_SALES_STORE;
    r->time = ly__col_i64(st, 7);
    r->utc_offset_min = sqlite3_column_int(st, 8);
    int64_t n = ly__col_i64(st, 9);
    r->total = p->total = ly__col_i64(st, 10);
    p->discount = ly__col_i64(st, 11);
    p->paid = ly__col_i64(st, 12);
    p->earn = ly__col_i64(st, 13);
    p->redeem = ly__col_i64(st, 14);
    p->max_redeem = ly__col_i64(st, 15);
    out->lot_id = ly__col_i64(st, 16);
    out->redeemed_expiry = ly__col_i64(st, 17);
    ly__col_hash(st, 19, out->request_hash);
    out->created_at = ly__col_i64(st, 21);
    size_t nl = n > 0 ? (size_t)n : 0;
    ly_line *lines = arenaArray(a, nl, sizeof *lines);
    p->lines = arenaArray(a, nl, sizeof *p->lines);
    out->returned = arenaArray(a, nl, sizeof *out->returned);
    bool ok = lines && p->lines && out->returned &&
              ly__col_text(st, 20, a, &out->response) &&
              ly__col_text(st, 18, a, &out->program_version) &&
              ly__col_text(st, 3, a, &r->store) && ly__col_text(st, 5, a, &r->cashier) &&
              ly__col_text(st, 6, a, &r->payment) &&
              (r->receipt_id = ly_arena_strdup(a, receipt_id)) != NULL;
    r->lines = lines;
    r->n_lines = nl;

    /* The receipt statement stays on its row while the lines are read: one snapshot. */
    sqlite3_stmt *ls = ok ? ly__stmt(db, STMT_RECEIPT_LINES,
        "SELECT line_no, sku, name, category, brand, qty, price, amount, discount,"
        " points_earned, points_redeemed, returned_qty"
        " FROM receipt_lines WHERE receipt = ?1 ORDER BY line_no", err) : NULL;
    ly_err res = LY_OK;
    if (!ok) res = ly__oom(err);
    else if (!ls) res = LY_EIO;
    else if (ly__bind_i64(ls, 1, out->rowid)) res = ly__db_fail(db, ls, err);
    while (res == LY_OK && (rc = sqlite3_step(ls)) == SQLITE_ROW) {
        int64_t i = ly__col_i64(ls, 0);
        if (i < 0 || (size_t)i >= nl) continue; /* cannot happen: n_lines counts them */
        ly_line *l = &lines[i];
        ly_line_price *lp = &p->lines[i];
        if (!ly__col_text(ls, 1, a, &l->sku) || !ly__col_text(ls, 2, a, &l->name) ||
            !ly__col_text(ls, 3, a, &l->category) || !ly__col_text(ls, 4, a, &l->brand)) {
            res = ly__oom(err);
            break;
        }
        l->qty = ly__col_i64(ls, 5);
        l->price = ly__col_i64(ls, 6);
        l->amount = ly__col_i64(ls, 7);
        lp->discount = ly__col_i64(ls, 8);
        lp->points_earned = ly__col_i64(ls, 9);
        lp->points_redeemed = ly__col_i64(ls, 10);
        out->returned[i] = ly__col_i64(ls, 11);
    }
    if (res == LY_OK && rc != SQLITE_DONE) res = ly__db_fail(db, ls, err);
    if (ls) ly__stmt_done(ls);
    ly__stmt_done(st);
    return res;
}

ly_err ly_db_receipt_insert(ly_db *db, ly_stored_receipt *r, ly_error *err)
{
    const ly_receipt *rec = &r->receipt;
    const ly_pricing *p = &r->pricing;
    sqlite3_stmt *st = ly__stmt(db, STMT_RECEIPT_INSERT,
        "INSERT INTO receipts(receipt_id, customer_id, id_kind, store, channel, cashier,"
        " payment, time, utc_offset, n_lines, total, discount, paid, points_earned,"
        " points_redeemed, max_redeem, lot_id, redeemed_expiry, program_version, request_hash,"
        " response, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,"
        " ?18, ?19, ?20, ?21, ?22)", err);
    if (!st) return LY_EIO;
    const char *kind = r->id_kind < LY_ID_KIND_COUNT ? ly_id_kind_name(r->id_kind) : NULL;
    if (ly__bind_text(st, 1, rec->receipt_id) || ly__bind_ref(st, 2, r->customer_id) ||
        ly__bind_text(st, 3, kind) || ly__bind_text(st, 4, rec->store) ||
        ly__bind_text(st, 5, ly_sales_channel_name(rec->channel)) ||
        ly__bind_text(st, 6, rec->cashier) || ly__bind_text(st, 7, rec->payment) ||
        ly__bind_i64(st, 8, rec->time) || ly__bind_i64(st, 9, rec->utc_offset_min) ||
        ly__bind_i64(st, 10, (int64_t)rec->n_lines) || ly__bind_i64(st, 11, rec->total) ||
        ly__bind_i64(st, 12, p->discount) || ly__bind_i64(st, 13, p->paid) ||
        ly__bind_i64(st, 14, p->earn) || ly__bind_i64(st, 15, p->redeem) ||
        ly__bind_i64(st, 16, p->max_redeem) || ly__bind_ref(st, 17, r->lot_id) ||
        ly__bind_i64(st, 18, r->redeemed_expiry) || ly__bind_text(st, 19, r->program_version) ||
        ly__bind_hash(st, 20, r->request_hash) ||
        ly__bind_text(st, 21, r->response ? r->response : "") ||
        ly__bind_i64(st, 22, r->created_at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    if (rc == LY_ECONFLICT)
        return ly_error_set(err, LY_ECONFLICT, "receipt_exists", "receipt_id",
                            "receipt %s is already stored", rec->receipt_id);
    if (rc != LY_OK) return rc;
    r->rowid = sqlite3_last_insert_rowid(db->conn);

    sqlite3_stmt *ls = ly__stmt(db, STMT_LINE_INSERT,
        "INSERT INTO receipt_lines(receipt, line_no, sku, name, category, brand, qty, price,"
        " amount, discount, points_earned, points_redeemed, returned_qty)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", err);
    if (!ls) return LY_EIO;
    for (size_t i = 0; i < rec->n_lines; i++) {
        const ly_line *l = &rec->lines[i];
        const ly_line_price *lp = p->lines ? &p->lines[i] : &(ly_line_price){0, 0, 0};
        if (ly__bind_i64(ls, 1, r->rowid) || ly__bind_i64(ls, 2, (int64_t)i) ||
            ly__bind_text(ls, 3, l->sku) || ly__bind_text(ls, 4, l->name) ||
            ly__bind_text(ls, 5, l->category) || ly__bind_text(ls, 6, l->brand) ||
            ly__bind_i64(ls, 7, l->qty) || ly__bind_i64(ls, 8, l->price) ||
            ly__bind_i64(ls, 9, l->amount) || ly__bind_i64(ls, 10, lp->discount) ||
            ly__bind_i64(ls, 11, lp->points_earned) || ly__bind_i64(ls, 12, lp->points_redeemed) ||
            ly__bind_i64(ls, 13, r->returned ? r->returned[i] : 0))
            return ly__db_fail(db, ls, err);
        rc = ly__exec(db, ls, err);
        if (rc != LY_OK) return rc;
    }
    return LY_OK;
}

ly_err ly_db_receipt_returned(ly_db *db, const ly_stored_receipt *r, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_LINE_RETURNED,
        "UPDATE receipt_lines SET returned_qty = ?3 WHERE receipt = ?1 AND line_no = ?2", err);
    if (!st) return LY_EIO;
    for (size_t i = 0; i < r->receipt.n_lines; i++) {
        if (ly__bind_i64(st, 1, r->rowid) || ly__bind_i64(st, 2, (int64_t)i) ||
            ly__bind_i64(st, 3, r->returned[i]))
            return ly__db_fail(db, st, err);
        ly_err rc = ly__exec(db, st, err);
        if (rc != LY_OK) return rc;
        if (sqlite3_changes(db->conn) == 0)
            return ly_error_set(err, LY_ENOTFOUND, "receipt_not_found", NULL,
                                "receipt %lld has no line %zu", (long long)r->rowid, i);
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Returns
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_return_find(ly_db *db, const char *return_id, ly_arena *a, ly_stored_return *out,
                         ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RETURN_FIND,
        "SELECT id, receipt, time, n_lines, amount, points_taken, points_refunded,"
        " points_forgiven, request_hash, response, created_at"
        " FROM returns WHERE return_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, return_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "return_not_found", "return_id",
                            "no return %s", return_id ? return_id : "");
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);

    memset(out, 0, sizeof *out);
    out->rowid = ly__col_i64(st, 0);
    out->receipt_rowid = ly__col_i64(st, 1);
    out->time = ly__col_i64(st, 2);
    int64_t n = ly__col_i64(st, 3);
    out->amount = ly__col_i64(st, 4);
    out->points_taken = ly__col_i64(st, 5);
    out->points_refunded = ly__col_i64(st, 6);
    out->points_forgiven = ly__col_i64(st, 7);
    ly__col_hash(st, 8, out->request_hash);
    out->created_at = ly__col_i64(st, 10);
    size_t cap = n > 0 ? (size_t)n : 0;
    out->lines = arenaArray(a, cap, sizeof *out->lines);
    bool ok = out->lines && ly__col_text(st, 9, a, &out->response) &&
              (out->return_id = ly_arena_strdup(a, return_id)) != NULL;

    sqlite3_stmt *ls = ok ? ly__stmt(db, STMT_RETURN_LINES,
        "SELECT line_no, qty, amount, points_taken, points_refunded"
        " FROM return_lines WHERE ret = ?1 ORDER BY line_no", err) : NULL;
    ly_err res = LY_OK;
    if (!ok) res = ly__oom(err);
    else if (!ls) res = LY_EIO;
    else if (ly__bind_i64(ls, 1, out->rowid)) res = ly__db_fail(db, ls, err);
    while (res == LY_OK && (rc = sqlite3_step(ls)) == SQLITE_ROW) {
        if (out->n_lines == cap) continue; /* cannot happen: n_lines counts them */
        ly_return_line *l = &out->lines[out->n_lines++];
        l->line = (size_t)ly__col_i64(ls, 0);
        l->qty = ly__col_i64(ls, 1);
        l->amount = ly__col_i64(ls, 2);
        l->points_taken = ly__col_i64(ls, 3);
        l->points_refunded = ly__col_i64(ls, 4);
    }
    if (res == LY_OK && rc != SQLITE_DONE) res = ly__db_fail(db, ls, err);
    if (ls) ly__stmt_done(ls);
    ly__stmt_done(st);
    return res;
}

ly_err ly_db_return_insert(ly_db *db, ly_stored_return *r, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RETURN_INSERT,
        "INSERT INTO returns(return_id, receipt, time, n_lines, amount, points_taken,"
        " points_refunded, points_forgiven, request_hash, response, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, r->return_id) || ly__bind_i64(st, 2, r->receipt_rowid) ||
        ly__bind_i64(st, 3, r->time) || ly__bind_i64(st, 4, (int64_t)r->n_lines) ||
        ly__bind_i64(st, 5, r->amount) || ly__bind_i64(st, 6, r->points_taken) ||
        ly__bind_i64(st, 7, r->points_refunded) || ly__bind_i64(st, 8, r->points_forgiven) ||
        ly__bind_hash(st, 9, r->request_hash) ||
        ly__bind_text(st, 10, r->response ? r->response : "") ||
        ly__bind_i64(st, 11, r->created_at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    if (rc == LY_ECONFLICT)
        return ly_error_set(err, LY_ECONFLICT, "return_exists", "return_id",
                            "return %s is already stored", r->return_id);
    if (rc != LY_OK) return rc;
    r->rowid = sqlite3_last_insert_rowid(db->conn);

    sqlite3_stmt *ls = ly__stmt(db, STMT_RETURN_LINE_INSERT,
        "INSERT INTO return_lines(ret, line_no, qty, amount, points_taken, points_refunded)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!ls) return LY_EIO;
    for (size_t i = 0; i < r->n_lines; i++) {
        const ly_return_line *l = &r->lines[i];
        if (ly__bind_i64(ls, 1, r->rowid) || ly__bind_i64(ls, 2, (int64_t)l->line) ||
            ly__bind_i64(ls, 3, l->qty) || ly__bind_i64(ls, 4, l->amount) ||
            ly__bind_i64(ls, 5, l->points_taken) || ly__bind_i64(ls, 6, l->points_refunded))
            return ly__db_fail(db, ls, err);
        rc = ly__exec(db, ls, err);
        if (rc != LY_OK) return rc;
    }
    return LY_OK;
}
