/*
 * sqlite.c - the store on SQLite: opening and closing a store, the connections (one writer,
 * one reader per thread) with their pragmas, the prepared-statement cache, the mapping of
 * SQLite errors to ly_error, and the shared ways of running a statement and reading its rows
 * (ly__exec, ly__insert, ly__one_row, ly__all_rows).
 *
 * The ly_db_* primitives live in customers.c, ledger.c, receipts.c and keys.c; the writer
 * thread and group commit in writer.c; migrations in schema.c.
 */
#include "store/internal.h"

#include <stdlib.h>
#include <stdio.h>

#define BATCH_MAX_DEFAULT 512
#define BUSY_TIMEOUT_MS 5000
/* How big a savepoint's sub-journal may grow in memory before SQLite moves it to a temporary
 * file. A confirm re-dirties pages that earlier jobs of its group already changed, and each
 * such page goes to the sub-journal: at SQLite's default (64 KiB) a busy group spilled to a
 * file, and its pwrite()s were a fifth of the writer's time. The memory is one chunk of this
 * size per open savepoint (the writer has one at a time), freed when the job releases it. */
#define STMT_JOURNAL_SPILL (1 << 20)

/* ---------------------------------------------------------------------------------------
 * Errors, statements, small helpers
 * ------------------------------------------------------------------------------------- */

ly_err ly__oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

ly_err ly__db_fail(ly_db *db, sqlite3_stmt *st, ly_error *err)
{
    /* The message first: resetting the statement may replace it. */
    ly_error_set(err, LY_EIO, "storage_error", NULL, "%s", sqlite3_errmsg(db->conn));
    if (st) ly__stmt_done(st);
    return LY_EIO;
}

sqlite3_stmt *ly__stmt(ly_db *db, ly__stmt_id id, const char *sql, ly_error *err)
{
    sqlite3_stmt *st = db->stmt[id];
    if (st) return st;
    /* PERSISTENT: the statement lives as long as the connection, so SQLite takes its memory
     * from the heap rather than from the lookaside meant for short-lived objects. */
    if (sqlite3_prepare_v3(db->conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        ly_error_set(err, LY_EIO, "storage_error", NULL, "%s", sqlite3_errmsg(db->conn));
        sqlite3_finalize(st);
        return NULL;
    }
    db->stmt[id] = st;
    return st;
}

void ly__stmt_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

ly_err ly__step_end(ly_db *db, sqlite3_stmt *st, int rc, ly_error *err)
{
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly__exec(ly_db *db, sqlite3_stmt *st, ly_error *err)
{
    return ly__step_end(db, st, sqlite3_step(st), err);
}

ly_err ly__insert(ly_db *db, sqlite3_stmt *st, ly_error *err)
{
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (!ly__is_duplicate(db)) return ly__db_fail(db, st, err);
        ly__stmt_done(st);
        return LY_ECONFLICT; /* the caller knows what the duplicate means */
    }
    ly__stmt_done(st);
    return LY_OK;
}

ly_err ly__exec_move(ly_db *db, ly__stmt_id id, const char *sql, int64_t from, int64_t into,
                     ly_time at, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, id, sql, err);
    if (!st) return LY_EIO;
    int np = sqlite3_bind_parameter_count(st);
    if ((np >= 1 && ly__bind_i64(st, 1, from)) || (np >= 2 && ly__bind_i64(st, 2, into)) ||
        (np >= 3 && ly__bind_i64(st, 3, at)))
        return ly__db_fail(db, st, err);
    return ly__exec(db, st, err);
}

static const char *const txSql[] = {
    [STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [STMT_BEGIN] = "BEGIN",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    [STMT_SAVEPOINT] = "SAVEPOINT job",
    [STMT_RELEASE] = "RELEASE job",
    [STMT_ROLLBACK_TO] = "ROLLBACK TO job",
};

ly_err ly__tx(ly_db *db, ly__stmt_id id, ly_error *err)
{
    sqlite3_stmt *st = ly__stmt(db, id, txSql[id], err);
    if (!st) return LY_EIO;
    return ly__exec(db, st, err);
}

bool ly__grow(ly_arena *a, void **items, size_t n, size_t *cap, size_t size)
{
    size_t nc = *cap ? *cap * 2 : 8;
    if (nc < *cap || nc > SIZE_MAX / size) return false;
    void *p = ly_arena_alloc(a, nc * size);
    if (!p) return false;
    if (n) memcpy(p, *items, n * size);
    *items = p;
    *cap = nc;
    return true;
}

ly_err ly__one_row(ly_db *db, sqlite3_stmt *st, ly__row_reader read, ly_arena *a, void *out,
                   ly_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        ly__stmt_done(st);
        return LY_ENOTFOUND; /* the caller knows what was not found */
    }
    if (rc != SQLITE_ROW) return ly__db_fail(db, st, err);
    bool ok = read(st, a, out);
    ly__stmt_done(st);
    return ok ? LY_OK : ly__oom(err);
}

ly_err ly__all_rows(ly_db *db, sqlite3_stmt *st, size_t size, ly__row_reader read, ly_arena *a,
                    void **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap && !ly__grow(a, out, *n, &cap, size)) break;
        void *item = (char *)*out + *n * size;
        /* Arena memory is not zeroed: a reader that fills only some fields leaves the rest
         * 0, not garbage. */
        memset(item, 0, size);
        if (!read(st, a, item)) break;
        (*n)++;
    }
    if (rc == SQLITE_ROW) { /* stopped early: out of memory */
        ly__stmt_done(st);
        return ly__oom(err);
    }
    if (rc != SQLITE_DONE) return ly__db_fail(db, st, err);
    ly__stmt_done(st);
    return LY_OK;
}

bool ly__row_i64(sqlite3_stmt *st, ly_arena *a, void *item)
{
    (void)a;
    *(int64_t *)item = ly__col_i64(st, 0);
    return true;
}

bool ly__row_text(sqlite3_stmt *st, ly_arena *a, void *item)
{
    return ly__col_text(st, 0, a, item);
}

static const char *const lotStateNames[] = {
    [LY_LOT_PENDING] = "pending",
    [LY_LOT_ACTIVE] = "active",
    [LY_LOT_EXPIRED] = "expired",
    [LY_LOT_SPENT] = "spent",
};

const char *ly__lot_state_name(ly_lot_state st)
{
    return (unsigned)st <= LY_LOT_SPENT ? lotStateNames[st] : "unknown";
}

bool ly__lot_state_parse(const char *s, ly_lot_state *out)
{
    for (int i = 0; s && i <= LY_LOT_SPENT; i++) {
        if (strcmp(s, lotStateNames[i]) == 0) {
            *out = (ly_lot_state)i;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------------------- */

static ly_err pragma(ly_db *db, const char *sql, ly_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ly_error_set(err, LY_EIO, "storage_error", NULL, "%s: %s", sql, msg ? msg : "failed");
        sqlite3_free(msg);
        return LY_EIO;
    }
    return LY_OK;
}

/* WAL must be on before anything else happens: readers rely on it to read while the writer
 * writes. The mode is recorded in the file, so only the first open really switches. */
static ly_err walOn(ly_db *db, ly_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->conn, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
        return ly__db_fail(db, NULL, err);
    int rc = sqlite3_step(st);
    const unsigned char *mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp((const char *)mode, "wal") == 0;
    if (rc != SQLITE_ROW) ly__db_fail(db, NULL, err);
    else if (!wal)
        ly_error_set(err, LY_EIO, "storage_error", NULL,
                     "cannot switch %s to write-ahead logging (journal mode %s)",
                     sqlite3_db_filename(db->conn, "main"), mode ? (const char *)mode : "?");
    sqlite3_finalize(st);
    return wal ? LY_OK : LY_EIO;
}

ly_err ly__db_open(ly_store *s, bool writer, ly_db **out, ly_error *err)
{
    *out = NULL;
    ly_db *db = calloc(1, sizeof *db);
    if (!db) return ly__oom(err);
    db->store = s;
    /* NOMUTEX: a connection is only ever used by one thread at a time (the writer thread, or
     * the reader's own thread), so SQLite's per-connection mutex would be pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(s->path, &db->conn, flags, NULL) != SQLITE_OK) {
        ly_error_set(err, LY_EIO, "storage_error", NULL, "cannot open %s: %s", s->path,
                     db->conn ? sqlite3_errmsg(db->conn) : "out of memory");
        ly__db_close(db);
        return LY_EIO;
    }
    sqlite3_extended_result_codes(db->conn, 1);
    /* Another process (`loyal expire`, `loyal keys`) may hold the write lock for a moment. */
    sqlite3_busy_timeout(db->conn, BUSY_TIMEOUT_MS);

    ly_err rc;
    if (writer) {
        /* The writer: a large page cache (it touches the hot pages of every table on every
         * group) and a WAL file truncated back to 64 MiB after checkpoints, so a burst does
         * not leave it huge. temp_store stays at its default on purpose: each job's
         * savepoint keeps its sub-journal in memory up to 64 KiB either way, but with
         * temp_store=MEMORY SQLite grows it in 1 KiB chunks, and the malloc/free churn of
         * that cost a fifth of the writer's time in the receipt benchmark. Automatic
         * checkpoints stay at SQLite's default (1000 pages): measured, a larger WAL did not
         * make groups faster. */
        char sync[64];
        snprintf(sync, sizeof sync, "PRAGMA synchronous=%s",
                 s->sync == LY_SYNC_NORMAL ? "NORMAL" : "FULL");
        rc = walOn(db, err);
        if (rc == LY_OK) rc = pragma(db, sync, err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA foreign_keys=ON", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA cache_size=-65536", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA journal_size_limit=67108864", err);
    } else {
        /* A reader: never writes (query_only guards that), maps the database file into
         * memory so reads of committed pages cost no copy, and keeps a modest cache of its
         * own since there is one reader per thread. */
        rc = pragma(db, "PRAGMA query_only=ON", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA foreign_keys=ON", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA cache_size=-8192", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA temp_store=MEMORY", err);
        if (rc == LY_OK) rc = pragma(db, "PRAGMA mmap_size=268435456", err);
    }
    if (rc != LY_OK) {
        ly__db_close(db);
        return rc;
    }
    *out = db;
    return LY_OK;
}

void ly__db_close(ly_db *db)
{
    if (!db) return;
    for (int i = 0; i < STMT_COUNT; i++) sqlite3_finalize(db->stmt[i]);
    sqlite3_close(db->conn);
    free(db);
}

/* Runs when a thread that used a reader exits: its connection is closed and unlisted. */
static void readerRelease(void *p)
{
    ly_db *db = p;
    ly_store *s = db->store;
    bool listed = false;
    pthread_mutex_lock(&s->readers_mu);
    for (ly_db **pp = &s->readers; *pp; pp = &(*pp)->next) {
        if (*pp == db) {
            *pp = db->next;
            listed = true;
            break;
        }
    }
    pthread_mutex_unlock(&s->readers_mu);
    if (listed) ly__db_close(db); /* otherwise ly_store_close has taken it */
}

ly_db *ly_store_reader(ly_store *s, ly_error *err)
{
    ly_db *db = pthread_getspecific(s->reader_key);
    if (db) return db;
    if (ly__db_open(s, false, &db, err) != LY_OK) return NULL;
    if (pthread_setspecific(s->reader_key, db) != 0) {
        ly__db_close(db);
        ly__oom(err);
        return NULL;
    }
    pthread_mutex_lock(&s->readers_mu);
    db->next = s->readers;
    s->readers = db;
    pthread_mutex_unlock(&s->readers_mu);
    return db;
}

ly_err ly_store_read_begin(ly_store *s, ly_error *err)
{
    ly_db *db = ly_store_reader(s, err);
    if (!db) return LY_EIO;
    if (db->snapshot_depth++ > 0) return LY_OK;
    if (ly__tx(db, STMT_BEGIN, err) == LY_OK) return LY_OK;
    db->snapshot_depth = 0;
    return LY_EIO;
}

void ly_store_read_end(ly_store *s)
{
    ly_db *db = pthread_getspecific(s->reader_key);
    if (!db || db->snapshot_depth == 0 || --db->snapshot_depth > 0) return;
    /* A read transaction has nothing to commit; COMMIT cannot lose anything here. */
    if (ly__tx(db, STMT_COMMIT, NULL) != LY_OK && !sqlite3_get_autocommit(db->conn))
        ly__tx(db, STMT_ROLLBACK, NULL);
}

/* ---------------------------------------------------------------------------------------
 * Opening and closing a store
 * ------------------------------------------------------------------------------------- */

static pthread_once_t sqliteOnce = PTHREAD_ONCE_INIT;

/* Process-wide SQLite settings, before SQLite initialises itself. Memory statistics would
 * take one global mutex on every allocation of every connection: with a reader per thread
 * that mutex is the first thing to contend. If something else already started SQLite the
 * call fails harmlessly. */
static void sqliteSetup(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, STMT_JOURNAL_SPILL);
}

ly_err ly_store_open(const ly_store_options *opt, ly_store **out, ly_error *err)
{
    *out = NULL;
    if (!opt || !opt->path || !*opt->path)
        return ly_error_set(err, LY_EINVAL, "invalid_option", "path", "a database path is required");
    pthread_once(&sqliteOnce, sqliteSetup);

    ly_store *s = calloc(1, sizeof *s);
    if (!s) return ly__oom(err);
    s->path = strdup(opt->path);
    if (!s->path) {
        free(s);
        return ly__oom(err);
    }
    s->sync = opt->sync;
    s->batch_max = opt->batch_max > 0 ? opt->batch_max : BATCH_MAX_DEFAULT;
    pthread_mutex_init(&s->q_mu, NULL);
    pthread_cond_init(&s->q_cv, NULL);
    pthread_mutex_init(&s->readers_mu, NULL);
    pthread_mutex_init(&s->stats_mu, NULL);

    ly_err rc = ly__db_open(s, true, &s->writer, err);
    if (rc == LY_OK) rc = ly__schema_migrate(s->writer, err);
    if (rc == LY_OK) {
        if (pthread_key_create(&s->reader_key, readerRelease) != 0)
            rc = ly_error_set(err, LY_EIO, "storage_error", NULL, "no thread-specific key left");
        else
            s->reader_key_made = true;
    }
    if (rc == LY_OK) rc = ly__writer_start(s, err);
    if (rc != LY_OK) {
        ly_store_close(s);
        return rc;
    }
    *out = s;
    return LY_OK;
}

void ly_store_close(ly_store *s)
{
    if (!s) return;
    if (s->thread_started) ly__writer_stop(s);

    /* Readers of every thread: the threads must be done with them (their users stopped
     * before the store is closed). The key goes last so no thread-exit destructor can run
     * on a connection closed here. */
    if (s->reader_key_made) {
        pthread_setspecific(s->reader_key, NULL);
        pthread_key_delete(s->reader_key);
    }
    pthread_mutex_lock(&s->readers_mu);
    ly_db *r = s->readers;
    s->readers = NULL;
    pthread_mutex_unlock(&s->readers_mu);
    while (r) {
        ly_db *next = r->next;
        ly__db_close(r);
        r = next;
    }

    ly__db_close(s->writer); /* the last connection: SQLite checkpoints the WAL here */
    pthread_mutex_destroy(&s->q_mu);
    pthread_cond_destroy(&s->q_cv);
    pthread_mutex_destroy(&s->readers_mu);
    pthread_mutex_destroy(&s->stats_mu);
    free(s->path);
    free(s);
}
