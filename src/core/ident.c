/*
 * ident.c - the identifiers a customer is known by (card, phone, email, QR, external id),
 * normalised so that one person typing their phone two ways finds one profile; and the
 * names of consent channels.
 */
#include "core/core.h"

#include <stdio.h>
#include <string.h>

static const char *const idKindNames[LY_ID_KIND_COUNT] = {"card", "phone", "email", "qr",
                                                           "external"};
static const char *const channelNames[LY_CH_COUNT] = {"sms", "email", "push"};

const char *ly_id_kind_name(ly_id_kind k)
{
    return (unsigned)k < LY_ID_KIND_COUNT ? idKindNames[k] : "unknown";
}

bool ly_id_kind_parse(const char *s, ly_id_kind *out)
{
    for (int i = 0; s && i < LY_ID_KIND_COUNT; i++) {
        if (strcmp(s, idKindNames[i]) == 0) {
            *out = (ly_id_kind)i;
            return true;
        }
    }
    return false;
}

const char *ly_channel_name(ly_channel c)
{
    return (unsigned)c < LY_CH_COUNT ? channelNames[c] : "unknown";
}

bool ly_channel_parse(const char *s, ly_channel *out)
{
    for (int i = 0; s && i < LY_CH_COUNT; i++) {
        if (strcmp(s, channelNames[i]) == 0) {
            *out = (ly_channel)i;
            return true;
        }
    }
    return false;
}

static bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static bool isDigit(char c) { return c >= '0' && c <= '9'; }

static bool allDigits(const char *s)
{
    for (; *s; s++)
        if (!isDigit(*s)) return false;
    return true;
}

static ly_err invalid(ly_error *err, const char *what)
{
    return ly_error_set(err, LY_EINVAL, "invalid_identifier", NULL, "%s", what);
}

/* Copies s[0..n) into out with a NUL, or fails if it does not fit. */
static ly_err put(const char *s, size_t n, char *out, size_t size, ly_error *err)
{
    if (n >= size) return invalid(err, "identifier too long");
    memcpy(out, s, n);
    out[n] = '\0';
    return LY_OK;
}

/* Phones become E.164: the digits, with the country code put in front of a national
 * number (replacing its trunk prefix), so "8 (916) 123-45-67" and "+7 916 123 45 67" are
 * the same customer. */
static ly_err normalizePhone(const char *s, size_t n, const char *country, const char *trunk,
                             char *out, size_t size, ly_error *err)
{
    char dig[64];
    size_t nd = 0;
    bool plus = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (isDigit(c)) {
            if (nd >= 32) return invalid(err, "a phone number has at most 15 digits");
            dig[nd++] = c;
        } else if (c == '+' && i == 0) {
            plus = true;
        } else if (c != ' ' && c != '.' && c != '-' && c != '(' && c != ')') {
            return invalid(err, "a phone number may contain only digits, spaces, dots, dashes "
                                "and parentheses after an optional '+'");
        }
    }
    dig[nd] = '\0';
    const char *body = dig;
    char full[96];
    if (plus) {
        snprintf(full, sizeof full, "%s", dig);
    } else if (nd >= 2 && dig[0] == '0' && dig[1] == '0') {
        snprintf(full, sizeof full, "%s", dig + 2);
    } else {
        size_t cl = country ? strlen(country) : 0;
        if (cl < 1 || cl > 3 || !allDigits(country))
            return invalid(err, "a national phone number needs the program's country code");
        size_t tl = trunk ? strlen(trunk) : 0;
        if (tl > 0 && strncmp(dig, trunk, tl) == 0) body = dig + tl;
        snprintf(full, sizeof full, "%s%s", country, body);
    }
    size_t len = strlen(full);
    if (len < 8 || len > 15) return invalid(err, "a phone number has 8 to 15 digits with its country code");
    if (full[0] == '0') return invalid(err, "a country code does not start with 0");
    if (len + 2 > size) return invalid(err, "identifier too long");
    out[0] = '+';
    memcpy(out + 1, full, len + 1);
    return LY_OK;
}

/* Emails: only the ASCII letters are folded, so an address never changes meaning. */
static ly_err normalizeEmail(const char *s, size_t n, char *out, size_t size, ly_error *err)
{
    if (n > 254) return invalid(err, "an email address has at most 254 characters");
    size_t at = n, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f) return invalid(err, "an email address has no spaces");
        if (c == '@') {
            ats++;
            at = i;
        }
    }
    if (ats != 1 || at == 0 || at + 1 == n)
        return invalid(err, "an email address needs one '@' with text on both sides");
    ly_err rc = put(s, n, out, size, err);
    if (rc != LY_OK) return rc;
    for (size_t i = 0; i < n; i++)
        if (out[i] >= 'A' && out[i] <= 'Z') out[i] = (char)(out[i] - 'A' + 'a');
    return LY_OK;
}

ly_err ly_id_normalize(ly_id_kind k, const char *in, const char *country_code,
                       const char *trunk_prefix, char *out, size_t size, ly_error *err)
{
    if (!in) return invalid(err, "identifier missing");
    if (!out || size == 0) return invalid(err, "no room for the identifier");
    while (isSpace(*in)) in++;
    size_t n = strlen(in);
    while (n > 0 && isSpace(in[n - 1])) n--;
    if (n == 0) return invalid(err, "identifier is empty");
    switch (k) {
    case LY_ID_PHONE:
        return normalizePhone(in, n, country_code, trunk_prefix, out, size, err);
    case LY_ID_EMAIL:
        return normalizeEmail(in, n, out, size, err);
    case LY_ID_CARD:
    case LY_ID_EXTERNAL:
        if (n > 64) return invalid(err, "at most 64 characters");
        for (size_t i = 0; i < n; i++)
            if (in[i] < 0x21 || in[i] > 0x7e)
                return invalid(err, "printable ASCII characters without spaces only");
        return put(in, n, out, size, err);
    case LY_ID_QR:
        if (n < 16 || n > 64) return invalid(err, "a QR code has 16 to 64 characters");
        for (size_t i = 0; i < n; i++) {
            char c = in[i];
            if (!isDigit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '_' &&
                c != '-')
                return invalid(err, "a QR code has only letters, digits, '_' and '-'");
        }
        return put(in, n, out, size, err);
    default:
        return invalid(err, "unknown identifier kind");
    }
}
