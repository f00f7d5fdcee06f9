/*
 * maturity_evidence.c - the evidence of the program's maturity level (maturity_evidence.h;
 * docs/maturity.md, "The evidence"): the program file counted as plain JSON, the database's
 * facts (store.h, ly_db_maturity_facts), the renewal of the triggers from the stored program
 * versions, the uplift of every trigger against its hold-out (engage.h,
 * ly_triggers_report_build: the statistics of `loyal triggers report`, not repeated here),
 * and the rating as JSON.
 */
#include "cli/maturity_evidence.h"

#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "engage/engage.h"
#include "program/program.h"
#include "program/triggers.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static size_t arrSize(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);
    return json_is_array(v) ? json_array_size(v) : 0;
}

/* A percentage or rate written as a string ("2.5") or a number: above zero when any digit
 * other than 0 appears (the loader has checked the format when the program runs). */
static bool positive(const json_t *v)
{
    if (json_is_integer(v)) return json_integer_value(v) > 0;
    if (json_is_real(v)) return json_real_value(v) > 0;
    if (!json_is_string(v)) return false;
    const char *s = json_string_value(v);
    if (*s == '-') return false;
    for (; *s; s++)
        if (*s >= '1' && *s <= '9') return true;
    return false;
}

static bool isOneOf(const char *s, const char *const *list)
{
    for (; s && *list; list++)
        if (strcmp(s, *list) == 0) return true;
    return false;
}

static void countRules(const json_t *root, ly_mat_evidence *ev)
{
    static const char *const txFacts[] = {"tier", "rfm_cell", "segment", "status", "loyalty", NULL};
    static const char *const segFacts[] = {"rfm_cell", "segment", NULL};
    const json_t *rules = json_object_get(root, "rules");
    size_t i;
    const json_t *r;
    if (!json_is_array(rules)) return;
    json_array_foreach(rules, i, r) {
        ev->rules++;
        const json_t *eff = json_object_get(r, "effect");
        const char *type = json_string_value(json_object_get(eff, "type"));
        if (type && (strncmp(type, "points_", 7) == 0 ||
                     (strcmp(type, "bundle") == 0 && json_object_get(eff, "points"))))
            ev->rules_points++;
        else if (type)
            ev->rules_discount++;
        const json_t *facts = json_object_get(json_object_get(r, "conditions"), "facts");
        bool tx = false, seg = false;
        size_t j;
        const json_t *f;
        if (json_is_array(facts)) json_array_foreach(facts, j, f) {
                const char *name = json_string_value(json_object_get(f, "name"));
                tx |= isOneOf(name, txFacts);
                seg |= isOneOf(name, segFacts);
            }
        ev->rules_transaction += tx;
        ev->rules_segment += seg;
    }
}

static void countBenefits(const json_t *holder, ly_mat_evidence *ev)
{
    const json_t *b = json_object_get(holder, "benefits");
    size_t i;
    const json_t *x;
    if (!json_is_array(b)) return;
    json_array_foreach(b, i, x) {
        ev->benefits++;
        if (!json_object_get(x, "rule")) ev->nonmonetary++;
    }
}

static void countTriggers(const json_t *root, ly_mat_evidence *ev)
{
    const json_t *ch = json_object_get(root, "channels");
    ev->channels = json_is_object(ch) ? (int)json_object_size(ch) : 0;
    const json_t *tr = json_object_get(root, "triggers");
    ev->program_holdout = positive(json_object_get(tr, "program_holdout_percent"));
    const json_t *list = json_object_get(tr, "list");
    size_t i;
    const json_t *t;
    if (!json_is_array(list)) return;
    json_array_foreach(list, i, t) {
        ev->triggers++;
        const json_t *h = json_object_get(t, "holdout_percent");
        if (!h || positive(h)) ev->triggers_holdout++; /* the default is 10% */
        const json_t *steps = json_object_get(t, "steps");
        if (json_is_array(steps) && json_array_size(steps) > 1) ev->chains++;
        size_t j;
        const json_t *s;
        if (json_is_array(steps)) json_array_foreach(steps, j, s) {
                const char *type = json_string_value(json_object_get(json_object_get(s, "offer"), "type"));
                if (type && strcmp(type, "recommend") == 0) ev->recommend_steps++;
            }
    }
}

/* Quests (docs/quests.md): {"list": [...], "levels": [...]}; a plain list is counted too.
 * Streaks are looked for beside the quests or inside their section. */
static void countQuests(const json_t *root, ly_mat_evidence *ev)
{
    const json_t *q = json_object_get(root, "quests");
    if (json_is_array(q)) ev->quests = (int)json_array_size(q);
    else if (json_is_object(q)) {
        ev->quests = (int)arrSize(q, "list");
        ev->quest_levels = json_object_get(q, "levels") != NULL;
        ev->streaks = json_object_get(q, "streaks") != NULL;
    }
    ev->quest_levels |= json_object_get(root, "levels") != NULL;
    ev->streaks |= json_object_get(root, "streaks") != NULL;
}

static void programEvidence(const json_t *root, ly_mat_evidence *ev)
{
    ev->has_program = true;
    ev->earn_rate = positive(json_object_get(json_object_get(root, "earn"), "rate_percent"));
    countRules(root, ev);
    const json_t *tiers = json_object_get(root, "tiers");
    const json_t *levels = json_object_get(tiers, "levels");
    ev->tiers = (int)arrSize(tiers, "levels");
    size_t i;
    const json_t *l;
    if (json_is_array(levels)) json_array_foreach(levels, i, l) countBenefits(l, ev);
    const json_t *club = json_object_get(root, "club");
    ev->club = json_is_object(club);
    if (ev->club) countBenefits(club, ev);
    ev->coupons = (int)arrSize(root, "coupons");
    ev->referrals = json_is_object(json_object_get(root, "referrals"));
    ev->welcome = json_is_object(json_object_get(root, "welcome"));
    ev->birthday = json_is_object(json_object_get(root, "birthday"));
    ev->events = (int)arrSize(root, "events");
    ev->partners = (int)arrSize(root, "partners");
    countTriggers(root, ev);
    countQuests(root, ev);
    ev->questionnaires = (int)arrSize(root, "questionnaires");
    ev->touchpoints = (int)arrSize(root, "touchpoints");
}

/* The triggers part of a program text, canonical (sorted keys, compact); "" when the text
 * has none. NULL when the text is not JSON or out of memory. malloc'd. */
static char *triggersPart(const char *text)
{
    json_error_t je;
    json_t *root = json_loads(text, 0, &je);
    if (!root) return NULL;
    const json_t *t = json_is_object(root) ? json_object_get(root, "triggers") : NULL;
    char *out = t ? json_dumps(t, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY) : strdup("");
    json_decref(root);
    return out;
}

/* When the triggers part last changed from one stored version to the next (the first
 * version counts when it has triggers). Texts that are not JSON are passed over. */
static ly_err renewalEvidence(ly_db *db, ly_mat_evidence *ev, ly_error *err)
{
    ly_arena a = {0};
    ly_program_version_row *rows = NULL;
    size_t n = 0;
    ly_err rc = ly_db_program_versions(db, &a, &rows, &n, err);
    ev->program_versions = (int64_t)n;
    char *prev = NULL;
    for (size_t i = 0; rc == LY_OK && i < n; i++) {
        char *cur = triggersPart(rows[i].text);
        if (!cur) continue;
        if (strcmp(cur, prev ? prev : "") != 0) ev->triggers_renewed_at = rows[i].first_loaded_at;
        free(prev);
        prev = cur;
    }
    free(prev);
    ly_arena_free(&a);
    return rc;
}

/* The uplift of every trigger's first step over every step recorded up to now. A program
 * that does not load is not an error: the uplift stays unmeasured, with the reason. */
static ly_err upliftEvidence(ly_store *store, const char *program, ly_mat_evidence *ev,
                             ly_error *err)
{
    ly_program p;
    ly_error perr;
    ly_error_clear(&perr);
    if (ly_program_load(program, &p, &perr) != LY_OK) {
        snprintf(ev->uplift_why, sizeof ev->uplift_why, "the program file does not load (%.40s%s%.80s)",
                 perr.field[0] ? perr.field : "", perr.field[0] ? ": " : "", perr.message);
        return LY_OK;
    }
    if (!p.triggers || !p.triggers->n_triggers) {
        snprintf(ev->uplift_why, sizeof ev->uplift_why, "no triggers");
        ly_program_free(&p);
        return LY_OK;
    }
    ly_arena a = {0};
    ly_triggers_report rep;
    ly_err rc = ly_triggers_report_build(store, &p, 0, (ly_time)ev->now + 1, &a, &rep, err);
    if (rc == LY_OK) {
        ev->uplift_measured = true;
        for (size_t i = 0; i < rep.n_rows; i++) {
            const ly_trigger_figures *f = &rep.rows[i];
            if (f->step != 0 || f->treated <= 0 || f->held_out <= 0) continue;
            ev->triggers_measured++;
            if (f->uplift.valid && f->uplift.lo > 0.0) ev->triggers_proven++;
            else if (f->uplift.valid && f->uplift.hi < 0.0) ev->triggers_harmful++;
            else ev->triggers_unproven++;
        }
    }
    ly_arena_free(&a);
    ly_program_free(&p);
    return rc;
}

static int dbEvidence(const char *cmd, const char *path, const char *program, bool hasProgram,
                      ly_mat_evidence *ev)
{
    ly_error err;
    ly_error_clear(&err);
    ly_store *store = NULL;
    ly_store_options so = {.path = path, .sync = LY_SYNC_NORMAL};
    ly_maturity_facts f;
    ly_db *db = NULL;
    if (ly_store_open(&so, &store, &err) != LY_OK || !(db = ly_store_reader(store, &err)) ||
        ly_db_maturity_facts(db, &f, &err) != LY_OK || renewalEvidence(db, ev, &err) != LY_OK ||
        (hasProgram && upliftEvidence(store, program, ev, &err) != LY_OK)) {
        ly_store_close(store);
        return ly__cli_fail(cmd, &err);
    }
    ly_store_close(store);
    if (!hasProgram) snprintf(ev->uplift_why, sizeof ev->uplift_why, "no program file");
    ev->has_db = true;
    ev->receipts = f.receipts;
    ev->identified = f.identified;
    ev->offer_customers = f.customers_with_receipts;
    ev->analytics_runs = f.analytics_runs;
    ev->analytics_customers = f.analytics_customers;
    ev->last_analytics_at = f.last_analytics_at;
    ev->trigger_messages = f.trigger_messages;
    ev->trigger_steps = f.trigger_steps;
    ev->trigger_holdout_steps = f.trigger_holdout_steps;
    ev->events_recorded = f.events;
    ev->quest_rows = f.quest_rows;
    ev->answers = f.answers;
    return LY_EXIT_OK;
}

int ly__mat_gather(const char *cmd, const char *program, bool program_given, const char *db,
                   int64_t now, ly_mat_evidence *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->last_analytics_at = -1;
    ev->quest_rows = ev->answers = -1;
    ev->triggers_renewed_at = -1;
    ev->now = now;
    struct stat sb;
    if (program_given || stat(program, &sb) == 0) {
        json_error_t je;
        json_t *root = json_load_file(program, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(root)) {
            fprintf(stderr, "loyal %s: %s: %s\n", cmd, program,
                    root ? "the program file must be a JSON object" : je.text);
            json_decref(root);
            return LY_EXIT_DATA;
        }
        programEvidence(root, ev);
        json_decref(root);
    }
    if (stat(db, &sb) == 0) return dbEvidence(cmd, db, program, ev->has_program, ev);
    if (ev->has_program) snprintf(ev->uplift_why, sizeof ev->uplift_why, "no database");
    return LY_EXIT_OK;
}

json_t *ly__mat_json(const ly_mat_evidence *ev, const ly_mat_rating *r)
{
    json_t *blocks = json_array();
    for (int b = 0; b < LY_MAT_BLOCKS; b++)
        json_array_append_new(blocks, json_pack("{s:s, s:s, s:i, s:s, s:s?}", "block",
                                                ly_mat_block_key((ly_mat_block)b), "name",
                                                ly_mat_block_name((ly_mat_block)b), "level",
                                                r->block[b].level, "evidence", r->block[b].evidence,
                                                "lift", *r->block[b].lift ? r->block[b].lift : NULL));
    int bp = ly_mat_identified_bp(ev);
    json_t *facts = json_pack(
        "{s:b, s:b, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "program", ev->has_program,
        "database", ev->has_db, "receipts", (json_int_t)ev->receipts, "identified",
        (json_int_t)ev->identified, "identified_share", bp / 10000.0, "analytics_runs",
        (json_int_t)ev->analytics_runs, "analytics_customers", (json_int_t)ev->analytics_customers,
        "offer_customers", (json_int_t)ev->offer_customers, "trigger_messages",
        (json_int_t)ev->trigger_messages, "trigger_steps", (json_int_t)ev->trigger_steps,
        "trigger_holdout_steps", (json_int_t)ev->trigger_holdout_steps, "events_recorded",
        (json_int_t)ev->events_recorded);
    if (facts) {
        json_object_set_new(facts, "tiers", json_integer(ev->tiers));
        json_object_set_new(facts, "rules", json_integer(ev->rules));
        json_object_set_new(facts, "partners", json_integer(ev->partners));
        json_object_set_new(facts, "triggers", json_integer(ev->triggers));
        json_object_set_new(facts, "chains", json_integer(ev->chains));
        json_object_set_new(facts, "quests", json_integer(ev->quests));
        json_object_set_new(facts, "questionnaires", json_integer(ev->questionnaires));
        json_object_set_new(facts, "touchpoints", json_integer(ev->touchpoints));
        json_object_set_new(facts, "quest_rows", ev->quest_rows >= 0 ? json_integer(ev->quest_rows) : json_null());
        json_object_set_new(facts, "answers", ev->answers >= 0 ? json_integer(ev->answers) : json_null());
        json_object_set_new(facts, "last_analytics_at",
                            ev->last_analytics_at >= 0 ? json_integer(ev->last_analytics_at) : json_null());
        json_object_set_new(facts, "uplift_measured", json_boolean(ev->uplift_measured));
        json_object_set_new(facts, "triggers_measured", json_integer(ev->triggers_measured));
        json_object_set_new(facts, "triggers_proven", json_integer(ev->triggers_proven));
        json_object_set_new(facts, "triggers_unproven", json_integer(ev->triggers_unproven));
        json_object_set_new(facts, "triggers_harmful", json_integer(ev->triggers_harmful));
        json_object_set_new(facts, "program_versions", json_integer(ev->program_versions));
        json_object_set_new(facts, "triggers_renewed_at",
                            ev->triggers_renewed_at >= 0 ? json_integer(ev->triggers_renewed_at) : json_null());
    }
    return json_pack("{s:i, s:i, s:s, s:o, s:o}", "overall", r->overall, "lowest", r->lowest, "note",
                     r->note, "blocks", blocks, "facts", facts);
}

