/*
 * outbox.c - the outbox: messages written by triggers and the states of their delivery
 * (store.h, "Delivery and the outbox"; docs/delivery.md).
 *
 * Every change of state is one UPDATE guarded by the state it expects, so two workers (or
 * a worker and `loyal outbox retry`) can never both move the same message: the loser's
 * UPDATE changes no row and it learns so through `applied`.
 */
#include "store/internal.h"
#include "os/os.h"

#include <stdio.h>

static const char *const stateNames[LY_MSG_STATE_COUNT] = {"pending", "sending", "delivered",
                                                           "retrying", "dead"};

const char *ly_msg_state_name(ly_msg_state s)
{
    return (unsigned)s < LY_MSG_STATE_COUNT ? stateNames[s] : "unknown";
}

bool ly_msg_state_parse(const char *s, ly_msg_state *out)
{
    for (int i = 0; s && i < LY_MSG_STATE_COUNT; i++)
        if (strcmp(s, stateNames[i]) == 0) {
            *out = (ly_msg_state)i;
            return true;
        }
    return false;
}

/* The columns every read returns, in this order (readMessage). */
#define MSG_COLUMNS                                                                           \
    "id, message_id, trigger_id, customer_id, step, channel, payload, state, attempts,"      \
    " next_at, last_error, cost, created_at, updated_at, delivered_at, touchpoint"

static bool readMessage(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_message *m = item;
    memset(m, 0, sizeof *m);
    m->rowid = ly__col_i64(st, 0);
    const unsigned char *id = sqlite3_column_text(st, 1);
    snprintf(m->id, sizeof m->id, "%s", id ? (const char *)id : "");
    m->customer_id = ly__col_i64(st, 3);
    m->step = ly__col_i64(st, 4);
    const unsigned char *state = sqlite3_column_text(st, 7);
    if (!ly_msg_state_parse((const char *)state, &m->state)) m->state = LY_MSG_DEAD;
    m->attempts = ly__col_i64(st, 8);
    m->next_at = ly__col_i64(st, 9);
    m->cost = ly__col_i64(st, 11);
    m->created_at = ly__col_i64(st, 12);
    m->updated_at = ly__col_i64(st, 13);
    m->delivered_at = ly__col_i64(st, 14);
    return ly__col_text(st, 2, a, &m->trigger) && ly__col_text(st, 5, a, &m->channel) &&
           ly__col_text(st, 6, a, &m->payload) && ly__col_text(st, 10, a, &m->last_error) &&
           ly__col_text(st, 15, a, &m->touchpoint);
}

/* Steps a query of MSG_COLUMNS into a new array. */
static ly_err readAll(ly_db *db, sqlite3_stmt *st, ly_arena *a, ly_message **out, size_t *n,
                      ly_error *err)
{
    return ly__all_rows(db, st, sizeof **out, readMessage, a, (void **)out, n, err);
}

static bool validChannel(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 32) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return true;
}

static bool validTrigger(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static ly_err validate(const ly_message *m, ly_error *err)
{
    if (!validTrigger(m->trigger))
        return ly_error_set(err, LY_EINVAL, "invalid_message", "trigger",
                            "a trigger id is 1-64 bytes without control characters");
    if (m->customer_id <= 0)
        return ly_error_set(err, LY_EINVAL, "invalid_message", "customer_id",
                            "a message needs a customer");
    if (m->step < 0)
        return ly_error_set(err, LY_EINVAL, "invalid_message", "step", "must be >= 0");
    if (!validChannel(m->channel))
        return ly_error_set(err, LY_EINVAL, "invalid_message", "channel",
                            "a channel is 1-32 characters of a-z, 0-9 and _");
    if (!m->payload)
        return ly_error_set(err, LY_EINVAL, "invalid_payload", "payload",
                            "the payload must be a JSON object");
    if (m->created_at <= 0)
        return ly_error_set(err, LY_EINVAL, "invalid_message", "created_at", "must be set");
    if (m->touchpoint && !validTrigger(m->touchpoint))
        return ly_error_set(err, LY_EINVAL, "invalid_message", "touchpoint",
                            "a touchpoint id is 1-64 bytes without control characters");
    return LY_OK;
}

/* Reads the stored message of (trigger, customer, step) into m's store-filled fields. */
static ly_err readExisting(ly_db *db, ly_message *m, ly_arena *a, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_BY_KEY,
        "SELECT " MSG_COLUMNS " FROM outbox WHERE trigger_id = ?1 AND customer_id = ?2"
        " AND step = ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, m->trigger) || ly__bind_i64(st, 2, m->customer_id) ||
        ly__bind_i64(st, 3, m->step))
        return ly__db_fail(db, st, err);
    ly_arena scratch = {0};
    ly_message stored;
    ly_err rc = ly__one_row(db, st, readMessage, a ? a : &scratch, &stored, err);
    if (rc == LY_OK) {
        memcpy(m->id, stored.id, sizeof m->id);
        m->rowid = stored.rowid;
        m->state = stored.state;
        m->attempts = stored.attempts;
        m->next_at = stored.next_at;
        m->last_error = a ? stored.last_error : NULL;
        m->cost = stored.cost;
        m->updated_at = stored.updated_at;
        m->delivered_at = stored.delivered_at;
        m->created_at = stored.created_at;
        m->not_before = 0;
    }
    ly_arena_free(&scratch);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_EINTERNAL, "outbox_vanished", NULL,
                                             "the message that conflicted is gone")
                              : rc;
}

ly_err ly_db_outbox_enqueue(ly_db *db, ly_message *m, ly_arena *a, bool *created,
                            ly_error *err)
{
    if (created) *created = false;
    ly_err rc = validate(m, err);
    if (rc != LY_OK) return rc;
    ly_time due = m->not_before > m->created_at ? m->not_before : m->created_at;
    /* A clash on the (trigger, customer, step) key is the idempotent case; a clash on the
     * random message id (odds about 2^-131) just draws again. */
    for (int tries = 0; tries < 4; tries++) {
        char id[LY_MESSAGE_ID_LEN + 1];
        memcpy(id, "msg_", 4);
        ly_os_random_token(id + 4, LY_MESSAGE_ID_LEN - 4);
        sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_INSERT,
            "INSERT INTO outbox(message_id, trigger_id, customer_id, step, channel, payload,"
            " state, attempts, next_at, created_at, updated_at, touchpoint)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?8, ?8, ?9)"
            " ON CONFLICT(trigger_id, customer_id, step) DO NOTHING", err);
        if (!st) return LY_EIO;
        if (ly__bind_text(st, 1, id) || ly__bind_text(st, 2, m->trigger) ||
            ly__bind_i64(st, 3, m->customer_id) || ly__bind_i64(st, 4, m->step) ||
            ly__bind_text(st, 5, m->channel) || ly__bind_text(st, 6, m->payload) ||
            ly__bind_i64(st, 7, due) || ly__bind_i64(st, 8, m->created_at) ||
            ly__bind_text(st, 9, m->touchpoint))
            return ly__db_fail(db, st, err);
        if (sqlite3_step(st) != SQLITE_DONE) {
            int x = sqlite3_extended_errcode(db->conn);
            if (x == SQLITE_CONSTRAINT_CHECK) {
                ly__stmt_done(st);
                return ly_error_set(err, LY_EINVAL, "invalid_payload", "payload",
                                    "the payload must be a JSON object");
            }
            if (x == SQLITE_CONSTRAINT_FOREIGNKEY) {
                ly__stmt_done(st);
                return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "customer_id",
                                    "no customer %lld", (long long)m->customer_id);
            }
            if (ly__is_duplicate(db)) {
                ly__stmt_done(st);
                continue; /* the message id: draw another */
            }
            return ly__db_fail(db, st, err);
        }
        ly__stmt_done(st);
        if (sqlite3_changes(db->conn) == 0) return readExisting(db, m, a, err);
        memcpy(m->id, id, sizeof m->id);
        m->rowid = sqlite3_last_insert_rowid(db->conn);
        m->state = LY_MSG_PENDING;
        m->attempts = 0;
        m->next_at = due;
        m->last_error = NULL;
        m->cost = 0;
        m->updated_at = m->created_at;
        m->delivered_at = 0;
        if (created) *created = true;
        return LY_OK;
    }
    return ly_error_set(err, LY_EINTERNAL, "message_id_clash", NULL,
                        "could not draw a free message id");
}

ly_err ly_db_outbox_claim(ly_db *db, const char *channels, ly_time now, ly_time lease_until,
                          size_t limit, ly_arena *a, ly_message **out, size_t *n,
                          int64_t *n_reclaimed, ly_error *err)
{
    *out = NULL;
    *n = 0;
    if (n_reclaimed) *n_reclaimed = 0;
    if (limit == 0) return LY_OK;
    /* Read first, update after: the rows move in the index being scanned. The due index
     * is named: left to itself the planner may take every pending row by state and sort
     * them, scheduled ones included. */
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_DUE,
        "SELECT " MSG_COLUMNS " FROM outbox INDEXED BY outbox_due"
        " WHERE state IN ('pending', 'retrying', 'sending') AND next_at <= ?1"
        "   AND (?2 IS NULL OR channel IN (SELECT value FROM json_each(?2)))"
        " ORDER BY next_at, id LIMIT ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, now) || ly__bind_text(st, 2, channels) ||
        ly__bind_i64(st, 3, (int64_t)limit))
        return ly__db_fail(db, st, err);
    ly_err rc = readAll(db, st, a, out, n, err);
    if (rc != LY_OK) return rc;

    for (size_t i = 0; i < *n; i++) {
        ly_message *m = &(*out)[i];
        st = ly__stmt(db, STMT_OUTBOX_CLAIM,
            "UPDATE outbox SET state = 'sending', attempts = attempts + 1, next_at = ?2,"
            " updated_at = ?3 WHERE id = ?1", err);
        if (!st) return LY_EIO;
        if (ly__bind_i64(st, 1, m->rowid) || ly__bind_i64(st, 2, lease_until) ||
            ly__bind_i64(st, 3, now))
            return ly__db_fail(db, st, err);
        rc = ly__exec(db, st, err);
        if (rc != LY_OK) return rc;
        if (m->state == LY_MSG_SENDING && n_reclaimed) (*n_reclaimed)++;
        m->state = LY_MSG_SENDING;
        m->attempts++;
        m->next_at = lease_until;
        m->updated_at = now;
    }
    return LY_OK;
}

ly_err ly_db_outbox_record(ly_db *db, const ly_msg_outcome *o, bool *applied, ly_error *err)
{
    if (applied) *applied = false;
    char error[501];
    snprintf(error, sizeof error, "%s", o->error ? o->error : "");
    sqlite3_stmt *st;
    switch (o->kind) {
    case LY_OUTCOME_DELIVERED:
        /* Whoever delivered it, it is delivered: even a late answer to an attempt whose
         * lease ran out, or to one before the message went dead. */
        st = ly__stmt(db, STMT_OUTBOX_DELIVERED,
            "UPDATE outbox SET state = 'delivered', delivered_at = ?2, updated_at = ?2, next_at = ?2,"
            " cost = ?3, last_error = NULL WHERE message_id = ?1 AND state <> 'delivered'", err);
        if (!st) return LY_EIO;
        if (ly__bind_text(st, 1, o->id) || ly__bind_i64(st, 2, o->at) ||
            ly__bind_i64(st, 3, o->cost))
            return ly__db_fail(db, st, err);
        break;
    case LY_OUTCOME_RETRY:
    case LY_OUTCOME_DEAD:
        st = ly__stmt(db, STMT_OUTBOX_FAILED,
            "UPDATE outbox SET state = ?3, next_at = ?4, last_error = ?5, updated_at = ?6"
            " WHERE message_id = ?1 AND attempts = ?2 AND state = 'sending'", err);
        if (!st) return LY_EIO;
        if (ly__bind_text(st, 1, o->id) || ly__bind_i64(st, 2, o->attempt) ||
            ly__bind_text(st, 3, o->kind == LY_OUTCOME_RETRY ? "retrying" : "dead") ||
            ly__bind_i64(st, 4, o->kind == LY_OUTCOME_RETRY ? o->next_at : o->at) ||
            ly__bind_text(st, 5, error) || ly__bind_i64(st, 6, o->at))
            return ly__db_fail(db, st, err);
        break;
    case LY_OUTCOME_RELEASE:
        st = ly__stmt(db, STMT_OUTBOX_RELEASE,
            "UPDATE outbox SET state = CASE WHEN attempts > 1 THEN 'retrying' ELSE 'pending' END,"
            " attempts = attempts - 1, next_at = ?3, updated_at = ?3"
            " WHERE message_id = ?1 AND attempts = ?2 AND state = 'sending'", err);
        if (!st) return LY_EIO;
        if (ly__bind_text(st, 1, o->id) || ly__bind_i64(st, 2, o->attempt) ||
            ly__bind_i64(st, 3, o->at))
            return ly__db_fail(db, st, err);
        break;
    default:
        return ly_error_set(err, LY_EINTERNAL, "bad_outcome", NULL, "unknown outcome %d",
                            (int)o->kind);
    }
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK && applied) *applied = sqlite3_changes(db->conn) > 0;
    return rc;
}

ly_err ly_db_outbox_get(ly_db *db, const char *id, ly_arena *a, ly_message *out,
                        ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_GET,
        "SELECT " MSG_COLUMNS " FROM outbox WHERE message_id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, readMessage, a, out, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "message_not_found", "id", "no message %s", id)
               : rc;
}

ly_err ly_db_outbox_retry(ly_db *db, const char *id, ly_time now, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_RETRY,
        "UPDATE outbox SET state = 'pending', attempts = 0, next_at = ?2, updated_at = ?2"
        " WHERE message_id = ?1 AND state = 'dead'", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, id) || ly__bind_i64(st, 2, now)) return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK || sqlite3_changes(db->conn) > 0) return rc;
    ly_arena a = {0};
    ly_message m;
    rc = ly_db_outbox_get(db, id, &a, &m, err);
    if (rc == LY_OK)
        rc = ly_error_set(err, LY_ECONFLICT, "message_not_dead", "id",
                          "message %s is %s, not dead", id, ly_msg_state_name(m.state));
    ly_arena_free(&a);
    return rc;
}

ly_err ly_db_outbox_list(ly_db *db, ly_msg_state state, int64_t after, size_t limit,
                         ly_arena *a, ly_message **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_LIST,
        "SELECT " MSG_COLUMNS " FROM outbox WHERE (?1 IS NULL OR state = ?1) AND id > ?2"
        " ORDER BY id LIMIT ?3", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, state < LY_MSG_STATE_COUNT ? ly_msg_state_name(state) : NULL) ||
        ly__bind_i64(st, 2, after) || ly__bind_i64(st, 3, (int64_t)limit))
        return ly__db_fail(db, st, err);
    return readAll(db, st, a, out, n, err);
}

ly_err ly_db_outbox_counts(ly_db *db, int64_t counts[LY_MSG_STATE_COUNT], ly_error *err)
{
    for (int i = 0; i < LY_MSG_STATE_COUNT; i++) counts[i] = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_COUNTS,
        "SELECT state, count(*) FROM outbox GROUP BY state", err);
    if (!st) return LY_EIO;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ly_msg_state s;
        if (ly_msg_state_parse((const char *)sqlite3_column_text(st, 0), &s))
            counts[s] = ly__col_i64(st, 1);
    }
    if (rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly_db_outbox_next_due(ly_db *db, const char *channels, ly_time *at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_OUTBOX_NEXT_DUE,
        "SELECT next_at FROM outbox INDEXED BY outbox_due WHERE state IN ('pending', 'retrying', 'sending')"
        "   AND (?1 IS NULL OR channel IN (SELECT value FROM json_each(?1)))"
        " ORDER BY next_at LIMIT 1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, channels)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, ly__row_i64, NULL, at, err);
    return rc == LY_ENOTFOUND
               ? ly_error_set(err, LY_ENOTFOUND, "nothing_due", NULL, "no message is waiting")
               : rc;
}
