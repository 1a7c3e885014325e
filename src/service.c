/*
 * service: wiring and lifecycle of `node-api serve` (see
 * include/na/service.h).
 */
#include "na/service.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "na/app.h"
#include "na/clock.h"
#include "na/coalesce.h"
#include "na/emf.h"
#include "na/exporter.h"
#include "na/log.h"
#include "na/metrics.h"
#include "na/observe.h"
#include "na/server.h"
#include "na/store.h"
#include "na/sysinfo.h"
#include "na/taskmeta.h"

#define HOUSEKEEPING_MS      100
#define HOUSEKEEPING_NEAR_MS 10 /* within 80% of the threshold */
#define DRAIN_POLL_MS        10
/* The task metadata endpoint is the ECS agent on the task's own host: it answers in ms. */
#define TASKMETA_TIMEOUT_MS 1000

static void ignore_signal(int sig)
{
    (void)sig;
}

/*
 * Blocks SIGTERM and SIGINT in every thread (threads inherit the mask, so
 * this runs before any is created) for sigtimedwait() to take them. A real
 * handler is installed too: the kernel drops default-action signals sent to
 * PID 1 before they could be waited for.
 */
static void take_signals(sigset_t *set)
{
    struct sigaction sa = {.sa_handler = ignore_signal};

    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

/* Waits up to `ms` for a signal; returns it, or 0. */
static int wait_signal(const sigset_t *set, unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    int sig = sigtimedwait(set, NULL, &ts);

    return sig > 0 ? sig : 0;
}

/*
 * Samples memory and turns load shedding on above the budget's threshold.
 * What counts is what the container is charged (its cgroup's own figure,
 * socket buffers included) where it can be read, RSS otherwise. Returns
 * the milliseconds until the next sample: sooner when memory nears the
 * threshold, so that a burst cannot outrun the sampler (the body and
 * response pools bound the rest between two samples).
 */
static unsigned housekeeping(struct na_app *app, const struct na_memory_meter *meter)
{
    const struct na_budget *b = &app->cfg->budget;
    uint64_t rss = na_sysinfo_rss(), charged = meter ? na_sysinfo_charged(meter) : 0;
    uint64_t used = charged ? charged : rss;
    bool shedding = atomic_load(&app->shedding);

    atomic_store(&app->rss_bytes, rss);
    atomic_store(&app->charged_bytes, charged);
    if (!b->shed_bytes)
        return HOUSEKEEPING_MS;
    if (!shedding && used > b->shed_bytes) {
        atomic_store(&app->shedding_since_ns, na_clock_ns());
        atomic_store(&app->shedding, true);
        na_logf(NA_LOG_WARN, "memory near its limit: shedding load with 503",
                NA_LF_INT("rss_bytes", rss), NA_LF_INT("charged_bytes", charged),
                NA_LF_INT("shed_threshold_bytes", b->shed_bytes),
                NA_LF_INT("limit_bytes", b->limit_bytes));
        /* Hand freed memory back to the kernel so RSS can fall again. */
        malloc_trim(0);
    } else if (shedding && used < b->shed_bytes / 100 * 95) {
        atomic_store(&app->shedding, false);
        atomic_store(&app->shedding_since_ns, 0);
        na_logf(NA_LOG_INFO, "memory back under its threshold: serving again",
                NA_LF_INT("rss_bytes", rss), NA_LF_INT("charged_bytes", charged),
                NA_LF_INT("shed_threshold_bytes", b->shed_bytes));
    } else if (shedding) {
        malloc_trim(0);
    }
    return used > b->shed_bytes / 100 * 80 ? HOUSEKEEPING_NEAR_MS : HOUSEKEEPING_MS;
}

static void log_started(const struct na_config *cfg, struct na_server *srv,
                        const struct na_store *store, const struct na_app *app,
                        const struct na_exporter *exp, const struct na_taskmeta *task)
{
    char msg[64], db[512], fault_delay[32];
    long long metrics_port = -1;

    snprintf(fault_delay, sizeof(fault_delay), "%u-%u", cfg->faults.delay_min_ms,
             cfg->faults.delay_max_ms);
    if (cfg->metrics_at == NA_METRICS_OWN_PORT)
        metrics_port = na_exporter_port(exp);
    else if (cfg->metrics_at == NA_METRICS_MAIN_PORT)
        metrics_port = na_server_port(srv);

    snprintf(msg, sizeof(msg), "Server started on port %u", na_server_port(srv));
    na_config_db_display(cfg, db, sizeof(db));
    na_logf(NA_LOG_INFO, msg, NA_LF_INT("port", na_server_port(srv)), NA_LF_STR("host", cfg->host),
            NA_LF_INT("threads", cfg->threads), NA_LF_STR("version", cfg->app_version),
            metrics_port >= 0 ? (struct na_log_field)NA_LF_INT("metrics_port", metrics_port)
                              : (struct na_log_field)NA_LF_RAW("metrics_port", "null"),
            NA_LF_STR("environment", cfg->node_env), NA_LF_STR("hostname", app->hostname),
            NA_LF_STR("store", store->backend), NA_LF_STR("database", db[0] ? db : NULL),
            NA_LF_BOOL("writes_enabled", cfg->api_key[0]),
            NA_LF_INT("db_write_group_max", cfg->db_write_group_max),
            NA_LF_INT("max_connections", cfg->budget.max_connections),
            NA_LF_INT("max_body_bytes", cfg->max_body_bytes),
            NA_LF_INT("memory_limit_bytes", cfg->budget.limit_bytes),
            NA_LF_INT("shed_threshold_bytes", cfg->budget.shed_bytes),
            NA_LF_INT("worst_case_bytes", cfg->budget.worst_case_bytes),
            NA_LF_INT("per_connection_bytes", cfg->budget.per_connection_bytes),
            NA_LF_INT("body_pool_bytes", cfg->budget.body_pool_bytes),
            NA_LF_INT("response_pool_bytes", cfg->budget.response_pool_bytes),
            NA_LF_INT("refuse_max", cfg->budget.refuse_max),
            NA_LF_INT("headers_timeout_s", cfg->headers_timeout_s),
            NA_LF_INT("request_timeout_s", cfg->request_timeout_s),
            NA_LF_INT("keepalive_timeout_s", cfg->keepalive_timeout_s),
            NA_LF_INT("shutdown_timeout_s", cfg->shutdown_timeout_s), NA_LF_INT("pid", getpid()),
            NA_LF_BOOL("emf", cfg->emf), NA_LF_BOOL("loadtest_routes", cfg->loadtest_routes),
            NA_LF_DBL("fault_error_percent", cfg->faults.error_ppm / 1e4),
            NA_LF_STR("fault_delay_ms", cfg->faults.delay_max_ms ? fault_delay : NULL),
            NA_LF_STR("cluster", task ? task->cluster : NULL),
            NA_LF_STR("task_arn", task ? task->task_arn : NULL),
            NA_LF_STR("task_family", task ? task->family : NULL),
            NA_LF_STR("task_revision", task ? task->revision : NULL),
            NA_LF_STR("availability_zone", task ? task->availability_zone : NULL),
            NA_LF_STR("launch_type", task ? task->launch_type : NULL));
    if (cfg->keepalive_timeout_s <= 60)
        na_logf(NA_LOG_WARN,
                "KEEPALIVE_TIMEOUT_S is not above the ALB's 60 s idle timeout: expect 502s "
                "behind an ALB",
                NA_LF_INT("keepalive_timeout_s", cfg->keepalive_timeout_s));
    if (geteuid() == 0)
        na_log(NA_LOG_WARN, "running as root: run as an unprivileged user (the image does)");
    if (cfg->faults.error_ppm || cfg->faults.delay_max_ms)
        na_logf(NA_LOG_WARN,
                "injecting faults on purpose (FAULT_ERROR_PERCENT, FAULT_DELAY_MS): a load test, "
                "not production",
                NA_LF_DBL("fault_error_percent", cfg->faults.error_ppm / 1e4),
                NA_LF_STR("fault_delay_ms", cfg->faults.delay_max_ms ? fault_delay : NULL));
}

/*
 * Drains after the first signal. Returns the exit status: 0 when nothing
 * was lost, 1 when requests were cut off or a second signal came.
 */
static int drain(struct na_server *srv, struct na_app *app, const struct na_memory_meter *meter,
                 const sigset_t *set, int sig)
{
    const struct na_config *cfg = app->cfg;
    uint64_t t0 = na_clock_ns();
    double elapsed_ms = 0;
    char msg[96];

    /* Connects are refused before the drain is logged: a reader of the log sees them refused. */
    na_server_drain(srv);
    snprintf(msg, sizeof(msg), "%s received, shutting down gracefully",
             sig == SIGTERM  ? "SIGTERM"
             : sig == SIGINT ? "SIGINT"
                             : "signal");
    na_logf(NA_LOG_INFO, msg, NA_LF_INT("connections", na_server_connections(srv)),
            NA_LF_INT("in_flight", na_server_in_flight(srv)),
            NA_LF_INT("shutdown_timeout_s", cfg->shutdown_timeout_s),
            NA_LF_INT("drain_wait_ms", cfg->drain_wait_ms));

    for (;;) {
        int again;

        elapsed_ms = na_clock_ms_since(t0);
        if (!na_server_connections(srv) || elapsed_ms >= cfg->drain_wait_ms)
            break;
        again = wait_signal(set, DRAIN_POLL_MS);
        if (again) {
            na_logf(NA_LOG_ERROR, "second signal received, exiting now",
                    NA_LF_INT("connections", na_server_connections(srv)),
                    NA_LF_INT("in_flight", na_server_in_flight(srv)));
            na_log_stop();
            _exit(1);
        }
        housekeeping(app, meter);
    }

    uint64_t open = na_server_connections(srv), busy = na_server_in_flight(srv);

    if (!open) {
        na_logf(NA_LOG_INFO, "drained", NA_LF_INT("requests", na_server_drained_requests(srv)),
                NA_LF_DBL("duration_ms", elapsed_ms));
        return 0;
    }
    if (!busy) {
        na_logf(NA_LOG_INFO, "drained; closing idle keep-alive connections",
                NA_LF_INT("requests", na_server_drained_requests(srv)),
                NA_LF_INT("idle_connections", open), NA_LF_DBL("duration_ms", elapsed_ms));
        return 0;
    }
    na_logf(NA_LOG_ERROR, "shutdown timeout: cutting off requests still in flight",
            NA_LF_INT("in_flight", busy), NA_LF_INT("connections", open),
            NA_LF_INT("requests", na_server_drained_requests(srv)),
            NA_LF_INT("shutdown_timeout_s", cfg->shutdown_timeout_s));
    return 1;
}

/*
 * Reads the ECS task metadata, when on ECS, into *task and /api/info.
 * Returns true when it did; on any failure the service starts without it,
 * and says why.
 */
static bool read_task(const struct na_config *cfg, struct na_app *app, struct na_taskmeta *task)
{
    char err[256];

    if (!cfg->ecs_metadata_uri[0])
        return false;
    if (na_taskmeta_fetch(cfg->ecs_metadata_uri, TASKMETA_TIMEOUT_MS, task, err, sizeof(err))) {
        na_logf(NA_LOG_WARN, "ECS task metadata unavailable: starting without it",
                NA_LF_STR("error", err), NA_LF_STR("variable", "ECS_CONTAINER_METADATA_URI_V4"));
        return false;
    }
    if (na_app_set_task(app, task)) {
        na_log(NA_LOG_WARN, "out of memory adding the task to /api/info");
        return false;
    }
    return true;
}

/* The PostgreSQL store, its identical concurrent reads sharing one query. */
static struct na_store *open_database(const struct na_config *cfg, struct na_metrics *metrics)
{
    struct na_store *pg = na_store_pg_new(cfg, metrics), *store;

    if (!pg)
        return NULL;
    store = na_coalesce_new(pg, cfg->db_acquire_timeout_ms);
    if (!store)
        na_store_free(pg);
    return store;
}

int na_service_run(const struct na_config *cfg, const struct na_memory_meter *meter,
                   const char *revision)
{
    unsigned next_ms;
    struct na_metrics *metrics = na_metrics_new();
    /* METRICS_PORT=off (and no EMF) records nothing: the hot path's cost is then none at all. */
    struct na_metrics *recording = cfg->metrics_at != NA_METRICS_OFF || cfg->emf ? metrics : NULL;
    struct na_emf *emf = NULL;
    struct na_taskmeta task;
    bool on_task = false;
    char revision_dim[300]; /* family (255 at most) : revision */
    struct na_store *store = NULL;
    struct na_server *srv = NULL;
    struct na_exporter *exp = NULL;
    struct na_observe observe;
    struct na_app app;
    bool app_ok = false;
    sigset_t set;
    char err[320];
    int status = 1, sig;

    take_signals(&set);
    if (na_log_start())
        na_log(NA_LOG_WARN, "cannot start the log writer thread: logging synchronously");

    if (metrics)
        store = cfg->database_url[0]
                    ? open_database(cfg, recording)
                    : na_store_memory_new(cfg->memory_store_max_items, cfg->idempotency_max_keys);
    if (!store || na_app_init(&app, cfg, store)) {
        na_log(NA_LOG_ERROR, "out of memory at start");
        goto out;
    }
    app_ok = true;
    app.metrics = recording;
    on_task = read_task(cfg, &app, &task);
    if (on_task)
        snprintf(revision_dim, sizeof(revision_dim), "%s:%s", task.family, task.revision);
    if (na_observe_register(&observe, &app, revision)) {
        na_log(NA_LOG_ERROR, "out of memory at start");
        goto out;
    }
    srv = na_server_start(&app, err, sizeof(err));
    if (!srv) {
        na_logf(NA_LOG_ERROR, "cannot start the server", NA_LF_STR("error", err));
        goto out;
    }
    na_observe_attach(&observe, srv);
    if (cfg->metrics_at == NA_METRICS_OWN_PORT) {
        exp = na_exporter_start(cfg->host, cfg->metrics_port, metrics, err, sizeof(err));
        if (!exp) {
            na_logf(NA_LOG_ERROR, "cannot serve the metrics", NA_LF_STR("error", err),
                    NA_LF_STR("variable", "METRICS_PORT"));
            goto out;
        }
    }
    if (cfg->emf && !(emf = na_emf_new(cfg, metrics, srv, store, on_task ? revision_dim : NULL))) {
        na_log(NA_LOG_ERROR, "out of memory at start");
        goto out;
    }
    next_ms = housekeeping(&app, meter);
    log_started(cfg, srv, store, &app, exp, on_task ? &task : NULL);

    while (!(sig = wait_signal(&set, next_ms))) {
        next_ms = housekeeping(&app, meter);
        if (emf)
            na_emf_tick(emf);
    }
    status = drain(srv, &app, meter, &set, sig);

out:
    /* The last interval, the drain's requests included, before the server's counts go. */
    na_emf_flush(emf);
    na_emf_free(emf);
    na_exporter_stop(exp);
    if (srv)
        na_observe_attach(&observe, NULL);
    na_server_stop(srv);
    if (app_ok)
        na_app_release(&app);
    na_store_free(store);
    na_metrics_free(metrics);
    na_logf(status ? NA_LOG_ERROR : NA_LOG_INFO, "Server closed", NA_LF_INT("exit_code", status));
    na_log_stop();
    return status;
}
