/*
 * deliver_webhook.c - the webhook adapter: one HTTP(S) POST of the message's JSON envelope
 * through libcurl, signed with HMAC-SHA256 over the body (X-Loyal-Signature) and naming
 * the message (X-Loyal-Message-Id) so that the receiver can deduplicate.
 */
#include "engage/deliver_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

/* The response body is not needed: keep at most a little of it for the error message. */
typedef struct sink {
    char text[160];
    size_t len;
} sink;

static size_t onBody(char *data, size_t size, size_t n, void *ctx)
{
    sink *s = ctx;
    size_t bytes = size * n;
    size_t room = sizeof s->text - 1 - s->len;
    size_t take = bytes < room ? bytes : room;
    for (size_t i = 0; i < take; i++) {
        char c = data[i];
        s->text[s->len++] = (c >= 0x20 && c < 0x7f) ? c : ' ';
    }
    s->text[s->len] = '\0';
    return bytes;
}

static bool transientStatus(long status)
{
    return status == 408 || status == 425 || status == 429 || status >= 500;
}

void ly__webhook_done(void *handle)
{
    if (handle) curl_easy_cleanup(handle);
}

void ly__deliver_webhook(const ly_channel_config *ch, const ly_message *m, const char *body,
                         size_t len, void **handle, ly__attempt *out)
{
    memset(out, 0, sizeof *out);
    /* A reset handle keeps its connection cache: the next POST to the same receiver
     * reuses the connection instead of a new TCP (and TLS) handshake. */
    CURL *h = *handle;
    if (h) curl_easy_reset(h);
    else *handle = h = curl_easy_init();
    if (!h) {
        snprintf(out->error, sizeof out->error, "curl_easy_init failed");
        return;
    }
    char sig[72 + 32], idHeader[64 + LY_MESSAGE_ID_LEN];
    memcpy(sig, "X-Loyal-Signature: ", 19);
    ly_delivery_sign(ch->secret, ch->secret_len, body, len, sig + 19);
    snprintf(idHeader, sizeof idHeader, "X-Loyal-Message-Id: %s", m->id);
    struct curl_slist *hdr = NULL, *t;
    const char *fixed[] = {"Content-Type: application/json", "Expect:", sig, idHeader};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        t = curl_slist_append(hdr, fixed[i]);
        if (!t) {
            curl_slist_free_all(hdr);
            snprintf(out->error, sizeof out->error, "out of memory");
            return;
        }
        hdr = t;
    }
    sink s = {.len = 0};
    s.text[0] = '\0';
    char curlErr[CURL_ERROR_SIZE];
    curlErr[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, ch->url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "loyal-delivery/1");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ch->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ch->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);            /* threads: no SIGALRM */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);      /* a redirect is the receiver's bug */
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlErr);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(out->error, sizeof out->error, "webhook: %s",
                 curlErr[0] ? curlErr : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        if (out->status >= 200 && out->status < 300) {
            out->ok = true;
        } else {
            out->permanent = !transientStatus(out->status);
            snprintf(out->error, sizeof out->error, "webhook: HTTP %ld%s%s", out->status,
                     s.len ? ": " : "", s.text);
        }
    }
    curl_slist_free_all(hdr);
    if (rc != CURLE_OK) {
        /* After a timeout or a broken connection, start afresh next time. */
        curl_easy_cleanup(h);
        *handle = NULL;
    }
}
