/*
 * rewards.c - the API of the reward mechanics (docs/api-rewards.md): custom events
 * (POST /v1/events), coupon campaigns (GET /v1/coupons/{id}, POST /v1/coupons/{id}/codes)
 * and a member's referrals (GET /v1/customers/{id}/referrals); plus the referral code on
 * the profile. Bodies are decoded as strictly as the rest of the API: unknown fields, wrong
 * types and empty strings are errors that name the field.
 */
#include "http/codec_internal.h"
#include "http/http_internal.h"

#include <stdio.h>
#include <string.h>

#define TEXT_MAX 512
#define ID_MAX 128
#define REFERRALS_LIST_MAX 100

static const ly_calendar *calOf(const ly__req *r)
{
    return ly_service_calendar(r->http->svc);
}

static json_t *jTime(const ly_calendar *cal, ly_time t)
{
    if (!t) return json_null();
    char buf[40];
    ly_time_format(t, cal->utc_offset(cal, t), buf, sizeof buf);
    return json_string(buf);
}

/* o[key] as a string of 1..max bytes in a; absent or null gives NULL unless required. */
static ly_err text(const json_t *o, const char *key, bool required, size_t max, ly_arena *a,
                   const char **out, ly_error *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? ly_error_set(err, LY_EINVAL, "missing_field", key, "is required") : LY_OK;
    if (!json_is_string(v))
        return ly_error_set(err, LY_EINVAL, "invalid_type", key, "must be a string, not %s",
                            ly__json_type_name(v));
    size_t n = json_string_length(v);
    if (n == 0) return ly_error_set(err, LY_EINVAL, "invalid_value", key, "must not be empty");
    if (n > max) return ly_error_set(err, LY_EINVAL, "invalid_value", key, "is longer than %zu bytes", max);
    *out = ly_arena_strndup(a, json_string_value(v), n);
    return *out ? LY_OK : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------
 * The profile
 * ------------------------------------------------------------------------------------- */

bool ly__rewards_profile(ly__req *r, const ly_customer *c, json_t *o)
{
    if (!ly_service_referrals_offered(r->http->svc)) return true;
    char code[16];
    ly_referral_code(c->id, code, sizeof code);
    return json_object_set_new(o, "referral_code", code[0] ? json_string(code) : json_null()) == 0;
}

/* ---------------------------------------------------------------------------------------
 * POST /v1/events
 * ------------------------------------------------------------------------------------- */

static const char *const eventKeys[] = {"event_id", "type", "customer", "time", "note",
                                        "touchpoint", NULL};
static const char *const whoKeys[] = {"id", "card", "phone", "email", "qr", "external_id", NULL};

static ly_err decodeEvent(const json_t *root, ly_arena *a, ly_event_request *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    ly_err rc = ly__json_only_keys(root, "", eventKeys, err);
    if (rc == LY_OK) rc = text(root, "event_id", true, ID_MAX, a, &out->event_id, err);
    if (rc == LY_OK) rc = text(root, "type", true, 64, a, &out->type, err);
    if (rc == LY_OK) rc = text(root, "note", false, TEXT_MAX, a, &out->note, err);
    if (rc == LY_OK) rc = text(root, "touchpoint", false, 64, a, &out->touchpoint, err);
    if (rc != LY_OK) return rc;
    const char *t;
    if ((rc = text(root, "time", false, 64, a, &t, err)) != LY_OK) return rc;
    if (t && !ly_time_parse(t, &out->time, NULL))
        return ly_error_set(err, LY_EINVAL, "invalid_value", "time",
                            "must be an RFC 3339 time with an offset");
    json_t *c = json_object_get(root, "customer");
    if (!c || json_is_null(c))
        return ly_error_set(err, LY_EINVAL, "missing_field", "customer", "is required");
    if (!json_is_object(c))
        return ly_error_set(err, LY_EINVAL, "invalid_type", "customer", "must be an object, not %s",
                            ly__json_type_name(c));
    if ((rc = ly__json_only_keys(c, "customer", whoKeys, err)) != LY_OK) return rc;
    if (json_object_size(c) != 1)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "customer",
                            "must name the customer by exactly one of id, card, phone, email, qr or external_id");
    const char *key = json_object_iter_key(json_object_iter(c));
    json_t *v = json_object_get(c, key);
    if (strcmp(key, "id") == 0) {
        if (!json_is_integer(v) || json_integer_value(v) < 1)
            return ly_error_set(err, LY_EINVAL, json_is_integer(v) ? "invalid_value" : "invalid_type",
                                "customer.id", "must be a customer id (an integer > 0)");
        out->who.customer_id = json_integer_value(v);
        return LY_OK;
    }
    char field[48];
    snprintf(field, sizeof field, "customer.%s", key);
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 320)
        return ly_error_set(err, LY_EINVAL, json_is_string(v) ? "invalid_value" : "invalid_type", field,
                            "must be a non-empty string");
    if (!ly__id_json_parse(key, &out->who.kind)) return LY_EINTERNAL;
    out->who.value = ly_arena_strdup(a, json_string_value(v));
    return out->who.value ? LY_OK : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

static const char *renderEvent(const ly_op *op)
{
    const ly__req *r = op->user;
    const ly_event_result *e = &op->out.event;
    json_t *entry = e->entry.id ? ly__json_entry(&e->entry, calOf(r)) : json_null();
    return ly__json_text(json_pack("{s:s, s:s, s:I, s:o, s:I, s:s?, s:s?, s:o, s:o}",
                                   "event_id", op->in.event.event_id,
                                   "type", e->type,
                                   "customer_id", (json_int_t)e->customer_id,
                                   "time", jTime(calOf(r), e->time),
                                   "points", (json_int_t)e->points,
                                   "refused", e->refused,
                                   "reason", e->refused ? e->reason : NULL,
                                   "entry", entry,
                                   "balance", ly__json_account(&e->after)),
                         op->arena);
}

void ly__handle_event(ly__req *r)
{
    json_t *root = ly__body_or_reply(r, false);
    if (!root) return;
    ly_op *op = ly__new_op_or_reply(r, LY_OP_EVENT);
    if (!op) {
        json_decref(root);
        return;
    }
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = decodeEvent(root, &r->arena, &op->in.event, &err);
    if (rc == LY_OK) ly__request_hash(r->method, r->path, root, op->request_hash);
    json_decref(root);
    if (rc != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    ly__req_submit(r, op, renderEvent);
}

/* ---------------------------------------------------------------------------------------
 * Coupon campaigns
 * ------------------------------------------------------------------------------------- */

static json_t *jDay(int64_t day, bool set)
{
    if (!set || day < -1000000 || day > 10000000) return json_null();
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    return json_string(buf);
}

void ly__handle_coupon_get(ly__req *r)
{
    ly_coupon_view cv;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_coupon_get(r->http->svc, r->param, &r->arena, &cv, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    json_t *valid = cv.has_dates ? json_pack("{s:o, s:o}", "from", jDay(cv.day_from, true),
                                             "to", jDay(cv.day_to, true))
                                 : json_null();
    ly__reply_json(r, 200, json_pack("{s:s, s:s?, s:s, s:s?, s:s?, s:o, s:{s:I, s:I, s:I}, s:I, s:I, s:I, s:I}",
                                     "id", cv.id, "name", cv.name,
                                     "kind", cv.code ? "public" : "unique",
                                     "code", cv.code,
                                     "prefix", cv.code ? NULL : cv.prefix,
                                     "valid", valid,
                                     "uses", "per_code", (json_int_t)cv.per_code,
                                             "total", (json_int_t)cv.total,
                                             "per_customer", (json_int_t)cv.per_customer,
                                     "codes_issued", (json_int_t)cv.stats.codes,
                                     "batches", (json_int_t)cv.stats.batches,
                                     "redeemed", (json_int_t)cv.stats.uses,
                                     "given_back", (json_int_t)cv.stats.returned));
}

static const char *renderCodes(const ly_op *op)
{
    json_t *codes = json_array();
    for (size_t i = 0; codes && i < op->out.codes.n; i++)
        if (json_array_append_new(codes, json_string(op->out.codes.codes[i])) != 0) {
            json_decref(codes);
            codes = NULL;
        }
    return ly__json_text(json_pack("{s:s, s:s, s:I, s:o}", "campaign", op->in.codes.campaign,
                                   "batch", op->in.codes.batch, "count",
                                   (json_int_t)op->out.codes.n, "codes", codes),
                         op->arena);
}

static const char *const codesKeys[] = {"batch", "count", NULL};

void ly__handle_coupon_codes(ly__req *r)
{
    json_t *root = ly__body_or_reply(r, false);
    if (!root) return;
    ly_op *op = ly__new_op_or_reply(r, LY_OP_COUPON_CODES);
    if (!op) {
        json_decref(root);
        return;
    }
    ly_error err;
    ly_error_clear(&err);
    ly_coupon_codes_request *in = &op->in.codes;
    in->campaign = r->param;
    ly_err rc = ly__json_only_keys(root, "", codesKeys, &err);
    if (rc == LY_OK) rc = text(root, "batch", true, 64, &r->arena, &in->batch, &err);
    if (rc == LY_OK) {
        json_t *c = json_object_get(root, "count");
        if (!c || json_is_null(c))
            rc = ly_error_set(&err, LY_EINVAL, "missing_field", "count", "is required");
        else if (!json_is_integer(c))
            rc = ly_error_set(&err, LY_EINVAL, "invalid_type", "count", "must be an integer, not %s",
                              ly__json_type_name(c));
        else if (json_integer_value(c) < 1 || json_integer_value(c) > 10000)
            rc = ly_error_set(&err, LY_EINVAL, "invalid_value", "count", "must be between 1 and 10000");
        else
            in->count = json_integer_value(c);
    }
    if (rc == LY_OK) ly__request_hash(r->method, r->path, root, op->request_hash);
    json_decref(root);
    if (rc != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    ly__req_submit(r, op, renderCodes);
}

/* ---------------------------------------------------------------------------------------
 * GET /v1/customers/{id}/referrals
 * ------------------------------------------------------------------------------------- */

void ly__handle_referrals(ly__req *r)
{
    int64_t id;
    if (!ly__customer_id_or_reply(r, &id)) return;
    ly_referral_stats st;
    ly_referral *list;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_referrals(r->http->svc, id, REFERRALS_LIST_MAX, &r->arena, &st, &list, &n, &err) != LY_OK) {
        if (strcmp(err.field, "customer.id") == 0) snprintf(err.field, sizeof err.field, "id");
        ly__reply_error(r, &err);
        return;
    }
    const ly_calendar *cal = calOf(r);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const ly_referral *x = &list[i];
        const char *status = x->rewarded_at ? "rewarded" : x->receipt_id ? "qualified" : "invited";
        json_t *o = json_pack("{s:I, s:o, s:s, s:s?, s:o, s:o}", "customer_id", (json_int_t)x->referee,
                              "linked_at", jTime(cal, x->linked_at), "status", status,
                              "qualifying_receipt", x->receipt_id,
                              "reward_due_at", jTime(cal, x->due_at),
                              "rewarded_at", jTime(cal, x->rewarded_at));
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    char code[16];
    ly_referral_code(id, code, sizeof code);
    ly__reply_json(r, 200, json_pack("{s:I, s:s, s:I, s:I, s:I, s:{s:I, s:I}, s:o}",
                                     "customer_id", (json_int_t)id, "referral_code", code,
                                     "invited", (json_int_t)st.invited,
                                     "qualified", (json_int_t)st.qualified,
                                     "converted", (json_int_t)st.converted,
                                     "rewards_paid", "referrer_points", (json_int_t)st.referrer_points,
                                     "newcomer_points", (json_int_t)st.newcomer_points,
                                     "referrals", arr));
}
