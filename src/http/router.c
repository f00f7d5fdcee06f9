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
