/*
 * fields.c - reading the program file's values, shared by the files of every section:
 * unknown keys, objects, integers, decimals and text, each error naming its path.
 */
#include "program/program_internal.h"

#include <stdio.h>
#include <string.h>

ly_err ly__pf_oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory");
}

ly_err ly__pf_only_keys(json_t *obj, const char *prefix, const char *const *known, ly_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (size_t i = 0; known[i] && !ok; i++) ok = strcmp(key, known[i]) == 0;
        if (!ok) {
            char path[192];
            snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
            return ly_error_set(err, LY_EINVAL, "unknown_field", path, "unknown setting");
        }
    }
    return LY_OK;
}

ly_err ly__pf_need_object(json_t *v, const char *path, ly_error *err)
{
    if (json_is_object(v)) return LY_OK;
    return ly_error_set(err, LY_EINVAL, v ? "invalid_type" : "missing_field", path,
                        v ? "must be an object" : "is required");
}

ly_err ly__pf_int(json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out, ly_error *err)
{
    if (!json_is_integer(v))
        return ly_error_set(err, LY_EINVAL, v ? "invalid_type" : "missing_field", path,
                            v ? "must be an integer" : "is required");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be between %lld and %lld",
                            (long long)lo, (long long)hi);
    *out = x;
    return LY_OK;
}

ly_err ly__pf_decimal(json_t *v, int scale, const char *path, int64_t *out, ly_error *err)
{
    if (json_is_integer(v)) {
        int64_t x = json_integer_value(v), m = 1;
        for (int i = 0; i < scale; i++) m *= 10;
        if (x > INT64_MAX / m || x < INT64_MIN / m)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "number too large");
        *out = x * m;
        return LY_OK;
    }
    if (json_is_string(v) && ly_decimal_parse(json_string_value(v), scale, out)) return LY_OK;
    return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                        "must be a decimal written as a string (\"2.5\") or an integer, "
                        "with at most %d digits after the point", scale);
}

ly_err ly__pf_text(json_t *v, const char *path, size_t max, ly_arena *a, const char **out,
                   ly_error *err)
{
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max)
        return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                            "must be a string of 1 to %zu characters", max);
    if (!(*out = ly_arena_strdup(a, json_string_value(v)))) return ly__pf_oom(err);
    return LY_OK;
}

ly_err ly__pf_list(json_t *v, const char *path, const char *what, size_t max, size_t size,
                   ly_arena *a, void **items, size_t *n, ly_error *err)
{
    if (!json_is_array(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be a list of %s", what);
    *n = json_array_size(v);
    if (max && *n > max)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "at most %zu %s", max, what);
    *items = ly_arena_alloc(a, (*n ? *n : 1) * size);
    return *items ? LY_OK : ly__pf_oom(err);
}

ly_err ly__pf_item(json_t *v, const char *path, size_t i, const char *const *known, char *q,
                   size_t q_size, json_t **o, ly_error *err)
{
    snprintf(q, q_size, "%s[%zu]", path, i);
    *o = json_array_get(v, i);
    ly_err rc = ly__pf_need_object(*o, q, err);
    return rc != LY_OK ? rc : ly__pf_only_keys(*o, q, known, err);
}
