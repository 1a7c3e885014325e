/*
 * handlers: turn a routed request into a reply (include/na/reply.h).
 *
 * The server calls, per request:
 *   na_handle_precheck()  once the headers are in: answers at once what
 *                         needs no body (404, 405, 401, 403, 406, 415, 400
 *                         for a bad id or query), so no unwanted body is
 *                         ever buffered;
 *   na_handle()           once the body is in.
 * A reply may be deferred (reply->defer): until a timer fires (the
 * load-testing delay), until a store call finishes, on the store's thread
 * when the store blocks, or until req->work has run on a worker thread
 * (/api/cpu). The handler's completion then fills the reply and calls
 * req->resume(req), which the server provides (for work, the server resumes
 * once req->work returns).
 */
#ifndef NA_HANDLERS_H
#define NA_HANDLERS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "na/app.h"
#include "na/fault.h"
#include "na/negotiate.h"
#include "na/reply.h"
#include "na/router.h"

/* Upper bounds of the load-testing routes' parameters. */
#define NA_DELAY_MAX_MS      30000u                /* /api/delay/{ms} */
#define NA_CPU_MAX_MS        10000u                /* /api/cpu/{ms} */
#define NA_PAYLOAD_MAX_BYTES (16u * 1024u * 1024u) /* /api/payload/{bytes} */

enum na_lookup { NA_LOOKUP_HEADER, NA_LOOKUP_QUERY };

struct na_request {
    struct na_app *app;
    enum na_method method;
    const char *method_name; /* as sent */
    const char *path;        /* decoded, without the query string */
    struct na_match match;
    const char *body; /* the whole body, for routes that take one; valid until the answer
                       * is sent (a reply may point into it) */
    size_t body_len;
    enum na_format format; /* negotiated by the precheck (item routes) */
    int64_t id;            /* /api/items/{id}, parsed by the precheck */
    size_t limit, offset;  /* GET /api/items, parsed by the precheck */
    /*
     * A load-testing route's number parameter, read by the precheck; and the
     * faults decided for this request by the precheck (ENABLE_LOADTEST_ROUTES):
     * the server waits fault.delay_ms before na_handle(), which answers
     * fault.status instead of running the request.
     */
    uint64_t amount;
    struct na_fault fault;
    bool fault_answered; /* fault.status was answered in the request's place */
    /*
     * NA_DEFER_WORK: what runs on a worker thread, then fills the reply. It
     * polls *stop (the server stopping) and *gone (its client has left) and
     * answers 503 once either is set.
     */
    void (*work)(struct na_request *req, const atomic_bool *stop, const atomic_bool *gone);

    /* The server's: header and query lookups, valid for the request. */
    const char *(*lookup)(const struct na_request *req, enum na_lookup kind, const char *name);
    /*
     * Every field line of header `name`, in order: up to `max` into
     * `values`; returns how many there are (more than `max`, maybe). NULL
     * when the server has no such lookup: then `lookup` is all there is.
     */
    size_t (*lookup_all)(const struct na_request *req, const char *name, const char **values,
                         size_t max);
    void (*resume)(struct na_request *req);
    void *server_cls;

    struct na_reply *reply;    /* where every reply goes */
    struct na_store_call call; /* a deferred store call */
    uint64_t cache_generation; /* the list cache's key for this call; 0: none */
};

/* The server's side of a request: its lookups and its way to resume a deferred reply. */
struct na_request_hooks {
    const char *(*lookup)(const struct na_request *req, enum na_lookup kind, const char *name);
    size_t (*lookup_all)(const struct na_request *req, const char *name, const char **values,
                         size_t max);
    void (*resume)(struct na_request *req);
    void *server_cls;
};

/*
 * Sets `req` up for a new request: `method` and `path` as received (both
 * borrowed for the request), the route matched, no body yet, and `reply`
 * emptied. The one way to start a request, in the server and in tests.
 */
void na_request_init(struct na_request *req, struct na_app *app, const char *method,
                     const char *path, const struct na_request_hooks *hooks,
                     struct na_reply *reply);

/*
 * Writes the /health body into `b` (sized NA_ENCODE_SMALL_MAX) and returns
 * its status: 200, or 503 while draining or once shedding has gone on past
 * SHED_UNHEALTHY_AFTER_S. For the route, and for connections answered
 * over the connection limit. Any thread.
 */
unsigned na_handle_health(struct na_app *app, struct na_buf *b);

/* True when the request is answered without its body: req->reply holds the answer. */
bool na_handle_precheck(struct na_request *req);

/* True when the server should buffer this request's body for na_handle(). */
bool na_handle_takes_body(const struct na_request *req);

/*
 * True for the routes answered even while memory sheds load: the health
 * checks (a few hundred bytes), and the toggles that make them fail.
 */
bool na_handle_never_shed(const struct na_request *req);

/* Fills req->reply, or defers it (reply->defer). */
void na_handle(struct na_request *req);

#endif
