/*
 * service.c - the operations of Loyal: the core's rules applied to the store's state.
 *
 * Every change runs as one write job on the store's writer thread, so operations on one
 * customer are serialised without locks: two confirms of one receipt, or two redemptions
 * from one balance, simply run one after the other inside the group transaction, and the
 * second sees the first. Before any change to an account the customer's due lots are
 * settled (activated or expired), so every operation works on the balance as of its time.
 */
#include "service/service.h"
#include "os/os.h"
#include "service/service_internal.h"
#include "service/rewards_internal.h"
#include "program/program.h"
#include "program/survey.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_CACHE_SIZE LY__AUTH_CACHE_SIZE
#define AUTH_CACHE_SECONDS 30
#define MERGE_HOPS_MAX 16
#define QR_TOKEN_LEN 32
#define FACTS_MAX 256          /* facts about one customer offered to the rules */
#define FIRST_PURCHASE_PAGES 20 /* ledger pages of 200 scanned for an earlier receipt */

/* struct ly_service is in service_internal.h: the program is reference-counted there
 * (versions.c), so code here reads it through the `prog` it was given, never s->cur. */
typedef ly__auth_entry authEntry;

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

/* ---------------------------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------------------------- */

ly_err ly_service_open(const ly_service_options *opt, ly_service **out, ly_error *err)
{
    *out = NULL;
    if (sodium_init() < 0)
        return ly_error_set(err, LY_EINTERNAL, "crypto_init_failed", NULL, "libsodium failed to start");
    ly_service *s = calloc(1, sizeof *s);
    if (!s) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    pthread_mutex_init(&s->prog_mu, NULL);
    pthread_mutex_init(&s->replace_mu, NULL);
    ly_err rc = ly__program_open(s, opt->program_path, err);
    if (rc == LY_OK) {
        ly_store_options so = {.path = opt->db_path, .sync = opt->sync, .batch_max = opt->batch_max};
        rc = ly_store_open(&so, &s->store, err);
    }
    if (rc == LY_OK) rc = ly__program_record(s, ly_os_now(), err);
    if (rc != LY_OK) {
        ly_store_close(s->store);
        ly__program_close(s);
        pthread_mutex_destroy(&s->prog_mu);
        pthread_mutex_destroy(&s->replace_mu);
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->auth_mu, NULL);
    *out = s;
    return LY_OK;
}

void ly_service_close(ly_service *s)
{
    if (!s) return;
    ly_store_close(s->store);
    pthread_mutex_destroy(&s->auth_mu);
    ly__program_close(s);
    pthread_mutex_destroy(&s->prog_mu);
    pthread_mutex_destroy(&s->replace_mu);
    free(s);
}

const ly_program *ly_service_program(const ly_service *s) { return &s->cur->p; }
const ly_calendar *ly_service_calendar(const ly_service *s) { return &s->cal; }
ly_store *ly_service_store(ly_service *s) { return s->store; }

ly_err ly_service_read_begin(ly_service *s, ly_error *err)
{
    return ly_store_read_begin(s->store, err);
}

void ly_service_read_end(ly_service *s) { ly_store_read_end(s->store); }

/* ---------------------------------------------------------------------------------------
 * Roles and keys
 * ------------------------------------------------------------------------------------- */

const char *ly_role_name(ly_role r)
{
    switch (r) {
    case LY_ROLE_POS: return "pos";
    case LY_ROLE_ADMIN: return "admin";
    default: return "none";
    }
}

bool ly_role_parse(const char *s, ly_role *out)
{
    if (s && strcmp(s, "pos") == 0) *out = LY_ROLE_POS;
    else if (s && strcmp(s, "admin") == 0) *out = LY_ROLE_ADMIN;
    else return false;
    return true;
}

/* Keys are 40 random characters (238 bits), so a fast hash is enough to store them: there
 * is nothing to brute-force that a slow password hash would protect. The cache spares the
 * database a lookup per request; a revoked key stops working within AUTH_CACHE_SECONDS. */
ly_err ly_service_auth(ly_service *s, const char *key, ly_role *role, ly_error *err)
{
    if (!key || !*key || strlen(key) > 256)
        return ly_error_set(err, LY_EUNAUTH, "unauthorized", NULL, "a valid API key is required");
    uint8_t h[32];
    ly_os_hash(key, strlen(key), h);
    uint64_t now = ly_os_usec();
    pthread_mutex_lock(&s->auth_mu);
    for (int i = 0; i < AUTH_CACHE_SIZE; i++) {
        if (s->auth[i].until_usec > now && sodium_memcmp(s->auth[i].hash, h, 32) == 0) {
            *role = s->auth[i].role;
            pthread_mutex_unlock(&s->auth_mu);
            return LY_OK;
        }
    }
    pthread_mutex_unlock(&s->auth_mu);

    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_arena a = {0};
    ly_api_key k;
    ly_err rc = ly_db_key_find(db, h, &a, &k, err);
    ly_role r = LY_ROLE_NONE;
    if (rc == LY_OK && !ly_role_parse(k.role, &r)) rc = LY_ENOTFOUND;
    ly_arena_free(&a);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_EUNAUTH, "unauthorized", NULL, "unknown or revoked API key");
    if (rc != LY_OK) return rc;
    pthread_mutex_lock(&s->auth_mu);
    authEntry *e = &s->auth[s->auth_next++ % AUTH_CACHE_SIZE];
    memcpy(e->hash, h, 32);
    e->role = r;
    e->until_usec = now + (uint64_t)AUTH_CACHE_SECONDS * 1000000u;
    pthread_mutex_unlock(&s->auth_mu);
    *role = r;
    return LY_OK;
}

typedef struct keyJob {
    uint8_t hash[32];
    ly_api_key *info;
} keyJob;

static ly_err runKeyInsert(ly_db *db, void *ctx, ly_error *err)
{
    keyJob *j = ctx;
    return ly_db_key_insert(db, j->hash, j->info, err);
}

ly_err ly_service_key_create(ly_service *s, ly_role role, const char *label, char *key_out,
                             ly_api_key *info, ly_error *err)
{
    if (role != LY_ROLE_POS && role != LY_ROLE_ADMIN)
        return ly_error_set(err, LY_EINVAL, "invalid_role", "role", "role must be pos or admin");
    memcpy(key_out, "ly_", 3);
    ly_os_random_token(key_out + 3, 40);
    char prefix[16];
    memcpy(prefix, key_out, 10);
    prefix[10] = '\0';
    memset(info, 0, sizeof *info);
    info->prefix = prefix;
    info->role = ly_role_name(role);
    info->label = label;
    info->created_at = ly_os_now();
    keyJob j = {.info = info};
    ly_os_hash(key_out, strlen(key_out), j.hash);
    ly_err rc = ly_store_write(s->store, runKeyInsert, &j, err);
    info->prefix = NULL; /* pointed at this frame */
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Customers
 * ------------------------------------------------------------------------------------- */

static ly_err normalizeId(const ly_service *s, ly_id_kind kind, const char *raw, char *out,
                          size_t size, ly_error *err)
{
    ly_err rc = ly_id_normalize(kind, raw, s->phone_country, s->phone_trunk,
                                out, size, err);
    if (rc != LY_OK && err && !err->field[0])
        snprintf(err->field, sizeof err->field, "%s", ly_id_kind_name(kind));
    return rc;
}

/* The customer named by who, following merges to the surviving profile. */
static ly_err resolveWho(const ly_service *s, ly_db *db, const ly_who *who, ly_arena *a,
                         ly_customer *out, ly_error *err)
{
    int64_t id = who->customer_id;
    const char *field = "customer.id";
    if (id <= 0) {
        char norm[300];
        TRY(normalizeId(s, who->kind, who->value, norm, sizeof norm, err));
        ly_err rc = ly_db_customer_find(db, who->kind, norm, &id, err);
        if (rc == LY_ENOTFOUND)
            return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", ly_id_kind_name(who->kind),
                                "no customer has this %s", ly_id_kind_name(who->kind));
        TRY(rc);
        field = ly_id_kind_name(who->kind);
    }
    for (int hop = 0; hop < MERGE_HOPS_MAX; hop++) {
        ly_err rc = ly_db_customer_get(db, id, a, out, err);
        if (rc == LY_ENOTFOUND)
            return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", field,
                                "no customer with id %lld", (long long)id);
        TRY(rc);
        if (!out->merged_into) return LY_OK;
        id = out->merged_into;
    }
    return ly_error_set(err, LY_EINTERNAL, "merge_loop", NULL, "merge chain too long");
}

ly_err ly__service_resolve(ly_service *s, ly_db *db, const ly_who *who, ly_arena *a,
                           ly_customer *out, ly_error *err)
{
    return resolveWho(s, db, who, a, out, err);
}

ly_err ly_service_customer_get(ly_service *s, const ly_who *who, ly_arena *a, ly_customer *out,
                               ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    return resolveWho(s, db, who, a, out, err);
}

/* ---------------------------------------------------------------------------------------
 * Lots and entries
 * ------------------------------------------------------------------------------------- */

typedef struct wallet {
    int64_t customer_id;
    ly_account acc;
    ly_lot *lots;
    size_t n, cap;
} wallet;

static ly_err walletLoad(ly_db *db, int64_t customer_id, const ly_account *acc, ly_arena *a,
                         wallet *w, size_t extra, ly_error *err)
{
    ly_lot *lots;
    size_t n;
    TRY(ly_db_lots_open(db, customer_id, a, &lots, &n, err));
    w->customer_id = customer_id;
    w->acc = *acc;
    w->cap = n + extra;
    w->lots = ly_arena_alloc(a, (w->cap ? w->cap : 1) * sizeof *w->lots);
    if (!w->lots) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    if (n) memcpy(w->lots, lots, n * sizeof *lots);
    w->n = n;
    return LY_OK;
}

static ly_err entryWrite(ly_db *db, int64_t customer_id, ly_entry_kind kind, ly_delta d,
                         int64_t lot_id, const char *receipt_id, const char *return_id,
                         const char *ref, const char *note, ly_time at, ly_error *err)
{
    if (d.available == 0 && d.pending == 0) return LY_OK; /* nothing moved: nothing to record */
    ly_entry e = {.customer_id = customer_id, .kind = kind, .delta = d, .lot_id = lot_id,
                  .receipt_id = receipt_id, .return_id = return_id, .ref = ref, .note = note,
                  .at = at};
    return ly_db_entry_insert(db, &e, err);
}

/* One pass of walletSettleDue: every lot of w still pending (expire: still active) whose
 * activation (expire: expiry, when it has one) is due at now moves on in the ledger, with an
 * entry dated at that time when db is not NULL. stats counts the lots and their points. */
static ly_err walletSettlePass(ly_db *db, wallet *w, bool expire, ly_time now,
                               ly_maintain_result *stats, ly_error *err)
{
    for (size_t i = 0; i < w->n; i++) {
        ly_lot *l = &w->lots[i];
        bool due = expire ? l->state == LY_LOT_ACTIVE && l->expires_at && l->expires_at <= now
                          : l->state == LY_LOT_PENDING && l->active_at <= now;
        if (!due) continue;
        ly_points pts = l->remaining;
        ly_time at = expire ? l->expires_at : l->active_at;
        ly_delta d = expire ? ly_ledger_expire(&w->acc, l) : ly_ledger_activate(&w->acc, l);
        if (db) TRY(entryWrite(db, w->customer_id, expire ? LY_ENTRY_EXPIRE : LY_ENTRY_ACTIVATE, d,
                               l->id, NULL, NULL, NULL, NULL, at, err));
        if (stats && expire) {
            stats->lots_expired++;
            stats->points_expired += pts;
        } else if (stats) {
            stats->lots_activated++;
            stats->points_activated += pts;
        }
    }
    return LY_OK;
}

/* Activates and expires the lots of w that are due at now, writing an entry for each when
 * db is not NULL (NULL: only simulate, for reads). All activations come first, so that a lot
 * both activating and expiring by now does both. */
static ly_err walletSettleDue(ly_db *db, wallet *w, ly_time now, ly_maintain_result *stats,
                              ly_error *err)
{
    TRY(walletSettlePass(db, w, false, now, stats, err));
    return walletSettlePass(db, w, true, now, stats, err);
}

/* Writes the dirty lots and the account sums of w. */
static ly_err walletSave(ly_db *db, wallet *w, ly_error *err)
{
    for (size_t i = 0; i < w->n; i++) {
        if (!w->lots[i].dirty) continue;
        TRY(ly_db_lot_update(db, &w->lots[i], err));
        w->lots[i].dirty = false;
    }
    return ly_db_account_save(db, w->customer_id, &w->acc, err);
}

/* Adds a new lot to w (room was reserved by walletLoad's extra) and stores it. */
static ly_err walletNewLot(ly_db *db, wallet *w, ly_entry_kind source, ly_points points,
                           ly_time active_at, ly_time expires_at, ly_time now, ly_delta *d,
                           ly_lot **lot, ly_error *err)
{
    if (w->n >= w->cap) return ly_error_set(err, LY_EINTERNAL, "lot_space", NULL, "no room for a lot");
    ly_lot *l = &w->lots[w->n++];
    *d = ly_ledger_earn(&w->acc, l, points, active_at, expires_at, now);
    TRY(ly_db_lot_insert(db, w->customer_id, source, 0, l, err));
    l->dirty = false;
    *lot = l;
    return LY_OK;
}

static ly_time expiryFrom(const ly_service *s, const ly_program *prog, ly_time active_at)
{
    return prog->expiry_days ? s->cal.day_end(&s->cal, active_at, prog->expiry_days) : 0;
}

/* ---------------------------------------------------------------------------------------
 * Reads
 * ------------------------------------------------------------------------------------- */

ly_err ly_service_balance(ly_service *s, int64_t customer_id, ly_time now, int expiring_days,
                          ly_arena *a, ly_balance *out, ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_customer c;
    ly_who who = {.customer_id = customer_id};
    TRY(resolveWho(s, db, &who, a, &c, err));
    wallet w;
    TRY(walletLoad(db, c.id, &c.account, a, &w, 0, err));
    TRY(walletSettleDue(NULL, &w, now, NULL, err));
    memset(out, 0, sizeof *out);
    out->customer_id = c.id;
    out->account = w.acc;
    out->expiring_days = expiring_days;
    ly_time until = now + (ly_time)expiring_days * 86400;
    out->expiring = ly_ledger_expiring(w.lots, w.n, now, until);
    out->pending = ly_arena_alloc(a, (w.n ? w.n : 1) * sizeof *out->pending);
    out->expiring_lots = ly_arena_alloc(a, (w.n ? w.n : 1) * sizeof *out->expiring_lots);
    if (!out->pending || !out->expiring_lots)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    for (size_t i = 0; i < w.n; i++) {
        const ly_lot *l = &w.lots[i];
        if (l->state == LY_LOT_PENDING && l->remaining > 0)
            out->pending[out->n_pending++] = (ly_balance_lot){l->remaining, l->active_at};
        else if (l->state == LY_LOT_ACTIVE && l->remaining > 0 && l->expires_at &&
                 l->expires_at > now && l->expires_at <= until)
            out->expiring_lots[out->n_expiring++] = (ly_balance_lot){l->remaining, l->expires_at};
    }
    /* Lots come ordered by expiry; pending ones are shown soonest activation first. */
    for (size_t i = 1; i < out->n_pending; i++)
        for (size_t j = i; j > 0 && out->pending[j].at < out->pending[j - 1].at; j--) {
            ly_balance_lot t = out->pending[j];
            out->pending[j] = out->pending[j - 1];
            out->pending[j - 1] = t;
        }
    return LY_OK;
}

ly_err ly_service_ledger(ly_service *s, int64_t customer_id, int64_t before, size_t limit,
                         ly_arena *a, ly_entry **out, size_t *n, ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_customer c;
    TRY(ly_db_customer_get(db, customer_id, a, &c, err));
    return ly_db_entries_page(db, customer_id, before, limit, a, out, n, err);
}

ly_err ly_service_receipt_get(ly_service *s, const char *receipt_id, ly_arena *a,
                              ly_stored_receipt *out, ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    return ly_db_receipt_find(db, receipt_id, a, out, err);
}

/* ---------------------------------------------------------------------------------------
 * What the rules may know about the customer
 * ------------------------------------------------------------------------------------- */

typedef struct factList {
    ly_fact *v;
    size_t n;
} factList;

static ly_err factAdd(factList *f, ly_arena *a, const char *key, const char *value, ly_error *err)
{
    if (f->n >= FACTS_MAX || !value) return LY_OK;
    const char *k = ly_arena_strdup(a, key), *v = ly_arena_strdup(a, value);
    if (!k || !v) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    f->v[f->n++] = (ly_fact){k, v};
    return LY_OK;
}

/* The customer's free attributes as "attributes.<key>" facts: strings as they are, numbers
 * and booleans as their JSON text, nested objects joined with '.'; arrays and nulls are
 * left out. */
static ly_err flattenAttributes(json_t *o, const char *prefix, factList *f, ly_arena *a,
                                ly_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        char key[256];
        snprintf(key, sizeof key, "%s.%s", prefix, k);
        if (json_is_object(v)) {
            TRY(flattenAttributes(v, key, f, a, err));
        } else if (json_is_string(v)) {
            TRY(factAdd(f, a, key, json_string_value(v), err));
        } else if (json_is_integer(v) || json_is_real(v) || json_is_boolean(v)) {
            char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            ly_err rc = text ? factAdd(f, a, key, text, err)
                             : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            free(text);
            TRY(rc);
        }
    }
    return LY_OK;
}

ly_err ly_service_attribute_facts(const char *attributes_json, ly_arena *a, ly_fact **out,
                                  size_t *n, ly_error *err)
{
    *out = NULL;
    *n = 0;
    json_t *attrs = json_loads(attributes_json ? attributes_json : "{}", 0, NULL);
    if (!json_is_object(attrs) || !json_object_size(attrs)) {
        json_decref(attrs);
        return LY_OK;
    }
    factList f = {ly_arena_alloc(a, FACTS_MAX * sizeof(ly_fact)), 0};
    ly_err rc = f.v ? flattenAttributes(attrs, "attributes", &f, a, err)
                    : ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    json_decref(attrs);
    if (rc == LY_OK) {
        *out = f.v;
        *n = f.n;
    }
    return rc;
}

/* True when the customer has no receipt in the ledger: no entry names a receipt. A receipt
 * that moved no points leaves no entry, and a very long ledger is read only
 * FIRST_PURCHASE_PAGES pages deep (then the customer counts as known). */
static ly_err priorReceipts(ly_db *db, int64_t customer_id, ly_arena *a, int64_t *out,
                            ly_error *err)
{
    int64_t before = 0;
    *out = 0;
    for (int page = 0; page < FIRST_PURCHASE_PAGES; page++) {
        ly_entry *e;
        size_t n;
        TRY(ly_db_entries_page(db, customer_id, before, 200, a, &e, &n, err));
        for (size_t i = 0; i < n; i++)
            if (e[i].receipt_id) {
                *out = 1;
                return LY_OK;
            }
        if (n < 200) return LY_OK;
        before = e[n - 1].id;
    }
    *out = 1;
    return LY_OK;
}

/* Fills the pricing input of the rules for customer c (NULL: anonymous): first purchase and
 * the facts, each only when some rule of the program asks for it. Facts: the attributes,
 * and the latest analytics run's rfm_cell, segment, status and loyalty. Per-customer limits
 * and campaign budgets will plug in here as in->gate once their counters are stored. */
static ly_err ruleInputs(ly_service *s, const ly_program *prog, ly_db *db, const ly_customer *c,
                         ly_arena *a, ly_price_input *in, ly_error *err)
{
    if (!c) return LY_OK;
    in->identified = true;
    if (prog->uses_first_purchase) TRY(priorReceipts(db, c->id, a, &in->prior_receipts, err));
    if (!prog->uses_facts) return LY_OK;
    factList f = {ly_arena_alloc(a, FACTS_MAX * sizeof(ly_fact)), 0};
    if (!f.v) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    json_t *attrs = json_loads(c->attributes ? c->attributes : "{}", 0, NULL);
    ly_err rc = json_is_object(attrs) ? flattenAttributes(attrs, "attributes", &f, a, err) : LY_OK;
    json_decref(attrs);
    TRY(rc);
    ly_customer_analytics ca;
    rc = ly_db_customer_analytics_get(db, c->id, &ca, err);
    if (rc == LY_OK) {
        if (ca.rfm_cell[0]) TRY(factAdd(&f, a, "rfm_cell", ca.rfm_cell, err));
        if (ca.segment[0]) TRY(factAdd(&f, a, "segment", ca.segment, err));
        if (ca.status[0]) TRY(factAdd(&f, a, "status", ca.status, err));
        if (ca.loyalty[0]) TRY(factAdd(&f, a, "loyalty", ca.loyalty, err));
    } else if (rc != LY_ENOTFOUND) {
        return rc;
    }
    ly_error_clear(err);
    /* The tier and club membership (tiers.c). */
    TRY(ly__tiers_facts(s, db, prog, c->id, a, f.v, &f.n, FACTS_MAX, err));
    /* Bonus offers riding on trigger messages: trigger_offer.<flag> = "active" while the
     * flag is (engage/triggers.c, docs/triggers.md). */
    if (prog->triggers) {
        const char **flags;
        size_t nf;
        TRY(ly_db_trigger_flags_active(db, c->id, ly_os_now(), a, &flags, &nf, err));
        for (size_t i = 0; i < nf; i++) {
            char key[80];
            snprintf(key, sizeof key, "trigger_offer.%.60s", flags[i]);
            TRY(factAdd(&f, a, key, "active", err));
        }
    }
    in->facts = f.v;
    in->n_facts = f.n;
    return LY_OK;
}

/* Takes every earned point out of a pricing (money off from rules stays). */
static void noPoints(ly_pricing *p, size_t n_lines)
{
    for (size_t i = 0; i < n_lines; i++) {
        p->lines[i].points_earned = 0;
        if (p->line_rules) p->line_rules[i].points = 0;
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        if (p->rules[i].applied && p->rules[i].points > 0 && p->rules[i].discount == 0) {
            p->rules[i].applied = false;
            p->rules[i].failed = "customer";
            snprintf(p->rules[i].reason, sizeof p->rules[i].reason,
                     "would give %lld points: nothing is earned here without a customer",
                     (long long)p->rules[i].points);
        }
        p->rules[i].points = 0;
    }
    p->earn = p->bonus = 0;
}

/* Prices a checkout against a wallet and applies it to the wallet in memory: the shared
 * heart of calculate (which then throws the wallet away) and confirm (which saves it).
 * With db set, lots and entries are written. w may be NULL for an anonymous receipt. */
static ly_err checkoutApply(ly_service *s, const ly_program *prog, ly_db *db,
                            const ly_checkout *in, wallet *w, ly_price_input *pin, ly_time now,
                            ly_arena *a,
                            ly_checkout_result *out, ly_time *redeemed_expiry, int64_t *lot_id,
                            ly_error *err)
{
    const ly_receipt *r = &in->receipt;
    out->pricing.lines = ly_arena_alloc(a, (r->n_lines ? r->n_lines : 1) * sizeof(ly_line_price));
    out->pricing.line_rules = ly_arena_alloc(a, (r->n_lines ? r->n_lines : 1) * sizeof(ly_line_rules));
    out->pricing.rules = ly_arena_alloc(a, (prog->n_rules ? prog->n_rules : 1) *
                                               sizeof(ly_rule_result));
    if (!out->pricing.lines || !out->pricing.line_rules || !out->pricing.rules)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    /* A copy: the result may outlive the caller's reference to the program. */
    out->program_version = ly_arena_strdup(a, prog->version);
    if (!out->program_version)
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    *redeemed_expiry = 0;
    *lot_id = 0;
    ly_points available = w && !in->no_points ? w->acc.available : 0;
    ly_points redeem = in->no_points ? 0 : in->redeem;
    if (redeem > 0 && !w)
        return ly_error_set(err, LY_EUNPROCESSABLE, "customer_required", "redeem_points",
                            "points can only be redeemed by an identified customer");
    /* A history import stores what happened: no rule reprices it. */
    ly_program flat = *prog;
    if (in->no_points) flat.n_rules = 0;
    /* A customer's tier may set their earn rate (tiers.c). */
    if (w && prog->tiers) {
        ly_db *rdb = db ? db : ly_store_reader(s->store, err);
        if (!rdb) return LY_EIO;
        TRY(ly__tiers_earn_rate(rdb, prog, w->customer_id, &flat.earn_rate_bp, err));
    }
    /* A receipt at a coalition partner earns at the partner's rate (rewards.c). */
    ly__rw_earn_rate(prog, in, &flat.earn_rate_bp);
    pin->available = available;
    pin->redeem = redeem;
    TRY(ly_receipt_price(&flat, r, pin, &out->pricing, err));
    ly_lot_schedule(prog, &s->cal, r->time, &out->points_active_at, &out->points_expire_at);
    if (in->no_points) {
        noPoints(&out->pricing, r->n_lines);
        out->pricing.max_redeem = 0;
    }
    if (!w) {
        out->before = out->after = (ly_account){0, 0, 0};
        return LY_OK;
    }
    out->before = w->acc;
    if (out->pricing.redeem > 0) {
        ly_delta d;
        TRY(ly_ledger_spend(&w->acc, w->lots, w->n, out->pricing.redeem, redeemed_expiry, &d, err));
        if (db) TRY(entryWrite(db, w->customer_id, LY_ENTRY_REDEEM, d, 0, r->receipt_id, NULL,
                               NULL, NULL, now, err));
    }
    if (out->pricing.earn > 0) {
        ly_delta d;
        if (db) {
            ly_lot *lot;
            TRY(walletNewLot(db, w, LY_ENTRY_EARN, out->pricing.earn, out->points_active_at,
                             out->points_expire_at, now, &d, &lot, err));
            *lot_id = lot->id;
            TRY(entryWrite(db, w->customer_id, LY_ENTRY_EARN, d, lot->id, r->receipt_id, NULL,
                           NULL, NULL, now, err));
        } else {
            ly_lot l;
            (void)ly_ledger_earn(&w->acc, &l, out->pricing.earn, out->points_active_at,
                                 out->points_expire_at, now);
        }
    }
    out->after = w->acc;
    return LY_OK;
}

/* Calculate proper, with the program version the request took when it started. */
static ly_err calculateWith(ly_service *s, const ly_program *prog, const ly_checkout *in,
                            ly_time now, ly_arena *a, ly_checkout_result *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    TRY(ly_receipt_validate(&in->receipt, err));
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    wallet w, *pw = NULL;
    if (in->who.customer_id > 0 || in->who.value) {
        out->customer = ly_arena_alloc(a, sizeof *out->customer);
        if (!out->customer) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        TRY(resolveWho(s, db, &in->who, a, out->customer, err));
        TRY(walletLoad(db, out->customer->id, &out->customer->account, a, &w, 0, err));
        TRY(walletSettleDue(NULL, &w, now, NULL, err));
        pw = &w;
    }
    ly_price_input pin = {0};
    TRY(ruleInputs(s, prog, db, out->customer, a, &pin, err));
    /* Coupons are checked, not consumed; rule limits are read, not counted (rewards.c). */
    ly__rw *rw;
    TRY(ly__rw_before(s, prog, db, in, out->customer, a, &pin, &rw, err));
    ly_time redeemed_expiry;
    int64_t lot_id;
    TRY(checkoutApply(s, prog, NULL, in, pw, &pin, now, a, out, &redeemed_expiry, &lot_id, err));
    return ly__rw_after(rw, in, a, out, err);
}

ly_err ly_service_calculate(ly_service *s, const ly_checkout *in, ly_time now, ly_arena *a,
                            ly_checkout_result *out, ly_error *err)
{
    /* One snapshot for the customer, the lots, the tier and the quests: a preview that stores
     * nothing reads them as of one moment. */
    if (ly_store_read_begin(s->store, err) != LY_OK) return LY_EIO;
    ly_program_ref *ref = ly__program_acquire(s);
    ly_err rc = calculateWith(s, &ref->p, in, now, a, out, err);
    /* The quests the receipt would advance, read only (quests.c). */
    if (rc == LY_OK && ref->p.quests) {
        ly_db *db = ly_store_reader(s->store, err);
        rc = db ? ly__quests_receipt(s, db, ref, out->customer ? out->customer->id : 0, in, false,
                                     now, a, out, err)
                : LY_EIO;
    }
    ly__program_release(s, ref);
    ly_store_read_end(s->store);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Operations
 * ------------------------------------------------------------------------------------- */

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* Renders the response of op into op->response. */
static ly_err render(ly_op *op, ly_error *err)
{
    op->response = NULL;
    if (!op->render) return LY_OK;
    op->response = op->render(op);
    return op->response ? LY_OK : oom(err);
}

bool ly__op_replay(ly_op *op, const uint8_t stored_hash[32], int status, const char *response)
{
    if (memcmp(stored_hash, op->request_hash, 32) != 0) return false;
    op->replayed = true;
    op->status = status;
    op->response = response;
    return true;
}

/* For operations keyed by Idempotency-Key: answers a retry from the stored response.
 * Returns LY_OK with op->replayed set, LY_ENOTFOUND when the key is new, or an error. */
static ly_err idemCheck(ly_db *db, ly_op *op, const char *scope, ly_error *err)
{
    if (!op->idem_key) return LY_ENOTFOUND;
    const char *key = ly_arena_printf(op->arena, "%s:%s", scope, op->idem_key);
    if (!key) return oom(err);
    uint8_t h[32];
    int status;
    const char *resp;
    ly_err rc = ly_db_idem_get(db, key, op->arena, h, &status, &resp, err);
    if (rc != LY_OK) return rc;
    if (!ly__op_replay(op, h, status, resp))
        return ly_error_set(err, LY_ECONFLICT, "idempotency_conflict", "Idempotency-Key",
                            "this key was used with a different request");
    return LY_OK;
}

static ly_err idemStore(ly_db *db, ly_op *op, const char *scope, ly_error *err)
{
    if (!op->idem_key) return LY_OK;
    const char *key = ly_arena_printf(op->arena, "%s:%s", scope, op->idem_key);
    if (!key) return oom(err);
    return ly_db_idem_put(db, key, op->request_hash, op->status, op->response ? op->response : "",
                          op->now, err);
}

static ly_err opConfirm(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    const ly_checkout *in = &op->in.confirm;
    ly_checkout_result *out = &op->out.confirm;
    const ly_program *prog = &op->prog_->p;
    memset(out, 0, sizeof *out);
    if (!in->receipt.receipt_id || !*in->receipt.receipt_id)
        return ly_error_set(err, LY_EINVAL, "missing_field", "receipt_id", "is required");

    ly_stored_receipt prior;
    ly_err rc = ly_db_receipt_find(db, in->receipt.receipt_id, op->arena, &prior, err);
    if (rc == LY_OK) {
        if (!ly__op_replay(op, prior.request_hash, 201, prior.response))
            return ly_error_set(err, LY_ECONFLICT, "receipt_conflict", "receipt_id",
                                "receipt %s was already confirmed with different contents",
                                in->receipt.receipt_id);
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    TRY(ly_receipt_validate(&in->receipt, err));

    wallet w, *pw = NULL;
    ly_id_kind id_kind = LY_ID_KIND_COUNT;
    if (in->who.customer_id > 0 || in->who.value) {
        out->customer = ly_arena_alloc(op->arena, sizeof *out->customer);
        if (!out->customer) return oom(err);
        TRY(resolveWho(s, db, &in->who, op->arena, out->customer, err));
        TRY(walletLoad(db, out->customer->id, &out->customer->account, op->arena, &w, 1, err));
        TRY(walletSettleDue(db, &w, op->now, NULL, err));
        pw = &w;
        id_kind = in->who.customer_id > 0 ? LY_ID_KIND_COUNT : in->who.kind;
    }
    ly_price_input pin = {0};
    if (!in->no_points) TRY(ruleInputs(s, prog, db, out->customer, op->arena, &pin, err));
    /* Coupons and rule limits, checked again here inside the job (rewards.c). */
    ly__rw *rw;
    TRY(ly__rw_before(s, prog, db, in, out->customer, op->arena, &pin, &rw, err));
    ly_stored_receipt sr;
    memset(&sr, 0, sizeof sr);
    TRY(checkoutApply(s, prog, db, in, pw, &pin, op->now, op->arena, out, &sr.redeemed_expiry,
                      &sr.lot_id, err));
    if (!pw) {
        /* Nothing is credited without a customer: the receipt records what was earned. */
        noPoints(&out->pricing, in->receipt.n_lines);
    } else {
        TRY(walletSave(db, &w, err));
        out->customer->account = w.acc;
    }
    TRY(ly__rw_after(rw, in, op->arena, out, err));
    /* Quest progress and rewards, in the same job, before the response is rendered: it
     * says which quests the receipt advanced (quests.c). */
    if (prog->quests)
        TRY(ly__quests_receipt(s, db, op->prog_, pw ? w.customer_id : 0, in, true, op->now,
                               op->arena, out, err));
    op->status = 201;
    TRY(render(op, err));

    sr.receipt = in->receipt;
    sr.customer_id = pw ? w.customer_id : 0;
    sr.id_kind = id_kind;
    sr.pricing = out->pricing;
    sr.returned = ly_arena_alloc(op->arena, (in->receipt.n_lines ? in->receipt.n_lines : 1) * sizeof(ly_qty));
    if (!sr.returned) return oom(err);
    sr.program_version = prog->version;
    memcpy(sr.request_hash, op->request_hash, 32);
    sr.response = op->response ? op->response : "";
    sr.created_at = op->now;
    TRY(ly_db_receipt_insert(db, &sr, err));
    /* Rule uses, budgets, coupons, partner figures, a referral's purchase (rewards.c). */
    int64_t referrer;
    TRY(ly__rw_confirmed(s, prog, db, rw, in, out, op->now, &referrer, err));
    /* A referral this receipt qualified counts for the referrer's quests (quests.c). */
    if (referrer && prog->quests)
        TRY(ly__quests_referral_confirmed(s, db, op->prog_, w.customer_id, referrer, in,
                                          op->now, op->arena, err));
    TRY(ly__survey_confirmed(prog, db, in, err)); /* its touchpoint (survey.c, engineer S) */
    /* An upgrade happens as soon as the receipt qualifies, in the same job (tiers.c). */
    if (pw && prog->tiers) TRY(ly__tiers_after_confirm(s, db, prog, w.customer_id, op->now, err));
    return LY_OK;
}

/* Works out which lines and quantities a return request takes back; fills ret->lines. */
static ly_err returnLines(const ly_return_request *in, ly_stored_receipt *rcpt,
                          ly_arena *a, ly_stored_return *ret, ly_error *err)
{
    size_t n = rcpt->receipt.n_lines;
    ly_qty *take = ly_arena_alloc(a, (n ? n : 1) * sizeof *take);
    if (!take) return oom(err);
    if (in->full) {
        for (size_t i = 0; i < n; i++) take[i] = rcpt->receipt.lines[i].qty - rcpt->returned[i];
    } else {
        if (in->n_lines == 0)
            return ly_error_set(err, LY_EINVAL, "missing_field", "lines",
                                "name the lines to return, or set \"full\": true");
        for (size_t j = 0; j < in->n_lines; j++) {
            const ly_return_request_line *rl = &in->lines[j];
            char field[64];
            snprintf(field, sizeof field, "lines[%zu].qty", j);
            if (rl->qty <= 0 || rl->qty > LY_QTY_MAX)
                return ly_error_set(err, LY_EINVAL, "invalid_value", field, "must be > 0");
            if (rl->line >= 0) {
                if ((size_t)rl->line >= n) {
                    snprintf(field, sizeof field, "lines[%zu].line", j);
                    return ly_error_set(err, LY_EUNPROCESSABLE, "line_not_found", field,
                                        "the receipt has %zu lines", n);
                }
                size_t i = (size_t)rl->line;
                if (take[i] + rl->qty > rcpt->receipt.lines[i].qty - rcpt->returned[i])
                    return ly_error_set(err, LY_EUNPROCESSABLE, "return_exceeds_purchase", field,
                                        "only %lld thousandths of line %zu are left to return",
                                        (long long)(rcpt->receipt.lines[i].qty - rcpt->returned[i] - take[i]), i);
                take[i] += rl->qty;
                continue;
            }
            /* By sku: spread over the receipt's lines with that sku, in order. */
            ly_qty want = rl->qty;
            bool seen = false;
            for (size_t i = 0; i < n && want > 0; i++) {
                if (!rl->sku || strcmp(rcpt->receipt.lines[i].sku, rl->sku) != 0) continue;
                seen = true;
                ly_qty left = rcpt->receipt.lines[i].qty - rcpt->returned[i] - take[i];
                ly_qty t = left < want ? left : want;
                take[i] += t;
                want -= t;
            }
            if (!seen) {
                snprintf(field, sizeof field, "lines[%zu].sku", j);
                return ly_error_set(err, LY_EUNPROCESSABLE, "line_not_found", field,
                                    "the receipt has no line with sku %s", rl->sku ? rl->sku : "");
            }
            if (want > 0)
                return ly_error_set(err, LY_EUNPROCESSABLE, "return_exceeds_purchase", field,
                                    "%lld thousandths more than are left to return",
                                    (long long)want);
        }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += take[i] > 0;
    if (k == 0)
        return ly_error_set(err, LY_EUNPROCESSABLE, "nothing_to_return", in->full ? "full" : "lines",
                            "everything on this receipt has already been returned");
    ret->lines = ly_arena_alloc(a, k * sizeof *ret->lines);
    if (!ret->lines) return oom(err);
    ret->n_lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (take[i] <= 0) continue;
        const ly_line *l = &rcpt->receipt.lines[i];
        const ly_line_price *p = &rcpt->pricing.lines[i];
        ly_qty before = rcpt->returned[i], after = before + take[i];
        ly_money paid = l->amount - p->discount;
        ly_return_line *rl = &ret->lines[ret->n_lines++];
        rl->line = i;
        rl->qty = take[i];
        rl->amount = ly_share(paid, after, l->qty) - ly_share(paid, before, l->qty);
        rl->points_taken = ly_share(p->points_earned, after, l->qty) - ly_share(p->points_earned, before, l->qty);
        rl->points_refunded = ly_share(p->points_redeemed, after, l->qty) - ly_share(p->points_redeemed, before, l->qty);
        ret->amount += rl->amount;
        ret->points_taken += rl->points_taken;
        ret->points_refunded += rl->points_refunded;
        rcpt->returned[i] = after;
    }
    return LY_OK;
}

static ly_err opReturn(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    const ly_return_request *in = &op->in.ret;
    memset(&op->out.ret, 0, sizeof op->out.ret);
    ly_stored_return *ret = &op->out.ret.ret;
    ly_stored_receipt *rcpt = &op->out.ret.receipt;
    if (!in->return_id || !*in->return_id)
        return ly_error_set(err, LY_EINVAL, "missing_field", "return_id", "is required");

    ly_stored_return prior;
    ly_err rc = ly_db_return_find(db, in->return_id, op->arena, &prior, err);
    if (rc == LY_OK) {
        if (!ly__op_replay(op, prior.request_hash, 201, prior.response))
            return ly_error_set(err, LY_ECONFLICT, "return_conflict", "return_id",
                                "return %s was already made with different contents", in->return_id);
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    rc = ly_db_receipt_find(db, in->receipt_id, op->arena, rcpt, err);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_ENOTFOUND, "receipt_not_found", "receipt_id",
                            "no receipt %s", in->receipt_id);
    TRY(rc);
    TRY(returnLines(in, rcpt, op->arena, ret, err));
    ret->return_id = in->return_id;
    ret->receipt_rowid = rcpt->rowid;
    ret->time = in->time ? in->time : op->now;

    if (rcpt->customer_id) {
        ly_customer c;
        ly_who who = {.customer_id = rcpt->customer_id};
        TRY(resolveWho(s, db, &who, op->arena, &c, err));
        wallet w;
        TRY(walletLoad(db, c.id, &c.account, op->arena, &w, 1, err));
        TRY(walletSettleDue(db, &w, op->now, NULL, err));
        if (ret->points_taken > 0) {
            size_t own = SIZE_MAX;
            for (size_t i = 0; i < w.n; i++)
                if (rcpt->lot_id && w.lots[i].id == rcpt->lot_id) own = i;
            /* The debt policy is the one of the version that priced the receipt. */
            ly_program_ref *priced = NULL;
            TRY(ly__program_version(s, db, rcpt->program_version, &priced, err));
            ly_debt_policy policy = priced ? priced->p.debt_policy : op->prog_->p.debt_policy;
            ly__program_release(s, priced);
            ly_delta d = ly_ledger_take_back(&w.acc, w.lots, w.n, own, ret->points_taken,
                                             policy, &ret->points_forgiven);
            TRY(entryWrite(db, c.id, LY_ENTRY_RETURN, d, rcpt->lot_id, rcpt->receipt.receipt_id,
                           in->return_id, NULL,
                           ret->points_forgiven ? ly_arena_printf(op->arena, "%lld points forgiven",
                                                                  (long long)ret->points_forgiven)
                                                : NULL,
                           op->now, err));
        }
        if (ret->points_refunded > 0) {
            /* Spent points come back with the life they had left: the latest expiry of the
             * lots they were drawn from. */
            ly_delta d;
            ly_lot *lot;
            TRY(walletNewLot(db, &w, LY_ENTRY_REFUND, ret->points_refunded, op->now,
                             rcpt->redeemed_expiry, op->now, &d, &lot, err));
            TRY(entryWrite(db, c.id, LY_ENTRY_REFUND, d, lot->id, rcpt->receipt.receipt_id,
                           in->return_id, NULL, NULL, op->now, err));
            if (lot->expires_at && lot->expires_at <= op->now) {
                d = ly_ledger_expire(&w.acc, lot);
                TRY(entryWrite(db, c.id, LY_ENTRY_EXPIRE, d, lot->id, NULL, NULL, NULL, NULL,
                               op->now, err));
            }
        }
        TRY(walletSave(db, &w, err));
        op->out.ret.after = w.acc;
    }
    TRY(ly_db_receipt_returned(db, rcpt, err));
    /* The returned quantities take back their quest progress (quests.c). */
    TRY(ly__quests_returned(s, db, &op->prog_->p, rcpt, op->now, op->arena, err));
    /* Partner figures; a full return gives back rule uses and coupons (rewards.c). */
    TRY(ly__rw_returned(s, &op->prog_->p, db, rcpt, ret, op->now, err));
    /* A referral the return unqualified takes back its referral quests' count (quests.c). */
    TRY(ly__quests_referral_returned(s, db, &op->prog_->p, rcpt, op->now, op->arena, err));
    op->status = 201;
    TRY(render(op, err));
    memcpy(ret->request_hash, op->request_hash, 32);
    ret->response = op->response ? op->response : "";
    ret->created_at = op->now;
    return ly_db_return_insert(db, ret, err);
}

/* Applies the identifier changes of a profile: each kind given replaces the customer's
 * identifiers of that kind; an empty value removes them. */
static ly_err applyIds(ly_service *s, ly_db *db, int64_t id, const ly_profile *p, ly_time now,
                       ly_arena *a, ly_error *err)
{
    for (size_t i = 0; i < p->n_ids; i++) {
        const ly_identifier *x = &p->ids[i];
        if (x->kind == LY_ID_QR)
            return ly_error_set(err, LY_EINVAL, "invalid_field", "qr",
                                "QR tokens are issued by Loyal: use the rotate call");
        TRY(ly_db_identifier_remove(db, id, x->kind, err));
        if (!x->value || !*x->value) continue;
        char *norm = ly_arena_alloc(a, 300);
        if (!norm) return oom(err);
        TRY(normalizeId(s, x->kind, x->value, norm, 300, err));
        TRY(ly_db_identifier_add(db, id, x->kind, norm, now, err));
    }
    return LY_OK;
}

static ly_err applyProfile(ly_db *db, ly_customer *c, const ly_profile *p, ly_time now,
                           ly_error *err)
{
    if (p->set_name) c->name = p->name;
    if (p->set_birth_date) {
        int64_t days;
        if (p->birth_date && !ly_date_parse(p->birth_date, &days))
            return ly_error_set(err, LY_EINVAL, "invalid_value", "birth_date", "must be YYYY-MM-DD");
        c->birth_date = p->birth_date;
    }
    if (p->set_attributes) c->attributes = p->attributes ? p->attributes : "{}";
    if (p->set_enrolled_store) c->enrolled_store = p->enrolled_store;
    for (int ch = 0; ch < LY_CH_COUNT; ch++) {
        if (!p->set_consent[ch]) continue;
        int state = p->consent[ch] ? 1 : 0;
        if (c->consent[ch].state == state) continue; /* unchanged: keep when it was given */
        c->consent[ch].state = state;
        c->consent[ch].at = now;
        TRY(ly_db_consent_log(db, c->id, (ly_channel)ch, p->consent[ch], now, err));
    }
    c->updated_at = now;
    return LY_OK;
}

static ly_err newQr(ly_db *db, int64_t id, ly_time now, ly_error *err)
{
    char tok[QR_TOKEN_LEN + 1];
    ly_os_random_token(tok, QR_TOKEN_LEN);
    TRY(ly_db_identifier_remove(db, id, LY_ID_QR, err));
    return ly_db_identifier_add(db, id, LY_ID_QR, tok, now, err);
}

static ly_err reload(ly_db *db, int64_t id, ly_op *op, ly_error *err)
{
    return ly_db_customer_get(db, id, op->arena, &op->out.customer, err);
}

static ly_err opCreate(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    ly_err rc = idemCheck(db, op, "customer", err);
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    ly_customer c;
    memset(&c, 0, sizeof c);
    c.attributes = "{}";
    c.enrolled_at = op->now;
    for (int ch = 0; ch < LY_CH_COUNT; ch++) c.consent[ch].state = -1;
    /* The referrer, checked before the newcomer's identifiers exist (rewards.c). */
    int64_t referrer = 0;
    TRY(ly__rw_enrol_check(s, &op->prog_->p, db, &op->in.create, &referrer, err));
    TRY(ly_db_customer_insert(db, &c, err));
    TRY(applyProfile(db, &c, &op->in.create, op->now, err));
    TRY(ly_db_customer_update(db, &c, err));
    TRY(applyIds(s, db, c.id, &op->in.create, op->now, op->arena, err));
    TRY(newQr(db, c.id, op->now, err));
    TRY(ly__rw_enrolled(s, op, db, c.id, referrer, err)); /* referral link, welcome bonus */
    TRY(reload(db, c.id, op, err));
    op->status = 201;
    TRY(render(op, err));
    return idemStore(db, op, "customer", err);
}

static ly_err opPatch(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    ly_customer c;
    ly_who who = {.customer_id = op->in.patch.customer_id};
    TRY(resolveWho(s, db, &who, op->arena, &c, err));
    TRY(applyProfile(db, &c, &op->in.patch.profile, op->now, err));
    TRY(ly_db_customer_update(db, &c, err));
    TRY(applyIds(s, db, c.id, &op->in.patch.profile, op->now, op->arena, err));
    TRY(ly__rw_profile_changed(s, op, db, c.id, err)); /* welcome bonus on consent */
    TRY(reload(db, c.id, op, err));
    op->status = 200;
    return render(op, err);
}

static ly_err opQr(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    ly_err rc = idemCheck(db, op, "qr", err);
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    ly_customer c;
    ly_who who = {.customer_id = op->in.qr_customer_id};
    TRY(resolveWho(s, db, &who, op->arena, &c, err));
    TRY(newQr(db, c.id, op->now, err));
    TRY(reload(db, c.id, op, err));
    op->status = 200;
    TRY(render(op, err));
    return idemStore(db, op, "qr", err);
}

/* Carries one once-only mark (the idempotency row of adjustment id from_id) to the survivor
 * as adjustment id into_id, so the survivor is never paid that bonus again. */
static ly_err mergeMark(ly_db *db, ly_op *op, const char *from_id, const char *into_id,
                        ly_error *err)
{
    const char *fk = ly_arena_printf(op->arena, "adjustment:%s", from_id);
    const char *ik = ly_arena_printf(op->arena, "adjustment:%s", into_id);
    if (!fk || !ik) return oom(err);
    uint8_t h[32];
    ly_os_hash(into_id, strlen(into_id), h); /* what the bonus's own request hashes */
    return ly_db_merge_mark_copy(db, fk, ik, h, op->now, NULL, err);
}

/* The once-only bonuses the merged profile got stay given for the person (docs/api.md,
 * "Merge two profiles"): the welcome bonus, a year's birthday bonus, a questionnaire's
 * completion reward. */
static ly_err mergeMarks(ly_db *db, ly_op *op, int64_t from, int64_t into, ly_error *err)
{
    ly_arena *a = op->arena;
    const char *f = ly_arena_printf(a, "welcome:%lld", (long long)from);
    const char *i = ly_arena_printf(a, "welcome:%lld", (long long)into);
    if (!f || !i) return oom(err);
    TRY(mergeMark(db, op, f, i, err));
    const char *prefix = ly_arena_printf(a, "adjustment:birthday:%lld:", (long long)from);
    if (!prefix) return oom(err);
    const char **keys;
    size_t n;
    TRY(ly_db_merge_keys(db, prefix, a, &keys, &n, err));
    for (size_t k = 0; k < n; k++) {
        const char *year = keys[k] + strlen(prefix);
        f = keys[k] + strlen("adjustment:");
        i = ly_arena_printf(a, "birthday:%lld:%s", (long long)into, year);
        if (!i) return oom(err);
        TRY(mergeMark(db, op, f, i, err));
    }
    const ly_survey_conf *sv = op->prog_->p.survey;
    for (size_t q = 0; sv && q < sv->n_questionnaires; q++) {
        const char *id = sv->questionnaires[q].id;
        f = ly_arena_printf(a, "questionnaire:%s:%lld", id, (long long)from);
        i = ly_arena_printf(a, "questionnaire:%s:%lld", id, (long long)into);
        if (!f || !i) return oom(err);
        TRY(mergeMark(db, op, f, i, err));
    }
    return LY_OK;
}

/* The survivor's attributes (a JSON object) with the keys it lacks taken from the merged
 * profile's, in the arena; the survivor's own text when nothing is added. */
static ly_err mergeAttributes(const char *into, const char *from, ly_arena *a, const char **out,
                              ly_error *err)
{
    *out = into;
    json_t *ji = json_loads(into ? into : "{}", 0, NULL);
    json_t *jf = json_loads(from ? from : "{}", 0, NULL);
    ly_err rc = LY_OK;
    if (json_is_object(ji) && json_is_object(jf)) {
        const char *key;
        json_t *v;
        size_t added = 0;
        json_object_foreach(jf, key, v) {
            if (json_object_get(ji, key)) continue;
            json_object_set(ji, key, v);
            added++;
        }
        if (added) {
            char *t = json_dumps(ji, JSON_COMPACT | JSON_SORT_KEYS);
            if (!t || !(*out = ly_arena_strdup(a, t))) rc = oom(err);
            free(t);
        }
    }
    json_decref(ji);
    json_decref(jf);
    return rc;
}

static ly_err opMerge(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    ly_err rc = idemCheck(db, op, "merge", err);
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    int64_t from_id = op->in.merge.from, into_id = op->in.merge.into;
    ly_customer from, into;
    rc = ly_db_customer_get(db, from_id, op->arena, &from, err);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "from", "no customer %lld", (long long)from_id);
    TRY(rc);
    rc = ly_db_customer_get(db, into_id, op->arena, &into, err);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "id", "no customer %lld", (long long)into_id);
    TRY(rc);
    if (from_id == into_id)
        return ly_error_set(err, LY_EUNPROCESSABLE, "merge_into_self", "from", "a profile cannot be merged into itself");
    if (from.merged_into)
        return ly_error_set(err, LY_EUNPROCESSABLE, "customer_merged", "from",
                            "customer %lld was already merged into %lld", (long long)from_id, (long long)from.merged_into);
    if (into.merged_into)
        return ly_error_set(err, LY_EUNPROCESSABLE, "customer_merged", "id",
                            "customer %lld was already merged into %lld", (long long)into_id, (long long)into.merged_into);

    /* Settle both as of now, so the balances moved are the current ones. */
    wallet wf, wi;
    TRY(walletLoad(db, from_id, &from.account, op->arena, &wf, 0, err));
    TRY(walletSettleDue(db, &wf, op->now, NULL, err));
    TRY(walletSave(db, &wf, err));
    TRY(walletLoad(db, into_id, &into.account, op->arena, &wi, 0, err));
    TRY(walletSettleDue(db, &wi, op->now, NULL, err));
    TRY(walletSave(db, &wi, err));

    const char *ref = ly_arena_printf(op->arena, "merge:%lld->%lld", (long long)from_id, (long long)into_id);
    if (!ref) return oom(err);
    ly_delta out = {-wf.acc.available, -wf.acc.pending};
    ly_delta in = {wf.acc.available, wf.acc.pending};
    TRY(entryWrite(db, from_id, LY_ENTRY_MERGE_OUT, out, 0, NULL, NULL, ref, NULL, op->now, err));
    TRY(entryWrite(db, into_id, LY_ENTRY_MERGE_IN, in, 0, NULL, NULL, ref, NULL, op->now, err));
    TRY(ly_db_customer_move(db, from_id, into_id, op->now, err));
    /* Quest periods both profiles had open: the sums that reach a target complete below. */
    ly_merge_progress *open;
    size_t n_open;
    TRY(ly_db_merge_open_collisions(db, from_id, into_id, op->arena, &open, &n_open, err));
    TRY(ly_db_merge_moves(db, from_id, into_id, op->now, err));
    TRY(mergeMarks(db, op, from_id, into_id, err));
    /* The higher tier, the club, and an upgrade the purchases together earn (tiers.c). */
    TRY(ly__tiers_merged(s, db, &op->prog_->p, from_id, into_id, op->now, err));

    ly_account zero = {0, 0, 0};
    TRY(ly_db_account_save(db, from_id, &zero, err));
    ly_account acc = {wi.acc.available + wf.acc.available, wi.acc.pending + wf.acc.pending,
                      wi.acc.debt + wf.acc.debt};
    wallet w;
    TRY(walletLoad(db, into_id, &acc, op->arena, &w, 0, err));
    ly_ledger_settle(&w.acc, w.lots, w.n);
    TRY(walletSave(db, &w, err));

    from.merged_into = into_id;
    from.updated_at = op->now;
    from.account = zero;
    TRY(ly_db_customer_update(db, &from, err));
    /* Profile fields the survivor lacks come from the merged profile. */
    if (!into.name) into.name = from.name;
    if (!into.birth_date) into.birth_date = from.birth_date;
    for (int ch = 0; ch < LY_CH_COUNT; ch++)
        if (into.consent[ch].state < 0) into.consent[ch] = from.consent[ch];
    if (into.enrolled_at > from.enrolled_at) {
        into.enrolled_at = from.enrolled_at;
        into.enrolled_store = from.enrolled_store;
    }
    TRY(mergeAttributes(into.attributes, from.attributes, op->arena, &into.attributes, err));
    into.updated_at = op->now;
    TRY(ly_db_customer_update(db, &into, err));
    /* After the balance is saved: a completion's bonus is an adjustment of its own. */
    for (size_t i = 0; i < n_open; i++)
        TRY(ly__quests_merge_complete(s, db, op->prog_, into_id, open[i].quest_id,
                                      open[i].period, open[i].value, op->now, op->arena, err));
    TRY(reload(db, into_id, op, err));
    op->status = 200;
    TRY(render(op, err));
    return idemStore(db, op, "merge", err);
}

static ly_err opAdjust(ly_service *s, ly_db *db, ly_op *op, ly_error *err)
{
    const ly_adjust_request *in = &op->in.adjust;
    if (!in->adjustment_id || !*in->adjustment_id)
        return ly_error_set(err, LY_EINVAL, "missing_field", "adjustment_id", "is required");
    const char *saved_key = op->idem_key;
    op->idem_key = in->adjustment_id;
    ly_err rc = idemCheck(db, op, "adjustment", err);
    op->idem_key = saved_key;
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);
    if (in->points == 0 || in->points > LY_AMOUNT_MAX || in->points < -LY_AMOUNT_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "points", "must be non-zero");
    if (in->kind != LY_ENTRY_ADJUST && in->kind != LY_ENTRY_BONUS)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "kind", "must be adjust or bonus");
    if (in->kind == LY_ENTRY_BONUS && in->points < 0)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "points", "a bonus must be positive");
    ly_customer c;
    ly_who who = {.customer_id = in->customer_id};
    TRY(resolveWho(s, db, &who, op->arena, &c, err));
    wallet w;
    TRY(walletLoad(db, c.id, &c.account, op->arena, &w, 1, err));
    TRY(walletSettleDue(db, &w, op->now, NULL, err));
    ly_entry *e = &op->out.adjust.entry;
    memset(e, 0, sizeof *e);
    ly_delta d;
    int64_t lot_id = 0;
    if (in->points > 0) {
        ly_lot *lot;
        TRY(walletNewLot(db, &w, in->kind, in->points, op->now,
                         expiryFrom(s, &op->prog_->p, op->now), op->now, &d, &lot, err));
        lot_id = lot->id;
    } else {
        rc = ly_ledger_spend(&w.acc, w.lots, w.n, -in->points, NULL, &d, err);
        if (rc != LY_OK) {
            if (err) snprintf(err->field, sizeof err->field, "points");
            return rc;
        }
    }
    *e = (ly_entry){.customer_id = c.id, .kind = in->kind, .delta = d, .lot_id = lot_id,
                    .ref = in->adjustment_id, .note = in->note, .at = op->now};
    TRY(ly_db_entry_insert(db, e, err));
    TRY(walletSave(db, &w, err));
    op->out.adjust.after = w.acc;
    op->status = 201;
    TRY(render(op, err));
    op->idem_key = in->adjustment_id;
    rc = idemStore(db, op, "adjustment", err);
    op->idem_key = saved_key;
    return rc;
}

ly_err ly_service_apply(ly_service *s, ly_db *db, ly_op *op)
{
    /* Submitted operations bring the program they were submitted with; a direct call
     * (bulk import) takes the current one for its duration. */
    ly_program_ref *own = NULL;
    if (!op->prog_) op->prog_ = own = ly__program_acquire(s);
    ly_error_clear(&op->err);
    op->replayed = false;
    op->response = NULL;
    op->status = 0;
    ly_err rc;
    switch (op->kind) {
    case LY_OP_CONFIRM: rc = opConfirm(s, db, op, &op->err); break;
    case LY_OP_RETURN: rc = opReturn(s, db, op, &op->err); break;
    case LY_OP_CUSTOMER_CREATE: rc = opCreate(s, db, op, &op->err); break;
    case LY_OP_CUSTOMER_PATCH: rc = opPatch(s, db, op, &op->err); break;
    case LY_OP_QR_ROTATE: rc = opQr(s, db, op, &op->err); break;
    case LY_OP_MERGE: rc = opMerge(s, db, op, &op->err); break;
    case LY_OP_ADJUST: rc = opAdjust(s, db, op, &op->err); break;
    case LY_OP_EVENT: rc = ly__rw_op_event(s, db, op, &op->err); break;
    case LY_OP_COUPON_CODES: rc = ly__rw_op_coupon_codes(s, db, op, &op->err); break;
    default:
        rc = ly_error_set(&op->err, LY_EINVAL, "invalid_operation", NULL, "unknown operation");
    }
    op->rc = rc;
    if (rc != LY_OK && op->err.kind == LY_OK) op->err.kind = rc;
    if (own) {
        op->prog_ = NULL;
        ly__program_release(s, own);
    }
    return rc;
}

static ly_err runOp(ly_db *db, void *ctx, ly_error *err)
{
    ly_op *op = ctx;
    ly_err rc = ly_service_apply(op->svc_, db, op);
    if (rc != LY_OK && err) *err = op->err;
    return rc;
}

static void doneOp(void *ctx, ly_err rc, const ly_error *err)
{
    ly_op *op = ctx;
    if (rc != LY_OK) {
        op->rc = rc;
        if (err) op->err = *err;
        op->replayed = false;
    }
    /* Released before done: once done runs, the op's memory may go at any moment. */
    ly_program_ref *ref = op->prog_;
    op->prog_ = NULL;
    ly__program_release(op->svc_, ref);
    if (op->done) op->done(op);
}

ly_err ly_service_submit(ly_service *s, ly_op *op)
{
    op->svc_ = s;
    op->prog_ = ly__program_acquire(s); /* the program of the request, to its end */
    op->job_ = (ly_write_job){.run = runOp, .done = doneOp, .ctx = op};
    ly_err rc = ly_store_submit(s->store, &op->job_);
    if (rc != LY_OK) {
        ly__program_release(s, op->prog_);
        op->prog_ = NULL;
    }
    return rc;
}

ly_err ly_service_run(ly_service *s, ly_op *op)
{
    op->svc_ = s;
    op->prog_ = ly__program_acquire(s);
    ly_error e;
    ly_error_clear(&e);
    ly_err rc = ly_store_write(s->store, runOp, op, &e);
    ly__program_release(s, op->prog_);
    op->prog_ = NULL;
    if (rc != LY_OK) {
        op->rc = rc;
        op->err = e;
        op->replayed = false;
    }
    return op->rc = rc;
}

/* ---------------------------------------------------------------------------------------
 * Maintenance: activation and expiry
 * ------------------------------------------------------------------------------------- */

typedef struct maintainJob {
    ly_service *s;
    const int64_t *ids;
    size_t n;
    ly_time now;
    ly_maintain_result res;
} maintainJob;

static ly_err runMaintain(ly_db *db, void *ctx, ly_error *err)
{
    maintainJob *j = ctx;
    ly_arena a = {0};
    ly_err rc = LY_OK;
    memset(&j->res, 0, sizeof j->res);
    for (size_t i = 0; i < j->n && rc == LY_OK; i++) {
        ly_customer c;
        wallet w;
        rc = ly_db_customer_get(db, j->ids[i], &a, &c, err);
        if (rc == LY_OK) rc = walletLoad(db, c.id, &c.account, &a, &w, 0, err);
        if (rc == LY_OK) rc = walletSettleDue(db, &w, j->now, &j->res, err);
        if (rc == LY_OK) rc = walletSave(db, &w, err);
        j->res.customers++;
        ly_arena_free(&a);
    }
    ly_arena_free(&a);
    return rc;
}

ly_err ly_service_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t after = 0;
    for (;;) {
        ly_db *db = ly_store_reader(s->store, err);
        if (!db) return LY_EIO;
        ly_arena a = {0};
        int64_t *ids;
        size_t n;
        ly_err rc = ly_db_lots_due(db, now, after, 500, &a, &ids, &n, err);
        if (rc != LY_OK || n == 0) {
            ly_arena_free(&a);
            /* Then tiers and the club, once per local day (tiers.c). */
            if (rc == LY_OK) rc = ly__tiers_maintain(s, now, out, err);
            /* Then referral rewards due and birthday bonuses (rewards.c). */
            return rc != LY_OK ? rc : ly__rw_maintain(s, now, out, err);
        }
        maintainJob j = {.s = s, .ids = ids, .n = n, .now = now};
        rc = ly_store_write(s->store, runMaintain, &j, err);
        after = ids[n - 1];
        ly_arena_free(&a);
        if (rc != LY_OK) return rc;
        out->customers += j.res.customers;
        out->lots_activated += j.res.lots_activated;
        out->lots_expired += j.res.lots_expired;
        out->points_activated += j.res.points_activated;
        out->points_expired += j.res.points_expired;
    }
}
