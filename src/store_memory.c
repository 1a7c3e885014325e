/*
 * store_memory: the embedded item store, an array under a read-write lock.
 *
 * It is the default when no database is configured: the tutorial's
 * simulated data, served the same way the PostgreSQL store serves it, and
 * lost on restart.
 */
#include "na/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct memory_store {
    struct na_store base;
    pthread_rwlock_t lock;
    struct na_item *items; /* sorted by id */
    size_t count, cap;
    int64_t next_id;
    atomic_uint_fast64_t generation;
};

static const struct na_item seed[] = {
    {.id = 1, .name = "Widget A", .price_cents = 2999},
    {.id = 2, .name = "Widget B", .price_cents = 4999},
    {.id = 3, .name = "Widget C", .price_cents = 1999},
};

static struct memory_store *from(struct na_store *s)
{
    return (struct memory_store *)s;
}

static enum na_store_rc mem_list(struct na_store *s, size_t limit, size_t offset,
                                 struct na_item **items, size_t *count)
{
    struct memory_store *m = from(s);
    enum na_store_rc rc = NA_STORE_OK;
    struct na_item *out = NULL;
    size_t n = 0;

    pthread_rwlock_rdlock(&m->lock);
    if (offset < m->count) {
        n = m->count - offset;
        if (n > limit)
            n = limit;
    }
    if (n) {
        out = malloc(n * sizeof(*out));
        if (!out) {
            rc = NA_STORE_NOMEM;
            goto out;
        }
        memcpy(out, m->items + offset, n * sizeof(*out));
    }
    *items = out;
    *count = n;
out:
    pthread_rwlock_unlock(&m->lock);
    return rc;
}

static void mem_health(struct na_store *s, struct na_store_health *out)
{
    struct memory_store *m = from(s);

    memset(out, 0, sizeof(*out));
    out->ok = true;
    out->backend = s->backend;
    pthread_rwlock_rdlock(&m->lock);
    out->items = (int64_t)m->count;
    pthread_rwlock_unlock(&m->lock);
}

static uint64_t mem_generation(struct na_store *s)
{
    return atomic_load_explicit(&from(s)->generation, memory_order_acquire);
}

static void mem_free(struct na_store *s)
{
    struct memory_store *m = from(s);

    pthread_rwlock_destroy(&m->lock);
    free(m->items);
    free(m);
}

static const struct na_store_ops memory_ops = {
    .list = mem_list,
    .health = mem_health,
    .generation = mem_generation,
    .free = mem_free,
};

struct na_store *na_store_memory_new(void)
{
    struct memory_store *m = calloc(1, sizeof(*m));
    size_t n = sizeof(seed) / sizeof(seed[0]);

    if (!m)
        return NULL;
    m->items = malloc(n * sizeof(*m->items));
    if (!m->items || pthread_rwlock_init(&m->lock, NULL)) {
        free(m->items);
        free(m);
        return NULL;
    }
    memcpy(m->items, seed, sizeof(seed));
    m->count = m->cap = n;
    m->next_id = (int64_t)n + 1;
    /* Generations start at 1: 0 means "cannot cache" to callers. */
    atomic_init(&m->generation, 1);
    m->base.ops = &memory_ops;
    m->base.backend = "memory";
    m->base.blocking = false;
    return &m->base;
}
