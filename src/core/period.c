/*
 * period.c - the periods of per-customer limits and event caps (a day, an ISO week, a month,
 * a year, ever) and the keys that name one period, so counters can be kept per period.
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *const periodNames[] = {"day", "week", "month", "year", "ever"};

const char *ly_period_name(ly_period p)
{
    return (unsigned)p <= LY_PERIOD_EVER ? periodNames[p] : "ever";
}

bool ly_period_parse(const char *s, ly_period *out)
{
    for (int i = 0; s && i <= LY_PERIOD_EVER; i++)
        if (strcmp(s, periodNames[i]) == 0) {
            *out = (ly_period)i;
            return true;
        }
    return false;
}

/* Monday = 0 .. Sunday = 6; 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
    return (int)(((day + 3) % 7 + 7) % 7);
}

void ly_period_key(ly_period p, int64_t day, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    switch (p) {
    case LY_PERIOD_DAY:
        ly_civil_from_days(day, &y, &m, &d);
        snprintf(buf, size, "D%04d-%02u-%02u", y, m, d);
        return;
    case LY_PERIOD_WEEK: {
        /* ISO 8601: the week belongs to the year of its Thursday. */
        int64_t thursday = day - weekday(day) + 3;
        ly_civil_from_days(thursday, &y, &m, &d);
        int64_t week = (thursday - ly_days_from_civil(y, 1, 1)) / 7 + 1;
        snprintf(buf, size, "W%04d-%02lld", y, (long long)week);
        return;
    }
    case LY_PERIOD_MONTH:
        ly_civil_from_days(day, &y, &m, &d);
        snprintf(buf, size, "M%04d-%02u", y, m);
        return;
    case LY_PERIOD_YEAR:
        ly_civil_from_days(day, &y, &m, &d);
        snprintf(buf, size, "Y%04d", y);
        return;
    default:
        snprintf(buf, size, "E");
    }
}
