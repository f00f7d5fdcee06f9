/*
 * maturity.h - the program's maturity level (METHOD.md section 7): a pure rating of the five
 * blocks of section 3 (rewards, data collection and analysis, trigger communications,
 * customisation, gamification) at 0..4 each and overall, from facts gathered elsewhere
 * (the program file and the database: src/cli/maturity_evidence.c). No I/O.
 *
 * The criteria, level by level, are in docs/maturity.md; every level of a block needs the
 * criteria of the levels below it as well (a block is at the highest level L such that the
 * criteria of 1..L all hold). Overall is the level reached by at least three of the five
 * blocks (the median of the five).
 */
#ifndef LY_ANALYTICS_MATURITY_H
#define LY_ANALYTICS_MATURITY_H

#include <stdbool.h>
#include <stdint.h>

/* The five blocks, in the method's order. */
typedef enum ly_mat_block {
    LY_MAT_REWARDS = 0,
    LY_MAT_DATA,
    LY_MAT_TRIGGERS,
    LY_MAT_CUSTOM,
    LY_MAT_GAMES,
    LY_MAT_BLOCKS /* the count */
} ly_mat_block;

/* The evidence. Counts are >= 0; a zeroed struct is "no program file, no database". */
typedef struct ly_mat_evidence {
    /* From the program file. */
    bool has_program;          /* a program file was read */
    bool earn_rate;            /* earn.rate_percent > 0 */
    int tiers;                 /* entries of tiers.levels */
    int rules;                 /* entries of rules */
    int rules_points;          /* rules whose effect gives points (points_*, bundle with points) */
    int rules_discount;        /* rules whose effect is money off or a gift */
    int rules_transaction;     /* rules whose conditions.facts test tier, rfm_cell, segment,
                                  status or loyalty (offers from transaction data) */
    int rules_segment;         /* of those, rules testing rfm_cell or segment */
    int coupons;               /* entries of coupons */
    bool referrals;            /* a referrals section */
    bool welcome, birthday;    /* welcome / birthday bonuses */
    int events;                /* entries of events (rewards for behaviour outside purchases) */
    bool club;                 /* a club section */
    int nonmonetary;           /* benefits of tiers and club with no rule (non-monetary) */
    int benefits;              /* all benefits of tiers and club */
    int partners;              /* entries of partners */
    int channels;              /* entries of channels */
    int triggers;              /* entries of triggers.list */
    int chains;                /* triggers with more than one step */
    int triggers_holdout;      /* triggers whose holdout_percent is not 0 (the default is 10) */
    bool program_holdout;      /* triggers.program_holdout_percent > 0 */
    int recommend_steps;       /* trigger steps with a "recommend" offer (personal offers) */
    int quests;                /* quests declared */
    bool quest_levels;         /* levels (experience) declared with the quests */
    bool streaks;              /* streaks declared */
    int questionnaires;        /* entries of questionnaires */
    int touchpoints;           /* entries of touchpoints */

    /* From the database. */
    bool has_db;
    int64_t receipts;          /* receipts (sales) */
    int64_t identified;        /* of them, with a customer */
    int64_t offer_customers;   /* identified customers with a purchase: personal offers possible */
    int64_t analytics_runs;    /* finished analytics runs */
    int64_t analytics_customers; /* customers with saved figures (RFM cell, segment) */
    int64_t last_analytics_at; /* unix seconds the latest run finished, -1 if none */
    int64_t now;               /* unix seconds "now", for the recency of the analytics */
    int64_t trigger_messages;  /* outbox messages written by triggers */
    int64_t trigger_steps;     /* trigger steps recorded (sent or held out) */
    int64_t trigger_holdout_steps; /* of them, held out (trigger's or program-wide) */
    int64_t events_recorded;   /* custom events recorded */
    int64_t quest_rows;        /* quest progress rows, -1 when the table does not exist */
    int64_t answers;           /* questionnaire answers, -1 when the table does not exist */

    /* Measured (the database read with the loaded program: `loyal triggers report`'s
     * computation over every step recorded up to now). Each trigger is judged by its first
     * step, where its groups are drawn. */
    bool uplift_measured;      /* the report could be built (a database, a program file that
                                  loads, triggers declared) */
    char uplift_why[160];      /* why not, when !uplift_measured and a reason is known */
    int triggers_measured;     /* triggers whose first step has treated and held-out customers */
    int triggers_proven;       /* of them, conversion uplift's 95% interval above 0 */
    int triggers_unproven;     /* of them, the interval includes 0 */
    int triggers_harmful;      /* of them, the interval below 0 */
    int64_t program_versions;  /* versions of the program file stored (program_versions) */
    int64_t triggers_renewed_at; /* unix seconds the triggers part of the program last changed
                                    between stored versions (its first version counts when it
                                    has triggers); -1 when never or unknown */
} ly_mat_evidence;

/* Thresholds of the data block (docs/maturity.md), in basis points of identified receipts. */
enum {
    LY_MAT_DATA2_BP = 5000,   /* level 2: at least 50% identified */
    LY_MAT_DATA3_BP = 8000,   /* level 3: at least 80% */
    LY_MAT_DATA4_BP = 9500,   /* level 4: at least 95% */
    LY_MAT_FRESH_DAYS = 31,   /* level 3: the latest analytics run at most this old */
    LY_MAT_RENEW_DAYS = 90    /* triggers level 4: the triggers renewed at most this long ago */
};

enum { LY_MAT_TEXT = 640 };

/* One block's rating. */
typedef struct ly_mat_block_rating {
    int level;                 /* 0..4 */
    char evidence[LY_MAT_TEXT];/* the facts the rating rests on, "; "-separated */
    char lift[LY_MAT_TEXT];    /* what would lift it one level ("" at level 4) */
} ly_mat_block_rating;

typedef struct ly_mat_rating {
    ly_mat_block_rating block[LY_MAT_BLOCKS];
    int overall;               /* 0..4: reached by at least three blocks */
    int lowest;                /* the lowest block level */
    char note[LY_MAT_TEXT];    /* how overall was found, naming the blocks below it */
} ly_mat_rating;

/* Rates ev into *out (fully overwritten). Deterministic; never fails. */
void ly_mat_rate(const ly_mat_evidence *ev, ly_mat_rating *out);

/* The identified share of receipts in basis points (0 without receipts). */
int ly_mat_identified_bp(const ly_mat_evidence *ev);

/* The block's key ("rewards", "data", "triggers", "customisation", "gamification") and its
 * name for people ("Rewards", ...). NULL for an out-of-range block. Static strings. */
const char *ly_mat_block_key(ly_mat_block b);
const char *ly_mat_block_name(ly_mat_block b);

#endif /* LY_ANALYTICS_MATURITY_H */
