/*
 * keys.c - API keys (only their hashes) and idempotency records: the stored response of a
 * request that has no natural id, under its Idempotency-Key (store.h).
 */
#include "store/internal.h"

/* ---------------------------------------------------------------------------------------
 * Idempotency records
 * ------------------------------------------------------------------------------------- */

ly_err ly_db_idem_get(ly_db *db, const char *key, ly_arena *a, uint8_t hash[32], int *status,
                      const char **response, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_IDEM_GET,
        "SELECT request_hash, status, response FROM idempotency WHERE key = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, key)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "idempotency_key_not_found", NULL,
                            "no request with this key");
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    ly__col_hash(st, 0, hash);
    *status = sqlite3_column_int(st, 1);
    bool ok = ly__col_text(st, 2, a, response);
    ly__stmt_done(st);
    return ok ? LY_OK : ly__oom(err);
}

ly_err ly_db_idem_put(ly_db *db, const char *key, const uint8_t hash[32], int status,
                      const char *response, ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_IDEM_PUT,
        "INSERT INTO idempotency(key, request_hash, status, response, at)"
        " VALUES(?1, ?2, ?3, ?4, ?5)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, key) || ly__bind_hash(st, 2, hash) ||
        sqlite3_bind_int(st, 3, status) || ly__bind_text(st, 4, response ? response : "") ||
        ly__bind_i64(st, 5, at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    return rc == LY_ECONFLICT ? ly_error_set(err, LY_ECONFLICT, "idempotency_conflict",
                                             "Idempotency-Key", "this key was already used")
                              : rc;
}

/* ---------------------------------------------------------------------------------------
 * API keys
 * ------------------------------------------------------------------------------------- */

/* Columns id, prefix, role, label, created_at, revoked_at. */
static bool readKey(sqlite3_stmt *st, ly_arena *a, void *item)
{
    ly_api_key *out = item;
    memset(out, 0, sizeof *out);
    out->id = ly__col_i64(st, 0);
    out->created_at = ly__col_i64(st, 4);
    out->revoked_at = ly__col_i64(st, 5);
    return ly__col_text(st, 1, a, &out->prefix) && ly__col_text(st, 2, a, &out->role) &&
           ly__col_text(st, 3, a, &out->label);
}

ly_err ly_db_key_insert(ly_db *db, const uint8_t hash[32], ly_api_key *k, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_KEY_INSERT,
        "INSERT INTO api_keys(prefix, hash, role, label, created_at, revoked_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6)", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, k->prefix ? k->prefix : "") || ly__bind_hash(st, 2, hash) ||
        ly__bind_text(st, 3, k->role ? k->role : "") || ly__bind_text(st, 4, k->label) ||
        ly__bind_i64(st, 5, k->created_at) || ly__bind_ref(st, 6, k->revoked_at))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__insert(db, st, err);
    if (rc == LY_ECONFLICT)
        return ly_error_set(err, LY_ECONFLICT, "api_key_exists", NULL,
                            "a key with this hash is already stored");
    if (rc != LY_OK) return rc;
    k->id = sqlite3_last_insert_rowid(db->conn);
    return LY_OK;
}

ly_err ly_db_key_find(ly_db *db, const uint8_t hash[32], ly_arena *a, ly_api_key *out,
                      ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_KEY_FIND,
        "SELECT id, prefix, role, label, created_at, revoked_at FROM api_keys"
        " WHERE hash = ?1 AND revoked_at IS NULL", err);
    if (!st) return LY_EIO;
    if (ly__bind_hash(st, 1, hash)) return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, readKey, a, out, err);
    return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, "api_key_not_found", NULL,
                                             "no key in force has this hash")
                              : rc;
}

ly_err ly_db_keys_list(ly_db *db, ly_arena *a, ly_api_key **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = ly__stmt(db, STMT_KEYS_LIST,
        "SELECT id, prefix, role, label, created_at, revoked_at FROM api_keys ORDER BY id", err);
    if (!st) return LY_EIO;
    return ly__all_rows(db, st, sizeof **out, readKey, a, (void **)out, n, err);
}

ly_err ly_db_key_revoke(ly_db *db, int64_t id, ly_time at, ly_error *err)
{
    /* Revoking twice keeps the first time. */
    sqlite3_stmt *st = ly__stmt(db, STMT_KEY_REVOKE,
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, id) || ly__bind_i64(st, 2, at)) return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK) return rc;
    if (sqlite3_changes(db->conn) == 0)
        return ly_error_set(err, LY_ENOTFOUND, "api_key_not_found", "id", "no key %lld",
                            (long long)id);
    return LY_OK;
}
