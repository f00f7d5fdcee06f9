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

typedef struct fixture {
    char dir[256], db[300], program[300];
    ly_service *svc;
    ly_arena arena;
} fixture;

static ly_time at(const char *s)
{
    ly_time t;
    assert_true(ly_time_parse(s, &t, NULL));
    return t;
}

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/loyal-evtp-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/loyal.db", f->dir);
    snprintf(f->program, sizeof f->program, "%s/program.json", f->dir);
    FILE *pf = fopen(f->program, "w");
    assert_non_null(pf);
    fputs(programText, pf);
    fclose(pf);
    ly_service_options so = {.db_path = f->db, .program_path = f->program, .sync = LY_SYNC_NORMAL};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_open(&so, &f->svc, &err) != LY_OK) fail_msg("open: %s %s", err.field, err.message);
    *state = f;
    return 0;
}

static int tearDown(void **state)
{
    fixture *f = *state;
    ly_service_close(f->svc);
    ly_arena_free(&f->arena);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void enrol(fixture *f, const char *card)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = at("2026-11-01T09:00:00Z")};
    op.in.create.ids[op.in.create.n_ids++] = (ly_identifier){LY_ID_CARD, card};
    ly_os_hash(card, strlen(card), op.request_hash);
    if (ly_service_run(f->svc, &op) != LY_OK) fail_msg("enrol: %s", op.err.message);
}

static ly_err event(fixture *f, ly_op *op, const char *id, const char *card, const char *tp)
{
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_EVENT;
    op->arena = &f->arena;
    op->now = at("2026-11-10T10:00:00Z");
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
        cmocka_unit_test_setup_teardown(events_carry_a_checked_touchpoint_counted_in_the_report, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
