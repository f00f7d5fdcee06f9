/*
 * rewards.c - the reward mechanics on top of the rules engine and the ledger: per-customer
 * limits and campaign budgets of rules (through the engine's gate hook), coupons, referrals,
 * the welcome and birthday bonuses, custom events and coalition partners.
 *
 * Everything that consumes something (a rule use, a budget, a coupon) is checked again and
 * recorded inside the confirm's own write job, on the writer's connection: write jobs run
 * one after another, so two confirms can never both take the last use. Bonuses outside
 * purchases are adjustments of kind bonus made with a key of their cause ("welcome:12",
 * "event:E-1", "referral:12:referrer", "birthday:12:2026"), so each is given at most once
 * however often its trigger runs.
 */
#include "service/rewards_internal.h"
#include "program/survey.h"
#include "service/service_internal.h"
#include "os/os.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)
#define CODE_MAX 64
#define UNIQUE_CODE_CHARS 12
#define CODES_MAX 10000
#define MAINTAIN_BATCH 500

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* The local day of instant t in the program's time zone. */
static int64_t localDay(const ly_service *s, ly_time t)
{
    int64_t local = t + (int64_t)s->cal.utc_offset(&s->cal, t) * 60;
    return local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
}

/* ---------------------------------------------------------------------------------------
 * Referral codes
 * ------------------------------------------------------------------------------------- */

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
#define MASK40 ((UINT64_C(1) << 40) - 1)
#define MIX_K1 UINT64_C(0x5DEECE66D)
#define MIX_K2 UINT64_C(0x2545F4914F)

static uint64_t inverseMod40(uint64_t k)
{
    uint64_t x = k; /* Newton's iteration doubles the correct low bits each step */
    for (int i = 0; i < 6; i++) x *= 2 - k * x;
    return x & MASK40;
}

static uint64_t unXorShift(uint64_t y, int s)
{
    uint64_t x = y;
    for (int i = 0; i < 40 / s + 1; i++) x = y ^ (x >> s);
    return x & MASK40;
}

static uint8_t checkByte(uint32_t id)
{
    uint8_t h[32];
    char text[32];
    int n = snprintf(text, sizeof text, "referral:%u", id);
    ly_os_hash(text, (size_t)n, h);
    return h[0];
}

void ly_referral_code(int64_t customer_id, char *buf, size_t size)
{
    if (size == 0) return;
    buf[0] = '\0';
    if (customer_id <= 0 || customer_id > (int64_t)UINT32_MAX || size < 9) return;
    uint64_t x = ((uint64_t)customer_id << 8) | checkByte((uint32_t)customer_id);
    x = (x * MIX_K1) & MASK40;
    x ^= x >> 17;
    x = (x * MIX_K2) & MASK40;
    x ^= x >> 13;
    for (int i = 7; i >= 0; i--) {
        buf[i] = crockford[x & 31];
        x >>= 5;
    }
    buf[8] = '\0';
}

int64_t ly_referral_code_decode(const char *code)
{
    uint64_t x = 0;
    int n = 0;
    for (const char *p = code; p && *p; p++) {
        int c = toupper((unsigned char)*p);
        if (c == '-' || c == ' ') continue;
        if (c == 'O') c = '0';
        if (c == 'I' || c == 'L') c = '1';
        const char *q = strchr(crockford, c);
        if (!q || !c || ++n > 8) return 0;
        x = (x << 5) | (uint64_t)(q - crockford);
    }
    if (n != 8) return 0;
    x = unXorShift(x, 13);
    x = (x * inverseMod40(MIX_K2)) & MASK40;
    x = unXorShift(x, 17);
    x = (x * inverseMod40(MIX_K1)) & MASK40;
    uint32_t id = (uint32_t)(x >> 8);
    if (id == 0 || (uint8_t)(x & 0xff) != checkByte(id)) return 0;
    return id;
}

/* ---------------------------------------------------------------------------------------
 * Bonuses: adjustments of kind bonus under the key of their cause
 * ------------------------------------------------------------------------------------- */

/* Gives `points` to the customer once for `key`, inside the caller's job. *given (may be
 * NULL) says whether this call gave them (false: they had been given before); entry and
 * after (may be NULL) get the entry and the balance. */
static ly_err bonusGive(ly_service *s, ly_db *db, struct ly_program_ref *prog, ly_arena *a,
                        ly_time now, int64_t customer_id, const char *key, ly_points points,
                        const char *note, bool *given, ly_entry *entry, ly_account *after,
                        ly_error *err)
{
    ly_op op;
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_ADJUST;
    op.arena = a;
    op.now = now;
    op.prog_ = prog;
    op.in.adjust = (ly_adjust_request){.adjustment_id = key, .customer_id = customer_id,
                                       .points = points, .kind = LY_ENTRY_BONUS, .note = note};
    /* The key alone makes the request: a second trigger of the same cause is a replay. */
    ly_os_hash(key, strlen(key), op.request_hash);
    ly_err rc = ly_service_apply(s, db, &op);
    if (rc != LY_OK) {
        if (err) *err = op.err;
        return rc;
    }
    if (given) *given = !op.replayed;
    if (entry) *entry = op.replayed ? (ly_entry){0} : op.out.adjust.entry;
    if (after) *after = op.out.adjust.after;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Pricing: coupons and the limits gate
 * ------------------------------------------------------------------------------------- */

/* Upper case, spaces around trimmed. False when empty, too long or not [A-Z0-9_-]. */
static bool normalizeCode(const char *in, char *out, size_t size)
{
    while (*in == ' ' || *in == '\t') in++;
    size_t n = strlen(in);
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t')) n--;
    if (n == 0 || n > CODE_MAX || n >= size) return false;
    for (size_t i = 0; i < n; i++) {
        int c = toupper((unsigned char)in[i]);
        if (!isalnum(c) && c != '-' && c != '_') return false;
        out[i] = (char)c;
    }
    out[n] = '\0';
    return true;
}

static void codeHash(const char *code, uint8_t out[32])
{
    char text[CODE_MAX + 16];
    int n = snprintf(text, sizeof text, "coupon:%s", code);
    ly_os_hash(text, (size_t)n, out);
}

static void dayText(int64_t day, char *buf, size_t size)
{
    ly_date_format(day, buf, size);
}

/* The engine asks before each rule whose conditions hold. */
static void gate(void *ctx, const ly_rule *rule, ly_rule_allowance *out)
{
    ly__rw *rw = ctx;
    if (rw->rc != LY_OK) {
        out->blocked = true;
        out->reason = "the rule's counters could not be read";
        return;
    }
    if (rule->limit_times > 0) {
        if (rw->customer_id <= 0) {
            out->blocked = true;
            out->reason = "the rule is limited per customer: no customer identified";
            return;
        }
        char period[16];
        ly_period_key(rule->limit_per, rw->local_day, period, sizeof period);
        int64_t used = 0;
        rw->rc = ly_db_rule_uses_count(rw->db, rule->id, rw->customer_id, period, &used, &rw->err);
        if (rw->rc != LY_OK) {
            out->blocked = true;
            out->reason = "the rule's counters could not be read";
            return;
        }
        if (used >= rule->limit_times) {
            snprintf(rw->reason, sizeof rw->reason,
                     "limit reached: %lld of %lld time(s) per %s already used",
                     (long long)used, (long long)rule->limit_times, ly_period_name(rule->limit_per));
            out->blocked = true;
            out->reason = rw->reason;
            return;
        }
    }
    if (rule->budget_points > 0 || rule->budget_discount > 0) {
        ly_points pts = 0;
        ly_money money = 0;
        rw->rc = ly_db_rule_budget_get(rw->db, rule->id, &pts, &money, &rw->err);
        if (rw->rc != LY_OK) {
            out->blocked = true;
            out->reason = "the rule's counters could not be read";
            return;
        }
        int64_t left = rule->budget_points > 0 ? rule->budget_points - pts
                                               : rule->budget_discount - money;
        if (left <= 0) {
            out->blocked = true;
            out->reason = "the campaign budget is spent";
            return;
        }
        if (rule->budget_points > 0) out->points_left = left;
        else out->discount_left = left;
    }
}

void ly__rw_earn_rate(const ly_program *prog, const ly_checkout *in, int64_t *rate_bp)
{
    const ly_partner *pt = in->partner ? ly_rewards_partner(prog->rewards, in->partner) : NULL;
    if (pt) *rate_bp = pt->earn_rate_bp;
}

static bool usesLimits(const ly_program *prog)
{
    for (size_t i = 0; i < prog->n_rules; i++)
        if (prog->rules[i].limit_times > 0 || prog->rules[i].budget_points > 0 ||
            prog->rules[i].budget_discount > 0)
            return true;
    return false;
}

/* Checks coupon i of the checkout; fills c. */
static ly_err couponCheck(ly__rw *rw, const ly_checkout *in, size_t i, ly_arena *a,
                          ly__rw_coupon *c, ly_error *err)
{
    char field[32], code[CODE_MAX + 1];
    snprintf(field, sizeof field, "coupons[%zu]", i);
    const ly_rewards *rwp = rw->prog->rewards;
    if (!in->coupons[i] || !normalizeCode(in->coupons[i], code, sizeof code))
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_unknown", field,
                            "no coupon has this code");
    if (!(c->code = ly_arena_strdup(a, code))) return oom(err);
    codeHash(code, c->hash);
    c->campaign = ly_rewards_public_code(rwp, code);
    if (!c->campaign) {
        const char *id;
        ly_err rc = ly_db_coupon_code_find(rw->db, c->hash, a, &id, err);
        if (rc == LY_OK) c->campaign = ly_rewards_coupon(rwp, id);
        else if (rc != LY_ENOTFOUND) return rc;
        ly_error_clear(err);
    }
    if (!c->campaign || (c->campaign->code != NULL && strcmp(c->campaign->code, code) != 0))
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_unknown", field,
                            "no coupon has this code");
    /* A quest reward's personal code: only its owner may use it (quests.c). */
    if (!c->campaign->code) TRY(ly__quests_coupon_check(rw->s, rw->db, c->hash, rw->customer_id,
                                                        field, err));
    const ly_coupon_campaign *cc = c->campaign;
    int64_t day = (in->receipt.time + (int64_t)in->receipt.utc_offset_min * 60);
    day = day >= 0 ? day / 86400 : -((-day + 86399) / 86400);
    char d[16];
    if (cc->has_dates && day < cc->day_from) {
        dayText(cc->day_from, d, sizeof d);
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_not_started", field,
                            "coupon %s is valid from %s", cc->id, d);
    }
    if (cc->has_dates && day > cc->day_to) {
        dayText(cc->day_to, d, sizeof d);
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_expired", field,
                            "coupon %s expired after %s", cc->id, d);
    }
    if (cc->per_customer > 0 && rw->customer_id <= 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_customer_required", field,
                            "coupon %s is limited per customer: identify the customer", cc->id);
    int64_t code_uses, campaign_uses, customer_uses;
    TRY(ly_db_coupon_uses(rw->db, cc->id, c->hash, rw->customer_id, &code_uses, &campaign_uses,
                          &customer_uses, err));
    if (cc->per_code > 0 && code_uses >= cc->per_code)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_used_up", field,
                            "this code has been used %lld time(s), its limit", (long long)code_uses);
    if (cc->total > 0 && campaign_uses >= cc->total)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_used_up", field,
                            "campaign %s has used all its %lld coupons", cc->id, (long long)cc->total);
    if (cc->per_customer > 0 && customer_uses >= cc->per_customer)
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_limit_reached", field,
                            "the customer has used coupon %s %lld time(s), the limit per customer",
                            cc->id, (long long)customer_uses);
    return LY_OK;
}

ly_err ly__rw_before(ly_service *s, const ly_program *prog, ly_db *db, const ly_checkout *in,
                     const ly_customer *customer, ly_arena *a, ly_price_input *pin, ly__rw **out,
                     ly_error *err)
{
    *out = NULL;
    const ly_rewards *rwp = prog->rewards;
    if (in->partner && !ly_rewards_partner(rwp, in->partner))
        return ly_error_set(err, LY_EUNPROCESSABLE, "partner_unknown", "partner",
                            "the program has no partner %s", in->partner);
    if (in->n_coupons && in->no_points)
        return ly_error_set(err, LY_EINVAL, "invalid_field", "coupons",
                            "an imported receipt cannot carry coupons");
    if (in->n_coupons && (!rwp || rwp->n_coupons == 0))
        return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_unknown", "coupons[0]",
                            "the program has no coupons");
    if (rwp && in->n_coupons > (size_t)rwp->max_coupons)
        return ly_error_set(err, LY_EUNPROCESSABLE, "too_many_coupons", "coupons",
                            "at most %lld coupons per receipt", (long long)rwp->max_coupons);
    bool limits = usesLimits(prog);
    if (!in->n_coupons && !limits) return LY_OK;
    ly__rw *rw = ly_arena_alloc(a, sizeof *rw);
    if (!rw) return oom(err);
    rw->s = s;
    rw->prog = prog;
    rw->db = db;
    rw->customer_id = customer ? customer->id : 0;
    rw->local_day = localDay(s, in->receipt.time);
    if (in->n_coupons) {
        rw->coupons = ly_arena_alloc(a, in->n_coupons * sizeof *rw->coupons);
        if (!rw->coupons) return oom(err);
        for (size_t i = 0; i < in->n_coupons; i++) {
            TRY(couponCheck(rw, in, i, a, &rw->coupons[i], err));
            for (size_t j = 0; j < i; j++)
                if (rw->coupons[j].campaign == rw->coupons[i].campaign) {
                    char field[32];
                    snprintf(field, sizeof field, "coupons[%zu]", i);
                    return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_duplicate", field,
                                        "coupons[%zu] is already of campaign %s: one per receipt",
                                        j, rw->coupons[i].campaign->id);
                }
            rw->n_coupons++;
        }
        /* The facts: "coupon" is the first coupon's campaign, "coupon.<id>" each one's. */
        size_t n = pin->n_facts + 1 + rw->n_coupons;
        ly_fact *f = ly_arena_alloc(a, n * sizeof *f);
        if (!f) return oom(err);
        size_t k = 0;
        f[k++] = (ly_fact){"coupon", rw->coupons[0].campaign->id};
        for (size_t i = 0; i < rw->n_coupons; i++) {
            const char *key = ly_arena_printf(a, "coupon.%s", rw->coupons[i].campaign->id);
            if (!key) return oom(err);
            f[k++] = (ly_fact){key, rw->coupons[i].campaign->id};
        }
        for (size_t i = 0; i < pin->n_facts; i++) f[k++] = pin->facts[i];
        pin->facts = f;
        pin->n_facts = k;
    }
    if (limits) {
        pin->gate = gate;
        pin->gate_ctx = rw;
    }
    *out = rw;
    return LY_OK;
}

ly_err ly__rw_after(ly__rw *rw, const ly_checkout *in, ly_arena *a, ly_checkout_result *res,
                    ly_error *err)
{
    (void)in;
    if (!rw) return LY_OK;
    if (rw->rc != LY_OK) {
        if (err) *err = rw->err;
        return rw->rc;
    }
    if (!rw->n_coupons) return LY_OK;
    ly_applied_coupon *ac = ly_arena_alloc(a, rw->n_coupons * sizeof *ac);
    if (!ac) return oom(err);
    const ly_pricing *p = &res->pricing;
    for (size_t i = 0; i < rw->n_coupons; i++) {
        const ly_coupon_campaign *cc = rw->coupons[i].campaign;
        const ly_rule_result *why = NULL;
        bool applied = false;
        for (size_t k = 0; k < cc->n_rules && !applied; k++) {
            size_t at = cc->rules[k];
            if (at >= p->n_rules) continue;
            if (p->rules[at].applied) applied = true;
            else if (!why) why = &p->rules[at];
        }
        if (!applied) {
            char field[32];
            snprintf(field, sizeof field, "coupons[%zu]", i);
            return ly_error_set(err, LY_EUNPROCESSABLE, "coupon_not_applicable", field,
                                "coupon %s does not apply to this receipt%s%s%s%s", cc->id,
                                why ? ": rule " : "", why ? why->rule->id : "",
                                why ? ": " : "", why ? why->reason : "");
        }
        ac[i] = (ly_applied_coupon){rw->coupons[i].code, cc->id};
    }
    res->coupons = ac;
    res->n_coupons = rw->n_coupons;
    return LY_OK;
}

ly_err ly__rw_confirmed(ly_service *s, const ly_program *prog, ly_db *db, ly__rw *rw,
                        const ly_checkout *in, const ly_checkout_result *res, ly_time now,
                        int64_t *referrer, ly_error *err)
{
    (void)s;
    *referrer = 0;
    const ly_receipt *r = &in->receipt;
    const ly_pricing *p = &res->pricing;
    int64_t customer_id = res->customer ? res->customer->id : 0;
    /* Rule uses and budgets: every applied rule that has a limit or a budget. */
    for (size_t k = 0; rw && k < p->n_rules; k++) {
        const ly_rule_result *x = &p->rules[k];
        const ly_rule *rule = x->rule;
        if (!x->applied || (rule->limit_times <= 0 && rule->budget_points <= 0 &&
                            rule->budget_discount <= 0))
            continue;
        char period[16];
        ly_period_key(rule->limit_times > 0 ? rule->limit_per : LY_PERIOD_EVER, rw->local_day,
                      period, sizeof period);
        TRY(ly_db_rule_use_add(db, rule->id, customer_id, period, r->receipt_id, x->points,
                               x->discount, now, err));
    }
    for (size_t i = 0; rw && i < rw->n_coupons; i++)
        TRY(ly_db_coupon_redeem(db, rw->coupons[i].campaign->id, rw->coupons[i].hash, customer_id,
                                r->receipt_id, now, err));
    if (in->partner)
        TRY(ly_db_partner_entry_insert(db, in->partner, r->receipt_id, NULL, now, p->earn,
                                       p->redeem, p->paid, err));
    const ly_rewards *rwp = prog->rewards;
    /* An imported receipt (history) never qualifies a referral. */
    if (customer_id && !in->no_points && rwp && rwp->referrals &&
        r->total >= rwp->referral_min_purchase) {
        ly_referral ref;
        ly_arena a = {0};
        ly_err rc = ly_db_referral_get(db, customer_id, &a, &ref, err);
        bool waiting = rc == LY_OK && !ref.receipt_id && !ref.rewarded_at;
        ly_arena_free(&a);
        if (rc != LY_OK && rc != LY_ENOTFOUND) return rc;
        ly_error_clear(err);
        /* The reward waits for the end of the receipt's return window. */
        if (waiting) {
            TRY(ly_db_referral_qualify(db, customer_id, r->receipt_id,
                                       res->points_active_at > r->time ? res->points_active_at
                                                                       : r->time,
                                       err));
            *referrer = ref.referrer;
        }
    }
    return LY_OK;
}

ly_err ly__rw_returned(ly_service *s, const ly_program *prog, ly_db *db,
                       const ly_stored_receipt *rcpt, const ly_stored_return *ret, ly_time now,
                       ly_error *err)
{
    (void)s;
    (void)prog;
    const char *rid = rcpt->receipt.receipt_id;
    ly_arena a = {0};
    const char *partner;
    ly_err rc = ly_db_partner_of_receipt(db, rid, &a, &partner, err);
    if (rc == LY_OK)
        rc = ly_db_partner_entry_insert(db, partner, rid, ret->return_id, now, -ret->points_taken,
                                        -ret->points_refunded, -ret->amount, err);
    else if (rc == LY_ENOTFOUND) {
        rc = LY_OK;
        ly_error_clear(err);
    }
    ly_arena_free(&a);
    TRY(rc);
    for (size_t i = 0; i < rcpt->receipt.n_lines; i++)
        if (rcpt->returned[i] < rcpt->receipt.lines[i].qty) return LY_OK; /* not all back yet */
    TRY(ly_db_rule_uses_return(db, rid, NULL, err));
    TRY(ly_db_coupon_redemptions_return(db, rid, NULL, err));
    return ly_db_referral_unqualify(db, rid, NULL, err);
}

/* ---------------------------------------------------------------------------------------
 * Enrolment and profile changes
 * ------------------------------------------------------------------------------------- */

ly_err ly__rw_enrol_check(ly_service *s, const ly_program *prog, ly_db *db,
                          const ly_profile *p, int64_t *referrer, ly_error *err)
{
    *referrer = 0;
    if (!p->referral_code) return LY_OK;
    if (!prog->rewards || !prog->rewards->referrals)
        return ly_error_set(err, LY_EUNPROCESSABLE, "referrals_not_offered", "referral_code",
                            "the program has no referrals");
    int64_t id = ly_referral_code_decode(p->referral_code);
    ly_customer c;
    ly_arena a = {0};
    ly_who who = {.customer_id = id};
    ly_err rc = id > 0 ? ly__service_resolve(s, db, &who, &a, &c, err) : LY_ENOTFOUND;
    if (rc == LY_OK) *referrer = c.id;
    ly_arena_free(&a);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_EUNPROCESSABLE, "referral_code_unknown", "referral_code",
                            "no member has this referral code");
    TRY(rc);
    /* Self-referral: an identifier of the newcomer is already the referrer's. */
    for (size_t i = 0; i < p->n_ids; i++) {
        const ly_identifier *x = &p->ids[i];
        if (!x->value || !*x->value) continue;
        char norm[300];
        if (ly_id_normalize(x->kind, x->value, s->phone_country, s->phone_trunk, norm,
                            sizeof norm, NULL) != LY_OK)
            continue; /* applyIds reports it */
        int64_t owner = 0;
        rc = ly_db_customer_find(db, x->kind, norm, &owner, err);
        if (rc == LY_ENOTFOUND) {
            ly_error_clear(err);
            continue;
        }
        TRY(rc);
        ly_customer oc;
        ly_who ow = {.customer_id = owner};
        rc = ly__service_resolve(s, db, &ow, &a, &oc, err);
        owner = rc == LY_OK ? oc.id : owner;
        ly_arena_free(&a);
        ly_error_clear(err);
        if (owner == *referrer)
            return ly_error_set(err, LY_EUNPROCESSABLE, "self_referral", "referral_code",
                                "the newcomer's %s is the referrer's own: a member cannot refer "
                                "themselves", ly_id_kind_name(x->kind));
    }
    return LY_OK;
}

static bool anyConsent(const ly_customer *c)
{
    for (int ch = 0; ch < LY_CH_COUNT; ch++)
        if (c->consent[ch].state > 0) return true;
    return false;
}

static ly_err welcomeMaybe(ly_service *s, ly_op *op, ly_db *db, int64_t customer_id,
                           bool enrolling, ly_error *err)
{
    const ly_rewards *rwp = op->prog_ ? op->prog_->p.rewards : NULL;
    if (!rwp || rwp->welcome_points <= 0) return LY_OK;
    if (!rwp->welcome_on_consent && !enrolling) return LY_OK;
    if (rwp->welcome_on_consent) {
        ly_customer c;
        TRY(ly_db_customer_get(db, customer_id, op->arena, &c, err));
        if (!anyConsent(&c)) return LY_OK;
    }
    const char *key = ly_arena_printf(op->arena, "welcome:%lld", (long long)customer_id);
    if (!key) return oom(err);
    return bonusGive(s, db, op->prog_, op->arena, op->now, customer_id, key, rwp->welcome_points,
                     rwp->welcome_on_consent ? "welcome bonus (marketing consent)"
                                             : "welcome bonus (enrolment)",
                     NULL, NULL, NULL, err);
}

ly_err ly__rw_enrolled(ly_service *s, ly_op *op, ly_db *db, int64_t customer_id,
                       int64_t referrer, ly_error *err)
{
    if (referrer) TRY(ly_db_referral_insert(db, customer_id, referrer, op->now, err));
    return welcomeMaybe(s, op, db, customer_id, true, err);
}

ly_err ly__rw_profile_changed(ly_service *s, ly_op *op, ly_db *db, int64_t customer_id,
                              ly_error *err)
{
    return welcomeMaybe(s, op, db, customer_id, false, err);
}

/* ---------------------------------------------------------------------------------------
 * Custom events
 * ------------------------------------------------------------------------------------- */

ly_err ly__rw_op_event(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    const ly_event_request *in = &op->in.event;
    ly_event_result *out = &op->out.event;
    memset(out, 0, sizeof *out);
    if (!in->event_id || !*in->event_id)
        return ly_error_set(err, LY_EINVAL, "missing_field", "event_id", "is required");
    ly_stored_event prior;
    ly_err rc = ly_db_event_find(db, in->event_id, op->arena, &prior, err);
    if (rc == LY_OK) {
        if (!ly__op_replay(op, prior.request_hash, 201, prior.response))
            return ly_error_set(err, LY_ECONFLICT, "event_conflict", "event_id",
                                "event %s was already recorded with different contents",
                                in->event_id);
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    const ly_program *prog = &op->prog_->p;
    const ly_event_rule *ev = ly_rewards_event(prog->rewards, in->type);
    if (!ev)
        return ly_error_set(err, LY_EUNPROCESSABLE, "event_type_unknown", "type",
                            "the program has no event %s", in->type ? in->type : "");
    if (in->touchpoint && !ly_survey_touchpoint(prog->survey, in->touchpoint))
        return ly_error_set(err, LY_EUNPROCESSABLE, "touchpoint_unknown", "touchpoint",
                            "the program has no touchpoint %s", in->touchpoint);
    ly_customer c;
    TRY(ly__service_resolve(s, db, &in->who, op->arena, &c, err));
    out->customer_id = c.id;
    out->type = ev->type;
    out->time = in->time ? in->time : op->now;
    out->after = c.account;
    int64_t day = localDay(s, out->time);
    char period[16];
    ly_period_key(ev->cap_times > 0 ? ev->cap_per : LY_PERIOD_EVER, day, period, sizeof period);
    if (ev->has_dates && (day < ev->day_from || day > ev->day_to)) {
        out->refused = "valid";
        snprintf(out->reason, sizeof out->reason, "the event gives points only within its dates");
    } else if (ev->cap_times > 0) {
        int64_t n = 0;
        TRY(ly_db_event_count(db, c.id, ev->type, period, &n, err));
        if (n >= ev->cap_times) {
            out->refused = "cap";
            snprintf(out->reason, sizeof out->reason, "cap reached: %lld of %lld per %s",
                     (long long)n, (long long)ev->cap_times, ly_period_name(ev->cap_per));
        }
    }
    if (!out->refused) {
        const char *key = ly_arena_printf(op->arena, "event:%s", in->event_id);
        const char *note = ly_arena_printf(op->arena, "event %s%s%s", ev->type,
                                           in->note ? ": " : "", in->note ? in->note : "");
        if (!key || !note) return oom(err);
        bool given = false;
        TRY(bonusGive(s, db, op->prog_, op->arena, op->now, c.id, key, ev->points, note, &given,
                      &out->entry, &out->after, err));
        out->points = given ? ev->points : 0;
    }
    op->status = 201;
    op->response = op->render ? op->render(op) : NULL;
    if (op->render && !op->response) return oom(err);
    ly_stored_event se = {.event_id = in->event_id, .customer_id = c.id, .type = ev->type,
                          .period = period, .at = out->time, .points = out->points,
                          .response = op->response, .created_at = op->now};
    memcpy(se.request_hash, op->request_hash, 32);
    TRY(ly_db_event_insert(db, &se, err));
    /* In this job: an "event" quest's progress commits with the event (quests.c). */
    TRY(ly__quests_event(s, db, op->prog_, c.id, ev->type, out->time, op->now, op->arena, err));
    return in->touchpoint ? ly_db_event_touchpoint_put(db, in->event_id, in->touchpoint, err)
                          : LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Unique coupon codes
 * ------------------------------------------------------------------------------------- */

/* 30 letters and digits without the look-alikes 0/O, 1/I/L and U: 12 of them carry 59 bits. */
static const char codeAlphabet[] = "ABCDEFGHJKMNPQRSTVWXYZ23456789";

ly_err ly__rw_op_coupon_codes(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    (void)s;
    const ly_coupon_codes_request *in = &op->in.codes;
    const ly_program *prog = &op->prog_->p;
    const ly_coupon_campaign *cc = ly_rewards_coupon(prog->rewards, in->campaign);
    if (!cc)
        return ly_error_set(err, LY_ENOTFOUND, "coupon_campaign_not_found", "id",
                            "the program has no coupon campaign %s", in->campaign ? in->campaign : "");
    if (cc->code)
        return ly_error_set(err, LY_EUNPROCESSABLE, "public_code_campaign", "id",
                            "campaign %s has one public code; it has no unique codes", cc->id);
    if (in->count < 1 || in->count > CODES_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "count", "must be 1 to %d", CODES_MAX);
    TRY(ly_db_coupon_batch_insert(db, cc->id, in->batch, in->count, op->now, err));
    const char **codes = ly_arena_alloc(op->arena, (size_t)in->count * sizeof *codes);
    if (!codes) return oom(err);
    size_t plen = strlen(cc->prefix);
    for (int64_t i = 0; i < in->count; i++) {
        for (;;) {
            char *c = ly_arena_alloc(op->arena, plen + UNIQUE_CODE_CHARS + 1);
            if (!c) return oom(err);
            memcpy(c, cc->prefix, plen);
            for (int k = 0; k < UNIQUE_CODE_CHARS; k++)
                c[plen + (size_t)k] = codeAlphabet[randombytes_uniform(sizeof codeAlphabet - 1)];
            c[plen + UNIQUE_CODE_CHARS] = '\0';
            uint8_t h[32];
            codeHash(c, h);
            ly_err rc = ly_db_coupon_code_insert(db, h, cc->id, in->batch, op->now, err);
            if (rc == LY_ECONFLICT) { /* 2^-59 per pair: draw again */
                ly_error_clear(err);
                continue;
            }
            TRY(rc);
            codes[i] = c;
            break;
        }
    }
    op->out.codes.codes = codes;
    op->out.codes.n = (size_t)in->count;
    op->status = 201;
    op->response = op->render ? op->render(op) : NULL;
    if (op->render && !op->response) return oom(err);
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------------------- */

ly_err ly_service_referrals(ly_service *s, int64_t customer_id, size_t limit, ly_arena *a,
                            ly_referral_stats *stats, ly_referral **list, size_t *n,
                            ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_customer c;
    ly_who who = {.customer_id = customer_id};
    TRY(ly__service_resolve(s, db, &who, a, &c, err));
    return ly_db_referral_stats(db, c.id, limit, a, stats, list, n, err);
}

ly_err ly_service_coupon_stats(ly_service *s, const char *campaign, ly_coupon_stats *out,
                               ly_error *err)
{
    ly_arena a = {0};
    ly_coupon_view v;
    ly_err rc = ly_service_coupon_get(s, campaign, &a, &v, err);
    if (rc == LY_OK) *out = v.stats;
    ly_arena_free(&a);
    return rc;
}

ly_err ly_service_coupon_get(ly_service *s, const char *campaign, ly_arena *a, ly_coupon_view *out,
                             ly_error *err)
{
    memset(out, 0, sizeof *out);
    struct ly_program_ref *ref = ly__program_acquire(s);
    const ly_coupon_campaign *cc = ly_rewards_coupon(ref->p.rewards, campaign);
    ly_err rc = LY_OK;
    if (!cc) {
        rc = ly_error_set(err, LY_ENOTFOUND, "coupon_campaign_not_found", "id",
                          "the program has no coupon campaign %s", campaign ? campaign : "");
    } else {
        /* Copies: the version may be replaced once the reference is dropped. */
        out->id = ly_arena_strdup(a, cc->id);
        out->name = ly_arena_strdup(a, cc->name);
        out->code = ly_arena_strdup(a, cc->code);
        out->prefix = ly_arena_strdup(a, cc->prefix);
        out->per_code = cc->per_code;
        out->total = cc->total;
        out->per_customer = cc->per_customer;
        out->has_dates = cc->has_dates;
        out->day_from = cc->day_from;
        out->day_to = cc->day_to;
        if (!out->id || !out->prefix || (cc->name && !out->name) || (cc->code && !out->code))
            rc = oom(err);
    }
    ly__program_release(s, ref);
    if (rc != LY_OK) return rc;
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    return ly_db_coupon_stats(db, out->id, &out->stats, err);
}

bool ly_service_referrals_offered(ly_service *s)
{
    struct ly_program_ref *ref = ly__program_acquire(s);
    bool on = ref->p.rewards && ref->p.rewards->referrals;
    ly__program_release(s, ref);
    return on;
}

/* ---------------------------------------------------------------------------------------
 * Scheduled rewards
 * ------------------------------------------------------------------------------------- */

/* A scheduled reward run over due customers, a page of ids at a time: `page` lists the next
 * ids after `after` (reader), `step` rewards one of them inside the page's write transaction
 * and adds what it gave to j->given. Each step gets a fresh arena. */
typedef struct batchJob batchJob;
typedef ly_err (*batchPageFn)(ly_db *db, const batchJob *j, int64_t after, ly_arena *a,
                              int64_t **ids, size_t *n, ly_error *err);
typedef ly_err (*batchStepFn)(batchJob *j, ly_db *db, int64_t id, ly_arena *a, ly_error *err);

struct batchJob {
    ly_service *s;
    struct ly_program_ref *prog;
    const int64_t *ids;
    size_t n;
    ly_time now;
    int year;          /* birthdays: the year of the birthday */
    const char *mmdd;  /* birthdays: the birth date the page lists */
    batchStepFn step;
    int64_t given;
};

/* The write transaction of one page: step over its ids until one fails. */
static ly_err runBatch(ly_db *db, void *ctx, ly_error *err)
{
    batchJob *j = ctx;
    ly_arena a = {0};
    ly_err rc = LY_OK;
    j->given = 0;
    for (size_t i = 0; i < j->n && rc == LY_OK; i++) {
        rc = j->step(j, db, j->ids[i], &a, err);
        ly_arena_free(&a);
    }
    ly_arena_free(&a);
    return rc;
}

/* Pages through the due ids (job's s, prog, now, year and mmdd set by the caller), one write
 * transaction a page; *given adds what the steps gave. */
static ly_err runInBatches(batchJob *job, batchPageFn page, int64_t *given, ly_error *err)
{
    int64_t after = 0;
    for (;;) {
        ly_db *db = ly_store_reader(job->s->store, err);
        if (!db) return LY_EIO;
        ly_arena a = {0};
        int64_t *ids;
        size_t n;
        ly_err rc = page(db, job, after, &a, &ids, &n, err);
        if (rc != LY_OK || n == 0) {
            ly_arena_free(&a);
            return rc;
        }
        job->ids = ids;
        job->n = n;
        rc = ly_store_write(job->s->store, runBatch, job, err);
        after = ids[n - 1];
        ly_arena_free(&a);
        TRY(rc);
        *given += job->given;
    }
}

static ly_err referralsPage(ly_db *db, const batchJob *j, int64_t after, ly_arena *a,
                            int64_t **ids, size_t *n, ly_error *err)
{
    return ly_db_referrals_due(db, j->now, after, MAINTAIN_BATCH, a, ids, n, err);
}

/* Rewards one referral that has come due (both sides' points), once. */
static ly_err referralStep(batchJob *j, ly_db *db, int64_t id, ly_arena *a, ly_error *err)
{
    const ly_rewards *rwp = j->prog->p.rewards;
    ly_referral ref;
    ly_err rc = ly_db_referral_get(db, id, a, &ref, err);
    if (rc != LY_OK || ref.rewarded_at || !ref.due_at || ref.due_at > j->now) return rc;
    char key[64];
    if (rwp->referrer_points > 0) {
        snprintf(key, sizeof key, "referral:%lld:referrer", (long long)ref.referee);
        rc = bonusGive(j->s, db, j->prog, a, j->now, ref.referrer, key, rwp->referrer_points,
                       "referral reward: a friend's first purchase", NULL, NULL, NULL, err);
    }
    if (rc == LY_OK && rwp->newcomer_points > 0) {
        snprintf(key, sizeof key, "referral:%lld:newcomer", (long long)ref.referee);
        rc = bonusGive(j->s, db, j->prog, a, j->now, ref.referee, key, rwp->newcomer_points,
                       "referral reward: joined on a friend's invitation", NULL, NULL, NULL, err);
    }
    if (rc == LY_OK)
        rc = ly_db_referral_rewarded(db, ref.referee, j->now, rwp->referrer_points,
                                     rwp->newcomer_points, err);
    if (rc == LY_OK) j->given++;
    return rc;
}

static ly_err maintainReferrals(ly_service *s, struct ly_program_ref *prog, ly_time now,
                                ly_maintain_result *out, ly_error *err)
{
    batchJob j = {.s = s, .prog = prog, .now = now, .step = referralStep};
    return runInBatches(&j, referralsPage, &out->referrals_rewarded, err);
}

static ly_err birthdaysPage(ly_db *db, const batchJob *j, int64_t after, ly_arena *a,
                            int64_t **ids, size_t *n, ly_error *err)
{
    return ly_db_birthday_candidates(db, j->mmdd, j->year, after, MAINTAIN_BATCH, a, ids, n, err);
}

/* Gives one customer the birthday bonus of j->year, once. */
static ly_err birthdayStep(batchJob *j, ly_db *db, int64_t id, ly_arena *a, ly_error *err)
{
    char key[64], note[48];
    snprintf(key, sizeof key, "birthday:%lld:%d", (long long)id, j->year);
    snprintf(note, sizeof note, "birthday bonus %d", j->year);
    bool given = false;
    ly_err rc = bonusGive(j->s, db, j->prog, a, j->now, id, key,
                          j->prog->p.rewards->birthday_points, note, &given, NULL, NULL, err);
    j->given += given;
    return rc;
}

/* The customers whose birthday (born on mmdd) falls on a day of `year` whose window holds
 * today. */
static ly_err birthdaysOn(ly_service *s, struct ly_program_ref *prog, const char *mmdd, int year,
                          ly_time now, ly_maintain_result *out, ly_error *err)
{
    batchJob j = {.s = s, .prog = prog, .now = now, .year = year, .mmdd = mmdd,
                  .step = birthdayStep};
    return runInBatches(&j, birthdaysPage, &out->birthday_bonuses, err);
}

static bool leapYear(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static ly_err maintainBirthdays(ly_service *s, struct ly_program_ref *prog, ly_time now,
                                ly_maintain_result *out, ly_error *err)
{
    const ly_rewards *rwp = prog->p.rewards;
    int64_t today = localDay(s, now);
    /* A birthday B gives the bonus on the days B - days_before .. B + days_after. */
    for (int64_t b = today - rwp->birthday_after; b <= today + rwp->birthday_before; b++) {
        int y;
        unsigned m, d;
        ly_civil_from_days(b, &y, &m, &d);
        char mmdd[8];
        snprintf(mmdd, sizeof mmdd, "%02u-%02u", m, d);
        TRY(birthdaysOn(s, prog, mmdd, y, now, out, err));
        /* Born on 29 February: the 28th in the years without one. */
        if (m == 2 && d == 28 && !leapYear(y)) TRY(birthdaysOn(s, prog, "02-29", y, now, out, err));
    }
    return LY_OK;
}

ly_err ly__rw_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err)
{
    struct ly_program_ref *prog = ly__program_acquire(s);
    const ly_rewards *rwp = prog->p.rewards;
    ly_err rc = LY_OK;
    if (rwp && rwp->referrals) rc = maintainReferrals(s, prog, now, out, err);
    if (rc == LY_OK && rwp && rwp->birthday_points > 0) rc = maintainBirthdays(s, prog, now, out, err);
    ly__program_release(s, prog);
    return rc;
}
