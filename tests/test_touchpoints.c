/*
 * test_touchpoints.c - the touchpoint report (issue 6, engineer S): on a planted history
 * where detractors answering at one touchpoint ("till") come back far less often than its
 * promoters, while at another ("app") satisfaction makes no difference, the report flags
 * "till" and only "till"; and its counts (answers, receipts, identified share, NPS, CSI,
 * conversion) are the planted ones. Also run through `loyal touchpoints report --json`.
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *programText =
    "{\"name\":\"T\",\"version\":\"tp1\",\"currency\":\"RUB\",\"minor_units\":2,"
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"
    "\"earn\":{\"rate_percent\":\"5\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":0,\"expiry_days\":0},"
    "\"touchpoints\":[{\"id\":\"till\",\"stage\":\"deal\",\"channel\":\"store\"},"
    " {\"id\":\"app\",\"stage\":\"experience\",\"channel\":\"app\"},"
    " {\"id\":\"site\",\"stage\":\"evaluation\",\"channel\":\"web\"}],"
    "\"questionnaires\":[{\"id\":\"after\",\"questions\":["
    "  {\"id\":\"nps\",\"kind\":\"nps\",\"required\":true},{\"id\":\"csi\",\"kind\":\"csi\"}]}]"
    "}";

#define N_CUST 160 /* 80 per touchpoint: 40 detractors, 40 promoters */

/* The shared service fixture (testlib.h) is all this test needs. */
typedef tl_svc fixture;

static ly_time day(int d)
{
    ly_time t;
    assert_true(ly_time_parse("2026-01-05T12:00:00Z", &t, NULL));
    return t + (ly_time)d * 86400;
}

static void buy(fixture *f, const char *id, const char *card, const char *tp, int d)
{
    ly_line *l = ly_arena_alloc(&f->arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .category = "c", .qty = 1000, .price = 5000, .amount = 5000};
    ly_op op = {.kind = LY_OP_CONFIRM, .arena = &f->arena, .now = day(d)};
    op.in.confirm.receipt = (ly_receipt){.receipt_id = ly_arena_strdup(&f->arena, id), .store = "S1",
                                         .time = day(d), .total = 5000, .lines = l, .n_lines = 1};
    if (card) op.in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = ly_arena_strdup(&f->arena, card)};
    op.in.confirm.touchpoint = tp;
    ly_os_hash(id, strlen(id), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("confirm %s: %s", id, op.err.message);
}

static int setUp(void **state)
{
    fixture *f = tl_svc_new("tp", programText);
    ly_error err;
    ly_error_clear(&err);

    /* Customer i answers at "till" (even i) or "app" (odd i) the day after a first purchase
     * there; i/2 % 2 == 0 makes a detractor (NPS 3, CSI 2), otherwise a promoter (NPS 10,
     * CSI 5). At till, 1 in 5 detractors and 4 in 5 promoters buy again 10 days later; at app,
     * 3 in 5 of both. */
    for (int i = 0; i < N_CUST; i++) {
        char card[16], rid[32], aid[32];
        snprintf(card, sizeof card, "%d", 5000 + i);
        ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = day(0)};
        op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
        if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol: %s", op.err.message);
        int64_t cid = op.out.customer.id;
        bool till = i % 2 == 0, det = (i / 2) % 2 == 0;
        int k = (i / 4) % 5; /* 0..4 within each group */
        const char *tp = till ? "till" : "app";
        snprintf(rid, sizeof rid, "first-%d", i);
        buy(f, rid, card, tp, 0);
        snprintf(aid, sizeof aid, "ans-%d", i);
        ly_answer_request in = {.answer_id = aid, .customer_id = cid, .questionnaire = "after",
                                .touchpoint = tp,
                                .answers = det ? "{\"nps\":3,\"csi\":2}" : "{\"nps\":10,\"csi\":5}"};
        ly_answer_result res;
        if (ly_service_answers_submit(f->svc, &in, day(1), &f->arena, &res, &err) != LY_OK)
            fail_msg("answer: %s %s", err.field, err.message);
        bool back = till ? (det ? k == 0 : k != 0) : k < 3;
        if (back) {
            snprintf(rid, sizeof rid, "again-%d", i);
            buy(f, rid, card, NULL, 11);
        }
    }
    /* Anonymous receipts at the site, and a late one that sets the horizon at day 100. */
    buy(f, "anon-1", NULL, "site", 2);
    buy(f, "anon-2", NULL, "site", 3);
    buy(f, "anon-late", NULL, NULL, 100);
    *state = f;
    return 0;
}

static const ly_tp_report_row *rowOf(const ly_tp_report *r, const char *id)
{
    for (size_t i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].id, id) == 0) return &r->rows[i];
    fail_msg("no row %s", id);
    return NULL;
}

static void test_report_flags_planted_touchpoint(void **state)
{
    fixture *f = *state;
    ly_tp_report rep;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_touchpoints_report(f->svc, 30, 10, &f->arena, &rep, &err), LY_OK);
    assert_int_equal(rep.n_rows, 3); /* the declared ones, in file order */
    assert_string_equal(rep.rows[0].id, "till");
    const ly_tp_report_row *till = rowOf(&rep, "till"), *app = rowOf(&rep, "app"),
                           *site = rowOf(&rep, "site");
    assert_int_equal(till->answers, 80);
    assert_int_equal(till->receipts, 80);
    assert_int_equal(till->identified, 80);
    assert_int_equal(till->nps_n, 80);
    assert_int_equal(till->promoters, 40);
    assert_int_equal(till->detractors, 40);
    assert_true(fabs(till->nps - 0.0) < 1e-9);
    assert_int_equal(till->csi_n, 80);
    assert_true(fabs(till->csi - 62.5) < 1e-9); /* (25 + 100) / 2 */
    assert_int_equal(till->det_n, 40);
    assert_int_equal(till->det_returned, 8);
    assert_int_equal(till->pro_returned, 32);
    assert_int_equal(till->conv_n, 80);
    assert_int_equal(till->conv_yes, 40);
    assert_true(till->diff_known);
    assert_true(fabs(till->diff + 0.6) < 1e-9);
    assert_true(till->diff_hi < 0);
    assert_true(till->predicts_churn);

    assert_int_equal(app->det_returned, 24);
    assert_int_equal(app->pro_returned, 24);
    assert_true(app->diff_known);
    assert_true(app->diff_lo < 0 && app->diff_hi > 0);
    assert_false(app->predicts_churn);

    assert_int_equal(site->receipts, 2);
    assert_int_equal(site->identified, 0);
    assert_int_equal(site->answers, 0);
    assert_false(site->diff_known);
    assert_true(isnan(site->nps));

    /* A window too short for the second purchase: no one returns, nothing is flagged. */
    assert_int_equal(ly_service_touchpoints_report(f->svc, 5, 10, &f->arena, &rep, &err), LY_OK);
    assert_int_equal(rowOf(&rep, "till")->det_returned + rowOf(&rep, "till")->pro_returned, 0);
    assert_false(rowOf(&rep, "till")->predicts_churn);
    /* Groups under min_group get no interval. */
    assert_int_equal(ly_service_touchpoints_report(f->svc, 30, 41, &f->arena, &rep, &err), LY_OK);
    assert_false(rowOf(&rep, "till")->diff_known);
}

static void test_cli_report(void **state)
{
    fixture *f = *state;
    ly_service_close(f->svc);
    f->svc = NULL;
    tl_run r;
    tl_loyal(&r, NULL, "touchpoints", "report", "--db", f->db, "--program", f->program, "--json",
             NULL);
    if (r.code != 0) fail_msg("exit %d: %s", r.code, r.err);
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    assert_int_equal(tl_json_int(v, "days"), 30);
    json_t *arr = json_object_get(v, "touchpoints");
    assert_int_equal(json_array_size(arr), 3);
    int flagged = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        if (json_is_true(tl_json_at(o, "churn.predicts_churn"))) {
            flagged++;
            assert_string_equal(tl_json_str(o, "touchpoint"), "till");
        }
    }
    assert_int_equal(flagged, 1);
    json_decref(v);
    tl_run_free(&r);
    tl_loyal(&r, NULL, "touchpoints", "report", "--db", f->db, "--program", f->program, NULL);
    assert_int_equal(r.code, 0);
    assert_non_null(strstr(r.out, "PREDICTS CHURN"));
    tl_run_free(&r);
    assert_int_equal(tl_loyal(&r, NULL, "touchpoints", "report", "--days", "0", NULL), 2);
    tl_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_flags_planted_touchpoint, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(test_cli_report, setUp, tl_svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
