/*
 * core.h - Loyal's domain core: money, points, the program, the pricing of a receipt and
 * the arithmetic of the points ledger.
 *
 * The core is pure: no I/O, no SQL, no JSON, no clock, no global state. Everything it needs
 * from the world (the current time, the program's time zone) is passed in. Storage, HTTP,
 * analytics and the CLI depend on the core; the core depends on nothing but libc.
 *
 * Conventions, kept everywhere:
 *  - Money is an integer count of minor units (kopecks, cents): ly_money.
 *  - Points are integers: ly_points. Quantities are thousandths of a unit: ly_qty.
 *  - Times are seconds since the Unix epoch, UTC: ly_time.
 *  - Functions that can fail return an ly_err (LY_OK is 0) and, when given one, fill an
 *    ly_error with a machine code, the JSON path of the offending field and a message.
 *  - No floating point touches money or points. Every rounding names its rule.
 */
#ifndef LY_CORE_H
#define LY_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t ly_money;  /* minor units of the program's currency */
typedef int64_t ly_points; /* whole points */
typedef int64_t ly_qty;    /* thousandths of a unit: 1500 = 1.5 kg or 1.5 pieces */
typedef int64_t ly_time;   /* seconds since 1970-01-01T00:00:00Z */

/* Largest money amount or point count accepted anywhere (10^15): products of two such values
 * with a rate still fit the 128-bit intermediates, and JSON consumers keep them exact. */
#define LY_AMOUNT_MAX INT64_C(1000000000000000)
/* Largest quantity on one line: one million units. */
#define LY_QTY_MAX INT64_C(1000000000)

/* ---------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------- */

/* The class of an error. The HTTP layer maps each class to one status code. */
typedef enum ly_err {
    LY_OK = 0,
    LY_EINVAL,       /* malformed or invalid input (400) */
    LY_EUNAUTH,      /* missing or unknown credentials (401) */
    LY_EFORBIDDEN,   /* credentials lack the role (403) */
    LY_ENOTFOUND,    /* the thing named does not exist (404) */
    LY_ECONFLICT,    /* clashes with existing state: id reused with another body (409) */
    LY_ETOOLARGE,    /* body or collection over its limit (413) */
    LY_EUNPROCESSABLE, /* well-formed but breaks a business rule (422) */
    LY_ENOMEM,       /* out of memory (500) */
    LY_EIO,          /* storage failed; nothing was changed (503) */
    LY_EINTERNAL     /* a bug (500) */
} ly_err;

/* A full error report. code is a stable machine name ("insufficient_points"); field is the
 * JSON path of the offending input ("lines[2].price") or empty; message is for people. */
typedef struct ly_error {
    ly_err kind;
    char code[48];
    char field[128];
    char message[256];
} ly_error;

/* Fills e (if not NULL) and returns kind, so callers can write
 * `return ly_error_set(err, LY_EINVAL, "invalid_quantity", "lines[0].qty", "must be > 0");`
 * field may be NULL. The message is printf-formatted and truncated to fit. */
ly_err ly_error_set(ly_error *e, ly_err kind, const char *code, const char *field,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Clears e to LY_OK with empty strings. */
void ly_error_clear(ly_error *e);

/* The generic code of a class ("invalid_request", "not_found", ...), never NULL. */
const char *ly_err_code(ly_err kind);

/* ---------------------------------------------------------------------------------------
 * Arena: request-scoped memory, freed all at once.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_arena_block ly_arena_block;
typedef struct ly_arena {
    ly_arena_block *head;
    size_t total; /* bytes handed out, for limits and metrics */
} ly_arena;

/* An arena starts zeroed (`ly_arena a = {0};`). Allocations are 16-byte aligned and zeroed.
 * Returns NULL only when the system is out of memory. */
void *ly_arena_alloc(ly_arena *a, size_t n);
/* Copies a NUL-terminated string (NULL gives NULL) / n bytes plus a NUL into the arena. */
char *ly_arena_strdup(ly_arena *a, const char *s);
char *ly_arena_strndup(ly_arena *a, const char *s, size_t n);
/* printf into the arena. */
char *ly_arena_printf(ly_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every block; the arena may be used again afterwards. */
void ly_arena_free(ly_arena *a);

/* ---------------------------------------------------------------------------------------
 * Text: a growing, NUL-terminated string in malloc'd memory (for /metrics pages and the
 * like). Starts zeroed (`ly_text t = {0};`); on out of memory it stops growing and sets
 * failed, so a caller checks once at the end. The caller frees s.
 * ------------------------------------------------------------------------------------- */

typedef struct ly_text {
    char *s;
    size_t len, cap;
    bool failed;
} ly_text;

/* Appends printf-formatted text. */
void ly_text_addf(ly_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------------------------
 * Integer arithmetic with explicit rounding
 * ------------------------------------------------------------------------------------- */

typedef enum ly_rounding {
    LY_ROUND_DOWN = 0,  /* toward zero ("floor" for the non-negative values we round) */
    LY_ROUND_HALF_UP,   /* half away from zero: 2.5 -> 3 */
    LY_ROUND_HALF_EVEN, /* banker's: 2.5 -> 2, 3.5 -> 4 */
    LY_ROUND_UP         /* away from zero ("ceiling") */
} ly_rounding;

/* Parses "down", "half_up", "half_even", "up". Returns false on anything else. */
bool ly_rounding_parse(const char *s, ly_rounding *out);
const char *ly_rounding_name(ly_rounding r);

/* *out = a * b / c rounded by r, computed with a 128-bit intermediate. a, b >= 0, c > 0.
 * Returns false (and leaves *out alone) if an argument is out of range or the result does
 * not fit in int64_t. */
bool ly_muldiv(int64_t a, int64_t b, int64_t c, ly_rounding r, int64_t *out);

/* Splits total (>= 0) over n parts in proportion to weights (>= 0) by the largest-remainder
 * method: every part gets floor(total * w / sum(w)), and the units left go one each to the
 * parts with the largest remainders (ties to the lower index). If caps is not NULL no part
 * exceeds caps[i]; units that would exceed a cap move to the other parts. The parts always
 * add up to total exactly.
 * Returns LY_OK, or LY_EINVAL if total cannot be placed (all weights zero while total > 0,
 * or the caps add up to less than total). */
ly_err ly_allocate(int64_t total, const int64_t *weights, const int64_t *caps, size_t n,
                   int64_t *out);

/* The part of whole that belongs to done units out of all units, rounded down:
 * floor(whole * done / all). Used for returns: the amount returned by one partial return is
 * ly_share(w, done_after, all) - ly_share(w, done_before, all), so partial returns never add
 * up to more than the whole, and the last one gives exactly what is left. 0 <= done <= all. */
int64_t ly_share(int64_t whole, int64_t done, int64_t all);

/* Decimal text <-> integers scaled by 10^scale. "12.5" at scale 2 is 1250. Accepts an
 * optional leading '-', digits, and at most `scale` fractional digits; no exponent, no
 * spaces. Returns false on anything else or on overflow. */
bool ly_decimal_parse(const char *s, int scale, int64_t *out);
/* Writes v / 10^scale as decimal text ("12.50") into buf; returns the length written. */
size_t ly_decimal_format(int64_t v, int scale, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------
 * Time
 * ------------------------------------------------------------------------------------- */

/* Parses an RFC 3339 / ISO 8601 date-time with a UTC offset or Z:
 * "2026-11-24T10:15:00+03:00", "2026-11-24T07:15:00Z", fractional seconds ignored.
 * *utc gets the instant, *offset_min the offset in minutes (may be NULL).
 * A date-time without an offset is rejected: local times are ambiguous. */
bool ly_time_parse(const char *s, ly_time *utc, int *offset_min);
/* Formats an instant as "2026-11-24T10:15:00+03:00" at the given offset (Z when 0).
 * buf needs at least 32 bytes. */
void ly_time_format(ly_time t, int offset_min, char *buf, size_t size);
/* Parses "YYYY-MM-DD" (a valid calendar date) into days since 1970-01-01. */
bool ly_date_parse(const char *s, int64_t *days);
/* Writes days since 1970-01-01 as "YYYY-MM-DD" into buf (16 bytes are enough). */
void ly_date_format(int64_t days, char *buf, size_t size);
/* Civil date <-> days since 1970-01-01 (proleptic Gregorian). */
int64_t ly_days_from_civil(int y, unsigned m, unsigned d);
void ly_civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

/* The program's calendar: what "the end of a local day" means in its time zone. The core
 * never reads a time-zone database itself; the caller passes this in (see os/os.h). */
typedef struct ly_calendar {
    /* The instant at which the local day that is `days` days after the local day containing
     * t ends, i.e. the first second of the following local day. */
    ly_time (*day_end)(const struct ly_calendar *cal, ly_time t, int days);
    /* Offset from UTC, in minutes, in force at t. */
    int (*utc_offset)(const struct ly_calendar *cal, ly_time t);
    void *ctx;
} ly_calendar;

/* A calendar at a fixed UTC offset (no daylight saving): for tests and for programs that
 * name a fixed offset. *cal must stay alive while used; ctx holds the offset. */
void ly_calendar_fixed(ly_calendar *cal, int offset_min);

/* ---------------------------------------------------------------------------------------
 * Identifiers of a customer
 * ------------------------------------------------------------------------------------- */

typedef enum ly_id_kind {
    LY_ID_CARD = 0,
    LY_ID_PHONE,
    LY_ID_EMAIL,
    LY_ID_QR,
    LY_ID_EXTERNAL,
    LY_ID_KIND_COUNT
} ly_id_kind;

/* "card", "phone", "email", "qr", "external". */
const char *ly_id_kind_name(ly_id_kind k);
bool ly_id_kind_parse(const char *s, ly_id_kind *out);

/* Normalises an identifier of kind k into out (size bytes). Returns LY_OK or LY_EINVAL with
 * err->code "invalid_identifier".
 *  - phone: to E.164 "+79161234567". Spaces, dots, dashes and parentheses are dropped.
 *    "+" or "00" starts an international number; otherwise a leading national trunk
 *    prefix (program's phone_trunk_prefix, e.g. "8" or "0") is replaced by the country
 *    code, and a number without either gets the country code prepended. 8..15 digits.
 *  - email: trimmed, ASCII letters folded to lower case; needs one '@' with text on both
 *    sides and no spaces; at most 254 bytes.
 *  - card, external: trimmed; 1..64 printable ASCII characters, no spaces inside.
 *  - qr: 16..64 characters of [A-Za-z0-9_-]. */
ly_err ly_id_normalize(ly_id_kind k, const char *in, const char *country_code,
                       const char *trunk_prefix, char *out, size_t size, ly_error *err);

/* Consent channels. */
typedef enum ly_channel { LY_CH_SMS = 0, LY_CH_EMAIL, LY_CH_PUSH, LY_CH_COUNT } ly_channel;
const char *ly_channel_name(ly_channel c); /* "sms", "email", "push" */
bool ly_channel_parse(const char *s, ly_channel *out);

/* ---------------------------------------------------------------------------------------
 * The program
 * ------------------------------------------------------------------------------------- */

/* What a return does when it takes back points the customer has already spent. */
typedef enum ly_debt_policy {
    LY_DEBT_NEGATIVE = 0, /* the balance goes negative and later earnings repay it */
    LY_DEBT_CLAMP         /* the balance stops at zero; the rest is forgiven */
} ly_debt_policy;

/* What the earn rate is applied to. */
typedef enum ly_earn_base {
    LY_EARN_ON_PAID = 0, /* the money actually paid: line amounts less the points discount */
    LY_EARN_ON_TOTAL     /* the line amounts before the points discount */
} ly_earn_base;

typedef struct ly_line ly_line; /* a receipt's line, below */

/* A set of strings (SKUs, categories, store codes, ...). Borrowed from the program's memory. */
typedef struct ly_strset {
    const char *const *v;
    size_t n;
} ly_strset;

/* True if s holds x (exact, case-sensitive). NULL x is never held. */
bool ly_strset_has(const ly_strset *s, const char *x);

/* Which lines of a receipt a rule's effect applies to. A line is selected when it matches
 * the include sets (any SKU, category or brand listed; when all three are empty every line
 * matches them) and none of the exclude sets. */
typedef struct ly_line_selector {
    ly_strset skus, categories, brands;             /* include */
    ly_strset not_skus, not_categories, not_brands; /* exclude */
} ly_line_selector;

/* True when the selector names nothing at all (every line is selected). */
bool ly_selector_empty(const ly_line_selector *s);
/* True when l is selected (see ly_line_selector). */
bool ly_selector_match(const ly_line_selector *s, const ly_line *l);
/* True when the include sets name l (an empty selector names nothing): how the burning and
 * earning exclusion lists (points.no_redeem, earn.exclude) use a selector. */
bool ly_selector_names(const ly_line_selector *s, const ly_line *l);

/* A test of one fact about the customer: the fact `name` is present and, when values is
 * not empty, equal to one of them. With absent set the test passes only when the fact is
 * missing (e.g. "no coupon"). */
typedef struct ly_fact_test {
    const char *name;
    ly_strset values;
    bool absent;
} ly_fact_test;

/* The conditions of a rule; all optional and ANDed. Zero means "any" throughout. */
typedef struct ly_conditions {
    ly_strset stores;           /* the receipt's store is one of these */
    unsigned channels;          /* bit (1 << ly_sales_channel); 0 = any */
    ly_strset payments;         /* the receipt's payment type is one of these */
    unsigned weekdays;          /* bit 0 Monday .. bit 6 Sunday, local time; 0 = any */
    bool has_hours;
    int minute_from, minute_to; /* local [from, to) in minutes after midnight; from > to
                                 * wraps past midnight */
    bool has_dates;
    int64_t day_from, day_to;   /* local dates, inclusive, as days since 1970-01-01 */
    bool has_lines;
    ly_line_selector lines;     /* the eligible lines; without it every line is eligible */
    ly_money min_amount;        /* 0 = none */
    bool min_on_eligible;       /* min_amount counts the eligible lines, not the receipt */
    int first_purchase;         /* 0 any, 1 only the customer's first receipt, -1 only later ones */
    const ly_fact_test *attributes; /* tests on "attributes.<name>" facts */
    size_t n_attributes;
    const ly_fact_test *facts;      /* tests on facts computed elsewhere (rfm_cell, coupon) */
    size_t n_facts;
} ly_conditions;

typedef enum ly_effect_kind {
    LY_EFFECT_POINTS_PERCENT = 0, /* points worth percent of the eligible amount */
    LY_EFFECT_POINTS_FIXED,       /* a fixed number of points */
    LY_EFFECT_POINTS_MULTIPLIER,  /* the base earn rate times multiplier on the eligible lines
                                   * (the extra part is the bonus) */
    LY_EFFECT_DISCOUNT_PERCENT,   /* money off: percent of the eligible amount */
    LY_EFFECT_DISCOUNT_FIXED,     /* money off: a fixed amount, at most the eligible amount */
    LY_EFFECT_FIXED_PRICE,        /* eligible lines cost at most price per unit */
    LY_EFFECT_GIFT,               /* buy N get M: the cheapest M of every N+M units free */
    LY_EFFECT_BUNDLE              /* every item of a set present: price, discount or points */
} ly_effect_kind;

/* What a complete bundle gives. */
typedef enum ly_bundle_benefit {
    LY_BUNDLE_PRICE = 0, /* each bundle costs `amount` */
    LY_BUNDLE_PERCENT,   /* percent_bp off each bundle */
    LY_BUNDLE_AMOUNT,    /* `amount` off each bundle */
    LY_BUNDLE_POINTS     /* `points` per bundle */
} ly_bundle_benefit;

/* One item of a bundle: lines matching sel, `units` whole units of them per bundle. */
typedef struct ly_bundle_item {
    ly_line_selector sel;
    int64_t units;
} ly_bundle_item;

typedef struct ly_effect {
    ly_effect_kind kind;
    int64_t percent_bp;       /* POINTS_PERCENT, DISCOUNT_PERCENT, bundle PERCENT: 1..10000 */
    int64_t multiplier_c;     /* POINTS_MULTIPLIER, hundredths: 200 = x2; > 100 */
    ly_points points;         /* POINTS_FIXED, bundle POINTS */
    ly_money amount;          /* DISCOUNT_FIXED; FIXED_PRICE (unit price); bundle PRICE/AMOUNT */
    int64_t buy, get;         /* GIFT */
    ly_bundle_benefit benefit;/* BUNDLE */
    const ly_bundle_item *items;
    size_t n_items;
    ly_rounding rounding;     /* of a percent or multiplier result */
} ly_effect;

/* ---- Rewards (coupons, referrals, limits and budgets; engineer R) ----
 * The period of a rule's per-customer limit or an event's cap, in the program's local time:
 * a calendar day, an ISO week (Monday to Sunday), a calendar month or year, or ever. */
typedef enum ly_period {
    LY_PERIOD_DAY = 0,
    LY_PERIOD_WEEK,
    LY_PERIOD_MONTH,
    LY_PERIOD_YEAR,
    LY_PERIOD_EVER
} ly_period;
/* "day", "week", "month", "year", "ever". */
const char *ly_period_name(ly_period p);
bool ly_period_parse(const char *s, ly_period *out);
/* The key naming the period that contains local day `day` (days since 1970-01-01):
 * "D2026-11-24", "W2026-48" (ISO week-year and week), "M2026-11", "Y2026", "E". buf needs
 * 16 bytes. */
void ly_period_key(ly_period p, int64_t day, char *buf, size_t size);
/* ---- end rewards ---- */

/* An earning or discount rule of the program. */
typedef struct ly_rule {
    const char *id;           /* unique in the program; shown in results */
    const char *name;         /* for people; may be NULL */
    int64_t priority;         /* lower first; ties in file order */
    size_t index;             /* position in the program file's rules[] */
    bool exclusive;           /* when it applies no later rule applies */
    ly_conditions when;
    ly_effect effect;
    ly_points cap_points;     /* most points the rule gives per receipt; 0 = no cap */
    ly_money cap_discount;    /* most money off it gives per receipt; 0 = no cap */
    /* Rewards (engineer R): enforced by the service through ly_rule_gate_fn. */
    int64_t limit_times;      /* most receipts per customer per limit_per; 0 = no limit */
    ly_period limit_per;
    ly_points budget_points;  /* campaign budget: points all receipts may get; 0 = none */
    ly_money budget_discount; /* campaign budget: money off all receipts may get; 0 = none */
} ly_rule;

/* A loyalty program as the core sees it. Loaded from the program file by program/program.h.
 * Rates are in basis points (1/100 of a percent): 500 = 5%.
 * The rules and the selectors point into memory the program owns (mem); a program built by
 * hand may point them at static data and leave mem NULL. Copies of the struct share that
 * memory: free it once, with ly_program_free, after the last copy is done with. A zeroed
 * program with the flat fields set behaves as a program without rules. */
typedef struct ly_program {
    char name[128];
    char version[80];        /* names the program file's content; stored with each receipt */
    char currency[4];        /* ISO 4217 code */
    int minor_units;         /* digits after the decimal point: 2 for RUB, 0 for JPY */
    char time_zone[64];      /* IANA name, e.g. "Europe/Moscow" */
    char phone_country[8];   /* calling code without '+', e.g. "7" */
    char phone_trunk[4];     /* national trunk prefix, e.g. "8"; may be empty */
    int64_t earn_rate_bp;    /* points value earned, as a share of the base, 0..10000 */
    ly_earn_base earn_base;
    ly_rounding earn_rounding; /* rounding of a receipt's points */
    ly_money point_value;    /* minor units one point pays for, > 0 */
    int64_t max_redeem_bp;   /* largest share of a receipt payable with points, 0..10000 */
    ly_points min_redeem;    /* smallest redemption accepted, >= 0 */
    int hold_days;           /* return window: points are pending this many days */
    int expiry_days;         /* points expire this many days after activation; 0 = never */
    ly_debt_policy debt_policy;

    ly_line_selector no_earn;   /* lines that earn no points at all (base or bonus) */
    ly_line_selector no_redeem; /* lines points may not pay for */
    ly_points min_balance;      /* smallest available balance that may redeem; 0 = any */
    ly_points bonus_cap;        /* most bonus points from rules per receipt; 0 = no cap */
    const ly_rule *rules;       /* in the order they apply: priority, then file order */
    size_t n_rules;
    bool uses_first_purchase;   /* some rule tests first_purchase */
    bool uses_facts;            /* some rule tests attributes or facts */
    const struct ly_tiers *tiers; /* tiers and the club (program file "tiers", "club"), in mem;
                                   * NULL when the program has neither (see "Tiers" below) */
    const struct ly_rewards *rewards; /* coupons, referrals, bonuses, partners (engineer R,
                                       * program/rewards.h), in mem; NULL = none */
    const struct ly_triggers_conf *triggers; /* trigger communications and channels
                                       * (program/triggers.h), in mem; NULL = none */
    /* Quests (issue 6, engineer Q): quests, badges, levels (core/quests.h), in mem; NULL =
     * none. */
    const struct ly_quests *quests;
    /* Questionnaires and touchpoints (issue 6, engineer S; program/survey.h), in mem; NULL =
     * none. */
    const struct ly_survey_conf *survey;
    /* Offers preferences (issue 6, engineer P; program/offers.h, docs/offers.md "Preferences"):
     * declared answers steering personal offers, in mem; NULL = none. */
    const struct ly_offers_conf *offers;
    void *mem;                  /* owned memory (an ly_arena), or NULL */
} ly_program;

/* Frees the memory the program owns and clears its rules and selectors; the flat settings
 * stay. NULL and a program without owned memory are no-ops. */
void ly_program_free(ly_program *p);

/* Checks that every field is in range. Returns LY_OK or LY_EINVAL naming the field with
 * program-file paths ("earn.rate_percent"). */
ly_err ly_program_validate(const ly_program *p, ly_error *err);

/* Checks one rule's settings; errors name "rules[<index>].<setting>". Called for every rule
 * by ly_program_validate. */
ly_err ly_rule_validate(const ly_rule *r, ly_error *err);

/* Points earned on a base amount: base * earn_rate_bp / (10000 * point_value), rounded by
 * the program's earn rounding. Returns false on overflow. */
bool ly_program_points_for(const ly_program *p, ly_money base, ly_points *out);

/* ---------------------------------------------------------------------------------------
 * Receipts and their pricing
 * ------------------------------------------------------------------------------------- */

typedef enum ly_sales_channel {
    LY_SALES_STORE = 0,
    LY_SALES_ONLINE,
    LY_SALES_APP,
    LY_SALES_COUNT
} ly_sales_channel;
const char *ly_sales_channel_name(ly_sales_channel c); /* "store", "online", "app" */
bool ly_sales_channel_parse(const char *s, ly_sales_channel *out);

/* One line of a receipt. Strings are borrowed (usually from a request arena); name,
 * category and brand may be NULL. */
typedef struct ly_line {
    const char *sku;
    const char *name;
    const char *category;
    const char *brand;
    ly_qty qty;       /* thousandths, > 0 */
    ly_money price;   /* unit price, >= 0 */
    ly_money amount;  /* what the line costs before loyalty, >= 0 */
} ly_line;

/* A receipt as sent by a till. receipt_id is the business's own id, unique. */
typedef struct ly_receipt {
    const char *receipt_id;
    const char *store;
    const char *cashier;   /* may be NULL */
    const char *payment;   /* payment type as the till names it ("card", "cash"); may be NULL */
    ly_sales_channel channel;
    ly_time time;          /* the instant of the sale */
    int utc_offset_min;    /* the till's offset, kept to show local time */
    ly_money total;        /* sum of line amounts */
    const ly_line *lines;
    size_t n_lines;
} ly_receipt;

/* Checks a receipt's own consistency: ids present, quantities > 0 and <= LY_QTY_MAX, prices
 * and amounts in 0..LY_AMOUNT_MAX, each amount at most qty*price/1000 rounded up (a till may
 * have given its own discount, never a surcharge), total equal to the sum of amounts.
 * Errors name fields as "lines[2].amount". */
ly_err ly_receipt_validate(const ly_receipt *r, ly_error *err);

/* The loyalty outcome for one line. */
typedef struct ly_line_price {
    ly_points points_redeemed; /* points spent on this line */
    ly_money discount;         /* all money off this line: rule_discount plus the points'
                                * points_redeemed * point_value */
    ly_points points_earned;   /* points this line earns: the base rate's plus the rules' */
} ly_line_price;

/* What the rules did to one line (a part of its ly_line_price figures). */
typedef struct ly_line_rules {
    ly_money discount;         /* money off from rules, within ly_line_price.discount */
    ly_points points;          /* points from rules, within ly_line_price.points_earned */
} ly_line_rules;

/* What one rule did to a receipt (or why it did nothing). */
typedef struct ly_rule_result {
    const ly_rule *rule;
    bool applied;
    const char *failed;        /* when not applied: the setting that decided it
                                * ("conditions.hours", "exclusive", "effect"), else NULL */
    char reason[160];          /* why, for people */
    ly_money discount;         /* money off it gave */
    ly_points points;          /* points it gave */
    size_t eligible;           /* number of eligible lines */
} ly_rule_result;

/* Facts about the customer, key -> value, for rule conditions: the service puts the
 * customer's attributes in as "attributes.<name>" (nested objects joined with '.') and
 * facts computed elsewhere under their own names (analytics' "rfm_cell", "segment",
 * "status"; later tiers, club, coupons). The core reads them only. */
typedef struct ly_fact {
    const char *key;
    const char *value;
} ly_fact;

/* The value of key in facts[0..n), or NULL. The first one wins when a key repeats. */
const char *ly_fact_get(const ly_fact *facts, size_t n, const char *key);

/* Whether every test of t[0..n) holds on facts[0..n_facts) (ly_fact_test), each test's name
 * looked up as prefix + name ("attributes." for the attributes conditions, "" for facts):
 * the one matcher of rule conditions, trigger audiences and offers preferences. On false,
 * why (may be NULL) gets the first failing test, for people. */
bool ly_fact_tests_hold(const ly_fact_test *t, size_t n, const char *prefix,
                        const ly_fact *facts, size_t n_facts, char *why, size_t why_size);

/* A hook that limits one rule per receipt from outside the core: per-customer-per-period
 * limits and campaign budgets, which need storage. Defaults on entry: blocked false,
 * points_left and discount_left -1 (unlimited). Set blocked (with a static reason) to stop
 * the rule, or a left figure >= 0 to cap what it may give. */
typedef struct ly_rule_allowance {
    bool blocked;
    const char *reason;
    ly_points points_left;
    ly_money discount_left;
} ly_rule_allowance;
typedef void (*ly_rule_gate_fn)(void *ctx, const ly_rule *rule, ly_rule_allowance *out);

/* Everything about the sale beyond the receipt itself. Zeroed = an anonymous customer with
 * no points, no facts, no hook. */
typedef struct ly_price_input {
    ly_points available;       /* spendable points now (<= 0: none or no customer) */
    ly_points redeem;          /* points the customer asks to spend, >= 0 */
    bool identified;           /* a known customer buys */
    int64_t prior_receipts;    /* the customer's receipts before this one (first_purchase) */
    const ly_fact *facts;
    size_t n_facts;
    ly_rule_gate_fn gate;      /* may be NULL */
    void *gate_ctx;
} ly_price_input;

/* The loyalty outcome for a receipt. lines is caller-allocated with n_lines entries;
 * line_rules likewise, or NULL when the caller does not want the rules' part per line;
 * rules is caller-allocated with the program's n_rules entries, or NULL when the caller does
 * not want the per-rule report (the rules apply either way). */
typedef struct ly_pricing {
    ly_line_price *lines;
    ly_line_rules *line_rules;
    ly_rule_result *rules;    /* in the order the rules were considered */
    size_t n_rules;           /* entries filled in rules (0 when rules is NULL) */
    ly_money total;           /* sum of line amounts */
    ly_money rule_discount;   /* money off from rules */
    ly_money discount;        /* all money off: rule_discount + redeem * point_value */
    ly_money paid;            /* total - discount: what the customer pays in money */
    ly_points redeem;         /* points spent */
    ly_points max_redeem;     /* the most points this receipt could take now */
    ly_points earn;           /* points earned: base + bonus */
    ly_points bonus;          /* the part of earn that rules gave */
} ly_pricing;

/* Prices a receipt under a program, in this order (docs/program.md, "Exactly how a receipt
 * is priced"):
 *  1. the rules, by priority then file order: each whose conditions hold gives its effect on
 *     its eligible lines, seeing the line amounts left by the rules before it; money off is
 *     spread over lines (largest remainder, never more than a line's amount), points too;
 *     caps of the rule, of the hook and the program's bonus_cap are applied; an exclusive
 *     rule that applies stops every later one;
 *  2. points spent: max_redeem = min(available, floor(payable * max_redeem_bp / 10000 /
 *     point_value), the sum over payable lines of floor(amount_left / point_value)), 0 when
 *     below min_redeem or available < min_balance, where payable lines are those not in
 *     no_redeem and payable their amounts left after rule discounts; spread over payable
 *     lines by amount left, capped at each line's amount in whole points;
 *  3. base points: on the lines not in no_earn, base = amount left (earn_base total) or amount
 *     left less the points discount (paid), rounded by earn_rounding on the receipt and
 *     spread over lines by their base; bonus points of step 1 are added per line.
 * Errors: LY_EUNPROCESSABLE "redeem_exceeds_max" (field "redeem_points") when redeem >
 * max_redeem, "redeem_below_min" when 0 < redeem < min_redeem; LY_EINVAL for an invalid
 * receipt (see ly_receipt_validate); LY_ENOMEM. On error *out is unspecified. */
ly_err ly_receipt_price(const ly_program *p, const ly_receipt *r, const ly_price_input *in,
                        ly_pricing *out, ly_error *err);

/* ly_receipt_price with only a balance and a redemption: no facts, no hook, not identified
 * (so first_purchase and fact conditions never hold). The per-line and per-rule reports go
 * to out->line_rules and out->rules when the caller set them (NULL: none). */
ly_err ly_price_receipt(const ly_program *p, const ly_receipt *r, ly_points available,
                        ly_points redeem, ly_pricing *out, ly_error *err);

/* ---------------------------------------------------------------------------------------
 * The points ledger: accounts and lots
 *
 * A customer's points live in lots. An earned lot is pending until its active_at (the end of
 * the return window), then active (spendable) until its expires_at. Spending takes from the
 * active lots that expire soonest. The account keeps three sums:
 *   available = sum(remaining of active lots) - debt
 *   pending   = sum(remaining of pending lots)
 *   debt      = points owed after a return took back points already spent; repaid first
 *               from any points that become available. debt > 0 only while no active lot
 *               has points left.
 * Each operation below changes the account and the lots in place, marks changed lots dirty,
 * and reports the change to each of the two balances, which is the ledger entry the caller
 * writes. The caller persists dirty lots. None of these functions allocates.
 * ------------------------------------------------------------------------------------- */

typedef enum ly_lot_state {
    LY_LOT_PENDING = 0,
    LY_LOT_ACTIVE = 1,
    LY_LOT_EXPIRED = 2, /* reached expires_at with points left */
    LY_LOT_SPENT = 3    /* nothing left: spent, taken back, or used to repay debt */
} ly_lot_state;

typedef struct ly_lot {
    int64_t id;          /* storage id; 0 for a lot not yet stored */
    ly_points points;    /* as created */
    ly_points remaining; /* still in the lot */
    ly_time active_at;
    ly_time expires_at;  /* 0 = never */
    ly_lot_state state;
    bool dirty;          /* set when an operation changed the lot */
} ly_lot;

typedef struct ly_account {
    ly_points available;
    ly_points pending;
    ly_points debt;
} ly_account;

/* The change an operation made to the balances: one ledger entry. */
typedef struct ly_delta {
    ly_points available;
    ly_points pending;
} ly_delta;

/* When points earned at `earned_at` become active and when they expire:
 *   hold_days == 0: active at earned_at; otherwise at the end of the local day hold_days
 *   after the purchase day (cal->day_end(earned_at, hold_days)).
 *   expiry_days == 0: never (0); otherwise the end of the local day expiry_days after the
 *   activation day. */
void ly_lot_schedule(const ly_program *p, const ly_calendar *cal, ly_time earned_at,
                     ly_time *active_at, ly_time *expires_at);

/* Opens a new lot of `points` (> 0) with the given schedule, as of `now`: pending if
 * active_at > now, otherwise active (repaying any debt first). Fills *lot (id 0, dirty). */
ly_delta ly_ledger_earn(ly_account *a, ly_lot *lot, ly_points points, ly_time active_at,
                        ly_time expires_at, ly_time now);

/* Makes a pending lot active, repaying debt from it first. No-op on a lot not pending. */
ly_delta ly_ledger_activate(ly_account *a, ly_lot *lot);

/* Expires what is left of an active lot. No-op on a lot not active. */
ly_delta ly_ledger_expire(ly_account *a, ly_lot *lot);

/* Spends `points` (> 0) from the active lots in lots[0..n), soonest expiry first (never-
 * expiring lots last, ties by lower id, then by index). Lots not active are skipped.
 * *latest_expiry (may be NULL) gets the latest expires_at among the lots drawn from
 * (0 if any drawn lot never expires).
 * Returns LY_EUNPROCESSABLE ("insufficient_points") without changing anything if the
 * account's available balance is smaller than points. */
ly_err ly_ledger_spend(ly_account *a, ly_lot *lots, size_t n, ly_points points,
                       ly_time *latest_expiry, ly_delta *delta, ly_error *err);

/* Takes back `points` (> 0) for a return. Draws from lots[own] first (the lot the receipt
 * earned; own may be SIZE_MAX when there is none), pending or active, then from the other
 * active lots soonest expiry first. Whatever is still owed becomes debt (LY_DEBT_NEGATIVE)
 * or is forgiven (LY_DEBT_CLAMP); *forgiven (may be NULL) gets the forgiven points. */
ly_delta ly_ledger_take_back(ly_account *a, ly_lot *lots, size_t n, size_t own,
                             ly_points points, ly_debt_policy policy, ly_points *forgiven);

/* Restores the account invariant after lots or debt were combined (a merge): repays debt
 * from the active lots, soonest expiry first. The available balance does not change. */
void ly_ledger_settle(ly_account *a, ly_lot *lots, size_t n);

/* The total points of the lots in lots[0..n) that are active and expire in (now, until]. */
ly_points ly_ledger_expiring(const ly_lot *lots, size_t n, ly_time now, ly_time until);

/* Why the points of an account changed: the cause recorded with every ledger entry. */
typedef enum ly_entry_kind {
    LY_ENTRY_EARN = 0,  /* a receipt earned points (a new lot) */
    LY_ENTRY_REDEEM,    /* a receipt spent points */
    LY_ENTRY_RETURN,    /* a return took back earned points */
    LY_ENTRY_REFUND,    /* a return gave back spent points (a new lot) */
    LY_ENTRY_ACTIVATE,  /* a lot's return window ended: pending -> available */
    LY_ENTRY_EXPIRE,    /* a lot expired */
    LY_ENTRY_ADJUST,    /* an operator's correction, either sign */
    LY_ENTRY_BONUS,     /* points given outside a purchase (a new lot) */
    LY_ENTRY_MERGE_OUT, /* balances moved away by a merge of profiles */
    LY_ENTRY_MERGE_IN,  /* balances moved in by a merge of profiles */
    LY_ENTRY_KIND_COUNT
} ly_entry_kind;
/* "earn", "redeem", "return", "refund", "activate", "expire", "adjust", "bonus",
 * "merge_out", "merge_in". */
const char *ly_entry_kind_name(ly_entry_kind k);
bool ly_entry_kind_parse(const char *s, ly_entry_kind *out);

/* ---------------------------------------------------------------------------------------
 * Tiers (grades) and the closed club (core/tiers.c; program file "tiers" and "club",
 * docs/program.md). Pure arithmetic over a customer's purchases by local day: the storage
 * gives the purchases, the service writes the decisions.
 *
 * Days are local days of the program's calendar, counted from 1970-01-01 (ly_local_day).
 * A purchase is a receipt of the customer: its day, the money paid for it net of what its
 * returns gave back (spend), and whether it still counts as a receipt (some of it was not
 * returned). Figures are sums over a range of days.
 * ------------------------------------------------------------------------------------- */

typedef enum ly_tier_period {
    LY_TIER_ROLLING = 0, /* the last window_days local days, today included */
    LY_TIER_MONTH,       /* the calendar month, quarter or year of the day */
    LY_TIER_QUARTER,
    LY_TIER_YEAR
} ly_tier_period;

/* How a tier changes the earn rate of earn.rate_percent. */
typedef enum ly_tier_earn {
    LY_TIER_EARN_BASE = 0, /* the program's rate */
    LY_TIER_EARN_REPLACE,  /* earn_bp instead of it */
    LY_TIER_EARN_ADD       /* the program's rate plus earn_bp */
} ly_tier_earn;

/* A named benefit of a tier or of the club. A monetary one names the rule that gives it; a
 * non-monetary one (early access, a personal stylist) is text shown on the profile. */
typedef struct ly_benefit {
    const char *id;
    const char *name;
    const char *text; /* may be NULL */
    const char *rule; /* id of a rule of the program, or NULL */
} ly_benefit;

typedef struct ly_tier {
    const char *id;        /* the fact "tier" has this value */
    const char *name;
    ly_money min_spend;    /* qualifying spend in the period; 0 = no spend requirement */
    int64_t min_receipts;  /* receipts in the period; 0 = no count requirement */
    bool need_all;         /* with both requirements: both (true) or either (false) */
    ly_tier_earn earn;
    int64_t earn_bp;       /* basis points, for REPLACE and ADD */
    const ly_benefit *benefits;
    size_t n_benefits;
} ly_tier;

/* The closed club: by rule (a least tier and figures over the last window_days), by
 * invitation, or both. */
typedef struct ly_club {
    const char *name;
    bool by_rule;          /* members are found by the rule below */
    size_t min_tier;       /* index into tiers; 0 = any tier */
    ly_money min_spend;    /* over the last window_days; 0 = none */
    int64_t min_receipts;  /* 0 = none */
    int window_days;       /* 1..3660 */
    bool invitations;      /* an admin may invite members */
    const ly_benefit *benefits;
    size_t n_benefits;
} ly_club;

typedef struct ly_tiers {
    ly_tier_period period;
    int window_days;       /* ROLLING: 1..3660 */
    int grace_days;        /* a tier no longer earned is kept this many days more; 0..3660 */
    const ly_tier *tiers;  /* ordered, lowest first; tiers[0] has no requirement */
    size_t n_tiers;        /* 0 when the program has a club but no tiers */
    bool has_club;
    ly_club club;
} ly_tiers;

typedef struct ly_tier_purchase {
    int64_t day;        /* local day of the receipt */
    ly_money spend;     /* paid, net of returns, >= 0 */
    bool counts;        /* not wholly returned */
} ly_tier_purchase;

typedef struct ly_tier_figures {
    ly_money spend;
    int64_t receipts;
} ly_tier_figures;

#define LY_DAY_FOREVER INT64_MAX /* a tier that is never lost (the lowest) */
#define LY_DAY_NEVER INT64_MIN   /* a tier that is not held */

/* The local day containing t, and the instant the local day `day` starts (now: any instant,
 * used as the calendar's anchor). */
int64_t ly_local_day(const ly_calendar *cal, ly_time t);
ly_time ly_local_day_start(const ly_calendar *cal, ly_time now, int64_t day);

/* The qualification period containing day: [*first, *last] (rolling: the window_days days
 * ending on day; calendar: the month, quarter or year). */
void ly_tiers_period(const ly_tiers *t, int64_t day, int64_t *first, int64_t *last);

/* The first day whose purchases ly_tiers_held_until and ly_tiers_decide may look at when
 * evaluating on today (the period before, and the grace period). */
int64_t ly_tiers_lookback(const ly_tiers *t, int64_t today);

/* Sum of the purchases p[0..n) (any order) with day in [first, last]. */
ly_tier_figures ly_tiers_figures(const ly_tier_purchase *p, size_t n, int64_t first, int64_t last);

/* Whether figures meet the tier's requirements (the lowest tier always qualifies). */
bool ly_tier_qualifies(const ly_tier *tier, ly_tier_figures f);

/* The highest tier the figures qualify for (0 when none but the lowest). */
size_t ly_tiers_best(const ly_tiers *t, ly_tier_figures f);

/* The last local day tier idx is held as of today if nothing more is bought or returned
 * (docs/program.md, "When tiers change"): rolling, the day before the first day on which
 * the window no longer qualifies, plus grace_days; calendar, the end of the period after the
 * last qualifying one, plus grace_days. LY_DAY_FOREVER for tier 0. When the tier does not
 * qualify on any day the rule looks at: with has_since, the customer reached it on
 * since_day and keeps it through since_day's period (calendar) or since_day - 1 (rolling),
 * plus grace; without, LY_DAY_NEVER. p must be sorted by day. */
int64_t ly_tiers_held_until(const ly_tiers *t, size_t idx, const ly_tier_purchase *p, size_t n,
                            int64_t today, bool has_since, int64_t since_day);

/* The tier a customer in tier cur (reached on since_day) is in on today: the best tier
 * today's period qualifies for when that is higher (an upgrade); otherwise, when
 * allow_downgrade and cur is no longer held (held_until < today), the highest lower tier
 * still held, else tier 0; otherwise cur. */
size_t ly_tiers_decide(const ly_tiers *t, size_t cur, int64_t since_day,
                       const ly_tier_purchase *p, size_t n, int64_t today, bool allow_downgrade);

/* What is missing to reach the next tier. */
typedef struct ly_tier_progress {
    bool has_next;         /* false in the top tier */
    size_t next;
    ly_tier_figures figures; /* of the current period */
    int64_t first_day, last_day; /* the current period */
    ly_money spend_more;   /* 0 when the next tier sets no spend, or it is met */
    int64_t receipts_more; /* likewise for receipts */
    bool need_all;         /* both are needed (true) or either (false) */
    int64_t by_day;        /* the last day on which they still count as computed:
                            * calendar, the period's last day; rolling, the day before the
                            * earliest purchase in the window leaves it; LY_DAY_FOREVER
                            * when the window is empty */
} ly_tier_progress;

void ly_tiers_progress(const ly_tiers *t, size_t cur, const ly_tier_purchase *p, size_t n,
                       int64_t today, ly_tier_progress *out);

/* The earn rate (basis points) of a customer in tier idx, given the program's rate. */
int64_t ly_tier_earn_rate(const ly_tiers *t, size_t idx, int64_t base_bp);

/* The index of the tier named id, or -1. */
long ly_tiers_find(const ly_tiers *t, const char *id);

/* Whether a customer in tier idx with purchases p (sorted by day) meets the club's rule on
 * today. False when the club has no rule. */
bool ly_club_qualifies(const ly_tiers *t, size_t idx, const ly_tier_purchase *p, size_t n,
                       int64_t today);

#endif /* LY_CORE_H */
