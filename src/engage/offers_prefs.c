/*
 * offers_prefs.c - the program's offers preferences applied to one customer's personal
 * offers (engage.h, "Preferences"; docs/offers.md): what the customer declared (questionnaire
 * answers and other profile attributes) raises matching offers or leaves them out. The
 * attribute tests are the rules' (ly_fact_tests_hold), the line sets the rules' selector.
 */
#include "engage/engage.h"
#include "program/offers.h"
#include "service/service.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define CANDIDATES 100 /* what the model is asked for when preferences may reorder or drop */

/* Whether a preference's line sets name the offer's SKU, category or brand. */
static bool names(const ly_offer_pref *pf, const ly_offer *o)
{
    ly_line l = {.sku = o->sku, .category = o->category, .brand = o->brand};
    return ly_selector_names(&pf->lines, &l);
}

static int cmpOffer(const void *pa, const void *pb)
{
    const ly_offer *x = pa, *y = pb;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->kind != y->kind) return x->kind < y->kind ? -1 : 1;
    return strcmp(x->sku ? x->sku : "", y->sku ? y->sku : "");
}

ly_err ly_offers_apply_preferences(const struct ly_offers_conf *prefs, const ly_fact *facts,
                                   size_t n_facts, ly_arena *a, ly_offer *offers, size_t *n,
                                   size_t k, ly_error *err)
{
    if (!prefs || !prefs->n_preferences || !*n) {
        if (*n > k) *n = k;
        return LY_OK;
    }
    /* Which preferences hold for this customer: decided once, not per offer. */
    bool *holds = ly_arena_alloc(a, prefs->n_preferences * sizeof *holds);
    if (!holds) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    bool any = false;
    for (size_t i = 0; i < prefs->n_preferences; i++) {
        const ly_offer_pref *pf = &prefs->preferences[i];
        holds[i] = ly_fact_tests_hold(pf->attributes, pf->n_attributes, "attributes.", facts,
                                      n_facts, NULL, 0);
        any |= holds[i];
    }
    if (!any) {
        if (*n > k) *n = k;
        return LY_OK;
    }
    size_t kept = 0;
    for (size_t j = 0; j < *n; j++) {
        ly_offer o = offers[j];
        bool drop = false;
        const ly_offer_pref *boost = NULL;
        for (size_t i = 0; i < prefs->n_preferences && !drop; i++) {
            const ly_offer_pref *pf = &prefs->preferences[i];
            if (!holds[i] || !names(pf, &o)) continue;
            if (pf->exclude) drop = true;
            else if (!boost) boost = pf;
        }
        if (drop) continue;
        if (boost) {
            const ly_fact_test *t = &boost->attributes[0];
            char key[160];
            snprintf(key, sizeof key, "attributes.%s", t->name);
            o.preference = boost;
            o.pref_attribute = t->name;
            o.pref_value = t->absent ? NULL : ly_fact_get(facts, n_facts, key);
            o.score_before = o.score;
            o.score = fmin(1.0, o.score * (double)(100 + boost->boost_percent) / 100.0);
            const char *said = o.pref_value ? ly_arena_printf(a, "%s = %s", t->name, o.pref_value)
                                            : ly_arena_printf(a, "no %s", t->name);
            const char *reason = said ? ly_arena_printf(a, "%s (raised %" PRId64 "%% for what you told us: %s)",
                                                        o.reason ? o.reason : "", boost->boost_percent, said)
                                      : NULL;
            if (!reason) return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
            o.reason = reason;
        }
        offers[kept++] = o;
    }
    qsort(offers, kept, sizeof *offers, cmpOffer);
    *n = kept < k ? kept : k;
    return LY_OK;
}

ly_err ly_offers_for_customer_prefs(ly_store *s, const ly_offers_model *m, const ly_program *p,
                                    int64_t customer_id, size_t k, ly_arena *a, ly_offer **out,
                                    size_t *n, int64_t *customer_out, ly_error *err)
{
    if (!p || !p->offers)
        return ly_offers_for_customer(s, m, customer_id, k, a, out, n, customer_out, err);
    *out = NULL;
    *n = 0;
    if (k < 1 || k > CANDIDATES)
        return ly_error_set(err, LY_EINVAL, "invalid_limit", "limit", "limit must be 1..100");
    int64_t id = customer_id;
    TRY(ly_offers_for_customer(s, m, customer_id, CANDIDATES, a, out, n, &id, err));
    if (customer_out) *customer_out = id;
    if (!*n) return LY_OK;
    ly_db *db = ly_store_reader(s, err);
    if (!db) return LY_EIO;
    ly_customer c;
    TRY(ly_db_customer_get(db, id, a, &c, err));
    ly_fact *facts;
    size_t nf;
    TRY(ly_service_attribute_facts(c.attributes, a, &facts, &nf, err));
    return ly_offers_apply_preferences(p->offers, facts, nf, a, *out, n, k, err);
}

json_t *ly_offers_preference_json(const ly_offer *o)
{
    const ly_offer_pref *pf = o->preference;
    if (!pf) return NULL;
    json_t *j = json_object();
    if (!j) return NULL;
    json_object_set_new(j, "index", json_integer((json_int_t)pf->index));
    json_object_set_new(j, "id", pf->id ? json_string(pf->id) : json_null());
    json_object_set_new(j, "attribute", json_string(o->pref_attribute));
    json_object_set_new(j, "value", o->pref_value ? json_string(o->pref_value) : json_null());
    json_object_set_new(j, "boost_percent", json_integer(pf->boost_percent));
    json_object_set_new(j, "score_before",
                        isfinite(o->score_before) ? json_real(round(o->score_before * 10000) / 10000)
                                                  : json_null());
    return j;
}
