/*
 * test_store.c - the SQLite store against a real database file: the schema and its
 * migrations, each family of primitives (customers, lots, the ledger, receipts, returns,
 * idempotency records, API keys), group commit under many threads with a failing job in the
 * middle of a group, draining on close, and `loyal check`'s verification.
 */
#include "testlib.h"

#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char *dir;
    char *path;
    ly_store *store;
    ly_arena arena;
} fixture;

static int setUp(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->dir = tl_tempdir("store");
    f->path = tl_join(f->dir, "loyal.db");
    ly_store_options opt = {.path = f->path, .sync = LY_SYNC_NORMAL};
    ly_error err;
    if (ly_store_open(&opt, &f->store, &err) != LY_OK) {
        fprintf(stderr, "ly_store_open: %s: %s\n", err.code, err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int tearDown(void **state)
{
    fixture *f = *state;
    ly_store_close(f->store);
    ly_arena_free(&f->arena);
    int rc = tl_rmtree(f->dir);
    free(f->path);
    free(f->dir);
    free(f);
    return rc;
}

/* The first column of the first row of sql, read on a connection of the test's own. */
static int64_t scalar(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static ly_db *reader(fixture *f)
{
    ly_error err;
    ly_db *db = ly_store_reader(f->store, &err);
    assert_non_null(db);
    return db;
}

/* Writes go through jobs; these tests mostly want to run a few calls and see the result. */
typedef ly_err (*writeFn)(ly_db *db, void *ctx, ly_error *err);

static ly_err writeJob(fixture *f, writeFn fn, void *ctx, ly_error *err)
{
    ly_error_clear(err);
    return ly_store_write(f->store, fn, ctx, err);
}

static void hashOf(const char *s, uint8_t out[32])
{
    memset(out, 0, 32);
    for (size_t i = 0; s[i]; i++) out[i % 32] = (uint8_t)(out[i % 32] * 31 + (uint8_t)s[i]);
}

static ly_customer newCustomer(const char *name)
{
    ly_customer c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.attributes = "{}";
    c.enrolled_at = 1000;
    for (int ch = 0; ch < LY_CH_COUNT; ch++) c.consent[ch].state = -1;
    return c;
}

/* ---------------------------------------------------------------------------------------
 * Schema
 * ------------------------------------------------------------------------------------- */

static void migrations_create_the_schema_and_reopening_is_idempotent(void **state)
{
    fixture *f = *state;
    assert_true(ly_store_schema_version() >= 1);
    assert_int_equal(scalar(f->path, "PRAGMA user_version"), ly_store_schema_version());
    const char *tables[] = {"customers", "identifiers", "consent_log", "receipts",
                            "receipt_lines", "returns", "return_lines", "lots", "ledger",
                            "merges", "idempotency", "api_keys"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "SELECT strict FROM pragma_table_list WHERE name = '%s'", tables[i]);
        assert_int_equal(scalar(f->path, sql), 1);
    }
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
    assert_int_equal(scalar(f->path, "SELECT wr FROM pragma_table_list WHERE name = 'identifiers'"), 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM sqlite_schema WHERE type = 'index'"
                                     " AND name IN ('lots_open', 'lots_activation', 'lots_expiry',"
                                     " 'ledger_customer', 'receipts_customer', 'receipts_time',"
                                     " 'identifiers_customer')"), 7);

    /* Reopening applies nothing and keeps the data. */
    ly_store_close(f->store);
    ly_store_options opt = {.path = f->path};
    ly_error err;
    assert_int_equal(ly_store_open(&opt, &f->store, &err), LY_OK);
    assert_int_equal(scalar(f->path, "PRAGMA user_version"), ly_store_schema_version());

    /* A file from a newer Loyal is refused, not damaged. */
    ly_store_close(f->store);
    f->store = NULL;
    sqlite3 *raw;
    assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
    assert_int_equal(sqlite3_exec(raw, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    ly_store *s = NULL;
    assert_int_equal(ly_store_open(&opt, &s, &err), LY_EIO);
    assert_null(s);
    assert_string_equal(err.code, "schema_too_new");
    assert_int_equal(scalar(f->path, "PRAGMA user_version"), 999);
}

/* ---------------------------------------------------------------------------------------
 * Customers and identifiers
 * ------------------------------------------------------------------------------------- */

typedef struct customerJob {
    ly_customer c;
    int64_t other;
} customerJob;

static ly_err runCustomerSetup(ly_db *db, void *ctx, ly_error *err)
{
    customerJob *j = ctx;
    ly_err rc = ly_db_customer_insert(db, &j->c, err);
    if (rc == LY_OK) rc = ly_db_identifier_add(db, j->c.id, LY_ID_PHONE, "+79161234567", 1000, err);
    if (rc == LY_OK) rc = ly_db_identifier_add(db, j->c.id, LY_ID_CARD, "CARD-2", 1000, err);
    if (rc == LY_OK) rc = ly_db_identifier_add(db, j->c.id, LY_ID_CARD, "CARD-1", 1000, err);
    /* Adding what the customer already has is a no-op. */
    if (rc == LY_OK) rc = ly_db_identifier_add(db, j->c.id, LY_ID_CARD, "CARD-1", 2000, err);
    if (rc == LY_OK) rc = ly_db_identifier_add(db, j->c.id, LY_ID_EMAIL, "anna@example.com", 1000, err);
    ly_customer o = newCustomer(NULL);
    if (rc == LY_OK) rc = ly_db_customer_insert(db, &o, err);
    j->other = o.id;
    return rc;
}

static ly_err runTakeCard(ly_db *db, void *ctx, ly_error *err)
{
    customerJob *j = ctx;
    return ly_db_identifier_add(db, j->other, LY_ID_CARD, "CARD-1", 3000, err);
}

static ly_err runCustomerUpdate(ly_db *db, void *ctx, ly_error *err)
{
    customerJob *j = ctx;
    ly_err rc = ly_db_customer_update(db, &j->c, err);
    if (rc == LY_OK) rc = ly_db_consent_log(db, j->c.id, LY_CH_EMAIL, true, 5000, err);
    ly_account acc = {.available = 7, .pending = 3, .debt = 0};
    if (rc == LY_OK) rc = ly_db_account_save(db, j->c.id, &acc, err);
    if (rc == LY_OK) rc = ly_db_identifier_remove(db, j->c.id, LY_ID_CARD, err);
    return rc;
}

static ly_err runUpdateMissing(ly_db *db, void *ctx, ly_error *err)
{
    ly_customer c = newCustomer("ghost");
    c.id = 424242;
    return ly_db_customer_update(db, &c, err);
}

static void customers_are_stored_found_and_updated(void **state)
{
    fixture *f = *state;
    ly_error err;
    customerJob j = {.c = newCustomer("Anna")};
    j.c.birth_date = "1990-05-17";
    j.c.attributes = "{\"tier\":\"gold\"}";
    j.c.enrolled_store = "S001";
    j.c.consent[LY_CH_SMS] = (ly_consent){1, 900};
    j.c.updated_at = 1000;
    assert_int_equal(writeJob(f, runCustomerSetup, &j, &err), LY_OK);
    assert_true(j.c.id > 0);
    assert_true(j.other > j.c.id);

    ly_db *db = reader(f);
    ly_customer c;
    assert_int_equal(ly_db_customer_get(db, j.c.id, &f->arena, &c, &err), LY_OK);
    assert_int_equal(c.id, j.c.id);
    assert_string_equal(c.name, "Anna");
    assert_string_equal(c.birth_date, "1990-05-17");
    assert_string_equal(c.attributes, "{\"tier\":\"gold\"}");
    assert_string_equal(c.enrolled_store, "S001");
    assert_int_equal(c.enrolled_at, 1000);
    assert_int_equal(c.merged_into, 0);
    assert_int_equal(c.consent[LY_CH_SMS].state, 1);
    assert_int_equal(c.consent[LY_CH_SMS].at, 900);
    assert_int_equal(c.consent[LY_CH_EMAIL].state, -1);
    assert_int_equal(c.consent[LY_CH_PUSH].state, -1);
    assert_int_equal(c.account.available, 0);
    /* Identifiers by kind (card, phone, email), then value. */
    assert_int_equal(c.n_ids, 4);
    assert_int_equal(c.ids[0].kind, LY_ID_CARD);
    assert_string_equal(c.ids[0].value, "CARD-1");
    assert_int_equal(c.ids[1].kind, LY_ID_CARD);
    assert_string_equal(c.ids[1].value, "CARD-2");
    assert_int_equal(c.ids[2].kind, LY_ID_PHONE);
    assert_int_equal(c.ids[3].kind, LY_ID_EMAIL);
    /* Stored by name, for people who query the database. */
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE kind = 'card'"), 2);

    /* The other customer: no name, attributes "{}", no identifiers. */
    assert_int_equal(ly_db_customer_get(db, j.other, &f->arena, &c, &err), LY_OK);
    assert_null(c.name);
    assert_string_equal(c.attributes, "{}");
    assert_int_equal(c.n_ids, 0);

    int64_t id = 0;
    assert_int_equal(ly_db_customer_find(db, LY_ID_PHONE, "+79161234567", &id, &err), LY_OK);
    assert_int_equal(id, j.c.id);
    assert_int_equal(ly_db_customer_find(db, LY_ID_PHONE, "+70000000000", &id, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");
    assert_int_equal(ly_db_customer_get(db, 999999, &f->arena, &c, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");

    /* Another customer cannot take the card; nothing of that job is kept. */
    assert_int_equal(writeJob(f, runTakeCard, &j, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "identifier_taken");
    assert_string_equal(err.field, "card");
    assert_int_equal(ly_db_customer_find(db, LY_ID_CARD, "CARD-1", &id, &err), LY_OK);
    assert_int_equal(id, j.c.id);

    /* Updates: profile, consent history, account, removal of a kind of identifier. */
    j.c.name = "Anna K.";
    j.c.birth_date = NULL;
    j.c.consent[LY_CH_EMAIL] = (ly_consent){1, 5000};
    j.c.updated_at = 5000;
    assert_int_equal(writeJob(f, runCustomerUpdate, &j, &err), LY_OK);
    assert_int_equal(ly_db_customer_get(db, j.c.id, &f->arena, &c, &err), LY_OK);
    assert_string_equal(c.name, "Anna K.");
    assert_null(c.birth_date);
    assert_int_equal(c.consent[LY_CH_EMAIL].state, 1);
    assert_int_equal(c.consent[LY_CH_EMAIL].at, 5000);
    assert_int_equal(c.updated_at, 5000);
    assert_int_equal(c.account.available, 7);
    assert_int_equal(c.account.pending, 3);
    assert_int_equal(c.n_ids, 2);
    assert_int_equal(c.ids[0].kind, LY_ID_PHONE);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM consent_log WHERE channel = 'email' AND given = 1 AND at = 5000"), 1);

    assert_int_equal(writeJob(f, runUpdateMissing, NULL, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");
}

/* ---------------------------------------------------------------------------------------
 * Lots and the ledger
 * ------------------------------------------------------------------------------------- */

typedef struct lotsJob {
    int64_t customer, other;
    ly_lot lots[6];
} lotsJob;

static ly_err runLotsSetup(ly_db *db, void *ctx, ly_error *err)
{
    lotsJob *j = ctx;
    ly_customer a = newCustomer("A"), b = newCustomer("B");
    ly_err rc = ly_db_customer_insert(db, &a, err);
    if (rc == LY_OK) rc = ly_db_customer_insert(db, &b, err);
    j->customer = a.id;
    j->other = b.id;
    /* points, remaining, active_at, expires_at, state */
    const ly_lot shapes[6] = {
        {0, 100, 100, 100, 0, LY_LOT_ACTIVE, false},      /* never expires: last */
        {0, 50, 20, 100, 9000, LY_LOT_ACTIVE, false},
        {0, 30, 30, 5000, 8000, LY_LOT_PENDING, false},
        {0, 10, 0, 100, 7000, LY_LOT_SPENT, false},       /* closed: not open */
        {0, 40, 40, 100, 8000, LY_LOT_ACTIVE, false},     /* same expiry as [2]: by id */
        {0, 60, 60, 100, 500, LY_LOT_ACTIVE, false},      /* other customer, expired by 600 */
    };
    for (int i = 0; i < 6 && rc == LY_OK; i++) {
        j->lots[i] = shapes[i];
        rc = ly_db_lot_insert(db, i == 5 ? b.id : a.id, i == 2 ? LY_ENTRY_BONUS : LY_ENTRY_EARN, 0,
                              &j->lots[i], err);
    }
    return rc;
}

static ly_err runLotUpdate(ly_db *db, void *ctx, ly_error *err)
{
    ly_lot *l = ctx;
    return ly_db_lot_update(db, l, err);
}

static void lots_are_stored_and_open_ones_come_soonest_expiry_first(void **state)
{
    fixture *f = *state;
    ly_error err;
    lotsJob j;
    assert_int_equal(writeJob(f, runLotsSetup, &j, &err), LY_OK);
    for (int i = 0; i < 6; i++) assert_true(j.lots[i].id > 0);

    ly_db *db = reader(f);
    ly_lot *open;
    size_t n;
    assert_int_equal(ly_db_lots_open(db, j.customer, &f->arena, &open, &n, &err), LY_OK);
    assert_int_equal(n, 4);
    assert_int_equal(open[0].id, j.lots[2].id); /* expires 8000, lower id */
    assert_int_equal(open[1].id, j.lots[4].id); /* expires 8000 */
    assert_int_equal(open[2].id, j.lots[1].id); /* expires 9000 */
    assert_int_equal(open[3].id, j.lots[0].id); /* never */
    assert_int_equal(open[0].state, LY_LOT_PENDING);
    assert_int_equal(open[0].points, 30);
    assert_int_equal(open[0].active_at, 5000);
    assert_int_equal(open[2].remaining, 20);
    assert_false(open[0].dirty);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM lots WHERE source = 'bonus' AND state = 'pending'"), 1);

    /* Which customers have something due, in id order, paged. */
    int64_t *ids;
    assert_int_equal(ly_db_lots_due(db, 400, 0, 10, &f->arena, &ids, &n, &err), LY_OK);
    assert_int_equal(n, 0);
    assert_int_equal(ly_db_lots_due(db, 600, 0, 10, &f->arena, &ids, &n, &err), LY_OK);
    assert_int_equal(n, 1); /* only the other customer's lot expired */
    assert_int_equal(ids[0], j.other);
    assert_int_equal(ly_db_lots_due(db, 6000, 0, 10, &f->arena, &ids, &n, &err), LY_OK);
    assert_int_equal(n, 2); /* and the pending lot's time has come */
    assert_int_equal(ids[0], j.customer);
    assert_int_equal(ids[1], j.other);
    assert_int_equal(ly_db_lots_due(db, 6000, 0, 1, &f->arena, &ids, &n, &err), LY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], j.customer);
    assert_int_equal(ly_db_lots_due(db, 6000, j.customer, 10, &f->arena, &ids, &n, &err), LY_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], j.other);

    /* Updates change remaining and state only; a spent lot leaves the open ones. */
    ly_lot l = open[2];
    l.remaining = 0;
    l.state = LY_LOT_SPENT;
    assert_int_equal(writeJob(f, runLotUpdate, &l, &err), LY_OK);
    ly_lot got;
    int64_t owner = 0;
    assert_int_equal(ly_db_lot_get(db, l.id, &got, &owner, &err), LY_OK);
    assert_int_equal(owner, j.customer);
    assert_int_equal(got.state, LY_LOT_SPENT);
    assert_int_equal(got.remaining, 0);
    assert_int_equal(got.points, 50);
    assert_int_equal(got.expires_at, 9000);
    assert_int_equal(ly_db_lots_open(db, j.customer, &f->arena, &open, &n, &err), LY_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ly_db_lot_get(db, 987654, &got, &owner, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "lot_not_found");
}

typedef struct entriesJob {
    int64_t customer;
    ly_entry e[5];
} entriesJob;

static ly_err runEntries(ly_db *db, void *ctx, ly_error *err)
{
    entriesJob *j = ctx;
    ly_customer c = newCustomer("E");
    ly_err rc = ly_db_customer_insert(db, &c, err);
    j->customer = c.id;
    ly_lot lot = {0, 10, 10, 0, 0, LY_LOT_ACTIVE, false};
    if (rc == LY_OK) rc = ly_db_lot_insert(db, c.id, LY_ENTRY_EARN, 0, &lot, err);
    for (int i = 0; i < 5 && rc == LY_OK; i++) {
        j->e[i] = (ly_entry){.customer_id = c.id, .kind = (ly_entry_kind)i,
                             .delta = {i * 10, -i}, .at = 100 + i};
        if (i == 0) {
            j->e[i].lot_id = lot.id;
            j->e[i].receipt_id = "R-1";
        }
        if (i == 2) {
            j->e[i].return_id = "RET-1";
            j->e[i].note = "partial";
        }
        if (i == 4) j->e[i].ref = "adj-7";
        rc = ly_db_entry_insert(db, &j->e[i], err);
    }
    return rc;
}

static void ledger_entries_page_newest_first(void **state)
{
    fixture *f = *state;
    ly_error err;
    entriesJob j;
    assert_int_equal(writeJob(f, runEntries, &j, &err), LY_OK);
    for (int i = 1; i < 5; i++) assert_true(j.e[i].id > j.e[i - 1].id);

    ly_db *db = reader(f);
    ly_entry *page;
    size_t n;
    assert_int_equal(ly_db_entries_page(db, j.customer, 0, 3, &f->arena, &page, &n, &err), LY_OK);
    assert_int_equal(n, 3);
    assert_int_equal(page[0].id, j.e[4].id);
    assert_int_equal(page[0].kind, LY_ENTRY_ACTIVATE);
    assert_string_equal(page[0].ref, "adj-7");
    assert_null(page[0].receipt_id);
    assert_int_equal(page[2].id, j.e[2].id);
    assert_int_equal(page[2].delta.available, 20);
    assert_int_equal(page[2].delta.pending, -2);
    assert_string_equal(page[2].return_id, "RET-1");
    assert_string_equal(page[2].note, "partial");
    assert_int_equal(page[2].at, 102);
    assert_int_equal(ly_db_entries_page(db, j.customer, page[2].id, 10, &f->arena, &page, &n, &err), LY_OK);
    assert_int_equal(n, 2);
    assert_int_equal(page[1].id, j.e[0].id);
    assert_int_equal(page[1].kind, LY_ENTRY_EARN);
    assert_int_equal(page[1].lot_id, j.e[0].lot_id);
    assert_string_equal(page[1].receipt_id, "R-1");
    assert_int_equal(page[1].customer_id, j.customer);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM ledger WHERE kind = 'redeem'"), 1);
    assert_int_equal(ly_db_entries_page(db, j.customer + 1000, 0, 10, &f->arena, &page, &n, &err), LY_OK);
    assert_int_equal(n, 0);
}

typedef struct moveJob {
    int64_t from, into;
    ly_lot open, spent;
    int64_t receipt;
} moveJob;

static ly_stored_receipt sampleReceipt(const char *id, int64_t customer, ly_line *lines,
                                       ly_line_price *prices, ly_qty *returned);

static ly_err runMoveSetup(ly_db *db, void *ctx, ly_error *err)
{
    moveJob *j = ctx;
    ly_customer a = newCustomer("From"), b = newCustomer("Into");
    ly_err rc = ly_db_customer_insert(db, &a, err);
    if (rc == LY_OK) rc = ly_db_customer_insert(db, &b, err);
    j->from = a.id;
    j->into = b.id;
    if (rc == LY_OK) rc = ly_db_identifier_add(db, a.id, LY_ID_CARD, "FROM-CARD", 1, err);
    if (rc == LY_OK) rc = ly_db_identifier_add(db, b.id, LY_ID_CARD, "INTO-CARD", 1, err);
    j->open = (ly_lot){0, 10, 10, 0, 0, LY_LOT_ACTIVE, false};
    j->spent = (ly_lot){0, 10, 0, 0, 0, LY_LOT_SPENT, false};
    if (rc == LY_OK) rc = ly_db_lot_insert(db, a.id, LY_ENTRY_EARN, 0, &j->open, err);
    if (rc == LY_OK) rc = ly_db_lot_insert(db, a.id, LY_ENTRY_EARN, 0, &j->spent, err);
    ly_line lines[3];
    ly_line_price prices[3];
    ly_qty returned[3];
    ly_stored_receipt r = sampleReceipt("MOVE-1", a.id, lines, prices, returned);
    if (rc == LY_OK) rc = ly_db_receipt_insert(db, &r, err);
    j->receipt = r.rowid;
    return rc;
}

static ly_err runMove(ly_db *db, void *ctx, ly_error *err)
{
    moveJob *j = ctx;
    return ly_db_customer_move(db, j->from, j->into, 777, err);
}

static void a_merge_moves_identifiers_open_lots_and_receipts(void **state)
{
    fixture *f = *state;
    ly_error err;
    moveJob j;
    assert_int_equal(writeJob(f, runMoveSetup, &j, &err), LY_OK);
    assert_int_equal(writeJob(f, runMove, &j, &err), LY_OK);

    ly_db *db = reader(f);
    ly_customer c;
    assert_int_equal(ly_db_customer_get(db, j.from, &f->arena, &c, &err), LY_OK);
    assert_int_equal(c.merged_into, j.into);
    assert_int_equal(c.n_ids, 0);
    assert_int_equal(ly_db_customer_get(db, j.into, &f->arena, &c, &err), LY_OK);
    assert_int_equal(c.n_ids, 2);
    assert_string_equal(c.ids[0].value, "FROM-CARD");
    assert_string_equal(c.ids[1].value, "INTO-CARD");
    ly_lot l;
    int64_t owner;
    assert_int_equal(ly_db_lot_get(db, j.open.id, &l, &owner, &err), LY_OK);
    assert_int_equal(owner, j.into);
    assert_int_equal(ly_db_lot_get(db, j.spent.id, &l, &owner, &err), LY_OK);
    assert_int_equal(owner, j.from); /* history stays */
    ly_stored_receipt r;
    assert_int_equal(ly_db_receipt_find(db, "MOVE-1", &f->arena, &r, &err), LY_OK);
    assert_int_equal(r.customer_id, j.into);
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM merges WHERE from_id = %lld AND into_id = %lld AND at = 777",
             (long long)j.from, (long long)j.into);
    assert_int_equal(scalar(f->path, sql), 1);

    /* Merging a customer that does not exist changes nothing. */
    j.from = 99999;
    assert_int_equal(writeJob(f, runMove, &j, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "customer_not_found");
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM merges"), 1);
}

/* ---------------------------------------------------------------------------------------
 * Receipts and returns
 * ------------------------------------------------------------------------------------- */

static ly_stored_receipt sampleReceipt(const char *id, int64_t customer, ly_line *lines,
                                       ly_line_price *prices, ly_qty *returned)
{
    lines[0] = (ly_line){"MILK-1", "Milk 1L", "dairy", "Farm", 2000, 8990, 17980};
    lines[1] = (ly_line){"BREAD", NULL, NULL, NULL, 1000, 5000, 5000};
    lines[2] = (ly_line){"APPLE", "Apples", "fruit", NULL, 1500, 12000, 18000};
    prices[0] = (ly_line_price){.points_redeemed = 40, .discount = 4000, .points_earned = 6};
    prices[1] = (ly_line_price){.points_redeemed = 11, .discount = 1100, .points_earned = 2};
    prices[2] = (ly_line_price){.points_redeemed = 0, .discount = 0, .points_earned = 9};
    memset(returned, 0, 3 * sizeof *returned);
    ly_stored_receipt r;
    memset(&r, 0, sizeof r);
    r.receipt = (ly_receipt){.receipt_id = id, .store = "S001", .cashier = "C-7",
                             .payment = "card", .channel = LY_SALES_APP, .time = 1764000000,
                             .utc_offset_min = 180, .total = 40980, .lines = lines, .n_lines = 3};
    r.customer_id = customer;
    r.id_kind = customer ? LY_ID_CARD : LY_ID_KIND_COUNT;
    r.pricing = (ly_pricing){.lines = prices, .total = 40980, .discount = 5100, .paid = 35880,
                             .redeem = 51, .max_redeem = 204, .earn = 17};
    r.returned = returned;
    r.redeemed_expiry = 1800000000;
    r.program_version = "v-test";
    hashOf(id, r.request_hash);
    r.response = "{\"ok\":true}";
    r.created_at = 1764000001;
    return r;
}

typedef struct receiptJob {
    int64_t customer;
    ly_stored_receipt r, anon;
    ly_line lines[3], anon_lines[3];
    ly_line_price prices[3], anon_prices[3];
    ly_qty returned[3], anon_returned[3];
    ly_lot lot;
} receiptJob;

static ly_err runReceipts(ly_db *db, void *ctx, ly_error *err)
{
    receiptJob *j = ctx;
    ly_customer c = newCustomer("R");
    ly_err rc = ly_db_customer_insert(db, &c, err);
    j->customer = c.id;
    j->lot = (ly_lot){0, 17, 17, 2000000000, 0, LY_LOT_PENDING, false};
    if (rc == LY_OK) rc = ly_db_lot_insert(db, c.id, LY_ENTRY_EARN, 0, &j->lot, err);
    j->r = sampleReceipt("R-100", c.id, j->lines, j->prices, j->returned);
    j->r.lot_id = j->lot.id;
    if (rc == LY_OK) rc = ly_db_receipt_insert(db, &j->r, err);
    j->anon = sampleReceipt("R-101", 0, j->anon_lines, j->anon_prices, j->anon_returned);
    j->anon.receipt.channel = LY_SALES_ONLINE;
    j->anon.receipt.cashier = NULL;
    if (rc == LY_OK) rc = ly_db_receipt_insert(db, &j->anon, err);
    return rc;
}

static ly_err runReceiptAgain(ly_db *db, void *ctx, ly_error *err)
{
    receiptJob *j = ctx;
    return ly_db_receipt_insert(db, &j->r, err);
}

static ly_err runReturned(ly_db *db, void *ctx, ly_error *err)
{
    ly_stored_receipt *r = ctx;
    return ly_db_receipt_returned(db, r, err);
}

typedef struct returnJob {
    ly_stored_return ret;
    ly_return_line lines[2];
} returnJob;

static ly_err runReturn(ly_db *db, void *ctx, ly_error *err)
{
    returnJob *j = ctx;
    return ly_db_return_insert(db, &j->ret, err);
}

static void receipts_round_trip_with_lines_pricing_and_returns(void **state)
{
    fixture *f = *state;
    ly_error err;
    receiptJob *j = calloc(1, sizeof *j);
    assert_non_null(j);
    assert_int_equal(writeJob(f, runReceipts, j, &err), LY_OK);
    assert_true(j->r.rowid > 0);
    assert_true(j->anon.rowid > j->r.rowid);

    ly_db *db = reader(f);
    ly_stored_receipt r;
    assert_int_equal(ly_db_receipt_find(db, "R-100", &f->arena, &r, &err), LY_OK);
    assert_int_equal(r.rowid, j->r.rowid);
    assert_string_equal(r.receipt.receipt_id, "R-100");
    assert_string_equal(r.receipt.store, "S001");
    assert_string_equal(r.receipt.cashier, "C-7");
    assert_string_equal(r.receipt.payment, "card");
    assert_int_equal(r.receipt.channel, LY_SALES_APP);
    assert_int_equal(r.receipt.time, 1764000000);
    assert_int_equal(r.receipt.utc_offset_min, 180);
    assert_int_equal(r.receipt.total, 40980);
    assert_int_equal(r.receipt.n_lines, 3);
    assert_int_equal(r.customer_id, j->customer);
    assert_int_equal(r.id_kind, LY_ID_CARD);
    assert_int_equal(r.pricing.total, 40980);
    assert_int_equal(r.pricing.discount, 5100);
    assert_int_equal(r.pricing.paid, 35880);
    assert_int_equal(r.pricing.redeem, 51);
    assert_int_equal(r.pricing.max_redeem, 204);
    assert_int_equal(r.pricing.earn, 17);
    assert_int_equal(r.lot_id, j->lot.id);
    assert_int_equal(r.redeemed_expiry, 1800000000);
    assert_string_equal(r.program_version, "v-test");
    assert_memory_equal(r.request_hash, j->r.request_hash, 32);
    assert_string_equal(r.response, "{\"ok\":true}");
    assert_int_equal(r.created_at, 1764000001);
    for (size_t i = 0; i < 3; i++) {
        const ly_line *want = &j->lines[i], *got = &r.receipt.lines[i];
        assert_string_equal(got->sku, want->sku);
        if (want->name) assert_string_equal(got->name, want->name);
        else assert_null(got->name);
        if (want->brand) assert_string_equal(got->brand, want->brand);
        else assert_null(got->brand);
        assert_int_equal(got->qty, want->qty);
        assert_int_equal(got->price, want->price);
        assert_int_equal(got->amount, want->amount);
        assert_int_equal(r.pricing.lines[i].discount, j->prices[i].discount);
        assert_int_equal(r.pricing.lines[i].points_earned, j->prices[i].points_earned);
        assert_int_equal(r.pricing.lines[i].points_redeemed, j->prices[i].points_redeemed);
        assert_int_equal(r.returned[i], 0);
    }
    assert_string_equal(r.receipt.lines[2].category, "fruit");
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM receipts WHERE channel = 'app' AND id_kind = 'card'"), 1);

    /* The anonymous receipt: no customer, no way of identification. */
    assert_int_equal(ly_db_receipt_find(db, "R-101", &f->arena, &r, &err), LY_OK);
    assert_int_equal(r.customer_id, 0);
    assert_int_equal(r.id_kind, LY_ID_KIND_COUNT);
    assert_int_equal(r.lot_id, 0);
    assert_int_equal(r.receipt.channel, LY_SALES_ONLINE);
    assert_null(r.receipt.cashier);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM receipts WHERE customer_id IS NULL AND id_kind IS NULL"), 1);

    assert_int_equal(ly_db_receipt_find(db, "R-404", &f->arena, &r, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "receipt_not_found");
    assert_int_equal(writeJob(f, runReceiptAgain, j, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "receipt_exists");

    /* Returned quantities. */
    assert_int_equal(ly_db_receipt_find(db, "R-100", &f->arena, &r, &err), LY_OK);
    r.returned[0] = 1000;
    r.returned[2] = 1500;
    assert_int_equal(writeJob(f, runReturned, &r, &err), LY_OK);
    assert_int_equal(ly_db_receipt_find(db, "R-100", &f->arena, &r, &err), LY_OK);
    assert_int_equal(r.returned[0], 1000);
    assert_int_equal(r.returned[1], 0);
    assert_int_equal(r.returned[2], 1500);

    /* A return of two lines. */
    returnJob rj;
    memset(&rj, 0, sizeof rj);
    rj.lines[0] = (ly_return_line){.line = 0, .qty = 1000, .amount = 6990, .points_taken = 3, .points_refunded = 20};
    rj.lines[1] = (ly_return_line){.line = 2, .qty = 1500, .amount = 18000, .points_taken = 9};
    rj.ret = (ly_stored_return){.return_id = "RET-9", .receipt_rowid = r.rowid, .time = 1764100000,
                                .amount = 24990, .points_taken = 12, .points_refunded = 20,
                                .points_forgiven = 2, .lines = rj.lines, .n_lines = 2,
                                .response = "{\"returned\":true}", .created_at = 1764100001};
    hashOf("RET-9", rj.ret.request_hash);
    assert_int_equal(writeJob(f, runReturn, &rj, &err), LY_OK);
    assert_true(rj.ret.rowid > 0);
    ly_stored_return ret;
    assert_int_equal(ly_db_return_find(db, "RET-9", &f->arena, &ret, &err), LY_OK);
    assert_int_equal(ret.rowid, rj.ret.rowid);
    assert_string_equal(ret.return_id, "RET-9");
    assert_int_equal(ret.receipt_rowid, r.rowid);
    assert_int_equal(ret.time, 1764100000);
    assert_int_equal(ret.amount, 24990);
    assert_int_equal(ret.points_taken, 12);
    assert_int_equal(ret.points_refunded, 20);
    assert_int_equal(ret.points_forgiven, 2);
    assert_memory_equal(ret.request_hash, rj.ret.request_hash, 32);
    assert_string_equal(ret.response, "{\"returned\":true}");
    assert_int_equal(ret.created_at, 1764100001);
    assert_int_equal(ret.n_lines, 2);
    assert_int_equal(ret.lines[0].line, 0);
    assert_int_equal(ret.lines[0].points_refunded, 20);
    assert_int_equal(ret.lines[1].line, 2);
    assert_int_equal(ret.lines[1].qty, 1500);
    assert_int_equal(ret.lines[1].amount, 18000);
    assert_int_equal(ret.lines[1].points_taken, 9);
    assert_int_equal(ly_db_return_find(db, "RET-404", &f->arena, &ret, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "return_not_found");
    assert_int_equal(writeJob(f, runReturn, &rj, &err), LY_ECONFLICT);
    assert_string_equal(err.code, "return_exists");
    free(j);
}

/* ---------------------------------------------------------------------------------------
 * Idempotency records and API keys
 * ------------------------------------------------------------------------------------- */

static ly_err runIdemPut(ly_db *db, void *ctx, ly_error *err)
{
    uint8_t h[32];
    hashOf("request", h);
    return ly_db_idem_put(db, (const char *)ctx, h, 201, "{\"id\":1}", 1234, err);
}

static void idempotency_records_keep_the_response(void **state)
{
    fixture *f = *state;
    ly_error err;
    ly_db *db = reader(f);
    uint8_t h[32], want[32];
    int status = 0;
    const char *resp = NULL;
    assert_int_equal(ly_db_idem_get(db, "customer:k1", &f->arena, h, &status, &resp, &err), LY_ENOTFOUND);
    assert_int_equal(writeJob(f, runIdemPut, "customer:k1", &err), LY_OK);
    assert_int_equal(ly_db_idem_get(db, "customer:k1", &f->arena, h, &status, &resp, &err), LY_OK);
    hashOf("request", want);
    assert_memory_equal(h, want, 32);
    assert_int_equal(status, 201);
    assert_string_equal(resp, "{\"id\":1}");
    assert_int_equal(writeJob(f, runIdemPut, "customer:k1", &err), LY_ECONFLICT);
    assert_int_equal(ly_db_idem_get(db, "customer:k2", &f->arena, h, &status, &resp, &err), LY_ENOTFOUND);
}

typedef struct keyJob {
    ly_api_key k[2];
    int64_t revoke;
} keyJob;

static ly_err runKeys(ly_db *db, void *ctx, ly_error *err)
{
    keyJob *j = ctx;
    uint8_t h[32];
    hashOf("ly_admin", h);
    ly_err rc = ly_db_key_insert(db, h, &j->k[0], err);
    hashOf("ly_pos", h);
    if (rc == LY_OK) rc = ly_db_key_insert(db, h, &j->k[1], err);
    return rc;
}

static ly_err runRevoke(ly_db *db, void *ctx, ly_error *err)
{
    keyJob *j = ctx;
    return ly_db_key_revoke(db, j->revoke, 5000, err);
}

static void api_keys_are_found_by_hash_until_revoked(void **state)
{
    fixture *f = *state;
    ly_error err;
    keyJob j = {.k = {{.prefix = "ly_adm", .role = "admin", .label = "ops", .created_at = 100},
                      {.prefix = "ly_pos", .role = "pos", .created_at = 200}}};
    assert_int_equal(writeJob(f, runKeys, &j, &err), LY_OK);
    assert_true(j.k[1].id > j.k[0].id);

    ly_db *db = reader(f);
    uint8_t h[32];
    ly_api_key k;
    hashOf("ly_pos", h);
    assert_int_equal(ly_db_key_find(db, h, &f->arena, &k, &err), LY_OK);
    assert_int_equal(k.id, j.k[1].id);
    assert_string_equal(k.prefix, "ly_pos");
    assert_string_equal(k.role, "pos");
    assert_null(k.label);
    assert_int_equal(k.created_at, 200);
    assert_int_equal(k.revoked_at, 0);
    hashOf("ly_nobody", h);
    assert_int_equal(ly_db_key_find(db, h, &f->arena, &k, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "api_key_not_found");

    j.revoke = j.k[1].id;
    assert_int_equal(writeJob(f, runRevoke, &j, &err), LY_OK);
    hashOf("ly_pos", h);
    assert_int_equal(ly_db_key_find(db, h, &f->arena, &k, &err), LY_ENOTFOUND);
    ly_api_key *list;
    size_t n;
    assert_int_equal(ly_db_keys_list(db, &f->arena, &list, &n, &err), LY_OK);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].label, "ops");
    assert_int_equal(list[0].revoked_at, 0);
    assert_int_equal(list[1].revoked_at, 5000);

    j.revoke = 4040;
    assert_int_equal(writeJob(f, runRevoke, &j, &err), LY_ENOTFOUND);
    assert_string_equal(err.code, "api_key_not_found");
}

/* ---------------------------------------------------------------------------------------
 * Group commit
 * ------------------------------------------------------------------------------------- */

/* A job that holds the writer until released, so that the jobs submitted meanwhile pile up
 * in the queue and are committed in groups whose sizes the test knows. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
    ly_write_job job;
} gate;

static ly_err runGate(ly_db *db, void *ctx, ly_error *err)
{
    gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return LY_OK;
}

/* Submits the gate and waits until the writer is inside it: the gate's group is the gate
 * alone, and everything submitted from now on waits in the queue. */
static void gateClose(fixture *f, gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->entered = g->open = false;
    g->job = (ly_write_job){.run = runGate, .ctx = g};
    assert_int_equal(ly_store_submit(f->store, &g->job), LY_OK);
    pthread_mutex_lock(&g->mu);
    while (!g->entered) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gateOpen(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gateFree(gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

/* Jobs that each insert one identifier of a shared customer, and count their completion. */
typedef struct tally {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, ok;
    int64_t customer;
} tally;

typedef struct idJob {
    ly_write_job job;
    tally *t;
    int64_t customer;       /* 0: the tally's customer */
    char value[32];
    bool fail_after_insert; /* inserts, then fails: must leave nothing behind */
    ly_err rc;
    char code[48];
} idJob;

static ly_err runIdJob(ly_db *db, void *ctx, ly_error *err)
{
    idJob *j = ctx;
    ly_err rc = ly_db_identifier_add(db, j->customer ? j->customer : j->t->customer,
                                     LY_ID_EXTERNAL, j->value, 1, err);
    if (rc == LY_OK && j->fail_after_insert)
        return ly_error_set(err, LY_EUNPROCESSABLE, "changed_my_mind", NULL, "rolled back");
    return rc;
}

static void doneIdJob(void *ctx, ly_err rc, const ly_error *err)
{
    idJob *j = ctx;
    j->rc = rc;
    snprintf(j->code, sizeof j->code, "%s", rc != LY_OK && err ? err->code : "");
    pthread_mutex_lock(&j->t->mu);
    j->t->done++;
    j->t->ok += rc == LY_OK;
    pthread_cond_broadcast(&j->t->cv);
    pthread_mutex_unlock(&j->t->mu);
}

static void tallyWait(tally *t, int n)
{
    pthread_mutex_lock(&t->mu);
    while (t->done < n) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
}

static ly_err runOneCustomer(ly_db *db, void *ctx, ly_error *err)
{
    ly_customer c = newCustomer("G");
    ly_err rc = ly_db_customer_insert(db, &c, err);
    *(int64_t *)ctx = c.id;
    return rc;
}

static void tallyInit(fixture *f, tally *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    ly_error err;
    assert_int_equal(writeJob(f, runOneCustomer, &t->customer, &err), LY_OK);
}

#define THREADS 8
#define PER_THREAD 500

typedef struct submitter {
    fixture *f;
    idJob *jobs;
    int n;
    atomic_int *submitted;
    int refused;
} submitter;

static void *submitMain(void *arg)
{
    submitter *s = arg;
    for (int i = 0; i < s->n; i++) {
        if (ly_store_submit(s->f->store, &s->jobs[i].job) != LY_OK) s->refused++;
        atomic_fetch_add(s->submitted, 1);
    }
    return NULL;
}

static void idJobInit(idJob *j, tally *t, const char *value)
{
    memset(j, 0, sizeof *j);
    j->t = t;
    snprintf(j->value, sizeof j->value, "%s", value);
    j->job = (ly_write_job){.run = runIdJob, .done = doneIdJob, .ctx = j};
}

static void many_threads_submit_and_jobs_are_committed_in_groups(void **state)
{
    fixture *f = *state;
    tally t;
    tallyInit(f, &t);
    ly_store_stats before;
    ly_store_stats_get(f->store, &before);

    idJob *jobs = calloc(THREADS * PER_THREAD, sizeof *jobs);
    assert_non_null(jobs);
    for (int th = 0; th < THREADS; th++) {
        for (int i = 0; i < PER_THREAD; i++) {
            char v[32];
            snprintf(v, sizeof v, "T%d-%d", th, i);
            idJobInit(&jobs[th * PER_THREAD + i], &t, v);
        }
    }
    /* One job in the middle fails after writing; its group must keep the others. */
    jobs[3 * PER_THREAD + 250].fail_after_insert = true;

    /* The writer is held until half the jobs are queued: those are committed in groups of
     * up to 512 for sure; the rest race the writer as they would in production. */
    gate g;
    gateClose(f, &g);
    atomic_int submitted = 0;
    submitter subs[THREADS];
    pthread_t threads[THREADS];
    for (int th = 0; th < THREADS; th++) {
        subs[th] = (submitter){f, &jobs[th * PER_THREAD], PER_THREAD, &submitted, 0};
        assert_int_equal(pthread_create(&threads[th], NULL, submitMain, &subs[th]), 0);
    }
    while (atomic_load(&submitted) < THREADS * PER_THREAD / 2) usleep(100);
    gateOpen(&g);
    for (int th = 0; th < THREADS; th++) {
        pthread_join(threads[th], NULL);
        assert_int_equal(subs[th].refused, 0);
    }
    tallyWait(&t, THREADS * PER_THREAD);
    gateFree(&g);

    /* Every done() ran once; all but the failing job committed. */
    assert_int_equal(t.done, THREADS * PER_THREAD);
    assert_int_equal(t.ok, THREADS * PER_THREAD - 1);
    idJob *bad = &jobs[3 * PER_THREAD + 250];
    assert_int_equal(bad->rc, LY_EUNPROCESSABLE);
    assert_string_equal(bad->code, "changed_my_mind");
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE kind = 'external'"),
                     THREADS * PER_THREAD - 1);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE value = 'T3-250'"), 0);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE value = 'T3-249'"), 1);

    ly_store_stats after;
    ly_store_stats_get(f->store, &after);
    uint64_t jobsRun = after.jobs - before.jobs;
    assert_int_equal(jobsRun, THREADS * PER_THREAD + 1); /* and the gate */
    assert_int_equal(after.jobs_failed - before.jobs_failed, 1);
    uint64_t groups = 0, big = 0;
    for (int i = 0; i < 12; i++) {
        uint64_t k = after.batch_hist[i] - before.batch_hist[i];
        groups += k;
        if (i >= 1) big += k;
    }
    assert_int_equal(after.commits - before.commits, groups);
    assert_true(groups < jobsRun);
    /* At least 2000 jobs waited behind the gate: groups of 257..512 certainly formed. */
    assert_true(after.batch_hist[9] - before.batch_hist[9] >= 3);
    assert_true(big >= 3);
    assert_true(after.commit_usec_total > before.commit_usec_total);
    free(jobs);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
}

static void a_failing_job_is_rolled_back_alone_and_its_group_commits(void **state)
{
    fixture *f = *state;
    tally t;
    tallyInit(f, &t);
    int64_t other;
    ly_error err;
    assert_int_equal(writeJob(f, runOneCustomer, &other, &err), LY_OK);
    ly_store_stats before;
    ly_store_stats_get(f->store, &before);

    gate g;
    gateClose(f, &g);
    idJob jobs[5];
    const char *values[5] = {"G0", "G1", "G2", "G0", "G4"};
    for (int i = 0; i < 5; i++) idJobInit(&jobs[i], &t, values[i]);
    jobs[1].fail_after_insert = true;   /* writes, then fails */
    jobs[3].customer = other;           /* G0 is taken by then: a conflict */
    for (int i = 0; i < 5; i++) assert_int_equal(ly_store_submit(f->store, &jobs[i].job), LY_OK);
    gateOpen(&g);
    tallyWait(&t, 5);
    gateFree(&g);

    assert_int_equal(jobs[0].rc, LY_OK);
    assert_int_equal(jobs[1].rc, LY_EUNPROCESSABLE);
    assert_string_equal(jobs[1].code, "changed_my_mind");
    assert_int_equal(jobs[2].rc, LY_OK);
    assert_int_equal(jobs[3].rc, LY_ECONFLICT);
    assert_string_equal(jobs[3].code, "identifier_taken");
    assert_int_equal(jobs[4].rc, LY_OK);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE value LIKE 'G%'"), 3);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE value = 'G1'"), 0);
    assert_int_equal(scalar(f->path, "SELECT customer_id FROM identifiers WHERE value = 'G0'"), t.customer);

    ly_store_stats after;
    ly_store_stats_get(f->store, &after);
    /* The gate alone, then the five together: one group of 5 (bucket 3: 5..8). */
    assert_int_equal(after.batch_hist[0] - before.batch_hist[0], 1);
    assert_int_equal(after.batch_hist[3] - before.batch_hist[3], 1);
    assert_int_equal(after.commits - before.commits, 2);
    assert_int_equal(after.jobs - before.jobs, 6);
    assert_int_equal(after.jobs_failed - before.jobs_failed, 2);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
}

static ly_err runFailing(ly_db *db, void *ctx, ly_error *err)
{
    ly_customer c = newCustomer("never");
    ly_err rc = ly_db_customer_insert(db, &c, err);
    if (rc != LY_OK) return rc;
    return ly_error_set(err, LY_EINVAL, "bad_input", "lines[0].qty", "must be > 0");
}

static void a_synchronous_write_returns_the_jobs_error(void **state)
{
    fixture *f = *state;
    ly_error err;
    int64_t count = scalar(f->path, "SELECT count(*) FROM customers");
    assert_int_equal(writeJob(f, runFailing, NULL, &err), LY_EINVAL);
    assert_int_equal(err.kind, LY_EINVAL);
    assert_string_equal(err.code, "bad_input");
    assert_string_equal(err.field, "lines[0].qty");
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM customers"), count);
}

static void closing_the_store_finishes_every_queued_job(void **state)
{
    fixture *f = *state;
    tally t;
    tallyInit(f, &t);
    enum { N = 300 };
    idJob *jobs = calloc(N, sizeof *jobs);
    assert_non_null(jobs);
    for (int i = 0; i < N; i++) {
        char v[32];
        snprintf(v, sizeof v, "C%d", i);
        idJobInit(&jobs[i], &t, v);
        assert_int_equal(ly_store_submit(f->store, &jobs[i].job), LY_OK);
    }
    ly_store_close(f->store);
    f->store = NULL;
    assert_int_equal(t.done, N);
    assert_int_equal(t.ok, N);
    assert_int_equal(scalar(f->path, "SELECT count(*) FROM identifiers WHERE value LIKE 'C%'"), N);
    free(jobs);
    pthread_mutex_destroy(&t.mu);
    pthread_cond_destroy(&t.cv);
}

/* Readers: one connection per thread, each seeing what was committed. */
typedef struct readerRun {
    fixture *f;
    int64_t customer;
    ly_db *db;
    ly_err rc;
    char name[32];
} readerRun;

static void *readerMain(void *arg)
{
    readerRun *r = arg;
    ly_error err;
    r->db = ly_store_reader(r->f->store, &err);
    r->rc = LY_EIO;
    if (!r->db || ly_store_reader(r->f->store, &err) != r->db) return NULL;
    ly_arena a = {0};
    ly_customer c;
    r->rc = ly_db_customer_get(r->db, r->customer, &a, &c, &err);
    if (r->rc == LY_OK) snprintf(r->name, sizeof r->name, "%s", c.name);
    ly_arena_free(&a);
    return NULL;
}

static void each_thread_reads_on_its_own_connection(void **state)
{
    fixture *f = *state;
    int64_t id;
    ly_error err;
    assert_int_equal(writeJob(f, runOneCustomer, &id, &err), LY_OK);
    readerRun runs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        runs[i] = (readerRun){.f = f, .customer = id};
        assert_int_equal(pthread_create(&th[i], NULL, readerMain, &runs[i]), 0);
        /* One at a time: a thread that exits closes its reader, and a new thread could get
         * the same address back. */
        pthread_join(th[i], NULL);
        assert_int_equal(runs[i].rc, LY_OK);
        assert_string_equal(runs[i].name, "G");
    }
    ly_db *mine = reader(f);
    assert_ptr_equal(reader(f), mine);
}

static ly_err runRename(ly_db *db, void *ctx, ly_error *err)
{
    const int64_t *id = ctx;
    ly_arena a = {0};
    ly_customer c;
    ly_err rc = ly_db_customer_get(db, *id, &a, &c, err);
    c.name = "H";
    if (rc == LY_OK) rc = ly_db_customer_update(db, &c, err);
    ly_arena_free(&a);
    return rc;
}

static const char *nameOf(fixture *f, int64_t id)
{
    ly_error err;
    ly_customer c;
    assert_int_equal(ly_db_customer_get(reader(f), id, &f->arena, &c, &err), LY_OK);
    return c.name;
}

static void a_read_snapshot_sees_one_moment_until_it_ends(void **state)
{
    fixture *f = *state;
    int64_t id;
    ly_error err;
    assert_int_equal(writeJob(f, runOneCustomer, &id, &err), LY_OK);
    assert_int_equal(ly_store_read_begin(f->store, &err), LY_OK);
    assert_string_equal(nameOf(f, id), "G");
    /* Nested: the inner end does not end the snapshot. */
    assert_int_equal(ly_store_read_begin(f->store, &err), LY_OK);
    assert_int_equal(writeJob(f, runRename, &id, &err), LY_OK); /* committed meanwhile */
    assert_string_equal(nameOf(f, id), "G");
    ly_store_read_end(f->store);
    assert_string_equal(nameOf(f, id), "G");
    ly_store_read_end(f->store);
    /* After the outermost end, reads see the latest commit again. */
    assert_string_equal(nameOf(f, id), "H");
    /* An unmatched end is harmless. */
    ly_store_read_end(f->store);
    assert_string_equal(nameOf(f, id), "H");
}

/* ---------------------------------------------------------------------------------------
 * Verification
 * ------------------------------------------------------------------------------------- */

typedef struct checkJob {
    int64_t good, bad;
    ly_lot good_lots[2], bad_lots[2];
} checkJob;

/* A customer whose account, lots and ledger agree: 50 earned and active, 30 spent from it,
 * 20 more earned and pending. */
static ly_err consistentCustomer(ly_db *db, int64_t *id, ly_lot *lots, ly_error *err)
{
    ly_customer c = newCustomer("ok");
    ly_err rc = ly_db_customer_insert(db, &c, err);
    *id = c.id;
    lots[0] = (ly_lot){0, 50, 20, 100, 0, LY_LOT_ACTIVE, false};
    lots[1] = (ly_lot){0, 20, 20, 9000, 0, LY_LOT_PENDING, false};
    if (rc == LY_OK) rc = ly_db_lot_insert(db, c.id, LY_ENTRY_EARN, 0, &lots[0], err);
    if (rc == LY_OK) rc = ly_db_lot_insert(db, c.id, LY_ENTRY_EARN, 0, &lots[1], err);
    ly_entry e[3] = {
        {.customer_id = c.id, .kind = LY_ENTRY_EARN, .delta = {50, 0}, .lot_id = lots[0].id},
        {.customer_id = c.id, .kind = LY_ENTRY_REDEEM, .delta = {-30, 0}},
        {.customer_id = c.id, .kind = LY_ENTRY_EARN, .delta = {0, 20}, .lot_id = lots[1].id},
    };
    for (int i = 0; i < 3 && rc == LY_OK; i++) rc = ly_db_entry_insert(db, &e[i], err);
    ly_account acc = {.available = 20, .pending = 20, .debt = 0};
    if (rc == LY_OK) rc = ly_db_account_save(db, c.id, &acc, err);
    return rc;
}

static ly_err runCheckSetup(ly_db *db, void *ctx, ly_error *err)
{
    checkJob *j = ctx;
    ly_err rc = consistentCustomer(db, &j->good, j->good_lots, err);
    if (rc == LY_OK) rc = consistentCustomer(db, &j->bad, j->bad_lots, err);
    /* A customer with debt and nothing else: consistent too (available = -debt). */
    ly_customer d = newCustomer("debtor");
    if (rc == LY_OK) rc = ly_db_customer_insert(db, &d, err);
    ly_entry e = {.customer_id = d.id, .kind = LY_ENTRY_RETURN, .delta = {-5, 0}};
    if (rc == LY_OK) rc = ly_db_entry_insert(db, &e, err);
    ly_account acc = {.available = -5, .pending = 0, .debt = 5};
    if (rc == LY_OK) rc = ly_db_account_save(db, d.id, &acc, err);
    return rc;
}

static ly_err runBreak(ly_db *db, void *ctx, ly_error *err)
{
    checkJob *j = ctx;
    /* The cached balance says 25 where the ledger and the lots say 20. */
    ly_account acc = {.available = 25, .pending = 20, .debt = 0};
    ly_err rc = ly_db_account_save(db, j->bad, &acc, err);
    /* And a lot of the good customer holds more than it was created with. */
    ly_lot l = j->good_lots[0];
    l.remaining = 60;
    if (rc == LY_OK) rc = ly_db_lot_update(db, &l, err);
    return rc;
}

typedef struct reported {
    int n;
    ly_mismatch m[16];
    char what[16][32];
} reported;

static void collect(void *ctx, const ly_mismatch *m)
{
    reported *r = ctx;
    if (r->n >= 16) return;
    r->m[r->n] = *m;
    snprintf(r->what[r->n], sizeof r->what[r->n], "%s", m->what);
    r->m[r->n].what = r->what[r->n];
    r->n++;
}

static const ly_mismatch *findReport(const reported *r, int64_t customer, const char *what)
{
    for (int i = 0; i < r->n; i++)
        if (r->m[i].customer_id == customer && strcmp(r->m[i].what, what) == 0) return &r->m[i];
    return NULL;
}

static void check_finds_a_broken_balance_and_passes_a_consistent_one(void **state)
{
    fixture *f = *state;
    ly_error err;
    checkJob j;
    assert_int_equal(writeJob(f, runCheckSetup, &j, &err), LY_OK);

    ly_db *db = reader(f);
    reported r = {0};
    int64_t customers = -1, bad = -1;
    assert_int_equal(ly_db_check(db, collect, &r, &customers, &bad, &err), LY_OK);
    assert_int_equal(customers, 3);
    assert_int_equal(bad, 0);
    assert_int_equal(r.n, 0);

    assert_int_equal(writeJob(f, runBreak, &j, &err), LY_OK);
    assert_int_equal(ly_db_check(db, collect, &r, &customers, &bad, &err), LY_OK);
    assert_int_equal(customers, 3);
    const ly_mismatch *m = findReport(&r, j.bad, "available");
    assert_non_null(m);
    assert_int_equal(m->recorded, 25);
    assert_int_equal(m->derived, 20);
    m = findReport(&r, j.bad, "available_lots");
    assert_non_null(m);
    assert_int_equal(m->recorded, 25);
    assert_int_equal(m->derived, 20);
    assert_null(findReport(&r, j.bad, "pending"));
    m = findReport(&r, j.good, "lot");
    assert_non_null(m);
    assert_int_equal(m->recorded, 60);
    assert_int_equal(m->derived, 50);
    /* The lot also no longer adds up to the good customer's cached balance. */
    m = findReport(&r, j.good, "available_lots");
    assert_non_null(m);
    assert_int_equal(m->derived, 60);
    assert_int_equal(bad, r.n);
    assert_int_equal(bad, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_create_the_schema_and_reopening_is_idempotent, setUp, tearDown),
        cmocka_unit_test_setup_teardown(customers_are_stored_found_and_updated, setUp, tearDown),
        cmocka_unit_test_setup_teardown(lots_are_stored_and_open_ones_come_soonest_expiry_first, setUp, tearDown),
        cmocka_unit_test_setup_teardown(ledger_entries_page_newest_first, setUp, tearDown),
        cmocka_unit_test_setup_teardown(a_merge_moves_identifiers_open_lots_and_receipts, setUp, tearDown),
        cmocka_unit_test_setup_teardown(receipts_round_trip_with_lines_pricing_and_returns, setUp, tearDown),
        cmocka_unit_test_setup_teardown(idempotency_records_keep_the_response, setUp, tearDown),
        cmocka_unit_test_setup_teardown(api_keys_are_found_by_hash_until_revoked, setUp, tearDown),
        cmocka_unit_test_setup_teardown(many_threads_submit_and_jobs_are_committed_in_groups, setUp, tearDown),
        cmocka_unit_test_setup_teardown(a_failing_job_is_rolled_back_alone_and_its_group_commits, setUp, tearDown),
        cmocka_unit_test_setup_teardown(a_synchronous_write_returns_the_jobs_error, setUp, tearDown),
        cmocka_unit_test_setup_teardown(closing_the_store_finishes_every_queued_job, setUp, tearDown),
        cmocka_unit_test_setup_teardown(each_thread_reads_on_its_own_connection, setUp, tearDown),
        cmocka_unit_test_setup_teardown(a_read_snapshot_sees_one_moment_until_it_ends, setUp, tearDown),
        cmocka_unit_test_setup_teardown(check_finds_a_broken_balance_and_passes_a_consistent_one, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
