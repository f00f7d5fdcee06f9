/*
 * program_rules.c - the rules of a loyalty program as numbers: range checks of every
 * setting (the flat ones and each earning or discount rule's), the points a base amount
 * earns, and the release of a program's owned memory.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static bool allDigits(const char *s, size_t lo, size_t hi)
{
    size_t n = strlen(s);
    if (n < lo || n > hi) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

static ly_err bad(ly_error *err, const char *field, const char *msg)
{
    return ly_error_set(err, LY_EINVAL, "invalid_value", field, "%s", msg);
}

ly_err ly_program_validate(const ly_program *p, ly_error *err)
{
    const char *c = p->currency;
    if (strnlen(c, sizeof p->currency) != 3 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' ||
        c[1] > 'Z' || c[2] < 'A' || c[2] > 'Z')
        return bad(err, "currency", "must be an ISO 4217 code of three capital letters");
    if (p->minor_units < 0 || p->minor_units > 4)
        return bad(err, "minor_units", "must be between 0 and 4");
    if (!p->time_zone[0]) return bad(err, "time_zone", "must name a time zone");
    if (!allDigits(p->phone_country, 1, 3))
        return bad(err, "phone.country_code", "must be 1 to 3 digits");
    if (!allDigits(p->phone_trunk, 0, 3))
        return bad(err, "phone.trunk_prefix", "must be at most 3 digits");
    if (p->earn_rate_bp < 0 || p->earn_rate_bp > 10000)
        return bad(err, "earn.rate_percent", "must be between 0 and 100");
    if (p->earn_base != LY_EARN_ON_PAID && p->earn_base != LY_EARN_ON_TOTAL)
        return bad(err, "earn.base", "must be \"paid\" or \"total\"");
    if ((unsigned)p->earn_rounding > LY_ROUND_UP)
        return bad(err, "earn.rounding", "must be \"down\", \"half_up\", \"half_even\" or \"up\"");
    if (p->point_value < 1 || p->point_value > LY_AMOUNT_MAX)
        return bad(err, "points.value", "must be more than 0");
    if (p->max_redeem_bp < 0 || p->max_redeem_bp > 10000)
        return bad(err, "points.max_share_percent", "must be between 0 and 100");
    if (p->min_redeem < 0 || p->min_redeem > LY_AMOUNT_MAX)
        return bad(err, "points.min_redeem", "must be 0 or more");
    if (p->hold_days < 0 || p->hold_days > 3650)
        return bad(err, "points.hold_days", "must be between 0 and 3650");
    if (p->expiry_days < 0 || p->expiry_days > 36500)
        return bad(err, "points.expiry_days", "must be between 0 and 36500");
    if (p->debt_policy != LY_DEBT_NEGATIVE && p->debt_policy != LY_DEBT_CLAMP)
        return bad(err, "points.on_return_debt", "must be \"negative\" or \"clamp\"");
    if (p->min_balance < 0 || p->min_balance > LY_AMOUNT_MAX)
        return bad(err, "points.min_balance", "must be 0 or more");
    if (p->bonus_cap < 0 || p->bonus_cap > LY_AMOUNT_MAX)
        return bad(err, "earn.bonus_cap_points", "must be 0 (no cap) or more");
    for (size_t i = 0; i < p->n_rules; i++) {
        ly_err rc = ly_rule_validate(&p->rules[i], err);
        if (rc != LY_OK) return rc;
    }
    return LY_OK;
}

static ly_err badRule(ly_error *err, const ly_rule *r, const char *path, const char *msg)
{
    char field[128];
    snprintf(field, sizeof field, "rules[%zu].%s", r->index, path);
    return ly_error_set(err, LY_EINVAL, "invalid_value", field, "%s", msg);
}

ly_err ly_rule_validate(const ly_rule *r, ly_error *err)
{
    const ly_effect *e = &r->effect;
    const ly_conditions *c = &r->when;
    if (!r->id || !r->id[0]) return badRule(err, r, "id", "is required");
    if (r->priority < -1000000 || r->priority > 1000000)
        return badRule(err, r, "priority", "must be between -1000000 and 1000000");
    if (r->cap_points < 0 || r->cap_points > LY_AMOUNT_MAX)
        return badRule(err, r, "cap.points", "must be more than 0");
    if (r->cap_discount < 0 || r->cap_discount > LY_AMOUNT_MAX)
        return badRule(err, r, "cap.discount", "must be more than 0");
    if (c->channels >= (1u << LY_SALES_COUNT))
        return badRule(err, r, "conditions.channels", "names an unknown channel");
    if (c->weekdays >= (1u << 7)) return badRule(err, r, "conditions.weekdays", "unknown day");
    if (c->has_hours && (c->minute_from < 0 || c->minute_from > 1440 || c->minute_to < 0 ||
                         c->minute_to > 1440 || c->minute_from == c->minute_to))
        return badRule(err, r, "conditions.hours", "must be two different times from 00:00 to 24:00");
    if (c->has_dates && c->day_from > c->day_to)
        return badRule(err, r, "conditions.dates", "from must not be after to");
    if (c->min_amount < 0 || c->min_amount > LY_AMOUNT_MAX)
        return badRule(err, r, "conditions.min_amount.amount", "must be between 0 and 10^15");
    if (c->first_purchase < -1 || c->first_purchase > 1)
        return badRule(err, r, "conditions.first_purchase", "must be true or false");
    switch (e->kind) {
    case LY_EFFECT_POINTS_PERCENT:
    case LY_EFFECT_DISCOUNT_PERCENT:
        if (e->percent_bp < 1 || e->percent_bp > 10000)
            return badRule(err, r, "effect.percent", "must be more than 0 and at most 100");
        break;
    case LY_EFFECT_POINTS_MULTIPLIER:
        if (e->multiplier_c <= 100 || e->multiplier_c > 100000)
            return badRule(err, r, "effect.multiplier", "must be more than 1 and at most 1000");
        break;
    case LY_EFFECT_POINTS_FIXED:
        if (e->points < 1 || e->points > LY_AMOUNT_MAX)
            return badRule(err, r, "effect.points", "must be more than 0");
        break;
    case LY_EFFECT_DISCOUNT_FIXED:
        if (e->amount < 1 || e->amount > LY_AMOUNT_MAX)
            return badRule(err, r, "effect.amount", "must be more than 0");
        break;
    case LY_EFFECT_FIXED_PRICE:
        if (e->amount < 0 || e->amount > LY_AMOUNT_MAX)
            return badRule(err, r, "effect.price", "must be 0 or more");
        break;
    case LY_EFFECT_GIFT:
        if (e->buy < 1 || e->buy > 1000) return badRule(err, r, "effect.buy", "must be 1 to 1000");
        if (e->get < 1 || e->get > 1000) return badRule(err, r, "effect.get", "must be 1 to 1000");
        break;
    case LY_EFFECT_BUNDLE:
        if (e->n_items < 2 || e->n_items > 20 || !e->items)
            return badRule(err, r, "effect.items", "a bundle needs 2 to 20 items");
        for (size_t i = 0; i < e->n_items; i++) {
            char path[64];
            if (ly_selector_empty(&e->items[i].sel)) {
                snprintf(path, sizeof path, "effect.items[%zu]", i);
                return badRule(err, r, path, "must name skus, categories or brands");
            }
            if (e->items[i].units < 1 || e->items[i].units > 1000) {
                snprintf(path, sizeof path, "effect.items[%zu].qty", i);
                return badRule(err, r, path, "must be 1 to 1000 whole units");
            }
        }
        switch (e->benefit) {
        case LY_BUNDLE_PRICE:
            if (e->amount < 0 || e->amount > LY_AMOUNT_MAX)
                return badRule(err, r, "effect.price", "must be 0 or more");
            break;
        case LY_BUNDLE_AMOUNT:
            if (e->amount < 1 || e->amount > LY_AMOUNT_MAX)
                return badRule(err, r, "effect.amount", "must be more than 0");
            break;
        case LY_BUNDLE_PERCENT:
            if (e->percent_bp < 1 || e->percent_bp > 10000)
                return badRule(err, r, "effect.percent", "must be more than 0 and at most 100");
            break;
        case LY_BUNDLE_POINTS:
            if (e->points < 1 || e->points > LY_AMOUNT_MAX)
                return badRule(err, r, "effect.points", "must be more than 0");
            break;
        default: return badRule(err, r, "effect", "a bundle needs price, percent, amount or points");
        }
        break;
    default: return badRule(err, r, "effect.type", "unknown effect");
    }
    if ((unsigned)e->rounding > LY_ROUND_UP) return badRule(err, r, "effect.rounding", "unknown rounding");
    return LY_OK;
}

void ly_program_free(ly_program *p)
{
    if (!p || !p->mem) return;
    ly_arena_free(p->mem);
    free(p->mem);
    p->mem = NULL;
    memset(&p->no_earn, 0, sizeof p->no_earn);
    memset(&p->no_redeem, 0, sizeof p->no_redeem);
    p->rules = NULL;
    p->n_rules = 0;
    p->uses_first_purchase = p->uses_facts = false;
}

/* One rounding of base * rate / (10000 * value). The divisor is formed in 128 bits: with a
 * point worth more than INT64_MAX / 10000 minor units it no longer fits ly_muldiv's c, and
 * the answer must not change because of that. */
bool ly_program_points_for(const ly_program *p, ly_money base, ly_points *out)
{
    if (base < 0 || p->earn_rate_bp < 0 || p->point_value <= 0) return false;
    if (p->point_value <= INT64_MAX / 10000)
        return ly_muldiv(base, p->earn_rate_bp, 10000 * p->point_value, p->earn_rounding, out);
    u128 c = (u128)10000 * (u128)p->point_value;
    u128 x = (u128)base * (u128)p->earn_rate_bp;
    u128 q = x / c, rem = x % c;
    switch (p->earn_rounding) {
    case LY_ROUND_DOWN: break;
    case LY_ROUND_UP: q += rem != 0; break;
    case LY_ROUND_HALF_UP: q += 2 * rem >= c; break;
    case LY_ROUND_HALF_EVEN: q += 2 * rem > c || (2 * rem == c && (q & 1)); break;
    default: return false;
    }
    if (q > (u128)INT64_MAX) return false;
    *out = (ly_points)q;
    return true;
}
