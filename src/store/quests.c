/*
 * quests.c - the stored side of quests (store.h, "Quests"): progress per customer, quest
 * and period, each receipt's contribution, badges and experience points, the personal
 * coupon codes of quest rewards and the referral a receipt qualifies.
 */
#include "store/internal.h"

#include <stdio.h>

ly_err ly_db_quest_progress_get(ly_db *db, int64_t customer_id, const char *quest,
                                const char *period, int64_t *value, ly_time *completed_at,
                                ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_PROGRESS_GET,
        "SELECT value, completed_at FROM quest_progress WHERE customer_id = ?1 AND"
        " quest_id = ?2 AND period = ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, quest) ||
        ly__bind_text(st, 3, period))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        *value = 0;
        *completed_at = 0;
        return ly_error_set(err, LY_ENOTFOUND, "quest_progress_not_found", NULL, "no progress");
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    *value = ly__col_i64(st, 0);
    *completed_at = ly__col_i64(st, 1); /* NULL reads as 0 */
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_quest_progress_put(ly_db *db, int64_t customer_id, const char *quest,
                                const char *period, int64_t value, ly_time completed_at,
                                ly_time now, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_PROGRESS_PUT,
        "INSERT OR REPLACE INTO quest_progress(customer_id, quest_id, period, value,"
        " completed_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, quest) ||
        ly__bind_text(st, 3, period) || ly__bind_i64(st, 4, value) ||
        ly__bind_ref(st, 5, completed_at) || ly__bind_i64(st, 6, now))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_quest_contribution_put(ly_db *db, const char *receipt_id,
                                    const ly_quest_contribution *c, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_CONTRIB_PUT,
        "INSERT OR REPLACE INTO quest_contributions(receipt_id, quest_id, customer_id, period,"
        " value) VALUES (?1, ?2, ?3, ?4, ?5)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id) || ly__bind_text(st, 2, c->quest_id) ||
        ly__bind_i64(st, 3, c->customer_id) || ly__bind_text(st, 4, c->period) ||
        ly__bind_i64(st, 5, c->value))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

/* Columns quest_id, period, customer_id, value. */
static bool contributionRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_quest_contribution *c = item;
    c->customer_id = ly__col_i64(st, 2);
    c->value = ly__col_i64(st, 3);
    return ly__col_text(st, 0, a, &c->quest_id) && ly__col_text(st, 1, a, &c->period);
}

ly_err ly_db_quest_contributions(ly_db *db, const char *receipt_id, ly_arena *a,
                                 ly_quest_contribution **out, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_CONTRIBS,
        "SELECT quest_id, period, customer_id, value FROM quest_contributions"
        " WHERE receipt_id = ?1 ORDER BY quest_id", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, contributionRow, a, (void **)out, n, err);
}

ly_err ly_db_quest_badge_add(ly_db *db, int64_t customer_id, const ly_quest_badge *b,
                             bool *added, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_BADGE_ADD,
        "INSERT OR IGNORE INTO quest_badges(customer_id, badge, quest_id, period, at)"
        " VALUES (?1, ?2, ?3, ?4, ?5)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, b->badge) ||
        ly__bind_text(st, 3, b->quest_id) || ly__bind_text(st, 4, b->period) ||
        ly__bind_i64(st, 5, b->at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK && added) *added = sqlite3_changes(db->conn) > 0;
    return rc;
}

/* Columns badge, quest_id, period, at. */
static bool badgeRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_quest_badge *b = item;
    b->at = ly__col_i64(st, 3);
    return ly__col_text(st, 0, a, &b->badge) && ly__col_text(st, 1, a, &b->quest_id) &&
           ly__col_text(st, 2, a, &b->period);
}

ly_err ly_db_quest_badges(ly_db *db, int64_t customer_id, ly_arena *a, ly_quest_badge **out,
                          size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_BADGES,
        "SELECT badge, quest_id, period, at FROM quest_badges WHERE customer_id = ?1"
        " ORDER BY at, badge", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, badgeRow, a, (void **)out, n, err);
}

ly_err ly_db_quest_xp_add(ly_db *db, int64_t customer_id, int64_t xp, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_XP_ADD,
        "INSERT INTO quest_xp(customer_id, xp) VALUES (?1, ?2)"
        " ON CONFLICT(customer_id) DO UPDATE SET xp = xp + excluded.xp", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, xp))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_quest_xp_get(ly_db *db, int64_t customer_id, int64_t *xp, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_XP_GET,
        "SELECT xp FROM quest_xp WHERE customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *xp = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_streak_get(ly_db *db, int64_t customer_id, int64_t *week, int64_t *length,
                              int64_t *best, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_STREAK_GET,
        "SELECT week, length, best FROM quest_streaks WHERE customer_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    bool row = rc == SQLITE_ROW;
    *week = row ? ly__col_i64(st, 0) : 0;
    *length = row ? ly__col_i64(st, 1) : 0;
    *best = row ? ly__col_i64(st, 2) : 0;
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_streak_put(ly_db *db, int64_t customer_id, int64_t week, int64_t length,
                              int64_t best, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_STREAK_PUT,
        "INSERT OR REPLACE INTO quest_streaks(customer_id, week, length, best)"
        " VALUES (?1, ?2, ?3, ?4)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, week) ||
        ly__bind_i64(st, 3, length) || ly__bind_i64(st, 4, best))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_quest_figures(ly_db *db, const char *quest, int64_t *started, int64_t *completed,
                           ly_points *points, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_FIGURES,
        "SELECT COUNT(DISTINCT customer_id), COUNT(completed_at) FROM quest_progress"
        " WHERE quest_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, quest)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *started = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    *completed = rc == SQLITE_ROW ? ly__col_i64(st, 1) : 0;
    ly_err e = ly__step_end(db, st, rc, err);
    if (e != LY_OK) return e;
    /* A prefix test, not LIKE: a quest id may hold % or _. */
    st = ly__stmt(db, STMT_QST_FIGURES_POINTS,
        "SELECT COALESCE(SUM(available_delta + pending_delta), 0) FROM ledger"
        " WHERE kind = 'bonus' AND substr(ref, 1, length(?1)) = ?1", err);
    if (!st) return LY_EIO;
    char prefix[128];
    snprintf(prefix, sizeof prefix, "quest:%s:", quest);
    if (ly__bind_text(st, 1, prefix)) return ly__db_fail(db, st, err);
    rc = sqlite3_step(st);
    *points = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_deals(ly_db *db, ly_time from, ly_time to,
                         ly_err (*fn)(void *ctx, int64_t customer_id, int64_t deals, ly_error *err),
                         void *ctx, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_DEALS,
        "SELECT customer_id, COUNT(*) FROM receipts WHERE time >= ?1 AND time < ?2 AND"
        " customer_id IS NOT NULL GROUP BY customer_id ORDER BY customer_id", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, from) || ly__bind_i64(st, 2, to)) return ly__db_fail(db, st, err);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ly_err e = fn(ctx, ly__col_i64(st, 0), ly__col_i64(st, 1), err);
        if (e != LY_OK) {
            ly__stmt_done(st);
            return e;
        }
    }
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_completed(ly_db *db, const char *quest, int64_t customer_id, ly_time from,
                             ly_time to, bool *out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_COMPLETED,
        "SELECT 1 FROM quest_progress WHERE customer_id = ?1 AND quest_id = ?2 AND"
        " completed_at >= ?3 AND completed_at < ?4 LIMIT 1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, quest) ||
        ly__bind_i64(st, 3, from) || ly__bind_i64(st, 4, to))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW;
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_bought_category(ly_db *db, int64_t customer_id, const char *category,
                                   const char *except_receipt_id, bool *out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_BOUGHT_CATEGORY,
        "SELECT 1 FROM receipts r JOIN receipt_lines l ON l.receipt = r.id"
        " WHERE r.customer_id = ?1 AND l.category = ?2 AND r.receipt_id IS NOT ?3 LIMIT 1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, category) ||
        ly__bind_text(st, 3, except_receipt_id))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW;
    return ly__step_end(db, st, rc, err);
}

/* ---------------------------------------------------------------------------------------
 * Personal coupon codes of quest rewards (engineer R)
 * ------------------------------------------------------------------------------------- */

#define COUPON_COLS "cause, customer_id, quest_id, period, campaign, code, hash, issued_at"

static bool couponRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_quest_coupon *c = item;
    memset(c, 0, sizeof *c);
    if (!ly__col_text(st, 0, a, &c->cause) || !ly__col_text(st, 2, a, &c->quest_id) ||
        !ly__col_text(st, 3, a, &c->period) || !ly__col_text(st, 4, a, &c->campaign) ||
        !ly__col_text(st, 5, a, &c->code))
        return false;
    c->customer_id = ly__col_i64(st, 1);
    ly__col_hash(st, 6, c->hash);
    c->issued_at = ly__col_i64(st, 7);
    return true;
}

/* COUPON_COLS and whether the code was redeemed (not returned). */
static bool usedCouponRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    if (!couponRow(st, a, item)) return false;
    ((ly_quest_coupon *)item)->used = ly__col_i64(st, 8) != 0;
    return true;
}

ly_err ly_db_quest_coupon_get(ly_db *db, const char *cause, ly_arena *a, ly_quest_coupon *out,
                              ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_COUPON_GET,
        "SELECT " COUPON_COLS " FROM quest_coupons WHERE cause = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, cause)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, couponRow, a, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "quest_coupon_not_found", NULL, "no code issued")
               : rc;
}

ly_err ly_db_quest_coupon_insert(ly_db *db, const ly_quest_coupon *c, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_COUPON_INSERT,
        "INSERT INTO quest_coupons(" COUPON_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, c->cause) || ly__bind_i64(st, 2, c->customer_id) ||
        ly__bind_text(st, 3, c->quest_id) || ly__bind_text(st, 4, c->period) ||
        ly__bind_text(st, 5, c->campaign) || ly__bind_text(st, 6, c->code) ||
        ly__bind_hash(st, 7, c->hash) || ly__bind_i64(st, 8, c->issued_at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    return rc == LY_ECONFLICT ? ly_error_set(err, LY_ECONFLICT, "quest_coupon_exists", NULL,
                                             "a code was already issued for %s", c->cause)
                              : rc;
}

ly_err ly_db_quest_coupons(ly_db *db, int64_t customer_id, ly_arena *a, ly_quest_coupon **out,
                           size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_COUPONS,
        "SELECT cause, customer_id, quest_id, period, campaign, code, hash, issued_at,"
        " EXISTS (SELECT 1 FROM coupon_redemptions r WHERE r.hash = q.hash AND r.returned = 0)"
        " FROM quest_coupons q WHERE customer_id = ?1 ORDER BY issued_at, cause", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, usedCouponRow, a, (void **)out, n, err);
}

ly_err ly_db_quest_coupon_owner(ly_db *db, const uint8_t hash[32], int64_t *owner,
                                ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_COUPON_OWNER,
        "SELECT customer_id FROM quest_coupons WHERE hash = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_hash(st, 1, hash)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *owner = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    return ly__step_end(db, st, rc, err);
}

ly_err ly_db_quest_referral_qualified(ly_db *db, const char *receipt_id, bool *out,
                                      ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_QST_REFERRAL_QUALIFIED,
        "SELECT 1 FROM referrals WHERE receipt_id = ?1 LIMIT 1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW;
    return ly__step_end(db, st, rc, err);
}
