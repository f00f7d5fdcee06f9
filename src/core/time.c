/*
 * time.c - civil dates, RFC 3339 text and the fixed-offset calendar. Times are UTC seconds;
 * a local time is only ever an offset applied for display or for finding a day's end.
 */
#include "core/core.h"

#include <stdio.h>

/* Floor division and its non-negative remainder: days before 1970 and negative offsets
 * must land on the earlier day, not round toward zero. */
static int64_t floorDiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

/* Howard Hinnant's days_from_civil: exact for the whole proleptic Gregorian calendar. */
int64_t ly_days_from_civil(int y, unsigned m, unsigned d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = floorDiv(yy, 400);
    int64_t yoe = yy - era * 400;
    int64_t mp = m > 2 ? (int64_t)m - 3 : (int64_t)m + 9;
    int64_t doy = (153 * mp + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void ly_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = floorDiv(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (unsigned)mm;
    *d = (unsigned)dd;
}

static bool isLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned daysInMonth(int y, unsigned m)
{
    static const unsigned n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && isLeap(y) ? 29 : n[m - 1];
}

/* Reads exactly n digits from *p into *v and advances *p. */
static bool digits(const char **p, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9') return false;
        x = x * 10 + (c - '0');
    }
    *p += n;
    *v = x;
    return true;
}

/* "YYYY-MM-DD" at *p, validated against the calendar. */
static bool parseDate(const char **p, int64_t *days)
{
    int y, m, d;
    const char *s = *p;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &m) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || (unsigned)d > daysInMonth(y, (unsigned)m)) return false;
    *days = ly_days_from_civil(y, (unsigned)m, (unsigned)d);
    *p = s;
    return true;
}

bool ly_date_parse(const char *s, int64_t *days)
{
    if (!s) return false;
    int64_t v;
    if (!parseDate(&s, &v) || *s) return false;
    *days = v;
    return true;
}

void ly_date_format(int64_t days, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    ly_civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04d-%02u-%02u", y, m, d);
}

bool ly_time_parse(const char *s, ly_time *utc, int *offset_min)
{
    if (!s) return false;
    int64_t days;
    int hh, mi, ss;
    if (!parseDate(&s, &days)) return false;
    if (*s != 'T' && *s != 't' && *s != ' ') return false;
    s++;
    if (!digits(&s, 2, &hh) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' ||
        !digits(&s, 2, &ss))
        return false;
    if (hh > 23 || mi > 59 || ss > 59) return false;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9') return false;
        while (*s >= '0' && *s <= '9') s++;
    }
    int off;
    if (*s == 'Z' || *s == 'z') {
        off = 0;
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;
        if (!digits(&s, 2, &oh) || *s++ != ':' || !digits(&s, 2, &om)) return false;
        if (oh > 23 || om > 59) return false;
        off = sign * (oh * 60 + om);
    } else {
        return false;
    }
    if (*s) return false;
    *utc = days * 86400 + hh * 3600 + mi * 60 + ss - (ly_time)off * 60;
    if (offset_min) *offset_min = off;
    return true;
}

void ly_time_format(ly_time t, int offset_min, char *buf, size_t size)
{
    if (!buf || size == 0) return;
    ly_time local = t + (ly_time)offset_min * 60;
    int64_t days = floorDiv(local, 86400);
    int64_t secs = local - days * 86400;
    int y;
    unsigned m, d;
    ly_civil_from_days(days, &y, &m, &d);
    char zone[16] = "Z";
    if (offset_min != 0) {
        int a = offset_min < 0 ? -offset_min : offset_min;
        snprintf(zone, sizeof zone, "%c%02d:%02d", offset_min < 0 ? '-' : '+', (a / 60) % 100,
                 a % 60);
    }
    snprintf(buf, size, "%04d-%02u-%02uT%02d:%02d:%02d%s", y, m, d, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60), zone);
}

/* The fixed calendar keeps its offset in ctx itself, so it needs no storage of its own. */
static int fixedOffset(const ly_calendar *cal, ly_time t)
{
    (void)t;
    return (int)(intptr_t)cal->ctx;
}

/* Local midnight after the day containing t, plus `days` days, back in UTC. */
static ly_time fixedDayEnd(const ly_calendar *cal, ly_time t, int days)
{
    int64_t off = (int64_t)fixedOffset(cal, t) * 60;
    int64_t day = floorDiv(t + off, 86400);
    return (day + 1 + days) * 86400 - off;
}

void ly_calendar_fixed(ly_calendar *cal, int offset_min)
{
    cal->day_end = fixedDayEnd;
    cal->utc_offset = fixedOffset;
    cal->ctx = (void *)(intptr_t)offset_min;
}
