/*
 * emf: embedded metric format lines (see include/na/emf.h).
 */
#include "na/emf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_line.h"
#include "na/clock.h"

struct na_emf {
    const struct na_config *cfg;
    struct na_metrics *metrics;
    struct na_server *srv;
    struct na_store *store;
    char task_revision[300];   /* family (255 at most) : revision */
    uint64_t since_ns;         /* the interval's start */
    struct na_emf_values last; /* the counters at its start (connections unused) */
};

static const struct {
    const char *name, *unit;
} metrics[] = {
    {"Requests", "Count"},       {"Errors4xx", "Count"},          {"Errors5xx", "Count"},
    {"RequestsShed", "Count"},   {"ConnectionsRefused", "Count"}, {"RequestsAborted", "Count"},
    {"DatabaseErrors", "Count"}, {"Connections", "Count"},        {"Latency", "Milliseconds"},
};

/*
 * Up to NA_EMF_VALUES_MAX values whose distribution is the histogram's:
 * value j is the latency at quantile (j + 1/2) / k, interpolated within its
 * bucket. Returns k (0 when no request was answered).
 */
static unsigned quantiles(const uint64_t counts[NA_METRICS_BUCKETS + 1],
                          double out_ms[NA_EMF_VALUES_MAX])
{
    uint64_t n = 0;
    unsigned k, b = 0;
    uint64_t before = 0; /* requests in the buckets below b */

    for (unsigned i = 0; i <= NA_METRICS_BUCKETS; i++)
        n += counts[i];
    if (!n)
        return 0;
    k = n < NA_EMF_VALUES_MAX ? (unsigned)n : NA_EMF_VALUES_MAX;
    for (unsigned j = 0; j < k; j++) {
        double rank = ((double)j + 0.5) * (double)n / (double)k, lo, hi;

        while (b < NA_METRICS_BUCKETS && (double)(before + counts[b]) < rank)
            before += counts[b++];
        lo = b ? (double)na_metrics_bucket_bound_ns(b - 1) : 0;
        /* Past the last bound there is no upper one: its lower bound is all we know. */
        hi = b < NA_METRICS_BUCKETS ? (double)na_metrics_bucket_bound_ns(b) : lo;
        out_ms[j] =
            (lo + (hi - lo) * (rank - (double)before) / (double)(counts[b] ? counts[b] : 1)) / 1e6;
    }
    return k;
}

void na_emf_write(struct na_buf *b, const char *ns, const char *task_revision, int64_t timestamp_ms,
                  double interval_s, const struct na_emf_values *v)
{
    const uint64_t counts[] = {v->requests, v->errors_4xx, v->errors_5xx, v->shed,
                               v->refused,  v->aborted,    v->db_errors,  v->connections};
    double lat[NA_EMF_VALUES_MAX];
    unsigned nlat = quantiles(v->latency, lat);
    size_t nmetrics = sizeof(metrics) / sizeof(metrics[0]) - (nlat ? 0 : 1);

    na_buf_printf(b, ",\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":",
                  (long long)timestamp_ms);
    na_buf_json_str(b, ns, strlen(ns), 0);
    na_buf_puts(b, ",\"Dimensions\":[[\"service\"]");
    if (task_revision)
        na_buf_puts(b, ",[\"service\",\"task_revision\"]");
    na_buf_puts(b, "],\"Metrics\":[");
    for (size_t i = 0; i < nmetrics; i++)
        na_buf_printf(b, "%s{\"Name\":\"%s\",\"Unit\":\"%s\"}", i ? "," : "", metrics[i].name,
                      metrics[i].unit);
    na_buf_puts(b, "]}]}");
    if (task_revision) {
        na_buf_puts(b, ",\"task_revision\":");
        na_buf_json_str(b, task_revision, strlen(task_revision), 0);
    }
    for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
        na_buf_printf(b, ",\"%s\":%llu", metrics[i].name, (unsigned long long)counts[i]);
    if (nlat) {
        na_buf_puts(b, ",\"Latency\":[");
        for (unsigned j = 0; j < nlat; j++)
            na_buf_printf(b, "%s%.3f", j ? "," : "", lat[j]);
        na_buf_putc(b, ']');
    }
    na_buf_printf(b, ",\"interval_s\":%.3f", interval_s);
}

/* The counters now (connections: open now). */
static void snapshot(struct na_emf *e, struct na_emf_values *v)
{
    struct na_metrics_totals t;
    struct na_server_stats st;
    struct na_store_health h;

    na_metrics_totals(e->metrics, &t);
    na_server_stats(e->srv, &st);
    na_store_health(e->store, &h);
    *v = (struct na_emf_values){
        .requests = t.requests,
        .errors_4xx = t.status_4xx,
        .errors_5xx = t.status_5xx,
        .shed = t.events[NA_EV_SHED_MEMORY] + t.events[NA_EV_SHED_BODIES] +
                t.events[NA_EV_SHED_RESPONSES] + t.events[NA_EV_SHED_CPU],
        .refused = st.refused,
        .aborted = t.events[NA_EV_ABORTED],
        .db_errors = h.pool_errors + h.pool_acquire_timeouts,
        .connections = st.connections,
    };
    memcpy(v->latency, t.latency, sizeof(v->latency));
}

/* Returns false when the log dropped the line (its interval then goes on). */
static bool emit(struct na_emf *e)
{
    struct na_emf_values now, d;
    uint64_t t = na_clock_ns();
    char storage[NA_LOG_LINE_MAX];
    struct na_buf b;

    snapshot(e, &now);
    d = (struct na_emf_values){
        .requests = now.requests - e->last.requests,
        .errors_4xx = now.errors_4xx - e->last.errors_4xx,
        .errors_5xx = now.errors_5xx - e->last.errors_5xx,
        .shed = now.shed - e->last.shed,
        .refused = now.refused - e->last.refused,
        .aborted = now.aborted - e->last.aborted,
        .db_errors = now.db_errors - e->last.db_errors,
        .connections = now.connections,
    };
    for (unsigned i = 0; i <= NA_METRICS_BUCKETS; i++)
        d.latency[i] = now.latency[i] - e->last.latency[i];
    na_buf_init(&b, storage, sizeof(storage));
    na_log_begin(&b, NA_LOG_INFO, "metrics");
    na_emf_write(&b, e->cfg->emf_namespace, e->task_revision[0] ? e->task_revision : NULL,
                 na_clock_wall_ms(), (double)(t - e->since_ns) / 1e9, &d);
    /*
     * Dropped (stdout behind, the log's ring full): the interval is not
     * over, so the next line covers it too and nothing is lost.
     */
    if (!na_log_end(&b))
        return false;
    e->last = now;
    e->since_ns = t;
    return true;
}

struct na_emf *na_emf_new(const struct na_config *cfg, struct na_metrics *m, struct na_server *srv,
                          struct na_store *store, const char *task_revision)
{
    struct na_emf *e = calloc(1, sizeof(*e));

    if (!e)
        return NULL;
    *e = (struct na_emf){.cfg = cfg, .metrics = m, .srv = srv, .store = store};
    snprintf(e->task_revision, sizeof(e->task_revision), "%s", task_revision ? task_revision : "");
    snapshot(e, &e->last);
    e->since_ns = na_clock_ns();
    return e;
}

unsigned na_emf_tick(struct na_emf *e)
{
    uint64_t due = e->since_ns + (uint64_t)e->cfg->emf_interval_s * 1000000000u,
             now = na_clock_ns();

    if (now >= due) {
        emit(e);
        return e->cfg->emf_interval_s * 1000u;
    }
    return (unsigned)((due - now) / 1000000u) + 1;
}

void na_emf_flush(struct na_emf *e)
{
    /* The last line has no next one to cover it: wait (2 s at most) for room in the ring. */
    for (int i = 0; e && i < 200 && !emit(e); i++)
        nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
}

void na_emf_free(struct na_emf *e)
{
    free(e);
}
