/*
 * quota: a shared byte budget (see include/na/quota.h).
 */
#include "na/quota.h"

void na_quota_init(struct na_quota *q, uint64_t cap)
{
    atomic_init(&q->used, 0);
    q->cap = cap;
}

bool na_quota_take(struct na_quota *q, uint64_t n)
{
    uint64_t cur = atomic_load_explicit(&q->used, memory_order_relaxed);

    do {
        if (n > q->cap || cur > q->cap - n)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&q->used, &cur, cur + n, memory_order_relaxed,
                                                    memory_order_relaxed));
    return true;
}

void na_quota_give(struct na_quota *q, uint64_t n)
{
    atomic_fetch_sub_explicit(&q->used, n, memory_order_relaxed);
}

uint64_t na_quota_used(const struct na_quota *q)
{
    return atomic_load_explicit(&q->used, memory_order_relaxed);
}
