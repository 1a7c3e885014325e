/*
 * fault: parsing and deciding injected faults (see include/na/fault.h).
 */
#include "na/fault.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "na/clock.h"

#define PPM_ALL 1000000u

/* Whole digits only, at most `max_digits` of them; -1 otherwise. */
static long long digits(const char *s, size_t n, size_t max_digits)
{
    long long v = 0;

    if (!n || n > max_digits)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int na_fault_parse_percent(const char *v, uint32_t *ppm)
{
    const char *dot = strchr(v, '.');
    size_t whole_len = dot ? (size_t)(dot - v) : strlen(v);
    long long whole = digits(v, whole_len, 3), frac = 0;
    size_t frac_len = dot ? strlen(dot + 1) : 0;

    if (whole < 0 || frac_len > 4 || (dot && !frac_len))
        return -1;
    if (frac_len) {
        frac = digits(dot + 1, frac_len, 4);
        if (frac < 0)
            return -1;
        for (size_t i = frac_len; i < 4; i++)
            frac *= 10;
    }
    /* 1 % is 10,000 ppm, so its four decimals are ppm. */
    if (whole * 10000 + frac > 100 * 10000)
        return -1;
    *ppm = (uint32_t)(whole * 10000 + frac);
    return 0;
}

int na_fault_parse_delay(const char *v, unsigned *min_ms, unsigned *max_ms)
{
    const char *dash = strchr(v, '-');
    long long lo, hi;

    if (dash) {
        lo = digits(v, (size_t)(dash - v), 5);
        hi = digits(dash + 1, strlen(dash + 1), 5);
    } else {
        lo = hi = digits(v, strlen(v), 5);
    }
    if (lo < 0 || hi < 0 || lo > hi || hi > NA_FAULT_DELAY_MAX_MS)
        return -1;
    *min_ms = (unsigned)lo;
    *max_ms = (unsigned)hi;
    return 0;
}

/* A header value's length without the whitespace after it (RFC 9110 5.5). */
static size_t trimmed(const char *v)
{
    size_t n = strlen(v);

    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n;
}

unsigned na_fault_decide(const struct na_fault_config *cfg, const char *status_header,
                         const char *delay_header, uint64_t random, struct na_fault *out, char *msg,
                         size_t msglen)
{
    struct na_fault f = {0};
    long long n;

    if (status_header) {
        n = digits(status_header, trimmed(status_header), 3);
        if (n < 400 || n > 599) {
            snprintf(msg, msglen, "X-Fault-Status must be a status code from 400 to 599");
            return 400;
        }
        f.status = (unsigned)n;
        f.by_header = true;
    } else if (cfg->error_ppm && (random & 0xffffffffu) % PPM_ALL < cfg->error_ppm) {
        /* The low 32 bits pick whether; bit 32 which one. */
        f.status = (random >> 32) & 1u ? 503 : 500;
    }
    if (delay_header) {
        n = digits(delay_header, trimmed(delay_header), 5);
        if (n < 0 || n > NA_FAULT_DELAY_MAX_MS) {
            snprintf(msg, msglen, "X-Fault-Delay-Ms must be a whole number of ms from 0 to %u",
                     NA_FAULT_DELAY_MAX_MS);
            return 400;
        }
        f.delay_ms = (unsigned)n;
    } else if (cfg->delay_max_ms) {
        /* Bits 33 and up pick the delay. */
        f.delay_ms =
            cfg->delay_min_ms +
            (unsigned)((random >> 33) % ((uint64_t)cfg->delay_max_ms - cfg->delay_min_ms + 1));
    }
    *out = f;
    return 0;
}

/* xorshift64*: fast, and good enough to pick which requests fail. */
uint64_t na_fault_random(void)
{
    static _Thread_local uint64_t state;

    if (!state)
        state = (na_clock_ns() ^ (uint64_t)(uintptr_t)&state) | 1u;
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * UINT64_C(2685821657736338717);
}
