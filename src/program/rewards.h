/*
 * rewards.h - the reward mechanics of a program file beyond its rules: coupon campaigns,
 * referrals, the welcome and birthday bonuses, custom events and coalition partners, and
 * the per-rule limits and budgets. Loaded by program.c into memory the program owns
 * (ly_program.rewards); docs/program.md describes the syntax.
 */
#ifndef LY_PROGRAM_REWARDS_H
#define LY_PROGRAM_REWARDS_H

#include "core/core.h"

#include <jansson.h>

/* A coupon campaign. Its rules are the program's rules that test the fact `coupon` with
 * this id (equals / in), or the presence of the fact `coupon.<id>`. */
typedef struct ly_coupon_campaign {
    const char *id;
    const char *name;          /* may be NULL */
    const char *code;          /* the public code, upper case; NULL: unique codes */
    const char *prefix;        /* unique codes start with it ("" when none) */
    int64_t per_code;          /* uses of one code; 0 = unlimited */
    int64_t total;             /* uses of the whole campaign; 0 = unlimited */
    int64_t per_customer;      /* uses by one customer; 0 = unlimited */
    bool has_dates;
    int64_t day_from, day_to;  /* local dates, inclusive, days since 1970-01-01 */
    const size_t *rules;       /* positions in ly_program.rules of its rules */
    size_t n_rules;
} ly_coupon_campaign;

/* A custom event that gives points (POST /v1/events). */
typedef struct ly_event_rule {
    const char *type;          /* "survey_completed" */
    const char *name;          /* may be NULL */
    ly_points points;          /* > 0 */
    int64_t cap_times;         /* most rewarded events per customer per cap_per; 0 = none */
    ly_period cap_per;
    bool has_dates;
    int64_t day_from, day_to;
} ly_event_rule;

/* A coalition partner. */
typedef struct ly_partner {
    const char *id;
    const char *name;          /* may be NULL */
    int64_t earn_rate_bp;      /* the earn rate of receipts at the partner */
    ly_money issue_price;      /* what the partner pays the program per point issued there */
    ly_money redeem_price;     /* what the program pays the partner per point redeemed there */
} ly_partner;

typedef struct ly_rewards {
    const ly_coupon_campaign *coupons;
    size_t n_coupons;
    int64_t max_coupons;       /* most coupons on one receipt */

    bool referrals;            /* the referral section is present */
    ly_points referrer_points, newcomer_points;
    ly_money referral_min_purchase; /* a qualifying purchase's total, at least */

    ly_points welcome_points;  /* 0 = no welcome bonus */
    bool welcome_on_consent;   /* given on the first marketing consent, not on enrolment */

    ly_points birthday_points; /* 0 = no birthday bonus */
    int64_t birthday_before, birthday_after; /* the window, in days around the birthday */

    const ly_event_rule *events;
    size_t n_events;
    const ly_partner *partners;
    size_t n_partners;
} ly_rewards;

/* Parses rules[i].limit and rules[i].budget of one rule object o into r (path rp, e.g.
 * "rules[3]"). Amounts use the program's minor units. Errors name their path. */
ly_err ly__program_rule_rewards(json_t *o, const char *rp, ly_program *p, ly_rule *r,
                                ly_error *err);

/* Parses the top-level sections "coupons", "referrals", "welcome", "birthday", "events" and
 * "partners" of root into p->rewards (allocated in p->mem), after the rules are parsed, so
 * that every coupon campaign can be tied to its rules. Sets p->rewards NULL when none of the
 * sections is present. */
ly_err ly__program_rewards_parse(json_t *root, ly_program *p, ly_error *err);

/* The top-level keys ly__program_rewards_parse reads, NULL-terminated. */
extern const char *const ly__program_rewards_keys[];

/* Lookups; NULL when absent. code is matched case-insensitively against public codes. */
const ly_coupon_campaign *ly_rewards_coupon(const ly_rewards *rw, const char *id);
const ly_coupon_campaign *ly_rewards_public_code(const ly_rewards *rw, const char *code);
const ly_event_rule *ly_rewards_event(const ly_rewards *rw, const char *type);
const ly_partner *ly_rewards_partner(const ly_rewards *rw, const char *id);

#endif /* LY_PROGRAM_REWARDS_H */
