/*
 * handlers: turn a routed request into a reply.
 *
 * A reply is the status, the body and the few headers a handler decides
 * (Allow, Retry-After). The server adds the rest (Content-Type,
 * X-Request-Id, Connection) when it turns the reply into a response. Errors
 * of every kind, here and in the server, go through na_reply_error(), which
 * writes the one error shape {"error":{"status","message"}}.
 */
#ifndef NA_HANDLERS_H
#define NA_HANDLERS_H

#include <stddef.h>

#include "na/app.h"
#include "na/encode.h"
#include "na/router.h"

/* Upper bound of /api/delay/{ms}. */
#define NA_DELAY_MAX_MS 30000u

struct na_request {
    enum na_method method;
    const char *method_name; /* as sent */
    const char *path;        /* decoded, without the query string */
    struct na_match match;
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
    void (*release)(void *cls);
    void *release_cls;
    unsigned delay_ms;      /* > 0: send this reply only after the delay */
    unsigned retry_after_s; /* > 0: Retry-After header */
    char allow[64];         /* non-empty: Allow header */
    char storage[NA_ENCODE_SMALL_MAX];
};

/* Empties a reply for reuse (does not release a previous body). */
void na_reply_reset(struct na_reply *r);

/* Releases the body if the reply still owns it. */
void na_reply_release(struct na_reply *r);

/* Makes `r` an error reply: the JSON error body in r->storage. */
void na_reply_error(struct na_reply *r, unsigned status, const char *message);

/* Dispatches on req->match (404 and 405 included) and fills `out`. */
void na_handle(struct na_app *app, const struct na_request *req, struct na_reply *out);

#endif
