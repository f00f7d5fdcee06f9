/*
 * os.c - clock, time zones, randomness and hashing from the operating system and libsodium.
 */
#include "os/os.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

static ly_time frozenNow = -1; /* -1: not looked at yet; 0: real clock */

ly_time ly_os_now(void)
{
    ly_time f = __atomic_load_n(&frozenNow, __ATOMIC_RELAXED);
    if (f < 0) {
        const char *z = getenv("LOYAL_NOW");
        ly_time t = 0;
        if (!z || !ly_time_parse(z, &t, NULL)) t = 0;
        __atomic_store_n(&frozenNow, t, __ATOMIC_RELAXED);
        f = t;
    }
    if (f > 0) return f;
    return (ly_time)time(NULL);
}

uint64_t ly_os_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The calendar works through the C library's localtime_r/mktime with TZ set to the zone:
 * glibc reads the system's tz database (Debian's tzdata), DST rules included. */
static ly_time tzDayEnd(const ly_calendar *cal, ly_time t, int days)
{
    (void)cal;
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    tm.tm_mday += days + 1;
    tm.tm_hour = 0;
    tm.tm_min = 0;
    tm.tm_sec = 0;
    tm.tm_isdst = -1; /* let mktime find whether DST is in force at that midnight */
    return (ly_time)mktime(&tm);
}

static int tzOffset(const ly_calendar *cal, ly_time t)
{
    (void)cal;
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    return (int)(tm.tm_gmtoff / 60);
}

ly_err ly_os_calendar(const char *zone, ly_calendar *cal, ly_error *err)
{
    if (!zone || !*zone || strstr(zone, "..") || zone[0] == '/')
        return ly_error_set(err, LY_EINVAL, "invalid_time_zone", "time_zone",
                            "time zone must be an IANA name such as \"Europe/Moscow\"");
    if (strcmp(zone, "UTC") != 0 && strcmp(zone, "Etc/UTC") != 0) {
        /* glibc silently falls back to UTC for unknown zones: check the file exists. */
        const char *dir = getenv("TZDIR");
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", zone);
        FILE *f = fopen(path, "rb");
        if (!f)
            return ly_error_set(err, LY_EINVAL, "invalid_time_zone", "time_zone",
                                "unknown time zone \"%s\" (is the tzdata package installed?)",
                                zone);
        fclose(f);
    }
    setenv("TZ", zone, 1);
    tzset();
    cal->day_end = tzDayEnd;
    cal->utc_offset = tzOffset;
    cal->ctx = NULL;
    return LY_OK;
}

void ly_os_random_token(char *out, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t i = 0; i < n; i++) out[i] = alphabet[randombytes_uniform(62)];
    out[n] = '\0';
}

void ly_os_hash(const void *data, size_t len, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)data, len, NULL, 0);
}

void ly_os_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}
