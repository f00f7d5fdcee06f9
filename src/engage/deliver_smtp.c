/*
 * deliver_smtp.c - the e-mail adapter: makes an RFC 5322 message of a payload
 * {"to", "subject", "text"} and sends it through libcurl's SMTP (smtp:// with optional
 * STARTTLS, or smtps://): MAIL FROM the channel's address, RCPT TO the payload's. The
 * Message-ID is <message id@domain>, so a receiving system can deduplicate re-sends.
 */
#include "engage/deliver_internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A growing text; on OOM it remembers and stops. */
typedef struct buf {
    char *s;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const char *p, size_t n)
{
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

static bool isPlainAscii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e) return false;
    return true;
}

/* Writes text as a header value: as it is when printable ASCII, otherwise as RFC 2047
 * encoded words (UTF-8, base64), each at most 75 characters, split on character
 * boundaries, folded onto continuation lines. */
static void putWords(buf *b, const char *text)
{
    if (isPlainAscii(text)) {
        puts_(b, text);
        return;
    }
    size_t n = strlen(text), i = 0;
    bool first = true;
    while (i < n) {
        /* 45 bytes of UTF-8 make 60 base64 characters: 72 with the =?UTF-8?B? ?= frame. */
        size_t take = n - i < 45 ? n - i : 45;
        while (take < n - i && take > 0 && ((unsigned char)text[i + take] & 0xC0) == 0x80) take--;
        if (take == 0) take = n - i < 45 ? n - i : 45;
        char enc[sodium_base64_ENCODED_LEN(45, sodium_base64_VARIANT_ORIGINAL)];
        sodium_bin2base64(enc, sizeof enc, (const unsigned char *)text + i, take,
                          sodium_base64_VARIANT_ORIGINAL);
        if (!first) puts_(b, "\r\n ");
        puts_(b, "=?UTF-8?B?");
        puts_(b, enc);
        puts_(b, "?=");
        first = false;
        i += take;
    }
}

/* "Name <addr>" with the name encoded when it needs to be; a bare address as it is. */
static void putMailbox(buf *b, const char *mailbox)
{
    const char *lt = strrchr(mailbox, '<');
    if (!lt || lt == mailbox) {
        puts_(b, lt ? lt : mailbox);
        return;
    }
    size_t nameLen = (size_t)(lt - mailbox);
    while (nameLen > 0 && mailbox[nameLen - 1] == ' ') nameLen--;
    char *name = malloc(nameLen + 1);
    if (!name) {
        b->failed = true;
        return;
    }
    memcpy(name, mailbox, nameLen);
    name[nameLen] = '\0';
    putWords(b, name);
    free(name);
    puts_(b, " ");
    puts_(b, lt);
}

static void putDate(buf *b, ly_time now)
{
    static const char *const days[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t day = now >= 0 ? now / 86400 : -((-now + 86399) / 86400);
    int64_t secs = now - day * 86400;
    int y;
    unsigned m, d;
    ly_civil_from_days(day, &y, &m, &d);
    char s[64];
    snprintf(s, sizeof s, "%s, %02u %s %04d %02d:%02d:%02d +0000",
             days[((day % 7) + 7) % 7], d, months[m - 1], y, (int)(secs / 3600),
             (int)(secs / 60 % 60), (int)(secs % 60));
    puts_(b, s);
}

/* The body with CRLF line ends; 7bit when it is ASCII with lines of at most 998 octets,
 * base64 (76-character lines) otherwise. */
static void putBody(buf *b, const char *text)
{
    bool ascii = true;
    size_t line = 0, longest = 0;
    for (const char *p = text; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x80 || (c < 0x20 && c != '\n' && c != '\r' && c != '\t')) ascii = false;
        line = (c == '\n') ? 0 : line + 1;
        if (line > longest) longest = line;
    }
    buf crlf = {0};
    for (const char *p = text; *p; p++) {
        if (*p == '\r') {
            put(&crlf, "\r\n", 2);
            if (p[1] == '\n') p++;
        } else if (*p == '\n') {
            put(&crlf, "\r\n", 2);
        } else {
            put(&crlf, p, 1);
        }
    }
    if (crlf.failed) {
        b->failed = true;
        free(crlf.s);
        return;
    }
    if (ascii && longest <= 998) {
        puts_(b, "Content-Transfer-Encoding: 7bit\r\n\r\n");
        if (crlf.len) put(b, crlf.s, crlf.len);
    } else {
        puts_(b, "Content-Transfer-Encoding: base64\r\n\r\n");
        for (size_t i = 0; i < crlf.len; i += 57) {
            size_t take = crlf.len - i < 57 ? crlf.len - i : 57;
            char enc[sodium_base64_ENCODED_LEN(57, sodium_base64_VARIANT_ORIGINAL)];
            sodium_bin2base64(enc, sizeof enc, (const unsigned char *)crlf.s + i, take,
                              sodium_base64_VARIANT_ORIGINAL);
            puts_(b, enc);
            puts_(b, "\r\n");
        }
    }
    if (b->len < 2 || memcmp(b->s + b->len - 2, "\r\n", 2) != 0) puts_(b, "\r\n");
    free(crlf.s);
}

static const char *strField(json_t *payload, const char *key)
{
    json_t *v = json_object_get(payload, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

char *ly__smtp_message(const ly_channel_config *ch, const ly_message *m, ly_time now,
                       char **rcpt, ly__attempt *out)
{
    *rcpt = NULL;
    json_t *payload = json_loads(m->payload ? m->payload : "", 0, NULL);
    const char *to = strField(payload, "to"), *subject = strField(payload, "subject"),
               *text = strField(payload, "text");
    out->permanent = true;
    if (!to || !*to) {
        snprintf(out->error, sizeof out->error, "smtp: the payload has no \"to\" address");
        json_decref(payload);
        return NULL;
    }
    bool lines = !strpbrk(to, "\r\n") && (!subject || !strpbrk(subject, "\r\n"));
    char *addr = lines ? ly__mail_address(to) : NULL;
    if (!addr) {
        snprintf(out->error, sizeof out->error, "smtp: \"to\" is not one address");
        json_decref(payload);
        return NULL;
    }
    buf b = {0};
    puts_(&b, "Date: ");
    putDate(&b, now);
    puts_(&b, "\r\nFrom: ");
    putMailbox(&b, ch->from);
    puts_(&b, "\r\nTo: ");
    putMailbox(&b, to);
    puts_(&b, "\r\nSubject: ");
    putWords(&b, subject ? subject : "");
    puts_(&b, "\r\nMessage-ID: <");
    puts_(&b, m->id);
    puts_(&b, "@");
    puts_(&b, ch->msgid_domain);
    puts_(&b, ">\r\nX-Loyal-Message-Id: ");
    puts_(&b, m->id);
    if (m->trigger && isPlainAscii(m->trigger)) {
        puts_(&b, "\r\nX-Loyal-Trigger: ");
        puts_(&b, m->trigger);
    }
    if (m->touchpoint && isPlainAscii(m->touchpoint)) {
        puts_(&b, "\r\nX-Loyal-Touchpoint: ");
        puts_(&b, m->touchpoint);
    }
    puts_(&b, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n");
    putBody(&b, text ? text : "");
    json_decref(payload);
    if (b.failed) {
        free(b.s);
        free(addr);
        out->permanent = false;
        snprintf(out->error, sizeof out->error, "smtp: out of memory");
        return NULL;
    }
    out->permanent = false;
    *rcpt = addr;
    return b.s;
}

/* Hands the message to libcurl as the upload. */
typedef struct reader {
    const char *p;
    size_t left;
} reader;

static size_t onRead(char *dst, size_t size, size_t n, void *ctx)
{
    reader *r = ctx;
    size_t room = size * n, take = r->left < room ? r->left : room;
    memcpy(dst, r->p, take);
    r->p += take;
    r->left -= take;
    return take;
}

/* SMTP replies 5xx are final, except the authentication ones: those are the channel's
 * configuration, which may be fixed, not the message's fault. */
static bool permanentReply(long code)
{
    return code >= 500 && code <= 599 && code != 530 && code != 534 && code != 535 &&
           code != 538;
}

void ly__deliver_smtp(const ly_channel_config *ch, const ly_message *m, ly_time now,
                      ly__attempt *out)
{
    memset(out, 0, sizeof *out);
    char *rcptAddr = NULL;
    char *msg = ly__smtp_message(ch, m, now, &rcptAddr, out);
    if (!msg) return;
    CURL *h = curl_easy_init();
    char from[300], to[300];
    snprintf(from, sizeof from, "<%s>", ch->from_addr);
    snprintf(to, sizeof to, "<%s>", rcptAddr);
    struct curl_slist *rcpt = h ? curl_slist_append(NULL, to) : NULL;
    if (!h || !rcpt) {
        snprintf(out->error, sizeof out->error, "smtp: out of memory");
        curl_easy_cleanup(h);
        free(msg);
        free(rcptAddr);
        return;
    }
    reader rd = {msg, strlen(msg)};
    char curlErr[CURL_ERROR_SIZE];
    curlErr[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, ch->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, onRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &rd);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rd.left);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ch->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ch->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlErr);
    if (strncmp(ch->url, "smtp://", 7) == 0)
        curl_easy_setopt(h, CURLOPT_USE_SSL,
                         ch->starttls == 2   ? (long)CURLUSESSL_ALL
                         : ch->starttls == 1 ? (long)CURLUSESSL_TRY
                                             : (long)CURLUSESSL_NONE);
    if (ch->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (ch->username) curl_easy_setopt(h, CURLOPT_USERNAME, ch->username);
    if (ch->password) curl_easy_setopt(h, CURLOPT_PASSWORD, ch->password);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
    if (rc == CURLE_OK) {
        out->ok = true;
    } else {
        out->permanent = permanentReply(out->status);
        const char *why = curlErr[0] ? curlErr : curl_easy_strerror(rc);
        if (out->status)
            snprintf(out->error, sizeof out->error, "smtp: %s (reply %ld)", why, out->status);
        else
            snprintf(out->error, sizeof out->error, "smtp: %s", why);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    free(msg);
    free(rcptAddr);
}
