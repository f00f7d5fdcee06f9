/*
 * test_answers_use.c - questionnaire answers used beyond the rules (issue 6, engineer P):
 * a trigger audience's and a step's `while` "attributes" tests (docs/triggers.md), the
 * program file's offers preferences boosting and excluding personal offers
 * (docs/offers.md "Preferences") through GET /v1/customers/{id}/offers and
 * `loyal offers show`, and the errors naming the program file's field.
 */
#include "testlib.h"

#include "engage/engage.h"
#include "program/offers.h"
#include "program/program.h"
#include "program/triggers.h"
#include "service/service.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEAD                                                                                       \
    "{\"name\":\"Answers use\",\"version\":\"answers-use-1\",\"currency\":\"RUB\","               \
    "\"minor_units\":2,\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\","        \
    "\"trunk_prefix\":\"8\"},\"earn\":{\"rate_percent\":\"5\"},\"points\":{\"value\":\"1.00\"},"  \
    "\"touchpoints\":[{\"id\":\"app\",\"stage\":\"experience\",\"channel\":\"app\"}],"

/* ---------------------------------------------------------------------------------------
 * The program file: errors name the field
 * ------------------------------------------------------------------------------------- */

static void expectError(const char *body, const char *field, const char *code)
{
    char *text = tl_strdupf("%s%s}", HEAD, body);
    ly_program p;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_program_parse(text, strlen(text), &p, &err);
    free(text);
    if (rc == LY_OK) {
        ly_program_free(&p);
        fail_msg("accepted, expected %s at %s: %s", code, field, body);
    }
    if (strcmp(err.field, field) != 0 || strcmp(err.code, code) != 0)
        fail_msg("got %s at %s (%s), expected %s at %s", err.code, err.field, err.message, code,
                 field);
}

#define TRIG_CHANNELS "\"channels\":{\"push\":{\"cost\":0,\"consent\":\"none\"}},"

static void test_program_errors(void **state)
{
    (void)state;
    /* Triggers: the rules' syntax, the rules' errors, at the trigger's path. */
    expectError(TRIG_CHANNELS "\"triggers\":{\"list\":[{\"id\":\"t\",\"audience\":{\"attributes\":"
                "[{\"name\":\"style\",\"equals\":5}]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}",
                "triggers.list[0].audience.attributes[0].equals", "invalid_type");
    expectError(TRIG_CHANNELS "\"triggers\":{\"list\":[{\"id\":\"t\",\"audience\":{\"attributes\":"
                "[{\"name\":\"style\",\"equal\":\"sport\"}]},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}",
                "triggers.list[0].audience.attributes[0].equal", "unknown_field");
    expectError(TRIG_CHANNELS "\"triggers\":{\"list\":[{\"id\":\"u\",\"audience\":"
                "{\"days_since_last\":{\"from\":1}},\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"},"
                "{\"wait_days\":3,\"while\":{\"attributes\":[{\"equals\":\"sport\"}]},\"text\":\"y\"}]}]}",
                "triggers.list[0].steps[1].while.attributes[0].name", "missing_field");
    expectError(TRIG_CHANNELS "\"triggers\":{\"list\":[{\"id\":\"u\",\"audience\":"
                "{\"attributes\":[{\"name\":\"style\",\"equals\":\"a\",\"absent\":true}]},"
                "\"channels\":[\"push\"],\"steps\":[{\"text\":\"x\"}]}]}",
                "triggers.list[0].audience.attributes[0]", "invalid_value");

    /* Offers preferences. */
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"treat\",\"equals\":"
                "\"sweets\"}],\"categories\":[\"sweets\"],\"boost_percent\":0}]}",
                "offers.preferences[0].boost_percent", "invalid_value");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"treat\",\"equals\":"
                "true}],\"categories\":[\"sweets\"],\"boost_percent\":10}]}",
                "offers.preferences[0].attributes[0].equals", "invalid_type");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"treat\",\"equals\":"
                "\"sweets\"}],\"boost_percent\":10}]}",
                "offers.preferences[0]", "missing_field");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"treat\",\"equals\":"
                "\"sweets\"}],\"categories\":[\"sweets\"]}]}",
                "offers.preferences[0]", "missing_field");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"treat\",\"equals\":"
                "\"sweets\"}],\"categories\":[\"sweets\"],\"boost_percent\":10,\"exclude\":true}]}",
                "offers.preferences[0]", "invalid_value");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"a\",\"absent\":true}],"
                "\"skus\":[\"X\"],\"exclude\":false}]}",
                "offers.preferences[0].exclude", "invalid_value");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[],\"skus\":[\"X\"],\"exclude\":true}]}",
                "offers.preferences[0].attributes", "invalid_value");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"a\",\"equals\":\"b\"}],"
                "\"categories\":[\"\"],\"exclude\":true}]}",
                "offers.preferences[0].categories[0]", "invalid_value");
    expectError("\"offers\":{\"preferences\":[{\"attributes\":[{\"name\":\"a\",\"equals\":\"b\"}],"
                "\"sku\":[\"X\"],\"exclude\":true}]}",
                "offers.preferences[0].sku", "unknown_field");
    expectError("\"offers\":{\"preferences\":[]}", "offers.preferences", "invalid_value");
    expectError("\"offers\":{\"prefs\":[]}", "offers.prefs", "unknown_field");
    expectError("\"offers\":{\"preferences\":[{\"id\":\"x\",\"attributes\":[{\"name\":\"a\","
                "\"equals\":\"b\"}],\"skus\":[\"X\"],\"exclude\":true},{\"id\":\"x\",\"attributes\":"
                "[{\"name\":\"a\",\"equals\":\"c\"}],\"skus\":[\"Y\"],\"exclude\":true}]}",
                "offers.preferences[1].id", "duplicate_id");

    /* A good one is read as written. */
    const char *ok = HEAD "\"offers\":{\"preferences\":[{\"id\":\"silk\",\"attributes\":[{\"name\":"
                          "\"material.silk\",\"equals\":\"true\"},{\"name\":\"vip\",\"absent\":true}],"
                          "\"brands\":[\"Soie\"],\"categories\":[\"scarves\"],\"boost_percent\":40}]}}";
    ly_program p;
    ly_error err;
    if (ly_program_parse(ok, strlen(ok), &p, &err) != LY_OK)
        fail_msg("%s: %s", err.field, err.message);
    assert_non_null(p.offers);
    assert_int_equal(p.offers->n_preferences, 1);
    const ly_offer_pref *pf = &p.offers->preferences[0];
    assert_string_equal(pf->id, "silk");
    assert_int_equal(pf->n_attributes, 2);
    assert_string_equal(pf->attributes[0].name, "material.silk");
    assert_true(pf->attributes[1].absent);
    assert_int_equal(pf->boost_percent, 40);
    assert_false(pf->exclude);
    assert_int_equal(pf->lines.brands.n, 1);
    assert_int_equal(pf->lines.categories.n, 1);
    ly_program_free(&p);
}

/* ---------------------------------------------------------------------------------------
 * Preferences on a list of offers (the arithmetic)
 * ------------------------------------------------------------------------------------- */

static void test_apply_arithmetic(void **state)
{
    (void)state;
    const char *text = HEAD
        "\"offers\":{\"preferences\":["
        "{\"id\":\"silk\",\"attributes\":[{\"name\":\"material.silk\",\"equals\":\"true\"}],"
        " \"categories\":[\"scarves\"],\"boost_percent\":100},"
        "{\"attributes\":[{\"name\":\"style\",\"in\":[\"sport\",\"outdoor\"]}],\"brands\":[\"Run\"],"
        " \"boost_percent\":10},"
        "{\"attributes\":[{\"name\":\"diet\",\"equals\":\"no_meat\"}],\"skus\":[\"HAM-1\"],"
        " \"exclude\":true}]}}";
    ly_program p;
    ly_error err;
    if (ly_program_parse(text, strlen(text), &p, &err) != LY_OK)
        fail_msg("%s: %s", err.field, err.message);
    ly_arena a = {0};
    ly_offer base[4] = {
        {.kind = LY_OFFER_UPGRADE, .sku = "COAT-1", .category = "coats", .score = 0.7,
         .reason = "coat"},
        {.kind = LY_OFFER_NEW_CATEGORY, .sku = "SCARF-2", .category = "scarves", .score = 0.6,
         .reason = "scarf"},
        {.kind = LY_OFFER_BOUGHT_TOGETHER, .sku = "HAM-1", .category = "meat", .score = 0.5,
         .reason = "ham"},
        {.kind = LY_OFFER_BOUGHT_TOGETHER, .sku = "SHOE-3", .category = "shoes", .brand = "Run",
         .score = 0.3, .reason = "shoe"},
    };
    ly_offer o[4];
    ly_fact *facts;
    size_t nf, n;

    /* Nested attributes flattened as the rules see them; silk doubles 0.6 -> 1 (capped),
     * sport raises the shoe 10%, no_meat drops the ham. */
    assert_int_equal(ly_service_attribute_facts(
                         "{\"material\":{\"silk\":true},\"style\":\"sport\",\"diet\":\"no_meat\"}",
                         &a, &facts, &nf, &err),
                     LY_OK);
    assert_int_equal(nf, 3);
    memcpy(o, base, sizeof o);
    n = 4;
    assert_int_equal(ly_offers_apply_preferences(p.offers, facts, nf, &a, o, &n, 10, &err), LY_OK);
    assert_int_equal(n, 3);
    assert_string_equal(o[0].sku, "SCARF-2");
    assert_true(o[0].score == 1.0);
    assert_true(fabs(o[0].score_before - 0.6) < 1e-12);
    assert_ptr_equal(o[0].preference, &p.offers->preferences[0]);
    assert_string_equal(o[0].pref_attribute, "material.silk");
    assert_string_equal(o[0].pref_value, "true");
    assert_non_null(strstr(o[0].reason, "scarf (raised 100% for what you told us: material.silk = true)"));
    assert_string_equal(o[1].sku, "COAT-1");
    assert_null(o[1].preference);
    assert_string_equal(o[1].reason, "coat");
    assert_string_equal(o[2].sku, "SHOE-3");
    assert_true(fabs(o[2].score - 0.33) < 1e-12);
    assert_string_equal(o[2].pref_value, "sport");
    json_t *ev = ly_offers_preference_json(&o[0]);
    assert_non_null(ev);
    char *evt = tl_json_text(ev);
    tl_assert_json("preference evidence",
                   "{\"attribute\":\"material.silk\",\"boost_percent\":100,\"id\":\"silk\","
                   "\"index\":0,\"score_before\":0.6,\"value\":\"true\"}", evt);
    free(evt);
    json_decref(ev);
    assert_null(ly_offers_preference_json(&o[1]));

    /* Cut to k after re-ranking. */
    memcpy(o, base, sizeof o);
    n = 4;
    assert_int_equal(ly_offers_apply_preferences(p.offers, facts, nf, &a, o, &n, 1, &err), LY_OK);
    assert_int_equal(n, 1);
    assert_string_equal(o[0].sku, "SCARF-2");

    /* A customer without these attributes (or other values): the list as it was. */
    assert_int_equal(ly_service_attribute_facts("{\"style\":\"classic\",\"diet\":\"meat\"}", &a,
                                                &facts, &nf, &err),
                     LY_OK);
    memcpy(o, base, sizeof o);
    n = 4;
    assert_int_equal(ly_offers_apply_preferences(p.offers, facts, nf, &a, o, &n, 10, &err), LY_OK);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(o[i].sku, base[i].sku);
        assert_true(o[i].score == base[i].score);
        assert_null(o[i].preference);
    }
    assert_int_equal(ly_service_attribute_facts(NULL, &a, &facts, &nf, &err), LY_OK);
    assert_int_equal(nf, 0);
    n = 4;
    assert_int_equal(ly_offers_apply_preferences(p.offers, facts, nf, &a, o, &n, 10, &err), LY_OK);
    assert_int_equal(n, 4);
    ly_arena_free(&a);
    ly_program_free(&p);
}

/* ---------------------------------------------------------------------------------------
 * Triggers: audience and `while` on answers
 * ------------------------------------------------------------------------------------- */

static const char trigProgram[] =
    HEAD
    "\"questionnaires\":[{\"id\":\"style\",\"touchpoint\":\"app\",\"questions\":["
    " {\"id\":\"q1\",\"kind\":\"single\",\"options\":[\"classic\",\"sport\"],\"attribute\":\"style\"},"
    " {\"id\":\"q2\",\"kind\":\"multiple\",\"options\":[\"wool\",\"silk\"],\"attribute\":\"material\"}]}],"
    TRIG_CHANNELS
    "\"triggers\":{\"list\":["
    " {\"id\":\"sport-news\",\"holdout_percent\":\"0\",\"audience\":{\"attributes\":"
    "   [{\"name\":\"style\",\"equals\":\"sport\"}]},\"channels\":[\"push\"],"
    "   \"steps\":[{\"text\":\"New running shoes\"}]},"
    " {\"id\":\"silk-care\",\"holdout_percent\":\"0\",\"audience\":{\"attributes\":"
    "   [{\"name\":\"material.silk\",\"equals\":\"true\"}]},\"channels\":[\"push\"],"
    "   \"steps\":[{\"text\":\"Caring for silk\"},"
    "    {\"wait_days\":7,\"while\":{\"attributes\":[{\"name\":\"style\",\"equals\":\"sport\"}]},"
    "     \"text\":\"Silk sportswear\"}]}]}}";

typedef struct trigFx {
    char *dir, *db, *program;
    ly_service *svc;
    ly_arena arena;
} trigFx;

static ly_time at(const char *s)
{
    ly_time t;
    assert_true(ly_time_parse(s, &t, NULL));
    return t;
}

static int64_t enrol(trigFx *f, const char *card)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = at("2026-11-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol: %s", op.err.message);
    return op.out.customer.id;
}

/* What POST /v1/customers/{id}/answers runs. */
static void answer(trigFx *f, const char *id, int64_t cust, const char *answers)
{
    ly_answer_request in = {.answer_id = id, .customer_id = cust, .questionnaire = "style",
                            .answers = answers};
    ly_answer_result res;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_answers_submit(f->svc, &in, at("2026-11-02T09:00:00Z"), &f->arena, &res, &err) !=
        LY_OK)
        fail_msg("answers %s: %s %s", answers, err.field, err.message);
}

static int64_t sent(const trigFx *f, const char *trigger, int64_t cust)
{
    sqlite3 *c;
    assert_int_equal(sqlite3_open(f->db, &c), SQLITE_OK);
    sqlite3_busy_timeout(c, 5000);
    char *sql = tl_strdupf("SELECT COUNT(*) FROM outbox WHERE trigger_id = '%s' AND customer_id = %lld",
                           trigger, (long long)cust);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) fail_msg("%s: %s", sql, sqlite3_errmsg(c));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(c);
    free(sql);
    return v;
}

static void runTriggers(trigFx *f, const char *when)
{
    ly_triggers_run_options o = {.now = at(when)};
    ly_triggers_run_result r;
    ly_error err;
    ly_error_clear(&err);
    if (ly_triggers_run(ly_service_store(f->svc), ly_service_program(f->svc),
                        ly_service_calendar(f->svc), &o, &r, &err) != LY_OK)
        fail_msg("run: %s (%s)", err.message, err.code);
}

static void test_trigger_audience_and_while(void **state)
{
    (void)state;
    trigFx f = {0};
    f.dir = tl_tempdir("answers-use");
    f.db = tl_join(f.dir, "loyal.db");
    f.program = tl_join(f.dir, "program.json");
    assert_int_equal(tl_write_file(f.program, trigProgram, (size_t)-1), 0);
    ly_service_options so = {.db_path = f.db, .program_path = f.program, .sync = LY_SYNC_NORMAL};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_open(&so, &f.svc, &err) != LY_OK) fail_msg("open: %s %s", err.field, err.message);
    const ly_trigger_def *t = ly_triggers_find(ly_service_program(f.svc)->triggers, "sport-news");
    assert_non_null(t);
    assert_int_equal(t->audience.n_attributes, 1);

    int64_t sporty = enrol(&f, "1001"), classic = enrol(&f, "1002"), silent = enrol(&f, "1003"),
            patched = enrol(&f, "1004");
    answer(&f, "A-1", sporty, "{\"q1\":\"sport\",\"q2\":[\"silk\"]}");
    answer(&f, "A-2", classic, "{\"q1\":\"classic\",\"q2\":[\"silk\",\"wool\"]}");
    /* The same attribute set on the profile by hand (PATCH /v1/customers/{id}). */
    ly_op op = {.kind = LY_OP_CUSTOMER_PATCH, .arena = &f.arena, .now = at("2026-11-02T10:00:00Z")};
    op.in.patch.customer_id = patched;
    op.in.patch.profile.set_attributes = true;
    op.in.patch.profile.attributes = "{\"style\":\"sport\",\"size\":42}";
    if (ly_service_run(f.svc, &op) != LY_OK) fail_msg("patch: %s", op.err.message);

    runTriggers(&f, "2026-11-03T12:00:00Z");
    /* Only the customers who said sport get the sport trigger. */
    assert_int_equal(sent(&f, "sport-news", sporty), 1);
    assert_int_equal(sent(&f, "sport-news", patched), 1);
    assert_int_equal(sent(&f, "sport-news", classic), 0);
    assert_int_equal(sent(&f, "sport-news", silent), 0);
    /* Both silk answers enter the silk chain. */
    assert_int_equal(sent(&f, "silk-care", sporty), 1);
    assert_int_equal(sent(&f, "silk-care", classic), 1);
    assert_int_equal(sent(&f, "silk-care", silent), 0);
    assert_int_equal(sent(&f, "silk-care", patched), 0);

    /* A week later the second step goes only to whom its `while` still holds. */
    runTriggers(&f, "2026-11-11T12:00:00Z");
    assert_int_equal(sent(&f, "silk-care", sporty), 2);
    assert_int_equal(sent(&f, "silk-care", classic), 1);
    assert_int_equal(sent(&f, "sport-news", sporty), 1); /* not again: reenter_days */

    /* The sporty customer changes their answer: the audience follows the profile. */
    int64_t late = enrol(&f, "1005");
    answer(&f, "A-3", late, "{\"q1\":\"classic\"}");
    answer(&f, "A-4", late, "{\"q1\":\"sport\"}");
    runTriggers(&f, "2026-11-12T12:00:00Z");
    assert_int_equal(sent(&f, "sport-news", late), 1);

    ly_service_close(f.svc);
    ly_arena_free(&f.arena);
    tl_rmtree(f.dir);
    free(f.dir);
    free(f.db);
    free(f.program);
}

/* ---------------------------------------------------------------------------------------
 * Offers: GET /v1/customers/{id}/offers and `loyal offers show`
 * ------------------------------------------------------------------------------------- */

static const char offersProgram[] =
    HEAD
    "\"questionnaires\":[{\"id\":\"tastes\",\"touchpoint\":\"app\",\"questions\":["
    " {\"id\":\"treat\",\"kind\":\"single\",\"options\":[\"sweets\",\"savoury\"],\"attribute\":\"treat\"},"
    " {\"id\":\"fruit\",\"kind\":\"single\",\"options\":[\"yes\",\"no\"],\"attribute\":\"fruit\"}]}],"
    "\"offers\":{\"preferences\":["
    " {\"id\":\"no-fruit\",\"attributes\":[{\"name\":\"fruit\",\"equals\":\"no\"}],"
    "  \"categories\":[\"fruit\"],\"exclude\":true},"
    " {\"id\":\"sweet-tooth\",\"attributes\":[{\"name\":\"treat\",\"equals\":\"sweets\"}],"
    "  \"categories\":[\"sweets\"],\"boost_percent\":50}]}}";

/* The story of docs/api-offers.md: three customers buy premium tea with lemons (two also
 * honey), the fourth bagged tea and milk. */
static const char *const receipts[] = {
    "{\"receipt_id\":\"O-1\",\"store\":\"S001\",\"time\":\"2026-11-02T10:00:00+03:00\","
    "\"customer\":{\"card\":\"3000002\"},\"total\":80800,\"lines\":["
    "{\"sku\":\"TEA-9\",\"category\":\"tea\",\"qty\":1000,\"price\":29900,\"amount\":29900},"
    "{\"sku\":\"LEM-1\",\"category\":\"fruit\",\"qty\":1000,\"price\":5900,\"amount\":5900},"
    "{\"sku\":\"HON-1\",\"category\":\"sweets\",\"qty\":1000,\"price\":45000,\"amount\":45000}]}",
    "{\"receipt_id\":\"O-2\",\"store\":\"S001\",\"time\":\"2026-11-05T10:00:00+03:00\","
    "\"customer\":{\"card\":\"3000003\"},\"total\":80800,\"lines\":["
    "{\"sku\":\"TEA-9\",\"category\":\"tea\",\"qty\":1000,\"price\":29900,\"amount\":29900},"
    "{\"sku\":\"LEM-1\",\"category\":\"fruit\",\"qty\":1000,\"price\":5900,\"amount\":5900},"
    "{\"sku\":\"HON-1\",\"category\":\"sweets\",\"qty\":1000,\"price\":45000,\"amount\":45000}]}",
    "{\"receipt_id\":\"O-3\",\"store\":\"S001\",\"time\":\"2026-11-09T10:00:00+03:00\","
    "\"customer\":{\"card\":\"3000004\"},\"total\":35800,\"lines\":["
    "{\"sku\":\"TEA-9\",\"category\":\"tea\",\"qty\":1000,\"price\":29900,\"amount\":29900},"
    "{\"sku\":\"LEM-1\",\"category\":\"fruit\",\"qty\":1000,\"price\":5900,\"amount\":5900}]}",
    "{\"receipt_id\":\"O-4\",\"store\":\"S001\",\"time\":\"2026-11-16T10:00:00+03:00\","
    "\"customer\":{\"card\":\"3000001\"},\"total\":18800,\"lines\":["
    "{\"sku\":\"TEA-1\",\"category\":\"tea\",\"qty\":1000,\"price\":9900,\"amount\":9900},"
    "{\"sku\":\"MILK-1\",\"category\":\"dairy\",\"qty\":1000,\"price\":8900,\"amount\":8900}]}",
};

static json_t *getOffers(const tl_server *s, const char *key, int64_t cust)
{
    tl_response r;
    char *path = tl_strdupf("/v1/customers/%lld/offers?limit=3", (long long)cust);
    long st = tl_call(&r, s, "GET", path, key, NULL);
    if (st != 200) fail_msg("GET %s: %ld %s", path, st, r.body);
    json_t *j = tl_response_json(&r);
    assert_non_null(j);
    tl_response_free(&r);
    free(path);
    return j;
}

/* The SKUs of the offers, "A,B,C". */
static char *skus(json_t *j)
{
    json_t *arr = json_object_get(j, "offers");
    assert_true(json_is_array(arr));
    char buf[256] = "";
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (i) strcat(buf, ",");
        strncat(buf, json_string_value(json_object_get(json_array_get(arr, i), "sku")), 60);
    }
    return strdup(buf);
}

static void postAnswers(const tl_server *s, const char *key, int64_t cust, const char *body)
{
    tl_response r;
    char *path = tl_strdupf("/v1/customers/%lld/answers", (long long)cust);
    long st = tl_call(&r, s, "POST", path, key, body);
    if (st != 200 && st != 201) fail_msg("POST %s: %ld %s", path, st, r.body);
    tl_response_free(&r);
    free(path);
}

static void test_offers_preferences_api_and_cli(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "answers-offers", "examples/program.json");
    assert_int_equal(tl_write_file(w.program, offersProgram, (size_t)-1), 0);
    tl_server s;
    const char *const env[] = {"LOYAL_NOW=2026-11-24T09:00:00Z", NULL};
    tl_world_serve(&w, &s, env);
    tl_response r;
    for (int i = 1; i <= 4; i++) {
        char *body = tl_strdupf("{\"card\":\"300000%d\"}", i);
        if (tl_call(&r, &s, "POST", "/v1/customers", w.pos_key, body) != 201)
            fail_msg("enrol: %s", r.body);
        tl_response_free(&r);
        free(body);
    }
    for (size_t i = 0; i < sizeof receipts / sizeof receipts[0]; i++) {
        if (tl_call(&r, &s, "POST", "/v1/receipts", w.pos_key, receipts[i]) != 201)
            fail_msg("receipt %zu: %s", i, r.body);
        tl_response_free(&r);
    }

    /* Before any answer: the model's own list (docs/api-offers.md). */
    json_t *j = getOffers(&s, w.pos_key, 1);
    char *list = skus(j);
    assert_string_equal(list, "LEM-1,TEA-9,HON-1");
    free(list);
    assert_null(tl_json_at(j, "offers[2].evidence.preference"));
    double honey = json_real_value(tl_json_at(j, "offers[2].score"));
    double tea = json_real_value(tl_json_at(j, "offers[1].score"));
    assert_true(honey < tea);
    json_decref(j);
    json_t *other = getOffers(&s, w.pos_key, 2);
    char *otherBefore = tl_json_text(json_object_get(other, "offers"));
    json_decref(other);

    /* "I love sweets": honey is raised 50% above the premium tea; its evidence says why. */
    postAnswers(&s, w.pos_key, 1, "{\"answer_id\":\"A-1\",\"questionnaire\":\"tastes\","
                                  "\"answers\":{\"treat\":\"sweets\"}}");
    j = getOffers(&s, w.pos_key, 1);
    list = skus(j);
    assert_string_equal(list, "LEM-1,HON-1,TEA-9");
    free(list);
    double boosted = json_real_value(tl_json_at(j, "offers[1].score"));
    assert_true(fabs(boosted - fmin(1.0, honey * 1.5)) < 0.0002);
    assert_true(boosted > tea);
    json_t *ev = tl_json_at(j, "offers[1].evidence.preference");
    assert_non_null(ev);
    char *evt = tl_json_text(ev);
    char *want = tl_strdupf("{\"attribute\":\"treat\",\"boost_percent\":50,\"id\":\"sweet-tooth\","
                            "\"index\":1,\"score_before\":%s,\"value\":\"sweets\"}",
                            "0.5286");
    tl_assert_json("preference evidence", want, evt);
    free(evt);
    free(want);
    assert_non_null(strstr(tl_json_str(j, "offers[1].reason"), "treat = sweets"));
    assert_null(tl_json_at(j, "offers[0].evidence.preference"));
    assert_null(tl_json_at(j, "offers[2].evidence.preference"));
    json_decref(j);

    /* "No fruit": the fruit offer is gone, the rest move up. */
    postAnswers(&s, w.pos_key, 1, "{\"answer_id\":\"A-2\",\"questionnaire\":\"tastes\","
                                  "\"answers\":{\"fruit\":\"no\"}}");
    j = getOffers(&s, w.pos_key, 1);
    list = skus(j);
    assert_null(strstr(list, "LEM-1"));
    assert_true(strncmp(list, "HON-1,TEA-9", 11) == 0);
    free(list);
    json_decref(j);

    /* A customer who answered nothing: the same list as before. */
    other = getOffers(&s, w.pos_key, 2);
    char *otherAfter = tl_json_text(json_object_get(other, "offers"));
    assert_string_equal(otherAfter, otherBefore);
    assert_null(strstr(otherAfter, "preference"));
    free(otherAfter);
    free(otherBefore);
    json_decref(other);
    assert_int_equal(tl_server_stop(&s), 0);

    /* `loyal offers show --db` reads the same preferences from --program, and only then. */
    tl_run run;
    tl_loyal(&run, env, "offers", "show", "--db", w.db, "--customer", "1", "--limit", "3",
             "--program", w.program, NULL);
    if (run.code != 0) fail_msg("offers show: %s", run.err);
    j = tl_json_parse(run.out);
    list = skus(j);
    assert_string_equal(list, "HON-1,TEA-9");
    free(list);
    assert_string_equal(tl_json_str(j, "offers[0].evidence.preference.id"), "sweet-tooth");
    json_decref(j);
    tl_run_free(&run);
    tl_loyal(&run, env, "offers", "show", "--db", w.db, "--customer", "1", "--limit", "3", NULL);
    if (run.code != 0) fail_msg("offers show: %s", run.err);
    j = tl_json_parse(run.out);
    list = skus(j);
    assert_string_equal(list, "LEM-1,TEA-9,HON-1");
    free(list);
    json_decref(j);
    tl_run_free(&run);
    /* A trigger's `recommend` offers get the same preferences (engage/triggers.c). */
    size_t plen = strlen(offersProgram);
    char *trig = tl_strdupf("%.*s," TRIG_CHANNELS
                            "\"triggers\":{\"list\":[{\"id\":\"tastes-news\",\"holdout_percent\":\"0\","
                            "\"audience\":{\"attributes\":[{\"name\":\"treat\",\"equals\":\"sweets\"}]},"
                            "\"channels\":[\"push\"],\"steps\":[{\"text\":\"For you: {{offers}}\","
                            "\"offer\":{\"type\":\"recommend\",\"count\":3}}]}]}}",
                            (int)(plen - 1), offersProgram);
    char *trigPath = tl_join(w.dir, "triggers.json");
    assert_int_equal(tl_write_file(trigPath, trig, (size_t)-1), 0);
    tl_loyal(&run, env, "triggers", "run", "--db", w.db, "--program", trigPath, "--as-of",
             "2026-11-24", NULL);
    if (run.code != 0) fail_msg("triggers run: %s", run.err);
    tl_run_free(&run);
    {
        sqlite3 *c;
        assert_int_equal(sqlite3_open(w.db, &c), SQLITE_OK);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(c, "SELECT customer_id, payload FROM outbox", -1, &st,
                                            NULL),
                         SQLITE_OK);
        int rows = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            rows++;
            assert_int_equal(sqlite3_column_int64(st, 0), 1); /* only the one who said sweets */
            json_t *pl = tl_json_parse((const char *)sqlite3_column_text(st, 1));
            list = skus(pl);
            assert_string_equal(list, "HON-1,TEA-9"); /* the model alone: LEM-1,TEA-9,HON-1 */
            free(list);
            /* The raised offer says which preference raised it; the other says nothing. */
            json_t *offers = json_object_get(pl, "offers");
            assert_string_equal(tl_json_str(json_array_get(offers, 0), "preference.id"),
                                "sweet-tooth");
            assert_int_equal(tl_json_int(json_array_get(offers, 0), "preference.boost_percent"),
                             50);
            assert_null(json_object_get(json_array_get(offers, 1), "preference"));
            json_decref(pl);
        }
        assert_int_equal(rows, 1);
        sqlite3_finalize(st);
        sqlite3_close(c);
    }
    free(trig);
    free(trigPath);
    /* A history file has no profiles: evaluate refuses --program. */
    tl_loyal(&run, env, "offers", "evaluate", "--db", w.db, "--split-date", "2026-11-10",
             "--program", w.program, NULL);
    assert_int_equal(run.code, 2);
    assert_non_null(strstr(run.err, "--program is for show"));
    tl_run_free(&run);
    tl_world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_errors),
        cmocka_unit_test(test_apply_arithmetic),
        cmocka_unit_test(test_trigger_audience_and_while),
        cmocka_unit_test(test_offers_preferences_api_and_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
