/*
 * handlers_items: the /api/items routes (see include/na/handlers.h).
 *
 *   GET    /api/items?limit=&offset=   list, in id order (limit 1..1000, default 100)
 *   GET    /api/items/{id}
 *   POST   /api/items                  201 with Location
 *   PUT    /api/items/{id}             replaces name and price
 *   DELETE /api/items/{id}             204
 *
 * Writes need the API key, and may carry an Idempotency-Key (idem.h).
 * Answers are JSON, or BSON on request (Accept). The same rules hold
 * whatever the store.
 */
#include <bson/bson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers_items.h"
#include "na/auth.h"
#include "na/budget.h"
#include "na/handlers.h"
#include "na/idem.h"
#include "na/item.h"

#define ITEMS_DEFAULT_LIMIT 100
#define ITEMS_MAX_LIMIT     1000
#define ITEMS_MAX_OFFSET    1000000000u

static const char bson_type[] = "application/bson";

static const char *header(const struct na_request *req, const char *name)
{
    return req->lookup(req, NA_LOOKUP_HEADER, name);
}

static bool is_write(const struct na_request *req)
{
    return req->method == NA_METHOD_POST || req->method == NA_METHOD_PUT ||
           req->method == NA_METHOD_DELETE;
}

/* "application/json", any case, with no parameter but charset=utf-8. */
static bool json_content_type(const char *ct)
{
    const char *p;
    size_t n;

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    n = strcspn(ct, "; \t");
    if (n != 16 || strncasecmp(ct, "application/json", 16))
        return false;
    for (p = ct + n; *p;) {
        p += strspn(p, "; \t");
        if (!*p)
            break;
        if (strncasecmp(p, "charset=", 8))
            return false;
        p += 8;
        if (*p == '"')
            p++;
        if (strncasecmp(p, "utf-8", 5))
            return false;
        p += 5;
        if (*p == '"')
            p++;
        p += strcspn(p, ";");
    }
    return true;
}

/* A query argument as a whole number in [min, max]; `def` when absent. */
static int query_number(const struct na_request *req, const char *name, size_t def, size_t min,
                        size_t max, size_t *out)
{
    const char *v = req->lookup(req, NA_LOOKUP_QUERY, name);
    size_t n = 0;

    if (!v) {
        *out = def;
        return 0;
    }
    if (!*v || strlen(v) > 10)
        return -1;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (size_t)(*p - '0');
    }
    if (n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

bool na_handle_auth_refused(struct na_request *req)
{
    struct na_reply *out = req->reply;

    switch (na_auth_check(req->app->cfg->api_key, header(req, "Authorization"),
                          header(req, "X-API-Key"))) {
    case NA_AUTH_OK:
        return false;
    case NA_AUTH_DISABLED:
        na_reply_error(out, 403, "writes are disabled: the server has no API_KEY");
        return true;
    case NA_AUTH_MISSING:
        na_reply_error(out, 401, "API key required: Authorization: Bearer <key>, or X-API-Key");
        break;
    case NA_AUTH_WRONG:
        na_reply_error(out, 401, "API key not valid");
        break;
    }
    out->challenge = true;
    return true;
}

/* Reads Idempotency-Key into the store call; true when it is malformed (400). */
static bool idempotency_key_refused(struct na_request *req)
{
    const char *v = header(req, "Idempotency-Key");

    if (!v)
        return false;
    if (na_idem_key_parse(v, req->call.idem.key)) {
        na_reply_error(req->reply, 400,
                       "Idempotency-Key must be 1 to 255 printable ASCII characters, "
                       "or a quoted string of them");
        return true;
    }
    return false;
}

bool na_items_precheck(struct na_request *req)
{
    struct na_reply *out = req->reply;
    char msg[128];

    req->call.idem.key[0] = '\0';
    /* JSON or BSON by Accept: a cache must key on it (RFC 9110 12.5.5), as Express's res.format. */
    out->vary_accept = true;
    req->format = na_negotiate(header(req, "Accept"));
    if (req->format == NA_FORMAT_NONE) {
        na_reply_error(out, 406, "acceptable types: application/json, application/bson");
        return true;
    }
    if (req->match.route == NA_ROUTE_ITEM &&
        na_item_id_parse(req->match.param, req->match.param_len, &req->id)) {
        na_reply_error(out, 400, "item id must be a whole number from 1 to 9223372036854775807");
        return true;
    }
    if (req->match.route == NA_ROUTE_ITEMS && !is_write(req)) {
        if (query_number(req, "limit", ITEMS_DEFAULT_LIMIT, 1, ITEMS_MAX_LIMIT, &req->limit)) {
            snprintf(msg, sizeof(msg), "query parameter limit must be a whole number from 1 to %d",
                     ITEMS_MAX_LIMIT);
            na_reply_error(out, 400, msg);
            return true;
        }
        if (query_number(req, "offset", 0, 0, ITEMS_MAX_OFFSET, &req->offset)) {
            snprintf(msg, sizeof(msg), "query parameter offset must be a whole number from 0 to %u",
                     ITEMS_MAX_OFFSET);
            na_reply_error(out, 400, msg);
            return true;
        }
    }
    if (is_write(req) && na_handle_auth_refused(req))
        return true;
    if ((req->method == NA_METHOD_POST || req->method == NA_METHOD_PUT) &&
        !json_content_type(header(req, "Content-Type"))) {
        na_reply_error(out, 415, "Content-Type must be application/json");
        return true;
    }
    if (is_write(req) && idempotency_key_refused(req))
        return true;
    return false;
}

/*
 * The encoded default page of the list is cached per thread and reused
 * until the store's generation moves, so the tutorial's route costs no
 * store call and no encoding in the steady state. Blobs are
 * reference-counted because responses still being sent hold them after the
 * cache has moved on. Stores that cannot tell their generation (0) are
 * never cached.
 */
struct blob {
    atomic_uint refs;
    size_t len;
    char *text;
};

struct items_cache {
    uint64_t generation;
    struct blob *blob;
};

static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void blob_unref(void *cls)
{
    struct blob *b = cls;

    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) {
        free(b->text);
        free(b);
    }
}

static void cache_destroy(void *p)
{
    struct items_cache *c = p;

    if (c->blob)
        blob_unref(c->blob);
    free(c);
}

static void cache_key_init(void)
{
    cache_key_ok = !pthread_key_create(&cache_key, cache_destroy);
}

static struct items_cache *thread_cache(void)
{
    struct items_cache *c;

    pthread_once(&cache_once, cache_key_init);
    if (!cache_key_ok)
        return NULL;
    c = pthread_getspecific(cache_key);
    if (!c) {
        c = calloc(1, sizeof(*c));
        if (c && pthread_setspecific(cache_key, c)) {
            free(c);
            c = NULL;
        }
    }
    return c;
}

/* Answers with a blob, taking a reference for the response. */
static void reply_blob(struct na_reply *out, struct blob *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    out->status = 200;
    out->body = b->text;
    out->len = b->len;
    out->release = blob_unref;
    out->release_cls = b;
    out->shared = true;
}

/* Replaces the thread's cached list with `text` and answers with it. */
static bool cache_and_reply(struct na_reply *out, uint64_t generation, char *text, size_t len)
{
    struct items_cache *cache = thread_cache();
    struct blob *b = cache ? malloc(sizeof(*b)) : NULL;

    if (!b)
        return false;
    atomic_init(&b->refs, 1); /* the cache's */
    b->text = text;
    b->len = len;
    if (cache->blob)
        blob_unref(cache->blob);
    cache->blob = b;
    cache->generation = generation;
    reply_blob(out, b);
    return true;
}

/* Sets a body the reply owns: JSON text from cJSON or a BSON buffer. */
static void reply_owned(struct na_request *req, unsigned status, void *body, size_t len)
{
    struct na_reply *out = req->reply;

    if (!body) {
        na_reply_error(out, 500, "out of memory");
        return;
    }
    out->status = status;
    out->body = body;
    out->len = len;
    if (req->format == NA_FORMAT_BSON) {
        out->content_type = bson_type;
        out->release = bson_free;
    } else {
        out->release = free;
    }
    out->release_cls = body;
}

static void reply_item(struct na_request *req, unsigned status, const struct na_item *item)
{
    size_t len = 0;
    void *body = req->format == NA_FORMAT_BSON ? (void *)na_encode_item_bson(item, &len)
                                               : (void *)na_encode_item(item, &len);

    reply_owned(req, status, body, len);
}

static void reply_list(struct na_request *req, const struct na_store_call *call)
{
    size_t len = 0;
    char *text;

    if (req->format == NA_FORMAT_BSON) {
        uint8_t *doc = na_encode_items_bson(call->items, call->count, &len);

        reply_owned(req, 200, doc, len);
        return;
    }
    text = na_encode_items(call->items, call->count, &len);
    if (text && req->cache_generation &&
        cache_and_reply(req->reply, req->cache_generation, text, len))
        return;
    reply_owned(req, 200, text, len);
}

static void items_done(struct na_store_call *call)
{
    struct na_request *req = call->cls;
    struct na_reply *out = req->reply;

    out->replayed = call->replayed;
    if (call->rc != NA_STORE_OK) {
        na_reply_store_error(out, call);
    } else {
        switch (call->op) {
        case NA_STORE_LIST:
            reply_list(req, call);
            break;
        case NA_STORE_GET:
        case NA_STORE_UPDATE:
            reply_item(req, 200, &call->result);
            break;
        case NA_STORE_CREATE:
            snprintf(out->location, sizeof(out->location), "/api/items/%lld",
                     (long long)call->result.id);
            reply_item(req, 201, &call->result);
            break;
        case NA_STORE_DELETE:
            out->status = 204;
            out->body = "";
            out->len = 0;
            break;
        case NA_STORE_PING:
            break;
        }
    }
    free(call->items);
    call->items = NULL;
    req->resume(req);
}

static void list(struct na_request *req)
{
    uint64_t gen = 0;
    struct items_cache *cache;

    if (req->format == NA_FORMAT_JSON && req->limit == ITEMS_DEFAULT_LIMIT && !req->offset)
        gen = na_store_generation(req->app->store);
    if (gen) {
        cache = thread_cache();
        if (cache && cache->blob && cache->generation == gen) {
            reply_blob(req->reply, cache->blob);
            return;
        }
    }
    /*
     * A page is built whole before it is sent, and held until a slow reader
     * has it all: with the response pool full, refuse before querying and
     * building (the smallest item takes 30 bytes).
     */
    if (req->limit * 30 > NA_RESPONSE_SMALL_BYTES &&
        na_quota_used(&req->app->responses) + req->limit * 30 > req->app->responses.cap) {
        na_reply_error(req->reply, 503, "too many answers in flight, retry later");
        req->reply->retry_after_s = 1;
        return;
    }
    req->cache_generation = gen;
    req->call.op = NA_STORE_LIST;
    req->call.limit = req->limit;
    req->call.offset = req->offset;
}

void na_items_handle(struct na_request *req)
{
    struct na_reply *out = req->reply;
    char err[200];

    req->cache_generation = 0;
    req->call.id = req->id;
    switch (req->method) {
    case NA_METHOD_GET:
    case NA_METHOD_HEAD:
        if (req->match.route == NA_ROUTE_ITEMS) {
            list(req);
            if (out->status)
                return; /* answered from the cache, or refused */
        } else {
            req->call.op = NA_STORE_GET;
        }
        break;
    case NA_METHOD_POST:
    case NA_METHOD_PUT:
        if (na_item_parse(req->body ? req->body : "", req->body_len, &req->call.item, err,
                          sizeof(err))) {
            na_reply_error(out, 400, err);
            return;
        }
        req->call.op = req->method == NA_METHOD_POST ? NA_STORE_CREATE : NA_STORE_UPDATE;
        break;
    case NA_METHOD_DELETE:
        req->call.op = NA_STORE_DELETE;
        break;
    default:
        na_reply_error(out, 405, "method not allowed");
        return;
    }
    if (is_write(req) && req->call.idem.key[0]) {
        struct na_idem *k = &req->call.idem;

        memcpy(k->scope, req->app->idem_scope, sizeof(k->scope));
        k->ttl_s = req->app->cfg->idempotency_ttl_s;
        na_idem_fingerprint(req->call.op, req->id,
                            req->method == NA_METHOD_DELETE ? NULL : &req->call.item,
                            k->fingerprint);
    }
    req->call.deadline_ms = 0;
    req->call.arrived_ns = 0;
    req->call.done = items_done;
    req->call.cls = req;
    out->defer = NA_DEFER_STORE;
}
