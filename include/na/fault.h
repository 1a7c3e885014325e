/*
 * fault: faults injected on purpose, for load tests and rehearsals
 * (ENABLE_LOADTEST_ROUTES=1 only).
 *
 * By configuration, FAULT_ERROR_PERCENT of the API's requests are answered
 * 500 or 503 (one or the other at random), and FAULT_DELAY_MS ("min-max",
 * or one number) adds a random latency to each; per request, the headers
 * X-Fault-Status (400 to 599) and X-Fault-Delay-Ms (0 to NA_FAULT_DELAY_MAX_MS)
 * ask for one, and win over the configuration.
 *
 * A fault is decided before the request runs and takes its place: a request
 * answered with an injected error did nothing (so an injected 503 is as
 * honest as any other: retry), and a delayed request runs once its delay is
 * over. The caller applies faults to the API routes only, never to the
 * health checks.
 *
 * Pure functions, but for na_fault_random()'s per-thread state: any thread.
 */
#ifndef NA_FAULT_H
#define NA_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest delay a fault may add: /api/delay's bound. */
#define NA_FAULT_DELAY_MAX_MS 30000u

struct na_fault_config {
    uint32_t error_ppm; /* FAULT_ERROR_PERCENT in parts per million: 0..1000000 */
    unsigned delay_min_ms, delay_max_ms;
};

/* What is done to one request. */
struct na_fault {
    unsigned status;   /* answer this instead of running it; 0: run it */
    unsigned delay_ms; /* wait this long first; 0: none */
    bool by_header;    /* the status was asked for by X-Fault-Status, not configured */
};

/*
 * Parses FAULT_ERROR_PERCENT: a number from 0 to 100 with at most four
 * decimals ("2.5"). Returns 0 and sets *ppm, or -1.
 */
int na_fault_parse_percent(const char *v, uint32_t *ppm);

/*
 * Parses FAULT_DELAY_MS: "min-max" or "n" (min = max = n), whole ms, with
 * min <= max <= NA_FAULT_DELAY_MAX_MS. Returns 0 and sets both, or -1.
 */
int na_fault_parse_delay(const char *v, unsigned *min_ms, unsigned *max_ms);

/*
 * Decides one request's faults from the configuration, the request's
 * X-Fault-Status and X-Fault-Delay-Ms values (NULL when absent) and 64
 * random bits (na_fault_random(); tests pass their own). Returns 0 and
 * fills *out, or 400 with `msg` naming the malformed header (*out is then
 * untouched).
 */
unsigned na_fault_decide(const struct na_fault_config *cfg, const char *status_header,
                         const char *delay_header, uint64_t random, struct na_fault *out, char *msg,
                         size_t msglen);

/* 64 random bits from the calling thread's own generator (not for secrets). */
uint64_t na_fault_random(void);

#endif
