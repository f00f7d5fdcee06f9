/*
 * survey.c - reads the program file's "questionnaires" and "touchpoints" sections
 * (program/survey.h; docs/touchpoints.md).
 */
#include "program/survey.h"

#include "program/program_internal.h"

#include <stdio.h>
#include <string.h>

#define TRY(x) do { ly_err try_rc = (x); if (try_rc != LY_OK) return try_rc; } while (0)

static const char *const kindNames[LY_Q_KIND_COUNT] = {"single", "multiple", "scale",
                                                       "text",   "nps",      "csi"};
static const char *const stageNames[LY_TP_STAGE_COUNT] = {
    "first_realisation", "evaluation", "deal", "experience", "trigger_communication", "loyalty"};

const char *ly_q_kind_name(ly_q_kind k)
{
    return (unsigned)k < LY_Q_KIND_COUNT ? kindNames[k] : "?";
}

const char *ly_tp_stage_name(ly_tp_stage s)
{
    return (unsigned)s < LY_TP_STAGE_COUNT ? stageNames[s] : "?";
}

#define ID_MAX 64

static ly_err oom(ly_error *err)
{
    return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
}

static ly_err onlyKeys(json_t *o, const char *path, const char *const *keys, ly_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0) i++;
        if (!keys[i])
            return ly_error_set(err, LY_EINVAL, "unknown_field", path, "unknown setting %s", k);
    }
    return LY_OK;
}

/* An optional (or required) string of 1..max bytes, copied into a. */
static ly_err getStr(json_t *o, const char *key, const char *path, bool required, size_t max,
                     ly_arena *a, const char **out, ly_error *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v) return required ? ly_error_set(err, LY_EINVAL, "missing_field", path, "is required")
                            : LY_OK;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be text of 1 to %zu bytes", max);
    if (!(*out = ly_arena_strdup(a, json_string_value(v)))) return oom(err);
    return LY_OK;
}

static ly_err getIntIn(json_t *o, const char *key, const char *path, int64_t lo, int64_t hi,
                       int64_t *out, ly_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v) return LY_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be an integer in %lld..%lld", (long long)lo, (long long)hi);
    *out = json_integer_value(v);
    return LY_OK;
}

static ly_err parseTouchpoints(json_t *arr, ly_arena *a, ly_survey_conf *c, ly_error *err)
{
    if (!json_is_array(arr))
        return ly_error_set(err, LY_EINVAL, "invalid_value", "touchpoints", "must be an array");
    size_t n = json_array_size(arr);
    ly_touchpoint *tp = ly_arena_alloc(a, (n ? n : 1) * sizeof *tp);
    if (!tp) return oom(err);
    static const char *const keys[] = {"id", "stage", "channel", "name", NULL};
    char path[96];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        snprintf(path, sizeof path, "touchpoints[%zu]", i);
        if (!json_is_object(o))
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be an object");
        TRY(onlyKeys(o, path, keys, err));
        snprintf(path, sizeof path, "touchpoints[%zu].id", i);
        TRY(getStr(o, "id", path, true, ID_MAX, a, &tp[i].id, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(tp[j].id, tp[i].id) == 0)
                return ly_error_set(err, LY_EINVAL, "duplicate_id", path, "touchpoint %s twice",
                                    tp[i].id);
        const char *stage;
        snprintf(path, sizeof path, "touchpoints[%zu].stage", i);
        TRY(getStr(o, "stage", path, true, ID_MAX, a, &stage, err));
        int s = 0;
        while (s < LY_TP_STAGE_COUNT && strcmp(stageNames[s], stage) != 0) s++;
        if (s == LY_TP_STAGE_COUNT)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "must be first_realisation, evaluation, deal, experience, "
                                "trigger_communication or loyalty");
        tp[i].stage = (ly_tp_stage)s;
        snprintf(path, sizeof path, "touchpoints[%zu].channel", i);
        TRY(getStr(o, "channel", path, true, ID_MAX, a, &tp[i].channel, err));
        snprintf(path, sizeof path, "touchpoints[%zu].name", i);
        TRY(getStr(o, "name", path, false, 128, a, &tp[i].name, err));
    }
    c->touchpoints = tp;
    c->n_touchpoints = n;
    return LY_OK;
}

static ly_err parseQuestion(json_t *o, const char *base, ly_arena *a, ly_question *q,
                            ly_error *err)
{
    static const char *const keys[] = {"id",       "kind",     "text",      "options", "min",
                                       "max",      "required", "attribute", "max_length", NULL};
    char path[160];
    if (!json_is_object(o))
        return ly_error_set(err, LY_EINVAL, "invalid_value", base, "must be an object");
    TRY(onlyKeys(o, base, keys, err));
    snprintf(path, sizeof path, "%s.id", base);
    TRY(getStr(o, "id", path, true, ID_MAX, a, &q->id, err));
    const char *kind;
    snprintf(path, sizeof path, "%s.kind", base);
    TRY(getStr(o, "kind", path, true, ID_MAX, a, &kind, err));
    int k = 0;
    while (k < LY_Q_KIND_COUNT && strcmp(kindNames[k], kind) != 0) k++;
    if (k == LY_Q_KIND_COUNT)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                            "must be single, multiple, scale, text, nps or csi");
    q->kind = (ly_q_kind)k;
    snprintf(path, sizeof path, "%s.text", base);
    TRY(getStr(o, "text", path, false, 1000, a, &q->text, err));
    snprintf(path, sizeof path, "%s.attribute", base);
    TRY(getStr(o, "attribute", path, false, ID_MAX, a, &q->attribute, err));
    json_t *req = json_object_get(o, "required");
    snprintf(path, sizeof path, "%s.required", base);
    if (req && !json_is_boolean(req))
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be true or false");
    q->required = req ? json_is_true(req) : false;

    json_t *opts = json_object_get(o, "options");
    bool choice = q->kind == LY_Q_SINGLE || q->kind == LY_Q_MULTIPLE;
    snprintf(path, sizeof path, "%s.options", base);
    if (choice != (opts != NULL))
        return ly_error_set(err, choice ? LY_EINVAL : LY_EINVAL,
                            choice ? "missing_field" : "unknown_field", path,
                            choice ? "a choice question needs its options"
                                   : "only choice questions have options");
    if (choice) {
        if (!json_is_array(opts) || json_array_size(opts) == 0 || json_array_size(opts) > 100)
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "must be an array of 1 to 100 texts");
        size_t n = json_array_size(opts);
        const char **list = ly_arena_alloc(a, n * sizeof *list);
        if (!list) return oom(err);
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_array_get(opts, i);
            snprintf(path, sizeof path, "%s.options[%zu]", base, i);
            if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 128)
                return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                    "must be text of 1 to 128 bytes");
            for (size_t j = 0; j < i; j++)
                if (strcmp(list[j], json_string_value(v)) == 0)
                    return ly_error_set(err, LY_EINVAL, "duplicate_id", path, "option twice");
            if (!(list[i] = ly_arena_strdup(a, json_string_value(v)))) return oom(err);
        }
        q->options = list;
        q->n_options = n;
    }
    bool ranged = q->kind == LY_Q_SCALE || q->kind == LY_Q_CSI;
    if (!ranged && (json_object_get(o, "min") || json_object_get(o, "max"))) {
        snprintf(path, sizeof path, "%s.%s", base, json_object_get(o, "min") ? "min" : "max");
        return ly_error_set(err, LY_EINVAL, "unknown_field", path,
                            "only scale and csi questions have a range");
    }
    q->min = q->kind == LY_Q_CSI ? 1 : q->kind == LY_Q_SCALE ? 1 : 0;
    q->max = q->kind == LY_Q_CSI ? 5 : 10;
    snprintf(path, sizeof path, "%s.min", base);
    TRY(getIntIn(o, "min", path, -1000, 1000, &q->min, err));
    snprintf(path, sizeof path, "%s.max", base);
    TRY(getIntIn(o, "max", path, -1000, 1000, &q->max, err));
    if (ranged && q->max <= q->min)
        return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be more than min");
    q->max_length = 1000;
    snprintf(path, sizeof path, "%s.max_length", base);
    if (q->kind != LY_Q_TEXT && json_object_get(o, "max_length"))
        return ly_error_set(err, LY_EINVAL, "unknown_field", path,
                            "only text questions have max_length");
    TRY(getIntIn(o, "max_length", path, 1, 10000, &q->max_length, err));
    return LY_OK;
}

static ly_err parseQuestionnaires(json_t *arr, ly_arena *a, ly_survey_conf *c, ly_error *err)
{
    if (!json_is_array(arr))
        return ly_error_set(err, LY_EINVAL, "invalid_value", "questionnaires", "must be an array");
    size_t n = json_array_size(arr);
    ly_questionnaire *qs = ly_arena_alloc(a, (n ? n : 1) * sizeof *qs);
    if (!qs) return oom(err);
    memset(qs, 0, (n ? n : 1) * sizeof *qs);
    static const char *const keys[] = {"id", "name", "touchpoint", "questions", "reward_points",
                                       NULL};
    char path[128];
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        ly_questionnaire *q = &qs[i];
        snprintf(path, sizeof path, "questionnaires[%zu]", i);
        if (!json_is_object(o))
            return ly_error_set(err, LY_EINVAL, "invalid_value", path, "must be an object");
        TRY(onlyKeys(o, path, keys, err));
        snprintf(path, sizeof path, "questionnaires[%zu].id", i);
        TRY(getStr(o, "id", path, true, ID_MAX, a, &q->id, err));
        for (size_t j = 0; j < i; j++)
            if (strcmp(qs[j].id, q->id) == 0)
                return ly_error_set(err, LY_EINVAL, "duplicate_id", path,
                                    "questionnaire %s twice", q->id);
        snprintf(path, sizeof path, "questionnaires[%zu].name", i);
        TRY(getStr(o, "name", path, false, 128, a, &q->name, err));
        snprintf(path, sizeof path, "questionnaires[%zu].touchpoint", i);
        TRY(getStr(o, "touchpoint", path, false, ID_MAX, a, &q->touchpoint, err));
        if (q->touchpoint && !ly_survey_touchpoint(c, q->touchpoint))
            return ly_error_set(err, LY_EINVAL, "invalid_value", path,
                                "names no touchpoint of \"touchpoints\"");
        int64_t pts = 0;
        snprintf(path, sizeof path, "questionnaires[%zu].reward_points", i);
        TRY(getIntIn(o, "reward_points", path, 0, LY_AMOUNT_MAX, &pts, err));
        q->reward_points = pts;
        json_t *qa = json_object_get(o, "questions");
        snprintf(path, sizeof path, "questionnaires[%zu].questions", i);
        if (!json_is_array(qa) || json_array_size(qa) == 0 || json_array_size(qa) > 200)
            return ly_error_set(err, qa ? LY_EINVAL : LY_EINVAL,
                                qa ? "invalid_value" : "missing_field", path,
                                "must be an array of 1 to 200 questions");
        size_t m = json_array_size(qa);
        ly_question *list = ly_arena_alloc(a, m * sizeof *list);
        if (!list) return oom(err);
        memset(list, 0, m * sizeof *list);
        for (size_t j = 0; j < m; j++) {
            snprintf(path, sizeof path, "questionnaires[%zu].questions[%zu]", i, j);
            TRY(parseQuestion(json_array_get(qa, j), path, a, &list[j], err));
            for (size_t k = 0; k < j; k++)
                if (strcmp(list[k].id, list[j].id) == 0)
                    return ly_error_set(err, LY_EINVAL, "duplicate_id", path,
                                        "question %s twice", list[j].id);
        }
        q->questions = list;
        q->n_questions = m;
    }
    c->questionnaires = qs;
    c->n_questionnaires = n;
    return LY_OK;
}

ly_err ly__program_survey_parse(json_t *root, ly_program *p, ly_error *err)
{
    json_t *qv = json_object_get(root, "questionnaires"), *tv = json_object_get(root, "touchpoints");
    p->survey = NULL;
    if (!qv && !tv) return LY_OK;
    ly_arena *a = p->mem;
    ly_survey_conf *c = ly_arena_alloc(a, sizeof *c);
    if (!c) return oom(err);
    memset(c, 0, sizeof *c);
    if (tv) TRY(parseTouchpoints(tv, a, c, err));
    if (qv) TRY(parseQuestionnaires(qv, a, c, err));
    p->survey = c;
    return LY_OK;
}

const ly_questionnaire *ly_survey_questionnaire(const ly_survey_conf *conf, const char *id)
{
    if (!conf || !id) return NULL;
    for (size_t i = 0; i < conf->n_questionnaires; i++)
        if (strcmp(conf->questionnaires[i].id, id) == 0) return &conf->questionnaires[i];
    return NULL;
}

const ly_touchpoint *ly_survey_touchpoint(const ly_survey_conf *conf, const char *id)
{
    if (!conf || !id) return NULL;
    for (size_t i = 0; i < conf->n_touchpoints; i++)
        if (strcmp(conf->touchpoints[i].id, id) == 0) return &conf->touchpoints[i];
    return NULL;
}

const ly_question *ly_survey_question(const ly_questionnaire *q, const char *id)
{
    if (!q || !id) return NULL;
    for (size_t i = 0; i < q->n_questions; i++)
        if (strcmp(q->questions[i].id, id) == 0) return &q->questions[i];
    return NULL;
}
