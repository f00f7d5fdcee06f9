/*
 * deliver_internal.h - what the delivery files share: the adapters' common shape.
 *
 * An adapter makes one attempt at one message and says how it went; it never touches the
 * store, and every network wait it makes is bounded by the channel's timeouts.
 */
#ifndef LY_DELIVER_INTERNAL_H
#define LY_DELIVER_INTERNAL_H

#include "engage/engage.h"

/* The result of one attempt. */
typedef struct ly__attempt {
    bool ok;           /* the receiver took it */
    bool permanent;    /* refused for good: retrying cannot help (bad address, 4xx) */
    long status;       /* HTTP status or SMTP reply code, 0 if none */
    char error[300];   /* why it failed, for last_error */
} ly__attempt;

/* deliver_webhook.c: POSTs body (the envelope) to ch->url, signed. 2xx is delivered; 408,
 * 425, 429, 5xx and transport errors are transient; other statuses are permanent.
 * *handle caches a curl handle between the calls of one pass (NULL at first), so that the
 * connection (and its TLS session) is kept for the next message; the caller frees it with
 * ly__webhook_done. */
void ly__deliver_webhook(const ly_channel_config *ch, const ly_message *m, const char *body,
                         size_t len, void **handle, ly__attempt *out);
void ly__webhook_done(void *handle);

/* deliver_smtp.c: sends the payload {"to","subject","text"} as an e-mail. A payload without
 * a valid "to" is permanent; SMTP 5xx replies are permanent, the rest transient. */
void ly__deliver_smtp(const ly_channel_config *ch, const ly_message *m, ly_time now,
                      ly__attempt *out);

/* The RFC 5322 message deliver_smtp.c sends (CRLF line ends), malloc'd; NULL with
 * out->error/permanent filled when the payload cannot make one. For tests too. */
char *ly__smtp_message(const ly_channel_config *ch, const ly_message *m, ly_time now,
                       char **rcpt, ly__attempt *out);

/* deliver_file.c: appends line (the envelope and "\n") to ch->path, or writes it to stdout. */
void ly__deliver_file(const ly_channel_config *ch, const char *line, size_t len,
                      ly__attempt *out);

/* outbox.c: the address in "Name <addr>" or "addr", malloc'd; NULL if it is not one. */
char *ly__mail_address(const char *s);

#endif /* LY_DELIVER_INTERNAL_H */
