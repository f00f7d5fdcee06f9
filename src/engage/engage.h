/*
 * engage.h - the face of Loyal's engagement module: what to offer each customer, and (in
 * later sections) the triggers, the outbox and its delivery (issue 5, METHOD.md sections
 * 3-4).
 *
 * Like the analytics, the engagement models read receipts from an ly_source
 * (analytics/analytics.h): Loyal's store (ly_store_source_open), a CSV export, the
 * simulator. Floating point is used for scores (estimates about people), never for money.
 */
#ifndef LY_ENGAGE_H
#define LY_ENGAGE_H

#include "analytics/analytics.h"
#include "core/core.h"
#include "store/store.h"

#include <jansson.h>

/* =======================================================================================
 * Personal offers (offers.c, offers_query.c, offers_eval.c; docs/offers.md)
 *
 * Per customer, from purchase history, up to k offers, each of one kind:
 *   bought_together  an item often in the same basket as one of the customer's recent
 *                    items (item-to-item co-occurrence: confidence, with a minimum support
 *                    and lift above chance);
 *   new_category     the SKU most bought, in a category the customer has never bought, by
 *                    the customer's look-alikes (the k nearest customers by cosine
 *                    similarity of their category spend shares);
 *   upgrade          a dearer SKU (by at least a step) in a category the customer buys,
 *                    the most popular such SKU among the category's buyers.
 * No offer is an item the customer bought within the just-bought window, unless the item
 * is replenished (its typical repeat interval across customers has passed since the
 * customer's last purchase of it). Ordering is deterministic: score, then kind, then SKU.
 *
 * A model is built in one pass over a source and then answers any number of queries; it
 * is immutable once built, so many threads may query it at once.
 * ======================================================================================= */

typedef enum ly_offer_kind {
    LY_OFFER_BOUGHT_TOGETHER = 0,
    LY_OFFER_NEW_CATEGORY,
    LY_OFFER_UPGRADE,
    LY_OFFER_KIND_COUNT
} ly_offer_kind;

/* "bought_together", "new_category", "upgrade". */
const char *ly_offer_kind_name(ly_offer_kind k);

/* How a model is built and queried (defaults in docs/offers.md). */
typedef struct ly_offers_options {
    bool as_of_set;
    int64_t as_of_day;          /* receipts on this day (days since 1970-01-01) or later are
                                 * left out of the model */
    /* Co-occurrence (bought_together) */
    uint32_t max_basket;        /* 40: pairs are counted only in baskets of 2..this many
                                 * distinct SKUs */
    size_t max_pairs;           /* 2,000,000: most distinct SKU pairs counted; pairs first
                                 * met when the table is full are not counted (stats say
                                 * how many baskets lost a pair) */
    uint32_t neighbours;        /* 20: partners kept per SKU, best confidence first */
    uint32_t min_pair_count;    /* 3: baskets with both, at least */
    double min_lift;            /* 1.0: a partner is kept only when lift > this */
    uint32_t anchors;           /* 10: the customer's most recently bought SKUs used */
    /* The just-bought rule and replenishment */
    int just_bought_days;       /* 30: a SKU bought fewer days ago than this is not offered */
    uint32_t replenish_min;     /* 5: repeat intervals needed to call a SKU replenished */
    /* Look-alikes (new_category) */
    uint32_t lookalikes;        /* 20 nearest customers */
    uint32_t min_lookalikes;    /* 2: look-alikes that buy the category, at least */
    /* Upgrades */
    int upgrade_min_pct;        /* 110: the SKU's price >= this % of the usual price */
    int upgrade_max_pct;        /* 400: and <= this % (a step up, not a leap) */
    uint32_t min_buyers;        /* 3: buyers an upgrade SKU needs */
    /* Reading */
    uint32_t sku_prefix_category; /* 0; N > 0: a line without a category gets the first N
                                   * bytes of its SKU as category (Online Retail's codes) */
    int minor_units;            /* 2: for the money written in the reasons */
    uint32_t max_per_kind;      /* 0: no cap; else at most this many offers of one kind */
} ly_offers_options;

/* The defaults above. */
void ly_offers_options_default(ly_offers_options *o);

/* One offer. Strings live in the arena the query was given (or the model's memory). */
typedef struct ly_offer {
    ly_offer_kind kind;
    const char *sku;
    const char *name;        /* display name: "<brand> <sku>" or the SKU (history carries
                              * no product names) */
    const char *category;    /* NULL when unknown */
    const char *brand;       /* NULL when unknown */
    ly_money price;          /* the SKU's mean unit price over the history's lines */
    double score;            /* an estimate of the chance the customer takes it, 0..1 */
    const char *reason;      /* for people */
    /* evidence, by kind */
    const char *anchor_sku;  /* bought_together: the customer's item it goes with */
    int64_t anchor_day;      /*   when the customer last bought it */
    uint32_t together;       /*   baskets with both */
    uint32_t anchor_baskets; /*   baskets with the anchor */
    double lift;             /*   confidence / the SKU's share of baskets */
    uint32_t lookalikes;     /* new_category: look-alikes found */
    uint32_t lookalikes_buying; /* of them buying the category */
    ly_money usual_price;    /* upgrade: what the customer usually pays in the category */
    uint32_t category_buyers;/* upgrade: customers who buy the category */
    uint32_t sku_buyers;     /* upgrade and new_category: customers who buy the SKU */
    /* Offers preferences (issue 6, engineer P; offers_prefs.c): the preference that raised
     * the score, or NULL; the attribute it names first with the customer's value (NULL for
     * an "absent" test), and the model's score before. */
    const struct ly_offer_pref *preference;
    const char *pref_attribute, *pref_value;
    double score_before;
} ly_offer;

typedef struct ly_offers_model ly_offers_model;
typedef struct ly_offers_builder ly_offers_builder;

/* A new builder (o NULL: defaults). LY_ENOMEM. Free with ly_offers_builder_free unless
 * finished. */
ly_err ly_offers_builder_new(const ly_offers_options *o, ly_offers_builder **out, ly_error *err);

/* Feeds one receipt. Returns are ignored (a return does not undo an interest); anonymous
 * sales count as baskets only; lines without a SKU are ignored; receipts on or after
 * as_of_day are skipped. Errors: LY_EINVAL "unsorted_input" (field "line N" when r->line)
 * when one customer's receipts go back in time, LY_ETOOLARGE "too_many_items", LY_ENOMEM.
 * After an error the builder may only be freed. */
ly_err ly_offers_builder_add(ly_offers_builder *b, const ly_an_receipt *r, ly_error *err);

/* Turns the builder into a model (*out, free with ly_offers_model_free). The builder is
 * consumed whatever the result. LY_ENOMEM. */
ly_err ly_offers_builder_finish(ly_offers_builder *b, ly_offers_model **out, ly_error *err);

void ly_offers_builder_free(ly_offers_builder *b); /* NULL-safe */

/* Reads src once (not closed) into a model. The source's errors, or the builder's. */
ly_err ly_offers_model_build(ly_source *src, const ly_offers_options *o, ly_offers_model **out,
                             ly_error *err);

void ly_offers_model_free(ly_offers_model *m); /* NULL-safe */

/* What a model holds. */
typedef struct ly_offers_stats {
    int64_t receipts;        /* sale receipts read (identified and anonymous) */
    int64_t skipped;         /* returns and receipts on/after as_of */
    int64_t customers, skus, categories;
    int64_t first_day, last_day; /* of the receipts read; -1 when none */
    int64_t pairs;           /* distinct SKU pairs counted */
    int64_t baskets_paired;  /* baskets whose pairs were counted */
    int64_t baskets_too_big; /* baskets over max_basket */
    int64_t pairs_dropped;   /* pair occurrences lost because the table was full */
    int64_t neighbours;      /* partners kept, all SKUs */
    int64_t replenished;     /* SKUs with a replenishment cycle */
    size_t memory_bytes;     /* heap the model holds; peak of the pass in build_peak_bytes */
    size_t build_peak_bytes;
    ly_time built_at;        /* ly_os_now() when finished */
} ly_offers_stats;
void ly_offers_model_stats(const ly_offers_model *m, ly_offers_stats *out);

/* The replenishment cycle of a SKU in days, or -1 (unknown SKU, too few repeats). */
int64_t ly_offers_sku_cycle(const ly_offers_model *m, const char *sku);

/* Up to k offers for the customer with the source's key (Loyal: the id in decimal) as of
 * as_of_day (the just-bought window and replenishment are counted to it). *out is
 * allocated in a (may be NULL when *n is 0). A key the model does not know gives 0 offers
 * (no history: nothing personal to say). LY_ENOMEM. */
ly_err ly_offers_for_key(const ly_offers_model *m, const char *customer_key, int64_t as_of_day,
                         size_t k, ly_arena *a, ly_offer **out, size_t *n, ly_error *err);

/* The endpoint's function: checks the customer exists in the store (a merged profile
 * answers with the one it was merged into), then up to k (1..100) offers from the model as
 * of today (ly_os_now(), UTC day, or the day after the model's last receipt if that is
 * later). Errors: LY_ENOTFOUND "customer_not_found" (field "id"), LY_EINVAL "invalid_limit"
 * (field "limit"), LY_EIO, LY_ENOMEM. *customer_out (may be NULL) gets the id answered. */
ly_err ly_offers_for_customer(ly_store *s, const ly_offers_model *m, int64_t customer_id,
                              size_t k, ly_arena *a, ly_offer **out, size_t *n,
                              int64_t *customer_out, ly_error *err);

/* The day ly_offers_for_customer answers as of: today (ly_os_now(), UTC), or the day after
 * the model's last receipt if that is later. */
int64_t ly_offers_today(const ly_offers_model *m);

/* The offers as JSON (new reference, NULL when out of memory):
 * {"customer_id", "as_of", "model": {"built_at", "last_day", "customers", "skus"},
 *  "offers": [{"kind", "sku", "name", "category", "brand", "price", "score", "reason",
 *              "evidence": {...}}]}; money in minor units. docs/offers.md. */
json_t *ly_offers_json(int64_t customer_id, int64_t as_of_day, const ly_offers_model *m,
                       const ly_offer *offers, size_t n);

/* A model kept for a server: built from the store on first use, rebuilt when older than
 * max_age_s seconds (0: never rebuilt). While a rebuild runs, other threads go on with the
 * old model; only the very first build makes them wait. Thread-safe. */
typedef struct ly_offers_cache ly_offers_cache;

/* NULL when out of memory. o NULL: defaults (as_of is ignored: the store's whole history). */
ly_offers_cache *ly_offers_cache_new(const ly_offers_options *o, int64_t max_age_s);
/* Frees the cache; every acquired model must have been released. NULL-safe. */
void ly_offers_cache_free(ly_offers_cache *c);
/* A model to query, held until ly_offers_cache_release. The build's errors (LY_EIO...). */
ly_err ly_offers_cache_acquire(ly_offers_cache *c, ly_store *s, const ly_offers_model **out,
                               ly_error *err);
void ly_offers_cache_release(ly_offers_cache *c, const ly_offers_model *m);

/* ---- Offline evaluation ---------------------------------------------------------------- */

typedef struct ly_offers_eval_options {
    ly_offers_options model;  /* model.as_of is replaced by split_day */
    int64_t split_day;        /* train on sales before this day, test on this day and later */
    int horizon_days;         /* 0: every later sale; N: sales within N days of the split */
    size_t k;                 /* 10 */
} ly_offers_eval_options;

/* Figures for one list (offers, a baseline, or one offer kind). */
typedef struct ly_offers_eval_figures {
    int64_t customers;        /* customers the figures are over */
    int64_t offers;           /* offers made to them */
    int64_t offers_bought;    /* of which bought in the test period */
    int64_t customers_hit;    /* customers who bought at least one */
    int64_t baseline_hit;     /* by kind: of these customers, hit by the popularity list */
    int64_t baseline_offers;  /* by kind: the popularity list's items for them */
    int64_t baseline_bought;  /* by kind: of which bought */
} ly_offers_eval_figures;

typedef struct ly_offers_eval {
    int64_t split_day;
    int horizon_days;
    size_t k;
    ly_offers_stats train;
    int64_t test_receipts;    /* identified sales in the test period */
    int64_t test_customers;   /* customers with one */
    int64_t cold_customers;   /* of them without a purchase before the split (not evaluated) */
    ly_offers_eval_figures offers;       /* customers = evaluated customers */
    ly_offers_eval_figures popularity;   /* top k SKUs (buyers) the customer never bought */
    ly_offers_eval_figures popularity_eligible; /* top k SKUs passing the offers' own rule */
    ly_offers_eval_figures by_kind[LY_OFFER_KIND_COUNT]; /* customers who got the kind */
    int64_t customers_without_offers;
    ly_offers_options options;
} ly_offers_eval;

/* Reads src once: sales before the split build the model, identified sales in the test
 * period are the truth; then, for every customer with both, compares the k offers as of
 * the split day with the popularity baselines. Hit rate at k = customers_hit / customers.
 * Errors as ly_offers_model_build; LY_EINVAL "invalid_option" (field "k") for k 0 or > 100. */
ly_err ly_offers_evaluate(ly_source *src, const ly_offers_eval_options *o, ly_offers_eval *out,
                          ly_error *err);

/* The evaluation as JSON ("format": "loyal-offers-eval/1"; docs/offers.md). NULL on OOM. */
json_t *ly_offers_eval_json(const ly_offers_eval *e);

/* ---- Preferences (issue 6, engineer P; offers_prefs.c; docs/offers.md "Preferences") ----
 * The program file's "offers": {"preferences": [...]} (program/offers.h) applied to one
 * customer's offers from the attributes of their profile. */

/* Applies prefs (NULL: nothing to do) to offers[0..*n) in place for a customer with the
 * attribute facts facts[0..n_facts) (ly_service_attribute_facts): an offer named by an
 * excluding preference whose tests pass is removed; otherwise the first boosting one whose
 * tests pass and that names it sets score = min(1, score x (100 + boost) / 100) and the
 * preference fields. Then the list is sorted again (score descending, then kind, then SKU)
 * and cut to k. Strings in a. LY_ENOMEM. */
ly_err ly_offers_apply_preferences(const struct ly_offers_conf *prefs, const ly_fact *facts,
                                   size_t n_facts, ly_arena *a, ly_offer *offers, size_t *n,
                                   size_t k, ly_error *err);

/* ly_offers_for_customer with the preferences of p (NULL or none: exactly it). With
 * preferences the model is asked for 100 candidates, the preferences are applied with the
 * customer's attributes as stored (the profile answered, after merges), and the first k are
 * kept. Errors as ly_offers_for_customer. */
ly_err ly_offers_for_customer_prefs(ly_store *s, const ly_offers_model *m, const ly_program *p,
                                    int64_t customer_id, size_t k, ly_arena *a, ly_offer **out,
                                    size_t *n, int64_t *customer_out, ly_error *err);

/* The "preference" evidence of an offer (new reference): {"index", "id", "attribute",
 * "value", "boost_percent", "score_before"}; NULL when no preference raised it (or OOM). */
json_t *ly_offers_preference_json(const ly_offer *o);

/* =======================================================================================
 * (end of Personal offers)
 * ======================================================================================= */

/* =======================================================================================
 * Delivery and the outbox (outbox.c, deliver.c, deliver_webhook.c, deliver_smtp.c,
 * deliver_file.c; docs/delivery.md)
 *
 * Triggers write messages to the outbox with ly_db_outbox_enqueue (store.h) inside their
 * write jobs. The delivery worker claims the due messages in batches through the store's
 * writer (they become 'sending' under a lease), sends each one OUTSIDE any write job
 * through the adapter its channel is configured to (webhook, SMTP, file), and records the
 * outcome in a write job of its own: delivered; retrying after an exponential back-off with
 * jitter; dead after the last attempt or a permanent refusal. Delivery is at least once: a
 * worker that dies leaves its messages 'sending' until the lease ends, and the next claim
 * takes them again; receivers deduplicate on the message id (X-Loyal-Message-Id, the
 * envelope's "id", the e-mail's Message-ID). Network time is bounded by each channel's
 * timeouts, and the writer never waits on the network.
 * ======================================================================================= */

typedef enum ly_adapter_kind {
    LY_ADAPTER_WEBHOOK = 0, /* HTTP(S) POST of the JSON envelope, HMAC-SHA256 signed */
    LY_ADAPTER_SMTP,        /* an RFC 5322 e-mail through smtp:// or smtps:// */
    LY_ADAPTER_FILE         /* the envelope as one JSON line appended to a file, or stdout */
} ly_adapter_kind;

/* "webhook", "smtp", "file". */
const char *ly_adapter_name(ly_adapter_kind k);

/* One channel of the delivery file: where its messages go and what each costs. */
typedef struct ly_channel_config {
    char *name;              /* the channel messages name: "sms", "email", ... */
    ly_adapter_kind adapter;
    ly_money cost;           /* minor units per delivered message, recorded on it */
    long timeout_ms;         /* the whole attempt (webhook, smtp) */
    long connect_timeout_ms;
    /* webhook and smtp */
    char *url;               /* http(s)://... or smtp(s)://host[:port] */
    /* webhook */
    unsigned char *secret;   /* HMAC-SHA256 key */
    size_t secret_len;
    /* smtp */
    char *from;              /* the From header: "Shop <loyalty@shop.example>" */
    char *from_addr;         /* its address, for MAIL FROM */
    char *msgid_domain;      /* right of the @ in Message-ID (default: from_addr's domain) */
    char *username, *password; /* NULL: no AUTH */
    int starttls;            /* 0 never, 1 when offered, 2 required (smtp:// only) */
    bool insecure;           /* do not verify the server's certificate (tests only) */
    /* file */
    char *path;              /* "-" is standard output */
    bool fsync;              /* fdatasync after each line (default true; not for stdout) */
    /* private: serialises the file adapter's writes */
    void *lock_;
} ly_channel_config;

/* The delivery file (docs/delivery.md): retry rules and channels. */
typedef struct ly_delivery_config {
    ly_channel_config *channels;
    size_t n_channels;
    int64_t max_attempts;    /* attempts before a message is dead (default 8) */
    int64_t backoff_base;    /* seconds before the 2nd attempt (default 30) */
    int64_t backoff_max;     /* the back-off's ceiling in seconds (default 21600 = 6 h) */
    int64_t lease;           /* seconds a claimed message is held (default: enough for a
                              * whole batch at the slowest channel's timeouts, >= 60) */
    size_t batch;            /* messages claimed at a time (default 10) */
    int threads;             /* delivery threads in `loyal serve` (default 2) */
    char *channel_list;      /* the channels' names as a JSON array, for the claim */
    char *origin;            /* the file it came from, for messages */
} ly_delivery_config;

/* Reads and checks the delivery file at path (JSON; docs/delivery.md). Secrets may be given
 * in the file or named by environment variable ("secret_env", "password_env"), read now.
 * Also initialises libcurl and libsodium (call it before starting threads).
 * *out is owned by the caller (ly_delivery_config_free). LY_EINVAL ("invalid_delivery_file",
 * field = the JSON path) for a bad setting, LY_ENOTFOUND ("delivery_file_not_found"). */
ly_err ly_delivery_config_load(const char *path, ly_delivery_config **out, ly_error *err);

/* The same from the text of a delivery file; origin names it in messages. */
ly_err ly_delivery_config_parse(const char *text, const char *origin, ly_delivery_config **out,
                                ly_error *err);

void ly_delivery_config_free(ly_delivery_config *c);

/* The channel called name, or NULL. */
const ly_channel_config *ly_delivery_channel(const ly_delivery_config *c, const char *name);

/* When the attempt after failed attempt number `attempt` (1, 2, ...) is due, in seconds
 * after the failure: d = min(backoff_max, backoff_base * 2^(attempt-1)), then d/2 + j with
 * j in [0, d/2] drawn from a hash of (message id, attempt): deterministic for a message,
 * spread across messages. Always >= 1. */
int64_t ly_delivery_backoff(const ly_delivery_config *c, const char *message_id,
                            int64_t attempt);

/* What the worker does with a failed attempt: retry, unless it was permanent or the last. */
ly_msg_outcome_kind ly_delivery_after_failure(const ly_delivery_config *c, int64_t attempt,
                                              bool permanent);

/* The envelope every adapter sends for m (webhook body, file line; the e-mail keeps only
 * the payload): {"id","trigger","customer_id","step","channel","touchpoint" (only when the
 * message has one),"attempt","created_at","sent_at","payload"}; compact JSON, malloc'd (free()), NULL when out of memory or when
 * the payload is not JSON. */
char *ly_delivery_envelope(const ly_message *m, ly_time sent_at);

/* The signature header's value for a body: "sha256=" and the lower-case hex of
 * HMAC-SHA256(secret, body). out needs 72 bytes. */
void ly_delivery_sign(const unsigned char *secret, size_t secret_len, const void *body,
                      size_t len, char out[72]);

/* What one pass did. */
typedef struct ly_delivery_result {
    int64_t claimed;     /* messages claimed (0: nothing was due) */
    int64_t reclaimed;   /* of those, taken back from an expired lease */
    int64_t delivered;
    int64_t retrying;    /* failed, another attempt scheduled */
    int64_t dead;        /* failed for the last time, or for good */
    int64_t released;    /* handed back unsent because stop was set */
} ly_delivery_result;

/* One pass: claims up to c->batch messages due at now, sends each, records each outcome
 * (as a write job) and waits until the outcomes are durable. If *stop (may be NULL) turns
 * true, the messages not yet sent are released. Adds to *r (not cleared). Errors: LY_EIO
 * when the claim or the recording failed (the messages then wait for their lease). */
ly_err ly_delivery_pass(ly_store *s, const ly_delivery_config *c, ly_time now,
                        const _Atomic int *stop, ly_delivery_result *r, ly_error *err);

/* Passes until nothing is due at the clock's time (ly_os_now() at each pass): what `loyal
 * outbox deliver` does. Messages scheduled later (retries) are left for later. */
ly_err ly_delivery_run(ly_store *s, const ly_delivery_config *c, ly_delivery_result *r,
                       ly_error *err);

/* The delivery threads of `loyal serve`: each runs passes; when nothing is due it sleeps
 * until the next due time, at most poll_seconds, or until woken. */
typedef struct ly_delivery_worker ly_delivery_worker;

/* Starts c->threads threads. s and c must outlive the worker. */
ly_err ly_delivery_worker_start(ly_store *s, const ly_delivery_config *c, int poll_seconds,
                                ly_delivery_worker **out, ly_error *err);

/* Wakes the sleeping threads (a trigger run has just enqueued messages). Thread-safe. */
void ly_delivery_worker_wake(ly_delivery_worker *w);

/* Stops the threads: each finishes the attempt in flight (bounded by its timeouts),
 * releases the rest of its batch and exits. Frees w. NULL is a no-op. */
void ly_delivery_worker_stop(ly_delivery_worker *w);

/* Counters of this process's deliveries since it started. */
typedef struct ly_delivery_stats {
    uint64_t attempts;
    uint64_t delivered;
    uint64_t failures;        /* attempts that failed (= retries + dead) */
    uint64_t retries;         /* failures followed by another scheduled attempt */
    uint64_t dead;
    uint64_t reclaimed;       /* messages taken back from an expired lease */
    uint64_t cost;            /* minor units of the delivered messages */
    uint64_t attempt_usec;    /* total time spent in adapters */
    uint64_t attempt_hist[10];/* attempt durations: <= 10, 50, 100, 250, 500 ms, 1, 2.5,
                               * 5, 10 s, more */
    uint64_t latency_sec;     /* total seconds from created to delivered */
    uint64_t latency_hist[10];/* created-to-delivered: <= 1, 10, 60, 300, 900, 3600,
                               * 21600, 86400, 604800 s, more */
} ly_delivery_stats;
void ly_delivery_stats_get(ly_delivery_stats *out);

/* The delivery part of /metrics (Prometheus text): the stats above and the outbox's
 * messages by state, read on the calling thread's reader of s (omitted if it fails).
 * malloc'd; NULL when out of memory. */
char *ly_delivery_metrics_text(ly_store *s);

/* =======================================================================================
 * (end of Delivery and the outbox)
 * ======================================================================================= */

/* =======================================================================================
 * Triggers (triggers.c, triggers_report.c, triggers_stats.c; docs/triggers.md; engineer G)
 *
 * A run evaluates every customer against the program's triggers (program/triggers.h) as of
 * an instant: chains already running advance when their step's wait is over and its
 * `while` still holds (a purchase since the chain began ends it), and customers in a
 * trigger's audience enter it. Triggers are tried in priority order; each step reached
 * passes, in order, the frequency caps (per local day and ISO week, every trigger
 * together), the channel choice (the trigger's channels for the customer's R level, the
 * first with consent and an address, and for R1 customers not dearer than r1_max_cost);
 * then the customer's hold-out groups decide: held out (by the trigger's seeded hash, or
 * the program-wide hold-out) records the would-be send and sends nothing, treated writes
 * the message to the outbox (not before the end of quiet hours) with its offer. Everything
 * a step writes is one write job, so re-running a run writes nothing new.
 * ======================================================================================= */

/* The hold-out bucket of a customer in a trigger ("*": the program-wide hold-out):
 * the first 8 bytes of BLAKE2b-256 of "<seed>\x1f<trigger>\x1f<customer id>", big-endian,
 * modulo 10000. A customer is held out when bucket < share in basis points. hex (may be
 * NULL; 17 bytes) gets those 8 bytes in hex. */
int64_t ly_triggers_bucket(const char *seed, const char *trigger, int64_t customer_id,
                           char *hex);

typedef struct ly_triggers_run_options {
    ly_time now;                   /* the instant the run is as of (> 0) */
    bool dry_run;                  /* decide and count, write nothing */
    const ly_offers_model *offers; /* NULL: built from the store when a trigger needs it */
    size_t batch;                  /* customers per write job (default 500) */
} ly_triggers_run_options;

typedef struct ly_triggers_run_result {
    int64_t customers;         /* customers evaluated */
    int64_t entered;           /* chains started (every group) */
    int64_t steps;             /* steps reached (every group) */
    int64_t messages;          /* messages written to the outbox */
    int64_t held_out;          /* steps held out by a trigger's hold-out */
    int64_t program_held_out;  /* steps held out by the program-wide hold-out */
    int64_t ended_purchase, ended_condition, ended_done; /* chains ended, by reason */
    int64_t no_channel;        /* steps due but no channel had consent and an address */
    int64_t capped;            /* steps due but over a frequency cap */
    int64_t deferred;          /* messages held to the end of quiet hours */
    int64_t coupons, bonuses, recommendations; /* offers riding on messages */
    int64_t limit_reached;     /* 1 when max_per_run stopped the run */
} ly_triggers_run_result;

/* Runs the program's triggers (p->triggers; none: nothing happens) over the store as of
 * o->now; cal is the program's calendar (local days, weeks and quiet hours). Adds to *r
 * (cleared first). Errors: LY_EINVAL "no_triggers" when the program has none, LY_EIO,
 * LY_ENOMEM; what was written before an error stays (it is consistent: one job per batch). */
ly_err ly_triggers_run(ly_store *s, const ly_program *p, const ly_calendar *cal,
                       const ly_triggers_run_options *o, ly_triggers_run_result *r,
                       ly_error *err);

/* ---- Measurement ----------------------------------------------------------------------- */

/* An estimate with its 95% interval; valid false when it cannot be computed (a group is
 * empty, a rate is zero for a relative figure, too few customers for a variance). */
typedef struct ly_estimate {
    double est, lo, hi;
    bool valid;
} ly_estimate;

/* The uplift of one trigger step (step >= 0), of the whole trigger's first step, or of the
 * program-wide hold-out (trigger "*", step -1). Money as doubles are estimates. */
typedef struct ly_trigger_figures {
    const char *trigger;
    const char *name;          /* may be NULL */
    int64_t step;
    int64_t attribution_days;
    int64_t treated, held_out;             /* steps reached in each group */
    int64_t treated_conv, held_out_conv;   /* of them followed by a deal in the window */
    ly_money treated_revenue, held_out_revenue; /* sums */
    double p_treated, p_held_out;          /* conversion rates */
    double rev_treated, rev_held_out;      /* revenue per customer */
    ly_estimate uplift;        /* p_treated - p_held_out: Newcombe's hybrid score interval */
    ly_estimate relative;      /* p_treated / p_held_out - 1: Katz log interval */
    ly_estimate revenue;       /* revenue per customer difference: Welch interval */
    double incremental_revenue;/* revenue.est x treated */
    double incremental_margin; /* x margin_percent; valid only with has_margin */
    bool has_margin;
    ly_money message_cost;     /* channel costs of the messages sent */
    ly_money reward_cost;      /* offers' costs x treated conversions */
    double roi;                /* (incremental margin, or revenue without a margin, - cost)
                                * / cost; valid only with roi_valid (cost > 0) */
    bool roi_valid;
    bool proven;               /* the uplift interval excludes zero */
} ly_trigger_figures;

typedef struct ly_triggers_report {
    ly_time from, to;          /* steps reached in [from, to) */
    ly_trigger_figures *rows;  /* per trigger, its steps in order */
    size_t n_rows;
    ly_trigger_figures program;/* customers in the program-wide hold-out against the rest
                                * (treated = not in it), first step reached per customer */
    bool has_program;          /* the program has a program-wide hold-out */
} ly_triggers_report;

/* Builds the report from the steps recorded in [from, to) and the receipts that followed
 * (read now, on the calling thread's reader). Rows are in a. LY_EINVAL "no_triggers",
 * LY_EIO, LY_ENOMEM. */
ly_err ly_triggers_report_build(ly_store *s, const ly_program *p, ly_time from, ly_time to,
                                ly_arena *a, ly_triggers_report *out, ly_error *err);

/* The report as JSON ("format": "loyal-triggers-report/1"; money in minor units, rounded
 * for estimates). NULL when out of memory. */
json_t *ly_triggers_report_json(const ly_triggers_report *r, const ly_program *p);

/* The statistics, for tests. Wilson score interval of x successes in n at 95%. */
void ly_stats_wilson(int64_t x, int64_t n, double *lo, double *hi);
/* p1 - p2 with Newcombe's hybrid score interval (his method 10). valid false if n1 or n2
 * is 0. */
ly_estimate ly_stats_newcombe(int64_t x1, int64_t n1, int64_t x2, int64_t n2);
/* mean1 - mean2 with Welch's t interval from the sums and sums of squares. valid false
 * unless n1, n2 >= 2. */
ly_estimate ly_stats_welch(int64_t n1, double sum1, double sumsq1, int64_t n2, double sum2,
                           double sumsq2);
/* The 97.5% quantile of Student's t with df degrees of freedom (df >= 1; large df: 1.96). */
double ly_stats_t975(double df);

/* Conversion figures of this process's trigger runs, for /metrics (Prometheus text).
 * malloc'd; NULL when out of memory. */
char *ly_triggers_metrics_text(void);

/* =======================================================================================
 * (end of Triggers)
 * ======================================================================================= */

#endif /* LY_ENGAGE_H */
