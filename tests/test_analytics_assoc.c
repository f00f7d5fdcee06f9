/*
 * test_analytics_assoc.c - co-purchases as association rules: the basket builder
 * (interning, de-duplication, errors), frequent itemsets, rules and combos on a hand-computed
 * example, a brute-force cross-check on random baskets, edge cases, and the published
 * arules figures on the Groceries data ($LOYAL_SHARED_DATA/groceries_baskets.csv; the
 * executable exits 77, skipped, when the file is absent).
 */
#include "testlib.h"

#include "analytics/assoc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEAR(x, want) assert_true(fabs((x) - (want)) < 1e-6)
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------- */

/* Adds a basket given as a NULL-terminated list of strings; fails the test on error. */
static void add(ly_assoc *a, const char *const *items)
{
    size_t n = 0;
    while (items[n])
        n++;
    ly_error e;
    ly_err rc = ly_assoc_add(a, items, NULL, n, &e);
    if (rc != LY_OK)
        fail_msg("ly_assoc_add: %s", e.message);
}

static ly_assoc_result *mine(const ly_assoc *a, double supp, double conf, unsigned min_len)
{
    ly_assoc_opts o;
    ly_assoc_opts_default(&o);
    o.min_support = supp;
    o.min_confidence = conf;
    o.min_len = min_len;
    ly_assoc_result *r = NULL;
    ly_error e;
    if (ly_assoc_mine(a, &o, &r, &e) != LY_OK)
        fail_msg("ly_assoc_mine: %s", e.message);
    assert_non_null(r);
    return r;
}

/* "{a,b} => {c}" for a rule, "{a,b}" for a combo or itemset (items in the result's order). */
static void setText(const ly_assoc *a, const uint32_t *items, uint32_t n, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "{");
    for (uint32_t i = 0; i < n && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%s", i ? "," : "",
                              ly_assoc_item_name(a, items[i]));
    if (k < size)
        snprintf(buf + k, size - k, "}");
}

static const char *ruleText(const ly_assoc *a, const ly_assoc_rule *r)
{
    static char buf[512];
    char lhs[400];
    setText(a, r->lhs, r->n_lhs, lhs, sizeof lhs);
    snprintf(buf, sizeof buf, "%s => {%s}", lhs, ly_assoc_item_name(a, r->rhs));
    return buf;
}

static const char *comboText(const ly_assoc *a, const ly_assoc_combo *c)
{
    static char buf[512];
    setText(a, c->items, c->n_items, buf, sizeof buf);
    return buf;
}

/* The textbook example (Tan, Steinbach & Kumar, "Introduction to Data Mining", table 6.1). */
static ly_assoc *textbook(bool reversed)
{
    static const char *const b[5][5] = {
        {"bread", "milk", NULL},
        {"bread", "diapers", "beer", "eggs", NULL},
        {"milk", "diapers", "beer", "cola", NULL},
        {"bread", "milk", "diapers", "beer", NULL},
        {"bread", "milk", "diapers", "cola", NULL},
    };
    ly_assoc *a = ly_assoc_new();
    assert_non_null(a);
    for (int i = 0; i < 5; i++) {
        int k = reversed ? 4 - i : i;
        const char *items[5] = {0};
        size_t n = 0;
        while (b[k][n])
            n++;
        for (size_t j = 0; j < n; j++)
            items[j] = b[k][reversed ? n - 1 - j : j];
        add(a, items);
    }
    return a;
}

/* ---------------------------------------------------------------------------------------
 * The builder
 * ------------------------------------------------------------------------------------- */

static void builder_interns_dedups_and_sorts_items(void **state)
{
    (void)state;
    ly_assoc *a = ly_assoc_new();
    assert_non_null(a);
    add(a, (const char *const[]){"tea", "bun", "tea", "tea", "jam", NULL});
    add(a, (const char *const[]){"jam", "tea ", NULL});
    add(a, (const char *const[]){NULL});
    assert_int_equal(ly_assoc_basket_count(a), 3);
    /* "tea " is not "tea": texts are compared byte for byte. */
    assert_int_equal(ly_assoc_item_count(a), 4);
    assert_string_equal(ly_assoc_item_name(a, 0), "tea");
    assert_string_equal(ly_assoc_item_name(a, 1), "bun");
    assert_string_equal(ly_assoc_item_name(a, 2), "jam");
    assert_string_equal(ly_assoc_item_name(a, 3), "tea ");
    assert_null(ly_assoc_item_name(a, 4));
    uint32_t id = 99;
    assert_true(ly_assoc_item_find(a, "jam", &id));
    assert_int_equal(id, 2);
    assert_false(ly_assoc_item_find(a, "coffee", &id));
    /* Three copies of tea in basket 0 count once. */
    assert_int_equal(ly_assoc_item_baskets(a, 0), 1);
    assert_int_equal(ly_assoc_item_baskets(a, 2), 2);
    assert_int_equal(ly_assoc_item_baskets(a, 7), 0);
    size_t n = 0;
    const uint32_t *b0 = ly_assoc_basket(a, 0, &n);
    assert_int_equal(n, 3);
    assert_int_equal(b0[0], 0);
    assert_int_equal(b0[1], 1);
    assert_int_equal(b0[2], 2);
    assert_null(ly_assoc_basket(a, 2, &n)); /* the empty basket */
    assert_int_equal(n, 0);
    assert_null(ly_assoc_basket(a, 3, &n));
    assert_true(ly_assoc_memory(a) > 0);

    /* Items with explicit lengths need not be NUL-terminated. */
    const char *text = "milkbread";
    const char *items[] = {text, text + 4, text};
    size_t lens[] = {4, 5, 4};
    ly_error e;
    assert_int_equal(ly_assoc_add(a, items, lens, 3, &e), LY_OK);
    assert_true(ly_assoc_item_find(a, "milk", &id));
    assert_int_equal(ly_assoc_item_baskets(a, id), 1);
    assert_true(ly_assoc_item_find(a, "bread", &id));
    ly_assoc_basket(a, 3, &n);
    assert_int_equal(n, 2);
    ly_assoc_free(a);
}

static void builder_rejects_bad_items_and_stays_unchanged(void **state)
{
    (void)state;
    ly_assoc *a = ly_assoc_new();
    add(a, (const char *const[]){"a", "b", NULL});
    size_t mem = ly_assoc_memory(a);
    ly_error e;

    const char *with_null[] = {"c", NULL};
    assert_int_equal(ly_assoc_add(a, with_null, NULL, 2, &e), LY_EINVAL);
    assert_string_equal(e.code, "invalid_item");
    assert_string_equal(e.field, "items[1]");

    const char *empty[] = {"c", "d", ""};
    assert_int_equal(ly_assoc_add(a, empty, NULL, 3, &e), LY_EINVAL);
    assert_string_equal(e.field, "items[2]");

    const char *nul[] = {"x\0y"};
    size_t len3[] = {3};
    assert_int_equal(ly_assoc_add(a, nul, len3, 1, &e), LY_EINVAL);
    assert_string_equal(e.field, "items[0]");

    assert_int_equal(ly_assoc_add(a, NULL, NULL, 2, &e), LY_EINVAL);
    assert_string_equal(e.field, "items");

    /* None of it changed the builder: no basket, no new item. */
    assert_int_equal(ly_assoc_basket_count(a), 1);
    assert_int_equal(ly_assoc_item_count(a), 2);
    assert_false(ly_assoc_item_find(a, "c", NULL));
    assert_int_equal(ly_assoc_memory(a), mem);
    ly_assoc_free(NULL);
    ly_assoc_free(a);
}

/* ---------------------------------------------------------------------------------------
 * Mining, hand-computed
 * ------------------------------------------------------------------------------------- */

static void textbook_itemsets_rules_and_combos(void **state)
{
    (void)state;
    ly_assoc *a = textbook(false);
    ly_assoc_result *r = mine(a, 0.4, 0.6, 2);
    assert_int_equal(r->n_baskets, 5);
    assert_int_equal(r->min_count, 2);
    /* 5 items (eggs is in one basket only), 8 pairs, 4 triples. */
    assert_int_equal(r->n_itemsets, 17);
    assert_int_equal(r->itemsets[0].count, 4); /* bread, diapers, milk: 4 baskets each */
    assert_int_equal(r->itemsets[0].n_items, 1);
    assert_string_equal(ly_assoc_item_name(a, r->itemsets[0].items[0]), "bread");
    NEAR(r->itemsets[0].support, 0.8);
    const ly_assoc_itemset *last = &r->itemsets[16];
    char buf[256];
    setText(a, last->items, last->n_items, buf, sizeof buf);
    assert_string_equal(buf, "{cola,diapers,milk}"); /* count 2, three items, last by name */
    assert_int_equal(last->count, 2);

    /* 12 of the 16 pair rules and all 12 triple rules reach confidence 0.6. */
    assert_int_equal(r->n_rules_total, 24);
    assert_int_equal(r->n_rules, 24);
    static const char *const order[] = {
        "{diapers,milk} => {cola}",  /* lift (2/3) / (2/5) = 5/3 */
        "{beer} => {diapers}",       /* lift 1.25, count 3, confidence 1 */
        "{diapers} => {beer}",       /* lift 1.25, count 3, confidence 3/4 */
        "{cola} => {diapers}",       /* lift 1.25, count 2, one item on the left */
        "{cola} => {milk}",
        "{beer,bread} => {diapers}", /* then the left-hand sides by name */
        "{beer,milk} => {diapers}",
        "{cola,diapers} => {milk}",
        "{cola,milk} => {diapers}",
    };
    for (size_t i = 0; i < COUNT_OF(order); i++)
        assert_string_equal(ruleText(a, &r->rules[i]), order[i]);
    const ly_assoc_rule *top = &r->rules[0];
    assert_int_equal(top->count, 2);
    assert_int_equal(top->lhs_count, 3);
    assert_int_equal(top->rhs_count, 2);
    NEAR(top->support, 0.4);
    NEAR(top->confidence, 2.0 / 3.0);
    NEAR(top->lift, 5.0 / 3.0);
    for (size_t i = 1; i < r->n_rules; i++)
        assert_true(r->rules[i].lift <= r->rules[i - 1].lift);
    for (size_t i = 0; i < r->n_rules; i++)
        assert_true(r->rules[i].confidence >= 0.6);
    /* The weakest have confidence 2/3 toward an item in 4 of 5 baskets, lift 5/6:
     * {beer} => {bread}, {diapers,milk} => {bread}, ... */
    NEAR(r->rules[23].lift, (2.0 / 3.0) / 0.8);

    /* Combos: the pairs and the triple whose every item is lifted by the others. */
    assert_int_equal(r->n_combos_total, 4);
    assert_int_equal(r->n_combos, 4);
    assert_string_equal(comboText(a, &r->combos[0]), "{beer,diapers}");
    assert_string_equal(comboText(a, &r->combos[1]), "{cola,diapers}");
    assert_string_equal(comboText(a, &r->combos[2]), "{cola,milk}");
    assert_string_equal(comboText(a, &r->combos[3]), "{cola,diapers,milk}");
    const ly_assoc_combo *c = &r->combos[0];
    assert_int_equal(c->count, 3);
    NEAR(c->support, 0.6);
    NEAR(c->lift, 1.25);
    NEAR(c->extra_baskets, 3 - 3 / 1.25); /* 3 baskets, 2.4 expected */
    NEAR(c->independence, 0.6 / (0.6 * 0.8));
    NEAR(c->confidence, 1.0);
    assert_string_equal(ly_assoc_item_name(a, c->best_rhs), "diapers");
    c = &r->combos[3];
    /* Rule lifts 5/3 (=> cola), 1.25 (=> diapers), 1.25 (=> milk): the weakest counts. */
    NEAR(c->lift, 1.25);
    NEAR(c->extra_baskets, 2 - 2 / 1.25);
    NEAR(c->independence, 0.4 / (0.4 * 0.8 * 0.8));
    NEAR(c->confidence, 1.0);
    /* {cola,milk} => {diapers} and {cola,diapers} => {milk} tie: the first name wins. */
    assert_string_equal(ly_assoc_item_name(a, c->best_rhs), "diapers");
    ly_assoc_result_free(r);
    ly_assoc_free(a);
}

static void results_do_not_depend_on_input_order(void **state)
{
    (void)state;
    ly_assoc *a = textbook(false), *b = textbook(true);
    ly_assoc_result *ra = mine(a, 0.4, 0.6, 2), *rb = mine(b, 0.4, 0.6, 2);
    assert_int_equal(ra->n_rules, rb->n_rules);
    for (size_t i = 0; i < ra->n_rules; i++) {
        char ta[512];
        snprintf(ta, sizeof ta, "%s", ruleText(a, &ra->rules[i]));
        assert_string_equal(ta, ruleText(b, &rb->rules[i]));
    }
    assert_int_equal(ra->n_itemsets, rb->n_itemsets);
    for (size_t i = 0; i < ra->n_itemsets; i++) {
        char ta[256], tb[256];
        setText(a, ra->itemsets[i].items, ra->itemsets[i].n_items, ta, sizeof ta);
        setText(b, rb->itemsets[i].items, rb->itemsets[i].n_items, tb, sizeof tb);
        assert_string_equal(ta, tb);
        assert_int_equal(ra->itemsets[i].count, rb->itemsets[i].count);
    }
    ly_assoc_result_free(ra);
    ly_assoc_result_free(rb);
    ly_assoc_free(a);
    ly_assoc_free(b);
}

static void options_min_len_max_len_and_caps(void **state)
{
    (void)state;
    ly_assoc *a = textbook(false);

    /* min_len 1 admits {} => {y} when y's support reaches the confidence: bread, diapers,
     * milk (0.8); plus the 7 rules of confidence 1. Rules {} => {y} have lift 1. */
    ly_assoc_result *r = mine(a, 0.4, 0.8, 1);
    assert_int_equal(r->n_rules_total, 10);
    size_t empty = 0;
    for (size_t i = 0; i < r->n_rules; i++) {
        if (r->rules[i].n_lhs == 0) {
            empty++;
            NEAR(r->rules[i].lift, 1.0);
            NEAR(r->rules[i].confidence, 0.8);
            assert_int_equal(r->rules[i].lhs_count, 5);
        }
    }
    assert_int_equal(empty, 3);
    ly_assoc_result_free(r);

    ly_assoc_opts o;
    ly_assoc_opts_default(&o);
    o.min_support = 0.4;
    o.min_confidence = 0.6;
    o.min_len = 2;
    o.max_len = 2;
    o.max_rules = 3;
    o.max_combos = 1;
    ly_error e;
    assert_int_equal(ly_assoc_mine(a, &o, &r, &e), LY_OK);
    assert_int_equal(r->n_itemsets, 13); /* no triples */
    assert_int_equal(r->n_rules_total, 12);
    assert_int_equal(r->n_rules, 3);
    assert_string_equal(ruleText(a, &r->rules[0]), "{beer} => {diapers}");
    assert_int_equal(r->n_combos_total, 3);
    assert_int_equal(r->n_combos, 1);
    ly_assoc_result_free(r);

    /* min_len 3: only the triples' rules and combos. */
    r = mine(a, 0.4, 0.6, 3);
    assert_int_equal(r->n_itemsets, 17); /* itemsets are counted whatever min_len */
    assert_int_equal(r->n_rules_total, 12);
    for (size_t i = 0; i < r->n_rules; i++)
        assert_int_equal(r->rules[i].n_lhs, 2);
    assert_int_equal(r->n_combos_total, 1);
    ly_assoc_result_free(r);

    /* The safety limit on itemsets. */
    o.max_len = 0;
    o.max_itemsets = 5;
    r = (ly_assoc_result *)&o; /* must be reset to NULL on failure */
    assert_int_equal(ly_assoc_mine(a, &o, &r, &e), LY_ETOOLARGE);
    assert_string_equal(e.code, "too_many_itemsets");
    assert_null(r);
    ly_assoc_free(a);
}

static void invalid_options_are_refused(void **state)
{
    (void)state;
    ly_assoc *a = textbook(false);
    ly_assoc_opts o;
    ly_assoc_result *r = NULL;
    ly_error e;
    struct {
        double supp, conf;
        unsigned min_len, max_len;
        const char *field;
    } bad[] = {
        {1.5, 0.5, 1, 0, "min_support"}, {-0.1, 0.5, 1, 0, "min_support"},
        {NAN, 0.5, 1, 0, "min_support"}, {0.1, 1.01, 1, 0, "min_confidence"},
        {0.1, NAN, 1, 0, "min_confidence"}, {0.1, 0.5, 0, 0, "min_len"},
        {0.1, 0.5, 3, 2, "max_len"},
    };
    for (size_t i = 0; i < COUNT_OF(bad); i++) {
        ly_assoc_opts_default(&o);
        o.min_support = bad[i].supp;
        o.min_confidence = bad[i].conf;
        o.min_len = bad[i].min_len;
        o.max_len = bad[i].max_len;
        assert_int_equal(ly_assoc_mine(a, &o, &r, &e), LY_EINVAL);
        assert_string_equal(e.code, "invalid_option");
        assert_string_equal(e.field, bad[i].field);
        assert_null(r);
    }
    /* NULL options are arules' defaults: support 0.1, confidence 0.8. */
    assert_int_equal(ly_assoc_mine(a, NULL, &r, &e), LY_OK);
    assert_int_equal(r->min_count, 1);
    assert_int_equal(r->n_itemsets, 35); /* every itemset that occurs in some basket */
    assert_int_equal(r->n_rules_total, 31);
    ly_assoc_result_free(r);
    ly_assoc_free(a);
}

/* ---------------------------------------------------------------------------------------
 * Edge cases
 * ------------------------------------------------------------------------------------- */

static void empty_input_gives_an_empty_result(void **state)
{
    (void)state;
    ly_assoc *a = ly_assoc_new();
    ly_assoc_result *r = mine(a, 0.0, 0.0, 1);
    assert_int_equal(r->n_baskets, 0);
    assert_int_equal(r->n_itemsets, 0);
    assert_int_equal(r->n_rules_total, 0);
    assert_int_equal(r->n_combos_total, 0);
    ly_assoc_result_free(r);
    ly_assoc_result_free(NULL);

    /* Only empty baskets: they count as baskets, nothing is frequent. */
    add(a, (const char *const[]){NULL});
    add(a, (const char *const[]){NULL});
    r = mine(a, 0.0, 0.0, 1);
    assert_int_equal(r->n_baskets, 2);
    assert_int_equal(r->n_itemsets, 0);
    assert_int_equal(r->n_rules_total, 0);
    ly_assoc_result_free(r);
    ly_assoc_free(a);
}

static void min_support_one_keeps_only_items_in_every_basket(void **state)
{
    (void)state;
    ly_assoc *a = ly_assoc_new();
    add(a, (const char *const[]){"x", "y", NULL});
    add(a, (const char *const[]){"x", NULL});
    add(a, (const char *const[]){"z", "x", "x", NULL});
    ly_assoc_result *r = mine(a, 1.0, 1.0, 1);
    assert_int_equal(r->min_count, 3);
    assert_int_equal(r->n_itemsets, 1);
    assert_string_equal(ly_assoc_item_name(a, r->itemsets[0].items[0]), "x");
    NEAR(r->itemsets[0].support, 1.0);
    /* {} => {x}: confidence 1, lift 1; no combo (nothing bought together). */
    assert_int_equal(r->n_rules_total, 1);
    assert_string_equal(ruleText(a, &r->rules[0]), "{} => {x}");
    assert_int_equal(r->n_combos_total, 0);
    ly_assoc_result_free(r);

    /* With an empty basket added, nothing is in every basket. */
    add(a, (const char *const[]){NULL});
    r = mine(a, 1.0, 0.0, 1);
    assert_int_equal(r->min_count, 4);
    assert_int_equal(r->n_itemsets, 0);
    ly_assoc_result_free(r);
    ly_assoc_free(a);
}

static void duplicate_items_in_a_basket_count_once(void **state)
{
    (void)state;
    ly_assoc *a = ly_assoc_new();
    add(a, (const char *const[]){"a", "a", "b", "a", NULL});
    add(a, (const char *const[]){"b", "c", "b", NULL});
    ly_assoc_result *r = mine(a, 0.5, 0.0, 2);
    /* {a} 1, {b} 2, {c} 1, {a,b} 1, {b,c} 1: a repeated item never pairs with itself. */
    assert_int_equal(r->n_itemsets, 5);
    assert_int_equal(r->itemsets[0].count, 2);
    assert_string_equal(ly_assoc_item_name(a, r->itemsets[0].items[0]), "b");
    for (size_t i = 0; i < r->n_itemsets; i++)
        assert_true(r->itemsets[i].count <= 2);
    /* a => b (1/1, lift 1), b => a (1/2, lift 1), b => c, c => b. */
    assert_int_equal(r->n_rules_total, 4);
    NEAR(r->rules[0].lift, 1.0);
    ly_assoc_result_free(r);
    ly_assoc_free(a);
}

/* ---------------------------------------------------------------------------------------
 * A brute-force cross-check: dense random baskets over 12 items, every subset counted
 * ------------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void mining_matches_brute_force_on_random_baskets(void **state)
{
    (void)state;
    enum { ITEMS = 12, BASKETS = 300 };
    static const char *const names[ITEMS] = {"i00", "i01", "i02", "i03", "i04", "i05",
                                             "i06", "i07", "i08", "i09", "i10", "i11"};
    static uint32_t count[1u << ITEMS];
    for (int round = 0; round < 4; round++) {
        memset(count, 0, sizeof count);
        ly_assoc *a = ly_assoc_new();
        uint32_t masks[BASKETS];
        for (int b = 0; b < BASKETS; b++) {
            /* Dense (items present 30..90% of the time) so that diffsets take over, and
             * correlated: item 2k+1 follows item 2k. */
            uint32_t m = 0;
            for (int i = 0; i < ITEMS; i++) {
                uint32_t p = 30 + (uint32_t)(i * 5);
                if (i % 2 == 1 && (m >> (i - 1) & 1u))
                    p = 85;
                if (rnd() % 100 < p)
                    m |= 1u << i;
            }
            masks[b] = m;
            const char *items[ITEMS + 1];
            size_t n = 0;
            for (int i = ITEMS - 1; i >= 0; i--)
                if (m >> i & 1u)
                    items[n++] = names[i];
            ly_error e;
            assert_int_equal(ly_assoc_add(a, items, NULL, n, &e), LY_OK);
        }
        for (uint32_t s = 1; s < (1u << ITEMS); s++)
            for (int b = 0; b < BASKETS; b++)
                if ((masks[b] & s) == s)
                    count[s]++;
        double supp = round < 2 ? 0.1 : 0.25;
        double conf = round % 2 ? 0.7 : 0.5;
        ly_assoc_result *r = mine(a, supp, conf, 2);
        uint32_t minc = (uint32_t)ceil(supp * BASKETS - 1e-9);
        assert_int_equal(r->min_count, minc);
        size_t want_sets = 0, want_rules = 0;
        for (uint32_t s = 1; s < (1u << ITEMS); s++) {
            if (count[s] < minc)
                continue;
            want_sets++;
            if (__builtin_popcount(s) < 2)
                continue;
            for (int y = 0; y < ITEMS; y++)
                if (s >> y & 1u && (double)count[s] / count[s & ~(1u << y)] >= conf)
                    want_rules++;
        }
        assert_true(want_sets > 200); /* the check is not vacuous */
        assert_int_equal(r->n_itemsets, want_sets);
        assert_int_equal(r->n_rules_total, want_rules);
        for (size_t i = 0; i < r->n_itemsets; i++) {
            uint32_t s = 0;
            for (uint32_t k = 0; k < r->itemsets[i].n_items; k++)
                s |= 1u << atoi(ly_assoc_item_name(a, r->itemsets[i].items[k]) + 1);
            assert_int_equal(r->itemsets[i].count, count[s]);
        }
        for (size_t i = 0; i < r->n_rules; i++) {
            const ly_assoc_rule *q = &r->rules[i];
            uint32_t x = 0;
            for (uint32_t k = 0; k < q->n_lhs; k++)
                x |= 1u << atoi(ly_assoc_item_name(a, q->lhs[k]) + 1);
            uint32_t y = 1u << atoi(ly_assoc_item_name(a, q->rhs) + 1);
            assert_int_equal(q->count, count[x | y]);
            assert_int_equal(q->lhs_count, count[x]);
            assert_int_equal(q->rhs_count, count[y]);
            NEAR(q->lift, (double)count[x | y] * BASKETS / ((double)count[x] * count[y]));
        }
        ly_assoc_result_free(r);
        ly_assoc_free(a);
    }
}

/* ---------------------------------------------------------------------------------------
 * The Groceries data: arules' published figures
 * ------------------------------------------------------------------------------------- */

static ly_assoc *groceries;

/* Reads one basket a line, items comma-separated, exactly as written (the data has an
 * item "cream cheese " with a trailing space, as in arules). Returns NULL if absent. */
static ly_assoc *loadGroceries(void)
{
    const char *dir = getenv("LOYAL_SHARED_DATA");
    if (!dir)
        return NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/groceries_baskets.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    ly_assoc *a = ly_assoc_new();
    char line[8192];
    while (a && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        const char *items[256];
        size_t lens[256], n = 0, start = 0;
        for (size_t i = 0; i <= len && n < 256; i++) {
            if (i == len || line[i] == ',') {
                if (i > start) {
                    items[n] = line + start;
                    lens[n++] = i - start;
                }
                start = i + 1;
            }
        }
        ly_error e;
        if (ly_assoc_add(a, items, lens, n, &e) != LY_OK) {
            ly_assoc_free(a);
            a = NULL;
        }
    }
    fclose(f);
    return a;
}

static void groceries_published_figures_at_support_0_006(void **state)
{
    (void)state;
    ly_assoc *a = groceries;
    assert_int_equal(ly_assoc_basket_count(a), 9835);
    assert_int_equal(ly_assoc_item_count(a), 169);
    ly_assoc_result *r = mine(a, 0.006, 0.25, 2);
    assert_int_equal(r->min_count, 60); /* 0.006 * 9835 = 59.01 */
    /* "747 frequent itemsets": of every size, the 109 single items included. */
    assert_int_equal(r->n_itemsets, 747);
    size_t singles = 0;
    for (size_t i = 0; i < r->n_itemsets; i++)
        singles += r->itemsets[i].n_items == 1;
    assert_int_equal(singles, 109);
    assert_int_equal(r->n_rules_total, 463);
    assert_int_equal(r->n_rules, 463);
    assert_string_equal(ruleText(a, &r->rules[0]), "{herbs} => {root vegetables}");
    NEAR(r->rules[0].support, 0.007016);
    NEAR(r->rules[0].confidence, 0.431250);
    NEAR(r->rules[0].lift, 3.956477);
    assert_int_equal(r->rules[0].count, 69);
    assert_string_equal(ruleText(a, &r->rules[1]), "{berries} => {whipped/sour cream}");
    NEAR(r->rules[1].lift, 3.796886);
    /* The most frequent item. */
    assert_string_equal(ly_assoc_item_name(a, r->itemsets[0].items[0]), "whole milk");
    assert_int_equal(r->itemsets[0].count, 2513);
    /* The top combo is the top rule's pair. */
    assert_string_equal(comboText(a, &r->combos[0]), "{herbs,root vegetables}");
    NEAR(r->combos[0].lift, 3.956477);
    ly_assoc_result_free(r);
}

static void groceries_published_figures_at_support_0_001(void **state)
{
    (void)state;
    ly_assoc *a = groceries;
    ly_assoc_result *r = mine(a, 0.001, 0.5, 1);
    assert_int_equal(r->min_count, 10);
    assert_int_equal(r->n_rules_total, 5668);
    assert_string_equal(ruleText(a, &r->rules[0]),
                        "{Instant food products,soda} => {hamburger meat}");
    NEAR(r->rules[0].lift, 18.995654);
    /* Recount a sample of rules directly from the baskets. */
    for (size_t i = 0; i < r->n_rules; i += 97) {
        const ly_assoc_rule *q = &r->rules[i];
        uint32_t cx = 0, cxy = 0;
        for (size_t b = 0; b < ly_assoc_basket_count(a); b++) {
            size_t n;
            const uint32_t *items = ly_assoc_basket(a, b, &n);
            size_t found = 0;
            bool has_rhs = false;
            for (size_t k = 0; k < n; k++) {
                for (uint32_t j = 0; j < q->n_lhs; j++)
                    found += items[k] == q->lhs[j];
                has_rhs |= items[k] == q->rhs;
            }
            if (found == q->n_lhs) {
                cx++;
                cxy += has_rhs;
            }
        }
        assert_int_equal(q->lhs_count, cx);
        assert_int_equal(q->count, cxy);
        assert_true(q->confidence >= 0.5);
        assert_true(q->count >= 10);
    }
    ly_assoc_result_free(r);
}

int main(void)
{
    const struct CMUnitTest local[] = {
        cmocka_unit_test(builder_interns_dedups_and_sorts_items),
        cmocka_unit_test(builder_rejects_bad_items_and_stays_unchanged),
        cmocka_unit_test(textbook_itemsets_rules_and_combos),
        cmocka_unit_test(results_do_not_depend_on_input_order),
        cmocka_unit_test(options_min_len_max_len_and_caps),
        cmocka_unit_test(invalid_options_are_refused),
        cmocka_unit_test(empty_input_gives_an_empty_result),
        cmocka_unit_test(min_support_one_keeps_only_items_in_every_basket),
        cmocka_unit_test(duplicate_items_in_a_basket_count_once),
        cmocka_unit_test(mining_matches_brute_force_on_random_baskets),
    };
    const struct CMUnitTest data[] = {
        cmocka_unit_test(groceries_published_figures_at_support_0_006),
        cmocka_unit_test(groceries_published_figures_at_support_0_001),
    };
    int failed = cmocka_run_group_tests_name("assoc", local, NULL, NULL);
    groceries = loadGroceries();
    if (!groceries) {
        fprintf(stderr, "groceries_baskets.csv not found under $LOYAL_SHARED_DATA: skipped\n");
        return failed ? failed : TL_SKIP;
    }
    failed += cmocka_run_group_tests_name("assoc_groceries", data, NULL, NULL);
    ly_assoc_free(groceries);
    return failed;
}
