/*
 * maturity.c - the database's facts for the program's maturity level (store.h, "The
 * program's maturity level"; docs/maturity.md): receipts and their identified share, saved
 * analytics, trigger messages and hold-outs, events, quest progress and answers; and the
 * stored program versions, from which the renewal of the triggers is judged.
 *
 * These are occasional reads, so the statements are prepared here and finalised at once
 * rather than taking slots of the statement cache.
 */
#include "store/internal.h"

#include <stdio.h>

/* Runs sql (no parameters) and reads up to n integer columns of its one row into out
 * (NULL columns read as nul). */
static ly_err countRow(ly_db *db, const char *sql, int64_t *const *out, int n, int64_t nul,
                       ly_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->conn, sql, -1, &st, NULL) != SQLITE_OK) return ly__db_fail(db, NULL, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sqlite3_finalize(st);
        return ly__db_fail(db, NULL, err);
    }
    for (int i = 0; i < n; i++)
        *out[i] = rc == SQLITE_ROW && sqlite3_column_type(st, i) != SQLITE_NULL
                      ? sqlite3_column_int64(st, i) : nul;
    sqlite3_finalize(st);
    return LY_OK;
}

static ly_err count1(ly_db *db, const char *sql, int64_t *out, ly_error *err)
{
    int64_t *cols[1] = {out};
    return countRow(db, sql, cols, 1, 0, err);
}

/* Whether a table exists: only names from the fixed list below are ever asked about, and the
 * name is bound, never spliced into SQL. */
static ly_err tableExists(ly_db *db, const char *name, bool *out, ly_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->conn,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return ly__db_fail(db, NULL, err);
    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ly__db_fail(db, NULL, err);
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ly__db_fail(db, NULL, err);
    *out = rc == SQLITE_ROW;
    return LY_OK;
}

/* The optional tables and the fixed statement that counts each. */
typedef struct optionalTable {
    const char *name;
    const char *sql;
} optionalTable;
static const optionalTable questTable = {"quest_progress", "SELECT count(*) FROM quest_progress"};
static const optionalTable answerTable = {"survey_answers", "SELECT count(*) FROM survey_answers"};

static ly_err countOptional(ly_db *db, const optionalTable *t, int64_t *out, ly_error *err)
{
    bool exists = false;
    ly_err rc = tableExists(db, t->name, &exists, err);
    if (rc != LY_OK) return rc;
    *out = -1;
    return exists ? count1(db, t->sql, out, err) : LY_OK;
}

static ly_err readFacts(ly_db *db, ly_maturity_facts *out, ly_error *err)
{
    int64_t *rc3[3] = {&out->receipts, &out->identified, &out->customers_with_receipts};
    ly_err rc = countRow(db,
                         "SELECT count(*), count(customer_id), count(DISTINCT customer_id)"
                         " FROM receipts",
                         rc3, 3, 0, err);
    int64_t *runs[1] = {&out->analytics_runs};
    int64_t *last[1] = {&out->last_analytics_at};
    int64_t *sends[2] = {&out->trigger_steps, &out->trigger_holdout_steps};
    if (rc == LY_OK)
        rc = countRow(db, "SELECT count(*) FROM analytics_runs WHERE finished_at IS NOT NULL",
                      runs, 1, 0, err);
    if (rc == LY_OK)
        rc = countRow(db, "SELECT max(finished_at) FROM analytics_runs WHERE finished_at IS NOT NULL",
                      last, 1, -1, err);
    if (rc == LY_OK) rc = count1(db, "SELECT count(*) FROM customer_analytics", &out->analytics_customers, err);
    if (rc == LY_OK) rc = count1(db, "SELECT count(*) FROM outbox", &out->trigger_messages, err);
    if (rc == LY_OK)
        rc = countRow(db, "SELECT count(*), coalesce(sum(grp <> 'treated'), 0) FROM trigger_sends",
                      sends, 2, 0, err);
    if (rc == LY_OK) rc = count1(db, "SELECT count(*) FROM events", &out->events, err);
    if (rc == LY_OK) rc = countOptional(db, &questTable, &out->quest_rows, err);
    if (rc == LY_OK) rc = countOptional(db, &answerTable, &out->answers, err);
    return rc;
}

ly_err ly_db_maturity_facts(ly_db *db, ly_maturity_facts *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    out->last_analytics_at = -1;
    out->quest_rows = out->answers = -1;
    if (ly__tx(db, STMT_BEGIN, err) != LY_OK) return LY_EIO;
    ly_err rc = readFacts(db, out, err);
    if (rc == LY_OK) rc = ly__tx(db, STMT_COMMIT, err);
    else ly__tx(db, STMT_ROLLBACK, NULL);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Program versions, for the renewal of the triggers
 * ------------------------------------------------------------------------------------- */

/* Columns version, text, first_loaded_at. */
static bool versionRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_program_version_row *r = item;
    r->first_loaded_at = sqlite3_column_int64(st, 2);
    return ly__col_text(st, 0, a, &r->version) && ly__col_text(st, 1, a, &r->text);
}

static ly_err readVersions(ly_db *db, ly_arena *a, ly_program_version_row **out, size_t *n,
                           ly_error *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->conn,
                           "SELECT version, text, first_loaded_at FROM program_versions"
                           " ORDER BY first_loaded_at, rowid",
                           -1, &st, NULL) != SQLITE_OK)
        return ly__db_fail(db, NULL, err);
    ly_err rc = ly__all_rows(db, st, sizeof **out, versionRow, a, (void **)out, n, err);
    sqlite3_finalize(st);
    return rc;
}

ly_err ly_db_program_versions(ly_db *db, ly_arena *a, ly_program_version_row **out, size_t *n,
                              ly_error *err)
{
    *out = NULL;
    *n = 0;
    if (ly__tx(db, STMT_BEGIN, err) != LY_OK) return LY_EIO;
    ly_err rc = readVersions(db, a, out, n, err);
    if (rc == LY_OK) rc = ly__tx(db, STMT_COMMIT, err);
    else ly__tx(db, STMT_ROLLBACK, NULL);
    return rc;
}
