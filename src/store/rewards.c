/*
 * rewards.c - the store's side of the reward mechanics (store.h, "Rewards"): counters of
 * rule limits and campaign budgets, coupon codes and redemptions, referrals, custom
 * events, partner entries, birthday candidates and the sums of the liability report.
 */
#include "store/internal.h"

#include <stdio.h>

/* Steps st, which yields one row of one integer (or none: 0), and readies it again. */
static ly_err oneInt(ly_db *db, sqlite3_stmt *st, int64_t *out, ly_error *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    *out = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    ly__stmt_done(st);
    return LY_OK;
}

/* Like ly__exec, and *changes (may be NULL) gets the rows changed. */
static ly_err execChanges(ly_db *db, sqlite3_stmt *st, int64_t *changes, ly_error *err)
{
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    if (changes) *changes = sqlite3_changes(db->conn);
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Rule limits and budgets
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_rule_uses_count(ly_db *db, const char *rule, int64_t customer_id,
                             const char *period, int64_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_USES_COUNT,
        "SELECT count(*) FROM rule_uses WHERE rule = ?1 AND customer_id = ?2 AND period = ?3"
        " AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, rule) || ly__bind_i64(st, 2, customer_id) ||
        ly__bind_text(st, 3, period))
        return ly__db_fail(db, st, err);
    return oneInt(db, st, n, err);
}

ly_err ly_db_rule_budget_get(ly_db *db, const char *rule, ly_points *points, ly_money *discount,
                             ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_BUDGET_GET,
        "SELECT points, discount FROM rule_budgets WHERE rule = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, rule)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    *points = rc == SQLITE_ROW ? ly__col_i64(st, 0) : 0;
    *discount = rc == SQLITE_ROW ? ly__col_i64(st, 1) : 0;
    ly__stmt_done(st);
    return LY_OK;
}

static ly_err budgetAdd(ly_db *db, const char *rule, ly_points points, ly_money discount,
                        ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_BUDGET_ADD,
        "INSERT INTO rule_budgets(rule, points, discount) VALUES(?1, ?2, ?3)"
        " ON CONFLICT(rule) DO UPDATE SET points = points + ?2, discount = discount + ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, rule) || ly__bind_i64(st, 2, points) || ly__bind_i64(st, 3, discount))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_rule_use_add(ly_db *db, const char *rule, int64_t customer_id, const char *period,
                          const char *receipt_id, ly_points points, ly_money discount, ly_time at,
                          ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_USE_INSERT,
        "INSERT INTO rule_uses(rule, customer_id, period, receipt_id, points, discount, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, rule) || ly__bind_ref(st, 2, customer_id) ||
        ly__bind_text(st, 3, period) || ly__bind_text(st, 4, receipt_id) ||
        ly__bind_i64(st, 5, points) || ly__bind_i64(st, 6, discount) || ly__bind_i64(st, 7, at))
        return ly__db_fail(db, st, err);
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    return budgetAdd(db, rule, points, discount, err);
}

ly_err ly_db_rule_uses_return(ly_db *db, const char *receipt_id, int64_t *n, ly_error *err)
{
    if (n) *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_USES_OF_RECEIPT,
        "SELECT rule, sum(points), sum(discount), count(*) FROM rule_uses"
        " WHERE receipt_id = ?1 AND returned = 0 GROUP BY rule", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    /* Gather first: the budget update uses the same connection. */
    ly_arena a = {0};
    struct use { const char *rule; int64_t points, discount; } *v = NULL;
    size_t k = 0, cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (k == cap && !ly__grow(&a, (void **)&v, k, &cap, sizeof *v)) {
            ly__stmt_done(st);
            ly_arena_free(&a);
            return ly__oom(err);
        }
        if (!ly__col_text(st, 0, &a, &v[k].rule)) {
            ly__stmt_done(st);
            ly_arena_free(&a);
            return ly__oom(err);
        }
        v[k].points = ly__col_i64(st, 1);
        v[k].discount = ly__col_i64(st, 2);
        if (n) *n += ly__col_i64(st, 3);
        k++;
    }
    if (rc != SQLITE_DONE) {
        ly_arena_free(&a);
        return ly__db_fail(db, st, err);
    }
    ly__stmt_done(st);
    ly_err r = LY_OK;
    for (size_t i = 0; i < k && r == LY_OK; i++)
        r = budgetAdd(db, v[i].rule, -v[i].points, -v[i].discount, err);
    ly_arena_free(&a);
    if (r != LY_OK) return r;
    st = ly__stmt(db, STMT_RW_USES_RETURNED,
        "UPDATE rule_uses SET returned = 1 WHERE receipt_id = ?1 AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

/* ---------------------------------------------------------------------------------------
 * Coupons
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_coupon_batch_insert(ly_db *db, const char *campaign, const char *batch,
                                 int64_t count, ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_BATCH_INSERT,
        "INSERT INTO coupon_batches(campaign, batch, count, created_at) VALUES(?1, ?2, ?3, ?4)",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, campaign) || ly__bind_text(st, 2, batch) ||
        ly__bind_i64(st, 3, count) || ly__bind_i64(st, 4, at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    return rc == LY_ECONFLICT ? ly_error_set(err, LY_ECONFLICT, "batch_exists", "batch",
                                             "campaign %s already has a batch %s", campaign,
                                             batch)
                              : rc;
}

ly_err ly_db_coupon_code_insert(ly_db *db, const uint8_t hash[32], const char *campaign,
                                const char *batch, ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_CODE_INSERT,
        "INSERT INTO coupon_codes(hash, campaign, batch, created_at) VALUES(?1, ?2, ?3, ?4)", err);
    if (!st) return LY_EIO;
    if (ly__bind_hash(st, 1, hash) || ly__bind_text(st, 2, campaign) ||
        ly__bind_text(st, 3, batch) || ly__bind_i64(st, 4, at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    return rc == LY_ECONFLICT
               ? ly_error_set(err, LY_ECONFLICT, "code_exists", NULL, "the code exists")
               : rc;
}

ly_err ly_db_coupon_code_find(ly_db *db, const uint8_t hash[32], ly_arena *a,
                              const char **campaign, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_CODE_FIND,
        "SELECT campaign FROM coupon_codes WHERE hash = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_hash(st, 1, hash)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, ly__row_text, a, campaign, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "coupon_unknown", NULL, "no such code")
               : rc;
}

ly_err ly_db_coupon_uses(ly_db *db, const char *campaign, const uint8_t hash[32],
                         int64_t customer_id, int64_t *code_uses, int64_t *campaign_uses,
                         int64_t *customer_uses, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_COUPON_CODE_USES,
        "SELECT count(*) FROM coupon_redemptions WHERE hash = ?1 AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_hash(st, 1, hash)) return ly__db_fail(db, st, err);
    if (oneInt(db, st, code_uses, err) != LY_OK) return LY_EIO;
    st = ly__stmt(db, STMT_RW_COUPON_CAMPAIGN_USES,
        "SELECT count(*) FROM coupon_redemptions WHERE campaign = ?1 AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, campaign)) return ly__db_fail(db, st, err);
    if (oneInt(db, st, campaign_uses, err) != LY_OK) return LY_EIO;
    *customer_uses = 0;
    if (customer_id <= 0) return LY_OK;
    st = ly__stmt(db, STMT_RW_COUPON_CUSTOMER_USES,
        "SELECT count(*) FROM coupon_redemptions WHERE campaign = ?1 AND customer_id = ?2"
        " AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, campaign) || ly__bind_i64(st, 2, customer_id))
        return ly__db_fail(db, st, err);
    return oneInt(db, st, customer_uses, err);
}

ly_err ly_db_coupon_redeem(ly_db *db, const char *campaign, const uint8_t hash[32],
                           int64_t customer_id, const char *receipt_id, ly_time at,
                           ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_COUPON_REDEEM,
        "INSERT INTO coupon_redemptions(campaign, hash, customer_id, receipt_id, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, campaign) || ly__bind_hash(st, 2, hash) ||
        ly__bind_ref(st, 3, customer_id) || ly__bind_text(st, 4, receipt_id) ||
        ly__bind_i64(st, 5, at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_coupon_redemptions_return(ly_db *db, const char *receipt_id, int64_t *n,
                                       ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_COUPON_RETURNED,
        "UPDATE coupon_redemptions SET returned = 1 WHERE receipt_id = ?1 AND returned = 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    return execChanges(db, st, n, err);
}

ly_err ly_db_coupon_stats(ly_db *db, const char *campaign, ly_coupon_stats *out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_COUPON_STATS,
        "SELECT (SELECT count(*) FROM coupon_codes WHERE campaign = ?1),"
        " (SELECT count(*) FROM coupon_batches WHERE campaign = ?1),"
        " (SELECT count(*) FROM coupon_redemptions WHERE campaign = ?1 AND returned = 0),"
        " (SELECT count(*) FROM coupon_redemptions WHERE campaign = ?1 AND returned = 1)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, campaign)) return ly__db_fail(db, st, err);
    if (sqlite3_step(st) != SQLITE_ROW) return ly__db_fail(db, st, err);
    out->codes = ly__col_i64(st, 0);
    out->batches = ly__col_i64(st, 1);
    out->uses = ly__col_i64(st, 2);
    out->returned = ly__col_i64(st, 3);
    ly__stmt_done(st);
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Referrals
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_referral_insert(ly_db *db, int64_t referee, int64_t referrer, ly_time at,
                             ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_INSERT,
        "INSERT INTO referrals(referee, referrer, linked_at) VALUES(?1, ?2, ?3)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referee) || ly__bind_i64(st, 2, referrer) || ly__bind_i64(st, 3, at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

#define REFERRAL_COLS "referee, referrer, linked_at, receipt_id, due_at, rewarded_at," \
                      " referrer_points, newcomer_points"

static bool readReferral(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_referral *out = item;
    out->referee = ly__col_i64(st, 0);
    out->referrer = ly__col_i64(st, 1);
    out->linked_at = ly__col_i64(st, 2);
    out->due_at = ly__col_i64(st, 4);
    out->rewarded_at = ly__col_i64(st, 5);
    out->referrer_points = ly__col_i64(st, 6);
    out->newcomer_points = ly__col_i64(st, 7);
    return ly__col_text(st, 3, a, &out->receipt_id);
}

ly_err ly_db_referral_get(ly_db *db, int64_t referee, ly_arena *a, ly_referral *out,
                          ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_GET,
        "SELECT " REFERRAL_COLS " FROM referrals WHERE referee = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referee)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, readReferral, a, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "referral_not_found", NULL, "no referral")
               : rc;
}

ly_err ly_db_referral_qualify(ly_db *db, int64_t referee, const char *receipt_id, ly_time due_at,
                              ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_QUALIFY,
        "UPDATE referrals SET receipt_id = ?2, due_at = ?3"
        " WHERE referee = ?1 AND receipt_id IS NULL AND rewarded_at IS NULL", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referee) || ly__bind_text(st, 2, receipt_id) ||
        ly__bind_i64(st, 3, due_at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_referral_unqualify(ly_db *db, const char *receipt_id, int64_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_UNQUALIFY,
        "UPDATE referrals SET receipt_id = NULL, due_at = NULL"
        " WHERE receipt_id = ?1 AND rewarded_at IS NULL", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    return execChanges(db, st, n, err);
}

ly_err ly_db_referrals_due(ly_db *db, ly_time now, int64_t after, size_t limit, ly_arena *a,
                           int64_t **referees, size_t *n, ly_error *err)
{
    *referees = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRALS_DUE,
        "SELECT referee FROM referrals WHERE rewarded_at IS NULL AND due_at <= ?1"
        " AND referee > ?2 ORDER BY referee LIMIT ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, now) || ly__bind_i64(st, 2, after) ||
        ly__bind_i64(st, 3, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **referees, ly__row_i64, a, (void **)referees, n, err);
}

ly_err ly_db_referral_rewarded(ly_db *db, int64_t referee, ly_time at, ly_points referrer_points,
                               ly_points newcomer_points, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_REWARDED,
        "UPDATE referrals SET rewarded_at = ?2, referrer_points = ?3, newcomer_points = ?4"
        " WHERE referee = ?1 AND rewarded_at IS NULL", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referee) || ly__bind_i64(st, 2, at) ||
        ly__bind_i64(st, 3, referrer_points) || ly__bind_i64(st, 4, newcomer_points))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_referral_stats(ly_db *db, int64_t referrer, size_t limit, ly_arena *a,
                            ly_referral_stats *stats, ly_referral **list, size_t *n,
                            ly_error *err)
{
    memset(stats, 0, sizeof *stats);
    *list = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_REFERRAL_STATS,
        "SELECT count(*), count(receipt_id), count(rewarded_at),"
        " coalesce(sum(referrer_points), 0), coalesce(sum(newcomer_points), 0)"
        " FROM referrals WHERE referrer = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referrer)) return ly__db_fail(db, st, err);
    if (sqlite3_step(st) != SQLITE_ROW) return ly__db_fail(db, st, err);
    stats->invited = ly__col_i64(st, 0);
    stats->qualified = ly__col_i64(st, 1);
    stats->converted = ly__col_i64(st, 2);
    stats->referrer_points = ly__col_i64(st, 3);
    stats->newcomer_points = ly__col_i64(st, 4);
    ly__stmt_done(st);
    st = ly__stmt(db, STMT_RW_REFERRAL_LIST,
        "SELECT " REFERRAL_COLS " FROM referrals WHERE referrer = ?1"
        " ORDER BY linked_at DESC, referee DESC LIMIT ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, referrer) || ly__bind_i64(st, 2, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **list, readReferral, a, (void **)list, n, err);
}

/* ---------------------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------------------- */

/* Columns event_id, customer_id, type, period, at, points, request_hash, response,
 * created_at. */
static bool readEvent(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_stored_event *out = item;
    memset(out, 0, sizeof *out);
    out->customer_id = ly__col_i64(st, 1);
    out->at = ly__col_i64(st, 4);
    out->points = ly__col_i64(st, 5);
    ly__col_hash(st, 6, out->request_hash);
    out->created_at = ly__col_i64(st, 8);
    return ly__col_text(st, 0, a, &out->event_id) && ly__col_text(st, 2, a, &out->type) &&
           ly__col_text(st, 3, a, &out->period) && ly__col_text(st, 7, a, &out->response);
}

ly_err ly_db_event_find(ly_db *db, const char *event_id, ly_arena *a, ly_stored_event *out,
                        ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_EVENT_FIND,
        "SELECT event_id, customer_id, type, period, at, points, request_hash, response,"
        " created_at FROM events WHERE event_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, event_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, readEvent, a, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "event_not_found", "event_id", "no such event")
               : rc;
}

ly_err ly_db_event_count(ly_db *db, int64_t customer_id, const char *type, const char *period,
                         int64_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_EVENT_COUNT,
        "SELECT count(*) FROM events WHERE customer_id = ?1 AND type = ?2 AND period = ?3"
        " AND points > 0", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, type) ||
        ly__bind_text(st, 3, period))
        return ly__db_fail(db, st, err);
    return oneInt(db, st, n, err);
}

ly_err ly_db_event_insert(ly_db *db, const ly_stored_event *e, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_EVENT_INSERT,
        "INSERT INTO events(event_id, customer_id, type, period, at, points, request_hash,"
        " response, created_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, e->event_id) || ly__bind_i64(st, 2, e->customer_id) ||
        ly__bind_text(st, 3, e->type) || ly__bind_text(st, 4, e->period) ||
        ly__bind_i64(st, 5, e->at) || ly__bind_i64(st, 6, e->points) ||
        ly__bind_hash(st, 7, e->request_hash) || ly__bind_text(st, 8, e->response ? e->response : "") ||
        ly__bind_i64(st, 9, e->created_at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

/* ---------------------------------------------------------------------------------------
 * Partners
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_partner_entry_insert(ly_db *db, const char *partner, const char *receipt_id,
                                  const char *return_id, ly_time at, ly_points issued,
                                  ly_points redeemed, ly_money paid, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_PARTNER_INSERT,
        "INSERT INTO partner_entries(partner, receipt_id, return_id, at, issued, redeemed, paid)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, partner) || ly__bind_text(st, 2, receipt_id) ||
        ly__bind_text(st, 3, return_id) || ly__bind_i64(st, 4, at) ||
        ly__bind_i64(st, 5, issued) || ly__bind_i64(st, 6, redeemed) || ly__bind_i64(st, 7, paid))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_partner_of_receipt(ly_db *db, const char *receipt_id, ly_arena *a,
                                const char **partner, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_PARTNER_OF_RECEIPT,
        "SELECT partner FROM partner_entries WHERE receipt_id = ?1 AND return_id IS NULL", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, receipt_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, ly__row_text, a, partner, err);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "partner_not_found", NULL,
                                             "not a partner receipt")
                              : rc;
}

/* Columns partner, receipts, issued, redeemed, paid. */
static bool partnerRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_partner_figures *f = item;
    f->receipts = ly__col_i64(st, 1);
    f->issued = ly__col_i64(st, 2);
    f->redeemed = ly__col_i64(st, 3);
    f->paid = ly__col_i64(st, 4);
    return ly__col_text(st, 0, a, &f->partner);
}

ly_err ly_db_partner_report(ly_db *db, ly_time from, ly_time to, ly_arena *a,
                            ly_partner_figures **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_PARTNER_REPORT,
        "SELECT partner, count(*) FILTER (WHERE return_id IS NULL), sum(issued), sum(redeemed),"
        " sum(paid) FROM partner_entries WHERE at >= ?1 AND at < ?2 GROUP BY partner"
        " ORDER BY partner", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, from) || ly__bind_i64(st, 2, to)) return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, partnerRow, a, (void **)out, n, err);
}

/* ---------------------------------------------------------------------------------------
 * Birthdays
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_birthday_candidates(ly_db *db, const char *mmdd, int year, int64_t after,
                                 size_t limit, ly_arena *a, int64_t **ids, size_t *n,
                                 ly_error *err)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_BIRTHDAYS,
        "SELECT c.id FROM customers c WHERE substr(c.birth_date, 6) = ?1"
        " AND c.birth_date IS NOT NULL AND c.merged_into IS NULL AND c.id > ?3"
        " AND NOT EXISTS (SELECT 1 FROM idempotency i"
        "   WHERE i.key = 'adjustment:birthday:' || c.id || ':' || ?2)"
        " ORDER BY c.id LIMIT ?4", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, mmdd) || sqlite3_bind_int(st, 2, year) ||
        ly__bind_i64(st, 3, after) || ly__bind_i64(st, 4, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **ids, ly__row_i64, a, (void **)ids, n, err);
}

/* ---------------------------------------------------------------------------------------
 * Liability
 * ------------------------------------------------------------------------------------- */

/* Columns expires_at, pending, active. */
static bool expiryRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    ly_liability_lots *l = item;
    l->expires_at = ly__col_i64(st, 0);
    l->pending = ly__col_i64(st, 1);
    l->active = ly__col_i64(st, 2);
    return true;
}

ly_err ly_db_liability(ly_db *db, ly_arena *a, ly_liability *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = ly__stmt(db, STMT_RW_LIAB_LOTS,
        "SELECT coalesce(sum(remaining) FILTER (WHERE state = 'pending'), 0),"
        " coalesce(sum(remaining) FILTER (WHERE state = 'active'), 0)"
        " FROM lots WHERE state IN ('pending', 'active')", err);
    if (!st) return LY_EIO;
    if (sqlite3_step(st) != SQLITE_ROW) return ly__db_fail(db, st, err);
    out->lots_pending = ly__col_i64(st, 0);
    out->lots_active = ly__col_i64(st, 1);
    ly__stmt_done(st);
    st = ly__stmt(db, STMT_RW_LIAB_CUSTOMERS,
        "SELECT coalesce(sum(available), 0), coalesce(sum(pending), 0), coalesce(sum(debt), 0)"
        " FROM customers", err);
    if (!st) return LY_EIO;
    if (sqlite3_step(st) != SQLITE_ROW) return ly__db_fail(db, st, err);
    out->acc_available = ly__col_i64(st, 0);
    out->acc_pending = ly__col_i64(st, 1);
    out->debt = ly__col_i64(st, 2);
    ly__stmt_done(st);
    st = ly__stmt(db, STMT_RW_LIAB_LEDGER,
        "SELECT coalesce(sum(available_delta), 0), coalesce(sum(pending_delta), 0) FROM ledger",
        err);
    if (!st) return LY_EIO;
    if (sqlite3_step(st) != SQLITE_ROW) return ly__db_fail(db, st, err);
    out->ledger_available = ly__col_i64(st, 0);
    out->ledger_pending = ly__col_i64(st, 1);
    ly__stmt_done(st);
    /* Lots expire at the end of a local day, so there are at most as many groups as days. */
    st = ly__stmt(db, STMT_RW_LIAB_EXPIRY,
        "SELECT expires_at, coalesce(sum(remaining) FILTER (WHERE state = 'pending'), 0),"
        " coalesce(sum(remaining) FILTER (WHERE state = 'active'), 0)"
        " FROM lots WHERE state IN ('pending', 'active') AND remaining > 0"
        " GROUP BY expires_at ORDER BY expires_at = 0, expires_at", err);
    if (!st) return LY_EIO;
    return ly__all_rows(db, st, sizeof *out->by_expiry, expiryRow, a, (void **)&out->by_expiry,
                        &out->n_by_expiry, err);
}
