/*
 * handlers.c - one function per route: read the path, the query and the body, call the
 * service, and set the reply. Reads answer on the calling MHD thread; changes build an
 * ly_op in the request arena and hand it to ly__req_submit, whose reply is the response the
 * operation rendered (on the writer thread, with the render* functions below) or stored.
 */
#include "http/codec_internal.h"
#include "engage/engage.h"
#include "http/http_internal.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_LIMIT_DEFAULT 50
#define LEDGER_LIMIT_MAX 500
#define EXPIRING_DAYS_DEFAULT 30
#define EXPIRING_DAYS_MAX 3650
#define IDEMPOTENCY_KEY_MAX 128

static const ly_calendar *calendarOf(const ly__req *r)
{
    return ly_service_calendar(r->http->svc);
}

/* Service errors name fields as the service sees them; the API names them by their path in
 * this request: a customer identified in a receipt is "customer.card", the customer of the
 * path is "id". */
static void fixField(const ly__req *r, ly_error *e)
{
    ly_id_kind k;
    if ((r->route == LY_ROUTE_CALCULATE || r->route == LY_ROUTE_CONFIRM) &&
        ly_id_kind_parse(e->field, &k)) {
        snprintf(e->field, sizeof e->field, "customer.%s", ly__id_json_name(k));
        return;
    }
    if (r->param && r->route != LY_ROUTE_RECEIPT_GET && r->route != LY_ROUTE_RETURN &&
        strcmp(e->field, "customer.id") == 0)
        snprintf(e->field, sizeof e->field, "id");
}

void ly__reply_service_error(ly__req *r, ly_error *e)
{
    fixField(r, e);
    ly__reply_error(r, e);
}

void ly__handle_op_finished(ly__req *r)
{
    ly_op *op = r->op;
    if (op->rc != LY_OK) {
        fixField(r, &op->err);
        return;
    }
    if (op->replayed) return;
    if (r->route == LY_ROUTE_CONFIRM)
        atomic_fetch_add_explicit(&r->http->metrics.receipts_confirmed, 1, memory_order_relaxed);
    else if (r->route == LY_ROUTE_RETURN)
        atomic_fetch_add_explicit(&r->http->metrics.returns, 1, memory_order_relaxed);
}

ly_op *ly__new_op_or_reply(ly__req *r, ly_op_kind kind)
{
    ly_op *op = ly_arena_alloc(&r->arena, sizeof *op);
    if (!op) {
        ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return NULL;
    }
    op->kind = kind;
    return op;
}

/* ---------------------------------------------------------------------------------------
 * Path and query
 * ------------------------------------------------------------------------------------- */

bool ly__path_id_or_reply(ly__req *r, const char *code, const char *what, int64_t *id)
{
    const char *s = r->param;
    int64_t v = 0;
    bool ok = s && *s && strlen(s) <= 18;
    for (const char *p = s; ok && *p; p++) {
        if (*p < '0' || *p > '9') ok = false;
        else v = v * 10 + (*p - '0');
    }
    if (!ok || v <= 0) {
        ly__reply_errorf(r, LY_ENOTFOUND, code, "id", "no %s with id %s", what, s ? s : "");
        return false;
    }
    *id = v;
    return true;
}

bool ly__customer_id_or_reply(ly__req *r, int64_t *id)
{
    return ly__path_id_or_reply(r, "customer_not_found", "customer", id);
}

bool ly__path_customer_or_reply(ly__req *r, const char *const *allowed_query, ly_customer *c)
{
    int64_t id;
    if (!ly__customer_id_or_reply(r, &id)) return false;
    if (allowed_query && !ly__query_only_or_reply(r, allowed_query)) return false;
    ly_who who = {.customer_id = id};
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_customer_get(r->http->svc, &who, &r->arena, c, &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return false;
    }
    return true;
}

typedef struct queryCheck {
    const char *const *allowed;
    char bad[96];
} queryCheck;

static enum MHD_Result queryVisit(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    (void)value;
    queryCheck *q = cls;
    for (size_t i = 0; q->allowed[i]; i++)
        if (strcmp(key, q->allowed[i]) == 0) return MHD_YES;
    snprintf(q->bad, sizeof q->bad, "%s", key);
    return MHD_NO;
}

bool ly__query_only_or_reply(ly__req *r, const char *const *allowed)
{
    queryCheck q = {.allowed = allowed};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, queryVisit, &q);
    if (!q.bad[0]) return true;
    ly__reply_errorf(r, LY_EINVAL, "unknown_field", q.bad, "is not a parameter of this request");
    return false;
}

static const char *queryValue(ly__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool ly__query_int_or_reply(ly__req *r, const char *name, int64_t min, int64_t max, int64_t def,
                            int64_t *out)
{
    const char *s = queryValue(r, name);
    *out = def;
    if (!s) return true;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < min || v > max) {
        ly__reply_errorf(r, LY_EINVAL, "invalid_value", name, "must be an integer from %lld to %lld",
                         (long long)min, (long long)max);
        return false;
    }
    *out = v;
    return true;
}

/* The Idempotency-Key header (NULL when absent), or false after replying 400. */
static bool idempotencyKeyOrReply(ly__req *r, const char **out)
{
    const char *k = ly__header(r, "Idempotency-Key");
    *out = NULL;
    if (!k) return true;
    size_t n = strlen(k);
    bool ok = n > 0 && n <= IDEMPOTENCY_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++) ok = k[i] > ' ' && k[i] < 0x7f;
    if (!ok) {
        ly__reply_errorf(r, LY_EINVAL, "invalid_value", "Idempotency-Key",
                         "must be 1 to %d printable ASCII characters without spaces",
                         IDEMPOTENCY_KEY_MAX);
        return false;
    }
    *out = ly_arena_strdup(&r->arena, k);
    if (*out) return true;
    ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    return false;
}

/* The body (empty allowed when empty_ok) into *root and a new operation of kind for a
 * change handler; NULL after replying (the body, if read, is freed). The caller owns *root
 * and hands it to decodedOrReply. */
static ly_op *bodyAndOpOrReply(ly__req *r, bool empty_ok, ly_op_kind kind, json_t **root)
{
    *root = ly__body_or_reply(r, empty_ok);
    if (!*root) return NULL;
    ly_op *op = ly__new_op_or_reply(r, kind);
    if (!op) {
        json_decref(*root);
        *root = NULL;
    }
    return op;
}

/* Decodes a body with decode; hashes the request into op; false after replying. The JSON
 * is freed here: decoders copy what they keep into the arena. */
static bool decodedOrReply(ly__req *r, json_t *root, ly_err rc, ly_error *err, ly_op *op)
{
    if (rc == LY_OK && op) ly__request_hash(r->method, r->path, root, op->request_hash);
    json_decref(root);
    if (rc == LY_OK) return true;
    ly__reply_error(r, err);
    return false;
}

/* ---------------------------------------------------------------------------------------
 * Rendering of operations (writer thread)
 * ------------------------------------------------------------------------------------- */

static const char *renderConfirm(const ly_op *op)
{
    const ly__req *r = op->user;
    return ly__json_text(ly__json_checkout(&op->in.confirm, &op->out.confirm, calendarOf(r), true,
                                           false),
                         op->arena);
}

static const char *renderReturn(const ly_op *op)
{
    const ly__req *r = op->user;
    const ly_account *after = op->out.ret.receipt.customer_id ? &op->out.ret.after : NULL;
    return ly__json_text(ly__json_return(&op->out.ret.receipt, &op->out.ret.ret, after,
                                         calendarOf(r)),
                         op->arena);
}

static const char *renderCustomer(const ly_op *op)
{
    const ly__req *r = op->user;
    return ly__json_text(ly__json_customer(&op->out.customer, calendarOf(r)), op->arena);
}

static const char *renderQr(const ly_op *op)
{
    const ly_customer *c = &op->out.customer;
    const char *qr = NULL;
    for (size_t i = 0; i < c->n_ids; i++)
        if (c->ids[i].kind == LY_ID_QR) qr = c->ids[i].value;
    return ly__json_text(json_pack("{s:I, s:s?}", "customer_id", (json_int_t)c->id, "qr", qr),
                         op->arena);
}

static const char *renderAdjust(const ly_op *op)
{
    const ly__req *r = op->user;
    return ly__json_text(json_pack("{s:o, s:o}", "entry",
                                   ly__json_entry(&op->out.adjust.entry, calendarOf(r)),
                                   "balance", ly__json_account(&op->out.adjust.after)),
                         op->arena);
}

/* ---------------------------------------------------------------------------------------
 * Service endpoints
 * ------------------------------------------------------------------------------------- */

void ly__handle_health(ly__req *r)
{
    ly_error err;
    ly_error_clear(&err);
    if (!ly_store_reader(ly_service_store(r->http->svc), &err)) {
        ly__reply_error(r, &err);
        return;
    }
    /* The program may be replaced meanwhile: read its version through a copy. */
    const char *text;
    ly_program_info info;
    if (ly_service_program_get(r->http->svc, &r->arena, &text, &info, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, json_pack("{s:s, s:s, s:i}", "status", "ok", "program", info.version,
                                     "schema", ly_store_schema_version()));
}

void ly__handle_metrics(ly__req *r)
{
    char *text = ly__metrics_render(&r->http->metrics, ly_service_store(r->http->svc), &r->arena);
    if (!text) {
        ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return;
    }
    ly__reply_text(r, 200, text);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

/* ---------------------------------------------------------------------------------------
 * Receipts
 * ------------------------------------------------------------------------------------- */

void ly__handle_calculate(ly__req *r)
{
    static const char *const params[] = {"explain", NULL};
    if (!ly__query_only_or_reply(r, params)) return;
    int64_t explain;
    if (!ly__query_int_or_reply(r, "explain", 0, 1, 0, &explain)) return;
    json_t *root = ly__body_or_reply(r, false);
    if (!root) return;
    ly_checkout in;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_checkout(root, calendarOf(r), r->now, &r->arena, &in, &err);
    if (!decodedOrReply(r, root, rc, &err, NULL)) return;
    ly_checkout_result res;
    if (ly_service_calculate(r->http->svc, &in, r->now, &r->arena, &res, &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, ly__json_checkout(&in, &res, calendarOf(r), false, explain == 1));
}

void ly__handle_confirm(ly__req *r)
{
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_CONFIRM, &root);
    if (!op) return;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_checkout(root, calendarOf(r), r->now, &r->arena, &op->in.confirm, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    ly__req_submit(r, op, renderConfirm);
}

void ly__handle_receipt_get(ly__req *r)
{
    static const char *const none[] = {NULL};
    if (!ly__query_only_or_reply(r, none)) return;
    ly_stored_receipt sr;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_receipt_get(r->http->svc, r->param, &r->arena, &sr, &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, ly__json_receipt(&sr, calendarOf(r)));
}

void ly__handle_return(ly__req *r)
{
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_RETURN, &root);
    if (!op) return;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_return(root, &r->arena, &op->in.ret, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    op->in.ret.receipt_id = r->param;
    ly__req_submit(r, op, renderReturn);
}

/* ---------------------------------------------------------------------------------------
 * Customers
 * ------------------------------------------------------------------------------------- */

void ly__handle_customer_create(ly__req *r)
{
    const char *key;
    if (!idempotencyKeyOrReply(r, &key)) return;
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_CUSTOMER_CREATE, &root);
    if (!op) return;
    op->idem_key = key;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_profile(root, false, &r->arena, &op->in.create, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    ly__req_submit(r, op, renderCustomer);
}

/* Replies with the profile and the customer's latest analytics (null before any run). */
/* Opens the read snapshot of a request made only of reads (service.h,
 * ly_service_read_begin); false when it could not, with the error replied. */
static bool readBeginOrReply(ly__req *r)
{
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_read_begin(r->http->svc, &err) == LY_OK) return true;
    ly__reply_service_error(r, &err);
    return false;
}

static void replyProfile(ly__req *r, const ly_customer *c)
{
    ly_customer_analytics ca;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly_service_customer_analytics(r->http->svc, c->id, &ca, &err);
    if (rc != LY_OK && rc != LY_ENOTFOUND) {
        ly__reply_service_error(r, &err);
        return;
    }
    json_t *o = ly__json_customer(c, calendarOf(r));
    if (o && json_object_set_new(o, "analytics", rc == LY_OK ? ly__json_analytics(&ca) : json_null()) != 0) {
        json_decref(o);
        o = NULL;
    }
    /* Rewards: the member's referral code, when the program has referrals (rewards.c). */
    if (o && !ly__rewards_profile(r, c, o)) {
        json_decref(o);
        o = NULL;
    }
    /* The tier with its progress, and the club (tiers.c). */
    if (o && ly__tier_fields(r, c->id, o, &err) != LY_OK) {
        json_decref(o);
        ly__reply_service_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, o);
}

void ly__handle_customer_lookup(ly__req *r)
{
    static const char *const kinds[] = {"card", "phone", "email", "qr", "external_id", NULL};
    if (!ly__query_only_or_reply(r, kinds)) return;
    ly_who who = {0};
    int given = 0;
    for (int k = 0; k < LY_ID_KIND_COUNT; k++) {
        const char *v = queryValue(r, ly__id_json_name((ly_id_kind)k));
        if (!v) continue;
        given++;
        who.kind = (ly_id_kind)k;
        who.value = v;
    }
    if (given != 1) {
        ly__reply_errorf(r, LY_EINVAL, given ? "invalid_value" : "missing_field",
                         NULL, "give exactly one of the parameters card, phone, email, qr, external_id");
        return;
    }
    if (!*who.value) {
        ly__reply_errorf(r, LY_EINVAL, "invalid_value", ly__id_json_name(who.kind), "must not be empty");
        return;
    }
    ly_customer c;
    ly_error err;
    ly_error_clear(&err);
    /* The profile, its analytics, referral code and tier as of one moment. */
    if (!readBeginOrReply(r)) return;
    if (ly_service_customer_get(r->http->svc, &who, &r->arena, &c, &err) != LY_OK)
        ly__reply_service_error(r, &err);
    else
        replyProfile(r, &c);
    ly_service_read_end(r->http->svc);
}

void ly__handle_customer_get(ly__req *r)
{
    static const char *const none[] = {NULL};
    ly_customer c;
    if (!readBeginOrReply(r)) return;
    if (ly__path_customer_or_reply(r, none, &c)) replyProfile(r, &c);
    ly_service_read_end(r->http->svc);
}

void ly__handle_customer_patch(ly__req *r)
{
    int64_t id;
    if (!ly__customer_id_or_reply(r, &id)) return;
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_CUSTOMER_PATCH, &root);
    if (!op) return;
    op->in.patch.customer_id = id;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_profile(root, true, &r->arena, &op->in.patch.profile, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    ly__req_submit(r, op, renderCustomer);
}

void ly__handle_balance(ly__req *r)
{
    static const char *const params[] = {"expiring_days", NULL};
    int64_t id, days;
    if (!ly__customer_id_or_reply(r, &id) || !ly__query_only_or_reply(r, params) ||
        !ly__query_int_or_reply(r, "expiring_days", 0, EXPIRING_DAYS_MAX, EXPIRING_DAYS_DEFAULT, &days))
        return;
    ly_balance b;
    ly_error err;
    ly_error_clear(&err);
    /* The points and the tier as of one moment (and one read lock instead of one per
     * statement). */
    if (!readBeginOrReply(r)) return;
    ly_err rc = ly_service_balance(r->http->svc, id, r->now, (int)days, &r->arena, &b, &err);
    json_t *o = rc == LY_OK ? ly__json_balance(&b, calendarOf(r)) : NULL;
    /* The tier with its progress, and the club (tiers.c). */
    if (o) rc = ly__tier_fields(r, b.customer_id, o, &err);
    ly_service_read_end(r->http->svc);
    if (rc != LY_OK) {
        json_decref(o);
        ly__reply_service_error(r, &err);
        return;
    }
    ly__reply_json(r, 200, o);
}

void ly__handle_ledger(ly__req *r)
{
    static const char *const params[] = {"limit", "before", NULL};
    int64_t id, limit, before;
    if (!ly__customer_id_or_reply(r, &id) || !ly__query_only_or_reply(r, params) ||
        !ly__query_int_or_reply(r, "limit", 1, LEDGER_LIMIT_MAX, LEDGER_LIMIT_DEFAULT, &limit) ||
        !ly__query_int_or_reply(r, "before", 1, INT64_MAX, 0, &before))
        return;
    ly_entry *entries;
    size_t n;
    ly_error err;
    ly_error_clear(&err);
    /* One more than asked tells whether there is a next page. */
    if (ly_service_ledger(r->http->svc, id, before, (size_t)limit + 1, &r->arena, &entries, &n,
                          &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return;
    }
    bool more = n > (size_t)limit;
    if (more) n = (size_t)limit;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, ly__json_entry(&entries[i], calendarOf(r))) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    ly__reply_json(r, 200, json_pack("{s:o, s:o}", "entries", arr, "next_before",
                                     more ? json_integer((json_int_t)entries[n - 1].id) : json_null()));
}

#define OFFERS_LIMIT_DEFAULT 10
#define OFFERS_LIMIT_MAX 100

void ly__handle_offers(ly__req *r)
{
    static const char *const params[] = {"limit", NULL};
    int64_t id, limit;
    if (!ly__customer_id_or_reply(r, &id) || !ly__query_only_or_reply(r, params) ||
        !ly__query_int_or_reply(r, "limit", 1, OFFERS_LIMIT_MAX, OFFERS_LIMIT_DEFAULT, &limit))
        return;
    ly_store *store = ly_service_store(r->http->svc);
    ly_error err;
    ly_error_clear(&err);
    const ly_offers_model *m;
    if (ly_offers_cache_acquire(r->http->offers, store, &m, &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return;
    }
    ly_offer *offers;
    size_t n;
    int64_t answered;
    /* The program's offers preferences steer the list by the customer's declared attributes
     * (engage/offers_prefs.c); the version in force is held while they are read. */
    ly_program_ref *pref;
    const ly_program *prog = ly_service_program_hold(r->http->svc, &pref);
    ly_err rc = ly_offers_for_customer_prefs(store, m, prog, id, (size_t)limit, &r->arena, &offers,
                                             &n, &answered, &err);
    ly_service_program_unhold(r->http->svc, pref);
    json_t *o = rc == LY_OK ? ly_offers_json(answered, ly_offers_today(m), m, offers, n) : NULL;
    ly_offers_cache_release(r->http->offers, m);
    if (rc != LY_OK) ly__reply_service_error(r, &err);
    else ly__reply_json(r, 200, o);
}

void ly__handle_qr(ly__req *r)
{
    int64_t id;
    const char *key;
    if (!ly__customer_id_or_reply(r, &id) || !idempotencyKeyOrReply(r, &key)) return;
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, true, LY_OP_QR_ROTATE, &root);
    if (!op) return;
    op->idem_key = key;
    op->in.qr_customer_id = id;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_empty(root, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    ly__req_submit(r, op, renderQr);
}

void ly__handle_merge(ly__req *r)
{
    int64_t id;
    const char *key;
    if (!ly__customer_id_or_reply(r, &id) || !idempotencyKeyOrReply(r, &key)) return;
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_MERGE, &root);
    if (!op) return;
    op->idem_key = key;
    op->in.merge.into = id;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_merge(root, &op->in.merge.from, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    ly__req_submit(r, op, renderCustomer);
}

void ly__handle_adjust(ly__req *r)
{
    int64_t id;
    if (!ly__customer_id_or_reply(r, &id)) return;
    json_t *root;
    ly_op *op = bodyAndOpOrReply(r, false, LY_OP_ADJUST, &root);
    if (!op) return;
    ly_error err;
    ly_error_clear(&err);
    ly_err rc = ly__decode_adjust(root, &r->arena, &op->in.adjust, &err);
    if (!decodedOrReply(r, root, rc, &err, op)) return;
    op->in.adjust.customer_id = id;
    ly__req_submit(r, op, renderAdjust);
}
