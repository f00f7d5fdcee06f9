/*
 * tiers.c - the stored side of tiers, the club and program versions (store.h): the kept
 * versions of the program file, each customer's tier and its history, club members and
 * their history, the days whose evaluation has run, and a customer's purchases as the
 * tiers count them.
 */
#include "store/internal.h"

#include <stdio.h>

/* ---------------------------------------------------------------------------------------
 * Program versions
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_program_version_put(ly_db *db, const char *version, const char *text, ly_time at,
                                 ly_time *first_loaded_at, bool *same, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_VERSION_PUT,
        "INSERT OR IGNORE INTO program_versions (version, text, first_loaded_at) VALUES (?1, ?2, ?3)",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, version) || ly__bind_text(st, 2, text) || ly__bind_i64(st, 3, at))
        return ly__db_fail(db, st, err);
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    ly_arena a = {0};
    const char *stored;
    ly_err rc = ly_db_program_version_get(db, version, &a, &stored, first_loaded_at, err);
    if (rc == LY_OK) *same = strcmp(stored, text) == 0;
    ly_arena_free(&a);
    return rc;
}

ly_err ly_db_program_version_get(ly_db *db, const char *version, ly_arena *a, const char **text,
                                 ly_time *first_loaded_at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_VERSION_GET,
        "SELECT text, first_loaded_at FROM program_versions WHERE version = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, version)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "program_version_not_found", "version",
                            "no program version %s is stored", version);
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    bool ok = ly__col_text(st, 0, a, text);
    *first_loaded_at = ly__col_i64(st, 1);
    ly__stmt_done(st);
    return ok ? LY_OK : ly__oom(err);
}

/* ---------------------------------------------------------------------------------------
 * Tiers
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_customer_enrolled(ly_db *db, int64_t customer_id, ly_time *out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_ENROLLED,
        "SELECT enrolled_at FROM customers WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, ly__row_i64, NULL, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "customer_id",
                              "no customer with id %lld", (long long)customer_id)
               : rc;
}

/* Columns tier, since. */
static bool tierRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_tier_state *t = item;
    t->since = ly__col_i64(st, 1);
    return ly__col_text(st, 0, a, &t->tier);
}

ly_err ly_db_tier_get(ly_db *db, int64_t customer_id, ly_arena *a, ly_tier_state *out,
                      ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_TIER_GET,
        "SELECT tier, since FROM customer_tiers WHERE customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, tierRow, a, out, err);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "no_tier", NULL,
                                             "customer %lld has no tier row",
                                             (long long)customer_id)
                              : rc;
}

ly_err ly_db_tier_set(ly_db *db, int64_t customer_id, const char *from, const ly_tier_state *st_in,
                      const char *change, const char *program_version, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_TIER_SET,
        "INSERT INTO customer_tiers (customer_id, tier, since, updated_at) VALUES (?1, ?2, ?3, ?3)"
        " ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier, since = excluded.since,"
        " updated_at = excluded.updated_at", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, st_in->tier) ||
        ly__bind_i64(st, 3, st_in->since))
        return ly__db_fail(db, st, err);
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    st = ly__stmt(db, STMT_TR_HISTORY_INSERT,
        "INSERT INTO tier_history (customer_id, from_tier, to_tier, change, at, program_version)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, from) ||
        ly__bind_text(st, 3, st_in->tier) || ly__bind_text(st, 4, change) ||
        ly__bind_i64(st, 5, st_in->since) || ly__bind_text(st, 6, program_version))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

static bool fillChange(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_tier_change *c = item;
    c->id = ly__col_i64(st, 0);
    c->at = ly__col_i64(st, 4);
    return ly__col_text(st, 1, a, &c->from_tier) && ly__col_text(st, 2, a, &c->to_tier) &&
           ly__col_text(st, 3, a, &c->change) && ly__col_text(st, 5, a, &c->program_version);
}

ly_err ly_db_tier_history(ly_db *db, int64_t customer_id, size_t limit, ly_arena *a,
                          ly_tier_change **out, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_HISTORY,
        "SELECT id, from_tier, to_tier, change, at, program_version FROM tier_history"
        " WHERE customer_id = ?1 ORDER BY id LIMIT ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, fillChange, a, (void **)out, n, err);
}

ly_err ly_db_tier_customers(ly_db *db, int64_t after, size_t limit, ly_arena *a, int64_t **ids,
                            size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_TIER_CUSTOMERS,
        "SELECT customer_id FROM customer_tiers WHERE customer_id > ?1 ORDER BY customer_id"
        " LIMIT ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, after) || ly__bind_i64(st, 2, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **ids, ly__row_i64, a, (void **)ids, n, err);
}

static bool fillPurchase(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    ly_purchase *p = item;
    p->time = ly__col_i64(st, 0);
    int64_t spend = ly__col_i64(st, 1);
    p->spend = spend > 0 ? spend : 0;
    p->counts = ly__col_i64(st, 2) != 0;
    return true;
}

ly_err ly_db_purchases(ly_db *db, int64_t customer_id, ly_time from, ly_arena *a,
                       ly_purchase **out, size_t *n, ly_error *err)
{
    /* receipts_customer (customer_id, time) finds them; returns and lines by their keys. */
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_PURCHASES,
        "SELECT r.time,"
        " r.paid - COALESCE((SELECT SUM(x.amount) FROM returns x WHERE x.receipt = r.id), 0),"
        " EXISTS (SELECT 1 FROM receipt_lines l WHERE l.receipt = r.id AND l.returned_qty < l.qty)"
        " FROM receipts r WHERE r.customer_id = ?1 AND r.time >= ?2 ORDER BY r.time, r.id", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, from))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, fillPurchase, a, (void **)out, n, err);
}

ly_err ly_db_buyers_since(ly_db *db, ly_time from, int64_t after, size_t limit, ly_arena *a,
                          int64_t **ids, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_BUYERS,
        "SELECT DISTINCT customer_id FROM receipts WHERE time >= ?1 AND customer_id > ?2"
        " ORDER BY customer_id LIMIT ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, from) || ly__bind_i64(st, 2, after) ||
        ly__bind_i64(st, 3, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **ids, ly__row_i64, a, (void **)ids, n, err);
}

/* ---------------------------------------------------------------------------------------
 * The club
 * ------------------------------------------------------------------------------------- */

static bool fillMember(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_club_member *m = item;
    m->customer_id = ly__col_i64(st, 0);
    m->since = ly__col_i64(st, 2);
    return ly__col_text(st, 1, a, &m->via) && ly__col_text(st, 3, a, &m->note);
}

ly_err ly_db_club_get(ly_db *db, int64_t customer_id, ly_arena *a, ly_club_member *out,
                      ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_CLUB_GET,
        "SELECT customer_id, via, since, note FROM club_members WHERE customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, fillMember, a, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "not_a_member", "customer_id",
                              "customer %lld is not a member of the club", (long long)customer_id)
               : rc;
}

static ly_err clubLog(ly_db *db, int64_t customer_id, const char *change, const char *via,
                      ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_CLUB_LOG,
        "INSERT INTO club_history (customer_id, change, via, at) VALUES (?1, ?2, ?3, ?4)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, change) ||
        ly__bind_text(st, 3, via) || ly__bind_i64(st, 4, at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_club_join(ly_db *db, const ly_club_member *m, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_CLUB_INSERT,
        "INSERT INTO club_members (customer_id, via, since, note) VALUES (?1, ?2, ?3, ?4)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, m->customer_id) || ly__bind_text(st, 2, m->via) ||
        ly__bind_i64(st, 3, m->since) || ly__bind_text(st, 4, m->note))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    if (rc == LY_ECONFLICT)
        return ly_error_set(err, LY_ECONFLICT, "already_member", "customer_id",
                            "customer %lld is already a member of the club",
                            (long long)m->customer_id);
    if (rc != LY_OK) return rc;
    return clubLog(db, m->customer_id, "joined", m->via, m->since, err);
}

ly_err ly_db_club_leave(ly_db *db, int64_t customer_id, ly_time at, ly_error *err)
{
    ly_arena a = {0};
    ly_club_member m;
    ly_err rc = ly_db_club_get(db, customer_id, &a, &m, err);
    const char *via = rc == LY_OK && m.via && strcmp(m.via, "rule") == 0 ? "rule" : "invitation";
    ly_arena_free(&a);
    if (rc != LY_OK) return rc;
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_CLUB_DELETE,
        "DELETE FROM club_members WHERE customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    return clubLog(db, customer_id, "left", via, at, err);
}

ly_err ly_db_club_page(ly_db *db, int64_t after, size_t limit, bool via_rule_only, ly_arena *a,
                       ly_club_member **out, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = via_rule_only
        ? ly__stmt(db, STMT_TR_CLUB_RULE_MEMBERS,
                   "SELECT customer_id, via, since, note FROM club_members"
                   " WHERE customer_id > ?1 AND via = 'rule' ORDER BY customer_id LIMIT ?2", err)
        : ly__stmt(db, STMT_TR_CLUB_PAGE,
                   "SELECT customer_id, via, since, note FROM club_members"
                   " WHERE customer_id > ?1 ORDER BY customer_id LIMIT ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, after) || ly__bind_i64(st, 2, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, fillMember, a, (void **)out, n, err);
}

/* ---------------------------------------------------------------------------------------
 * The days evaluated
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_tier_day_done(ly_db *db, int64_t day, bool *done, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_DAY_GET,
        "SELECT 1 FROM tier_evaluations WHERE day = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, day)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    *done = rc == SQLITE_ROW;
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_tier_day_mark(ly_db *db, int64_t day, ly_time at, const char *program_version,
                           ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TR_DAY_PUT,
        "INSERT OR REPLACE INTO tier_evaluations (day, at, program_version) VALUES (?1, ?2, ?3)",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, day) || ly__bind_i64(st, 2, at) ||
        ly__bind_text(st, 3, program_version))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}
