/*
 * server.c - the HTTP server: libmicrohttpd set-up, the life of a request (body, routing,
 * authentication, suspension while an operation runs), replies and errors, and a clean stop.
 *
 * Threads. MHD runs a pool of worker threads, each with its own epoll (or poll) loop; a
 * request lives on one of them from start to end. Reads run right there. A change is an
 * ly_op that runs on the store's writer thread: the worker suspends the connection *before*
 * submitting it, so when the writer's completion callback resumes the connection it is
 * always suspended (MHD requires that), however fast the writer is. The callback then never
 * touches the request again: once resumed, MHD may finish and free it at any moment.
 *
 * Stopping. MHD must not be stopped while a connection is suspended. ly_http_stop first
 * closes the listening socket, forbids new operations, waits for the operations in flight
 * (the store always finishes them) and, for a while, for requests being answered, and only
 * then stops MHD.
 */
#include "http/codec_internal.h"
#include "engage/engage.h"
#include "http/http_internal.h"
#include "os/os.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY ((size_t)1 << 20)
#define DRAIN_MIN ((size_t)8 << 20)        /* a refused body this large is still read */
#define CONNECTION_LIMIT 1000
#define CONNECTION_TIMEOUT_SECONDS 60
#define CONNECTION_MEMORY ((size_t)64 << 10) /* headers and MHD's buffers, per connection */
#define THREADS_MAX 256
#define STOP_GRACE_USEC (10u * 1000000u)     /* how long stop waits for requests being answered */
#define KEY_MAX 256

/* ---------------------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------------------- */

static const char oomReply[] =
    "{\"error\":{\"code\":\"out_of_memory\",\"message\":\"the server is out of memory\"}}";

/* The one place where an error class becomes an HTTP status. */
static int statusOf(ly_err kind)
{
    switch (kind) {
    case LY_OK: return 200;
    case LY_EINVAL: return 400;
    case LY_EUNAUTH: return 401;
    case LY_EFORBIDDEN: return 403;
    case LY_ENOTFOUND: return 404;
    case LY_ECONFLICT: return 409;
    case LY_ETOOLARGE: return 413;
    case LY_EUNPROCESSABLE: return 422;
    case LY_EIO: return 503;
    case LY_ENOMEM:
    case LY_EINTERNAL: return 500;
    }
    return 500;
}

void ly__reply_text(ly__req *r, int status, const char *json)
{
    r->status = status;
    r->reply = json;
    r->reply_len = strlen(json);
    r->content_type = NULL;
}

void ly__reply_json(ly__req *r, int status, json_t *v)
{
    char *text = ly__json_text(v, &r->arena);
    if (text) ly__reply_text(r, status, text);
    else ly__reply_text(r, 500, oomReply);
}

/* An error reply with an explicit status (for 405, which has no error class). */
static void replyStatusError(ly__req *r, int status, const ly_error *e)
{
    ly_error copy = *e;
    /* The store and the service name identifier kinds by the core's names. */
    if (strcmp(copy.field, "external") == 0) snprintf(copy.field, sizeof copy.field, "external_id");
    if (status >= 500 && strcmp(copy.code, "shutting_down") != 0)
        fprintf(stderr, "loyal serve: %s %s: %d %s: %s\n", r->method, r->path, status,
                copy.code, copy.message);
    r->www_authenticate = status == 401;
    json_t *v = ly__json_error(&copy);
    ly__reply_json(r, status, v);
}

void ly__reply_error(ly__req *r, const ly_error *e)
{
    ly_error copy = *e;
    if (copy.kind == LY_OK) copy.kind = LY_EINTERNAL;
    if (!copy.code[0]) snprintf(copy.code, sizeof copy.code, "%s", ly_err_code(copy.kind));
    replyStatusError(r, statusOf(copy.kind), &copy);
}

ly_err ly__reply_errorf(ly__req *r, ly_err kind, const char *code, const char *field,
                        const char *fmt, ...)
{
    ly_error e;
    ly_error_clear(&e);
    e.kind = kind;
    snprintf(e.code, sizeof e.code, "%s", code ? code : ly_err_code(kind));
    snprintf(e.field, sizeof e.field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    ly__reply_error(r, &e);
    return kind;
}

json_t *ly__body_or_reply(ly__req *r, bool empty_ok)
{
    json_t *root;
    ly_error err;
    ly_error_clear(&err);
    if (ly__json_parse_object(r->body ? r->body : "", r->body_len, empty_ok, &root, &err) != LY_OK) {
        ly__reply_error(r, &err);
        return NULL;
    }
    return root;
}

const char *ly__header(ly__req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Queues r's reply with MHD. */
static enum MHD_Result sendReply(ly__req *r)
{
    if (!r->status || !r->reply) {
        ly__reply_errorf(r, LY_EINTERNAL, "internal_error", NULL, "the request got no answer");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r->reply_len, (void *)r->reply, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    if (r->replayed) MHD_add_response_header(resp, "Idempotent-Replay", "true");
    if (r->www_authenticate) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    enum MHD_Result ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    r->phase = LY_PHASE_REPLIED;
    uint64_t usec = ly_os_usec() - r->start_usec;
    ly__metrics_request(&r->http->metrics, r->route, r->status, usec);
    return ret;
}

/* ---------------------------------------------------------------------------------------
 * Operations: suspend, submit, resume
 * ------------------------------------------------------------------------------------- */

/* Writer thread: the operation is durable (or failed). After MHD_resume_connection the
 * request belongs to MHD again and may be freed at once: touch nothing of it afterwards. */
static void opDone(ly_op *op)
{
    ly__req *r = op->user;
    ly_http *h = r->http;
    struct MHD_Connection *conn = r->conn;
    atomic_store_explicit(&r->op_done, true, memory_order_release);
    MHD_resume_connection(conn);
    /* Counted down only now, so that stop never sees zero while a resume is on its way. */
    atomic_fetch_sub(&h->ops, 1);
}

void ly__req_submit(ly__req *r, ly_op *op, ly_render_fn render)
{
    ly_http *h = r->http;
    op->arena = &r->arena;
    op->now = r->now;
    op->render = render;
    op->done = opDone;
    op->user = r;
    r->op = op;
    atomic_store(&r->op_done, false);
    /* Counted up before looking at stopping; stop sets stopping before it waits for zero:
     * one of the two always sees the other. */
    atomic_fetch_add(&h->ops, 1);
    if (atomic_load(&h->stopping)) {
        atomic_fetch_sub(&h->ops, 1);
        r->op = NULL;
        ly__reply_errorf(r, LY_EIO, "shutting_down", NULL, "the server is stopping; retry");
        return;
    }
    r->phase = LY_PHASE_WAITING;
    MHD_suspend_connection(r->conn);
    if (ly_service_submit(h->svc, op) != LY_OK) {
        /* done will not be called: finish it here, as the writer would have. */
        op->rc = LY_EIO;
        ly_error_set(&op->err, LY_EIO, "storage_unavailable", NULL,
                     "the store is closing; nothing was changed, retry");
        atomic_store_explicit(&r->op_done, true, memory_order_release);
        MHD_resume_connection(r->conn);
        atomic_fetch_sub(&h->ops, 1);
    }
}

/* Back on the MHD thread after the resume: the reply from the operation's outcome. */
static void finishOp(ly__req *r)
{
    ly_op *op = r->op;
    ly__handle_op_finished(r);
    if (op->rc != LY_OK) {
        ly_error e = op->err;
        if (e.kind == LY_OK) e.kind = op->rc;
        ly__reply_error(r, &e);
        return;
    }
    ly__reply_text(r, op->status ? op->status : 200, op->response ? op->response : "{}");
    r->replayed = op->replayed;
}

/* ---------------------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------------------- */

static void replyTooLarge(ly__req *r)
{
    ly__reply_errorf(r, LY_ETOOLARGE, "body_too_large", NULL,
                     "the request body is larger than %zu bytes", r->http->max_body);
}

/* Finds the route, checks the key and runs the handler. */
static void dispatch(ly__req *r)
{
    ly_http *h = r->http;
    const char *param;
    size_t param_len;
    int status;
    char allow[64];
    const ly__route *rt = ly__route_find(r->method, r->path, &param, &param_len, &status, allow,
                                         sizeof allow);
    if (!rt) {
        ly_error e;
        ly_error_clear(&e);
        if (status == 405) {
            r->allow = ly_arena_strdup(&r->arena, allow);
            ly_error_set(&e, LY_EINVAL, "method_not_allowed", NULL, "%s is not allowed on %s; use %s",
                         r->method, r->path, allow);
        } else {
            ly_error_set(&e, LY_ENOTFOUND, "not_found", NULL, "no such endpoint: %s %s", r->method,
                         r->path);
        }
        replyStatusError(r, status, &e);
        return;
    }
    r->route = rt->id;
    r->param = param ? ly_arena_strndup(&r->arena, param, param_len) : NULL;
    if (param && !r->param) {
        ly__reply_text(r, 500, oomReply);
        return;
    }

    if (rt->role != LY_ROLE_NONE) {
        const char *auth = ly__header(r, MHD_HTTP_HEADER_AUTHORIZATION);
        const char *key = NULL;
        size_t key_len = 0;
        if (auth) {
            while (*auth == ' ' || *auth == '\t') auth++;
            if (strncasecmp(auth, "Bearer", 6) == 0 && (auth[6] == ' ' || auth[6] == '\t')) {
                key = auth + 7;
                while (*key == ' ' || *key == '\t') key++;
                key_len = strlen(key);
                while (key_len && (key[key_len - 1] == ' ' || key[key_len - 1] == '\t')) key_len--;
            }
        }
        if (!key || key_len == 0 || key_len > KEY_MAX) {
            ly__reply_errorf(r, LY_EUNAUTH, "unauthorized", NULL,
                             "an API key is required: send \"Authorization: Bearer <key>\"");
            return;
        }
        char keybuf[KEY_MAX + 1];
        memcpy(keybuf, key, key_len);
        keybuf[key_len] = '\0';
        ly_error err;
        ly_error_clear(&err);
        ly_role role = LY_ROLE_NONE;
        if (ly_service_auth(h->svc, keybuf, &role, &err) != LY_OK) {
            ly__reply_error(r, &err);
            return;
        }
        if (rt->role == LY_ROLE_ADMIN && role != LY_ROLE_ADMIN) {
            ly__reply_errorf(r, LY_EFORBIDDEN, "forbidden", NULL,
                             "a %s key may not call %s; it needs an admin key", ly_role_name(role),
                             rt->label);
            return;
        }
        r->role = role;
    }
    rt->handle(r);
}

/* Takes a piece of the body. Returns false to drop the connection (a refused body beyond
 * what is worth draining). */
static bool takeBody(ly__req *r, const char *data, size_t n)
{
    ly_http *h = r->http;
    r->body_seen += n;
    if (!r->too_large && r->body_len + n > h->max_body) {
        r->too_large = true;
        free(r->body);
        r->body = NULL;
        r->body_len = r->body_cap = 0;
    }
    if (r->too_large) return r->body_seen <= h->drain_max;
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) return false;
        r->body = b;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return true;
}

/* The first call, with the headers only. A body declared too large is refused at once when
 * the client waits for "100 Continue" (it has sent nothing yet) or when it is too large to
 * be worth reading; otherwise it is read and dropped, so the connection stays usable. */
static enum MHD_Result onHeaders(ly__req *r)
{
    const char *cl = ly__header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return MHD_YES;
    char *end;
    unsigned long long n = strtoull(cl, &end, 10);
    if (end == cl || n <= r->http->max_body) return MHD_YES;
    const char *expect = ly__header(r, MHD_HTTP_HEADER_EXPECT);
    bool waits = expect && strcasecmp(expect, "100-continue") == 0;
    if (waits || n > r->http->drain_max) {
        r->now = ly_os_now();
        replyTooLarge(r);
        return sendReply(r);
    }
    r->too_large = true;
    return MHD_YES;
}

static enum MHD_Result onAccess(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ly_http *h = cls;
    ly__req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->http = h;
        r->conn = conn;
        r->method = method;
        r->path = url;
        r->start_usec = ly_os_usec();
        r->route = LY_ROUTE_NONE;
        atomic_init(&r->op_done, false);
        *con_cls = r;
        atomic_fetch_add(&h->active, 1);
        return onHeaders(r);
    }
    switch (r->phase) {
    case LY_PHASE_READING:
        if (*upload_data_size) {
            size_t n = *upload_data_size;
            *upload_data_size = 0;
            return takeBody(r, upload_data, n) ? MHD_YES : MHD_NO;
        }
        r->now = ly_os_now();
        if (r->too_large) replyTooLarge(r);
        else dispatch(r);
        if (r->phase == LY_PHASE_WAITING) return MHD_YES;
        return sendReply(r);
    case LY_PHASE_WAITING:
        if (!atomic_load_explicit(&r->op_done, memory_order_acquire)) return MHD_YES;
        finishOp(r);
        return sendReply(r);
    case LY_PHASE_REPLIED:
        if (*upload_data_size) *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

static void onCompleted(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    ly_http *h = cls;
    ly__req *r = *con_cls;
    if (!r) return;
    *con_cls = NULL;
    if (r->phase == LY_PHASE_WAITING && !atomic_load(&r->op_done)) {
        /* The writer still holds the operation and its arena. Cannot happen: MHD stops only
         * when no operation is in flight. Leaking beats a use after free. */
        fprintf(stderr, "loyal serve: %s %s ended while its operation ran\n", r->method, r->path);
        return;
    }
    free(r->body);
    ly_arena_free(&r->arena);
    free(r);
    atomic_fetch_sub(&h->active, 1);
}

static void onLog(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    fprintf(stderr, "loyal serve: http: %s\n", line);
}

/* ---------------------------------------------------------------------------------------
 * Start and stop
 * ------------------------------------------------------------------------------------- */

/* The socket address for host:port: an IPv4 or IPv6 literal, or a name resolved once. */
static ly_err listenAddress(const char *host, int port, struct sockaddr_storage *ss, bool *ipv6,
                            ly_error *err)
{
    memset(ss, 0, sizeof *ss);
    *ipv6 = false;
    if (port < 0 || port > 65535)
        return ly_error_set(err, LY_EINVAL, "invalid_port", "port", "port %d is not 0..65535", port);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        return LY_OK;
    }
    const char *h6 = host;
    char buf[64];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof buf) {
        memcpy(buf, host + 1, hl - 2);
        buf[hl - 2] = '\0';
        h6 = buf;
    }
    if (inet_pton(AF_INET6, h6, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
        return LY_OK;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
        return ly_error_set(err, LY_EINVAL, "invalid_host", "host", "cannot resolve %s", host);
    if (res->ai_addrlen <= sizeof *ss) memcpy(ss, res->ai_addr, res->ai_addrlen);
    int family = res->ai_family;
    freeaddrinfo(res);
    if (family == AF_INET) {
        sin->sin_port = htons((uint16_t)port);
    } else if (family == AF_INET6) {
        sin6->sin6_port = htons((uint16_t)port);
        *ipv6 = true;
    } else {
        return ly_error_set(err, LY_EINVAL, "invalid_host", "host", "%s is not an IP host", host);
    }
    return LY_OK;
}

ly_err ly_http_start(ly_service *s, const ly_http_options *opt, ly_http **out, ly_error *err)
{
    *out = NULL;
    const char *host = opt && opt->host && *opt->host ? opt->host : "127.0.0.1";
    int port = opt ? opt->port : 0;
    struct sockaddr_storage ss;
    bool ipv6;
    ly_err rc = listenAddress(host, port, &ss, &ipv6, err);
    if (rc != LY_OK) return rc;

    ly_http *h = calloc(1, sizeof *h);
    if (!h) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    h->svc = s;
    /* The offers model is rebuilt from the store once it is older than this. */
    h->offers = ly_offers_cache_new(NULL, opt && opt->offers_max_age > 0 ? opt->offers_max_age : 3600);
    if (!h->offers) {
        free(h);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    h->max_body = opt && opt->max_body ? opt->max_body : DEFAULT_MAX_BODY;
    h->drain_max = h->max_body > SIZE_MAX / 8 ? SIZE_MAX : h->max_body * 8;
    if (h->drain_max < DRAIN_MIN) h->drain_max = DRAIN_MIN;
    atomic_init(&h->stopping, false);
    atomic_init(&h->ops, 0);
    atomic_init(&h->active, 0);
    json_object_seed(0); /* before any worker thread makes JSON objects */

    long threads = opt && opt->threads > 0 ? opt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > THREADS_MAX) threads = THREADS_MAX;

    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ipv6) flags |= MHD_USE_IPv6;

    struct MHD_OptionItem opts[9];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &ss};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, CONNECTION_TIMEOUT_SECONDS, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)CONNECTION_MEMORY, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)onCompleted, h};
    if (threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    /* MHD wants its logger as the very first option. */
    h->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, onAccess, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, onLog, h,
                                 MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!h->daemon) {
        ly_offers_cache_free(h->offers);
        free(h);
        return ly_error_set(err, LY_EIO, "listen_failed", "listen",
                            "cannot listen on %s:%d (in use, or not an address of this machine?)",
                            host, port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info && info->port ? info->port : port;
    *out = h;
    return LY_OK;
}

int ly_http_port(const ly_http *h)
{
    return h ? h->port : 0;
}

static void sleepUsec(long usec)
{
    struct timespec ts = {usec / 1000000, (usec % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0) {}
}

void ly_http_stop(ly_http *h)
{
    if (!h) return;
    MHD_socket listen_fd = MHD_quiesce_daemon(h->daemon);
    atomic_store(&h->stopping, true);
    /* Operations in flight always finish (the store runs every job it accepted), and MHD
     * must not stop while their connections are suspended: wait for all of them. */
    while (atomic_load(&h->ops) > 0) sleepUsec(2000);
    /* Give requests being answered a moment to get their responses out. */
    uint64_t deadline = ly_os_usec() + STOP_GRACE_USEC;
    while (atomic_load(&h->active) > 0 && ly_os_usec() < deadline) sleepUsec(2000);
    MHD_stop_daemon(h->daemon);
    if (listen_fd != MHD_INVALID_SOCKET) close(listen_fd);
    ly_offers_cache_free(h->offers);
    free(h);
}
