/*
 * analytics.c - the per-customer figures of the latest analytics run (store.h): RFM cell,
 * segment, status against the sleep and churn boundaries, position against the loyalty
 * boundary, P(alive) and CLV.
 */
#include "store/internal.h"

#include <stdio.h>

/* Copies a text column into a fixed buffer ("" for NULL or anything too long). */
static void colFixed(sqlite3_stmt *st, int i, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    if (!t || n >= size) n = 0;
    if (n) memcpy(out, t, n);
    out[n] = '\0';
}

static int bindOptText(sqlite3_stmt *st, int i, const char *s)
{
    return ly__bind_text(st, i, s && *s ? s : NULL);
}

static int bindOptI64(sqlite3_stmt *st, int i, int64_t v)
{
    return v >= 0 ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

ly_err ly_db_analytics_run_insert(ly_db *db, ly_analytics_run *run, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_ANALYTICS_RUN_INSERT,
        "INSERT INTO analytics_runs (at, as_of, customers, sleep_days, churn_days, loyalty_deals)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, run->at) || ly__bind_text(st, 2, run->as_of) ||
        ly__bind_i64(st, 3, run->customers) || bindOptI64(st, 4, run->sleep_days) ||
        bindOptI64(st, 5, run->churn_days) || bindOptI64(st, 6, run->loyalty_deals))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK) run->id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

ly_err ly_db_analytics_run_finish(ly_db *db, const ly_analytics_run *run, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_ANALYTICS_RUN_FINISH,
        "UPDATE analytics_runs SET customers = ?2, finished_at = ?3 WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, run->id) || ly__bind_i64(st, 2, run->customers) ||
        ly__bind_i64(st, 3, run->at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK) return rc;
    st = ly__stmt(db, STMT_ANALYTICS_PRUNE, "DELETE FROM customer_analytics WHERE run < ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, run->id)) return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

/* Columns id, at, as_of, customers, sleep_days, churn_days, loyalty_deals (NULL: -1). */
static bool runRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    ly_analytics_run *out = item;
    memset(out, 0, sizeof *out);
    out->id = ly__col_i64(st, 0);
    out->at = ly__col_i64(st, 1);
    colFixed(st, 2, out->as_of, sizeof out->as_of);
    out->customers = ly__col_i64(st, 3);
    out->sleep_days = sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : ly__col_i64(st, 4);
    out->churn_days = sqlite3_column_type(st, 5) == SQLITE_NULL ? -1 : ly__col_i64(st, 5);
    out->loyalty_deals = sqlite3_column_type(st, 6) == SQLITE_NULL ? -1 : ly__col_i64(st, 6);
    return true;
}

ly_err ly_db_analytics_run_latest(ly_db *db, ly_analytics_run *out, ly_error *err)
{
    /* A run still being written is not the latest: its customers are not all there yet. */
    sqlite3_stmt *st = ly__stmt(db, STMT_ANALYTICS_RUN_LATEST,
        "SELECT id, at, as_of, customers, sleep_days, churn_days, loyalty_deals"
        " FROM analytics_runs WHERE finished_at IS NOT NULL ORDER BY id DESC LIMIT 1", err);
    if (!st) return LY_EIO;
    ly_err rc = ly__one_row(db, st, runRow, NULL, out, err);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "no_analytics", NULL,
                                             "the analytics have not run yet")
                              : rc;
}

ly_err ly_db_customer_analytics_put(ly_db *db, const ly_customer_analytics *a, bool *stored,
                                    ly_error *err)
{
    /* INSERT ... SELECT from customers: an id the database does not know inserts nothing,
     * so an analysis of an export that names other customers cannot break the foreign key. */
    sqlite3_stmt *st = ly__stmt(db, STMT_ANALYTICS_PUT,
        "INSERT OR REPLACE INTO customer_analytics (customer_id, run, rfm_cell, segment, status,"
        " loyalty, r_days, deals, revenue, p_alive_ppm, clv)"
        " SELECT id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 FROM customers WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, a->customer_id) || ly__bind_i64(st, 2, a->run) ||
        bindOptText(st, 3, a->rfm_cell) || bindOptText(st, 4, a->segment) ||
        ly__bind_text(st, 5, a->status) || ly__bind_text(st, 6, a->loyalty) ||
        ly__bind_i64(st, 7, a->r_days) || ly__bind_i64(st, 8, a->deals) ||
        ly__bind_i64(st, 9, a->revenue) || bindOptI64(st, 10, a->p_alive_ppm) ||
        bindOptI64(st, 11, a->clv))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK && stored) *stored = sqlite3_changes(db->conn) > 0;
    return rc;
}

/* Columns run, rfm_cell, segment, status, loyalty, r_days, deals, revenue, p_alive_ppm,
 * clv (NULL: -1), as_of; not the customer's id. */
static bool customerRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    ly_customer_analytics *out = item;
    memset(out, 0, sizeof *out);
    out->run = ly__col_i64(st, 0);
    colFixed(st, 1, out->rfm_cell, sizeof out->rfm_cell);
    colFixed(st, 2, out->segment, sizeof out->segment);
    colFixed(st, 3, out->status, sizeof out->status);
    colFixed(st, 4, out->loyalty, sizeof out->loyalty);
    out->r_days = ly__col_i64(st, 5);
    out->deals = ly__col_i64(st, 6);
    out->revenue = ly__col_i64(st, 7);
    out->p_alive_ppm = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1 : ly__col_i64(st, 8);
    out->clv = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 : ly__col_i64(st, 9);
    colFixed(st, 10, out->as_of, sizeof out->as_of);
    return true;
}

ly_err ly_db_customer_analytics_get(ly_db *db, int64_t customer_id, ly_customer_analytics *out,
                                    ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_ANALYTICS_GET,
        "SELECT ca.run, ca.rfm_cell, ca.segment, ca.status, ca.loyalty, ca.r_days, ca.deals,"
        " ca.revenue, ca.p_alive_ppm, ca.clv, r.as_of"
        " FROM customer_analytics ca JOIN analytics_runs r ON r.id = ca.run"
        " WHERE ca.customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, customerRow, NULL, out, err);
    if (rc == LY_OK) out->customer_id = customer_id; /* selected by, not returned */
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "no_analytics", "id",
                                             "no analytics for customer %lld",
                                             (long long)customer_id)
                              : rc;
}
