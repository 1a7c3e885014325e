/*
 * metrics: what the service counts, and its Prometheus exposition.
 *
 * The hot path records into per-thread shards: each thread that records
 * gets a shard of its own on its first call (the one time it takes the
 * registry's lock) and from then on writes only to it, with relaxed atomic
 * stores and no lock, so recording costs a few plain stores. A scrape sums
 * the shards. Shards live as long as the registry.
 *
 * Requests are counted by method, route template (na_router_template():
 * "/api/items/{id}", never the raw path) and status, so cardinality is
 * bounded by the route table: at most NA_METRICS_ROUTES x
 * NA_METRICS_METHODS x the statuses actually answered (200 to 599).
 *
 * Everything the registry does not count itself comes from sources,
 * callbacks registered before serving that write families at scrape time
 * (the server's connections, the database pool, the log's drops), so this
 * module depends on none of them: the layers above it register what they
 * know, as a Prometheus client library's collectors do.
 *
 * Text exposition format 0.0.4, or OpenMetrics 1.0 when asked for.
 */
#ifndef NA_METRICS_H
#define NA_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "na/router.h"

#define NA_METRICS_ROUTES  (NA_ROUTE_LAST_ + 1)
#define NA_METRICS_METHODS 8 /* enum na_method's bits, OTHER included */

/* Events counted without labels beyond the one each family has. */
enum na_metrics_event {
    NA_EV_SHED_MEMORY,    /* refused 503: memory near its limit */
    NA_EV_SHED_BODIES,    /* refused 503: the body pool was full */
    NA_EV_SHED_RESPONSES, /* refused 503: the response pool was full */
    NA_EV_SHED_CPU,       /* refused 503: the CPU route's queue was full (load tests) */
    NA_EV_ABORTED,        /* the client went away before its answer was sent */
    NA_EV_FAULT_STATUS,   /* an injected status answered in a request's place */
    NA_EV_FAULT_DELAY,    /* an injected delay before a request ran */
    NA_EV_COUNT_
};

enum na_metrics_type { NA_METRIC_COUNTER, NA_METRIC_GAUGE, NA_METRIC_HISTOGRAM };

struct na_metrics;
struct na_metrics_writer;

/* A source writes its families at scrape time; on the scraping thread. */
typedef void na_metrics_source_fn(struct na_metrics_writer *w, void *cls);

/* NULL when out of memory. */
struct na_metrics *na_metrics_new(void);

/* After every thread that records has stopped. NULL is a no-op. */
void na_metrics_free(struct na_metrics *m);

/*
 * Adds a source, called in order of registration after the registry's own
 * families. Before any scrape (not thread-safe against one). Returns 0, or
 * -1 when out of memory or past NA_METRICS_SOURCES_MAX.
 */
#define NA_METRICS_SOURCES_MAX 16
int na_metrics_add_source(struct na_metrics *m, na_metrics_source_fn *fn, void *cls);

/*
 * The hot path: any thread, no lock after the thread's first call; `m`
 * NULL records nothing. `status` outside 200..599 (no answer) counts as
 * NA_EV_ABORTED instead.
 */
void na_metrics_request(struct na_metrics *m, enum na_route route, enum na_method method,
                        unsigned status, uint64_t duration_ns);
void na_metrics_count(struct na_metrics *m, enum na_metrics_event ev);

/* One database query's time, for the query duration histogram. Any thread. */
void na_metrics_db_query(struct na_metrics *m, uint64_t duration_ns);

/* Latency buckets: finite upper bounds, then +Inf. */
#define NA_METRICS_BUCKETS 16

/* The registry's own counts summed over every route and method, since start. */
struct na_metrics_totals {
    uint64_t requests, status_4xx, status_5xx;
    uint64_t events[NA_EV_COUNT_];
    uint64_t latency[NA_METRICS_BUCKETS + 1]; /* per bucket, not cumulative */
};

/* Any thread. Counters only grow: the difference of two snapshots is an interval's. */
void na_metrics_totals(struct na_metrics *m, struct na_metrics_totals *out);

/* Bucket b's upper bound in ns, b < NA_METRICS_BUCKETS. */
uint64_t na_metrics_bucket_bound_ns(unsigned b);

/*
 * Renders every family: into a buffer the caller frees (free()), its
 * length in `*len`. Returns NULL when out of memory. Any thread; scrapes
 * may run concurrently with recording and with each other.
 */
char *na_metrics_render(struct na_metrics *m, bool openmetrics, size_t *len);

/* The content type of what na_metrics_render() wrote. */
const char *na_metrics_content_type(bool openmetrics);

/*
 * True when an Accept header asks for OpenMetrics (application/openmetrics-text
 * with a q above 0, as Prometheus sends it).
 */
bool na_metrics_wants_openmetrics(const char *accept);

/*
 * For sources: a family's HELP and TYPE lines, then its samples. `name` is
 * the sample name (a counter's ends in _total); `labels` is NULL or already
 * written label pairs (`state="busy"`), values escaped by the caller.
 */
void na_metrics_family(struct na_metrics_writer *w, const char *name, enum na_metrics_type type,
                       const char *help);
void na_metrics_sample(struct na_metrics_writer *w, const char *name, const char *labels,
                       double value);

/*
 * Escapes a label value (backslash, double quote, newline) into `out`,
 * cut short to fit; returns its length.
 */
size_t na_metrics_escape(const char *v, char *out, size_t cap);

/* A family of one unlabelled sample. */
void na_metrics_gauge(struct na_metrics_writer *w, const char *name, const char *help,
                      double value);
void na_metrics_counter(struct na_metrics_writer *w, const char *name, const char *help,
                        double value);

#endif
