/*
 * codec_internal.h - JSON <-> the core's and the service's structs, for the HTTP module and
 * its tests.
 *
 * Decoding is strict: a field that is not in the documented set is "unknown_field", a
 * value of the wrong JSON type is "invalid_type" (a JSON fraction where an integer is
 * wanted is one), a required field that is absent or null is "missing_field", a value out
 * of range is "invalid_value". Every error names the offending field by its path in the
 * request: "lines[1].qty", "customer.card", "consent.sms". All are LY_EINVAL (400).
 *
 * Memory: decoded strings are copied into the arena passed in, so the JSON may be freed
 * right after decoding; decoded structs live as long as the arena. Encoders return a new
 * jansson reference (NULL only when jansson runs out of memory) owned by the caller.
 *
 * Identifier kinds are named in JSON "card", "phone", "email", "qr" and "external_id".
 */
#ifndef LY_HTTP_CODEC_INTERNAL_H
#define LY_HTTP_CODEC_INTERNAL_H

#include "service/service.h"

#include <jansson.h>

/* Limits of decoded values. */
#define LY_HTTP_ID_MAX 128        /* receipt_id, store, sku, ... : bytes */
#define LY_HTTP_TEXT_MAX 512      /* name, category, brand, note */
#define LY_HTTP_ATTRIBUTES_MAX 16384 /* compact text of a customer's attributes */

/* ---------------------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------------------- */

/* Parses a request body that must be one JSON object (duplicate keys are an error).
 * Errors: "malformed_json" (the message has the line and column), "invalid_type" when the
 * top level is not an object. An empty body is "malformed_json" unless empty_ok, when it
 * gives an empty object. *out is a new reference. */
ly_err ly__json_parse_object(const char *body, size_t len, bool empty_ok, json_t **out,
                             ly_error *err);

/* The JSON name of an identifier kind ("external_id" for LY_ID_EXTERNAL) and back. */
const char *ly__id_json_name(ly_id_kind k);
bool ly__id_json_parse(const char *s, ly_id_kind *out);

/* A receipt for calculate or confirm:
 *   {"receipt_id", "store", "channel"?, "cashier"?, "payment"?, "time"?, "customer"?,
 *    "redeem_points"?, "total", "lines": [{"sku", "name"?, "category"?, "brand"?, "qty",
 *    "price", "amount"}], "coupons"?: ["CODE", ...] (at most 20), "partner"?}
 * "customer" is null/absent (anonymous) or an object with exactly one of "card", "phone",
 * "email", "qr", "external_id" (strings) or "id" (integer). A missing "time" is now, at the
 * offset of cal at now. The receipt's consistency (sums, line rules) is left to
 * ly_receipt_validate. */
ly_err ly__decode_checkout(const json_t *root, const ly_calendar *cal, ly_time now,
                           ly_arena *a, ly_checkout *out, ly_error *err);

/* A return: {"return_id", "time"?, "lines": [{"sku"|"line", "qty"}]} or
 * {"return_id", "time"?, "full": true}. receipt_id is not set here (it comes from the path).
 * A missing "time" leaves out->time 0 (the service uses the operation's time). */
ly_err ly__decode_return(const json_t *root, ly_arena *a, ly_return_request *out,
                         ly_error *err);

/* A profile for enrolment (patch false) or a change (patch true):
 *   {"card"?, "phone"?, "email"?, "external_id"?, "name"?, "birth_date"?, "attributes"?,
 *    "store"?, "consent"?: {"sms"?, "email"?, "push"?: bool}, "referral_code"? (enrolment
 *    only)}
 * On enrolment null is the same as absent. On a change null (or "") clears name,
 * birth_date and store, an identifier given as null or "" is removed, and null attributes
 * become {}. */
ly_err ly__decode_profile(const json_t *root, bool patch, ly_arena *a, ly_profile *out,
                          ly_error *err);

/* {"adjustment_id", "points" (non-zero), "kind"?: "adjust" (default) | "bonus", "note"?}.
 * customer_id is not set here. */
ly_err ly__decode_adjust(const json_t *root, ly_arena *a, ly_adjust_request *out,
                         ly_error *err);

/* {"from": customer id}. */
ly_err ly__decode_merge(const json_t *root, int64_t *from, ly_error *err);

/* An object that must have no fields at all (the body of POST .../qr). */
ly_err ly__decode_empty(const json_t *root, ly_error *err);

/* The article-and-noun name of a JSON value's type, as error messages say it: "an object",
 * "an array", "a string", "an integer", "a number with a fraction" (a real), "a boolean",
 * "null". Static text. */
const char *ly__json_type_name(const json_t *v);
/* LY_OK, or "unknown_field" (LY_EINVAL) naming "BASE.KEY" ("KEY" when base is empty) for the
 * first key of obj that is not in keys (NULL-ended). */
ly_err ly__json_only_keys(const json_t *obj, const char *base, const char *const *keys,
                          ly_error *err);

/* The idempotency hash of a request: BLAKE2b-256 of "METHOD PATH\n" followed by the body's
 * canonical text (compact, keys sorted), so that whitespace and key order do not make a
 * retry a different request, while the same body sent to another receipt or customer is
 * one. root may be NULL (no body). */
void ly__request_hash(const char *method, const char *path, const json_t *root,
                      uint8_t out[32]);

/* ---------------------------------------------------------------------------------------
 * Encoding. Times are RFC 3339: receipt times at the receipt's own offset, all others at
 * the offset cal gives for them.
 * ------------------------------------------------------------------------------------- */

/* {"error": {"code", "message", "field"?}}; field only when not empty. */
json_t *ly__json_error(const ly_error *e);

/* A customer profile: id, name, birth_date, attributes, identifiers (an array of values per
 * kind, every kind present), consent (per channel {"given": bool|null, "at": time|null}),
 * enrolled_at, enrolled_store, merged_into. */
json_t *ly__json_customer(const ly_customer *c, const ly_calendar *cal);

/* A customer's latest analytics figures (docs/api.md, "Read a customer"): as_of,
 * rfm_cell, segment, status, loyalty, days_since_last_deal, deals, revenue, p_alive (a
 * decimal string, 4 digits) and clv (minor units), the last two null without a model. */
json_t *ly__json_analytics(const ly_customer_analytics *a);

/* The outcome of calculate (confirmed false: "balance" is the balance now) or confirm
 * (confirmed true: adds "receipt_id", "balance" is the balance after the receipt). Each line
 * shows its rule_discount and points_bonus (the rules' part of discount and points_earned),
 * "rules" lists the rules that applied ({"id", "discount", "points"}); with explain,
 * "explain" lists every rule considered: {"id", "name", "priority", "exclusive", "applied",
 * "failed" (the setting that decided it, or null), "reason", "eligible_lines", "discount",
 * "points"}. A receipt with coupons adds "coupons": [{"code", "campaign"}], one at a
 * partner "partner". */
/* The "quests" list of a checkout response (http/quests.c; issue 6): one object per quest
 * the receipt advanced. NULL when out of memory. */
json_t *ly__json_quest_steps(const ly_checkout_result *res);

json_t *ly__json_checkout(const ly_checkout *in, const ly_checkout_result *res,
                          const ly_calendar *cal, bool confirmed, bool explain);

/* A stored receipt with its lines, pricing and returned quantities. */
json_t *ly__json_receipt(const ly_stored_receipt *r, const ly_calendar *cal);

/* A return just made. after is NULL for an anonymous receipt ("balance": null). */
json_t *ly__json_return(const ly_stored_receipt *rcpt, const ly_stored_return *ret,
                        const ly_account *after, const ly_calendar *cal);

/* One ledger entry. */
json_t *ly__json_entry(const ly_entry *e, const ly_calendar *cal);

/* {"available", "pending"} of an account. */
json_t *ly__json_account(const ly_account *acc);

/* The balance report of GET /v1/customers/{id}/balance. */
json_t *ly__json_balance(const ly_balance *b, const ly_calendar *cal);

/* Compact text of v in the arena; takes v's reference. NULL if v is NULL or on OOM. */
char *ly__json_text(json_t *v, ly_arena *a);

#endif /* LY_HTTP_CODEC_INTERNAL_H */
