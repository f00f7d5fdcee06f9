/*
 * tiers.c - reads the "tiers" and "club" sections of the program file into the core's
 * ly_tiers (docs/program.md, "Tiers" and "The club"). Like the rest of the file: every key
 * is known, money is a decimal string or an integer, and each error names its path.
 */
#include "program/program_internal.h"

#include <stdio.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define LEVELS_MAX 20
#define BENEFITS_MAX 50
#define DAYS_MAX 3660

static ly_err getInt(json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out,
                     ly_error *err)
{
    if (!json_is_integer(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be an integer");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be between %lld and %lld",
                            (long long)lo, (long long)hi);
    *out = x;
    return LY_OK;
}

/* A decimal as a string ("2.5") or an integer, at scale, in 0..max. */
static ly_err getDecimal(json_t *v, int scale, int64_t max, const char *path, int64_t *out,
                         ly_error *err)
{
    int64_t m = 1;
    for (int i = 0; i < scale; i++) m *= 10;
    bool ok = false;
    if (json_is_integer(v)) {
        int64_t x = json_integer_value(v);
        if (x >= 0 && x <= max / m) {
            *out = x * m;
            ok = true;
        }
    } else if (json_is_string(v)) {
        ok = ly_decimal_parse(json_string_value(v), scale, out) && *out >= 0 && *out <= max;
    }
    if (ok) return LY_OK;
    return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                        "must be a decimal written as a string (\"2.5\") or an integer, at most "
                        "%d digits after the point, not negative", scale);
}

static bool ruleExists(const ly_program *p, const char *id)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].id, id) == 0) return true;
    return false;
}

/* [{"id", "name", "text"?, "rule"?}] */
static ly_err getBenefits(json_t *v, const char *path, ly_program *p, const ly_benefit **out,
                          size_t *n_out, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "text", "rule", NULL};
    void *room;
    size_t n;
    TRY(ly__pf_list(v, path, "benefits", BENEFITS_MAX, sizeof(ly_benefit), p->mem, &room, &n, err));
    ly_benefit *b = room;
    for (size_t i = 0; i < n; i++) {
        char q[160], f[192];
        json_t *o;
        TRY(ly__pf_item(v, path, i, keys, q, sizeof q, &o, err));
        snprintf(f, sizeof f, "%s.id", q);
        TRY(ly__pf_text(json_object_get(o, "id"), f, 64, p->mem, &b[i].id, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(b[j].id, b[i].id) == 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the id of %s[%zu]", b[i].id, path, j);
        snprintf(f, sizeof f, "%s.name", q);
        TRY(ly__pf_text(json_object_get(o, "name"), f, 200, p->mem, &b[i].name, err));
        json_t *x;
        if ((x = json_object_get(o, "text"))) {
            snprintf(f, sizeof f, "%s.text", q);
            TRY(ly__pf_text(x, f, 2000, p->mem, &b[i].text, err));
        }
        if ((x = json_object_get(o, "rule"))) {
            snprintf(f, sizeof f, "%s.rule", q);
            TRY(ly__pf_text(x, f, 64, p->mem, &b[i].rule, err));
            if (!ruleExists(p, b[i].rule))
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "no rule has the id \"%s\"", b[i].rule);
        }
    }
    *out = b;
    *n_out = n;
    return LY_OK;
}

static ly_err parseLevel(json_t *o, size_t i, ly_program *p, ly_tier *t, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "min_spend", "min_receipts", "match",
                                       "earn", "benefits", NULL};
    char q[64], f[128];
    snprintf(q, sizeof q, "tiers.levels[%zu]", i);
    TRY(ly__pf_need_object(o, q, err));
    TRY(ly__pf_only_keys(o, q, keys, err));
    memset(t, 0, sizeof *t);
    t->need_all = true;
    snprintf(f, sizeof f, "%s.id", q);
    TRY(ly__pf_text(json_object_get(o, "id"), f, 64, p->mem, &t->id, err));
    snprintf(f, sizeof f, "%s.name", q);
    json_t *v = json_object_get(o, "name");
    if (v) TRY(ly__pf_text(v, f, 200, p->mem, &t->name, err));
    else t->name = t->id;
    if ((v = json_object_get(o, "min_spend"))) {
        snprintf(f, sizeof f, "%s.min_spend", q);
        TRY(getDecimal(v, p->minor_units, LY_AMOUNT_MAX, f, &t->min_spend, err));
    }
    if ((v = json_object_get(o, "min_receipts"))) {
        snprintf(f, sizeof f, "%s.min_receipts", q);
        TRY(getInt(v, f, 0, 1000000, &t->min_receipts, err));
    }
    if ((v = json_object_get(o, "match"))) {
        snprintf(f, sizeof f, "%s.match", q);
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "any") == 0) t->need_all = false;
        else if (strcmp(s, "all") != 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be \"all\" or \"any\"");
    }
    if ((v = json_object_get(o, "earn"))) {
        static const char *const ek[] = {"rate_percent", "extra_percent", NULL};
        snprintf(f, sizeof f, "%s.earn", q);
        TRY(ly__pf_need_object(v, f, err));
        TRY(ly__pf_only_keys(v, f, ek, err));
        json_t *rate = json_object_get(v, "rate_percent"), *extra = json_object_get(v, "extra_percent");
        if ((rate != NULL) == (extra != NULL))
            return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                "give one of rate_percent (replaces earn.rate_percent) or "
                                "extra_percent (adds to it)");
        snprintf(f, sizeof f, "%s.earn.%s", q, rate ? "rate_percent" : "extra_percent");
        TRY(getDecimal(rate ? rate : extra, 2, 10000, f, &t->earn_bp, err));
        t->earn = rate ? LY_TIER_EARN_REPLACE : LY_TIER_EARN_ADD;
    }
    if ((v = json_object_get(o, "benefits"))) {
        snprintf(f, sizeof f, "%s.benefits", q);
        TRY(getBenefits(v, f, p, &t->benefits, &t->n_benefits, err));
    }
    return LY_OK;
}

static ly_err parseTiers(json_t *o, ly_program *p, ly_tiers *t, ly_error *err)
{
    static const char *const keys[] = {"period", "window_days", "grace_days", "levels", NULL};
    TRY(ly__pf_need_object(o, "tiers", err));
    TRY(ly__pf_only_keys(o, "tiers", keys, err));
    t->period = LY_TIER_ROLLING;
    t->window_days = 180;
    json_t *v = json_object_get(o, "period");
    if (v) {
        static const char *const names[] = {"rolling", "month", "quarter", "year"};
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        int k = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(s, names[i]) == 0) k = i;
        if (k < 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "tiers.period",
                                "must be \"rolling\", \"month\", \"quarter\" or \"year\"");
        t->period = (ly_tier_period)k;
    }
    int64_t x;
    if ((v = json_object_get(o, "window_days"))) {
        if (t->period != LY_TIER_ROLLING)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "tiers.window_days",
                                "only a rolling period has a window; a calendar period is its "
                                "month, quarter or year");
        TRY(getInt(v, "tiers.window_days", 1, DAYS_MAX, &x, err));
        t->window_days = (int)x;
    }
    if ((v = json_object_get(o, "grace_days"))) {
        TRY(getInt(v, "tiers.grace_days", 0, DAYS_MAX, &x, err));
        t->grace_days = (int)x;
    }
    v = json_object_get(o, "levels");
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, v ? "invalid_type" : "missing_field", "tiers.levels",
                            v ? "must be a list of tiers, lowest first" : "is required");
    size_t n = json_array_size(v);
    if (n < 1 || n > LEVELS_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "tiers.levels",
                            "must list 1 to %d tiers", LEVELS_MAX);
    ly_tier *levels = ly_arena_alloc(p->mem, n * sizeof *levels);
    if (!levels) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        TRY(parseLevel(json_array_get(v, i), i, p, &levels[i], err));
        char f[64];
        for (size_t j = 0; j < i; j++)
            if (strcmp(levels[j].id, levels[i].id) == 0) {
                snprintf(f, sizeof f, "tiers.levels[%zu].id", i);
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the id of tiers.levels[%zu]", levels[i].id, j);
            }
        const ly_tier *cur = &levels[i];
        snprintf(f, sizeof f, "tiers.levels[%zu]", i);
        if (i == 0) {
            if (cur->min_spend || cur->min_receipts)
                return ly_error_set(err, LY_EINVAL, "invalid_value", "tiers.levels[0]",
                                    "the first tier is every customer's: it has no min_spend or "
                                    "min_receipts");
            continue;
        }
        if (!cur->min_spend && !cur->min_receipts)
            return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                "needs min_spend, min_receipts or both");
        const ly_tier *prev = &levels[i - 1];
        if (cur->min_spend < prev->min_spend || cur->min_receipts < prev->min_receipts ||
            (cur->min_spend == prev->min_spend && cur->min_receipts == prev->min_receipts))
            return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                "must ask for more than tiers.levels[%zu]: tiers are listed "
                                "lowest first", i - 1);
    }
    t->tiers = levels;
    t->n_tiers = n;
    return LY_OK;
}

static ly_err parseClub(json_t *o, ly_program *p, ly_tiers *t, ly_error *err)
{
    static const char *const keys[] = {"name", "rule", "invitations", "benefits", NULL};
    TRY(ly__pf_need_object(o, "club", err));
    TRY(ly__pf_only_keys(o, "club", keys, err));
    ly_club *c = &t->club;
    t->has_club = true;
    c->invitations = true;
    c->window_days = 90;
    json_t *v = json_object_get(o, "name");
    if (v) TRY(ly__pf_text(v, "club.name", 200, p->mem, &c->name, err));
    else c->name = "Club";
    if ((v = json_object_get(o, "invitations"))) {
        if (!json_is_boolean(v))
            return ly_error_set(err, LY_EINVAL, "invalid_type", "club.invitations", "must be true or false");
        c->invitations = json_is_true(v);
    }
    if ((v = json_object_get(o, "rule"))) {
        static const char *const rk[] = {"min_tier", "min_spend", "min_receipts", "window_days", NULL};
        TRY(ly__pf_need_object(v, "club.rule", err));
        TRY(ly__pf_only_keys(v, "club.rule", rk, err));
        c->by_rule = true;
        json_t *x;
        if ((x = json_object_get(v, "min_tier"))) {
            const char *id = json_is_string(x) ? json_string_value(x) : "";
            long k = ly_tiers_find(t, id);
            if (k < 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", "club.rule.min_tier",
                                    "must be the id of one of tiers.levels");
            c->min_tier = (size_t)k;
        }
        if ((x = json_object_get(v, "min_spend")))
            TRY(getDecimal(x, p->minor_units, LY_AMOUNT_MAX, "club.rule.min_spend", &c->min_spend, err));
        if ((x = json_object_get(v, "min_receipts")))
            TRY(getInt(x, "club.rule.min_receipts", 0, 1000000, &c->min_receipts, err));
        int64_t d;
        if ((x = json_object_get(v, "window_days"))) {
            TRY(getInt(x, "club.rule.window_days", 1, DAYS_MAX, &d, err));
            c->window_days = (int)d;
        }
        if (!c->min_tier && !c->min_spend && !c->min_receipts)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "club.rule",
                                "needs min_tier, min_spend or min_receipts (every customer "
                                "would be a member)");
    }
    if (!c->by_rule && !c->invitations)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "club",
                            "a club needs a rule, invitations, or both");
    if ((v = json_object_get(o, "benefits")))
        TRY(getBenefits(v, "club.benefits", p, &c->benefits, &c->n_benefits, err));
    return LY_OK;
}

ly_err ly__program_tiers(json_t *tiers, json_t *club, ly_program *p, ly_error *err)
{
    if (!tiers && !club) return LY_OK;
    ly_tiers *t = ly_arena_alloc(p->mem, sizeof *t);
    if (!t) return ly__pf_oom(err);
    if (tiers) TRY(parseTiers(tiers, p, t, err));
    if (club) TRY(parseClub(club, p, t, err));
    p->tiers = t;
    return LY_OK;
}
