/*
 * router.c - the API's routes: method, path pattern, the role that may call it and the
 * handler. The table is small and fixed, so the metrics' route labels stay bounded.
 *
 * Who may call what: a pos key runs the checkout (calculate, confirm, read a receipt, take a
 * return) and looks after customers at the till (enrol, look up, read, balance, ledger, new
 * QR token). Changing a profile, merging profiles and adjusting points by hand need an admin
 * key. /health and /metrics need no key.
 */
#include "http/http_internal.h"

#include <stdio.h>
#include <string.h>

static const ly__route routes[LY_ROUTE_COUNT] = {
    {LY_ROUTE_HEALTH, "GET", "/health", "GET /health", LY_ROLE_NONE, ly__handle_health},
    {LY_ROUTE_METRICS, "GET", "/metrics", "GET /metrics", LY_ROLE_NONE, ly__handle_metrics},
    {LY_ROUTE_CALCULATE, "POST", "/v1/receipts/calculate", "POST /v1/receipts/calculate",
     LY_ROLE_POS, ly__handle_calculate},
    {LY_ROUTE_CONFIRM, "POST", "/v1/receipts", "POST /v1/receipts", LY_ROLE_POS,
     ly__handle_confirm},
    {LY_ROUTE_RECEIPT_GET, "GET", "/v1/receipts/{id}", "GET /v1/receipts/{id}", LY_ROLE_POS,
     ly__handle_receipt_get},
    {LY_ROUTE_RETURN, "POST", "/v1/receipts/{id}/returns", "POST /v1/receipts/{id}/returns",
     LY_ROLE_POS, ly__handle_return},
    {LY_ROUTE_CUSTOMER_CREATE, "POST", "/v1/customers", "POST /v1/customers", LY_ROLE_POS,
     ly__handle_customer_create},
    {LY_ROUTE_CUSTOMER_LOOKUP, "GET", "/v1/customers", "GET /v1/customers", LY_ROLE_POS,
     ly__handle_customer_lookup},
    {LY_ROUTE_CUSTOMER_GET, "GET", "/v1/customers/{id}", "GET /v1/customers/{id}", LY_ROLE_POS,
     ly__handle_customer_get},
    {LY_ROUTE_CUSTOMER_PATCH, "PATCH", "/v1/customers/{id}", "PATCH /v1/customers/{id}",
     LY_ROLE_ADMIN, ly__handle_customer_patch},
    {LY_ROUTE_BALANCE, "GET", "/v1/customers/{id}/balance", "GET /v1/customers/{id}/balance",
     LY_ROLE_POS, ly__handle_balance},
    {LY_ROUTE_LEDGER, "GET", "/v1/customers/{id}/ledger", "GET /v1/customers/{id}/ledger",
     LY_ROLE_POS, ly__handle_ledger},
    {LY_ROUTE_QR, "POST", "/v1/customers/{id}/qr", "POST /v1/customers/{id}/qr", LY_ROLE_POS,
     ly__handle_qr},
    {LY_ROUTE_MERGE, "POST", "/v1/customers/{id}/merge", "POST /v1/customers/{id}/merge",
     LY_ROLE_ADMIN, ly__handle_merge},
    {LY_ROUTE_ADJUST, "POST", "/v1/customers/{id}/adjustments",
     "POST /v1/customers/{id}/adjustments", LY_ROLE_ADMIN, ly__handle_adjust},
    /* Rewards (engineer R): custom events at the till or app, coupon campaigns for admins,
     * a member's referrals. */
    {LY_ROUTE_EVENT, "POST", "/v1/events", "POST /v1/events", LY_ROLE_POS, ly__handle_event},
    {LY_ROUTE_COUPON_GET, "GET", "/v1/coupons/{id}", "GET /v1/coupons/{id}", LY_ROLE_ADMIN,
     ly__handle_coupon_get},
    {LY_ROUTE_COUPON_CODES, "POST", "/v1/coupons/{id}/codes", "POST /v1/coupons/{id}/codes",
     LY_ROLE_ADMIN, ly__handle_coupon_codes},
    {LY_ROUTE_REFERRALS, "GET", "/v1/customers/{id}/referrals", "GET /v1/customers/{id}/referrals",
     LY_ROLE_POS, ly__handle_referrals},
    /* Program replacement, tiers and the club (engineer T). Designated, so the table stays
     * right whatever is added before them. */
    [LY_ROUTE_PROGRAM_GET] = {LY_ROUTE_PROGRAM_GET, "GET", "/v1/program", "GET /v1/program",
                              LY_ROLE_ADMIN, ly__handle_program_get},
    [LY_ROUTE_PROGRAM_PUT] = {LY_ROUTE_PROGRAM_PUT, "PUT", "/v1/program", "PUT /v1/program",
                              LY_ROLE_ADMIN, ly__handle_program_put},
    [LY_ROUTE_TIER_GET] = {LY_ROUTE_TIER_GET, "GET", "/v1/customers/{id}/tier",
                           "GET /v1/customers/{id}/tier", LY_ROLE_POS, ly__handle_tier_get},
    [LY_ROUTE_CLUB_MEMBERS] = {LY_ROUTE_CLUB_MEMBERS, "GET", "/v1/club/members",
                               "GET /v1/club/members", LY_ROLE_ADMIN, ly__handle_club_members},
    [LY_ROUTE_CLUB_INVITE] = {LY_ROUTE_CLUB_INVITE, "POST", "/v1/club/members",
                              "POST /v1/club/members", LY_ROLE_ADMIN, ly__handle_club_invite},
    [LY_ROUTE_CLUB_REMOVE] = {LY_ROUTE_CLUB_REMOVE, "DELETE", "/v1/club/members/{id}",
                              "DELETE /v1/club/members/{id}", LY_ROLE_ADMIN, ly__handle_club_remove},
    /* Personal offers (engage/). */
    [LY_ROUTE_OFFERS] = {LY_ROUTE_OFFERS, "GET", "/v1/customers/{id}/offers",
                         "GET /v1/customers/{id}/offers", LY_ROLE_POS, ly__handle_offers},
    /* Quests (issue 6, engineer Q). */
    [LY_ROUTE_QUESTS] = {LY_ROUTE_QUESTS, "GET", "/v1/customers/{id}/quests",
                         "GET /v1/customers/{id}/quests", LY_ROLE_POS, ly__handle_quests},
    /* Questionnaire answers (issue 6, engineer S). */
    [LY_ROUTE_ANSWERS] = {LY_ROUTE_ANSWERS, "POST", "/v1/customers/{id}/answers",
                          "POST /v1/customers/{id}/answers", LY_ROLE_POS, ly__handle_answers},
};

const ly__route *ly__route_get(ly__route_id id)
{
    return (unsigned)id < LY_ROUTE_COUNT ? &routes[id] : NULL;
}

/* Whether path matches pattern; *param and *param_len get the {id} segment. Segments are
 * compared whole, and {id} takes one non-empty segment. */
static bool matches(const char *pattern, const char *path, const char **param, size_t *param_len)
{
    const char *p = pattern, *s = path;
    *param = NULL;
    *param_len = 0;
    while (*p && *s) {
        if (strncmp(p, "{id}", 4) == 0) {
            const char *end = strchr(s, '/');
            size_t n = end ? (size_t)(end - s) : strlen(s);
            if (n == 0) return false;
            *param = s;
            *param_len = n;
            s += n;
            p += 4;
            continue;
        }
        if (*p != *s) return false;
        p++;
        s++;
    }
    return *p == '\0' && *s == '\0';
}

const ly__route *ly__route_find(const char *method, const char *path, const char **param,
                                size_t *param_len, int *status, char *allow, size_t allow_size)
{
    size_t used = 0;
    if (allow_size) allow[0] = '\0';
    /* Exact patterns before those with {id}: "/v1/receipts/calculate" is not a receipt id. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < LY_ROUTE_COUNT; i++) {
            const ly__route *rt = &routes[i];
            bool wild = strchr(rt->pattern, '{') != NULL;
            if (wild != (pass == 1)) continue;
            const char *pm;
            size_t pl;
            if (!matches(rt->pattern, path, &pm, &pl)) continue;
            if (strcmp(rt->method, method) == 0) {
                *param = pm;
                *param_len = pl;
                return rt;
            }
            if (strstr(allow, rt->method)) continue;
            int n = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", rt->method);
            if (n > 0 && (size_t)n < allow_size - used) used += (size_t)n;
        }
        /* A path that an exact pattern knows is not looked up again as an {id}. */
        if (used) break;
    }
    *param = NULL;
    *param_len = 0;
    *status = used ? 405 : 404;
    return NULL;
}
