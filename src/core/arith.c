/*
 * arith.c - integer arithmetic with named rounding: a*b/c, proportional splits, shares of
 * partial returns, and exact decimal text. Nothing here uses floating point.
 */
#include "core/core.h"

#include <string.h>

typedef unsigned __int128 u128;

static const char *const roundingNames[] = {"down", "half_up", "half_even", "up"};

bool ly_rounding_parse(const char *s, ly_rounding *out)
{
    if (!s) return false;
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, roundingNames[i]) == 0) {
            *out = (ly_rounding)i;
            return true;
        }
    }
    return false;
}

const char *ly_rounding_name(ly_rounding r)
{
    return (unsigned)r < 4 ? roundingNames[r] : "unknown";
}

/* q = p / c with remainder rem; bumps q by one when rule r says the remainder rounds up.
 * 2*rem cannot overflow: rem < c < 2^63. */
bool ly_muldiv(int64_t a, int64_t b, int64_t c, ly_rounding r, int64_t *out)
{
    if (a < 0 || b < 0 || c <= 0) return false;
    u128 p = (u128)a * (u128)b;
    u128 q = p / (u128)c;
    u128 rem = p % (u128)c;
    switch (r) {
    case LY_ROUND_DOWN:
        break;
    case LY_ROUND_UP:
        if (rem) q++;
        break;
    case LY_ROUND_HALF_UP:
        if (2 * rem >= (u128)c) q++;
        break;
    case LY_ROUND_HALF_EVEN:
        if (2 * rem > (u128)c || (2 * rem == (u128)c && (q & 1))) q++;
        break;
    default:
        return false;
    }
    if (q > (u128)INT64_MAX) return false;
    *out = (int64_t)q;
    return true;
}

/* ---------------------------------------------------------------------------------------
 * Largest-remainder allocation
 *
 * Parts already pinned at their cap are marked in out[] as -(cap + 1) while the allocation
 * runs, so the function needs no scratch memory; the marks are turned back into caps at
 * the end.
 * ------------------------------------------------------------------------------------- */

static bool isPinned(int64_t v) { return v < 0; }

/* The weight part i has in a round: in the proportional phase its own weight unless it is
 * pinned; in the fill phase (all weighted parts pinned) the room left under the cap of
 * the zero-weight parts. */
static int64_t roundWeight(bool fill, const int64_t *weights, const int64_t *caps,
                           const int64_t *out, size_t i)
{
    if (!fill) return isPinned(out[i]) ? 0 : weights[i];
    return weights[i] == 0 ? caps[i] : 0;
}

/* Splits total over the parts with a positive round weight (sum of them is sum > 0):
 * floors first, then one unit each to the k largest remainders, ties to the lower index.
 * The k-th largest remainder is found by binary search on its value, which keeps this
 * O(n log sum) without sorting or memory. Parts with weight 0 in the round are left as
 * they are. */
static void spreadRound(int64_t total, bool fill, const int64_t *weights, const int64_t *caps,
                        size_t n, u128 sum, int64_t *out)
{
    u128 given = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t w = roundWeight(fill, weights, caps, out, i);
        if (w <= 0) continue;
        out[i] = (int64_t)((u128)total * (u128)w / sum);
        given += (u128)out[i];
    }
    u128 k = (u128)total - given; /* < number of parts with a non-zero remainder */
    if (k == 0) return;
    /* t = the largest value with at least k remainders >= t. */
    u128 lo = 0, hi = sum - 1;
    while (lo < hi) {
        u128 mid = lo + (hi - lo + 1) / 2;
        u128 cnt = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t w = roundWeight(fill, weights, caps, out, i);
            if (w > 0 && (u128)total * (u128)w % sum >= mid) cnt++;
        }
        if (cnt >= k) lo = mid;
        else hi = mid - 1;
    }
    u128 t = lo;
    for (size_t i = 0; i < n && k; i++) {
        int64_t w = roundWeight(fill, weights, caps, out, i);
        if (w > 0 && (u128)total * (u128)w % sum > t) {
            out[i]++;
            k--;
        }
    }
    for (size_t i = 0; i < n && k; i++) {
        int64_t w = roundWeight(fill, weights, caps, out, i);
        if (w > 0 && (u128)total * (u128)w % sum == t) {
            out[i]++;
            k--;
        }
    }
}

/* Proportional rounds: parts whose share would pass their cap are pinned at the cap and
 * the rest is split again over the others, until no share passes a cap. Each round pins
 * at least one part, so there are at most n rounds. If every weighted part ends pinned and
 * units are left, they fill the zero-weight parts' caps, by the same method. */
ly_err ly_allocate(int64_t total, const int64_t *weights, const int64_t *caps, size_t n,
                   int64_t *out)
{
    u128 wsum = 0, csum = 0;
    for (size_t i = 0; i < n; i++) {
        out[i] = 0;
        if (weights[i] < 0 || (caps && caps[i] < 0)) return LY_EINVAL;
        wsum += (u128)weights[i];
        if (caps) csum += (u128)caps[i];
    }
    if (total < 0) return LY_EINVAL;
    if (total == 0) return LY_OK;
    if (wsum == 0 || (caps && csum < (u128)total)) return LY_EINVAL;

    int64_t left = total;
    for (;;) {
        u128 sum = 0;
        for (size_t i = 0; i < n; i++) sum += (u128)roundWeight(false, weights, caps, out, i);
        if (sum == 0) break;
        spreadRound(left, false, weights, caps, n, sum, out);
        if (!caps) return LY_OK;
        bool pinned = false;
        for (size_t i = 0; i < n; i++) {
            if (!isPinned(out[i]) && out[i] > caps[i]) {
                out[i] = -caps[i] - 1;
                left -= caps[i];
                pinned = true;
            }
        }
        if (!pinned) break;
        for (size_t i = 0; i < n; i++)
            if (!isPinned(out[i])) out[i] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (isPinned(out[i])) out[i] = -(out[i] + 1);
    }
    int64_t placed = 0;
    for (size_t i = 0; i < n; i++) placed += out[i];
    if (placed < total) {
        /* Only reachable with caps: the weighted parts are full. */
        u128 room = 0;
        for (size_t i = 0; i < n; i++) room += (u128)roundWeight(true, weights, caps, out, i);
        if (room < (u128)(total - placed)) return LY_EINVAL;
        spreadRound(total - placed, true, weights, caps, n, room, out);
    }
    return LY_OK;
}

/* floor(whole * done / all) with a 128-bit product; a negative whole rounds toward minus
 * infinity too, so shares of a negative whole still telescope. */
int64_t ly_share(int64_t whole, int64_t done, int64_t all)
{
    if (all <= 0 || done <= 0 || whole == 0) return 0;
    if (done > all) done = all;
    u128 mag = whole < 0 ? (u128)(-(whole + 1)) + 1 : (u128)whole;
    u128 p = mag * (u128)done;
    u128 q = p / (u128)all;
    if (whole >= 0) return (int64_t)q;
    if (p % (u128)all) q++;
    return -(int64_t)(q - 1) - 1;
}

/* ---------------------------------------------------------------------------------------
 * Decimal text
 * ------------------------------------------------------------------------------------- */

bool ly_decimal_parse(const char *s, int scale, int64_t *out)
{
    if (!s || scale < 0 || scale > 18) return false;
    bool neg = false;
    if (*s == '-') {
        neg = true;
        s++;
    }
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    int ints = 0, fracs = 0;
    for (; *s >= '0' && *s <= '9'; s++, ints++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10) return false;
        v = v * 10 + d;
    }
    if (ints == 0) return false;
    if (*s == '.') {
        s++;
        for (; *s >= '0' && *s <= '9'; s++, fracs++) {
            if (fracs == scale) return false;
            unsigned d = (unsigned)(*s - '0');
            if (v > (limit - d) / 10) return false;
            v = v * 10 + d;
        }
        if (fracs == 0) return false;
    }
    if (*s) return false;
    for (; fracs < scale; fracs++) {
        if (v > limit / 10) return false;
        v *= 10;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

size_t ly_decimal_format(int64_t v, int scale, char *buf, size_t size)
{
    if (!buf || size == 0) return 0;
    if (scale < 0) scale = 0;
    if (scale > 18) scale = 18;
    /* Digits are produced backwards into tmp: at most 19 digits of the magnitude plus zero
     * padding to the scale, the point and the sign. */
    char tmp[48];
    size_t i = sizeof tmp;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int digits = 0;
    do {
        tmp[--i] = (char)('0' + mag % 10);
        mag /= 10;
        digits++;
        if (digits == scale) tmp[--i] = '.';
    } while (mag || digits <= scale);
    if (v < 0) tmp[--i] = '-';
    size_t len = sizeof tmp - i;
    if (len >= size) len = size - 1;
    memcpy(buf, tmp + i, len);
    buf[len] = '\0';
    return len;
}
