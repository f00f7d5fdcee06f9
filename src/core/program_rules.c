/*
 * program_rules.c - the rules of a loyalty program as numbers: range checks of every
 * setting, and the points a base amount earns.
 */
#include "core/core.h"

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
    return LY_OK;
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
