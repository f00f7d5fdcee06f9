/*
 * test_analytics_baskets.c - `loyal analyze --layout baskets`: one anonymous basket a line.
 * On ../shared/data/groceries_baskets.csv the co-purchases must be the published ones (747
 * itemsets and 463 rules at support 0.006, confidence 0.25, two or more items, the top rule
 * {herbs} => {root vegetables}; 5,668 rules at 0.001 and 0.5) and the input counts those of
 * the file (9,835 baskets, 43,367 items, 169 distinct items). A small file checks trimming,
 * empty fields, a record of empty fields and another delimiter. Exits 77 (skipped) when the
 * shared data is absent.
 */
#include "testlib.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dataPath(const char *name)
{
    const char *shared = getenv("LOYAL_SHARED_DATA");
    char *p = shared ? tl_join(shared, name) : NULL;
    if (p && access(p, R_OK) == 0) return p;
    free(p);
    return NULL;
}

/* Runs loyal analyze with the arguments (NULL-terminated, at most 16) and parses its JSON. */
static json_t *analyze(const char *first, ...)
{
    const char *argv[24];
    size_t n = 0;
    argv[n++] = "analyze";
    argv[n++] = "--quiet";
    argv[n++] = "--no-clv";
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 20; a = va_arg(ap, const char *)) argv[n++] = a;
    va_end(ap);
    while (n < 24) argv[n++] = NULL;
    tl_run r;
    tl_loyal(&r, NULL, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argv[7],
             argv[8], argv[9], argv[10], argv[11], argv[12], argv[13], argv[14], argv[15],
             argv[16], argv[17], argv[18], argv[19], NULL);
    if (r.code != 0) fail_msg("loyal analyze: exit %d\n%s", r.code, r.err);
    json_t *doc = tl_json_parse(r.out);
    tl_run_free(&r);
    return doc;
}

static double num(json_t *doc, const char *path)
{
    json_t *v = tl_json_at(doc, path);
    if (!v || !json_is_number(v)) fail_msg("%s: not a number", path);
    return json_number_value(v);
}

static void expectNear(json_t *doc, const char *path, double want, double tol)
{
    double got = num(doc, path);
    if (!(fabs(got - want) <= tol)) fail_msg("%s: expected %.6f, got %.9f", path, want, got);
}

static void test_groceries_published(void **state)
{
    (void)state;
    char *path = dataPath("groceries_baskets.csv");
    if (!path) skip();
    json_t *doc = analyze("--layout", "baskets", "--min-support", "0.006", "--min-confidence",
                          "0.25", "--min-len", "2", "--max-rules", "0", path, NULL);
    /* the input: every line an anonymous basket on the one day of the layout */
    assert_int_equal(tl_json_int(doc, "input.receipts"), 9835);
    assert_int_equal(tl_json_int(doc, "input.anonymous_receipts"), 9835);
    assert_int_equal(tl_json_int(doc, "input.customers"), 0);
    assert_int_equal(tl_json_int(doc, "input.returns"), 0);
    assert_int_equal(tl_json_int(doc, "input.lines"), 43367);
    assert_int_equal(tl_json_int(doc, "input.skus"), 169);
    assert_int_equal(tl_json_int(doc, "input.categories"), 169);
    assert_string_equal(tl_json_str(doc, "input.first_day"), "2000-01-01");
    assert_string_equal(tl_json_str(doc, "input.last_day"), "2000-01-01");
    assert_int_equal(tl_json_int(doc, "rfm.customers"), 0);
    /* the published rules */
    assert_int_equal(tl_json_int(doc, "copurchases.baskets"), 9835);
    assert_int_equal(tl_json_int(doc, "copurchases.itemsets"), 747);
    assert_int_equal(tl_json_int(doc, "copurchases.rules_total"), 463);
    assert_int_equal((long long)json_array_size(tl_json_at(doc, "copurchases.rules")), 463);
    assert_string_equal(tl_json_str(doc, "copurchases.rules[0].lhs[0]"), "herbs");
    assert_string_equal(tl_json_str(doc, "copurchases.rules[0].rhs[0]"), "root vegetables");
    assert_int_equal((long long)json_array_size(tl_json_at(doc, "copurchases.rules[0].lhs")), 1);
    assert_int_equal((long long)json_array_size(tl_json_at(doc, "copurchases.rules[0].rhs")), 1);
    expectNear(doc, "copurchases.rules[0].support", 0.007016, 5e-7);
    expectNear(doc, "copurchases.rules[0].confidence", 0.431250, 5e-7);
    expectNear(doc, "copurchases.rules[0].lift", 3.956477, 5e-7);
    json_decref(doc);

    doc = analyze("--layout", "baskets", "--min-support", "0.001", "--min-confidence", "0.5",
                  "--min-len", "2", "--max-rules", "0", path, NULL);
    assert_int_equal(tl_json_int(doc, "copurchases.rules_total"), 5668);
    json_decref(doc);
    free(path);
}

/* Items are trimmed, empty fields are no items, a record of empty fields is no basket, and
 * --delimiter separates the items. */
static void test_small_file(void **state)
{
    (void)state;
    char *dir = tl_tempdir("baskets");
    char *path = tl_join(dir, "b.csv");
    const char *text = "milk; bread \n"
                       " bread;;eggs\n"
                       ";;\n"
                       "\n"
                       "milk;bread;eggs;\n";
    assert_int_equal(tl_write_file(path, text, strlen(text)), 0);
    json_t *doc = analyze("--layout", "baskets", "--delimiter", ";", "--min-support", "0.5",
                          "--min-confidence", "0.5", "--max-rules", "0", path, NULL);
    assert_int_equal(tl_json_int(doc, "input.receipts"), 3);
    assert_int_equal(tl_json_int(doc, "input.anonymous_receipts"), 3);
    assert_int_equal(tl_json_int(doc, "input.lines"), 7);
    assert_int_equal(tl_json_int(doc, "input.skus"), 3);
    assert_int_equal(tl_json_int(doc, "copurchases.baskets"), 3);
    /* {bread} is in all 3 baskets, {milk} and {eggs} in 2: milk => bread has confidence 1 */
    json_t *rules = tl_json_at(doc, "copurchases.rules");
    bool found = false;
    for (size_t i = 0; i < json_array_size(rules); i++) {
        json_t *r = json_array_get(rules, i);
        if (strcmp(tl_json_str(r, "lhs[0]"), "milk") == 0 &&
            strcmp(tl_json_str(r, "rhs[0]"), "bread") == 0 &&
            json_array_size(tl_json_at(r, "lhs")) == 1) {
            found = true;
            expectNear(r, "confidence", 1.0, 1e-12);
            expectNear(r, "support", 2.0 / 3.0, 1e-9);
        }
    }
    assert_true(found);
    json_decref(doc);
    tl_rmtree(dir);
    free(path);
    free(dir);
}

int main(void)
{
    tl_loyal_bin();
    char *path = dataPath("groceries_baskets.csv");
    bool have = path != NULL;
    free(path);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_file),
        cmocka_unit_test(test_groceries_published),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && !have) {
        printf("groceries_baskets.csv not found under LOYAL_SHARED_DATA: skipped\n");
        return TL_SKIP;
    }
    return failed;
}
