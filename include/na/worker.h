/*
 * worker: a fixed pool of threads that run long jobs off the event loops.
 *
 * The server uses it for GET /api/cpu/{ms}: the connection is suspended,
 * a worker burns the CPU time and resumes it, so a burn holds none of
 * libmicrohttpd's threads and the requests on them go on being answered.
 * Jobs wait in a bounded FIFO; a full queue refuses the next one (the
 * caller answers 503).
 */
#ifndef NA_WORKER_H
#define NA_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct na_worker;

/*
 * Runs one job: on a worker thread with `cancelled` false, or on
 * na_worker_flush()'s caller with `cancelled` true for a job that never
 * started. A running job should poll *stop (na_worker_stop_flag()) and end
 * early once it is set. Never called with the pool's lock held.
 */
typedef void (*na_worker_fn)(void *cls, bool cancelled);

/* True when a queued job should not run (its client has gone). No lock held. */
typedef bool (*na_worker_early_fn)(void *cls);

/*
 * Starts `threads` workers (at least 1) and a queue of `queue_max` jobs;
 * `early` may be NULL. NULL if out of memory or threads. Caller frees.
 */
struct na_worker *na_worker_new(unsigned threads, size_t queue_max, na_worker_fn fn,
                                na_worker_early_fn early);

/*
 * Takes the queued jobs `early` says yes to out of the queue, and runs
 * each as cancelled on the caller's thread: they give up their place at
 * once. Any thread but a job's.
 */
void na_worker_poke(struct na_worker *w);

/*
 * Queues `cls`. Returns 0, or -1 when the queue is full or after
 * na_worker_flush() (the caller must then answer itself). Any thread.
 */
int na_worker_submit(struct na_worker *w, void *cls);

/* Set once na_worker_flush() has begun: running jobs end early. Borrowed; lives with `w`. */
const atomic_bool *na_worker_stop_flag(const struct na_worker *w);

/* Jobs queued and running. Any thread. */
size_t na_worker_pending(struct na_worker *w);

/*
 * Sets the stop flag, runs every queued job as cancelled, and returns once
 * the running ones have ended; refuses new jobs from then on.
 */
void na_worker_flush(struct na_worker *w);

/* Flushes, joins the threads and frees. NULL is a no-op. */
void na_worker_free(struct na_worker *w);

#endif
