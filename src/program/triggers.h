/*
 * triggers.h - the trigger communications of a program file: its "channels" (what a
 * message costs on each, which consent it needs, which delivery channel carries it) and its
 * "triggers" (who is contacted, when, through which channel, with which offer, and the
 * hold-out shares that measure it). Loaded by program.c into memory the program owns
 * (ly_program.triggers); docs/triggers.md describes the syntax. The engine that runs them
 * is in engage/ (engage.h, "Triggers").
 */
#ifndef LY_PROGRAM_TRIGGERS_H
#define LY_PROGRAM_TRIGGERS_H

#include "core/core.h"

#include <jansson.h>

/* The channels a trigger may use. */
typedef enum ly_trig_medium {
    LY_TM_SMS = 0,
    LY_TM_EMAIL,
    LY_TM_PUSH,
    LY_TM_MESSENGER,
    LY_TM_CALL_LIST,
    LY_TM_COUNT
} ly_trig_medium;

/* "sms", "email", "push", "messenger", "call_list"; parse is the reverse. */
const char *ly_trig_medium_name(ly_trig_medium m);
bool ly_trig_medium_parse(const char *s, ly_trig_medium *out);

typedef struct ly_trig_channel {
    ly_trig_medium medium;
    const char *delivery;      /* the channel name of delivery.json messages are written to
                                * (default: the medium's name) */
    int consent;               /* the ly_channel whose consent it needs, -1: none */
    ly_money cost;             /* per message, minor units (for the uplift's return) */
    const char *touchpoint;    /* the touchpoint its messages go through unless the step names
                                * one: an id of the program's "touchpoints", or NULL */
    bool declared;             /* named in the program file's "channels" */
} ly_trig_channel;

/* A bound of days or deals: base + offset, where base is a number (0) or one of the
 * boundaries of the latest analytics run. An unset bound does not restrict. */
typedef enum ly_trig_base {
    LY_TB_NONE = 0, LY_TB_SLEEP, LY_TB_CHURN, LY_TB_LOYALTY
} ly_trig_base;
typedef struct ly_trig_bound {
    bool set;
    ly_trig_base base;
    int64_t offset;
} ly_trig_bound;

/* A change of tier the audience may ask for. */
typedef enum ly_trig_tier_change {
    LY_TTC_NONE = 0, LY_TTC_UPGRADE, LY_TTC_DOWNGRADE, LY_TTC_ANY
} ly_trig_tier_change;

/* Who a trigger (or a step's `while`) is for. Every condition set must hold. */
typedef struct ly_trig_audience {
    ly_strset rfm_cells;       /* "R3F2M2" ... */
    unsigned r_levels;         /* bit L set: R level L (1..3) of the customer's RFM cell */
    ly_strset segments, statuses, loyalty, tiers;
    const ly_fact_test *facts; /* tests on rfm_cell, segment, status, loyalty, tier */
    size_t n_facts;
    /* "attributes" (issue 6, engineer P): the rules' attribute tests on the profile's
     * attributes ("attributes.<name>" facts, questionnaire answers included) */
    const ly_fact_test *attributes;
    size_t n_attributes;
    ly_trig_bound days_from, days_below;   /* from <= days since last deal < below */
    ly_trig_bound deals_min, deals_below;  /* min <= deals < below */
    int64_t first_deal_days;   /* > 0: exactly one deal, made at least this many days ago */
    int64_t expiring_days;     /* > 0: points expiring within this many days ... */
    ly_points expiring_min;    /*   ... at least this many (default 1) */
    int64_t birthday_days;     /* >= 0: birthday within this many days (0: today); -1 none */
    bool new_category;         /* the offers model has a new_category offer for them */
    const char *event_type;    /* a custom event (POST /v1/events) of this type ... */
    int64_t event_days;        /*   ... within this many days */
    ly_trig_tier_change tier_change; /* a tier change ... */
    int64_t tier_change_days;  /*   ... within this many days */
    bool close_to_tier;        /* what is missing for the next tier (ly_tiers_progress) ... */
    ly_money close_spend;      /*   ... spend at most this (-1: not asked) */
    int64_t close_receipts;    /*   ... receipts at most this (-1: not asked) */
    bool any;                  /* some condition is set */
} ly_trig_audience;

typedef enum ly_trig_offer_kind {
    LY_TO_NONE = 0,
    LY_TO_COUPON,              /* a unique code of a coupon campaign, issued for the message */
    LY_TO_BONUS,               /* the fact trigger_offer.<flag> = "active" for N days */
    LY_TO_COMBO,               /* names a bundle rule of the program */
    LY_TO_RECOMMEND            /* the customer's personal offers (engage.h) */
} ly_trig_offer_kind;

typedef struct ly_trig_offer {
    ly_trig_offer_kind kind;
    const char *coupon;        /* COUPON: the campaign id (unique codes) */
    const char *flag;          /* BONUS: the flag's name */
    int64_t days;              /* BONUS: how long it stays active (1..365) */
    const char *rule;          /* COMBO: the rule id */
    int64_t count;             /* RECOMMEND: offers listed (1..20, default 3) */
    ly_money cost;             /* the reward's cost per converted treated customer (an
                                * estimate the report subtracts; default 0) */
} ly_trig_offer;

typedef struct ly_trig_step {
    int64_t wait_days;         /* step 0: 0; step k: days after step k-1 was sent */
    const ly_trig_audience *cond; /* `while`: must still hold at the step; NULL: none */
    const char *subject;       /* e-mail subject template (may be NULL) */
    const char *text;          /* the message template */
    ly_trig_offer offer;
    ly_strset channels;        /* overrides the trigger's channels when not empty */
    const char *touchpoint;    /* the touchpoint its messages go through (an id of the
                                * program's "touchpoints"), or NULL: the channel's */
} ly_trig_step;

typedef struct ly_trigger_def {
    const char *id;
    const char *name;          /* may be NULL */
    int64_t priority;          /* lower first; default from the R levels it targets */
    bool priority_set;
    size_t file_index;
    int64_t holdout_bp;        /* hold-out share in basis points (default 1000 = 10%) */
    int64_t attribution_days;  /* conversion window after a (would-be) send (default 14) */
    int64_t reenter_days;      /* a customer may enter again this many days after entering
                                * (default 90) */
    ly_trig_audience audience;
    ly_strset channels[4];     /* [0] every customer, [1..3] customers at R1..R3 (when
                                * not empty); in order of preference */
    const ly_trig_step *steps;
    size_t n_steps;
} ly_trigger_def;

typedef struct ly_triggers_conf {
    ly_trig_channel channels[LY_TM_COUNT];
    const ly_trigger_def *triggers; /* in priority order (ties: file order) */
    size_t n_triggers;
    char seed[65];             /* hold-out assignment seed (default: "loyal") */
    int64_t program_holdout_bp;/* program-wide hold-out share (default 0) */
    int64_t per_day, per_week; /* frequency caps per customer, 0 = none */
    bool quiet;                /* quiet hours in the program's time zone */
    int quiet_from, quiet_to;  /* minutes after local midnight; from > to wraps */
    ly_money r1_max_cost;      /* R1 customers: channels costing more are skipped; -1 none */
    int64_t margin_bp;         /* gross margin of revenue for the report; -1 unknown */
    int64_t max_per_run;       /* most messages one run writes (default 100000) */
} ly_triggers_conf;

/* Parses the top-level "channels" and "triggers" sections of root into p->triggers
 * (allocated in p->mem). Runs after rules and rewards: combos name rules, coupons name
 * campaigns. A "touchpoint" on a channel or a step must be the id of an element of root's
 * "touchpoints" array (read from root: that section is parsed later, by survey.c). p->triggers stays NULL when neither section is present. Errors name their
 * path ("triggers.list[2].audience.days_since_last.from"). */
ly_err ly__program_triggers_parse(json_t *root, ly_program *p, ly_error *err);

/* The touchpoint a message of step st sent on channel ch goes through: the step's, else
 * the channel's, else NULL. */
const char *ly_trig_touchpoint(const ly_trig_step *st, const ly_trig_channel *ch);

/* The trigger called id, or NULL. */
const ly_trigger_def *ly_triggers_find(const ly_triggers_conf *c, const char *id);

#endif /* LY_PROGRAM_TRIGGERS_H */
