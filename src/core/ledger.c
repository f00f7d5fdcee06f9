/*
 * ledger.c - the arithmetic of a customer's points: lots that wait, become spendable,
 * expire, are spent soonest-expiring first and are taken back on returns, with debt when a
 * return takes back points already spent. Every function keeps the account invariant
 *   available = sum(remaining of active lots) - debt,  pending = sum(remaining of pending),
 *   debt > 0 only while no active lot has points left,
 * and reports its change to the balances as an ly_delta.
 */
#include "core/core.h"

#include <string.h>

static const char *const entryKindNames[LY_ENTRY_KIND_COUNT] = {
    "earn", "redeem", "return", "refund", "activate",
    "expire", "adjust", "bonus", "merge_out", "merge_in"};

const char *ly_entry_kind_name(ly_entry_kind k)
{
    return (unsigned)k < LY_ENTRY_KIND_COUNT ? entryKindNames[k] : "unknown";
}

bool ly_entry_kind_parse(const char *s, ly_entry_kind *out)
{
    for (int i = 0; s && i < LY_ENTRY_KIND_COUNT; i++) {
        if (strcmp(s, entryKindNames[i]) == 0) {
            *out = (ly_entry_kind)i;
            return true;
        }
    }
    return false;
}

void ly_lot_schedule(const ly_program *p, const ly_calendar *cal, ly_time earned_at,
                     ly_time *active_at, ly_time *expires_at)
{
    ly_time act = p->hold_days > 0 ? cal->day_end(cal, earned_at, p->hold_days) : earned_at;
    *active_at = act;
    *expires_at = p->expiry_days > 0 ? cal->day_end(cal, act, p->expiry_days) : 0;
}

/* Takes up to want points out of a lot; a lot left empty is spent. Returns what it took. */
static ly_points drawLot(ly_lot *l, ly_points want)
{
    ly_points t = l->remaining < want ? l->remaining : want;
    if (t <= 0) return 0;
    l->remaining -= t;
    if (l->remaining == 0) l->state = LY_LOT_SPENT;
    l->dirty = true;
    return t;
}

/* Lot i goes before lot j when it expires sooner (never-expiring last), then by lower id,
 * then by lower index: the order in which points are spent and taken back. */
static bool lotBefore(const ly_lot *lots, size_t i, size_t j)
{
    ly_time ei = lots[i].expires_at ? lots[i].expires_at : INT64_MAX;
    ly_time ej = lots[j].expires_at ? lots[j].expires_at : INT64_MAX;
    if (ei != ej) return ei < ej;
    if (lots[i].id != lots[j].id) return lots[i].id < lots[j].id;
    return i < j;
}

/* The active lot with points left that goes first, or SIZE_MAX. Draining lots one at a
 * time through this keeps the functions allocation-free; lots per customer are few. */
static size_t nextActive(const ly_lot *lots, size_t n)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        if (lots[i].state != LY_LOT_ACTIVE || lots[i].remaining <= 0) continue;
        if (best == SIZE_MAX || lotBefore(lots, i, best)) best = i;
    }
    return best;
}

/* Newly active points repay debt first. The lot keeps what is left; available grows by
 * the whole lot either way, because the debt it repaid was already counted against it. */
static void repayFrom(ly_account *a, ly_lot *l)
{
    if (a->debt > 0) {
        ly_points t = drawLot(l, a->debt);
        a->debt -= t;
    }
}

ly_delta ly_ledger_earn(ly_account *a, ly_lot *lot, ly_points points, ly_time active_at,
                        ly_time expires_at, ly_time now)
{
    ly_delta d = {0, 0};
    memset(lot, 0, sizeof *lot);
    lot->points = points;
    lot->remaining = points > 0 ? points : 0;
    lot->active_at = active_at;
    lot->expires_at = expires_at;
    lot->dirty = true;
    if (points <= 0) {
        lot->state = LY_LOT_SPENT;
        return d;
    }
    if (active_at > now) {
        lot->state = LY_LOT_PENDING;
        a->pending += points;
        d.pending = points;
        return d;
    }
    lot->state = LY_LOT_ACTIVE;
    repayFrom(a, lot);
    a->available += points;
    d.available = points;
    return d;
}

ly_delta ly_ledger_activate(ly_account *a, ly_lot *lot)
{
    ly_delta d = {0, 0};
    if (lot->state != LY_LOT_PENDING) return d;
    ly_points r = lot->remaining;
    lot->state = r > 0 ? LY_LOT_ACTIVE : LY_LOT_SPENT;
    lot->dirty = true;
    a->pending -= r;
    d.pending = -r;
    if (r > 0) {
        repayFrom(a, lot);
        a->available += r;
        d.available = r;
    }
    return d;
}

ly_delta ly_ledger_expire(ly_account *a, ly_lot *lot)
{
    ly_delta d = {0, 0};
    if (lot->state != LY_LOT_ACTIVE) return d;
    ly_points r = lot->remaining;
    lot->remaining = 0;
    lot->state = r > 0 ? LY_LOT_EXPIRED : LY_LOT_SPENT;
    lot->dirty = true;
    a->available -= r;
    d.available = -r;
    return d;
}

ly_err ly_ledger_spend(ly_account *a, ly_lot *lots, size_t n, ly_points points,
                       ly_time *latest_expiry, ly_delta *delta, ly_error *err)
{
    if (points <= 0)
        return ly_error_set(err, LY_EINVAL, "invalid_points", NULL, "must spend more than 0 points");
    if (a->available < points)
        return ly_error_set(err, LY_EUNPROCESSABLE, "insufficient_points", NULL,
                            "%lld points available, %lld asked for", (long long)a->available,
                            (long long)points);
    /* available >= points > 0 means no debt, so the active lots hold at least points;
     * check anyway so that an account out of step with its lots changes nothing. */
    ly_points held = 0;
    for (size_t i = 0; i < n; i++)
        if (lots[i].state == LY_LOT_ACTIVE && lots[i].remaining > 0) held += lots[i].remaining;
    if (held < points)
        return ly_error_set(err, LY_EINTERNAL, "ledger_inconsistent", NULL,
                            "the account shows %lld available but its lots hold %lld",
                            (long long)a->available, (long long)held);
    ly_points need = points;
    ly_time latest = 0;
    bool never = false;
    size_t i;
    while (need > 0 && (i = nextActive(lots, n)) != SIZE_MAX) {
        if (lots[i].expires_at == 0) never = true;
        else if (lots[i].expires_at > latest) latest = lots[i].expires_at;
        need -= drawLot(&lots[i], need);
    }
    a->available -= points;
    if (latest_expiry) *latest_expiry = never ? 0 : latest;
    if (delta) *delta = (ly_delta){-points, 0};
    return LY_OK;
}

ly_delta ly_ledger_take_back(ly_account *a, ly_lot *lots, size_t n, size_t own,
                             ly_points points, ly_debt_policy policy, ly_points *forgiven)
{
    ly_delta d = {0, 0};
    if (forgiven) *forgiven = 0;
    if (points <= 0) return d;
    ly_points need = points;
    if (own < n) {
        ly_lot *l = &lots[own];
        if (l->state == LY_LOT_PENDING) {
            ly_points t = drawLot(l, need);
            a->pending -= t;
            d.pending -= t;
            need -= t;
        } else if (l->state == LY_LOT_ACTIVE) {
            ly_points t = drawLot(l, need);
            a->available -= t;
            d.available -= t;
            need -= t;
        }
    }
    size_t i;
    while (need > 0 && (i = nextActive(lots, n)) != SIZE_MAX) {
        ly_points t = drawLot(&lots[i], need);
        a->available -= t;
        d.available -= t;
        need -= t;
    }
    if (need > 0) {
        if (policy == LY_DEBT_CLAMP) {
            if (forgiven) *forgiven = need;
        } else {
            a->debt += need;
            a->available -= need;
            d.available -= need;
        }
    }
    return d;
}

void ly_ledger_settle(ly_account *a, ly_lot *lots, size_t n)
{
    size_t i;
    while (a->debt > 0 && (i = nextActive(lots, n)) != SIZE_MAX)
        a->debt -= drawLot(&lots[i], a->debt);
}

ly_points ly_ledger_expiring(const ly_lot *lots, size_t n, ly_time now, ly_time until)
{
    ly_points sum = 0;
    for (size_t i = 0; i < n; i++) {
        const ly_lot *l = &lots[i];
        if (l->state == LY_LOT_ACTIVE && l->expires_at != 0 && l->expires_at > now &&
            l->expires_at <= until)
            sum += l->remaining;
    }
    return sum;
}
