/*
 * triggers_internal.h - what the trigger engine's files share (triggers.c, triggers_stats.c,
 * triggers_report.c): the relative uplift's interval and the run counters for /metrics.
 */
#ifndef LY_ENGAGE_TRIGGERS_INTERNAL_H
#define LY_ENGAGE_TRIGGERS_INTERNAL_H

#include "engage/engage.h"

/* p1 / p2 - 1 with Katz's log interval at 95%; valid false when x2 or x1 is 0 (the point is
 * still filled in when only x1 is 0). */
ly_estimate ly__stats_katz(int64_t x1, int64_t n1, int64_t x2, int64_t n2);

/* The run counters of /metrics (Prometheus text, malloc'd; NULL when out of memory). */
char *ly__triggers_run_metrics(void);

#endif /* LY_ENGAGE_TRIGGERS_INTERNAL_H */
