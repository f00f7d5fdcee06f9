/*
 * offers.h - the "offers" section of a program file: preferences that let what a customer
 * declared (questionnaire answers and other attributes of the profile) steer their personal
 * offers, raising the score of matching offers or leaving them out. Loaded by program.c
 * into memory the program owns (ly_program.offers); docs/offers.md ("Preferences") is the
 * reference. Applied to a customer's offers by engage/offers_prefs.c (engage.h).
 */
#ifndef LY_PROGRAM_OFFERS_H
#define LY_PROGRAM_OFFERS_H

#include "core/core.h"

/* One preference: for a customer whose attributes pass every test, offers whose SKU the
 * lines name (a SKU, its category or its brand listed) are raised by boost_percent, or left
 * out when exclude. */
typedef struct ly_offer_pref {
    const char *id;                 /* "id" in the file, or NULL */
    size_t index;                   /* position in offers.preferences */
    const ly_fact_test *attributes; /* the rules' attribute tests ("attributes.<name>") */
    size_t n_attributes;            /* >= 1 */
    ly_line_selector lines;         /* skus, categories, brands; at least one set given */
    bool exclude;                   /* drop matching offers */
    int64_t boost_percent;          /* 1..1000 when not exclude, 0 when exclude */
} ly_offer_pref;

typedef struct ly_offers_conf {
    const ly_offer_pref *preferences; /* in file order */
    size_t n_preferences;             /* >= 1 */
} ly_offers_conf;

#endif /* LY_PROGRAM_OFFERS_H */
