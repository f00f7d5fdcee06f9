/*
 * triggers.c - the stored side of trigger communications (store.h, "Triggers"): hold-out
 * assignments, the chain state of each customer in each trigger, every step reached (sent
 * or, for held-out customers, the would-be send: the unit the uplift is measured on, and
 * what the frequency caps count), the bonus flags offers ride on, and the reads the
 * engine needs from other tables (receipts, events, tier changes).
 */
#include "store/internal.h"

#include <stdio.h>

ly_err ly_db_trigger_customers(ly_db *db, int64_t after, size_t limit, ly_arena *a,
                               int64_t **ids, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_CUSTOMERS,
        "SELECT id FROM customers WHERE id > ?1 AND merged_into IS NULL ORDER BY id LIMIT ?2",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, after) || ly__bind_i64(st, 2, (int64_t)limit))
        return ly__db_fail(db, st, err);
    *ids = limit ? ly_arena_alloc(a, limit * sizeof **ids) : NULL;
    *n = 0;
    if (limit && !*ids) {
        ly__stmt_done(st);
        return ly__oom(err);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < limit) (*ids)[(*n)++] = ly__col_i64(st, 0);
    return ly__step_end(db, st, rc, err);
}

/* Column grp into a bool: whether it is the hold-out group. */
static bool heldOutRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    const unsigned char *g = sqlite3_column_text(st, 0);
    *(bool *)item = g && strcmp((const char *)g, "holdout") == 0;
    return true;
}

ly_err ly_db_trigger_assignment_get(ly_db *db, const char *trigger, int64_t customer_id,
                                    bool *held_out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_ASSIGN_GET,
        "SELECT grp FROM trigger_assignments WHERE trigger_id = ?1 AND customer_id = ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, trigger) || ly__bind_i64(st, 2, customer_id))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, heldOutRow, NULL, held_out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "assignment_not_found", NULL, "not assigned")
               : rc;
}

ly_err ly_db_trigger_assignment_put(ly_db *db, const ly_trigger_assignment *as, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_ASSIGN_PUT,
        "INSERT OR IGNORE INTO trigger_assignments (trigger_id, customer_id, grp, bucket, hash,"
        " share_bp, seed, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, as->trigger) || ly__bind_i64(st, 2, as->customer_id) ||
        ly__bind_text(st, 3, as->held_out ? "holdout" : "treated") ||
        ly__bind_i64(st, 4, as->bucket) || ly__bind_text(st, 5, as->hash) ||
        ly__bind_i64(st, 6, as->share_bp) || ly__bind_text(st, 7, as->seed) ||
        ly__bind_i64(st, 8, as->at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

/* Columns trigger_id, cycle, grp, entered_at, step, step_at, state (not customer_id). */
static bool chainRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_trigger_chain *c = item;
    const char *state = NULL;
    if (!ly__col_text(st, 0, a, &c->trigger) || !ly__col_text(st, 2, a, &c->group) ||
        !ly__col_text(st, 6, a, &state))
        return false;
    c->cycle = ly__col_i64(st, 1);
    c->entered_at = ly__col_i64(st, 3);
    c->step = ly__col_i64(st, 4);
    c->step_at = ly__col_i64(st, 5);
    c->open = state && strcmp(state, "running") == 0;
    return true;
}

ly_err ly_db_trigger_chains_of(ly_db *db, int64_t customer_id, ly_arena *a,
                               ly_trigger_chain **out, size_t *n, ly_error *err)
{
    /* The latest cycle of each trigger. */
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_CHAINS_OF,
        "SELECT c.trigger_id, c.cycle, c.grp, c.entered_at, c.step, c.step_at, c.state"
        " FROM trigger_chains c WHERE c.customer_id = ?1 AND c.cycle = (SELECT MAX(cycle)"
        " FROM trigger_chains d WHERE d.customer_id = c.customer_id AND d.trigger_id ="
        " c.trigger_id) ORDER BY c.trigger_id", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__all_rows(db, st, sizeof **out, chainRow, a, (void **)out, n, err);
    /* The query selects by the customer rather than returning it. */
    for (size_t i = 0; i < *n; i++) (*out)[i].customer_id = customer_id;
    return rc;
}

ly_err ly_db_trigger_chain_put(ly_db *db, const ly_trigger_chain *c, const char *end_reason,
                               ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_CHAIN_PUT,
        "INSERT INTO trigger_chains (trigger_id, customer_id, cycle, grp, entered_at, step,"
        " step_at, state, end_reason, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
        " ?10) ON CONFLICT (trigger_id, customer_id, cycle) DO UPDATE SET step = excluded.step,"
        " step_at = excluded.step_at, state = excluded.state, end_reason = excluded.end_reason,"
        " updated_at = excluded.updated_at", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, c->trigger) || ly__bind_i64(st, 2, c->customer_id) ||
        ly__bind_i64(st, 3, c->cycle) || ly__bind_text(st, 4, c->group) ||
        ly__bind_i64(st, 5, c->entered_at) || ly__bind_i64(st, 6, c->step) ||
        ly__bind_i64(st, 7, c->step_at) ||
        ly__bind_text(st, 8, c->open ? "running" : "ended") ||
        ly__bind_text(st, 9, c->open ? NULL : end_reason) || ly__bind_i64(st, 10, at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_trigger_send_put(ly_db *db, const ly_trigger_send *s, bool *created, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_SEND_PUT,
        "INSERT OR IGNORE INTO trigger_sends (trigger_id, customer_id, cycle, step, grp, at,"
        " channel, cost, message_id, offer, reward_cost, touchpoint) VALUES (?1, ?2, ?3, ?4, ?5,"
        " ?6, ?7, ?8, ?9, ?10, ?11, ?12)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, s->trigger) || ly__bind_i64(st, 2, s->customer_id) ||
        ly__bind_i64(st, 3, s->cycle) || ly__bind_i64(st, 4, s->step) ||
        ly__bind_text(st, 5, s->group) || ly__bind_i64(st, 6, s->at) ||
        ly__bind_text(st, 7, s->channel) || ly__bind_i64(st, 8, s->cost) ||
        ly__bind_text(st, 9, s->message_id) || ly__bind_text(st, 10, s->offer) ||
        ly__bind_i64(st, 11, s->reward_cost) || ly__bind_text(st, 12, s->touchpoint))
        return ly__db_fail(db, st, err);
    if (ly__exec(db, st, err) != LY_OK) return LY_EIO;
    if (created) *created = sqlite3_changes(db->conn) > 0;
    return LY_OK;
}

ly_err ly_db_trigger_send_message(ly_db *db, const ly_trigger_send *s, const char *message_id,
                                  ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_SEND_MESSAGE,
        "UPDATE trigger_sends SET message_id = ?5 WHERE trigger_id = ?1 AND customer_id = ?2"
        " AND cycle = ?3 AND step = ?4", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, s->trigger) || ly__bind_i64(st, 2, s->customer_id) ||
        ly__bind_i64(st, 3, s->cycle) || ly__bind_i64(st, 4, s->step) ||
        ly__bind_text(st, 5, message_id))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_trigger_sends_count(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                                 int64_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_SENDS_COUNT,
        "SELECT COUNT(*) FROM trigger_sends WHERE customer_id = ?1 AND at >= ?2 AND at < ?3",
        err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, from) || ly__bind_i64(st, 3, to))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    *n = ly__col_i64(st, 0);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_trigger_flag_set(ly_db *db, int64_t customer_id, const char *flag,
                              const char *trigger, ly_time from, ly_time until, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_FLAG_SET,
        "INSERT INTO trigger_flags (customer_id, flag, trigger_id, from_at, until_at) VALUES"
        " (?1, ?2, ?3, ?4, ?5) ON CONFLICT (customer_id, flag) DO UPDATE SET trigger_id ="
        " excluded.trigger_id, from_at = MIN(from_at, excluded.from_at), until_at ="
        " MAX(until_at, excluded.until_at)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, flag) ||
        ly__bind_text(st, 3, trigger) || ly__bind_i64(st, 4, from) || ly__bind_i64(st, 5, until))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_trigger_flags_active(ly_db *db, int64_t customer_id, ly_time at, ly_arena *a,
                                  const char ***flags, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_FLAGS_ACTIVE,
        "SELECT flag FROM trigger_flags WHERE customer_id = ?1 AND from_at <= ?2 AND"
        " until_at > ?2 ORDER BY flag", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, at))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **flags, ly__row_text, a, (void **)flags, n, err);
}

ly_err ly_db_trigger_deals(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                           int64_t *count, ly_time *first, ly_time *last, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_DEALS,
        "SELECT COUNT(*), MIN(time), MAX(time) FROM receipts WHERE customer_id = ?1 AND"
        " time >= ?2 AND time < ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, from) || ly__bind_i64(st, 3, to))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    *count = ly__col_i64(st, 0);
    if (first) *first = *count ? ly__col_i64(st, 1) : 0;
    if (last) *last = *count ? ly__col_i64(st, 2) : 0;
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_trigger_events(ly_db *db, int64_t customer_id, const char *type, ly_time from,
                            ly_time to, int64_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_EVENTS,
        "SELECT COUNT(*) FROM events WHERE customer_id = ?1 AND type = ?2 AND at >= ?3 AND"
        " at < ?4", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, type) ||
        ly__bind_i64(st, 3, from) || ly__bind_i64(st, 4, to))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    *n = ly__col_i64(st, 0);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_trigger_tier_changes(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                                  int64_t *upgrades, int64_t *downgrades, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_TIER_CHANGES,
        "SELECT COALESCE(SUM(change = 'upgrade'), 0), COALESCE(SUM(change = 'downgrade'), 0)"
        " FROM tier_history WHERE customer_id = ?1 AND at >= ?2 AND at < ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, from) || ly__bind_i64(st, 3, to))
        return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    *upgrades = ly__col_i64(st, 0);
    *downgrades = ly__col_i64(st, 1);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_trigger_outcomes(ly_db *db, const char *trigger, ly_time from, ly_time to,
                              int64_t window, ly_trigger_outcome_fn fn, void *ctx,
                              ly_error *err)
{
    /* A deal is a receipt in [at, at + window); its revenue is what was paid less what its
     * returns gave back (returns made by the time of the report). */
    sqlite3_stmt *st = ly__stmt(db, STMT_TRG_OUTCOMES,
        "SELECT s.customer_id, s.cycle, s.step, s.grp, s.at, s.cost, s.reward_cost,"
        " (SELECT COUNT(*) FROM receipts r WHERE r.customer_id = s.customer_id AND"
        "  r.time >= s.at AND r.time < s.at + ?4),"
        " (SELECT COALESCE(SUM(r.paid - COALESCE((SELECT SUM(t.amount) FROM returns t"
        "  WHERE t.receipt = r.id), 0)), 0) FROM receipts r WHERE r.customer_id ="
        "  s.customer_id AND r.time >= s.at AND r.time < s.at + ?4)"
        " FROM trigger_sends s WHERE s.trigger_id = ?1 AND s.at >= ?2 AND s.at < ?3"
        " ORDER BY s.step, s.customer_id, s.cycle", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, trigger) || ly__bind_i64(st, 2, from) || ly__bind_i64(st, 3, to) ||
        ly__bind_i64(st, 4, window))
        return ly__db_fail(db, st, err);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ly_trigger_outcome o;
        const unsigned char *g = sqlite3_column_text(st, 3);
        o.customer_id = ly__col_i64(st, 0);
        o.cycle = ly__col_i64(st, 1);
        o.step = ly__col_i64(st, 2);
        o.held_out = g && strcmp((const char *)g, "treated") != 0;
        o.program_holdout = g && strcmp((const char *)g, "program_holdout") == 0;
        o.at = ly__col_i64(st, 4);
        o.cost = ly__col_i64(st, 5);
        o.reward_cost = ly__col_i64(st, 6);
        o.deals = ly__col_i64(st, 7);
        o.revenue = ly__col_i64(st, 8);
        ly_err frc = fn(ctx, &o, err);
        if (frc != LY_OK) {
            ly__stmt_done(st);
            return frc;
        }
    }
    return ly__step_end(db, st, rc, err);
}
