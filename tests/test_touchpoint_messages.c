/*
 * test_touchpoint_messages.c - the touchpoint trigger messages go out through (issue 6,
 * engineer T; docs/touchpoints.md "Messages' touchpoints", docs/triggers.md): the program
 * file's "touchpoint" on a channel and on a step (an unknown id is an error naming the
 * field), the touchpoint recorded on the outbox message and on every step reached (held-out
 * ones too) by a trigger run, shown by the delivery envelope and `loyal outbox list`, rows
 * without one (as before the migration) read as none, and the touchpoints report's message counts and conversion after a
 * message on a small hand-made data set.
 */
#include "testlib.h"

#include "engage/engage.h"
#include "program/program.h"
#include "program/triggers.h"
#include "service/service.h"
#include "store/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400

static const char progHead[] =
    "{\"name\":\"TP messages\",\"version\":\"tpm1\",\"currency\":\"RUB\",\"minor_units\":2,"
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\"},"
    "\"earn\":{\"rate_percent\":\"5\"},\"points\":{\"value\":\"1.00\"},"
    "\"touchpoints\":[{\"id\":\"sms-tp\",\"stage\":\"trigger_communication\",\"channel\":\"sms\"},"
    " {\"id\":\"mail-tp\",\"stage\":\"trigger_communication\",\"channel\":\"email\"},"
    " {\"id\":\"till\",\"stage\":\"deal\",\"channel\":\"store\"}]";

static ly_time at(const char *rfc3339)
{
    ly_time t;
    assert_true(ly_time_parse(rfc3339, &t, NULL));
    return t;
}

static void execSql(const char *db, const char *sql)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    char *msg = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%.300s: %s", sql, msg);
    sqlite3_close(c);
}

static int64_t scalar(const char *db, const char *sql)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(c));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

/* ---------------------------------------------------------------------------------------
 * The program file
 * ------------------------------------------------------------------------------------- */

static void expectError(const char *body, const char *field)
{
    char *text = tl_strdupf("%s,%s", progHead, body);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_program_parse(text, strlen(text), &p, &err);
    free(text);
    if (rc == LY_OK) {
        ly_program_free(&p);
        fail_msg("accepted, expected an error at %s", field);
    }
    if (strcmp(err.field, field) != 0 || strcmp(err.code, "invalid_value") != 0)
        fail_msg("got %s at %s (%s), expected invalid_value at %s", err.code, err.field,
                 err.message, field);
}

static void test_program_touchpoints(void **state)
{
    (void)state;
    const char *ok =
        "\"channels\":{\"sms\":{\"touchpoint\":\"sms-tp\"},\"email\":{}},"
        "\"triggers\":{\"list\":[{\"id\":\"w\",\"audience\":{\"r_levels\":[3]},"
        "\"channels\":[\"sms\",\"email\"],\"steps\":[{\"text\":\"a\"},"
        "{\"wait_days\":7,\"text\":\"b\",\"touchpoint\":\"mail-tp\"}]}]}}";
    char *text = tl_strdupf("%s,%s", progHead, ok);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    if (ly_program_parse(text, strlen(text), &p, &err) != LY_OK)
        fail_msg("%s: %s", err.field, err.message);
    free(text);
    const ly_triggers_conf *tc = p.triggers;
    const ly_trigger_def *w = ly_triggers_find(tc, "w");
    assert_non_null(w);
    assert_string_equal(tc->channels[LY_TM_SMS].touchpoint, "sms-tp");
    assert_null(tc->channels[LY_TM_EMAIL].touchpoint);
    assert_null(w->steps[0].touchpoint);
    assert_string_equal(w->steps[1].touchpoint, "mail-tp");
    /* The step's wins; without one, the channel's; without either, none. */
    assert_string_equal(ly_trig_touchpoint(&w->steps[0], &tc->channels[LY_TM_SMS]), "sms-tp");
    assert_null(ly_trig_touchpoint(&w->steps[0], &tc->channels[LY_TM_EMAIL]));
    assert_string_equal(ly_trig_touchpoint(&w->steps[1], &tc->channels[LY_TM_SMS]), "mail-tp");
    ly_program_free(&p);

    expectError("\"channels\":{\"sms\":{\"touchpoint\":\"nowhere\"}}}", "channels.sms.touchpoint");
    expectError("\"channels\":{\"sms\":{\"touchpoint\":\"\"}}}", "channels.sms.touchpoint");
    expectError("\"channels\":{\"sms\":{}},\"triggers\":{\"list\":[{\"id\":\"w\",\"audience\":"
                "{\"r_levels\":[3]},\"channels\":[\"sms\"],\"steps\":[{\"text\":\"a\","
                "\"touchpoint\":\"sms\"}]}]}}",
                "triggers.list[0].steps[0].touchpoint");
    expectError("\"channels\":{\"sms\":{}},\"triggers\":{\"list\":[{\"id\":\"w\",\"audience\":"
                "{\"r_levels\":[3]},\"channels\":[\"sms\"],\"steps\":[{\"text\":\"a\"},"
                "{\"wait_days\":1,\"text\":\"b\",\"touchpoint\":7}]}]}}",
                "triggers.list[0].steps[1].touchpoint");
    /* A program without "touchpoints" has none to name. */
    const char *bare =
        "{\"name\":\"x\",\"version\":\"1\",\"currency\":\"RUB\",\"time_zone\":\"Europe/Moscow\","
        "\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
        "\"points\":{\"value\":\"1.00\"},\"channels\":{\"sms\":{\"touchpoint\":\"sms-tp\"}}}";
    ly_error_clear(&err);
    assert_int_not_equal(ly_program_parse(bare, strlen(bare), &p, &err), LY_OK);
    assert_string_equal(err.field, "channels.sms.touchpoint");
}

/* ---------------------------------------------------------------------------------------
 * A trigger run records the touchpoint
 * ------------------------------------------------------------------------------------- */

typedef struct fx {
    char *dir, *db, *prog;
    ly_service *svc;
} fx;

static void fxOpen(fx *f)
{
    ly_service_options so = {.db_path = f->db, .program_path = f->prog, .sync = LY_SYNC_NORMAL};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_open(&so, &f->svc, &err) != LY_OK) fail_msg("open: %s", err.message);
}

static void fxClose(fx *f)
{
    ly_service_close(f->svc);
    f->svc = NULL;
}

static void fxMake(fx *f, const char *body)
{
    memset(f, 0, sizeof *f);
    f->dir = tl_tempdir("tpmsg");
    f->db = tl_join(f->dir, "loyal.db");
    f->prog = tl_join(f->dir, "program.json");
    char *text = tl_strdupf("%s,%s", progHead, body);
    assert_int_equal(tl_write_file(f->prog, text, (size_t)-1), 0);
    free(text);
    fxOpen(f); /* creates the schema */
    fxClose(f);
}

static void fxFree(fx *f)
{
    fxClose(f);
    tl_rmtree(f->dir);
    free(f->dir);
    free(f->db);
    free(f->prog);
}

/* SQL for customer id with sms consent and a phone, and a receipt of theirs at t. */
static char *customerSql(int64_t id)
{
    return tl_strdupf(
        "INSERT INTO customers (id, name, consent_sms, consent_email, consent_push, created_at,"
        " updated_at) VALUES (%lld, 'C%lld', 1, -1, -1, 1, 1);"
        "INSERT INTO identifiers VALUES ('phone', '+7900%07lld', %lld, 1);",
        (long long)id, (long long)id, (long long)id, (long long)id);
}

static char *receiptSql(const char *rid, int64_t customer, ly_time t)
{
    return tl_strdupf(
        "INSERT INTO receipts (receipt_id, customer_id, store, channel, time, utc_offset, n_lines,"
        " total, discount, paid, points_earned, points_redeemed, max_redeem, redeemed_expiry,"
        " request_hash, response, created_at) VALUES ('%s', %lld, 'S1', 'store', %lld,"
        " 180, 1, 10000, 0, 10000, 0, 0, 0, 0, x'00', '{}', %lld);",
        rid, (long long)customer, (long long)t, (long long)t);
}

static void run(fx *f, ly_time now)
{
    ly_triggers_run_options o = {.now = now};
    ly_triggers_run_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_triggers_run(ly_service_store(f->svc), ly_service_program(f->svc),
                        ly_service_calendar(f->svc), &o, &r, &err) != LY_OK)
        fail_msg("run: %s (%s)", err.message, err.code);
}

#define N_RUN 20

static void test_trigger_run_records_touchpoint(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"sms\":{\"cost\":\"1.00\",\"touchpoint\":\"sms-tp\"}},"
               "\"triggers\":{\"seed\":\"tp\",\"list\":[{\"id\":\"winback\",\"holdout_percent\":50,"
               "\"audience\":{\"days_since_last\":{\"from\":20}},\"channels\":[\"sms\"],"
               "\"steps\":[{\"text\":\"We miss you\"},"
               "{\"wait_days\":7,\"text\":\"Still here\",\"touchpoint\":\"mail-tp\"}]}]}}");
    ly_time now = at("2026-11-10T09:00:00Z");
    for (int64_t c = 1; c <= N_RUN; c++) {
        char *a = customerSql(c), rid[32];
        snprintf(rid, sizeof rid, "r-%lld", (long long)c);
        char *b = receiptSql(rid, c, now - 30 * DAY);
        char *sql = tl_strdupf("BEGIN;%s%sCOMMIT;", a, b);
        execSql(f.db, sql);
        free(sql);
        free(a);
        free(b);
    }
    fxOpen(&f);
    run(&f, now);           /* step 0: the channel's touchpoint */
    run(&f, now + 8 * DAY); /* step 1: the step's own */
    fxClose(&f);

    int64_t treated = scalar(f.db, "SELECT COUNT(*) FROM trigger_sends WHERE step = 0 AND grp = 'treated'");
    int64_t held = scalar(f.db, "SELECT COUNT(*) FROM trigger_sends WHERE step = 0 AND grp <> 'treated'");
    assert_int_equal(treated + held, N_RUN);
    assert_true(treated > 0 && held > 0); /* seed "tp": both groups drawn */
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM outbox WHERE step = 0 AND touchpoint = 'sms-tp'"),
                     treated);
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM outbox WHERE step = 1 AND touchpoint = 'mail-tp'"),
                     treated);
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM outbox"), 2 * treated);
    /* Every step reached, held out or not, records the touchpoint it (would have) used. */
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM trigger_sends WHERE step = 0 AND touchpoint = 'sms-tp'"),
                     N_RUN);
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM trigger_sends WHERE step = 1 AND touchpoint = 'mail-tp'"),
                     N_RUN);

    /* The store reads it back; the delivery envelope carries it. */
    fxOpen(&f);
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f.svc), &err);
    assert_non_null(db);
    ly_arena a = {0};
    ly_message *msgs;
    size_t n;
    assert_int_equal(ly_db_outbox_list(db, LY_MSG_STATE_COUNT, 0, 1000, &a, &msgs, &n, &err), LY_OK);
    assert_int_equal((int64_t)n, 2 * treated);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(msgs[i].touchpoint);
        assert_string_equal(msgs[i].touchpoint, msgs[i].step == 0 ? "sms-tp" : "mail-tp");
    }
    char *env = ly_delivery_envelope(&msgs[0], now);
    assert_non_null(env);
    json_t *v = json_loads(env, 0, NULL);
    assert_non_null(v);
    assert_string_equal(tl_json_str(v, "touchpoint"), msgs[0].step == 0 ? "sms-tp" : "mail-tp");
    json_decref(v);
    free(env);
    /* A message without a touchpoint has none in its envelope. */
    ly_message bare = msgs[0];
    bare.touchpoint = NULL;
    env = ly_delivery_envelope(&bare, now);
    assert_non_null(env);
    assert_null(strstr(env, "touchpoint"));
    free(env);
    ly_arena_free(&a);
    fxClose(&f);

    /* `loyal outbox list`: the JSON lines and the table show it. */
    tl_run r;
    tl_loyal(&r, NULL, "outbox", "list", "--db", f.db, "--json", NULL);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    int lines = 0, sms = 0, mail = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        const char *tp = tl_json_str(o, "touchpoint");
        lines++;
        sms += strcmp(tp, "sms-tp") == 0;
        mail += strcmp(tp, "mail-tp") == 0;
        json_decref(o);
    }
    assert_int_equal(lines, 2 * treated);
    assert_int_equal(sms, treated);
    assert_int_equal(mail, treated);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "outbox", "list", "--db", f.db, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "TOUCHPOINT"));
    assert_non_null(strstr(r.out, "mail-tp"));
    tl_run_free(&r);
    fxFree(&f);
}

/* The column comes from a migration (ALTER TABLE, run by every new database too): a row
 * written without it, as every message before the migration was, reads and lists as none. */
static void test_migration(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"sms\":{}}}");
    assert_int_equal(scalar(f.db, "PRAGMA user_version"), ly_store_schema_version());
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM pragma_table_info('outbox')"
                                  " WHERE name = 'touchpoint'"), 1);
    assert_int_equal(scalar(f.db, "SELECT COUNT(*) FROM pragma_table_info('trigger_sends')"
                                  " WHERE name = 'touchpoint'"), 1);
    char *c = customerSql(1);
    char *sql = tl_strdupf(
        "%s INSERT INTO outbox(message_id, trigger_id, customer_id, step, channel, payload, state,"
        " attempts, next_at, created_at, updated_at) VALUES ('msg_old', 'w', 1, 0, 'sms', '{}',"
        " 'pending', 0, 5, 5, 5);",
        c);
    execSql(f.db, sql);
    free(sql);
    free(c);
    tl_run r;
    tl_loyal(&r, NULL, "outbox", "list", "--db", f.db, "--json", NULL);
    assert_int_equal(r.code, 0);
    json_t *o = json_loads(r.out, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o);
    assert_string_equal(tl_json_str(o, "id"), "msg_old");
    assert_true(json_is_null(json_object_get(o, "touchpoint")));
    json_decref(o);
    tl_run_free(&r);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * The touchpoints report on a hand-made outbox
 * ------------------------------------------------------------------------------------- */

static ly_time dayOf(int d)
{
    return at("2026-01-05T12:00:00Z") + (ly_time)d * DAY;
}

/* An outbox message written at day `written` in state, delivered at day `delivered`
 * (-1: not delivered). */
static char *msgSql(int seq, int64_t customer, const char *tp, const char *state, int written,
                    int delivered)
{
    char dl[32];
    if (delivered >= 0) snprintf(dl, sizeof dl, "%lld", (long long)dayOf(delivered));
    else snprintf(dl, sizeof dl, "NULL");
    return tl_strdupf(
        "INSERT INTO outbox(message_id, trigger_id, customer_id, step, channel, payload, state,"
        " attempts, next_at, created_at, updated_at, delivered_at, touchpoint) VALUES"
        " ('msg_%d', 'w', %lld, %d, 'sms', '{}', '%s', 1, %lld, %lld, %lld, %s, '%s');",
        seq, (long long)customer, seq, state, (long long)dayOf(written),
        (long long)dayOf(written), (long long)dayOf(written), dl, tp);
}

static const ly_tp_report_row *rowOf(const ly_tp_report *r, const char *id)
{
    for (size_t i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].id, id) == 0) return &r->rows[i];
    fail_msg("no row %s", id);
    return NULL;
}

static void test_report_counts_messages(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"sms\":{\"touchpoint\":\"sms-tp\"}}}");
    /* Window 30 days; the horizon (latest receipt) is day 100.
     *  c1: delivered day 10, receipt day 15           -> converted
     *  c2: delivered day 10, receipt day 50           -> not (outside the window)
     *  c3: delivered days 10 and 20, receipt day 45   -> not (counted from the first)
     *  c4: dead message, receipt day 12               -> no delivery: not in the rate
     *  c5: pending message                            -> written only
     *  c6: delivered day 90                           -> not observable yet
     *  c7: delivered day 10, receipts days 5 and 10   -> not (a deal after the message)
     *  c8: delivered day 10 at "till" (stage deal)    -> counted, no conversion there
     *  c9: no message, the receipt at day 100 (the horizon). */
    const struct { int64_t c; int day; } receipts[] = {
        {1, 15}, {2, 50}, {3, 45}, {4, 12}, {7, 5}, {7, 10}, {8, 11}, {9, 100}};
    char *parts[40];
    size_t np = 0;
    for (int64_t c = 1; c <= 9; c++) parts[np++] = customerSql(c);
    for (size_t i = 0; i < sizeof receipts / sizeof receipts[0]; i++) {
        char rid[32];
        snprintf(rid, sizeof rid, "r-%zu", i);
        parts[np++] = receiptSql(rid, receipts[i].c, dayOf(receipts[i].day));
    }
    parts[np++] = msgSql(1, 1, "sms-tp", "delivered", 10, 10);
    parts[np++] = msgSql(2, 2, "sms-tp", "delivered", 10, 10);
    parts[np++] = msgSql(3, 3, "sms-tp", "delivered", 10, 10);
    parts[np++] = msgSql(4, 3, "sms-tp", "delivered", 20, 20);
    parts[np++] = msgSql(5, 4, "sms-tp", "dead", 10, -1);
    parts[np++] = msgSql(6, 5, "sms-tp", "pending", 10, -1);
    parts[np++] = msgSql(7, 6, "sms-tp", "delivered", 90, 90);
    parts[np++] = msgSql(8, 7, "sms-tp", "delivered", 10, 10);
    parts[np++] = msgSql(9, 8, "till", "delivered", 10, 10);
    size_t len = 0;
    for (size_t i = 0; i < np; i++) len += strlen(parts[i]);
    char *sql = malloc(len + 16);
    assert_non_null(sql);
    strcpy(sql, "BEGIN;");
    for (size_t i = 0; i < np; i++) {
        strcat(sql, parts[i]);
        free(parts[i]);
    }
    strcat(sql, "COMMIT;");
    execSql(f.db, sql);
    free(sql);

    fxOpen(&f);
    ly_arena a = {0};
    ly_tp_report rep;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_touchpoints_report(f.svc, 30, 10, &a, &rep, &err), LY_OK);
    assert_int_equal(rep.n_rows, 3);
    const ly_tp_report_row *sms = rowOf(&rep, "sms-tp"), *mail = rowOf(&rep, "mail-tp"),
                           *till = rowOf(&rep, "till");
    assert_int_equal(sms->msg_written, 8);
    assert_int_equal(sms->msg_delivered, 6);
    assert_int_equal(sms->msg_dead, 1);
    assert_true(sms->msg_conv_applies);
    assert_int_equal(sms->msg_conv_n, 4); /* c1, c2, c3, c7 */
    assert_int_equal(sms->msg_conv_yes, 1); /* c1 */
    assert_int_equal(till->msg_written, 1);
    assert_int_equal(till->msg_delivered, 1);
    assert_false(till->msg_conv_applies);
    assert_int_equal(till->msg_conv_n, 0);
    assert_true(mail->msg_conv_applies);
    assert_int_equal(mail->msg_written, 0);
    assert_int_equal(mail->msg_conv_n, 0);
    /* The existing figures do not count messages. */
    assert_int_equal(sms->receipts + sms->answers + sms->events + sms->conv_n, 0);
    /* A longer window takes c2 (day 50 <= 10 + 40) and c3 (45 <= 10 + 40) in, and leaves
     * c1..c3 and c7 observable (10 + 40 <= 100); c6 (90) still is not. */
    assert_int_equal(ly_service_touchpoints_report(f.svc, 40, 10, &a, &rep, &err), LY_OK);
    sms = rowOf(&rep, "sms-tp");
    assert_int_equal(sms->msg_conv_n, 4);
    assert_int_equal(sms->msg_conv_yes, 3);
    ly_arena_free(&a);
    fxClose(&f);

    tl_run r;
    tl_loyal(&r, NULL, "touchpoints", "report", "--db", f.db, "--program", f.prog, "--json", NULL);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    json_t *arr = json_object_get(v, "touchpoints");
    assert_int_equal(json_array_size(arr), 3);
    json_t *o = json_array_get(arr, 0);
    assert_string_equal(tl_json_str(o, "touchpoint"), "sms-tp");
    assert_int_equal(tl_json_int(o, "messages.written"), 8);
    assert_int_equal(tl_json_int(o, "messages.delivered"), 6);
    assert_int_equal(tl_json_int(o, "messages.dead"), 1);
    assert_int_equal(tl_json_int(o, "messages.conversion.n"), 4);
    assert_int_equal(tl_json_int(o, "messages.conversion.converted"), 1);
    assert_true(fabs(json_real_value(tl_json_at(o, "messages.conversion.rate")) - 0.25) < 1e-9);
    o = json_array_get(arr, 2);
    assert_string_equal(tl_json_str(o, "touchpoint"), "till");
    assert_true(json_is_null(tl_json_at(o, "messages.conversion")));
    json_decref(v);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "touchpoints", "report", "--db", f.db, "--program", f.prog, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "mconv"));
    assert_non_null(strstr(r.out, "25%"));
    tl_run_free(&r);
    fxFree(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_touchpoints),
        cmocka_unit_test(test_trigger_run_records_touchpoint),
        cmocka_unit_test(test_migration),
        cmocka_unit_test(test_report_counts_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
