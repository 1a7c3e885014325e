/*
 * reply: what a request is answered with, before it becomes a response.
 *
 * A reply is the status, the body and the few headers a handler decides
 * (Allow, Location, Retry-After, WWW-Authenticate, Idempotent-Replayed).
 * The server adds the rest (Content-Type, X-Request-Id, Connection) when it
 * turns the reply into a response. Errors of every kind, in the handlers
 * and in the server, go through na_reply_error(), which writes the one
 * error shape {"error":{"status","message"}}.
 *
 * It sits below both of its callers, so neither calls up a layer to
 * answer. A reply belongs to one request at a time and is used from the
 * thread that holds that request.
 */
#ifndef NA_REPLY_H
#define NA_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "na/encode.h"
#include "na/store.h"

enum na_defer {
    NA_DEFER_NONE = 0,
    NA_DEFER_TIMER, /* answer after delay_ms */
    NA_DEFER_STORE, /* answer when req->call finishes: submit it */
    NA_DEFER_WORK,  /* answer once req->work has run on a worker thread: queue it */
};

/*
 * POST /api/echo: header names asked for and field lines echoed back, at
 * most; and their bytes (names and values, with the echoed Content-Type).
 */
#define NA_ECHO_HEADERS_MAX 16u
#define NA_ECHO_BYTES_MAX   2048u

/* A request header to send back as X-Echo-<name>: both borrowed from the request. */
struct na_echo_header {
    const char *name; /* not NUL-terminated: name_len bytes */
    size_t name_len;
    const char *value;
};

struct na_reply {
    unsigned status;
    /*
     * The body. It stays valid until `release(release_cls)` is called, or,
     * when release is NULL, for as long as the reply itself (static text,
     * or `storage` below).
     */
    const char *body;
    size_t len;
    const char *content_type; /* NULL: application/json; charset=utf-8 */
    void (*release)(void *cls);
    void *release_cls;
    enum na_defer defer;
    unsigned delay_ms;
    unsigned retry_after_s; /* > 0: Retry-After header */
    bool challenge;         /* WWW-Authenticate: Bearer */
    bool replayed;          /* Idempotent-Replayed: true (a stored outcome) */
    bool shared;            /* the body is shared (a cache's): not counted per response */
    bool vary_accept;       /* Vary: Accept (the body was negotiated) */
    /*
     * The body is `len` bytes of the payload pattern (na_reply_pattern()),
     * generated as it is sent; `body` is NULL. No ETag: it is no JSON.
     */
    bool pattern;
    unsigned echo_count;
    struct na_echo_header echo[NA_ECHO_HEADERS_MAX];
    char allow[64];    /* non-empty: Allow header */
    char location[48]; /* non-empty: Location header */
    char storage[NA_ENCODE_SMALL_MAX];
};

/*
 * Writes the payload pattern's bytes from `pos` on into `buf` (`max` of
 * them): a 64-byte line of digits and letters, repeated, so any slice of
 * it can be checked. Returns `max`.
 */
size_t na_reply_pattern(uint64_t pos, char *buf, size_t max);

/* Empties a reply for reuse (does not release a previous body). */
void na_reply_reset(struct na_reply *r);

/* Releases the body if the reply still owns it. */
void na_reply_release(struct na_reply *r);

/*
 * Points `b` at r->storage and makes it r's body with `status`: the
 * handler then encodes into `b` and sets r->len to b->len.
 */
void na_reply_buf(struct na_reply *r, struct na_buf *b, unsigned status);

/* Makes `r` an error reply: the JSON error body in r->storage. */
void na_reply_error(struct na_reply *r, unsigned status, const char *message);

/*
 * Makes `r` a store failure: 404; 503 with Retry-After (certainly not done,
 * retry); 504 (a write whose outcome is unknown); 409 with Retry-After or
 * 422 (Idempotency-Key in use, or used for another request); or 500.
 */
void na_reply_store_error(struct na_reply *r, const struct na_store_call *call);

/*
 * Writes a whole HTTP/1.1 response into `out`, to be sent straight on a
 * socket where libmicrohttpd cannot answer (a head too large for its pool,
 * a connection over the limit, one past its deadline): `status` with the
 * error shape for `message`, Connection: close, X-Request-Id when
 * `request_id` is not NULL, Retry-After when `retry_after_s` is not 0, and
 * the body unless `head_only`. `body`, when not NULL, replaces the error
 * shape (a health answer). Returns its length, or 0 if it does not fit.
 */
size_t na_reply_raw(unsigned status, const char *message, const char *body, size_t body_len,
                    const char *request_id, unsigned retry_after_s, bool head_only, char *out,
                    size_t cap);

#endif
