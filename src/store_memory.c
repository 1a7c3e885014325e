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

#include "na/clock.h"

/*
 * An Idempotency-Key and the outcome it keeps. Every key lives for the
 * same TTL, so keys expire in the order they were made: they sit in a ring
 * in that order, and expired ones leave from its head; a hash of chains
 * (indexes into the ring, 0 for none) finds one by scope and key.
 */
struct key_entry {
    uint64_t expires_ns;
    uint32_t next; /* 1 + the ring index of the next entry in the chain; 0: none */
    enum na_store_rc rc;
    struct na_item item;
    char scope[NA_IDEM_HEX], fingerprint[NA_IDEM_HEX];
    char key[NA_IDEM_KEY_MAX + 1];
};

struct key_table {
    struct key_entry *ring; /* `cap` entries, allocated at the first key */
    uint32_t *buckets;      /* chain heads, as in key_entry.next */
    size_t cap, nbuckets, head, count;
};

struct memory_store {
    struct na_store base;
    pthread_rwlock_t lock;
    struct na_item *items; /* sorted by id: ids only grow */
    size_t count, cap, max_items;
    int64_t next_id;
    atomic_uint_fast64_t generation;
    struct key_table keys;
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

/* The writes: called with the write lock held. */
static void do_create(struct memory_store *m, struct na_store_call *call)
{
    if (m->count >= m->max_items) {
        /* Growing without bound would end in shedding, then in an OOM kill: say so instead. */
        call->rc = NA_STORE_FULL;
        snprintf(call->detail, sizeof(call->detail),
                 "the embedded store is full: %zu items (MEMORY_STORE_MAX_ITEMS); delete some, "
                 "or use DATABASE_URL",
                 m->max_items);
        return;
    }
    if (m->count == m->cap) {
        size_t cap = 2 * m->cap > m->max_items ? m->max_items : 2 * m->cap;
        struct na_item *items = realloc(m->items, cap * sizeof(*items));

        if (!items) {
            call->rc = NA_STORE_NOMEM;
            return;
        }
        m->items = items;
        m->cap = cap;
    }
    call->result = call->item;
    call->result.id = m->next_id++;
    m->items[m->count++] = call->result;
    atomic_fetch_add(&m->generation, 1);
}

static void do_update(struct memory_store *m, struct na_store_call *call)
{
    ptrdiff_t i = find(m, call->id);

    if (i < 0) {
        not_found(call);
    } else {
        m->items[i] = call->item;
        m->items[i].id = call->id;
        call->result = m->items[i];
        atomic_fetch_add(&m->generation, 1);
    }
}

static void do_delete(struct memory_store *m, struct na_store_call *call)
{
    ptrdiff_t i = find(m, call->id);

    if (i < 0) {
        not_found(call);
    } else {
        memmove(m->items + i, m->items + i + 1, (m->count - (size_t)i - 1) * sizeof(*m->items));
        m->count--;
        atomic_fetch_add(&m->generation, 1);
    }
}

/* ---- Idempotency-Keys --------------------------------------------------- */

/* Chain heads for `max_keys`: a power of two, twice as many, so chains stay short. */
static size_t buckets_for(size_t max_keys)
{
    size_t n = 1;

    while (n < 2 * max_keys)
        n *= 2;
    return n;
}

static size_t key_hash(const struct key_table *t, const char *scope, const char *key)
{
    uint64_t h = UINT64_C(1469598103934665603);

    for (const char *p = scope; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * UINT64_C(1099511628211);
    return (size_t)(h & (t->nbuckets - 1));
}

/* Drops expired keys from the ring's head, unlinking each from its chain. */
static void keys_expire(struct key_table *t, uint64_t now)
{
    while (t->count && t->ring[t->head].expires_ns <= now) {
        struct key_entry *e = &t->ring[t->head];
        uint32_t *link = &t->buckets[key_hash(t, e->scope, e->key)];

        while (*link != t->head + 1)
            link = &t->ring[*link - 1].next;
        *link = e->next;
        t->head = (t->head + 1) % t->cap;
        t->count--;
    }
}

static struct key_entry *keys_find(struct key_table *t, const struct na_idem *k)
{
    if (!t->ring)
        return NULL;
    for (uint32_t i = t->buckets[key_hash(t, k->scope, k->key)]; i; i = t->ring[i - 1].next) {
        struct key_entry *e = &t->ring[i - 1];

        if (!strcmp(e->key, k->key) && !strcmp(e->scope, k->scope))
            return e;
    }
    return NULL;
}

/* Records the outcome of a write just done under the key. */
static void keys_add(struct key_table *t, const struct na_store_call *call, uint64_t now)
{
    size_t i = (t->head + t->count) % t->cap;
    struct key_entry *e = &t->ring[i];
    uint32_t *chain = &t->buckets[key_hash(t, call->idem.scope, call->idem.key)];

    e->expires_ns = now + (uint64_t)call->idem.ttl_s * 1000000000u;
    e->rc = call->rc;
    e->item = call->result;
    memcpy(e->scope, call->idem.scope, sizeof(e->scope));
    memcpy(e->fingerprint, call->idem.fingerprint, sizeof(e->fingerprint));
    memcpy(e->key, call->idem.key, sizeof(e->key));
    e->next = *chain;
    *chain = (uint32_t)i + 1;
    t->count++;
}

/*
 * Before a keyed write: true when the call is answered from the table (a
 * replay, another request's key, or no room for a new key). Called with
 * the write lock held.
 */
static bool keys_answer(struct memory_store *m, struct na_store_call *call, uint64_t now)
{
    struct key_table *t = &m->keys;
    struct key_entry *e;

    if (!t->ring) {
        t->nbuckets = buckets_for(t->cap);
        /* calloc: pages are only touched, and resident, as keys arrive. */
        t->ring = calloc(t->cap, sizeof(*t->ring));
        t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
        if (!t->ring || !t->buckets) {
            free(t->ring);
            free(t->buckets);
            t->ring = NULL;
            t->buckets = NULL;
            call->rc = NA_STORE_NOMEM;
            return true;
        }
    }
    keys_expire(t, now);
    e = keys_find(t, &call->idem);
    if (e && strcmp(e->fingerprint, call->idem.fingerprint)) {
        call->rc = NA_STORE_KEY_REUSED;
    } else if (e) {
        call->rc = e->rc;
        call->result = e->item;
        call->replayed = true;
        if (e->rc == NA_STORE_NOT_FOUND)
            not_found(call);
    } else if (t->count == t->cap) {
        /* Dropping a live key could let a retry write twice: refuse instead. */
        call->rc = NA_STORE_UNAVAILABLE;
        snprintf(call->detail, sizeof(call->detail),
                 "too many Idempotency-Keys held (IDEMPOTENCY_MAX_KEYS), retry later");
    } else {
        return false;
    }
    return true;
}

static void do_write(struct memory_store *m, struct na_store_call *call)
{
    bool keyed = call->idem.key[0] != '\0';
    uint64_t now = keyed ? na_clock_ns() : 0;

    pthread_rwlock_wrlock(&m->lock);
    if (keyed && keys_answer(m, call, now))
        goto out;
    if (call->op == NA_STORE_CREATE)
        do_create(m, call);
    else if (call->op == NA_STORE_UPDATE)
        do_update(m, call);
    else
        do_delete(m, call);
    /* What a repeat gets: the outcome of the work done, not a failure to do it. */
    if (keyed && (call->rc == NA_STORE_OK || call->rc == NA_STORE_NOT_FOUND))
        keys_add(&m->keys, call, now);
out:
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
    case NA_STORE_UPDATE:
    case NA_STORE_DELETE:
        do_write(m, call);
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
    free(m->keys.ring);
    free(m->keys.buckets);
    free(m);
}

static const struct na_store_ops memory_ops = {
    .submit = mem_submit,
    .health = mem_health,
    .generation = mem_generation,
    .free = mem_free,
};

uint64_t na_store_memory_bytes(size_t max_items, size_t max_keys)
{
    return (uint64_t)max_items * sizeof(struct na_item) +
           (uint64_t)max_keys * sizeof(struct key_entry) +
           (uint64_t)buckets_for(max_keys) * sizeof(uint32_t);
}

struct na_store *na_store_memory_new(size_t max_items, size_t max_keys)
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
    m->keys.cap = max_keys ? max_keys : 1;
    m->max_items = max_items > n ? max_items : n;
    /* Generations start at 1: 0 means "cannot cache" to callers. */
    atomic_init(&m->generation, 1);
    m->base.ops = &memory_ops;
    m->base.backend = "memory";
    m->base.blocking = false;
    return &m->base;
}
