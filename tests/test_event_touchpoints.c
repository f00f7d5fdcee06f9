/*
 * test_event_touchpoints.c - custom events carry a touchpoint (issue 6; docs/touchpoints.md):
 * POST /v1/events' optional touchpoint is checked against the program's touchpoints
 * (touchpoint_unknown, nothing stored), stored with the event once (a retry adds nothing),
 * and counted per touchpoint in the touchpoint report's data collected.
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *programText =
    "{\"name\":\"T\",\"version\":\"e1\",\"currency\":\"RUB\",\"minor_units\":2,"
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\",\"trunk_prefix\":\"8\"},"
    "\"earn\":{\"rate_percent\":\"5\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"
    "\"events\":[{\"type\":\"review\",\"points\":10}],"
    "\"touchpoints\":[{\"id\":\"till\",\"stage\":\"deal\",\"channel\":\"store\"},"
    " {\"id\":\"app\",\"stage\":\"experience\",\"channel\":\"app\"}]"
    "}";

/* The shared service fixture (testlib.h) is all this test needs. */
typedef tl_svc fixture;

static int setUp(void **state)
{
    *state = tl_svc_new("evtp", programText);
    return 0;
}

static void enrol(fixture *f, const char *card)
{
    tl_svc_enrol(f, card, "2026-11-01T09:00:00Z");
}

static ly_err event(fixture *f, ly_op *op, const char *id, const char *card, const char *tp)
{
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_EVENT;
    op->arena = &f->arena;
    op->now = tl_at("2026-11-10T10:00:00Z");
    op->in.event = (ly_event_request){.event_id = id, .type = "review", .touchpoint = tp,
                                      .who = {.kind = LY_ID_CARD, .value = card}};
    char h[128];
    snprintf(h, sizeof h, "%s|%s|%s", id, card, tp ? tp : "");
    ly_os_hash(h, strlen(h), op->request_hash);
    return ly_service_run(f->svc, op);
}

static const ly_tp_report_row *rowOf(const ly_tp_report *r, const char *id)
{
    for (size_t i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].id, id) == 0) return &r->rows[i];
    return NULL;
}

static void events_carry_a_checked_touchpoint_counted_in_the_report(void **state)
{
    fixture *f = *state;
    enrol(f, "C1");
    enrol(f, "C2");
    ly_op op;
    assert_int_equal(event(f, &op, "E-1", "C1", "app"), LY_OK);
    assert_int_equal(op.out.event.points, 10);
    assert_int_equal(event(f, &op, "E-1", "C1", "app"), LY_OK); /* a retry */
    assert_true(op.replayed);
    assert_int_equal(event(f, &op, "E-2", "C2", "app"), LY_OK);
    assert_int_equal(event(f, &op, "E-3", "C2", NULL), LY_OK);
    /* An unknown touchpoint refuses the whole event: no points, nothing stored. */
    assert_int_equal(event(f, &op, "E-4", "C1", "kiosk"), LY_EUNPROCESSABLE);
    assert_string_equal(op.err.code, "touchpoint_unknown");
    assert_string_equal(op.err.field, "touchpoint");
    assert_int_equal(event(f, &op, "E-4", "C1", "till"), LY_OK); /* the id is still free */
    ly_tp_report rep;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_touchpoints_report(f->svc, 30, 10, &f->arena, &rep, &err), LY_OK);
    const ly_tp_report_row *app = rowOf(&rep, "app"), *till = rowOf(&rep, "till");
    assert_non_null(app);
    assert_non_null(till);
    assert_int_equal(app->events, 2);
    assert_int_equal(till->events, 1);
    assert_int_equal(app->answers, 0);
    assert_int_equal(app->receipts, 0);
    assert_null(rowOf(&rep, "kiosk"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(events_carry_a_checked_touchpoint_counted_in_the_report, setUp, tl_svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
