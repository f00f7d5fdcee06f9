/*
 * test_core_time.c - instants and their text: RFC 3339 parsing and formatting, civil dates,
 * and the fixed-offset calendar that says where a local day ends.
 */
#include "testlib.h"

#include "core/core.h"

#include <string.h>

static ly_time parse(const char *s, int *off)
{
    ly_time t = -1;
    if (!ly_time_parse(s, &t, off)) fail_msg("did not parse: %s", s);
    return t;
}

static void civil_dates_convert_both_ways(void **state)
{
    (void)state;
    assert_int_equal(ly_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(ly_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(ly_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(ly_days_from_civil(2026, 11, 24), 20781);
    assert_int_equal(ly_days_from_civil(1600, 1, 1), -135140);
    /* Every day across four centuries (leap rules of 4, 100, 400) round-trips, in order. */
    int64_t first = ly_days_from_civil(1799, 12, 25), last = ly_days_from_civil(2201, 1, 5);
    int py = 1799;
    unsigned pm = 12, pd = 24;
    for (int64_t d = first; d <= last; d++) {
        int y;
        unsigned m, dd;
        ly_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(ly_days_from_civil(y, m, dd), d);
        bool nextDay = (y == py && m == pm && dd == pd + 1) ||
                       (y == py && m == pm + 1 && dd == 1) || (y == py + 1 && m == 1 && dd == 1);
        assert_true(nextDay);
        py = y, pm = m, pd = dd;
    }
    int y;
    unsigned m, d;
    ly_civil_from_days(ly_days_from_civil(2024, 2, 29) + 1, &y, &m, &d);
    assert_int_equal(m, 3);
    assert_int_equal(d, 1);
    ly_civil_from_days(ly_days_from_civil(1900, 2, 28) + 1, &y, &m, &d);
    assert_int_equal(m, 3); /* 1900 was not a leap year */
    ly_civil_from_days(ly_days_from_civil(2000, 2, 28) + 1, &y, &m, &d);
    assert_int_equal(m, 2); /* 2000 was */
}

static void date_parse_checks_the_calendar(void **state)
{
    (void)state;
    int64_t d;
    assert_true(ly_date_parse("1970-01-01", &d));
    assert_int_equal(d, 0);
    assert_true(ly_date_parse("2024-02-29", &d));
    assert_int_equal(d, ly_days_from_civil(2024, 2, 29));
    assert_true(ly_date_parse("2000-02-29", &d));
    const char *bad[] = {"2023-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10",
                         "2026-01-00", "2026-1-01", "26-01-01", "2026-01-01T", "2026/01/01",
                         "", " 2026-01-01", NULL};
    for (int i = 0; bad[i]; i++) assert_false(ly_date_parse(bad[i], &d));
    /* Formatting is parsing's inverse, before 1970 too. */
    const char *good[] = {"1970-01-01", "2024-02-29", "1969-12-31", "0999-03-01", "2026-12-01",
                          NULL};
    for (int i = 0; good[i]; i++) {
        char buf[16];
        assert_true(ly_date_parse(good[i], &d));
        ly_date_format(d, buf, sizeof buf);
        assert_string_equal(buf, good[i]);
    }
}

static void time_parse_accepts_rfc3339_with_an_offset(void **state)
{
    (void)state;
    int off = 99;
    ly_time utc = parse("2026-11-24T07:15:00Z", &off);
    assert_int_equal(off, 0);
    assert_int_equal(utc, 20781 * INT64_C(86400) + 7 * 3600 + 15 * 60);
    assert_int_equal(parse("2026-11-24T10:15:00+03:00", &off), utc);
    assert_int_equal(off, 180);
    assert_int_equal(parse("2026-11-23T21:45:00-09:30", &off), utc);
    assert_int_equal(off, -570);
    /* Lower-case t and z, a space for T, fractional seconds ignored, -00:00 is UTC. */
    assert_int_equal(parse("2026-11-24t07:15:00z", NULL), utc);
    assert_int_equal(parse("2026-11-24 07:15:00Z", NULL), utc);
    assert_int_equal(parse("2026-11-24T07:15:00.999999Z", NULL), utc);
    assert_int_equal(parse("2026-11-24T07:15:00-00:00", &off), utc);
    assert_int_equal(off, 0);
    assert_int_equal(parse("1970-01-01T00:00:00Z", NULL), 0);
    assert_int_equal(parse("1969-12-31T23:59:59Z", NULL), -1);
    assert_int_equal(parse("2024-02-29T23:59:59+14:00", NULL),
                     ly_days_from_civil(2024, 2, 29) * 86400 + 86399 - 14 * 3600);
}

static void time_parse_rejects_local_times_and_bad_fields(void **state)
{
    (void)state;
    const char *bad[] = {
        "2026-11-24T10:15:00",        /* no offset: ambiguous */
        "2026-11-24",                 /* a date */
        "2026-11-24T10:15Z",          /* no seconds */
        "2026-11-24T24:00:00Z",       /* hour 24 */
        "2026-11-24T10:60:00Z",       /* minute 60 */
        "2026-11-24T10:15:61Z",       /* second 61 */
        "2023-02-29T10:00:00Z",       /* not a leap year */
        "2026-02-30T10:00:00Z",       /* no such day */
        "2026-11-24T10:15:00+3:00",   /* short offset */
        "2026-11-24T10:15:00+0300",   /* offset without colon */
        "2026-11-24T10:15:00+24:00",  /* offset out of range */
        "2026-11-24T10:15:00+03:60",
        "2026-11-24T10:15:00.Z",      /* empty fraction */
        "2026-11-24T10:15:00Z ",      /* trailing text */
        " 2026-11-24T10:15:00Z",
        "2026-11-24X10:15:00Z",
        "",
        NULL,
    };
    for (int i = 0; bad[i]; i++) {
        ly_time t = 12345;
        int off = 7;
        if (ly_time_parse(bad[i], &t, &off)) fail_msg("accepted: \"%s\"", bad[i]);
        assert_int_equal(t, 12345);
        assert_int_equal(off, 7);
    }
    ly_time t;
    assert_false(ly_time_parse(NULL, &t, NULL));
}

static void time_format_shows_the_local_time_and_offset(void **state)
{
    (void)state;
    char buf[32];
    ly_time utc = parse("2026-11-24T07:15:00Z", NULL);
    ly_time_format(utc, 180, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T10:15:00+03:00");
    ly_time_format(utc, 0, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T07:15:00Z");
    ly_time_format(utc, -570, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-23T21:45:00-09:30");
    ly_time_format(-1, 0, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    ly_time_format(0, 330, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T05:30:00+05:30");
    /* Format then parse gives back the instant and the offset. */
    const int offsets[] = {0, 180, -300, 345, -720, 840};
    for (int i = 0; i < 6; i++) {
        for (ly_time t = -86400 * 3; t < 86400 * 3; t += 3599) {
            ly_time back;
            int off;
            ly_time_format(t + 1767225600, offsets[i], buf, sizeof buf);
            assert_true(ly_time_parse(buf, &back, &off));
            assert_int_equal(back, t + 1767225600);
            assert_int_equal(off, offsets[i]);
        }
    }
}

static void a_fixed_calendar_ends_days_at_local_midnight(void **state)
{
    (void)state;
    ly_calendar cal;
    ly_calendar_fixed(&cal, 180); /* Moscow */
    ly_time t = parse("2026-11-24T10:15:00+03:00", NULL);
    assert_int_equal(cal.utc_offset(&cal, t), 180);
    assert_int_equal(cal.day_end(&cal, t, 0), parse("2026-11-25T00:00:00+03:00", NULL));
    assert_int_equal(cal.day_end(&cal, t, 14), parse("2026-12-09T00:00:00+03:00", NULL));
    /* Around midnight: one second before belongs to the old day, midnight to the new. */
    ly_time mid = parse("2026-11-25T00:00:00+03:00", NULL);
    assert_int_equal(cal.day_end(&cal, mid - 1, 0), mid);
    assert_int_equal(cal.day_end(&cal, mid, 0), mid + 86400);
    /* 22:30 UTC is already tomorrow in Moscow. */
    assert_int_equal(cal.day_end(&cal, parse("2026-11-24T22:30:00Z", NULL), 0),
                     parse("2026-11-26T00:00:00+03:00", NULL));

    ly_calendar ny;
    ly_calendar_fixed(&ny, -300); /* New York in winter */
    assert_int_equal(ny.utc_offset(&ny, 0), -300);
    /* 03:00 UTC is still yesterday evening there. */
    assert_int_equal(ny.day_end(&ny, parse("2026-11-25T03:00:00Z", NULL), 0),
                     parse("2026-11-25T00:00:00-05:00", NULL));
    assert_int_equal(ny.day_end(&ny, parse("2026-11-25T05:00:00Z", NULL), 1),
                     parse("2026-11-27T00:00:00-05:00", NULL));

    /* Before 1970 the day still ends at the following midnight (floor, not truncation). */
    ly_calendar utc;
    ly_calendar_fixed(&utc, 0);
    assert_int_equal(utc.day_end(&utc, -1, 0), 0);
    assert_int_equal(utc.day_end(&utc, -86400, 0), 0);
    assert_int_equal(utc.day_end(&utc, -86401, 0), -86400);
    assert_int_equal(ny.day_end(&ny, 0, 0), 5 * 3600); /* 1969-12-31 19:00 local */
    assert_int_equal(cal.day_end(&cal, -3 * 3600 - 1, 0), -3 * 3600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(civil_dates_convert_both_ways),
        cmocka_unit_test(date_parse_checks_the_calendar),
        cmocka_unit_test(time_parse_accepts_rfc3339_with_an_offset),
        cmocka_unit_test(time_parse_rejects_local_times_and_bad_fields),
        cmocka_unit_test(time_format_shows_the_local_time_and_offset),
        cmocka_unit_test(a_fixed_calendar_ends_days_at_local_midnight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
