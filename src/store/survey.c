/*
 * survey.c - the store's questionnaire answers and receipt touchpoints (store.h,
 * "Questionnaires and touchpoints"). Statements are prepared per call: these are not on the
 * checkout's hot path except the one insert per receipt that carries a touchpoint.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

static ly_err prep(ly_db *db, const char *sql, sqlite3_stmt **st, ly_error *err)
{
    if (sqlite3_prepare_v2(db->conn, sql, -1, st, NULL) != SQLITE_OK) return ly__db_fail(db, NULL, err);
    return LY_OK;
}

/* Columns answer_id, customer_id, questionnaire, touchpoint, receipt_id, at, answers, nps,
 * csi, csi_min, csi_max, points, request_hash, response. */
static bool answerRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_stored_answer *out = item;
    memset(out, 0, sizeof *out);
    if (!ly__col_text(st, 0, a, &out->answer_id) || !ly__col_text(st, 2, a, &out->questionnaire) ||
        !ly__col_text(st, 3, a, &out->touchpoint) || !ly__col_text(st, 4, a, &out->receipt_id) ||
        !ly__col_text(st, 6, a, &out->answers) || !ly__col_text(st, 13, a, &out->response))
        return false;
    out->customer_id = ly__col_i64(st, 1);
    out->at = ly__col_i64(st, 5);
    out->has_nps = sqlite3_column_type(st, 7) != SQLITE_NULL;
    out->nps = ly__col_i64(st, 7);
    out->has_csi = sqlite3_column_type(st, 8) != SQLITE_NULL;
    out->csi = ly__col_i64(st, 8);
    out->csi_min = ly__col_i64(st, 9);
    out->csi_max = ly__col_i64(st, 10);
    out->points = ly__col_i64(st, 11);
    ly__col_hash(st, 12, out->request_hash);
    return true;
}

ly_err ly_db_answer_find(ly_db *db, const char *answer_id, ly_arena *a, ly_stored_answer *out,
                         ly_error *err)
{
    sqlite3_stmt *st;
    TRY(prep(db,
             "SELECT answer_id, customer_id, questionnaire, touchpoint, receipt_id, at, answers,"
             " nps, csi, csi_min, csi_max, points, request_hash, response"
             " FROM survey_answers WHERE answer_id = ?1",
             &st, err));
    ly__bind_text(st, 1, answer_id);
    ly_err rc = ly__one_row(db, st, answerRow, a, out, err);
    sqlite3_finalize(st);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "answer_not_found", "answer_id",
                                             "no answer %s", answer_id)
                              : rc;
}

ly_err ly_db_answer_insert(ly_db *db, const ly_stored_answer *in, ly_error *err)
{
    sqlite3_stmt *st;
    TRY(prep(db,
             "INSERT INTO survey_answers (answer_id, customer_id, questionnaire, touchpoint,"
             " receipt_id, at, answers, nps, csi, csi_min, csi_max, points, request_hash, response)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
             &st, err));
    ly__bind_text(st, 1, in->answer_id);
    ly__bind_i64(st, 2, in->customer_id);
    ly__bind_text(st, 3, in->questionnaire);
    ly__bind_text(st, 4, in->touchpoint);
    ly__bind_text(st, 5, in->receipt_id);
    ly__bind_i64(st, 6, in->at);
    ly__bind_text(st, 7, in->answers);
    if (in->has_nps) ly__bind_i64(st, 8, in->nps);
    if (in->has_csi) {
        ly__bind_i64(st, 9, in->csi);
        ly__bind_i64(st, 10, in->csi_min);
        ly__bind_i64(st, 11, in->csi_max);
    }
    ly__bind_i64(st, 12, in->points);
    ly__bind_hash(st, 13, in->request_hash);
    ly__bind_text(st, 14, in->response ? in->response : "");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        bool dup = ly__is_duplicate(db);
        ly_err e = dup ? ly_error_set(err, LY_ECONFLICT, "answer_conflict", "answer_id",
                                      "answer %s exists", in->answer_id)
                       : ly__db_fail(db, NULL, err);
        sqlite3_finalize(st);
        return e;
    }
    sqlite3_finalize(st);
    return LY_OK;
}

ly_err ly_db_receipt_touchpoint_put(ly_db *db, const char *receipt_id, const char *touchpoint,
                                    ly_error *err)
{
    sqlite3_stmt *st;
    TRY(prep(db, "INSERT OR REPLACE INTO receipt_touchpoints (receipt_id, touchpoint) VALUES (?1, ?2)",
             &st, err));
    ly__bind_text(st, 1, receipt_id);
    ly__bind_text(st, 2, touchpoint);
    int rc = sqlite3_step(st);
    ly_err e = rc == SQLITE_DONE ? LY_OK : ly__db_fail(db, NULL, err);
    sqlite3_finalize(st);
    return e;
}

ly_err ly_db_event_touchpoint_put(ly_db *db, const char *event_id, const char *touchpoint,
                                  ly_error *err)
{
    sqlite3_stmt *st;
    TRY(prep(db, "INSERT INTO event_touchpoints (event_id, touchpoint) VALUES (?1, ?2)", &st,
             err));
    ly__bind_text(st, 1, event_id);
    ly__bind_text(st, 2, touchpoint);
    int rc = sqlite3_step(st);
    ly_err e = rc == SQLITE_DONE ? LY_OK : ly__db_fail(db, NULL, err);
    sqlite3_finalize(st);
    return e;
}

/* Columns kind ('a', 'r' or 'e'), touchpoint, customer_id, at, nps, csi, csi_min, csi_max,
 * next_deal. */
static bool tpRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_tp_row *r = item;
    r->kind = (char)sqlite3_column_text(st, 0)[0];
    r->customer_id = ly__col_i64(st, 2);
    r->at = ly__col_i64(st, 3);
    r->has_nps = sqlite3_column_type(st, 4) != SQLITE_NULL;
    r->nps = ly__col_i64(st, 4);
    r->has_csi = sqlite3_column_type(st, 5) != SQLITE_NULL;
    r->csi = ly__col_i64(st, 5);
    r->csi_min = ly__col_i64(st, 6);
    r->csi_max = ly__col_i64(st, 7);
    r->next_deal = ly__col_i64(st, 8);
    return ly__col_text(st, 1, a, &r->touchpoint);
}

/* Steps st, prepared here, into a new array of elements of size sz (in a) with fill, and
 * finalises it. */
static ly_err collect(ly_db *db, sqlite3_stmt *st, ly_arena *a, size_t sz, void **out, size_t *n,
                      ly__row_reader fill, ly_error *err)
{
    ly_err rc = ly__all_rows(db, st, sz, fill, a, out, n, err);
    sqlite3_finalize(st);
    return rc;
}

ly_err ly_db_touchpoint_rows(ly_db *db, ly_arena *a, ly_tp_row **out, size_t *n,
                             ly_time *horizon, ly_error *err)
{
    *out = NULL;
    *n = 0;
    *horizon = 0;
    sqlite3_stmt *st;
    TRY(prep(db, "SELECT COALESCE(MAX(time), 0) FROM receipts", &st, err));
    if (sqlite3_step(st) == SQLITE_ROW) *horizon = ly__col_i64(st, 0);
    sqlite3_finalize(st);
    TRY(prep(db,
             "SELECT 'a', s.touchpoint, s.customer_id, s.at, s.nps, s.csi, s.csi_min, s.csi_max,"
             " (SELECT MIN(r.time) FROM receipts r WHERE r.customer_id = s.customer_id"
             "  AND r.time > s.at)"
             " FROM survey_answers s"
             " UNION ALL "
             "SELECT 'r', t.touchpoint, COALESCE(r.customer_id, 0), r.time, NULL, NULL, NULL, NULL,"
             " CASE WHEN r.customer_id IS NULL THEN NULL ELSE"
             " (SELECT MIN(q.time) FROM receipts q WHERE q.customer_id = r.customer_id"
             "  AND q.time > r.time) END"
             " FROM receipt_touchpoints t JOIN receipts r ON r.receipt_id = t.receipt_id"
             " UNION ALL "
             "SELECT 'e', t.touchpoint, e.customer_id, e.at, NULL, NULL, NULL, NULL, NULL"
             " FROM event_touchpoints t JOIN events e ON e.event_id = t.event_id",
             &st, err));
    return collect(db, st, a, sizeof **out, (void **)out, n, tpRow, err);
}

static bool fillCounts(sqlite3_stmt *st, ly_arena *a, void *row)
{
    ly_tp_messages *m = row;
    m->written = ly__col_i64(st, 1);
    m->delivered = ly__col_i64(st, 2);
    m->dead = ly__col_i64(st, 3);
    return ly__col_text(st, 0, a, &m->touchpoint);
}

static bool fillMessaged(sqlite3_stmt *st, ly_arena *a, void *row)
{
    ly_tp_messaged *m = row;
    m->customer_id = ly__col_i64(st, 1);
    m->first_delivered = ly__col_i64(st, 2);
    m->next_deal = ly__col_i64(st, 3);
    return ly__col_text(st, 0, a, &m->touchpoint);
}

ly_err ly_db_touchpoint_messages(ly_db *db, ly_arena *a, ly_tp_messages **counts,
                                 size_t *n_counts, ly_tp_messaged **messaged,
                                 size_t *n_messaged, ly_error *err)
{
    *counts = NULL;
    *messaged = NULL;
    *n_counts = *n_messaged = 0;
    sqlite3_stmt *st;
    TRY(prep(db,
             "SELECT touchpoint, COUNT(*), COALESCE(SUM(state = 'delivered'), 0),"
             " COALESCE(SUM(state = 'dead'), 0)"
             " FROM outbox WHERE touchpoint IS NOT NULL GROUP BY touchpoint ORDER BY touchpoint",
             &st, err));
    TRY(collect(db, st, a, sizeof **counts, (void **)counts, n_counts, fillCounts, err));
    TRY(prep(db,
             "SELECT f.touchpoint, f.customer_id, f.at,"
             " (SELECT MIN(r.time) FROM receipts r WHERE r.customer_id = f.customer_id"
             "  AND r.time > f.at)"
             " FROM (SELECT touchpoint, customer_id, MIN(delivered_at) AS at FROM outbox"
             "  WHERE touchpoint IS NOT NULL AND state = 'delivered'"
             "  GROUP BY touchpoint, customer_id) f"
             " ORDER BY f.touchpoint, f.customer_id",
             &st, err));
    return collect(db, st, a, sizeof **messaged, (void **)messaged, n_messaged, fillMessaged,
                   err);
}
