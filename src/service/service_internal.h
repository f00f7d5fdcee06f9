/*
 * service_internal.h - what the files of the service module share: the service structure,
 * the reference-counted program versions (versions.c) and the tiers and club (tiers.c).
 * Nothing here is visible outside src/service/.
 *
 * The program. The service never keeps "the program" as a plain struct: the program in
 * force can be replaced while requests run (PUT /v1/program, SIGHUP). Each loaded version
 * is an ly_program_ref with a reference count guarded by prog_mu. A request takes a
 * reference when it starts (calculate; an operation when it is submitted) and works with
 * that version to the end, so a replacement never frees a program someone is using: the
 * old version is freed when its last user releases it. Code in this module reads the
 * program through the reference it was given (`const ly_program *prog`), never through
 * s->cur, which may change between two reads.
 */
#ifndef LY_SERVICE_INTERNAL_H
#define LY_SERVICE_INTERNAL_H

#include "service/service.h"

#include <pthread.h>

#define LY__AUTH_CACHE_SIZE 64

typedef struct ly__auth_entry {
    uint8_t hash[32];
    ly_role role;
    uint64_t until_usec;
} ly__auth_entry;

/* One loaded version of the program. */
struct ly_program_ref {
    ly_program p;
    char *text;                 /* the file's text as loaded (malloc'd) */
    size_t len;
    ly_time first_loaded_at;    /* from the program_versions table */
    long refs;                  /* holders, +1 while current; guarded by prog_mu */
    struct ly_program_ref *next;/* in the service's list of live versions */
};

struct ly_service {
    ly_calendar cal;
    ly_store *store;
    pthread_mutex_t auth_mu;
    ly__auth_entry auth[LY__AUTH_CACHE_SIZE];
    unsigned auth_next;

    /* The program (versions.c). Settings that stored data depends on (currency, minor
     * units, time zone, phone normalisation) cannot change by replacement, so they are
     * read from here without a reference. */
    pthread_mutex_t prog_mu;
    pthread_mutex_t replace_mu;  /* one replacement at a time */
    ly_program_ref *cur;         /* the version in force; read it with ly__program_acquire */
    ly_program_ref *live;        /* every version with a reference, cur included */
    char *program_path;          /* where replacements are written back; may be NULL */
    char phone_country[8];
    char phone_trunk[4];
};

/* versions.c */

/* Reads the program file at path, parses it, makes it current, and fills the fixed
 * settings and the calendar of s. s->store is not needed yet. */
ly_err ly__program_open(ly_service *s, const char *path, ly_error *err);

/* Records the current version in the program_versions table (once per version) and reads
 * back when it was first loaded. LY_ECONFLICT "program_version_conflict" when the version
 * is stored with another text. */
ly_err ly__program_record(ly_service *s, ly_time now, ly_error *err);

/* Frees every version (at close: no request runs any more). */
void ly__program_close(ly_service *s);

/* The current version with a reference taken. Never NULL once the service is open. */
ly_program_ref *ly__program_acquire(ly_service *s);

/* The version named `version` with a reference taken: the current one, another live one,
 * or loaded from the program_versions table through db (any connection). *out is NULL
 * (LY_OK) when the version is unknown to the table: receipts priced before versions were
 * kept. */
ly_err ly__program_version(ly_service *s, ly_db *db, const char *version, ly_program_ref **out,
                           ly_error *err);

/* Drops a reference; the version is freed when it was the last and it is not current. NULL
 * is a no-op. */
void ly__program_release(ly_service *s, ly_program_ref *ref);

/* tiers.c */

/* The customer's tier and club state as the rules see them: appends the facts "tier" (the
 * tier's id) and "club" ("member") to facts[*n..max) in a. Nothing when prog has neither. */
ly_err ly__tiers_facts(ly_service *s, ly_db *db, const ly_program *prog, int64_t customer_id,
                       ly_arena *a, ly_fact *facts, size_t *n, size_t max, ly_error *err);

/* The earn rate (basis points) for the customer under prog: the tier's rate, or the
 * program's. */
ly_err ly__tiers_earn_rate(ly_db *db, const ly_program *prog, int64_t customer_id,
                           int64_t *rate_bp, ly_error *err);

/* After a confirmed receipt, inside its write job: upgrades the customer's tier when the
 * period's figures qualify for a higher one, and admits them to the club when its rule now
 * holds. */
ly_err ly__tiers_after_confirm(ly_service *s, ly_db *db, const ly_program *prog,
                               int64_t customer_id, ly_time now, ly_error *err);

/* Inside a merge's write job, after the receipts moved: the survivor `into` takes the
 * merged profile's tier when it is the higher one (with its `since`, so its hold runs as
 * it did), and its club membership when the survivor is not a member (the merged profile
 * leaves the club); then the survivor is evaluated as after a receipt, so the two profiles'
 * purchases together can upgrade it at once. */
ly_err ly__tiers_merged(ly_service *s, ly_db *db, const ly_program *prog, int64_t from,
                        int64_t into, ly_time now, ly_error *err);

/* The daily re-evaluation (downgrades at period end, club by rule), run by
 * ly_service_maintain once per local day. Adds its counts to *out. */
ly_err ly__tiers_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err);

/* quests.c (issue 6, engineer Q; docs/quests.md) */

/* A receipt's effect on the customer's quests. With write (inside the confirm's job, after
 * the wallet is saved) the progress, the receipt's contributions and the rewards of the
 * quests it completes are stored (points as a bonus adjustment keyed
 * "quest:<id>:<period>:<customer>", given once); without, nothing changes (calculate's
 * preview). ref is the program version of the operation. Fills res->quests, n_quests and
 * quests_on. Imported receipts (no_points) and anonymous ones advance nothing. */
ly_err ly__quests_receipt(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                          int64_t customer_id, const ly_checkout *in, bool write, ly_time now,
                          ly_arena *a, ly_checkout_result *res, ly_error *err);

/* Inside the answers' write job, after a new (not replayed) answer of customer_id to
 * questionnaire is stored: advances by 1 the running "answers" quests of that
 * questionnaire whose audience the customer is in, in the period of local time `at`, and
 * rewards the one that reaches its target (once per period, like a receipt's). */
ly_err ly__quests_answered(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                           int64_t customer_id, const char *questionnaire, ly_time at,
                           ly_time now, ly_arena *a, ly_error *err);

/* Inside the event operation's write job, after a new (not replayed) custom event of type
 * `type` is stored (whether or not it gave points): the same for the running "event" quests
 * of that type. */
ly_err ly__quests_event(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                        int64_t customer_id, const char *type, ly_time at, ly_time now,
                        ly_arena *a, ly_error *err);

/* Inside a return's job, after rcpt->returned is updated: takes back what the returned
 * quantities had contributed (a full return all, a partial one its share). A quest already
 * completed stays completed and keeps its reward (docs/quests.md). */
ly_err ly__quests_returned(ly_service *s, ly_db *db, const ly_program *prog,
                           const ly_stored_receipt *rcpt, ly_time now, ly_arena *a,
                           ly_error *err);

/* Referral quests and coupon rewards (issue 6, engineer R; docs/quests.md). */

/* Inside the confirm's job, after the referral bookkeeping (rewards.c) made the new (not
 * replayed) receipt in of customer_id the qualifying purchase of its referral by referrer:
 * advances by 1 the referrer's running "referrals" quests whose audience the referrer is in,
 * in the period of the receipt's local time, rewarding one that reaches its target (once per
 * period), and records the receipt's contribution. */
ly_err ly__quests_referral_confirmed(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                                     int64_t customer_id, int64_t referrer, const ly_checkout *in,
                                     ly_time now, ly_arena *a, ly_error *err);

/* Inside a return's job, after the referral bookkeeping (rewards.c) ran: a receipt that
 * counted for a referrer's "referrals" quest and no longer qualifies the referral (a full
 * return before the referral was rewarded) takes its 1 back; a completed quest keeps its
 * reward. */
ly_err ly__quests_referral_returned(ly_service *s, ly_db *db, const ly_program *prog,
                                    const ly_stored_receipt *rcpt, ly_time now, ly_arena *a,
                                    ly_error *err);

/* At checkout, for a coupon code with this hash: LY_OK when it is not a quest's personal
 * code or customer_id (0: anonymous) owns it (a merged-away owner counts as its survivor);
 * else 422 naming field: coupon_customer_required (anonymous) or coupon_personal (another
 * customer's code). */
ly_err ly__quests_coupon_check(ly_service *s, ly_db *db, const uint8_t hash[32],
                               int64_t customer_id, const char *field, ly_error *err);

/* Merging profiles (engineer G; docs/quests.md, "Merging profiles"): a quest period whose
 * progress the merge summed to `value` on the survivor customer_id, neither profile having
 * completed it. When the program has the quest and value reaches its target, the period is
 * completed now and its reward given once under the survivor's key
 * "quest:<id>:<period>:<customer>"; otherwise nothing changes. Runs in the merge's job. */
ly_err ly__quests_merge_complete(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                                 int64_t customer_id, const char *quest_id, const char *period,
                                 int64_t value, ly_time now, ly_arena *a, ly_error *err);

/* service.c: a retried write (same key, event id, receipt id or return id as a stored
 * one). When the stored request's hash equals op->request_hash, marks op replayed with the
 * stored status and response (a string owned by op's arena) and returns true; false when the
 * request differs, and the caller answers with its own 409 conflict error. */
bool ly__op_replay(ly_op *op, const uint8_t stored_hash[32], int status, const char *response);

#endif /* LY_SERVICE_INTERNAL_H */
