/*
 * handlers: turn a routed request into a reply.
 *
 * A reply is the status, the body and the few headers a handler decides
 * (Allow, Location, Retry-After, WWW-Authenticate, Idempotent-Replayed). The server adds the
 * rest (Content-Type, X-Request-Id, Connection) when it turns the reply
 * into a response. Errors of every kind, here and in the server, go
 * through na_reply_error(), which writes the one error shape
 * {"error":{"status","message"}}.
 *
 * The server calls, per request:
 *   na_handle_precheck()  once the headers are in: answers at once what
 *                         needs no body (404, 405, 401, 403, 406, 415, 400
 *                         for a bad id or query), so no unwanted body is
 *                         ever buffered;
 *   na_handle()           once the body is in.
 * A reply may be deferred (reply->defer): until a timer fires (the
 * load-testing delay), or until a store call finishes, on the store's
 * thread when the store blocks. The handler then fills the reply and calls
 * req->resume(req), which the server provides.
 */
#ifndef NA_HANDLERS_H
#define NA_HANDLERS_H

#include <stdbool.h>
#include <stddef.h>

#include "na/app.h"
#include "na/encode.h"
#include "na/negotiate.h"
#include "na/router.h"

/* Upper bound of /api/delay/{ms}. */
#define NA_DELAY_MAX_MS 30000u

enum na_defer {
    NA_DEFER_NONE = 0,
    NA_DEFER_TIMER, /* answer after delay_ms */
    NA_DEFER_STORE, /* answer when req->call finishes: submit it */
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
    char allow[64];         /* non-empty: Allow header */
    char location[48];      /* non-empty: Location header */
    char storage[NA_ENCODE_SMALL_MAX];
};

enum na_lookup { NA_LOOKUP_HEADER, NA_LOOKUP_QUERY };

struct na_request {
    struct na_app *app;
    enum na_method method;
    const char *method_name; /* as sent */
    const char *path;        /* decoded, without the query string */
    struct na_match match;
    const char *body; /* the whole body, for routes that take one */
    size_t body_len;
    enum na_format format; /* negotiated by the precheck (item routes) */
    int64_t id;            /* /api/items/{id}, parsed by the precheck */
    size_t limit, offset;  /* GET /api/items, parsed by the precheck */

    /* The server's: header and query lookups, valid for the request. */
    const char *(*lookup)(const struct na_request *req, enum na_lookup kind, const char *name);
    void (*resume)(struct na_request *req);
    void *server_cls;

    struct na_reply *reply;    /* where every reply goes */
    struct na_store_call call; /* a deferred store call */
    uint64_t cache_generation; /* the list cache's key for this call; 0: none */
};

/* Empties a reply for reuse (does not release a previous body). */
void na_reply_reset(struct na_reply *r);

/* Releases the body if the reply still owns it. */
void na_reply_release(struct na_reply *r);

/* Makes `r` an error reply: the JSON error body in r->storage. */
void na_reply_error(struct na_reply *r, unsigned status, const char *message);

/*
 * Makes `r` a store failure: 404; 503 with Retry-After (certainly not done,
 * retry); 504 (a write whose outcome is unknown); 409 with Retry-After or
 * 422 (Idempotency-Key in use, or used for another request); or 500.
 */
void na_reply_store_error(struct na_reply *r, const struct na_store_call *call);

/* True when the request is answered without its body: req->reply holds the answer. */
bool na_handle_precheck(struct na_request *req);

/* True when the server should buffer this request's body for na_handle(). */
bool na_handle_takes_body(const struct na_request *req);

/* Fills req->reply, or defers it (reply->defer). */
void na_handle(struct na_request *req);

/* The item routes (handlers_items.c). */
bool na_items_precheck(struct na_request *req);
void na_items_handle(struct na_request *req);

#endif
