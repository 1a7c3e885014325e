/*
 * app: the state of the running service that handlers read and the server
 * updates: configuration, the item store, the host's name, prebuilt
 * bodies, and the live counters and flags (draining, shedding, in-flight
 * requests, open connections, memory) and the memory pools.
 *
 * Counters and flags are atomics written by the server and the lifecycle
 * loop and read by any thread; everything else is set by na_app_init() and
 * read-only afterwards.
 */
#ifndef NA_APP_H
#define NA_APP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "na/config.h"
#include "na/metrics.h"
#include "na/quota.h"
#include "na/store.h"

struct na_app {
    const struct na_config *cfg; /* borrowed */
    struct na_store *store;      /* borrowed */
    struct na_metrics *metrics;  /* borrowed; every thread records into it */
    char hostname[256];
    uint64_t started_ns; /* na_clock_ns() at init */
    char *info_body;     /* prebuilt /api/info; owned */
    size_t info_len;
    char idem_scope[NA_IDEM_HEX]; /* the API key's Idempotency-Key scope; "" without one */

    atomic_bool draining;
    atomic_bool failing_on_purpose; /* POST /health/disable: /health answers 503 */
    atomic_bool shedding;
    atomic_uint_fast64_t shedding_since_ns; /* when shedding began; 0: not shedding */
    atomic_uint_fast64_t rss_bytes;
    atomic_uint_fast64_t charged_bytes; /* what the container is charged; 0: unknown */
    atomic_uint_fast64_t in_flight;
    atomic_uint_fast64_t connections;
    struct na_quota bodies;    /* the budget's body pool: request bytes buffered */
    struct na_quota responses; /* its response pool: answers built, not yet sent */
};

/* Returns 0, or -1 when out of memory. */
int na_app_init(struct na_app *app, const struct na_config *cfg, struct na_store *store);
void na_app_release(struct na_app *app);

struct na_taskmeta;

/* Adds the ECS task to /api/info's body. Before serving. Returns 0, or -1 when out of memory. */
int na_app_set_task(struct na_app *app, const struct na_taskmeta *task);

/* Seconds since na_app_init(), like Node's process.uptime(). */
double na_app_uptime(const struct na_app *app);

#endif
