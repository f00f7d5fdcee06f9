/*
 * catalog.c - the simulated retailer's assortment: 14 grocery categories, each with six
 * product types and four brands from economy to premium, optionally in a large pack. A
 * SKU's price is its type's base price times its brand tier's factor, with a little noise
 * from the seed, rounded to a shop price (49.90, 1199.90). Sorting a category by price gives
 * its price ladder, so that "width" (the price position within the category) means
 * something: a customer's width preference picks the brand tier.
 */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

#define N_TYPES 6
#define N_TIERS 4

typedef struct catDef {
    const char *code, *name;
    int weight;
    bool weighed;
    const char *types[N_TYPES];
    int64_t cents[N_TYPES]; /* base price in hundredths of the currency (per kg if weighed) */
    const char *brands[N_TIERS];
} catDef;

static const catDef catDefs[] = {
    {"DAI", "Dairy", 140, false,
     {"Milk 1 l", "Kefir 1 l", "Yogurt 125 g", "Butter 180 g", "Sour cream 300 g", "Cottage cheese 200 g"},
     {8990, 9490, 4990, 18990, 10990, 12990},
     {"Basket Basics", "Meadow", "Dairy Hill", "Alpine Gold"}},
    {"BAK", "Bakery", 120, false,
     {"White loaf", "Rye bread", "Baguette", "Butter croissant", "Cinnamon roll", "Muffin"},
     {5990, 6990, 7990, 8990, 9990, 7490},
     {"Basket Basics", "Hearth", "Baker's Row", "Maison Doree"}},
    {"CAF", "Cafe to go", 50, false,
     {"Cappuccino 300 ml", "Latte 400 ml", "Americano 300 ml", "Flat white 250 ml", "Tea to go 400 ml", "Hot chocolate 300 ml"},
     {17900, 19900, 14900, 18900, 9900, 16900},
     {"Basket Cafe", "Roast & Co", "Barista Lab", "Grand Cru"}},
    {"COF", "Coffee and tea", 50, false,
     {"Ground coffee 250 g", "Coffee beans 1 kg", "Instant coffee 100 g", "Black tea 25 bags", "Green tea 20 bags", "Loose-leaf tea 100 g"},
     {34990, 119990, 29990, 12990, 14990, 24990},
     {"Basket Basics", "Morning Cup", "Highland", "Royal Estate"}},
    {"FRU", "Fruit and vegetables", 130, true,
     {"Apples", "Bananas", "Tomatoes", "Cucumbers", "Potatoes", "Oranges"},
     {12990, 11990, 24990, 19990, 4990, 15990},
     {"Local Farm", "Fresh Field", "Greenhouse", "Organic Select"}},
    {"MEA", "Meat and fish", 90, true,
     {"Chicken breast", "Pork neck", "Beef mince", "Salmon fillet", "Cod fillet", "Sausages"},
     {44990, 54990, 64990, 149990, 89990, 49990},
     {"Basket Basics", "Country Butcher", "Prime Cut", "Black Angus"}},
    {"PAS", "Pasta and grains", 70, false,
     {"Spaghetti 500 g", "Penne 500 g", "Rice 900 g", "Buckwheat 900 g", "Oats 500 g", "Couscous 500 g"},
     {8990, 8990, 12990, 10990, 7990, 13990},
     {"Basket Basics", "Golden Field", "Casa Italia", "Artigiano"}},
    {"SAU", "Sauces and oils", 50, false,
     {"Tomato basil sauce 400 g", "Pesto 190 g", "Ketchup 350 g", "Mayonnaise 400 g", "Olive oil 500 ml", "Mustard 200 g"},
     {15990, 29990, 11990, 12990, 69990, 7990},
     {"Basket Basics", "Home Kitchen", "Casa Italia", "Chef's Reserve"}},
    {"SNA", "Snacks and sweets", 90, false,
     {"Potato chips paprika 150 g", "Salted peanuts 150 g", "Milk chocolate 90 g", "Cookies 300 g", "Crackers 200 g", "Cashews 100 g"},
     {14990, 12990, 9990, 13990, 8990, 27990},
     {"Basket Basics", "Crunchy", "Sweet Valley", "Swiss Atelier"}},
    {"BEV", "Beverages", 90, false,
     {"Still water 1.5 l", "Orange juice 1 l", "Cola 1.5 l", "Sparkling water 0.5 l", "Apple juice 1 l", "Iced tea 1 l"},
     {5990, 15990, 13990, 4990, 14990, 11990},
     {"Basket Basics", "Clear Spring", "Sunny Grove", "Alpine Source"}},
    {"BEE", "Beer and wine", 50, false,
     {"Lager 0.5 l", "Dark beer 0.5 l", "Cider 0.5 l", "Red wine 0.75 l", "White wine 0.75 l", "Sparkling wine 0.75 l"},
     {9990, 12990, 14990, 69990, 64990, 89990},
     {"Basket Basics", "Old Brewery", "Hill Vineyard", "Grand Reserve"}},
    {"FRO", "Frozen food", 50, false,
     {"Pelmeni 800 g", "Frozen pizza", "Ice cream 80 g", "Frozen vegetables 400 g", "Fish sticks 300 g", "Frozen berries 300 g"},
     {39990, 34990, 8990, 17990, 29990, 24990},
     {"Basket Basics", "Snow Valley", "Nordic Frost", "Gourmet Ice"}},
    {"HOU", "Household", 40, false,
     {"Dish soap 500 ml", "Laundry detergent 2 kg", "Toilet paper 8 rolls", "Paper towels 2 rolls", "Trash bags 30 pcs", "Sponges 5 pcs"},
     {17990, 79990, 39990, 19990, 14990, 9990},
     {"Basket Basics", "CleanHome", "Fresh Linen", "Eco Pure"}},
    {"PER", "Personal care", 40, false,
     {"Toothpaste 100 ml", "Shampoo 400 ml", "Shower gel 250 ml", "Soap 90 g", "Deodorant 150 ml", "Hand cream 75 ml"},
     {19990, 39990, 29990, 6990, 34990, 22990},
     {"Basket Basics", "Daily Care", "Botanica", "Maison Spa"}},
};
#define N_CATS ((int)(sizeof catDefs / sizeof catDefs[0]))

/* Brand tier factors in thousandths: economy, two middles, premium. */
static const int64_t tierPermille[N_TIERS] = {720, 1000, 1300, 1900};

/* A shop price in hundredths: up to x.x0 below 1000.00 (49.90), to xx9.90 above. */
static int64_t shopPrice(int64_t cents)
{
    if (cents < 100) return (cents + 9) / 10 * 10;
    if (cents < 100000) return (cents + 99) / 100 * 100 - 10;
    return (cents + 999) / 1000 * 1000 - 10;
}

static int64_t scaleMinor(int64_t cents, int minor_units)
{
    int64_t v = cents;
    for (int i = 2; i < minor_units; i++) v *= 10;
    for (int i = minor_units; i < 2; i++) v = (v + 5) / 10;
    return v > 0 ? v : 1;
}

typedef struct priceRank {
    ly_money price;
    int idx;
} priceRank;

static int byPrice(const void *a, const void *b)
{
    const priceRank *x = a, *y = b;
    if (x->price != y->price) return x->price < y->price ? -1 : 1;
    return x->idx - y->idx;
}

ly_err ly_sim_catalog_build(ly_sim_catalog *out, int skus_per_category, int minor_units, uint64_t seed,
                            ly_error *err)
{
    memset(out, 0, sizeof *out);
    if (skus_per_category < 1 || skus_per_category > 2 * N_TYPES * N_TIERS)
        return ly_error_set(err, LY_EINVAL, "invalid_value", "skus-per-category", "must be 1..%d",
                            2 * N_TYPES * N_TIERS);
    ly_sim_category *cats = calloc(N_CATS, sizeof *cats);
    ly_sim_sku *skus = calloc((size_t)N_CATS * (size_t)skus_per_category, sizeof *skus);
    const char **brands = calloc(N_CATS * N_TIERS, sizeof *brands);
    priceRank *ranks = calloc((size_t)skus_per_category, sizeof *ranks);
    if (!cats || !skus || !brands || !ranks) {
        free(cats);
        free(skus);
        free(brands);
        free(ranks);
        return ly_error_set(err, LY_ENOMEM, "out_of_memory", NULL, "out of memory");
    }
    ly_sim_rng g;
    ly_sim_rng_seed(&g, seed, UINT64_C(0xca7a106));
    int n = 0;
    for (int c = 0; c < N_CATS; c++) {
        const catDef *d = &catDefs[c];
        cats[c] = (ly_sim_category){.code = d->code, .name = d->name, .weight = d->weight,
                                    .weighed = d->weighed, .first_sku = n, .n_skus = skus_per_category};
        for (int t = 0; t < N_TIERS; t++) brands[c * N_TIERS + t] = d->brands[t];
        for (int j = 0; j < skus_per_category; j++) {
            ly_sim_sku *k = &skus[n + j];
            k->category = c;
            k->type = j % N_TYPES;
            k->tier = (j / N_TYPES) % N_TIERS;
            k->large = j >= N_TYPES * N_TIERS && !d->weighed;
            k->weighed = d->weighed;
            int64_t noise = 930 + (int64_t)ly_sim_below(&g, 141); /* 0.93 .. 1.07 */
            int64_t cents = d->cents[k->type] * tierPermille[k->tier] / 1000 * noise / 1000;
            if (j >= N_TYPES * N_TIERS) cents = cents * (d->weighed ? 1150 : 1850) / 1000;
            k->price = scaleMinor(shopPrice(cents), minor_units);
            if (j >= N_TYPES * N_TIERS)
                snprintf(k->code, sizeof k->code, "%s-%d-%d%s", d->code, k->type + 1, k->tier + 1,
                         d->weighed ? "S" : "L");
            else
                snprintf(k->code, sizeof k->code, "%s-%d-%d", d->code, k->type + 1, k->tier + 1);
            snprintf(k->name, sizeof k->name, "%s %s%s%s", d->brands[k->tier], d->types[k->type],
                     d->weighed ? " per kg" : "",
                     j < N_TYPES * N_TIERS ? "" : d->weighed ? " select" : " large pack");
            ranks[j] = (priceRank){k->price, j};
        }
        qsort(ranks, (size_t)skus_per_category, sizeof *ranks, byPrice);
        for (int j = 0; j < skus_per_category; j++) skus[n + ranks[j].idx].ladder = j;
        n += skus_per_category;
    }
    free(ranks);
    out->categories = cats;
    out->n_categories = N_CATS;
    out->skus = skus;
    out->n_skus = n;
    out->brands = brands;
    return LY_OK;
}

void ly_sim_catalog_free(ly_sim_catalog *cat)
{
    free((void *)cat->categories);
    free((void *)cat->skus);
    free((void *)cat->brands);
    memset(cat, 0, sizeof *cat);
}
