/*
 * timer: fires callbacks at deadlines from one thread of its own.
 *
 * The server uses it to answer /api/delay/{ms}, and to wait out injected
 * delays, without holding a worker thread: the connection is suspended and
 * the timer resumes it when its time comes. Entries sit in a binary heap
 * ordered by deadline. An entry may be fired early, as cancelled: after
 * na_timer_poke(), the timer asks each entry's `early` predicate (the
 * server's: has its client gone?).
 */
#ifndef NA_TIMER_H
#define NA_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct na_timer;

/*
 * Called once per entry: from the timer's thread at its deadline with
 * `cancelled` false, or from na_timer_flush()'s caller with `cancelled`
 * true. Never called with the timer's lock held.
 */
typedef void (*na_timer_fn)(void *cls, bool cancelled);

/* True when the entry should fire now, as cancelled. On the timer's thread; no lock held. */
typedef bool (*na_timer_early_fn)(void *cls);

/*
 * Starts the timer thread; `early` may be NULL. NULL if out of memory or
 * threads. Caller frees.
 */
struct na_timer *na_timer_new(na_timer_fn fn, na_timer_early_fn early);

/*
 * Has the timer's thread ask `early` of every waiting entry, soon, and fire
 * those it says yes to as cancelled. Any thread.
 */
void na_timer_poke(struct na_timer *t);

/*
 * Arms `cls` to fire `delay_ms` from now. Returns 0, or -1 when out of
 * memory or after na_timer_flush() (the caller must then answer itself).
 */
int na_timer_add(struct na_timer *t, unsigned delay_ms, void *cls);

/* Entries still waiting. */
size_t na_timer_pending(struct na_timer *t);

/* Fires every waiting entry now as cancelled, and refuses new ones. */
void na_timer_flush(struct na_timer *t);

/* Flushes, stops the thread and frees. NULL is a no-op. */
void na_timer_free(struct na_timer *t);

#endif
