/*
 * survey.h - the questionnaires and touchpoints of a program file (its "questionnaires" and
 * "touchpoints" sections): which questions are asked where, which customer attribute an
 * answer sets, what completing a questionnaire pays, and the touchpoints of the customer
 * journey with their stage and channel. Loaded by program.c into memory the program owns
 * (ly_program.survey); docs/touchpoints.md describes the syntax.
 */
#ifndef LY_PROGRAM_SURVEY_H
#define LY_PROGRAM_SURVEY_H

#include "core/core.h"

#include <jansson.h>

typedef enum ly_q_kind {
    LY_Q_SINGLE = 0, /* one of options (text) */
    LY_Q_MULTIPLE,   /* a non-empty array of distinct options */
    LY_Q_SCALE,      /* an integer in min..max */
    LY_Q_TEXT,       /* free text of at most max_length bytes */
    LY_Q_NPS,        /* an integer 0..10 (net promoter score) */
    LY_Q_CSI,        /* an integer in min..max (customer satisfaction; default 1..5) */
    LY_Q_KIND_COUNT
} ly_q_kind;

/* "single", "multiple", "scale", "text", "nps", "csi". */
const char *ly_q_kind_name(ly_q_kind k);

typedef struct ly_question {
    const char *id;
    ly_q_kind kind;
    const char *text;             /* may be NULL */
    const char *const *options;   /* single and multiple */
    size_t n_options;
    int64_t min, max;             /* scale, nps (0..10), csi */
    int64_t max_length;           /* text: bytes, default 1000 */
    bool required;
    const char *attribute;        /* the customer attribute the answer sets, or NULL */
} ly_question;

typedef struct ly_questionnaire {
    const char *id;
    const char *name;             /* may be NULL */
    const char *touchpoint;       /* the touchpoint it is asked at, or NULL */
    const ly_question *questions;
    size_t n_questions;
    ly_points reward_points;      /* paid once per customer on completion; 0 = none */
} ly_questionnaire;

typedef enum ly_tp_stage {
    LY_TP_FIRST_REALISATION = 0,
    LY_TP_EVALUATION,
    LY_TP_DEAL,
    LY_TP_EXPERIENCE,
    LY_TP_TRIGGER_COMMUNICATION,
    LY_TP_LOYALTY,
    LY_TP_STAGE_COUNT
} ly_tp_stage;

/* "first_realisation", "evaluation", "deal", "experience", "trigger_communication",
 * "loyalty". */
const char *ly_tp_stage_name(ly_tp_stage s);

typedef struct ly_touchpoint {
    const char *id;
    ly_tp_stage stage;
    const char *channel;          /* free text: "store", "web", "sms" ... */
    const char *name;             /* may be NULL */
} ly_touchpoint;

typedef struct ly_survey_conf {
    const ly_questionnaire *questionnaires;
    size_t n_questionnaires;
    const ly_touchpoint *touchpoints;
    size_t n_touchpoints;
} ly_survey_conf;

/* Reads root's "questionnaires" and "touchpoints" into p->survey (in p->mem); neither
 * section leaves it NULL. Errors (LY_EINVAL) name the path: "questionnaires[0].questions[2].kind".
 * A questionnaire's touchpoint must be declared under "touchpoints". */
ly_err ly__program_survey_parse(json_t *root, ly_program *p, ly_error *err);

/* Lookups; NULL when conf is NULL or nothing has the id. */
const ly_questionnaire *ly_survey_questionnaire(const ly_survey_conf *conf, const char *id);
const ly_touchpoint *ly_survey_touchpoint(const ly_survey_conf *conf, const char *id);
const ly_question *ly_survey_question(const ly_questionnaire *q, const char *id);

#endif /* LY_PROGRAM_SURVEY_H */
