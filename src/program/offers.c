/*
 * offers.c - reads the program file's "offers" section (its "preferences") into
 * ly_offers_conf (program/offers.h). Attribute tests and line sets are read by the rules'
 * own readers (ly__pf_fact_tests, ly__pf_selector), so their syntax and errors are the
 * rules'. Every error names its path ("offers.preferences[1].boost_percent").
 */
#include "program/offers.h"
#include "program/program_internal.h"

#include <stdio.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)
#define PREFS_MAX 100
#define TESTS_MAX 32
#define BOOST_MAX 1000

static ly_err parsePreference(json_t *o, const char *path, size_t index, ly_program *p,
                              ly_offer_pref *out, ly_error *err)
{
    static const char *const keys[] = {"id", "attributes", "skus", "categories", "brands",
                                       "boost_percent", "exclude", NULL};
    static const char *const sel[] = {"skus", "categories", "brands"};
    char kp[256];
    memset(out, 0, sizeof *out);
    out->index = index;
    TRY(ly__pf_need_object(o, path, err));
    TRY(ly__pf_only_keys(o, path, keys, err));
    json_t *x;
    if ((x = json_object_get(o, "id"))) {
        snprintf(kp, sizeof kp, "%s.id", path);
        TRY(ly__pf_text(x, kp, 64, p->mem, &out->id, err));
    }
    snprintf(kp, sizeof kp, "%s.attributes", path);
    x = json_object_get(o, "attributes");
    if (!x)
        return ly_error_set(err, LY_EINVAL, "missing_field", kp,
                            "is required: the answers the preference is for");
    TRY(ly__pf_fact_tests(x, kp, p, &out->attributes, &out->n_attributes, err));
    if (out->n_attributes < 1 || out->n_attributes > TESTS_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_value", kp, "must be a list of 1 to %d tests",
                            TESTS_MAX);

    /* The line sets through the rules' selector reader, on an object holding only them (so
     * its errors keep this preference's path). */
    json_t *lines = json_object();
    if (!lines) return ly__pf_oom(err);
    for (size_t i = 0; i < sizeof sel / sizeof sel[0]; i++)
        if ((x = json_object_get(o, sel[i]))) json_object_set(lines, sel[i], x);
    size_t given = json_object_size(lines);
    ly_err rc = ly__pf_selector(lines, path, false, p, &out->lines, err);
    json_decref(lines);
    TRY(rc);
    if (!given || (!out->lines.skus.n && !out->lines.categories.n && !out->lines.brands.n))
        return ly_error_set(err, LY_EINVAL, "missing_field", path,
                            "needs skus, categories or brands: the offers it is about");

    json_t *boost = json_object_get(o, "boost_percent"), *ex = json_object_get(o, "exclude");
    if ((boost != NULL) == (ex != NULL))
        return ly_error_set(err, LY_EINVAL, boost ? "invalid_value" : "missing_field", path,
                            "needs exactly one of boost_percent or exclude");
    if (boost) {
        snprintf(kp, sizeof kp, "%s.boost_percent", path);
        TRY(ly__pf_int(boost, kp, 1, BOOST_MAX, &out->boost_percent, err));
    } else {
        snprintf(kp, sizeof kp, "%s.exclude", path);
        if (!json_is_true(ex))
            return ly_error_set(err, LY_EINVAL, json_is_boolean(ex) ? "invalid_value"
                                                                    : "invalid_type",
                                kp, "must be true (leave it out to boost instead)");
        out->exclude = true;
    }
    return LY_OK;
}

ly_err ly__program_offers(json_t *section, ly_program *p, ly_error *err)
{
    static const char *const keys[] = {"preferences", NULL};
    if (!section) return LY_OK;
    TRY(ly__pf_need_object(section, "offers", err));
    TRY(ly__pf_only_keys(section, "offers", keys, err));
    json_t *list = json_object_get(section, "preferences");
    if (!list) return ly_error_set(err, LY_EINVAL, "missing_field", "offers.preferences",
                                   "is required");
    if (!json_is_array(list) || json_array_size(list) < 1 || json_array_size(list) > PREFS_MAX)
        return ly_error_set(err, LY_EINVAL, json_is_array(list) ? "invalid_value" : "invalid_type",
                            "offers.preferences", "must be a list of 1 to %d preferences",
                            PREFS_MAX);
    size_t n = json_array_size(list);
    ly_offers_conf *c = ly_arena_alloc(p->mem, sizeof *c);
    ly_offer_pref *v = ly_arena_alloc(p->mem, n * sizeof *v);
    if (!c || !v) return ly__pf_oom(err);
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "offers.preferences[%zu]", i);
        TRY(parsePreference(json_array_get(list, i), path, i, p, &v[i], err));
        for (size_t j = 0; v[i].id && j < i; j++)
            if (v[j].id && strcmp(v[j].id, v[i].id) == 0) {
                char kp[80];
                snprintf(kp, sizeof kp, "%s.id", path);
                return ly_error_set(err, LY_EINVAL, "duplicate_id", kp,
                                    "preference \"%s\" is declared twice", v[i].id);
            }
    }
    c->preferences = v;
    c->n_preferences = n;
    p->offers = c;
    return LY_OK;
}
