/*
 * service.h - what Loyal does, independent of how it is asked: identify a customer, price a
 * receipt, confirm it, take a return, keep profiles and the ledger. The HTTP API and the CLI
 * are two ways of calling these functions.
 *
 * Reads run on the calling thread's read connection. Every change is an operation (ly_op)
 * that runs as one write job on the store's writer thread: atomic (all or nothing) and
 * durable before its completion callback runs. Operations that may be retried carry an
 * idempotency key (the receipt id, the return id, an Idempotency-Key): a retry with the same
 * request gets the first response again; the same key with another request is LY_ECONFLICT.
 */
#ifndef LY_SERVICE_H
#define LY_SERVICE_H

#include "core/core.h"
#include "store/store.h"

typedef struct ly_service ly_service;

typedef struct ly_service_options {
    const char *db_path;      /* SQLite file */
    const char *program_path; /* program file (JSON) */
    ly_sync_mode sync;
    int batch_max;            /* 0 = store default */
} ly_service_options;

/* Loads and validates the program, opens the store, sets up the calendar. */
ly_err ly_service_open(const ly_service_options *opt, ly_service **out, ly_error *err);
/* Finishes queued operations and closes the store. NULL is a no-op. */
void ly_service_close(ly_service *s);

const ly_program *ly_service_program(const ly_service *s);
const ly_calendar *ly_service_calendar(const ly_service *s);
ly_store *ly_service_store(ly_service *s);

/* ---------------------------------------------------------------------------------------
 * Roles and API keys
 * ------------------------------------------------------------------------------------- */

typedef enum ly_role {
    LY_ROLE_NONE = 0,
    LY_ROLE_POS,   /* checkout and customer lookup */
    LY_ROLE_ADMIN  /* everything */
} ly_role;
const char *ly_role_name(ly_role r); /* "pos", "admin" */
bool ly_role_parse(const char *s, ly_role *out);

/* The role of a bearer key (the text after "Bearer "). LY_EUNAUTH ("invalid_api_key") if it
 * is unknown or revoked. Results are cached in memory for a short time. */
ly_err ly_service_auth(ly_service *s, const char *key, ly_role *role, ly_error *err);

/* Creates a key: *key_out gets the only copy of the secret ("ly_" + 40 characters, needs
 * LY_KEY_SIZE bytes); only its hash is stored. */
#define LY_KEY_SIZE 48
ly_err ly_service_key_create(ly_service *s, ly_role role, const char *label, char *key_out,
                             ly_api_key *info, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------------------- */

/* How a request names a customer: by Loyal's id, or by one identifier as typed at the till
 * (normalised here). */
typedef struct ly_who {
    int64_t customer_id;  /* > 0 to name by id */
    ly_id_kind kind;      /* otherwise: the identifier's kind ... */
    const char *value;    /* ... and raw value; NULL = anonymous */
} ly_who;

/* Finds the customer named by who (merged profiles resolve to the surviving one).
 * LY_ENOTFOUND ("customer_not_found", field names the identifier); LY_EINVAL for an
 * identifier that cannot be normalised. */
ly_err ly_service_customer_get(ly_service *s, const ly_who *who, ly_arena *a, ly_customer *out,
                               ly_error *err);

/* A pending lot, or points expiring soon. */
typedef struct ly_balance_lot {
    ly_points points;
    ly_time at; /* activation time for pending lots, expiry time for expiring ones */
} ly_balance_lot;

typedef struct ly_balance {
    int64_t customer_id;
    ly_account account;
    ly_balance_lot *pending;   /* pending lots, soonest activation first */
    size_t n_pending;
    ly_points expiring;        /* points expiring within expiring_days */
    int expiring_days;
    ly_balance_lot *expiring_lots;
    size_t n_expiring;
} ly_balance;

/* The customer's balance as of now. */
ly_err ly_service_balance(ly_service *s, int64_t customer_id, ly_time now, int expiring_days,
                          ly_arena *a, ly_balance *out, ly_error *err);

/* A page of the customer's ledger, newest first (see ly_db_entries_page). */
ly_err ly_service_ledger(ly_service *s, int64_t customer_id, int64_t before, size_t limit,
                         ly_arena *a, ly_entry **out, size_t *n, ly_error *err);

ly_err ly_service_receipt_get(ly_service *s, const char *receipt_id, ly_arena *a,
                              ly_stored_receipt *out, ly_error *err);

/* A receipt to price or confirm. */
typedef struct ly_checkout {
    ly_receipt receipt;
    ly_who who;            /* who.value NULL and customer_id 0: anonymous */
    ly_points redeem;      /* points to spend, >= 0 */
    bool no_points;        /* history import: store the receipt, earn and spend nothing */
} ly_checkout;

/* The outcome of calculate and confirm. */
typedef struct ly_checkout_result {
    ly_customer *customer;     /* NULL for an anonymous receipt */
    ly_pricing pricing;        /* lines: receipt.n_lines entries in the arena */
    ly_account before;         /* the balance before the receipt */
    ly_account after;          /* after it (calculate: as it would be) */
    ly_time points_active_at;  /* when the earned points become available */
    ly_time points_expire_at;  /* when they expire (0 = never) */
    const char *program_version;
} ly_checkout_result;

/* Prices a receipt without changing anything. */
ly_err ly_service_calculate(ly_service *s, const ly_checkout *in, ly_time now, ly_arena *a,
                            ly_checkout_result *out, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Operations (changes)
 * ------------------------------------------------------------------------------------- */

typedef enum ly_op_kind {
    LY_OP_CONFIRM = 0,    /* confirm a receipt                   (key: receipt id) */
    LY_OP_RETURN,         /* return lines of a receipt           (key: return id) */
    LY_OP_CUSTOMER_CREATE,/* enrol a customer                    (key: Idempotency-Key) */
    LY_OP_CUSTOMER_PATCH, /* change profile, identifiers, consent (naturally idempotent) */
    LY_OP_QR_ROTATE,      /* give the customer a new QR token    (key: Idempotency-Key) */
    LY_OP_MERGE,          /* merge one profile into another      (key: Idempotency-Key) */
    LY_OP_ADJUST,         /* add or remove points by hand        (key: adjustment id) */
    LY_OP_MAINTAIN        /* activate and expire the lots due    (idempotent by nature) */
} ly_op_kind;

typedef struct ly_op ly_op;

/* Turns an operation's result into the response text that is stored with it, so a retry
 * gets exactly the same bytes. Runs on the writer thread inside the operation's job;
 * allocates in op->arena. Returns NULL on out-of-memory. */
typedef const char *(*ly_render_fn)(const ly_op *op);

/* Inputs of each kind. Strings are borrowed and must outlive the operation. */
typedef struct ly_return_request_line {
    long line;            /* index into the receipt's lines, or -1 to find by sku */
    const char *sku;      /* used when line < 0: the first line with this sku and qty left */
    ly_qty qty;           /* > 0 */
} ly_return_request_line;

typedef struct ly_return_request {
    const char *receipt_id;
    const char *return_id;
    ly_time time;                 /* when the goods came back */
    bool full;                    /* return everything not yet returned; lines ignored */
    const ly_return_request_line *lines;
    size_t n_lines;
} ly_return_request;

/* A profile change. Only fields with their set_ flag change; identifiers listed in ids are
 * added (a kind given with an empty value is removed). */
typedef struct ly_profile {
    bool set_name, set_birth_date, set_attributes, set_enrolled_store;
    const char *name;
    const char *birth_date;
    const char *attributes;       /* JSON object text */
    const char *enrolled_store;
    ly_identifier ids[LY_ID_KIND_COUNT]; /* raw values, normalised by the service */
    size_t n_ids;
    bool set_consent[LY_CH_COUNT];
    bool consent[LY_CH_COUNT];
} ly_profile;

typedef struct ly_adjust_request {
    const char *adjustment_id;
    int64_t customer_id;
    ly_points points;      /* != 0; negative removes available points */
    ly_entry_kind kind;    /* LY_ENTRY_ADJUST or LY_ENTRY_BONUS */
    const char *note;
} ly_adjust_request;

typedef struct ly_maintain_result {
    int64_t customers;
    int64_t lots_activated;
    int64_t lots_expired;
    ly_points points_activated;
    ly_points points_expired;
} ly_maintain_result;

struct ly_op {
    ly_op_kind kind;
    ly_arena *arena;          /* request arena: results and the response live here */
    ly_time now;              /* the time of the operation */
    const char *idem_key;     /* for CREATE, QR_ROTATE, MERGE (NULL: not idempotent) */
    uint8_t request_hash[32]; /* of the canonical request, compared on retries */
    ly_render_fn render;      /* NULL: no response text is produced or stored */

    union {
        ly_checkout confirm;
        ly_return_request ret;
        ly_profile create;
        struct { int64_t customer_id; ly_profile profile; } patch;
        int64_t qr_customer_id;
        struct { int64_t from, into; } merge;
        ly_adjust_request adjust;
    } in;

    /* Results. */
    ly_err rc;
    ly_error err;
    bool replayed;            /* true when this is a retry answered from the stored response */
    int status;               /* 200, or 201 when something was created */
    const char *response;     /* rendered (or replayed) response; NULL without render */
    union {
        ly_checkout_result confirm;
        struct {
            ly_stored_receipt receipt; /* after the return */
            ly_stored_return ret;
            ly_account after;
        } ret;
        ly_customer customer;           /* CREATE, PATCH, QR_ROTATE, MERGE (the survivor) */
        struct { ly_entry entry; ly_account after; } adjust;
        ly_maintain_result maintain;
    } out;

    /* Completion for ly_service_submit: called on the writer thread once the operation is
     * durable (or failed). Must be quick. */
    void (*done)(ly_op *op);
    void *user;

    ly_write_job job_; /* private */
    ly_service *svc_;  /* private */
};

/* Runs op asynchronously; op->done(op) is called when it is durable or failed. The caller
 * keeps op (and its arena and inputs) alive until then. Returns LY_OK, or an error (done is
 * then not called) if the store is closing. */
ly_err ly_service_submit(ly_service *s, ly_op *op);

/* Runs op and waits for it; returns op->rc. */
ly_err ly_service_run(ly_service *s, ly_op *op);

/* Runs op inside a write job the caller already holds (bulk import: many operations, one
 * transaction). Returns op->rc; on error the caller decides whether to roll back. */
ly_err ly_service_apply(ly_service *s, ly_db *db, ly_op *op);

/* Activates and expires every lot due at now, in batches; returns totals. Used by the
 * server's scheduler and by `loyal expire`. Idempotent: a second run finds nothing due. */
ly_err ly_service_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Analytics back into the engine (analytics.c): the per-customer figures of an analysis of
 * this store, kept for the profile and for the rules.
 * ------------------------------------------------------------------------------------- */

struct ly_an_result;

/* Per-customer model figures to save with an analysis, aligned with result->customers:
 * p_alive in 0..1 and clv in minor units, or NULL when no model was fitted. */
typedef struct ly_analytics_models {
    const double *p_alive;
    const double *clv;
} ly_analytics_models;

/* Saves an analysis of the store's own receipts (ly_store_source_open: its customer keys
 * are customer ids): records a run, writes every customer's figures in batches (each batch
 * one write job, so a server keeps answering tills meanwhile), then marks the run finished
 * and drops the previous run's rows. Keys that are not ids of this database are skipped
 * and counted in *skipped (may be NULL). models may be NULL. run_out (may be NULL) gets
 * the run. Used by `loyal analyze --save` and by the server's scheduler. */
ly_err ly_analytics_save(ly_store *store, const struct ly_an_result *result,
                         const ly_analytics_models *models, ly_time now,
                         ly_analytics_run *run_out, int64_t *skipped, ly_error *err);

/* The whole analysis of the store as of as_of_day (days since 1970-01-01: receipts before
 * that day count), CLV fitted with the default terms, saved with ly_analytics_save: what
 * the server's scheduler runs. run_out (may be NULL) gets the run. */
ly_err ly_analytics_refresh(ly_store *store, int64_t as_of_day, ly_time now,
                            ly_analytics_run *run_out, ly_error *err);

/* A customer's latest figures. LY_ENOTFOUND ("no_analytics") when the analytics have not
 * covered them. */
ly_err ly_service_customer_analytics(ly_service *s, int64_t customer_id,
                                     ly_customer_analytics *out, ly_error *err);

#endif /* LY_SERVICE_H */
