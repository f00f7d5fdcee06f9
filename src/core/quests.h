/*
 * quests.h - quests (challenges), badges and levels as the program declares them, and the
 * pure arithmetic of their progress: which period a day falls in, what a receipt (with
 * what is left of it after returns) counts toward a quest, and the level of an XP total.
 * No I/O: the service stores the progress (service/quests.c, docs/quests.md).
 */
#ifndef LY_CORE_QUESTS_H
#define LY_CORE_QUESTS_H

#include "core/core.h"

/* What a quest counts. */
typedef enum ly_quest_kind {
    LY_QUEST_DEALS = 0, /* receipts with at least one selected line left */
    LY_QUEST_SPEND,     /* money paid (minor units, after discounts) on the selected lines */
    LY_QUEST_ANSWERS,   /* recorded answers to one questionnaire (not receipts) */
    LY_QUEST_EVENT,     /* recorded custom events (POST /v1/events) of one type */
    LY_QUEST_NEW_CATEGORY, /* receipts with a selected line in a category the customer never
                            * bought before (the service checks "never"; the core counts the
                            * receipt like a deal, from its selected lines with a category) */
    LY_QUEST_REFERRALS  /* referral conversions: friends who enrolled with the customer's
                         * referral code and made a qualifying purchase (not the customer's
                         * own receipts; service/quests.c counts them for the referrer) */
} ly_quest_kind;

/* A quest: a target over a period, for an audience, with a reward. */
typedef struct ly_quest {
    const char *id;           /* unique in the program; keys the progress and the bonus */
    const char *name;
    ly_quest_kind kind;
    int64_t target;           /* > 0: deals, or minor units */
    ly_period period;         /* LY_PERIOD_WEEK, LY_PERIOD_MONTH (recurring) or EVER (one-off) */
    int64_t day_from, day_to; /* local days the quest runs (inclusive); LY_DAY_NEVER /
                               * LY_DAY_FOREVER when open */
    ly_line_selector lines;   /* the lines that count; empty = every line */
    const char *questionnaire;/* LY_QUEST_ANSWERS: the questionnaire whose answers count */
    const char *event_type;   /* LY_QUEST_EVENT: the custom event type that counts */
    ly_strset tiers, segments;/* audience: the customer's tier / segment is one of these
                               * (empty: anyone) */
    bool club_only;           /* audience: club members only */
    ly_points points;         /* reward: bonus points, once per period */
    const char *badge;        /* reward: a badge id, or NULL */
    int64_t xp;               /* reward: experience points toward the levels */
    const char *coupon;       /* reward: a personal single-use code of this coupon campaign
                               * (one of the program's "coupons"), or NULL */
    int64_t holdout_bp;       /* share of customers not offered the quest (basis points,
                               * 0..5000), drawn from a hash of quest and customer */
} ly_quest;

/* A level: reached at xp experience points. */
typedef struct ly_level {
    const char *id;
    const char *name;
    int64_t xp;               /* ascending; the first level's is 0 */
} ly_level;

/* A step of the streak's reward schedule: reached when the streak is `weeks` long. */
typedef struct ly_streak_reward {
    int64_t weeks;            /* ascending, > 0 */
    ly_points points;
    const char *badge;        /* or NULL */
    int64_t xp;
    const char *coupon;       /* a coupon campaign: a personal code is issued, or NULL */
} ly_streak_reward;

/* The program's "quests" section (program/quests.c), in the program's memory. */
typedef struct ly_quests {
    const ly_quest *quests;
    size_t n_quests;
    const ly_level *levels;   /* may be empty */
    size_t n_levels;
    const ly_streak_reward *streak; /* the streak's schedule; n_streak 0: no streaks */
    size_t n_streak;
} ly_quests;

/* A customer's streak of consecutive ISO weeks with a deal. week is the Monday (local
 * day) of the streak's latest week, 0 with no streak yet. */
typedef struct ly_streak {
    int64_t week;
    int64_t length;
    int64_t best;
} ly_streak;

/* The Monday of the ISO week of local day `day`. */
int64_t ly_week_monday(int64_t day);

/* The streak after a deal on local day `day`: the same week changes nothing, the next week
 * makes it one longer, a later one starts again at 1. A deal in a week before the streak's
 * latest (a late receipt) changes nothing. Returns whether it changed. */
bool ly_streak_add(ly_streak *s, int64_t day);

/* The streak's length as of local day `today`: broken (0) when neither this week nor the
 * last had a deal. */
int64_t ly_streak_current(const ly_streak *s, int64_t today);

/* The key of the quest's period containing local day `day` ("W2026-48", "M2026-11", "E"
 * for a one-off), into buf (16 bytes). */
void ly_quest_period_key(const ly_quest *q, int64_t day, char *buf, size_t size);

/* The last local day of the quest's period containing `day` (its deadline): the Sunday of
 * the ISO week, the month's last day, or day_to for a one-off (LY_DAY_FOREVER if open). */
int64_t ly_quest_deadline(const ly_quest *q, int64_t day);

/* True when the quest runs on local day `day` (between day_from and day_to). */
bool ly_quest_runs(const ly_quest *q, int64_t day);

/* What a receipt counts toward q with returned[i] of line i's quantity already returned
 * (returned may be NULL: nothing returned). paid[i] is what line i cost after discounts.
 * Deals: 1 when some selected line has quantity left, else 0. Spend: the sum over the
 * selected lines of the paid amount's share of the quantity left (ly_share: a partial
 * return takes back its share, a full one everything). The kinds that count no receipt
 * lines (answers, event, referrals) count 0. */
int64_t ly_quest_value(const ly_quest *q, const ly_line *lines, const ly_money *paid,
                       const ly_qty *returned, size_t n_lines);

/* The index of the highest level whose threshold xp reaches; -1 when there are no levels. */
long ly_quest_level(const ly_quests *qs, int64_t xp);

#endif /* LY_CORE_QUESTS_H */
