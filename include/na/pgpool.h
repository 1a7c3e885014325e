/*
 * pgpool: database connections, each owned by a worker thread.
 *
 * Store calls queue in FIFO order and are run by whichever worker is free
 * and connected, so the HTTP threads never wait on the database. A call
 * that finds no worker within the acquire timeout, counted from its
 * arrival (call->arrived_ns), is finished as unavailable (503) by a
 * supervisor thread: waiting is always bounded, even while the database is
 * down. Workers that lose their connection reconnect in the background with
 * exponential backoff and jitter (100 ms to 5 s by default), napping on a
 * wait of their own that only the shutdown breaks: traffic never wakes
 * them early, so a dead database sees about one attempt per worker per
 * backoff step however busy the service is. A worker that is not connected
 * takes no calls.
 *
 * Write groups: a call that groupable() accepts is popped together with
 * the groupable calls queued right behind it, up to group_max in all, and
 * the group runs as one run_group() on the worker's connection (PostgreSQL
 * commits it once instead of once per call). Groups form only from calls
 * already waiting, so a lone call never waits for company.
 *
 * While a group (or a lone groupable call) is running, the groupable calls
 * that arrive behind it are held for it: its worker takes them as its next
 * group when it is done, instead of other workers starting groups of one
 * or two each. Fewer, larger groups cost the database less per write (the
 * README's database benchmark shows what it is worth). A hold ends as soon as a whole group
 * (group_max) is waiting, which another worker then starts at once, and
 * at the latest `hold_ms` after the first held call arrived: a group stuck
 * behind a lock holds the writes behind it that long at most. Calls that
 * are not groupable are never held, even queued behind held ones.
 *
 * A call that failed on a connection the server ended under it, and
 * certainly did not run (call->not_run: never sent, or the backend's FATAL
 * before the statement completed), is queued again to run on another
 * connection: NA_PGPOOL_RERUNS times at most, and only before its acquire
 * deadline, so the bound on its wait is unchanged. A failover then costs
 * the calls in flight a reconnect, not a 503.
 *
 * PING calls (the deep health check) have a lane of their own, one worker
 * and one connection, so a saturated pool still gets a true answer about
 * the database, within the ping's own deadline.
 *
 * The pool knows nothing of libpq: connections are opaque handles made,
 * used and closed by the caller's callbacks (store_pg.c gives libpq's; the
 * unit tests give fakes that count attempts). Callbacks run on the
 * worker threads.
 *
 * The pool logs only transitions: "database unavailable" at the first
 * failed connection attempt, "database connected" when one succeeds again.
 */
#ifndef NA_PGPOOL_H
#define NA_PGPOOL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "na/metrics.h"
#include "na/store.h"

#define NA_PGPOOL_BACKOFF_MIN_MS 100u
#define NA_PGPOOL_BACKOFF_MAX_MS 5000u
#define NA_PGPOOL_IDLE_AGAIN_MS  10u
#define NA_PGPOOL_RERUNS         2u /* times a call that did not run is queued again */

struct na_pgpool_config {
    unsigned size; /* workers for item calls */
    unsigned acquire_timeout_ms;
    unsigned health_timeout_ms;
    unsigned backoff_min_ms, backoff_max_ms; /* 0: the defaults above */
    /*
     * Opens a connection ready for calls (connected, schema checked,
     * statements prepared). Returns the handle, or NULL with `err` (never
     * a secret): the worker naps and tries again. `stop` turns true when
     * the pool shuts down; an attempt in progress should give up then.
     */
    void *(*open)(void *cls, const atomic_bool *stop, char *err, size_t errlen);
    /* Runs a call on `conn`; returns false when the connection must be closed. */
    bool (*run)(void *conn, struct na_store_call *call, void *cls);
    /*
     * Optional: asked before a worker takes calls onto `conn`, which has
     * been idle since its last call. False (the server closed it meanwhile:
     * a failover, a restart) and the worker closes it and opens another,
     * the calls waiting in the queue all the while: none is run on, and
     * failed by, a connection known to be gone. Must not block.
     */
    bool (*usable)(void *conn, void *cls);
    /*
     * Optional write groups. groupable() says whether a call may join one;
     * it is called with the pool's lock held, so it only reads the call.
     * run_group() runs a group of 2 to group_max calls, linked through
     * call->next in arrival order, setting each one's outcome; the pool
     * finishes them (done()) afterwards, in that order. Returns false when
     * the connection must be closed.
     */
    bool (*groupable)(const struct na_store_call *call, void *cls);
    bool (*run_group)(void *conn, struct na_store_call *calls, void *cls);
    unsigned group_max; /* 0 or 1: no groups */
    unsigned hold_ms;   /* 0: no holding */
    void (*close)(void *conn, void *cls);
    /*
     * Optional housekeeping: the health lane's worker runs it on its
     * connection every `idle_ms` when no ping is waiting, and again after
     * NA_PGPOOL_IDLE_AGAIN_MS when it sets *more (work left: it does a
     * slice at a time, so a ping never waits long behind it). Returns false
     * when the connection must be closed.
     */
    bool (*idle)(void *conn, void *cls, bool *more);
    unsigned idle_ms;
    void *cls;
    /* Borrowed; NULL: not measured. Item calls' run() times go to its query histogram. */
    struct na_metrics *metrics;
};

struct na_pgpool;

/* Starts the threads; connecting happens in them. NULL if out of memory or threads. */
struct na_pgpool *na_pgpool_start(const struct na_pgpool_config *cfg);

/* Queues `call`; its done() runs on a pool thread (inline once stopped). Any thread. */
void na_pgpool_submit(struct na_pgpool *p, struct na_store_call *call);

struct na_pgpool_stats {
    unsigned size, connected, busy, waiting; /* now */
    unsigned long long acquire_timeouts;     /* since start: calls answered 503 unrun */
    unsigned long long reconnects;           /* item connections opened again */
    unsigned long long errors; /* item calls that failed on their connection (503, 504, 500) */
    unsigned long long groups, grouped; /* groups run, and the calls in them */
    unsigned long long held;            /* groupable calls held for a group when they came */
    unsigned long long reruns; /* calls run again after their connection ended under them */
};

void na_pgpool_stats(struct na_pgpool *p, struct na_pgpool_stats *out);

/* Finishes queued calls as unavailable, lets running ones end, joins the threads. */
void na_pgpool_shutdown(struct na_pgpool *p);

/* Shuts down if needed and frees. NULL is a no-op. */
void na_pgpool_free(struct na_pgpool *p);

#endif
