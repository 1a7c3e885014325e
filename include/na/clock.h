/*
 * clock: the two clocks the service reads.
 *
 * Deadlines, timeouts and durations use the monotonic clock in
 * nanoseconds, which never jumps with NTP; condition variables that wait
 * on them are created with CLOCK_MONOTONIC. Timestamps people read use the
 * wall clock, in milliseconds like JavaScript's Date.now().
 */
#ifndef NA_CLOCK_H
#define NA_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t na_clock_ns(void);

/* The monotonic time `ms` milliseconds from now. */
uint64_t na_clock_after_ms(unsigned ms);

/* Milliseconds elapsed since `t0` (from na_clock_ns()). */
double na_clock_ms_since(uint64_t t0);

/* A monotonic time as a timespec, for pthread_cond_timedwait. */
struct timespec na_clock_timespec(uint64_t ns);

/* Milliseconds since the epoch, like Date.now(). */
int64_t na_clock_wall_ms(void);

#endif
