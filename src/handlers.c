/*
 * handlers: dispatch, and the health and info routes (see
 * include/na/handlers.h). The item routes are in handlers_items.c, the
 * load-testing routes and the faults in handlers_loadtest.c.
 */
#include "na/handlers.h"

#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_items.h"
#include "handlers_loadtest.h"
#include "na/clock.h"
#include "na/openapi.h"

unsigned na_handle_health(struct na_app *app, struct na_buf *b)
{
    uint64_t since = atomic_load_explicit(&app->shedding_since_ns, memory_order_relaxed);
    double shed_s = since ? na_clock_ms_since(since) / 1e3 : 0;
    char reason[128];

    /*
     * Shallow on purpose: a database hiccup must not take every task out
     * of the target group at once. The drain fails it, so the load balancer
     * stops sending here; and so does shedding that goes on and on (a
     * store filled to its threshold, say): every route but this one would
     * answer 503 for ever while the task looked healthy.
     */
    if (atomic_load_explicit(&app->draining, memory_order_relaxed)) {
        na_encode_health(b, "draining", app->hostname, na_app_uptime(app), na_clock_wall_ms(),
                         NULL);
        return 503;
    }
    /* POST /health/disable (load tests): the load balancer and ECS see a failing task. */
    if (atomic_load_explicit(&app->failing_on_purpose, memory_order_relaxed)) {
        na_encode_health(b, "unhealthy", app->hostname, na_app_uptime(app), na_clock_wall_ms(),
                         "failing on purpose: POST /health/disable (POST /health/enable "
                         "restores it)");
        return 503;
    }
    if (since && shed_s > app->cfg->shed_unhealthy_s) {
        snprintf(reason, sizeof(reason),
                 "shedding load for %.0f s: memory over its threshold (SHED_UNHEALTHY_AFTER_S=%u)",
                 shed_s, app->cfg->shed_unhealthy_s);
        na_encode_health(b, "unhealthy", app->hostname, na_app_uptime(app), na_clock_wall_ms(),
                         reason);
        return 503;
    }
    na_encode_health(b, "healthy", app->hostname, na_app_uptime(app), na_clock_wall_ms(), NULL);
    return 200;
}

static void health(struct na_request *req)
{
    struct na_buf b;

    na_reply_buf(req->reply, &b, 200);
    req->reply->status = na_handle_health(req->app, &b);
    req->reply->len = b.len;
}

/* The deep check's store round trip finished: report everything. */
static void health_detailed_done(struct na_store_call *call)
{
    struct na_request *req = call->cls;
    struct na_app *app = req->app;
    struct na_reply *out = req->reply;
    struct na_health_report r = {
        .hostname = app->hostname,
        .version = app->cfg->app_version,
        .uptime_s = na_app_uptime(app),
        .timestamp_ms = na_clock_wall_ms(),
        .in_flight = atomic_load(&app->in_flight),
        .connections = atomic_load(&app->connections),
        .max_connections = app->cfg->budget.max_connections,
        .rss_bytes = atomic_load(&app->rss_bytes),
        .charged_bytes = atomic_load(&app->charged_bytes),
        .limit_bytes = app->cfg->budget.limit_bytes,
        .shed_bytes = app->cfg->budget.shed_bytes,
        .memory_ok = !atomic_load(&app->shedding),
        .failing_on_purpose = atomic_load(&app->failing_on_purpose),
        .store_ok = call->rc == NA_STORE_OK,
        .store_latency_ms = call->latency_ms,
        .store_detail = call->rc == NA_STORE_OK ? NULL : call->detail,
    };
    bool draining = atomic_load(&app->draining);
    bool ok = !draining && r.store_ok && r.memory_ok && !r.failing_on_purpose;
    char *body;
    size_t len;

    na_store_health(app->store, &r.store);
    r.status = draining ? "draining" : ok ? "healthy" : "unhealthy";
    body = na_encode_health_detailed(&r, &len);
    if (!body) {
        na_reply_error(out, 500, "out of memory");
    } else {
        out->status = ok ? 200 : 503;
        out->body = body;
        out->len = len;
        out->release = free;
        out->release_cls = body;
    }
    req->resume(req);
}

static void health_detailed(struct na_request *req)
{
    req->call.op = NA_STORE_PING;
    req->call.deadline_ms = req->app->cfg->db_health_timeout_ms;
    req->call.arrived_ns = 0;
    req->call.done = health_detailed_done;
    req->call.cls = req;
    req->reply->defer = NA_DEFER_STORE;
}

void na_request_init(struct na_request *req, struct na_app *app, const char *method,
                     const char *path, const struct na_request_hooks *hooks, struct na_reply *reply)
{
    /* The store call is left alone: it is set up, field by field, only when used. */
    memset(req, 0, offsetof(struct na_request, call));
    req->app = app;
    req->method = na_method_parse(method);
    req->method_name = method;
    req->path = path;
    req->lookup = hooks->lookup;
    req->lookup_all = hooks->lookup_all;
    req->resume = hooks->resume;
    req->server_cls = hooks->server_cls;
    req->reply = reply;
    na_router_match(path,
                    (app->cfg->loadtest_routes ? NA_ROUTER_LOADTEST : 0u) |
                        (app->cfg->metrics_at == NA_METRICS_MAIN_PORT ? NA_ROUTER_METRICS : 0u),
                    &req->match);
    na_reply_reset(reply);
}

/* /metrics on the main port (METRICS_PORT=PORT): the scrape, rendered on this thread. */
static void metrics_route(struct na_request *req)
{
    struct na_reply *out = req->reply;
    bool om = na_metrics_wants_openmetrics(req->lookup(req, NA_LOOKUP_HEADER, "Accept"));
    size_t len;
    char *text = na_metrics_render(req->app->metrics, om, &len);

    if (!text) {
        na_reply_error(out, 503, "out of memory rendering metrics, retry later");
        out->retry_after_s = 1;
        return;
    }
    out->status = 200;
    out->body = text;
    out->len = len;
    out->content_type = na_metrics_content_type(om);
    out->release = free;
    out->release_cls = text;
}

bool na_handle_precheck(struct na_request *req)
{
    const struct na_match *m = &req->match;
    struct na_reply *out = req->reply;
    char msg[320];

    if (m->route == NA_ROUTE_NONE) {
        snprintf(msg, sizeof(msg), "no route for %.16s %.256s", req->method_name, req->path);
        na_reply_error(out, 404, msg);
        return true;
    }
    if (!(req->method & m->methods)) {
        snprintf(msg, sizeof(msg), "method %.16s not allowed on %.256s", req->method_name,
                 req->path);
        na_reply_error(out, 405, msg);
        na_router_allow(m->methods, out->allow, sizeof(out->allow));
        return true;
    }
    if (req->method == NA_METHOD_OPTIONS) {
        out->status = 204;
        out->body = "";
        na_router_allow(m->methods, out->allow, sizeof(out->allow));
        return true;
    }
    if ((m->route == NA_ROUTE_ITEMS || m->route == NA_ROUTE_ITEM) && na_items_precheck(req))
        return true;
    if (na_loadtest_precheck(req))
        return true;
    /* Last: a request refused for what it is gets that answer, not an injected one. */
    return na_loadtest_decide_fault(req);
}

bool na_handle_takes_body(const struct na_request *req)
{
    return (req->match.route == NA_ROUTE_ITEMS && req->method == NA_METHOD_POST) ||
           (req->match.route == NA_ROUTE_ITEM && req->method == NA_METHOD_PUT) ||
           na_loadtest_takes_body(req);
}

bool na_handle_never_shed(const struct na_request *req)
{
    switch (req->match.route) {
    case NA_ROUTE_HEALTH:
    case NA_ROUTE_HEALTH_DETAILED:
    case NA_ROUTE_HEALTH_DISABLE:
    case NA_ROUTE_HEALTH_ENABLE:
        return true;
    default:
        return false;
    }
}

void na_handle(struct na_request *req)
{
    struct na_reply *out = req->reply;

    if (req->fault.status) {
        na_loadtest_fault_reply(req);
        return;
    }
    switch (req->match.route) {
    case NA_ROUTE_HEALTH:
        health(req);
        break;
    case NA_ROUTE_HEALTH_DETAILED:
        health_detailed(req);
        break;
    case NA_ROUTE_INFO:
        out->status = 200;
        out->body = req->app->info_body;
        out->len = req->app->info_len;
        break;
    case NA_ROUTE_ITEMS:
    case NA_ROUTE_ITEM:
        na_items_handle(req);
        break;
    case NA_ROUTE_DELAY:
    case NA_ROUTE_STATUS:
    case NA_ROUTE_CPU:
    case NA_ROUTE_PAYLOAD:
    case NA_ROUTE_ECHO:
    case NA_ROUTE_HEALTH_DISABLE:
    case NA_ROUTE_HEALTH_ENABLE:
        na_loadtest_handle(req);
        break;
    case NA_ROUTE_METRICS:
        metrics_route(req);
        break;
    case NA_ROUTE_OPENAPI:
        out->status = 200;
        out->body = na_openapi_json;
        out->len = na_openapi_len;
        out->shared = true; /* static: nothing to count per answer */
        break;
    case NA_ROUTE_NONE:
        na_reply_error(out, 404, "no route");
        break;
    }
}
