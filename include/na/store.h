/*
 * store: where items live, behind one interface.
 *
 * The embedded in-memory store (the default, seeded with the tutorial's
 * three widgets, not durable) and the PostgreSQL store implement the same
 * operations. Prices are integer cents, so they are exact from storage to
 * JSON (29.99, never 29.989999).
 *
 * A store whose calls may block on I/O sets `blocking`, and the server then
 * keeps those calls off its HTTP worker threads. Stores are thread-safe.
 */
#ifndef NA_STORE_H
#define NA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NA_ITEM_NAME_MAX 200 /* bytes of UTF-8 */

struct na_item {
    int64_t id;
    int64_t price_cents;
    char name[NA_ITEM_NAME_MAX + 1];
};

enum na_store_rc {
    NA_STORE_OK = 0,
    NA_STORE_NOT_FOUND,
    NA_STORE_UNAVAILABLE, /* backend down or timed out: 503 */
    NA_STORE_NOMEM,
};

struct na_store_health {
    bool ok;
    const char *backend; /* the store's own */
    int64_t items;       /* -1 when unknown */
    char detail[160];    /* why not ok, empty when ok */
};

struct na_store;

struct na_store_ops {
    /*
     * Lists up to `limit` items from `offset` in id order into a new array
     * (*items, caller frees with free(); NULL when *count is 0).
     */
    enum na_store_rc (*list)(struct na_store *s, size_t limit, size_t offset,
                             struct na_item **items, size_t *count);
    void (*health)(struct na_store *s, struct na_store_health *out);
    /* Bumped by every write; 0 when the store cannot tell (no caching). */
    uint64_t (*generation)(struct na_store *s);
    void (*free)(struct na_store *s);
};

struct na_store {
    const struct na_store_ops *ops;
    const char *backend; /* static: "memory", "postgres" */
    bool blocking;
};

/* Creates the embedded store with the tutorial's items. NULL if out of memory. */
struct na_store *na_store_memory_new(void);

static inline enum na_store_rc na_store_list(struct na_store *s, size_t limit, size_t offset,
                                             struct na_item **items, size_t *count)
{
    return s->ops->list(s, limit, offset, items, count);
}

static inline void na_store_health(struct na_store *s, struct na_store_health *out)
{
    s->ops->health(s, out);
}

static inline uint64_t na_store_generation(struct na_store *s)
{
    return s->ops->generation(s);
}

static inline void na_store_free(struct na_store *s)
{
    if (s)
        s->ops->free(s);
}

#endif
