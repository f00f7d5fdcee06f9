/*
 * report.h - the face of Loyal's report module: the analysis result (analytics.h) written
 * for machines (JSON, per-customer CSV) and for people (the HTML report).
 */
#ifndef LY_REPORT_H
#define LY_REPORT_H

#include "analytics/analytics.h"
#include "analytics/models.h"
#include "analytics/tiers.h"

#include <jansson.h>
#include <stdio.h>

/* ---------------------------------------------------------------------------------------
 * JSON and CSV of an analysis (json.c). The schema is in docs/analytics.md, "JSON".
 * ------------------------------------------------------------------------------------- */

/* The whole result as one JSON object (new reference, owned by the caller; NULL when out
 * of memory). Money is in minor units (integers; averages as numbers); minor_units says how
 * many digits the currency has, for the "currency_minor_units" field. The keys "clv" and
 * "copurchases" are present with null: whoever computes those sections replaces them
 * (json_object_set_new). Doubles that are not defined (no data) are null. The same result
 * always gives the same bytes. */
json_t *ly_report_json(const ly_an_result *r, int minor_units);

/* Writes doc to f, indented, with a final newline. LY_EIO "write_failed" if writing fails. */
ly_err ly_report_json_write(const json_t *doc, FILE *f, ly_error *err);

/* Writes one CSV row per customer with at least one deal, in the order the source first
 * named them (columns in docs/analytics.md, "Per-customer CSV"); money as decimals with
 * minor_units digits. With a fitted clv (may be NULL), three more columns: p_alive,
 * expected_deals, clv. LY_EIO "write_failed" if writing fails. */
ly_err ly_report_customers_csv(const ly_an_result *r, const ly_an_clv *clv, int minor_units,
                               FILE *f, ly_error *err);

/* The result in the HTML report's contract (docs/report.md): sections input, rfm,
 * boundaries, loyalty, deals, deal_to_deal, cohorts, structure and profit, ready for
 * ly_report_html (html.h) once clv and copurchases are added by whoever computes them.
 * source names what was analysed; currency (may be NULL) the ISO code shown after money.
 * New reference owned by the caller; NULL when out of memory. Two mappings to note: the
 * loyalty steps' "customers" are those whose outcome is known (converted + lost), so
 * p_next is the censoring-aware conversion; the width histogram counts receipt lines by
 * their SKU's price position (under the contract's name "receipts"). */
json_t *ly_report_view(const ly_an_result *r, int minor_units, const char *source,
                       const char *currency);

/* ---------------------------------------------------------------------------------------
 * The sections the models add (models_json.c): each a new reference owned by the caller,
 * NULL when out of memory. Schemas in docs/analytics.md.
 * ------------------------------------------------------------------------------------- */

/* "clv": the fitted BG/NBD, Pareto/NBD and Gamma-Gamma parameters with their
 * log-likelihoods, the CLV terms, the totals and the CLV histogram; fitted false with the
 * reason when the data could not support a fit. */
json_t *ly_report_clv_json(const ly_an_clv *c);
/* "copurchases": the thresholds, counts, the rules (best lift first) and the combos. level
 * is "sku" or "category". */
json_t *ly_report_copurchases_json(const ly_assoc *a, const ly_assoc_result *res,
                                   const ly_assoc_opts *o, const char *level);
/* "suggested_tiers": thresholds, customers, spend and yearly cost per tier. cuts are the
 * quantiles that opened tiers 2..n. */
json_t *ly_report_tiers_json(const ly_an_tiers *t, const double *cuts);

/* The report view's "clv" section (null when no model was fitted) and "copurchases"
 * section (the first top rules and combos of a "copurchases" JSON section). */
json_t *ly_report_clv_view(const ly_an_clv *c);
json_t *ly_report_copurchases_view(const json_t *copurchases, size_t top);

#endif /* LY_REPORT_H */
