/*
 * encode: the bodies the service answers with.
 *
 * Field names and types are the tutorial's. JSON bodies built once (the
 * item list between writes, /api/info) or rarely use cJSON; the two built on
 * every request at high rates (/health and error bodies) are formatted into
 * caller storage with no allocation. The item routes also answer BSON
 * (libbson; src/encode_bson.c): the same documents, with ids and counts as
 * int64 and prices as doubles, the values JSON readers get.
 */
#ifndef NA_ENCODE_H
#define NA_ENCODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "na/buf.h"
#include "na/store.h"

/* Storage that always fits a /health body or an error body. */
#define NA_ENCODE_SMALL_MAX 1024

/*
 * Writes cents as the JSON number JavaScript would print for the price:
 * 2999 -> 29.99, 3050 -> 30.5, 3000 -> 30. Returns the length.
 */
size_t na_encode_price(int64_t cents, char out[32]);

/* {"items":[{"id","name","price"}...],"count":n}. Caller frees; NULL if out of memory. */
char *na_encode_items(const struct na_item *items, size_t n, size_t *len);

/* {"id","name","price"}. Caller frees; NULL if out of memory. */
char *na_encode_item(const struct na_item *item, size_t *len);

/* The same two documents in BSON. Caller frees with bson_free(); NULL if out of memory. */
uint8_t *na_encode_items_bson(const struct na_item *items, size_t n, size_t *len);
uint8_t *na_encode_item_bson(const struct na_item *item, size_t *len);

struct na_taskmeta;

/*
 * {"service","version","environment","hostname"}, the tutorial's four, and
 * "task":{"cluster","taskArn","family","revision","availabilityZone",
 * "launchType"} when `task` is not NULL (on ECS). Caller frees; NULL if out
 * of memory.
 */
char *na_encode_info(const char *service, const char *version, const char *environment,
                     const char *hostname, const struct na_taskmeta *task, size_t *len);

/*
 * {"status","hostname","uptime":seconds (float),"timestamp":ms since epoch},
 * and "reason" when one is given (may be NULL).
 */
void na_encode_health(struct na_buf *b, const char *status, const char *hostname, double uptime_s,
                      int64_t now_ms, const char *reason);

/* {"error":{"status":N,"message":"..."}}: the one shape of every error body. */
void na_encode_error(struct na_buf *b, unsigned status, const char *message);

struct na_health_report {
    const char *status; /* "healthy", "unhealthy" or "draining" */
    const char *hostname;
    const char *version;
    double uptime_s;
    int64_t timestamp_ms;
    uint64_t in_flight;
    uint64_t connections;
    uint64_t max_connections;
    struct na_store_health store;
    bool store_ok;
    double store_latency_ms;  /* of the round trip, when the store has a pool */
    const char *store_detail; /* why not ok; may be NULL */
    bool memory_ok;
    uint64_t rss_bytes;
    uint64_t charged_bytes;  /* what the container is charged; 0: unknown */
    uint64_t limit_bytes;    /* 0: none */
    uint64_t shed_bytes;     /* 0: none */
    bool failing_on_purpose; /* POST /health/disable: a "toggle" check that fails */
};

/* The /health/detailed document. Caller frees; NULL if out of memory. */
char *na_encode_health_detailed(const struct na_health_report *r, size_t *len);

#endif
