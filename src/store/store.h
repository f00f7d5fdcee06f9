/*
 * store.h - where Loyal keeps its state: the storage interface.
 *
 * A store is one database. All writes go through one writer thread that runs the write jobs
 * of every caller and commits them in groups (group commit): each job runs inside its own
 * savepoint of the group's transaction, so a failing job changes nothing while the others
 * commit; a job's `done` callback runs only after the group's COMMIT is durable. Readers use
 * their own connections (one per thread) and see every committed group.
 *
 * The functions on an ly_db are primitives (get, insert, update): the business logic that
 * combines them lives in service/, on top of the pure core. A second implementation
 * (PostgreSQL) provides the same functions.
 *
 * Memory: strings and arrays returned by ly_db_* functions are allocated in the arena the
 * caller passes and live as long as it. Strings passed in are copied by the store.
 * Errors: every function returns LY_OK or an ly_err and fills *err (which may be NULL).
 * LY_EIO means the database failed; the enclosing write job is then rolled back.
 */
#ifndef LY_STORE_H
#define LY_STORE_H

#include "core/core.h"

typedef struct ly_store ly_store; /* a database: the writer thread and the readers */
typedef struct ly_db ly_db;       /* one connection with its prepared statements */

typedef enum ly_sync_mode {
    LY_SYNC_FULL = 0, /* every acknowledged write survives power loss (fsync per group) */
    LY_SYNC_NORMAL    /* survives a crash of the process, not of the machine */
} ly_sync_mode;

typedef struct ly_store_options {
    const char *path;     /* database file; created if missing */
    ly_sync_mode sync;
    int batch_max;        /* most jobs per group commit; 0 = default (512) */
} ly_store_options;

/* Opens (creating if needed) the database, applies pending schema migrations, and starts
 * the writer thread. *out is owned by the caller; close it with ly_store_close. */
ly_err ly_store_open(const ly_store_options *opt, ly_store **out, ly_error *err);

/* Finishes every submitted job, stops the writer, closes all connections. NULL is a no-op. */
void ly_store_close(ly_store *s);

/* The schema version this binary writes, and the one in the file. */
int ly_store_schema_version(void);

/* The calling thread's read connection, opened on first use and closed by ly_store_close.
 * Never NULL unless the database cannot be opened (then NULL and err filled). */
ly_db *ly_store_reader(ly_store *s, ly_error *err);

/* A unit of writing. The caller owns the job and must keep it alive until done() runs.
 * run() executes on the writer thread inside a savepoint, and may call any ly_db_* write
 * function on db. Returning non-LY_OK (with *err filled) rolls the job back.
 * done() runs on the writer thread after the group commit: rc is run's result, or LY_EIO if
 * the commit failed (the job's changes are then gone). done() must be quick: it only
 * hands the result back (signal a condition, resume a connection). */
typedef struct ly_write_job {
    ly_err (*run)(ly_db *db, void *ctx, ly_error *err);
    void (*done)(void *ctx, ly_err rc, const ly_error *err);
    void *ctx;
    /* private to the store */
    struct ly_write_job *next_;
    ly_err rc_;
    ly_error err_;
} ly_write_job;

/* Queues a job. Returns LY_OK, or LY_EIO if the store is closing (done is not called). */
ly_err ly_store_submit(ly_store *s, ly_write_job *job);

/* Runs run(db, ctx) as a write job and waits until it is durable. */
ly_err ly_store_write(ly_store *s, ly_err (*run)(ly_db *db, void *ctx, ly_error *err), void *ctx,
                      ly_error *err);

/* Counters for /metrics. batch_hist[i] counts group commits of size in (2^(i-1), 2^i]. */
typedef struct ly_store_stats {
    uint64_t commits;
    uint64_t jobs;
    uint64_t jobs_failed;
    uint64_t batch_hist[12];
    uint64_t commit_usec_total;
} ly_store_stats;
void ly_store_stats_get(ly_store *s, ly_store_stats *out);

/* ---------------------------------------------------------------------------------------
 * Customers and identifiers
 * ------------------------------------------------------------------------------------- */

typedef struct ly_consent {
    int state;  /* -1 never asked, 0 withdrawn, 1 given */
    ly_time at; /* when given or withdrawn; 0 if never asked */
} ly_consent;

typedef struct ly_identifier {
    ly_id_kind kind;
    const char *value; /* normalised */
} ly_identifier;

typedef struct ly_customer {
    int64_t id;
    const char *name;           /* may be NULL */
    const char *birth_date;     /* "YYYY-MM-DD" or NULL */
    const char *attributes;     /* JSON object text, never NULL ("{}") */
    ly_time enrolled_at;
    const char *enrolled_store; /* may be NULL */
    int64_t merged_into;        /* 0, or the customer this profile was merged into */
    ly_account account;         /* cached sums; `loyal check` verifies them */
    ly_consent consent[LY_CH_COUNT];
    ly_identifier *ids;         /* all identifiers, ordered by kind then value */
    size_t n_ids;
    ly_time updated_at;
} ly_customer;

/* Reads a customer with its identifiers. LY_ENOTFOUND ("customer_not_found"). */
ly_err ly_db_customer_get(ly_db *db, int64_t id, ly_arena *a, ly_customer *out, ly_error *err);

/* The customer an identifier (already normalised) belongs to. LY_ENOTFOUND. */
ly_err ly_db_customer_find(ly_db *db, ly_id_kind kind, const char *value, int64_t *id,
                           ly_error *err);

/* Inserts the profile fields of c (not ids, not account) and sets c->id. */
ly_err ly_db_customer_insert(ly_db *db, ly_customer *c, ly_error *err);

/* Writes the profile fields, consents, merged_into and updated_at of c (not ids, not the
 * account). LY_ENOTFOUND if c->id does not exist. */
ly_err ly_db_customer_update(ly_db *db, const ly_customer *c, ly_error *err);

/* Writes the cached account sums of a customer. */
ly_err ly_db_account_save(ly_db *db, int64_t customer_id, const ly_account *acc, ly_error *err);

/* Gives an identifier to a customer. A no-op if that customer already has it; LY_ECONFLICT
 * ("identifier_taken", field = the kind's name) if another customer has it. */
ly_err ly_db_identifier_add(ly_db *db, int64_t customer_id, ly_id_kind kind, const char *value,
                            ly_time now, ly_error *err);

/* Removes every identifier of the kind from the customer (to replace a card or rotate a QR). */
ly_err ly_db_identifier_remove(ly_db *db, int64_t customer_id, ly_id_kind kind, ly_error *err);

/* Records a consent change (history; the current state is on the customer). */
ly_err ly_db_consent_log(ly_db *db, int64_t customer_id, ly_channel ch, bool given, ly_time at,
                         ly_error *err);

/* Merging `from` into `into`: moves identifiers, lots and receipts, and records the merge.
 * Balances and ledger entries are the service's business. */
ly_err ly_db_customer_move(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Lots and the ledger
 * ------------------------------------------------------------------------------------- */

/* The customer's pending and active lots, ordered by expires_at (never last), then id. */
ly_err ly_db_lots_open(ly_db *db, int64_t customer_id, ly_arena *a, ly_lot **out, size_t *n,
                       ly_error *err);

/* One lot by id, whatever its state. LY_ENOTFOUND. */
ly_err ly_db_lot_get(ly_db *db, int64_t lot_id, ly_lot *out, int64_t *customer_id,
                     ly_error *err);

/* Stores a new lot and sets lot->id. receipt_rowid may be 0. */
ly_err ly_db_lot_insert(ly_db *db, int64_t customer_id, ly_entry_kind source,
                        int64_t receipt_rowid, ly_lot *lot, ly_error *err);

/* Writes remaining and state of a stored lot. */
ly_err ly_db_lot_update(ly_db *db, const ly_lot *lot, ly_error *err);

/* Customers with a lot due at `now`: pending with active_at <= now, or active with
 * 0 < expires_at <= now. At most `limit` distinct customer ids, ascending, > after. */
ly_err ly_db_lots_due(ly_db *db, ly_time now, int64_t after, size_t limit, ly_arena *a,
                      int64_t **ids, size_t *n, ly_error *err);

typedef struct ly_entry {
    int64_t id;
    int64_t customer_id;
    ly_entry_kind kind;
    ly_delta delta;
    int64_t lot_id;          /* 0 if none */
    const char *receipt_id;  /* the business's receipt id, or NULL */
    const char *return_id;   /* or NULL */
    const char *ref;         /* adjustment or merge reference, or NULL */
    const char *note;        /* or NULL */
    ly_time at;
} ly_entry;

/* Appends an entry and sets e->id. Entries are never changed or deleted. */
ly_err ly_db_entry_insert(ly_db *db, ly_entry *e, ly_error *err);

/* The customer's entries with id < before (0 = from the newest), newest first, at most
 * limit. */
ly_err ly_db_entries_page(ly_db *db, int64_t customer_id, int64_t before, size_t limit,
                          ly_arena *a, ly_entry **out, size_t *n, ly_error *err);

/* One inconsistency found by ly_db_check. */
typedef struct ly_mismatch {
    int64_t customer_id;
    const char *what;    /* "available", "pending", "debt", "lot" ... */
    int64_t recorded;    /* what the cached sum or lot says */
    int64_t derived;     /* what the ledger or the lots say */
} ly_mismatch;

/* Verifies every customer's cached account against the ledger (sum of deltas) and the lots
 * (available = active remaining - debt; pending = pending remaining), and every lot's
 * remaining against 0..points. Calls report for each mismatch; *n_mismatch gets their count.
 * *n_customers gets the number of customers checked. */
ly_err ly_db_check(ly_db *db, void (*report)(void *ctx, const ly_mismatch *m), void *ctx,
                   int64_t *n_customers, int64_t *n_mismatch, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Receipts and returns
 * ------------------------------------------------------------------------------------- */

/* A receipt as stored: what the till sent, how it was priced, what was returned. */
typedef struct ly_stored_receipt {
    int64_t rowid;
    ly_receipt receipt;        /* lines point into `lines_` below */
    int64_t customer_id;       /* 0 for an anonymous receipt */
    ly_id_kind id_kind;        /* how the customer was identified; LY_ID_KIND_COUNT if not */
    ly_pricing pricing;        /* pricing.lines has receipt.n_lines entries */
    ly_qty *returned;          /* per line: quantity returned so far */
    int64_t lot_id;            /* the lot the receipt earned, 0 if none */
    ly_time redeemed_expiry;   /* latest expiry of the lots its redemption drew from */
    const char *program_version;
    uint8_t request_hash[32];  /* of the canonical request, for idempotency */
    const char *response;      /* the response given when it was confirmed */
    ly_time created_at;
} ly_stored_receipt;

/* Finds a receipt by the business's id. LY_ENOTFOUND ("receipt_not_found"). */
ly_err ly_db_receipt_find(ly_db *db, const char *receipt_id, ly_arena *a, ly_stored_receipt *out,
                          ly_error *err);

/* Stores a receipt, its lines and pricing, and sets r->rowid. LY_ECONFLICT if the id exists. */
ly_err ly_db_receipt_insert(ly_db *db, ly_stored_receipt *r, ly_error *err);

/* Writes the per-line returned quantities of a stored receipt. */
ly_err ly_db_receipt_returned(ly_db *db, const ly_stored_receipt *r, ly_error *err);

/* A return as stored. Lines are the receipt's line indexes. */
typedef struct ly_return_line {
    size_t line;          /* index into the receipt's lines */
    ly_qty qty;
    ly_money amount;      /* money given back for it */
    ly_points points_taken;
    ly_points points_refunded;
} ly_return_line;

typedef struct ly_stored_return {
    int64_t rowid;
    const char *return_id;
    int64_t receipt_rowid;
    ly_time time;
    ly_money amount;
    ly_points points_taken;     /* earned points taken back */
    ly_points points_refunded;  /* spent points given back */
    ly_points points_forgiven;  /* owed but forgiven under the clamp policy */
    ly_return_line *lines;
    size_t n_lines;
    uint8_t request_hash[32];
    const char *response;
    ly_time created_at;
} ly_stored_return;

ly_err ly_db_return_find(ly_db *db, const char *return_id, ly_arena *a, ly_stored_return *out,
                         ly_error *err);
ly_err ly_db_return_insert(ly_db *db, ly_stored_return *r, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Idempotency records, for requests without a natural id (customer creation, merges,
 * adjustments): the key, the hash of the request and the response given.
 * ------------------------------------------------------------------------------------- */

/* LY_ENOTFOUND if the key is new. */
ly_err ly_db_idem_get(ly_db *db, const char *key, ly_arena *a, uint8_t hash[32], int *status,
                      const char **response, ly_error *err);
ly_err ly_db_idem_put(ly_db *db, const char *key, const uint8_t hash[32], int status,
                      const char *response, ly_time at, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * What the analytics found out about each customer (analytics.c). A run is recorded
 * first, its customers are put in batches, then the rows of earlier runs are pruned, so a
 * reader sees either the old or the new figures of a customer, never a mix.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_analytics_run {
    int64_t id;
    ly_time at;
    char as_of[11];        /* YYYY-MM-DD */
    int64_t customers;
    int64_t sleep_days;    /* -1 when the data show no boundary */
    int64_t churn_days;
    int64_t loyalty_deals;
} ly_analytics_run;

typedef struct ly_customer_analytics {
    int64_t customer_id;
    int64_t run;
    char as_of[11];        /* the run's analysis date, YYYY-MM-DD (filled by get) */
    char rfm_cell[8];      /* "R3F2M1"; "" without a deal */
    char segment[24];      /* "Champions", ...; "" without a deal */
    char status[12];       /* "active", "sleeping", "churned" */
    char loyalty[12];      /* "below", "reached", "unknown" */
    int64_t r_days;
    int64_t deals;
    ly_money revenue;
    int64_t p_alive_ppm;   /* P(alive) in millionths; -1 when no model was fitted */
    ly_money clv;          /* -1 when no model was fitted */
} ly_customer_analytics;

/* Records a new run (customers may be 0 and is set by ly_db_analytics_run_finish); fills
 * run->id. */
ly_err ly_db_analytics_run_insert(ly_db *db, ly_analytics_run *run, ly_error *err);
/* Sets the run's customer count, marks it finished (at run->at) and deletes every customer
 * row of earlier runs. */
ly_err ly_db_analytics_run_finish(ly_db *db, const ly_analytics_run *run, ly_error *err);
/* The latest finished run. LY_ENOTFOUND ("no_analytics") when none has finished. */
ly_err ly_db_analytics_run_latest(ly_db *db, ly_analytics_run *out, ly_error *err);
/* Inserts or replaces one customer's figures. A customer id unknown to the database is
 * skipped (the row would reference nothing): *stored says whether it was written. */
ly_err ly_db_customer_analytics_put(ly_db *db, const ly_customer_analytics *a, bool *stored,
                                    ly_error *err);
/* The customer's figures of the latest run. LY_ENOTFOUND when there are none. */
ly_err ly_db_customer_analytics_get(ly_db *db, int64_t customer_id, ly_customer_analytics *out,
                                    ly_error *err);

/* ---------------------------------------------------------------------------------------
 * API keys: only a hash of each key is stored.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_api_key {
    int64_t id;
    const char *prefix;  /* the first characters of the key, to recognise it in lists */
    const char *role;    /* "pos" or "admin" */
    const char *label;   /* may be NULL */
    ly_time created_at;
    ly_time revoked_at;  /* 0 if in force */
} ly_api_key;

ly_err ly_db_key_insert(ly_db *db, const uint8_t hash[32], ly_api_key *k, ly_error *err);
/* The key in force with this hash. LY_ENOTFOUND if none (or revoked). */
ly_err ly_db_key_find(ly_db *db, const uint8_t hash[32], ly_arena *a, ly_api_key *out,
                      ly_error *err);
ly_err ly_db_keys_list(ly_db *db, ly_arena *a, ly_api_key **out, size_t *n, ly_error *err);
/* LY_ENOTFOUND if no key has that id. */
ly_err ly_db_key_revoke(ly_db *db, int64_t id, ly_time at, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * The store as a source of receipts for the analytics (source.c; analytics/analytics.h)
 * ------------------------------------------------------------------------------------- */

struct ly_source;

/* Fills *out with a source (analytics.h) that reads every receipt and every return of the
 * database once, on the calling thread's read connection, in one snapshot: anonymous ones
 * first, then each customer's in time order (returns after receipts of the same second).
 * The customer key is the customer id in decimal; a return carries the returned receipt's
 * customer, store, cashier, channel and UTC offset, and the money given back. Progress
 * counts rows.
 * Close it with out->close before closing the store. LY_EIO if the query cannot start. */
ly_err ly_store_source_open(ly_store *s, struct ly_source *out, ly_error *err);

#endif /* LY_STORE_H */
