/*
 * random.c - the simulator's random numbers: xoshiro256** seeded by splitmix64, log and exp
 * from basic arithmetic only, and the distributions the models need (normal, gamma, beta,
 * exponential, Poisson). Nothing here calls libm's transcendental functions, whose last bits
 * differ between systems; sqrt, frexp, ldexp and floor are exact by IEEE 754.
 */
#include "sim/sim.h"

#include <math.h>

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ly_sim_rng_seed(ly_sim_rng *g, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed;
    uint64_t mix = splitmix(&x) ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) g->s[i] = splitmix(&mix);
    if (!(g->s[0] | g->s[1] | g->s[2] | g->s[3])) g->s[0] = 1;
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t ly_sim_rng_next(ly_sim_rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ly_sim_uniform(ly_sim_rng *g)
{
    /* 53 random bits, centred in their cell: never 0, never 1. */
    return ((double)(ly_sim_rng_next(g) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

uint64_t ly_sim_below(ly_sim_rng *g, uint64_t n)
{
    unsigned __int128 m = (unsigned __int128)ly_sim_rng_next(g) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = (unsigned __int128)ly_sim_rng_next(g) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* ln 2 split so that k * LN2_HI is exact for |k| < 2^11. */
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10

double ly_sim_log(double x)
{
    if (!(x > 0)) return -HUGE_VAL;
    if (isinf(x)) return x;
    int e;
    double m = frexp(x, &e); /* x = m * 2^e, m in [0.5, 1) */
    if (m < 0.70710678118654752440) {
        m *= 2;
        e--;
    }
    /* log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716: the odd series converges
     * fast (s^2 < 0.0295; 12 terms leave < 1e-19). */
    double s = (m - 1) / (m + 1), s2 = s * s;
    double sum = 1.0 / 23;
    for (int k = 21; k >= 1; k -= 2) sum = 1.0 / k + s2 * sum;
    double ls = 2 * s * sum;
    return (double)e * LN2_HI + ((double)e * LN2_LO + ls);
}

double ly_sim_exp(double x)
{
    if (x != x) return x;
    if (x > 709.78) return HUGE_VAL;
    if (x < -745.2) return 0;
    double k = floor(x * 1.44269504088896340736 + 0.5);
    double r = (x - k * LN2_HI) - k * LN2_LO; /* |r| <= 0.35 */
    /* Taylor series to r^18 / 18!: < 2e-24 of the result. */
    double sum = 1;
    for (int n = 18; n >= 1; n--) sum = 1 + sum * r / n;
    return ldexp(sum, (int)k);
}

double ly_sim_normal(ly_sim_rng *g)
{
    for (;;) {
        double u = 2 * ly_sim_uniform(g) - 1, v = 2 * ly_sim_uniform(g) - 1;
        double s = u * u + v * v;
        if (s >= 1 || s == 0) continue;
        return u * sqrt(-2 * ly_sim_log(s) / s);
    }
}

double ly_sim_gamma(ly_sim_rng *g, double shape, double rate)
{
    if (shape < 1) {
        /* G(k) = G(k + 1) * U^(1/k). */
        double x = ly_sim_gamma(g, shape + 1, 1);
        return x * ly_sim_exp(ly_sim_log(ly_sim_uniform(g)) / shape) / rate;
    }
    double d = shape - 1.0 / 3, c = 1 / sqrt(9 * d);
    for (;;) {
        double x, v;
        do {
            x = ly_sim_normal(g);
            v = 1 + c * x;
        } while (v <= 0);
        v = v * v * v;
        double u = ly_sim_uniform(g);
        if (u < 1 - 0.0331 * x * x * x * x) return d * v / rate;
        if (ly_sim_log(u) < 0.5 * x * x + d * (1 - v + ly_sim_log(v))) return d * v / rate;
    }
}

double ly_sim_beta(ly_sim_rng *g, double a, double b)
{
    for (;;) {
        double x = ly_sim_gamma(g, a, 1), y = ly_sim_gamma(g, b, 1);
        if (x + y > 0) return x / (x + y);
    }
}

double ly_sim_exponential(ly_sim_rng *g, double rate)
{
    return -ly_sim_log(ly_sim_uniform(g)) / rate;
}

int64_t ly_sim_poisson(ly_sim_rng *g, double m)
{
    if (m <= 0) return 0;
    double limit = ly_sim_exp(-m), prod = ly_sim_uniform(g);
    int64_t k = 0;
    while (prod > limit) {
        prod *= ly_sim_uniform(g);
        k++;
    }
    return k;
}

void ly_sim_fixed(double x, int decimals, char *buf, size_t size)
{
    double scale = 1;
    for (int i = 0; i < decimals; i++) scale *= 10;
    double y = x * scale;
    bool neg = y < 0;
    if (neg) y = -y;
    if (!(y < 9e18)) y = 9e18; /* clamps huge values and NaN */
    int64_t v = (int64_t)(y + 0.5);
    ly_decimal_format(neg ? -v : v, decimals, buf, size);
}
