/*
 * test_rules_property.c - properties of pricing with rules over many random programs and
 * receipts (a deterministic PRNG, so a failure repeats):
 *  - in the core: the discount never exceeds the receipt nor any line its amount, line
 *    figures add up to the receipt's, redemption never exceeds its cap (of the payable
 *    lines only), points are never negative, excluded lines neither earn nor take points;
 *  - through the service on a real database: confirms with random redemptions, random
 *    partial returns, then a full return: the returns add up exactly to what was paid,
 *    earned and spent, never more at any step, and the balance is restored exactly.
 */
#include "testlib.h"

#include "core/core.h"
#include "os/os.h"
#include "program/program.h"
#include "service/service.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * A deterministic PRNG (splitmix64) and random programs
 * ------------------------------------------------------------------------------------- */

static uint64_t rngState;
static uint64_t rnd(void)
{
    uint64_t z = (rngState += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t between(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }

static const char *const cats[] = {"tea", "coffee", "pastry", "dairy", "tobacco", "yogurt"};
static const char *const brands[] = {"Dilmah", "Roastery", "Farm", "Acme"};
#define NCATS 6
#define NBRANDS 4

typedef struct text {
    char buf[8192];
    size_t len;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof t->buf - t->len);
    t->len += (size_t)n;
}

static void randomSelector(text *t, bool with_exclude)
{
    put(t, "{\"categories\":[\"%s\"]", cats[between(0, NCATS - 1)]);
    if (rnd() % 2) put(t, ",\"brands\":[\"%s\"]", brands[between(0, NBRANDS - 1)]);
    if (with_exclude && rnd() % 3 == 0) put(t, ",\"exclude_categories\":[\"%s\"]", cats[between(0, NCATS - 1)]);
    put(t, "}");
}

static const char *const roundings[] = {"down", "half_up", "half_even", "up"};

static void randomEffect(text *t)
{
    switch (between(0, 7)) {
    case 0: put(t, "{\"type\":\"points_percent\",\"percent\":\"%d.%d\",\"rounding\":\"%s\"}",
                (int)between(0, 30), (int)between(1, 9), roundings[between(0, 3)]); break;
    case 1: put(t, "{\"type\":\"points_fixed\",\"points\":%d}", (int)between(1, 500)); break;
    case 2: put(t, "{\"type\":\"points_multiplier\",\"multiplier\":\"%d.%02d\"}", (int)between(1, 4),
                (int)between(1, 99)); break;
    case 3: put(t, "{\"type\":\"discount_percent\",\"percent\":\"%d\",\"rounding\":\"%s\"}",
                (int)between(1, 100), roundings[between(0, 3)]); break;
    case 4: put(t, "{\"type\":\"discount_fixed\",\"amount\":\"%d.%02d\"}", (int)between(0, 300),
                (int)between(1, 99)); break;
    case 5: put(t, "{\"type\":\"fixed_price\",\"price\":\"%d.%02d\"}", (int)between(0, 100),
                (int)between(0, 99)); break;
    case 6: put(t, "{\"type\":\"gift\",\"buy\":%d,\"get\":%d}", (int)between(1, 3), (int)between(1, 2)); break;
    default: {
        static const char *const benefit[] = {"\"price\":\"%d.00\"", "\"percent\":\"%d\"",
                                              "\"amount\":\"%d.00\"", "\"points\":%d"};
        put(t, "{\"type\":\"bundle\",\"items\":[");
        randomSelector(t, false);
        put(t, ",{\"categories\":[\"%s\"],\"qty\":%d}],", cats[between(0, NCATS - 1)], (int)between(1, 2));
        put(t, benefit[between(0, 3)], (int)between(1, 100));
        put(t, "}");
    }
    }
}

/* A random but valid program: 5% base earn, a point of 1.00 or 0.01, random limits, up to
 * six random rules. */
static char *randomProgram(int hold_days)
{
    text t = {.len = 0};
    bool cents = rnd() % 2;
    put(&t, "{\"name\":\"P\",\"currency\":\"RUB\",\"minor_units\":2,\"time_zone\":\"Europe/Moscow\","
            "\"phone\":{\"country_code\":\"7\"},\"earn\":{\"rate_percent\":\"%d\",\"base\":\"%s\","
            "\"rounding\":\"%s\"",
        (int)between(0, 10), rnd() % 2 ? "paid" : "total", roundings[between(0, 3)]);
    if (rnd() % 2) put(&t, ",\"exclude\":{\"categories\":[\"tobacco\"]}");
    if (rnd() % 2) put(&t, ",\"bonus_cap_points\":%d", (int)between(1, 400));
    put(&t, "},\"points\":{\"value\":\"%s\",\"max_share_percent\":\"%d\",\"min_redeem\":%d,"
            "\"hold_days\":%d,\"expiry_days\":365",
        cents ? "0.01" : "1.00", (int)between(0, 100), (int)between(1, 20), hold_days);
    if (rnd() % 2) put(&t, ",\"no_redeem\":{\"categories\":[\"tobacco\",\"%s\"]}", cats[between(0, NCATS - 1)]);
    if (rnd() % 3 == 0) put(&t, ",\"min_balance\":%d", (int)between(1, 2000));
    put(&t, "},\"rules\":[");
    int n = (int)between(0, 6);
    for (int i = 0; i < n; i++) {
        put(&t, "%s{\"id\":\"r%d\",\"priority\":%d", i ? "," : "", i, (int)between(0, 3));
        if (rnd() % 5 == 0) put(&t, ",\"exclusive\":true");
        put(&t, ",\"conditions\":{\"stores\":[\"S1\",\"S2\"]");
        if (rnd() % 2) {
            put(&t, ",\"lines\":");
            randomSelector(&t, true);
        }
        if (rnd() % 4 == 0) put(&t, ",\"hours\":{\"from\":\"%02d:00\",\"to\":\"%02d:30\"}", (int)between(0, 23), (int)between(0, 23));
        if (rnd() % 4 == 0) put(&t, ",\"weekdays\":[\"mon\",\"wed\",\"sat\"]");
        if (rnd() % 4 == 0) put(&t, ",\"min_amount\":{\"amount\":\"%d.00\",\"of\":\"%s\"}",
                                (int)between(1, 800), rnd() % 2 ? "eligible" : "receipt");
        if (rnd() % 6 == 0) put(&t, ",\"first_purchase\":%s", rnd() % 2 ? "true" : "false");
        put(&t, "},\"effect\":");
        randomEffect(&t);
        switch (between(0, 3)) {
        case 0: put(&t, ",\"cap\":{\"points\":%d}", (int)between(1, 300)); break;
        case 1: put(&t, ",\"cap\":{\"discount\":\"%d.00\"}", (int)between(1, 300)); break;
        case 2: put(&t, ",\"cap\":{\"points\":%d,\"discount\":\"%d.00\"}", (int)between(1, 300),
                    (int)between(1, 300)); break;
        default: break;
        }
        put(&t, "}");
    }
    put(&t, "]}");
    return tl_strdupf("%s", t.buf);
}

#define MAXL 8

typedef struct rcpt {
    ly_line lines[MAXL];
    ly_receipt r;
    char id[32];
} rcpt;

static void randomReceipt(rcpt *x, int k, const char *day)
{
    memset(x, 0, sizeof *x);
    size_t n = (size_t)between(1, 6);
    static const char *const skus[] = {"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"};
    static const ly_qty qtys[] = {1000, 2000, 3000, 1500, 250, 5000, 1000};
    for (size_t i = 0; i < n; i++) {
        ly_line *l = &x->lines[i];
        l->sku = skus[between(0, 9)];
        l->category = cats[between(0, NCATS - 1)];
        l->brand = rnd() % 3 ? brands[between(0, NBRANDS - 1)] : NULL;
        l->qty = qtys[between(0, 6)];
        l->price = rnd() % 10 == 0 ? 0 : between(1, 60000);
        l->amount = l->qty * l->price / 1000;
        if (rnd() % 5 == 0) l->amount -= l->amount / 10; /* the till's own discount */
        x->r.total += l->amount;
    }
    snprintf(x->id, sizeof x->id, "R-%d", k);
    char when[40];
    snprintf(when, sizeof when, "%sT%02d:%02d:00+03:00", day, (int)between(0, 23), (int)between(0, 59));
    assert_true(ly_time_parse(when, &x->r.time, &x->r.utc_offset_min));
    x->r.receipt_id = x->id;
    x->r.store = rnd() % 5 ? "S1" : "S3";
    x->r.payment = "card";
    x->r.channel = LY_SALES_STORE;
    x->r.lines = x->lines;
    x->r.n_lines = n;
}

/* ---------------------------------------------------------------------------------------
 * The core
 * ------------------------------------------------------------------------------------- */

static void pricing_invariants_hold_for_random_programs_and_receipts(void **state)
{
    (void)state;
    rngState = 20261125;
    long priced = 0, with_rules = 0;
    for (int prog = 0; prog < 300; prog++) {
        char *src = randomProgram(14);
        ly_program p;
        ly_error err;
        ly_error_clear(&err);
        if (ly_program_parse(src, strlen(src), &p, &err) != LY_OK)
            fail_msg("program %d: %s: %s\n%s", prog, err.field, err.message, src);
        for (int k = 0; k < 40; k++) {
            rcpt x;
            randomReceipt(&x, k, "2026-11-25");
            ly_line_price lp[MAXL];
            ly_line_rules lr[MAXL];
            ly_rule_result rr[8];
            ly_pricing out = {.lines = lp, .line_rules = lr, .rules = rr};
            ly_price_input in = {.available = rnd() % 4 ? between(0, 100000) : 0,
                                 .identified = rnd() % 2, .prior_receipts = between(0, 1)};
            ly_error_clear(&err);
            if (ly_receipt_price(&p, &x.r, &in, &out, &err) != LY_OK)
                fail_msg("program %d receipt %d: %s %s %s\n%s", prog, k, err.code, err.field,
                         err.message, src);
            /* Now spend a random amount up to the cap. */
            in.redeem = out.max_redeem ? between(0, out.max_redeem) : 0;
            if (in.redeem > 0 && in.redeem < p.min_redeem) in.redeem = out.max_redeem;
            ly_err rc = ly_receipt_price(&p, &x.r, &in, &out, &err);
            if (rc != LY_OK) fail_msg("program %d receipt %d: %s %s\n%s", prog, k, err.code, err.message, src);
            priced++;
            with_rules += out.rule_discount > 0 || out.bonus > 0;
            assert_true(out.discount >= 0 && out.discount <= out.total);
            assert_int_equal(out.paid, out.total - out.discount);
            assert_true(out.redeem <= out.max_redeem && out.redeem <= in.available + 0);
            ly_money payable = 0, disc = 0, rdisc = 0;
            ly_points red = 0, earn = 0, bonus = 0;
            for (size_t i = 0; i < x.r.n_lines; i++) {
                const ly_line *l = &x.lines[i];
                assert_true(lp[i].discount >= 0 && lp[i].discount <= l->amount);
                assert_true(lp[i].points_earned >= 0 && lp[i].points_redeemed >= 0);
                assert_true(lr[i].discount >= 0 && lr[i].points >= 0 && lr[i].points <= lp[i].points_earned);
                assert_int_equal(lp[i].discount, lr[i].discount + lp[i].points_redeemed * p.point_value);
                if (ly_selector_names(&p.no_redeem, l)) assert_int_equal(lp[i].points_redeemed, 0);
                else payable += l->amount - lr[i].discount;
                if (ly_selector_names(&p.no_earn, l)) assert_int_equal(lp[i].points_earned, 0);
                disc += lp[i].discount;
                rdisc += lr[i].discount;
                red += lp[i].points_redeemed;
                earn += lp[i].points_earned;
                bonus += lr[i].points;
            }
            assert_int_equal(disc, out.discount);
            assert_int_equal(rdisc, out.rule_discount);
            assert_int_equal(red, out.redeem);
            assert_int_equal(earn, out.earn);
            assert_int_equal(bonus, out.bonus);
            /* The redemption cap: the share of the payable lines, in whole points. */
            assert_true(out.max_redeem * p.point_value <= payable * p.max_redeem_bp / 10000);
            if (p.bonus_cap) assert_true(out.bonus <= p.bonus_cap);
            if (in.available < p.min_balance) assert_int_equal(out.max_redeem, 0);
            for (size_t j = 0; j < out.n_rules; j++) {
                const ly_rule *ru = rr[j].rule;
                if (ru->cap_points) assert_true(rr[j].points <= ru->cap_points);
                if (ru->cap_discount) assert_true(rr[j].discount <= ru->cap_discount);
                if (!rr[j].applied) assert_true(rr[j].discount == 0 && rr[j].points == 0);
                /* After an exclusive rule applied, no later rule did. */
                if (rr[j].applied && ru->exclusive)
                    for (size_t q = j + 1; q < out.n_rules; q++) assert_false(rr[q].applied);
            }
        }
        ly_program_free(&p);
        free(src);
    }
    print_message("%ld receipts priced, %ld changed by rules\n", priced, with_rules);
    assert_true(with_rules > priced / 5);
}

/* ---------------------------------------------------------------------------------------
 * The service: confirm, return in parts, return the rest
 * ------------------------------------------------------------------------------------- */

typedef struct world {
    tl_svc s; /* the service, its database and arena (testlib.h) */
    int64_t customer;
} world;

static void worldOpen(world *w, const char *program_text)
{
    tl_svc_open(&w->s, "rules", program_text);
    ly_op op = {.kind = LY_OP_CUSTOMER_CREATE, .arena = &w->s.arena, .now = tl_at("2026-11-01T00:00:00Z")};
    op.in.create.ids[0] = (ly_identifier){LY_ID_CARD, "CARD-1"};
    op.in.create.n_ids = 1;
    assert_int_equal(ly_service_run(w->s.svc, &op), LY_OK);
    w->customer = op.out.customer.id;
    ly_op adj = {.kind = LY_OP_ADJUST, .arena = &w->s.arena, .now = tl_at("2026-11-01T00:00:00Z")};
    adj.in.adjust = (ly_adjust_request){.adjustment_id = "A-1", .customer_id = w->customer,
                                        .points = 5000000, .kind = LY_ENTRY_BONUS};
    ly_os_hash("A-1", 3, adj.request_hash);
    assert_int_equal(ly_service_run(w->s.svc, &adj), LY_OK);
}

static ly_account balanceNow(world *w, ly_time now)
{
    ly_balance b;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly_service_balance(w->s.svc, w->customer, now, 30, &w->s.arena, &b, &err), LY_OK);
    return b.account;
}

static void returns_of_rule_priced_receipts_restore_everything(void **state)
{
    (void)state;
    rngState = 7;
    long receipts = 0, returns = 0, discounted = 0;
    for (int prog = 0; prog < 12; prog++) {
        char *src = randomProgram(prog % 2 ? 0 : 14);
        world w;
        worldOpen(&w, src);
        ly_time now = tl_at("2026-11-25T00:00:00Z");
        for (int k = 0; k < 50; k++) {
            rcpt x;
            randomReceipt(&x, k, "2026-11-25");
            now += 60;
            ly_account before = balanceNow(&w, now);
            ly_checkout in = {.receipt = x.r, .who = {.kind = LY_ID_CARD, .value = "CARD-1"}};
            ly_checkout_result calc;
            ly_error err;
            ly_error_clear(&err);
            assert_int_equal(ly_service_calculate(w.s.svc, &in, now, &w.s.arena, &calc, &err), LY_OK);
            ly_points max = calc.pricing.max_redeem;
            in.redeem = max ? between(0, max) : 0;
            const ly_program *p = ly_service_program(w.s.svc);
            if (in.redeem > 0 && in.redeem < p->min_redeem) in.redeem = 0;

            ly_op op = {.kind = LY_OP_CONFIRM, .arena = &w.s.arena, .now = now};
            op.in.confirm = in;
            ly_os_hash(x.id, strlen(x.id), op.request_hash);
            if (ly_service_run(w.s.svc, &op) != LY_OK)
                fail_msg("confirm %s: %s %s\n%s", x.id, op.err.code, op.err.message, src);
            const ly_pricing *pr = &op.out.confirm.pricing;
            assert_true(pr->discount <= pr->total && pr->redeem <= max);
            assert_int_equal(pr->rule_discount, calc.pricing.rule_discount);
            discounted += pr->rule_discount > 0;
            receipts++;

            /* Random partial returns, then the rest. */
            ly_money amount = 0;
            ly_points taken = 0, refunded = 0;
            ly_qty left[MAXL];
            for (size_t i = 0; i < x.r.n_lines; i++) left[i] = x.lines[i].qty;
            int parts = (int)between(0, 3);
            for (int j = 0; j <= parts; j++) {
                ly_return_request_line rl[MAXL];
                size_t m = 0;
                bool full = j == parts;
                for (size_t i = 0; !full && i < x.r.n_lines; i++) {
                    if (left[i] == 0 || rnd() % 2) continue;
                    ly_qty q = between(1, left[i]);
                    rl[m++] = (ly_return_request_line){.line = (long)i, .qty = q};
                    left[i] -= q;
                }
                if (!full && m == 0) continue;
                ly_op ro = {.kind = LY_OP_RETURN, .arena = &w.s.arena, .now = now + 1 + j};
                char *rid = ly_arena_printf(&w.s.arena, "%s-RET-%d", x.id, j);
                ro.in.ret = (ly_return_request){.receipt_id = x.id, .return_id = rid,
                                                .time = ro.now, .full = full,
                                                .lines = full ? NULL : rl, .n_lines = full ? 0 : m};
                ly_os_hash(rid, strlen(rid), ro.request_hash);
                ly_err rc = ly_service_run(w.s.svc, &ro);
                if (full && rc == LY_EUNPROCESSABLE && strcmp(ro.err.code, "nothing_to_return") == 0) break;
                if (rc != LY_OK) fail_msg("return %s: %s %s", rid, ro.err.code, ro.err.message);
                returns++;
                amount += ro.out.ret.ret.amount;
                taken += ro.out.ret.ret.points_taken;
                refunded += ro.out.ret.ret.points_refunded;
                /* Never more than the whole, at every step. */
                assert_true(amount <= pr->paid);
                assert_true(taken <= pr->earn && refunded <= pr->redeem);
            }
            assert_int_equal(amount, pr->paid);
            assert_int_equal(taken, pr->earn);
            assert_int_equal(refunded, pr->redeem);
            ly_account after = balanceNow(&w, now + 10);
            if (after.available != before.available || after.pending != before.pending)
                fail_msg("%s: balance %lld/%lld before, %lld/%lld after a full return", x.id,
                         (long long)before.available, (long long)before.pending,
                         (long long)after.available, (long long)after.pending);
            now += 10;
        }
        tl_svc_close(&w.s);
        free(src);
    }
    print_message("%ld receipts (%ld with rule discounts), %ld returns\n", receipts, discounted, returns);
    assert_true(discounted > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pricing_invariants_hold_for_random_programs_and_receipts),
        cmocka_unit_test(returns_of_rule_priced_receipts_restore_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
