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

/* A read snapshot on the calling thread's read connection: from ly_store_read_begin to the
 * matching ly_store_read_end, every read of this thread sees the database as of the first
 * read, and the WAL read lock is taken once instead of once per statement. For requests that
 * only read (a balance with its tier, a profile): between begin and end a write job's
 * effects are not visible, so never write in between. Calls nest (only the outermost pair
 * opens and closes the transaction). read_end never fails: a snapshot only ends. */
ly_err ly_store_read_begin(ly_store *s, ly_error *err);
void ly_store_read_end(ly_store *s);

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
 * Rewards (engineer R; rewards.c): rule limits and campaign budgets, coupons, referrals,
 * custom events, partners, and the figures of the liability report. Counters are changed
 * only inside write jobs, so the checks made in a job and the change that follows are one
 * atomic step.
 * ------------------------------------------------------------------------------------- */

/* Uses of a rule by a customer in a period not given back by a return. */
ly_err ly_db_rule_uses_count(ly_db *db, const char *rule, int64_t customer_id,
                             const char *period, int64_t *n, ly_error *err);
/* What a rule's campaign has spent (0, 0 when nothing yet). */
ly_err ly_db_rule_budget_get(ly_db *db, const char *rule, ly_points *points, ly_money *discount,
                             ly_error *err);
/* Records one use of a rule by a receipt and adds it to the rule's budget spent.
 * customer_id may be 0. */
ly_err ly_db_rule_use_add(ly_db *db, const char *rule, int64_t customer_id, const char *period,
                          const char *receipt_id, ly_points points, ly_money discount, ly_time at,
                          ly_error *err);
/* Gives back every use recorded for the receipt (its full return): they stop counting
 * toward limits and their points and money return to the budgets. *n (may be NULL) gets
 * how many uses were given back; a second call finds none. */
ly_err ly_db_rule_uses_return(ly_db *db, const char *receipt_id, int64_t *n, ly_error *err);

/* A new batch of unique codes of a campaign. LY_ECONFLICT "batch_exists" if the campaign
 * already has a batch of that name. */
ly_err ly_db_coupon_batch_insert(ly_db *db, const char *campaign, const char *batch,
                                 int64_t count, ly_time at, ly_error *err);
/* Stores one code's hash. LY_ECONFLICT "code_exists" when the hash is already there. */
ly_err ly_db_coupon_code_insert(ly_db *db, const uint8_t hash[32], const char *campaign,
                                const char *batch, ly_time at, ly_error *err);
/* The campaign of a unique code's hash, in the arena. LY_ENOTFOUND. */
ly_err ly_db_coupon_code_find(ly_db *db, const uint8_t hash[32], ly_arena *a,
                              const char **campaign, ly_error *err);
/* Redemptions still standing (not given back): of this code, of the whole campaign, and of
 * the campaign by the customer (0 when customer_id is 0). */
ly_err ly_db_coupon_uses(ly_db *db, const char *campaign, const uint8_t hash[32],
                         int64_t customer_id, int64_t *code_uses, int64_t *campaign_uses,
                         int64_t *customer_uses, ly_error *err);
/* Records a redemption by a receipt; customer_id may be 0. */
ly_err ly_db_coupon_redeem(ly_db *db, const char *campaign, const uint8_t hash[32],
                           int64_t customer_id, const char *receipt_id, ly_time at,
                           ly_error *err);
/* Gives back the receipt's redemptions; *n (may be NULL) gets how many. */
ly_err ly_db_coupon_redemptions_return(ly_db *db, const char *receipt_id, int64_t *n,
                                       ly_error *err);
/* A campaign's figures: unique codes issued, batches, redemptions standing, given back. */
typedef struct ly_coupon_stats {
    int64_t codes, batches, uses, returned;
} ly_coupon_stats;
ly_err ly_db_coupon_stats(ly_db *db, const char *campaign, ly_coupon_stats *out, ly_error *err);

/* A referral: the newcomer (referee) enrolled with the referrer's code. */
typedef struct ly_referral {
    int64_t referee, referrer;
    ly_time linked_at;
    const char *receipt_id;  /* the qualifying purchase, or NULL */
    ly_time due_at;          /* when its return window ends; 0 while none */
    ly_time rewarded_at;     /* 0 until rewarded */
    ly_points referrer_points, newcomer_points; /* paid */
} ly_referral;
ly_err ly_db_referral_insert(ly_db *db, int64_t referee, int64_t referrer, ly_time at,
                             ly_error *err);
/* The referral of a newcomer. LY_ENOTFOUND. */
ly_err ly_db_referral_get(ly_db *db, int64_t referee, ly_arena *a, ly_referral *out,
                          ly_error *err);
/* Sets the qualifying purchase of an unrewarded referral waiting for one. */
ly_err ly_db_referral_qualify(ly_db *db, int64_t referee, const char *receipt_id, ly_time due_at,
                              ly_error *err);
/* A fully returned receipt stops qualifying an unrewarded referral: it waits again.
 * *n (may be NULL) gets the referrals changed. */
ly_err ly_db_referral_unqualify(ly_db *db, const char *receipt_id, int64_t *n, ly_error *err);
/* Newcomers whose referral is due (due_at <= now, not rewarded), ascending, > after. */
ly_err ly_db_referrals_due(ly_db *db, ly_time now, int64_t after, size_t limit, ly_arena *a,
                           int64_t **referees, size_t *n, ly_error *err);
/* Marks a referral rewarded with what was paid. */
ly_err ly_db_referral_rewarded(ly_db *db, int64_t referee, ly_time at, ly_points referrer_points,
                               ly_points newcomer_points, ly_error *err);
/* A referrer's figures and (up to limit, newest first) referrals. */
typedef struct ly_referral_stats {
    int64_t invited, qualified, converted;
    ly_points referrer_points, newcomer_points;
} ly_referral_stats;
ly_err ly_db_referral_stats(ly_db *db, int64_t referrer, size_t limit, ly_arena *a,
                            ly_referral_stats *stats, ly_referral **list, size_t *n,
                            ly_error *err);

/* A custom event as stored. */
typedef struct ly_stored_event {
    const char *event_id;
    int64_t customer_id;
    const char *type;
    const char *period;
    ly_time at;
    ly_points points;
    uint8_t request_hash[32];
    const char *response;
    ly_time created_at;
} ly_stored_event;
/* LY_ENOTFOUND if no event has the id. */
ly_err ly_db_event_find(ly_db *db, const char *event_id, ly_arena *a, ly_stored_event *out,
                        ly_error *err);
/* Rewarded events (points > 0) of the type by the customer in the period. */
ly_err ly_db_event_count(ly_db *db, int64_t customer_id, const char *type, const char *period,
                         int64_t *n, ly_error *err);
ly_err ly_db_event_insert(ly_db *db, const ly_stored_event *e, ly_error *err);

/* Points issued and redeemed at a partner by a receipt (return_id NULL) or a return
 * (negative figures). */
ly_err ly_db_partner_entry_insert(ly_db *db, const char *partner, const char *receipt_id,
                                  const char *return_id, ly_time at, ly_points issued,
                                  ly_points redeemed, ly_money paid, ly_error *err);
/* The partner a receipt was made at, in the arena. LY_ENOTFOUND when none. */
ly_err ly_db_partner_of_receipt(ly_db *db, const char *receipt_id, ly_arena *a,
                                const char **partner, ly_error *err);
typedef struct ly_partner_figures {
    const char *partner;
    int64_t receipts;      /* purchases (not returns) in the period */
    ly_points issued, redeemed; /* net of returns in the period */
    ly_money paid;
} ly_partner_figures;
/* Sums per partner of the entries with from <= at < to, ordered by partner. */
ly_err ly_db_partner_report(ly_db *db, ly_time from, ly_time to, ly_arena *a,
                            ly_partner_figures **out, size_t *n, ly_error *err);

/* Customers born on mmdd ("02-29") who have no adjustment with the key
 * "adjustment:birthday:<id>:<year>" yet, ascending, > after. */
ly_err ly_db_birthday_candidates(ly_db *db, const char *mmdd, int year, int64_t after,
                                 size_t limit, ly_arena *a, int64_t **ids, size_t *n,
                                 ly_error *err);

/* The outstanding points of the whole program, three ways, for the liability report. */
typedef struct ly_liability_lots {
    ly_time expires_at;    /* 0 = never */
    ly_points pending, active;
} ly_liability_lots;
typedef struct ly_liability {
    ly_points lots_pending, lots_active;  /* remaining in pending and active lots */
    ly_points debt;                       /* owed by customers (sum of debt) */
    ly_points acc_available, acc_pending; /* the customers' cached sums */
    ly_points ledger_available, ledger_pending; /* the sums of every ledger delta */
    ly_liability_lots *by_expiry;         /* open lots by expiry instant, ascending, 0 last */
    size_t n_by_expiry;
} ly_liability;
ly_err ly_db_liability(ly_db *db, ly_arena *a, ly_liability *out, ly_error *err);

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

/* ---------------------------------------------------------------------------------------
 * Delivery and the outbox (outbox.c; docs/delivery.md). Triggers write messages here inside
 * their write jobs; the delivery worker (engage/engage.h) claims the due ones, sends them
 * outside any write job and records what happened.
 *
 *   pending --claim--> sending --2xx--> delivered
 *                         |  \--transient failure--> retrying --(due)--> sending ...
 *                         |  \--permanent failure, or the last attempt--> dead
 *                         \--lease ran out (worker died)--> taken again by the next claim
 *   dead --ly_db_outbox_retry--> pending (attempts back to 0)
 * ------------------------------------------------------------------------------------- */

typedef enum ly_msg_state {
    LY_MSG_PENDING = 0, /* written, never tried */
    LY_MSG_SENDING,     /* claimed by a worker; next_at is the end of its lease */
    LY_MSG_DELIVERED,   /* the receiver accepted it (final) */
    LY_MSG_RETRYING,    /* an attempt failed; next_at is when the next one is due */
    LY_MSG_DEAD,        /* given up: out of attempts or refused for good (until retried) */
    LY_MSG_STATE_COUNT
} ly_msg_state;

/* "pending", "sending", "delivered", "retrying", "dead" (as stored); parse is the reverse. */
const char *ly_msg_state_name(ly_msg_state s);
bool ly_msg_state_parse(const char *s, ly_msg_state *out);

/* "msg_" and 22 characters of [A-Za-z0-9] (about 131 random bits). */
#define LY_MESSAGE_ID_LEN 26

/* A message. The first group is what a trigger fills in to enqueue; the store fills in the
 * rest. Strings read from the store live in the caller's arena. */
typedef struct ly_message {
    const char *trigger;   /* the trigger's id: 1-64 bytes, no control characters */
    int64_t customer_id;   /* an existing customer */
    int64_t step;          /* the step of the trigger's chain, >= 0 */
    const char *channel;   /* "sms", "email", "push", "messenger", "call_list", "webhook",
                            * ...: 1-32 of [a-z0-9_]; docs/delivery.md maps it to an adapter */
    const char *payload;   /* a JSON object (text): what the adapter sends; see docs */
    ly_time created_at;    /* > 0 */
    ly_time not_before;    /* earliest delivery (quiet hours); 0 = created_at */
    const char *touchpoint;/* the program touchpoint it goes out through, or NULL (issue 6,
                            * engineer T; docs/touchpoints.md); stored as given */

    char id[LY_MESSAGE_ID_LEN + 1]; /* unique and stable: receivers deduplicate on it */
    int64_t rowid;
    ly_msg_state state;
    int64_t attempts;      /* attempts started, including the one in flight */
    ly_time next_at;       /* due time; the lease's end while sending; when it was
                            * delivered or went dead */
    const char *last_error;/* of the last failed attempt, or NULL */
    ly_money cost;         /* the channel's cost per message, recorded on delivery */
    ly_time updated_at;
    ly_time delivered_at;  /* 0 until delivered */
} ly_message;

/* Writes m to the outbox, or finds the message already written for the same (trigger,
 * customer, step): enqueueing is idempotent, so a trigger run again produces nothing new.
 * Call it inside a write job. On LY_OK, *created (may be NULL) says whether a new message
 * was written, and m's id, rowid, state, attempts, next_at, ... are those of the stored
 * message (for an existing one its stored state wins; its last_error is read into a when
 * a is not NULL; trigger, channel, payload and touchpoint stay the caller's pointers).
 * Errors: LY_EINVAL ("invalid_message", field = the member) for a bad member,
 * ("invalid_payload") when payload is not a JSON object; LY_ENOTFOUND ("customer_not_found");
 * LY_EIO. */
ly_err ly_db_outbox_enqueue(ly_db *db, ly_message *m, ly_arena *a, bool *created,
                            ly_error *err);

/* Claims up to limit messages due at now (pending or retrying with next_at <= now, or
 * sending with a lease that ended at or before now), oldest due first, whose channel is in
 * channels (a JSON array of channel names as text; NULL = every channel). Each becomes
 * 'sending' with attempts + 1 and next_at = lease_until. Call it inside a write job; the
 * messages (in a) are what was claimed, with their new state. *n_reclaimed (may be NULL)
 * counts the claimed ones whose earlier lease had run out. */
ly_err ly_db_outbox_claim(ly_db *db, const char *channels, ly_time now, ly_time lease_until,
                          size_t limit, ly_arena *a, ly_message **out, size_t *n,
                          int64_t *n_reclaimed, ly_error *err);

/* What one attempt came to, for ly_db_outbox_record. */
typedef enum ly_msg_outcome_kind {
    LY_OUTCOME_DELIVERED = 0, /* -> delivered: always applies unless already delivered */
    LY_OUTCOME_RETRY,         /* -> retrying at next_at */
    LY_OUTCOME_DEAD,          /* -> dead */
    LY_OUTCOME_RELEASE        /* not attempted after all (worker stopping): back to due at
                               * `at`, the attempt not counted */
} ly_msg_outcome_kind;

typedef struct ly_msg_outcome {
    const char *id;           /* the message id */
    int64_t attempt;          /* the attempt number the claim gave (its attempts) */
    ly_msg_outcome_kind kind;
    ly_time at;               /* when it happened */
    ly_time next_at;          /* RETRY: when the next attempt is due */
    const char *error;        /* RETRY, DEAD: why (copied; at most 500 bytes kept) */
    ly_money cost;            /* DELIVERED: the channel's cost */
} ly_msg_outcome;

/* Records an outcome. Except for a delivery, it applies only while the message is still
 * 'sending' under the same attempt: a worker whose lease ran out and whose message another
 * worker took back cannot overwrite the newer attempt. *applied (may be NULL) says whether
 * the row changed. Call it inside a write job. LY_EIO. */
ly_err ly_db_outbox_record(ly_db *db, const ly_msg_outcome *o, bool *applied, ly_error *err);

/* Puts a dead message back: pending, attempts 0, due at now (last_error is kept).
 * LY_ENOTFOUND ("message_not_found"), LY_ECONFLICT ("message_not_dead", the state in the
 * message). Call it inside a write job. */
ly_err ly_db_outbox_retry(ly_db *db, const char *id, ly_time now, ly_error *err);

/* One message by id. LY_ENOTFOUND ("message_not_found"). */
ly_err ly_db_outbox_get(ly_db *db, const char *id, ly_arena *a, ly_message *out,
                        ly_error *err);

/* Messages in a state (LY_MSG_STATE_COUNT = every state) with rowid > after, by rowid, at
 * most limit. */
ly_err ly_db_outbox_list(ly_db *db, ly_msg_state state, int64_t after, size_t limit,
                         ly_arena *a, ly_message **out, size_t *n, ly_error *err);

/* The number of messages in each state (counts[LY_MSG_STATE_COUNT], indexed by state). */
ly_err ly_db_outbox_counts(ly_db *db, int64_t counts[LY_MSG_STATE_COUNT], ly_error *err);

/* The earliest next_at of a message not yet final (pending, retrying, or sending: the end
 * of its lease) whose channel is in channels (as for claim). LY_ENOTFOUND when there is
 * none. */
ly_err ly_db_outbox_next_due(ly_db *db, const char *channels, ly_time *at, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Tiers, the club and program versions (tiers.c; engineer T). A customer without a tier
 * row is in the program's first tier; tier and club changes are logged for history.
 * ------------------------------------------------------------------------------------- */

/* Stores a version of the program file unless one of that name is stored: *first_loaded_at
 * gets when the stored one was first loaded, *same whether its text equals text. */
ly_err ly_db_program_version_put(ly_db *db, const char *version, const char *text, ly_time at,
                                 ly_time *first_loaded_at, bool *same, ly_error *err);

/* The stored text of a version (in a) and when it was first loaded. LY_ENOTFOUND. */
ly_err ly_db_program_version_get(ly_db *db, const char *version, ly_arena *a, const char **text,
                                 ly_time *first_loaded_at, ly_error *err);

typedef struct ly_tier_state {
    const char *tier;   /* the tier's id */
    ly_time since;      /* when the customer reached it */
} ly_tier_state;

/* When the customer enrolled (one column, for the first tier's "since"). LY_ENOTFOUND. */
ly_err ly_db_customer_enrolled(ly_db *db, int64_t customer_id, ly_time *out, ly_error *err);

/* The customer's tier row. LY_ENOTFOUND when there is none (the first tier). */
ly_err ly_db_tier_get(ly_db *db, int64_t customer_id, ly_arena *a, ly_tier_state *out,
                      ly_error *err);

/* Moves the customer from tier `from` to st->tier at `at` (st->since), and logs the change
 * ("upgrade" or "downgrade") with the program version that decided it. */
ly_err ly_db_tier_set(ly_db *db, int64_t customer_id, const char *from, const ly_tier_state *st,
                      const char *change, const char *program_version, ly_error *err);

typedef struct ly_tier_change {
    int64_t id;
    const char *from_tier, *to_tier;
    const char *change;          /* "upgrade" or "downgrade" */
    ly_time at;
    const char *program_version;
} ly_tier_change;

/* The customer's tier changes, oldest first (at most limit). */
ly_err ly_db_tier_history(ly_db *db, int64_t customer_id, size_t limit, ly_arena *a,
                          ly_tier_change **out, size_t *n, ly_error *err);

/* Customers with a tier row, ids ascending and > after, at most limit. */
ly_err ly_db_tier_customers(ly_db *db, int64_t after, size_t limit, ly_arena *a, int64_t **ids,
                            size_t *n, ly_error *err);

/* A receipt of a customer as the tiers count it. */
typedef struct ly_purchase {
    ly_time time;
    ly_money spend;  /* paid less what its returns gave back, >= 0 */
    bool counts;     /* some line is not wholly returned */
} ly_purchase;

/* The customer's receipts with time >= from, oldest first. */
ly_err ly_db_purchases(ly_db *db, int64_t customer_id, ly_time from, ly_arena *a,
                       ly_purchase **out, size_t *n, ly_error *err);

/* Customers with a receipt at or after from, ids ascending and > after, at most limit. */
ly_err ly_db_buyers_since(ly_db *db, ly_time from, int64_t after, size_t limit, ly_arena *a,
                          int64_t **ids, size_t *n, ly_error *err);

typedef struct ly_club_member {
    int64_t customer_id;
    const char *via;    /* "rule" or "invitation" */
    ly_time since;
    const char *note;   /* may be NULL */
} ly_club_member;

/* LY_ENOTFOUND when the customer is not a member. */
ly_err ly_db_club_get(ly_db *db, int64_t customer_id, ly_arena *a, ly_club_member *out,
                      ly_error *err);
/* Adds a member (logged "joined"). LY_ECONFLICT "already_member" when they are one. */
ly_err ly_db_club_join(ly_db *db, const ly_club_member *m, ly_error *err);
/* Removes a member (logged "left" with their via). LY_ENOTFOUND "not_a_member". */
ly_err ly_db_club_leave(ly_db *db, int64_t customer_id, ly_time at, ly_error *err);
/* Members with customer_id > after, ascending, at most limit; via_rule_only: only those
 * admitted by the rule. */
ly_err ly_db_club_page(ly_db *db, int64_t after, size_t limit, bool via_rule_only, ly_arena *a,
                       ly_club_member **out, size_t *n, ly_error *err);

/* Whether the tier evaluation of a local day has run, and recording that it has. */
ly_err ly_db_tier_day_done(ly_db *db, int64_t day, bool *done, ly_error *err);
ly_err ly_db_tier_day_mark(ly_db *db, int64_t day, ly_time at, const char *program_version,
                           ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Triggers (triggers.c; engineer G; docs/triggers.md): hold-out assignments, each
 * customer's chain in each trigger, every step reached (a message sent, or for a held-out
 * customer the send it would have been: what the uplift is measured on and what the
 * frequency caps count), and the bonus flags offers ride on.
 * ------------------------------------------------------------------------------------- */

/* Customers not merged into another, ids ascending and > after, at most limit (in a). */
ly_err ly_db_trigger_customers(ly_db *db, int64_t after, size_t limit, ly_arena *a,
                               int64_t **ids, size_t *n, ly_error *err);

/* A customer's recorded group in a trigger ("*" = the program-wide hold-out). */
typedef struct ly_trigger_assignment {
    const char *trigger;
    int64_t customer_id;
    bool held_out;
    int64_t bucket;       /* 0..9999 from the hash; held out when bucket < share_bp */
    const char *hash;     /* hex of the first 8 bytes of the BLAKE2b hash */
    int64_t share_bp;     /* the hold-out share it was drawn with */
    const char *seed;
    ly_time at;
} ly_trigger_assignment;
/* LY_ENOTFOUND when the customer was never assigned in the trigger. */
ly_err ly_db_trigger_assignment_get(ly_db *db, const char *trigger, int64_t customer_id,
                                    bool *held_out, ly_error *err);
/* Records an assignment; the first one recorded stays (a no-op when one exists). */
ly_err ly_db_trigger_assignment_put(ly_db *db, const ly_trigger_assignment *as, ly_error *err);

/* One cycle of a customer's chain in a trigger. */
typedef struct ly_trigger_chain {
    const char *trigger;
    int64_t customer_id;
    int64_t cycle;        /* 1, 2, ... each time the customer enters again */
    const char *group;    /* "treated", "holdout", "program_holdout" */
    ly_time entered_at;
    int64_t step;         /* the last step reached (0-based) */
    ly_time step_at;      /* when it was (would have been) sent */
    bool open;            /* running; false once ended */
} ly_trigger_chain;
/* The latest cycle of each trigger the customer has entered, by trigger id (in a). */
ly_err ly_db_trigger_chains_of(ly_db *db, int64_t customer_id, ly_arena *a,
                               ly_trigger_chain **out, size_t *n, ly_error *err);
/* Inserts or updates the cycle (trigger, customer, cycle); end_reason ("purchase",
 * "condition", "done") is kept when it is not open. */
ly_err ly_db_trigger_chain_put(ly_db *db, const ly_trigger_chain *c, const char *end_reason,
                               ly_time at, ly_error *err);

/* A step reached. */
typedef struct ly_trigger_send {
    const char *trigger;
    int64_t customer_id, cycle, step;
    const char *group;       /* as the chain's */
    ly_time at;              /* the (would-be) send time: not before the end of quiet hours */
    const char *channel;     /* the channel chosen (also for held-out customers) */
    ly_money cost;           /* the channel's cost; 0 when nothing was sent */
    const char *message_id;  /* the outbox message; NULL when nothing was sent */
    const char *offer;       /* the offer's kind, or NULL */
    ly_money reward_cost;    /* the offer's cost if taken; 0 when nothing was sent */
    const char *touchpoint;  /* the touchpoint of the (would-be) message, or NULL (issue 6) */
} ly_trigger_send;
/* Records a step reached unless (trigger, customer, cycle, step) is recorded: *created
 * (may be NULL) says which. */
ly_err ly_db_trigger_send_put(ly_db *db, const ly_trigger_send *s, bool *created, ly_error *err);
/* Sets the outbox message of a recorded step. */
ly_err ly_db_trigger_send_message(ly_db *db, const ly_trigger_send *s, const char *message_id,
                                  ly_error *err);
/* Steps recorded for the customer with from <= at < to, every trigger and group. */
ly_err ly_db_trigger_sends_count(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                                 int64_t *n, ly_error *err);

/* Turns on a bonus flag [from, until) (an existing one is widened). */
ly_err ly_db_trigger_flag_set(ly_db *db, int64_t customer_id, const char *flag,
                              const char *trigger, ly_time from, ly_time until, ly_error *err);
/* The customer's flags active at `at`, by name (in a). */
ly_err ly_db_trigger_flags_active(ly_db *db, int64_t customer_id, ly_time at, ly_arena *a,
                                  const char ***flags, size_t *n, ly_error *err);

/* The customer's receipts with from <= time < to: how many, the first and last times (0
 * when none). */
ly_err ly_db_trigger_deals(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                           int64_t *count, ly_time *first, ly_time *last, ly_error *err);
/* Custom events of the type by the customer with from <= at < to. */
ly_err ly_db_trigger_events(ly_db *db, int64_t customer_id, const char *type, ly_time from,
                            ly_time to, int64_t *n, ly_error *err);
/* Tier upgrades and downgrades of the customer with from <= at < to. */
ly_err ly_db_trigger_tier_changes(ly_db *db, int64_t customer_id, ly_time from, ly_time to,
                                  int64_t *upgrades, int64_t *downgrades, ly_error *err);

/* A step reached with what followed it: the deals in [at, at + window). */
typedef struct ly_trigger_outcome {
    int64_t customer_id, cycle, step;
    bool held_out;           /* held out by the trigger or the program */
    bool program_holdout;    /* held out by the program-wide hold-out */
    ly_time at;
    ly_money cost, reward_cost;
    int64_t deals;
    ly_money revenue;        /* paid less what the deals' returns gave back */
} ly_trigger_outcome;
typedef ly_err (*ly_trigger_outcome_fn)(void *ctx, const ly_trigger_outcome *o, ly_error *err);
/* Calls fn for every step of the trigger reached with from <= at < to, by step, then
 * customer, then cycle; window in seconds. fn's error stops the walk and is returned. */
ly_err ly_db_trigger_outcomes(ly_db *db, const char *trigger, ly_time from, ly_time to,
                              int64_t window, ly_trigger_outcome_fn fn, void *ctx,
                              ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Quests, badges and levels (quests.c; issue 6, engineer Q; docs/quests.md). Progress is a
 * row per customer, quest and period key; each receipt's contribution is kept so a return
 * takes back exactly its share. Strings are borrowed for the call; results are copied into
 * the arena.
 * ------------------------------------------------------------------------------------- */

/* The progress of the customer in a quest's period: LY_ENOTFOUND (err set) when none; else
 * *value and *completed_at (0: not completed). */
ly_err ly_db_quest_progress_get(ly_db *db, int64_t customer_id, const char *quest,
                                const char *period, int64_t *value, ly_time *completed_at,
                                ly_error *err);

/* Sets the progress row (inserted or replaced); completed_at 0 stores NULL. */
ly_err ly_db_quest_progress_put(ly_db *db, int64_t customer_id, const char *quest,
                                const char *period, int64_t value, ly_time completed_at,
                                ly_time now, ly_error *err);

/* One receipt's contribution to one quest. */
typedef struct ly_quest_contribution {
    const char *quest_id;
    const char *period;
    int64_t customer_id;
    int64_t value;
} ly_quest_contribution;

/* Records (or replaces) what receipt receipt_id contributes to a quest. */
ly_err ly_db_quest_contribution_put(ly_db *db, const char *receipt_id,
                                    const ly_quest_contribution *c, ly_error *err);

/* Every contribution of a receipt, by quest id, into the arena (*n may be 0). */
ly_err ly_db_quest_contributions(ly_db *db, const char *receipt_id, ly_arena *a,
                                 ly_quest_contribution **out, size_t *n, ly_error *err);

/* A badge a customer holds. */
typedef struct ly_quest_badge {
    const char *badge;
    const char *quest_id;   /* the quest that gave it first */
    const char *period;
    ly_time at;
} ly_quest_badge;

/* Gives the badge unless the customer already holds it (*added says which). */
ly_err ly_db_quest_badge_add(ly_db *db, int64_t customer_id, const ly_quest_badge *b,
                             bool *added, ly_error *err);

/* The customer's badges, oldest first, into the arena. */
ly_err ly_db_quest_badges(ly_db *db, int64_t customer_id, ly_arena *a, ly_quest_badge **out,
                          size_t *n, ly_error *err);

/* Adds xp (>= 0) to the customer's experience points. */
ly_err ly_db_quest_xp_add(ly_db *db, int64_t customer_id, int64_t xp, ly_error *err);

/* The customer's experience points (0 without a row). */
ly_err ly_db_quest_xp_get(ly_db *db, int64_t customer_id, int64_t *xp, ly_error *err);

/* The customer's streak of weeks with a deal: *week, *length and *best (all 0 without a
 * row). */
ly_err ly_db_quest_streak_get(ly_db *db, int64_t customer_id, int64_t *week, int64_t *length,
                              int64_t *best, ly_error *err);

/* A quest's figures over all its periods: customers who made progress (started),
 * completions (customer and period), and the points its bonuses gave (adjustment ids
 * "quest:<quest>:..."). */
ly_err ly_db_quest_figures(ly_db *db, const char *quest, int64_t *started, int64_t *completed,
                           ly_points *points, ly_error *err);

/* Calls fn(ctx, customer_id, deals) for every customer with receipts in [from, to), by
 * customer id; fn's error stops the walk and is returned. */
ly_err ly_db_quest_deals(ly_db *db, ly_time from, ly_time to,
                         ly_err (*fn)(void *ctx, int64_t customer_id, int64_t deals, ly_error *err),
                         void *ctx, ly_error *err);

/* Whether the customer completed the quest in some period (completed_at in [from, to)). */
ly_err ly_db_quest_completed(ly_db *db, const char *quest, int64_t customer_id, ly_time from,
                             ly_time to, bool *out, ly_error *err);

/* Whether a stored receipt of the customer other than except_receipt_id (the business's
 * id; may be NULL) has a line in category (returned or not, imported history included):
 * the quest kind "new_category" (docs/quests.md). */
ly_err ly_db_quest_bought_category(ly_db *db, int64_t customer_id, const char *category,
                                   const char *except_receipt_id, bool *out, ly_error *err);

/* Stores the customer's streak (inserted or replaced). */
ly_err ly_db_quest_streak_put(ly_db *db, int64_t customer_id, int64_t week, int64_t length,
                              int64_t best, ly_error *err);

/* Personal coupon codes given as quest and streak rewards (quests.c; issue 6, engineer R;
 * docs/quests.md, Rewards). One row per cause (the reward's key,
 * "quest:<quest>:<period>:<customer>" or "streak:<weeks>:<start>:<customer>"), so a cause
 * issues at most one code. The code's hash is also in coupon_codes, where checkout finds
 * its campaign; the row binds the code to its owner. */
typedef struct ly_quest_coupon {
    const char *cause;
    int64_t customer_id;      /* the owner */
    const char *quest_id;     /* the quest, or "streak" */
    const char *period;       /* the quest's period key; the streak's "<weeks>:<start week>" */
    const char *campaign;
    const char *code;         /* the code as the customer types it */
    uint8_t hash[32];         /* BLAKE2b-256 of "coupon:" + code, as in coupon_codes */
    ly_time issued_at;
    bool used;                /* (read) a redemption not given back by a return exists */
} ly_quest_coupon;

/* The code issued for cause into the arena; LY_ENOTFOUND (err set) when none. */
ly_err ly_db_quest_coupon_get(ly_db *db, const char *cause, ly_arena *a, ly_quest_coupon *out,
                              ly_error *err);

/* Records an issued code (the caller has inserted its hash into coupon_codes). LY_ECONFLICT
 * when the cause already has one. */
ly_err ly_db_quest_coupon_insert(ly_db *db, const ly_quest_coupon *c, ly_error *err);

/* The customer's personal codes, oldest first, with whether each is used, into the arena. */
ly_err ly_db_quest_coupons(ly_db *db, int64_t customer_id, ly_arena *a, ly_quest_coupon **out,
                           size_t *n, ly_error *err);

/* The owner of the personal code with this hash: *owner 0 when the code is not personal. */
ly_err ly_db_quest_coupon_owner(ly_db *db, const uint8_t hash[32], int64_t *owner,
                                ly_error *err);

/* Whether receipt_id (the business's id) is the qualifying purchase of some referral: the
 * quest kind "referrals" follows it through returns (docs/quests.md). */
ly_err ly_db_quest_referral_qualified(ly_db *db, const char *receipt_id, bool *out,
                                      ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Questionnaires and touchpoints (survey.c; issue 6, engineer S; docs/touchpoints.md)
 * ------------------------------------------------------------------------------------- */

/* One submitted answer set as stored. */
typedef struct ly_stored_answer {
    const char *answer_id;     /* the caller's id: the idempotency key */
    int64_t customer_id;
    const char *questionnaire;
    const char *touchpoint;    /* may be NULL */
    const char *receipt_id;    /* may be NULL */
    ly_time at;
    const char *answers;       /* the answers object as JSON text */
    bool has_nps, has_csi;
    int64_t nps;               /* 0..10 */
    int64_t csi, csi_min, csi_max;
    ly_points points;          /* completion reward given by this answer set */
    uint8_t request_hash[32];
    const char *response;
} ly_stored_answer;

/* Finds an answer set by its id (strings in a). LY_ENOTFOUND ("answer_not_found"). */
ly_err ly_db_answer_find(ly_db *db, const char *answer_id, ly_arena *a, ly_stored_answer *out,
                         ly_error *err);
/* Stores an answer set. LY_ECONFLICT if its id exists. */
ly_err ly_db_answer_insert(ly_db *db, const ly_stored_answer *in, ly_error *err);
/* Records the touchpoint a receipt came through (once per receipt id). */
ly_err ly_db_receipt_touchpoint_put(ly_db *db, const char *receipt_id, const char *touchpoint,
                                    ly_error *err);

/* A row of the touchpoint report's input: an answer set (kind 'a') or a receipt carrying a
 * touchpoint (kind 'r'), with the time of the same customer's next receipt after it. */
typedef struct ly_tp_row {
    char kind;                 /* 'a' (answer set), 'r' (receipt) or 'e' (custom event) */
    const char *touchpoint;    /* NULL: the answer named none */
    int64_t customer_id;       /* 0: anonymous receipt */
    ly_time at;
    bool has_nps, has_csi;
    int64_t nps, csi, csi_min, csi_max;
    ly_time next_deal;         /* 0 when none */
} ly_tp_row;

/* Every answer set and every receipt with a touchpoint (in a), and the latest receipt time
 * of the database (0 when empty) in *horizon. */
ly_err ly_db_touchpoint_rows(ly_db *db, ly_arena *a, ly_tp_row **out, size_t *n,
                             ly_time *horizon, ly_error *err);

/* Stores the touchpoint custom event event_id came through (event_touchpoints). */
ly_err ly_db_event_touchpoint_put(ly_db *db, const char *event_id, const char *touchpoint,
                                  ly_error *err);

/* Messages by touchpoint (issue 6, engineer T; docs/touchpoints.md): the outbox messages
 * carrying a touchpoint, counted by state, and for each (touchpoint, customer) the first
 * delivery there with the customer's next receipt after it. */
typedef struct ly_tp_messages {
    const char *touchpoint;
    int64_t written;           /* every message written with this touchpoint */
    int64_t delivered;         /* of them in state delivered */
    int64_t dead;              /* of them in state dead (delivery failed for good) */
} ly_tp_messages;
typedef struct ly_tp_messaged {
    const char *touchpoint;
    int64_t customer_id;
    ly_time first_delivered;   /* the customer's first delivered message there */
    ly_time next_deal;         /* their first receipt after it; 0 when none */
} ly_tp_messaged;
/* Both lists (in a), ordered by touchpoint (then customer). LY_EIO. */
ly_err ly_db_touchpoint_messages(ly_db *db, ly_arena *a, ly_tp_messages **counts,
                                 size_t *n_counts, ly_tp_messaged **messaged,
                                 size_t *n_messaged, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * The program's maturity level (maturity.c; issue 6, engineer M; docs/maturity.md): the
 * facts the database holds about how far the program has come. Read only.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_maturity_facts {
    int64_t receipts;              /* receipts (sales; returns are not counted) */
    int64_t identified;            /* of them, with a customer */
    int64_t customers_with_receipts; /* distinct customers of those receipts */
    int64_t analytics_runs;        /* finished analytics runs */
    int64_t analytics_customers;   /* customers with saved analytics figures */
    int64_t last_analytics_at;     /* unix seconds the latest run finished; -1 if none */
    int64_t trigger_messages;      /* outbox messages */
    int64_t trigger_steps;         /* trigger steps recorded (trigger_sends) */
    int64_t trigger_holdout_steps; /* of them, not in the treated group */
    int64_t events;                /* custom events recorded */
    int64_t quest_rows;            /* quest progress rows; -1 when the table does not exist */
    int64_t answers;               /* questionnaire answer sets; -1 when the table does not exist */
} ly_maturity_facts;

/* Counts the facts above in one read transaction of db. Tables added by later migrations
 * (quest_progress, survey_answers) are looked up in sqlite_master first and counted only when
 * present. Errors: LY_EIO. */
ly_err ly_db_maturity_facts(ly_db *db, ly_maturity_facts *out, ly_error *err);

/* One stored version of the program file (program_versions). */
typedef struct ly_program_version_row {
    const char *version;
    const char *text;              /* the file as loaded */
    ly_time first_loaded_at;
} ly_program_version_row;

/* Every stored program version, oldest first (by first_loaded_at, then the order they were
 * stored), into *out (n rows; strings and the array in a; *out NULL when there are none), in
 * one read transaction. For the renewal of the triggers (docs/maturity.md). Errors: LY_EIO,
 * LY_ENOMEM. */
ly_err ly_db_program_versions(ly_db *db, ly_arena *a, ly_program_version_row **out, size_t *n,
                              ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Merging profiles (merge.c; issue 6, engineer G; docs/api.md "Merge two profiles",
 * docs/quests.md "Merging profiles"): the rows a merge moves to the survivor besides
 * ly_db_customer_move's. All run on the writer inside the merge's write job. Strings are
 * borrowed for the call; results are copied into the arena.
 * ------------------------------------------------------------------------------------- */

/* A quest period both profiles have progress in and neither completed. */
typedef struct ly_merge_progress {
    const char *quest_id;
    const char *period;
    int64_t value;          /* the two profiles' progress summed */
} ly_merge_progress;

/* The quest periods where both from and into have progress and neither completed, with the
 * summed progress, by quest and period (*n may be 0). Call it before ly_db_merge_moves: the
 * caller decides which of them the merge completes. */
ly_err ly_db_merge_open_collisions(ly_db *db, int64_t from, int64_t into, ly_arena *a,
                                   ly_merge_progress **out, size_t *n, ly_error *err);

/* Moves from's quest progress (a period both have: summed, completed if either was, with
 * the earlier completed_at), quest contributions, personal quest coupons, badges (the
 * union; a badge both hold keeps the earlier award), XP (summed), streak
 * (ly_merge_streaks), rule uses, coupon redemptions, custom events and answer sets to
 * into, and repoints referrals (docs/api.md):
 * an unrewarded referral between the two is deleted, a rewarded one stays as it was; one
 * referee row survives for the person (a rewarded one before an unrewarded one, else
 * into's; the loser is deleted when unrewarded, kept on from when rewarded); the friends
 * from invited become into's. Errors: LY_EIO. */
ly_err ly_db_merge_moves(ly_db *db, int64_t from, int64_t into, ly_time at, ly_error *err);

/* A stored streak: the Monday (local day) of its latest week, its length and the best. */
typedef struct ly_merge_streak {
    int64_t week;
    int64_t length;
    int64_t best;
} ly_merge_streak;

/* The streak of two merged profiles a and b: each stored run is the weeks
 * [week - 7 (length - 1), week]; runs that overlap or are back to back join into one from
 * the earlier start to the later week, otherwise the later run is kept. best is the
 * largest of both bests and the result's length. A streak of length 0 is no run. */
void ly_merge_streaks(const ly_merge_streak *a, const ly_merge_streak *b, ly_merge_streak *out);

/* The idempotency keys that start with prefix (non-empty), by key, into the arena: an
 * index range, not a scan. */
ly_err ly_db_merge_keys(ly_db *db, const char *prefix, ly_arena *a, const char ***keys,
                        size_t *n, ly_error *err);

/* Stores into_key as a copy of the idempotency row from_key (its status and response) with
 * request hash `hash`, unless into_key exists or from_key does not (*copied, may be NULL,
 * says whether it did). This carries a once-only mark to the survivor. */
ly_err ly_db_merge_mark_copy(ly_db *db, const char *from_key, const char *into_key,
                             const uint8_t hash[32], ly_time at, bool *copied, ly_error *err);

#endif /* LY_STORE_H */
