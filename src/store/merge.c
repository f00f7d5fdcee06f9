/*
 * merge.c - the rows a merge of two profiles moves to the survivor besides the identifiers,
 * lots and receipts of customers.c (store.h, "Merging profiles"; docs/api.md, "Merge two
 * profiles"; docs/quests.md, "Merging profiles"): quest progress and contributions, badges,
 * experience points, the streak, rule uses, coupon redemptions, custom events, answer sets
 * and referrals, and the idempotency marks of once-only bonuses. Everything runs on the
 * writer inside the merge's own write job, so it commits with the rest of the merge or not
 * at all.
 *
 * The statements all take ?1 = the merged profile (from) and ?2 = the survivor (into).
 */
#include "store/internal.h"

#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

/* Columns quest_id, period, summed value. */
static bool collisionRow(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_merge_progress *p = item;
    p->value = ly__col_i64(st, 2);
    return ly__col_text(st, 0, a, &p->quest_id) && ly__col_text(st, 1, a, &p->period);
}

ly_err ly_db_merge_open_collisions(ly_db *db, int64_t from, int64_t into, ly_arena *a,
                                   ly_merge_progress **out, size_t *n, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_MRG_OPEN_COLLISIONS,
        "SELECT i.quest_id, i.period, i.value + f.value FROM quest_progress i"
        " JOIN quest_progress f ON f.customer_id = ?1 AND f.quest_id = i.quest_id"
        "  AND f.period = i.period"
        " WHERE i.customer_id = ?2 AND i.completed_at IS NULL AND f.completed_at IS NULL"
        " ORDER BY i.quest_id, i.period", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, from) || ly__bind_i64(st, 2, into)) return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **out, collisionRow, a, (void **)out, n, err);
}

/* Quest progress: a period both have is summed into the survivor's row, completed when
 * either was (the earlier completion); the merged profile's other rows become the
 * survivor's. Contributions follow their receipts. */
static ly_err moveQuests(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    ly_err rc = ly__exec_move(db, STMT_MRG_PROGRESS_SUM,
        "UPDATE quest_progress AS i SET value = i.value + f.value,"
        " completed_at = min(coalesce(i.completed_at, f.completed_at),"
        "                    coalesce(f.completed_at, i.completed_at)),"
        " updated_at = ?3"
        " FROM quest_progress AS f WHERE i.customer_id = ?2 AND f.customer_id = ?1"
        " AND f.quest_id = i.quest_id AND f.period = i.period", from, into, at, err);
    /* OR IGNORE skips the rows just summed (the survivor has their key); DROP removes them. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_PROGRESS_MOVE,
            "UPDATE OR IGNORE quest_progress SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_PROGRESS_DROP,
            "DELETE FROM quest_progress WHERE customer_id = ?1", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_CONTRIBS_MOVE,
            "UPDATE quest_contributions SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    /* Personal coupon codes a quest or streak gave: the survivor owns them (their cause keys
     * keep the merged profile's id, so none is issued twice). */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_QUEST_COUPONS_MOVE,
            "UPDATE quest_coupons SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    return rc;
}

/* Badges: the union; a badge both hold keeps the earlier award (its quest, period, time). */
static ly_err moveBadges(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    ly_err rc = ly__exec_move(db, STMT_MRG_BADGES_EARLIER,
        "UPDATE quest_badges AS i SET quest_id = f.quest_id, period = f.period, at = f.at"
        " FROM quest_badges AS f WHERE i.customer_id = ?2 AND f.customer_id = ?1"
        " AND f.badge = i.badge AND f.at < i.at", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_BADGES_MOVE,
            "UPDATE OR IGNORE quest_badges SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_BADGES_DROP,
            "DELETE FROM quest_badges WHERE customer_id = ?1", from, into, at, err);
    return rc;
}

/* XP: summed. */
static ly_err moveXp(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    ly_err rc = ly__exec_move(db, STMT_MRG_XP_ADD,
        "INSERT INTO quest_xp(customer_id, xp) SELECT ?2, xp FROM quest_xp WHERE customer_id = ?1"
        " ON CONFLICT(customer_id) DO UPDATE SET xp = xp + excluded.xp", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_XP_DROP, "DELETE FROM quest_xp WHERE customer_id = ?1",
                 from, into, at, err);
    return rc;
}

void ly_merge_streaks(const ly_merge_streak *a, const ly_merge_streak *b, ly_merge_streak *out)
{
    if (b->length <= 0) {
        *out = *a;
        if (b->best > out->best) out->best = b->best;
        return;
    }
    if (a->length <= 0) {
        *out = *b;
        if (a->best > out->best) out->best = a->best;
        return;
    }
    /* Each stored run is the weeks [week - 7 (length - 1), week], all with a deal. */
    const ly_merge_streak *late = a->week >= b->week ? a : b, *early = late == a ? b : a;
    int64_t late_start = late->week - 7 * (late->length - 1);
    int64_t early_start = early->week - 7 * (early->length - 1);
    out->week = late->week;
    out->length = late->length;
    /* Overlapping or back to back (the earlier run reaches the week before the later one
     * starts): one run from the earlier start. */
    if (early->week >= late_start - 7) {
        int64_t start = early_start < late_start ? early_start : late_start;
        out->length = (late->week - start) / 7 + 1;
    }
    out->best = a->best > b->best ? a->best : b->best;
    if (out->length > out->best) out->best = out->length;
}

static ly_err moveStreak(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    ly_merge_streak f, i, m;
    TRY(ly_db_quest_streak_get(db, from, &f.week, &f.length, &f.best, err));
    if (f.length <= 0 && f.best <= 0) return LY_OK; /* nothing to carry */
    TRY(ly_db_quest_streak_get(db, into, &i.week, &i.length, &i.best, err));
    ly_merge_streaks(&i, &f, &m);
    TRY(ly_db_quest_streak_put(db, into, m.week, m.length, m.best, err));
    return ly__exec_move(db, STMT_MRG_STREAK_DROP,
                         "DELETE FROM quest_streaks WHERE customer_id = ?1", from, into, at, err);
}

/* Referrals (docs/api.md, "Merge two profiles"): one referee row per person, never a
 * customer their own referrer. */
static ly_err moveReferrals(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    /* A referral between the two profiles would make the survivor its own referrer: not yet
     * rewarded, it can never pay and goes; rewarded, it stays as it was (history). */
    ly_err rc = ly__exec_move(db, STMT_MRG_REF_BETWEEN_DROP,
        "DELETE FROM referrals WHERE rewarded_at IS NULL AND"
        " ((referee = ?1 AND referrer = ?2) OR (referee = ?2 AND referrer = ?1))",
        from, into, at, err);
    /* A rewarded referee row of the merged profile beats the survivor's unrewarded one. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_REF_INTO_LOSES,
            "DELETE FROM referrals WHERE referee = ?2 AND rewarded_at IS NULL AND EXISTS"
            " (SELECT 1 FROM referrals f WHERE f.referee = ?1 AND f.referrer <> ?2"
            "  AND f.rewarded_at IS NOT NULL)", from, into, at, err);
    /* Otherwise the survivor's row wins: the merged profile's unrewarded one goes ... */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_REF_FROM_LOSES,
            "DELETE FROM referrals WHERE referee = ?1 AND referrer <> ?2 AND rewarded_at IS NULL"
            " AND EXISTS (SELECT 1 FROM referrals i WHERE i.referee = ?2)", from, into, at, err);
    /* ... (a rewarded one stays with the merged profile), and without a survivor's row the
     * merged profile's moves. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_REF_REFEREE_MOVE,
            "UPDATE referrals SET referee = ?2 WHERE referee = ?1 AND referrer <> ?2"
            " AND NOT EXISTS (SELECT 1 FROM referrals i WHERE i.referee = ?2)",
            from, into, at, err);
    /* The friends the merged profile invited are the survivor's. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_REF_REFERRER_MOVE,
            "UPDATE referrals SET referrer = ?2 WHERE referrer = ?1 AND referee <> ?2",
            from, into, at, err);
    return rc;
}

ly_err ly_db_merge_moves(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    ly_err rc = moveQuests(db, from, into, at, err);
    if (rc == LY_OK) rc = moveBadges(db, from, into, at, err);
    if (rc == LY_OK) rc = moveXp(db, from, into, at, err);
    if (rc == LY_OK) rc = moveStreak(db, from, into, at, err);
    /* Per-customer limits count rows by customer: moved, they count the survivor's. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_RULE_USES_MOVE,
            "UPDATE rule_uses SET customer_id = ?2 WHERE customer_id = ?1", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_COUPONS_MOVE,
            "UPDATE coupon_redemptions SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_EVENTS_MOVE,
            "UPDATE events SET customer_id = ?2 WHERE customer_id = ?1", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MRG_ANSWERS_MOVE,
            "UPDATE survey_answers SET customer_id = ?2 WHERE customer_id = ?1",
            from, into, at, err);
    if (rc == LY_OK) rc = moveReferrals(db, from, into, at, err);
    return rc;
}

ly_err ly_db_merge_keys(ly_db *db, const char *prefix, ly_arena *a, const char ***keys,
                        size_t *n, ly_error *err)
{
    *keys = NULL;
    *n = 0;
    size_t len = strlen(prefix);
    if (len == 0 || (unsigned char)prefix[len - 1] == 0x7f)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "prefix", "an unusable prefix");
    /* The keys in [prefix, prefix with its last byte one higher): a range of the index. */
    char *upper = ly_arena_strdup(a, prefix);
    if (!upper) return ly__oom(err);
    upper[len - 1] = (char)(upper[len - 1] + 1);
    sqlite3_stmt *st = ly__stmt(db, STMT_MRG_MARKS_PREFIX,
        "SELECT key FROM idempotency WHERE key >= ?1 AND key < ?2 ORDER BY key", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, prefix) || ly__bind_text(st, 2, upper))
        return ly__db_fail(db, st, err);
    return ly__all_rows(db, st, sizeof **keys, ly__row_text, a, (void **)keys, n, err);
}

ly_err ly_db_merge_mark_copy(ly_db *db, const char *from_key, const char *into_key,
                             const uint8_t hash[32], ly_time at, bool *copied, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_MRG_MARK_COPY,
        "INSERT OR IGNORE INTO idempotency(key, request_hash, status, response, at)"
        " SELECT ?2, ?3, status, response, ?4 FROM idempotency WHERE key = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, from_key) || ly__bind_text(st, 2, into_key) ||
        ly__bind_hash(st, 3, hash) || ly__bind_i64(st, 4, at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK && copied) *copied = sqlite3_changes(db->conn) > 0;
    return rc;
}
