/*
 * test_engage_triggers.c - trigger communications (docs/triggers.md): the program file's
 * "triggers" and "channels" sections, the engine's rules (consent per channel, frequency
 * caps per day and week, quiet hours, priority between triggers, R-level channel choice),
 * hold-out assignment (seeded, stable, recorded, no message), chains ended by a purchase,
 * idempotent re-runs, offers riding on messages, the statistics and the report.
 *
 * Each rule has a test that fails when the rule is taken out of the engine (checked while
 * developing: see the report of issue 5).
 */
#include "testlib.h"

#include "engage/engage.h"
#include "os/os.h"
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

/* A program head every test shares; tests add "channels", "triggers" (and more). */
static const char progHead[] =
    "{\"name\":\"Trigger test\",\"version\":\"t1\",\"currency\":\"RUB\",\"time_zone\":"
    "\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
    "\"points\":{\"value\":\"1.00\"}";

typedef struct fx {
    char *dir, *db, *prog_path;
    ly_store *s;
    ly_program p;
    ly_calendar cal;
} fx;

static ly_time at(const char *rfc3339)
{
    ly_time t;
    assert_true(ly_time_parse(rfc3339, &t, NULL));
    return t;
}

/* SQL the test writes straight into the database (customers, receipts), gathered and run
 * in one transaction by the next sqlExec or openStore. */
static char *pendingSql;
static size_t pendingLen;

static void pend(const char *sql)
{
    size_t n = strlen(sql);
    char *p = realloc(pendingSql, pendingLen + n + 1);
    assert_non_null(p);
    memcpy(p + pendingLen, sql, n + 1);
    pendingSql = p;
    pendingLen += n;
}

static void execNow(const char *db, const char *sql)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open(db, &c), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    char *msg = NULL;
    char *all = tl_strdupf("PRAGMA synchronous = OFF; BEGIN; %s; COMMIT;", sql);
    if (sqlite3_exec(c, all, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%.200s: %s", sql, msg);
    free(all);
    sqlite3_close(c);
}

static void flushSql(const fx *f)
{
    if (!pendingLen) return;
    execNow(f->db, pendingSql);
    free(pendingSql);
    pendingSql = NULL;
    pendingLen = 0;
}

static void sqlExec(const fx *f, const char *sql)
{
    flushSql(f);
    execNow(f->db, sql);
}

static int64_t scalar(const fx *f, const char *sql)
{
    flushSql(f);
    sqlite3 *c;
    assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(c));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

static char *text1(const fx *f, const char *sql)
{
    flushSql(f);
    sqlite3 *c;
    assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(c));
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(c);
    return v;
}

static void openStore(fx *f)
{
    flushSql(f);
    ly_error err;
    ly_store_options so = {.path = f->db, .sync = LY_SYNC_NORMAL};
    if (ly_store_open(&so, &f->s, &err) != LY_OK) fail_msg("store: %s", err.message);
}

static void closeStore(fx *f)
{
    ly_store_close(f->s);
    f->s = NULL;
}

/* A fresh database and the program progHead + body ("...}" closing it). */
static void fxMake(fx *f, const char *body)
{
    memset(f, 0, sizeof *f);
    free(pendingSql); /* left by a failed test */
    pendingSql = NULL;
    pendingLen = 0;
    f->dir = tl_tempdir("trig");
    f->db = tl_join(f->dir, "loyal.db");
    f->prog_path = tl_join(f->dir, "program.json");
    char *text = tl_strdupf("%s,%s", progHead, body);
    assert_int_equal(tl_write_file(f->prog_path, text, (size_t)-1), 0);
    free(text);
    ly_error err;
    if (ly_program_load(f->prog_path, &f->p, &err) != LY_OK)
        fail_msg("program: %s: %s", err.field, err.message);
    ly_calendar_fixed(&f->cal, 180); /* Moscow: UTC+3 all year */
    openStore(f);                     /* creates the schema */
}

static void fxFree(fx *f)
{
    closeStore(f);
    ly_program_free(&f->p);
    tl_rmtree(f->dir);
    free(f->dir);
    free(f->db);
    free(f->prog_path);
}

/* A customer with consents (-1, 0, 1 for sms, email, push) and optional phone and email. */
static void addCustomer(fx *f, int64_t id, int sms, int email, int push, bool phone, bool mail)
{
    char *sql = tl_strdupf(
        "INSERT INTO customers (id, name, consent_sms, consent_email, consent_push, created_at,"
        " updated_at) VALUES (%lld, 'Anna %lld', %d, %d, %d, 1, 1);",
        (long long)id, (long long)id, sms, email, push);
    pend(sql);
    free(sql);
    if (phone) {
        sql = tl_strdupf("INSERT INTO identifiers VALUES ('phone', '+7900%07lld', %lld, 1);",
                         (long long)id, (long long)id);
        pend(sql);
        free(sql);
    }
    if (mail) {
        sql = tl_strdupf("INSERT INTO identifiers VALUES ('email', 'c%lld@example.com', %lld, 1);",
                         (long long)id, (long long)id);
        pend(sql);
        free(sql);
    }
}

static void addReceipt(fx *f, int64_t customer, ly_time t, int64_t paid)
{
    static int seq;
    char *sql = tl_strdupf(
        "INSERT INTO receipts (receipt_id, customer_id, store, channel, time, utc_offset, n_lines,"
        " total, discount, paid, points_earned, points_redeemed, max_redeem, redeemed_expiry,"
        " request_hash, response, created_at) VALUES ('r%d-%lld', %lld, 'S1', 'store', %lld,"
        " 180, 1, %lld, 0, %lld, 0, 0, 0, 0, x'00', '{}', %lld);",
        ++seq, (long long)customer, (long long)customer, (long long)t, (long long)paid,
        (long long)paid, (long long)t);
    pend(sql);
    free(sql);
}

static ly_triggers_run_result run(fx *f, ly_time now)
{
    ly_triggers_run_options o = {.now = now};
    ly_triggers_run_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_triggers_run(f->s, &f->p, &f->cal, &o, &r, &err) != LY_OK)
        fail_msg("run: %s (%s)", err.message, err.code);
    return r;
}

static int64_t messagesOf(const fx *f, int64_t customer)
{
    char *sql = tl_strdupf("SELECT COUNT(*) FROM outbox WHERE customer_id = %lld", (long long)customer);
    int64_t n = scalar(f, sql);
    free(sql);
    return n;
}

/* ---------------------------------------------------------------------------------------
 * The program file
 * ------------------------------------------------------------------------------------- */

static void expectError(const char *body, const char *field, const char *code)
{
    char *text = tl_strdupf("%s,%s", progHead, body);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_program_parse(text, strlen(text), &p, &err);
    free(text);
    if (rc == LY_OK) {
        ly_program_free(&p);
        fail_msg("accepted, expected %s at %s", code, field);
    }
    if (strcmp(err.field, field) != 0 || strcmp(err.code, code) != 0)
        fail_msg("got %s at %s (%s), expected %s at %s", err.code, err.field, err.message, code, field);
}

static void test_program_sections(void **state)
{
    (void)state;
    const char *ok =
        "\"channels\":{\"sms\":{\"cost\":\"2.50\"},\"push\":{\"cost\":0,\"consent\":\"none\","
        "\"delivery\":\"app_push\"},\"call_list\":{\"cost\":\"30.00\"}},"
        "\"triggers\":{\"seed\":\"s1\",\"program_holdout_percent\":\"5\",\"caps\":{\"per_day\":1,"
        "\"per_week\":3},\"quiet_hours\":{\"from\":\"21:00\",\"to\":\"09:00\"},\"r1_max_cost\":\"1.00\","
        "\"list\":["
        "{\"id\":\"r1\",\"audience\":{\"r_levels\":[1]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"a\"}]},"
        "{\"id\":\"r3\",\"audience\":{\"rfm_cells\":[\"R3F1M1\"],\"days_since_last\":{\"from\":"
        "\"sleep_days - 20\",\"below\":\"churn_days\"}},\"channels\":{\"default\":[\"sms\"],\"R1\":[\"push\"]},"
        "\"steps\":[{\"text\":\"Hi {{name}}, {{ balance }} points\"},{\"wait_days\":7,\"while\":"
        "{\"deals\":{\"below\":\"loyalty_deals + 1\"}},\"text\":\"again\",\"channels\":[\"call_list\"]}]},"
        "{\"id\":\"r2\",\"audience\":{\"r_levels\":[2]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"b\"}]},"
        "{\"id\":\"explicit\",\"priority\":1,\"audience\":{\"birthday_within_days\":7},"
        "\"channels\":[\"push\"],\"steps\":[{\"text\":\"c\"}]}]}}";
    char *text = tl_strdupf("%s,%s", progHead, ok);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    if (ly_program_parse(text, strlen(text), &p, &err) != LY_OK)
        fail_msg("%s: %s", err.field, err.message);
    free(text);
    const ly_triggers_conf *tc = p.triggers;
    assert_non_null(tc);
    assert_int_equal(tc->n_triggers, 4);
    /* Explicit priority first, then the method's order R3, R2, R1. */
    assert_string_equal(tc->triggers[0].id, "explicit");
    assert_string_equal(tc->triggers[1].id, "r3");
    assert_string_equal(tc->triggers[2].id, "r2");
    assert_string_equal(tc->triggers[3].id, "r1");
    const ly_trigger_def *r3 = ly_triggers_find(tc, "r3");
    assert_int_equal(r3->holdout_bp, 1000); /* the default 10% */
    assert_int_equal(r3->attribution_days, 14);
    assert_int_equal(r3->audience.days_from.base, LY_TB_SLEEP);
    assert_int_equal(r3->audience.days_from.offset, -20);
    assert_int_equal(r3->audience.days_below.base, LY_TB_CHURN);
    assert_int_equal(r3->steps[1].cond->deals_below.base, LY_TB_LOYALTY);
    assert_int_equal(r3->steps[1].cond->deals_below.offset, 1);
    assert_int_equal(r3->steps[1].wait_days, 7);
    assert_int_equal(tc->channels[LY_TM_SMS].cost, 250);
    assert_int_equal(tc->channels[LY_TM_SMS].consent, LY_CH_SMS);
    assert_int_equal(tc->channels[LY_TM_PUSH].consent, -1);
    assert_string_equal(tc->channels[LY_TM_PUSH].delivery, "app_push");
    assert_int_equal(tc->program_holdout_bp, 500);
    assert_int_equal(tc->quiet_from, 21 * 60);
    assert_int_equal(tc->quiet_to, 9 * 60);
    assert_int_equal(tc->r1_max_cost, 100);
    ly_program_free(&p);

    expectError("\"triggers\":{\"list\":[],\"oops\":1}}", "triggers.oops", "unknown_field");
    expectError("\"channels\":{\"fax\":{}}}", "channels.fax", "unknown_field");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"r_levels\":[1]},\"channels\":[\"sms\"],\"steps\":[{\"text\":\"x\"}]}]}}",
                "triggers.list[0].channels[0]", "invalid_value");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"days_since_last\":{\"from\":\"sleep_days * 2\"}},\"channels\":[\"push\"],"
                "\"steps\":[{\"text\":\"x\"}]}]}}",
                "triggers.list[0].audience.days_since_last.from", "invalid_value");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"r_levels\":[1]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x {{nmae}}\"}]}]}}",
                "triggers.list[0].steps[0].text", "invalid_template");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"r_levels\":[1]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\",\"offer\":"
                "{\"type\":\"coupon\",\"campaign\":\"nope\"}}]}]}}",
                "triggers.list[0].steps[0].offer.campaign", "invalid_value");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"r_levels\":[1]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"},{\"text\":\"y\"}]}]}}",
                "triggers.list[0].steps[1].wait_days", "missing_field");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":{},"
                "\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}}",
                "triggers.list[0].audience", "invalid_value");
    expectError("\"channels\":{\"push\":{}},\"triggers\":{\"list\":[{\"id\":\"a\",\"audience\":"
                "{\"tier_change\":{}},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}}",
                "triggers.list[0].audience.tier_change", "invalid_value");
}

/* ---------------------------------------------------------------------------------------
 * Consent per channel
 * ------------------------------------------------------------------------------------- */

static void test_consent_per_channel(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"sms\":{\"cost\":\"2.50\"},\"email\":{\"cost\":\"0.10\"}},"
               "\"triggers\":{\"list\":[{\"id\":\"winback\",\"holdout_percent\":0,\"audience\":"
               "{\"days_since_last\":{\"from\":20}},\"channels\":[\"sms\",\"email\"],"
               "\"steps\":[{\"text\":\"We miss you, {{name}}\"}]}]}}");
    closeStore(&f);
    addCustomer(&f, 1, 1, -1, -1, true, false);  /* sms consent: sms */
    addCustomer(&f, 2, -1, -1, -1, true, true);  /* never asked: nothing */
    addCustomer(&f, 3, 0, 1, -1, true, true);    /* sms withdrawn, email given: email */
    addCustomer(&f, 4, -1, 1, -1, true, false);  /* email consent, no address: nothing */
    ly_time now = at("2026-11-10T09:00:00Z");
    for (int64_t c = 1; c <= 4; c++) addReceipt(&f, c, now - 30 * DAY, 10000);
    openStore(&f);
    ly_triggers_run_result r = run(&f, now);
    assert_int_equal(r.messages, 2);
    assert_int_equal(r.no_channel, 2);
    assert_int_equal(messagesOf(&f, 1), 1);
    assert_int_equal(messagesOf(&f, 2), 0);
    assert_int_equal(messagesOf(&f, 3), 1);
    assert_int_equal(messagesOf(&f, 4), 0);
    char *ch = text1(&f, "SELECT channel FROM outbox WHERE customer_id = 3");
    assert_string_equal(ch, "email");
    free(ch);
    char *pl = text1(&f, "SELECT payload FROM outbox WHERE customer_id = 1");
    assert_non_null(strstr(pl, "\"to\":\"+79000000001\""));
    assert_non_null(strstr(pl, "We miss you, Anna 1"));
    free(pl);
    /* A customer out of reach is not in the experiment: no step, no assignment. */
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE customer_id IN (2, 4)"), 0);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * Frequency caps and priority
 * ------------------------------------------------------------------------------------- */

static const char capsProgram[] =
    "\"channels\":{\"push\":{\"consent\":\"none\"}},"
    "\"triggers\":{\"caps\":{\"per_day\":1,\"per_week\":2},\"list\":["
    "{\"id\":\"a\",\"holdout_percent\":0,\"audience\":{\"days_since_last\":{\"from\":1}},"
    "\"channels\":[\"push\"],\"steps\":[{\"text\":\"a\"}]},"
    "{\"id\":\"b\",\"holdout_percent\":0,\"audience\":{\"days_since_last\":{\"from\":1}},"
    "\"channels\":[\"push\"],\"steps\":[{\"text\":\"b\"}]},"
    "{\"id\":\"c\",\"holdout_percent\":0,\"audience\":{\"days_since_last\":{\"from\":1}},"
    "\"channels\":[\"push\"],\"steps\":[{\"text\":\"c\"}]}]}}";

static void test_frequency_caps(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, capsProgram);
    closeStore(&f);
    addCustomer(&f, 1, -1, -1, -1, false, false);
    ly_time tue = at("2026-11-10T09:00:00Z"); /* Tuesday 12:00 in Moscow */
    addReceipt(&f, 1, tue - 40 * DAY, 5000);
    openStore(&f);
    ly_triggers_run_result r = run(&f, tue);
    assert_int_equal(r.messages, 1); /* per day: one of three */
    assert_int_equal(r.capped, 2);
    r = run(&f, tue + 3600);         /* later the same day: still capped */
    assert_int_equal(r.messages, 0);
    r = run(&f, tue + DAY);          /* Wednesday: the second of the week */
    assert_int_equal(r.messages, 1);
    r = run(&f, tue + 2 * DAY);      /* Thursday: the week's cap of two is reached */
    assert_int_equal(r.messages, 0);
    assert_int_equal(r.capped, 1);
    r = run(&f, tue + 6 * DAY);      /* next Monday: a new week */
    assert_int_equal(r.messages, 1);
    assert_int_equal(messagesOf(&f, 1), 3);
    fxFree(&f);
}

static void test_priority_between_triggers(void **state)
{
    (void)state;
    /* In file order "low" comes first; its priority is the later one. */
    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"triggers\":{\"caps\":{\"per_day\":1},\"list\":["
               "{\"id\":\"low\",\"priority\":50,\"holdout_percent\":0,\"audience\":{\"days_since_last\":"
               "{\"from\":1}},\"channels\":[\"push\"],\"steps\":[{\"text\":\"low\"}]},"
               "{\"id\":\"high\",\"priority\":10,\"holdout_percent\":0,\"audience\":{\"days_since_last\":"
               "{\"from\":1}},\"channels\":[\"push\"],\"steps\":[{\"text\":\"high\"}]}]}}");
    closeStore(&f);
    addCustomer(&f, 1, -1, -1, -1, false, false);
    ly_time now = at("2026-11-10T09:00:00Z");
    addReceipt(&f, 1, now - 40 * DAY, 5000);
    openStore(&f);
    ly_triggers_run_result r = run(&f, now);
    assert_int_equal(r.messages, 1);
    char *t = text1(&f, "SELECT trigger_id FROM outbox");
    assert_string_equal(t, "high");
    free(t);
    fxFree(&f);

    /* Without explicit priorities: R3 first, then R2, then R1 (by the cells targeted). */
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"triggers\":{\"caps\":{\"per_day\":1},\"list\":["
               "{\"id\":\"for-r1\",\"holdout_percent\":0,\"audience\":{\"rfm_cells\":[\"R1F1M1\",\"R3F1M1\"],"
               "\"r_levels\":[1]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"r1\"}]},"
               "{\"id\":\"for-r3\",\"holdout_percent\":0,\"audience\":{\"r_levels\":[3]},"
               "\"channels\":[\"push\"],\"steps\":[{\"text\":\"r3\"}]}]}}");
    closeStore(&f);
    addCustomer(&f, 1, -1, -1, -1, false, false);
    sqlExec(&f, "INSERT INTO analytics_runs (id, at, finished_at, as_of, customers) VALUES (1, 1, 1, '2026-11-10', 1);"
                "INSERT INTO customer_analytics (customer_id, run, rfm_cell, segment, status, loyalty, r_days,"
                " deals, revenue) VALUES (1, 1, 'R3F1M1', 'Promising', 'active', 'below', 3, 1, 100);");
    openStore(&f);
    r = run(&f, now);
    t = text1(&f, "SELECT trigger_id FROM outbox");
    assert_string_equal(t, "for-r3");
    free(t);
    fxFree(&f);
}

/* R1 customers only through cheap channels; channels per R level. */
static void test_channel_by_r_level(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\"},\"call_list\":{\"cost\":\"30.00\"}},"
               "\"triggers\":{\"r1_max_cost\":\"1.00\",\"list\":["
               "{\"id\":\"winback\",\"holdout_percent\":0,\"audience\":{\"r_levels\":[1,3]},"
               "\"channels\":[\"call_list\",\"push\"],\"steps\":[{\"text\":\"x\"}]}]}}");
    closeStore(&f);
    addCustomer(&f, 1, 1, -1, -1, true, false);
    addCustomer(&f, 2, 1, -1, -1, true, false);
    sqlExec(&f, "INSERT INTO analytics_runs (id, at, finished_at, as_of, customers) VALUES (1, 1, 1, '2026-11-10', 2);"
                "INSERT INTO customer_analytics (customer_id, run, rfm_cell, segment, status, loyalty, r_days,"
                " deals, revenue) VALUES (1, 1, 'R1F2M2', 'Lost', 'churned', 'below', 300, 2, 100),"
                " (2, 1, 'R3F2M2', 'Loyal', 'active', 'below', 3, 2, 100);");
    openStore(&f);
    run(&f, at("2026-11-10T09:00:00Z"));
    char *c1 = text1(&f, "SELECT channel FROM outbox WHERE customer_id = 1");
    char *c2 = text1(&f, "SELECT channel FROM outbox WHERE customer_id = 2");
    assert_string_equal(c1, "push");      /* R1: the call list costs too much */
    assert_string_equal(c2, "call_list"); /* R3: the first choice */
    free(c1);
    free(c2);
    fxFree(&f);
}

/* Close to the next tier: what the tiers say is missing, within the audience's bound. */
static void test_close_to_next_tier(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"tiers\":{\"period\":\"rolling\",\"window_days\":180,\"levels\":["
               "{\"id\":\"basic\",\"name\":\"Basic\"},{\"id\":\"silver\",\"name\":\"Silver\","
               "\"min_spend\":\"15000.00\"}]},"
               "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"triggers\":{\"list\":[{\"id\":\"nearly-silver\",\"holdout_percent\":0,"
               "\"audience\":{\"tiers\":[\"basic\"],\"close_to_next_tier\":{\"spend_within\":\"2000.00\"}},"
               "\"channels\":[\"push\"],\"steps\":[{\"text\":\"{{name}}, you are {{tier}}: nearly Silver\"}]}]}}");
    closeStore(&f);
    ly_time now = at("2026-11-10T09:00:00Z");
    int64_t spent[] = {1400000, 500000, 1600000};
    for (int64_t c = 1; c <= 3; c++) {
        addCustomer(&f, c, -1, -1, -1, false, false);
        addReceipt(&f, c, now - 30 * DAY, spent[c - 1]);
    }
    openStore(&f);
    ly_triggers_run_result r = run(&f, now);
    assert_int_equal(r.messages, 1);
    assert_int_equal(messagesOf(&f, 1), 1); /* 1,000.00 short */
    char *pl = text1(&f, "SELECT payload FROM outbox WHERE customer_id = 1");
    assert_non_null(strstr(pl, "Anna 1, you are Basic: nearly Silver"));
    free(pl);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * Quiet hours
 * ------------------------------------------------------------------------------------- */

static void test_quiet_hours(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"triggers\":{\"quiet_hours\":{\"from\":\"21:00\",\"to\":\"09:00\"},\"list\":["
               "{\"id\":\"q\",\"holdout_percent\":0,\"audience\":{\"days_since_last\":{\"from\":1}},"
               "\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}}");
    closeStore(&f);
    for (int64_t c = 1; c <= 3; c++) {
        addCustomer(&f, c, -1, -1, -1, false, false);
        addReceipt(&f, c, at("2026-10-01T09:00:00Z"), 5000);
    }
    /* 22:30 in Moscow: held to 09:00 the next morning. Only customer 1 is evaluated then:
     * the others are set aside (marked merged) for the moment. */
    ly_triggers_run_options o = {.now = at("2026-11-10T19:30:00Z")};
    ly_triggers_run_result r;
    ly_error err;
    sqlExec(&f, "UPDATE customers SET merged_into = 1 WHERE id IN (2, 3)");
    openStore(&f);
    assert_int_equal(ly_triggers_run(f.s, &f.p, &f.cal, &o, &r, &err), LY_OK);
    assert_int_equal(r.deferred, 1);
    assert_int_equal(scalar(&f, "SELECT next_at FROM outbox WHERE customer_id = 1"),
                     at("2026-11-11T06:00:00Z"));
    assert_int_equal(scalar(&f, "SELECT at FROM trigger_sends WHERE customer_id = 1"),
                     at("2026-11-11T06:00:00Z"));
    /* 07:00 in Moscow: held to 09:00 the same morning. */
    closeStore(&f);
    sqlExec(&f, "UPDATE customers SET merged_into = CASE id WHEN 2 THEN NULL ELSE merged_into END"
                " WHERE id IN (2, 3)");
    openStore(&f);
    o.now = at("2026-11-12T04:00:00Z");
    assert_int_equal(ly_triggers_run(f.s, &f.p, &f.cal, &o, &r, &err), LY_OK);
    assert_int_equal(scalar(&f, "SELECT next_at FROM outbox WHERE customer_id = 2"),
                     at("2026-11-12T06:00:00Z"));
    /* 12:00 in Moscow: due at once. */
    closeStore(&f);
    sqlExec(&f, "UPDATE customers SET merged_into = NULL WHERE id = 3");
    openStore(&f);
    o.now = at("2026-11-12T09:00:00Z");
    assert_int_equal(ly_triggers_run(f.s, &f.p, &f.cal, &o, &r, &err), LY_OK);
    assert_int_equal(r.deferred, 0);
    assert_int_equal(scalar(&f, "SELECT next_at FROM outbox WHERE customer_id = 3"), o.now);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * Hold-outs
 * ------------------------------------------------------------------------------------- */

static void test_holdout_assignment(void **state)
{
    (void)state;
    /* The bucket is a stable function of seed, trigger and customer. */
    char hex[17];
    int64_t b1 = ly_triggers_bucket("s", "t", 42, hex);
    assert_int_equal(b1, ly_triggers_bucket("s", "t", 42, NULL));
    assert_int_equal(strlen(hex), 16);
    int held = 0;
    for (int64_t c = 1; c <= 20000; c++) held += ly_triggers_bucket("s", "t", c, NULL) < 1000;
    assert_true(held > 1800 && held < 2200); /* 10% of 20,000 within 5 sd */

    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\",\"cost\":\"0.05\"}},"
               "\"triggers\":{\"seed\":\"hold\",\"program_holdout_percent\":\"10\",\"list\":["
               "{\"id\":\"h\",\"holdout_percent\":\"25\",\"audience\":{\"days_since_last\":{\"from\":1}},"
               "\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\",\"offer\":{\"type\":\"bonus\","
               "\"flag\":\"x2\",\"days\":7}}]}]}}");
    closeStore(&f);
    ly_time now = at("2026-11-10T09:00:00Z");
    for (int64_t c = 1; c <= 400; c++) {
        addCustomer(&f, c, -1, -1, -1, false, false);
        addReceipt(&f, c, now - 10 * DAY, 5000);
    }
    openStore(&f);
    ly_triggers_run_result r = run(&f, now);
    assert_int_equal(r.steps, 400);
    assert_int_equal(r.messages + r.held_out + r.program_held_out, 400);
    int64_t prog = scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE grp = 'program_holdout'");
    int64_t hold = scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE grp = 'holdout'");
    assert_true(prog >= 20 && prog <= 65);
    assert_true(hold >= 60 && hold <= 125);
    /* Held-out customers get no message and no offer; their would-be step is recorded. */
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM outbox o JOIN trigger_sends s ON"
                                " s.customer_id = o.customer_id WHERE s.grp != 'treated'"), 0);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM trigger_flags f JOIN trigger_sends s ON"
                                " s.customer_id = f.customer_id WHERE s.grp != 'treated'"), 0);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE grp != 'treated' AND"
                                " (message_id IS NOT NULL OR cost != 0)"), 0);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE grp = 'treated' AND"
                                " cost = 5 AND message_id IS NOT NULL"), r.messages);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM trigger_flags"), r.messages);
    /* Recorded, and exactly what the hash says. */
    for (int64_t c = 1; c <= 400; c += 37) {
        char *sql = tl_strdupf("SELECT grp = 'holdout' FROM trigger_assignments WHERE trigger_id = 'h'"
                               " AND customer_id = %lld", (long long)c);
        char *psql = tl_strdupf("SELECT COUNT(*) FROM trigger_assignments WHERE trigger_id = '*' AND"
                                " customer_id = %lld AND grp = 'holdout'", (long long)c);
        bool inProgram = scalar(&f, psql) == 1;
        assert_int_equal(inProgram, ly_triggers_bucket("hold", "*", c, NULL) < 1000);
        if (!inProgram) assert_int_equal(scalar(&f, sql), ly_triggers_bucket("hold", "h", c, NULL) < 2500);
        free(sql);
        free(psql);
    }
    /* Idempotent: running again (even later the same day) writes nothing new. */
    int64_t before = scalar(&f, "SELECT COUNT(*) FROM outbox");
    r = run(&f, now + 600);
    assert_int_equal(r.steps, 0);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM outbox"), before);
    /* The flag a treated customer got is a fact while it lasts. */
    int64_t treatedOne = scalar(&f, "SELECT MIN(customer_id) FROM trigger_sends WHERE grp = 'treated'");
    ly_db *db = ly_store_reader(f.s, NULL);
    ly_arena a = {0};
    const char **flags;
    size_t nf;
    assert_int_equal(ly_db_trigger_flags_active(db, treatedOne, now + DAY, &a, &flags, &nf, NULL), LY_OK);
    assert_int_equal(nf, 1);
    assert_string_equal(flags[0], "x2");
    assert_int_equal(ly_db_trigger_flags_active(db, treatedOne, now + 8 * DAY, &a, &flags, &nf, NULL), LY_OK);
    assert_int_equal(nf, 0);
    ly_arena_free(&a);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * Chains
 * ------------------------------------------------------------------------------------- */

static void test_chain_ends_on_purchase(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"coupons\":[{\"id\":\"wb\",\"codes\":{\"prefix\":\"WB-\"}}],"
               "\"rules\":[{\"id\":\"wb-rule\",\"conditions\":{\"facts\":[{\"name\":\"coupon\",\"equals\":\"wb\"}]},"
               "\"effect\":{\"type\":\"discount_fixed\",\"amount\":\"100.00\"}}],"
               "\"triggers\":{\"list\":[{\"id\":\"chain\",\"holdout_percent\":0,\"audience\":"
               "{\"days_since_last\":{\"from\":30,\"below\":90}},\"channels\":[\"push\"],\"steps\":["
               "{\"text\":\"one {{balance}}\"},"
               "{\"wait_days\":7,\"while\":{\"days_since_last\":{\"below\":60}},\"text\":\"two {{coupon}}\","
               "\"offer\":{\"type\":\"coupon\",\"campaign\":\"wb\",\"cost\":\"100.00\"}},"
               "{\"wait_days\":7,\"text\":\"three\"}]}]}}");
    closeStore(&f);
    ly_time now = at("2026-11-10T09:00:00Z");
    for (int64_t c = 1; c <= 3; c++) {
        addCustomer(&f, c, -1, -1, -1, false, false);
        addReceipt(&f, c, now - (c == 3 ? 55 : 35) * DAY, 5000);
    }
    openStore(&f);
    ly_triggers_run_result r = run(&f, now);
    assert_int_equal(r.messages, 3);
    assert_int_equal(r.entered, 3);
    /* Customer 1 buys on day 3. */
    closeStore(&f);
    addReceipt(&f, 1, now + 3 * DAY, 7000);
    openStore(&f);
    r = run(&f, now + 6 * DAY); /* not yet due */
    assert_int_equal(r.steps, 0);
    assert_int_equal(r.ended_purchase, 1);
    r = run(&f, now + 7 * DAY);
    /* 2 is still below 60 days (35 + 7): step 1 with a coupon; 3 (55 + 7) fails `while`. */
    assert_int_equal(r.messages, 1);
    assert_int_equal(r.ended_condition, 1);
    assert_int_equal(r.coupons, 1);
    assert_int_equal(messagesOf(&f, 1), 1);
    assert_int_equal(messagesOf(&f, 2), 2);
    assert_int_equal(messagesOf(&f, 3), 1);
    char *pl = text1(&f, "SELECT payload FROM outbox WHERE customer_id = 2 AND step = 1");
    assert_non_null(strstr(pl, "\"text\":\"two WB-"));
    assert_non_null(strstr(pl, "\"campaign\":\"wb\""));
    free(pl);
    assert_int_equal(scalar(&f, "SELECT COUNT(*) FROM coupon_codes WHERE campaign = 'wb'"), 1);
    assert_int_equal(scalar(&f, "SELECT end_reason = 'purchase' FROM trigger_chains WHERE customer_id = 1"), 1);
    assert_int_equal(scalar(&f, "SELECT end_reason = 'condition' FROM trigger_chains WHERE customer_id = 3"), 1);
    r = run(&f, now + 14 * DAY);
    assert_int_equal(r.messages, 1);
    assert_int_equal(messagesOf(&f, 2), 3);
    assert_int_equal(scalar(&f, "SELECT end_reason = 'done' FROM trigger_chains WHERE customer_id = 2"), 1);
    /* Re-entry waits reenter_days (90) from the entry. */
    r = run(&f, now + 30 * DAY);
    assert_int_equal(r.entered, 0);
    fxFree(&f);
}

/* A bonus offer turns on a fact the program's rules test, for its days only. */
static void test_bonus_offer_is_a_fact(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"rules\":[{\"id\":\"winback-bonus\",\"conditions\":{\"facts\":[{\"name\":"
               "\"trigger_offer.x2\",\"equals\":\"active\"}]},\"effect\":{\"type\":\"points_fixed\","
               "\"points\":77}}],"
               "\"channels\":{\"push\":{\"consent\":\"none\"}},"
               "\"triggers\":{\"list\":[{\"id\":\"wb\",\"holdout_percent\":0,\"audience\":"
               "{\"days_since_last\":{\"from\":30}},\"channels\":[\"push\"],\"steps\":[{\"text\":"
               "\"Double till {{bonus_until}}\",\"offer\":{\"type\":\"bonus\",\"flag\":\"x2\",\"days\":7}}]}]}}");
    closeStore(&f);
    ly_time now = at("2026-11-10T09:00:00Z");
    addCustomer(&f, 1, -1, -1, -1, false, false);
    addCustomer(&f, 2, -1, -1, -1, false, false);
    addReceipt(&f, 1, now - 40 * DAY, 5000); /* in the audience */
    addReceipt(&f, 2, now - 5 * DAY, 5000);  /* not */
    openStore(&f);
    run(&f, now);
    char *pl = text1(&f, "SELECT payload FROM outbox WHERE customer_id = 1");
    assert_non_null(strstr(pl, "Double till 2026-11-17"));
    free(pl);
    closeStore(&f);
    /* The service prices receipts with the fact; the clock is frozen at 2026-11-12T09:00Z
     * (main), inside the flag's seven days. */
    ly_service_options so = {.db_path = f.db, .program_path = f.prog_path, .sync = LY_SYNC_NORMAL};
    ly_service *svc;
    ly_error err;
    if (ly_service_open(&so, &svc, &err) != LY_OK) fail_msg("service: %s", err.message);
    for (int64_t c = 1; c <= 2; c++) {
        ly_arena a = {0};
        ly_line l = {.sku = "SKU", .qty = 1000, .price = 10000, .amount = 10000};
        ly_checkout in = {.receipt = {.receipt_id = "calc", .store = "S1", .time = ly_os_now(),
                                      .utc_offset_min = 180, .total = 10000, .lines = &l, .n_lines = 1},
                          .who = {.customer_id = c}};
        ly_checkout_result res;
        if (ly_service_calculate(svc, &in, ly_os_now(), &a, &res, &err) != LY_OK)
            fail_msg("calculate: %s", err.message);
        bool applied = false;
        for (size_t i = 0; i < res.pricing.n_rules; i++)
            if (!strcmp(res.pricing.rules[i].rule->id, "winback-bonus")) applied = res.pricing.rules[i].applied;
        assert_int_equal(applied, c == 1);
        ly_arena_free(&a);
    }
    ly_service_close(svc);
    openStore(&f);
    fxFree(&f);
}

/* ---------------------------------------------------------------------------------------
 * Statistics and the report
 * ------------------------------------------------------------------------------------- */

static void test_statistics(void **state)
{
    (void)state;
    /* Newcombe (1998), Statistics in Medicine 17, table II, example (a): 56/70 - 48/80 =
     * 0.2000, method 10: 0.0524 to 0.3339. */
    ly_estimate e = ly_stats_newcombe(56, 70, 48, 80);
    assert_true(e.valid);
    assert_true(fabs(e.est - 0.2) < 1e-9);
    assert_true(fabs(e.lo - 0.0524) < 5e-4);
    assert_true(fabs(e.hi - 0.3339) < 5e-4);
    /* Example (e) there: 10/10 - 0/10 = 1, interval 0.6075 to 1.0000. */
    e = ly_stats_newcombe(10, 10, 0, 10);
    assert_true(fabs(e.lo - 0.6075) < 5e-4);
    assert_true(fabs(e.hi - 1.0) < 5e-4);
    assert_false(ly_stats_newcombe(1, 0, 1, 2).valid);
    /* Student t quantiles. */
    assert_true(fabs(ly_stats_t975(10) - 2.2281) < 1e-3);
    assert_true(fabs(ly_stats_t975(30) - 2.0423) < 1e-3);
    assert_true(fabs(ly_stats_t975(120) - 1.9799) < 1e-3);
    assert_true(fabs(ly_stats_t975(1e9) - 1.96) < 1e-3);
    /* Welch on {1,2,3,4} vs {2,4,6,8,10}: diff -3.5, se = sqrt(1.6667/4 + 10/5) = 1.5546,
     * df = 5.45, t = 2.51 (interpolated 5-6: 2.5706 - 0.45*0.1237 = 2.5149). */
    e = ly_stats_welch(4, 10, 30, 5, 30, 220);
    assert_true(e.valid);
    assert_true(fabs(e.est + 3.5) < 1e-9);
    double se = sqrt((5.0 / 3.0) / 4.0 + 10.0 / 5.0);
    double half = e.hi - e.est;
    assert_true(half / se > 2.45 && half / se < 2.58);
    assert_false(ly_stats_welch(1, 1, 1, 5, 1, 1).valid);
}

static void test_report(void **state)
{
    (void)state;
    fx f;
    fxMake(&f, "\"channels\":{\"push\":{\"consent\":\"none\",\"cost\":\"1.00\"}},"
               "\"triggers\":{\"seed\":\"rep\",\"margin_percent\":\"30\",\"list\":["
               "{\"id\":\"r\",\"holdout_percent\":\"50\",\"attribution_days\":10,\"audience\":"
               "{\"days_since_last\":{\"from\":1}},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\","
               "\"offer\":{\"type\":\"bonus\",\"flag\":\"b\",\"cost\":\"2.00\"}}]}]}}");
    closeStore(&f);
    ly_time now = at("2026-11-10T09:00:00Z");
    for (int64_t c = 1; c <= 200; c++) {
        addCustomer(&f, c, -1, -1, -1, false, false);
        addReceipt(&f, c, now - 20 * DAY, 5000);
    }
    openStore(&f);
    run(&f, now);
    closeStore(&f);
    /* Every treated customer buys 100.00 within the window; every held-out one buys after
     * it (not a conversion). */
    for (int64_t c = 1; c <= 200; c++) {
        char *sql = tl_strdupf("SELECT grp = 'treated' FROM trigger_sends WHERE customer_id = %lld", (long long)c);
        bool treated = scalar(&f, sql) == 1;
        free(sql);
        addReceipt(&f, c, now + (treated ? 2 : 11) * DAY, 10000);
    }
    openStore(&f);
    int64_t nt = scalar(&f, "SELECT COUNT(*) FROM trigger_sends WHERE grp = 'treated'");
    ly_arena a = {0};
    ly_triggers_report rep;
    ly_error err;
    assert_int_equal(ly_triggers_report_build(f.s, &f.p, now - DAY, now + DAY, &a, &rep, &err), LY_OK);
    assert_int_equal(rep.n_rows, 1);
    const ly_trigger_figures *x = &rep.rows[0];
    assert_int_equal(x->treated, nt);
    assert_int_equal(x->held_out, 200 - nt);
    assert_int_equal(x->treated_conv, nt);
    assert_int_equal(x->held_out_conv, 0);
    assert_int_equal(x->treated_revenue, nt * 10000);
    assert_true(x->proven);
    assert_true(fabs(x->uplift.est - 1.0) < 1e-9);
    assert_true(fabs(x->incremental_revenue - (double)nt * 10000) < 1e-6);
    assert_true(fabs(x->incremental_margin - (double)nt * 3000) < 1e-6);
    assert_int_equal(x->message_cost, nt * 100);
    assert_int_equal(x->reward_cost, nt * 200);
    assert_true(fabs(x->roi - ((double)nt * 3000 - (double)nt * 300) / ((double)nt * 300)) < 1e-9);
    json_t *j = ly_triggers_report_json(&rep, &f.p);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "format")), "loyal-triggers-report/1");
    json_t *row = json_array_get(json_object_get(j, "steps"), 0);
    assert_true(json_is_true(json_object_get(row, "proven")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(row, "treated"), "converted")), nt);
    json_decref(j);
    ly_arena_free(&a);
    fxFree(&f);
}

int main(void)
{
    /* The service's clock (the bonus-fact test); the engine takes its instant as given. */
    setenv("LOYAL_NOW", "2026-11-12T09:00:00Z", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_sections),
        cmocka_unit_test(test_consent_per_channel),
        cmocka_unit_test(test_frequency_caps),
        cmocka_unit_test(test_priority_between_triggers),
        cmocka_unit_test(test_channel_by_r_level),
        cmocka_unit_test(test_close_to_next_tier),
        cmocka_unit_test(test_quiet_hours),
        cmocka_unit_test(test_holdout_assignment),
        cmocka_unit_test(test_chain_ends_on_purchase),
        cmocka_unit_test(test_bonus_offer_is_a_fact),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
