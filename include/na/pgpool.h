/*
 * pgpool: PostgreSQL connections, each owned by a worker thread.
 *
 * Store calls queue in FIFO order and are run by whichever worker is free
 * and connected, so the HTTP threads never wait on the database. A call
 * that finds no worker within the acquire timeout is finished as
 * unavailable (503) by a supervisor thread: waiting is always bounded, even
 * while the database is down. Workers that lose their connection reconnect
 * in the background with exponential backoff (100 ms to 5 s); a worker that
 * is not connected takes no calls.
 *
 * PING calls (the deep health check) have a lane of their own, one worker
 * and one connection, so a saturated pool still gets a true answer about
 * the database, within the ping's own deadline.
 *
 * The pool logs only transitions: "database unavailable" at the first
 * failed connection attempt, "database connected" when one succeeds again.
 */
#ifndef NA_PGPOOL_H
#define NA_PGPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "na/pg.h"
#include "na/store.h"

struct na_pgpool_config {
    struct na_pg_options pg; /* `stop` is the pool's own */
    unsigned size;           /* workers for item calls */
    unsigned acquire_timeout_ms;
    unsigned health_timeout_ms;
    /*
     * Readies a new connection (schema, prepared statements). Returns 0, or
     * -1 with `err`: the connection is dropped and retried later.
     */
    int (*setup)(PGconn *conn, void *cls, char *err, size_t errlen);
    /* Runs a call; returns false when the connection must be dropped. */
    bool (*run)(PGconn *conn, struct na_store_call *call, void *cls);
    void *cls;
};

struct na_pgpool;

/* Starts the threads; connecting happens in them. NULL if out of memory or threads. */
struct na_pgpool *na_pgpool_start(const struct na_pgpool_config *cfg);

/* Queues `call`; its done() runs on a pool thread (inline once stopped). */
void na_pgpool_submit(struct na_pgpool *p, struct na_store_call *call);

struct na_pgpool_stats {
    unsigned size, connected, busy, waiting;
};

void na_pgpool_stats(struct na_pgpool *p, struct na_pgpool_stats *out);

/* Finishes queued calls as unavailable, lets running ones end, joins the threads. */
void na_pgpool_shutdown(struct na_pgpool *p);

/* Shuts down if needed and frees. NULL is a no-op. */
void na_pgpool_free(struct na_pgpool *p);

#endif
