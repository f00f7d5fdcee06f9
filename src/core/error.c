/*
 * error.c - error reports: filling an ly_error and the generic code of each error class.
 */
#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ly_err ly_error_set(ly_error *e, ly_err kind, const char *code, const char *field,
                    const char *fmt, ...)
{
    if (!e) return kind;
    e->kind = kind;
    snprintf(e->code, sizeof e->code, "%s", code ? code : ly_err_code(kind));
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return kind;
}

void ly_error_clear(ly_error *e)
{
    if (!e) return;
    e->kind = LY_OK;
    e->code[0] = '\0';
    e->field[0] = '\0';
    e->message[0] = '\0';
}

const char *ly_err_code(ly_err kind)
{
    switch (kind) {
    case LY_OK: return "ok";
    case LY_EINVAL: return "invalid_request";
    case LY_EUNAUTH: return "unauthorized";
    case LY_EFORBIDDEN: return "forbidden";
    case LY_ENOTFOUND: return "not_found";
    case LY_ECONFLICT: return "conflict";
    case LY_ETOOLARGE: return "too_large";
    case LY_EUNPROCESSABLE: return "unprocessable";
    case LY_ENOMEM: return "out_of_memory";
    case LY_EIO: return "storage_unavailable";
    case LY_EINTERNAL: return "internal_error";
    }
    return "internal_error";
}
