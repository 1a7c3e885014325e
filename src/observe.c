/*
 * observe: the families of the server, the memory plan, the store, the
 * log and the build (see include/na/observe.h). Names follow Prometheus
 * conventions: base units (bytes, seconds), _total on counters, one
 * family per quantity with a label where the parts add up.
 */
#include "na/observe.h"

#include <stdio.h>

#include "na/log.h"
#include "na/quota.h"
#include "na/store.h"

static void server_source(struct na_metrics_writer *w, void *cls)
{
    struct na_observe *o = cls;
    struct na_server *srv = atomic_load(&o->srv);
    const struct na_app *app = o->app;
    struct na_server_stats st;

    na_metrics_gauge(w, "http_requests_in_flight", "Requests begun and not yet answered.",
                     (double)atomic_load(&app->in_flight));
    na_metrics_gauge(w, "node_api_connections_max",
                     "Connections served at once, at most (MAX_CONNECTIONS).",
                     app->cfg->budget.max_connections);
    if (!srv)
        return;
    na_server_stats(srv, &st);
    na_metrics_gauge(w, "node_api_connections_open", "Connections open now.",
                     (double)st.connections);
    na_metrics_counter(w, "node_api_connections_accepted_total",
                       "Connections accepted, those then answered at the limit included.",
                       (double)st.accepted);
    na_metrics_counter(w, "node_api_connections_refused_total",
                       "Connections answered at the connection limit and closed (503, or the "
                       "health answer for GET /health).",
                       (double)st.refused);
    na_metrics_family(w, "node_api_connections_closed_total", NA_METRIC_COUNTER,
                      "Connections the server closed, by reason: a deadline passed, or idle "
                      "ones closed to make room for new ones.");
    na_metrics_sample(w, "node_api_connections_closed_total", "reason=\"headers_timeout\"",
                      (double)st.headers_timeouts);
    na_metrics_sample(w, "node_api_connections_closed_total", "reason=\"request_timeout\"",
                      (double)st.request_timeouts);
    na_metrics_sample(w, "node_api_connections_closed_total", "reason=\"send_timeout\"",
                      (double)st.send_timeouts);
    na_metrics_sample(w, "node_api_connections_closed_total", "reason=\"make_room\"",
                      (double)st.evicted);
    na_metrics_gauge(w, "node_api_draining", "1 once SIGTERM has begun the drain.", st.draining);
    if (app->cfg->loadtest_routes)
        na_metrics_gauge(w, "node_api_health_failing_on_purpose",
                         "1 while POST /health/disable makes /health answer 503.",
                         atomic_load(&app->failing_on_purpose));
    na_metrics_counter(w, "node_api_drain_requests_finished_total",
                       "Requests finished since the drain began.", (double)st.drained);
}

static void memory_source(struct na_metrics_writer *w, void *cls)
{
    struct na_observe *o = cls;
    struct na_app *app = o->app;
    const struct na_budget *b = &app->cfg->budget;

    na_metrics_gauge(w, "node_api_memory_limit_bytes",
                     "The memory budget (MEMORY_LIMIT_MB, or the container's limit); 0: none.",
                     (double)b->limit_bytes);
    na_metrics_gauge(w, "node_api_memory_shed_threshold_bytes",
                     "Memory above which requests are shed with 503; 0: never.",
                     (double)b->shed_bytes);
    na_metrics_gauge(w, "node_api_memory_charged_bytes",
                     "What the container is charged (its cgroup's figure, socket buffers "
                     "included); 0: unknown.",
                     (double)atomic_load(&app->charged_bytes));
    na_metrics_gauge(w, "node_api_memory_shedding", "1 while memory is over its threshold.",
                     atomic_load(&app->shedding));
    na_metrics_family(w, "node_api_pool_bytes", NA_METRIC_GAUGE,
                      "The memory plan's pools: request bodies buffered and answers not yet "
                      "sent, used and capacity.");
    na_metrics_sample(w, "node_api_pool_bytes", "pool=\"bodies\",state=\"used\"",
                      (double)na_quota_used(&app->bodies));
    na_metrics_sample(w, "node_api_pool_bytes", "pool=\"bodies\",state=\"capacity\"",
                      (double)b->body_pool_bytes);
    na_metrics_sample(w, "node_api_pool_bytes", "pool=\"responses\",state=\"used\"",
                      (double)na_quota_used(&app->responses));
    na_metrics_sample(w, "node_api_pool_bytes", "pool=\"responses\",state=\"capacity\"",
                      (double)b->response_pool_bytes);
}

static void store_source(struct na_metrics_writer *w, void *cls)
{
    struct na_observe *o = cls;
    struct na_store_health h;

    na_store_health(o->app->store, &h);
    if (!h.has_pool)
        return;
    na_metrics_gauge(w, "node_api_db_pool_size", "Database connections (DB_POOL_SIZE).",
                     h.pool_size);
    na_metrics_family(w, "node_api_db_pool_connections", NA_METRIC_GAUGE,
                      "Database connections by state: connected (of them, busy on a call).");
    na_metrics_sample(w, "node_api_db_pool_connections", "state=\"connected\"", h.pool_connected);
    na_metrics_sample(w, "node_api_db_pool_connections", "state=\"busy\"", h.pool_busy);
    na_metrics_gauge(w, "node_api_db_pool_waiting", "Calls waiting for a free connection.",
                     h.pool_waiting);
    na_metrics_counter(w, "node_api_db_acquire_timeouts_total",
                       "Calls answered 503 after DB_ACQUIRE_TIMEOUT_MS without a connection.",
                       (double)h.pool_acquire_timeouts);
    na_metrics_counter(w, "node_api_db_errors_total",
                       "Calls that failed on their connection (answered 503, 504 or 500).",
                       (double)h.pool_errors);
    na_metrics_counter(w, "node_api_db_reconnects_total",
                       "Database connections opened again after one was lost.",
                       (double)h.pool_reconnects);
    na_metrics_counter(w, "node_api_db_write_groups_total",
                       "Write groups sent as one statement (DB_WRITE_GROUP_MAX).",
                       (double)h.write_groups);
    na_metrics_counter(w, "node_api_db_writes_grouped_total", "Writes sent in those groups.",
                       (double)h.writes_grouped);
    na_metrics_counter(w, "node_api_db_writes_held_total",
                       "Writes held for the write group running ahead of them.",
                       (double)h.writes_held);
    na_metrics_counter(w, "node_api_db_reruns_total",
                       "Calls run again on a new connection: their backend ended before they ran.",
                       (double)h.reruns);
    na_metrics_counter(w, "node_api_reads_coalesced_total",
                       "Reads answered by another identical read's query.", (double)h.coalesced);
}

static void log_build_source(struct na_metrics_writer *w, void *cls)
{
    struct na_observe *o = cls;
    char version[160], revision[96], labels[300];

    na_metrics_counter(w, "node_api_log_lines_dropped_total",
                       "Log lines dropped because stdout could not keep up.",
                       (double)na_log_dropped());
    na_metrics_escape(NA_VERSION, version, sizeof(version));
    na_metrics_escape(o->revision, revision, sizeof(revision));
    snprintf(labels, sizeof(labels), "version=\"%s\",revision=\"%s\"", version, revision);
    na_metrics_family(w, "node_api_build_info", NA_METRIC_GAUGE,
                      "Always 1: the build's version and git revision as labels.");
    na_metrics_sample(w, "node_api_build_info", labels, 1);
}

int na_observe_register(struct na_observe *o, struct na_app *app, const char *revision)
{
    o->app = app;
    o->revision = revision;
    atomic_init(&o->srv, NULL);
    if (!app->metrics)
        return 0; /* nothing recorded, nothing to scrape */
    if (na_metrics_add_source(app->metrics, server_source, o) ||
        na_metrics_add_source(app->metrics, memory_source, o) ||
        na_metrics_add_source(app->metrics, store_source, o) ||
        na_metrics_add_source(app->metrics, log_build_source, o))
        return -1;
    return 0;
}

void na_observe_attach(struct na_observe *o, struct na_server *srv)
{
    atomic_store(&o->srv, srv);
}
