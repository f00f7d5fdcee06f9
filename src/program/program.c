/*
 * program.c - loads the program file (JSON) into an ly_program.
 *
 * The file is for people: percentages and money are written as decimal text ("5", "2.5",
 * "1.00") or integers, never as JSON reals, so "0.1" means exactly one tenth. Every key is
 * known: a misspelt key is an error that names its path, not a silently ignored setting.
 */
#include "program/program.h"
#include "program/rewards.h"
#include "program/triggers.h"
#include "program/survey.h"
#include "program/program_internal.h"
#include "os/os.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal given as a JSON string ("2.5") or integer (2) at the given scale. */
static ly_err getDecimal(json_t *v, int scale, const char *path, int64_t *out, ly_error *err)
{
    if (json_is_integer(v)) {
        int64_t x = json_integer_value(v);
        int64_t m = 1;
        for (int i = 0; i < scale; i++) m *= 10;
        if (x > INT64_MAX / m || x < INT64_MIN / m)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "number too large");
        *out = x * m;
        return LY_OK;
    }
    if (json_is_string(v) && ly_decimal_parse(json_string_value(v), scale, out)) return LY_OK;
    return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                        "must be a decimal written as a string (\"2.5\") or an integer, "
                        "with at most %d digits after the point", scale);
}

static ly_err getInt(json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out,
                     ly_error *err)
{
    if (!json_is_integer(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be an integer");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be between %lld and %lld", (long long)lo, (long long)hi);
    *out = x;
    return LY_OK;
}

static ly_err getString(json_t *v, const char *path, char *out, size_t size, ly_error *err)
{
    if (!json_is_string(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be a string");
    const char *s = json_string_value(v);
    if (strlen(s) >= size)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be at most %zu characters", size - 1);
    memcpy(out, s, strlen(s) + 1);
    return LY_OK;
}

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)

/* ---------------------------------------------------------------------------------------
 * Rules and selectors: parsed into memory the program owns (an arena at p->mem).
 * ------------------------------------------------------------------------------------- */

static ly_arena *memOf(ly_program *p) { return p->mem; }

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory");
}

/* A JSON array of non-empty strings into a set. */
static ly_err getSet(json_t *v, const char *path, ly_program *p, ly_strset *out, ly_error *err)
{
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be a list of strings");
    size_t n = json_array_size(v);
    if (n > 100000)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "at most 100000 entries");
    const char **items = ly_arena_alloc(memOf(p), (n ? n : 1) * sizeof *items);
    if (!items) return oom(err);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_string(x) || !json_string_length(x)) {
            char q[256];
            snprintf(q, sizeof q, "%s[%zu]", path, i);
            return ly_error_set(err, LY_EINVAL, "invalid_value", q, "must be a non-empty string");
        }
        if (!(items[i] = ly_arena_strdup(memOf(p), json_string_value(x)))) return oom(err);
    }
    out->v = items;
    out->n = n;
    return LY_OK;
}

/* {"skus", "categories", "brands"} and, when with_exclude, "exclude_skus",
 * "exclude_categories", "exclude_brands". */
static ly_err getSelector(json_t *o, const char *path, bool with_exclude, ly_program *p,
                          ly_line_selector *out, ly_error *err)
{
    static const char *const inc[] = {"skus", "categories", "brands", NULL};
    static const char *const all[] = {"skus", "categories", "brands", "exclude_skus",
                                      "exclude_categories", "exclude_brands", NULL};
    memset(out, 0, sizeof *out);
    TRY(ly__pf_need_object(o, path, err));
    TRY(ly__pf_only_keys(o, path, with_exclude ? all : inc, err));
    ly_strset *sets[6] = {&out->skus, &out->categories, &out->brands, &out->not_skus,
                          &out->not_categories, &out->not_brands};
    for (int i = 0; i < (with_exclude ? 6 : 3); i++) {
        json_t *v = json_object_get(o, all[i]);
        if (!v) continue;
        char q[256];
        snprintf(q, sizeof q, "%s.%s", path, all[i]);
        TRY(getSet(v, q, p, sets[i], err));
    }
    return LY_OK;
}

/* "HH:MM" (00:00 .. 24:00) into minutes after midnight. */
static ly_err getClock(json_t *v, const char *path, int *out, ly_error *err)
{
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    if (strlen(s) == 5 && s[2] == ':' && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' &&
        s[1] <= '9' && s[3] >= '0' && s[3] <= '5' && s[4] >= '0' && s[4] <= '9') {
        int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
        if (h < 24 || (h == 24 && m == 0)) {
            *out = h * 60 + m;
            return LY_OK;
        }
    }
    return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be a local time \"HH:MM\"");
}

static ly_err getDate(json_t *v, const char *path, int64_t *out, ly_error *err)
{
    if (json_is_string(v) && ly_date_parse(json_string_value(v), out)) return LY_OK;
    return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be a date \"YYYY-MM-DD\"");
}

static ly_err getBool(json_t *v, const char *path, bool *out, ly_error *err)
{
    if (!json_is_boolean(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be true or false");
    *out = json_is_true(v);
    return LY_OK;
}

/* [{"name", "equals"? | "in"? | "absent"?}] */
static ly_err getFactTests(json_t *v, const char *path, ly_program *p, const ly_fact_test **out,
                           size_t *n_out, ly_error *err)
{
    static const char *const keys[] = {"name", "equals", "in", "absent", NULL};
    void *room;
    size_t n;
    TRY(ly__pf_list(v, path, "tests", 0, sizeof(ly_fact_test), memOf(p), &room, &n, err));
    ly_fact_test *t = room;
    for (size_t i = 0; i < n; i++) {
        char q[256], f[300];
        json_t *o;
        TRY(ly__pf_item(v, path, i, keys, q, sizeof q, &o, err));
        json_t *name = json_object_get(o, "name");
        snprintf(f, sizeof f, "%s.name", q);
        if (!json_is_string(name) || !json_string_length(name))
            return ly_error_set(err, LY_EINVAL, name ? "invalid_value" : "missing_field", f,
                                "must name the fact");
        if (!(t[i].name = ly_arena_strdup(memOf(p), json_string_value(name)))) return oom(err);
        json_t *eq = json_object_get(o, "equals"), *in = json_object_get(o, "in"),
               *ab = json_object_get(o, "absent");
        if ((eq != NULL) + (in != NULL) + (ab != NULL) > 1)
            return ly_error_set(err, LY_EINVAL, "invalid_value", q,
                                "give one of equals, in or absent");
        if (eq) {
            snprintf(f, sizeof f, "%s.equals", q);
            if (!json_is_string(eq))
                return ly_error_set(err, LY_EINVAL, "invalid_type", f,
                                    "must be a string (facts are compared as text)");
            const char **one = ly_arena_alloc(memOf(p), sizeof *one);
            if (!one || !(one[0] = ly_arena_strdup(memOf(p), json_string_value(eq)))) return oom(err);
            t[i].values = (ly_strset){one, 1};
        } else if (in) {
            snprintf(f, sizeof f, "%s.in", q);
            TRY(getSet(in, f, p, &t[i].values, err));
            if (!t[i].values.n)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must list a value");
        } else if (ab) {
            snprintf(f, sizeof f, "%s.absent", q);
            TRY(getBool(ab, f, &t[i].absent, err));
            if (!t[i].absent)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "must be true (leave it out to test presence)");
        }
    }
    *out = t;
    *n_out = n;
    return LY_OK;
}

/* The rules' readers for the other sections (program_internal.h): trigger audiences and
 * offers preferences test attributes with exactly the rules' syntax. */
ly_err ly__pf_fact_tests(json_t *v, const char *path, ly_program *p, const ly_fact_test **out,
                         size_t *n_out, ly_error *err)
{
    return getFactTests(v, path, p, out, n_out, err);
}

ly_err ly__pf_selector(json_t *o, const char *path, bool with_exclude, ly_program *p,
                       ly_line_selector *out, ly_error *err)
{
    return getSelector(o, path, with_exclude, p, out, err);
}

static ly_err parseConditions(json_t *o, const char *rp, ly_program *p, ly_conditions *c,
                              ly_error *err)
{
    static const char *const keys[] = {"stores", "channels", "payments", "weekdays", "hours",
                                       "dates", "lines", "min_amount", "first_purchase",
                                       "attributes", "facts", NULL};
    static const char *const days[7] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    char path[160], q[192];
    snprintf(path, sizeof path, "%s.conditions", rp);
    TRY(ly__pf_need_object(o, path, err));
    TRY(ly__pf_only_keys(o, path, keys, err));
    json_t *v;
#define SUB(k) (snprintf(q, sizeof q, "%s.%s", path, k), q)
    if ((v = json_object_get(o, "stores"))) TRY(getSet(v, SUB("stores"), p, &c->stores, err));
    if ((v = json_object_get(o, "payments"))) TRY(getSet(v, SUB("payments"), p, &c->payments, err));
    if ((v = json_object_get(o, "channels"))) {
        ly_strset set;
        TRY(getSet(v, SUB("channels"), p, &set, err));
        for (size_t i = 0; i < set.n; i++) {
            ly_sales_channel ch;
            if (!ly_sales_channel_parse(set.v[i], &ch)) {
                char f[256];
                snprintf(f, sizeof f, "%s[%zu]", q, i);
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "must be \"store\", \"online\" or \"app\"");
            }
            c->channels |= 1u << ch;
        }
    }
    if ((v = json_object_get(o, "weekdays"))) {
        ly_strset set;
        TRY(getSet(v, SUB("weekdays"), p, &set, err));
        for (size_t i = 0; i < set.n; i++) {
            int d = -1;
            for (int k = 0; k < 7; k++)
                if (strcmp(set.v[i], days[k]) == 0) d = k;
            if (d < 0) {
                char f[256];
                snprintf(f, sizeof f, "%s[%zu]", q, i);
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "must be mon, tue, wed, thu, fri, sat or sun");
            }
            c->weekdays |= 1u << d;
        }
    }
    static const char *const range[] = {"from", "to", NULL};
    if ((v = json_object_get(o, "hours"))) {
        TRY(ly__pf_need_object(v, SUB("hours"), err));
        TRY(ly__pf_only_keys(v, q, range, err));
        char f[256];
        snprintf(f, sizeof f, "%s.from", q);
        json_t *x = json_object_get(v, "from");
        if (!x) return ly_error_set(err, LY_EINVAL, "missing_field", f, "is required");
        TRY(getClock(x, f, &c->minute_from, err));
        snprintf(f, sizeof f, "%s.to", q);
        if (!(x = json_object_get(v, "to"))) return ly_error_set(err, LY_EINVAL, "missing_field", f, "is required");
        TRY(getClock(x, f, &c->minute_to, err));
        c->has_hours = true;
    }
    if ((v = json_object_get(o, "dates"))) {
        TRY(ly__pf_need_object(v, SUB("dates"), err));
        TRY(ly__pf_only_keys(v, q, range, err));
        c->has_dates = true;
        c->day_from = INT64_MIN / 4;
        c->day_to = INT64_MAX / 4;
        char f[256];
        json_t *x;
        snprintf(f, sizeof f, "%s.from", q);
        if ((x = json_object_get(v, "from"))) TRY(getDate(x, f, &c->day_from, err));
        snprintf(f, sizeof f, "%s.to", q);
        if ((x = json_object_get(v, "to"))) TRY(getDate(x, f, &c->day_to, err));
    }
    if ((v = json_object_get(o, "lines"))) {
        TRY(getSelector(v, SUB("lines"), true, p, &c->lines, err));
        c->has_lines = !ly_selector_empty(&c->lines);
    }
    if ((v = json_object_get(o, "min_amount"))) {
        static const char *const mk[] = {"amount", "of", NULL};
        TRY(ly__pf_need_object(v, SUB("min_amount"), err));
        TRY(ly__pf_only_keys(v, q, mk, err));
        char f[256];
        snprintf(f, sizeof f, "%s.amount", q);
        json_t *x = json_object_get(v, "amount");
        if (!x) return ly_error_set(err, LY_EINVAL, "missing_field", f, "is required");
        TRY(getDecimal(x, p->minor_units, f, &c->min_amount, err));
        if ((x = json_object_get(v, "of"))) {
            const char *s = json_is_string(x) ? json_string_value(x) : "";
            snprintf(f, sizeof f, "%s.of", q);
            if (strcmp(s, "eligible") == 0) c->min_on_eligible = true;
            else if (strcmp(s, "receipt") != 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "must be \"receipt\" or \"eligible\"");
        }
    }
    if ((v = json_object_get(o, "first_purchase"))) {
        bool b = false;
        TRY(getBool(v, SUB("first_purchase"), &b, err));
        c->first_purchase = b ? 1 : -1;
        p->uses_first_purchase = true;
    }
    if ((v = json_object_get(o, "attributes"))) {
        TRY(getFactTests(v, SUB("attributes"), p, &c->attributes, &c->n_attributes, err));
        p->uses_facts = true;
    }
    if ((v = json_object_get(o, "facts"))) {
        TRY(getFactTests(v, SUB("facts"), p, &c->facts, &c->n_facts, err));
        p->uses_facts = true;
    }
#undef SUB
    return LY_OK;
}

static const struct { const char *name; ly_effect_kind kind; } effectNames[] = {
    {"points_percent", LY_EFFECT_POINTS_PERCENT}, {"points_fixed", LY_EFFECT_POINTS_FIXED},
    {"points_multiplier", LY_EFFECT_POINTS_MULTIPLIER},
    {"discount_percent", LY_EFFECT_DISCOUNT_PERCENT},
    {"discount_fixed", LY_EFFECT_DISCOUNT_FIXED}, {"fixed_price", LY_EFFECT_FIXED_PRICE},
    {"gift", LY_EFFECT_GIFT}, {"bundle", LY_EFFECT_BUNDLE},
};

/* The keys each effect type takes, besides "type" and "rounding". */
static const char *const *effectKeys(ly_effect_kind k)
{
    static const char *const pct[] = {"type", "percent", "rounding", NULL};
    static const char *const mult[] = {"type", "multiplier", "rounding", NULL};
    static const char *const pts[] = {"type", "points", NULL};
    static const char *const amt[] = {"type", "amount", NULL};
    static const char *const price[] = {"type", "price", NULL};
    static const char *const gift[] = {"type", "buy", "get", NULL};
    static const char *const bundle[] = {"type", "items", "price", "percent", "amount", "points",
                                         "rounding", NULL};
    switch (k) {
    case LY_EFFECT_POINTS_PERCENT:
    case LY_EFFECT_DISCOUNT_PERCENT: return pct;
    case LY_EFFECT_POINTS_MULTIPLIER: return mult;
    case LY_EFFECT_POINTS_FIXED: return pts;
    case LY_EFFECT_DISCOUNT_FIXED: return amt;
    case LY_EFFECT_FIXED_PRICE: return price;
    case LY_EFFECT_GIFT: return gift;
    case LY_EFFECT_BUNDLE: return bundle;
    }
    return pts;
}

static ly_err parseEffect(json_t *o, const char *rp, ly_program *p, ly_effect *e, ly_error *err)
{
    char path[160], q[192];
    snprintf(path, sizeof path, "%s.effect", rp);
    TRY(ly__pf_need_object(o, path, err));
#define SUB(k) (snprintf(q, sizeof q, "%s.%s", path, k), q)
    json_t *t = json_object_get(o, "type");
    if (!t) return ly_error_set(err, LY_EINVAL, "missing_field", SUB("type"), "is required");
    const char *ts = json_is_string(t) ? json_string_value(t) : "";
    bool found = false;
    for (size_t i = 0; i < sizeof effectNames / sizeof effectNames[0]; i++)
        if (strcmp(ts, effectNames[i].name) == 0) {
            e->kind = effectNames[i].kind;
            found = true;
        }
    if (!found)
        return ly_error_set(err, LY_EINVAL, "invalid_value", SUB("type"),
                            "must be points_percent, points_fixed, points_multiplier, "
                            "discount_percent, discount_fixed, fixed_price, gift or bundle");
    TRY(ly__pf_only_keys(o, path, effectKeys(e->kind), err));
    bool points_kind = e->kind == LY_EFFECT_POINTS_PERCENT || e->kind == LY_EFFECT_POINTS_MULTIPLIER;
    e->rounding = points_kind ? p->earn_rounding : LY_ROUND_DOWN;
    json_t *v;
    if ((v = json_object_get(o, "rounding"))) {
        if (!json_is_string(v) || !ly_rounding_parse(json_string_value(v), &e->rounding))
            return ly_error_set(err, LY_EINVAL, "invalid_value", SUB("rounding"),
                                "must be \"down\", \"half_up\", \"half_even\" or \"up\"");
    }
    int64_t x;
    switch (e->kind) {
    case LY_EFFECT_POINTS_PERCENT:
    case LY_EFFECT_DISCOUNT_PERCENT:
        if (!(v = json_object_get(o, "percent")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("percent"), "is required");
        return getDecimal(v, 2, SUB("percent"), &e->percent_bp, err);
    case LY_EFFECT_POINTS_MULTIPLIER:
        if (!(v = json_object_get(o, "multiplier")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("multiplier"), "is required");
        return getDecimal(v, 2, SUB("multiplier"), &e->multiplier_c, err);
    case LY_EFFECT_POINTS_FIXED:
        if (!(v = json_object_get(o, "points")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("points"), "is required");
        return getInt(v, SUB("points"), 1, LY_AMOUNT_MAX, &e->points, err);
    case LY_EFFECT_DISCOUNT_FIXED:
        if (!(v = json_object_get(o, "amount")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("amount"), "is required");
        return getDecimal(v, p->minor_units, SUB("amount"), &e->amount, err);
    case LY_EFFECT_FIXED_PRICE:
        if (!(v = json_object_get(o, "price")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("price"), "is required");
        return getDecimal(v, p->minor_units, SUB("price"), &e->amount, err);
    case LY_EFFECT_GIFT:
        if (!(v = json_object_get(o, "buy")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("buy"), "is required");
        TRY(getInt(v, SUB("buy"), 1, 1000, &e->buy, err));
        if (!(v = json_object_get(o, "get")))
            return ly_error_set(err, LY_EINVAL, "missing_field", SUB("get"), "is required");
        return getInt(v, SUB("get"), 1, 1000, &e->get, err);
    case LY_EFFECT_BUNDLE: {
        SUB("items");
        if (!(v = json_object_get(o, "items")))
            return ly_error_set(err, LY_EINVAL, "missing_field", q, "is required");
        if (!json_is_array(v))
            return ly_error_set(err, LY_EINVAL, "invalid_type", q, "must be a list of items");
        size_t n = json_array_size(v);
        if (n < 2 || n > 20)
            return ly_error_set(err, LY_EINVAL, "invalid_value", q, "a bundle needs 2 to 20 items");
        ly_bundle_item *items = ly_arena_alloc(memOf(p), n * sizeof *items);
        if (!items) return oom(err);
        for (size_t i = 0; i < n; i++) {
            char ip[224], f[256];
            snprintf(ip, sizeof ip, "%s.items[%zu]", path, i);
            json_t *it = json_array_get(v, i);
            TRY(ly__pf_need_object(it, ip, err));
            json_t *qty = json_object_get(it, "qty");
            items[i].units = 1;
            if (qty) {
                snprintf(f, sizeof f, "%s.qty", ip);
                TRY(getInt(qty, f, 1, 1000, &x, err));
                items[i].units = x;
                json_incref(qty);
                json_object_del(it, "qty"); /* the rest is a selector */
            }
            ly_err rc = getSelector(it, ip, true, p, &items[i].sel, err);
            if (qty) {
                json_object_set_new(it, "qty", qty);
            }
            TRY(rc);
            if (ly_selector_empty(&items[i].sel))
                return ly_error_set(err, LY_EINVAL, "invalid_value", ip,
                                    "must name skus, categories or brands");
        }
        e->items = items;
        e->n_items = n;
        static const char *const benefits[] = {"price", "percent", "amount", "points"};
        int given = 0;
        for (int b = 0; b < 4; b++) {
            if (!(v = json_object_get(o, benefits[b]))) continue;
            given++;
            e->benefit = (ly_bundle_benefit)b;
            if (b == 1) TRY(getDecimal(v, 2, SUB("percent"), &e->percent_bp, err));
            else if (b == 3) TRY(getInt(v, SUB("points"), 1, LY_AMOUNT_MAX, &e->points, err));
            else TRY(getDecimal(v, p->minor_units, SUB(benefits[b]), &e->amount, err));
        }
        if (given != 1)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "a bundle gives exactly one of price, percent, amount or points");
        return LY_OK;
    }
    }
#undef SUB
    return LY_OK;
}

static ly_err parseRule(json_t *o, size_t index, ly_program *p, ly_rule *r, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "priority", "exclusive", "conditions",
                                       "effect", "cap", "limit", "budget", NULL};
    char rp[64], q[192];
    snprintf(rp, sizeof rp, "rules[%zu]", index);
    memset(r, 0, sizeof *r);
    r->index = index;
    TRY(ly__pf_need_object(o, rp, err));
    TRY(ly__pf_only_keys(o, rp, keys, err));
#define SUB(k) (snprintf(q, sizeof q, "%s.%s", rp, k), q)
    json_t *v = json_object_get(o, "id");
    if (!v) return ly_error_set(err, LY_EINVAL, "missing_field", SUB("id"), "is required");
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 64)
        return ly_error_set(err, LY_EINVAL, "invalid_value", SUB("id"),
                            "must be a string of 1 to 64 characters");
    if (!(r->id = ly_arena_strdup(memOf(p), json_string_value(v)))) return oom(err);
    if ((v = json_object_get(o, "name"))) {
        if (!json_is_string(v))
            return ly_error_set(err, LY_EINVAL, "invalid_type", SUB("name"), "must be a string");
        if (!(r->name = ly_arena_strdup(memOf(p), json_string_value(v)))) return oom(err);
    }
    if ((v = json_object_get(o, "priority")))
        TRY(getInt(v, SUB("priority"), -1000000, 1000000, &r->priority, err));
    if ((v = json_object_get(o, "exclusive"))) TRY(getBool(v, SUB("exclusive"), &r->exclusive, err));
    if ((v = json_object_get(o, "conditions"))) TRY(parseConditions(v, rp, p, &r->when, err));
    if (!(v = json_object_get(o, "effect")))
        return ly_error_set(err, LY_EINVAL, "missing_field", SUB("effect"), "is required");
    TRY(parseEffect(v, rp, p, &r->effect, err));
    if ((v = json_object_get(o, "cap"))) {
        static const char *const ck[] = {"points", "discount", NULL};
        TRY(ly__pf_need_object(v, SUB("cap"), err));
        TRY(ly__pf_only_keys(v, q, ck, err));
        char f[256];
        json_t *x;
        snprintf(f, sizeof f, "%s.cap.points", rp);
        if ((x = json_object_get(v, "points"))) TRY(getInt(x, f, 1, LY_AMOUNT_MAX, &r->cap_points, err));
        snprintf(f, sizeof f, "%s.cap.discount", rp);
        if ((x = json_object_get(v, "discount"))) {
            TRY(getDecimal(x, p->minor_units, f, &r->cap_discount, err));
            if (r->cap_discount <= 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", f, "must be more than 0");
        }
    }
#undef SUB
    TRY(ly__program_rule_rewards(o, rp, p, r, err)); /* limit, budget (program/rewards.c) */
    return ly_rule_validate(r, err);
}

static ly_err parseRules(json_t *v, ly_program *p, ly_error *err)
{
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", "rules", "must be a list of rules");
    size_t n = json_array_size(v);
    if (n > 10000) return ly_error_set(err, LY_EINVAL, "invalid_value", "rules", "at most 10000 rules");
    ly_rule *rules = ly_arena_alloc(memOf(p), (n ? n : 1) * sizeof *rules);
    if (!rules) return oom(err);
    for (size_t i = 0; i < n; i++) {
        TRY(parseRule(json_array_get(v, i), i, p, &rules[i], err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(rules[j].id, rules[i].id) == 0) {
                char f[64];
                snprintf(f, sizeof f, "rules[%zu].id", i);
                return ly_error_set(err, LY_EINVAL, "invalid_value", f,
                                    "\"%s\" is already the id of rules[%zu]", rules[i].id, j);
            }
    }
    /* The order they apply in: priority, then file order (a stable insertion sort). */
    for (size_t i = 1; i < n; i++) {
        ly_rule t = rules[i];
        size_t j = i;
        while (j > 0 && rules[j - 1].priority > t.priority) {
            rules[j] = rules[j - 1];
            j--;
        }
        rules[j] = t;
    }
    p->rules = rules;
    p->n_rules = n;
    return LY_OK;
}

static ly_err parseEarn(json_t *o, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"rate_percent", "base", "rounding", "exclude",
                                       "bonus_cap_points", NULL};
    TRY(ly__pf_need_object(o, "earn", err));
    TRY(ly__pf_only_keys(o, "earn", keys, err));
    json_t *v = json_object_get(o, "rate_percent");
    if (!v) return ly_error_set(err, LY_EINVAL, "missing_field", "earn.rate_percent", "is required");
    TRY(getDecimal(v, 2, "earn.rate_percent", &p->earn_rate_bp, err));
    if ((v = json_object_get(o, "base"))) {
        if (!json_is_string(v)) return ly_error_set(err, LY_EINVAL, "invalid_type", "earn.base", "must be \"paid\" or \"total\"");
        if (strcmp(json_string_value(v), "paid") == 0) p->earn_base = LY_EARN_ON_PAID;
        else if (strcmp(json_string_value(v), "total") == 0) p->earn_base = LY_EARN_ON_TOTAL;
        else return ly_error_set(err, LY_EINVAL, "invalid_value", "earn.base", "must be \"paid\" or \"total\"");
    }
    if ((v = json_object_get(o, "rounding"))) {
        if (!json_is_string(v) || !ly_rounding_parse(json_string_value(v), &p->earn_rounding))
            return ly_error_set(err, LY_EINVAL, "invalid_value", "earn.rounding",
                                "must be \"down\", \"half_up\", \"half_even\" or \"up\"");
    }
    if ((v = json_object_get(o, "exclude")))
        TRY(getSelector(v, "earn.exclude", false, p, &p->no_earn, err));
    if ((v = json_object_get(o, "bonus_cap_points")))
        TRY(getInt(v, "earn.bonus_cap_points", 0, LY_AMOUNT_MAX, &p->bonus_cap, err));
    return LY_OK;
}

static ly_err parsePoints(json_t *o, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"value", "max_share_percent", "min_redeem", "hold_days",
                                       "expiry_days", "on_return_debt", "no_redeem",
                                       "min_balance", NULL};
    TRY(ly__pf_need_object(o, "points", err));
    TRY(ly__pf_only_keys(o, "points", keys, err));
    json_t *v = json_object_get(o, "value");
    if (!v) return ly_error_set(err, LY_EINVAL, "missing_field", "points.value", "is required");
    TRY(getDecimal(v, p->minor_units, "points.value", &p->point_value, err));
    if ((v = json_object_get(o, "max_share_percent")))
        TRY(getDecimal(v, 2, "points.max_share_percent", &p->max_redeem_bp, err));
    int64_t x;
    if ((v = json_object_get(o, "min_redeem"))) {
        TRY(getInt(v, "points.min_redeem", 0, LY_AMOUNT_MAX, &x, err));
        p->min_redeem = x;
    }
    if ((v = json_object_get(o, "hold_days"))) {
        TRY(getInt(v, "points.hold_days", 0, 3650, &x, err));
        p->hold_days = (int)x;
    }
    if ((v = json_object_get(o, "expiry_days"))) {
        TRY(getInt(v, "points.expiry_days", 0, 36500, &x, err));
        p->expiry_days = (int)x;
    }
    if ((v = json_object_get(o, "on_return_debt"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(s, "negative") == 0) p->debt_policy = LY_DEBT_NEGATIVE;
        else if (strcmp(s, "clamp") == 0) p->debt_policy = LY_DEBT_CLAMP;
        else return ly_error_set(err, LY_EINVAL, "invalid_value", "points.on_return_debt",
                                 "must be \"negative\" or \"clamp\"");
    }
    if ((v = json_object_get(o, "no_redeem")))
        TRY(getSelector(v, "points.no_redeem", false, p, &p->no_redeem, err));
    if ((v = json_object_get(o, "min_balance"))) {
        TRY(getInt(v, "points.min_balance", 0, LY_AMOUNT_MAX, &x, err));
        p->min_balance = x;
    }
    return LY_OK;
}

static ly_err parseRoot(json_t *root, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"name", "version", "currency", "minor_units", "time_zone",
                                       "phone", "earn", "points", "rules",
                                       /* program/rewards.c */
                                       "coupons", "referrals", "welcome", "birthday", "events",
                                       "partners",
                                       /* program/tiers.c */
                                       "tiers", "club",
                                       /* program/triggers.c */
                                       "triggers", "channels",
                                       /* program/quests.c (issue 6, engineer Q) */
                                       "quests",
                                       /* program/survey.c (issue 6, engineer S) */
                                       "questionnaires", "touchpoints",
                                       /* program/offers.c (issue 6, engineer P) */
                                       "offers", NULL};
    TRY(ly__pf_need_object(root, "", err));
    TRY(ly__pf_only_keys(root, "", keys, err));
    void *mem = p->mem;
    memset(p, 0, sizeof *p);
    p->mem = mem;
    /* Defaults: what a program that does not say gets. */
    p->minor_units = 2;
    p->earn_base = LY_EARN_ON_PAID;
    p->earn_rounding = LY_ROUND_DOWN;
    p->max_redeem_bp = 10000;
    p->min_redeem = 1;
    p->debt_policy = LY_DEBT_NEGATIVE;

    static const struct { const char *key; size_t off, size; } strs[] = {
        {"name", offsetof(ly_program, name), sizeof(((ly_program *)0)->name)},
        {"version", offsetof(ly_program, version), sizeof(((ly_program *)0)->version)},
        {"currency", offsetof(ly_program, currency), sizeof(((ly_program *)0)->currency)},
        {"time_zone", offsetof(ly_program, time_zone), sizeof(((ly_program *)0)->time_zone)},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        json_t *v = json_object_get(root, strs[i].key);
        if (!v) {
            if (strcmp(strs[i].key, "version") == 0) continue;
            return ly_error_set(err, LY_EINVAL, "missing_field", strs[i].key, "is required");
        }
        TRY(getString(v, strs[i].key, (char *)p + strs[i].off, strs[i].size, err));
    }
    json_t *v;
    if ((v = json_object_get(root, "minor_units"))) {
        int64_t x;
        TRY(getInt(v, "minor_units", 0, 4, &x, err));
        p->minor_units = (int)x;
    }
    if ((v = json_object_get(root, "phone"))) {
        static const char *const pk[] = {"country_code", "trunk_prefix", NULL};
        TRY(ly__pf_need_object(v, "phone", err));
        TRY(ly__pf_only_keys(v, "phone", pk, err));
        json_t *c = json_object_get(v, "country_code");
        if (c) TRY(getString(c, "phone.country_code", p->phone_country, sizeof p->phone_country, err));
        json_t *t = json_object_get(v, "trunk_prefix");
        if (t) TRY(getString(t, "phone.trunk_prefix", p->phone_trunk, sizeof p->phone_trunk, err));
    } else {
        return ly_error_set(err, LY_EINVAL, "missing_field", "phone.country_code",
                            "is required to normalise phone numbers to E.164");
    }
    TRY(parseEarn(json_object_get(root, "earn"), p, err));
    TRY(parsePoints(json_object_get(root, "points"), p, err));
    if ((v = json_object_get(root, "rules"))) TRY(parseRules(v, p, err));
    TRY(ly__program_rewards_parse(root, p, err)); /* after the rules: coupons name theirs */
    /* after the rules: benefits name theirs (program/tiers.c) */
    TRY(ly__program_tiers(json_object_get(root, "tiers"), json_object_get(root, "club"), p, err));
    /* after rules, rewards and tiers: offers name rules and campaigns (program/triggers.c) */
    TRY(ly__program_triggers_parse(root, p, err));
    TRY(ly__program_quests(json_object_get(root, "quests"), p, err)); /* program/quests.c */
    /* questionnaires and touchpoints (program/survey.c, issue 6 engineer S) */
    TRY(ly__program_survey_parse(root, p, err));
    TRY(ly__program_quests_check(p, err)); /* after both: quests name questionnaires */
    TRY(ly__program_offers(json_object_get(root, "offers"), p, err)); /* program/offers.c */
    return ly_program_validate(p, err);
}

ly_err ly_program_parse(const char *text, size_t len, ly_program *out, ly_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ly_error_set(err, LY_EINVAL, "malformed_json", "", "line %d, column %d: %s",
                            jerr.line, jerr.column, jerr.text);
    ly_program p;
    memset(&p, 0, sizeof p);
    if (!(p.mem = calloc(1, sizeof(ly_arena)))) {
        json_decref(root);
        return oom(err);
    }
    ly_err rc = parseRoot(root, &p, err);
    json_decref(root);
    if (rc != LY_OK) {
        ly_program_free(&p);
        return rc;
    }
    if (((ly_arena *)p.mem)->total == 0) { /* nothing owned: nothing to free later */
        free(p.mem);
        p.mem = NULL;
    }
    if (!p.version[0]) {
        uint8_t h[32];
        char hex[65];
        ly_os_hash(text, len, h);
        ly_os_hex(h, 6, hex);
        snprintf(p.version, sizeof p.version, "sha-%s", hex);
    }
    *out = p;
    return LY_OK;
}

ly_err ly_program_load(const char *path, ly_program *out, ly_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ly_error_set(err, LY_EINVAL, "program_unreadable", "", "cannot open %s", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                free(buf);
                fclose(f);
                return ly_error_set(err, LY_ETOOLARGE, "program_too_large", "", "%s is over 16 MiB", path);
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory");
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    ly_err rc = ly_program_parse(buf ? buf : "", len, out, err);
    free(buf);
    return rc;
}
