/*
 * quota: a byte budget shared by threads, such as the memory plan's body
 * and response pools: takers reserve before they allocate and give back
 * when they free, so what all connections hold at once stays within `cap`
 * whatever each asks for. Lock-free; any thread.
 */
#ifndef NA_QUOTA_H
#define NA_QUOTA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct na_quota {
    atomic_uint_fast64_t used;
    uint64_t cap;
};

void na_quota_init(struct na_quota *q, uint64_t cap);

/* Reserves `n` bytes; false (and nothing reserved) when that would pass the cap. */
bool na_quota_take(struct na_quota *q, uint64_t n);

/* Gives back `n` bytes taken before. */
void na_quota_give(struct na_quota *q, uint64_t n);

uint64_t na_quota_used(const struct na_quota *q);

#endif
