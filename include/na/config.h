/*
 * config: the service's configuration, read once from the environment.
 *
 * Names follow the tutorial where it has one (PORT, NODE_ENV, APP_VERSION,
 * LOG_LEVEL); the rest are ours. An empty variable counts as unset, as with
 * the tutorial's `process.env.PORT || 3000`. Every value is validated: a
 * malformed one fails na_config_load() with the variable's name, and the
 * caller stops the process before serving anything.
 *
 * Defaults that depend on the machine (THREADS, MEMORY_LIMIT_MB, the
 * connection limit) come from a struct na_sysinfo, so tests can pin them.
 */
#ifndef NA_CONFIG_H
#define NA_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "na/budget.h"
#include "na/fault.h"
#include "na/log.h"
#include "na/sysinfo.h"

#ifndef NA_VERSION
#define NA_VERSION "0.0.0-dev"
#endif

struct na_config {
    char host[256];
    unsigned port; /* 0: any free port, reported in the "started" line */
    char node_env[65];
    char app_version[129];
    enum na_log_level log_level;
    char service_name[65];
    unsigned threads;
    unsigned keepalive_timeout_s;
    unsigned shutdown_timeout_s;
    unsigned drain_wait_ms; /* of it, the part connections are waited for (the rest: the stop) */
    uint64_t max_body_bytes;
    unsigned memory_shed_percent;
    double access_log_ratio; /* 0: off, 1: every request */
    bool loadtest_routes;
    struct na_fault_config faults; /* FAULT_*: only with loadtest_routes */
    /*
     * Where /metrics is served: on its own port (the default, 9464, which
     * the load balancer never forwards to), on the main port when
     * METRICS_PORT is PORT, or nowhere (METRICS_PORT=off).
     */
    enum { NA_METRICS_OFF, NA_METRICS_OWN_PORT, NA_METRICS_MAIN_PORT } metrics_at;
    unsigned metrics_port; /* NA_METRICS_OWN_PORT: 0 is any free port, logged at start */
    /* CloudWatch embedded metric format lines (on by default on ECS; see emf.h). */
    bool emf;
    unsigned emf_interval_s;
    char emf_namespace[256];
    char ecs_metadata_uri[512]; /* ECS_CONTAINER_METADATA_URI_V4; empty: not on ECS */
    struct na_budget budget;    /* includes the connection limit */

    /* Secrets: never logged, never answered. Empty when unset. */
    char database_url[2048]; /* empty: the embedded store */
    char api_key[513];       /* empty: writes answer 403 */

    unsigned db_pool_size;
    unsigned db_write_group_max; /* plain creates committed in one transaction, at most */
    unsigned db_connect_timeout_s;
    unsigned db_statement_timeout_ms;
    unsigned db_acquire_timeout_ms;
    unsigned db_health_timeout_ms;
    bool db_migrate; /* migrate the schema at start */

    unsigned idempotency_ttl_s;    /* how long an Idempotency-Key is kept */
    unsigned idempotency_max_keys; /* embedded store: keys kept at most */
    unsigned memory_store_max_items;

    unsigned headers_timeout_s; /* a request's head must be in by then */
    unsigned request_timeout_s; /* and its body */
    unsigned send_timeout_s;    /* and its answer sent, once queued */
    unsigned shed_unhealthy_s;  /* shedding that long turns /health to 503 */
};

struct na_config_error {
    char var[32];
    char message[320];
};

/* Looks a variable up; returns NULL when unset. `ctx` is the caller's. */
typedef const char *(*na_getenv_fn)(const char *name, void *ctx);

/* A na_getenv_fn over the process environment. */
const char *na_config_getenv(const char *name, void *ctx);

/*
 * Loads and validates. Returns 0 and fills *cfg, or -1 and fills *err
 * (cfg is then left untouched).
 */
int na_config_load(struct na_config *cfg, na_getenv_fn get, void *ctx, const struct na_sysinfo *si,
                   struct na_config_error *err);

/*
 * Writes DATABASE_URL without its password ("postgresql://user@host:5432/db")
 * for logs. `out` gets "" when no database is configured.
 */
void na_config_db_display(const struct na_config *cfg, char *out, size_t cap);

/* Writes the variables, their defaults and meaning, for --help. */
void na_config_print_help(FILE *out);

#endif
