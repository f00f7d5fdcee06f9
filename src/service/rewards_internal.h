/*
 * rewards_internal.h - the hooks by which service.c runs the reward mechanics (rewards.c,
 * engineer R): coupons and rule limits at pricing, what a confirm, a return, an enrolment
 * or a profile change records, and the scheduled rewards (referrals, birthdays). Nothing
 * here is visible outside src/service/.
 */
#ifndef LY_SERVICE_REWARDS_INTERNAL_H
#define LY_SERVICE_REWARDS_INTERNAL_H

#include "program/rewards.h"
#include "service/service.h"

struct ly_program_ref;

/* The state of one pricing's rewards: the coupons found, and the gate of the rule limits
 * and budgets. Lives in the request arena. */
typedef struct ly__rw_coupon {
    const char *code;                 /* normalised */
    const ly_coupon_campaign *campaign;
    uint8_t hash[32];
} ly__rw_coupon;

typedef struct ly__rw {
    ly_service *s;
    const ly_program *prog;
    ly_db *db;
    int64_t customer_id;              /* 0: anonymous */
    int64_t local_day;                /* of the receipt, in the program's time zone */
    ly__rw_coupon *coupons;
    size_t n_coupons;
    ly_err rc;                        /* a storage failure inside the gate */
    ly_error err;
    char reason[160];                 /* the gate's last refusal, copied by the engine */
} ly__rw;

/* Before pricing: checks the checkout's partner and coupons (unknown, not started, expired,
 * used up, limit reached: LY_EUNPROCESSABLE naming "coupons[i]"), adds the coupon facts to
 * pin (copying its facts into a) and installs the limits gate. db is the reader (calculate)
 * or the writer inside the confirm's job. customer may be NULL. *out is set up in a. */
ly_err ly__rw_before(ly_service *s, const ly_program *prog, ly_db *db, const ly_checkout *in,
                     const ly_customer *customer, ly_arena *a, ly_price_input *pin, ly__rw **out,
                     ly_error *err);

/* The earn rate of the checkout's partner, when it names one, into *rate_bp. */
void ly__rw_earn_rate(const ly_program *prog, const ly_checkout *in, int64_t *rate_bp);

/* After pricing: a storage failure of the gate, and coupons none of whose rules applied
 * ("coupon_not_applicable"). Fills res->coupons. */
ly_err ly__rw_after(ly__rw *rw, const ly_checkout *in, ly_arena *a, ly_checkout_result *res,
                    ly_error *err);

/* Inside the confirm's job, after the receipt is priced and credited: records the uses of
 * limited rules and budgets, the coupons' redemptions, the partner's figures and a
 * referral's qualifying purchase. *referrer gets the referrer whose referral this receipt
 * has just qualified, 0 when it qualified none. */
ly_err ly__rw_confirmed(ly_service *s, const ly_program *prog, ly_db *db, ly__rw *rw,
                        const ly_checkout *in, const ly_checkout_result *res, ly_time now,
                        int64_t *referrer, ly_error *err);

/* Inside a return's job: the partner's figures of the return; when the receipt is now
 * fully returned, gives back its rule uses, budgets and coupons, and stops it qualifying a
 * referral. */
ly_err ly__rw_returned(ly_service *s, const ly_program *prog, ly_db *db,
                       const ly_stored_receipt *rcpt, const ly_stored_return *ret, ly_time now,
                       ly_error *err);

/* Enrolment, before the identifiers are given: the referrer named by the profile's
 * referral_code (*referrer 0 when none). LY_EUNPROCESSABLE "referral_code_unknown",
 * "referrals_not_offered", "self_referral" (the newcomer's card, phone or email is the
 * referrer's). */
ly_err ly__rw_enrol_check(ly_service *s, const ly_program *prog, ly_db *db,
                          const ly_profile *p, int64_t *referrer, ly_error *err);

/* Enrolment, after the profile is stored: links the referral and gives the welcome bonus
 * when it is due at enrolment (or at a consent given with it). */
ly_err ly__rw_enrolled(ly_service *s, ly_op *op, ly_db *db, int64_t customer_id,
                       int64_t referrer, ly_error *err);

/* A profile change: the welcome bonus on the first marketing consent. */
ly_err ly__rw_profile_changed(ly_service *s, ly_op *op, ly_db *db, int64_t customer_id,
                              ly_error *err);

/* The operations LY_OP_EVENT and LY_OP_COUPON_CODES. */
ly_err ly__rw_op_event(ly_service *s, ly_db *db, ly_op *op, ly_error *err);
ly_err ly__rw_op_coupon_codes(ly_service *s, ly_db *db, ly_op *op, ly_error *err);

/* Scheduled: pays the referral rewards due and gives the birthday bonuses of the day. */
ly_err ly__rw_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err);

/* Defined in service.c: the customer named by who, following merges. */
ly_err ly__service_resolve(ly_service *s, ly_db *db, const ly_who *who, ly_arena *a,
                           ly_customer *out, ly_error *err);

#endif /* LY_SERVICE_REWARDS_INTERNAL_H */
