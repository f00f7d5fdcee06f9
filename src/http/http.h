/*
 * http.h - the HTTP/JSON API: a libmicrohttpd server that authenticates, decodes JSON into
 * the core's types, calls the service and encodes the answer. docs/api.md is its reference.
 */
#ifndef LY_HTTP_H
#define LY_HTTP_H

#include "service/service.h"

typedef struct ly_http ly_http;

typedef struct ly_http_options {
    const char *host;   /* address to bind, e.g. "127.0.0.1" */
    int port;           /* 0 picks a free port (see ly_http_port) */
    int threads;        /* worker threads; 0 = number of cores */
    size_t max_body;    /* largest request body in bytes; 0 = 1 MiB */
    int64_t offers_max_age; /* seconds before the personal-offers model is rebuilt; 0 = 3600 */
} ly_http_options;

/* Starts serving. The server calls into s from its threads; s must outlive it. */
ly_err ly_http_start(ly_service *s, const ly_http_options *opt, ly_http **out, ly_error *err);

/* The port the server listens on. */
int ly_http_port(const ly_http *h);

/* Stops accepting, finishes requests in flight, frees the server. NULL is a no-op. */
void ly_http_stop(ly_http *h);

#endif /* LY_HTTP_H */
