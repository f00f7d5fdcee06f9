/*
 * quests.c - quests, badges and levels in the service (docs/quests.md): what a receipt
 * advances (atomically inside the confirm's write job, where tiers upgrade), what a return
 * takes back, the rewards of a completed quest (bonus points through the adjustment
 * operation under the key of their cause, a badge, experience points), and the customer's
 * view. The arithmetic is the core's (core/quests.c).
 *
 * Write jobs run one after another on the writer, so two confirms crossing a target at the
 * same moment are seen in turn: the first completes the quest, the second finds it
 * completed. The bonus key "quest:<id>:<period>:<customer>" makes the points once-only
 * even if a completion were ever replayed.
 *
 * A "referrals" quest counts the referrer's friends whose qualifying purchase (rewards.c) a
 * confirm has just recorded, in that confirm's job; a reward's coupon is a personal,
 * single-use code of a coupon campaign, issued once per reward key and bound to its owner.
 */
#include "service/service_internal.h"
#include "service/rewards_internal.h"
#include "core/quests.h"
#include "os/os.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)
#define FACTS_MAX 8

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* The audience facts of a customer: tier, club, segment. */
typedef struct audience {
    const char *tier;     /* NULL: the program has no tiers */
    bool club;
    const char *segment;  /* "" without analytics */
    char segment_buf[24];
} audience;

static ly_err audienceOf(ly_service *s, ly_db *db, const ly_program *prog, int64_t customer_id,
                         ly_arena *a, audience *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    out->segment = out->segment_buf;
    ly_fact f[FACTS_MAX];
    size_t n = 0;
    TRY(ly__tiers_facts(s, db, prog, customer_id, a, f, &n, FACTS_MAX, err));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].key, "tier") == 0) out->tier = f[i].value;
        if (strcmp(f[i].key, "club") == 0) out->club = true;
    }
    ly_customer_analytics ca;
    ly_err rc = ly_db_customer_analytics_get(db, customer_id, &ca, err);
    if (rc == LY_OK) snprintf(out->segment_buf, sizeof out->segment_buf, "%s", ca.segment);
    else if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    return LY_OK;
}

/* The program file's name of a kind. */
static const char *kindName(ly_quest_kind k)
{
    switch (k) {
    case LY_QUEST_DEALS: return "deals";
    case LY_QUEST_SPEND: return "spend";
    case LY_QUEST_ANSWERS: return "answers";
    case LY_QUEST_NEW_CATEGORY: return "new_category";
    case LY_QUEST_EVENT: return "event";
    case LY_QUEST_REFERRALS: return "referrals";
    }
    return "deals";
}

bool ly_service_quest_held_out(const ly_quest *q, int64_t customer_id)
{
    if (q->holdout_bp <= 0) return false;
    char text[128];
    int n = snprintf(text, sizeof text, "quest-holdout:%s:%lld", q->id, (long long)customer_id);
    uint8_t h[32];
    ly_os_hash(text, (size_t)(n < (int)sizeof text ? n : (int)sizeof text - 1), h);
    uint32_t x = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return (int64_t)(x % 10000) < q->holdout_bp;
}

static bool inAudience(const ly_quest *q, const audience *au, int64_t customer_id)
{
    if (ly_service_quest_held_out(q, customer_id)) return false;
    if (q->club_only && !au->club) return false;
    if (q->tiers.n && (!au->tier || !ly_strset_has(&q->tiers, au->tier))) return false;
    if (q->segments.n && !ly_strset_has(&q->segments, au->segment)) return false;
    return true;
}

/* What each line cost after the receipt's discounts, in a. */
static ly_money *paidOf(const ly_receipt *r, const ly_pricing *p, ly_arena *a)
{
    ly_money *paid = ly_arena_alloc(a, (r->n_lines ? r->n_lines : 1) * sizeof *paid);
    for (size_t i = 0; paid && i < r->n_lines; i++)
        paid[i] = r->lines[i].amount - (p->lines ? p->lines[i].discount : 0);
    return paid;
}

/* The points of a completed quest: an adjustment of kind bonus, once for key. */
static ly_err givePoints(ly_service *s, ly_db *db, struct ly_program_ref *ref, ly_arena *a,
                         ly_time now, int64_t customer_id, const char *key, ly_points points,
                         const char *note, ly_error *err)
{
    ly_op op;
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_ADJUST;
    op.arena = a;
    op.now = now;
    op.prog_ = ref;
    op.in.adjust = (ly_adjust_request){.adjustment_id = key, .customer_id = customer_id,
                                       .points = points, .kind = LY_ENTRY_BONUS, .note = note};
    /* The key alone makes the request: a second completion of the same cause replays. */
    ly_os_hash(key, strlen(key), op.request_hash);
    ly_err rc = ly_service_apply(s, db, &op);
    if (rc != LY_OK && err) *err = op.err;
    return rc;
}

/* Personal codes look like the campaign's batch codes (rewards.c): its prefix and 12 of
 * these 30 letters and digits without look-alikes, drawn by libsodium: 59 random bits. */
static const char codeAlphabet[] = "ABCDEFGHJKMNPQRSTVWXYZ23456789";
#define CODE_CHARS 12

/* The hash a code is stored and found under: BLAKE2b-256 of "coupon:" + the code, as the
 * checkout computes it (rewards.c). */
static void codeHash(const char *code, uint8_t out[32])
{
    char text[128];
    int n = snprintf(text, sizeof text, "coupon:%s", code);
    ly_os_hash(text, (size_t)(n < (int)sizeof text ? n : (int)sizeof text - 1), out);
}

/* The personal code of campaign for the reward `key` (*code, in a): the one already issued
 * for key, else a new one, stored hashed in coupon_codes (where checkout finds it) and with
 * its owner in quest_coupons. */
static ly_err issueCoupon(ly_db *db, const ly_program *prog, const char *campaign,
                          const char *key, const char *quest_id, const char *period,
                          int64_t customer_id, ly_time now, ly_arena *a, const char **code,
                          ly_error *err)
{
    ly_quest_coupon c;
    ly_err rc = ly_db_quest_coupon_get(db, key, a, &c, err);
    if (rc == LY_OK) {
        *code = c.code;
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    const ly_coupon_campaign *cc = ly_rewards_coupon(prog->rewards, campaign);
    if (!cc || cc->code)
        return ly_error_set(err, LY_EINTERNAL, "coupon_campaign_not_found", NULL,
                            "the program has no campaign of unique codes %s", campaign);
    size_t plen = strlen(cc->prefix);
    char *text = ly_arena_alloc(a, plen + CODE_CHARS + 1);
    const char *batch = ly_arena_printf(a, "quest:%s", quest_id);
    if (!text || !batch) return oom(err);
    memcpy(text, cc->prefix, plen);
    text[plen + CODE_CHARS] = '\0';
    uint8_t h[32];
    for (;;) {
        for (size_t k = 0; k < CODE_CHARS; k++)
            text[plen + k] = codeAlphabet[randombytes_uniform(sizeof codeAlphabet - 1)];
        codeHash(text, h);
        rc = ly_db_coupon_code_insert(db, h, cc->id, batch, now, err);
        if (rc != LY_ECONFLICT) break;
        ly_error_clear(err); /* 2^-59 per pair: draw again */
    }
    TRY(rc);
    c = (ly_quest_coupon){.cause = key, .customer_id = customer_id, .quest_id = quest_id,
                          .period = period, .campaign = cc->id, .code = text, .issued_at = now};
    memcpy(c.hash, h, sizeof h);
    TRY(ly_db_quest_coupon_insert(db, &c, err));
    *code = text;
    return LY_OK;
}

/* A reward: points under key (once), the badge (kept once), the XP, a personal code of the
 * coupon campaign (once per key; *code gets it, may be NULL). `cause` and period name it on
 * the ledger and on the badge ("three-deals", "streak"). */
static ly_err reward(ly_service *s, ly_db *db, struct ly_program_ref *ref, const char *cause,
                     const char *period, const char *key, ly_points points, const char *badge,
                     int64_t xp, const char *coupon, int64_t customer_id, ly_time now,
                     ly_arena *a, const char **code, ly_error *err)
{
    if (points > 0) {
        const char *note = ly_arena_printf(a, "%s completed (%s)", cause, period);
        if (!note) return oom(err);
        TRY(givePoints(s, db, ref, a, now, customer_id, key, points, note, err));
    }
    if (badge) {
        ly_quest_badge b = {badge, cause, period, now};
        TRY(ly_db_quest_badge_add(db, customer_id, &b, NULL, err));
    }
    if (xp > 0) TRY(ly_db_quest_xp_add(db, customer_id, xp, err));
    const char *issued = NULL;
    if (coupon)
        TRY(issueCoupon(db, &ref->p, coupon, key, cause, period, customer_id, now, a, &issued,
                        err));
    if (code) *code = issued;
    return LY_OK;
}

/* The key of a quest's reward for one period and customer, "quest:ID:PERIOD:CUSTOMER" (in
 * a): the idempotency key of its points and the key its coupon code is stored under. NULL
 * when out of memory. */
static const char *questKey(ly_arena *a, const ly_quest *q, const char *period,
                            int64_t customer_id)
{
    return ly_arena_printf(a, "quest:%s:%s:%lld", q->id, period, (long long)customer_id);
}

/* Gives customer_id the reward of quest q completed in period, under questKey; *code (when
 * not NULL) is the coupon code issued, as reward() sets it. */
static ly_err rewardQuest(ly_service *s, ly_db *db, struct ly_program_ref *ref, const ly_quest *q,
                          const char *period, int64_t customer_id, ly_time now, ly_arena *a,
                          const char **code, ly_error *err)
{
    const char *key = questKey(a, q, period, customer_id);
    if (!key) return oom(err);
    return reward(s, db, ref, q->id, period, key, q->points, q->badge, q->xp, q->coupon,
                  customer_id, now, a, code, err);
}

/* Counts one more toward quest q for customer_id in period; with receipt_id, also records
 * that count as the receipt's contribution (so that its return takes it back). Reaching the
 * target completes the period now and gives its reward (rewardQuest); a period completed
 * before keeps its time and gives nothing again. */
static ly_err countStep(ly_service *s, ly_db *db, struct ly_program_ref *ref, const ly_quest *q,
                        const char *period, int64_t customer_id, const char *receipt_id,
                        ly_time now, ly_arena *a, ly_error *err)
{
    int64_t before;
    ly_time done_at;
    ly_err rc = ly_db_quest_progress_get(db, customer_id, q->id, period, &before, &done_at, err);
    if (rc != LY_OK && rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    bool completed = done_at == 0 && before + 1 >= q->target;
    TRY(ly_db_quest_progress_put(db, customer_id, q->id, period, before + 1,
                                 completed ? now : done_at, now, err));
    if (receipt_id) {
        ly_quest_contribution c = {q->id, period, customer_id, 1};
        TRY(ly_db_quest_contribution_put(db, receipt_id, &c, err));
    }
    if (!completed) return LY_OK;
    return rewardQuest(s, db, ref, q, period, customer_id, now, a, NULL, err);
}

/* The quest of the program with this id, or NULL when it has none (any more). */
static const ly_quest *questById(const ly_quests *qs, const char *id)
{
    for (size_t i = 0; qs && i < qs->n_quests; i++)
        if (strcmp(qs->quests[i].id, id) == 0) return &qs->quests[i];
    return NULL;
}

/* A receipt's contribution c to quest q shrinks to `left` (a return): the period's progress
 * loses the difference (not below 0) and the contribution is stored as left under
 * receipt_id. A completed period stays completed and keeps its reward (completed_at is
 * kept, docs/quests.md); a period with no progress any more is left alone. */
static ly_err takeBack(ly_db *db, const ly_quest *q, const ly_quest_contribution *c, int64_t left,
                       const char *receipt_id, ly_time now, ly_error *err)
{
    int64_t value;
    ly_time done_at;
    ly_err rc = ly_db_quest_progress_get(db, c->customer_id, q->id, c->period, &value, &done_at,
                                         err);
    if (rc == LY_ENOTFOUND) {
        ly_error_clear(err);
        return LY_OK;
    }
    TRY(rc);
    value -= c->value - left;
    if (value < 0) value = 0;
    TRY(ly_db_quest_progress_put(db, c->customer_id, q->id, c->period, value, done_at, now, err));
    ly_quest_contribution upd = *c;
    upd.value = left;
    return ly_db_quest_contribution_put(db, receipt_id, &upd, err);
}

/* The first step of the schedule at or above `weeks`, or NULL past the last. */
static const ly_streak_reward *streakNext(const ly_quests *qs, int64_t weeks)
{
    for (size_t i = 0; i < qs->n_streak; i++)
        if (qs->streak[i].weeks >= weeks) return &qs->streak[i];
    return NULL;
}

/* The streak's step of a receipt on local day `day` (*stepped false when the week already
 * had a deal); with write, stores it and gives the reward of a schedule step reached. */
static ly_err streakReceipt(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                            int64_t customer_id, int64_t day, bool write, ly_time now,
                            ly_arena *a, ly_quest_step *st, bool *stepped, ly_error *err)
{
    const ly_quests *qs = ref->p.quests;
    ly_streak k;
    TRY(ly_db_quest_streak_get(db, customer_id, &k.week, &k.length, &k.best, err));
    int64_t before = ly_streak_current(&k, day);
    *stepped = ly_streak_add(&k, day);
    if (!*stepped) return LY_OK;
    const ly_streak_reward *next = streakNext(qs, k.length);
    bool reached = next && next->weeks == k.length;
    char period[16], start[16];
    ly_period_key(LY_PERIOD_WEEK, day, period, sizeof period);
    ly_period_key(LY_PERIOD_WEEK, k.week - 7 * (k.length - 1), start, sizeof start);
    *st = (ly_quest_step){.quest_id = "streak", .name = "weeks in a row",
                          .period = ly_arena_strdup(a, period), .before = before,
                          .after = k.length, .target = next ? next->weeks : k.length,
                          .completed = reached, .points = next ? next->points : 0,
                          .badge = next && next->badge ? ly_arena_strdup(a, next->badge) : NULL,
                          .xp = next ? next->xp : 0,
                          .coupon = next && next->coupon ? ly_arena_strdup(a, next->coupon) : NULL};
    if (!st->period || (next && next->badge && !st->badge) || (next && next->coupon && !st->coupon))
        return oom(err);
    if (!write) return LY_OK;
    TRY(ly_db_quest_streak_put(db, customer_id, k.week, k.length, k.best, err));
    if (!reached) return LY_OK;
    /* Once per streak and step: the streak is named by the week it started. */
    const char *key = ly_arena_printf(a, "streak:%lld:%s:%lld", (long long)next->weeks, start,
                                      (long long)customer_id);
    if (!key) return oom(err);
    return reward(s, db, ref, "streak", period, key, next->points, next->badge, next->xp,
                  next->coupon, customer_id, now, a, &st->coupon_code, err);
}

/* Whether receipt r has a line the quest counts in a category no other stored receipt of
 * the customer has (docs/quests.md, "New category"). */
static ly_err newCategory(ly_db *db, const ly_quest *q, const ly_receipt *r, int64_t customer_id,
                          bool *fresh, ly_error *err)
{
    *fresh = false;
    for (size_t i = 0; i < r->n_lines && !*fresh; i++) {
        const ly_line *l = &r->lines[i];
        if (!l->category || !*l->category || l->qty <= 0 || !ly_selector_match(&q->lines, l))
            continue;
        bool bought;
        TRY(ly_db_quest_bought_category(db, customer_id, l->category, r->receipt_id, &bought,
                                        err));
        *fresh = !bought;
    }
    return LY_OK;
}

ly_err ly__quests_receipt(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                          int64_t customer_id, const ly_checkout *in, bool write, ly_time now,
                          ly_arena *a, ly_checkout_result *res, ly_error *err)
{
    const ly_program *prog = &ref->p;
    const ly_quests *qs = prog->quests;
    res->quests = NULL;
    res->n_quests = 0;
    res->quests_on = qs && (qs->n_quests || qs->n_streak);
    if (!res->quests_on || customer_id <= 0 || in->no_points) return LY_OK;
    const ly_receipt *r = &in->receipt;
    ly_money *paid = paidOf(r, &res->pricing, a);
    ly_quest_step *steps = ly_arena_alloc(a, (qs->n_quests + 1) * sizeof *steps);
    if (!paid || !steps) return oom(err);
    int64_t day = ly_local_day(&s->cal, r->time);
    audience au;
    bool au_read = false;
    size_t k = 0;
    for (size_t i = 0; i < qs->n_quests; i++) {
        const ly_quest *q = &qs->quests[i];
        if (!ly_quest_runs(q, day) || q->kind == LY_QUEST_ANSWERS || q->kind == LY_QUEST_EVENT ||
            q->kind == LY_QUEST_REFERRALS)
            continue;
        int64_t v = ly_quest_value(q, r->lines, paid, NULL, r->n_lines);
        if (v <= 0) continue;
        if (!au_read) {
            TRY(audienceOf(s, db, prog, customer_id, a, &au, err));
            au_read = true;
        }
        if (!inAudience(q, &au, customer_id)) continue;
        if (q->kind == LY_QUEST_NEW_CATEGORY) {
            bool fresh;
            TRY(newCategory(db, q, r, customer_id, &fresh, err));
            if (!fresh) continue;
        }
        char period[16];
        ly_quest_period_key(q, day, period, sizeof period);
        int64_t before;
        ly_time done_at;
        ly_err rc = ly_db_quest_progress_get(db, customer_id, q->id, period, &before, &done_at, err);
        if (rc != LY_OK && rc != LY_ENOTFOUND) return rc;
        ly_error_clear(err);
        ly_quest_step *st = &steps[k++];
        /* Copies: calculate's result outlives its reference to the program. */
        *st = (ly_quest_step){.quest_id = ly_arena_strdup(a, q->id),
                              .name = ly_arena_strdup(a, q->name),
                              .period = ly_arena_strdup(a, period), .before = before,
                              .after = before + v, .target = q->target, .points = q->points,
                              .badge = q->badge ? ly_arena_strdup(a, q->badge) : NULL,
                              .xp = q->xp,
                              .coupon = q->coupon ? ly_arena_strdup(a, q->coupon) : NULL};
        if (!st->quest_id || !st->name || !st->period || (q->badge && !st->badge) ||
            (q->coupon && !st->coupon))
            return oom(err);
        st->completed = done_at == 0 && st->after >= q->target;
        if (!write) continue;
        TRY(ly_db_quest_progress_put(db, customer_id, q->id, period, st->after,
                                     st->completed ? now : done_at, now, err));
        ly_quest_contribution c = {q->id, period, customer_id, v};
        TRY(ly_db_quest_contribution_put(db, r->receipt_id, &c, err));
        if (st->completed) {
            TRY(rewardQuest(s, db, ref, q, period, customer_id, now, a, &st->coupon_code, err));
        }
    }
    if (qs->n_streak) {
        bool stepped;
        TRY(streakReceipt(s, db, ref, customer_id, day, write, now, a, &steps[k], &stepped, err));
        if (stepped) k++;
    }
    res->quests = steps;
    res->n_quests = k;
    return LY_OK;
}

/* Advances by 1 the customer's running quests of `kind` (those in their audience) whose
 * questionnaire or event type is `name` (NULL: every quest of the kind, as for referrals);
 * with receipt_id the count is that receipt's contribution (countStep). */
static ly_err countOne(ly_service *s, ly_db *db, struct ly_program_ref *ref, int64_t customer_id,
                       ly_quest_kind kind, const char *name, const char *receipt_id, ly_time at,
                       ly_time now, ly_arena *a, ly_error *err);

ly_err ly__quests_answered(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                           int64_t customer_id, const char *questionnaire, ly_time at,
                           ly_time now, ly_arena *a, ly_error *err)
{
    return countOne(s, db, ref, customer_id, LY_QUEST_ANSWERS, questionnaire, NULL, at, now, a,
                    err);
}

ly_err ly__quests_event(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                        int64_t customer_id, const char *type, ly_time at, ly_time now,
                        ly_arena *a, ly_error *err)
{
    return countOne(s, db, ref, customer_id, LY_QUEST_EVENT, type, NULL, at, now, a, err);
}

static ly_err countOne(ly_service *s, ly_db *db, struct ly_program_ref *ref, int64_t customer_id,
                       ly_quest_kind kind, const char *name, const char *receipt_id, ly_time at,
                       ly_time now, ly_arena *a, ly_error *err)
{
    const ly_quests *qs = ref->p.quests;
    if (!qs || customer_id <= 0) return LY_OK;
    int64_t day = ly_local_day(&s->cal, at);
    audience au;
    bool au_read = false;
    for (size_t i = 0; i < qs->n_quests; i++) {
        const ly_quest *q = &qs->quests[i];
        const char *of = kind == LY_QUEST_ANSWERS ? q->questionnaire : q->event_type;
        if (q->kind != kind || (name && strcmp(of, name) != 0) || !ly_quest_runs(q, day)) continue;
        if (!au_read) {
            TRY(audienceOf(s, db, &ref->p, customer_id, a, &au, err));
            au_read = true;
        }
        if (!inAudience(q, &au, customer_id)) continue;
        char period[16];
        ly_quest_period_key(q, day, period, sizeof period);
        TRY(countStep(s, db, ref, q, period, customer_id, receipt_id, now, a, err));
    }
    return LY_OK;
}

ly_err ly__quests_returned(ly_service *s, ly_db *db, const ly_program *prog,
                           const ly_stored_receipt *rcpt, ly_time now, ly_arena *a,
                           ly_error *err)
{
    (void)s;
    const ly_quests *qs = prog->quests;
    if (!qs || !qs->n_quests || !rcpt->customer_id) return LY_OK;
    ly_quest_contribution *c;
    size_t n;
    TRY(ly_db_quest_contributions(db, rcpt->receipt.receipt_id, a, &c, &n, err));
    if (n == 0) return LY_OK;
    const ly_receipt *r = &rcpt->receipt;
    ly_money *paid = paidOf(r, &rcpt->pricing, a);
    if (!paid) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const ly_quest *q = questById(qs, c[i].quest_id);
        /* A quest the program no longer has: its progress no longer matters. A referral
         * quest follows the referral, after rewards.c (ly__quests_referral_returned). */
        if (!q || q->kind == LY_QUEST_REFERRALS) continue;
        int64_t left = ly_quest_value(q, r->lines, paid, rcpt->returned, r->n_lines);
        if (left >= c[i].value) continue;
        TRY(takeBack(db, q, &c[i], left, r->receipt_id, now, err));
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Referral quests (engineer R)
 * ------------------------------------------------------------------------------------- */

static bool hasReferralQuests(const ly_quests *qs)
{
    for (size_t i = 0; qs && i < qs->n_quests; i++)
        if (qs->quests[i].kind == LY_QUEST_REFERRALS) return true;
    return false;
}

ly_err ly__quests_referral_confirmed(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                                     int64_t customer_id, int64_t referrer_id,
                                     const ly_checkout *in, ly_time now, ly_arena *a,
                                     ly_error *err)
{
    const ly_quests *qs = ref->p.quests;
    if (customer_id <= 0 || !referrer_id || !hasReferralQuests(qs)) return LY_OK;
    const ly_receipt *r = &in->receipt;
    /* The referrer as they are now (a merged-away profile counts for its survivor). */
    ly_customer referrer;
    ly_who who = {.customer_id = referrer_id};
    ly_err rc = ly__service_resolve(s, db, &who, a, &referrer, err);
    if (rc == LY_ENOTFOUND) {
        ly_error_clear(err);
        return LY_OK;
    }
    TRY(rc);
    if (referrer.id == customer_id) return LY_OK;
    return countOne(s, db, ref, referrer.id, LY_QUEST_REFERRALS, NULL, r->receipt_id, r->time, now,
                    a, err);
}

ly_err ly__quests_referral_returned(ly_service *s, ly_db *db, const ly_program *prog,
                                    const ly_stored_receipt *rcpt, ly_time now, ly_arena *a,
                                    ly_error *err)
{
    (void)s;
    const ly_quests *qs = prog->quests;
    if (!rcpt->customer_id || !hasReferralQuests(qs)) return LY_OK;
    const char *rid = rcpt->receipt.receipt_id;
    ly_quest_contribution *c;
    size_t n;
    TRY(ly_db_quest_contributions(db, rid, a, &c, &n, err));
    bool read = false, still = false;
    for (size_t i = 0; i < n; i++) {
        const ly_quest *q = questById(qs, c[i].quest_id);
        if (!q || q->kind != LY_QUEST_REFERRALS || c[i].value <= 0) continue;
        if (!read) {
            /* Does the receipt still qualify a referral? rewards.c has just unqualified it
             * if this was a full return before the referral's reward. */
            TRY(ly_db_quest_referral_qualified(db, rid, &still, err));
            read = true;
        }
        if (still) return LY_OK;
        TRY(takeBack(db, q, &c[i], 0, rid, now, err));
    }
    return LY_OK;
}

ly_err ly__quests_coupon_check(ly_service *s, ly_db *db, const uint8_t hash[32],
                               int64_t customer_id, const char *field, ly_error *err)
{
    int64_t owner;
    TRY(ly_db_quest_coupon_owner(db, hash, &owner, err));
    if (owner <= 0) return LY_OK;
    if (customer_id <= 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_customer_required", field,
                            "this code is personal: identify its owner");
    ly_arena a = {0};
    ly_customer c;
    memset(&c, 0, sizeof c);
    ly_who who = {.customer_id = owner};
    ly_err rc = ly__service_resolve(s, db, &who, &a, &c, err);
    int64_t now_owner = c.id;
    ly_arena_free(&a);
    if (rc == LY_ENOTFOUND) {
        ly_error_clear(err);
        now_owner = owner;
    } else if (rc != LY_OK) {
        return rc;
    }
    if (now_owner != customer_id)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_personal", field,
                            "this code is personal to another customer");
    return LY_OK;
}

ly_err ly_service_quests_view(ly_service *s, int64_t customer_id, ly_time now, ly_arena *a,
                              ly_quests_view *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_program *prog = &ref->p;
    const ly_quests *qs = prog->quests;
    ly_err rc = LY_OK;
    if (!qs) goto done;
    out->on = true;
    int64_t day = ly_local_day(&s->cal, now);
    audience au;
    if ((rc = audienceOf(s, db, prog, customer_id, a, &au, err)) != LY_OK) goto done;
    out->quests = ly_arena_alloc(a, (qs->n_quests ? qs->n_quests : 1) * sizeof *out->quests);
    if (!out->quests) {
        rc = oom(err);
        goto done;
    }
    for (size_t i = 0; i < qs->n_quests; i++) {
        const ly_quest *q = &qs->quests[i];
        if (!ly_quest_runs(q, day) || !inAudience(q, &au, customer_id)) continue;
        char period[16];
        ly_quest_period_key(q, day, period, sizeof period);
        ly_quest_view *v = &out->quests[out->n_quests++];
        *v = (ly_quest_view){.id = q->id, .name = q->name,
                             .kind = kindName(q->kind),
                             .period = ly_arena_strdup(a, period), .target = q->target,
                             .deadline_day = ly_quest_deadline(q, day), .points = q->points,
                             .badge = q->badge, .xp = q->xp, .coupon = q->coupon};
        if (!v->period) {
            rc = oom(err);
            goto done;
        }
        rc = ly_db_quest_progress_get(db, customer_id, q->id, period, &v->value,
                                      &v->completed_at, err);
        if (rc == LY_ENOTFOUND) {
            ly_error_clear(err);
            rc = LY_OK;
        }
        if (rc != LY_OK) goto done;
        if (q->coupon && v->completed_at) {
            /* The code of this period's reward, under the reward's key. */
            const char *key = questKey(a, q, period, customer_id);
            ly_quest_coupon qc;
            rc = key ? ly_db_quest_coupon_get(db, key, a, &qc, err) : oom(err);
            if (rc == LY_OK) v->coupon_code = qc.code;
            if (rc == LY_ENOTFOUND) {
                ly_error_clear(err);
                rc = LY_OK;
            }
            if (rc != LY_OK) goto done;
        }
    }
    if ((rc = ly_db_quest_coupons(db, customer_id, a, &out->coupons, &out->n_coupons, err)) != LY_OK)
        goto done;
    if ((rc = ly_db_quest_badges(db, customer_id, a, &out->badges, &out->n_badges, err)) != LY_OK)
        goto done;
    if ((rc = ly_db_quest_xp_get(db, customer_id, &out->xp, err)) != LY_OK) goto done;
    if (qs->n_streak) {
        ly_streak k;
        if ((rc = ly_db_quest_streak_get(db, customer_id, &k.week, &k.length, &k.best, err)) != LY_OK)
            goto done;
        out->has_streak = true;
        out->streak_weeks = ly_streak_current(&k, day);
        out->streak_best = k.best;
        const ly_streak_reward *next = streakNext(qs, out->streak_weeks + 1);
        out->streak_next_weeks = next ? next->weeks : 0;
        out->streak_next_points = next ? next->points : 0;
    }
    long lv = ly_quest_level(qs, out->xp);
    out->has_levels = qs->n_levels > 0;
    if (lv >= 0) {
        out->level_id = qs->levels[lv].id;
        out->level_name = qs->levels[lv].name;
        if ((size_t)lv + 1 < qs->n_levels) {
            out->next_level_id = qs->levels[lv + 1].id;
            out->xp_to_next = qs->levels[lv + 1].xp - out->xp;
        }
    }
    /* Copies: the view may outlive the program version. */
    for (size_t i = 0; i < out->n_quests; i++) {
        ly_quest_view *v = &out->quests[i];
        v->id = ly_arena_strdup(a, v->id);
        v->name = ly_arena_strdup(a, v->name);
        v->badge = v->badge ? ly_arena_strdup(a, v->badge) : NULL;
        v->coupon = v->coupon ? ly_arena_strdup(a, v->coupon) : NULL;
        if (!v->id || !v->name) rc = oom(err);
    }
    if (out->level_id) {
        out->level_id = ly_arena_strdup(a, out->level_id);
        out->level_name = ly_arena_strdup(a, out->level_name);
        if (out->next_level_id) out->next_level_id = ly_arena_strdup(a, out->next_level_id);
    }
done:
    ly__program_release(s, ref);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The figures (loyal quests report)
 * ------------------------------------------------------------------------------------- */

typedef struct dealsOf {
    ly_arena *a;
    int64_t *ids, *deals;
    size_t n, cap;
} dealsOf;

static ly_err collectDeals(void *ctx, int64_t customer_id, int64_t deals, ly_error *err)
{
    dealsOf *d = ctx;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        int64_t *ids = ly_arena_alloc(d->a, cap * sizeof *ids);
        int64_t *dl = ly_arena_alloc(d->a, cap * sizeof *dl);
        if (!ids || !dl) return oom(err);
        if (d->n) {
            memcpy(ids, d->ids, d->n * sizeof *ids);
            memcpy(dl, d->deals, d->n * sizeof *dl);
        }
        d->ids = ids;
        d->deals = dl;
        d->cap = cap;
    }
    d->ids[d->n] = customer_id;
    d->deals[d->n++] = deals;
    return LY_OK;
}

/* The deals of customer id (the list is by id). */
static int64_t dealsFind(const dealsOf *d, int64_t id)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->ids[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < d->n && d->ids[lo] == id ? d->deals[lo] : 0;
}

typedef struct moments {
    int64_t n;
    double sum, sq;
} moments;

static void momentAdd(moments *m, int64_t x)
{
    m->n++;
    m->sum += (double)x;
    m->sq += (double)x * (double)x;
}

static double mean(const moments *m)
{
    return m->n ? m->sum / (double)m->n : 0;
}

/* The variance of the mean (sample variance / n); 0 for fewer than 2. */
static double meanVar(const moments *m)
{
    if (m->n < 2) return 0;
    double mu = mean(m);
    double var = (m->sq - (double)m->n * mu * mu) / (double)(m->n - 1);
    return var > 0 ? var / (double)m->n : 0;
}

static double squareRoot(double x)
{
    /* Newton's iteration: no libm for one square root. */
    if (x <= 0) return 0;
    double r = x > 1 ? x : 1;
    for (int i = 0; i < 60; i++) r = 0.5 * (r + x / r);
    return r;
}

ly_err ly_service_quests_report(ly_service *s, ly_time from, ly_time to, ly_arena *a,
                                ly_quest_figures **out, size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_quests *qs = ref->p.quests;
    ly_err rc = LY_OK;
    size_t nq = qs ? qs->n_quests : 0;
    ly_quest_figures *f = ly_arena_alloc(a, (nq ? nq : 1) * sizeof *f);
    moments *mt = ly_arena_alloc(a, (nq ? nq : 1) * 3 * sizeof *mt);
    dealsOf d = {.a = a};
    if (!f || !mt) {
        rc = oom(err);
        goto done;
    }
    memset(f, 0, (nq ? nq : 1) * sizeof *f);
    memset(mt, 0, (nq ? nq : 1) * 3 * sizeof *mt);
    bool any_compared = false;
    for (size_t i = 0; i < nq && rc == LY_OK; i++) {
        const ly_quest *q = &qs->quests[i];
        f[i].id = ly_arena_strdup(a, q->id);
        f[i].name = ly_arena_strdup(a, q->name);
        if (!f[i].id || !f[i].name) rc = oom(err);
        if (rc == LY_OK)
            rc = ly_db_quest_figures(db, q->id, &f[i].started, &f[i].completed, &f[i].points_cost, err);
        f[i].xp_given = f[i].completed * q->xp;
        bool has_audience = q->tiers.n || q->segments.n || q->club_only;
        f[i].compared = q->holdout_bp > 0 && !has_audience;
        any_compared = any_compared || f[i].compared;
    }
    if (rc == LY_OK && any_compared) rc = ly_db_quest_deals(db, from, to, collectDeals, &d, err);
    /* Every customer not merged away, in pages, into the groups of each compared quest. */
    for (int64_t after = 0; rc == LY_OK && any_compared;) {
        ly_arena page = {0};
        int64_t *ids;
        size_t k;
        rc = ly_db_trigger_customers(db, after, 1000, &page, &ids, &k, err);
        for (size_t j = 0; rc == LY_OK && j < k; j++) {
            int64_t deals = dealsFind(&d, ids[j]);
            for (size_t i = 0; rc == LY_OK && i < nq; i++) {
                if (!f[i].compared) continue;
                const ly_quest *q = &qs->quests[i];
                if (ly_service_quest_held_out(q, ids[j])) {
                    momentAdd(&mt[3 * i + 1], deals);
                    continue;
                }
                momentAdd(&mt[3 * i], deals);
                bool done_it;
                rc = ly_db_quest_completed(db, q->id, ids[j], from, to, &done_it, err);
                if (rc == LY_OK && done_it) momentAdd(&mt[3 * i + 2], deals);
            }
        }
        if (k) after = ids[k - 1];
        ly_arena_free(&page);
        if (k < 1000) break;
    }
    for (size_t i = 0; rc == LY_OK && i < nq; i++) {
        if (!f[i].compared) continue;
        const moments *t = &mt[3 * i], *h = &mt[3 * i + 1], *c = &mt[3 * i + 2];
        f[i].treated_n = t->n;
        f[i].holdout_n = h->n;
        f[i].completers_n = c->n;
        f[i].treated_deals = mean(t);
        f[i].holdout_deals = mean(h);
        f[i].completers_deals = mean(c);
        f[i].uplift = mean(t) - mean(h);
        double se = squareRoot(meanVar(t) + meanVar(h));
        f[i].uplift_lo = f[i].uplift - 1.96 * se;
        f[i].uplift_hi = f[i].uplift + 1.96 * se;
    }
    if (rc == LY_OK) {
        *out = f;
        *n = nq;
    }
done:
    ly__program_release(s, ref);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Merging profiles (engineer G; docs/quests.md, "Merging profiles")
 * ------------------------------------------------------------------------------------- */

ly_err ly__quests_merge_complete(ly_service *s, ly_db *db, struct ly_program_ref *ref,
                                 int64_t customer_id, const char *quest_id, const char *period,
                                 int64_t value, ly_time now, ly_arena *a, ly_error *err)
{
    const ly_quests *qs = ref->p.quests;
    const ly_quest *q = questById(qs, quest_id);
    /* A quest the program no longer has cannot be completed: its target is unknown. */
    if (!q || value < q->target) return LY_OK;
    TRY(ly_db_quest_progress_put(db, customer_id, q->id, period, value, now, now, err));
    return rewardQuest(s, db, ref, q, period, customer_id, now, a, NULL, err);
}
