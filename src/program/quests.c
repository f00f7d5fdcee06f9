/*
 * quests.c - reads the program file's "quests" section (docs/quests.md) into ly_quests
 * (core/quests.h) in the program's memory: the quests with their kind, target, period,
 * dates, lines, audience and reward, and the levels with their XP thresholds. A reward's
 * coupon names one of the program's coupon campaigns (checked once "coupons" is read).
 */
#include "program/program_internal.h"
#include "core/quests.h"
#include "program/survey.h"
#include "program/rewards.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define PATHN 160
#define QUESTS_MAX 200
#define LEVELS_MAX 50

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

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", "", "out of memory");
}

static ly_err onlyKeys(json_t *obj, const char *prefix, const char *const *known, ly_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(key, known[i]) == 0) ok = true;
        if (!ok) {
            char path[PATHN];
            pathf(path, sizeof path, "%s.%s", prefix, key);
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

static ly_err getInt(json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out,
                     ly_error *err)
{
    if (!json_is_integer(v))
        return ly_error_set(err, LY_EINVAL, v ? "invalid_type" : "missing_field", path,
                            v ? "must be an integer" : "is required");
    int64_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be between %lld and %lld", (long long)lo, (long long)hi);
    *out = x;
    return LY_OK;
}

static ly_err getText(json_t *v, const char *path, ly_program *p, const char **out,
                      ly_error *err)
{
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 64)
        return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", path,
                            "must be a string of 1 to 64 characters");
    if (!(*out = ly_arena_strdup(p->mem, json_string_value(v)))) return oom(err);
    return LY_OK;
}

static ly_err getStrings(json_t *v, const char *path, ly_program *p, ly_strset *out,
                         ly_error *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 200)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be a list of 1 to 200 strings");
    size_t n = json_array_size(v);
    const char **items = ly_arena_alloc(p->mem, n * sizeof *items);
    if (!items) return oom(err);
    for (size_t i = 0; i < n; i++) {
        char ip[PATHN];
        pathf(ip, sizeof ip, "%s[%zu]", path, i);
        TRY(getText(json_array_get(v, i), ip, p, &items[i], err));
    }
    out->v = items;
    out->n = n;
    return LY_OK;
}

static ly_err getDay(json_t *v, const char *path, int64_t *out, ly_error *err)
{
    if (!json_is_string(v) || !ly_date_parse(json_string_value(v), out))
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be a date YYYY-MM-DD");
    return LY_OK;
}

static ly_err parseQuest(json_t *o, const char *path, ly_program *p, ly_quest *q, ly_error *err)
{
    static const char *const keys[] = {"id", "name", "kind", "target", "period", "from", "to",
                                       "lines", "audience", "reward", "holdout_percent",
                                       "questionnaire", "event", NULL};
    char sub[PATHN];
    TRY(needObject(o, path, err));
    TRY(onlyKeys(o, path, keys, err));
    memset(q, 0, sizeof *q);
    q->day_from = LY_DAY_NEVER;
    q->day_to = LY_DAY_FOREVER;
    q->period = LY_PERIOD_EVER;
    pathf(sub, sizeof sub, "%s.id", path);
    TRY(getText(json_object_get(o, "id"), sub, p, &q->id, err));
    /* The checkout's "quests" list names the streak's entry so. */
    if (strcmp(q->id, "streak") == 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub, "\"streak\" is reserved");
    json_t *v = json_object_get(o, "name");
    pathf(sub, sizeof sub, "%s.name", path);
    if (v) TRY(getText(v, sub, p, &q->name, err));
    else q->name = q->id;
    v = json_object_get(o, "kind");
    pathf(sub, sizeof sub, "%s.kind", path);
    const char *kind = json_is_string(v) ? json_string_value(v) : "";
    if (strcmp(kind, "deals") == 0) q->kind = LY_QUEST_DEALS;
    else if (strcmp(kind, "spend") == 0) q->kind = LY_QUEST_SPEND;
    else if (strcmp(kind, "answers") == 0) q->kind = LY_QUEST_ANSWERS;
    else if (strcmp(kind, "new_category") == 0) q->kind = LY_QUEST_NEW_CATEGORY;
    else if (strcmp(kind, "event") == 0) q->kind = LY_QUEST_EVENT;
    else if (strcmp(kind, "referrals") == 0) q->kind = LY_QUEST_REFERRALS;
    else return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", sub,
                             "must be \"deals\", \"spend\", \"answers\", \"new_category\","
                             " \"event\" or \"referrals\"");
    v = json_object_get(o, "event");
    pathf(sub, sizeof sub, "%s.event", path);
    if (q->kind == LY_QUEST_EVENT) TRY(getText(v, sub, p, &q->event_type, err));
    else if (v)
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                            "is only for a quest of kind \"event\"");
    v = json_object_get(o, "questionnaire");
    pathf(sub, sizeof sub, "%s.questionnaire", path);
    if (q->kind == LY_QUEST_ANSWERS) TRY(getText(v, sub, p, &q->questionnaire, err));
    else if (v)
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                            "is only for a quest of kind \"answers\"");
    if ((q->kind == LY_QUEST_ANSWERS || q->kind == LY_QUEST_EVENT ||
         q->kind == LY_QUEST_REFERRALS) && json_object_get(o, "lines")) {
        pathf(sub, sizeof sub, "%s.lines", path);
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                            "a quest of kind \"%s\" counts no receipt lines", kind);
    }
    v = json_object_get(o, "target");
    pathf(sub, sizeof sub, "%s.target", path);
    if (q->kind != LY_QUEST_SPEND) {
        TRY(getInt(v, sub, 1, 1000000, &q->target, err));
    } else if (!json_is_string(v) || !ly_decimal_parse(json_string_value(v), p->minor_units,
                                                        &q->target) ||
               q->target <= 0 || q->target > LY_AMOUNT_MAX) {
        return ly_error_set(err, LY_EINVAL, v ? "invalid_value" : "missing_field", sub,
                            "must be an amount > 0 as a decimal string (\"5000.00\")");
    }
    if ((v = json_object_get(o, "period"))) {
        const char *s = json_is_string(v) ? json_string_value(v) : "";
        pathf(sub, sizeof sub, "%s.period", path);
        if (strcmp(s, "week") == 0) q->period = LY_PERIOD_WEEK;
        else if (strcmp(s, "month") == 0) q->period = LY_PERIOD_MONTH;
        else if (strcmp(s, "once") == 0) q->period = LY_PERIOD_EVER;
        else return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                                 "must be \"once\", \"week\" or \"month\"");
    }
    pathf(sub, sizeof sub, "%s.from", path);
    if ((v = json_object_get(o, "from"))) TRY(getDay(v, sub, &q->day_from, err));
    pathf(sub, sizeof sub, "%s.to", path);
    if ((v = json_object_get(o, "to"))) TRY(getDay(v, sub, &q->day_to, err));
    if (q->day_from != LY_DAY_NEVER && q->day_to != LY_DAY_FOREVER && q->day_to < q->day_from)
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub, "is before from");
    if ((v = json_object_get(o, "lines"))) {
        static const char *const lk[] = {"skus", "categories", "brands", NULL};
        pathf(sub, sizeof sub, "%s.lines", path);
        TRY(needObject(v, sub, err));
        TRY(onlyKeys(v, sub, lk, err));
        ly_strset *sets[3] = {&q->lines.skus, &q->lines.categories, &q->lines.brands};
        for (int i = 0; i < 3; i++) {
            json_t *x = json_object_get(v, lk[i]);
            char ip[PATHN];
            pathf(ip, sizeof ip, "%s.lines.%s", path, lk[i]);
            if (x) TRY(getStrings(x, ip, p, sets[i], err));
        }
    }
    if ((v = json_object_get(o, "audience"))) {
        static const char *const ak[] = {"tiers", "segments", "club", NULL};
        pathf(sub, sizeof sub, "%s.audience", path);
        TRY(needObject(v, sub, err));
        TRY(onlyKeys(v, sub, ak, err));
        json_t *x;
        pathf(sub, sizeof sub, "%s.audience.tiers", path);
        if ((x = json_object_get(v, "tiers"))) TRY(getStrings(x, sub, p, &q->tiers, err));
        pathf(sub, sizeof sub, "%s.audience.segments", path);
        if ((x = json_object_get(v, "segments"))) TRY(getStrings(x, sub, p, &q->segments, err));
        pathf(sub, sizeof sub, "%s.audience.club", path);
        if ((x = json_object_get(v, "club"))) {
            if (!json_is_boolean(x))
                return ly_error_set(err, LY_EINVAL, "invalid_type", sub, "must be true or false");
            q->club_only = json_is_true(x);
        }
    }
    pathf(sub, sizeof sub, "%s.holdout_percent", path);
    if ((v = json_object_get(o, "holdout_percent"))) {
        int64_t pct;
        TRY(getInt(v, sub, 0, 50, &pct, err));
        q->holdout_bp = pct * 100;
    }
    static const char *const rk[] = {"points", "badge", "xp", "coupon", NULL};
    v = json_object_get(o, "reward");
    pathf(sub, sizeof sub, "%s.reward", path);
    TRY(needObject(v, sub, err));
    TRY(onlyKeys(v, sub, rk, err));
    json_t *x;
    pathf(sub, sizeof sub, "%s.reward.points", path);
    if ((x = json_object_get(v, "points"))) TRY(getInt(x, sub, 0, 100000000, &q->points, err));
    pathf(sub, sizeof sub, "%s.reward.badge", path);
    if ((x = json_object_get(v, "badge"))) TRY(getText(x, sub, p, &q->badge, err));
    pathf(sub, sizeof sub, "%s.reward.xp", path);
    if ((x = json_object_get(v, "xp"))) TRY(getInt(x, sub, 0, 100000000, &q->xp, err));
    pathf(sub, sizeof sub, "%s.reward.coupon", path);
    if ((x = json_object_get(v, "coupon"))) TRY(getText(x, sub, p, &q->coupon, err));
    pathf(sub, sizeof sub, "%s.reward", path);
    if (q->points == 0 && !q->badge && q->xp == 0 && !q->coupon)
        return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                            "must give points, a badge, xp or a coupon");
    return LY_OK;
}

ly_err ly__program_quests(json_t *section, ly_program *p, ly_error *err)
{
    if (!section) return LY_OK;
    static const char *const keys[] = {"list", "levels", "streak", NULL};
    TRY(needObject(section, "quests", err));
    TRY(onlyKeys(section, "quests", keys, err));
    ly_quests *qs = ly_arena_alloc(p->mem, sizeof *qs);
    if (!qs) return oom(err);
    memset(qs, 0, sizeof *qs);
    json_t *list = json_object_get(section, "list");
    if (!json_is_array(list) || json_array_size(list) > QUESTS_MAX)
        return ly_error_set(err, LY_EINVAL, list ? "invalid_value" : "missing_field", "quests.list",
                            "must be a list of at most %d quests", QUESTS_MAX);
    size_t n = json_array_size(list);
    ly_quest *q = ly_arena_alloc(p->mem, (n ? n : 1) * sizeof *q);
    if (!q) return oom(err);
    for (size_t i = 0; i < n; i++) {
        char path[PATHN];
        pathf(path, sizeof path, "quests.list[%zu]", i);
        TRY(parseQuest(json_array_get(list, i), path, p, &q[i], err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(q[j].id, q[i].id) == 0)
                return ly_error_set(err, LY_EINVAL, "duplicate_id", path,
                                    "quest %s is declared twice", q[i].id);
    }
    qs->quests = q;
    qs->n_quests = n;
    json_t *lv = json_object_get(section, "levels");
    if (lv) {
        if (!json_is_array(lv) || json_array_size(lv) == 0 || json_array_size(lv) > LEVELS_MAX)
            return ly_error_set(err, LY_EINVAL, "invalid_value", "quests.levels",
                                "must be a list of 1 to %d levels", LEVELS_MAX);
        size_t k = json_array_size(lv);
        ly_level *l = ly_arena_alloc(p->mem, k * sizeof *l);
        if (!l) return oom(err);
        for (size_t i = 0; i < k; i++) {
            static const char *const lk[] = {"id", "name", "xp", NULL};
            char path[PATHN], sub[PATHN];
            json_t *o = json_array_get(lv, i);
            pathf(path, sizeof path, "quests.levels[%zu]", i);
            TRY(needObject(o, path, err));
            TRY(onlyKeys(o, path, lk, err));
            pathf(sub, sizeof sub, "%s.id", path);
            TRY(getText(json_object_get(o, "id"), sub, p, &l[i].id, err));
            json_t *nm = json_object_get(o, "name");
            pathf(sub, sizeof sub, "%s.name", path);
            if (nm) TRY(getText(nm, sub, p, &l[i].name, err));
            else l[i].name = l[i].id;
            pathf(sub, sizeof sub, "%s.xp", path);
            TRY(getInt(json_object_get(o, "xp"), sub, 0, INT64_MAX / 4, &l[i].xp, err));
            if (i == 0 && l[i].xp != 0)
                return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                                    "the first level starts at 0");
            if (i > 0 && l[i].xp <= l[i - 1].xp)
                return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                                    "must be above the previous level's");
        }
        qs->levels = l;
        qs->n_levels = k;
    }
    json_t *sk = json_object_get(section, "streak");
    if (sk) {
        static const char *const sk_keys[] = {"rewards", NULL};
        TRY(needObject(sk, "quests.streak", err));
        TRY(onlyKeys(sk, "quests.streak", sk_keys, err));
        json_t *rs = json_object_get(sk, "rewards");
        if (!json_is_array(rs) || json_array_size(rs) == 0 || json_array_size(rs) > LEVELS_MAX)
            return ly_error_set(err, LY_EINVAL, rs ? "invalid_value" : "missing_field",
                                "quests.streak.rewards", "must be a list of 1 to %d steps",
                                LEVELS_MAX);
        size_t k = json_array_size(rs);
        ly_streak_reward *sr = ly_arena_alloc(p->mem, k * sizeof *sr);
        if (!sr) return oom(err);
        for (size_t i = 0; i < k; i++) {
            static const char *const rk[] = {"weeks", "points", "badge", "xp", "coupon", NULL};
            char path[PATHN], sub[PATHN];
            json_t *o = json_array_get(rs, i), *x;
            memset(&sr[i], 0, sizeof sr[i]);
            pathf(path, sizeof path, "quests.streak.rewards[%zu]", i);
            TRY(needObject(o, path, err));
            TRY(onlyKeys(o, path, rk, err));
            pathf(sub, sizeof sub, "%s.weeks", path);
            TRY(getInt(json_object_get(o, "weeks"), sub, 1, 520, &sr[i].weeks, err));
            if (i > 0 && sr[i].weeks <= sr[i - 1].weeks)
                return ly_error_set(err, LY_EINVAL, "invalid_value", sub,
                                    "must be above the previous step's");
            pathf(sub, sizeof sub, "%s.points", path);
            if ((x = json_object_get(o, "points"))) TRY(getInt(x, sub, 0, 100000000, &sr[i].points, err));
            pathf(sub, sizeof sub, "%s.badge", path);
            if ((x = json_object_get(o, "badge"))) TRY(getText(x, sub, p, &sr[i].badge, err));
            pathf(sub, sizeof sub, "%s.xp", path);
            if ((x = json_object_get(o, "xp"))) TRY(getInt(x, sub, 0, 100000000, &sr[i].xp, err));
            pathf(sub, sizeof sub, "%s.coupon", path);
            if ((x = json_object_get(o, "coupon"))) TRY(getText(x, sub, p, &sr[i].coupon, err));
            if (sr[i].points == 0 && !sr[i].badge && sr[i].xp == 0 && !sr[i].coupon)
                return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                    "must give points, a badge, xp or a coupon");
        }
        qs->streak = sr;
        qs->n_streak = k;
    }
    p->quests = qs;
    return LY_OK;
}

/* A reward's coupon must be a campaign of unique codes, one use per code: the personal code
 * is issued like a unique code (docs/quests.md, Rewards). */
static ly_err couponCheck(const ly_program *p, const char *id, const char *path, ly_error *err)
{
    const ly_coupon_campaign *cc = ly_rewards_coupon(p->rewards, id);
    if (!cc)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "the program has no coupon campaign %s", id);
    if (cc->code)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "coupon campaign %s has one public code; a reward needs a campaign of"
                            " unique codes (\"codes\")", id);
    if (cc->per_code != 1)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "coupon campaign %s allows %lld use(s) per code; a reward's code is"
                            " single-use (uses.per_code 1)", id, (long long)cc->per_code);
    return LY_OK;
}

ly_err ly__program_quests_check(const ly_program *p, ly_error *err)
{
    const ly_quests *qs = p->quests;
    for (size_t i = 0; qs && i < qs->n_streak; i++) {
        char path[PATHN];
        pathf(path, sizeof path, "quests.streak.rewards[%zu].coupon", i);
        if (qs->streak[i].coupon) TRY(couponCheck(p, qs->streak[i].coupon, path, err));
    }
    for (size_t i = 0; qs && i < qs->n_quests; i++) {
        const ly_quest *q = &qs->quests[i];
        char path[PATHN];
        pathf(path, sizeof path, "quests.list[%zu].reward.coupon", i);
        if (q->coupon) TRY(couponCheck(p, q->coupon, path, err));
        if (q->kind == LY_QUEST_REFERRALS && !(p->rewards && p->rewards->referrals)) {
            pathf(path, sizeof path, "quests.list[%zu].kind", i);
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "a quest of kind \"referrals\" needs the program's"
                                " \"referrals\" section");
        }
        if (q->kind == LY_QUEST_EVENT && !ly_rewards_event(p->rewards, q->event_type)) {
            pathf(path, sizeof path, "quests.list[%zu].event", i);
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "the program has no event %s", q->event_type);
        }
        if (q->kind != LY_QUEST_ANSWERS || ly_survey_questionnaire(p->survey, q->questionnaire))
            continue;
        pathf(path, sizeof path, "quests.list[%zu].questionnaire", i);
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "the program has no questionnaire %s", q->questionnaire);
    }
    return LY_OK;
}
