/*
 * maturity.c - `loyal maturity`: the program's maturity level, block by block
 * (docs/maturity.md). Gathers the evidence from the program file (read as plain JSON, so a
 * section this binary does not know yet still counts) and from the database (store.h,
 * ly_db_maturity_facts), rates it (analytics/maturity.h) and prints it as text, JSON
 * (--json) and a self-contained HTML page (--html).
 */
#include "analytics/maturity.h"
#include "cli/cli.h"
#include "cli/cli_internal.h"
#include "report/svg.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loyal maturity [--db PATH] [--program PATH] [--json FILE] [--html FILE] [--quiet]\n\n"
            "Rates the running program 0-4 on each of the method's five blocks (rewards, data\n"
            "collection and analysis, trigger communications, customisation, gamification) and\n"
            "overall, from its program file and its database; cites the evidence of each rating\n"
            "and says what would lift the block one level (docs/maturity.md).\n"
            "  --db PATH       the database (default $LOYAL_DB or ./loyal.db); a missing file\n"
            "                  counts as no data and is not created\n"
            "  --program PATH  the program file (default $LOYAL_PROGRAM or ./program.json); a\n"
            "                  missing default file counts as no program\n"
            "  --json FILE     the rating as JSON ('-' for standard output)\n"
            "  --html FILE     the rating as a self-contained HTML page\n"
            "  --quiet         no text on standard output\n");
}

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

static int dbEvidence(const char *path, ly_mat_evidence *ev)
{
    ly_error err = {0};
    ly_store *store = NULL;
    ly_store_options so = {.path = path, .sync = LY_SYNC_NORMAL};
    ly_maturity_facts f;
    ly_db *db = NULL;
    if (ly_store_open(&so, &store, &err) != LY_OK || !(db = ly_store_reader(store, &err)) ||
        ly_db_maturity_facts(db, &f, &err) != LY_OK) {
        ly_store_close(store);
        return ly__cli_fail("maturity", &err);
    }
    ly_store_close(store);
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

static json_t *toJson(const ly_mat_evidence *ev, const ly_mat_rating *r)
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
    }
    return json_pack("{s:i, s:i, s:s, s:o, s:o}", "overall", r->overall, "lowest", r->lowest, "note",
                     r->note, "blocks", blocks, "facts", facts);
}

static int writeText(const char *path, const char *text, size_t len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "loyal maturity: %s: %s\n", path, strerror(errno));
        return LY_EXIT_SYSTEM;
    }
    bool bad = fwrite(text, 1, len, f) != len;
    bad |= f == stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "loyal maturity: cannot write %s\n", path);
        return LY_EXIT_SYSTEM;
    }
    return LY_EXIT_OK;
}

static char *toHtml(const ly_mat_rating *r, size_t *len)
{
    ly_svg_buf b = {0};
    ly_svg_buf_puts(&b,
                    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<title>Program maturity</title><style>"
                    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px;color:#111}"
                    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;"
                    "padding:.4em;vertical-align:top;text-align:left}td.r,th.r{text-align:right}"
                    "svg{max-width:100%;height:auto}text{font-size:12px}"
                    "</style></head><body>\n<section id=\"maturity\"><h1>Program maturity</h1>\n");
    ly_svg_buf_printf(&b, "<p class=\"overall\">Overall level: <strong>%d</strong> of 4 (", r->overall);
    ly_svg_escape(&b, r->note);
    ly_svg_buf_puts(&b, "). Levels by METHOD.md section 7; criteria in docs/maturity.md.</p>\n");
    const char *labels[LY_MAT_BLOCKS];
    double values[LY_MAT_BLOCKS];
    char vl[LY_MAT_BLOCKS][16];
    const char *vlp[LY_MAT_BLOCKS];
    for (int i = 0; i < LY_MAT_BLOCKS; i++) {
        labels[i] = ly_mat_block_name((ly_mat_block)i);
        values[i] = r->block[i].level;
        snprintf(vl[i], sizeof vl[i], "%d of 4", r->block[i].level);
        vlp[i] = vl[i];
    }
    ly_svg_bar_chart chart = {.id = "maturity-levels", .title = "Level per block (0-4)",
                              .x_title = NULL, .y_title = NULL, .n = LY_MAT_BLOCKS,
                              .labels = labels, .values = values, .value_labels = vlp,
                              .fmt = LY_SVG_FMT_INT, .horizontal = true};
    ly_svg_bar_chart_render(&b, &chart);
    static const char *const head[] = {"Block", "Level", "Evidence", "What would lift it one level"};
    ly_svg_table t = {.id = "maturity-blocks", .caption = "The five blocks", .n_cols = 4,
                      .head = head, .align = "lrll"};
    ly_svg_table_begin(&b, &t);
    for (int i = 0; i < LY_MAT_BLOCKS; i++) {
        char lv[8];
        snprintf(lv, sizeof lv, "%d", r->block[i].level);
        const char *cells[4] = {labels[i], lv, r->block[i].evidence,
                                *r->block[i].lift ? r->block[i].lift : "(highest level)"};
        ly_svg_table_row(&b, &t, cells, NULL);
    }
    ly_svg_table_end(&b);
    ly_svg_buf_puts(&b, "</section>\n</body></html>\n");
    return ly_svg_buf_take(&b, len);
}

static void printText(const ly_mat_rating *r)
{
    printf("maturity: level %d of 4 (%s)\n", r->overall, r->note);
    for (int i = 0; i < LY_MAT_BLOCKS; i++) {
        printf("\n%-13s %d  %s\n", ly_mat_block_key((ly_mat_block)i), r->block[i].level,
               ly_mat_block_name((ly_mat_block)i));
        printf("  evidence: %s\n", r->block[i].evidence);
        if (*r->block[i].lift) printf("  to lift:  %s\n", r->block[i].lift);
    }
}

int ly_cli_maturity(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},   {"program", required_argument, 0, 'p'},
        {"json", required_argument, 0, 'j'}, {"html", required_argument, 0, 'H'},
        {"quiet", no_argument, 0, 'q'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = ly_cli_default_db(), *program = ly_cli_default_program();
    const char *jsonPath = NULL, *htmlPath = NULL;
    bool programGiven = false, quiet = false;
    optind = 1;
    opterr = 1;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'p': program = optarg; programGiven = true; break;
        case 'j': jsonPath = optarg; break;
        case 'H': htmlPath = optarg; break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return LY_EXIT_OK;
        default: usage(stderr); return LY_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "loyal maturity: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return LY_EXIT_USAGE;
    }

    ly_mat_evidence ev;
    memset(&ev, 0, sizeof ev);
    ev.last_analytics_at = -1;
    ev.quest_rows = ev.answers = -1;
    ev.now = (int64_t)time(NULL);
    struct stat sb;
    if (programGiven || stat(program, &sb) == 0) {
        json_error_t je;
        json_t *root = json_load_file(program, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(root)) {
            fprintf(stderr, "loyal maturity: %s: %s\n", program,
                    root ? "the program file must be a JSON object" : je.text);
            json_decref(root);
            return LY_EXIT_DATA;
        }
        programEvidence(root, &ev);
        json_decref(root);
    }
    if (stat(db, &sb) == 0) {
        int code = dbEvidence(db, &ev);
        if (code != LY_EXIT_OK) return code;
    }

    ly_mat_rating r;
    ly_mat_rate(&ev, &r);
    if (!quiet) printText(&r);
    int code = LY_EXIT_OK;
    if (jsonPath) {
        json_t *j = toJson(&ev, &r);
        char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(6)) : NULL;
        json_decref(j);
        if (!text) {
            fprintf(stderr, "loyal maturity: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        size_t n = strlen(text);
        char *line = malloc(n + 2);
        if (!line) {
            free(text);
            fprintf(stderr, "loyal maturity: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        memcpy(line, text, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        free(text);
        code = writeText(jsonPath, line, n + 1);
        free(line);
        if (code != LY_EXIT_OK) return code;
    }
    if (htmlPath) {
        size_t n = 0;
        char *html = toHtml(&r, &n);
        if (!html) {
            fprintf(stderr, "loyal maturity: out of memory\n");
            return LY_EXIT_SYSTEM;
        }
        code = writeText(htmlPath, html, n);
        free(html);
    }
    return code;
}
