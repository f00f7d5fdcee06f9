/*
 * test_api_docs.c - docs/api.md is executable: every example in it is replayed, in order,
 * against a fresh server (the example program, the clock frozen at 2026-11-24T09:00:00Z),
 * and the answers must be exactly the documented ones.
 *
 * An example is a ```http fenced block:
 *
 *     POST /v1/customers              request line: METHOD PATH
 *     Authorization: Bearer $POS_KEY  headers ($POS_KEY and $ADMIN_KEY are replaced by keys)
 *                                     a blank line
 *     {"card": "2000001"}             the body, if any
 *
 * followed by a ```json fenced block whose first line is "HTTP <status>" and whose rest is
 * the expected JSON body (nothing for no body). In expected bodies the string "…" matches
 * any value, and objects must have exactly the documented keys.
 */
#include "testlib.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NOW "LOYAL_NOW=2026-11-24T09:00:00Z"
#define MIN_EXAMPLES 15

typedef struct example {
    int line;             /* line of the ```http fence in docs/api.md */
    char *request_line;   /* "POST /v1/customers" */
    char *method;
    char *path;
    char **headers;       /* NULL-terminated */
    char *body;           /* NULL: none */
    long status;
    char *expected;       /* NULL or "" for an empty body */
} example;

typedef struct examples {
    example *v;
    size_t n, cap;
} examples;

/* Replaces every occurrence of each name by its value; returns a malloc'd string. */
static char *substitute(const char *s, const char *const *names, const char *const *values, size_t n)
{
    char *cur = tl_strdupf("%s", s);
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(names[i]), vl = strlen(values[i]);
        size_t count = 0;
        for (const char *p = strstr(cur, names[i]); p; p = strstr(p + nl, names[i])) count++;
        if (!count) continue;
        char *out = malloc(strlen(cur) + count * vl + 1);
        assert_non_null(out);
        char *o = out;
        const char *p = cur;
        for (const char *q; (q = strstr(p, names[i])) != NULL; p = q + nl) {
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
            memcpy(o, values[i], vl);
            o += vl;
        }
        strcpy(o, p);
        free(cur);
        cur = out;
    }
    return cur;
}

static char *trimmed(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    char *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* A fenced block: its info string ("http", "json") and its lines. */
typedef struct fence {
    int line;          /* line of the opening fence, 1-based */
    char info[32];
    char *text;        /* the content, lines joined with \n */
} fence;

/* All fenced blocks of a markdown text, in order. */
static fence *fences(const char *md, size_t *count)
{
    size_t cap = 64, n = 0;
    fence *fs = calloc(cap, sizeof *fs);
    assert_non_null(fs);
    const char *p = md;
    int line = 1;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char *q = p;
        size_t indent = 0;
        while (indent < len && *q == ' ' && indent < 4) q++, indent++;
        if (len - indent >= 3 && strncmp(q, "```", 3) == 0) {
            /* An opening fence: collect up to the closing one. */
            if (n == cap) {
                cap *= 2;
                fs = realloc(fs, cap * sizeof *fs);
                assert_non_null(fs);
            }
            fence *f = &fs[n++];
            memset(f, 0, sizeof *f);
            f->line = line;
            size_t il = len - indent - 3;
            const char *info = q + 3;
            while (il && isspace((unsigned char)*info)) info++, il--;
            while (il && isspace((unsigned char)info[il - 1])) il--;
            if (il >= sizeof f->info) il = sizeof f->info - 1;
            memcpy(f->info, info, il);
            f->info[il] = '\0';
            size_t tcap = 256, tlen = 0;
            char *t = malloc(tcap);
            assert_non_null(t);
            t[0] = '\0';
            p = eol ? eol + 1 : p + len;
            line++;
            while (*p) {
                const char *e2 = strchr(p, '\n');
                size_t l2 = e2 ? (size_t)(e2 - p) : strlen(p);
                const char *r = p;
                size_t i2 = 0;
                while (i2 < l2 && *r == ' ' && i2 < 4) r++, i2++;
                bool closing = l2 - i2 >= 3 && strncmp(r, "```", 3) == 0;
                if (!closing) {
                    /* Drop the opening fence's indentation from content lines. */
                    size_t drop = 0;
                    while (drop < indent && drop < l2 && p[drop] == ' ') drop++;
                    while (tlen + l2 + 2 > tcap) {
                        tcap *= 2;
                        t = realloc(t, tcap);
                        assert_non_null(t);
                    }
                    memcpy(t + tlen, p + drop, l2 - drop);
                    tlen += l2 - drop;
                    t[tlen++] = '\n';
                    t[tlen] = '\0';
                }
                p = e2 ? e2 + 1 : p + l2;
                line++;
                if (closing) break;
            }
            f->text = t;
            continue;
        }
        p = eol ? eol + 1 : p + len;
        line++;
    }
    *count = n;
    return fs;
}

static void parseExample(example *ex, const fence *req, const fence *resp, const char *const *names,
                         const char *const *values, size_t nnames)
{
    memset(ex, 0, sizeof *ex);
    ex->line = req->line;
    char *text = substitute(req->text, names, values, nnames);
    /* Request line. */
    char *p = text;
    while (*p == '\n' || *p == '\r') p++;
    char *eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    ex->request_line = trimmed(p, (size_t)(eol - p));
    char *sp = strchr(ex->request_line, ' ');
    if (!sp) fail_msg("docs/api.md:%d: the request line \"%s\" is not \"METHOD PATH\"", req->line, ex->request_line);
    ex->method = trimmed(ex->request_line, (size_t)(sp - ex->request_line));
    char *path = sp + 1;
    while (*path == ' ') path++;
    char *pend = strchr(path, ' '); /* drops a trailing " HTTP/1.1" */
    ex->path = trimmed(path, pend ? (size_t)(pend - path) : strlen(path));
    if (ex->path[0] != '/') fail_msg("docs/api.md:%d: the path \"%s\" does not start with /", req->line, ex->path);
    /* Headers up to the blank line, then the body. */
    size_t hcap = 8, hn = 0;
    ex->headers = calloc(hcap + 2, sizeof *ex->headers);
    assert_non_null(ex->headers);
    bool content_type = false;
    p = *eol ? eol + 1 : eol;
    while (*p) {
        eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        char *h = trimmed(p, (size_t)(eol - p));
        p = *eol ? eol + 1 : eol;
        if (!*h) {
            free(h);
            break;
        }
        if (!strchr(h, ':')) fail_msg("docs/api.md:%d: \"%s\" is not a header (a blank line must come before the body)", req->line, h);
        if (strncasecmp(h, "Content-Type:", 13) == 0) content_type = true;
        if (hn == hcap) {
            hcap *= 2;
            ex->headers = realloc(ex->headers, (hcap + 2) * sizeof *ex->headers);
            assert_non_null(ex->headers);
        }
        ex->headers[hn++] = h;
    }
    char *body = trimmed(p, strlen(p));
    if (*body) {
        ex->body = body;
        if (!content_type) ex->headers[hn++] = tl_strdupf("Content-Type: application/json");
    } else {
        free(body);
    }
    ex->headers[hn] = NULL;
    free(text);

    /* The response block: "HTTP <status>" then the body. */
    p = resp->text;
    while (*p == '\n' || *p == '\r' || *p == ' ') p++;
    eol = strchr(p, '\n');
    if (!eol) eol = p + strlen(p);
    char *status = trimmed(p, (size_t)(eol - p));
    const char *s = status;
    if (strncmp(s, "HTTP/", 5) == 0) {
        s += 5;
        while (*s && *s != ' ') s++;
    } else if (strncmp(s, "HTTP", 4) == 0) {
        s += 4;
    } else {
        fail_msg("docs/api.md:%d: the response block does not start with \"HTTP <status>\": %s", resp->line, status);
    }
    ex->status = strtol(s, NULL, 10);
    if (ex->status < 100 || ex->status > 599)
        fail_msg("docs/api.md:%d: no status in \"%s\"", resp->line, status);
    free(status);
    char *expected = substitute(*eol ? eol + 1 : eol, names, values, nnames);
    ex->expected = trimmed(expected, strlen(expected));
    free(expected);
    /* The expected body must itself be valid JSON, or the doc is broken. */
    if (*ex->expected) {
        json_error_t je;
        json_t *v = json_loads(ex->expected, JSON_DECODE_ANY, &je);
        if (!v)
            fail_msg("docs/api.md:%d: the expected body is not JSON (%s, line %d): %s", resp->line, je.text,
                     je.line, ex->expected);
        json_decref(v);
    }
    if (ex->body && ex->body[0] == '{') {
        json_error_t je;
        json_t *v = json_loads(ex->body, 0, &je);
        if (!v)
            fail_msg("docs/api.md:%d: the request body is not JSON (%s, line %d): %s", req->line, je.text, je.line,
                     ex->body);
        json_decref(v);
    }
}

static void exampleFree(example *ex)
{
    free(ex->request_line);
    free(ex->method);
    free(ex->path);
    for (size_t i = 0; ex->headers && ex->headers[i]; i++) free(ex->headers[i]);
    free(ex->headers);
    free(ex->body);
    free(ex->expected);
}

/* Every example of the doc, with the keys filled in. */
static void loadExamples(examples *out, const char *md, const char *pos_key, const char *admin_key)
{
    const char *names[] = {"$POS_KEY", "$ADMIN_KEY"};
    const char *values[] = {pos_key, admin_key};
    size_t nf = 0;
    fence *fs = fences(md, &nf);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < nf; i++) {
        if (strcmp(fs[i].info, "http") != 0) continue;
        if (i + 1 >= nf || strcmp(fs[i + 1].info, "json") != 0)
            fail_msg("docs/api.md:%d: a ```http example must be followed by a ```json response block", fs[i].line);
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 32;
            out->v = realloc(out->v, out->cap * sizeof *out->v);
            assert_non_null(out->v);
        }
        parseExample(&out->v[out->n++], &fs[i], &fs[i + 1], names, values, 2);
        i++;
    }
    for (size_t i = 0; i < nf; i++) free(fs[i].text);
    free(fs);
}

/* A document may name its program file and clock in a comment of its first line:
 *   <!-- replay: program=examples/fashion.json now=2026-11-24T09:00:00Z -->
 * (both optional; the defaults are examples/program.json and NOW). */
static void replaySettings(const char *md, char *program, size_t psize, char *now, size_t nsize)
{
    snprintf(program, psize, "examples/program.json");
    snprintf(now, nsize, "%s", NOW);
    const char *nl = strchr(md, '\n');
    size_t first = nl ? (size_t)(nl - md) : strlen(md);
    const char *tag = strstr(md, "<!-- replay:");
    if (!tag || (size_t)(tag - md) >= first) return;
    const char *p = strstr(tag, "program=");
    if (p && (size_t)(p - md) < first) sscanf(p + 8, "%200[^ >\n]", program);
    const char *n = strstr(tag, "now=");
    if (n && (size_t)(n - md) < first) {
        char t[64] = "";
        sscanf(n + 4, "%60[^ >\n]", t);
        snprintf(now, nsize, "LOYAL_NOW=%s", t);
    }
}

/* Replays one document (rel to the source tree) on a fresh world; fails the test if any
 * example differs or the document has fewer than min_examples. */
static void replayDoc(const char *rel, size_t min_examples)
{
    char *doc = tl_source_path(rel);
    char *md = tl_read_file(doc, NULL);
    if (!md) fail_msg("cannot read %s", doc);
    free(doc);

    char program[256], now[96];
    replaySettings(md, program, sizeof program, now, sizeof now);
    tl_world w;
    tl_world_make(&w, "apidocs", program);
    examples exs;
    loadExamples(&exs, md, w.pos_key, w.admin_key);
    free(md);
    print_message("%s has %zu examples\n", rel, exs.n);

    tl_server s;
    const char *env[] = {now, NULL};
    tl_world_serve(&w, &s, env);

    size_t failed = 0;
    bool verbose = getenv("LOYAL_TEST_VERBOSE") != NULL;
    for (size_t i = 0; i < exs.n; i++) {
        example *ex = &exs.v[i];
        tl_response r;
        tl_http(&r, s.base, ex->method, ex->path, (const char *const *)ex->headers, ex->body, (size_t)-1);
        char *problem = NULL;
        if (verbose)
            print_message("example %zu (%s:%d) %s -> HTTP %ld %s\n", i + 1, rel, ex->line, ex->request_line,
                          r.status, r.body);
        if (r.status != ex->status) {
            problem = tl_strdupf("status: expected %ld, got %ld%s%s", ex->status, r.status, r.error[0] ? " " : "",
                                 r.error);
        } else if (!*ex->expected) {
            char *t = trimmed(r.body, r.body_len);
            if (*t) problem = tl_strdupf("expected no body");
            free(t);
        } else {
            json_error_t je;
            json_t *e = json_loads(ex->expected, JSON_DECODE_ANY, &je);
            json_t *a = json_loadb(r.body, r.body_len, JSON_DECODE_ANY, &je);
            if (!a) problem = tl_strdupf("the response is not JSON (%s)", je.text);
            else problem = tl_json_diff(e, a);
            json_decref(e);
            json_decref(a);
        }
        if (problem) {
            failed++;
            print_error("example %zu (%s:%d) %s\n  %s\n  expected: HTTP %ld %s\n  actual:   HTTP %ld %s\n",
                        i + 1, rel, ex->line, ex->request_line, problem, ex->status, ex->expected, r.status, r.body);
            free(problem);
        }
        tl_response_free(&r);
    }
    size_t n = exs.n;
    for (size_t i = 0; i < exs.n; i++) exampleFree(&exs.v[i]);
    free(exs.v);

    int stopped = tl_server_stop(&s);
    if (stopped != 0) {
        char *tail = tl_server_log_tail(&s, 4000);
        print_error("loyal serve exited %d:\n%s\n", stopped, tail);
        free(tail);
    }
    int checked = tl_world_check(&w);
    tl_world_free(&w);

    if (failed) fail_msg("%zu of %zu examples of %s differ from the server's answers", failed, n, rel);
    if (n < min_examples) fail_msg("%s has %zu examples; at least %zu are expected", rel, n, min_examples);
    assert_int_equal(stopped, 0);
    assert_int_equal(checked, 0);
}

static void the_examples_of_docs_api_md_are_what_the_server_answers(void **state)
{
    (void)state;
    replayDoc("docs/api.md", MIN_EXAMPLES);
}

/* The API reference of each feature area (docs/api-*.md) replays on a world of its own. */
static void the_examples_of_every_docs_api_page_are_what_the_server_answers(void **state)
{
    (void)state;
    char *pattern = tl_source_path("docs/api-*.md");
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g);
    free(pattern);
    if (rc == GLOB_NOMATCH) {
        print_message("no docs/api-*.md pages\n");
        return;
    }
    assert_int_equal(rc, 0);
    /* Copied out of the glob first: a failing page ends the test where it fails. */
    const char *src = getenv("LOYAL_SOURCE_DIR");
    char rels[32][256];
    size_t n = 0;
    for (size_t i = 0; i < g.gl_pathc && n < 32; i++)
        snprintf(rels[n++], sizeof rels[0], "%s", g.gl_pathv[i] + (src ? strlen(src) + 1 : 0));
    size_t found = g.gl_pathc;
    globfree(&g);
    if (found > n) fail_msg("more than %zu docs/api-*.md pages", n);
    for (size_t i = 0; i < n; i++) replayDoc(rels[i], 1);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_examples_of_docs_api_md_are_what_the_server_answers),
        cmocka_unit_test(the_examples_of_every_docs_api_page_are_what_the_server_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
