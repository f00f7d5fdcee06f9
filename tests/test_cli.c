/*
 * test_cli.c - the `loyal` command as a user types it: init, keys, check, expire, help and
 * exit codes.
 */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];

/* Runs a shell command line in the test's directory; returns its exit code and, when out is
 * not NULL, the first size-1 bytes of its standard output. */
static int sh(char *out, size_t size, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(cmd, sizeof cmd, "cd '%s' && ", dir);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t len = 0;
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (out && len + 1 < size) {
            size_t take = got < size - 1 - len ? got : size - 1 - len;
            memcpy(out + len, buf, take);
            len += take;
        }
    }
    if (out) out[len] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setUp(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/loyal-cli-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *bin(void)
{
    const char *b = getenv("LOYAL_BIN");
    assert_non_null(b);
    return b;
}

static void init_creates_the_database_a_program_and_two_keys(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(sh(out, sizeof out, "'%s' init", bin()), 0);
    assert_non_null(strstr(out, "admin API key: ly_"));
    assert_non_null(strstr(out, "pos   API key: ly_"));
    assert_int_equal(access("/dev/null", F_OK), 0);
    char path[400];
    snprintf(path, sizeof path, "%s/program.json", dir);
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/loyal.db", dir);
    assert_int_equal(access(path, R_OK), 0);
    /* Again: the existing program is kept, the schema is already current. */
    assert_int_equal(sh(out, sizeof out, "'%s' init --no-keys", bin()), 0);
    assert_null(strstr(out, "wrote the starter program"));
    assert_int_equal(sh(out, sizeof out, "'%s' keys list", bin()), 0);
    assert_non_null(strstr(out, "admin"));
    assert_non_null(strstr(out, "pos"));
}

static void keys_are_printed_once_and_can_be_revoked(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(sh(NULL, 0, "'%s' init --no-keys >/dev/null", bin()), 0);
    assert_int_equal(sh(out, sizeof out, "'%s' keys create --role pos --label till-7 2>/dev/null", bin()), 0);
    assert_int_equal(strncmp(out, "ly_", 3), 0);
    assert_int_equal(strlen(out), 44); /* "ly_" + 40 characters + newline */
    assert_int_equal(sh(out, sizeof out, "'%s' keys list", bin()), 0);
    assert_non_null(strstr(out, "till-7"));
    assert_non_null(strstr(out, "active"));
    assert_int_equal(sh(NULL, 0, "'%s' keys revoke 1 >/dev/null", bin()), 0);
    assert_int_equal(sh(out, sizeof out, "'%s' keys list", bin()), 0);
    assert_non_null(strstr(out, "revoked"));
    assert_int_equal(sh(NULL, 0, "'%s' keys revoke 99 2>/dev/null", bin()), 1);
    assert_int_equal(sh(NULL, 0, "'%s' keys create --role king 2>/dev/null", bin()), 2);
}

static void check_and_expire_on_a_fresh_database_are_clean(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(sh(NULL, 0, "'%s' init --no-keys >/dev/null", bin()), 0);
    assert_int_equal(sh(out, sizeof out, "'%s' check", bin()), 0);
    assert_non_null(strstr(out, "0 mismatches"));
    assert_int_equal(sh(out, sizeof out, "'%s' expire --now 2030-01-01T00:00:00Z", bin()), 0);
    assert_non_null(strstr(out, "expired 0 lots"));
    assert_int_equal(sh(NULL, 0, "'%s' expire --now yesterday 2>/dev/null", bin()), 2);
}

static void check_finds_a_balance_that_disagrees_with_the_ledger(void **state)
{
    (void)state;
    char out[4096];
    assert_int_equal(sh(NULL, 0, "'%s' init --no-keys >/dev/null", bin()), 0);
    /* Tamper with the stored balance behind Loyal's back. */
    assert_int_equal(sh(NULL, 0, "sqlite3 loyal.db \"INSERT INTO customers(attributes, enrolled_at, available, pending, debt, created_at, updated_at) VALUES('{}', 0, 5, 0, 0, 0, 0)\""), 0);
    assert_int_equal(sh(out, sizeof out, "'%s' check", bin()), 1);
    assert_non_null(strstr(out, "available is 5, derived 0"));
}

static void a_bad_program_file_is_refused_with_its_path(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "printf '{\"name\":\"x\"}' > program.json && '%s' init --no-keys 2>&1", bin());
    char out[4096];
    assert_int_equal(sh(out, sizeof out, "%s", cmd), 3);
    assert_non_null(strstr(out, "currency"));
}

static void help_and_usage_errors(void **state)
{
    (void)state;
    char out[8192];
    assert_int_equal(sh(out, sizeof out, "'%s' --help", bin()), 0);
    assert_non_null(strstr(out, "serve"));
    const char *cmds[] = {"init", "serve", "import", "check", "expire", "keys"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        assert_int_equal(sh(out, sizeof out, "'%s' %s --help", bin(), cmds[i]), 0);
        assert_non_null(strstr(out, "usage: loyal"));
    }
    assert_int_equal(sh(NULL, 0, "'%s' frobnicate 2>/dev/null", bin()), 2);
    assert_int_equal(sh(NULL, 0, "'%s' serve --bogus 2>/dev/null", bin()), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(init_creates_the_database_a_program_and_two_keys, setUp, tearDown),
        cmocka_unit_test_setup_teardown(keys_are_printed_once_and_can_be_revoked, setUp, tearDown),
        cmocka_unit_test_setup_teardown(check_and_expire_on_a_fresh_database_are_clean, setUp, tearDown),
        cmocka_unit_test_setup_teardown(check_finds_a_balance_that_disagrees_with_the_ledger, setUp, tearDown),
        cmocka_unit_test_setup_teardown(a_bad_program_file_is_refused_with_its_path, setUp, tearDown),
        cmocka_unit_test_setup_teardown(help_and_usage_errors, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
