/*
 * tiers.c - the HTTP side of program replacement, tiers and the club (docs/api-tiers.md):
 * GET and PUT /v1/program, GET /v1/customers/{id}/tier, the club's members (list, invite,
 * remove), and the "tier" and "club" objects the profile and the balance carry.
 */
#include "http/codec_internal.h"
#include "http/http_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBERS_LIMIT_DEFAULT 50
#define MEMBERS_LIMIT_MAX 500
#define HISTORY_MAX 1000
#define NOTE_MAX 500

static const ly_calendar *calendarOf(const ly__req *r)
{
    return ly_service_calendar(r->http->svc);
}

static json_t *timeJson(ly_time t, const ly_calendar *cal)
{
    if (!t) return json_null();
    char buf[40];
    ly_time_format(t, cal->utc_offset(cal, t), buf, sizeof buf);
    return json_string(buf);
}

static json_t *dayJson(int64_t day)
{
    if (day == LY_DAY_FOREVER || day == LY_DAY_NEVER) return json_null();
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    return json_string(buf);
}

/* Basis points as a percentage without trailing zeros: 500 -> "5", 750 -> "7.5". */
static json_t *percentJson(int64_t bp)
{
    char buf[32];
    ly_decimal_format(bp, 2, buf, sizeof buf);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf);
        while (end > dot + 1 && end[-1] == '0') *--end = '\0';
        if (end == dot + 1) *dot = '\0';
    }
    return json_string(buf);
}

static json_t *benefitsJson(const ly_benefit_view *b, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s?, s:s?}", "id", b[i].id, "name", b[i].name, "text",
                              b[i].text, "rule", b[i].rule);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

json_t *ly__json_tier(const ly_tier_view *v, const ly_calendar *cal)
{
    if (!v->has_tiers) return json_null();
    json_t *next = json_null();
    if (v->has_next)
        next = json_pack("{s:s, s:s, s:I, s:I, s:o, s:s}", "id", v->next_id, "name", v->next_name,
                         "spend_more", (json_int_t)v->spend_more, "receipts_more",
                         (json_int_t)v->receipts_more, "by", dayJson(v->by_day), "text", v->progress);
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:{s:s, s:o, s:o, s:I, s:I}, s:o}", "id", v->id,
                     "name", v->name, "since", timeJson(v->since, cal), "held_until",
                     dayJson(v->held_until_day), "earn_rate_percent", percentJson(v->earn_rate_bp),
                     "benefits", benefitsJson(v->benefits, v->n_benefits), "period", "kind",
                     v->period, "from", dayJson(v->period_first_day), "to",
                     dayJson(v->period_last_day), "spend", (json_int_t)v->figures.spend,
                     "receipts", (json_int_t)v->figures.receipts, "next", next);
}

json_t *ly__json_club(const ly_club_view *v, const ly_calendar *cal)
{
    if (!v->has_club) return json_null();
    if (!v->member) return json_pack("{s:s, s:b}", "name", v->name, "member", 0);
    return json_pack("{s:s, s:b, s:s, s:o, s:o}", "name", v->name, "member", 1, "via", v->via,
                     "since", timeJson(v->since, cal), "benefits",
                     benefitsJson(v->benefits, v->n_benefits));
}

ly_err ly__tier_fields(ly__req *r, int64_t customer_id, json_t *o, ly_error *err)
{
    ly_tier_view tier;
    ly_club_view club;
    ly_err rc = ly_service_tier_view(r->http->svc, customer_id, r->now, &r->arena, &tier, &club, err);
    if (rc != LY_OK) return rc;
    if (json_object_set_new(o, "tier", ly__json_tier(&tier, calendarOf(r))) != 0 ||
        json_object_set_new(o, "club", ly__json_club(&club, calendarOf(r))) != 0)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The program
 * ------------------------------------------------------------------------------------- */

static json_t *programInfoJson(const ly_program_info *info, const ly_calendar *cal)
{
    return json_pack("{s:s, s:s, s:o}", "version", info->version, "name", info->name,
                     "first_loaded_at", timeJson(info->first_loaded_at, cal));
}

void ly__handle_program_get(ly__req *r)
{
    const char *text;
    ly_program_info info;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_program_get(r->http->svc, &r->arena, &text, &info, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    json_t *o = programInfoJson(&info, calendarOf(r));
    json_t *prog = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (o && (!prog || json_object_set_new(o, "program", prog) != 0)) {
        json_decref(o);
        o = NULL;
    }
    ly__reply_json(r, 200, o);
}

void ly__handle_program_put(ly__req *r)
{
    if (!r->body_len) {
        ly__reply_errorf(r, LY_EINVAL, "missing_body", NULL, "send the program file as the body");
        return;
    }
    ly_program_info info;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_program_replace(r->http->svc, r->body, r->body_len, r->now, &info, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    fprintf(stderr, "loyal serve: program %s: %s (was %s)\n", info.replaced ? "replaced" : "unchanged",
            info.version, info.previous);
    json_t *o = programInfoJson(&info, calendarOf(r));
    if (o && (json_object_set_new(o, "previous", json_string(info.previous)) != 0 ||
              json_object_set_new(o, "replaced", json_boolean(info.replaced)) != 0)) {
        json_decref(o);
        o = NULL;
    }
    ly__reply_json(r, 200, o);
}

/* ---------------------------------------------------------------------------------------
 * A customer's tier, with its history
 * ------------------------------------------------------------------------------------- */

void ly__handle_tier_get(ly__req *r)
{
    ly_customer c;
    if (!ly__path_customer_or_reply(r, NULL, &c)) return;
    ly_error err;
    ly_error_clear(&err);
    json_t *o = json_pack("{s:I}", "customer_id", (json_int_t)c.id);
    ly_tier_change *h;
    size_t n;
    if (!o || ly__tier_fields(r, c.id, o, &err) != LY_OK ||
        ly_service_tier_history(r->http->svc, c.id, HISTORY_MAX, &r->arena, &h, &n, &err) != LY_OK) {
        json_decref(o);
        if (err.kind == LY_OK) ly_error_set(&err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        ly__reply_error(r, &err);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *e = json_pack("{s:s, s:s, s:s, s:o, s:s}", "change", h[i].change, "from", h[i].from_tier,
                              "to", h[i].to_tier, "at", timeJson(h[i].at, calendarOf(r)),
                              "program_version", h[i].program_version);
        if (!e || json_array_append_new(arr, e) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr || json_object_set_new(o, "history", arr) != 0) {
        json_decref(o);
        o = NULL;
    }
    ly__reply_json(r, 200, o);
}

/* ---------------------------------------------------------------------------------------
 * The club
 * ------------------------------------------------------------------------------------- */

static json_t *memberJson(ly__req *r, const ly_club_member *m)
{
    ly_who who = {.customer_id = m->customer_id};
    ly_customer c;
    ly_error err;
    ly_error_clear(&err);
    const char *name = NULL;
    if (ly_service_customer_get(r->http->svc, &who, &r->arena, &c, &err) == LY_OK) name = c.name;
    return json_pack("{s:I, s:s?, s:s, s:o, s:s?}", "customer_id", (json_int_t)m->customer_id, "name",
                     name, "via", m->via, "since", timeJson(m->since, calendarOf(r)), "note", m->note);
}

void ly__handle_club_members(ly__req *r)
{
    static const char *const paging[] = {"limit", "after", NULL};
    if (!ly__query_only_or_reply(r, paging)) return;
    int64_t limit, after;
    if (!ly__query_int_or_reply(r, "limit", 1, MEMBERS_LIMIT_MAX, MEMBERS_LIMIT_DEFAULT, &limit) ||
        !ly__query_int_or_reply(r, "after", 0, INT64_MAX, 0, &after))
        return;
    ly_club_member *m;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    /* One more than asked tells whether there is a next page. */
    if (ly_service_club_members(r->http->svc, after, (size_t)limit + 1, &r->arena, &m, &n, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    bool more = n > (size_t)limit;
    if (more) n = (size_t)limit;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *e = memberJson(r, &m[i]);
        if (!e || json_array_append_new(arr, e) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    ly__reply_json(r, 200, json_pack("{s:o, s:o}", "members", arr, "next_after",
                                     more ? json_integer((json_int_t)m[n - 1].customer_id) : json_null()));
}

void ly__handle_club_invite(ly__req *r)
{
    json_t *root = ly__body_or_reply(r, false);
    if (!root) return;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "customer_id") != 0 && strcmp(key, "note") != 0) {
            json_decref(root);
            ly__reply_errorf(r, LY_EINVAL, "unknown_field", key, "is not a field of this request");
            return;
        }
    }
    json_t *id = json_object_get(root, "customer_id"), *note = json_object_get(root, "note");
    if (!json_is_integer(id) || json_integer_value(id) <= 0) {
        json_decref(root);
        ly__reply_errorf(r, LY_EINVAL, id ? "invalid_value" : "missing_field", "customer_id",
                         id ? "must be a customer id (an integer > 0)" : "is required");
        return;
    }
    if (note && !json_is_null(note) && (!json_is_string(note) || json_string_length(note) > NOTE_MAX)) {
        json_decref(root);
        ly__reply_errorf(r, LY_EINVAL, "invalid_value", "note", "must be text of at most %d bytes", NOTE_MAX);
        return;
    }
    int64_t cid = json_integer_value(id);
    const char *text = json_is_string(note) ? ly_arena_strdup(&r->arena, json_string_value(note)) : NULL;
    json_decref(root);
    ly_club_member m;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_club_invite(r->http->svc, cid, text, r->now, &r->arena, &m, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    ly__reply_json(r, 201, memberJson(r, &m));
}

void ly__handle_club_remove(ly__req *r)
{
    int64_t id;
    if (!ly__path_id_or_reply(r, "not_a_member", "club member", &id)) return;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_club_remove(r->http->svc, id, r->now, &err) != LY_OK) {
        if (strcmp(err.field, "customer_id") == 0) snprintf(err.field, sizeof err.field, "id");
        ly__reply_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, json_pack("{s:I, s:b}", "customer_id", (json_int_t)id, "member", 0));
}
