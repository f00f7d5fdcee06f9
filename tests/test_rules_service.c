/*
 * test_rules_service.c - the rules through the service on a real database: what the
 * service tells the rules about the customer (first purchase, attributes flattened to
 * facts), that an anonymous receipt gets the discounts but no points, and that a return of
 * a rule-discounted line gives back the share of what was paid and takes back the line's
 * bonus points.
 */
#include "testlib.h"

#include "os/os.h"
#include "service/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *programText =
    "{\"name\":\"T\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
    "\"phone\":{\"country_code\":\"7\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"},"
    "\"points\":{\"value\":\"1.00\",\"max_share_percent\":\"50\",\"hold_days\":14,\"expiry_days\":365},"
    "\"rules\":["
    "{\"id\":\"welcome\",\"conditions\":{\"first_purchase\":true},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":100}},"
    "{\"id\":\"moscow-families\",\"conditions\":{\"attributes\":["
    "  {\"name\":\"city\",\"equals\":\"Moscow\"},{\"name\":\"kids.count\",\"in\":[\"2\",\"3\"]}]},"
    " \"effect\":{\"type\":\"points_fixed\",\"points\":7}},"
    "{\"id\":\"tea-20\",\"conditions\":{\"lines\":{\"categories\":[\"tea\"]}},"
    " \"effect\":{\"type\":\"discount_percent\",\"percent\":\"20\"}},"
    "{\"id\":\"tea-bonus\",\"conditions\":{\"lines\":{\"categories\":[\"tea\"]}},"
    " \"effect\":{\"type\":\"points_percent\",\"percent\":\"10\"}}"
    "]}";

typedef struct fixture {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    int64_t anna, boris;
    ly_line lines[2];
} fixture;

static int64_t enrol(fixture *f, const char *card, const char *attributes)
{
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &f->s.arena, .now = tl_at("2026-11-01T00:00:00Z")};
    op.in.create.ids[0] = (ly_identifier){LY_ID_CARD, card};
    op.in.create.n_ids = 1;
    if (attributes) {
        op.in.create.set_attributes = true;
        op.in.create.attributes = attributes;
    }
    assert_int_equal(ly_service_run(f->s.svc, &op), LY_OK);
    return op.out.customer.id;
}

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tl_svc_open(&f->s, "rsvc", programText);
    f->anna = enrol(f, "CARD-A", "{\"city\":\"Moscow\",\"kids\":{\"count\":2}}");
    f->boris = enrol(f, "CARD-B", "{\"city\":\"Tver\"}");
    *state = f;
    return 0;
}

/* Tea 3 x 100.00 and milk 100.00. */
static ly_err buy(fixture *f, const char *id, const char *card, ly_op *op)
{
    f->lines[0] = (ly_line){.sku = "TEA", .category = "tea", .qty = 3000, .price = 10000, .amount = 30000};
    f->lines[1] = (ly_line){.sku = "MILK", .category = "dairy", .qty = 1000, .price = 10000, .amount = 10000};
    memset(op, 0, sizeof *op);
    op->kind = LY_OP_CONFIRM;
    op->arena = &f->s.arena;
    op->now = tl_at("2026-11-25T09:00:00Z");
    ly_checkout *c = &op->in.confirm;
    c->receipt = (ly_receipt){.receipt_id = id, .store = "S1", .channel = LY_SALES_STORE,
                              .time = op->now, .utc_offset_min = 180, .total = 40000,
                              .lines = f->lines, .n_lines = 2};
    if (card) c->who = (ly_who){.kind = LY_ID_CARD, .value = card};
    ly_os_hash(id, strlen(id), op->request_hash);
    return ly_service_run(f->s.svc, op);
}

static bool applied(const ly_pricing *p, const char *id)
{
    for (size_t i = 0; i < p->n_rules; i++)
        if (strcmp(p->rules[i].rule->id, id) == 0) return p->rules[i].applied;
    return false;
}

static void the_first_purchase_and_attributes_reach_the_rules(void **state)
{
    fixture *f = *state;
    ly_op op;
    assert_int_equal(buy(f, "R-1", "CARD-A", &op), LY_OK);
    const ly_pricing *p = &op.out.confirm.pricing;
    assert_true(applied(p, "welcome"));
    assert_true(applied(p, "moscow-families")); /* city and the nested kids.count */
    /* Tea 300.00 - 20% = 240.00; 10% of it = 24 bonus; 5% of 340.00 paid = 17. */
    assert_int_equal(p->rule_discount, 6000);
    assert_int_equal(p->bonus, 100 + 7 + 24);
    assert_int_equal(p->earn, 17 + 131);
    assert_int_equal(op.out.confirm.after.pending, 148);

    assert_int_equal(buy(f, "R-2", "CARD-A", &op), LY_OK);
    assert_false(applied(&op.out.confirm.pricing, "welcome")); /* not the first any more */

    assert_int_equal(buy(f, "R-3", "CARD-B", &op), LY_OK);
    assert_true(applied(&op.out.confirm.pricing, "welcome"));
    assert_false(applied(&op.out.confirm.pricing, "moscow-families"));
}

static void an_anonymous_receipt_gets_discounts_but_no_points(void **state)
{
    fixture *f = *state;
    ly_op op;
    assert_int_equal(buy(f, "R-9", NULL, &op), LY_OK);
    const ly_pricing *p = &op.out.confirm.pricing;
    assert_int_equal(p->rule_discount, 6000);
    assert_int_equal(p->earn, 0);
    assert_int_equal(p->bonus, 0);
    assert_false(applied(p, "welcome"));
    assert_false(applied(p, "tea-bonus"));
    assert_true(applied(p, "tea-20"));
}

static void a_return_of_a_discounted_line_refunds_what_was_paid_for_it(void **state)
{
    fixture *f = *state;
    ly_op op;
    assert_int_equal(buy(f, "R-1", "CARD-A", &op), LY_OK);
    const ly_line_price *tea = &op.out.confirm.pricing.lines[0];
    assert_int_equal(tea->discount, 6000);
    /* Tea earns: 24 bonus, its share of the base (12 of 17) and of the fixed points. */
    ly_points tea_points = tea->points_earned;
    assert_true(tea_points >= 24 + 12);

    ly_return_request_line rl = {.line = 0, .qty = 1000};
    ly_op ro = {.kind = LY_OP_RETURN, .arena = &f->s.arena, .now = tl_at("2026-11-26T09:00:00Z")};
    ro.in.ret = (ly_return_request){.receipt_id = "R-1", .return_id = "RET-1", .time = ro.now,
                                    .lines = &rl, .n_lines = 1};
    ly_os_hash("RET-1", 5, ro.request_hash);
    assert_int_equal(ly_service_run(f->s.svc, &ro), LY_OK);
    assert_int_equal(ro.out.ret.ret.amount, 8000); /* a third of the 240.00 paid */
    assert_int_equal(ro.out.ret.ret.points_taken, tea_points / 3);

    ly_op full = {.kind = LY_OP_RETURN, .arena = &f->s.arena, .now = tl_at("2026-11-26T10:00:00Z")};
    full.in.ret = (ly_return_request){.receipt_id = "R-1", .return_id = "RET-2", .time = full.now,
                                      .full = true};
    ly_os_hash("RET-2", 5, full.request_hash);
    assert_int_equal(ly_service_run(f->s.svc, &full), LY_OK);
    assert_int_equal(ro.out.ret.ret.amount + full.out.ret.ret.amount, 34000);
    assert_int_equal(full.out.ret.after.pending, 0);
    assert_int_equal(full.out.ret.after.available, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_first_purchase_and_attributes_reach_the_rules, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(an_anonymous_receipt_gets_discounts_but_no_points, setUp, tl_svc_teardown),
        cmocka_unit_test_setup_teardown(a_return_of_a_discounted_line_refunds_what_was_paid_for_it, setUp, tl_svc_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
