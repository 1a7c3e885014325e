/*
 * emf: the metrics as CloudWatch embedded metric format (EMF) log lines.
 *
 * With METRICS_EMF on (the default on ECS), one JSON line per
 * METRICS_EMF_INTERVAL_S on stdout, through the log's ring, whatever
 * LOG_LEVEL: CloudWatch Logs (the awslogs driver) turns it into metrics in
 * METRICS_EMF_NAMESPACE, with no agent and no sidecar. Each line covers the
 * interval since the previous one (counts are differences of the
 * registry's counters, so nothing is counted twice or lost between lines),
 * and the last one, written at exit, covers the rest. A line the log drops
 * (stdout behind, its ring full) is not the end of its interval: the next
 * line covers both, so counts are never lost, only later.
 *
 * Dimensions: the service name ("service", every log line's field), and,
 * when the task metadata gave one, the service with the task definition's
 * family:revision ("task_revision"), so a new revision's metrics stand
 * apart from the old one's during a deploy. Metrics: Requests, Errors4xx,
 * Errors5xx, RequestsShed (503s to stay within memory), ConnectionsRefused
 * (at the connection limit), RequestsAborted, DatabaseErrors (calls that
 * failed or found no connection), Connections (open at the end of the
 * interval), and Latency in milliseconds as a distribution: up to 100
 * values, the interval's quantiles read off the latency histogram (so
 * CloudWatch's percentiles of Latency follow the requests', within a
 * bucket's width; its sample count is that of the values, not of the
 * requests: that is Requests).
 *
 * The lifecycle thread owns it: every call from that one thread.
 */
#ifndef NA_EMF_H
#define NA_EMF_H

#include <stdint.h>

#include "na/buf.h"
#include "na/config.h"
#include "na/metrics.h"
#include "na/server.h"
#include "na/store.h"

#define NA_EMF_VALUES_MAX 100 /* the specification's bound on a metric's array */

/* What one line reports: an interval's counts, and the connections open at its end. */
struct na_emf_values {
    uint64_t requests, errors_4xx, errors_5xx, shed, refused, aborted, db_errors;
    uint64_t connections;
    uint64_t latency[NA_METRICS_BUCKETS + 1]; /* per bucket, as na_metrics_totals() */
};

/*
 * Writes the line's members after the log's common fields: `,"_aws":{...}`
 * and one member per metric (and "task_revision" when not NULL), for an
 * interval of `interval_s` ending at `timestamp_ms`. Pure; for tests too.
 */
void na_emf_write(struct na_buf *b, const char *ns, const char *task_revision, int64_t timestamp_ms,
                  double interval_s, const struct na_emf_values *v);

struct na_emf;

/*
 * Starts the first interval now. `task_revision` ("family:revision") is
 * copied; NULL when unknown. All but it are borrowed for the emitter's
 * life. NULL when out of memory.
 */
struct na_emf *na_emf_new(const struct na_config *cfg, struct na_metrics *m, struct na_server *srv,
                          struct na_store *store, const char *task_revision);

/* Writes a line when an interval has passed. Returns the ms until the next is due. */
unsigned na_emf_tick(struct na_emf *e);

/* Writes the interval so far (at exit), however short; waits up to 2 s for the log to take it. */
void na_emf_flush(struct na_emf *e);

/* NULL is a no-op. */
void na_emf_free(struct na_emf *e);

#endif
