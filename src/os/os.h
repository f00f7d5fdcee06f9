/*
 * os.h - what Loyal takes from the operating system: the clock, the time-zone database,
 * randomness, hashing and reading CSV files (csv.h). Kept apart so that the core stays pure and tests can fix time.
 */
#ifndef LY_OS_H
#define LY_OS_H

#include "core/core.h"

/* The current time. If the environment variable LOYAL_NOW holds an RFC 3339 time when the
 * process first asks, the clock is frozen there (for tests and reproducible examples). */
ly_time ly_os_now(void);

/* Microseconds from a monotonic clock, for measuring durations. */
uint64_t ly_os_usec(void);

/* A calendar for an IANA time zone ("Europe/Moscow") read from the system's tz database.
 * The process has one program time zone: this sets TZ for the whole process, so call it
 * once at start-up, before threads are started. LY_EINVAL ("invalid_time_zone") if the zone
 * is unknown to the system. */
ly_err ly_os_calendar(const char *zone, ly_calendar *cal, ly_error *err);

/* Fills out with n random characters from [A-Za-z0-9] (unguessable: libsodium's CSPRNG),
 * then a NUL; out needs n+1 bytes. */
void ly_os_random_token(char *out, size_t n);

/* BLAKE2b-256 of data. */
void ly_os_hash(const void *data, size_t len, uint8_t out[32]);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void ly_os_hex(const uint8_t *in, size_t n, char *out);

#endif /* LY_OS_H */
