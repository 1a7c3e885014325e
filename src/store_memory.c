/*
 * store_memory: the embedded item store, a sorted array under a read-write
 * lock.
 *
 * It is the default when no database is configured: the tutorial's
 * simulated data, served with the same rules as the PostgreSQL store, and
 * lost on restart. Calls finish before submit returns.
 */
#include "na/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct memory_store {
    struct na_store base;
    pthread_rwlock_t lock;
    struct na_item *items; /* sorted by id: ids only grow */
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

/* Index of the item with `id`, or -1. Called with the lock held. */
static ptrdiff_t find(const struct memory_store *m, int64_t id)
{
    size_t lo = 0, hi = m->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (m->items[mid].id == id)
            return (ptrdiff_t)mid;
        if (m->items[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void not_found(struct na_store_call *call)
{
    call->rc = NA_STORE_NOT_FOUND;
    snprintf(call->detail, sizeof(call->detail), "item %lld not found", (long long)call->id);
}

static void do_list(struct memory_store *m, struct na_store_call *call)
{
    size_t n = 0;

    pthread_rwlock_rdlock(&m->lock);
    if (call->offset < m->count) {
        n = m->count - call->offset;
        if (n > call->limit)
            n = call->limit;
    }
    if (n) {
        call->items = malloc(n * sizeof(*call->items));
        if (!call->items)
            call->rc = NA_STORE_NOMEM;
        else
            memcpy(call->items, m->items + call->offset, n * sizeof(*call->items));
    }
    call->count = call->items ? n : 0;
    pthread_rwlock_unlock(&m->lock);
}

static void do_get(struct memory_store *m, struct na_store_call *call)
{
    ptrdiff_t i;

    pthread_rwlock_rdlock(&m->lock);
    i = find(m, call->id);
    if (i < 0)
        not_found(call);
    else
        call->result = m->items[i];
    pthread_rwlock_unlock(&m->lock);
}

static void do_create(struct memory_store *m, struct na_store_call *call)
{
    pthread_rwlock_wrlock(&m->lock);
    if (m->count == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        struct na_item *items = realloc(m->items, cap * sizeof(*items));

        if (!items) {
            call->rc = NA_STORE_NOMEM;
            goto out;
        }
        m->items = items;
        m->cap = cap;
    }
    call->result = call->item;
    call->result.id = m->next_id++;
    m->items[m->count++] = call->result;
    atomic_fetch_add(&m->generation, 1);
out:
    pthread_rwlock_unlock(&m->lock);
}

static void do_update(struct memory_store *m, struct na_store_call *call)
{
    ptrdiff_t i;

    pthread_rwlock_wrlock(&m->lock);
    i = find(m, call->id);
    if (i < 0) {
        not_found(call);
    } else {
        m->items[i] = call->item;
        m->items[i].id = call->id;
        call->result = m->items[i];
        atomic_fetch_add(&m->generation, 1);
    }
    pthread_rwlock_unlock(&m->lock);
}

static void do_delete(struct memory_store *m, struct na_store_call *call)
{
    ptrdiff_t i;

    pthread_rwlock_wrlock(&m->lock);
    i = find(m, call->id);
    if (i < 0) {
        not_found(call);
    } else {
        memmove(m->items + i, m->items + i + 1, (m->count - (size_t)i - 1) * sizeof(*m->items));
        m->count--;
        atomic_fetch_add(&m->generation, 1);
    }
    pthread_rwlock_unlock(&m->lock);
}

static void mem_submit(struct na_store *s, struct na_store_call *call)
{
    struct memory_store *m = from(s);

    switch (call->op) {
    case NA_STORE_LIST:
        do_list(m, call);
        break;
    case NA_STORE_GET:
        do_get(m, call);
        break;
    case NA_STORE_CREATE:
        do_create(m, call);
        break;
    case NA_STORE_UPDATE:
        do_update(m, call);
        break;
    case NA_STORE_DELETE:
        do_delete(m, call);
        break;
    case NA_STORE_PING:
        break;
    }
    call->done(call);
}

static void mem_health(struct na_store *s, struct na_store_health *out)
{
    struct memory_store *m = from(s);

    memset(out, 0, sizeof(*out));
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
    .submit = mem_submit,
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
    m->cap = 16;
    m->items = malloc(m->cap * sizeof(*m->items));
    if (!m->items || pthread_rwlock_init(&m->lock, NULL)) {
        free(m->items);
        free(m);
        return NULL;
    }
    memcpy(m->items, seed, sizeof(seed));
    m->count = n;
    m->next_id = (int64_t)n + 1;
    /* Generations start at 1: 0 means "cannot cache" to callers. */
    atomic_init(&m->generation, 1);
    m->base.ops = &memory_ops;
    m->base.backend = "memory";
    m->base.blocking = false;
    return &m->base;
}
