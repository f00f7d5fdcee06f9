/*
 * customers.c - customers, their identifiers and consents, and moving a merged profile's
 * identifiers, open lots and receipts to the surviving one (store.h).
 */
#include "store/internal.h"
#include "os/os.h"

_Static_assert(LY_CH_COUNT == 3, "customers has consent columns for sms, email and push only");

ly_err ly_db_customer_get(ly_db *db, int64_t id, ly_arena *a, ly_customer *out, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CUSTOMER_GET,
        "SELECT name, birth_date, attributes, enrolled_at, enrolled_store, merged_into,"
        " available, pending, debt, consent_sms, consent_sms_at, consent_email,"
        " consent_email_at, consent_push, consent_push_at, updated_at"
        " FROM customers WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, id)) return ly__db_fail(db, st, err);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "id", "no customer %lld",
                            (long long)id);
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);

    memset(out, 0, sizeof *out);
    out->id = id;
    bool ok = ly__col_text(st, 0, a, &out->name) && ly__col_text(st, 1, a, &out->birth_date) &&
              ly__col_text(st, 2, a, &out->attributes) &&
              ly__col_text(st, 4, a, &out->enrolled_store);
    if (ok && !out->attributes) out->attributes = "{}";
    out->enrolled_at = ly__col_i64(st, 3);
    out->merged_into = ly__col_i64(st, 5);
    out->account.available = ly__col_i64(st, 6);
    out->account.pending = ly__col_i64(st, 7);
    out->account.debt = ly__col_i64(st, 8);
    for (int ch = 0; ch < LY_CH_COUNT; ch++) {
        out->consent[ch].state = sqlite3_column_int(st, 9 + 2 * ch);
        out->consent[ch].at = ly__col_i64(st, 10 + 2 * ch);
    }
    out->updated_at = ly__col_i64(st, 15);

    /* The customer statement stays on its row while the identifiers are read: its read
     * transaction is still open, so both come from the same snapshot. */
    sqlite3_stmt *ids = ok ? ly__stmt(db, STMT_CUSTOMER_IDS,
        "SELECT kind, value FROM identifiers WHERE customer_id = ?1", err) : NULL;
    ly_err res = LY_OK;
    if (!ok) res = ly__oom(err);
    else if (!ids) res = LY_EIO;
    else if (ly__bind_i64(ids, 1, id)) res = ly__db_fail(db, ids, err);
    size_t cap = 0;
    while (res == LY_OK && (rc = sqlite3_step(ids)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(ids, 0);
        ly_id_kind k;
        if (!kind || !ly_id_kind_parse(kind, &k)) continue; /* a kind this Loyal does not know */
        if (out->n_ids == cap && !ly__grow(a, (void **)&out->ids, out->n_ids, &cap, sizeof *out->ids))
            res = ly__oom(err);
        else if (!ly__col_text(ids, 1, a, &out->ids[out->n_ids].value))
            res = ly__oom(err);
        else
            out->ids[out->n_ids++].kind = k;
    }
    if (res == LY_OK && rc != SQLITE_DONE) res = ly__db_fail(db, ids, err);
    if (ids) ly__stmt_done(ids);
    ly__stmt_done(st);
    if (res != LY_OK) return res;

    /* By kind in the enumeration's order, then value: a handful of rows, sorted here so the
     * order follows ly_id_kind rather than the names' spelling. */
    for (size_t i = 1; i < out->n_ids; i++) {
        ly_identifier x = out->ids[i];
        size_t j = i;
        for (; j > 0; j--) {
            const ly_identifier *p = &out->ids[j - 1];
            if (p->kind < x.kind || (p->kind == x.kind && strcmp(p->value, x.value) <= 0)) break;
            out->ids[j] = *p;
        }
        out->ids[j] = x;
    }
    return LY_OK;
}

ly_err ly_db_customer_find(ly_db *db, ly_id_kind kind, const char *value, int64_t *id,
                           ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CUSTOMER_FIND,
        "SELECT customer_id FROM identifiers WHERE kind = ?1 AND value = ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_text(st, 1, ly_id_kind_name(kind)) || ly__bind_text(st, 2, value))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__one_row(db, st, ly__row_i64, NULL, id, err);
    if (rc != LY_ENOTFOUND) return rc;
    return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", ly_id_kind_name(kind),
                        "no customer has this %s", ly_id_kind_name(kind));
}

/* Binds the profile columns shared by insert and update: ?1..?15. */
static int bindProfile(sqlite3_stmt *st, const ly_customer *c)
{
    int rc = ly__bind_text(st, 1, c->name);
    if (!rc) rc = ly__bind_text(st, 2, c->birth_date);
    if (!rc) rc = ly__bind_text(st, 3, c->attributes ? c->attributes : "{}");
    if (!rc) rc = ly__bind_i64(st, 4, c->enrolled_at);
    if (!rc) rc = ly__bind_text(st, 5, c->enrolled_store);
    if (!rc) rc = ly__bind_ref(st, 6, c->merged_into);
    for (int ch = 0; ch < LY_CH_COUNT && !rc; ch++) {
        rc = sqlite3_bind_int(st, 7 + 2 * ch, c->consent[ch].state);
        if (!rc) rc = ly__bind_i64(st, 8 + 2 * ch, c->consent[ch].at);
    }
    if (!rc) rc = ly__bind_i64(st, 13, c->updated_at);
    return rc;
}

ly_err ly_db_customer_insert(ly_db *db, ly_customer *c, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CUSTOMER_INSERT,
        "INSERT INTO customers(name, birth_date, attributes, enrolled_at, enrolled_store,"
        " merged_into, consent_sms, consent_sms_at, consent_email, consent_email_at,"
        " consent_push, consent_push_at, updated_at, created_at)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)", err);
    if (!st) return LY_EIO;
    /* created_at is when the row was made; enrolled_at may be older (an imported history). */
    if (bindProfile(st, c) || ly__bind_i64(st, 14, ly_os_now())) return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc == LY_OK) c->id = sqlite3_last_insert_rowid(db->conn);
    return rc;
}

ly_err ly_db_customer_update(ly_db *db, const ly_customer *c, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CUSTOMER_UPDATE,
        "UPDATE customers SET name = ?1, birth_date = ?2, attributes = ?3, enrolled_at = ?4,"
        " enrolled_store = ?5, merged_into = ?6, consent_sms = ?7, consent_sms_at = ?8,"
        " consent_email = ?9, consent_email_at = ?10, consent_push = ?11,"
        " consent_push_at = ?12, updated_at = ?13"
        " WHERE id = ?14", err);
    if (!st) return LY_EIO;
    if (bindProfile(st, c) || ly__bind_i64(st, 14, c->id)) return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK) return rc;
    if (sqlite3_changes(db->conn) == 0)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", NULL, "no customer %lld",
                            (long long)c->id);
    return LY_OK;
}

ly_err ly_db_account_save(ly_db *db, int64_t customer_id, const ly_account *acc, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_ACCOUNT_SAVE,
        "UPDATE customers SET available = ?2, pending = ?3, debt = ?4 WHERE id = ?1", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_i64(st, 2, acc->available) ||
        ly__bind_i64(st, 3, acc->pending) || ly__bind_i64(st, 4, acc->debt))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK) return rc;
    if (sqlite3_changes(db->conn) == 0)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", NULL, "no customer %lld",
                            (long long)customer_id);
    return LY_OK;
}

ly_err ly_db_identifier_add(ly_db *db, int64_t customer_id, ly_id_kind kind, const char *value,
                            ly_time now, ly_error *err)
{
    /* The common case (a new identifier) is one statement; only a clash needs a look at who
     * holds it. */
    sqlite3_stmt *st = ly__stmt(db, STMT_IDENTIFIER_ADD,
        "INSERT INTO identifiers(kind, value, customer_id, created_at) VALUES(?1, ?2, ?3, ?4)"
        " ON CONFLICT(kind, value) DO NOTHING", err);
    if (!st) return LY_EIO;
    const char *name = ly_id_kind_name(kind);
    if (ly__bind_text(st, 1, name) || ly__bind_text(st, 2, value) ||
        ly__bind_i64(st, 3, customer_id) || ly__bind_i64(st, 4, now))
        return ly__db_fail(db, st, err);
    ly_err rc = ly__exec(db, st, err);
    if (rc != LY_OK || sqlite3_changes(db->conn) == 1) return rc;
    int64_t owner;
    rc = ly_db_customer_find(db, kind, value, &owner, err);
    if (rc != LY_OK) return rc;
    if (owner == customer_id) return LY_OK;
    return ly_error_set(err, LY_ECONFLICT, "identifier_taken", name,
                        "this %s belongs to another customer", name);
}

ly_err ly_db_identifier_remove(ly_db *db, int64_t customer_id, ly_id_kind kind, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_IDENTIFIER_REMOVE,
        "DELETE FROM identifiers WHERE customer_id = ?1 AND kind = ?2", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, ly_id_kind_name(kind)))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_consent_log(ly_db *db, int64_t customer_id, ly_channel ch, bool given, ly_time at,
                         ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, STMT_CONSENT_LOG,
        "INSERT INTO consent_log(customer_id, channel, given, at) VALUES(?1, ?2, ?3, ?4)", err);
    if (!st) return LY_EIO;
    if (ly__bind_i64(st, 1, customer_id) || ly__bind_text(st, 2, ly_channel_name(ch)) ||
        ly__bind_i64(st, 3, given ? 1 : 0) || ly__bind_i64(st, 4, at))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

ly_err ly_db_customer_move(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err)
{
    /* Marking the merged profile first also proves both exist: `into` through the foreign
     * key, `from` through the count of changed rows. */
    ly_err rc = ly__exec_move(db, STMT_MERGE_MARK,
        "UPDATE customers SET merged_into = ?2, updated_at = ?3 WHERE id = ?1", from, into, at, err);
    if (rc != LY_OK) return rc;
    if (sqlite3_changes(db->conn) == 0)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "from", "no customer %lld",
                            (long long)from);
    rc = ly__exec_move(db, STMT_MOVE_IDENTIFIERS,
        "UPDATE identifiers SET customer_id = ?2 WHERE customer_id = ?1", from, into, at, err);
    /* Spent and expired lots stay where they were: they belong to the merged profile's
     * history, like its ledger entries. */
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MOVE_LOTS,
            "UPDATE lots SET customer_id = ?2 WHERE customer_id = ?1 AND state IN ('pending', 'active')",
            from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MOVE_RECEIPTS,
            "UPDATE receipts SET customer_id = ?2 WHERE customer_id = ?1", from, into, at, err);
    if (rc == LY_OK)
        rc = ly__exec_move(db, STMT_MERGE_INSERT,
            "INSERT INTO merges(from_id, into_id, at) VALUES(?1, ?2, ?3)", from, into, at, err);
    return rc;
}
