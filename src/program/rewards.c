/*
 * rewards.c - reads the reward sections of the program file (coupons, referrals, welcome,
 * birthday, events, partners) and the limit and budget of each rule. Same rules as the
 * rest of the file: every key is known, money and percentages are exact decimals, and
 * every error names its path ("coupons[1].uses.per_customer").
 */
#include "program/program_internal.h"
#include "program/rewards.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define CODE_MAX 64

const char *const ly__program_rewards_keys[] = {"coupons", "referrals", "welcome", "birthday",
                                                "events", "partners", NULL};

static ly_arena *memOf(ly_program *p) { return p->mem; }

static ly_err getPeriod(json_t *v, const char *path, ly_period *out, ly_error *err)
{
    if (json_is_string(v) && ly_period_parse(json_string_value(v), out)) return LY_OK;
    return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                        "must be \"day\", \"week\", \"month\", \"year\" or \"ever\"");
}

/* {"from"?, "to"?} local dates, both ends included. */
static ly_err getDates(json_t *v, const char *path, bool *has, int64_t *from, int64_t *to,
                       ly_error *err)
{
    static const char *const keys[] = {"from", "to", NULL};
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    *has = true;
    *from = INT64_MIN / 4;
    *to = INT64_MAX / 4;
    const char *names[2] = {"from", "to"};
    int64_t *outs[2] = {from, to};
    for (int i = 0; i < 2; i++) {
        json_t *x = json_object_get(v, names[i]);
        if (!x) continue;
        if (!json_is_string(x) || !ly_date_parse(json_string_value(x), outs[i])) {
            char f[224];
            snprintf(f, sizeof f, "%s.%s", path, names[i]);
            return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be a date \"YYYY-MM-DD\"");
        }
    }
    if (*from > *to)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "from is after to");
    return LY_OK;
}

/* {"times": N, "per": "month"} into *times, *per. */
static ly_err getTimesPer(json_t *v, const char *path, int64_t *times, ly_period *per,
                          ly_error *err)
{
    static const char *const keys[] = {"times", "per", NULL};
    char f[224];
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    snprintf(f, sizeof f, "%s.times", path);
    TRY(ly__pf_int(json_object_get(v, "times"), f, 1, 1000000, times, err));
    snprintf(f, sizeof f, "%s.per", path);
    return getPeriod(json_object_get(v, "per"), f, per, err);
}

/* ---------------------------------------------------------------------------------------
 * Rules: limit and budget
 * ------------------------------------------------------------------------------------- */

static bool isPointsEffect(const ly_effect *e)
{
    return e->kind == LY_EFFECT_POINTS_PERCENT || e->kind == LY_EFFECT_POINTS_FIXED ||
           e->kind == LY_EFFECT_POINTS_MULTIPLIER ||
           (e->kind == LY_EFFECT_BUNDLE && e->benefit == LY_BUNDLE_POINTS);
}

ly_err ly__program_rule_rewards(json_t *o, const char *rp, ly_program *p, ly_rule *r,
                                ly_error *err)
{
    char path[160];
    json_t *v;
    if ((v = json_object_get(o, "limit"))) {
        snprintf(path, sizeof path, "%s.limit", rp);
        TRY(getTimesPer(v, path, &r->limit_times, &r->limit_per, err));
    }
    if ((v = json_object_get(o, "budget"))) {
        static const char *const keys[] = {"points", "discount", NULL};
        snprintf(path, sizeof path, "%s.budget", rp);
        TRY(ly__pf_need_object(v, path, err));
        TRY(ly__pf_only_keys(v, path, keys, err));
        json_t *pts = json_object_get(v, "points"), *disc = json_object_get(v, "discount");
        bool points = isPointsEffect(&r->effect);
        char f[192];
        if (points) {
            snprintf(f, sizeof f, "%s.points", path);
            if (disc)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "the rule gives points: its budget is in points");
            TRY(ly__pf_int(pts, f, 1, LY_AMOUNT_MAX, &r->budget_points, err));
        } else {
            snprintf(f, sizeof f, "%s.discount", path);
            if (pts)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "the rule gives money off: its budget is in money");
            TRY(ly__pf_decimal(disc, p->minor_units, f, &r->budget_discount, err));
            if (r->budget_discount <= 0 || r->budget_discount > LY_AMOUNT_MAX)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be more than 0");
        }
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Lookups
 * ------------------------------------------------------------------------------------- */

const ly_coupon_campaign *ly_rewards_coupon(const ly_rewards *rw, const char *id)
{
    for (size_t i = 0; rw && id && i < rw->n_coupons; i++)
        if (strcmp(rw->coupons[i].id, id) == 0) return &rw->coupons[i];
    return NULL;
}

const ly_coupon_campaign *ly_rewards_public_code(const ly_rewards *rw, const char *code)
{
    for (size_t i = 0; rw && code && i < rw->n_coupons; i++)
        if (rw->coupons[i].code && strcasecmp(rw->coupons[i].code, code) == 0)
            return &rw->coupons[i];
    return NULL;
}

const ly_event_rule *ly_rewards_event(const ly_rewards *rw, const char *type)
{
    for (size_t i = 0; rw && type && i < rw->n_events; i++)
        if (strcmp(rw->events[i].type, type) == 0) return &rw->events[i];
    return NULL;
}

const ly_partner *ly_rewards_partner(const ly_rewards *rw, const char *id)
{
    for (size_t i = 0; rw && id && i < rw->n_partners; i++)
        if (strcmp(rw->partners[i].id, id) == 0) return &rw->partners[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Sections
 * ------------------------------------------------------------------------------------- */

/* Whether rule r tests the coupon campaign id. */
static bool ruleTestsCoupon(const ly_rule *r, const char *id)
{
    char dotted[96];
    snprintf(dotted, sizeof dotted, "coupon.%s", id);
    for (size_t i = 0; i < r->when.n_facts; i++) {
        const ly_fact_test *t = &r->when.facts[i];
        if (t->absent) continue;
        if (strcmp(t->name, dotted) == 0) return true;
        if (strcmp(t->name, "coupon") == 0 && ly_strset_has(&t->values, id)) return true;
    }
    return false;
}

static bool codeCharsOk(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return false;
    return true;
}

static ly_err parseCoupons(json_t *v, ly_program *p, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "code", "codes", "uses", "valid", NULL};
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", "coupons", "must be a list of campaigns");
    size_t n = json_array_size(v);
    if (n > 10000) return ly_error_set(err, LY_EINVAL, "invalid_value", "coupons", "at most 10000 campaigns");
    ly_coupon_campaign *cs = ly_arena_alloc(memOf(p), (n ? n : 1) * sizeof *cs);
    if (!cs) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char cp[64], f[192];
        snprintf(cp, sizeof cp, "coupons[%zu]", i);
        json_t *o = json_array_get(v, i);
        ly_coupon_campaign *c = &cs[i];
        TRY(ly__pf_need_object(o, cp, err));
        TRY(ly__pf_only_keys(o, cp, keys, err));
        snprintf(f, sizeof f, "%s.id", cp);
        TRY(ly__pf_text(json_object_get(o, "id"), f, 64, memOf(p), &c->id, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(cs[j].id, c->id) == 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the id of coupons[%zu]", c->id, j);
        json_t *x;
        if ((x = json_object_get(o, "name"))) {
            snprintf(f, sizeof f, "%s.name", cp);
            TRY(ly__pf_text(x, f, 512, memOf(p), &c->name, err));
        }
        json_t *code = json_object_get(o, "code"), *codes = json_object_get(o, "codes");
        if ((code != NULL) == (codes != NULL))
            return ly_error_set(err, LY_EINVAL, "invalid_value", cp,
                                "give exactly one of code (one public code) or codes (unique codes)");
        c->prefix = "";
        if (code) {
            snprintf(f, sizeof f, "%s.code", cp);
            const char *s;
            TRY(ly__pf_text(code, f, CODE_MAX, memOf(p), &s, err));
            if (!codeCharsOk(s))
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "letters, digits, '-' and '_' only");
            char *u = (char *)s;
            for (; *u; u++) *u = (char)toupper((unsigned char)*u);
            c->code = s;
            for (size_t j = 0; j < i; j++)
                if (cs[j].code && strcmp(cs[j].code, s) == 0)
                    return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                        "is already the code of coupons[%zu]", j);
            c->per_code = 0;
        } else {
            static const char *const ck[] = {"prefix", NULL};
            snprintf(f, sizeof f, "%s.codes", cp);
            TRY(ly__pf_need_object(codes, f, err));
            TRY(ly__pf_only_keys(codes, f, ck, err));
            if ((x = json_object_get(codes, "prefix"))) {
                snprintf(f, sizeof f, "%s.codes.prefix", cp);
                const char *s;
                TRY(ly__pf_text(x, f, 16, memOf(p), &s, err));
                if (!codeCharsOk(s))
                    return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                        "letters, digits, '-' and '_' only");
                char *u = (char *)s;
                for (; *u; u++) *u = (char)toupper((unsigned char)*u);
                c->prefix = s;
            }
            c->per_code = 1;
        }
        if ((x = json_object_get(o, "uses"))) {
            static const char *const uk[] = {"per_code", "total", "per_customer", NULL};
            snprintf(f, sizeof f, "%s.uses", cp);
            TRY(ly__pf_need_object(x, f, err));
            TRY(ly__pf_only_keys(x, f, uk, err));
            int64_t *outs[3] = {&c->per_code, &c->total, &c->per_customer};
            for (int k = 0; k < 3; k++) {
                json_t *y = json_object_get(x, uk[k]);
                if (!y) continue;
                char g[224];
                snprintf(g, sizeof g, "%s.uses.%s", cp, uk[k]);
                TRY(ly__pf_int(y, g, 0, LY_AMOUNT_MAX, outs[k], err));
            }
        }
        if ((x = json_object_get(o, "valid"))) {
            snprintf(f, sizeof f, "%s.valid", cp);
            TRY(getDates(x, f, &c->has_dates, &c->day_from, &c->day_to, err));
        }
        size_t k = 0;
        size_t *idx = ly_arena_alloc(memOf(p), (p->n_rules ? p->n_rules : 1) * sizeof *idx);
        if (!idx) return ly__pf_oom(err);
        for (size_t r = 0; r < p->n_rules; r++)
            if (ruleTestsCoupon(&p->rules[r], c->id)) idx[k++] = r;
        if (k == 0) {
            snprintf(f, sizeof f, "%s.id", cp);
            return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                "no rule gives this coupon anything: a rule's conditions.facts "
                                "must test {\"name\": \"coupon\", \"equals\": \"%s\"}", c->id);
        }
        c->rules = idx;
        c->n_rules = k;
    }
    rw->coupons = cs;
    rw->n_coupons = n;
    return LY_OK;
}

static ly_err parseReferrals(json_t *v, ly_program *p, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"referrer_points", "newcomer_points", "min_purchase", NULL};
    TRY(ly__pf_need_object(v, "referrals", err));
    TRY(ly__pf_only_keys(v, "referrals", keys, err));
    rw->referrals = true;
    json_t *x;
    if ((x = json_object_get(v, "referrer_points")))
        TRY(ly__pf_int(x, "referrals.referrer_points", 0, LY_AMOUNT_MAX, &rw->referrer_points, err));
    if ((x = json_object_get(v, "newcomer_points")))
        TRY(ly__pf_int(x, "referrals.newcomer_points", 0, LY_AMOUNT_MAX, &rw->newcomer_points, err));
    if (rw->referrer_points + rw->newcomer_points == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "referrals.referrer_points",
                            "referrer_points or newcomer_points must be more than 0");
    if ((x = json_object_get(v, "min_purchase"))) {
        TRY(ly__pf_decimal(x, p->minor_units, "referrals.min_purchase", &rw->referral_min_purchase, err));
        if (rw->referral_min_purchase < 0 || rw->referral_min_purchase > LY_AMOUNT_MAX)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "referrals.min_purchase",
                                "must be 0 or more");
    }
    return LY_OK;
}

static ly_err parseWelcome(json_t *v, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"points", "on", NULL};
    TRY(ly__pf_need_object(v, "welcome", err));
    TRY(ly__pf_only_keys(v, "welcome", keys, err));
    TRY(ly__pf_int(json_object_get(v, "points"), "welcome.points", 1, LY_AMOUNT_MAX,
               &rw->welcome_points, err));
    json_t *on = json_object_get(v, "on");
    if (on) {
        const char *s = json_is_string(on) ? json_string_value(on) : "";
        if (strcmp(s, "consent") == 0) rw->welcome_on_consent = true;
        else if (strcmp(s, "enrolment") != 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "welcome.on",
                                "must be \"enrolment\" or \"consent\"");
    }
    return LY_OK;
}

static ly_err parseBirthday(json_t *v, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"points", "days_before", "days_after", NULL};
    TRY(ly__pf_need_object(v, "birthday", err));
    TRY(ly__pf_only_keys(v, "birthday", keys, err));
    TRY(ly__pf_int(json_object_get(v, "points"), "birthday.points", 1, LY_AMOUNT_MAX,
               &rw->birthday_points, err));
    json_t *x;
    if ((x = json_object_get(v, "days_before")))
        TRY(ly__pf_int(x, "birthday.days_before", 0, 60, &rw->birthday_before, err));
    if ((x = json_object_get(v, "days_after")))
        TRY(ly__pf_int(x, "birthday.days_after", 0, 60, &rw->birthday_after, err));
    return LY_OK;
}

static ly_err parseEvents(json_t *v, ly_program *p, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"type", "name", "points", "cap", "valid", NULL};
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", "events", "must be a list of events");
    size_t n = json_array_size(v);
    if (n > 1000) return ly_error_set(err, LY_EINVAL, "invalid_value", "events", "at most 1000 events");
    ly_event_rule *es = ly_arena_alloc(memOf(p), (n ? n : 1) * sizeof *es);
    if (!es) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char ep[64], f[192];
        snprintf(ep, sizeof ep, "events[%zu]", i);
        json_t *o = json_array_get(v, i), *x;
        ly_event_rule *e = &es[i];
        TRY(ly__pf_need_object(o, ep, err));
        TRY(ly__pf_only_keys(o, ep, keys, err));
        snprintf(f, sizeof f, "%s.type", ep);
        TRY(ly__pf_text(json_object_get(o, "type"), f, 64, memOf(p), &e->type, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(es[j].type, e->type) == 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the type of events[%zu]", e->type, j);
        if ((x = json_object_get(o, "name"))) {
            snprintf(f, sizeof f, "%s.name", ep);
            TRY(ly__pf_text(x, f, 512, memOf(p), &e->name, err));
        }
        snprintf(f, sizeof f, "%s.points", ep);
        TRY(ly__pf_int(json_object_get(o, "points"), f, 1, LY_AMOUNT_MAX, &e->points, err));
        if ((x = json_object_get(o, "cap"))) {
            snprintf(f, sizeof f, "%s.cap", ep);
            TRY(getTimesPer(x, f, &e->cap_times, &e->cap_per, err));
        }
        if ((x = json_object_get(o, "valid"))) {
            snprintf(f, sizeof f, "%s.valid", ep);
            TRY(getDates(x, f, &e->has_dates, &e->day_from, &e->day_to, err));
        }
    }
    rw->events = es;
    rw->n_events = n;
    return LY_OK;
}

static ly_err parsePartners(json_t *v, ly_program *p, ly_rewards *rw, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "earn_rate_percent", "issue_price",
                                       "redeem_price", NULL};
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", "partners", "must be a list of partners");
    size_t n = json_array_size(v);
    if (n > 1000) return ly_error_set(err, LY_EINVAL, "invalid_value", "partners", "at most 1000 partners");
    ly_partner *ps = ly_arena_alloc(memOf(p), (n ? n : 1) * sizeof *ps);
    if (!ps) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char pp[64], f[192];
        snprintf(pp, sizeof pp, "partners[%zu]", i);
        json_t *o = json_array_get(v, i), *x;
        ly_partner *q = &ps[i];
        TRY(ly__pf_need_object(o, pp, err));
        TRY(ly__pf_only_keys(o, pp, keys, err));
        snprintf(f, sizeof f, "%s.id", pp);
        TRY(ly__pf_text(json_object_get(o, "id"), f, 64, memOf(p), &q->id, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(ps[j].id, q->id) == 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the id of partners[%zu]", q->id, j);
        if ((x = json_object_get(o, "name"))) {
            snprintf(f, sizeof f, "%s.name", pp);
            TRY(ly__pf_text(x, f, 512, memOf(p), &q->name, err));
        }
        snprintf(f, sizeof f, "%s.earn_rate_percent", pp);
        TRY(ly__pf_decimal(json_object_get(o, "earn_rate_percent"), 2, f, &q->earn_rate_bp, err));
        if (q->earn_rate_bp < 0 || q->earn_rate_bp > 10000)
            return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be 0..100");
        q->issue_price = q->redeem_price = p->point_value;
        const char *names[2] = {"issue_price", "redeem_price"};
        ly_money *outs[2] = {&q->issue_price, &q->redeem_price};
        for (int k = 0; k < 2; k++) {
            if (!(x = json_object_get(o, names[k]))) continue;
            snprintf(f, sizeof f, "%s.%s", pp, names[k]);
            TRY(ly__pf_decimal(x, p->minor_units, f, outs[k], err));
            if (*outs[k] < 0 || *outs[k] > LY_AMOUNT_MAX)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be 0 or more");
        }
    }
    rw->partners = ps;
    rw->n_partners = n;
    return LY_OK;
}

ly_err ly__program_rewards_parse(json_t *root, ly_program *p, ly_error *err)
{
    p->rewards = NULL;
    bool any = false;
    for (size_t i = 0; ly__program_rewards_keys[i]; i++)
        if (json_object_get(root, ly__program_rewards_keys[i])) any = true;
    if (!any) return LY_OK;
    ly_rewards *rw = ly_arena_alloc(memOf(p), sizeof *rw);
    if (!rw) return ly__pf_oom(err);
    rw->max_coupons = 5;
    json_t *v;
    if ((v = json_object_get(root, "coupons"))) TRY(parseCoupons(v, p, rw, err));
    if ((v = json_object_get(root, "referrals"))) TRY(parseReferrals(v, p, rw, err));
    if ((v = json_object_get(root, "welcome"))) TRY(parseWelcome(v, rw, err));
    if ((v = json_object_get(root, "birthday"))) TRY(parseBirthday(v, rw, err));
    if ((v = json_object_get(root, "events"))) TRY(parseEvents(v, p, rw, err));
    if ((v = json_object_get(root, "partners"))) TRY(parsePartners(v, p, rw, err));
    p->rewards = rw;
    return LY_OK;
}
