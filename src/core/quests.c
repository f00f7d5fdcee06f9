/*
 * quests.c - the pure arithmetic of quests (core/quests.h): periods and deadlines, what a
 * receipt counts toward a quest after its returns, and the level of an XP total.
 */
#include "core/quests.h"

/* 0 = Monday .. 6 = Sunday; 1970-01-01 was a Thursday. */
static int64_t isoWeekday(int64_t day)
{
    int64_t w = (day + 3) % 7;
    return w < 0 ? w + 7 : w;
}

void ly_quest_period_key(const ly_quest *q, int64_t day, char *buf, size_t size)
{
    ly_period_key(q->period, day, buf, size);
}

int64_t ly_quest_deadline(const ly_quest *q, int64_t day)
{
    if (q->period == LY_PERIOD_WEEK) return day - isoWeekday(day) + 6;
    if (q->period == LY_PERIOD_MONTH) {
        int y;
        unsigned m, d;
        ly_civil_from_days(day, &y, &m, &d);
        return m == 12 ? ly_days_from_civil(y + 1, 1, 1) - 1 : ly_days_from_civil(y, m + 1, 1) - 1;
    }
    return q->day_to;
}

bool ly_quest_runs(const ly_quest *q, int64_t day)
{
    return (q->day_from == LY_DAY_NEVER || day >= q->day_from) &&
           (q->day_to == LY_DAY_FOREVER || day <= q->day_to);
}

int64_t ly_quest_value(const ly_quest *q, const ly_line *lines, const ly_money *paid,
                       const ly_qty *returned, size_t n_lines)
{
    int64_t v = 0;
    if (q->kind == LY_QUEST_ANSWERS || q->kind == LY_QUEST_EVENT || q->kind == LY_QUEST_REFERRALS)
        return 0;
    for (size_t i = 0; i < n_lines; i++) {
        if (!ly_selector_match(&q->lines, &lines[i])) continue;
        if (q->kind == LY_QUEST_NEW_CATEGORY && (!lines[i].category || !*lines[i].category))
            continue;
        ly_qty left = lines[i].qty - (returned ? returned[i] : 0);
        if (left <= 0) continue;
        if (q->kind == LY_QUEST_DEALS || q->kind == LY_QUEST_NEW_CATEGORY) return 1;
        v += ly_share(paid[i], left, lines[i].qty);
    }
    return v;
}

int64_t ly_week_monday(int64_t day)
{
    return day - isoWeekday(day);
}

bool ly_streak_add(ly_streak *s, int64_t day)
{
    int64_t w = ly_week_monday(day);
    if (s->length > 0 && w <= s->week) return false;
    s->length = s->length > 0 && w == s->week + 7 ? s->length + 1 : 1;
    s->week = w;
    if (s->length > s->best) s->best = s->length;
    return true;
}

int64_t ly_streak_current(const ly_streak *s, int64_t today)
{
    int64_t w = ly_week_monday(today);
    return s->length > 0 && (s->week == w || s->week == w - 7) ? s->length : 0;
}

long ly_quest_level(const ly_quests *qs, int64_t xp)
{
    long at = -1;
    for (size_t i = 0; qs && i < qs->n_levels; i++)
        if (xp >= qs->levels[i].xp) at = (long)i;
    return at;
}
