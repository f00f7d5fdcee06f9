/*
 * survey.c - questionnaire answers, satisfaction and touchpoints (service.h,
 * "Questionnaires, satisfaction and touchpoints"; docs/touchpoints.md): the answers
 * operation (validated against the program, landing in the customer's attributes, rewarded
 * once), the receipt touchpoint stored at confirm, and the touchpoint report.
 */
#include "service/service.h"

#include "os/os.h"
#include "program/survey.h"
#include "service/rewards_internal.h"
#include "service/service_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

/* ---------------------------------------------------------------------------------------
 * Validation of one answer
 * ------------------------------------------------------------------------------------- */

/* Checks v against q; *attr (may stay NULL) gets the attribute value to store (new ref). */
static ly_err checkAnswer(const ly_question *q, json_t *v, const char *field, json_t **attr,
                          ly_error *err)
{
    *attr = NULL;
    switch (q->kind) {
    case LY_Q_SINGLE: {
        if (json_is_string(v))
            for (size_t i = 0; i < q->n_options; i++)
                if (strcmp(q->options[i], json_string_value(v)) == 0) {
                    *attr = json_string(q->options[i]);
                    return LY_OK;
                }
        return ly_error_set(err, LY_EINVAL, "invalid_value", field, "must be one of the options");
    }
    case LY_Q_MULTIPLE: {
        if (!json_is_array(v) || json_array_size(v) == 0)
            return ly_error_set(err, LY_EINVAL, "invalid_value", field,
                                "must be a non-empty array of options");
        json_t *set = json_object();
        if (!set) return oom(err);
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *o = json_array_get(v, i);
            size_t k = 0;
            while (json_is_string(o) && k < q->n_options &&
                   strcmp(q->options[k], json_string_value(o)) != 0)
                k++;
            if (!json_is_string(o) || k == q->n_options || json_object_get(set, q->options[k])) {
                json_decref(set);
                return ly_error_set(err, LY_EINVAL, "invalid_value", field,
                                    "must be distinct options (item %zu is not)", i);
            }
            json_object_set_new(set, q->options[k], json_true());
        }
        *attr = set; /* {"option": true}: rules read "<attribute>.<option>" = "true" */
        return LY_OK;
    }
    case LY_Q_TEXT:
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            (int64_t)json_string_length(v) > q->max_length)
            return ly_error_set(err, LY_EINVAL, "invalid_value", field,
                                "must be text of 1 to %lld bytes", (long long)q->max_length);
        *attr = json_string(json_string_value(v));
        return LY_OK;
    case LY_Q_SCALE:
    case LY_Q_NPS:
    case LY_Q_CSI:
        if (!json_is_integer(v) || json_integer_value(v) < q->min || json_integer_value(v) > q->max)
            return ly_error_set(err, LY_EINVAL, "invalid_value", field,
                                "must be an integer in %lld..%lld", (long long)q->min,
                                (long long)q->max);
        *attr = json_integer(json_integer_value(v));
        return LY_OK;
    default:
        return ly_error_set(err, LY_EINVAL, "invalid_value", field, "unknown question kind");
    }
}

/* ---------------------------------------------------------------------------------------
 * The answers operation
 * ------------------------------------------------------------------------------------- */

typedef struct answerJob {
    ly_service *s;
    ly_program_ref *prog;
    const ly_answer_request *in;
    ly_time now;
    ly_arena *a;
    uint8_t hash[32];
    const char *canonical;     /* the answers, keys sorted */
    ly_answer_result *out;
} answerJob;

static ly_err giveReward(answerJob *j, ly_db *db, const ly_questionnaire *q, int64_t cid,
                         ly_points *given, ly_error *err)
{
    *given = 0;
    if (q->reward_points <= 0) return LY_OK;
    const char *key = ly_arena_printf(j->a, "questionnaire:%s:%lld", q->id, (long long)cid);
    const char *note = ly_arena_printf(j->a, "questionnaire %s completed", q->id);
    if (!key || !note) return oom(err);
    ly_op op;
    memset(&op, 0, sizeof op);
    op.kind = LY_OP_ADJUST;
    op.arena = j->a;
    op.now = j->now;
    op.prog_ = j->prog;
    op.in.adjust = (ly_adjust_request){.adjustment_id = key, .customer_id = cid,
                                       .points = q->reward_points, .kind = LY_ENTRY_BONUS,
                                       .note = note};
    /* The key alone makes the request: a second completion is a replay, never paid. */
    ly_os_hash(key, strlen(key), op.request_hash);
    ly_err rc = ly_service_apply(j->s, db, &op);
    if (rc != LY_OK) {
        if (err) *err = op.err;
        return rc;
    }
    if (!op.replayed) *given = q->reward_points;
    return LY_OK;
}

static ly_err runAnswer(ly_db *db, void *ctx, ly_error *err)
{
    answerJob *j = ctx;
    const ly_answer_request *in = j->in;
    ly_answer_result *out = j->out;
    ly_stored_answer prior;
    ly_err rc = ly_db_answer_find(db, in->answer_id, j->a, &prior, err);
    if (rc == LY_OK) {
        if (memcmp(prior.request_hash, j->hash, 32) != 0)
            return ly_error_set(err, LY_ECONFLICT, "answer_conflict", "answer_id",
                                "answer %s was already recorded with different contents",
                                in->answer_id);
        out->replayed = true;
        out->status = 201;
        out->response = prior.response;
        out->customer_id = prior.customer_id;
        out->points = 0;
        return LY_OK;
    }
    if (rc != LY_ENOTFOUND) return rc;
    ly_error_clear(err);

    const ly_program *prog = &j->prog->p;
    const ly_questionnaire *q = ly_survey_questionnaire(prog->survey, in->questionnaire);
    if (!q)
        return ly_error_set(err, LY_EUNPROCESSABLE, "questionnaire_unknown", "questionnaire",
                            "the program has no questionnaire %s", in->questionnaire);
    const char *tp = in->touchpoint ? in->touchpoint : q->touchpoint;
    if (tp && !ly_survey_touchpoint(prog->survey, tp))
        return ly_error_set(err, LY_EUNPROCESSABLE, "touchpoint_unknown", "touchpoint",
                            "the program has no touchpoint %s", tp);
    ly_customer c;
    ly_who who = {.customer_id = in->customer_id};
    TRY(ly__service_resolve(j->s, db, &who, j->a, &c, err));
    if (in->receipt_id) {
        ly_stored_receipt r;
        rc = ly_db_receipt_find(db, in->receipt_id, j->a, &r, err);
        if (rc == LY_ENOTFOUND)
            return ly_error_set(err, LY_EUNPROCESSABLE, "receipt_not_found", "receipt_id",
                                "no receipt %s", in->receipt_id);
        if (rc != LY_OK) return rc;
        if (r.customer_id != c.id)
            return ly_error_set(err, LY_EUNPROCESSABLE, "receipt_other_customer", "receipt_id",
                                "receipt %s is not this customer's", in->receipt_id);
    }

    json_error_t jerr;
    json_t *answers = json_loads(in->answers ? in->answers : "", JSON_REJECT_DUPLICATES, &jerr);
    json_t *attrs = json_loads(c.attributes ? c.attributes : "{}", 0, &jerr);
    json_t *set = json_object();
    ly_stored_answer sa;
    memset(&sa, 0, sizeof sa);
    char field[96];
    rc = LY_OK;
    if (!set) rc = oom(err);
    else if (!json_is_object(answers) || json_object_size(answers) == 0)
        rc = ly_error_set(err, LY_EINVAL, "invalid_value", "answers",
                          "must be an object with at least one answer");
    if (rc == LY_OK && !json_is_object(attrs)) {
        json_decref(attrs);
        attrs = json_object();
        if (!attrs) rc = oom(err);
    }
    const char *key;
    json_t *v;
    if (rc == LY_OK) json_object_foreach(answers, key, v) {
        snprintf(field, sizeof field, "answers.%s", key);
        const ly_question *qq = ly_survey_question(q, key);
        if (!qq) {
            rc = ly_error_set(err, LY_EINVAL, "unknown_field", field,
                              "is not a question of questionnaire %s", q->id);
            break;
        }
        json_t *val;
        if ((rc = checkAnswer(qq, v, field, &val, err)) != LY_OK) break;
        if (qq->kind == LY_Q_NPS && !sa.has_nps) {
            sa.has_nps = true;
            sa.nps = json_integer_value(v);
        }
        if (qq->kind == LY_Q_CSI && !sa.has_csi) {
            sa.has_csi = true;
            sa.csi = json_integer_value(v);
            sa.csi_min = qq->min;
            sa.csi_max = qq->max;
        }
        if (qq->attribute && val) {
            json_object_set(attrs, qq->attribute, val);
            json_object_set(set, qq->attribute, val);
        }
        json_decref(val);
    }
    for (size_t i = 0; rc == LY_OK && i < q->n_questions; i++)
        if (q->questions[i].required && !json_object_get(answers, q->questions[i].id)) {
            snprintf(field, sizeof field, "answers.%s", q->questions[i].id);
            rc = ly_error_set(err, LY_EINVAL, "missing_field", field, "is required");
        }
    const char *attr_text = NULL;
    if (rc == LY_OK && json_object_size(set) > 0) {
        char *t = json_dumps(attrs, JSON_COMPACT | JSON_SORT_KEYS);
        if (!t || !(attr_text = ly_arena_strdup(j->a, t))) rc = oom(err);
        free(t);
    }
    json_decref(answers);
    json_decref(attrs);
    if (rc != LY_OK) {
        json_decref(set);
        return rc;
    }
    if (attr_text) {
        c.attributes = attr_text;
        c.updated_at = j->now;
        rc = ly_db_customer_update(db, &c, err);
    }
    ly_points given = 0;
    if (rc == LY_OK) rc = giveReward(j, db, q, c.id, &given, err);
    if (rc != LY_OK) {
        json_decref(set);
        return rc;
    }
    ly_time at = in->time ? in->time : j->now;
    char when[40];
    const ly_calendar *cal = ly_service_calendar(j->s); /* local time, like every response */
    ly_time_format(at, cal ? cal->utc_offset(cal, at) : 0, when, sizeof when);
    json_t *resp = json_pack("{s:s, s:I, s:s, s:s?, s:s?, s:s, s:o, s:I, s:b}", "answer_id",
                             in->answer_id, "customer_id", (json_int_t)c.id, "questionnaire",
                             q->id, "touchpoint", tp, "receipt_id", in->receipt_id, "time", when,
                             "attributes", set, "points", (json_int_t)given, "rewarded_before",
                             q->reward_points > 0 && given == 0);
    char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
    json_decref(resp);
    const char *response = text ? ly_arena_strdup(j->a, text) : NULL;
    free(text);
    if (!response) return oom(err);

    sa.answer_id = in->answer_id;
    sa.customer_id = c.id;
    sa.questionnaire = q->id;
    sa.touchpoint = tp;
    sa.receipt_id = in->receipt_id;
    sa.at = at;
    sa.answers = j->canonical;
    sa.points = given;
    memcpy(sa.request_hash, j->hash, 32);
    sa.response = response;
    TRY(ly_db_answer_insert(db, &sa, err));
    /* In this job: the quest's progress commits with the answer or not at all. */
    TRY(ly__quests_answered(j->s, db, j->prog, c.id, q->id, at, j->now, j->a, err));
    out->status = 201;
    out->replayed = false;
    out->response = response;
    out->customer_id = c.id;
    out->points = given;
    return LY_OK;
}

ly_err ly_service_answers_submit(ly_service *s, const ly_answer_request *in, ly_time now,
                                 ly_arena *a, ly_answer_result *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (!in->answer_id || !*in->answer_id)
        return ly_error_set(err, LY_EINVAL, "missing_field", "answer_id", "is required");
    if (!in->questionnaire || !*in->questionnaire)
        return ly_error_set(err, LY_EINVAL, "missing_field", "questionnaire", "is required");
    if (!in->answers)
        return ly_error_set(err, LY_EINVAL, "missing_field", "answers", "is required");
    /* The canonical request: the answers with their keys sorted, and every other field. */
    json_error_t jerr;
    json_t *ans = json_loads(in->answers, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(ans)) {
        json_decref(ans);
        return ly_error_set(err, LY_EINVAL, "invalid_value", "answers", "must be an object");
    }
    char *canon = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ans);
    answerJob j = {.s = s, .in = in, .now = now, .a = a, .out = out};
    j.canonical = canon ? ly_arena_strdup(a, canon) : NULL;
    free(canon);
    const char *whole = j.canonical
                            ? ly_arena_printf(a, "%lld\n%s\n%s\n%s\n%s\n%lld\n%s",
                                              (long long)in->customer_id, in->answer_id,
                                              in->questionnaire,
                                              in->touchpoint ? in->touchpoint : "",
                                              in->receipt_id ? in->receipt_id : "",
                                              (long long)in->time, j.canonical)
                            : NULL;
    if (!whole) return oom(err);
    ly_os_hash(whole, strlen(whole), j.hash);
    j.prog = ly__program_acquire(s);
    ly_err rc = ly_store_write(ly_service_store(s), runAnswer, &j, err);
    ly__program_release(s, j.prog);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * Receipts' touchpoints
 * ------------------------------------------------------------------------------------- */

ly_err ly__survey_confirmed(const ly_program *prog, ly_db *db, const ly_checkout *in,
                            ly_error *err)
{
    if (!in->touchpoint) return LY_OK;
    if (!ly_survey_touchpoint(prog->survey, in->touchpoint))
        return ly_error_set(err, LY_EUNPROCESSABLE, "touchpoint_unknown", "touchpoint",
                            "the program has no touchpoint %s", in->touchpoint);
    return ly_db_receipt_touchpoint_put(db, in->receipt.receipt_id, in->touchpoint, err);
}

/* ---------------------------------------------------------------------------------------
 * The touchpoint report
 * ------------------------------------------------------------------------------------- */

static ly_tp_report_row *rowFor(ly_tp_report *r, size_t *cap, ly_arena *a, const char *id)
{
    for (size_t i = 0; i < r->n_rows; i++)
        if (strcmp(r->rows[i].id, id) == 0) return &r->rows[i];
    if (r->n_rows == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        ly_tp_report_row *nr = ly_arena_alloc(a, nc * sizeof *nr);
        if (!nr) return NULL;
        if (r->n_rows) memcpy(nr, r->rows, r->n_rows * sizeof *nr);
        r->rows = nr;
        *cap = nc;
    }
    ly_tp_report_row *row = &r->rows[r->n_rows++];
    memset(row, 0, sizeof *row);
    row->id = ly_arena_strdup(a, id);
    return row->id ? row : NULL;
}

ly_err ly_service_touchpoints_report(ly_service *s, int days, int min_group, ly_arena *a,
                                     ly_tp_report *out, ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (days < 1) return ly_error_set(err, LY_EINVAL, "invalid_value", "days", "must be >= 1");
    if (min_group < 2) min_group = 2;
    out->days = days;
    ly_db *db = ly_store_reader(ly_service_store(s), err);
    if (!db) return LY_EIO;
    ly_tp_row *rows;
    size_t n;
    TRY(ly_db_touchpoint_rows(db, a, &rows, &n, &out->horizon, err));
    size_t cap = 0;
    ly_program_ref *ref = ly__program_acquire(s);
    const ly_survey_conf *conf = ref->p.survey;
    ly_err rc = LY_OK;
    for (size_t i = 0; conf && i < conf->n_touchpoints && rc == LY_OK; i++) {
        ly_tp_report_row *row = rowFor(out, &cap, a, conf->touchpoints[i].id);
        if (!row) rc = oom(err);
        else {
            row->stage = ly_tp_stage_name(conf->touchpoints[i].stage);
            row->channel = ly_arena_strdup(a, conf->touchpoints[i].channel);
            row->msg_conv_applies = conf->touchpoints[i].stage == LY_TP_TRIGGER_COMMUNICATION;
        }
    }
    ly__program_release(s, ref);
    if (rc != LY_OK) return rc;
    const ly_time window = (ly_time)days * 86400;
    for (size_t i = 0; i < n; i++) {
        const ly_tp_row *t = &rows[i];
        ly_tp_report_row *row = rowFor(out, &cap, a, t->touchpoint ? t->touchpoint : "(none)");
        if (!row) return oom(err);
        bool observable = t->at + window <= out->horizon;
        bool returned = t->next_deal > 0 && t->next_deal <= t->at + window;
        if (t->kind == 'e') {
            row->events++;
            continue;
        }
        if (t->kind == 'r') {
            row->receipts++;
            if (t->customer_id) {
                row->identified++;
                if (observable) {
                    row->conv_n++;
                    row->conv_yes += returned;
                }
            }
            continue;
        }
        row->answers++;
        if (t->has_nps) {
            row->nps_n++;
            bool pro = t->nps >= 9, det = t->nps <= 6;
            row->promoters += pro;
            row->detractors += det;
            if (observable && pro) {
                row->pro_n++;
                row->pro_returned += returned;
            }
            if (observable && det) {
                row->det_n++;
                row->det_returned += returned;
            }
        }
        if (t->has_csi && t->csi_max > t->csi_min) {
            row->csi_n++;
            row->csi += (double)(t->csi - t->csi_min) / (double)(t->csi_max - t->csi_min) * 100.0;
        }
    }
    /* Trigger messages: counts by state, and the conversion of messaged customers. */
    ly_tp_messages *mc;
    ly_tp_messaged *md;
    size_t n_mc, n_md;
    TRY(ly_db_touchpoint_messages(db, a, &mc, &n_mc, &md, &n_md, err));
    for (size_t i = 0; i < n_mc; i++) {
        ly_tp_report_row *row = rowFor(out, &cap, a, mc[i].touchpoint);
        if (!row) return oom(err);
        row->msg_written = mc[i].written;
        row->msg_delivered = mc[i].delivered;
        row->msg_dead = mc[i].dead;
    }
    for (size_t i = 0; i < n_md; i++) {
        ly_tp_report_row *row = rowFor(out, &cap, a, md[i].touchpoint);
        if (!row) return oom(err);
        if (!row->msg_conv_applies || md[i].first_delivered + window > out->horizon) continue;
        row->msg_conv_n++;
        row->msg_conv_yes += md[i].next_deal > 0 && md[i].next_deal <= md[i].first_delivered + window;
    }
    for (size_t i = 0; i < out->n_rows; i++) {
        ly_tp_report_row *row = &out->rows[i];
        row->nps = row->nps_n ? 100.0 * (double)(row->promoters - row->detractors) / (double)row->nps_n
                              : NAN;
        row->csi = row->csi_n ? row->csi / (double)row->csi_n : NAN;
        row->diff = row->diff_lo = row->diff_hi = NAN;
        if (row->det_n >= min_group && row->pro_n >= min_group) {
            /* Newcombe's hybrid score interval for a difference of proportions (method 10):
             * Wilson intervals of each rate combined; sound at rates near 0 or 1 where the
             * Wald interval collapses. */
            double z = 1.959963984540054;
            double p1 = (double)row->det_returned / (double)row->det_n;
            double p2 = (double)row->pro_returned / (double)row->pro_n;
            double n1 = (double)row->det_n, n2 = (double)row->pro_n;
            double c1 = (p1 + z * z / (2 * n1)) / (1 + z * z / n1);
            double h1 = z / (1 + z * z / n1) * sqrt(p1 * (1 - p1) / n1 + z * z / (4 * n1 * n1));
            double c2 = (p2 + z * z / (2 * n2)) / (1 + z * z / n2);
            double h2 = z / (1 + z * z / n2) * sqrt(p2 * (1 - p2) / n2 + z * z / (4 * n2 * n2));
            double l1 = c1 - h1, u1 = c1 + h1, l2 = c2 - h2, u2 = c2 + h2;
            row->diff = p1 - p2;
            row->diff_lo = row->diff - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
            row->diff_hi = row->diff + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
            row->diff_known = true;
            row->predicts_churn = row->diff_hi < 0;
        }
    }
    return LY_OK;
}
