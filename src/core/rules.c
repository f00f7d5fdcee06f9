/*
 * rules.c - the earning and discount rules of a program applied to one receipt: sets and
 * selectors of lines, facts, the conditions of a rule, and the arithmetic of each effect
 * (bonus points, multipliers, discounts, fixed prices, gifts, bundles), with caps and
 * stacking (priority order, exclusive rules). Pure integer arithmetic; every split of money
 * or points over lines is ly_allocate's largest remainder, so line figures always add up.
 */
#include "core/rules_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ---------------------------------------------------------------------------------------
 * Sets, selectors, facts
 * ------------------------------------------------------------------------------------- */

bool ly_strset_has(const ly_strset *s, const char *x)
{
    if (!x) return false;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0) return true;
    return false;
}

bool ly_selector_empty(const ly_line_selector *s)
{
    return !s->skus.n && !s->categories.n && !s->brands.n && !s->not_skus.n &&
           !s->not_categories.n && !s->not_brands.n;
}

static bool includesEmpty(const ly_line_selector *s)
{
    return !s->skus.n && !s->categories.n && !s->brands.n;
}

static bool included(const ly_line_selector *s, const ly_line *l)
{
    return ly_strset_has(&s->skus, l->sku) || ly_strset_has(&s->categories, l->category) ||
           ly_strset_has(&s->brands, l->brand);
}

bool ly_selector_match(const ly_line_selector *s, const ly_line *l)
{
    if (!includesEmpty(s) && !included(s, l)) return false;
    return !ly_strset_has(&s->not_skus, l->sku) &&
           !ly_strset_has(&s->not_categories, l->category) &&
           !ly_strset_has(&s->not_brands, l->brand);
}

bool ly_selector_names(const ly_line_selector *s, const ly_line *l)
{
    return !includesEmpty(s) && included(s, l);
}

const char *ly_fact_get(const ly_fact *facts, size_t n, const char *key)
{
    for (size_t i = 0; facts && i < n; i++)
        if (facts[i].key && strcmp(facts[i].key, key) == 0) return facts[i].value;
    return NULL;
}

bool ly__div_round(u128 x, u128 c, ly_rounding rd, int64_t *out)
{
    if (c == 0) return false;
    u128 q = x / c, rem = x % c;
    switch (rd) {
    case LY_ROUND_DOWN: break;
    case LY_ROUND_UP: q += rem != 0; break;
    case LY_ROUND_HALF_UP: q += 2 * rem >= c; break;
    case LY_ROUND_HALF_EVEN: q += 2 * rem > c || (2 * rem == c && (q & 1)); break;
    default: return false;
    }
    if (q > (u128)INT64_MAX) return false;
    *out = (int64_t)q;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Working state
 * ------------------------------------------------------------------------------------- */

ly_err ly__price_state_init(ly__price_state *st, const ly_receipt *r, ly_error *err)
{
    memset(st, 0, sizeof *st);
    size_t n = r->n_lines ? r->n_lines : 1;
    size_t bytes = n * (7 * sizeof(int64_t) + sizeof(size_t) + 1);
    char *b = calloc(1, bytes);
    if (!b) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    st->block_ = b;
    st->n = r->n_lines;
    int64_t *a = (int64_t *)b;
    st->left = a;
    st->rdisc = a + n;
    st->bonus = a + 2 * n;
    st->w = a + 3 * n;
    st->caps = a + 4 * n;
    st->parts = a + 5 * n;
    st->aux = a + 6 * n;
    st->idx = (size_t *)(a + 7 * n);
    st->elig = (unsigned char *)(st->idx + n);
    for (size_t i = 0; i < r->n_lines; i++) st->left[i] = r->lines[i].amount;
    return LY_OK;
}

void ly__price_state_free(ly__price_state *st)
{
    free(st->block_);
    st->block_ = NULL;
}

/* ---------------------------------------------------------------------------------------
 * Conditions
 * ------------------------------------------------------------------------------------- */

static const char *const weekdayNames[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int64_t floorDiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Sets the result to "not applied" with the deciding setting and a reason. */
static void refuse(ly_rule_result *res, const char *failed, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(ly_rule_result *res, const char *failed, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    res->applied = false;
    res->failed = failed;
    vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
}

bool ly_fact_tests_hold(const ly_fact_test *t, size_t n, const char *prefix,
                        const ly_fact *facts, size_t n_facts, char *why, size_t why_size)
{
    for (size_t i = 0; i < n; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s%s", prefix ? prefix : "", t[i].name);
        const char *v = ly_fact_get(facts, n_facts, key);
        if (t[i].absent) {
            if (!v) continue;
            if (why) snprintf(why, why_size, "%s is \"%.60s\", must be absent", key, v);
            return false;
        }
        if (!v) {
            if (why) snprintf(why, why_size, "%s is not known for this customer", key);
            return false;
        }
        if (t[i].values.n && !ly_strset_has(&t[i].values, v)) {
            if (why)
                snprintf(why, why_size, "%s is \"%.60s\", not one of the values listed", key, v);
            return false;
        }
    }
    return true;
}

static bool factTest(const ly_fact_test *t, const char *prefix, const ly_price_input *in,
                     ly_rule_result *res, const char *failed)
{
    char why[sizeof res->reason];
    if (ly_fact_tests_hold(t, 1, prefix, in->facts, in->n_facts, why, sizeof why)) return true;
    refuse(res, failed, "%s", why);
    return false;
}

/* True if every condition of the rule holds; otherwise fills res. Marks eligible lines in
 * st->elig. */
static bool conditionsHold(const ly_program *p, const ly_rule *rule, const ly_receipt *r,
                           const ly_price_input *in, ly__price_state *st, ly_rule_result *res)
{
    const ly_conditions *c = &rule->when;
    if (c->stores.n && !ly_strset_has(&c->stores, r->store)) {
        refuse(res, "conditions.stores", "store %.60s is not listed", r->store);
        return false;
    }
    if (c->channels && !(c->channels & (1u << r->channel))) {
        refuse(res, "conditions.channels", "channel %s is not listed",
               ly_sales_channel_name(r->channel));
        return false;
    }
    if (c->payments.n && !ly_strset_has(&c->payments, r->payment)) {
        refuse(res, "conditions.payments", "payment %.60s is not listed",
               r->payment ? r->payment : "(none)");
        return false;
    }
    int64_t local = r->time + (int64_t)r->utc_offset_min * 60;
    int64_t day = floorDiv(local, 86400);
    int minute = (int)((local - day * 86400) / 60);
    int weekday = (int)(((day + 3) % 7 + 7) % 7); /* 1970-01-01 was a Thursday */
    if (c->weekdays && !(c->weekdays & (1u << weekday))) {
        refuse(res, "conditions.weekdays", "%s is not listed", weekdayNames[weekday]);
        return false;
    }
    if (c->has_hours) {
        bool in_window = c->minute_from <= c->minute_to
                             ? minute >= c->minute_from && minute < c->minute_to
                             : minute >= c->minute_from || minute < c->minute_to;
        if (!in_window) {
            refuse(res, "conditions.hours", "local time %02d:%02d is outside %02d:%02d-%02d:%02d",
                   minute / 60, minute % 60, c->minute_from / 60, c->minute_from % 60,
                   c->minute_to / 60, c->minute_to % 60);
            return false;
        }
    }
    if (c->has_dates && (day < c->day_from || day > c->day_to)) {
        int y;
        unsigned m, d;
        ly_civil_from_days(day, &y, &m, &d);
        refuse(res, "conditions.dates", "local date %04d-%02u-%02u is outside the dates", y, m, d);
        return false;
    }
    if (c->first_purchase > 0 && !(in->identified && in->prior_receipts == 0)) {
        refuse(res, "conditions.first_purchase", "%s",
               in->identified ? "not the customer's first purchase" : "no customer identified");
        return false;
    }
    if (c->first_purchase < 0 && !(in->identified && in->prior_receipts > 0)) {
        refuse(res, "conditions.first_purchase", "%s",
               in->identified ? "this is the customer's first purchase" : "no customer identified");
        return false;
    }
    for (size_t i = 0; i < c->n_attributes; i++)
        if (!factTest(&c->attributes[i], "attributes.", in, res, "conditions.attributes"))
            return false;
    for (size_t i = 0; i < c->n_facts; i++)
        if (!factTest(&c->facts[i], "", in, res, "conditions.facts")) return false;

    size_t n_elig = 0;
    ly_money elig_amount = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        st->elig[i] = !c->has_lines || ly_selector_match(&c->lines, &r->lines[i]);
        if (st->elig[i]) {
            n_elig++;
            elig_amount += r->lines[i].amount;
        }
    }
    res->eligible = n_elig;
    if (n_elig == 0) {
        refuse(res, "conditions.lines", "no line of the receipt is eligible");
        return false;
    }
    if (c->min_amount > 0) {
        ly_money got = c->min_on_eligible ? elig_amount : r->total;
        if (got < c->min_amount) {
            refuse(res, "conditions.min_amount", "%s amount %lld is under %lld",
                   c->min_on_eligible ? "the eligible lines'" : "the receipt's", (long long)got,
                   (long long)c->min_amount);
            return false;
        }
    }
    (void)p;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Effects
 * ------------------------------------------------------------------------------------- */

/* The value of `units` whole units of line i: floor(left * units * 1000 / qty). */
static int64_t unitsValue(const ly__price_state *st, const ly_line *l, size_t i, int64_t units)
{
    if (units * 1000 >= l->qty) return st->left[i];
    int64_t v = 0;
    (void)ly__div_round((u128)st->left[i] * (u128)(units * 1000), (u128)l->qty, LY_ROUND_DOWN, &v);
    return v;
}

/* True if line a's amount left per unit is more than line b's (ties: the lower index). */
static bool dearer(const ly__price_state *st, const ly_receipt *r, size_t a, size_t b)
{
    u128 x = (u128)st->left[a] * (u128)r->lines[b].qty;
    u128 y = (u128)st->left[b] * (u128)r->lines[a].qty;
    return x != y ? x > y : a < b;
}

/* Free positions in [0, x) of units sorted dearest first, grouped by buy+get: the last
 * `get` of each whole group. */
static int64_t freeBelow(int64_t x, int64_t buy, int64_t get)
{
    int64_t g = buy + get, rem = x % g;
    return (x / g) * get + (rem > buy ? rem - buy : 0);
}

/* What a rule's effect gives before caps: *total money (is_points false) or points, to be
 * spread over lines by st->w with per-line caps st->caps (NULL-like when use_caps false).
 * Returns false with res filled when it gives nothing for a reason worth naming. */
static bool effectCompute(const ly_program *p, const ly_rule *rule, const ly_receipt *r,
                          ly__price_state *st, bool *is_points, bool *use_caps, int64_t *total,
                          ly_rule_result *res)
{
    const ly_effect *e = &rule->effect;
    size_t n = r->n_lines;
    int64_t amount = 0;
    size_t touchable = 0;
    *total = 0;
    *use_caps = true;
    *is_points = e->kind == LY_EFFECT_POINTS_PERCENT || e->kind == LY_EFFECT_POINTS_FIXED ||
                 e->kind == LY_EFFECT_POINTS_MULTIPLIER ||
                 (e->kind == LY_EFFECT_BUNDLE && e->benefit == LY_BUNDLE_POINTS);
    for (size_t i = 0; i < n; i++) {
        bool on = st->elig[i] && !(*is_points && ly_selector_names(&p->no_earn, &r->lines[i]));
        st->w[i] = on ? st->left[i] : 0;
        st->caps[i] = st->w[i];
        st->aux[i] = on; /* lines the effect may touch */
        amount += st->w[i];
        touchable += on;
    }
    if (touchable == 0 && e->kind != LY_EFFECT_BUNDLE) {
        refuse(res, "earn.exclude", "every eligible line is excluded from earning points");
        return false;
    }
    switch (e->kind) {
    case LY_EFFECT_POINTS_PERCENT:
        if (!ly__div_round((u128)amount * (u128)e->percent_bp, (u128)10000 * (u128)p->point_value,
                           e->rounding, total))
            return false;
        break;
    case LY_EFFECT_POINTS_MULTIPLIER:
        if (!ly__div_round((u128)amount * (u128)p->earn_rate_bp * (u128)(e->multiplier_c - 100),
                           (u128)1000000 * (u128)p->point_value, e->rounding, total))
            return false;
        break;
    case LY_EFFECT_POINTS_FIXED:
        *total = e->points;
        if (amount == 0) /* free goods still carry the points: spread them evenly */
            for (size_t i = 0; i < n; i++) st->w[i] = st->aux[i];
        break;
    case LY_EFFECT_DISCOUNT_PERCENT:
        if (!ly__div_round((u128)amount * (u128)e->percent_bp, 10000, e->rounding, total))
            return false;
        break;
    case LY_EFFECT_DISCOUNT_FIXED:
        *total = e->amount < amount ? e->amount : amount;
        break;
    case LY_EFFECT_FIXED_PRICE:
        for (size_t i = 0; i < n; i++) {
            st->w[i] = 0;
            if (!st->aux[i]) continue;
            int64_t target;
            if (!ly_muldiv(r->lines[i].qty, e->amount, 1000, LY_ROUND_UP, &target)) continue;
            if (st->left[i] > target) st->w[i] = st->left[i] - target;
            *total += st->w[i];
        }
        for (size_t i = 0; i < n; i++) st->caps[i] = st->w[i];
        if (*total == 0) {
            refuse(res, "effect.price", "the eligible lines already cost no more than the price");
            return false;
        }
        break;
    case LY_EFFECT_GIFT: {
        size_t k = 0;
        int64_t units = 0;
        for (size_t i = 0; i < n; i++) {
            st->w[i] = 0;
            if (!st->aux[i] || r->lines[i].qty < 1000) continue;
            /* Insertion by unit value, dearest first: receipts have at most 1000 lines. */
            size_t j = k++;
            while (j > 0 && dearer(st, r, i, st->idx[j - 1])) {
                st->idx[j] = st->idx[j - 1];
                j--;
            }
            st->idx[j] = i;
            units += r->lines[i].qty / 1000;
        }
        int64_t g = e->buy + e->get;
        if (units < g) {
            refuse(res, "effect.buy", "%lld whole eligible units, %lld needed for a gift",
                   (long long)units, (long long)g);
            return false;
        }
        int64_t limit = units / g * g, pos = 0;
        for (size_t j = 0; j < k; j++) {
            size_t i = st->idx[j];
            int64_t u = r->lines[i].qty / 1000;
            int64_t lo = pos < limit ? pos : limit, hi = pos + u < limit ? pos + u : limit;
            int64_t f = freeBelow(hi, e->buy, e->get) - freeBelow(lo, e->buy, e->get);
            pos += u;
            st->w[i] = f > 0 ? unitsValue(st, &r->lines[i], i, f) : 0;
            *total += st->w[i];
        }
        for (size_t i = 0; i < n; i++) st->caps[i] = st->w[i];
        break;
    }
    case LY_EFFECT_BUNDLE: {
        /* Each eligible line belongs to the first item that names it. */
        for (size_t i = 0; i < n; i++) {
            st->idx[i] = SIZE_MAX;
            st->caps[i] = 0;
            for (size_t u = 0; st->elig[i] && u < e->n_items && st->idx[i] == SIZE_MAX; u++)
                if (ly_selector_match(&e->items[u].sel, &r->lines[i])) st->idx[i] = u;
        }
        int64_t bundles = INT64_MAX;
        for (size_t t = 0; t < e->n_items; t++) {
            int64_t have = 0;
            for (size_t i = 0; i < n; i++)
                if (st->idx[i] == t) have += r->lines[i].qty / 1000;
            int64_t b = have / e->items[t].units;
            if (b < bundles) bundles = b;
            if (bundles == 0) {
                refuse(res, "effect.items", "items[%zu] is missing: no complete bundle", t);
                return false;
            }
        }
        /* Take bundles * units of each item from its lines in receipt order. */
        int64_t value = 0;
        for (size_t t = 0; t < e->n_items; t++) {
            int64_t need = bundles * e->items[t].units;
            for (size_t i = 0; i < n && need > 0; i++) {
                if (st->idx[i] != t) continue;
                int64_t u = r->lines[i].qty / 1000;
                int64_t take = u < need ? u : need;
                need -= take;
                st->caps[i] = take > 0 ? unitsValue(st, &r->lines[i], i, take) : 0;
                value += st->caps[i];
            }
        }
        for (size_t i = 0; i < n; i++) st->w[i] = st->caps[i];
        switch (e->benefit) {
        case LY_BUNDLE_PRICE: {
            int64_t price;
            if (!ly_muldiv(bundles, e->amount, 1, LY_ROUND_DOWN, &price)) price = INT64_MAX;
            *total = value > price ? value - price : 0;
            break;
        }
        case LY_BUNDLE_PERCENT:
            if (!ly__div_round((u128)value * (u128)e->percent_bp, 10000, e->rounding, total))
                return false;
            break;
        case LY_BUNDLE_AMOUNT: {
            int64_t off;
            if (!ly_muldiv(bundles, e->amount, 1, LY_ROUND_DOWN, &off)) off = INT64_MAX;
            *total = off < value ? off : value;
            break;
        }
        case LY_BUNDLE_POINTS:
            if (!ly_muldiv(bundles, e->points, 1, LY_ROUND_DOWN, total)) return false;
            /* Points follow the taken lines that may earn, evenly when they cost nothing. */
            {
                int64_t sum = 0;
                for (size_t i = 0; i < n; i++) {
                    if (ly_selector_names(&p->no_earn, &r->lines[i])) st->w[i] = 0;
                    sum += st->w[i];
                }
                if (sum == 0) {
                    for (size_t i = 0; i < n; i++) {
                        st->w[i] = st->caps[i] == 0 && st->idx[i] != SIZE_MAX &&
                                   !ly_selector_names(&p->no_earn, &r->lines[i]);
                        sum += st->w[i];
                    }
                }
                if (sum == 0) {
                    refuse(res, "earn.exclude", "every line of the bundle is excluded from earning points");
                    return false;
                }
            }
            *use_caps = false;
            break;
        }
        if (*total == 0)
            refuse(res, "effect", "%lld bundle(s) already cost no more than the bundle price",
                   (long long)bundles);
        break;
    }
    }
    if (*is_points) *use_caps = false;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * The rules in order
 * ------------------------------------------------------------------------------------- */

ly_err ly__rules_apply(const ly_program *p, const ly_receipt *r, const ly_price_input *in,
                       ly__price_state *st, ly_pricing *out, ly_error *err)
{
    const ly_rule *stopper = NULL;
    ly_points bonus_total = 0;
    size_t n = r->n_lines;
    for (size_t k = 0; k < p->n_rules; k++) {
        const ly_rule *rule = &p->rules[k];
        ly_rule_result local, *res = out->rules ? &out->rules[k] : &local;
        memset(res, 0, sizeof *res);
        res->rule = rule;
        if (out->rules) out->n_rules = k + 1;
        if (stopper) {
            refuse(res, "exclusive", "exclusive rule %.100s applied before it", stopper->id);
            continue;
        }
        if (!conditionsHold(p, rule, r, in, st, res)) continue;

        ly_rule_allowance allow = {false, NULL, -1, -1};
        if (in && in->gate) in->gate(in->gate_ctx, rule, &allow);
        if (allow.blocked) {
            refuse(res, "limits", "%s", allow.reason ? allow.reason : "a limit of the rule is reached");
            continue;
        }
        bool is_points, use_caps;
        int64_t total;
        res->reason[0] = '\0';
        if (!effectCompute(p, rule, r, st, &is_points, &use_caps, &total, res)) {
            if (!res->reason[0]) refuse(res, "effect", "the effect is out of range");
            continue;
        }
        if (total == 0 && !res->reason[0]) {
            refuse(res, "effect", "the effect gives nothing on the eligible lines");
            continue;
        }
        if (total == 0) {
            res->applied = false;
            continue;
        }
        const char *capped = NULL;
        if (is_points) {
            if (rule->cap_points > 0 && total > rule->cap_points) {
                total = rule->cap_points;
                capped = "cap.points";
            }
            if (allow.points_left >= 0 && total > allow.points_left) {
                total = allow.points_left;
                capped = "limits";
            }
            if (p->bonus_cap > 0 && total > p->bonus_cap - bonus_total) {
                total = p->bonus_cap - bonus_total;
                capped = "earn.bonus_cap_points";
            }
        } else {
            if (rule->cap_discount > 0 && total > rule->cap_discount) {
                total = rule->cap_discount;
                capped = "cap.discount";
            }
            if (allow.discount_left >= 0 && total > allow.discount_left) {
                total = allow.discount_left;
                capped = "limits";
            }
        }
        if (total <= 0) {
            refuse(res, capped, "the cap (%s) is already reached", capped);
            continue;
        }
        if (ly_allocate(total, st->w, use_caps ? st->caps : NULL, n, st->parts) != LY_OK)
            return ly_error_set(err, LY_EINTERNAL, "allocation_failed", "rules",
                                "rule %s could not be spread over the lines", rule->id);
        for (size_t i = 0; i < n; i++) {
            if (is_points) {
                st->bonus[i] += st->parts[i];
            } else {
                st->left[i] -= st->parts[i];
                st->rdisc[i] += st->parts[i];
            }
        }
        res->applied = true;
        res->failed = NULL;
        if (is_points) {
            res->points = total;
            bonus_total += total;
            snprintf(res->reason, sizeof res->reason, "gave %lld points%s%s", (long long)total,
                     capped ? ", capped by " : "", capped ? capped : "");
        } else {
            res->discount = total;
            snprintf(res->reason, sizeof res->reason, "gave %lld off%s%s", (long long)total,
                     capped ? ", capped by " : "", capped ? capped : "");
        }
        if (rule->exclusive) stopper = rule;
    }
    return LY_OK;
}
