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

/* The program in force. The pointer stays valid only until the program is replaced
 * (ly_service_program_replace, below): code that may run beside a replacement (a server's
 * threads) reads it through ly_service_program_get or the operations, which hold the version
 * they started with. */
const ly_program *ly_service_program(const ly_service *s);
const ly_calendar *ly_service_calendar(const ly_service *s);
ly_store *ly_service_store(ly_service *s);

/* A read snapshot for a request made of several read-only calls on this thread (a balance
 * with its tier): they all see the database as of one moment (store.h,
 * ly_store_read_begin). Never run an operation between begin and end: its effects would not
 * be visible. Calls nest. */
ly_err ly_service_read_begin(ly_service *s, ly_error *err);
void ly_service_read_end(ly_service *s);

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
    /* Rewards (engineer R): coupon codes as typed (checked at calculate, consumed at
     * confirm) and the coalition partner the receipt was made at (NULL: the program's own). */
    const char *const *coupons;
    size_t n_coupons;
    const char *partner;
    /* Touchpoints (issue 6, engineer S): the touchpoint the receipt came through, one of the
     * program's "touchpoints" (NULL: none); stored at confirm (docs/touchpoints.md). */
    const char *touchpoint;
} ly_checkout;

/* A coupon a receipt used: the code as normalised (upper case) and its campaign. */
typedef struct ly_applied_coupon {
    const char *code;
    const char *campaign;
} ly_applied_coupon;

/* The outcome of calculate and confirm. */
typedef struct ly_checkout_result {
    ly_customer *customer;     /* NULL for an anonymous receipt */
    ly_pricing pricing;        /* lines: receipt.n_lines entries in the arena */
    ly_account before;         /* the balance before the receipt */
    ly_account after;          /* after it (calculate: as it would be) */
    ly_time points_active_at;  /* when the earned points become available */
    ly_time points_expire_at;  /* when they expire (0 = never) */
    const char *program_version;
    const ly_applied_coupon *coupons; /* the receipt's coupons, all applicable (rewards) */
    size_t n_coupons;
    /* Quests (issue 6, engineer Q): the quests this receipt advanced (confirm) or would
     * advance (calculate); quests_on when the program has quests at all. */
    const struct ly_quest_step *quests;
    size_t n_quests;
    bool quests_on;
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
    LY_OP_MAINTAIN,       /* activate and expire the lots due    (idempotent by nature) */
    /* Rewards (engineer R; rewards.c) */
    LY_OP_EVENT,          /* a custom event that may give points (key: event id) */
    LY_OP_COUPON_CODES    /* a batch of unique coupon codes      (key: campaign + batch) */
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
    const char *referral_code;    /* enrolment only: the referrer's code, or NULL (rewards) */
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
    /* Rewards (engineer R): referral rewards paid and birthday bonuses given. */
    int64_t referrals_rewarded;
    int64_t birthday_bonuses;
    /* Tiers and the club (once per local day; see ly_service_tiers_* below). */
    bool tiers_evaluated;     /* this run did the day's evaluation */
    int64_t tiers_upgraded;
    int64_t tiers_downgraded;
    int64_t club_joined;
    int64_t club_left;
} ly_maintain_result;

/* Rewards (engineer R): a custom event (POST /v1/events). */
typedef struct ly_event_request {
    const char *event_id;  /* the caller's unique id: a retry is answered, never counted */
    const char *type;      /* one of the program's events[].type */
    ly_who who;            /* the customer */
    ly_time time;          /* when it happened; 0 = the operation's time */
    const char *note;      /* may be NULL */
    const char *touchpoint;/* NULL, or one of the program's touchpoints[].id (else
                            * LY_EUNPROCESSABLE "touchpoint_unknown"); stored with the event */
} ly_event_request;

typedef struct ly_event_result {
    int64_t customer_id;
    const char *type;
    ly_time time;
    ly_points points;      /* given; 0 when a cap or the dates refused it */
    const char *refused;   /* why nothing was given ("cap", "valid"), or NULL */
    char reason[128];
    ly_entry entry;        /* the bonus entry (id 0 when none) */
    ly_account after;
} ly_event_result;

/* Rewards: a batch of unique codes of a coupon campaign. */
typedef struct ly_coupon_codes_request {
    const char *campaign;
    const char *batch;     /* unique within the campaign */
    int64_t count;         /* 1..10000 */
} ly_coupon_codes_request;

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
        ly_event_request event;
        ly_coupon_codes_request codes;
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
        ly_event_result event;
        struct { const char *const *codes; size_t n; } codes;
    } out;

    /* Completion for ly_service_submit: called on the writer thread once the operation is
     * durable (or failed). Must be quick. */
    void (*done)(ly_op *op);
    void *user;

    ly_write_job job_; /* private */
    ly_service *svc_;  /* private */
    struct ly_program_ref *prog_; /* private: the program version it runs with (versions.c) */
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

/* ---------------------------------------------------------------------------------------
 * Rewards (engineer R; rewards.c): referral codes, referral figures, coupon figures.
 * ------------------------------------------------------------------------------------- */

/* Every member's referral code: 8 characters of Crockford base32 derived from the customer
 * id by a fixed permutation with a check byte (docs/program.md, "Referrals"). buf needs 16
 * bytes. Ids of 2^32 and more have no code (buf gets ""). */
void ly_referral_code(int64_t customer_id, char *buf, size_t size);
/* The customer id a code names, or 0 for a code that names none (wrong length, letters or
 * check byte). Case, '-' and spaces are ignored; O reads as 0 and I, L as 1. */
int64_t ly_referral_code_decode(const char *code);

/* A referrer's figures and their newest referrals (at most limit), in a. */
ly_err ly_service_referrals(ly_service *s, int64_t customer_id, size_t limit, ly_arena *a,
                            ly_referral_stats *stats, ly_referral **list, size_t *n,
                            ly_error *err);

/* A coupon campaign's figures. LY_ENOTFOUND "coupon_campaign_not_found". */
ly_err ly_service_coupon_stats(ly_service *s, const char *campaign, ly_coupon_stats *out,
                               ly_error *err);

/* A coupon campaign as the program in force declares it, with its figures; strings in a. */
typedef struct ly_coupon_view {
    const char *id, *name;     /* name may be NULL */
    const char *code;          /* the public code, or NULL for unique codes */
    const char *prefix;        /* of unique codes ("" when none) */
    int64_t per_code, total, per_customer;
    bool has_dates;
    int64_t day_from, day_to;  /* local dates, days since 1970-01-01 */
    ly_coupon_stats stats;
} ly_coupon_view;
/* LY_ENOTFOUND "coupon_campaign_not_found" (field "id"). */
ly_err ly_service_coupon_get(ly_service *s, const char *campaign, ly_arena *a, ly_coupon_view *out,
                             ly_error *err);

/* Whether the program in force has referrals (the profile then shows the referral code). */
bool ly_service_referrals_offered(ly_service *s);

/* ---------------------------------------------------------------------------------------
 * The program while the server runs, tiers and the club (engineer T: versions.c, tiers.c;
 * docs/program.md "Changing the program", "Tiers", "The club"; docs/api-tiers.md)
 * ------------------------------------------------------------------------------------- */

/* A loaded version of the program, reference-counted (service_internal.h). */
typedef struct ly_program_ref ly_program_ref;

typedef struct ly_program_info {
    char version[80];
    char name[128];
    char previous[80];        /* the version that was in force before the call */
    ly_time first_loaded_at;  /* when this version was first in force */
    bool replaced;            /* false when the text was the current one already */
} ly_program_info;

/* Replaces the program in force with the program file text[0..len), atomically: the text is
 * validated whole (LY_EINVAL naming the path, as at start), must keep the settings stored
 * data depends on (currency, minor_units, time_zone, phone: LY_EUNPROCESSABLE
 * "program_incompatible"), and its version must be new or stored with this very text
 * (LY_ECONFLICT "program_version_conflict"). The version is recorded, the text is written
 * back to the program file (temporary file and rename; LY_EIO "program_not_saved" leaves
 * everything as it was), then it becomes current. Requests already running finish with
 * the version they started with. The same text as the current one changes nothing
 * (out->replaced false). Thread-safe. */
ly_err ly_service_program_replace(ly_service *s, const char *text, size_t len, ly_time now,
                                  ly_program_info *out, ly_error *err);

/* Reads the program file again (SIGHUP) and replaces the program with it as above, without
 * writing the file. On any error the program in force stays. */
ly_err ly_service_program_reload(ly_service *s, ly_time now, ly_program_info *out, ly_error *err);

/* The version in force and its file's text (in a). */
ly_err ly_service_program_get(ly_service *s, ly_arena *a, const char **text, ly_program_info *out,
                              ly_error *err);

/* A benefit as shown on the profile. */
typedef struct ly_benefit_view {
    const char *id, *name, *text, *rule; /* text and rule may be NULL */
} ly_benefit_view;

/* A customer's tier as the profile and balance show it. Strings are in the caller's arena. */
typedef struct ly_tier_view {
    bool has_tiers;           /* false: the program has no tiers (the rest is empty) */
    const char *id, *name;
    ly_time since;            /* when reached; the enrolment for the first tier */
    int64_t held_until_day;   /* last local day held if nothing changes; LY_DAY_FOREVER */
    int64_t earn_rate_bp;
    ly_benefit_view *benefits;
    size_t n_benefits;
    const char *period;       /* "rolling 180 days", "month", "quarter", "year" */
    int64_t period_first_day, period_last_day;
    ly_tier_figures figures;  /* of the current period */
    bool has_next;
    const char *next_id, *next_name;
    ly_money spend_more;
    int64_t receipts_more;
    bool need_all;
    int64_t by_day;           /* LY_DAY_FOREVER: no date */
    const char *progress;     /* "spend 1,240.00 more by 2027-03-01"; NULL in the top tier */
} ly_tier_view;

typedef struct ly_club_view {
    bool has_club;            /* false: the program has no club */
    const char *name;
    bool member;
    const char *via;          /* "rule" or "invitation" when a member */
    ly_time since;
    ly_benefit_view *benefits; /* shown to members */
    size_t n_benefits;
} ly_club_view;

/* The customer's tier (with its progress) and club membership as of now. */
ly_err ly_service_tier_view(ly_service *s, int64_t customer_id, ly_time now, ly_arena *a,
                            ly_tier_view *tier, ly_club_view *club, ly_error *err);

/* The customer's tier changes, oldest first (at most limit). */
ly_err ly_service_tier_history(ly_service *s, int64_t customer_id, size_t limit, ly_arena *a,
                               ly_tier_change **out, size_t *n, ly_error *err);

/* Invites a customer to the club (admin). LY_EUNPROCESSABLE "club_closed" when the program
 * has no club or no invitations; LY_ENOTFOUND "customer_not_found"; LY_ECONFLICT
 * "already_member". *out gets the membership. */
ly_err ly_service_club_invite(ly_service *s, int64_t customer_id, const char *note, ly_time now,
                              ly_arena *a, ly_club_member *out, ly_error *err);

/* Removes a member (admin). LY_ENOTFOUND "not_a_member". */
ly_err ly_service_club_remove(ly_service *s, int64_t customer_id, ly_time now, ly_error *err);

/* A page of members, customer ids ascending and > after, at most limit. */
ly_err ly_service_club_members(ly_service *s, int64_t after, size_t limit, ly_arena *a,
                               ly_club_member **out, size_t *n, ly_error *err);

/* "1,240.00": money at the program's minor units with thousands separated by commas. buf
 * needs 40 bytes. */
void ly_service_money_text(ly_money v, int minor_units, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------
 * Quests, badges and levels (issue 6, engineer Q: quests.c; docs/quests.md,
 * docs/api-quests.md)
 * ------------------------------------------------------------------------------------- */

/* What one receipt did (or, at calculate, would do) to one quest. Strings are in the
 * request's arena. */
typedef struct ly_quest_step {
    const char *quest_id;
    const char *name;
    const char *period;       /* the period's key: "W2026-48", "M2026-11", "E" */
    int64_t before, after;    /* progress before and after the receipt */
    int64_t target;
    bool completed;           /* this receipt reached the target (the reward is given) */
    ly_points points;         /* the reward, given when completed */
    const char *badge;        /* NULL: none */
    int64_t xp;
    const char *coupon;       /* the reward's coupon campaign; NULL: none (engineer R) */
    const char *coupon_code;  /* the personal code issued (confirm, completed); else NULL */
} ly_quest_step;

/* One quest as the customer sees it today. */
typedef struct ly_quest_view {
    const char *id, *name;
    const char *kind;         /* "deals", "spend", "answers", "event", "new_category",
                               * "referrals" */
    const char *period;       /* the current period's key */
    int64_t value, target;
    int64_t deadline_day;     /* local day; LY_DAY_FOREVER: none */
    ly_time completed_at;     /* 0: not completed in this period */
    ly_points points;
    const char *badge;
    int64_t xp;
    const char *coupon;       /* the reward's coupon campaign; NULL: none (engineer R) */
    const char *coupon_code;  /* the code issued for this period; NULL: none yet */
} ly_quest_view;

typedef struct ly_quests_view {
    bool on;                  /* the program has quests */
    ly_quest_view *quests;    /* those running today whose audience the customer is in */
    size_t n_quests;
    struct ly_quest_badge *badges; /* store.h */
    size_t n_badges;
    int64_t xp;
    bool has_levels;
    const char *level_id, *level_name;  /* the level reached (the first one at 0 XP) */
    const char *next_level_id;          /* NULL at the top */
    int64_t xp_to_next;
    bool has_streak;          /* the program has a streak schedule */
    int64_t streak_weeks;     /* the streak as of now (0: none or broken) */
    int64_t streak_best;
    int64_t streak_next_weeks;/* the next step of the schedule above it; 0: none */
    ly_points streak_next_points;
    struct ly_quest_coupon *coupons; /* every personal code issued to the customer, oldest
                               * first, with whether it is used (store.h; engineer R) */
    size_t n_coupons;
} ly_quests_view;

/* A quest's figures (loyal quests report). Means are estimates (double). */
typedef struct ly_quest_figures {
    const char *id, *name;
    int64_t started;          /* customers who made progress, all periods */
    int64_t completed;        /* completions (customer and period) */
    ly_points points_cost;    /* the points its bonuses gave */
    int64_t xp_given;         /* completed * the quest's xp */
    bool compared;            /* a hold-out is in place and the quest has no audience */
    int64_t treated_n, holdout_n, completers_n; /* customers in each group */
    double treated_deals, holdout_deals, completers_deals; /* mean deals in the window */
    double uplift, uplift_lo, uplift_hi; /* treated - hold-out, with a 95% interval */
} ly_quest_figures;

struct ly_quest; /* core/quests.h */

/* Whether the customer is in quest q's hold-out: not offered it. A hash of the quest's id
 * and the customer's, so the same customer is always in the same group. */
bool ly_service_quest_held_out(const struct ly_quest *q, int64_t customer_id);

/* The figures of every quest of the program in force; deals are counted in [from, to) over
 * every customer not merged away (0 for those without a receipt), and completers are those
 * who completed the quest in that window. out in a. */
ly_err ly_service_quests_report(ly_service *s, ly_time from, ly_time to, ly_arena *a,
                                ly_quest_figures **out, size_t *n, ly_error *err);

/* The customer's quests with progress and deadlines, badges, XP and level as of now (read
 * only; out in a). LY_OK with out->on false when the program has no quests. */
ly_err ly_service_quests_view(ly_service *s, int64_t customer_id, ly_time now, ly_arena *a,
                              ly_quests_view *out, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Questionnaires, satisfaction and touchpoints (issue 6, engineer S; survey.c;
 * docs/touchpoints.md, docs/api-touchpoints.md)
 * ------------------------------------------------------------------------------------- */

/* One answer set to a questionnaire (POST /v1/customers/{id}/answers). Strings borrowed. */
typedef struct ly_answer_request {
    const char *answer_id;     /* the caller's unique id: a retry is answered, never counted */
    int64_t customer_id;
    const char *questionnaire; /* one of the program's questionnaires[].id */
    const char *touchpoint;    /* NULL: the questionnaire's own touchpoint (if any) */
    const char *receipt_id;    /* NULL, or a receipt of this customer */
    const char *answers;       /* a JSON object text {"question_id": value} */
    ly_time time;              /* when answered; 0 = now */
} ly_answer_request;

typedef struct ly_answer_result {
    int status;                /* 201 */
    bool replayed;             /* a retry answered with the stored response */
    const char *response;      /* the response JSON text (in the caller's arena) */
    int64_t customer_id;
    ly_points points;          /* the completion reward this call gave (0: none or given before) */
} ly_answer_result;

/* Records an answer set atomically, in one write job: validates every answer against the
 * questionnaire (LY_EINVAL naming "answers.<question>": unknown_field, missing_field for a
 * required question, invalid_value), checks the touchpoint (LY_EUNPROCESSABLE
 * "touchpoint_unknown") and the receipt (LY_EUNPROCESSABLE "receipt_not_found" or
 * "receipt_other_customer"), writes the answers mapped to attributes into the customer's
 * attributes, gives the questionnaire's reward_points once per customer and questionnaire
 * (a bonus entry keyed "questionnaire:<id>:<customer>" through the adjustment operation)
 * and stores the response. The same answer_id again with the same request replays the
 * response (out->replayed); with another request it is LY_ECONFLICT "answer_conflict".
 * LY_ENOTFOUND "customer_not_found"; LY_EUNPROCESSABLE "questionnaire_unknown". */
ly_err ly_service_answers_submit(ly_service *s, const ly_answer_request *in, ly_time now,
                                 ly_arena *a, ly_answer_result *out, ly_error *err);

/* Inside the confirm job (service.c): checks the receipt's touchpoint against the program
 * (LY_EUNPROCESSABLE "touchpoint_unknown", field "touchpoint") and stores it. No-op when the
 * receipt names none. */
ly_err ly__survey_confirmed(const ly_program *prog, ly_db *db, const ly_checkout *in,
                            ly_error *err);

/* The touchpoint report (loyal touchpoints report). */
typedef struct ly_tp_report_row {
    const char *id;            /* touchpoint id; "(none)" for answers naming none */
    const char *stage, *channel; /* NULL when not declared */
    int64_t answers;           /* answer sets collected there */
    int64_t receipts, identified; /* receipts that came through it, of them identified */
    int64_t events;            /* custom events (POST /v1/events) that came through it */
    int64_t nps_n, promoters, detractors;
    double nps;                /* promoters% - detractors%, -100..100; NAN when nps_n = 0 */
    int64_t csi_n;
    double csi;                /* mean of (answer - min) / (max - min) x 100; NAN when none */
    int64_t conv_n, conv_yes;  /* identified receipts there observable for days, and of them
                                * followed by the customer's next deal within days */
    int64_t det_n, det_returned, pro_n, pro_returned; /* answers observable for days */
    double diff, diff_lo, diff_hi; /* return-rate difference detractors - promoters, 95% */
    bool diff_known;           /* both groups have at least min_group answers */
    bool predicts_churn;       /* diff_known and diff_hi < 0 */
    /* Trigger messages that went out through it (issue 6, engineer T): */
    int64_t msg_written, msg_delivered, msg_dead; /* outbox messages; of them delivered, dead */
    bool msg_conv_applies;     /* declared with stage trigger_communication */
    int64_t msg_conv_n, msg_conv_yes; /* customers with a delivered message there whose first
                                * such delivery is observable for days, and of them with a
                                * receipt within days after it (only when msg_conv_applies) */
} ly_tp_report_row;

typedef struct ly_tp_report {
    int days;                  /* the return window */
    ly_time horizon;           /* the latest receipt time: answers later than horizon - days
                                * are not yet observable and are left out of return rates */
    ly_tp_report_row *rows;    /* the declared touchpoints in file order, then undeclared */
    size_t n_rows;
} ly_tp_report;

/* Builds the report from the store (answers, receipts, events, outbox messages) and the
 * program's touchpoints,
 * in a. days >= 1; min_group >= 2 is the smallest group for an interval. */
ly_err ly_service_touchpoints_report(ly_service *s, int days, int min_group, ly_arena *a,
                                     ly_tp_report *out, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * Answers in the profile for triggers and offers (issue 6, engineer P; docs/offers.md
 * "Preferences", docs/triggers.md "Audience conditions")
 * ------------------------------------------------------------------------------------- */

/* A customer's attributes (the profile's JSON object text; NULL or not an object: none) as
 * the rules see them: "attributes.<key>" facts, strings as they are, numbers and booleans as
 * their JSON text, nested objects joined with '.' ("attributes.material.silk" = "true"),
 * arrays and nulls left out; at most 256. *out (in a) may be NULL when *n is 0. LY_ENOMEM. */
ly_err ly_service_attribute_facts(const char *attributes_json, ly_arena *a, ly_fact **out,
                                  size_t *n, ly_error *err);

/* The program in force with a reference held, for a server thread that reads its settings
 * beside a replacement (program_hold.c). Never NULL once the service is open; give *ref back
 * with ly_service_program_unhold. */
const ly_program *ly_service_program_hold(ly_service *s, ly_program_ref **ref);
/* Drops the reference of ly_service_program_hold. NULL ref is a no-op. */
void ly_service_program_unhold(ly_service *s, ly_program_ref *ref);

#endif /* LY_SERVICE_H */
