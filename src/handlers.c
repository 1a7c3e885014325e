/*
 * handlers: the routes' logic (see include/na/handlers.h).
 */
#include "na/handlers.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ITEMS_DEFAULT_LIMIT 100

void na_reply_reset(struct na_reply *r)
{
    r->status = 0;
    r->body = NULL;
    r->len = 0;
    r->release = NULL;
    r->release_cls = NULL;
    r->delay_ms = 0;
    r->retry_after_s = 0;
    r->allow[0] = '\0';
}

void na_reply_release(struct na_reply *r)
{
    if (r->release)
        r->release(r->release_cls);
    r->release = NULL;
    r->release_cls = NULL;
    r->body = NULL;
    r->len = 0;
}

void na_reply_error(struct na_reply *r, unsigned status, const char *message)
{
    struct na_buf b;

    na_reply_release(r);
    na_buf_init(&b, r->storage, sizeof(r->storage));
    na_encode_error(&b, status, message);
    r->status = status;
    r->body = b.data;
    r->len = b.len;
}

/* A reply whose body is in its own storage. */
static struct na_buf *reply_buf(struct na_reply *r, struct na_buf *b, unsigned status)
{
    na_buf_init(b, r->storage, sizeof(r->storage));
    r->status = status;
    r->body = r->storage;
    return b;
}

static void health(struct na_app *app, struct na_reply *out)
{
    bool draining = atomic_load_explicit(&app->draining, memory_order_relaxed);
    struct na_buf b;

    /*
     * Shallow on purpose: a database hiccup must not take every task out
     * of the target group at once. Only the drain fails it, so the load
     * balancer stops sending here.
     */
    reply_buf(out, &b, draining ? 503 : 200);
    na_encode_health(&b, draining ? "draining" : "healthy", app->hostname, na_app_uptime(app),
                     na_now_ms());
    out->len = b.len;
}

static void health_detailed(struct na_app *app, struct na_reply *out)
{
    struct na_health_report r = {
        .hostname = app->hostname,
        .version = app->cfg->app_version,
        .uptime_s = na_app_uptime(app),
        .timestamp_ms = na_now_ms(),
        .in_flight = atomic_load(&app->in_flight),
        .connections = atomic_load(&app->connections),
        .max_connections = app->cfg->budget.max_connections,
        .rss_bytes = atomic_load(&app->rss_bytes),
        .limit_bytes = app->cfg->budget.limit_bytes,
        .shed_bytes = app->cfg->budget.shed_bytes,
        .memory_ok = !atomic_load(&app->shedding),
    };
    bool draining = atomic_load(&app->draining);
    char *body;
    size_t len;

    na_store_health(app->store, &r.store);
    r.status = draining ? "draining" : r.store.ok && r.memory_ok ? "healthy" : "unhealthy";
    body = na_encode_health_detailed(&r, &len);
    if (!body) {
        na_reply_error(out, 500, "out of memory");
        return;
    }
    out->status = !draining && r.store.ok && r.memory_ok ? 200 : 503;
    out->body = body;
    out->len = len;
    out->release = free;
    out->release_cls = body;
}

/*
 * The encoded item list is cached per thread and reused until the store's
 * generation moves, so the tutorial's route costs no encoding at all in the
 * steady state. Blobs are reference-counted because responses still being
 * sent hold them after the cache has moved on.
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

static void reply_blob(struct na_reply *out, struct blob *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    out->status = 200;
    out->body = b->text;
    out->len = b->len;
    out->release = blob_unref;
    out->release_cls = b;
}

static void items_reply_store_error(struct na_reply *out, enum na_store_rc rc)
{
    if (rc == NA_STORE_UNAVAILABLE) {
        na_reply_error(out, 503, "item store unavailable, retry later");
        out->retry_after_s = 1;
    } else {
        na_reply_error(out, 500, "out of memory");
    }
}

static void items(struct na_app *app, struct na_reply *out)
{
    uint64_t gen = na_store_generation(app->store);
    struct items_cache *cache = gen ? thread_cache() : NULL;
    struct na_item *list = NULL;
    struct blob *b;
    size_t n = 0;
    enum na_store_rc rc;

    if (cache && cache->blob && cache->generation == gen) {
        reply_blob(out, cache->blob);
        return;
    }
    rc = na_store_list(app->store, ITEMS_DEFAULT_LIMIT, 0, &list, &n);
    if (rc) {
        items_reply_store_error(out, rc);
        return;
    }
    b = malloc(sizeof(*b));
    if (b)
        b->text = na_encode_items(list, n, &b->len);
    free(list);
    if (!b || !b->text) {
        free(b);
        na_reply_error(out, 500, "out of memory");
        return;
    }
    atomic_init(&b->refs, 1); /* the caller's reference, or the cache's */
    if (cache) {
        if (cache->blob)
            blob_unref(cache->blob);
        cache->blob = b;
        cache->generation = gen;
        reply_blob(out, b);
        return;
    }
    out->status = 200;
    out->body = b->text;
    out->len = b->len;
    out->release = blob_unref;
    out->release_cls = b;
}

/* Parses a route parameter of 1 to 9 digits; -1 if it is not one. */
static long param_number(const struct na_match *m)
{
    long v = 0;

    if (!m->param_len || m->param_len > 9)
        return -1;
    for (size_t i = 0; i < m->param_len; i++) {
        if (m->param[i] < '0' || m->param[i] > '9')
            return -1;
        v = v * 10 + (m->param[i] - '0');
    }
    return v;
}

static void delay(const struct na_request *req, struct na_reply *out)
{
    long ms = param_number(&req->match);
    struct na_buf b;
    char msg[96];

    if (ms < 0 || ms > (long)NA_DELAY_MAX_MS) {
        snprintf(msg, sizeof(msg), "delay must be a whole number of ms from 0 to %u",
                 NA_DELAY_MAX_MS);
        na_reply_error(out, 400, msg);
        return;
    }
    reply_buf(out, &b, 200);
    na_buf_printf(&b, "{\"delayed_ms\":%ld}", ms);
    out->len = b.len;
    out->delay_ms = (unsigned)ms;
}

static void status_route(const struct na_request *req, struct na_reply *out)
{
    long code = param_number(&req->match);
    const char *reason;
    struct na_buf b;

    if (code < 200 || code > 599) {
        na_reply_error(out, 400, "status must be a code from 200 to 599");
        return;
    }
    reason = MHD_get_reason_phrase_for((unsigned)code);
    if (code >= 400) {
        /* libmicrohttpd names codes it does not know "Unknown". */
        na_reply_error(out, (unsigned)code,
                       strcmp(reason, "Unknown") ? reason : "status requested from /api/status");
        return;
    }
    reply_buf(out, &b, (unsigned)code);
    /* 204 and 304 carry no body (RFC 9110, 15.3.5 and 15.4.5). */
    if (code != 204 && code != 304)
        na_buf_printf(&b, "{\"status\":%ld}", code);
    out->len = b.len;
}

static void not_found(const struct na_request *req, struct na_reply *out)
{
    char msg[320];

    snprintf(msg, sizeof(msg), "no route for %.16s %.256s", req->method_name, req->path);
    na_reply_error(out, 404, msg);
}

void na_handle(struct na_app *app, const struct na_request *req, struct na_reply *out)
{
    const struct na_match *m = &req->match;

    if (m->route == NA_ROUTE_NONE) {
        not_found(req, out);
        return;
    }
    if (!(req->method & m->methods)) {
        char msg[320];

        snprintf(msg, sizeof(msg), "method %.16s not allowed on %.256s", req->method_name,
                 req->path);
        na_reply_error(out, 405, msg);
        na_router_allow(m->methods, out->allow, sizeof(out->allow));
        return;
    }
    if (req->method == NA_METHOD_OPTIONS) {
        out->status = 204;
        out->body = "";
        na_router_allow(m->methods, out->allow, sizeof(out->allow));
        return;
    }
    switch (m->route) {
    case NA_ROUTE_HEALTH:
        health(app, out);
        break;
    case NA_ROUTE_HEALTH_DETAILED:
        health_detailed(app, out);
        break;
    case NA_ROUTE_INFO:
        out->status = 200;
        out->body = app->info_body;
        out->len = app->info_len;
        break;
    case NA_ROUTE_ITEMS:
        items(app, out);
        break;
    case NA_ROUTE_DELAY:
        delay(req, out);
        break;
    case NA_ROUTE_STATUS:
        status_route(req, out);
        break;
    case NA_ROUTE_NONE:
        break;
    }
}
