/*
 * maturity.c - the pure maturity rating (maturity.h): each block's criteria for levels 1..4
 * as documented in docs/maturity.md, the evidence each rating cites, what would lift it one
 * level, and the overall level (the median of the five blocks).
 */
#include "analytics/maturity.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const blockKeys[LY_MAT_BLOCKS] = {"rewards", "data", "triggers", "customisation",
                                                     "gamification"};
static const char *const blockNames[LY_MAT_BLOCKS] = {
    "Rewards", "Data collection and analysis", "Trigger communications", "Customisation",
    "Gamification"};

const char *ly_mat_block_key(ly_mat_block b)
{
    return (unsigned)b < LY_MAT_BLOCKS ? blockKeys[b] : NULL;
}

const char *ly_mat_block_name(ly_mat_block b)
{
    return (unsigned)b < LY_MAT_BLOCKS ? blockNames[b] : NULL;
}

int ly_mat_identified_bp(const ly_mat_evidence *ev)
{
    if (ev->receipts <= 0 || ev->identified <= 0) return 0;
    int64_t id = ev->identified > ev->receipts ? ev->receipts : ev->identified;
    /* Rounded down, so "at least 50%" never holds on 49.995%. */
    return (int)(id * 10000 / ev->receipts);
}

/* Appends formatted text to a fixed buffer, separated from what is there by "; ". */
static void add(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(char *buf, const char *fmt, ...)
{
    size_t n = strlen(buf);
    if (n + 3 >= LY_MAT_TEXT) return;
    if (n) {
        memcpy(buf + n, "; ", 3);
        n += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, LY_MAT_TEXT - n, fmt, ap);
    va_end(ap);
}

/* The level from the criteria of levels 1..4: the highest L with c[1..L] all true. */
static int levelOf(const bool c[5])
{
    int l = 0;
    while (l < 4 && c[l + 1]) l++;
    return l;
}

static bool anyReward(const ly_mat_evidence *ev)
{
    return ev->has_program &&
           (ev->earn_rate || ev->rules > 0 || ev->tiers > 1 || ev->coupons > 0 || ev->referrals ||
            ev->welcome || ev->birthday || ev->events > 0 || ev->partners > 0);
}

static void rateRewards(const ly_mat_evidence *ev, ly_mat_block_rating *r)
{
    bool c[5] = {true, anyReward(ev), ev->tiers >= 2, ev->partners >= 1 && ev->nonmonetary >= 1,
                 ev->events >= 1 && ev->club};
    r->level = levelOf(c);
    if (!ev->has_program) add(r->evidence, "no program file");
    else {
        add(r->evidence, "base earn rate: %s", ev->earn_rate ? "above 0" : "0");
        add(r->evidence, "rules: %d (points: %d, money off or gifts: %d)", ev->rules,
            ev->rules_points, ev->rules_discount);
        add(r->evidence, "tiers: %d", ev->tiers);
        add(r->evidence, "partners: %d", ev->partners);
        add(r->evidence, "benefits: %d (non-monetary: %d)", ev->benefits, ev->nonmonetary);
        add(r->evidence, "club: %s", ev->club ? "declared" : "none");
        add(r->evidence, "event rewards: %d%s%s", ev->events, ev->welcome ? ", welcome bonus" : "",
            ev->birthday ? ", birthday bonus" : "");
    }
    switch (r->level) {
    case 0: add(r->lift, "give a reward: a base earn rate above 0, a rule, or a bonus"); break;
    case 1: add(r->lift, "declare at least two tiers by spend or receipts (tiers.levels)"); break;
    case 2:
        if (ev->partners < 1) add(r->lift, "add a coalition partner (partners)");
        if (ev->nonmonetary < 1)
            add(r->lift, "add a non-monetary reward: a tier or club benefit without a rule");
        break;
    case 3:
        if (ev->events < 1) add(r->lift, "reward behaviour outside purchases (events)");
        if (!ev->club) add(r->lift, "declare a closed club (club)");
        break;
    default: break;
    }
}

static void rateData(const ly_mat_evidence *ev, ly_mat_block_rating *r)
{
    int bp = ly_mat_identified_bp(ev);
    int64_t age = ev->last_analytics_at >= 0 ? (ev->now - ev->last_analytics_at) / 86400 : -1;
    bool fresh = ev->last_analytics_at >= 0 && age <= LY_MAT_FRESH_DAYS;
    bool rfm = ev->analytics_customers > 0;
    bool c[5] = {true, ev->identified > 0, bp >= LY_MAT_DATA2_BP && rfm,
                 bp >= LY_MAT_DATA3_BP && fresh && ev->questionnaires >= 1,
                 bp >= LY_MAT_DATA4_BP && ev->touchpoints >= 1};
    r->level = levelOf(c);
    if (!ev->has_db) add(r->evidence, "no database");
    else {
        add(r->evidence, "receipts: %lld, identified: %lld (%d.%02d%%)", (long long)ev->receipts,
            (long long)ev->identified, bp / 100, bp % 100);
        if (ev->analytics_runs > 0)
            add(r->evidence, "analytics runs: %lld, the latest %lld days ago; customers with saved RFM figures: %lld",
                (long long)ev->analytics_runs, (long long)(age < 0 ? 0 : age),
                (long long)ev->analytics_customers);
        else add(r->evidence, "analytics never saved (loyal analyze --save)");
        if (ev->answers >= 0) add(r->evidence, "questionnaire answers: %lld", (long long)ev->answers);
    }
    add(r->evidence, "questionnaires: %d, touchpoints: %d", ev->questionnaires, ev->touchpoints);
    switch (r->level) {
    case 0: add(r->lift, "identify customers on receipts (card, phone, QR code)"); break;
    case 1:
        if (bp < LY_MAT_DATA2_BP) add(r->lift, "identify at least 50%% of receipts");
        if (!rfm) add(r->lift, "save the RFM segments: loyal analyze --save");
        break;
    case 2:
        if (bp < LY_MAT_DATA3_BP) add(r->lift, "identify at least 80%% of receipts");
        if (!fresh) add(r->lift, "run loyal analyze --save at least every %d days", LY_MAT_FRESH_DAYS);
        if (ev->questionnaires < 1) add(r->lift, "collect context and preferences with a questionnaire");
        break;
    case 3:
        if (bp < LY_MAT_DATA4_BP) add(r->lift, "identify at least 95%% of receipts");
        if (ev->touchpoints < 1) add(r->lift, "declare the touchpoints and measure satisfaction at them");
        break;
    default: break;
    }
}

/* Days since the triggers part of the program last changed; -1 when unknown. */
static int64_t renewedDays(const ly_mat_evidence *ev)
{
    if (ev->triggers_renewed_at < 0) return -1;
    int64_t d = (ev->now - ev->triggers_renewed_at) / 86400;
    return d < 0 ? 0 : d;
}

static void rateTriggers(const ly_mat_evidence *ev, ly_mat_block_rating *r)
{
    bool allHeld = ev->triggers_holdout == ev->triggers;
    int64_t renewed = renewedDays(ev);
    bool fresh = renewed >= 0 && renewed <= LY_MAT_RENEW_DAYS;
    /* Level 4 asks for the practice (measuring against hold-outs, renewing the chains), not
     * for a result: whether a trigger's uplift is proven is evidence and advice. */
    bool measured = ev->uplift_measured && ev->triggers_measured >= 1;
    bool c[5] = {true, ev->channels >= 1 || ev->triggers >= 1, ev->triggers >= 1, ev->chains >= 1,
                 ev->chains >= 2 && ev->program_holdout && allHeld && measured && fresh};
    r->level = levelOf(c);
    add(r->evidence, "channels: %d, triggers: %d, chains (more than one step): %d", ev->channels,
        ev->triggers, ev->chains);
    add(r->evidence, "triggers with a hold-out: %d, program-wide hold-out: %s", ev->triggers_holdout,
        ev->program_holdout ? "above 0" : "none");
    if (ev->has_db) {
        add(r->evidence, "outbox messages: %lld, trigger steps recorded: %lld (held out: %lld)",
            (long long)ev->trigger_messages, (long long)ev->trigger_steps,
            (long long)ev->trigger_holdout_steps);
        if (ev->uplift_measured)
            add(r->evidence, "uplift against the hold-outs (first steps): %d of %d triggers measured, "
                "%d proven above 0, %d unproven, %d proven below 0", ev->triggers_measured,
                ev->triggers, ev->triggers_proven, ev->triggers_unproven, ev->triggers_harmful);
        if (measured && (ev->triggers_unproven > 0 || ev->triggers_harmful > 0))
            add(r->evidence, "revise the triggers whose uplift is not proven above 0 "
                "(loyal triggers report)");
        else
            add(r->evidence, "uplift not measured%s%s", *ev->uplift_why ? ": " : "", ev->uplift_why);
        if (renewed >= 0)
            add(r->evidence, "triggers last renewed %lld days ago (stored program versions: %lld)",
                (long long)renewed, (long long)ev->program_versions);
        else
            add(r->evidence, "triggers never renewed in the stored program versions (%lld)",
                (long long)ev->program_versions);
    }
    switch (r->level) {
    case 0: add(r->lift, "declare a channel to reach customers (channels)"); break;
    case 1: add(r->lift, "declare a standard trigger (triggers.list)"); break;
    case 2: add(r->lift, "make a trigger a chain of two or more steps"); break;
    case 3:
        if (ev->chains < 2) add(r->lift, "run at least two chains");
        if (!ev->program_holdout) add(r->lift, "hold out a share of the whole program (program_holdout_percent)");
        if (!allHeld) add(r->lift, "give every trigger a hold-out (holdout_percent above 0)");
        if (!measured)
            add(r->lift, "measure the uplift: run the triggers (loyal triggers run) until at least "
                "one has steps recorded both for customers sent to and for its hold-out "
                "(loyal triggers report)");
        if (!fresh && renewed >= 0)
            add(r->lift, "renew the trigger chains: change the triggers section at least every %d days "
                "(last renewed %lld days ago)", LY_MAT_RENEW_DAYS, (long long)renewed);
        else if (!fresh)
            add(r->lift, "renew the trigger chains: change the triggers section at least every %d days "
                "(no change in the stored program versions)", LY_MAT_RENEW_DAYS);
        break;
    default: break;
    }
}

static void rateCustom(const ly_mat_evidence *ev, ly_mat_block_rating *r)
{
    bool rfm = ev->analytics_customers > 0;
    bool c[5] = {true, anyReward(ev), ev->rules_transaction >= 1,
                 ev->rules_segment >= 1 && rfm && ev->offer_customers > 0, ev->recommend_steps >= 1};
    r->level = levelOf(c);
    add(r->evidence, "rules by transaction data (tier, RFM, status): %d, by RFM cell or segment: %d",
        ev->rules_transaction, ev->rules_segment);
    if (ev->has_db)
        add(r->evidence, "customers with saved segments: %lld, with personal offers possible: %lld",
            (long long)ev->analytics_customers, (long long)ev->offer_customers);
    add(r->evidence, "trigger steps carrying personal offers: %d", ev->recommend_steps);
    switch (r->level) {
    case 0: add(r->lift, "make one offer for all: any reward"); break;
    case 1: add(r->lift, "target a rule by transaction data: conditions.facts on tier, rfm_cell, segment, status or loyalty"); break;
    case 2:
        if (ev->rules_segment < 1) add(r->lift, "target a rule at RFM cells or segments");
        if (!rfm) add(r->lift, "save the segments: loyal analyze --save");
        if (ev->offer_customers < 1) add(r->lift, "have identified customers with purchases");
        break;
    case 3: add(r->lift, "send the look-alike personal offers in a trigger step (offer type recommend)"); break;
    default: break;
    }
}

static void rateGames(const ly_mat_evidence *ev, ly_mat_block_rating *r)
{
    bool c[5] = {true, ev->coupons >= 1 || ev->referrals || ev->events >= 1 || ev->quests >= 1,
                 ev->events >= 1 || ev->quests >= 1, ev->quests >= 1,
                 ev->quests >= 3 && (ev->quest_levels || ev->streaks)};
    r->level = levelOf(c);
    add(r->evidence, "coupon campaigns: %d, referrals: %s, rewarded tasks (events): %d", ev->coupons,
        ev->referrals ? "on" : "off", ev->events);
    add(r->evidence, "quests: %d, levels: %s, streaks: %s", ev->quests, ev->quest_levels ? "yes" : "no",
        ev->streaks ? "yes" : "no");
    if (ev->has_db && ev->events_recorded > 0)
        add(r->evidence, "events recorded: %lld", (long long)ev->events_recorded);
    if (ev->quest_rows >= 0) add(r->evidence, "quest progress rows: %lld", (long long)ev->quest_rows);
    switch (r->level) {
    case 0: add(r->lift, "add a promo code or a referral program"); break;
    case 1: add(r->lift, "reward a simple task: a survey, an app install, a review (events)"); break;
    case 2: add(r->lift, "declare a quest (quests)"); break;
    case 3:
        if (ev->quests < 3) add(r->lift, "run at least three quests");
        if (!ev->quest_levels && !ev->streaks) add(r->lift, "add levels or streaks");
        break;
    default: break;
    }
}

void ly_mat_rate(const ly_mat_evidence *ev, ly_mat_rating *out)
{
    memset(out, 0, sizeof *out);
    rateRewards(ev, &out->block[LY_MAT_REWARDS]);
    rateData(ev, &out->block[LY_MAT_DATA]);
    rateTriggers(ev, &out->block[LY_MAT_TRIGGERS]);
    rateCustom(ev, &out->block[LY_MAT_CUSTOM]);
    rateGames(ev, &out->block[LY_MAT_GAMES]);

    int count[5] = {0};
    out->lowest = 4;
    for (int b = 0; b < LY_MAT_BLOCKS; b++) {
        int l = out->block[b].level;
        if (l < out->lowest) out->lowest = l;
        for (int k = 0; k <= l; k++) count[k]++;
    }
    out->overall = 0;
    for (int k = 4; k > 0; k--)
        if (count[k] >= 3) {
            out->overall = k;
            break;
        }
    add(out->note, "%d of 5 blocks at level %d or above", count[out->overall], out->overall);
    char below[LY_MAT_TEXT] = "";
    for (int b = 0; b < LY_MAT_BLOCKS; b++)
        if (out->block[b].level < out->overall)
            add(below, "%s at %d", blockKeys[b], out->block[b].level);
    if (*below) add(out->note, "below it: %s", below);
}
