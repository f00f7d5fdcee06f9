/*
 * program.c - loads the program file (JSON) into an ly_program.
 *
 * The file is for people: percentages and money are written as decimal text ("5", "2.5",
 * "1.00") or integers, never as JSON reals, so "0.1" means exactly one tenth. Every key is
 * known: a misspelt key is an error that names its path, not a silently ignored setting.
 */
#include "program/program.h"
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

/* Rejects keys of obj not in the NULL-terminated list, naming their path. */
static ly_err onlyKeys(json_t *obj, const char *prefix, const char *const *known, ly_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0) ok = true;
        if (!ok) {
            char path[128];
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            return ly_error_set(err, LY_EINVAL, "unknown_field", path, "unknown setting");
        }
    }
    return LY_OK;
}

static ly_err needObject(json_t *v, const char *path, ly_error *err)
{
    if (!json_is_object(v))
        return ly_error_set(err, LY_EINVAL, v ? "invalid_type" : "missing_field", path,
                            v ? "must be an object" : "is required");
    return LY_OK;
}

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)

static ly_err parseEarn(json_t *o, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"rate_percent", "base", "rounding", NULL};
    TRY(needObject(o, "earn", err));
    TRY(onlyKeys(o, "earn", keys, err));
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
    return LY_OK;
}

static ly_err parsePoints(json_t *o, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"value", "max_share_percent", "min_redeem", "hold_days",
                                       "expiry_days", "on_return_debt", NULL};
    TRY(needObject(o, "points", err));
    TRY(onlyKeys(o, "points", keys, err));
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
    return LY_OK;
}

static ly_err parseRoot(json_t *root, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"name", "version", "currency", "minor_units", "time_zone",
                                       "phone", "earn", "points", NULL};
    TRY(needObject(root, "", err));
    TRY(onlyKeys(root, "", keys, err));
    memset(p, 0, sizeof *p);
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
        TRY(needObject(v, "phone", err));
        TRY(onlyKeys(v, "phone", pk, err));
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
    ly_err rc = parseRoot(root, &p, err);
    json_decref(root);
    if (rc != LY_OK) return rc;
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
