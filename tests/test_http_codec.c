/*
 * test_http_codec.c - the API's JSON decoding is strict and names what is wrong:
 * unknown fields, wrong types, JSON fractions where integers belong, missing and
 * out-of-range values are refused with the field's path ("lines[1].colour"); good requests
 * decode into exactly the service's structs; the idempotency hash ignores whitespace and key
 * order; encoders produce the documented shapes.
 */
#include "testlib.h"

#include "http/codec_internal.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

static ly_calendar moscow; /* a fixed +03:00 calendar */

static int groupSetUp(void **state)
{
    (void)state;
    ly_calendar_fixed(&moscow, 180);
    return 0;
}

static json_t *parse(const char *text)
{
    json_t *v;
    ly_error err;
    ly_error_clear(&err);
    if (ly__json_parse_object(text, strlen(text), false, &v, &err) != LY_OK)
        fail_msg("could not parse %s: %s %s", text, err.code, err.message);
    return v;
}

/* Decodes text as a checkout; returns the error class, err filled. */
static ly_err checkout(const char *text, ly_arena *a, ly_checkout *out, ly_error *err)
{
    json_t *v = parse(text);
    ly_error_clear(err);
    ly_err rc = ly__decode_checkout(v, &moscow, 1795510800 /* 2026-11-24T09:00:00Z */, a, out, err);
    json_decref(v);
    return rc;
}

/* Asserts that decoding text as a checkout fails with code (unless NULL) at field. */
static void checkoutFails(const char *text, const char *code, const char *field)
{
    ly_arena a = {0};
    ly_checkout c;
    ly_error err;
    ly_err rc = checkout(text, &a, &c, &err);
    if (rc != LY_EINVAL) fail_msg("%s: expected LY_EINVAL, got %d (%s)", text, rc, err.code);
    if (code && strcmp(err.code, code) != 0) fail_msg("%s: expected code %s, got %s (%s)", text, code, err.code, err.message);
    if (strcmp(err.field, field) != 0) fail_msg("%s: expected field \"%s\", got \"%s\" (%s)", text, field, err.field, err.message);
    ly_arena_free(&a);
}

#define LINE "{\"sku\":\"A1\",\"qty\":1000,\"price\":9990,\"amount\":9990}"
#define RECEIPT(extra, lines) "{\"receipt_id\":\"R-1\",\"store\":\"S1\",\"total\":9990" extra ",\"lines\":[" lines "]}"

/* ---------------------------------------------------------------------------------------
 * Receipts
 * ------------------------------------------------------------------------------------- */

static void a_full_receipt_decodes_into_the_checkout(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_checkout c;
    ly_error err;
    const char *text =
        "{\"receipt_id\":\"R-1\",\"store\":\"S1\",\"channel\":\"online\",\"cashier\":\"c7\","
        "\"time\":\"2026-11-24T10:15:00+03:00\",\"payment\":\"card\",\"customer\":{\"card\":\"2000001\"},"
        "\"redeem_points\":25,\"total\":19980,\"lines\":["
        "{\"sku\":\"A1\",\"name\":\"Milk\",\"category\":\"dairy\",\"brand\":\"X\",\"qty\":1500,\"price\":9990,\"amount\":9990},"
        "{\"sku\":\"B2\",\"qty\":1000,\"price\":9990,\"amount\":9990}]}";
    assert_int_equal(checkout(text, &a, &c, &err), LY_OK);
    assert_string_equal(c.receipt.receipt_id, "R-1");
    assert_string_equal(c.receipt.store, "S1");
    assert_int_equal(c.receipt.channel, LY_SALES_ONLINE);
    assert_string_equal(c.receipt.cashier, "c7");
    assert_string_equal(c.receipt.payment, "card");
    assert_int_equal(c.receipt.time, 1795504500); /* 07:15Z */
    assert_int_equal(c.receipt.utc_offset_min, 180);
    assert_int_equal(c.receipt.total, 19980);
    assert_int_equal(c.receipt.n_lines, 2);
    assert_string_equal(c.receipt.lines[0].name, "Milk");
    assert_string_equal(c.receipt.lines[0].category, "dairy");
    assert_string_equal(c.receipt.lines[0].brand, "X");
    assert_int_equal(c.receipt.lines[0].qty, 1500);
    assert_null(c.receipt.lines[1].name);
    assert_int_equal(c.redeem, 25);
    assert_int_equal(c.who.customer_id, 0);
    assert_int_equal(c.who.kind, LY_ID_CARD);
    assert_string_equal(c.who.value, "2000001");
    assert_int_equal(ly_receipt_validate(&c.receipt, &err), LY_OK);
    ly_arena_free(&a);
}

static void a_receipt_without_time_is_now_at_the_program_offset(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_checkout c;
    ly_error err;
    assert_int_equal(checkout(RECEIPT("", LINE), &a, &c, &err), LY_OK);
    assert_int_equal(c.receipt.time, 1795510800);
    assert_int_equal(c.receipt.utc_offset_min, 180);
    assert_int_equal(c.receipt.channel, LY_SALES_STORE);
    assert_int_equal(c.redeem, 0);
    assert_null(c.who.value);
    assert_int_equal(c.who.customer_id, 0);
    ly_arena_free(&a);
}

static void a_customer_is_named_one_way(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_checkout c;
    ly_error err;
    assert_int_equal(checkout(RECEIPT(",\"customer\":{\"id\":42}", LINE), &a, &c, &err), LY_OK);
    assert_int_equal(c.who.customer_id, 42);
    assert_int_equal(checkout(RECEIPT(",\"customer\":{\"external_id\":\"CRM-7\"}", LINE), &a, &c, &err), LY_OK);
    assert_int_equal(c.who.kind, LY_ID_EXTERNAL);
    assert_string_equal(c.who.value, "CRM-7");
    assert_int_equal(checkout(RECEIPT(",\"customer\":null", LINE), &a, &c, &err), LY_OK);
    assert_null(c.who.value);
    ly_arena_free(&a);

    checkoutFails(RECEIPT(",\"customer\":{\"card\":\"1\",\"phone\":\"2\"}", LINE), "invalid_value", "customer");
    checkoutFails(RECEIPT(",\"customer\":{}", LINE), "invalid_value", "customer");
    checkoutFails(RECEIPT(",\"customer\":{\"id\":0}", LINE), "invalid_value", "customer.id");
    checkoutFails(RECEIPT(",\"customer\":{\"id\":\"42\"}", LINE), "invalid_type", "customer.id");
    checkoutFails(RECEIPT(",\"customer\":{\"card\":\"\"}", LINE), "invalid_value", "customer.card");
    checkoutFails(RECEIPT(",\"customer\":\"2000001\"", LINE), "invalid_type", "customer");
}

static void unknown_fields_are_refused_with_their_path(void **state)
{
    (void)state;
    checkoutFails(RECEIPT(",\"colour\":\"red\"", LINE), "unknown_field", "colour");
    checkoutFails(RECEIPT("", LINE ",{\"sku\":\"B\",\"qty\":1,\"price\":1,\"amount\":1,\"colour\":\"red\"}"),
                  "unknown_field", "lines[1].colour");
    checkoutFails(RECEIPT(",\"customer\":{\"card\":\"1\",\"pin\":\"0000\"}", LINE), "unknown_field", "customer.pin");
}

static void wrong_types_name_the_field(void **state)
{
    (void)state;
    checkoutFails("{\"receipt_id\":42,\"store\":\"S1\",\"total\":9990,\"lines\":[" LINE "]}", "invalid_type",
                  "receipt_id");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":\"1000\",\"price\":9990,\"amount\":9990}"), "invalid_type",
                  "lines[0].qty");
    checkoutFails(RECEIPT("", LINE ",[1]"), "invalid_type", "lines[1]");
    checkoutFails("{\"receipt_id\":\"R\",\"store\":\"S1\",\"total\":9990,\"lines\":{}}", "invalid_type", "lines");
    checkoutFails(RECEIPT(",\"redeem_points\":true", LINE), "invalid_type", "redeem_points");
    checkoutFails(RECEIPT(",\"time\":1795510800", LINE), "invalid_type", "time");
}

static void json_fractions_are_refused_for_money_quantities_and_points(void **state)
{
    (void)state;
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1.5,\"price\":9990,\"amount\":9990}"), "invalid_type",
                  "lines[0].qty");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000,\"price\":99.90,\"amount\":9990}"), "invalid_type",
                  "lines[0].price");
    /* Even a fraction with nothing after the point is not an integer in JSON. */
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000,\"price\":9990,\"amount\":9990.0}"), "invalid_type",
                  "lines[0].amount");
    checkoutFails(RECEIPT(",\"redeem_points\":1e2", LINE), "invalid_type", "redeem_points");
    checkoutFails("{\"receipt_id\":\"R\",\"store\":\"S1\",\"total\":9990.5,\"lines\":[" LINE "]}", "invalid_type",
                  "total");
}

static void missing_fields_are_named(void **state)
{
    (void)state;
    checkoutFails("{\"store\":\"S1\",\"total\":9990,\"lines\":[" LINE "]}", "missing_field", "receipt_id");
    checkoutFails("{\"receipt_id\":\"R\",\"total\":9990,\"lines\":[" LINE "]}", "missing_field", "store");
    checkoutFails("{\"receipt_id\":\"R\",\"store\":\"S1\",\"lines\":[" LINE "]}", "missing_field", "total");
    checkoutFails("{\"receipt_id\":\"R\",\"store\":\"S1\",\"total\":9990}", "missing_field", "lines");
    checkoutFails(RECEIPT("", "{\"qty\":1000,\"price\":9990,\"amount\":9990}"), "missing_field", "lines[0].sku");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"price\":9990,\"amount\":9990}"), "missing_field", "lines[0].qty");
    /* null is the same as absent. */
    checkoutFails("{\"receipt_id\":null,\"store\":\"S1\",\"total\":9990,\"lines\":[" LINE "]}", "missing_field",
                  "receipt_id");
}

static void out_of_range_values_are_refused(void **state)
{
    (void)state;
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":0,\"price\":9990,\"amount\":9990}"), "invalid_value",
                  "lines[0].qty");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000000001,\"price\":9990,\"amount\":9990}"), "invalid_value",
                  "lines[0].qty");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000,\"price\":-1,\"amount\":9990}"), "invalid_value",
                  "lines[0].price");
    checkoutFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000,\"price\":1000000000000001,\"amount\":9990}"),
                  "invalid_value", "lines[0].price");
    checkoutFails(RECEIPT(",\"redeem_points\":-1", LINE), "invalid_value", "redeem_points");
    checkoutFails(RECEIPT(",\"channel\":\"phone\"", LINE), "invalid_value", "channel");
    checkoutFails(RECEIPT(",\"time\":\"2026-11-24T10:15:00\"", LINE), "invalid_value", "time");
    checkoutFails(RECEIPT("", "{\"sku\":\"\",\"qty\":1000,\"price\":9990,\"amount\":9990}"), "invalid_value",
                  "lines[0].sku");
    checkoutFails("{\"receipt_id\":\"R\",\"store\":\"S1\",\"total\":0,\"lines\":[]}", "invalid_value", "lines");
}

/* ---------------------------------------------------------------------------------------
 * The body itself
 * ------------------------------------------------------------------------------------- */

static void bodyFails(const char *text, bool empty_ok, const char *code, const char *field)
{
    json_t *v = NULL;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__json_parse_object(text, strlen(text), empty_ok, &v, &err);
    if (rc != LY_EINVAL) fail_msg("%s: expected LY_EINVAL, got %d", text, rc);
    assert_null(v);
    if (strcmp(err.code, code) != 0) fail_msg("%s: expected %s, got %s (%s)", text, code, err.code, err.message);
    if (strcmp(err.field, field) != 0) fail_msg("%s: expected field \"%s\", got \"%s\"", text, field, err.field);
}

static void a_body_must_be_one_well_formed_object(void **state)
{
    (void)state;
    bodyFails("{\"receipt_id\":\"R\",", false, "malformed_json", "");
    bodyFails("receipt please", false, "malformed_json", "");
    bodyFails("{\"a\":1} {\"b\":2}", false, "malformed_json", "");
    bodyFails("{\"a\":1,\"a\":2}", false, "malformed_json", "");
    bodyFails("[1,2]", false, "invalid_type", "");
    bodyFails("\"text\"", false, "invalid_type", "");
    bodyFails("", false, "malformed_json", "");
    bodyFails("  \n", false, "malformed_json", "");

    json_t *v = NULL;
    ly_error err;
    ly_error_clear(&err);
    assert_int_equal(ly__json_parse_object("{\n  \"a\": ,\n}", 12, false, &v, &err), LY_EINVAL);
    assert_non_null(strstr(err.message, "line 2"));
    assert_non_null(strstr(err.message, "column"));
    assert_int_equal(ly__json_parse_object("", 0, true, &v, &err), LY_OK);
    assert_true(json_is_object(v) && json_object_size(v) == 0);
    json_decref(v);
}

static void numbers_beyond_64_bits_are_named(void **state)
{
    (void)state;
    bodyFails(RECEIPT("", "{\"sku\":\"A1\",\"qty\":1000,\"price\":99999999999999999999999,\"amount\":9990}"), false,
              "invalid_value", "lines[0].price");
    bodyFails("{\"points\":-99999999999999999999}", false, "invalid_value", "points");
}

/* ---------------------------------------------------------------------------------------
 * Returns
 * ------------------------------------------------------------------------------------- */

static ly_err returnOf(const char *text, ly_arena *a, ly_return_request *out, ly_error *err)
{
    json_t *v = parse(text);
    ly_error_clear(err);
    ly_err rc = ly__decode_return(v, a, out, err);
    json_decref(v);
    return rc;
}

static void returnFails(const char *text, const char *code, const char *field)
{
    ly_arena a = {0};
    ly_return_request rr;
    ly_error err;
    if (returnOf(text, &a, &rr, &err) != LY_EINVAL) fail_msg("%s: expected LY_EINVAL", text);
    if (strcmp(err.code, code) != 0) fail_msg("%s: expected %s, got %s (%s)", text, code, err.code, err.message);
    if (strcmp(err.field, field) != 0) fail_msg("%s: expected field \"%s\", got \"%s\"", text, field, err.field);
    ly_arena_free(&a);
}

static void a_return_names_lines_by_sku_or_index_or_is_full(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_return_request rr;
    ly_error err;
    assert_int_equal(returnOf("{\"return_id\":\"RET-1\",\"time\":\"2026-11-25T10:00:00+03:00\","
                              "\"lines\":[{\"sku\":\"A1\",\"qty\":500},{\"line\":2,\"qty\":1000}]}",
                              &a, &rr, &err),
                     LY_OK);
    assert_string_equal(rr.return_id, "RET-1");
    assert_int_equal(rr.time, 1795590000);
    assert_false(rr.full);
    assert_int_equal(rr.n_lines, 2);
    assert_int_equal(rr.lines[0].line, -1);
    assert_string_equal(rr.lines[0].sku, "A1");
    assert_int_equal(rr.lines[0].qty, 500);
    assert_int_equal(rr.lines[1].line, 2);
    assert_null(rr.lines[1].sku);
    assert_int_equal(returnOf("{\"return_id\":\"RET-2\",\"full\":true}", &a, &rr, &err), LY_OK);
    assert_true(rr.full);
    assert_int_equal(rr.time, 0);
    ly_arena_free(&a);

    returnFails("{\"return_id\":\"R\",\"lines\":[{\"sku\":\"A1\",\"line\":0,\"qty\":1}]}", "invalid_value", "lines[0]");
    returnFails("{\"return_id\":\"R\",\"lines\":[{\"qty\":1}]}", "missing_field", "lines[0].sku");
    returnFails("{\"return_id\":\"R\",\"lines\":[{\"sku\":\"A1\"}]}", "missing_field", "lines[0].qty");
    returnFails("{\"return_id\":\"R\",\"lines\":[{\"sku\":\"A1\",\"qty\":0.5}]}", "invalid_type", "lines[0].qty");
    returnFails("{\"return_id\":\"R\",\"lines\":[{\"sku\":\"A1\",\"qty\":1,\"reason\":\"x\"}]}", "unknown_field",
                "lines[0].reason");
    returnFails("{\"return_id\":\"R\",\"full\":true,\"lines\":[{\"line\":0,\"qty\":1}]}", "invalid_value", "lines");
    returnFails("{\"return_id\":\"R\"}", "missing_field", "lines");
    returnFails("{\"lines\":[{\"line\":0,\"qty\":1}]}", "missing_field", "return_id");
    returnFails("{\"return_id\":\"R\",\"full\":\"yes\"}", "invalid_type", "full");
}

/* ---------------------------------------------------------------------------------------
 * Profiles, adjustments, merges
 * ------------------------------------------------------------------------------------- */

static ly_err profileOf(const char *text, bool patch, ly_arena *a, ly_profile *out, ly_error *err)
{
    json_t *v = parse(text);
    ly_error_clear(err);
    ly_err rc = ly__decode_profile(v, patch, a, out, err);
    json_decref(v);
    return rc;
}

static void an_enrolment_decodes_identifiers_consent_and_attributes(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_profile p;
    ly_error err;
    assert_int_equal(profileOf("{\"card\":\"2000001\",\"phone\":\"8 916 123-45-67\",\"name\":\"Anna\","
                               "\"birth_date\":\"1990-05-17\",\"attributes\":{\"z\":1,\"a\":[true]},"
                               "\"store\":\"S1\",\"consent\":{\"sms\":true,\"email\":false}}",
                               false, &a, &p, &err),
                     LY_OK);
    assert_int_equal(p.n_ids, 2);
    assert_int_equal(p.ids[0].kind, LY_ID_CARD);
    assert_string_equal(p.ids[0].value, "2000001");
    assert_int_equal(p.ids[1].kind, LY_ID_PHONE);
    assert_true(p.set_name);
    assert_string_equal(p.name, "Anna");
    assert_true(p.set_birth_date);
    assert_true(p.set_enrolled_store);
    assert_true(p.set_attributes);
    assert_string_equal(p.attributes, "{\"a\":[true],\"z\":1}");
    assert_true(p.set_consent[LY_CH_SMS] && p.consent[LY_CH_SMS]);
    assert_true(p.set_consent[LY_CH_EMAIL] && !p.consent[LY_CH_EMAIL]);
    assert_false(p.set_consent[LY_CH_PUSH]);

    assert_int_equal(profileOf("{}", false, &a, &p, &err), LY_OK);
    assert_int_equal(p.n_ids, 0);
    assert_false(p.set_name || p.set_attributes || p.set_birth_date);
    ly_arena_free(&a);
}

static void a_profile_change_can_clear_fields_and_remove_identifiers(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_profile p;
    ly_error err;
    assert_int_equal(profileOf("{\"name\":null,\"phone\":\"\",\"email\":null,\"attributes\":null}", true, &a, &p, &err),
                     LY_OK);
    assert_true(p.set_name);
    assert_null(p.name);
    assert_false(p.set_birth_date);
    assert_true(p.set_attributes);
    assert_string_equal(p.attributes, "{}");
    assert_int_equal(p.n_ids, 2);
    assert_int_equal(p.ids[0].kind, LY_ID_PHONE);
    assert_string_equal(p.ids[0].value, "");
    assert_int_equal(p.ids[1].kind, LY_ID_EMAIL);
    assert_string_equal(p.ids[1].value, "");
    ly_arena_free(&a);
}

static void profileFails(const char *text, bool patch, const char *code, const char *field)
{
    ly_arena a = {0};
    ly_profile p;
    ly_error err;
    if (profileOf(text, patch, &a, &p, &err) != LY_EINVAL) fail_msg("%s: expected LY_EINVAL", text);
    if (strcmp(err.code, code) != 0) fail_msg("%s: expected %s, got %s (%s)", text, code, err.code, err.message);
    if (strcmp(err.field, field) != 0) fail_msg("%s: expected field \"%s\", got \"%s\"", text, field, err.field);
    ly_arena_free(&a);
}

static void bad_profiles_are_refused(void **state)
{
    (void)state;
    profileFails("{\"nickname\":\"x\"}", false, "unknown_field", "nickname");
    profileFails("{\"qr\":\"abcdefghijklmnopqrstuvwxyz\"}", false, "unknown_field", "qr");
    profileFails("{\"card\":\"\"}", false, "invalid_value", "card");
    profileFails("{\"card\":2000001}", false, "invalid_type", "card");
    profileFails("{\"birth_date\":\"1990-02-30\"}", false, "invalid_value", "birth_date");
    profileFails("{\"attributes\":[1]}", false, "invalid_type", "attributes");
    profileFails("{\"consent\":{\"sms\":\"yes\"}}", false, "invalid_type", "consent.sms");
    profileFails("{\"consent\":{\"fax\":true}}", true, "unknown_field", "consent.fax");
}

static ly_err adjustOf(const char *text, ly_arena *a, ly_adjust_request *out, ly_error *err)
{
    json_t *v = parse(text);
    ly_error_clear(err);
    ly_err rc = ly__decode_adjust(v, a, out, err);
    json_decref(v);
    return rc;
}

static void adjustments_and_merges_decode_strictly(void **state)
{
    (void)state;
    ly_arena a = {0};
    ly_adjust_request adj;
    ly_error err;
    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-1\",\"points\":-50,\"note\":\"goodwill\"}", &a, &adj, &err), LY_OK);
    assert_string_equal(adj.adjustment_id, "A-1");
    assert_int_equal(adj.points, -50);
    assert_int_equal(adj.kind, LY_ENTRY_ADJUST);
    assert_string_equal(adj.note, "goodwill");
    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-2\",\"points\":300,\"kind\":\"bonus\"}", &a, &adj, &err), LY_OK);
    assert_int_equal(adj.kind, LY_ENTRY_BONUS);
    assert_null(adj.note);

    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-3\",\"points\":0}", &a, &adj, &err), LY_EINVAL);
    assert_string_equal(err.field, "points");
    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-3\",\"points\":-5,\"kind\":\"bonus\"}", &a, &adj, &err), LY_EINVAL);
    assert_string_equal(err.field, "points");
    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-3\",\"points\":5,\"kind\":\"gift\"}", &a, &adj, &err), LY_EINVAL);
    assert_string_equal(err.field, "kind");
    assert_int_equal(adjustOf("{\"adjustment_id\":\"A-3\",\"points\":5.5}", &a, &adj, &err), LY_EINVAL);
    assert_string_equal(err.code, "invalid_type");
    assert_int_equal(adjustOf("{\"points\":5}", &a, &adj, &err), LY_EINVAL);
    assert_string_equal(err.code, "missing_field");
    assert_string_equal(err.field, "adjustment_id");
    ly_arena_free(&a);

    int64_t from = 0;
    json_t *v = parse("{\"from\":17}");
    assert_int_equal(ly__decode_merge(v, &from, &err), LY_OK);
    assert_int_equal(from, 17);
    json_decref(v);
    v = parse("{\"from\":\"17\"}");
    assert_int_equal(ly__decode_merge(v, &from, &err), LY_EINVAL);
    assert_string_equal(err.code, "invalid_type");
    json_decref(v);
    v = parse("{\"into\":17}");
    assert_int_equal(ly__decode_merge(v, &from, &err), LY_EINVAL);
    assert_string_equal(err.code, "unknown_field");
    assert_string_equal(err.field, "into");
    json_decref(v);
    v = parse("{\"x\":1}");
    assert_int_equal(ly__decode_empty(v, &err), LY_EINVAL);
    assert_string_equal(err.field, "x");
    json_decref(v);
}

/* ---------------------------------------------------------------------------------------
 * The idempotency hash and the encoders
 * ------------------------------------------------------------------------------------- */

static void the_request_hash_ignores_layout_but_not_content(void **state)
{
    (void)state;
    uint8_t h1[32], h2[32], h3[32], h4[32];
    json_t *a = parse("{\"receipt_id\":\"R-1\",\"lines\":[{\"sku\":\"A\",\"qty\":1}]}");
    json_t *b = parse("{ \"lines\" : [ { \"qty\" : 1, \"sku\" : \"A\" } ],\n  \"receipt_id\" : \"R-1\" }");
    json_t *c = parse("{\"receipt_id\":\"R-1\",\"lines\":[{\"sku\":\"A\",\"qty\":2}]}");
    ly__request_hash("POST", "/v1/receipts", a, h1);
    ly__request_hash("POST", "/v1/receipts", b, h2);
    ly__request_hash("POST", "/v1/receipts", c, h3);
    ly__request_hash("POST", "/v1/receipts/X/returns", a, h4);
    assert_memory_equal(h1, h2, 32);
    assert_memory_not_equal(h1, h3, 32);
    assert_memory_not_equal(h1, h4, 32);
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void encoders_produce_the_documented_shapes(void **state)
{
    (void)state;
    ly_error e;
    ly_error_set(&e, LY_EINVAL, "unknown_field", NULL, "is not a field");
    json_t *v = ly__json_error(&e);
    char *t = tl_json_text(v);
    assert_string_equal(t, "{\"error\":{\"code\":\"unknown_field\",\"message\":\"is not a field\"}}");
    free(t);
    json_decref(v);
    ly_error_set(&e, LY_EINVAL, "unknown_field", "lines[1].colour", "is not a field");
    v = ly__json_error(&e);
    assert_string_equal(tl_json_str(v, "error.field"), "lines[1].colour");
    json_decref(v);

    ly_identifier ids[] = {{LY_ID_CARD, "2000001"}, {LY_ID_CARD, "2000002"}, {LY_ID_QR, "abcdefghijklmnopqrst"}};
    ly_customer c = {.id = 7, .attributes = "{\"city\":\"Moscow\"}", .enrolled_at = 1795510800,
                     .ids = ids, .n_ids = 3};
    c.consent[LY_CH_SMS] = (ly_consent){1, 1795510800};
    c.consent[LY_CH_EMAIL] = (ly_consent){0, 1795510800};
    c.consent[LY_CH_PUSH] = (ly_consent){-1, 0};
    v = ly__json_customer(&c, &moscow);
    t = tl_json_text(v);
    tl_assert_json("customer", "{\"id\":7,\"name\":null,\"birth_date\":null,\"attributes\":{\"city\":\"Moscow\"},"
                   "\"identifiers\":{\"card\":[\"2000001\",\"2000002\"],\"phone\":[],\"email\":[],"
                   "\"qr\":[\"abcdefghijklmnopqrst\"],\"external_id\":[]},"
                   "\"consent\":{\"sms\":{\"given\":true,\"at\":\"2026-11-24T12:00:00+03:00\"},"
                   "\"email\":{\"given\":false,\"at\":\"2026-11-24T12:00:00+03:00\"},"
                   "\"push\":{\"given\":null,\"at\":null}},"
                   "\"enrolled_at\":\"2026-11-24T12:00:00+03:00\",\"enrolled_store\":null,\"merged_into\":null}",
                   t);
    free(t);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_receipt_decodes_into_the_checkout),
        cmocka_unit_test(a_receipt_without_time_is_now_at_the_program_offset),
        cmocka_unit_test(a_customer_is_named_one_way),
        cmocka_unit_test(unknown_fields_are_refused_with_their_path),
        cmocka_unit_test(wrong_types_name_the_field),
        cmocka_unit_test(json_fractions_are_refused_for_money_quantities_and_points),
        cmocka_unit_test(missing_fields_are_named),
        cmocka_unit_test(out_of_range_values_are_refused),
        cmocka_unit_test(a_body_must_be_one_well_formed_object),
        cmocka_unit_test(numbers_beyond_64_bits_are_named),
        cmocka_unit_test(a_return_names_lines_by_sku_or_index_or_is_full),
        cmocka_unit_test(an_enrolment_decodes_identifiers_consent_and_attributes),
        cmocka_unit_test(a_profile_change_can_clear_fields_and_remove_identifiers),
        cmocka_unit_test(bad_profiles_are_refused),
        cmocka_unit_test(adjustments_and_merges_decode_strictly),
        cmocka_unit_test(the_request_hash_ignores_layout_but_not_content),
        cmocka_unit_test(encoders_produce_the_documented_shapes),
    };
    return cmocka_run_group_tests(tests, groupSetUp, NULL);
}
