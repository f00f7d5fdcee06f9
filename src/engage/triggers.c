/*
 * triggers.c - the trigger engine (engage.h, "Triggers"; docs/triggers.md): evaluates every
 * customer against the program's triggers as of an instant, advances and ends chains,
 * applies frequency caps, channel choice with consent, quiet hours and the hold-out groups,
 * and writes each step reached (and, for treated customers, the outbox message with its
 * offer) in one write job per batch of customers.
 *
 * Decisions are made on the calling thread's reader; the batch's writes follow as one job,
 * and the next batch is read only after it is durable. Every write is keyed (the
 * assignment by trigger and customer, the step by trigger, customer, cycle and step, the
 * message by the outbox's key), so a run repeated writes nothing new.
 */
#include "engage/triggers_internal.h"
#include "os/os.h"
#include "program/rewards.h"
#include "program/triggers.h"
#include "service/service.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define DAY 86400

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* Process counters for /metrics. */
static _Atomic uint64_t mRuns, mSteps, mMessages, mHeldOut, mProgramHeldOut, mCapped,
    mNoChannel, mDeferred;

int64_t ly_triggers_bucket(const char *seed, const char *trigger, int64_t customer_id,
                           char *hex)
{
    char text[256];
    int n = snprintf(text, sizeof text, "%s\x1f%s\x1f%lld", seed, trigger,
                     (long long)customer_id);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof text) n = (int)sizeof text - 1;
    uint8_t h[32];
    ly_os_hash(text, (size_t)n, h);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | h[i];
    if (hex) ly_os_hex(h, 8, hex);
    return (int64_t)(v % 10000u);
}

/* ---------------------------------------------------------------------------------------
 * Local time
 * ------------------------------------------------------------------------------------- */

static int64_t localDay(const ly_calendar *cal, ly_time t)
{
    int64_t l = t + (int64_t)cal->utc_offset(cal, t) * 60;
    return l >= 0 ? l / DAY : -((-l + DAY - 1) / DAY);
}

static ly_time dayStart(const ly_calendar *cal, ly_time t) { return cal->day_end(cal, t, -1); }

/* Minutes after local midnight. */
static int localMinute(const ly_calendar *cal, ly_time t)
{
    return (int)((t - dayStart(cal, t)) / 60);
}

/* The send time of a message decided at `now`: now, or the end of quiet hours. */
static ly_time afterQuiet(const ly_triggers_conf *tc, const ly_calendar *cal, ly_time now)
{
    if (!tc->quiet) return now;
    int m = localMinute(cal, now);
    bool in = tc->quiet_from < tc->quiet_to ? m >= tc->quiet_from && m < tc->quiet_to
                                            : m >= tc->quiet_from || m < tc->quiet_to;
    if (!in) return now;
    ly_time start = m < tc->quiet_to ? dayStart(cal, now) : cal->day_end(cal, now, 0);
    return start + (ly_time)tc->quiet_to * 60;
}

static void dateText(const ly_calendar *cal, ly_time t, char *buf, size_t size)
{
    ly_date_format(localDay(cal, t), buf, size);
}

/* ---------------------------------------------------------------------------------------
 * What the engine knows of one customer
 * ------------------------------------------------------------------------------------- */

typedef struct bounds {
    int64_t sleep, churn, loyalty; /* -1 when the latest analytics found none */
} bounds;

typedef struct cust {
    ly_customer c;
    ly_customer_analytics an;
    bool has_an;
    const char *tier;          /* the tier's id, NULL without tiers */
    const char *tier_name;
    int r_level;               /* 1..3 from the RFM cell, 0 unknown */
    int64_t deals;             /* receipts before now */
    ly_time first_deal, last_deal;
    ly_trigger_chain *chains;
    size_t n_chains;
    ly_lot *lots;
    size_t n_lots;
    const char *phone, *email;
    const ly_offer *offers;    /* from the offers model, when loaded */
    size_t n_offers;
    bool offers_loaded;
    const ly_fact *attrs;      /* the profile's attributes as "attributes.<name>" facts, read */
    size_t n_attrs;            /*   on first need (issue 6, engineer P) */
    bool attrs_loaded;
    ly_time picked[32];        /* send times chosen for this customer in this run */
    size_t n_picked;
} cust;

typedef struct runCtx {
    ly_store *s;
    ly_db *db;
    const ly_program *p;
    const ly_triggers_conf *tc;
    const ly_calendar *cal;
    ly_time now;
    bounds b;
    const ly_offers_model *model;
    ly_triggers_run_result *r;
} runCtx;

static const char *factOf(const cust *c, const char *name)
{
    if (!strcmp(name, "tier")) return c->tier;
    if (!c->has_an) return NULL;
    const char *v = !strcmp(name, "rfm_cell") ? c->an.rfm_cell
                  : !strcmp(name, "segment")  ? c->an.segment
                  : !strcmp(name, "status")   ? c->an.status
                  : !strcmp(name, "loyalty")  ? c->an.loyalty : NULL;
    return v && *v ? v : NULL;
}

/* base + offset, or false when the boundary is unknown. */
static bool boundValue(const ly_trig_bound *b, const bounds *bs, int64_t *out)
{
    int64_t base = 0;
    switch (b->base) {
    case LY_TB_NONE: break;
    case LY_TB_SLEEP: base = bs->sleep; break;
    case LY_TB_CHURN: base = bs->churn; break;
    case LY_TB_LOYALTY: base = bs->loyalty; break;
    }
    if (base < 0) return false;
    *out = base + b->offset;
    return true;
}

static bool inRange(int64_t x, const ly_trig_bound *lo, const ly_trig_bound *hi,
                    const bounds *bs)
{
    int64_t v;
    if (lo->set && (!boundValue(lo, bs, &v) || x < v)) return false;
    if (hi->set && (!boundValue(hi, bs, &v) || x >= v)) return false;
    return true;
}

static ly_err loadLots(runCtx *rc, cust *c, ly_arena *a, ly_error *err)
{
    if (c->lots) return LY_OK;
    TRY(ly_db_lots_open(rc->db, c->c.id, a, &c->lots, &c->n_lots, err));
    if (!c->lots) c->lots = ly_arena_alloc(a, 1); /* loaded, none */
    return c->lots ? LY_OK : oom(err);
}

/* Active points expiring within days, and the earliest such expiry. */
static ly_points expiring(const runCtx *rc, const cust *c, int64_t days, ly_time *first)
{
    ly_points sum = 0;
    *first = 0;
    ly_time limit = rc->now + days * DAY;
    for (size_t i = 0; i < c->n_lots; i++) {
        const ly_lot *l = &c->lots[i];
        if (l->state != LY_LOT_ACTIVE || l->expires_at <= rc->now || l->expires_at > limit)
            continue;
        sum += l->remaining;
        if (!*first || l->expires_at < *first) *first = l->expires_at;
    }
    return sum;
}

/* The attributes as the rules see them, flattened once per customer and only when some
 * condition asks (the profile's JSON is already loaded with the customer). */
static ly_err loadAttrs(cust *c, ly_arena *a, ly_error *err)
{
    if (c->attrs_loaded) return LY_OK;
    ly_fact *f;
    TRY(ly_service_attribute_facts(c->c.attributes, a, &f, &c->n_attrs, err));
    c->attrs = f;
    c->attrs_loaded = true;
    return LY_OK;
}

static ly_err loadOffers(runCtx *rc, cust *c, ly_arena *a, ly_error *err)
{
    if (c->offers_loaded || !rc->model) return LY_OK;
    c->offers_loaded = true;
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)c->c.id);
    ly_offer *o = NULL;
    size_t n = 0;
    /* The program's offers preferences reorder and drop offers (offers_prefs.c): ask for
     * more candidates then. */
    TRY(ly_offers_for_key(rc->model, key, rc->now / DAY, rc->p->offers ? 100 : 20, a, &o, &n,
                          err));
    if (rc->p->offers && n) {
        TRY(loadAttrs(c, a, err));
        TRY(ly_offers_apply_preferences(rc->p->offers, c->attrs, c->n_attrs, a, o, &n, 20, err));
    }
    c->offers = o;
    c->n_offers = n;
    return LY_OK;
}

/* Days from the local day of now to the customer's next birthday (0: today), or -1. */
static int64_t daysToBirthday(const runCtx *rc, const cust *c)
{
    int64_t born;
    if (!c->c.birth_date || !ly_date_parse(c->c.birth_date, &born)) return -1;
    int by, y;
    unsigned bm, bd, m, d;
    ly_civil_from_days(born, &by, &bm, &bd);
    int64_t today = localDay(rc->cal, rc->now);
    ly_civil_from_days(today, &y, &m, &d);
    for (int k = 0; k < 2; k++) {
        int yy = y + k;
        unsigned dd = bd;
        bool leap = (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0;
        if (bm == 2 && bd == 29 && !leap) dd = 28; /* a leap-day birthday: 28 February */
        int64_t day = ly_days_from_civil(yy, bm, dd);
        if (day >= today) return day - today;
    }
    return -1;
}

/* Whether what the customer misses for the next tier (the tiers' own progress, over the
 * current qualification period) is within the audience's spend and receipts, and not
 * nothing (a customer who already qualifies is upgraded by the tiers, not reminded). */
static ly_err closeToNextTier(runCtx *rc, cust *c, const ly_trig_audience *au, ly_arena *a,
                              bool *out, ly_error *err)
{
    *out = false;
    const ly_tiers *t = rc->p->tiers;
    long cur = t && c->tier ? ly_tiers_find(t, c->tier) : -1;
    if (cur < 0) return LY_OK;
    int64_t today = ly_local_day(rc->cal, rc->now);
    ly_time from = ly_local_day_start(rc->cal, rc->now, ly_tiers_lookback(t, today));
    ly_purchase *ps;
    size_t n;
    TRY(ly_db_purchases(rc->db, c->c.id, from, a, &ps, &n, err));
    ly_tier_purchase *tp = n ? ly_arena_alloc(a, n * sizeof *tp) : NULL;
    if (n && !tp) return oom(err);
    for (size_t i = 0; i < n; i++)
        tp[i] = (ly_tier_purchase){ly_local_day(rc->cal, ps[i].time), ps[i].spend, ps[i].counts};
    ly_tier_progress pr;
    ly_tiers_progress(t, (size_t)cur, tp, n, today, &pr);
    if (!pr.has_next || (pr.spend_more <= 0 && pr.receipts_more <= 0)) return LY_OK;
    if (au->close_spend >= 0 && pr.spend_more > au->close_spend) return LY_OK;
    if (au->close_receipts >= 0 && pr.receipts_more > au->close_receipts) return LY_OK;
    *out = true;
    return LY_OK;
}

/* Whether the customer is in the audience as of now. */
static ly_err matches(runCtx *rc, cust *c, const ly_trig_audience *au, ly_arena *a, bool *out,
                      ly_error *err)
{
    *out = false;
    if (au->rfm_cells.n && !(c->has_an && ly_strset_has(&au->rfm_cells, c->an.rfm_cell)))
        return LY_OK;
    if (au->r_levels && !(c->r_level && (au->r_levels & (1u << c->r_level)))) return LY_OK;
    if (au->segments.n && !(c->has_an && ly_strset_has(&au->segments, c->an.segment)))
        return LY_OK;
    if (au->statuses.n && !(c->has_an && ly_strset_has(&au->statuses, c->an.status)))
        return LY_OK;
    if (au->loyalty.n && !(c->has_an && ly_strset_has(&au->loyalty, c->an.loyalty)))
        return LY_OK;
    if (au->tiers.n && !(c->tier && ly_strset_has(&au->tiers, c->tier))) return LY_OK;
    for (size_t i = 0; i < au->n_facts; i++) {
        const char *v = factOf(c, au->facts[i].name);
        if (au->facts[i].absent ? v != NULL : !(v && ly_strset_has(&au->facts[i].values, v)))
            return LY_OK;
    }
    if (au->n_attributes) { /* the rules' matcher on the profile's attributes */
        TRY(loadAttrs(c, a, err));
        if (!ly_fact_tests_hold(au->attributes, au->n_attributes, "attributes.", c->attrs,
                                c->n_attrs, NULL, 0))
            return LY_OK;
    }
    if (au->days_from.set || au->days_below.set) {
        if (!c->deals) return LY_OK;
        int64_t days = localDay(rc->cal, rc->now) - localDay(rc->cal, c->last_deal);
        if (!inRange(days, &au->days_from, &au->days_below, &rc->b)) return LY_OK;
    }
    if ((au->deals_min.set || au->deals_below.set) &&
        !inRange(c->deals, &au->deals_min, &au->deals_below, &rc->b))
        return LY_OK;
    if (au->first_deal_days) {
        if (c->deals != 1) return LY_OK;
        if (localDay(rc->cal, rc->now) - localDay(rc->cal, c->first_deal) < au->first_deal_days)
            return LY_OK;
    }
    if (au->expiring_days) {
        TRY(loadLots(rc, c, a, err));
        ly_time first;
        if (expiring(rc, c, au->expiring_days, &first) < au->expiring_min) return LY_OK;
    }
    if (au->birthday_days >= 0) {
        int64_t d = daysToBirthday(rc, c);
        if (d < 0 || d > au->birthday_days) return LY_OK;
    }
    if (au->new_category) {
        TRY(loadOffers(rc, c, a, err));
        bool any = false;
        for (size_t i = 0; i < c->n_offers; i++) any |= c->offers[i].kind == LY_OFFER_NEW_CATEGORY;
        if (!any) return LY_OK;
    }
    if (au->event_type) {
        int64_t n;
        TRY(ly_db_trigger_events(rc->db, c->c.id, au->event_type, rc->now - au->event_days * DAY,
                                 rc->now + 1, &n, err));
        if (!n) return LY_OK;
    }
    if (au->tier_change != LY_TTC_NONE) {
        int64_t up, down;
        TRY(ly_db_trigger_tier_changes(rc->db, c->c.id, rc->now - au->tier_change_days * DAY,
                                       rc->now + 1, &up, &down, err));
        bool ok = au->tier_change == LY_TTC_UPGRADE ? up > 0
                : au->tier_change == LY_TTC_DOWNGRADE ? down > 0 : up + down > 0;
        if (!ok) return LY_OK;
    }
    if (au->close_to_tier) {
        bool close;
        TRY(closeToNextTier(rc, c, au, a, &close, err));
        if (!close) return LY_OK;
    }
    *out = true;
    return LY_OK;
}

static ly_err loadCustomer(runCtx *rc, int64_t id, ly_arena *a, cust *c, ly_error *err)
{
    memset(c, 0, sizeof *c);
    TRY(ly_db_customer_get(rc->db, id, a, &c->c, err));
    ly_err e = ly_db_customer_analytics_get(rc->db, id, &c->an, err);
    if (e == LY_OK) c->has_an = true;
    else if (e != LY_ENOTFOUND) return e;
    ly_error_clear(err);
    if (c->has_an && c->an.rfm_cell[0] == 'R' && c->an.rfm_cell[1] >= '1' && c->an.rfm_cell[1] <= '3')
        c->r_level = c->an.rfm_cell[1] - '0';
    if (rc->p->tiers && rc->p->tiers->n_tiers) {
        ly_tier_state ts;
        e = ly_db_tier_get(rc->db, id, a, &ts, err);
        if (e == LY_OK) c->tier = ts.tier;
        else if (e == LY_ENOTFOUND) c->tier = rc->p->tiers->tiers[0].id;
        else return e;
        ly_error_clear(err);
        c->tier_name = c->tier;
        for (size_t i = 0; i < rc->p->tiers->n_tiers; i++)
            if (!strcmp(rc->p->tiers->tiers[i].id, c->tier) && rc->p->tiers->tiers[i].name)
                c->tier_name = rc->p->tiers->tiers[i].name;
    }
    TRY(ly_db_trigger_deals(rc->db, id, 0, rc->now, &c->deals, &c->first_deal, &c->last_deal,
                            err));
    TRY(ly_db_trigger_chains_of(rc->db, id, a, &c->chains, &c->n_chains, err));
    for (size_t i = 0; i < c->c.n_ids; i++) {
        if (c->c.ids[i].kind == LY_ID_PHONE && !c->phone) c->phone = c->c.ids[i].value;
        if (c->c.ids[i].kind == LY_ID_EMAIL && !c->email) c->email = c->c.ids[i].value;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Decisions
 * ------------------------------------------------------------------------------------- */

/* One thing to write: a chain's new state, and maybe a step reached with its message. */
typedef struct action {
    const ly_trigger_def *t;
    ly_trigger_chain chain;
    const char *end_reason;
    bool send;
    ly_trigger_send snd;
    bool message;
    ly_message msg;
    ly_trigger_assignment as;     /* put when as.trigger is set */
    ly_trigger_assignment pas;    /* the program-wide one, when pas.trigger is set */
    const ly_trig_offer *offer;
    const char *coupon_code;      /* COUPON: the code issued */
    uint8_t coupon_hash[32];
    char coupon_batch[128];
    ly_time flag_until;           /* BONUS */
    struct action *next;
} action;

typedef struct batch {
    action *head, *tail;
    runCtx *rc;
    ly_arena *a;
} batch;

static void push(batch *b, action *x)
{
    if (b->tail) b->tail->next = x;
    else b->head = x;
    b->tail = x;
}

static const ly_trigger_chain *chainOf(const cust *c, const char *trigger)
{
    for (size_t i = 0; i < c->n_chains; i++)
        if (!strcmp(c->chains[i].trigger, trigger)) return &c->chains[i];
    return NULL;
}

/* Over a frequency cap if one more step were reached at `at`? Held-out steps count too, so
 * a held-out customer is not given another trigger's message in its place. */
static ly_err capped(runCtx *rc, cust *c, ly_time at, bool *out, ly_error *err)
{
    const ly_triggers_conf *tc = rc->tc;
    *out = false;
    if (tc->per_day) {
        ly_time from = dayStart(rc->cal, at), to = rc->cal->day_end(rc->cal, at, 0);
        int64_t n;
        TRY(ly_db_trigger_sends_count(rc->db, c->c.id, from, to, &n, err));
        for (size_t i = 0; i < c->n_picked; i++) n += c->picked[i] >= from && c->picked[i] < to;
        if (n >= tc->per_day) {
            *out = true;
            return LY_OK;
        }
    }
    if (tc->per_week) {
        int wd = (int)(((localDay(rc->cal, at) + 3) % 7 + 7) % 7); /* 0 = Monday */
        ly_time from = rc->cal->day_end(rc->cal, at, -1 - wd);
        ly_time to = rc->cal->day_end(rc->cal, at, 6 - wd);
        int64_t n;
        TRY(ly_db_trigger_sends_count(rc->db, c->c.id, from, to, &n, err));
        for (size_t i = 0; i < c->n_picked; i++) n += c->picked[i] >= from && c->picked[i] < to;
        if (n >= tc->per_week) *out = true;
    }
    return LY_OK;
}

/* The first channel of the list for the customer that has consent and an address, and is
 * cheap enough for R1; NULL when none. */
static const ly_trig_channel *chooseChannel(const runCtx *rc, const cust *c,
                                            const ly_trigger_def *t, const ly_trig_step *st,
                                            const char **to, ly_arena *a)
{
    const ly_strset *list = st->channels.n ? &st->channels
                          : c->r_level && t->channels[c->r_level].n ? &t->channels[c->r_level]
                                                                    : &t->channels[0];
    for (size_t i = 0; i < list->n; i++) {
        ly_trig_medium m = LY_TM_SMS;
        if (!ly_trig_medium_parse(list->v[i], &m)) continue;
        const ly_trig_channel *ch = &rc->tc->channels[m];
        if (ch->consent >= 0 && c->c.consent[ch->consent].state != 1) continue;
        if (c->r_level == 1 && rc->tc->r1_max_cost >= 0 && ch->cost > rc->tc->r1_max_cost)
            continue;
        const char *addr = NULL;
        switch (m) {
        case LY_TM_EMAIL: addr = c->email; break;
        case LY_TM_PUSH: addr = ly_arena_printf(a, "customer:%lld", (long long)c->c.id); break;
        default: addr = c->phone; break;
        }
        if (!addr) continue;
        *to = addr;
        return ch;
    }
    return NULL;
}

/* ---- Templates and payloads ------------------------------------------------------------ */

typedef struct textBuf {
    char *p;
    size_t n, cap;
    bool oom;
} textBuf;

static void tbAdd(textBuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

typedef struct tmplVars {
    const char *names[12];
    const char *values[12];
    size_t n;
} tmplVars;

static void var(tmplVars *v, const char *name, const char *value)
{
    if (v->n < 12) {
        v->names[v->n] = name;
        v->values[v->n++] = value ? value : "";
    }
}

/* Replaces {{name}} with its value; an unknown name is left as written. malloc'd. */
static char *render(const char *tmpl, const tmplVars *v)
{
    textBuf b = {0};
    tbAdd(&b, "", 0);
    const char *s = tmpl;
    while (*s) {
        const char *open = strstr(s, "{{");
        if (!open) {
            tbAdd(&b, s, strlen(s));
            break;
        }
        tbAdd(&b, s, (size_t)(open - s));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            tbAdd(&b, open, strlen(open));
            break;
        }
        const char *k = open + 2;
        while (*k == ' ') k++;
        size_t kl = (size_t)(close - k);
        while (kl && k[kl - 1] == ' ') kl--;
        bool done = false;
        for (size_t i = 0; i < v->n && !done; i++)
            if (strlen(v->names[i]) == kl && !strncmp(v->names[i], k, kl)) {
                tbAdd(&b, v->values[i], strlen(v->values[i]));
                done = true;
            }
        if (!done) tbAdd(&b, open, (size_t)(close + 2 - open));
        s = close + 2;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static const char codeAlphabet[] = "ABCDEFGHJKMNPQRSTVWXYZ23456789";

/* The message of a treated step: the payload with the rendered text and its offer. */
static ly_err buildMessage(runCtx *rc, cust *c, action *x, const ly_trig_step *st,
                           const char *to, ly_arena *a, ly_error *err)
{
    const ly_trig_offer *of = &st->offer;
    char balance[32], expPts[32], expDate[16] = "", until[16] = "";
    snprintf(balance, sizeof balance, "%lld", (long long)c->c.account.available);
    TRY(loadLots(rc, c, a, err));
    ly_time firstExp;
    int64_t expDays = x->t->audience.expiring_days ? x->t->audience.expiring_days : 30;
    snprintf(expPts, sizeof expPts, "%lld", (long long)expiring(rc, c, expDays, &firstExp));
    if (firstExp) dateText(rc->cal, firstExp, expDate, sizeof expDate);

    json_t *offer = NULL, *items = NULL;
    textBuf offersText = {0};
    tbAdd(&offersText, "", 0);
    const char *combo = NULL;
    if (of->kind == LY_TO_RECOMMEND || x->t->audience.new_category) TRY(loadOffers(rc, c, a, err));
    switch (of->kind) {
    case LY_TO_COUPON: {
        const ly_coupon_campaign *cc = ly_rewards_coupon(rc->p->rewards, of->coupon);
        size_t plen = cc && cc->prefix ? strlen(cc->prefix) : 0;
        char *code = ly_arena_alloc(a, plen + 13);
        if (!code) return oom(err);
        if (plen) memcpy(code, cc->prefix, plen);
        for (int k = 0; k < 12; k++)
            code[plen + (size_t)k] = codeAlphabet[randombytes_uniform(sizeof codeAlphabet - 1)];
        code[plen + 12] = '\0';
        x->coupon_code = code;
        char text[128];
        int n = snprintf(text, sizeof text, "coupon:%s", code);
        ly_os_hash(text, (size_t)n, x->coupon_hash);
        snprintf(x->coupon_batch, sizeof x->coupon_batch, "trigger:%s:%lld:%lld:%lld",
                 x->t->id, (long long)c->c.id, (long long)x->chain.cycle,
                 (long long)x->snd.step);
        offer = json_pack("{s:s, s:s, s:s}", "type", "coupon", "campaign", of->coupon,
                          "code", code);
        break;
    }
    case LY_TO_BONUS:
        x->flag_until = x->snd.at + of->days * DAY;
        dateText(rc->cal, x->flag_until - 1, until, sizeof until);
        offer = json_pack("{s:s, s:s, s:s}", "type", "bonus", "flag", of->flag, "until", until);
        break;
    case LY_TO_COMBO: {
        combo = of->rule;
        for (size_t i = 0; i < rc->p->n_rules; i++)
            if (!strcmp(rc->p->rules[i].id, of->rule) && rc->p->rules[i].name)
                combo = rc->p->rules[i].name;
        offer = json_pack("{s:s, s:s, s:s}", "type", "combo", "rule", of->rule, "name", combo);
        break;
    }
    case LY_TO_RECOMMEND: {
        items = json_array();
        for (size_t i = 0; items && i < c->n_offers && (int64_t)i < of->count; i++) {
            const ly_offer *o = &c->offers[i];
            json_t *item = json_pack("{s:s, s:s, s:s, s:I}", "kind", ly_offer_kind_name(o->kind),
                                     "sku", o->sku, "name", o->name, "price",
                                     (json_int_t)o->price);
            /* Why this offer is there, as GET /v1/customers/{id}/offers says it. */
            json_t *pref = ly_offers_preference_json(o);
            if (item && pref) json_object_set_new(item, "preference", pref);
            else json_decref(pref);
            json_array_append_new(items, item);
            if (i) tbAdd(&offersText, ", ", 2);
            tbAdd(&offersText, o->name, strlen(o->name));
        }
        offer = json_pack("{s:s}", "type", "recommend");
        break;
    }
    case LY_TO_NONE: break;
    }
    if (of->kind != LY_TO_RECOMMEND && x->t->audience.new_category) {
        /* The new category the audience was found by, for {{offers}}. */
        for (size_t i = 0; i < c->n_offers; i++)
            if (c->offers[i].kind == LY_OFFER_NEW_CATEGORY) {
                tbAdd(&offersText, c->offers[i].name, strlen(c->offers[i].name));
                break;
            }
    }
    tmplVars v = {0};
    var(&v, "name", c->c.name);
    var(&v, "balance", balance);
    var(&v, "tier", c->tier_name);
    var(&v, "expiring_points", expPts);
    var(&v, "expiring_date", expDate);
    var(&v, "offers", offersText.oom ? "" : offersText.p);
    var(&v, "coupon", x->coupon_code);
    var(&v, "bonus_until", until);
    var(&v, "combo", combo);
    char *text = render(st->text, &v);
    char *subject = st->subject ? render(st->subject, &v) : NULL;
    free(offersText.p);
    json_t *pl = json_object();
    bool ok = pl && text && (!st->subject || subject);
    if (ok) {
        ok = !json_object_set_new(pl, "to", json_string(to)) &&
             !json_object_set_new(pl, "customer_id", json_integer(c->c.id)) &&
             !json_object_set_new(pl, "name", c->c.name ? json_string(c->c.name) : json_null()) &&
             !json_object_set_new(pl, "trigger", json_string(x->t->id)) &&
             !json_object_set_new(pl, "step", json_integer(x->snd.step)) &&
             !json_object_set_new(pl, "text", json_string(text));
        if (ok && subject) ok = !json_object_set_new(pl, "subject", json_string(subject));
        if (ok && offer) {
            ok = !json_object_set_new(pl, "offer", offer);
            offer = NULL;
        }
        if (ok && items) {
            ok = !json_object_set_new(pl, "offers", items);
            items = NULL;
        }
    }
    char *dumped = ok ? json_dumps(pl, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(pl);
    json_decref(offer);
    json_decref(items);
    free(text);
    free(subject);
    if (!dumped) return oom(err);
    x->msg.payload = ly_arena_strdup(a, dumped);
    free(dumped);
    return x->msg.payload ? LY_OK : oom(err);
}

/* The group of a customer entering trigger t: the program-wide hold-out, then the
 * trigger's own (recorded, or drawn now and recorded with the step). */
static ly_err groupFor(runCtx *rc, cust *c, const ly_trigger_def *t, action *x, ly_arena *a,
                       const char **group, ly_error *err)
{
    const ly_triggers_conf *tc = rc->tc;
    bool held;
    if (tc->program_holdout_bp > 0) {
        ly_err e = ly_db_trigger_assignment_get(rc->db, "*", c->c.id, &held, err);
        if (e == LY_ENOTFOUND) {
            char *hex = ly_arena_alloc(a, 17);
            if (!hex) return oom(err);
            int64_t bucket = ly_triggers_bucket(tc->seed, "*", c->c.id, hex);
            held = bucket < tc->program_holdout_bp;
            x->pas = (ly_trigger_assignment){"*", c->c.id, held, bucket, hex,
                                             tc->program_holdout_bp, tc->seed, rc->now};
        } else if (e != LY_OK) {
            return e;
        }
        ly_error_clear(err);
        if (held) {
            *group = "program_holdout";
            return LY_OK;
        }
    }
    ly_err e = ly_db_trigger_assignment_get(rc->db, t->id, c->c.id, &held, err);
    if (e == LY_ENOTFOUND) {
        char *hex = ly_arena_alloc(a, 17);
        if (!hex) return oom(err);
        int64_t bucket = ly_triggers_bucket(tc->seed, t->id, c->c.id, hex);
        held = bucket < t->holdout_bp;
        x->as = (ly_trigger_assignment){t->id, c->c.id, held, bucket, hex, t->holdout_bp,
                                        tc->seed, rc->now};
    } else if (e != LY_OK) {
        return e;
    }
    ly_error_clear(err);
    *group = held ? "holdout" : "treated";
    return LY_OK;
}

/* Steps reached so far in this run (max_per_run counts messages and held-out steps). */
static int64_t runSteps(const ly_triggers_run_result *r) { return r->steps; }

static ly_err decideCustomer(runCtx *rc, int64_t id, batch *b, ly_error *err)
{
    ly_arena *a = b->a;
    cust *c = ly_arena_alloc(a, sizeof *c);
    if (!c) return oom(err);
    ly_err e = loadCustomer(rc, id, a, c, err);
    if (e == LY_ENOTFOUND) { /* merged or gone meanwhile */
        ly_error_clear(err);
        return LY_OK;
    }
    TRY(e);
    rc->r->customers++;
    const ly_triggers_conf *tc = rc->tc;
    for (size_t ti = 0; ti < tc->n_triggers; ti++) {
        if (runSteps(rc->r) >= tc->max_per_run) {
            rc->r->limit_reached = 1;
            return LY_OK;
        }
        const ly_trigger_def *t = &tc->triggers[ti];
        const ly_trigger_chain *ch = chainOf(c, t->id);
        action *x = ly_arena_alloc(a, sizeof *x);
        if (!x) return oom(err);
        x->t = t;
        int64_t stepIx;
        if (ch && ch->open) {
            x->chain = *ch;
            int64_t since;
            /* A purchase since the chain began ends it. */
            TRY(ly_db_trigger_deals(rc->db, c->c.id, ch->entered_at, rc->now + 1, &since, NULL,
                                    NULL, err));
            if (since > 0) {
                x->chain.open = false;
                x->end_reason = "purchase";
                push(b, x);
                continue;
            }
            stepIx = ch->step + 1;
            if (stepIx >= (int64_t)t->n_steps) {
                x->chain.open = false;
                x->end_reason = "done";
                push(b, x);
                continue;
            }
            if (rc->now < ch->step_at + t->steps[stepIx].wait_days * DAY) continue;
            if (t->steps[stepIx].cond) {
                bool ok;
                TRY(matches(rc, c, t->steps[stepIx].cond, a, &ok, err));
                if (!ok) {
                    x->chain.open = false;
                    x->end_reason = "condition";
                    push(b, x);
                    continue;
                }
            }
        } else {
            if (ch && rc->now < ch->entered_at + t->reenter_days * DAY) continue;
            bool ok;
            TRY(matches(rc, c, &t->audience, a, &ok, err));
            if (!ok) continue;
            stepIx = 0;
            x->chain = (ly_trigger_chain){.trigger = t->id, .customer_id = c->c.id,
                                          .cycle = ch ? ch->cycle + 1 : 1, .open = true};
        }
        const ly_trig_step *st = &t->steps[stepIx];
        /* Consent and an address first: a customer who cannot be reached is not in the
         * experiment at all (the hold-out is drawn among reachable customers only). */
        const char *to = NULL;
        const ly_trig_channel *chn = chooseChannel(rc, c, t, st, &to, a);
        if (!chn) {
            rc->r->no_channel++;
            continue;
        }
        ly_time at = afterQuiet(tc, rc->cal, rc->now);
        bool over;
        TRY(capped(rc, c, at, &over, err));
        if (over) {
            rc->r->capped++;
            continue;
        }
        const char *group = "treated";
        if (stepIx == 0) TRY(groupFor(rc, c, t, x, a, &group, err));
        else group = x->chain.group;
        if (stepIx == 0) {
            x->chain.group = group;
            x->chain.entered_at = at;
            rc->r->entered++;
        }
        x->chain.step = stepIx;
        x->chain.step_at = at;
        if (stepIx + 1 == (int64_t)t->n_steps) {
            x->chain.open = false;
            x->end_reason = "done";
            rc->r->ended_done++;
        }
        bool treated = !strcmp(group, "treated");
        const char *touchpoint = ly_trig_touchpoint(st, chn);
        x->send = true;
        x->snd = (ly_trigger_send){.trigger = t->id, .customer_id = c->c.id,
                                   .cycle = x->chain.cycle, .step = stepIx, .group = group,
                                   .at = at, .channel = chn->delivery,
                                   .cost = treated ? chn->cost : 0,
                                   .offer = st->offer.kind == LY_TO_NONE ? NULL
                                          : st->offer.kind == LY_TO_COUPON ? "coupon"
                                          : st->offer.kind == LY_TO_BONUS ? "bonus"
                                          : st->offer.kind == LY_TO_COMBO ? "combo" : "recommend",
                                   .reward_cost = treated ? st->offer.cost : 0,
                                   .touchpoint = touchpoint};
        if (c->n_picked < sizeof c->picked / sizeof c->picked[0]) c->picked[c->n_picked++] = at;
        rc->r->steps++;
        if (treated) {
            x->message = true;
            x->offer = &st->offer;
            x->msg = (ly_message){.trigger = t->id, .customer_id = c->c.id,
                                  .step = (x->chain.cycle - 1) * 100 + stepIx,
                                  .channel = chn->delivery, .created_at = rc->now,
                                  .not_before = at > rc->now ? at : 0,
                                  .touchpoint = touchpoint};
            TRY(buildMessage(rc, c, x, st, to, a, err));
        }
        push(b, x);
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Writing a batch
 * ------------------------------------------------------------------------------------- */

static ly_err writeBatch(ly_db *db, void *ctx, ly_error *err)
{
    batch *b = ctx;
    runCtx *rc = b->rc;
    for (action *x = b->head; x; x = x->next) {
        if (x->pas.trigger) TRY(ly_db_trigger_assignment_put(db, &x->pas, err));
        if (x->as.trigger) TRY(ly_db_trigger_assignment_put(db, &x->as, err));
        TRY(ly_db_trigger_chain_put(db, &x->chain, x->end_reason, rc->now, err));
        if (!x->send) continue;
        bool created;
        TRY(ly_db_trigger_send_put(db, &x->snd, &created, err));
        if (!created || !x->message) continue;
        bool newMsg;
        TRY(ly_db_outbox_enqueue(db, &x->msg, NULL, &newMsg, err));
        TRY(ly_db_trigger_send_message(db, &x->snd, x->msg.id, err));
        if (!newMsg) continue;
        if (x->offer->kind == LY_TO_COUPON) {
            TRY(ly_db_coupon_batch_insert(db, x->offer->coupon, x->coupon_batch, 1, rc->now, err));
            TRY(ly_db_coupon_code_insert(db, x->coupon_hash, x->offer->coupon, x->coupon_batch,
                                         rc->now, err));
        } else if (x->offer->kind == LY_TO_BONUS) {
            TRY(ly_db_trigger_flag_set(db, x->msg.customer_id, x->offer->flag, x->t->id,
                                       x->snd.at, x->flag_until, err));
        }
    }
    return LY_OK;
}

static void countBatch(const batch *b, ly_triggers_run_result *r)
{
    for (const action *x = b->head; x; x = x->next) {
        if (x->end_reason && !x->send) {
            if (!strcmp(x->end_reason, "purchase")) r->ended_purchase++;
            else if (!strcmp(x->end_reason, "condition")) r->ended_condition++;
            else r->ended_done++;
        }
        if (!x->send) continue;
        if (!strcmp(x->snd.group, "holdout")) r->held_out++;
        else if (!strcmp(x->snd.group, "program_holdout")) r->program_held_out++;
        else {
            r->messages++;
            if (x->msg.not_before) r->deferred++;
            if (x->offer->kind == LY_TO_COUPON) r->coupons++;
            if (x->offer->kind == LY_TO_BONUS) r->bonuses++;
            if (x->offer->kind == LY_TO_RECOMMEND) r->recommendations++;
        }
    }
}

static bool needsModel(const ly_triggers_conf *tc)
{
    for (size_t i = 0; i < tc->n_triggers; i++) {
        const ly_trigger_def *t = &tc->triggers[i];
        if (t->audience.new_category) return true;
        for (size_t k = 0; k < t->n_steps; k++)
            if (t->steps[k].offer.kind == LY_TO_RECOMMEND ||
                (t->steps[k].cond && t->steps[k].cond->new_category))
                return true;
    }
    return false;
}

ly_err ly_triggers_run(ly_store *s, const ly_program *p, const ly_calendar *cal,
                       const ly_triggers_run_options *o, ly_triggers_run_result *r,
                       ly_error *err)
{
    memset(r, 0, sizeof *r);
    const ly_triggers_conf *tc = p->triggers;
    if (!tc || !tc->n_triggers)
        return ly_error_set(err, LY_EINVAL, "no_triggers", "triggers",
                            "the program file has no triggers");
    if (o->now <= 0)
        return ly_error_set(err, LY_EINVAL, "invalid_time", "now", "the run needs its instant");
    if (sodium_init() < 0)
        return ly_error_set(err, LY_EINTERNAL, "sodium_init", NULL, "libsodium failed to start");
    runCtx rc = {.s = s, .p = p, .tc = tc, .cal = cal, .now = o->now, .r = r,
                 .b = {-1, -1, -1}, .model = o->offers};
    rc.db = ly_store_reader(s, err);
    if (!rc.db) return LY_EIO;
    ly_analytics_run run;
    ly_err e = ly_db_analytics_run_latest(rc.db, &run, err);
    if (e == LY_OK) rc.b = (bounds){run.sleep_days, run.churn_days, run.loyalty_deals};
    else if (e != LY_ENOTFOUND) return e;
    ly_error_clear(err);
    ly_offers_model *built = NULL;
    if (!rc.model && needsModel(tc)) {
        ly_offers_options oo;
        ly_offers_options_default(&oo);
        oo.as_of_set = true;
        oo.as_of_day = o->now / DAY + 1;
        ly_source src = {0};
        e = ly_store_source_open(s, &src, err);
        if (e == LY_OK) {
            e = ly_offers_model_build(&src, &oo, &built, err);
            src.close(src.ctx);
        }
        if (e != LY_OK) return e;
        rc.model = built;
    }
    size_t per = o->batch ? o->batch : 500;
    int64_t after = 0;
    e = LY_OK;
    for (;;) {
        ly_arena a = {0};
        int64_t *ids;
        size_t n;
        e = ly_db_trigger_customers(rc.db, after, per, &a, &ids, &n, err);
        if (e != LY_OK || n == 0) {
            ly_arena_free(&a);
            break;
        }
        batch b = {.rc = &rc, .a = &a};
        for (size_t i = 0; i < n && e == LY_OK && !r->limit_reached; i++)
            e = decideCustomer(&rc, ids[i], &b, err);
        after = ids[n - 1];
        if (e == LY_OK && b.head && !o->dry_run) e = ly_store_write(s, writeBatch, &b, err);
        if (e == LY_OK) countBatch(&b, r);
        ly_arena_free(&a);
        if (e != LY_OK || r->limit_reached) break;
    }
    ly_offers_model_free(built);
    if (e == LY_OK && !o->dry_run) {
        atomic_fetch_add(&mRuns, 1);
        atomic_fetch_add(&mSteps, (uint64_t)r->steps);
        atomic_fetch_add(&mMessages, (uint64_t)r->messages);
        atomic_fetch_add(&mHeldOut, (uint64_t)r->held_out);
        atomic_fetch_add(&mProgramHeldOut, (uint64_t)r->program_held_out);
        atomic_fetch_add(&mCapped, (uint64_t)r->capped);
        atomic_fetch_add(&mNoChannel, (uint64_t)r->no_channel);
        atomic_fetch_add(&mDeferred, (uint64_t)r->deferred);
    }
    return e;
}

/* The run counters part of /metrics; triggers_report.c adds the conversion figures. */
char *ly__triggers_run_metrics(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    fprintf(f,
            "# HELP loyal_trigger_runs_total Trigger runs finished by this process.\n"
            "# TYPE loyal_trigger_runs_total counter\nloyal_trigger_runs_total %llu\n"
            "# HELP loyal_trigger_steps_total Trigger steps reached, by group.\n"
            "# TYPE loyal_trigger_steps_total counter\n"
            "loyal_trigger_steps_total{group=\"treated\"} %llu\n"
            "loyal_trigger_steps_total{group=\"holdout\"} %llu\n"
            "loyal_trigger_steps_total{group=\"program_holdout\"} %llu\n"
            "# HELP loyal_trigger_suppressed_total Trigger steps due but not taken, by reason.\n"
            "# TYPE loyal_trigger_suppressed_total counter\n"
            "loyal_trigger_suppressed_total{reason=\"frequency_cap\"} %llu\n"
            "loyal_trigger_suppressed_total{reason=\"no_channel\"} %llu\n"
            "# HELP loyal_trigger_deferred_total Messages held to the end of quiet hours.\n"
            "# TYPE loyal_trigger_deferred_total counter\nloyal_trigger_deferred_total %llu\n",
            (unsigned long long)mRuns, (unsigned long long)mMessages,
            (unsigned long long)mHeldOut, (unsigned long long)mProgramHeldOut,
            (unsigned long long)mCapped, (unsigned long long)mNoChannel,
            (unsigned long long)mDeferred);
    (void)mSteps;
    fclose(f);
    return out;
}
