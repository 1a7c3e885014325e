/*
 * clock: monotonic and wall time (see include/na/clock.h).
 */
#include "na/clock.h"

uint64_t na_clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t na_clock_after_ms(unsigned ms)
{
    return na_clock_ns() + (uint64_t)ms * 1000000u;
}

double na_clock_ms_since(uint64_t t0)
{
    return (double)(na_clock_ns() - t0) / 1e6;
}

struct timespec na_clock_timespec(uint64_t ns)
{
    struct timespec ts = {
        .tv_sec = (time_t)(ns / 1000000000u),
        .tv_nsec = (long)(ns % 1000000000u),
    };

    return ts;
}

int64_t na_clock_wall_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
