/*
 * schema.c - the database schema and its migrations.
 *
 * The schema is an ordered list of SQL scripts. PRAGMA user_version records how many of them
 * a file has had; opening a store applies the rest, each in its own transaction together
 * with the new user_version, so a crash leaves the file at one version or the next, never
 * between. A released script is never edited: a change is a new script at the end.
 *
 * Conventions of the tables, for whoever queries them:
 *  - times are INTEGER seconds since the Unix epoch (UTC): datetime(time, 'unixepoch');
 *  - money is INTEGER minor units, points INTEGER, quantities INTEGER thousandths;
 *  - enumerations are stored by name: channel 'store'/'online'/'app', identifier kinds
 *    'card'/'phone'/..., ledger kinds and lot sources 'earn'/'redeem'/..., lot states
 *    'pending'/'active'/'expired'/'spent', consent channels 'sms'/'email'/'push';
 *  - an optional reference is NULL, never 0.
 * Tables are STRICT, so a value of the wrong type is refused rather than stored.
 */
#include "store/internal.h"

#include <stdio.h>

static const char *const migrations[] = {
    /* 1: the initial schema. */
    "CREATE TABLE customers ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT,"
    "  birth_date TEXT,"                        /* YYYY-MM-DD */
    "  attributes TEXT NOT NULL DEFAULT '{}',"  /* a JSON object */
    "  enrolled_at INTEGER NOT NULL DEFAULT 0,"
    "  enrolled_store TEXT,"
    "  merged_into INTEGER REFERENCES customers(id),"
    /* The account: sums cached from the ledger and the lots (`loyal check` verifies). */
    "  available INTEGER NOT NULL DEFAULT 0,"
    "  pending INTEGER NOT NULL DEFAULT 0,"
    "  debt INTEGER NOT NULL DEFAULT 0,"
    /* Consents: -1 never asked, 0 withdrawn, 1 given; _at when it last changed. */
    "  consent_sms INTEGER NOT NULL DEFAULT -1,"
    "  consent_sms_at INTEGER NOT NULL DEFAULT 0,"
    "  consent_email INTEGER NOT NULL DEFAULT -1,"
    "  consent_email_at INTEGER NOT NULL DEFAULT 0,"
    "  consent_push INTEGER NOT NULL DEFAULT -1,"
    "  consent_push_at INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"

    /* The way in: a till names a customer by one of these. Clustered on (kind, value) so
     * the lookup at checkout is one b-tree descent. */
    "CREATE TABLE identifiers ("
    "  kind TEXT NOT NULL,"
    "  value TEXT NOT NULL,"                    /* normalised */
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, value)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX identifiers_customer ON identifiers(customer_id);"

    "CREATE TABLE consent_log ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  channel TEXT NOT NULL,"
    "  given INTEGER NOT NULL,"
    "  at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX consent_log_customer ON consent_log(customer_id, id);"

    /* Receipts as the tills sent them, with their pricing. customer_id is NULL for an
     * anonymous receipt; id_kind names how the customer was identified, NULL if by id. */
    "CREATE TABLE receipts ("
    "  id INTEGER PRIMARY KEY,"
    "  receipt_id TEXT NOT NULL UNIQUE,"
    "  customer_id INTEGER REFERENCES customers(id),"
    "  id_kind TEXT,"
    "  store TEXT NOT NULL,"
    "  channel TEXT NOT NULL,"
    "  cashier TEXT,"
    "  payment TEXT,"
    "  time INTEGER NOT NULL,"
    "  utc_offset INTEGER NOT NULL,"            /* minutes, the till's */
    "  n_lines INTEGER NOT NULL,"
    "  total INTEGER NOT NULL,"
    "  discount INTEGER NOT NULL,"
    "  paid INTEGER NOT NULL,"
    "  points_earned INTEGER NOT NULL,"
    "  points_redeemed INTEGER NOT NULL,"
    "  max_redeem INTEGER NOT NULL,"
    "  lot_id INTEGER REFERENCES lots(id),"
    "  redeemed_expiry INTEGER NOT NULL,"
    "  program_version TEXT,"
    "  request_hash BLOB NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX receipts_customer ON receipts(customer_id, time);"
    "CREATE INDEX receipts_time ON receipts(time);"

    "CREATE TABLE receipt_lines ("
    "  receipt INTEGER NOT NULL REFERENCES receipts(id),"
    "  line_no INTEGER NOT NULL,"               /* 0-based, as sent */
    "  sku TEXT NOT NULL,"
    "  name TEXT,"
    "  category TEXT,"
    "  brand TEXT,"
    "  qty INTEGER NOT NULL,"
    "  price INTEGER NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  discount INTEGER NOT NULL,"
    "  points_earned INTEGER NOT NULL,"
    "  points_redeemed INTEGER NOT NULL,"
    "  returned_qty INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (receipt, line_no)"
    ") STRICT, WITHOUT ROWID;"

    "CREATE TABLE returns ("
    "  id INTEGER PRIMARY KEY,"
    "  return_id TEXT NOT NULL UNIQUE,"
    "  receipt INTEGER NOT NULL REFERENCES receipts(id),"
    "  time INTEGER NOT NULL,"
    "  n_lines INTEGER NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  points_taken INTEGER NOT NULL,"
    "  points_refunded INTEGER NOT NULL,"
    "  points_forgiven INTEGER NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX returns_receipt ON returns(receipt);"

    "CREATE TABLE return_lines ("
    "  ret INTEGER NOT NULL REFERENCES returns(id),"
    "  line_no INTEGER NOT NULL,"               /* the receipt's line */
    "  qty INTEGER NOT NULL,"
    "  amount INTEGER NOT NULL,"
    "  points_taken INTEGER NOT NULL,"
    "  points_refunded INTEGER NOT NULL,"
    "  PRIMARY KEY (ret, line_no)"
    ") STRICT, WITHOUT ROWID;"

    /* Lots of points. source is the ledger kind that created the lot ('earn', 'refund',
     * 'bonus', ...); receipt the receipt that earned it, if any. */
    "CREATE TABLE lots ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  source TEXT NOT NULL,"
    "  receipt INTEGER REFERENCES receipts(id),"
    "  points INTEGER NOT NULL,"
    "  remaining INTEGER NOT NULL,"
    "  active_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"            /* 0 = never */
    "  state TEXT NOT NULL"
    ") STRICT;"
    /* A customer's open lots, read by every operation on the account; its columns also
     * answer `which customers have a lot due` without touching the table. */
    "CREATE INDEX lots_open ON lots(customer_id, state, active_at, expires_at)"
    "  WHERE state IN ('pending', 'active');"
    /* Whether anything is due at all: one probe each, so the maintenance run that finds
     * nothing (most minutes of the day) costs two index seeks. */
    "CREATE INDEX lots_activation ON lots(active_at) WHERE state = 'pending';"
    "CREATE INDEX lots_expiry ON lots(expires_at) WHERE state = 'active' AND expires_at > 0;"

    /* The ledger: every change to a balance, never updated or deleted. */
    "CREATE TABLE ledger ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  kind TEXT NOT NULL,"
    "  available_delta INTEGER NOT NULL,"
    "  pending_delta INTEGER NOT NULL,"
    "  lot_id INTEGER REFERENCES lots(id),"
    "  receipt_id TEXT,"                        /* the business's ids, as the API shows them */
    "  return_id TEXT,"
    "  ref TEXT,"
    "  note TEXT,"
    "  at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX ledger_customer ON ledger(customer_id, id);"

    "CREATE TABLE merges ("
    "  id INTEGER PRIMARY KEY,"
    "  from_id INTEGER NOT NULL REFERENCES customers(id),"
    "  into_id INTEGER NOT NULL REFERENCES customers(id),"
    "  at INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE idempotency ("
    "  key TEXT PRIMARY KEY,"
    "  request_hash BLOB NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  response TEXT NOT NULL,"
    "  at INTEGER NOT NULL"
    ") STRICT;"

    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY,"
    "  prefix TEXT NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"              /* BLAKE2b-256 of the key */
    "  role TEXT NOT NULL,"
    "  label TEXT,"
    "  created_at INTEGER NOT NULL,"
    "  revoked_at INTEGER"                      /* NULL while in force */
    ") STRICT;",

    /* 2: what the analytics found out about each customer (docs/analytics.md), for the
     * profile and for the program's rules. A run replaces every row of the previous one. */
    "CREATE TABLE analytics_runs ("
    "  id INTEGER PRIMARY KEY,"
    "  at INTEGER NOT NULL,"                    /* when it ran */
    "  finished_at INTEGER,"                    /* NULL while its customers are written */
    "  as_of TEXT NOT NULL,"                    /* YYYY-MM-DD: the analysis date */
    "  customers INTEGER NOT NULL,"
    "  sleep_days INTEGER,"                     /* the boundaries found, NULL if none */
    "  churn_days INTEGER,"
    "  loyalty_deals INTEGER"
    ") STRICT;"
    "CREATE TABLE customer_analytics ("
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  run INTEGER NOT NULL REFERENCES analytics_runs(id),"
    "  rfm_cell TEXT,"                          /* 'R3F2M1'; NULL without a deal */
    "  segment TEXT,"                           /* 'Champions', 'At Risk', ... */
    "  status TEXT NOT NULL,"                   /* 'active', 'sleeping', 'churned' */
    "  loyalty TEXT NOT NULL,"                  /* 'below', 'reached', 'unknown' */
    "  r_days INTEGER NOT NULL,"                /* days since the last deal */
    "  deals INTEGER NOT NULL,"
    "  revenue INTEGER NOT NULL,"
    "  p_alive_ppm INTEGER,"                    /* P(alive) in millionths; NULL if not fitted */
    "  clv INTEGER"                             /* minor units; NULL if not fitted */
    ") STRICT;"
    "CREATE INDEX customer_analytics_run ON customer_analytics(run);",

    /* Rewards (engineer R; docs/program.md): counters of rule limits and campaign budgets,
     * coupon codes (only their hashes) and redemptions, referrals, custom events and the
     * points issued and redeemed at coalition partners. A row marked returned was given
     * back by a full return of its receipt. */
    "CREATE TABLE rule_uses ("
    "  id INTEGER PRIMARY KEY,"
    "  rule TEXT NOT NULL,"
    "  customer_id INTEGER REFERENCES customers(id),"
    "  period TEXT NOT NULL,"                   /* 'M2026-11', 'W2026-48', 'D2026-11-24', 'E' */
    "  receipt_id TEXT NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  discount INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  returned INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX rule_uses_customer ON rule_uses(rule, customer_id, period) WHERE returned = 0;"
    "CREATE INDEX rule_uses_receipt ON rule_uses(receipt_id);"
    "CREATE TABLE rule_budgets ("
    "  rule TEXT PRIMARY KEY,"
    "  points INTEGER NOT NULL DEFAULT 0,"      /* spent so far */
    "  discount INTEGER NOT NULL DEFAULT 0"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE coupon_batches ("
    "  campaign TEXT NOT NULL,"
    "  batch TEXT NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (campaign, batch)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE coupon_codes ("
    "  hash BLOB PRIMARY KEY,"                  /* BLAKE2b-256 of 'coupon:' + the code */
    "  campaign TEXT NOT NULL,"
    "  batch TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE coupon_redemptions ("
    "  id INTEGER PRIMARY KEY,"
    "  campaign TEXT NOT NULL,"
    "  hash BLOB NOT NULL,"
    "  customer_id INTEGER REFERENCES customers(id),"
    "  receipt_id TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  returned INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX coupon_redemptions_code ON coupon_redemptions(hash) WHERE returned = 0;"
    "CREATE INDEX coupon_redemptions_campaign ON coupon_redemptions(campaign, customer_id)"
    "  WHERE returned = 0;"
    "CREATE INDEX coupon_redemptions_receipt ON coupon_redemptions(receipt_id);"
    "CREATE TABLE referrals ("
    "  referee INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  referrer INTEGER NOT NULL REFERENCES customers(id),"
    "  linked_at INTEGER NOT NULL,"
    "  receipt_id TEXT,"                        /* the qualifying purchase, once made */
    "  due_at INTEGER,"                         /* its return window ends */
    "  rewarded_at INTEGER,"
    "  referrer_points INTEGER NOT NULL DEFAULT 0,"
    "  newcomer_points INTEGER NOT NULL DEFAULT 0"
    ") STRICT;"
    "CREATE INDEX referrals_referrer ON referrals(referrer);"
    "CREATE INDEX referrals_due ON referrals(due_at) WHERE rewarded_at IS NULL;"
    "CREATE TABLE events ("
    "  event_id TEXT PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  type TEXT NOT NULL,"
    "  period TEXT NOT NULL,"                   /* of the event type's cap */
    "  at INTEGER NOT NULL,"
    "  points INTEGER NOT NULL,"
    "  request_hash BLOB NOT NULL,"
    "  response TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX events_customer ON events(customer_id, type, period) WHERE points > 0;"
    "CREATE TABLE partner_entries ("
    "  id INTEGER PRIMARY KEY,"
    "  partner TEXT NOT NULL,"
    "  receipt_id TEXT NOT NULL,"
    "  return_id TEXT,"                         /* NULL for the purchase itself */
    "  at INTEGER NOT NULL,"
    "  issued INTEGER NOT NULL,"                /* points; negative for a return */
    "  redeemed INTEGER NOT NULL,"
    "  paid INTEGER NOT NULL"                   /* money the customer paid (or got back) */
    ") STRICT;"
    "CREATE INDEX partner_entries_at ON partner_entries(partner, at);"
    "CREATE INDEX partner_entries_receipt ON partner_entries(receipt_id);"
    "CREATE INDEX customers_birthday ON customers(substr(birth_date, 6))"
    "  WHERE birth_date IS NOT NULL;",

    /* Delivery and the outbox (docs/delivery.md): the messages triggers write, waiting for,
     * in, or past delivery. (trigger_id, customer_id, step) is unique so that a trigger run
     * again writes nothing new; message_id is what a receiver deduplicates on. next_at is
     * when a pending or retrying message is due, and for a 'sending' one the end of its
     * lease, after which another worker takes it back. */
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  message_id TEXT NOT NULL UNIQUE,"
    "  trigger_id TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  step INTEGER NOT NULL,"
    "  channel TEXT NOT NULL,"                  /* 'sms', 'email', 'webhook', ... */
    "  payload TEXT NOT NULL CHECK (json_valid(payload) AND json_type(payload) = 'object'),"
    "  state TEXT NOT NULL,"                    /* 'pending','sending','delivered','retrying','dead' */
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL,"
    "  last_error TEXT,"
    "  cost INTEGER NOT NULL DEFAULT 0,"        /* minor units, recorded on delivery */
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  delivered_at INTEGER,"
    "  UNIQUE (trigger_id, customer_id, step)"
    ") STRICT;"
    "CREATE INDEX outbox_due ON outbox(next_at) WHERE state IN ('pending', 'retrying', 'sending');"
    "CREATE INDEX outbox_state ON outbox(state, id);"
    "CREATE INDEX outbox_customer ON outbox(customer_id, created_at);",

    /* Tiers, the club and program versions (engineer T; docs/program.md "Tiers", "The
     * club", "Changing the program"). Every version of the program file that was in force
     * is kept with its text, so a return is priced by the version that priced its receipt.
     * A customer without a customer_tiers row is in the program's first tier. */
    "CREATE TABLE program_versions ("
    "  version TEXT PRIMARY KEY,"
    "  text TEXT NOT NULL,"                     /* the file as loaded */
    "  first_loaded_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE customer_tiers ("
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  tier TEXT NOT NULL,"                     /* the tier's id in the program file */
    "  since INTEGER NOT NULL,"                 /* when the customer reached it */
    "  updated_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE tier_history ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  from_tier TEXT NOT NULL,"
    "  to_tier TEXT NOT NULL,"
    "  change TEXT NOT NULL,"                   /* 'upgrade' or 'downgrade' */
    "  at INTEGER NOT NULL,"
    "  program_version TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX tier_history_customer ON tier_history(customer_id, id);"
    "CREATE TABLE club_members ("
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  via TEXT NOT NULL,"                      /* 'rule' or 'invitation' */
    "  since INTEGER NOT NULL,"
    "  note TEXT"
    ") STRICT;"
    "CREATE TABLE club_history ("
    "  id INTEGER PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  change TEXT NOT NULL,"                   /* 'joined' or 'left' */
    "  via TEXT NOT NULL,"
    "  at INTEGER NOT NULL"
    ") STRICT;"
    /* The local days whose tier and club evaluation has run. */
    "CREATE TABLE tier_evaluations ("
    "  day INTEGER PRIMARY KEY,"                /* local days since 1970-01-01 */
    "  at INTEGER NOT NULL,"
    "  program_version TEXT NOT NULL"
    ") STRICT;",

    /* Trigger communications and their hold-outs (engineer G; docs/triggers.md). Every
     * customer's group in a trigger is drawn once from a seeded hash and recorded
     * (trigger_id '*' is the program-wide hold-out); a chain is one cycle of a customer in
     * a trigger; trigger_sends holds every step reached, sent or (held out) the send it
     * would have been: the uplift is measured on it and the frequency caps count it. */
    "CREATE TABLE trigger_assignments ("
    "  trigger_id TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  grp TEXT NOT NULL,"                      /* 'treated' or 'holdout' */
    "  bucket INTEGER NOT NULL,"                /* 0..9999 from the hash */
    "  hash TEXT NOT NULL,"                     /* hex, first 8 bytes of BLAKE2b */
    "  share_bp INTEGER NOT NULL,"
    "  seed TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (trigger_id, customer_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE trigger_chains ("
    "  trigger_id TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  cycle INTEGER NOT NULL,"
    "  grp TEXT NOT NULL,"                      /* 'treated', 'holdout', 'program_holdout' */
    "  entered_at INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"                  /* the last step reached */
    "  step_at INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"                    /* 'running' or 'ended' */
    "  end_reason TEXT,"                        /* 'purchase', 'condition', 'done' */
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (customer_id, trigger_id, cycle)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE trigger_sends ("
    "  trigger_id TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  cycle INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"                    /* the (would-be) send time */
    "  channel TEXT,"
    "  cost INTEGER NOT NULL,"                  /* minor units; 0 when nothing was sent */
    "  message_id TEXT,"                        /* the outbox message, NULL if none */
    "  offer TEXT,"
    "  reward_cost INTEGER NOT NULL,"
    "  PRIMARY KEY (trigger_id, customer_id, cycle, step)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX trigger_sends_customer ON trigger_sends(customer_id, at);"
    "CREATE INDEX trigger_sends_at ON trigger_sends(trigger_id, at);"
    /* Bonus offers riding on messages: the fact trigger_offer.<flag> while active. */
    "CREATE TABLE trigger_flags ("
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  flag TEXT NOT NULL,"
    "  trigger_id TEXT NOT NULL,"
    "  from_at INTEGER NOT NULL,"
    "  until_at INTEGER NOT NULL,"
    "  PRIMARY KEY (customer_id, flag)"
    ") STRICT, WITHOUT ROWID;",

    /* Quests, badges and levels (issue 6, engineer Q; docs/quests.md): each customer's
     * progress per quest and period, what each receipt contributed (so a return takes its
     * share back), the badges earned and the experience points. */
    "CREATE TABLE quest_progress ("
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  quest_id TEXT NOT NULL,"
    "  period TEXT NOT NULL,"                   /* "W2026-48", "M2026-11", "E" */
    "  value INTEGER NOT NULL,"                 /* deals, or minor units */
    "  completed_at INTEGER,"                   /* NULL until the target was reached */
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (customer_id, quest_id, period)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE quest_contributions ("
    "  receipt_id TEXT NOT NULL,"
    "  quest_id TEXT NOT NULL,"
    "  customer_id INTEGER NOT NULL,"
    "  period TEXT NOT NULL,"
    "  value INTEGER NOT NULL,"                 /* what is left of the receipt's share */
    "  PRIMARY KEY (receipt_id, quest_id)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE quest_badges ("
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  badge TEXT NOT NULL,"
    "  quest_id TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  PRIMARY KEY (customer_id, badge)"
    ") STRICT, WITHOUT ROWID;"
    "CREATE TABLE quest_xp ("
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  xp INTEGER NOT NULL"
    ") STRICT;"
    /* The streak of consecutive ISO weeks with a deal. */
    "CREATE TABLE quest_streaks ("
    "  customer_id INTEGER PRIMARY KEY REFERENCES customers(id),"
    "  week INTEGER NOT NULL,"                  /* local day of the latest week's Monday */
    "  length INTEGER NOT NULL,"
    "  best INTEGER NOT NULL"
    ") STRICT;",

    /* Questionnaires and touchpoints (issue 6, engineer S; docs/touchpoints.md): each
     * submitted answer set with its scores, and the touchpoint receipts came through. */
    "CREATE TABLE survey_answers ("
    "  answer_id TEXT PRIMARY KEY,"
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  questionnaire TEXT NOT NULL,"
    "  touchpoint TEXT,"
    "  receipt_id TEXT,"
    "  at INTEGER NOT NULL,"
    "  answers TEXT NOT NULL,"                  /* the answers object, as JSON */
    "  nps INTEGER,"                            /* the first NPS answer, 0..10 */
    "  csi INTEGER,"                            /* the first CSI answer ... */
    "  csi_min INTEGER,"                        /* ... on its scale */
    "  csi_max INTEGER,"
    "  points INTEGER NOT NULL,"                /* the completion reward given, 0 if none */
    "  request_hash BLOB NOT NULL,"
    "  response TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX survey_answers_tp ON survey_answers(touchpoint, at);"
    "CREATE INDEX survey_answers_customer ON survey_answers(customer_id, at);"
    "CREATE TABLE receipt_touchpoints ("
    "  receipt_id TEXT PRIMARY KEY,"
    "  touchpoint TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;",

    /* The touchpoint a custom event came through (issue 6; docs/touchpoints.md). */
    "CREATE TABLE event_touchpoints ("
    "  event_id TEXT PRIMARY KEY REFERENCES events(event_id),"
    "  touchpoint TEXT NOT NULL"
    ") STRICT, WITHOUT ROWID;",

    /* The touchpoint a trigger message goes out through (issue 6, engineer T;
     * docs/touchpoints.md, docs/triggers.md): on the outbox message and on the step reached
     * (held-out steps too: the touchpoint the message would have gone through). NULL: none. */
    "ALTER TABLE outbox ADD COLUMN touchpoint TEXT;"
    "ALTER TABLE trigger_sends ADD COLUMN touchpoint TEXT;"
    "CREATE INDEX outbox_touchpoint ON outbox(touchpoint, customer_id)"
    "  WHERE touchpoint IS NOT NULL;",

    /* Personal coupon codes given as quest rewards (issue 6, engineer R; docs/quests.md,
     * Rewards): one per reward's cause, bound to its owner. The code is kept so its owner
     * can see it again; its hash is in coupon_codes like a batch code's. */
    "CREATE TABLE quest_coupons ("
    "  cause TEXT PRIMARY KEY,"                  /* the reward's key */
    "  customer_id INTEGER NOT NULL REFERENCES customers(id),"
    "  quest_id TEXT NOT NULL,"
    "  period TEXT NOT NULL,"
    "  campaign TEXT NOT NULL,"
    "  code TEXT NOT NULL,"
    "  hash BLOB NOT NULL UNIQUE,"               /* as coupon_codes.hash */
    "  issued_at INTEGER NOT NULL"
    ") STRICT, WITHOUT ROWID;"
    "CREATE INDEX quest_coupons_customer ON quest_coupons(customer_id, issued_at);",
};

#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

int ly_store_schema_version(void)
{
    return N_MIGRATIONS;
}

static ly_err execScript(ly_db *db, const char *sql, ly_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db->conn, sql, NULL, NULL, &msg) != SQLITE_OK) {
        ly_error_set(err, LY_EIO, "storage_error", NULL, "%s", msg ? msg : "failed");
        sqlite3_free(msg);
        return LY_EIO;
    }
    return LY_OK;
}

static ly_err userVersion(ly_db *db, int *out, ly_error *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db->conn, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return ly__db_fail(db, NULL, err);
    if (sqlite3_step(st) != SQLITE_ROW) {
        ly__db_fail(db, NULL, err);
        sqlite3_finalize(st);
        return LY_EIO;
    }
    *out = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return LY_OK;
}

static ly_err tooNew(ly_db *db, int v, ly_error *err)
{
    return ly_error_set(err, LY_EIO, "schema_too_new", NULL,
                        "%s has schema version %d; this Loyal knows up to %d",
                        sqlite3_db_filename(db->conn, "main"), v, N_MIGRATIONS);
}

ly_err ly__schema_migrate(ly_db *db, ly_error *err)
{
    int v;
    if (userVersion(db, &v, err) != LY_OK) return LY_EIO;
    if (v > N_MIGRATIONS) return tooNew(db, v, err);
    while (v < N_MIGRATIONS) {
        /* Under the write lock, look again: another process may have migrated meanwhile. */
        if (execScript(db, "BEGIN IMMEDIATE", err) != LY_OK) return LY_EIO;
        ly_err rc = userVersion(db, &v, err);
        if (rc == LY_OK && v > N_MIGRATIONS) rc = tooNew(db, v, err);
        if (rc == LY_OK && v < N_MIGRATIONS) {
            char set[64];
            snprintf(set, sizeof set, "PRAGMA user_version=%d", v + 1);
            rc = execScript(db, migrations[v], err);
            if (rc == LY_OK) rc = execScript(db, set, err);
            if (rc == LY_OK) v++;
        }
        if (rc == LY_OK) rc = execScript(db, "COMMIT", err);
        if (rc != LY_OK) {
            sqlite3_exec(db->conn, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return LY_OK;
}
