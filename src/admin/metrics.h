/*
 * metrics - counters, gauges and histograms with labels, rendered in the
 * Prometheus text exposition format (version 0.0.4) for GET /metrics.
 *
 * Every module registers its metrics once at start-up and updates them on
 * the event-loop thread (no locks). Label values come from configuration and
 * fixed vocabularies (reason names, listener names, zones), never straight
 * from a peer; even so each metric holds at most METRICS_MAX_SERIES label
 * combinations and refuses more, so a bug cannot grow memory without bound.
 */
#ifndef RG_ADMIN_METRICS_H
#define RG_ADMIN_METRICS_H

#include "core/buf.h"

#include <stddef.h>

#define METRICS_MAX_LABELS 4
#define METRICS_MAX_SERIES 2048
#define METRICS_MAX_BUCKETS 24

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics;
struct metric;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Registers a metric. labels: comma-separated label names or NULL. buckets: the
 * histogram's upper bounds in increasing order (not +Inf, which is implied).
 * NULL when the name or labels are invalid, the name is taken, or memory ran out. */
struct metric *metrics_register(struct metrics *m, enum metric_type type, const char *name,
                                const char *help, const char *labels, const double *buckets,
                                size_t nbuckets);
/* values: one per label name, in order (NULL when the metric has none). 0 or -1
 * (too many series, negative counter increment, out of memory). */
int metric_add(struct metric *mt, const char *const *values, double v);
int metric_set(struct metric *mt, const char *const *values, double v);
int metric_observe(struct metric *mt, const char *const *values, double v);
/* The current value of a counter or gauge series (0 when absent). */
double metric_get(const struct metric *mt, const char *const *values);

/* Appends every metric, in registration order, to out. 0, or -1 if out is full. */
int metrics_render(const struct metrics *m, struct buf *out);

#endif
