/*
 * internal.h - what the SQLite store's files share and nobody else sees: the connection and
 * store structures, the prepared-statement cache, and small helpers for binding parameters
 * and reading columns.
 *
 * Files: sqlite.c (opening, connections, statement cache, errors, running statements and
 * reading rows), schema.c (migrations), writer.c (the group-commit writer thread),
 * customers.c, ledger.c, receipts.c, keys.c (the ly_db_* primitives of store.h).
 */
#ifndef LY_STORE_INTERNAL_H
#define LY_STORE_INTERNAL_H

#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <string.h>

/* Every SQL statement the store runs has a slot in each connection's cache. The SQL text is
 * written where the statement is used and handed to ly__stmt, which prepares it the first
 * time that connection needs it. A reader never prepares the write statements. */
typedef enum ly__stmt_id {
    /* transactions (writer.c, sqlite.c) */
    STMT_BEGIN_IMMEDIATE = 0,
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    /* customers.c */
    STMT_CUSTOMER_GET,
    STMT_CUSTOMER_IDS,
    STMT_CUSTOMER_FIND,
    STMT_CUSTOMER_INSERT,
    STMT_CUSTOMER_UPDATE,
    STMT_ACCOUNT_SAVE,
    STMT_IDENTIFIER_ADD,
    STMT_IDENTIFIER_REMOVE,
    STMT_CONSENT_LOG,
    STMT_MOVE_IDENTIFIERS,
    STMT_MOVE_LOTS,
    STMT_MOVE_RECEIPTS,
    STMT_MERGE_INSERT,
    STMT_MERGE_MARK,
    /* ledger.c */
    STMT_LOTS_OPEN,
    STMT_LOT_GET,
    STMT_LOT_INSERT,
    STMT_LOT_UPDATE,
    STMT_LOTS_DUE_PROBE,
    STMT_LOTS_DUE,
    STMT_ENTRY_INSERT,
    STMT_ENTRIES_PAGE,
    STMT_CHECK_CUSTOMERS,
    STMT_CHECK_LEDGER,
    STMT_CHECK_LOTS,
    STMT_CHECK_BAD_LOTS,
    /* receipts.c */
    STMT_RECEIPT_FIND,
    STMT_RECEIPT_LINES,
    STMT_RECEIPT_INSERT,
    STMT_LINE_INSERT,
    STMT_LINE_RETURNED,
    STMT_RETURN_FIND,
    STMT_RETURN_LINES,
    STMT_RETURN_INSERT,
    STMT_RETURN_LINE_INSERT,
    /* keys.c */
    STMT_ANALYTICS_RUN_INSERT, /* analytics.c */
    STMT_ANALYTICS_RUN_FINISH,
    STMT_ANALYTICS_RUN_LATEST,
    STMT_ANALYTICS_PUT,
    STMT_ANALYTICS_PRUNE,
    STMT_ANALYTICS_GET,

    STMT_IDEM_GET,
    STMT_IDEM_PUT,
    STMT_KEY_INSERT,
    STMT_KEY_FIND,
    STMT_KEYS_LIST,
    STMT_KEY_REVOKE,
    /* rewards.c (engineer R) */
    STMT_RW_USES_COUNT,
    STMT_RW_BUDGET_GET,
    STMT_RW_USE_INSERT,
    STMT_RW_BUDGET_ADD,
    STMT_RW_USES_OF_RECEIPT,
    STMT_RW_USES_RETURNED,
    STMT_RW_BATCH_INSERT,
    STMT_RW_CODE_INSERT,
    STMT_RW_CODE_FIND,
    STMT_RW_COUPON_CODE_USES,
    STMT_RW_COUPON_CAMPAIGN_USES,
    STMT_RW_COUPON_CUSTOMER_USES,
    STMT_RW_COUPON_REDEEM,
    STMT_RW_COUPON_RETURNED,
    STMT_RW_COUPON_STATS,
    STMT_RW_REFERRAL_INSERT,
    STMT_RW_REFERRAL_GET,
    STMT_RW_REFERRAL_QUALIFY,
    STMT_RW_REFERRAL_UNQUALIFY,
    STMT_RW_REFERRALS_DUE,
    STMT_RW_REFERRAL_REWARDED,
    STMT_RW_REFERRAL_STATS,
    STMT_RW_REFERRAL_LIST,
    STMT_RW_EVENT_FIND,
    STMT_RW_EVENT_COUNT,
    STMT_RW_EVENT_INSERT,
    STMT_RW_PARTNER_INSERT,
    STMT_RW_PARTNER_OF_RECEIPT,
    STMT_RW_PARTNER_REPORT,
    STMT_RW_BIRTHDAYS,
    STMT_RW_LIAB_LOTS,
    STMT_RW_LIAB_EXPIRY,
    STMT_RW_LIAB_CUSTOMERS,
    STMT_RW_LIAB_LEDGER,
    /* outbox.c (delivery and the outbox, issue 5) */
    STMT_OUTBOX_INSERT,
    STMT_OUTBOX_BY_KEY,
    STMT_OUTBOX_GET,
    STMT_OUTBOX_DUE,
    STMT_OUTBOX_CLAIM,
    STMT_OUTBOX_DELIVERED,
    STMT_OUTBOX_FAILED,
    STMT_OUTBOX_RELEASE,
    STMT_OUTBOX_RETRY,
    STMT_OUTBOX_LIST,
    STMT_OUTBOX_COUNTS,
    STMT_OUTBOX_NEXT_DUE,
    /* tiers.c (tiers, the club and program versions; engineer T) */
    STMT_TR_VERSION_PUT,
    STMT_TR_VERSION_GET,
    STMT_TR_TIER_GET,
    STMT_TR_TIER_SET,
    STMT_TR_HISTORY_INSERT,
    STMT_TR_HISTORY,
    STMT_TR_TIER_CUSTOMERS,
    STMT_TR_PURCHASES,
    STMT_TR_BUYERS,
    STMT_TR_CLUB_GET,
    STMT_TR_CLUB_INSERT,
    STMT_TR_CLUB_DELETE,
    STMT_TR_CLUB_LOG,
    STMT_TR_CLUB_PAGE,
    STMT_TR_CLUB_RULE_MEMBERS,
    STMT_TR_DAY_GET,
    STMT_TR_DAY_PUT,
    STMT_TR_ENROLLED,
    /* triggers.c (trigger communications and hold-outs, issue 5; engineer G) */
    STMT_TRG_CUSTOMERS,
    STMT_TRG_ASSIGN_GET,
    STMT_TRG_ASSIGN_PUT,
    STMT_TRG_CHAINS_OF,
    STMT_TRG_CHAIN_PUT,
    STMT_TRG_SEND_PUT,
    STMT_TRG_SEND_MESSAGE,
    STMT_TRG_SENDS_COUNT,
    STMT_TRG_FLAG_SET,
    STMT_TRG_FLAGS_ACTIVE,
    STMT_TRG_DEALS,
    STMT_TRG_EVENTS,
    STMT_TRG_TIER_CHANGES,
    STMT_TRG_OUTCOMES,
    /* quests.c (quests, badges, levels, issue 6; engineer Q) */
    STMT_QST_PROGRESS_GET,
    STMT_QST_PROGRESS_PUT,
    STMT_QST_CONTRIB_PUT,
    STMT_QST_CONTRIBS,
    STMT_QST_BADGE_ADD,
    STMT_QST_BADGES,
    STMT_QST_XP_ADD,
    STMT_QST_XP_GET,
    STMT_QST_STREAK_GET,
    STMT_QST_STREAK_PUT,
    STMT_QST_FIGURES,
    STMT_QST_FIGURES_POINTS,
    STMT_QST_DEALS,
    STMT_QST_COMPLETED,
    STMT_QST_BOUGHT_CATEGORY,
    STMT_QST_COUPON_GET,       /* personal coupon codes of quest rewards (engineer R) */
    STMT_QST_COUPON_INSERT,
    STMT_QST_COUPONS,
    STMT_QST_COUPON_OWNER,
    STMT_QST_REFERRAL_QUALIFIED,
    /* merge.c (what a merge moves besides customers.c's rows; issue 6, engineer G) */
    STMT_MRG_OPEN_COLLISIONS,
    STMT_MRG_PROGRESS_SUM,
    STMT_MRG_PROGRESS_MOVE,
    STMT_MRG_PROGRESS_DROP,
    STMT_MRG_CONTRIBS_MOVE,
    STMT_MRG_BADGES_EARLIER,
    STMT_MRG_BADGES_MOVE,
    STMT_MRG_BADGES_DROP,
    STMT_MRG_XP_ADD,
    STMT_MRG_XP_DROP,
    STMT_MRG_STREAK_DROP,
    STMT_MRG_RULE_USES_MOVE,
    STMT_MRG_COUPONS_MOVE,
    STMT_MRG_EVENTS_MOVE,
    STMT_MRG_ANSWERS_MOVE,
    STMT_MRG_REF_BETWEEN_DROP,
    STMT_MRG_REF_INTO_LOSES,
    STMT_MRG_REF_FROM_LOSES,
    STMT_MRG_REF_REFEREE_MOVE,
    STMT_MRG_REF_REFERRER_MOVE,
    STMT_MRG_MARK_COPY,
    STMT_MRG_MARKS_PREFIX,
    STMT_MRG_QUEST_COUPONS_MOVE,
    STMT_COUNT
} ly__stmt_id;

struct ly_db {
    sqlite3 *conn;
    ly_store *store;
    ly_db *next;                     /* in the store's list of readers */
    sqlite3_stmt *stmt[STMT_COUNT];  /* prepared on first use, finalised at close */
    int snapshot_depth;              /* readers: nesting of ly_store_read_begin */
};

struct ly_store {
    char *path;
    ly_sync_mode sync;
    int batch_max;

    ly_db *writer;                   /* used only by the writer thread once it runs */
    pthread_t thread;
    bool thread_started;

    /* The queue of submitted jobs (FIFO). */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv;
    ly_write_job *q_head, *q_tail;
    bool closing;

    /* Readers: one per thread through a thread-specific key, all listed for closing. */
    pthread_key_t reader_key;
    bool reader_key_made;
    pthread_mutex_t readers_mu;
    ly_db *readers;

    pthread_mutex_t stats_mu;
    ly_store_stats stats;
};

/* sqlite.c */

/* The cached statement of slot id on db, prepared from sql if this is its first use. The
 * statement is reset and ready for binding. NULL (err filled) if it cannot be prepared. */
sqlite3_stmt *ly__stmt(ly_db *db, ly__stmt_id id, const char *sql, ly_error *err);

/* Makes a used statement ready for its next use: reset, bindings cleared (so no pointer to
 * the caller's strings stays behind). */
void ly__stmt_done(sqlite3_stmt *st);

/* Fills err with the connection's last error as LY_EIO "storage_error" and returns LY_EIO.
 * Resets st (may be NULL) afterwards, so call it before anything else touches db. */
ly_err ly__db_fail(ly_db *db, sqlite3_stmt *st, ly_error *err);

/* Steps st, which must finish without a row (INSERT, UPDATE, DELETE), and readies it for its
 * next use. LY_OK or ly__db_fail. */
ly_err ly__exec(ly_db *db, sqlite3_stmt *st, ly_error *err);

/* Finishes st after the caller stepped it itself, rc being the last sqlite3_step result:
 * readies it for its next use and returns LY_OK after SQLITE_ROW or SQLITE_DONE, otherwise
 * ly__db_fail. For reads of an optional row: `rc = sqlite3_step(st); *x = rc == SQLITE_ROW ?
 * ly__col_i64(st, 0) : 0; return ly__step_end(db, st, rc, err);` */
ly_err ly__step_end(ly_db *db, sqlite3_stmt *st, int rc, ly_error *err);

/* Steps st, an INSERT (bound) that must finish without a row, and readies it for its next
 * use. LY_OK; LY_ECONFLICT when it breaks a UNIQUE or PRIMARY KEY constraint, with err left
 * untouched so the caller sets its own conflict code and message; otherwise ly__db_fail. */
ly_err ly__insert(ly_db *db, sqlite3_stmt *st, ly_error *err);

/* Runs the cached statement of slot id (sql) whose parameters are the two profiles of a
 * merge and its time: ?1 = from, ?2 = into, ?3 = at, each bound only if the statement has
 * it. LY_OK or LY_EIO, like ly__exec. */
ly_err ly__exec_move(ly_db *db, ly__stmt_id id, const char *sql, int64_t from, int64_t into,
                     ly_time at, ly_error *err);

/* Runs one of the transaction statements (BEGIN, COMMIT, SAVEPOINT ...). */
ly_err ly__tx(ly_db *db, ly__stmt_id id, ly_error *err);

/* Opens a connection with the store's pragmas; writer or reader. */
ly_err ly__db_open(ly_store *s, bool writer, ly_db **out, ly_error *err);
void ly__db_close(ly_db *db);

/* LY_ENOMEM "out_of_memory". */
ly_err ly__oom(ly_error *err);

/* An array in an arena that grows by doubling (the arena cannot resize, so the old copy
 * stays until the arena is freed: at most as much again as the final size). Returns false
 * when out of memory. */
bool ly__grow(ly_arena *a, void **items, size_t n, size_t *cap, size_t size);

/* ---------------------------------------------------------------------------------------
 * Reading rows. A query function binds its statement, then hands it to one of these with a
 * row reader; they step it, read, and leave it done (reset, bindings cleared) on every path.
 * ------------------------------------------------------------------------------------- */

/* Reads the current row of st into *item, taking any memory from a. Returns false only when
 * out of memory. item points to the caller's element type: the reader casts it. */
typedef bool (*ly__row_reader)(sqlite3_stmt *st, ly_arena *a, void *item);

/* Steps st (bound) for its first row and reads it into out with read (a may be NULL for a
 * reader that takes no memory). LY_OK; LY_ENOTFOUND when the query has no row, with err
 * left untouched: every caller has its own not-found code, field and message, so it sets
 * them (`return rc == LY_ENOTFOUND ? ly_error_set(err, LY_ENOTFOUND, ...) : rc;`);
 * LY_ENOMEM "out_of_memory" when read fails; LY_EIO (ly__db_fail). Rows after the first are
 * not read. */
ly_err ly__one_row(ly_db *db, sqlite3_stmt *st, ly__row_reader read, ly_arena *a, void *out,
                   ly_error *err);

/* Steps st (bound) to its end and reads every row with read into a new array in a of
 * elements of size bytes, each zeroed before read sees it. *out and *n are the array and its
 * length (NULL and 0 for no rows); a caller with `T **out` passes (void **)out. LY_OK,
 * LY_ENOMEM "out_of_memory" (from ly__grow or read) or LY_EIO; on an error *out and *n hold
 * the rows read before it, in a. Both this and ly__one_row also serve a statement the caller
 * prepared itself outside the cache: they reset it, the caller finalises it. */
ly_err ly__all_rows(ly_db *db, sqlite3_stmt *st, size_t size, ly__row_reader read, ly_arena *a,
                    void **out, size_t *n, ly_error *err);

/* Row readers of a single column 0: into an int64_t (never fails), and into a const char *
 * copied into a (NULL for SQL NULL). */
bool ly__row_i64(sqlite3_stmt *st, ly_arena *a, void *item);
bool ly__row_text(sqlite3_stmt *st, ly_arena *a, void *item);

/* schema.c */

/* Brings the schema of the writer's database up to ly_store_schema_version(), one migration
 * per transaction. LY_EIO "schema_too_new" if the file was written by a newer Loyal. */
ly_err ly__schema_migrate(ly_db *db, ly_error *err);

/* writer.c */

/* Starts the writer thread on s->writer. */
ly_err ly__writer_start(ly_store *s, ly_error *err);
/* Lets the writer finish every queued job, then stops it. */
void ly__writer_stop(ly_store *s);

/* Whether the last statement on db failed on a UNIQUE or PRIMARY KEY constraint. */
static inline bool ly__is_duplicate(ly_db *db)
{
    int x = sqlite3_extended_errcode(db->conn);
    return x == SQLITE_CONSTRAINT_UNIQUE || x == SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* Names of stored enum values, readable in SQL. */
const char *ly__lot_state_name(ly_lot_state st);
bool ly__lot_state_parse(const char *s, ly_lot_state *out);

/* ---------------------------------------------------------------------------------------
 * Binding and reading. Every bind helper returns an SQLite result code, so a run of binds
 * reads `if (bindA(...) || bindB(...)) return ly__db_fail(...)`.
 * ------------------------------------------------------------------------------------- */

/* Text, or NULL for a NULL pointer. SQLITE_STATIC: the caller's string outlives the step,
 * and ly__stmt_done clears the binding before it could dangle. */
static inline int ly__bind_text(sqlite3_stmt *st, int i, const char *s)
{
    return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static inline int ly__bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
    return sqlite3_bind_int64(st, i, v);
}

/* An optional reference: 0 is stored as NULL (no row has id 0). */
static inline int ly__bind_ref(sqlite3_stmt *st, int i, int64_t v)
{
    return v ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static inline int ly__bind_hash(sqlite3_stmt *st, int i, const uint8_t hash[32])
{
    return sqlite3_bind_blob(st, i, hash, 32, SQLITE_STATIC);
}

/* Copies column i into the arena: *out is NULL for SQL NULL. False when out of memory. */
static inline bool ly__col_text(sqlite3_stmt *st, int i, ly_arena *a, const char **out)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) {
        *out = NULL;
        return sqlite3_column_type(st, i) == SQLITE_NULL;
    }
    *out = ly_arena_strndup(a, (const char *)t, (size_t)sqlite3_column_bytes(st, i));
    return *out != NULL;
}

static inline int64_t ly__col_i64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_int64(st, i);
}

/* A 32-byte hash column; anything shorter is padded with zeros. */
static inline void ly__col_hash(sqlite3_stmt *st, int i, uint8_t out[32])
{
    const void *b = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    memset(out, 0, 32);
    if (b) memcpy(out, b, n < 32 ? (size_t)n : 32);
}

#endif /* LY_STORE_INTERNAL_H */
