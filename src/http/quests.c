/*
 * quests.c - the HTTP side of quests (docs/api-quests.md): GET /v1/customers/{id}/quests
 * (the quests running for the customer with progress, deadline and reward; badges; XP and
 * level; the personal coupon codes of quest rewards) and the "quests" list a checkout
 * response carries when the program has quests.
 */
#include "http/codec_internal.h"
#include "http/http_internal.h"
#include "store/store.h"

#include <stdio.h>
#include <string.h>

static json_t *dayJson(int64_t day)
{
    if (day == LY_DAY_FOREVER || day == LY_DAY_NEVER) return json_null();
    char buf[16];
    ly_date_format(day, buf, sizeof buf);
    return json_string(buf);
}

static json_t *timeJson(ly_time t, const ly_calendar *cal)
{
    if (!t) return json_null();
    char buf[40];
    ly_time_format(t, cal->utc_offset(cal, t), buf, sizeof buf);
    return json_string(buf);
}

/* The reward; "coupon" only when it names a coupon campaign, so rewards without one read
 * as before: {"campaign", "code"} (code null until issued). */
static json_t *rewardJson(ly_points points, const char *badge, int64_t xp, const char *coupon,
                          const char *code)
{
    json_t *o = json_pack("{s:I, s:s?, s:I}", "points", (json_int_t)points, "badge", badge, "xp",
                          (json_int_t)xp);
    if (o && coupon &&
        json_object_set_new(o, "coupon", json_pack("{s:s, s:s?}", "campaign", coupon, "code",
                                                   code)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ly__json_quest_steps(const ly_checkout_result *res)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < res->n_quests; i++) {
        const ly_quest_step *q = &res->quests[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b, s:o}", "id", q->quest_id,
                              "name", q->name, "period", q->period, "before", (json_int_t)q->before,
                              "after", (json_int_t)q->after, "target", (json_int_t)q->target,
                              "completed", q->completed, "reward",
                              rewardJson(q->points, q->badge, q->xp, q->coupon, q->coupon_code));
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

void ly__handle_quests(ly__req *r)
{
    ly_customer c;
    if (!ly__path_customer_or_reply(r, NULL, &c)) return;
    ly_error err;
    ly_error_clear(&err);
    ly_quests_view v;
    if (ly_service_quests_view(r->http->svc, c.id, r->now, &r->arena, &v, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    const ly_calendar *cal = ly_service_calendar(r->http->svc);
    json_t *qs = json_array(), *bs = json_array();
    for (size_t i = 0; qs && i < v.n_quests; i++) {
        const ly_quest_view *q = &v.quests[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:b, s:o, s:o}", "id", q->id,
                              "name", q->name, "kind", q->kind, "period", q->period,
                              "progress", (json_int_t)q->value, "target", (json_int_t)q->target,
                              "deadline", dayJson(q->deadline_day), "completed",
                              q->completed_at != 0, "completed_at", timeJson(q->completed_at, cal),
                              "reward", rewardJson(q->points, q->badge, q->xp, q->coupon,
                                                   q->coupon_code));
        if (!o || json_array_append_new(qs, o) != 0) {
            json_decref(qs);
            qs = NULL;
        }
    }
    for (size_t i = 0; bs && i < v.n_badges; i++) {
        const ly_quest_badge *b = &v.badges[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "badge", b->badge, "quest", b->quest_id,
                              "period", b->period, "at", timeJson(b->at, cal));
        if (!o || json_array_append_new(bs, o) != 0) {
            json_decref(bs);
            bs = NULL;
        }
    }
    json_t *cs = json_array();
    for (size_t i = 0; cs && i < v.n_coupons; i++) {
        const ly_quest_coupon *k = &v.coupons[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "code", k->code, "campaign",
                              k->campaign, "quest", k->quest_id, "period", k->period,
                              "issued_at", timeJson(k->issued_at, cal), "used", k->used);
        if (!o || json_array_append_new(cs, o) != 0) {
            json_decref(cs);
            cs = NULL;
        }
    }
    json_t *level = json_null();
    if (v.has_levels && v.level_id)
        level = json_pack("{s:s, s:s, s:s?, s:o}", "id", v.level_id, "name", v.level_name, "next",
                          v.next_level_id, "xp_to_next",
                          v.next_level_id ? json_integer(v.xp_to_next) : json_null());
    json_t *streak = json_null();
    if (v.has_streak)
        streak = json_pack("{s:I, s:I, s:o}", "weeks", (json_int_t)v.streak_weeks, "best",
                           (json_int_t)v.streak_best, "next",
                           v.streak_next_weeks
                               ? json_pack("{s:I, s:I}", "weeks", (json_int_t)v.streak_next_weeks,
                                           "points", (json_int_t)v.streak_next_points)
                               : json_null());
    json_t *out = json_pack("{s:I, s:o, s:o, s:I, s:o, s:o, s:o}", "customer_id",
                            (json_int_t)c.id, "quests", qs ? qs : json_null(), "badges",
                            bs ? bs : json_null(), "xp", (json_int_t)v.xp, "level",
                            level ? level : json_null(), "streak", streak ? streak : json_null(),
                            "coupons", cs ? cs : json_null());
    if (!out || !qs || !bs || !cs) {
        json_decref(out);
        ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return;
    }
    ly__reply_json(r, 200, out);
}
