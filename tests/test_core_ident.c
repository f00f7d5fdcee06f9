/*
 * test_core_ident.c - identifiers normalise so that one person is one profile however the
 * till typed them; and the names of identifier kinds, consent and sales channels.
 */
#include "testlib.h"

#include "core/core.h"

#include <string.h>

typedef struct {
    const char *in;
    const char *country;
    const char *trunk;
    const char *want; /* NULL: must be refused */
} phoneCase;

static void check(ly_id_kind k, const char *in, const char *country, const char *trunk,
                  const char *want)
{
    char out[300];
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_id_normalize(k, in, country, trunk, out, sizeof out, &err);
    if (want) {
        if (rc != LY_OK)
            fail_msg("%s \"%s\": refused (%s: %s)", ly_id_kind_name(k), in, err.code, err.message);
        if (strcmp(out, want) != 0)
            fail_msg("%s \"%s\": got \"%s\", want \"%s\"", ly_id_kind_name(k), in, out, want);
    } else {
        if (rc == LY_OK) fail_msg("%s \"%s\": accepted as \"%s\"", ly_id_kind_name(k), in, out);
        assert_int_equal(rc, LY_EINVAL);
        assert_string_equal(err.code, "invalid_identifier");
        assert_int_equal(err.kind, LY_EINVAL);
    }
}

static void phones_become_e164(void **state)
{
    (void)state;
    static const phoneCase cases[] = {
        /* Russia: trunk prefix 8 becomes the country code 7. */
        {"8 (916) 123-45-67", "7", "8", "+79161234567"},
        {"89161234567", "7", "8", "+79161234567"},
        {"+7 916 123 45 67", "7", "8", "+79161234567"},
        {"+7(916)123-45-67", "7", "8", "+79161234567"},
        {"007 916 123 45 67", "7", "8", "+79161234567"},
        {"9161234567", "7", "8", "+79161234567"}, /* no trunk prefix: country code added */
        {"  8.916.123.45.67\t", "7", "8", "+79161234567"},
        /* United Kingdom: trunk prefix 0. */
        {"07700 900123", "44", "0", "+447700900123"},
        {"+44 7700 900123", "44", "0", "+447700900123"},
        {"0044 7700 900123", "44", "0", "+447700900123"},
        /* North America, given internationally, whatever the program's country. */
        {"+1 202 555 0143", "7", "8", "+12025550143"},
        {"+1 (202) 555-0143", "44", "0", "+12025550143"},
        /* No trunk prefix in the program: the number is national as typed. */
        {"2025550143", "1", "", "+12025550143"},
        {"2025550143", "1", NULL, "+12025550143"},
        /* Lengths: 8 and 15 digits are the limits. */
        {"+1234567", "7", "8", NULL},
        {"+12345678", "7", "8", "+12345678"},
        {"+123456789012345", "7", "8", "+123456789012345"},
        {"+1234567890123456", "7", "8", NULL},
        {"8 916 123", "7", "8", NULL},
        {"8 916 123 45 67 89 01 23", "7", "8", NULL},
        /* Not a phone. */
        {"", "7", "8", NULL},
        {"   ", "7", "8", NULL},
        {"+", "7", "8", NULL},
        {"8 916 ABC 45 67", "7", "8", NULL},
        {"8 916 123 45 67 ext 2", "7", "8", NULL},
        {"7+9161234567", "7", "8", NULL},
        {"++79161234567", "7", "8", NULL},
        {"+0 916 123 45 67", "7", "8", NULL},
        {"8/916/1234567", "7", "8", NULL},
        /* A national number needs a country code to be completed. */
        {"89161234567", "", "8", NULL},
        {"89161234567", NULL, "8", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check(LY_ID_PHONE, cases[i].in, cases[i].country, cases[i].trunk, cases[i].want);
}

static void emails_are_trimmed_and_folded(void **state)
{
    (void)state;
    check(LY_ID_EMAIL, "Anna.Petrova@Example.COM", NULL, NULL, "anna.petrova@example.com");
    check(LY_ID_EMAIL, "  bob@example.org \n", NULL, NULL, "bob@example.org");
    check(LY_ID_EMAIL, "a@b", NULL, NULL, "a@b");
    /* Only ASCII letters fold: other bytes are kept as they are. */
    check(LY_ID_EMAIL, "\xd0\x90nna@Example.ru", NULL, NULL, "\xd0\x90nna@example.ru");
    check(LY_ID_EMAIL, "anna", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "@example.com", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "anna@", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "anna@@example.com", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "an@na@example.com", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "anna petrova@example.com", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "anna\t@example.com", NULL, NULL, NULL);
    check(LY_ID_EMAIL, "", NULL, NULL, NULL);
    /* 254 bytes is the most. */
    char addr[300];
    memset(addr, 'a', sizeof addr);
    addr[0] = 'x';
    addr[1] = '@';
    addr[254] = '\0';
    check(LY_ID_EMAIL, addr, NULL, NULL, addr);
    addr[254] = 'a';
    addr[255] = '\0';
    check(LY_ID_EMAIL, addr, NULL, NULL, NULL);
}

static void cards_external_ids_and_qr_codes(void **state)
{
    (void)state;
    check(LY_ID_CARD, " 4000-1234 ", NULL, NULL, "4000-1234");
    check(LY_ID_CARD, "AbC#42", NULL, NULL, "AbC#42"); /* case is kept */
    check(LY_ID_CARD, "4000 1234", NULL, NULL, NULL);
    check(LY_ID_CARD, "", NULL, NULL, NULL);
    check(LY_ID_CARD, "caf\xc3\xa9", NULL, NULL, NULL);
    check(LY_ID_CARD, "tab\there", NULL, NULL, NULL);
    check(LY_ID_EXTERNAL, "crm:000123", NULL, NULL, "crm:000123");
    char s[80];
    memset(s, '7', sizeof s);
    s[64] = '\0';
    check(LY_ID_EXTERNAL, s, NULL, NULL, s);
    s[64] = '7';
    s[65] = '\0';
    check(LY_ID_EXTERNAL, s, NULL, NULL, NULL);

    check(LY_ID_QR, "AbcdEFGH_1234-xyz", NULL, NULL, "AbcdEFGH_1234-xyz");
    check(LY_ID_QR, "0123456789abcdef", NULL, NULL, "0123456789abcdef"); /* 16 */
    check(LY_ID_QR, "0123456789abcde", NULL, NULL, NULL);                 /* 15 */
    check(LY_ID_QR, "0123456789abcde!", NULL, NULL, NULL);
    check(LY_ID_QR, "0123456789 abcdef", NULL, NULL, NULL);
    memset(s, 'q', sizeof s);
    s[64] = '\0';
    check(LY_ID_QR, s, NULL, NULL, s);
    s[64] = 'q';
    s[65] = '\0';
    check(LY_ID_QR, s, NULL, NULL, NULL);
}

static void an_output_too_small_is_an_error_not_an_overflow(void **state)
{
    (void)state;
    char out[8];
    ly_error err;
    assert_int_equal(ly_id_normalize(LY_ID_PHONE, "+79161234567", "7", "8", out, sizeof out, &err),
                     LY_EINVAL);
    assert_int_equal(ly_id_normalize(LY_ID_CARD, "12345678", NULL, NULL, out, sizeof out, &err),
                     LY_EINVAL);
    assert_int_equal(ly_id_normalize(LY_ID_CARD, "1234567", NULL, NULL, out, sizeof out, &err),
                     LY_OK);
    assert_string_equal(out, "1234567");
    assert_int_equal(ly_id_normalize(LY_ID_CARD, NULL, NULL, NULL, out, sizeof out, &err), LY_EINVAL);
    assert_int_equal(ly_id_normalize((ly_id_kind)42, "x", NULL, NULL, out, sizeof out, &err),
                     LY_EINVAL);
    /* The field is left for the caller to name. */
    assert_string_equal(err.field, "");
}

static void names_of_kinds_and_channels_round_trip(void **state)
{
    (void)state;
    const char *kinds[] = {"card", "phone", "email", "qr", "external"};
    for (int i = 0; i < LY_ID_KIND_COUNT; i++) {
        ly_id_kind k;
        assert_string_equal(ly_id_kind_name((ly_id_kind)i), kinds[i]);
        assert_true(ly_id_kind_parse(kinds[i], &k));
        assert_int_equal(k, i);
    }
    const char *chans[] = {"sms", "email", "push"};
    for (int i = 0; i < LY_CH_COUNT; i++) {
        ly_channel c;
        assert_string_equal(ly_channel_name((ly_channel)i), chans[i]);
        assert_true(ly_channel_parse(chans[i], &c));
        assert_int_equal(c, i);
    }
    const char *sales[] = {"store", "online", "app"};
    for (int i = 0; i < LY_SALES_COUNT; i++) {
        ly_sales_channel c;
        assert_string_equal(ly_sales_channel_name((ly_sales_channel)i), sales[i]);
        assert_true(ly_sales_channel_parse(sales[i], &c));
        assert_int_equal(c, i);
    }
    ly_id_kind k;
    ly_channel c;
    ly_sales_channel sc;
    assert_false(ly_id_kind_parse("Phone", &k));
    assert_false(ly_id_kind_parse(NULL, &k));
    assert_false(ly_channel_parse("fax", &c));
    assert_false(ly_sales_channel_parse("stor", &sc));
    assert_false(ly_sales_channel_parse("stores", &sc));
    assert_non_null(ly_id_kind_name(LY_ID_KIND_COUNT));
    assert_non_null(ly_channel_name(LY_CH_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phones_become_e164),
        cmocka_unit_test(emails_are_trimmed_and_folded),
        cmocka_unit_test(cards_external_ids_and_qr_codes),
        cmocka_unit_test(an_output_too_small_is_an_error_not_an_overflow),
        cmocka_unit_test(names_of_kinds_and_channels_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
