/*
 * ledger.c - lots of points, ledger entries, and `loyal check`'s verification of every
 * cached account against the ledger and the lots (store.h).
 */
#include "store/internal.h"

/* Columns id, points, remaining, active_at, expires_at, state from column `first` on. */
static bool readLot(sqlite3_stmt *st, int first, ly_lot *out)
{
    memset(out, 0, sizeof *out);
    out->id = ly__col_i64(st, first);
    out->points = ly__col_i64(st, first + 1);
    out->remaining = ly__col_i64(st, first + 2);
    out->active_at = ly__col_i64(st, first + 3);
    out->expires_at = ly__col_i64(st, first + 4);
    return ly__lot_state_parse((const char *)sqlite3_column_text(st, first + 5), &out->state);
}

static ly_err badLot(sqlite3_stmt *st, int64_t id, ly_error *err)
{
    ly__stmt_done(st);
    return ly_error_set(err, LY_EIO, "storage_error", NULL, "lot %lld has an unknown state",
                        (long long)id);
}

ly_err ly_db_lots_open(ly_db *db, int64_t customer_id, ly_arena *a, ly_lot **out, size_t *n,
                       ly_error *err)
{
    *out = NULL;
    *n = 0;
    /* Soonest expiry first, never-expiring last, ties by id: the order spending takes. */
    sqlite3_stmt *st = ly__stmt(db, STMT_LOTS_OPEN,
        "SELECT id, points, remaining, active_at, expires_at, state FROM lots"
        " WHERE customer_id = ?1 AND state IN ('pending', 'active')"
        " ORDER BY expires_at = 0, expires_at, id", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap && !ly__grow(a, (void **)out, *n, &cap, sizeof **out)) {
            ly__stmt_done(st);
            return ly__oom(err);
        }
        if (!readLot(st, 0, &(*out)[*n])) return badLot(st, (*out)[*n].id, err);
        (*n)++;
    }
    if (rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_lot_get(ly_db *db, int64_t lot_id, ly_lot *out, int64_t *customer_id,
                     ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_LOT_GET,
        "SELECT id, points, remaining, active_at, expires_at, state, customer_id FROM lots"
        " WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, lot_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "lot_not_found", NULL, "no lot %lld",
                            (long long)lot_id);
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    if (!readLot(st, 0, out)) return badLot(st, lot_id, err);
    if (customer_id) *customer_id = ly__col_i64(st, 6);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_lot_insert(ly_db *db, int64_t customer_id, ly_entry_kind source,
                        int64_t receipt_rowid, ly_lot *lot, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_LOT_INSERT,
        "INSERT INTO lots(customer_id, source, receipt, points, remaining, active_at,"
        " expires_at, state) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, ly_entry_kind_name(source)) ||
        ly__bind_ref(st, 3, receipt_rowid) || ly__bind_i64(st, 4, lot->points) ||
        ly__bind_i64(st, 5, lot->remaining) || ly__bind_i64(st, 6, lot->active_at) ||
        ly__bind_i64(st, 7, lot->expires_at) ||
        ly__bind_text(st, 8, ly__lot_state_name(lot->state)))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK) lot->id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

ly_err ly_db_lot_update(ly_db *db, const ly_lot *lot, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_LOT_UPDATE,
        "UPDATE lots SET remaining = ?2, state = ?3 WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, lot->id) || ly__bind_i64(st, 2, lot->remaining) ||
        ly__bind_text(st, 3, ly__lot_state_name(lot->state)))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK) return rc;
    if (sqlite3_changes(db->conn) == 0)
        return ly_error_set(err, LY_ENOTFOUND, "lot_not_found", NULL, "no lot %lld",
                            (long long)lot->id);
    return LY_OK;
}

ly_err ly_db_lots_due(ly_db *db, ly_time now, int64_t after, size_t limit, ly_arena *a,
                      int64_t **ids, size_t *n, ly_error *err)
{
    *ids = NULL;
    *n = 0;
    if (limit == 0) return LY_OK;
    /* Most of the day nothing is due (lots turn over at local midnights): two seeks on the
     * time-ordered partial indexes say so without scanning anyone's lots. */
    sqlite3_stmt *st = ly__stmt(db, STMT_LOTS_DUE_PROBE,
        "SELECT EXISTS (SELECT 1 FROM lots WHERE state = 'pending' AND active_at <= ?1)"
        " OR EXISTS (SELECT 1 FROM lots WHERE state = 'active' AND expires_at > 0"
        " AND expires_at <= ?1)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, now)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    bool any = sqlite3_column_int(st, 0) != 0;
    ly__stmt_done(st);
    if (!any) return LY_OK;

    /* Something is due: walk the open-lots index in customer order from `after`; every
     * column the filter needs is in the index, and the walk stops at `limit` customers. */
    st = ly__stmt(db, STMT_LOTS_DUE,
        "SELECT DISTINCT customer_id FROM lots"
        " WHERE state IN ('pending', 'active') AND customer_id > ?1"
        " AND ((state = 'pending' AND active_at <= ?2)"
        "   OR (state = 'active' AND expires_at > 0 AND expires_at <= ?2))"
        " ORDER BY customer_id LIMIT ?3", err);
    if (!st) return LY_EIO;
    int64_t lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
    if (ly__bind_i64(st, 1, after) || ly__bind_i64(st, 2, now) || ly__bind_i64(st, 3, lim))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **ids, ly__row_i64, a, (void **)ids, n, err);
}

/* ---------------------------------------------------------------------------------------
 * Ledger entries
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_entry_insert(ly_db *db, ly_entry *e, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_ENTRY_INSERT,
        "INSERT INTO ledger(customer_id, kind, available_delta, pending_delta, lot_id,"
        " receipt_id, return_id, ref, note, at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, e->customer_id) || ly__bind_text(st, 2, ly_entry_kind_name(e->kind)) ||
        ly__bind_i64(st, 3, e->delta.available) || ly__bind_i64(st, 4, e->delta.pending) ||
        ly__bind_ref(st, 5, e->lot_id) || ly__bind_text(st, 6, e->receipt_id) ||
        ly__bind_text(st, 7, e->return_id) || ly__bind_text(st, 8, e->ref) ||
        ly__bind_text(st, 9, e->note) || ly__bind_i64(st, 10, e->at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK) e->id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

ly_err ly_db_entries_page(ly_db *db, int64_t customer_id, int64_t before, size_t limit,
                          ly_arena *a, ly_entry **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_ENTRIES_PAGE,
        "SELECT id, kind, available_delta, pending_delta, lot_id, receipt_id, return_id, ref,"
        " note, at FROM ledger WHERE customer_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        err);
    if (!st) return LY_EIO;
    int64_t lim = limit > INT64_MAX ? INT64_MAX : (int64_t)limit;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, before > 0 ? before : INT64_MAX) ||
        ly__bind_i64(st, 3, lim))
        return ly__db_fail(db, st, err);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap && !ly__grow(a, (void **)out, *n, &cap, sizeof **out)) {
            ly__stmt_done(st);
            return ly__oom(err);
        }
        ly_entry *e = &(*out)[*n];
        memset(e, 0, sizeof *e);
        e->id = ly__col_i64(st, 0);
        e->customer_id = customer_id;
        if (!ly_entry_kind_parse((const char *)sqlite3_column_text(st, 1), &e->kind)) {
            ly__stmt_done(st);
            return ly_error_set(err, LY_EIO, "storage_error", NULL,
                                "ledger entry %lld has an unknown kind", (long long)e->id);
        }
        e->delta.available = ly__col_i64(st, 2);
        e->delta.pending = ly__col_i64(st, 3);
        e->lot_id = ly__col_i64(st, 4);
        e->at = ly__col_i64(st, 9);
        if (!ly__col_text(st, 5, a, &e->receipt_id) || !ly__col_text(st, 6, a, &e->return_id) ||
            !ly__col_text(st, 7, a, &e->ref) || !ly__col_text(st, 8, a, &e->note)) {
            ly__stmt_done(st);
            return ly__oom(err);
        }
        (*n)++;
    }
    if (rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Verification
 *
 * Three aggregates, each streamed in customer order, are merged here like sorted files:
 * the customers with their cached sums, the ledger summed per customer (GROUP BY on the
 * (customer_id, id) index), and the open lots summed per customer (GROUP BY on the open-lots
 * index). Nothing is held in memory but one row of each; the statements run inside one
 * read transaction so all three see the same committed state.
 * ------------------------------------------------------------------------------------- */

typedef struct cursor {
    sqlite3_stmt *st;
    bool row;       /* st is on a row */
    int64_t key;    /* its customer_id */
} cursor;

static ly_err cursorNext(ly_db *db, cursor *c, ly_error *err)
{
    int rc = sqlite3_step(c->st);
    c->row = rc == SQLITE_ROW;
    if (c->row) c->key = ly__col_i64(c->st, 0);
    else if (rc != SQLITE_DONE) return ly__db_fail(db, NULL, err);
    return LY_OK;
}

/* Moves c to the row of customer `key`, if it has one; true if it is there. Rows of
 * customers that do not exist (the foreign keys forbid them) are passed over. */
static ly_err cursorSeek(ly_db *db, cursor *c, int64_t key, bool *at, ly_error *err)
{
    while (c->row && c->key < key)
        if (cursorNext(db, c, err) != LY_OK) return LY_EIO;
    *at = c->row && c->key == key;
    return LY_OK;
}

typedef struct checkRun {
    void (*report)(void *ctx, const ly_mismatch *m);
    void *ctx;
    int64_t mismatches;
} checkRun;

static void mismatch(checkRun *r, int64_t customer_id, const char *what, int64_t recorded,
                     int64_t derived)
{
    r->mismatches++;
    if (!r->report) return;
    ly_mismatch m = {customer_id, what, recorded, derived};
    r->report(r->ctx, &m);
}

static ly_err checkAccounts(ly_db *db, checkRun *r, int64_t *n_customers, ly_error *err)
{
    cursor cust = {0}, ledger = {0}, lots = {0};
    cust.st = ly__stmt(db, STMT_CHECK_CUSTOMERS,
        "SELECT id, available, pending, debt FROM customers ORDER BY id", err);
    ledger.st = cust.st ? ly__stmt(db, STMT_CHECK_LEDGER,
        "SELECT customer_id, SUM(available_delta), SUM(pending_delta) FROM ledger"
        " GROUP BY customer_id ORDER BY customer_id", err) : NULL;
    lots.st = ledger.st ? ly__stmt(db, STMT_CHECK_LOTS,
        "SELECT customer_id,"
        " SUM(CASE state WHEN 'active' THEN remaining ELSE 0 END),"
        " SUM(CASE state WHEN 'pending' THEN remaining ELSE 0 END)"
        " FROM lots WHERE state IN ('pending', 'active')"
        " GROUP BY customer_id ORDER BY customer_id", err) : NULL;
    if (!lots.st) return LY_EIO;

    ly_err rc = cursorNext(db, &cust, err);
    if (rc == LY_OK) rc = cursorNext(db, &ledger, err);
    if (rc == LY_OK) rc = cursorNext(db, &lots, err);
    while (rc == LY_OK && cust.row) {
        int64_t id = cust.key;
        int64_t available = ly__col_i64(cust.st, 1);
        int64_t pending = ly__col_i64(cust.st, 2);
        int64_t debt = ly__col_i64(cust.st, 3);
        bool inLedger, inLots;
        rc = cursorSeek(db, &ledger, id, &inLedger, err);
        if (rc == LY_OK) rc = cursorSeek(db, &lots, id, &inLots, err);
        if (rc != LY_OK) break;
        int64_t ledgerAvailable = inLedger ? ly__col_i64(ledger.st, 1) : 0;
        int64_t ledgerPending = inLedger ? ly__col_i64(ledger.st, 2) : 0;
        int64_t lotsActive = inLots ? ly__col_i64(lots.st, 1) : 0;
        int64_t lotsPending = inLots ? ly__col_i64(lots.st, 2) : 0;

        (*n_customers)++;
        if (available != ledgerAvailable) mismatch(r, id, "available", available, ledgerAvailable);
        if (pending != ledgerPending) mismatch(r, id, "pending", pending, ledgerPending);
        if (available != lotsActive - debt)
            mismatch(r, id, "available_lots", available, lotsActive - debt);
        if (pending != lotsPending) mismatch(r, id, "pending_lots", pending, lotsPending);
        /* Debt is repaid from any active points, so it may only exist while there are none. */
        if (debt < 0 || (debt > 0 && lotsActive > 0)) mismatch(r, id, "debt", debt, lotsActive);
        rc = cursorNext(db, &cust, err);
    }
    ly__stmt_done(cust.st);
    ly__stmt_done(ledger.st);
    ly__stmt_done(lots.st);
    return rc;
}

/* Lots whose remaining is outside 0..points, or that are closed with points left. */
static ly_err checkLots(ly_db *db, checkRun *r, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CHECK_BAD_LOTS,
        "SELECT customer_id, remaining, points, state FROM lots"
        " WHERE remaining < 0 OR remaining > points"
        " OR (state IN ('expired', 'spent') AND remaining <> 0)"
        " OR state NOT IN ('pending', 'active', 'expired', 'spent')"
        " ORDER BY id", err);
    if (!st) return LY_EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t remaining = ly__col_i64(st, 1), points = ly__col_i64(st, 2);
        ly_lot_state state;
        bool known = ly__lot_state_parse((const char *)sqlite3_column_text(st, 3), &state);
        /* derived: the nearest value the lot could rightly hold. */
        int64_t derived = remaining < 0 ? 0 : remaining > points ? points : remaining;
        if (known && (state == LY_LOT_EXPIRED || state == LY_LOT_SPENT)) derived = 0;
        mismatch(r, ly__col_i64(st, 0), "lot", remaining, derived);
    }
    if (rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_check(ly_db *db, void (*report)(void *ctx, const ly_mismatch *m), void *ctx,
                   int64_t *n_customers, int64_t *n_mismatch, ly_error *err)
{
    checkRun r = {report, ctx, 0};
    int64_t customers = 0;
    /* One snapshot for everything, unless the caller is already inside a transaction. */
    bool own = sqlite3_get_autocommit(db->conn);
    if (own && ly__tx(db, STMT_BEGIN, err) != LY_OK) return LY_EIO;
    ly_err rc = checkAccounts(db, &r, &customers, err);
    if (rc == LY_OK) rc = checkLots(db, &r, err);
    if (own) {
        if (rc == LY_OK) rc = ly__tx(db, STMT_COMMIT, err);
        else ly__tx(db, STMT_ROLLBACK, NULL);
    }
    if (n_customers) *n_customers = customers;
    if (n_mismatch) *n_mismatch = r.mismatches;
    return rc;
}
