/*
 * tiers.c - tiers and the club in the service: what the rules learn (the facts "tier" and
 * "club"), the tier's earn rate, the upgrade at confirm, the daily re-evaluation
 * (downgrades at period end, the club by rule), invitations, and the profile's view with
 * the progress to the next tier. The arithmetic is the core's (core/tiers.c).
 */
#include "service/service_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)
#define MAINTAIN_BATCH 200

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* The customer's purchases the evaluation on today may look at, by local day. */
static ly_err loadPurchases(const ly_service *s, ly_db *db, const ly_tiers *t, int64_t customer_id,
                            ly_time now, ly_arena *a, ly_tier_purchase **out, size_t *n,
                            ly_error *err)
{
    int64_t today = ly_local_day(&s->cal, now);
    ly_time from = ly_local_day_start(&s->cal, now, ly_tiers_lookback(t, today));
    ly_purchase *rows;
    size_t k;
    TRY(ly_db_purchases(db, customer_id, from, a, &rows, &k, err));
    *out = ly_arena_alloc(a, (k ? k : 1) * sizeof **out);
    if (!*out) return oom(err);
    for (size_t i = 0; i < k; i++)
        (*out)[i] = (ly_tier_purchase){ly_local_day(&s->cal, rows[i].time), rows[i].spend, rows[i].counts};
    *n = k;
    return LY_OK;
}

/* The customer's tier: index (0 without a row, or when the program no longer has the tier
 * stored), since, and whether a row exists. */
static ly_err tierOf(ly_db *db, const ly_tiers *t, int64_t customer_id, ly_arena *a, size_t *idx,
                     ly_tier_state *st, bool *has_row, ly_error *err)
{
    ly_err rc = ly_db_tier_get(db, customer_id, a, st, err);
    *idx = 0;
    *has_row = rc == LY_OK;
    if (rc == LY_ENOTFOUND) {
        ly_error_clear(err);
        st->tier = t->n_tiers ? t->tiers[0].id : "";
        st->since = 0;
        return LY_OK;
    }
    TRY(rc);
    long k = ly_tiers_find(t, st->tier);
    if (k > 0) *idx = (size_t)k;
    return LY_OK;
}

ly_err ly__tiers_facts(ly_service *s, ly_db *db, const ly_program *prog, int64_t customer_id,
                       ly_arena *a, ly_fact *facts, size_t *n, size_t max, ly_error *err)
{
    (void)s;
    const ly_tiers *t = prog->tiers;
    if (!t) return LY_OK;
    if (t->n_tiers && *n < max) {
        size_t idx;
        ly_tier_state st;
        bool row;
        TRY(tierOf(db, t, customer_id, a, &idx, &st, &row, err));
        facts[(*n)++] = (ly_fact){"tier", t->tiers[idx].id};
    }
    if (t->has_club && *n < max) {
        ly_club_member m;
        ly_err rc = ly_db_club_get(db, customer_id, a, &m, err);
        if (rc == LY_OK) facts[(*n)++] = (ly_fact){"club", "member"};
        else if (rc != LY_ENOTFOUND) return rc;
        ly_error_clear(err);
    }
    return LY_OK;
}

ly_err ly__tiers_earn_rate(ly_db *db, const ly_program *prog, int64_t customer_id,
                           int64_t *rate_bp, ly_error *err)
{
    *rate_bp = prog->earn_rate_bp;
    const ly_tiers *t = prog->tiers;
    if (!t || !t->n_tiers) return LY_OK;
    ly_arena a = {0};
    size_t idx;
    ly_tier_state st;
    bool row;
    ly_err rc = tierOf(db, t, customer_id, &a, &idx, &st, &row, err);
    if (rc == LY_OK) *rate_bp = ly_tier_earn_rate(t, idx, prog->earn_rate_bp);
    ly_arena_free(&a);
    return rc;
}

/* Evaluates one customer on today: the tier (downgrades only when allow_downgrade) and the
 * club by rule (leaving only when allow_downgrade). Counts into res (may be NULL). */
static ly_err evaluate(ly_service *s, ly_db *db, const ly_program *prog, int64_t customer_id,
                       ly_time now, bool allow_downgrade, ly_maintain_result *res, ly_error *err)
{
    const ly_tiers *t = prog->tiers;
    ly_arena a = {0};
    int64_t today = ly_local_day(&s->cal, now);
    size_t idx = 0;
    ly_tier_state st = {0};
    bool row = false;
    ly_err rc = t->n_tiers ? tierOf(db, t, customer_id, &a, &idx, &st, &row, err) : LY_OK;
    /* A stored tier the program no longer has is corrected like a change. */
    bool unknown = rc == LY_OK && row && ly_tiers_find(t, st.tier) < 0;
    bool club_rule = t->has_club && t->club.by_rule;
    /* At a confirm nothing can change for a customer already in the top tier when no club
     * rule is to be checked: spare the writer the purchases' query. */
    if (rc == LY_OK && !allow_downgrade && !unknown && !club_rule && idx + 1 >= t->n_tiers) {
        ly_arena_free(&a);
        return LY_OK;
    }
    ly_tier_purchase *p = NULL;
    size_t n = 0;
    if (rc == LY_OK) rc = loadPurchases(s, db, t, customer_id, now, &a, &p, &n, err);
    if (rc == LY_OK && t->n_tiers) {
        /* Without a row the customer is in the first tier since enrolment; it is never
         * lost, so since only matters for rows. */
        size_t next = ly_tiers_decide(t, idx, ly_local_day(&s->cal, st.since), p, n, today,
                                      allow_downgrade);
        if (next != idx || unknown) {
            ly_tier_state to = {t->tiers[next].id, now};
            const char *change = next > idx ? "upgrade" : "downgrade";
            rc = ly_db_tier_set(db, customer_id, st.tier, &to, change, prog->version, err);
            if (rc == LY_OK && res) {
                if (next > idx) res->tiers_upgraded++;
                else res->tiers_downgraded++;
            }
            idx = next;
        }
    }
    if (rc == LY_OK && club_rule) {
        ly_club_member m;
        rc = ly_db_club_get(db, customer_id, &a, &m, err);
        bool member = rc == LY_OK;
        if (rc == LY_ENOTFOUND) {
            ly_error_clear(err);
            rc = LY_OK;
        }
        bool qualifies = ly_club_qualifies(t, idx, p, n, today);
        if (rc == LY_OK && !member && qualifies) {
            ly_club_member j = {customer_id, "rule", now, NULL};
            rc = ly_db_club_join(db, &j, err);
            if (rc == LY_OK && res) res->club_joined++;
        } else if (rc == LY_OK && member && allow_downgrade && !qualifies &&
                   strcmp(m.via, "rule") == 0) {
            rc = ly_db_club_leave(db, customer_id, now, err);
            if (rc == LY_OK && res) res->club_left++;
        }
    }
    ly_arena_free(&a);
    return rc;
}

ly_err ly__tiers_after_confirm(ly_service *s, ly_db *db, const ly_program *prog,
                               int64_t customer_id, ly_time now, ly_error *err)
{
    if (!prog->tiers) return LY_OK;
    return evaluate(s, db, prog, customer_id, now, false, NULL, err);
}

ly_err ly__tiers_merged(ly_service *s, ly_db *db, const ly_program *prog, int64_t from,
                        int64_t into, ly_time now, ly_error *err)
{
    const ly_tiers *t = prog->tiers;
    if (!t) return LY_OK;
    ly_arena a = {0};
    ly_err rc = LY_OK;
    if (t->n_tiers) {
        size_t fi, ii;
        ly_tier_state fs, is;
        bool frow, irow;
        rc = tierOf(db, t, from, &a, &fi, &fs, &frow, err);
        if (rc == LY_OK) rc = tierOf(db, t, into, &a, &ii, &is, &irow, err);
        /* The person held the higher tier on one card: they keep it, with its since. */
        if (rc == LY_OK && frow && fi > ii) {
            ly_tier_state to = {t->tiers[fi].id, fs.since};
            rc = ly_db_tier_set(db, into, is.tier, &to, "upgrade", prog->version, err);
        }
    }
    if (rc == LY_OK && t->has_club) {
        ly_club_member fm, im;
        rc = ly_db_club_get(db, from, &a, &fm, err);
        bool fromMember = rc == LY_OK;
        if (rc == LY_ENOTFOUND) rc = LY_OK;
        if (rc == LY_OK && fromMember) {
            rc = ly_db_club_get(db, into, &a, &im, err);
            if (rc == LY_ENOTFOUND) {
                ly_club_member j = {into, fm.via, fm.since,
                                    ly_arena_printf(&a, "from merged customer %lld",
                                                    (long long)from)};
                rc = j.note ? ly_db_club_join(db, &j, err) : oom(err);
            }
            if (rc == LY_OK) rc = ly_db_club_leave(db, from, now, err);
        }
        if (rc == LY_OK) ly_error_clear(err);
    }
    ly_arena_free(&a);
    TRY(rc);
    return evaluate(s, db, prog, into, now, false, NULL, err);
}

/* ---------------------------------------------------------------------------------------
 * The daily evaluation
 * ------------------------------------------------------------------------------------- */

typedef struct evalJob {
    ly_service *s;
    const ly_program *prog;
    const int64_t *ids;
    size_t n;
    ly_time now;
    ly_maintain_result res;
} evalJob;

static ly_err runEval(ly_db *db, void *ctx, ly_error *err)
{
    evalJob *j = ctx;
    memset(&j->res, 0, sizeof j->res);
    for (size_t i = 0; i < j->n; i++)
        TRY(evaluate(j->s, db, j->prog, j->ids[i], j->now, true, &j->res, err));
    return LY_OK;
}

typedef enum evalSource { FROM_TIERS = 0, FROM_BUYERS, FROM_RULE_MEMBERS } evalSource;

/* Evaluates every customer of one source, in batches of one write job each. The buyers
 * are read in one query (a range of the receipts' time index; paging it would scan the
 * range again for every page); the others page by primary key. */
static ly_err evalAll(ly_service *s, const ly_program *prog, evalSource src, ly_time since,
                      ly_time now, ly_maintain_result *out, ly_error *err)
{
    int64_t after = 0;
    ly_arena buyers_mem = {0};
    int64_t *buyers = NULL;
    size_t n_buyers = 0, next_buyer = 0;
    if (src == FROM_BUYERS) {
        ly_db *db = ly_store_reader(s->store, err);
        if (!db) return LY_EIO;
        ly_err rc = ly_db_buyers_since(db, since, 0, SIZE_MAX / 2, &buyers_mem, &buyers, &n_buyers, err);
        if (rc != LY_OK) {
            ly_arena_free(&buyers_mem);
            return rc;
        }
    }
    for (;;) {
        ly_db *db = ly_store_reader(s->store, err);
        if (!db) {
            ly_arena_free(&buyers_mem);
            return LY_EIO;
        }
        ly_arena a = {0};
        int64_t *ids = NULL;
        size_t n = 0;
        ly_err rc = LY_OK;
        if (src == FROM_TIERS) {
            rc = ly_db_tier_customers(db, after, MAINTAIN_BATCH, &a, &ids, &n, err);
        } else if (src == FROM_BUYERS) {
            ids = buyers + next_buyer;
            n = n_buyers - next_buyer < MAINTAIN_BATCH ? n_buyers - next_buyer : MAINTAIN_BATCH;
            next_buyer += n;
        } else {
            ly_club_member *m;
            rc = ly_db_club_page(db, after, MAINTAIN_BATCH, true, &a, &m, &n, err);
            if (rc == LY_OK && n && !(ids = ly_arena_alloc(&a, n * sizeof *ids))) rc = oom(err);
            for (size_t i = 0; rc == LY_OK && i < n; i++) ids[i] = m[i].customer_id;
        }
        if (rc != LY_OK || n == 0) {
            ly_arena_free(&a);
            ly_arena_free(&buyers_mem);
            return rc;
        }
        evalJob j = {.s = s, .prog = prog, .ids = ids, .n = n, .now = now};
        rc = ly_store_write(s->store, runEval, &j, err);
        after = ids[n - 1];
        ly_arena_free(&a);
        if (rc != LY_OK) {
            ly_arena_free(&buyers_mem);
            return rc;
        }
        out->tiers_upgraded += j.res.tiers_upgraded;
        out->tiers_downgraded += j.res.tiers_downgraded;
        out->club_joined += j.res.club_joined;
        out->club_left += j.res.club_left;
        if (n < MAINTAIN_BATCH) {
            ly_arena_free(&buyers_mem);
            return LY_OK;
        }
    }
}

typedef struct markJob {
    int64_t day;
    ly_time now;
    const char *version;
} markJob;

static ly_err runMark(ly_db *db, void *ctx, ly_error *err)
{
    markJob *j = ctx;
    return ly_db_tier_day_mark(db, j->day, j->now, j->version, err);
}

ly_err ly__tiers_maintain(ly_service *s, ly_time now, ly_maintain_result *out, ly_error *err)
{
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_program *prog = &ref->p;
    const ly_tiers *t = prog->tiers;
    ly_err rc = LY_OK;
    int64_t today = ly_local_day(&s->cal, now);
    if (t) {
        ly_db *db = ly_store_reader(s->store, err);
        bool done = false;
        rc = db ? ly_db_tier_day_done(db, today, &done, err) : LY_EIO;
        if (rc == LY_OK && !done) {
            /* Those with a tier (downgrades), those who bought lately (upgrades the program
             * now grants, the club by rule), and the rule's members (who may leave). */
            ly_time since = ly_local_day_start(&s->cal, now, ly_tiers_lookback(t, today));
            rc = evalAll(s, prog, FROM_TIERS, since, now, out, err);
            if (rc == LY_OK) rc = evalAll(s, prog, FROM_BUYERS, since, now, out, err);
            if (rc == LY_OK && t->has_club && t->club.by_rule)
                rc = evalAll(s, prog, FROM_RULE_MEMBERS, since, now, out, err);
            markJob m = {today, now, prog->version};
            if (rc == LY_OK) rc = ly_store_write(s->store, runMark, &m, err);
            if (rc == LY_OK) out->tiers_evaluated = true;
        }
    }
    ly__program_release(s, ref);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The club by invitation
 * ------------------------------------------------------------------------------------- */

typedef struct clubJob {
    int64_t customer_id;
    const char *note;
    ly_time now;
    bool join;
    ly_arena *a;
    ly_club_member out;
} clubJob;

static ly_err runClub(ly_db *db, void *ctx, ly_error *err)
{
    clubJob *j = ctx;
    if (!j->join) return ly_db_club_leave(db, j->customer_id, j->now, err);
    ly_customer c;
    ly_err rc = ly_db_customer_get(db, j->customer_id, j->a, &c, err);
    if (rc == LY_ENOTFOUND)
        return ly_error_set(err, LY_ENOTFOUND, "customer_not_found", "customer_id",
                            "no customer with id %lld", (long long)j->customer_id);
    TRY(rc);
    if (c.merged_into)
        return ly_error_set(err, LY_EUNPROCESSABLE, "customer_merged", "customer_id",
                            "customer %lld was merged into %lld", (long long)c.id,
                            (long long)c.merged_into);
    j->out = (ly_club_member){j->customer_id, "invitation", j->now, j->note};
    return ly_db_club_join(db, &j->out, err);
}

ly_err ly_service_club_invite(ly_service *s, int64_t customer_id, const char *note, ly_time now,
                              ly_arena *a, ly_club_member *out, ly_error *err)
{
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_tiers *t = ref->p.tiers;
    bool open = t && t->has_club && t->club.invitations;
    ly__program_release(s, ref);
    if (!open)
        return ly_error_set(err, LY_EUNPROCESSABLE, "club_closed", NULL,
                            "the program has no club that takes invitations");
    clubJob j = {.customer_id = customer_id, .note = note, .now = now, .join = true, .a = a};
    TRY(ly_store_write(s->store, runClub, &j, err));
    *out = j.out;
    if (note && !(out->note = ly_arena_strdup(a, note))) return oom(err);
    return LY_OK;
}

ly_err ly_service_club_remove(ly_service *s, int64_t customer_id, ly_time now, ly_error *err)
{
    clubJob j = {.customer_id = customer_id, .now = now, .join = false};
    return ly_store_write(s->store, runClub, &j, err);
}

ly_err ly_service_club_members(ly_service *s, int64_t after, size_t limit, ly_arena *a,
                               ly_club_member **out, size_t *n, ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    return ly_db_club_page(db, after, limit, false, a, out, n, err);
}

ly_err ly_service_tier_history(ly_service *s, int64_t customer_id, size_t limit, ly_arena *a,
                               ly_tier_change **out, size_t *n, ly_error *err)
{
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    return ly_db_tier_history(db, customer_id, limit, a, out, n, err);
}

/* ---------------------------------------------------------------------------------------
 * The view on the profile
 * ------------------------------------------------------------------------------------- */

void ly_service_money_text(ly_money v, int minor_units, char *buf, size_t size)
{
    char plain[40];
    ly_decimal_format(v, minor_units, plain, sizeof plain);
    const char *p = plain;
    size_t o = 0;
    if (*p == '-' && o + 1 < size) buf[o++] = *p++;
    size_t int_len = strcspn(p, ".");
    for (size_t i = 0; i < int_len && o + 1 < size; i++) {
        if (i > 0 && (int_len - i) % 3 == 0 && o + 2 < size) buf[o++] = ',';
        buf[o++] = p[i];
    }
    for (const char *q = p + int_len; *q && o + 1 < size; q++) buf[o++] = *q;
    buf[o] = '\0';
}

static void dayText(int64_t day, char *buf, size_t size)
{
    ly_date_format(day, buf, size);
}

static ly_err copyBenefits(const ly_benefit *b, size_t n, ly_arena *a, ly_benefit_view **out,
                           size_t *n_out, ly_error *err)
{
    *out = ly_arena_alloc(a, (n ? n : 1) * sizeof **out);
    if (!*out) return oom(err);
    for (size_t i = 0; i < n; i++) {
        ly_benefit_view *v = &(*out)[i];
        v->id = ly_arena_strdup(a, b[i].id);
        v->name = ly_arena_strdup(a, b[i].name);
        v->text = b[i].text ? ly_arena_strdup(a, b[i].text) : NULL;
        v->rule = b[i].rule ? ly_arena_strdup(a, b[i].rule) : NULL;
        if (!v->id || !v->name || (b[i].text && !v->text) || (b[i].rule && !v->rule)) return oom(err);
    }
    *n_out = n;
    return LY_OK;
}

/* "spend 1,240.00 more and make 2 more purchases by 2027-03-01". */
static const char *progressText(const ly_tier_view *v, int minor_units, ly_arena *a)
{
    char spend[80] = "", count[64] = "", by[32] = "";
    if (v->spend_more > 0) {
        char m[40];
        ly_service_money_text(v->spend_more, minor_units, m, sizeof m);
        snprintf(spend, sizeof spend, "spend %s more", m);
    }
    if (v->receipts_more > 0)
        snprintf(count, sizeof count, "make %lld more purchase%s", (long long)v->receipts_more,
                 v->receipts_more == 1 ? "" : "s");
    if (v->by_day != LY_DAY_FOREVER) {
        char d[16];
        dayText(v->by_day, d, sizeof d);
        snprintf(by, sizeof by, " by %s", d);
    }
    const char *join = spend[0] && count[0] ? (v->need_all ? " and " : " or ") : "";
    return ly_arena_printf(a, "%s%s%s%s", spend, join, count, by);
}

ly_err ly_service_tier_view(ly_service *s, int64_t customer_id, ly_time now, ly_arena *a,
                            ly_tier_view *tier, ly_club_view *club, ly_error *err)
{
    memset(tier, 0, sizeof *tier);
    memset(club, 0, sizeof *club);
    ly_db *db = ly_store_reader(s->store, err);
    if (!db) return LY_EIO;
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_program *prog = &ref->p;
    const ly_tiers *t = prog->tiers;
    ly_err rc = LY_OK;
    if (!t) goto done;
    ly_tier_purchase *p;
    size_t n;
    if ((rc = loadPurchases(s, db, t, customer_id, now, a, &p, &n, err)) != LY_OK) goto done;
    int64_t today = ly_local_day(&s->cal, now);
    size_t idx = 0;
    if (t->n_tiers) {
        ly_tier_state st;
        bool row;
        if ((rc = tierOf(db, t, customer_id, a, &idx, &st, &row, err)) != LY_OK) goto done;
        const ly_tier *cur = &t->tiers[idx];
        tier->has_tiers = true;
        tier->id = ly_arena_strdup(a, cur->id);
        tier->name = ly_arena_strdup(a, cur->name);
        tier->since = st.since;
        if (!row && (rc = ly_db_customer_enrolled(db, customer_id, &tier->since, err)) != LY_OK)
            goto done; /* the first tier, since enrolment */
        tier->held_until_day = ly_tiers_held_until(t, idx, p, n, today, true,
                                                   ly_local_day(&s->cal, tier->since));
        tier->earn_rate_bp = ly_tier_earn_rate(t, idx, prog->earn_rate_bp);
        if ((rc = copyBenefits(cur->benefits, cur->n_benefits, a, &tier->benefits,
                               &tier->n_benefits, err)) != LY_OK)
            goto done;
        static const char *const names[] = {"rolling", "month", "quarter", "year"};
        tier->period = t->period == LY_TIER_ROLLING
                           ? ly_arena_printf(a, "rolling %d days", t->window_days)
                           : names[t->period];
        ly_tier_progress pr;
        ly_tiers_progress(t, idx, p, n, today, &pr);
        tier->period_first_day = pr.first_day;
        tier->period_last_day = t->period == LY_TIER_ROLLING ? today : pr.last_day;
        tier->figures = pr.figures;
        tier->has_next = pr.has_next;
        if (pr.has_next) {
            tier->next_id = ly_arena_strdup(a, t->tiers[pr.next].id);
            tier->next_name = ly_arena_strdup(a, t->tiers[pr.next].name);
            tier->spend_more = pr.spend_more;
            tier->receipts_more = pr.receipts_more;
            tier->need_all = pr.need_all;
            tier->by_day = pr.by_day;
            tier->progress = progressText(tier, prog->minor_units, a);
        }
        if (!tier->id || !tier->name || !tier->period ||
            (pr.has_next && (!tier->next_id || !tier->next_name || !tier->progress))) {
            rc = oom(err);
            goto done;
        }
    }
    if (t->has_club) {
        club->has_club = true;
        club->name = ly_arena_strdup(a, t->club.name);
        ly_club_member m;
        rc = ly_db_club_get(db, customer_id, a, &m, err);
        if (rc == LY_OK) {
            club->member = true;
            club->via = m.via;
            club->since = m.since;
            rc = copyBenefits(t->club.benefits, t->club.n_benefits, a, &club->benefits,
                              &club->n_benefits, err);
        } else if (rc == LY_ENOTFOUND) {
            ly_error_clear(err);
            rc = LY_OK;
        }
        if (rc == LY_OK && !club->name) rc = oom(err);
    }
done:
    ly__program_release(s, ref);
    return rc;
}
