/*
 * http_internal.h - what the files of the HTTP module share: the server, one request's
 * context, the route table and the metrics. Nothing here is visible outside src/http/.
 *
 * The life of a request (server.c):
 *   1. MHD calls us with the headers: a ly__req is made (calloc) with an empty arena.
 *   2. MHD calls us with each piece of the body: it is gathered up to max_body.
 *   3. MHD calls us once more with nothing: the route is found, the key checked, and the
 *      route's handler runs on the MHD worker thread. A read answers at once (it sets the
 *      reply). A change builds an ly_op in the request arena and hands it to
 *      ly__req_submit, which suspends the connection and submits the operation.
 *   4. The writer thread finishes the operation and calls opDone, which resumes the
 *      connection; MHD calls us again and the reply is made from op->status/op->response.
 *   5. MHD reports the request complete: metrics are recorded and the context is freed.
 */
#ifndef LY_HTTP_INTERNAL_H
#define LY_HTTP_INTERNAL_H

#include "http/http.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

/* ---------------------------------------------------------------------------------------
 * Routes (router.c)
 * ------------------------------------------------------------------------------------- */

typedef struct ly__req ly__req;

typedef enum ly__route_id {
    LY_ROUTE_HEALTH = 0,
    LY_ROUTE_METRICS,
    LY_ROUTE_CALCULATE,
    LY_ROUTE_CONFIRM,
    LY_ROUTE_RECEIPT_GET,
    LY_ROUTE_RETURN,
    LY_ROUTE_CUSTOMER_CREATE,
    LY_ROUTE_CUSTOMER_LOOKUP,
    LY_ROUTE_CUSTOMER_GET,
    LY_ROUTE_CUSTOMER_PATCH,
    LY_ROUTE_BALANCE,
    LY_ROUTE_LEDGER,
    LY_ROUTE_QR,
    LY_ROUTE_MERGE,
    LY_ROUTE_ADJUST,
    /* Rewards (engineer R; rewards.c) */
    LY_ROUTE_EVENT,
    LY_ROUTE_COUPON_GET,
    LY_ROUTE_COUPON_CODES,
    LY_ROUTE_REFERRALS,
    /* Program replacement, tiers and the club (engineer T; tiers.c) */
    LY_ROUTE_PROGRAM_GET,
    LY_ROUTE_PROGRAM_PUT,
    LY_ROUTE_TIER_GET,
    LY_ROUTE_CLUB_MEMBERS,
    LY_ROUTE_CLUB_INVITE,
    LY_ROUTE_CLUB_REMOVE,
    LY_ROUTE_OFFERS, /* personal offers (handlers.c) */
    LY_ROUTE_QUESTS, /* quests, badges, level (quests.c; issue 6, engineer Q) */
    LY_ROUTE_ANSWERS, /* questionnaire answers (survey.c; issue 6, engineer S) */
    LY_ROUTE_COUNT,
    LY_ROUTE_NONE = LY_ROUTE_COUNT /* no route matched: one more metrics slot */
} ly__route_id;

typedef struct ly__route {
    ly__route_id id;
    const char *method;
    const char *pattern;  /* "/v1/customers/{id}": {id} matches one non-empty segment */
    const char *label;    /* the metrics label: "POST /v1/customers/{id}/merge" */
    ly_role role;         /* least role that may call it; LY_ROLE_NONE: no key needed */
    void (*handle)(ly__req *r);
} ly__route;

/* The route for method and path. Returns it with *param set to the {id} segment (or NULL),
 * or NULL when nothing matches: *status is then 404 (no route has this path) or 405 (some
 * route has the path but not the method; allow gets "GET, PATCH"). */
const ly__route *ly__route_find(const char *method, const char *path, const char **param,
                                size_t *param_len, int *status, char *allow, size_t allow_size);

/* The route with this id (for its label). */
const ly__route *ly__route_get(ly__route_id id);

/* ---------------------------------------------------------------------------------------
 * Metrics (metrics.c): lock-free counters, rendered in the Prometheus text format 0.0.4
 * ------------------------------------------------------------------------------------- */

#define LY__STATUS_SLOTS 14  /* the statuses the API answers with, plus "other" */
#define LY__DURATION_BUCKETS 12

typedef struct ly__metrics {
    _Atomic uint64_t requests[LY_ROUTE_COUNT + 1][LY__STATUS_SLOTS];
    _Atomic uint64_t duration[LY_ROUTE_COUNT + 1][LY__DURATION_BUCKETS + 1]; /* last: +Inf */
    _Atomic uint64_t duration_usec[LY_ROUTE_COUNT + 1];
    _Atomic uint64_t receipts_confirmed;
    _Atomic uint64_t returns;
} ly__metrics;

/* Counts one answered request. */
void ly__metrics_request(ly__metrics *m, ly__route_id route, int status, uint64_t usec);

/* The exposition text of m and of the store's counters, in the arena; NULL on OOM. */
char *ly__metrics_render(ly__metrics *m, ly_store *store, ly_arena *a);

/* ---------------------------------------------------------------------------------------
 * The server and a request (server.c)
 * ------------------------------------------------------------------------------------- */

struct ly_http {
    ly_service *svc;
    struct MHD_Daemon *daemon;
    int port;
    size_t max_body;      /* bodies larger than this are answered 413 */
    size_t drain_max;     /* up to this much of a refused body is read and dropped */
    atomic_bool stopping; /* set by ly_http_stop: no new operations */
    atomic_long ops;      /* operations submitted and not yet resumed */
    atomic_long active;   /* request contexts alive */
    ly__metrics metrics;
    struct ly_offers_cache *offers; /* the personal-offers model, built on first use */
};

typedef enum ly__phase {
    LY_PHASE_READING = 0, /* gathering the body */
    LY_PHASE_WAITING,     /* suspended while its operation runs */
    LY_PHASE_REPLIED      /* a response has been queued */
} ly__phase;

struct ly__req {
    ly_http *http;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;        /* decoded path, without the query */
    ly_arena arena;          /* everything request-scoped, freed when the request completes */
    uint64_t start_usec;
    ly__route_id route;
    const char *param;       /* the {id} of the path, in the arena, or NULL */
    ly_role role;            /* of the key used; LY_ROLE_NONE on public routes */
    ly_time now;

    /* The body, malloc'd and NUL-terminated. */
    char *body;
    size_t body_len, body_cap;
    uint64_t body_seen;      /* bytes received, kept or not */
    bool too_large;

    ly__phase phase;
    ly_op *op;                /* the operation in flight */
    atomic_bool op_done;      /* set by the writer thread before it resumes the connection */

    /* The reply. */
    int status;
    const char *reply;        /* body text (arena or static) */
    size_t reply_len;
    const char *content_type; /* NULL: application/json */
    bool replayed;            /* adds Idempotent-Replay: true */
    bool www_authenticate;    /* adds WWW-Authenticate: Bearer */
    const char *allow;        /* adds Allow: ... (405) */
};

/* Sets the reply to status with the JSON text (borrowed: arena or static). */
void ly__reply_text(ly__req *r, int status, const char *json);

/* Sets the reply to status with v's compact text; takes v's reference. NULL v (a failed
 * jansson allocation) gives a 500. */
void ly__reply_json(ly__req *r, int status, json_t *v);

/* Sets the reply to the error: the status for e->kind and {"error":{...}}. */
void ly__reply_error(ly__req *r, const ly_error *e);

/* The same for an error made on the spot. Returns kind. */
ly_err ly__reply_errorf(ly__req *r, ly_err kind, const char *code, const char *field,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The body parsed as a JSON object, or NULL after replying 400. The caller owns the
 * reference. When empty_ok, an empty body gives an empty object. */
json_t *ly__body_or_reply(ly__req *r, bool empty_ok);

/* A request header's value, or NULL. */
const char *ly__header(ly__req *r, const char *name);

/* Runs op asynchronously for this request: fills op->arena, op->now, op->user, op->done and
 * op->render, suspends the connection and submits op. The reply is made when op is done
 * (from op->status and op->response, or op->err). If the operation cannot be submitted the
 * reply is a 503. The handler must return right after calling this. */
void ly__req_submit(ly__req *r, ly_op *op, ly_render_fn render);

/* ---------------------------------------------------------------------------------------
 * Handlers (handlers.c): one per route
 * ------------------------------------------------------------------------------------- */

void ly__handle_health(ly__req *r);
void ly__handle_metrics(ly__req *r);
void ly__handle_calculate(ly__req *r);
void ly__handle_confirm(ly__req *r);
void ly__handle_receipt_get(ly__req *r);
void ly__handle_return(ly__req *r);
void ly__handle_customer_create(ly__req *r);
void ly__handle_customer_lookup(ly__req *r);
void ly__handle_customer_get(ly__req *r);
void ly__handle_customer_patch(ly__req *r);
void ly__handle_balance(ly__req *r);
void ly__handle_ledger(ly__req *r);
void ly__handle_qr(ly__req *r);
void ly__handle_merge(ly__req *r);
void ly__handle_adjust(ly__req *r);
/* Rewards (engineer R; rewards.c) */
void ly__handle_event(ly__req *r);
void ly__handle_coupon_get(ly__req *r);
void ly__handle_coupon_codes(ly__req *r);
void ly__handle_referrals(ly__req *r);
/* Adds the rewards' part of a profile ("referral_code" when the program has referrals) to
 * the profile object o. False when out of memory. */
bool ly__rewards_profile(ly__req *r, const ly_customer *c, json_t *o);

/* Program replacement, tiers and the club (engineer T; tiers.c) */
void ly__handle_program_get(ly__req *r);
void ly__handle_program_put(ly__req *r);
void ly__handle_tier_get(ly__req *r);
void ly__handle_club_members(ly__req *r);
void ly__handle_club_invite(ly__req *r);
void ly__handle_club_remove(ly__req *r);
/* Adds "tier" and "club" (null when the program has none) for the customer to o, the
 * profile or the balance being answered. */
ly_err ly__tier_fields(ly__req *r, int64_t customer_id, json_t *o, ly_error *err);

/* Request helpers shared by the handler files (handlers.c). Each "or reply" helper answers
 * the request itself when it fails, so a handler returns at once:
 *   if (!ly__customer_id_or_reply(r, &id)) return; */
/* The numeric {id} of the path, or false after replying 404 with code ("no WHAT with id"). */
bool ly__path_id_or_reply(ly__req *r, const char *code, const char *what, int64_t *id);
/* The same for a customer: 404 customer_not_found, field "id". */
bool ly__customer_id_or_reply(ly__req *r, int64_t *id);
/* The customer of the path's {id}, read into *c (strings in the request arena), or false
 * after replying: 404 customer_not_found (field "id") when the id is malformed, then (when
 * allowed_query is not NULL) as ly__query_only_or_reply for a query parameter not in it,
 * then 404 when no customer has the id, any other service error as ly__reply_service_error
 * gives it. */
bool ly__path_customer_or_reply(ly__req *r, const char *const *allowed_query, ly_customer *c);
/* False after replying 400 unknown_field if the query has a parameter not in allowed
 * (NULL-ended). */
bool ly__query_only_or_reply(ly__req *r, const char *const *allowed);
/* The integer query parameter name in [min, max], def when absent; false after replying 400
 * invalid_value. */
bool ly__query_int_or_reply(ly__req *r, const char *name, int64_t min, int64_t max, int64_t def,
                            int64_t *out);
/* A new operation in the request arena, or NULL after replying 500. */
ly_op *ly__new_op_or_reply(ly__req *r, ly_op_kind kind);
/* Replies with a service error, naming the path's customer "id" as the API documents. */
void ly__reply_service_error(ly__req *r, ly_error *e);

/* Personal offers (handlers.c; engage.h) */
void ly__handle_offers(ly__req *r);

/* Quests, badges and the level (quests.c; issue 6, engineer Q; docs/api-quests.md) */
void ly__handle_quests(ly__req *r);

/* Questionnaire answers (survey.c; issue 6, engineer S; docs/api-touchpoints.md) */
void ly__handle_answers(ly__req *r);

/* Counts what a finished operation did (confirmed receipts, returns) for /metrics. */
void ly__handle_op_finished(ly__req *r);

#endif /* LY_HTTP_INTERNAL_H */
