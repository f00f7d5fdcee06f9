/*
 * outbox.c - the delivery file (which adapter each channel goes to, retry rules), the
 * envelope a message travels in, its signature, and the retry schedule (engage.h,
 * "Delivery and the outbox"; docs/delivery.md).
 */
#include "engage/engage.h"
#include "engage/deliver_internal.h"
#include "os/os.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ly_adapter_name(ly_adapter_kind k)
{
    switch (k) {
    case LY_ADAPTER_WEBHOOK: return "webhook";
    case LY_ADAPTER_SMTP: return "smtp";
    case LY_ADAPTER_FILE: return "file";
    }
    return "unknown";
}

/* ---------------------------------------------------------------------------------------
 * The delivery file
 * ------------------------------------------------------------------------------------- */

#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_CONNECT_MS 3000L

static pthread_once_t globalOnce = PTHREAD_ONCE_INIT;
static bool globalOk;
static void globalInit(void)
{
    globalOk = sodium_init() >= 0 && curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK;
}

static ly_err bad(ly_error *err, const char *field, const char *fmt, const char *what)
{
    return ly_error_set(err, LY_EINVAL, "invalid_delivery_file", field, fmt, what);
}

/* Every key of obj must be one of the NULL-terminated names. */
static ly_err onlyKeys(json_t *obj, const char *path, const char *const *names, ly_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        bool known = false;
        for (size_t i = 0; names[i] && !known; i++) known = strcmp(key, names[i]) == 0;
        if (!known) {
            char field[128];
            snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", key);
            return bad(err, field, "unknown setting '%s'", key);
        }
    }
    return LY_OK;
}

/* An optional integer in [lo, hi]; *out keeps its default when absent. */
static ly_err getInt(json_t *obj, const char *path, const char *key, int64_t lo, int64_t hi,
                     int64_t *out, ly_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return LY_OK;
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        return ly_error_set(err, LY_EINVAL, "invalid_delivery_file", field,
                            "must be an integer from %lld to %lld", (long long)lo,
                            (long long)hi);
    }
    *out = json_integer_value(v);
    return LY_OK;
}

/* An optional string; *out is malloc'd (NULL when absent). */
static ly_err getStr(json_t *obj, const char *path, const char *key, char **out, ly_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) return LY_OK;
    char field[128];
    snprintf(field, sizeof field, "%s%s%s", path, *path ? "." : "", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return bad(err, field, "%s must be a non-empty string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(err, field, "%s must not contain NUL", key);
    *out = strdup(json_string_value(v));
    return *out ? LY_OK : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* A secret given as `key` or named by `key`_env (read now). One of them is required when
 * required is set. */
static ly_err getSecret(json_t *obj, const char *path, const char *key, bool required,
                        char **out, ly_error *err)
{
    char envKey[64], *envName = NULL;
    snprintf(envKey, sizeof envKey, "%s_env", key);
    ly_err rc = getStr(obj, path, key, out, err);
    if (rc == LY_OK) rc = getStr(obj, path, envKey, &envName, err);
    if (rc != LY_OK) {
        free(*out);
        *out = NULL;
        free(envName);
        return rc;
    }
    char field[128];
    snprintf(field, sizeof field, "%s.%s", path, envName ? envKey : key);
    if (*out && envName) {
        free(envName);
        free(*out);
        *out = NULL;
        return bad(err, field, "give %s or its _env, not both", key);
    }
    if (envName) {
        const char *v = getenv(envName);
        if (!v || !*v) {
            ly_error_set(err, LY_EINVAL, "invalid_delivery_file", field,
                         "the environment variable %s is not set", envName);
            free(envName);
            return LY_EINVAL;
        }
        free(envName);
        *out = strdup(v);
        if (!*out) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    if (required && !*out) return bad(err, field, "%s (or its _env) is required", key);
    return LY_OK;
}

static ly_err getBool(json_t *obj, const char *path, const char *key, bool *out, ly_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return LY_OK;
    if (!json_is_boolean(v)) {
        char field[128];
        snprintf(field, sizeof field, "%s.%s", path, key);
        return bad(err, field, "%s must be true or false", key);
    }
    *out = json_is_true(v);
    return LY_OK;
}

/* Header values must not smuggle in more headers or SMTP commands. */
static bool oneLine(const char *s)
{
    for (; s && *s; s++)
        if (*s == '\r' || *s == '\n') return false;
    return true;
}

/* The address inside "Name <addr>" or the whole of "addr"; malloc'd, NULL if malformed. */
char *ly__mail_address(const char *s)
{
    const char *lt = strrchr(s, '<'), *start = s, *end = s + strlen(s);
    if (lt) {
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1] != '\0') return NULL;
        start = lt + 1;
        end = gt;
    }
    size_t n = (size_t)(end - start);
    if (n < 3 || n > 254) return NULL;
    const char *at = NULL;
    for (const char *p = start; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == '<' || c == '>' || c == ',' || c == ';' || c == 0x7f) return NULL;
        if (c == '@') {
            if (at) return NULL;
            at = p;
        }
    }
    if (!at || at == start || at == end - 1) return NULL;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    memcpy(out, start, n);
    out[n] = '\0';
    return out;
}

static ly_err parseChannel(const char *name, json_t *obj, ly_channel_config *ch, ly_error *err)
{
    char path[96];
    snprintf(path, sizeof path, "channels.%s", name);
    size_t nlen = strlen(name);
    bool okName = nlen > 0 && nlen <= 32;
    for (size_t i = 0; okName && i < nlen; i++)
        okName = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                 name[i] == '_';
    if (!okName) return bad(err, path, "channel '%s': a name is 1-32 of a-z, 0-9 and _", name);
    if (!json_is_object(obj)) return bad(err, path, "channel '%s' must be an object", name);
    ch->name = strdup(name);
    if (!ch->name) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    ch->fsync = true;

    json_t *ad = json_object_get(obj, "adapter");
    const char *adapter = json_is_string(ad) ? json_string_value(ad) : "";
    char field[128];
    snprintf(field, sizeof field, "%s.adapter", path);
    if (strcmp(adapter, "webhook") == 0) ch->adapter = LY_ADAPTER_WEBHOOK;
    else if (strcmp(adapter, "smtp") == 0) ch->adapter = LY_ADAPTER_SMTP;
    else if (strcmp(adapter, "file") == 0) ch->adapter = LY_ADAPTER_FILE;
    else return bad(err, field, "adapter is \"webhook\", \"smtp\" or \"file\"%s", "");

    static const char *const webhookKeys[] = {"adapter", "cost", "url", "secret", "secret_env",
                                              "timeout_ms", "connect_timeout_ms", NULL};
    static const char *const smtpKeys[] = {"adapter", "cost", "url", "from", "username",
                                           "password", "password_env", "starttls",
                                           "message_id_domain", "insecure", "timeout_ms",
                                           "connect_timeout_ms", NULL};
    static const char *const fileKeys[] = {"adapter", "cost", "path", "fsync", NULL};
    const char *const *keys = ch->adapter == LY_ADAPTER_WEBHOOK ? webhookKeys
                              : ch->adapter == LY_ADAPTER_SMTP  ? smtpKeys
                                                                : fileKeys;
    ly_err rc = onlyKeys(obj, path, keys, err);
    if (rc != LY_OK) return rc;

    int64_t cost = 0, timeout = DEFAULT_TIMEOUT_MS, connect = DEFAULT_CONNECT_MS;
    if ((rc = getInt(obj, path, "cost", 0, LY_AMOUNT_MAX, &cost, err)) != LY_OK ||
        (rc = getInt(obj, path, "timeout_ms", 100, 600000, &timeout, err)) != LY_OK ||
        (rc = getInt(obj, path, "connect_timeout_ms", 100, 600000, &connect, err)) != LY_OK)
        return rc;
    ch->cost = cost;
    ch->timeout_ms = (long)timeout;
    ch->connect_timeout_ms = (long)(connect < timeout ? connect : timeout);

    if (ch->adapter == LY_ADAPTER_FILE) {
        if ((rc = getStr(obj, path, "path", &ch->path, err)) != LY_OK) return rc;
        if (!ch->path) {
            snprintf(field, sizeof field, "%s.path", path);
            return bad(err, field, "a file channel needs a path (\"-\" for stdout)%s", "");
        }
        if ((rc = getBool(obj, path, "fsync", &ch->fsync, err)) != LY_OK) return rc;
        pthread_mutex_t *mu = malloc(sizeof *mu);
        if (!mu) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        pthread_mutex_init(mu, NULL);
        ch->lock_ = mu;
        return LY_OK;
    }

    if ((rc = getStr(obj, path, "url", &ch->url, err)) != LY_OK) return rc;
    snprintf(field, sizeof field, "%s.url", path);
    if (!ch->url) return bad(err, field, "a %s channel needs a url", adapter);
    if (ch->adapter == LY_ADAPTER_WEBHOOK) {
        if (strncmp(ch->url, "http://", 7) != 0 && strncmp(ch->url, "https://", 8) != 0)
            return bad(err, field, "a webhook url starts with http:// or https://%s", "");
        char *secret = NULL;
        if ((rc = getSecret(obj, path, "secret", true, &secret, err)) != LY_OK) return rc;
        ch->secret_len = strlen(secret);
        ch->secret = (unsigned char *)secret;
        if (ch->secret_len < 16) {
            snprintf(field, sizeof field, "%s.secret", path);
            return bad(err, field, "the secret must be at least 16 bytes%s", "");
        }
        return LY_OK;
    }

    /* smtp */
    if (strncmp(ch->url, "smtp://", 7) != 0 && strncmp(ch->url, "smtps://", 8) != 0)
        return bad(err, field, "an smtp url starts with smtp:// or smtps://%s", "");
    if ((rc = getStr(obj, path, "from", &ch->from, err)) != LY_OK) return rc;
    snprintf(field, sizeof field, "%s.from", path);
    if (!ch->from) return bad(err, field, "an smtp channel needs a from address%s", "");
    if (!oneLine(ch->from) || !(ch->from_addr = ly__mail_address(ch->from)))
        return bad(err, field, "'%s' is not an address (\"Name <user@host>\")", ch->from);
    if ((rc = getStr(obj, path, "message_id_domain", &ch->msgid_domain, err)) != LY_OK)
        return rc;
    if (!ch->msgid_domain) {
        ch->msgid_domain = strdup(strchr(ch->from_addr, '@') + 1);
        if (!ch->msgid_domain)
            return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    if (!oneLine(ch->msgid_domain) || strpbrk(ch->msgid_domain, " <>@")) {
        snprintf(field, sizeof field, "%s.message_id_domain", path);
        return bad(err, field, "'%s' is not a domain", ch->msgid_domain);
    }
    if ((rc = getStr(obj, path, "username", &ch->username, err)) != LY_OK ||
        (rc = getSecret(obj, path, "password", false, &ch->password, err)) != LY_OK ||
        (rc = getBool(obj, path, "insecure", &ch->insecure, err)) != LY_OK)
        return rc;
    char *tls = NULL;
    if ((rc = getStr(obj, path, "starttls", &tls, err)) != LY_OK) return rc;
    ch->starttls = 1;
    if (tls) {
        if (strcmp(tls, "never") == 0) ch->starttls = 0;
        else if (strcmp(tls, "try") == 0) ch->starttls = 1;
        else if (strcmp(tls, "required") == 0) ch->starttls = 2;
        else ch->starttls = -1;
        free(tls);
        snprintf(field, sizeof field, "%s.starttls", path);
        if (ch->starttls < 0) return bad(err, field, "starttls is never, try or required%s", "");
    }
    return LY_OK;
}

static void channelFree(ly_channel_config *ch)
{
    free(ch->name);
    free(ch->url);
    if (ch->secret) sodium_memzero(ch->secret, ch->secret_len);
    free(ch->secret);
    free(ch->from);
    free(ch->from_addr);
    free(ch->msgid_domain);
    free(ch->username);
    if (ch->password) sodium_memzero(ch->password, strlen(ch->password));
    free(ch->password);
    free(ch->path);
    if (ch->lock_) {
        pthread_mutex_destroy(ch->lock_);
        free(ch->lock_);
    }
}

void ly_delivery_config_free(ly_delivery_config *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n_channels; i++) channelFree(&c->channels[i]);
    free(c->channels);
    free(c->channel_list);
    free(c->origin);
    free(c);
}

static ly_err parseRoot(json_t *root, ly_delivery_config *c, ly_error *err)
{
    if (!json_is_object(root)) return bad(err, "", "the delivery file is a JSON object%s", "");
    static const char *const rootKeys[] = {"retry", "batch", "threads", "channels", NULL};
    ly_err rc = onlyKeys(root, "", rootKeys, err);
    if (rc != LY_OK) return rc;

    c->max_attempts = 8;
    c->backoff_base = 30;
    c->backoff_max = 21600;
    int64_t lease = 0, batch = 10, threads = 2;
    json_t *retry = json_object_get(root, "retry");
    if (retry) {
        static const char *const retryKeys[] = {"max_attempts", "backoff_base_seconds",
                                                "backoff_max_seconds", "lease_seconds", NULL};
        if (!json_is_object(retry)) return bad(err, "retry", "retry is an object%s", "");
        if ((rc = onlyKeys(retry, "retry", retryKeys, err)) != LY_OK ||
            (rc = getInt(retry, "retry", "max_attempts", 1, 100, &c->max_attempts, err)) != LY_OK ||
            (rc = getInt(retry, "retry", "backoff_base_seconds", 1, 86400, &c->backoff_base,
                         err)) != LY_OK ||
            (rc = getInt(retry, "retry", "backoff_max_seconds", 1, 7 * 86400, &c->backoff_max,
                         err)) != LY_OK ||
            (rc = getInt(retry, "retry", "lease_seconds", 1, 86400, &lease, err)) != LY_OK)
            return rc;
        if (c->backoff_max < c->backoff_base)
            return bad(err, "retry.backoff_max_seconds", "must be >= backoff_base_seconds%s", "");
    }
    if ((rc = getInt(root, "", "batch", 1, 1000, &batch, err)) != LY_OK ||
        (rc = getInt(root, "", "threads", 1, 64, &threads, err)) != LY_OK)
        return rc;
    c->batch = (size_t)batch;
    c->threads = (int)threads;

    json_t *chs = json_object_get(root, "channels");
    if (!json_is_object(chs) || json_object_size(chs) == 0)
        return bad(err, "channels", "channels is an object with at least one channel%s", "");
    c->channels = calloc(json_object_size(chs), sizeof *c->channels);
    if (!c->channels) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    json_t *names = json_array();
    const char *name;
    json_t *v;
    long slowest = 0;
    json_object_foreach(chs, name, v) {
        ly_channel_config *ch = &c->channels[c->n_channels++];
        rc = parseChannel(name, v, ch, err);
        if (rc != LY_OK) {
            json_decref(names);
            return rc;
        }
        json_array_append_new(names, json_string(name));
        long t = ch->adapter == LY_ADAPTER_FILE ? 1000 : ch->timeout_ms;
        if (t > slowest) slowest = t;
    }
    c->channel_list = json_dumps(names, JSON_COMPACT);
    json_decref(names);
    if (!c->channel_list)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");

    /* A batch is sent one message after another: the lease must outlast the whole batch at
     * the slowest channel's timeout, or a live worker's messages would be taken back. */
    int64_t needed = (int64_t)c->batch * ((slowest + 999) / 1000) + 30;
    if (lease == 0) c->lease = needed > 60 ? needed : 60;
    else if (lease < needed)
        return ly_error_set(err, LY_EINVAL, "invalid_delivery_file", "retry.lease_seconds",
                            "must be at least %lld: batch x the slowest timeout + 30 s",
                            (long long)needed);
    else c->lease = lease;
    return LY_OK;
}

ly_err ly_delivery_config_parse(const char *text, const char *origin, ly_delivery_config **out,
                                ly_error *err)
{
    *out = NULL;
    pthread_once(&globalOnce, globalInit);
    if (!globalOk)
        return ly_error_set(err, LY_EINTERNAL, "init_failed", NULL,
                            "libsodium or libcurl could not be initialised");
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return ly_error_set(err, LY_EINVAL, "invalid_delivery_file", NULL, "%s:%d: %s",
                            origin ? origin : "delivery file", jerr.line, jerr.text);
    ly_delivery_config *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(root);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    c->origin = strdup(origin ? origin : "delivery file");
    ly_err rc = c->origin ? parseRoot(root, c, err)
                          : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    json_decref(root);
    if (rc != LY_OK) {
        ly_delivery_config_free(c);
        return rc;
    }
    *out = c;
    return LY_OK;
}

ly_err ly_delivery_config_load(const char *path, ly_delivery_config **out, ly_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return ly_error_set(err, e == ENOENT ? LY_ENOTFOUND : LY_EIO,
                            e == ENOENT ? "delivery_file_not_found" : "delivery_file_unreadable",
                            NULL, "%s: %s", path, strerror(e));
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *t = realloc(text, cap);
            if (!t || cap > (1u << 24)) {
                free(t ? t : text);
                fclose(f);
                return ly_error_set(err, LY_EINVAL, "invalid_delivery_file", NULL,
                                    "%s is too large", path);
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(text);
        return ly_error_set(err, LY_EIO, "delivery_file_unreadable", NULL, "%s: read failed",
                            path);
    }
    text[len] = '\0';
    ly_err rc = ly_delivery_config_parse(text, path, out, err);
    free(text);
    return rc;
}

const ly_channel_config *ly_delivery_channel(const ly_delivery_config *c, const char *name)
{
    for (size_t i = 0; name && i < c->n_channels; i++)
        if (strcmp(c->channels[i].name, name) == 0) return &c->channels[i];
    return NULL;
}

/* ---------------------------------------------------------------------------------------
 * Retry rules
 * ------------------------------------------------------------------------------------- */

int64_t ly_delivery_backoff(const ly_delivery_config *c, const char *message_id,
                            int64_t attempt)
{
    if (attempt < 1) attempt = 1;
    int64_t d = c->backoff_base;
    for (int64_t i = 1; i < attempt && d < c->backoff_max; i++) d *= 2;
    if (d > c->backoff_max) d = c->backoff_max;
    /* "Equal jitter": half the delay fixed, half drawn from a hash of (id, attempt), so a
     * burst of failures does not come back as a burst, yet a test can predict it. */
    char key[64];
    int n = snprintf(key, sizeof key, "%s/%lld", message_id ? message_id : "",
                     (long long)attempt);
    uint8_t h[32];
    ly_os_hash(key, (size_t)(n > 0 ? n : 0), h);
    uint64_t r = 0;
    for (int i = 0; i < 8; i++) r = (r << 8) | h[i];
    int64_t half = d / 2;
    int64_t out = (d - half) + (int64_t)(r % (uint64_t)(half + 1));
    return out >= 1 ? out : 1;
}

ly_msg_outcome_kind ly_delivery_after_failure(const ly_delivery_config *c, int64_t attempt,
                                              bool permanent)
{
    return permanent || attempt >= c->max_attempts ? LY_OUTCOME_DEAD : LY_OUTCOME_RETRY;
}

/* ---------------------------------------------------------------------------------------
 * The envelope and its signature
 * ------------------------------------------------------------------------------------- */

char *ly_delivery_envelope(const ly_message *m, ly_time sent_at)
{
    json_t *payload = json_loads(m->payload ? m->payload : "", JSON_DECODE_ANY, NULL);
    if (!json_is_object(payload)) {
        json_decref(payload);
        return NULL;
    }
    char created[40], sent[40];
    ly_time_format(m->created_at, 0, created, sizeof created);
    ly_time_format(sent_at, 0, sent, sizeof sent);
    json_t *env = json_object();
    if (!env) {
        json_decref(payload);
        return NULL;
    }
    json_object_set_new(env, "id", json_string(m->id));
    json_object_set_new(env, "trigger", json_string(m->trigger ? m->trigger : ""));
    json_object_set_new(env, "customer_id", json_integer(m->customer_id));
    json_object_set_new(env, "step", json_integer(m->step));
    json_object_set_new(env, "channel", json_string(m->channel ? m->channel : ""));
    /* Only when the message has one, so envelopes of messages without stay as they were. */
    if (m->touchpoint) json_object_set_new(env, "touchpoint", json_string(m->touchpoint));
    json_object_set_new(env, "attempt", json_integer(m->attempts));
    json_object_set_new(env, "created_at", json_string(created));
    json_object_set_new(env, "sent_at", json_string(sent));
    json_object_set_new(env, "payload", payload);
    char *out = json_dumps(env, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(env);
    return out;
}

void ly_delivery_sign(const unsigned char *secret, size_t secret_len, const void *body,
                      size_t len, char out[72])
{
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, body, len);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, "sha256=", 7);
    ly_os_hex(mac, sizeof mac, out + 7);
}
