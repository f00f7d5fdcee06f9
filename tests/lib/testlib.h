/*
 * testlib.h - helpers shared by the tests: temporary directories, running the `loyal`
 * command, a `loyal serve` child process, an HTTP client (libcurl), JSON comparison
 * (jansson), and an in-process service on a fresh database (tl_svc).
 *
 * Rules of use:
 *  - Everything here may be called from the main (cmocka) thread. Only the HTTP client
 *    (tl_http, tl_call, tl_response_*) and the JSON helpers that do not assert may be called
 *    from other threads: cmocka's assertions must never run outside the main thread, so
 *    worker threads record what they saw and the main thread asserts.
 *  - Servers and temporary directories are registered when created; an atexit handler kills
 *    any server still running (SIGKILL) and removes every temporary directory still there,
 *    so a failed assertion never leaves a child process behind. Servers are also started
 *    with PR_SET_PDEATHSIG so they die if the test process itself crashes.
 *  - Functions that "fail the test" call cmocka's fail_msg; the others return an error.
 */
#ifndef LY_TESTLIB_H
#define LY_TESTLIB_H
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "service/service.h"

/* Exit code that ctest reports as "skipped". */
#define TL_SKIP 77

/* ---------------------------------------------------------------------------------------
 * Environment and files
 * ------------------------------------------------------------------------------------- */

/* $LOYAL_BIN, the loyal binary. Exits the process with TL_SKIP if it is not set. */
const char *tl_loyal_bin(void);

/* $LOYAL_SOURCE_DIR joined with rel ("docs/api.md"); malloc'd. Exits with TL_SKIP if the
 * variable is not set. */
char *tl_source_path(const char *rel);

/* Makes a new directory "loyal-PREFIX-XXXXXX" under $TMPDIR (or /tmp); returns its malloc'd
 * path (fails the test if it cannot). It is removed at exit unless tl_rmtree removed it
 * before. */
char *tl_tempdir(const char *prefix);

/* Removes path recursively (files, directories, no symlink following). Returns 0 or -1. */
int tl_rmtree(const char *path);

/* dir + "/" + name, malloc'd. */
char *tl_join(const char *dir, const char *name);

/* Writes len bytes (strlen(data) when len is (size_t)-1) to path, replacing it. 0 or -1. */
int tl_write_file(const char *path, const char *data, size_t len);

/* The whole content of path, malloc'd and NUL-terminated; *len (may be NULL) gets its
 * length. NULL if it cannot be read. */
char *tl_read_file(const char *path, size_t *len);

/* printf into a malloc'd string. */
char *tl_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---------------------------------------------------------------------------------------
 * Running `loyal SUBCOMMAND ...`
 * ------------------------------------------------------------------------------------- */

typedef struct tl_run {
    int code;  /* exit code; 128 + signal number if it was killed; -1 if it could not run */
    char *out; /* standard output, NUL-terminated (malloc'd, never NULL after tl_loyal) */
    char *err; /* standard error */
} tl_run;

/* Runs $LOYAL_BIN with the NULL-terminated arguments (fork/exec, no shell), with the
 * environment of this process plus env_add (a NULL-terminated array of "NAME=VALUE", may be
 * NULL), and captures its exit code and both outputs. Returns r->code. */
int tl_loyal(tl_run *r, const char *const *env_add, const char *arg, ...);
void tl_run_free(tl_run *r);

/* ---------------------------------------------------------------------------------------
 * A test installation: a directory with a database, a program file and two API keys
 * ------------------------------------------------------------------------------------- */

typedef struct tl_world {
    char *dir;          /* temporary directory */
    char *db;           /* dir/loyal.db */
    char *program;      /* dir/program.json */
    char pos_key[64];   /* a pos API key */
    char admin_key[64]; /* an admin API key */
} tl_world;

/* Makes a temporary directory, copies the program file (program_src relative to
 * $LOYAL_SOURCE_DIR, e.g. "examples/program.json"), runs `loyal init --no-keys` and creates
 * one pos and one admin key with `loyal keys create`. Fails the test on any error. */
void tl_world_make(tl_world *w, const char *prefix, const char *program_src);

/* Creates one more key of the role ("pos" or "admin") with `loyal keys create` into out
 * (size bytes). Fails the test on any error. */
void tl_world_key(const tl_world *w, const char *role, char *out, size_t size);

/* `loyal check --db DB`: returns its exit code; prints its output when it is not 0. */
int tl_world_check(const tl_world *w);

/* Kills (SIGKILL) every server started by tl_server_start that is still running, removes
 * the directory, frees the strings. Safe on a zeroed or already freed world. */
void tl_world_free(tl_world *w);

/* ---------------------------------------------------------------------------------------
 * A `loyal serve` child process
 * ------------------------------------------------------------------------------------- */

typedef struct tl_server {
    pid_t pid;          /* 0 when not running */
    int port;
    char base[64];      /* "http://127.0.0.1:PORT" */
    char log[512];      /* path of the server's standard error, appended across restarts */
    int last_status;    /* exit code of the last stop/kill (128 + signal if killed) */
} tl_server;

/* --analyze-every of the servers tl_server_start starts: "0" (off) unless a test sets it. */
extern const char *tl_server_analyze_every;

/* Starts `loyal serve --db DB --program PROGRAM --listen 127.0.0.1:0 --maintain-every 0
 * --analyze-every tl_server_analyze_every`
 * with the extra environment env_add (NULL-terminated "NAME=VALUE", may be NULL; e.g.
 * "LOYAL_NOW=2026-11-24T09:00:00Z"). Its standard output and error go to log_path
 * (appended). Waits up to 20 s for the "listening on http://HOST:PORT" line and learns the
 * port. Fails the test (with the log's tail) if it does not come up. */
void tl_server_start(tl_server *s, const char *db, const char *program, const char *log_path,
                     const char *const *env_add);

/* The same on a world: the log is dir/serve.log. */
void tl_world_serve(tl_world *w, tl_server *s, const char *const *env_add);

/* SIGTERM, then waits (up to 30 s, then SIGKILL). Returns the exit code (128 + signal if it
 * was killed). No-op returning last_status if not running. */
int tl_server_stop(tl_server *s);

/* SIGKILL and wait (a crash). Returns 128 + 9. */
int tl_server_kill(tl_server *s);

/* The last max bytes of the server's log, malloc'd (for failure messages). */
char *tl_server_log_tail(const tl_server *s, size_t max);

/* ---------------------------------------------------------------------------------------
 * HTTP client (libcurl; one handle per thread, reused; thread-safe)
 * ------------------------------------------------------------------------------------- */

typedef struct tl_response {
    long status;     /* HTTP status; 0 when the request failed at the transport level */
    char *headers;   /* raw response headers of the final response (malloc'd) */
    char *body;      /* response body, NUL-terminated (malloc'd, may be "") */
    size_t body_len;
    char error[256]; /* curl's error when status is 0 */
} tl_response;

/* Sends METHOD base+path with the extra request headers (NULL-terminated "Name: value"
 * strings, may be NULL) and the body (NULL: none; body_len (size_t)-1 means strlen).
 * Fills *r (free it with tl_response_free) and returns r->status. */
long tl_http(tl_response *r, const char *base, const char *method, const char *path,
             const char *const *headers, const char *body, size_t body_len);

/* The usual API call: "Authorization: Bearer KEY" when key is not NULL, and a JSON body
 * (Content-Type: application/json) when body is not NULL. Returns r->status. */
long tl_call(tl_response *r, const tl_server *s, const char *method, const char *path,
             const char *key, const char *body);

/* The value of a response header (case-insensitive name), malloc'd, or NULL. */
char *tl_response_header(const tl_response *r, const char *name);

/* The body parsed as JSON (new reference), or NULL if it is not JSON. */
json_t *tl_response_json(const tl_response *r);

void tl_response_free(tl_response *r);

/* Frees this thread's curl handle (worker threads: called automatically when they exit). */
void tl_http_thread_done(void);

/* ---------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------- */

/* The string that, as an expected value, matches any actual value: "…" (U+2026). */
#define TL_ANY "\xe2\x80\xa6"

/* Compares actual with expected: equal types and values; objects must have exactly the
 * same keys; arrays the same length; an expected string "…" matches any value (the key must
 * still be present). Integers and reals are different types. Returns NULL when they match,
 * otherwise a malloc'd description of the first difference, naming its path
 * ("$.lines[2].points_earned: expected 12, got 13"). */
char *tl_json_diff(const json_t *expected, const json_t *actual);

/* Parses both texts and fails the test with the first difference (and both texts) unless
 * they match per tl_json_diff. what (may be NULL) prefixes the failure message. */
void tl_assert_json(const char *what, const char *expected, const char *actual);

/* The value at path in v ("balance.available", "lines[0].sku", "" for v itself), borrowed,
 * or NULL. */
json_t *tl_json_at(json_t *v, const char *path);

/* The integer at path, or fails the test (naming the path). */
long long tl_json_int(json_t *v, const char *path);

/* The string at path, or fails the test. Borrowed. */
const char *tl_json_str(json_t *v, const char *path);

/* Parses text or fails the test (showing the text). New reference. */
json_t *tl_json_parse(const char *text);

/* Compact, key-sorted text of v (malloc'd), for messages and comparisons. */
char *tl_json_text(const json_t *v);

/* ---------------------------------------------------------------------------------------
 * Error responses
 * ------------------------------------------------------------------------------------- */

/* Checks that r is an error of the given status, with Content-Type application/json and
 * the body {"error":{"code":code,"message":"...",["field":field]}} (nothing else): code must
 * match when not NULL, field must be present and equal when field is not NULL. Returns NULL
 * when it is, otherwise a malloc'd description of what is wrong. Thread-safe. */
char *tl_check_error(const tl_response *r, long status, const char *code, const char *field);

/* The same, failing the test (what, which may be NULL, names the request). */
void tl_assert_error(const char *what, const tl_response *r, long status, const char *code,
                     const char *field);

/* ---------------------------------------------------------------------------------------
 * An in-process service on a fresh database (no child process, no HTTP)
 * ------------------------------------------------------------------------------------- */

/* The RFC 3339 time s ("2026-11-01T09:00:00Z") as a ly_time; fails the test (naming s) if
 * it does not parse. */
ly_time tl_at(const char *s);

typedef struct tl_svc {
    char *dir;         /* temporary directory (tl_tempdir), removed by tl_svc_close */
    char *db;          /* dir/loyal.db */
    char *program;     /* dir/program.json */
    ly_service *svc;   /* the open service; NULL while closed */
    ly_arena arena;    /* the test's allocations; freed by tl_svc_close */
    ly_sync_mode sync; /* the sync mode tl_svc_reopen opens with */
} tl_svc;

/* Zeroes *f, makes a temporary directory "loyal-PREFIX-XXXXXX", writes program_text to
 * dir/program.json and opens the service on dir/loyal.db (a new database) with
 * LY_SYNC_NORMAL. Fails the test (with the error's field and message, and the program text)
 * if the program does not load or the store does not open. */
void tl_svc_open(tl_svc *f, const char *prefix, const char *program_text);

/* The same with another sync mode (LY_SYNC_FULL: fsync per write group). */
void tl_svc_open_sync(tl_svc *f, const char *prefix, const char *program_text, ly_sync_mode sync);

/* For cmocka setups: a malloc'd fixture opened by tl_svc_open (never NULL). Free it with
 * tl_svc_teardown. */
tl_svc *tl_svc_new(const char *prefix, const char *program_text);

/* A cmocka teardown: tl_svc_close on *state, then free(*state); returns 0. *state is a
 * fixture made by tl_svc_new, or a malloc'd struct of the test's own whose first member is
 * a tl_svc (C lets a pointer to a struct stand for its first member). */
int tl_svc_teardown(void **state);

/* Closes f->svc if it is open (without the ledger check of tl_svc_close), writes
 * program_text to f->program unless it is NULL, and opens the service again on the same
 * database with f->sync. Fails the test as tl_svc_open does. */
void tl_svc_reopen(tl_svc *f, const char *program_text);

/* `loyal check`'s verification on the open service's database (ly_db_check through the
 * store's reader): fails the test unless it runs and finds no balance that the ledger does
 * not explain. Returns the number of customers checked. */
int64_t tl_svc_check(tl_svc *f);

/* Ends a fixture: when the service is open, tl_svc_check and then ly_service_close; frees
 * the arena; removes the directory (fails the test if it cannot); frees the paths and zeroes
 * *f. Safe on a zeroed or already closed fixture. */
void tl_svc_close(tl_svc *f);

/* Creates a customer with the card identifier `card` at time now (RFC 3339), the request
 * hash being the card's; returns the customer's id. Fails the test (naming the card) on any
 * error. */
int64_t tl_svc_enrol(tl_svc *f, const char *card, const char *now);

/* A return of receipt_id as return ret_id at now (RFC 3339), the request hash being
 * ret_id's: of qty (thousandths) of line 0, or of the whole receipt when qty is 0. Fails the
 * test on any error. */
void tl_svc_return(tl_svc *f, const char *receipt_id, const char *ret_id, ly_qty qty, const char *now);

/* The customer's quests as the profile shows them at now (RFC 3339), in f->arena; fails the
 * test on any error. */
ly_quests_view tl_svc_quests(tl_svc *f, int64_t customer_id, const char *now);

/* The sum (available + pending) of the customer's bonus ledger entries whose reference
 * starts with prefix ("quest:", "streak:"), over the last 500 entries; fails the test if the
 * ledger cannot be read (an unknown customer included). */
ly_points tl_svc_bonus_with(tl_svc *f, int64_t customer_id, const char *prefix);

#endif
