/*
 * codec.c - the JSON of the API: strict decoding of request bodies into the service's
 * structs, the idempotency hash of a request, and the encoding of results.
 *
 * Decoders never trust a value's JSON type: every field is looked up, type-checked and
 * range-checked by the get* helpers below, which name the field by its path in the request
 * when they fail. Each object's keys are checked against the documented set first, so a
 * misspelt field is reported rather than silently ignored.
 */
#include "http/codec_internal.h"
#include "os/os.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

/* Flags of the get* helpers. */
#define F_REQUIRED 1u  /* absent or null is "missing_field" */
#define F_NONEMPTY 2u  /* "" is "invalid_value" */

#define IDENTIFIER_MAX 320 /* raw identifier text before normalisation */

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------
 * Field paths and the generic checks
 * ------------------------------------------------------------------------------------- */

typedef char fieldPath[128]; /* the size of ly_error.field */

/* Appends s to out (a fieldPath holding len bytes), truncating; returns the new length. */
static size_t pathAppend(fieldPath out, size_t len, const char *s)
{
    size_t n = strlen(s);
    if (n > sizeof(fieldPath) - 1 - len) n = sizeof(fieldPath) - 1 - len;
    memcpy(out + len, s, n);
    out[len + n] = '\0';
    return len + n;
}

/* "key", or "base.key" below an object. */
static const char *pathJoin(fieldPath out, const char *base, const char *key)
{
    size_t len = 0;
    out[0] = '\0';
    if (base && *base) {
        len = pathAppend(out, len, base);
        len = pathAppend(out, len, ".");
    }
    pathAppend(out, len, key);
    return out;
}

/* "base[i]". */
static const char *pathIndex(fieldPath out, const char *base, size_t i)
{
    char idx[32];
    snprintf(idx, sizeof idx, "[%zu]", i);
    pathAppend(out, pathAppend(out, 0, base), idx);
    return out;
}

const char *ly__json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

static ly_err invalidType(ly_error *err, const char *path, const json_t *v, const char *want)
{
    if (json_is_real(v) && strcmp(want, "an integer") == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_type", path,
                            "must be an integer (money in minor units, quantities in "
                            "thousandths, whole points), not a number with a fraction");
    return ly_error_set(err, LY_EINVAL, "invalid_type", path, "must be %s, not %s", want,
                        ly__json_type_name(v));
}

ly_err ly__json_only_keys(const json_t *obj, const char *base, const char *const *keys,
                          ly_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++) known = strcmp(k, keys[i]) == 0;
        if (!known) {
            fieldPath p;
            return ly_error_set(err, LY_EINVAL, "unknown_field", pathJoin(p, base, k),
                                "is not a field of this request");
        }
    }
    return LY_OK;
}

/* obj[key] as a string copied into a, or NULL when absent or null. *present (may be NULL)
 * gets whether the key is there at all, null included. */
static ly_err getStr(const json_t *obj, const char *base, const char *key, unsigned flags,
                     size_t max, ly_arena *a, const char **out, bool *present, ly_error *err)
{
    fieldPath p;
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (present) *present = v != NULL;
    if (!v || json_is_null(v)) {
        if (flags & F_REQUIRED)
            return ly_error_set(err, LY_EINVAL, "missing_field", pathJoin(p, base, key), "is required");
        return LY_OK;
    }
    if (!json_is_string(v)) return invalidType(err, pathJoin(p, base, key), v, "a string");
    size_t n = json_string_length(v);
    if (n == 0 && (flags & F_NONEMPTY))
        return ly_error_set(err, LY_EINVAL, "invalid_value", pathJoin(p, base, key), "must not be empty");
    if (n > max)
        return ly_error_set(err, LY_EINVAL, "invalid_value", pathJoin(p, base, key),
                            "is longer than %zu bytes", max);
    *out = ly_arena_strndup(a, json_string_value(v), n);
    return *out ? LY_OK : oom(err);
}

/* obj[key] as an exact JSON integer in [min, max]. Absent or null leaves *out alone. */
static ly_err getInt(const json_t *obj, const char *base, const char *key, unsigned flags,
                     int64_t min, int64_t max, int64_t *out, bool *present, ly_error *err)
{
    fieldPath p;
    json_t *v = json_object_get(obj, key);
    bool there = v && !json_is_null(v);
    if (present) *present = there;
    if (!there) {
        if (flags & F_REQUIRED)
            return ly_error_set(err, LY_EINVAL, "missing_field", pathJoin(p, base, key), "is required");
        return LY_OK;
    }
    if (!json_is_integer(v)) return invalidType(err, pathJoin(p, base, key), v, "an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return ly_error_set(err, LY_EINVAL, "invalid_value", pathJoin(p, base, key),
                            "must be between %lld and %lld", (long long)min, (long long)max);
    *out = (int64_t)x;
    return LY_OK;
}

/* obj[key] as true or false. Absent or null leaves *out alone. */
static ly_err getBool(const json_t *obj, const char *base, const char *key, bool *out,
                      bool *present, ly_error *err)
{
    fieldPath p;
    json_t *v = json_object_get(obj, key);
    bool there = v && !json_is_null(v);
    if (present) *present = there;
    if (!there) return LY_OK;
    if (!json_is_boolean(v)) return invalidType(err, pathJoin(p, base, key), v, "true or false");
    *out = json_is_true(v);
    return LY_OK;
}

/* obj[key] as an RFC 3339 time with an offset. Absent or null leaves *out alone. */
static ly_err getTime(const json_t *obj, const char *base, const char *key, ly_arena *a,
                      ly_time *out, int *offset, bool *present, ly_error *err)
{
    const char *s;
    TRY(getStr(obj, base, key, 0, 64, a, &s, NULL, err));
    if (present) *present = s != NULL;
    if (!s) return LY_OK;
    if (!ly_time_parse(s, out, offset)) {
        fieldPath p;
        return ly_error_set(err, LY_EINVAL, "invalid_value", pathJoin(p, base, key),
                            "must be an RFC 3339 time with an offset, e.g. "
                            "\"2026-11-24T10:15:00+03:00\"");
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The body
 * ------------------------------------------------------------------------------------- */

/* Finds the first number in v (document order) too large for an int64_t; path (holding
 * len bytes of v's own path) gets its path. */
static bool findHuge(const json_t *v, fieldPath path, size_t len)
{
    if (json_is_real(v)) {
        double d = json_real_value(v);
        return !(d > -9.2e18 && d < 9.2e18);
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            char idx[32];
            snprintf(idx, sizeof idx, "[%zu]", i);
            if (findHuge(json_array_get(v, i), path, pathAppend(path, len, idx))) return true;
        }
        path[len] = '\0';
        return false;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            size_t l = len ? pathAppend(path, len, ".") : len;
            if (findHuge(x, path, pathAppend(path, l, k))) return true;
        }
        path[len] = '\0';
    }
    return false;
}

ly_err ly__json_parse_object(const char *body, size_t len, bool empty_ok, json_t **out,
                             ly_error *err)
{
    *out = NULL;
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n')) i++;
    if (i == len) {
        if (empty_ok) {
            *out = json_object();
            return *out ? LY_OK : oom(err);
        }
        return ly_error_set(err, LY_EINVAL, "malformed_json", NULL,
                            "the body is empty: a JSON object is expected");
    }
    json_error_t je;
    json_t *v = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v && json_error_code(&je) == json_error_numeric_overflow) {
        /* Well-formed, but a number does not fit: name it by its path. */
        json_t *w = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
        fieldPath p = "";
        bool found = w && json_is_object(w) && findHuge(w, p, 0);
        json_decref(w);
        if (found)
            return ly_error_set(err, LY_EINVAL, "invalid_value", p,
                                "is out of range: integers must fit in 64 bits");
    }
    if (!v)
        return ly_error_set(err, LY_EINVAL, "malformed_json", NULL,
                            "the body is not valid JSON: %s (line %d, column %d)", je.text,
                            je.line, je.column);
    if (!json_is_object(v)) {
        ly_err rc = ly_error_set(err, LY_EINVAL, "invalid_type", NULL,
                                 "the body must be a JSON object, not %s", ly__json_type_name(v));
        json_decref(v);
        return rc;
    }
    *out = v;
    return LY_OK;
}

static const char *const idJsonNames[LY_ID_KIND_COUNT] = {"card", "phone", "email", "qr",
                                                           "external_id"};

const char *ly__id_json_name(ly_id_kind k)
{
    return (unsigned)k < LY_ID_KIND_COUNT ? idJsonNames[k] : "unknown";
}

bool ly__id_json_parse(const char *s, ly_id_kind *out)
{
    for (int i = 0; s && i < LY_ID_KIND_COUNT; i++) {
        if (strcmp(s, idJsonNames[i]) == 0) {
            *out = (ly_id_kind)i;
            return true;
        }
    }
    return false;
}

/* ---------------------------------------------------------------------------------------
 * Receipts
 * ------------------------------------------------------------------------------------- */

static const char *const checkoutKeys[] = {"receipt_id", "store", "channel", "cashier",
                                           "payment", "time", "customer", "redeem_points",
                                           "total", "lines", "coupons", "partner",
                                           "touchpoint", NULL};
static const char *const lineKeys[] = {"sku", "name", "category", "brand", "qty", "price",
                                       "amount", NULL};
static const char *const whoKeys[] = {"id", "card", "phone", "email", "qr", "external_id", NULL};

/* "customer": null, absent, or an object naming the customer one way. */
static ly_err decodeWho(const json_t *root, ly_arena *a, ly_who *who, ly_error *err)
{
    memset(who, 0, sizeof *who);
    json_t *c = json_object_get(root, "customer");
    if (!c || json_is_null(c)) return LY_OK;
    if (!json_is_object(c)) return invalidType(err, "customer", c, "an object or null");
    TRY(ly__json_only_keys(c, "customer", whoKeys, err));
    if (json_object_size(c) != 1)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "customer",
                            "must name the customer by exactly one of id, card, phone, email, "
                            "qr or external_id");
    const char *key = json_object_iter_key(json_object_iter((json_t *)c));
    if (strcmp(key, "id") == 0)
        return getInt(c, "customer", "id", F_REQUIRED, 1, INT64_MAX, &who->customer_id, NULL, err);
    if (!ly__id_json_parse(key, &who->kind)) return LY_EINTERNAL; /* onlyKeys let it through */
    return getStr(c, "customer", key, F_REQUIRED | F_NONEMPTY, IDENTIFIER_MAX, a, &who->value,
                  NULL, err);
}

static ly_err decodeLine(const json_t *v, const char *path, ly_arena *a, ly_line *l,
                         ly_error *err)
{
    if (!json_is_object(v)) return invalidType(err, path, v, "an object");
    TRY(ly__json_only_keys(v, path, lineKeys, err));
    TRY(getStr(v, path, "sku", F_REQUIRED | F_NONEMPTY, LY_HTTP_ID_MAX, a, &l->sku, NULL, err));
    TRY(getStr(v, path, "name", 0, LY_HTTP_TEXT_MAX, a, &l->name, NULL, err));
    TRY(getStr(v, path, "category", 0, LY_HTTP_TEXT_MAX, a, &l->category, NULL, err));
    TRY(getStr(v, path, "brand", 0, LY_HTTP_TEXT_MAX, a, &l->brand, NULL, err));
    TRY(getInt(v, path, "qty", F_REQUIRED, 1, LY_QTY_MAX, &l->qty, NULL, err));
    TRY(getInt(v, path, "price", F_REQUIRED, 0, LY_AMOUNT_MAX, &l->price, NULL, err));
    return getInt(v, path, "amount", F_REQUIRED, 0, LY_AMOUNT_MAX, &l->amount, NULL, err);
}

/* "coupons": absent, null or a list of 1..20 codes (rewards; the service checks them). */
static ly_err decodeCoupons(const json_t *root, ly_arena *a, ly_checkout *out, ly_error *err)
{
    json_t *v = json_object_get(root, "coupons");
    if (!v || json_is_null(v)) return LY_OK;
    if (!json_is_array(v)) return invalidType(err, "coupons", v, "an array of strings");
    size_t n = json_array_size(v);
    if (n > 20) return ly_error_set(err, LY_EINVAL, "invalid_value", "coupons", "at most 20 codes");
    const char **codes = ly_arena_alloc(a, (n ? n : 1) * sizeof *codes);
    if (!codes) return oom(err);
    for (size_t i = 0; i < n; i++) {
        fieldPath p;
        json_t *x = json_array_get(v, i);
        pathIndex(p, "coupons", i);
        if (!json_is_string(x)) return invalidType(err, p, x, "a string");
        if (!json_string_length(x) || json_string_length(x) > 64)
            return ly_error_set(err, LY_EINVAL, "invalid_value", p, "must be 1 to 64 characters");
        if (!(codes[i] = ly_arena_strdup(a, json_string_value(x)))) return oom(err);
    }
    out->coupons = codes;
    out->n_coupons = n;
    return LY_OK;
}

ly_err ly__decode_checkout(const json_t *root, const ly_calendar *cal, ly_time now,
                           ly_arena *a, ly_checkout *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_receipt *r = &out->receipt;
    TRY(ly__json_only_keys(root, "", checkoutKeys, err));
    TRY(getStr(root, "", "receipt_id", F_REQUIRED | F_NONEMPTY, LY_HTTP_ID_MAX, a,
               &r->receipt_id, NULL, err));
    TRY(getStr(root, "", "store", F_REQUIRED | F_NONEMPTY, LY_HTTP_ID_MAX, a, &r->store, NULL, err));
    const char *channel;
    TRY(getStr(root, "", "channel", 0, 32, a, &channel, NULL, err));
    r->channel = LY_SALES_STORE;
    if (channel && !ly_sales_channel_parse(channel, &r->channel))
        return ly_error_set(err, LY_EINVAL, "invalid_value", "channel",
                            "must be \"store\", \"online\" or \"app\"");
    TRY(getStr(root, "", "cashier", 0, LY_HTTP_ID_MAX, a, &r->cashier, NULL, err));
    TRY(getStr(root, "", "payment", 0, LY_HTTP_ID_MAX, a, &r->payment, NULL, err));
    bool timed;
    TRY(getTime(root, "", "time", a, &r->time, &r->utc_offset_min, &timed, err));
    if (!timed) {
        r->time = now;
        r->utc_offset_min = cal ? cal->utc_offset(cal, now) : 0;
    }
    TRY(decodeWho(root, a, &out->who, err));
    TRY(getInt(root, "", "redeem_points", 0, 0, LY_AMOUNT_MAX, &out->redeem, NULL, err));
    TRY(getStr(root, "", "partner", F_NONEMPTY, LY_HTTP_ID_MAX, a, &out->partner, NULL, err));
    /* Touchpoints (issue 6, engineer S): checked against the program at confirm. */
    TRY(getStr(root, "", "touchpoint", F_NONEMPTY, LY_HTTP_ID_MAX, a, &out->touchpoint, NULL, err));
    TRY(decodeCoupons(root, a, out, err));
    TRY(getInt(root, "", "total", F_REQUIRED, 0, LY_AMOUNT_MAX, &r->total, NULL, err));

    json_t *lines = json_object_get(root, "lines");
    if (!lines || json_is_null(lines))
        return ly_error_set(err, LY_EINVAL, "missing_field", "lines", "is required");
    if (!json_is_array(lines)) return invalidType(err, "lines", lines, "an array");
    size_t n = json_array_size(lines);
    if (n == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "lines", "needs at least one line");
    ly_line *ls = ly_arena_alloc(a, n * sizeof *ls);
    if (!ls) return oom(err);
    for (size_t i = 0; i < n; i++) {
        fieldPath p;
        TRY(decodeLine(json_array_get(lines, i), pathIndex(p, "lines", i), a, &ls[i], err));
    }
    r->lines = ls;
    r->n_lines = n;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Returns
 * ------------------------------------------------------------------------------------- */

static const char *const returnKeys[] = {"return_id", "time", "lines", "full", NULL};
static const char *const returnLineKeys[] = {"sku", "line", "qty", NULL};

ly_err ly__decode_return(const json_t *root, ly_arena *a, ly_return_request *out,
                         ly_error *err)
{
    memset(out, 0, sizeof *out);
    TRY(ly__json_only_keys(root, "", returnKeys, err));
    TRY(getStr(root, "", "return_id", F_REQUIRED | F_NONEMPTY, LY_HTTP_ID_MAX, a,
               &out->return_id, NULL, err));
    TRY(getTime(root, "", "time", a, &out->time, NULL, NULL, err));
    TRY(getBool(root, "", "full", &out->full, NULL, err));
    json_t *lines = json_object_get(root, "lines");
    bool has_lines = lines && !json_is_null(lines);
    if (out->full) {
        if (has_lines)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "lines",
                                "give either lines or \"full\": true, not both");
        return LY_OK;
    }
    if (!has_lines)
        return ly_error_set(err, LY_EINVAL, "missing_field", "lines",
                            "name the lines to return, or set \"full\": true");
    if (!json_is_array(lines)) return invalidType(err, "lines", lines, "an array");
    size_t n = json_array_size(lines);
    if (n == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "lines", "needs at least one line");
    ly_return_request_line *ls = ly_arena_alloc(a, n * sizeof *ls);
    if (!ls) return oom(err);
    for (size_t i = 0; i < n; i++) {
        fieldPath p;
        pathIndex(p, "lines", i);
        json_t *v = json_array_get(lines, i);
        if (!json_is_object(v)) return invalidType(err, p, v, "an object");
        TRY(ly__json_only_keys(v, p, returnLineKeys, err));
        bool by_sku, by_index;
        ls[i].line = -1;
        TRY(getStr(v, p, "sku", F_NONEMPTY, LY_HTTP_ID_MAX, a, &ls[i].sku, NULL, err));
        by_sku = ls[i].sku != NULL;
        int64_t line = -1;
        TRY(getInt(v, p, "line", 0, 0, 100000, &line, &by_index, err));
        if (by_sku && by_index)
            return ly_error_set(err, LY_EINVAL, "invalid_value", p,
                                "names a line by sku or by index (line), not both");
        if (!by_sku && !by_index) {
            fieldPath q;
            return ly_error_set(err, LY_EINVAL, "missing_field", pathJoin(q, p, "sku"),
                                "name the line by its sku, or by its index as \"line\"");
        }
        ls[i].line = (long)line;
        TRY(getInt(v, p, "qty", F_REQUIRED, 1, LY_QTY_MAX, &ls[i].qty, NULL, err));
    }
    out->lines = ls;
    out->n_lines = n;
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Profiles, adjustments, merges
 * ------------------------------------------------------------------------------------- */

static const char *const profileKeys[] = {"card", "phone", "email", "external_id", "name",
                                          "birth_date", "attributes", "store", "consent",
                                          "referral_code", NULL};
static const char *const consentKeys[] = {"sms", "email", "push", NULL};

/* A nullable text field of a profile: sets *set and *out as the mode wants. */
static ly_err profileText(const json_t *root, const char *key, bool patch, size_t max,
                          ly_arena *a, bool *set, const char **out, ly_error *err)
{
    bool present;
    TRY(getStr(root, "", key, 0, max, a, out, &present, err));
    if (*out && !**out) *out = NULL; /* "" clears, like null */
    *set = patch ? present : *out != NULL;
    return LY_OK;
}

ly_err ly__decode_profile(const json_t *root, bool patch, ly_arena *a, ly_profile *out,
                          ly_error *err)
{
    memset(out, 0, sizeof *out);
    TRY(ly__json_only_keys(root, "", profileKeys, err));
    TRY(profileText(root, "name", patch, LY_HTTP_TEXT_MAX, a, &out->set_name, &out->name, err));
    TRY(profileText(root, "birth_date", patch, 16, a, &out->set_birth_date, &out->birth_date, err));
    int64_t days;
    if (out->birth_date && !ly_date_parse(out->birth_date, &days))
        return ly_error_set(err, LY_EINVAL, "invalid_value", "birth_date",
                            "must be a calendar date, YYYY-MM-DD");
    TRY(profileText(root, "store", patch, LY_HTTP_ID_MAX, a, &out->set_enrolled_store,
                    &out->enrolled_store, err));
    TRY(getStr(root, "", "referral_code", F_NONEMPTY, 32, a, &out->referral_code, NULL, err));
    if (patch && out->referral_code)
        return ly_error_set(err, LY_EINVAL, "invalid_field", "referral_code",
                            "a referral code is given at enrolment only");

    json_t *attrs = json_object_get(root, "attributes");
    if (attrs && json_is_null(attrs)) {
        if (patch) {
            out->set_attributes = true;
            out->attributes = "{}";
        }
    } else if (attrs) {
        if (!json_is_object(attrs)) return invalidType(err, "attributes", attrs, "an object");
        char *text = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) return oom(err);
        size_t n = strlen(text);
        if (n > LY_HTTP_ATTRIBUTES_MAX) {
            free(text);
            return ly_error_set(err, LY_EINVAL, "invalid_value", "attributes",
                                "is longer than %d bytes", LY_HTTP_ATTRIBUTES_MAX);
        }
        out->attributes = ly_arena_strndup(a, text, n);
        free(text);
        if (!out->attributes) return oom(err);
        out->set_attributes = true;
    }

    static const ly_id_kind kinds[] = {LY_ID_CARD, LY_ID_PHONE, LY_ID_EMAIL, LY_ID_EXTERNAL};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const char *value;
        bool present;
        TRY(getStr(root, "", ly__id_json_name(kinds[i]), patch ? 0 : F_NONEMPTY, IDENTIFIER_MAX,
                   a, &value, &present, err));
        if (!present || (!patch && !value)) continue;
        out->ids[out->n_ids++] = (ly_identifier){kinds[i], value ? value : ""};
    }

    json_t *consent = json_object_get(root, "consent");
    if (consent && !json_is_null(consent)) {
        if (!json_is_object(consent)) return invalidType(err, "consent", consent, "an object");
        TRY(ly__json_only_keys(consent, "consent", consentKeys, err));
        for (int ch = 0; ch < LY_CH_COUNT; ch++)
            TRY(getBool(consent, "consent", ly_channel_name((ly_channel)ch), &out->consent[ch],
                        &out->set_consent[ch], err));
    }
    return LY_OK;
}

static const char *const adjustKeys[] = {"adjustment_id", "points", "kind", "note", NULL};

ly_err ly__decode_adjust(const json_t *root, ly_arena *a, ly_adjust_request *out,
                         ly_error *err)
{
    memset(out, 0, sizeof *out);
    TRY(ly__json_only_keys(root, "", adjustKeys, err));
    TRY(getStr(root, "", "adjustment_id", F_REQUIRED | F_NONEMPTY, LY_HTTP_ID_MAX, a,
               &out->adjustment_id, NULL, err));
    TRY(getInt(root, "", "points", F_REQUIRED, -LY_AMOUNT_MAX, LY_AMOUNT_MAX, &out->points, NULL, err));
    if (out->points == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "points", "must not be 0");
    const char *kind;
    TRY(getStr(root, "", "kind", 0, 16, a, &kind, NULL, err));
    out->kind = LY_ENTRY_ADJUST;
    if (kind && strcmp(kind, "bonus") == 0) out->kind = LY_ENTRY_BONUS;
    else if (kind && strcmp(kind, "adjust") != 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "kind", "must be \"adjust\" or \"bonus\"");
    if (out->kind == LY_ENTRY_BONUS && out->points < 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "points",
                            "a bonus must be positive; use \"kind\": \"adjust\" to take points");
    return getStr(root, "", "note", 0, LY_HTTP_TEXT_MAX, a, &out->note, NULL, err);
}

static const char *const mergeKeys[] = {"from", NULL};

ly_err ly__decode_merge(const json_t *root, int64_t *from, ly_error *err)
{
    TRY(ly__json_only_keys(root, "", mergeKeys, err));
    return getInt(root, "", "from", F_REQUIRED, 1, INT64_MAX, from, NULL, err);
}

ly_err ly__decode_empty(const json_t *root, ly_error *err)
{
    static const char *const none[] = {NULL};
    return ly__json_only_keys(root, "", none, err);
}

void ly__request_hash(const char *method, const char *path, const json_t *root,
                      uint8_t out[32])
{
    char *canon = root ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    size_t ml = strlen(method), pl = strlen(path), cl = canon ? strlen(canon) : 0;
    size_t n = ml + 1 + pl + 1 + cl;
    char *buf = malloc(n + 1);
    if (!buf) {
        /* Without memory the hash still must not collide with a real one: hash what we have. */
        ly_os_hash(canon ? canon : path, canon ? cl : pl, out);
        free(canon);
        return;
    }
    memcpy(buf, method, ml);
    buf[ml] = ' ';
    memcpy(buf + ml + 1, path, pl);
    buf[ml + 1 + pl] = '\n';
    if (cl) memcpy(buf + ml + 2 + pl, canon, cl);
    ly_os_hash(buf, n, out);
    free(buf);
    free(canon);
}

/* ---------------------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------------------- */

static json_t *jTime(ly_time t, int offset_min)
{
    char buf[40];
    ly_time_format(t, offset_min, buf, sizeof buf);
    return json_string(buf);
}

/* A server time at the program's offset; null for 0 (never / not set). */
static json_t *jCalTime(const ly_calendar *cal, ly_time t)
{
    if (t == 0) return json_null();
    return jTime(t, cal ? cal->utc_offset(cal, t) : 0);
}

static json_t *jIntOrNull(int64_t v) { return v ? json_integer((json_int_t)v) : json_null(); }

json_t *ly__json_error(const ly_error *e)
{
    json_t *inner = json_pack("{s:s, s:s}", "code", e->code[0] ? e->code : ly_err_code(e->kind),
                              "message", e->message);
    if (inner && e->field[0] && json_object_set_new(inner, "field", json_string(e->field)) != 0) {
        json_decref(inner);
        return NULL;
    }
    return inner ? json_pack("{s:o}", "error", inner) : NULL;
}

json_t *ly__json_account(const ly_account *acc)
{
    return json_pack("{s:I, s:I}", "available", (json_int_t)acc->available, "pending",
                     (json_int_t)acc->pending);
}

/* {"card": [...], "phone": [...], ...}: every kind, values in the store's order. */
static json_t *jIdentifiers(const ly_customer *c)
{
    json_t *ids = json_object();
    if (!ids) return NULL;
    for (int k = 0; k < LY_ID_KIND_COUNT; k++) {
        json_t *arr = json_array();
        if (!arr || json_object_set_new(ids, ly__id_json_name((ly_id_kind)k), arr) != 0) {
            json_decref(ids);
            return NULL;
        }
        for (size_t i = 0; i < c->n_ids; i++)
            if (c->ids[i].kind == (ly_id_kind)k && c->ids[i].value)
                json_array_append_new(arr, json_string(c->ids[i].value));
    }
    return ids;
}

json_t *ly__json_customer(const ly_customer *c, const ly_calendar *cal)
{
    json_t *consent = json_object();
    for (int ch = 0; consent && ch < LY_CH_COUNT; ch++) {
        const ly_consent *x = &c->consent[ch];
        json_t *given = x->state < 0 ? json_null() : json_boolean(x->state > 0);
        json_t *one = json_pack("{s:o, s:o}", "given", given, "at",
                                x->state < 0 ? json_null() : jCalTime(cal, x->at));
        if (!one || json_object_set_new(consent, ly_channel_name((ly_channel)ch), one) != 0) {
            json_decref(consent);
            consent = NULL;
        }
    }
    json_t *attrs = json_loads(c->attributes ? c->attributes : "{}", 0, NULL);
    if (!attrs) attrs = json_object();
    return json_pack("{s:I, s:s?, s:s?, s:o, s:o, s:o, s:o, s:s?, s:o}",
                     "id", (json_int_t)c->id,
                     "name", c->name,
                     "birth_date", c->birth_date,
                     "attributes", attrs,
                     "identifiers", jIdentifiers(c),
                     "consent", consent,
                     "enrolled_at", jCalTime(cal, c->enrolled_at),
                     "enrolled_store", c->enrolled_store,
                     "merged_into", jIntOrNull(c->merged_into));
}

json_t *ly__json_analytics(const ly_customer_analytics *a)
{
    json_t *p_alive = json_null();
    if (a->p_alive_ppm >= 0) {
        /* Millionths to four decimals, rounded half up, as text: an estimate shown exactly. */
        int64_t q = (a->p_alive_ppm + 50) / 100;
        char buf[48];
        snprintf(buf, sizeof buf, "%lld.%04lld", (long long)(q / 10000), (long long)(q % 10000));
        p_alive = json_string(buf);
    }
    return json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:I, s:I, s:I, s:o, s:o}",
                     "as_of", a->as_of,
                     "rfm_cell", a->rfm_cell[0] ? a->rfm_cell : NULL,
                     "segment", a->segment[0] ? a->segment : NULL,
                     "status", a->status,
                     "loyalty", a->loyalty,
                     "days_since_last_deal", (json_int_t)a->r_days,
                     "deals", (json_int_t)a->deals,
                     "revenue", (json_int_t)a->revenue,
                     "p_alive", p_alive,
                     "clv", a->clv >= 0 ? json_integer(a->clv) : json_null());
}

/* The rules that applied: [{"id", "discount", "points"}], in the order they applied. */
static json_t *jRulesApplied(const ly_pricing *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < p->n_rules; i++) {
        const ly_rule_result *x = &p->rules[i];
        if (!x->applied) continue;
        if (json_array_append_new(arr, json_pack("{s:s, s:I, s:I}", "id", x->rule->id,
                                                 "discount", (json_int_t)x->discount,
                                                 "points", (json_int_t)x->points)) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* Every rule considered, with why it did or did not apply. */
static json_t *jRulesExplained(const ly_pricing *p)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < p->n_rules; i++) {
        const ly_rule_result *x = &p->rules[i];
        json_t *o = json_pack("{s:s, s:s?, s:I, s:b, s:b, s:s?, s:s, s:I, s:I, s:I}",
                              "id", x->rule->id, "name", x->rule->name,
                              "priority", (json_int_t)x->rule->priority,
                              "exclusive", x->rule->exclusive, "applied", x->applied,
                              "failed", x->failed, "reason", x->reason,
                              "eligible_lines", (json_int_t)x->eligible,
                              "discount", (json_int_t)x->discount,
                              "points", (json_int_t)x->points);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *ly__json_checkout(const ly_checkout *in, const ly_checkout_result *res,
                          const ly_calendar *cal, bool confirmed, bool explain)
{
    const ly_receipt *r = &in->receipt;
    const ly_pricing *p = &res->pricing;
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < r->n_lines; i++) {
        const ly_line_price *lp = &p->lines[i];
        ly_line_rules lr = p->line_rules ? p->line_rules[i] : (ly_line_rules){0, 0};
        json_t *l = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "sku", r->lines[i].sku,
                              "amount", (json_int_t)r->lines[i].amount,
                              "discount", (json_int_t)lp->discount,
                              "rule_discount", (json_int_t)lr.discount,
                              "points_redeemed", (json_int_t)lp->points_redeemed,
                              "points_earned", (json_int_t)lp->points_earned,
                              "points_bonus", (json_int_t)lr.points);
        if (!l || json_array_append_new(lines, l) != 0) {
            json_decref(lines);
            lines = NULL;
        }
    }
    json_t *customer = json_null(), *balance = json_null();
    if (res->customer) {
        customer = json_pack("{s:I, s:o}", "id", (json_int_t)res->customer->id, "identifiers",
                             jIdentifiers(res->customer));
        balance = ly__json_account(confirmed ? &res->after : &res->before);
    }
    bool earns = p->earn > 0;
    json_t *v = json_pack(
        "{s:o, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:o, s:o}, s:o, s:o, s:s}",
        "customer", customer,
        "balance", balance,
        "totals", "total", (json_int_t)p->total, "rule_discount", (json_int_t)p->rule_discount,
                  "discount", (json_int_t)p->discount, "paid", (json_int_t)p->paid,
        "points", "earn", (json_int_t)p->earn, "bonus", (json_int_t)p->bonus,
                  "redeem", (json_int_t)p->redeem, "max_redeem", (json_int_t)p->max_redeem,
                  "active_at", earns ? jCalTime(cal, res->points_active_at) : json_null(),
                  "expire_at", earns ? jCalTime(cal, res->points_expire_at) : json_null(),
        "lines", lines,
        "rules", jRulesApplied(p),
        "program_version", res->program_version ? res->program_version : "");
    /* Rewards: the coupons and the partner, only when the receipt has them. */
    if (v && res->n_coupons) {
        json_t *cs = json_array();
        for (size_t i = 0; cs && i < res->n_coupons; i++)
            if (json_array_append_new(cs, json_pack("{s:s, s:s}", "code", res->coupons[i].code,
                                                    "campaign", res->coupons[i].campaign)) != 0) {
                json_decref(cs);
                cs = NULL;
            }
        if (!cs || json_object_set_new(v, "coupons", cs) != 0) {
            json_decref(v);
            return NULL;
        }
    }
    if (v && in->partner && json_object_set_new(v, "partner", json_string(in->partner)) != 0) {
        json_decref(v);
        return NULL;
    }
    /* Quests (issue 6): only when the program has quests, so other responses stay as they
     * were (http/quests.c). */
    if (v && res->quests_on && json_object_set_new(v, "quests", ly__json_quest_steps(res)) != 0) {
        json_decref(v);
        return NULL;
    }
    if (v && explain && json_object_set_new(v, "explain", jRulesExplained(p)) != 0) {
        json_decref(v);
        return NULL;
    }
    if (!v || !confirmed) return v;
    /* receipt_id goes first: rebuild with it in front. */
    json_t *w = json_pack("{s:s}", "receipt_id", r->receipt_id ? r->receipt_id : "");
    if (!w || json_object_update(w, v) != 0) {
        json_decref(w);
        w = NULL;
    }
    json_decref(v);
    return w;
}

json_t *ly__json_receipt(const ly_stored_receipt *sr, const ly_calendar *cal)
{
    const ly_receipt *r = &sr->receipt;
    const ly_pricing *p = &sr->pricing;
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < r->n_lines; i++) {
        const ly_line *l = &r->lines[i];
        const ly_line_price *lp = &p->lines[i];
        json_t *o = json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                              "line", (json_int_t)i, "sku", l->sku ? l->sku : "",
                              "name", l->name, "category", l->category, "brand", l->brand,
                              "qty", (json_int_t)l->qty, "price", (json_int_t)l->price,
                              "amount", (json_int_t)l->amount,
                              "discount", (json_int_t)lp->discount,
                              "points_redeemed", (json_int_t)lp->points_redeemed,
                              "points_earned", (json_int_t)lp->points_earned,
                              "returned_qty", (json_int_t)sr->returned[i]);
        if (!o || json_array_append_new(lines, o) != 0) {
            json_decref(lines);
            lines = NULL;
        }
    }
    const char *kind = sr->id_kind < LY_ID_KIND_COUNT ? ly__id_json_name(sr->id_kind) : NULL;
    return json_pack(
        "{s:s, s:s?, s:s, s:s?, s:s?, s:o, s:o, s:s?, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:o, "
        "s:s?, s:o}",
        "receipt_id", r->receipt_id ? r->receipt_id : "",
        "store", r->store,
        "channel", ly_sales_channel_name(r->channel),
        "cashier", r->cashier,
        "payment", r->payment,
        "time", jTime(r->time, r->utc_offset_min),
        "customer_id", jIntOrNull(sr->customer_id),
        "identified_by", kind,
        "totals", "total", (json_int_t)p->total, "discount", (json_int_t)p->discount,
                  "paid", (json_int_t)p->paid,
        "points", "earn", (json_int_t)p->earn, "redeem", (json_int_t)p->redeem,
        "lines", lines,
        "program_version", sr->program_version,
        "confirmed_at", jCalTime(cal, sr->created_at));
}

json_t *ly__json_return(const ly_stored_receipt *rcpt, const ly_stored_return *ret,
                        const ly_account *after, const ly_calendar *cal)
{
    json_t *lines = json_array();
    for (size_t i = 0; lines && i < ret->n_lines; i++) {
        const ly_return_line *rl = &ret->lines[i];
        const char *sku = rl->line < rcpt->receipt.n_lines ? rcpt->receipt.lines[rl->line].sku : NULL;
        json_t *o = json_pack("{s:I, s:s?, s:I, s:I, s:I, s:I}", "line", (json_int_t)rl->line,
                              "sku", sku, "qty", (json_int_t)rl->qty,
                              "amount", (json_int_t)rl->amount,
                              "points_taken", (json_int_t)rl->points_taken,
                              "points_refunded", (json_int_t)rl->points_refunded);
        if (!o || json_array_append_new(lines, o) != 0) {
            json_decref(lines);
            lines = NULL;
        }
    }
    return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:o}",
                     "return_id", ret->return_id ? ret->return_id : "",
                     "receipt_id", rcpt->receipt.receipt_id ? rcpt->receipt.receipt_id : "",
                     "time", jCalTime(cal, ret->time),
                     "amount", (json_int_t)ret->amount,
                     "points_taken", (json_int_t)ret->points_taken,
                     "points_refunded", (json_int_t)ret->points_refunded,
                     "points_forgiven", (json_int_t)ret->points_forgiven,
                     "lines", lines,
                     "balance", after ? ly__json_account(after) : json_null());
}

json_t *ly__json_entry(const ly_entry *e, const ly_calendar *cal)
{
    return json_pack("{s:I, s:s, s:I, s:I, s:s?, s:s?, s:o, s:s?, s:s?, s:o}",
                     "id", (json_int_t)e->id,
                     "kind", ly_entry_kind_name(e->kind),
                     "available_delta", (json_int_t)e->delta.available,
                     "pending_delta", (json_int_t)e->delta.pending,
                     "receipt_id", e->receipt_id,
                     "return_id", e->return_id,
                     "lot_id", jIntOrNull(e->lot_id),
                     "ref", e->ref,
                     "note", e->note,
                     "at", jCalTime(cal, e->at));
}

json_t *ly__json_balance(const ly_balance *b, const ly_calendar *cal)
{
    json_t *pending = json_array(), *expiring = json_array();
    for (size_t i = 0; pending && i < b->n_pending; i++)
        json_array_append_new(pending, json_pack("{s:I, s:o}", "points",
                                                 (json_int_t)b->pending[i].points, "active_at",
                                                 jCalTime(cal, b->pending[i].at)));
    for (size_t i = 0; expiring && i < b->n_expiring; i++)
        json_array_append_new(expiring, json_pack("{s:I, s:o}", "points",
                                                  (json_int_t)b->expiring_lots[i].points,
                                                  "expires_at", jCalTime(cal, b->expiring_lots[i].at)));
    return json_pack("{s:I, s:I, s:I, s:I, s:o, s:{s:i, s:I, s:o}}",
                     "customer_id", (json_int_t)b->customer_id,
                     "available", (json_int_t)b->account.available,
                     "pending", (json_int_t)b->account.pending,
                     "debt", (json_int_t)b->account.debt,
                     "pending_lots", pending,
                     "expiring", "days", b->expiring_days, "points", (json_int_t)b->expiring,
                                 "lots", expiring);
}

char *ly__json_text(json_t *v, ly_arena *a)
{
    if (!v) return NULL;
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!text) return NULL;
    char *out = ly_arena_strdup(a, text);
    free(text);
    return out;
}
