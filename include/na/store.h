/*
 * store: where items live, behind one interface.
 *
 * The embedded in-memory store (the default, seeded with the tutorial's
 * three widgets, not durable) and the PostgreSQL store implement the same
 * operations with the same rules. Prices are integer cents, so they are
 * exact from storage to JSON (29.99, never 29.989999).
 *
 * Work is submitted as a call and finished through its done() callback,
 * exactly once. A store that may block on I/O sets `blocking`: it runs
 * calls on threads of its own and finishes them there, so the server
 * suspends the connection meanwhile instead of holding an HTTP thread. A
 * non-blocking store finishes every call before submit returns.
 */
#ifndef NA_STORE_H
#define NA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NA_ITEM_NAME_MAX 200 /* bytes of UTF-8 */
/* Prices at most 999,999,999,999.99: they fit numeric(14,2) and a double exactly. */
#define NA_PRICE_MAX_CENTS INT64_C(99999999999999)

struct na_item {
    int64_t id;
    int64_t price_cents;
    char name[NA_ITEM_NAME_MAX + 1];
};

enum na_store_op {
    NA_STORE_LIST,   /* in: limit, offset; out: items, count */
    NA_STORE_GET,    /* in: id; out: result */
    NA_STORE_CREATE, /* in: item (name, price); out: result with its id */
    NA_STORE_UPDATE, /* in: id, item; out: result */
    NA_STORE_DELETE, /* in: id */
    NA_STORE_PING,   /* a round trip to the backend; out: latency_ms */
};

/*
 * How a call ended. UNAVAILABLE means the work certainly did not happen
 * (a retry is safe: 503); UNKNOWN means a write was sent and no answer
 * came (it may have committed: 504, and a retry is safe only with the same
 * Idempotency-Key).
 */
enum na_store_rc {
    NA_STORE_OK = 0,
    NA_STORE_NOT_FOUND,
    NA_STORE_UNAVAILABLE, /* down, no free connection in time, stopping, rolled back: 503 */
    NA_STORE_UNKNOWN,     /* a write sent, its outcome unknown: 504 */
    NA_STORE_KEY_BUSY,    /* the Idempotency-Key's first request is still running: 409 */
    NA_STORE_KEY_REUSED,  /* the Idempotency-Key was used for another request: 422 */
    NA_STORE_CONFLICT,    /* refused by a constraint of the data (a retry cannot help): 409 */
    NA_STORE_FULL,        /* the embedded store holds its MEMORY_STORE_MAX_ITEMS: 507 */
    NA_STORE_NOMEM,
    NA_STORE_ERROR, /* anything else the backend reported: 500 */
};

#define NA_IDEM_KEY_MAX 255
#define NA_IDEM_HEX     65 /* a SHA-256 in hex, with its NUL */

/*
 * An Idempotency-Key on a write (see include/na/idem.h). The store keeps
 * it with the request's fingerprint and the outcome, committed together
 * with the write itself, for ttl_s: a repeat of the same request gets the
 * same outcome without writing again (call->replayed), another request
 * under the same key gets KEY_REUSED, and one that comes while the first
 * still runs gets KEY_BUSY. Keys are kept per scope, so one caller can
 * never read another's outcomes.
 */
struct na_idem {
    char key[NA_IDEM_KEY_MAX + 1]; /* "": the write has no key */
    char scope[NA_IDEM_HEX];       /* who: SHA-256 of the API key presented */
    char fingerprint[NA_IDEM_HEX]; /* what: SHA-256 of the method, path and item */
    unsigned ttl_s;
};

struct na_store_call {
    enum na_store_op op;

    /* Input. */
    int64_t id;
    size_t limit, offset;
    struct na_item item;
    unsigned deadline_ms; /* PING: its own deadline; 0: the store's */
    /*
     * na_clock_ns() when the work arrived: a blocking store bounds the wait
     * for a connection from it. 0: na_store_submit() sets it to now.
     */
    uint64_t arrived_ns;
    struct na_idem idem; /* CREATE, UPDATE, DELETE */

    /* Output, valid in done(). */
    enum na_store_rc rc;
    bool replayed;         /* the outcome is the one stored with idem.key, not a new write */
    struct na_item *items; /* LIST: caller frees with free() */
    size_t count;
    struct na_item result;
    double latency_ms;
    char detail[160]; /* why rc is not OK; never holds secrets */

    /* Called once, from the store's thread when it is blocking. */
    void (*done)(struct na_store_call *call);
    void *cls;

    /* The store's own. */
    struct na_store_call *next;
    bool groupable; /* a blocking store's pool may run it in a write group */
    bool not_run;   /* failed, certainly not run, on a connection now gone */
    unsigned char reruns;
};

struct na_store_health {
    const char *backend; /* the store's own */
    int64_t items;       /* -1 when unknown */
    bool has_pool;
    unsigned pool_size, pool_connected, pool_busy, pool_waiting;
    unsigned long long pool_acquire_timeouts, pool_reconnects; /* since start */
    unsigned long long pool_errors; /* calls that failed on their connection, since start */
    unsigned long long write_groups, writes_grouped; /* writes committed together, since start */
    unsigned long long writes_held; /* held for the write group ahead, since start */
    unsigned long long reruns;      /* calls run again after their backend ended, since start */
    unsigned long long coalesced;   /* reads that shared another's query, since start */
};

struct na_store;

struct na_store_ops {
    void (*submit)(struct na_store *s, struct na_store_call *call);
    /* A snapshot that never blocks: no round trip (use a PING call for that). */
    void (*health)(struct na_store *s, struct na_store_health *out);
    /* Bumped by every write; 0 when the store cannot tell (no caching). */
    uint64_t (*generation)(struct na_store *s);
    /* Finishes queued calls as unavailable and waits for running ones. */
    void (*shutdown)(struct na_store *s);
    void (*free)(struct na_store *s);
};

struct na_store {
    const struct na_store_ops *ops;
    const char *backend; /* static: "memory", "postgres" */
    bool blocking;
};

/*
 * Creates the embedded store with the tutorial's items, holding at most
 * `max_items` items (a create beyond it fails with NA_STORE_FULL) and
 * `max_keys` Idempotency-Keys. NULL if out of memory.
 */
struct na_store *na_store_memory_new(size_t max_items, size_t max_keys);

/* The most memory the embedded store takes at those caps, for the memory plan. */
uint64_t na_store_memory_bytes(size_t max_items, size_t max_keys);

struct na_config;

struct na_metrics;

/*
 * Creates the PostgreSQL store for cfg->database_url and starts its pool,
 * which connects in the background (the service starts even while the
 * database is down). `cfg` and `metrics` (NULL: queries not timed) are
 * borrowed for the store's life. NULL if out of memory or threads.
 */
struct na_store *na_store_pg_new(const struct na_config *cfg, struct na_metrics *metrics);

/*
 * Submits `call`; call->done runs exactly once. Clears the output fields
 * first, and stamps arrived_ns when it is 0.
 */
void na_store_submit(struct na_store *s, struct na_store_call *call);

static inline void na_store_health(struct na_store *s, struct na_store_health *out)
{
    s->ops->health(s, out);
}

static inline uint64_t na_store_generation(struct na_store *s)
{
    return s->ops->generation(s);
}

static inline void na_store_shutdown(struct na_store *s)
{
    if (s && s->ops->shutdown)
        s->ops->shutdown(s);
}

static inline void na_store_free(struct na_store *s)
{
    if (s)
        s->ops->free(s);
}

/* The name of an op, for logs. */
const char *na_store_op_name(enum na_store_op op);

#endif
