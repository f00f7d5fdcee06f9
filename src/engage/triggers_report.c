/*
 * triggers_report.c - the uplift of every trigger and step against its hold-out group
 * (engage.h, "Measurement"; docs/triggers.md): conversion (a deal within the trigger's
 * attribution window after the step's send or would-be send) and revenue per customer in
 * each group, their differences with 95% intervals, incremental revenue and margin, the
 * cost of messages and rewards and the return on it, as JSON (the HTML page is drawn by
 * cli/triggers.c with the report module's SVG primitives). The latest report built in
 * this process feeds /metrics.
 */
#include "engage/triggers_internal.h"
#include "os/os.h"
#include "program/triggers.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err rc_ = (x); if (rc_ != LY_OK) return rc_; } while (0)

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* Sums of one group. */
typedef struct acc {
    int64_t n, conv;
    ly_money revenue;
    double sum, sumsq;
    ly_money cost, reward;
} acc;

typedef struct stepAcc {
    acc g[2]; /* [0] treated, [1] held out by the trigger */
} stepAcc;

typedef struct firstStep {
    int64_t customer_id;
    ly_time at;
    bool program_holdout;
    bool converted;
    ly_money revenue;
} firstStep;

typedef struct walk {
    stepAcc *steps;
    size_t n_steps;
    firstStep *firsts;
    size_t n_firsts, cap_firsts;
} walk;

static ly_err onOutcome(void *ctx, const ly_trigger_outcome *o, ly_error *err)
{
    walk *w = ctx;
    if (o->step == 0) {
        if (w->n_firsts == w->cap_firsts) {
            size_t cap = w->cap_firsts ? w->cap_firsts * 2 : 256;
            firstStep *nf = realloc(w->firsts, cap * sizeof *nf);
            if (!nf) return oom(err);
            w->firsts = nf;
            w->cap_firsts = cap;
        }
        w->firsts[w->n_firsts++] = (firstStep){o->customer_id, o->at, o->program_holdout,
                                               o->deals > 0, o->revenue};
    }
    if (o->program_holdout || o->step < 0 || (size_t)o->step >= w->n_steps) return LY_OK;
    acc *g = &w->steps[o->step].g[o->held_out ? 1 : 0];
    g->n++;
    g->conv += o->deals > 0;
    g->revenue += o->revenue;
    g->sum += (double)o->revenue;
    g->sumsq += (double)o->revenue * (double)o->revenue;
    g->cost += o->cost;
    if (o->deals > 0) g->reward += o->reward_cost;
    return LY_OK;
}

static void figures(const acc *t, const acc *c, int64_t margin_bp, ly_trigger_figures *f)
{
    f->treated = t->n;
    f->held_out = c->n;
    f->treated_conv = t->conv;
    f->held_out_conv = c->conv;
    f->treated_revenue = t->revenue;
    f->held_out_revenue = c->revenue;
    f->p_treated = t->n ? (double)t->conv / (double)t->n : 0.0;
    f->p_held_out = c->n ? (double)c->conv / (double)c->n : 0.0;
    f->rev_treated = t->n ? t->sum / (double)t->n : 0.0;
    f->rev_held_out = c->n ? c->sum / (double)c->n : 0.0;
    f->uplift = ly_stats_newcombe(t->conv, t->n, c->conv, c->n);
    f->relative = ly__stats_katz(t->conv, t->n, c->conv, c->n);
    f->revenue = ly_stats_welch(t->n, t->sum, t->sumsq, c->n, c->sum, c->sumsq);
    f->incremental_revenue = f->revenue.valid ? f->revenue.est * (double)t->n : 0.0;
    f->has_margin = margin_bp >= 0;
    f->incremental_margin = f->has_margin ? f->incremental_revenue * (double)margin_bp / 10000.0
                                          : 0.0;
    f->message_cost = t->cost;
    f->reward_cost = t->reward;
    ly_money cost = t->cost + t->reward;
    double gain = f->has_margin ? f->incremental_margin : f->incremental_revenue;
    f->roi_valid = cost > 0 && f->revenue.valid;
    f->roi = f->roi_valid ? (gain - (double)cost) / (double)cost : 0.0;
    f->proven = f->uplift.valid && (f->uplift.lo > 0.0 || f->uplift.hi < 0.0);
}

static int byCustomerTime(const void *a, const void *b)
{
    const firstStep *x = a, *y = b;
    if (x->customer_id != y->customer_id) return x->customer_id < y->customer_id ? -1 : 1;
    return x->at < y->at ? -1 : x->at > y->at;
}

/* The latest report's step rows, for /metrics. */
static pthread_mutex_t lastMu = PTHREAD_MUTEX_INITIALIZER;
static char *lastMetrics;

/* A gauge `name` with two samples a report row, group="treated" and group="holdout": the
 * customers who reached the step, or (conversions) those of them with a deal in the window. */
static void treatedHeldOutGauge(FILE *f, const ly_triggers_report *r, const char *name,
                                const char *help, bool conversions)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
    for (size_t i = 0; i < r->n_rows; i++) {
        const ly_trigger_figures *x = &r->rows[i];
        int64_t treated = conversions ? x->treated_conv : x->treated;
        int64_t held_out = conversions ? x->held_out_conv : x->held_out;
        fprintf(f, "%s{trigger=\"%s\",step=\"%lld\",group=\"treated\"} %lld\n"
                   "%s{trigger=\"%s\",step=\"%lld\",group=\"holdout\"} %lld\n",
                name, x->trigger, (long long)x->step, (long long)treated, name, x->trigger,
                (long long)x->step, (long long)held_out);
    }
}

static void keepMetrics(const ly_triggers_report *r);

ly_err ly_triggers_report_build(ly_store *s, const ly_program *p, ly_time from, ly_time to,
                                ly_arena *a, ly_triggers_report *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    const ly_triggers_conf *tc = p->triggers;
    if (!tc || !tc->n_triggers)
        return ly_error_set(err, LY_EINVAL, "no_triggers", "triggers",
                            "the program file has no triggers");
    ly_db *db = ly_store_reader(s, err);
    if (!db) return LY_EIO;
    out->from = from;
    out->to = to;
    size_t rows = 0;
    for (size_t i = 0; i < tc->n_triggers; i++) rows += tc->triggers[i].n_steps;
    out->rows = ly_arena_alloc(a, rows * sizeof *out->rows);
    if (!out->rows) return oom(err);
    walk w = {0};
    ly_err e = LY_OK;
    for (size_t i = 0; i < tc->n_triggers && e == LY_OK; i++) {
        const ly_trigger_def *t = &tc->triggers[i];
        stepAcc steps[10];
        memset(steps, 0, sizeof steps);
        w.steps = steps;
        w.n_steps = t->n_steps;
        e = ly_db_trigger_outcomes(db, t->id, from, to, t->attribution_days * 86400, onOutcome,
                                   &w, err);
        for (size_t k = 0; e == LY_OK && k < t->n_steps; k++) {
            ly_trigger_figures *f = &out->rows[out->n_rows++];
            figures(&steps[k].g[0], &steps[k].g[1], tc->margin_bp, f);
            f->trigger = t->id;
            f->name = t->name;
            f->step = (int64_t)k;
            f->attribution_days = t->attribution_days;
        }
    }
    if (e == LY_OK && tc->program_holdout_bp > 0) {
        /* One unit per customer: the first step 0 reached in the period, any trigger. */
        acc g[2];
        memset(g, 0, sizeof g);
        if (w.n_firsts) qsort(w.firsts, w.n_firsts, sizeof *w.firsts, byCustomerTime);
        for (size_t i = 0; i < w.n_firsts; i++) {
            if (i && w.firsts[i].customer_id == w.firsts[i - 1].customer_id) continue;
            acc *x = &g[w.firsts[i].program_holdout ? 1 : 0];
            x->n++;
            x->conv += w.firsts[i].converted;
            x->revenue += w.firsts[i].revenue;
            x->sum += (double)w.firsts[i].revenue;
            x->sumsq += (double)w.firsts[i].revenue * (double)w.firsts[i].revenue;
        }
        figures(&g[0], &g[1], tc->margin_bp, &out->program);
        out->program.trigger = "*";
        out->program.name = "program-wide hold-out";
        out->program.step = -1;
        out->has_program = true;
    }
    free(w.firsts);
    if (e == LY_OK) keepMetrics(out);
    return e;
}

/* ---------------------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------------------- */

static json_t *estJson(const ly_estimate *e)
{
    if (!e->valid) return json_null();
    return json_pack("{s:f, s:f, s:f}", "estimate", e->est, "low", e->lo, "high", e->hi);
}

static json_int_t money(double v) { return (json_int_t)llround(v); }

static json_t *rowJson(const ly_trigger_figures *f)
{
    json_t *o = json_pack(
        "{s:s, s:o, s:I, s:I, s:{s:I, s:I, s:f, s:I, s:f}, s:{s:I, s:I, s:f, s:I, s:f},"
        " s:o, s:o, s:o, s:I, s:o, s:I, s:I, s:I, s:o, s:b}",
        "trigger", f->trigger, "name", f->name ? json_string(f->name) : json_null(),
        "step", (json_int_t)f->step, "attribution_days", (json_int_t)f->attribution_days,
        "treated", "customers", (json_int_t)f->treated, "converted", (json_int_t)f->treated_conv,
        "conversion", f->p_treated, "revenue", (json_int_t)f->treated_revenue,
        "revenue_per_customer", f->rev_treated,
        "held_out", "customers", (json_int_t)f->held_out, "converted",
        (json_int_t)f->held_out_conv, "conversion", f->p_held_out, "revenue",
        (json_int_t)f->held_out_revenue, "revenue_per_customer", f->rev_held_out,
        "uplift", estJson(&f->uplift), "relative_uplift", estJson(&f->relative),
        "revenue_per_customer_uplift", estJson(&f->revenue),
        "incremental_revenue", money(f->incremental_revenue),
        "incremental_margin", f->has_margin ? json_integer(money(f->incremental_margin)) : json_null(),
        "message_cost", (json_int_t)f->message_cost, "reward_cost", (json_int_t)f->reward_cost,
        "cost", (json_int_t)(f->message_cost + f->reward_cost),
        "return_on_cost", f->roi_valid ? json_real(f->roi) : json_null(),
        "proven", f->proven);
    return o;
}

json_t *ly_triggers_report_json(const ly_triggers_report *r, const ly_program *p)
{
    char from[32], to[32];
    ly_time_format(r->from, 0, from, sizeof from);
    ly_time_format(r->to, 0, to, sizeof to);
    json_t *rows = json_array();
    for (size_t i = 0; rows && i < r->n_rows; i++)
        if (json_array_append_new(rows, rowJson(&r->rows[i]))) {
            json_decref(rows);
            return NULL;
        }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o, s:o}", "format",
                          "loyal-triggers-report/1", "program", p->version, "currency",
                          p->currency, "from", from, "to", to, "minor_units", p->minor_units,
                          "steps", rows, "program_holdout",
                          r->has_program ? rowJson(&r->program) : json_null());
    return o;
}

/* ---------------------------------------------------------------------------------------
 * /metrics
 * ------------------------------------------------------------------------------------- */

static void keepMetrics(const ly_triggers_report *r)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return;
    treatedHeldOutGauge(f, r, "loyal_trigger_customers",
                        "Customers who reached a trigger step in the latest uplift report, by "
                        "group.", false);
    treatedHeldOutGauge(f, r, "loyal_trigger_conversions",
                        "Of them, customers with a deal in the attribution window.", true);
    fputs("# HELP loyal_trigger_uplift Conversion uplift (treated minus held out) of the latest "
          "report; proven=\"1\" when its 95% interval excludes zero.\n"
          "# TYPE loyal_trigger_uplift gauge\n", f);
    for (size_t i = 0; i < r->n_rows; i++) {
        const ly_trigger_figures *x = &r->rows[i];
        if (!x->uplift.valid) continue;
        fprintf(f, "loyal_trigger_uplift{trigger=\"%s\",step=\"%lld\",proven=\"%d\"} %.6f\n",
                x->trigger, (long long)x->step, x->proven ? 1 : 0, x->uplift.est);
    }
    fclose(f);
    pthread_mutex_lock(&lastMu);
    free(lastMetrics);
    lastMetrics = out;
    pthread_mutex_unlock(&lastMu);
}

char *ly_triggers_metrics_text(void)
{
    char *runs = ly__triggers_run_metrics();
    if (!runs) return NULL;
    pthread_mutex_lock(&lastMu);
    size_t a = strlen(runs), b = lastMetrics ? strlen(lastMetrics) : 0;
    char *out = malloc(a + b + 1);
    if (out) {
        memcpy(out, runs, a);
        if (b) memcpy(out + a, lastMetrics, b);
        out[a + b] = '\0';
    }
    pthread_mutex_unlock(&lastMu);
    free(runs);
    return out;
}
