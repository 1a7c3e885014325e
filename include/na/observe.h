/*
 * observe: the service's metric sources, the families that come from the
 * modules above the metrics registry: the server (connections, admission,
 * deadlines, the drain), the memory plan (budget, charged bytes, pools,
 * shedding), the store (the database pool, coalesced reads), the log
 * (lines dropped) and the build (node_api_build_info).
 *
 * Registered before the server starts, so that no scrape can run without
 * them; the server is attached once it exists (its families are absent
 * until then). Sources run on the scraping thread and only read: atomics,
 * or a module's own stats call.
 */
#ifndef NA_OBSERVE_H
#define NA_OBSERVE_H

#include <stdatomic.h>

#include "na/app.h"
#include "na/metrics.h"
#include "na/server.h"

struct na_observe {
    struct na_app *app;              /* borrowed */
    _Atomic(struct na_server *) srv; /* borrowed; NULL until attached */
    const char *revision;            /* static: the git revision */
};

/* Registers the sources on app->metrics (none when NULL). Returns 0, or -1 when out of room. */
int na_observe_register(struct na_observe *o, struct na_app *app, const char *revision);

/* Attaches the started server; NULL detaches it before it is stopped. */
void na_observe_attach(struct na_observe *o, struct na_server *srv);

#endif
