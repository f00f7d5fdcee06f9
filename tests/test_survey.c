/*
 * test_survey.c - questionnaires (issue 6, engineer S): the program file's questionnaires
 * and touchpoints, the answers operation's validation (errors naming answers.<question>),
 * its idempotency, answers landing in the customer's attributes where a rule reads them, the
 * completion reward given once, and a receipt's touchpoint checked and stored.
 */
#include "testlib.h"

#include "os/os.h"
#include "program/program.h"
#include "program/survey.h"
#include "service/service.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM_HEAD                                                                               \
    "{\"name\":\"T\",\"version\":\"s1\",\"currency\":\"RUB\",\"minor_units\":2,"                   \
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"   \
    "\"earn\":{\"rate_percent\":\"5\"},"                                                           \
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":0,\"expiry_days\":365},"

static const char *programText =
    PROGRAM_HEAD
    "\"rules\":[{\"id\":\"sporty\",\"conditions\":{\"attributes\":[{\"name\":\"style\",\"equals\":\"sport\"}]},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":7}}],"
    "\"touchpoints\":[{\"id\":\"till\",\"stage\":\"deal\",\"channel\":\"store\"},"
    " {\"id\":\"app\",\"stage\":\"experience\",\"channel\":\"app\",\"name\":\"Mobile app\"}],"
    "\"questionnaires\":[{\"id\":\"visit\",\"touchpoint\":\"till\",\"reward_points\":25,\"questions\":["
    "  {\"id\":\"q1\",\"kind\":\"nps\",\"text\":\"Would you recommend us?\",\"required\":true},"
    "  {\"id\":\"q2\",\"kind\":\"csi\"},"
    "  {\"id\":\"q3\",\"kind\":\"single\",\"options\":[\"classic\",\"sport\"],\"attribute\":\"style\"},"
    "  {\"id\":\"q4\",\"kind\":\"multiple\",\"options\":[\"wool\",\"silk\",\"cotton\"],\"attribute\":\"material\"},"
    "  {\"id\":\"q5\",\"kind\":\"text\",\"max_length\":20},"
    "  {\"id\":\"q6\",\"kind\":\"scale\",\"min\":1,\"max\":10,\"attribute\":\"kids\"}]}]"
    "}";

typedef struct fixture {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    int64_t cust, other;
} fixture;

static int64_t enrol(fixture *f, const char *card)
{
    return tl_svc_enrol(&f->s, card, "2026-11-01T09:00:00Z");
}

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tl_svc_open(&f->s, "survey", programText);
    f->cust = enrol(f, "1001");
    f->other = enrol(f, "1002");
    *state = f;
    return 0;
}

static ly_err answer(fixture *f, const char *id, int64_t cust, const char *q, const char *tp,
                     const char *receipt, const char *answers, ly_answer_result *res, ly_error *err)
{
    ly_answer_request in = {.answer_id = id, .customer_id = cust, .questionnaire = q,
                            .touchpoint = tp, .receipt_id = receipt, .answers = answers};
    ly_error_clear(err);
    return ly_service_answers_submit(f->s.svc, &in, tl_at("2026-11-24T09:00:00Z"), &f->s.arena, res, err);
}

static void expectError(fixture *f, const char *answers, ly_err kind, const char *code,
                        const char *field)
{
    ly_answer_result res;
    ly_error err;
    ly_err rc = answer(f, "bad", f->cust, "visit", NULL, NULL, answers, &res, &err);
    if (rc != kind || strcmp(err.code, code) != 0 || strcmp(err.field, field) != 0)
        fail_msg("%s: got %d %s %s (%s), want %s %s", answers, rc, err.code, err.field,
                 err.message, code, field);
}

static void test_program_sections(void **state)
{
    fixture *f = *state;
    const ly_program *p = ly_service_program(f->s.svc);
    assert_non_null(p->survey);
    assert_int_equal(p->survey->n_touchpoints, 2);
    assert_int_equal(p->survey->touchpoints[1].stage, LY_TP_EXPERIENCE);
    const ly_questionnaire *q = ly_survey_questionnaire(p->survey, "visit");
    assert_non_null(q);
    assert_int_equal(q->n_questions, 6);
    assert_int_equal(ly_survey_question(q, "q2")->min, 1);
    assert_int_equal(ly_survey_question(q, "q2")->max, 5);
    assert_string_equal(q->touchpoint, "till");

    /* Errors name the path. */
    static const struct { const char *section, *field; } bad[] = {
        {"\"touchpoints\":[{\"id\":\"a\",\"stage\":\"shopping\",\"channel\":\"x\"}]", "touchpoints[0].stage"},
        {"\"touchpoints\":[{\"id\":\"a\",\"stage\":\"deal\"}]", "touchpoints[0].channel"},
        {"\"questionnaires\":[{\"id\":\"a\",\"touchpoint\":\"nowhere\",\"questions\":[{\"id\":\"x\",\"kind\":\"nps\"}]}]",
         "questionnaires[0].touchpoint"},
        {"\"questionnaires\":[{\"id\":\"a\",\"questions\":[{\"id\":\"x\",\"kind\":\"single\"}]}]",
         "questionnaires[0].questions[0].options"},
        {"\"questionnaires\":[{\"id\":\"a\",\"questions\":[{\"id\":\"x\",\"kind\":\"nps\",\"max\":5}]}]",
         "questionnaires[0].questions[0].max"},
        {"\"questionnaires\":[{\"id\":\"a\",\"questions\":[{\"id\":\"x\",\"kind\":\"csi\"},{\"id\":\"x\",\"kind\":\"nps\"}]}]",
         "questionnaires[0].questions[1]"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = tl_strdupf(PROGRAM_HEAD "%s}", bad[i].section);
        ly_program prog;
        ly_error err;
        ly_error_clear(&err);
        assert_int_equal(ly_program_parse(text, strlen(text), &prog, &err), LY_EINVAL);
        if (strcmp(err.field, bad[i].field) != 0)
            fail_msg("case %zu: field %s (%s), want %s", i, err.field, err.message, bad[i].field);
        free(text);
    }
}

static void test_validation(void **state)
{
    fixture *f = *state;
    expectError(f, "{\"q1\":11}", LY_EINVAL, "invalid_value", "answers.q1");
    expectError(f, "{\"q1\":7.5}", LY_EINVAL, "invalid_value", "answers.q1");
    expectError(f, "{\"q1\":\"9\"}", LY_EINVAL, "invalid_value", "answers.q1");
    expectError(f, "{\"q1\":9,\"q3\":\"punk\"}", LY_EINVAL, "invalid_value", "answers.q3");
    expectError(f, "{\"q1\":9,\"q4\":[\"wool\",\"wool\"]}", LY_EINVAL, "invalid_value", "answers.q4");
    expectError(f, "{\"q1\":9,\"q4\":[]}", LY_EINVAL, "invalid_value", "answers.q4");
    expectError(f, "{\"q1\":9,\"q5\":\"far too long for twenty bytes\"}", LY_EINVAL, "invalid_value",
                "answers.q5");
    expectError(f, "{\"q1\":9,\"q2\":0}", LY_EINVAL, "invalid_value", "answers.q2");
    expectError(f, "{\"q1\":9,\"q9\":1}", LY_EINVAL, "unknown_field", "answers.q9");
    expectError(f, "{\"q2\":4}", LY_EINVAL, "missing_field", "answers.q1");
    expectError(f, "{}", LY_EINVAL, "invalid_value", "answers");

    ly_answer_result res;
    ly_error err;
    assert_int_equal(answer(f, "x", f->cust, "nope", NULL, NULL, "{\"q1\":1}", &res, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "questionnaire_unknown");
    assert_int_equal(answer(f, "x", f->cust, "visit", "web", NULL, "{\"q1\":1}", &res, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "touchpoint_unknown");
    assert_int_equal(answer(f, "x", f->cust, "visit", NULL, "R404", "{\"q1\":1}", &res, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "receipt_not_found");
    assert_int_equal(answer(f, "x", 999, "visit", NULL, NULL, "{\"q1\":1}", &res, &err), LY_ENOTFOUND);
    /* Nothing of the failures was kept: the id is still free, the attributes untouched. */
    assert_int_equal(answer(f, "bad", f->cust, "visit", NULL, NULL, "{\"q1\":10}", &res, &err), LY_OK);
    assert_false(res.replayed);
}

static ly_points confirmAt(fixture *f, const char *id, const char *card, const char *tp, ly_err want,
                           const char *code)
{
    ly_line *l = ly_arena_alloc(&f->s.arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = "shoes", .qty = 1000, .price = 10000, .amount = 10000};
    ly_op op = {.kind = LY_OP_CONFIRM, .arena = &f->s.arena, .now = tl_at("2026-11-24T10:00:00Z")};
    op.in.confirm.receipt = (ly_receipt){.receipt_id = id, .store = "S1", .time = op.now,
                                         .total = 10000, .lines = l, .n_lines = 1};
    op.in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = card};
    op.in.confirm.touchpoint = tp;
    ly_os_hash(id, strlen(id), op.request_hash);
    ly_err rc = ly_service_run(f->s.svc, &op);
    if (rc != want) fail_msg("confirm %s: %d %s %s", id, rc, op.err.code, op.err.message);
    if (code) assert_string_equal(op.err.code, code);
    return rc == LY_OK ? op.out.confirm.pricing.bonus : -1;
}

static void test_attributes_reward_idempotency(void **state)
{
    fixture *f = *state;
    /* Before answering, the rule on attributes.style does not apply. */
    assert_int_equal(confirmAt(f, "R1", "1001", "till", LY_OK, NULL), 0);

    const char *ans = "{\"q1\":9,\"q2\":4,\"q3\":\"sport\",\"q4\":[\"silk\",\"wool\"],\"q6\":3}";
    ly_answer_result res;
    ly_error err;
    assert_int_equal(answer(f, "a1", f->cust, "visit", NULL, "R1", ans, &res, &err), LY_OK);
    assert_false(res.replayed);
    assert_int_equal(res.status, 201);
    assert_int_equal(res.points, 25);
    json_t *r = json_loads(res.response, 0, NULL);
    assert_non_null(r);
    assert_string_equal(tl_json_str(r, "touchpoint"), "till"); /* the questionnaire's own */
    assert_string_equal(tl_json_str(r, "attributes.style"), "sport");
    json_decref(r);
    const char *first = ly_arena_strdup(&f->s.arena, res.response);

    /* The profile has the attributes; multiple choice as {"option": true}. */
    ly_customer c;
    ly_who who = {.customer_id = f->cust};
    assert_int_equal(ly_service_customer_get(f->s.svc, &who, &f->s.arena, &c, &err), LY_OK);
    json_t *attrs = json_loads(c.attributes, 0, NULL);
    assert_string_equal(tl_json_str(attrs, "style"), "sport");
    assert_true(json_is_true(json_object_get(json_object_get(attrs, "material"), "silk")));
    assert_int_equal(tl_json_int(attrs, "kids"), 3);
    json_decref(attrs);

    /* The same request again: the same bytes, no second reward. Same id, other content: 409. */
    assert_int_equal(answer(f, "a1", f->cust, "visit", NULL, "R1", ans, &res, &err), LY_OK);
    assert_true(res.replayed);
    assert_string_equal(res.response, first);
    assert_int_equal(answer(f, "a1", f->cust, "visit", NULL, "R1", "{\"q1\":3}", &res, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "answer_conflict");

    /* A second completion under another id is recorded but not paid again. */
    assert_int_equal(answer(f, "a2", f->cust, "visit", "app", NULL, "{\"q1\":2}", &res, &err), LY_OK);
    assert_int_equal(res.points, 0);
    r = json_loads(res.response, 0, NULL);
    assert_true(json_is_true(json_object_get(r, "rewarded_before")));
    json_decref(r);
    /* Another customer is paid; and may not cite this customer's receipt. */
    assert_int_equal(answer(f, "b1", f->other, "visit", NULL, "R1", "{\"q1\":2}", &res, &err),
                     LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "receipt_other_customer");
    assert_int_equal(answer(f, "b1", f->other, "visit", NULL, NULL, "{\"q1\":2}", &res, &err), LY_OK);
    assert_int_equal(res.points, 25);

    /* The ledger holds exactly one questionnaire bonus for the customer. */
    ly_entry *e;
    size_t n;
    assert_int_equal(ly_service_ledger(f->s.svc, f->cust, 0, 100, &f->s.arena, &e, &n, &err), LY_OK);
    int bonuses = 0;
    for (size_t i = 0; i < n; i++)
        if (e[i].kind == LY_ENTRY_BONUS && e[i].ref && strncmp(e[i].ref, "questionnaire:visit:", 20) == 0)
            bonuses++;
    assert_int_equal(bonuses, 1);

    /* The rule reads the answer now. */
    assert_int_equal(confirmAt(f, "R2", "1001", NULL, LY_OK, NULL), 7);
    assert_int_equal(confirmAt(f, "R3", "1002", NULL, LY_OK, NULL), 0);
}

static void test_receipt_touchpoint(void **state)
{
    fixture *f = *state;
    confirmAt(f, "T1", "1001", "web", LY_EUNPROCESSABLE, "touchpoint_unknown");
    confirmAt(f, "T1", "1001", "app", LY_OK, NULL);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->s.db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT touchpoint FROM receipt_touchpoints WHERE receipt_id='T1'",
                                        -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "app");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_program_sections, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(test_validation, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(test_attributes_reward_idempotency, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(test_receipt_touchpoint, setUp, tl_svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
