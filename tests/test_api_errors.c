/*
 * test_api_errors.c - bad requests get their documented error and change nothing.
 *
 * Each group of bad requests runs on a fresh server with one customer, a bonus and one
 * confirmed receipt. Each bad request must get its status and
 * {"error":{"code","message"[,"field"]}}; after each, the customer's profile, balance and
 * ledger and the receipt are exactly what they were and no customer was added. At the end
 * the server still answers GET /metrics (which counts one confirmed receipt) and /health,
 * stops cleanly, and `loyal check` finds no mismatch.
 */
#include "testlib.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW "LOYAL_NOW=2026-11-24T09:00:00Z"
#define CARD "ERR-CARD-1"

typedef struct fixture {
    tl_world w;
    tl_server s;
    long long customer;
    char revoked_key[64];
    int others;     /* customers enrolled by a test beside the fixture's */
    int returns;    /* returns a test made */
    char *snapshot; /* the state that no bad request may change */
} fixture;

/* Everything a bad request could have changed, as one text: the customer's profile,
 * balance and ledger, the receipt, and the next customer id (which must not exist). */
static char *snapshot(fixture *f)
{
    char paths[5][96];
    snprintf(paths[0], sizeof paths[0], "/v1/customers/%lld", f->customer);
    snprintf(paths[1], sizeof paths[1], "/v1/customers/%lld/balance", f->customer);
    snprintf(paths[2], sizeof paths[2], "/v1/customers/%lld/ledger?limit=100", f->customer);
    snprintf(paths[3], sizeof paths[3], "/v1/receipts/err-r1");
    snprintf(paths[4], sizeof paths[4], "/v1/customers/%lld", f->customer + f->others + 1);
    char *all = tl_strdupf("%s", "");
    for (size_t i = 0; i < 5; i++) {
        tl_response r;
        long st = tl_call(&r, &f->s, "GET", paths[i], f->w.admin_key, NULL);
        if (st != (i < 4 ? 200 : 404)) fail_msg("GET %s: HTTP %ld %s%s", paths[i], st, r.error, r.body);
        char *next = tl_strdupf("%s%s -> %ld %s\n", all, paths[i], st, r.body);
        free(all);
        all = next;
        tl_response_free(&r);
    }
    return all;
}

/* Takes the current state as the one that must not change from now on. */
static void resnapshot(fixture *f)
{
    free(f->snapshot);
    f->snapshot = snapshot(f);
}

static void assertUnchanged(fixture *f, const char *what)
{
    char *now = snapshot(f);
    if (strcmp(now, f->snapshot) != 0)
        fail_msg("%s changed the state:\n--- before\n%s--- after\n%s", what, f->snapshot, now);
    free(now);
}

static long call(fixture *f, tl_response *r, const char *method, const char *path, const char *key,
                 const char *body)
{
    return tl_call(r, &f->s, method, path, key, body);
}

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    *state = f;
    const char *env[] = {NOW, NULL};
    tl_world_make(&f->w, "errors", "examples/program.json");
    /* A third key (id 3 after the world's two), revoked before the server starts. */
    tl_world_key(&f->w, "admin", f->revoked_key, sizeof f->revoked_key);
    tl_run run;
    if (tl_loyal(&run, NULL, "keys", "revoke", "3", "--db", f->w.db, NULL) != 0) fail_msg("keys revoke 3: %s", run.err);
    tl_run_free(&run);
    tl_world_serve(&f->w, &f->s, env);

    tl_response r;
    long st = call(f, &r, "POST", "/v1/customers", f->w.pos_key, "{\"card\":\"" CARD "\",\"name\":\"Erin\"}");
    if (st != 201) fail_msg("enrol: HTTP %ld %s%s", st, r.error, r.body);
    json_t *v = tl_json_parse(r.body);
    f->customer = tl_json_int(v, "id");
    json_decref(v);
    tl_response_free(&r);

    char path[96];
    snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", f->customer);
    st = call(f, &r, "POST", path, f->w.admin_key,
              "{\"adjustment_id\":\"err-bonus\",\"points\":1000,\"kind\":\"bonus\",\"note\":\"welcome\"}");
    if (st != 201 && st != 200) fail_msg("bonus: HTTP %ld %s%s", st, r.error, r.body);
    tl_response_free(&r);

    /* A receipt of two lines: 2 x 100.00 and 1 x 50.00, redeeming 20 points. */
    st = call(f, &r, "POST", "/v1/receipts", f->w.pos_key,
              "{\"receipt_id\":\"err-r1\",\"store\":\"S001\",\"customer\":{\"card\":\"" CARD "\"},"
              "\"redeem_points\":20,\"total\":25000,\"lines\":["
              "{\"sku\":\"A\",\"qty\":2000,\"price\":10000,\"amount\":20000},"
              "{\"sku\":\"B\",\"qty\":1000,\"price\":5000,\"amount\":5000}]}");
    if (st != 201) fail_msg("confirm: HTTP %ld %s%s", st, r.error, r.body);
    tl_response_free(&r);

    f->snapshot = snapshot(f);
    return 0;
}

static int tearDown(void **state)
{
    fixture *f = *state;
    if (!f) return 0;
    tl_server_kill(&f->s);
    tl_world_free(&f->w);
    free(f->snapshot);
    free(f);
    return 0;
}

/* A valid receipt body with one piece of it replaced: the lines, the receipt id, extra
 * top-level members. */
static char *receipt(const char *id, const char *lines, const char *extra)
{
    return tl_strdupf("{\"receipt_id\":\"%s\",\"store\":\"S001\",\"customer\":{\"card\":\"" CARD "\"},"
                      "\"total\":10000,\"lines\":[%s]%s}",
                      id, lines, extra ? extra : "");
}

#define LINE_OK "{\"sku\":\"A\",\"qty\":1000,\"price\":10000,\"amount\":10000}"

/* Checks r's error and frees r; fails the test if it is not the one expected. */
static void checkError(const char *what, tl_response *r, long status, const char *code, const char *field)
{
    if (getenv("LOYAL_TEST_VERBOSE")) print_message("%s: HTTP %ld %s\n", what, r->status, r->body);
    char *problem = tl_check_error(r, status, code, field);
    tl_response_free(r);
    if (problem) {
        print_error("%s: %s\n", what, problem);
        free(problem);
        fail();
    }
}

/* Sends one bad request and checks its error and that nothing changed. */
static void expectError(fixture *f, const char *what, const char *method, const char *path, const char *key,
                        const char *body, long status, const char *code, const char *field)
{
    tl_response r;
    call(f, &r, method, path, key, body);
    checkError(what, &r, status, code, field);
    assertUnchanged(f, what);
}

/* The same with extra request headers ("Name: value", NULL-terminated; may be NULL). */
static void expectErrorWith(fixture *f, const char *what, const char *method, const char *path, const char *key,
                            const char *const *extra, const char *body, long status, const char *code,
                            const char *field)
{
    char auth[128];
    const char *hs[8];
    size_t n = 0;
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hs[n++] = auth;
    }
    if (body) hs[n++] = "Content-Type: application/json";
    for (size_t i = 0; extra && extra[i] && n < 7; i++) hs[n++] = extra[i];
    hs[n] = NULL;
    tl_response r;
    tl_http(&r, f->s.base, method, path, hs, body, (size_t)-1);
    checkError(what, &r, status, code, field);
    assertUnchanged(f, what);
}

/* Posts body (malloc'd; freed here) to /v1/receipts with the POS key and checks its error
 * and that nothing changed. */
static void expectReceiptError(fixture *f, const char *what, long status, const char *code, const char *field,
                               char *body)
{
    expectError(f, what, "POST", "/v1/receipts", f->w.pos_key, body, status, code, field);
    free(body);
}

static void malformed_and_mistyped_json(void **state)
{
    fixture *f = *state;
    const char *k = f->w.pos_key;
    expectError(f, "truncated JSON", "POST", "/v1/receipts", k, "{\"receipt_id\":\"e1\",", 400, "malformed_json", NULL);
    expectError(f, "not JSON at all", "POST", "/v1/receipts", k, "receipt please", 400, "malformed_json", NULL);
    expectError(f, "an empty body", "POST", "/v1/receipts", k, "", 400, "malformed_json", NULL);
    expectError(f, "duplicate keys", "POST", "/v1/receipts", k,
                "{\"receipt_id\":\"e1\",\"receipt_id\":\"e1b\",\"store\":\"S001\",\"total\":10000,\"lines\":[" LINE_OK "]}",
                400, "malformed_json", NULL);
    expectError(f, "a JSON array", "POST", "/v1/receipts", k, "[1,2]", 400, "invalid_type", NULL);

    expectReceiptError(f, "qty as a string", 400, "invalid_type", "lines[0].qty",
                       receipt("e2", "{\"sku\":\"A\",\"qty\":\"1000\",\"price\":10000,\"amount\":10000}", NULL));
    expectReceiptError(f, "price as a JSON fraction", 400, "invalid_type", "lines[0].price",
                       receipt("e3", "{\"sku\":\"A\",\"qty\":1000,\"price\":1.5,\"amount\":10000}", NULL));
    expectReceiptError(f, "price as 10000.0", 400, "invalid_type", "lines[0].price",
                       receipt("e3b", "{\"sku\":\"A\",\"qty\":1000,\"price\":10000.0,\"amount\":10000}", NULL));
    expectReceiptError(f, "redeem_points as a string", 400, "invalid_type", "redeem_points",
                       receipt("e4", LINE_OK, ",\"redeem_points\":\"5\""));
    expectReceiptError(f, "receipt_id as a number", 400, "invalid_type", "receipt_id",
                       tl_strdupf("{\"receipt_id\":42,\"store\":\"S001\",\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "customer as a string", 400, "invalid_type", "customer",
                       tl_strdupf("{\"receipt_id\":\"e5\",\"store\":\"S001\",\"customer\":\"" CARD "\","
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "lines as an object", 400, "invalid_type", "lines",
                       tl_strdupf("{\"receipt_id\":\"e6\",\"store\":\"S001\",\"total\":10000,\"lines\":{\"sku\":\"A\"}}"));
}

static void out_of_range_numbers(void **state)
{
    fixture *f = *state;
    const char *k = f->w.pos_key;
    expectReceiptError(f, "negative quantity", 400, "invalid_value", "lines[0].qty",
                       receipt("e10", "{\"sku\":\"A\",\"qty\":-1000,\"price\":10000,\"amount\":10000}", NULL));
    expectReceiptError(f, "zero quantity", 400, "invalid_value", "lines[0].qty",
                       receipt("e11", "{\"sku\":\"A\",\"qty\":0,\"price\":10000,\"amount\":10000}", NULL));
    expectReceiptError(f, "negative price", 400, "invalid_value", "lines[0].price",
                       receipt("e12", "{\"sku\":\"A\",\"qty\":1000,\"price\":-10000,\"amount\":10000}", NULL));
    expectReceiptError(f, "negative amount", 400, "invalid_value", "lines[0].amount",
                       receipt("e12b", "{\"sku\":\"A\",\"qty\":1000,\"price\":10000,\"amount\":-10000}", NULL));
    expectReceiptError(f, "quantity over 10^9 thousandths", 400, "invalid_value", "lines[0].qty",
                       receipt("e13", "{\"sku\":\"A\",\"qty\":1000000001,\"price\":10000,\"amount\":10000}", NULL));
    expectReceiptError(f, "price over 10^15", 400, "invalid_value", "lines[0].price",
                       receipt("e14", "{\"sku\":\"A\",\"qty\":1000,\"price\":1000000000000001,\"amount\":10000}", NULL));
    expectReceiptError(f, "price beyond 64 bits", 400, "invalid_value", "lines[0].price",
                       receipt("e15", "{\"sku\":\"A\",\"qty\":1000,\"price\":99999999999999999999999,"
                                       "\"amount\":10000}", NULL));
    expectReceiptError(f, "negative redeem_points", 400, "invalid_value", "redeem_points",
                       receipt("e16", LINE_OK, ",\"redeem_points\":-5"));
    /* Two lines at the largest amount each: the total is over 10^15. */
    expectReceiptError(f, "total over 10^15", 400, "invalid_value", "total",
                       tl_strdupf("{\"receipt_id\":\"e17\",\"store\":\"S001\",\"total\":2000000000000000,\"lines\":["
                                  "{\"sku\":\"A\",\"qty\":1000,\"price\":1000000000000000,\"amount\":1000000000000000},"
                                  "{\"sku\":\"B\",\"qty\":1000,\"price\":1000000000000000,\"amount\":1000000000000000}]}"));
    expectReceiptError(f, "amount over qty x price", 400, "amount_exceeds_price", "lines[0].amount",
                       receipt("e18", "{\"sku\":\"A\",\"qty\":1000,\"price\":10000,\"amount\":10001}", NULL));
    expectReceiptError(f, "total not the sum of the lines", 400, "total_mismatch", "total",
                       tl_strdupf("{\"receipt_id\":\"e19\",\"store\":\"S001\",\"total\":10001,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "no lines", 400, "invalid_value", "lines",
                       tl_strdupf("{\"receipt_id\":\"e19b\",\"store\":\"S001\",\"total\":0,\"lines\":[]}"));
    char path[128];
    snprintf(path, sizeof path, "/v1/customers/%lld/ledger?limit=0", f->customer);
    expectError(f, "ledger limit 0", "GET", path, k, NULL, 400, "invalid_value", "limit");
    snprintf(path, sizeof path, "/v1/customers/%lld/balance?expiring_days=-1", f->customer);
    expectError(f, "negative expiring_days", "GET", path, k, NULL, 400, "invalid_value", "expiring_days");
}

static void unknown_and_missing_fields(void **state)
{
    fixture *f = *state;
    const char *k = f->w.pos_key;
    expectReceiptError(f, "unknown top-level field", 400, "unknown_field", "colour",
                       receipt("e20", LINE_OK, ",\"colour\":\"red\""));
    expectReceiptError(f, "unknown field in a line", 400, "unknown_field", "lines[0].colour",
                       receipt("e21", "{\"sku\":\"A\",\"qty\":1000,\"price\":10000,\"amount\":10000,"
                                       "\"colour\":\"red\"}", NULL));
    expectReceiptError(f, "unknown field in the customer", 400, "unknown_field", "customer.cart",
                       tl_strdupf("{\"receipt_id\":\"e21b\",\"store\":\"S001\",\"customer\":{\"cart\":\"" CARD "\"},"
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "no receipt_id", 400, "missing_field", "receipt_id",
                       tl_strdupf("{\"store\":\"S001\",\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "receipt_id null", 400, "missing_field", "receipt_id",
                       tl_strdupf("{\"receipt_id\":null,\"store\":\"S001\",\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "empty receipt_id", 400, "invalid_value", "receipt_id",
                       tl_strdupf("{\"receipt_id\":\"\",\"store\":\"S001\",\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "a line without sku", 400, "missing_field", "lines[0].sku",
                       tl_strdupf("{\"receipt_id\":\"e22\",\"store\":\"S001\",\"total\":10000,"
                                  "\"lines\":[{\"qty\":1000,\"price\":10000,\"amount\":10000}]}"));
    expectReceiptError(f, "a time without an offset", 400, "invalid_value", "time",
                       receipt("e23", LINE_OK, ",\"time\":\"2026-11-24T10:00:00\""));
    expectReceiptError(f, "a phone that is no phone", 400, "invalid_identifier", "customer.phone",
                       tl_strdupf("{\"receipt_id\":\"e24\",\"store\":\"S001\",\"customer\":{\"phone\":\"call me\"},"
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "a customer named twice", 400, "invalid_value", "customer",
                       tl_strdupf("{\"receipt_id\":\"e25\",\"store\":\"S001\","
                                  "\"customer\":{\"card\":\"" CARD "\",\"id\":%lld},"
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}",
                                  f->customer));
    expectError(f, "unknown field on enrolment", "POST", "/v1/customers", k, "{\"card\":\"ERR-NEW\",\"nickname\":\"x\"}",
                400, "unknown_field", "nickname");
    expectError(f, "an identifier that belongs to another", "POST", "/v1/customers", k, "{\"card\":\"" CARD "\"}", 409,
                "identifier_taken", "card");
    char path[96];
    snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", f->customer);
    expectError(f, "an adjustment without its id", "POST", path, f->w.admin_key, "{\"points\":5}", 400, "missing_field",
                "adjustment_id");
    expectError(f, "an adjustment of 0 points", "POST", path, f->w.admin_key,
                "{\"adjustment_id\":\"err-zero\",\"points\":0}", 400, "invalid_value", "points");
    expectError(f, "a negative bonus", "POST", path, f->w.admin_key,
                "{\"adjustment_id\":\"err-neg\",\"points\":-5,\"kind\":\"bonus\"}", 400, "invalid_value", "points");
    expectError(f, "an unknown adjustment kind", "POST", path, f->w.admin_key,
                "{\"adjustment_id\":\"err-kind\",\"points\":5,\"kind\":\"gift\"}", 400, "invalid_value", "kind");
}

static void unknown_customer_receipt_and_endpoint(void **state)
{
    fixture *f = *state;
    const char *k = f->w.pos_key;
    expectReceiptError(f, "receipt for an unknown card", 404, "customer_not_found", "customer.card",
                       tl_strdupf("{\"receipt_id\":\"e30\",\"store\":\"S001\",\"customer\":{\"card\":\"NO-SUCH-CARD\"},"
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectReceiptError(f, "receipt for an unknown customer id", 404, "customer_not_found", NULL,
                       tl_strdupf("{\"receipt_id\":\"e31\",\"store\":\"S001\",\"customer\":{\"id\":999999},"
                                  "\"total\":10000,\"lines\":[" LINE_OK "]}"));
    expectError(f, "unknown customer id", "GET", "/v1/customers/999999", k, NULL, 404, "customer_not_found", "id");
    expectError(f, "customer id that is no number", "GET", "/v1/customers/abc", k, NULL, 404, "customer_not_found", "id");
    expectError(f, "balance of an unknown customer", "GET", "/v1/customers/999999/balance", k, NULL, 404,
                "customer_not_found", "id");
    expectError(f, "ledger of an unknown customer", "GET", "/v1/customers/999999/ledger", k, NULL, 404,
                "customer_not_found", "id");
    expectError(f, "bonus for an unknown customer", "POST", "/v1/customers/999999/adjustments", f->w.admin_key,
                "{\"adjustment_id\":\"err-nobody\",\"points\":5,\"kind\":\"bonus\"}", 404, "customer_not_found", NULL);
    expectError(f, "look-up of an unknown card", "GET", "/v1/customers?card=NO-SUCH-CARD", k, NULL, 404,
                "customer_not_found", "card");
    expectError(f, "unknown receipt", "GET", "/v1/receipts/no-such-receipt", k, NULL, 404, "receipt_not_found", NULL);
    /* The receipts refused above must not exist. */
    expectError(f, "refused receipt e30", "GET", "/v1/receipts/e30", k, NULL, 404, "receipt_not_found", NULL);
    expectError(f, "refused receipt e31", "GET", "/v1/receipts/e31", k, NULL, 404, "receipt_not_found", NULL);
    expectError(f, "unknown endpoint", "GET", "/v1/stores", k, NULL, 404, "not_found", NULL);
    expectError(f, "wrong method", "DELETE", "/v1/receipts/err-r1", f->w.admin_key, NULL, 405, "method_not_allowed", NULL);
}

static void oversized_bodies(void **state)
{
    fixture *f = *state;
    size_t n = (1u << 20) + 4096;
    char *big = malloc(n + 1);
    assert_non_null(big);
    /* A syntactically fine receipt whose store name is over a MiB. */
    const char *head = "{\"receipt_id\":\"e40\",\"total\":10000,\"lines\":[" LINE_OK "],\"store\":\"";
    size_t hl = strlen(head);
    memcpy(big, head, hl);
    memset(big + hl, 'x', n - hl - 2);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = '\0';
    expectError(f, "body over 1 MiB", "POST", "/v1/receipts", f->w.pos_key, big, 413, "body_too_large", NULL);
    /* The same without "Expect: 100-continue": the server reads the body and refuses it. */
    const char *noExpect[] = {"Expect:", NULL};
    expectErrorWith(f, "body over 1 MiB, sent at once", "POST", "/v1/receipts", f->w.pos_key, noExpect, big, 413,
                    "body_too_large", NULL);
    free(big);
    expectError(f, "receipt e40 was not stored", "GET", "/v1/receipts/e40", f->w.pos_key, NULL, 404,
                "receipt_not_found", NULL);

    /* 1001 lines of 0.01 RUB: within 1 MiB, but more lines than a receipt may have. */
    size_t cap = 1001 * 64 + 256, len = 0;
    char *many = malloc(cap);
    assert_non_null(many);
    len += (size_t)snprintf(many + len, cap - len, "{\"receipt_id\":\"e41\",\"store\":\"S001\",\"total\":1001,\"lines\":[");
    for (int i = 0; i < 1001; i++)
        len += (size_t)snprintf(many + len, cap - len, "%s{\"sku\":\"A\",\"qty\":1000,\"price\":1,\"amount\":1}", i ? "," : "");
    snprintf(many + len, cap - len, "]}");
    expectError(f, "1001 lines", "POST", "/v1/receipts", f->w.pos_key, many, 413, "too_many_lines", "lines");
    free(many);
}

static void credentials_and_roles(void **state)
{
    fixture *f = *state;
    char *b = receipt("e50", LINE_OK, NULL);
    expectError(f, "no Authorization", "POST", "/v1/receipts", NULL, b, 401, "unauthorized", NULL);
    expectError(f, "unknown key", "POST", "/v1/receipts", "ly_0000000000000000000000000000000000000000", b, 401,
                "unauthorized", NULL);
    expectError(f, "garbage key", "POST", "/v1/receipts", "not-a-key", b, 401, "unauthorized", NULL);
    expectError(f, "revoked key", "POST", "/v1/receipts", f->revoked_key, b, 401, "unauthorized", NULL);
    free(b);
    {
        /* A scheme other than Bearer; and the challenge in WWW-Authenticate. */
        tl_response r;
        char auth[128];
        snprintf(auth, sizeof auth, "Authorization: Basic %s", f->w.pos_key);
        const char *hs[] = {auth, NULL};
        tl_http(&r, f->s.base, "GET", "/v1/receipts/err-r1", hs, NULL, 0);
        char *www = tl_response_header(&r, "WWW-Authenticate");
        bool bearer = www && strncmp(www, "Bearer", 6) == 0;
        free(www);
        checkError("Basic authorization", &r, 401, "unauthorized", NULL);
        if (!bearer) fail_msg("a 401 without \"WWW-Authenticate: Bearer\"");
    }
    char path[96];
    snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", f->customer);
    expectError(f, "pos key on an admin endpoint", "POST", path, f->w.pos_key,
                "{\"adjustment_id\":\"err-pos\",\"points\":500,\"kind\":\"bonus\"}", 403, "forbidden", NULL);
    expectError(f, "no key on an admin endpoint", "POST", path, NULL,
                "{\"adjustment_id\":\"err-nokey\",\"points\":500,\"kind\":\"bonus\"}", 401, "unauthorized", NULL);
    snprintf(path, sizeof path, "/v1/customers/%lld", f->customer);
    expectError(f, "pos key changing a profile", "PATCH", path, f->w.pos_key, "{\"name\":\"Mallory\"}", 403, "forbidden",
                NULL);
    snprintf(path, sizeof path, "/v1/customers/%lld/merge", f->customer);
    expectError(f, "pos key merging", "POST", path, f->w.pos_key, "{\"from\":1}", 403, "forbidden", NULL);
}

static void business_rules(void **state)
{
    fixture *f = *state;
    const char *k = f->w.pos_key;
    /* err-r1 bought 2 of A: returning 3 is more than bought. */
    expectError(f, "return of more than bought", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret1\",\"lines\":[{\"line\":0,\"qty\":3000}]}", 422, "return_exceeds_purchase",
                "lines[0].qty");
    expectError(f, "return of more than bought, by sku", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret1b\",\"lines\":[{\"sku\":\"B\",\"qty\":1001}]}", 422, "return_exceeds_purchase",
                "lines[0].qty");
    expectError(f, "return of a line that does not exist", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret2\",\"lines\":[{\"line\":5,\"qty\":1000}]}", 422, "line_not_found",
                "lines[0].line");
    expectError(f, "return of an sku not on the receipt", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret2b\",\"lines\":[{\"sku\":\"ZZZ\",\"qty\":1000}]}", 422, "line_not_found", NULL);
    expectError(f, "return on an unknown receipt", "POST", "/v1/receipts/no-such/returns", k,
                "{\"return_id\":\"err-ret3\",\"lines\":[{\"line\":0,\"qty\":1000}]}", 404, "receipt_not_found", NULL);

    /* 100.00 RUB may take at most 50 points (max share 50%). */
    expectReceiptError(f, "redeem over the receipt's maximum", 422, "redeem_exceeds_max", "redeem_points",
                       receipt("e60", LINE_OK, ",\"redeem_points\":51"));
    /* The customer has 1000 - 20 = 980 available: a big receipt cannot take 981. */
    expectReceiptError(f, "redeem over the balance", 422, "redeem_exceeds_max", "redeem_points",
                       tl_strdupf("{\"receipt_id\":\"e61\",\"store\":\"S001\",\"customer\":{\"card\":\"" CARD "\"},"
                                  "\"redeem_points\":981,\"total\":1000000,"
                                  "\"lines\":[{\"sku\":\"TV\",\"qty\":1000,\"price\":1000000,\"amount\":1000000}]}"));
    expectReceiptError(f, "redeem without a customer", 422, "customer_required", "redeem_points",
                       tl_strdupf("{\"receipt_id\":\"e62\",\"store\":\"S001\",\"redeem_points\":5,\"total\":10000,"
                                  "\"lines\":[" LINE_OK "]}"));
    char path[96];
    snprintf(path, sizeof path, "/v1/customers/%lld/adjustments", f->customer);
    expectError(f, "taking more points than available", "POST", path, f->w.admin_key,
                "{\"adjustment_id\":\"err-take\",\"points\":-981}", 422, "insufficient_points", "points");
    snprintf(path, sizeof path, "/v1/customers/%lld/merge", f->customer);
    {
        char body[64];
        snprintf(body, sizeof body, "{\"from\":%lld}", f->customer);
        expectError(f, "merge into itself", "POST", path, f->w.admin_key, body, 422, "merge_into_self", NULL);
    }

    /* err-r1 again with another body. */
    expectError(f, "receipt id reused with another body", "POST", "/v1/receipts", k,
                "{\"receipt_id\":\"err-r1\",\"store\":\"S001\",\"customer\":{\"card\":\"" CARD "\"},"
                "\"total\":10000,\"lines\":[" LINE_OK "]}",
                409, "receipt_conflict", "receipt_id");

    /* A real return, then its id reused with another body. */
    const char *ret = "{\"return_id\":\"err-ret-ok\",\"lines\":[{\"sku\":\"B\",\"qty\":1000}]}";
    tl_response r;
    long st = call(f, &r, "POST", "/v1/receipts/err-r1/returns", k, ret);
    if (st != 201) fail_msg("return: HTTP %ld %s%s", st, r.error, r.body);
    char *first = r.body;
    r.body = NULL;
    tl_response_free(&r);
    f->returns++;
    resnapshot(f);
    expectError(f, "return id reused with another body", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret-ok\",\"lines\":[{\"sku\":\"A\",\"qty\":1000}]}", 409, "return_conflict",
                "return_id");
    /* The same return again is a replay: same answer, nothing changes. */
    st = call(f, &r, "POST", "/v1/receipts/err-r1/returns", k, ret);
    if (st != 201 || strcmp(r.body, first) != 0)
        fail_msg("return replay: HTTP %ld %s\n  first answer: %s", st, r.body, first);
    char *replay = tl_response_header(&r, "Idempotent-Replay");
    if (!replay || strcmp(replay, "true") != 0) fail_msg("a replayed return lacks \"Idempotent-Replay: true\"");
    free(replay);
    tl_response_free(&r);
    free(first);
    assertUnchanged(f, "return replay");
    expectError(f, "nothing left to return", "POST", "/v1/receipts/err-r1/returns", k,
                "{\"return_id\":\"err-ret-b2\",\"lines\":[{\"sku\":\"B\",\"qty\":1}]}", 422, "return_exceeds_purchase",
                "lines[0].qty");

    /* Enrolment with an Idempotency-Key, then the key reused with another body. */
    const char *key1[] = {"Idempotency-Key: err-enrol-1", NULL};
    {
        char auth[128];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", k);
        const char *hs[] = {auth, "Content-Type: application/json", key1[0], NULL};
        tl_http(&r, f->s.base, "POST", "/v1/customers", hs, "{\"card\":\"ERR-NEW-1\"}", (size_t)-1);
        if (r.status != 201) fail_msg("enrol with a key: HTTP %ld %s%s", r.status, r.error, r.body);
        tl_response_free(&r);
        f->others++;
        resnapshot(f);
    }
    expectErrorWith(f, "Idempotency-Key reused with another body", "POST", "/v1/customers", k, key1,
                    "{\"card\":\"ERR-NEW-2\"}", 409, "idempotency_conflict", "Idempotency-Key");
    expectError(f, "the conflicting enrolment made nobody", "GET", "/v1/customers?card=ERR-NEW-2", k, NULL, 404,
                "customer_not_found", "card");
}

/* The value of a metric without labels in Prometheus text, or -1. */
static long long metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, name, n) == 0 && p[n] == ' ') return atoll(p + n + 1);
    return -1;
}

/* Runs last in each fixture: after all the errors the server is healthy and consistent,
 * and it confirmed the fixture's one receipt and no other. */
static void serverStillHealthy(fixture *f)
{
    tl_response r;
    long st = call(f, &r, "GET", "/metrics", NULL, NULL);
    if (st != 200) fail_msg("GET /metrics: HTTP %ld %s%s", st, r.error, r.body);
    long long confirmed = metric(r.body, "loyal_receipts_confirmed_total");
    long long returns = metric(r.body, "loyal_returns_total");
    if (confirmed != 1 || returns != f->returns)
        fail_msg("/metrics counts %lld receipts and %lld returns, expected 1 and %d:\n%s", confirmed, returns,
                 f->returns, r.body);
    tl_response_free(&r);
    st = call(f, &r, "GET", "/health", NULL, NULL);
    if (st != 200) fail_msg("GET /health: HTTP %ld %s%s", st, r.error, r.body);
    tl_response_free(&r);
    assertUnchanged(f, "the error tests");
    assert_int_equal(tl_server_stop(&f->s), 0);
    assert_int_equal(tl_world_check(&f->w), 0);
}

/* Each group of bad requests runs on its own fresh server and ends with the health check. */
#define GROUP(name)                                                                                     \
    static void name##_change_nothing(void **state)                                                   \
    {                                                                                                   \
        name(state);                                                                                    \
        serverStillHealthy(*state);                                                                     \
    }
GROUP(malformed_and_mistyped_json)
GROUP(out_of_range_numbers)
GROUP(unknown_and_missing_fields)
GROUP(unknown_customer_receipt_and_endpoint)
GROUP(oversized_bodies)
GROUP(credentials_and_roles)
GROUP(business_rules)

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(malformed_and_mistyped_json_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(out_of_range_numbers_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(unknown_and_missing_fields_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(unknown_customer_receipt_and_endpoint_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(oversized_bodies_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(credentials_and_roles_change_nothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(business_rules_change_nothing, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
