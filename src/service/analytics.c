/*
 * analytics.c - the analytics back into the engine: saving an analysis's per-customer
 * figures (RFM cell, segment, status against the boundaries, position against the loyalty
 * boundary, P(alive), CLV) to the store, and reading them for the profile and the rules.
 */
#include "service/service.h"
#include "analytics/analytics.h"
#include "analytics/models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Customers per write job: small enough that tills waiting behind a batch wait a few
 * milliseconds, large enough that a million customers take a few hundred groups. */
#define SAVE_BATCH 2000

typedef struct saveBatch {
    const ly_an_result *r;
    const ly_analytics_models *models;
    int64_t run;
    size_t from, to;
    int64_t stored, skipped;
} saveBatch;

/* The decimal customer id of a key, or 0 if the key is not one. */
static int64_t keyId(const char *key)
{
    if (!key || !*key || strlen(key) > 18) return 0;
    int64_t v = 0;
    for (const char *p = key; *p; p++) {
        if (*p < '0' || *p > '9') return 0;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static ly_err saveRun(ly_db *db, void *ctx, ly_error *err)
{
    saveBatch *b = ctx;
    const ly_an_result *r = b->r;
    for (size_t i = b->from; i < b->to; i++) {
        const ly_an_customer *c = &r->customers[i];
        ly_customer_analytics a;
        memset(&a, 0, sizeof a);
        a.customer_id = keyId(c->key);
        if (a.customer_id <= 0) {
            b->skipped++;
            continue;
        }
        a.run = b->run;
        if (c->r3) {
            /* Levels are 1..3: one digit each. */
            a.rfm_cell[0] = 'R', a.rfm_cell[1] = (char)('0' + c->r3 % 10);
            a.rfm_cell[2] = 'F', a.rfm_cell[3] = (char)('0' + c->f3 % 10);
            a.rfm_cell[4] = 'M', a.rfm_cell[5] = (char)('0' + c->m3 % 10);
            a.rfm_cell[6] = '\0';
            snprintf(a.segment, sizeof a.segment, "%s", ly_an_segment_name((ly_an_segment)c->segment));
        }
        snprintf(a.status, sizeof a.status, "%s", ly_an_status_name((ly_an_status)c->status));
        snprintf(a.loyalty, sizeof a.loyalty, "%s", ly_an_loyalty_name(r, c));
        a.r_days = c->r_days;
        a.deals = c->deals;
        a.revenue = c->revenue;
        a.p_alive_ppm = -1;
        a.clv = -1;
        /* Model outputs are estimates in doubles; stored rounded, and never used to move
         * money or points. */
        if (b->models && b->models->p_alive && isfinite(b->models->p_alive[i]))
            a.p_alive_ppm = llround(b->models->p_alive[i] * 1e6);
        if (b->models && b->models->clv && isfinite(b->models->clv[i]) && b->models->clv[i] >= 0 &&
            b->models->clv[i] < 1e15)
            a.clv = llround(b->models->clv[i]);
        bool stored = false;
        ly_err rc = ly_db_customer_analytics_put(db, &a, &stored, err);
        if (rc != LY_OK) return rc;
        if (stored) b->stored++;
        else b->skipped++;
    }
    return LY_OK;
}

typedef struct runStep {
    ly_analytics_run *run;
    bool finish;
} runStep;

static ly_err runRecord(ly_db *db, void *ctx, ly_error *err)
{
    runStep *st = ctx;
    return st->finish ? ly_db_analytics_run_finish(db, st->run, err)
                      : ly_db_analytics_run_insert(db, st->run, err);
}

ly_err ly_analytics_save(ly_store *store, const ly_an_result *result,
                         const ly_analytics_models *models, ly_time now,
                         ly_analytics_run *run_out, int64_t *skipped, ly_error *err)
{
    ly_analytics_run run;
    memset(&run, 0, sizeof run);
    run.at = now;
    ly_date_format(result->as_of_day, run.as_of, sizeof run.as_of);
    run.sleep_days = result->curve.sleep_day;
    run.churn_days = result->curve.churn_day;
    run.loyalty_deals = result->loyalty_boundary;

    runStep step = {.run = &run, .finish = false};
    ly_err rc = ly_store_write(store, runRecord, &step, err);
    if (rc != LY_OK) return rc;

    int64_t stored = 0, skip = 0;
    for (size_t from = 0; from < result->n_customers; from += SAVE_BATCH) {
        saveBatch b = {.r = result, .models = models, .run = run.id, .from = from,
                       .to = from + SAVE_BATCH < result->n_customers ? from + SAVE_BATCH
                                                                     : result->n_customers};
        rc = ly_store_write(store, saveRun, &b, err);
        if (rc != LY_OK) return rc; /* the unfinished run stays invisible to readers */
        stored += b.stored;
        skip += b.skipped;
    }
    run.customers = stored;
    step.finish = true;
    rc = ly_store_write(store, runRecord, &step, err);
    if (rc != LY_OK) return rc;
    if (run_out) *run_out = run;
    if (skipped) *skipped = skip;
    return LY_OK;
}

ly_err ly_analytics_refresh(ly_store *store, int64_t as_of_day, ly_time now,
                            ly_analytics_run *run_out, ly_error *err)
{
    ly_source src = {0};
    ly_err rc = ly_store_source_open(store, &src, err);
    if (rc != LY_OK) return rc;
    ly_an_options ao;
    ly_an_options_default(&ao);
    ao.as_of_set = true;
    ao.as_of_day = as_of_day;
    ly_an_result *res = NULL;
    rc = ly_an_run(&src, &ao, &res, err);
    src.close(src.ctx);
    if (rc != LY_OK) return rc;
    ly_an_clv clv;
    rc = ly_an_clv_fit(res, NULL, &clv, err);
    if (rc == LY_OK) {
        ly_analytics_models models = {.p_alive = clv.fitted ? clv.p_alive : NULL,
                                      .clv = clv.fitted ? clv.value : NULL};
        rc = ly_analytics_save(store, res, &models, now, run_out, NULL, err);
        ly_an_clv_free(&clv);
    }
    ly_an_result_free(res);
    return rc;
}

ly_err ly_service_customer_analytics(ly_service *s, int64_t customer_id,
                                     ly_customer_analytics *out, ly_error *err)
{
    ly_db *db = ly_store_reader(ly_service_store(s), err);
    if (!db) return LY_EIO;
    return ly_db_customer_analytics_get(db, customer_id, out, err);
}
