/*
 * import.c - `loyal import`: purchase history from CSV (docs/import.md).
 *
 * The whole file is one write job: the job's run function reads the CSV itself, row by row,
 * gathers the consecutive rows of one receipt, and applies each receipt as service
 * operations (create the customer, confirm the receipt, take the returns) through
 * ly_service_apply on the writer's connection. A bad row makes the run function fail, and
 * the store rolls back everything the file did. Memory stays bounded by the largest receipt
 * plus a few small indexes (ids seen, identifiers, and for cancellations the lines of the
 * identified customers' receipts).
 */
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "os/csv.h"
#include "os/os.h"
#include "service/service.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Fields and layouts
 * ------------------------------------------------------------------------------------- */

typedef enum field {
    F_RECEIPT_ID = 0,
    F_TIME,
    F_STORE,
    F_CHANNEL,
    F_CASHIER,
    F_PAYMENT,
    F_EXTERNAL,
    F_CARD,
    F_PHONE,
    F_EMAIL,
    F_SKU,
    F_NAME,
    F_CATEGORY,
    F_BRAND,
    F_QTY,
    F_PRICE,
    F_AMOUNT,
    F_RETURN_OF,
    F_COUNT
} field;

static const char *const fieldNames[F_COUNT] = {
    "receipt_id", "time", "store", "channel", "cashier", "payment",
    "customer_external_id", "customer_card", "customer_phone", "customer_email",
    "sku", "name", "category", "brand", "qty", "price", "amount", "return_of"};

#define BIT(f) (1u << (f))
#define REQUIRED (BIT(F_RECEIPT_ID) | BIT(F_TIME) | BIT(F_SKU) | BIT(F_QTY) | BIT(F_PRICE))

/* The customer identifier fields, in the order they are tried, with their kinds. */
static const struct {
    field f;
    ly_id_kind kind;
} idFields[] = {
    {F_EXTERNAL, LY_ID_EXTERNAL}, {F_CARD, LY_ID_CARD}, {F_PHONE, LY_ID_PHONE}, {F_EMAIL, LY_ID_EMAIL}};
#define N_ID_FIELDS 4

typedef struct layout {
    const char *name;
    const char *columns[F_COUNT]; /* the columns it reads by default; NULL: none */
    unsigned required;            /* fields whose column must exist (or be --set) */
    ly_sales_channel channel;     /* when no channel column */
    bool cancel_prefix;           /* receipt ids starting with 'C' are cancellations */
    bool float_ids;               /* "13085.0" is customer 13085 */
    bool lenient_lines;           /* skip sale lines with qty <= 0 or price < 0 */
} layout;

static const layout layouts[] = {
    {.name = "loyal",
     .columns = {"receipt_id", "time", "store", "channel", "cashier", "payment",
                 "customer_external_id", "customer_card", "customer_phone", "customer_email",
                 "sku", "name", "category", "brand", "qty", "price", "amount", "return_of"},
     .required = REQUIRED,
     .channel = LY_SALES_STORE},
    {.name = "online_retail",
     .columns = {[F_RECEIPT_ID] = "Invoice", [F_SKU] = "StockCode", [F_NAME] = "Description",
                 [F_QTY] = "Quantity", [F_TIME] = "InvoiceDate", [F_PRICE] = "Price",
                 [F_EXTERNAL] = "Customer ID", [F_STORE] = "Country"},
     .required = REQUIRED | BIT(F_STORE),
     .channel = LY_SALES_ONLINE,
     .cancel_prefix = true,
     .float_ids = true,
     .lenient_lines = true},
};

/* Why a line was left out. */
enum {
    SKIP_QTY_NOT_POSITIVE = 0,
    SKIP_NEGATIVE_PRICE,
    SKIP_CANCEL_NOT_NEGATIVE,
    SKIP_COUNT
};
static const char *const skipNames[SKIP_COUNT] = {
    "quantity zero or negative in a sale",
    "negative price in a sale",
    "quantity zero or positive in a cancellation"};

/* ---------------------------------------------------------------------------------------
 * A hash map from (tag, string) to an integer, for everything the run remembers:
 *   'i' + kind digit: normalised identifier -> customer id (0: known to be nobody's)
 *   's' receipt id, 'r' return id -> index into the ids-seen table
 *   'k' sku -> interned copy (the key itself)
 *   'h' customer id -> their latest receipt in the history (for cancellations)
 * ------------------------------------------------------------------------------------- */

typedef struct mapEnt {
    const char *key; /* tag byte, then the string */
    uint64_t hash;
    int64_t val;
} mapEnt;

typedef struct map {
    mapEnt *t;
    size_t cap, n;
    ly_arena *keys;
} map;

static uint64_t keyHash(char tag, const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    h = (h ^ (unsigned char)tag) * 1099511628211ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static mapEnt *mapSlot(mapEnt *t, size_t cap, uint64_t h, char tag, const char *s)
{
    for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        mapEnt *e = &t[i];
        if (!e->key) return e;
        if (e->hash == h && e->key[0] == tag && strcmp(e->key + 1, s) == 0) return e;
    }
}

static mapEnt *mapGet(map *m, char tag, const char *s)
{
    if (!m->cap) return NULL;
    mapEnt *e = mapSlot(m->t, m->cap, keyHash(tag, s), tag, s);
    return e->key ? e : NULL;
}

/* The entry for the key, added with val 0 if new. NULL when out of memory. */
static mapEnt *mapPut(map *m, char tag, const char *s, bool *added)
{
    if ((m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        mapEnt *t = calloc(cap, sizeof *t);
        if (!t) return NULL;
        for (size_t i = 0; i < m->cap; i++)
            if (m->t[i].key) *mapSlot(t, cap, m->t[i].hash, m->t[i].key[0], m->t[i].key + 1) = m->t[i];
        free(m->t);
        m->t = t;
        m->cap = cap;
    }
    uint64_t h = keyHash(tag, s);
    mapEnt *e = mapSlot(m->t, m->cap, h, tag, s);
    if (added) *added = !e->key;
    if (e->key) return e;
    size_t len = strlen(s);
    char *k = ly_arena_alloc(m->keys, len + 2);
    if (!k) return NULL;
    k[0] = tag;
    memcpy(k + 1, s, len + 1);
    e->key = k;
    e->hash = h;
    e->val = 0;
    m->n++;
    return e;
}

/* A growable array of fixed-size elements. */
typedef struct vec {
    void *p;
    size_t n, cap, size;
} vec;

static void *vecPush(vec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        void *p = realloc(v->p, cap * v->size);
        if (!p) return NULL;
        v->p = p;
        v->cap = cap;
    }
    void *e = (char *)v->p + v->n++ * v->size;
    memset(e, 0, v->size);
    return e;
}

#define VEC_AT(v, type, i) (((type *)(v).p)[i])

/* ---------------------------------------------------------------------------------------
 * The import's state
 * ------------------------------------------------------------------------------------- */

typedef struct seenId {
    uint8_t hash[16];
    long row;
} seenId;

/* A receipt of an identified customer, remembered so that cancellations can find it. */
typedef struct histReceipt {
    const char *id;
    ly_time time;
    size_t first;   /* its lines in the history's lines */
    size_t n;
    int64_t prev;   /* the customer's receipt before it, -1 for none */
} histReceipt;

typedef struct histLine {
    const char *sku; /* interned */
    ly_qty left;     /* not yet returned (as this file tells it) */
} histLine;

enum { G_SALE = 0, G_CANCEL, G_RETURN };

/* One line as read. */
typedef struct gLine {
    long row;
    const char *sku, *name, *category, *brand;
    ly_qty qty; /* > 0; a cancellation's quantity is made positive */
    ly_money price, amount;
    int skip;   /* -1, or why it is left out */
} gLine;

/* The rows of the receipt being read. */
typedef struct group {
    bool active;
    int kind;
    const char *id;
    const char *return_of;
    long row;
    ly_time time;
    int offset;
    const char *store, *cashier, *payment;
    ly_sales_channel channel;
    const char *ids[N_ID_FIELDS]; /* raw customer identifiers, NULL when absent */
    vec lines;                    /* gLine */
    ly_arena arena;               /* its strings and its operations */
    char *canon;                  /* the rows' values, for the content hash */
    size_t canon_len, canon_cap;
} group;

typedef struct importer {
    /* options */
    const char *path;      /* as given */
    const char *name;      /* for messages: the path, or "stdin" */
    const layout *lay;
    bool points, dry_run, quiet;
    char delim;
    /* set up */
    ly_service *svc;
    const ly_program *prog;
    const ly_calendar *cal;
    ly_csv *csv;
    char **header;         /* column names as in the file */
    size_t n_header;
    int col[F_COUNT];      /* column of each field, -1 if none */
    const char *konst[F_COUNT]; /* --set values */
    /* state */
    ly_db *db;
    group g;
    map m;
    ly_arena keep;         /* map keys, interned skus, remembered receipt ids */
    vec seen;              /* seenId */
    vec hist;              /* histReceipt */
    vec hlines;            /* histLine */
    int exit_code;         /* set when a row or an operation failed */
    bool dry_done;
    bool tty;
    uint64_t t0, last_progress;
    /* counts */
    long lines;
    long receipts, returns, customers, ids_added;
    long receipts_existing, returns_existing, existing_differ;
    long duplicates, empty_receipts;
    long skipped[SKIP_COUNT];
    long cancel_lines, cancel_matched, cancel_partial, cancel_unmatched;
    long id_conflicts;
} importer;

/* ---------------------------------------------------------------------------------------
 * Reporting
 * ------------------------------------------------------------------------------------- */

/* "column NAME" of a field: its header name, or "FIELD (--set)". */
static void columnName(const importer *im, int f, char *buf, size_t size)
{
    if (f < 0) {
        buf[0] = '\0';
    } else if (im->col[f] >= 0) {
        snprintf(buf, size, "column %s: ", im->header[im->col[f]]);
    } else if (im->konst[f]) {
        snprintf(buf, size, "%s (--set): ", fieldNames[f]);
    } else {
        snprintf(buf, size, "%s: ", fieldNames[f]);
    }
}

/* Reports a bad row as "FILE:LINE: column X: message" and marks the import failed. Returns
 * the error the run function passes up. */
static ly_err rowError(importer *im, ly_error *err, long row, int f, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static ly_err rowError(importer *im, ly_error *err, long row, int f, const char *fmt, ...)
{
    char col[300], msg[600];
    columnName(im, f, col, sizeof col);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%ld: %s%s\n", im->name, row, col, msg);
    if (!im->exit_code) im->exit_code = LY_EXIT_DATA;
    return ly_error_set(err, LY_EINVAL, "bad_row", NULL, "%s:%ld: %s%s", im->name, row, col, msg);
}

static ly_err oom(importer *im, ly_error *err)
{
    fprintf(stderr, "loyal import: out of memory\n");
    im->exit_code = LY_EXIT_SYSTEM;
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* Where a service error points: the field of the operation's request it names. */
typedef struct opPlace {
    const long *rows;  /* file line of each request line */
    size_t n_rows;
    bool is_return;
} opPlace;

static int fieldOfName(const char *name, bool is_return)
{
    static const struct {
        const char *name;
        field f;
    } names[] = {{"sku", F_SKU}, {"qty", F_QTY}, {"price", F_PRICE}, {"amount", F_AMOUNT},
                 {"name", F_NAME}, {"category", F_CATEGORY}, {"brand", F_BRAND},
                 {"store", F_STORE}, {"channel", F_CHANNEL}, {"cashier", F_CASHIER},
                 {"payment", F_PAYMENT}, {"external", F_EXTERNAL}, {"card", F_CARD},
                 {"phone", F_PHONE}, {"email", F_EMAIL}, {"return_id", F_RECEIPT_ID}};
    if (strcmp(name, "receipt_id") == 0) return is_return ? F_RETURN_OF : F_RECEIPT_ID;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) return names[i].f;
    return -1;
}

/* Reports a failed operation at the row and column its error names. */
static ly_err opError(importer *im, ly_error *err, const ly_op *op, const opPlace *pl)
{
    const ly_error *e = &op->err;
    switch (op->rc) {
    case LY_EIO:
    case LY_ENOMEM:
    case LY_EINTERNAL:
        fprintf(stderr, "%s:%ld: receipt %s: %s (%s)\n", im->name, im->g.row, im->g.id, e->message,
                e->code);
        im->exit_code = LY_EXIT_SYSTEM;
        *err = *e;
        return op->rc;
    default:
        break;
    }
    long row = im->g.row;
    int f = -1;
    size_t i;
    char name[64];
    if (sscanf(e->field, "lines[%zu].%63s", &i, name) == 2) {
        if (i < pl->n_rows) row = pl->rows[i];
        f = fieldOfName(name, pl->is_return);
    } else if (e->field[0]) {
        f = fieldOfName(e->field, pl->is_return);
    }
    return rowError(im, err, row, f, "%s %s: %s (%s)", pl->is_return ? "return" : "receipt",
                    im->g.id, e->message, e->code);
}

/* Progress on standard error: every second on a terminal, else every 10,000 lines. */
static void progress(importer *im)
{
    if (im->quiet) return;
    if (im->tty) {
        if ((im->lines & 1023) != 0) return;
        uint64_t now = ly_os_usec();
        if (now - im->last_progress < 1000000) return;
        im->last_progress = now;
    } else if (im->lines % 10000 != 0) {
        return;
    }
    fprintf(stderr, "import: %ld lines, %ld receipts, %ld returns, %ld customers created\n",
            im->lines, im->receipts, im->returns, im->customers);
}

/* ---------------------------------------------------------------------------------------
 * Values
 * ------------------------------------------------------------------------------------- */

/* The raw value of a field in the current row: NULL when the file has no such column. */
static const char *rawVal(const importer *im, field f)
{
    if (im->col[f] >= 0) return ly_csv_field(im->csv, (size_t)im->col[f]);
    return im->konst[f];
}

static void trimSpan(const char *s, const char **start, size_t *len)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    *start = s;
    *len = n;
}

/* The trimmed value in the group's arena; NULL when absent or empty. *oom on failure. */
static const char *val(importer *im, field f, bool *nomem)
{
    const char *s = rawVal(im, f);
    if (!s) return NULL;
    const char *p;
    size_t n;
    trimSpan(s, &p, &n);
    if (n == 0) return NULL;
    char *c = ly_arena_strndup(&im->g.arena, p, n);
    if (!c) *nomem = true;
    return c;
}

/* A decimal number (ly_decimal_parse); when the delimiter is not a comma, a decimal comma
 * ("1,5") is taken as a decimal point, as spreadsheets with ';' separators write it. */
static bool decimalParse(const importer *im, const char *s, int scale, int64_t *out)
{
    const char *comma = strchr(s, ',');
    if (im->delim == ',' || !comma || strchr(comma + 1, ',') || strchr(s, '.'))
        return ly_decimal_parse(s, scale, out);
    char buf[64];
    size_t n = strlen(s);
    if (n >= sizeof buf) return false;
    memcpy(buf, s, n + 1);
    buf[comma - s] = '.';
    return ly_decimal_parse(buf, scale, out);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* A time: RFC 3339 with an offset, or a local time in the program's time zone:
 * "YYYY-MM-DD HH:MM[:SS]" (or with 'T'), or a date "YYYY-MM-DD" (local midnight). */
static bool parseTime(const importer *im, const char *s, ly_time *t, int *offset)
{
    if (ly_time_parse(s, t, offset)) return true;
    size_t len = strlen(s);
    if (len != 10 && len != 16 && len != 19) return false;
    char date[11];
    memcpy(date, s, 10);
    date[10] = '\0';
    int64_t days;
    if (!ly_date_parse(date, &days)) return false;
    int h = 0, mi = 0, se = 0;
    if (len > 10) {
        if ((s[10] != ' ' && s[10] != 'T') || !digits(s + 11, 2, &h) || s[13] != ':' ||
            !digits(s + 14, 2, &mi))
            return false;
        if (len == 19 && (s[16] != ':' || !digits(s + 17, 2, &se))) return false;
        if (h > 23 || mi > 59 || se > 59) return false;
    }
    ly_time local = days * 86400 + h * 3600 + mi * 60 + se;
    /* The offset in force at that local time: found at the instant the local time would be
     * with the offset at the local time read as UTC, which is right except within the hour
     * of a clock change. */
    int off = im->cal->utc_offset(im->cal, local);
    off = im->cal->utc_offset(im->cal, local - (ly_time)off * 60);
    *t = local - (ly_time)off * 60;
    *offset = off;
    return true;
}

/* "13085.0" -> "13085" (spreadsheets turn numeric ids into floats). */
static void stripFloat(char *s)
{
    char *dot = strchr(s, '.');
    if (!dot || dot == s) return;
    for (const char *p = s; p < dot; p++)
        if (*p < '0' || *p > '9') return;
    for (const char *p = dot + 1; *p; p++)
        if (*p != '0') return;
    if (dot[1]) *dot = '\0';
}

static void canonAdd(importer *im, const char *s, size_t n, char sep, bool *nomem)
{
    group *g = &im->g;
    if (g->canon_len + n + 2 > g->canon_cap) {
        size_t cap = g->canon_cap ? g->canon_cap : 4096;
        while (cap < g->canon_len + n + 2) cap *= 2;
        char *p = realloc(g->canon, cap);
        if (!p) {
            *nomem = true;
            return;
        }
        g->canon = p;
        g->canon_cap = cap;
    }
    if (n) memcpy(g->canon + g->canon_len, s, n);
    g->canon_len += n;
    g->canon[g->canon_len++] = sep;
}

/* ---------------------------------------------------------------------------------------
 * Customers
 * ------------------------------------------------------------------------------------- */

static ly_err normalizeAt(importer *im, ly_error *err, int idx, char *out, size_t size)
{
    ly_error e;
    ly_error_clear(&e);
    if (ly_id_normalize(idFields[idx].kind, im->g.ids[idx], im->prog->phone_country,
                        im->prog->phone_trunk, out, size, &e) != LY_OK)
        return rowError(im, err, im->g.row, idFields[idx].f, "'%s': %s", im->g.ids[idx], e.message);
    return LY_OK;
}

/* The customer id an identifier belongs to (0: nobody), from the cache or the database. */
static ly_err lookupId(importer *im, ly_error *err, ly_id_kind kind, const char *norm, int64_t *id)
{
    /* Keys are the kind's digit and the value, under the tag 'i'. */
    size_t n = strlen(norm);
    char *key = ly_arena_alloc(&im->g.arena, n + 2);
    if (!key) return oom(im, err);
    key[0] = (char)('0' + kind);
    memcpy(key + 1, norm, n + 1);
    mapEnt *e = mapGet(&im->m, 'i', key);
    if (e) {
        *id = e->val;
        return LY_OK;
    }
    ly_error e2;
    ly_error_clear(&e2);
    int64_t found = 0;
    ly_err rc = ly_db_customer_find(im->db, kind, norm, &found, &e2);
    if (rc == LY_ENOTFOUND) {
        found = 0;
    } else if (rc != LY_OK) {
        fprintf(stderr, "loyal import: %s (%s)\n", e2.message, e2.code);
        im->exit_code = LY_EXIT_SYSTEM;
        *err = e2;
        return rc;
    }
    e = mapPut(&im->m, 'i', key, NULL);
    if (!e) return oom(im, err);
    e->val = found;
    *id = found;
    return LY_OK;
}

static ly_err rememberId(importer *im, ly_error *err, ly_id_kind kind, const char *norm, int64_t id)
{
    size_t n = strlen(norm);
    char *key = ly_arena_alloc(&im->g.arena, n + 2);
    if (!key) return oom(im, err);
    key[0] = (char)('0' + kind);
    memcpy(key + 1, norm, n + 1);
    mapEnt *e = mapPut(&im->m, 'i', key, NULL);
    if (!e) return oom(im, err);
    e->val = id;
    return LY_OK;
}

static void opInit(ly_op *op, ly_op_kind kind, ly_arena *a, ly_time now)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->arena = a;
    op->now = now;
}

/* Gives identifiers the row names but the customer lacks: only kinds the customer has none
 * of (a different card on a later row is not taken as a card replacement). */
static ly_err attachIds(importer *im, ly_error *err, int64_t id, const bool *absent)
{
    ly_customer c;
    ly_error e;
    ly_error_clear(&e);
    ly_err rc = ly_db_customer_get(im->db, id, &im->g.arena, &c, &e);
    if (rc != LY_OK) {
        fprintf(stderr, "loyal import: %s (%s)\n", e.message, e.code);
        im->exit_code = LY_EXIT_SYSTEM;
        *err = e;
        return rc;
    }
    ly_op op;
    opInit(&op, LY_OP_CUSTOMER_PATCH, &im->g.arena, im->g.time);
    op.in.patch.customer_id = id;
    for (int i = 0; i < N_ID_FIELDS; i++) {
        if (!absent[i]) continue;
        bool has = false;
        for (size_t j = 0; j < c.n_ids; j++) has |= c.ids[j].kind == idFields[i].kind;
        if (has) continue;
        op.in.patch.profile.ids[op.in.patch.profile.n_ids++] =
            (ly_identifier){.kind = idFields[i].kind, .value = im->g.ids[i]};
    }
    if (!op.in.patch.profile.n_ids) return LY_OK;
    if (ly_service_apply(im->svc, im->db, &op) != LY_OK)
        return opError(im, err, &op, &(opPlace){0});
    im->ids_added += (long)op.in.patch.profile.n_ids;
    for (size_t k = 0; k < op.in.patch.profile.n_ids; k++) {
        char norm[300];
        int idx = 0;
        while (idFields[idx].kind != op.in.patch.profile.ids[k].kind) idx++;
        ly_err r = normalizeAt(im, err, idx, norm, sizeof norm);
        if (r == LY_OK) r = rememberId(im, err, idFields[idx].kind, norm, id);
        if (r != LY_OK) return r;
    }
    return LY_OK;
}

/* The customer of the current receipt, enrolled when none of its identifiers is known. *id
 * is 0 for an anonymous receipt; *who names the customer by the first identifier that was
 * found (or, for a new customer, given). */
static ly_err resolveCustomer(importer *im, ly_error *err, int64_t *id, ly_who *who)
{
    group *g = &im->g;
    *id = 0;
    memset(who, 0, sizeof *who);
    char norm[N_ID_FIELDS][300];
    bool given[N_ID_FIELDS] = {false}, absent[N_ID_FIELDS] = {false};
    int first_given = -1, found_at = -1;
    for (int i = 0; i < N_ID_FIELDS; i++) {
        if (!g->ids[i]) continue;
        ly_err rc = normalizeAt(im, err, i, norm[i], sizeof norm[i]);
        if (rc != LY_OK) return rc;
        given[i] = true;
        if (first_given < 0) first_given = i;
        int64_t cid = 0;
        if ((rc = lookupId(im, err, idFields[i].kind, norm[i], &cid)) != LY_OK) return rc;
        if (!cid) {
            absent[i] = true;
        } else if (found_at < 0) {
            found_at = i;
            *id = cid;
        } else if (cid != *id) {
            im->id_conflicts++;
        }
    }
    if (first_given < 0) return LY_OK; /* anonymous */
    if (found_at >= 0) {
        who->kind = idFields[found_at].kind;
        who->value = g->ids[found_at];
        bool any = false;
        for (int i = 0; i < N_ID_FIELDS; i++) any |= absent[i];
        return any ? attachIds(im, err, *id, absent) : LY_OK;
    }

    ly_op op;
    opInit(&op, LY_OP_CUSTOMER_CREATE, &g->arena, g->time);
    ly_profile *p = &op.in.create;
    for (int i = 0; i < N_ID_FIELDS; i++)
        if (given[i]) p->ids[p->n_ids++] = (ly_identifier){.kind = idFields[i].kind, .value = g->ids[i]};
    p->set_enrolled_store = g->store != NULL;
    p->enrolled_store = g->store;
    if (ly_service_apply(im->svc, im->db, &op) != LY_OK) return opError(im, err, &op, &(opPlace){0});
    *id = op.out.customer.id;
    im->customers++;
    for (int i = 0; i < N_ID_FIELDS; i++) {
        if (!given[i]) continue;
        ly_err rc = rememberId(im, err, idFields[i].kind, norm[i], *id);
        if (rc != LY_OK) return rc;
    }
    who->kind = idFields[first_given].kind;
    who->value = g->ids[first_given];
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The history of the identified customers' receipts, for cancellations
 * ------------------------------------------------------------------------------------- */

static ly_err histAdd(importer *im, ly_error *err, int64_t customer, const char *receipt_id,
                      ly_time t, const ly_line *lines, size_t n)
{
    char ckey[24];
    snprintf(ckey, sizeof ckey, "%lld", (long long)customer);
    mapEnt *head = mapPut(&im->m, 'h', ckey, NULL);
    histReceipt *r = vecPush(&im->hist);
    char *id = ly_arena_strdup(&im->keep, receipt_id);
    if (!head || !r || !id) return oom(im, err);
    r->id = id;
    r->time = t;
    r->first = im->hlines.n;
    r->n = n;
    r->prev = head->val - 1;          /* head->val is the latest receipt's index + 1, or 0 */
    head->val = (int64_t)im->hist.n;
    for (size_t i = 0; i < n; i++) {
        mapEnt *k = mapPut(&im->m, 'k', lines[i].sku, NULL);
        histLine *l = vecPush(&im->hlines);
        if (!k || !l) return oom(im, err);
        l->sku = k->key + 1;
        l->left = lines[i].qty;
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * Applying a receipt
 * ------------------------------------------------------------------------------------- */

/* Whether the group's id was seen before in this file: with the same rows (a duplicate,
 * skipped) or with others (an error). */
static ly_err seenCheck(importer *im, ly_error *err, const uint8_t *hash, bool *dup)
{
    group *g = &im->g;
    *dup = false;
    bool added;
    mapEnt *e = mapPut(&im->m, g->kind == G_SALE ? 's' : 'r', g->id, &added);
    if (!e) return oom(im, err);
    if (!added) {
        const seenId *s = &VEC_AT(im->seen, seenId, e->val);
        if (memcmp(s->hash, hash, 16) != 0)
            return rowError(im, err, g->row, F_RECEIPT_ID,
                            "receipt id '%s' was already used on line %ld for different rows (the "
                            "rows of one receipt must be consecutive)", g->id, s->row);
        *dup = true;
        im->duplicates++;
        return LY_OK;
    }
    seenId *s = vecPush(&im->seen);
    if (!s) return oom(im, err);
    memcpy(s->hash, hash, 16);
    s->row = g->row;
    e->val = (int64_t)im->seen.n - 1;
    return LY_OK;
}

static ly_err storageError(importer *im, ly_error *err, const ly_error *e, ly_err rc)
{
    fprintf(stderr, "%s:%ld: %s (%s)\n", im->name, im->g.row, e->message, e->code);
    im->exit_code = LY_EXIT_SYSTEM;
    *err = *e;
    return rc;
}

/* A receipt or return already in the database differs from the file's: it is kept as it is,
 * counted, and the first few are named. */
static void existingDiffers(importer *im, const char *what, const char *id)
{
    if (++im->existing_differ <= 5)
        fprintf(stderr, "%s:%ld: warning: %s %s is already in the database with other contents; "
                        "it is left as it is%s\n", im->name, im->g.row, what, id,
                im->existing_differ == 5 ? " (further ones are only counted)" : "");
}

static ly_err applySale(importer *im, ly_error *err, const uint8_t *hash)
{
    group *g = &im->g;
    size_t n = 0;
    for (size_t i = 0; i < g->lines.n; i++) n += VEC_AT(g->lines, gLine, i).skip < 0;
    if (n == 0) {
        im->empty_receipts++;
        return LY_OK;
    }
    ly_line *lines = ly_arena_alloc(&g->arena, n * sizeof *lines);
    long *rows = ly_arena_alloc(&g->arena, n * sizeof *rows);
    if (!lines || !rows) return oom(im, err);
    ly_money total = 0;
    size_t k = 0;
    for (size_t i = 0; i < g->lines.n; i++) {
        const gLine *l = &VEC_AT(g->lines, gLine, i);
        if (l->skip >= 0) continue;
        lines[k] = (ly_line){.sku = l->sku, .name = l->name, .category = l->category,
                             .brand = l->brand, .qty = l->qty, .price = l->price, .amount = l->amount};
        rows[k++] = l->row;
        if (total <= LY_AMOUNT_MAX) total += l->amount; /* amounts are <= 10^15 each */
    }

    ly_stored_receipt prior;
    ly_error e;
    ly_error_clear(&e);
    ly_err rc = ly_db_receipt_find(im->db, g->id, &g->arena, &prior, &e);
    if (rc == LY_OK) {
        im->receipts_existing++;
        if (memcmp(prior.request_hash, hash, 32) != 0) existingDiffers(im, "receipt", g->id);
        if (im->lay->cancel_prefix && prior.customer_id)
            return histAdd(im, err, prior.customer_id, g->id, prior.receipt.time,
                           prior.receipt.lines, prior.receipt.n_lines);
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return storageError(im, err, &e, rc);

    int64_t cid = 0;
    ly_who who;
    if ((rc = resolveCustomer(im, err, &cid, &who)) != LY_OK) return rc;

    ly_op op;
    opInit(&op, LY_OP_CONFIRM, &g->arena, g->time);
    memcpy(op.request_hash, hash, 32);
    ly_checkout *c = &op.in.confirm;
    c->receipt = (ly_receipt){.receipt_id = g->id, .store = g->store, .cashier = g->cashier,
                              .payment = g->payment, .channel = g->channel, .time = g->time,
                              .utc_offset_min = g->offset, .total = total, .lines = lines,
                              .n_lines = n};
    c->who = who;
    c->no_points = !im->points;
    if (ly_service_apply(im->svc, im->db, &op) != LY_OK)
        return opError(im, err, &op, &(opPlace){.rows = rows, .n_rows = n});
    im->receipts++;
    if (im->lay->cancel_prefix && op.out.confirm.customer)
        return histAdd(im, err, op.out.confirm.customer->id, g->id, g->time, lines, n);
    return LY_OK;
}

/* A return as one operation: its lines by index into the receipt, or by sku. */
static ly_err applyReturn(importer *im, ly_error *err, const char *receipt_id, const char *return_id,
                          const ly_return_request_line *lines, const long *rows, size_t n)
{
    group *g = &im->g;
    /* The request's hash: what is returned from what. */
    size_t cap = 64 + strlen(receipt_id) + strlen(return_id);
    for (size_t i = 0; i < n; i++) cap += 48 + (lines[i].sku ? strlen(lines[i].sku) : 0);
    char *buf = ly_arena_alloc(&g->arena, cap);
    if (!buf) return oom(im, err);
    size_t len = (size_t)snprintf(buf, cap, "import-return\x1f%s\x1f%s\x1f%lld", receipt_id,
                                  return_id, (long long)g->time);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "\x1e%ld\x1f%s\x1f%lld", lines[i].line,
                                lines[i].sku ? lines[i].sku : "", (long long)lines[i].qty);

    ly_op op;
    opInit(&op, LY_OP_RETURN, &g->arena, g->time);
    ly_os_hash(buf, len, op.request_hash);

    ly_stored_return prior;
    ly_error e;
    ly_error_clear(&e);
    ly_err rc = ly_db_return_find(im->db, return_id, &g->arena, &prior, &e);
    if (rc == LY_OK) {
        im->returns_existing++;
        if (memcmp(prior.request_hash, op.request_hash, 32) != 0) existingDiffers(im, "return", return_id);
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return storageError(im, err, &e, rc);
    op.in.ret = (ly_return_request){.receipt_id = receipt_id, .return_id = return_id,
                                    .time = g->time, .lines = lines, .n_lines = n};
    if (ly_service_apply(im->svc, im->db, &op) != LY_OK)
        return opError(im, err, &op, &(opPlace){.rows = rows, .n_rows = n, .is_return = true});
    im->returns++;
    return LY_OK;
}

/* loyal layout: rows naming the receipt they return (return_of). */
static ly_err applyLoyalReturn(importer *im, ly_error *err)
{
    group *g = &im->g;
    size_t n = g->lines.n;
    ly_return_request_line *lines = ly_arena_alloc(&g->arena, n * sizeof *lines);
    long *rows = ly_arena_alloc(&g->arena, n * sizeof *rows);
    if (!lines || !rows) return oom(im, err);
    for (size_t i = 0; i < n; i++) {
        const gLine *l = &VEC_AT(g->lines, gLine, i);
        lines[i] = (ly_return_request_line){.line = -1, .sku = l->sku, .qty = l->qty};
        rows[i] = l->row;
    }
    return applyReturn(im, err, g->return_of, g->id, lines, rows, n);
}

/* What a cancellation line takes from one earlier receipt's line. */
typedef struct take {
    int64_t receipt; /* index into the history */
    size_t line;     /* the receipt's line */
    ly_qty qty;
    long row;        /* the cancellation's row */
} take;

/* online_retail: an invoice "C..." cancels lines of the customer's earlier receipts. Each
 * line is matched on its own: the customer's most recent receipts (not later than the
 * cancellation) that have the sku with quantity not yet returned, newest first. One return
 * operation per receipt drawn from; its id is the cancellation's, with "/RECEIPT" appended
 * when it draws from more than one receipt. */
static ly_err applyCancel(importer *im, ly_error *err)
{
    group *g = &im->g;
    size_t n = 0;
    for (size_t i = 0; i < g->lines.n; i++) n += VEC_AT(g->lines, gLine, i).skip < 0;
    if (n == 0) return LY_OK;
    im->cancel_lines += (long)n;
    /* A customer known only from a cancellation bought before the file's window: they are
     * enrolled all the same, like every customer the file names. */
    int64_t cid = 0;
    ly_who who;
    ly_err rc = resolveCustomer(im, err, &cid, &who);
    if (rc != LY_OK) return rc;
    int64_t head = -1;
    if (cid) {
        char ckey[24];
        snprintf(ckey, sizeof ckey, "%lld", (long long)cid);
        mapEnt *e = mapGet(&im->m, 'h', ckey);
        if (e) head = e->val - 1;
    }
    if (head < 0) {
        im->cancel_unmatched += (long)n;
        return LY_OK;
    }

    vec takes = {.size = sizeof(take)};
    for (size_t i = 0; i < g->lines.n; i++) {
        const gLine *l = &VEC_AT(g->lines, gLine, i);
        if (l->skip >= 0) continue;
        ly_qty want = l->qty;
        for (int64_t r = head; r >= 0 && want > 0; r = VEC_AT(im->hist, histReceipt, r).prev) {
            histReceipt *hr = &VEC_AT(im->hist, histReceipt, r);
            if (hr->time > g->time) continue;
            for (size_t j = 0; j < hr->n && want > 0; j++) {
                histLine *hl = &VEC_AT(im->hlines, histLine, hr->first + j);
                if (hl->left <= 0 || strcmp(hl->sku, l->sku) != 0) continue;
                ly_qty q = hl->left < want ? hl->left : want;
                take *t = vecPush(&takes);
                if (!t) {
                    free(takes.p);
                    return oom(im, err);
                }
                *t = (take){.receipt = r, .line = j, .qty = q, .row = l->row};
                hl->left -= q;
                want -= q;
            }
        }
        if (want == l->qty) im->cancel_unmatched++;
        else if (want > 0) im->cancel_partial++;
        else im->cancel_matched++;
    }

    /* One return per receipt, in the order the receipts were first drawn from. */
    size_t n_targets = 0;
    for (size_t i = 0; i < takes.n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = VEC_AT(takes, take, j).receipt != VEC_AT(takes, take, i).receipt;
        n_targets += first;
    }
    ly_return_request_line *lines = ly_arena_alloc(&g->arena, (takes.n ? takes.n : 1) * sizeof *lines);
    long *rows = ly_arena_alloc(&g->arena, (takes.n ? takes.n : 1) * sizeof *rows);
    if (!lines || !rows) {
        free(takes.p);
        return oom(im, err);
    }
    rc = LY_OK;
    for (size_t i = 0; i < takes.n && rc == LY_OK; i++) {
        int64_t r = VEC_AT(takes, take, i).receipt;
        bool first = true;
        for (size_t j = 0; j < i && first; j++) first = VEC_AT(takes, take, j).receipt != r;
        if (!first) continue;
        size_t k = 0;
        for (size_t j = i; j < takes.n; j++) {
            const take *t = &VEC_AT(takes, take, j);
            if (t->receipt != r) continue;
            size_t m = 0; /* merge takes from one line */
            while (m < k && lines[m].line != (long)t->line) m++;
            if (m == k) {
                lines[k] = (ly_return_request_line){.line = (long)t->line, .qty = 0};
                rows[k++] = t->row;
            }
            lines[m].qty += t->qty;
        }
        const histReceipt *hr = &VEC_AT(im->hist, histReceipt, r);
        const char *rid = n_targets == 1 ? g->id : ly_arena_printf(&g->arena, "%s/%s", g->id, hr->id);
        if (!rid) rc = oom(im, err);
        else rc = applyReturn(im, err, hr->id, rid, lines, rows, k);
    }
    free(takes.p);
    return rc;
}

/* Applies the receipt gathered in the group and clears it. */
static ly_err flush(importer *im, ly_error *err)
{
    group *g = &im->g;
    if (!g->active) return LY_OK;
    uint8_t hash[32];
    ly_os_hash(g->canon, g->canon_len, hash);
    bool dup;
    ly_err rc = seenCheck(im, err, hash, &dup);
    if (rc == LY_OK && !dup) {
        switch (g->kind) {
        case G_SALE: rc = applySale(im, err, hash); break;
        case G_CANCEL: rc = applyCancel(im, err); break;
        default: rc = applyLoyalReturn(im, err); break;
        }
    }
    g->active = false;
    g->lines.n = 0;
    g->canon_len = 0;
    ly_arena_free(&g->arena);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Reading rows
 * ------------------------------------------------------------------------------------- */

/* Starts a receipt from its first row: the receipt-level columns are read here. */
static ly_err startGroup(importer *im, ly_error *err, const char *id, long row)
{
    group *g = &im->g;
    bool nomem = false;
    g->active = true;
    g->row = row;
    g->id = ly_arena_strdup(&g->arena, id);
    g->return_of = val(im, F_RETURN_OF, &nomem);
    g->kind = g->return_of ? G_RETURN : im->lay->cancel_prefix && id[0] == 'C' ? G_CANCEL : G_SALE;
    const char *t = val(im, F_TIME, &nomem);
    g->store = val(im, F_STORE, &nomem);
    g->cashier = val(im, F_CASHIER, &nomem);
    g->payment = val(im, F_PAYMENT, &nomem);
    const char *ch = val(im, F_CHANNEL, &nomem);
    for (int i = 0; i < N_ID_FIELDS; i++) {
        g->ids[i] = g->kind == G_RETURN ? NULL : val(im, idFields[i].f, &nomem);
        if (g->ids[i] && im->lay->float_ids) stripFloat((char *)g->ids[i]);
    }
    if (nomem || !g->id) return oom(im, err);
    if (strlen(id) > 128)
        return rowError(im, err, row, F_RECEIPT_ID, "longer than 128 characters");
    if (!t) return rowError(im, err, row, F_TIME, "is empty");
    if (!parseTime(im, t, &g->time, &g->offset))
        return rowError(im, err, row, F_TIME,
                        "'%s' is not a time: use 2026-11-24T10:15:00+03:00, or a local time in the "
                        "program's time zone as 2026-11-24 10:15:00 or 2026-11-24", t);
    if (g->kind == G_SALE && !g->store)
        return rowError(im, err, row, F_STORE, "is empty: every receipt names its store");
    g->channel = im->lay->channel;
    if (ch && !ly_sales_channel_parse(ch, &g->channel))
        return rowError(im, err, row, F_CHANNEL, "'%s' is not a channel: store, online or app", ch);
    return LY_OK;
}

/* Checks that a later row of a receipt has the value its first row gave (v, NULL for
 * empty); float_id compares customer ids as read ("13085.0" as "13085"). */
static ly_err checkSame(importer *im, ly_error *err, long row, field f, const char *v, bool float_id)
{
    const char *s = rawVal(im, f);
    const char *p = "";
    size_t n = 0;
    if (s) trimSpan(s, &p, &n);
    char buf[256];
    if (float_id && n < sizeof buf) {
        memcpy(buf, p, n);
        buf[n] = '\0';
        stripFloat(buf);
        p = buf;
        n = strlen(buf);
    }
    if (v ? strlen(v) == n && memcmp(v, p, n) == 0 : n == 0) return LY_OK;
    return rowError(im, err, row, f, "'%.*s' differs from '%s' on the first row of receipt %s (line %ld)",
                    (int)n, p, v ? v : "", im->g.id, im->g.row);
}

/* Reads the line of the current row into the group. */
static ly_err addLine(importer *im, ly_error *err, long row)
{
    group *g = &im->g;
    bool nomem = false;
    gLine *l = vecPush(&g->lines);
    if (!l) return oom(im, err);
    l->row = row;
    l->skip = -1;
    l->sku = val(im, F_SKU, &nomem);
    l->name = val(im, F_NAME, &nomem);
    l->category = val(im, F_CATEGORY, &nomem);
    l->brand = val(im, F_BRAND, &nomem);
    const char *qty = val(im, F_QTY, &nomem);
    const char *price = val(im, F_PRICE, &nomem);
    const char *amount = val(im, F_AMOUNT, &nomem);
    if (nomem) return oom(im, err);
    if (!l->sku) return rowError(im, err, row, F_SKU, "is empty");
    if (strlen(l->sku) > 128) return rowError(im, err, row, F_SKU, "longer than 128 characters");
    if (!qty) return rowError(im, err, row, F_QTY, "is empty");
    if (!decimalParse(im, qty, 3, &l->qty))
        return rowError(im, err, row, F_QTY, "'%s' is not a quantity (a number with at most 3 "
                                             "decimals)", qty);
    if (g->kind == G_CANCEL) {
        /* The price of a cancelled line is not needed: a return gives back the share of what
         * was paid on the receipt it returns. */
        if (l->qty >= 0) {
            l->skip = SKIP_CANCEL_NOT_NEGATIVE;
            im->skipped[l->skip]++;
        }
        l->qty = -l->qty;
    } else if (l->qty <= 0) {
        if (g->kind == G_SALE && im->lay->lenient_lines) {
            l->skip = SKIP_QTY_NOT_POSITIVE;
            im->skipped[l->skip]++;
            return LY_OK;
        }
        return rowError(im, err, row, F_QTY, "'%s' must be more than 0%s", qty,
                        g->kind == G_SALE && im->col[F_RETURN_OF] >= 0
                            ? " (a return names the receipt it returns in return_of)" : "");
    }
    if (l->skip < 0 && l->qty > LY_QTY_MAX)
        return rowError(im, err, row, F_QTY, "'%s' is more than one million", qty);
    if (g->kind != G_SALE) return LY_OK;

    /* Money: the price may be finer than the currency's minor unit (0.001 a piece); the
     * amount is then worked out from the exact price, and the unit price kept is rounded up
     * so that the amount never exceeds quantity x price. */
    int mu = im->prog->minor_units;
    int64_t fine;
    if (!price) return rowError(im, err, row, F_PRICE, "is empty");
    if (!decimalParse(im, price, mu + 4, &fine))
        return rowError(im, err, row, F_PRICE, "'%s' is not a price (a number with at most %d "
                                               "decimals)", price, mu + 4);
    if (fine < 0) {
        if (im->lay->lenient_lines) {
            l->skip = SKIP_NEGATIVE_PRICE;
            im->skipped[l->skip]++;
            return LY_OK;
        }
        return rowError(im, err, row, F_PRICE, "'%s' is negative", price);
    }
    if (!ly_muldiv(fine, 1, 10000, LY_ROUND_UP, &l->price) || l->price > LY_AMOUNT_MAX)
        return rowError(im, err, row, F_PRICE, "'%s' is too large", price);
    if (amount) {
        if (!decimalParse(im, amount, mu, &l->amount))
            return rowError(im, err, row, F_AMOUNT, "'%s' is not an amount (a number with at "
                                                    "most %d decimals)", amount, mu);
        if (l->amount < 0) return rowError(im, err, row, F_AMOUNT, "'%s' is negative", amount);
    } else if (!ly_muldiv(l->qty, fine, 10000000, LY_ROUND_HALF_UP, &l->amount) ||
               l->amount > LY_AMOUNT_MAX) {
        return rowError(im, err, row, F_PRICE, "'%s' x quantity is too large", price);
    }
    return LY_OK;
}

static ly_err readRow(importer *im, ly_error *err)
{
    long row = ly_csv_line(im->csv);
    const char *raw = rawVal(im, F_RECEIPT_ID);
    const char *id;
    size_t idlen;
    trimSpan(raw ? raw : "", &id, &idlen);
    if (idlen == 0) return rowError(im, err, row, F_RECEIPT_ID, "is empty");
    group *g = &im->g;
    ly_err rc;
    if (!g->active || strlen(g->id) != idlen || memcmp(g->id, id, idlen) != 0) {
        if ((rc = flush(im, err)) != LY_OK) return rc;
        char *copy = strndup(id, idlen);
        if (!copy) return oom(im, err);
        rc = startGroup(im, err, copy, row);
        free(copy);
        if (rc != LY_OK) return rc;
    } else {
        if ((rc = checkSame(im, err, row, F_RETURN_OF, g->return_of, false)) != LY_OK) return rc;
        for (int i = 0; i < N_ID_FIELDS && g->kind != G_RETURN; i++)
            if ((rc = checkSame(im, err, row, idFields[i].f, g->ids[i], im->lay->float_ids)) != LY_OK)
                return rc;
    }
    /* The row's values, for the content hash (duplicates, idempotency). */
    bool nomem = false;
    for (int f = 0; f < F_COUNT; f++) {
        const char *v = rawVal(im, (field)f);
        const char *p = "";
        size_t n = 0;
        if (v) trimSpan(v, &p, &n);
        canonAdd(im, p, n, '\x1f', &nomem);
    }
    canonAdd(im, "", 0, '\x1e', &nomem);
    if (nomem) return oom(im, err);
    return addLine(im, err, row);
}

/* The write job: the whole file. */
static ly_err runImport(ly_db *db, void *ctx, ly_error *err)
{
    importer *im = ctx;
    im->db = db;
    for (;;) {
        int r = ly_csv_next(im->csv);
        if (r < 0) return rowError(im, err, ly_csv_line(im->csv), -1, "%s", ly_csv_error(im->csv));
        if (r == 0) break;
        im->lines++;
        ly_err rc = readRow(im, err);
        if (rc != LY_OK) return rc;
        progress(im);
    }
    ly_err rc = flush(im, err);
    if (rc != LY_OK) return rc;
    if (im->dry_run) {
        im->dry_done = true;
        return ly_error_set(err, LY_ECONFLICT, "dry_run", NULL, "dry run: rolled back");
    }
    return LY_OK;
}

/* ---------------------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------------------- */

static const char importHelp[] =
    "usage: loyal import [--db PATH] [--program PATH] [--layout loyal|online_retail]\n"
    "                    [--map FIELD=COLUMN,...] [--set FIELD=VALUE] [--delimiter C]\n"
    "                    [--points] [--dry-run] [--quiet] FILE\n\n"
    "Loads purchase history from a CSV file with a header row (FILE '-' reads standard\n"
    "input). One row is one receipt line; the consecutive rows with the same receipt id\n"
    "form one receipt. Customers are found by their identifiers or enrolled.\n\n"
    "  --layout NAME     loyal (default): Loyal's own columns (docs/import.md);\n"
    "                    online_retail: the UCI Online Retail II export (Invoice,\n"
    "                    StockCode, Description, Quantity, InvoiceDate, Price,\n"
    "                    Customer ID, Country); invoices starting with C are cancellations\n"
    "  --map F=COL,...   read field F from column COL (repeatable), e.g.\n"
    "                    --map receipt_id=InvoiceNo,sku=Item,qty=Qty,price=UnitPrice\n"
    "  --set F=VALUE     use VALUE for field F on every row (e.g. --set store=web)\n"
    "  --delimiter C     field separator (default ','; 'tab' or '\\t' for a tab)\n"
    "  --points          run each receipt through the program: earn points as at the\n"
    "                    receipt's time (default: history earns and spends nothing)\n"
    "  --dry-run         check and apply everything, then roll it all back\n"
    "  --quiet           no progress lines\n\n"
    "The whole file is one transaction: a bad row is reported as FILE:LINE: column X:\n"
    "message and nothing is imported. Receipts and returns already in the database are\n"
    "skipped, so importing a file again changes nothing.\n"
    "Exit codes: 0 imported, 2 usage, 3 bad data (nothing imported), 4 storage or system error.\n";

static int fieldParse(const char *s, size_t n)
{
    for (int f = 0; f < F_COUNT; f++)
        if (strlen(fieldNames[f]) == n && strncmp(fieldNames[f], s, n) == 0) return f;
    return -1;
}

/* Parses "f=v,f=v" (map) or one "f=v" (set) into out[]. */
static bool pairsParse(const char *arg, bool list, const char **out, char **store, size_t *n_store,
                       size_t cap)
{
    const char *p = arg;
    for (;;) {
        const char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "loyal import: '%s': expected FIELD=%s\n", p, list ? "COLUMN" : "VALUE");
            return false;
        }
        const char *end = list ? strchr(eq + 1, ',') : NULL;
        if (!end) end = eq + strlen(eq);
        int f = fieldParse(p, (size_t)(eq - p));
        if (f < 0) {
            fprintf(stderr, "loyal import: unknown field '%.*s'; the fields are:", (int)(eq - p), p);
            for (int i = 0; i < F_COUNT; i++) fprintf(stderr, " %s", fieldNames[i]);
            fputc('\n', stderr);
            return false;
        }
        if (list && end == eq + 1) {
            fprintf(stderr, "loyal import: --map %s: no column named\n", fieldNames[f]);
            return false;
        }
        if (*n_store == cap) {
            fprintf(stderr, "loyal import: too many --map / --set pairs\n");
            return false;
        }
        char *v = strndup(eq + 1, (size_t)(end - eq - 1));
        if (!v) return false;
        store[(*n_store)++] = v;
        out[f] = v;
        if (!list || !*end) return true;
        p = end + 1;
    }
}

static bool columnMatches(const char *header, const char *want)
{
    const char *p;
    size_t n;
    trimSpan(header, &p, &n);
    return strlen(want) == n && strncasecmp(p, want, n) == 0;
}

/* Finds each field's column in the header. */
static int bindColumns(importer *im, const char **mapped)
{
    for (int f = 0; f < F_COUNT; f++) {
        im->col[f] = -1;
        const char *want = mapped[f] ? mapped[f] : im->konst[f] ? NULL : im->lay->columns[f];
        if (!want) continue;
        for (size_t c = 0; c < im->n_header && im->col[f] < 0; c++)
            if (columnMatches(im->header[c], want)) im->col[f] = (int)c;
        if (im->col[f] >= 0) continue;
        if (mapped[f] || (im->lay->required & BIT(f))) {
            fprintf(stderr, "%s:1: no column '%s' (for the field %s); the header has:", im->name,
                    want, fieldNames[f]);
            for (size_t c = 0; c < im->n_header; c++)
                fprintf(stderr, "%s '%s'", c ? "," : "", im->header[c]);
            fputc('\n', stderr);
            return LY_EXIT_DATA;
        }
    }
    return -1;
}

static void summary(const importer *im, double secs)
{
    printf("import: %s: %ld lines in %.2f s%s\n", im->name, im->lines, secs,
           im->dry_run ? " (dry run: nothing was written)" : "");
    printf("receipts imported: %ld\n", im->receipts);
    printf("returns imported: %ld\n", im->returns);
    printf("customers created: %ld\n", im->customers);
    if (im->ids_added) printf("identifiers added to customers: %ld\n", im->ids_added);
    printf("receipts already in the database: %ld\n", im->receipts_existing);
    printf("returns already in the database: %ld\n", im->returns_existing);
    if (im->existing_differ)
        printf("  of those, with other contents than in this file (left as they were): %ld\n",
               im->existing_differ);
    printf("duplicate receipts in the file: %ld\n", im->duplicates);
    long skipped = 0;
    for (int i = 0; i < SKIP_COUNT; i++) skipped += im->skipped[i];
    printf("lines skipped: %ld\n", skipped);
    for (int i = 0; i < SKIP_COUNT; i++)
        if (im->skipped[i]) printf("  %s: %ld\n", skipNames[i], im->skipped[i]);
    if (im->empty_receipts) printf("receipts with no lines left: %ld\n", im->empty_receipts);
    if (im->lay->cancel_prefix) {
        printf("cancellation lines: %ld\n", im->cancel_lines);
        printf("  matched: %ld\n", im->cancel_matched);
        printf("  partly matched: %ld\n", im->cancel_partial);
        printf("  unmatched: %ld\n", im->cancel_unmatched);
    }
    if (im->id_conflicts)
        printf("rows whose identifiers name different customers (the first was used): %ld\n",
               im->id_conflicts);
}

int ly_cli_import(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},     {"program", required_argument, 0, 'p'},
        {"layout", required_argument, 0, 'l'}, {"map", required_argument, 0, 'm'},
        {"set", required_argument, 0, 's'},    {"delimiter", required_argument, 0, 't'},
        {"points", no_argument, 0, 'P'},       {"dry-run", no_argument, 0, 'n'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    importer *im = calloc(1, sizeof *im);
    char *strs[8 * F_COUNT];
    size_t n_strs = 0;
    const char *mapped[F_COUNT] = {0};
    const char *db = ly_cli_default_db(), *program = ly_cli_default_program();
    char delim = ',';
    int code = -1;
    if (!im) {
        fprintf(stderr, "loyal import: out of memory\n");
        return LY_EXIT_SYSTEM;
    }
    im->lay = &layouts[0];
    im->g.lines.size = sizeof(gLine);
    im->seen.size = sizeof(seenId);
    im->hist.size = sizeof(histReceipt);
    im->hlines.size = sizeof(histLine);
    im->m.keys = &im->keep;

    int c;
    optind = 1;
    while (code < 0 && (c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'p': program = optarg; break;
        case 'l': {
            size_t i = 0;
            while (i < sizeof layouts / sizeof layouts[0] && strcmp(layouts[i].name, optarg) != 0) i++;
            if (i == sizeof layouts / sizeof layouts[0]) {
                fprintf(stderr, "loyal import: unknown layout '%s' (loyal or online_retail)\n", optarg);
                code = LY_EXIT_USAGE;
            } else {
                im->lay = &layouts[i];
            }
            break;
        }
        case 'm':
        case 's':
            if (!pairsParse(optarg, c == 'm', c == 'm' ? mapped : im->konst, strs, &n_strs,
                            sizeof strs / sizeof strs[0])) {
                code = LY_EXIT_USAGE;
            }
            break;
        case 't':
            if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\\t") == 0) delim = '\t';
            else if (strlen(optarg) == 1 && optarg[0] != '"' && optarg[0] != '\r' && optarg[0] != '\n') delim = optarg[0];
            else {
                fprintf(stderr, "loyal import: --delimiter takes one character (not '\"'), or 'tab'\n");
                code = LY_EXIT_USAGE;
            }
            break;
        case 'P': im->points = true; break;
        case 'n': im->dry_run = true; break;
        case 'q': im->quiet = true; break;
        case 'h':
            fputs(importHelp, stdout);
            code = LY_EXIT_OK;
            break;
        default:
            fputs(importHelp, stderr);
            code = LY_EXIT_USAGE;
        }
    }
    for (int f = 0; code < 0 && f < F_COUNT; f++)
        if (mapped[f] && im->konst[f]) {
            fprintf(stderr, "loyal import: %s is both mapped (--map) and set (--set)\n", fieldNames[f]);
            code = LY_EXIT_USAGE;
        }
    if (code < 0 && optind != argc - 1) {
        fprintf(stderr, optind == argc ? "loyal import: name the CSV file (or - for standard input)\n\n"
                                       : "loyal import: one file at a time\n\n");
        fputs(importHelp, stderr);
        code = LY_EXIT_USAGE;
    }

    FILE *in = NULL;
    if (code < 0) {
        im->path = argv[optind];
        if (strcmp(im->path, "-") == 0) {
            in = stdin;
            im->name = "stdin";
        } else {
            im->name = im->path;
            in = fopen(im->path, "rb");
            if (!in) {
                fprintf(stderr, "loyal import: cannot open %s: %s\n", im->path, strerror(errno));
                code = LY_EXIT_SYSTEM;
            }
        }
    }
    if (code < 0 && access(db, F_OK) != 0) {
        fprintf(stderr, "loyal import: no database %s (create it with loyal init)\n", db);
        code = LY_EXIT_SYSTEM;
    }
    ly_error err;
    ly_error_clear(&err);
    if (code < 0) {
        ly_service_options so = {.db_path = db, .program_path = program};
        if (ly_service_open(&so, &im->svc, &err) != LY_OK) code = ly__cli_fail("import", &err);
    }
    if (code < 0) {
        im->prog = ly_service_program(im->svc);
        im->cal = ly_service_calendar(im->svc);
        im->delim = delim;
        im->csv = ly_csv_open(in, delim);
        if (!im->csv) {
            fprintf(stderr, "loyal import: out of memory\n");
            code = LY_EXIT_SYSTEM;
        }
    }
    if (code < 0) {
        int r = ly_csv_next(im->csv);
        if (r <= 0) {
            fprintf(stderr, "%s:%ld: %s\n", im->name, ly_csv_line(im->csv),
                    r < 0 ? ly_csv_error(im->csv) : "the file is empty: it needs a header row");
            code = LY_EXIT_DATA;
        } else {
            im->n_header = ly_csv_nfields(im->csv);
            im->header = calloc(im->n_header, sizeof *im->header);
            for (size_t i = 0; im->header && i < im->n_header; i++)
                if (!(im->header[i] = strdup(ly_csv_field(im->csv, i)))) code = LY_EXIT_SYSTEM;
            if (!im->header) code = LY_EXIT_SYSTEM;
            if (code < 0) code = bindColumns(im, mapped);
        }
    }
    if (code < 0) {
        im->tty = isatty(STDERR_FILENO);
        im->t0 = im->last_progress = ly_os_usec();
        ly_err rc = ly_store_write(ly_service_store(im->svc), runImport, im, &err);
        double secs = (double)(ly_os_usec() - im->t0) / 1e6;
        if (im->exit_code) {
            fprintf(stderr, "loyal import: nothing was imported from %s\n", im->name);
            code = im->exit_code;
        } else if (rc != LY_OK && !(im->dry_run && im->dry_done && err.kind == LY_ECONFLICT &&
                                    strcmp(err.code, "dry_run") == 0)) {
            code = ly__cli_fail("import", &err);
            if (code != LY_EXIT_SYSTEM) code = LY_EXIT_SYSTEM;
        } else {
            summary(im, secs);
            code = LY_EXIT_OK;
        }
    }

    ly_service_close(im->svc);
    if (in && in != stdin) fclose(in);
    ly_csv_close(im->csv);
    for (size_t i = 0; im->header && i < im->n_header; i++) free(im->header[i]);
    free(im->header);
    for (size_t i = 0; i < n_strs; i++) free(strs[i]);
    free(im->m.t);
    ly_arena_free(&im->keep);
    ly_arena_free(&im->g.arena);
    free(im->g.lines.p);
    free(im->g.canon);
    free(im->seen.p);
    free(im->hist.p);
    free(im->hlines.p);
    free(im);
    return code;
}
