/*
 * pricing.c - a receipt's own consistency, and its loyalty outcome under a program: the
 * rules' discounts and bonus points (rules.c), how many points it may take, what they pay
 * for on each line, and what it earns. Line figures are always split from the receipt's
 * figures, so they add up exactly.
 */
#include "core/rules_internal.h"

#include <stdio.h>
#include <string.h>

#define LY_LINES_MAX 1000

static const char *const salesChannelNames[LY_SALES_COUNT] = {"store", "online", "app"};

const char *ly_sales_channel_name(ly_sales_channel c)
{
    return (unsigned)c < LY_SALES_COUNT ? salesChannelNames[c] : "unknown";
}

bool ly_sales_channel_parse(const char *s, ly_sales_channel *out)
{
    for (int i = 0; s && i < LY_SALES_COUNT; i++) {
        if (strcmp(s, salesChannelNames[i]) == 0) {
            *out = (ly_sales_channel)i;
            return true;
        }
    }
    return false;
}

static ly_err lineError(ly_error *err, const char *code, size_t i, const char *name,
                        const char *msg)
{
    char field[64];
    snprintf(field, sizeof field, "lines[%zu].%s", i, name);
    return ly_error_set(err, LY_EINVAL, code, field, "%s", msg);
}

ly_err ly_receipt_validate(const ly_receipt *r, ly_error *err)
{
    if (!r->receipt_id || !r->receipt_id[0])
        return ly_error_set(err, LY_EINVAL, "missing_field", "receipt_id", "is required");
    if (!r->store || !r->store[0])
        return ly_error_set(err, LY_EINVAL, "missing_field", "store", "is required");
    if ((unsigned)r->channel >= LY_SALES_COUNT)
        return ly_error_set(err, LY_EINVAL, "invalid_field", "channel",
                            "must be \"store\", \"online\" or \"app\"");
    if (r->n_lines == 0 || !r->lines)
        return ly_error_set(err, LY_EINVAL, "missing_field", "lines", "needs at least one line");
    if (r->n_lines > LY_LINES_MAX)
        return ly_error_set(err, LY_ETOOLARGE, "too_many_lines", "lines",
                            "at most %d lines per receipt", LY_LINES_MAX);
    ly_money sum = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        const ly_line *l = &r->lines[i];
        if (!l->sku || !l->sku[0]) return lineError(err, "missing_field", i, "sku", "is required");
        if (l->qty <= 0 || l->qty > LY_QTY_MAX)
            return lineError(err, "invalid_field", i, "qty",
                             "must be more than 0 and at most 1000000 (in thousandths)");
        if (l->price < 0 || l->price > LY_AMOUNT_MAX)
            return lineError(err, "invalid_field", i, "price", "must be between 0 and 10^15");
        if (l->amount < 0 || l->amount > LY_AMOUNT_MAX)
            return lineError(err, "invalid_field", i, "amount", "must be between 0 and 10^15");
        /* A till may discount a line on its own, never charge more than qty x price; when
         * that product is beyond int64 no amount in range can exceed it. */
        int64_t most;
        if (ly_muldiv(l->qty, l->price, 1000, LY_ROUND_UP, &most) && l->amount > most) {
            char field[64];
            snprintf(field, sizeof field, "lines[%zu].amount", i);
            return ly_error_set(err, LY_EINVAL, "amount_exceeds_price", field,
                                "%lld is more than qty x price = %lld", (long long)l->amount,
                                (long long)most);
        }
        sum += l->amount; /* <= 1000 * 10^15: no overflow */
    }
    if (r->total < 0 || r->total > LY_AMOUNT_MAX)
        return ly_error_set(err, LY_EINVAL, "invalid_field", "total", "must be between 0 and 10^15");
    if (r->total != sum)
        return ly_error_set(err, LY_EINVAL, "total_mismatch", "total",
                            "%lld is not the sum of the line amounts, %lld", (long long)r->total,
                            (long long)sum);
    return LY_OK;
}

/* The most points the receipt can take: the program's share of the payable amount (what is
 * left of the lines points may pay for, after rule discounts) in whole points, no more than
 * those lines can take whole (each line's discount is whole points and at most what is left
 * of it), no more than the customer has; nothing if that is under the minimum or the
 * balance is under min_balance. floor(floor(x * bp / 10000) / value) is
 * floor(x * bp / (10000 * value)). */
static ly_points maxRedeem(const ly_program *p, const ly_receipt *r, const ly__price_state *st,
                           ly_points available)
{
    if (available <= 0 || available < p->min_balance) return 0;
    ly_money payable = 0;
    ly_points lines = 0;
    for (size_t i = 0; i < r->n_lines; i++) {
        if (ly_selector_names(&p->no_redeem, &r->lines[i])) continue;
        payable += st->left[i];
        lines += st->left[i] / p->point_value;
    }
    int64_t share;
    if (!ly_muldiv(payable, p->max_redeem_bp, 10000, LY_ROUND_DOWN, &share)) return 0;
    ly_points most = share / p->point_value;
    if (lines < most) most = lines;
    if (available < most) most = available;
    return most < p->min_redeem ? 0 : most;
}

static ly_err priceWith(const ly_program *p, const ly_receipt *r, const ly_price_input *in,
                        ly__price_state *st, ly_pricing *out, ly_error *err)
{
    size_t n = r->n_lines;
    out->total = r->total;
    out->n_rules = 0;

    /* 1. Rules. */
    ly_err rc = ly__rules_apply(p, r, in, st, out, err);
    if (rc != LY_OK) return rc;
    out->rule_discount = 0;
    out->bonus = 0;
    for (size_t i = 0; i < n; i++) {
        out->rule_discount += st->rdisc[i];
        out->bonus += st->bonus[i];
    }

    /* 2. Points spent: by what is left of the payable lines, no line paid more than that in
     * whole points. */
    ly_points redeem = in->redeem;
    out->max_redeem = maxRedeem(p, r, st, in->available);
    if (redeem > out->max_redeem)
        return ly_error_set(err, LY_EUNPROCESSABLE, "redeem_exceeds_max", "redeem_points",
                            "at most %lld points can be spent on this receipt",
                            (long long)out->max_redeem);
    if (redeem > 0 && redeem < p->min_redeem)
        return ly_error_set(err, LY_EUNPROCESSABLE, "redeem_below_min", "redeem_points",
                            "at least %lld points must be spent at once",
                            (long long)p->min_redeem);
    for (size_t i = 0; i < n; i++) {
        bool payable = !ly_selector_names(&p->no_redeem, &r->lines[i]);
        st->w[i] = payable ? st->left[i] : 0;
        st->caps[i] = payable ? st->left[i] / p->point_value : 0;
    }
    if (ly_allocate(redeem, st->w, st->caps, n, st->parts) != LY_OK)
        return ly_error_set(err, LY_EINTERNAL, "allocation_failed", "redeem_points",
                            "points could not be spread over the lines");
    out->redeem = redeem;
    out->discount = out->rule_discount + redeem * p->point_value; /* <= total */
    out->paid = r->total - out->discount;
    for (size_t i = 0; i < n; i++) {
        ly_line_price *lp = &out->lines[i];
        lp->points_redeemed = st->parts[i];
        lp->discount = st->rdisc[i] + st->parts[i] * p->point_value;
        if (out->line_rules) out->line_rules[i] = (ly_line_rules){st->rdisc[i], st->bonus[i]};
    }

    /* 3. Base points: on the receipt's base, then by each line's base. */
    ly_money base = 0;
    for (size_t i = 0; i < n; i++) {
        st->w[i] = 0;
        if (ly_selector_names(&p->no_earn, &r->lines[i])) continue;
        st->w[i] = st->left[i];
        if (p->earn_base == LY_EARN_ON_PAID) st->w[i] -= st->parts[i] * p->point_value;
        base += st->w[i];
    }
    ly_points earn;
    if (!ly_program_points_for(p, base, &earn))
        return ly_error_set(err, LY_EINTERNAL, "overflow", "total", "points out of range");
    if (base == 0) earn = 0;
    if (ly_allocate(earn, st->w, NULL, n, st->parts) != LY_OK)
        return ly_error_set(err, LY_EINTERNAL, "allocation_failed", "total",
                            "points could not be spread over the lines");
    for (size_t i = 0; i < n; i++) out->lines[i].points_earned = st->parts[i] + st->bonus[i];
    out->earn = earn + out->bonus;
    return LY_OK;
}

ly_err ly_receipt_price(const ly_program *p, const ly_receipt *r, const ly_price_input *in,
                        ly_pricing *out, ly_error *err)
{
    static const ly_price_input none;
    if (!in) in = &none;
    ly_err rc = ly_program_validate(p, err);
    if (rc != LY_OK) return rc;
    if ((rc = ly_receipt_validate(r, err)) != LY_OK) return rc;
    if (in->redeem < 0)
        return ly_error_set(err, LY_EINVAL, "invalid_field", "redeem_points", "must be 0 or more");
    ly__price_state st;
    if ((rc = ly__price_state_init(&st, r, err)) != LY_OK) return rc;
    rc = priceWith(p, r, in, &st, out, err);
    ly__price_state_free(&st);
    return rc;
}

ly_err ly_price_receipt(const ly_program *p, const ly_receipt *r, ly_points available,
                        ly_points redeem, ly_pricing *out, ly_error *err)
{
    ly_price_input in = {.available = available, .redeem = redeem};
    return ly_receipt_price(p, r, &in, out, err);
}
