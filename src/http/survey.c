/*
 * survey.c - POST /v1/customers/{id}/answers: a customer's answers to a questionnaire
 * (docs/api-touchpoints.md). The request is decoded strictly here; the answers themselves
 * are validated against the program by the service (ly_service_answers_submit), which runs
 * the whole change as one write job.
 */
#include "http/http_internal.h"

#include <stdlib.h>
#include <string.h>

#define ANSWER_ID_MAX 128
#define ANSWERS_MAX 65536

/* An optional string field of 1..max bytes; false after replying. */
static bool textField(ly__req *r, json_t *root, const char *key, bool required, size_t max,
                      const char **out)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (!v || (!required && json_is_null(v))) {
        if (!required) return true;
        ly__reply_errorf(r, LY_EINVAL, "missing_field", key, "is required");
        return false;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        ly__reply_errorf(r, LY_EINVAL, json_is_string(v) ? "invalid_value" : "invalid_type", key,
                         "must be text of 1 to %zu bytes", max);
        return false;
    }
    if (!(*out = ly_arena_strdup(&r->arena, json_string_value(v)))) {
        ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return false;
    }
    return true;
}

void ly__handle_answers(ly__req *r)
{
    int64_t id;
    if (!ly__customer_id_or_reply(r, &id)) return;
    json_t *root = ly__body_or_reply(r, false);
    if (!root) return;
    static const char *const keys[] = {"answer_id", "questionnaire", "touchpoint", "receipt_id",
                                       "time", "answers", NULL};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], key) != 0) i++;
        if (!keys[i]) {
            json_decref(root);
            ly__reply_errorf(r, LY_EINVAL, "unknown_field", key, "is not a field of this request");
            return;
        }
    }
    ly_answer_request in = {.customer_id = id};
    const char *when = NULL;
    if (!textField(r, root, "answer_id", true, ANSWER_ID_MAX, &in.answer_id) ||
        !textField(r, root, "questionnaire", true, 64, &in.questionnaire) ||
        !textField(r, root, "touchpoint", false, 64, &in.touchpoint) ||
        !textField(r, root, "receipt_id", false, 128, &in.receipt_id) ||
        !textField(r, root, "time", false, 64, &when)) {
        json_decref(root);
        return;
    }
    if (when && !ly_time_parse(when, &in.time, NULL)) {
        json_decref(root);
        ly__reply_errorf(r, LY_EINVAL, "invalid_value", "time",
                         "must be an RFC 3339 time with an offset");
        return;
    }
    json_t *ans = json_object_get(root, "answers");
    if (!ans || !json_is_object(ans)) {
        json_decref(root);
        ly__reply_errorf(r, LY_EINVAL, ans ? "invalid_type" : "missing_field", "answers",
                         ans ? "must be an object {\"question\": answer}" : "is required");
        return;
    }
    char *text = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!text || strlen(text) > ANSWERS_MAX) {
        free(text);
        ly__reply_errorf(r, text ? LY_EINVAL : LY_ENOMEM, text ? "invalid_value" : "out_of_memory",
                         "answers", "is too large");
        return;
    }
    in.answers = ly_arena_strdup(&r->arena, text);
    free(text);
    if (!in.answers) {
        ly__reply_errorf(r, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
        return;
    }
    ly_answer_result res;
    ly_error err;
    ly_error_clear(&err);
    if (ly_service_answers_submit(r->http->svc, &in, r->now, &r->arena, &res, &err) != LY_OK) {
        ly__reply_service_error(r, &err);
        return;
    }
    ly__reply_text(r, res.status, res.response);
    r->replayed = res.replayed;
}
