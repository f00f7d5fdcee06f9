/*
 * triggers.c - reads the "channels" and "triggers" sections of the program file into
 * ly_triggers_conf (program/triggers.h). Same rules as the rest of the file: every key is
 * known, money and percentages are exact decimals, and every error names its path
 * ("triggers.list[1].steps[0].offer.days"). docs/triggers.md is the reference.
 */
#include "program/program_internal.h"
#include "program/rewards.h"
#include "program/triggers.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* snprintf for paths: a path cut short only shortens an error message. */
static int pathf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define PATH_MAX_ 192

static const char *const mediumNames[LY_TM_COUNT] = {"sms", "email", "push", "messenger",
                                                      "call_list"};

const char *ly_trig_medium_name(ly_trig_medium m)
{
    return m < LY_TM_COUNT ? mediumNames[m] : "?";
}

bool ly_trig_medium_parse(const char *s, ly_trig_medium *out)
{
    for (int i = 0; s && i < LY_TM_COUNT; i++)
        if (strcmp(s, mediumNames[i]) == 0) {
            *out = (ly_trig_medium)i;
            return true;
        }
    return false;
}

const ly_trigger_def *ly_triggers_find(const ly_triggers_conf *c, const char *id)
{
    for (size_t i = 0; c && id && i < c->n_triggers; i++)
        if (strcmp(c->triggers[i].id, id) == 0) return &c->triggers[i];
    return NULL;
}

static ly_arena *memOf(ly_program *p) { return p->mem; }

const char *ly_trig_touchpoint(const ly_trig_step *st, const ly_trig_channel *ch)
{
    if (st && st->touchpoint) return st->touchpoint;
    return ch ? ch->touchpoint : NULL;
}

/* A "touchpoint" setting: text naming an element of root's "touchpoints" (by its "id").
 * The section itself is checked by survey.c, which runs after this file. */
static ly_err getTouchpoint(json_t *root, json_t *v, const char *path, ly_program *p,
                            const char **out, ly_error *err)
{
    TRY(ly__pf_text(v, path, 64, memOf(p), out, err));
    json_t *list = json_object_get(root, "touchpoints");
    for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
        json_t *id = json_object_get(json_array_get(list, i), "id");
        if (json_is_string(id) && strcmp(json_string_value(id), *out) == 0) return LY_OK;
    }
    return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                        "names no touchpoint of \"touchpoints\"");
}


/* A decimal as a string ("2.5") or an integer, at scale, within lo..hi (scaled). */
static ly_err getDecimal(json_t *v, int scale, const char *path, int64_t lo, int64_t hi,
                         int64_t *out, ly_error *err)
{
    int64_t x;
    if (json_is_integer(v)) {
        int64_t m = 1;
        x = json_integer_value(v);
        for (int i = 0; i < scale; i++) m *= 10;
        if (x > INT64_MAX / m || x < INT64_MIN / m)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "number too large");
        x *= m;
    } else if (!(json_is_string(v) && ly_decimal_parse(json_string_value(v), scale, &x))) {
        return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                            "must be a decimal written as a string (\"2.5\") or an integer, "
                            "with at most %d digits after the point", scale);
    }
    if (x < lo || x > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "is out of range");
    *out = x;
    return LY_OK;
}

/* A percentage 0..100 with two decimals, as basis points. */
static ly_err getPercent(json_t *v, const char *path, int64_t *bp, ly_error *err)
{
    return getDecimal(v, 2, path, 0, 10000, bp, err);
}


static ly_err getBool(json_t *v, const char *path, bool *out, ly_error *err)
{
    if (!json_is_boolean(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be true or false");
    *out = json_is_true(v);
    return LY_OK;
}

/* An array of 1..max strings of 1..64 characters. check (may be NULL) vets each one. */
static ly_err getStrings(json_t *v, const char *path, size_t max, ly_program *p,
                         bool (*check)(const char *), const char *what, ly_strset *out,
                         ly_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > max)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be a list of 1 to %zu strings", max);
    size_t n = json_array_size(v);
    const char **items = ly_arena_alloc(memOf(p), n * sizeof *items);
    if (!items) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char ip[PATH_MAX_];
        pathf(ip, sizeof ip, "%s[%zu]", path, i);
        TRY(ly__pf_text(json_array_get(v, i), ip, 64, memOf(p), &items[i], err));
        if (check && !check(items[i]))
            return ly_error_set(err, LY_EINVAL, "invalid_value", ip, "must be %s", what);
    }
    out->v = items;
    out->n = n;
    return LY_OK;
}

static bool isCell(const char *s)
{
    return strlen(s) == 6 && s[0] == 'R' && s[2] == 'F' && s[4] == 'M' && s[1] >= '1' &&
           s[1] <= '3' && s[3] >= '1' && s[3] <= '3' && s[5] >= '1' && s[5] <= '3';
}
static bool isStatus(const char *s)
{
    return !strcmp(s, "active") || !strcmp(s, "sleeping") || !strcmp(s, "churned");
}
static bool isLoyalty(const char *s)
{
    return !strcmp(s, "below") || !strcmp(s, "reached") || !strcmp(s, "unknown");
}
static bool isMedium(const char *s)
{
    ly_trig_medium m;
    return ly_trig_medium_parse(s, &m);
}
/* Channel names of delivery.json: 1-32 of [a-z0-9_]. */
static bool isDeliveryName(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32) return false;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}
/* Trigger ids: they become the outbox's trigger_id and part of its hold-out hash. */
static bool isId(const char *s)
{
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.')) return false;
    return true;
}

/* A bound: an integer, or "sleep_days", "churn_days", "loyalty_deals", "N", optionally
 * followed by "+ N" or "- N". */
static ly_err getBound(json_t *v, const char *path, bool deals, ly_trig_bound *out,
                       ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (json_is_integer(v)) {
        int64_t x;
        TRY(ly__pf_int(v, path, 0, 100000, &x, err));
        out->set = true;
        out->offset = x;
        return LY_OK;
    }
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    const char *want = deals ? "an integer, or \"loyalty_deals\" with an optional \"+ N\" or "
                               "\"- N\""
                             : "an integer, or \"sleep_days\" or \"churn_days\" with an "
                               "optional \"+ N\" or \"- N\"";
    if (!s) return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be %s", want);
    while (*s == ' ') s++;
    static const struct { const char *name; ly_trig_base base; bool deals; } names[] = {
        {"sleep_days", LY_TB_SLEEP, false}, {"churn_days", LY_TB_CHURN, false},
        {"loyalty_deals", LY_TB_LOYALTY, true}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].name);
        if (strncmp(s, names[i].name, n) == 0 && names[i].deals == deals) {
            out->base = names[i].base;
            s += n;
            break;
        }
    }
    while (*s == ' ') s++;
    int sign = 1;
    if (out->base != LY_TB_NONE) {
        if (*s == '+' || *s == '-') {
            sign = *s == '-' ? -1 : 1;
            s++;
            while (*s == ' ') s++;
        } else if (*s) {
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be %s", want);
        }
    }
    if (*s) {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (end == s || x < 0 || x > 100000 || !isdigit((unsigned char)*s))
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be %s", want);
        while (*end == ' ') end++;
        if (*end) return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be %s", want);
        out->offset = sign * (int64_t)x;
    }
    out->set = true;
    return LY_OK;
}

static ly_err getRange(json_t *v, const char *path, const char *lo_key, const char *hi_key,
                       bool deals, ly_trig_bound *lo, ly_trig_bound *hi, ly_error *err)
{
    const char *const keys[] = {lo_key, hi_key, NULL};
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    char p[PATH_MAX_];
    json_t *x;
    if ((x = json_object_get(v, lo_key))) {
        pathf(p, sizeof p, "%s.%s", path, lo_key);
        TRY(getBound(x, p, deals, lo, err));
    }
    if ((x = json_object_get(v, hi_key))) {
        pathf(p, sizeof p, "%s.%s", path, hi_key);
        TRY(getBound(x, p, deals, hi, err));
    }
    if (!lo->set && !hi->set)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "needs %s or %s", lo_key,
                            hi_key);
    return LY_OK;
}

static ly_err getFacts(json_t *v, const char *path, ly_program *p, ly_trig_audience *a,
                       ly_error *err)
{
    static const char *const keys[] = {"name", "equals", "in", "absent", NULL};
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 32)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be a list of 1 to 32 tests");
    size_t n = json_array_size(v);
    ly_fact_test *t = ly_arena_alloc(memOf(p), n * sizeof *t);
    if (!t) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char ip[PATH_MAX_], kp[PATH_MAX_];
        pathf(ip, sizeof ip, "%s[%zu]", path, i);
        json_t *o = json_array_get(v, i), *x;
        TRY(ly__pf_need_object(o, ip, err));
        TRY(ly__pf_only_keys(o, ip, keys, err));
        pathf(kp, sizeof kp, "%s.name", ip);
        TRY(ly__pf_text(json_object_get(o, "name"), kp, 64, memOf(p), &t[i].name, err));
        int forms = 0;
        if ((x = json_object_get(o, "equals"))) {
            forms++;
            pathf(kp, sizeof kp, "%s.equals", ip);
            const char **one = ly_arena_alloc(memOf(p), sizeof *one);
            if (!one) return ly__pf_oom(err);
            TRY(ly__pf_text(x, kp, 64, memOf(p), &one[0], err));
            t[i].values.v = one;
            t[i].values.n = 1;
        }
        if ((x = json_object_get(o, "in"))) {
            forms++;
            pathf(kp, sizeof kp, "%s.in", ip);
            TRY(getStrings(x, kp, 64, p, NULL, NULL, &t[i].values, err));
        }
        if ((x = json_object_get(o, "absent"))) {
            forms++;
            pathf(kp, sizeof kp, "%s.absent", ip);
            TRY(getBool(x, kp, &t[i].absent, err));
            if (!t[i].absent)
                return ly_error_set(err, LY_EINVAL, "invalid_value", kp, "must be true");
        }
        if (forms != 1)
            return ly_error_set(err, LY_EINVAL, "invalid_value", ip,
                                "needs exactly one of equals, in, absent");
    }
    a->facts = t;
    a->n_facts = n;
    return LY_OK;
}

static ly_err parseAudience(json_t *v, const char *path, ly_program *p, ly_trig_audience *a,
                            ly_error *err)
{
    static const char *const keys[] = {
        "rfm_cells", "r_levels", "segments", "status", "loyalty", "tiers", "facts",
        "days_since_last", "deals", "first_deal_no_second_days", "points_expiring",
        "birthday_within_days", "new_category", "event", "tier_change", "close_to_next_tier",
        "attributes", NULL};
    memset(a, 0, sizeof *a);
    a->birthday_days = -1;
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    char kp[PATH_MAX_];
    json_t *x;
#define KP(k) (pathf(kp, sizeof kp, "%s.%s", path, k), kp)
    if ((x = json_object_get(v, "rfm_cells")))
        TRY(getStrings(x, KP("rfm_cells"), 27, p, isCell, "an RFM cell like \"R3F2M1\"",
                       &a->rfm_cells, err));
    if ((x = json_object_get(v, "r_levels"))) {
        if (!json_is_array(x) || json_array_size(x) == 0 || json_array_size(x) > 3)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP("r_levels"),
                                "must be a list of R levels 1, 2, 3");
        for (size_t i = 0; i < json_array_size(x); i++) {
            int64_t l;
            char ip[PATH_MAX_];
            pathf(ip, sizeof ip, "%s.r_levels[%zu]", path, i);
            TRY(ly__pf_int(json_array_get(x, i), ip, 1, 3, &l, err));
            a->r_levels |= 1u << l;
        }
    }
    if ((x = json_object_get(v, "segments")))
        TRY(getStrings(x, KP("segments"), 32, p, NULL, NULL, &a->segments, err));
    if ((x = json_object_get(v, "status")))
        TRY(getStrings(x, KP("status"), 3, p, isStatus, "active, sleeping or churned",
                       &a->statuses, err));
    if ((x = json_object_get(v, "loyalty")))
        TRY(getStrings(x, KP("loyalty"), 3, p, isLoyalty, "below, reached or unknown",
                       &a->loyalty, err));
    if ((x = json_object_get(v, "tiers")))
        TRY(getStrings(x, KP("tiers"), 32, p, NULL, NULL, &a->tiers, err));
    if ((x = json_object_get(v, "facts"))) TRY(getFacts(x, KP("facts"), p, a, err));
    /* The rules' own reader and syntax (program.c), so a test reads the same everywhere. */
    if ((x = json_object_get(v, "attributes")))
        TRY(ly__pf_fact_tests(x, KP("attributes"), p, &a->attributes, &a->n_attributes, err));
    if ((x = json_object_get(v, "days_since_last")))
        TRY(getRange(x, KP("days_since_last"), "from", "below", false, &a->days_from,
                     &a->days_below, err));
    if ((x = json_object_get(v, "deals")))
        TRY(getRange(x, KP("deals"), "min", "below", true, &a->deals_min, &a->deals_below,
                     err));
    if ((x = json_object_get(v, "first_deal_no_second_days")))
        TRY(ly__pf_int(x, KP("first_deal_no_second_days"), 1, 3650, &a->first_deal_days, err));
    if ((x = json_object_get(v, "points_expiring"))) {
        static const char *const ek[] = {"within_days", "min_points", NULL};
        TRY(ly__pf_need_object(x, KP("points_expiring"), err));
        TRY(ly__pf_only_keys(x, kp, ek, err));
        char ep[PATH_MAX_];
        pathf(ep, sizeof ep, "%s.points_expiring.within_days", path);
        TRY(ly__pf_int(json_object_get(x, "within_days"), ep, 1, 3650, &a->expiring_days, err));
        a->expiring_min = 1;
        json_t *m = json_object_get(x, "min_points");
        pathf(ep, sizeof ep, "%s.points_expiring.min_points", path);
        if (m) TRY(ly__pf_int(m, ep, 1, LY_AMOUNT_MAX, &a->expiring_min, err));
    }
    if ((x = json_object_get(v, "birthday_within_days")))
        TRY(ly__pf_int(x, KP("birthday_within_days"), 0, 60, &a->birthday_days, err));
    if ((x = json_object_get(v, "new_category"))) {
        TRY(getBool(x, KP("new_category"), &a->new_category, err));
        if (!a->new_category)
            return ly_error_set(err, LY_EINVAL, "invalid_value", kp, "must be true");
    }
    if ((x = json_object_get(v, "event"))) {
        static const char *const ek[] = {"type", "within_days", NULL};
        TRY(ly__pf_need_object(x, KP("event"), err));
        TRY(ly__pf_only_keys(x, kp, ek, err));
        char ep[PATH_MAX_];
        pathf(ep, sizeof ep, "%s.event.type", path);
        TRY(ly__pf_text(json_object_get(x, "type"), ep, 64, memOf(p), &a->event_type, err));
        a->event_days = 1;
        json_t *d = json_object_get(x, "within_days");
        pathf(ep, sizeof ep, "%s.event.within_days", path);
        if (d) TRY(ly__pf_int(d, ep, 1, 3650, &a->event_days, err));
    }
    if ((x = json_object_get(v, "tier_change"))) {
        static const char *const ek[] = {"change", "within_days", NULL};
        TRY(ly__pf_need_object(x, KP("tier_change"), err));
        TRY(ly__pf_only_keys(x, kp, ek, err));
        char ep[PATH_MAX_];
        pathf(ep, sizeof ep, "%s.tier_change.change", path);
        json_t *c = json_object_get(x, "change");
        const char *cs = json_is_string(c) ? json_string_value(c) : "";
        if (!c) a->tier_change = LY_TTC_ANY;
        else if (!strcmp(cs, "upgrade")) a->tier_change = LY_TTC_UPGRADE;
        else if (!strcmp(cs, "downgrade")) a->tier_change = LY_TTC_DOWNGRADE;
        else if (!strcmp(cs, "any")) a->tier_change = LY_TTC_ANY;
        else return ly_error_set(err, LY_EINVAL, "invalid_value", ep,
                                 "must be \"upgrade\", \"downgrade\" or \"any\"");
        a->tier_change_days = 1;
        json_t *d = json_object_get(x, "within_days");
        pathf(ep, sizeof ep, "%s.tier_change.within_days", path);
        if (d) TRY(ly__pf_int(d, ep, 1, 3650, &a->tier_change_days, err));
        if (!p->tiers)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP("tier_change"),
                                "the program has no tiers");
    }
    if ((x = json_object_get(v, "close_to_next_tier"))) {
        static const char *const ck[] = {"spend_within", "receipts_within", NULL};
        TRY(ly__pf_need_object(x, KP("close_to_next_tier"), err));
        TRY(ly__pf_only_keys(x, kp, ck, err));
        a->close_to_tier = true;
        a->close_spend = a->close_receipts = -1;
        char ep[PATH_MAX_];
        json_t *c;
        if ((c = json_object_get(x, "spend_within"))) {
            pathf(ep, sizeof ep, "%s.close_to_next_tier.spend_within", path);
            TRY(getDecimal(c, p->minor_units, ep, 0, LY_AMOUNT_MAX, &a->close_spend, err));
        }
        if ((c = json_object_get(x, "receipts_within"))) {
            pathf(ep, sizeof ep, "%s.close_to_next_tier.receipts_within", path);
            TRY(ly__pf_int(c, ep, 0, 100000, &a->close_receipts, err));
        }
        if (a->close_spend < 0 && a->close_receipts < 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP("close_to_next_tier"),
                                "needs spend_within or receipts_within");
        if (!p->tiers || p->tiers->n_tiers < 2)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP("close_to_next_tier"),
                                "the program has no tiers to climb");
    }
    if (a->tiers.n && !p->tiers)
        return ly_error_set(err, LY_EINVAL, "invalid_value", KP("tiers"),
                            "the program has no tiers");
#undef KP
    a->any = json_object_size(v) > 0;
    return LY_OK;
}

static ly_err parseOffer(json_t *v, const char *path, ly_program *p, ly_trig_offer *o,
                         ly_error *err)
{
    static const char *const keys[] = {"type", "campaign", "flag", "days", "rule", "count",
                                       "cost", NULL};
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    char kp[PATH_MAX_];
#define KP(k) (pathf(kp, sizeof kp, "%s.%s", path, k), kp)
    json_t *t = json_object_get(v, "type");
    const char *ts = json_is_string(t) ? json_string_value(t) : "";
    static const struct { const char *name; ly_trig_offer_kind k; const char *needs; } kinds[] = {
        {"coupon", LY_TO_COUPON, "campaign"}, {"bonus", LY_TO_BONUS, "flag"},
        {"combo", LY_TO_COMBO, "rule"}, {"recommend", LY_TO_RECOMMEND, NULL}};
    size_t ki = 0;
    while (ki < 4 && strcmp(ts, kinds[ki].name) != 0) ki++;
    if (ki == 4)
        return ly_error_set(err, LY_EINVAL, t ? "invalid_value" : "missing_field", KP("type"),
                            "must be \"coupon\", \"bonus\", \"combo\" or \"recommend\"");
    o->kind = kinds[ki].k;
    /* Each kind takes only its own settings (and cost). */
    static const char *const own[][3] = {{"campaign", NULL, NULL}, {"flag", "days", NULL},
                                         {"rule", NULL, NULL}, {"count", NULL, NULL}};
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        if (!strcmp(key, "type") || !strcmp(key, "cost")) continue;
        bool ok = false;
        for (int i = 0; i < 3 && own[ki][i]; i++) ok |= strcmp(key, own[ki][i]) == 0;
        if (!ok)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP(key),
                                "is not a setting of a %s offer", kinds[ki].name);
    }
    if (kinds[ki].needs && !json_object_get(v, kinds[ki].needs))
        return ly_error_set(err, LY_EINVAL, "missing_field", KP(kinds[ki].needs), "is required");
    switch (o->kind) {
    case LY_TO_COUPON: {
        TRY(ly__pf_text(json_object_get(v, "campaign"), KP("campaign"), 64, memOf(p), &o->coupon, err));
        const ly_coupon_campaign *cc = p->rewards ? ly_rewards_coupon(p->rewards, o->coupon) : NULL;
        if (!cc)
            return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                                "the program has no coupon campaign %s", o->coupon);
        if (cc->code)
            return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                                "campaign %s has a public code; a trigger issues unique codes",
                                o->coupon);
        break;
    }
    case LY_TO_BONUS: {
        TRY(ly__pf_text(json_object_get(v, "flag"), KP("flag"), 48, memOf(p), &o->flag, err));
        if (!isId(o->flag))
            return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                                "must be letters, digits, '-', '_' or '.'");
        o->days = 7;
        json_t *d = json_object_get(v, "days");
        if (d) TRY(ly__pf_int(d, KP("days"), 1, 365, &o->days, err));
        break;
    }
    case LY_TO_COMBO: {
        TRY(ly__pf_text(json_object_get(v, "rule"), KP("rule"), 64, memOf(p), &o->rule, err));
        bool found = false;
        for (size_t i = 0; i < p->n_rules; i++) found |= strcmp(p->rules[i].id, o->rule) == 0;
        if (!found)
            return ly_error_set(err, LY_EINVAL, "invalid_value", kp, "the program has no rule %s",
                                o->rule);
        break;
    }
    case LY_TO_RECOMMEND: {
        o->count = 3;
        json_t *c = json_object_get(v, "count");
        if (c) TRY(ly__pf_int(c, KP("count"), 1, 20, &o->count, err));
        break;
    }
    case LY_TO_NONE: break;
    }
    json_t *c = json_object_get(v, "cost");
    if (c) TRY(getDecimal(c, p->minor_units, KP("cost"), 0, LY_AMOUNT_MAX, &o->cost, err));
#undef KP
    return LY_OK;
}

static ly_err parseChannelList(json_t *v, const char *path, ly_program *p,
                               const ly_triggers_conf *tc, ly_strset *out, ly_error *err)
{
    TRY(getStrings(v, path, LY_TM_COUNT, p, isMedium,
                   "sms, email, push, messenger or call_list", out, err));
    for (size_t i = 0; i < out->n; i++) {
        ly_trig_medium m = LY_TM_SMS;
        ly_trig_medium_parse(out->v[i], &m);
        if (!tc->channels[m].declared) {
            char ip[PATH_MAX_];
            pathf(ip, sizeof ip, "%s[%zu]", path, i);
            return ly_error_set(err, LY_EINVAL, "invalid_value", ip,
                                "channel %s is not declared in \"channels\"", out->v[i]);
        }
    }
    return LY_OK;
}

/* The placeholders a message template may use (engage/triggers.c fills them). */
static const char *const placeholders[] = {"name", "balance", "tier", "expiring_points",
                                           "expiring_date", "offers", "coupon", "bonus_until",
                                           "combo", NULL};

static ly_err checkTemplate(const char *t, const char *path, ly_error *err)
{
    for (const char *s = strstr(t, "{{"); s; s = strstr(s + 2, "{{")) {
        const char *e = strstr(s + 2, "}}");
        if (!e)
            return ly_error_set(err, LY_EINVAL, "invalid_template", path, "a {{ is not closed");
        const char *k = s + 2;
        while (*k == ' ') k++;
        size_t n = (size_t)(e - k);
        while (n && k[n - 1] == ' ') n--;
        bool ok = false;
        for (size_t i = 0; placeholders[i] && !ok; i++)
            ok = strlen(placeholders[i]) == n && strncmp(placeholders[i], k, n) == 0;
        if (!ok)
            return ly_error_set(err, LY_EINVAL, "invalid_template", path,
                                "unknown placeholder {{%.*s}}: use name, balance, tier, "
                                "expiring_points, expiring_date, offers, coupon, bonus_until, combo",
                                (int)(n > 40 ? 40 : n), k);
    }
    return LY_OK;
}

static ly_err parseStep(json_t *root, json_t *v, const char *path, size_t index, ly_program *p,
                        const ly_triggers_conf *tc, ly_trig_step *s, ly_error *err)
{
    static const char *const keys[] = {"wait_days", "while", "subject", "text", "offer",
                                       "channels", "touchpoint", NULL};
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    char kp[PATH_MAX_];
#define KP(k) (pathf(kp, sizeof kp, "%s.%s", path, k), kp)
    json_t *x;
    if ((x = json_object_get(v, "wait_days"))) {
        TRY(ly__pf_int(x, KP("wait_days"), index ? 1 : 0, index ? 3650 : 0, &s->wait_days, err));
    } else if (index) {
        return ly_error_set(err, LY_EINVAL, "missing_field", KP("wait_days"),
                            "is required after the first step");
    }
    if ((x = json_object_get(v, "while"))) {
        if (index == 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", KP("while"),
                                "the first step's condition is the trigger's audience");
        ly_trig_audience *a = ly_arena_alloc(memOf(p), sizeof *a);
        if (!a) return ly__pf_oom(err);
        TRY(parseAudience(x, KP("while"), p, a, err));
        s->cond = a;
    }
    if ((x = json_object_get(v, "subject")))
        TRY(ly__pf_text(x, KP("subject"), 200, memOf(p), &s->subject, err));
    TRY(ly__pf_text(json_object_get(v, "text"), KP("text"), 2000, memOf(p), &s->text, err));
    TRY(checkTemplate(s->text, kp, err));
    if (s->subject) TRY(checkTemplate(s->subject, KP("subject"), err));
    if ((x = json_object_get(v, "offer"))) TRY(parseOffer(x, KP("offer"), p, &s->offer, err));
    if ((x = json_object_get(v, "channels")))
        TRY(parseChannelList(x, KP("channels"), p, tc, &s->channels, err));
    if ((x = json_object_get(v, "touchpoint")))
        TRY(getTouchpoint(root, x, KP("touchpoint"), p, &s->touchpoint, err));
#undef KP
    return LY_OK;
}

/* The R levels an audience targets (bits 1..3), from r_levels and the cells' R digits. */
static unsigned targetedLevels(const ly_trig_audience *a)
{
    unsigned m = a->r_levels;
    for (size_t i = 0; i < a->rfm_cells.n; i++) m |= 1u << (a->rfm_cells.v[i][1] - '0');
    return m;
}

static ly_err parseTrigger(json_t *root, json_t *v, const char *path, size_t index, ly_program *p,
                           const ly_triggers_conf *tc, ly_trigger_def *t, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "priority", "holdout_percent",
                                       "attribution_days", "reenter_days", "audience",
                                       "channels", "steps", NULL};
    TRY(ly__pf_need_object(v, path, err));
    TRY(ly__pf_only_keys(v, path, keys, err));
    char kp[PATH_MAX_];
#define KP(k) (pathf(kp, sizeof kp, "%s.%s", path, k), kp)
    json_t *x;
    t->file_index = index;
    TRY(ly__pf_text(json_object_get(v, "id"), KP("id"), 64, memOf(p), &t->id, err));
    if (!isId(t->id))
        return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                            "must be letters, digits, '-', '_' or '.'");
    if ((x = json_object_get(v, "name"))) TRY(ly__pf_text(x, KP("name"), 200, memOf(p), &t->name, err));
    t->holdout_bp = 1000;
    if ((x = json_object_get(v, "holdout_percent")))
        TRY(getPercent(x, KP("holdout_percent"), &t->holdout_bp, err));
    t->attribution_days = 14;
    if ((x = json_object_get(v, "attribution_days")))
        TRY(ly__pf_int(x, KP("attribution_days"), 1, 365, &t->attribution_days, err));
    t->reenter_days = 90;
    if ((x = json_object_get(v, "reenter_days")))
        TRY(ly__pf_int(x, KP("reenter_days"), 1, 3650, &t->reenter_days, err));
    TRY(parseAudience(json_object_get(v, "audience"), KP("audience"), p, &t->audience, err));
    if (!t->audience.any)
        return ly_error_set(err, LY_EINVAL, "invalid_value", kp, "needs at least one condition");
    x = json_object_get(v, "channels");
    if (json_is_array(x)) {
        TRY(parseChannelList(x, KP("channels"), p, tc, &t->channels[0], err));
    } else if (json_is_object(x)) {
        static const char *const ck[] = {"default", "R1", "R2", "R3", NULL};
        TRY(ly__pf_only_keys(x, KP("channels"), ck, err));
        for (int i = 0; i < 4; i++) {
            json_t *l = json_object_get(x, ck[i]);
            char cp[PATH_MAX_];
            pathf(cp, sizeof cp, "%s.channels.%s", path, ck[i]);
            if (l) TRY(parseChannelList(l, cp, p, tc, &t->channels[i], err));
        }
    } else {
        return ly_error_set(err, LY_EINVAL, x ? "invalid_type" : "missing_field", KP("channels"),
                            "must be a list of channels or {\"default\", \"R1\", \"R2\", \"R3\"}");
    }
    x = json_object_get(v, "steps");
    if (!json_is_array(x) || json_array_size(x) == 0 || json_array_size(x) > 10)
        return ly_error_set(err, LY_EINVAL, x ? "invalid_value" : "missing_field", KP("steps"),
                            "must be a list of 1 to 10 steps");
    size_t n = json_array_size(x);
    ly_trig_step *steps = ly_arena_alloc(memOf(p), n * sizeof *steps);
    if (!steps) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char sp[PATH_MAX_];
        pathf(sp, sizeof sp, "%s.steps[%zu]", path, i);
        TRY(parseStep(root, json_array_get(x, i), sp, i, p, tc, &steps[i], err));
        bool any = steps[i].channels.n > 0;
        for (int c = 0; c < 4; c++) any |= t->channels[c].n > 0;
        if (!any)
            return ly_error_set(err, LY_EINVAL, "invalid_value", sp, "has no channel to use");
    }
    t->steps = steps;
    t->n_steps = n;
    if ((x = json_object_get(v, "priority"))) {
        TRY(ly__pf_int(x, KP("priority"), -1000000, 1000000, &t->priority, err));
        t->priority_set = true;
    } else {
        /* The method's order of winning back: R3 first, then R2, then R1. */
        unsigned m = targetedLevels(&t->audience);
        t->priority = m & 8u ? 100 : m & 4u ? 200 : m & 2u ? 300 : 500;
    }
#undef KP
    return LY_OK;
}

static int byPriority(const void *a, const void *b)
{
    const ly_trigger_def *x = a, *y = b;
    if (x->priority != y->priority) return x->priority < y->priority ? -1 : 1;
    return x->file_index < y->file_index ? -1 : x->file_index > y->file_index;
}

static ly_err parseHhmm(json_t *v, const char *path, int *out, ly_error *err)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strlen(s) == 5 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
        s[2] == ':' && isdigit((unsigned char)s[3]) && isdigit((unsigned char)s[4])) {
        int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
        if (h < 24 && m < 60) {
            *out = h * 60 + m;
            return LY_OK;
        }
    }
    return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                        "must be a local time \"HH:MM\"");
}

static ly_err parseChannels(json_t *root, json_t *v, ly_program *p, ly_triggers_conf *tc,
                            ly_error *err)
{
    static const char *const ck[] = {"cost", "delivery", "consent", "touchpoint", NULL};
    for (int m = 0; m < LY_TM_COUNT; m++) {
        tc->channels[m].medium = (ly_trig_medium)m;
        tc->channels[m].delivery = mediumNames[m];
        /* sms, email and push need their own consent; a messenger and the call list
         * reach the phone, so they need the sms (phone) consent unless told otherwise. */
        tc->channels[m].consent = m == LY_TM_EMAIL ? LY_CH_EMAIL : m == LY_TM_PUSH ? LY_CH_PUSH
                                                                                   : LY_CH_SMS;
    }
    if (!v) return LY_OK;
    TRY(ly__pf_need_object(v, "channels", err));
    const char *key;
    json_t *o;
    json_object_foreach(v, key, o) {
        char cp[PATH_MAX_], kp[PATH_MAX_];
        pathf(cp, sizeof cp, "channels.%s", key);
        ly_trig_medium m = LY_TM_SMS;
        if (!ly_trig_medium_parse(key, &m))
            return ly_error_set(err, LY_EINVAL, "unknown_field", cp,
                                "a channel is sms, email, push, messenger or call_list");
        TRY(ly__pf_need_object(o, cp, err));
        TRY(ly__pf_only_keys(o, cp, ck, err));
        ly_trig_channel *c = &tc->channels[m];
        c->declared = true;
        json_t *x;
        if ((x = json_object_get(o, "cost"))) {
            pathf(kp, sizeof kp, "%s.cost", cp);
            TRY(getDecimal(x, p->minor_units, kp, 0, LY_AMOUNT_MAX, &c->cost, err));
        }
        if ((x = json_object_get(o, "delivery"))) {
            pathf(kp, sizeof kp, "%s.delivery", cp);
            TRY(ly__pf_text(x, kp, 32, memOf(p), &c->delivery, err));
            if (!isDeliveryName(c->delivery))
                return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                                    "must be 1-32 of a-z, 0-9 and _");
        }
        if ((x = json_object_get(o, "consent"))) {
            pathf(kp, sizeof kp, "%s.consent", cp);
            const char *s = json_is_string(x) ? json_string_value(x) : "";
            ly_channel ch;
            if (!strcmp(s, "none")) c->consent = -1;
            else if (ly_channel_parse(s, &ch)) c->consent = (int)ch;
            else return ly_error_set(err, LY_EINVAL, "invalid_value", kp,
                                     "must be \"sms\", \"email\", \"push\" or \"none\"");
        }
        if ((x = json_object_get(o, "touchpoint"))) {
            pathf(kp, sizeof kp, "%s.touchpoint", cp);
            TRY(getTouchpoint(root, x, kp, p, &c->touchpoint, err));
        }
    }
    return LY_OK;
}

ly_err ly__program_triggers_parse(json_t *root, ly_program *p, ly_error *err)
{
    json_t *ch = json_object_get(root, "channels"), *tr = json_object_get(root, "triggers");
    if (!ch && !tr) return LY_OK;
    if (!p->mem) return ly__pf_oom(err);
    ly_triggers_conf *tc = ly_arena_alloc(memOf(p), sizeof *tc);
    if (!tc) return ly__pf_oom(err);
    TRY(parseChannels(root, ch, p, tc, err));
    pathf(tc->seed, sizeof tc->seed, "loyal");
    tc->r1_max_cost = -1;
    tc->margin_bp = -1;
    tc->max_per_run = 100000;
    if (tr) {
        static const char *const keys[] = {"seed", "program_holdout_percent", "caps",
                                           "quiet_hours", "r1_max_cost", "margin_percent",
                                           "max_per_run", "list", NULL};
        TRY(ly__pf_need_object(tr, "triggers", err));
        TRY(ly__pf_only_keys(tr, "triggers", keys, err));
        json_t *x;
        if ((x = json_object_get(tr, "seed"))) {
            const char *s;
            TRY(ly__pf_text(x, "triggers.seed", 64, memOf(p), &s, err));
            pathf(tc->seed, sizeof tc->seed, "%s", s);
        }
        if ((x = json_object_get(tr, "program_holdout_percent")))
            TRY(getPercent(x, "triggers.program_holdout_percent", &tc->program_holdout_bp, err));
        if ((x = json_object_get(tr, "caps"))) {
            static const char *const ck[] = {"per_day", "per_week", NULL};
            TRY(ly__pf_need_object(x, "triggers.caps", err));
            TRY(ly__pf_only_keys(x, "triggers.caps", ck, err));
            json_t *c;
            if ((c = json_object_get(x, "per_day")))
                TRY(ly__pf_int(c, "triggers.caps.per_day", 1, 100, &tc->per_day, err));
            if ((c = json_object_get(x, "per_week")))
                TRY(ly__pf_int(c, "triggers.caps.per_week", 1, 700, &tc->per_week, err));
        }
        if ((x = json_object_get(tr, "quiet_hours"))) {
            static const char *const qk[] = {"from", "to", NULL};
            TRY(ly__pf_need_object(x, "triggers.quiet_hours", err));
            TRY(ly__pf_only_keys(x, "triggers.quiet_hours", qk, err));
            TRY(parseHhmm(json_object_get(x, "from"), "triggers.quiet_hours.from",
                          &tc->quiet_from, err));
            TRY(parseHhmm(json_object_get(x, "to"), "triggers.quiet_hours.to", &tc->quiet_to,
                          err));
            if (tc->quiet_from == tc->quiet_to)
                return ly_error_set(err, LY_EINVAL, "invalid_value", "triggers.quiet_hours",
                                    "from and to must differ");
            tc->quiet = true;
        }
        if ((x = json_object_get(tr, "r1_max_cost")))
            TRY(getDecimal(x, p->minor_units, "triggers.r1_max_cost", 0, LY_AMOUNT_MAX,
                           &tc->r1_max_cost, err));
        if ((x = json_object_get(tr, "margin_percent")))
            TRY(getPercent(x, "triggers.margin_percent", &tc->margin_bp, err));
        if ((x = json_object_get(tr, "max_per_run")))
            TRY(ly__pf_int(x, "triggers.max_per_run", 1, 10000000, &tc->max_per_run, err));
        x = json_object_get(tr, "list");
        if (!json_is_array(x) || json_array_size(x) > 200)
            return ly_error_set(err, LY_EINVAL, x ? "invalid_value" : "missing_field",
                                "triggers.list", "must be a list of at most 200 triggers");
        size_t n = json_array_size(x);
        ly_trigger_def *defs = n ? ly_arena_alloc(memOf(p), n * sizeof *defs) : NULL;
        if (n && !defs) return ly__pf_oom(err);
        for (size_t i = 0; i < n; i++) {
            char tp[PATH_MAX_];
            pathf(tp, sizeof tp, "triggers.list[%zu]", i);
            TRY(parseTrigger(root, json_array_get(x, i), tp, i, p, tc, &defs[i], err));
            for (size_t j = 0; j < i; j++)
                if (strcmp(defs[j].id, defs[i].id) == 0) {
                    pathf(tp, sizeof tp, "triggers.list[%zu].id", i);
                    return ly_error_set(err, LY_EINVAL, "duplicate_id", tp,
                                        "trigger %s is defined twice", defs[i].id);
                }
        }
        if (n) qsort(defs, n, sizeof *defs, byPriority);
        tc->triggers = defs;
        tc->n_triggers = n;
    }
    p->triggers = tc;
    return LY_OK;
}
