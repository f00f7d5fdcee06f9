/*
 * test_program_versions.c - replacing the program while the server runs: every version is
 * kept, a return is priced by the version that priced its receipt (after a replacement
 * changed rounding and debt policy), replacement validates the whole file and refuses
 * what stored data cannot follow, calculates and confirms running during many replacements
 * always see one whole version (run under ASan), and a server's SIGHUP with a bad file keeps the old
 * program while PUT /v1/program replaces it and writes the file back.
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* version, earn rate, rounding, debt policy */
static const char *programTemplate =
    "{\"name\":\"V\",\"version\":\"%s\",\"currency\":\"RUB\",\"minor_units\":2,"
    "\"time_zone\":\"Europe/Moscow\",\"phone\":{\"country_code\":\"7\"},"
    "\"earn\":{\"rate_percent\":\"%s\",\"base\":\"paid\",\"rounding\":\"%s\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"100\",\"on_return_debt\":\"%s\"}}";

static char *programText(const char *version, const char *rate, const char *rounding, const char *debt)
{
    return tl_strdupf(programTemplate, version, rate, rounding, debt);
}

typedef struct fixture {
    char *dir, *db, *program;
    ly_service *svc;
    ly_arena arena;
    int64_t anna;
} fixture;

static ly_time at(const char *s)
{
    ly_time t;
    if (!ly_time_parse(s, &t, NULL)) fail_msg("bad time %s", s);
    return t;
}

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = tl_tempdir("loyal-versions");
    f->db = tl_join(f->dir, "loyal.db");
    f->program = tl_join(f->dir, "program.json");
    char *text = programText("A", "5", "down", "negative");
    assert_int_equal(tl_write_file(f->program, text, strlen(text)), 0);
    free(text);
    ly_service_options so = {.db_path = f->db, .program_path = f->program, .sync = LY_SYNC_NORMAL};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_open(&so, &f->svc, &err) != LY_OK) fail_msg("open: %s", err.message);
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->arena, .now = at("2026-12-01T00:00:00Z")};
    op.in.create.ids[0] = (ly_identifier){LY_ID_CARD, "CARD-A"};
    op.in.create.n_ids = 1;
    assert_int_equal(ly_service_run(f->svc, &op), LY_OK);
    f->anna = op.out.customer.id;
    *state = f;
    return 0;
}

static int tearDown(void **state)
{
    fixture *f = *state;
    ly_error err;
    ly_error_clear(&err);
    ly_db *db = ly_store_reader(ly_service_store(f->svc), &err);
    int64_t n = 0, bad = -1;
    assert_int_equal(ly_db_check(db, NULL, NULL, &n, &bad, &err), LY_OK);
    assert_int_equal(bad, 0);
    ly_service_close(f->svc);
    ly_arena_free(&f->arena);
    tl_rmtree(f->dir);
    free(f->dir);
    free(f->db);
    free(f->program);
    free(f);
    return 0;
}

static ly_err replace(fixture *f, const char *text, ly_program_info *info, ly_error *err)
{
    ly_error_clear(err);
    return ly_service_program_replace(f->svc, text, strlen(text), at("2026-12-02T00:00:00Z"), info, err);
}

static ly_op *buy(fixture *f, const char *id, ly_money amount, ly_points redeem)
{
    ly_line *l = ly_arena_alloc(&f->arena, sizeof *l);
    *l = (ly_line){.sku = "SKU", .qty = 1000, .price = amount, .amount = amount};
    ly_op *op = ly_arena_alloc(&f->arena, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->arena;
    op->now = at("2026-12-01T09:00:00Z");
    op->in.confirm.receipt = (ly_receipt){.receipt_id = id, .store = "S1", .time = op->now,
                                          .utc_offset_min = 180, .total = amount, .lines = l,
                                          .n_lines = 1};
    op->in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = "CARD-A"};
    op->in.confirm.redeem = redeem;
    ly_os_hash(id, strlen(id), op->request_hash);
    if (ly_service_run(f->svc, op) != LY_OK) fail_msg("confirm %s: %s", id, op->err.message);
    return op;
}

static void a_return_is_priced_by_the_version_of_its_receipt(void **state)
{
    fixture *f = *state;
    /* Version A: 5%, rounding down, debt negative. 1,000.10 earns 50 (50.005 down). */
    ly_op *r1 = buy(f, "R-1", 100010, 0);
    assert_int_equal(r1->out.confirm.pricing.earn, 50);
    assert_string_equal(r1->out.confirm.program_version, "A");
    /* The 50 points are spent at once. */
    buy(f, "R-2", 5000, 50);

    /* Version B: 10%, rounding up, debt clamped. */
    char *b = programText("B", "10", "up", "clamp");
    ly_program_info info;
    ly_error err;
    assert_int_equal(replace(f, b, &info, &err), LY_OK);
    assert_true(info.replaced);
    assert_string_equal(info.version, "B");
    assert_string_equal(info.previous, "A");
    free(b);
    /* B prices new receipts: 10.01 at 10% is 1.001 points, rounded up to 2. */
    ly_op *r3 = buy(f, "R-3", 1001, 0);
    assert_int_equal(r3->out.confirm.pricing.earn, 2);
    assert_string_equal(r3->out.confirm.program_version, "B");

    /* R-1 comes back: its 50 points were spent. A's policy (negative) makes it a debt of
     * 48 after the 2 points available; B's (clamp) would have forgiven it. */
    ly_op ret = {.kind = LY_OP_RETURN, .arena = &f->arena, .now = at("2026-12-03T09:00:00Z")};
    ret.in.ret = (ly_return_request){.receipt_id = "R-1", .return_id = "RET-1", .time = ret.now, .full = true};
    ly_os_hash("RET-1", 5, ret.request_hash);
    assert_int_equal(ly_service_run(f->svc, &ret), LY_OK);
    assert_int_equal(ret.out.ret.ret.points_taken, 50);
    assert_int_equal(ret.out.ret.ret.points_forgiven, 0);
    assert_int_equal(ret.out.ret.after.available, 2 - 50);
    assert_int_equal(ret.out.ret.after.debt, 48);
    assert_string_equal(ret.out.ret.receipt.program_version, "A");
}

static void replacement_validates_the_whole_file_and_keeps_stored_data_readable(void **state)
{
    fixture *f = *state;
    ly_program_info info;
    ly_error err;
    char *bad = programText("C", "5", "down", "sometimes");
    assert_int_equal(replace(f, bad, &info, &err), LY_EINVAL);
    assert_string_equal(err.field, "points.on_return_debt");
    free(bad);
    assert_int_equal(replace(f, "{\"name\": ", &info, &err), LY_EINVAL);
    assert_string_equal(err.code, "malformed_json");
    /* Currency, minor units, time zone and phone rules stay. */
    char *eur = tl_strdupf("{\"name\":\"V\",\"version\":\"E\",\"currency\":\"EUR\",\"time_zone\":\"Europe/Moscow\","
                           "\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"5\"},"
                           "\"points\":{\"value\":\"1.00\"}}");
    assert_int_equal(replace(f, eur, &info, &err), LY_EUNPROCESSABLE);
    assert_string_equal(err.code, "program_incompatible");
    assert_string_equal(err.field, "currency");
    free(eur);
    /* The version A with other content is refused; the same text is no change. */
    char *other = programText("A", "7", "down", "negative");
    assert_int_equal(replace(f, other, &info, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "program_version_conflict");
    free(other);
    char *same = programText("A", "5", "down", "negative");
    assert_int_equal(replace(f, same, &info, &err), LY_OK);
    assert_false(info.replaced);
    free(same);
    assert_string_equal(ly_service_program(f->svc)->version, "A");

    /* A good one replaces, is written back to the file, and is what GET returns. */
    char *d = programText("D", "6", "half_up", "negative");
    assert_int_equal(replace(f, d, &info, &err), LY_OK);
    assert_true(info.replaced);
    char *disk = tl_read_file(f->program, NULL);
    assert_string_equal(disk, d);
    free(disk);
    const char *text;
    assert_int_equal(ly_service_program_get(f->svc, &f->arena, &text, &info, &err), LY_OK);
    assert_string_equal(text, d);
    assert_string_equal(info.version, "D");
    assert_int_equal(info.first_loaded_at, at("2026-12-02T00:00:00Z"));
    /* Back to A: stored with this very text, so allowed; first loaded long ago. */
    char *a = programText("A", "5", "down", "negative");
    assert_int_equal(replace(f, a, &info, &err), LY_OK);
    assert_true(info.replaced);
    assert_true(info.first_loaded_at < at("2026-12-02T00:00:00Z"));
    free(a);
    free(d);
}

/* ---------------------------------------------------------------------------------------
 * Calculates while the program is replaced over and over
 * ------------------------------------------------------------------------------------- */

typedef struct calcWorker {
    ly_service *svc;
    atomic_bool *stop;
    bool confirm;              /* confirms (on the writer thread) instead of calculates */
    int id;
    long runs, seen_a, seen_b;
    char problem[320];
} calcWorker;

/* Confirms 1,000.00 again and again: each receipt earns by the version it ran with. */
static void confirmOnce(calcWorker *w)
{
    ly_arena a = {0};
    ly_line l = {.sku = "SKU", .qty = 1000, .price = 100000, .amount = 100000};
    ly_op op = {.kind = LY_OP_CONFIRM, .arena = &a, .now = 1796000000};
    char *id = ly_arena_printf(&a, "W%d-%ld", w->id, w->runs);
    op.in.confirm.receipt = (ly_receipt){.receipt_id = id, .store = "S1", .time = op.now,
                                         .utc_offset_min = 180, .total = 100000, .lines = &l, .n_lines = 1};
    op.in.confirm.who = (ly_who){.kind = LY_ID_CARD, .value = "CARD-A"};
    ly_os_hash(id, strlen(id), op.request_hash);
    if (ly_service_run(w->svc, &op) != LY_OK) {
        snprintf(w->problem, sizeof w->problem, "confirm: %s", op.err.message);
    } else {
        const char *v = op.out.confirm.program_version;
        ly_points want = strcmp(v, "A") == 0 ? 50 : strcmp(v, "B") == 0 ? 100 : -1;
        if (want == 50) w->seen_a++;
        if (want == 100) w->seen_b++;
        if (op.out.confirm.pricing.earn != want)
            snprintf(w->problem, sizeof w->problem, "confirm under %s earned %lld", v,
                     (long long)op.out.confirm.pricing.earn);
    }
    w->runs++;
    ly_arena_free(&a);
}

static void *calcLoop(void *arg)
{
    calcWorker *w = arg;
    ly_line l = {.sku = "SKU", .qty = 1000, .price = 100000, .amount = 100000};
    ly_checkout in = {.receipt = {.receipt_id = "CALC", .store = "S1", .time = 1796000000,
                                  .utc_offset_min = 180, .total = 100000, .lines = &l, .n_lines = 1},
                      .who = {.kind = LY_ID_CARD, .value = "CARD-A"}};
    while (!atomic_load(w->stop) && !w->problem[0]) {
        if (w->confirm) {
            confirmOnce(w);
            continue;
        }
        ly_arena a = {0};
        ly_checkout_result res;
        ly_error err;
        ly_error_clear(&err);
        if (ly_service_calculate(w->svc, &in, 1796000000, &a, &res, &err) != LY_OK) {
            snprintf(w->problem, sizeof w->problem, "calculate: %s", err.message);
        } else if (strcmp(res.program_version, "A") == 0) {
            w->seen_a++;
            if (res.pricing.earn != 50) snprintf(w->problem, sizeof w->problem, "A earned %lld", (long long)res.pricing.earn);
        } else if (strcmp(res.program_version, "B") == 0) {
            w->seen_b++;
            if (res.pricing.earn != 100) snprintf(w->problem, sizeof w->problem, "B earned %lld", (long long)res.pricing.earn);
        } else {
            snprintf(w->problem, sizeof w->problem, "version %s", res.program_version);
        }
        w->runs++;
        ly_arena_free(&a);
    }
    return NULL;
}

static void calculates_see_one_whole_version_while_it_is_replaced(void **state)
{
    fixture *f = *state;
    enum { THREADS = 4, REPLACEMENTS = 60 };
    char *a = programText("A", "5", "down", "negative");
    char *b = programText("B", "10", "down", "negative");
    atomic_bool stop = false;
    calcWorker ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (calcWorker){.svc = f->svc, .stop = &stop, .confirm = i == 0, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, calcLoop, &ws[i]), 0);
    }
    ly_program_info info;
    ly_error err;
    for (int i = 0; i < REPLACEMENTS; i++) {
        assert_int_equal(replace(f, i % 2 ? a : b, &info, &err), LY_OK);
        assert_true(info.replaced);
        usleep(2000);
    }
    atomic_store(&stop, true);
    long runs = 0, sa = 0, sb = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (ws[i].problem[0]) fail_msg("worker %d: %s", i, ws[i].problem);
        runs += ws[i].runs;
        sa += ws[i].seen_a;
        sb += ws[i].seen_b;
    }
    print_message("%ld calculates and %ld confirms during %d replacements (%ld under A, %ld under B)\n",
                  runs - ws[0].runs, ws[0].runs, REPLACEMENTS, sa, sb);
    assert_true(sa > 0 && sb > 0);
    free(a);
    free(b);
}

/* ---------------------------------------------------------------------------------------
 * The server: SIGHUP and PUT /v1/program
 * ------------------------------------------------------------------------------------- */

static const char *healthVersion(const tl_server *s, char *buf, size_t size)
{
    tl_response r;
    assert_int_equal(tl_call(&r, s, "GET", "/health", NULL, NULL), 200);
    json_t *v = tl_response_json(&r);
    snprintf(buf, size, "%s", tl_json_str(v, "program"));
    json_decref(v);
    tl_response_free(&r);
    return buf;
}

/* Waits up to 10 s for the log to mention text n times. */
static void waitLog(const tl_server *s, const char *text, int n)
{
    for (int i = 0; i < 1000; i++) {
        char *log = tl_read_file(s->log, NULL);
        int k = 0;
        for (const char *p = log ? strstr(log, text) : NULL; p; p = strstr(p + 1, text)) k++;
        free(log);
        if (k >= n) return;
        usleep(10000);
    }
    fail_msg("the server never logged \"%s\" %d times", text, n);
}

static void sighup_with_a_bad_file_keeps_the_program_and_put_replaces_it(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "versions", "examples/program.json");
    char *original = tl_read_file(w.program, NULL);
    tl_server s;
    tl_world_serve(&w, &s, NULL);
    char v[128];
    assert_string_equal(healthVersion(&s, v, sizeof v), "2026-11-example");

    /* A bad file: logged, the program stays. */
    const char *broken = "{\"name\": \"Green Basket\", \"points\": ";
    assert_int_equal(tl_write_file(w.program, broken, strlen(broken)), 0);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    waitLog(&s, "SIGHUP", 1);
    assert_string_equal(healthVersion(&s, v, sizeof v), "2026-11-example");
    char *log = tl_read_file(s.log, NULL);
    assert_non_null(strstr(log, "malformed_json"));
    free(log);

    /* A good file with a new version: replaced. */
    json_t *p = tl_json_parse(original);
    json_object_set_new(p, "version", json_string("2026-12-hup"));
    char *next = tl_json_text(p);
    assert_int_equal(tl_write_file(w.program, next, strlen(next)), 0);
    assert_int_equal(kill(s.pid, SIGHUP), 0);
    waitLog(&s, "SIGHUP", 2);
    assert_string_equal(healthVersion(&s, v, sizeof v), "2026-12-hup");

    /* PUT: a pos key may not; an error names the path; a good one is written back. */
    tl_response r;
    assert_int_equal(tl_call(&r, &s, "PUT", "/v1/program", w.pos_key, next), 403);
    tl_response_free(&r);
    json_object_set_new(json_object_get(p, "earn"), "rate_percent", json_string("101"));
    char *wrong = tl_json_text(p);
    tl_call(&r, &s, "PUT", "/v1/program", w.admin_key, wrong);
    tl_assert_error("PUT with a bad rate", &r, 400, "invalid_value", "earn.rate_percent");
    tl_response_free(&r);
    json_object_set_new(json_object_get(p, "earn"), "rate_percent", json_string("6"));
    json_object_set_new(p, "version", json_string("2026-12-put"));
    char *put = tl_json_text(p);
    assert_int_equal(tl_call(&r, &s, "PUT", "/v1/program", w.admin_key, put), 200);
    json_t *body = tl_response_json(&r);
    assert_string_equal(tl_json_str(body, "version"), "2026-12-put");
    assert_string_equal(tl_json_str(body, "previous"), "2026-12-hup");
    assert_true(json_is_true(json_object_get(body, "replaced")));
    json_decref(body);
    tl_response_free(&r);
    char *disk = tl_read_file(w.program, NULL);
    assert_string_equal(disk, put);
    free(disk);
    assert_int_equal(tl_call(&r, &s, "GET", "/v1/program", w.admin_key, NULL), 200);
    body = tl_response_json(&r);
    assert_string_equal(tl_json_str(body, "version"), "2026-12-put");
    assert_string_equal(tl_json_str(body, "program.earn.rate_percent"), "6");
    json_decref(body);
    tl_response_free(&r);

    assert_int_equal(tl_server_stop(&s), 0);
    /* A restart keeps the replaced program. */
    tl_world_serve(&w, &s, NULL);
    assert_string_equal(healthVersion(&s, v, sizeof v), "2026-12-put");
    assert_int_equal(tl_server_stop(&s), 0);
    assert_int_equal(tl_world_check(&w), 0);
    json_decref(p);
    free(original);
    free(next);
    free(wrong);
    free(put);
    tl_world_free(&w);
}

/* The server under load: HTTP calculates from several threads while PUT /v1/program swaps
 * two versions back and forth. Every answer is a 200 priced wholly by one of them, and the
 * server (an ASan build in CI) stops cleanly. */
typedef struct httpWorker {
    const tl_server *s;
    const char *key;
    atomic_bool *stop;
    long runs;
    char problem[400];
} httpWorker;

static void *httpLoop(void *arg)
{
    httpWorker *w = arg;
    static const char body[] =
        "{\"receipt_id\": \"H-1\", \"store\": \"S001\", \"time\": \"2026-11-24T15:00:00+03:00\", "
        "\"customer\": {\"card\": \"4000001\"}, \"total\": 100000, \"lines\": [{\"sku\": \"MILK\", "
        "\"category\": \"dairy\", \"qty\": 1000, \"price\": 100000, \"amount\": 100000}]}";
    while (!atomic_load(w->stop) && !w->problem[0]) {
        tl_response r;
        long st = tl_call(&r, w->s, "POST", "/v1/receipts/calculate", w->key, body);
        json_t *v = st == 200 ? tl_response_json(&r) : NULL;
        const char *ver = v ? tl_json_str(v, "program_version") : NULL;
        long long earn = v ? tl_json_int(v, "points.earn") : -1;
        if (st != 200 || !ver)
            snprintf(w->problem, sizeof w->problem, "HTTP %ld: %.300s", st, r.body ? r.body : r.error);
        else if (!((strcmp(ver, "2026-11-example") == 0 && earn == 50) ||
                   (strcmp(ver, "2026-12-ten") == 0 && earn == 100)))
            snprintf(w->problem, sizeof w->problem, "%s earned %lld", ver, earn);
        json_decref(v);
        tl_response_free(&r);
        w->runs++;
    }
    tl_http_thread_done();
    return NULL;
}

static void put_during_concurrent_requests_keeps_every_answer_whole(void **state)
{
    (void)state;
    tl_world w;
    tl_world_make(&w, "versions-load", "examples/program.json");
    char *original = tl_read_file(w.program, NULL);
    json_t *p = tl_json_parse(original);
    json_object_set_new(p, "version", json_string("2026-12-ten"));
    json_object_set_new(json_object_get(p, "earn"), "rate_percent", json_string("10"));
    char *ten = tl_json_text(p);
    json_decref(p);
    tl_server s;
    tl_world_serve(&w, &s, NULL);
    tl_response r;
    assert_int_equal(tl_call(&r, &s, "POST", "/v1/customers", w.pos_key, "{\"card\": \"4000001\"}"), 201);
    tl_response_free(&r);

    enum { THREADS = 3, SWAPS = 30 };
    atomic_bool stop = false;
    httpWorker ws[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (httpWorker){.s = &s, .key = w.pos_key, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, httpLoop, &ws[i]), 0);
    }
    for (int i = 0; i < SWAPS; i++) {
        long st = tl_call(&r, &s, "PUT", "/v1/program", w.admin_key, i % 2 ? original : ten);
        if (st != 200) fail_msg("PUT %d: HTTP %ld %s", i, st, r.body);
        tl_response_free(&r);
        usleep(5000);
    }
    atomic_store(&stop, true);
    long runs = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        if (ws[i].problem[0]) fail_msg("worker %d: %s", i, ws[i].problem);
        runs += ws[i].runs;
    }
    print_message("%ld HTTP calculates during %d replacements\n", runs, SWAPS);
    assert_true(runs > 0);
    assert_int_equal(tl_server_stop(&s), 0);
    assert_int_equal(tl_world_check(&w), 0);
    free(original);
    free(ten);
    tl_world_free(&w);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_return_is_priced_by_the_version_of_its_receipt, setUp, tearDown),
        cmocka_unit_test_setup_teardown(replacement_validates_the_whole_file_and_keeps_stored_data_readable, setUp, tearDown),
        cmocka_unit_test_setup_teardown(calculates_see_one_whole_version_while_it_is_replaced, setUp, tearDown),
        cmocka_unit_test(sighup_with_a_bad_file_keeps_the_program_and_put_replaces_it),
        cmocka_unit_test(put_during_concurrent_requests_keeps_every_answer_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
