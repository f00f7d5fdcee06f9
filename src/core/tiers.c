/*
 * tiers.c - tiers (grades) and the closed club as arithmetic: a customer's figures over a
 * qualification period, the tier they qualify for, how long a tier is held, what is missing
 * to reach the next one. Days are local days of the program's calendar; the caller reads
 * the purchases from storage and writes the decisions.
 */
#include "core/core.h"

#include <string.h>

/* floor(a / b) for b > 0. */
static int64_t floorDiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0)) ? q - 1 : q;
}

int64_t ly_local_day(const ly_calendar *cal, ly_time t)
{
    return floorDiv(t + (int64_t)cal->utc_offset(cal, t) * 60, 86400);
}

ly_time ly_local_day_start(const ly_calendar *cal, ly_time now, int64_t day)
{
    int64_t today = ly_local_day(cal, now);
    /* day_end(now, k) is the end of the day k days after today, i.e. the start of day
     * today + k + 1. */
    return cal->day_end(cal, now, (int)(day - today - 1));
}

/* ---------------------------------------------------------------------------------------
 * Calendar periods: an index per month, quarter or year, and its first and last day.
 * ------------------------------------------------------------------------------------- */

static int64_t periodIndex(ly_tier_period kind, int64_t day)
{
    int y;
    unsigned m, d;
    ly_civil_from_days(day, &y, &m, &d);
    switch (kind) {
    case LY_TIER_MONTH: return (int64_t)y * 12 + (m - 1);
    case LY_TIER_QUARTER: return (int64_t)y * 4 + (m - 1) / 3;
    default: return y;
    }
}

static int64_t periodFirstDay(ly_tier_period kind, int64_t index)
{
    switch (kind) {
    case LY_TIER_MONTH:
        return ly_days_from_civil((int)floorDiv(index, 12), (unsigned)(index - floorDiv(index, 12) * 12) + 1, 1);
    case LY_TIER_QUARTER:
        return ly_days_from_civil((int)floorDiv(index, 4), (unsigned)(index - floorDiv(index, 4) * 4) * 3 + 1, 1);
    default: return ly_days_from_civil((int)index, 1, 1);
    }
}

static int64_t periodLastDay(ly_tier_period kind, int64_t index)
{
    return periodFirstDay(kind, index + 1) - 1;
}

void ly_tiers_period(const ly_tiers *t, int64_t day, int64_t *first, int64_t *last)
{
    if (t->period == LY_TIER_ROLLING) {
        *first = day - t->window_days + 1;
        *last = day;
        return;
    }
    int64_t i = periodIndex(t->period, day);
    *first = periodFirstDay(t->period, i);
    *last = periodLastDay(t->period, i);
}

int64_t ly_tiers_lookback(const ly_tiers *t, int64_t today)
{
    int64_t from = today - t->grace_days;
    if (t->period == LY_TIER_ROLLING) from -= t->window_days;
    else from = periodFirstDay(t->period, periodIndex(t->period, from) - 1);
    if (t->has_club && t->club.by_rule && today - t->club.window_days < from)
        from = today - t->club.window_days;
    return from;
}

ly_tier_figures ly_tiers_figures(const ly_tier_purchase *p, size_t n, int64_t first, int64_t last)
{
    ly_tier_figures f = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (p[i].day < first || p[i].day > last) continue;
        f.spend += p[i].spend;
        f.receipts += p[i].counts;
    }
    return f;
}

bool ly_tier_qualifies(const ly_tier *tier, ly_tier_figures f)
{
    bool has_spend = tier->min_spend > 0, has_count = tier->min_receipts > 0;
    if (!has_spend && !has_count) return true;
    bool spend_ok = f.spend >= tier->min_spend, count_ok = f.receipts >= tier->min_receipts;
    if (has_spend && has_count) return tier->need_all ? spend_ok && count_ok : spend_ok || count_ok;
    return has_spend ? spend_ok : count_ok;
}

size_t ly_tiers_best(const ly_tiers *t, ly_tier_figures f)
{
    size_t best = 0;
    for (size_t i = 1; i < t->n_tiers; i++)
        if (ly_tier_qualifies(&t->tiers[i], f)) best = i;
    return best;
}

static bool qualifiesOn(const ly_tiers *t, size_t idx, const ly_tier_purchase *p, size_t n,
                        int64_t day)
{
    int64_t first, last;
    ly_tiers_period(t, day, &first, &last);
    if (t->period == LY_TIER_ROLLING) last = day;
    return ly_tier_qualifies(&t->tiers[idx], ly_tiers_figures(p, n, first, last));
}

int64_t ly_tiers_held_until(const ly_tiers *t, size_t idx, const ly_tier_purchase *p, size_t n,
                            int64_t today, bool has_since, int64_t since_day)
{
    if (idx == 0 || idx >= t->n_tiers) return idx == 0 ? LY_DAY_FOREVER : LY_DAY_NEVER;
    const ly_tier *tier = &t->tiers[idx];
    if (tier->min_spend <= 0 && tier->min_receipts <= 0) return LY_DAY_FOREVER;
    if (t->period == LY_TIER_ROLLING) {
        int64_t w = t->window_days;
        if (qualifiesOn(t, idx, p, n, today)) {
            /* The figures only fall from here, each time a purchase leaves the window:
             * the first of those days that no longer qualifies is the day it is lost. */
            for (size_t i = 0; i < n; i++) {
                if (p[i].day < today - w + 1 || p[i].day > today) continue;
                int64_t leave = p[i].day + w;
                if (!qualifiesOn(t, idx, p, n, leave)) return leave - 1 + t->grace_days;
            }
            return LY_DAY_FOREVER; /* cannot happen: an empty window does not qualify */
        }
        /* Lost already: held through the grace period after the last qualifying day. */
        for (int64_t d = today - 1; d >= today - t->grace_days; d--)
            if (qualifiesOn(t, idx, p, n, d)) return d + t->grace_days;
        return has_since ? since_day - 1 + t->grace_days : LY_DAY_NEVER;
    }
    int64_t cur = periodIndex(t->period, today);
    for (int64_t k = cur;; k--) {
        int64_t held = periodLastDay(t->period, k + 1) + t->grace_days;
        if (held < today) break;
        int64_t first = periodFirstDay(t->period, k), last = periodLastDay(t->period, k);
        if (ly_tier_qualifies(tier, ly_tiers_figures(p, n, first, last))) return held;
    }
    return has_since ? periodLastDay(t->period, periodIndex(t->period, since_day)) + t->grace_days
                     : LY_DAY_NEVER;
}

size_t ly_tiers_decide(const ly_tiers *t, size_t cur, int64_t since_day,
                       const ly_tier_purchase *p, size_t n, int64_t today, bool allow_downgrade)
{
    if (t->n_tiers == 0) return 0;
    if (cur >= t->n_tiers) cur = 0;
    int64_t first, last;
    ly_tiers_period(t, today, &first, &last);
    if (t->period == LY_TIER_ROLLING) last = today;
    size_t best = ly_tiers_best(t, ly_tiers_figures(p, n, first, last));
    if (best > cur) return best;
    if (!allow_downgrade || cur == 0) return cur;
    if (ly_tiers_held_until(t, cur, p, n, today, true, since_day) >= today) return cur;
    for (size_t i = cur; i-- > 1;)
        if (ly_tiers_held_until(t, i, p, n, today, false, 0) >= today) return i;
    return 0;
}

void ly_tiers_progress(const ly_tiers *t, size_t cur, const ly_tier_purchase *p, size_t n,
                       int64_t today, ly_tier_progress *out)
{
    memset(out, 0, sizeof *out);
    ly_tiers_period(t, today, &out->first_day, &out->last_day);
    int64_t last = t->period == LY_TIER_ROLLING ? today : out->last_day;
    out->figures = ly_tiers_figures(p, n, out->first_day, last);
    out->by_day = LY_DAY_FOREVER;
    if (cur + 1 >= t->n_tiers) return;
    const ly_tier *next = &t->tiers[cur + 1];
    out->has_next = true;
    out->next = cur + 1;
    out->need_all = next->need_all;
    if (next->min_spend > out->figures.spend) out->spend_more = next->min_spend - out->figures.spend;
    if (next->min_receipts > out->figures.receipts)
        out->receipts_more = next->min_receipts - out->figures.receipts;
    if (t->period != LY_TIER_ROLLING) {
        out->by_day = out->last_day;
        return;
    }
    for (size_t i = 0; i < n; i++) /* sorted: the first in the window leaves it first */
        if (p[i].day >= out->first_day && p[i].day <= today) {
            out->by_day = p[i].day + t->window_days - 1;
            break;
        }
}

int64_t ly_tier_earn_rate(const ly_tiers *t, size_t idx, int64_t base_bp)
{
    if (!t || idx >= t->n_tiers) return base_bp;
    const ly_tier *tier = &t->tiers[idx];
    switch (tier->earn) {
    case LY_TIER_EARN_REPLACE: return tier->earn_bp;
    case LY_TIER_EARN_ADD: {
        int64_t r = base_bp + tier->earn_bp;
        return r > 10000 ? 10000 : r;
    }
    default: return base_bp;
    }
}

long ly_tiers_find(const ly_tiers *t, const char *id)
{
    if (!t || !id) return -1;
    for (size_t i = 0; i < t->n_tiers; i++)
        if (strcmp(t->tiers[i].id, id) == 0) return (long)i;
    return -1;
}

bool ly_club_qualifies(const ly_tiers *t, size_t idx, const ly_tier_purchase *p, size_t n,
                       int64_t today)
{
    if (!t->has_club || !t->club.by_rule) return false;
    const ly_club *c = &t->club;
    if (idx < c->min_tier) return false;
    ly_tier_figures f = ly_tiers_figures(p, n, today - c->window_days + 1, today);
    return f.spend >= c->min_spend && f.receipts >= c->min_receipts;
}
