/*
 * test_import.c - `loyal import` as a user runs it: the real binary on real and synthetic
 * CSV files, checked through the database it writes (sqlite3) and `loyal check`.
 */
#include "testlib.h"

#include "os/csv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The program the tests import under: pounds with pence, London time (summer time from
 * the last Sunday of March). */
static const char programJson[] =
    "{\"name\":\"Test\",\"currency\":\"GBP\",\"minor_units\":2,\"time_zone\":\"Europe/London\","
    "\"phone\":{\"country_code\":\"44\",\"trunk_prefix\":\"0\"},"
    "\"earn\":{\"rate_percent\":\"5\",\"base\":\"paid\",\"rounding\":\"down\"},"
    "\"points\":{\"value\":\"0.01\",\"max_share_percent\":\"50\",\"min_redeem\":1,\"hold_days\":14,"
    "\"expiry_days\":365,\"on_return_debt\":\"negative\"}}\n";

typedef struct world {
    char *dir, *db, *program;
} world;

static void worldMake(world *w)
{
    w->dir = tl_tempdir("import");
    w->db = tl_join(w->dir, "loyal.db");
    w->program = tl_join(w->dir, "program.json");
    assert_int_equal(tl_write_file(w->program, programJson, (size_t)-1), 0);
    tl_run r;
    int code = tl_loyal(&r, NULL, "init", "--db", w->db, "--program", w->program, "--no-keys", NULL);
    if (code != 0) fail_msg("loyal init: %d\n%s%s", code, r.out, r.err);
    tl_run_free(&r);
}

static void worldFree(world *w)
{
    tl_rmtree(w->dir);
    free(w->dir);
    free(w->db);
    free(w->program);
}

/* Writes a file in the world's directory; returns its malloc'd path. */
static char *file(const world *w, const char *name, const char *text)
{
    char *p = tl_join(w->dir, name);
    assert_int_equal(tl_write_file(p, text, (size_t)-1), 0);
    return p;
}

/* Runs sql on the world's database, opened read-only, up to its first row (the test fails
 * when there is none). The caller finalizes the statement and closes *db. */
static sqlite3_stmt *firstRow(const world *w, const char *sql, sqlite3 **db)
{
    if (sqlite3_open_v2(w->db, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", w->db, sqlite3_errmsg(*db));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(*db));
    if (sqlite3_step(st) != SQLITE_ROW) fail_msg("%s: no row", sql);
    return st;
}

/* The integer the query gives (its first column of its first row). */
static long long q(const world *w, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = firstRow(w, sql, &db);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The text the query gives, malloc'd ("" for NULL). */
static char *qs(const world *w, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st = firstRow(w, sql, &db);
    const unsigned char *t = sqlite3_column_text(st, 0);
    char *v = strdup(t ? (const char *)t : "");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void expectCode(const tl_run *r, int code, const char *what)
{
    if (r->code != code)
        fail_msg("%s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", what, r->code, code, r->out, r->err);
}

static void expectIn(const char *text, const char *needle, const char *what)
{
    if (!strstr(text, needle)) fail_msg("%s: '%s' not found in:\n%s", what, needle, text);
}

/* `loyal check` finds the world's books consistent. */
static void assertChecked(const world *w)
{
    assert_int_equal(tl_world_check(&(tl_world){.dir = w->dir, .db = w->db, .program = w->program}), 0);
}

/* Writes text as name in the world's directory and imports it: the import must refuse it
 * as bad data (exit 3) with needle in its standard error. */
static void expectRefused(const world *w, const char *name, const char *text, const char *needle,
                          const char *what)
{
    char *path = file(w, name, text);
    tl_run r;
    tl_loyal(&r, NULL, "import", "--db", w->db, "--program", w->program, path, NULL);
    expectCode(&r, 3, what);
    expectIn(r.err, needle, what);
    tl_run_free(&r);
    free(path);
}

/* The number after "label: " in a summary. */
static long summaryValue(const char *out, const char *label)
{
    char key[128];
    snprintf(key, sizeof key, "%s: ", label);
    const char *p = strstr(out, key);
    if (!p) fail_msg("no '%s' in the summary:\n%s", label, out);
    return strtol(p + strlen(key), NULL, 10);
}

/* ---------------------------------------------------------------------------------------
 * A small independent CSV reader for the expectations: splits text into records of fields
 * (quotes, doubled quotes, CRLF), calling fn for every record after the header.
 * ------------------------------------------------------------------------------------- */

typedef void (*recordFn)(void *ctx, char **fields, size_t n);

static void csvEach(const char *text, recordFn fn, void *ctx)
{
    char *buf = malloc(strlen(text) + 1);
    char *fields[64];
    size_t n = 0, len = 0, start = 0;
    bool quoted = false, header = true;
    assert_non_null(buf);
    for (const char *p = text;; p++) {
        char ch = *p;
        if (quoted) {
            if (ch == '"' && p[1] == '"') {
                buf[len++] = '"';
                p++;
            } else if (ch == '"') {
                quoted = false;
            } else {
                assert_true(ch != '\0');
                buf[len++] = ch;
            }
            continue;
        }
        if (ch == '"' && len == start) {
            quoted = true;
        } else if (ch == ',' || ch == '\n' || ch == '\0' || ch == '\r') {
            if (ch == '\r') continue;
            buf[len++] = '\0';
            if (n < 64) fields[n++] = buf + start;
            start = len;
            if (ch != ',') {
                if (!(n == 1 && fields[0][0] == '\0')) {
                    if (!header) fn(ctx, fields, n);
                    header = false;
                }
                n = 0;
                len = start = 0;
                if (ch == '\0') break;
            }
        } else {
            buf[len++] = ch;
        }
    }
    free(buf);
}

typedef struct strSet {
    char **v;
    size_t n, cap;
} strSet;

static void setAdd(strSet *s, const char *v)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    s->v[s->n++] = strdup(v);
}

static int cmpStr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t setDistinct(strSet *s)
{
    if (!s->n) return 0;
    qsort(s->v, s->n, sizeof *s->v, cmpStr);
    size_t d = 1;
    for (size_t i = 1; i < s->n; i++) d += strcmp(s->v[i], s->v[i - 1]) != 0;
    return d;
}

static void setFree(strSet *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}

typedef struct retailFacts {
    strSet sales;      /* invoices not starting with C that have a line with quantity > 0 */
    strSet customers;  /* customer ids, "13085.0" as "13085" */
    strSet blocks;     /* invoice ids in the order their blocks of rows start */
    bool repeat;       /* the current block repeats an earlier invoice's */
    long cancel_lines; /* lines of cancellations, not counting repeated blocks */
} retailFacts;

static void retailRecord(void *ctx, char **f, size_t n)
{
    retailFacts *rf = ctx;
    assert_int_equal(n, 8);
    if (!rf->blocks.n || strcmp(rf->blocks.v[rf->blocks.n - 1], f[0]) != 0) {
        rf->repeat = false;
        for (size_t i = 0; i < rf->blocks.n && !rf->repeat; i++)
            rf->repeat = strcmp(rf->blocks.v[i], f[0]) == 0;
        setAdd(&rf->blocks, f[0]);
    }
    if (f[0][0] == 'C' && !rf->repeat) rf->cancel_lines++;
    else if (atol(f[3]) > 0) setAdd(&rf->sales, f[0]);
    if (f[6][0]) {
        char id[64];
        snprintf(id, sizeof id, "%s", f[6]);
        char *dot = strstr(id, ".0");
        if (dot && dot[2] == '\0') *dot = '\0';
        setAdd(&rf->customers, id);
    }
}

/* ---------------------------------------------------------------------------------------
 * The CSV reader itself (src/cli/csv.c)
 * ------------------------------------------------------------------------------------- */

/* Reads text with the reader; returns the records as "f1|f2|..." joined by "\n", each
 * prefixed with its line ("3:"), and on an error "ERR line: message". malloc'd. */
static char *csvDump(const char *text, size_t len, char delim)
{
    FILE *f = fmemopen((void *)text, len, "rb");
    assert_non_null(f);
    ly_csv *c = ly_csv_open(f, delim);
    assert_non_null(c);
    size_t cap = 2 * len + 256, n = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    int r;
    while ((r = ly_csv_next(c)) == 1) {
        n += (size_t)snprintf(out + n, cap - n, "%ld:", ly_csv_line(c));
        for (size_t i = 0; i < ly_csv_nfields(c); i++)
            n += (size_t)snprintf(out + n, cap - n, "%s%s", i ? "|" : "", ly_csv_field(c, i));
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    if (r < 0) snprintf(out + n, cap - n, "ERR %ld: %s", ly_csv_line(c), ly_csv_error(c));
    ly_csv_close(c);
    fclose(f);
    return out;
}

static void expectDump(const char *text, char delim, const char *want)
{
    char *got = csvDump(text, strlen(text), delim);
    /* an expected error is matched by its beginning, records exactly */
    bool ok = strstr(want, "ERR") ? strncmp(got, want, strlen(want)) == 0 : strcmp(got, want) == 0;
    if (!ok)
        fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", text, got, want);
    free(got);
}

static void test_csv_reader(void **state)
{
    (void)state;
    expectDump("a,b\r\n1,2\r\n", ',', "1:a|b\n2:1|2\n");
    expectDump("\xef\xbb\xbf" "a,b\n1,2", ',', "1:a|b\n2:1|2\n");      /* BOM, no final newline */
    expectDump("a,b\r1,2\r", ',', "1:a|b\n2:1|2\n");                     /* lone CR */
    expectDump("a\n\n\r\n,\nx,\n", ',', "1:a\n4:|\n5:x|\n");             /* empty lines, empty fields */
    expectDump("\"a,b\",\"say \"\"hi\"\"\",\"\"\n", ',', "1:a,b|say \"hi\"|\n");
    expectDump("\"two\r\nlines\",x\nnext,y\n", ',', "1:two\r\nlines|x\n3:next|y\n");
    expectDump("12\" vinyl,x\n", ',', "1:12\" vinyl|x\n");               /* quote inside unquoted */
    expectDump("a\tb;c\n", '\t', "1:a|b;c\n");
    expectDump("ok\n\"open,x\nmore\n", ',', "1:ok\nERR 2: the quoted field 1 opened on line 2");
    expectDump("ok\n\"a\"b,x\n", ',', "1:ok\nERR 2: unexpected 'b' after the closing quote");
    char nul[] = "a,b\nc\0d\n";
    char *got = csvDump(nul, sizeof nul - 1, ',');
    expectIn(got, "ERR 2: NUL byte", "NUL byte refused");
    free(got);

    /* Records and quotes across the reader's 64 KiB blocks. */
    size_t big = 200000;
    char *text = malloc(big + 64);
    assert_non_null(text);
    size_t n = 0;
    n += (size_t)sprintf(text + n, "h1,h2\n\"");
    for (size_t i = 0; n < big; i++) {
        if (i % 3 == 0) {
            text[n++] = '"';
            text[n++] = '"';
        } else {
            text[n++] = 'x';
        }
    }
    n += (size_t)sprintf(text + n, "\",end\nlast,row\n");
    text[n] = '\0';
    got = csvDump(text, n, ',');
    char *second = strchr(got, '\n');
    assert_non_null(second);
    assert_true(strncmp(second + 1, "2:\"xx\"xx", 8) == 0);
    expectIn(got, "|end\n3:last|row\n", "after a long record");
    free(got);
    free(text);

    /* A record over the limit is refused. */
    size_t huge = LY_CSV_RECORD_MAX + 10;
    text = malloc(huge + 8);
    assert_non_null(text);
    memset(text, 'y', huge);
    memcpy(text + huge, "\n", 2);
    got = csvDump(text, huge + 1, ',');
    expectIn(got, "ERR 1: record longer than", "record limit");
    free(got);
    free(text);
}

/* ---------------------------------------------------------------------------------------
 * (1) The Online Retail II subset
 * ------------------------------------------------------------------------------------- */

/* The shared Online Retail II subset, malloc'd, or NULL when it is not there. */
static char *retailPath(void)
{
    const char *shared = getenv("LOYAL_SHARED_DATA");
    char *csv = shared ? tl_join(shared, "online_retail_II_subset.csv") : NULL;
    if (csv && access(csv, R_OK) == 0) return csv;
    free(csv);
    return NULL;
}

static void test_online_retail(void **state)
{
    (void)state;
    char *csv = retailPath();
    if (!csv) skip();
    char *text = tl_read_file(csv, NULL);
    assert_non_null(text);
    retailFacts rf = {0};
    csvEach(text, retailRecord, &rf);
    size_t n_sales = setDistinct(&rf.sales);
    size_t n_customers = setDistinct(&rf.customers);
    assert_int_equal(n_customers, 262);

    world w;
    worldMake(&w);
    tl_run r;
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--layout", "online_retail",
             csv, NULL);
    expectCode(&r, 0, "import online_retail");
    printf("%s", r.out);
    assert_int_equal(summaryValue(r.out, "receipts imported"), (long)n_sales);
    assert_int_equal(summaryValue(r.out, "customers created"), 262);
    assert_int_equal(summaryValue(r.out, "cancellation lines"), rf.cancel_lines);
    long returns = summaryValue(r.out, "returns imported");
    assert_true(returns > 0);
    tl_run_free(&r);

    assert_int_equal(q(&w, "SELECT count(*) FROM identifiers WHERE kind = 'external'"), 262);
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 262);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), (long long)n_sales);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts WHERE receipt_id LIKE 'C%'"), 0);
    assert_int_equal(q(&w, "SELECT count(*) FROM returns"), returns);
    assert_true(q(&w, "SELECT count(*) FROM return_lines") > 0);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts WHERE channel <> 'online'"), 0);
    /* History earns nothing by default. */
    assert_int_equal(q(&w, "SELECT count(*) FROM lots"), 0);
    assert_int_equal(q(&w, "SELECT coalesce(sum(points_earned), 0) FROM receipts"), 0);
    /* Local London times: winter is UTC, summer is UTC+1. */
    assert_int_equal(q(&w, "SELECT time = CAST(strftime('%s', '2009-12-06 10:30:00') AS INTEGER) "
                           "AND utc_offset = 0 FROM receipts WHERE receipt_id = '490397'"), 1);
    assert_int_equal(q(&w, "SELECT time = CAST(strftime('%s', '2010-04-01 09:05:00') AS INTEGER) "
                           "AND utc_offset = 60 FROM receipts WHERE receipt_id = '503438'"), 1);
    /* 6 x 2.95 = 17.70; store is the country; the customer is 12417 enrolled at that time. */
    assert_int_equal(q(&w, "SELECT amount FROM receipt_lines JOIN receipts ON receipts.id = receipt "
                           "WHERE receipt_id = '490397' AND line_no = 0"), 1770);
    char *store = qs(&w, "SELECT store FROM receipts WHERE receipt_id = '490397'");
    assert_string_equal(store, "Belgium");
    free(store);
    assert_int_equal(q(&w, "SELECT c.enrolled_at = r.time FROM receipts r JOIN identifiers i ON "
                           "i.customer_id = r.customer_id AND i.kind = 'external' AND i.value = "
                           "'12417' JOIN customers c ON c.id = r.customer_id WHERE r.receipt_id = "
                           "'490397'"), 1);
    /* Anonymous invoices stay anonymous. */
    assert_true(q(&w, "SELECT count(*) FROM receipts WHERE customer_id IS NULL") > 0);
    assertChecked(&w);

    /* (3) Importing the same file again changes nothing. */
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--layout", "online_retail",
             "--quiet", csv, NULL);
    expectCode(&r, 0, "second import");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 0);
    assert_int_equal(summaryValue(r.out, "returns imported"), 0);
    assert_int_equal(summaryValue(r.out, "customers created"), 0);
    assert_int_equal(summaryValue(r.out, "receipts already in the database"), (long)n_sales);
    tl_run_free(&r);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), (long long)n_sales);
    assert_int_equal(q(&w, "SELECT count(*) FROM returns"), returns);
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 262);

    setFree(&rf.sales);
    setFree(&rf.customers);
    setFree(&rf.blocks);
    free(text);
    free(csv);
    worldFree(&w);
}

/* With --points the same history earns points, and the books still balance. */
static void test_online_retail_points(void **state)
{
    (void)state;
    char *csv = retailPath();
    if (!csv) skip();
    world w;
    worldMake(&w);
    tl_run r;
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--layout", "online_retail",
             "--points", "--quiet", csv, NULL);
    expectCode(&r, 0, "import --points");
    tl_run_free(&r);
    assert_true(q(&w, "SELECT sum(points_earned) FROM receipts") > 0);
    assert_true(q(&w, "SELECT count(*) FROM lots") > 0);
    assert_true(q(&w, "SELECT count(*) FROM ledger WHERE kind = 'return'") > 0);
    assertChecked(&w);
    free(csv);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * (2) A bad row: exit 3, its line named, nothing written
 * ------------------------------------------------------------------------------------- */

static void test_bad_row(void **state)
{
    (void)state;
    world w;
    worldMake(&w);
    expectRefused(&w, "bad.csv",
                  "receipt_id,time,store,sku,qty,price,customer_card\n"
                  "A1,2024-03-01 10:00:00,Main,X,1,1.00,C1\n"
                  "A2,2024-03-01 11:00:00,Main,X,1,1.00,C2\n"
                  "A3,2024-03-01 12:00:00,Main,X,one,1.00,C3\n"
                  "A4,2024-03-01 13:00:00,Main,X,1,1.00,C4\n",
                  "bad.csv:4: column qty: ", "bad row: the error names the line and column");
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), 0);
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 0);

    /* An error found by the service (amount over qty x price) on the second line of a receipt
     * is reported at that line too. */
    expectRefused(&w, "bad2.csv",
                  "receipt_id,time,store,sku,qty,price,amount\n"
                  "B1,2024-03-01 10:00:00,Main,X,1,1.00,\n"
                  "B2,2024-03-01 11:00:00,Main,X,1,1.00,1.00\n"
                  "B2,2024-03-01 11:00:00,Main,Y,1,1.00,5.00\n"
                  "B3,2024-03-01 12:00:00,Main,X,1,1.00,\n",
                  "bad2.csv:4: column amount: ", "amount over price: service error mapped to its line");

    /* A broken quote, a bad time, a missing column. */
    expectRefused(&w, "bad3.csv", "receipt_id,time,store,sku,qty,price\n"
                                  "C1,2024-03-01 10:00:00,Main,\"X\"Y,1,1.00\n",
                  "bad3.csv:2: ", "text after a closing quote");
    expectRefused(&w, "bad4.csv", "receipt_id,time,store,sku,qty,price\n"
                                  "D1,2024-02-30 10:00:00,Main,X,1,1.00\n",
                  "bad4.csv:2: column time: ", "bad date");
    expectRefused(&w, "bad5.csv", "receipt_id,time,store,sku,price\nE1,2024-03-01,Main,X,1\n",
                  "no column 'qty'", "missing column");
    /* A receipt id used again further down with other rows. */
    expectRefused(&w, "bad6.csv", "receipt_id,time,store,sku,qty,price\n"
                                  "F1,2024-03-01,Main,X,1,1\nF2,2024-03-01,Main,X,1,1\n"
                                  "F1,2024-03-01,Main,X,2,1\n",
                  "bad6.csv:4: column receipt_id: ", "receipt id reused");
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), 0);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * (4) --map: any CSV with a header
 * ------------------------------------------------------------------------------------- */

static void test_map(void **state)
{
    (void)state;
    world w;
    worldMake(&w);
    char *csv = file(&w, "shop.csv",
                     "Date;InvoiceNo;Client;Item;Note;Qty;UnitPrice\r\n"
                     "2024-05-02 18:30;INV-1;K-7;apple;x;3;0,40\r\n"
                     "2024-05-02 18:30;INV-1;K-7;pear;;1,5;2\r\n"
                     "2024-05-03 09:00;INV-2;;apple;;1;0,40\r\n"
                     "2024-05-04 12:00;INV-3;K-7;plum;;2;1.25\r\n");
    tl_run r;
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--delimiter", ";",
             "--map", "receipt_id=InvoiceNo,sku=Item,qty=Qty,price=UnitPrice,time=Date",
             "--map", "customer_external_id=Client", "--set", "store=web", "--set", "channel=app",
             csv, NULL);
    expectCode(&r, 0, "import --map");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 3);
    assert_int_equal(summaryValue(r.out, "customers created"), 1);
    tl_run_free(&r);
    assert_int_equal(q(&w, "SELECT total FROM receipts WHERE receipt_id = 'INV-1'"), 120 + 300);
    assert_int_equal(q(&w, "SELECT qty FROM receipt_lines JOIN receipts ON receipts.id = receipt "
                           "WHERE receipt_id = 'INV-1' AND sku = 'pear'"), 1500);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts WHERE store = 'web' AND channel = 'app'"), 3);
    assert_int_equal(q(&w, "SELECT count(DISTINCT customer_id) FROM receipts WHERE receipt_id IN "
                           "('INV-1', 'INV-3')"), 1);
    assert_int_equal(q(&w, "SELECT customer_id IS NULL FROM receipts WHERE receipt_id = 'INV-2'"), 1);
    assert_int_equal(q(&w, "SELECT count(*) FROM identifiers WHERE kind = 'external' AND value = 'K-7'"), 1);
    /* summer time: 18:30 in London is 17:30 UTC */
    assert_int_equal(q(&w, "SELECT time = CAST(strftime('%s', '2024-05-02 17:30:00') AS INTEGER) "
                           "FROM receipts WHERE receipt_id = 'INV-1'"), 1);

    /* A mapping to a column the file does not have, and a field Loyal does not know. */
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--delimiter", ";",
             "--map", "receipt_id=Invoice", csv, NULL);
    expectCode(&r, 3, "mapped column missing");
    expectIn(r.err, "no column 'Invoice'", "missing mapped column");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--map", "colour=Note", csv, NULL);
    expectCode(&r, 2, "unknown field");
    tl_run_free(&r);
    free(csv);
    worldFree(&w);
}

/* ---------------------------------------------------------------------------------------
 * (5) The loyal layout, with returns; (3) idempotent; dry run; standard input
 * ------------------------------------------------------------------------------------- */

static const char loyalCsv[] =
    "\xef\xbb\xbfreceipt_id,time,store,channel,cashier,payment,customer_external_id,customer_card,"
    "customer_phone,customer_email,sku,name,category,brand,qty,price,amount,return_of\r\n"
    "R1,2024-03-01 10:00:00,Main,store,ann,card,,C100,07700 900123,,MILK,\"Milk, \"\"fresh\"\"\","
    "dairy,Farm,2,1.20,,\r\n"
    "R1,2024-03-01 10:00:00,Main,store,ann,card,,C100,07700 900123,,BREAD,\"Bread\nsliced\","
    "bakery,,1,2.50,2.00,\r\n"
    "R2,2024-03-02T09:00:00Z,Web,online,,,,,+44 7700 900123,,MILK,Milk,dairy,,1.5,1.20,,\r\n"
    "R3,2024-03-03,Main,,,,,,,ann@example.com,CHEESE,Cheese,dairy,,0.25,12.99,,\r\n"
    "RET1,2024-03-05 12:00:00,Main,,,,,,,,MILK,,,,1,,,R1\r\n"
    "RET1,2024-03-05 12:00:00,Main,,,,,,,,BREAD,,,,1,,,R1\r\n"
    "RET2,2024-03-06 12:00:00,Main,,,,,,,,MILK,,,,0.5,,,R2\r\n";

static void test_loyal_layout(void **state)
{
    (void)state;
    world w;
    worldMake(&w);
    char *csv = file(&w, "history.csv", loyalCsv);
    tl_run r;

    /* A dry run checks everything and writes nothing. */
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--dry-run", csv, NULL);
    expectCode(&r, 0, "dry run");
    expectIn(r.out, "dry run", "dry run said");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 3);
    assert_int_equal(summaryValue(r.out, "returns imported"), 2);
    tl_run_free(&r);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), 0);
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 0);

    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, csv, NULL);
    expectCode(&r, 0, "import loyal layout");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 3);
    assert_int_equal(summaryValue(r.out, "returns imported"), 2);
    assert_int_equal(summaryValue(r.out, "customers created"), 2);
    tl_run_free(&r);

    /* R1 and R2 are one customer (card + phone, then the same phone); R3 another (email). */
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 2);
    assert_int_equal(q(&w, "SELECT count(DISTINCT customer_id) FROM receipts WHERE receipt_id IN ('R1','R2')"), 1);
    char *kind = qs(&w, "SELECT id_kind FROM receipts WHERE receipt_id = 'R2'");
    assert_string_equal(kind, "phone");
    free(kind);
    assert_int_equal(q(&w, "SELECT count(*) FROM identifiers WHERE value = '+447700900123'"), 1);
    /* Lines: 2 x 1.20 = 2.40; bread's own amount 2.00; 0.25 x 12.99 = 3.2475 -> 3.25. */
    assert_int_equal(q(&w, "SELECT total FROM receipts WHERE receipt_id = 'R1'"), 440);
    assert_int_equal(q(&w, "SELECT total FROM receipts WHERE receipt_id = 'R3'"), 325);
    char *name = qs(&w, "SELECT name FROM receipt_lines JOIN receipts ON receipts.id = receipt "
                        "WHERE receipt_id = 'R1' AND sku = 'MILK'");
    assert_string_equal(name, "Milk, \"fresh\"");
    free(name);
    name = qs(&w, "SELECT name FROM receipt_lines JOIN receipts ON receipts.id = receipt "
                  "WHERE receipt_id = 'R1' AND sku = 'BREAD'");
    assert_string_equal(name, "Bread\nsliced");
    free(name);
    assert_int_equal(q(&w, "SELECT time = CAST(strftime('%s', '2024-03-02 09:00:00') AS INTEGER) "
                           "FROM receipts WHERE receipt_id = 'R2'"), 1);
    assert_int_equal(q(&w, "SELECT channel = 'store' FROM receipts WHERE receipt_id = 'R3'"), 1);
    /* Returns: RET1 takes one milk (1.20) and the bread (2.00) back from R1. */
    assert_int_equal(q(&w, "SELECT amount FROM returns WHERE return_id = 'RET1'"), 120 + 200);
    assert_int_equal(q(&w, "SELECT sum(returned_qty) FROM receipt_lines JOIN receipts ON "
                           "receipts.id = receipt WHERE receipt_id = 'R1'"), 2000);
    assert_int_equal(q(&w, "SELECT returned_qty FROM receipt_lines JOIN receipts ON "
                           "receipts.id = receipt WHERE receipt_id = 'R2'"), 500);
    assertChecked(&w);

    /* (3) Again, from standard input: nothing new. */
    char *cmd = tl_strdupf("'%s' import --db '%s' --program '%s' --quiet - < '%s' > '%s/again.out' 2>&1",
                           tl_loyal_bin(), w.db, w.program, csv, w.dir);
    int st = system(cmd);
    free(cmd);
    char *outPath = tl_join(w.dir, "again.out");
    char *out = tl_read_file(outPath, NULL);
    assert_non_null(out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) fail_msg("import from stdin failed:\n%s", out);
    expectIn(out, "import: stdin:", "stdin named");
    assert_int_equal(summaryValue(out, "receipts imported"), 0);
    assert_int_equal(summaryValue(out, "returns imported"), 0);
    assert_int_equal(summaryValue(out, "receipts already in the database"), 3);
    assert_int_equal(summaryValue(out, "returns already in the database"), 2);
    free(out);
    free(outPath);
    assert_int_equal(q(&w, "SELECT count(*) FROM receipts"), 3);
    assert_int_equal(q(&w, "SELECT count(*) FROM returns"), 2);
    assert_int_equal(q(&w, "SELECT count(*) FROM customers"), 2);

    /* A receipt already imported is left as it is even when the file now says otherwise. */
    char *changed = file(&w, "changed.csv", "receipt_id,time,store,sku,qty,price\n"
                                            "R3,2024-03-03,Main,CHEESE,1,12.99\n");
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, changed, NULL);
    expectCode(&r, 0, "changed receipt");
    expectIn(r.err, "changed.csv:2: warning: receipt R3 is already in the database", "warned");
    tl_run_free(&r);
    assert_int_equal(q(&w, "SELECT total FROM receipts WHERE receipt_id = 'R3'"), 325);
    free(changed);

    /* A return of more than is left, or of a receipt that does not exist, is bad data. */
    expectRefused(&w, "more.csv", "receipt_id,time,store,sku,qty,price,return_of\n"
                                  "RET3,2024-03-07,Main,MILK,5,,R1\n",
                  "more.csv:2: column qty: ", "return too much");
    expectRefused(&w, "none.csv", "receipt_id,time,store,sku,qty,price,return_of\n"
                                  "RET4,2024-03-07,Main,MILK,1,,NOPE\n",
                  "none.csv:2: column return_of: ", "return of unknown receipt");
    assert_int_equal(q(&w, "SELECT count(*) FROM returns"), 2);

    free(csv);
    worldFree(&w);
}

/* online_retail conventions on a small file: skipped lines, cancellations matched newest
 * first and split over receipts, unmatched ones counted. */
static void test_online_retail_rules(void **state)
{
    (void)state;
    world w;
    worldMake(&w);
    char *csv = file(&w, "retail.csv",
                     "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n"
                     "500001,MUG,\"MUG, RED\",6,2010-01-05 10:00:00,2.95,100.0,United Kingdom\n"
                     "500001,POST,POSTAGE,1,2010-01-05 10:00:00,0,100.0,United Kingdom\n"
                     "500001,B,Bad debt,-1,2010-01-05 10:00:00,5.00,100.0,United Kingdom\n"
                     "500002,MUG,\"MUG, RED\",2,2010-02-05 10:00:00,2.95,100.0,United Kingdom\n"
                     "500003,MUG,\"MUG, RED\",1,2010-02-06 10:00:00,2.95,,United Kingdom\n"
                     "C500004,MUG,\"MUG, RED\",-3,2010-03-01 10:00:00,2.95,100.0,United Kingdom\n"
                     "C500004,BOWL,BOWL,-1,2010-03-01 10:00:00,4.00,100.0,United Kingdom\n"
                     "C500005,MUG,\"MUG, RED\",-1,2010-03-02 10:00:00,2.95,,United Kingdom\n"
                     "C500006,MUG,\"MUG, RED\",-1,2010-03-02 11:00:00,2.95,200.0,France\n");
    tl_run r;
    tl_loyal(&r, NULL, "import", "--db", w.db, "--program", w.program, "--layout", "online_retail",
             csv, NULL);
    expectCode(&r, 0, "import retail rules");
    assert_int_equal(summaryValue(r.out, "receipts imported"), 3);
    assert_int_equal(summaryValue(r.out, "lines skipped"), 1);
    assert_int_equal(summaryValue(r.out, "customers created"), 2);
    assert_int_equal(summaryValue(r.out, "cancellation lines"), 4);
    assert_int_equal(summaryValue(r.out, "  matched"), 1);
    assert_int_equal(summaryValue(r.out, "  unmatched"), 3);
    assert_int_equal(summaryValue(r.out, "returns imported"), 2);
    tl_run_free(&r);
    /* The zero-price postage line is kept, the bad-debt line is not. */
    assert_int_equal(q(&w, "SELECT n_lines FROM receipts WHERE receipt_id = '500001'"), 2);
    /* 3 mugs: 2 from 500002 (newest), 1 from 500001. */
    assert_int_equal(q(&w, "SELECT returned_qty FROM receipt_lines JOIN receipts ON "
                           "receipts.id = receipt WHERE receipt_id = '500002' AND sku = 'MUG'"), 2000);
    assert_int_equal(q(&w, "SELECT returned_qty FROM receipt_lines JOIN receipts ON "
                           "receipts.id = receipt WHERE receipt_id = '500001' AND sku = 'MUG'"), 1000);
    assert_int_equal(q(&w, "SELECT count(*) FROM returns WHERE return_id IN "
                           "('C500004/500002', 'C500004/500001')"), 2);
    assertChecked(&w);
    free(csv);
    worldFree(&w);
}

static void test_usage(void **state)
{
    (void)state;
    tl_run r;
    tl_loyal(&r, NULL, "import", "--help", NULL);
    expectCode(&r, 0, "--help");
    expectIn(r.out, "usage: loyal import", "usage text");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", NULL);
    expectCode(&r, 2, "no file");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--layout", "excel", "x.csv", NULL);
    expectCode(&r, 2, "unknown layout");
    tl_run_free(&r);
    tl_loyal(&r, NULL, "import", "--delimiter", "ab", "x.csv", NULL);
    expectCode(&r, 2, "bad delimiter");
    tl_run_free(&r);
}

int main(void)
{
    tl_loyal_bin();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_reader),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_bad_row),
        cmocka_unit_test(test_map),
        cmocka_unit_test(test_loyal_layout),
        cmocka_unit_test(test_online_retail_rules),
        cmocka_unit_test(test_online_retail_points),
        cmocka_unit_test(test_online_retail),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    char *retail = retailPath();
    if (failed == 0 && !retail) {
        /* Everything else passed, but the import of the real data could not be tried. */
        printf("online_retail_II_subset.csv not found under LOYAL_SHARED_DATA: skipped\n");
        return TL_SKIP;
    }
    free(retail);
    return failed;
}
